/**
 * The docs site in a real browser (Debian Chromium, see playwright.config.ts), against the built
 * site on 127.0.0.1:
 *
 * - every page visited fails the test on a console error or warning, an uncaught exception, or a
 *   request to any host but 127.0.0.1 (such requests are aborted and listed);
 * - every notebook page (one test per `.ipynb`, and the index must list them all) shows its
 *   pre-computed outputs without JavaScript, and the same once hydrated; an edited cell re-runs
 *   in the browser and prints exactly what it printed at build time plus the edit, the cells
 *   before it show exactly what they showed, a cell edited to throw shows the error on that
 *   cell, and Run all reproduces every output of the build, byte for byte;
 * - every guide page with ```` ```ts live ```` blocks shows their outputs, and an edited block
 *   runs in the browser;
 * - home, notebook index, API reference and the local search work offline.
 *
 * Screenshots go to docs/e2e/screenshots/ (gitignored, kept by CI as artifacts; Playwright's
 * outputDir is wiped on each run, this folder is not).
 */

import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { test as base, expect, type Locator, type Page } from "@playwright/test";

const docs = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(docs, "..");
const notebooksDir = join(repo, "packages/notebooks/notebooks");
const screenshots = join(docs, "e2e/screenshots");
mkdirSync(screenshots, { recursive: true });

const NOTEBOOKS = readdirSync(notebooksDir)
  .filter((f) => f.endsWith(".ipynb"))
  .sort()
  .map((f) => f.replace(/\.ipynb$/, ""));

