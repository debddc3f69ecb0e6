/**
 * `snapshot(kernel)`: the system as plain data — every device on the platform and AMBA buses
 * with its driver and who that makes the owner, its IOMMU and IOMMU group; each group's DMA
 * ownership (drivers/iommu/iommu.c: `owner_cnt`, `owner`, the domain it is on); the IOMMUs; the
 * VFIO groups and cdevs in /dev; the taint. The renderers draw from this and nothing else, so a
 * picture can be re-drawn, diffed or serialised without the model.
 *
 * It only reads: no syscall (the trace stays as it was), no reference taken, no id allocated.
 *
 * Who owns a device:
 * - `vfio` — its driver registered it with the VFIO core (`dev_get_drvdata()` is a
 *   `vfio_device`, or a VFIO group lists it): vfio-platform, vfio-amba, the RFC variants;
 * - `uio` — a UIO driver (`uio_pdrv_genirq`, …) is bound;
 * - `kernel` — any other driver is bound;
 * - `none` — no driver.
 *
 * Caveat: only the platform and AMBA buses are walked (the only buses the model has); IOMMUs
 * are found by their device-tree node (`#iommu-cells`), so an IOMMU without a node is missed.
 */

import { type DtNode, propStrings, propU32, propU32s } from "@vfio-lab/hw-soc";
import { IommufdCtx } from "@vfio-lab/iommufd";
import {
  AmbaDevice,
  type Device,
  IORESOURCE_IRQ,
  IORESOURCE_MEM,
  type IommuDomain,
  type IommuGroup,
  type Kernel,
  PlatformDevice,
  TAINT_FLAGS,
} from "@vfio-lab/kernel";
import {
  VFIO_EMULATED_IOMMU,
  VFIO_NO_IOMMU,
  VfioCoreDevice,
  VfioCoreGroup,
  vfioOf,
} from "@vfio-lab/vfio-core";

/** Who drives a device (see the file header). */
export type DeviceOwner = "kernel" | "vfio" | "uio" | "none";

/** The kind of VFIO group (drivers/vfio/vfio.h `enum vfio_group_type`). */
export type VfioGroupKind = "iommu" | "emulated" | "noiommu";

export interface MmioWindow {
  readonly start: number;
  readonly size: number;
}

/** A device's VFIO side, when a VFIO driver registered it. */
export interface DeviceVfio {
  /** The VFIO group's name (`2`, `noiommu-3`), or null without CONFIG_VFIO_GROUP. */
  readonly group: string | null;
  readonly groupKind: VfioGroupKind | null;
  /** `/dev/vfio/<group>` when that node exists. */
  readonly groupNode: string | null;
  /** The vfio-dev name (`vfio0`, `noiommu-vfio0`). */
  readonly cdevName: string;
  /** `/dev/vfio/devices/<cdevName>` when that node exists. */
  readonly cdevNode: string | null;
  /** Open device fds (`open_count`). */
  readonly openCount: number;
}

export interface DeviceSnapshot {
  /** dev_name(): `9030000.pl061`. */
  readonly name: string;
  readonly bus: string;
  /** The device-tree `compatible` strings. */
  readonly compatible: readonly string[];
  /** The bound driver's name, or null. */
  readonly driver: string | null;
  readonly owner: DeviceOwner;
  /** `driver_override`, or null when unset. */
  readonly driverOverride: string | null;
  /** The driver manages DMA ownership itself (`driver_managed_dma`: VFIO drivers). */
  readonly driverManagedDma: boolean;
  /** The IOMMU group's number, or null. */
  readonly iommuGroup: number | null;
  /** The name of the IOMMU the device sits behind (`9050000.smmuv3`), or null. */
  readonly iommu: string | null;
  /** Its IDs at that IOMMU (StreamIDs for an SMMU). */
  readonly streamIds: readonly number[];
  readonly mmio: readonly MmioWindow[];
  /** Linux IRQ numbers. */
  readonly irqs: readonly number[];
  readonly vfio: DeviceVfio | null;
  /** `/dev/uioN` nodes of the device, when UIO registered it. */
  readonly uio: readonly string[];
}

/** The DMA-ownership state of a group (kernel iommu/dma-owner.ts). */
export type GroupOwnership = "unused" | "kernel-dma" | "user-owned";

