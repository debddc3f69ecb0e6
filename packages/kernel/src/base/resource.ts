/**
 * `struct resource` and the iomem resource tree (include/linux/ioport.h, kernel/resource.c):
 * who claimed which physical address range. AMBA devices claim their window when they are
 * added; drivers claim registers with request_mem_region(), and a second claim of a busy range
 * fails — the EBUSY behind "can't request region for resource".
 *
 * Caveat: no IORESOURCE_MUXED waiting, no iomem revocation for /dev/mem, no ioport tree.
 */

import { errno } from "../errno.js";

/** include/linux/ioport.h flags. */
export const IORESOURCE_BITS = 0x0000_00ff;
export const IORESOURCE_TYPE_BITS = 0x0000_1f00;
export const IORESOURCE_IO = 0x0000_0100;
export const IORESOURCE_MEM = 0x0000_0200;
export const IORESOURCE_REG = 0x0000_0300;
export const IORESOURCE_IRQ = 0x0000_0400;
export const IORESOURCE_DMA = 0x0000_0800;
export const IORESOURCE_BUS = 0x0000_1000;
export const IORESOURCE_PREFETCH = 0x0000_2000;
export const IORESOURCE_MEM_64 = 0x0010_0000;
export const IORESOURCE_WINDOW = 0x0020_0000;
export const IORESOURCE_MUXED = 0x0040_0000;
export const IORESOURCE_EXT_TYPE_BITS = 0x0100_0000;
export const IORESOURCE_DISABLED = 0x1000_0000;
export const IORESOURCE_UNSET = 0x2000_0000;
export const IORESOURCE_BUSY = 0x8000_0000;
/** IRQ resource trigger bits (IORESOURCE_BITS of an IRQ resource). */
export const IORESOURCE_IRQ_HIGHEDGE = 1 << 0;
export const IORESOURCE_IRQ_LOWEDGE = 1 << 1;
export const IORESOURCE_IRQ_HIGHLEVEL = 1 << 2;
export const IORESOURCE_IRQ_LOWLEVEL = 1 << 3;

export class Resource {
  parent: Resource | null = null;
  /** Children sorted by start address (the kernel's child/sibling list). */
  readonly children: Resource[] = [];

  constructor(
    public start: number,
    /** Inclusive end. */
    public end: number,
    public flags: number,
    public name: string | null = null,
  ) {}

  /** resource_size(). */
  get size(): number {
    return this.end - this.start + 1;
  }

  /** resource_type(). */
  get type(): number {
    return this.flags & IORESOURCE_TYPE_BITS;
  }
}

/** `iomem_resource`: the root of the physical address space claims. */
export function newIomemRoot(): Resource {
  return new Resource(0, Number.POSITIVE_INFINITY, IORESOURCE_MEM, "PCI mem");
}

/**
 * kernel/resource.c: __request_resource() — links `res` under `root` unless it overlaps a
 * child (that child is returned) or does not fit in `root` (`root` is returned).
 */
function requestResourceConflict(root: Resource, res: Resource): Resource | null {
  if (res.end < res.start || res.start < root.start || res.end > root.end) return root;
  let i = 0;
  for (; i < root.children.length; i++) {
    const tmp = root.children[i] as Resource;
    if (tmp.start > res.end) break;
    if (tmp.end < res.start) continue;
    return tmp;
  }
  root.children.splice(i, 0, res);
  res.parent = root;
  return null;
}

/** kernel/resource.c: request_resource() — 0 or -EBUSY on any conflict. */
export function requestResource(root: Resource, res: Resource): number {
  return requestResourceConflict(root, res) ? -errno("EBUSY") : 0;
}

/** kernel/resource.c: release_resource() — unlinks `res` (and what it holds). */
export function releaseResource(res: Resource): void {
  const parent = res.parent;
  if (!parent) return;
  const i = parent.children.indexOf(res);
  if (i >= 0) parent.children.splice(i, 1);
  res.parent = null;
}

/**
 * kernel/resource.c: __request_region() — a busy claim of [start, start+n). A non-busy
 * resource that contains the range (an AMBA device's window) is descended into; a busy one,
 * or a partial overlap, is a conflict: null (the caller's -EBUSY).
 */
