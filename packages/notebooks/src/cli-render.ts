/**
 * What the `vfio-lab` CLI prints, as pure functions from data to text (no I/O, no Node APIs):
 * an executed notebook for a terminal, the notebook list, and a booted board's devices, IOMMU
 * groups, drivers, modules and taint. `cli.ts` only reads files and writes these strings.
 *
 * ANSI styling is a parameter: the CLI passes `ANSI` when stdout is a terminal and `PLAIN`
 * otherwise, so piped output and the tests see plain text.
 */

import type { Kernel } from "@vfio-lab/kernel";
import { htmlToText, type SystemSnapshot, svgToText } from "@vfio-lab/viz";
import type { CellOutput } from "./cell-output.js";
import type { NotebookFile, VfioLabNotebookInfo } from "./notebook-file.js";
import type { RunResult } from "./run-notebook.js";

export interface Style {
  readonly bold: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly red: (s: string) => string;
  readonly heading: (s: string) => string;
  /** Whether markdown is rendered (true) or printed as its source (false). */
  readonly rich: boolean;
}

const sgr = (on: string, off: string) => (s: string) =>
  s === "" ? s : `\x1b[${on}m${s}\x1b[${off}m`;

export const ANSI: Style = {
  bold: sgr("1", "22"),
  dim: sgr("2", "22"),
  red: sgr("31", "39"),
  heading: (s) => `\x1b[1;4m${s}\x1b[22;24m`,
  rich: true,
};

export const PLAIN: Style = {
  bold: (s) => s,
  dim: (s) => s,
  red: (s) => s,
  heading: (s) => s,
  rich: false,
};

/** Markdown for a terminal: with `rich`, headings bold and underlined and `**strong**` bold; else unchanged. */
export function renderMarkdown(md: string, style: Style): string {
  if (!style.rich) return md;
  let fenced = false;
  return md
    .split("\n")
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return style.dim(line);
      }
      if (fenced) return line;
      const h = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
      if (h) return style.heading(h[2]!);
      return line.replace(/\*\*([^*]+)\*\*/g, (_, s: string) => style.bold(s));
    })
    .join("\n");
}

function withNewline(s: string): string {
  return s === "" || s.endsWith("\n") ? s : `${s}\n`;
}

/** One output of a cell as terminal text (SVG and HTML through viz's text renderers). */
export function renderOutput(o: CellOutput, style: Style): string {
  switch (o.kind) {
    case "stream":
      return o.text;
    case "display":
      switch (o.mime) {
        case "image/svg+xml":
          return withNewline(svgToText(o.data));
        case "text/html":
          return withNewline(htmlToText(o.data));
        case "text/markdown":
          return withNewline(renderMarkdown(o.data, style));
        case "text/plain":
          return withNewline(o.data);
      }
      return "";
    case "error":
      return withNewline(style.red(`${o.ename}: ${o.evalue}`));
  }
}

/** IPython's prompt: `In [1]: ` on the first line, `   ...: ` on the others. */
function renderSource(source: string, count: number, style: Style): string {
  const prompt = `In [${count}]: `;
  const cont = `${" ".repeat(prompt.length - 5)}...: `;
  const lines = source.replace(/\n+$/, "").split("\n");
  return `${lines.map((l, i) => `${i === 0 ? prompt : cont}${style.dim(l)}`.trimEnd()).join("\n")}\n`;
}

export interface RenderRunOptions {
  /** Print markdown cells and code sources (default true); false prints outputs only. */
  readonly source?: boolean;
  readonly style?: Style;
}

/** An executed notebook as terminal text, cell by cell, ending with a failure line if one failed. */
export function renderRun(
  nb: NotebookFile,
  result: RunResult,
  opts: RenderRunOptions = {},
): string {
  const style = opts.style ?? PLAIN;
  const showSource = opts.source ?? true;
  const counts = new Map(result.executed.map((cell, i) => [cell, i + 1]));
  const blocks: string[] = [];
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type === "markdown") {
      if (showSource)
        blocks.push(withNewline(renderMarkdown(cell.source.replace(/\n+$/, ""), style)));
      return;
    }
    if (cell.cell_type !== "code") return;
    const count = counts.get(i);
    if (count === undefined) return;
    let text = showSource ? renderSource(cell.source, count, style) : "";
    const outputs = (result.outputs[i] ?? []).map((o) => renderOutput(o, style)).join("");
    if (outputs !== "") text += showSource ? `\n${outputs}` : outputs;
    if (text !== "") blocks.push(text);
  });
  if (result.failedCell !== null) {
    const count = counts.get(result.failedCell);
    const err = [...(result.outputs[result.failedCell] ?? [])]
      .reverse()
      .find((o) => o.kind === "error");
    const what = err?.kind === "error" ? `${err.ename}: ${err.evalue}` : "failed";
    blocks.push(
      `${style.red(`Cell ${result.failedCell}${count === undefined ? "" : ` (In [${count}])`} failed: ${what}`)}\n`,
    );
  }
  // With sources, a blank line between cells as in a notebook; outputs only read as one stream.
  return blocks.join(showSource ? "\n" : "");
}

