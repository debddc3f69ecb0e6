/**
 * The platform bus (drivers/base/platform.c): `struct platform_device` with its resources,
 * `struct platform_driver`, and the bus callbacks.
 *
 * Matching (platform_match()): a driver_override decides alone (only the named driver
 * matches); else the driver's OF table against the node's `compatible`; (ACPI: not modelled);
 * else its id_table against the device name; else the driver name equals the device name.
 *
 * DMA (platform_dma_configure()/platform_dma_cleanup()): of_dma_configure() with force_dma,
 * then — unless the driver has `driver_managed_dma` — iommu_device_use_default_domain(),
 * which is how binding a kernel driver claims DMA ownership of the device's IOMMU group; the
 * cleanup gives it back.
 *
 * Caveat: OF devices carry only their MEM resources (of_device_alloc() stopped adding IRQ
 * resources long ago; IRQs come from of_irq_get() on demand); IRQ resources of hand-made
 * devices do not set a trigger type; no clocks, PM domains, ACPI or software nodes.
 */

import { errno, SysError } from "../errno.js";
import type { SysfsAttribute } from "../fs/sysfs-api.js";
import type { BusType } from "./bus.js";
import { negativeErrno } from "./dd.js";
import { devErrProbe } from "./dev-err-probe.js";
import { Device, type DeviceContext, NUMA_NO_NODE } from "./device.js";
import { DeviceDriver, type DeviceDriverOptions } from "./driver.js";
import { type DmaConfigurator, ofBusDmaConfigure } from "./hooks.js";
import { devmIoremapResource, type IoMem } from "./io.js";
import { type OfNode, ofMatchNode } from "./of-node.js";
import { IORESOURCE_IO, IORESOURCE_IRQ, IORESOURCE_MEM, type Resource } from "./resource.js";

/** include/linux/platform_device.h. */
export const PLATFORM_DEVID_NONE = -1;
export const PLATFORM_DEVID_AUTO = -2;

const EPROBE_DEFER = errno("EPROBE_DEFER");

/** `struct platform_device_id`. */
export interface PlatformDeviceId {
  readonly name: string;
  readonly driverData?: unknown;
}

export class PlatformDevice extends Device {
  /** `pdev->name`: for an OF device, its device name (of_device_add()). */
  pdevName: string;
  /** `pdev->id`. */
  id: number;
  /** `pdev->resource[]`. */
  readonly resources: Resource[];
  /** `pdev->id_entry`: the id_table entry that matched. */
  idEntry: PlatformDeviceId | null = null;

  constructor(
    ctx: DeviceContext,
    name: string,
    id: number,
    resources: readonly Resource[] = [],
    parent: Device | null = null,
  ) {
    super(ctx, name, parent);
    this.pdevName = name;
    this.id = id;
    this.resources = [...resources];
  }

  /** platform_get_resource(): the `num`-th resource of `type`, or null. */
  getResource(type: number, num: number): Resource | null {
    let n = num;
    for (const r of this.resources) if (type === r.type && n-- === 0) return r;
    return null;
  }

  /** platform_get_mem_or_io(): the `num`-th MEM or IO resource (vfio-platform's region index). */
  getMemOrIo(num: number): Resource | null {
    let n = num;
    for (const r of this.resources) {
      if (r.type & (IORESOURCE_MEM | IORESOURCE_IO) && n-- === 0) return r;
    }
    return null;
  }

  /** platform_get_resource_byname(). */
  getResourceByName(type: number, name: string): Resource | null {
    return this.resources.find((r) => type === r.type && r.name === name) ?? null;
  }

  /**
   * platform_get_irq_optional(): the Linux IRQ of interrupt `num` — from the OF node first,
   * then from an IRQ resource; ENXIO when there is none, EPROBE_DEFER while the interrupt
   * controller is not there yet, EINVAL for an IRQ resource of 0. Nothing is logged.
   */
  getIrqOptional(num: number): number {
    const fn = "platform_get_irq_optional";
    let ret: number | undefined;
    if (this.ofNode) {
      const irq = this.ctx.irqMapper.irqOfParseAndMap(this.ofNode.dt, num);
      if (irq > 0 || irq === -EPROBE_DEFER) ret = irq;
    }
    if (ret === undefined) {
      const r = this.getResource(IORESOURCE_IRQ, num);
      ret = r ? r.start : -errno("ENXIO");
    }
    if (ret === 0) {
      this.ctx.printk.pr().warn("0 is an invalid IRQ number");
      throw new SysError("EINVAL", fn, "0 is an invalid IRQ number");
    }
    if (ret < 0) throw SysError.fromNegative(ret, fn, `IRQ index ${num} of ${this.name}`);
    return ret;
  }

