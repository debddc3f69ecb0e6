/**
 * Arm System MMU v3 (Arm IHI 0070, "SMMU architecture version 3"), the subset a stage-1 Linux
 * driver (drivers/iommu/arm/arm-smmu-v3/) programs: a linear Stream table, one Context
 * Descriptor per stream, VMSAv8-64 stage-1 translation with a 4 KiB granule, an IOTLB and a
 * configuration cache that keep stale entries until invalidated by command, and the Command and
 * Event queues in memory. Register values and behaviour follow the architecture; where QEMU's
 * model (hw/arm/smmuv3.c, smmu-common.c) makes a different permitted choice it is noted.
 *
 * MMIO: one 128 KiB window. Page 0 (+0x00000) holds the control registers and the ID block at
 * 0xFD0–0xFFC (QEMU's "MMU-600" identification); page 1 (+0x10000) holds EVENTQ_PROD/CONS at
 * 0xA8/0xAC, which this model also aliases at page 0 (the architecture makes the alias optional,
 * §6.2.1; QEMU aliases the whole of page 1).
 * IRQ outputs, all edge-triggered and pulsed, named by the device tree's `interrupt-names`:
 * "eventq", "priq" (never pulsed: no PRI), "cmdq-sync", "gerror", or a single "combined".
 *
 * Every structure is read from simulated memory through the bus at the moment the hardware
 * would fetch it: the STE and CD on a configuration-cache miss, descriptors on an IOTLB miss,
 * commands when CMDQ_PROD moves. Nothing the driver keeps in JS is ever consulted.
 *
 * Caveat:
 * - Stage 1 only (IDR0.S2P = 0): STE.Config stage-2/nested is C_BAD_STE. No substreams
 *   (SSIDSIZE = 0, S1CDMax must be 0), no ATS, PRI, stalls (STALL_MODEL = 0b01), HTTU, MSIs,
 *   VATOS, Secure state or EL2 stream worlds (HYP = 0, so CMD_TLBI_EL2_* are CERROR_ILL).
 * - Linear Stream table only (ST_LEVEL = 0); FMT = 2-level is refused.
 * - 4 KiB granule only (GRAN4K), 48-bit OAS, no 52-bit VA; TTB1 is validated but never walked:
 *   its region starts above 2^53, beyond any IOVA a JS number carries.
 * - Every transaction is a privileged data access (PnU = 1, InD = 0): AP[1] and the XN bits are
 *   not checked (QEMU does the same); nG is ignored (all entries are ASID-tagged); APTable[1] is
 *   honoured, the other hierarchical attributes are not.
 * - Commands are consumed synchronously when software writes CMDQ_PROD (or sets CMDQEN, or
 *   acknowledges CMDQ_ERR), so a CMD_SYNC has completed by the time the write returns: CONS has
 *   advanced past it. CMD_SYNC's MSI fields are ignored (IDR0.MSI = 0).
 * - Range invalidation (IDR3.RIL = 0) and TLBI level hints are not implemented; the IOTLB holds
 *   leaf entries only (no walk caches), so TLBI Leaf makes no difference.
 * - The IOTLB is flushed whole when it reaches its capacity (a TLB may evict at any time).
 * - Fault priority follows the ARM ARM: an output Address Size fault is taken before Access flag
 *   and Permission faults (QEMU checks it last).
 * - Guarded registers (*_BASE, CMDQ_CONS, EVENTQ_PROD) written while their enable is set are
 *   ignored with a guest error; the architecture leaves that CONSTRAINED UNPREDICTABLE.
 */

import { BusError } from "../core/bus-error.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import type { Iommu } from "../core/dma-port.js";
import type { IrqLine } from "../core/irq-line.js";
import { PAGE_SIZE } from "../core/physical-memory.js";
import {
  type PrimeCellIdName,
  primeCellIdRegisters,
  RegisterMap,
  type RegisterSpec,
} from "../core/registers.js";
import type { SystemBus } from "../core/system-bus.js";
import type { DtNode } from "../devicetree/tree.js";
import { type AsidTlb, Iotlb, TlbEntry } from "./smmu-v3-iotlb.js";
import { SmmuQueue } from "./smmu-v3-queue.js";
import {
  ADDRESS_SIZE_BITS,
  CD_FIELDS,
  CD_SIZE,
  CD_TG0_4K,
  CD_TG1_4K,
  CMD_SYNC_CS_IRQ,
  CMD_SYNC_CS_NONE,
  CMD_SYNC_CS_SEV,
  CMDQ_OP,
  COMMAND_FIELDS,
  COMMAND_FORMATS,
  COMMAND_SIZE,
  commandName,
  defineFields,
  EVENT_CLASS_IN,
  EVENT_CLASS_TT,
  EVENT_SIZE,
  encodeEvent,
  encodeFields,
  type FieldTable,
  type FieldValues,
  LEAF_DESCRIPTOR_FIELDS,
  LEVEL_SHIFT,
  readField,
  type SmmuEventName,
  STE_CONFIG_ABORT,
  STE_CONFIG_BYPASS,
  STE_CONFIG_S1_TRANS,
  STE_FIELDS,
  STE_SIZE,
  TABLE_DESCRIPTOR_FIELDS,
} from "./smmu-v3-tables.js";

// ---------------------------------------------------------------------------------------------
// Register fields (§6.3)

export const SMMU_IDR0_FIELDS = defineFields({
  S2P: [0, 1],
  S1P: [1, 1],
  TTF: [2, 2],
  COHACC: [4, 1],
  BTM: [5, 1],
  HTTU: [6, 2],
  DORMHINT: [8, 1],
  HYP: [9, 1],
  ATS: [10, 1],
  NS1ATS: [11, 1],
  ASID16: [12, 1],
  MSI: [13, 1],
  SEV: [14, 1],
  ATOS: [15, 1],
  PRI: [16, 1],
  VMW: [17, 1],
  VMID16: [18, 1],
  CD2L: [19, 1],
  VATOS: [20, 1],
  TTENDIAN: [21, 2],
  STALL_MODEL: [24, 2],
  TERM_MODEL: [26, 1],
  ST_LEVEL: [27, 2],
});

export const SMMU_IDR1_FIELDS = defineFields({
  SIDSIZE: [0, 6],
  SSIDSIZE: [6, 5],
  PRIQS: [11, 5],
  EVENTQS: [16, 5],
  CMDQS: [21, 5],
  ATTR_PERMS_OVR: [26, 1],
  ATTR_TYPES_OVR: [27, 1],
  REL: [28, 1],
  QUEUES_PRESET: [29, 1],
  TABLES_PRESET: [30, 1],
});

export const SMMU_IDR5_FIELDS = defineFields({
  OAS: [0, 3],
  GRAN4K: [4, 1],
  GRAN16K: [5, 1],
  GRAN64K: [6, 1],
  VAX: [10, 2],
  STALL_MAX: [16, 16],
});

export const SMMU_CR0_SMMUEN = 1 << 0;
export const SMMU_CR0_PRIQEN = 1 << 1;
export const SMMU_CR0_EVENTQEN = 1 << 2;
export const SMMU_CR0_CMDQEN = 1 << 3;
export const SMMU_CR0_ATSCHK = 1 << 4;
const CR0_IMPLEMENTED = SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN | SMMU_CR0_CMDQEN;

