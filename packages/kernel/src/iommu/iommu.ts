/**
 * drivers/iommu/iommu.c: the IOMMU core. IOMMU drivers register instances; every device a
 * firmware description puts behind one is probed into an IOMMU group (the driver decides the
 * grouping) and given the group's default domain — a translated DMA domain for the kernel's
 * DMA API (arm64's default, invalidated strictly under CONFIG_IOMMU_DEFAULT_DMA_STRICT) or the
 * identity domain with `iommu.passthrough=1`. On top sit paging domains for users (allocate,
 * attach, map, unmap, iova_to_phys), the blocking domain, and the DMA-ownership rules that
 * decide whether a group may be handed to user space (iommu_device_use_default_domain() for
 * kernel drivers against iommu_group/device_claim_dma_owner() for VFIO and iommufd).
 *
 * Per-device state (`dev->iommu`: fwspec, driver private data; `dev->iommu_group`) is kept here,
 * keyed by the device object, so the driver core's `struct device` needs no IOMMU fields.
 *
 * For iommufd the core has the IOMMUFD_INTERNAL attach-handle API (iommu_attach_group_handle(),
 * iommu_replace_group_handle(), iommu_detach_group_handle(), iommu_attach_handle_get()) and
 * iommu_group_has_isolated_msi(). Linux 7.3 has no iommu_group_replace_domain() any more: the
 * handle variant took its place.
 *
 * Caveat: no PASIDs but the RID's entry in the pasid array (no iommu_attach_device_pasid() and
 * friends), no SVA, no PCI (aliases, ACS, ATS, reset recovery: `recovery_cnt` is always 0), no
 * iommufd-allocated user domains beyond the paging ones, no `iommu_group/type` capability check
 * (sysfs stores carry no task; the other rules of iommu_group_store_type() apply). Drivers are
 * built in, so try_module_get() always succeeds. WARN_ON()s change nothing and print nothing.
 */

import type { DeviceTree, DtNode, VirtualClock } from "@vfio-lab/hw-soc";
import { type ErrnoName, SysError } from "../errno.js";
import type { Sysfs } from "../fs/sysfs-api.js";
import type { PageAllocator } from "../mm/page-allocator.js";
import type { KernelCmdline } from "../module/cmdline.js";
import { kstrtobool } from "../module/kstrtox.js";
import { type DevLogger, devLogger } from "../printk/dev-printk.js";
import { KERN_WARNING } from "../printk/levels.js";
import type { Printk, PrLogger } from "../printk/printk.js";
import type { AnyTraceEvent, KernelTrace } from "../trace/trace-bus.js";
import { ffs, hex16, pgsizeExponents } from "./bits.js";
import {
  iommuDmaInitDomain,
  iommuDmaInitFq,
  iommuGetDmaCookie,
  iommuPutDmaCookie,
} from "./dma-iommu.js";
import { DmaApi } from "./dma-mapping.js";
import {
  iommuDeviceClaimDmaOwner,
  iommuDeviceReleaseDmaOwner,
  iommuDeviceUnuseDefaultDomain,
  iommuDeviceUseDefaultDomain,
  iommuGroupClaimDmaOwner,
  iommuGroupReleaseDmaOwner,
} from "./dma-owner.js";
import {
  type IommuAttachHandle,
  type IommuDomain,
  IommuIotlbGather,
  iommuIotlbSync,
} from "./domain.js";
import { type GroupDevice, IOMMU_GROUPS_SYSFS, IommuGroup } from "./group.js";
import { Ida } from "./ida.js";
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_NO_PASID,
  IOMMU_RESV_DIRECT,
  IOMMU_RESV_DIRECT_RELAXABLE,
  IOMMU_RESV_TYPE_NAMES,
  type IommuCap,
  type IommuClient,
  type IommuDevice,
  type IommuFwspec,
  type IommuOps,
  type IommuResvRegion,
  iommuDomainTypeStr,
  iommuIsDmaDomain,
} from "./iommu-defs.js";
import { ofDmaConfigureId } from "./of-dma.js";

/** A bus whose devices an IOMMU may translate for (`iommu_buses[]`: platform, then amba). */
export interface IommuBus {
  readonly name: string;
  /** bus_for_each_dev(): the bus's devices in registration order. */
  devices(): readonly IommuClient[];
  /**
   * `bus->dma_configure` for a device with no driver yet (platform_dma_configure() as called
   * from the IOMMU layer: of_dma_configure(), nothing else). Errors are ignored by the caller.
   */
  dmaConfigure?(dev: IommuClient): void;
}

export interface IommuCoreOptions {
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly sysfs: Sysfs;
  readonly allocator: PageAllocator;
  /** The device tree (for `iommus`, `dma-ranges`, `dma-coherent` and their parents). */
  readonly tree: DeviceTree;
  /** `iommu.passthrough=` and `iommu.strict=` are read from it. */
  readonly cmdline?: KernelCmdline;
  /** Flush-queue timers and IOVA depot work run on it. */
  readonly clock?: VirtualClock;
  /** The buses bus_iommu_probe() walks, in iommu_buses[] order. */
  readonly buses?: readonly IommuBus[];
  /**
   * drivers/base/dd.c: driver_deferred_probe_check_state() — what an `iommus` reference to an
   * IOMMU whose driver has not registered yet means: EPROBE_DEFER until the deferred-probe
   * timeout, then ETIMEDOUT (ENODEV without module support).
   */
  readonly deferredProbeCheckState?: (dev: IommuClient) => ErrnoName;
}

/** `struct dev_iommu` */
export class DevIommu {
  fwspec: IommuFwspec | null = null;
  iommuDev: IommuDevice | null = null;
  /** The IOMMU driver's per-device data (`dev_iommu_priv_get()`). */
  priv: unknown = undefined;
  maxPasids = 0;
  attachDeferred = false;
  requireDirect = false;
}

/** `IOMMU_SET_DOMAIN_MUST_SUCCEED` */
const MUST_SUCCEED = 1;
/** Domain types a user may write to `iommu_group/type`. */
const STORE_TYPES: Readonly<Record<string, number>> = {
  identity: IOMMU_DOMAIN_IDENTITY,
  DMA: IOMMU_DOMAIN_DMA,
  "DMA-FQ": IOMMU_DOMAIN_DMA_FQ,
  auto: 0,
};

/** lib/string.c: sysfs_streq() — equal but for one trailing newline on either side. */
function sysfsStreq(a: string, b: string): boolean {
  const strip = (s: string) => (s.endsWith("\n") ? s.slice(0, -1) : s);
  return strip(a) === strip(b);
}

export class IommuCore {
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly sysfs: Sysfs;
  readonly allocator: PageAllocator;
  readonly tree: DeviceTree;
  readonly clock: VirtualClock | undefined;
  /** The DMA API (kernel/dma/mapping.c) on top of this core. */
  readonly dma: DmaApi;
  /** `iommu_def_domain_type` */
  defDomainType = IOMMU_DOMAIN_DMA;
  /** `iommu_dma_strict` (CONFIG_IOMMU_DEFAULT_DMA_STRICT=y). */
  dmaStrict = true;
  private cmdLineDmaApi = false;
  private cmdLineStrict = false;
  private buses: readonly IommuBus[];
  private readonly deferredProbeCheckState: (dev: IommuClient) => ErrnoName;
  private readonly iommuDeviceList: IommuDevice[] = [];
  private readonly groupIda = new Ida();
  private readonly devIommu = new WeakMap<IommuClient, DevIommu>();
  private readonly devGroup = new WeakMap<IommuClient, IommuGroup>();
  private readonly domainIds = new WeakMap<IommuDomain, number>();
  private nextDomainId = 1;
  private readonly pr: PrLogger;

  constructor(opts: IommuCoreOptions) {
    this.printk = opts.printk;
    this.trace = opts.trace;
    this.sysfs = opts.sysfs;
    this.allocator = opts.allocator;
    this.tree = opts.tree;
    this.clock = opts.clock;
    this.buses = opts.buses ?? [];
    this.deferredProbeCheckState = opts.deferredProbeCheckState ?? (() => "EPROBE_DEFER");
    this.pr = opts.printk.pr("iommu: ");
    this.dma = new DmaApi(this);
    if (opts.cmdline) this.parseEarlyParams(opts.cmdline);
    // iommu_init() (core_initcall) and iommu_dev_init() (postcore_initcall).
    this.sysfs.mkdir(IOMMU_GROUPS_SYSFS);
    this.sysfs.mkdir("/sys/class/iommu");
  }