export function requestRegion(
  root: Resource,
  start: number,
  n: number,
  name: string,
  flags = 0,
): Resource | null {
  let parent = root;
  const res = new Resource(start, start + n - 1, 0, name);
  for (;;) {
    const inherited = parent.flags & (IORESOURCE_TYPE_BITS | IORESOURCE_EXT_TYPE_BITS);
    res.flags = (inherited | IORESOURCE_BUSY | flags) >>> 0;
    const conflict = requestResourceConflict(parent, res);
    if (!conflict) return res;
    if (conflict !== parent && !(conflict.flags & IORESOURCE_BUSY)) {
      parent = conflict;
      continue;
    }
    return null;
  }
}

/**
 * kernel/resource.c: __release_region() — frees the busy region exactly [start, start+n),
 * looking through non-busy containers; false (and the caller's warning) when there is none.
 */
export function releaseRegion(root: Resource, start: number, n: number): boolean {
  const end = start + n - 1;
  let list = root.children;
  let i = 0;
  while (i < list.length) {
    const res = list[i] as Resource;
    if (res.start <= start && res.end >= end) {
      if (!(res.flags & IORESOURCE_BUSY)) {
        list = res.children;
        i = 0;
        continue;
      }
      if (res.start !== start || res.end !== end) return false;
      list.splice(i, 1);
      res.parent = null;
      return true;
    }
    i++;
  }
  return false;
}

/** `%pa`: a phys_addr_t as 0x and 16 hex digits. */
export function formatPhysAddr(addr: number): string {
  return `0x${addr.toString(16).padStart(16, "0")}`;
}

function hex0x(value: number, width: number): string {
  // SPECIAL|ZEROPAD with field width: "0x" counts towards the width.
  return `0x${value.toString(16).padStart(Math.max(0, width - 2), "0")}`;
}

/** lib/vsprintf.c: resource_string() for `%pR` (decoded) — `[mem 0x09000000-0x09000fff]`. */
export function formatResource(res: Resource | null): string {
  if (res === null) return "(null)";
  let kind: string;
  let width = 10;
  let dec = false;
  let decode = true;
  if (res.flags & IORESOURCE_IO) {
    kind = "io  ";
    width = 6;
  } else if (res.flags & IORESOURCE_MEM) kind = "mem ";
  else if (res.flags & IORESOURCE_IRQ) {
    kind = "irq ";
    dec = true;
  } else if (res.flags & IORESOURCE_DMA) {
    kind = "dma ";
    dec = true;
  } else if (res.flags & IORESOURCE_BUS) {
    kind = "bus ";
  } else {
    kind = "??? ";
    decode = false;
  }
  const num = (v: number) =>
    dec
      ? String(v)
      : res.flags & IORESOURCE_BUS
        ? v.toString(16).padStart(2, "0")
        : hex0x(v, width);
  let range: string;
  if (decode && res.flags & IORESOURCE_UNSET) range = `size ${num(res.size)}`;
  else range = res.start === res.end ? num(res.start) : `${num(res.start)}-${num(res.end)}`;
  let tail = "";
  if (decode) {
    if (res.flags & IORESOURCE_MEM_64) tail += " 64bit";
    if (res.flags & IORESOURCE_PREFETCH) tail += " pref";
    if (res.flags & IORESOURCE_WINDOW) tail += " window";
    if (res.flags & IORESOURCE_DISABLED) tail += " disabled";
  } else {
    tail = ` flags 0x${(res.flags >>> 0).toString(16)}`;
  }
  return `[${kind}${range}${tail}]`;
}

/** kernel/resource.c: r_show() — /proc/iomem as root reads it. */
export function iomemShow(root: Resource): string {
  const width = root.end < 0x10000 ? 4 : 8;
  let out = "";
  const walk = (list: readonly Resource[], depth: number): void => {
    for (const r of list) {
      out +=
        `${" ".repeat(depth * 2)}${r.start.toString(16).padStart(width, "0")}-` +
        `${r.end.toString(16).padStart(width, "0")} : ${r.name ?? "<BAD>"}\n`;
      walk(r.children, depth + 1);
    }
  };
  walk(root.children, 0);
  return out;
}
