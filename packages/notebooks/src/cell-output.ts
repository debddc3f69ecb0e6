/**
 * What running a cell produces, in the runner's own small vocabulary (mapped to nbformat's
 * `stream` / `display_data` / `error` outputs by `outputsToIpynb`), and the per-run sink that
 * collects it into the cell currently executing.
 */

/** The MIME types a notebook cell may display (tslab's `display.html/svg/markdown/text`). */
export type DisplayMime = "text/html" | "image/svg+xml" | "text/markdown" | "text/plain";

export type CellOutput =
  | { readonly kind: "stream"; readonly name: "stdout" | "stderr"; readonly text: string }
  | { readonly kind: "display"; readonly mime: DisplayMime; readonly data: string }
  | { readonly kind: "error"; readonly ename: string; readonly evalue: string };

/**
 * Collects outputs into `outputs[current]`. Consecutive writes to the same stream are merged into
 * one output, as Jupyter's front ends and nbclient merge stream messages.
 */
export class OutputSink {
  readonly outputs: CellOutput[][];
  /** The cell index the program is executing (switched by the cell markers). */
  current = -1;

  constructor(cellCount: number) {
    this.outputs = Array.from({ length: cellCount }, () => []);
  }

  push(output: CellOutput, cell = this.current): void {
    const list = this.outputs[cell];
    if (list === undefined) return;
    const last = list[list.length - 1];
    if (output.kind === "stream" && last?.kind === "stream" && last.name === output.name) {
      list[list.length - 1] = { kind: "stream", name: output.name, text: last.text + output.text };
    } else {
      list.push(output);
    }
  }

  stream(name: "stdout" | "stderr", text: string): void {
    this.push({ kind: "stream", name, text });
  }

  display(mime: DisplayMime, data: string): void {
    this.push({ kind: "display", mime, data });
  }
}
