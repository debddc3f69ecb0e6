/**
 * Words shared by the pictures, the table and their accessible descriptions: how an owner, a
 * group's ownership or an address reads.
 */

import type { DeviceSnapshot, IommuGroupSnapshot } from "./snapshot.js";

export function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/** `0x0c000000`-style: 8 hex digits at least. */
export function addr(n: number | bigint): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** The group's ownership in words. */
export function ownershipLabel(g: IommuGroupSnapshot): string {
  // VFIO's fake groups (vfio_noiommu_group_alloc / emulated): no IOMMU, nothing to own.
  if (g.iommu === null && g.vfio?.kind === "noiommu") return "no-IOMMU (unsafe)";
  if (g.iommu === null && g.vfio?.kind === "emulated") return "emulated IOMMU";
  switch (g.ownership) {
    case "unused":
      return "unused";
    case "kernel-dma":
      return "kernel DMA";
    case "user-owned":
      return g.ownerKind === "iommufd"
        ? "user (iommufd)"
        : g.ownerKind === "vfio-group"
          ? "user (VFIO)"
          : "user";
  }
}

/** `vfio · vfio-amba`, `kernel · dma-pl330`, `none`. */
export function ownerLine(d: DeviceSnapshot): string {
  return d.driver === null ? "none · unbound" : `${d.owner} · ${d.driver}`;
}

/** Every fact of a device in one tooltip. */
export function deviceDetails(d: DeviceSnapshot): string {
  const lines = [
    d.name,
    `bus: ${d.bus}`,
    `compatible: ${d.compatible.join(", ") || "-"}`,
    `driver: ${d.driver ?? "(none)"} → owner ${d.owner}`,
  ];
  if (d.driverOverride !== null) lines.push(`driver_override: ${d.driverOverride}`);
  lines.push(`IOMMU group: ${d.iommuGroup ?? "none"}`);
  lines.push(
    `IOMMU: ${d.iommu ?? "none"}${d.streamIds.length ? ` (IDs ${d.streamIds.map(hex).join(", ")})` : ""}`,
  );
  if (d.mmio.length)
    lines.push(`MMIO: ${d.mmio.map((m) => `${addr(m.start)}+${hex(m.size)}`).join(", ")}`);
  if (d.irqs.length) lines.push(`IRQs: ${d.irqs.join(", ")}`);
  if (d.vfio) {
    lines.push(
      `VFIO: ${d.vfio.groupNode ?? "no group node"}${d.vfio.cdevNode ? `, ${d.vfio.cdevNode}` : ""}`,
    );
  }
  if (d.uio.length) lines.push(`UIO: ${d.uio.join(", ")}`);
  return lines.join("\n");
}
