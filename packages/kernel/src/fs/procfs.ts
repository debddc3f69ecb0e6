/**
 * fs/proc: the proc filesystem — its root, the `proc_dir_entry` tree other layers add files to
 * (proc_create_single(), proc_mkdir(), proc_symlink(), remove_proc_entry()), /proc/self and
 * /proc/thread-self, the per-process directories (proc-pid.ts) and /proc/sys (proc-sysctl.ts).
 *
 * A listing of /proc is ".", "..", the entries in the order of their rbtree (shorter names
 * first, then by bytes: proc_match()), "self", "thread-self", then the process ids ascending
 * (proc_root_readdir() → proc_readdir(), proc_pid_readdir()). Entry inode numbers count from
 * 0xF0000000 (PROC_DYNAMIC_FIRST); the root is inode 1; per-process inodes take
 * get_next_ino() numbers. Files are 0 bytes; directories have 2 + subdirectories links, the
 * root adding one per process. Reading a proc_create_single() file goes through seq_file;
 * writing one without a write handler is EIO (pde_write()), and files of a removed entry read
 * as EIO.
 */

import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import { copyFromUser } from "../uaccess.js";
import { type File, type FileOperations, type Inode, S_IFDIR, S_IFLNK, S_IFREG } from "./file.js";
import { Dentry, genericReadDir, type InodeOperations, KInode, SuperBlock } from "./inode.js";
import { MKDEV } from "./kdev-t.js";
import { type ProcessTable, ProcPid } from "./proc-pid.js";
import { ProcSysctl } from "./proc-sysctl.js";
import { genericFileLlseek, seqLseek } from "./read-write.js";
import { SeqFile, seqReadToUser, textBytes } from "./seq-file.js";

/** The anonymous device of the /proc mount (0:22 on common systemd boots). */
export const PROC_DEV = MKDEV(0, 22);
/** fs/proc/internal.h: PROC_ROOT_INO. */
export const PROC_ROOT_INO = 1;
/** fs/proc/generic.c: PROC_DYNAMIC_FIRST, the first proc_dir_entry inode number. */
export const PROC_DYNAMIC_FIRST = 0xf0000000;

/** A proc file's write handler: the written text, its position, who writes; returns the count. */
export type ProcWrite = (text: string, pos: number, current: Task) => number;

/** `struct proc_dir_entry`. */
class ProcDirEntry {
  readonly children = new Map<string, ProcDirEntry>();
  removed = false;
  dentry!: Dentry;

  constructor(
    readonly name: string,
    readonly parent: ProcDirEntry | null,
    readonly mode: number,
    readonly lowIno: number,
    readonly show: (() => string) | null = null,
    readonly target: string | null = null,
    readonly write: ProcWrite | null = null,
  ) {}

  get subdirs(): number {
    let n = 0;
    for (const c of this.children.values()) if ((c.mode & S_IFDIR) === S_IFDIR) n++;
    return n;
  }
}

