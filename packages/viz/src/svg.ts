/**
 * A tiny XML/SVG builder. Every string that reaches a picture goes through `escapeText` or
 * `escapeAttr`, so a device name, a path or a printk line can never break the document: markup
 * characters become entities and characters XML 1.0 cannot carry at all (C0 controls, lone
 * surrogates, U+FFFE/U+FFFF) become U+FFFD.
 *
 * Pictures are laid out on a character grid — 8 px per column, 16 px per row — so the same
 * coordinates give a good SVG (12 px monospace text is narrower than a cell) and an exact text
 * rendering (`svgToText`). `GridCanvas` takes grid coordinates and writes pixels.
 */

/** Pixels per grid column and row: what `svgToText` divides by. */
export const CELL_W = 8;
export const CELL_H = 16;

const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Replaces what XML 1.0 cannot represent (even as a character reference) with U+FFFD. */
export function xmlSafe(s: string): string {
  return s.replace(NOT_XML_CHAR, "\uFFFD");
}

/** Text content: `&`, `<`, `>` escaped. */
export function escapeText(s: string): string {
  return xmlSafe(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** An attribute value (double-quoted): also quotes and the whitespace XML would normalise. */
export function escapeAttr(s: string): string {
  return escapeText(s)
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;")
    .replace(/\t/g, "&#9;")
    .replace(/\n/g, "&#10;")
    .replace(/\r/g, "&#13;");
}

export type AttrValue = string | number | undefined | null | false;
export type Attrs = Readonly<Record<string, AttrValue>>;

function attrText(attrs: Attrs): string {
  let out = "";
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    out += ` ${k}="${escapeAttr(typeof v === "number" ? fmtNum(v) : v)}"`;
  }
  return out;
}

/** Numbers as short, stable text (no `1e21`, no `0.30000000000000004`). */
export function fmtNum(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return String(Math.round(n * 100) / 100);
}

/** `<name attrs>children</name>`; children are already-built markup. */
export function el(name: string, attrs: Attrs = {}, ...children: string[]): string {
  if (children.length === 0) return `<${name}${attrText(attrs)}/>`;
  return `<${name}${attrText(attrs)}>${children.join("")}</${name}>`;
}

/** `<name attrs>text</name>` with the text escaped. */
export function textEl(name: string, attrs: Attrs, text: string): string {
  return `<${name}${attrText(attrs)}>${escapeText(text)}</${name}>`;
}

/** Code points of `s` (what a terminal cell holds, roughly). */
export function charLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** `s` cut to `max` characters, ending in `…` when it was cut. */
export function fit(s: string, max: number): string {
  const chars = Array.from(s);
  if (chars.length <= max) return s;
  if (max <= 0) return "";
  return `${chars.slice(0, max - 1).join("")}…`;
}

const STYLE = [
  "text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:12px}",
  ".b{font-weight:bold}",
  ".h{font-size:13px;font-weight:bold}",
  // A white halo keeps a label readable where it crosses a line.
  ".halo{paint-order:stroke;stroke:#ffffff;stroke-width:3px;stroke-linejoin:round}",
].join("");

export interface SvgDocOptions {
  /** Grid size: the picture is `cols × 8` by `rows × 16` pixels. */
  readonly cols: number;
  readonly rows: number;
  /** The accessible name (`<title>`) and first line of `svgToText`. */
  readonly title: string;
  /** The picture in words (`<desc>`). */
  readonly desc: string;
  /** A class on the root element (`vfio-lab-topology`…). */
  readonly className: string;
}

/** A complete, self-contained SVG document (no external fonts, images or links). */
export function svgDocument(opts: SvgDocOptions, body: readonly string[]): string {
  const w = opts.cols * CELL_W;
  const h = opts.rows * CELL_H;
  // A picture always has an accessible name.
  const title = opts.title.trim() === "" ? "Untitled picture" : opts.title;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="${escapeAttr(opts.className)}" role="img"` +
    ` width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
    `<title>${escapeText(title)}</title>` +
    `<desc>${escapeText(opts.desc)}</desc>` +
    `<style>${STYLE}</style>` +
    `<rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>` +
    `${body.join("\n")}\n</svg>\n`
  );
}

export interface BoxStyle {
  readonly fill?: string;
  readonly stroke?: string;
  readonly strokeWidth?: number;
  readonly dashed?: boolean;
  readonly rx?: number;
  readonly className?: string;
}

