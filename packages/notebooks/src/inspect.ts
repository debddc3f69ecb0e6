/**
 * `console.log` formatting for the notebook runner: what Node's `util.format`/`util.inspect`
 * print with their defaults (depth 2, breakLength 80, compact 3, no colours), re-implemented
 * without `node:util` so that the browser and Node print the same bytes, and so that a
 * notebook's output in the docs matches what tslab printed into the `.ipynb`.
 *
 * Follows `lib/internal/util/inspect.js` (Node 20) for the common shapes: primitives, arrays
 * (with Node's column grouping of more than six entries), typed arrays, Map, Set, plain and class
 * objects, getters, circular references, errors and functions.
 *
 * Caveat:
 * - Errors print as `[Name: message]` plus their own properties, never with a stack: stacks
 *   differ between engines and runs, and this output must be deterministic.
 * - Proxies, WeakMap/WeakSet contents, Promise states, boxed primitives and `showHidden` are not
 *   modelled (they print as objects, or `Promise { <unknown> }`).
 * - Strings are measured in UTF-16 code units, not terminal columns (Node uses display width).
 */

const DEPTH = 2;
const BREAK_LENGTH = 80;
const COMPACT = 3;
const MAX_ARRAY_LENGTH = 100;
const MIN_LINE_WIDTH = 16;

interface Ctx {
  seen: object[];
  circular: Map<object, number>;
  indentationLvl: number;
  currentDepth: number;
}

const IDENTIFIER = /^[a-zA-Z_][a-zA-Z_0-9]*$/;

const META: Record<string, string> = {
  "\b": "\\b",
  "\t": "\\t",
  "\n": "\\n",
  "\f": "\\f",
  "\r": "\\r",
  "\\": "\\\\",
};

/** strEscape(): single quotes unless the string has some and no double quotes (then `"`, then `` ` ``). */
function quote(s: string): string {
  let q = "'";
  if (s.includes("'")) {
    if (!s.includes('"')) q = '"';
    else if (!s.includes("`") && !s.includes("${")) q = "`";
  }
  let out = "";
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === q) out += `\\${q}`;
    else if (META[ch] !== undefined) out += META[ch];
    else if (code < 0x20 || code === 0x7f)
      out += `\\x${code.toString(16).toUpperCase().padStart(2, "0")}`;
    else out += ch;
  }
  return `${q}${out}${q}`;
}

function formatNumber(n: number): string {
  return Object.is(n, -0) ? "-0" : String(n);
}

function formatPrimitive(v: unknown, ctx: Ctx): string {
  switch (typeof v) {
    case "string": {
      // Long multi-line strings inside objects are split after each newline, as Node does.
      if (v.length > MIN_LINE_WIDTH && v.length > BREAK_LENGTH - ctx.indentationLvl - 4) {
        const lines = v.split(/(?<=\n)/);
        if (lines.length > 1)
          return lines.map(quote).join(` +\n${" ".repeat(ctx.indentationLvl + 2)}`);
      }
      return quote(v);
    }
    case "number":
      return formatNumber(v);
    case "bigint":
      return `${v}n`;
    case "symbol":
      return v.toString();
    default:
      return String(v);
  }
}

function functionBase(fn: (...args: never[]) => unknown): string {
  const src = Function.prototype.toString.call(fn);
  const name = fn.name;
  if (src.startsWith("class") && /^class\b/.test(src)) {
    const parent = Object.getPrototypeOf(fn) as { name?: string } | null;
    const ext =
      parent && parent !== Function.prototype && parent.name ? ` extends ${parent.name}` : "";
    return `[class ${name || "(anonymous)"}${ext}]`;
  }
  const ctor = (Object.getPrototypeOf(fn) as { constructor?: { name?: string } } | null)
    ?.constructor?.name;
  const type =
    ctor === "AsyncFunction" || ctor === "GeneratorFunction" || ctor === "AsyncGeneratorFunction"
      ? ctor
      : "Function";
  return name ? `[${type}: ${name}]` : `[${type} (anonymous)]`;
}

function constructorName(obj: object): string | null {
  let proto: unknown = Object.getPrototypeOf(obj);
  while (proto !== null && proto !== undefined) {
    const desc = Object.getOwnPropertyDescriptor(proto, "constructor");
    if (desc && typeof desc.value === "function" && desc.value.name !== "")
      return desc.value.name as string;
    proto = Object.getPrototypeOf(proto);
  }
  return null;
}

