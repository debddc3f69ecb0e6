import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import {
  PL031_REGISTER_MAP,
  Pl031,
  type Pl031Options,
  type Pl031RegisterName,
  pl031Model,
} from "./pl031.js";

const BASE = 0x0901_0000;
const S = 1_000_000_000;
const ID = {
  name: "pl031@9010000",
  path: "/pl031@9010000",
  compatible: ["arm,pl031", "arm,primecell"],
  windows: [{ base: BASE, size: 0x1000 }],
};

function offsetOf(name: Pl031RegisterName): number {
  for (const e of PL031_REGISTER_MAP.entries()) if (e.name === name) return e.offset;
  throw new Error(name);
}

function board(options: Pl031Options = {}) {
  const bus = new SystemBus(new PhysicalMemory());
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const rtc = new Pl031({ clock, trace, bus }, ID, options);
  bus.addMmio(rtc.name, BASE, 0x1000, rtc, 0);
  const read = (name: Pl031RegisterName) => bus.read(BASE + offsetOf(name), 4);
  const write = (name: Pl031RegisterName, value: number) =>
    bus.write(BASE + offsetOf(name), 4, value);
  return { bus, clock, rtc, read, write };
}

describe("PL031 reset state", () => {
  it("every register reads its TRM reset value", () => {
    const b = board();
    for (const e of PL031_REGISTER_MAP.entries()) {
      if (e.spec.access === "wo") continue;
      expect(b.bus.read(BASE + e.offset, 4), e.name).toBe(e.spec.reset ?? 0);
    }
    expect(b.rtc.guestErrors).toEqual([]);
    expect(b.rtc.irqs[0]!.level).toBe(false);
  });

  it("identifies as an ARM PL031 PrimeCell", () => {
    const b = board();
    const word = (base: number) =>
      [0, 1, 2, 3].reduce((v, i) => v | (b.bus.read(BASE + base + 4 * i, 4) << (8 * i)), 0) >>> 0;
    expect(word(0xfe0)).toBe(0x0014_1031);
    expect(word(0xff0)).toBe(0xb105_f00d);
  });

  it("starts from the configured initial time", () => {
    const b = board({ initialSeconds: 1_700_000_000 });
    expect(b.read("DR")).toBe(1_700_000_000);
    b.write("LR", 5);
    b.rtc.reset();
    expect(b.read("DR")).toBe(1_700_000_000);
    expect(b.read("LR")).toBe(0);
    expect(() => board({ initialSeconds: -1 })).toThrow(RangeError);
    expect(() => board({ initialSeconds: 2 ** 32 })).toThrow(RangeError);
  });
});

describe("PL031 counter", () => {
  it("does not count until CR.EN is written, then counts whole virtual seconds", () => {
    const b = board();
    b.clock.run(5 * S);
    expect(b.read("DR")).toBe(0);
    expect(b.read("CR")).toBe(0);
    b.write("CR", 1);
    expect(b.read("CR")).toBe(1);
    b.clock.run(S - 1);
    expect(b.read("DR")).toBe(0);
    b.clock.run(1);
    expect(b.read("DR")).toBe(1);
  });

  it("advances on the free-running CLK1HZ edges, whatever the phase it was started at", () => {
    const b = board();
    b.clock.run(S / 2);
    b.write("CR", 1);
    b.clock.run(S / 2 - 1);
    expect(b.read("DR")).toBe(0);
    b.clock.run(1);
    expect(b.read("DR")).toBe(1);
  });

  it("cannot be stopped once started", () => {
    const b = board();
    b.write("CR", 1);
    b.write("CR", 0);
    expect(b.read("CR")).toBe(1);
    b.clock.run(3 * S);
    expect(b.read("DR")).toBe(3);
  });

  it("loads LR into the counter, running or not, and reads LR back", () => {
    const b = board();
    b.write("LR", 1000);
    b.clock.run(2 * S);
    expect(b.read("DR")).toBe(1000);
    b.write("CR", 1);
    b.clock.run(3 * S);
    expect(b.read("DR")).toBe(1003);
    b.write("LR", 50);
    expect(b.read("DR")).toBe(50);
    expect(b.read("LR")).toBe(50);
    b.clock.run(S);
    expect(b.read("DR")).toBe(51);
  });

  it("wraps from 0xFFFFFFFF to 0", () => {
    const b = board();
    b.write("CR", 1);
    b.write("LR", 0xffff_ffff);
    b.clock.run(S);
    expect(b.read("DR")).toBe(0);
  });
});

