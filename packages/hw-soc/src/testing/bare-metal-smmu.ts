/**
 * Bare-metal SMMUv3 programming for tests, benchmarks and demos of the hardware alone: the
 * register sequence of Linux's `arm_smmu_device_reset()`, a linear stream table, one stage-1
 * context per stream and 4 KiB-granule page tables built in simulated RAM the way io-pgtable-arm
 * lays them out, and invalidation by command queue with CMD_SYNC.
 *
 * This is firmware-level code, not the kernel's driver (that lives in `@vfio-lab/kernel`): it
 * takes a RAM pool and writes everything there, so what the SMMU walks is exactly what a driver
 * would have written.
 */

import type { SystemBus } from "../core/system-bus.js";
import {
  SMMU_CR0_CMDQEN,
  SMMU_CR0_EVENTQEN,
  SMMU_CR0_SMMUEN,
  SMMU_CR2_PTM,
  SMMU_CR2_RECINVSID,
  SMMU_IRQ_CTRL_EVENTQ_IRQEN,
  SMMU_IRQ_CTRL_GERROR_IRQEN,
  SMMU_QUEUE_BASE_HI_RWA,
  SMMU_STRTAB_BASE_HI_RA,
  SMMU_V3_REG,
  type SmmuV3RegisterName,
} from "../devices/smmu-v3.js";
import {
  decodeDescriptor,
  decodeEvent,
  EVENT_SIZE,
  encodeCd,
  encodeCommand,
  encodePageDescriptor,
  encodeSte,
  encodeTableDescriptor,
  LEVEL_SHIFT,
  type LeafAttributes,
  STE_CONFIG_BYPASS,
  STE_CONFIG_S1_TRANS,
} from "../devices/smmu-v3-tables.js";

const PAGE = 4096;
const CMDQ_LOG2 = 8;
const EVTQ_LOG2 = 7;
const STRTAB_LOG2 = 8;

/** The layout of the RAM pool, from its base. */
const POOL = {
  strtab: 0x0000, // 256 STEs × 64 B = 16 KiB
  cmdq: 0x4000, // 256 × 16 B
  evtq: 0x5000, // 128 × 32 B
  cds: 0x6000, // one CD per stream: 256 × 64 B
  tables: 0xa000, // page tables from here on
} as const;

/** Minimum pool size for the fixed structures; page tables need 4 KiB each beyond that. */
export const BARE_METAL_SMMU_MIN_POOL = POOL.tables + 64 * PAGE;

export interface BareMetalSmmuOptions {
  /** RAM physical address of a pool the helper may use (4 KiB aligned). */
  readonly pool: number;
  readonly poolSize: number;
}

/** Stage-1 page tables for one address space (ASID), 48-bit input, 4 KiB granule. */
export class Stage1Tables {
  readonly root: number;

  constructor(
    private readonly owner: BareMetalSmmu,
    readonly asid: number,
  ) {
    this.root = owner.allocTable();
  }

  /** Maps one 4 KiB page, read/write (AP = 0b00) with the access flag set. */
  mapPage(iova: number, pa: number, attrs: LeafAttributes = { AF: 1 }): void {
    this.owner.bus.writeBytes(
      this.slot(this.tableFor(iova), iova, 3),
      encodePageDescriptor(pa, attrs),
    );
  }

  /** Maps `length` bytes page by page (both addresses 4 KiB aligned). */
  map(iova: number, pa: number, length: number, attrs: LeafAttributes = { AF: 1 }): void {
    for (let off = 0; off < length; off += PAGE) this.mapPage(iova + off, pa + off, attrs);
  }

  /** Clears the leaf descriptors of `length` bytes; the caller invalidates the IOTLB. */
  unmap(iova: number, length: number): void {
    for (let off = 0; off < length; off += PAGE) {
      this.owner.bus.writeBytes(
        this.slot(this.tableFor(iova + off), iova + off, 3),
        new Uint8Array(8),
      );
    }
  }

