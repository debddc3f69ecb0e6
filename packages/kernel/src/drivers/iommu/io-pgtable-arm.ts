/**
 * drivers/iommu/io-pgtable-arm.c: the ARM LPAE (VMSAv8-64) stage-1 page-table format an SMMUv3
 * walks. Tables are pages from the page allocator and descriptors are written straight into
 * simulated physical memory, so what the SMMU model walks is exactly what this code built.
 *
 * With a 4 KiB granule and a 48-bit input size the walk starts at level 0 (512 entries per
 * level, 9 bits each); leaves are 4 KiB pages at level 3 and, when the page-size bitmap,
 * size and alignment allow, 2 MiB (level 2) or 1 GiB (level 1) blocks. A leaf carries AF, nG,
 * AP[2:1] (read-only unless IOMMU_WRITE; "unprivileged" unless IOMMU_PRIV), the memory
 * attribute index and shareability from IOMMU_CACHE/IOMMU_MMIO, and XN for IOMMU_NOEXEC.
 * Unmapping a block tears down the tables under it and flushes the walk cache through the
 * driver's flush callbacks, as the kernel does; leaf invalidations are gathered for the caller.
 *
 * Descriptor bit positions come from hw-soc's field tables (the architecture's layouts), so a
 * field is never positioned twice.
 *
 * Caveat: stage 1 with a 4 KiB, 16 KiB or 64 KiB granule and at most 48-bit addresses (no 52-bit
 * packing, no stage 2, no Mali, no dirty tracking); the kernel's WARN() backtraces are not
 * printed — the calls just fail as they do after the warning.
 */

import {
  type BitField,
  LEAF_DESCRIPTOR_FIELDS,
  PAGE_SIZE,
  type PhysicalMemory,
  TABLE_DESCRIPTOR_FIELDS,
} from "@vfio-lab/hw-soc";
import { SysError } from "../../errno.js";
import type { IommuIotlbGather } from "../../iommu/domain.js";
import {
  IOMMU_CACHE,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
} from "../../iommu/iommu-defs.js";
import type { PageAllocator } from "../../mm/page-allocator.js";

/** A 64-bit descriptor as two little-endian 32-bit halves (no bigint on the map path). */
interface Pte {
  lo: number;
  hi: number;
}

/** The descriptor bits of a field (set to `value`), split into halves. */
function fieldBits(f: BitField, value = 2 ** f.width - 1): Pte {
  const v = value * 2 ** f.bit;
  return { lo: (v % 2 ** 32) >>> 0, hi: Math.floor(v / 2 ** 32) >>> 0 };
}

const L = LEAF_DESCRIPTOR_FIELDS;
/** ARM_LPAE_PTE_TYPE_{BLOCK,TABLE,PAGE}: descriptor bits [1:0]. */
const PTE_TYPE_BLOCK = 1;
const PTE_TYPE_TABLE = 3;
const PTE_TYPE_PAGE = 3;
const PTE_nG = fieldBits(L.nG);
const PTE_AF = fieldBits(L.AF);
const PTE_NS = fieldBits(L.NS);
/** AP[2] (read-only) is the upper AP bit, AP[1] (unprivileged access) the lower. */
const PTE_AP_RDONLY = fieldBits(L.AP, 0b10);
const PTE_AP_UNPRIV = fieldBits(L.AP, 0b01);
const PTE_DBM = fieldBits(L.DBM);
/** ARM_LPAE_PTE_XN is both PXN and UXN. */
const PTE_XN = { lo: 0, hi: fieldBits(L.PXN).hi | fieldBits(L.XN).hi };
const PTE_SH_OS = fieldBits(L.SH, 2);
const PTE_SH_IS = fieldBits(L.SH, 3);
const PTE_NSTABLE = fieldBits(TABLE_DESCRIPTOR_FIELDS.NSTable);
/** Output/next-level address [47:12]. */
const PTE_ADDR = fieldBits(L.OutputAddress);

