/**
 * eventfd (fs/eventfd.c): a 64-bit counter behind a file. write(2) adds to it, read(2) takes it
 * (or 1 of it with EFD_SEMAPHORE), poll reports whether either would block, and kernel code —
 * an IRQ handler of vfio-platform, say — adds 1 with eventfd_signal() from any context.
 *
 * Sleeping: the simulation has one thread, so a blocked read or write is
 * `Scheduler.sleepUntil`, which runs the hardware event queue until the counter allows the call
 * to complete. A device IRQ scheduled on the virtual clock reaches its handler, the handler calls
 * `eventfdSignal`, and the sleeping reader sees the count on its next check; if the queue runs
 * dry first, nothing can ever signal and the read fails with `WouldBlockForeverError`.
 *
 * In-kernel consumers (VFIO's virqfd, a KVM-style irqfd) hook the context's wait queue with
 * `eventfdCtxAddWaitQueue`: their function runs synchronously with EPOLLIN on every write or
 * signal, EPOLLOUT on every read, EPOLLHUP when the file is released — as `wake_up_locked_poll`
 * calls wait-queue functions in the waker's context.
 *
 * Caveat: signals are not modelled (a sleep cannot end in ERESTARTSYS/EINTR); there is no
 * eventfd id and no /proc/<pid>/fdinfo; the WARN_ON_ONCE splat of a recursive eventfd_signal is
 * not printed (the signal is dropped silently, as Linux drops it after the splat).
 */

import { SysError } from "../errno.js";
import type { Scheduler } from "../sched/wait.js";
import type { Task } from "../task.js";
import { getUser, putUser } from "../uaccess.js";
import { u64 } from "../uapi/struct.js";
import { anonInodeGetfile } from "./anon-inode.js";
import {
  type File,
  type FileOperations,
  type Inode,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
} from "./file.js";

/** include/uapi/linux/eventfd.h: eventfd2(2) flags. */
export const EFD_SEMAPHORE = 1 << 0;
export const EFD_CLOEXEC = O_CLOEXEC;
export const EFD_NONBLOCK = O_NONBLOCK;
/** include/linux/eventfd.h: the flags that are also open-file / fd flags. */
export const EFD_SHARED_FCNTL_FLAGS = O_CLOEXEC | O_NONBLOCK;
/** include/linux/eventfd.h: every flag eventfd2(2) accepts. */
export const EFD_FLAGS_SET = EFD_SHARED_FCNTL_FLAGS | EFD_SEMAPHORE;

/** The counter's ceiling: `ULLONG_MAX` is reachable only through eventfd_signal (an overflow). */
export const ULLONG_MAX = 0xffff_ffff_ffff_ffffn;

/** sizeof(__u64): the only transfer size eventfd knows. */
const EVENTFD_XFER = 8;

/** A wait-queue function: called with the poll mask of the wake-up (EPOLLIN, EPOLLOUT, EPOLLHUP). */
export type EventfdWakeFunc = (mask: number) => void;

/** A `wait_queue_entry` on an eventfd's `wqh`; remove it with `eventfdCtxRemoveWaitQueue`. */
export interface EventfdWaitEntry {
  readonly func: EventfdWakeFunc;
}

/**
 * `current->in_eventfd`: set while an eventfd wakes its waiters, so a waiter that signals an
 * eventfd again (an unbounded recursion in Linux) is refused. One flag suffices: the simulation
 * has one thread of execution, and the flag is only ever set within one synchronous call.
 */
let inEventfd = false;

/** include/linux/eventfd.h: eventfd_signal_allowed() — false inside an eventfd wake-up. */
export function eventfdSignalAllowed(): boolean {
  return !inEventfd;
}

/** `struct eventfd_ctx`: the counter, its flags, its waiters and its references. */
export class EventfdCtx {
  /** The 64-bit counter (`count`). */
  private counter: bigint;
  /** `kref`: the file's reference plus one per eventfd_ctx_fileget(). */
  private refs = 1;
  /** `wqh`: in-kernel waiters, newest first as `__add_wait_queue` links them. */
  private readonly waiters: EventfdWaitEntry[] = [];

  constructor(
    count: bigint,
    /** The eventfd2(2) flags it was created with (EFD_SEMAPHORE is what matters here). */
    readonly flags: number,
    /** Where a blocking read or write sleeps. */
    readonly scheduler: Scheduler,
  ) {
    this.counter = count;
  }

  /** The counter, for tests and consumers that peek (`eventfd_show_fdinfo`'s `eventfd-count`). */
  get count(): bigint {
    this.checkLive();
    return this.counter;
  }

  /** True once the last reference was dropped; a freed context must not be used again. */
  get freed(): boolean {
    return this.refs === 0;
  }

  private checkLive(): void {
    if (this.refs === 0) throw new Error("eventfd_ctx used after its last reference was put");
  }

  /** kref_get(). */
  get(): this {
    this.checkLive();
    this.refs++;
    return this;
  }

  /** fs/eventfd.c: eventfd_ctx_put(). */
  put(): void {
    this.checkLive();
    this.refs--;
  }

