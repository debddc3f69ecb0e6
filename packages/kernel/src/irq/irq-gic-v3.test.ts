import { boards, Soc } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { Printk } from "../printk/printk.js";
import { KernelTrace } from "../trace/trace-bus.js";
import { GICD, GICR, GICR_SGI } from "./arm-gic-v3-regs.js";
import { IrqCore } from "./irq-core.js";
import { IRQ_HANDLED, IRQ_TYPE_EDGE_RISING, IRQ_TYPE_LEVEL_HIGH } from "./irq-flags.js";
import { GICD_BASE, GICR_BASE, irqWorld, PL061_INTID } from "./irq-test-fixture.js";

describe("gic_init_bases()", () => {
  test("logs what a virt guest at EL1 logs, ITS lines aside", () => {
    const soc = Soc.fromDeviceTree(boards.virtLab());
    const printk = new Printk({ now: () => soc.clock.now });
    const irq = new IrqCore({ soc, printk, trace: new KernelTrace(() => 0) });
    irq.initGic();
    // Checked against Linux 7.3 on QEMU virt,gic-version=3 (whose GIC has 224 SPIs and an ITS).
    expect(printk.records().map((r) => [r.level, r.text])).toEqual([
      [6, "NR_IRQS: 64, nr_irqs: 64, preallocated irqs: 0"],
      [6, "GICv3: 224 SPIs implemented"],
      [6, "GICv3: 0 Extended SPIs implemented"],
      [6, "Root IRQ handler: gic_handle_irq"],
      [6, "GICv3: GICv3 features: 16 PPIs"],
      [6, "GICv3: GICD_CTLR.DS=1, SCR_EL3.FIQ=0"],
      [6, "GICv3: CPU0: found redistributor 0 region 0:0x00000000080a0000"],
    ]);
  });

  test("gic_dist_init(): every SPI Group 1, level, priority 0xc0, disabled, routed to CPU 0", () => {
    const { soc } = irqWorld();
    const rd = (off: number) => soc.bus.read(GICD_BASE + off, 4) >>> 0;
    // DS and ARE read as one; the driver set both group enables.
    expect(rd(GICD.CTLR)).toBe(0x53);
    for (let n = 1; n < 8; n++) {
      expect(rd(GICD.IGROUPR + 4 * n)).toBe(0xffff_ffff);
      expect(rd(GICD.ISENABLER + 4 * n)).toBe(0);
      expect(rd(GICD.ISACTIVER + 4 * n)).toBe(0);
    }
    for (let n = 2; n < 16; n++) expect(rd(GICD.ICFGR + 4 * n)).toBe(0);
    for (let i = 32; i < 256; i += 4) expect(rd(GICD.IPRIORITYR + i)).toBe(0xc0c0_c0c0);
    for (let i = 32; i < 256; i++) {
      expect(rd(GICD.IROUTER + 8 * i)).toBe(0);
      expect(rd(GICD.IROUTER + 8 * i + 4)).toBe(0);
    }
  });

  test("gic_cpu_init(): Redistributor awake, SGIs on, CPU interface at PMR 0xf0 and EOImode 0", () => {
    const { soc } = irqWorld();
    expect(soc.bus.read(GICR_BASE + GICR.WAKER, 4)).toBe(0);
    const sgi = (off: number) => soc.bus.read(GICR_BASE + GICR.SGI_BASE + off, 4) >>> 0;
    expect(sgi(GICR_SGI.IGROUPR0)).toBe(0xffff_ffff);
    // set_smp_ipi_range() → ipi_setup(): the eight IPI SGIs enabled, the PPIs left off.
    expect(sgi(GICR_SGI.ISENABLER0)).toBe(0xff);
    for (let i = 0; i < 32; i += 4) expect(sgi(GICR_SGI.IPRIORITYR0 + i)).toBe(0xc0c0_c0c0);
    const cpu = soc.gic.cpu;
    expect(cpu.pmr).toBe(0xf0);
    expect(cpu.igrpen1).toBe(1);
    expect(cpu.ctlr & 0x2).toBe(0);
  });

  test("the SGIs are the IPIs: virqs 1–8, per-CPU, hidden", () => {
    const { irq } = irqWorld();
    for (let v = 1; v <= 8; v++) {
      expect(irq.irqInfo(v)).toMatchObject({
        virq: v,
        hwirq: v - 1,
        flow: "handle_percpu_devid_irq",
        actions: ["IPI"],
      });
    }
    expect(irq.irqInfo(9)).toBeUndefined();
  });

  test("a second initGic() is refused by set_handle_irq() with EBUSY", () => {
    const { irq } = irqWorld();
    expect(() => irq.initGic()).toThrowErrno("EBUSY");
  });

  test("a tree without a GICv3 has nothing to init: ENODEV", () => {
    const dts = boards
      .virtLab()
      .replace('compatible = "arm,gic-v3";', 'compatible = "arm,gic-400";');
    const soc = Soc.fromDeviceTree(dts);
    const irq = new IrqCore({
      soc,
      printk: new Printk({ now: () => 0 }),
      trace: new KernelTrace(() => 0),
    });
    expect(() => irq.initGic()).toThrowErrno("ENODEV");
  });

  test("at EL2 the driver uses split EOI/Deactivate and still completes interrupts", () => {
    const w = irqWorld({ el2: true });
    expect(w.printk.records().map((r) => r.text)).toContain(
      "GICv3: GIC: Using split EOI/Deactivate mode",
    );
    expect(w.soc.gic.cpu.ctlr & 0x2).toBe(0x2);
    const virq = w.irq.irqOfParseAndMap(w.node("/pl061@9030000"), 0);
    let calls = 0;
    w.irq.requestIrq(
      virq,
      () => {
        calls++;
        w.writeGpio(0x410, 0); // the driver silences its device
        return IRQ_HANDLED;
      },
      0,
      "9030000.pl061",
      null,
    );
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(calls).toBe(1);
    expect(w.gicActive(PL061_INTID)).toBe(false);
    expect(w.soc.gic.cpu.rpr()).toBe(0xff);
  });
});

