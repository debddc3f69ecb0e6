import { HwTrace } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { KERN_INFO } from "../printk/levels.js";
import { Printk } from "../printk/printk.js";
import { Taint } from "../taint.js";
import {
  isTraceEvent,
  jsonSafe,
  KernelTrace,
  type KernelTraceRecord,
  sysErrorJson,
  toJsonLines,
} from "./trace-bus.js";

function clock() {
  let t = 0;
  return {
    now: () => t,
    advance(ns: number) {
      t += ns;
    },
  };
}

describe("KernelTrace", () => {
  test("stamps each event with the virtual time, time first", () => {
    const c = clock();
    const trace = new KernelTrace(c.now);
    const rec = trace.record();
    c.advance(1500);
    trace.emit({ type: "module", action: "load", name: "vfio" });
    rec.stop();
    expect(rec.records).toEqual([{ time: 1500, type: "module", action: "load", name: "vfio" }]);
    expect(Object.keys(rec.records[0]!)[0]).toBe("time");
  });

  test("nothing is delivered, or built, without listeners", () => {
    const trace = new KernelTrace(() => 0);
    expect(trace.enabled).toBe(false);
    const stop = trace.subscribe(() => {});
    expect(trace.enabled).toBe(true);
    stop();
    expect(trace.enabled).toBe(false);
  });

  test("printk records and taints are forwarded", () => {
    const c = clock();
    const trace = new KernelTrace(c.now);
    const printk = new Printk({ now: c.now });
    const taint = new Taint();
    trace.forwardPrintk(printk);
    trace.forwardTaint(taint);
    const rec = trace.record();
    printk.printk(KERN_INFO, "vfio: hello");
    taint.add("TAINT_USER");
    expect(rec.records).toEqual([
      { time: 0, type: "printk", seq: 0, level: 6, facility: 0, text: "vfio: hello" },
      { time: 0, type: "taint", flag: "TAINT_USER", bit: 6, letter: "U", value: 64 },
    ]);
  });

  test("the hardware trace is forwarded at its own time, subscribed only while listened to", () => {
    let hwTime = 42;
    const hw = new HwTrace(() => hwTime);
    const trace = new KernelTrace(() => 0);
    trace.forwardHw(hw);
    expect(hw.enabled).toBe(false);
    const rec = trace.record();
    expect(hw.enabled).toBe(true);
    hw.emit({ type: "guest-error", device: "pl011", message: "bad write" });
    hwTime = 50;
    rec.stop();
    expect(hw.enabled).toBe(false);
    hw.emit({ type: "guest-error", device: "pl011", message: "unseen" });
    expect(rec.records).toEqual([
      {
        time: 42,
        type: "hw",
        record: { time: 42, type: "guest-error", device: "pl011", message: "bad write" },
      },
    ]);
  });

  test("syscall events carry decoded arguments and the result or the error", () => {
    const trace = new KernelTrace(() => 7);
    const rec = trace.record();
    trace.emit({
      type: "syscall",
      pid: 1,
      comm: "qemu",
      name: "ioctl",
      args: jsonSafe({ fd: 3, request: 0x3b6e, iova: 0xffff_ffff_ffff_f000n }) as {
        [k: string]: never;
      },
      error: sysErrorJson(new SysError("EBUSY", "vfio_group_ioctl_set_container")),
    });
    expect(toJsonLines(rec.records)).toBe(
      '{"time":7,"type":"syscall","pid":1,"comm":"qemu","name":"ioctl",' +
        '"args":{"fd":3,"request":15214,"iova":"0xfffffffffffff000"},' +
        '"error":{"errno":16,"code":"EBUSY","fn":"vfio_group_ioctl_set_container"}}\n',
    );
  });

  test("other layers emit namespaced events; isTraceEvent() narrows core ones", () => {
    const trace = new KernelTrace(() => 0);
    const rec = trace.record();
    trace.emit({ type: "vfio:group-open", group: 3 });
    trace.emit({ type: "module", action: "unload", name: "x" });
    const names = rec.records.filter((r) => isTraceEvent(r, "module")).map((r) => r.name);
    expect(names).toEqual(["x"]);
    expect(rec.records[0]).toEqual({ time: 0, type: "vfio:group-open", group: 3 });
  });
});

describe("JSON", () => {
  test("jsonSafe() turns bigints into hex, bytes into numbers, drops undefined", () => {
    expect(
      jsonSafe({
        a: 1n,
        b: -255n,
        c: new Uint8Array([1, 2]),
        d: undefined,
        e: [NaN, Infinity, "s", true, null],
        f: () => 0,
        g: { nested: 2n ** 64n - 1n },
      }),
    ).toEqual({
      a: "0x1",
      b: "-0xff",
      c: [1, 2],
      e: ["NaN", "Infinity", "s", true, null],
      f: null,
      g: { nested: "0xffffffffffffffff" },
    });
  });

  test("identical runs serialise to identical bytes; a stray bigint does not throw", () => {
    const run = () => {
      const c = clock();
      const trace = new KernelTrace(c.now);
      const printk = new Printk({ now: c.now });
      trace.forwardPrintk(printk);
      const rec = trace.record();
      for (let i = 0; i < 3; i++) {
        c.advance(1000);
        printk.printk(KERN_INFO, `line ${i}`);
      }
      trace.emit({ type: "x:raw", value: 5n as unknown as number });
      return toJsonLines(rec.records as KernelTraceRecord[]);
    };
    expect(run()).toBe(run());
    expect(run().split("\n").at(-2)).toBe('{"time":3000,"type":"x:raw","value":"0x5"}');
    expect(toJsonLines([])).toBe("");
  });
});
