/**
 * The VFS of the model: the mount tree ("/" with devtmpfs on /dev, sysfs on /sys, proc on
 * /proc), open(2) as fs/namei.c does it (path_openat(): walk, last component, O_CREAT,
 * may_open(), do_dentry_open()), the final release of a file (__fput()), and the generic
 * read/write/lseek/ioctl paths of fs/read_write.c and fs/ioctl.c, stat, readlink and
 * getdents64. The syscall facade (process.ts) sits on top: it owns descriptors and user
 * buffers' validity as the syscall layer does, and calls in here with files and addresses.
 *
 * Errors come in the kernel's order, each naming the function that refused:
 * - path walk: ENOENT (empty path, missing component), ENAMETOOLONG (≥ PATH_MAX bytes; a
 *   component over NAME_MAX on tmpfs — sysfs and procfs just do not find it), EACCES (a
 *   directory without search permission), ENOTDIR, ELOOP (a 41st symlink);
 * - open: EINVAL (O_CREAT|O_DIRECTORY), EISDIR (O_CREAT with a trailing slash, a directory
 *   opened for writing or with O_CREAT), EEXIST (O_CREAT|O_EXCL), EACCES (creating without
 *   write+search on the directory, or where the filesystem cannot create: sysfs, procfs),
 *   ENOTDIR (O_DIRECTORY), ELOOP (O_NOFOLLOW on a link), EACCES (mode bits), EPERM
 *   (O_NOATIME), then the filesystem's or driver's open: ENXIO for a char device nobody
 *   registered (chrdev_open()), ENODEV for a misc minor nobody registered (misc_open()) …;
 * - read/write: EBADF (not open for it), EINVAL (no such operation), EFAULT (the buffer is
 *   outside user space), EINVAL (negative position), then the operation's own; pread/pwrite
 *   first check EINVAL (negative offset) and ESPIPE (a file that cannot: anonymous inodes);
 * - lseek: EINVAL (whence > SEEK_HOLE), ESPIPE (no llseek), then the operation's;
 * - ioctl: ENOTTY without unlocked_ioctl (and for ENOIOCTLCMD);
 * - an O_PATH file is EBADF for everything but fstat (fdget() does not see it).
 *
 * Directory listings include "." and ".." first, as getdents64 returns them for all of
 * these filesystems; then sysfs in kernfs hash order, devtmpfs and "/" newest first (tmpfs),
 * /proc in proc_root_readdir() order, /proc/sys by name.
 *
 * Caveat: the model's tasks have no working directory or umask of their own: relative paths
 * start at "/", and files created with O_CREAT lose the `umask` given to the Vfs (0022).
 * No rename, unlink, mkdir, chmod or mount syscalls; O_TMPFILE is EOPNOTSUPP.
 */

import { SysError } from "../errno.js";
import { KernelBug } from "../mm/page-allocator.js";
import type { MmapFile, Vma } from "../mm/vma.js";
import type { Task } from "../task.js";
import { accessOk } from "../uaccess.js";
import { AnonInodeFs, openFmode } from "./anon-inode.js";
import { CharDevices } from "./chrdev.js";
import { DeviceClass } from "./device-class.js";
import { Devtmpfs } from "./devtmpfs.js";
import {
  type File,
  type FileOperations,
  FMODE_LSEEK,
  FMODE_PATH,
  FMODE_PREAD,
  FMODE_PWRITE,
  FMODE_READ,
  FMODE_WRITE,
  O_ACCMODE,
  O_APPEND,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOATIME,
  O_NOCTTY,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  O_TRUNC,
  S_IFREG,
} from "./file.js";
import { BUILTIN_MODULE_REFS, filePutFops, fopsGet, type ModuleRefs, replaceFops } from "./fops.js";
import { canLookup, type Dentry, dPath, isDir, isLnk, isReg, NO_OPEN_FOPS } from "./inode.js";
import { MKDEV } from "./kdev-t.js";
import { MemDevices } from "./mem.js";
import { MiscDevices } from "./misc.js";
import {
  getname,
  inodeOwnerOrCapable,
  inodePermission,
  LOOKUP_DIRECTORY,
  LOOKUP_FOLLOW,
  linkPathWalk,
  lookupChild,
  MAY_APPEND,
  MAY_EXEC,
  MAY_OPEN,
  MAY_READ,
  MAY_WRITE,
  type Nameidata,
  pathInit,
  pathLookupat,
  stepInto,
  WALK_TRAILING,
  walkComponent,
} from "./namei.js";
import type { ProcessTable } from "./proc-pid.js";
import { taintCtlTable } from "./proc-sysctl.js";
import { Procfs } from "./procfs.js";
import { MAX_RW_COUNT, rwVerifyArea, SEEK_MAX } from "./read-write.js";
import { type Stat, vfsGetattr } from "./stat.js";
import { SysfsFs } from "./sysfs.js";
import { Tmpfs } from "./tmpfs.js";

