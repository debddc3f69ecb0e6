/**
 * `ownershipSvg(snap, group)`: the DMA-ownership state of one IOMMU group (drivers/iommu/iommu.c,
 * kernel iommu/dma-owner.ts) — the three states (kernel DMA ← unused → user owned) with the
 * current one highlighted and `owner_cnt`, the transitions and the two refusals (a claim while a
 * DMA-API driver uses the group: EPERM; a DMA-API driver bind while user space owns it: EBUSY),
 * the domains (default, blocking, a user domain) with the one the devices translate through
 * now, and each member with its driver and whether it counts in `owner_cnt`
 * (`driver_managed_dma` drivers such as vfio-platform never do).
 */

import { ownershipLabel } from "./describe.js";
import { OWNER_COLOURS, PALETTE } from "./palette.js";
import type {
  DomainSnapshot,
  GroupOwnership,
  IommuGroupSnapshot,
  SystemSnapshot,
} from "./snapshot.js";
import { arrowMarker, el, GridCanvas, svgDocument } from "./svg.js";

const WIDTH = 146;
const BOX_W = 26;
const GAP = 31;
const COL_KERNEL = 2;
const COL_UNUSED = COL_KERNEL + BOX_W + GAP;
const COL_USER = COL_UNUSED + BOX_W + GAP;

interface StateBox {
  readonly state: GroupOwnership;
  readonly col: number;
  readonly name: string;
  readonly rule: string;
}

const STATES: readonly StateBox[] = [
  { state: "kernel-dma", col: COL_KERNEL, name: "kernel DMA", rule: "owner_cnt n, owner NULL" },
  { state: "unused", col: COL_UNUSED, name: "unused", rule: "owner_cnt 0" },
  { state: "user-owned", col: COL_USER, name: "user owned", rule: "owner_cnt n, owner set" },
];

const VFIO_KIND = {
  iommu: "group",
  noiommu: "no-IOMMU group (unsafe, taints)",
  emulated: "emulated-IOMMU group",
} as const;

function domainText(d: DomainSnapshot | null): string {
  return d ? `${d.type}` : "none";
}

function describe(g: IommuGroupSnapshot, snap: SystemSnapshot): string {
  const byName = new Map(snap.devices.map((d) => [d.name, d]));
  const members = g.devices
    .map((n) => {
      const d = byName.get(n);
      if (!d) return n;
      return `${n} (${d.driver ? `driver ${d.driver}${d.driverManagedDma ? ", driver_managed_dma" : ""}` : "no driver"})`;
    })
    .join(", ");
  const now = g.domain ? `a ${g.domain.type} domain (${g.domain.role})` : "no domain";
  const refusal =
    g.ownership === "user-owned"
      ? " A DMA-API driver's bind would fail with EBUSY until the last user releases it."
      : g.ownership === "kernel-dma"
        ? " A VFIO or iommufd claim would fail with EPERM while a DMA-API driver is bound."
        : " Either a DMA-API driver or a user-space claim may take it.";
  return (
    `IOMMU group ${g.id} is ${ownershipLabel(g)} with owner_cnt ${g.ownerCnt}; its devices translate through ${now}. ` +
    `Members: ${members}.${refusal}` +
    (g.vfio
      ? ` VFIO group ${g.vfio.name}${g.vfio.node ? ` at ${g.vfio.node}` : ""}${g.vfio.open ? ", open" : ""}.`
      : "")
  );
}

function missing(snap: SystemSnapshot, id: number): string {
  const c = new GridCanvas();
  const title = `IOMMU group ${id}: not in this snapshot`;
  c.text(1, 1, title, { heading: true });
  const ids = snap.groups.map((g) => g.id).join(", ") || "none";
  c.text(1, 3, `Groups in the snapshot: ${ids}`, { fill: PALETTE.muted });
  return svgDocument(
    {
      cols: 80,
      rows: 5,
      title,
      desc: `There is no IOMMU group ${id}; the groups are: ${ids}.`,
      className: "vfio-lab-ownership",
    },
    c.parts,
  );
}

