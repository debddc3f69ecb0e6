/**
 * What one pass of a PL330 loop body does, worked out without running it: the analysis behind
 * the PL330 loop fast path (see `pl330.ts`). A body qualifies when it holds only DMALD/DMAST,
 * DMANOP, DMARMB, DMAWMB and properly nested counted loops; the result gives the bytes the
 * pass loads and stores, the MFIFO level on the way and the cycles the interpreter would
 * charge for it, using the same cost rules (`pl330BeatCycles`) and the same S/B condition
 * rule (`pl330CondHolds`) as the interpreter.
 */

import { decodePl330, type Pl330Cond, type Pl330Insn } from "./pl330-isa.js";

/** The channel state that decides what a transfer instruction does. */
export interface Pl330TransferSetup {
  readonly ccr: number;
  /** request_flag: true after a burst request, false after a single one (or none). */
  readonly requestBurst: boolean;
  /** AXI data bus width in bytes. */
  readonly busBytes: number;
}

/** False when an S/B form does not match request_flag: the instruction then is a DMANOP. */
export function pl330CondHolds(cond: Pl330Cond, requestBurst: boolean): boolean {
  return cond === "always" || (cond === "burst") === requestBurst;
}

/** Cycles one beat takes on the bus: one, or more for a beat wider than the bus. */
export function pl330BeatCycles(beatBytes: number, busBytes: number): number {
  return beatBytes > busBytes ? beatBytes / busBytes : 1;
}

export interface Pl330PassEffect {
  /** Cycles of the body (not counting the DMALPEND that closes it). */
  cycles: number;
  loaded: number;
  stored: number;
  /** MFIFO bytes held at the end, and the lowest and highest level on the way, from 0. */
  net: number;
  min: number;
  max: number;
  /** Loop counters (bit n for LCn) that the body's own nested loops use. */
  innerLoops: number;
}

/**
 * One pass of `body` (the bytes from the loop's first instruction up to its DMALPEND), or
 * undefined if the body holds anything else or nests a loop on a counter in `busy`.
 */
export function planPl330Pass(
  body: Uint8Array,
  setup: Pl330TransferSetup,
  busy: number,
): Pl330PassEffect | undefined {
  const insns: { at: number; insn: Pl330Insn }[] = [];
  for (let at = 0; at < body.length; ) {
    const insn = decodePl330(body, at);
    if (!insn) return undefined;
    insns.push({ at, insn });
    at += insn.size;
  }
  const { ccr, requestBurst, busBytes } = setup;
  const srcBeat = 1 << ((ccr >>> 1) & 7);
  const dstBeat = 1 << ((ccr >>> 15) & 7);
  const srcBeats = ((ccr >>> 4) & 0xf) + 1;
  const dstBeats = ((ccr >>> 18) & 0xf) + 1;
  const srcCycles = pl330BeatCycles(srcBeat, busBytes);
  const dstCycles = pl330BeatCycles(dstBeat, busBytes);

  const walk = (from: number, to: number, busyLoops: number): Pl330PassEffect | undefined => {
    const eff = { cycles: 0, loaded: 0, stored: 0, net: 0, min: 0, max: 0, innerLoops: 0 };
    for (let i = from; i < to; i++) {
      const { insn } = insns[i]!;
      switch (insn.op) {
        case "DMANOP":
        case "DMARMB":
        case "DMAWMB":
          eff.cycles += 1;
          break;
        case "DMALD":
        case "DMAST": {
          if (!pl330CondHolds(insn.cond, requestBurst)) {
            eff.cycles += 1;
            break;
          }
          // A DMALDS/DMASTS in single request mode moves one beat (as QEMU does).
          const single = insn.cond === "single";
          if (insn.op === "DMALD") {
            const beats = single ? 1 : srcBeats;
            eff.cycles += 1 + beats * srcCycles;
            eff.loaded += beats * srcBeat;
            eff.net += beats * srcBeat;
            eff.max = Math.max(eff.max, eff.net);
          } else {
            const beats = single ? 1 : dstBeats;
            eff.cycles += 1 + beats * dstCycles;
            eff.stored += beats * dstBeat;
            eff.net -= beats * dstBeat;
            eff.min = Math.min(eff.min, eff.net);
          }
          break;
        }
        case "DMALP": {
          const bit = 1 << insn.lc;
          if (busyLoops & bit) return undefined;
          // The first DMALPEND on the same counter closes the loop; it must be a plain
          // counted DMALPEND jumping back to the instruction right after this DMALP.
          let j = i + 1;
          while (j < to && !isLoopEnd(insns[j]!.insn, insn.lc)) j++;
          const close = j < to ? insns[j]! : undefined;
          const bodyAt = insns[i + 1]?.at;
          if (
            close?.insn.op !== "DMALPEND" ||
            close.insn.forever ||
            close.insn.cond !== "always" ||
            bodyAt === undefined ||
            j === i + 1 ||
            close.at - close.insn.jump !== bodyAt
          ) {
            return undefined;
          }
          const inner = walk(i + 1, j, busyLoops | bit);
          if (inner?.net !== 0) return undefined;
          const reps = insn.count + 1;
          eff.cycles += 1 + reps * (inner.cycles + 1);
          eff.loaded += reps * inner.loaded;
          eff.stored += reps * inner.stored;
          eff.min = Math.min(eff.min, eff.net + inner.min);
          eff.max = Math.max(eff.max, eff.net + inner.max);
          eff.innerLoops |= bit | inner.innerLoops;
          i = j;
          break;
        }
        default:
          return undefined;
      }
    }
    return eff;
  };
  return walk(0, insns.length, busy);
}

function isLoopEnd(insn: Pl330Insn, lc: 0 | 1): boolean {
  return insn.op === "DMALPEND" && insn.lc === lc;
}