function formatKey(key: string | symbol): string {
  if (typeof key === "symbol") return `[${key.toString()}]`;
  return IDENTIFIER.test(key) ? key : quote(key);
}

/** Own enumerable string keys then own enumerable symbols, as Object.keys + getOwnPropertySymbols. */
function ownKeys(obj: object, skipIndices: boolean): (string | symbol)[] {
  let keys: (string | symbol)[] = Object.keys(obj);
  if (skipIndices) keys = keys.filter((k) => !/^(0|[1-9][0-9]*)$/.test(k as string));
  for (const s of Object.getOwnPropertySymbols(obj)) {
    if (Object.getOwnPropertyDescriptor(obj, s)?.enumerable) keys.push(s);
  }
  return keys;
}

function formatProperty(ctx: Ctx, obj: object, key: string | symbol, depth: number): string {
  const desc = Object.getOwnPropertyDescriptor(obj, key);
  let str: string;
  if (desc && desc.get === undefined && desc.set === undefined) {
    ctx.indentationLvl += 2;
    str = formatValue(ctx, desc.value, depth);
    ctx.indentationLvl -= 2;
  } else if (desc?.get !== undefined) {
    str = desc.set !== undefined ? "[Getter/Setter]" : "[Getter]";
  } else if (desc?.set !== undefined) {
    str = "[Setter]";
  } else {
    str = "undefined";
  }
  return `${formatKey(key)}: ${str}`;
}

/** groupArrayElements(): lays out more than six short array entries in aligned columns. */
function groupArrayElements(ctx: Ctx, output: string[], value: unknown[] | null): string[] {
  let totalLength = 0;
  let maxLength = 0;
  let outputLength = output.length;
  if (value !== null && value.length > MAX_ARRAY_LENGTH) outputLength--;
  const separatorSpace = 2;
  const dataLen: number[] = [];
  for (let i = 0; i < outputLength; i++) {
    const len = output[i]!.length;
    dataLen.push(len);
    totalLength += len + separatorSpace;
    if (maxLength < len) maxLength = len;
  }
  const actualMax = maxLength + separatorSpace;
  if (
    actualMax * 3 + ctx.indentationLvl < BREAK_LENGTH &&
    (totalLength / actualMax > 5 || maxLength <= 6)
  ) {
    const averageBias = Math.sqrt(actualMax - totalLength / output.length);
    const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
    const columns = Math.min(
      Math.round(Math.sqrt(2.5 * biasedMax * outputLength) / biasedMax),
      Math.floor((BREAK_LENGTH - ctx.indentationLvl) / actualMax),
      COMPACT * 4,
      15,
    );
    if (columns <= 1) return output;
    const maxLineLength: number[] = [];
    for (let i = 0; i < columns; i++) {
      let lineLength = 0;
      for (let j = i; j < outputLength; j += columns) {
        if (dataLen[j]! > lineLength) lineLength = dataLen[j]!;
      }
      maxLineLength.push(lineLength + separatorSpace);
    }
    const numeric =
      value !== null &&
      output.every((_, i) => typeof value[i] === "number" || typeof value[i] === "bigint");
    const tmp: string[] = [];
    for (let i = 0; i < outputLength; i += columns) {
      const max = Math.min(i + columns, outputLength);
      let str = "";
      let j = i;
      for (; j < max - 1; j++) {
        const cell = `${output[j]}, `;
        str += numeric
          ? cell.padStart(maxLineLength[j - i]!, " ")
          : cell.padEnd(maxLineLength[j - i]!, " ");
      }
      str += numeric
        ? output[j]!.padStart(maxLineLength[j - i]! - separatorSpace, " ")
        : output[j]!;
      tmp.push(str);
    }
    if (outputLength < output.length) tmp.push(output[outputLength]!);
    return tmp;
  }
  return output;
}

