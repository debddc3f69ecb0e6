/**
 * `struct file` and `struct file_operations`: the interface every driver and pseudo-filesystem
 * implements, and the only way user space reaches kernel objects.
 *
 * Every operation gets `current` (the calling task) explicitly instead of through a global, so a
 * driver can copy from its user memory (`current.mm`) and check its credentials. Operations fail
 * by throwing `SysError`; a missing operation means what it means in Linux (no `read` → EINVAL,
 * no `unlocked_ioctl` → ENOTTY, no `mmap` → ENODEV, no `poll` → DEFAULT_POLLMASK).
 */

import type { Vma } from "../mm/vma.js";
import type { Task } from "../task.js";

/** File type bits of `i_mode` (include/uapi/linux/stat.h). */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** open(2) flags (include/uapi/asm-generic/fcntl.h, the values arm64 uses). */
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DSYNC = 0o10000;
export const O_DIRECTORY = 0o40000;
export const O_NOFOLLOW = 0o100000;
export const O_DIRECT = 0o200000;
export const O_LARGEFILE = 0o400000;
export const O_NOATIME = 0o1000000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

/** f_mode bits (include/linux/fs.h). */
export const FMODE_READ = 0x1;
export const FMODE_WRITE = 0x2;
/** The file may seek (do_dentry_open() grants it to files opened by path). */
export const FMODE_LSEEK = 0x4;
/** pread(2) is allowed; anonymous-inode files lack it, so pread on them is ESPIPE. */
export const FMODE_PREAD = 0x8;
export const FMODE_PWRITE = 0x10;
/** An O_PATH file: no I/O at all. */
export const FMODE_PATH = 0x4000;

/** Poll event bits (include/uapi/asm-generic/poll.h). */
export const POLLIN = 0x0001;
export const POLLPRI = 0x0002;
export const POLLOUT = 0x0004;
export const POLLERR = 0x0008;
export const POLLHUP = 0x0010;
export const POLLNVAL = 0x0020;
export const POLLRDNORM = 0x0040;
export const POLLRDBAND = 0x0080;
export const POLLWRNORM = 0x0100;
export const POLLWRBAND = 0x0200;
/** What a file without `poll` reports (fs/select.c). */
export const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/** lseek whence values. */
export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;

/** `struct inode`, reduced to what the model's filesystems use. */
export interface Inode {
  /** Inode number, unique within its filesystem. */
  readonly ino: number;
  /** File type and permission bits (S_IFCHR | 0o600 …). */
  mode: number;
  uid: number;
  gid: number;
  /** Device number for S_IFCHR/S_IFBLK: (major << 20) | minor, as the kernel's `dev_t`. */
  readonly rdev: number;
  /** Size as stat(2) reports it (sysfs attributes report 4096, as Linux does). */
  size: number;
  /** File operations installed at open (for char devices, looked up by rdev at open). */
  fop: FileOperations | null;
  /** Private data of the filesystem or driver (`i_private`). */
  private: unknown;
}

/** `struct file`: one open file description, shared by dup()ed descriptors. */
export interface File {
  readonly inode: Inode;
  /** The operations in use (char devices replace the inode's at open, as `chrdev_open` does). */
  fOp: FileOperations;
  /** open(2) flags kept on the file (O_NONBLOCK, O_APPEND, access mode …). */
  flags: number;
  /** FMODE_READ | FMODE_WRITE. */
  readonly mode: number;
  /** Current file position (f_pos). */
  pos: number;
  /** The path it was opened by (for traces and /proc/<pid>/fd). */
  readonly path: string;
  /** Driver data (`private_data`). */
  privateData: unknown;
  /** Open file descriptions referring to this file (fds and mappings); released at 0. */
  refcount: number;
}

export interface FileOperations {
  /** Module that implements these operations: pinned while a file is open (rmmod refuses). */
  readonly owner?: { readonly name: string };
  open?(inode: Inode, file: File, current: Task): void;
  /** Last reference dropped (close of the last fd and munmap of the last mapping). */
  release?(inode: Inode, file: File): void;
  /** Reads up to `count` bytes to user address `va` at `pos`; returns bytes read and may move `pos`. */
  read?(file: File, current: Task, va: number, count: number, pos: { value: number }): number;
  write?(file: File, current: Task, va: number, count: number, pos: { value: number }): number;
  llseek?(file: File, offset: number, whence: number): number;
  unlockedIoctl?(file: File, current: Task, cmd: number, arg: number): number;
  mmap?(file: File, current: Task, vma: Vma): void;
  /** Current readiness mask (POLL*); must not block. */
  poll?(file: File, current: Task): number;
}
