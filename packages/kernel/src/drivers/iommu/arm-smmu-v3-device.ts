/**
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: `struct arm_smmu_device` — one SMMU instance:
 * its hardware probe and reset, queues and Stream table, interrupt handlers, invalidation, and
 * the STE/CD programming of its masters (`struct arm_smmu_master`); and the stage-1 domain
 * (`struct arm_smmu_domain`). The driver (arm-smmu-v3.ts) creates instances at probe.
 */

import {
  ADDRESS_SIZE_BITS,
  type DtNode,
  encodeCommand,
  PAGE_SIZE,
  type PhysicalMemory,
  readField,
  SMMU_IDR0_FIELDS,
  SMMU_IDR1_FIELDS,
  SMMU_IDR5_FIELDS,
} from "@vfio-lab/hw-soc";
import { SysError } from "../../errno.js";
import type { DmaCoherentBuffer } from "../../iommu/dma-mapping.js";
import { dmaBitMask } from "../../iommu/dma-mapping.js";
import { IommuDomain } from "../../iommu/domain.js";
import type { IommuCore } from "../../iommu/iommu.js";
import { type IommuClient, IommuDevice } from "../../iommu/iommu-defs.js";
import { RatelimitState } from "../../iommu/ratelimit.js";
import { type DevLogger, devLogger } from "../../printk/dev-printk.js";
import type { ArmSmmuV3Driver } from "./arm-smmu-v3.js";
import {
  ARM_SMMU_EVTQ_CONS,
  ARM_SMMU_EVTQ_PROD,
  ARM_SMMU_FEAT,
  ARM_SMMU_OPT_SKIP_PREFETCH,
  ARM_SMMU_OPTIONS,
  CD_SIZE,
  CERROR_STR,
  CMDQ_ERR_CERROR_ABT_IDX,
  CMDQ_ERR_CERROR_ATC_INV_IDX,
  CMDQ_ERR_CERROR_NONE_IDX,
  CMDQ_MAX_SZ_SHIFT,
  CR0_ATSCHK,
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_PRIQEN,
  CR0_SMMUEN,
  CR1_VALUE,
  CR2_E2H,
  CR2_PTM,
  CR2_RECINVSID,
  EVTQ_MAX_SZ_SHIFT,
  GBPA_ABORT,
  GBPA_UPDATE,
  GERROR_CMDQ_ERR,
  GERROR_ERR_MASK,
  GERROR_EVTQ_ABT_ERR,
  GERROR_MSI_CMDQ_ABT_ERR,
  GERROR_MSI_EVTQ_ABT_ERR,
  GERROR_MSI_GERROR_ABT_ERR,
  GERROR_MSI_PRIQ_ABT_ERR,
  GERROR_PRIQ_ABT_ERR,
  GERROR_SFM_ERR,
  IDR0_HTTU_ACCESS,
  IDR0_HTTU_ACCESS_DIRTY,
  IDR0_HTTU_ACCESS_DIRTY_HAFT,
  IDR0_ST_LVL_2LVL,
  IDR0_STALL_MODEL_FORCE,
  IDR0_STALL_MODEL_STALL,
  IDR0_TTENDIAN_LE,
  IDR0_TTENDIAN_MIXED,
  IDR0_TTF_AARCH64,
  IDR3_FWB,
  IDR3_RIL,
  IDR5_DS,
  IDR5_VAX_52_BIT,
  IRQ_CTRL_EVTQ_IRQEN,
  IRQ_CTRL_GERROR_IRQEN,
  IRQ_CTRL_PRIQ_IRQEN,
  IRQ_HANDLED,
  IRQ_NONE,
  IRQ_WAKE_THREAD,
  IRQF_ONESHOT,
  LOG2_CMDQ_BATCH_ENTRIES,
  Q_BASE_RWA,
  REG,
  STE_SIZE,
  STRTAB_BASE_RA,
  STRTAB_SPLIT,
} from "./arm-smmu-v3-defs.js";
import {
  armSmmuGetCdUsed,
  armSmmuGetSteUsed,
  armSmmuMakeAbortSte,
  armSmmuWriteEntry,
  bytesToQwords,
  type CdTableConfig,
  type EntryWriter,
  type Qwords,
  qwordToBytes,
  STRTAB_STE_0_S1FMT_LINEAR,
  zeroEntry,
} from "./arm-smmu-v3-entry.js";
import { armSmmuDecodeEvent, armSmmuDumpEvent, armSmmuEventName } from "./arm-smmu-v3-event.js";
import { ArmSmmuCmdq, ArmSmmuQueue, makeCmdSync } from "./arm-smmu-v3-queue.js";
import type { ArmLpaeS1Pgtable } from "./io-pgtable-arm.js";
import type { Iomem } from "./ioremap.js";

