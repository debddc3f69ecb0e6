import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import type { DtNode } from "../devicetree/tree.js";
import {
  PL011_CR,
  PL011_DR,
  PL011_FIFO_DEPTH,
  PL011_FR,
  PL011_INT,
  PL011_LCR_H,
  PL011_REGISTER_MAP,
  Pl011,
  type Pl011Options,
  type Pl011RegisterName,
  pl011Model,
} from "./pl011.js";

const BASE = 0x0900_0000;
const ID = {
  name: "pl011@9000000",
  path: "/pl011@9000000",
  compatible: ["arm,pl011", "arm,primecell"],
  windows: [{ base: BASE, size: 0x1000 }],
};

function offsetOf(name: Pl011RegisterName): number {
  for (const e of PL011_REGISTER_MAP.entries()) if (e.name === name) return e.offset;
  throw new Error(name);
}

function board(options: Pl011Options = {}) {
  const bus = new SystemBus(new PhysicalMemory());
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  bus.addRam("ram", 0x4000_0000, 0x4000_0000);
  const uart = new Pl011({ clock, trace, bus }, ID, options);
  bus.addMmio(uart.name, BASE, 0x1000, uart, 0);
  const read = (name: Pl011RegisterName) => bus.read(BASE + offsetOf(name), 4);
  const write = (name: Pl011RegisterName, value: number) =>
    bus.write(BASE + offsetOf(name), 4, value);
  return { bus, clock, trace, uart, read, write };
}

/** 8N1 with FIFOs at 115200 baud from 24 MHz (IBRD 13, FBRD 1), as pl011_set_termios does. */
const LCR_8N1_FIFO = (3 << 5) | PL011_LCR_H.FEN;
const ENABLED = PL011_CR.UARTEN | PL011_CR.TXE | PL011_CR.RXE;
/** 32 bit periods of (64*13+1)/(4*24 MHz) s, rounded up to whole ns. */
const RT_NS = 277_667;
/** One 10-bit 8N1 frame at the same rate. */
const FRAME_NS = 86_771;

function linuxStartup(b: ReturnType<typeof board>, lcrH = LCR_8N1_FIFO) {
  b.write("ICR", 0x7ff);
  b.write("IFLS", 0x12);
  b.write("IBRD", 13);
  b.write("FBRD", 1);
  b.write("LCR_H", lcrH);
  b.write("CR", ENABLED);
  b.write("IMSC", PL011_INT.RX | PL011_INT.RT);
}

function drain(b: ReturnType<typeof board>): number[] {
  const out: number[] = [];
  while (!(b.read("FR") & PL011_FR.RXFE)) out.push(b.read("DR"));
  return out;
}

describe("PL011 reset state", () => {
  it("every register reads its TRM reset value", () => {
    const b = board();
    for (const e of PL011_REGISTER_MAP.entries()) {
      if (e.spec.access === "wo") continue;
      expect(b.bus.read(BASE + e.offset, 4), e.name).toBe(e.spec.reset ?? 0);
    }
    // Reading DR with nothing received is the one access that is a guest mistake.
    expect(b.uart.guestErrors).toEqual(["DR read with the receive FIFO empty (returns 0)"]);
    expect(b.uart.irqs[0]!.level).toBe(false);
  });

  it("identifies as an ARM PL011 r1 PrimeCell", () => {
    const b = board();
    const word = (base: number) =>
      [0, 1, 2, 3].reduce((v, i) => v | (b.bus.read(BASE + base + 4 * i, 4) << (8 * i)), 0) >>> 0;
    expect(word(0xfe0)).toBe(0x0014_1011);
    expect(word(0xff0)).toBe(0xb105_f00d);
  });

  it("reset() puts back the registers, empties the FIFOs and forgets pending timeouts", () => {
    const b = board();
    linuxStartup(b);
    b.uart.inject([1, 2, 3]);
    b.uart.reset();
    expect(b.read("FR")).toBe(0x90);
    expect(b.read("CR")).toBe(0x300);
    expect(b.read("IMSC")).toBe(0);
    b.clock.run(10 * RT_NS);
    expect(b.read("RIS")).toBe(0);
    expect(b.uart.rxCount).toBe(0);
  });
});

