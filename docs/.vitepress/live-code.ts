/**
 * A markdown-it plugin: a fenced block whose info string is `ts live` (or `typescript live`)
 * becomes a `<LiveCode>` component — the code, editable, with a Run button that runs it in the
 * browser as a one-cell notebook.
 *
 * The code and its pre-computed outputs travel as base64 of UTF-8 JSON in plain attributes, so
 * nothing in them can reach Vue's template compiler (`{{ }}`, `<`, quotes). Outputs come from
 * `docs/.vitepress/live-outputs.json`, which `scripts/gen-live.mjs` writes by running every
 * `ts live` block in Node before the build, keyed by `liveKey(code)`; a block edited since (in
 * `vitepress dev`) renders without outputs until its Run button is pressed.
 */

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { MarkdownRenderer } from "vitepress";

/** `ts live`, `typescript live`, `ts live title="…"` (anything after `live` is ignored). */
export const LIVE_INFO = /^(?:ts|typescript)\s+live(?:\s|$)/;

/** The key of a block's outputs in live-outputs.json. */
export function liveKey(code: string): string {
  return createHash("sha256").update(code).digest("hex").slice(0, 16);
}

export function toBase64(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64");
}

/** Reads the pre-computed outputs each time (dev re-reads after a `gen-live` run). */
function loadOutputs(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

export function liveCodePlugin(md: MarkdownRenderer, opts: { outputsFile: string }): void {
  const fallback = md.renderer.rules.fence;
  md.renderer.rules.fence = (tokens, idx, options, env, self) => {
    const token = tokens[idx]!;
    if (!LIVE_INFO.test(token.info.trim())) {
      return fallback
        ? fallback(tokens, idx, options, env, self)
        : self.renderToken(tokens, idx, options);
    }
    const code = token.content;
    const outputs = loadOutputs(opts.outputsFile)[liveKey(code)];
    const attrs = [`code="${toBase64(code)}"`];
    if (outputs !== undefined) attrs.push(`outputs="${toBase64(outputs)}"`);
    return `<LiveCode ${attrs.join(" ")} />\n`;
  };
}
