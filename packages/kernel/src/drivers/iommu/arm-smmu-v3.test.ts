import {
  boards,
  decodeCd,
  decodeSte,
  encodeCommand,
  type HwTraceRecord,
  SMMU_V3_REG,
  STE_CONFIG_ABORT,
  STE_CONFIG_BYPASS,
  STE_CONFIG_S1_TRANS,
} from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE } from "../../iommu/dma-iommu.js";
import { dmaBitMask } from "../../iommu/dma-mapping.js";
import {
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_CAP_DEFERRED_FLUSH,
  IOMMU_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
} from "../../iommu/iommu-defs.js";
import {
  dmaTestCopy,
  FakeIrqs,
  type IommuWorld,
  iommuWorld,
  SMMU_IRQS,
  sysLinkTarget,
  sysLs,
} from "../../iommu/iommu-test-fixture.js";
import { bytesToQwords } from "./arm-smmu-v3-entry.js";

const SMMU_BASE = 0x905_0000;
const DMA_TEST0 = 0xc03_0000;
const SID_DMA_TEST = 0x30;

function reg(w: IommuWorld, name: keyof typeof SMMU_V3_REG): number {
  return w.soc.bus.read(SMMU_BASE + SMMU_V3_REG[name], 4);
}

function ste(w: IommuWorld, sid: number) {
  const bytes = new Uint8Array(64);
  w.soc.memory.read(w.smmu!.stepForSid(sid), bytes);
  return decodeSte(bytes);
}

function cd(w: IommuWorld, at: number) {
  const bytes = new Uint8Array(64);
  w.soc.memory.read(at, bytes);
  return decodeCd(bytes);
}

/** A page of RAM for a test buffer. */
function page(w: IommuWorld): number {
  return w.allocator.allocPage({ kind: "kernel" }) * 4096;
}

/** The dma-test engine bound to a kernel driver doing DMA through the DMA API. */
function boundDmaTest(w: IommuWorld) {
  const dev = w.dev("c030000.dma-test");
  dev.driverName = "dma-test";
  w.core.iommuDeviceUseDefaultDomain(dev);
  w.core.dma.dmaSetMaskAndCoherent(dev, dmaBitMask(48));
  return dev;
}

function commands(records: HwTraceRecord[]): string[] {
  return records.filter((r) => r.type === "iommu-command").map((r) => String(r.command));
}

