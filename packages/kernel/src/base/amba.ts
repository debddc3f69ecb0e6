/**
 * The AMBA bus (drivers/amba/bus.c): PrimeCell devices, identified by the peripheral and cell
 * ID registers at the end of their register window, and `struct amba_driver`s that match on
 * them.
 *
 * amba_read_periphid() maps the device's window and reads PeriphID0–3 at size-0x20…-0x14 and
 * CellID0–3 at size-0x10…-0x04 (the low byte of each word, little-endian). Only a PrimeCell
 * (0xb105f00d) or CoreSight (0xb105900d) cell ID makes the peripheral ID count; a device whose
 * IDs cannot be read keeps periphid 0, and amba_match() then answers -EPROBE_DEFER (7.3: any
 * failure is mapped to a deferral, so a later match can try again). The periphid is read once
 * and cached — at amba_device_add(), or at the first match. A driver matches when
 * `(periphid & mask) == id` for an entry of its id table; a driver_override decides alone.
 *
 * Caveat: no clocks (`apb_pclk`), resets or PM domains are enabled around the ID read; the
 * CoreSight UCI (devarch/devtype) match is modelled from the registers only.
 */

import { errno, SysError } from "../errno.js";
import type { SysfsAttribute } from "../fs/sysfs-api.js";
import { KERN_WARNING } from "../printk/levels.js";
import type { BusType } from "./bus.js";
import { Device, type DeviceContext } from "./device.js";
import { DeviceDriver, type DeviceDriverOptions } from "./driver.js";
import { type DmaConfigurator, ofBusDmaConfigure } from "./hooks.js";
import { ioremap } from "./io.js";
import { type Resource, releaseRegion, requestRegion } from "./resource.js";

/** include/linux/amba/bus.h. */
export const AMBA_NR_IRQS = 9;
export const AMBA_CID = 0xb105f00d;
export const CORESIGHT_CID = 0xb105900d;
export const UCI_REG_DEVTYPE_OFFSET = 0xfcc;
export const UCI_REG_DEVARCH_OFFSET = 0xfbc;

const EPROBE_DEFER = errno("EPROBE_DEFER");

/** `struct amba_cs_uci_id`: a CoreSight entry's extra match on devarch/devtype. */
export interface AmbaCsUciId {
  readonly devarch: number;
  readonly devarchMask: number;
  readonly devtype: number;
}

/** `struct amba_id`: `(periphid & mask) == id`. An entry with mask 0 ends the table. */
export interface AmbaId {
  readonly id: number;
  readonly mask: number;
  readonly data?: unknown;
  readonly uci?: AmbaCsUciId;
}

export class AmbaDevice extends Device {
  /** `adev->res`: the device's one MEM window. */
  readonly res: Resource;
  /** `adev->periphid`: 0 until read (or given by `arm,primecell-periphid`). */
  periphid = 0;
  /** `adev->cid`. */
  cid = 0;
  /** `adev->uci`, read for CoreSight components. */
  readonly uci = { devarch: 0, devtype: 0 };
  /** `adev->irq[]`: decoded from `interrupts` at probe, 0 where there is none. */
  readonly irq: number[] = new Array<number>(AMBA_NR_IRQS).fill(0);

  constructor(ctx: DeviceContext, name: string, res: Resource, parent: Device | null) {
    super(ctx, name, parent);
    this.res = res;
  }
}

export interface AmbaDriverOptions extends DeviceDriverOptions {
  readonly idTable: readonly AmbaId[];
  /** `.probe(adev, id)`: `id` is the matching entry (null when bound by driver_override). */
  readonly probe: (adev: AmbaDevice, id: AmbaId | null) => void;
  readonly remove?: (adev: AmbaDevice) => void;
  /** `.driver_managed_dma` (vfio-amba). */
  readonly driverManagedDma?: boolean;
}

/** `struct amba_driver`. */
export class AmbaDriver extends DeviceDriver {
  readonly idTable: readonly AmbaId[];
  readonly driverManagedDma: boolean;
  readonly probe: (adev: AmbaDevice, id: AmbaId | null) => void;
  readonly remove: ((adev: AmbaDevice) => void) | undefined;

