/**
 * poll(2) (fs/select.c: do_sys_poll(), do_poll(), do_pollfd()) over the model's files.
 *
 * Every pass asks each file's `poll` for its readiness mask and keeps the bits the caller asked
 * for, plus POLLERR and POLLHUP, which are always reported; a descriptor with no open file
 * reports POLLNVAL and a negative one is skipped. When no descriptor is ready the call sleeps on
 * the virtual clock (`Scheduler.sleepUntil`): hardware events run until a pass finds something,
 * or until the timeout, at which point time stands exactly at the deadline and one last pass
 * decides the result — as Linux re-polls once after its timer fires.
 *
 * The facade's timeout is in nanoseconds (`timeoutNs`) rather than poll(2)'s milliseconds, so a
 * test can wait for an exact virtual instant: 0 polls once without sleeping, a negative value
 * waits for ever (and fails with `WouldBlockForeverError` when no pending event can make any
 * descriptor ready), a positive value waits at most that long.
 *
 * Caveat: descriptors and results are JS objects, not a `struct pollfd` array in user memory, so
 * poll's EFAULT paths are not modelled; neither are signals (ERESTARTNOHAND) nor timer slack (a
 * real task wakes up to 50 µs after its deadline; here it wakes exactly at it).
 */

import { SysError } from "../errno.js";
import type { Scheduler } from "../sched/wait.js";
import type { Task } from "../task.js";
import { DEFAULT_POLLMASK, type File, POLLERR, POLLHUP, POLLNVAL } from "./file.js";

/** One entry of the caller's array (`struct pollfd` without `revents`). */
export interface PollFd {
  readonly fd: number;
  /** The POLL* bits wanted; `events` is a C `short`, so only the low 16 bits count. */
  readonly events: number;
}

/** One entry of the answer: the `revents` Linux writes back. */
export interface PollRevents {
  readonly fd: number;
  readonly revents: number;
}

export interface PollResult {
  /** One entry per input entry, in the same order. */
  readonly fds: PollRevents[];
  /** poll(2)'s return value: how many entries have a non-zero `revents` (0 on timeout). */
  readonly count: number;
}

export interface PollDeps {
  /** The calling task (its RLIMIT_NOFILE bounds `nfds`). */
  readonly current: Task;
  /** fdget(): the open file behind `fd`, or undefined when the slot is empty. */
  fget(fd: number): File | undefined;
  readonly scheduler: Scheduler;
}

/** include/linux/poll.h: vfs_poll() — the file's readiness, DEFAULT_POLLMASK if it has no poll. */
export function pollMaskOf(file: File, current: Task): number {
  const poll = file.fOp.poll;
  return poll ? poll.call(file.fOp, file, current) : DEFAULT_POLLMASK;
}

/** fs/select.c: do_pollfd() — one entry's `revents`. */
function doPollfd(entry: PollFd, deps: PollDeps): number {
  if (entry.fd < 0) return 0;
  const file = deps.fget(entry.fd);
  if (!file) return POLLNVAL;
  const filter = (entry.events & 0xffff) | POLLERR | POLLHUP;
  return pollMaskOf(file, deps.current) & filter;
}

/** One pass of do_poll()'s loop over every entry. */
function pollPass(entries: readonly PollFd[], deps: PollDeps): PollResult {
  let count = 0;
  const fds = entries.map((entry) => {
    const revents = doPollfd(entry, deps);
    if (revents) count++;
    return { fd: entry.fd, revents };
  });
  return { fds, count };
}

/**
 * fs/select.c: do_sys_poll() — EINVAL when there are more entries than RLIMIT_NOFILE allows,
 * else the entries' `revents` once at least one is non-zero or the timeout expired.
 */
export function doSysPoll(
  entries: readonly PollFd[],
  timeoutNs: number,
  deps: PollDeps,
): PollResult {
  const fn = "do_sys_poll";
  if (Number.isNaN(timeoutNs)) throw new RangeError(`${fn}: timeout is NaN`);
  const limit = deps.current.rlimit("RLIMIT_NOFILE");
  if (entries.length > limit) {
    throw new SysError("EINVAL", fn, `nfds ${entries.length} > RLIMIT_NOFILE ${limit}`);
  }
  let result = pollPass(entries, deps);
  if (result.count > 0 || timeoutNs === 0) return result;
  const ready = () => {
    result = pollPass(entries, deps);
    return result.count > 0;
  };
  const { pid, comm } = deps.current;
  const what = `poll([${entries.map((e) => e.fd).join(", ")}]) by pid ${pid} (${comm})`;
  const infinite = timeoutNs < 0 || timeoutNs === Number.POSITIVE_INFINITY;
  if (infinite) deps.scheduler.sleepUntil(ready, what);
  else if (!deps.scheduler.sleepUntil(ready, what, timeoutNs)) {
    // Timed out: the final pass at the deadline, as do_poll() makes after its timer fired.
    result = pollPass(entries, deps);
  }
  return result;
}
