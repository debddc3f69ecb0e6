#!/usr/bin/env node
// Executes every notebook in packages/notebooks/notebooks/ for real: Jupyter's nbconvert drives the
// tslab kernel, which type-checks each cell with TypeScript and runs it on the built packages
// (dist/, CommonJS). A failing or ill-typed cell fails the run. The executed notebooks are written
// to .nbout/ (kept as CI artifacts).
//
// nbconvert's own summary of a tslab failure is an empty "<Error>: "; the real message is in the
// cell's stderr stream. So a notebook that fails is executed once more with --allow-errors and the
// failing cell's source and stderr are printed.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const notebookDir = join(root, "packages/notebooks/notebooks");
const outDir = join(root, ".nbout");
// Debian's python3, which has nbconvert; a pyenv python3 earlier on PATH usually does not.
const python = "/usr/bin/python3";

const probe = spawnSync(python, ["-c", "import nbconvert, jupyter_client"], { encoding: "utf8" });
if (probe.status !== 0) {
  console.error(
    `run-notebooks: ${python} cannot import nbconvert/jupyter_client.\n` +
      "Install them with: apt-get install --no-install-recommends jupyter-nbconvert python3-jupyter-client\n" +
      "(.ci/run does this; see shared/TOOLING.md §4)",
  );
  process.exit(2);
}

const only = process.argv.slice(2);
const notebooks = readdirSync(notebookDir)
  .filter((f) => f.endsWith(".ipynb"))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
if (notebooks.length === 0) {
  console.error(`run-notebooks: no notebook matches ${only.join(" ") || `in ${notebookDir}`}`);
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const env = {
  ...process.env,
  // The kernelspec runs `tslab`, which npm puts on PATH for scripts; add it for direct runs too.
  PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH ?? ""}`,
  JUPYTER_PATH: join(root, "packages/notebooks/jupyter"),
  JUPYTER_RUNTIME_DIR: join(outDir, ".runtime"),
};

function nbconvert(file, extra) {
  return spawnSync(
    python,
    [
      "-m",
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.kernel_name=tslab",
      "--ExecutePreprocessor.timeout=120",
      "--output-dir",
      outDir,
      ...extra,
      join(notebookDir, file),
    ],
    { env, encoding: "utf8" },
  );
}

/** The failing cell of an executed notebook: the first code cell with stderr or an error output. */
function explainFailure(file) {
  nbconvert(file, ["--allow-errors"]);
  const out = join(outDir, file);
  if (!existsSync(out)) return "(no executed notebook was written)";
  const nb = JSON.parse(readFileSync(out, "utf8"));
  const code = nb.cells.filter((c) => c.cell_type === "code");
  for (const [i, cell] of code.entries()) {
    const bad = cell.outputs.filter(
      (o) => o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr"),
    );
    if (bad.length === 0) continue;
    const text = bad
      .map((o) =>
        o.output_type === "error" ? `${o.ename}: ${o.evalue}` : [o.text].flat().join(""),
      )
      .join("\n");
    return `code cell ${i + 1} (id ${cell.id}):\n${[cell.source].flat().join("")}\n--- error ---\n${text}`;
  }
  return "(no cell shows an error; see nbconvert's output above)";
}

let failed = 0;
for (const file of notebooks) {
  const started = performance.now();
  const run = nbconvert(file, []);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (run.status === 0) {
    console.log(`ok    ${file} (${seconds} s)`);
    continue;
  }
  failed++;
  console.log(`FAIL  ${file} (${seconds} s)`);
  console.log(run.stderr.split("\n").slice(-6).join("\n"));
  console.log(explainFailure(file));
}
console.log(
  `${notebooks.length - failed}/${notebooks.length} notebooks ran without a failing cell`,
);
process.exit(failed === 0 ? 0 : 1);
