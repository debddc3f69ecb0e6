import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import type { DtNode } from "../devicetree/tree.js";
import {
  SP804_CTRL,
  SP804_REGISTER_MAP,
  Sp804,
  type Sp804Options,
  type Sp804RegisterName,
  sp804Model,
} from "./sp804.js";

const BASE = 0x0c00_2000;
const US = 1000; // one tick at the default 1 MHz
const ID = {
  name: "timer@c002000",
  path: "/platform-bus@c000000/timer@c002000",
  compatible: ["arm,sp804", "arm,primecell"],
  windows: [{ base: BASE, size: 0x1000 }],
};

const { ONESHOT, SIZE32, INTEN, PERIODIC, ENABLE } = SP804_CTRL;
const DIV16 = 1 << 2;
const DIV256 = 2 << 2;

function offsetOf(name: Sp804RegisterName, timer = 1): number {
  for (const e of SP804_REGISTER_MAP.entries()) {
    if (e.name === name && e.index === (e.spec.count ? timer - 1 : 0)) return e.offset;
  }
  throw new Error(name);
}

function board(options: Sp804Options = {}) {
  const bus = new SystemBus(new PhysicalMemory());
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const timer = new Sp804({ clock, trace, bus }, ID, options);
  bus.addMmio(timer.name, BASE, 0x1000, timer, 0);
  const read = (name: Sp804RegisterName, t = 1) => bus.read(BASE + offsetOf(name, t), 4);
  const write = (name: Sp804RegisterName, value: number, t = 1) =>
    bus.write(BASE + offsetOf(name, t), 4, value);
  return { bus, clock, timer, read, write, irq: () => timer.irqs[0]!.level };
}

describe("SP804 reset state", () => {
  it("every register of both timers reads its TRM reset value", () => {
    const b = board();
    const seen: string[] = [];
    for (const e of SP804_REGISTER_MAP.entries()) {
      if (e.spec.access === "wo") continue;
      expect(b.bus.read(BASE + e.offset, 4), `${e.name}[${e.index}]`).toBe(e.spec.reset ?? 0);
      seen.push(`${e.name}@${e.offset.toString(16)}`);
    }
    expect(seen).toContain("Value@24");
    expect(seen).toContain("Control@28");
    expect(b.timer.guestErrors).toEqual([]);
    expect(b.irq()).toBe(false);
  });

  it("identifies as an ARM SP804 PrimeCell", () => {
    const b = board();
    const word = (base: number) =>
      [0, 1, 2, 3].reduce((v, i) => v | (b.bus.read(BASE + base + 4 * i, 4) << (8 * i)), 0) >>> 0;
    expect(word(0xfe0)).toBe(0x0014_1804);
    expect(word(0xff0)).toBe(0xb105_f00d);
  });

  it("does not count while disabled", () => {
    const b = board();
    b.clock.run(1_000_000);
    expect(b.read("Value")).toBe(0xffff_ffff);
    expect(b.clock.pending).toBe(0);
  });

  it("reset() stops both timers and forgets their interrupts", () => {
    const b = board();
    b.write("Load", 1);
    b.write("Control", SIZE32 | PERIODIC | INTEN | ENABLE);
    b.clock.run(US);
    expect(b.irq()).toBe(true);
    b.timer.reset();
    expect(b.irq()).toBe(false);
    expect(b.read("Control")).toBe(0x20);
    b.clock.run(100 * US);
    expect(b.read("RIS")).toBe(0);
    expect(b.read("Value")).toBe(0xffff_ffff);
  });
});