describe("arm-smmu-v3 probe", () => {
  it("logs what 7.3 prints for the board's SMMU and registers every master", () => {
    const w = iommuWorld();
    expect(w.log()).toEqual([
      "iommu: Default domain type: Translated",
      "iommu: DMA domain TLB invalidation policy: strict mode",
      "arm-smmu-v3 9050000.smmuv3: oas 48-bit (features 0x00000304)",
      "arm-smmu-v3 9050000.smmuv3: allocated 262144 entries for cmdq",
      "arm-smmu-v3 9050000.smmuv3: allocated 131072 entries for evtq",
      "platform c010000.ethernet: Adding to iommu group 0",
      "platform c030000.dma-test: Adding to iommu group 1",
      "platform c031000.dma-test: Aliasing StreamID 0x30 (from c030000.dma-test) unsupported, expect DMA to be broken",
      "amba c000000.dma: Adding to iommu group 2",
    ]);
  });

  it("leaves the SMMU enabled with both queues, wired IRQs and a linear stream table", () => {
    const w = iommuWorld();
    expect(reg(w, "CR0")).toBe(0b1101); // CMDQEN | EVENTQEN | SMMUEN
    expect(reg(w, "CR0ACK")).toBe(0b1101);
    expect(reg(w, "IRQ_CTRL")).toBe(0b101); // EVENTQ_IRQEN | GERROR_IRQEN
    expect(reg(w, "CR1")).toBe(0xd75);
    expect(reg(w, "CR2")).toBe(0b110);
    expect(reg(w, "STRTAB_BASE_CFG")).toBe(16);
    expect(reg(w, "CMDQ_PROD")).toBe(reg(w, "CMDQ_CONS"));
    expect(w.soc.device("smmuv3@9050000").guestErrors).toEqual([]);
    expect(w.smmu!.idr.map((v) => v >>> 0)).toEqual(
      [0, 4, 8, 12, 16, 20].map((o) => w.soc.bus.read(SMMU_BASE + o, 4)),
    );
  });

  it("requests the eventq IRQ threaded and oneshot and the gerror IRQ, but not priq", () => {
    const w = iommuWorld();
    const IRQF_ONESHOT = 0x2000;
    expect(
      [...w.irqs.handlers].map(([v, h]) => [v, h.name, h.flags, !!h.handler, !!h.thread]),
    ).toEqual([
      [SMMU_IRQS.eventq, "arm-smmu-v3-evtq", IRQF_ONESHOT, false, true],
      [SMMU_IRQS.gerror, "arm-smmu-v3-gerror", 0, true, false],
    ]);
    expect(w.irqs.handlers.get(SMMU_IRQS.eventq)?.devId).toBe(w.smmu);
  });

  it("takes all its interrupts on a combined line when the node has one", () => {
    const w = iommuWorld({ probeSmmu: false });
    const dev = w.dev("9050000.smmuv3");
    dev.driverName = "arm-smmu-v3";
    const smmu = w.driver.probe({
      dev,
      res: { start: SMMU_BASE, size: 0x20000 },
      irqs: { combined: 200, eventq: SMMU_IRQS.eventq },
    });
    expect([...w.irqs.handlers.keys()]).toEqual([200]);
    expect(w.irqs.handlers.get(200)?.name).toBe("arm-smmu-v3-combined-irq");
    expect(w.irqs.fire(200)).toBe(1);
    expect(smmu.evtq.irq).toBe(0);
  });

  it("warns and carries on when an IRQ cannot be had", () => {
    const irqs = new FakeIrqs();
    irqs.refuse.add(SMMU_IRQS.eventq);
    const w = iommuWorld({ irqs });
    expect(w.log()).toContain("arm-smmu-v3 9050000.smmuv3: failed to enable evtq irq");
    expect(w.core.deviceGroup(w.dev("c030000.dma-test"))?.id).toBe(1);
  });

  it("warns that events will not be reported without an eventq IRQ", () => {
    const w = iommuWorld({ probeSmmu: false });
    const dev = w.dev("9050000.smmuv3");
    dev.driverName = "arm-smmu-v3";
    w.driver.probe({ dev, res: { start: SMMU_BASE, size: 0x20000 }, irqs: {} });
    expect(w.log()).toContain(
      "arm-smmu-v3 9050000.smmuv3: no evtq irq - events will not be reported!",
    );
    expect(w.log()).toContain(
      "arm-smmu-v3 9050000.smmuv3: no gerr irq - errors will not be reported!",
    );
  });

  it("refuses an MMIO window smaller than two pages (EINVAL)", () => {
    const w = iommuWorld({ probeSmmu: false });
    const dev = w.dev("9050000.smmuv3");
    dev.driverName = "arm-smmu-v3";
    const before = w.allocator.usedPages;
    expect(() => w.driver.probe({ dev, res: { start: SMMU_BASE, size: 0x10000 } })).toThrowErrno(
      "EINVAL",
    );
    expect(w.log().at(-1)).toBe(
      "arm-smmu-v3 9050000.smmuv3: MMIO region too small ([mem 0x09050000-0x0905ffff flags 0x200])",
    );
    expect(w.allocator.usedPages).toBe(before);
  });

  it("refuses a node without #iommu-cells (EINVAL)", () => {
    const dts = boards.virtLab({ ramSize: 1024 ** 3 }).replace("#iommu-cells = <0x1>;", "");
    const w = iommuWorld({ dts, probeSmmu: false });
    expect(() => w.probeSmmu()).toThrowErrno("EINVAL");
    expect(w.log().at(-1)).toBe("arm-smmu-v3 9050000.smmuv3: missing #iommu-cells property");
  });

  it("fails registration when a master's StreamID is beyond SIDSIZE (ERANGE)", () => {
    const dts = boards
      .virtLab({ ramSize: 1024 ** 3 })
      .replace("iommus = <&smmu 0x20>;", "iommus = <&smmu 0x10000>;");
    const w = iommuWorld({ dts, probeSmmu: false });
    const before = w.allocator.usedPages;
    expect(() => w.probeSmmu()).toThrowErrno("ERANGE");
    expect(w.log().at(-1)).toBe("arm-smmu-v3 9050000.smmuv3: Failed to register iommu");
    expect(reg(w, "CR0")).toBe(0);
    expect(w.allocator.usedPages).toBe(before);
    expect(w.core.deviceGroup(w.dev("c010000.ethernet"))).toBeNull();
  });

  it("adds the iommu class device and links its masters", () => {
    const w = iommuWorld();
    const cls = "/sys/class/iommu/smmu3.0x0000000009050000";
    expect(sysLinkTarget(w.sysfs, cls)).toBe(
      "/sys/devices/platform/9050000.smmuv3/iommu/smmu3.0x0000000009050000",
    );
    const dir = "/sys/devices/platform/9050000.smmuv3/iommu/smmu3.0x0000000009050000";
    expect(sysLs(w.sysfs, `${dir}/devices`).sort()).toEqual([
      "c000000.dma",
      "c010000.ethernet",
      "c030000.dma-test",
    ]);
    expect(
      sysLinkTarget(w.sysfs, "/sys/devices/platform/c000000.platform-bus/c030000.dma-test/iommu"),
    ).toBe("/sys/devices/platform/9050000.smmuv3/iommu/smmu3.0x0000000009050000");
  });
});

