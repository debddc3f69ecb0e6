/**
 * The kernel command line: `next_arg()` (lib/cmdline.c) splitting it into `param[=value]`
 * words, and the split init/main.c and modprobe make of them.
 *
 * Words are separated by whitespace; double quotes group spaces into a word and are removed
 * around a value (`foo="a b"`) or around a whole word (`"foo=a b"`). Parsing stops at a bare
 * `--`: what follows is for init (parse_args() returns it as `after_dashes`).
 *
 * A word whose name contains a dot (`vfio.enable_unsafe_noiommu_mode=1`) is a module parameter:
 * the kernel leaves it to modprobe, which reads /proc/cmdline and passes `param=value` to the
 * module (the name up to the first dot, dashes read as underscores) when it loads it. Every
 * other word before `--` is a kernel parameter.
 */

import type { KernelArg } from "./params.js";

/** isspace() of the kernel's ctype for 7-bit characters. */
function isSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\v" || c === "\f" || c === "\r";
}

function skipSpaces(s: string, at: number): number {
  while (at < s.length && isSpace(s[at])) at++;
  return at;
}

/** A C string inside `chars`: from `start` up to the first NUL (null) or the end. */
function cstr(chars: (string | null)[], start: number): string {
  let out = "";
  for (let i = start; i < chars.length && chars[i] !== null; i++) out += chars[i];
  return out;
}

/**
 * lib/cmdline.c: next_arg() — the word starting at `at` (spaces already skipped), and where the
 * next word starts. The C function writes NULs into the buffer to end the name, the value and
 * a closing quote; this replays those writes on a copy of the word.
 */
export function nextArg(s: string, at: number): { arg: KernelArg; next: number } {
  let start = at;
  let inQuote = false;
  let quoted = false;
  if (s[start] === '"') {
    start++;
    inQuote = true;
    quoted = true;
  }
  let i = 0;
  let equals = 0;
  for (; start + i < s.length; i++) {
    const c = s[start + i];
    if (isSpace(c) && !inQuote) break;
    // An '=' as the very first character does not count (equals stays 0, "none").
    if (equals === 0 && c === "=") equals = i;
    if (c === '"') inQuote = !inQuote;
  }
  const chars: (string | null)[] = [...s.slice(start, start + i)];
  let val: string | null = null;
  let valStart = -1;
  if (equals !== 0) {
    chars[equals] = null;
    valStart = equals + 1;
    if (chars[valStart] === '"') {
      valStart++;
      if (chars[i - 1] === '"') chars[i - 1] = null;
    }
  }
  if (quoted && i > 0 && chars[i - 1] === '"') chars[i - 1] = null;
  const param = cstr(chars, 0);
  if (valStart >= 0) val = cstr(chars, valStart);
  let next = start + i;
  if (next < s.length) next++;
  return { arg: { param, val }, next: skipSpaces(s, next) };
}

/** parse_args()' loop without the setting: the words, and the text after a bare `--`. */
export function splitArgs(text: string): { args: KernelArg[]; afterDashes: string | null } {
  const args: KernelArg[] = [];
  let at = skipSpaces(text, 0);
  while (at < text.length) {
    const { arg, next } = nextArg(text, at);
    at = next;
    if (arg.val === null && arg.param === "--") return { args, afterDashes: text.slice(at) };
    args.push(arg);
  }
  return { args, afterDashes: null };
}

/** kmod's modname_normalize(): module names use underscores. */
export function normalizeModuleName(name: string): string {
  return name.replaceAll("-", "_");
}

export interface KernelCmdline {
  /** The command line as given (what /proc/cmdline shows, with a newline). */
  readonly raw: string;
  /** Kernel parameters before `--`, in order (module parameters excluded). */
  readonly params: readonly KernelArg[];
  /** `module.param[=value]` words by normalized module name, in order. */
  readonly moduleParams: ReadonlyMap<string, readonly KernelArg[]>;
  /** What follows a bare `--`: arguments for init, or null without `--`. */
  readonly initArgs: string | null;
}

/** init/main.c + modprobe: splits a boot command line (see the file comment). */
export function parseKernelCmdline(cmdline: string): KernelCmdline {
  const { args, afterDashes } = splitArgs(cmdline);
  const params: KernelArg[] = [];
  const moduleParams = new Map<string, KernelArg[]>();
  for (const arg of args) {
    const dot = arg.param.indexOf(".");
    if (dot <= 0 || dot === arg.param.length - 1) {
      params.push(arg);
      continue;
    }
    const module = normalizeModuleName(arg.param.slice(0, dot));
    let list = moduleParams.get(module);
    if (!list) {
      list = [];
      moduleParams.set(module, list);
    }
    list.push({ param: arg.param.slice(dot + 1), val: arg.val });
  }
  return { raw: cmdline, params, moduleParams, initArgs: afterDashes };
}

/** Quotes a value the way it must be written for next_arg() to give it back. */
export function formatArg(arg: KernelArg): string {
  if (arg.val === null) return arg.param;
  return /[\s"]/.test(arg.val) || arg.val === ""
    ? `${arg.param}="${arg.val}"`
    : `${arg.param}=${arg.val}`;
}