  /** Installs the buses bus_iommu_probe() walks (the driver core registers them at boot). */
  setBuses(buses: readonly IommuBus[]): void {
    this.buses = buses;
  }

  private parseEarlyParams(cmdline: KernelCmdline): void {
    for (const arg of cmdline.moduleParams.get("iommu") ?? []) {
      try {
        if (arg.param === "passthrough") {
          /** iommu.c: iommu_set_def_domain_type() */
          const pt = kstrtobool(arg.val);
          this.cmdLineDmaApi = true;
          this.defDomainType = pt ? IOMMU_DOMAIN_IDENTITY : IOMMU_DOMAIN_DMA;
        } else if (arg.param === "strict") {
          /** iommu.c: iommu_dma_setup() */
          this.dmaStrict = kstrtobool(arg.val);
          this.cmdLineStrict = true;
        }
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
        // init/main.c: do_early_param()
        this.printk.printk(KERN_WARNING, `Malformed early option 'iommu.${arg.param}'`);
      }
    }
  }

  /** iommu.c: iommu_subsys_init() (subsys_initcall) — settles and logs the default domain type. */
  iommuSubsysInit(): void {
    if (!this.dmaStrict && this.defDomainType !== IOMMU_DOMAIN_IDENTITY) {
      this.defDomainType = IOMMU_DOMAIN_DMA_FQ;
    }
    this.pr.info(
      `Default domain type: ${iommuDomainTypeStr(this.defDomainType)}` +
        (this.cmdLineDmaApi ? " (set via kernel command line)" : ""),
    );
    if (this.defDomainType !== IOMMU_DOMAIN_IDENTITY) {
      this.pr.info(
        `DMA domain TLB invalidation policy: ${this.dmaStrict ? "strict" : "lazy"} mode` +
          (this.cmdLineStrict ? " (set via kernel command line)" : ""),
      );
    }
  }

  /** Emits a trace event when anyone listens. */
  emit(event: AnyTraceEvent): void {
    if (this.trace.enabled) this.trace.emit(event);
  }

  /**
   * A number naming `domain` in traces: given in order of first appearance, so identical runs
   * trace identical numbers (the kernel's trace events print pointers instead).
   */
  domainId(domain: IommuDomain): number {
    let id = this.domainIds.get(domain);
    if (id === undefined) {
      id = this.nextDomainId++;
      this.domainIds.set(domain, id);
    }
    return id;
  }

  /** dev_info() & co. for a device. */
  devLog(dev: IommuClient): DevLogger {
    return devLogger(this.printk, dev);
  }

  // -------------------------------------------------------------------------------------------
  // Per-device state

  /** `dev->iommu` */
  devIommuGetExisting(dev: IommuClient): DevIommu | undefined {
    return this.devIommu.get(dev);
  }

  /** iommu.c: dev_iommu_get() */
  private devIommuGet(dev: IommuClient): DevIommu {
    let param = this.devIommu.get(dev);
    if (!param) {
      param = new DevIommu();
      this.devIommu.set(dev, param);
    }
    return param;
  }

  /** iommu.c: dev_iommu_free() */
  devIommuFree(dev: IommuClient): void {
    this.devIommu.delete(dev);
  }

  /** dev_iommu_fwspec_get() */
  devIommuFwspecGet(dev: IommuClient): IommuFwspec | null {
    return this.devIommu.get(dev)?.fwspec ?? null;
  }

  /** dev_iommu_priv_get() */
  devIommuPrivGet<T>(dev: IommuClient): T | undefined {
    return this.devIommu.get(dev)?.priv as T | undefined;
  }

  /** iommu.c: dev_iommu_priv_set() */
  devIommuPrivSet(dev: IommuClient, priv: unknown): void {
    const param = this.devIommu.get(dev);
    if (!param) throw new RangeError(`dev_iommu_priv_set: ${dev.name} has no dev->iommu`);
    param.priv = priv;
  }

  /** dev_has_iommu(): a driver has probed the device. */
  devHasIommu(dev: IommuClient): boolean {
    return this.devIommu.get(dev)?.iommuDev != null;
  }

  /** dev_iommu_ops() */
  devIommuOps(dev: IommuClient): IommuOps {
    const ops = this.devIommu.get(dev)?.iommuDev?.ops;
    if (!ops) throw new RangeError(`dev_iommu_ops: ${dev.name} has no IOMMU`);
    return ops;
  }

  /** device_iommu_mapped(): the device is in an IOMMU group. */
  deviceIommuMapped(dev: IommuClient): boolean {
    return this.devGroup.has(dev);
  }

  /** `dev->iommu_group` without taking a reference. */
  deviceGroup(dev: IommuClient): IommuGroup | null {
    return this.devGroup.get(dev) ?? null;
  }

  // -------------------------------------------------------------------------------------------
  // Firmware specs (iommu_fwspec_*)

  /** iommu.c: iommu_from_fwnode() */
  private iommuFromFwnode(fwnode: DtNode | null): IommuDevice | undefined {
    return this.iommuDeviceList.find((i) => i.fwnode === fwnode);
  }

  /** iommu.c: iommu_ops_from_fwnode() */
  iommuOpsFromFwnode(fwnode: DtNode | null): IommuOps | null {
    return this.iommuFromFwnode(fwnode)?.ops ?? null;
  }

  /** iommu.c: iommu_fwspec_init() */
  iommuFwspecInit(dev: IommuClient, iommuFwnode: DtNode): void {
    const iommu = this.iommuFromFwnode(iommuFwnode);
    if (!iommu) {
      throw new SysError(
        this.deferredProbeCheckState(dev),
        "driver_deferred_probe_check_state",
        `${dev.name}: its IOMMU has not registered`,
      );
    }
    const param = this.devIommu.get(dev);
    if (!param && !iommu.ready) {
      throw new SysError("EPROBE_DEFER", "iommu_fwspec_init", "IOMMU still probing its buses");
    }
    const fwspec = param?.fwspec;
    if (fwspec) {
      if (this.iommuOpsFromFwnode(fwspec.iommuFwnode) !== iommu.ops) {
        throw new SysError("EINVAL", "iommu_fwspec_init", "device already behind another IOMMU");
      }
      return;
    }
    this.devIommuGet(dev).fwspec = { iommuFwnode, ids: [] };
  }

  /** iommu.c: iommu_fwspec_add_ids() */
  iommuFwspecAddIds(dev: IommuClient, ids: readonly number[]): void {
    const fwspec = this.devIommuFwspecGet(dev);
    if (!fwspec) throw new SysError("EINVAL", "iommu_fwspec_add_ids", `${dev.name} has no fwspec`);
    fwspec.ids.push(...ids);
  }

  /** iommu.c: iommu_fwspec_free() */
  iommuFwspecFree(dev: IommuClient): void {
    const param = this.devIommu.get(dev);
    if (param) param.fwspec = null;
  }

  // -------------------------------------------------------------------------------------------
  // IOMMU instances

  /** iommu-sysfs.c: iommu_device_sysfs_add() — the `iommu` class device under `parent`. */
  iommuDeviceSysfsAdd(iommu: IommuDevice, parent: IommuClient, name: string): void {
    if (parent.kobjPath === null) {
      throw new SysError("EINVAL", "iommu_device_sysfs_add", `${parent.name} is not in sysfs`);
    }
    const dir = `${parent.kobjPath}/iommu/${name}`;
    this.sysfs.mkdir(dir, true);
    try {
      this.sysfs.mkdir(`${dir}/devices`, true);
      this.sysfs.symlink(`${dir}/subsystem`, "/sys/class/iommu");
      this.sysfs.symlink(`/sys/class/iommu/${name}`, dir);
    } catch (e) {
      this.sysfs.remove(dir);
      throw e;
    }
    iommu.sysfsPath = dir;
  }

  /** iommu-sysfs.c: iommu_device_sysfs_remove() */
  iommuDeviceSysfsRemove(iommu: IommuDevice): void {
    if (!iommu.sysfsPath) return;
    const name = iommu.sysfsPath.slice(iommu.sysfsPath.lastIndexOf("/") + 1);
    this.sysfs.remove(`/sys/class/iommu/${name}`);
    this.sysfs.remove(iommu.sysfsPath);
    iommu.sysfsPath = null;
  }

