/**
 * Runs a notebook's code cells in Node or in a browser, without Jupyter: the engine behind the
 * `vfio-lab run` command, the docs site's live notebook pages and the test that executes every
 * notebook.
 *
 * The code cells are joined, each preceded by a marker call (`__vfioLabCell__(3);`), transpiled
 * once with sucrase (`typescript` + `imports`: types stripped, `import` → `require()`), and run as
 * the body of one `AsyncFunction(require, exports, console, marker)`. So all cells share one
 * top-level scope — a name declared in cell 2 is visible in cell 5, as in tslab — top-level
 * `await` works, and the marker switches which cell `console` and `tslab.display` write to.
 * Every run starts from nothing: the model is deterministic, so running cells 0..k again is
 * exactly the state a Jupyter kernel would hold after running them once.
 *
 * Errors land on their cell and stop the run, as nbconvert stops at the first failing cell:
 * - a syntax error is found per cell (each cell must parse on its own, as tslab compiles cell by
 *   cell); the cells before it still run;
 * - an error the JavaScript engine raises while compiling the joined program (a name declared
 *   twice, `await` in a plain function) is pinned to the first cell whose prefix fails to compile;
 * - an uncaught exception lands on the cell whose marker ran last. A `SysError` is named by its
 *   errno (`EBUSY`), so a failing notebook reads like a failing syscall.
 *
 * Caveat: unlike tslab, the value of a cell's last expression is not displayed (print it with
 * `console.log`), and nothing is type-checked — tslab does that in CI.
 */

import { SysError } from "@vfio-lab/kernel";
import { transform } from "sucrase";
import { captureConsole } from "./capture-console.js";
import { type CellOutput, OutputSink } from "./cell-output.js";
import { inspect } from "./inspect.js";
import { activeRuns, LAB_MODULES } from "./lab-modules.js";
import type { NotebookFile } from "./notebook-file.js";
import { createTslabShim } from "./tslab-shim.js";

export interface RunOptions {
  /** Run cells 0..upTo (inclusive); later cells get no outputs. Default: every cell. */
  readonly upTo?: number;
  /** Replacement sources by cell index (the cells a reader edited in the browser). */
  readonly sources?: Readonly<Record<number, string>>;
}

export interface RunResult {
  /** Outputs per cell index (markdown, raw and cells that did not run: empty). */
  readonly outputs: CellOutput[][];
  /** The cell that failed (its last output is the error), or null. */
  readonly failedCell: number | null;
  /** The code cells that ran, in order, the failing one included: In [1], In [2], … */
  readonly executed: readonly number[];
}

/** The marker call between cells; an unlikely name, since it shares the notebook's scope. */
const MARKER = "__vfioLabCell__";

const SUCRASE = { transforms: ["typescript", "imports"] as ("typescript" | "imports")[] };

type AsyncFunctionCtor = new (...params: string[]) => (...args: unknown[]) => Promise<unknown>;
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as AsyncFunctionCtor;

const PARAMS = ["require", "exports", "console", MARKER] as const;

interface CodeCell {
  readonly index: number;
  readonly source: string;
}

interface CompileFailure {
  readonly cell: number;
  readonly error: CellOutput;
}

/** The joined program, and where each cell's source starts in it. */
function joinCells(cells: readonly CodeCell[]): { code: string; bodies: number[] } {
  let code = "";
  const bodies: number[] = [];
  for (const c of cells) {
    code += `${MARKER}(${c.index});\n`;
    bodies.push(code.length);
    // The newline ends a trailing `//` comment; the semicolon ends a statement ASI left open.
    code += `${c.source}\n;\n`;
  }
  return { code, bodies };
}

interface SucraseError {
  message: string;
  pos: number;
}

function isSucraseError(e: unknown): e is SucraseError {
  return e instanceof Error && typeof (e as Partial<SucraseError>).pos === "number";
}

/** `line:column` of `pos` in `text`, both 1-based as sucrase reports them. */
function location(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  return `${line}:${pos - before.lastIndexOf("\n")}`;
}

function syntaxErrorOutput(e: unknown, relocate?: string): CellOutput {
  const err = e as Error;
  const message = relocate ? err.message.replace(/\(\d+:\d+\)$/, `(${relocate})`) : err.message;
  return { kind: "error", ename: err.name || "SyntaxError", evalue: message };
}

/** Transpiles and compiles the joined cells; throws what sucrase or the engine throws. */
function build(cells: readonly CodeCell[]): string {
  const js = transform(joinCells(cells).code, SUCRASE).code;
  new AsyncFunction(...PARAMS, js);
  return js;
}

