/**
 * VFIO's irqfd (drivers/vfio/virqfd.c): an eventfd whose signals call into a bus driver — how
 * user space (or KVM) unmasks a level interrupt with VFIO_IRQ_SET_DATA_EVENTFD |
 * VFIO_IRQ_SET_ACTION_UNMASK instead of an ioctl per interrupt.
 *
 * The driver's `handler(opaque, data)` runs in the signaller's context, inside the eventfd's
 * wake-up (it must not sleep, and an eventfd it signals from there is dropped, as Linux
 * drops a recursive eventfd_signal()); if it returns true, `thread(opaque, data)` runs later,
 * from a work item. The count is consumed at each signal, so user space reading the eventfd
 * sees nothing. Closing the eventfd tears the virqfd down; so does vfioVirqfdDisable().
 *
 * Timing, on the kernel's virtual clock: a work item is an event scheduled with no delay, so
 * it runs the next time virtual time is run (any blocking call, `soc.runUntilIdle()`) after
 * everything already due, as a kworker would run it after the waker returns. The two flushes
 * run pending items at once, in the order they were queued: vfioVirqfdDisable() and
 * vfioVirqfdFlushThread() end with flush_workqueue() of the single-threaded cleanup queue,
 * and a shutdown flushes the virqfd's pending `thread` first.
 *
 *   enable ──signal──▶ handler ─true─▶ thread (deferred)
 *     │                                   ▲ flushed by shutdown / flushThread
 *     ├──close of the eventfd (EPOLLHUP)──▶ slot emptied, shutdown queued (deferred)
 *     └──disable──────────────────────────▶ slot emptied, shutdown queued and flushed
 *
 * Caveat:
 * - `virqfd_lock` and the waitqueue lock are not modelled: the simulation has one thread, so
 *   the races they close cannot happen.
 * - The cleanup queue exists per kernel from first use; vfioVirqfdInit()/vfioVirqfdExit() are
 *   what vfio_init()/vfio_cleanup() call (create_singlethread_workqueue() cannot fail here).
 */

import type { ScheduledEvent } from "@vfio-lab/hw-soc";
import {
  type EventfdCtx,
  type EventfdWaitEntry,
  eventfdCtxDoRead,
  eventfdCtxFileget,
  eventfdCtxPut,
  eventfdCtxRemoveWaitQueue,
  type Kernel,
  POLLHUP,
  POLLIN,
  SysError,
  type Task,
} from "@vfio-lab/kernel";

/** A `work_struct` on the virtual clock: queued at most once until it has run. */
class Work {
  private event: ScheduledEvent | null = null;

  constructor(
    private readonly kernel: Kernel,
    private readonly label: string,
    private readonly func: () => void,
  ) {}

  get pending(): boolean {
    return this.event !== null;
  }

  /** queue_work() — false when already pending. */
  queue(): boolean {
    if (this.event) return false;
    this.event = this.kernel.soc.clock.schedule(0, this.label, () => this.run());
    return true;
  }

  /** flush_work() — a pending item runs now. */
  flush(): void {
    if (!this.event) return;
    this.kernel.soc.clock.cancel(this.event);
    this.run();
  }

  private run(): void {
    this.event = null;
    this.func();
  }
}

/** `vfio_irqfd_cleanup_wq`: single-threaded, so its items run in the order queued. */
class OrderedWorkqueue {
  private queued: Work[] = [];

  queue(work: Work): void {
    // Items the clock already ran need no flushing.
    this.queued = this.queued.filter((w) => w.pending);
    if (work.queue()) this.queued.push(work);
  }

  /** flush_workqueue() */
  flush(): void {
    while (this.queued.length > 0) this.queued.shift()!.flush();
  }
}

const cleanupWqs = new WeakMap<Kernel, OrderedWorkqueue>();

function cleanupWq(kernel: Kernel): OrderedWorkqueue {
  let wq = cleanupWqs.get(kernel);
  if (!wq) {
    wq = new OrderedWorkqueue();
    cleanupWqs.set(kernel, wq);
  }
  return wq;
}

/** virqfd.c: vfio_virqfd_init() — create_singlethread_workqueue("vfio-irqfd-cleanup"). */
export function vfioVirqfdInit(kernel: Kernel): void {
  cleanupWq(kernel);
}

/** virqfd.c: vfio_virqfd_exit() — destroy_workqueue() drains what is left. */
export function vfioVirqfdExit(kernel: Kernel): void {
  cleanupWqs.get(kernel)?.flush();
  cleanupWqs.delete(kernel);
}

/** The driver's fast path: true asks for `thread` (C: a non-zero int). */
export type VirqfdHandler<O, D> = (opaque: O, data: D) => boolean;
/** The driver's deferred path. */
export type VirqfdThread<O, D> = (opaque: O, data: D) => void;

/**
 * The driver's `struct virqfd *` field that vfio_virqfd_enable() fills and a teardown empties
 * (C passes its address, `struct virqfd **pvirqfd`).
 */