  /** iommu-sysfs.c: iommu_device_link() — `devices/<dev>` and the device's `iommu` link. */
  private iommuDeviceLink(iommu: IommuDevice, dev: IommuClient): void {
    if (!iommu.sysfsPath || dev.kobjPath === null) return;
    const link = `${iommu.sysfsPath}/devices/${dev.name}`;
    this.sysfs.symlink(link, dev.kobjPath);
    try {
      this.sysfs.symlink(`${dev.kobjPath}/iommu`, iommu.sysfsPath);
    } catch (e) {
      this.sysfs.remove(link);
      throw e;
    }
  }

  /** iommu-sysfs.c: iommu_device_unlink() */
  private iommuDeviceUnlink(iommu: IommuDevice, dev: IommuClient): void {
    if (!iommu.sysfsPath || dev.kobjPath === null) return;
    this.removeIfExists(`${dev.kobjPath}/iommu`);
    this.removeIfExists(`${iommu.sysfsPath}/devices/${dev.name}`);
  }

  private removeIfExists(path: string): void {
    if (this.sysfs.exists(path)) this.sysfs.remove(path);
  }

  /**
   * iommu.c: iommu_device_register() — makes the instance findable from firmware nodes, then
   * probes every device of every IOMMU bus (bus_iommu_probe()); on failure it unregisters.
   */
  iommuDeviceRegister(iommu: IommuDevice, ops: IommuOps, hwdev: IommuClient): void {
    iommu.ops = ops;
    iommu.fwnode = hwdev.dtNode;
    this.iommuDeviceList.push(iommu);
    try {
      for (const bus of this.buses) this.busIommuProbe(bus);
    } catch (e) {
      this.iommuDeviceUnregister(iommu);
      throw e;
    }
    iommu.ready = true;
  }

  /** iommu.c: iommu_device_unregister() */
  iommuDeviceUnregister(iommu: IommuDevice): void {
    for (const bus of this.buses) {
      for (const dev of bus.devices()) {
        if (this.devIommu.get(dev)?.iommuDev === iommu) this.iommuReleaseDevice(dev);
      }
    }
    const i = this.iommuDeviceList.indexOf(iommu);
    if (i >= 0) this.iommuDeviceList.splice(i, 1);
    if (iommu.singletonGroup) this.iommuGroupPut(iommu.singletonGroup);
    iommu.singletonGroup = null;
  }

  /** iommu.c: bus_iommu_probe() — groups first, then one default domain per new group. */
  private busIommuProbe(bus: IommuBus): void {
    const groupList: IommuGroup[] = [];
    for (const dev of [...bus.devices()]) {
      // probe_iommu_group(): a device with no IOMMU is not an error here.
      try {
        this.iommuProbeDeviceLocked(dev, groupList);
      } catch (e) {
        if (!(SysError.isInstance(e) && e.code === "ENODEV")) throw e;
      }
    }
    for (const group of groupList) {
      this.iommuSetupDefaultDomain(group, 0);
      for (const gdev of group.devices) this.iommuSetupDmaOps(gdev.dev, group.defaultDomain!);
    }
  }

  /**
   * iommu.c: iommu_probe_device() — what the bus notifier runs for an added device, and
   * of_iommu_configure() for a device probed late. Throws ENODEV for a device no IOMMU
   * translates for.
   */
  iommuProbeDevice(dev: IommuClient): void {
    this.iommuProbeDeviceLocked(dev, null);
  }

  /** iommu.c: __iommu_probe_device() */
  private iommuProbeDeviceLocked(dev: IommuClient, groupList: IommuGroup[] | null): void {
    if (this.devGroup.has(dev)) return;
    this.iommuInitDevice(dev);
    if (dev.driverName !== undefined) {
      this.printk.printk(
        KERN_WARNING,
        `${dev.driverName} ${dev.name}: late IOMMU probe at driver bind, something fishy here!`,
      );
    }
    const group = this.devGroup.get(dev)!;
    let gdev: GroupDevice;
    try {
      gdev = this.iommuGroupAllocDevice(group, dev);
    } catch (e) {
      this.iommuDeinitDevice(dev);
      this.iommuGroupPut(group);
      throw e;
    }
    group.devices.push(gdev);
    try {
      if (group.defaultDomain) this.iommuCreateDeviceDirectMappings(group.defaultDomain, dev);
      if (group.domain) {
        this.iommuDeviceSetDomain(group, dev, group.domain, null, 0);
      } else if (!group.defaultDomain && !groupList) {
        this.iommuSetupDefaultDomain(group, 0);
      } else if (!group.defaultDomain && groupList && !groupList.includes(group)) {
        groupList.push(group);
      }
    } catch (e) {
      group.devices.splice(group.devices.indexOf(gdev), 1);
      this.iommuGroupFreeDevice(group, gdev);
      this.iommuDeinitDevice(dev);
      this.iommuGroupPut(group);
      throw e;
    }
    if (group.defaultDomain) this.iommuSetupDmaOps(dev, group.defaultDomain);
  }

  /** iommu.c: iommu_init_device() — the driver's probe_device() and device_group(). */
  private iommuInitDevice(dev: IommuClient): void {
    let param = this.devIommuGet(dev);
    const bus = this.buses.find((b) => b.name === dev.busName);
    if (!param.fwspec && dev.driverName === undefined && bus?.dmaConfigure) {
      try {
        bus.dmaConfigure(dev);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
      }
      const now = this.devIommu.get(dev);
      if (!now || this.devGroup.has(dev)) {
        throw new SysError("ENODEV", "iommu_init_device", "configured by another path");
      }
      param = now;
    }
    const ops = this.iommuOpsFromFwnode(param.fwspec?.iommuFwnode ?? null);
    if (!ops) {
      this.devIommuFree(dev);
      throw new SysError("ENODEV", "iommu_init_device", `${dev.name} is not behind an IOMMU`);
    }
    let iommuDev: IommuDevice;
    try {
      iommuDev = ops.probeDevice(dev);
    } catch (e) {
      param.iommuDev = null;
      this.devIommuFree(dev);
      throw e;
    }
    param.iommuDev = iommuDev;
    let group: IommuGroup;
    try {
      this.iommuDeviceLink(iommuDev, dev);
      try {
        group = ops.deviceGroup(dev);
      } catch (e) {
        this.iommuDeviceUnlink(iommuDev, dev);
        throw e;
      }
    } catch (e) {
      ops.releaseDevice?.(dev);
      param.iommuDev = null;
      this.devIommuFree(dev);
      throw e;
    }
    this.devGroup.set(dev, group);
    param.maxPasids = this.devIommuGetMaxPasids(dev, iommuDev);
  }

  /** iommu.c: dev_iommu_get_max_pasids() — `pasid-num-bits` for a platform device. */
  private devIommuGetMaxPasids(dev: IommuClient, iommu: IommuDevice): number {
    const prop = dev.dtNode?.properties.find((p) => p.name === "pasid-num-bits");
    if (!prop || prop.value.length < 4) return 0;
    const v = prop.value;
    const bits = ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
    return Math.min(2 ** bits, iommu.maxPasids);
  }

  /** iommu.c: iommu_deinit_device() — undoes iommu_init_device() for a group member. */
  private iommuDeinitDevice(dev: IommuClient): void {
    const group = this.devGroup.get(dev)!;
    const param = this.devIommu.get(dev)!;
    const ops = this.devIommuOps(dev);
    this.iommuDeviceUnlink(param.iommuDev!, dev);
    if (!param.attachDeferred && ops.releaseDomain) {
      let release = ops.releaseDomain;
      if (param.requireDirect && ops.identityDomain && release === ops.blockedDomain) {
        release = ops.identityDomain;
      }
      try {
        release.ops.attachDev(release, dev, group.domain);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
      }
    }
    ops.releaseDevice?.(dev);
    if (group.devices.length === 0) {
      if (group.defaultDomain) {
        this.iommuDomainFree(group.defaultDomain);
        group.defaultDomain = null;
      }
      if (group.blockingDomain) {
        this.iommuDomainFree(group.blockingDomain);
        group.blockingDomain = null;
      }
      group.domain = null;
    }
    this.devGroup.delete(dev);
    this.devIommuFree(dev);
    this.dma.devClearDmaIommu(dev);
  }

