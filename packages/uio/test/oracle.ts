/**
 * Replaying an oracle probe (oracle-probes/uio-*.c) on the model: the test re-runs the probe's
 * steps through a process's system calls and prints every line as oracle.h prints it (ORC lines
 * with `ret=` and `errno=`, INFO lines of orc_ls()/orc_show_file()/orc_bind(), KMSG lines of the
 * kernel log since the previous orc_kmsg(), `=== step ===` markers). `compare()` then sets the
 * model's transcript beside the recorded one, after the substitutions a test declares for what
 * differs by construction between the two machines (a dynamic major, an IRQ number, files the
 * model does not have), so a reviewer reads every difference in the test itself.
 */

import { readFileSync } from "node:fs";
import {
  errnoName,
  type Kernel,
  type KernelModule,
  O_WRONLY,
  type Process,
  SysError,
} from "@vfio-lab/kernel";

/** The recorded trace: ORC, INFO, KMSG and step lines, without the `#` header and tool markers. */
export function oracleLines(file: string): string[] {
  const text = readFileSync(new URL(`../../../oracle-probes/${file}`, import.meta.url), "utf8");
  return text
    .split("\n")
    .filter((l) => /^(ORC \d{3} |INFO |KMSG |=== )/.test(l))
    .filter((l) => !/^=== ORACLE-(BOOTED|PROBE-EXIT)/.test(l));
}

/** orc_errname(): the canonical name of an errno (EWOULDBLOCK prints as EAGAIN). */
function errName(e: SysError): string {
  return errnoName(e.errno) ?? e.code;
}

/** The probe side: oracle.h's helpers over one process of the model. */
export class OracleReplay {
  readonly lines: string[] = [];
  private seq = 0;
  private kmsgStarted = false;
  private pendingKmsg: string[] = [];
  /** The result of the last orc() call (orc_ret). */
  ret = 0;

  constructor(
    readonly kernel: Kernel,
    readonly p: Process,
  ) {
    kernel.printk.subscribe((r) => {
      if (this.kmsgStarted) this.pendingKmsg.push(`KMSG <${r.level}> ${r.text}`);
    });
  }

  /** orc_step() */
  step(title: string): void {
    this.lines.push(`=== ${title} ===`);
  }

  /** orc_info() */
  info(text: string): void {
    this.lines.push(`INFO ${text}`);
  }

  /** orc_kmsg(): the records since the previous call (the first call only marks the start). */
  kmsg(): void {
    this.lines.push(...this.pendingKmsg);
    this.pendingKmsg = [];
    this.kmsgStarted = true;
  }

  /**
   * ORC_CALL + orc_end(): runs `f`, prints `ORC nnn desc => ret=R errno=E [| extra]`; `extra`
   * sees the result. A SysError is ret -1 with its errno, as the C wrapper returns it.
   */
  orc(desc: string, f: () => number, extra?: (ret: number) => string | null): number {
    this.seq++;
    let ret: number;
    let err = "OK(0)";
    try {
      ret = f();
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      ret = -1;
      err = `${errName(e)}(${e.errno})`;
    }
    this.ret = ret;
    const tail = extra?.(ret);
    const n = String(this.seq).padStart(3, "0");
    // A description with a newline (a written "\n") is cut there by the trace normaliser.
    const line = `ORC ${n} ${desc} => ret=${ret} errno=${err}${tail ? ` | ${tail}` : ""}`;
    const nl = line.indexOf("\n");
    this.lines.push(nl < 0 ? line : line.slice(0, nl));
    return ret;
  }

  /** orc_read_file() + orc_show_file() */
  showFile(path: string): void {
    let text: string;
    try {
      text = this.p.readFile(path);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      this.info(`${path}: ${errName(e)}`);
      return;
    }
    text = text
      .slice(0, 1023)
      .replace(/[\n ]+$/, "")
      .replace(/\n/g, "|");
    this.info(`${path} = '${text}'`);
  }