/** MAIR attribute indexes and encodings (ARM_LPAE_MAIR_ATTR_*). */
export const ARM_LPAE_MAIR_ATTR_IDX_NC = 0;
export const ARM_LPAE_MAIR_ATTR_IDX_CACHE = 1;
export const ARM_LPAE_MAIR_ATTR_IDX_DEV = 2;
export const ARM_LPAE_MAIR_ATTR_IDX_INC_OCACHE = 3;
const MAIR_ATTR_NC = 0x44;
const MAIR_ATTR_WBRWA = 0xff;
const MAIR_ATTR_DEVICE = 0x04;
const MAIR_ATTR_INC_OWBRWA = 0xf4;

/** TCR fields (ARM_LPAE_TCR_*). */
export const ARM_LPAE_TCR_SH_OS = 2;
export const ARM_LPAE_TCR_SH_IS = 3;
export const ARM_LPAE_TCR_RGN_NC = 0;
export const ARM_LPAE_TCR_RGN_WBWA = 1;
const TCR_TG0 = { 4096: 0, 65536: 1, 16384: 2 } as Record<number, number>;
/** ARM_LPAE_TCR_PS_* by output size. */
const TCR_PS: Readonly<Record<number, number>> = { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5 };

/** IO_PGTABLE_QUIRK_ARM_NS, IO_PGTABLE_QUIRK_ARM_HD. */
export const IO_PGTABLE_QUIRK_ARM_NS = 1 << 0;
export const IO_PGTABLE_QUIRK_ARM_HD = 1 << 7;

const MAX_LEVELS = 4;
const SZ_4K = 4096;
const SZ_16K = 16384;
const SZ_64K = 65536;

/** `struct iommu_flush_ops`: how the page table asks its IOMMU driver to invalidate. */
export interface IommuFlushOps {
  tlbFlushAll(): void;
  /** Intermediate tables under [iova, iova+size) went away. */
  tlbFlushWalk(iova: number, size: number, granule: number): void;
  /** One leaf of `granule` bytes is gone: gather it for the next sync. */
  tlbAddPage(gather: IommuIotlbGather, iova: number, granule: number): void;
}

export interface IoPgtableCfg {
  readonly pgsizeBitmap: number;
  readonly ias: number;
  readonly oas: number;
  /** The walker snoops CPU caches: no cache maintenance (the model needs none either way). */
  readonly coherentWalk: boolean;
  readonly quirks?: number;
  readonly tlb: IommuFlushOps;
}

/** `cfg->arm_lpae_s1_cfg.tcr` */
export interface ArmLpaeS1Tcr {
  readonly tsz: number;
  readonly tg: number;
  readonly irgn: number;
  readonly orgn: number;
  readonly sh: number;
  readonly ips: number;
}

function ffsNum(n: number): number {
  let e = 0;
  while (n % 2 ** (e + 1) === 0) e++;
  return e;
}

function flsNum(n: number): number {
  let e = 0;
  while (2 ** (e + 1) <= n) e++;
  return e;
}

/** io-pgtable-arm.c: arm_lpae_restrict_pgsizes() — the block sizes of the chosen granule. */
function restrictPgsizes(bitmap: number): { bitmap: number; maxBits: number } {
  let granule = 0;
  const low = bitmap % PAGE_SIZE; // sizes below a CPU page
  if (Math.floor(bitmap / PAGE_SIZE) % 2 === 1) granule = PAGE_SIZE;
  else if (low) granule = 2 ** flsNum(low);
  else if (bitmap) granule = 2 ** ffsNum(bitmap);
  let pageSizes = 0;
  if (granule === SZ_4K) pageSizes = SZ_4K + 2 ** 21 + 2 ** 30;
  else if (granule === SZ_16K) pageSizes = SZ_16K + 2 ** 25;
  else if (granule === SZ_64K) pageSizes = SZ_64K + 2 ** 29;
  let out = 0;
  for (let e = 0; e < 53; e++) {
    const b = 2 ** e;
    if (b > bitmap) break;
    if (Math.floor(bitmap / b) % 2 === 1 && Math.floor(pageSizes / b) % 2 === 1) out += b;
  }
  return { bitmap: out, maxBits: 48 };
}

/**
 * `struct arm_lpae_io_pgtable` for ARM_64_LPAE_S1 (arm_64_lpae_alloc_pgtable_s1()): throws
 * ENOMEM where alloc_io_pgtable_ops() returns NULL.
 */