describe("arm-smmu-v3 removal and determinism", () => {
  it("unregisters every master and disables the SMMU when removed", () => {
    const w = iommuWorld();
    w.driver.remove(w.smmu!);
    expect(sysLs(w.sysfs, "/sys/kernel/iommu_groups")).toEqual([]);
    expect(w.sysfs.exists("/sys/class/iommu/smmu3.0x0000000009050000")).toBe(false);
    expect(
      w.sysfs.exists("/sys/devices/platform/c000000.platform-bus/c030000.dma-test/iommu"),
    ).toBe(false);
    expect(reg(w, "CR0")).toBe(0);
    expect(w.irqs.handlers.size).toBe(0);
  });

  it("traces a boot, a DMA and a fault identically every time", () => {
    const run = () => {
      const w = iommuWorld({ probeSmmu: false });
      const rec = w.trace.record();
      w.probeSmmu();
      const dev = boundDmaTest(w);
      const s = w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_TO_DEVICE);
      const d = w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_FROM_DEVICE);
      dmaTestCopy(w.soc, DMA_TEST0, s, d, 64);
      dmaTestCopy(w.soc, DMA_TEST0, 0x1000, d, 64);
      w.irqs.fire(SMMU_IRQS.eventq);
      w.core.dma.dmaUnmapSingle(dev, s, 4096, DMA_TO_DEVICE);
      rec.stop();
      return rec.records.map((r) => JSON.stringify(r)).join("\n");
    };
    const a = run();
    expect(a).toContain('"type":"iommu:fault"');
    expect(run()).toBe(a);
  });
});

