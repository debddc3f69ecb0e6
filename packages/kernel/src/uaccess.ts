/**
 * The kernel's user-access helpers (include/linux/uaccess.h, lib/usercopy.c,
 * lib/strncpy_from_user.c) on top of a process's `UserMemory`.
 *
 * Every syscall argument that is a pointer in C goes through here: the handler names itself
 * (`fn`, the kernel function doing the copy) and a bad address comes back as
 * `SysError("EFAULT", fn)`, so a test sees exactly which function refused.
 *
 * What is modelled on top of the byte copy that `UserMemory` does:
 * - arm64 `access_ok()`: a range must end at or below `TASK_SIZE_MAX`, otherwise EFAULT without
 *   touching memory; a negative or fractional length is a huge `size_t` in C and fails the same way;
 * - a zero-length copy never faults, whatever the address (Linux copies nothing and returns 0);
 * - NULL with a non-zero length is EFAULT: page zero is never mapped (`mmap_min_addr`);
 * - `copy_struct_from_user()`'s size protocol, `check_zeroed_user()`'s scan order (a non-zero
 *   byte before the first unreadable one is E2BIG, not EFAULT), `copy_struct_to_user()`'s
 *   clearing of the user's extra tail, and `strncpy_from_user()` stopping at the NUL so that
 *   unmapped memory after the string does not matter.
 *
 * Caveat: arm64 tagged addresses (TBI, `PR_SET_TAGGED_ADDR_CTRL`) are not untagged: a tagged
 * pointer is above `TASK_SIZE_MAX` and faults. `TASK_SIZE_MAX` is that of a 48-bit VA kernel.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "./errno.js";
import type { UserMemory } from "./mm/user-memory.js";
import {
  decodeScalar,
  encodeScalar,
  type InputOf,
  type ScalarType,
  type StructInput,
  type StructLayout,
  type StructValue,
  type ValueOf,
} from "./uapi/struct.js";

/** arm64 `TASK_SIZE_MAX` (`1 << VA_BITS`, VA_BITS = 48): the end of the user address space. */
export const TASK_SIZE_MAX = 2 ** 48;

/** include/uapi/linux/limits.h: `PATH_MAX`, the NUL included. */
export const PATH_MAX = 4096;

/** arch/arm64/include/asm/uaccess.h: access_ok() — `addr + size <= TASK_SIZE_MAX`, in 65 bits. */
export function accessOk(va: number, length: number): boolean {
  return (
    Number.isSafeInteger(va) &&
    Number.isSafeInteger(length) &&
    va >= 0 &&
    length >= 0 &&
    va + length <= TASK_SIZE_MAX
  );
}

function efault(fn: string, va: number, length: number): SysError {
  return new SysError("EFAULT", fn, `user range 0x${va.toString(16)}+${length}`);
}

/** Reads `dst.length` bytes at `va`, or throws EFAULT in `fn`'s name; the range is valid. */
function readOrFault(mem: UserMemory, va: number, dst: Uint8Array, fn: string): void {
  try {
    mem.readUser(va, dst);
  } catch (err) {
    if (SysError.isInstance(err)) throw efault(fn, va, dst.length);
    throw err;
  }
}

function writeOrFault(mem: UserMemory, va: number, src: Uint8Array, fn: string): void {
  try {
    mem.writeUser(va, src);
  } catch (err) {
    if (SysError.isInstance(err)) throw efault(fn, va, src.length);
    throw err;
  }
}

/**
 * `access_ok()` plus the NULL rule shared by every copy. Nothing to move is never a fault: with
 * a zero length Linux copies nothing and reports nothing left over, even for a wild pointer.
 */
function checkRange(va: number, length: number, fn: string): void {
  if (length === 0) return;
  if (!accessOk(va, length) || va === 0) throw efault(fn, va, length);
}