/** `struct arm_smmu_stream` set: a master's StreamIDs, sorted. */
export class ArmSmmuMaster {
  streams: number[] = [];
  /** The CD table (`master->cd_table`); null until a stage-1 domain is attached. */
  cdTable: (CdTableConfig & { readonly buf: DmaCoherentBuffer }) | null = null;
  /** The STE currently points at the CD table (`cd_table.in_ste`). */
  cdInSte = false;
  ssidBits = 0;
  stallEnabled = false;
  /** The paging domain the STE translates through, if any. */
  domain: ArmSmmuDomain | null = null;

  constructor(
    readonly dev: IommuClient,
    readonly smmu: ArmSmmuDevice,
  ) {}
}

/** `struct arm_smmu_domain` (stage 1). */
export class ArmSmmuDomain extends IommuDomain {
  smmu: ArmSmmuDevice | null = null;
  readonly stage = "S1";
  asid = 0;
  pgtbl: ArmLpaeS1Pgtable | null = null;
  /** Masters attached (the users of the domain's invalidation entry). */
  users = 0;
  enforceCacheCoherency = false;
}

/** `struct arm_smmu_device`: one SMMU instance. */
export class ArmSmmuDevice {
  readonly dev: IommuClient;
  readonly log: DevLogger;
  features = 0;
  options = 0;
  /** IDR0–IDR5 as read at probe (IOMMU_GET_HW_INFO reports them). */
  readonly idr: number[] = [0, 0, 0, 0, 0, 0];
  iidr = 0;
  aidr = 0;
  asidBits = 8;
  vmidBits = 8;
  sidBits = 0;
  ssidBits = 0;
  oas = 48;
  pgsizeBitmap = 0;
  /** The MMIO mappings of page 0 and page 1. */
  base!: Iomem;
  page1!: Iomem;
  cmdq!: ArmSmmuCmdq;
  evtq!: ArmSmmuQueue;
  gerrIrq = 0;
  combinedIrq = 0;
  /** The linear Stream table. */
  strtab: { buf: DmaCoherentBuffer; numEnts: number } | null = null;
  readonly iommu: IommuDevice;
  /** The SID tree (`smmu->streams`): StreamID → master. */
  readonly streams = new Map<number, ArmSmmuMaster>();
  readonly evtqRs: RatelimitState;
  readonly cmdqRs: RatelimitState;
  private readonly dmaBufs: DmaCoherentBuffer[] = [];
  private readonly irqsRequested: number[] = [];

  constructor(
    readonly driver: ArmSmmuV3Driver,
    dev: IommuClient,
  ) {
    this.dev = dev;
    this.log = devLogger(driver.core.printk, dev);
    this.iommu = new IommuDevice(dev);
    const now = () => driver.core.clock?.now ?? 0;
    this.evtqRs = new RatelimitState(now);
    this.cmdqRs = new RatelimitState(now);
  }

  get core(): IommuCore {
    return this.driver.core;
  }

  get memory(): PhysicalMemory {
    return this.driver.core.allocator.memory;
  }

  /** The master owning StreamID `sid` (arm_smmu_find_master()). */
  findMaster(sid: number): ArmSmmuMaster | undefined {
    return this.streams.get(sid);
  }

  /** The physical address of the STE for `sid` (arm_smmu_get_step_for_sid()). */
  stepForSid(sid: number): number {
    return this.strtab!.buf.physOf(sid * STE_SIZE);
  }

  /** The STE for `sid` as it sits in memory. */
  readSte(sid: number): Qwords {
    const bytes = new Uint8Array(STE_SIZE);
    this.memory.read(this.stepForSid(sid), bytes);
    return bytesToQwords(bytes);
  }

  /** dmam_alloc_coherent() on the SMMU's own device (freed when the device goes). */
  dmamAllocCoherent(size: number): DmaCoherentBuffer {
    const buf = this.core.dma.dmaAllocCoherent(this.dev, size);
    this.dmaBufs.push(buf);
    return buf;
  }

  /** devres release of every DMA buffer and IRQ (probe failure or removal). */
  releaseResources(): void {
    for (const virq of this.irqsRequested.splice(0)) this.driver.irq.freeIrq(virq, this);
    for (const buf of this.dmaBufs.splice(0)) this.core.dma.dmaFreeCoherent(this.dev, buf);
  }

  // -------------------------------------------------------------------------------------------
  // Probe

  /** arm-smmu-v3.c: parse_driver_options() */
  parseDriverOptions(np: DtNode): void {
    for (const [opt, prop] of ARM_SMMU_OPTIONS) {
      if (np.properties.some((p) => p.name === prop)) {
        this.options |= opt;
        this.log.notice(`option ${prop}`);
      }
    }
  }

