/**
 * fs/anon_inodes.c: files without a path of their own — eventfd, the VFIO device fd, IOMMUFD
 * objects. They all share one inode of the internal anon_inodefs: no file type in its mode
 * (st_mode is 0600, "?rw-------"), owned by root, and a dentry named by the caller
 * ("[eventfd]") that d_path() shows as "anon_inode:[eventfd]" — what readlink of
 * /proc/self/fd/N prints.
 *
 * Such a file keeps only the access mode and O_NONBLOCK of the flags it was made with, can
 * neither pread nor pwrite (no FMODE_PREAD/FMODE_PWRITE, so ESPIPE), and pins the module that
 * implements its operations (ENOENT if that module is going away, as anon_inode_getfile()
 * returns).
 */

import { SysError } from "../errno.js";
import {
  type File,
  type FileOperations,
  FMODE_READ,
  FMODE_WRITE,
  O_ACCMODE,
  O_NONBLOCK,
} from "./file.js";
import { BUILTIN_MODULE_REFS, fopsGet, type ModuleRefs, replaceFops } from "./fops.js";
import { Dentry, KInode, SuperBlock } from "./inode.js";
import { MKDEV } from "./kdev-t.js";

/**
 * The anonymous device of anon_inodefs. Linux numbers anonymous superblocks in mount order;
 * 0:14 is what lsof commonly shows for "a_inode" files on arm64 and x86 boots.
 */
export const ANON_INODE_DEV = MKDEV(0, 14);

/** include/linux/fs.h: OPEN_FMODE() — O_RDONLY/O_WRONLY/O_RDWR + 1 is FMODE_READ/WRITE/both. */
export function openFmode(flags: number): number {
  return ((flags & O_ACCMODE) + 1) & (FMODE_READ | FMODE_WRITE);
}

/** The anon_inodefs superblock and its single shared inode. */
export class AnonInodeFs {
  readonly sb = new SuperBlock("anon_inodefs", ANON_INODE_DEV, {
    // fs/anon_inodes.c: anon_inodefs_dname() prefixes the caller's name.
    dname: (dentry) => `anon_inode:${dentry.name}`,
  });
  /** fs/libfs.c: alloc_anon_inode() — "anonymous inodes have no type at all". */
  readonly inode = new KInode(this.sb, { ino: this.sb.allocIno(), mode: 0o600 });

  /**
   * fs/anon_inodes.c: anon_inode_getfile() — a new file over the shared inode, with `fops`
   * pinned (ENOENT if its module is going) and `privateData` attached. Returns the file and
   * its dentry (what /proc/<pid>/fd/N leads to).
   */
  getfile(
    name: string,
    fops: FileOperations,
    privateData: unknown,
    flags: number,
    refs: ModuleRefs = BUILTIN_MODULE_REFS,
    fmode = 0,
  ): { file: File; dentry: Dentry } {
    if (!fopsGet(refs, fops)) {
      throw new SysError("ENOENT", "anon_inode_getfile", `module ${fops.owner?.name} is going`);
    }
    const dentry = new Dentry(name, null, this.inode);
    const file: File = {
      inode: this.inode,
      fOp: fops,
      flags: flags & (O_ACCMODE | O_NONBLOCK),
      mode: openFmode(flags) | fmode,
      pos: 0,
      path: `anon_inode:${name}`,
      privateData,
      refcount: 1,
    };
    replaceFops(refs, file, fops);
    return { file, dentry };
  }
}

const sharedAnonFs = new AnonInodeFs();

/**
 * fs/anon_inodes.c: anon_inode_getfile() on a shared anon_inodefs, for code that has no `Vfs` at
 * hand. Prefer `Vfs.anonInodeGetfile`, which also lets /proc/<pid>/fd/N reach the file.
 */
export function anonInodeGetfile(
  name: string,
  fops: FileOperations,
  privateData: unknown,
  flags: number,
  refs: ModuleRefs = BUILTIN_MODULE_REFS,
): File {
  return sharedAnonFs.getfile(name, fops, privateData, flags, refs).file;
}
