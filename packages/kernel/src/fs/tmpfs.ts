/**
 * mm/shmem.c as a filesystem: the in-memory tree behind devtmpfs and the model's root "/".
 * Directories, character and block special files, and regular files created by open(O_CREAT).
 *
 * What stat(2) and getdents64 show is Linux's:
 * - inode numbers in creation order from 1 (shmem_reserve_inode(), sbinfo->next_ino);
 * - a directory's size is 20 bytes (BOGO_DIRENT_SIZE) per entry, "." and ".." included, and
 *   its link count 2 + subdirectories;
 * - directory listings are newest first: simple_offset directories walk the dentry's
 *   d_children list, where new entries are added at the head (fs/libfs.c since 6.14);
 * - lookup of a name longer than NAME_MAX is ENAMETOOLONG (simple_lookup()).
 *
 * Caveat: regular files hold their bytes in a JS array and cannot be mmap()ed (no shmem pages
 * behind them); no hard links, rename, xattrs, POSIX ACLs or size limits; O_TMPFILE is not
 * supported.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import { copyFromUser, copyToUser } from "../uaccess.js";
import {
  type File,
  type FileOperations,
  O_APPEND,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  SEEK_CUR,
  SEEK_SET,
} from "./file.js";
import {
  Dentry,
  genericReadDir,
  type InodeOperations,
  isDir,
  KInode,
  NO_OPEN_FOPS,
  SuperBlock,
} from "./inode.js";
import { NAME_MAX, nameBytes } from "./namei.js";
import { genericFileLlseek, MAX_LFS_FILESIZE, vfsSetpos } from "./read-write.js";

/** mm/shmem.c BOGO_DIRENT_SIZE: what each directory entry adds to a directory's size. */
export const BOGO_DIRENT_SIZE = 20;

/** A directory's entries, oldest first (listed in reverse). */
interface TmpfsDir {
  readonly children: Map<string, Dentry>;
  /** Created by devtmpfs itself (devtmpfs's `i_private == &thread` mark). */
  kernelCreated: boolean;
}

/** A regular file's bytes. */
interface TmpfsReg {
  data: Uint8Array;
}

/** A special file made by the kernel (devtmpfs marks the nodes it creates). */
interface TmpfsSpecial {
  kernelCreated: boolean;
}

export interface TmpfsOptions {
  readonly rootMode: number;
  /** def_chr_fops of the char-device layer (init_special_inode()). */
  readonly defChrFops: FileOperations;
}

/** block/fops.c: blkdev_open() — the model has no block devices. */
const DEF_BLK_FOPS: FileOperations = Object.freeze({
  open(): void {
    throw new SysError("ENXIO", "blkdev_open", "no block device behind this node");
  },
});

/** fs/libfs.c: offset_dir_llseek() — SEEK_SET/SEEK_CUR, never negative. */
function offsetDirLlseek(file: File, offset: number, whence: number): number {
  const fn = "offset_dir_llseek";
  if (whence === SEEK_CUR) offset += file.pos;
  else if (whence !== SEEK_SET) throw new SysError("EINVAL", fn, `whence ${whence}`);
  if (offset < 0) throw new SysError("EINVAL", fn, `negative position ${offset}`);
  return vfsSetpos(file, offset, MAX_LFS_FILESIZE, fn);
}

const DIR_FOPS: FileOperations = Object.freeze({
  read: genericReadDir,
  llseek: offsetDirLlseek,
});

export class Tmpfs {
  readonly sb: SuperBlock;
  readonly root: Dentry;
  private readonly dirIop: InodeOperations;
  private readonly regIop: InodeOperations;
  private readonly regFops: FileOperations;

