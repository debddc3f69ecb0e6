/**
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h: the driver's register values, feature and option
 * bits, queue limits and the IRQ-core interface it needs.
 */

import { SMMU_PAGE1, SMMU_V3_REG } from "@vfio-lab/hw-soc";

// ---------------------------------------------------------------------------------------------
// arm-smmu-v3.h

/** `smmu->features` bits. */
export const ARM_SMMU_FEAT = {
  "2_LVL_STRTAB": 1 << 0,
  "2_LVL_CDTAB": 1 << 1,
  TT_LE: 1 << 2,
  TT_BE: 1 << 3,
  PRI: 1 << 4,
  ATS: 1 << 5,
  SEV: 1 << 6,
  MSI: 1 << 7,
  COHERENCY: 1 << 8,
  TRANS_S1: 1 << 9,
  TRANS_S2: 1 << 10,
  STALLS: 1 << 11,
  HYP: 1 << 12,
  STALL_FORCE: 1 << 13,
  VAX: 1 << 14,
  RANGE_INV: 1 << 15,
  BTM: 1 << 16,
  SVA: 1 << 17,
  E2H: 1 << 18,
  NESTING: 1 << 19,
  ATTR_TYPES_OVR: 1 << 20,
  HA: 1 << 21,
  HD: 1 << 22,
  S2FWB: 1 << 23,
  BBML2: 1 << 24,
  HAFT: 1 << 25,
  DS: 1 << 26,
} as const;

/** `smmu->options` bits, with the DT properties that set them (`arm_smmu_options[]`). */
export const ARM_SMMU_OPT_SKIP_PREFETCH = 1 << 0;
export const ARM_SMMU_OPT_PAGE0_REGS_ONLY = 1 << 1;
export const ARM_SMMU_OPTIONS: readonly [number, string][] = [
  [ARM_SMMU_OPT_SKIP_PREFETCH, "hisilicon,broken-prefetch-cmd"],
  [ARM_SMMU_OPT_PAGE0_REGS_ONLY, "cavium,cn9900-broken-page1-regspace"],
];

/** Register offsets within page 0 (the architected map) and page 1. */
export const REG = SMMU_V3_REG;
export const ARM_SMMU_EVTQ_PROD = SMMU_V3_REG.EVENTQ_PROD - SMMU_PAGE1;
export const ARM_SMMU_EVTQ_CONS = SMMU_V3_REG.EVENTQ_CONS - SMMU_PAGE1;
/** ARM_SMMU_REG_SZ: what each page's ioremap covers. */
export const ARM_SMMU_REG_SZ = 0xe00;
export const SZ_64K = 0x10000;
export const SZ_128K = 0x20000;

