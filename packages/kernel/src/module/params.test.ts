import { beforeAll, describe, expect, test } from "vitest";
import { Printk } from "../printk/printk.js";
import { Taint } from "../taint.js";
import { setupKernelMatchers } from "../testing/matchers.js";
import { moduleParam, type ParamSpec } from "./module.js";
import {
  newParamStore,
  type ParamContext,
  paramAttribute,
  parameq,
  paramGet,
  paramSet,
  parseArgs,
} from "./params.js";

beforeAll(() => setupKernelMatchers());

function ctx(): ParamContext & { printk: Printk; taint: Taint; log(): string[] } {
  const printk = new Printk({ now: () => 0 });
  const taint = new Taint({ printk });
  return { printk, taint, log: () => printk.records().map((r) => r.text) };
}

const p = {
  flag: moduleParam("flag", "bool", { perm: 0o644 }),
  inv: moduleParam("inv", "invbool", { perm: 0o644 }),
  once: moduleParam("once", "bool_enable_only", { perm: 0o644 }),
  n: moduleParam("n", "int", { perm: 0o444, default: -3 }),
  u: moduleParam("u", "uint", { perm: 0o644 }),
  b: moduleParam("b", "byte", { perm: 0o644 }),
  h: moduleParam("h", "hexint", { perm: 0o644 }),
  big: moduleParam("big", "ulong", { perm: 0o644 }),
  s: moduleParam("s", "charp", { perm: 0o644 }),
  fixed: moduleParam("fixed", "string", { perm: 0o644, maxlen: 4 }),
  danger: moduleParam("danger", "bool", { perm: 0o644, unsafe: true }),
  hidden: moduleParam("hidden", "int", { perm: 0 }),
};
const specs: ParamSpec[] = Object.values(p);

describe("param ops", () => {
  test("values start at their default, else the type's zero", () => {
    const store = newParamStore(specs);
    expect(store).toMatchObject({ flag: false, n: -3, u: 0, big: 0n, s: null, fixed: "" });
    expect(specs.map((s) => paramGet(s, store))).toEqual([
      "N\n",
      "Y\n",
      "N\n",
      "-3\n",
      "0\n",
      "0\n",
      "00000000\n",
      "0\n",
      "(null)\n",
      "\n",
      "N\n",
      "0\n",
    ]);
  });

  test("bool shows Y/N; a bare name means 1; kstrtobool's words are accepted", () => {
    const c = ctx();
    const store = newParamStore(specs);
    paramSet(p.flag, null, store, c);
    expect(paramGet(p.flag, store)).toBe("Y\n");
    paramSet(p.flag, "off", store, c);
    expect(store.flag).toBe(false);
    paramSet(p.flag, "Yes\n", store, c);
    expect(store.flag).toBe(true);
    expect(() => paramSet(p.flag, "maybe", store, c)).toThrowErrno("EINVAL");
    expect(store.flag).toBe(true);
  });

  test("invbool stores the inverse and shows what would set it", () => {
    const store = newParamStore(specs);
    paramSet(p.inv, "1", store, ctx());
    expect(store.inv).toBe(false);
    expect(paramGet(p.inv, store)).toBe("Y\n");
  });

  test("bool_enable_only: EROFS once set, setting it again is fine", () => {
    const c = ctx();
    const store = newParamStore(specs);
    paramSet(p.once, "0", store, c);
    paramSet(p.once, "1", store, c);
    paramSet(p.once, "y", store, c);
    expect(() => paramSet(p.once, "0", store, c)).toThrowErrno("EROFS");
    expect(store.once).toBe(true);
  });

  test("integers parse in base 0 and refuse what does not fit (EINVAL, ERANGE)", () => {
    const c = ctx();
    const store = newParamStore(specs);
    paramSet(p.u, "0x10\n", store, c);
    expect(paramGet(p.u, store)).toBe("16\n");
    expect(() => paramSet(p.u, "-1", store, c)).toThrowErrno("EINVAL");
    expect(() => paramSet(p.b, "300", store, c)).toThrowErrno("ERANGE");
    paramSet(p.h, "0x1234", store, c);
    expect(paramGet(p.h, store)).toBe("0x001234\n");
    paramSet(p.big, "18446744073709551615", store, c);
    expect(paramGet(p.big, store)).toBe("18446744073709551615\n");
    expect(store.u).toBe(16);
  });

  test("charp: 1024 bytes fit, 1025 are ENOSPC with the kernel's message", () => {
    const c = ctx();
    const store = newParamStore(specs);
    paramSet(p.s, "x".repeat(1024), store, c);
    expect(() => paramSet(p.s, "y".repeat(1025), store, c)).toThrowErrno("ENOSPC");
    expect(store.s).toBe("x".repeat(1024));
    expect(c.log()).toEqual(["s: string parameter too long"]);
  });

  test("string: maxlen counts the NUL; ENOSPC with the kernel's message", () => {
    const c = ctx();
    const store = newParamStore(specs);
    paramSet(p.fixed, "abc", store, c);
    expect(() => paramSet(p.fixed, "abcd", store, c)).toThrowErrno("ENOSPC");
    expect(c.log()).toEqual(["fixed: string doesn't fit in 3 chars."]);
    expect(() => newParamStore([moduleParam("x", "string", { perm: 0 })])).toThrow(TypeError);
  });

  test("setting an unsafe parameter taints the kernel (TAINT_USER) and says so", () => {
    const c = ctx();
    paramSet(p.danger, "1", newParamStore(specs), c);
    expect(c.taint.test("TAINT_USER")).toBe(true);
    expect(c.log()).toEqual(["Setting dangerous option danger - tainting kernel"]);
  });
});