  private slot(table: number, iova: number, level: number): number {
    return table + (Math.floor(iova / 2 ** LEVEL_SHIFT[level]!) % 512) * 8;
  }

  /** The level-3 table for `iova`, creating intermediate tables on the way down. */
  private tableFor(iova: number): number {
    let table = this.root;
    for (let level = 0; level < 3; level++) {
      const at = this.slot(table, iova, level);
      const d = decodeDescriptor(this.owner.bus.readBytes(at, 8), level as 0 | 1 | 2);
      if (d.kind === "table") {
        table = d.NextLevelTable;
      } else {
        const fresh = this.owner.allocTable();
        this.owner.bus.writeBytes(at, encodeTableDescriptor(fresh));
        table = fresh;
      }
    }
    return table;
  }
}

export class BareMetalSmmu {
  private nextTable: number;
  private readonly poolEnd: number;
  private cmdProd = 0;
  private evtCons = 0;

  constructor(
    readonly bus: SystemBus,
    /** Physical base of the SMMU's register window. */
    readonly base: number,
    options: BareMetalSmmuOptions,
  ) {
    if (options.pool % PAGE !== 0 || options.poolSize < BARE_METAL_SMMU_MIN_POOL) {
      throw new RangeError(
        `BareMetalSmmu: the pool must be 4 KiB aligned and at least ${BARE_METAL_SMMU_MIN_POOL} bytes`,
      );
    }
    this.pool = options.pool;
    this.nextTable = options.pool + POOL.tables;
    this.poolEnd = options.pool + options.poolSize;
  }

  private readonly pool: number;

  private rd(reg: SmmuV3RegisterName): number {
    return this.bus.read(this.base + SMMU_V3_REG[reg], 4);
  }

  private wr(reg: SmmuV3RegisterName, value: number): void {
    this.bus.write(this.base + SMMU_V3_REG[reg], 4, value >>> 0);
  }

  private wr64(reg: SmmuV3RegisterName, value: number, hiFlags = 0): void {
    this.bus.write(this.base + SMMU_V3_REG[reg], 4, value % 2 ** 32);
    this.bus.write(
      this.base + SMMU_V3_REG[reg] + 4,
      4,
      (Math.floor(value / 2 ** 32) | hiFlags) >>> 0,
    );
  }

  private cr0(value: number): void {
    this.wr("CR0", value);
    if (this.rd("CR0ACK") !== value) throw new Error("SMMU did not acknowledge CR0");
  }

