import { describe, expect, test } from "vitest";
import { drvdata } from "./board-env.js";
import { boardWorld } from "./board-test-fixture.js";
import { PL330_MEMCPY_TIMEOUT_NS, PL330_REG, Pl330Dmac } from "./dma-pl330.js";

const BASE = 0x0c00_0000;
const DEV = "c000000.dma";

function dmacWorld() {
  const w = boardWorld();
  const adev = w.amba(DEV);
  const pl330 = adev.driverData as Pl330Dmac;
  const reg = (off: number) => w.soc.bus.read(BASE + off, 4);
  /** Two coherent buffers of `len` bytes, the source filled with a pattern. */
  const buffers = (len: number) => {
    const src = w.env.dma.dmaAllocCoherent(adev, len);
    const dst = w.env.dma.dmaAllocCoherent(adev, len);
    src.write(
      0,
      Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 0xff),
    );
    return { src, dst };
  };
  return { ...w, adev, pl330, reg, buffers };
}

describe("dma-pl330 probe", () => {
  test("logs the DMAC and its configuration as pl330_probe() does", () => {
    const w = dmacWorld();
    const texts = w.kernel.printk.records().map((r) => r.text);
    const i = texts.indexOf("dma-pl330 c000000.dma: Loaded driver for PL330 DMAC-241330");
    expect(i).toBeGreaterThan(0);
    expect(texts[i + 1]).toBe(
      "dma-pl330 c000000.dma: \tDBUFF-32x8bytes Num_Chans-8 Num_Peri-4 Num_Events-8",
    );
    expect(w.pl330.pcfg).toMatchObject({
      dataBusWidth: 64,
      dataBufDep: 32,
      numChan: 8,
      numPeri: 4,
      numEvents: 8,
      nonSecure: false,
    });
  });

  test("requests every interrupt of the device under its name (abort and irq0-7)", () => {
    const w = dmacWorld();
    const rows = w
      .interrupts()
      .split("\n")
      .filter((l) => l.endsWith(DEV));
    expect(rows).toHaveLength(9);
    expect(rows.map((r) => r.split(/\s+/)[4])).toEqual([
      "144",
      "145",
      "146",
      "147",
      "148",
      "149",
      "150",
      "151",
      "152",
    ]);
    expect(w.adev.irq.filter((v) => v > 0)).toHaveLength(9);
  });

  test("allocates the microcode coherent, through the default DMA domain", () => {
    const w = dmacWorld();
    const mcode = w.pl330.mcode;
    expect(mcode?.size).toBe(8 * 512);
    const domain = w.iommu.iommuGetDmaDomain(w.adev);
    expect(w.iommu.iommuIovaToPhys(domain, mcode?.dmaHandle ?? 0)).toBe(mcode?.physOf(0));
  });

  test("EINVAL (and nothing held) when the device is not a PL330", () => {
    const w = dmacWorld();
    const rtc = w.amba("9010000.pl031");
    w.echo("/sys/bus/amba/drivers/rtc-pl031/unbind", "9010000.pl031");
    w.echo("/sys/bus/amba/devices/9010000.pl031/driver_override", "dma-pl330");
    w.mark();
    expect(() => w.echo("/sys/bus/amba/drivers/dma-pl330/bind", "9010000.pl031")).toThrowErrno(
      "EINVAL",
    );
    expect(w.log()).toEqual([
      "dma-pl330 9010000.pl031: PERIPH_ID 0x141031 !",
      "dma-pl330 9010000.pl031: probe with driver dma-pl330 failed with error -22",
    ]);
    expect(w.irq.irqInfo(rtc.irq[0] as number)?.actions).toEqual([]);
    expect(rtc.devres.empty).toBe(true);
  });
});

describe("dma-pl330 probe failures", () => {
  test("EBUSY when one of its interrupts is taken: reported, the others given back", () => {
    const w = dmacWorld();
    w.echo("/sys/bus/amba/drivers/dma-pl330/unbind", DEV);
    const taken = w.adev.irq[3] as number;
    w.irq.requestIrq(taken, () => 1, 0, "squatter", {});
    w.mark();
    expect(() => w.echo("/sys/bus/amba/drivers/dma-pl330/bind", DEV)).toThrowErrno("EBUSY");
    expect(w.log()).toContain(
      `dma-pl330 c000000.dma: error -EBUSY: request_irq(${taken}) pl330_irq_handler 0x0 c000000.dma`,
    );
    for (const irq of w.adev.irq.slice(0, 3)) expect(w.irq.irqInfo(irq)?.actions).toEqual([]);
    expect(w.adev.devres.empty).toBe(true);
  });
});