  /**
   * platform_get_irq(): as the optional form, but a failure is reported with dev_err_probe():
   * `error -ENXIO: IRQ index 3 not found`.
   */
  getIrq(num: number): number {
    try {
      return this.getIrqOptional(num);
    } catch (e) {
      const ret = negativeErrno(e);
      throw devErrProbe(this, ret, `IRQ index ${num} not found`, "platform_get_irq");
    }
  }

  /** platform_irq_count(): how many IRQs the device has (EPROBE_DEFER propagates). */
  irqCount(): number {
    let nr = 0;
    for (;;) {
      try {
        this.getIrqOptional(nr);
        nr++;
      } catch (e) {
        if (negativeErrno(e) === -EPROBE_DEFER) throw e;
        return nr;
      }
    }
  }

  /** devm_platform_ioremap_resource(): devm_ioremap_resource() of MEM resource `index`. */
  devmIoremapResource(index: number): IoMem {
    return devmIoremapResource(this, this.getResource(IORESOURCE_MEM, index));
  }
}

export interface PlatformDriverOptions extends DeviceDriverOptions {
  readonly idTable?: readonly PlatformDeviceId[];
  /**
   * `.probe`: throw a SysError to fail (EPROBE_DEFER to be retried later). A driver without
   * one binds without further ado, as platform_probe() allows.
   */
  readonly probe?: (pdev: PlatformDevice) => void;
  readonly remove?: (pdev: PlatformDevice) => void;
  /**
   * `.driver_managed_dma`: the driver manages DMA ownership itself (vfio-platform), so
   * binding it does not claim the IOMMU group for the kernel's DMA API.
   */
  readonly driverManagedDma?: boolean;
  /** `.prevent_deferred_probe`: a deferral becomes ENXIO with a warning. */
  readonly preventDeferredProbe?: boolean;
}

/** `struct platform_driver`. */
export class PlatformDriver extends DeviceDriver {
  readonly idTable: readonly PlatformDeviceId[] | undefined;
  readonly driverManagedDma: boolean;
  readonly preventDeferredProbe: boolean;
  readonly probe: ((pdev: PlatformDevice) => void) | undefined;
  readonly remove: ((pdev: PlatformDevice) => void) | undefined;

  constructor(opts: PlatformDriverOptions) {
    super(opts);
    this.idTable = opts.idTable;
    this.driverManagedDma = opts.driverManagedDma ?? false;
    this.preventDeferredProbe = opts.preventDeferredProbe ?? false;
    this.probe = opts.probe;
    this.remove = opts.remove;
  }
}

/** drivers/of/device.c: of_driver_match_device() → of_match_device(). */
export function ofDriverMatchDevice(dev: Device, drv: DeviceDriver): boolean {
  return dev.ofNode !== null && ofMatchNode(drv.ofMatchTable, dev.ofNode) !== undefined;
}

/** drivers/of/device.c: of_device_get_match_data() — the matched OF entry's `data`. */
export function ofDeviceGetMatchData(dev: Device): unknown {
  const drv = dev.driver;
  if (!drv || !dev.ofNode) return undefined;
  return ofMatchNode(drv.ofMatchTable, dev.ofNode)?.data;
}

/** drivers/of/module.c: of_modalias() — `of:N<name>T<type>C<compat>C<compat>…`. */
export function ofModalias(np: OfNode): string {
  let s = `of:N${np.name}T${np.deviceType ?? "(null)"}`;
  for (const c of np.compatible) s += `C${c.replace(/ /g, "_")}`;
  return s;
}

/** drivers/of/device.c: of_device_uevent() — OF_NAME, OF_FULLNAME, OF_TYPE, OF_COMPATIBLE_*. */
export function ofDeviceUevent(np: OfNode): string[] {
  const env = [`OF_NAME=${np.name}`, `OF_FULLNAME=${np.path}`];
  const type = np.deviceType;
  if (type !== undefined) env.push(`OF_TYPE=${type}`);
  const compat = np.compatible;
  for (const [i, c] of compat.entries()) env.push(`OF_COMPATIBLE_${i}=${c}`);
  env.push(`OF_COMPATIBLE_N=${compat.length}`);
  return env;
}

