/**
 * WARN(), WARN_ON() and their _ONCE forms, as an arm64 kernel reports them (lib/bug.c:
 * __report_bug(), kernel/panic.c: __warn_printk(), __warn(), print_oops_end_marker()): the
 * `cut here` line, the message, `WARNING: <file>:<line> at <function>, CPU#0: <comm>/<pid>`, the
 * modules line, the end-of-trace marker, then add_taint(TAINT_WARN).
 *
 * The IRQ layer is where this model first needs WARNs, so the helper lives here; it knows
 * nothing about interrupts and can move to a shared place unchanged.
 *
 * Caveat: `%pS` prints the bare symbol — the model has no object code, so no `+0x58/0x90`
 * offset and size; the register dump and the stack trace (`Call trace:`) are not printed.
 */

import { KERN_INFO, KERN_WARNING, LOGLEVEL_DEFAULT } from "../printk/levels.js";
import type { Printk } from "../printk/printk.js";
import type { Taint } from "../taint.js";

/** Where a WARN sits in Linux 7.3: the source file, its line, and the enclosing function. */
export interface WarnSite {
  readonly file: string;
  readonly line: number;
  readonly fn: string;
}

/** The task a WARN is blamed on (`current`). */
export interface WarnTask {
  readonly comm: string;
  readonly pid: number;
}

export interface BugOptions {
  readonly printk: Printk;
  /** Receives TAINT_WARN; without it the WARN is only logged. */
  readonly taint?: Taint | undefined;
  /** `current` when the WARN fires; defaults to the idle task of CPU 0 (`swapper/0`, pid 0). */
  readonly current?: (() => WarnTask) | undefined;
  /** print_modules(): loaded module names, newest first. */
  readonly modules?: (() => readonly string[]) | undefined;
}

const CUT_HERE = "------------[ cut here ]------------";
const SWAPPER: WarnTask = { comm: "swapper/0", pid: 0 };

export class Bug {
  private readonly printk: Printk;
  private readonly taint: Taint | undefined;
  private readonly current: () => WarnTask;
  private readonly modules: () => readonly string[];
  /** BUGFLAG_DONE of each _ONCE site that has fired. */
  private readonly done = new Set<string>();

  constructor(opts: BugOptions) {
    this.printk = opts.printk;
    this.taint = opts.taint;
    this.current = opts.current ?? (() => SWAPPER);
    this.modules = opts.modules ?? (() => []);
  }

  /**
   * WARN(1, fmt, …): __warn_printk() prints `cut here` and the message (at the level the
   * message carries, else the default one), then the trap reports the site.
   */
  warn(site: WarnSite, message: string, level = LOGLEVEL_DEFAULT): void {
    this.printk.printk(KERN_WARNING, CUT_HERE);
    this.printk.printk(level, message);
    this.report(site);
  }

  /** WARN_ON(1): no message; __report_bug() prints `cut here` itself, at KERN_INFO. */
  warnOn(site: WarnSite): void {
    this.printk.printk(KERN_INFO, CUT_HERE);
    this.report(site);
  }

  /** WARN_ONCE(1, fmt, …): only the first time this site fires. Returns whether it printed. */
  warnOnce(site: WarnSite, message: string, level = LOGLEVEL_DEFAULT): boolean {
    if (!this.once(`${site.file}:${site.line}`)) return false;
    this.warn(site, message, level);
    return true;
  }

  /** WARN_ON_ONCE(1). */
  warnOnOnce(site: WarnSite): boolean {
    if (!this.once(`${site.file}:${site.line}`)) return false;
    this.warnOn(site);
    return true;
  }

  /**
   * The `_once` latch (BUGFLAG_DONE, or the static flag of printk_once()): true the first time
   * `key` is seen.
   */
  once(key: string): boolean {
    if (this.done.has(key)) return false;
    this.done.add(key);
    return true;
  }

  /** kernel/panic.c: __warn() for a WARN with a file and line in the bug table. */
  private report(site: WarnSite): void {
    const task = this.current();
    this.printk.printk(
      KERN_WARNING,
      `WARNING: ${site.file}:${site.line} at ${site.fn}, CPU#0: ${task.comm}/${task.pid}`,
    );
    // kernel/module/main.c: print_modules() — one " name" per loaded module.
    const mods = this.modules();
    this.printk.printk(LOGLEVEL_DEFAULT, `Modules linked in:${mods.map((m) => ` ${m}`).join("")}`);
    this.printk.printk(KERN_WARNING, "---[ end trace 0000000000000000 ]---");
    this.taint?.add("TAINT_WARN", "LOCKDEP_STILL_OK");
  }
}