describe("memcpy through the dmaengine path", () => {
  test("copies through the IOMMU and completes on the event interrupt", () => {
    const w = dmacWorld();
    const { src, dst } = w.buffers(8192);
    const evIrq = w.adev.irq[1] as number;
    w.mark();
    w.pl330.memcpy(dst.dmaHandle, src.dmaHandle, 8192);
    expect(dst.read(0, 8192)).toEqual(src.read(0, 8192));
    expect(w.log()).toEqual([]);
    expect(w.irq.irqInfo(evIrq)?.count).toBe(1);
    // The channel went back to Stopped, its event interrupt cleared, the debug port idle.
    expect(w.reg(PL330_REG.CS(0)) & 0xf).toBe(0);
    expect(w.reg(PL330_REG.INTSTATUS)).toBe(0);
    expect(w.reg(PL330_REG.DBGSTATUS)).toBe(0);
  });

  test("copies that are not multiples of the bus width, at any alignment", () => {
    const w = dmacWorld();
    const { src, dst } = w.buffers(4096);
    w.pl330.memcpy(dst.dmaHandle + 5, src.dmaHandle + 3, 1001);
    expect(dst.read(5, 1001)).toEqual(src.read(3, 1001));
    expect(dst.read(0, 5)).toEqual(new Uint8Array(5));
  });

  test("an unmapped IOVA: the SMMU fault, the channel reset, EIO", () => {
    const w = dmacWorld();
    const { dst } = w.buffers(4096);
    w.mark();
    expect(() => w.pl330.memcpy(dst.dmaHandle, 0x1000, 64)).toThrowErrno("EIO");
    const log = w.log();
    // data_read_err (bit 18) on channel 0, in the Faulting state.
    expect(log).toContain("dma-pl330 c000000.dma: Reset Channel-0\t CS-f FTC-40000");
    expect(
      log.some(
        (l) => l.includes("F_TRANSLATION client: c000000.dma") && l.includes("iova: 0x1000"),
      ),
    ).toBe(true);
    expect(w.reg(PL330_REG.CS(0)) & 0xf).toBe(0);
    expect(w.reg(PL330_REG.FSC)).toBe(0);
  });

  test("the DMAC works again after a fault", () => {
    const w = dmacWorld();
    const { src, dst } = w.buffers(256);
    expect(() => w.pl330.memcpy(dst.dmaHandle, 0x1000, 64)).toThrowErrno("EIO");
    w.pl330.memcpy(dst.dmaHandle, src.dmaHandle, 256);
    expect(dst.read(0, 256)).toEqual(src.read(0, 256));
  });

  test("ETIMEDOUT when the event interrupt never comes", () => {
    const w = dmacWorld();
    const { src, dst } = w.buffers(256);
    const evIrq = w.adev.irq[1] as number;
    w.irq.disableIrq(evIrq);
    const start = w.kernel.scheduler.now;
    expect(() => w.pl330.memcpy(dst.dmaHandle, src.dmaHandle, 256)).toThrowErrno("ETIMEDOUT");
    expect(w.kernel.scheduler.now - start).toBeGreaterThanOrEqual(PL330_MEMCPY_TIMEOUT_NS);
    // The copy itself ran: the channel stopped at DMAEND, its event still raised.
    expect(dst.read(0, 256)).toEqual(src.read(0, 256));
    expect(w.reg(PL330_REG.CS(0)) & 0xf).toBe(0);
    expect(w.reg(PL330_REG.INTSTATUS)).toBe(1);
    // The late interrupt finds no request waiting and only clears the event.
    w.irq.enableIrq(evIrq);
    w.run();
    expect(w.reg(PL330_REG.INTSTATUS)).toBe(0);
  });

  test("EINVAL for an empty copy or one beyond the DMAC's 32-bit addresses", () => {
    const w = dmacWorld();
    expect(() => w.pl330.memcpy(0x1000, 0x2000, 0)).toThrowErrno("EINVAL");
    expect(() => w.pl330.memcpy(0xffff_ff00, 0x2000, 0x200)).toThrowErrno("EINVAL");
  });
});

describe("dma-pl330 remove", () => {
  test("frees the interrupts and the microcode", () => {
    const w = dmacWorld();
    const mcode = w.pl330.mcode;
    const domain = w.iommu.iommuGetDmaDomain(w.adev);
    w.echo("/sys/bus/amba/drivers/dma-pl330/unbind", DEV);
    expect(w.interrupts()).not.toContain(DEV);
    expect(w.iommu.iommuIovaToPhys(domain, mcode?.dmaHandle ?? 0)).toBe(0);
    expect(w.adev.devres.empty).toBe(true);
  });

  test("ENODEV for the DMAC of an unbound device", () => {
    const w = dmacWorld();
    w.echo("/sys/bus/amba/drivers/dma-pl330/unbind", DEV);
    expect(() => drvdata(w.adev, Pl330Dmac)).toThrowErrno("ENODEV");
  });
});
