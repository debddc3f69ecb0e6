/**
 * The runner (everything in src/ but the CLI) ships to the docs site's browser bundle: it must
 * bundle for the browser with nothing from Node, and must not touch Node's globals.
 */
import { readdirSync, readFileSync } from "node:fs";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

const SRC = new URL("../src/", import.meta.url);

function bundleForBrowser(entry: string) {
  return build({
    entryPoints: [new URL(entry, SRC).pathname],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
    conditions: ["@vfio-lab/source"],
  });
}

describe("the runner is browser-safe", () => {
  it("bundles for the browser with its whole import graph (sucrase and every @vfio-lab package)", async () => {
    const r = await bundleForBrowser("index.ts");
    expect(r.errors).toEqual([]);
    expect(r.outputFiles[0]?.text).toContain("__vfioLabCell__");
  });

  it("while the CLI, which reads files, does not (the check can fail)", async () => {
    await expect(bundleForBrowser("cli.ts")).rejects.toThrow(/node:fs/);
  });

  it("uses no Node globals or modules outside cli*.ts", () => {
    const files = readdirSync(SRC).filter(
      (f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.startsWith("cli"),
    );
    expect(files).toContain("run-notebook.ts");
    for (const f of files) {
      const text = readFileSync(new URL(f, SRC), "utf8");
      expect(text, f).not.toMatch(
        /from\s+["']node:|\bprocess\.(env|argv|stdout|stderr|cwd|exit)|\bBuffer\.|Date\.now|Math\.random/,
      );
    }
  });
});