  constructor(opts: AmbaDriverOptions) {
    super(opts);
    this.idTable = opts.idTable;
    this.driverManagedDma = opts.driverManagedDma ?? false;
    this.probe = opts.probe;
    this.remove = opts.remove;
  }
}

/** amba/bus.c: amba_cs_uci_id_match(). */
function ambaCsUciIdMatch(entry: AmbaId, adev: AmbaDevice): boolean {
  const uci = entry.uci;
  if (!uci || uci.devarchMask === 0) return true;
  return (
    adev.uci.devtype === uci.devtype && (adev.uci.devarch & uci.devarchMask) >>> 0 === uci.devarch
  );
}

/** amba/bus.c: amba_lookup() — the first entry with `(periphid & mask) == id`. */
export function ambaLookup(table: readonly AmbaId[], adev: AmbaDevice): AmbaId | null {
  for (const entry of table) {
    if (entry.mask === 0) break;
    if (
      (adev.periphid & entry.mask) >>> 0 === entry.id >>> 0 &&
      (adev.cid !== CORESIGHT_CID || ambaCsUciIdMatch(entry, adev))
    ) {
      return entry;
    }
  }
  return null;
}

/**
 * amba/bus.c: amba_read_periphid() — 0, -ENOMEM when the window cannot be mapped, -ENODEV
 * when the cell ID is not a PrimeCell/CoreSight one (periphid stays 0). The registers are
 * read through the bus, so a device that does not answer is an external abort (KernelOops).
 */
export function ambaReadPeriphid(adev: AmbaDevice): number {
  const size = adev.res.size;
  const io = ioremap(adev.ctx.systemBus, adev.res.start, size);
  if (!io) return -errno("ENOMEM");
  try {
    let pid = 0;
    let cid = 0;
    for (let i = 0; i < 4; i++) pid |= (io.readl(size - 0x20 + 4 * i) & 0xff) << (i * 8);
    for (let i = 0; i < 4; i++) cid |= (io.readl(size - 0x10 + 4 * i) & 0xff) << (i * 8);
    pid >>>= 0;
    cid >>>= 0;
    if (cid === CORESIGHT_CID) {
      const csbase = size - 4096;
      adev.uci.devarch = io.readl(csbase + UCI_REG_DEVARCH_OFFSET);
      adev.uci.devtype = io.readl(csbase + UCI_REG_DEVTYPE_OFFSET) & 0xff;
    }
    if (cid === AMBA_CID || cid === CORESIGHT_CID) {
      adev.periphid = pid;
      adev.cid = cid;
    }
    return adev.periphid ? 0 : -errno("ENODEV");
  } finally {
    io.unmap();
  }
}

/**
 * amba/bus.c: amba_match() — reads the IDs if not yet known (any failure: -EPROBE_DEFER),
 * then the driver_override, then the driver's id table.
 */
export function ambaMatch(dev: Device, drv: DeviceDriver): number {
  if (!(dev instanceof AmbaDevice) || !(drv instanceof AmbaDriver)) return 0;
  if (!dev.periphid) {
    if (ambaReadPeriphid(dev) !== 0) return -EPROBE_DEFER;
    dev.ueventSuppress = false;
  }
  const override = dev.matchDriverOverride(drv);
  if (override >= 0) return override;
  return ambaLookup(drv.idTable, dev) !== null ? 1 : 0;
}

/**
 * amba/bus.c: of_amba_device_decode_irq() — adev->irq[i] from of_irq_get(); an entry that
 * does not map is 0, a deferral is returned.
 */
function ofAmbaDeviceDecodeIrq(adev: AmbaDevice): number {
  if (!adev.ofNode) return 0;
  for (let i = 0; i < AMBA_NR_IRQS; i++) {
    let irq = adev.ctx.irqMapper.irqOfParseAndMap(adev.ofNode.dt, i);
    if (irq < 0) {
      if (irq === -EPROBE_DEFER) return irq;
      irq = 0;
    }
    adev.irq[i] = irq;
  }
  return 0;
}

