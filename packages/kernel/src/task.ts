/**
 * What kernel code sees of the calling process (`current`): identity, credentials and memory.
 * `Process` implements it; drivers depend only on this interface.
 */

import type { CapabilityName } from "./capability.js";
import type { File } from "./fs/file.js";
import type { AddressSpace } from "./mm/address-space.js";

export type RlimitName = "RLIMIT_MEMLOCK" | "RLIMIT_NOFILE";

export interface Task {
  readonly pid: number;
  readonly comm: string;
  readonly uid: number;
  readonly euid: number;
  readonly gid: number;
  readonly egid: number;
  readonly mm: AddressSpace;
  /** `capable()`: the capability is in the task's effective set. */
  capable(cap: CapabilityName): boolean;
  /** The soft limit, in the resource's unit (bytes for RLIMIT_MEMLOCK); Infinity = RLIM_INFINITY. */
  rlimit(resource: RlimitName): number;
  /**
   * fs/file.c: fget() — the open file behind descriptor `fd` with one more reference (release it
   * with `vfs.fput()`), or undefined for a free or invalid descriptor.
   */
  fget(fd: number): File | undefined;
  /**
   * get_unused_fd_flags() + fd_install(): installs `file` (whose reference the table takes) at the
   * lowest free descriptor; `flags` is O_CLOEXEC or 0. EMFILE past RLIMIT_NOFILE, and then the
   * caller still owns its reference.
   */
  fdInstall(file: File, flags: number): number;
  /** fs/file.c: get_unused_fd_flags() — reserves the lowest free descriptor (EMFILE). */
  getUnusedFdFlags(flags: number): number;
  /** fs/file.c: fd_install() into a descriptor reserved by getUnusedFdFlags(). */
  fdInstallReserved(fd: number, file: File): void;
  /** fs/file.c: put_unused_fd() — gives a reserved descriptor back. */
  putUnusedFd(fd: number): void;
}