describe("SP804 counting", () => {
  it("runs as Linux's sp804 clocksource: 32-bit periodic from 0xFFFFFFFF at 1 MHz", () => {
    const b = board();
    b.write("Control", 0);
    b.write("Load", 0xffff_ffff);
    b.write("Control", SIZE32 | ENABLE | PERIODIC);
    b.clock.run(1_234_567);
    expect(b.read("Value")).toBe(0xffff_ffff - 1234);
  });

  it("reaches zero after Load ticks and reloads one tick later in periodic mode", () => {
    const b = board();
    b.write("Load", 10);
    b.write("Control", SIZE32 | PERIODIC | INTEN | ENABLE);
    b.clock.run(10 * US - 1);
    expect(b.read("Value")).toBe(1);
    expect(b.irq()).toBe(false);
    b.clock.run(1);
    expect(b.read("Value")).toBe(0);
    expect(b.read("RIS")).toBe(1);
    expect(b.read("MIS")).toBe(1);
    expect(b.irq()).toBe(true);
    b.write("IntClr", 0);
    expect(b.irq()).toBe(false);
    b.clock.run(US);
    expect(b.read("Value")).toBe(10);
    b.clock.run(10 * US - 1);
    expect(b.irq()).toBe(false);
    b.clock.run(1);
    expect(b.irq()).toBe(true);
  });

  it("wraps to the maximum in free-running mode, 16 and 32 bit", () => {
    for (const [size, max] of [
      [0, 0xffff],
      [SIZE32, 0xffff_ffff],
    ] as const) {
      const b = board();
      b.write("Load", 5);
      b.write("Control", size | INTEN | ENABLE);
      b.clock.run(5 * US);
      expect(b.read("RIS")).toBe(1);
      b.write("IntClr", 1);
      b.clock.run(US);
      expect(b.read("Value")).toBe(max);
      b.clock.run(3 * US);
      expect(b.read("Value")).toBe(max - 3);
      expect(b.read("RIS")).toBe(0);
    }
  });

  it("halts at zero in one-shot mode and interrupts once", () => {
    const b = board();
    b.write("Load", 3);
    b.write("Control", SIZE32 | ONESHOT | INTEN | ENABLE);
    b.clock.run(3 * US);
    expect(b.irq()).toBe(true);
    b.write("IntClr", 1);
    expect(b.clock.pending).toBe(0);
    b.clock.run(1_000 * US);
    expect(b.read("Value")).toBe(0);
    expect(b.read("RIS")).toBe(0);
    expect(b.read("Control") & ENABLE).toBe(ENABLE);
    b.write("Load", 2); // reprogramming restarts it
    b.clock.run(2 * US);
    expect(b.read("RIS")).toBe(1);
  });

  it("continues in periodic mode when the one-shot bit is cleared after halting", () => {
    const b = board();
    b.write("Load", 4);
    b.write("Control", SIZE32 | ONESHOT | PERIODIC | ENABLE);
    b.clock.run(10 * US);
    b.write("IntClr", 1);
    b.write("Control", SIZE32 | PERIODIC | ENABLE);
    expect(b.read("RIS")).toBe(0);
    b.clock.run(US);
    expect(b.read("Value")).toBe(4);
    b.clock.run(4 * US);
    expect(b.read("RIS")).toBe(1);
  });

  it("divides TIMCLK by the prescaler", () => {
    for (const [pre, div] of [
      [0, 1],
      [DIV16, 16],
      [DIV256, 256],
    ] as const) {
      const b = board();
      b.write("Load", 100);
      b.write("Control", SIZE32 | PERIODIC | pre | ENABLE);
      b.clock.run(10 * div * US);
      expect(b.read("Value"), `/${div}`).toBe(90);
    }
  });

  it("restarts the count on a Load write but not on a BGLoad write", () => {
    const b = board();
    b.write("Load", 10);
    b.write("Control", SIZE32 | PERIODIC | ENABLE);
    b.clock.run(3 * US);
    b.write("BGLoad", 100);
    expect(b.read("Value")).toBe(7);
    expect(b.read("Load")).toBe(100);
    b.clock.run(8 * US); // 7 ticks to zero, then the reload uses the new value
    expect(b.read("Value")).toBe(100);
    b.write("Load", 20);
    expect(b.read("Value")).toBe(20);
    expect(b.read("BGLoad")).toBe(20);
    b.clock.run(US);
    expect(b.read("Value")).toBe(19);
  });

  it("freezes the count while disabled and resumes from it", () => {
    const b = board();
    b.write("Load", 50);
    b.write("Control", SIZE32 | PERIODIC | ENABLE);
    b.clock.run(20 * US);
    b.write("Control", SIZE32 | PERIODIC);
    b.clock.run(100 * US);
    expect(b.read("Value")).toBe(30);
    b.write("Control", SIZE32 | PERIODIC | ENABLE);
    b.clock.run(30 * US);
    expect(b.read("RIS")).toBe(1);
  });

  it("keeps the tick phase across Control writes that leave the prescaler alone", () => {
    const b = board();
    b.write("Load", 10);
    b.write("Control", SIZE32 | PERIODIC | ENABLE);
    b.clock.run(2 * US + 600);
    b.write("Control", SIZE32 | PERIODIC | INTEN | ENABLE);
    b.clock.run(400);
    expect(b.read("Value")).toBe(7);
  });

  it("counts only the low half in 16-bit mode", () => {
    const b = board();
    b.write("Load", 0x0001_0005); // written in 16-bit mode, as the reset state is
    expect(b.read("Value")).toBe(0x0001_0005);
    b.write("Control", PERIODIC | ENABLE);
    b.clock.run(2 * US);
    expect(b.read("Value")).toBe(3);
  });

  it("interrupts at once when Load is 0, now or when enabled", () => {
    const b = board();
    b.write("Control", SIZE32 | PERIODIC | INTEN | ENABLE);
    b.write("Load", 0);
    expect(b.irq()).toBe(true);
    const c = board();
    c.write("Load", 0);
    expect(c.read("RIS")).toBe(0);
    c.write("Control", SIZE32 | ONESHOT | INTEN | ENABLE);
    expect(c.irq()).toBe(true);
  });

  it("places ticks exactly for clocks that do not divide a nanosecond evenly", () => {
    const b = board({ timer1Hz: 24_000_000 });
    b.write("Load", 1);
    b.write("Control", SIZE32 | ONESHOT | INTEN | ENABLE);
    b.clock.run(41); // 1/24 MHz = 41.67 ns
    expect(b.irq()).toBe(false);
    b.clock.run(1);
    expect(b.irq()).toBe(true);
    expect(b.timer.clocksHz).toEqual([24_000_000, 1_000_000]);
    expect(() => board({ timer2Hz: 0 })).toThrow(RangeError);
    expect(() => board({ timer1Hz: 1.5 })).toThrow(RangeError);
  });
});

