/**
 * A small PL330 assembler for tests, scenarios and notebooks: one builder per instruction
 * (encodings from the TRM r1p1 chapter 4, as Linux `drivers/dma/pl330.c` `_emit_*` emits them),
 * a loop helper that computes DMALPEND's backward jump, a memcpy program generator in the shape
 * of the reference notes' minimal memcpy and of Linux's `_setup_req`, and the DBGINST0/1 values
 * for the debug interface.
 */

import { PL330_PROT_NS, type Pl330Cond, pl330Ccr } from "./pl330-isa.js";

export type Pl330MovTarget = "SAR" | "CCR" | "DAR";

function byte(v: number, what: string, max = 0xff): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`pl330 asm: bad ${what} ${v}`);
  return v;
}

/** SAR, DAR, CCR and the DMAGO address are 32 bits: the PL330 issues 32-bit AXI addresses. */
function le32(v: number, what: string): number[] {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new RangeError(`pl330 asm: ${what} 0x${v.toString(16)} does not fit in 32 bits`);
  }
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

/** bs,x bits of the conditional forms. */
function condBits(cond: Pl330Cond): number {
  return cond === "always" ? 0 : cond === "single" ? 1 : 3;
}

const periphOperand = (periph: number) => byte(periph, "peripheral", 31) << 3;
const eventOperand = (event: number) => byte(event, "event", 31) << 3;

