/**
 * fs/proc/proc_sysctl.c: /proc/sys, the sysctl tables, and kernel/sysctl.c's number handlers.
 *
 * Permissions are sysctl's own (test_perm()): root is held to the owner bits and everyone else
 * to the "other" bits (or the group bits for members of group 0) — there is no DAC override,
 * so root cannot open a 0444 sysctl for writing — and no sysctl file is executable. The
 * directories are 0555 with a link count of 1, files are 0 bytes.
 *
 * Reads and writes follow proc_sys_call_handler() and the numeric handlers with
 * sysctl_writes_strict = 1 (the default): a read at a non-zero position returns 0 (the value
 * is only shown from the start), a write at a non-zero position is ignored and returns 0.
 *
 * `/proc/sys/kernel/tainted` is proc_taint(): the taint mask in decimal; writing needs
 * CAP_SYS_ADMIN (EPERM) and can only add taint bits.
 */

import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import { copyFromUser, copyToUser } from "../uaccess.js";
import {
  DEFAULT_POLLMASK,
  type File,
  type FileOperations,
  type Inode,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
} from "./file.js";
import {
  Dentry,
  genericReadDir,
  type InodeOperations,
  isReg,
  KInode,
  type SuperBlock,
} from "./inode.js";
import { MAY_EXEC, MAY_READ, MAY_WRITE } from "./namei.js";
import { defaultLlseek, genericFileLlseek } from "./read-write.js";

/** `struct ctl_table` with its proc_handler split into a read and a write side. */
export interface CtlTable {
  /** Permission bits (0644, 0444 …). */
  readonly mode: number;
  /** The value as text, newline included ("0\n"). */
  read(current: Task): string;
  /**
   * Parses `text` (the bytes written) at file position `pos`; returns how many bytes were
   * consumed (the write's result) or throws. Absent: writes are EINVAL.
   */
  write?(text: string, pos: number, current: Task): number;
}

interface SysctlEntry {
  readonly name: string;
  readonly parent: SysctlEntry | null;
  /** Directories have children, files a table. */
  readonly children: Map<string, SysctlEntry> | null;
  readonly table: CtlTable | null;
  inode?: KInode;
  dentry?: Dentry;
}

const utf8d = new TextDecoder("utf-8");
const utf8e = new TextEncoder();

/** fs/proc/proc_sysctl.c: test_perm() — owner bits for root, group bits for gid 0, else other. */
function testPerm(mode: number, op: number, current: Task): boolean {
  if (current.euid === 0) mode >>= 6;
  else if (current.egid === 0) mode >>= 3;
  return (op & ~mode & (MAY_READ | MAY_WRITE | MAY_EXEC)) === 0;
}

const SPACES = " \t\n\v\f\r";

/**
 * kernel/sysctl.c: __do_proc_doulongvec_minmax() for one unsigned long, write side: skips
 * blanks, takes a number in C's base-0 notation (0x…, 0…), which must end at a blank or the
 * end (proc_get_long()); a sign or no digits is EINVAL. Returns the value and the bytes
 * consumed (trailing blanks included, anything after the first number not).
 */
export function procDoulongvecWrite(text: string): { value: bigint; consumed: number } {
  const fn = "proc_get_long";
  let i = 0;
  while (i < text.length && SPACES.includes(text[i]!)) i++;
  const start = i;
  if (text[i] === "-") throw new SysError("EINVAL", fn, "negative value");
  let base = 10;
  if (
    text[i] === "0" &&
    (text[i + 1] === "x" || text[i + 1] === "X") &&
    /[0-9a-fA-F]/.test(text[i + 2] ?? "")
  ) {
    base = 16;
    i += 2;
  } else if (text[i] === "0") {
    base = 8;
  }
  const digits = base === 16 ? /[0-9a-fA-F]/ : base === 8 ? /[0-7]/ : /[0-9]/;
  const first = i;
  while (i < text.length && digits.test(text[i]!)) i++;
  if (i === first && base !== 8)
    throw new SysError("EINVAL", fn, `no number in "${text.slice(start, start + 16)}"`);
  // proc_get_long(): TMPBUFLEN - 1 = 21 characters may not all be digits.
  if (i - start >= 21) throw new SysError("EINVAL", fn, "number too long");
  const body = text.slice(first, i);
  const value =
    body === "" ? 0n : BigInt(base === 16 ? `0x${body}` : base === 8 ? `0o${body}` : body);
  if (value >= 1n << 64n) throw new SysError("EINVAL", fn, "number out of range");
  if (i < text.length && !" \t\n".includes(text[i]!)) {
    throw new SysError("EINVAL", fn, `junk after the number: "${text[i]}"`);
  }
  while (i < text.length && SPACES.includes(text[i]!)) i++;
  return { value, consumed: i };
}