  /** iommu.c: iommu_release_device() — the bus notifier for a removed device. */
  iommuReleaseDevice(dev: IommuClient): void {
    const group = this.devGroup.get(dev);
    if (group) this.iommuGroupRemoveDeviceLocked(dev, group);
    if (this.devIommu.has(dev)) this.devIommuFree(dev);
  }

  /** iommu.c: __iommu_group_remove_device() */
  private iommuGroupRemoveDeviceLocked(dev: IommuClient, group: IommuGroup): void {
    const i = group.devices.findIndex((g) => g.dev === dev);
    if (i >= 0) {
      const [gdev] = group.devices.splice(i, 1);
      this.iommuGroupFreeDevice(group, gdev!);
      if (this.devHasIommu(dev)) this.iommuDeinitDevice(dev);
      else this.devGroup.delete(dev);
    }
    this.iommuGroupPut(group);
  }

  /** iommu.c: iommu_group_remove_device() */
  iommuGroupRemoveDevice(dev: IommuClient): void {
    const group = this.devGroup.get(dev);
    if (!group) return;
    this.devLog(dev).info(`Removing from iommu group ${group.id}`);
    this.iommuGroupRemoveDeviceLocked(dev, group);
  }

  /**
   * iommu.c: iommu_group_add_device() — puts a device no IOMMU driver probed into `group` (what
   * VFIO's no-IOMMU and emulated-IOMMU groups do): the sysfs links, "Adding to iommu group N",
   * and a reference on the group that iommu_group_remove_device() drops.
   */
  iommuGroupAddDevice(group: IommuGroup, dev: IommuClient): void {
    const gdev = this.iommuGroupAllocDevice(group, dev);
    this.iommuGroupRefGet(group);
    this.devGroup.set(dev, group);
    group.devices.push(gdev);
  }

  // -------------------------------------------------------------------------------------------
  // Groups

  /** iommu.c: iommu_group_alloc() — lowest free id, its sysfs directory and attributes. */
  iommuGroupAlloc(): IommuGroup {
    const id = this.groupIda.alloc(0, 0x7fffffff, "ida_alloc");
    const group = new IommuGroup(id);
    const dir = group.sysfsPath;
    try {
      this.sysfs.mkdir(dir, true);
      this.sysfs.mkdir(`${dir}/devices`, true);
      this.sysfs.createFile(`${dir}/reserved_regions`, {
        mode: 0o444,
        show: () => this.iommuGroupShowResvRegions(group),
      });
      this.sysfs.createFile(`${dir}/type`, {
        mode: 0o644,
        show: () => `${group.defaultDomain?.typeName ?? "unknown"}\n`,
        store: (text) => this.iommuGroupStoreType(group, text),
      });
    } catch (e) {
      this.removeIfExists(dir);
      this.groupIda.free(id);
      throw e;
    }
    return group;
  }

  /**
   * iommu.c: iommu_group_set_name() — the group's optional `name` attribute (0444); a new
   * name replaces the old file, null removes it. Naming an unnamed group null is ENOMEM, as
   * kstrdup(NULL) answers.
   */
  iommuGroupSetName(group: IommuGroup, name: string | null): void {
    const file = `${group.sysfsPath}/name`;
    if (group.name !== null) {
      this.removeIfExists(file);
      group.name = null;
      if (name === null) return;
    }
    if (name === null) throw new SysError("ENOMEM", "iommu_group_set_name", "kstrdup(NULL)");
    group.name = name;
    try {
      this.sysfs.createFile(file, { mode: 0o444, show: () => `${group.name}\n` });
    } catch (e) {
      group.name = null;
      throw e;
    }
  }

  /** iommu.c: generic_device_group() — a group of its own for every device. */
  genericDeviceGroup(_dev: IommuClient): IommuGroup {
    return this.iommuGroupAlloc();
  }

  /** iommu.c: generic_single_device_group() — one group per IOMMU instance. */
  genericSingleDeviceGroup(dev: IommuClient): IommuGroup {
    const iommu = this.devIommu.get(dev)!.iommuDev!;
    if (!iommu.singletonGroup) iommu.singletonGroup = this.iommuGroupAlloc();
    return this.iommuGroupRefGet(iommu.singletonGroup);
  }

  /** iommu.c: iommu_group_get() — the device's group with a reference, or null. */
  iommuGroupGet(dev: IommuClient): IommuGroup | null {
    const group = this.devGroup.get(dev);
    if (group) group.refs++;
    return group ?? null;
  }

  /** iommu.c: iommu_group_ref_get() */
  iommuGroupRefGet(group: IommuGroup): IommuGroup {
    group.refs++;
    return group;
  }

  /** iommu.c: iommu_group_put() — the last reference frees the id and the sysfs directory. */
  iommuGroupPut(group: IommuGroup | null): void {
    if (!group) return;
    if (--group.refs > 0) return;
    // iommu_group_release()
    this.groupIda.free(group.id);
    this.removeIfExists(group.sysfsPath);
  }

  /** iommu.c: iommu_group_alloc_device() — the two sysfs links and the log line. */
  private iommuGroupAllocDevice(group: IommuGroup, dev: IommuClient): GroupDevice {
    const log = this.devLog(dev);
    const devPath = dev.kobjPath;
    if (devPath === null) {
      log.err(`Failed to add to iommu group ${group.id}: -22`);
      throw new SysError("EINVAL", "iommu_group_alloc_device", `${dev.name} is not in sysfs`);
    }
    const ownLink = `${devPath}/iommu_group`;
    try {
      this.sysfs.symlink(ownLink, group.sysfsPath);
      let name = dev.name;
      for (let i = 0; ; i++) {
        try {
          this.sysfs.symlink(`${group.sysfsPath}/devices/${name}`, devPath);
          break;
        } catch (e) {
          // Two devices of one name in a group: append an instance number.
          if (!(SysError.isInstance(e) && e.code === "EEXIST")) {
            this.removeIfExists(ownLink);
            throw e;
          }
          name = `${dev.name}.${i}`;
        }
      }
      this.emit({ type: "iommu:add_device_to_group", group: group.id, device: dev.name });
      log.info(`Adding to iommu group ${group.id}`);
      return { dev, name, blocked: false };
    } catch (e) {
      if (SysError.isInstance(e)) {
        log.err(`Failed to add to iommu group ${group.id}: -${e.errno}`);
      }
      throw e;
    }
  }

  /** iommu.c: __iommu_group_free_device() */
  private iommuGroupFreeDevice(group: IommuGroup, gdev: GroupDevice): void {
    this.removeIfExists(`${group.sysfsPath}/devices/${gdev.name}`);
    if (gdev.dev.kobjPath !== null) this.removeIfExists(`${gdev.dev.kobjPath}/iommu_group`);
    this.emit({ type: "iommu:remove_device_from_group", group: group.id, device: gdev.dev.name });
  }

  /** iommu.c: iommu_get_resv_regions() */
  iommuGetResvRegions(dev: IommuClient): IommuResvRegion[] {
    return this.devIommuOps(dev).getResvRegions?.(dev) ?? [];
  }

  /**
   * iommu.c: iommu_get_group_resv_regions() — every member's regions, sorted by start (then
   * type), overlapping regions of one type merged (iommu_insert_resv_region()).
   */
  iommuGetGroupResvRegions(group: IommuGroup): IommuResvRegion[] {
    let regions: IommuResvRegion[] = [];
    for (const gdev of group.devices) {
      if (!this.devHasIommu(gdev.dev)) break;
      for (const r of this.iommuGetResvRegions(gdev.dev)) regions = insertResvRegion(r, regions);
    }
    return regions;
  }

  /** iommu.c: iommu_group_show_resv_regions() */
  private iommuGroupShowResvRegions(group: IommuGroup): string {
    return this.iommuGetGroupResvRegions(group)
      .map(
        (r) =>
          `${hex16(r.start)} ${hex16(r.start + r.length - 1)} ${IOMMU_RESV_TYPE_NAMES[r.type]}\n`,
      )
      .join("");
  }

