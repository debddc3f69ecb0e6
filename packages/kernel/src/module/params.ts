/**
 * Module parameters (kernel/params.c): the `param_ops_*` of every parameter type (how a value is
 * parsed from text and shown as text), `parse_args()`/`parse_one()` applying `name=value` pairs
 * to a module's parameters, and the sysfs attribute behind
 * /sys/module/<m>/parameters/<name> (`param_attr_show()`/`param_attr_store()`).
 *
 * Set and show follow Linux exactly: bools show `Y`/`N` and accept what kstrtobool() accepts (a
 * bare `name` means `name=1`); integers go through kstrto*() with base 0; charp refuses more
 * than 1024 bytes and string more than maxlen − 1 (ENOSPC, with the kernel's message). A sysfs
 * store passes the written text as is, newline included (a charp keeps it, as in Linux).
 *
 * Caveat: custom `kernel_param_ops` (a module's own set/get callbacks), arrays
 * (`module_param_array`) and `KERNEL_PARAM_FL_HWPARAM` under lockdown are not modelled.
 */

import { SysError } from "../errno.js";
import type { SysfsAttribute } from "../fs/sysfs-api.js";
import { KERN_ERR, KERN_NOTICE } from "../printk/levels.js";
import type { Printk } from "../printk/printk.js";
import type { Taint } from "../taint.js";
import {
  kstrtobool,
  kstrtoint,
  kstrtoll,
  kstrtos16,
  kstrtou8,
  kstrtou16,
  kstrtouint,
  kstrtoull,
} from "./kstrtox.js";
import type { ParamSpec, ParamType, ParamTypeMap } from "./module.js";

/** One `param` or `param=value` of a command line (`val` is null without `=`). */
export interface KernelArg {
  readonly param: string;
  readonly val: string | null;
}

export type ParamValue = ParamTypeMap[ParamType];

/** The live values of one module's parameters, by name. */
export type ParamStore = Record<string, ParamValue>;

/** What setting a parameter may need: the log for its messages, taint for unsafe ones. */
export interface ParamContext {
  readonly printk: Printk;
  readonly taint?: Taint | undefined;
}

interface ParamOps<T extends ParamValue> {
  /** KERNEL_PARAM_OPS_FL_NOARG: `name` alone is allowed (bools). */
  readonly noarg: boolean;
  readonly defaultValue: T;
  set(val: string | null, old: T, spec: ParamSpec, ctx: ParamContext): T;
  get(value: T): string;
}

const utf8 = new TextEncoder();

function integerOps(
  parse: (s: string, base: number, fn: string) => number,
  fn: string,
  show: (v: number) => string = String,
): ParamOps<number> {
  return {
    noarg: false,
    defaultValue: 0,
    set: (val) => parse(val ?? "", 0, fn),
    get: (v) => `${show(v)}\n`,
  };
}

function bigIntegerOps(
  parse: (s: string, base: number, fn: string) => bigint,
  fn: string,
): ParamOps<bigint> {
  return {
    noarg: false,
    defaultValue: 0n,
    set: (val) => parse(val ?? "", 0, fn),
    get: (v) => `${v}\n`,
  };
}

/** `%#08x`: "0x" counts in the width, and zero gets no prefix at all. */
function hexint(v: number): string {
  if (v === 0) return "00000000";
  return `0x${v.toString(16).padStart(6, "0")}`;
}

/** kernel/params.c: param_set_bool() — no value means "1". */
function setBool(val: string | null, fn: string): boolean {
  return kstrtobool(val ?? "1", fn);
}

/** kernel/params.c: the `param_ops_<type>` table. */
const PARAM_OPS: { readonly [T in ParamType]: ParamOps<ParamTypeMap[T]> } = {
  bool: {
    noarg: true,
    defaultValue: false,
    set: (val) => setBool(val, "param_set_bool"),
    get: (v) => (v ? "Y\n" : "N\n"),
  },
  invbool: {
    noarg: true,
    defaultValue: false,
    set: (val) => !setBool(val, "param_set_invbool"),
    get: (v) => (v ? "N\n" : "Y\n"),
  },
  bool_enable_only: {
    noarg: true,
    defaultValue: false,
    /** kernel/params.c: param_set_bool_enable_only() — once set, it stays set. */
    set: (val, old) => {
      const next = setBool(val, "param_set_bool_enable_only");
      if (!next && old) {
        throw new SysError("EROFS", "param_set_bool_enable_only", "cannot be cleared once set");
      }
      return next || old;
    },
    get: (v) => (v ? "Y\n" : "N\n"),
  },
  byte: integerOps(kstrtou8, "param_set_byte"),
  short: integerOps(kstrtos16, "param_set_short"),
  ushort: integerOps(kstrtou16, "param_set_ushort"),
  int: integerOps(kstrtoint, "param_set_int"),
  uint: integerOps(kstrtouint, "param_set_uint"),
  hexint: integerOps(kstrtouint, "param_set_hexint", hexint),
  long: bigIntegerOps(kstrtoll, "param_set_long"),
  ulong: bigIntegerOps(kstrtoull, "param_set_ulong"),
  ullong: bigIntegerOps(kstrtoull, "param_set_ullong"),
  charp: {
    noarg: false,
    defaultValue: null,
    /** kernel/params.c: param_set_charp() — at most 1024 bytes. */
    set: (val, _old, spec, ctx) => {
      const text = val ?? "";
      if (utf8.encode(text).length > 1024) {
        ctx.printk.printk(KERN_ERR, `${spec.name}: string parameter too long`);
        throw new SysError("ENOSPC", "param_set_charp", `${spec.name} longer than 1024 bytes`);
      }
      return text;
    },
    get: (v) => `${v ?? "(null)"}\n`,
  },
  string: {
    noarg: false,
    defaultValue: "",
    /** kernel/params.c: param_set_copystring() — must fit the char array with its NUL. */
    set: (val, _old, spec, ctx) => {
      const text = val ?? "";
      const maxlen = spec.maxlen ?? 0;
      if (utf8.encode(text).length >= maxlen) {
        ctx.printk.printk(KERN_ERR, `${spec.name}: string doesn't fit in ${maxlen - 1} chars.`);
        throw new SysError("ENOSPC", "param_set_copystring", `${spec.name} holds ${maxlen - 1}`);
      }
      return text;
    },
    get: (v) => `${v}\n`,
  },
};

