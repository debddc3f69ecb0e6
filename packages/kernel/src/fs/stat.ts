/**
 * What stat(2) returns (`struct stat`, filled by fs/stat.c: generic_fillattr(), the
 * filesystem's getattr, and cp_new_stat()). `dev` and `rdev` are in the user-space encoding
 * (decode them with `major()`/`minor()` from kdev-t.ts); `mode` includes the file type bits.
 *
 * The numbers each filesystem of the model reports are Linux's: sysfs attributes are 4096
 * bytes (PAGE_SIZE) and directories count 2 + subdirectories; procfs files are 0 bytes; tmpfs
 * (devtmpfs) directories grow 20 bytes (BOGO_DIRENT_SIZE) per entry; every block size is 4096.
 * Times are not modelled (there is no wall clock).
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import type { Inode } from "./file.js";
import { KInode } from "./inode.js";
import { newEncodeDev } from "./kdev-t.js";

export interface Stat {
  /** Device of the filesystem (user-space dev_t). */
  readonly dev: number;
  readonly ino: number;
  /** File type and permission bits. */
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  /** Device number of a char/block special file (user-space dev_t), else 0. */
  readonly rdev: number;
  readonly size: number;
  readonly blksize: number;
  /** 512-byte blocks allocated. */
  readonly blocks: number;
}

/** `struct kstat` as a filesystem's getattr sees it: kernel dev_t numbers, all mutable. */
export interface Kstat {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
}

/** fs/stat.c: generic_fillattr() — the inode's own fields. */
export function genericFillattr(inode: Inode): Kstat {
  const k = inode instanceof KInode ? inode : undefined;
  return {
    dev: k?.sb.dev ?? 0,
    ino: inode.ino,
    mode: inode.mode,
    nlink: k?.nlink ?? 1,
    uid: inode.uid,
    gid: inode.gid,
    rdev: inode.rdev,
    size: inode.size,
    blksize: PAGE_SIZE,
    blocks: k?.blocks ?? 0,
  };
}

/** fs/stat.c: vfs_getattr() + cp_new_stat() — the `struct stat` user space receives. */
export function vfsGetattr(inode: Inode): Stat {
  const stat = genericFillattr(inode);
  if (inode instanceof KInode) inode.iop.getattr?.(inode, stat);
  return {
    ...stat,
    dev: newEncodeDev(stat.dev),
    rdev: newEncodeDev(stat.rdev),
  };
}