  /** iommu.c: iommu_group_store_type() (without its CAP_SYS_ADMIN/CAP_SYS_RAWIO check). */
  iommuGroupStoreType(group: IommuGroup, text: string): void {
    const fn = "iommu_group_store_type";
    if (!group.defaultDomain) throw new SysError("EINVAL", fn, "group has no default domain");
    const name = Object.keys(STORE_TYPES).find((k) => sysfsStreq(text, k));
    if (name === undefined) throw new SysError("EINVAL", fn, `unknown type ${text.trim()}`);
    const reqType = STORE_TYPES[name]!;
    // A flush queue can be brought up without tearing the domain down.
    if (reqType === IOMMU_DOMAIN_DMA_FQ && group.defaultDomain.type === IOMMU_DOMAIN_DMA) {
      iommuDmaInitFq(this, group.defaultDomain);
      group.defaultDomain.type = IOMMU_DOMAIN_DMA_FQ;
      return;
    }
    if (group.devices.length === 0 || group.ownerCnt) {
      throw new SysError("EPERM", fn, "group has no devices or is in use");
    }
    this.iommuSetupDefaultDomain(group, reqType);
    for (const gdev of group.devices) this.iommuSetupDmaOps(gdev.dev, group.defaultDomain);
  }

  // -------------------------------------------------------------------------------------------
  // Default domains

  /** iommu.c: iommu_get_def_domain_type() — combines the drivers' preferences. */
  private iommuGetDefDomainType(group: IommuGroup, dev: IommuClient, cur: number): number {
    const ops = this.devIommuOps(dev);
    if (!ops.defDomainType) return cur;
    const type = ops.defDomainType(dev);
    if (!type || cur === type) return cur;
    if (!cur) return type;
    this.devLog(dev).err(
      `IOMMU driver error, requesting conflicting def_domain_type, ${iommuDomainTypeStr(cur)} and ${iommuDomainTypeStr(type)}, for devices in group ${group.id}.`,
    );
    return type === IOMMU_DOMAIN_IDENTITY ? type : cur;
  }

  /** iommu.c: iommu_get_default_domain_type(): −1 for an impossible request. */
  private iommuGetDefaultDomainType(group: IommuGroup, targetType: number): number {
    let driverType = 0;
    for (const gdev of group.devices) {
      driverType = this.iommuGetDefDomainType(group, gdev.dev, driverType);
    }
    if (targetType) {
      if (driverType && targetType !== driverType) return -1;
      return targetType;
    }
    return driverType;
  }

  /** iommu.c: __iommu_paging_domain_alloc_flags() */
  private iommuPagingDomainAllocFlagsLocked(
    dev: IommuClient,
    type: number,
    flags: number,
  ): IommuDomain {
    const fn = "__iommu_paging_domain_alloc_flags";
    if (!this.devHasIommu(dev)) throw new SysError("ENODEV", fn, `${dev.name} has no IOMMU`);
    const ops = this.devIommuOps(dev);
    let domain: IommuDomain;
    if (ops.domainAllocPaging && !flags) domain = ops.domainAllocPaging(dev);
    else if (ops.domainAllocPagingFlags) domain = ops.domainAllocPagingFlags(dev, flags);
    else throw new SysError("EOPNOTSUPP", fn, "driver cannot allocate paging domains");
    // iommu_domain_init()
    domain.type = type;
    domain.owner = ops;
    return domain;
  }

  /** iommu.c: iommu_paging_domain_alloc_flags() — an UNMANAGED domain for a kernel user. */
  iommuPagingDomainAllocFlags(dev: IommuClient, flags: number): IommuDomain {
    return this.iommuPagingDomainAllocFlagsLocked(dev, IOMMU_DOMAIN_UNMANAGED, flags);
  }

  /** include/linux/iommu.h: iommu_paging_domain_alloc() */
  iommuPagingDomainAlloc(dev: IommuClient): IommuDomain {
    return this.iommuPagingDomainAllocFlags(dev, 0);
  }

  /** iommu.c: iommu_domain_free() */
  iommuDomainFree(domain: IommuDomain): void {
    if (domain.cookieType === "dma-iova") iommuPutDmaCookie(domain);
    domain.ops.free?.(domain);
  }

  /** iommu.c: __iommu_alloc_identity_domain() */
  private iommuAllocIdentityDomain(dev: IommuClient): IommuDomain {
    const ops = this.devIommuOps(dev);
    if (ops.identityDomain) return ops.identityDomain;
    throw new SysError("EOPNOTSUPP", "__iommu_alloc_identity_domain", "no identity domain");
  }

  /** iommu.c: __iommu_group_alloc_default_domain() */
  private iommuGroupAllocDefaultDomainOfType(group: IommuGroup, reqType: number): IommuDomain {
    const dev = group.firstDev();
    if (group.defaultDomain && group.defaultDomain.type === reqType) return group.defaultDomain;
    if (reqType & IOMMU_DOMAIN_UNMANAGED) {
      const pasid = this.devIommu.get(dev)!.maxPasids ? IOMMU_HWPT_ALLOC_PASID : 0;
      try {
        return this.iommuPagingDomainAllocFlagsLocked(dev, reqType, pasid);
      } catch (e) {
        if (!(SysError.isInstance(e) && e.code === "EOPNOTSUPP") || !pasid) throw e;
        return this.iommuPagingDomainAllocFlagsLocked(dev, reqType, 0);
      }
    }
    if (reqType === IOMMU_DOMAIN_IDENTITY) return this.iommuAllocIdentityDomain(dev);
    throw new SysError("EINVAL", "__iommu_group_alloc_default_domain", `type ${reqType}`);
  }

  /** iommu.c: iommu_group_alloc_default_domain() — 0 means the system default. */
  private iommuGroupAllocDefaultDomain(group: IommuGroup, reqType: number): IommuDomain {
    if (reqType) return this.iommuGroupAllocDefaultDomainOfType(group, reqType);
    try {
      return this.iommuGroupAllocDefaultDomainOfType(group, this.defDomainType);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      if (this.defDomainType === IOMMU_DOMAIN_DMA) {
        throw new SysError("EINVAL", "iommu_group_alloc_default_domain", e.message);
      }
    }
    const dom = this.iommuGroupAllocDefaultDomainOfType(group, IOMMU_DOMAIN_DMA);
    this.pr.warn(
      `Failed to allocate default IOMMU domain of type ${this.defDomainType} for group ${group.name ?? "(null)"} - Falling back to IOMMU_DOMAIN_DMA`,
    );
    return dom;
  }

  /** iommu.c: iommu_create_device_direct_mappings() — 1:1 maps for IOMMU_RESV_DIRECT. */
  private iommuCreateDeviceDirectMappings(domain: IommuDomain, dev: IommuClient): void {
    const param = this.devIommu.get(dev)!;
    const pgSize = domain.pgsizeBitmap ? 2 ** ffs(domain.pgsizeBitmap) : 0;
    for (const entry of this.iommuGetResvRegions(dev)) {
      if (entry.type === IOMMU_RESV_DIRECT) param.requireDirect = true;
      if (
        (entry.type !== IOMMU_RESV_DIRECT && entry.type !== IOMMU_RESV_DIRECT_RELAXABLE) ||
        !iommuIsDmaDomain(domain.type)
      ) {
        continue;
      }
      const start = Math.ceil(entry.start / pgSize) * pgSize;
      const end = Math.ceil((entry.start + entry.length) / pgSize) * pgSize;
      let mapSize = 0;
      for (let addr = start; addr <= end; addr += pgSize) {
        if (addr !== end && !this.iommuIovaToPhys(domain, addr || 1)) {
          mapSize += pgSize;
          continue;
        }
        if (mapSize) {
          this.iommuMap(domain, addr - mapSize, addr - mapSize, mapSize, entry.prot);
          mapSize = 0;
        }
      }
    }
  }

  /**
   * iommu.c: iommu_setup_default_domain() — allocates the group's default domain (of
   * `targetType`, or the system default for 0) and moves the group onto it.
   */
  private iommuSetupDefaultDomain(group: IommuGroup, targetType: number): void {
    const fn = "iommu_setup_default_domain";
    const oldDom = group.defaultDomain;
    const reqType = this.iommuGetDefaultDomainType(group, targetType);
    if (reqType < 0) throw new SysError("EINVAL", fn, "conflicting domain types");
    const dom = this.iommuGroupAllocDefaultDomain(group, reqType);
    if (group.defaultDomain === dom) return;
    if (iommuIsDmaDomain(dom.type)) {
      try {
        iommuGetDmaCookie(dom);
      } catch (e) {
        this.iommuDomainFree(dom);
        throw e;
      }
    }
    let directFailed = false;
    for (const gdev of group.devices) {
      try {
        this.iommuCreateDeviceDirectMappings(dom, gdev.dev);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
        directFailed = true;
      }
    }
    group.defaultDomain = dom;
    if (!group.domain) {
      // A driver may not fail the first attach; the domain stays as default to be freed later.
      this.iommuGroupSetDomainInternal(group, dom, MUST_SUCCEED);
    } else {
      try {
        this.iommuGroupSetDomain(group, dom);
      } catch (e) {
        if (oldDom) {
          this.iommuDomainFree(dom);
          group.defaultDomain = oldDom;
        }
        throw e;
      }
    }
    if (directFailed) {
      try {
        for (const gdev of group.devices) this.iommuCreateDeviceDirectMappings(dom, gdev.dev);
      } catch (e) {
        if (oldDom) {
          this.iommuGroupSetDomainInternal(group, oldDom, MUST_SUCCEED);
          this.iommuDomainFree(dom);
          group.defaultDomain = oldDom;
        }
        throw e;
      }
    }
    if (oldDom) this.iommuDomainFree(oldDom);
  }

