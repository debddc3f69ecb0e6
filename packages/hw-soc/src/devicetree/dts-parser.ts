/**
 * A DTS (device tree source) compiler front end that gives the tree Debian's dtc 1.6.1 gives:
 * same language, same merge semantics, same phandle numbers in the same places, so that
 * `encodeFdt(parseDts(src))` equals `dtc -I dts -O dtb src` byte for byte.
 *
 * Models dtc 1.6.1's `dtc-lexer.l` (longest match, lexer start conditions), `dtc-parser.y`,
 * `livetree.c` (merging of repeated nodes, `/delete-*` tombstones that later blocks can revive)
 * and the error-level checks of `checks.c` that change or refuse a tree, run in dtc's order:
 * duplicate names, name characters, `name` properties, duplicate labels, explicit phandles,
 * phandle and path references, `/omit-if-no-ref/`. Phandles are handed out while walking the
 * final tree in document order, first reference first, skipping values already taken, and the new
 * `phandle` property goes last in the node — as `get_node_phandle()` does.
 * The source language is the Devicetree Specification v0.4, chapter 6.
 *
 * Caveat:
 * - No preprocessor, `/include/` or `/incbin/` (errors), and no overlays (`/plugin/` is an error).
 * - dtc's warnings (unit address vs `reg`, `#address-cells` in interrupt providers, …) are not
 *   reported; only its errors are, and only the first: dtc keeps going and lists them all.
 * - Nesting (nodes, parentheses, unary operators) deeper than 512 levels is refused, where dtc
 *   runs out of parser stack somewhere above that.
 * - As in dtc, whose lexer returns a NUL or non-ASCII byte to bison as a character code <= 0, such
 *   a character outside a string or comment ends the input: the rest of the text is ignored.
 * - A tree whose root is deleted (`/delete-node/ &{/};`), which dtc writes as an empty blob, is
 *   refused, since a `DeviceTree` always has a root.
 */

import type { DeviceTree, DtMemoryReservation, DtNode, DtProperty } from "./tree.js";

const DTS_SYNTAX_ERROR_MARKER = Symbol.for("@vfio-lab/hw-soc/DtsSyntaxError");

/** Where in the source a token or construct starts (1-based line and column). */
export interface DtsPosition {
  readonly filename: string;
  readonly line: number;
  readonly column: number;
}

/** A DTS source that dtc would refuse, with where and why, worded as dtc words it. */
export class DtsSyntaxError extends Error {
  readonly [DTS_SYNTAX_ERROR_MARKER] = true;
  readonly filename: string;
  readonly line: number;
  readonly column: number;
  /** The message without the position prefix. */
  readonly reason: string;

  constructor(pos: DtsPosition, reason: string) {
    super(`${pos.filename}:${pos.line}:${pos.column}: ${reason}`);
    this.name = "DtsSyntaxError";
    this.filename = pos.filename;
    this.line = pos.line;
    this.column = pos.column;
    this.reason = reason;
  }

  /** True for a `DtsSyntaxError` from any copy of this package. */
  static isInstance(value: unknown): value is DtsSyntaxError {
    return typeof value === "object" && value !== null && DTS_SYNTAX_ERROR_MARKER in value;
  }
}

export interface ParseDtsOptions {
  /** Name used in error positions (dtc says `<stdin>` for standard input). */
  readonly filename?: string;
}

/** Nesting budget shared by nodes, parentheses and unary operators (see the caveat). */
const MAX_DEPTH = 512;

// =============================================================================================
// Lexer (dtc-lexer.l)

/** flex start conditions: INITIAL until `/dts-v1/`, then V1; PROPNODENAME and BYTESTRING are exclusive. */
enum LexState {
  Initial,
  V1,
  PropNodeName,
  ByteString,
}

type TokenKind =
  | "DT_V1"
  | "DT_PLUGIN"
  | "DT_MEMRESERVE"
  | "DT_BITS"
  | "DT_DEL_PROP"
  | "DT_DEL_NODE"
  | "DT_OMIT_NO_REF"
  | "DT_LABEL"
  | "DT_LITERAL"
  | "DT_CHAR_LITERAL"
  | "DT_REF"
  | "DT_BYTE"
  | "DT_PROPNODENAME"
  | "DT_STRING"
  | "OP"
  | "CHAR"
  | "EOF";

interface Token {
  readonly kind: TokenKind;
  /** The matched source text. */
  readonly text: string;
  readonly pos: DtsPosition;
  /** Label, reference, name, operator or character. */
  readonly str: string;
  /** Integer literal, character literal or byte value. */
  readonly value: bigint;
  /** Decoded string literal bytes (NUL-terminated, as dtc stores it). */
  readonly bytes: number[];
}