/** CR1: table and queue cacheability/shareability, [11:0]; accepted and otherwise unused. */
const CR1_IMPLEMENTED = 0xfff;
export const SMMU_CR2_E2H = 1 << 0;
export const SMMU_CR2_RECINVSID = 1 << 1;
export const SMMU_CR2_PTM = 1 << 2;
const CR2_IMPLEMENTED = SMMU_CR2_RECINVSID | SMMU_CR2_PTM;

export const SMMU_GBPA_UPDATE = 0x8000_0000;
export const SMMU_GBPA_ABORT = 1 << 20;
/** ABORT, INSTCFG, PRIVCFG, SHCFG, ALLOCCFG, MTCFG, MemAttr. */
const GBPA_FIELDS_MASK = 0x001f_3f1f;
/** SHCFG = 0b01 "use incoming", as QEMU resets it; the architecture leaves it IMPLEMENTATION DEFINED. */
const GBPA_RESET = 0x0000_1000;

export const SMMU_IRQ_CTRL_GERROR_IRQEN = 1 << 0;
export const SMMU_IRQ_CTRL_PRIQ_IRQEN = 1 << 1;
export const SMMU_IRQ_CTRL_EVENTQ_IRQEN = 1 << 2;
const IRQ_CTRL_IMPLEMENTED = SMMU_IRQ_CTRL_GERROR_IRQEN | SMMU_IRQ_CTRL_EVENTQ_IRQEN;

export const SMMU_GERROR_CMDQ_ERR = 1 << 0;
export const SMMU_GERROR_EVENTQ_ABT_ERR = 1 << 2;
export const SMMU_GERROR_PRIQ_ABT_ERR = 1 << 3;
export const SMMU_GERROR_MSI_CMDQ_ABT_ERR = 1 << 4;
export const SMMU_GERROR_MSI_EVENTQ_ABT_ERR = 1 << 5;
export const SMMU_GERROR_MSI_PRIQ_ABT_ERR = 1 << 6;
export const SMMU_GERROR_MSI_GERROR_ABT_ERR = 1 << 7;
export const SMMU_GERROR_SFM_ERR = 1 << 8;
const GERROR_DEFINED = 0x1fd;

/** STRTAB_BASE: ADDR [51:6] and RA (bit 62), as two 32-bit halves. */
const STRTAB_BASE_LO_MASK = 0xffff_ffc0;
const STRTAB_BASE_HI_MASK = 0x400f_ffff;
/** STRTAB_BASE.RA (bit 62) as a bit of the upper 32-bit half: 2^62 + an address is not exact. */
export const SMMU_STRTAB_BASE_HI_RA = 1 << 30;
export const SMMU_STRTAB_BASE_CFG_FIELDS = defineFields({
  LOG2SIZE: [0, 6],
  SPLIT: [6, 5],
  FMT: [16, 2],
});
const STRTAB_BASE_CFG_MASK = 0x0003_07ff;
export const SMMU_STRTAB_BASE_CFG_FMT_LINEAR = 0;
export const SMMU_STRTAB_BASE_CFG_FMT_2LVL = 1;

/** Queue BASE: RA/WA (bit 62, here as a bit of the upper half), ADDR [51:5], LOG2SIZE [4:0]. */
export const SMMU_QUEUE_BASE_HI_RWA = 1 << 30;
/** Queue PROD/CONS: WR/RD index plus wrap bit in [19:0]. */
const QUEUE_POINTER_MASK = 0x000f_ffff;
/** CMDQ_CONS.ERR [30:24]: why the command at CONS was refused. */
export const SMMU_CMDQ_CONS_ERR_SHIFT = 24;
const CMDQ_CONS_ERR_MASK = 0x7f00_0000;
export const SMMU_CERROR_NONE = 0;
export const SMMU_CERROR_ILL = 1;
export const SMMU_CERROR_ABT = 2;
export const SMMU_CERROR_ATC_INV_SYNC = 3;
/** EVENTQ_PROD.OVFLG / EVENTQ_CONS.OVACKFLG (bit 31). */
export const SMMU_Q_OVERFLOW_FLAG = 0x8000_0000;

/** SMMU_AIDR: architecture revision SMMUv3.1, as QEMU reports. */
const AIDR_SMMUV3_1 = 0x01;

/** Offset of page 1 within the window. */
export const SMMU_PAGE1 = 0x10000;
/** Size of the MMIO window (two 64 KiB pages), as the device tree's `reg` gives it. */
export const SMMU_V3_WINDOW_SIZE = 0x20000;

// ---------------------------------------------------------------------------------------------
// Register map

export type SmmuV3RegisterName =
  | "IDR0"
  | "IDR1"
  | "IDR2"
  | "IDR3"
  | "IDR4"
  | "IDR5"
  | "IIDR"
  | "AIDR"
  | "CR0"
  | "CR0ACK"
  | "CR1"
  | "CR2"
  | "STATUSR"
  | "GBPA"
  | "IRQ_CTRL"
  | "IRQ_CTRLACK"
  | "GERROR"
  | "GERRORN"
  | "GERROR_IRQ_CFG0"
  | "GERROR_IRQ_CFG1"
  | "GERROR_IRQ_CFG2"
  | "STRTAB_BASE"
  | "STRTAB_BASE_CFG"
  | "CMDQ_BASE"
  | "CMDQ_PROD"
  | "CMDQ_CONS"
  | "EVENTQ_BASE"
  | "EVENTQ_PROD"
  | "EVENTQ_CONS"
  | "EVENTQ_IRQ_CFG0"
  | "EVENTQ_IRQ_CFG1"
  | "EVENTQ_IRQ_CFG2"
  | "PeriphID4"
  | "PeriphID5"
  | "PeriphID6"
  | "PeriphID7"
  | PrimeCellIdName;

/** The identification the ID registers report (IDR0/1/5 depend on the build options). */
interface SmmuV3Ids {
  readonly idr0: number;
  readonly idr1: number;
  readonly idr5: number;
  readonly gbpa: number;
}