export interface TextStyle {
  readonly fill?: string;
  readonly bold?: boolean;
  readonly heading?: boolean;
  readonly anchor?: "start" | "middle" | "end";
  readonly italic?: boolean;
  /** A white outline behind the glyphs (labels drawn across lines). */
  readonly halo?: boolean;
  readonly className?: string;
}

/**
 * Draws on the character grid. A box at (col, row) of `w × h` cells has its outline through
 * the middle of cells — columns col…col+w and rows row…row+h — so text fits on the rows and
 * columns strictly inside it. Text sits on one row, its baseline 12 px below the row's top.
 */
/** How a grid line is drawn: colour, width, dashes, and an arrowhead marker's id. */
export interface LineStyle {
  readonly stroke: string;
  readonly width?: number;
  readonly dashed?: boolean;
  readonly arrow?: string;
}

export class GridCanvas {
  readonly parts: string[] = [];

  /** A box outline (and fill). Without `stroke` it is a background only, not an outline. */
  box(col: number, row: number, w: number, h: number, style: BoxStyle = {}): void {
    this.parts.push(
      el("rect", {
        class: style.className,
        x: col * CELL_W + CELL_W / 2,
        y: row * CELL_H + CELL_H / 2,
        width: w * CELL_W,
        height: h * CELL_H,
        rx: style.rx ?? 3,
        fill: style.fill ?? "none",
        stroke: style.stroke ?? "none",
        "stroke-width": style.stroke ? (style.strokeWidth ?? 1) : undefined,
        "stroke-dasharray": style.dashed ? "5 3" : undefined,
      }),
    );
  }

  /** A background band filling whole cells (no outline: `svgToText` ignores it). */
  band(col: number, row: number, w: number, h: number, fill: string): void {
    this.parts.push(
      el("rect", {
        x: col * CELL_W,
        y: row * CELL_H,
        width: w * CELL_W,
        height: h * CELL_H,
        fill,
      }),
    );
  }

  /** One line of text; `max` cuts it (with `…`) to that many characters. */
  text(col: number, row: number, s: string, style: TextStyle = {}, max?: number): void {
    const shown = max === undefined ? s : fit(s, max);
    const cls = [
      style.bold ? "b" : "",
      style.heading ? "h" : "",
      style.halo ? "halo" : "",
      style.className ?? "",
    ]
      .filter((c) => c !== "")
      .join(" ");
    const anchor = style.anchor ?? "start";
    const x =
      anchor === "middle"
        ? col * CELL_W + CELL_W / 2
        : anchor === "end"
          ? (col + 1) * CELL_W
          : col * CELL_W;
    this.parts.push(
      textEl(
        "text",
        {
          class: cls || undefined,
          x,
          y: row * CELL_H + 12,
          // A presentation attribute, not CSS: the style sheet must not override it.
          fill: style.fill ?? "#111827",
          "text-anchor": anchor === "start" ? undefined : anchor,
          "font-style": style.italic ? "italic" : undefined,
        },
        shown,
      ),
    );
  }

  /** A horizontal line through the middle of row `row`, from column `c1` to `c2`. */
  hline(c1: number, c2: number, row: number, style: LineStyle): void {
    this.line(c1, row, c2, row, style);
  }

  /** A vertical line through the middle of column `col`, from row `r1` to `r2`. */
  vline(col: number, r1: number, r2: number, style: LineStyle): void {
    this.line(col, r1, col, r2, style);
  }

  /** A line between the centres of two grid cells. */
  private line(c1: number, r1: number, c2: number, r2: number, style: LineStyle): void {
    this.parts.push(
      el("line", {
        x1: c1 * CELL_W + CELL_W / 2,
        y1: r1 * CELL_H + CELL_H / 2,
        x2: c2 * CELL_W + CELL_W / 2,
        y2: r2 * CELL_H + CELL_H / 2,
        stroke: style.stroke,
        "stroke-width": style.width ?? 1,
        "stroke-dasharray": style.dashed ? "4 3" : undefined,
        "marker-end": style.arrow ? `url(#${style.arrow})` : undefined,
      }),
    );
  }

  /** Raw markup (a `<g>` with a tooltip, `<defs>`). */
  raw(markup: string): void {
    this.parts.push(markup);
  }
}

/** An arrowhead marker `id` in `colour`, for `marker-end`. */
export function arrowMarker(id: string, colour: string): string {
  return el(
    "marker",
    {
      id,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
    },
    el("path", { d: "M0,0L10,5L0,10z", fill: colour }),
  );
}
