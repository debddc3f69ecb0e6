/**
 * lib/ratelimit.c: ___ratelimit() — at most `burst` messages per `interval`, counting the
 * suppressed ones and reporting them ("<func>: N callbacks suppressed") when a new interval
 * begins. Time is the virtual clock in jiffies (CONFIG_HZ = 250, as the oracle kernel).
 */

import { KERN_WARNING } from "../printk/levels.js";
import type { Printk } from "../printk/printk.js";

export const HZ = 250;
/** DEFAULT_RATELIMIT_INTERVAL (5 * HZ jiffies) and DEFAULT_RATELIMIT_BURST. */
export const DEFAULT_RATELIMIT_INTERVAL = 5 * HZ;
export const DEFAULT_RATELIMIT_BURST = 10;

const NS_PER_JIFFY = 1_000_000_000 / HZ;

export class RatelimitState {
  private initialized = false;
  private begin = 0;
  private left = 0;
  private missed = 0;

  constructor(
    private readonly now: () => number,
    readonly interval = DEFAULT_RATELIMIT_INTERVAL,
    readonly burst = DEFAULT_RATELIMIT_BURST,
  ) {}

  /** ___ratelimit(rs, func): true when the caller may print. */
  ratelimit(printk: Printk, func: string): boolean {
    const jiffies = Math.floor(this.now() / NS_PER_JIFFY);
    if (this.interval <= 0 || this.burst <= 0) {
      const ok = this.interval === 0 || this.burst > 0;
      if (!ok) this.missed++;
      return ok;
    }
    if (!this.initialized) {
      this.begin = jiffies;
      this.initialized = true;
      this.left = this.burst;
    }
    if (jiffies > this.begin + this.interval) {
      this.left = this.burst;
      this.begin = jiffies;
      if (this.missed) {
        printk.printk(KERN_WARNING, `${func}: ${this.missed} callbacks suppressed`);
        this.missed = 0;
      }
    }
    if (this.left > 0) {
      this.left--;
      return true;
    }
    this.missed++;
    return false;
  }
}
