import { describe, expect, test } from "vitest";
import {
  IRQ_DISABLE_UNLAZY,
  IRQ_HANDLED,
  IRQ_NONE,
  IRQ_NOTCONNECTED,
  IRQ_TYPE_EDGE_FALLING,
  IRQ_TYPE_EDGE_RISING,
  IRQ_TYPE_LEVEL_HIGH,
  IRQ_TYPE_LEVEL_LOW,
  IRQ_WAKE_THREAD,
  IRQF_COND_SUSPEND,
  IRQF_NO_AUTOEN,
  IRQF_NO_SUSPEND,
  IRQF_ONESHOT,
  IRQF_PROBE_SHARED,
  IRQF_SHARED,
  IRQF_TRIGGER_RISING,
} from "./irq-flags.js";
import { irqWorld, PL061, PL061_INTID } from "./irq-test-fixture.js";

/** The virt board with the PL061's interrupt mapped (virq 9, INTID 39, level-high). */
function gpioWorld(opts: { el2?: boolean } = {}) {
  const w = irqWorld(opts);
  const virq = w.irq.irqOfParseAndMap(w.node("/pl061@9030000"), 0);
  w.log();
  w.events();
  return { ...w, virq };
}

/** A handler that counts its calls and runs `body` on the n-th one. */
function counter(result = IRQ_HANDLED, body: (n: number) => void = () => {}) {
  const h = Object.assign(
    function pl061_irq_handler(): number {
      h.calls++;
      body(h.calls);
      return result;
    },
    { calls: 0 },
  );
  return h;
}