  /** arm-smmu-v3.c: arm_smmu_device_hw_probe() */
  hwProbe(): void {
    const fn = "arm_smmu_device_hw_probe";
    const coherent = (this.features & ARM_SMMU_FEAT.COHERENCY) !== 0;
    const f = ARM_SMMU_FEAT;
    // IDR0
    let reg = this.base.readl(REG.IDR0);
    this.idr[0] = reg;
    const idr0 = (n: keyof typeof SMMU_IDR0_FIELDS) => readField([reg], SMMU_IDR0_FIELDS[n]);
    if (idr0("ST_LEVEL") === IDR0_ST_LVL_2LVL) this.features |= f["2_LVL_STRTAB"];
    if (idr0("CD2L")) this.features |= f["2_LVL_CDTAB"];
    switch (idr0("TTENDIAN")) {
      case IDR0_TTENDIAN_MIXED:
        this.features |= f.TT_LE | f.TT_BE;
        break;
      case IDR0_TTENDIAN_LE:
        this.features |= f.TT_LE;
        break;
      default:
        this.log.err("unknown/unsupported TT endianness!");
        throw new SysError("ENXIO", fn, "TT endianness");
    }
    // CONFIG_PCI_PRI and CONFIG_PCI_ATS are off in the oracle kernel.
    if (idr0("SEV")) this.features |= f.SEV;
    if (idr0("MSI")) this.features |= f.MSI;
    if (idr0("HYP")) this.features |= f.HYP;
    // arm_smmu_get_httu(): a DT-described SMMU takes the ID register's word.
    switch (idr0("HTTU")) {
      case IDR0_HTTU_ACCESS_DIRTY_HAFT:
        this.features |= f.HAFT | f.HD | f.HA;
        break;
      case IDR0_HTTU_ACCESS_DIRTY:
        this.features |= f.HD | f.HA;
        break;
      case IDR0_HTTU_ACCESS:
        this.features |= f.HA;
        break;
    }
    // The firmware's coherency wins over the ID register, with a warning on mismatch.
    if ((idr0("COHACC") === 1) !== coherent) {
      this.log.warn(`IDR0.COHACC overridden by FW configuration (${coherent})`);
    }
    switch (idr0("STALL_MODEL")) {
      case IDR0_STALL_MODEL_FORCE:
        this.features |= f.STALL_FORCE | f.STALLS;
        break;
      case IDR0_STALL_MODEL_STALL:
        this.features |= f.STALLS;
        break;
    }
    if (idr0("S1P")) this.features |= f.TRANS_S1;
    if (idr0("S2P")) this.features |= f.TRANS_S2;
    if (!idr0("S1P") && !idr0("S2P")) {
      this.log.err("no translation support!");
      throw new SysError("ENXIO", fn, "no translation");
    }
    if (!(idr0("TTF") & IDR0_TTF_AARCH64)) {
      this.log.err("AArch64 table format not supported!");
      throw new SysError("ENXIO", fn, "TTF");
    }
    this.asidBits = idr0("ASID16") ? 16 : 8;
    this.vmidBits = idr0("VMID16") ? 16 : 8;

    // IDR1
    reg = this.base.readl(REG.IDR1);
    this.idr[1] = reg;
    const idr1 = (n: keyof typeof SMMU_IDR1_FIELDS) => readField([reg], SMMU_IDR1_FIELDS[n]);
    if (idr1("TABLES_PRESET") || idr1("QUEUES_PRESET") || idr1("REL")) {
      this.log.err("embedded implementation not supported");
      throw new SysError("ENXIO", fn, "embedded implementation");
    }
    if (idr1("ATTR_TYPES_OVR")) this.features |= f.ATTR_TYPES_OVR;
    // Queue sizes, capped so that the rings stay naturally aligned.
    const cmdqShift = Math.min(CMDQ_MAX_SZ_SHIFT, idr1("CMDQS"));
    if (cmdqShift <= LOG2_CMDQ_BATCH_ENTRIES) {
      this.log.err(`command queue size <= ${2 ** LOG2_CMDQ_BATCH_ENTRIES} entries not supported`);
      throw new SysError("ENXIO", fn, "command queue too small");
    }
    const evtqShift = Math.min(EVTQ_MAX_SZ_SHIFT, idr1("EVENTQS"));
    this.cmdq = new ArmSmmuCmdq(
      new ArmSmmuQueue(16, cmdqShift, REG.CMDQ_PROD, REG.CMDQ_CONS, this.base),
      this.memory,
      this.core.printk,
      this.log,
      this.cmdqRs,
    );
    this.evtq = new ArmSmmuQueue(32, evtqShift, ARM_SMMU_EVTQ_PROD, ARM_SMMU_EVTQ_CONS, this.page1);
    this.ssidBits = idr1("SSIDSIZE");
    this.sidBits = idr1("SIDSIZE");
    this.iommu.maxPasids = 2 ** this.ssidBits;
    // Fewer StreamID bits than one level-2 table covers: a linear table is enough.
    if (this.sidBits <= STRTAB_SPLIT) this.features &= ~f["2_LVL_STRTAB"];

    // IDR3
    reg = this.base.readl(REG.IDR3);
    this.idr[3] = reg;
    this.idr[2] = this.base.readl(REG.IDR2);
    this.idr[4] = this.base.readl(REG.IDR4);
    if (reg & IDR3_RIL) this.features |= f.RANGE_INV;
    if (reg & IDR3_FWB) this.features |= f.S2FWB;
    if (((reg >>> 11) & 3) === 2) this.features |= f.BBML2;

    // IDR5
    reg = this.base.readl(REG.IDR5);
    this.idr[5] = reg;
    const idr5 = (n: keyof typeof SMMU_IDR5_FIELDS) => readField([reg], SMMU_IDR5_FIELDS[n]);
    if (reg & IDR5_DS) this.features |= f.DS;
    let pg = 0;
    if (idr5("GRAN64K")) pg += 2 ** 16 + 2 ** 29;
    if (idr5("GRAN16K")) pg += 2 ** 14 + 2 ** 25;
    if (idr5("GRAN4K")) pg += 2 ** 12 + 2 ** 21 + 2 ** 30;
    if (idr5("VAX") === IDR5_VAX_52_BIT) this.features |= f.VAX;
    const oasCode = idr5("OAS");
    if (oasCode <= 4 || oasCode === 6) {
      this.oas = ADDRESS_SIZE_BITS[oasCode]!;
      if (oasCode === 6) pg += 2 ** 42;
    } else {
      if (oasCode !== 5) this.log.info("unknown output address size. Truncating to 48-bit");
      this.oas = 48;
    }
    this.pgsizeBitmap = pg;
    try {
      this.core.dma.dmaSetMaskAndCoherent(this.dev, dmaBitMask(this.oas));
    } catch {
      this.log.warn("failed to set DMA mask for table walker");
    }
    if (this.features & f.TRANS_S1 && this.features & f.TRANS_S2) this.features |= f.NESTING;
    // arm_smmu_device_iidr_probe(): no errata apply to the model's implementation ID.
    this.iidr = this.base.readl(REG.IIDR);
    this.aidr = this.base.readl(REG.AIDR);
    this.log.info(
      `oas ${this.oas}-bit (features 0x${(this.features >>> 0).toString(16).padStart(8, "0")})`,
    );
  }

