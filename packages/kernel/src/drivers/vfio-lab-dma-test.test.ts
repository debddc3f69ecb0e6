import { DMA_TEST_CTRL, DMA_TEST_MAX_LEN } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { DMA_TO_DEVICE } from "../iommu/dma-iommu.js";
import { boardWorld } from "./board-test-fixture.js";
import { DMA_TEST_TIMEOUT_NS, dmaTestOf } from "./vfio-lab-dma-test.js";

const DEV0 = "c030000.dma-test";
const DEV1 = "c031000.dma-test";

function engineWorld(name = DEV0) {
  const w = boardWorld();
  const pdev = w.platform(name);
  const buffers = (len: number) => {
    const src = w.env.dma.dmaAllocCoherent(pdev, len);
    const dst = w.env.dma.dmaAllocCoherent(pdev, len);
    src.write(
      0,
      Uint8Array.from({ length: len }, (_, i) => (i * 13 + 1) & 0xff),
    );
    return { src, dst };
  };
  return { ...w, pdev, eng: dmaTestOf(pdev), buffers };
}

describe("vfio-lab-dma-test probe", () => {
  test("binds both engines and requests their interrupts under their names", () => {
    const w = engineWorld();
    const texts = w.kernel.printk.records().map((r) => r.text);
    expect(texts).toContain("vfio-lab-dma-test c030000.dma-test: DMA test engine 1.0");
    expect(texts).toContain("vfio-lab-dma-test c031000.dma-test: DMA test engine 1.0");
    expect(w.interrupts()).toContain(`GICv3     157 Level     ${DEV0}\n`);
    expect(w.interrupts()).toContain(`GICv3     158 Level     ${DEV1}\n`);
  });

  test("ENODEV when the ID register is not the engine's", () => {
    const w = engineWorld();
    w.echo("/sys/bus/platform/drivers/vfio-lab-dma-test/unbind", DEV0);
    w.echo(`/sys/bus/platform/devices/${DEV0}/driver_override`, "vfio-lab-dma-test");
    const xgmac = w.platform("c010000.ethernet");
    w.echo("/sys/bus/platform/drivers/calxedaxgmac/unbind", "c010000.ethernet");
    w.echo("/sys/bus/platform/devices/c010000.ethernet/driver_override", "vfio-lab-dma-test");
    w.mark();
    // really_probe() keeps ENODEV quiet; the driver's own message says why.
    expect(() =>
      w.echo("/sys/bus/platform/drivers/vfio-lab-dma-test/bind", "c010000.ethernet"),
    ).toThrowErrno("ENODEV");
    expect(w.log()).toEqual(["vfio-lab-dma-test c010000.ethernet: unexpected ID 0x00000000"]);
    expect(xgmac.driver).toBeNull();
    expect(xgmac.devres.empty).toBe(true);
  });
});

describe("copy and fill through the DMA API", () => {
  test("a copy between coherent buffers completes on the interrupt", () => {
    const w = engineWorld();
    const { src, dst } = w.buffers(4096);
    w.eng.copy(dst.dmaHandle, src.dmaHandle, 4096);
    expect(dst.read(0, 4096)).toEqual(src.read(0, 4096));
    expect(w.eng).toMatchObject({ transfers: 1, interrupts: 1 });
  });

  test("a streaming mapping (dma_map_single) works as well", () => {
    const w = engineWorld();
    const { dst } = w.buffers(64);
    const page = w.kernel.allocator.allocPage({ kind: "kernel", zero: true });
    w.soc.memory.write(page * 4096, new TextEncoder().encode("streamed"));
    const dma = w.env.dma.dmaMapSingle(w.pdev, page * 4096, 8, DMA_TO_DEVICE);
    w.eng.copy(dst.dmaHandle, dma, 8);
    expect(new TextDecoder().decode(dst.read(0, 8))).toBe("streamed");
  });

  test("fill writes the little-endian pattern", () => {
    const w = engineWorld();
    const { dst } = w.buffers(16);
    w.eng.fill(dst.dmaHandle, 0x44332211, 6);
    expect([...dst.read(0, 8)]).toEqual([0x11, 0x22, 0x33, 0x44, 0x11, 0x22, 0, 0]);
  });

  test("EIO for an unmapped IOVA, with the engine's failing address", () => {
    const w = engineWorld();
    const { dst } = w.buffers(64);
    w.mark();
    expect(() => w.eng.copy(dst.dmaHandle, 0x1000, 64)).toThrowErrno("EIO");
    // The SMMU reports the fault from its event-queue thread, once the clock runs on.
    w.run();
    const log = w.log();
    expect(log).toContain(
      "vfio-lab-dma-test c030000.dma-test: transfer failed: read error at 0x1000",
    );
    expect(log.some((l) => l.includes(`F_TRANSLATION client: ${DEV0}`))).toBe(true);
  });

  test("the second engine has no IOMMU group: its DMA is broken, as the warning says", () => {
    const w = engineWorld(DEV1);
    expect(w.iommu.deviceGroup(w.pdev)).toBeNull();
    const { src, dst } = w.buffers(64);
    // dma-direct hands out physical addresses, which the SMMU translates with engine 0's
    // StreamID — and finds nothing there.
    expect(src.dmaHandle).toBe(src.physOf(0));
    expect(() => w.eng.copy(dst.dmaHandle, src.dmaHandle, 64)).toThrowErrno("EIO");
  });

  test("EINVAL for a length the engine refuses", () => {
    const w = engineWorld();
    expect(() => w.eng.copy(0x1000, 0x2000, 0)).toThrowErrno("EINVAL");
    expect(() => w.eng.copy(0x1000, 0x2000, DMA_TEST_MAX_LEN + 1)).toThrowErrno("EINVAL");
  });

  test("EBUSY while a transfer is in flight", () => {
    const w = engineWorld();
    w.soc.bus.write(0x0c03_0000 + 0x18, 4, 4096);
    w.soc.bus.write(0x0c03_0000 + 0x1c, 4, DMA_TEST_CTRL.START);
    expect(() => w.eng.copy(0x1000, 0x2000, 16)).toThrowErrno("EBUSY");
  });

  test("ETIMEDOUT when the interrupt never comes", () => {
    const w = engineWorld();
    const { src, dst } = w.buffers(64);
    w.irq.disableIrq(w.pdev.getIrq(0));
    const start = w.kernel.scheduler.now;
    expect(() => w.eng.copy(dst.dmaHandle, src.dmaHandle, 64)).toThrowErrno("ETIMEDOUT");
    expect(w.kernel.scheduler.now - start).toBeGreaterThanOrEqual(DMA_TEST_TIMEOUT_NS);
  });
});

describe("vfio-lab-dma-test remove", () => {
  test("the interrupt goes with the managed resources", () => {
    const w = engineWorld();
    w.echo("/sys/bus/platform/drivers/vfio-lab-dma-test/unbind", DEV0);
    expect(w.interrupts()).not.toContain(DEV0);
    expect(w.pdev.devres.empty).toBe(true);
    expect(() => dmaTestOf(w.pdev)).toThrowErrno("ENODEV");
  });
});