describe("PL031 match interrupt", () => {
  it("raises RTCINTR on the edge where the counter reaches MR, until ICR", () => {
    const b = board();
    b.write("CR", 1);
    b.write("LR", 100);
    b.write("MR", 105);
    b.write("IMSC", 1);
    b.clock.run(5 * S - 1);
    expect(b.rtc.irqs[0]!.level).toBe(false);
    b.clock.run(1);
    expect(b.read("RIS")).toBe(1);
    expect(b.read("MIS")).toBe(1);
    expect(b.rtc.irqs[0]!.level).toBe(true);
    b.write("ICR", 1);
    expect(b.rtc.irqs[0]!.level).toBe(false);
    b.clock.run(10 * S);
    expect(b.read("RIS")).toBe(0);
  });

  it("reschedules the match when LR or MR changes", () => {
    const b = board();
    b.write("CR", 1);
    b.write("IMSC", 1);
    b.write("MR", 100);
    b.write("LR", 90);
    b.clock.run(3 * S);
    b.write("LR", 98); // two seconds to go now
    b.clock.run(2 * S - 1);
    expect(b.rtc.irqs[0]!.level).toBe(false);
    b.clock.run(1);
    expect(b.rtc.irqs[0]!.level).toBe(true);
    b.write("ICR", 1);
    b.write("MR", 110); // 10 s ahead
    b.write("MR", 101); // moved to 1 s ahead
    b.clock.run(S);
    expect(b.rtc.irqs[0]!.level).toBe(true);
  });

  it("matches at once when MR or LR is written equal to the counter", () => {
    const b = board();
    b.write("CR", 1);
    b.clock.run(7 * S);
    b.write("MR", 7);
    expect(b.read("RIS")).toBe(1);
    b.write("ICR", 1);
    b.write("LR", 7);
    expect(b.read("RIS")).toBe(1);
  });

  it("does not match by merely starting the counter", () => {
    const b = board();
    b.write("CR", 1); // MR and the counter are both 0
    expect(b.read("RIS")).toBe(0);
  });

  it("latches RIS while masked and drives the line once unmasked", () => {
    const b = board();
    b.write("CR", 1);
    b.write("MR", 1);
    b.clock.run(S);
    expect(b.read("RIS")).toBe(1);
    expect(b.read("MIS")).toBe(0);
    expect(b.rtc.irqs[0]!.level).toBe(false);
    b.write("IMSC", 1);
    expect(b.rtc.irqs[0]!.level).toBe(true);
  });

  it("does not match while stopped", () => {
    const b = board();
    b.write("MR", 3);
    b.clock.run(10 * S);
    expect(b.read("RIS")).toBe(0);
  });

  it("matches across the 32-bit wrap", () => {
    const b = board();
    b.write("CR", 1);
    b.write("LR", 0xffff_fffe);
    b.write("MR", 1);
    b.clock.run(3 * S - 1);
    expect(b.read("RIS")).toBe(0);
    b.clock.run(1);
    expect(b.read("RIS")).toBe(1);
  });
});

describe("PL031 guest errors", () => {
  it("logs writes to read-only registers and reads of ICR and of holes", () => {
    const b = board();
    b.write("DR", 5);
    b.write("RIS", 1);
    b.write("MIS", 1);
    b.write("PeriphID0", 0);
    expect(b.read("ICR")).toBe(0);
    expect(b.bus.read(BASE + 0x20, 4)).toBe(0);
    b.bus.write(BASE + 0x80, 4, 1);
    b.bus.write(BASE + offsetOf("LR"), 2, 1);
    expect(b.read("DR")).toBe(0);
    expect(b.read("LR")).toBe(0);
    expect(b.rtc.guestErrors).toEqual([
      "write to read-only register DR",
      "write to read-only register RIS",
      "write to read-only register MIS",
      "write to read-only register PeriphID0",
      "read of write-only register ICR",
      "read of unmapped offset 0x20",
      "write of 0x1 to unmapped offset 0x80",
      "2-byte write at offset 0x8 ignored (32-bit registers)",
    ]);
  });
});

describe("PL031 properties", () => {
  it("DR = loaded value + CLK1HZ edges since the load, modulo 2^32", () => {
    fc.assert(
      fc.property(
        fc.nat(0xffff_ffff),
        fc.integer({ min: 0, max: 1e12 }),
        fc.integer({ min: 0, max: 1e12 }),
        (load, before, after) => {
          const b = board();
          b.write("CR", 1);
          b.clock.run(before);
          b.write("LR", load);
          b.clock.run(after);
          const edges = Math.floor((before + after) / S) - Math.floor(before / S);
          expect(b.read("DR")).toBe((load + edges) % 2 ** 32);
        },
      ),
    );
  });

  it("the match fires exactly on the edge where the counter reaches MR", () => {
    fc.assert(
      fc.property(
        fc.nat(0xffff_ffff),
        fc.integer({ min: 1, max: 5000 }),
        fc.nat(S - 1),
        (load, ahead, phase) => {
          const b = board();
          b.clock.run(phase);
          b.write("CR", 1);
          b.write("LR", load);
          b.write("MR", (load + ahead) % 2 ** 32);
          b.write("ICR", 1); // the LR write may have matched the old MR
          b.write("IMSC", 1);
          const edge = ahead * S; // the phase is inside second 0, so edge k lands at k s
          b.clock.run(edge - phase - 1);
          expect(b.rtc.irqs[0]!.level).toBe(false);
          b.clock.run(1);
          expect(b.rtc.irqs[0]!.level).toBe(true);
        },
      ),
    );
  });
});

describe("pl031Model", () => {
  it("builds a PL031 for arm,pl031 with no DMA port", () => {
    const clock = new VirtualClock();
    const ctx = {
      clock,
      trace: new HwTrace(() => clock.now),
      bus: new SystemBus(new PhysicalMemory()),
    };
    const node = { name: "pl031@9010000", properties: [], children: [], labels: [] };
    const dev = pl031Model.create(ctx, ID, node, {
      root: node,
      memoryReservations: [],
      bootCpuidPhys: 0,
    });
    expect(pl031Model.compatible).toEqual(["arm,pl031"]);
    expect(dev).toBeInstanceOf(Pl031);
    expect(dev.dma).toBeNull();
    expect(dev.irqs.map((l) => l.name)).toEqual(["RTCINTR"]);
  });
});
