/**
 * POSIX capabilities: the names and numbers of include/uapi/linux/capability.h, a task's five
 * capability sets (include/linux/cred.h), the capget(2)/capset(2) syscalls of
 * kernel/capability.c with the rules of security/commoncap.c: cap_capset(), and the typed
 * name-based calls the `Process` facade exposes.
 *
 * A set is a `kernel_cap_t`: one 64-bit word, here an immutable `CapSet` over a bigint. User space
 * sees it through the v3 ABI as two `__user_cap_data_struct`s of 32-bit halves.
 *
 * Caveat: only the capability LSM is modelled (no SELinux/AppArmor hook after cap_capset), there
 * are no user namespaces (every check is against the initial namespace), the once-only dmesg
 * warnings for the legacy v1/v2 headers are not printed, and file capabilities, securebits and
 * exec-time transformations are left out: a task's sets change only through capset().
 */

import { SysError } from "./errno.js";
import type { UserMemory } from "./mm/user-memory.js";
import { copyFromUser, copyToUser, getUser, putUser } from "./uaccess.js";
import { defineStruct, type StructValue, s32, u32 } from "./uapi/struct.js";

/** Every capability of include/uapi/linux/capability.h (Linux 7.3) with its number. */
export const CAPABILITIES = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
} as const;

export type CapabilityName = keyof typeof CAPABILITIES;

/** The highest capability number this kernel knows. */
export const CAP_LAST_CAP = 40;

/** include/linux/capability.h: CAP_VALID_MASK — bits 0..CAP_LAST_CAP. */
export const CAP_VALID_MASK = (1n << BigInt(CAP_LAST_CAP + 1)) - 1n;

/** Capability names by number (the table is dense: 0..CAP_LAST_CAP). */
const NAME_OF: readonly CapabilityName[] = (() => {
  const names: CapabilityName[] = [];
  for (const [name, n] of Object.entries(CAPABILITIES)) names[n] = name as CapabilityName;
  return Object.freeze(names);
})();

/** include/uapi/linux/capability.h: cap_valid(). */
export function capValid(cap: number): boolean {
  return Number.isInteger(cap) && cap >= 0 && cap <= CAP_LAST_CAP;
}

/** The name of capability number `cap` (`capName(17) === "CAP_SYS_RAWIO"`), or undefined. */
export function capName(cap: number): CapabilityName | undefined {
  return capValid(cap) ? NAME_OF[cap] : undefined;
}

/** Whether `name` is a capability name this kernel knows. */
export function isCapabilityName(name: string): name is CapabilityName {
  return Object.hasOwn(CAPABILITIES, name);
}

const U64_MASK = (1n << 64n) - 1n;
const U32_MASK = 0xffff_ffffn;

function capBit(cap: CapabilityName | number): bigint {
  const n = typeof cap === "number" ? cap : CAPABILITIES[cap];
  if (n === undefined || !capValid(n)) throw new RangeError(`not a capability: ${String(cap)}`);
  return 1n << BigInt(n);
}

/**
 * A `kernel_cap_t`: a set of capabilities as one 64-bit word. Immutable — every operation
 * returns a new set — so credentials that share a set can never change each other, as Linux's
 * copy-on-write `struct cred` guarantees.
 */
export class CapSet {
  /** include/linux/capability.h: CAP_EMPTY_SET. */
  static readonly EMPTY = new CapSet(0n);
  /** include/linux/capability.h: CAP_FULL_SET — every valid capability. */
  static readonly FULL = new CapSet(CAP_VALID_MASK);

  private constructor(
    /** The 64-bit word (`kernel_cap_t.val`). */
    readonly bits: bigint,
  ) {}

  /** A set from a 64-bit word; bits above 63 are refused (a bug in the caller). */
  static fromBits(bits: bigint): CapSet {
    if (bits < 0n || bits > U64_MASK) throw new RangeError(`not a 64-bit capability word: ${bits}`);
    return bits === 0n ? CapSet.EMPTY : new CapSet(bits);
  }

