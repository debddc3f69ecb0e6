/**
 * fs/proc/base.c, fd.c and task_mmu.c: the per-process directories /proc/<pid> and
 * /proc/<pid>/task/<tid>, with the entries the model implements, in tgid_base_stuff[] order:
 *
 *   task/      (0555)  the threads: one, the process itself (tid = pid)
 *   fd/        (0500)  one link per open descriptor, "N" → the file's path
 *   comm       (0644)  the command name and "\n"
 *   maps       (0444)  one line per VMA (show_map_vma())
 *   pagemap    (0400)  8 bytes per virtual page (pagemap_read())
 *
 * Everything is owned by the task's effective uid/gid (task_dump_owner(), the process being
 * dumpable). Reading another process's maps or pagemap, or following its fd links, needs
 * ptrace read access (mm_access(), proc_fd_access_allowed()): same process, same uid/gid, or
 * CAP_SYS_PTRACE — else EACCES. pagemap shows PFNs only if the opener had CAP_SYS_ADMIN when it
 * opened the file (file_ns_capable() on the opener's credentials), zeros in the PFN field
 * otherwise; positions and counts must be multiples of 8 (EINVAL).
 *
 * Caveat: only these entries exist (no status, stat, cmdline, environ, mem, ns …), so the link
 * counts are 2 + the directories modelled; comm cannot be written (EINVAL); a thread is its
 * process.
 */

import { SysError } from "../errno.js";
import type { AddressSpace } from "../mm/address-space.js";
import { PM_ENTRY_BYTES, pagemapRead } from "../mm/pagemap.js";
import type { Task } from "../task.js";
import { copyToUser } from "../uaccess.js";
import {
  type File,
  type FileOperations,
  FMODE_READ,
  FMODE_WRITE,
  type Inode,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  SEEK_CUR,
  SEEK_SET,
} from "./file.js";
import {
  Dentry,
  dPath,
  genericReadDir,
  type InodeOperations,
  KInode,
  type SuperBlock,
} from "./inode.js";
import { genericPermission } from "./namei.js";
import { genericFileLlseek, seqLseek } from "./read-write.js";
import { SeqFile, seqReadToUser, textBytes } from "./seq-file.js";

/** The processes procfs lists: the kernel's task list. */
export interface ProcessTable {
  /** The live process whose thread-group id is `pid`. */
  find(pid: number): Task | undefined;
  /** Every live thread-group id, ascending. */
  pids(): readonly number[];
  /** `pid`'s open descriptors and their files, ascending by descriptor. */
  files(pid: number): readonly (readonly [fd: number, file: File])[];
}

export interface ProcPidDeps {
  readonly sb: SuperBlock;
  /** get_next_ino(). */
  allocIno(): number;
  processes(): ProcessTable | undefined;
  /** The dentry a file was opened by (its f_path), for following /proc/<pid>/fd/N. */
  fileDentry(file: File): Dentry | undefined;
}

/**
 * kernel/ptrace.c: __ptrace_may_access() for PTRACE_MODE_READ_FSCREDS — the same process, or a
 * caller whose ids match the target's, or CAP_SYS_PTRACE. (Saved ids are not modelled.)
 */
export function ptraceMayAccess(current: Task, task: Task): boolean {
  if (current.pid === task.pid) return true;
  const sameIds =
    current.euid === task.uid &&
    current.euid === task.euid &&
    current.egid === task.gid &&
    current.egid === task.egid;
  return sameIds || current.capable("CAP_SYS_PTRACE");
}

/** fs/proc/base.c: mm_access() via proc_mem_open() — EACCES without ptrace read access. */
function procMemOpen(task: Task, current: Task): AddressSpace {
  if (task.mm !== current.mm && !ptraceMayAccess(current, task)) {
    throw new SysError(
      "EACCES",
      "mm_access",
      `pid ${current.pid} may not read pid ${task.pid}'s memory`,
    );
  }
  return task.mm;
}

