/**
 * Replaying an oracle probe of the VFIO core (oracle-probes/vfio-*.c) on the board, and holding
 * each replayed line to the line real Linux 7.3 printed for it.
 *
 * The probes ran on QEMU's PCI `edu` device under vfio-pci; the board has no PCI, so a replay
 * cannot reproduce a recorded trace line for line as the iommufd replays do
 * (packages/iommufd/test/oracle-trace.ts). Instead every call the model makes is printed with
 * the ORC number of the oracle line it stands for (`ORC 039 GROUP_GET_DEVICE_FD(bdf) => ret=-1
 * errno=EINVAL(22)`), so the comparison is with that very line of the `.7.3.txt` file; INFO and
 * KMSG lines are compared with the block the oracle printed after a given ORC line (or step
 * header). Lines whose answer belongs to vfio-pci or to PCI are declared skipped with a reason,
 * and `uncovered()` lists every ORC line of the probe that was neither replayed nor skipped, so a
 * reviewer sees the whole probe accounted for.
 */

import { readFileSync } from "node:fs";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  type Kernel,
  major,
  minor,
  O_RDWR,
  O_WRONLY,
  type Process,
  SysError,
} from "@vfio-lab/kernel";

/** One line of a recorded trace, with the step (`=== … ===`) it belongs to. */
interface OracleLine {
  readonly text: string;
  readonly orc: number | null;
  readonly step: string;
}

/** A recorded probe: its ORC, INFO and KMSG lines by step, ORC lines by their own number. */
export class OracleProbe {
  readonly lines: OracleLine[] = [];
  readonly steps: string[] = [];

  constructor(readonly file: string) {
    const text = readFileSync(new URL(`../../../oracle-probes/${file}`, import.meta.url), "utf8");
    let step = "";
    for (const l of text.split("\n")) {
      const header = /^=== (.*) ===$/.exec(l);
      if (header) {
        step = header[1]!;
        // The lines before the first step (module loads, binds) belong to the boot header.
        if (!step.startsWith("ORACLE-PROBE-EXIT")) this.steps.push(step);
        continue;
      }
      const orc = /^ORC (\d{3}) /.exec(l);
      if (orc || l.startsWith("INFO ") || l.startsWith("KMSG ")) {
        this.lines.push({ text: l, orc: orc ? Number(orc[1]) : null, step });
      }
    }
  }

  /** ORC line `n`, as printed. */
  orc(n: number): string {
    const l = this.lines.find((x) => x.orc === n);
    if (!l) throw new Error(`${this.file}: no ORC ${n}`);
    return l.text;
  }

  /** The INFO/KMSG lines printed after ORC `anchor` (or after step header `anchor`), in order. */
  block(anchor: number | string): string[] {
    let at: number;
    if (typeof anchor === "number") {
      at = this.lines.findIndex((x) => x.orc === anchor);
    } else {
      at = this.lines.findIndex((x) => x.step === anchor) - 1;
      if (at < -1) throw new Error(`${this.file}: no step "${anchor}"`);
    }
    if (typeof anchor === "number" && at < 0) throw new Error(`${this.file}: no ORC ${anchor}`);
    const out: string[] = [];
    const step = typeof anchor === "number" ? this.lines[at]!.step : anchor;
    for (let i = at + 1; i < this.lines.length; i++) {
      const l = this.lines[i]!;
      if (l.orc !== null || l.step !== step) break;
      out.push(l.text);
    }
    return out;
  }

  orcNumbers(): number[] {
    return this.lines.filter((l) => l.orc !== null).map((l) => l.orc!);
  }
}

/** What one step of the replay printed and what the oracle printed for it. */
export interface StepResult {
  readonly got: string[];
  readonly want: string[];
}

export interface ReplayOptions {
  /**
   * The board's names for what the oracle's board called otherwise (an IOMMU group number, a
   * driver name), applied to every oracle line before it is compared.
   */
  readonly subst?: (oracleLine: string) => string;
}