  /** arm-smmu-v3.c: arm_smmu_init_one_queue() — halving the ring until memory is found. */
  private initOneQueue(q: ArmSmmuQueue, dwords: number, name: string): void {
    let buf: DmaCoherentBuffer | null = null;
    let qsz: number;
    for (;;) {
      qsz = 2 ** q.maxNShift * dwords * 8;
      try {
        buf = this.dmamAllocCoherent(qsz);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
      }
      if (buf || qsz <= PAGE_SIZE) break;
      q.maxNShift--;
    }
    if (!buf) {
      this.log.err(`failed to allocate queue (0x${qsz.toString(16)} bytes) for ${name}`);
      throw new SysError("ENOMEM", "arm_smmu_init_one_queue", name);
    }
    if (buf.dmaHandle % qsz === 0) {
      this.log.info(`allocated ${2 ** q.maxNShift} entries for ${name}`);
    }
    q.base = buf.dmaHandle;
    q.qBase = Q_BASE_RWA | (BigInt(buf.dmaHandle) & 0x000f_ffff_ffff_ffe0n) | BigInt(q.maxNShift);
    q.prod = 0;
    q.cons = 0;
  }

  /** arm-smmu-v3.c: arm_smmu_init_structures() — queues, then the linear Stream table. */
  initStructures(): void {
    this.initOneQueue(this.cmdq.q, 2, "cmdq");
    this.initOneQueue(this.evtq, 4, "evtq");
    // arm_smmu_init_strtab_linear()
    const numEnts = 2 ** this.sidBits;
    const size = numEnts * STE_SIZE;
    let buf: DmaCoherentBuffer;
    try {
      buf = this.dmamAllocCoherent(size);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      this.log.err(`failed to allocate linear stream table (${size} bytes)`);
      throw new SysError("ENOMEM", "arm_smmu_init_strtab_linear", "stream table");
    }
    this.strtab = { buf, numEnts };
    // arm_smmu_init_initial_stes(): every StreamID aborts (V=1, Config=abort, rest 0); the
    // table is not live yet, so plain stores will do.
    const abort = armSmmuMakeAbortSte();
    const page = new Uint8Array(Math.min(PAGE_SIZE, size));
    const ste = new Uint8Array(STE_SIZE);
    abort.forEach((q, i) => {
      ste.set(qwordToBytes(q), i * 8);
    });
    for (let off = 0; off < page.length; off += STE_SIZE) page.set(ste, off);
    for (let off = 0; off < size; off += page.length) this.memory.write(buf.physOf(off), page);
  }

