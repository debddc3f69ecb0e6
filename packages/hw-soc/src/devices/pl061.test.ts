import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import {
  PL061_REGISTER_MAP,
  Pl061,
  type Pl061Options,
  type Pl061RegisterName,
  pl061Model,
} from "./pl061.js";

const BASE = 0x0903_0000;
const ID = {
  name: "pl061@9030000",
  path: "/pl061@9030000",
  compatible: ["arm,pl061", "arm,primecell"],
  windows: [{ base: BASE, size: 0x1000 }],
};

function offsetOf(name: Pl061RegisterName): number {
  for (const e of PL061_REGISTER_MAP.entries()) if (e.name === name) return e.offset;
  throw new Error(name);
}

function board(options: Pl061Options = {}) {
  const bus = new SystemBus(new PhysicalMemory());
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const gpio = new Pl061({ clock, trace, bus }, ID, options);
  bus.addMmio(gpio.name, BASE, 0x1000, gpio, 0);
  const read = (name: Pl061RegisterName) => bus.read(BASE + offsetOf(name), 4);
  const write = (name: Pl061RegisterName, value: number) =>
    bus.write(BASE + offsetOf(name), 4, value);
  /** DATA as gpio-pl061 reads and writes it: one byte access through a mask address. */
  const readData = (mask: number) => bus.read(BASE + (mask << 2), 1);
  const writeData = (mask: number, value: number) => bus.write(BASE + (mask << 2), 1, value);
  return { bus, gpio, read, write, readData, writeData };
}

describe("PL061 reset state", () => {
  it("every register, all 256 DATA aliases included, reads its TRM reset value", () => {
    const b = board();
    let checked = 0;
    for (const e of PL061_REGISTER_MAP.entries()) {
      if (e.spec.access === "wo") continue;
      expect(b.bus.read(BASE + e.offset, 4), `${e.name}[${e.index}]`).toBe(e.spec.reset ?? 0);
      checked++;
    }
    expect(checked).toBe(256 + 8 + 8);
    expect(b.gpio.guestErrors).toEqual([]);
    expect(b.gpio.irqs[0]!.level).toBe(false);
  });

  it("identifies as an ARM PL061 PrimeCell", () => {
    const b = board();
    const word = (base: number) =>
      [0, 1, 2, 3].reduce((v, i) => v | (b.bus.read(BASE + base + 4 * i, 4) << (8 * i)), 0) >>> 0;
    expect(word(0xfe0)).toBe(0x0004_1061);
    expect(word(0xff0)).toBe(0xb105_f00d);
  });

  it("reset() returns every line to input and drops the outputs", () => {
    const b = board();
    const seen: string[] = [];
    b.gpio.onOutputChange((line, level) => seen.push(`${line}:${level}`));
    b.write("DIR", 0x81);
    b.writeData(0xff, 0x81);
    b.write("IE", 0xff);
    b.gpio.reset();
    expect(b.read("DIR")).toBe(0);
    expect(b.gpio.outputs()).toBe(0);
    expect(seen).toEqual(["0:true", "7:true", "0:false", "7:false"]);
  });
});

describe("PL061 data and direction", () => {
  it("writes only the output lines selected by address bits [9:2]", () => {
    const b = board();
    b.write("DIR", 0x0f);
    b.writeData(0x05, 0xff);
    expect(b.gpio.outputs()).toBe(0x05);
    b.writeData(0x0c, 0x08);
    expect(b.gpio.outputs()).toBe(0x09);
    b.writeData(0xf0, 0xff); // input lines: no effect
    expect(b.gpio.outputs()).toBe(0x09);
    expect(b.readData(0xff)).toBe(0x09);
    expect(b.readData(0x08)).toBe(0x08);
    expect(b.readData(0x06)).toBe(0x00);
  });

  it("reads inputs from the host and outputs from DATA", () => {
    const b = board();
    b.write("DIR", 0x01);
    b.writeData(0x01, 0x00);
    b.gpio.setInput(0, true); // contention on an output: the output wins
    b.gpio.setInput(5, true);
    expect(b.readData(0xff)).toBe(0x20);
    b.gpio.setInput(5, false);
    expect(b.readData(0xff)).toBe(0x00);
    expect(b.gpio.pins()).toBe(0x00);
  });

  it("reads undriven inputs at their pull, 0 unless configured", () => {
    expect(board().readData(0xff)).toBe(0x00);
    const b = board({ pullUps: 0xf0 });
    expect(b.readData(0xff)).toBe(0xf0);
    b.gpio.setInput(4, false);
    expect(b.readData(0xff)).toBe(0xe0);
    b.gpio.releaseInput(4);
    expect(b.readData(0xff)).toBe(0xf0);
    expect(() => board({ pullUps: 0x100 })).toThrow(RangeError);
  });

  it("tells the board about each output line that changes", () => {
    const b = board();
    const seen: string[] = [];
    const stop = b.gpio.onOutputChange((line, level) => seen.push(`${line}:${level}`));
    b.writeData(0xff, 0xff); // all inputs: nothing latched, nothing driven
    b.write("DIR", 0x06);
    b.writeData(0x06, 0x06);
    b.writeData(0x02, 0x00);
    b.write("DIR", 0x00); // line 2 stops driving
    stop();
    b.write("DIR", 0xff);
    b.writeData(0xff, 0xff);
    expect(seen).toEqual(["1:true", "2:true", "1:false", "2:false"]);
    expect(b.gpio.outputs()).toBe(0xff);
  });

  it("refuses lines that do not exist", () => {
    const b = board();
    expect(() => b.gpio.setInput(8, true)).toThrow(RangeError);
    expect(() => b.gpio.setInput(-1, true)).toThrow(RangeError);
    expect(() => b.gpio.releaseInput(1.5)).toThrow(RangeError);
  });
});

