/**
 * Sleeping in a simulation: a blocking call advances virtual time (runs the SoC's event queue)
 * until its condition holds. If the queue empties first, nothing can ever wake the caller and the
 * call fails with a clear simulator error instead of hanging.
 */

import type { VirtualClock } from "@vfio-lab/hw-soc";

/** Thrown when a blocking call could never complete: no pending event can satisfy it. */
export class WouldBlockForeverError extends Error {
  constructor(readonly what: string) {
    super(
      `${what} would block forever: no pending hardware or timer event can wake it (simulation deadlock)`,
    );
    this.name = "WouldBlockForeverError";
  }
}

export class Scheduler {
  constructor(private readonly clock: VirtualClock) {}

  get now(): number {
    return this.clock.now;
  }

  /**
   * Runs the event queue until `condition()` holds, or `timeoutNs` of virtual time passed
   * (returns false then). With no timeout, an empty queue before the condition holds is a
   * `WouldBlockForeverError`.
   */
  sleepUntil(condition: () => boolean, what: string, timeoutNs?: number): boolean {
    if (condition()) return true;
    if (timeoutNs === undefined) {
      const ok = this.clock.runUntil(condition);
      if (!ok) throw new WouldBlockForeverError(what);
      return true;
    }
    const deadline = this.clock.now + timeoutNs;
    const ok = this.clock.runUntil(condition, timeoutNs);
    if (!ok && this.clock.now < deadline) this.clock.run(deadline - this.clock.now);
    return ok || condition();
  }
}