const PROPNODECHAR = /[a-zA-Z0-9,._+*#?@-]/;
const PATHCHAR = /[a-zA-Z0-9,._+*#?@/-]/;
const LABEL_START = /[a-zA-Z_]/;
const LABEL_CHAR = /[a-zA-Z0-9_]/;
const HEX = /[0-9a-fA-F]/;
const DIGIT = /[0-9]/;
const WS = /[ \t\n\v\f\r]/;
const OPERATORS = ["<<", ">>", "<=", ">=", "==", "!=", "&&", "||"];
const KEYWORDS: readonly [string, TokenKind, LexState | null][] = [
  ["/dts-v1/", "DT_V1", LexState.V1],
  ["/plugin/", "DT_PLUGIN", null],
  ["/memreserve/", "DT_MEMRESERVE", LexState.V1],
  ["/bits/", "DT_BITS", LexState.V1],
  ["/delete-property/", "DT_DEL_PROP", LexState.PropNodeName],
  ["/delete-node/", "DT_DEL_NODE", LexState.PropNodeName],
  ["/omit-if-no-ref/", "DT_OMIT_NO_REF", LexState.PropNodeName],
];

const utf8 = new TextEncoder();

class Lexer {
  private at = 0;
  private line = 1;
  private col = 1;
  private state = LexState.Initial;
  /** Start of the last text matched, which is where bison places the end of input. */
  private lastMatch: DtsPosition;
  /** Why a stray `/` or `"` appeared, for the syntax error it is bound to cause. */
  hint: string | undefined;

  constructor(
    private readonly src: string,
    private filename: string,
  ) {
    this.lastMatch = this.here();
  }

  private here(): DtsPosition {
    return { filename: this.filename, line: this.line, column: this.col };
  }

  /**
   * Advances over `n` characters, keeping line and column as `srcpos_update()` does: dtc counts
   * bytes, so a character takes as many columns as its UTF-8 encoding has bytes.
   */
  private advance(n: number): void {
    const end = this.at + n;
    for (let i = this.at; i < end; i++) {
      const c = this.src.charCodeAt(i);
      if (c === 10) {
        this.line++;
        this.col = 1;
      } else {
        this.col += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdfff ? 2 : 3;
      }
    }
    this.at = end;
  }

  private ch(i: number): string {
    return this.src.charAt(i);
  }

  next(): Token {
    for (;;) {
      if (this.at >= this.src.length) return this.token("EOF", "", this.lastMatch, {});
      const tok = this.scanOne();
      if (tok !== null) return tok;
    }
  }

  /** One flex match: the longest of every rule active in the current state, earliest rule on ties. */
  private scanOne(): Token | null {
    const s = this.src;
    const i = this.at;
    const st = this.state;
    const inName = st === LexState.PropNodeName;
    const inBytes = st === LexState.ByteString;
    const pos = this.here();

    type Cand = { len: number; act: () => Token | null };
    let best: Cand | null = null;
    const offer = (len: number, act: () => Token | null) => {
      if (len > 0 && (best === null || len > best.len)) best = { len, act };
    };

    // <*>"/include/"{WS}*{STRING}
    if (s.startsWith("/include/", i)) {
      let j = i + 9;
      while (j < s.length && WS.test(this.ch(j))) j++;
      const end = matchString(s, j);
      if (end > 0) {
        offer(end - i, () => {
          throw new DtsSyntaxError(
            pos,
            "/include/ is not supported (pass the included text instead)",
          );
        });
      }
    }
    // <*>^"#"(line)?[ \t]+[0-9]+[ \t]+{STRING}([ \t]+[0-9]+)*
    if (this.ch(i) === "#" && (i === 0 || this.ch(i - 1) === "\n")) {
      const d = matchLineDirective(s, i);
      if (d !== null) {
        offer(d.end - i, () => {
          const fn = escapeBytes(d.fileRaw, pos, '"');
          if (fn.slice(0, -1).includes(0)) {
            throw new DtsSyntaxError(pos, "Lexical error: nul in line number directive");
          }
          this.filename = new TextDecoder().decode(Uint8Array.from(fn.slice(0, -1)));
          this.line = d.line - 1;
          return null;
        });
      }
    }
    // <*>{STRING}
    const strEnd = matchString(s, i);
    if (strEnd > 0) {
      offer(strEnd - i, () => {
        const raw = s.slice(i + 1, strEnd - 1);
        return this.token("DT_STRING", s.slice(i, strEnd), pos, {
          bytes: escapeBytes(raw, pos, '"'),
        });
      });
    }
    // The keywords.
    for (const [word, kind, next] of KEYWORDS) {
      if (s.startsWith(word, i)) {
        offer(word.length, () => {
          if (next !== null) this.state = next;
          return this.token(kind, word, pos, {});
        });
      }
    }
    // <*>{LABEL}:
    if (LABEL_START.test(this.ch(i))) {
      let j = i + 1;
      while (j < s.length && LABEL_CHAR.test(this.ch(j))) j++;
      if (this.ch(j) === ":") {
        offer(j + 1 - i, () =>
          this.token("DT_LABEL", s.slice(i, j + 1), pos, { str: s.slice(i, j) }),
        );
      }
    }
    // <V1>([0-9]+|0[xX][0-9a-fA-F]+)(U|L|UL|LL|ULL)?
    if (st === LexState.V1 && DIGIT.test(this.ch(i))) {
      let j = i + 1;
      while (j < s.length && DIGIT.test(this.ch(j))) j++;
      if (
        this.ch(i) === "0" &&
        (this.ch(i + 1) === "x" || this.ch(i + 1) === "X") &&
        HEX.test(this.ch(i + 2))
      ) {
        let k = i + 3;
        while (k < s.length && HEX.test(this.ch(k))) k++;
        j = Math.max(j, k);
      }
      for (const suffix of ["ULL", "UL", "LL", "U", "L"]) {
        if (s.startsWith(suffix, j)) {
          j += suffix.length;
          break;
        }
      }
      offer(j - i, () => {
        const text = s.slice(i, j);
        return this.token("DT_LITERAL", text, pos, { value: parseLiteral(text, pos) });
      });
    }
    // <*>{CHAR_LITERAL}
    const charEnd = matchCharLiteral(s, i);
    if (charEnd > 0) {
      offer(charEnd - i, () => {
        const raw = s.slice(i + 1, charEnd - 1);
        const d = escapeBytes(raw, pos, "'");
        if (d.length === 1) throw new DtsSyntaxError(pos, "Lexical error: Empty character literal");
        if (d.length > 2) {
          throw new DtsSyntaxError(
            pos,
            `Lexical error: Character literal has ${d.length - 1} characters instead of 1`,
          );
        }
        return this.token("DT_CHAR_LITERAL", s.slice(i, charEnd), pos, {
          value: BigInt(d[0] as number),
        });
      });
    }
    // <*>\&{LABEL} and <*>"&{/"{PATHCHAR}*\}
    if (this.ch(i) === "&") {
      if (LABEL_START.test(this.ch(i + 1))) {
        let j = i + 2;
        while (j < s.length && LABEL_CHAR.test(this.ch(j))) j++;
        offer(j - i, () => this.token("DT_REF", s.slice(i, j), pos, { str: s.slice(i + 1, j) }));
      }
      if (s.startsWith("&{/", i)) {
        let j = i + 3;
        while (j < s.length && PATHCHAR.test(this.ch(j))) j++;
        if (this.ch(j) === "}") {
          offer(j + 1 - i, () =>
            this.token("DT_REF", s.slice(i, j + 1), pos, { str: s.slice(i + 2, j) }),
          );
        }
      }
    }
    // <BYTESTRING>[0-9a-fA-F]{2} and <BYTESTRING>"]"
    if (inBytes) {
      if (HEX.test(this.ch(i)) && HEX.test(this.ch(i + 1))) {
        offer(2, () =>
          this.token("DT_BYTE", s.slice(i, i + 2), pos, {
            value: BigInt(Number.parseInt(s.slice(i, i + 2), 16)),
          }),
        );
      }
      if (this.ch(i) === "]") {
        offer(1, () => {
          this.state = LexState.V1;
          return this.token("CHAR", "]", pos, { str: "]" });
        });
      }
    }
    // <PROPNODENAME>\\?{PROPNODECHAR}+
    if (inName) {
      let j = this.ch(i) === "\\" ? i + 1 : i;
      const start = j;
      while (j < s.length && PROPNODECHAR.test(this.ch(j))) j++;
      if (j > start) {
        offer(j - i, () => {
          this.state = LexState.V1;
          return this.token("DT_PROPNODENAME", s.slice(i, j), pos, { str: s.slice(start, j) });
        });
      }
    }
    // "/incbin/" (INITIAL and the inclusive V1 only)
    if (!inName && !inBytes && s.startsWith("/incbin/", i)) {
      offer(8, () => {
        throw new DtsSyntaxError(pos, "/incbin/ is not supported");
      });
    }
    // <*>{WS}+, <*>{COMMENT}+, <*>{LINECOMMENT}+
    if (WS.test(this.ch(i))) {
      let j = i + 1;
      while (j < s.length && WS.test(this.ch(j))) j++;
      offer(j - i, () => null);
    }
    // A comment without its end is no comment to flex: its '/' becomes a stray character token.
    let unterminated: string | undefined;
    if (s.startsWith("/*", i)) {
      let end = i;
      while (s.startsWith("/*", end)) {
        const close = s.indexOf("*/", end + 2);
        if (close < 0) break;
        end = close + 2;
      }
      if (end > i) offer(end - i, () => null);
      else unterminated = "unterminated /* comment";
    }
    if (s.startsWith("//", i)) {
      let end = i;
      while (s.startsWith("//", end)) {
        const nl = s.indexOf("\n", end + 2);
        if (nl < 0) break;
        end = nl + 1;
      }
      if (end > i) offer(end - i, () => null);
      else unterminated = "a // comment must end with a newline";
    }
    for (const op of OPERATORS) {
      if (s.startsWith(op, i)) offer(2, () => this.token("OP", op, pos, { str: op }));
    }
    // <*>. (not newline, which WS has taken)
    offer(1, () => {
      const c = s.charAt(i);
      // flex hands bison `yytext[0]` as a (signed) char: NUL and every byte of a non-ASCII
      // character come out as codes <= 0, which bison takes for the end of the input.
      if (c === "\0" || c.charCodeAt(0) >= 0x80) return this.token("EOF", c, pos, {});
      if (c === '"') throw new DtsSyntaxError(pos, "unterminated string");
      if (unterminated !== undefined) this.hint ??= unterminated;
      if (c === "[") this.state = LexState.ByteString;
      if (c === "{" || c === ";") this.state = LexState.PropNodeName;
      return this.token("CHAR", c, pos, { str: c });
    });

    const chosen = best as Cand | null;
    if (chosen === null) throw new DtsSyntaxError(pos, "internal lexer error");
    this.lastMatch = pos;
    this.advance(chosen.len);
    return chosen.act();
  }

  private token(
    kind: TokenKind,
    text: string,
    pos: DtsPosition,
    extra: { str?: string; value?: bigint; bytes?: number[] },
  ): Token {
    return {
      kind,
      text,
      pos,
      str: extra.str ?? "",
      value: extra.value ?? 0n,
      bytes: extra.bytes ?? [],
    };
  }
}

/** `\"([^\\"]|\\.)*\"`: end index (exclusive) or -1. A backslash may not escape a newline. */
function matchString(s: string, i: number): number {
  if (s.charAt(i) !== '"') return -1;
  let j = i + 1;
  while (j < s.length) {
    const c = s.charAt(j);
    if (c === '"') return j + 1;
    if (c === "\\") {
      if (j + 1 >= s.length || s.charAt(j + 1) === "\n") return -1;
      j += 2;
    } else {
      j++;
    }
  }
  return -1;
}

/**
 * `'([^']|\\')*'` with flex's longest-match: `\'` may be either a backslash then the closing
 * quote or an escaped quote inside, so both readings are followed at once.
 */
function matchCharLiteral(s: string, i: number): number {
  if (s.charAt(i) !== "'") return -1;
  let inside = true;
  let afterBackslash = false;
  let accept = -1;
  for (let j = i + 1; j < s.length && (inside || afterBackslash); j++) {
    const c = s.charAt(j);
    const nextInside: boolean = (inside && c !== "'") || (afterBackslash && c === "'");
    const nextBackslash: boolean = inside && c === "\\";
    if (inside && c === "'") accept = j + 1;
    inside = nextInside;
    afterBackslash = nextBackslash;
  }
  return accept;
}

function matchLineDirective(
  s: string,
  i: number,
): { end: number; line: number; fileRaw: string } | null {
  let j = i + 1;
  if (s.startsWith("line", j)) j += 4;
  const blanks = () => {
    const k = j;
    while (s.charAt(j) === " " || s.charAt(j) === "\t") j++;
    return j > k;
  };
  if (!blanks()) return null;
  const numStart = j;
  while (DIGIT.test(s.charAt(j))) j++;
  if (j === numStart) return null;
  const line = Number.parseInt(s.slice(numStart, j), 10);
  if (!blanks()) return null;
  const strEnd = matchString(s, j);
  if (strEnd < 0) return null;
  const fileRaw = s.slice(j + 1, strEnd - 1);
  j = strEnd;
  for (;;) {
    const save = j;
    if (!blanks()) break;
    const k = j;
    while (DIGIT.test(s.charAt(j))) j++;
    if (j === k) {
      j = save;
      break;
    }
  }
  return { end: j, line, fileRaw };
}

/** strtoull(text, &end, 0) plus dtc's checks of what is left over. */
function parseLiteral(text: string, pos: DtsPosition): bigint {
  let digits: string;
  let radix: number;
  if (/^0[xX]/.test(text) && HEX.test(text.charAt(2))) {
    digits = /^0[xX]([0-9a-fA-F]+)/.exec(text)?.[1] ?? "";
    radix = 16;
  } else if (text.startsWith("0")) {
    digits = /^([0-7]+)/.exec(text)?.[1] ?? "0";
    radix = 8;
  } else {
    digits = /^([0-9]+)/.exec(text)?.[1] ?? "";
    radix = 10;
  }
  const consumed = radix === 16 ? digits.length + 2 : digits.length;
  const rest = text.slice(consumed);
  if (rest.length > 0 && !/^[UL]*$/.test(rest)) {
    throw new DtsSyntaxError(pos, `Lexical error: Bad integer literal '${text}'`);
  }
  let value = 0n;
  const r = BigInt(radix);
  for (const d of digits) value = value * r + BigInt(Number.parseInt(d, radix));
  if (value > 0xffff_ffff_ffff_ffffn) {
    throw new DtsSyntaxError(pos, `Lexical error: Integer literal '${text}' out of range`);
  }
  return value;
}

/**
 * `data_copy_escape_string()`: the bytes of a string or character literal body, escapes decoded,
 * plus the terminating NUL. An escape at the very end of the body reads the closing quote and then
 * a NUL, as dtc's does on its NUL-terminated `yytext`.
 */
function escapeBytes(raw: string, pos: DtsPosition, closingQuote: string): number[] {
  const b = utf8.encode(raw);
  const tail = utf8.encode(closingQuote);
  const at = (k: number): number => (k < b.length ? (b[k] as number) : (tail[k - b.length] ?? 0));
  const out: number[] = [];
  let i = 0;
  while (i < b.length) {
    let c = b[i++] as number;
    if (c === 0x5c) {
      const e = at(i);
      let j = i + 1;
      switch (e) {
        case 0x61:
          c = 0x07;
          break;
        case 0x62:
          c = 0x08;
          break;
        case 0x74:
          c = 0x09;
          break;
        case 0x6e:
          c = 0x0a;
          break;
        case 0x76:
          c = 0x0b;
          break;
        case 0x66:
          c = 0x0c;
          break;
        case 0x72:
          c = 0x0d;
          break;
        case 0x78: {
          // strtol(base 16) over at most two characters: blanks and a sign are accepted too.
          const r = strtolWindow([at(j), at(j + 1)], 16);
          if (r === null) throw new DtsSyntaxError(pos, "\\x used with no following hex digits");
          c = r.value & 0xff;
          j += r.used;
          break;
        }
        default:
          if (e >= 0x30 && e <= 0x37) {
            const r = strtolWindow([at(i), at(i + 1), at(i + 2)], 8) as {
              value: number;
              used: number;
            };
            c = r.value & 0xff;
            j = i + r.used;
          } else {
            c = e;
          }
      }
      i = j;
    }
    out.push(c);
  }
  out.push(0);
  return out;
}

/** C `strtol` on a copied window of characters (stopping at a NUL): value and characters used. */
function strtolWindow(chars: number[], radix: 8 | 16): { value: number; used: number } | null {
  const end = chars.indexOf(0);
  const w = end < 0 ? chars : chars.slice(0, end);
  let k = 0;
  while (k < w.length && (w[k] === 0x20 || ((w[k] as number) >= 0x09 && (w[k] as number) <= 0x0d)))
    k++;
  let neg = false;
  if (w[k] === 0x2b || w[k] === 0x2d) {
    neg = w[k] === 0x2d;
    k++;
  }
  const start = k;
  let value = 0;
  for (; k < w.length; k++) {
    const d = digitValue(w[k] as number);
    if (d < 0 || d >= radix) break;
    value = value * radix + d;
  }
  if (k === start) return null;
  return { value: neg ? -value : value, used: k };
}

function digitValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

// =============================================================================================
// The live tree while parsing (livetree.c): tombstones stay in the lists until output.

interface Label {
  readonly name: string;
  deleted: boolean;
}

interface Marker {
  readonly kind: "label" | "phandle" | "path";
  offset: number;
  readonly ref: string;
}

interface Data {
  bytes: number[];
  markers: Marker[];
}

interface PProp {
  readonly name: string;
  data: Data;
  labels: Label[];
  deleted: boolean;
  /** Where the value that is now in force was written (a merge moves it to the later block). */
  pos: DtsPosition | undefined;
}

interface PNode {
  name: string;
  props: PProp[];
  children: PNode[];
  labels: Label[];
  deleted: boolean;
  parent: PNode | undefined;
  readonly pos: DtsPosition;
  phandle: number;
  omitIfNoRef: boolean;
  referenced: boolean;
  fullpath: string | undefined;
}

function emptyData(): Data {
  return { bytes: [], markers: [] };
}

function mergeData(a: Data, b: Data): Data {
  const shift = a.bytes.length;
  for (const m of b.markers) a.markers.push({ ...m, offset: m.offset + shift });
  for (const x of b.bytes) a.bytes.push(x);
  return a;
}

function addLabel(labels: Label[], name: string): void {
  const existing = labels.find((l) => l.name === name);
  if (existing !== undefined) {
    existing.deleted = false;
    return;
  }
  labels.unshift({ name, deleted: false });
}

function deleteLabels(labels: Label[]): void {
  for (const l of labels) l.deleted = true;
}

const liveProps = (n: PNode) => n.props.filter((p) => !p.deleted);
const liveChildren = (n: PNode) => n.children.filter((c) => !c.deleted);
const liveLabels = (labels: Label[]) => labels.filter((l) => !l.deleted);

function deleteProperty(p: PProp): void {
  p.deleted = true;
  deleteLabels(p.labels);
}

function deleteNode(node: PNode): void {
  node.deleted = true;
  for (const c of liveChildren(node)) deleteNode(c);
  for (const p of liveProps(node)) deleteProperty(p);
  deleteLabels(node.labels);
}

function addChild(parent: PNode, child: PNode): void {
  child.parent = parent;
  parent.children.push(child);
}

/** `merge_nodes()`: a later block for the same node updates it in place. */
function mergeNodes(old: PNode, add: PNode): void {
  old.deleted = false;
  for (const l of add.labels) addLabel(old.labels, l.name);
  for (const np of add.props) {
    if (np.deleted) {
      const victim = old.props.find((p) => p.name === np.name);
      if (victim !== undefined) deleteProperty(victim);
      continue;
    }
    const same = old.props.find((p) => p.name === np.name);
    if (same !== undefined) {
      for (const l of np.labels) addLabel(same.labels, l.name);
      same.data = np.data;
      same.deleted = false;
      same.pos = np.pos;
    } else {
      old.props.push(np);
    }
  }
  for (const nc of add.children) {
    if (nc.deleted) {
      const victim = old.children.find((c) => c.name === nc.name);
      if (victim !== undefined) deleteNode(victim);
      continue;
    }
    const same = old.children.find((c) => c.name === nc.name);
    if (same !== undefined) mergeNodes(same, nc);
    else addChild(old, nc);
  }
}

function nodeByLabel(tree: PNode, label: string): PNode | undefined {
  if (liveLabels(tree.labels).some((l) => l.name === label)) return tree;
  for (const c of liveChildren(tree)) {
    const hit = nodeByLabel(c, label);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function nodeByPathFrom(tree: PNode, path: string): PNode | undefined {
  if (path === "") return tree.deleted ? undefined : tree;
  let p = path;
  while (p.startsWith("/")) p = p.slice(1);
  const slash = p.indexOf("/");
  for (const c of liveChildren(tree)) {
    if (slash >= 0 && c.name === p.slice(0, slash)) return nodeByPathFrom(c, p.slice(slash + 1));
    if (slash < 0 && c.name === p) return c;
  }
  return undefined;
}

/** `get_node_by_ref()`: `/path` or a label. */
function nodeByRef(tree: PNode, ref: string): PNode | undefined {
  if (ref === "/") return tree;
  if (ref.startsWith("/")) return nodeByPathFrom(tree, ref);
  return nodeByLabel(tree, ref);
}

function nodeByPhandle(tree: PNode, phandle: number): PNode | undefined {
  if (tree.phandle === phandle) return tree.deleted ? undefined : tree;
  for (const c of liveChildren(tree)) {
    const hit = nodeByPhandle(c, phandle);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

// =============================================================================================
// Parser (dtc-parser.y), recursive descent over the same grammar

interface Parsed {
  root: PNode;
  reservations: DtMemoryReservation[];
}

class Parser {
  /** The lookahead, read only when the grammar needs it, as bison does. */
  private tok: Token | null = null;
  private depth = 0;

  constructor(private readonly lexer: Lexer) {}

  private peek(): Token {
    if (this.tok === null) this.tok = this.lexer.next();
    return this.tok;
  }

  private take(): Token {
    const t = this.peek();
    this.tok = null;
    return t;
  }

  private isChar(c: string): boolean {
    const t = this.peek();
    return t.kind === "CHAR" && t.str === c;
  }

  private expectChar(c: string): Token {
    if (!this.isChar(c)) this.syntaxError(`expected '${c}'`);
    return this.take();
  }

  private expectKind(kind: TokenKind, what: string): Token {
    if (this.peek().kind !== kind) this.syntaxError(`expected ${what}`);
    return this.take();
  }

  private syntaxError(expected?: string): never {
    const t = this.peek();
    const what = t.kind === "EOF" ? "end of input" : `'${t.text}'`;
    const hint = this.lexer.hint === undefined ? "" : ` (${this.lexer.hint})`;
    throw new DtsSyntaxError(
      t.pos,
      `syntax error: unexpected ${what}${expected ? `, ${expected}` : ""}${hint}`,
    );
  }

  private enter(pos: DtsPosition): void {
    if (++this.depth > MAX_DEPTH) {
      throw new DtsSyntaxError(pos, `nesting deeper than ${MAX_DEPTH} levels`);
    }
  }

  private leave(): void {
    this.depth--;
  }

  /** sourcefile: headers memreserves devicetree */
  parseSource(): Parsed {
    if (this.peek().kind !== "DT_V1") this.syntaxError("a DTS file starts with /dts-v1/;");
    while (this.peek().kind === "DT_V1") {
      this.take();
      this.expectChar(";");
      if (this.peek().kind === "DT_PLUGIN") {
        throw new DtsSyntaxError(this.peek().pos, "overlays (/plugin/) are not supported");
      }
    }
    const reservations: DtMemoryReservation[] = [];
    while (this.peek().kind === "DT_LABEL" || this.peek().kind === "DT_MEMRESERVE") {
      while (this.peek().kind === "DT_LABEL") this.take();
      this.expectKind("DT_MEMRESERVE", "/memreserve/");
      const address = this.integerPrim().value;
      const size = this.integerPrim().value;
      this.expectChar(";");
      reservations.push({ address, size });
    }
    const root = this.parseDevicetree();
    return { root, reservations };
  }

  private parseDevicetree(): PNode {
    const first = this.peek();
    if (first.kind === "DT_REF") {
      this.take();
      const def = this.nodedef();
      throw new DtsSyntaxError(def.pos, `Label or path ${first.str} not found`);
    }
    if (!this.isChar("/")) this.syntaxError("expected the root node '/ {'");
    this.take();
    const root = this.nodedef();
    for (;;) {
      const t = this.peek();
      if (t.kind === "EOF") return root;
      if (t.kind === "CHAR" && t.str === "/") {
        this.take();
        const add = this.nodedef();
        mergeNodes(root, add);
      } else if (t.kind === "DT_LABEL") {
        this.take();
        const ref = this.expectKind("DT_REF", "a &reference after the label");
        const add = this.nodedef();
        const target = nodeByRef(root, ref.str);
        if (target === undefined)
          throw new DtsSyntaxError(ref.pos, `Label or path ${ref.str} not found`);
        addLabel(target.labels, t.str);
        mergeNodes(target, add);
      } else if (t.kind === "DT_REF") {
        this.take();
        const add = this.nodedef();
        const target = nodeByRef(root, t.str);
        if (target === undefined)
          throw new DtsSyntaxError(t.pos, `Label or path ${t.str} not found`);
        mergeNodes(target, add);
      } else if (t.kind === "DT_DEL_NODE" || t.kind === "DT_OMIT_NO_REF") {
        this.take();
        const ref = this.expectKind("DT_REF", "a &reference");
        this.expectChar(";");
        const target = nodeByRef(root, ref.str);
        if (target === undefined)
          throw new DtsSyntaxError(ref.pos, `Label or path ${ref.str} not found`);
        if (t.kind === "DT_DEL_NODE") deleteNode(target);
        else target.omitIfNoRef = true;
      } else {
        this.syntaxError();
      }
    }
  }

  /** nodedef: '{' proplist subnodes '}' ';' */
  private nodedef(): PNode {
    const open = this.expectChar("{");
    this.enter(open.pos);
    const node: PNode = {
      name: "",
      props: [],
      children: [],
      labels: [],
      deleted: false,
      parent: undefined,
      pos: open.pos,
      phandle: 0,
      omitIfNoRef: false,
      referenced: false,
      fullpath: undefined,
    };
    for (;;) {
      if (this.isChar("}")) break;
      // Labels and /omit-if-no-ref/ prefixes, applied innermost first as the grammar reduces them.
      const startPos = this.peek().pos;
      const prefixes: Token[] = [];
      while (this.peek().kind === "DT_LABEL" || this.peek().kind === "DT_OMIT_NO_REF") {
        prefixes.push(this.take());
      }
      const omitted = prefixes.some((p) => p.kind === "DT_OMIT_NO_REF");
      const t = this.peek();
      if (t.kind === "DT_PROPNODENAME") {
        this.take();
        if (this.isChar("{")) {
          const child = this.nodedef();
          child.name = t.str;
          this.applyNodePrefixes(child, prefixes);
          addChild(node, child);
          continue;
        }
        if (omitted) this.syntaxError("expected '{' after /omit-if-no-ref/ and a node name");
        let data = emptyData();
        if (this.isChar("=")) {
          this.take();
          data = this.propdata();
        }
        this.expectChar(";");
        const prop: PProp = { name: t.str, data, labels: [], deleted: false, pos: t.pos };
        this.applyPropPrefixes(prop, prefixes);
        this.addProp(node, prop, startPos);
      } else if (t.kind === "DT_DEL_PROP" && !omitted) {
        this.take();
        const name = this.expectKind("DT_PROPNODENAME", "a property name");
        this.expectChar(";");
        const prop: PProp = {
          name: name.str,
          data: emptyData(),
          labels: [],
          deleted: true,
          pos: undefined,
        };
        this.applyPropPrefixes(prop, prefixes);
        this.addProp(node, prop, startPos);
      } else if (t.kind === "DT_DEL_NODE") {
        this.take();
        const name = this.expectKind("DT_PROPNODENAME", "a node name");
        this.expectChar(";");
        const child: PNode = {
          name: name.str,
          props: [],
          children: [],
          labels: [],
          deleted: true,
          parent: undefined,
          pos: t.pos,
          phandle: 0,
          omitIfNoRef: false,
          referenced: false,
          fullpath: undefined,
        };
        this.applyNodePrefixes(child, prefixes);
        addChild(node, child);
      } else {
        this.syntaxError();
      }
    }
    this.take();
    this.expectChar(";");
    this.leave();
    return node;
  }

  private addProp(node: PNode, prop: PProp, startPos: DtsPosition): void {
    if (node.children.length > 0)
      throw new DtsSyntaxError(startPos, "Properties must precede subnodes");
    node.props.push(prop);
  }

  private applyNodePrefixes(node: PNode, prefixes: Token[]): void {
    for (let k = prefixes.length - 1; k >= 0; k--) {
      const p = prefixes[k] as Token;
      if (p.kind === "DT_LABEL") addLabel(node.labels, p.str);
      else node.omitIfNoRef = true;
    }
  }

  private applyPropPrefixes(prop: PProp, prefixes: Token[]): void {
    for (let k = prefixes.length - 1; k >= 0; k--)
      addLabel(prop.labels, (prefixes[k] as Token).str);
  }

  /** propdata: comma-separated strings, `<cells>`, `[bytes]` and `&refs`, labels anywhere between. */
  private propdata(): Data {
    let d = emptyData();
    for (;;) {
      while (this.peek().kind === "DT_LABEL") {
        d.markers.push({ kind: "label", offset: d.bytes.length, ref: this.take().str });
      }
      const t = this.peek();
      if (t.kind === "DT_STRING") {
        this.take();
        d = mergeData(d, { bytes: [...t.bytes], markers: [] });
      } else if (this.isChar("<") || t.kind === "DT_BITS") {
        d = mergeData(d, this.array());
      } else if (this.isChar("[")) {
        this.take();
        const bytes: Data = emptyData();
        for (;;) {
          const b = this.peek();
          if (b.kind === "DT_BYTE") {
            this.take();
            bytes.bytes.push(Number(b.value));
          } else if (b.kind === "DT_LABEL") {
            this.take();
            bytes.markers.push({ kind: "label", offset: bytes.bytes.length, ref: b.str });
          } else {
            break;
          }
        }
        this.expectChar("]");
        d = mergeData(d, bytes);
      } else if (t.kind === "DT_REF") {
        this.take();
        d.markers.push({ kind: "path", offset: d.bytes.length, ref: t.str });
      } else {
        this.syntaxError("expected a property value");
      }
      while (this.peek().kind === "DT_LABEL") {
        d.markers.push({ kind: "label", offset: d.bytes.length, ref: this.take().str });
      }
      if (!this.isChar(",")) return d;
      this.take();
    }
  }

  /** arrayprefix '>': `<…>` or `/bits/ N <…>`. */
  private array(): Data {
    let bits = 32;
    if (this.peek().kind === "DT_BITS") {
      this.take();
      const n = this.expectKind("DT_LITERAL", "an element size");
      this.expectChar("<");
      if (n.value === 8n || n.value === 16n || n.value === 32n || n.value === 64n) {
        bits = Number(n.value);
      } else {
        throw new DtsSyntaxError(n.pos, "Array elements must be 8, 16, 32 or 64-bits");
      }
    } else {
      this.expectChar("<");
    }
    const d = emptyData();
    for (;;) {
      const t = this.peek();
      if (this.isChar(">")) {
        this.take();
        return d;
      }
      if (t.kind === "DT_LABEL") {
        this.take();
        d.markers.push({ kind: "label", offset: d.bytes.length, ref: t.str });
      } else if (t.kind === "DT_REF") {
        this.take();
        if (bits !== 32) {
          throw new DtsSyntaxError(
            t.pos,
            "References are only allowed in arrays with 32-bit elements.",
          );
        }
        d.markers.push({ kind: "phandle", offset: d.bytes.length, ref: t.str });
        appendInteger(d, 0xffff_ffffn, 32);
      } else if (t.kind === "DT_LITERAL" || t.kind === "DT_CHAR_LITERAL" || this.isChar("(")) {
        const { value, pos } = this.integerPrim();
        if (bits < 64) {
          const mask = (1n << BigInt(bits)) - 1n;
          if (value > mask && (value | mask) !== U64_MASK) {
            throw new DtsSyntaxError(pos, `Value out of range for ${bits}-bit array element`);
          }
        }
        appendInteger(d, value, bits);
      } else {
        this.syntaxError("expected a cell, a &reference or '>'");
      }
    }
  }

  /** integer_prim: DT_LITERAL | DT_CHAR_LITERAL | '(' integer_expr ')' */
  private integerPrim(): { value: bigint; pos: DtsPosition } {
    const t = this.peek();
    if (t.kind === "DT_LITERAL" || t.kind === "DT_CHAR_LITERAL") {
      this.take();
      return { value: t.value, pos: t.pos };
    }
    if (this.isChar("(")) {
      this.take();
      this.enter(t.pos);
      const v = this.expr();
      this.expectChar(")");
      this.leave();
      return { value: v.value, pos: t.pos };
    }
    this.syntaxError("expected an integer");
  }

  // integer_expr and below (dtc's precedence), by precedence climbing so that a parenthesis
  // level costs a handful of stack frames; all arithmetic is uint64_t.
  private expr(): Expr {
    const cond = this.binaryExpr(1);
    if (!this.isChar("?")) return cond;
    this.enter(this.take().pos);
    const a = this.expr();
    this.expectChar(":");
    const b = this.expr();
    this.leave();
    return { value: cond.value !== 0n ? a.value : b.value, pos: cond.pos };
  }

  private binaryExpr(minPrec: number): Expr {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      const op = t.kind === "OP" || t.kind === "CHAR" ? BINARY_OPS.get(t.str) : undefined;
      if (op === undefined || op.prec < minPrec) return left;
      this.take();
      const right = this.binaryExpr(op.prec + 1);
      left = { value: BigInt.asUintN(64, op.fn(left.value, right.value, left.pos)), pos: left.pos };
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if (t.kind === "CHAR" && (t.str === "-" || t.str === "~" || t.str === "!")) {
      this.take();
      this.enter(t.pos);
      const v = this.unary();
      this.leave();
      const value =
        t.str === "-"
          ? BigInt.asUintN(64, -v.value)
          : t.str === "~"
            ? v.value ^ U64_MASK
            : bool(v.value === 0n);
      return { value, pos: t.pos };
    }
    return this.integerPrim();
  }
}

type BinaryFn = (a: bigint, b: bigint, at: DtsPosition) => bigint;

function divide(a: bigint, b: bigint, at: DtsPosition, rem: boolean): bigint {
  // The error points at the start of the whole `a / b`, as bison's @$ does.
  if (b === 0n) throw new DtsSyntaxError(at, "Division by zero");
  return rem ? a % b : a / b;
}

/** dtc-parser.y's binary operators, loosest first; all are left-associative. */
const BINARY_OPS = new Map<string, { prec: number; fn: BinaryFn }>([
  ["||", { prec: 1, fn: (a, b) => bool(a !== 0n || b !== 0n) }],
  ["&&", { prec: 2, fn: (a, b) => bool(a !== 0n && b !== 0n) }],
  ["|", { prec: 3, fn: (a, b) => a | b }],
  ["^", { prec: 4, fn: (a, b) => a ^ b }],
  ["&", { prec: 5, fn: (a, b) => a & b }],
  ["==", { prec: 6, fn: (a, b) => bool(a === b) }],
  ["!=", { prec: 6, fn: (a, b) => bool(a !== b) }],
  ["<", { prec: 7, fn: (a, b) => bool(a < b) }],
  [">", { prec: 7, fn: (a, b) => bool(a > b) }],
  ["<=", { prec: 7, fn: (a, b) => bool(a <= b) }],
  [">=", { prec: 7, fn: (a, b) => bool(a >= b) }],
  ["<<", { prec: 8, fn: (a, b) => (b < 64n ? a << b : 0n) }],
  [">>", { prec: 8, fn: (a, b) => (b < 64n ? a >> b : 0n) }],
  ["+", { prec: 9, fn: (a, b) => a + b }],
  ["-", { prec: 9, fn: (a, b) => a - b }],
  ["*", { prec: 10, fn: (a, b) => a * b }],
  ["/", { prec: 10, fn: (a, b, at) => divide(a, b, at, false) }],
  ["%", { prec: 10, fn: (a, b, at) => divide(a, b, at, true) }],
]);

interface Expr {
  value: bigint;
  pos: DtsPosition;
}

const U64_MASK = 0xffff_ffff_ffff_ffffn;

function bool(b: boolean): bigint {
  return b ? 1n : 0n;
}

function appendInteger(d: Data, value: bigint, bits: number): void {
  for (let shift = bits - 8; shift >= 0; shift -= 8)
    d.bytes.push(Number((value >> BigInt(shift)) & 0xffn));
}

// =============================================================================================
// checks.c: the error-level checks that run before output, in dtc's order

const NODE_CHARS = /[^a-zA-Z0-9,._+@-]/;
const PROP_CHARS = /[^a-zA-Z0-9,._+*#?-]/;

class Checker {
  private nextPhandle = 1;

  constructor(private readonly root: PNode) {}

  private fail(check: string, node: PNode, prop: PProp | undefined, msg: string): never {
    const pos = prop?.pos ?? node.pos;
    const where = prop ? `${pathOf(node)}:${prop.name}` : pathOf(node);
    throw new DtsSyntaxError(pos, `ERROR (${check}): ${where}: ${msg}`);
  }

  /** `check_nodes_props()`: node, its live properties, then its live children. */
  private each(
    nodeFn: ((n: PNode) => void) | null,
    propFn: ((n: PNode, p: PProp) => void) | null,
  ): void {
    const visit = (n: PNode) => {
      nodeFn?.(n);
      if (propFn) {
        for (let i = 0; i < n.props.length; i++) {
          const p = n.props[i] as PProp;
          if (!p.deleted) propFn(n, p);
        }
      }
      for (const c of liveChildren(n)) visit(c);
    };
    visit(this.root);
  }

  run(): void {
    this.each((node) => {
      const kids = node.children;
      for (let i = 0; i < kids.length; i++) {
        const a = kids[i] as PNode;
        if (a.deleted) continue;
        for (let j = i + 1; j < kids.length; j++) {
          const b = kids[j] as PNode;
          if (a.name === b.name)
            this.fail("duplicate_node_names", b, undefined, "Duplicate node name");
        }
      }
    }, null);
    this.each((node) => {
      const props = node.props;
      for (let i = 0; i < props.length; i++) {
        const a = props[i] as PProp;
        if (a.deleted) continue;
        for (let j = i + 1; j < props.length; j++) {
          const b = props[j] as PProp;
          if (!b.deleted && a.name === b.name) {
            this.fail("duplicate_property_names", node, a, "Duplicate property name");
          }
        }
      }
    }, null);
    this.each((node) => {
      const bad = NODE_CHARS.exec(node.name);
      if (bad)
        this.fail("node_name_chars", node, undefined, `Bad character '${bad[0]}' in node name`);
    }, null);
    this.each((node) => {
      const at = node.name.indexOf("@");
      if (at >= 0 && node.name.indexOf("@", at + 1) >= 0) {
        this.fail("node_name_format", node, undefined, "multiple '@' characters in node name");
      }
    }, null);
    this.each(null, (node, prop) => {
      const bad = PROP_CHARS.exec(prop.name);
      if (bad)
        this.fail("property_name_chars", node, prop, `Bad character '${bad[0]}' in property name`);
    });
    this.each((node) => {
      const prop = liveProps(node).find((p) => p.name === "name");
      if (prop !== undefined && !isOneString(prop.data.bytes)) {
        this.fail("name_is_string", node, prop, "property is not a string");
      }
    }, null);
    this.each((node) => this.nameProperty(node), null);
    this.each(
      (node) => {
        for (const l of liveLabels(node.labels))
          this.duplicateLabel(l.name, node, undefined, undefined);
      },
      (node, prop) => {
        for (const l of liveLabels(prop.labels)) this.duplicateLabel(l.name, node, prop, undefined);
        for (const m of prop.data.markers) {
          if (m.kind === "label") this.duplicateLabel(m.ref, node, prop, m);
        }
      },
    );
    this.each((node) => this.explicitPhandles(node), null);
    this.each(null, (node, prop) => this.fixupPhandles(node, prop));
    this.each(null, (node, prop) => this.fixupPaths(node, prop));
    this.each((node) => {
      if (node.omitIfNoRef && !node.referenced) deleteNode(node);
    }, null);
  }

  /** `check_name_properties()`: a correct `name` is redundant and removed, a wrong one refused. */
  private nameProperty(node: PNode): void {
    const idx = node.props.findIndex((p) => p.name === "name");
    if (idx < 0) return;
    const prop = node.props[idx] as PProp;
    const base = baseName(node.name);
    const want = [...utf8.encode(base)];
    const v = prop.data.bytes;
    if (prop.deleted || v.length !== want.length + 1 || want.some((b, i) => v[i] !== b)) {
      const shown = prop.deleted ? "(null)" : latin1UpToNul(v);
      this.fail(
        "name_properties",
        node,
        undefined,
        `"name" property is incorrect ("${shown}" instead of base node name)`,
      );
    }
    node.props.splice(idx, 1);
  }

  private duplicateLabel(
    label: string,
    node: PNode,
    prop: PProp | undefined,
    mark: Marker | undefined,
  ): void {
    let other: { node: PNode; prop: PProp | undefined; mark: Marker | undefined } | undefined;
    const byNode = nodeByLabel(this.root, label);
    if (byNode !== undefined) other = { node: byNode, prop: undefined, mark: undefined };
    if (other === undefined) other = findLabelled(this.root, label, "prop");
    if (other === undefined) other = findLabelled(this.root, label, "mark");
    if (other === undefined) return;
    if (other.node !== node || other.prop !== prop || other.mark !== mark) {
      this.fail(
        "duplicate_label",
        node,
        undefined,
        `Duplicate label '${label}' on ${describeLabelled(node, prop, mark)} and ${describeLabelled(other.node, other.prop, other.mark)}`,
      );
    }
  }

  private phandleProp(node: PNode, name: string): number {
    const prop = liveProps(node).find((p) => p.name === name);
    if (prop === undefined) return 0;
    const v = prop.data.bytes;
    if (v.length !== 4)
      this.fail("explicit_phandles", node, prop, `bad length (${v.length}) ${name} property`);
    const ref = prop.data.markers.find((m) => m.kind === "phandle");
    if (ref !== undefined) {
      // `phandle = <&self>` asks for a phandle to be allocated; pointing at another node is nonsense.
      if (nodeByRef(this.root, ref.ref) !== node) {
        this.fail("explicit_phandles", node, undefined, `${name} is a reference to another node`);
      }
      return 0;
    }
    const ph = be32(v, 0);
    if (ph === 0 || ph === 0xffff_ffff) {
      this.fail(
        "explicit_phandles",
        node,
        prop,
        `bad value (0x${ph.toString(16)}) in ${name} property`,
      );
    }
    return ph;
  }

  private explicitPhandles(node: PNode): void {
    let ph = this.phandleProp(node, "phandle");
    const linux = this.phandleProp(node, "linux,phandle");
    if (ph === 0 && linux === 0) return;
    if (linux !== 0 && ph !== 0 && ph !== linux) {
      this.fail(
        "explicit_phandles",
        node,
        undefined,
        "mismatching 'phandle' and 'linux,phandle' properties",
      );
    }
    if (linux !== 0 && ph === 0) ph = linux;
    const other = nodeByPhandle(this.root, ph);
    if (other !== undefined && other !== node) {
      this.fail(
        "explicit_phandles",
        node,
        undefined,
        `duplicated phandle 0x${ph.toString(16)} (seen before at ${pathOf(other)})`,
      );
    }
    node.phandle = ph;
  }

  /** `get_node_phandle()`: the lowest free value from a counter that never goes back. */
  private phandleOf(node: PNode): number {
    if (node.phandle !== 0 && node.phandle !== 0xffff_ffff) return node.phandle;
    while (nodeByPhandle(this.root, this.nextPhandle) !== undefined) this.nextPhandle++;
    if (!liveProps(node).some((p) => p.name === "phandle")) {
      const d = emptyData();
      appendInteger(d, BigInt(this.nextPhandle), 32);
      node.props.push({ name: "phandle", data: d, labels: [], deleted: false, pos: undefined });
    }
    node.phandle = this.nextPhandle;
    return node.phandle;
  }

  private fixupPhandles(node: PNode, prop: PProp): void {
    for (const m of prop.data.markers) {
      if (m.kind !== "phandle") continue;
      const target = nodeByRef(this.root, m.ref);
      if (target === undefined) {
        this.fail(
          "phandle_references",
          node,
          undefined,
          `Reference to non-existent node or label "${m.ref}"`,
        );
      }
      const ph = this.phandleOf(target);
      const b = prop.data.bytes;
      b[m.offset] = (ph >>> 24) & 0xff;
      b[m.offset + 1] = (ph >>> 16) & 0xff;
      b[m.offset + 2] = (ph >>> 8) & 0xff;
      b[m.offset + 3] = ph & 0xff;
      target.referenced = true;
    }
  }

  private fixupPaths(node: PNode, prop: PProp): void {
    const markers = prop.data.markers;
    for (let k = 0; k < markers.length; k++) {
      const m = markers[k] as Marker;
      if (m.kind !== "path") continue;
      const target = nodeByRef(this.root, m.ref);
      if (target === undefined) {
        this.fail(
          "path_references",
          node,
          undefined,
          `Reference to non-existent node or label "${m.ref}"`,
        );
      }
      const path = [...utf8.encode(target.fullpath ?? "(null)"), 0];
      const b = prop.data.bytes;
      prop.data.bytes = b.slice(0, m.offset).concat(path, b.slice(m.offset));
      for (let j = k + 1; j < markers.length; j++) (markers[j] as Marker).offset += path.length;
      target.referenced = true;
    }
  }
}

function findLabelled(
  tree: PNode,
  label: string,
  what: "prop" | "mark",
): { node: PNode; prop: PProp | undefined; mark: Marker | undefined } | undefined {
  for (const p of liveProps(tree)) {
    if (what === "prop" && liveLabels(p.labels).some((l) => l.name === label)) {
      return { node: tree, prop: p, mark: undefined };
    }
    if (what === "mark") {
      const m = p.data.markers.find((x) => x.kind === "label" && x.ref === label);
      if (m !== undefined) return { node: tree, prop: p, mark: m };
    }
  }
  for (const c of liveChildren(tree)) {
    const hit = findLabelled(c, label, what);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function describeLabelled(node: PNode, prop: PProp | undefined, mark: Marker | undefined): string {
  return `${mark ? "value of " : ""}${prop ? `'${prop.name}' in ` : ""}${pathOf(node)}`;
}

function pathOf(node: PNode): string {
  if (node.fullpath !== undefined) return node.fullpath;
  return node.parent?.fullpath !== undefined
    ? `${joinFull(node.parent.fullpath, node.name)}`
    : node.name;
}

function joinFull(prefix: string, name: string): string {
  return prefix.endsWith("/") ? `${prefix}${name}` : `${prefix}/${name}`;
}

/** `fill_fullpaths()`: only live nodes get a path. */
function fillFullpaths(node: PNode, prefix: string): void {
  node.fullpath = prefix === "" && node.name === "" ? "/" : joinFull(prefix, node.name);
  for (const c of liveChildren(node)) fillFullpaths(c, node.fullpath);
}

function baseName(name: string): string {
  const at = name.indexOf("@");
  return at >= 0 ? name.slice(0, at) : name;
}

function isOneString(v: number[]): boolean {
  if (v.length === 0 || v[v.length - 1] !== 0) return false;
  return v.indexOf(0) === v.length - 1;
}

function latin1UpToNul(v: number[]): string {
  let s = "";
  for (const b of v) {
    if (b === 0) break;
    s += String.fromCharCode(b);
  }
  return s;
}

function be32(v: number[], at: number): number {
  return (
    (((v[at] as number) << 24) |
      ((v[at + 1] as number) << 16) |
      ((v[at + 2] as number) << 8) |
      (v[at + 3] as number)) >>>
    0
  );
}

/** `guess_boot_cpuid()`: the `reg` of the first child of `/cpus`, if it is a single cell. */
function guessBootCpuid(root: PNode): number {
  const cpus = nodeByPathFrom(root, "/cpus");
  const first = cpus?.children[0];
  if (first === undefined) return 0;
  const reg = liveProps(first).find((p) => p.name === "reg");
  if (reg === undefined || reg.data.bytes.length !== 4) return 0;
  return be32(reg.data.bytes, 0);
}

function toDtNode(node: PNode): DtNode {
  const properties: DtProperty[] = liveProps(node).map((p) => ({
    name: p.name,
    value: Uint8Array.from(p.data.bytes),
  }));
  return {
    name: node.name,
    properties,
    children: liveChildren(node).map(toDtNode),
    labels: liveLabels(node.labels).map((l) => l.name),
  };
}

/**
 * Compiles DTS text into a tree, exactly as dtc 1.6.1 would before writing its DTB. Labels stay on
 * the nodes (most recently attached first, the order dtc keeps and prints them in).
 */
export function parseDts(text: string, options: ParseDtsOptions = {}): DeviceTree {
  const filename = options.filename ?? "<stdin>";
  const parser = new Parser(new Lexer(text, filename));
  const { root, reservations } = parser.parseSource();
  const bootCpuidPhys = guessBootCpuid(root);
  fillFullpaths(root, "");
  new Checker(root).run();
  if (root.deleted) {
    throw new DtsSyntaxError(root.pos, "the root node is deleted, which leaves no tree");
  }
  return { root: toDtNode(root), memoryReservations: reservations, bootCpuidPhys };
}