  /** orc_write_file(): one ORC line for the write (or for the open that failed). */
  writeFile(path: string, val: string): number {
    const p = this.p;
    let fd: number;
    try {
      fd = p.open(path, O_WRONLY);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      // oracle.h reports a failed open with errno already reset: OK(0).
      this.seq++;
      this.lines.push(
        `ORC ${String(this.seq).padStart(3, "0")} open("${path}", O_WRONLY) => ret=-1 errno=OK(0)`,
      );
      return -1;
    }
    const bytes = new TextEncoder().encode(val);
    const va = p.malloc(Math.max(bytes.length, 1));
    p.poke(va, bytes);
    const r = this.orc(`write("${path}", "${val}")`, () => p.write(fd, va, bytes.length));
    p.close(fd);
    return r;
  }

  /** orc_ls(): sorted, dot entries skipped, a trailing space. */
  ls(path: string): void {
    let names: string[];
    try {
      names = this.p.readdir(path);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      this.info(`ls ${path}: ${errName(e)}`);
      return;
    }
    const shown = names.filter((n) => !n.startsWith(".")).sort();
    this.info(`ls ${path}: ${shown.map((n) => `${n} `).join("")}`);
  }

  /** orc_link_name(): the link's last component, "(none)" without one. */
  linkName(path: string): string {
    try {
      const t = this.p.readlink(path);
      return t.slice(t.lastIndexOf("/") + 1);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      return "(none)";
    }
  }

  driverOf(bus: string, dev: string): string {
    return this.linkName(`/sys/bus/${bus}/devices/${dev}/driver`);
  }

  iommuGroup(bus: string, dev: string): number {
    const g = this.linkName(`/sys/bus/${bus}/devices/${dev}/iommu_group`);
    return g === "(none)" ? -1 : Number(g);
  }

  /** orc_bind() */
  bind(bus: string, dev: string, drv: string): number {
    this.writeFile(`/sys/bus/${bus}/devices/${dev}/driver_override`, drv);
    const cur = this.driverOf(bus, dev);
    if (cur !== "(none)") {
      if (cur === drv) return 0;
      this.writeFile(`/sys/bus/${bus}/devices/${dev}/driver/unbind`, dev);
    }
    this.writeFile(`/sys/bus/${bus}/drivers_probe`, dev);
    if (this.driverOf(bus, dev) !== drv) {
      this.writeFile(`/sys/bus/${bus}/drivers/${drv}/bind`, dev);
    }
    const now = this.driverOf(bus, dev);
    this.info(`${bus} ${dev}: driver=${now} iommu_group=${this.iommuGroup(bus, dev)}`);
    return now === drv ? 0 : -1;
  }

  /** orc_modprobe(): dependencies first (without parameters), one ORC line per module loaded. */
  modprobe(module: KernelModule<Kernel>, params: string): number {
    for (const dep of module.dependencies ?? []) {
      if (typeof dep !== "string" && !this.kernel.modules.isLoaded(dep.name)) {
        this.modprobe(dep as KernelModule<Kernel>, "");
      }
    }
    if (this.kernel.modules.isLoaded(module.name)) return 0;
    return this.orc(`finit_module(${module.name}, "${params}")`, () => {
      this.kernel.modules.insmod(module, params);
      return 0;
    });
  }

  /** orc_rmmod(): delete_module(name, O_NONBLOCK). */
  rmmod(name: string): number {
    return this.orc(`delete_module("${name}")`, () => {
      this.kernel.rmmod(name);
      return 0;
    });
  }
}

/** The recorded lines and the model's, after `subst` was applied to the recorded ones. */
export function compare(
  replay: OracleReplay,
  file: string,
  subst: (line: string) => string | null = (l) => l,
): { got: string[]; want: string[] } {
  const want: string[] = [];
  for (const l of oracleLines(file)) {
    const s = subst(l);
    if (s !== null) want.push(s);
  }
  return { got: replay.lines, want };
}