export class ArmLpaeS1Pgtable {
  readonly pgsizeBitmap: number;
  readonly ias: number;
  readonly oas: number;
  readonly bitsPerLevel: number;
  readonly startLevel: number;
  readonly pgdBits: number;
  readonly tcr: ArmLpaeS1Tcr;
  readonly mair: number;
  /** TTBR: the physical address of the top-level table. */
  readonly ttbr: number;
  readonly quirks: number;
  private readonly memory: PhysicalMemory;
  private readonly tlb: IommuFlushOps;
  private freed = false;

  constructor(
    cfg: IoPgtableCfg,
    private readonly allocator: PageAllocator,
  ) {
    const fn = "alloc_io_pgtable_ops";
    const { bitmap, maxBits } = restrictPgsizes(cfg.pgsizeBitmap);
    this.pgsizeBitmap = bitmap;
    this.ias = Math.min(cfg.ias, maxBits);
    this.oas = Math.min(cfg.oas, maxBits);
    this.quirks = cfg.quirks ?? 0;
    const has = (size: number) => Math.floor(bitmap / size) % 2 === 1;
    if (!has(SZ_4K) && !has(SZ_16K) && !has(SZ_64K)) throw new SysError("ENOMEM", fn, "no granule");
    const pgShift = ffsNum(bitmap);
    this.bitsPerLevel = pgShift - 3;
    const vaBits = this.ias - pgShift;
    const levels = Math.ceil(vaBits / this.bitsPerLevel);
    this.startLevel = MAX_LEVELS - levels;
    this.pgdBits = vaBits - this.bitsPerLevel * (levels - 1);
    const ips = TCR_PS[this.oas];
    if (ips === undefined) throw new SysError("ENOMEM", fn, `oas ${this.oas}`);
    this.tcr = cfg.coherentWalk
      ? {
          tsz: 64 - this.ias,
          tg: TCR_TG0[this.granule]!,
          irgn: ARM_LPAE_TCR_RGN_WBWA,
          orgn: ARM_LPAE_TCR_RGN_WBWA,
          sh: ARM_LPAE_TCR_SH_IS,
          ips,
        }
      : {
          tsz: 64 - this.ias,
          tg: TCR_TG0[this.granule]!,
          irgn: ARM_LPAE_TCR_RGN_NC,
          orgn: ARM_LPAE_TCR_RGN_NC,
          sh: ARM_LPAE_TCR_SH_OS,
          ips,
        };
    this.mair =
      (MAIR_ATTR_NC * 2 ** (8 * ARM_LPAE_MAIR_ATTR_IDX_NC) +
        MAIR_ATTR_WBRWA * 2 ** (8 * ARM_LPAE_MAIR_ATTR_IDX_CACHE) +
        MAIR_ATTR_DEVICE * 2 ** (8 * ARM_LPAE_MAIR_ATTR_IDX_DEV) +
        MAIR_ATTR_INC_OWBRWA * 2 ** (8 * ARM_LPAE_MAIR_ATTR_IDX_INC_OCACHE)) >>>
      0;
    this.memory = allocator.memory;
    this.tlb = cfg.tlb;
    this.ttbr = this.allocTable(fn);
  }

  /** ARM_LPAE_GRANULE() */
  get granule(): number {
    return 8 * 2 ** this.bitsPerLevel;
  }

  /** ARM_LPAE_LVL_SHIFT() */
  lvlShift(lvl: number): number {
    return (MAX_LEVELS - lvl) * this.bitsPerLevel + 3;
  }

  /** ARM_LPAE_BLOCK_SIZE() */
  blockSize(lvl: number): number {
    return 2 ** this.lvlShift(lvl);
  }

  /** ARM_LPAE_LVL_IDX() */
  private lvlIdx(iova: number, lvl: number): number {
    const bits =
      this.bitsPerLevel + (lvl === this.startLevel ? this.pgdBits - this.bitsPerLevel : 0);
    return Math.floor(iova / this.blockSize(lvl)) % 2 ** bits;
  }

  private get ptesPerTable(): number {
    return 2 ** this.bitsPerLevel;
  }

  /** arm_lpae_max_entries() */
  private maxEntries(idx: number): number {
    return this.ptesPerTable - (idx & (this.ptesPerTable - 1));
  }