/** fs/proc/base.c: mem_lseek() — SEEK_SET and SEEK_CUR, any value. */
function memLseek(file: File, offset: number, whence: number): number {
  if (whence === SEEK_SET) file.pos = offset;
  else if (whence === SEEK_CUR) file.pos += offset;
  else throw new SysError("EINVAL", "mem_lseek", `whence ${whence}`);
  return file.pos;
}

/** PAGEMAP_WALK_SIZE: entries produced per step of pagemap_read(). */
const PAGEMAP_CHUNK_ENTRIES = 512;

interface PagemapOpen {
  readonly mm: AddressSpace;
  readonly showPfn: boolean;
}

/** One /proc/<pid> (or …/task/<tid>) directory's state. */
interface PidDir {
  readonly task: Task;
  readonly dentry: Dentry;
  readonly entries: Map<string, Dentry>;
  readonly isTid: boolean;
  /** fd/N links, by descriptor (rebuilt when the descriptor's file changes). */
  readonly fdLinks: Map<number, { file: File; dentry: Dentry }>;
}

/** The entry table (tgid_base_stuff[] / tid_base_stuff[] order). */
const PID_ENTRIES: readonly { name: string; mode: number; tgidOnly?: boolean }[] = [
  { name: "task", mode: S_IFDIR | 0o555, tgidOnly: true },
  { name: "fd", mode: S_IFDIR | 0o500 },
  { name: "comm", mode: S_IFREG | 0o644 },
  { name: "maps", mode: S_IFREG | 0o444 },
  { name: "pagemap", mode: S_IFREG | 0o400 },
];

const DIR_FOPS: FileOperations = Object.freeze({ read: genericReadDir, llseek: genericFileLlseek });

export class ProcPid {
  private readonly tgidDirs = new WeakMap<Task, PidDir>();
  private readonly tidDirs = new WeakMap<Task, PidDir>();

  constructor(private readonly deps: ProcPidDeps) {}

  private owned(task: Task): { uid: number; gid: number } {
    return { uid: task.euid, gid: task.egid };
  }

  /** Refreshes ownership from the task (pid_update_inode()). */
  private refresh(inode: KInode, task: Task): void {
    inode.uid = task.euid;
    inode.gid = task.egid;
  }

  /** The task of `pid` if it still lives and is the same process. */
  private alive(task: Task): boolean {
    return this.deps.processes()?.find(task.pid) === task;
  }

  /** fs/proc/base.c: proc_pid_lookup() — /proc/<pid>, or null. */
  lookupPid(procRoot: Dentry, pid: number): Dentry | null {
    const task = this.deps.processes()?.find(pid);
    if (!task) return null;
    return this.pidDir(task, procRoot, false).dentry;
  }

  private pidDir(task: Task, parent: Dentry, isTid: boolean): PidDir {
    const cache = isTid ? this.tidDirs : this.tgidDirs;
    let dir = cache.get(task);
    if (dir) {
      this.refresh(dir.dentry.inode, task);
      return dir;
    }
    const entries = PID_ENTRIES.filter((e) => !(isTid && e.tgidOnly));
    const dirs = entries.filter((e) => (e.mode & S_IFDIR) === S_IFDIR).length;
    const iop: InodeOperations = {
      lookup: (d, name) => this.pidEntryLookup(dir!, d, name),
      iterate: () => entries.map((e) => e.name),
      getattr: (inode, stat) => {
        this.refresh(inode, task);
        stat.uid = inode.uid;
        stat.gid = inode.gid;
      },
    };
    const inode = new KInode(this.deps.sb, {
      ino: this.deps.allocIno(),
      mode: S_IFDIR | 0o555,
      ...this.owned(task),
      // pid_entry_nlink(): 2 + the directories among the entries.
      nlink: 2 + dirs,
      fop: DIR_FOPS,
      iop,
      private: task,
    });
    dir = {
      task,
      dentry: new Dentry(String(task.pid), parent, inode),
      entries: new Map(),
      isTid,
      fdLinks: new Map(),
    };
    cache.set(task, dir);
    return dir;
  }