/** kernel/panic.c: proc_taint(), given the taint mask and a way to add taint bits. */
export function taintCtlTable(
  tainted: () => bigint,
  addTaint: ((mask: bigint, current: Task) => void) | undefined,
): CtlTable {
  return {
    mode: 0o644,
    read: () => `${tainted()}\n`,
    write(text, pos, current) {
      if (!current.capable("CAP_SYS_ADMIN")) throw new SysError("EPERM", "proc_taint");
      // sysctl_writes_strict: a write past the start is ignored; an empty one does nothing.
      if (pos !== 0 || text.length === 0) return 0;
      const { value, consumed } = procDoulongvecWrite(text);
      addTaint?.(value, current);
      return consumed;
    },
  };
}

export class ProcSysctl {
  private readonly rootEntry: SysctlEntry = {
    name: "sys",
    parent: null,
    children: new Map(),
    table: null,
  };
  private readonly dirIop: InodeOperations;
  private readonly fileIop: InodeOperations;
  private readonly dirFops: FileOperations = Object.freeze({
    read: genericReadDir,
    llseek: genericFileLlseek,
  });
  private readonly fileFops: FileOperations;

  constructor(
    private readonly sb: SuperBlock,
    private readonly allocIno: () => number,
  ) {
    const permission = (inode: KInode, mask: number, current: Task) =>
      this.procSysPermission(inode, mask, current);
    this.dirIop = {
      lookup: (dir, name) => this.lookup(dir, name),
      iterate: (dir) => this.iterate(dir),
      permission,
    };
    this.fileIop = {
      permission,
      getattr: (inode, stat) => {
        const table = ProcSysctl.entry(inode).table;
        if (table) stat.mode = (stat.mode & S_IFMT) | table.mode;
      },
    };
    this.fileFops = Object.freeze({
      read: (file: File, current: Task, va: number, count: number, pos: { value: number }) =>
        this.read(file, current, va, count, pos),
      write: (file: File, current: Task, va: number, count: number, pos: { value: number }) =>
        this.write(file, current, va, count, pos),
      llseek: defaultLlseek,
      poll: () => DEFAULT_POLLMASK,
    });
  }

  /** Makes `dir` (the /proc/sys PDE's dentry) the root of the sysctl tree. */
  attach(sysDentry: Dentry): void {
    this.rootEntry.inode = sysDentry.inode;
    this.rootEntry.dentry = sysDentry;
    sysDentry.inode.iop = this.dirIop;
    sysDentry.inode.private = this.rootEntry;
    sysDentry.inode.fop = this.dirFops;
    // proc_sys_init(): proc_sys_root->nlink = 0, so the inode keeps a single link.
    sysDentry.inode.nlink = 1;
  }

  private static entry(inode: Inode): SysctlEntry {
    return inode.private as SysctlEntry;
  }

  /**
   * fs/proc/proc_sysctl.c: __register_sysctl_table() — `path` below /proc/sys
   * ("kernel/tainted"); EEXIST if the name is taken.
   */
  register(path: string, table: CtlTable): void {
    const fn = "__register_sysctl_table";
    const parts = path.split("/").filter((p) => p !== "");
    if (parts.length === 0) throw new SysError("EINVAL", fn, "empty sysctl path");
    let dir = this.rootEntry;
    for (const p of parts.slice(0, -1)) {
      let next = dir.children!.get(p);
      if (!next) {
        next = { name: p, parent: dir, children: new Map(), table: null };
        dir.children!.set(p, next);
      } else if (!next.children) {
        throw new SysError("EEXIST", fn, `sysctl ${p} is a file`);
      }
      dir = next;
    }
    const name = parts[parts.length - 1]!;
    if (dir.children!.has(name))
      throw new SysError("EEXIST", fn, `sysctl duplicate entry: /${parts.join("/")}`);
    dir.children!.set(name, { name, parent: dir, children: null, table });
  }

