import { boards, type DtNode, nodeByPath, Soc } from "@vfio-lab/hw-soc";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { Printk } from "../printk/printk.js";
import { KernelTrace } from "../trace/trace-bus.js";
import { IrqCore } from "./irq-core.js";
import { IRQ_TYPE_EDGE_RISING, IRQ_TYPE_LEVEL_HIGH, IRQ_TYPE_LEVEL_LOW } from "./irq-flags.js";
import { irqWorld } from "./irq-test-fixture.js";

/** Device nodes of the virt board with one interrupt each, and their INTIDs. */
const DEVICES = [
  ["/pl011@9000000", 33],
  ["/pl031@9010000", 34],
  ["/pl061@9030000", 39],
  ["/platform-bus@c000000/timer@20000", 156],
  ["/platform-bus@c000000/dma-test@30000", 157],
  ["/platform-bus@c000000/dma-test@31000", 158],
] as const;

describe("virq allocation", () => {
  test("after the eight SGIs, each new mapping takes the lowest free number", () => {
    const { irq, node } = irqWorld();
    expect(irq.irqOfParseAndMap(node("/pl061@9030000"), 0)).toBe(9);
    expect(irq.irqOfParseAndMap(node("/pl011@9000000"), 0)).toBe(10);
    // Mapping the same interrupt again finds the existing virq.
    expect(irq.irqOfParseAndMap(node("/pl061@9030000"), 0)).toBe(9);
    irq.irqDisposeMapping(9);
    expect(irq.irqInfo(9)).toBeUndefined();
    expect(irq.irqOfParseAndMap(node("/pl031@9010000"), 0)).toBe(9);
  });

  test("the order of mapping decides the numbers, nothing else does", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([...DEVICES], { minLength: 1 }), (order) => {
        const soc = Soc.fromDeviceTree(boards.virtLab());
        const irq = new IrqCore({
          soc,
          printk: new Printk({ now: () => 0 }),
          trace: new KernelTrace(() => 0),
        });
        irq.initGic();
        const got = order.map(([path]) =>
          irq.irqOfParseAndMap(nodeByPath(soc.tree, path) as DtNode, 0),
        );
        expect(got).toEqual(order.map((_, i) => 9 + i));
        expect(order.map((_, i) => irq.irqInfo(9 + i)?.hwirq)).toEqual(order.map(([, id]) => id));
      }),
      { numRuns: 25 },
    );
  });
});

describe("irq_of_parse_and_map()", () => {
  test("inherits the root's interrupt-parent and reads three cells per interrupt", () => {
    const { irq, node } = irqWorld();
    const dma = node("/platform-bus@c000000/dma@0");
    // interrupts = SPI 112 (abort), SPI 113..120: index 3 is SPI 115.
    const virq = irq.irqOfParseAndMap(dma, 3);
    expect(irq.irqInfo(virq)).toMatchObject({ hwirq: 147, trigger: IRQ_TYPE_LEVEL_HIGH });
  });

  test("an index past the last interrupt, or a node without interrupts, maps nothing", () => {
    const { irq, node } = irqWorld();
    expect(irq.irqOfParseAndMap(node("/pl061@9030000"), 1)).toBe(0);
    expect(irq.irqOfParseAndMap(node("/fw-cfg@9020000"), 0)).toBe(0);
    expect(irq.irqOfParseAndMap(node("/pl061@9030000"), -1)).toBe(0);
  });

  test("interrupts-extended names the controller per entry", () => {
    const dts = boards
      .virtLab()
      .replace(
        "interrupts = <0x0 0x7 0x4>;\n\t\tgpio-controller;",
        "interrupts-extended = <&gic 0x0 0x9 0x1>, <&gic 0x0 0xa 0x4>;\n\t\tgpio-controller;",
      );
    const soc = Soc.fromDeviceTree(dts);
    const irq = new IrqCore({
      soc,
      printk: new Printk({ now: () => 0 }),
      trace: new KernelTrace(() => 0),
    });
    irq.initGic();
    const gpio = nodeByPath(soc.tree, "/pl061@9030000") as DtNode;
    const a = irq.irqOfParseAndMap(gpio, 0);
    const b = irq.irqOfParseAndMap(gpio, 1);
    expect(irq.irqInfo(a)).toMatchObject({ hwirq: 41, trigger: IRQ_TYPE_EDGE_RISING });
    expect(irq.irqInfo(b)).toMatchObject({ hwirq: 42, trigger: IRQ_TYPE_LEVEL_HIGH });
    expect(irq.irqOfParseAndMap(gpio, 2)).toBe(0);
  });

  test("PCI interrupts go through interrupt-map, which the model does not translate", () => {
    const { irq, node } = irqWorld();
    expect(irq.irqOfParseAndMap(node("/pcie@10000000"), 0)).toBe(0);
  });
});