  /** arm-smmu-v3.c: arm_smmu_write_reg_sync() — write, then poll the ACK register. */
  private writeRegSync(val: number, reg: number, ack: number): boolean {
    this.base.writel(val, reg);
    return this.base.readl(ack) === val >>> 0;
  }

  /** arm-smmu-v3.c: arm_smmu_update_gbpa() */
  private updateGbpa(set: number, clr: number): boolean {
    let reg = this.base.readl(REG.GBPA);
    if (reg & GBPA_UPDATE) return false;
    reg = ((reg & ~clr) | set) >>> 0;
    this.base.writel((reg | GBPA_UPDATE) >>> 0, REG.GBPA);
    if (this.base.readl(REG.GBPA) & GBPA_UPDATE) {
      this.log.err("GBPA not responding to update");
      return false;
    }
    return true;
  }

  /** arm-smmu-v3.c: arm_smmu_device_disable() */
  deviceDisable(): boolean {
    const ok = this.writeRegSync(0, REG.CR0, REG.CR0ACK);
    if (!ok) this.log.err("failed to clear cr0");
    return ok;
  }

  /** arm-smmu-v3.c: arm_smmu_setup_irqs() (with arm_smmu_setup_unique_irqs()). */
  private setupIrqs(): void {
    const fn = "arm_smmu_setup_irqs";
    if (!this.writeRegSync(0, REG.IRQ_CTRL, REG.IRQ_CTRLACK)) {
      this.log.err("failed to disable irqs");
      throw new SysError("ETIMEDOUT", fn, "IRQ_CTRLACK");
    }
    const irq = this.driver.irq;
    const track = (virq: number) => this.irqsRequested.push(virq);
    if (this.combinedIrq) {
      // arm_smmu_combined_irq_handler() then arm_smmu_combined_irq_thread().
      try {
        irq.requestThreadedIrq(
          this.combinedIrq,
          () => {
            this.gerrorHandler();
            return IRQ_WAKE_THREAD;
          },
          () => this.evtqThread(),
          IRQF_ONESHOT,
          "arm-smmu-v3-combined-irq",
          this,
        );
        track(this.combinedIrq);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
        this.log.warn("failed to enable combined irq");
      }
    } else {
      // arm_smmu_setup_msis(): the MSI address registers are cleared whatever IDR0.MSI says.
      this.base.writeq(0n, REG.GERROR_IRQ_CFG0);
      this.base.writeq(0n, REG.EVENTQ_IRQ_CFG0);
      if (this.evtq.irq) {
        try {
          irq.requestThreadedIrq(
            this.evtq.irq,
            null,
            () => this.evtqThread(),
            IRQF_ONESHOT,
            "arm-smmu-v3-evtq",
            this,
          );
          track(this.evtq.irq);
        } catch (e) {
          if (!SysError.isInstance(e)) throw e;
          this.log.warn("failed to enable evtq irq");
        }
      } else {
        this.log.warn("no evtq irq - events will not be reported!");
      }
      if (this.gerrIrq) {
        try {
          irq.requestIrq(this.gerrIrq, () => this.gerrorHandler(), 0, "arm-smmu-v3-gerror", this);
          track(this.gerrIrq);
        } catch (e) {
          if (!SysError.isInstance(e)) throw e;
          this.log.warn("failed to enable gerror irq");
        }
      } else {
        this.log.warn("no gerr irq - errors will not be reported!");
      }
    }
    let irqen = IRQ_CTRL_EVTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN;
    if (this.features & ARM_SMMU_FEAT.PRI) irqen |= IRQ_CTRL_PRIQ_IRQEN;
    if (!this.writeRegSync(irqen, REG.IRQ_CTRL, REG.IRQ_CTRLACK)) {
      this.log.warn("failed to enable irqs");
    }
  }

  /** arm-smmu-v3.c: arm_smmu_write_strtab() */
  private writeStrtab(): void {
    const dma = BigInt(this.strtab!.buf.dmaHandle);
    this.base.writeq((dma & 0x000f_ffff_ffff_ffc0n) | STRTAB_BASE_RA, REG.STRTAB_BASE);
    // FMT = linear, LOG2SIZE = sid_bits.
    this.base.writel(this.sidBits, REG.STRTAB_BASE_CFG);
  }