  /** dma-iommu.c: iommu_setup_dma_ops() — DMA-API ops through the domain, or direct. */
  private iommuSetupDmaOps(dev: IommuClient, domain: IommuDomain): void {
    const dmaIommu = iommuIsDmaDomain(domain.type);
    this.dma.devAssignDmaIommu(dev, dmaIommu);
    if (!dmaIommu) return;
    try {
      iommuDmaInitDomain(this, domain, dev);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      this.printk.printk(
        KERN_WARNING,
        `Failed to set up IOMMU for device ${dev.name}; retaining platform DMA ops`,
      );
      this.dma.devClearDmaIommu(dev);
    }
  }

  /** iommu.c: iommu_group_default_domain() */
  iommuGroupDefaultDomain(group: IommuGroup): IommuDomain | null {
    return group.defaultDomain;
  }

  // -------------------------------------------------------------------------------------------
  // Attaching domains

  /** iommu.c: __iommu_attach_device() */
  private iommuAttachDeviceLocked(
    domain: IommuDomain,
    dev: IommuClient,
    old: IommuDomain | null,
  ): void {
    if (!domain.ops.attachDev) {
      throw new SysError("ENODEV", "__iommu_attach_device", "domain cannot be attached");
    }
    domain.ops.attachDev(domain, dev, old);
    this.devIommu.get(dev)!.attachDeferred = false;
    this.emit({
      type: "iommu:attach",
      device: dev.name,
      group: this.devGroup.get(dev)?.id ?? null,
      domain: this.domainId(domain),
      domainType: domain.typeName,
    });
  }

  /** iommu.c: __iommu_device_set_domain() */
  private iommuDeviceSetDomain(
    group: IommuGroup,
    dev: IommuClient,
    newDomain: IommuDomain,
    oldDomain: IommuDomain | null,
    flags: number,
  ): void {
    const param = this.devIommu.get(dev)!;
    if (
      param.requireDirect &&
      (newDomain.type === IOMMU_DOMAIN_BLOCKED || newDomain === group.blockingDomain)
    ) {
      this.devLog(dev).warn(
        "Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.",
      );
      throw new SysError("EINVAL", "__iommu_device_set_domain", "device requires direct maps");
    }
    if (param.attachDeferred) {
      if (newDomain === group.defaultDomain) return;
      param.attachDeferred = false;
    }
    try {
      this.iommuAttachDeviceLocked(newDomain, dev, oldDomain);
    } catch (e) {
      // Try the blocking domain so the device does not keep using a domain about to be freed.
      if (flags & MUST_SUCCEED && group.blockingDomain && group.blockingDomain !== newDomain) {
        try {
          this.iommuAttachDeviceLocked(group.blockingDomain, dev, oldDomain);
        } catch (e2) {
          if (!SysError.isInstance(e2)) throw e2;
        }
      }
      throw e;
    }
  }

  /**
   * iommu.c: __iommu_group_set_domain_internal() — attaches every member; on failure (unless
   * MUST_SUCCEED) the members already moved go back to the current domain.
   */
  private iommuGroupSetDomainInternal(
    group: IommuGroup,
    newDomain: IommuDomain,
    flags: number,
  ): void {
    if (group.domain === newDomain) return;
    let result: unknown = null;
    for (let i = 0; i < group.devices.length; i++) {
      const gdev = group.devices[i]!;
      if (gdev.blocked) continue;
      try {
        this.iommuDeviceSetDomain(group, gdev.dev, newDomain, group.domain, flags);
      } catch (e) {
        result = e;
        if (flags & MUST_SUCCEED) continue;
        // err_revert
        for (let j = 0; j < i; j++) {
          const back = group.devices[j]!;
          if (group.domain && !back.blocked) {
            try {
              this.iommuDeviceSetDomain(group, back.dev, group.domain, newDomain, MUST_SUCCEED);
            } catch (e2) {
              if (!SysError.isInstance(e2)) throw e2;
            }
          }
        }
        throw e;
      }
    }
    group.domain = newDomain;
    if (result) throw result;
  }

  /** iommu.c: __iommu_group_set_domain() (internal to drivers/iommu) */
  iommuGroupSetDomain(group: IommuGroup, newDomain: IommuDomain): void {
    this.iommuGroupSetDomainInternal(group, newDomain, 0);
  }

  /** iommu.c: __iommu_group_set_domain_nofail() (internal to drivers/iommu) */
  iommuGroupSetDomainNofail(group: IommuGroup, newDomain: IommuDomain): void {
    try {
      this.iommuGroupSetDomainInternal(group, newDomain, MUST_SUCCEED);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
    }
  }

  /** iommu.c: __iommu_group_set_core_domain() — default domain, or blocking when owned. */
  private iommuGroupSetCoreDomain(group: IommuGroup): void {
    const target = group.owner ? group.blockingDomain : group.defaultDomain;
    if (target) this.iommuGroupSetDomainNofail(group, target);
  }

  /** iommu.c: domain_iommu_ops_compatible() */
  private domainIommuOpsCompatible(ops: IommuOps, domain: IommuDomain): boolean {
    if (domain.owner === ops) return true;
    return domain === ops.blockedDomain || domain === ops.identityDomain;
  }

  /** iommu.c: __iommu_attach_group() */
  private iommuAttachGroupLocked(domain: IommuDomain, group: IommuGroup): void {
    const fn = "__iommu_attach_group";
    if (
      group.domain &&
      group.domain !== group.defaultDomain &&
      group.domain !== group.blockingDomain
    ) {
      throw new SysError("EBUSY", fn, `group ${group.id} already has a user domain`);
    }
    const dev = group.firstDev();
    if (!this.devHasIommu(dev) || !this.domainIommuOpsCompatible(this.devIommuOps(dev), domain)) {
      throw new SysError("EINVAL", fn, "domain of another IOMMU driver");
    }
    this.iommuGroupSetDomain(group, domain);
  }

  /** iommu.c: iommu_attach_device() — only for a device alone in its group. */
  iommuAttachDevice(domain: IommuDomain, dev: IommuClient): void {
    const group = this.devGroup.get(dev);
    if (!group) throw new SysError("ENODEV", "iommu_attach_device", `${dev.name} has no group`);
    if (group.devices.length !== 1) {
      throw new SysError("EINVAL", "iommu_attach_device", `group ${group.id} has other devices`);
    }
    this.iommuAttachGroupLocked(domain, group);
  }

  /** iommu.c: iommu_detach_device() */
  iommuDetachDevice(domain: IommuDomain, dev: IommuClient): void {
    const group = this.devGroup.get(dev);
    if (!group) return;
    // WARN_ON(): detaching a domain that is not attached, or from a shared group.
    if (domain !== group.domain || group.devices.length !== 1) return;
    this.iommuGroupSetCoreDomain(group);
  }

  /** iommu.c: iommu_attach_group() */
  iommuAttachGroup(domain: IommuDomain, group: IommuGroup): void {
    this.iommuAttachGroupLocked(domain, group);
  }

  /** iommu.c: iommu_detach_group() */
  iommuDetachGroup(_domain: IommuDomain, group: IommuGroup): void {
    this.iommuGroupSetCoreDomain(group);
  }

  // -------------------------------------------------------------------------------------------
  // Attach handles (IOMMUFD_INTERNAL): the RID's entry of the pasid array
  //
  // The C code reserves the RID slot (xa_insert()/xa_reserve() of XA_ZERO_ENTRY) before it
  // attaches and stores the handle after; the reservation is never visible outside the group
  // mutex, and index 0 of an otherwise empty xarray lives in its head, so it cannot fail for
  // memory. What remains observable is modelled: EBUSY for an occupied slot, and a failed
  // replace leaving the previous handle in place.