describe("SP804 interrupts", () => {
  it("keeps RIS without IntEnable and drives the line once enabled", () => {
    const b = board();
    b.write("Load", 1);
    b.write("Control", SIZE32 | ONESHOT | ENABLE);
    b.clock.run(US);
    expect(b.read("RIS")).toBe(1);
    expect(b.read("MIS")).toBe(0);
    expect(b.irq()).toBe(false);
    b.write("Control", SIZE32 | ONESHOT | INTEN | ENABLE);
    expect(b.irq()).toBe(true);
  });

  it("ORs both timers onto TIMINTC", () => {
    const b = board();
    b.write("Load", 2, 1);
    b.write("Load", 3, 2);
    b.write("Control", SIZE32 | ONESHOT | INTEN | ENABLE, 1);
    b.write("Control", SIZE32 | ONESHOT | INTEN | ENABLE, 2);
    const seen: string[] = [];
    b.timer.irqs[0]!.connect({ setIrqLevel: (intid, level) => seen.push(`${intid}:${level}`) }, 35);
    b.clock.run(3 * US);
    expect([b.read("MIS", 1), b.read("MIS", 2)]).toEqual([1, 1]);
    b.write("IntClr", 1, 1);
    expect(b.irq()).toBe(true);
    b.write("IntClr", 1, 2);
    expect(b.irq()).toBe(false);
    expect(seen).toEqual(["35:true", "35:false"]);
  });

  it("stays asserted across further periods until IntClr", () => {
    const b = board();
    b.write("Load", 1);
    b.write("Control", SIZE32 | PERIODIC | INTEN | ENABLE);
    b.clock.run(20 * US);
    expect(b.irq()).toBe(true);
    b.write("IntClr", 1);
    expect(b.irq()).toBe(false);
    b.clock.run(2 * US);
    expect(b.irq()).toBe(true);
  });

  it("drives TIMINTC from ITOP in integration test mode", () => {
    const b = board();
    b.write("ITCR", 1);
    b.write("ITOP", 2);
    expect(b.irq()).toBe(true);
    b.write("ITOP", 0);
    expect(b.irq()).toBe(false);
    b.write("ITOP", 1);
    b.write("ITCR", 0);
    expect(b.irq()).toBe(false);
    expect(b.read("ITCR")).toBe(0);
  });
});

describe("SP804 guest errors", () => {
  it("logs writes to read-only registers (Linux writes Value) and leaves them alone", () => {
    const b = board();
    b.write("Value", 0xffff_ffff);
    b.write("Value", 5, 2);
    b.write("RIS", 1);
    b.write("MIS", 1, 2);
    b.write("PeriphID0", 0);
    expect(b.read("Value")).toBe(0xffff_ffff);
    expect(b.timer.guestErrors).toEqual([
      "write to read-only register Value1",
      "write to read-only register Value2",
      "write to read-only register RIS1",
      "write to read-only register MIS2",
      "write to read-only register PeriphID0",
    ]);
  });

  it("logs reads of write-only registers and of holes, narrow writes and prescale 11", () => {
    const b = board();
    expect(b.read("IntClr", 2)).toBe(0);
    expect(b.read("ITOP")).toBe(0);
    expect(b.bus.read(BASE + 0x40, 4)).toBe(0);
    b.bus.write(BASE + 0xf08, 4, 1);
    b.bus.write(BASE + offsetOf("Load"), 2, 1);
    b.write("Load", 10);
    b.write("Control", SIZE32 | (3 << 2) | ENABLE);
    b.clock.run(256 * US);
    expect(b.read("Value")).toBe(9);
    expect(b.timer.guestErrors).toEqual([
      "read of write-only register IntClr2",
      "read of write-only register ITOP",
      "read of unmapped offset 0x40",
      "write of 0x1 to unmapped offset 0xf08",
      "2-byte write at offset 0x0 ignored (32-bit registers)",
      "timer1 prescale 11 is undefined (treated as /256)",
    ]);
  });
});

