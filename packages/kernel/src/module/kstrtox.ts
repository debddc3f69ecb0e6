/**
 * String to integer and boolean conversion (lib/kstrtox.c), the parsers behind every module
 * parameter and most sysfs stores.
 *
 * Integers: an optional sign (`+` for all, `-` for signed types only), then digits in base 0
 * (auto: `0x` hexadecimal when a hex digit follows, a leading `0` octal, else decimal), then at
 * most one `\n`. No digits or trailing junk is EINVAL; a value that overflows 64 bits or the
 * target type is ERANGE (an overflow found while parsing wins over trailing junk).
 *
 * Booleans: only the first character counts (`y`/`Y`/`t`/`T`/`e`/`E`/`1` true,
 * `n`/`N`/`f`/`F`/`d`/`D`/`0` false), except `on`/`off`, decided by the second.
 */

import { SysError } from "../errno.js";

const ULLONG_MAX = (1n << 64n) - 1n;

function digitValue(c: string): number {
  const code = c.charCodeAt(0);
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lc = code | 0x20;
  if (lc >= 0x61 && lc <= 0x66) return lc - 0x61 + 10;
  return 99;
}

function isXdigit(c: string | undefined): boolean {
  return c !== undefined && c.length > 0 && digitValue(c) < 16;
}

/** lib/kstrtox.c: _kstrtoull() — `s` without its sign. */
function parseUnsigned(s: string, base: number, fn: string): bigint {
  let at = 0;
  // _parse_integer_fixup_radix()
  if (base === 0) {
    if (s[0] === "0") base = (s[1] ?? "").toLowerCase() === "x" && isXdigit(s[2]) ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && s[0] === "0" && (s[1] ?? "").toLowerCase() === "x") at = 2;
  // _parse_integer()
  let res = 0n;
  let overflow = false;
  const start = at;
  for (; at < s.length; at++) {
    const val = digitValue(s[at]!);
    if (val >= base) break;
    res = res * BigInt(base) + BigInt(val);
    if (res > ULLONG_MAX) {
      overflow = true;
      res &= ULLONG_MAX;
    }
  }
  if (overflow) throw new SysError("ERANGE", fn, `"${s}" overflows 64 bits`);
  if (at === start) throw new SysError("EINVAL", fn, `no digits in "${s}"`);
  if (s[at] === "\n") at++;
  if (at !== s.length) throw new SysError("EINVAL", fn, `trailing characters in "${s}"`);
  return res;
}

/** lib/kstrtox.c: kstrtoull() */
export function kstrtoull(s: string, base = 0, fn = "kstrtoull"): bigint {
  return parseUnsigned(s[0] === "+" ? s.slice(1) : s, base, fn);
}

/** lib/kstrtox.c: kstrtoll() */
export function kstrtoll(s: string, base = 0, fn = "kstrtoll"): bigint {
  if (s[0] === "-") {
    const tmp = parseUnsigned(s.slice(1), base, fn);
    if (tmp > 1n << 63n) throw new SysError("ERANGE", fn, `"${s}" below LLONG_MIN`);
    return -tmp;
  }
  const tmp = kstrtoull(s, base, fn);
  if (tmp >= 1n << 63n) throw new SysError("ERANGE", fn, `"${s}" above LLONG_MAX`);
  return tmp;
}

/** The fixed-width conversions: kstrtoint(), kstrtou16(), … — the 64-bit parse, then a range check. */
function ranged(signed: boolean, bits: number, name: string) {
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  return (s: string, base = 0, fn = name): number => {
    const v = signed ? kstrtoll(s, base, fn) : kstrtoull(s, base, fn);
    if (v < min || v > max) throw new SysError("ERANGE", fn, `"${s}" does not fit ${name}`);
    return Number(v);
  };
}

export const kstrtoint = ranged(true, 32, "kstrtoint");
export const kstrtouint = ranged(false, 32, "kstrtouint");
export const kstrtos16 = ranged(true, 16, "kstrtos16");
export const kstrtou16 = ranged(false, 16, "kstrtou16");
export const kstrtos8 = ranged(true, 8, "kstrtos8");
export const kstrtou8 = ranged(false, 8, "kstrtou8");

/** lib/kstrtox.c: kstrtobool() */
export function kstrtobool(s: string | null, fn = "kstrtobool"): boolean {
  if (s !== null) {
    switch (s[0]) {
      case "e":
      case "E":
      case "y":
      case "Y":
      case "t":
      case "T":
      case "1":
        return true;
      case "d":
      case "D":
      case "n":
      case "N":
      case "f":
      case "F":
      case "0":
        return false;
      case "o":
      case "O":
        if (s[1] === "n" || s[1] === "N") return true;
        if (s[1] === "f" || s[1] === "F") return false;
        break;
    }
  }
  throw new SysError("EINVAL", fn, `"${s ?? "(null)"}" is not a boolean`);
}