describe("request_irq()", () => {
  test("starts the line: the GIC enables the SPI and the DT trigger is applied", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), 0, "9030000.pl061", null);
    expect(w.gicEnabled(PL061_INTID)).toBe(true);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({
      depth: 0,
      disabled: false,
      masked: false,
      level: true,
      actions: ["9030000.pl061"],
    });
  });

  test("a trigger flag overrides the device tree and programs GICD_ICFGR", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), IRQF_TRIGGER_RISING, "gpio-edge", null);
    expect(w.gicEdge(PL061_INTID)).toBe(true);
    expect(w.irq.irqGetTriggerType(w.virq)).toBe(IRQ_TYPE_EDGE_RISING);
  });

  test("ENOTCONN for IRQ_NOTCONNECTED", () => {
    const w = gpioWorld();
    expect(() => w.irq.requestIrq(IRQ_NOTCONNECTED, counter(), 0, "x", null)).toThrowErrno(
      "ENOTCONN",
    );
  });

  test("EINVAL for a shared request without a dev_id", () => {
    const w = gpioWorld();
    expect(() => w.irq.requestIrq(w.virq, counter(), IRQF_SHARED, "x", null)).toThrowErrno(
      "EINVAL",
    );
  });

  test("EINVAL for IRQF_SHARED with IRQF_NO_AUTOEN", () => {
    const w = gpioWorld();
    expect(() =>
      w.irq.requestIrq(w.virq, counter(), IRQF_SHARED | IRQF_NO_AUTOEN, "x", {}),
    ).toThrowErrno("EINVAL");
  });

  test("EINVAL for IRQF_COND_SUSPEND without IRQF_SHARED, or with IRQF_NO_SUSPEND", () => {
    const w = gpioWorld();
    expect(() => w.irq.requestIrq(w.virq, counter(), IRQF_COND_SUSPEND, "x", {})).toThrowErrno(
      "EINVAL",
    );
    expect(() =>
      w.irq.requestIrq(
        w.virq,
        counter(),
        IRQF_SHARED | IRQF_COND_SUSPEND | IRQF_NO_SUSPEND,
        "x",
        {},
      ),
    ).toThrowErrno("EINVAL");
  });

  test("EINVAL for a number with no descriptor (0 included)", () => {
    const w = gpioWorld();
    expect(() => w.irq.requestIrq(0, counter(), 0, "x", null)).toThrowErrno("EINVAL");
    expect(() => w.irq.requestIrq(200, counter(), 0, "x", null)).toThrowErrno("EINVAL");
  });

  test("EINVAL, with a WARN, for a per-CPU interrupt (an IPI's SGI)", () => {
    const w = gpioWorld();
    expect(() => w.irq.requestIrq(1, counter(), 0, "x", null)).toThrowErrno("EINVAL");
    expect(w.log()[1]).toBe(
      "WARNING: kernel/irq/manage.c:2159 at request_threaded_irq, CPU#0: swapper/0/0",
    );
  });

  test("EINVAL when neither a handler nor a thread function is given", () => {
    const w = gpioWorld();
    expect(() => w.irq.requestThreadedIrq(w.virq, null, null, 0, "x", null)).toThrowErrno("EINVAL");
  });

  test("EINVAL for a NULL primary handler without IRQF_ONESHOT", () => {
    const w = gpioWorld();
    expect(() =>
      w.irq.requestThreadedIrq(w.virq, null, counter(), 0, "smmu-evtq", null),
    ).toThrowErrno("EINVAL");
    expect(w.log()).toEqual([
      "genirq: Threaded irq requested with handler=NULL and !ONESHOT for smmu-evtq (irq 9)",
    ]);
    expect(w.irq.irqInfo(w.virq)?.actions).toEqual([]);
  });

  test("EINVAL from gic_set_type() for an SPI that is level-low or falling-edge", () => {
    for (const [cell, type] of [
      [8, IRQ_TYPE_LEVEL_LOW],
      [2, IRQ_TYPE_EDGE_FALLING],
    ] as const) {
      const w = irqWorld();
      const virq = w.irq.irqCreateOfMapping(w.node("/intc@8000000"), [0, 7, cell]);
      w.log();
      let thrown: unknown;
      try {
        w.irq.requestIrq(virq, counter(), 0, "x", null);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toMatchObject({ code: "EINVAL", fn: "gic_set_type" });
      expect(w.log()).toEqual([
        `genirq: Setting trigger mode ${type} for irq 9 failed (gic_set_type)`,
      ]);
      expect(w.irq.irqInfo(virq)).toMatchObject({ actions: [], depth: 1, disabled: true });
      expect(w.gicEnabled(PL061_INTID)).toBe(false);
    }
  });

  test("EBUSY for a second request on an unshared line, and the first stays installed", () => {
    const w = gpioWorld();
    const a = counter();
    w.irq.requestIrq(w.virq, a, 0, "a", null);
    expect(() => w.irq.requestIrq(w.virq, counter(), 0, "b", null)).toThrowErrno("EBUSY");
    // request_irq() adds IRQF_COND_ONESHOT; the level trigger came from the device tree.
    expect(w.log()).toEqual(["genirq: Flags mismatch irq 9. 00200004 (b) vs. 00200004 (a)"]);
    expect(w.irq.irqInfo(w.virq)?.actions).toEqual(["a"]);
  });

  test("EBUSY when sharers disagree on the trigger or on ONESHOT; PROBE_SHARED stays silent", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), IRQF_SHARED, "a", {});
    expect(() =>
      w.irq.requestIrq(w.virq, counter(), IRQF_SHARED | IRQF_TRIGGER_RISING, "b", {}),
    ).toThrowErrno("EBUSY");
    expect(() =>
      w.irq.requestThreadedIrq(w.virq, counter(), counter(), IRQF_SHARED | IRQF_ONESHOT, "c", {}),
    ).toThrowErrno("EBUSY");
    expect(() => w.irq.requestIrq(w.virq, counter(), IRQF_PROBE_SHARED, "d", {})).toThrowErrno(
      "EBUSY",
    );
    expect(w.log()).toEqual([
      "genirq: Flags mismatch irq 9. 00200081 (b) vs. 00200084 (a)",
      "genirq: Flags mismatch irq 9. 00002084 (c) vs. 00200084 (a)",
    ]);
    expect(w.irq.irqInfo(w.virq)?.actions).toEqual(["a"]);
  });

  test("traces every request with its result", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), 0, "a", null);
    expect(() => w.irq.requestIrq(w.virq, counter(), 0, "b", null)).toThrow();
    expect(w.events().filter((e) => e.type === "irq:request")).toEqual([
      { time: 0, type: "irq:request", virq: 9, hwirq: 39, name: "a", flags: 0x200000, ret: 0 },
      { time: 0, type: "irq:request", virq: 9, hwirq: 39, name: "b", flags: 0x200000, ret: -16 },
    ]);
  });
});