/** The DMA-ownership diagram of IOMMU group `group` (see the file header). */
export function ownershipSvg(snap: SystemSnapshot, group: number): string {
  const g = snap.groups.find((x) => x.id === group);
  if (!g) return missing(snap, group);
  const c = new GridCanvas();
  c.raw(el("defs", {}, arrowMarker("vl-own-arrow", PALETTE.ok)));
  const title = `IOMMU group ${g.id}: DMA ownership — ${ownershipLabel(g)}, owner_cnt ${g.ownerCnt}`;
  c.text(1, 1, title, { heading: true }, WIDTH - 3);
  c.text(
    1,
    2,
    `behind ${g.iommu ?? "no IOMMU"}${g.name ? ` · name ${g.name}` : ""} · ${g.devices.length} device${g.devices.length === 1 ? "" : "s"}`,
    { fill: PALETTE.muted },
    WIDTH - 3,
  );

  // VFIO's fake groups have no IOMMU: nobody claims DMA ownership of them.
  const fake = g.iommu === null;
  if (fake) {
    c.band(1, 3, WIDTH - 2, 1, PALETTE.errno.fill);
    c.text(
      2,
      3,
      g.vfio?.kind === "emulated"
        ? "A VFIO emulated-IOMMU group: no IOMMU behind it; VFIO does not claim DMA ownership (the device cannot DMA on its own)."
        : "A VFIO no-IOMMU group: no IOMMU translates or isolates this device; VFIO does not claim DMA ownership; unsafe, taints.",
      { bold: true, fill: PALETTE.errno.text },
      WIDTH - 4,
    );
  }

  // The three states.
  const top = fake ? 5 : 4;
  for (const s of STATES) {
    const now = s.state === g.ownership;
    const sw = now
      ? PALETTE.current
      : { fill: "#ffffff", stroke: PALETTE.frame, text: PALETTE.ink };
    c.raw(
      el(
        "g",
        { class: `state state-${s.state}${now ? " current" : ""}` },
        ...(() => {
          const b = new GridCanvas();
          b.box(s.col, top, BOX_W, 4, {
            fill: sw.fill,
            stroke: sw.stroke,
            strokeWidth: now ? 3 : 1,
            rx: 6,
          });
          b.text(s.col + 2, top + 1, s.name, { bold: true, fill: sw.text }, BOX_W - 3);
          b.text(s.col + 2, top + 2, s.rule, { fill: PALETTE.muted }, BOX_W - 3);
          b.text(
            s.col + 2,
            top + 3,
            now ? `now: owner_cnt ${g.ownerCnt}` : "",
            { bold: true, fill: sw.text },
            BOX_W - 3,
          );
          return b.parts;
        })(),
      ),
    );
    if (now)
      c.text(s.col + 2, top + 5, "▲ current state", { bold: true, fill: PALETTE.current.text });
  }
  // unused → kernel DMA (leftwards) and back; unused → user owned and back.
  const lk = COL_KERNEL + BOX_W + 1;
  const ru = COL_UNUSED - 1;
  c.text(lk + 1, top + 1, "DMA-API driver binds", { fill: PALETTE.ink }, GAP - 2);
  c.hline(ru, lk, top + 2, { stroke: PALETTE.ok, arrow: "vl-own-arrow" });
  c.hline(lk, ru, top + 3, { stroke: PALETTE.ok, arrow: "vl-own-arrow" });
  c.text(lk + 1, top + 4, "its last one unbinds", { fill: PALETTE.ink }, GAP - 2);
  const lu = COL_UNUSED + BOX_W + 1;
  const rr = COL_USER - 1;
  c.text(lu + 1, top + 1, "VFIO / iommufd claims", { fill: PALETTE.ink }, GAP - 2);
  c.hline(lu, rr, top + 2, { stroke: PALETTE.ok, arrow: "vl-own-arrow" });
  c.hline(rr, lu, top + 3, { stroke: PALETTE.ok, arrow: "vl-own-arrow" });
  c.text(lu + 1, top + 4, "last user releases", { fill: PALETTE.ink }, GAP - 2);

  // The refusals.
  const rt = top + 7;
  c.text(1, rt, "Refused:", { bold: true, fill: PALETTE.errno.text });
  c.text(
    11,
    rt,
    "user-space claim while kernel DMA → EPERM (iommu_group_claim_dma_owner, iommu_device_claim_dma_owner)",
    { fill: PALETTE.errno.text, bold: g.ownership === "kernel-dma" },
    WIDTH - 13,
  );
  c.text(
    11,
    rt + 1,
    "DMA-API driver bind while user owned → EBUSY (iommu_device_use_default_domain)",
    { fill: PALETTE.errno.text, bold: g.ownership === "user-owned" },
    WIDTH - 13,
  );
  c.text(
    11,
    rt + 2,
    "claim while off the default domain → EBUSY (__iommu_take_dma_ownership)",
    { fill: PALETTE.errno.text },
    WIDTH - 13,
  );

  // Domains.
  const dt = rt + 4;
  c.text(
    1,
    dt,
    fake ? "Domains:" : "Domains — the devices translate through the highlighted one:",
    { bold: true },
    WIDTH - 3,
  );
  if (fake) {
    c.text(
      3,
      dt + 2,
      "none: no IOMMU translates for this group",
      { fill: PALETTE.muted },
      WIDTH - 5,
    );
  } else {
    const domains: { label: string; detail: string; on: boolean }[] = [
      {
        label: "default domain",
        detail: `${domainText(g.defaultDomain)} · kernel DMA API`,
        on: g.domain?.role === "default",
      },
      {
        label: "blocking domain",
        detail: g.hasBlockingDomain ? "blocked · no DMA at all" : "not set up yet",
        on: g.domain?.role === "blocking",
      },
      {
        label: "user domain",
        detail: g.domain?.role === "user" ? `${g.domain.type} · user IOVAs` : "none attached",
        on: g.domain?.role === "user",
      },
    ];
    domains.forEach((d, i) => {
      const col = STATES[i]!.col;
      const sw = d.on
        ? PALETTE.current
        : { fill: "#ffffff", stroke: PALETTE.frame, text: PALETTE.ink };
      c.box(col, dt + 1, BOX_W, 3, {
        fill: sw.fill,
        stroke: sw.stroke,
        strokeWidth: d.on ? 3 : 1,
        rx: 4,
      });
      c.text(col + 2, dt + 2, d.label, { bold: true, fill: sw.text }, BOX_W - 3);
      c.text(col + 2, dt + 3, d.detail, { fill: PALETTE.muted }, BOX_W - 3);
      if (d.on)
        c.text(col + 2, dt + 5, "▲ attached now", { bold: true, fill: PALETTE.current.text });
    });
  }

  // Members.
  const mt = fake ? dt + 4 : dt + 7;
  c.text(1, mt, "Members:", { bold: true });
  const byName = new Map(snap.devices.map((d) => [d.name, d]));
  g.devices.forEach((n, i) => {
    const d = byName.get(n);
    const row = mt + 1 + i;
    const owner = d?.owner ?? "none";
    const sw = OWNER_COLOURS[owner];
    c.band(2, row, 2, 1, sw.stroke);
    c.text(5, row, n, { bold: true }, 28);
    c.text(34, row, d?.driver ?? "(no driver)", { fill: sw.text }, 22);
    c.text(57, row, owner, { fill: sw.text }, 8);
    const counts = !d?.driver
      ? "unbound: not counted"
      : d.driverManagedDma
        ? fake
          ? "driver_managed_dma: not counted"
          : "driver_managed_dma: not counted (VFIO claims the group itself)"
        : "DMA-API driver: one owner_cnt while kernel DMA";
    c.text(66, row, counts, { fill: PALETTE.muted }, WIDTH - 68);
  });
  let row = mt + 1 + g.devices.length + 1;
  const vfio = g.vfio
    ? `VFIO: ${VFIO_KIND[g.vfio.kind]} ${g.vfio.name} · ${g.vfio.node ?? "no node"} · ${g.vfio.open ? "open" : "not open"}${g.vfio.container ? " · in a container" : ""}${g.vfio.iommufd ? " · bound to an iommufd" : ""}`
    : "VFIO: no VFIO group for it";
  c.text(1, row, vfio, { fill: PALETTE.ink }, WIDTH - 3);
  row += 2;

  return svgDocument(
    { cols: WIDTH, rows: row, title, desc: describe(g, snap), className: "vfio-lab-ownership" },
    c.parts,
  );
}