describe("SP804 properties", () => {
  type Mode = "free" | "periodic" | "oneshot";
  /** Steps the counter one tick at a time: an independent statement of the TRM rules. */
  function reference(load: number, mode: Mode, size32: boolean, ticks: number) {
    const max = size32 ? 0xffff_ffff : 0xffff;
    let v = load & max;
    let ris = v === 0;
    for (let i = 0; i < ticks; i++) {
      if (v === 0) {
        if (mode === "oneshot") break;
        v = mode === "periodic" ? load & max : max;
        if (v === 0) ris = true;
      } else if (--v === 0) ris = true;
    }
    return { value: v, ris };
  }

  it("Value and RIS after t ns match a tick-by-tick reference", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.constantFrom<Mode>("free", "periodic", "oneshot"),
        fc.boolean(),
        fc.constantFrom(0, 1, 2),
        fc.constantFrom(1_000_000, 24_000_000, 32_768),
        fc.integer({ min: 0, max: 1_000_000 }),
        (load, mode, size32, pre, hz, frac) => {
          const div = [1, 16, 256][pre]!;
          const maxNs = Math.floor((8000 * div * 1e9) / hz);
          const t = Math.floor((maxNs * frac) / 1_000_000);
          const b = board({ timer2Hz: hz });
          const control =
            (size32 ? SIZE32 : 0) |
            (pre << 2) |
            (mode === "periodic" ? PERIODIC : 0) |
            (mode === "oneshot" ? ONESHOT : 0) |
            ENABLE;
          b.write("Load", load, 2);
          b.write("Control", control, 2);
          b.clock.run(t);
          const ticks = Number((BigInt(t) * BigInt(hz)) / (BigInt(div) * 1_000_000_000n));
          const want = reference(load, mode, size32, ticks);
          expect(b.read("Value", 2)).toBe(want.value);
          expect(b.read("RIS", 2)).toBe(want.ris ? 1 : 0);
        },
      ),
    );
  });

  it("a periodic timer interrupts once per Load + 1 ticks, whenever IntClr is written", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 20 }),
        (load, gaps) => {
          const b = board();
          b.write("Load", load);
          b.write("Control", SIZE32 | PERIODIC | INTEN | ENABLE);
          let lastClear = 0;
          for (const gap of gaps) {
            b.clock.run(gap * US);
            const now = b.clock.now / US;
            // Zero arrivals happen at ticks load, load + (load+1), ...; one fell in (lastClear, now]?
            const arrivalsBy = (t: number) =>
              t < load ? 0 : Math.floor((t - load) / (load + 1)) + 1;
            const expected = arrivalsBy(now) > arrivalsBy(lastClear);
            expect(b.irq()).toBe(expected);
            b.write("IntClr", 1);
            lastClear = now;
          }
        },
      ),
    );
  });
});

describe("sp804Model", () => {
  const cells = (...v: number[]) => {
    const out = new Uint8Array(4 * v.length);
    const view = new DataView(out.buffer);
    for (const [i, x] of v.entries()) view.setUint32(4 * i, x);
    return out;
  };
  const str = (s: string) => Uint8Array.from(`${s}\0`, (c) => c.charCodeAt(0));
  const node = (
    name: string,
    props: Record<string, Uint8Array>,
    children: DtNode[] = [],
  ): DtNode => ({
    name,
    properties: Object.entries(props).map(([n, value]) => ({ name: n, value })),
    children,
    labels: [],
  });
  const fixed = (phandle: number, hz: number) =>
    node(`clk${phandle}`, {
      phandle: cells(phandle),
      compatible: str("fixed-clock"),
      "clock-frequency": cells(hz),
      "#clock-cells": cells(0),
    });

  function create(clocks: number[]) {
    const timerNode = node("timer@c002000", clocks.length ? { clocks: cells(...clocks) } : {});
    const tree = {
      root: node("", {}, [
        fixed(1, 1_000_000),
        fixed(2, 2_000_000),
        fixed(3, 24_000_000),
        timerNode,
      ]),
      memoryReservations: [],
      bootCpuidPhys: 0,
    };
    const clock = new VirtualClock();
    const ctx = {
      clock,
      trace: new HwTrace(() => clock.now),
      bus: new SystemBus(new PhysicalMemory()),
    };
    return sp804Model.create(ctx, ID, timerNode, tree) as Sp804;
  }

  it("reads TIMCLK from `clocks` as Linux sp804_of_init() does", () => {
    expect(sp804Model.compatible).toEqual(["arm,sp804"]);
    expect(create([2, 3]).clocksHz).toEqual([2_000_000, 2_000_000]);
    expect(create([2, 1, 3]).clocksHz).toEqual([2_000_000, 1_000_000]);
    expect(create([]).clocksHz).toEqual([1_000_000, 1_000_000]);
    expect(create([]).dma).toBeNull();
  });
});
