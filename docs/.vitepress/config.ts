/**
 * The vfio-lab docs site: the guide, every notebook as a live page, and the API reference.
 *
 * Offline by construction: no web fonts (the default theme's Inter is bundled), no CDN, no
 * Algolia — search is VitePress's local index. Pages generated before the build:
 * `notebooks/*.md` (scripts/gen-notebooks.mjs), `api/**` (scripts/gen-api.mjs) and the live
 * blocks' outputs (scripts/gen-live.mjs).
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type DefaultTheme, defineConfig, type Plugin } from "vitepress";
import { liveCodePlugin } from "./live-code";

const docsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const notebooksDir = resolve(docsDir, "../packages/notebooks/notebooks");

/** Concept pages and package pages, in reading order, with their sidebar labels. */
const CONCEPTS: [string, string][] = [
  ["groups", "IOMMU groups"],
  ["containers", "VFIO containers"],
  ["iommufd", "IOMMUFD"],
  ["dma-ownership", "DMA ownership"],
  ["no-iommu", "No-IOMMU mode"],
];
const PACKAGES = [
  "hw-soc",
  "kernel",
  "iommufd",
  "vfio-core",
  "vfio-platform",
  "uio",
  "viz",
  "notebooks",
];

function guideSidebar(): DefaultTheme.SidebarItem[] {
  return [
    {
      text: "Guide",
      items: [
        { text: "What vfio-lab is", link: "/guide/" },
        { text: "Architecture", link: "/guide/architecture" },
      ],
    },
    {
      text: "Concepts",
      items: CONCEPTS.map(([id, text]) => ({ text, link: `/guide/concepts/${id}` })),
    },
    {
      text: "Packages",
      items: PACKAGES.map((p) => ({ text: `@vfio-lab/${p}`, link: `/guide/packages/${p}` })),
    },
  ];
}

/** The notebooks in file order, titled by their `metadata["vfio-lab"].title`. */
function notebookSidebar(): DefaultTheme.SidebarItem[] {
  const files = existsSync(notebooksDir)
    ? readdirSync(notebooksDir)
        .filter((f) => f.endsWith(".ipynb"))
        .sort()
    : [];
  const items = files.map((f) => {
    const id = f.replace(/\.ipynb$/, "");
    const meta = JSON.parse(readFileSync(join(notebooksDir, f), "utf8")).metadata?.["vfio-lab"];
    return { text: `${id.slice(0, 2)} · ${meta?.title ?? id}`, link: `/notebooks/${id}` };
  });
  return [{ text: "Notebooks", link: "/notebooks/", items }];
}

/**
 * typedoc-vitepress-theme's sidebar (written by scripts/gen-api.mjs), split per package: a page
 * of `@vfio-lab/kernel` lists the kernel's classes and interfaces and links the other packages.
 * One sidebar with every package's ~400 entries made each API page ~250 KB of HTML.
 */
function apiSidebars(): DefaultTheme.SidebarMulti {
  const file = join(docsDir, "api/typedoc-sidebar.json");
  if (!existsSync(file)) return { "/api/": [{ text: "API reference", link: "/api/" }] };
  const order = (link = ""): number => {
    const i = PACKAGES.findIndex((p) => link.startsWith(`/api/${p}/`));
    return i < 0 ? PACKAGES.length : i + (link.includes("/testing/") ? 0.5 : 0);
  };
  const modules = (JSON.parse(readFileSync(file, "utf8")) as DefaultTheme.SidebarItem[]).sort(
    (a, b) => order(a.link) - order(b.link),
  );
  const index: DefaultTheme.SidebarItem[] = modules.map(({ text = "", link = "/api/" }) => ({
    text,
    link,
  }));
  const sidebars: DefaultTheme.SidebarMulti = {
    "/api/": [{ text: "API reference", link: "/api/", items: index }],
  };
  for (const mod of modules) {
    if (!mod.link) continue;
    sidebars[mod.link] = [
      { ...mod, collapsed: false },
      { text: "All packages", link: "/api/", items: index, collapsed: true },
    ];
  }
  return sidebars;
}

/**
 * In `vitepress dev` the packages resolve to their TypeScript sources (no build needed, edits
 * show at once); `vitepress build` uses their built `dist`, as a published site would.
 */
const sourcesInDev: Plugin = {
  name: "vfio-lab:sources-in-dev",
  config: (_config, env) =>
    env.command === "serve" ? { resolve: { conditions: ["@vfio-lab/source"] } } : undefined,
};

export default defineConfig({
  title: "vfio-lab",
  description:
    "An executable model of Linux device assignment (VFIO, IOMMUFD, UIO) on an ARM SoC, with live notebooks.",
  base: "/",
  lang: "en-GB",
  srcExclude: ["e2e/**", "scripts/**", "**/README.md"],
  lastUpdated: false,
  head: [["link", { rel: "icon", type: "image/svg+xml", href: "/favicon.svg" }]],
  markdown: {
    config: (md) =>
      liveCodePlugin(md, { outputsFile: join(docsDir, ".vitepress/live-outputs.json") }),
  },
  themeConfig: {
    nav: [
      { text: "Guide", link: "/guide/", activeMatch: "^/guide/" },
      { text: "Notebooks", link: "/notebooks/", activeMatch: "^/notebooks/" },
      { text: "API", link: "/api/", activeMatch: "^/api/" },
    ],
    sidebar: {
      "/guide/": guideSidebar(),
      "/notebooks/": notebookSidebar(),
      ...apiSidebars(),
    },
    outline: { level: [2, 3] },
    search: { provider: "local" },
    footer: { message: "vfio-lab — a model of Linux 7.3 device assignment. MIT licensed." },
  },
  vite: {
    plugins: [sourcesInDev],
    // Pre-bundled at start-up, so the first Run in `vitepress dev` does not reload the page.
    optimizeDeps: { include: ["sucrase", "markdown-it"] },
    server: { host: "127.0.0.1" },
    // The notebook runner (the whole model + sucrase) is one lazy chunk, loaded on first Run.
    build: { chunkSizeWarningLimit: 4096 },
  },
});
