/**
 * fs/kernfs: the node tree behind sysfs. Each directory keeps its children in a red-black tree
 * ordered by (name hash, name) — kernfs_name_hash() and kernfs_name_compare() — and getdents64
 * walks that tree, so a sysfs listing comes out in hash order, not creation or name order.
 * Inode numbers come from a cyclic idr: 1 for the root, then in creation order, never reused.
 * Removing a node deactivates its whole subtree: lookups stop finding it and files already
 * open on it fail with ENODEV.
 *
 * Symlinks point at nodes, not at paths: their text is computed when read
 * (kernfs_get_target_path()), relative to the link's directory ("../../devices/…").
 *
 * Caveat: no namespaces (ns tags), no bin attributes, no kernfs_ops->open/release hooks.
 */

import { SysError } from "../errno.js";
import { S_IFDIR, S_IFLNK, S_IFREG } from "./file.js";
import type { SysfsAttribute } from "./sysfs-api.js";

export type KernfsKind = "dir" | "file" | "link";

const utf8 = new TextEncoder();
const MASK64 = (1n << 64n) - 1n;
/** include/linux/hash.h GOLDEN_RATIO_64. */
const GOLDEN_RATIO_64 = 0x61c8864680b583ebn;
const INT_MAX = 0x7fffffff;
const PATH_MAX = 4096;

/**
 * fs/kernfs/dir.c: kernfs_name_hash() — the stringhash.h partial_name_hash() over the name's
 * bytes in 64-bit arithmetic (arm64's unsigned long), end_name_hash() = hash_64(h, 32), then
 * 31 bits with 0, 1 and INT_MAX reserved for "." , ".." and the end of the directory.
 */
export function kernfsNameHash(name: string): number {
  let hash = 0n;
  for (const c of utf8.encode(name)) {
    const ch = BigInt(c);
    hash = ((hash + (ch << 4n) + (ch >> 4n)) * 11n) & MASK64;
  }
  let h = Number(((hash * GOLDEN_RATIO_64) & MASK64) >> 32n) & INT_MAX;
  if (h < 2) h += 2;
  if (h >= INT_MAX) h = INT_MAX - 1;
  return h;
}

/** strcmp() on the names' bytes. */
function compareBytes(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** fs/kernfs/dir.c: kernfs_name_compare() — by hash, then by name. */
export function kernfsNameCompare(a: KernfsNode, b: KernfsNode): number {
  if (a.hash !== b.hash) return a.hash - b.hash;
  return compareBytes(a.name, b.name);
}

/** `struct kernfs_node`. */
export class KernfsNode {
  readonly children = new Map<string, KernfsNode>();
  readonly hash: number;
  /** False once removed (kernfs_active()). */
  active = true;
  /** Child directories (kn->dir.subdirs), for the directory's link count. */
  subdirs = 0;
  /** kernfs_open_node->event, bumped by sysfs_notify() for poll(). */
  event = 1;

  constructor(
    readonly name: string,
    public parent: KernfsNode | null,
    readonly kind: KernfsKind,
    /** File type and permission bits. */
    public mode: number,
    readonly ino: number,
    /** For a file: the sysfs attribute (kn->priv). */
    readonly attr: SysfsAttribute | null = null,
    /** For a link: the node it points at (kn->symlink.target_kn). */
    readonly target: KernfsNode | null = null,
  ) {
    this.hash = kernfsNameHash(name);
  }
}

/** `struct kernfs_root`. */
export class KernfsRoot {
  private nextIno = 1;
  readonly kn: KernfsNode;

  /** fs/kernfs/dir.c: kernfs_create_root() — the root directory, mode 0555. */
  constructor() {
    this.kn = new KernfsNode("", null, "dir", S_IFDIR | 0o555, this.nextIno++);
  }

  /**
   * fs/kernfs/dir.c: kernfs_add_one() — EINVAL if the parent is not a directory, ENOENT if it
   * was removed, EEXIST if the name is taken.
   */
  private addOne(
    parent: KernfsNode,
    name: string,
    kind: KernfsKind,
    mode: number,
    attr: SysfsAttribute | null,
    target: KernfsNode | null,
  ): KernfsNode {
    const fn = "kernfs_add_one";
    if (parent.kind !== "dir")
      throw new SysError("EINVAL", fn, `${parent.name} is not a directory`);
    if (!parent.active) throw new SysError("ENOENT", fn, `${parent.name} was removed`);
    if (parent.children.has(name)) {
      throw new SysError("EEXIST", "kernfs_link_sibling", `${this.path(parent)}/${name} exists`);
    }
    const kn = new KernfsNode(name, parent, kind, mode, this.nextIno++, attr, target);
    parent.children.set(name, kn);
    if (kind === "dir") parent.subdirs++;
    return kn;
  }

  /** fs/kernfs/dir.c: kernfs_create_dir_ns(). */
  createDir(parent: KernfsNode, name: string, mode = 0o755): KernfsNode {
    return this.addOne(parent, name, "dir", S_IFDIR | (mode & 0o7777), null, null);
  }

  /** fs/kernfs/file.c: __kernfs_create_file() — permission bits only, S_IFREG added. */
  createFile(parent: KernfsNode, name: string, attr: SysfsAttribute): KernfsNode {
    return this.addOne(parent, name, "file", S_IFREG | (attr.mode & 0o777), attr, null);
  }

  /** fs/kernfs/symlink.c: kernfs_create_link() — mode 0777. */
  createLink(parent: KernfsNode, name: string, target: KernfsNode): KernfsNode {
    return this.addOne(parent, name, "link", S_IFLNK | 0o777, null, target);
  }

  /** fs/kernfs/dir.c: kernfs_find_ns() — an active child. */
  find(parent: KernfsNode, name: string): KernfsNode | undefined {
    const kn = parent.children.get(name);
    return kn?.active ? kn : undefined;
  }

  /** The active children in rbtree order: what kernfs_fop_readdir() emits after "." and "..". */
  sortedChildren(parent: KernfsNode): KernfsNode[] {
    return [...parent.children.values()].filter((kn) => kn.active).sort(kernfsNameCompare);
  }

  /** fs/kernfs/dir.c: __kernfs_remove() — deactivates the subtree and unlinks it. */
  remove(kn: KernfsNode): void {
    const deactivate = (n: KernfsNode): void => {
      n.active = false;
      for (const c of n.children.values()) deactivate(c);
    };
    deactivate(kn);
    const parent = kn.parent;
    if (parent && parent.children.get(kn.name) === kn) {
      parent.children.delete(kn.name);
      if (kn.kind === "dir") parent.subdirs--;
    }
  }

  /** The node's path from the root ("/bus/platform"). */
  path(kn: KernfsNode): string {
    const parts: string[] = [];
    for (let n: KernfsNode | null = kn; n?.parent; n = n.parent) parts.push(n.name);
    return `/${parts.reverse().join("/")}`;
  }

  /**
   * fs/kernfs/symlink.c: kernfs_get_target_path() — "../" up from the link's directory to the
   * first ancestor shared with the target, then down to it. EINVAL for a link to that ancestor
   * itself, ENAMETOOLONG past PATH_MAX.
   */
  getTargetPath(link: KernfsNode): string {
    const fn = "kernfs_get_target_path";
    const target = link.target!;
    let base = link.parent!;
    let ups = "";
    while (base.parent) {
      let kn = target.parent;
      while (kn?.parent && base !== kn) kn = kn.parent;
      if (base === kn) break;
      ups += "../";
      base = base.parent;
    }
    const names: string[] = [];
    for (let kn: KernfsNode | null = target; kn?.parent && kn !== base; kn = kn.parent) {
      names.push(kn.name);
    }
    const down = names.reverse().join("/");
    if (names.length === 0) throw new SysError("EINVAL", fn, "link to its own ancestor");
    if (ups.length + utf8.encode(down).length > PATH_MAX) throw new SysError("ENAMETOOLONG", fn);
    return ups + down;
  }
}
