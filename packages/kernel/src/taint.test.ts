import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { Printk } from "./printk/printk.js";
import {
  TAINT_FLAGS,
  TAINT_FLAGS_COUNT,
  TAINT_FLAGS_MAX,
  TAINT_FWCTL,
  TAINT_PROPRIETARY_MODULE,
  TAINT_USER,
  TAINT_WARN,
  Taint,
  type TaintEvent,
} from "./taint.js";

describe("taint_flags table", () => {
  test("has Linux 7.3's 20 flags with their bits and letters", () => {
    expect(TAINT_FLAGS_COUNT).toBe(20);
    expect(TAINT_FLAGS.map((f) => f.cTrue).join("")).toBe("PFSRMBUDAWCIOELKXTNJ");
    expect(TAINT_FLAGS.map((f) => f.bit)).toEqual([...Array(20).keys()]);
    expect(TAINT_FLAGS[TAINT_USER]).toMatchObject({ name: "TAINT_USER", cTrue: "U", desc: "USER" });
    expect(TAINT_FLAGS[TAINT_PROPRIETARY_MODULE]).toMatchObject({ cTrue: "P", cFalse: "G" });
    expect(TAINT_FLAGS[TAINT_FWCTL]!.name).toBe("TAINT_FWCTL");
    expect(TAINT_FLAGS.slice(1).every((f) => f.cFalse === " ")).toBe(true);
    expect(TAINT_FLAGS_MAX).toBe(0xfffff);
  });
});

describe("Taint", () => {
  test("an untainted kernel reads 0 and prints 'Not tainted'", () => {
    const t = new Taint();
    expect(t.value).toBe(0);
    expect(t.procText).toBe("0\n");
    expect(t.printTainted()).toBe("Not tainted");
    expect(t.printTaintedVerbose()).toBe("Not tainted");
  });

  test("TAINT_USER sets bit 6: 'Tainted: G     U' padded to one column per flag", () => {
    const t = new Taint();
    t.add("TAINT_USER");
    expect(t.value).toBe(64);
    expect(t.procText).toBe("64\n");
    expect(t.printTainted()).toBe(`Tainted: G     U${" ".repeat(13)}`);
    expect(t.printTainted()).toHaveLength("Tainted: ".length + 20);
    expect(t.printTaintedVerbose()).toBe("Tainted: [U]=USER");
    expect(t.test(TAINT_USER)).toBe(true);
    expect(t.test("TAINT_WARN")).toBe(false);
  });

  test("a proprietary module replaces the G with a P; verbose lists every set flag", () => {
    const t = new Taint();
    t.add(TAINT_WARN);
    t.add("TAINT_PROPRIETARY_MODULE");
    expect(t.printTainted()).toBe(`Tainted: P        W${" ".repeat(10)}`);
    expect(t.printTaintedVerbose()).toBe("Tainted: [P]=PROPRIETARY_MODULE, [W]=WARN");
  });

  test("listeners hear every add_taint(), even of a bit already set", () => {
    const t = new Taint();
    const heard: TaintEvent[] = [];
    const stop = t.subscribe((e) => heard.push(e));
    t.add("TAINT_USER");
    t.add("TAINT_USER");
    stop();
    t.add("TAINT_WARN");
    expect(heard).toEqual([
      { flag: "TAINT_USER", bit: 6, letter: "U", value: 64 },
      { flag: "TAINT_USER", bit: 6, letter: "U", value: 64 },
    ]);
  });

  test("LOCKDEP_NOW_UNRELIABLE turns lock debugging off once, with the kernel's warning", () => {
    const printk = new Printk({ now: () => 0 });
    const t = new Taint({ printk });
    t.add("TAINT_USER");
    t.add("TAINT_DIE", "LOCKDEP_NOW_UNRELIABLE");
    t.add("TAINT_BAD_PAGE", "LOCKDEP_NOW_UNRELIABLE");
    expect(printk.records().map((r) => [r.level, r.text])).toEqual([
      [4, "Disabling lock debugging due to kernel taint"],
    ]);
  });

  test("a write to /proc/sys/kernel/tainted only adds bits, and ignores undefined ones", () => {
    const t = new Taint();
    t.add("TAINT_WARN");
    t.procTaintWrite(1n | (1n << 40n));
    expect(t.value).toBe(1 | (1 << TAINT_WARN));
    t.procTaintWrite(0);
    expect(t.value).toBe(1 | (1 << TAINT_WARN));
  });

  test("an unknown flag is a bug of the caller (RangeError)", () => {
    const t = new Taint();
    expect(() => t.add(20)).toThrow(RangeError);
    expect(() => t.add("TAINT_NOPE" as "TAINT_USER")).toThrow(RangeError);
    expect(t.value).toBe(0);
  });

  fcTest.prop([fc.array(fc.integer({ min: 0, max: 19 }), { maxLength: 30 })])(
    "the value is the OR of the flags added, and each one prints its letter",
    (bits) => {
      const t = new Taint();
      for (const b of bits) t.add(b);
      const mask = bits.reduce((m, b) => m | (1 << b), 0);
      expect(t.value).toBe(mask);
      const letters = t.printTainted();
      if (mask === 0) expect(letters).toBe("Not tainted");
      else {
        for (const f of TAINT_FLAGS) {
          const c = letters["Tainted: ".length + f.bit];
          expect(c).toBe(mask & (1 << f.bit) ? f.cTrue : f.cFalse);
        }
      }
    },
  );
});