  /** `arm_smmu_device_reset()` for a linear stream table: every stream aborts until configured. */
  reset(): this {
    this.bus.writeBytes(this.pool, new Uint8Array(POOL.tables));
    this.cr0(0);
    this.wr("CR1", 0xd75);
    this.wr("CR2", SMMU_CR2_PTM | SMMU_CR2_RECINVSID);
    this.wr64("STRTAB_BASE", this.pool + POOL.strtab, SMMU_STRTAB_BASE_HI_RA);
    this.wr("STRTAB_BASE_CFG", STRTAB_LOG2);
    this.wr64("CMDQ_BASE", this.pool + POOL.cmdq + CMDQ_LOG2, SMMU_QUEUE_BASE_HI_RWA);
    this.wr("CMDQ_PROD", 0);
    this.wr("CMDQ_CONS", 0);
    this.cmdProd = 0;
    this.cr0(SMMU_CR0_CMDQEN);
    this.command(encodeCommand("CMD_CFGI_STE_RANGE", { Range: 31 }));
    this.command(encodeCommand("CMD_TLBI_NSNH_ALL"));
    this.wr64("EVENTQ_BASE", this.pool + POOL.evtq + EVTQ_LOG2, SMMU_QUEUE_BASE_HI_RWA);
    this.wr("EVENTQ_PROD", 0);
    this.wr("EVENTQ_CONS", 0);
    this.evtCons = 0;
    this.cr0(SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN);
    this.wr("IRQ_CTRL", SMMU_IRQ_CTRL_GERROR_IRQEN | SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    this.cr0(SMMU_CR0_CMDQEN | SMMU_CR0_EVENTQEN | SMMU_CR0_SMMUEN);
    return this;
  }

  /** A 4 KiB zeroed page-table page from the pool. */
  allocTable(): number {
    if (this.nextTable + PAGE > this.poolEnd)
      throw new RangeError("BareMetalSmmu: page-table pool exhausted");
    const t = this.nextTable;
    this.nextTable += PAGE;
    this.bus.writeBytes(t, new Uint8Array(PAGE));
    return t;
  }

  /** Gives stream `sid` a stage-1 context (ASID `asid`) and returns its page tables. */
  translate(sid: number, asid: number): Stage1Tables {
    this.checkSid(sid);
    const tables = new Stage1Tables(this, asid);
    const cd = this.pool + POOL.cds + sid * 64;
    this.bus.writeBytes(
      cd,
      encodeCd({
        T0SZ: 16,
        TG0: 0,
        EPD1: 1,
        V: 1,
        IPS: 5,
        AA64: 1,
        R: 1,
        A: 1,
        ASET: 1,
        ASID: asid,
        TTB0: tables.root,
      }),
    );
    this.writeSte(sid, encodeSte({ V: 1, Config: STE_CONFIG_S1_TRANS, S1ContextPtr: cd }));
    return tables;
  }

  /** Lets stream `sid` through untranslated. */
  bypass(sid: number): void {
    this.checkSid(sid);
    this.writeSte(sid, encodeSte({ V: 1, Config: STE_CONFIG_BYPASS }));
  }

  /** Drops the IOTLB entries of one page (TLBI_NH_VA + CMD_SYNC). */
  invalidatePage(asid: number, iova: number): void {
    this.command(encodeCommand("CMD_TLBI_NH_VA", { ASID: asid, Address: iova }));
  }

  /** Drops every IOTLB entry of an ASID (TLBI_NH_ASID + CMD_SYNC). */
  invalidateAsid(asid: number): void {
    this.command(encodeCommand("CMD_TLBI_NH_ASID", { ASID: asid }));
  }

  /** Event records not yet consumed, decoded; consumes them (moves EVENTQ_CONS). */
  drainEvents(): ReturnType<typeof decodeEvent>[] {
    const size = 2 ** EVTQ_LOG2;
    const mask = 2 * size - 1;
    const prod = this.rd("EVENTQ_PROD") & mask;
    const out: ReturnType<typeof decodeEvent>[] = [];
    while ((this.evtCons & mask) !== prod) {
      const at = this.pool + POOL.evtq + (this.evtCons & (size - 1)) * EVENT_SIZE;
      out.push(decodeEvent(this.bus.readBytes(at, EVENT_SIZE)));
      this.evtCons = (this.evtCons + 1) & mask;
    }
    this.wr("EVENTQ_CONS", this.evtCons);
    return out;
  }

  private writeSte(sid: number, ste: Uint8Array): void {
    this.bus.writeBytes(this.pool + POOL.strtab + sid * 64, ste);
    this.command(encodeCommand("CMD_CFGI_STE", { StreamID: sid, Leaf: 1 }));
  }

  private checkSid(sid: number): void {
    if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** STRTAB_LOG2) {
      throw new RangeError(
        `BareMetalSmmu: stream ID ${sid} is outside the ${2 ** STRTAB_LOG2}-entry table`,
      );
    }
  }

  /** Queues one command plus CMD_SYNC and checks the SMMU consumed both. */
  private command(cmd: Uint8Array): void {
    const size = 2 ** CMDQ_LOG2;
    for (const c of [cmd, encodeCommand("CMD_SYNC")]) {
      this.bus.writeBytes(this.pool + POOL.cmdq + (this.cmdProd & (size - 1)) * 16, c);
      this.cmdProd = (this.cmdProd + 1) & (2 * size - 1);
    }
    this.wr("CMDQ_PROD", this.cmdProd);
    if (this.rd("CMDQ_CONS") !== this.cmdProd)
      throw new Error("SMMU command queue stalled (see GERROR)");
  }
}