describe("PL011 transmit", () => {
  it("sends each DR write to the host when UARTEN and TXE are set", () => {
    const b = board();
    linuxStartup(b);
    const seen: number[] = [];
    const stop = b.uart.onTransmit((byte) => seen.push(byte));
    for (const c of "ok\n") b.write("DR", c.charCodeAt(0));
    stop();
    b.write("DR", 0x21);
    expect(seen).toEqual([0x6f, 0x6b, 0x0a]);
    expect([...b.uart.takeTransmitted()]).toEqual([0x6f, 0x6b, 0x0a, 0x21]);
    expect(b.uart.takeTransmitted()).toHaveLength(0);
    expect(b.read("FR") & (PL011_FR.TXFE | PL011_FR.BUSY)).toBe(PL011_FR.TXFE);
  });

  it("holds bytes in the TX FIFO while UARTEN or TXE is clear, and reports BUSY", () => {
    for (const cr of [PL011_CR.TXE | PL011_CR.RXE, PL011_CR.UARTEN | PL011_CR.RXE]) {
      const b = board();
      b.write("LCR_H", LCR_8N1_FIFO);
      b.write("CR", cr);
      b.write("DR", 0x41);
      b.write("DR", 0x42);
      expect(b.uart.takeTransmitted()).toHaveLength(0);
      expect(b.read("FR") & (PL011_FR.TXFE | PL011_FR.BUSY)).toBe(PL011_FR.BUSY);
      b.write("CR", ENABLED);
      expect([...b.uart.takeTransmitted()]).toEqual([0x41, 0x42]);
      expect(b.read("FR") & PL011_FR.BUSY).toBe(0);
    }
  });

  it("has a 16-entry TX FIFO with FEN set and a 1-entry holding register without", () => {
    for (const [lcrH, depth] of [
      [LCR_8N1_FIFO, PL011_FIFO_DEPTH],
      [3 << 5, 1],
    ] as const) {
      const b = board();
      b.write("LCR_H", lcrH);
      b.write("CR", 0); // transmitter off: nothing drains
      for (let i = 0; i < depth; i++) {
        expect(b.read("FR") & PL011_FR.TXFF).toBe(0);
        b.write("DR", i);
      }
      expect(b.read("FR") & PL011_FR.TXFF).toBe(PL011_FR.TXFF);
      b.write("DR", 0xee);
      expect(b.uart.guestErrors).toEqual([
        "DR write of 0xee with the transmit FIFO full: character lost",
      ]);
      b.write("CR", ENABLED);
      expect([...b.uart.takeTransmitted()]).toEqual(Array.from({ length: depth }, (_, i) => i));
    }
  });

  it("sends 5-bit characters out of reset, and 8-bit ones once firmware has set the line up", () => {
    const b = board();
    b.write("CR", ENABLED);
    b.write("DR", 0x41);
    expect([...b.uart.takeTransmitted()]).toEqual([0x01]);
    b.uart.firmwareSetup();
    expect([b.read("IBRD"), b.read("FBRD"), b.read("LCR_H"), b.read("CR")]).toEqual([
      13, 1, 0x70, 0x301,
    ]);
    b.write("DR", 0x41);
    expect([...b.uart.takeTransmitted()]).toEqual([0x41]);
  });

  it("masks transmitted characters to the word length", () => {
    const b = board();
    linuxStartup(b, (0 << 5) | PL011_LCR_H.FEN); // 5-bit words
    b.write("DR", 0xff);
    expect([...b.uart.takeTransmitted()]).toEqual([0x1f]);
  });

  it("raises TXINTR when the holding register empties (FIFOs off) and clears it by ICR or a write", () => {
    const b = board();
    linuxStartup(b, 3 << 5);
    b.write("IMSC", PL011_INT.TX);
    expect(b.uart.irqs[0]!.level).toBe(false);
    b.write("DR", 0x41);
    expect(b.read("RIS") & PL011_INT.TX).toBe(PL011_INT.TX);
    expect(b.uart.irqs[0]!.level).toBe(true);
    b.write("ICR", PL011_INT.TX);
    expect(b.uart.irqs[0]!.level).toBe(false);
  });

  it("never raises TXINTR with FIFOs on and instant transmission: the FIFO never fills", () => {
    const b = board();
    linuxStartup(b);
    b.write("IMSC", PL011_INT.TX);
    for (let i = 0; i < 40; i++) b.write("DR", i);
    expect(b.read("RIS") & PL011_INT.TX).toBe(0);
    expect(b.uart.takeTransmitted()).toHaveLength(40);
  });

  it("paces frames at the baud rate and raises TXINTR when the FIFO drains through its level", () => {
    const b = board({ txPacing: "baud" });
    linuxStartup(b); // TX level 1/2 = 8 entries
    b.write("IMSC", PL011_INT.TX);
    for (let i = 0; i < 17; i++) b.write("DR", 0x30 + i); // one in the shifter, 16 queued
    expect(b.read("FR") & (PL011_FR.TXFF | PL011_FR.BUSY | PL011_FR.TXFE)).toBe(
      PL011_FR.TXFF | PL011_FR.BUSY,
    );
    expect(b.uart.takeTransmitted()).toHaveLength(0);
    b.clock.run(FRAME_NS - 1);
    expect(b.uart.takeTransmitted()).toHaveLength(0);
    b.clock.run(1);
    expect([...b.uart.takeTransmitted()]).toEqual([0x30]);
    // The 8th completed frame pulls the 9th byte from the FIFO, leaving 8 = the trigger level.
    b.clock.run(7 * FRAME_NS - 1);
    expect(b.uart.irqs[0]!.level).toBe(false);
    b.clock.run(1);
    expect(b.uart.irqs[0]!.level).toBe(true);
    expect(b.uart.txCount).toBe(8);
    // Refilling above the level clears it, as the TRM says.
    b.write("DR", 0x40);
    expect(b.read("RIS") & PL011_INT.TX).toBe(0);
    b.clock.runUntilIdle();
    expect(b.read("FR") & (PL011_FR.BUSY | PL011_FR.TXFE)).toBe(PL011_FR.TXFE);
  });

  it("finishes the character in the shift register when the transmitter is disabled", () => {
    const b = board({ txPacing: "baud" });
    linuxStartup(b);
    b.write("DR", 1);
    b.write("DR", 2);
    b.write("CR", PL011_CR.UARTEN | PL011_CR.RXE);
    b.clock.run(10 * FRAME_NS);
    expect([...b.uart.takeTransmitted()]).toEqual([1]);
    expect(b.uart.txCount).toBe(1);
    b.write("CR", ENABLED);
    b.clock.run(FRAME_NS);
    expect([...b.uart.takeTransmitted()]).toEqual([2]);
  });

  it("uses the divisors latched by the last LCR_H write", () => {
    const b = board({ txPacing: "baud" });
    b.write("CR", ENABLED);
    b.write("IBRD", 13);
    b.write("FBRD", 1);
    b.write("DR", 1); // divisor not latched yet: the frame takes no time
    b.clock.run(0);
    expect(b.uart.takeTransmitted()).toHaveLength(1);
    b.write("LCR_H", (3 << 5) | PL011_LCR_H.STP2 | PL011_LCR_H.PEN); // 8E2: 12-bit frames
    b.write("DR", 2);
    b.clock.run(Math.ceil((12 * 833 * 1e9) / 96e6) - 1);
    expect(b.uart.takeTransmitted()).toHaveLength(0);
    b.clock.run(1);
    expect(b.uart.takeTransmitted()).toHaveLength(1);
  });
});