describe("arm-smmu-v3 stream table", () => {
  it("aborts every StreamID no master owns", () => {
    const w = iommuWorld();
    for (const sid of [0, 0x11, 0x31, 0xffff]) {
      expect(ste(w, sid)).toMatchObject({ V: 1, Config: STE_CONFIG_ABORT });
    }
  });

  it("points a master's STE at its CD with the default domain's ASID and page table", () => {
    const w = iommuWorld();
    const e = ste(w, SID_DMA_TEST);
    expect(e).toMatchObject({
      V: 1,
      Config: STE_CONFIG_S1_TRANS,
      S1Fmt: 0,
      S1CDMax: 0,
      S1DSS: 2,
      S1CIR: 1,
      S1COR: 1,
      S1CSH: 3,
      STRW: 0,
    });
    const c = cd(w, e.S1ContextPtr);
    const domain = w.core.iommuGetDmaDomain(w.dev("c030000.dma-test")) as unknown as {
      asid: number;
      pgtbl: { ttbr: number };
    };
    expect(c).toMatchObject({
      V: 1,
      T0SZ: 16,
      TG0: 0,
      EPD1: 1,
      IPS: 5,
      AA64: 1,
      R: 1,
      A: 1,
      ASET: 1,
      MAIR0: 0xf404ff44,
    });
    expect(c.ASID).toBe(domain.asid);
    expect(c.TTB0).toBe(domain.pgtbl.ttbr);
    // Groups got their default domains in order: ethernet ASID 1, dma-test 2, PL330 3.
    expect([0x20, 0x30, 0x10].map((sid) => cd(w, ste(w, sid).S1ContextPtr).ASID)).toEqual([
      1, 2, 3,
    ]);
  });

  it("rewrites CD and STE hitlessly, each step invalidated and synced, then prefetches", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    const group = w.core.deviceGroup(dev)!;
    const owner = {};
    w.core.iommuDeviceClaimDmaOwner(dev, owner);
    expect(ste(w, SID_DMA_TEST)).toMatchObject({ V: 1, Config: STE_CONFIG_ABORT });
    const rec = w.soc.trace.record();
    w.core.iommuDeviceReleaseDmaOwner(dev);
    rec.stop();
    expect(group.domain).toBe(group.defaultDomain);
    // CD: the unused words first, then word 0 with V; STE: likewise from abort to translate.
    expect(commands(rec.records)).toEqual([
      "CMD_CFGI_CD",
      "CMD_SYNC",
      "CMD_CFGI_CD",
      "CMD_SYNC",
      "CMD_CFGI_STE",
      "CMD_SYNC",
      "CMD_CFGI_STE",
      "CMD_SYNC",
      "CMD_PREFETCH_CONFIG",
    ]);
    expect(ste(w, SID_DMA_TEST).Config).toBe(STE_CONFIG_S1_TRANS);
  });

  it("gives the identity domain a bypass STE with iommu.passthrough=1", () => {
    const w = iommuWorld({ cmdline: "iommu.passthrough=1" });
    expect(w.log().slice(0, 1)).toEqual([
      "iommu: Default domain type: Passthrough (set via kernel command line)",
    ]);
    expect(ste(w, SID_DMA_TEST)).toMatchObject({ V: 1, Config: STE_CONFIG_BYPASS });
    // DMA at physical addresses goes straight through.
    const dev = boundDmaTest(w);
    const src = page(w);
    const dst = page(w);
    w.soc.memory.write(src, new Uint8Array([1, 2, 3, 4]));
    const s = w.core.dma.dmaMapSingle(dev, src, 4, DMA_TO_DEVICE);
    expect(s).toBe(src);
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, dst, 4).ok).toBe(true);
    expect(w.soc.memory.frameForRead(dst / 4096).subarray(0, 4)).toEqual(
      new Uint8Array([1, 2, 3, 4]),
    );
  });
});