describe("of_irq_get()", () => {
  test("defers probing while the GIC has no domain yet, then maps", () => {
    const soc = Soc.fromDeviceTree(boards.virtLab());
    const irq = new IrqCore({
      soc,
      printk: new Printk({ now: () => 0 }),
      trace: new KernelTrace(() => 0),
    });
    const gpio = nodeByPath(soc.tree, "/pl061@9030000") as DtNode;
    expect(irq.ofIrqGet(gpio, 0)).toBe(-517);
    irq.initGic();
    expect(irq.ofIrqGet(gpio, 0)).toBe(9);
  });

  test("parse errors come back as negative errnos: EOVERFLOW past the end, EINVAL without interrupts", () => {
    const { irq, node } = irqWorld();
    expect(irq.ofIrqGet(node("/pl061@9030000"), 1)).toBe(-75);
    expect(irq.ofIrqGet(node("/fw-cfg@9020000"), 0)).toBe(-22);
  });

  test("of_irq_get_byname() finds the index in interrupt-names", () => {
    const { irq, node } = irqWorld();
    const smmu = node("/smmuv3@9050000");
    const gerror = irq.ofIrqGetByname(smmu, "gerror");
    expect(irq.irqInfo(gerror)).toMatchObject({ hwirq: 109, trigger: IRQ_TYPE_EDGE_RISING });
    expect(irq.ofIrqGetByname(smmu, "combined")).toBe(-61);
    expect(irq.ofIrqGetByname(node("/pl061@9030000"), "x")).toBe(-22);
  });
});

describe("irq_create_fwspec_mapping()", () => {
  test("a node that is no interrupt controller has no domain", () => {
    const w = irqWorld();
    w.log();
    expect(w.irq.irqCreateOfMapping(w.node("/pl061@9030000"), [0, 7, 4])).toBe(0);
    expect(w.log()).toEqual(["irq: no irq domain found for pl061@9030000 !"]);
  });

  test("the trigger is recorded, not programmed: the GIC keeps level until the line is requested", () => {
    const w = irqWorld();
    const virq = w.irq.irqCreateOfMapping(w.node("/intc@8000000"), [0, 7, 1]);
    expect(w.irq.irqGetTriggerType(virq)).toBe(IRQ_TYPE_EDGE_RISING);
    expect(w.gicEdge(39)).toBe(false);
  });

  test("a second mapping with another trigger fails; one without a trigger reuses the virq", () => {
    const w = irqWorld();
    const gic = w.node("/intc@8000000");
    const virq = w.irq.irqCreateOfMapping(gic, [0, 7, 4]);
    w.log();
    expect(w.irq.irqCreateOfMapping(gic, [0, 7, 1])).toBe(0);
    expect(w.log()).toEqual(["irq: type mismatch, failed to map hwirq-39 for intc@8000000!"]);
    expect(w.irq.irqCreateOfMapping(gic, [0, 7, 4])).toBe(virq);
  });

  test("an SPI mapped LEVEL_LOW is mapped: the GIC refuses the type only when it is applied", () => {
    const w = irqWorld();
    const virq = w.irq.irqCreateOfMapping(w.node("/intc@8000000"), [0, 7, 8]);
    expect(virq).toBe(9);
    expect(w.irq.irqGetTriggerType(virq)).toBe(IRQ_TYPE_LEVEL_LOW);
  });
});
