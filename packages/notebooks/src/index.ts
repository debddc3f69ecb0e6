/**
 * `@vfio-lab/notebooks`: the notebook runner shared by the `vfio-lab` CLI, the docs site and the
 * tests — parse an `.ipynb`, run its TypeScript cells against the model in Node or a browser,
 * collect outputs per cell, write them back as nbformat. Browser-safe; the CLI lives in `cli.ts`.
 *
 * @packageDocumentation
 */

export type { CellOutput, DisplayMime } from "./cell-output.js";
export { formatArgs, inspect } from "./inspect.js";
export { executedNotebook, type IpynbOutput, ipynbText, outputsToIpynb } from "./ipynb-output.js";
export { LAB_MODULES } from "./lab-modules.js";
export {
  type CellType,
  type KernelSpec,
  type NotebookCell,
  type NotebookFile,
  NotebookFormatError,
  type NotebookMetadata,
  notebookInfo,
  parseNotebook,
  type VfioLabNotebookInfo,
} from "./notebook-file.js";
export { errorOutput, type RunOptions, type RunResult, runNotebook } from "./run-notebook.js";
export type { TslabDisplay, TslabShim } from "./tslab-shim.js";