describe("arm-smmu-v3 default-domain DMA", () => {
  it("lets the dma-test engine copy between two dma_map_single()d buffers", () => {
    const w = iommuWorld();
    const dev = boundDmaTest(w);
    const src = page(w);
    const dst = page(w);
    const text = new TextEncoder().encode("through the SMMU");
    w.soc.memory.write(src + 0x10, text);
    const s = w.core.dma.dmaMapSingle(dev, src + 0x10, text.length, DMA_TO_DEVICE);
    const d = w.core.dma.dmaMapSingle(dev, dst, 4096, DMA_FROM_DEVICE);
    expect(s).toBe(0xffff_ffff_f010);
    expect(d).toBe(0xffff_ffff_e000);
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, d, text.length)).toMatchObject({ ok: true });
    const out = new Uint8Array(text.length);
    w.soc.memory.read(dst, out);
    expect(new TextDecoder().decode(out)).toBe("through the SMMU");
    expect(w.soc.device("smmuv3@9050000").guestErrors).toEqual([]);
  });

  it("faults an unmapped IOVA: engine error, an event record, and the 7.3 dmesg lines", () => {
    const w = iommuWorld();
    const dev = boundDmaTest(w);
    const dst = w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_FROM_DEVICE);
    const hw = w.soc.trace.record();
    const kt = w.trace.record();
    const r = dmaTestCopy(w.soc, DMA_TEST0, 0xdead_0000, dst, 64);
    hw.stop();
    expect(r.ok).toBe(false);
    expect(r.errAddr).toBe(0xdead_0000);
    // The SMMU recorded the fault and pulsed its eventq line.
    expect(reg(w, "EVENTQ_PROD")).toBe(1);
    expect(
      hw.records.some((x) => x.type === "irq-line" && x.line === "eventq" && x.level === true),
    ).toBe(true);
    const mark = w.log().length;
    w.irqs.fire(SMMU_IRQS.eventq);
    kt.stop();
    expect(w.log().slice(mark)).toEqual([
      "arm-smmu-v3 9050000.smmuv3: event 0x10 received:",
      "arm-smmu-v3 9050000.smmuv3: \t0x0000003000000010",
      "arm-smmu-v3 9050000.smmuv3: \t0x0000020a00000000",
      "arm-smmu-v3 9050000.smmuv3: \t0x00000000dead0000",
      "arm-smmu-v3 9050000.smmuv3: \t0x0000000000000000",
      "arm-smmu-v3 9050000.smmuv3: event: F_TRANSLATION client: c030000.dma-test sid: 0x30 ssid: 0 iova: 0xdead0000 ipa: 0",
      'arm-smmu-v3 9050000.smmuv3: priv data read s1 "Input address caused fault" stag: 0',
    ]);
    expect(reg(w, "EVENTQ_CONS")).toBe(1);
    expect(kt.records.filter((x) => x.type === "iommu:fault")).toMatchObject([
      { event: "F_TRANSLATION", sid: 0x30, device: "c030000.dma-test", iova: 0xdead_0000 },
    ]);
  });

  it("names no client for a StreamID without a master, and decodes a write fault", () => {
    const w = iommuWorld();
    boundDmaTest(w);
    // Write to an unmapped IOVA from a mapped source.
    const src = w.core.dma.dmaMapSingle(w.dev("c030000.dma-test"), page(w), 64, DMA_TO_DEVICE);
    dmaTestCopy(w.soc, DMA_TEST0, src, 0x1000, 64);
    const mark = w.log().length;
    w.irqs.fire(SMMU_IRQS.eventq);
    expect(w.log().slice(mark + 6)).toEqual([
      'arm-smmu-v3 9050000.smmuv3: priv data write s1 "Input address caused fault" stag: 0',
    ]);
  });

  it("rate-limits the dump to ten events per five seconds", () => {
    const w = iommuWorld();
    boundDmaTest(w);
    for (let i = 0; i < 12; i++) dmaTestCopy(w.soc, DMA_TEST0, 0x10_0000 + i * 4096, 0x1000, 4);
    const mark = w.log().length;
    w.irqs.fire(SMMU_IRQS.eventq);
    expect(
      w
        .log()
        .slice(mark)
        .filter((l) => l.endsWith("received:")),
    ).toHaveLength(10);
    w.soc.clock.run(6_000_000_000);
    dmaTestCopy(w.soc, DMA_TEST0, 0x20_0000, 0x1000, 4);
    const mark2 = w.log().length;
    w.irqs.fire(SMMU_IRQS.eventq);
    expect(w.log()[mark2]).toBe("arm_smmu_dump_event: 2 callbacks suppressed");
  });

  it("never uses a stale IOTLB entry after a strict unmap", () => {
    const w = iommuWorld();
    const dev = boundDmaTest(w);
    const src = page(w);
    const dst = page(w);
    w.soc.memory.write(src, new Uint8Array([7, 7, 7, 7]));
    const s = w.core.dma.dmaMapSingle(dev, src, 4096, DMA_BIDIRECTIONAL);
    const d = w.core.dma.dmaMapSingle(dev, dst, 4096, DMA_BIDIRECTIONAL);
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, d, 4).ok).toBe(true); // the IOTLB now holds both
    const rec = w.soc.trace.record();
    w.core.dma.dmaUnmapSingle(dev, s, 4096, DMA_BIDIRECTIONAL);
    rec.stop();
    expect(commands(rec.records)).toEqual(["CMD_TLBI_NH_VA", "CMD_SYNC"]);
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, d, 4)).toMatchObject({ ok: false, errAddr: s });
  });

  it("shows why the invalidation matters: a PTE cleared without TLBI still translates", () => {
    const w = iommuWorld();
    const dev = boundDmaTest(w);
    const src = page(w);
    const s = w.core.dma.dmaMapSingle(dev, src, 4096, DMA_TO_DEVICE);
    const d = w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_FROM_DEVICE);
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, d, 4).ok).toBe(true);
    const domain = w.core.iommuGetDmaDomain(dev) as unknown as {
      pgtbl: { unmapPages(i: number, p: number, c: number, g: null): number };
    };
    expect(domain.pgtbl.unmapPages(s, 4096, 1, null)).toBe(4096);
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, d, 4).ok).toBe(true);
  });

  it("defers the invalidation to the flush queue in lazy mode (iommu.strict=0)", () => {
    const w = iommuWorld({ cmdline: "iommu.strict=0" });
    expect(w.log()[1]).toBe(
      "iommu: DMA domain TLB invalidation policy: lazy mode (set via kernel command line)",
    );
    const dev = boundDmaTest(w);
    expect(w.core.iommuGetDmaDomain(dev).typeName).toBe("DMA-FQ");
    const s = w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_TO_DEVICE);
    const d = w.core.dma.dmaMapSingle(dev, page(w), 4096, DMA_FROM_DEVICE);
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, d, 4).ok).toBe(true);
    const rec = w.soc.trace.record();
    w.core.dma.dmaUnmapSingle(dev, s, 4096, DMA_TO_DEVICE);
    expect(commands(rec.records)).toEqual([]);
    // Stale until the 10 ms timer flushes the whole ASID.
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, d, 4).ok).toBe(true);
    w.soc.clock.run(12_000_000);
    rec.stop();
    expect(commands(rec.records)).toEqual(["CMD_TLBI_NH_ASID", "CMD_SYNC"]);
    expect(dmaTestCopy(w.soc, DMA_TEST0, s, d, 4).ok).toBe(false);
  });

  it("aborts the device's DMA silently while user space owns its group", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    w.core.iommuDeviceClaimDmaOwner(dev, {});
    const r = dmaTestCopy(w.soc, DMA_TEST0, 0xffff_ffff_f000, 0xffff_ffff_e000, 4);
    expect(r.ok).toBe(false);
    // STE.Config = abort terminates without an event.
    expect(reg(w, "EVENTQ_PROD")).toBe(0);
  });
});