/** include/uapi/asm-generic/fcntl.h __O_TMPFILE (O_TMPFILE adds O_DIRECTORY). */
export const __O_TMPFILE = 0o20000000;
export const O_TMPFILE = __O_TMPFILE | O_DIRECTORY;
/** fs/open.c O_PATH_FLAGS: what O_PATH keeps. */
export const O_PATH_FLAGS = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;

/** The root filesystem's anonymous device. */
export const ROOTFS_DEV = MKDEV(0, 1);

const S_IALLUGO = 0o7777;
/** include/linux/fs.h: ACC_MODE() — O_RDONLY/WRONLY/RDWR/3 as MAY_READ/WRITE/both/both. */
const ACC_MODE = [MAY_READ, MAY_WRITE, MAY_READ | MAY_WRITE, MAY_READ | MAY_WRITE] as const;
const EMPTY_FOPS: FileOperations = Object.freeze({});
/** include/linux/errno.h ENOIOCTLCMD. */
const ENOIOCTLCMD = 515;

/**
 * An O_PATH file is invisible to fdget(): lseek, ioctl, getdents64 and mmap on it are EBADF
 * (only fstat and the *at() calls, through fdget_raw(), see it).
 */
function notPathOnly(file: File, fn: string): void {
  if (file.mode & FMODE_PATH) throw new SysError("EBADF", fn, `${file.path} is an O_PATH file`);
}

/** `struct open_flags` (fs/internal.h) after build_open_flags(). */
interface OpenFlags {
  readonly openFlag: number;
  readonly mode: number;
  readonly accMode: number;
  readonly lookupFlags: number;
}

/** fs/open.c: build_open_how() + build_open_flags() for open(2)/openat(2). */
function buildOpenFlags(flags: number, mode: number): OpenFlags {
  const fn = "build_open_flags";
  let f = flags;
  if (f & O_PATH) f &= O_PATH_FLAGS;
  const willCreate = (f & (O_CREAT | __O_TMPFILE)) !== 0;
  const createMode = willCreate ? (mode & S_IALLUGO) | S_IFREG : 0;
  if ((f & (O_DIRECTORY | O_CREAT)) === (O_DIRECTORY | O_CREAT)) {
    throw new SysError("EINVAL", fn, "O_CREAT | O_DIRECTORY");
  }
  let accMode: number;
  if (f & __O_TMPFILE) {
    if ((f & O_TMPFILE) !== O_TMPFILE)
      throw new SysError("EINVAL", fn, "__O_TMPFILE without O_DIRECTORY");
    if (!(ACC_MODE[f & O_ACCMODE]! & MAY_WRITE))
      throw new SysError("EINVAL", fn, "O_TMPFILE read-only");
  }
  if (f & O_PATH) accMode = 0;
  else accMode = MAY_OPEN | ACC_MODE[f & O_ACCMODE]!;
  if (f & O_TRUNC) accMode |= MAY_WRITE;
  if (f & O_APPEND) accMode |= MAY_APPEND;
  if (f & O_CREAT && f & O_EXCL) f |= O_NOFOLLOW;
  let lookupFlags = 0;
  if (f & O_DIRECTORY) lookupFlags |= LOOKUP_DIRECTORY;
  if (!(f & O_NOFOLLOW)) lookupFlags |= LOOKUP_FOLLOW;
  return { openFlag: f, mode: createMode, accMode, lookupFlags };
}

export interface VfsOptions {
  /** try_module_get()/module_put() of the module loader (default: everything built in). */
  readonly modules?: ModuleRefs;
  /** The kernel command line, shown by /proc/cmdline. */
  readonly cmdline?: string;
  /** The taint mask, for /proc/sys/kernel/tainted. */
  readonly tainted?: () => bigint;
  /** add_taint() for each bit of a mask written to /proc/sys/kernel/tainted by an admin. */
  readonly addTaint?: (mask: bigint, current: Task) => void;
  /** The processes /proc shows. */
  readonly processes?: ProcessTable;
  /** /dev/kmsg's operations (kernel/printk/printk.c); open is ENXIO until given. */
  readonly kmsgFops?: FileOperations;
  /** The umask applied to files created with O_CREAT (default 0022). */
  readonly umask?: number;
}