describe("parse_args()", () => {
  test("names match with dashes and underscores interchangeable", () => {
    expect(parameq("enable-unsafe_noiommu", "enable_unsafe-noiommu")).toBe(true);
    expect(parameq("a", "b")).toBe(false);
  });

  test("applies every argument, logs each failure and throws the last one", () => {
    const c = ctx();
    const store = newParamStore(specs);
    expect(() =>
      parseArgs(
        "mymod",
        [
          { param: "u", val: "x" },
          { param: "flag", val: null },
          { param: "s", val: "z".repeat(2000) },
          { param: "n", val: "5" },
        ],
        specs,
        store,
        c,
      ),
    ).toThrowErrno("ENOSPC");
    expect(store).toMatchObject({ flag: true, n: 5, u: 0 });
    expect(c.log()).toEqual([
      "mymod: `x' invalid for parameter `u'",
      "s: string parameter too long",
      `mymod: \`${"z".repeat(2000)}' too large for parameter \`s'`.slice(0, 1023),
    ]);
  });

  test("a parameter that needs a value and has none is EINVAL", () => {
    const c = ctx();
    expect(() =>
      parseArgs("m", [{ param: "n", val: null }], specs, newParamStore(specs), c),
    ).toThrowErrno("EINVAL");
    expect(c.log()).toEqual(["m: `' invalid for parameter `n'"]);
  });

  test("unknown parameters go to the callback, else ENOENT 'Unknown parameter'", () => {
    const c = ctx();
    const unknown: string[] = [];
    parseArgs("m", [{ param: "nope", val: "1" }], specs, newParamStore(specs), c, (a) =>
      unknown.push(a.param),
    );
    expect(unknown).toEqual(["nope"]);
    expect(() =>
      parseArgs("m", [{ param: "nope", val: "1" }], specs, newParamStore(specs), c),
    ).toThrowErrno("ENOENT");
    expect(c.log()).toEqual(["m: Unknown parameter `nope'"]);
  });
});

describe("param sysfs attribute", () => {
  test("mode is the perm; store only with write bits; show reads the live value", () => {
    const c = ctx();
    const store = newParamStore(specs);
    const rw = paramAttribute(p.u, store, c);
    expect(rw.mode).toBe(0o644);
    rw.store?.("7\n");
    expect(store.u).toBe(7);
    expect(rw.show?.()).toBe("7\n");
    const ro = paramAttribute(p.n, store, c);
    expect(ro.mode).toBe(0o444);
    expect(ro.store).toBeUndefined();
  });

  test("a charp written through sysfs keeps the newline, as in Linux", () => {
    const store = newParamStore(specs);
    paramAttribute(p.s, store, ctx()).store?.("abc\n");
    expect(store.s).toBe("abc\n");
    expect(paramGet(p.s, store)).toBe("abc\n\n");
  });
});
