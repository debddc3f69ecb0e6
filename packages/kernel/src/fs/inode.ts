/**
 * The VFS objects every filesystem of the model builds on: `struct super_block` (reduced to its
 * type, anonymous device number and inode numbering), `struct inode` with its
 * `inode_operations`, and `struct dentry` with the mount links the path walk follows.
 *
 * Caveat: there is no dentry cache. A filesystem's `lookup` is asked every time, and a
 * filesystem that wants stable identities (sysfs, procfs) keeps its own dentry per object.
 * Directory listing is an inode operation here (`iterate`) because `FileOperations` has no slot
 * for it; Linux keeps it in `file_operations.iterate_shared`.
 */

import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import {
  type FileOperations,
  type Inode,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
} from "./file.js";
import type { Kstat } from "./stat.js";

/** `struct inode_operations`, as far as the model's filesystems need it. All may throw SysError. */
export interface InodeOperations {
  /** `lookup`: the child `name` of directory `dir`, or null (a negative dentry). */
  lookup?(dir: Dentry, name: string, current: Task): Dentry | null;
  /** `iterate_shared`: the children's names in getdents64 order, without "." and "..". */
  iterate?(dir: Dentry, current: Task): string[];
  /** `get_link`: the link body, or a dentry to jump to (procfs "magic" links, nd_jump_link()). */
  getLink?(link: Dentry, current: Task): string | Dentry;
  /** `readlink`: only for links whose text is not `get_link`'s (proc_pid_readlink()). */
  readlink?(link: Dentry, current: Task): string;
  /** `permission`: throws EACCES; without it the VFS applies generic_permission(). */
  permission?(inode: KInode, mask: number, current: Task): void;
  /** `create`: a new regular file `name` in `dir` (open with O_CREAT). */
  create?(dir: Dentry, name: string, mode: number, current: Task): Dentry;
  /** `getattr`: fills in what generic_fillattr() cannot know (directory link counts …). */
  getattr?(inode: KInode, stat: Kstat): void;
  /** `setattr` with ATTR_SIZE, as open(O_TRUNC) reaches it through do_truncate(). */
  truncate?(inode: KInode, size: number): void;
}

/** `struct super_block`, reduced to what stat(2) and d_path() show. */
export class SuperBlock {
  private nextIno: number;

  constructor(
    /** The filesystem type as /proc/mounts names it ("sysfs", "proc", "devtmpfs" …). */
    readonly fsType: string,
    /** The kernel `dev_t` stat(2) reports as st_dev (an anonymous 0:N for these filesystems). */
    readonly dev: number,
    opts: {
      /** First inode number handed out by `allocIno()`. */
      readonly firstIno?: number;
      /** `d_op->d_dname`: how d_path() names a dentry of this filesystem (anon_inodefs). */
      readonly dname?: (dentry: Dentry) => string;
    } = {},
  ) {
    this.nextIno = opts.firstIno ?? 1;
    if (opts.dname) this.dname = opts.dname;
  }

  readonly dname?: (dentry: Dentry) => string;

  /** Inode numbers in allocation order, never reused (like kernfs's cyclic idr or shmem's). */
  allocIno(): number {
    return this.nextIno++;
  }
}

export interface KInodeInit {
  readonly ino: number;
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly rdev?: number;
  readonly size?: number;
  readonly nlink?: number;
  readonly fop?: FileOperations | null;
  readonly iop?: InodeOperations;
  readonly private?: unknown;
}

/** `struct inode` as the model's filesystems create it (implements the `Inode` drivers see). */
export class KInode implements Inode {
  readonly ino: number;
  mode: number;
  uid: number;
  gid: number;
  readonly rdev: number;
  size: number;
  fop: FileOperations | null;
  private: unknown;
  nlink: number;
  /** i_blocks in 512-byte units. */
  blocks = 0;
  iop: InodeOperations;

  constructor(
    readonly sb: SuperBlock,
    init: KInodeInit,
  ) {
    this.ino = init.ino;
    this.mode = init.mode;
    this.uid = init.uid ?? 0;
    this.gid = init.gid ?? 0;
    this.rdev = init.rdev ?? 0;
    this.size = init.size ?? 0;
    this.nlink = init.nlink ?? 1;
    this.fop = init.fop ?? null;
    this.iop = init.iop ?? {};
    this.private = init.private;
  }
}

/** `struct dentry`: a name in a directory, bound to an inode. */
export class Dentry {
  /** The root of the filesystem mounted on this dentry, if it is a mount point. */
  mounted: Dentry | null = null;
  /** For the root of a mounted filesystem: the dentry it covers (`mnt_mountpoint`). */
  mountpoint: Dentry | null = null;
  /** Unlinked while still in use: d_path() then appends " (deleted)". */
  deleted = false;

  constructor(
    readonly name: string,
    readonly parent: Dentry | null,
    readonly inode: KInode,
  ) {}
}

/** fs/d_path.c: d_path() — the absolute path of `dentry` across mounts. */
export function dPath(dentry: Dentry): string {
  const dname = dentry.inode.sb.dname;
  if (dname) return dname(dentry);
  const parts: string[] = [];
  let d: Dentry = dentry;
  for (;;) {
    if (d.parent === null) {
      if (d.mountpoint === null) break;
      d = d.mountpoint;
      continue;
    }
    parts.push(d.name);
    d = d.parent;
  }
  return `/${parts.reverse().join("/")}${dentry.deleted ? " (deleted)" : ""}`;
}

export function isDir(inode: Inode): boolean {
  return (inode.mode & S_IFMT) === S_IFDIR;
}

export function isReg(inode: Inode): boolean {
  return (inode.mode & S_IFMT) === S_IFREG;
}

export function isLnk(inode: Inode): boolean {
  return (inode.mode & S_IFMT) === S_IFLNK;
}

export function isChr(inode: Inode): boolean {
  return (inode.mode & S_IFMT) === S_IFCHR;
}

export function isBlk(inode: Inode): boolean {
  return (inode.mode & S_IFMT) === S_IFBLK;
}

/** d_can_lookup(): a directory the walk can descend into. */
export function canLookup(dentry: Dentry): boolean {
  return isDir(dentry.inode) && dentry.inode.iop.lookup !== undefined;
}

/** fs/inode.c: no_open() — what opening an inode without file operations gives. */
export const NO_OPEN_FOPS: FileOperations = Object.freeze({
  open(): void {
    throw new SysError("ENXIO", "no_open");
  },
});

/** fs/libfs.c: generic_read_dir() — read(2) on a directory. */
export function genericReadDir(): never {
  throw new SysError("EISDIR", "generic_read_dir");
}
