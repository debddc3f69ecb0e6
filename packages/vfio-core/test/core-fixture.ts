/**
 * The world of the VFIO core's unit tests (src/*.test.ts and the replays that need no full bus
 * driver): a booted board with iommufd and vfio loaded, one minimal VFIO bus driver bound
 * through driver_override the way a VMM's setup script binds vfio-platform, and the group,
 * container and cdev ioctls issued as user space issues them.
 *
 *   XGMAC        c010000.ethernet   IOMMU group 0
 *   DMA test 0   c030000.dma-test   IOMMU group 1
 *   PL330        c000000.dma        IOMMU group 2 (amba: the test driver is a platform driver)
 *   DMA test 1   c031000.dma-test   no IOMMU: a no-IOMMU (noiommu-3) or emulated (3) group
 *
 * `vfio-core-test` is vfio-platform cut to what the core asks of a driver: `driver_managed_dma`,
 * no match table (only driver_override binds it), probe registers a `CoreTestDevice` with
 * vfio_register_group_dev() and the physical iommufd operations — or the emulated ones with
 * vfio_register_emulated_iommu_dev() — and its device protocol is VFIO_DEVICE_GET_INFO (one
 * region, no IRQs), read/write/mmap that do nothing, and a count of open_device/close_device.
 * Registered emulated, its `dma_unmap` gives back what the test pinned through it
 * (`CoreTestDevice.pinPages()`), as an mdev driver does. The full bus driver, with regions, IRQs
 * and reset, is vfio-platform: the suites that need one live in
 * packages/vfio-platform/test/selftests/ (vfio-platform sits above vfio-core, never below).
 *
 * The shared-group cases boot MOCK_IOMMU_DTS (kernel/src/iommu/iommu-test-fixture.ts), whose
 * mock IOMMU puts `2000000.a` and `2001000.b` in one group; the model's kernel needs a GIC to
 * boot, so one is added, and the mock IOMMU driver is registered once the kernel is up. A
 * kernel DMA-API driver (`kdrv`, not driver_managed_dma) binds both devices at boot.
 *
 * The container's backend is either none (vfio_iommu_type1, which modprobe brings along, is
 * removed: these tests are about vfio itself), type1 itself when a test asks for it (`type1`,
 * with its allow_unsafe_interrupts), or a fake (`fakeBackend()`) the test registers: it shows
 * exactly what container.c asks of a backend.
 */