  constructor(
    fsType: string,
    dev: number,
    private readonly opts: TmpfsOptions,
  ) {
    this.sb = new SuperBlock(fsType, dev);
    this.dirIop = {
      lookup: (dir, name) => this.simpleLookup(dir, name),
      iterate: (dir) => this.iterate(dir),
      create: (dir, name, mode, current) =>
        this.mknod(dir, name, (mode & ~S_IFMT) | S_IFREG, 0, current.euid, current.egid),
    };
    this.regIop = {
      truncate: (inode, size) => this.truncate(inode, size),
    };
    this.regFops = Object.freeze({
      read: (file: File, current: Task, va: number, count: number, pos: { value: number }) =>
        this.readReg(file, current, va, count, pos),
      write: (file: File, current: Task, va: number, count: number, pos: { value: number }) =>
        this.writeReg(file, current, va, count, pos),
      llseek: genericFileLlseek,
    });
    this.root = new Dentry("/", null, this.newDirInode(opts.rootMode, 0, 0));
  }

  private newDirInode(mode: number, uid: number, gid: number): KInode {
    const dir: TmpfsDir = { children: new Map(), kernelCreated: false };
    return new KInode(this.sb, {
      ino: this.sb.allocIno(),
      mode: S_IFDIR | (mode & 0o7777),
      uid,
      gid,
      // shmem_get_inode(): "some things misbehave if size == 0 on a directory".
      size: 2 * BOGO_DIRENT_SIZE,
      nlink: 2,
      fop: DIR_FOPS,
      iop: this.dirIop,
      private: dir,
    });
  }

  private dirOf(dentry: Dentry): TmpfsDir {
    if (!isDir(dentry.inode)) throw new SysError("ENOTDIR", "shmem", `${dentry.name} is not a dir`);
    return dentry.inode.private as TmpfsDir;
  }

  /** fs/libfs.c: simple_lookup() — ENAMETOOLONG past NAME_MAX, else the entry or nothing. */
  private simpleLookup(dir: Dentry, name: string): Dentry | null {
    if (nameBytes(name) > NAME_MAX) {
      throw new SysError("ENAMETOOLONG", "simple_lookup", `component of ${nameBytes(name)} bytes`);
    }
    return this.dirOf(dir).children.get(name) ?? null;
  }

  /** The entry `name` of `dir`, if any. */
  child(dir: Dentry, name: string): Dentry | undefined {
    return this.dirOf(dir).children.get(name);
  }

  /** Entries newest first, as offset_readdir() walks d_children. */
  private iterate(dir: Dentry): string[] {
    return [...this.dirOf(dir).children.keys()].reverse();
  }

  private link(dir: Dentry, child: Dentry): Dentry {
    this.dirOf(dir).children.set(child.name, child);
    dir.inode.size += BOGO_DIRENT_SIZE;
    if (isDir(child.inode)) dir.inode.nlink++;
    return child;
  }

  private checkFree(dir: Dentry, name: string, fn: string): void {
    if (this.dirOf(dir).children.has(name)) {
      throw new SysError("EEXIST", fn, `${name} exists`);
    }
  }

  /** mm/shmem.c: shmem_mkdir() — EEXIST if the name is taken. */
  mkdir(dir: Dentry, name: string, mode: number, uid: number, gid: number): Dentry {
    this.checkFree(dir, name, "shmem_mkdir");
    return this.link(dir, new Dentry(name, dir, this.newDirInode(mode, uid, gid)));
  }

  /**
   * mm/shmem.c: shmem_mknod() — a regular file, or a char/block special file whose open goes
   * through init_special_inode()'s default operations.
   */
  mknod(dir: Dentry, name: string, mode: number, rdev: number, uid: number, gid: number): Dentry {
    this.checkFree(dir, name, "shmem_mknod");
    const type = mode & S_IFMT;
    let fop: FileOperations;
    let priv: TmpfsReg | TmpfsSpecial;
    let iop: InodeOperations = {};
    if (type === S_IFREG) {
      fop = this.regFops;
      priv = { data: new Uint8Array(0) };
      iop = this.regIop;
    } else if (type === S_IFCHR) {
      fop = this.opts.defChrFops;
      priv = { kernelCreated: false };
    } else if (type === S_IFBLK) {
      fop = DEF_BLK_FOPS;
      priv = { kernelCreated: false };
    } else {
      // FIFOs and sockets are not modelled.
      fop = NO_OPEN_FOPS;
      priv = { kernelCreated: false };
    }
    const inode = new KInode(this.sb, {
      ino: this.sb.allocIno(),
      mode,
      uid,
      gid,
      rdev: type === S_IFCHR || type === S_IFBLK ? rdev : 0,
      fop,
      iop,
      private: priv,
    });
    return this.link(dir, new Dentry(name, dir, inode));
  }