  /**
   * kernel/capability.c: mk_kernel_cap() — the set user space passes as two 32-bit halves;
   * bits of capabilities this kernel does not know are dropped silently, as Linux does.
   */
  static fromU32(low: number, high: number): CapSet {
    const word = (BigInt(low >>> 0) | (BigInt(high >>> 0) << 32n)) & CAP_VALID_MASK;
    return CapSet.fromBits(word);
  }

  /** The set holding exactly `caps`. */
  static of(caps: Iterable<CapabilityName | number>): CapSet {
    let bits = 0n;
    for (const cap of caps) bits |= capBit(cap);
    return CapSet.fromBits(bits);
  }

  /** cap_raised(): whether `cap` is in the set. */
  has(cap: CapabilityName | number): boolean {
    return (this.bits & capBit(cap)) !== 0n;
  }

  /** cap_raise() on a copy. */
  with(cap: CapabilityName | number): CapSet {
    return CapSet.fromBits(this.bits | capBit(cap));
  }

  /** cap_lower() on a copy. */
  without(cap: CapabilityName | number): CapSet {
    return CapSet.fromBits(this.bits & ~capBit(cap));
  }

  /** cap_combine(). */
  union(other: CapSet): CapSet {
    return CapSet.fromBits(this.bits | other.bits);
  }

  /** cap_intersect(). */
  intersect(other: CapSet): CapSet {
    return CapSet.fromBits(this.bits & other.bits);
  }

  /** cap_issubset(): every capability of this set is in `other`. */
  isSubsetOf(other: CapSet): boolean {
    return (this.bits & ~other.bits) === 0n;
  }

  /** cap_isclear(). */
  get isEmpty(): boolean {
    return this.bits === 0n;
  }

  equals(other: CapSet): boolean {
    return this.bits === other.bits;
  }

  /** The names of the valid capabilities in the set, in capability-number order. */
  names(): CapabilityName[] {
    const out: CapabilityName[] = [];
    for (let n = 0; n <= CAP_LAST_CAP; n++) {
      if ((this.bits >> BigInt(n)) & 1n) out.push(NAME_OF[n]!);
    }
    return out;
  }

  /** The low 32 bits, as `__user_cap_data_struct[0]` carries them. */
  get low(): number {
    return Number(this.bits & U32_MASK);
  }

  /** The high 32 bits, as `__user_cap_data_struct[1]` carries them. */
  get high(): number {
    return Number((this.bits >> 32n) & U32_MASK);
  }

  /** As /proc/<pid>/status prints it (`CapEff:\t000001ffffffffff`): `%016llx`. */
  toString(): string {
    return this.bits.toString(16).padStart(16, "0");
  }
}

/**
 * The credentials a task acts with (`struct cred`), reduced to ids and capability sets. Like
 * Linux's creds it is never modified once in use: a change builds a new one and commits it.
 */
export interface Cred {
  readonly uid: number;
  readonly gid: number;
  readonly euid: number;
  readonly egid: number;
  /** `cap_inheritable`: what may pass across execve(). */
  readonly capInheritable: CapSet;
  /** `cap_permitted`: the limit of what the task may make effective. */
  readonly capPermitted: CapSet;
  /** `cap_effective`: what capable() checks. */
  readonly capEffective: CapSet;
  /** `cap_bset`: the bounding set. */
  readonly capBset: CapSet;
  /** `cap_ambient`: always a subset of permitted ∩ inheritable. */
  readonly capAmbient: CapSet;
}

/**
 * kernel/cred.c: init_cred — the credentials of init and of every process root starts: uid 0,
 * everything permitted and effective, nothing inheritable or ambient, a full bounding set.
 */
export const INIT_CRED: Cred = Object.freeze({
  uid: 0,
  gid: 0,
  euid: 0,
  egid: 0,
  capInheritable: CapSet.EMPTY,
  capPermitted: CapSet.FULL,
  capEffective: CapSet.FULL,
  capBset: CapSet.FULL,
  capAmbient: CapSet.EMPTY,
});

export interface SpawnCredOptions {
  /** Real and effective uid (default 0, root). */
  uid?: number;
  /** Real and effective gid (default: the uid, as a user-private group). */
  gid?: number;
  /**
   * The capabilities the process holds (permitted and effective). Default: every capability
   * for uid 0 — what execve() gives root (security/commoncap.c: handle_privileged_root()) —
   * and none for anyone else.
   */
  caps?: Iterable<CapabilityName>;
}