import { boards, DMA_TEST_CTRL, DMA_TEST_STATUS, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { IommuFd, type IommufdCtx, iommufdModule } from "@vfio-lab/iommufd";
import {
  copyFromUser,
  copyToUser,
  defineModule,
  encodeScalar,
  type File,
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IommuDevice,
  IommuDomain,
  type IommuDomainOps,
  type IommuGroup,
  type IommuOps,
  Kernel,
  type KernelConfigInput,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type PlatformDevice,
  PlatformDriver,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SysError,
  s32,
  type Task,
} from "@vfio-lab/kernel";
import {
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_FLAGS_PLATFORM,
  VFIO_DEVICE_GET_INFO,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_SET_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_device_detach_iommufd_pt,
  vfio_device_info,
  vfio_group_status,
} from "@vfio-lab/kernel/uapi";
import { type BoardDev, DMAT0, DMAT1, XGMAC } from "../../iommufd/test/device-fixture.js";
import { MOCK_IOMMU_DTS } from "../../kernel/src/iommu/iommu-test-fixture.js";
import { vfioRegisterIommuDriver, vfioUnregisterIommuDriver } from "../src/container.js";
import {
  vfioIommufdEmulatedAttachIoas,
  vfioIommufdEmulatedBind,
  vfioIommufdEmulatedDetachIoas,
  vfioIommufdEmulatedUnbind,
  vfioIommufdPhysicalAttachIoas,
  vfioIommufdPhysicalBind,
  vfioIommufdPhysicalDetachIoas,
  vfioIommufdPhysicalPasidAttachIoas,
  vfioIommufdPhysicalPasidDetachIoas,
  vfioIommufdPhysicalUnbind,
} from "../src/iommufd.js";
import {
  VfioCoreDevice,
  type VfioDeviceOps,
  type VfioGroupType,
  type VfioIommuDriverOps,
} from "../src/vfio.js";
import {
  type Vfio,
  vfioDmaRw,
  vfioInitDevice,
  vfioOf,
  vfioPinPages,
  vfioPutDevice,
  vfioRegisterEmulatedIommuDev,
  vfioRegisterGroupDev,
  vfioUnpinPages,
  vfioUnregisterGroupDev,
} from "../src/vfio-main.js";
import { vfioIommuType1Module, vfioModule } from "../src/vfio-modules.js";

export const TEST_DRIVER = "vfio-core-test";

/** No device of the board has isolated MSIs: type1 and iommufd refuse without these (EPERM). */
export const UNSAFE_INTERRUPTS =
  "iommufd.allow_unsafe_interrupts=1 vfio_iommu_type1.allow_unsafe_interrupts=1";

/** A device as sysfs names it: /sys/bus/<bus>/devices/<name>. */
export interface BusDevice {
  readonly bus: "platform" | "amba";
  readonly name: string;
}

/** The board's devices as the iommufd tests name them (bus, name, IOMMU group, MMIO base). */
export { type BoardDev, DMAT0, DMAT1, XGMAC };
/** The mock board's two devices of one IOMMU group. */
export const MOCK_A: BoardDev = { bus: "platform", name: "2000000.a", group: 0, base: 0x200_0000 };
export const MOCK_B: BoardDev = { bus: "platform", name: "2001000.b", group: 0, base: 0x200_1000 };

// ---------------------------------------------------------------------------------------------
// The test bus driver

/** `struct vfio_core_test_device`: the core device plus what the tests look at. */
export class CoreTestDevice extends VfioCoreDevice {
  opens = 0;
  closes = 0;
  /** Emulated mode: the page runs the driver holds pinned, as an mdev driver tracks them. */
  readonly pins: { iova: bigint; npage: number }[] = [];
  /** Emulated mode: every dma_unmap the core asked for, as [iova, length]. */
  readonly unmapCalls: [bigint, bigint][] = [];

  /** vfio_pin_pages() for the driver's own use: pins and records the run. */
  pinPages(iova: bigint, npage: number, prot: number): number[] {
    const pfns = vfioPinPages(this, iova, npage, prot);
    this.pins.push({ iova, npage });
    return pfns;
  }

  /** vfio_unpin_pages() of a run the driver pinned. */
  unpinPages(iova: bigint, npage: number): void {
    const at = this.pins.findIndex((p) => p.iova === iova && p.npage === npage);
    if (at < 0) throw new Error(`no pinned run at 0x${iova.toString(16)}`);
    this.pins.splice(at, 1);
    vfioUnpinPages(this, iova, npage);
  }

  /** vfio_dma_rw(): the CPU reads or writes user memory at an IOVA for the device. */
  dmaRw(current: Task, iova: bigint, buf: Uint8Array, write: boolean): void {
    vfioDmaRw(this, current, iova, buf, write);
  }
}

/**
 * The emulated driver's `dma_unmap`: user space is taking `[iova, iova + length)` away, so every
 * run the driver pinned that touches it is unpinned before the core goes on.
 */
function dmaUnmap(vdev: CoreTestDevice, iova: bigint, length: bigint): void {
  vdev.unmapCalls.push([iova, length]);
  const page = BigInt(PAGE_SIZE);
  for (const pin of [...vdev.pins]) {
    const end = pin.iova + BigInt(pin.npage) * page;
    if (end <= iova || pin.iova >= iova + length) continue;
    vdev.unpinPages(pin.iova, pin.npage);
  }
}

export interface TestDriverOptions {
  /** vfio_register_emulated_iommu_dev() and the emulated iommufd operations. */
  readonly emulated?: boolean;
  /** Offer pasid_attach_ioas / pasid_detach_ioas (vfio-pci does; vfio-platform does not). */
  readonly pasid?: boolean;
  /** The driver's `match` (GET_DEVICE_FD name matching); dev_name() without one. */
  readonly match?: (vdev: CoreTestDevice, name: string) => number;
  /** An `open_device` that refuses. */
  readonly openError?: SysError;
  /** Device ops of the test's own making (usually coreTestOps() with a change); the rest ignored. */
  readonly ops?: VfioDeviceOps<CoreTestDevice>;
}

/** offsetofend(struct vfio_device_info, num_irqs) */
const INFO_MINSZ = vfio_device_info.offsetofend("num_irqs");

/** The driver's VFIO_DEVICE_GET_INFO, as vfio-platform answers it (copies back minsz). */
function getInfo(current: Task, arg: number): number {
  const fn = "vfio_core_test_ioctl";
  const info = vfio_device_info.decodePartial(copyFromUser(current.mm, arg, INFO_MINSZ, fn));
  if (info.argsz < INFO_MINSZ) throw new SysError("EINVAL", fn, `argsz ${info.argsz}`);
  info.flags = VFIO_DEVICE_FLAGS_PLATFORM;
  info.num_regions = 1;
  info.num_irqs = 0;
  copyToUser(current.mm, arg, vfio_device_info.encode(info).subarray(0, INFO_MINSZ), fn);
  return 0;
}

/** The driver's device ops for `opts`. */
export function coreTestOps(opts: TestDriverOptions = {}): VfioDeviceOps<CoreTestDevice> {
  const iommufdOps = opts.emulated
    ? {
        bindIommufd: vfioIommufdEmulatedBind,
        unbindIommufd: vfioIommufdEmulatedUnbind,
        attachIoas: vfioIommufdEmulatedAttachIoas,
        detachIoas: vfioIommufdEmulatedDetachIoas,
        dmaUnmap,
      }
    : {
        bindIommufd: vfioIommufdPhysicalBind,
        unbindIommufd: vfioIommufdPhysicalUnbind,
        attachIoas: vfioIommufdPhysicalAttachIoas,
        detachIoas: vfioIommufdPhysicalDetachIoas,
        ...(opts.pasid
          ? {
              pasidAttachIoas: vfioIommufdPhysicalPasidAttachIoas,
              pasidDetachIoas: vfioIommufdPhysicalPasidDetachIoas,
            }
          : {}),
      };
  return {
    name: TEST_DRIVER,
    ...iommufdOps,
    ...(opts.match ? { match: opts.match } : {}),
    openDevice: (vdev) => {
      if (opts.openError) throw opts.openError;
      vdev.opens++;
    },
    closeDevice: (vdev) => {
      vdev.closes++;
    },
    ioctl: (_vdev, current, cmd, arg) => {
      if (cmd >>> 0 === VFIO_DEVICE_GET_INFO) return getInfo(current, arg);
      throw new SysError("ENOTTY", "vfio_core_test_ioctl", `cmd 0x${(cmd >>> 0).toString(16)}`);
    },
    read: () => 0,
    write: (_vdev, _current, _va, count) => count,
    mmap: () => {},
  };
}

/** The platform driver: probe registers the VFIO device, remove unregisters it. */
export function coreTestDriver(kernel: Kernel, opts: TestDriverOptions = {}): PlatformDriver {
  const ops = opts.ops ?? coreTestOps(opts);
  return new PlatformDriver({
    name: TEST_DRIVER,
    driverManagedDma: true,
    probe: (pdev: PlatformDevice) => {
      const vdev = vfioInitDevice(new CoreTestDevice(kernel, pdev, ops));
      try {
        if (opts.emulated) vfioRegisterEmulatedIommuDev(vdev);
        else vfioRegisterGroupDev(vdev);
      } catch (e) {
        vfioPutDevice(vdev);
        throw e;
      }
      pdev.driverData = vdev;
    },
    remove: (pdev: PlatformDevice) => {
      const vdev = pdev.driverData as CoreTestDevice;
      vfioUnregisterGroupDev(vdev);
      vfioPutDevice(vdev);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// The mock-IOMMU board

/** A GIC, which the model's kernel needs to boot, for the mock-IOMMU board. */
const GIC_NODE = `\tgic: intc@8000000 {
\t\treg = <0x0 0x8000000 0x0 0x10000 0x0 0x80a0000 0x0 0xf60000>;
\t\tcompatible = "arm,gic-v3";
\t\tinterrupt-controller;
\t\t#interrupt-cells = <0x3>;
\t};
};
`;

/**
 * The mock IOMMU of iommu.test.ts as a driver of the full kernel: one group for every device
 * behind it (generic_single_device_group()), domains that translate nothing, and
 * IOMMU_CAP_CACHE_COHERENCY so VFIO accepts its devices.
 */
function registerMockIommu(kernel: Kernel): void {
  const core = kernel.iommu;
  const hw = kernel.drivers.findDevice("platform", "1000000.iommu");
  if (!hw) throw new Error("no mock IOMMU device");
  const iommu = new IommuDevice(hw);
  const domainOps: IommuDomainOps = {
    attachDev: () => {},
    mapPages: () => {},
    unmapPages: () => 0,
  };
  const ops: IommuOps = {
    name: "mock",
    identityDomain: new IommuDomain(IOMMU_DOMAIN_IDENTITY, domainOps),
    blockedDomain: new IommuDomain(IOMMU_DOMAIN_BLOCKED, domainOps),
    defaultDomainOps: domainOps,
    capable: (_dev, cap) => cap === IOMMU_CAP_CACHE_COHERENCY,
    probeDevice: () => iommu,
    deviceGroup: (dev) => core.genericSingleDeviceGroup(dev),
    ofXlate: (dev, args) => core.iommuFwspecAddIds(dev, args),
    domainAllocPaging: () => {
      const d = new IommuDomain(IOMMU_DOMAIN_UNMANAGED, domainOps);
      d.pgsizeBitmap = 0x1000;
      d.geometry.apertureEnd = 2 ** 32 - 1;
      return d;
    },
  };
  core.iommuDeviceRegister(iommu, ops, hw);
}

/** A kernel DMA-API driver for the mock devices (binding it claims the group for the kernel). */
export const KDRV = "kdrv";
function kernelDmaDriver(): PlatformDriver {
  return new PlatformDriver({
    name: KDRV,
    ofMatchTable: [{ compatible: "vfio-lab,test-a" }, { compatible: "vfio-lab,test-b" }],
    probe: () => {},
  });
}

// ---------------------------------------------------------------------------------------------
// Boot

export interface CoreWorld {
  readonly soc: Soc;
  readonly kernel: Kernel;
  readonly vfio: Vfio;
  /** The VMM. */
  readonly p: Process;
  /** Scratch user memory for ioctl arguments (one page). */
  readonly arg: number;
}

export interface CoreWorldOptions {
  readonly config?: KernelConfigInput;
  /** Extra kernel command line. */
  readonly cmdline?: string;
  /** Leave iommufd.allow_unsafe_interrupts off (the board has no isolated MSI: binds are EPERM). */
  readonly safe?: boolean;
  /** vfio.enable_unsafe_noiommu_mode (default off). */
  readonly noiommu?: boolean;
  /**
   * Keep vfio_iommu_type1 (loaded when the build has a container), with its
   * allow_unsafe_interrupts unless `safe`.
   */
  readonly type1?: boolean;
  /** Boot the mock-IOMMU board (two devices in one group) instead of virtLab. */
  readonly mock?: boolean;
  readonly driver?: TestDriverOptions;
  /** Bind these devices to the test driver (default: none). */
  readonly bind?: readonly BoardDev[];
}

/** Boots the board, loads iommufd and vfio, registers the test driver and binds it. */
export function coreSetup(opts: CoreWorldOptions = {}): CoreWorld {
  const dts = opts.mock
    ? MOCK_IOMMU_DTS.replace(/};\s*$/, GIC_NODE)
    : boards.virtLab({ ramSize: 0x4000_0000 });
  const soc = Soc.fromDeviceTree(dts);
  const cmdline = [
    opts.safe ? "" : opts.type1 ? UNSAFE_INTERRUPTS : "iommufd.allow_unsafe_interrupts=1",
    opts.noiommu ? "vfio.enable_unsafe_noiommu_mode=1" : "",
    opts.cmdline ?? "",
  ]
    .filter((s) => s !== "")
    .join(" ");
  const kernel = Kernel.boot(soc, { cmdline, config: opts.config ?? {} });
  if (opts.mock) {
    registerMockIommu(kernel);
    kernel.drivers.registerDriver(kernelDmaDriver());
  }
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  // modprobe brings vfio_iommu_type1 along (MODULE_SOFTDEP); the container starts with no type1
  // backend, as after `insmod vfio.ko`, unless the test wants type1 (then load it where that
  // soft dependency is not wired).
  const type1Loaded = kernel.modules.isLoaded("vfio_iommu_type1");
  if (!opts.type1 && type1Loaded) kernel.rmmod("vfio_iommu_type1");
  if (opts.type1 && !type1Loaded && kernel.config.CONFIG_VFIO_CONTAINER) {
    kernel.modprobe(vfioIommuType1Module);
  }
  kernel.drivers.registerDriver(coreTestDriver(kernel, opts.driver));
  const p = kernel.spawn({ comm: "vmm" });
  const w = { soc, kernel, vfio: vfioOf(kernel), p, arg: p.malloc(PAGE_SIZE) };
  for (const dev of opts.bind ?? []) bindTest(w, dev);
  return w;
}

/** The cdev tests' world: an iommufd open beside the core world. */
export interface IommufdWorld extends CoreWorld {
  readonly iommufd: IommuFd;
}

/** coreSetup() with DMA test 0 bound (unless `bind` says otherwise) and /dev/iommu open. */
export function iommufdSetup(opts: CoreWorldOptions = {}): IommufdWorld {
  const w = coreSetup({ bind: [DMAT0], ...opts });
  return { ...w, iommufd: IommuFd.open(w.p) };
}

// ---------------------------------------------------------------------------------------------
// sysfs binding and what the kernel holds

/** echo <dev> > /sys/bus/<bus>/devices/<dev>/driver/unbind (nothing when unbound). */
export function unbindDriver(p: Process, dev: BusDevice): void {
  const dir = `/sys/bus/${dev.bus}/devices/${dev.name}`;
  try {
    p.readlink(`${dir}/driver`);
  } catch {
    return;
  }
  p.writeFile(`${dir}/driver/unbind`, dev.name);
}

/**
 * driver_override, unbind from the current driver, drivers_probe: how a VMM's setup script (and
 * the selftests' setup.sh) hands a device to a VFIO driver.
 */
export function driverOverride(p: Process, dev: BusDevice, driver: string): void {
  p.writeFile(`/sys/bus/${dev.bus}/devices/${dev.name}/driver_override`, driver);
  unbindDriver(p, dev);
  p.writeFile(`/sys/bus/${dev.bus}/drivers_probe`, dev.name);
}

/** Hands `dev` to the test driver. */
export function bindTest(w: { readonly p: Process }, dev: BoardDev): void {
  driverOverride(w.p, dev, TEST_DRIVER);
}

/** The test device registered for `dev`. */
export function vdevOf(w: { readonly kernel: Kernel }, dev: BoardDev): CoreTestDevice {
  const d = w.kernel.drivers.findDevice("platform", dev.name);
  if (!(d?.driverData instanceof CoreTestDevice)) throw new Error(`${dev.name} is not bound`);
  return d.driverData;
}

/** lib/sysfs.c: sysfs_iommu_group_get() — the group number from the `iommu_group` link. */
export function sysfsIommuGroupGet(p: Process, dev: BusDevice): number {
  const link = p.readlink(`/sys/bus/${dev.bus}/devices/${dev.name}/iommu_group`);
  return Number(link.slice(link.lastIndexOf("/") + 1));
}

/** `/dev/vfio/devices/<vfio-dev entry>` of a registered device (vfio_pci_get_cdev_path()). */
export function cdevPath(p: Process, dev: BusDevice, prefix = "vfio"): string {
  const entry = p
    .readdir(`/sys/bus/${dev.bus}/devices/${dev.name}/vfio-dev`)
    .find((e) => e.startsWith(prefix));
  if (!entry) throw new Error(`${dev.name} has no vfio cdev`);
  return `/dev/vfio/devices/${entry}`;
}

/** Anonymous private read/write memory, as the selftests' `mmap(NULL, size, …)`. */
export function mmapAnon(p: Process, size: number, extraFlags = 0): number {
  return p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extraFlags, -1, 0);
}

/** The physical address behind a user address of `p` (the page must be present). */
export function userPhys(p: Process, va: number): number {
  const pfn = p.mm.translate(va);
  if (pfn < 0) throw new Error(`0x${va.toString(16)} is not present`);
  return pfn * PAGE_SIZE + (va % PAGE_SIZE);
}

/** The IOMMU group of a device, as the IOMMU core holds it. */
export function iommuGroupOf(w: { readonly kernel: Kernel }, dev: BoardDev): IommuGroup {
  const d = w.kernel.drivers.findDevice(dev.bus, dev.name);
  const group = d ? w.kernel.iommu.deviceGroup(d) : null;
  if (!group) throw new Error(`${dev.name} has no IOMMU group`);
  return group;
}

/** The kernel's file behind a descriptor of `w.p`. */
export function fileOf(w: { readonly kernel: Kernel; readonly p: Process }, fd: number): File {
  const file = w.p.fget(fd)!;
  w.kernel.vfs.fput(file);
  return file;
}

/** The kernel side of an iommufd descriptor. */
export function ictxOf(w: { readonly kernel: Kernel; readonly p: Process }, fd: number) {
  return fileOf(w, fd).privateData as IommufdCtx;
}

/** dmesg text without the timestamps. */
export function dmesg(w: { readonly kernel: Kernel }): string[] {
  return w.kernel.dmesg().map((l) => l.replace(/^\[[ \d.]+\] /, ""));
}

// ---------------------------------------------------------------------------------------------
// Group and container ioctls

/** VFIO_GROUP_GET_STATUS with `argsz` (default 8) → flags. */
export function groupStatus(w: CoreWorld, groupFd: number, argsz = 8): number {
  w.p.poke(w.arg, vfio_group_status.encode({ argsz, flags: 0 }));
  w.p.ioctl(groupFd, VFIO_GROUP_GET_STATUS, w.arg);
  return vfio_group_status.decode(w.p.peek(w.arg, vfio_group_status.size)).flags;
}

/** VFIO_GROUP_SET_CONTAINER(&fd). */
export function setContainer(w: CoreWorld, groupFd: number, fd: number): void {
  w.p.poke(w.arg, encodeScalar(s32, fd));
  w.p.ioctl(groupFd, VFIO_GROUP_SET_CONTAINER, w.arg);
}

/** VFIO_GROUP_GET_DEVICE_FD(name) → the device fd. */
export function getDeviceFd(w: CoreWorld, groupFd: number, name: string): number {
  w.p.poke(w.arg, new TextEncoder().encode(`${name}\0`));
  return w.p.ioctl(groupFd, VFIO_GROUP_GET_DEVICE_FD, w.arg);
}

/** VFIO_CHECK_EXTENSION(ext) on a container. */
export function checkExtension(w: CoreWorld, fd: number, ext: number): number {
  return w.p.ioctl(fd, VFIO_CHECK_EXTENSION, ext);
}

/** open /dev/vfio/vfio, SET_CONTAINER, SET_IOMMU(`type`): the legacy setup → the container. */
export function containerSetup(w: CoreWorld, groupFd: number, type = VFIO_TYPE1v2_IOMMU): number {
  const container = w.p.open("/dev/vfio/vfio");
  setContainer(w, groupFd, container);
  w.p.ioctl(container, VFIO_SET_IOMMU, type);
  return container;
}

// ---------------------------------------------------------------------------------------------
// Device cdev ioctls

export interface BindArgs {
  readonly argsz?: number;
  readonly flags?: number;
  /** Default: the world's iommufd. */
  readonly iommufd?: number;
  readonly token?: bigint;
  /** Bytes after the 24-byte struct, all zero but the last when `dirtyTail`. */
  readonly tail?: number;
  readonly dirtyTail?: boolean;
  readonly at?: number;
}

/** VFIO_DEVICE_BIND_IOMMUFD → out_devid, which starts as 0xeeeeeeee (as in the oracle probe). */
export function bindIommufd(
  w: CoreWorld & { readonly iommufd?: IommuFd },
  fd: number,
  a: BindArgs = {},
): number {
  const iommufd = a.iommufd ?? w.iommufd?.fd;
  if (iommufd === undefined) throw new Error("bindIommufd: no iommufd to bind to");
  const at = a.at ?? w.arg;
  const tail = a.tail ?? 0;
  const bytes = new Uint8Array(vfio_device_bind_iommufd.size + tail);
  bytes.set(
    vfio_device_bind_iommufd.encode({
      argsz: a.argsz ?? vfio_device_bind_iommufd.size + tail,
      flags: a.flags ?? 0,
      iommufd,
      out_devid: 0xeeee_eeee,
      token_uuid_ptr: a.token ?? 0n,
    }),
  );
  if (a.dirtyTail && tail > 0) bytes[bytes.length - 1] = 1;
  w.p.poke(at, bytes);
  w.p.ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, at);
  return outDevid(w, at);
}

/** The `out_devid` of the bind argument at `at`. */
export function outDevid(w: CoreWorld, at = w.arg): number {
  return vfio_device_bind_iommufd.decode(w.p.peek(at, vfio_device_bind_iommufd.size)).out_devid;
}

export interface AttachArgs {
  readonly argsz?: number;
  readonly flags?: number;
  readonly pasid?: number;
  readonly at?: number;
}

/** VFIO_DEVICE_ATTACH_IOMMUFD_PT → the `pt_id` written back. */
export function attachPt(w: CoreWorld, fd: number, ptId: number, a: AttachArgs = {}): number {
  const at = a.at ?? w.arg;
  w.p.poke(
    at,
    vfio_device_attach_iommufd_pt.encode({
      argsz: a.argsz ?? 12,
      flags: a.flags ?? 0,
      pt_id: ptId,
      pasid: a.pasid ?? 0,
    }),
  );
  w.p.ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, at);
  return vfio_device_attach_iommufd_pt.decode(w.p.peek(at, 16)).pt_id;
}

/** VFIO_DEVICE_DETACH_IOMMUFD_PT → the ioctl's result. */
export function detachPt(
  w: CoreWorld,
  fd: number,
  a: { argsz?: number; flags?: number; pasid?: number } = {},
): number {
  w.p.poke(
    w.arg,
    vfio_device_detach_iommufd_pt.encode({
      argsz: a.argsz ?? 8,
      flags: a.flags ?? 0,
      pasid: a.pasid ?? 0,
    }),
  );
  return w.p.ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, w.arg);
}

