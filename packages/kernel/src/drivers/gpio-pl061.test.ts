import { Pl061 as Pl061Hw } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { IRQ_HANDLED, IRQF_TRIGGER_HIGH, IRQF_TRIGGER_RISING } from "../irq/irq-flags.js";
import { boardWorld } from "./board-test-fixture.js";
import { PL061_REG, pl061Gpiochip } from "./gpio-pl061.js";
import { GPIO_DYNAMIC_BASE, GPIO_LINE_DIRECTION_IN, GPIO_LINE_DIRECTION_OUT } from "./gpiolib.js";

const BASE = 0x0903_0000;
const DEV = "9030000.pl061";

function gpioWorld() {
  const w = boardWorld();
  const adev = w.amba(DEV);
  const hw = w.soc.deviceOf(Pl061Hw, "pl061@9030000");
  const reg = (off: number) => w.soc.bus.read(BASE + off, 1);
  const parent = adev.irq[0] as number;
  return { ...w, adev, hw, reg, parent, gc: pl061Gpiochip(adev) };
}

/** A handler that counts its calls and runs `body` each time. */
function counter(body: () => void = () => {}) {
  const h = Object.assign(
    () => {
      h.calls++;
      body();
      return IRQ_HANDLED;
    },
    { calls: 0 },
  );
  return h;
}

describe("pl061_gpio probe", () => {
  test("registers the gpiochip and logs as 7.3 does", () => {
    const w = gpioWorld();
    expect(w.adev.driver?.name).toBe("pl061_gpio");
    expect(w.kernel.printk.records().map((r) => r.text)).toContain(
      "pl061_gpio 9030000.pl061: PL061 GPIO chip registered",
    );
    expect(w.gc).toMatchObject({ name: "gpiochip0", base: GPIO_DYNAMIC_BASE, ngpio: 8 });
    expect(w.reg(PL061_REG.IE)).toBe(0);
  });

  test("chains its handler to the parent line: started, unrequestable, not in /proc", () => {
    const w = gpioWorld();
    expect(w.irq.irqInfo(w.parent)).toMatchObject({
      hwirq: 39,
      flow: "pl061_irq_handler",
      disabled: false,
      actions: [],
    });
    expect(w.interrupts()).not.toContain("  39 ");
    expect(() => w.irq.requestIrq(w.parent, () => IRQ_HANDLED, 0, "vfio", null)).toThrowErrno(
      "EINVAL",
    );
  });
});

describe("GPIO lines", () => {
  test("an output drives its pad through the DATA address mask", () => {
    const w = gpioWorld();
    w.gc.directionOutput(2, 1);
    expect(w.hw.outputs()).toBe(1 << 2);
    expect(w.gc.getDirection(2)).toBe(GPIO_LINE_DIRECTION_OUT);
    w.gc.setValue(2, 0);
    expect(w.hw.outputs()).toBe(0);
    w.gc.setValue(2, 1);
    expect(w.gc.getValue(2)).toBe(1);
    // One line per access: line 3's bit is untouched.
    w.gc.directionOutput(3, 0);
    expect(w.hw.outputs()).toBe(1 << 2);
  });

  test("an input reads the level the outside drives", () => {
    const w = gpioWorld();
    expect(w.gc.getDirection(5)).toBe(GPIO_LINE_DIRECTION_IN);
    w.hw.setInput(5, true);
    expect(w.gc.getValue(5)).toBe(1);
    w.hw.setInput(5, false);
    expect(w.gc.getValue(5)).toBe(0);
    w.gc.directionOutput(5, 1);
    w.gc.directionInput(5);
    expect(w.gc.getDirection(5)).toBe(GPIO_LINE_DIRECTION_IN);
  });

  test("EINVAL for a line the chip does not have", () => {
    const w = gpioWorld();
    expect(() => w.gc.getValue(8)).toThrowErrno("EINVAL");
    expect(() => w.gc.directionOutput(-1, 0)).toThrowErrno("EINVAL");
  });
});

