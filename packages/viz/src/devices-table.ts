/**
 * `devicesTable(snap)`: the devices as an HTML table — name, bus, compatible, driver, owner,
 * IOMMU group, IOMMU and the VFIO/UIO nodes — one row per device, the owner cell coloured as
 * in the pictures and spelled out. Every value is escaped; class names (`vfio-lab-devices`,
 * `owner-vfio`…) let a page restyle it.
 */

import { hex } from "./describe.js";
import { OWNER_COLOURS } from "./palette.js";
import type { SystemSnapshot } from "./snapshot.js";
import { escapeAttr, escapeText } from "./svg.js";

const HEADERS = [
  "device",
  "bus",
  "compatible",
  "driver",
  "owner",
  "IOMMU group",
  "IOMMU",
  "/dev",
] as const;

function cell(text: string, cls?: string, style?: string): string {
  const c = cls ? ` class="${escapeAttr(cls)}"` : "";
  const s = style ? ` style="${escapeAttr(style)}"` : "";
  return `<td${c}${s}>${escapeText(text)}</td>`;
}

/** The devices table (see the file header). */
export function devicesTable(snap: SystemSnapshot): string {
  const taint = snap.taint.value
    ? `, kernel TAINTED (${snap.taint.letters})`
    : ", kernel not tainted";
  const caption = `Devices: ${snap.devices.length} on ${new Set(snap.devices.map((d) => d.bus)).size} buses, ${snap.groups.length} IOMMU groups${taint}`;
  const rows = snap.devices.map((d) => {
    const sw = OWNER_COLOURS[d.owner];
    const nodes = [d.vfio?.groupNode, d.vfio?.cdevNode, ...d.uio].filter((n): n is string => !!n);
    const iommu = d.iommu
      ? `${d.iommu}${d.streamIds.length ? ` (${d.streamIds.map(hex).join(", ")})` : ""}`
      : "";
    return (
      `<tr class="owner-${d.owner}">` +
      cell(d.name, "device") +
      cell(d.bus, "bus") +
      cell(d.compatible.join(", "), "compatible") +
      cell(d.driver ?? "", "driver") +
      cell(d.owner, `owner owner-${d.owner}`, `background:${sw.fill};color:${sw.text}`) +
      cell(d.iommuGroup === null ? "" : String(d.iommuGroup), "group") +
      cell(iommu, "iommu") +
      cell(nodes.join(" "), "nodes") +
      "</tr>"
    );
  });
  return (
    `<table class="vfio-lab-devices">\n` +
    `<caption>${escapeText(caption)}</caption>\n` +
    `<thead><tr>${HEADERS.map((h) => `<th scope="col">${escapeText(h)}</th>`).join("")}</tr></thead>\n` +
    `<tbody>\n${rows.join("\n")}\n</tbody>\n` +
    `</table>\n`
  );
}