  /** fs/proc/base.c: proc_pident_lookup(). */
  private pidEntryLookup(dir: PidDir, d: Dentry, name: string): Dentry | null {
    const spec = PID_ENTRIES.find((e) => e.name === name && !(dir.isTid && e.tgidOnly));
    if (!spec || !this.alive(dir.task)) return null;
    let entry = dir.entries.get(name);
    if (!entry) {
      entry = new Dentry(name, d, this.entryInode(dir, spec.name, spec.mode));
      dir.entries.set(name, entry);
    }
    this.refresh(entry.inode, dir.task);
    return entry;
  }

  private entryInode(dir: PidDir, name: string, mode: number): KInode {
    const task = dir.task;
    const base = { ino: this.deps.allocIno(), mode, ...this.owned(task), private: task };
    const getattr = (inode: KInode) => this.refresh(inode, task);
    switch (name) {
      case "task":
        return new KInode(this.deps.sb, {
          ...base,
          // proc_task_getattr(): 2 + the number of threads.
          nlink: 3,
          fop: DIR_FOPS,
          iop: {
            lookup: (d, n) =>
              n === String(task.pid) && this.alive(task) ? this.pidDir(task, d, true).dentry : null,
            iterate: () => [String(task.pid)],
            getattr,
          },
        });
      case "fd":
        return new KInode(this.deps.sb, {
          ...base,
          nlink: 2,
          fop: DIR_FOPS,
          iop: {
            lookup: (d, n) => this.fdLookup(dir, d, n),
            iterate: () => this.files(task).map(([fd]) => String(fd)),
            permission: (inode, mask, current) => this.procFdPermission(inode, mask, current, task),
            getattr,
          },
        });
      case "comm":
        return new KInode(this.deps.sb, {
          ...base,
          fop: this.seqFops(() => `${task.comm}\n`),
          iop: { getattr },
        });
      case "maps":
        return new KInode(this.deps.sb, { ...base, fop: this.mapsFops(task), iop: { getattr } });
      default:
        return new KInode(this.deps.sb, { ...base, fop: this.pagemapFops(task), iop: { getattr } });
    }
  }

  private files(task: Task): readonly (readonly [number, File])[] {
    return this.deps.processes()?.files(task.pid) ?? [];
  }

  /** fs/proc/fd.c: proc_fd_permission() — DAC, or the process looking at itself. */
  private procFdPermission(inode: KInode, mask: number, current: Task, task: Task): void {
    if (genericPermission(inode, mask, current)) return;
    if (current.pid === task.pid) return;
    throw new SysError("EACCES", "proc_fd_permission", `fd directory of pid ${task.pid}`);
  }

  /** fs/proc/fd.c: proc_lookupfd_common() — "N" for an open descriptor N, else nothing. */
  private fdLookup(dir: PidDir, d: Dentry, name: string): Dentry | null {
    if (!/^(0|[1-9][0-9]*)$/.test(name)) return null;
    const fd = Number(name);
    const file = this.files(dir.task).find(([n]) => n === fd)?.[1];
    if (!file) return null;
    const cached = dir.fdLinks.get(fd);
    if (cached?.file === file) return cached.dentry;
    const task = dir.task;
    // fs/proc/fd.c: tid_fd_update_inode() — r-x for readers, -wx for writers, 64 bytes.
    const perm = (file.mode & FMODE_READ ? 0o500 : 0) | (file.mode & FMODE_WRITE ? 0o300 : 0);
    const inode = new KInode(this.deps.sb, {
      ino: this.deps.allocIno(),
      mode: S_IFLNK | perm,
      ...this.owned(task),
      size: 64,
      iop: {
        getLink: (_l, current) => this.fdGetLink(task, file, current),
        readlink: (_l, current) => this.fdReadlink(task, file, current),
      },
      private: file,
    });
    const dentry = new Dentry(name, d, inode);
    dir.fdLinks.set(fd, { file, dentry });
    return dentry;
  }