/** The credentials of a newly spawned process (what `Kernel.spawn({ uid, caps })` starts with). */
export function spawnCred(opts: SpawnCredOptions = {}): Cred {
  const uid = opts.uid ?? 0;
  const gid = opts.gid ?? uid;
  const caps =
    opts.caps !== undefined ? CapSet.of(opts.caps) : uid === 0 ? CapSet.FULL : CapSet.EMPTY;
  return Object.freeze({
    ...INIT_CRED,
    uid,
    gid,
    euid: uid,
    egid: gid,
    capPermitted: caps,
    capEffective: caps,
  });
}

/** kernel/capability.c: capable() without namespaces — `cap` is in the effective set. */
export function credCapable(cred: Cred, cap: CapabilityName): boolean {
  return cred.capEffective.has(cap);
}

/** The three sets capset(2) sets. */
export interface CapTriple {
  readonly effective: CapSet;
  readonly permitted: CapSet;
  readonly inheritable: CapSet;
}

/**
 * security/commoncap.c: cap_capset() — the new credentials, or EPERM. The rules, in Linux's
 * order:
 * 1. without CAP_SETPCAP in the old effective set (cap_inh_is_capped()), the new inheritable set
 *    must lie within old inheritable ∪ old permitted;
 * 2. the new inheritable set must lie within old inheritable ∪ bounding set;
 * 3. the new permitted set must lie within the old permitted set (a task may drop, never raise);
 * 4. the new effective set must lie within the new permitted set.
 * The ambient set loses whatever is no longer both permitted and inheritable.
 */
export function capCapset(old: Cred, next: CapTriple): Cred {
  const fn = "cap_capset";
  const inhCapped = !old.capEffective.has("CAP_SETPCAP");
  if (inhCapped && !next.inheritable.isSubsetOf(old.capInheritable.union(old.capPermitted))) {
    throw new SysError("EPERM", fn, "new inheritable set exceeds inheritable | permitted");
  }
  if (!next.inheritable.isSubsetOf(old.capInheritable.union(old.capBset))) {
    throw new SysError("EPERM", fn, "new inheritable set exceeds inheritable | bounding set");
  }
  if (!next.permitted.isSubsetOf(old.capPermitted)) {
    throw new SysError("EPERM", fn, "new permitted set exceeds the old permitted set");
  }
  if (!next.effective.isSubsetOf(next.permitted)) {
    throw new SysError("EPERM", fn, "new effective set exceeds the new permitted set");
  }
  return Object.freeze({
    ...old,
    capEffective: next.effective,
    capInheritable: next.inheritable,
    capPermitted: next.permitted,
    capAmbient: old.capAmbient.intersect(next.permitted.intersect(next.inheritable)),
  });
}

// ---------------------------------------------------------------------------------------------
// The user ABI: include/uapi/linux/capability.h.

/** The header versions: v1 (32-bit sets), v2 (deprecated), v3 (64-bit sets). */
export const _LINUX_CAPABILITY_VERSION_1 = 0x19980330;
export const _LINUX_CAPABILITY_U32S_1 = 1;
export const _LINUX_CAPABILITY_VERSION_2 = 0x20071026;
export const _LINUX_CAPABILITY_U32S_2 = 2;
export const _LINUX_CAPABILITY_VERSION_3 = 0x20080522;
export const _LINUX_CAPABILITY_U32S_3 = 2;
/** include/linux/capability.h: the version the kernel writes back to a caller it does not know. */
export const _KERNEL_CAPABILITY_VERSION = _LINUX_CAPABILITY_VERSION_3;

/** `struct __user_cap_header_struct` (`cap_user_header_t`). */
export const user_cap_header_struct = defineStruct("__user_cap_header_struct", [
  ["version", u32],
  ["pid", s32],
]);