/** `%#x` as C prints it: 0 without a prefix. */
export const hex = (n: number | bigint): string =>
  BigInt(n) === 0n ? "0" : `0x${BigInt(n).toString(16)}`;

/** The replay of one probe: prints like oracle.h and pairs each line with the oracle's. */
export class Replay {
  readonly results = new Map<string, StepResult>();
  private readonly covered = new Set<number>();
  private readonly skipped = new Map<number, string>();
  private step = "";
  private pending: { n: number; line: string } | null = null;
  private readonly kmsgs: string[] = [];
  private readonly subst: (s: string) => string;

  constructor(
    readonly probe: OracleProbe,
    kernel: Kernel,
    opts: ReplayOptions = {},
  ) {
    this.subst = opts.subst ?? ((s) => s);
    kernel.printk.subscribe((r) => this.kmsgs.push(`KMSG <${r.level}> ${r.text}`));
  }

  /** orc_step(): the oracle step the following lines belong to. */
  begin(title: string): void {
    if (!this.probe.steps.includes(title))
      throw new Error(`${this.probe.file}: no step "${title}"`);
    this.step = title;
    if (!this.results.has(title)) this.results.set(title, { got: [], want: [] });
  }

  private compare(got: string, want: string): void {
    const r = this.results.get(this.step);
    if (!r) throw new Error("Replay: no step begun");
    r.got.push(got);
    r.want.push(this.subst(want));
  }

  /** ORC_CALL(): runs `f` as oracle line `n` and keeps the line open for `end()`. */
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

  /** orc_end(): closes the open line with what the call wrote back, and compares it. */
  end(extra?: string): void {
    const p = this.pending;
    if (!p) throw new Error("Replay: end() without call()");
    this.pending = null;
    this.covered.add(p.n);
    this.compare(extra === undefined ? p.line : `${p.line} | ${extra}`, this.probe.orc(p.n));
  }

  /** ORC(): a call whose line has nothing after the result. */
  orc(n: number, desc: string, f: () => number): number {
    const r = this.call(n, desc, f);
    this.end();
    return r;
  }

  /**
   * A call whose written-back fields are the PCI device's own (vfio-pci's GET_INFO flags and
   * counts, a PCI config read): only the result is compared.
   */
  orcResult(n: number, desc: string, f: () => number): number {
    const r = this.call(n, desc, f);
    this.endResult();
    return r;
  }

  /** Closes the open line comparing only the result (see orcResult()). */
  endResult(): void {
    const p = this.pending;
    if (!p) throw new Error("Replay: endResult() without call()");
    this.pending = null;
    this.covered.add(p.n);
    this.compare(p.line, this.probe.orc(p.n).replace(/ \| .*$/, ""));
  }

  /**
   * The model's INFO/KMSG lines against what the oracle printed after ORC `anchor` (or the step
   * header), through `keep` — which drops the oracle lines that are vfio-pci's or PCI's — and
   * `adapt`, which puts the board's names where the oracle's line has PCI's (a sysfs path).
   */
  after(
    anchor: number | string,
    got: readonly string[],
    keep: (l: string) => boolean = () => true,
    adapt: (l: string) => string = (l) => l,
  ) {
    const want = this.probe.block(anchor).filter(keep).map(adapt);
    const r = this.results.get(this.step)!;
    r.got.push(...got);
    r.want.push(...want.map(this.subst));
    // Unequal lengths must still show up as a difference line by line.
    for (let i = got.length; i < want.length; i++) r.got.push("(missing)");
    for (let i = want.length; i < got.length; i++) r.want.push("(not printed by Linux)");
  }

  /** orc_kmsg(): the log lines printed since the last call, as `KMSG <level> text`. */
  kmsg(): string[] {
    return this.kmsgs.splice(0);
  }

  /** ORC lines not replayed, with why (vfio-pci or PCI behaviour, or the board differs). */
  skip(ns: readonly number[], why: string): void {
    for (const n of ns) {
      this.probe.orc(n);
      this.skipped.set(n, why);
    }
  }

