/**
 * `topologySvg(snap)`: the SoC as a VFIO user needs to see it — one frame per IOMMU holding its
 * IOMMU groups (dashed boxes, labelled with their DMA-ownership state and `/dev/vfio/N`), the
 * devices inside coloured by owner (kernel driver, VFIO, UIO, none); a frame for the devices
 * behind no IOMMU (VFIO's fake no-IOMMU groups among them); a legend; and a red
 * `TAINTED (U)` badge when the kernel is tainted.
 *
 * Runs of alike idle devices (32 unbound virtio-mmio transports) collapse into one box, and
 * devices without MMIO (psci, pmu, timer…) are only listed by name.
 */

import { addr, deviceDetails, hex, ownerLine, ownershipLabel } from "./describe.js";
import { OWNER_COLOURS, OWNER_LABELS, PALETTE } from "./palette.js";
import type {
  DeviceOwner,
  DeviceSnapshot,
  IommuGroupSnapshot,
  SystemSnapshot,
} from "./snapshot.js";
import { el, GridCanvas, svgDocument, textEl } from "./svg.js";

/** Picture width in columns (8 px each). */
const WIDTH = 150;
/** A device box: `DEV_W` columns wide (outline included: +1), 3 text rows. */
const DEV_W = 30;
const DEV_H = 4;
const DEV_STEP = DEV_W + 3;
/** Inner edges of a section frame. */
const FRAME_L = 1;
const INNER_L = FRAME_L + 2;
const INNER_R = WIDTH - 3;

/** One box to place: a device, a collapsed run of devices, or a group of devices. */
interface Item {
  readonly w: number;
  readonly h: number;
  draw(c: GridCanvas, col: number, row: number): void;
}

function deviceItem(d: DeviceSnapshot): Item {
  return {
    w: DEV_W,
    h: DEV_H,
    draw: (c, col, row) => drawDevice(c, col, row, d),
  };
}

function drawDevice(c: GridCanvas, col: number, row: number, d: DeviceSnapshot): void {
  const sw = OWNER_COLOURS[d.owner];
  const g = new GridCanvas();
  g.box(col, row, DEV_W, DEV_H, { fill: sw.fill, stroke: sw.stroke, strokeWidth: 1.5 });
  g.text(col + 2, row + 1, d.name, { bold: true }, DEV_W - 3);
  g.text(col + 2, row + 2, ownerLine(d), { fill: sw.text }, DEV_W - 3);
  const third = [
    d.bus,
    d.mmio[0] ? hex(d.mmio[0].start) : "",
    d.streamIds.length ? `sid ${d.streamIds.map(hex).join(",")}` : "",
  ]
    .filter((s) => s !== "")
    .join(" ");
  g.text(col + 2, row + 3, third, { fill: PALETTE.muted }, DEV_W - 3);
  c.raw(
    el(
      "g",
      { class: `device owner-${d.owner}` },
      textEl("title", {}, deviceDetails(d)),
      ...g.parts,
    ),
  );
}

function runItem(run: readonly DeviceSnapshot[]): Item {
  const first = run[0]!;
  const last = run[run.length - 1]!;
  return {
    w: DEV_W,
    h: DEV_H,
    draw: (c, col, row) => {
      const sw = OWNER_COLOURS[first.owner];
      const g = new GridCanvas();
      g.box(col, row, DEV_W, DEV_H, { fill: sw.fill, stroke: sw.stroke, strokeWidth: 1.5 });
      g.text(
        col + 2,
        row + 1,
        `${run.length} × ${first.compatible[0] ?? first.name}`,
        { bold: true },
        DEV_W - 3,
      );
      g.text(col + 2, row + 2, ownerLine(first), { fill: sw.text }, DEV_W - 3);
      g.text(
        col + 2,
        row + 3,
        `${first.mmio[0] ? addr(first.mmio[0].start) : first.name}…${last.mmio[0] ? addr(last.mmio[0].start) : last.name}`,
        { fill: PALETTE.muted },
        DEV_W - 3,
      );
      const tip = `${run.length} devices: ${run.map((d) => d.name).join(", ")}\nowner: ${first.owner}`;
      c.raw(
        el("g", { class: `device-run owner-${first.owner}` }, textEl("title", {}, tip), ...g.parts),
      );
    },
  };
}

