/**
 * fs/sysfs over kernfs: the `Sysfs` API the driver core and modules populate /sys with, and
 * what a process sees when it opens, reads, writes, stats and lists it.
 *
 * Attribute files behave as sysfs's text attributes of a kobject whose sysfs_ops has both show
 * and store (devices, drivers, buses, modules all do):
 * - opening needs the DAC check (root passes), then kernfs_fop_open()'s own check on the mode
 *   bits alone: opening for reading a file with no read bit, or for writing one with no write
 *   bit, is EACCES even for root;
 * - a read calls show() once per open (through seq_file) and hands the text out from the file
 *   position; a read at the end returns 0; pread or lseek elsewhere regenerates. An attribute
 *   without show() reads as EIO (dev_attr_show() and friends); show() text is cut at 4095 bytes;
 * - a write passes the written bytes (at most PAGE_SIZE) to store() as text, whatever the file
 *   position, and returns the count; an empty write returns 0 without calling store(); an
 *   attribute without store() is EIO;
 * - once the attribute is removed, reads and writes of files still open fail with ENODEV;
 * - poll reports POLLERR|POLLPRI after sysfs_notify() until the file is read again.
 * stat(2) shows attributes as 4096-byte regular files, directories with 2 + subdirectories
 * links, everything owned by root; sysfs is the anonymous device 0:21 here.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import { copyFromUser } from "../uaccess.js";
import {
  DEFAULT_POLLMASK,
  type File,
  type FileOperations,
  FMODE_READ,
  FMODE_WRITE,
  type Inode,
  POLLERR,
  POLLPRI,
} from "./file.js";
import { Dentry, genericReadDir, type InodeOperations, KInode, SuperBlock } from "./inode.js";
import { MKDEV } from "./kdev-t.js";
import { type KernfsNode, KernfsRoot } from "./kernfs.js";
import { genericFileLlseek } from "./read-write.js";
import { SeqFile, seqReadToUser, textBytes } from "./seq-file.js";
import type { Sysfs, SysfsAttribute } from "./sysfs-api.js";

/** The anonymous device of the sysfs mount (0:21 on common systemd boots). */
export const SYSFS_DEV = MKDEV(0, 21);

const S_IRUGO = 0o444;
const S_IWUGO = 0o222;

/** An open attribute file (`struct kernfs_open_file`). */
interface KernfsOpenFile {
  readonly kn: KernfsNode;
  readonly seq: SeqFile;
  /** The node's event count when last shown (for poll). */
  event: number;
}

const utf8 = new TextDecoder("utf-8");

export class SysfsFs implements Sysfs {
  readonly kernfs = new KernfsRoot();
  readonly sb = new SuperBlock("sysfs", SYSFS_DEV);
  readonly root: Dentry;
  private readonly dentries = new WeakMap<KernfsNode, Dentry>();
  private readonly dirIop: InodeOperations;
  private readonly linkIop: InodeOperations;
  private readonly fileFops: FileOperations;
  private readonly dirFops: FileOperations = Object.freeze({
    read: genericReadDir,
    llseek: genericFileLlseek,
  });

  constructor() {
    this.dirIop = {
      lookup: (dir, name) => this.kernfsIopLookup(dir, name),
      iterate: (dir) => this.kernfs.sortedChildren(SysfsFs.node(dir.inode)).map((kn) => kn.name),
      getattr: (inode, stat) => {
        stat.nlink = 2 + SysfsFs.node(inode).subdirs;
      },
    };
    this.linkIop = {
      getLink: (link) => this.kernfs.getTargetPath(SysfsFs.node(link.inode)),
    };
    this.fileFops = Object.freeze({
      open: (inode: Inode, file: File) => this.kernfsFopOpen(inode, file),
      read: (file: File, current: Task, va: number, count: number, pos: { value: number }) =>
        this.read(file, current, va, count, pos),
      write: (file: File, current: Task, va: number, count: number, pos: { value: number }) =>
        this.write(file, current, va, count, pos),
      llseek: genericFileLlseek,
      poll: (file: File) => this.poll(file),
    });
    this.root = new Dentry("/", null, this.inodeFor(this.kernfs.kn));
    this.dentries.set(this.kernfs.kn, this.root);
  }

  private static node(inode: Inode): KernfsNode {
    return inode.private as KernfsNode;
  }

