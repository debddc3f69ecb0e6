/**
 * The SMMUv3 IOTLB: leaf stage-1 translations tagged by ASID (Arm IHI 0070 §3.17), kept until
 * a CMD_TLBI_* removes them, exactly as stale as a real TLB would be.
 *
 * Lookups sit on every DMA page, so the layout is chosen for V8: one table per ASID (which a
 * Context Descriptor holds a reference to once decoded), keyed by the page or block number as a
 * plain number, so that IOVAs below 8 TiB hash as small integers. Tables are emptied in place,
 * never replaced, so those references stay valid across invalidations.
 */

/** A cached leaf: a 4 KiB page (shift 12), 2 MiB block (21) or 1 GiB block (30). */
export class TlbEntry {
  constructor(
    readonly asid: number,
    readonly inBase: number,
    readonly outBase: number,
    readonly shift: number,
    /** AP[2] = 0 and no APTable[1] on the way: the permission is cached with the entry. */
    readonly writable: boolean,
  ) {}
}

/** 1 GiB block numbers are offset past every 2 MiB block number of a 48-bit space. */
export const BLOCK_1G_KEY_BASE = 2 ** 27;

function blockKey(iova: number, shift: number): number {
  return shift === 21 ? Math.floor(iova / 2 ** 21) : BLOCK_1G_KEY_BASE + Math.floor(iova / 2 ** 30);
}

/** Every entry of one ASID. */
export class AsidTlb {
  /** By 4 KiB page number. */
  readonly pages = new Map<number, TlbEntry>();
  /** By 2 MiB block number, or BLOCK_1G_KEY_BASE + 1 GiB block number. */
  readonly blocks = new Map<number, TlbEntry>();

  constructor(readonly asid: number) {}

  get size(): number {
    return this.pages.size + this.blocks.size;
  }

  lookup(iova: number): TlbEntry | undefined {
    const page = this.pages.get(Math.floor(iova / 4096));
    if (page !== undefined || this.blocks.size === 0) return page;
    return this.blocks.get(Math.floor(iova / 2 ** 21)) ?? this.blocks.get(blockKey(iova, 30));
  }
}

export class Iotlb {
  private readonly byAsid = new Map<number, AsidTlb>();
  private entries = 0;

  constructor(
    /** Entries held before the whole TLB is flushed (a TLB may evict at any time). */
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.entries;
  }

  /** The table for `asid`, created empty on first use and kept for good. */
  forAsid(asid: number): AsidTlb {
    let t = this.byAsid.get(asid);
    if (t === undefined) {
      t = new AsidTlb(asid);
      this.byAsid.set(asid, t);
    }
    return t;
  }

  insert(e: TlbEntry): void {
    if (this.entries >= this.capacity) this.invalidateAll();
    const t = this.forAsid(e.asid);
    const map = e.shift === 12 ? t.pages : t.blocks;
    const key = e.shift === 12 ? Math.floor(e.inBase / 4096) : blockKey(e.inBase, e.shift);
    if (!map.has(key)) this.entries++;
    map.set(key, e);
  }

  /** CMD_TLBI_NH_ALL, CMD_TLBI_NSNH_ALL. */
  invalidateAll(): void {
    for (const t of this.byAsid.values()) {
      t.pages.clear();
      t.blocks.clear();
    }
    this.entries = 0;
  }

  /** CMD_TLBI_NH_ASID. */
  invalidateAsid(asid: number): void {
    const t = this.byAsid.get(asid);
    if (!t) return;
    this.entries -= t.size;
    t.pages.clear();
    t.blocks.clear();
  }

  /** CMD_TLBI_NH_VA: whatever entry of `asid` translates `va`, whatever its size. */
  invalidateVa(asid: number, va: number): void {
    const t = this.byAsid.get(asid);
    if (!t) return;
    for (const [map, key] of [
      [t.pages, Math.floor(va / 4096)],
      [t.blocks, blockKey(va, 21)],
      [t.blocks, blockKey(va, 30)],
    ] as const) {
      if (map.delete(key)) this.entries--;
    }
  }

  /** CMD_TLBI_NH_VAA: `va` in every ASID. */
  invalidateVaAllAsids(va: number): void {
    for (const asid of this.byAsid.keys()) this.invalidateVa(asid, va);
  }
}
