import { describe, expect, it } from "vitest";
import { SimulationStuckError, VirtualClock } from "./clock.js";

describe("VirtualClock", () => {
  it("starts at zero and only moves when run", () => {
    const c = new VirtualClock();
    expect(c.now).toBe(0);
    c.run(1500);
    expect(c.now).toBe(1500);
  });

  it("runs events in time order, and same-time events in scheduling order", () => {
    const c = new VirtualClock();
    const seen: string[] = [];
    c.schedule(20, "b", () => seen.push(`b@${c.now}`));
    c.schedule(10, "a", () => seen.push(`a@${c.now}`));
    c.schedule(20, "c", () => seen.push(`c@${c.now}`));
    c.schedule(0, "now", () => seen.push(`now@${c.now}`));
    expect(c.run(15)).toBe(2);
    expect(seen).toEqual(["now@0", "a@10"]);
    c.runUntilIdle();
    expect(seen).toEqual(["now@0", "a@10", "b@20", "c@20"]);
    expect(c.now).toBe(20);
  });

  it("skips cancelled events", () => {
    const c = new VirtualClock();
    let ran = false;
    const e = c.schedule(5, "x", () => {
      ran = true;
    });
    c.cancel(e);
    c.cancel(e);
    expect(c.runUntilIdle()).toBe(0);
    expect(ran).toBe(false);
    expect(e.done).toBe(true);
  });

  it("lets an event schedule more events, including at the current instant", () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    c.schedule(10, "outer", () => {
      seen.push(c.now);
      c.schedule(0, "inner", () => seen.push(c.now));
    });
    c.runUntilIdle();
    expect(seen).toEqual([10, 10]);
  });

  it("reports a model that never settles instead of hanging", () => {
    const c = new VirtualClock();
    const tick = () => c.schedule(1, "tick", tick);
    tick();
    expect(() => c.runUntilIdle(1000)).toThrow(SimulationStuckError);
  });

  it("runUntil stops when the condition holds or the queue can no longer help", () => {
    const c = new VirtualClock();
    let flag = false;
    c.schedule(100, "set", () => {
      flag = true;
    });
    expect(c.runUntil(() => flag)).toBe(true);
    expect(c.now).toBe(100);
    expect(c.runUntil(() => false)).toBe(false);
  });

  it("rejects negative or non-finite delays", () => {
    const c = new VirtualClock();
    expect(() => c.schedule(-1, "x", () => {})).toThrow(RangeError);
    expect(() => c.run(Number.NaN)).toThrow(RangeError);
  });
});
