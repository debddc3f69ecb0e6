/**
 * A user process and the syscall facade of ARCHITECTURE.md §3: the only door from user space
 * into the model. Every call takes C-shaped arguments (user virtual addresses, fds, flags),
 * checks them in the kernel's order, fails with the Linux errno as a thrown `SysError`, and is
 * recorded on the kernel trace with its decoded arguments and result.
 *
 * Caveat: one thread per process, no fork/exec, no signals (a blocking call sleeps in virtual
 * time and cannot be interrupted). File positions and offsets are JS numbers (exact to 2^53).
 */

import {
  type CapabilityName,
  type CapNames,
  type CapTask,
  type Cred,
  capgetNames,
  capsetNames,
  credCapable,
  spawnCred,
} from "./capability.js";
import { SysError } from "./errno.js";
import { FD_CLOEXEC, FdTable } from "./fdtable.js";
import { eventfd2 } from "./fs/eventfd.js";
import {
  type File,
  FMODE_WRITE,
  O_ACCMODE,
  O_APPEND,
  O_CLOEXEC,
  O_DIRECT,
  O_LARGEFILE,
  O_NOATIME,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  S_IFMT,
  S_IFREG,
} from "./fs/file.js";
import { MEMFD_FOPS, memfdObjectOf } from "./fs/memfd-file.js";
import { doSysPoll, type PollFd, type PollRevents } from "./fs/poll.js";
import type { Stat } from "./fs/stat.js";
import type { Kernel } from "./kernel.js";
import { AddressSpace, type MemlockLimits } from "./mm/address-space.js";
import { memfdCreate } from "./mm/memfd.js";
import { mlock as mmMlock, munlock as mmMunlock } from "./mm/mlock.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, MFD_CLOEXEC, PROT_READ, PROT_WRITE } from "./mm/mman.js";
import type { MmapFile } from "./mm/vma.js";
import type { RlimitName, Task } from "./task.js";
import { jsonSafe, sysErrorJson } from "./trace/trace-bus.js";
import { copyFromUser, getUser } from "./uaccess.js";
import { formatIoctl } from "./uapi/ioctl.js";
import { s32 } from "./uapi/struct.js";

const PAGE_SIZE = 4096;

/** fcntl(2) commands (include/uapi/asm-generic/fcntl.h, linux/fcntl.h). */
export const F_DUPFD = 0;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
export const F_ADD_SEALS = 1033;
export const F_GET_SEALS = 1034;

/** Generic ioctls handled by do_vfs_ioctl() before the file's own (asm-generic/ioctls.h). */
export const FIONCLEX = 0x5450;
export const FIOCLEX = 0x5451;
export const FIONBIO = 0x5421;
export const FIOASYNC = 0x5452;

/** The flags F_SETFL may change (fs/fcntl.c SETFL_MASK). */
const SETFL_MASK = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;

export interface Rlimits {
  /** RLIMIT_MEMLOCK in bytes (default 8 MiB, as Linux since 5.16). */
  memlock: number;
  /** RLIMIT_NOFILE (default 1024). */
  nofile: number;
}

export interface SpawnOptions {
  readonly comm?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Capability names held (permitted and effective); default all for root, none otherwise. */
  readonly caps?: readonly CapabilityName[];
  readonly rlimits?: Partial<Rlimits>;
}

export class Process implements Task, CapTask {
  readonly pid: number;
  readonly comm: string;
  readonly mm: AddressSpace;
  readonly fds = new FdTable();
  readonly rlimits: Rlimits;
  private credentials: Cred;
  private scratch: { va: number; size: number } | null = null;
  private exited = false;

  constructor(
    private readonly kernel: Kernel,
    pid: number,
    opts: SpawnOptions = {},
  ) {
    this.pid = pid;
    this.comm = (opts.comm ?? "a.out").slice(0, 15); // TASK_COMM_LEN 16
    this.credentials = spawnCred({
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
      ...(opts.caps !== undefined ? { caps: opts.caps } : {}),
    });
    this.rlimits = { memlock: 8 * 2 ** 20, nofile: 1024, ...opts.rlimits };
    this.mm = new AddressSpace({ allocator: kernel.allocator, bus: kernel.soc.bus });
  }

  // -------------------------------------------------------------------------------------------
  // Task

  get cred(): Cred {
    return this.credentials;
  }
  get uid(): number {
    return this.credentials.uid;
  }
  get euid(): number {
    return this.credentials.euid;
  }
  get gid(): number {
    return this.credentials.gid;
  }
  get egid(): number {
    return this.credentials.egid;
  }

