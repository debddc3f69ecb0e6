/**
 * The `tslab` module as notebook cells see it under the vfio-lab runner: the same `display`
 * object shape as tslab's public API (`display.html(s)`, `display.svg(s)`, `display.markdown(s)`,
 * `display.text(s)`), so one notebook runs unchanged in Jupyter and in the runner. Each call adds
 * a display output to the cell that is executing.
 *
 * Caveat: tslab's binary and exotic displays (`png`, `jpeg`, `gif`, `pdf`, `latex`, `javascript`,
 * `raw`) and `newDisplay()` (an updatable display) are not offered: our notebooks do not use them,
 * and a call fails loudly instead of dropping the output.
 */

import type { DisplayMime, OutputSink } from "./cell-output.js";

/** The part of tslab's `Display` interface the runner implements. */
export interface TslabDisplay {
  html(s: string): void;
  svg(s: string): void;
  markdown(s: string): void;
  text(s: string): void;
}

export interface TslabShim {
  readonly __esModule: true;
  readonly display: TslabDisplay;
}

const UNSUPPORTED = ["javascript", "latex", "png", "jpeg", "gif", "pdf", "raw"] as const;

/** A `tslab` module whose displays go wherever `target()` says (a run's sink, or nowhere). */
export function createTslabShim(target: () => OutputSink | null): TslabShim {
  const show = (method: string, mime: DisplayMime) => (s: string) => {
    if (typeof s !== "string")
      throw new TypeError(`tslab.display.${method}() takes a string, got ${typeof s}`);
    const sink = target();
    if (sink === null) throw new Error(`tslab.display.${method}() called outside a notebook run`);
    sink.display(mime, s);
  };
  const display: Record<string, unknown> = {
    html: show("html", "text/html"),
    svg: show("svg", "image/svg+xml"),
    markdown: show("markdown", "text/markdown"),
    text: show("text", "text/plain"),
  };
  for (const name of UNSUPPORTED) {
    display[name] = () => {
      throw new Error(`tslab.display.${name}() is not supported by the vfio-lab notebook runner`);
    };
  }
  return Object.freeze({
    __esModule: true,
    display: Object.freeze(display) as unknown as TslabDisplay,
  });
}