  /** `wake_up_locked_poll(&ctx->wqh, mask)` with `in_eventfd` set around it. */
  wakeUp(mask: number): void {
    if (this.waiters.length === 0) return;
    const wasIn = inEventfd;
    inEventfd = true;
    try {
      // A waiter may remove itself while being woken: walk a snapshot, as list_for_each_safe.
      for (const entry of [...this.waiters]) entry.func(mask);
    } finally {
      inEventfd = wasIn;
    }
  }

  /** fs/eventfd.c: eventfd_signal_mask() — add 1 (saturating at ULLONG_MAX) and wake. */
  signalMask(mask: number): void {
    this.checkLive();
    // Linux WARNs and drops a signal issued from inside an eventfd wake-up.
    if (inEventfd) return;
    if (this.counter < ULLONG_MAX) this.counter++;
    this.wakeUp(POLLIN | mask);
  }

  /** fs/eventfd.c: eventfd_ctx_do_read() — take the count (1 with EFD_SEMAPHORE); no wake-up. */
  doRead(): bigint {
    this.checkLive();
    const taken = this.flags & EFD_SEMAPHORE && this.counter > 0n ? 1n : this.counter;
    this.counter -= taken;
    return taken;
  }

  /** Adds `count` after the caller checked it fits below ULLONG_MAX, and wakes readers. */
  add(count: bigint): void {
    this.checkLive();
    this.counter += count;
    this.wakeUp(POLLIN);
  }

  /** fs/eventfd.c: eventfd_poll() — the readiness mask. */
  poll(): number {
    this.checkLive();
    let events = 0;
    if (this.counter > 0n) events |= POLLIN;
    if (this.counter === ULLONG_MAX) events |= POLLERR;
    if (ULLONG_MAX - 1n > this.counter) events |= POLLOUT;
    return events;
  }

  /** `add_wait_queue()` on `wqh`. */
  addWaitQueue(func: EventfdWakeFunc): EventfdWaitEntry {
    this.checkLive();
    const entry: EventfdWaitEntry = Object.freeze({ func });
    this.waiters.unshift(entry);
    return entry;
  }

  /** fs/eventfd.c: eventfd_ctx_remove_wait_queue() — unhook `entry` and take the count. */
  removeWaitQueue(entry: EventfdWaitEntry): bigint {
    this.checkLive();
    const taken = this.doRead();
    const at = this.waiters.indexOf(entry);
    if (at >= 0) this.waiters.splice(at, 1);
    if (taken !== 0n) this.wakeUp(POLLOUT);
    return taken;
  }
}

function ctxOf(file: File): EventfdCtx {
  return file.privateData as EventfdCtx;
}

function sleeper(what: string, file: File, current: Task): string {
  return `${what}(${file.path}) by pid ${current.pid} (${current.comm})`;
}

/** fs/eventfd.c: eventfd_read() — 8 bytes of counter, sleeping while it is 0. */
function eventfdRead(file: File, current: Task, va: number, count: number): number {
  const fn = "eventfd_read";
  const ctx = ctxOf(file);
  if (count < EVENTFD_XFER) throw new SysError("EINVAL", fn, `${count}-byte buffer, need 8`);
  if (ctx.count === 0n) {
    if (file.flags & O_NONBLOCK) throw new SysError("EAGAIN", fn, "counter is 0");
    ctx.scheduler.sleepUntil(() => ctx.count !== 0n, sleeper("read", file, current));
  }
  const value = ctx.doRead();
  ctx.wakeUp(POLLOUT);
  // The counter is consumed before the copy, as in Linux: a bad buffer loses the events.
  putUser(current.mm, u64, va, value, fn);
  return EVENTFD_XFER;
}

/** fs/eventfd.c: eventfd_write() — add a u64, sleeping while it would reach ULLONG_MAX. */
function eventfdWrite(file: File, current: Task, va: number, count: number): number {
  const fn = "eventfd_write";
  const ctx = ctxOf(file);
  if (count < EVENTFD_XFER) throw new SysError("EINVAL", fn, `${count}-byte buffer, need 8`);
  const value = getUser(current.mm, u64, va, fn);
  if (value === ULLONG_MAX) throw new SysError("EINVAL", fn, "0xffffffffffffffff is reserved");
  const fits = () => ULLONG_MAX - ctx.count > value;
  if (!fits()) {
    if (file.flags & O_NONBLOCK) throw new SysError("EAGAIN", fn, "counter would overflow");
    ctx.scheduler.sleepUntil(fits, sleeper("write", file, current));
  }
  ctx.add(value);
  return EVENTFD_XFER;
}

/** fs/eventfd.c: eventfd_release() — wake waiters with EPOLLHUP, drop the file's reference. */
function eventfdRelease(_inode: Inode, file: File): void {
  const ctx = ctxOf(file);
  ctx.wakeUp(POLLHUP);
  ctx.put();
}

