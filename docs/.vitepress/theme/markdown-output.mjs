/**
 * How a `tslab.display.markdown(s)` output becomes HTML — one function for the build
 * (scripts/gen-notebooks.mjs, gen-live.mjs pre-render it) and the browser (after a Run), so a
 * re-run shows exactly what the page was built with. Plain markdown-it: the notebook's own
 * output, not a docs page, so no VitePress extensions.
 */
import MarkdownIt from "markdown-it";

const md = new MarkdownIt({ html: false, linkify: true });

/** @param {string} source @returns {string} */
export function markdownOutputHtml(source) {
  return md.render(source);
}
