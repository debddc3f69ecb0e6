import { fc, test as fcTest } from "@fast-check/vitest";
import { beforeAll, describe, expect, test } from "vitest";
import { setupKernelMatchers } from "../testing/matchers.js";
import {
  kstrtobool,
  kstrtoint,
  kstrtoll,
  kstrtos8,
  kstrtou8,
  kstrtouint,
  kstrtoull,
} from "./kstrtox.js";

beforeAll(() => setupKernelMatchers());

describe("kstrto*()", () => {
  test("base 0 detects hexadecimal, octal and decimal", () => {
    expect(kstrtoint("42")).toBe(42);
    expect(kstrtoint("0x2a")).toBe(42);
    expect(kstrtoint("0X2A")).toBe(42);
    expect(kstrtoint("052")).toBe(42);
    expect(kstrtoint("0")).toBe(0);
    expect(kstrtoint("+7")).toBe(7);
    expect(kstrtoint("-7")).toBe(-7);
    expect(kstrtoint("-0x10")).toBe(-16);
  });

  test("one trailing newline is accepted, nothing else", () => {
    expect(kstrtouint("5\n")).toBe(5);
    for (const bad of ["5\n\n", "5 ", " 5", "5x", "", "\n", "+", "-", "0x", "08", "1_000"]) {
      expect(() => kstrtouint(bad), JSON.stringify(bad)).toThrowErrno("EINVAL");
    }
  });

  test("unsigned types take no minus sign", () => {
    expect(() => kstrtouint("-1")).toThrowErrno("EINVAL");
    expect(() => kstrtoull("-0")).toThrowErrno("EINVAL");
  });

  test("ERANGE past the type's range or 64 bits", () => {
    expect(kstrtoint("2147483647")).toBe(2147483647);
    expect(kstrtoint("-2147483648")).toBe(-2147483648);
    expect(() => kstrtoint("2147483648")).toThrowErrno("ERANGE");
    expect(() => kstrtoint("-2147483649")).toThrowErrno("ERANGE");
    expect(kstrtouint("0xffffffff")).toBe(0xffffffff);
    expect(() => kstrtouint("0x100000000")).toThrowErrno("ERANGE");
    expect(() => kstrtou8("256")).toThrowErrno("ERANGE");
    expect(kstrtos8("-128")).toBe(-128);
    expect(kstrtoull("18446744073709551615")).toBe(2n ** 64n - 1n);
    expect(() => kstrtoull("18446744073709551616")).toThrowErrno("ERANGE");
    expect(kstrtoll("-9223372036854775808")).toBe(-(2n ** 63n));
    expect(() => kstrtoll("9223372036854775808")).toThrowErrno("ERANGE");
    expect(() => kstrtoll("-9223372036854775809")).toThrowErrno("ERANGE");
  });

  test("an overflow found while parsing wins over trailing junk", () => {
    expect(() => kstrtoull("99999999999999999999999x")).toThrowErrno("ERANGE");
  });

  test("errors name the caller's function", () => {
    let fn = "";
    try {
      kstrtoint("x", 0, "param_set_int");
    } catch (e) {
      fn = (e as { fn: string }).fn;
    }
    expect(fn).toBe("param_set_int");
  });

  fcTest.prop([fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })])(
    "every int reads back from its decimal, hexadecimal and octal forms",
    (n) => {
      const sign = n < 0 ? "-" : "";
      const abs = Math.abs(n);
      expect(kstrtoint(String(n))).toBe(n);
      expect(kstrtoint(`${sign}0x${abs.toString(16)}`)).toBe(n);
      expect(kstrtoint(`${sign}0${abs.toString(8)}`)).toBe(n);
    },
  );

  fcTest.prop([fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })])("every u64 reads back", (n) => {
    expect(kstrtoull(`${n}\n`)).toBe(n);
  });
});

describe("kstrtobool()", () => {
  test("takes the first character, or the second after an o", () => {
    for (const t of ["1", "y", "Y", "yes", "t", "true", "e", "Enable", "on", "ON", "1abc"]) {
      expect(kstrtobool(t), t).toBe(true);
    }
    for (const f of ["0", "n", "N", "no", "f", "false", "d", "disable", "off", "oF"]) {
      expect(kstrtobool(f), f).toBe(false);
    }
  });

  test("EINVAL for anything else", () => {
    for (const bad of ["", "2", "o", "ok", " y", "x"]) {
      expect(() => kstrtobool(bad), JSON.stringify(bad)).toThrowErrno("EINVAL");
    }
    expect(() => kstrtobool(null)).toThrowErrno("EINVAL");
  });
});
