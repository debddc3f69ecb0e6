/**
 * Virtual time: a nanosecond clock and an ordered queue of timed callbacks.
 *
 * Nothing in the model reads the wall clock. Time only moves when `run()` / `runUntilIdle()`
 * (or a blocking kernel call built on them) advances it, and callbacks due at the same instant
 * run in the order they were scheduled, so two identical runs produce identical traces.
 *
 * @packageDocumentation
 */

export interface ScheduledEvent {
  readonly at: number;
  readonly label: string;
  /** True once the event has run or was cancelled. */
  readonly done: boolean;
}

interface QueueEntry extends ScheduledEvent {
  at: number;
  label: string;
  done: boolean;
  readonly seq: number;
  readonly callback: () => void;
}

/** Thrown when `runUntilIdle` keeps finding work: a model that never settles is a bug to see. */
export class SimulationStuckError extends Error {
  constructor(label: string, events: number) {
    super(`simulation did not become idle after ${events} events (last: ${label})`);
    this.name = "SimulationStuckError";
  }
}

export class VirtualClock {
  private time = 0;
  private seq = 0;
  /** Binary min-heap ordered by (at, seq). */
  private readonly heap: QueueEntry[] = [];

  /** Current virtual time in nanoseconds. */
  get now(): number {
    return this.time;
  }

  /** Number of events waiting to run. */
  get pending(): number {
    return this.heap.length;
  }

  /** Runs `callback` `delayNs` from now (0 = after everything already due now). */
  schedule(delayNs: number, label: string, callback: () => void): ScheduledEvent {
    if (!(delayNs >= 0) || !Number.isFinite(delayNs)) {
      throw new RangeError(`schedule: delay must be a finite number >= 0, got ${delayNs}`);
    }
    const entry: QueueEntry = {
      at: this.time + delayNs,
      label,
      done: false,
      seq: this.seq++,
      callback,
    };
    this.push(entry);
    return entry;
  }

  /** Cancels an event that has not run yet; cancelling twice or after it ran is harmless. */
  cancel(event: ScheduledEvent): void {
    (event as QueueEntry).done = true;
  }

  /** Time of the next live event, or undefined when idle. */
  nextEventTime(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Advances time by `ns`, running every event due on the way. Returns the events run. */
  run(ns: number): number {
    if (!(ns >= 0) || !Number.isFinite(ns)) {
      throw new RangeError(`run: duration must be a finite number >= 0, got ${ns}`);
    }
    const end = this.time + ns;
    let ran = 0;
    for (;;) {
      this.dropCancelled();
      const head = this.heap[0];
      if (!head || head.at > end) break;
      this.runHead();
      ran++;
    }
    this.time = end;
    return ran;
  }

  /**
   * Runs events until none is left, advancing time to each one. `maxEvents` guards against a
   * model that reschedules itself forever (a free-running timer never goes idle: use `run`).
   */
  runUntilIdle(maxEvents = 10_000_000): number {
    let ran = 0;
    for (;;) {
      this.dropCancelled();
      const head = this.heap[0];
      if (!head) return ran;
      if (ran >= maxEvents) throw new SimulationStuckError(head.label, ran);
      this.runHead();
      ran++;
    }
  }

  /** Runs events until `done()` holds; throws if the queue empties first or `limitNs` passes. */
  runUntil(done: () => boolean, limitNs = Number.POSITIVE_INFINITY): boolean {
    const deadline = this.time + limitNs;
    while (!done()) {
      const at = this.nextEventTime();
      if (at === undefined || at > deadline) return false;
      this.runHead();
    }
    return true;
  }

  private runHead(): void {
    const head = this.pop();
    if (!head) return;
    if (head.at > this.time) this.time = head.at;
    head.done = true;
    head.callback();
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.done) this.pop();
  }

  private less(a: QueueEntry, b: QueueEntry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(entry: QueueEntry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): QueueEntry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && this.less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}
