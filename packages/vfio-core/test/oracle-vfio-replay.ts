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
import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import {
  IOMMU_GET_HW_INFO,
  IOMMU_IOAS_ALLOC,
  iommu_hw_info,
  iommu_ioas_alloc,
} from "@vfio-lab/iommufd/uapi";
import {
  type CapabilityName,
  encodeScalar,
  Kernel,
  type KernelConfigInput,
  major,
  minor,
  O_RDWR,
  O_WRONLY,
  type Process,
  SysError,
  s32,
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_device_detach_iommufd_pt,
  vfio_group_status,
} from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { vfioModule } from "../src/vfio-modules.js";

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

/** The suite of a replay: each step's lines against the oracle's, and every ORC line accounted for. */
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

export interface StartOptions extends ReplayOptions {
  readonly cmdline?: string;
  readonly config?: KernelConfigInput;
}

/** A replay under way: the board's kernel and the probe process. */
export interface ReplayWorld {
  readonly t: Replay;
  readonly kernel: Kernel;
  readonly p: Process;
}

/**
 * Boots the board, starts the replay of `file` (listening to printk from boot on) and the probe
 * process, its stdio open as when run from a shell.
 */
export function startReplay(file: string, opts: StartOptions = {}): ReplayWorld {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const kernel = Kernel.boot(soc, { cmdline: opts.cmdline ?? "", config: opts.config ?? {} });
  const t = new Replay(new OracleProbe(file), kernel, opts);
  const p = kernel.spawn({ comm: "probe" });
  openStdio(p);
  return { t, kernel, p };
}

/** The first step of the probes that hand edu to vfio-pci (vfio-cdev, -type1, -unsafe-interrupts). */
export const BOOT_STEP = "ORACLE-BOOTED kernel=7.3.0-rc7-oracle";

/**
 * BOOT_STEP's module loads. irqbypass, iommu_amdv1, vfio_pci_core and vfio_pci are not on the
 * board (ORC 001–002, 005–006); iommufd and vfio load as ORC 003 and 004, and modprobe(8) brings
 * vfio_iommu_type1 along by vfio's soft dependency, so the probe's own load of it (`type1`) finds
 * it loaded. The bind of edu through /sys/bus/pci (`pciBind`) is skipped: the replay binds its
 * device through /sys/bus/platform next.
 */
export function replayModuleLoads(
  t: Replay,
  kernel: Kernel,
  orcs: { readonly type1?: number; readonly pciBind: readonly number[] },
): void {
  t.begin(BOOT_STEP);
  t.skip([1, 2, 5, 6], "irqbypass, iommu_amdv1, vfio_pci_core, vfio_pci: not on the board");
  t.orc(3, 'finit_module(iommufd, "")', () => {
    kernel.modprobe(iommufdModule);
    return 0;
  });
  t.orc(4, 'finit_module(vfio, "")', () => {
    kernel.modprobe(vfioModule);
    return 0;
  });
  if (orcs.type1 !== undefined) t.orc(orcs.type1, 'finit_module(vfio_iommu_type1, "")', () => 0);
  t.skip(
    orcs.pciBind,
    "vfio-pci binds edu through /sys/bus/pci: the replay binds through platform",
  );
}

/** The oracle's log lines of edu under vfio-pci, as the board's `dev` under `driver` prints them. */
export const eduAs =
  (driver: string, dev: string) =>
  (l: string): string =>
    l.replace("vfio-pci 0000:00:01.0:", `${driver} ${dev}:`);

/**
 * The dynamic majors in the board's terms: the oracle's kernel gave 254–252 to gpiochip, pps
 * and ptp first (vfio got 251, vfio-dev 250); on the board vfio and vfio-dev are the first two.
 */
export const boardMajors = (l: string): string =>
  l
    .replace(/\b251([: ])/g, "254$1")
    .replace(/=251\|/, "=254|")
    .replace(/\b250([: ])/g, "253$1")
    .replace(/=250\|/, "=253|");

/** The warning iommufd prints at every bind on a board without isolated MSI (not the oracle's). */
export const notMsiWarning = (l: string): boolean => !l.includes("MSI interrupts are not secure");

/** vfio-pci's "enabling device (0000 -> 0002)" at the first open of edu (not the core's). */
export const notEnablingDevice = (l: string): boolean => !l.includes("enabling device");

/** An INFO line. */
export const info = (l: string): string => `INFO ${l}`;

/**
 * The calls several probes make alike, each run as ORC line `n` and printed as oracle.h prints
 * it: `arg` is the probe's scratch argument, `name` where GROUP_GET_DEVICE_FD's name goes.
 */
export class ProbeCalls {
  constructor(
    readonly t: Replay,
    readonly p: Process,
    readonly arg: number,
    readonly name: number = arg,
  ) {}

  /** close(2). */
  close(n: number, fd: number, desc: string): number {
    return this.t.orc(n, desc, () => {
      this.p.close(fd);
      return 0;
    });
  }