/** VFIO_DEVICE_GET_INFO with argsz 24 → the struct written back. */
export function deviceGetInfo(w: CoreWorld, fd: number) {
  w.p.poke(
    w.arg,
    vfio_device_info.encode({
      argsz: 24,
      flags: 0,
      num_regions: 0,
      num_irqs: 0,
      cap_offset: 0,
      pad: 0,
    }),
  );
  w.p.ioctl(fd, VFIO_DEVICE_GET_INFO, w.arg);
  return vfio_device_info.decode(w.p.peek(w.arg, 24));
}

// ---------------------------------------------------------------------------------------------
// The DMA test engine

/**
 * Programs the DMA test engine `dev` through its MMIO registers to copy `len` bytes from bus
 * address `src` to `dst`, runs the board until it is done, and returns STATUS.
 */
export function dmaTestCopy(
  w: { readonly soc: Soc },
  dev: BoardDev,
  dst: bigint,
  src: bigint,
  len: number,
): number {
  const bus = w.soc.bus;
  const wr = (off: number, v: number) => bus.write(dev.base + off, 4, v >>> 0);
  wr(0x20, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
  wr(0x08, Number(src & 0xffff_ffffn));
  wr(0x0c, Number(src >> 32n));
  wr(0x10, Number(dst & 0xffff_ffffn));
  wr(0x14, Number(dst >> 32n));
  wr(0x18, len);
  wr(0x1c, DMA_TEST_CTRL.START | (DMA_TEST_CTRL.MODE_COPY << DMA_TEST_CTRL.MODE_SHIFT));
  w.soc.runUntilIdle();
  return bus.read(dev.base + 0x20, 4);
}

// ---------------------------------------------------------------------------------------------
// A fake container backend

/** The backend's per-container state. */
export interface FakeData {
  readonly type: number;
  readonly groups: IommuGroup[];
  readonly devices: VfioCoreDevice[];
  released: boolean;
}

export interface FakeBackendOptions {
  readonly name?: string;
  /** The types it offers (CHECK_EXTENSION answers 1, SET_IOMMU opens). Default TYPE1 and TYPE1v2. */
  readonly types?: readonly number[];
  readonly owner?: { readonly name: string };
  /** Refuse open() with this error. */
  readonly openError?: SysError;
  /** Refuse to attach this IOMMU group id. */
  readonly refuseGroup?: { readonly id: number; readonly error: SysError };
  /** Offer register_device/unregister_device, pin_pages/unpin_pages and dma_rw. */
  readonly deviceOps?: boolean;
}

/** A container backend that records what container.c asks of it. */
export interface FakeBackend extends VfioIommuDriverOps<FakeData> {
  /** Every call, in order ("open 3", "attach 1", "ioctl 0x3b65 3", …). */
  readonly log: string[];
  /** The instances open() made. */
  readonly instances: FakeData[];
}

export function fakeBackend(opts: FakeBackendOptions = {}): FakeBackend {
  const types = new Set(opts.types ?? [1, 3]);
  const log: string[] = [];
  const instances: FakeData[] = [];
  const backend: FakeBackend = {
    name: opts.name ?? "fake",
    ...(opts.owner ? { owner: opts.owner } : {}),
    log,
    instances,
    open(_current: Task, arg: number) {
      log.push(`open ${arg}`);
      if (opts.openError) throw opts.openError;
      const data: FakeData = { type: arg, groups: [], devices: [], released: false };
      instances.push(data);
      return data;
    },
    release(data) {
      log.push("release");
      data.released = true;
    },
    ioctl(data, _current, cmd, arg) {
      log.push(`ioctl ${data ? "data" : "null"} 0x${(cmd >>> 0).toString(16)} ${arg}`);
      if (cmd >>> 0 === VFIO_CHECK_EXTENSION) return types.has(arg) ? 1 : 0;
      throw new SysError("ENOTTY", "fake_ioctl", `cmd 0x${(cmd >>> 0).toString(16)}`);
    },
    attachGroup(data, group, type: VfioGroupType) {
      log.push(`attach ${group.id} type ${type}`);
      if (opts.refuseGroup?.id === group.id) throw opts.refuseGroup.error;
      data.groups.push(group);
    },
    detachGroup(data, group) {
      log.push(`detach ${group.id}`);
      data.groups.splice(data.groups.indexOf(group), 1);
    },
  };
  if (opts.deviceOps) {
    Object.assign(backend, {
      registerDevice(data: FakeData, vdev: VfioCoreDevice) {
        log.push(`register ${vdev.name}`);
        data.devices.push(vdev);
      },
      unregisterDevice(data: FakeData, vdev: VfioCoreDevice) {
        log.push(`unregister ${vdev.name}`);
        data.devices.splice(data.devices.indexOf(vdev), 1);
      },
      pinPages(_data: FakeData, group: IommuGroup, iova: bigint, npage: number, prot: number) {
        log.push(`pin ${group.id} 0x${iova.toString(16)} ${npage} ${prot}`);
        return Array.from({ length: npage }, (_, i) => 0x40000 + i);
      },
      unpinPages(_data: FakeData, iova: bigint, npage: number) {
        log.push(`unpin 0x${iova.toString(16)} ${npage}`);
      },
      dmaRw(_data: FakeData, _current: Task, iova: bigint, buf: Uint8Array, write: boolean) {
        log.push(`rw 0x${iova.toString(16)} ${buf.length} ${write ? "write" : "read"}`);
        if (!write) buf.fill(0x5a);
      },
    });
  }
  return backend;
}

/** Registers `backend` with the loaded vfio (what the type1 module's init does). */
export function registerBackend(w: CoreWorld, backend: FakeBackend): void {
  vfioRegisterIommuDriver(w.vfio, backend as VfioIommuDriverOps);
}

export function unregisterBackend(w: CoreWorld, backend: FakeBackend): void {
  vfioUnregisterIommuDriver(w.vfio, backend as VfioIommuDriverOps);
}

/** A kernel module to own a fake backend (try_module_get() needs a loaded module). */
export function fakeBackendModule(name = "vfio_fake_backend") {
  return defineModule<Kernel, readonly []>({ name, init: () => {}, exit: () => {} });
}
