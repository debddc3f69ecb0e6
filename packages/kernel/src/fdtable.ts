/**
 * A process's file descriptor table (`struct files_struct`): the lowest free descriptor first,
 * per-descriptor flags (FD_CLOEXEC), and RLIMIT_NOFILE.
 *
 * A descriptor can also be reserved before its file exists (get_unused_fd_flags()) and filled
 * later (fd_install()) or given back (put_unused_fd()), as drivers do when they must tell user
 * space the number before the last step that can fail. A reserved descriptor is taken for
 * allocation but not open: lookups and close() see EBADF.
 */

import { SysError } from "./errno.js";
import type { File } from "./fs/file.js";

export const FD_CLOEXEC = 1;

interface FdEntry {
  /** null while reserved by get_unused_fd_flags(). */
  file: File | null;
  flags: number;
}

export class FdTable {
  private readonly entries: (FdEntry | undefined)[] = [];

  /** Open descriptors, ascending. */
  get fds(): number[] {
    const out: number[] = [];
    this.entries.forEach((e, fd) => {
      if (e?.file) out.push(fd);
    });
    return out;
  }

  /** The file behind `fd`, or EBADF (`fdget()`). */
  get(fd: number, fn: string): File {
    const e = Number.isInteger(fd) && fd >= 0 ? this.entries[fd] : undefined;
    if (!e?.file) throw new SysError("EBADF", fn, `fd ${fd} is not open`);
    return e.file;
  }

  lookup(fd: number): File | undefined {
    return (Number.isInteger(fd) && fd >= 0 ? this.entries[fd]?.file : undefined) ?? undefined;
  }

  getFlags(fd: number, fn: string): number {
    this.get(fd, fn);
    return this.entries[fd]!.flags;
  }

  setFlags(fd: number, flags: number, fn: string): void {
    this.get(fd, fn);
    this.entries[fd]!.flags = flags & FD_CLOEXEC;
  }

  /**
   * `alloc_fd()` + `fd_install()`: the lowest free descriptor ≥ `minimum` below `limit`
   * (RLIMIT_NOFILE), else EMFILE. The caller has already taken the reference the table now holds.
   */
  install(file: File, flags: number, limit: number, fn: string, minimum = 0): number {
    const fd = this.reserve(flags, limit, fn, minimum);
    this.entries[fd]!.file = file;
    return fd;
  }

  /**
   * fs/file.c: get_unused_fd_flags() — takes the lowest free descriptor without a file yet;
   * EMFILE at RLIMIT_NOFILE.
   */
  reserve(flags: number, limit: number, fn: string, minimum = 0): number {
    let fd = minimum;
    while (this.entries[fd]) fd++;
    if (fd >= limit)
      throw new SysError("EMFILE", fn, `no free descriptor below RLIMIT_NOFILE (${limit})`);
    this.entries[fd] = { file: null, flags: flags & FD_CLOEXEC };
    return fd;
  }

  /** fs/file.c: fd_install() — puts `file` (its reference now the table's) in a reserved slot. */
  installReserved(fd: number, file: File): void {
    const e = this.entries[fd];
    if (!e || e.file) throw new Error(`fd_install: fd ${fd} was not reserved`);
    e.file = file;
  }

  /** fs/file.c: put_unused_fd() — gives a reserved descriptor back. */
  putUnused(fd: number): void {
    const e = this.entries[fd];
    if (!e || e.file) throw new Error(`put_unused_fd: fd ${fd} was not reserved`);
    this.entries[fd] = undefined;
    this.trim();
  }

  /** Removes `fd` and returns its file (whose reference the caller must drop); EBADF if not open. */
  remove(fd: number, fn: string): File {
    const file = this.get(fd, fn);
    this.entries[fd] = undefined;
    this.trim();
    return file;
  }

  private trim(): void {
    while (this.entries.length > 0 && this.entries[this.entries.length - 1] === undefined) {
      this.entries.pop();
    }
  }

  /** Whether a descriptor is free (for checks before an install). */
  isFree(fd: number): boolean {
    return !this.entries[fd];
  }
}