/** Guide pages (as site paths) with at least one ```ts live block. */
function liveGuidePages(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir)
      .sort()
      .flatMap((name) => {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) return walk(path);
        return name.endsWith(".md") ? [path] : [];
      });
  const guide = join(docs, "guide");
  let files: string[] = [];
  try {
    files = walk(guide);
  } catch {
    return [];
  }
  return files
    .filter((f) => /^(`{3,}|~{3,})\s*(ts|typescript)\s+live(\s|$)/m.test(readFileSync(f, "utf8")))
    .map(
      (f) =>
        `/${relative(docs, f)
          .replace(/\\/g, "/")
          .replace(/(^|\/)index\.md$/, "$1")
          .replace(/\.md$/, ".html")}`,
    );
}
const LIVE_PAGES = liveGuidePages();

interface Guard {
  problems: string[];
  external: string[];
}

/** Every test watches its page: console errors/warnings, page errors, off-host requests. */
const test = base.extend<{ guard: Guard }>({
  guard: [
    async ({ page }, use) => {
      const guard: Guard = { problems: [], external: [] };
      await page.route(
        (url) => url.hostname !== "127.0.0.1",
        (route) => {
          guard.external.push(route.request().url());
          return route.abort("blockedbyclient");
        },
      );
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning")
          guard.problems.push(`console.${m.type()}: ${m.text()} (${m.location().url})`);
      });
      page.on("pageerror", (e) => guard.problems.push(`pageerror: ${e.message}`));
      page.on("requestfailed", (r) => {
        // ERR_ABORTED: a prefetch cut short by navigating on, not a failure.
        const error = r.failure()?.errorText ?? "";
        if (new URL(r.url()).hostname === "127.0.0.1" && !error.includes("ERR_ABORTED"))
          guard.problems.push(`request failed: ${r.url()} ${error}`);
      });
      page.on("response", (r) => {
        if (r.status() >= 400) guard.problems.push(`HTTP ${r.status()}: ${r.url()}`);
      });
      await use(guard);
      expect(guard.external, "requests that left 127.0.0.1").toEqual([]);
      expect(guard.problems, "console errors, page errors, failed requests").toEqual([]);
    },
    { auto: true },
  ],
});

async function open(page: Page, path: string): Promise<void> {
  await page.goto(path);
  // VitePress pages are pre-rendered; a click before hydration does nothing.
  await page.waitForFunction(() =>
    Boolean((document.querySelector("#app") as { __vue_app__?: unknown } | null)?.__vue_app__),
  );
}

async function shoot(page: Page, name: string, target?: Locator): Promise<void> {
  const path = join(screenshots, `${name}.png`);
  if (target) await target.screenshot({ path });
  else await page.screenshot({ path, fullPage: true });
  await test.info().attach(name, { path, contentType: "image/png" });
}

/** One rendered output: its kind (class) and what it shows. */
interface Shown {
  cls: string;
  html: string;
  text: string;
}
const shownOutputs = (cell: Locator): Promise<Shown[]> =>
  cell
    .locator(".nb-outputs > *")
    .evaluateAll((els) =>
      els.map((e) => ({ cls: e.className, html: e.innerHTML, text: e.textContent ?? "" })),
    );

/**
 * Runs `cell` (a notebook code cell or a live block) with `source` and waits until the run has
 * finished: `data-runs` on `root` counts completed runs.
 */
async function runEdited(root: Locator, cell: Locator, source: string): Promise<void> {
  const before = Number(await root.getAttribute("data-runs"));
  await cell.locator("textarea.nb-code").fill(source);
  await cell.getByRole("button", { name: "▶ Run", exact: true }).click();
  await expect(root).toHaveAttribute("data-runs", String(before + 1));
  await expect(root).toHaveAttribute("data-running", "false");
}

/**
 * What a cell shows after `console.log(MARK)` was appended: everything it showed before, with
 * the mark added to its last stdout stream (or as a new stream after its last output).
 */
function expectAppendedMark(before: Shown[], after: Shown[], mark: string): void {
  const last = before[before.length - 1];
  if (last && /\bnb-stdout\b/.test(last.cls)) {
    expect(after.slice(0, -1)).toEqual(before.slice(0, -1));
    expect(after[after.length - 1]?.text).toBe(`${last.text}${mark}\n`);
  } else {
    expect(after.slice(0, -1)).toEqual(before);
    expect(after[after.length - 1]?.text).toBe(`${mark}\n`);
  }
}

test("home page", async ({ page }) => {
  await open(page, "/");
  await expect(page.locator(".VPHero .name")).toContainText("vfio-lab");
  for (const text of ["Guide", "Notebooks", "API"])
    await expect(
      page.locator(".VPNavBar").getByRole("link", { name: text, exact: true }),
    ).toBeVisible();
  await shoot(page, "home");
});

test("the notebook index lists every notebook", async ({ page }) => {
  await open(page, "/notebooks/");
  const items = page.locator(".nb-index-item");
  await expect(items).toHaveCount(NOTEBOOKS.length);
  expect(NOTEBOOKS.length).toBeGreaterThan(0);
  const hrefs = await items.locator("a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  expect(hrefs).toEqual(NOTEBOOKS.map((id) => `./${id}.html`));
  await shoot(page, "notebooks-index");
});

for (const id of NOTEBOOKS) {
  test(`notebook ${id}`, async ({ page, browser }) => {
    const url = `/notebooks/${id}.html`;

    // 1. Without JavaScript: the pre-rendered page already shows the outputs of the build.
    const noJs = await browser.newContext({ javaScriptEnabled: false });
    let prerendered: Shown[][];
    try {
      const raw = await noJs.newPage();
      await raw.route(
        (u) => u.hostname !== "127.0.0.1",
        (r) => r.abort(),
      );
      await raw.goto(url);
      const root = raw.locator(`.nb[data-notebook-id="${id}"]`);
      await expect(root, "the notebook ran cleanly at build time").toHaveAttribute(
        "data-failed-cell",
        "",
      );
      prerendered = await Promise.all(
        (await root.locator(".nb-code-cell").all()).map(shownOutputs),
      );
    } finally {
      await noJs.close();
    }
    expect(prerendered.length, "code cells").toBeGreaterThan(0);
    expect(prerendered.flat().length, "outputs in the pre-rendered page").toBeGreaterThan(0);
    expect(prerendered.flat().filter((o) => /\bnb-error\b/.test(o.cls))).toEqual([]);

    // 2. Hydrated, it shows the same; then edit the last code cell that prints and run it.
    await open(page, url);
    const root = page.locator(`.nb[data-notebook-id="${id}"]`);
    const cells = root.locator(".nb-code-cell");
    const indices = await cells.evaluateAll((els) =>
      els.map((e) => Number(e.getAttribute("data-cell-index"))),
    );
    const outputsOf = () =>
      Promise.all(indices.map((i) => shownOutputs(root.locator(`[data-cell-index="${i}"]`))));
    const beforeAll = await outputsOf();
    expect(beforeAll).toEqual(prerendered);
    const n = beforeAll.findLastIndex((outs) => outs.some((o) => /\bnb-stdout\b/.test(o.cls)));
    expect(n, "a code cell that prints to stdout").toBeGreaterThanOrEqual(0);
    const k = indices[n]!;
    const cell = root.locator(`[data-cell-index="${k}"]`);
    const original = await cell.locator("textarea.nb-code").inputValue();

    const mark = `e2e: ${id} cell ${k} ran in the browser`;
    await runEdited(root, cell, `${original}\nconsole.log(${JSON.stringify(mark)});`);
    expectAppendedMark(beforeAll[n]!, await shownOutputs(cell), mark);
    await expect(cell.locator(".nb-error")).toHaveCount(0);
    await expect(root).toHaveAttribute("data-failed-cell", "");
    await expect(cell.getByText("edited", { exact: true })).toBeVisible();
    // The cells before it ran again from nothing, in the browser, and show what the build showed.
    const afterEdit = await outputsOf();
    for (let j = 0; j < n; j++) expect(afterEdit[j], `cell ${indices[j]}`).toEqual(beforeAll[j]);
    // Later code cells did not run: they are marked stale.
    for (const i of indices.slice(n + 1))
      await expect(root.locator(`[data-cell-index="${i}"]`)).toHaveAttribute("data-state", "stale");
    await shoot(page, `notebook-${id}-edited-cell`, cell);

    // 3. An edit that throws: the error lands on its cell.
    const boom = `e2e: ${id} expected failure`;
    await runEdited(root, cell, `${original}\nthrow new Error(${JSON.stringify(boom)});`);
    await expect(cell.locator(".nb-error")).toHaveText(`Error: ${boom}`);
    await expect(root).toHaveAttribute("data-failed-cell", String(k));
    await expect(cell).toHaveClass(/nb-failed/);
    await shoot(page, `notebook-${id}-error-cell`, cell);

    // 4. Undo, Run all: every cell shows what the build computed, byte for byte.
    await cell.getByRole("button", { name: "Undo edits" }).click();
    await expect(cell.locator("textarea.nb-code")).toHaveValue(original);
    const runsBefore = Number(await root.getAttribute("data-runs"));
    await root.getByRole("button", { name: "▶ Run all" }).click();
    await expect(root).toHaveAttribute("data-runs", String(runsBefore + 1));
    await expect(root).toHaveAttribute("data-failed-cell", "");
    await expect(root.locator(".nb-error")).toHaveCount(0);
    await expect(root.locator('[data-state="stale"]')).toHaveCount(0);
    expect(await outputsOf()).toEqual(beforeAll);
    await shoot(page, `notebook-${id}`);
  });
}

for (const path of LIVE_PAGES) {
  const name = path
    .replace(/^\//, "")
    .replace(/\.html$/, "")
    .replace(/\/$/, "/index")
    .replace(/\//g, "-");
  test(`live examples on ${path}`, async ({ page }) => {
    await open(page, path);
    const blocks = page.locator(".nb-live");
    const n = await blocks.count();
    expect(n, "live blocks on the page").toBeGreaterThan(0);
    // Pre-computed at build time: every block shows outputs, none says "not run yet".
    await expect(page.locator(".nb-live .nb-not-run")).toHaveCount(0);
    await expect(page.locator(".nb-live .nb-error")).toHaveCount(0);

    const block = blocks.first();
    const original = await block.locator("textarea.nb-code").inputValue();
    const before = await shownOutputs(block);
    expect(before.length, "the first block shows something").toBeGreaterThan(0);
    const mark = `e2e: live block on ${path} ran in the browser`;
    await runEdited(block, block, `${original}\nconsole.log(${JSON.stringify(mark)});`);
    expectAppendedMark(before, await shownOutputs(block), mark);
    await expect(block.locator(".nb-error")).toHaveCount(0);
    await shoot(page, `live-${name}-edited`, block);

    const boom = "e2e: expected failure in a live block";
    await runEdited(block, block, `${original}\nthrow new Error(${JSON.stringify(boom)});`);
    await expect(block.locator(".nb-error")).toHaveText(`Error: ${boom}`);
    await block.getByRole("button", { name: "Undo edits" }).click();
    await expect(block.locator("textarea.nb-code")).toHaveValue(original);
    await shoot(page, `live-${name}`);
  });
}

test("every guide page renders", async ({ page }) => {
  const walk = (dir: string): string[] =>
    readdirSync(dir)
      .sort()
      .flatMap((n) =>
        statSync(join(dir, n)).isDirectory()
          ? walk(join(dir, n))
          : n.endsWith(".md")
            ? [join(dir, n)]
            : [],
      );
  const pages = walk(join(docs, "guide")).map(
    (f) =>
      `/${relative(docs, f)
        .replace(/(^|\/)index\.md$/, "$1")
        .replace(/\.md$/, ".html")}`,
  );
  for (const path of pages) {
    await open(page, path);
    await expect(page.locator(".vp-doc h1").first(), path).toBeVisible();
  }
  await shoot(page, "guide-last-page");
});

test("API reference", async ({ page }) => {
  await open(page, "/api/");
  for (const pkg of [
    "hw-soc",
    "kernel",
    "iommufd",
    "vfio-core",
    "vfio-platform",
    "uio",
    "viz",
    "notebooks",
  ])
    await expect(
      page.locator(".vp-doc").getByRole("link", { name: `@vfio-lab/${pkg}`, exact: true }),
    ).toBeVisible();
  await shoot(page, "api-index");
  await open(page, "/api/kernel/classes/Kernel.html");
  await expect(page.locator(".vp-doc h1")).toContainText("Kernel");
  await shoot(page, "api-kernel-Kernel");
});

test("local search works offline", async ({ page }) => {
  await open(page, "/");
  await page.locator(".VPNavBarSearch button").click();
  const input = page.locator(".VPLocalSearchBox input");
  await input.fill("noiommu");
  await expect(page.locator(".VPLocalSearchBox .result").first()).toBeVisible();
  await shoot(page, "search");
});