  /** fs/proc/base.c: proc_pid_get_link() → proc_fd_link() — a jump to the open file. */
  private fdGetLink(task: Task, file: File, current: Task): Dentry {
    if (!ptraceMayAccess(current, task)) {
      throw new SysError("EACCES", "proc_pid_get_link", `pid ${task.pid}'s fd`);
    }
    const d = this.deps.fileDentry(file);
    if (!d) throw new SysError("ENOENT", "proc_fd_link", `${file.path} has no path to follow`);
    return d;
  }

  /** fs/proc/base.c: proc_pid_readlink() — the file's d_path(). */
  private fdReadlink(task: Task, file: File, current: Task): string {
    if (!ptraceMayAccess(current, task)) {
      throw new SysError("EACCES", "proc_pid_readlink", `pid ${task.pid}'s fd`);
    }
    const d = this.deps.fileDentry(file);
    return d ? dPath(d) : file.path;
  }

  /** A single_open() seq file showing `show()`. */
  private seqFops(show: () => string, open?: (current: Task) => void): FileOperations {
    return Object.freeze({
      open: (_inode: Inode, file: File, current: Task) => {
        open?.(current);
        file.privateData = new SeqFile();
      },
      read: (file: File, current: Task, va: number, count: number, pos: { value: number }) =>
        seqReadToUser(
          file.privateData as SeqFile,
          { show: () => textBytes(show()) },
          current,
          va,
          count,
          pos,
        ),
      llseek: seqLseek,
    });
  }

  /** fs/proc/task_mmu.c: proc_pid_maps_operations — the VMAs, one show_map_vma() line each. */
  private mapsFops(task: Task): FileOperations {
    return this.seqFops(
      () => task.mm.vmaList.map((vma) => `${vma.mapsLine()}\n`).join(""),
      (current) => {
        if (!this.alive(task)) throw new SysError("ESRCH", "proc_maps_open");
        procMemOpen(task, current);
      },
    );
  }

  /** fs/proc/task_mmu.c: proc_pagemap_operations. */
  private pagemapFops(task: Task): FileOperations {
    return Object.freeze({
      /** pagemap_open(): the mm and the opener's CAP_SYS_ADMIN, fixed for the file's life. */
      open: (_inode: Inode, file: File, current: Task) => {
        if (!this.alive(task)) throw new SysError("ESRCH", "proc_mem_open");
        const mm = procMemOpen(task, current);
        const st: PagemapOpen = { mm, showPfn: current.capable("CAP_SYS_ADMIN") };
        file.privateData = st;
      },
      read: (file: File, current: Task, va: number, count: number, pos: { value: number }) =>
        this.pagemapRead(file.privateData as PagemapOpen, current, va, count, pos),
      llseek: memLseek,
    });
  }

  /**
   * fs/proc/task_mmu.c: pagemap_read() — EINVAL unless position and count are multiples of 8;
   * entries are produced and copied a walk step at a time.
   */
  private pagemapRead(
    st: PagemapOpen,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const fn = "pagemap_read";
    if (pos.value % PM_ENTRY_BYTES !== 0 || count % PM_ENTRY_BYTES !== 0) {
      throw new SysError("EINVAL", fn, "position and count must be multiples of 8");
    }
    let done = 0;
    while (done < count) {
      const chunk = Math.min(count - done, PAGEMAP_CHUNK_ENTRIES * PM_ENTRY_BYTES);
      const bytes = pagemapRead(st.mm, pos.value + done, chunk, st.showPfn);
      if (bytes.length === 0) break;
      copyToUser(current.mm, va + done, bytes, fn);
      done += bytes.length;
      if (bytes.length < chunk) break;
    }
    pos.value += done;
    return done;
  }
}