  /** VFIO_GROUP_SET_CONTAINER(&fd). */
  setContainer(n: number, g: number, fd: number, desc: string): number {
    this.p.poke(this.arg, encodeScalar(s32, fd));
    return this.t.orc(n, desc, () => this.p.ioctl(g, VFIO_GROUP_SET_CONTAINER, this.arg));
  }

  /** VFIO_GROUP_GET_STATUS, the flags after the result; `why` follows the name when given. */
  groupStatus(n: number, g: number, why?: string): void {
    const { p, arg } = this;
    p.poke(arg, vfio_group_status.encode({ argsz: vfio_group_status.size, flags: 0 }));
    const desc = why === undefined ? "GROUP_GET_STATUS" : `GROUP_GET_STATUS ${why}`;
    this.t.call(n, desc, () => p.ioctl(g, VFIO_GROUP_GET_STATUS, arg));
    this.t.end(`flags=${hex(vfio_group_status.decode(p.peek(arg, vfio_group_status.size)).flags)}`);
  }

  /** VFIO_GROUP_GET_DEVICE_FD(dev) → the device fd. */
  getDeviceFd(n: number, g: number, dev: string, desc: string): number {
    this.p.poke(this.name, new TextEncoder().encode(`${dev}\0`));
    return this.t.orc(n, desc, () => this.p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, this.name));
  }

  /** VFIO_DEVICE_BIND_IOMMUFD with argsz 24 → out_devid, printed after the result. */
  bindIommufd(n: number, cd: number, ifd: number, desc: string): number {
    const { p, arg } = this;
    const size = vfio_device_bind_iommufd.size;
    p.poke(arg, vfio_device_bind_iommufd.encode({ argsz: size, iommufd: ifd }));
    this.t.call(n, desc, () => p.ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, arg));
    const devid = vfio_device_bind_iommufd.decode(p.peek(arg, size)).out_devid;
    this.t.end(`out_devid=${devid}`);
    return devid;
  }

  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT(pt_id) → the pt_id written back, printed with `extra`. */
  attachPt(n: number, cd: number, ptId: number, desc: string, extra = ""): number {
    const { p, arg } = this;
    const size = vfio_device_attach_iommufd_pt.size;
    p.poke(arg, vfio_device_attach_iommufd_pt.encode({ argsz: size, pt_id: ptId }));
    this.t.call(n, desc, () => p.ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg));
    const got = vfio_device_attach_iommufd_pt.decode(p.peek(arg, size)).pt_id;
    this.t.end(`pt_id=${got}${extra}`);
    return got;
  }

  /** VFIO_DEVICE_DETACH_IOMMUFD_PT. */
  detachPt(n: number, cd: number, desc: string): number {
    const size = vfio_device_detach_iommufd_pt.size;
    this.p.poke(this.arg, vfio_device_detach_iommufd_pt.encode({ argsz: size }));
    return this.t.orc(n, desc, () => this.p.ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, this.arg));
  }

  /** IOMMU_IOAS_ALLOC → out_ioas_id, printed after the result. */
  ioasAlloc(n: number, ifd: number, desc = "IOMMU_IOAS_ALLOC"): number {
    const { p, arg } = this;
    p.poke(arg, iommu_ioas_alloc.encode({ size: iommu_ioas_alloc.size }));
    this.t.call(n, desc, () => p.ioctl(ifd, IOMMU_IOAS_ALLOC, arg));
    const id = iommu_ioas_alloc.decode(p.peek(arg, iommu_ioas_alloc.size)).out_ioas_id;
    this.t.end(`out_ioas_id=${id}`);
    return id;
  }

  /** IOMMU_GET_HW_INFO(dev_id): the data type and capabilities after the result. */
  hwInfo(n: number, ifd: number, devid: number, desc: string): void {
    const { p, arg } = this;
    p.poke(arg, iommu_hw_info.encode({ size: iommu_hw_info.size, dev_id: devid }));
    this.t.call(n, desc, () => p.ioctl(ifd, IOMMU_GET_HW_INFO, arg));
    const h = iommu_hw_info.decode(p.peek(arg, iommu_hw_info.size));
    this.t.end(`out_data_type=${h.out_data_type} out_capabilities=${hex(h.out_capabilities)}`);
  }

  /** capset(2): `cap` raised in or dropped from the effective set. */
  capset(n: number, cap: CapabilityName, on: boolean): void {
    const p = this.p;
    const effective = p.capget().effective.filter((c) => c !== cap);
    this.t.orc(n, `capset(${on ? "raise" : "drop"} ${cap} in effective set)`, () => {
      p.capset({ effective: on ? [...effective, cap] : effective });
      return 0;
    });
  }

  /** The probes' checks() on `fd` as their INFO line. */
  checks(fd: number, when: string): string {
    const line = checkExtensions((e) => this.p.ioctl(fd, VFIO_CHECK_EXTENSION, e));
    return info(`CHECK_EXTENSION 0..11 ${when}:${line}`);
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