  /** arm-smmu-v3.c: arm_smmu_device_reset() */
  deviceReset(): void {
    const fn = "arm_smmu_device_reset";
    const fail = (msg: string) => {
      this.log.err(msg);
      return new SysError("ETIMEDOUT", fn, msg);
    };
    if (this.base.readl(REG.CR0) & CR0_SMMUEN) {
      this.log.warn("SMMU currently enabled! Resetting...");
      this.updateGbpa(GBPA_ABORT, 0);
    }
    if (!this.deviceDisable()) throw new SysError("ETIMEDOUT", fn, "CR0");
    this.base.writel(CR1_VALUE, REG.CR1);
    let cr2 = CR2_PTM | CR2_RECINVSID;
    if (this.features & ARM_SMMU_FEAT.E2H) cr2 |= CR2_E2H;
    this.base.writel(cr2, REG.CR2);
    this.writeStrtab();
    const cmdq = this.cmdq.q;
    this.base.writeq(cmdq.qBase, REG.CMDQ_BASE);
    this.base.writel(cmdq.prod, REG.CMDQ_PROD);
    this.base.writel(cmdq.cons, REG.CMDQ_CONS);
    let enables = CR0_CMDQEN;
    if (!this.writeRegSync(enables, REG.CR0, REG.CR0ACK)) {
      throw fail("failed to enable command queue");
    }
    // Invalidate any cached configuration and any stale TLB entries.
    this.cmdq.issueCmd(encodeCommand("CMD_CFGI_STE_RANGE", { Range: 31 }), true);
    if (this.features & ARM_SMMU_FEAT.HYP) {
      this.cmdq.issueCmd(encodeCommand("CMD_TLBI_EL2_ALL"), true);
    }
    this.cmdq.issueCmd(encodeCommand("CMD_TLBI_NSNH_ALL"), true);
    this.base.writeq(this.evtq.qBase, REG.EVENTQ_BASE);
    this.page1.writel(this.evtq.prod, ARM_SMMU_EVTQ_PROD);
    this.page1.writel(this.evtq.cons, ARM_SMMU_EVTQ_CONS);
    enables |= CR0_EVTQEN;
    if (!this.writeRegSync(enables, REG.CR0, REG.CR0ACK)) {
      throw fail("failed to enable event queue");
    }
    if (this.features & ARM_SMMU_FEAT.PRI) enables |= CR0_PRIQEN;
    if (this.features & ARM_SMMU_FEAT.ATS) {
      enables |= CR0_ATSCHK;
      if (!this.writeRegSync(enables, REG.CR0, REG.CR0ACK)) {
        throw fail("failed to enable ATS check");
      }
    }
    try {
      this.setupIrqs();
    } catch (e) {
      this.log.err("failed to setup irqs");
      throw e;
    }
    enables |= CR0_SMMUEN;
    if (!this.writeRegSync(enables, REG.CR0, REG.CR0ACK)) {
      throw fail("failed to enable SMMU interface");
    }
  }

  // -------------------------------------------------------------------------------------------
  // Interrupts

  /**
   * arm-smmu-v3.c: arm_smmu_evtq_thread() — drains the event queue, logging each record
   * (rate-limited) and tracing it as an `iommu:fault`.
   */
  evtqThread(): number {
    const q = this.evtq;
    do {
      for (let ent = q.removeRaw(this.memory); ent; ent = q.removeRaw(this.memory)) {
        const raw = bytesToQwords(ent);
        const evt = armSmmuDecodeEvent(raw, (sid) => this.findMaster(sid)?.dev.name ?? null);
        const trace = this.core.trace;
        if (trace.enabled) {
          trace.emit({
            type: "iommu:fault",
            iommu: this.dev.name,
            event: armSmmuEventName(evt.id),
            sid: evt.sid,
            device: evt.dev,
            iova: Number(evt.iova),
            read: evt.read,
          });
        }
        // arm_smmu_handle_event(): without stalls or a vSMMU nothing consumes an event.
        if (this.evtqRs.ratelimit(this.core.printk, "arm_smmu_dump_event")) {
          for (const line of armSmmuDumpEvent(raw, evt)) this.log.err(line);
        }
      }
      if (!q.syncProdIn()) this.log.err("EVTQ overflow detected -- events lost");
    } while (!q.empty());
    q.syncConsOvf();
    return IRQ_HANDLED;
  }