/** platform.c: platform_match_id() — sets `pdev->id_entry` on a match. */
function platformMatchId(table: readonly PlatformDeviceId[], pdev: PlatformDevice): boolean {
  for (const id of table) {
    if (id.name === "") break;
    if (pdev.pdevName === id.name) {
      pdev.idEntry = id;
      return true;
    }
  }
  return false;
}

/** platform.c: platform_match(). */
export function platformMatch(dev: Device, drv: DeviceDriver): number {
  if (!(dev instanceof PlatformDevice) || !(drv instanceof PlatformDriver)) return 0;
  const override = dev.matchDriverOverride(drv);
  if (override >= 0) return override;
  if (ofDriverMatchDevice(dev, drv)) return 1;
  if (drv.idTable) return platformMatchId(drv.idTable, dev) ? 1 : 0;
  return dev.pdevName === drv.name ? 1 : 0;
}

function toPlatform(dev: Device): { pdev: PlatformDevice; drv: PlatformDriver } {
  if (!(dev instanceof PlatformDevice) || !(dev.driver instanceof PlatformDriver)) {
    throw new SysError(
      "EINVAL",
      "platform_probe",
      `${dev.name} is not a platform device/driver pair`,
    );
  }
  return { pdev: dev, drv: dev.driver };
}

/** The platform `bus_type`, with the DMA hooks it calls. */
export function platformBusType(dma: DmaConfigurator): BusType {
  return {
    name: "platform",
    driverOverride: true,
    match: platformMatch,

    /** platform.c: platform_probe() — prevent_deferred_probe turns a deferral into ENXIO. */
    probe(dev: Device): void {
      const { pdev, drv } = toPlatform(dev);
      try {
        drv.probe?.(pdev);
      } catch (e) {
        if (drv.preventDeferredProbe && negativeErrno(e) === -EPROBE_DEFER) {
          dev.log.warn("probe deferral not supported");
          throw new SysError("ENXIO", "platform_probe", "probe deferral not supported");
        }
        throw e;
      }
    },

    /** platform.c: platform_remove(). */
    remove(dev: Device): void {
      const { pdev, drv } = toPlatform(dev);
      drv.remove?.(pdev);
    },

    /**
     * platform.c: platform_dma_configure() — of_dma_configure(force_dma); then, for a kernel
     * DMA-API driver, iommu_device_use_default_domain() (its failure tears the DMA ops down).
     */
    dmaConfigure(dev: Device): void {
      const drv = dev.driver;
      ofBusDmaConfigure(dma, dev, drv instanceof PlatformDriver && drv.driverManagedDma);
    },

    /** platform.c: platform_dma_cleanup(). */
    dmaCleanup(dev: Device): void {
      const drv = dev.driver;
      if (drv instanceof PlatformDriver && drv.driverManagedDma) return;
      dma.iommuDeviceUnuseDefaultDomain(dev);
    },

    /** platform.c: platform_uevent() — the OF modalias, else `platform:<name>`. */
    uevent(dev: Device): string[] {
      if (dev.ofNode) return [`MODALIAS=${ofModalias(dev.ofNode)}`];
      return [`MODALIAS=platform:${dev instanceof PlatformDevice ? dev.pdevName : dev.name}`];
    },

    /** platform.c: platform_dev_groups — `modalias`, and `numa_node` only on a NUMA node. */
    devAttributes(dev: Device): (readonly [string, SysfsAttribute])[] {
      const attrs: (readonly [string, SysfsAttribute])[] = [
        [
          "modalias",
          {
            mode: 0o444,
            show: () =>
              dev.ofNode
                ? `${ofModalias(dev.ofNode)}\n`
                : `platform:${dev instanceof PlatformDevice ? dev.pdevName : dev.name}\n`,
          },
        ],
      ];
      if (dev.numaNode !== NUMA_NO_NODE) {
        attrs.push(["numa_node", { mode: 0o444, show: () => `${dev.numaNode}\n` }]);
      }
      return attrs;
    },
  };
}