function toAmba(dev: Device): { adev: AmbaDevice; drv: AmbaDriver } {
  if (!(dev instanceof AmbaDevice) || !(dev.driver instanceof AmbaDriver)) {
    throw new SysError("EINVAL", "amba_probe", `${dev.name} is not an AMBA device/driver pair`);
  }
  return { adev: dev, drv: dev.driver };
}

/** amba/bus.c: `amba_dev_groups` — `id` and `resource`. */
function ambaDevAttributes(dev: Device): (readonly [string, SysfsAttribute])[] {
  if (!(dev instanceof AmbaDevice)) return [];
  const hex = (v: number, w: number) => (v >>> 0).toString(16).padStart(w, "0");
  return [
    ["id", { mode: 0o444, show: () => `${hex(dev.periphid, 8)}\n` }],
    [
      "resource",
      {
        mode: 0o444,
        show: () =>
          `\t${dev.res.start.toString(16).padStart(16, "0")}\t${dev.res.end.toString(16).padStart(16, "0")}\t${hex(dev.res.flags, 16)}\n`,
      },
    ],
  ];
}

/** The AMBA `bus_type`, with the DMA hooks it calls. */
export function ambaBusType(dma: DmaConfigurator): BusType {
  return {
    name: "amba",
    driverOverride: true,
    match: ambaMatch,

    /** amba/bus.c: amba_probe() — IRQs decoded, then the driver's probe with the matching id. */
    probe(dev: Device): void {
      const { adev, drv } = toAmba(dev);
      const ret = ofAmbaDeviceDecodeIrq(adev);
      if (ret !== 0) throw SysError.fromNegative(ret, "of_amba_device_decode_irq");
      drv.probe(adev, ambaLookup(drv.idTable, adev));
    },

    /** amba/bus.c: amba_remove(). */
    remove(dev: Device): void {
      const { adev, drv } = toAmba(dev);
      drv.remove?.(adev);
    },

    /** amba/bus.c: amba_dma_configure() — as the platform bus does. */
    dmaConfigure(dev: Device): void {
      const drv = dev.driver;
      ofBusDmaConfigure(dma, dev, drv instanceof AmbaDriver && drv.driverManagedDma);
    },

    /** amba/bus.c: amba_dma_cleanup(). */
    dmaCleanup(dev: Device): void {
      const drv = dev.driver;
      if (drv instanceof AmbaDriver && drv.driverManagedDma) return;
      dma.iommuDeviceUnuseDefaultDomain(dev);
    },

    /** amba/bus.c: amba_uevent(). */
    uevent(dev: Device): string[] {
      const pid = dev instanceof AmbaDevice ? dev.periphid >>> 0 : 0;
      return [
        `AMBA_ID=${pid.toString(16).padStart(8, "0")}`,
        `MODALIAS=amba:d${pid.toString(16).toUpperCase().padStart(8, "0")}`,
      ];
    },

    devAttributes: ambaDevAttributes,
  };
}

/** amba/bus.c: amba_request_regions() — the window claimed busy as `name` (default: driver). */
export function ambaRequestRegions(adev: AmbaDevice, name?: string): void {
  const owner = name ?? adev.driver?.name ?? adev.name;
  if (!requestRegion(adev.ctx.iomem, adev.res.start, adev.res.size, owner)) {
    throw new SysError("EBUSY", "amba_request_regions", `${adev.name} window is busy`);
  }
}

/** amba/bus.c: amba_release_regions(). */
export function ambaReleaseRegions(adev: AmbaDevice): void {
  releaseRegion(adev.ctx.iomem, adev.res.start, adev.res.size);
}

/**
 * amba/bus.c: the `amba-proxy` stub driver (late_initcall_sync with modules): an empty id
 * table, so it only binds through driver_override, and then its probe warns and refuses.
 */
export function ambaProxyDriver(): AmbaDriver {
  return new AmbaDriver({
    name: "amba-proxy",
    idTable: [{ id: 0, mask: 0 }],
    probe: (adev) => {
      adev.ctx.printk.printk(KERN_WARNING, "Stub driver should never match any device.");
      throw new SysError("ENODEV", "amba_proxy_probe", "stub driver");
    },
  });
}
