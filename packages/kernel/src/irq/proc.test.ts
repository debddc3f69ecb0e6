import { describe, expect, test } from "vitest";
import { toJsonLines } from "../trace/trace-bus.js";
import { IRQ_HANDLED, IRQF_ONESHOT, IRQF_SHARED } from "./irq-flags.js";
import { irqWorld, PL061 } from "./irq-test-fixture.js";
import { irqProcPrec } from "./proc.js";

const ARCH_LINES = [
  "IPI0:          0  Rescheduling interrupts",
  "IPI1:          0  Function call interrupts",
  "IPI2:          0  CPU stop interrupts",
  "IPI3:          0  CPU stop NMIs",
  "IPI4:          0  Timer broadcast interrupts",
  "IPI5:          0  IRQ work interrupts",
  "IPI6:          0  CPU backtrace interrupts",
  "IPI7:          0  KGDB roundup interrupts",
  " Err:          0",
];

describe("/proc/interrupts", () => {
  test("after boot: the header, no device rows (the IPIs are hidden), the IPI and Err lines", () => {
    const { irq } = irqWorld();
    expect(irq.procInterruptsShow()).toBe(
      `${["            CPU0       ", ...ARCH_LINES].join("\n")}\n`,
    );
  });

  test("one row per requested line: count, chip, hwirq, trigger, action names", () => {
    const w = irqWorld();
    const gpio = w.irq.irqOfParseAndMap(w.node("/pl061@9030000"), 0);
    const evtq = w.irq.irqOfParseAndMap(w.node("/smmuv3@9050000"), 0);
    // Mapped but never requested: no row.
    w.irq.irqOfParseAndMap(w.node("/pl011@9000000"), 0);
    let n = 0;
    const handler = () => {
      w.writeGpio(PL061.IC, 1);
      if (++n === 3) w.gpioQuiet();
      return IRQ_HANDLED;
    };
    w.irq.requestIrq(gpio, handler, IRQF_SHARED, "9030000.pl061", { a: 1 });
    w.irq.requestIrq(gpio, () => 0, IRQF_SHARED, "second", { b: 2 });
    w.irq.requestThreadedIrq(evtq, null, () => IRQ_HANDLED, IRQF_ONESHOT, "arm-smmu-v3-evtq", {});
    w.gpioLevelHigh();
    w.gpio.setInput(0, true);
    w.run();
    expect(w.irq.procInterruptsShow().split("\n")).toEqual([
      "            CPU0       ",
      "   9:          3  GICv3      39 Level     9030000.pl061, second",
      "  10:          0  GICv3     106 Edge      arm-smmu-v3-evtq",
      ...ARCH_LINES,
      "",
    ]);
  });

  test("a freed line disappears; a disabled one keeps its row and count", () => {
    const w = irqWorld();
    const gpio = w.irq.irqOfParseAndMap(w.node("/pl061@9030000"), 0);
    const uart = w.irq.irqOfParseAndMap(w.node("/pl011@9000000"), 0);
    w.irq.requestIrq(gpio, () => IRQ_HANDLED, 0, "9030000.pl061", null);
    w.irq.requestIrq(uart, () => IRQ_HANDLED, 0, "uart-pl011", null);
    w.irq.disableIrq(uart);
    w.irq.freeIrq(gpio, null);
    expect(w.irq.procInterruptsShow().split("\n").slice(1, 2)).toEqual([
      "  10:          0  GICv3      33 Level     uart-pl011",
    ]);
  });

  test("a line whose device tree gave no trigger shows Edge: IRQD_LEVEL is never set", () => {
    const w = irqWorld();
    const virq = w.irq.irqCreateOfMapping(w.node("/intc@8000000"), [0, 20, 0]);
    w.irq.requestIrq(virq, () => IRQ_HANDLED, 0, "no-trigger", null);
    expect(w.irq.procInterruptsShow().split("\n")[1]).toBe(
      "   9:          0  GICv3      52 Edge      no-trigger",
    );
  });

  test("the number column widens to 5 digits once 10000 numbers exist", () => {
    expect(irqProcPrec(64)).toBe(4);
    expect(irqProcPrec(9999)).toBe(4);
    expect(irqProcPrec(10_000)).toBe(5);
    expect(irqProcPrec(100_000)).toBe(6);
  });
});

describe("determinism", () => {
  test("the same scenario gives the same trace and the same log, byte for byte", () => {
    const scenario = () => {
      const w = irqWorld();
      const gpio = w.irq.irqOfParseAndMap(w.node("/pl061@9030000"), 0);
      let n = 0;
      w.irq.requestIrq(
        gpio,
        () => {
          w.writeGpio(PL061.IC, 1);
          if (++n % 4 === 0) w.gpioQuiet();
          return n % 3 ? IRQ_HANDLED : 0;
        },
        0,
        "9030000.pl061",
        null,
      );
      w.gpioLevelHigh();
      for (let i = 0; i < 5; i++) {
        w.soc.run(1_000_000);
        w.gpio.setInput(0, true);
        if (i === 2) w.irq.disableIrqNosync(gpio);
        w.run();
        if (i === 3) w.irq.enableIrq(gpio);
        w.run();
      }
      return toJsonLines(w.events()) + w.printk.dmesg().join("\n") + w.irq.procInterruptsShow();
    };
    const a = scenario();
    expect(a).toContain('"type":"irq:entry"');
    expect(scenario()).toBe(a);
  });
});