/** Page 0 of the register map (§6.2.1). 64-bit registers are banks of two 32-bit halves. */
export function smmuV3Page0Registers(ids: SmmuV3Ids): RegisterSpec<SmmuV3RegisterName>[] {
  const msiRes0 = "RES0: present only when IDR0.MSI = 1";
  return [
    { name: "IDR0", offset: 0x00, access: "ro", reset: ids.idr0, doc: "Feature identification 0" },
    { name: "IDR1", offset: 0x04, access: "ro", reset: ids.idr1, doc: "Table/queue sizes" },
    { name: "IDR2", offset: 0x08, access: "ro", reset: 0, doc: "VATOS page base (none)" },
    { name: "IDR3", offset: 0x0c, access: "ro", reset: 0, doc: "No RIL, HAD, BBML" },
    { name: "IDR4", offset: 0x10, access: "ro", reset: 0, doc: "IMPLEMENTATION DEFINED" },
    { name: "IDR5", offset: 0x14, access: "ro", reset: ids.idr5, doc: "OAS and granules" },
    { name: "IIDR", offset: 0x18, access: "ro", reset: 0, doc: "Implementation ID (as QEMU: 0)" },
    { name: "AIDR", offset: 0x1c, access: "ro", reset: AIDR_SMMUV3_1, doc: "SMMUv3.1" },
    { name: "CR0", offset: 0x20, access: "rw", reset: 0, doc: "SMMUEN, EVENTQEN, CMDQEN" },
    { name: "CR0ACK", offset: 0x24, access: "ro", reset: 0, doc: "CR0 acknowledgement" },
    { name: "CR1", offset: 0x28, access: "rw", reset: 0, doc: "Table/queue attributes" },
    { name: "CR2", offset: 0x2c, access: "rw", reset: 0, doc: "RECINVSID, PTM" },
    { name: "STATUSR", offset: 0x40, access: "ro", reset: 0, doc: "Status (never dormant)" },
    { name: "GBPA", offset: 0x44, access: "rw", reset: ids.gbpa, doc: "Global bypass attributes" },
    { name: "IRQ_CTRL", offset: 0x50, access: "rw", reset: 0, doc: "Wired IRQ enables" },
    { name: "IRQ_CTRLACK", offset: 0x54, access: "ro", reset: 0, doc: "IRQ_CTRL ack" },
    {
      name: "GERROR",
      offset: 0x60,
      access: "ro",
      reset: 0,
      doc: "Global errors (active ≠ GERRORN)",
    },
    { name: "GERRORN", offset: 0x64, access: "rw", reset: 0, doc: "Global error acknowledge" },
    { name: "GERROR_IRQ_CFG0", offset: 0x68, access: "rw", reset: 0, count: 2, doc: msiRes0 },
    { name: "GERROR_IRQ_CFG1", offset: 0x70, access: "rw", reset: 0, doc: msiRes0 },
    { name: "GERROR_IRQ_CFG2", offset: 0x74, access: "rw", reset: 0, doc: msiRes0 },
    {
      name: "STRTAB_BASE",
      offset: 0x80,
      access: "rw",
      reset: 0,
      count: 2,
      doc: "Stream table base",
    },
    { name: "STRTAB_BASE_CFG", offset: 0x88, access: "rw", reset: 0, doc: "Stream table format" },
    {
      name: "CMDQ_BASE",
      offset: 0x90,
      access: "rw",
      reset: 0,
      count: 2,
      doc: "Command queue base",
    },
    { name: "CMDQ_PROD", offset: 0x98, access: "rw", reset: 0, doc: "Command queue producer" },
    { name: "CMDQ_CONS", offset: 0x9c, access: "rw", reset: 0, doc: "Command queue consumer" },
    {
      name: "EVENTQ_BASE",
      offset: 0xa0,
      access: "rw",
      reset: 0,
      count: 2,
      doc: "Event queue base",
    },
    { name: "EVENTQ_PROD", offset: 0xa8, access: "rw", reset: 0, doc: "Alias of page 1 0xA8" },
    { name: "EVENTQ_CONS", offset: 0xac, access: "rw", reset: 0, doc: "Alias of page 1 0xAC" },
    { name: "EVENTQ_IRQ_CFG0", offset: 0xb0, access: "rw", reset: 0, count: 2, doc: msiRes0 },
    { name: "EVENTQ_IRQ_CFG1", offset: 0xb8, access: "rw", reset: 0, doc: msiRes0 },
    { name: "EVENTQ_IRQ_CFG2", offset: 0xbc, access: "rw", reset: 0, doc: msiRes0 },
    ...(["PeriphID4", "PeriphID5", "PeriphID6", "PeriphID7"] as const).map((name, i) => ({
      name,
      offset: 0xfd0 + 4 * i,
      access: "ro" as const,
      reset: i === 0 ? 0x04 : 0,
      doc: "Peripheral identification",
    })),
    ...primeCellIdRegisters([0x84, 0xb4, 0xf0, 0x10]),
  ];
}

/** Page 1 (§6.2.2), offsets relative to SMMU_PAGE1. */
export function smmuV3Page1Registers(): RegisterSpec<SmmuV3RegisterName>[] {
  return [
    { name: "EVENTQ_PROD", offset: 0xa8, access: "rw", reset: 0, doc: "Event queue producer" },
    { name: "EVENTQ_CONS", offset: 0xac, access: "rw", reset: 0, doc: "Event queue consumer" },
  ];
}

