/**
 * `@vfio-lab/vfio-platform/testing`: the small VMM the scenarios, notebooks and docs share
 * (design §4) — boot a lab, bind devices through sysfs, open them over one of the four access
 * paths, map guest RAM, wire IRQs to eventfds, drive the board's DMA engines from user space,
 * and compare syscall traces. Vitest-free: the test-only matchers live in the package's tests.
 *
 * ```ts
 * import { bootLab, assignToDriver, DEV, Vmm } from "@vfio-lab/vfio-platform/testing";
 * const lab = bootLab({ modules: [vfioPlatformModule], install: [vfioPlatformDmatestModule] });
 * assignToDriver(lab.admin, DEV.DMA_TEST0, "vfio-platform");
 * const vmm = new Vmm(lab.vmm, "container-type1");
 * const dev = vmm.assign(DEV.DMA_TEST0);
 * const ram = vmm.mapGuestRam(0x10000, 0x10_0000n);
 * ```
 *
 * @packageDocumentation
 */

export * from "./bind.js";
export * from "./boards.js";
export * from "./boot.js";
export * from "./dma-test-user.js";
export * from "./grouping-iommu.js";
export * from "./irq.js";
export * from "./pl330-user.js";
export * from "./trace.js";
export * from "./user-mmio.js";
export * from "./vmm.js";
