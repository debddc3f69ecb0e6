/**
 * Vitest matchers for kernel errors: `expect(() => ...).toThrowErrno("EBUSY")` reads like the
 * `EXPECT_ERRNO(EBUSY, ...)` of the kernel selftests (tools/testing/selftests/iommu).
 *
 * The thrown value is recognised with `SysError.isInstance`, so an error from another copy of
 * this package (a bundled notebook runtime, a second install) still matches. A mismatch prints
 * what was thrown: errno name and number, the kernel function that refused, the message.
 *
 * This is the only file of the package that imports vitest (an optional peer dependency of the
 * `@vfio-lab/kernel/testing` subpath).
 */

import { assert, expect } from "vitest";
import { ERRNO_TABLE, type ErrnoName, errno, errnoName, SysError } from "../errno.js";

/** Canonical name of `code` (`EWOULDBLOCK` is `EAGAIN`), as `SysError.code` holds it. */
function canonicalName(code: ErrnoName): string {
  return errnoName(errno(code)) ?? code;
}

/** A typo in a test (`"EBUSSY"`) is a broken test, not a failed expectation. */
function checkCode(code: unknown): asserts code is ErrnoName {
  const known =
    typeof code === "string" &&
    (code in ERRNO_TABLE || code === "EWOULDBLOCK" || code === "EDEADLOCK");
  if (!known) throw new TypeError(`${String(code)} is not an errno name`);
}

function describeThrown(thrown: unknown): string {
  if (SysError.isInstance(thrown)) {
    return `SysError ${thrown.code} (errno ${thrown.errno}) from ${thrown.fn} — "${thrown.message}"`;
  }
  if (thrown instanceof Error) return `${thrown.name}: ${thrown.message}`;
  return `non-error value ${String(thrown)}`;
}

/** What running the code under test gave: a thrown (or rejected) value, or a result. */
interface Outcome {
  threw: boolean;
  value: unknown;
}

/**
 * `Promise<V>` when `R` is a promise, else `V`. A function typed `() => never` (it always
 * throws) is synchronous, although `never` is formally assignable to a promise.
 */
type ErrnoResult<R, V> = [R] extends [never] ? V : R extends PromiseLike<unknown> ? Promise<V> : V;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** Why `outcome` is not a `SysError` with `code`, or undefined when it is. */
function mismatch(outcome: Outcome, code: ErrnoName): string | undefined {
  const want = `SysError ${canonicalName(code)} (errno ${errno(code)})`;
  if (!outcome.threw) return `expected ${want} to be thrown, but nothing was thrown`;
  const thrown = outcome.value;
  if (SysError.isInstance(thrown) && thrown.errno === errno(code)) return undefined;
  return `expected ${want} to be thrown, but got ${describeThrown(thrown)}`;
}

function settle(promise: PromiseLike<unknown>): Promise<Outcome> {
  return Promise.resolve(promise).then(
    (value) => ({ threw: false, value }),
    (value: unknown) => ({ threw: true, value }),
  );
}

interface MatcherResult {
  pass: boolean;
  message: () => string;
}

function verdict(outcome: Outcome, code: ErrnoName): MatcherResult {
  const why = mismatch(outcome, code);
  return {
    pass: why === undefined,
    message: () =>
      why ??
      `expected not to throw SysError ${canonicalName(code)}, but got ${describeThrown(outcome.value)}`,
  };
}

function toThrowErrno(
  this: { promise?: string },
  received: unknown,
  code: ErrnoName,
): MatcherResult | Promise<MatcherResult> {
  checkCode(code);
  // `expect(promise).rejects.toThrowErrno()` hands the matcher the rejection reason itself.
  if (this.promise === "rejects") return verdict({ threw: true, value: received }, code);
  if (isThenable(received)) return settle(received).then((outcome) => verdict(outcome, code));
  if (typeof received !== "function") {
    return {
      pass: false,
      message: () => `toThrowErrno expects a function or a promise, got ${typeof received}`,
    };
  }
  let result: unknown;
  try {
    result = received();
  } catch (value) {
    return verdict({ threw: true, value }, code);
  }
  if (isThenable(result)) return settle(result).then((outcome) => verdict(outcome, code));
  return verdict({ threw: false, value: result }, code);
}

/** Registers `toThrowErrno` with vitest's `expect`; call once per test file (or in a setup file). */
export function setupKernelMatchers(): void {
  expect.extend({ toThrowErrno });
}

function unwrap(outcome: Outcome, code: ErrnoName): SysError {
  const why = mismatch(outcome, code);
  if (why !== undefined) assert.fail(why);
  return outcome.value as SysError;
}

/**
 * Runs `fn`, asserts that it throws (or, if it returns a promise, rejects with) a `SysError`
 * carrying `code`, and returns that error for further checks (`err.fn`, the message).
 */
export function expectErrno<R>(fn: () => R, code: ErrnoName): ErrnoResult<R, SysError>;
export function expectErrno(fn: () => unknown, code: ErrnoName): SysError | Promise<SysError> {
  checkCode(code);
  let result: unknown;
  try {
    result = fn();
  } catch (value) {
    return unwrap({ threw: true, value }, code);
  }
  if (isThenable(result)) return settle(result).then((outcome) => unwrap(outcome, code));
  return unwrap({ threw: false, value: result }, code);
}

/** Async when what is checked is a promise or a function returning one. */
type ErrnoAssertionResult<T> = T extends () => infer R
  ? ErrnoResult<R, void>
  : ErrnoResult<T, void>;

interface KernelMatchers<T> {
  /**
   * Asserts that the function throws — or the promise rejects with — a `SysError` with errno
   * `code`: `expect(() => proc.ioctl(fd, VFIO_GROUP_SET_CONTAINER, va)).toThrowErrno("EBUSY")`.
   */
  toThrowErrno(code: ErrnoName): ErrnoAssertionResult<T>;
}

declare module "vitest" {
  // Vitest requires the augmentation to repeat its own type parameter, default included.
  // biome-ignore lint/suspicious/noExplicitAny: must match vitest's `Matchers<T = any>`
  interface Matchers<T = any> extends KernelMatchers<T> {}
}