describe("PL061 interrupts", () => {
  it("latches rising edges when IEV is set, until IC", () => {
    const b = board();
    b.write("IEV", 0x08);
    b.write("IE", 0x08);
    b.gpio.setInput(3, true);
    expect(b.read("RIS")).toBe(0x08);
    expect(b.read("MIS")).toBe(0x08);
    expect(b.gpio.irqs[0]!.level).toBe(true);
    b.gpio.setInput(3, false);
    b.write("IC", 0x08);
    expect(b.gpio.irqs[0]!.level).toBe(false);
    b.gpio.setInput(3, false);
    expect(b.read("RIS")).toBe(0);
  });

  it("latches falling edges when IEV is clear, and both edges with IBE", () => {
    const b = board({ pullUps: 0x03 });
    b.write("IBE", 0x02);
    b.gpio.setInput(0, false);
    b.gpio.setInput(1, false);
    expect(b.read("RIS")).toBe(0x03);
    b.write("IC", 0xff);
    b.gpio.setInput(0, true);
    b.gpio.setInput(1, true);
    expect(b.read("RIS")).toBe(0x02);
  });

  it("keeps level-sensitive status set while the level holds, re-latching after IC", () => {
    const b = board();
    b.write("IEV", 0x01); // before IS: a low-level interrupt would latch at once
    b.write("IS", 0x01);
    b.write("IE", 0x01);
    expect(b.read("RIS")).toBe(0);
    b.gpio.setInput(0, true);
    expect(b.gpio.irqs[0]!.level).toBe(true);
    b.write("IC", 0x01);
    expect(b.read("RIS")).toBe(0x01);
    expect(b.gpio.irqs[0]!.level).toBe(true);
    b.gpio.setInput(0, false);
    expect(b.read("RIS")).toBe(0x01); // latched until cleared
    b.write("IC", 0x01);
    expect(b.read("RIS")).toBe(0);
    expect(b.gpio.irqs[0]!.level).toBe(false);
  });

  it("asserts a low-level interrupt as soon as it is configured on a low line", () => {
    const b = board();
    b.write("IS", 0x80);
    expect(b.read("RIS")).toBe(0x80);
    expect(b.gpio.irqs[0]!.level).toBe(false);
    b.write("IE", 0x80);
    expect(b.gpio.irqs[0]!.level).toBe(true);
  });

  it("ignores lines configured as outputs", () => {
    const b = board();
    b.write("DIR", 0x01);
    b.write("IBE", 0x01);
    b.write("IS", 0x00);
    b.writeData(0x01, 0x01);
    b.writeData(0x01, 0x00);
    b.write("IS", 0x01);
    expect(b.read("RIS")).toBe(0);
  });

  it("sees an edge when an output line turns input at a different level", () => {
    const b = board();
    b.gpio.setInput(2, true);
    b.write("DIR", 0x04);
    b.write("IEV", 0x04);
    b.write("IC", 0xff);
    b.write("DIR", 0x00); // the pad goes from the driven 0 to the host's 1
    expect(b.read("RIS")).toBe(0x04);
  });

  it("drives the GIC input it is wired to", () => {
    const b = board();
    const seen: string[] = [];
    b.gpio.irqs[0]!.connect({ setIrqLevel: (intid, level) => seen.push(`${intid}:${level}`) }, 39);
    b.write("IEV", 0x08);
    b.write("IE", 0x08);
    b.gpio.setInput(3, true);
    b.write("IC", 0x08);
    expect(seen).toEqual(["39:true", "39:false"]);
  });
});

