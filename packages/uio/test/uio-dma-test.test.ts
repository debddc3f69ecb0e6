/**
 * End to end on the default board: the second DMA test engine, c031000.dma-test, handed to user
 * space through uio_pdrv_genirq — a platform device with a level interrupt and no IOMMU group
 * of its own (the SMMU refuses its StreamID 0x30, which c030000.dma-test already has). A user
 * program maps its registers (map 0 at offset 0), programs a fill, counts the completion
 * interrupt with a blocking read() of /dev/uio0, acknowledges the device and re-enables the
 * line with write(1) — the protocol of uio_pdrv_genirq, without any eventfd or ioctl.
 *
 * The engine's DMA still carries StreamID 0x30, so it is translated by c030000.dma-test's
 * domain: the fill lands only where the kernel mapped something for the *other* engine. UIO
 * gives the user no IOMMU of its own — the test shows both a fill into a buffer the kernel
 * mapped for c030000 and one to an IOVA nobody mapped (an SMMU fault, ERROR, still one
 * interrupt).
 */

import {
  DMA_TEST_CTRL,
  DMA_TEST_ID,
  DMA_TEST_REGISTERS,
  DMA_TEST_STATUS,
  type DmaTestRegister,
} from "@vfio-lab/hw-soc";
import { IRQ_DISABLE_UNLAZY, type Kernel, type Process } from "@vfio-lab/kernel";
import { beforeEach, describe, expect, test } from "vitest";
import { UioUserDevice, uioPdrvGenirqModule } from "../src/index.js";
import { assignToDriver, boot, dmesgOf, driverOf, interruptRow, le32, peek32 } from "./fixture.js";

const ENGINE = "c031000.dma-test";
const OTHER = "c030000.dma-test";
const REG = Object.fromEntries(DMA_TEST_REGISTERS.map((r) => [r.name, r.offset])) as Record<
  DmaTestRegister,
  number
>;

interface Setup {
  kernel: Kernel;
  admin: Process;
  app: Process;
  uio: UioUserDevice;
  regs: number;
}

function setup(): Setup {
  const { kernel, admin } = boot();
  kernel.modprobe(uioPdrvGenirqModule);
  assignToDriver(admin, "platform", ENGINE, "uio_pdrv_genirq");
  const app = kernel.spawn({ comm: "uio-app" });
  const uio = UioUserDevice.open(app, 0);
  const map = uio.maps()[0]!;
  const regs = uio.mmapMap(0) + Number(map.offset);
  return { kernel, admin, app, uio, regs };
}

function writel(p: Process, regs: number, reg: DmaTestRegister, v: number): void {
  p.poke(regs + REG[reg], le32(v));
}

function readl(p: Process, regs: number, reg: DmaTestRegister): number {
  return peek32(p, regs + REG[reg]);
}

/** Programs a fill of `len` bytes of `pattern` at bus address `dst`, with the interrupt on. */
function startFill(p: Process, regs: number, dst: number, pattern: number, len: number): void {
  writel(p, regs, "DST_LO", dst % 2 ** 32);
  writel(p, regs, "DST_HI", Math.floor(dst / 2 ** 32));
  writel(p, regs, "LEN", len);
  writel(p, regs, "PATTERN", pattern);
  writel(
    p,
    regs,
    "CTRL",
    DMA_TEST_CTRL.START |
      DMA_TEST_CTRL.IRQ_EN |
      (DMA_TEST_CTRL.MODE_FILL << DMA_TEST_CTRL.MODE_SHIFT),
  );
}