/** A domain of a group, by what it is to the group. */
export interface DomainSnapshot {
  /** `DMA`, `identity`, `blocked`, `unmanaged`, … */
  readonly type: string;
  /** `default` (the kernel's DMA API), `blocking`, or `user` (any other: a VFIO/iommufd domain). */
  readonly role: "default" | "blocking" | "user";
  readonly paging: boolean;
}

export interface IommuGroupSnapshot {
  readonly id: number;
  /** `group->name` (`vfio-noiommu` for VFIO's fake groups), or null. */
  readonly name: string | null;
  /** The IOMMU its devices sit behind, or null (a VFIO no-IOMMU or emulated group). */
  readonly iommu: string | null;
  readonly devices: readonly string[];
  /** `owner_cnt`: DMA-API drivers bound, or user-space claims. */
  readonly ownerCnt: number;
  readonly ownership: GroupOwnership;
  /** What claimed it for user space: a legacy VFIO group (container path) or an iommufd. */
  readonly ownerKind: "vfio-group" | "iommufd" | "other" | null;
  /** The domain its devices translate through now. */
  readonly domain: DomainSnapshot | null;
  readonly defaultDomain: DomainSnapshot | null;
  /** Whether a blocking domain has been set up (the first user claim makes it). */
  readonly hasBlockingDomain: boolean;
  /** Member devices bound to a DMA-API driver (each is one `owner_cnt` while kernel-owned). */
  readonly kernelDmaUsers: readonly string[];
  /** The VFIO group made for it, if any. */
  readonly vfio: VfioGroupSnapshot | null;
}

export interface VfioGroupSnapshot {
  readonly name: string;
  readonly kind: VfioGroupKind;
  /** `/dev/vfio/<name>` when it exists. */
  readonly node: string | null;
  readonly devices: readonly string[];
  /** The group file is open. */
  readonly open: boolean;
  /** Attached to a legacy container / to an iommufd. */
  readonly container: boolean;
  readonly iommufd: boolean;
  /** The IOMMU group behind it (a fake one for no-IOMMU and emulated groups). */
  readonly iommuGroup: number | null;
}

export interface IommuSnapshot {
  /** dev_name() of the IOMMU's own device (`9050000.smmuv3`). */
  readonly name: string;
  readonly compatible: readonly string[];
  readonly driver: string | null;
  /** Devices behind it. */
  readonly devices: readonly string[];
}

export interface TaintSnapshot {
  /** `tainted_mask` (/proc/sys/kernel/tainted). */
  readonly value: number;
  /** One letter per set flag, in bit order (`U`). */
  readonly letters: string;
  /** print_tainted(): `Not tainted` or `Tainted: …`. */
  readonly text: string;
  readonly flags: readonly {
    readonly letter: string;
    readonly name: string;
    readonly desc: string;
  }[];
}

export interface SystemSnapshot {
  readonly devices: readonly DeviceSnapshot[];
  readonly groups: readonly IommuGroupSnapshot[];
  readonly iommus: readonly IommuSnapshot[];
  /** VFIO groups (every one, also those whose IOMMU group is gone), by creation order. */
  readonly vfioGroups: readonly VfioGroupSnapshot[];
  readonly vfio: {
    readonly loaded: boolean;
    /** `vfio.enable_unsafe_noiommu_mode` in effect. */
    readonly noiommuMode: boolean;
  };
  readonly taint: TaintSnapshot;
}

/** Drivers that register UIO devices. */
const UIO_DRIVERS = new Set(["uio_pdrv_genirq", "uio_dmem_genirq", "uio_pdrv"]);

function hasProp(node: DtNode | null, name: string): boolean {
  return node?.properties.some((p) => p.name === name) ?? false;
}

function compatibleOf(node: DtNode | null): string[] {
  return (node && safe(() => propStrings(node, "compatible"))) ?? [];
}

/** A device-tree read that a malformed property must not turn into an exception. */
function safe<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

function vfioGroupKind(type: number): VfioGroupKind {
  if (type === VFIO_NO_IOMMU) return "noiommu";
  if (type === VFIO_EMULATED_IOMMU) return "emulated";
  return "iommu";
}