/** Columns padded to the widest entry, two spaces apart, no trailing spaces. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return rows
    .map(
      (r) =>
        `${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}

export interface NotebookListing {
  readonly id: string;
  readonly info: VfioLabNotebookInfo | null;
  /** Why the file could not be read, if it could not. */
  readonly error?: string;
}

/** `vfio-lab list`: id, seed and title in columns, the summary under each. */
export function renderList(items: readonly NotebookListing[], style: Style = PLAIN): string {
  if (items.length === 0) return "No notebooks.\n";
  const idWidth = Math.max(2, ...items.map((n) => n.id.length));
  const seedWidth = Math.max(4, ...items.map((n) => (n.info?.seed ?? "-").length));
  const head = `${"ID".padEnd(idWidth)}  ${"SEED".padEnd(seedWidth)}  TITLE\n`;
  const body = items.map((n) => {
    const seed = (n.info?.seed ?? "-").padEnd(seedWidth);
    const title =
      n.error !== undefined ? style.red(n.error) : (n.info?.title ?? "(no vfio-lab metadata)");
    const summary = n.info?.summary
      ? `${" ".repeat(idWidth + seedWidth + 4)}${style.dim(n.info.summary)}\n`
      : "";
    return `${style.bold(n.id.padEnd(idWidth))}  ${seed}  ${title}\n${summary}`;
  });
  return style.bold(head) + body.join("");
}

/**
 * Three or more consecutive devices alike in everything but their name (QEMU virt's 32
 * virtio-mmio transports) as one row: `a000000…a003e00.virtio_mmio (32)`.
 */
function runName(first: string, last: string, count: number): string {
  const dot = first.indexOf(".");
  const node = dot >= 0 ? first.slice(dot) : null;
  return node !== null && last.endsWith(node)
    ? `${first.slice(0, dot)}…${last.slice(0, -node.length)}${node} (${count})`
    : `${first} … ${last} (${count})`;
}

function collapseRuns(rows: readonly string[][]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < rows.length; ) {
    const key = rows[i]!.slice(1).join("\0");
    let j = i + 1;
    while (j < rows.length && rows[j]!.slice(1).join("\0") === key) j++;
    if (j - i >= 3)
      out.push([runName(rows[i]![0]!, rows[j - 1]![0]!, j - i), ...rows[i]!.slice(1)]);
    else out.push(...rows.slice(i, j));
    i = j;
  }
  return out;
}

function domainText(g: SystemSnapshot["groups"][number]): string {
  return g.domain ? `${g.domain.type} (${g.domain.role})` : "-";
}

/**
 * `vfio-lab board`: the devices (name, bus, compatible, driver, IOMMU group), the IOMMU groups
 * with their members, DMA ownership and domain, the drivers each bus has with what they bind,
 * the loaded modules, and the taint.
 */
export function renderBoard(
  title: string,
  kernel: Kernel,
  snap: SystemSnapshot,
  style: Style = PLAIN,
): string {
  const out: string[] = [];
  const section = (name: string) => out.push(`\n${style.heading(name)}\n`);
  out.push(`${style.bold(title)}\n`);

  section(`Devices (${snap.devices.length})`);
  const rows = snap.devices.map((d) => [
    d.name,
    d.bus,
    d.compatible.join(", ") || "-",
    d.driver ?? "-",
    d.iommuGroup === null ? "-" : String(d.iommuGroup),
  ]);
  out.push(textTable([["DEVICE", "BUS", "COMPATIBLE", "DRIVER", "GROUP"], ...collapseRuns(rows)]));

  section(`IOMMU groups (${snap.groups.length})`);
  if (snap.groups.length === 0) out.push("none\n");
  else
    out.push(
      textTable([
        ["GROUP", "IOMMU", "OWNERSHIP", "DOMAIN", "DEVICES"],
        ...snap.groups.map((g) => [
          String(g.id),
          g.iommu ?? "-",
          g.ownership,
          domainText(g),
          g.devices.join(", "),
        ]),
      ]),
    );

  section("Drivers");
  const drivers: string[][] = [["BUS", "DRIVER", "MODULE", "DEVICES"]];
  for (const bus of [kernel.drivers.platformBus, kernel.drivers.ambaBus]) {
    for (const drv of bus.drivers) {
      drivers.push([
        bus.name,
        drv.name,
        drv.owner ?? "(built-in)",
        drv.devices.map((d) => d.name).join(", ") || "-",
      ]);
    }
  }
  out.push(drivers.length > 1 ? textTable(drivers) : "none\n");

  section("Modules");
  out.push(`${kernel.modules.loadedNames().join(" ") || "none"}\n`);

  section("Taint");
  out.push(`${snap.taint.text}\n`);
  return out.join("");
}