describe("UIO on c031000.dma-test (platform, level IRQ, no IOMMU group)", () => {
  let s: Setup;
  beforeEach(() => {
    s = setup();
  });

  test("binding takes the engine from vfio-lab-dma-test and makes /dev/uio0 with one map", () => {
    expect(driverOf(s.admin, "platform", ENGINE)).toBe("uio_pdrv_genirq");
    expect(s.admin.readdir(`/sys/bus/platform/devices/${ENGINE}`)).not.toContain("iommu_group");
    expect(s.uio.name()).toBe("dma-test@31000");
    expect(s.uio.maps()).toEqual([
      { index: 0, name: "dma-test@31000", addr: 0xc031000n, size: 0x1000n, offset: 0n },
    ]);
    expect(s.admin.readlink("/sys/class/uio/uio0")).toBe(
      "../../devices/platform/platform-bus@c000000/c031000.dma-test/uio/uio0",
    );
    expect(interruptRow(s.admin, "dma-test@31000")).toMatch(/GICv3 +158 Level +dma-test@31000$/);
    expect(readl(s.app, s.regs, "ID")).toBe(DMA_TEST_ID);
  });

  test("a level line is marked IRQ_DISABLE_UNLAZY: the handler's disable masks it at once", () => {
    const virq = s.kernel.irq.irqFindMapping(158);
    expect((s.kernel.irq.irqToDesc(virq)?.settings ?? 0) & IRQ_DISABLE_UNLAZY).toBe(
      IRQ_DISABLE_UNLAZY,
    );
    const other = s.kernel.drivers.findDevice("platform", OTHER)!;
    const buf = s.kernel.iommu.dma.dmaAllocCoherent(other, 4096);
    startFill(s.app, s.regs, buf.dmaHandle, 0, 4);
    s.uio.waitIrq();
    expect(s.kernel.irq.irqInfo(virq)).toMatchObject({ depth: 1, disabled: true, masked: true });
    s.uio.irqControl(true);
    expect(s.kernel.irq.irqInfo(virq)).toMatchObject({ depth: 0, disabled: false });
    // Still asserted (DONE not acknowledged): taken again as soon as time runs, disabled again.
    expect(s.uio.waitIrq()).toBe(2);
    expect(s.kernel.irq.irqInfo(virq)).toMatchObject({ depth: 1, disabled: true, count: 2 });
  });

  test("a fill into a buffer mapped for the neighbour engine completes; read() counts it", () => {
    const other = s.kernel.drivers.findDevice("platform", OTHER)!;
    const buf = s.kernel.iommu.dma.dmaAllocCoherent(other, 4096);
    startFill(s.app, s.regs, buf.dmaHandle, 0xa5a5a5a5, 64);
    expect(s.uio.waitIrq()).toBe(1);
    expect(readl(s.app, s.regs, "STATUS") & DMA_TEST_STATUS.DONE).toBe(DMA_TEST_STATUS.DONE);
    expect([...buf.read(0, 64)]).toEqual(new Array(64).fill(0xa5));
    expect(s.admin.readFile("/sys/class/uio/uio0/event")).toBe("1\n");
  });

  test("the line stays off until write(1): a second completion is not counted before it", () => {
    const other = s.kernel.drivers.findDevice("platform", OTHER)!;
    const buf = s.kernel.iommu.dma.dmaAllocCoherent(other, 4096);
    startFill(s.app, s.regs, buf.dmaHandle, 1, 4);
    expect(s.uio.waitIrq()).toBe(1);
    writel(s.app, s.regs, "STATUS", DMA_TEST_STATUS.DONE);
    startFill(s.app, s.regs, buf.dmaHandle, 2, 4);
    // The engine finishes within a microsecond; a millisecond of polling sees no event.
    expect(s.uio.poll(1_000_000)).toBe(0);
    expect(readl(s.app, s.regs, "STATUS") & DMA_TEST_STATUS.DONE).toBe(DMA_TEST_STATUS.DONE);
    // Re-enabling while the engine still asserts: the interrupt is taken at once.
    s.uio.irqControl(true);
    expect(s.uio.waitIrq()).toBe(2);
  });

  test("acknowledge then write(1): each transfer is one event, and the counts add up", () => {
    const other = s.kernel.drivers.findDevice("platform", OTHER)!;
    const buf = s.kernel.iommu.dma.dmaAllocCoherent(other, 4096);
    for (let i = 1; i <= 5; i++) {
      startFill(s.app, s.regs, buf.dmaHandle + 4 * i, i, 4);
      expect(s.uio.waitIrq()).toBe(i);
      writel(s.app, s.regs, "STATUS", DMA_TEST_STATUS.DONE);
      s.uio.irqControl(true);
      expect(s.uio.tryWaitIrq()).toBeNull();
    }
    expect(buf.read(4, 4)[0]).toBe(1);
    expect(buf.read(20, 4)[0]).toBe(5);
  });

  test("a fill to an IOVA nobody mapped faults, blamed on the neighbour engine; still one event", () => {
    const lines = dmesgOf(s.kernel, () => {
      startFill(s.app, s.regs, 0x7000_0000, 0xffffffff, 64);
      expect(s.uio.waitIrq()).toBe(1);
    });
    expect(readl(s.app, s.regs, "STATUS") & DMA_TEST_STATUS.ERROR).toBe(DMA_TEST_STATUS.ERROR);
    expect(readl(s.app, s.regs, "ERR_ADDR_LO")).toBe(0x7000_0000);
    // The SMMU knows StreamID 0x30 only as c030000.dma-test's.
    expect(
      lines.some((l) =>
        l.endsWith(
          "event: F_TRANSLATION client: c030000.dma-test sid: 0x30 ssid: 0 iova: 0x70000000 ipa: 0",
        ),
      ),
    ).toBe(true);
  });

  test("with nothing in flight, a blocking read could never return: WouldBlockForeverError", () => {
    expect(() => s.uio.waitIrq()).toThrow(/would block forever/);
  });

  test("unbinding while the program holds /dev/uio0 wakes nothing and fails its next read with EIO", () => {
    s.admin.writeFile(`/sys/bus/platform/devices/${ENGINE}/driver/unbind`, ENGINE);
    expect(() => s.uio.waitIrq()).toThrowErrno("EIO");
    expect(() => s.uio.irqControl(true)).toThrowErrno("EINVAL");
    s.uio.close();
    // Give the engine back to its kernel driver.
    s.admin.writeFile(`/sys/bus/platform/devices/${ENGINE}/driver_override`, "\n");
    s.admin.writeFile("/sys/bus/platform/drivers_probe", ENGINE);
    expect(driverOf(s.admin, "platform", ENGINE)).toBe("vfio-lab-dma-test");
  });
});
