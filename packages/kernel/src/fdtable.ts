/**
 * A process's file descriptor table (`struct files_struct`): the lowest free descriptor first,
 * per-descriptor flags (FD_CLOEXEC), and RLIMIT_NOFILE.
 */

import { SysError } from "./errno.js";
import type { File } from "./fs/file.js";

export const FD_CLOEXEC = 1;

interface FdEntry {
  readonly file: File;
  flags: number;
}

export class FdTable {
  private readonly entries: (FdEntry | undefined)[] = [];

  /** Open descriptors, ascending. */
  get fds(): number[] {
    const out: number[] = [];
    this.entries.forEach((e, fd) => {
      if (e) out.push(fd);
    });
    return out;
  }

  /** The file behind `fd`, or EBADF (`fdget()`). */
  get(fd: number, fn: string): File {
    const e = Number.isInteger(fd) && fd >= 0 ? this.entries[fd] : undefined;
    if (!e) throw new SysError("EBADF", fn, `fd ${fd} is not open`);
    return e.file;
  }

  lookup(fd: number): File | undefined {
    return Number.isInteger(fd) && fd >= 0 ? this.entries[fd]?.file : undefined;
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
    let fd = minimum;
    while (this.entries[fd]) fd++;
    if (fd >= limit)
      throw new SysError("EMFILE", fn, `no free descriptor below RLIMIT_NOFILE (${limit})`);
    this.entries[fd] = { file, flags: flags & FD_CLOEXEC };
    return fd;
  }

  /** Removes `fd` and returns its file (whose reference the caller must drop); EBADF if not open. */
  remove(fd: number, fn: string): File {
    const file = this.get(fd, fn);
    this.entries[fd] = undefined;
    while (this.entries.length > 0 && this.entries[this.entries.length - 1] === undefined) {
      this.entries.pop();
    }
    return file;
  }

  /** Whether a descriptor is free (for checks before an install). */
  isFree(fd: number): boolean {
    return !this.entries[fd];
  }
}
