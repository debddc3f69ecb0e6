/**
 * drivers/base/devtmpfs.c: the kernel-maintained /dev. When a device with a device number is
 * added (device_add() → devtmpfs_create_node()), a node appears at its name — "vfio/vfio",
 * "kmsg" — with the mode the driver asked for (0600 when it asked for none), owned by the
 * uid/gid it asked for (root by default); missing parent directories are created 0755. When
 * the device goes (devtmpfs_delete_node()), the node is removed only if it is still the one
 * devtmpfs made for that device number, and the parent directories devtmpfs created are
 * removed as they become empty.
 *
 * The tree is a tmpfs (CONFIG_TMPFS), so it lists newest first and its directories grow 20
 * bytes per entry; root may also create regular files in it with open(O_CREAT), as on Linux.
 */

import { SysError } from "../errno.js";
import { type FileOperations, S_IFBLK, S_IFCHR, S_IFMT } from "./file.js";
import { type Dentry, isBlk, isChr, isDir } from "./inode.js";
import { MAJOR, MINOR, MKDEV } from "./kdev-t.js";
import { Tmpfs } from "./tmpfs.js";

/** The anonymous device of devtmpfs, mounted first at boot: 0:5 on common systems. */
export const DEVTMPFS_DEV = MKDEV(0, 5);

export interface DevtmpfsNodeRequest {
  /** The node's name under /dev: "vfio/vfio" (a leading "/dev/" is accepted too). */
  readonly nodename: string;
  /** Kernel dev_t (MKDEV(major, minor)). */
  readonly devt: number;
  /** Permission bits; 0 or absent means 0600 (devtmpfs_create_node()). */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** A block device node instead of a char device node. */
  readonly block?: boolean;
}

export class Devtmpfs {
  readonly fs: Tmpfs;

  constructor(defChrFops: FileOperations) {
    this.fs = new Tmpfs("devtmpfs", DEVTMPFS_DEV, { rootMode: 0o755, defChrFops });
  }

  get root(): Dentry {
    return this.fs.root;
  }

  private static components(nodename: string): string[] {
    const name = nodename.startsWith("/dev/") ? nodename.slice(5) : nodename;
    const parts = name.split("/").filter((p) => p !== "");
    if (parts.length === 0) throw new SysError("EINVAL", "devtmpfs_create_node", "empty name");
    return parts;
  }

  /** The directory holding the last component, or undefined if a parent is missing. */
  private parentOf(parts: readonly string[], fn: string): Dentry | undefined {
    let dir = this.fs.root;
    for (const p of parts.slice(0, -1)) {
      const next = this.fs.child(dir, p);
      if (!next) return undefined;
      if (!isDir(next.inode)) throw new SysError("ENOTDIR", fn, `${p} is not a directory`);
      dir = next;
    }
    return dir;
  }

  /** drivers/base/devtmpfs.c: create_path() — the missing parents, 0755, marked as ours. */
  private createPath(parts: readonly string[]): Dentry {
    let dir = this.fs.root;
    for (const p of parts.slice(0, -1)) {
      let next = this.fs.child(dir, p);
      if (!next) {
        next = this.fs.mkdir(dir, p, 0o755, 0, 0);
        this.fs.markKernelCreated(next.inode);
      } else if (!isDir(next.inode)) {
        throw new SysError("ENOTDIR", "dev_mkdir", `${p} is not a directory`);
      }
      dir = next;
    }
    return dir;
  }

  /**
   * drivers/base/devtmpfs.c: devtmpfs_create_node() → handle_create() — the node, its parents
   * as needed. EEXIST if something already has the name (device_add() ignores this error;
   * callers may too).
   */
  devtmpfsCreateNode(req: DevtmpfsNodeRequest): Dentry {
    const fn = "handle_create";
    const parts = Devtmpfs.components(req.nodename);
    const name = parts[parts.length - 1]!;
    const dir = this.parentOf(parts, fn) ?? this.createPath(parts);
    if (this.fs.child(dir, name)) throw new SysError("EEXIST", fn, `/dev/${parts.join("/")}`);
    const perm = (req.mode ?? 0) & ~S_IFMT || 0o600;
    const mode = (req.block ? S_IFBLK : S_IFCHR) | perm;
    const node = this.fs.mknod(dir, name, mode, req.devt, req.uid ?? 0, req.gid ?? 0);
    this.fs.markKernelCreated(node.inode);
    return node;
  }

  /**
   * drivers/base/devtmpfs.c: devtmpfs_delete_node() → handle_remove() — ENOENT unless the node
   * exists and is the one devtmpfs made for `devt` (dev_mynode()); then the empty parent
   * directories devtmpfs created go too (delete_path()).
   */
  devtmpfsDeleteNode(req: Pick<DevtmpfsNodeRequest, "nodename" | "devt" | "block">): void {
    const fn = "handle_remove";
    const parts = Devtmpfs.components(req.nodename);
    const name = parts[parts.length - 1]!;
    const dir = this.parentOf(parts, fn);
    const node = dir ? this.fs.child(dir, name) : undefined;
    if (!dir || !node) throw new SysError("ENOENT", fn, `/dev/${parts.join("/")}`);
    const inode = node.inode;
    const typeOk = req.block ? isBlk(inode) : isChr(inode);
    if (!this.fs.isKernelCreated(inode) || !typeOk || inode.rdev !== req.devt) {
      throw new SysError(
        "ENOENT",
        fn,
        `/dev/${parts.join("/")} is not devtmpfs's node for ${MAJOR(req.devt)}:${MINOR(req.devt)}`,
      );
    }
    this.fs.unlink(dir, name);
    this.deletePath(parts);
  }

  /** drivers/base/devtmpfs.c: delete_path() — removes our empty parents, deepest first. */
  private deletePath(parts: readonly string[]): void {
    for (let depth = parts.length - 1; depth > 0; depth--) {
      const dir = this.parentOf(parts.slice(0, depth), "delete_path");
      const name = parts[depth - 1]!;
      const sub = dir ? this.fs.child(dir, name) : undefined;
      if (!dir || !sub || !this.fs.isKernelCreated(sub.inode) || !this.fs.isEmptyDir(sub)) break;
      this.fs.rmdir(dir, name);
    }
  }

  /** Whether /dev/<nodename> exists. */
  exists(nodename: string): boolean {
    const parts = Devtmpfs.components(nodename);
    try {
      const dir = this.parentOf(parts, "devtmpfs");
      return dir !== undefined && this.fs.child(dir, parts[parts.length - 1]!) !== undefined;
    } catch {
      return false;
    }
  }
}