/**
 * The end of the page holding `va`, capped at `end`. Scans go a page-bounded chunk at a time:
 * memory is mapped by whole pages, so a chunk is either all readable or not at all, and a
 * failed chunk read pins the first unreadable byte exactly at its start — which is what Linux's
 * word-at-a-time loops find with their byte-wise fallback.
 */
function chunkEnd(va: number, end: number): number {
  return Math.min(end, (Math.floor(va / PAGE_SIZE) + 1) * PAGE_SIZE);
}

/** Whether the chunk at `va` could be read: false for EFAULT, other errors propagate. */
function tryRead(mem: UserMemory, va: number, dst: Uint8Array): boolean {
  try {
    mem.readUser(va, dst);
    return true;
  } catch (err) {
    if (SysError.isInstance(err)) return false;
    throw err;
  }
}

/** include/linux/uaccess.h: copy_from_user() — `length` bytes at `va`, all or EFAULT. */
export function copyFromUser(mem: UserMemory, va: number, length: number, fn: string): Uint8Array {
  checkRange(va, length, fn);
  const bytes = new Uint8Array(length);
  if (length > 0) readOrFault(mem, va, bytes, fn);
  return bytes;
}

/** include/linux/uaccess.h: copy_to_user() — `bytes` to `va`, or EFAULT. */
export function copyToUser(mem: UserMemory, va: number, bytes: Uint8Array, fn: string): void {
  checkRange(va, bytes.length, fn);
  if (bytes.length > 0) writeOrFault(mem, va, bytes, fn);
}

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/**
 * include/linux/uaccess.h: clear_user() — zeroes `length` bytes at `va` a page at a time;
 * like Linux, the pages before an unwritable one stay cleared when it fails with EFAULT.
 */
export function clearUser(mem: UserMemory, va: number, length: number, fn: string): void {
  checkRange(va, length, fn);
  const end = va + length;
  for (let at = va; at < end; ) {
    const next = chunkEnd(at, end);
    writeOrFault(mem, at, ZERO_PAGE.subarray(0, next - at), fn);
    at = next;
  }
}

/** include/linux/uaccess.h: get_user() — one integer of `type` (`u32`, `u64`, …) at `va`. */
export function getUser<T extends ScalarType>(
  mem: UserMemory,
  type: T,
  va: number,
  fn: string,
): ValueOf<T> {
  return decodeScalar(copyFromUser(mem, va, type.size, fn), 0, type);
}

/**
 * include/linux/uaccess.h: put_user() — one integer of `type` to `va`. A value that does not
 * fit the type is a bug in the calling model (C would truncate it silently): RangeError.
 */
export function putUser<T extends ScalarType>(
  mem: UserMemory,
  type: T,
  va: number,
  value: InputOf<T>,
  fn: string,
): void {
  copyToUser(mem, va, encodeScalar(type, value), fn);
}

/**
 * lib/usercopy.c: check_zeroed_user() — whether the `size` bytes at `va` are all zero.
 * It scans in address order and stops at the first non-zero byte, so a non-zero byte before an
 * unreadable page answers false; reaching an unreadable byte first is EFAULT.
 */
export function checkZeroedUser(mem: UserMemory, va: number, size: number, fn: string): boolean {
  if (size === 0) return true;
  if (!accessOk(va, size)) throw efault(fn, va, size);
  const end = va + size;
  for (let at = va; at < end; ) {
    const next = chunkEnd(at, end);
    const chunk = new Uint8Array(next - at);
    if (!tryRead(mem, at, chunk)) throw efault(fn, at, end - at);
    if (chunk.some((byte) => byte !== 0)) return false;
    at = next;
  }
  return true;
}

/**
 * include/linux/uaccess.h: copy_struct_from_user() — the extensible-struct protocol of
 * `openat2`, `clone3` and every IOMMUFD ioctl. `usize` is the size user space says its struct
 * has and `layout.size` what this kernel knows:
 * - `usize < ksize`: an older user; its `usize` bytes are copied and the rest reads as zero;
 * - `usize > ksize`: a newer user; the bytes this kernel does not know must all be zero, else
 *   E2BIG — checked before anything is copied, as Linux does;
 * - otherwise the struct is copied as is.
 * A fault anywhere is EFAULT. The flexible array member, if any, decodes as empty.
 */