/** `struct __user_cap_data_struct` (`cap_user_data_t`): one per 32 capabilities. */
export const user_cap_data_struct = defineStruct("__user_cap_data_struct", [
  ["effective", u32],
  ["permitted", u32],
  ["inheritable", u32],
]);

export type UserCapHeader = StructValue<typeof user_cap_header_struct>;
export type UserCapData = StructValue<typeof user_cap_data_struct>;

/** What capget/capset need of the calling task. */
export interface CapTask {
  readonly pid: number;
  readonly mm: UserMemory;
  readonly cred: Cred;
  /** kernel/cred.c: commit_creds() — installs the new credentials. */
  commitCreds(cred: Cred): void;
}

export interface CapgetDeps {
  /** kernel/pid.c: find_task_by_vpid() — another task's credentials, or undefined (ESRCH). */
  findTaskByVpid?(pid: number): { readonly cred: Cred } | undefined;
}

/** How many `__user_cap_data_struct`s each header version moves. */
const U32S_OF: ReadonlyMap<number, number> = new Map([
  [_LINUX_CAPABILITY_VERSION_1, _LINUX_CAPABILITY_U32S_1],
  [_LINUX_CAPABILITY_VERSION_2, _LINUX_CAPABILITY_U32S_2],
  [_LINUX_CAPABILITY_VERSION_3, _LINUX_CAPABILITY_U32S_3],
]);

/**
 * kernel/capability.c: cap_validate_magic() — the number of data structs the caller's header
 * version moves. An unknown version is EINVAL, after the kernel wrote its own version back into
 * the header (that is how libcap probes it); a header it cannot read or write is EFAULT.
 */
function capValidateMagic(mem: UserMemory, headerVa: number): number {
  const fn = "cap_validate_magic";
  const version = getUser(mem, u32, headerVa + user_cap_header_struct.offsetof("version"), fn);
  const tocopy = U32S_OF.get(version);
  if (tocopy !== undefined) return tocopy;
  putUser(mem, u32, headerVa, _KERNEL_CAPABILITY_VERSION, fn);
  throw new SysError(
    "EINVAL",
    fn,
    `unknown capability version 0x${version.toString(16)}; 0x${_KERNEL_CAPABILITY_VERSION.toString(16)} written back`,
  );
}

function readHeaderPid(mem: UserMemory, headerVa: number, fn: string): number {
  return getUser(mem, s32, headerVa + user_cap_header_struct.offsetof("pid"), fn);
}

/** kernel/capability.c: cap_get_target_pid() — the sets of `pid` (0 = the caller). */
function capGetTargetPid(current: CapTask, pid: number, deps: CapgetDeps): CapTriple {
  let cred = current.cred;
  if (pid !== 0 && pid !== current.pid) {
    const target = deps.findTaskByVpid?.(pid);
    if (!target) throw new SysError("ESRCH", "cap_get_target_pid", `no task with pid ${pid}`);
    cred = target.cred;
  }
  return {
    effective: cred.capEffective,
    permitted: cred.capPermitted,
    inheritable: cred.capInheritable,
  };
}

/**
 * kernel/capability.c: capget() — writes the sets of the task named in the header to `dataVa`
 * (`tocopy` structs: one for a v1 header, which silently loses capabilities 32 and up).
 * `dataVa` NULL probes the version: 0 even for an unknown version, once it has been written back.
 */
export function sysCapget(
  current: CapTask,
  headerVa: number,
  dataVa: number,
  deps: CapgetDeps = {},
): number {
  const fn = "capget";
  const mem = current.mm;
  let tocopy: number;
  try {
    tocopy = capValidateMagic(mem, headerVa);
  } catch (err) {
    if (dataVa === 0 && SysError.isInstance(err) && err.code === "EINVAL") return 0;
    throw err;
  }
  if (dataVa === 0) return 0;
  const pid = readHeaderPid(mem, headerVa, fn);
  if (pid < 0) throw new SysError("EINVAL", fn, `negative pid ${pid}`);
  const sets = capGetTargetPid(current, pid, deps);
  const bytes = new Uint8Array(tocopy * user_cap_data_struct.size);
  for (let i = 0; i < tocopy; i++) {
    const half = (set: CapSet) => (i === 0 ? set.low : set.high);
    user_cap_data_struct.encodeInto(bytes, i * user_cap_data_struct.size, {
      effective: half(sets.effective),
      permitted: half(sets.permitted),
      inheritable: half(sets.inheritable),
    });
  }
  copyToUser(mem, dataVa, bytes, fn);
  return 0;
}