/** reduceToSingleString(): one line when it fits and the nesting is shallow, else one entry per line. */
function reduceToSingleString(
  ctx: Ctx,
  output: string[],
  base: string,
  braces: [string, string],
  isArray: boolean,
  depth: number,
  value: unknown[] | null,
): string {
  const entries = output.length;
  if (isArray && entries > 6) output = groupArrayElements(ctx, output, value);
  if (ctx.currentDepth - depth < COMPACT && entries === output.length) {
    const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
    let total = output.length + start;
    let fits = total + output.length <= BREAK_LENGTH;
    for (const o of output) {
      if (!fits) break;
      total += o.length;
      fits = total <= BREAK_LENGTH;
    }
    if (fits && !base.includes("\n")) {
      const joined = output.join(", ");
      if (!joined.includes("\n"))
        return `${base ? `${base} ` : ""}${braces[0]} ${joined} ${braces[1]}`;
    }
  }
  const indentation = `\n${" ".repeat(ctx.indentationLvl)}`;
  return `${base ? `${base} ` : ""}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
}

function isTypedArray(v: object): v is Uint8Array {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function formatValue(ctx: Ctx, value: unknown, depth: number): string {
  if (typeof value !== "object" && typeof value !== "function") return formatPrimitive(value, ctx);
  if (value === null) return "null";
  const obj = value as object;
  if (ctx.seen.includes(obj)) {
    let index = ctx.circular.get(obj);
    if (index === undefined) {
      index = ctx.circular.size + 1;
      ctx.circular.set(obj, index);
    }
    return `[Circular *${index}]`;
  }
  return formatRaw(ctx, obj, depth);
}

function formatRaw(ctx: Ctx, value: object, depth: number): string {
  const ctor = constructorName(value);
  const tag = (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  const tagPart = typeof tag === "string" && tag !== "" && tag !== ctor ? ` [${tag}]` : "";
  const prefixOf = (fallback: string, size = ""): string =>
    ctor === null ? `[${fallback}${size}: null prototype]${tagPart} ` : `${ctor}${size}${tagPart} `;

  let braces: [string, string] = ["{", "}"];
  let base = "";
  let isArray = false;
  let keys: (string | symbol)[];
  let formatter: (d: number) => string[] = () => [];
  let arrayValue: unknown[] | null = null;

  if (Array.isArray(value)) {
    isArray = true;
    arrayValue = value;
    keys = ownKeys(value, true);
    const prefix = ctor !== "Array" || tagPart !== "" ? prefixOf("Array", `(${value.length})`) : "";
    braces = [`${prefix}[`, "]"];
    if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
    formatter = (d) => formatList(ctx, value, value.length, d, (i) => i in value);
  } else if (isTypedArray(value)) {
    isArray = true;
    const arr = Array.from(value as ArrayLike<number | bigint>);
    arrayValue = arr;
    keys = ownKeys(value, true);
    braces = [`${prefixOf(ctor ?? "TypedArray", `(${arr.length})`)}[`, "]"];
    if (arr.length === 0 && keys.length === 0) return `${braces[0]}]`;
    formatter = () => {
      const out = arr.slice(0, MAX_ARRAY_LENGTH).map((n) => formatPrimitive(n, ctx));
      if (arr.length > MAX_ARRAY_LENGTH) out.push(moreItems(arr.length - MAX_ARRAY_LENGTH));
      return out;
    };
  } else if (value instanceof Map) {
    keys = ownKeys(value, false);
    braces = [`${prefixOf("Map", `(${value.size})`)}{`, "}"];
    if (value.size === 0 && keys.length === 0) return `${braces[0]}}`;
    formatter = (d) => {
      const out: string[] = [];
      ctx.indentationLvl += 2;
      for (const [k, v] of value)
        out.push(`${formatValue(ctx, k, d)} => ${formatValue(ctx, v, d)}`);
      ctx.indentationLvl -= 2;
      return out;
    };
  } else if (value instanceof Set) {
    keys = ownKeys(value, false);
    braces = [`${prefixOf("Set", `(${value.size})`)}{`, "}"];
    if (value.size === 0 && keys.length === 0) return `${braces[0]}}`;
    formatter = (d) => {
      const out: string[] = [];
      ctx.indentationLvl += 2;
      for (const v of value) out.push(formatValue(ctx, v, d));
      ctx.indentationLvl -= 2;
      return out;
    };
  } else {
    keys = ownKeys(value, false);
    if (typeof value === "function") {
      base = functionBase(value as (...args: never[]) => unknown);
      if (keys.length === 0) return base;
    } else if (value instanceof Error) {
      base = errorBase(value);
      keys = keys.filter((k) => k !== "stack" && k !== "message");
      if (keys.length === 0) return base;
    } else if (value instanceof RegExp) {
      base = String(value);
      if (keys.length === 0) return base;
    } else if (value instanceof Date) {
      base = Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
      if (keys.length === 0) return base;
    } else if (value instanceof Promise) {
      return "Promise { <unknown> }";
    } else if (ctor === "Object" && tagPart === "") {
      if (keys.length === 0) return "{}";
    } else {
      const prefix = prefixOf("Object");
      if (keys.length === 0) return `${prefix}{}`;
      braces = [`${prefix}{`, "}"];
    }
  }

  if (depth > DEPTH) {
    if (ctor === null) return `[${Array.isArray(value) ? "Array" : "Object"}: null prototype]`;
    return `[${ctor}]`;
  }

  ctx.seen.push(value);
  ctx.currentDepth = depth;
  const output = formatter(depth + 1);
  for (const k of keys) output.push(formatProperty(ctx, value, k, depth + 1));
  ctx.seen.pop();

  let res = reduceToSingleString(ctx, output, base, braces, isArray, depth, arrayValue);
  const ref = ctx.circular.get(value);
  if (ref !== undefined) res = `<ref *${ref}> ${res}`;
  return res;
}

function moreItems(n: number): string {
  return `... ${n} more item${n > 1 ? "s" : ""}`;
}

function formatList(
  ctx: Ctx,
  value: readonly unknown[],
  length: number,
  depth: number,
  has: (i: number) => boolean,
): string[] {
  const out: string[] = [];
  const shown = Math.min(length, MAX_ARRAY_LENGTH);
  let holes = 0;
  const flushHoles = (): void => {
    if (holes > 0) out.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
    holes = 0;
  };
  for (let i = 0; i < shown; i++) {
    if (!has(i)) {
      holes++;
      continue;
    }
    flushHoles();
    ctx.indentationLvl += 2;
    out.push(formatValue(ctx, value[i], depth));
    ctx.indentationLvl -= 2;
  }
  flushHoles();
  if (length > shown) out.push(moreItems(length - shown));
  return out;
}

function errorBase(err: Error): string {
  const name = typeof err.name === "string" && err.name !== "" ? err.name : "Error";
  const message = typeof err.message === "string" ? err.message : "";
  return message === "" ? `[${name}]` : `[${name}: ${message}]`;
}

/** `util.inspect(value)` with Node's defaults and no colours (see the file's caveats). */
export function inspect(value: unknown): string {
  return formatValue(
    { seen: [], circular: new Map(), indentationLvl: 0, currentDepth: 0 },
    value,
    0,
  );
}

function formatSpecifier(spec: string, arg: unknown): string {
  switch (spec) {
    case "s":
      if (typeof arg === "string") return arg;
      if (typeof arg === "bigint") return `${arg}n`;
      if (typeof arg === "symbol") return arg.toString();
      if (typeof arg === "number") return formatNumber(arg);
      if (typeof arg !== "object" || arg === null) return String(arg);
      return inspect(arg);
    case "d":
    case "i": {
      if (typeof arg === "bigint") return `${arg}n`;
      if (typeof arg === "symbol" || (typeof arg === "object" && arg !== null)) return "NaN";
      const n = Number(arg);
      return formatNumber(spec === "i" ? Math.trunc(n) : n);
    }
    case "f":
      return typeof arg === "symbol" ? "NaN" : formatNumber(Number.parseFloat(String(arg)));
    case "j":
      try {
        return JSON.stringify(arg) ?? "undefined";
      } catch {
        return "[Circular]";
      }
    case "o":
    case "O":
      return inspect(arg);
    default:
      return "";
  }
}

/** `util.format(...args)`: printf-style `%s %d %i %f %j %o %O %c %%` in a first string argument. */
export function formatArgs(args: readonly unknown[]): string {
  if (args.length === 0) return "";
  const first = args[0];
  let rest = 1;
  let head: string;
  if (typeof first === "string") {
    if (args.length === 1) return first;
    head = first.replace(/%([sdifjoOc%])/g, (m, spec: string) => {
      if (spec === "%") return "%";
      if (rest >= args.length) return m;
      const arg = args[rest++];
      return spec === "c" ? "" : formatSpecifier(spec, arg);
    });
  } else {
    head = inspect(first);
  }
  const tail = args.slice(rest).map((a) => (typeof a === "string" ? a : inspect(a)));
  return [head, ...tail].join(" ");
}