  capable(cap: CapabilityName): boolean {
    return credCapable(this.credentials, cap);
  }

  rlimit(resource: RlimitName): number {
    return resource === "RLIMIT_MEMLOCK" ? this.rlimits.memlock : this.rlimits.nofile;
  }

  fget(fd: number): File | undefined {
    const file = this.fds.lookup(fd);
    return file ? this.kernel.vfs.fget(file) : undefined;
  }

  fdInstall(file: File, flags: number): number {
    return this.fds.install(
      file,
      flags & O_CLOEXEC ? FD_CLOEXEC : 0,
      this.rlimits.nofile,
      "fd_install",
    );
  }

  getUnusedFdFlags(flags: number): number {
    return this.fds.reserve(
      flags & O_CLOEXEC ? FD_CLOEXEC : 0,
      this.rlimits.nofile,
      "get_unused_fd_flags",
    );
  }

  fdInstallReserved(fd: number, file: File): void {
    this.fds.installReserved(fd, file);
  }

  putUnusedFd(fd: number): void {
    this.fds.putUnused(fd);
  }

  commitCreds(cred: Cred): void {
    this.credentials = cred;
  }

  /** RLIMIT_MEMLOCK and CAP_IPC_LOCK, as mm's accounting wants them. */
  get memlockLimits(): MemlockLimits {
    return { rlimitMemlock: this.rlimits.memlock, capIpcLock: this.capable("CAP_IPC_LOCK") };
  }

  // -------------------------------------------------------------------------------------------
  // The syscall facade

  /** open(2): the lowest free fd. */
  open(path: string, flags: number = O_RDWR): number {
    return this.syscall(
      "openat",
      () => ({ path, flags }),
      () => {
        // do_sys_openat2(): force_o_largefile() is true on 64-bit, so every file is O_LARGEFILE.
        const file = this.kernel.vfs.open(path, flags | O_LARGEFILE, this);
        return this.installOrRelease(file, flags & O_CLOEXEC ? FD_CLOEXEC : 0, "do_sys_openat2");
      },
    );
  }

  /** close(2). */
  close(fd: number): void {
    this.syscall(
      "close",
      () => ({ fd }),
      () => {
        this.kernel.vfs.fput(this.fds.remove(fd, "close_fd"));
        return 0;
      },
    );
  }

  read(fd: number, va: number, count: number): number {
    return this.syscall(
      "read",
      () => ({ fd, buf: va, count }),
      () => this.kernel.vfs.read(this.fds.get(fd, "ksys_read"), this, va, count),
    );
  }

  write(fd: number, va: number, count: number): number {
    return this.syscall(
      "write",
      () => ({ fd, buf: va, count }),
      () => this.kernel.vfs.write(this.fds.get(fd, "ksys_write"), this, va, count),
    );
  }

  pread(fd: number, va: number, count: number, offset: number | bigint): number {
    return this.syscall(
      "pread64",
      () => ({ fd, buf: va, count, offset }),
      () => {
        const off = toOffset(offset, "ksys_pread64");
        return this.kernel.vfs.pread(this.fds.get(fd, "ksys_pread64"), this, va, count, off);
      },
    );
  }

  pwrite(fd: number, va: number, count: number, offset: number | bigint): number {
    return this.syscall(
      "pwrite64",
      () => ({ fd, buf: va, count, offset }),
      () => {
        const off = toOffset(offset, "ksys_pwrite64");
        return this.kernel.vfs.pwrite(this.fds.get(fd, "ksys_pwrite64"), this, va, count, off);
      },
    );
  }

  lseek(fd: number, offset: number | bigint, whence: number): number | bigint {
    return this.syscall(
      "lseek",
      () => ({ fd, offset, whence }),
      () => {
        const file = this.fds.get(fd, "ksys_lseek");
        const pos = this.kernel.vfs.llseek(file, toOffset(offset, "ksys_lseek", true), whence);
        return pos;
      },
    );
  }