describe("level-triggered lines", () => {
  test("a level IRQ is handled, fires again while asserted, and stops once the device is quiet", () => {
    const w = gpioWorld();
    const h = counter(IRQ_HANDLED, (n) => {
      // The driver silences the device on the third interrupt.
      if (n === 3) w.writeGpio(PL061.IE, 0);
    });
    w.irq.requestIrq(w.virq, h, 0, "9030000.pl061", null);
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    expect(h.calls).toBe(0); // nothing runs until the clock does
    w.run();
    expect(h.calls).toBe(3);
    expect(w.irq.irqInfo(w.virq)?.count).toBe(3);
    expect(w.gicActive(PL061_INTID)).toBe(false);
    w.run();
    expect(h.calls).toBe(3);
  });

  test("disable_irq_nosync() is lazy: no MMIO until the interrupt arrives, then masked and pending", () => {
    const w = gpioWorld();
    const h = counter(IRQ_HANDLED, () => w.gpioQuiet());
    w.irq.requestIrq(w.virq, h, 0, "9030000.pl061", null);
    w.gpioLevelHigh();
    w.irq.disableIrqNosync(w.virq);
    expect(w.gicEnabled(PL061_INTID)).toBe(true);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 1, disabled: true, masked: false });

    w.gpio.setInput(0, true);
    w.run();
    expect(h.calls).toBe(0);
    expect(w.gicEnabled(PL061_INTID)).toBe(false);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ masked: true, count: 0 });

    // Still asserted: enabling unmasks and the GIC delivers it again.
    w.irq.enableIrq(w.virq);
    w.run();
    expect(h.calls).toBe(1);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 0, masked: false, count: 1 });
  });

  test("IRQ_DISABLE_UNLAZY masks at disable time", () => {
    const w = gpioWorld();
    w.irq.irqSetStatusFlags(w.virq, IRQ_DISABLE_UNLAZY);
    w.irq.requestIrq(w.virq, counter(), 0, "uio", null);
    w.irq.disableIrqNosync(w.virq);
    expect(w.gicEnabled(PL061_INTID)).toBe(false);
    w.irq.enableIrq(w.virq);
    expect(w.gicEnabled(PL061_INTID)).toBe(true);
  });

  test("a line that went quiet while disabled is not replayed", () => {
    const w = gpioWorld();
    const h = counter();
    w.irq.requestIrq(w.virq, h, 0, "9030000.pl061", null);
    w.gpioLevelHigh();
    w.irq.disableIrqNosync(w.virq);
    w.gpio.setInput(0, true);
    w.run();
    w.gpioQuiet();
    w.irq.enableIrq(w.virq);
    w.run();
    expect(h.calls).toBe(0);
  });

  test("a handler may disable its own line (the vfio-platform automask pattern)", () => {
    const w = gpioWorld();
    const h = counter(IRQ_HANDLED, () => w.irq.disableIrqNosync(w.virq));
    w.irq.requestIrq(w.virq, h, 0, "vfio-irq[0](9030000.pl061)", null);
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(h.calls).toBe(1);
    // Unmask from user space while the device still asserts: it fires and masks itself again.
    w.irq.enableIrq(w.virq);
    w.run();
    expect(h.calls).toBe(2);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 1, masked: true });
  });
});

