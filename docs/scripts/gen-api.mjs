#!/usr/bin/env node
/**
 * Generates the API reference (`docs/api/**`, gitignored) from the packages' public entries
 * with TypeDoc + typedoc-plugin-markdown + typedoc-vitepress-theme, which also writes
 * `docs/api/typedoc-sidebar.json` for the VitePress sidebar.
 *
 * One TypeScript program for all entries ("resolve" strategy): cross-package imports resolve
 * to the sources through the `@vfio-lab/source` condition (tsconfig.base.json), so no dist
 * is needed and each package is parsed once. Modules are renamed to their package names.
 *
 * Warnings (e.g. a doc comment linking to a non-exported symbol) are printed but do not fail
 * the run: they are cosmetic. Errors (a compile error, a broken option) exit 1.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Application, Comment, LogLevel, ReflectionKind } from "typedoc";

const docsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(docsDir, "..");
const out = join(docsDir, "api");

/** Package directory → extra entries besides `src/index.ts` (as `exports` subpaths). */
const PACKAGES = {
  "hw-soc": [],
  kernel: [],
  iommufd: [],
  "vfio-core": [],
  "vfio-platform": ["testing"],
  uio: [],
  viz: [],
  notebooks: [],
};

/** Entry file → the module name readers import it by, and the package's description. */
const entries = new Map();
for (const [dir, subpaths] of Object.entries(PACKAGES)) {
  const pkgDir = join(repo, "packages", dir);
  const { name, description } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  entries.set(join(pkgDir, "src/index.ts"), { name, description });
  for (const sub of subpaths)
    entries.set(join(pkgDir, "src", sub, "index.ts"), { name: `${name}/${sub}`, description: "" });
}
for (const file of entries.keys()) {
  if (!existsSync(file)) {
    console.error(`gen-api: missing entry ${relative(repo, file)}`);
    process.exit(1);
  }
}

const started = performance.now();
const app = await Application.bootstrapWithPlugins({
  entryPoints: [...entries.keys()],
  entryPointStrategy: "resolve",
  tsconfig: join(docsDir, "scripts/api.tsconfig.json"),
  plugin: ["typedoc-plugin-markdown", "typedoc-vitepress-theme"],
  out,
  docsRoot: docsDir,
  name: "vfio-lab API",
  readme: "none",
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  // Types are checked by `tsc` in each package; TypeDoc only needs to read them.
  skipErrorChecking: true,
  githubPages: false,
  disableSources: true,
  hideGenerator: true,
  logLevel: LogLevel.Warn,
  // Cosmetic: symbols a comment mentions but a package does not export.
  validation: { notExported: false, invalidLink: true, notDocumented: false },
  treatWarningsAsErrors: false,
  // Page layout: classes and interfaces get a page each; the many constants, functions and
  // type aliases (the kernel alone exports ~750 constants) are listed on their package's page.
  // One page per constant made ~2300 pages and tripled the VitePress build time.
  membersWithOwnFile: ["Class", "Interface", "Enum"],
  excludeScopesInPaths: true,
  // Escape `<`, `{` in comments so VitePress's Vue template compiler reads them as text.
  sanitizeComments: true,
  parametersFormat: "table",
  indexFormat: "table",
  sidebar: { autoConfiguration: true, format: "vitepress", pretty: true, collapsed: true },
});

const project = await app.convert();
if (!project || app.logger.hasErrors()) {
  console.error("gen-api: TypeDoc conversion failed");
  process.exit(1);
}
// Name each module after its package ("@vfio-lab/kernel") rather than its path ("kernel/src"),
// and describe it by its package.json description when its entry has no `@packageDocumentation`
// header.
for (const mod of project.getReflectionsByKind(ReflectionKind.Module)) {
  const file = project.getSymbolIdFromReflection(mod)?.fileName;
  const entry = file && entries.get(resolve(file));
  if (!entry) continue;
  mod.name = entry.name;
  if (!mod.comment && entry.description)
    mod.comment = new Comment([{ kind: "text", text: entry.description }]);
}
app.validate(project);
if (app.logger.hasErrors()) {
  console.error("gen-api: TypeDoc validation failed");
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
await app.generateOutputs(project);
if (app.logger.hasErrors()) {
  console.error("gen-api: TypeDoc rendering failed");
  process.exit(1);
}
const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(`gen-api: ${entries.size} entries → ${relative(repo, out)} in ${secs}s`);