function registerWord<N extends string>(table: FieldTable<N>, values: FieldValues<N>): number {
  const b = encodeFields(table, 4, values);
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

/** Architected offset of every register (EVENTQ_PROD/CONS at their page-1 home). */
export const SMMU_V3_REG: Readonly<Record<SmmuV3RegisterName, number>> = (() => {
  const out = {} as Record<SmmuV3RegisterName, number>;
  for (const r of smmuV3Page0Registers({ idr0: 0, idr1: 0, idr5: 0, gbpa: 0 }))
    out[r.name] = r.offset;
  for (const r of smmuV3Page1Registers()) out[r.name] = SMMU_PAGE1 + r.offset;
  return out;
})();

// ---------------------------------------------------------------------------------------------
// Options

export type SmmuV3IrqName = "eventq" | "priq" | "cmdq-sync" | "gerror" | "combined";

/** QEMU virt's order (hw/arm/virt.c). */
export const SMMU_V3_DEFAULT_IRQ_NAMES: readonly SmmuV3IrqName[] = [
  "eventq",
  "priq",
  "cmdq-sync",
  "gerror",
];

export interface SmmuV3Options {
  /** IDR0.COHACC: coherent table walks and queue accesses (the DT's `dma-coherent`). */
  readonly coherent?: boolean;
  /** IDR1.SIDSIZE: StreamID bits, 0–32 (default 16, as QEMU). */
  readonly sidSize?: number;
  /** IDR1.CMDQS / EVENTQS: largest log2 queue sizes (default 19, as QEMU). */
  readonly cmdqShift?: number;
  readonly eventqShift?: number;
  /** Output names in `interrupt-names` order (default QEMU virt's four). */
  readonly irqNames?: readonly string[];
  /** GBPA.ABORT after reset: a default-deny implementation (the architecture allows either). */
  readonly abortWhenDisabled?: boolean;
  /** IOTLB entries kept before it is flushed whole (default 2^18). */
  readonly iotlbCapacity?: number;
}

// ---------------------------------------------------------------------------------------------
// Cached configuration and translations

/** A decoded, cached STE (and, for stage 1, the CD it points at once fetched). */
class StreamConfig {
  /** Null until the CD is fetched, and again after CMD_CFGI_CD. */
  cd: ContextConfig | null = null;
  constructor(
    /** STE.Config: abort, bypass or stage-1 translate. */
    readonly config: number,
    readonly s1ContextPtr: number,
  ) {}
}

/** A decoded, cached stage-1 Context Descriptor. */
class ContextConfig {
  constructor(
    readonly asid: number,
    /** 2^(64 − T0SZ): IOVAs at or above it are outside TTB0's region. */
    readonly inputLimit: number,
    readonly startLevel: number,
    readonly ttb0: number,
    /** CD.EPD0: a TLB miss in TTB0's region is a Translation fault. */
    readonly epd0: boolean,
    /** 2^min(IPS, OAS): table and output addresses at or above it are Address Size faults. */
    readonly outputLimit: number,
    readonly affd: boolean,
    /** CD.R: record F_TRANSLATION/F_ADDR_SIZE/F_ACCESS/F_PERMISSION events. */
    readonly record: boolean,
    /** This ASID's IOTLB entries. */
    readonly tlb: AsidTlb,
  ) {}
}

/** The OAS this model implements (IDR5.OAS = 0b101). */
const OAS_CODE = 5;
const OAS_BITS = ADDRESS_SIZE_BITS[OAS_CODE]!;
const T0SZ_MIN = 16;
/** IDR3.STT = 0. */
const T0SZ_MAX = 39;

/** Descriptor bits the walk tests, positioned by the tables (low or high 32-bit word). */
const DESC_VALID = 1 << LEAF_DESCRIPTOR_FIELDS.Valid.bit;
const DESC_TYPE = 1 << LEAF_DESCRIPTOR_FIELDS.Type.bit;
const DESC_AF = 1 << LEAF_DESCRIPTOR_FIELDS.AF.bit;
/** AP[2] (the upper bit of the AP field): read-only. */
const DESC_AP_RO = 1 << (LEAF_DESCRIPTOR_FIELDS.AP.bit + 1);
/** APTable[1] (the upper bit of APTable), in the high word: no write below this table. */
const DESC_APTABLE_NO_WRITE = 1 << (TABLE_DESCRIPTOR_FIELDS.APTable.bit + 1 - 32);
/** Output/next-table address bits [47:12]: low word [31:12] and high word [15:0]. */
const DESC_ADDR_LO_MASK = 0xffff_f000;
const DESC_ADDR_HI_MASK =
  2 **
    (LEAF_DESCRIPTOR_FIELDS.OutputAddress.bit + LEAF_DESCRIPTOR_FIELDS.OutputAddress.width - 32) -
  1;

/** Events recorded only when CD.R = 1 (QEMU `PTW_RECORD_FAULT`, §5.4 CD.R). */
const RECORD_GATED: ReadonlySet<SmmuEventName> = new Set([
  "F_TRANSLATION",
  "F_ADDR_SIZE",
  "F_ACCESS",
  "F_PERMISSION",
]);

const IRQ_NAMES: readonly string[] = ["eventq", "priq", "cmdq-sync", "gerror", "combined"];

function checkIrqNames(id: DeviceIdentity, names: readonly string[]): readonly string[] {
  for (const n of names) {
    if (!IRQ_NAMES.includes(n)) throw new RangeError(`${id.name}: unknown SMMUv3 interrupt "${n}"`);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------

export class SmmuV3 extends Device implements Iommu {
  /** Page 0 register map (this instance's ID values); page 1 in `page1Registers`. */
  readonly registers: RegisterMap<SmmuV3RegisterName>;
  readonly page1Registers: RegisterMap<SmmuV3RegisterName>;

  private readonly bus: SystemBus;
  private readonly sidSize: number;
  private readonly gbpaReset: number;

  private cr0 = 0;
  private cr1 = 0;
  private cr2 = 0;
  private gbpa = 0;
  private irqCtrl = 0;
  private gerror = 0;
  private gerrorn = 0;
  private readonly strtabBase = [0, 0];
  private strtabBaseCfg = 0;
  private readonly cmdq: SmmuQueue;
  private readonly eventq: SmmuQueue;

  /** Configuration cache: decoded STE (+CD) per StreamID, kept until CMD_CFGI_*. */
  private readonly configs = new Map<number, StreamConfig>();
  /** IOTLB: leaf translations by (ASID, page or block), kept until CMD_TLBI_*. */
  private readonly iotlb: Iotlb;
  /**
   * The stage-1 stream translated last and its cached CD: DMA comes in runs from one master,
   * and this lets an IOTLB hit skip the configuration cache. Forgotten whenever the cached
   * configuration or SMMUEN changes.
   */
  private hotSid = -1;
  private hotContext: ContextConfig | null = null;

  private readonly eventqIrq: IrqLine | null;
  private readonly cmdSyncIrq: IrqLine | null;
  private readonly gerrorIrq: IrqLine | null;
  private readonly combinedIrq: IrqLine | null;

  /** Scratch buffers for structure fetches (slow paths only, but no need to allocate). */
  private readonly steBytes = new Uint8Array(STE_SIZE);
  private readonly cdBytes = new Uint8Array(CD_SIZE);
  private readonly cmdBytes = new Uint8Array(COMMAND_SIZE);
  private readonly words = new Uint32Array(16);

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: SmmuV3Options = {}) {
    const irqNames = checkIrqNames(id, options.irqNames ?? SMMU_V3_DEFAULT_IRQ_NAMES);
    super(ctx, id, { irqNames, busMaster: false });
    this.bus = ctx.bus;
    const sidSize = options.sidSize ?? 16;
    const cmdqShift = options.cmdqShift ?? 19;
    const eventqShift = options.eventqShift ?? 19;
    if (!Number.isInteger(sidSize) || sidSize < 0 || sidSize > 32) {
      throw new RangeError(`${id.name}: SIDSIZE ${sidSize} outside 0..32`);
    }
    for (const s of [cmdqShift, eventqShift]) {
      if (!Number.isInteger(s) || s < 0 || s > 19) {
        throw new RangeError(`${id.name}: queue size shift ${s} outside 0..19`);
      }
    }
    this.sidSize = sidSize;
    this.iotlb = new Iotlb(options.iotlbCapacity ?? 2 ** 18);
    this.gbpaReset = GBPA_RESET | (options.abortWhenDisabled ? SMMU_GBPA_ABORT : 0);
    this.cmdq = new SmmuQueue(COMMAND_SIZE, cmdqShift);
    this.eventq = new SmmuQueue(EVENT_SIZE, eventqShift);

    const ids: SmmuV3Ids = {
      idr0: registerWord(SMMU_IDR0_FIELDS, {
        S1P: 1,
        TTF: 0b10, // AArch64 tables only
        COHACC: options.coherent ?? false,
        ASID16: 1,
        TTENDIAN: 0b10, // little-endian only
        STALL_MODEL: 0b01, // stalls not supported
        TERM_MODEL: 1, // a terminated transaction always aborts (CD.A must be 1)
        ST_LEVEL: 0, // linear Stream table only
      }),
      idr1: registerWord(SMMU_IDR1_FIELDS, {
        SIDSIZE: sidSize,
        EVENTQS: eventqShift,
        CMDQS: cmdqShift,
      }),
      idr5: registerWord(SMMU_IDR5_FIELDS, { OAS: OAS_CODE, GRAN4K: 1 }),
      gbpa: this.gbpaReset,
    };
    this.registers = new RegisterMap(smmuV3Page0Registers(ids));
    this.page1Registers = new RegisterMap(smmuV3Page1Registers());

    const line = (n: SmmuV3IrqName): IrqLine | null => this.irqs[irqNames.indexOf(n)] ?? null;
    this.eventqIrq = line("eventq");
    this.cmdSyncIrq = line("cmdq-sync");
    this.gerrorIrq = line("gerror");
    this.combinedIrq = line("combined");
    this.reset();
  }

  reset(): void {
    this.cr0 = 0;
    this.cr1 = 0;
    this.cr2 = 0;
    this.gbpa = this.gbpaReset;
    this.irqCtrl = 0;
    this.gerror = 0;
    this.gerrorn = 0;
    this.strtabBase[0] = 0;
    this.strtabBase[1] = 0;
    this.strtabBaseCfg = 0;
    this.cmdq.reset();
    this.eventq.reset();
    this.configs.clear();
    this.forgetHotStream();
    this.iotlb.invalidateAll();
    for (const irq of this.irqs) irq.set(false);
  }

  // -------------------------------------------------------------------------------------------
  // Registers

  private decode(offset: number) {
    return offset >= SMMU_PAGE1
      ? this.page1Registers.decode(offset - SMMU_PAGE1)
      : this.registers.decode(offset);
  }

  protected readRegister(offset: number): number {
    const reg = this.decode(offset);
    if (!reg) {
      this.guestError(`read of unimplemented offset 0x${offset.toString(16)} (RAZ)`);
      return 0;
    }
    switch (reg.spec.name) {
      case "CR0":
      case "CR0ACK":
        return this.cr0;
      case "CR1":
        return this.cr1;
      case "CR2":
        return this.cr2;
      case "GBPA":
        return this.gbpa;
      case "IRQ_CTRL":
      case "IRQ_CTRLACK":
        return this.irqCtrl;
      case "GERROR":
        return this.gerror;
      case "GERRORN":
        return this.gerrorn;
      case "STRTAB_BASE":
        return this.strtabBase[reg.index]!;
      case "STRTAB_BASE_CFG":
        return this.strtabBaseCfg;
      case "CMDQ_BASE":
        return reg.index === 0 ? this.cmdq.baseLo : this.cmdq.baseHi;
      case "CMDQ_PROD":
        return this.cmdq.prod;
      case "CMDQ_CONS":
        return this.cmdq.cons;
      case "EVENTQ_BASE":
        return reg.index === 0 ? this.eventq.baseLo : this.eventq.baseHi;
      case "EVENTQ_PROD":
        return this.eventq.prod;
      case "EVENTQ_CONS":
        return this.eventq.cons;
      default:
        // Identification registers and the RES0 MSI configuration: constants.
        return reg.spec.reset ?? 0;
    }
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = this.decode(offset);
    if (!reg) {
      this.guestError(
        `write of 0x${value.toString(16)} to unimplemented offset 0x${offset.toString(16)} ignored`,
      );
      return;
    }
    const name = reg.spec.name;
    switch (name) {
      case "CR0":
        this.writeCr0(value);
        return;
      case "CR1":
        this.cr1 = this.masked(name, value, CR1_IMPLEMENTED);
        return;
      case "CR2":
        this.cr2 = this.masked(name, value, CR2_IMPLEMENTED);
        return;
      case "GBPA":
        this.writeGbpa(value);
        return;
      case "IRQ_CTRL":
        this.irqCtrl = this.masked(name, value, IRQ_CTRL_IMPLEMENTED);
        return;
      case "GERRORN":
        this.writeGerrorn(value);
        return;
      case "GERROR_IRQ_CFG0":
      case "GERROR_IRQ_CFG1":
      case "GERROR_IRQ_CFG2":
      case "EVENTQ_IRQ_CFG0":
      case "EVENTQ_IRQ_CFG1":
      case "EVENTQ_IRQ_CFG2":
        // Linux clears these whatever IDR0.MSI says; only a non-zero value is a mistake.
        if (value !== 0)
          this.guestError(`${name} is RES0 without MSI support; 0x${value.toString(16)} ignored`);
        return;
      case "STRTAB_BASE":
        if (this.guarded(name, SMMU_CR0_SMMUEN, "SMMUEN")) return;
        this.strtabBase[reg.index] = this.masked(
          name,
          value,
          reg.index === 0 ? STRTAB_BASE_LO_MASK : STRTAB_BASE_HI_MASK,
        );
        return;
      case "STRTAB_BASE_CFG":
        if (this.guarded(name, SMMU_CR0_SMMUEN, "SMMUEN")) return;
        this.strtabBaseCfg = this.masked(name, value, STRTAB_BASE_CFG_MASK);
        if (
          readField([value], SMMU_STRTAB_BASE_CFG_FIELDS.FMT) !== SMMU_STRTAB_BASE_CFG_FMT_LINEAR
        ) {
          this.guestError("STRTAB_BASE_CFG.FMT selects a 2-level table, but IDR0.ST_LEVEL = 0");
        }
        return;
      case "CMDQ_BASE":
        if (this.guarded(name, SMMU_CR0_CMDQEN, "CMDQEN")) return;
        this.cmdq.writeBase(reg.index as 0 | 1, value);
        return;
      case "CMDQ_PROD":
        this.cmdq.prod = this.masked(name, value, QUEUE_POINTER_MASK);
        this.consumeCommands();
        return;
      case "CMDQ_CONS":
        if (this.guarded(name, SMMU_CR0_CMDQEN, "CMDQEN")) return;
        this.cmdq.cons = this.masked(name, value, QUEUE_POINTER_MASK | CMDQ_CONS_ERR_MASK);
        return;
      case "EVENTQ_BASE":
        if (this.guarded(name, SMMU_CR0_EVENTQEN, "EVENTQEN")) return;
        this.eventq.writeBase(reg.index as 0 | 1, value);
        return;
      case "EVENTQ_PROD":
        if (this.guarded(name, SMMU_CR0_EVENTQEN, "EVENTQEN")) return;
        this.eventq.prod = this.masked(name, value, QUEUE_POINTER_MASK | SMMU_Q_OVERFLOW_FLAG);
        return;
      case "EVENTQ_CONS":
        this.eventq.cons = this.masked(name, value, QUEUE_POINTER_MASK | SMMU_Q_OVERFLOW_FLAG);
        return;
      default:
        this.guestError(`write of 0x${value.toString(16)} to read-only ${name} ignored`);
    }
  }

  /** Keeps the defined bits; setting a RES0 bit is a guest error. */
  private masked(name: string, value: number, mask: number): number {
    const extra = (value & ~mask) >>> 0;
    if (extra !== 0) this.guestError(`${name}: RES0 bits 0x${extra.toString(16)} written`);
    return (value & mask) >>> 0;
  }

  /** True (and a guest error) when `name` is written while the enable guarding it is set. */
  private guarded(name: string, enable: number, enableName: string): boolean {
    if ((this.cr0 & enable) === 0) return false;
    this.guestError(`${name} written while CR0.${enableName} = 1; ignored`);
    return true;
  }

  private writeCr0(value: number): void {
    const old = this.cr0;
    // CR0ACK follows at once: there is no in-flight work to drain in this model.
    this.cr0 = this.masked("CR0", value, CR0_IMPLEMENTED);
    const changed = old ^ this.cr0;
    if (changed & SMMU_CR0_SMMUEN) {
      this.forgetHotStream();
      this.note(this.cr0 & SMMU_CR0_SMMUEN ? "enabled" : "disabled");
    }
    if (changed & SMMU_CR0_CMDQEN && this.cr0 & SMMU_CR0_CMDQEN) this.consumeCommands();
  }

  /** GBPA is written with UPDATE set; the update completes at once, so UPDATE reads back 0. */
  private writeGbpa(value: number): void {
    if ((value & SMMU_GBPA_UPDATE) === 0) {
      this.guestError("GBPA written without UPDATE; ignored (the SMMUv3.2 behaviour)");
      return;
    }
    this.gbpa = this.masked("GBPA", value & ~SMMU_GBPA_UPDATE, GBPA_FIELDS_MASK);
  }

  private writeGerrorn(value: number): void {
    const active = this.gerror ^ this.gerrorn;
    const toggled = (value ^ this.gerrorn) & GERROR_DEFINED;
    if (toggled & ~active) {
      this.guestError(`GERRORN toggles inactive errors 0x${(toggled & ~active).toString(16)}`);
    }
    this.gerrorn = this.masked("GERRORN", value, GERROR_DEFINED);
    // Acknowledging CMDQ_ERR restarts the queue at CONS, which software has fixed (or skipped).
    if (toggled & active & SMMU_GERROR_CMDQ_ERR) this.consumeCommands();
  }

  /** Makes `bits` active in GERROR (those not already active) and signals the gerror IRQ. */
  private raiseGlobalError(bits: number): void {
    const fresh = bits & ~(this.gerror ^ this.gerrorn);
    if (fresh === 0) return;
    this.gerror = (this.gerror ^ fresh) >>> 0;
    if (this.irqCtrl & SMMU_IRQ_CTRL_GERROR_IRQEN) this.signal("gerror");
  }

  /**
   * The only place outputs are driven. Every line is edge-triggered (DT flags = 1), so there is
   * no level to recompute: an occurrence pulses its own line and the combined one, if wired.
   */
  private signal(kind: "eventq" | "cmdq-sync" | "gerror"): void {
    const line =
      kind === "eventq" ? this.eventqIrq : kind === "gerror" ? this.gerrorIrq : this.cmdSyncIrq;
    line?.pulse();
    this.combinedIrq?.pulse();
  }

  // -------------------------------------------------------------------------------------------
  // Command queue (§4)

  private consumeCommands(): void {
    const q = this.cmdq;
    while ((this.cr0 & SMMU_CR0_CMDQEN) !== 0 && !q.isEmpty()) {
      if ((this.gerror ^ this.gerrorn) & SMMU_GERROR_CMDQ_ERR) return;
      const at = q.entryAddress(q.cons);
      const fetch = this.bus.tryReadBytes(at, this.cmdBytes, this.name);
      if (fetch) {
        this.commandError(SMMU_CERROR_ABT, `command fetch at 0x${at.toString(16)} aborted`);
        return;
      }
      const words = this.loadWords(this.cmdBytes);
      const error = this.executeCommand(words);
      if (error !== SMMU_CERROR_NONE) return;
      q.cons = q.next(q.cons);
    }
  }

  /** Stops the queue at the failing command: CONS stays on it and CONS.ERR says why. */
  private commandError(cerror: number, why: string): number {
    this.guestError(why);
    this.cmdq.cons =
      ((this.cmdq.cons & ~CMDQ_CONS_ERR_MASK) | (cerror << SMMU_CMDQ_CONS_ERR_SHIFT)) >>> 0;
    this.raiseGlobalError(SMMU_GERROR_CMDQ_ERR);
    return cerror;
  }

  /** Executes one command; returns its CERROR (NONE on success). */
  private executeCommand(w: Uint32Array): number {
    const opcode = readField(w, COMMAND_FIELDS.Opcode);
    const name = commandName(opcode);
    const f = (field: keyof typeof COMMAND_FIELDS): number => readField(w, COMMAND_FIELDS[field]);
    const illegal = (why: string) =>
      this.commandError(SMMU_CERROR_ILL, `${name ?? `opcode 0x${opcode.toString(16)}`}: ${why}`);
    if (this.trace.enabled && name) this.traceCommand(name, w);
    switch (opcode) {
      case CMDQ_OP.CMD_PREFETCH_CONFIG:
      case CMDQ_OP.CMD_PREFETCH_ADDR:
        // Prefetching is a hint; nothing observable is lost by not doing it.
        return SMMU_CERROR_NONE;
      case CMDQ_OP.CMD_CFGI_STE:
        if (f("SSec")) return illegal("SSec on the Non-secure queue");
        this.invalidateStreams(f("StreamID"), f("StreamID"));
        return SMMU_CERROR_NONE;
      case CMDQ_OP.CMD_CFGI_STE_RANGE: {
        if (f("SSec")) return illegal("SSec on the Non-secure queue");
        // Range = 31 is CMD_CFGI_ALL; otherwise 2^(Range+1) StreamIDs aligned around StreamID.
        const span = 2 ** (f("Range") + 1);
        const first = f("StreamID") - (f("StreamID") % span);
        this.invalidateStreams(first, first + span - 1);
        return SMMU_CERROR_NONE;
      }
      case CMDQ_OP.CMD_CFGI_CD:
      case CMDQ_OP.CMD_CFGI_CD_ALL: {
        if (f("SSec")) return illegal("SSec on the Non-secure queue");
        const cfg = this.configs.get(f("StreamID"));
        if (cfg) cfg.cd = null;
        this.forgetHotStream();
        return SMMU_CERROR_NONE;
      }
      case CMDQ_OP.CMD_TLBI_NH_ALL:
      case CMDQ_OP.CMD_TLBI_NSNH_ALL:
        this.iotlb.invalidateAll();
        return SMMU_CERROR_NONE;
      case CMDQ_OP.CMD_TLBI_NH_ASID:
        this.iotlb.invalidateAsid(f("ASID"));
        return SMMU_CERROR_NONE;
      case CMDQ_OP.CMD_TLBI_NH_VA:
      case CMDQ_OP.CMD_TLBI_NH_VAA: {
        if (f("TG") !== 0 || f("NUM") !== 0 || f("SCALE") !== 0 || f("TTL") !== 0) {
          this.guestError(
            `${name}: range/TTL fields are RES0 with IDR3.RIL = 0; treated as one VA`,
          );
        }
        if (opcode === CMDQ_OP.CMD_TLBI_NH_VA) this.iotlb.invalidateVa(f("ASID"), f("Address"));
        else this.iotlb.invalidateVaAllAsids(f("Address"));
        return SMMU_CERROR_NONE;
      }
      case CMDQ_OP.CMD_SYNC: {
        const cs = f("CS");
        if (cs === CMD_SYNC_CS_IRQ) this.signal("cmdq-sync");
        else if (cs !== CMD_SYNC_CS_NONE && cs !== CMD_SYNC_CS_SEV)
          return illegal(`reserved CS ${cs}`);
        // Completion is CONS moving past this entry, which the caller does next.
        return SMMU_CERROR_NONE;
      }
      case CMDQ_OP.CMD_TLBI_EL2_ALL:
      case CMDQ_OP.CMD_TLBI_EL2_ASID:
      case CMDQ_OP.CMD_TLBI_EL2_VA:
      case CMDQ_OP.CMD_TLBI_EL2_VAA:
        return illegal("IDR0.HYP = 0 (§4.4.2)");
      case CMDQ_OP.CMD_TLBI_EL3_ALL:
      case CMDQ_OP.CMD_TLBI_EL3_VA:
        return illegal("EL3 invalidation on the Non-secure queue");
      case CMDQ_OP.CMD_TLBI_S12_VMALL:
      case CMDQ_OP.CMD_TLBI_S2_IPA:
        return illegal("stage 2 not implemented (IDR0.S2P = 0)");
      case CMDQ_OP.CMD_ATC_INV:
        return illegal("ATS not implemented (IDR0.ATS = 0)");
      case CMDQ_OP.CMD_PRI_RESP:
        return illegal("PRI not implemented (IDR0.PRI = 0)");
      case CMDQ_OP.CMD_RESUME:
      case CMDQ_OP.CMD_STALL_TERM:
        return illegal("stalls not implemented (IDR0.STALL_MODEL = 0b01)");
      default:
        return illegal("undefined opcode");
    }
  }

  private traceCommand(name: keyof typeof CMDQ_OP, w: Uint32Array): void {
    const args: Record<string, number> = {};
    for (const field of COMMAND_FORMATS[name] ?? [])
      args[field] = readField(w, COMMAND_FIELDS[field]);
    this.trace.emit({ type: "iommu-command", iommu: this.name, command: name, args });
  }

  private invalidateStreams(first: number, last: number): void {
    for (const sid of [...this.configs.keys()]) {
      if (sid >= first && sid <= last) this.configs.delete(sid);
    }
    this.forgetHotStream();
  }

  private forgetHotStream(): void {
    this.hotSid = -1;
    this.hotContext = null;
  }

  // -------------------------------------------------------------------------------------------
  // Event queue (§7)

  /** Writes an event record; returns whether it reached the queue. */
  private recordEvent(record: Uint8Array): boolean {
    if ((this.cr0 & SMMU_CR0_EVENTQEN) === 0) return false;
    const q = this.eventq;
    if (q.isFull()) {
      // The record is lost; OVFLG toggles so that it differs from CONS.OVACKFLG until acked.
      if (((q.prod ^ q.cons) & SMMU_Q_OVERFLOW_FLAG) === 0) {
        q.prod = (q.prod ^ SMMU_Q_OVERFLOW_FLAG) >>> 0;
      }
      return false;
    }
    const at = q.entryAddress(q.prod);
    if (this.bus.tryWriteBytes(at, record, this.name)) {
      this.guestError(`event queue write at 0x${at.toString(16)} aborted`);
      this.raiseGlobalError(SMMU_GERROR_EVENTQ_ABT_ERR);
      return false;
    }
    q.prod = q.next(q.prod);
    if (this.irqCtrl & SMMU_IRQ_CTRL_EVENTQ_IRQEN) this.signal("eventq");
    return true;
  }

  /**
   * Terminates a transaction with event `event`: records it (unless it is a translation-class
   * fault and CD.R = 0, or C_BAD_STREAMID without CR2.RECINVSID) and answers with an abort.
   */
  private fault(
    event: SmmuEventName,
    cd: ContextConfig | null,
    streamId: number,
    iova: number,
    write: boolean,
    master: string,
    fetchAddr = 0,
  ): BusError {
    const wanted = RECORD_GATED.has(event)
      ? cd?.record
      : event !== "C_BAD_STREAMID" || (this.cr2 & SMMU_CR2_RECINVSID) !== 0;
    let recorded = false;
    if (wanted) {
      const transaction =
        RECORD_GATED.has(event) || event === "F_WALK_EABT"
          ? {
              RnW: !write,
              InD: 0,
              PnU: 1,
              S2: 0,
              CLASS: event === "F_WALK_EABT" ? EVENT_CLASS_TT : EVENT_CLASS_IN,
              InputAddr: iova,
            }
          : {};
      recorded = this.recordEvent(
        encodeEvent(event, { StreamID: streamId, ...transaction, FetchAddr: fetchAddr }),
      );
    }
    if (this.trace.enabled) {
      this.trace.emit({ type: "iommu-event", iommu: this.name, event, streamId, iova, recorded });
    }
    return this.abort(iova, write, master, event);
  }

  private abort(iova: number, write: boolean, master: string, detail: string): BusError {
    return new BusError({
      reason: "iommu",
      address: iova,
      // The access size is the master's business; a translation covers the rest of the page.
      size: PAGE_SIZE - (iova % PAGE_SIZE),
      write,
      master,
      detail,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Translation

  translate(streamId: number, iova: number, write: boolean, master: string): number | BusError {
    // An IOTLB page hit for the hot stream, kept small enough for the caller to inline it (so a
    // double-valued IOVA is never boxed); everything else, traced hits included, goes the long way.
    const cd = this.hotContext;
    if (cd !== null && streamId === this.hotSid && iova < cd.inputLimit && !this.trace.enabled) {
      const e = cd.tlb.pages.get(Math.floor(iova / 4096));
      if (e !== undefined && (e.writable || !write)) return e.outBase + (iova - e.inBase);
    }
    return this.translateSlow(streamId, iova, write, master);
  }

  private translateSlow(
    streamId: number,
    iova: number,
    write: boolean,
    master: string,
  ): number | BusError {
    if ((this.cr0 & SMMU_CR0_SMMUEN) === 0) {
      if (this.gbpa & SMMU_GBPA_ABORT) return this.abort(iova, write, master, "GBPA.ABORT");
      if (this.trace.enabled) this.traceTranslate(streamId, iova, iova, write, "bypass");
      return iova;
    }
    let cfg = this.configs.get(streamId);
    if (cfg === undefined) {
      const loaded = this.loadStreamConfig(streamId, iova, write, master);
      if (BusError.isInstance(loaded)) return loaded;
      cfg = loaded;
    }
    if (cfg.config !== STE_CONFIG_S1_TRANS) {
      if (cfg.config === STE_CONFIG_BYPASS) {
        if (this.trace.enabled) this.traceTranslate(streamId, iova, iova, write, "bypass");
        return iova;
      }
      // STE.Config = abort terminates silently (§5.2: no event).
      return this.abort(iova, write, master, "STE.Config=abort");
    }
    let cd = cfg.cd;
    if (cd === null) {
      const loaded = this.loadContext(cfg, streamId, iova, write, master);
      if (BusError.isInstance(loaded)) return loaded;
      cd = loaded;
    }
    this.hotSid = streamId;
    this.hotContext = cd;
    if (iova < cd.inputLimit) {
      const e = cd.tlb.lookup(iova);
      if (e !== undefined) {
        if (write && !e.writable)
          return this.fault("F_PERMISSION", cd, streamId, iova, write, master);
        const pa = e.outBase + (iova - e.inBase);
        if (this.trace.enabled) this.traceTranslate(streamId, iova, pa, write, "iotlb");
        return pa;
      }
    }
    return this.walk(cd, streamId, iova, write, master);
  }

  private traceTranslate(
    streamId: number,
    iova: number,
    physical: number,
    write: boolean,
    via: "walk" | "iotlb" | "bypass",
  ): void {
    this.trace.emit({
      type: "iommu-translate",
      iommu: this.name,
      streamId,
      iova,
      physical,
      write,
      via,
    });
  }

  /** Linear Stream table lookup and STE decode (§3.3.1, §5.2). */
  private loadStreamConfig(
    sid: number,
    iova: number,
    write: boolean,
    master: string,
  ): StreamConfig | BusError {
    const fmt = readField([this.strtabBaseCfg], SMMU_STRTAB_BASE_CFG_FIELDS.FMT);
    // LOG2SIZE above SIDSIZE behaves as SIDSIZE.
    const log2 = Math.min(
      readField([this.strtabBaseCfg], SMMU_STRTAB_BASE_CFG_FIELDS.LOG2SIZE),
      this.sidSize,
    );
    if (fmt !== SMMU_STRTAB_BASE_CFG_FMT_LINEAR || !(sid >= 0 && sid < 2 ** log2)) {
      return this.fault("C_BAD_STREAMID", null, sid, iova, write, master);
    }
    // The base is aligned to the table size: ADDR[LOG2SIZE+5:0] are ignored.
    const raw = this.strtabBase[0]! + (this.strtabBase[1]! & 0xfffff) * 2 ** 32;
    const align = 2 ** (log2 + 6);
    const steAddr = raw - (raw % align) + sid * STE_SIZE;
    if (this.bus.tryReadBytes(steAddr, this.steBytes, this.name)) {
      return this.fault("F_STE_FETCH", null, sid, iova, write, master, steAddr);
    }
    const w = this.loadWords(this.steBytes);
    const bad = (why: string) => {
      this.guestError(`StreamID ${sid}: STE at 0x${steAddr.toString(16)} ${why}`);
      return this.fault("C_BAD_STE", null, sid, iova, write, master);
    };
    if (!readField(w, STE_FIELDS.V)) return bad("is not valid");
    const config = readField(w, STE_FIELDS.Config);
    if (config !== STE_CONFIG_ABORT) {
      if (config < STE_CONFIG_BYPASS) return bad(`has reserved Config 0b${config.toString(2)}`);
      if (config > STE_CONFIG_S1_TRANS) return bad("enables stage 2, but IDR0.S2P = 0");
      if (readField(w, STE_FIELDS.STRW) !== 0)
        return bad("selects an EL2 StreamWorld, but IDR0.HYP = 0");
      if (config === STE_CONFIG_S1_TRANS) {
        if (readField(w, STE_FIELDS.S1CDMax) !== 0)
          return bad("has S1CDMax > 0, but IDR1.SSIDSIZE = 0");
        if (readField(w, STE_FIELDS.S1STALLD))
          return bad("sets S1STALLD, but stalls are not supported");
      }
    }
    const cfg = new StreamConfig(config, readField(w, STE_FIELDS.S1ContextPtr));
    this.configs.set(sid, cfg);
    return cfg;
  }

  /** Single-CD fetch and decode (§5.4), cached in the stream's configuration. */
  private loadContext(
    cfg: StreamConfig,
    sid: number,
    iova: number,
    write: boolean,
    master: string,
  ): ContextConfig | BusError {
    const at = cfg.s1ContextPtr;
    if (this.bus.tryReadBytes(at, this.cdBytes, this.name)) {
      return this.fault("F_CD_FETCH", null, sid, iova, write, master, at);
    }
    const w = this.loadWords(this.cdBytes);
    const cd = (field: keyof typeof CD_FIELDS) => readField(w, CD_FIELDS[field]);
    const bad = (why: string) => {
      this.guestError(`StreamID ${sid}: CD at 0x${at.toString(16)} ${why}`);
      return this.fault("C_BAD_CD", null, sid, iova, write, master);
    };
    if (!cd("V")) return bad("is not valid");
    if (!cd("AA64")) return bad("selects VMSAv8-32 tables, but IDR0.TTF = AArch64");
    if (cd("ENDI")) return bad("selects big-endian tables, but IDR0.TTENDIAN = little");
    if (!cd("A")) return bad("has A = 0, but IDR0.TERM_MODEL = 1");
    if (cd("S")) return bad("has S = 1, but stalls are not supported");
    if (cd("HA") || cd("HD")) return bad("enables HTTU, but IDR0.HTTU = 0");
    const epd0 = cd("EPD0") === 1;
    if (!epd0) {
      if (cd("T0SZ") < T0SZ_MIN || cd("T0SZ") > T0SZ_MAX)
        return bad(`has T0SZ ${cd("T0SZ")} outside 16..39`);
      if (cd("TG0") !== CD_TG0_4K)
        return bad("has a TG0 granule other than 4 KiB (IDR5.GRAN4K only)");
    }
    if (!cd("EPD1")) {
      if (cd("T1SZ") < T0SZ_MIN || cd("T1SZ") > T0SZ_MAX)
        return bad(`has T1SZ ${cd("T1SZ")} outside 16..39`);
      if (cd("TG1") !== CD_TG1_4K)
        return bad("has a TG1 granule other than 4 KiB (IDR5.GRAN4K only)");
    }
    const inputSize = 64 - cd("T0SZ");
    // Start level for a 4 KiB granule: each level resolves 9 bits above the 12-bit page offset.
    const startLevel = 4 - Math.ceil((inputSize - 12) / 9);
    // IPS above the OAS behaves as the OAS (§5.4 CD.IPS).
    const ips = Math.min(ADDRESS_SIZE_BITS[cd("IPS")]!, OAS_BITS);
    const context = new ContextConfig(
      cd("ASID"),
      2 ** inputSize,
      startLevel,
      cd("TTB0"),
      epd0,
      2 ** ips,
      cd("AFFD") === 1,
      cd("R") === 1,
      this.iotlb.forAsid(cd("ASID")),
    );
    cfg.cd = context;
    return context;
  }

  /** VMSAv8-64 stage-1 walk, 4 KiB granule (ARM ARM D8; QEMU smmu_ptw_64_s1). */
  private walk(
    cd: ContextConfig,
    sid: number,
    iova: number,
    write: boolean,
    master: string,
  ): number | BusError {
    if (!(iova >= 0 && iova < cd.inputLimit) || cd.epd0) {
      return this.fault("F_TRANSLATION", cd, sid, iova, write, master);
    }
    if (cd.ttb0 >= cd.outputLimit) return this.fault("F_ADDR_SIZE", cd, sid, iova, write, master);
    let table = cd.ttb0;
    let noWrite = false;
    for (let level = cd.startLevel; ; level++) {
      const shift = LEVEL_SHIFT[level]!;
      const span = 2 ** shift;
      const descAddr = table + (Math.floor(iova / span) % 512) * 8;
      const lo = this.bus.tryRead(descAddr, 4, this.name);
      const hi = typeof lo === "number" ? this.bus.tryRead(descAddr + 4, 4, this.name) : lo;
      if (typeof lo !== "number" || typeof hi !== "number") {
        return this.fault("F_WALK_EABT", cd, sid, iova, write, master, descAddr);
      }
      if ((lo & DESC_VALID) === 0) return this.fault("F_TRANSLATION", cd, sid, iova, write, master);
      const addr = ((lo & DESC_ADDR_LO_MASK) >>> 0) + (hi & DESC_ADDR_HI_MASK) * 2 ** 32;
      const isTableOrPage = (lo & DESC_TYPE) !== 0;
      if (isTableOrPage && level < 3) {
        if (addr >= cd.outputLimit) return this.fault("F_ADDR_SIZE", cd, sid, iova, write, master);
        if (hi & DESC_APTABLE_NO_WRITE) noWrite = true;
        table = addr;
        continue;
      }
      // A block is only defined at levels 1 and 2 of a 4 KiB-granule walk.
      if (!isTableOrPage && (level === 0 || level === 3)) {
        return this.fault("F_TRANSLATION", cd, sid, iova, write, master);
      }
      const outBase = addr - (addr % span);
      if (outBase >= cd.outputLimit) return this.fault("F_ADDR_SIZE", cd, sid, iova, write, master);
      if ((lo & DESC_AF) === 0 && !cd.affd)
        return this.fault("F_ACCESS", cd, sid, iova, write, master);
      const writable = (lo & DESC_AP_RO) === 0 && !noWrite;
      // The translation is valid whatever this access wants, so it is cached before the
      // permission check, as a TLB fill would be.
      const inBase = iova - (iova % span);
      this.iotlb.insert(new TlbEntry(cd.asid, inBase, outBase, shift, writable));
      if (write && !writable) return this.fault("F_PERMISSION", cd, sid, iova, write, master);
      const pa = outBase + (iova - inBase);
      if (this.trace.enabled) this.traceTranslate(sid, iova, pa, write, "walk");
      return pa;
    }
  }

  /** Little-endian words of a fetched structure, in a shared scratch array. */
  private loadWords(bytes: Uint8Array): Uint32Array {
    const w = this.words;
    w.fill(0);
    for (let i = 0; i < bytes.length; i += 4) {
      w[i >>> 2] =
        (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0;
    }
    return w;
  }
}

// ---------------------------------------------------------------------------------------------
// Device-tree binding (Documentation/devicetree/bindings/iommu/arm,smmu-v3.yaml)

function findProperty(node: DtNode, name: string) {
  return node.properties.find((p) => p.name === name);
}

/** A DT string list: NUL-terminated strings back to back. */
function stringList(value: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    if (value[i] === 0) {
      out.push(String.fromCharCode(...value.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

export const smmuV3Model: DeviceModel = {
  compatible: ["arm,smmu-v3"],
  description:
    "Arm SMMUv3: stage 1, linear Stream table, 4 KiB granule, IOTLB, command/event queues",
  create(ctx, id, node) {
    const names = findProperty(node, "interrupt-names");
    return new SmmuV3(ctx, id, {
      coherent: findProperty(node, "dma-coherent") !== undefined,
      ...(names ? { irqNames: stringList(names.value) } : {}),
    });
  },
};
