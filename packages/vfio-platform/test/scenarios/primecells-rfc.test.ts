/**
 * The 2024 RFC proposals on the PrimeCells (design §3, §4.3; seeds 000 and 001), each switched
 * on by its module parameter, driving the devices the mainline path refuses — with no taint and
 * no CAP_SYS_RAWIO, through the ordinary type1 container and the ordinary cdev:
 *
 * (a) `vfio_platform_base.assign_dma_incapable=1`: `platform_dma_capable()` finds the PL031
 *     (no `iommus`, `dma-coherent`, … in its node) unable to master the bus, and vfio-amba
 *     registers it with an emulated IOMMU: a private group `/dev/vfio/N`, one model-only line;
 * (b) the device-specific variant drivers `pl061_vfio_amba` / `pl011_vfio_amba` with
 *     `emulated_iommu=1`: they know their device cannot DMA, and they know how to reset it
 *     (VFIO_DEVICE_FLAGS_RESET, `VFIO: reset`).
 *
 * What neither can fix: the PL061's interrupt after pl061_gpio (SET_IRQS EINVAL). And the
 * README's warning for (a), as a test: a bus master whose node happens to carry none of the
 * rule's properties (the DMA engine without `iommus` and `dma-coherent`) is assigned untainted
 * and its DMA writes any physical page — another process's memory here.
 */

import { DMA_TEST_STATUS, PAGE_SIZE, PL011_CR, PL011_INT } from "@vfio-lab/hw-soc";
import { VFIO_DEVICE_FLAGS_AMBA, VFIO_DEVICE_FLAGS_RESET } from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { VFIO_AMBA } from "../../src/vfio-amba.js";
import { VFIO_PLATFORM } from "../../src/vfio-platform.js";
import {
  type AccessPath,
  assignToDriver,
  boards,
  bootLab,
  DEV,
  DmaTestUser,
  dmesgOf,
  interruptRows,
  type Lab,
  ls,
  pattern,
  Vmm,
} from "./fixture.js";

const ASSIGN_DMA_INCAPABLE = ["vfio_platform_base", { assign_dma_incapable: 1 }] as const;
const NODMA_LINE = "VFIO: cannot DMA (platform_dma_capable), using an emulated IOMMU";

/** A VMM with no capabilities at all: the RFC's point is that it needs none. */
function unprivilegedVmm(lab: Lab, path: AccessPath): Vmm {
  return new Vmm(lab.kernel.spawn({ comm: "vmm-nocaps", caps: [] }), path);
}

describe("(a) assign_dma_incapable: vfio-amba takes the PL031 with an emulated IOMMU", () => {
  function rfcLab() {
    const lab = bootLab({ modules: [ASSIGN_DMA_INCAPABLE, "vfio_amba"] });
    const log = dmesgOf(lab.kernel, () =>
      expect(assignToDriver(lab.admin, DEV.PL031, VFIO_AMBA).driver).toBe(VFIO_AMBA),
    );
    return { lab, log };
  }

  test("binds with a private group: the model-only line, `Adding to iommu group 3`, no taint", () => {
    const { lab, log } = rfcLab();
    expect(log.slice(1)).toEqual([
      `vfio-amba ${DEV.PL031.name}: ${NODMA_LINE}`,
      `vfio-amba ${DEV.PL031.name}: Adding to iommu group 3`,
    ]);
    expect(lab.admin.readFile("/proc/sys/kernel/tainted").trim()).toBe("0");
    expect(ls(lab.admin, "/dev/vfio").sort()).toEqual(["3", "devices", "vfio"]);
    expect(ls(lab.admin, "/dev/vfio/devices")).toEqual(["vfio0"]);
  });

  test.each(["container-type1", "iommufd-cdev"] as const)(
    "%s without capabilities: the alarm on an eventfd; guest RAM mapped, nothing pinned",
    (path) => {
      const { lab } = rfcLab();
      const vmm = unprivilegedVmm(lab, path);
      const dev = vmm.assign(DEV.PL031);
      expect(dev.info.flags).toBe(VFIO_DEVICE_FLAGS_AMBA);
      vmm.mapGuestRam(0x10_000, 0x10_0000n);
      expect(lab.kernel.allocator.totalPins).toBe(0);
      expect(vmm.process.mm.pinnedVm).toBe(0);
      const rtc = dev.mmio(0);
      const irq = dev.wireIrq(0);
      rtc.writel(0x04, rtc.readl(0x00) + 2);
      rtc.writel(0x10, 1);
      expect(irq.wait()).toBe(1);
      rtc.writel(0x1c, 1);
      irq.unmask();
      expect(irq.tryWait(1_000)).toBeNull();
    },
  );

  test("the PL061 still cannot have its interrupt: SET_IRQS EINVAL, as in mainline", () => {
    const lab = bootLab({ modules: [ASSIGN_DMA_INCAPABLE, "vfio_amba"] });
    assignToDriver(lab.admin, DEV.PL061, VFIO_AMBA);
    const dev = unprivilegedVmm(lab, "container-type1").assign(DEV.PL061);
    expect(() => dev.wireIrq(0)).toThrowErrno("EINVAL");
    expect(interruptRows(lab.vmm, /vfio-irq/)).toEqual([]);
  });

  test("README warning: a master that looks DMA-incapable is assigned untainted and DMAs anywhere", () => {
    const lab = bootLab({
      board: boards.withoutIommus(["dma-test@31000"], { dmaCoherent: false }),
      modules: [ASSIGN_DMA_INCAPABLE, "vfio_platform"],
      install: ["vfio_platform_dmatest"],
    });
    const log = dmesgOf(lab.kernel, () => assignToDriver(lab.admin, DEV.DMA_TEST1, VFIO_PLATFORM));
    expect(log).toContain(`vfio-platform ${DEV.DMA_TEST1.name}: ${NODMA_LINE}`);
    expect(lab.admin.readFile("/proc/sys/kernel/tainted").trim()).toBe("0");

    // Another process's page, and its physical address (what a malicious VMM would aim at).
    const victim = lab.kernel.spawn({ comm: "victim" });
    const page = victim.malloc(PAGE_SIZE);
    victim.poke(page, pattern(PAGE_SIZE, 1));
    const phys = BigInt(victim.mm.translate(page) * PAGE_SIZE);

    const dev = unprivilegedVmm(lab, "container-type1").assign(DEV.DMA_TEST1);
    const engine = new DmaTestUser(dev.mmio(0));
    const irq = dev.wireIrq(0);
    engine.start({ mode: "fill", dst: phys, len: 16, pattern: 0xdead_beef });
    expect(irq.wait()).toBe(1);
    expect(engine.result().status & DMA_TEST_STATUS.DONE).toBe(DMA_TEST_STATUS.DONE);
    expect(victim.peek(page, 4)).toEqual(new Uint8Array([0xef, 0xbe, 0xad, 0xde]));
  });
});