  /** fs/kernfs/inode.c: kernfs_init_inode() — attribute files are PAGE_SIZE bytes. */
  private inodeFor(kn: KernfsNode): KInode {
    const common = { ino: kn.ino, mode: kn.mode, private: kn };
    switch (kn.kind) {
      case "dir":
        return new KInode(this.sb, { ...common, nlink: 2, fop: this.dirFops, iop: this.dirIop });
      case "link":
        return new KInode(this.sb, { ...common, iop: this.linkIop });
      case "file":
        return new KInode(this.sb, { ...common, size: PAGE_SIZE, fop: this.fileFops });
    }
  }

  /** The dentry of `kn` under `parent`, the same object for as long as the node lives. */
  private dentryFor(kn: KernfsNode, parent: Dentry): Dentry {
    let d = this.dentries.get(kn);
    if (!d) {
      d = new Dentry(kn.name, parent, this.inodeFor(kn));
      this.dentries.set(kn, d);
    }
    return d;
  }

  /** fs/kernfs/dir.c: kernfs_iop_lookup() — no such active child is a negative dentry. */
  private kernfsIopLookup(dir: Dentry, name: string): Dentry | null {
    const kn = this.kernfs.find(SysfsFs.node(dir.inode), name);
    return kn ? this.dentryFor(kn, dir) : null;
  }

  // ---------------------------------------------------------------------------------------
  // The in-kernel API (sysfs-api.ts)

  /** "/sys/a/b" → ["a", "b"]. */
  private static split(path: string, fn: string): string[] {
    if (path !== "/sys" && !path.startsWith("/sys/")) {
      throw new SysError("EINVAL", fn, `${path} is not under /sys`);
    }
    return path
      .slice(4)
      .split("/")
      .filter((p) => p !== "");
  }

  /** The node at the components, walking literally (links are not followed). */
  private walk(parts: readonly string[]): KernfsNode | undefined {
    let kn: KernfsNode | undefined = this.kernfs.kn;
    for (const p of parts) {
      if (kn?.kind !== "dir") return undefined;
      kn = this.kernfs.find(kn, p);
    }
    return kn;
  }

  private parentNode(parts: readonly string[], fn: string): KernfsNode {
    const parent = this.walk(parts.slice(0, -1));
    if (!parent)
      throw new SysError("ENOENT", fn, `/sys/${parts.slice(0, -1).join("/")} does not exist`);
    return parent;
  }

  /**
   * lib/kobject.c: kobject_add() → sysfs_create_dir_ns(), creating missing parents as the
   * driver core does for its kobjects; EEXIST if the directory exists and `exclusive`.
   */
  mkdir(path: string, exclusive = false): void {
    const fn = "sysfs_create_dir_ns";
    const parts = SysfsFs.split(path, fn);
    let kn = this.kernfs.kn;
    parts.forEach((p, i) => {
      const next = this.kernfs.find(kn, p);
      const last = i === parts.length - 1;
      if (next && next.kind === "dir" && !(last && exclusive)) {
        kn = next;
        return;
      }
      if (next && next.kind !== "dir" && !last) {
        throw new SysError(
          "EINVAL",
          "kernfs_add_one",
          `/sys/${parts.slice(0, i + 1).join("/")} is not a directory`,
        );
      }
      kn = this.kernfs.createDir(kn, p);
    });
  }

  /** fs/sysfs/file.c: sysfs_create_file_ns() — ENOENT without the parent, EEXIST if taken. */
  createFile(path: string, attr: SysfsAttribute): void {
    const fn = "sysfs_add_file_mode_ns";
    const parts = SysfsFs.split(path, fn);
    if (parts.length === 0) throw new SysError("EEXIST", fn, "/sys itself");
    this.kernfs.createFile(this.parentNode(parts, fn), parts[parts.length - 1]!, attr);
  }

  /**
   * fs/sysfs/symlink.c: sysfs_create_link() — a link at `path` to the node at `target` (ENOENT
   * if either the target or the link's directory is missing, EEXIST if the name is taken). The
   * link reads as a path relative to its directory.
   */
  symlink(path: string, target: string): void {
    const fn = "sysfs_do_create_link_sd";
    const parts = SysfsFs.split(path, fn);
    const targetNode = this.walk(SysfsFs.split(target, fn));
    if (!targetNode || targetNode === this.kernfs.kn) {
      throw new SysError("ENOENT", fn, `link target ${target} does not exist`);
    }
    if (parts.length === 0) throw new SysError("EEXIST", fn, "/sys itself");
    this.kernfs.createLink(this.parentNode(parts, fn), parts[parts.length - 1]!, targetNode);
  }

