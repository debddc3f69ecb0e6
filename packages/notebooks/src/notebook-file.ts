/**
 * The subset of Jupyter's nbformat 4 (https://nbformat.readthedocs.io/en/latest/format_description.html)
 * the runner reads: cells with their type, id and source, and the notebook metadata, where
 * vfio-lab keeps each notebook's title, one-sentence summary and the seed thread it walks through.
 *
 * Sources are joined into one string on parse (nbformat allows a string or a list of lines);
 * outputs and execution counts in the file are ignored, since the runner recomputes them.
 *
 * Caveat: only nbformat 4 is accepted (what tslab and nbconvert write today); attachments and
 * widget state are carried in `metadata`/`extra` untouched but never interpreted.
 */

/** The three nbformat cell types. Only `code` cells run; `raw` cells are kept and ignored. */
export type CellType = "code" | "markdown" | "raw";

export interface NotebookCell {
  readonly cell_type: CellType;
  /** nbformat ≥ 4.5 requires an id; older files get `null`. */
  readonly id: string | null;
  /** The cell's text, lines joined. */
  readonly source: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** `metadata["vfio-lab"]` of every notebook in `packages/notebooks/notebooks/`. */
export interface VfioLabNotebookInfo {
  readonly title: string;
  /** One sentence. */
  readonly summary: string;
  /** The seed thread (`seeds/NNN-*`) the notebook walks through, or null for the tour. */
  readonly seed: string | null;
}

export interface KernelSpec {
  readonly name: string;
  readonly display_name: string;
  readonly language?: string;
}

export interface NotebookMetadata {
  readonly kernelspec?: KernelSpec;
  readonly "vfio-lab"?: VfioLabNotebookInfo;
  readonly [key: string]: unknown;
}

/** A parsed `.ipynb`. */
export interface NotebookFile {
  readonly nbformat: 4;
  readonly nbformat_minor: number;
  readonly metadata: NotebookMetadata;
  readonly cells: readonly NotebookCell[];
}

/** A `.ipynb` that is not JSON or not the nbformat 4 shape; `path` says where (`cells[3].source`). */
export class NotebookFormatError extends Error {
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string) {
    super(path === "" ? reason : `${path}: ${reason}`);
    this.name = "NotebookFormatError";
    this.path = path;
    this.reason = reason;
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

/** nbformat's "multiline string": a string, or a list of strings to concatenate. */
function multiline(v: unknown, path: string): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    v.forEach((line, i) => {
      if (typeof line !== "string")
        throw new NotebookFormatError(`${path}[${i}]`, `expected a string, got ${describe(line)}`);
    });
    return v.join("");
  }
  throw new NotebookFormatError(path, `expected a string or a list of strings, got ${describe(v)}`);
}

function parseCell(raw: unknown, i: number, minor: number): NotebookCell {
  const path = `cells[${i}]`;
  if (!isObject(raw))
    throw new NotebookFormatError(path, `expected an object, got ${describe(raw)}`);
  const type = raw.cell_type;
  if (type !== "code" && type !== "markdown" && type !== "raw")
    throw new NotebookFormatError(
      `${path}.cell_type`,
      `expected "code", "markdown" or "raw", got ${describe(type)}`,
    );
  let id: string | null = null;
  if (raw.id !== undefined) {
    if (typeof raw.id !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(raw.id))
      throw new NotebookFormatError(
        `${path}.id`,
        `expected 1-64 letters, digits, '-' or '_', got ${describe(raw.id)}`,
      );
    id = raw.id;
  } else if (minor >= 5) {
    throw new NotebookFormatError(`${path}.id`, "missing (nbformat 4.5 requires a cell id)");
  }
  if (raw.source === undefined) throw new NotebookFormatError(`${path}.source`, "missing");
  const source = multiline(raw.source, `${path}.source`);
  const metadata = raw.metadata ?? {};
  if (!isObject(metadata))
    throw new NotebookFormatError(
      `${path}.metadata`,
      `expected an object, got ${describe(metadata)}`,
    );
  return { cell_type: type, id, source, metadata };
}

function checkInfo(v: unknown): void {
  const path = 'metadata["vfio-lab"]';
  if (!isObject(v)) throw new NotebookFormatError(path, `expected an object, got ${describe(v)}`);
  for (const key of ["title", "summary"] as const) {
    if (typeof v[key] !== "string")
      throw new NotebookFormatError(`${path}.${key}`, `expected a string, got ${describe(v[key])}`);
  }
  if (v.seed !== null && typeof v.seed !== "string")
    throw new NotebookFormatError(
      `${path}.seed`,
      `expected a string or null, got ${describe(v.seed)}`,
    );
}

/**
 * Parses the text of an `.ipynb` file. Throws `NotebookFormatError` naming the first offending
 * field; the error never depends on anything but the text.
 */
export function parseNotebook(json: string): NotebookFile {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new NotebookFormatError("", `not JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc))
    throw new NotebookFormatError("", `expected a notebook object, got ${describe(doc)}`);
  if (doc.nbformat !== 4)
    throw new NotebookFormatError("nbformat", `expected 4, got ${describe(doc.nbformat)}`);
  const minor = doc.nbformat_minor;
  if (typeof minor !== "number" || !Number.isInteger(minor) || minor < 0)
    throw new NotebookFormatError("nbformat_minor", `expected an integer, got ${describe(minor)}`);
  const metadata = doc.metadata ?? {};
  if (!isObject(metadata))
    throw new NotebookFormatError("metadata", `expected an object, got ${describe(metadata)}`);
  if (metadata["vfio-lab"] !== undefined) checkInfo(metadata["vfio-lab"]);
  if (!Array.isArray(doc.cells))
    throw new NotebookFormatError("cells", `expected a list, got ${describe(doc.cells)}`);
  const cells = doc.cells.map((c, i) => parseCell(c, i, minor));
  const seen = new Map<string, number>();
  cells.forEach((c, i) => {
    if (c.id === null) return;
    const first = seen.get(c.id);
    if (first !== undefined)
      throw new NotebookFormatError(
        `cells[${i}].id`,
        `"${c.id}" is also the id of cells[${first}]`,
      );
    seen.set(c.id, i);
  });
  return { nbformat: 4, nbformat_minor: minor, metadata: metadata as NotebookMetadata, cells };
}

/** The notebook's vfio-lab metadata, or null when the file has none. */
export function notebookInfo(nb: NotebookFile): VfioLabNotebookInfo | null {
  return nb.metadata["vfio-lab"] ?? null;
}