/** The shared tail of capset(2) and `capsetNames`: prepare_creds, cap_capset(), commit_creds. */
function doCapset(current: CapTask, next: CapTriple): void {
  current.commitCreds(capCapset(current.cred, next));
}

/**
 * kernel/capability.c: capset() — sets the caller's effective, permitted and inheritable sets
 * from `tocopy` data structs at `dataVa` (a v1 header leaves the upper 32 capabilities clear).
 * Order: header version, header pid (EPERM for another task), the data copy, cap_capset().
 * Nothing changes unless every check passes.
 */
export function sysCapset(current: CapTask, headerVa: number, dataVa: number): number {
  const fn = "capset";
  const mem = current.mm;
  const tocopy = capValidateMagic(mem, headerVa);
  const pid = readHeaderPid(mem, headerVa, fn);
  // A task may change only its own capabilities (no CAP_SETPCAP over others since 2.6.24).
  if (pid !== 0 && pid !== current.pid) {
    throw new SysError("EPERM", fn, `pid ${pid} is not the calling task`);
  }
  const bytes = copyFromUser(mem, dataVa, tocopy * user_cap_data_struct.size, fn);
  const data: UserCapData[] = [];
  for (let i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
    data.push(
      i < tocopy
        ? user_cap_data_struct.decode(bytes, i * user_cap_data_struct.size)
        : { effective: 0, permitted: 0, inheritable: 0 },
    );
  }
  const [lo, hi] = data as [UserCapData, UserCapData];
  doCapset(current, {
    effective: CapSet.fromU32(lo.effective, hi.effective),
    permitted: CapSet.fromU32(lo.permitted, hi.permitted),
    inheritable: CapSet.fromU32(lo.inheritable, hi.inheritable),
  });
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The typed facade: capability names instead of bit words.

/** The caller's sets by name, as the `Process.capget()` facade returns them. */
export interface CapNames {
  effective: CapabilityName[];
  permitted: CapabilityName[];
  inheritable: CapabilityName[];
}

export interface CapsetNamesRequest {
  effective: Iterable<CapabilityName>;
  /** Default: the current permitted set (so dropping from effective alone is one call). */
  permitted?: Iterable<CapabilityName>;
  /** Default: the current inheritable set. */
  inheritable?: Iterable<CapabilityName>;
}

/**
 * A set from names given by a caller that may not be type-checked (a notebook): an unknown name
 * is EINVAL, as libcap's cap_from_name() refuses it before any syscall is made.
 */
function setOfNames(names: Iterable<CapabilityName>): CapSet {
  const list = [...names];
  for (const name of list) {
    if (typeof name !== "string" || !isCapabilityName(name)) {
      throw new SysError("EINVAL", "cap_from_name", `unknown capability ${String(name)}`);
    }
  }
  return CapSet.of(list);
}

/** capget(2) of the caller with a v3 header, decoded to names. */
export function capgetNames(current: Pick<CapTask, "cred">): CapNames {
  const { cred } = current;
  return {
    effective: cred.capEffective.names(),
    permitted: cred.capPermitted.names(),
    inheritable: cred.capInheritable.names(),
  };
}

/**
 * capset(2) of the caller (pid 0) with a v3 header, from names: the same checks and errors as
 * `sysCapset` once the data is in the kernel. `capsetNames(p, { effective: [] })` drops every
 * effective capability and keeps them permitted, so they can be raised again.
 */
export function capsetNames(current: CapTask, req: CapsetNamesRequest): void {
  const effective = setOfNames(req.effective);
  const permitted =
    req.permitted !== undefined ? setOfNames(req.permitted) : current.cred.capPermitted;
  const inheritable =
    req.inheritable !== undefined ? setOfNames(req.inheritable) : current.cred.capInheritable;
  doCapset(current, { effective, permitted, inheritable });
}