  /** mm/shmem.c: shmem_unlink() — ENOENT if absent, EISDIR for a directory. */
  unlink(dir: Dentry, name: string): void {
    const d = this.child(dir, name);
    if (!d) throw new SysError("ENOENT", "shmem_unlink", `${name} does not exist`);
    if (isDir(d.inode)) throw new SysError("EISDIR", "vfs_unlink", `${name} is a directory`);
    this.unlinkDentry(dir, d);
  }

  /** fs/libfs.c: simple_rmdir() — ENOTEMPTY unless empty. */
  rmdir(dir: Dentry, name: string): void {
    const d = this.child(dir, name);
    if (!d) throw new SysError("ENOENT", "shmem_rmdir", `${name} does not exist`);
    if (!isDir(d.inode)) throw new SysError("ENOTDIR", "vfs_rmdir", `${name} is not a directory`);
    if (this.dirOf(d).children.size > 0) {
      throw new SysError("ENOTEMPTY", "simple_rmdir", `${name} is not empty`);
    }
    dir.inode.nlink--;
    this.unlinkDentry(dir, d);
  }

  private unlinkDentry(dir: Dentry, d: Dentry): void {
    this.dirOf(dir).children.delete(d.name);
    dir.inode.size -= BOGO_DIRENT_SIZE;
    d.inode.nlink = 0;
    d.deleted = true;
  }

  /** Whether devtmpfs made this inode itself (its `i_private == &thread` test). */
  isKernelCreated(inode: KInode): boolean {
    const p = inode.private as Partial<TmpfsDir & TmpfsSpecial> | undefined;
    return p?.kernelCreated === true;
  }

  markKernelCreated(inode: KInode): void {
    (inode.private as TmpfsDir | TmpfsSpecial).kernelCreated = true;
  }

  /** Whether a directory has no entries. */
  isEmptyDir(dentry: Dentry): boolean {
    return this.dirOf(dentry).children.size === 0;
  }

  private reg(file: File): TmpfsReg {
    return file.inode.private as TmpfsReg;
  }

  private setSize(inode: KInode, reg: TmpfsReg, size: number): void {
    inode.size = size;
    inode.blocks = Math.ceil(size / PAGE_SIZE) * (PAGE_SIZE / 512);
    if (reg.data.length !== size) {
      const data = new Uint8Array(size);
      data.set(reg.data.subarray(0, Math.min(size, reg.data.length)));
      reg.data = data;
    }
  }

  /** mm/shmem.c: shmem_setattr() with ATTR_SIZE (open with O_TRUNC). */
  private truncate(inode: KInode, size: number): void {
    this.setSize(inode, inode.private as TmpfsReg, size);
  }

  /** mm/filemap.c: filemap_read() — up to the end of the file. */
  private readReg(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const reg = this.reg(file);
    if (count === 0 || pos.value >= file.inode.size) return 0;
    const n = Math.min(count, file.inode.size - pos.value);
    copyToUser(current.mm, va, reg.data.subarray(pos.value, pos.value + n), "filemap_read");
    pos.value += n;
    return n;
  }

  /**
   * mm/filemap.c: generic_file_write_iter() — O_APPEND writes at the end
   * (generic_write_checks()); writing past the end zero-fills the gap.
   */
  private writeReg(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const inode = file.inode as KInode;
    const reg = this.reg(file);
    if (file.flags & O_APPEND) pos.value = inode.size;
    if (count === 0) return 0;
    const bytes = copyFromUser(current.mm, va, count, "generic_perform_write");
    const end = pos.value + count;
    if (end > inode.size) this.setSize(inode, reg, end);
    reg.data.set(bytes, pos.value);
    pos.value = end;
    return count;
  }
}