  /** Every ORC line of the probe neither replayed nor declared skipped. */
  uncovered(): number[] {
    return this.probe.orcNumbers().filter((n) => !this.covered.has(n) && !this.skipped.has(n));
  }
}

/** The probe's stdin, stdout and stderr: its first fd is 3, as on Linux. */
export function openStdio(p: Process): void {
  for (let i = 0; i < 3; i++) p.open("/dev/null", O_RDWR);
}

/** orc_hexdump(): 16 bytes a row, in 4-byte groups, each followed by a space. */
export function hexdump(label: string, bytes: Uint8Array): string[] {
  const rows: string[] = [];
  for (let row = 0; row < bytes.length; row += 16) {
    let s = `INFO ${label} +0x${row.toString(16).padStart(3, "0")}: `;
    for (let g = row; g < Math.min(row + 16, bytes.length); g += 4) {
      const group = bytes.subarray(g, Math.min(g + 4, bytes.length));
      s += `${[...group].map((b) => b.toString(16).padStart(2, "0")).join("")} `;
    }
    rows.push(s);
  }
  return rows;
}

/** The probes' checks(): CHECK_EXTENSION 0..11, each answer or `-1/ERRNO`. */
export function checkExtensions(f: (ext: number) => number): string {
  let line = "";
  for (let e = 0; e <= 11; e++) {
    try {
      line += ` ${e}=${f(e)}`;
    } catch (err) {
      if (!SysError.isInstance(err)) throw err;
      line += ` ${e}=-1/${err.code}`;
    }
  }
  return line;
}

/** A file of the model's sysfs as orc_show_file() prints it: newlines as `|`, no trailing one. */
export function showFile(p: Process, path: string): string {
  return `INFO ${path} = '${p.readFile(path).replace(/\n$/, "").replaceAll("\n", "|")}'`;
}

/** orc_ls(): the entries of a directory, each followed by a space. */
export function ls(p: Process, path: string): string {
  try {
    return `INFO ls ${path}: ${p
      .readdir(path)
      .filter((e) => e !== "." && e !== "..")
      .sort()
      .map((e) => `${e} `)
      .join("")}`;
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    return `INFO ls ${path}: ${e.code}`;
  }
}

/** The probes' stat_node(): type, permission bits and device number of a node. */
export function statNode(p: Process, path: string): string {
  try {
    const st = p.stat(path);
    const type = (st.mode & 0o170000) === 0o020000 ? "char" : "other";
    const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
    return `INFO stat ${path}: ${type} mode=${mode} rdev=${major(st.rdev)}:${minor(st.rdev)}`;
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    return `INFO stat ${path}: ${e.code}`;
  }
}

/** The probes' show_link(): where a sysfs link points. */
export function showLink(p: Process, path: string): string {
  try {
    return `INFO readlink ${path} = ${p.readlink(path)}`;
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    return `INFO readlink ${path}: ${e.code}`;
  }
}

/** orc_write_file(): open, one write(2), close; the bytes written. */
export function writeFile(p: Process, path: string, text: string): number {
  const bytes = new TextEncoder().encode(text);
  const va = p.malloc(bytes.length);
  p.poke(va, bytes);
  const fd = p.open(path, O_WRONLY);
  try {
    return p.write(fd, va, bytes.length);
  } finally {
    p.close(fd);
    p.munmap(va, PAGE_SIZE);
  }
}

/** The bytes of an orc_hexdump() among `lines` (the rows labelled `label`, in order). */
export function parseHexdump(lines: readonly string[], label: string): Uint8Array {
  const bytes: number[] = [];
  for (const l of lines) {
    const m = new RegExp(`^INFO ${label} \\+0x[0-9a-f]+: (.*)$`).exec(l);
    if (!m) continue;
    for (const group of m[1]!.trim().split(" ")) {
      for (let i = 0; i < group.length; i += 2)
        bytes.push(Number.parseInt(group.slice(i, i + 2), 16));
    }
  }
  return Uint8Array.from(bytes);
}