  /** arm-smmu-v3.c: arm_smmu_gerror_handler() */
  gerrorHandler(): number {
    const gerror = this.base.readl(REG.GERROR);
    const gerrorn = this.base.readl(REG.GERRORN);
    const active = (gerror ^ gerrorn) >>> 0;
    if (!(active & GERROR_ERR_MASK)) return IRQ_NONE;
    this.log.warn(
      `unexpected global error reported (0x${active.toString(16).padStart(8, "0")}), this could be serious`,
    );
    if (active & GERROR_SFM_ERR) {
      this.log.err("device has entered Service Failure Mode!");
      this.deviceDisable();
    }
    if (active & GERROR_MSI_GERROR_ABT_ERR) this.log.warn("GERROR MSI write aborted");
    if (active & GERROR_MSI_PRIQ_ABT_ERR) this.log.warn("PRIQ MSI write aborted");
    if (active & GERROR_MSI_EVTQ_ABT_ERR) this.log.warn("EVTQ MSI write aborted");
    if (active & GERROR_MSI_CMDQ_ABT_ERR) this.log.warn("CMDQ MSI write aborted");
    if (active & GERROR_PRIQ_ABT_ERR) {
      this.log.err("PRIQ write aborted -- events may have been lost");
    }
    if (active & GERROR_EVTQ_ABT_ERR) {
      this.log.err("EVTQ write aborted -- events may have been lost");
    }
    if (active & GERROR_CMDQ_ERR) this.cmdqSkipErr();
    this.base.writel(gerror, REG.GERRORN);
    return IRQ_HANDLED;
  }

  /** arm-smmu-v3.c: __arm_smmu_cmdq_skip_err() — an illegal command becomes a CMD_SYNC. */
  private cmdqSkipErr(): void {
    const q = this.cmdq.q;
    const cons = this.base.readl(REG.CMDQ_CONS);
    const idx = (cons >>> 24) & 0x7f;
    this.log.err(
      `CMDQ error (cons 0x${cons.toString(16).padStart(8, "0")}): ${CERROR_STR[idx] ?? "Unknown"}`,
    );
    switch (idx) {
      case CMDQ_ERR_CERROR_ABT_IDX:
        this.log.err("retrying command fetch");
        return;
      case CMDQ_ERR_CERROR_NONE_IDX:
      case CMDQ_ERR_CERROR_ATC_INV_IDX:
        return;
      default:
      // CMDQ_ERR_CERROR_ILL_IDX and anything unknown: skip the command.
    }
    const cmd = new Uint8Array(16);
    this.memory.read(q.entAddr(cons), cmd);
    this.log.err("skipping command in error state:");
    for (const w of bytesToQwords(cmd)) this.log.err(`\t0x${w.toString(16).padStart(16, "0")}`);
    this.memory.write(q.entAddr(cons), makeCmdSync());
  }

  // -------------------------------------------------------------------------------------------
  // Invalidation

  /** arm-smmu-v3.c: arm_smmu_inv_size_too_big() */
  private invSizeTooBig(size: number, granule: number): boolean {
    if (!size) return true;
    if (this.features & ARM_SMMU_FEAT.RANGE_INV) return false;
    const maxTlbiOps = 2 ** (Math.log2(granule) - 3);
    return size >= maxTlbiOps * granule;
  }

  /**
   * arm-smmu-v3.c: arm_smmu_domain_inv_range() — TLBI_NH_VA per granule (leaf or not) or one
   * TLBI_NH_ASID for a large range, then CMD_SYNC; nothing for a domain no master uses.
   */
  domainInvRange(
    domain: ArmSmmuDomain,
    iova: number,
    size: number,
    granule: number,
    leaf: boolean,
  ): void {
    if (domain.users === 0) return;
    const batch = this.cmdq.batch();
    if (this.invSizeTooBig(size, granule)) {
      batch.add(encodeCommand("CMD_TLBI_NH_ASID", { ASID: domain.asid, VMID: 0 }));
    } else {
      for (let a = iova; a < iova + size; a += granule) {
        batch.add(
          encodeCommand("CMD_TLBI_NH_VA", {
            ASID: domain.asid,
            VMID: 0,
            Leaf: leaf,
            Address: a - (a % 4096),
          }),
        );
      }
    }
    batch.submit();
  }

  // -------------------------------------------------------------------------------------------
  // Masters and their STE / CD

  private steWriter(sid: number): EntryWriter {
    const at = this.stepForSid(sid);
    return {
      getUsed: armSmmuGetSteUsed,
      writeQword: (i, v) => this.memory.write(at + i * 8, qwordToBytes(v)),
      sync: () => {
        this.cmdq.issueCmd(encodeCommand("CMD_CFGI_STE", { StreamID: sid, Leaf: 1 }), true);
      },
    };
  }

  /** arm-smmu-v3.c: arm_smmu_write_ste() — then a prefetch of the new configuration. */
  private writeSte(sid: number, target: Qwords): void {
    armSmmuWriteEntry(this.steWriter(sid), this.readSte(sid), target);
    if (!(this.options & ARM_SMMU_OPT_SKIP_PREFETCH)) {
      this.cmdq.issueCmd(encodeCommand("CMD_PREFETCH_CONFIG", { StreamID: sid }), false);
    }
  }

