/**
 * Text renderings for terminals (the `vfio-lab` CLI): `svgToText` lays an SVG's `<text>` onto a
 * character grid by their coordinates — 8 px per column, 16 px per row, the grid every picture of
 * this package is drawn on — with outlined `<rect>`s as box-drawing boxes and horizontal and
 * vertical `<line>`s as rules (arrowheads as `>`/`<`/`v`/`^`), under the picture's `<title>` (a
 * heading that repeats the title is not drawn twice).
 * `htmlToText` prints HTML tables as aligned columns under their caption.
 *
 * Both read markup with a small XML tokenizer (no DOM: the CLI and the browser share this
 * code), and both are deterministic. Fills, colours, tooltips (`<title>` inside a group) and
 * `<desc>` are not shown; rects without a stroke are backgrounds and are skipped.
 */

import { CELL_H, CELL_W } from "./svg.js";

type XmlEvent =
  | {
      readonly kind: "open";
      readonly name: string;
      readonly attrs: Readonly<Record<string, string>>;
      readonly selfClosing: boolean;
    }
  | { readonly kind: "close"; readonly name: string }
  | { readonly kind: "text"; readonly text: string };

const ENTITIES: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
};

/** Decodes `&amp;`, `&#10;`, `&#x1F;` … (unknown entities are kept as written). */
export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, body: string) => {
    if (body[0] === "#") {
      const cp =
        body[1] === "x" || body[1] === "X"
          ? Number.parseInt(body.slice(2), 16)
          : Number.parseInt(body.slice(1), 10);
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[body] ?? m;
  });
}