export function copyStructFromUser<L extends StructLayout>(
  mem: UserMemory,
  layout: L,
  va: number,
  usize: number,
  fn: string,
): StructValue<L> {
  const ksize = layout.size;
  if (!Number.isSafeInteger(usize) || usize < 0) throw efault(fn, va, usize);
  if (usize > ksize && !checkZeroedUser(mem, va + ksize, usize - ksize, fn)) {
    throw new SysError(
      "E2BIG",
      fn,
      `non-zero bytes past ${ksize} in a ${usize}-byte struct ${layout.name}`,
    );
  }
  const bytes = copyFromUser(mem, va, Math.min(usize, ksize), fn);
  return layout.decodePartial(bytes) as StructValue<L>;
}

/**
 * include/linux/uaccess.h: copy_struct_to_user() — the reply half of the same protocol. The
 * first `min(usize, ksize)` bytes of `value` go to `va`; when the user's struct is larger, its
 * extra tail is zeroed first (so fields this kernel does not know read as zero). Returns
 * Linux's `ignored_trailing`: whether the reply lost non-zero bytes to a smaller user struct,
 * which some callers turn into EMSGSIZE.
 */
export function copyStructToUser<L extends StructLayout>(
  mem: UserMemory,
  layout: L,
  va: number,
  usize: number,
  value: StructInput<L>,
  fn: string,
): { ignoredTrailing: boolean } {
  const ksize = layout.size;
  if (!Number.isSafeInteger(usize) || usize < 0) throw efault(fn, va, usize);
  const bytes = layout.encode(value as Parameters<L["encode"]>[0]).subarray(0, ksize);
  const size = Math.min(usize, ksize);
  if (usize > ksize) clearUser(mem, va + ksize, usize - ksize, fn);
  const ignoredTrailing = bytes.subarray(size).some((byte) => byte !== 0);
  copyToUser(mem, va, bytes.subarray(0, size), fn);
  return { ignoredTrailing };
}

const utf8 = new TextDecoder("utf-8");

/**
 * lib/strncpy_from_user.c: strncpy_from_user(), with the length rule of fs/namei.c's
 * getname_flags(): the NUL-terminated string at `va`, of which at most `max` bytes (the NUL
 * included) are read. A string with no NUL within `max` bytes is ENAMETOOLONG; an unreadable
 * byte before the NUL, or the end of the user address space, is EFAULT. Bytes after the NUL are
 * never touched. Decoded as UTF-8. An empty string is returned as is (whether it is ENOENT is
 * the caller's business, as `LOOKUP_EMPTY` is getname's).
 */
export function strncpyFromUser(mem: UserMemory, va: number, max: number, fn: string): string {
  if (!Number.isSafeInteger(max) || max <= 0) throw new SysError("ENAMETOOLONG", fn);
  if (!Number.isSafeInteger(va) || va <= 0 || va >= TASK_SIZE_MAX) throw efault(fn, va, max);
  // Linux caps the scan at the address-space end and faults if the string reaches it.
  const limit = Math.min(va + max, TASK_SIZE_MAX);
  const parts: Uint8Array[] = [];
  for (let at = va; at < limit; ) {
    const next = chunkEnd(at, limit);
    const chunk = new Uint8Array(next - at);
    if (!tryRead(mem, at, chunk)) throw efault(fn, at, limit - at);
    const nul = chunk.indexOf(0);
    if (nul >= 0) {
      parts.push(chunk.subarray(0, nul));
      return utf8.decode(concat(parts));
    }
    parts.push(chunk);
    at = next;
  }
  if (limit < va + max) throw efault(fn, va, max);
  throw new SysError("ENAMETOOLONG", fn, `no NUL within ${max} bytes at 0x${va.toString(16)}`);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