/** fs/eventfd.c: eventfd_fops — identity of this object is what marks a file as an eventfd. */
export const EVENTFD_FOPS: FileOperations = Object.freeze({
  release: eventfdRelease,
  poll: (file: File) => ctxOf(file).poll(),
  read: (file: File, current: Task, va: number, count: number) =>
    eventfdRead(file, current, va, count),
  write: (file: File, current: Task, va: number, count: number) =>
    eventfdWrite(file, current, va, count),
  // fs/read_write.c: noop_llseek() — the position never moves, and lseek succeeds.
  llseek: (file: File) => file.pos,
});

/** A u32 the way C converts an integer argument to `unsigned int`. */
function toUnsignedInt(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what}: ${value} is not an integer`);
  return BigInt.asUintN(32, BigInt(value));
}

/**
 * fs/eventfd.c: do_eventfd() up to the fd: checks the flags (EINVAL for any outside
 * EFD_FLAGS_SET) and returns the new `[eventfd]` file, opened O_RDWR plus the caller's
 * O_NONBLOCK. `initval` is an `unsigned int`, converted as C does.
 */
export function eventfdFileCreate(initval: number, flags: number, scheduler: Scheduler): File {
  if ((flags & ~EFD_FLAGS_SET) !== 0) {
    throw new SysError("EINVAL", "do_eventfd", `unknown flags 0x${(flags >>> 0).toString(16)}`);
  }
  const ctx = new EventfdCtx(toUnsignedInt(initval, "eventfd2"), flags, scheduler);
  return anonInodeGetfile("[eventfd]", EVENTFD_FOPS, ctx, O_RDWR | (flags & O_NONBLOCK));
}

export interface Eventfd2Deps {
  readonly scheduler: Scheduler;
  /**
   * get_unused_fd_flags() + fd_install(): puts `file` at the lowest free fd, with FD_CLOEXEC
   * if `oflags` has O_CLOEXEC, and returns it (EMFILE when the table is full).
   */
  installFd(file: File, oflags: number): number;
}

/**
 * fs/eventfd.c: eventfd2(2) — flags are checked before an fd is taken, so bad flags are EINVAL
 * even with a full fd table; if no fd is free the context is dropped again.
 */
export function eventfd2(initval: number, flags: number, deps: Eventfd2Deps): number {
  const file = eventfdFileCreate(initval, flags, deps.scheduler);
  return deps.installFd(file, O_RDWR | (flags & EFD_SHARED_FCNTL_FLAGS));
}

/** Whether `file` is an eventfd (its f_op is eventfd_fops). */
export function isEventfdFile(file: File): boolean {
  return file.fOp === EVENTFD_FOPS;
}

/**
 * fs/eventfd.c: eventfd_ctx_fileget() — a counted reference to the context behind `file`, or
 * EINVAL when the file is not an eventfd. Drop it with `eventfdCtxPut`.
 */
export function eventfdCtxFileget(file: File): EventfdCtx {
  if (!isEventfdFile(file)) {
    throw new SysError("EINVAL", "eventfd_ctx_fileget", `${file.path} is not an eventfd`);
  }
  return ctxOf(file).get();
}

/**
 * fs/eventfd.c: eventfd_ctx_fdget() — the same by descriptor: EBADF when `fget` finds no file,
 * EINVAL when it is not an eventfd (how VFIO_DEVICE_SET_IRQS refuses a bad trigger fd).
 */
export function eventfdCtxFdget(fd: number, fget: (fd: number) => File | undefined): EventfdCtx {
  const file = fd >= 0 ? fget(fd) : undefined;
  if (!file) throw new SysError("EBADF", "eventfd_ctx_fdget", `fd ${fd}`);
  return eventfdCtxFileget(file);
}

/** fs/eventfd.c: eventfd_ctx_put(). */
export function eventfdCtxPut(ctx: EventfdCtx): void {
  ctx.put();
}

/** include/linux/eventfd.h: eventfd_signal() — add 1 and wake readers (never blocks). */
export function eventfdSignal(ctx: EventfdCtx): void {
  ctx.signalMask(0);
}

/** fs/eventfd.c: eventfd_signal_mask() — eventfd_signal() with extra poll bits for the waiters. */
export function eventfdSignalMask(ctx: EventfdCtx, mask: number): void {
  ctx.signalMask(mask);
}

/** fs/eventfd.c: eventfd_ctx_do_read() — for a waiter that consumes the count itself. */
export function eventfdCtxDoRead(ctx: EventfdCtx): bigint {
  return ctx.doRead();
}

/** Hooks `func` on the context's wait queue (what virqfd's poll-table callback does). */
export function eventfdCtxAddWaitQueue(ctx: EventfdCtx, func: EventfdWakeFunc): EventfdWaitEntry {
  return ctx.addWaitQueue(func);
}

/** fs/eventfd.c: eventfd_ctx_remove_wait_queue() — unhooks and returns the count it took (0n ≙ EAGAIN). */
export function eventfdCtxRemoveWaitQueue(ctx: EventfdCtx, entry: EventfdWaitEntry): bigint {
  return ctx.removeWaitQueue(entry);
}

/** The current counter (for tests and traces). */
export function eventfdCount(ctx: EventfdCtx): bigint {
  return ctx.count;
}