export const CR0_SMMUEN = 1 << 0;
export const CR0_PRIQEN = 1 << 1;
export const CR0_EVTQEN = 1 << 2;
export const CR0_CMDQEN = 1 << 3;
export const CR0_ATSCHK = 1 << 4;
/** CR1: ISH, write-back tables and queues. */
export const CR1_VALUE = (3 << 10) | (1 << 8) | (1 << 6) | (3 << 4) | (1 << 2) | (1 << 0);
export const CR2_PTM = 1 << 2;
export const CR2_RECINVSID = 1 << 1;
export const CR2_E2H = 1 << 0;
export const GBPA_UPDATE = 0x8000_0000;
export const GBPA_ABORT = 1 << 20;
export const IRQ_CTRL_EVTQ_IRQEN = 1 << 2;
export const IRQ_CTRL_PRIQ_IRQEN = 1 << 1;
export const IRQ_CTRL_GERROR_IRQEN = 1 << 0;
/** GERROR bits. */
export const GERROR_SFM_ERR = 1 << 8;
export const GERROR_MSI_GERROR_ABT_ERR = 1 << 7;
export const GERROR_MSI_PRIQ_ABT_ERR = 1 << 6;
export const GERROR_MSI_EVTQ_ABT_ERR = 1 << 5;
export const GERROR_MSI_CMDQ_ABT_ERR = 1 << 4;
export const GERROR_PRIQ_ABT_ERR = 1 << 3;
export const GERROR_EVTQ_ABT_ERR = 1 << 2;
export const GERROR_CMDQ_ERR = 1 << 0;
export const GERROR_ERR_MASK = 0x1fd;
/** Q_BASE_RWA (bit 62) and STRTAB_BASE_RA (bit 62). */
export const Q_BASE_RWA = 1n << 62n;
export const STRTAB_BASE_RA = 1n << 62n;
/** IDR0 encodings. */
export const IDR0_ST_LVL_2LVL = 1;
export const IDR0_TTENDIAN_MIXED = 0;
export const IDR0_TTENDIAN_LE = 2;
export const IDR0_STALL_MODEL_STALL = 0;
export const IDR0_STALL_MODEL_FORCE = 2;
export const IDR0_TTF_AARCH64 = 2;
export const IDR0_HTTU_ACCESS = 1;
export const IDR0_HTTU_ACCESS_DIRTY = 2;
export const IDR0_HTTU_ACCESS_DIRTY_HAFT = 3;
export const IDR3_RIL = 1 << 10;
export const IDR3_FWB = 1 << 8;
export const IDR5_VAX_52_BIT = 1;
export const IDR5_DS = 1 << 7;
/** Queue limits: Q_MAX_SZ_SHIFT = PAGE_SHIFT + MAX_PAGE_ORDER (no CMA), per entry size. */
export const Q_MAX_SZ_SHIFT = 12 + 10;
export const CMDQ_ENT_SZ_SHIFT = 4;
export const EVTQ_ENT_SZ_SHIFT = 5;
export const CMDQ_MAX_SZ_SHIFT = Q_MAX_SZ_SHIFT - CMDQ_ENT_SZ_SHIFT;
export const EVTQ_MAX_SZ_SHIFT = Q_MAX_SZ_SHIFT - EVTQ_ENT_SZ_SHIFT;
/** CMDQ_BATCH_ENTRIES, as log2. */
export const LOG2_CMDQ_BATCH_ENTRIES = 6;
/** STRTAB_SPLIT */
export const STRTAB_SPLIT = 8;
export const STE_SIZE = 64;
export const CD_SIZE = 64;
/** CTXDESC_LINEAR_CDMAX = ilog2(SZ_64K / sizeof(struct arm_smmu_cd)) */
export const CTXDESC_LINEAR_CDMAX = 10;
/** CMDQ_CONS_ERR and the CERROR indexes. */
export const CMDQ_ERR_CERROR_NONE_IDX = 0;
export const CMDQ_ERR_CERROR_ABT_IDX = 2;
export const CMDQ_ERR_CERROR_ATC_INV_IDX = 3;
export const CERROR_STR = [
  "No error",
  "Illegal command",
  "Abort on command fetch",
  "ATC invalidate timeout",
];
/** The software MSI window every SMMUv3 device reports (MSI_IOVA_BASE, MSI_IOVA_LENGTH). */
export const MSI_IOVA_BASE = 0x800_0000;
export const MSI_IOVA_LENGTH = 0x10_0000;
/** ARM_SMMU_MAX_ASIDS */
export const ARM_SMMU_MAX_ASIDS = 1 << 16;
/** VA_BITS of the oracle kernel (CONFIG_ARM64_VA_BITS=52). */
export const VA_BITS = 52;

// ---------------------------------------------------------------------------------------------
// The IRQ core interface the driver needs

/** include/linux/irqreturn.h (not exported: the IRQ core owns these names). */
export const IRQ_NONE = 0;
export const IRQ_HANDLED = 1;
export const IRQ_WAKE_THREAD = 2;
/** IRQF_ONESHOT: keep the line masked until the threaded handler has run. */
export const IRQF_ONESHOT = 0x0000_2000;

/** `irq_handler_t` */
export type IommuIrqHandler = (irq: number, devId: unknown) => number;

/**
 * The part of the IRQ core (kernel/irq/manage.c) the driver uses, with its signatures: the
 * IRQ core itself can be passed. Failures throw SysError.
 */
export interface IommuIrqRequester {
  /** request_irq() */
  requestIrq(
    virq: number,
    handler: IommuIrqHandler,
    flags: number,
    name: string,
    devId: unknown,
  ): void;
  /** request_threaded_irq() */
  requestThreadedIrq(
    virq: number,
    handler: IommuIrqHandler | null,
    threadFn: IommuIrqHandler | null,
    flags: number,
    name: string,
    devId: unknown,
  ): void;
  /** free_irq() */
  freeIrq(virq: number, devId: unknown): unknown;
}

// ---------------------------------------------------------------------------------------------
