/**
 * `ioasMapSvg(map)`: an I/O address space as a table of translations — first what user space
 * mapped (each IOVA range, its size, the user memory behind it, read/write), then, per IOMMU
 * domain (each HWPT or type1 domain with the groups and devices attached to it), every run of
 * IOVAs and the physical pages its page table points them at. Without a domain the pinned pages
 * are shown instead.
 *
 * Addresses are not drawn to scale: an IOVA space is 2^64 bytes and the mappings are a few
 * pages, so each run is one row, IOVA range → physical range, with its size.
 */

import type { IoasMap, PhysRun } from "./ioas-map.js";
import { OWNER_COLOURS, PALETTE } from "./palette.js";
import { arrowMarker, el, GridCanvas, svgDocument, textEl } from "./svg.js";

const WIDTH = 124;
const IOVA_COL = 4;
const RANGE_W = 39;
const PA_COL = IOVA_COL + RANGE_W + 7;
const INFO_COL = PA_COL + RANGE_W + 2;

function hex(n: bigint): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** `64 KiB`, `1 MiB`, `3 pages` … */
export function sizeText(n: bigint): string {
  const units: [bigint, string][] = [
    [1n << 30n, "GiB"],
    [1n << 20n, "MiB"],
    [1n << 10n, "KiB"],
  ];
  for (const [u, name] of units) {
    if (n >= u && n % u === 0n) return `${n / u} ${name}`;
  }
  if (n >= 1024n) return `${(Number(n) / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function range(start: bigint, length: bigint): string {
  return `${hex(start)}–${hex(start + length - 1n)}`;
}

function pages(length: bigint): string {
  const n = (length + 4095n) / 4096n;
  return `${n} page${n === 1n ? "" : "s"}`;
}

function runRow(c: GridCanvas, row: number, run: PhysRun, extra: string): void {
  const g = new GridCanvas();
  g.band(IOVA_COL - 1, row, RANGE_W + 1, 1, OWNER_COLOURS.vfio.fill);
  g.text(IOVA_COL, row, range(run.iova, run.length), { fill: OWNER_COLOURS.vfio.text });
  g.hline(IOVA_COL + RANGE_W + 1, PA_COL - 2, row, { stroke: PALETTE.ok, arrow: "vl-ioas-arrow" });
  g.band(PA_COL - 1, row, RANGE_W + 1, 1, OWNER_COLOURS.kernel.fill);
  g.text(PA_COL, row, range(run.phys, run.length), { fill: OWNER_COLOURS.kernel.text });
  g.text(
    INFO_COL,
    row,
    `${sizeText(run.length)} · ${pages(run.length)}${extra}`,
    { fill: PALETTE.muted },
    WIDTH - INFO_COL - 1,
  );
  c.raw(
    el(
      "g",
      { class: "run" },
      textEl(
        "title",
        {},
        `IOVA ${range(run.iova, run.length)} → PA ${range(run.phys, run.length)} (${sizeText(run.length)})`,
      ),
      ...g.parts,
    ),
  );
}

function describe(map: IoasMap, title: string): string {
  const maps = map.mappings
    .map((m) => `IOVA ${range(m.iova, m.length)} (${sizeText(m.length)}) from ${m.source}`)
    .join("; ");
  const doms = map.domains
    .map(
      (d) =>
        `${d.label} (${d.type}${d.groups.length ? `, groups ${d.groups.join(", ")}: ${d.devices.join(", ")}` : ", nothing attached"}) translates ${
          d.runs
            .map((r) => `${range(r.iova, r.length)} to ${range(r.phys, r.length)}`)
            .join(", ") || "nothing"
        }`,
    )
    .join("; ");
  return (
    `${title}. ${map.mappings.length ? `Mappings: ${maps}.` : "Nothing is mapped."} ` +
    `${map.domains.length ? `Domains: ${doms}.` : "No IOMMU domain is attached."} ` +
    `${map.pinnedPages} pages pinned.${map.truncated ? " The page walk was cut short." : ""}`
  );
}

/** The picture of an address space (see the file header). */
export function ioasMapSvg(map: IoasMap): string {
  const what =
    map.kind === "vfio-type1"
      ? `VFIO type1 container ${map.path}`
      : map.kind === "vfio-noiommu"
        ? `VFIO no-IOMMU container ${map.path}`
        : map.ioasId === null
          ? `${map.path}: no IOAS`
          : `IOAS ${map.ioasId} of ${map.path}${map.kind === "iommufd-vfio-compat" ? " (VFIO container on iommufd)" : ""}`;
  const title = `${what} in ${map.comm}[${map.pid}] (fd ${map.fd}): ${map.mappings.length} mapping${map.mappings.length === 1 ? "" : "s"}, ${map.domains.length} domain${map.domains.length === 1 ? "" : "s"}`;
  const c = new GridCanvas();
  c.raw(el("defs", {}, arrowMarker("vl-ioas-arrow", PALETTE.ok)));
  c.text(1, 1, title, { heading: true }, WIDTH - 2);
  c.text(
    1,
    2,
    `${map.pinnedPages} pages pinned${map.truncated ? " · page walk cut short at 65536 pages" : ""}`,
    {
      fill: PALETTE.muted,
    },
  );

  let row = 4;
  c.text(1, row, "Mappings (what user space asked for):", { bold: true });
  row++;
  if (map.mappings.length === 0) {
    c.text(IOVA_COL, row, "nothing mapped", { fill: PALETTE.muted });
    row++;
  }
  for (const m of map.mappings) {
    const g = new GridCanvas();
    const rw = `${m.read ? "r" : "-"}${m.write ? "w" : "-"}`;
    g.text(IOVA_COL, row, `IOVA ${range(m.iova, m.length)}`, { bold: true }, RANGE_W + 6);
    g.text(PA_COL - 2, row, `← ${m.source}`, { fill: PALETTE.ink }, RANGE_W + 4);
    g.text(INFO_COL, row, `${sizeText(m.length)} · ${rw}`, { fill: PALETTE.muted });
    c.raw(
      el(
        "g",
        { class: "mapping" },
        textEl("title", {}, `${range(m.iova, m.length)} ${rw} ← ${m.source}`),
        ...g.parts,
      ),
    );
    row++;
    if (map.domains.length === 0) {
      for (const run of m.pages) {
        runRow(c, row, run, " · pinned");
        row++;
      }
      if (m.pages.length === 0) {
        c.text(IOVA_COL + 2, row, "no page pinned", { fill: PALETTE.muted });
        row++;
      }
    }
  }
  row++;

  if (map.domains.length === 0) {
    c.text(1, row, "No IOMMU domain: nothing translates these IOVAs for a device.", {
      fill: PALETTE.muted,
    });
    row += 2;
  }
  for (const d of map.domains) {
    const attached = d.groups.length
      ? `group${d.groups.length === 1 ? "" : "s"} ${d.groups.join(", ")}: ${d.devices.join(", ")}`
      : "no group attached";
    c.box(1, row, WIDTH - 3, 2, { fill: PALETTE.iommu.fill, stroke: PALETTE.iommu.stroke, rx: 4 });
    c.text(
      3,
      row + 1,
      `${d.label} · ${d.type} · ${attached}`,
      { bold: true, fill: PALETTE.iommu.text },
      WIDTH - 6,
    );
    row += 3;
    c.text(IOVA_COL, row, "IOVA", { bold: true, fill: OWNER_COLOURS.vfio.text });
    c.text(PA_COL, row, "physical address", { bold: true, fill: OWNER_COLOURS.kernel.text });
    row++;
    if (d.runs.length === 0) {
      c.text(IOVA_COL, row, "no translation", { fill: PALETTE.muted });
      row++;
    }
    for (const run of d.runs) {
      runRow(c, row, run, "");
      row++;
    }
    row++;
  }

  return svgDocument(
    {
      cols: WIDTH,
      rows: row + 1,
      title,
      desc: describe(map, title),
      className: "vfio-lab-ioas-map",
    },
    c.parts,
  );
}
