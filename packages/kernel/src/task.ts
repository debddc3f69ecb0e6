/**
 * What kernel code sees of the calling process (`current`): identity, credentials and memory.
 * `Process` implements it; drivers depend only on this interface.
 */

import type { CapabilityName } from "./capability.js";
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
}