describe("PL011 receive", () => {
  it("delivers injected bytes through DR in order and keeps FR in step", () => {
    const b = board();
    linuxStartup(b);
    expect(b.uart.inject([0x68, 0x69])).toBe(2);
    expect(b.read("FR") & PL011_FR.RXFE).toBe(0);
    expect(drain(b)).toEqual([0x68, 0x69]);
    expect(b.read("FR") & PL011_FR.RXFE).toBe(PL011_FR.RXFE);
  });

  it("ignores the line while UARTEN or RXE is clear", () => {
    for (const cr of [PL011_CR.UARTEN | PL011_CR.TXE, PL011_CR.TXE | PL011_CR.RXE]) {
      const b = board();
      b.write("CR", cr);
      expect(b.uart.inject([1, 2])).toBe(0);
      expect(b.uart.injectBreak()).toBe(false);
      expect(b.read("FR") & PL011_FR.RXFE).toBe(PL011_FR.RXFE);
    }
  });

  it("fills 16 entries, sets RXFF, then overruns: OE in RIS and RSR, and on the next character", () => {
    const b = board();
    linuxStartup(b);
    const bytes = Array.from({ length: 20 }, (_, i) => i);
    expect(b.uart.inject(bytes)).toBe(16);
    expect(b.read("FR") & PL011_FR.RXFF).toBe(PL011_FR.RXFF);
    expect(b.read("RIS") & PL011_INT.OE).toBe(PL011_INT.OE);
    expect(b.read("RSR")).toBe(0x8);
    expect(b.read("DR")).toBe(0); // characters in the FIFO are intact
    expect(b.uart.inject([0x55])).toBe(1);
    const rest = drain(b);
    expect(rest.slice(0, 15)).toEqual(bytes.slice(1, 16));
    expect(rest[15]).toBe(0x55 | PL011_DR.OE);
    b.write("RSR", 0); // ECR
    expect(b.read("RSR")).toBe(0);
  });

  it("asserts RXINTR when the FIFO crosses the trigger level, and clears it below", () => {
    const b = board();
    linuxStartup(b); // RX level 1/2 = 8
    b.uart.inject([1, 2, 3, 4, 5, 6, 7]);
    expect(b.uart.irqs[0]!.level).toBe(false);
    b.uart.inject([8]);
    expect(b.read("MIS")).toBe(PL011_INT.RX);
    expect(b.uart.irqs[0]!.level).toBe(true);
    b.read("DR");
    expect(b.read("RIS") & PL011_INT.RX).toBe(0);
    expect(b.uart.irqs[0]!.level).toBe(false);
  });

  it("does not re-assert RXINTR after ICR until the FIFO falls below the level and crosses again", () => {
    const b = board();
    linuxStartup(b);
    b.uart.inject(Array.from({ length: 9 }, (_, i) => i));
    b.write("ICR", PL011_INT.RX);
    b.uart.inject([9]);
    expect(b.read("RIS") & PL011_INT.RX).toBe(0);
    b.read("DR");
    b.read("DR");
    b.read("DR"); // 7 left
    b.uart.inject([10]);
    expect(b.read("RIS") & PL011_INT.RX).toBe(PL011_INT.RX);
  });

  it("honours each RX trigger level", () => {
    for (const [code, level] of [
      [0, 2],
      [1, 4],
      [2, 8],
      [3, 12],
      [4, 14],
    ] as const) {
      const b = board();
      linuxStartup(b);
      b.write("IFLS", code << 3);
      b.uart.inject(new Uint8Array(level - 1));
      expect(b.read("RIS") & PL011_INT.RX, `level ${level}`).toBe(0);
      b.uart.inject([0]);
      expect(b.read("RIS") & PL011_INT.RX, `level ${level}`).toBe(PL011_INT.RX);
    }
  });

  it("raises the receive timeout 32 bit periods after the last character", () => {
    const b = board();
    linuxStartup(b);
    b.uart.inject([1, 2, 3]);
    b.clock.run(RT_NS / 2);
    b.uart.inject([4]); // restarts the timeout
    b.clock.run(RT_NS - 1);
    expect(b.uart.irqs[0]!.level).toBe(false);
    b.clock.run(1);
    expect(b.read("MIS")).toBe(PL011_INT.RT);
    expect(b.uart.irqs[0]!.level).toBe(true);
    expect(drain(b)).toEqual([1, 2, 3, 4]);
    expect(b.read("RIS") & PL011_INT.RT).toBe(0);
    expect(b.uart.irqs[0]!.level).toBe(false);
  });

  it("times out at once while the baud divisor has never been latched", () => {
    const b = board();
    b.write("CR", ENABLED);
    b.write("IMSC", PL011_INT.RT);
    b.uart.inject([1]);
    b.clock.run(0);
    expect(b.uart.irqs[0]!.level).toBe(true);
  });

  it("is a one-character holding register with FIFOs off", () => {
    const b = board();
    linuxStartup(b, 3 << 5);
    expect(b.uart.inject([1, 2])).toBe(1);
    expect(b.read("RIS") & (PL011_INT.RX | PL011_INT.OE)).toBe(PL011_INT.RX | PL011_INT.OE);
    expect(b.read("FR") & PL011_FR.RXFF).toBe(PL011_FR.RXFF);
    expect(b.read("DR")).toBe(1);
    expect(b.read("RIS") & PL011_INT.RX).toBe(0);
  });

  it("stops at the trigger level instead of overrunning when RTS flow control is on", () => {
    const b = board();
    linuxStartup(b);
    b.write("CR", ENABLED | PL011_CR.RTSEN);
    expect(b.uart.inject(new Uint8Array(20))).toBe(8);
    expect(b.read("RIS") & PL011_INT.OE).toBe(0);
  });

  it("flushes both FIFOs when FEN toggles", () => {
    const b = board();
    linuxStartup(b);
    b.uart.inject([1, 2, 3]);
    b.write("LCR_H", 3 << 5);
    expect(b.read("FR") & PL011_FR.RXFE).toBe(PL011_FR.RXFE);
    b.clock.run(10 * RT_NS);
    expect(b.read("RIS")).toBe(0);
  });

  it("receives a break as a NUL with BE, raising BEINTR", () => {
    const b = board();
    linuxStartup(b);
    b.write("IMSC", PL011_INT.BE);
    expect(b.uart.injectBreak()).toBe(true);
    expect(b.uart.irqs[0]!.level).toBe(true);
    expect(b.read("DR")).toBe(PL011_DR.BE);
    expect(b.read("RSR")).toBe(0x4);
  });

  it("masks received characters to the word length", () => {
    const b = board();
    linuxStartup(b, (2 << 5) | PL011_LCR_H.FEN); // 7-bit words
    b.uart.inject([0xff]);
    expect(b.read("DR")).toBe(0x7f);
  });
});