function opsOf(spec: ParamSpec): ParamOps<ParamValue> {
  const ops = PARAM_OPS[spec.type] as ParamOps<ParamValue> | undefined;
  if (!ops) throw new TypeError(`module parameter ${spec.name}: unknown type ${spec.type}`);
  return ops;
}

/** The value a parameter starts with: its declared default, else the type's zero. */
export function paramDefault(spec: ParamSpec): ParamValue {
  return spec.default !== undefined ? spec.default : opsOf(spec).defaultValue;
}

/** A fresh store holding every parameter's initial value (a module's variables at load). */
export function newParamStore(specs: readonly ParamSpec[]): ParamStore {
  const store: ParamStore = {};
  for (const spec of specs) {
    if (spec.type === "string" && !(spec.maxlen && spec.maxlen > 0)) {
      throw new TypeError(`module parameter ${spec.name}: type "string" needs maxlen`);
    }
    store[spec.name] = paramDefault(spec);
  }
  return store;
}

/**
 * kernel/params.c: param_check_unsafe() — an unsafe parameter may be set, but taints the
 * kernel and says so.
 */
function checkUnsafe(spec: ParamSpec, ctx: ParamContext): void {
  if (!spec.unsafe) return;
  ctx.printk.printk(KERN_NOTICE, `Setting dangerous option ${spec.name} - tainting kernel`);
  ctx.taint?.add("TAINT_USER");
}

/** The `ops->set()` of the parameter's type, storing the new value; nothing changes on error. */
export function paramSet(
  spec: ParamSpec,
  val: string | null,
  store: ParamStore,
  ctx: ParamContext,
): void {
  checkUnsafe(spec, ctx);
  store[spec.name] = opsOf(spec).set(val, store[spec.name] ?? paramDefault(spec), spec, ctx);
}

/** The `ops->get()` of the parameter's type: the text a read of its sysfs file returns. */
export function paramGet(spec: ParamSpec, store: ParamStore): string {
  return opsOf(spec).get(store[spec.name] ?? paramDefault(spec));
}

/** kernel/params.c: parameq() — names match with `-` and `_` interchangeable. */
export function parameq(a: string, b: string): boolean {
  return a.length === b.length && a.replaceAll("-", "_") === b.replaceAll("-", "_");
}

/**
 * kernel/params.c: parse_one() — set the parameter `param` names, or hand it to `unknown`;
 * ENOENT when nobody takes it. A missing value is EINVAL for types that need one.
 */
function parseOne(
  arg: KernelArg,
  specs: readonly ParamSpec[],
  store: ParamStore,
  ctx: ParamContext,
  unknown: ((arg: KernelArg) => void) | undefined,
): void {
  const spec = specs.find((s) => parameq(arg.param, s.name));
  if (spec) {
    if (arg.val === null && !opsOf(spec).noarg) {
      throw new SysError("EINVAL", "parse_one", `${spec.name} needs a value`);
    }
    paramSet(spec, arg.val, store, ctx);
    return;
  }
  if (unknown) {
    unknown(arg);
    return;
  }
  throw new SysError("ENOENT", "parse_one", `unknown parameter ${arg.param}`);
}

/**
 * kernel/params.c: parse_args() — applies each argument in order, logging each failure
 * ("`val' invalid for parameter `name'") and carrying on; the last failure is then thrown. The
 * arguments set before or after a bad one keep their values in `store` (the caller discards it).
 */
export function parseArgs(
  doing: string,
  args: readonly KernelArg[],
  specs: readonly ParamSpec[],
  store: ParamStore,
  ctx: ParamContext,
  unknown?: (arg: KernelArg) => void,
): void {
  let last: SysError | undefined;
  for (const arg of args) {
    try {
      parseOne(arg, specs, store, ctx, unknown);
    } catch (err) {
      if (!SysError.isInstance(err)) throw err;
      const val = arg.val ?? "";
      if (err.code === "ENOENT")
        ctx.printk.printk(KERN_ERR, `${doing}: Unknown parameter \`${arg.param}'`);
      else if (err.code === "ENOSPC") {
        ctx.printk.printk(KERN_ERR, `${doing}: \`${val}' too large for parameter \`${arg.param}'`);
      } else {
        ctx.printk.printk(KERN_ERR, `${doing}: \`${val}' invalid for parameter \`${arg.param}'`);
      }
      last = err;
    }
  }
  if (last) throw last;
}

/**
 * kernel/params.c: param_attr_show()/param_attr_store() — the sysfs file of one parameter. Its
 * mode is the parameter's perm; a parameter without write bits gets no store (kernfs refuses to
 * open such a file for writing, so it can never be reached).
 */
export function paramAttribute(
  spec: ParamSpec,
  store: ParamStore,
  ctx: ParamContext,
): SysfsAttribute {
  const show = () => paramGet(spec, store);
  if ((spec.perm & 0o222) === 0) return { mode: spec.perm, show };
  return { mode: spec.perm, show, store: (text: string) => paramSet(spec, text, store, ctx) };
}