describe("edge-triggered lines", () => {
  test("the GIC latches one interrupt per rising edge, however long the line stays high", () => {
    const w = gpioWorld();
    // The handler acknowledges the PL061, which keeps GPIOINTR high while the pin is high.
    const h = counter(IRQ_HANDLED, () => w.writeGpio(PL061.IC, 1));
    w.irq.requestIrq(w.virq, h, IRQF_TRIGGER_RISING, "gpio-edge", null);
    w.gpioLevelHigh();
    for (let i = 0; i < 3; i++) {
      w.gpio.setInput(0, true);
      w.run();
      w.gpioQuiet();
      w.run();
    }
    expect(h.calls).toBe(3);
    w.gpio.setInput(0, true);
    w.run();
    w.run();
    expect(h.calls).toBe(4);
  });

  test("an edge that arrives while lazily disabled is replayed once on enable (GICD_ISPENDR)", () => {
    const w = gpioWorld();
    const h = counter();
    w.irq.requestIrq(w.virq, h, IRQF_TRIGGER_RISING, "gpio-edge", null);
    w.gpioLevelHigh();
    w.irq.disableIrqNosync(w.virq);
    w.gpio.setInput(0, true);
    w.run();
    expect(h.calls).toBe(0);
    expect(w.gicEnabled(PL061_INTID)).toBe(false);
    w.irq.enableIrq(w.virq);
    w.run();
    expect(h.calls).toBe(1);
    w.run();
    expect(h.calls).toBe(1);
  });
});

describe("depth counting", () => {
  test("disables nest; only the enable that balances the first disable restarts the line", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), 0, "x", null);
    w.irq.disableIrq(w.virq);
    w.irq.disableIrqNosync(w.virq);
    expect(w.irq.irqInfo(w.virq)?.depth).toBe(2);
    w.irq.enableIrq(w.virq);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 1, disabled: true });
    w.irq.enableIrq(w.virq);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 0, disabled: false });
  });

  test("an unbalanced enable WARNs and taints the kernel, and changes nothing", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), 0, "x", null);
    w.irq.enableIrq(w.virq);
    expect(w.log()).toEqual([
      "------------[ cut here ]------------",
      "Unbalanced enable for IRQ 9",
      "WARNING: kernel/irq/manage.c:775 at __enable_irq, CPU#0: swapper/0/0",
      "Modules linked in:",
      "---[ end trace 0000000000000000 ]---",
    ]);
    expect(w.taint.value & (1 << 9)).toBe(1 << 9);
    expect(w.irq.irqInfo(w.virq)?.depth).toBe(0);
  });

  test("IRQF_NO_AUTOEN leaves the line off until the first enable_irq()", () => {
    const w = gpioWorld();
    const h = counter(IRQ_HANDLED, () => w.gpioQuiet());
    w.irq.requestIrq(w.virq, h, IRQF_NO_AUTOEN, "vfio-irq[0](9030000.pl061)", null);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 1, disabled: true, masked: true });
    expect(w.gicEnabled(PL061_INTID)).toBe(false);
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(h.calls).toBe(0);
    w.irq.enableIrq(w.virq);
    w.run();
    expect(h.calls).toBe(1);
  });

  test("enable and disable of a number with no descriptor, or of an IPI, do nothing", () => {
    const w = gpioWorld();
    w.irq.enableIrq(200);
    w.irq.disableIrqNosync(200);
    w.irq.disableIrq(1);
    expect(w.irq.irqInfo(1)?.depth).toBe(1);
    expect(w.log()).toEqual([]);
  });
});