function groupItem(
  header: readonly string[],
  members: readonly DeviceSnapshot[],
  stroke: string,
  strokeWidth: number,
  tip: string,
  cls: string,
): Item {
  const perRow = Math.max(1, Math.floor((INNER_R - INNER_L - 3) / DEV_STEP));
  const cols = Math.max(1, Math.min(perRow, members.length));
  const rows = Math.max(1, Math.ceil(members.length / perRow));
  const hdr = header.length;
  const w = Math.max(cols * DEV_STEP + 1, 37);
  const h = hdr + 1 + rows * (DEV_H + 1);
  return {
    w,
    h,
    draw: (c, col, row) => {
      const g = new GridCanvas();
      g.box(col, row, w, h, { stroke, strokeWidth, dashed: true, fill: "none", rx: 6 });
      header.forEach((line, i) => {
        g.text(
          col + 2,
          row + 1 + i,
          line,
          { bold: i === 0, fill: i === 0 ? PALETTE.ink : PALETTE.muted },
          w - 3,
        );
      });
      members.forEach((d, i) => {
        drawDevice(
          g,
          col + 2 + (i % perRow) * DEV_STEP,
          row + hdr + 1 + Math.floor(i / perRow) * (DEV_H + 1),
          d,
        );
      });
      c.raw(el("g", { class: cls }, textEl("title", {}, tip), ...g.parts));
    },
  };
}

function groupStroke(g: IommuGroupSnapshot): { stroke: string; width: number } {
  if (g.iommu === null && g.vfio?.kind === "noiommu")
    return { stroke: PALETTE.errno.stroke, width: 2 };
  if (g.ownership === "user-owned") return { stroke: OWNER_COLOURS.vfio.stroke, width: 2 };
  if (g.ownership === "kernel-dma") return { stroke: OWNER_COLOURS.kernel.stroke, width: 1.5 };
  return { stroke: PALETTE.group, width: 1 };
}

function iommuGroupItem(g: IommuGroupSnapshot, byName: ReadonlyMap<string, DeviceSnapshot>): Item {
  const members = g.devices.map((n) => byName.get(n)).filter((d): d is DeviceSnapshot => !!d);
  const { stroke, width } = groupStroke(g);
  const node = g.vfio?.node ?? "no VFIO group";
  const header = [
    `IOMMU group ${g.id} · ${ownershipLabel(g)}`,
    `owner_cnt ${g.ownerCnt} · ${node}`,
  ];
  const tip = [
    `IOMMU group ${g.id}${g.name ? ` (${g.name})` : ""}`,
    `ownership: ${ownershipLabel(g)}, owner_cnt ${g.ownerCnt}`,
    `domain: ${g.domain ? `${g.domain.type} (${g.domain.role})` : "none"}`,
    `devices: ${g.devices.join(", ")}`,
    `VFIO: ${g.vfio ? `${g.vfio.kind} group ${g.vfio.name}` : "none"}`,
  ].join("\n");
  return groupItem(header, members, stroke, width, tip, `iommu-group group-${g.ownership}`);
}

/** Lays items left to right, wrapping; returns the next free row. */
function flow(c: GridCanvas, items: readonly Item[], top: number): number {
  let col = INNER_L;
  let row = top;
  let rowH = 0;
  for (const it of items) {
    if (col !== INNER_L && col + it.w > INNER_R) {
      row += rowH + 2;
      col = INNER_L;
      rowH = 0;
    }
    it.draw(c, col, row);
    col += it.w + 3;
    rowH = Math.max(rowH, it.h);
  }
  return items.length ? row + rowH + 2 : top;
}

/** Consecutive unbound, ungrouped devices of one compatible (≥ 4) become one box. */
function collapseRuns(devs: readonly DeviceSnapshot[]): Item[] {
  const items: Item[] = [];
  let i = 0;
  while (i < devs.length) {
    const d = devs[i]!;
    let j = i + 1;
    const key = (x: DeviceSnapshot) =>
      x.driver === null && x.iommuGroup === null && x.iommu === null
        ? `${x.bus}|${x.compatible[0] ?? ""}`
        : null;
    const k = key(d);
    if (k !== null) while (j < devs.length && key(devs[j]!) === k) j++;
    if (k !== null && j - i >= 4) {
      items.push(runItem(devs.slice(i, j)));
      i = j;
    } else {
      items.push(deviceItem(d));
      i++;
    }
  }
  return items;
}