function domainSnapshot(group: IommuGroup, d: IommuDomain | null): DomainSnapshot | null {
  if (!d) return null;
  const role =
    d === group.defaultDomain ? "default" : d === group.blockingDomain ? "blocking" : "user";
  return { type: d.typeName, role, paging: d.isPaging };
}

function mmioOf(dev: Device): MmioWindow[] {
  if (dev instanceof AmbaDevice) return [{ start: dev.res.start, size: dev.res.size }];
  if (dev instanceof PlatformDevice) {
    return dev.resources
      .filter((r) => r.flags & IORESOURCE_MEM)
      .map((r) => ({ start: r.start, size: r.size }));
  }
  return [];
}

function irqsOf(dev: Device): number[] {
  if (dev instanceof AmbaDevice) return dev.irq.filter((n) => n > 0);
  if (dev instanceof PlatformDevice) {
    return dev.resources.filter((r) => r.flags & IORESOURCE_IRQ && r.start > 0).map((r) => r.start);
  }
  return [];
}

/** Reads the whole system (see the file header). */
export function snapshot(kernel: Kernel): SystemSnapshot {
  const buses = [kernel.drivers.platformBus, kernel.drivers.ambaBus];
  const all: Device[] = buses.flatMap((b) => [...b.devices]);
  const byNode = new Map<DtNode, Device>();
  for (const d of all) if (d.dtNode) byNode.set(d.dtNode, d);
  const devs = kernel.vfs.devtmpfs;

  let vfio: ReturnType<typeof vfioOf> | null = null;
  try {
    vfio = vfioOf(kernel);
  } catch {
    vfio = null;
  }

  const vfioGroups: VfioGroupSnapshot[] = [];
  const vfioGroupOf = new Map<VfioCoreGroup, VfioGroupSnapshot>();
  // groupList is newest first (list_add); show creation order.
  for (const g of [...(vfio?.groupList ?? [])].reverse()) {
    const snap: VfioGroupSnapshot = {
      name: g.name,
      kind: vfioGroupKind(g.type),
      node: devs.exists(`vfio/${g.name}`) ? `/dev/vfio/${g.name}` : null,
      devices: g.devices.map((d) => d.dev.name),
      open: g.openedFile !== null,
      container: g.container !== null,
      iommufd: g.iommufd !== null,
      iommuGroup: g.iommuGroup?.id ?? null,
    };
    vfioGroups.push(snap);
    vfioGroupOf.set(g, snap);
  }

  const vfioDeviceOf = (dev: Device): VfioCoreDevice | null => {
    if (dev.driverData instanceof VfioCoreDevice && dev.driverData.dev === dev) {
      return dev.driverData;
    }
    for (const g of vfio?.groupList ?? []) {
      const vd = g.devices.find((d) => d.dev === dev);
      if (vd) return vd;
    }
    return null;
  };

  const byPhandle = new Map<number, Device>();
  for (const d of all) {
    const ph = d.dtNode ? safe(() => propU32(d.dtNode!, "phandle")) : undefined;
    if (ph !== undefined) byPhandle.set(ph, d);
  }
  /**
   * The IOMMU and IDs from the fwspec; once an IOMMU driver refused the device (and freed the
   * fwspec, as arm-smmu-v3 does for an aliasing StreamID) from the first `iommus` entry.
   */
  const iommuOf = (dev: Device): { name: string | null; ids: number[] } => {
    const fw = kernel.iommu.devIommuFwspecGet(dev);
    if (fw)
      return { name: byNode.get(fw.iommuFwnode)?.name ?? fw.iommuFwnode.name, ids: [...fw.ids] };
    const hw = kernel.iommu.devIommuGetExisting(dev)?.iommuDev?.hwdev;
    if (hw) return { name: hw.name, ids: [] };
    const cells = dev.dtNode ? safe(() => propU32s(dev.dtNode!, "iommus")) : undefined;
    const target = cells?.[0] !== undefined ? byPhandle.get(cells[0]) : undefined;
    if (!cells || !target) return { name: null, ids: [] };
    const n = (target.dtNode && safe(() => propU32(target.dtNode!, "#iommu-cells"))) ?? 1;
    return { name: target.name, ids: cells.slice(1, 1 + n) };
  };

  const devices: DeviceSnapshot[] = all.map((dev) => {
    const driver = dev.driver?.name ?? null;
    const vd = vfioDeviceOf(dev);
    const owner: DeviceOwner =
      driver === null ? "none" : vd ? "vfio" : UIO_DRIVERS.has(driver) ? "uio" : "kernel";
    const group = kernel.iommu.deviceGroup(dev);
    const vgroup = vd?.group ? vfioGroupOf.get(vd.group) : undefined;
    const uio: string[] = [];
    if (dev.kobjPath && owner === "uio") {
      // uio_pdrv_genirq registers one uioN per device; N is small and lowest-free.
      for (let n = 0; n < 64; n++) {
        if (kernel.vfs.sysfs.exists(`${dev.kobjPath}/uio/uio${n}`) && devs.exists(`uio${n}`)) {
          uio.push(`/dev/uio${n}`);
        }
      }
    }
    const drv = dev.driver as { driverManagedDma?: boolean } | null;
    const iommu = iommuOf(dev);
    return {
      name: dev.name,
      bus: dev.bus?.name ?? "",
      compatible: compatibleOf(dev.dtNode),
      driver,
      owner,
      driverOverride: dev.driverOverride,
      driverManagedDma: drv?.driverManagedDma === true,
      iommuGroup: group?.id ?? null,
      iommu: iommu.name,
      streamIds: iommu.ids,
      mmio: mmioOf(dev),
      irqs: irqsOf(dev),
      vfio: vd
        ? {
            group: vgroup?.name ?? null,
            groupKind: vgroup?.kind ?? null,
            groupNode: vgroup?.node ?? null,
            cdevName: vd.name,
            cdevNode:
              vd.name && devs.exists(`vfio/devices/${vd.name}`)
                ? `/dev/vfio/devices/${vd.name}`
                : null,
            openCount: vd.openCount,
          }
        : null,
      uio,
    };
  });

  const byName = new Map(devices.map((d) => [d.name, d]));
  const groupObjs = new Map<number, IommuGroup>();
  for (const dev of all) {
    const g = kernel.iommu.deviceGroup(dev);
    if (g) groupObjs.set(g.id, g);
  }
  const groups: IommuGroupSnapshot[] = [...groupObjs.values()]
    .sort((a, b) => a.id - b.id)
    .map((g) => {
      const members = g.devices.map((gd) => gd.dev.name);
      const userOwned = g.owner !== null;
      const vg = [...vfioGroupOf.entries()].find(([core]) => core.iommuGroup === g)?.[1] ?? null;
      const first = members.map((m) => byName.get(m)).find((d) => d?.iommu);
      return {
        id: g.id,
        name: g.name,
        iommu: first?.iommu ?? null,
        devices: members,
        ownerCnt: g.ownerCnt,
        ownership: userOwned ? "user-owned" : g.ownerCnt > 0 ? "kernel-dma" : "unused",
        ownerKind: !userOwned
          ? null
          : g.owner instanceof VfioCoreGroup
            ? "vfio-group"
            : g.owner instanceof IommufdCtx
              ? "iommufd"
              : "other",
        domain: domainSnapshot(g, g.domain),
        defaultDomain: domainSnapshot(g, g.defaultDomain),
        hasBlockingDomain: g.blockingDomain !== null,
        kernelDmaUsers: members.filter((m) => {
          const d = byName.get(m);
          return d?.driver != null && !d.driverManagedDma;
        }),
        vfio: vg,
      } satisfies IommuGroupSnapshot;
    });

  const iommus: IommuSnapshot[] = all
    .filter((d) => hasProp(d.dtNode, "#iommu-cells"))
    .map((d) => ({
      name: d.name,
      compatible: compatibleOf(d.dtNode),
      driver: d.driver?.name ?? null,
      devices: devices.filter((x) => x.iommu === d.name).map((x) => x.name),
    }));

  const mask = kernel.taint.value;
  const set = TAINT_FLAGS.filter((f) => mask & (1 << f.bit));
  return {
    devices,
    groups,
    iommus,
    vfioGroups,
    vfio: { loaded: vfio !== null, noiommuMode: vfio?.noiommu ?? false },
    taint: {
      value: mask,
      letters: set.map((f) => f.cTrue).join(""),
      text: kernel.taint.printTainted(),
      flags: set.map((f) => ({ letter: f.cTrue, name: f.name, desc: f.desc })),
    },
  };
}