describe("shared lines", () => {
  test("every action runs, in request order; freeing one keeps the line on", () => {
    const w = gpioWorld();
    const order: string[] = [];
    const a = counter(IRQ_NONE, () => order.push("a"));
    const b = counter(IRQ_HANDLED, () => {
      order.push("b");
      w.gpioQuiet();
    });
    const devA = { name: "a" };
    const devB = { name: "b" };
    w.irq.requestIrq(w.virq, a, IRQF_SHARED, "a", devA);
    w.irq.requestIrq(w.virq, b, IRQF_SHARED, "b", devB);
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(order).toEqual(["a", "b"]);
    expect(w.irq.freeIrq(w.virq, devA)).toBe("a");
    expect(w.gicEnabled(PL061_INTID)).toBe(true);
    expect(w.irq.freeIrq(w.virq, devB)).toBe("b");
    expect(w.gicEnabled(PL061_INTID)).toBe(false);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 1, disabled: true, actions: [] });
  });

  test("the handlers receive their own dev_id", () => {
    const w = gpioWorld();
    const seen: unknown[] = [];
    const dev = { id: 1 };
    w.irq.requestIrq(
      w.virq,
      (irq, d) => {
        seen.push([irq, d]);
        w.gpioQuiet();
        return IRQ_HANDLED;
      },
      IRQF_SHARED,
      "x",
      dev,
    );
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(seen).toEqual([[9, dev]]);
  });
});

describe("free_irq()", () => {
  test("an unknown dev_id WARNs and frees nothing", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), IRQF_SHARED, "a", { a: 1 });
    expect(w.irq.freeIrq(w.virq, { a: 1 })).toBeNull();
    expect(w.log().slice(1, 3)).toEqual([
      "Trying to free already-free IRQ 9",
      "WARNING: kernel/irq/manage.c:1881 at __free_irq, CPU#0: swapper/0/0",
    ]);
    expect(w.irq.irqInfo(w.virq)?.actions).toEqual(["a"]);
  });

  test("a number with no descriptor is silently nothing", () => {
    const w = gpioWorld();
    expect(w.irq.freeIrq(200, null)).toBeNull();
    expect(w.log()).toEqual([]);
  });

  test("freeing from the line's own handler WARNs (IRQ context) but frees", () => {
    const w = gpioWorld();
    const h = counter(IRQ_HANDLED, () => w.irq.freeIrq(w.virq, null));
    w.irq.requestIrq(w.virq, h, 0, "x", null);
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(h.calls).toBe(1);
    expect(w.log()[1]).toBe("Trying to free IRQ 9 from IRQ context!");
    expect(w.irq.irqInfo(w.virq)?.actions).toEqual([]);
    expect(w.gicActive(PL061_INTID)).toBe(false);
  });

  test("a freed line can be requested again and starts at depth 0", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), 0, "a", null);
    w.irq.disableIrq(w.virq);
    w.irq.freeIrq(w.virq, null);
    w.irq.requestIrq(w.virq, counter(), 0, "b", null);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 0, disabled: false });
  });

  test("traces the free", () => {
    const w = gpioWorld();
    w.irq.requestIrq(w.virq, counter(), 0, "a", null);
    w.events();
    w.irq.freeIrq(w.virq, null);
    expect(w.events()).toEqual([{ time: 0, type: "irq:free", virq: 9, hwirq: 39, name: "a" }]);
  });
});

describe("irq_set_irq_type()", () => {
  test("programs the GIC and the recorded type", () => {
    const w = gpioWorld();
    w.irq.irqSetIrqType(w.virq, IRQ_TYPE_EDGE_RISING);
    expect(w.gicEdge(PL061_INTID)).toBe(true);
    expect(w.irq.irqGetTriggerType(w.virq)).toBe(IRQ_TYPE_EDGE_RISING);
    w.irq.irqSetIrqType(w.virq, IRQ_TYPE_LEVEL_HIGH);
    expect(w.gicEdge(PL061_INTID)).toBe(false);
  });

  test("EINVAL for a number with no descriptor", () => {
    const w = gpioWorld();
    expect(() => w.irq.irqSetIrqType(200, IRQ_TYPE_LEVEL_HIGH)).toThrowErrno("EINVAL");
  });

  test("EINVAL from gic_set_type() for LEVEL_LOW on an SPI; the line keeps its type", () => {
    const w = gpioWorld();
    expect(() => w.irq.irqSetIrqType(w.virq, IRQ_TYPE_LEVEL_LOW)).toThrowErrno("EINVAL");
    expect(w.irq.irqGetTriggerType(w.virq)).toBe(IRQ_TYPE_LEVEL_HIGH);
  });

  test("irq_get_trigger_type() of a number with no descriptor is 0", () => {
    const w = gpioWorld();
    expect(w.irq.irqGetTriggerType(200)).toBe(0);
  });
});