/** fs/proc/generic.c: proc_match() — shorter names first, then memcmp(). */
function procMatchOrder(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

const utf8d = new TextDecoder("utf-8");

export interface ProcfsOptions {
  readonly processes?: ProcessTable;
  /** The dentry a file was opened by (for /proc/<pid>/fd/N links). */
  readonly fileDentry?: (file: File) => Dentry | undefined;
}

export class Procfs {
  readonly sb = new SuperBlock("proc", PROC_DEV, { firstIno: 2 });
  readonly root: Dentry;
  readonly sysctl: ProcSysctl;
  private readonly rootPde: ProcDirEntry;
  private nextPdeIno = PROC_DYNAMIC_FIRST;
  private processes: ProcessTable | undefined;
  private readonly pid: ProcPid;
  private readonly selfDentry: Dentry;
  private readonly threadSelfDentry: Dentry;
  private readonly pdeDirIop: InodeOperations;
  private readonly dirFops: FileOperations = Object.freeze({
    read: genericReadDir,
    llseek: genericFileLlseek,
  });

  constructor(opts: ProcfsOptions = {}) {
    this.processes = opts.processes;
    const fileDentry = opts.fileDentry ?? (() => undefined);
    this.pid = new ProcPid({
      sb: this.sb,
      allocIno: () => this.sb.allocIno(),
      processes: () => this.processes,
      fileDentry,
    });
    this.pdeDirIop = {
      lookup: (dir, name) => this.pdeLookup(dir, name),
      iterate: (dir) => this.pdeNames(Procfs.pde(dir.inode)),
      getattr: (inode, stat) => {
        stat.nlink = 2 + Procfs.pde(inode).subdirs;
      },
    };
    // fs/proc/root.c: proc_root, the directory "/proc" itself.
    this.rootPde = new ProcDirEntry("/proc", null, S_IFDIR | 0o555, PROC_ROOT_INO);
    const rootInode = new KInode(this.sb, {
      ino: PROC_ROOT_INO,
      mode: this.rootPde.mode,
      nlink: 2,
      fop: this.dirFops,
      iop: {
        lookup: (dir, name, current) => this.rootLookup(dir, name, current),
        iterate: () => this.rootNames(),
        getattr: (_inode, stat) => {
          // proc_root_getattr(): one link per process on top of proc_root's own.
          stat.nlink = 2 + this.rootPde.subdirs + (this.processes?.pids().length ?? 0);
        },
      },
      private: this.rootPde,
    });
    this.root = new Dentry("/", null, rootInode);
    this.rootPde.dentry = this.root;
    // fs/proc/self.c and thread_self.c: the two links made at mount time.
    this.selfDentry = this.makeLink("self", (current) => `${current.pid}`);
    this.threadSelfDentry = this.makeLink(
      "thread-self",
      (current) => `${current.pid}/task/${current.pid}`,
    );
    // fs/proc/proc_sysctl.c: proc_sys_init() — the "sys" entry, taken over by sysctl.
    this.sysctl = new ProcSysctl(this.sb, () => this.sb.allocIno());
    this.sysctl.attach(this.mkdir("sys"));
  }

  /** Sets the task list /proc shows (the kernel's process table). */
  setProcessTable(processes: ProcessTable): void {
    this.processes = processes;
  }

  private makeLink(name: string, body: (current: Task) => string): Dentry {
    const inode = new KInode(this.sb, {
      ino: this.nextPdeIno++,
      mode: S_IFLNK | 0o777,
      iop: {
        getLink: (_link, current) => body(current),
      },
    });
    return new Dentry(name, this.root, inode);
  }

  private static pde(inode: Inode): ProcDirEntry {
    return inode.private as ProcDirEntry;
  }

  private pdeNames(pde: ProcDirEntry): string[] {
    return [...pde.children.keys()].sort(procMatchOrder);
  }

  private pdeLookup(dir: Dentry, name: string): Dentry | null {
    const pde = Procfs.pde(dir.inode).children.get(name);
    return pde ? pde.dentry : null;
  }

  /** fs/proc/root.c: proc_root_lookup() — a process, "self", "thread-self" or an entry. */
  private rootLookup(dir: Dentry, name: string, _current: Task): Dentry | null {
    if (name === "self") return this.selfDentry;
    if (name === "thread-self") return this.threadSelfDentry;
    if (/^[1-9][0-9]*$/.test(name)) {
      const d = this.pid.lookupPid(this.root, Number(name));
      if (d) return d;
    }
    return this.pdeLookup(dir, name);
  }

  /** fs/proc/root.c: proc_root_readdir() — entries, "self", "thread-self", then the pids. */
  private rootNames(): string[] {
    const pids = this.processes?.pids() ?? [];
    return [...this.pdeNames(this.rootPde), "self", "thread-self", ...pids.map(String)];
  }

  /** "/proc/a/b" or "a/b" → ["a", "b"]. */
  private static split(path: string): string[] {
    const p = path.startsWith("/proc/") ? path.slice(6) : path === "/proc" ? "" : path;
    return p.split("/").filter((x) => x !== "");
  }

  /** fs/proc/generic.c: xlate_proc_name() — the parent entry of the last component (ENOENT). */
  private parentPde(parts: readonly string[], fn: string): ProcDirEntry {
    let pde = this.rootPde;
    for (const p of parts.slice(0, -1)) {
      const next = pde.children.get(p);
      if (!next || (next.mode & S_IFDIR) !== S_IFDIR) {
        throw new SysError("ENOENT", fn, `/proc/${parts.slice(0, -1).join("/")} does not exist`);
      }
      pde = next;
    }
    return pde;
  }

  /** fs/proc/generic.c: proc_register() — EEXIST for a name already registered. */
  private register(
    parts: readonly string[],
    fn: string,
    make: (parent: ProcDirEntry, name: string, ino: number) => ProcDirEntry,
  ): Dentry {
    if (parts.length === 0) throw new SysError("EINVAL", fn, "empty proc name");
    const parent = this.parentPde(parts, fn);
    const name = parts[parts.length - 1]!;
    if (parent.children.has(name)) {
      throw new SysError("EEXIST", fn, `proc_dir_entry '${parts.join("/")}' already registered`);
    }
    const pde = make(parent, name, this.nextPdeIno++);
    pde.dentry = new Dentry(name, parent.dentry, this.pdeInode(pde));
    parent.children.set(name, pde);
    return pde.dentry;
  }

  private pdeInode(pde: ProcDirEntry): KInode {
    const common = { ino: pde.lowIno, mode: pde.mode, private: pde };
    if ((pde.mode & S_IFDIR) === S_IFDIR) {
      return new KInode(this.sb, { ...common, nlink: 2, fop: this.dirFops, iop: this.pdeDirIop });
    }
    if ((pde.mode & S_IFLNK) === S_IFLNK) {
      return new KInode(this.sb, {
        ...common,
        size: new TextEncoder().encode(pde.target!).length,
        iop: { getLink: () => pde.target! },
      });
    }
    return new KInode(this.sb, { ...common, fop: this.pdeFileFops(pde) });
  }

  /** fs/proc/generic.c: proc_mkdir_mode(). */
  mkdir(path: string, mode = 0o555): Dentry {
    return this.register(
      Procfs.split(path),
      "proc_mkdir",
      (parent, name, ino) => new ProcDirEntry(name, parent, S_IFDIR | (mode & 0o7777), ino),
    );
  }

  /**
   * fs/proc/generic.c: proc_create_single() — a file whose content is `show()`; `write`, if
   * given, handles writes. Mode 0444 by default (a mode of 0 means that in Linux).
   */
  createFile(
    path: string,
    show: () => string,
    opts: { mode?: number; write?: ProcWrite } = {},
  ): Dentry {
    const mode = S_IFREG | ((opts.mode ?? 0o444) & 0o7777 || 0o444);
    return this.register(
      Procfs.split(path),
      "proc_create_single",
      (parent, name, ino) =>
        new ProcDirEntry(name, parent, mode, ino, show, null, opts.write ?? null),
    );
  }

  /** fs/proc/generic.c: proc_symlink(). */
  symlink(path: string, target: string): Dentry {
    return this.register(
      Procfs.split(path),
      "proc_symlink",
      (parent, name, ino) => new ProcDirEntry(name, parent, S_IFLNK | 0o777, ino, null, target),
    );
  }

  /** fs/proc/generic.c: remove_proc_subtree() — ENOENT if absent. */
  remove(path: string): void {
    const fn = "remove_proc_subtree";
    const parts = Procfs.split(path);
    const parent = this.parentPde(parts, fn);
    const pde = parent.children.get(parts[parts.length - 1] ?? "");
    if (!pde) throw new SysError("ENOENT", fn, `/proc/${parts.join("/")} does not exist`);
    const mark = (p: ProcDirEntry): void => {
      p.removed = true;
      p.dentry.deleted = true;
      for (const c of p.children.values()) mark(c);
    };
    mark(pde);
    parent.children.delete(pde.name);
  }

  /** fs/proc/inode.c: proc_reg_file_ops over a single_open() show. */
  private pdeFileFops(pde: ProcDirEntry): FileOperations {
    const live = (fn: string) => {
      if (pde.removed) throw new SysError("EIO", fn, `/proc entry ${pde.name} was removed`);
    };
    return Object.freeze({
      open: (_inode: Inode, file: File) => {
        if (pde.removed) throw new SysError("ENOENT", "proc_reg_open", `${pde.name} was removed`);
        file.privateData = new SeqFile();
      },
      read: (file: File, current: Task, va: number, count: number, pos: { value: number }) => {
        live("proc_reg_read_iter");
        return seqReadToUser(
          file.privateData as SeqFile,
          { show: () => textBytes(pde.show!()) },
          current,
          va,
          count,
          pos,
        );
      },
      write: (_file: File, current: Task, va: number, count: number, pos: { value: number }) => {
        live("proc_reg_write");
        if (!pde.write) throw new SysError("EIO", "pde_write", `${pde.name} has no write handler`);
        const text = utf8d.decode(copyFromUser(current.mm, va, count, "proc_reg_write"));
        const n = pde.write(text, pos.value, current);
        pos.value += n;
        return n;
      },
      llseek: seqLseek,
      // proc_reg_mmap() → pde_mmap(): an entry without proc_mmap answers EIO, not the VFS's
      // ENODEV (checked on 7.3: mmap of /proc/cmdline fails with EIO, oracle-probes/core-syscalls).
      mmap: () => {
        live("proc_reg_mmap");
        throw new SysError("EIO", "pde_mmap", `${pde.name} cannot be mapped`);
      },
    });
  }
}
