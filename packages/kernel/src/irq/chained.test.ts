import { describe, expect, test } from "vitest";
import { chainedIrqEnter, chainedIrqExit, irqSetHandlerLocked } from "./chained.js";
import {
  IRQ_HANDLED,
  IRQ_TYPE_EDGE_RISING,
  IRQ_TYPE_LEVEL_HIGH,
  IRQF_TRIGGER_HIGH,
  IRQF_TRIGGER_RISING,
} from "./irq-flags.js";
import { irqWorld, PL061_INTID } from "./irq-test-fixture.js";
import type { IrqChip, IrqDesc } from "./irqdesc.js";
import { irqDomainSetInfo } from "./irqdomain.js";

/** The virt board with the PL061's GIC line mapped (its parent interrupt). */
function world() {
  const w = irqWorld();
  const parent = w.irq.irqOfParseAndMap(w.node("/pl061@9030000"), 0);
  w.log();
  return { ...w, parent };
}

/** A child interrupt controller that records what the flows ask of it. */
function childChip(calls: string[]): IrqChip {
  return {
    name: "child",
    flags: 0,
    irqMask: (d) => calls.push(`mask ${d.hwirq}`),
    irqUnmask: (d) => calls.push(`unmask ${d.hwirq}`),
    irqAck: (d) => calls.push(`ack ${d.hwirq}`),
    irqSetType: (d, type) => {
      calls.push(`type ${d.hwirq} ${type}`);
      return 0;
    },
  };
}

/** A simple domain of 8 child lines on the PL061's node, whose lines start on `flow`. */
function childDomain(
  w: ReturnType<typeof world>,
  chip: IrqChip,
  flow: "handle_level_irq" | "handle_edge_irq" | "handle_bad_irq",
) {
  return w.irq.irqDomainCreateSimple(w.node("/pl061@9030000"), {
    translate: (_d, f) => ({ hwirq: f.param[0] as number, type: 0 }),
    alloc: () => -22,
    map: (d, virq, hwirq) => {
      const desc = w.irq.irqToDesc(virq) as IrqDesc;
      irqDomainSetInfo(w.irq, d, desc, hwirq, chip, w.irq.flowHandler(flow));
      return 0;
    },
  });
}

describe("irq_set_chained_handler_and_data()", () => {
  test("starts the parent line, with the device tree's trigger, and hides it from /proc", () => {
    const w = world();
    w.irq.irqSetChainedHandlerAndData(w.parent, function demux() {}, null);
    expect(w.gicEnabled(PL061_INTID)).toBe(true);
    expect(w.gicEdge(PL061_INTID)).toBe(false);
    expect(w.irq.irqInfo(w.parent)).toMatchObject({
      depth: 0,
      disabled: false,
      masked: false,
      flow: "demux",
      actions: [],
    });
    expect(w.irq.procInterruptsShow()).not.toContain(` ${PL061_INTID} Level`);
  });

  test("marks the line IRQ_NOREQUEST: request_irq() fails with EINVAL", () => {
    const w = world();
    w.irq.irqSetChainedHandlerAndData(w.parent, () => {}, null);
    expect(() => w.irq.requestIrq(w.parent, () => IRQ_HANDLED, 0, "late", null)).toThrowErrno(
      "EINVAL",
    );
  });

  test("runs the handler as the line's flow handler, with its handler data", () => {
    const w = world();
    const seen: unknown[] = [];
    const data = { chip: "pl061" };
    w.irq.irqSetChainedHandlerAndData(
      w.parent,
      (desc) => {
        chainedIrqEnter(desc.chip, desc);
        seen.push(desc.handlerData);
        w.gpioQuiet();
        chainedIrqExit(desc.chip, desc);
      },
      data,
    );
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(seen).toEqual([data]);
    // The chained exit's EOI deactivated the interrupt.
    expect(w.gicActive(PL061_INTID)).toBe(false);
  });

  test("uninstalling masks and disables the line and leaves IRQ_NOREQUEST set", () => {
    const w = world();
    w.irq.irqSetChainedHandlerAndData(w.parent, () => {}, null);
    w.irq.irqSetChainedHandlerAndData(w.parent, null, null);
    expect(w.gicEnabled(PL061_INTID)).toBe(false);
    expect(w.irq.irqInfo(w.parent)).toMatchObject({
      depth: 1,
      disabled: true,
      masked: true,
      flow: "handle_bad_irq",
    });
    expect(w.irq.irqToDesc(w.parent)?.chained).toBe(false);
    expect(() => w.irq.requestIrq(w.parent, () => IRQ_HANDLED, 0, "late", null)).toThrowErrno(
      "EINVAL",
    );
  });

  test("EINVAL for a number with no descriptor", () => {
    const w = world();
    expect(() => w.irq.irqSetChainedHandlerAndData(500, () => {}, null)).toThrowErrno("EINVAL");
  });
});

describe("irq_create_mapping() on a simple domain", () => {
  test("takes the lowest free number at or above the hwirq hint, once per hwirq", () => {
    const w = world();
    const d = childDomain(w, childChip([]), "handle_bad_irq");
    const a = w.irq.irqCreateMapping(d, 3);
    expect(a).toBeGreaterThan(w.parent);
    expect(w.irq.irqCreateMapping(d, 3)).toBe(a);
    expect(w.irq.irqInfo(a)).toMatchObject({ hwirq: 3, chip: "child", flow: "handle_bad_irq" });
    // irq_domain_associate_locked() makes the line requestable.
    w.irq.requestIrq(a, () => IRQ_HANDLED, 0, "child-3", null);
  });

  test("gives 0 when map() refuses, and frees the number", () => {
    const w = world();
    const d = w.irq.irqDomainCreateSimple(w.node("/pl061@9030000"), {
      translate: () => -22,
      alloc: () => -22,
      map: () => -6,
    });
    expect(w.irq.irqCreateMapping(d, 2)).toBe(0);
    expect(w.log()).toEqual(["irq: pl061@9030000 didn't like hwirq-0x2 to VIRQ10 mapping (rc=-6)"]);
    expect(w.irq.irqToDesc(10)).toBeUndefined();
  });

  test("irq_domain_remove(): the node no longer finds the domain", () => {
    const w = world();
    const d = childDomain(w, childChip([]), "handle_bad_irq");
    const node = w.node("/pl061@9030000");
    expect(w.irq.irqDomainOf(node)).toBe(d);
    w.irq.irqDomainRemove(d);
    expect(w.irq.irqDomainOf(node)).toBeUndefined();
  });
});