  /** __arm_lpae_alloc_pages(): a zeroed table page (at least a granule, 64-byte aligned). */
  private allocTable(fn: string): number {
    try {
      return this.allocator.allocPage({ kind: "kernel", zero: true }) * PAGE_SIZE;
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      throw new SysError("ENOMEM", fn, "no page for a page table");
    }
  }

  private freeTable(phys: number): void {
    this.allocator.putPage(phys / PAGE_SIZE);
  }

  private readPte(addr: number, out: Pte): Pte {
    out.lo = this.memory.load(addr, 4);
    out.hi = this.memory.load(addr + 4, 4);
    return out;
  }

  private writePte(addr: number, lo: number, hi: number): void {
    this.memory.store(addr, 4, lo >>> 0);
    this.memory.store(addr + 4, 4, hi >>> 0);
  }

  private static isZero(p: Pte): boolean {
    return p.lo === 0 && p.hi === 0;
  }

  /** iopte_leaf() */
  private static isLeaf(p: Pte, lvl: number): boolean {
    const type = p.lo & 3;
    return lvl === MAX_LEVELS - 1 ? type === PTE_TYPE_PAGE : type === PTE_TYPE_BLOCK;
  }

  /** iopte_table() */
  private static isTable(p: Pte, lvl: number): boolean {
    return lvl !== MAX_LEVELS - 1 && (p.lo & 3) === PTE_TYPE_TABLE;
  }

  /** iopte_to_paddr() (≤ 48-bit output). */
  private static toPaddr(p: Pte): number {
    return ((p.lo & PTE_ADDR.lo) >>> 0) + (p.hi & PTE_ADDR.hi) * 2 ** 32;
  }