  /**
   * iommu.c: iommu_attach_handle_get() — the handle at `pasid`; ENOENT when there is none,
   * EBUSY when `type` (0: any) is not its domain's type.
   */
  iommuAttachHandleGet(group: IommuGroup, pasid: number, type: number): IommuAttachHandle {
    const fn = "iommu_attach_handle_get";
    const handle = group.pasidArray.get(pasid);
    if (!handle) throw new SysError("ENOENT", fn, `group ${group.id} has no handle at ${pasid}`);
    if (type && handle.domain?.type !== type) {
      throw new SysError("EBUSY", fn, `group ${group.id}: handle of another domain type`);
    }
    return handle;
  }

  /**
   * iommu.c: iommu_attach_group_handle() — iommu_attach_group() that also records `handle` for
   * the RID: EINVAL without a handle, EBUSY while the RID has one (xa_insert()), then
   * __iommu_attach_group()'s errors (EBUSY over a user domain, EINVAL for another driver's
   * domain, the driver's attach errors) with the slot left empty.
   */
  iommuAttachGroupHandle(
    domain: IommuDomain,
    group: IommuGroup,
    handle: IommuAttachHandle | null,
  ): void {
    if (!handle) throw new SysError("EINVAL", "iommu_attach_group_handle", "no handle");
    // iommu_make_pasid_array_entry() points the handle at the domain before anything can fail.
    handle.domain = domain;
    if (group.pasidArray.has(IOMMU_NO_PASID)) {
      throw new SysError("EBUSY", "xa_insert", `group ${group.id}: RID already has a handle`);
    }
    this.iommuAttachGroupLocked(domain, group);
    group.pasidArray.set(IOMMU_NO_PASID, handle);
  }

  /**
   * iommu.c: iommu_detach_group_handle() — back to the core domain (blocking while owned,
   * default otherwise), then the RID's handle is dropped. `domain` is not looked at.
   */
  iommuDetachGroupHandle(_domain: IommuDomain, group: IommuGroup): void {
    this.iommuGroupSetCoreDomain(group);
    group.pasidArray.delete(IOMMU_NO_PASID);
  }

  /**
   * iommu.c: iommu_replace_group_handle() — switches the whole group to `newDomain` without a
   * stop at the blocking domain, and makes `handle` the RID's handle: EINVAL without a domain
   * or a handle, then __iommu_group_set_domain()'s errors, after which every member is back on
   * the old domain and the old handle stays. Unlike the attach it neither refuses a group on a
   * user domain (that is the point) nor checks the domain's driver, and it does not look at
   * ownership: the caller (iommufd) has claimed the group.
   */
  iommuReplaceGroupHandle(
    group: IommuGroup,
    newDomain: IommuDomain | null,
    handle: IommuAttachHandle | null,
  ): void {
    if (!newDomain || !handle) {
      throw new SysError("EINVAL", "iommu_replace_group_handle", "no domain or no handle");
    }
    handle.domain = newDomain;
    this.iommuGroupSetDomain(group, newDomain);
    group.pasidArray.set(IOMMU_NO_PASID, handle);
  }

  /**
   * iommu.c: iommu_group_has_isolated_msi() — true only when every member has isolated MSIs
   * (a mismatch within a group is a bug, so all of them are asked).
   */
  iommuGroupHasIsolatedMsi(group: IommuGroup): boolean {
    let ret = true;
    for (const gdev of group.devices) ret = msiDeviceHasIsolatedMsi(gdev.dev) && ret;
    return ret;
  }

  /** iommu.c: iommu_get_domain_for_dev() */
  iommuGetDomainForDev(dev: IommuClient): IommuDomain | null {
    return this.devGroup.get(dev)?.domain ?? null;
  }

  /** iommu.c: iommu_get_dma_domain() */
  iommuGetDmaDomain(dev: IommuClient): IommuDomain {
    return this.devGroup.get(dev)!.defaultDomain!;
  }

  /** iommu.c: device_iommu_capable() */
  deviceIommuCapable(dev: IommuClient, cap: IommuCap): boolean {
    if (!this.devHasIommu(dev)) return false;
    const ops = this.devIommuOps(dev);
    return ops.capable ? ops.capable(dev, cap) : false;
  }

  // -------------------------------------------------------------------------------------------
  // Mapping

  /** iommu.c: iommu_iova_to_phys() — 0 when nothing is mapped there. */
  iommuIovaToPhys(domain: IommuDomain, iova: number): number {
    if (domain.type === IOMMU_DOMAIN_IDENTITY) return iova;
    if (domain.type === IOMMU_DOMAIN_BLOCKED) return 0;
    return domain.ops.iovaToPhys?.(domain, iova) ?? 0;
  }

  /**
   * iommu.c: iommu_pgsize() — the biggest page size that fits the size and both addresses'
   * alignment, and how many of them to map before a bigger size becomes possible.
   */
  iommuPgsize(
    domain: IommuDomain,
    iova: number,
    paddr: number,
    size: number,
  ): { pgsize: number; count: number } {
    const exps = pgsizeExponents(domain.pgsizeBitmap);
    // __ffs(iova | paddr): the alignment both addresses share (no limit when both are 0).
    const inf = Number.POSITIVE_INFINITY;
    const align = Math.min(iova ? ffs(iova) : inf, paddr ? ffs(paddr) : inf);
    const fits = exps.filter((e) => 2 ** e <= size && e <= align);
    if (fits.length === 0) throw new RangeError("iommu_pgsize: BUG: no suitable page size");
    const idx = fits[fits.length - 1]!;
    const pgsize = 2 ** idx;
    const bigger = exps.find((e) => e > idx);
    if (bigger !== undefined) {
      const next = 2 ** bigger;
      // A bigger page is only possible if both addresses sit alike within it: then map small
      // pages only up to the next boundary of the bigger size.
      if (iova % next === paddr % next) {
        const offset = next - (iova % next);
        if (offset + next <= size) size = offset;
      }
    }
    return { pgsize, count: Math.floor(size / pgsize) };
  }

  /** iommu.c: __iommu_map_domain_pgtbl() */
  private iommuMapDomainPgtbl(
    domain: IommuDomain,
    iova: number,
    paddr: number,
    size: number,
    prot: number,
    mapped: { value: number },
  ): void {
    const ops = domain.ops;
    if (!ops.mapPages) throw new SysError("ENODEV", "__iommu_map_domain_pgtbl", "no map_pages");
    const minPagesz = 2 ** ffs(domain.pgsizeBitmap);
    if (iova % minPagesz || paddr % minPagesz || size % minPagesz) {
      this.pr.err(
        `unaligned: iova 0x${iova.toString(16)} pa ${hex16(paddr)} size 0x${size.toString(16)} min_pagesz 0x${minPagesz.toString(16)}`,
      );
      throw new SysError("EINVAL", "__iommu_map_domain_pgtbl", "unaligned");
    }
    while (size) {
      const { pgsize, count } = this.iommuPgsize(domain, iova, paddr, size);
      const opMapped = { value: 0 };
      try {
        ops.mapPages(domain, iova, paddr, pgsize, count, prot, opMapped);
      } finally {
        mapped.value += opMapped.value;
      }
      size -= opMapped.value;
      iova += opMapped.value;
      paddr += opMapped.value;
    }
  }

  /**
   * iommu.c: iommu_map() — maps [iova, iova+size) to paddr with the largest page sizes
   * possible; on failure what was mapped is unmapped again.
   */
  iommuMap(domain: IommuDomain, iova: number, paddr: number, size: number, prot: number): void {
    if (!domain.isPaging || !domain.pgsizeBitmap) {
      throw new SysError("EINVAL", "iommu_map_nosync", "not a paging domain");
    }
    const mapped = { value: 0 };
    let error: unknown = null;
    try {
      this.iommuMapDomainPgtbl(domain, iova, paddr, size, prot, mapped);
    } catch (e) {
      error = e;
    }
    this.emit({
      type: "iommu:map",
      domain: this.domainId(domain),
      iova,
      paddr,
      size: mapped.value,
    });
    if (error) {
      this.iommuUnmap(domain, iova, mapped.value);
      throw error;
    }
  }

