/**
 * Replaying an oracle probe (oracle-probes/*.c, recorded on Linux 7.3) on the board and holding
 * each replayed line to the line Linux printed: every model call is printed as oracle.h prints
 * it, under the ORC number of the line it stands for, and every INFO/KMSG block is compared
 * with the block Linux printed after the same ORC line. `uncovered()` lists the ORC lines
 * neither replayed nor named as skipped, so a reviewer sees the whole probe accounted for.
 *
 * The approach of packages/vfio-core/test/oracle-vfio-replay.ts, condensed to what the
 * vfio-platform probes need — with one difference that keeps the two apart: a recorded ORC line
 * whose description holds a newline is cut there, and so is the replayed one (Replay.end()).
 */

import { readFileSync } from "node:fs";
import { boards, Soc } from "@vfio-lab/hw-soc";
import { Kernel, O_RDWR, O_WRONLY, type Process, SysError } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";

export interface OracleLine {
  readonly text: string;
  readonly orc: number | null;
  readonly step: string;
}

/**
 * The recording: ORC, INFO and KMSG lines with their step. The recorder keeps lines by their
 * prefix, so an ORC line whose description holds a newline (ORC 010 writes "\n") keeps only
 * its first part; the replay cuts its own line there too (see Replay.end()).
 */
export function parseOracle(file: string): OracleLine[] {
  const text = readFileSync(new URL(`../../../oracle-probes/${file}`, import.meta.url), "utf8");
  const lines: OracleLine[] = [];
  let step = "";
  for (const l of text.split("\n")) {
    const header = /^=== (.*) ===$/.exec(l);
    if (header) {
      step = header[1]!;
      continue;
    }
    const orc = /^ORC (\d{3}) /.exec(l);
    if (orc || l.startsWith("INFO ") || l.startsWith("KMSG ")) {
      lines.push({ text: l, orc: orc ? Number(orc[1]) : null, step });
    }
  }
  return lines;
}

/** The replay: each model call printed as oracle.h prints it, paired with Linux's line. */
export class Replay {
  readonly results = new Map<string, { got: string[]; want: string[] }>();
  private readonly covered = new Set<number>();
  private readonly skipped = new Set<number>();
  private readonly kmsgs: string[] = [];
  private step = "";
  private pending: { n: number; line: string } | null = null;

  constructor(
    readonly lines: readonly OracleLine[],
    kernel: Kernel,
    private readonly subst: (l: string) => string,
  ) {
    kernel.printk.subscribe((r) => this.kmsgs.push(`KMSG <${r.level}> ${r.text}`));
  }

  begin(step: string): void {
    if (!this.lines.some((l) => l.step === step)) throw new Error(`no step "${step}"`);
    this.step = step;
    this.results.set(step, { got: [], want: [] });
  }

  orcLine(n: number): string {
    const l = this.lines.find((x) => x.orc === n);
    if (!l) throw new Error(`no ORC ${n}`);
    return l.text;
  }

  private push(got: readonly string[], want: readonly string[]): void {
    const r = this.results.get(this.step)!;
    r.got.push(...got);
    r.want.push(...want.map(this.subst));
    for (let i = got.length; i < want.length; i++) r.got.push("(missing)");
    for (let i = want.length; i < got.length; i++) r.want.push("(not printed by Linux)");
  }

  /** ORC_CALL(): `ret=… errno=…` as oracle.h prints them; end() closes the line. */
  call(n: number, desc: string, f: () => number): number {
    let ret: number;
    let errno = "OK(0)";
    try {
      ret = f();
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      ret = -1;
      errno = `${e.code}(${e.errno})`;
    }
    this.pending = {
      n,
      line: `ORC ${String(n).padStart(3, "0")} ${desc} => ret=${ret} errno=${errno}`,
    };
    return ret;
  }

  end(extra?: string): void {
    const p = this.pending!;
    this.pending = null;
    this.covered.add(p.n);
    const line = extra === undefined ? p.line : `${p.line} | ${extra}`;
    // What the recorder kept of a line with a newline in it (see parseOracle()).
    this.push([line.split("\n")[0]!], [this.orcLine(p.n)]);
  }

  orc(n: number, desc: string, f: () => number): number {
    const r = this.call(n, desc, f);
    this.end();
    return r;
  }

  /** The INFO/KMSG lines after ORC `n` (or, for a string, after the step header). */
  after(anchor: number | string, got: readonly string[], adapt = (l: string) => l): void {
    const at =
      typeof anchor === "number"
        ? this.lines.findIndex((x) => x.orc === anchor)
        : this.lines.findIndex((x) => x.step === anchor) - 1;
    const step = typeof anchor === "number" ? this.lines[at]!.step : anchor;
    const want: string[] = [];
    for (let i = at + 1; i < this.lines.length; i++) {
      const l = this.lines[i]!;
      if (l.orc !== null || l.step !== step) break;
      want.push(adapt(l.text));
    }
    this.push(got.map(adapt), want);
  }

  kmsg(): string[] {
    return this.kmsgs.splice(0);
  }

  skip(ns: readonly number[]): void {
    for (const n of ns) {
      this.orcLine(n);
      this.skipped.add(n);
    }
  }

  uncovered(): number[] {
    return this.lines
      .filter((l) => l.orc !== null && !this.covered.has(l.orc) && !this.skipped.has(l.orc))
      .map((l) => l.orc!);
  }
}

/** orc_write_file(): open, one write(2), close. */
export function writeFile(p: Process, path: string, text: string): number {
  const bytes = new TextEncoder().encode(text);
  const va = p.malloc(bytes.length);
  p.poke(va, bytes);
  const fd = p.open(path, O_WRONLY);
  try {
    return p.write(fd, va, bytes.length);
  } finally {
    p.close(fd);
  }
}

/** An INFO line, as orc_info() prints it. */
export const info = (s: string): string => `INFO ${s}`;

/** A replay under way: the board's kernel, the probe process, and its kmsg. */
export interface ReplayWorld {
  readonly t: Replay;
  readonly kernel: Kernel;
  readonly p: Process;
  /** orc_kmsg(): the log since the last call, the opener's pid folded to `(probe:PID)`. */
  kmsg(): string[];
}

/**
 * Boots the default board as the oracle's guest boots (no module parameter on the command line:
 * finit_module ignores it), starts the replay of `file` (listening to printk from boot on) and
 * the probe process, its stdio open as when run from a shell.
 */
export function startReplay(file: string, subst: (l: string) => string): ReplayWorld {
  const kernel = Kernel.boot(Soc.fromDeviceTree(boards.virtLab()));
  const t = new Replay(parseOracle(file), kernel, subst);
  const p = kernel.spawn({ comm: "probe" });
  for (let i = 0; i < 3; i++) p.open("/dev/null", O_RDWR);
  const kmsg = () => t.kmsg().map((l) => l.replace(`(probe:${p.pid})`, "(probe:PID)"));
  return { t, kernel, p, kmsg };
}

/** The suite of a replay: each step's lines against the oracle's, every ORC line accounted for. */
export function describeReplay(title: string, replay: () => Replay): void {
  describe(title, () => {
    const t = replay();
    for (const [step, r] of t.results) {
      it(`=== ${step} ===`, () => {
        expect(r.got).toEqual(r.want);
      });
    }
    it("replays or names as skipped every ORC line of the probe", () => {
      expect(t.uncovered()).toEqual([]);
    });
  });
}