  /** arm_lpae_prot_to_pte() for stage 1. */
  private protToPte(prot: number): Pte {
    const pte: Pte = { lo: PTE_nG.lo, hi: PTE_nG.hi };
    const or = (b: Pte) => {
      pte.lo = (pte.lo | b.lo) >>> 0;
      pte.hi = (pte.hi | b.hi) >>> 0;
    };
    if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) or(PTE_AP_RDONLY);
    else if (this.quirks & IO_PGTABLE_QUIRK_ARM_HD) or(PTE_DBM);
    if (!(prot & IOMMU_PRIV)) or(PTE_AP_UNPRIV);
    if (prot & IOMMU_MMIO) or(fieldBits(L.AttrIndx, ARM_LPAE_MAIR_ATTR_IDX_DEV));
    else if (prot & IOMMU_CACHE) or(fieldBits(L.AttrIndx, ARM_LPAE_MAIR_ATTR_IDX_CACHE));
    or(prot & IOMMU_CACHE ? PTE_SH_IS : PTE_SH_OS);
    if (prot & IOMMU_NOEXEC) or(PTE_XN);
    if (this.quirks & IO_PGTABLE_QUIRK_ARM_NS) or(PTE_NS);
    or(PTE_AF);
    return pte;
  }

  /**
   * io-pgtable-arm.c: arm_lpae_map_pages() — maps `pgcount` pages of `pgsize` (one of the
   * bitmap's sizes), at most to the end of the table holding the first; `mapped.value` grows by
   * what was mapped. EINVAL for a bad size or no access, ERANGE for addresses beyond ias/oas,
   * EEXIST over an existing leaf, ENOMEM without a page for a table.
   */
  mapPages(
    iova: number,
    paddr: number,
    pgsize: number,
    pgcount: number,
    prot: number,
    mapped: { value: number },
  ): void {
    const fn = "arm_lpae_map_pages";
    const pow2 = pgsize > 0 && 2 ** flsNum(pgsize) === pgsize;
    if (!pow2 || Math.floor(this.pgsizeBitmap / pgsize) % 2 !== 1) {
      throw new SysError("EINVAL", fn, `page size 0x${pgsize.toString(16)}`);
    }
    if (iova >= 2 ** this.ias || paddr >= 2 ** this.oas) {
      throw new SysError("ERANGE", fn, "address beyond the table's reach");
    }
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) throw new SysError("EINVAL", fn, "no access");
    const pte = this.protToPte(prot);
    this.lpaeMap(iova, paddr, pgsize, pgcount, pte, this.startLevel, this.ttbr, mapped);
  }

  /** io-pgtable-arm.c: __arm_lpae_map() */
  private lpaeMap(
    iova: number,
    paddr: number,
    size: number,
    pgcount: number,
    prot: Pte,
    lvl: number,
    table: number,
    mapped: { value: number },
  ): void {
    const fn = "__arm_lpae_map";
    const idx = this.lvlIdx(iova, lvl);
    const ptep = table + idx * 8;
    if (size === this.blockSize(lvl)) {
      const num = Math.min(pgcount, this.maxEntries(idx));
      this.initPte(iova, paddr, prot, lvl, num, ptep, table);
      mapped.value += num * size;
      return;
    }
    if (lvl >= MAX_LEVELS - 1) throw new SysError("EINVAL", fn, "no tables below level 3");
    const pte = this.readPte(ptep, { lo: 0, hi: 0 });
    let next: number;
    if (ArmLpaeS1Pgtable.isZero(pte)) {
      next = this.allocTable(fn);
      // arm_lpae_install_table()
      let lo = (((next % 2 ** 32) >>> 0) & PTE_ADDR.lo) | PTE_TYPE_TABLE;
      let hi = Math.floor(next / 2 ** 32) & PTE_ADDR.hi;
      if (this.quirks & IO_PGTABLE_QUIRK_ARM_NS) {
        lo |= PTE_NSTABLE.lo;
        hi |= PTE_NSTABLE.hi;
      }
      this.writePte(ptep, lo, hi);
    } else if (!ArmLpaeS1Pgtable.isLeaf(pte, lvl)) {
      next = ArmLpaeS1Pgtable.toPaddr(pte);
    } else {
      throw new SysError("EEXIST", fn, `0x${iova.toString(16)} is inside a block`);
    }
    this.lpaeMap(iova, paddr, size, pgcount, prot, lvl + 1, next, mapped);
  }

  /** io-pgtable-arm.c: arm_lpae_init_pte() — leaves, replacing (empty) tables with blocks. */
  private initPte(
    iova: number,
    paddr: number,
    prot: Pte,
    lvl: number,
    num: number,
    ptep: number,
    table: number,
  ): void {
    const fn = "arm_lpae_init_pte";
    const sz = this.blockSize(lvl);
    const cur: Pte = { lo: 0, hi: 0 };
    for (let i = 0; i < num; i++) {
      this.readPte(ptep + i * 8, cur);
      if (ArmLpaeS1Pgtable.isLeaf(cur, lvl)) {
        throw new SysError("EEXIST", fn, `0x${(iova + i * sz).toString(16)} is mapped`);
      }
      if ((cur.lo & 3) === PTE_TYPE_TABLE) {
        // A table in the way of a block: unmap and free it first.
        if (this.lpaeUnmap(null, iova + i * sz, sz, 1, lvl, table) !== sz) {
          throw new SysError("EINVAL", fn, "could not free the table under a block");
        }
      }
    }
    const type = lvl === MAX_LEVELS - 1 ? PTE_TYPE_PAGE : PTE_TYPE_BLOCK;
    for (let i = 0; i < num; i++) {
      const pa = paddr + i * sz;
      const lo = (prot.lo | type | (((pa % 2 ** 32) >>> 0) & PTE_ADDR.lo)) >>> 0;
      const hi = (prot.hi | (Math.floor(pa / 2 ** 32) & PTE_ADDR.hi)) >>> 0;
      this.writePte(ptep + i * 8, lo, hi);
    }
  }

  /**
   * io-pgtable-arm.c: arm_lpae_unmap_pages() — unmaps up to `pgcount` leaves of exactly
   * `pgsize` (0 for a hole or a partial block); the leaves are added to `gather` unless it is
   * queued for a flush queue.
   */
  unmapPages(
    iova: number,
    pgsize: number,
    pgcount: number,
    gather: IommuIotlbGather | null,
  ): number {
    const pow2 = pgsize > 0 && 2 ** flsNum(pgsize) === pgsize;
    if (!pow2 || Math.floor(this.pgsizeBitmap / pgsize) % 2 !== 1 || !pgcount) return 0;
    if (iova >= 2 ** this.ias) return 0;
    return this.lpaeUnmap(gather, iova, pgsize, pgcount, this.startLevel, this.ttbr);
  }

  /** io-pgtable-arm.c: __arm_lpae_unmap() */
  private lpaeUnmap(
    gather: IommuIotlbGather | null,
    iova: number,
    size: number,
    pgcount: number,
    lvl: number,
    table: number,
  ): number {
    if (lvl === MAX_LEVELS) return 0;
    const idx = this.lvlIdx(iova, lvl);
    const ptep = table + idx * 8;
    const pte = this.readPte(ptep, { lo: 0, hi: 0 });
    if (ArmLpaeS1Pgtable.isZero(pte)) return 0;
    if (size === this.blockSize(lvl)) {
      const num = Math.min(pgcount, this.maxEntries(idx));
      let i = 0;
      for (; i < num; i++) {
        this.readPte(ptep + i * 8, pte);
        if (ArmLpaeS1Pgtable.isZero(pte)) break;
        if (!ArmLpaeS1Pgtable.isLeaf(pte, lvl)) {
          this.writePte(ptep + i * 8, 0, 0);
          // Partial walks through the table may be cached.
          this.tlb.tlbFlushWalk(iova + i * size, size, this.granule);
          this.freePgtable(lvl + 1, ArmLpaeS1Pgtable.toPaddr(pte));
        }
      }
      for (let j = 0; j < i; j++) this.writePte(ptep + j * 8, 0, 0);
      if (gather && !gather.queued) {
        for (let j = 0; j < i; j++) this.tlb.tlbAddPage(gather, iova + j * size, size);
      }
      return i * size;
    }
    // "Unmap of a partial large IOPTE is not allowed".
    if (ArmLpaeS1Pgtable.isLeaf(pte, lvl)) return 0;
    return this.lpaeUnmap(gather, iova, size, pgcount, lvl + 1, ArmLpaeS1Pgtable.toPaddr(pte));
  }

  /** io-pgtable-arm.c: __arm_lpae_free_pgtable() */
  private freePgtable(lvl: number, table: number): void {
    if (lvl < MAX_LEVELS - 1) {
      const entries = lvl === this.startLevel ? 2 ** this.pgdBits : this.ptesPerTable;
      const pte: Pte = { lo: 0, hi: 0 };
      for (let i = 0; i < entries; i++) {
        this.readPte(table + i * 8, pte);
        if (ArmLpaeS1Pgtable.isZero(pte) || ArmLpaeS1Pgtable.isLeaf(pte, lvl)) continue;
        this.freePgtable(lvl + 1, ArmLpaeS1Pgtable.toPaddr(pte));
      }
    }
    this.freeTable(table);
  }

  /**
   * io-pgtable-arm.c: arm_lpae_iova_to_phys() — walks the tables in memory; 0 when the
   * address is not mapped.
   */
  iovaToPhys(iova: number): number {
    if (iova < 0 || iova >= 2 ** this.ias) return 0;
    let table = this.ttbr;
    const pte: Pte = { lo: 0, hi: 0 };
    for (let lvl = this.startLevel; lvl < MAX_LEVELS; lvl++) {
      this.readPte(table + this.lvlIdx(iova, lvl) * 8, pte);
      if (ArmLpaeS1Pgtable.isLeaf(pte, lvl)) {
        return ArmLpaeS1Pgtable.toPaddr(pte) + (iova % this.blockSize(lvl));
      }
      if (!ArmLpaeS1Pgtable.isTable(pte, lvl)) return 0;
      table = ArmLpaeS1Pgtable.toPaddr(pte);
    }
    return 0;
  }

  /** The descriptor at each level of the walk for `iova` (arm_lpae_pgtable_walk()), as bigints. */
  pgtableWalk(iova: number): bigint[] {
    const out: bigint[] = [];
    let table = this.ttbr;
    const pte: Pte = { lo: 0, hi: 0 };
    for (let lvl = this.startLevel; lvl < MAX_LEVELS; lvl++) {
      this.readPte(table + this.lvlIdx(iova, lvl) * 8, pte);
      out.push((BigInt(pte.hi) << 32n) | BigInt(pte.lo));
      if (!ArmLpaeS1Pgtable.isTable(pte, lvl)) break;
      table = ArmLpaeS1Pgtable.toPaddr(pte);
    }
    return out;
  }

  /** io-pgtable.c: free_io_pgtable_ops() — flush everything, then free every table. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.tlb.tlbFlushAll();
    this.freePgtable(this.startLevel, this.ttbr);
  }
}