describe("threaded handlers", () => {
  test("ONESHOT: the line stays masked until the thread has run, then is unmasked", () => {
    const w = gpioWorld();
    const seen: string[] = [];
    const thread = counter(IRQ_HANDLED, () => {
      seen.push(`thread masked=${!w.gicEnabled(PL061_INTID)}`);
      w.gpioQuiet();
    });
    w.irq.requestThreadedIrq(w.virq, null, thread, IRQF_ONESHOT, "arm-smmu-v3-evtq", null);
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(seen).toEqual(["thread masked=true"]);
    expect(w.gicEnabled(PL061_INTID)).toBe(true);
  });

  test("IRQ_WAKE_THREAD without a thread function is reported once", () => {
    const w = gpioWorld();
    let n = 0;
    w.irq.requestIrq(
      w.virq,
      () => {
        if (++n === 2) w.gpioQuiet();
        return IRQ_WAKE_THREAD;
      },
      0,
      "broken",
      null,
    );
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(w.log()).toEqual([
      "IRQ 9 device broken returned IRQ_WAKE_THREAD but no thread function available.",
    ]);
  });

  test("free_irq() runs a thread that is still pending before it returns", () => {
    const w = gpioWorld();
    const thread = counter();
    w.irq.requestThreadedIrq(
      w.virq,
      () => {
        w.irq.disableIrqNosync(w.virq);
        return IRQ_WAKE_THREAD;
      },
      thread,
      IRQF_ONESHOT,
      "t",
      null,
    );
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.soc.clock.run(0); // the hard interrupt runs; its thread is queued behind it
    w.irq.freeIrq(w.virq, null);
    expect(thread.calls).toBe(1);
  });
});

describe("IRQF_ONESHOT without a thread", () => {
  test("WARNs once, and masks the line around the handler", () => {
    const w = gpioWorld();
    const seen: boolean[] = [];
    const h = counter(IRQ_HANDLED, () => {
      seen.push(w.gicEnabled(PL061_INTID));
      w.gpioQuiet();
    });
    w.irq.requestIrq(w.virq, h, IRQF_ONESHOT, "oneshot", null);
    expect(w.log().slice(0, 2)).toEqual([
      "------------[ cut here ]------------",
      "WARNING: kernel/irq/manage.c:1503 at __setup_irq, CPU#0: swapper/0/0",
    ]);
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(seen).toEqual([false]);
    expect(w.gicEnabled(PL061_INTID)).toBe(true);
  });
});

describe("per-CPU interrupts (PPIs)", () => {
  /** The virtual timer's PPI 11 (INTID 27), as the arch timer maps it. */
  function timerWorld() {
    const w = irqWorld();
    const virq = w.irq.irqOfParseAndMap(w.node("/timer"), 2);
    w.log();
    return { ...w, virq };
  }

  test("request_percpu_irq() needs a dev_id and a per-CPU line", () => {
    const w = timerWorld();
    expect(() => w.irq.requestPercpuIrq(w.virq, counter(), "arch_timer", null)).toThrowErrno(
      "EINVAL",
    );
    const spi = w.irq.irqOfParseAndMap(w.node("/pl061@9030000"), 0);
    expect(() => w.irq.requestPercpuIrq(spi, counter(), "x", {})).toThrowErrno("EINVAL");
  });

  test("a second per-CPU action overlaps the first: EINVAL", () => {
    const w = timerWorld();
    w.irq.requestPercpuIrq(w.virq, counter(), "arch_timer", {});
    expect(() => w.irq.requestPercpuIrq(w.virq, counter(), "again", {})).toThrowErrno("EINVAL");
    expect(w.log()).toEqual(["genirq: Overlapping affinities for again (irq 9) on irqchip GICv3."]);
  });

  test("enable_percpu_irq() applies the trigger and unmasks; the PPI runs its handler", () => {
    const w = timerWorld();
    const h = counter(IRQ_HANDLED, () => w.soc.gic.setIrqLevel(27, false));
    w.irq.requestPercpuIrq(w.virq, h, "arch_timer", {});
    w.irq.enablePercpuIrq(w.virq);
    w.soc.gic.setIrqLevel(27, true);
    w.run();
    expect(h.calls).toBe(1);
    expect(w.irq.procInterruptsShow().split("\n")[1]).toBe(
      "   9:          1  GICv3      27 Level     arch_timer",
    );
    w.irq.disablePercpuIrq(w.virq);
    w.soc.gic.setIrqLevel(27, true);
    w.run();
    expect(h.calls).toBe(1);
  });
});