describe("line interrupts", () => {
  test("a rising-edge line: requested, fired through the chained parent, acknowledged", () => {
    const w = gpioWorld();
    const virq = w.gc.toIrq(3);
    const h = counter();
    w.irq.requestIrq(virq, h, IRQF_TRIGGER_RISING, "gpio-button", {});
    expect(w.reg(PL061_REG.IS) & 8).toBe(0);
    expect(w.reg(PL061_REG.IEV) & 8).toBe(8);
    expect(w.reg(PL061_REG.IE) & 8).toBe(8);
    w.hw.setInput(3, true);
    w.run();
    expect(h.calls).toBe(1);
    expect(w.reg(PL061_REG.RIS)).toBe(0);
    expect(w.irq.irqInfo(virq)).toMatchObject({ flow: "handle_edge_irq", count: 1 });
    expect(w.interrupts()).toContain(
      `${String(virq).padStart(4)}:          1  9030000.pl061    3 Edge      gpio-button\n`,
    );
  });

  test("a level-high line runs with the line masked and fires again while it stays high", () => {
    const w = gpioWorld();
    const virq = w.gc.toIrq(0);
    const ie: number[] = [];
    const h = counter(() => {
      ie.push(w.reg(PL061_REG.IE) & 1);
      if (h.calls === 2) w.hw.setInput(0, false);
    });
    w.irq.requestIrq(virq, h, IRQF_TRIGGER_HIGH, "gpio-level", {});
    expect(w.reg(PL061_REG.IS) & 1).toBe(1);
    w.hw.setInput(0, true);
    w.run();
    // The second call drops the level; RIS latched it again at that call's ack (the PL061's
    // RIS is sticky, as QEMU's is), so one more interrupt comes before the line goes quiet.
    expect(h.calls).toBe(3);
    expect(ie).toEqual([0, 0, 0]);
    expect(w.irq.irqInfo(virq)).toMatchObject({ flow: "handle_level_irq", masked: false });
    expect(w.reg(PL061_REG.RIS)).toBe(0);
  });

  test("an edge that finds the line disabled is replayed at enable (the resend tasklet)", () => {
    const w = gpioWorld();
    const virq = w.gc.toIrq(1);
    const h = counter();
    w.irq.requestIrq(virq, h, IRQF_TRIGGER_RISING, "gpio-edge", {});
    w.irq.disableIrq(virq);
    w.hw.setInput(1, true);
    w.run();
    expect(h.calls).toBe(0);
    expect(w.reg(PL061_REG.IE) & 2).toBe(0);
    w.irq.enableIrq(virq);
    w.run();
    expect(h.calls).toBe(1);
  });

  test("EINVAL for level and edge at once, with pl061_irq_type()'s complaint", () => {
    const w = gpioWorld();
    const virq = w.gc.toIrq(1);
    w.mark();
    expect(() =>
      w.irq.requestIrq(virq, counter(), IRQF_TRIGGER_HIGH | IRQF_TRIGGER_RISING, "both", {}),
    ).toThrowErrno("EINVAL");
    expect(w.log()).toEqual([
      "pl061_gpio 9030000.pl061: trying to configure line 1 for both level and edge detection, choose one!",
      `genirq: Setting trigger mode 5 for irq ${virq} failed (pl061_irq_type)`,
    ]);
  });

  test("ENXIO for the interrupt of a line the chip does not have", () => {
    const w = gpioWorld();
    expect(() => w.gc.toIrq(8)).toThrowErrno("ENXIO");
  });
});

describe("pl061_gpio unbind", () => {
  test("the parent line stays IRQ_NOREQUEST: a later request_irq() gets EINVAL", () => {
    const w = gpioWorld();
    const virq = w.gc.toIrq(4);
    w.echo("/sys/bus/amba/drivers/pl061_gpio/unbind", DEV);
    expect(w.adev.driver).toBeNull();
    expect(w.irq.irqInfo(w.parent)).toMatchObject({
      depth: 1,
      disabled: true,
      masked: true,
      flow: "handle_bad_irq",
    });
    // vfio-amba's VFIO_DEVICE_SET_IRQS on a real 7.3 fails the same way.
    expect(() => w.irq.requestIrq(w.parent, () => IRQ_HANDLED, 0, "vfio-irq", {})).toThrowErrno(
      "EINVAL",
    );
    expect(w.irq.irqInfo(virq)).toBeUndefined();
  });

  test("a rebind chains the handler again and numbers the chip gpiochip0 again", () => {
    const w = gpioWorld();
    w.echo("/sys/bus/amba/drivers/pl061_gpio/unbind", DEV);
    w.echo("/sys/bus/amba/drivers/pl061_gpio/bind", DEV);
    const gc = pl061Gpiochip(w.adev);
    expect(gc).toMatchObject({ name: "gpiochip0", base: GPIO_DYNAMIC_BASE });
    const virq = gc.toIrq(3);
    const h = counter();
    w.irq.requestIrq(virq, h, IRQF_TRIGGER_RISING, "again", {});
    w.hw.setInput(3, true);
    w.run();
    expect(h.calls).toBe(1);
  });

  test("ENODEV for the gpiochip of an unbound PL061", () => {
    const w = gpioWorld();
    w.echo("/sys/bus/amba/drivers/pl061_gpio/unbind", DEV);
    expect(() => pl061Gpiochip(w.adev)).toThrowErrno("ENODEV");
  });
});