  /** fs/kernfs/dir.c: kernfs_remove_by_name_ns() — the node and everything below; ENOENT. */
  remove(path: string): void {
    const fn = "kernfs_remove_by_name_ns";
    const parts = SysfsFs.split(path, fn);
    const kn = parts.length === 0 ? undefined : this.walk(parts);
    if (!kn) throw new SysError("ENOENT", fn, `${path} does not exist`);
    this.kernfs.remove(kn);
  }

  exists(path: string): boolean {
    try {
      return this.walk(SysfsFs.split(path, "sysfs")) !== undefined;
    } catch {
      return false;
    }
  }

  /** fs/sysfs/file.c: sysfs_notify() — wakes pollers of the attribute (POLLERR|POLLPRI). */
  notify(path: string): void {
    const kn = this.walk(SysfsFs.split(path, "sysfs_notify"));
    if (kn?.kind === "file") kn.event++;
  }

  /** fs/sysfs/file.c: sysfs_chmod_file() — new permission bits for an attribute. */
  chmod(path: string, mode: number): void {
    const fn = "sysfs_chmod_file";
    const kn = this.walk(SysfsFs.split(path, fn));
    if (!kn) throw new SysError("ENOENT", fn, `${path} does not exist`);
    kn.mode = (kn.mode & ~0o7777) | (mode & 0o7777);
    const d = this.dentries.get(kn);
    if (d) d.inode.mode = kn.mode;
  }

  // ---------------------------------------------------------------------------------------
  // Attribute file operations

  /**
   * fs/kernfs/file.c: kernfs_fop_open() — ENODEV once removed; with
   * KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK (sysfs), EACCES when the mode has no read bit for a read
   * open or no write bit for a write open, whoever opens.
   */
  private kernfsFopOpen(inode: Inode, file: File): void {
    const fn = "kernfs_fop_open";
    const kn = SysfsFs.node(inode);
    if (!kn.active) throw new SysError("ENODEV", fn, "attribute removed");
    if (file.mode & FMODE_WRITE && !(inode.mode & S_IWUGO)) {
      throw new SysError("EACCES", fn, `${kn.name} has no write permission bit`);
    }
    if (file.mode & FMODE_READ && !(inode.mode & S_IRUGO)) {
      throw new SysError("EACCES", fn, `${kn.name} has no read permission bit`);
    }
    const of: KernfsOpenFile = { kn, seq: new SeqFile(), event: kn.event };
    file.privateData = of;
  }

  private static openFile(file: File): KernfsOpenFile {
    return file.privateData as KernfsOpenFile;
  }

  /** fs/kernfs/file.c: kernfs_fop_read_iter() → seq_read_iter() → sysfs_kf_seq_show(). */
  private read(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const of = SysfsFs.openFile(file);
    const kn = of.kn;
    return seqReadToUser(
      of.seq,
      {
        start: () => {
          if (!kn.active) throw new SysError("ENODEV", "kernfs_seq_start", "attribute removed");
        },
        show: () => {
          of.event = kn.event;
          const show = kn.attr?.show;
          if (!show) throw new SysError("EIO", "dev_attr_show", `${kn.name} has no show()`);
          const bytes = textBytes(show());
          // sysfs_kf_seq_show(): a full page is "bad count", cut to PAGE_SIZE - 1.
          return bytes.length >= PAGE_SIZE ? bytes.subarray(0, PAGE_SIZE - 1) : bytes;
        },
      },
      current,
      va,
      count,
      pos,
      "seq_read_iter",
    );
  }

  /**
   * fs/kernfs/file.c: kernfs_fop_write_iter() → sysfs_kf_write() — at most PAGE_SIZE bytes,
   * copied first (EFAULT), then ENODEV if removed, 0 for an empty write, EIO without store().
   */
  private write(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const fn = "kernfs_fop_write_iter";
    const kn = SysfsFs.openFile(file).kn;
    const len = Math.min(count, PAGE_SIZE);
    const bytes = copyFromUser(current.mm, va, len, fn);
    if (!kn.active) throw new SysError("ENODEV", fn, "attribute removed");
    if (len === 0) return 0;
    const store = kn.attr?.store;
    if (!store) throw new SysError("EIO", "dev_attr_store", `${kn.name} has no store()`);
    store(utf8.decode(bytes));
    pos.value += len;
    return len;
  }

  /** fs/kernfs/file.c: kernfs_fop_poll() → kernfs_generic_poll(). */
  private poll(file: File): number {
    const of = SysfsFs.openFile(file);
    if (!of.kn.active || of.event !== of.kn.event) return DEFAULT_POLLMASK | POLLERR | POLLPRI;
    return DEFAULT_POLLMASK;
  }
}