export interface VirqfdSlot {
  virqfd: Virqfd | null;
}

/** `struct virqfd` */
export class Virqfd {
  readonly inject: Work;
  readonly shutdown: Work;
  readonly flushInject: Work;
  wait: EventfdWaitEntry | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly eventfd: EventfdCtx,
    readonly pvirqfd: VirqfdSlot,
    /** `handler` and `thread` with their `opaque` and `data` bound. */
    readonly handler: (() => boolean) | null,
    readonly thread: (() => void) | null,
  ) {
    this.inject = new Work(kernel, "virqfd_inject", () => this.thread?.());
    this.shutdown = new Work(kernel, "virqfd_shutdown", () => virqfdShutdown(this));
    this.flushInject = new Work(kernel, "virqfd_flush_inject", () => this.inject.flush());
  }

  /** The handler when there is one, then `thread` deferred if asked for. */
  fire(): void {
    if ((!this.handler || this.handler()) && this.thread) this.inject.queue();
  }
}

/** virqfd.c: virqfd_deactivate() */
function virqfdDeactivate(virqfd: Virqfd): void {
  cleanupWq(virqfd.kernel).queue(virqfd.shutdown);
}

/**
 * virqfd.c: virqfd_wakeup() — on EPOLLIN the count is taken and the driver called; on EPOLLHUP
 * (the eventfd's file released) the virqfd leaves its slot and is shut down, unless a disable
 * got there first.
 */
function virqfdWakeup(virqfd: Virqfd, mask: number): void {
  if (mask & POLLIN) {
    eventfdCtxDoRead(virqfd.eventfd);
    virqfd.fire();
  }
  if (mask & POLLHUP) {
    if (virqfd.pvirqfd.virqfd === virqfd) {
      virqfd.pvirqfd.virqfd = null;
      virqfdDeactivate(virqfd);
    }
  }
}

/** virqfd.c: virqfd_shutdown() — unhook, let a pending `thread` finish, drop the eventfd. */
function virqfdShutdown(virqfd: Virqfd): void {
  eventfdCtxRemoveWaitQueue(virqfd.eventfd, virqfd.wait!);
  virqfd.inject.flush();
  eventfdCtxPut(virqfd.eventfd);
}

/**
 * virqfd.c: vfio_virqfd_enable() — hooks eventfd `fd` of `current` to the driver: ENOMEM
 * (fault injection), EBADF for no such file, EINVAL for a file that is not an eventfd, EBUSY
 * when `pvirqfd` already holds a virqfd. An eventfd already signalled fires at once (its count
 * is left as it is, as the C leaves it).
 */
export function vfioVirqfdEnable<O, D>(
  kernel: Kernel,
  current: Task,
  opaque: O,
  handler: VirqfdHandler<O, D> | null,
  thread: VirqfdThread<O, D> | null,
  data: D,
  pvirqfd: VirqfdSlot,
  fd: number,
): void {
  const fn = "vfio_virqfd_enable";
  if (kernel.allocator.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn);
  const file = fd >= 0 ? current.fget(fd) : undefined;
  if (!file) throw new SysError("EBADF", fn, `fd ${fd}`);
  try {
    const ctx = eventfdCtxFileget(file);
    if (pvirqfd.virqfd) {
      eventfdCtxPut(ctx);
      throw new SysError("EBUSY", fn, "a virqfd is already set");
    }
    const virqfd = new Virqfd(
      kernel,
      ctx,
      pvirqfd,
      handler ? () => handler(opaque, data) : null,
      thread ? () => thread(opaque, data) : null,
    );
    pvirqfd.virqfd = virqfd;
    virqfd.wait = ctx.addWaitQueue((mask) => virqfdWakeup(virqfd, mask));
    // vfs_poll() (eventfd_poll()): a signal that came before the hook would otherwise be lost.
    if (ctx.poll() & POLLIN) virqfd.fire();
  } finally {
    kernel.vfs.fput(file);
  }
}

/**
 * virqfd.c: vfio_virqfd_disable() — empties the slot and waits for every pending teardown
 * (this one's, or one an eventfd close queued) to finish.
 */
export function vfioVirqfdDisable(kernel: Kernel, pvirqfd: VirqfdSlot): void {
  const virqfd = pvirqfd.virqfd;
  if (virqfd) {
    virqfdDeactivate(virqfd);
    pvirqfd.virqfd = null;
  }
  cleanupWq(kernel).flush();
}

/** virqfd.c: vfio_virqfd_flush_thread() — a pending `thread` of this virqfd runs now. */
export function vfioVirqfdFlushThread(kernel: Kernel, pvirqfd: VirqfdSlot): void {
  const virqfd = pvirqfd.virqfd;
  if (virqfd?.thread) cleanupWq(kernel).queue(virqfd.flushInject);
  cleanupWq(kernel).flush();
}