  /** ioctl(2): the generic commands of do_vfs_ioctl() first, then the file's. */
  ioctl(fd: number, request: number, arg = 0): number {
    const cmd = request >>> 0;
    return this.syscall(
      "ioctl",
      () => ({ fd, request: formatIoctl(cmd), arg }),
      () => {
        const file = this.fds.get(fd, "ksys_ioctl");
        switch (cmd) {
          case FIOCLEX:
            this.fds.setFlags(fd, FD_CLOEXEC, "do_vfs_ioctl");
            return 0;
          case FIONCLEX:
            this.fds.setFlags(fd, 0, "do_vfs_ioctl");
            return 0;
          case FIONBIO: {
            const on = getUser(this.mm, s32, arg, "ioctl_fionbio");
            file.flags = on ? file.flags | O_NONBLOCK : file.flags & ~O_NONBLOCK;
            return 0;
          }
          case FIOASYNC:
            getUser(this.mm, s32, arg, "ioctl_fioasync");
            return 0;
          default:
            return this.kernel.vfs.ioctl(file, this, cmd, arg);
        }
      },
    );
  }

  /** mmap(2): returns the address of the new mapping. */
  mmap(
    addr: number,
    length: number,
    prot: number,
    flags: number,
    fd: number,
    offset: number | bigint,
  ): number {
    return this.syscall(
      "mmap",
      () => ({ addr, length, prot, flags, fd, offset }),
      () => {
        const off = toOffset(offset, "sys_mmap");
        // arch/arm64/kernel/sys.c: sys_mmap() — the offset must be page aligned.
        if (off % PAGE_SIZE !== 0)
          throw new SysError("EINVAL", "sys_mmap", "offset not page aligned");
        let mmapFile: MmapFile | undefined;
        if (!(flags & MAP_ANONYMOUS)) {
          const file = this.fds.get(fd, "ksys_mmap_pgoff");
          mmapFile = this.kernel.vfs.mmapFile(file, this);
        }
        return this.mm.mmap({
          addr,
          length,
          prot,
          flags,
          ...(mmapFile ? { file: mmapFile, pgoff: off / PAGE_SIZE } : {}),
          limits: this.memlockLimits,
          capSysRawio: this.capable("CAP_SYS_RAWIO"),
        });
      },
    );
  }

  munmap(addr: number, length: number): void {
    this.syscall(
      "munmap",
      () => ({ addr, length }),
      () => {
        this.mm.munmap(addr, length);
        return 0;
      },
    );
  }

  mprotect(addr: number, length: number, prot: number): void {
    this.syscall(
      "mprotect",
      () => ({ addr, length, prot }),
      () => {
        this.mm.mprotect(addr, length, prot);
        return 0;
      },
    );
  }

  mlock(addr: number, len: number): void {
    this.syscall(
      "mlock",
      () => ({ addr, len }),
      () => {
        mmMlock(this.mm, addr, len, this.memlockLimits);
        return 0;
      },
    );
  }

  munlock(addr: number, len: number): void {
    this.syscall(
      "munlock",
      () => ({ addr, len }),
      () => {
        mmMunlock(this.mm, addr, len);
        return 0;
      },
    );
  }

  /** eventfd2(2). */
  eventfd(initval = 0, flags = 0): number {
    return this.syscall(
      "eventfd2",
      () => ({ initval, flags }),
      () =>
        eventfd2(initval, flags, {
          scheduler: this.kernel.scheduler,
          installFd: (file, oflags) =>
            this.installOrRelease(file, oflags & O_CLOEXEC ? FD_CLOEXEC : 0, "do_eventfd"),
        }),
    );
  }

  /**
   * ftruncate(2) (fs/open.c: ksys_ftruncate(), do_ftruncate()): EINVAL for a negative length,
   * EBADF, EINVAL unless a regular file open for writing; memfds go through shmem_setattr()
   * with its seal checks (EPERM).
   */
  ftruncate(fd: number, length: number): void {
    this.syscall(
      "ftruncate",
      () => ({ fd, length }),
      () => {
        if (!Number.isSafeInteger(length) || length < 0) {
          throw new SysError("EINVAL", "ksys_ftruncate", `length ${length}`);
        }
        const file = this.fds.get(fd, "ksys_ftruncate");
        const obj = memfdObjectOf(file);
        const dentry = obj ? undefined : this.kernel.vfs.dentryOf(file);
        const regular =
          obj !== undefined || (dentry !== undefined && (dentry.inode.mode & S_IFMT) === S_IFREG);
        if (!regular || !(file.mode & FMODE_WRITE)) {
          throw new SysError("EINVAL", "do_ftruncate", "not a regular file open for writing");
        }
        if (obj) obj.setSize(length);
        else if (dentry?.inode.iop.truncate) dentry.inode.iop.truncate(dentry.inode, length);
        else throw new SysError("EINVAL", "do_truncate", "the filesystem cannot change sizes");
        return 0;
      },
    );
  }