/** Concatenates program pieces. */
export function pl330Program(...parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const pl330Asm = {
  /** DMAADDH: SAR or DAR += imm16. */
  dmaaddh(reg: "SAR" | "DAR", imm: number): Uint8Array {
    byte(imm, "halfword", 0xffff);
    return Uint8Array.of(0x54 | (reg === "DAR" ? 2 : 0), imm & 0xff, imm >>> 8);
  },
  /** DMAADNH: SAR or DAR += a negative amount, given as -65536..-1. */
  dmaadnh(reg: "SAR" | "DAR", negative: number): Uint8Array {
    if (!Number.isInteger(negative) || negative < -0x10000 || negative > -1) {
      throw new RangeError(`pl330 asm: DMAADNH takes -65536..-1, got ${negative}`);
    }
    const imm = negative & 0xffff;
    return Uint8Array.of(0x5c | (reg === "DAR" ? 2 : 0), imm & 0xff, imm >>> 8);
  },
  dmaend: () => Uint8Array.of(0x00),
  dmaflushp: (periph: number) => Uint8Array.of(0x35, periphOperand(periph)),
  /** DMAGO (manager thread only): start `channel` at `pc`, non-secure if `ns`. */
  dmago(channel: number, pc: number, ns = false): Uint8Array {
    return Uint8Array.of(
      0xa0 | (ns ? 2 : 0),
      byte(channel, "channel", 7),
      ...le32(pc, "DMAGO address"),
    );
  },
  dmakill: () => Uint8Array.of(0x01),
  dmald: (cond: Pl330Cond = "always") => Uint8Array.of(0x04 | condBits(cond)),
  dmaldp: (periph: number, cond: "single" | "burst") =>
    Uint8Array.of(0x25 | (cond === "burst" ? 2 : 0), periphOperand(periph)),
  /** DMALP: the hardware stores iterations − 1 and counts down to zero. */
  dmalp(lc: 0 | 1, iterations: number): Uint8Array {
    byte(iterations - 1, "iteration count (1..256) - 1");
    return Uint8Array.of(0x20 | (lc << 1), iterations - 1);
  },
  /** DMALPEND: `jump` = offset of this DMALPEND − offset of the first body instruction. */
  dmalpend(lc: 0 | 1, jump: number, cond: Pl330Cond = "always"): Uint8Array {
    return Uint8Array.of(0x38 | (lc << 2) | condBits(cond), byte(jump, "loop jump"));
  },
  /** DMALPFE: loop forever (encoded with lc = 1, so that no form collides with DMASTP). */
  dmalpfe(jump: number, cond: Pl330Cond = "always"): Uint8Array {
    return Uint8Array.of(0x2c | condBits(cond), byte(jump, "loop jump"));
  },
  dmamov(reg: Pl330MovTarget, value: number): Uint8Array {
    return Uint8Array.of(0xbc, reg === "SAR" ? 0 : reg === "CCR" ? 1 : 2, ...le32(value, reg));
  },
  dmanop: () => Uint8Array.of(0x18),
  dmarmb: () => Uint8Array.of(0x12),
  dmasev: (event: number) => Uint8Array.of(0x34, eventOperand(event)),
  dmast: (cond: Pl330Cond = "always") => Uint8Array.of(0x08 | condBits(cond)),
  dmastp: (periph: number, cond: "single" | "burst") =>
    Uint8Array.of(0x29 | (cond === "burst" ? 2 : 0), periphOperand(periph)),
  dmastz: () => Uint8Array.of(0x0c),
  dmawfe: (event: number, invalidate = false) =>
    Uint8Array.of(0x36, eventOperand(event) | (invalidate ? 2 : 0)),
  dmawfp: (periph: number, cond: "single" | "burst" | "periph") =>
    Uint8Array.of(
      0x30 | (cond === "single" ? 0 : cond === "periph" ? 1 : 2),
      periphOperand(periph),
    ),
  dmawmb: () => Uint8Array.of(0x13),

  /** `DMALP lc, iterations; body; DMALPEND lc` with the jump computed (body ≤ 255 bytes). */
  loop(
    lc: 0 | 1,
    iterations: number,
    ...body: readonly (Uint8Array | readonly number[])[]
  ): Uint8Array {
    const inner = pl330Program(...body);
    if (inner.length === 0 || inner.length > 0xff) {
      throw new RangeError(`pl330 asm: loop body of ${inner.length} bytes (1..255)`);
    }
    return pl330Program(pl330Asm.dmalp(lc, iterations), inner, pl330Asm.dmalpend(lc, inner.length));
  },
};

export interface Pl330MemcpyOptions {
  readonly src: number;
  readonly dst: number;
  readonly length: number;
  /** Event (and IRQ, if INTEN has its bit) signalled by the final DMASEV; default 0. */
  readonly event?: number;
  /** Largest beat to use; the generator falls back to what src and dst alignment allow. Default 8. */
  readonly beatBytes?: number;
  /** Beats per burst for the bulk of the copy, 1–16; default 16. */
  readonly burstLength?: number;
  /** Mark the accesses non-secure in CCR (needed on a channel started with DMAGO ns). */
  readonly nonSecure?: boolean;
}

/**
 * A memcpy program: CCR, SAR, DAR, then the bulk as bursts in DMALP loops (LC0×LC1 nested up to
 * 256×256 bursts per block, as Linux `_loop()` does), then one shorter burst for the remaining
 * beats and one of single bytes for what is left, then DMAWMB, DMASEV event, DMAEND. For a
 * 1 KiB copy with 4-byte beats it is byte for byte the minimal memcpy of the reference notes.
 */
export function pl330Memcpy(o: Pl330MemcpyOptions): Uint8Array {
  const { src, dst, length } = o;
  if (!Number.isInteger(length) || length < 0 || length > 0xffff_ffff) {
    throw new RangeError(`pl330Memcpy: bad length ${length}`);
  }
  for (const [what, at] of [
    ["source", src],
    ["destination", dst],
  ] as const) {
    if (!Number.isInteger(at) || at < 0 || at + length > 0x1_0000_0000) {
      throw new RangeError(`pl330Memcpy: ${what} 0x${at.toString(16)}+${length} is beyond 32 bits`);
    }
  }
  const maxBeat = o.beatBytes ?? 8;
  const burstLength = o.burstLength ?? 16;
  let beat = 1;
  while (beat * 2 <= maxBeat && src % (beat * 2) === 0 && dst % (beat * 2) === 0) {
    beat *= 2;
  }
  const prot = o.nonSecure ? PL330_PROT_NS : 0;
  const ccr = (beatBytes: number, beats: number) =>
    pl330Ccr({
      srcBeatBytes: beatBytes,
      srcBurstLen: beats,
      dstBeatBytes: beatBytes,
      dstBurstLen: beats,
      srcProt: prot,
      dstProt: prot,
    });

  const burstBytes = beat * burstLength;
  const bursts = Math.floor(length / burstBytes);
  const tailBeats = Math.floor((length % burstBytes) / beat);
  const tailBytes = length % beat;
  const phases: { ccr: number; bursts: number }[] = [];
  if (bursts > 0) phases.push({ ccr: ccr(beat, burstLength), bursts });
  if (tailBeats > 0) phases.push({ ccr: ccr(beat, tailBeats), bursts: 1 });
  if (tailBytes > 0) phases.push({ ccr: ccr(1, tailBytes), bursts: 1 });

  const a = pl330Asm;
  const parts: Uint8Array[] = [];
  if (phases[0]) parts.push(a.dmamov("CCR", phases[0].ccr));
  parts.push(a.dmamov("SAR", src), a.dmamov("DAR", dst));
  phases.forEach((phase, i) => {
    if (i > 0) parts.push(a.dmamov("CCR", phase.ccr));
    let left = phase.bursts;
    while (left > 0) {
      if (left === 1) {
        parts.push(a.dmald(), a.dmast());
        left = 0;
      } else if (left <= 256) {
        parts.push(a.loop(0, left, a.dmald(), a.dmast()));
        left = 0;
      } else {
        const outer = Math.min(256, Math.floor(left / 256));
        parts.push(a.loop(0, outer, a.loop(1, 256, a.dmald(), a.dmast())));
        left -= outer * 256;
      }
    }
  });
  parts.push(a.dmawmb(), a.dmasev(o.event ?? 0), a.dmaend());
  return pl330Program(...parts);
}

/** What to write to DBGINST0 and DBGINST1 before `DBGCMD ← 0`. */
export interface Pl330DebugInstruction {
  readonly dbginst0: number;
  readonly dbginst1: number;
}

/** Packs up to 6 instruction bytes for the manager (no channel) or a channel thread. */
export function pl330DebugInstruction(insn: Uint8Array, channel?: number): Pl330DebugInstruction {
  if (insn.length < 1 || insn.length > 6)
    throw new RangeError("pl330 debug: 1..6 instruction bytes");
  const b = (i: number) => insn[i] ?? 0;
  const thread = channel === undefined ? 0 : 1 | (byte(channel, "channel", 7) << 8);
  return {
    dbginst0: (thread | (b(0) << 16) | (b(1) << 24)) >>> 0,
    dbginst1: (b(2) | (b(3) << 8) | (b(4) << 16) | (b(5) << 24)) >>> 0,
  };
}

/** DMAGO on the manager thread: start `channel` at bus address `pc` (Linux `_trigger`). */
export function pl330DebugGo(o: {
  channel: number;
  pc: number;
  ns?: boolean;
}): Pl330DebugInstruction {
  return pl330DebugInstruction(pl330Asm.dmago(o.channel, o.pc, o.ns ?? false));
}

/** DMAKILL on a channel thread, or on the manager when `channel` is omitted (Linux `_stop`). */
export function pl330DebugKill(channel?: number): Pl330DebugInstruction {
  return pl330DebugInstruction(pl330Asm.dmakill(), channel);
}

/** DMASEV `event` issued on the manager thread (or on `channel`'s thread). */
export function pl330DebugSev(event: number, channel?: number): Pl330DebugInstruction {
  return pl330DebugInstruction(pl330Asm.dmasev(event), channel);
}
