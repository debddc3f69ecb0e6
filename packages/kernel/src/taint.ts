/**
 * Kernel taint (kernel/panic.c, include/linux/panic.h): the `tainted_mask` word, the
 * `taint_flags[]` table of bits and letters, `add_taint()`, `print_tainted()` and the value that
 * `/proc/sys/kernel/tainted` prints.
 *
 * The table is the one of Linux 7.3: 20 flags, bit 0 (PROPRIETARY_MODULE, 'P' or 'G') to bit 19
 * (FWCTL, 'J'). Flags proposed on the lists after it (UNSAFE_BPF, HW_ERROR_RECOVERED, …) are not
 * in it.
 *
 * Caveat: `panic_on_taint` is not modelled (a taint never panics the model), and
 * CONFIG_RANDSTRUCT is off, so the mask starts at 0.
 */

import { KERN_WARNING } from "./printk/levels.js";
import type { Printk } from "./printk/printk.js";

/** One row of `taint_flags[]`: the letter printed when the bit is set, and when it is not. */
export interface TaintFlagInfo {
  readonly bit: number;
  /** Linux's name with the `TAINT_` prefix (`TAINT_USER`). */
  readonly name: TaintName;
  readonly cTrue: string;
  readonly cFalse: string;
  /** What `print_tainted_verbose()` prints: the name without its prefix (`USER`). */
  readonly desc: string;
}

/** The flags in bit order, as kernel/panic.c declares them. */
const TABLE = [
  ["TAINT_PROPRIETARY_MODULE", "P", "G"],
  ["TAINT_FORCED_MODULE", "F", " "],
  ["TAINT_CPU_OUT_OF_SPEC", "S", " "],
  ["TAINT_FORCED_RMMOD", "R", " "],
  ["TAINT_MACHINE_CHECK", "M", " "],
  ["TAINT_BAD_PAGE", "B", " "],
  ["TAINT_USER", "U", " "],
  ["TAINT_DIE", "D", " "],
  ["TAINT_OVERRIDDEN_ACPI_TABLE", "A", " "],
  ["TAINT_WARN", "W", " "],
  ["TAINT_CRAP", "C", " "],
  ["TAINT_FIRMWARE_WORKAROUND", "I", " "],
  ["TAINT_OOT_MODULE", "O", " "],
  ["TAINT_UNSIGNED_MODULE", "E", " "],
  ["TAINT_SOFTLOCKUP", "L", " "],
  ["TAINT_LIVEPATCH", "K", " "],
  ["TAINT_AUX", "X", " "],
  ["TAINT_RANDSTRUCT", "T", " "],
  ["TAINT_TEST", "N", " "],
  ["TAINT_FWCTL", "J", " "],
] as const;

export type TaintName = (typeof TABLE)[number][0];

/** include/linux/panic.h: `taint_flags[TAINT_FLAGS_COUNT]`. */
export const TAINT_FLAGS: readonly TaintFlagInfo[] = TABLE.map(([name, cTrue, cFalse], bit) => ({
  bit,
  name,
  cTrue,
  cFalse,
  desc: name.slice("TAINT_".length),
}));

export const TAINT_FLAGS_COUNT = TAINT_FLAGS.length;
/** `TAINT_FLAGS_MAX`: every defined bit. */
export const TAINT_FLAGS_MAX = 2 ** TAINT_FLAGS_COUNT - 1;

export const TAINT_PROPRIETARY_MODULE = 0;
export const TAINT_FORCED_MODULE = 1;
export const TAINT_CPU_OUT_OF_SPEC = 2;
export const TAINT_FORCED_RMMOD = 3;
export const TAINT_MACHINE_CHECK = 4;
export const TAINT_BAD_PAGE = 5;
export const TAINT_USER = 6;
export const TAINT_DIE = 7;
export const TAINT_OVERRIDDEN_ACPI_TABLE = 8;
export const TAINT_WARN = 9;
export const TAINT_CRAP = 10;
export const TAINT_FIRMWARE_WORKAROUND = 11;
export const TAINT_OOT_MODULE = 12;
export const TAINT_UNSIGNED_MODULE = 13;
export const TAINT_SOFTLOCKUP = 14;
export const TAINT_LIVEPATCH = 15;
export const TAINT_AUX = 16;
export const TAINT_RANDSTRUCT = 17;
export const TAINT_TEST = 18;
export const TAINT_FWCTL = 19;