describe("PL011 loop-back", () => {
  it("feeds UARTTXD to the receiver and disconnects UARTRXD", () => {
    const b = board();
    linuxStartup(b);
    b.write("CR", ENABLED | PL011_CR.LBE);
    b.write("DR", 0x5a);
    expect(b.read("DR")).toBe(0x5a);
    expect([...b.uart.takeTransmitted()]).toEqual([0x5a]);
    expect(b.uart.inject([1])).toBe(0);
  });

  it("loops modem outputs to modem inputs and raises modem status interrupts on change", () => {
    const b = board();
    b.write("CR", PL011_CR.LBE);
    b.write("IMSC", PL011_INT.CTSM);
    b.write("CR", PL011_CR.LBE | PL011_CR.RTS | PL011_CR.DTR | PL011_CR.OUT1 | PL011_CR.OUT2);
    expect(b.read("FR") & 0x107).toBe(PL011_FR.CTS | PL011_FR.DSR | PL011_FR.DCD | PL011_FR.RI);
    expect(b.read("RIS") & 0xf).toBe(0xf);
    expect(b.uart.irqs[0]!.level).toBe(true);
    b.write("ICR", 0xf);
    b.write("CR", PL011_CR.RTS); // loop-back off: the inputs fall back to deasserted
    expect(b.read("FR") & 0x107).toBe(0);
    expect(b.read("RIS") & 0xf).toBe(0xf);
  });

  it("receives its own break when LCR_H.BRK is set in loop-back", () => {
    const b = board();
    linuxStartup(b);
    b.write("CR", ENABLED | PL011_CR.LBE);
    b.write("LCR_H", LCR_8N1_FIFO | PL011_LCR_H.BRK);
    expect(b.read("DR")).toBe(PL011_DR.BE);
    expect(b.read("RIS") & PL011_INT.BE).toBe(PL011_INT.BE);
  });
});