describe("arm-smmu-v3 domains and capabilities", () => {
  it("reports cache coherency from dma-coherent, and deferred flush", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    expect(w.core.deviceIommuCapable(dev, IOMMU_CAP_CACHE_COHERENCY)).toBe(true);
    expect(w.core.deviceIommuCapable(dev, IOMMU_CAP_DEFERRED_FLUSH)).toBe(true);
    expect(w.core.deviceIommuCapable(dev, IOMMU_CAP_DIRTY_TRACKING)).toBe(false);
    expect(w.core.deviceIommuCapable(w.dev("9030000.pl061"), IOMMU_CAP_CACHE_COHERENCY)).toBe(
      false,
    );
  });

  it("is not coherent when the SMMU node lacks dma-coherent", () => {
    const dts = boards
      .virtLab({ ramSize: 1024 ** 3 })
      .replace(/(#iommu-cells = <0x1>;\s*)dma-coherent;/, "$1");
    const w = iommuWorld({ dts });
    expect(w.log()[2]).toBe("arm-smmu-v3 9050000.smmuv3: oas 48-bit (features 0x00000204)");
    const dev = w.dev("c030000.dma-test");
    expect(w.core.deviceIommuCapable(dev, IOMMU_CAP_CACHE_COHERENCY)).toBe(false);
  });

  it("allocates the lowest free ASID for each paging domain and reuses freed ones", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    const asid = (d: unknown) => (d as { asid: number }).asid;
    const a = w.core.iommuPagingDomainAlloc(dev);
    const b = w.core.iommuPagingDomainAlloc(dev);
    expect([asid(a), asid(b)]).toEqual([4, 5]);
    w.core.iommuDomainFree(a);
    expect(asid(w.core.iommuPagingDomainAlloc(dev))).toBe(4);
  });

  it("refuses nesting parents and unknown flags (EOPNOTSUPP)", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    expect(() =>
      w.core.iommuPagingDomainAllocFlags(dev, IOMMU_HWPT_ALLOC_NEST_PARENT),
    ).toThrowErrno("EOPNOTSUPP");
    expect(() => w.core.iommuPagingDomainAllocFlags(dev, 1 << 9)).toThrowErrno("EOPNOTSUPP");
  });

  it("flushes a domain's ASID when its last master leaves it", () => {
    const w = iommuWorld();
    const dev = w.dev("c030000.dma-test");
    const group = w.core.deviceGroup(dev)!;
    const owner = {};
    w.core.iommuDeviceClaimDmaOwner(dev, owner);
    const domain = w.core.iommuPagingDomainAlloc(dev);
    w.core.iommuAttachGroup(domain, group);
    const rec = w.soc.trace.record();
    w.core.iommuDetachGroup(domain, group);
    rec.stop();
    // Abort STE (Config first, then the stage-1 words), the old ASID flushed, the CD cleared.
    expect(commands(rec.records)).toEqual([
      "CMD_CFGI_STE",
      "CMD_SYNC",
      "CMD_CFGI_STE",
      "CMD_SYNC",
      "CMD_PREFETCH_CONFIG",
      "CMD_TLBI_NH_ASID",
      "CMD_SYNC",
      "CMD_CFGI_CD",
      "CMD_SYNC",
      "CMD_CFGI_CD",
      "CMD_SYNC",
    ]);
    expect(ste(w, SID_DMA_TEST).Config).toBe(STE_CONFIG_ABORT);
  });

  it("recovers from an illegal command through the gerror handler", () => {
    const w = iommuWorld();
    const smmu = w.smmu!;
    // CMD_TLBI_EL2_ALL is illegal without IDR0.HYP: the queue stops on it.
    expect(smmu.cmdq.issueCmd(encodeCommand("CMD_TLBI_EL2_ALL"), true)).toBe(false);
    expect(w.log().at(-1)).toMatch(
      /^arm-smmu-v3 9050000\.smmuv3: CMD_SYNC timeout at 0x[0-9a-f]{8} \[hwprod 0x[0-9a-f]{8}, hwcons 0x01[0-9a-f]{6}\]$/,
    );
    const mark = w.log().length;
    w.irqs.fire(SMMU_IRQS.gerror);
    const lines = w.log().slice(mark);
    expect(lines[0]).toBe(
      "arm-smmu-v3 9050000.smmuv3: unexpected global error reported (0x00000001), this could be serious",
    );
    expect(lines[1]).toMatch(/CMDQ error \(cons 0x01[0-9a-f]{6}\): Illegal command$/);
    expect(lines.slice(2)).toEqual([
      "arm-smmu-v3 9050000.smmuv3: skipping command in error state:",
      "arm-smmu-v3 9050000.smmuv3: \t0x0000000000000020",
      "arm-smmu-v3 9050000.smmuv3: \t0x0000000000000000",
    ]);
    // The queue runs again.
    expect(reg(w, "CMDQ_PROD")).toBe(reg(w, "CMDQ_CONS") & 0xfffff);
    expect(smmu.cmdq.issueCmd(encodeCommand("CMD_TLBI_NSNH_ALL"), true)).toBe(true);
  });

  it("keeps the raw STE readable as qwords", () => {
    const w = iommuWorld();
    const bytes = new Uint8Array(64);
    w.soc.memory.read(w.smmu!.stepForSid(0), bytes);
    expect(bytesToQwords(bytes)[0]).toBe(1n);
  });
});