describe("(b) variant drivers with emulated_iommu=1", () => {
  function variantLab() {
    return bootLab({
      modules: [
        ["pl061_vfio_amba", { emulated_iommu: 1 }],
        ["pl011_vfio_amba", { emulated_iommu: 1 }],
      ],
    });
  }

  test("pl061-vfio-amba: a private group, no deprecation, no taint; a real reset (flags 0x9)", () => {
    const lab = variantLab();
    const log = dmesgOf(lab.kernel, () =>
      expect(assignToDriver(lab.admin, DEV.PL061, "pl061-vfio-amba").driver).toBe(
        "pl061-vfio-amba",
      ),
    );
    expect(log).toEqual([`pl061-vfio-amba ${DEV.PL061.name}: Adding to iommu group 3`]);
    const vmm = unprivilegedVmm(lab, "container-type1");
    const opened = dmesgOf(lab.kernel, () => {
      const dev = vmm.assign(DEV.PL061);
      expect(dev.info.flags).toBe(VFIO_DEVICE_FLAGS_AMBA | VFIO_DEVICE_FLAGS_RESET);
      const gpio = dev.mmio(0);
      gpio.writel(0x400, 0xff);
      dev.reset();
      expect(gpio.readl(0x400)).toBe(0); // GPIODIR back to inputs
      expect(() => dev.wireIrq(0)).toThrowErrno("EINVAL");
    });
    expect(opened).toEqual([
      `pl061-vfio-amba ${DEV.PL061.name}: VFIO: reset`,
      `pl061-vfio-amba ${DEV.PL061.name}: VFIO: reset`,
    ]);
    expect(lab.admin.readFile("/proc/sys/kernel/tainted").trim()).toBe("0");
  });

  test("pl011-vfio-amba: the loop-back RX interrupt on an eventfd, through a cdev, no capabilities", () => {
    const lab = variantLab();
    assignToDriver(lab.admin, DEV.PL011, "pl011-vfio-amba");
    const dev = unprivilegedVmm(lab, "iommufd-cdev").assign(DEV.PL011);
    expect(dev.info.flags).toBe(VFIO_DEVICE_FLAGS_AMBA | VFIO_DEVICE_FLAGS_RESET);
    const uart = dev.mmio(0);
    const irq = dev.wireIrq(0, { unmask: "eventfd" });
    uart.writel(0x30, PL011_CR.UARTEN | PL011_CR.TXE | PL011_CR.RXE | PL011_CR.LBE);
    uart.writel(0x38, PL011_INT.RX | PL011_INT.RT);
    uart.writel(0x00, 0x5a);
    expect(irq.wait()).toBe(1);
    expect(uart.readl(0x00) & 0xff).toBe(0x5a);
    uart.writel(0x44, 0x7ff);
    irq.unmask();
    expect(irq.tryWait(1_000)).toBeNull();
    expect(lab.admin.readFile("/proc/sys/kernel/tainted").trim()).toBe("0");
  });
});