describe("flows of demultiplexed interrupts", () => {
  test("handle_level_irq: mask and ack, the actions, then unmask", () => {
    const w = world();
    const calls: string[] = [];
    const d = childDomain(w, childChip(calls), "handle_level_irq");
    const virq = w.irq.irqCreateMapping(d, 1);
    w.irq.requestIrq(
      virq,
      () => {
        calls.push("handler");
        return IRQ_HANDLED;
      },
      IRQF_TRIGGER_HIGH,
      "lvl",
      null,
    );
    calls.length = 0;
    expect(w.irq.genericHandleDomainIrq(d, 1)).toBe(0);
    expect(calls).toEqual(["mask 1", "ack 1", "handler", "unmask 1"]);
    expect(w.irq.irqInfo(virq)?.count).toBe(1);
  });

  test("handle_edge_irq: ack, then the actions; a disabled line is masked and left pending", () => {
    const w = world();
    const calls: string[] = [];
    const d = childDomain(w, childChip(calls), "handle_edge_irq");
    const virq = w.irq.irqCreateMapping(d, 2);
    w.irq.requestIrq(
      virq,
      () => {
        calls.push("handler");
        return IRQ_HANDLED;
      },
      IRQF_TRIGGER_RISING,
      "edge",
      null,
    );
    calls.length = 0;
    w.irq.genericHandleDomainIrq(d, 2);
    expect(calls).toEqual(["ack 2", "handler"]);
    calls.length = 0;
    w.irq.disableIrqNosync(virq);
    w.irq.genericHandleDomainIrq(d, 2);
    expect(calls).toEqual(["mask 2", "ack 2"]);
    expect(w.irq.irqInfo(virq)?.count).toBe(1);
  });

  test("an edge lost while disabled is replayed by the resend tasklet at enable", () => {
    const w = world();
    const calls: string[] = [];
    const d = childDomain(w, childChip(calls), "handle_edge_irq");
    const virq = w.irq.irqCreateMapping(d, 6);
    w.irq.requestIrq(
      virq,
      () => {
        calls.push("handler");
        return IRQ_HANDLED;
      },
      IRQF_TRIGGER_RISING,
      "edge",
      null,
    );
    w.irq.disableIrq(virq);
    w.irq.genericHandleDomainIrq(d, 6);
    calls.length = 0;
    w.irq.enableIrq(virq);
    expect(calls).toEqual(["unmask 6"]);
    w.run();
    expect(calls).toEqual(["unmask 6", "ack 6", "handler"]);
  });

  test("handle_bad_irq counts the interrupt and the Err: line", () => {
    const w = world();
    const d = childDomain(w, childChip([]), "handle_bad_irq");
    const virq = w.irq.irqCreateMapping(d, 0);
    w.irq.genericHandleDomainIrq(d, 0);
    expect(w.irq.irqInfo(virq)?.count).toBe(1);
    expect(w.irq.procInterruptsShow()).toContain(" Err:          1");
  });

  test("irq_set_handler_locked() swaps the flow from an irq_set_type callback", () => {
    const w = world();
    const calls: string[] = [];
    const chip: IrqChip = {
      ...childChip(calls),
      irqSetType: (data, type) => {
        const desc = w.irq.irqToDesc(data.irq) as IrqDesc;
        irqSetHandlerLocked(
          desc,
          w.irq.flowHandler(type === IRQ_TYPE_LEVEL_HIGH ? "handle_level_irq" : "handle_edge_irq"),
        );
        return 0;
      },
    };
    const d = childDomain(w, chip, "handle_bad_irq");
    const virq = w.irq.irqCreateMapping(d, 4);
    w.irq.requestIrq(virq, () => IRQ_HANDLED, IRQF_TRIGGER_RISING, "swap", null);
    expect(w.irq.irqInfo(virq)).toMatchObject({
      flow: "handle_edge_irq",
      trigger: IRQ_TYPE_EDGE_RISING,
    });
  });

  test("generic_handle_domain_irq(): -EINVAL for a line that is not mapped", () => {
    const w = world();
    const d = childDomain(w, childChip([]), "handle_level_irq");
    expect(w.irq.genericHandleDomainIrq(d, 5)).toBe(-22);
  });
});

describe("/proc/interrupts", () => {
  test("a chip with irq_print_chip() prints itself, unpadded", () => {
    const w = world();
    const chip: IrqChip = { ...childChip([]), irqPrintChip: () => "9030000.pl061" };
    const d = childDomain(w, chip, "handle_edge_irq");
    const virq = w.irq.irqCreateMapping(d, 3);
    w.irq.requestIrq(virq, () => IRQ_HANDLED, IRQF_TRIGGER_RISING, "button", null);
    const row = w.irq
      .procInterruptsShow()
      .split("\n")
      .find((l) => l.endsWith("button"));
    expect(row).toBe(
      `${String(virq).padStart(4)}:          0  9030000.pl061    3 Edge      button`,
    );
  });
});