function byAddress(a: DeviceSnapshot, b: DeviceSnapshot): number {
  const sa = a.mmio[0]?.start ?? Number.POSITIVE_INFINITY;
  const sb = b.mmio[0]?.start ?? Number.POSITIVE_INFINITY;
  return sa !== sb ? sa - sb : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Draws a section frame around rows [top, bottom) with a heading; returns the next row. */
function frame(
  c: GridCanvas,
  top: number,
  bottom: number,
  heading: string,
  sub: string,
  colours: { fill: string; stroke: string; text: string },
): void {
  c.box(FRAME_L, top, WIDTH - 3, bottom - top, {
    fill: colours.fill,
    stroke: colours.stroke,
    strokeWidth: 1.5,
    rx: 8,
  });
  c.text(INNER_L, top + 1, heading, { heading: true, fill: colours.text }, WIDTH - 7);
  c.text(INNER_L, top + 2, sub, { fill: PALETTE.muted }, WIDTH - 7);
}

function wrapWords(words: readonly string[], max: number): string[] {
  const lines: string[] = [];
  let cur = "";
  for (const w of words) {
    const next = cur === "" ? w : `${cur}, ${w}`;
    if (Array.from(next).length > max && cur !== "") {
      lines.push(`${cur},`);
      cur = w;
    } else cur = next;
  }
  if (cur !== "") lines.push(cur);
  return lines;
}

function describe(snap: SystemSnapshot): string {
  const parts: string[] = [];
  const byName = new Map(snap.devices.map((d) => [d.name, d]));
  const dev = (n: string) => {
    const d = byName.get(n);
    return d ? `${d.name} (${d.driver ? `${d.driver}, ${d.owner}` : "no driver"})` : n;
  };
  for (const m of snap.iommus) {
    const gs = snap.groups.filter((g) => g.iommu === m.name);
    parts.push(
      `IOMMU ${m.name} has ${gs.length} IOMMU group${gs.length === 1 ? "" : "s"}` +
        (gs.length
          ? `: ${gs
              .map(
                (g) =>
                  `group ${g.id} ${ownershipLabel(g)}${g.vfio?.node ? ` as ${g.vfio.node}` : ""} with ${g.devices.map(dev).join(" and ")}`,
              )
              .join("; ")}`
          : "") +
        ".",
    );
    const loose = snap.devices.filter((d) => d.iommu === m.name && d.iommuGroup === null);
    if (loose.length)
      parts.push(`Behind ${m.name} without a group: ${loose.map((d) => dev(d.name)).join(", ")}.`);
  }
  const fake = snap.groups.filter((g) => g.iommu === null);
  if (fake.length) {
    parts.push(
      `Groups without an IOMMU: ${fake.map((g) => `group ${g.id}${g.vfio?.node ? ` (${g.vfio.node})` : ""} with ${g.devices.map(dev).join(", ")}`).join("; ")}.`,
    );
  }
  const owners: DeviceOwner[] = ["vfio", "uio", "kernel"];
  for (const o of owners) {
    const ds = snap.devices.filter(
      (d) => d.owner === o && d.iommu === null && d.iommuGroup === null && !isIommu(snap, d),
    );
    if (ds.length)
      parts.push(
        `Owned by ${OWNER_LABELS[o]} with no IOMMU: ${ds.map((d) => dev(d.name)).join(", ")}.`,
      );
  }
  parts.push(
    snap.taint.value
      ? `The kernel is TAINTED (${snap.taint.letters}, value ${snap.taint.value}).`
      : "The kernel is not tainted.",
  );
  return parts.join(" ");
}

function isIommu(snap: SystemSnapshot, d: DeviceSnapshot): boolean {
  return snap.iommus.some((m) => m.name === d.name);
}

/** The SoC topology (see the file header). */
export function topologySvg(snap: SystemSnapshot): string {
  const c = new GridCanvas();
  const byName = new Map(snap.devices.map((d) => [d.name, d]));
  const title = `SoC topology: ${snap.devices.length} devices, ${snap.groups.length} IOMMU group${snap.groups.length === 1 ? "" : "s"}, ${snap.taint.value ? `TAINTED (${snap.taint.letters})` : "not tainted"}`;
  c.text(FRAME_L, 1, title, { heading: true }, WIDTH - 30);

  // The taint badge, top right.
  const badge = snap.taint.value ? `TAINTED (${snap.taint.letters})` : "Not tainted";
  const bw = Math.max(16, Array.from(badge).length + 4);
  const bs = snap.taint.value ? PALETTE.taint : PALETTE.clean;
  c.raw(
    el(
      "g",
      { class: snap.taint.value ? "taint tainted" : "taint" },
      textEl("title", {}, `${snap.taint.text}; /proc/sys/kernel/tainted = ${snap.taint.value}`),
    ),
  );
  c.box(WIDTH - bw - 2, 0, bw, 2, { fill: bs.fill, stroke: bs.stroke, strokeWidth: 1.5, rx: 4 });
  c.text(WIDTH - bw - 2 + Math.floor(bw / 2), 1, badge, {
    bold: true,
    fill: bs.text,
    anchor: "middle",
  });

  let row = 3;
  const placed = new Set<string>();
  for (const m of snap.iommus) {
    placed.add(m.name);
    const groups = snap.groups.filter((g) => g.iommu === m.name);
    const items: Item[] = groups.map((g) => iommuGroupItem(g, byName));
    for (const g of groups) for (const n of g.devices) placed.add(n);
    const loose = snap.devices
      .filter((d) => d.iommu === m.name && !placed.has(d.name))
      .sort(byAddress);
    for (const d of loose) placed.add(d.name);
    if (loose.length) {
      items.push(
        groupItem(
          ["not in an IOMMU group", "its IOMMU driver did not add it"],
          loose,
          PALETTE.errno.stroke,
          1,
          `Behind ${m.name} but in no IOMMU group: ${loose.map((d) => d.name).join(", ")}`,
          "no-group",
        ),
      );
    }
    const top = row;
    const inner = new GridCanvas();
    const bottom = flow(inner, items, top + 4);
    frame(
      c,
      top,
      Math.max(bottom, top + 4),
      `IOMMU ${m.name}`,
      `${m.compatible[0] ?? ""} · driver ${m.driver ?? "(none)"} · ${groups.length} group${groups.length === 1 ? "" : "s"}, ${m.devices.length} device${m.devices.length === 1 ? "" : "s"} behind it`,
      PALETTE.iommu,
    );
    c.parts.push(...inner.parts);
    row = Math.max(bottom, top + 4) + 2;
  }

  // No IOMMU: VFIO's fake groups first, then the rest by address.
  const items: Item[] = [];
  for (const g of snap.groups.filter((x) => x.iommu === null)) {
    items.push(iommuGroupItem(g, byName));
    for (const n of g.devices) placed.add(n);
  }
  const rest = snap.devices.filter((d) => !placed.has(d.name)).sort(byAddress);
  const withMmio = rest.filter((d) => d.mmio.length > 0);
  const without = rest.filter((d) => d.mmio.length === 0);
  items.push(...collapseRuns(withMmio));
  const top = row;
  const inner = new GridCanvas();
  let bottom = flow(inner, items, top + 4);
  if (without.length) {
    const lines = wrapWords(
      without.map((d) => (d.driver ? `${d.name} (${d.driver})` : d.name)),
      INNER_R - INNER_L - 20,
    );
    lines.forEach((l, i) => {
      inner.text(INNER_L, bottom + i, i === 0 ? `no MMIO:  ${l}` : `          ${l}`, {
        fill: PALETTE.muted,
      });
    });
    bottom += lines.length + 1;
  }
  frame(
    c,
    top,
    Math.max(bottom, top + 4),
    "No IOMMU",
    "DMA from these devices reaches physical memory untranslated; VFIO takes them only in no-IOMMU mode (taint)",
    { fill: PALETTE.frameFill, stroke: PALETTE.frame, text: PALETTE.ink },
  );
  c.parts.push(...inner.parts);
  row = Math.max(bottom, top + 4) + 2;

  // Legend.
  const owners: DeviceOwner[] = ["kernel", "vfio", "uio", "none"];
  c.text(FRAME_L, row, "Owner:", { bold: true });
  owners.forEach((o, i) => {
    const sw = OWNER_COLOURS[o];
    const col = FRAME_L + 8 + i * 28;
    c.box(col, row - 1, 26, 2, { fill: sw.fill, stroke: sw.stroke, strokeWidth: 1.5 });
    c.text(col + 2, row, `${o}: ${OWNER_LABELS[o]}`, { fill: sw.text }, 23);
  });
  const gcol = FRAME_L + 8 + 4 * 28;
  c.box(gcol, row - 1, 27, 2, { stroke: PALETTE.group, dashed: true, rx: 6 });
  c.text(gcol + 2, row, "dashed: an IOMMU group", { fill: PALETTE.ink }, 24);
  row += 2;

  return svgDocument(
    { cols: WIDTH, rows: row, title, desc: describe(snap), className: "vfio-lab-topology" },
    c.parts,
  );
}
