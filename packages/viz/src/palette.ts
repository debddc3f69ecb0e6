/**
 * The one colour table every picture uses, so an owner, an errno or a taint looks the same in the
 * topology, the ownership diagram, the IOAS map and the sequence diagram. Fills are light and
 * strokes dark; every text colour here reaches at least 4.5:1 (WCAG AA) on the fill it is drawn
 * on, and no meaning is carried by colour alone: each coloured box also says its owner, errno
 * or state in words.
 */

import type { DeviceOwner } from "./snapshot.js";

export interface Swatch {
  /** Box fill. */
  readonly fill: string;
  /** Box outline. */
  readonly stroke: string;
  /** Text drawn on `fill`. */
  readonly text: string;
}

/** Who drives a device: a kernel driver, VFIO (user space), UIO (user space), or nobody. */
export const OWNER_COLOURS: Readonly<Record<DeviceOwner, Swatch>> = {
  kernel: { fill: "#dbeafe", stroke: "#1d4ed8", text: "#1e3a8a" },
  vfio: { fill: "#dcfce7", stroke: "#15803d", text: "#14532d" },
  uio: { fill: "#ffedd5", stroke: "#c2410c", text: "#7c2d12" },
  none: { fill: "#f3f4f6", stroke: "#6b7280", text: "#374151" },
};

export const OWNER_LABELS: Readonly<Record<DeviceOwner, string>> = {
  kernel: "kernel driver",
  vfio: "VFIO (user space)",
  uio: "UIO (user space)",
  none: "no driver",
};

export const PALETTE = {
  /** Body text and outlines of neutral things. */
  ink: "#111827",
  /** Secondary text (addresses, counts). */
  muted: "#4b5563",
  /** Picture background. */
  paper: "#ffffff",
  /** Section frames (an IOMMU, "no IOMMU"). */
  frame: "#6b7280",
  frameFill: "#f9fafb",
  /** IOMMU groups. */
  group: "#374151",
  /** IOMMU hardware. */
  iommu: { fill: "#ede9fe", stroke: "#6d28d9", text: "#4c1d95" },
  /** A failed syscall, a refused transition. */
  errno: { fill: "#fee2e2", stroke: "#b91c1c", text: "#b91c1c" },
  /** The taint badge: white on dark red (7.0:1). */
  taint: { fill: "#b91c1c", stroke: "#7f1d1d", text: "#ffffff" },
  /** Untainted badge. */
  clean: { fill: "#dcfce7", stroke: "#15803d", text: "#14532d" },
  /** printk notes. */
  note: { fill: "#fef9c3", stroke: "#a16207", text: "#713f12" },
  /** Other kernel events in a trace (binds, ownership). */
  event: { fill: "#f3f4f6", stroke: "#6b7280", text: "#374151" },
  /** The current state / domain in the ownership diagram. */
  current: { fill: "#fef3c7", stroke: "#b45309", text: "#78350f" },
  /** Arrows of successful calls. */
  ok: "#1f2937",
} as const;