describe("PL011 bus interface and guest errors", () => {
  it("accepts the 16-bit accesses Linux uses by default, and byte reads", () => {
    const b = board();
    b.bus.write(BASE + offsetOf("LCR_H"), 2, LCR_8N1_FIFO);
    b.bus.write(BASE + offsetOf("CR"), 2, ENABLED);
    expect(b.read("CR")).toBe(ENABLED);
    b.uart.inject([0x31, 0x32]);
    expect(b.bus.read(BASE, 2)).toBe(0x31); // one access pops one character
    expect(b.bus.read(BASE, 1)).toBe(0x32);
    expect(b.bus.read(BASE + 0xfe0, 1)).toBe(0x11);
  });

  it("logs writes to read-only registers and leaves them unchanged", () => {
    const b = board();
    for (const name of ["FR", "RIS", "MIS", "PeriphID0", "PCellID3"] as const) {
      const before = b.read(name);
      b.write(name, 0xffff);
      expect(b.read(name)).toBe(before);
    }
    expect(b.uart.guestErrors).toEqual([
      "write to read-only register FR",
      "write to read-only register RIS",
      "write to read-only register MIS",
      "write to read-only register PeriphID0",
      "write to read-only register PCellID3",
    ]);
  });

  it("logs reads of ICR, unmapped offsets, unaligned writes and reserved IFLS codes", () => {
    const b = board();
    expect(b.read("ICR")).toBe(0);
    expect(b.bus.read(BASE + 0x80, 4)).toBe(0);
    b.bus.write(BASE + 0x100, 4, 1);
    b.bus.write(BASE + 0x31, 1, 1);
    b.write("IFLS", 0x3f);
    expect(b.uart.guestErrors).toEqual([
      "read of write-only register ICR",
      "read of unmapped offset 0x80",
      "write of 0x1 to unmapped offset 0x100",
      "1-byte write at unaligned offset 0x31 ignored",
      "IFLS 0x3f selects a reserved trigger level (treated as 7/8)",
    ]);
    expect(b.read("CR")).toBe(0x300);
  });

  it("reports DMA, IrDA and CTS flow control as unimplemented", () => {
    const b = board();
    b.write("DMACR", 0x3);
    b.write("CR", PL011_CR.SIREN | PL011_CR.CTSEN);
    expect(b.read("DMACR")).toBe(0x3);
    expect(b.uart.guestErrors.every((m) => m.startsWith("unimplemented: "))).toBe(true);
    expect(b.uart.guestErrors).toHaveLength(3);
  });

  it("drives the GIC input it is wired to", () => {
    const b = board();
    const seen: string[] = [];
    b.uart.irqs[0]!.connect({ setIrqLevel: (intid, level) => seen.push(`${intid}:${level}`) }, 33);
    linuxStartup(b);
    b.uart.inject(new Uint8Array(8));
    drain(b);
    expect(seen).toEqual(["33:true", "33:false"]);
  });
});