  /** memfd_create(2). */
  memfdCreate(name: string, flags = 0): number {
    return this.syscall(
      "memfd_create",
      () => ({ name, flags }),
      () => {
        const obj = memfdCreate(this.kernel.allocator, name, flags);
        const file = this.kernel.vfs.anonInodeGetfile(`memfd:${name}`, MEMFD_FOPS, obj, O_RDWR);
        return this.installOrRelease(file, flags & MFD_CLOEXEC ? FD_CLOEXEC : 0, "memfd_create");
      },
    );
  }

  /** poll(2), with the timeout in virtual nanoseconds (negative: wait forever). */
  poll(fds: readonly PollFd[], timeoutNs: number): PollRevents[] {
    return this.syscall(
      "poll",
      () => ({ fds: fds.map((f) => ({ ...f })), timeoutNs }),
      () => {
        return doSysPoll(fds, timeoutNs, {
          current: this,
          fget: (fd) => this.fds.lookup(fd),
          scheduler: this.kernel.scheduler,
        }).fds;
      },
    );
  }

  dup(fd: number): number {
    return this.syscall(
      "dup",
      () => ({ fd }),
      () => {
        const file = this.fds.get(fd, "dup");
        return this.installOrRelease(this.kernel.vfs.fget(file), 0, "dup");
      },
    );
  }

  /** fcntl(2): F_DUPFD(_CLOEXEC), F_GETFD/F_SETFD, F_GETFL/F_SETFL, F_ADD_SEALS/F_GET_SEALS. */
  fcntl(fd: number, cmd: number, arg = 0): number {
    return this.syscall(
      "fcntl",
      () => ({ fd, cmd, arg }),
      () => {
        const fn = "do_fcntl";
        const file = this.fds.get(fd, fn);
        switch (cmd) {
          case F_DUPFD:
          case F_DUPFD_CLOEXEC: {
            if (arg < 0 || arg >= this.rlimits.nofile)
              throw new SysError("EINVAL", "f_dupfd", `minimum fd ${arg}`);
            const flags = cmd === F_DUPFD_CLOEXEC ? FD_CLOEXEC : 0;
            return this.installOrRelease(this.kernel.vfs.fget(file), flags, "f_dupfd", arg);
          }
          case F_GETFD:
            return this.fds.getFlags(fd, fn);
          case F_SETFD:
            this.fds.setFlags(fd, arg & FD_CLOEXEC, fn);
            return 0;
          case F_GETFL:
            return file.flags;
          case F_SETFL:
            // setfl(): only the SETFL_MASK bits change; the access mode and the rest stay.
            file.flags = (file.flags & ~SETFL_MASK) | (arg & SETFL_MASK);
            return 0;
          case F_ADD_SEALS:
          case F_GET_SEALS: {
            const obj = memfdObjectOf(file);
            if (!obj) throw new SysError("EINVAL", "memfd_fcntl", `${file.path} is not a memfd`);
            if (cmd === F_GET_SEALS) return obj.seals;
            obj.addSeals(arg, file.mode);
            return 0;
          }
          default:
            throw new SysError("EINVAL", fn, `unknown command ${cmd}`);
        }
      },
    );
  }

  stat(path: string): Stat {
    return this.syscall(
      "newfstatat",
      () => ({ path }),
      () => this.kernel.vfs.stat(path, this),
    );
  }

  lstat(path: string): Stat {
    return this.syscall(
      "newfstatat",
      () => ({ path, flags: "AT_SYMLINK_NOFOLLOW" }),
      () => this.kernel.vfs.stat(path, this, { followLast: false }),
    );
  }

  readlink(path: string): string {
    return this.syscall(
      "readlinkat",
      () => ({ path }),
      () => this.kernel.vfs.readlink(path, this),
    );
  }

  /** getdents64(2) over a whole directory: the names in the order Linux returns them. */
  readdir(path: string): string[] {
    return this.syscall(
      "getdents64",
      () => ({ path }),
      () => this.kernel.vfs.readdir(path, this),
    );
  }

  capget(): CapNames {
    return this.syscall(
      "capget",
      () => ({}),
      () => capgetNames(this),
    );
  }