export class Vfs {
  readonly modules: ModuleRefs;
  readonly rootfs: Tmpfs;
  readonly root: Dentry;
  readonly chrdev: CharDevices;
  readonly devtmpfs: Devtmpfs;
  readonly misc: MiscDevices;
  /** /sys/class/misc (drivers/char/misc.c: misc_class). */
  readonly miscClass: DeviceClass;
  readonly mem: MemDevices;
  readonly sysfs: SysfsFs;
  readonly procfs: Procfs;
  readonly anon = new AnonInodeFs();
  private readonly umask: number;
  /** f_path of every file this VFS made. */
  private readonly filePaths = new WeakMap<File, Dentry>();
  private readonly mmapFiles = new WeakMap<File, WeakMap<Task, MmapFile>>();

  constructor(opts: VfsOptions = {}) {
    this.modules = opts.modules ?? BUILTIN_MODULE_REFS;
    this.umask = opts.umask ?? 0o022;
    this.chrdev = new CharDevices(this.modules);
    this.rootfs = new Tmpfs("rootfs", ROOTFS_DEV, {
      rootMode: 0o755,
      defChrFops: this.chrdev.defChrFops,
    });
    this.root = this.rootfs.root;
    this.devtmpfs = new Devtmpfs(this.chrdev.defChrFops);
    this.sysfs = new SysfsFs();
    this.procfs = new Procfs({
      ...(opts.processes ? { processes: opts.processes } : {}),
      fileDentry: (file) => this.filePaths.get(file),
    });
    for (const [name, mode, fsRoot] of [
      ["dev", 0o755, this.devtmpfs.root],
      ["sys", 0o555, this.sysfs.root],
      ["proc", 0o555, this.procfs.root],
    ] as const) {
      this.mount(this.rootfs.mkdir(this.root, name, mode, 0, 0), fsRoot);
    }
    // Boot-time registrations, in initcall order: misc (subsys), mem, then /proc files (fs).
    this.miscClass = new DeviceClass("misc", this.sysfs, this.devtmpfs);
    this.miscClass.register();
    const miscClass = this.miscClass;
    this.misc = new MiscDevices(this.chrdev, this.modules, this.devtmpfs, {
      deviceCreate: (devt, misc) =>
        miscClass.deviceCreate({
          name: misc.name,
          devt,
          ...(misc.nodename !== undefined ? { nodename: misc.nodename } : {}),
          ...(misc.mode !== undefined ? { mode: misc.mode } : {}),
        }),
      deviceDestroy: (_devt, misc) => miscClass.deviceDestroy(misc.name),
    });
    this.mem = new MemDevices(this.chrdev, this.devtmpfs);
    if (opts.kmsgFops) this.mem.setKmsgFops(opts.kmsgFops);
    this.procfs.createFile("misc", () => this.misc.procMiscShow());
    const cmdline = opts.cmdline ?? "";
    this.procfs.createFile("cmdline", () => `${cmdline}\n`);
    this.procfs.createFile("devices", () => this.chrdev.procDevicesShow());
    this.procfs.sysctl.register(
      "kernel/tainted",
      taintCtlTable(opts.tainted ?? (() => 0n), opts.addTaint),
    );
  }

  /** Attaches a filesystem's root on `mountpoint`. */
  private mount(mountpoint: Dentry, fsRoot: Dentry): void {
    mountpoint.mounted = fsRoot;
    fsRoot.mountpoint = mountpoint;
  }

  /** The dentry a file was opened by (f_path), if this VFS made the file. */
  dentryOf(file: File): Dentry | undefined {
    return this.filePaths.get(file);
  }

  /**
   * fs/namei.c: filename_lookup() — the dentry `path` names. `followLast` (default true) is
   * LOOKUP_FOLLOW; `directory` is LOOKUP_DIRECTORY.
   */
  lookup(
    path: string,
    current: Task,
    opts: { followLast?: boolean; directory?: boolean } = {},
  ): Dentry {
    const flags =
      (opts.followLast === false ? 0 : LOOKUP_FOLLOW) | (opts.directory ? LOOKUP_DIRECTORY : 0);
    return pathLookupat(this.root, getname(path), current, flags);
  }