describe("PL011 properties", () => {
  type Op = { kind: "inject"; bytes: number[] } | { kind: "read"; count: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant("inject" as const),
      bytes: fc.array(fc.nat(255), { maxLength: 24 }),
    }),
    fc.record({ kind: fc.constant("read" as const), count: fc.integer({ min: 1, max: 20 }) }),
  );

  it("the RX FIFO never exceeds its depth and delivers accepted bytes in order", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 30 }), (fifo, ops) => {
        const b = board();
        linuxStartup(b, fifo ? LCR_8N1_FIFO : 3 << 5);
        const depth = fifo ? PL011_FIFO_DEPTH : 1;
        const model: number[] = [];
        for (const o of ops) {
          if (o.kind === "inject") {
            const accepted = b.uart.inject(o.bytes);
            const fits = Math.min(o.bytes.length, depth - model.length);
            expect(accepted).toBe(fits);
            model.push(...o.bytes.slice(0, fits));
          } else {
            for (let i = 0; i < o.count && model.length > 0; i++) {
              expect(b.read("DR") & 0xff).toBe(model.shift());
            }
          }
          expect(b.uart.rxCount).toBe(model.length);
          expect(b.uart.rxCount).toBeLessThanOrEqual(depth);
          expect((b.read("FR") & PL011_FR.RXFF) !== 0).toBe(model.length === depth);
          expect((b.read("FR") & PL011_FR.RXFE) !== 0).toBe(model.length === 0);
        }
      }),
    );
  });

  it("paced transmission keeps the TX FIFO within its depth and sends accepted bytes in order", () => {
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("write" as const),
        bytes: fc.array(fc.nat(255), { maxLength: 20 }),
      }),
      fc.record({
        kind: fc.constant("run" as const),
        ns: fc.integer({ min: 0, max: 20 * FRAME_NS }),
      }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 20 }), (steps) => {
        const b = board({ txPacing: "baud" });
        linuxStartup(b);
        const accepted: number[] = [];
        for (const s of steps) {
          if (s.kind === "run") b.clock.run(s.ns);
          else
            for (const byte of s.bytes) {
              const full = (b.read("FR") & PL011_FR.TXFF) !== 0;
              b.write("DR", byte);
              if (!full) accepted.push(byte);
            }
          expect(b.uart.txCount).toBeLessThanOrEqual(PL011_FIFO_DEPTH);
        }
        b.clock.runUntilIdle();
        expect([...b.uart.takeTransmitted()]).toEqual(accepted);
      }),
    );
  });
});

describe("pl011Model", () => {
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

  it("takes UARTCLK from the first `clocks` entry when it is a fixed clock", () => {
    const clk = node("apb-pclk", {
      phandle: cells(0x8000),
      compatible: str("fixed-clock"),
      "clock-frequency": cells(7_372_800),
      "#clock-cells": cells(0),
    });
    const uartNode = node("pl011@9000000", { clocks: cells(0x8000, 0x8000) });
    const tree = { root: node("", {}, [clk, uartNode]), memoryReservations: [], bootCpuidPhys: 0 };
    const clock = new VirtualClock();
    const ctx = {
      clock,
      trace: new HwTrace(() => clock.now),
      bus: new SystemBus(new PhysicalMemory()),
    };
    expect(pl011Model.compatible).toEqual(["arm,pl011"]);
    const dev = pl011Model.create(ctx, ID, uartNode, tree) as Pl011;
    expect(dev.clockHz).toBe(7_372_800);
    expect(dev.dma).toBeNull();
    const bare = pl011Model.create(ctx, ID, node("pl011@9000000", {}), tree) as Pl011;
    expect(bare.clockHz).toBe(24_000_000);
  });
});
