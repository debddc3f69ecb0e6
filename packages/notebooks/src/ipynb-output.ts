/**
 * From the runner's outputs back to nbformat 4: the `outputs` list of a code cell and a whole
 * executed notebook, written the way Jupyter writes `.ipynb` files (keys sorted, one-space
 * indent, multi-line strings as lists of lines) so that a notebook executed by `vfio-lab run
 * --json` diffs cleanly against one executed by nbconvert.
 *
 * Caveat: markdown-cell attachments are not carried over (the parser does not keep them).
 */

import type { CellOutput } from "./cell-output.js";
import type { NotebookFile } from "./notebook-file.js";
import type { RunResult } from "./run-notebook.js";

/** nbformat's multi-line string: the text split after each newline. */
function lines(text: string): string[] {
  return text === "" ? [] : text.split(/(?<=\n)/);
}

export type IpynbOutput =
  | { output_type: "stream"; name: "stdout" | "stderr"; text: string[] }
  | { output_type: "display_data"; data: Record<string, string[]>; metadata: Record<string, never> }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

/** A code cell's outputs as nbformat output objects (stream, display_data, error). */
export function outputsToIpynb(outputs: readonly CellOutput[]): IpynbOutput[] {
  return outputs.map((o): IpynbOutput => {
    if (o.kind === "stream") return { output_type: "stream", name: o.name, text: lines(o.text) };
    if (o.kind === "display")
      return { output_type: "display_data", data: { [o.mime]: lines(o.data) }, metadata: {} };
    return {
      output_type: "error",
      ename: o.ename,
      evalue: o.evalue,
      traceback: [`${o.ename}: ${o.evalue}`],
    };
  });
}

/**
 * The notebook with `result`'s outputs and execution counts filled in (cells that did not run
 * keep `execution_count: null` and no outputs). `sources` are the replacement sources the run
 * used, if any.
 */
export function executedNotebook(
  nb: NotebookFile,
  result: RunResult,
  sources: Readonly<Record<number, string>> = {},
): Record<string, unknown> {
  const counts = new Map(result.executed.map((cell, i) => [cell, i + 1]));
  const cells = nb.cells.map((c, i) => {
    const source = lines(sources[i] ?? c.source);
    const id = c.id === null ? {} : { id: c.id };
    if (c.cell_type !== "code")
      return { cell_type: c.cell_type, ...id, metadata: c.metadata, source };
    return {
      cell_type: "code",
      execution_count: counts.get(i) ?? null,
      ...id,
      metadata: c.metadata,
      outputs: outputsToIpynb(result.outputs[i] ?? []),
      source,
    };
  });
  return { cells, metadata: nb.metadata, nbformat: 4, nbformat_minor: nb.nbformat_minor };
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v !== "object" || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
  return out;
}

/** `.ipynb` text as Jupyter writes it: sorted keys, indent 1, trailing newline. */
export function ipynbText(notebook: Record<string, unknown>): string {
  return `${JSON.stringify(sortKeys(notebook), null, 1)}\n`;
}