  /** iommu.c: __iommu_unmap_domain_pgtbl() */
  private iommuUnmapDomainPgtbl(
    domain: IommuDomain,
    iova: number,
    size: number,
    gather: IommuIotlbGather,
  ): number {
    const ops = domain.ops;
    if (!ops.unmapPages) return 0;
    const minPagesz = 2 ** ffs(domain.pgsizeBitmap);
    if (iova % minPagesz || size % minPagesz) {
      this.pr.err(
        `unaligned: iova 0x${iova.toString(16)} size 0x${size.toString(16)} min_pagesz 0x${minPagesz.toString(16)}`,
      );
      return 0;
    }
    let unmapped = 0;
    while (unmapped < size) {
      const { pgsize, count } = this.iommuPgsize(domain, iova, iova, size - unmapped);
      const page = ops.unmapPages(domain, iova, pgsize, count, gather);
      if (!page) break;
      // A driver that does not gather itself still gets its iotlb_sync().
      if (gather.start >= gather.end) gather.addRange(iova, size);
      iova += page;
      unmapped += page;
    }
    return unmapped;
  }

  /** iommu.c: __iommu_unmap() */
  private iommuUnmapLocked(
    domain: IommuDomain,
    iova: number,
    size: number,
    gather: IommuIotlbGather,
  ): number {
    if (!domain.isPaging || !domain.pgsizeBitmap) return 0;
    const unmapped = this.iommuUnmapDomainPgtbl(domain, iova, size, gather);
    this.emit({
      type: "iommu:unmap",
      domain: this.domainId(domain),
      iova,
      size,
      unmappedSize: unmapped,
    });
    return unmapped;
  }

  /**
   * iommu.c: iommu_unmap() — unmaps whole mappings only; returns the bytes unmapped (the
   * range stops at the first hole) after the IOTLB has been invalidated.
   */
  iommuUnmap(domain: IommuDomain, iova: number, size: number): number {
    const gather = new IommuIotlbGather();
    const ret = this.iommuUnmapLocked(domain, iova, size, gather);
    iommuIotlbSync(domain, gather);
    return ret;
  }

  /** iommu.c: iommu_unmap_fast() — as iommu_unmap(), leaving the IOTLB flush to the caller. */
  iommuUnmapFast(
    domain: IommuDomain,
    iova: number,
    size: number,
    gather: IommuIotlbGather,
  ): number {
    return this.iommuUnmapLocked(domain, iova, size, gather);
  }

  /**
   * iommu.c: iommu_map_sg() — maps physically contiguous runs one after another in IOVA
   * space; returns the bytes mapped (everything is unmapped again on failure).
   */
  iommuMapSg(
    domain: IommuDomain,
    iova: number,
    segments: readonly { readonly phys: number; readonly length: number }[],
    prot: number,
  ): number {
    let mapped = 0;
    let start = 0;
    let len = 0;
    const flush = () => {
      if (!len) return;
      this.iommuMap(domain, iova + mapped, start, len, prot);
      mapped += len;
      len = 0;
    };
    try {
      for (const s of segments) {
        if (len && start + len === s.phys) {
          len += s.length;
          continue;
        }
        flush();
        start = s.phys;
        len = s.length;
      }
      flush();
    } catch (e) {
      this.iommuUnmap(domain, iova, mapped);
      throw e;
    }
    return mapped;
  }

  // -------------------------------------------------------------------------------------------
  // DMA ownership (dma-owner.ts)

  /** iommu.c: iommu_device_use_default_domain() — see dma-owner.ts. */
  iommuDeviceUseDefaultDomain(dev: IommuClient): void {
    iommuDeviceUseDefaultDomain(this, dev);
  }

  /** iommu.c: iommu_device_unuse_default_domain() */
  iommuDeviceUnuseDefaultDomain(dev: IommuClient): void {
    iommuDeviceUnuseDefaultDomain(this, dev);
  }

  /** iommu.c: iommu_group_claim_dma_owner() — see dma-owner.ts. */
  iommuGroupClaimDmaOwner(group: IommuGroup, owner: object | null): void {
    iommuGroupClaimDmaOwner(this, group, owner);
  }

  /** iommu.c: iommu_device_claim_dma_owner() — see dma-owner.ts. */
  iommuDeviceClaimDmaOwner(dev: IommuClient, owner: object | null): void {
    iommuDeviceClaimDmaOwner(this, dev, owner);
  }

  /** iommu.c: iommu_group_release_dma_owner() */
  iommuGroupReleaseDmaOwner(group: IommuGroup): void {
    iommuGroupReleaseDmaOwner(this, group);
  }

  /** iommu.c: iommu_device_release_dma_owner() */
  iommuDeviceReleaseDmaOwner(dev: IommuClient): void {
    iommuDeviceReleaseDmaOwner(this, dev);
  }

  /** iommu.c: iommu_group_dma_owner_claimed() */
  iommuGroupDmaOwnerClaimed(group: IommuGroup): boolean {
    return group.ownerCnt !== 0;
  }

  // -------------------------------------------------------------------------------------------
  // OF glue for the driver core

  /**
   * drivers/of/device.c: of_dma_configure_id() — DMA masks from `dma-ranges`, coherency from
   * `dma-coherent`, then the IOMMU from `iommus` (EPROBE_DEFER while it has not registered).
   * What platform_dma_configure() and amba_dma_configure() call.
   */
  ofDmaConfigure(dev: IommuClient, np: DtNode | null, forceDma: boolean): void {
    ofDmaConfigureId(this, dev, np, forceDma);
  }
}

/** include/linux/irqdomain.h: IRQ_DOMAIN_FLAG_ISOLATED_MSI */
const IRQ_DOMAIN_FLAG_ISOLATED_MSI = 1 << 5;

/**
 * include/linux/msi.h: arch_is_isolated_msi() — only PowerPC pSeries overrides the generic
 * `false`; arm64 relies on an isolating MSI controller (the GICv3 ITS) instead.
 */
const ARCH_IS_ISOLATED_MSI = false;

/** The part of an MSI `struct irq_domain` msi_device_has_isolated_msi() reads. */
interface MsiIrqDomain {
  readonly flags: number;
  readonly parent: MsiIrqDomain | null;
}

/**
 * include/linux/device.h: dev_get_msi_domain() — `dev->msi.domain`. of_msi_configure() sets it
 * for a platform device (never an AMBA one) from its node's `msi-parent`, to the platform-MSI
 * domain the MSI controller's driver registered. No node of our boards has `msi-parent`, and
 * the model registers no MSI domain (no GICv3 ITS driver: irqdomain.ts), so no device has one.
 */
function devGetMsiDomain(_dev: IommuClient): MsiIrqDomain | null {
  return null;
}

/**
 * kernel/irq/msi.c: msi_device_has_isolated_msi() — an MSI domain on the device's path that
 * checks which interrupts a device may raise, or else the architecture's word (false on arm64).
 * So every device here is "not isolated", and iommufd/VFIO need allow_unsafe_interrupts.
 */
export function msiDeviceHasIsolatedMsi(dev: IommuClient): boolean {
  for (let d = devGetMsiDomain(dev); d; d = d.parent) {
    if (d.flags & IRQ_DOMAIN_FLAG_ISOLATED_MSI) return true;
  }
  return ARCH_IS_ISOLATED_MSI;
}

/** iommu.c: iommu_insert_resv_region() */
function insertResvRegion(nr: IommuResvRegion, regions: IommuResvRegion[]): IommuResvRegion[] {
  const list = [...regions];
  let at = list.findIndex((r) => nr.start < r.start || (nr.start === r.start && nr.type <= r.type));
  if (at < 0) at = list.length;
  list.splice(at, 0, { ...nr });
  // Merge overlapping (or touching) regions of the new region's type; others keep their place.
  const stack: IommuResvRegion[] = [];
  for (const iter of list) {
    if (iter.type !== nr.type) {
      stack.push(iter);
      continue;
    }
    let topIdx = -1;
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i]!.type === iter.type) {
        topIdx = i;
        break;
      }
    }
    if (topIdx < 0) {
      stack.push(iter);
      continue;
    }
    const top = stack[topIdx]!;
    const topEnd = top.start + top.length - 1;
    const iterEnd = iter.start + iter.length - 1;
    if (iter.start > topEnd + 1) {
      stack.push(iter);
    } else {
      stack[topIdx] = { ...top, length: Math.max(topEnd, iterEnd) - top.start + 1 };
    }
  }
  return stack;
}