  capset(req: {
    effective: readonly CapabilityName[];
    permitted?: readonly CapabilityName[];
  }): void {
    this.syscall(
      "capset",
      () => ({ ...req }),
      () => {
        capsetNames(this, req);
        return 0;
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Conveniences for tests and notebooks, built on the same paths

  /** Anonymous private read/write memory, page-rounded: what malloc() of a large block does. */
  malloc(size: number): number {
    const length = Math.max(PAGE_SIZE, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE);
    return this.mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }

  /** Reads user memory (EFAULT when unmapped), as a debugger's peek. */
  peek(va: number, len: number): Uint8Array {
    return copyFromUser(this.mm, va, len, "peek");
  }

  /** Writes user memory (EFAULT when unmapped or read-only). */
  poke(va: number, bytes: Uint8Array | readonly number[]): void {
    this.mm.writeUser(va, bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
  }

  /** open + read until EOF + close, as `cat` does (sysfs, procfs). */
  readFile(path: string): string {
    const fd = this.open(path, O_RDONLY);
    try {
      const { va, size } = this.scratchBuffer();
      const chunks: Uint8Array[] = [];
      for (;;) {
        const n = this.read(fd, va, size);
        if (n === 0) break;
        chunks.push(this.peek(va, n));
      }
      return new TextDecoder().decode(concat(chunks));
    } finally {
      this.close(fd);
    }
  }

  /** open + one write + close, as `echo text > path` does (one store() call for sysfs). */
  writeFile(path: string, text: string): void {
    const bytes = new TextEncoder().encode(text);
    const fd = this.open(path, O_WRONLY);
    try {
      const va = this.malloc(bytes.length);
      try {
        this.poke(va, bytes);
        this.write(fd, va, bytes.length);
      } finally {
        this.munmap(va, Math.max(PAGE_SIZE, Math.ceil(bytes.length / PAGE_SIZE) * PAGE_SIZE));
      }
    } finally {
      this.close(fd);
    }
  }

  /** exit(2): every fd closed, the address space torn down. */
  exit(): void {
    if (this.exited) return;
    this.exited = true;
    for (const fd of this.fds.fds) this.kernel.vfs.fput(this.fds.remove(fd, "do_exit"));
    this.mm.exitMmap();
    this.kernel.reap(this);
  }

  get hasExited(): boolean {
    return this.exited;
  }

  // -------------------------------------------------------------------------------------------

  private scratchBuffer(): { va: number; size: number } {
    if (!this.scratch) this.scratch = { va: this.malloc(65536), size: 65536 };
    return this.scratch;
  }

  /** fd_install(), dropping the file again if no descriptor is free (EMFILE). */
  private installOrRelease(file: File, fdFlags: number, fn: string, minimum = 0): number {
    try {
      return this.fds.install(file, fdFlags, this.rlimits.nofile, fn, minimum);
    } catch (e) {
      this.kernel.vfs.fput(file);
      throw e;
    }
  }

  /** Runs one syscall, tracing its decoded arguments and its result or error. */
  private syscall<T>(name: string, args: () => Record<string, unknown>, body: () => T): T {
    if (this.exited) throw new Error(`${this.comm}[${this.pid}] has exited`);
    const trace = this.kernel.trace;
    const outer = this.kernel.current;
    this.kernel.current = this;
    try {
      const ret = body();
      if (trace.enabled) {
        trace.emit({
          type: "syscall",
          pid: this.pid,
          comm: this.comm,
          name,
          args: jsonSafe(args()) as Record<string, never>,
          ret: jsonSafe(ret),
        });
      }
      return ret;
    } catch (e) {
      if (trace.enabled && SysError.isInstance(e)) {
        trace.emit({
          type: "syscall",
          pid: this.pid,
          comm: this.comm,
          name,
          args: jsonSafe(args()) as Record<string, never>,
          error: sysErrorJson(e),
        });
      }
      throw e;
    } finally {
      this.kernel.current = outer;
    }
  }
}

/** loff_t from the facade: a number or bigint, exact; a value beyond 2^53 is refused. */
function toOffset(offset: number | bigint, fn: string, allowNegative = false): number {
  const n = typeof offset === "bigint" ? Number(offset) : offset;
  if (!Number.isSafeInteger(n)) throw new SysError("EOVERFLOW", fn, `offset ${offset} beyond 2^53`);
  if (n < 0 && !allowNegative) throw new SysError("EINVAL", fn, `negative offset ${offset}`);
  return n;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export { O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY };
