/**
 * Path walk and permission checks (fs/namei.c): getname()'s length rules, link_path_walk() over
 * the components with a search-permission check before each, "." and ".." (across mount
 * points), symlinks (absolute, relative and procfs "magic" jumps, at most MAXSYMLINKS = 40 per
 * walk), and generic_permission()'s DAC check with its capability overrides.
 *
 * The walk's state mirrors `struct nameidata`: the directory reached so far (`path`), the last
 * component and its type, and the symlink count. Relative paths start at "/": the model's tasks
 * have no working directory. The credentials used are the task's effective ids (its fsuid and
 * fsgid, which the model does not separate) and its effective capabilities.
 *
 * Caveat: no supplementary groups, ACLs, idmapped mounts, LSMs, read-only or nodev mounts, and
 * no protected_symlinks (no directory of the model is sticky and world-writable).
 */

import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import { PATH_MAX } from "../uaccess.js";
import { S_IFMT } from "./file.js";
import { canLookup, type Dentry, isDir, isLnk, type KInode } from "./inode.js";

/** include/linux/fs.h MAY_* permission masks. */
export const MAY_EXEC = 0x1;
export const MAY_WRITE = 0x2;
export const MAY_READ = 0x4;
export const MAY_APPEND = 0x8;
export const MAY_ACCESS = 0x10;
export const MAY_OPEN = 0x20;

/** include/uapi/linux/limits.h NAME_MAX. */
export const NAME_MAX = 255;
/** include/linux/namei.h MAXSYMLINKS: symlinks one walk may follow. */
export const MAXSYMLINKS = 40;

/** include/linux/namei.h LOOKUP_* flags the model uses. */
export const LOOKUP_FOLLOW = 0x1;
export const LOOKUP_DIRECTORY = 0x2;

/** The type of the last component (include/linux/namei.h LAST_*). */
export type LastType = "norm" | "root" | "dot" | "dotdot";

const S_IXUGO = 0o111;
const utf8 = new TextEncoder();

/** Byte length of a name as the kernel counts it (UTF-8). */
export function nameBytes(name: string): number {
  return utf8.encode(name).length;
}

/**
 * fs/namei.c: getname_flags() — the empty path is ENOENT and a path of PATH_MAX bytes or more
 * (the NUL included, it would not fit) is ENAMETOOLONG.
 */
export function getname(path: string): string {
  const fn = "getname_flags";
  if (path.length === 0) throw new SysError("ENOENT", fn, "empty path");
  if (nameBytes(path) >= PATH_MAX) {
    throw new SysError("ENAMETOOLONG", fn, `path of ${nameBytes(path)} bytes`);
  }
  return path;
}

/** kernel/groups.c: in_group_p() — only the effective gid (no supplementary groups). */
function inGroup(current: Task, gid: number): boolean {
  return current.egid === gid;
}

/** fs/namei.c: acl_permission_check() — owner, group or other bits, no ACLs. */
function aclPermissionCheck(inode: KInode, mask: number, current: Task): boolean {
  let mode = inode.mode;
  const want = mask & 7;
  if (current.euid === inode.uid) return (want & ~(mode >> 6)) === 0;
  // Only look at the group when its bits differ from other's for what is asked.
  if (want & (mode ^ (mode >> 3)) && inGroup(current, inode.gid)) mode >>= 3;
  return (want & ~mode) === 0;
}

/**
 * fs/namei.c: generic_permission() — DAC, then the capability overrides: CAP_DAC_READ_SEARCH
 * for reading and searching directories and reading files, CAP_DAC_OVERRIDE for everything
 * except executing a file with no execute bit at all.
 */
export function genericPermission(inode: KInode, mask: number, current: Task): boolean {
  if (aclPermissionCheck(inode, mask, current)) return true;
  if (isDir(inode)) {
    if (!(mask & MAY_WRITE) && current.capable("CAP_DAC_READ_SEARCH")) return true;
    return current.capable("CAP_DAC_OVERRIDE");
  }
  const m = mask & (MAY_READ | MAY_WRITE | MAY_EXEC);
  if (m === MAY_READ && current.capable("CAP_DAC_READ_SEARCH")) return true;
  if (!(m & MAY_EXEC) || inode.mode & S_IXUGO) return current.capable("CAP_DAC_OVERRIDE");
  return false;
}

/**
 * fs/namei.c: inode_permission() — the filesystem's own `permission` or generic_permission();
 * EACCES when refused. (No read-only mounts or immutable inodes exist in the model.)
 */
export function inodePermission(inode: KInode, mask: number, current: Task): void {
  if (inode.iop.permission) {
    inode.iop.permission(inode, mask, current);
    return;
  }
  if (!genericPermission(inode, mask, current)) {
    throw new SysError("EACCES", "generic_permission", describeDenial(inode, mask, current));
  }
}

function describeDenial(inode: KInode, mask: number, current: Task): string {
  const want = `${mask & MAY_READ ? "r" : ""}${mask & MAY_WRITE ? "w" : ""}${mask & MAY_EXEC ? "x" : ""}`;
  const mode = (inode.mode & ~S_IFMT).toString(8).padStart(4, "0");
  return `${want || "-"} on mode ${mode} uid ${inode.uid} for euid ${current.euid}`;
}

/** fs/inode.c: inode_owner_or_capable() — the owner, or CAP_FOWNER. */
export function inodeOwnerOrCapable(inode: KInode, current: Task): boolean {
  return current.euid === inode.uid || current.capable("CAP_FOWNER");
}

/** `struct nameidata`: where a walk stands. */
export interface Nameidata {
  /** The directory reached (or, after the last step, the result). */
  path: Dentry;
  /** The root "/" of the walk. */
  readonly root: Dentry;
  /** LOOKUP_* flags; lookup_last() adds FOLLOW|DIRECTORY for a trailing slash. */
  flags: number;
  /** The last component seen and whether slashes followed it. */
  last: string;
  lastType: LastType;
  lastTrailingSlash: boolean;
  /** Symlinks followed so far (nd->total_link_count). */
  totalLinkCount: number;
  readonly current: Task;
}

/** fs/namei.c: path_init() — absolute paths start at the root, relative ones at "/" too. */
export function pathInit(root: Dentry, current: Task, flags: number): Nameidata {
  return {
    path: root,
    root,
    flags,
    last: "",
    lastType: "root",
    lastTrailingSlash: false,
    totalLinkCount: 0,
    current,
  };
}

function stripSlashes(s: string): string {
  let i = 0;
  while (s.charCodeAt(i) === 0x2f) i++;
  return i === 0 ? s : s.slice(i);
}

/** fs/namei.c: may_lookup() — search (execute) permission on the directory being walked. */
function mayLookup(nd: Nameidata): void {
  inodePermission(nd.path.inode, MAY_EXEC, nd.current);
}

/**
 * fs/namei.c: link_path_walk() — walks every component of `name` but the last, leaving the
 * last in `nd.last`. Each component needs search permission on the directory holding it; a
 * component that is not the last must end up a directory (ENOTDIR). Symlinks met on the way
 * are followed, their bodies walked in place.
 */
export function linkPathWalk(nd: Nameidata, name: string): void {
  nd.lastType = "root";
  nd.lastTrailingSlash = false;
  name = stripSlashes(name);
  if (name === "") return;
  // Remainders of the outer path while a symlink body is being walked (nd->stack[].name).
  const stack: string[] = [];
  for (;;) {
    mayLookup(nd);
    const slash = name.indexOf("/");
    const comp = slash < 0 ? name : name.slice(0, slash);
    nd.last = comp;
    nd.lastType = comp === "." ? "dot" : comp === ".." ? "dotdot" : "norm";
    const rest = slash < 0 ? "" : stripSlashes(name.slice(slash));
    let link: string | null;
    if (rest === "") {
      nd.lastTrailingSlash = slash >= 0;
      // The last component of the path itself is the caller's (lookup_last, open_last_lookups).
      if (stack.length === 0) return;
      // The last component of a nested symlink body: always followed.
      name = stack.pop()!;
      link = walkComponent(nd, 0);
    } else {
      link = walkComponent(nd, WALK_MORE);
      name = rest;
    }
    if (link !== null) {
      stack.push(name);
      name = link;
      continue;
    }
    if (!canLookup(nd.path)) {
      throw new SysError("ENOTDIR", "link_path_walk", `${nd.last} is not a directory`);
    }
  }
}

/** fs/namei.c walk_component() flags. */
export const WALK_TRAILING = 1;
export const WALK_MORE = 2;
export const WALK_NOFOLLOW = 4;

/**
 * fs/namei.c: walk_component() — one step: "." and ".." are handled in place, a name is looked
 * up in the directory. Returns a symlink body still to walk, or null.
 */
export function walkComponent(nd: Nameidata, flags: number): string | null {
  if (nd.lastType !== "norm") {
    handleDots(nd);
    return null;
  }
  const child = lookupChild(nd.path, nd.last, nd.current);
  return stepInto(nd, flags, child);
}

/** The directory's `lookup`, with a negative result as null. */
export function lookupChild(dir: Dentry, name: string, current: Task): Dentry | null {
  const lookup = dir.inode.iop.lookup;
  if (!lookup) throw new SysError("ENOTDIR", "lookup_slow", `${dir.name} is not a directory`);
  return lookup.call(dir.inode.iop, dir, name, current);
}

/** fs/namei.c: handle_mounts()/traverse_mounts() — the root of whatever is mounted here. */
export function followMounts(dentry: Dentry): Dentry {
  let d = dentry;
  while (d.mounted !== null) d = d.mounted;
  return d;
}

/**
 * fs/namei.c: step_into() — moves onto `dentry` (ENOENT if negative), crossing mounts; a
 * symlink is followed unless this is the last component without LOOKUP_FOLLOW (or NOFOLLOW).
 */
export function stepInto(nd: Nameidata, flags: number, dentry: Dentry | null): string | null {
  if (dentry === null) throw new SysError("ENOENT", "step_into", `${nd.last} does not exist`);
  const d = followMounts(dentry);
  if (
    !isLnk(d.inode) ||
    (flags & WALK_TRAILING && !(nd.flags & LOOKUP_FOLLOW)) ||
    flags & WALK_NOFOLLOW
  ) {
    nd.path = d;
    return null;
  }
  return pickLink(nd, d);
}

/**
 * fs/namei.c: pick_link() — counts the link (the 41st is ELOOP, reserve_stack()), asks the
 * filesystem for its body: an absolute body restarts at the root, a relative one continues in
 * the link's directory, a dentry is a jump (procfs fd links).
 */
function pickLink(nd: Nameidata, link: Dentry): string | null {
  if (nd.totalLinkCount++ >= MAXSYMLINKS) {
    throw new SysError("ELOOP", "reserve_stack", `more than ${MAXSYMLINKS} symbolic links`);
  }
  const getLink = link.inode.iop.getLink;
  if (!getLink) throw new SysError("EINVAL", "pick_link", "symlink without get_link");
  const res = getLink.call(link.inode.iop, link, nd.current);
  if (typeof res !== "string") {
    // nd_jump_link(): the walk continues from the target itself.
    nd.path = res;
    return null;
  }
  let body = res;
  if (body.startsWith("/")) {
    nd.path = nd.root;
    body = stripSlashes(body);
  }
  return body === "" ? null : body;
}

/** fs/namei.c: handle_dots() / follow_dotdot() — ".." stops at the root and crosses mounts up. */
function handleDots(nd: Nameidata): void {
  if (nd.lastType !== "dotdot") return;
  if (nd.path === nd.root) return;
  let d = nd.path;
  while (d.parent === null && d.mountpoint !== null) d = d.mountpoint;
  const parent = d.parent ?? d;
  nd.path = followMounts(parent);
}

/**
 * fs/namei.c: lookup_last() — the last component; a trailing slash makes it follow symlinks and
 * require a directory.
 */
export function lookupLast(nd: Nameidata): string | null {
  if (nd.lastType === "norm" && nd.lastTrailingSlash) nd.flags |= LOOKUP_FOLLOW | LOOKUP_DIRECTORY;
  return walkComponent(nd, WALK_TRAILING);
}

/**
 * fs/namei.c: path_lookupat() — the dentry `name` leads to. `flags` are LOOKUP_FOLLOW (follow
 * a final symlink) and LOOKUP_DIRECTORY (the result must be a directory: ENOTDIR).
 */
export function pathLookupat(root: Dentry, name: string, current: Task, flags: number): Dentry {
  const nd = pathInit(root, current, flags);
  let s: string | null = name;
  while (s !== null) {
    linkPathWalk(nd, s);
    s = lookupLast(nd);
  }
  if (nd.flags & LOOKUP_DIRECTORY && !canLookup(nd.path)) {
    throw new SysError("ENOTDIR", "path_lookupat", `${nd.last} is not a directory`);
  }
  return nd.path;
}
