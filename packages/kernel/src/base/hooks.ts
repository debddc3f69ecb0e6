/**
 * What the driver core takes from layers written elsewhere, as Linux's driver core calls into
 * the OF IRQ code and the OF/IOMMU DMA code: two small interfaces, implemented by the IRQ core
 * and the IOMMU core when the kernel is wired together, and by fakes in tests.
 */

import type { DtNode } from "@vfio-lab/hw-soc";
import type { Device } from "./device.js";

/** The OF interrupt mapping the platform and AMBA buses use (drivers/of/irq.c). */
export interface IrqMapper {
  /**
   * drivers/of/irq.c: of_irq_get() / irq_of_parse_and_map() — the Linux IRQ number (virq) of
   * entry `index` of the node's `interrupts`: > 0 when mapped, 0 when there is no such entry or
   * it cannot be mapped, or a negative errno (-EPROBE_DEFER while the interrupt controller's
   * domain does not exist yet).
   */
  irqOfParseAndMap(node: DtNode, index: number): number;
}

/**
 * The DMA/IOMMU hooks behind platform_dma_configure(), amba_dma_configure() and their cleanup.
 * Failures are thrown as `SysError` (EPROBE_DEFER, EBUSY, EINVAL …), as every kernel path here.
 */
export interface DmaConfigurator {
  /**
   * drivers/of/device.c: of_dma_configure() — DMA ranges, coherency and the IOMMU (of_iommu_
   * configure) for `dev` from `node`; `forceDma` is true for platform and AMBA devices.
   */
  ofDmaConfigure(dev: Device, node: DtNode, forceDma: boolean): void;
  /**
   * drivers/iommu/iommu.c: iommu_device_use_default_domain() — a kernel DMA-API driver is
   * about to own the device: 0 without a group, EBUSY when user space owns the group,
   * EPROBE_DEFER before the default domain exists; else the group's owner count goes up.
   */
  iommuDeviceUseDefaultDomain(dev: Device): void;
  /** drivers/iommu/iommu.c: iommu_device_unuse_default_domain() — the count goes down. */
  iommuDeviceUnuseDefaultDomain(dev: Device): void;
  /** arch/arm64/mm/dma-mapping.c: arch_teardown_dma_ops() (optional). */
  archTeardownDmaOps?(dev: Device): void;
}

/**
 * What platform_dma_configure() and amba_dma_configure() both do (drivers/base/platform.c,
 * drivers/amba/bus.c — two copies in Linux too): of_dma_configure(force_dma); then, for a
 * kernel DMA-API driver (`driverManagedDma` false), iommu_device_use_default_domain(), whose
 * failure tears the DMA ops down. Without a driver (the IOMMU layer calling) only the first.
 */
export function ofBusDmaConfigure(
  dma: DmaConfigurator,
  dev: Device,
  driverManagedDma: boolean | undefined,
): void {
  if (dev.ofNode) dma.ofDmaConfigure(dev, dev.ofNode.dt, true);
  if (!dev.driver || driverManagedDma) return;
  try {
    dma.iommuDeviceUseDefaultDomain(dev);
  } catch (e) {
    dma.archTeardownDmaOps?.(dev);
    throw e;
  }
}