describe("gic_irq_domain_translate()", () => {
  test("SPI n is INTID n + 32, PPI n is INTID n + 16, the trigger comes from the flags cell", () => {
    const { irq, node } = irqWorld();
    const gic = node("/intc@8000000");
    const spi = irq.irqCreateOfMapping(gic, [0, 7, 4]);
    const ppi = irq.irqCreateOfMapping(gic, [1, 13, 4]);
    const edge = irq.irqCreateOfMapping(gic, [0, 0x4a, 1]);
    expect(irq.irqInfo(spi)).toMatchObject({
      hwirq: 39,
      trigger: IRQ_TYPE_LEVEL_HIGH,
      flow: "handle_fasteoi_irq",
    });
    expect(irq.irqInfo(ppi)).toMatchObject({ hwirq: 29, flow: "handle_percpu_devid_irq" });
    expect(irq.irqGetTriggerType(edge)).toBe(IRQ_TYPE_EDGE_RISING);
  });

  test("a specifier the GIC cannot translate maps nothing, with a WARN from gic_irq_domain_select()", () => {
    const w = irqWorld();
    const gic = w.node("/intc@8000000");
    w.log();
    expect(w.irq.irqCreateOfMapping(gic, [5, 7, 4])).toBe(0);
    expect(w.log()).toEqual([
      "------------[ cut here ]------------",
      "WARNING: drivers/irqchip/irq-gic-v3.c:1712 at gic_irq_domain_select, CPU#0: swapper/0/0",
      "Modules linked in:",
      "---[ end trace 0000000000000000 ]---",
    ]);
    expect(w.irq.irqCreateOfMapping(gic, [0, 7])).toBe(0);
    expect(w.log()).toEqual([]);
  });

  test("a broken DT without trigger flags is mapped, with Linux's WARN", () => {
    const w = irqWorld();
    const gic = w.node("/intc@8000000");
    w.log();
    const virq = w.irq.irqCreateOfMapping(gic, [0, 20, 0]);
    expect(virq).toBe(9);
    // select, translate and alloc each translate the specifier, and each time it WARNs.
    expect(w.log().filter((l) => l.startsWith("WARNING:"))).toEqual(
      Array(3).fill(
        "WARNING: drivers/irqchip/irq-gic-v3.c:1634 at gic_irq_domain_translate, CPU#0: swapper/0/0",
      ),
    );
    expect(w.taint.value).toBe(1 << 9);
  });
});

describe("gic_handle_irq()", () => {
  test("an INTID nobody mapped is a WARN_ONCE and is deactivated", () => {
    const w = irqWorld();
    const gicd = (off: number, intid: number) => GICD_BASE + off + Math.floor(intid / 32) * 4;
    w.log();
    // Something enabled and pended INTID 40 behind Linux's back.
    for (let i = 0; i < 2; i++) {
      w.soc.bus.write(gicd(GICD.ISENABLER, 40), 4, 1 << 8);
      w.soc.bus.write(gicd(GICD.ISPENDR, 40), 4, 1 << 8);
      w.run();
    }
    expect(w.log()).toEqual([
      "------------[ cut here ]------------",
      "Unexpected interrupt (irqnr 40)",
      "WARNING: drivers/irqchip/irq-gic-v3.c:826 at __gic_handle_irq, CPU#0: swapper/0/0",
      "Modules linked in:",
      "---[ end trace 0000000000000000 ]---",
    ]);
    expect(w.gicActive(40)).toBe(false);
    expect(w.gicPending(40)).toBe(false);
  });
});