  // ---------------------------------------------------------------------------------------
  // open

  /**
   * fs/open.c: do_sys_openat2() → fs/namei.c: do_filp_open() — opens `path` with open(2)
   * `flags`; `mode` is for O_CREAT. The file's reference count is 1 (the caller's).
   */
  open(path: string, flags: number, current: Task, mode = 0o666): File {
    const op = buildOpenFlags(flags, mode);
    const name = getname(path);
    if (op.openFlag & O_PATH) return this.doOPath(name, op, current);
    if (op.openFlag & __O_TMPFILE) return this.doTmpfile(name, op, current);
    const nd = pathInit(this.root, current, op.lookupFlags);
    let s: string | null = name;
    let created = false;
    while (s !== null) {
      linkPathWalk(nd, s);
      const r = this.openLastLookups(nd, op);
      created ||= r.created;
      s = r.link;
    }
    return this.doOpen(nd, op, created);
  }

  /** fs/namei.c: open_last_lookups() — the last component, created if O_CREAT asks. */
  private openLastLookups(nd: Nameidata, op: OpenFlags): { link: string | null; created: boolean } {
    if (nd.lastType !== "norm") {
      walkComponent(nd, WALK_TRAILING);
      return { link: null, created: false };
    }
    if (!(op.openFlag & O_CREAT)) {
      if (nd.lastTrailingSlash) nd.flags |= LOOKUP_FOLLOW | LOOKUP_DIRECTORY;
      const child = lookupChild(nd.path, nd.last, nd.current);
      return { link: stepInto(nd, WALK_TRAILING, child), created: false };
    }
    if (nd.lastTrailingSlash) {
      throw new SysError("EISDIR", "open_last_lookups", `O_CREAT of ${nd.last}/`);
    }
    return this.lookupOpen(nd, op);
  }

  /**
   * fs/namei.c: lookup_open() with O_CREAT — write and search permission on the directory is
   * checked first (may_o_create()) but only matters if the name is free; then the directory's
   * `create` (EACCES when the filesystem has none).
   */
  private lookupOpen(nd: Nameidata, op: OpenFlags): { link: string | null; created: boolean } {
    const dir = nd.path;
    let createError: SysError | null = null;
    try {
      inodePermission(dir.inode, MAY_WRITE | MAY_EXEC, nd.current);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      createError = e;
    }
    const child = lookupChild(dir, nd.last, nd.current);
    if (child !== null) return { link: stepInto(nd, WALK_TRAILING, child), created: false };
    if (createError) throw createError;
    const create = dir.inode.iop.create;
    if (!create) {
      throw new SysError("EACCES", "lookup_open", `${dir.inode.sb.fsType} cannot create files`);
    }
    const mode = (op.mode & ~this.umask & S_IALLUGO) | S_IFREG;
    nd.path = create.call(dir.inode.iop, dir, nd.last, mode, nd.current);
    return { link: null, created: true };
  }

  /** fs/namei.c: do_open() — the checks on what the walk found, then the open itself. */
  private doOpen(nd: Nameidata, op: OpenFlags, created: boolean): File {
    const fn = "do_open";
    const d = nd.path;
    let flags = op.openFlag;
    if (flags & O_CREAT) {
      if (flags & O_EXCL && !created) throw new SysError("EEXIST", fn, `${nd.last} exists`);
      if (isDir(d.inode)) throw new SysError("EISDIR", fn, `${nd.last} is a directory`);
    }
    if (nd.flags & LOOKUP_DIRECTORY && !canLookup(d)) {
      throw new SysError("ENOTDIR", fn, `${nd.last} is not a directory`);
    }
    let accMode = op.accMode;
    let doTruncate = false;
    if (created) {
      flags &= ~O_TRUNC;
      accMode = 0;
    } else if (isReg(d.inode) && flags & O_TRUNC) {
      doTruncate = true;
    }
    this.mayOpen(d, accMode, flags, nd.current);
    const file = this.doDentryOpen(d, flags, nd.current);
    // fs/namei.c: handle_truncate() → do_truncate() with ATTR_SIZE; pseudo files ignore it.
    if (doTruncate) d.inode.iop.truncate?.(d.inode, 0);
    return file;
  }