describe("PL061 bus interface and guest errors", () => {
  it("accepts byte, halfword and word writes at register offsets", () => {
    const b = board();
    b.bus.write(BASE + offsetOf("DIR"), 1, 0x03);
    expect(b.read("DIR")).toBe(0x03);
    b.bus.write(BASE + offsetOf("IE"), 2, 0x1ff);
    expect(b.read("IE")).toBe(0xff);
    b.bus.write(BASE + offsetOf("IEV"), 4, 0xffff_ff0f);
    expect(b.read("IEV")).toBe(0x0f);
    expect(b.bus.read(BASE + offsetOf("IEV"), 1)).toBe(0x0f);
    expect(b.gpio.guestErrors).toEqual([]);
  });

  it("logs writes to RIS, MIS and IDs, reads of IC, holes and unaligned writes", () => {
    const b = board();
    b.write("RIS", 0xff);
    b.write("MIS", 0xff);
    b.write("PeriphID2", 0);
    expect(b.read("IC")).toBe(0);
    expect(b.bus.read(BASE + 0x424, 4)).toBe(0);
    expect(b.bus.read(BASE + 0xfd0, 4)).toBe(0);
    b.bus.write(BASE + 0x500, 4, 1);
    b.bus.write(BASE + 0x401, 1, 0xff);
    expect(b.read("RIS")).toBe(0);
    expect(b.read("DIR")).toBe(0);
    expect(b.gpio.guestErrors).toEqual([
      "write to read-only register RIS",
      "write to read-only register MIS",
      "write to read-only register PeriphID2",
      "read of write-only register IC",
      "read of unmapped offset 0x424",
      "read of unmapped offset 0xfd0",
      "write of 0x1 to unmapped offset 0x500",
      "1-byte write at unaligned offset 0x401 ignored",
    ]);
  });

  it("stores AFSEL but reports hardware control as unimplemented", () => {
    const b = board();
    b.write("AFSEL", 0x10);
    expect(b.read("AFSEL")).toBe(0x10);
    expect(b.gpio.guestErrors).toEqual([
      "unimplemented: hardware control of lines 0x10 (AFSEL): lines stay under software control",
    ]);
  });
});

describe("PL061 properties", () => {
  it("DATA at any address reads (outputs | inputs) masked by address bits [9:2]", () => {
    const access = fc.record({
      mask: fc.nat(0xff),
      value: fc.nat(0xff),
      inputs: fc.nat(0xff),
      dir: fc.nat(0xff),
    });
    fc.assert(
      fc.property(
        fc.array(access, { minLength: 1, maxLength: 20 }),
        fc.nat(0xff),
        (steps, probe) => {
          const b = board();
          let data = 0;
          let dir = 0;
          let inputs = 0;
          for (const s of steps) {
            b.write("DIR", s.dir);
            dir = s.dir;
            for (let line = 0; line < 8; line++)
              b.gpio.setInput(line, ((s.inputs >> line) & 1) === 1);
            inputs = s.inputs;
            b.writeData(s.mask, s.value);
            data = (data & ~(s.mask & dir)) | (s.value & s.mask & dir);
          }
          expect(b.readData(probe)).toBe(((data & dir) | (inputs & ~dir)) & probe);
          expect(b.gpio.outputs()).toBe(data & dir);
        },
      ),
    );
  });

  it("RIS of an input line follows the edge/level rules for any configuration and input sequence", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.oneof(fc.boolean(), fc.constant("clear" as const)), { maxLength: 30 }),
        (level, both, high, steps) => {
          const b = board();
          b.write("IS", level ? 1 : 0);
          b.write("IBE", both ? 1 : 0);
          b.write("IEV", high ? 1 : 0);
          b.write("IC", 1);
          let pin = false;
          let ris = level && pin === high;
          expect(b.read("RIS") & 1).toBe(ris ? 1 : 0);
          for (const s of steps) {
            if (s === "clear") {
              b.write("IC", 1);
              ris = level && pin === high;
            } else {
              b.gpio.setInput(0, s);
              const edge = s !== pin && (both || s === high);
              pin = s;
              if (level ? pin === high : edge) ris = true;
            }
            expect(b.read("RIS") & 1).toBe(ris ? 1 : 0);
          }
        },
      ),
    );
  });
});

describe("pl061Model", () => {
  it("builds a PL061 for arm,pl061 with no DMA port", () => {
    const clock = new VirtualClock();
    const ctx = {
      clock,
      trace: new HwTrace(() => clock.now),
      bus: new SystemBus(new PhysicalMemory()),
    };
    const node = { name: "pl061@9030000", properties: [], children: [], labels: [] };
    const dev = pl061Model.create(ctx, ID, node, {
      root: node,
      memoryReservations: [],
      bootCpuidPhys: 0,
    });
    expect(pl061Model.compatible).toEqual(["arm,pl061"]);
    expect(dev).toBeInstanceOf(Pl061);
    expect(dev.dma).toBeNull();
    expect(dev.irqs.map((l) => l.name)).toEqual(["GPIOINTR"]);
  });
});