/** Tokenizes markup into open/close/text events (comments, PIs, doctypes skipped). */
function* tokenize(src: string): Generator<XmlEvent> {
  let i = 0;
  while (i < src.length) {
    const lt = src.indexOf("<", i);
    if (lt < 0) {
      yield { kind: "text", text: decodeEntities(src.slice(i)) };
      return;
    }
    if (lt > i) yield { kind: "text", text: decodeEntities(src.slice(i, lt)) };
    if (src.startsWith("<!--", lt)) {
      const end = src.indexOf("-->", lt + 4);
      i = end < 0 ? src.length : end + 3;
      continue;
    }
    if (src.startsWith("<![CDATA[", lt)) {
      const end = src.indexOf("]]>", lt + 9);
      yield { kind: "text", text: src.slice(lt + 9, end < 0 ? src.length : end) };
      i = end < 0 ? src.length : end + 3;
      continue;
    }
    if (src[lt + 1] === "?" || src[lt + 1] === "!") {
      const end = src.indexOf(">", lt);
      i = end < 0 ? src.length : end + 1;
      continue;
    }
    // Find the tag's end, skipping quoted attribute values.
    let j = lt + 1;
    let quote = "";
    while (j < src.length) {
      const ch = src[j]!;
      if (quote) {
        if (ch === quote) quote = "";
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (ch === ">") break;
      j++;
    }
    const inner = src.slice(lt + 1, j);
    i = j + 1;
    if (inner.startsWith("/")) {
      yield { kind: "close", name: inner.slice(1).trim().toLowerCase() };
      continue;
    }
    const selfClosing = inner.endsWith("/");
    const body = selfClosing ? inner.slice(0, -1) : inner;
    const m = /^([^\s/>]+)/.exec(body);
    const name = (m?.[1] ?? "").toLowerCase();
    const attrs: Record<string, string> = {};
    const re = /([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/g;
    for (let a = re.exec(body.slice(name.length)); a; a = re.exec(body.slice(name.length))) {
      attrs[a[1]!] = decodeEntities(a[3] ?? a[4] ?? "");
    }
    yield { kind: "open", name, attrs, selfClosing };
  }
}

// Box-drawing from the directions that meet in a cell.
const UP = 1;
const DOWN = 2;
const LEFT = 4;
const RIGHT = 8;
const BOX_CHARS: Readonly<Record<number, string>> = {
  [UP]: "│",
  [DOWN]: "│",
  [UP | DOWN]: "│",
  [LEFT]: "─",
  [RIGHT]: "─",
  [LEFT | RIGHT]: "─",
  [DOWN | RIGHT]: "┌",
  [DOWN | LEFT]: "┐",
  [UP | RIGHT]: "└",
  [UP | LEFT]: "┘",
  [UP | DOWN | RIGHT]: "├",
  [UP | DOWN | LEFT]: "┤",
  [LEFT | RIGHT | DOWN]: "┬",
  [LEFT | RIGHT | UP]: "┴",
  [UP | DOWN | LEFT | RIGHT]: "┼",
};

class CharGrid {
  private readonly lines = new Map<number, Map<number, number>>();
  private readonly chars = new Map<number, Map<number, string>>();

  private static cell<T>(m: Map<number, Map<number, T>>, row: number): Map<number, T> {
    let r = m.get(row);
    if (!r) {
      r = new Map();
      m.set(row, r);
    }
    return r;
  }

  addDir(col: number, row: number, dir: number): void {
    if (col < 0 || row < 0) return;
    const r = CharGrid.cell(this.lines, row);
    r.set(col, (r.get(col) ?? 0) | dir);
  }

  hline(c1: number, c2: number, row: number): void {
    const [a, b] = c1 <= c2 ? [c1, c2] : [c2, c1];
    if (a === b) return;
    for (let c = a; c <= b; c++) this.addDir(c, row, (c > a ? LEFT : 0) | (c < b ? RIGHT : 0));
  }

  vline(col: number, r1: number, r2: number): void {
    const [a, b] = r1 <= r2 ? [r1, r2] : [r2, r1];
    if (a === b) return;
    for (let r = a; r <= b; r++) this.addDir(col, r, (r > a ? UP : 0) | (r < b ? DOWN : 0));
  }

  put(col: number, row: number, s: string): void {
    if (row < 0) return;
    const r = CharGrid.cell(this.chars, row);
    let c = col;
    for (const ch of s) {
      if (c >= 0) r.set(c, ch === "\n" || ch === "\t" || ch === "\r" ? " " : ch);
      c++;
    }
  }

  render(): string[] {
    const rows = new Set([...this.lines.keys(), ...this.chars.keys()]);
    const last = rows.size ? Math.max(...rows) : -1;
    const out: string[] = [];
    for (let row = 0; row <= last; row++) {
      const lr = this.lines.get(row);
      const cr = this.chars.get(row);
      const cols = [...(lr?.keys() ?? []), ...(cr?.keys() ?? [])];
      const width = cols.length ? Math.max(...cols) + 1 : 0;
      let s = "";
      for (let c = 0; c < width; c++) {
        const ch = cr?.get(c);
        if (ch !== undefined) s += ch;
        else {
          const d = lr?.get(c);
          s += d ? (BOX_CHARS[d] ?? "┼") : " ";
        }
      }
      out.push(s.replace(/\s+$/u, ""));
    }
    while (out.length && out[out.length - 1] === "") out.pop();
    // The margin around the picture is not worth a terminal's width: drop the blank rows above
    // it and the columns every row leaves blank on the left.
    while (out.length && out[0] === "") out.shift();
    const indent = Math.min(...out.filter((l) => l !== "").map((l) => /^ */.exec(l)![0].length));
    return Number.isFinite(indent) && indent > 0 ? out.map((l) => l.slice(indent)) : out;
  }
}

function numAttr(a: Readonly<Record<string, string>>, name: string): number {
  const v = Number.parseFloat(a[name] ?? "0");
  return Number.isFinite(v) ? v : 0;
}

function translateOf(transform: string | undefined): [number, number] {
  const m = transform ? /translate\(\s*(-?[\d.]+)(?:[\s,]+(-?[\d.]+))?\s*\)/.exec(transform) : null;
  return m ? [Number(m[1]), Number(m[2] ?? 0)] : [0, 0];
}

const SKIP = new Set(["title", "desc", "style", "defs", "script", "metadata"]);

/** The text rendering of an SVG (see the file header). */
export function svgToText(svg: string): string {
  const grid = new CharGrid();
  const stack: { name: string; dx: number; dy: number }[] = [];
  let title: string | null = null;
  let skipDepth = 0;
  let titleText: string | null = null;
  let titleShown = false;
  let text: { x: number; y: number; anchor: string; s: string } | null = null;
  const col = (x: number) => Math.floor(x / CELL_W);
  const row = (y: number) => Math.floor(y / CELL_H);

  for (const ev of tokenize(svg)) {
    if (ev.kind === "open") {
      const top = stack[stack.length - 1] ?? { dx: 0, dy: 0 };
      const [tx, ty] = translateOf(ev.attrs.transform);
      const frame = { name: ev.name, dx: top.dx + tx, dy: top.dy + ty };
      if (skipDepth > 0 || SKIP.has(ev.name)) {
        if (!ev.selfClosing) {
          if (ev.name === "title" && title === null && skipDepth === 0 && stack.length === 1)
            titleText = "";
          skipDepth++;
          stack.push(frame);
        }
        continue;
      }
      const a = ev.attrs;
      if (ev.name === "rect") {
        const stroke = a.stroke;
        if (stroke && stroke !== "none") {
          const x = numAttr(a, "x") + frame.dx;
          const y = numAttr(a, "y") + frame.dy;
          const c1 = col(x);
          const c2 = col(x + numAttr(a, "width"));
          const r1 = row(y);
          const r2 = row(y + numAttr(a, "height"));
          grid.hline(c1, c2, r1);
          grid.hline(c1, c2, r2);
          grid.vline(c1, r1, r2);
          grid.vline(c2, r1, r2);
        }
      } else if (ev.name === "line") {
        const c1 = col(numAttr(a, "x1") + frame.dx);
        const c2 = col(numAttr(a, "x2") + frame.dx);
        const r1 = row(numAttr(a, "y1") + frame.dy);
        const r2 = row(numAttr(a, "y2") + frame.dy);
        if (r1 === r2) grid.hline(c1, c2, r1);
        else if (c1 === c2) grid.vline(c1, r1, r2);
        if (a["marker-end"] && (r1 === r2 || c1 === c2)) {
          const head = r1 === r2 ? (c2 >= c1 ? ">" : "<") : r2 >= r1 ? "v" : "^";
          grid.put(c2, r2, head);
        }
      } else if (ev.name === "text") {
        text = {
          x: numAttr(a, "x") + frame.dx,
          y: numAttr(a, "y") + frame.dy,
          anchor: a["text-anchor"] ?? "start",
          s: "",
        };
      }
      if (!ev.selfClosing) stack.push(frame);
      continue;
    }
    if (ev.kind === "close") {
      const frame = stack.pop();
      if (skipDepth > 0) {
        skipDepth--;
        if (frame?.name === "title" && titleText !== null && skipDepth === 0) {
          title = titleText;
          titleText = null;
        }
        continue;
      }
      if (ev.name === "text" && text) {
        const s = text.s.replace(/\s+/g, " ");
        // The picture's heading repeats its title, which already heads the output.
        if (!titleShown && title !== null && s.trim() === title.trim()) {
          titleShown = true;
          text = null;
          continue;
        }
        const len = Array.from(s).length;
        const c0 = col(text.x);
        const start =
          text.anchor === "middle"
            ? c0 - Math.floor(len / 2)
            : text.anchor === "end"
              ? c0 - len + 1
              : c0;
        grid.put(start, row(text.y), s);
        text = null;
      }
      continue;
    }
    if (titleText !== null && skipDepth === 1) titleText += ev.text;
    else if (text && skipDepth === 0) text.s += ev.text;
  }
  const body = grid.render();
  const head = title === null ? [] : [title.trim(), ""];
  return `${[...head, ...body].join("\n")}\n`;
}

/** The text rendering of the HTML tables in `html` (see the file header). */
export function htmlToText(html: string): string {
  const tables: { caption: string; rows: { header: boolean; cells: string[] }[] }[] = [];
  let table: (typeof tables)[number] | null = null;
  let rowCells: string[] | null = null;
  let rowHeader = false;
  let cell: string | null = null;
  let caption: string | null = null;
  for (const ev of tokenize(html)) {
    if (ev.kind === "open") {
      switch (ev.name) {
        case "table":
          table = { caption: "", rows: [] };
          tables.push(table);
          break;
        case "caption":
          caption = "";
          break;
        case "tr":
          rowCells = [];
          rowHeader = true;
          break;
        case "th":
        case "td":
          cell = "";
          if (ev.name === "td") rowHeader = false;
          break;
        case "br":
          if (cell !== null) cell += " ";
          break;
      }
      continue;
    }
    if (ev.kind === "close") {
      switch (ev.name) {
        case "caption":
          if (table && caption !== null) table.caption = caption.replace(/\s+/g, " ").trim();
          caption = null;
          break;
        case "th":
        case "td":
          if (rowCells && cell !== null) rowCells.push(cell.replace(/\s+/g, " ").trim());
          cell = null;
          break;
        case "tr":
          if (table && rowCells)
            table.rows.push({ header: rowHeader && rowCells.length > 0, cells: rowCells });
          rowCells = null;
          break;
        case "table":
          table = null;
          break;
      }
      continue;
    }
    if (cell !== null) cell += ev.text;
    else if (caption !== null) caption += ev.text;
  }
  const out: string[] = [];
  for (const t of tables) {
    if (out.length) out.push("");
    if (t.caption) out.push(t.caption, "");
    const ncols = Math.max(0, ...t.rows.map((r) => r.cells.length));
    const widths = Array.from({ length: ncols }, (_, i) =>
      Math.max(0, ...t.rows.map((r) => Array.from(r.cells[i] ?? "").length)),
    );
    const line = (cells: readonly string[]) =>
      widths
        .map((w, i) => {
          const s = cells[i] ?? "";
          return s + " ".repeat(w - Array.from(s).length);
        })
        .join("  ")
        .replace(/\s+$/u, "");
    t.rows.forEach((r, i) => {
      out.push(line(r.cells));
      if (r.header && !t.rows[i + 1]?.header) out.push(widths.map((w) => "─".repeat(w)).join("  "));
    });
  }
  return out.length ? `${out.join("\n")}\n` : "";
}
