/**
 * What the board drivers reach besides the driver core — in Linux, globals: the IRQ core
 * (request_irq() and friends), the DMA API on a `struct device` (include/linux/dma-mapping.h)
 * and time (udelay(), readl_poll_timeout(), wait_for_completion_timeout(), which in the model
 * advance virtual time through the scheduler). Plus the managed IRQ request drivers use in
 * probe (kernel/irq/devres.c) and dev_get_drvdata() with a type check.
 *
 * A driver touches its device only through MMIO (ioremap on the system bus), interrupts only
 * through the IRQ core and memory only through the DMA API — never through a hw-soc object.
 */

import { devErrProbe } from "../base/dev-err-probe.js";
import type { Device } from "../base/device.js";
import type { DevresNode } from "../base/devres.js";
import { SysError } from "../errno.js";
import type { DmaDataDirection } from "../iommu/dma-iommu.js";
import type { DmaCoherentBuffer } from "../iommu/dma-mapping.js";
import type { IrqCore } from "../irq/irq-core.js";
import type { IrqHandler } from "../irq/irqdesc.js";
import type { Scheduler } from "../sched/wait.js";

/**
 * The DMA API as a driver calls it, on its `struct device` (the IOMMU core's `DmaApi` takes
 * a driver-core `Device` as is). Failures throw SysError.
 */
export interface BoardDmaApi {
  /** include/linux/dma-mapping.h: dma_set_mask_and_coherent() — EIO when unsupported. */
  dmaSetMaskAndCoherent(dev: Device, mask: bigint): void;
  /** dma_alloc_coherent() — ENOMEM when it cannot be had. */
  dmaAllocCoherent(dev: Device, size: number): DmaCoherentBuffer;
  /** dma_free_coherent() */
  dmaFreeCoherent(dev: Device, buf: DmaCoherentBuffer): void;
  /** dma_map_single() of physical memory — ENOMEM on a mapping error. */
  dmaMapSingle(dev: Device, phys: number, size: number, dir: DmaDataDirection): number;
  /** dma_unmap_single() */
  dmaUnmapSingle(dev: Device, addr: number, size: number, dir: DmaDataDirection): void;
}

/** The kernel services a board driver is built with. */
export interface BoardDriverEnv {
  /** kernel/irq/: request_irq(), free_irq(), chained handlers, irq domains. */
  readonly irq: IrqCore;
  /** kernel/dma/: the DMA API. */
  readonly dma: BoardDmaApi;
  /** Virtual time: busy-waits and sleeps run the SoC's clock. */
  readonly scheduler: Scheduler;
}

/**
 * kernel/irq/devres.c: devm_request_irq() — request_irq() whose free_irq() runs with the
 * device's managed resources (after .remove, or when probe fails). A refusal is reported with
 * dev_err_probe() as `request_irq(<irq>) <handler> <thread_fn> <devname>` (7.x's
 * devm_request_result()) and thrown. The returned node is what devm_free_irq() releases
 * (`dev.devres.release(node)`).
 */
export function devmRequestIrq(
  env: BoardDriverEnv,
  dev: Device,
  irq: number,
  handler: IrqHandler,
  flags: number,
  devname: string,
  devId: unknown,
  handlerSymbol: string,
): DevresNode {
  try {
    env.irq.requestIrq(irq, handler, flags, devname, devId);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    throw devErrProbe(
      dev,
      -e.errno,
      `request_irq(${irq}) ${handlerSymbol} 0x0 ${devname}`,
      "devm_request_threaded_irq",
    );
  }
  return dev.devres.add("devm_request_irq", () => {
    env.irq.freeIrq(irq, devId);
  });
}

/** dev_get_drvdata() of a bound device, checked against the driver's state class. */
export function drvdata<T>(dev: Device, cls: abstract new (...args: never[]) => T): T {
  const data = dev.driverData;
  if (!(data instanceof cls)) {
    throw new SysError("ENODEV", "dev_get_drvdata", `${dev.name} has no ${cls.name}`);
  }
  return data;
}