  /** fs/proc/proc_sysctl.c: unregister_sysctl_table() — empty directories go too. */
  unregister(path: string): void {
    const parts = path.split("/").filter((p) => p !== "");
    let e: SysctlEntry | undefined = this.rootEntry;
    for (const p of parts) e = e?.children?.get(p);
    if (!e?.parent) throw new SysError("ENOENT", "unregister_sysctl_table", `/proc/sys/${path}`);
    for (let x: SysctlEntry = e; x.parent; x = x.parent) {
      if (x.children && x.children.size > 0) break;
      x.parent.children!.delete(x.name);
    }
  }

  /** fs/proc/proc_sysctl.c: proc_sys_make_inode() — get_next_ino() numbers. */
  private dentryOf(e: SysctlEntry, parent: Dentry): Dentry {
    if (!e.dentry) {
      const inode = new KInode(this.sb, {
        ino: this.allocIno(),
        mode: e.children ? S_IFDIR | 0o555 : S_IFREG | e.table!.mode,
        fop: e.children ? this.dirFops : this.fileFops,
        iop: e.children ? this.dirIop : this.fileIop,
        private: e,
      });
      e.inode = inode;
      e.dentry = new Dentry(e.name, parent, inode);
    }
    return e.dentry;
  }

  /** fs/proc/proc_sysctl.c: proc_sys_lookup(). */
  private lookup(dir: Dentry, name: string): Dentry | null {
    const e = ProcSysctl.entry(dir.inode).children?.get(name);
    return e ? this.dentryOf(e, dir) : null;
  }

  /** fs/proc/proc_sysctl.c: proc_sys_readdir() — in name order (namecmp()). */
  private iterate(dir: Dentry): string[] {
    const names = [...(ProcSysctl.entry(dir.inode).children?.keys() ?? [])];
    return names.sort((a, b) => {
      const x = utf8e.encode(a);
      const y = utf8e.encode(b);
      for (let i = 0; i < Math.min(x.length, y.length); i++)
        if (x[i] !== y[i]) return x[i]! - y[i]!;
      return x.length - y.length;
    });
  }

  /** fs/proc/proc_sysctl.c: proc_sys_permission(). */
  private procSysPermission(inode: KInode, mask: number, current: Task): void {
    const fn = "proc_sys_permission";
    if (mask & MAY_EXEC && isReg(inode))
      throw new SysError("EACCES", fn, "sysctl files are not executable");
    const table = ProcSysctl.entry(inode).table;
    // Directories: r-xr-xr-x.
    const mode = table ? table.mode : 0o555;
    if (!testPerm(mode, mask, current)) {
      throw new SysError(
        "EACCES",
        fn,
        `mode ${mode.toString(8).padStart(4, "0")} for euid ${current.euid}`,
      );
    }
  }

  /** fs/proc/proc_sysctl.c: proc_sys_call_handler(), read side. */
  private read(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const fn = "proc_sys_call_handler";
    const table = ProcSysctl.entry(file.inode).table!;
    if (!testPerm(table.mode, MAY_READ, current)) throw new SysError("EPERM", fn);
    if (count === 0 || pos.value !== 0) return 0;
    const bytes = utf8e.encode(table.read(current)).subarray(0, count);
    copyToUser(current.mm, va, bytes, fn);
    pos.value += bytes.length;
    return bytes.length;
  }

  /** fs/proc/proc_sysctl.c: proc_sys_call_handler(), write side. */
  private write(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const fn = "proc_sys_call_handler";
    const table = ProcSysctl.entry(file.inode).table!;
    if (!testPerm(table.mode, MAY_WRITE, current)) throw new SysError("EPERM", fn);
    if (!table.write) throw new SysError("EINVAL", fn, "read-only sysctl");
    const text = utf8d.decode(copyFromUser(current.mm, va, count, fn));
    const n = table.write(text, pos.value, current);
    pos.value += n;
    return n;
  }
}
