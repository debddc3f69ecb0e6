/**
 * Every notebook in notebooks/ is committed in the shape the runner, tslab and `vfio-lab list`
 * read: nbformat 4.5 for the tslab kernel, unique cell ids, no outputs (the runner and nbconvert
 * regenerate them, so committed ones would only go stale), the vfio-lab metadata, and imports
 * from the lab's packages and tslab only. Which seed a notebook walks is checked by its own
 * nb-*.test.ts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseNotebook } from "../src/index.js";

const DIR = new URL("../notebooks/", import.meta.url);
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".ipynb"))
  .sort();

/** The file as JSON, for what `parseNotebook` drops (outputs, execution counts). */
interface RawNotebook {
  nbformat: unknown;
  nbformat_minor: unknown;
  metadata: Record<string, unknown>;
  cells: { id?: unknown; cell_type: string; outputs?: unknown; execution_count?: unknown }[];
}

it("finds the notebooks", () => {
  expect(files.length).toBeGreaterThan(0);
});

describe.each(files)("%s as committed", (file) => {
  const text = readFileSync(new URL(file, DIR), "utf8");
  const raw = JSON.parse(text) as RawNotebook;

  it("is nbformat 4.5 for the tslab kernel", () => {
    expect([raw.nbformat, raw.nbformat_minor]).toEqual([4, 5]);
    expect(raw.metadata.kernelspec).toMatchObject({ name: "tslab" });
  });

  it("has unique, non-empty cell ids", () => {
    const ids = raw.cells.map((c) => c.id);
    for (const id of ids) expect(id).toMatch(/^\S+$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("has no outputs and no execution counts", () => {
    for (const c of raw.cells.filter((c) => c.cell_type === "code")) {
      expect(c.outputs).toEqual([]);
      expect(c.execution_count).toBeNull();
    }
  });

  it("has a vfio-lab title, summary and seed (null or NNN)", () => {
    const info = raw.metadata["vfio-lab"] as Record<string, unknown> | undefined;
    expect(info).toMatchObject({
      title: expect.stringMatching(/\S/),
      summary: expect.stringMatching(/\S/),
    });
    expect(info).toHaveProperty("seed");
    if (info?.seed !== null) expect(info?.seed).toMatch(/^\d{3}$/);
  });

  it("imports only lab packages and tslab", () => {
    const code = parseNotebook(text)
      .cells.filter((c) => c.cell_type === "code")
      .map((c) => c.source);
    for (const f of code.flatMap((s) => [...s.matchAll(/from "([^"]+)"/g)].map((m) => m[1]))) {
      expect(f).toMatch(/^(tslab|@vfio-lab\/[a-z-]+(\/testing)?)$/);
    }
  });
});
