/**
 * A small world for the VFS tests: a `Vfs` with a process table of fake tasks (root with every
 * capability, or an ordinary user), each with a real address space and a scratch buffer, and
 * helpers that do what cat/echo/ls do through the same paths a syscall takes.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import type { CapabilityName } from "../capability.js";
import { SysError } from "../errno.js";
import type { AddressSpace } from "../mm/address-space.js";
import { type MmMachine, machine } from "../mm/mm-test-fixture.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../mm/mman.js";
import type { RlimitName, Task } from "../task.js";
import { type File, O_RDONLY, O_WRONLY } from "./file.js";
import type { ProcessTable } from "./proc-pid.js";
import { Vfs, type VfsOptions } from "./vfs.js";

export interface FsTaskOptions {
  readonly pid: number;
  readonly comm?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Effective capabilities; default: all for uid 0, none otherwise. */
  readonly caps?: readonly CapabilityName[] | "all";
}

export class FsTask implements Task {
  readonly pid: number;
  readonly comm: string;
  readonly uid: number;
  readonly euid: number;
  readonly gid: number;
  readonly egid: number;
  readonly mm: AddressSpace;
  caps: ReadonlySet<CapabilityName> | "all";
  /** A writable scratch buffer of `BUF_PAGES` pages. */
  readonly buf: number;
  /** Open descriptors, for /proc/<pid>/fd. */
  readonly fds = new Map<number, File>();

  constructor(m: MmMachine, opts: FsTaskOptions) {
    this.pid = opts.pid;
    this.comm = opts.comm ?? `task${opts.pid}`;
    this.uid = this.euid = opts.uid ?? 0;
    this.gid = this.egid = opts.gid ?? this.uid;
    const caps = opts.caps ?? (this.uid === 0 ? "all" : []);
    this.caps = caps === "all" ? "all" : new Set(caps);
    this.mm = m.newMm();
    this.buf = this.mm.mmap({
      addr: 0,
      length: BUF_PAGES * PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
    });
  }

  capable(cap: CapabilityName): boolean {
    return this.caps === "all" || this.caps.has(cap);
  }

  /** Drops one capability (as a capset test would). */
  drop(cap: CapabilityName): void {
    const all = this.caps === "all" ? ALL_DAC_CAPS : [...this.caps];
    this.caps = new Set(all.filter((c) => c !== cap));
  }

  rlimit(_resource: RlimitName): number {
    return Number.POSITIVE_INFINITY;
  }

  fget(_fd: number): undefined {
    return undefined;
  }

  fdInstall(): number {
    throw new Error("this test task has no descriptor table");
  }

  getUnusedFdFlags(): number {
    throw new Error("this test task has no descriptor table");
  }

  fdInstallReserved(): void {
    throw new Error("this test task has no descriptor table");
  }

  putUnusedFd(): void {
    throw new Error("this test task has no descriptor table");
  }

  /** Installs `file` at the lowest free descriptor. */
  install(file: File): number {
    let fd = 0;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, file);
    return fd;
  }

  poke(bytes: Uint8Array, at = this.buf): void {
    this.mm.writeUser(at, bytes);
  }

  peek(len: number, at = this.buf): Uint8Array {
    const out = new Uint8Array(len);
    this.mm.readUser(at, out);
    return out;
  }
}

export const BUF_PAGES = 4;

/** The capabilities the tests toggle, standing in for "all" once one is dropped. */
const ALL_DAC_CAPS: readonly CapabilityName[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_SYS_ADMIN",
  "CAP_SYS_PTRACE",
  "CAP_SYS_RAWIO",
  "CAP_MKNOD",
];

export interface FsWorld {
  readonly vfs: Vfs;
  readonly m: MmMachine;
  readonly tasks: Map<number, FsTask>;
  /** pid 1, root with every capability. */
  readonly root: FsTask;
  /** pid 1000, uid/gid 1000, no capabilities. */
  readonly user: FsTask;
  spawn(opts: FsTaskOptions): FsTask;
  exit(task: FsTask): void;
}

export function fsWorld(opts: Omit<VfsOptions, "processes"> = {}): FsWorld {
  const m = machine(256);
  const tasks = new Map<number, FsTask>();
  const table: ProcessTable = {
    find: (pid) => tasks.get(pid),
    pids: () => [...tasks.keys()].sort((a, b) => a - b),
    files: (pid) => {
      const t = tasks.get(pid);
      return t ? [...t.fds.entries()].sort((a, b) => a[0] - b[0]) : [];
    },
  };
  const vfs = new Vfs({ ...opts, processes: table });
  const spawn = (o: FsTaskOptions): FsTask => {
    const t = new FsTask(m, o);
    tasks.set(t.pid, t);
    return t;
  };
  const root = spawn({ pid: 1, comm: "init" });
  const user = spawn({ pid: 1000, comm: "user", uid: 1000 });
  return { vfs, m, tasks, root, user, spawn, exit: (t) => tasks.delete(t.pid) };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads `file` to the end through `vfs.read`, `chunk` bytes per call. */
export function readAll(vfs: Vfs, task: FsTask, file: File, chunk = PAGE_SIZE): string {
  const parts: Uint8Array[] = [];
  for (;;) {
    const n = vfs.read(file, task, task.buf, chunk);
    if (n === 0) break;
    parts.push(task.peek(n));
  }
  return dec.decode(concat(parts));
}

/** cat(1): open, read to the end, close. */
export function readText(vfs: Vfs, task: FsTask, path: string): string {
  const f = vfs.open(path, O_RDONLY, task);
  try {
    return readAll(vfs, task, f);
  } finally {
    vfs.fput(f);
  }
}

/** echo -n text > path: open for writing, one write, close; returns the write's result. */
export function writeText(
  vfs: Vfs,
  task: FsTask,
  path: string,
  text: string,
  flags = O_WRONLY,
): number {
  const f = vfs.open(path, flags, task);
  try {
    return writeFile(vfs, task, f, text);
  } finally {
    vfs.fput(f);
  }
}

/** One write(2) of `text` to an open file. */
export function writeFile(vfs: Vfs, task: FsTask, file: File, text: string): number {
  const bytes = enc.encode(text);
  task.poke(bytes);
  return vfs.write(file, task, task.buf, bytes.length);
}

/** The text of the bytes at the task's buffer. */
export function bufText(task: FsTask, n: number): string {
  return dec.decode(task.peek(n));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** "CODE:function" of the SysError `f` throws, or "ok". */
export function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (SysError.isInstance(e)) return `${e.code}:${e.fn}`;
    throw e;
  }
  return "ok";
}