  /** fs/namei.c: may_open() — by file type, then inode_permission(), then O_NOATIME. */
  private mayOpen(d: Dentry, accMode: number, flags: number, current: Task): void {
    const fn = "may_open";
    const inode = d.inode;
    if (isLnk(inode)) throw new SysError("ELOOP", fn, `${d.name} is a symbolic link`);
    if (isDir(inode)) {
      if (accMode & MAY_WRITE) throw new SysError("EISDIR", fn, `${d.name} is a directory`);
      if (accMode & MAY_EXEC) throw new SysError("EACCES", fn, `${d.name} is a directory`);
    } else if (!isReg(inode)) {
      // Devices, FIFOs, sockets: never executable.
      if (accMode & MAY_EXEC) throw new SysError("EACCES", fn, `${d.name} is a special file`);
    }
    inodePermission(inode, MAY_OPEN | accMode, current);
    if (flags & O_NOATIME && !inodeOwnerOrCapable(inode, current)) {
      throw new SysError("EPERM", fn, "O_NOATIME on a file the caller does not own");
    }
  }

  /**
   * fs/open.c: do_dentry_open() — the file, the inode's operations pinned (ENODEV if their
   * module is going), then their `open`; on failure the pin is dropped again.
   */
  private doDentryOpen(d: Dentry, flags: number, current: Task): File {
    const inode = d.inode;
    const file: File = {
      inode,
      fOp: EMPTY_FOPS,
      flags: flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC),
      mode: openFmode(flags) | FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE,
      pos: 0,
      path: dPath(d),
      privateData: null,
      refcount: 1,
    };
    const fops = inode.fop ?? NO_OPEN_FOPS;
    if (!fopsGet(this.modules, fops)) {
      throw new SysError("ENODEV", "do_dentry_open", `module ${fops.owner?.name} is going`);
    }
    replaceFops(this.modules, file, fops);
    try {
      fops.open?.(inode, file, current);
    } catch (e) {
      filePutFops(file);
      throw e;
    }
    this.filePaths.set(file, d);
    return file;
  }

  /** fs/namei.c: do_o_path() — a path-only file: no permission check beyond the walk. */
  private doOPath(name: string, op: OpenFlags, current: Task): File {
    const d = pathLookupat(this.root, name, current, op.lookupFlags);
    const file: File = {
      inode: d.inode,
      fOp: EMPTY_FOPS,
      flags: op.openFlag & ~O_CLOEXEC,
      mode: FMODE_PATH,
      pos: 0,
      path: dPath(d),
      privateData: null,
      refcount: 1,
    };
    this.filePaths.set(file, d);
    return file;
  }

  /** fs/namei.c: do_tmpfile() → vfs_tmpfile() — EOPNOTSUPP: no filesystem here has tmpfile. */
  private doTmpfile(name: string, op: OpenFlags, current: Task): never {
    const dir = pathLookupat(this.root, name, current, op.lookupFlags | LOOKUP_DIRECTORY);
    inodePermission(dir.inode, MAY_WRITE | MAY_EXEC, current);
    throw new SysError("EOPNOTSUPP", "vfs_tmpfile", `${dir.inode.sb.fsType} has no tmpfile`);
  }

  /**
   * fs/anon_inodes.c: anon_inode_getfile() — see anon-inode.ts; the file is reachable through
   * /proc/<pid>/fd/N once installed.
   */
  anonInodeGetfile(name: string, fops: FileOperations, privateData: unknown, flags: number): File {
    return this.anonInodeGetfileFmode(name, fops, privateData, flags, 0);
  }

  /**
   * fs/anon_inodes.c: anon_inode_getfile_fmode() — the same, with more `f_mode` bits
   * (FMODE_PREAD | FMODE_PWRITE for a VFIO device file).
   */
  anonInodeGetfileFmode(
    name: string,
    fops: FileOperations,
    privateData: unknown,
    flags: number,
    fmode: number,
  ): File {
    const { file, dentry } = this.anon.getfile(name, fops, privateData, flags, this.modules, fmode);
    this.filePaths.set(file, dentry);
    return file;
  }

  // ---------------------------------------------------------------------------------------
  // references and release

  /** include/linux/fs.h: get_file() — one more reference (dup, fork, a mapping). */
  fget(file: File): File {
    file.refcount++;
    return file;
  }

  /** fs/file_table.c: fput() — drops a reference; the last one releases the file. */
  fput(file: File): void {
    if (file.refcount <= 0) throw new KernelBug(`fput of a released file ${file.path}`);
    if (--file.refcount === 0) this.release(file);
  }

  /**
   * fs/file_table.c: __fput() — the operations' `release` (its result ignored, as Linux does),
   * then a char device's cdev reference (cdev_put()) and the operations' module reference
   * (fops_put()) dropped.
   */
  release(file: File): void {
    try {
      if (!(file.mode & FMODE_PATH)) file.fOp.release?.(file.inode, file);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
    } finally {
      this.chrdev.cdevPutFile(file);
      filePutFops(file);
    }
  }

  // ---------------------------------------------------------------------------------------
  // read, write, lseek, ioctl

  /**
   * fs/read_write.c: vfs_read() — EBADF unless open for reading, EINVAL without a read
   * operation, EFAULT for a buffer outside user space, EINVAL for a negative position; the
   * count is capped at MAX_RW_COUNT.
   */
  private vfsRead(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const fn = "vfs_read";
    if (!(file.mode & FMODE_READ))
      throw new SysError("EBADF", fn, `${file.path} not open for reading`);
    const read = file.fOp.read;
    if (!read) throw new SysError("EINVAL", fn, `${file.path} has no read operation`);
    if (!accessOk(va, count))
      throw new SysError("EFAULT", fn, `buffer 0x${va.toString(16)}+${count}`);
    rwVerifyArea(pos.value, fn);
    return read.call(file.fOp, file, current, va, Math.min(count, MAX_RW_COUNT), pos);
  }

  /** fs/read_write.c: vfs_write() — as vfs_read(), for writing. */
  private vfsWrite(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const fn = "vfs_write";
    if (!(file.mode & FMODE_WRITE))
      throw new SysError("EBADF", fn, `${file.path} not open for writing`);
    const write = file.fOp.write;
    if (!write) throw new SysError("EINVAL", fn, `${file.path} has no write operation`);
    if (!accessOk(va, count))
      throw new SysError("EFAULT", fn, `buffer 0x${va.toString(16)}+${count}`);
    rwVerifyArea(pos.value, fn);
    return write.call(file.fOp, file, current, va, Math.min(count, MAX_RW_COUNT), pos);
  }

  /** fs/read_write.c: ksys_read() — at the file position, which advances on success. */
  read(file: File, current: Task, va: number, count: number): number {
    const pos = { value: file.pos };
    const n = this.vfsRead(file, current, va, count, pos);
    file.pos = pos.value;
    return n;
  }

  /** fs/read_write.c: ksys_write(). */
  write(file: File, current: Task, va: number, count: number): number {
    const pos = { value: file.pos };
    const n = this.vfsWrite(file, current, va, count, pos);
    file.pos = pos.value;
    return n;
  }

  /**
   * fs/read_write.c: ksys_pread64() — EINVAL for a negative offset (checked before the
   * descriptor in Linux), ESPIPE for a file without FMODE_PREAD, then vfs_read(); the file
   * position does not move.
   */
  pread(file: File, current: Task, va: number, count: number, offset: number): number {
    if (offset < 0) throw new SysError("EINVAL", "ksys_pread64", `negative offset ${offset}`);
    if (!(file.mode & FMODE_PREAD))
      throw new SysError("ESPIPE", "ksys_pread64", `${file.path} cannot pread`);
    return this.vfsRead(file, current, va, count, { value: offset });
  }

  /** fs/read_write.c: ksys_pwrite64(). */
  pwrite(file: File, current: Task, va: number, count: number, offset: number): number {
    if (offset < 0) throw new SysError("EINVAL", "ksys_pwrite64", `negative offset ${offset}`);
    if (!(file.mode & FMODE_PWRITE))
      throw new SysError("ESPIPE", "ksys_pwrite64", `${file.path} cannot pwrite`);
    return this.vfsWrite(file, current, va, count, { value: offset });
  }

  /**
   * fs/read_write.c: ksys_lseek() → vfs_llseek() — EINVAL for whence beyond SEEK_HOLE, ESPIPE
   * for a file without llseek, else the operation's result (the new position).
   */
  llseek(file: File, offset: number, whence: number): number {
    notPathOnly(file, "ksys_lseek");
    if (!Number.isInteger(whence) || whence < 0 || whence > SEEK_MAX) {
      throw new SysError("EINVAL", "ksys_lseek", `whence ${whence}`);
    }
    const llseek = file.fOp.llseek;
    if (!llseek) throw new SysError("ESPIPE", "vfs_llseek", `${file.path} cannot seek`);
    return llseek.call(file.fOp, file, offset, whence);
  }

  /**
   * fs/ioctl.c: vfs_ioctl() — ENOTTY without unlocked_ioctl, and for ENOIOCTLCMD. (The generic
   * commands of do_vfs_ioctl(), FIOCLEX and friends, are the syscall layer's.)
   */
  ioctl(file: File, current: Task, cmd: number, arg: number): number {
    const fn = "vfs_ioctl";
    notPathOnly(file, "ksys_ioctl");
    const ioctl = file.fOp.unlockedIoctl;
    if (!ioctl) throw new SysError("ENOTTY", fn, `${file.path} has no ioctls`);
    try {
      return ioctl.call(file.fOp, file, current, cmd >>> 0, arg);
    } catch (e) {
      if (SysError.isInstance(e) && e.errno === ENOIOCTLCMD) {
        throw new SysError("ENOTTY", fn, `command 0x${(cmd >>> 0).toString(16)}`);
      }
      throw e;
    }
  }

  /**
   * What mm's do_mmap() needs of an open file, one object per file and process (VMAs merge only
   * within one `vm_file`): the driver's mmap hook, the open mode, references, the maps name.
   */
  mmapFile(file: File, current: Task): MmapFile {
    let perTask = this.mmapFiles.get(file);
    if (!perTask) {
      perTask = new WeakMap();
      this.mmapFiles.set(file, perTask);
    }
    let m = perTask.get(current);
    if (!m) {
      notPathOnly(file, "ksys_mmap_pgoff");
      const mmap = file.fOp.mmap;
      m = {
        ...(mmap ? { mmap: (vma: Vma) => mmap.call(file.fOp, file, current, vma) } : {}),
        fMode: file.mode & (FMODE_READ | FMODE_WRITE),
        getFile: () => {
          this.fget(file);
        },
        fput: () => this.fput(file),
        mapsName: file.path,
      };
      perTask.set(current, m);
    }
    return m;
  }

  // ---------------------------------------------------------------------------------------
  // stat, readlink, getdents64

  /** fs/stat.c: vfs_statx() — stat(2) (follows a final symlink) or lstat(2). */
  stat(path: string, current: Task, opts: { followLast?: boolean } = {}): Stat {
    const flags = opts.followLast === false ? 0 : LOOKUP_FOLLOW;
    return vfsGetattr(pathLookupat(this.root, getname(path), current, flags).inode);
  }

  /** fs/stat.c: vfs_fstat(). */
  fstat(file: File): Stat {
    return vfsGetattr(file.inode);
  }

  /**
   * fs/stat.c: do_readlinkat() — the link's text (a procfs fd link gives its file's path);
   * EINVAL if the path is not a symlink. Truncation to the caller's buffer is the caller's.
   */
  readlink(path: string, current: Task): string {
    // LOOKUP_EMPTY: the empty path reaches do_readlinkat(), which calls it ENOENT itself.
    if (path === "") throw new SysError("ENOENT", "do_readlinkat", "empty path");
    const d = pathLookupat(this.root, getname(path), current, 0);
    const iop = d.inode.iop;
    if (iop.readlink) return iop.readlink(d, current);
    if (!isLnk(d.inode) || !iop.getLink) {
      throw new SysError("EINVAL", "do_readlinkat", `${path} is not a symbolic link`);
    }
    const res = iop.getLink(d, current);
    return typeof res === "string" ? res : dPath(res);
  }

  /**
   * fs/readdir.c: iterate_dir() on an open directory — ENOTDIR for anything else; "." and ".."
   * first, then the filesystem's order.
   */
  iterateDir(file: File, current: Task): string[] {
    notPathOnly(file, "getdents64");
    const d = this.filePaths.get(file);
    const iterate = d?.inode.iop.iterate;
    if (!d || !iterate) {
      throw new SysError("ENOTDIR", "iterate_dir", `${file.path} is not a directory`);
    }
    return [".", "..", ...iterate.call(d.inode.iop, d, current)];
  }

  /** opendir() + getdents64() + closedir(): the names of a directory, "." and ".." included. */
  readdir(path: string, current: Task): string[] {
    const file = this.open(path, O_RDONLY | O_DIRECTORY, current);
    try {
      return this.iterateDir(file, current);
    } finally {
      this.fput(file);
    }
  }
}