const BY_NAME = new Map<string, TaintFlagInfo>(TAINT_FLAGS.map((f) => [f.name, f]));

/** include/linux/panic.h: `enum lockdep_ok`, the second argument of `add_taint()`. */
export type LockdepOk = "LOCKDEP_STILL_OK" | "LOCKDEP_NOW_UNRELIABLE";

/** What a taint listener (the trace bus) is told on every `add_taint()`. */
export interface TaintEvent {
  readonly flag: TaintName;
  readonly bit: number;
  readonly letter: string;
  /** `tainted_mask` after the call. */
  readonly value: number;
}

export type TaintListener = (event: TaintEvent) => void;

function flagInfo(flag: TaintName | number): TaintFlagInfo {
  const info = typeof flag === "number" ? TAINT_FLAGS[flag] : BY_NAME.get(flag);
  // A bad flag is a bug in the calling model, not something user space can provoke.
  if (!info) throw new RangeError(`add_taint: unknown taint flag ${String(flag)}`);
  return info;
}

export interface TaintOptions {
  /** Where "Disabling lock debugging due to kernel taint" goes. */
  readonly printk?: Printk;
}

export class Taint {
  private mask = 0;
  /** lib/debug_locks.c: `debug_locks`, on until the first taint that makes lockdep unreliable. */
  private debugLocks = true;
  private readonly listeners: TaintListener[] = [];
  private readonly printk: Printk | undefined;

  constructor(opts: TaintOptions = {}) {
    this.printk = opts.printk;
  }

  /** kernel/panic.c: get_taint() — `tainted_mask`, what /proc/sys/kernel/tainted prints. */
  get value(): number {
    return this.mask;
  }

  /** The text of a read of /proc/sys/kernel/tainted (proc_taint(): "%lu\n"). */
  get procText(): string {
    return `${this.mask}\n`;
  }

  /** kernel/panic.c: test_taint(). */
  test(flag: TaintName | number): boolean {
    return (this.mask & (1 << flagInfo(flag).bit)) !== 0;
  }

  /**
   * kernel/panic.c: add_taint() — sets the bit (again, if already set: the listeners hear every
   * call, as a tracepoint would). LOCKDEP_NOW_UNRELIABLE switches lock debugging off, which
   * Linux announces once.
   */
  add(flag: TaintName | number, lockdep: LockdepOk = "LOCKDEP_STILL_OK"): void {
    const info = flagInfo(flag);
    if (lockdep === "LOCKDEP_NOW_UNRELIABLE" && this.debugLocks) {
      this.debugLocks = false;
      this.printk?.printk(KERN_WARNING, "Disabling lock debugging due to kernel taint");
    }
    this.mask |= 1 << info.bit;
    const event: TaintEvent = {
      flag: info.name,
      bit: info.bit,
      letter: info.cTrue,
      value: this.mask,
    };
    for (const listener of [...this.listeners]) listener(event);
  }

  /**
   * kernel/panic.c: proc_taint() for a write of `mask` to /proc/sys/kernel/tainted: taints can
   * only be added (each set bit below TAINT_FLAGS_COUNT goes through add_taint(), higher bits
   * are ignored). Who may write (CAP_SYS_ADMIN, else EPERM) is procfs's check.
   */
  procTaintWrite(mask: number | bigint): void {
    const bits = BigInt(mask);
    for (const f of TAINT_FLAGS) if ((bits >> BigInt(f.bit)) & 1n) this.add(f.bit);
  }

  /** kernel/panic.c: print_tainted() — "Not tainted" or "Tainted: " and one letter per flag. */
  printTainted(): string {
    if (this.mask === 0) return "Not tainted";
    let s = "Tainted: ";
    for (const f of TAINT_FLAGS) s += this.mask & (1 << f.bit) ? f.cTrue : f.cFalse;
    return s;
  }

  /** kernel/panic.c: print_tainted_verbose() — "Tainted: [U]=USER, [W]=WARN". */
  printTaintedVerbose(): string {
    if (this.mask === 0) return "Not tainted";
    const set = TAINT_FLAGS.filter((f) => this.mask & (1 << f.bit));
    return `Tainted: ${set.map((f) => `[${f.cTrue}]=${f.desc}`).join(", ")}`;
  }

  /** Called after every add_taint(); returns the unsubscribe function. */
  subscribe(listener: TaintListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }
}