describe("handlers that misbehave", () => {
  test("an exception in a handler is a WARN, counts as IRQ_NONE, and the GIC is not left active", () => {
    const w = gpioWorld();
    let n = 0;
    w.irq.requestIrq(
      w.virq,
      function bad_handler() {
        if (++n === 1) throw new Error("boom");
        w.gpioQuiet();
        return IRQ_HANDLED;
      },
      0,
      "bad",
      null,
    );
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(n).toBe(2);
    expect(w.log().slice(0, 3)).toEqual([
      "------------[ cut here ]------------",
      "irq 9 handler bad_handler (bad) threw: Error: boom",
      "WARNING: kernel/irq/handle.c:209 at __handle_irq_event_percpu, CPU#0: swapper/0/0",
    ]);
    expect(w.gicActive(PL061_INTID)).toBe(false);
  });

  test("a stuck line nobody handles is disabled after 99,900 of 100,000", () => {
    const w = gpioWorld();
    const h = counter(IRQ_NONE);
    w.irq.requestIrq(w.virq, h, 0, "9030000.pl061", null);
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(h.calls).toBe(100_000);
    expect(w.log()).toEqual([
      'irq 9: nobody cared (try booting with the "irqpoll" option)',
      "handlers:",
      "[<0000000054e1bab0>] pl061_irq_handler",
      "Disabling IRQ #9",
    ]);
    expect(w.irq.irqInfo(w.virq)).toMatchObject({ depth: 1, disabled: true, masked: true });
    expect(w.gicEnabled(PL061_INTID)).toBe(false);
  });

  test("a bogus return value is reported", () => {
    const w = gpioWorld();
    w.irq.requestIrq(
      w.virq,
      () => {
        w.gpioQuiet();
        return 7;
      },
      0,
      "x",
      null,
    );
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(w.log().slice(0, 2)).toEqual(["irq event 9: bogus return value 7", "handlers:"]);
  });
});

describe("trace", () => {
  test("irq:entry and irq:exit around each handler, with the verdict", () => {
    const w = gpioWorld();
    let n = 0;
    w.irq.requestIrq(
      w.virq,
      () => {
        if (++n === 2) w.gpioQuiet();
        return n === 1 ? IRQ_NONE : IRQ_HANDLED;
      },
      0,
      "9030000.pl061",
      null,
    );
    w.gpioLevelHigh();
    w.events();
    w.gpio.setInput(0, true);
    w.run();
    const irqEvents = w.events().filter((e) => e.type.startsWith("irq:"));
    expect(irqEvents).toEqual([
      { time: 0, type: "irq:entry", virq: 9, hwirq: 39, name: "9030000.pl061" },
      { time: 0, type: "irq:exit", virq: 9, hwirq: 39, name: "9030000.pl061", ret: "unhandled" },
      { time: 0, type: "irq:entry", virq: 9, hwirq: 39, name: "9030000.pl061" },
      { time: 0, type: "irq:exit", virq: 9, hwirq: 39, name: "9030000.pl061", ret: "handled" },
    ]);
  });
});