/** Transpiles the cells, or says which cell stops them from compiling and why. */
function compile(cells: readonly CodeCell[]): { js: string } | CompileFailure {
  for (const c of cells) {
    try {
      transform(c.source, SUCRASE);
    } catch (e) {
      return { cell: c.index, error: syntaxErrorOutput(e) };
    }
  }
  try {
    return { js: build(cells) };
  } catch {
    // Every cell parses alone, yet together they do not compile (a name declared twice, which
    // the engine reports without a position): the first prefix that fails ends at the culprit.
  }
  for (let k = 0; k < cells.length; k++) {
    const prefix = cells.slice(0, k + 1);
    try {
      build(prefix);
    } catch (e) {
      if (!isSucraseError(e)) return { cell: cells[k]!.index, error: errorOutput(e) };
      const { code, bodies } = joinCells(prefix);
      const body = bodies[k]!;
      const rel = e.pos >= body ? location(code.slice(body), e.pos - body) : undefined;
      return { cell: cells[k]!.index, error: syntaxErrorOutput(e, rel) };
    }
  }
  throw new Error("runNotebook: the cells compile one prefix at a time but not together");
}

/**
 * An uncaught exception as a cell's `error` output: a `SysError` is named by its errno name
 * (`EBUSY`), any other error by its `name`; a thrown non-Error is printed as `console.log` would.
 */
export function errorOutput(e: unknown): CellOutput {
  if (SysError.isInstance(e)) return { kind: "error", ename: e.code, evalue: e.message };
  if (typeof e === "object" && e !== null) {
    const { name, message } = e as { name?: unknown; message?: unknown };
    if (typeof name === "string" && typeof message === "string")
      return { kind: "error", ename: name, evalue: message };
  }
  return { kind: "error", ename: "Error", evalue: inspect(e) };
}

function checkOptions(nb: NotebookFile, opts: RunOptions): void {
  if (opts.upTo !== undefined && !Number.isInteger(opts.upTo))
    throw new RangeError(`runNotebook: upTo must be an integer, got ${opts.upTo}`);
  for (const key of Object.keys(opts.sources ?? {})) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= nb.cells.length)
      throw new RangeError(`runNotebook: sources[${key}]: the notebook has no cell ${key}`);
    if (typeof opts.sources?.[i] !== "string")
      throw new TypeError(`runNotebook: sources[${key}] must be a string`);
  }
}

function makeRequire(tslab: unknown): (name: string) => unknown {
  return (name: string) => {
    if (name === "tslab") return tslab;
    if (Object.hasOwn(LAB_MODULES, name)) return LAB_MODULES[name];
    throw new Error(
      `Cannot find module '${name}': notebook cells can import ${Object.keys(LAB_MODULES).join(", ")}`,
    );
  };
}

/**
 * Runs cells 0..`upTo` of `nb` from a fresh state and collects each cell's outputs. Never
 * rejects because of the notebook's code: a failure is an `error` output on its cell and
 * `failedCell`. Rejects only on bad `opts`.
 */
export async function runNotebook(nb: NotebookFile, opts: RunOptions = {}): Promise<RunResult> {
  checkOptions(nb, opts);
  const last = Math.min(opts.upTo ?? nb.cells.length - 1, nb.cells.length - 1);
  const cells: CodeCell[] = [];
  for (let i = 0; i <= last; i++) {
    const cell = nb.cells[i]!;
    if (cell.cell_type === "code")
      cells.push({ index: i, source: opts.sources?.[i] ?? cell.source });
  }

  // Find the first cell that does not compile; everything before it still runs.
  let runnable = cells;
  let failure: CompileFailure | null = null;
  let program: string | null = null;
  while (program === null) {
    const r = compile(runnable);
    if ("js" in r) {
      program = r.js;
    } else {
      failure = r;
      runnable = runnable.filter((c) => c.index < r.cell);
    }
  }

  const sink = new OutputSink(nb.cells.length);
  const executed: number[] = [];
  const setCell = (i: number): void => {
    sink.current = i;
    executed.push(i);
  };
  const fn = new AsyncFunction(...PARAMS, program);
  activeRuns.push(sink);
  try {
    await fn(makeRequire(createTslabShim(() => sink)), {}, captureConsole(sink), setCell);
  } catch (e) {
    const cell = sink.current >= 0 ? sink.current : (runnable[0]?.index ?? 0);
    sink.push(errorOutput(e), cell);
    return { outputs: sink.outputs, failedCell: cell, executed };
  } finally {
    activeRuns.splice(activeRuns.lastIndexOf(sink), 1);
  }
  if (failure !== null) {
    executed.push(failure.cell);
    sink.push(failure.error, failure.cell);
    return { outputs: sink.outputs, failedCell: failure.cell, executed };
  }
  return { outputs: sink.outputs, failedCell: null, executed };
}
