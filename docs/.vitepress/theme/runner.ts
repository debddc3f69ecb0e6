/**
 * The notebook runner, loaded on the first Run: `@vfio-lab/notebooks` pulls in the whole model
 * and sucrase, so it is a separate chunk that a reader who only reads never downloads.
 */

import type { CellOutput, NotebookFile, RunResult } from "@vfio-lab/notebooks";

export type { CellOutput, NotebookFile, RunResult };

/** A cell output as a page holds it: markdown displays carry their HTML. */
export type PageOutput = CellOutput & { readonly html?: string };

type Runner = typeof import("@vfio-lab/notebooks");
let runner: Promise<Runner> | null = null;

export function loadRunner(): Promise<Runner> {
  runner ??= import("@vfio-lab/notebooks").catch((e: unknown) => {
    runner = null; // let a later Run try again
    throw e;
  });
  return runner;
}

/** Resolves after the browser has painted, so a "running…" state shows before a long run. */
export function afterPaint(): Promise<void> {
  return new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
}

/** A one-cell notebook around `code` (what a `ts live` block runs as). */
export function liveNotebook(parse: Runner["parseNotebook"], code: string): NotebookFile {
  return parse(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [{ cell_type: "code", id: "live", metadata: {}, source: code, outputs: [] }],
    }),
  );
}

/** base64 of UTF-8 JSON (how live-code.ts passes a block's code and outputs) → the value. */
export function fromBase64Json<T>(b64: string): T {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as T;
}

/**
 * A run's outputs as the page shows them: markdown displays rendered (by the module the build
 * used, loaded only when a markdown output appears).
 */
export async function toPageOutputs(outputs: readonly CellOutput[]): Promise<PageOutput[]> {
  if (!outputs.some((o) => o.kind === "display" && o.mime === "text/markdown")) return [...outputs];
  const { markdownOutputHtml } = await import("./markdown-output.mjs");
  return outputs.map((o) =>
    o.kind === "display" && o.mime === "text/markdown"
      ? { ...o, html: markdownOutputHtml(o.data) }
      : o,
  );
}