  /** arm-smmu-v3.c: arm_smmu_install_ste_for_dev() — every StreamID of the master, once. */
  installSteForDev(master: ArmSmmuMaster, target: Qwords): void {
    master.cdInSte = Number((target[0]! >> 1n) & 7n) === 0b101;
    const seen = new Set<number>();
    for (const sid of master.streams) {
      if (seen.has(sid)) continue;
      seen.add(sid);
      this.writeSte(sid, target);
    }
  }

  /** arm-smmu-v3.c: arm_smmu_sync_cd() — CFGI_CD for every StreamID, then CMD_SYNC. */
  private syncCd(master: ArmSmmuMaster, ssid: number, leaf: boolean): void {
    const batch = this.cmdq.batch();
    for (const sid of master.streams) {
      batch.add(encodeCommand("CMD_CFGI_CD", { StreamID: sid, SubstreamID: ssid, Leaf: leaf }));
    }
    batch.submit();
  }

  /** arm-smmu-v3.c: arm_smmu_alloc_cd_tables() — a linear table of 2^s1cdmax CDs. */
  private allocCdTables(master: ArmSmmuMaster): void {
    const s1cdmax = master.ssidBits;
    const buf = this.core.dma.dmaAllocCoherent(this.dev, 2 ** s1cdmax * CD_SIZE);
    master.cdTable = { s1fmt: STRTAB_STE_0_S1FMT_LINEAR, s1cdmax, cdtabDma: buf.dmaHandle, buf };
  }

  /** arm-smmu-v3.c: arm_smmu_free_cd_tables() */
  freeCdTables(master: ArmSmmuMaster): void {
    if (!master.cdTable) return;
    this.core.dma.dmaFreeCoherent(this.dev, master.cdTable.buf);
    master.cdTable = null;
  }

  /** arm-smmu-v3.c: arm_smmu_alloc_cd_ptr() — the CD of the default substream. */
  allocCdPtr(master: ArmSmmuMaster): number {
    if (!master.cdTable) {
      try {
        this.allocCdTables(master);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
        throw new SysError("ENOMEM", "arm_smmu_attach_dev", "no memory for the CD table");
      }
    }
    return master.cdTable!.cdtabDma;
  }

  /** arm-smmu-v3.c: arm_smmu_write_cd_entry() for the default substream. */
  writeCdEntry(master: ArmSmmuMaster, target: Qwords): void {
    const at = master.cdTable!.cdtabDma;
    const bytes = new Uint8Array(CD_SIZE);
    this.memory.read(at, bytes);
    armSmmuWriteEntry(
      {
        getUsed: armSmmuGetCdUsed,
        writeQword: (i, v) => this.memory.write(at + i * 8, qwordToBytes(v)),
        sync: () => this.syncCd(master, 0, true),
      },
      bytesToQwords(bytes),
      target,
    );
  }

  /** arm-smmu-v3.c: arm_smmu_clear_cd() */
  clearCd(master: ArmSmmuMaster): void {
    if (!master.cdTable) return;
    this.writeCdEntry(master, zeroEntry());
  }

  /** arm-smmu-v3.c: arm_smmu_insert_master() — its StreamIDs into the SID tree. */
  insertMaster(master: ArmSmmuMaster): void {
    const fwspec = this.core.devIommuFwspecGet(master.dev)!;
    master.streams = [...fwspec.ids].sort((a, b) => a - b);
    const inserted: number[] = [];
    try {
      for (const sid of master.streams) {
        // arm_smmu_init_sid_strtab(): in range of the SMMU and of our (linear) table.
        if (!(sid < this.strtab!.numEnts)) {
          throw new SysError(
            "ERANGE",
            "arm_smmu_init_sid_strtab",
            `StreamID 0x${sid.toString(16)}`,
          );
        }
        const existing = this.streams.get(sid);
        if (existing) {
          // Bridged PCI devices may repeat an ID; anything else is an alias.
          if (existing === master) continue;
          devLogger(this.core.printk, master.dev).warn(
            `Aliasing StreamID 0x${sid.toString(16)} (from ${existing.dev.name}) unsupported, expect DMA to be broken`,
          );
          throw new SysError("ENODEV", "arm_smmu_insert_master", "aliasing StreamID");
        }
        this.streams.set(sid, master);
        inserted.push(sid);
      }
    } catch (e) {
      for (const sid of inserted) this.streams.delete(sid);
      master.streams = [];
      throw e;
    }
  }

  /** arm-smmu-v3.c: arm_smmu_remove_master() */
  removeMaster(master: ArmSmmuMaster): void {
    for (const sid of master.streams) {
      if (this.streams.get(sid) === master) this.streams.delete(sid);
    }
    master.streams = [];
  }
}
