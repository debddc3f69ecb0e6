/**
 * ARM Generic Interrupt Controller v3 with one CPU, as QEMU's `virt` machine builds it with
 * `gic-version=3` (Arm IHI 0069, "GIC architecture specification, GICv3 and GICv4"; QEMU
 * `hw/intc/arm_gicv3_*.c`; the driver side is Linux `drivers/irqchip/irq-gic-v3.c`).
 *
 * MMIO windows (the DT node `intc@8000000`, `compatible = "arm,gic-v3"`):
 *   0: GICD, the Distributor, 64 KiB at 0x08000000.
 *   1: the Redistributor region, 0xF60000 bytes at 0x080A0000. Only the first 128 KiB are
 *      backed: CPU 0's RD_base frame (0x00000) and SGI_base frame (0x10000). The rest of the
 *      region has no Redistributor behind it and reads as zero, ignoring writes (guest errors).
 * Inputs: `setIrqLevel(intid, level)` for PPIs (16..31) and SPIs (32..32+N-1), as QEMU's GIC
 *   GPIO inputs. SGIs (0..15) come from ISPENDR0 or `cpu.sgi1r()`.
 * Output: the CPU's IRQ input, `cpu.irqAsserted`, with `cpu.onIrqChange(listener)`.
 * CPU interface: the ICC_* system registers of the one PE, as methods on `gic.cpu` (the kernel
 *   model calls them where Linux executes `mrs`/`msr`).
 *
 * Security: one Security state, as QEMU builds the GIC for a `virt` machine without EL3
 * (`has-security-extensions=false`). GICD_CTLR.DS and .ARE are RAO/WI, so the Non-secure view
 * and the Secure view are the same register file: IGRPMODR and NSACR are RAZ/WI, bit 1 of
 * GICD_CTLR is EnableGrp1 and bit 4 is ARE. Affinity routing is always on, so ITARGETSR, SGIR
 * and the {C,S}PENDSGIR registers are RAZ/WI and the INTID 0..31 parts of the GICD banks are
 * RAZ/WI (those interrupts live in the Redistributor).
 *
 * Caveat:
 * - No LPIs and no ITS: GICD_TYPER.LPIS and GICR_TYPER.PLPIS read 0 (QEMU `virt` sets them
 *   because it has an ITS; here the `its@8080000` node is not modelled), so PROPBASER, PENDBASER
 *   and the other LPI registers are reserved.
 * - Group 0 is never forwarded: ICC_IGRPEN0_EL1 is held at 0 and there is no FIQ output. Group 0
 *   interrupts can be configured, pend and be read back, but only Group 1 reaches `iar1()`.
 * - The CPU interface implements 5 priority bits and 5 preemption bits (as a Cortex-A57 and
 *   QEMU's `-cpu max`), so ICC_PMR_EL1 bits [2:0] are RAZ/WI and only ICC_AP1R0_EL1 exists. The
 *   priority registers keep all 8 bits, as QEMU's do.
 * - No virtual CPU interface (ICH_*, ICV_*), no GICv4, no extended SPI/PPI ranges, no
 *   message-based SPIs, no NMIs, no 1-of-N routing (GICD_TYPER.No1N = 1, IROUTER.IRM is RAZ/WI).
 * - Register writes take effect at once: GICD_CTLR.RWP and GICR_CTLR.RWP always read 0.
 * - While GICR_WAKER.ChildrenAsleep is 1 the Redistributor forwards nothing to the CPU
 *   interface, as the architecture describes a quiescent interface; QEMU ignores the bit. Linux
 *   wakes the Redistributor (`gic_enable_redist`) before it unmasks anything; a driver that
 *   forgets to wake it sees a silent GIC, as it would on hardware.
 * - `reset()` also resets the CPU interface (QEMU leaves it to the CPU's reset) and keeps the
 *   input line levels: they are wires driven by the devices, not GIC state.
 */

import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import type { IrqSink } from "../core/irq-line.js";
import { type DecodedRegister, RegisterMap, type RegisterSpec } from "../core/registers.js";
import type { AccessSize } from "../core/system-bus.js";
import type { DeviceTree, DtNode } from "../devicetree/tree.js";

// ---------------------------------------------------------------------------------------------
// Architectural constants

/** INTIDs 0..15 are SGIs, 16..31 PPIs: the 32 interrupts private to each Redistributor. */
export const GIC_INTERNAL = 32;
/** ICC_IAR1_EL1 answer when nothing can be acknowledged. */
export const INTID_SPURIOUS = 1023;
/** The first special INTID (1020..1023). */
const INTID_SPECIAL_FIRST = 1020;
/**
 * QEMU `virt` as Debian 12's QEMU 7.2 builds it: Linux 7.3 booted there reports "GICv3: 224 SPIs
 * implemented" (GICD_TYPER.ITLinesNumber = 7), INTIDs 32..255 (oracle-probes, checked).
 */
export const GICV3_DEFAULT_SPI_COUNT = 224;
/** The largest SPI count whose INTIDs stay below the special range in whole 32-bit banks. */
const MAX_SPI_COUNT = 960;

/** One Redistributor = RD_base frame + SGI_base frame, 64 KiB each. */
export const GICR_FRAME_SIZE = 0x20000;
const GICR_SGI_BASE = 0x10000;

export const GICD_CTLR_EnableGrp0 = 1 << 0;
/** EnableGrp1 when DS = 1 (EnableGrp1NS / EnableGrp1A in the two-state views). */
export const GICD_CTLR_EnableGrp1 = 1 << 1;
/** ARE when DS = 1 (ARE_S in the Secure view of a two-state GIC). */
export const GICD_CTLR_ARE = 1 << 4;
export const GICD_CTLR_DS = 1 << 6;
export const GICD_CTLR_RWP = 1 << 31;

export const GICR_WAKER_ProcessorSleep = 1 << 1;
export const GICR_WAKER_ChildrenAsleep = 1 << 2;

export const GICR_TYPER_Last = 1 << 4;

export const ICC_CTLR_EL1_CBPR = 1 << 0;
export const ICC_CTLR_EL1_EOImode = 1 << 1;
export const ICC_CTLR_EL1_PRIbits_SHIFT = 8;
export const ICC_CTLR_EL1_A3V = 1 << 15;
export const ICC_SRE_EL1_SRE = 1 << 0;

/** Arm's IIDR for an r0p0 GIC-500-like implementation (QEMU `gicv3_iidr()`). */
const GIC_IIDR = 0x43b;
/** CoreSight PIDR0 part numbers of the frames (QEMU `GICV3_PIDR0_DIST` / `_REDIST`). */
const GICD_PIDR0 = 0x92;
const GICR_PIDR0 = 0x93;

const PRIORITY_BITS = 5;
/** Bits of a priority value the CPU interface implements (ICC_PMR_EL1 [7:3]). */
const PRIORITY_MASK = (0xff << (8 - PRIORITY_BITS)) & 0xff;
/** Smallest BPR0; BPR1's is one more (the GroupBits() pseudocode). */
const MIN_BPR0 = 7 - PRIORITY_BITS;
const MIN_BPR1 = MIN_BPR0 + 1;
const IDLE_PRIORITY = 0xff;

/** ICC_CTLR_EL1 fields software may write; the rest are read-only ID fields. */
const ICC_CTLR_WRITABLE = ICC_CTLR_EL1_CBPR | ICC_CTLR_EL1_EOImode;
const ICC_CTLR_RESET = ((PRIORITY_BITS - 1) << ICC_CTLR_EL1_PRIbits_SHIFT) | ICC_CTLR_EL1_A3V;

/** GICD_TYPER fields this implementation reports besides ITLinesNumber. */
const GICD_TYPER_No1N = 1 << 25;
const GICD_TYPER_A3V = 1 << 24;
/** IDbits = 15: 16-bit INTIDs, as QEMU reports. */
const GICD_TYPER_IDbits = 0xf << 19;

/** GICR_TYPER low word: CommonLPIAff = 1, Processor_Number = 0, Last = 1 (QEMU's value). */
const GICR_TYPER_LOW = (1 << 24) | GICR_TYPER_Last;

// ---------------------------------------------------------------------------------------------
// Register tables

type IdRegisterName<P extends string> =
  | `${P}_PIDR${0 | 1 | 2 | 3 | 4 | 5 | 6 | 7}`
  | `${P}_CIDR${0 | 1 | 2 | 3}`;

/**
 * The CoreSight ID block at 0xFFD0–0xFFFC of a 64 KiB GIC frame: PIDR4..7, PIDR0..3, CIDR0..3.
 * PIDR2 [7:4] is ArchRev = 3 (GICv3), which Linux checks before it trusts a frame.
 */
function gicIdRegisters<P extends string>(
  prefix: P,
  pidr0: number,
): RegisterSpec<IdRegisterName<P>>[] {
  const layout: [IdRegisterName<P>, number][] = [
    [`${prefix}_PIDR4`, 0x44],
    [`${prefix}_PIDR5`, 0x00],
    [`${prefix}_PIDR6`, 0x00],
    [`${prefix}_PIDR7`, 0x00],
    [`${prefix}_PIDR0`, pidr0],
    [`${prefix}_PIDR1`, 0xb4],
    [`${prefix}_PIDR2`, 0x3b],
    [`${prefix}_PIDR3`, 0x00],
    [`${prefix}_CIDR0`, 0x0d],
    [`${prefix}_CIDR1`, 0xf0],
    [`${prefix}_CIDR2`, 0x05],
    [`${prefix}_CIDR3`, 0xb1],
  ];
  return layout.map(([name, reset], i) => ({
    name,
    offset: 0xffd0 + 4 * i,
    access: "ro" as const,
    reset,
    doc: "CoreSight identification",
  }));
}

export type GicdRegisterName =
  | "GICD_CTLR"
  | "GICD_TYPER"
  | "GICD_IIDR"
  | "GICD_TYPER2"
  | "GICD_STATUSR"
  | "GICD_IGROUPR"
  | "GICD_ISENABLER"
  | "GICD_ICENABLER"
  | "GICD_ISPENDR"
  | "GICD_ICPENDR"
  | "GICD_ISACTIVER"
  | "GICD_ICACTIVER"
  | "GICD_IPRIORITYR"
  | "GICD_ITARGETSR"
  | "GICD_ICFGR"
  | "GICD_IGRPMODR"
  | "GICD_NSACR"
  | "GICD_SGIR"
  | "GICD_CPENDSGIR"
  | "GICD_SPENDSGIR"
  | "GICD_IROUTER"
  | IdRegisterName<"GICD">;

/** GICD_TYPER for a GIC with `spiCount` SPIs (ITLinesNumber counts INTIDs including 0..31). */
export function gicdTyper(spiCount: number): number {
  const itLinesNumber = (GIC_INTERNAL + spiCount) / 32 - 1;
  return (GICD_TYPER_No1N | GICD_TYPER_A3V | GICD_TYPER_IDbits | itLinesNumber) >>> 0;
}

/**
 * The Distributor frame (window 0). Banks span the whole architectural INTID range; the parts
 * beyond the implemented SPIs are RAZ/WI. Registers with `width: 1` accept byte accesses.
 */
export function gicdRegisters(
  spiCount = GICV3_DEFAULT_SPI_COUNT,
): RegisterSpec<GicdRegisterName>[] {
  return [
    {
      name: "GICD_CTLR",
      offset: 0x0000,
      access: "rw",
      reset: GICD_CTLR_DS | GICD_CTLR_ARE,
      doc: "Distributor control: group enables; ARE and DS RAO/WI",
    },
    {
      name: "GICD_TYPER",
      offset: 0x0004,
      access: "ro",
      reset: gicdTyper(spiCount),
      doc: "Interrupt controller type: ITLinesNumber, IDbits, No1N, A3V",
    },
    {
      name: "GICD_IIDR",
      offset: 0x0008,
      access: "ro",
      reset: GIC_IIDR,
      doc: "Implementer identification",
    },
    {
      name: "GICD_TYPER2",
      offset: 0x000c,
      access: "ro",
      reset: 0,
      doc: "Type 2: no vSGIs, no nASSGI capability",
    },
    {
      name: "GICD_STATUSR",
      offset: 0x0010,
      access: "rw",
      reset: 0,
      doc: "Error reporting: RAZ/WI (not implemented)",
    },
    {
      name: "GICD_IGROUPR",
      offset: 0x0080,
      access: "rw",
      count: 32,
      doc: "Interrupt group, 1 bit per INTID (1 = Group 1)",
    },
    {
      name: "GICD_ISENABLER",
      offset: 0x0100,
      access: "rw",
      count: 32,
      doc: "Set-enable, write 1 to set",
    },
    {
      name: "GICD_ICENABLER",
      offset: 0x0180,
      access: "rw",
      count: 32,
      doc: "Clear-enable, write 1 to clear",
    },
    {
      name: "GICD_ISPENDR",
      offset: 0x0200,
      access: "rw",
      count: 32,
      doc: "Set-pending: reads latch OR (level line AND level-sensitive)",
    },
    {
      name: "GICD_ICPENDR",
      offset: 0x0280,
      access: "rw",
      count: 32,
      doc: "Clear-pending: clears the latch, not a high level line",
    },
    { name: "GICD_ISACTIVER", offset: 0x0300, access: "rw", count: 32, doc: "Set-active" },
    { name: "GICD_ICACTIVER", offset: 0x0380, access: "rw", count: 32, doc: "Clear-active" },
    {
      name: "GICD_IPRIORITYR",
      offset: 0x0400,
      access: "rw",
      count: 1020,
      width: 1,
      doc: "Priority, 1 byte per INTID, 0 = highest",
    },
    {
      name: "GICD_ITARGETSR",
      offset: 0x0800,
      access: "rw",
      count: 1020,
      width: 1,
      doc: "Targets: RAZ/WI with affinity routing",
    },
    {
      name: "GICD_ICFGR",
      offset: 0x0c00,
      access: "rw",
      count: 64,
      doc: "Configuration, 2 bits per INTID: bit 2k+1 = 1 edge, 0 level",
    },
    {
      name: "GICD_IGRPMODR",
      offset: 0x0d00,
      access: "rw",
      count: 32,
      doc: "Group modifier: RAZ/WI with DS = 1",
    },
    {
      name: "GICD_NSACR",
      offset: 0x0e00,
      access: "rw",
      count: 64,
      doc: "Non-secure access control: RAZ/WI with DS = 1",
    },
    {
      name: "GICD_SGIR",
      offset: 0x0f00,
      access: "wo",
      doc: "Legacy SGI generation: RES0 with affinity routing",
    },
    {
      name: "GICD_CPENDSGIR",
      offset: 0x0f10,
      access: "rw",
      count: 16,
      width: 1,
      doc: "SGI clear-pending: RAZ/WI with affinity routing",
    },
    {
      name: "GICD_SPENDSGIR",
      offset: 0x0f20,
      access: "rw",
      count: 16,
      width: 1,
      doc: "SGI set-pending: RAZ/WI with affinity routing",
    },
    {
      name: "GICD_IROUTER",
      offset: 0x6100,
      access: "rw",
      count: 2 * (1020 - GIC_INTERNAL),
      doc: "64-bit SPI routing, one per INTID 32..1019, as low word then high word",
    },
    ...gicIdRegisters("GICD", GICD_PIDR0),
  ];
}

export type GicrRegisterName =
  | "GICR_CTLR"
  | "GICR_IIDR"
  | "GICR_TYPER"
  | "GICR_TYPER_HI"
  | "GICR_STATUSR"
  | "GICR_WAKER"
  | "GICR_IGROUPR0"
  | "GICR_ISENABLER0"
  | "GICR_ICENABLER0"
  | "GICR_ISPENDR0"
  | "GICR_ICPENDR0"
  | "GICR_ISACTIVER0"
  | "GICR_ICACTIVER0"
  | "GICR_IPRIORITYR"
  | "GICR_ICFGR0"
  | "GICR_ICFGR1"
  | "GICR_IGRPMODR0"
  | "GICR_NSACR"
  | IdRegisterName<"GICR">;

/** SGIs are always edge-triggered: ICFGR0 reads 0b10 for each of INTIDs 0..15. */
const GICR_ICFGR0_VALUE = 0xaaaaaaaa;

/** CPU 0's Redistributor (window 1): RD_base frame, then SGI_base frame at +64 KiB. */
export const gicrRegisters: readonly RegisterSpec<GicrRegisterName>[] = [
  {
    name: "GICR_CTLR",
    offset: 0x0000,
    access: "rw",
    reset: 0,
    doc: "Redistributor control: no LPIs, no DPG, RWP always 0",
  },
  {
    name: "GICR_IIDR",
    offset: 0x0004,
    access: "ro",
    reset: GIC_IIDR,
    doc: "Implementer identification",
  },
  {
    name: "GICR_TYPER",
    offset: 0x0008,
    access: "ro",
    reset: GICR_TYPER_LOW,
    doc: "Type, bits [31:0] of 64: Last = 1, Processor_Number = 0, CommonLPIAff = 1",
  },
  {
    name: "GICR_TYPER_HI",
    offset: 0x000c,
    access: "ro",
    reset: 0,
    doc: "Type, bits [63:32]: Affinity_Value of the PE, 0.0.0.0 for CPU 0",
  },
  {
    name: "GICR_STATUSR",
    offset: 0x0010,
    access: "rw",
    reset: 0,
    doc: "Error reporting: RAZ/WI (not implemented)",
  },
  {
    name: "GICR_WAKER",
    offset: 0x0014,
    access: "rw",
    reset: GICR_WAKER_ProcessorSleep | GICR_WAKER_ChildrenAsleep,
    doc: "Power management: ProcessorSleep, ChildrenAsleep follows it",
  },
  ...gicIdRegisters("GICR", GICR_PIDR0),
  {
    name: "GICR_IGROUPR0",
    offset: GICR_SGI_BASE + 0x0080,
    access: "rw",
    reset: 0,
    doc: "SGI/PPI group",
  },
  {
    name: "GICR_ISENABLER0",
    offset: GICR_SGI_BASE + 0x0100,
    access: "rw",
    reset: 0,
    doc: "SGI/PPI set-enable",
  },
  {
    name: "GICR_ICENABLER0",
    offset: GICR_SGI_BASE + 0x0180,
    access: "rw",
    reset: 0,
    doc: "SGI/PPI clear-enable",
  },
  {
    name: "GICR_ISPENDR0",
    offset: GICR_SGI_BASE + 0x0200,
    access: "rw",
    reset: 0,
    doc: "SGI/PPI set-pending",
  },
  {
    name: "GICR_ICPENDR0",
    offset: GICR_SGI_BASE + 0x0280,
    access: "rw",
    reset: 0,
    doc: "SGI/PPI clear-pending",
  },
  {
    name: "GICR_ISACTIVER0",
    offset: GICR_SGI_BASE + 0x0300,
    access: "rw",
    reset: 0,
    doc: "SGI/PPI set-active",
  },
  {
    name: "GICR_ICACTIVER0",
    offset: GICR_SGI_BASE + 0x0380,
    access: "rw",
    reset: 0,
    doc: "SGI/PPI clear-active",
  },
  {
    name: "GICR_IPRIORITYR",
    offset: GICR_SGI_BASE + 0x0400,
    access: "rw",
    count: 32,
    width: 1,
    doc: "SGI/PPI priority, 1 byte per INTID",
  },
  {
    name: "GICR_ICFGR0",
    offset: GICR_SGI_BASE + 0x0c00,
    access: "ro",
    reset: GICR_ICFGR0_VALUE,
    doc: "SGI configuration: always edge",
  },
  {
    name: "GICR_ICFGR1",
    offset: GICR_SGI_BASE + 0x0c04,
    access: "rw",
    reset: 0,
    doc: "PPI configuration: bit 2k+1 = 1 edge",
  },
  {
    name: "GICR_IGRPMODR0",
    offset: GICR_SGI_BASE + 0x0d00,
    access: "rw",
    reset: 0,
    doc: "SGI/PPI group modifier: RAZ/WI with DS = 1",
  },
  {
    name: "GICR_NSACR",
    offset: GICR_SGI_BASE + 0x0e00,
    access: "rw",
    reset: 0,
    doc: "SGI Non-secure access: RAZ/WI with DS = 1",
  },
];

// ---------------------------------------------------------------------------------------------
// Bit helpers

/** Bits 2k+1 of a 32-bit ICFGR word, gathered into bits k (16 INTIDs per word). */
function icfgrToEdgeBits(value: number): number {
  let bits = 0;
  for (let k = 0; k < 16; k++) if ((value >>> (2 * k + 1)) & 1) bits |= 1 << k;
  return bits;
}

/** The inverse: 16 edge bits spread to the odd bits of an ICFGR word. */
function edgeBitsToIcfgr(bits: number): number {
  let value = 0;
  for (let k = 0; k < 16; k++) if ((bits >>> k) & 1) value |= 1 << (2 * k + 1);
  return value >>> 0;
}

function lowestSetBit(word: number): number {
  return 31 - Math.clz32(word & -word);
}

const hex = (n: number): string => `0x${n.toString(16)}`;

// ---------------------------------------------------------------------------------------------
// The CPU interface

export type IrqChangeListener = (asserted: boolean) => void;

/**
 * The ICC_* system registers of the one PE, as the kernel model uses them. Every method names
 * the register it stands for; reads and writes have the architectural side effects.
 */
export interface GicV3CpuInterface {
  /** ICC_IAR1_EL1: acknowledge the highest-priority signalled Group 1 interrupt, or 1023. */
  iar1(): number;
  /** ICC_EOIR1_EL1: priority drop; also deactivation while EOImode = 0. */
  eoir1(intid: number): void;
  /** ICC_DIR_EL1: deactivation, when EOImode = 1. */
  dir(intid: number): void;
  /** ICC_HPPIR1_EL1: the highest-priority pending Group 1 INTID, whatever PMR says, or 1023. */
  hppir1(): number;
  /** ICC_RPR_EL1: the running priority, 0xFF when idle. */
  rpr(): number;
  /** ICC_SGI1R_EL1: generate a Group 1 SGI; only this PE (affinity 0.0.0.0) can be targeted. */
  sgi1r(value: bigint): void;
  /** ICC_PMR_EL1: interrupts with priority >= PMR are masked; reset 0 masks everything. */
  pmr: number;
  /** ICC_IGRPEN1_EL1: bit 0 enables Group 1 at the CPU interface. */
  igrpen1: number;
  /** ICC_CTLR_EL1: CBPR [0] and EOImode [1] are writable; PRIbits, IDbits, A3V read-only. */
  ctlr: number;
  /** ICC_BPR1_EL1: binary point for Group 1 preemption; writes below the minimum (3) clamp. */
  bpr1: number;
  /** ICC_AP1R0_EL1: Group 1 active priorities, one bit per preemption level. */
  ap1r0: number;
  /** ICC_SRE_EL1: SRE, DFB, DIB are RAO/WI (no memory-mapped CPU interface). */
  sre: number;
  /** The PE's IRQ input. */
  readonly irqAsserted: boolean;
  /** Calls `listener` whenever `irqAsserted` changes; returns an unsubscribe function. */
  onIrqChange(listener: IrqChangeListener): () => void;
}

// ---------------------------------------------------------------------------------------------
// The GIC

export interface GicV3Options {
  /** Number of SPIs, a multiple of 32 up to 960; QEMU `virt` has 256 (INTIDs 32..287). */
  readonly spiCount?: number;
}

interface PendingInterrupt {
  readonly intid: number;
  readonly priority: number;
}

export class GicV3 extends Device implements IrqSink {
  readonly spiCount: number;
  /** INTIDs 0..numIrq-1 exist: SGIs, PPIs, then the SPIs. */
  readonly numIrq: number;
  readonly distributorRegisters: RegisterMap<GicdRegisterName>;
  readonly redistributorRegisters: RegisterMap<GicrRegisterName>;
  readonly cpu: GicV3CpuInterface;

  private readonly words: number;
  // Per-INTID state as bitmaps, word 0 = the Redistributor's SGIs and PPIs.
  private readonly group: Uint32Array;
  private readonly enabled: Uint32Array;
  /** The pending latch: set by edges, ISPENDR and SGIs, cleared by acknowledge and ICPENDR. */
  private readonly latch: Uint32Array;
  private readonly active: Uint32Array;
  private readonly edge: Uint32Array;
  /** Input line levels: wires, not registers, so reset leaves them alone. */
  private readonly level: Uint32Array;
  private readonly priority: Uint8Array;
  private readonly irouterLow: Uint32Array;
  private readonly irouterHigh: Uint32Array;
  private gicdCtlr = 0;
  private gicrWaker = 0;

  // CPU interface state.
  private iccPmr = 0;
  private iccIgrpen1 = 0;
  private iccCtlr = ICC_CTLR_RESET;
  private iccBpr0 = MIN_BPR0;
  private iccBpr1 = MIN_BPR1;
  private iccAp1r0 = 0;

  private irqLevel = false;
  private reportedLevel = false;
  private notifying = false;
  private readonly listeners: IrqChangeListener[] = [];

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: GicV3Options = {}) {
    super(ctx, id, { irqNames: [], busMaster: false });
    const spiCount = options.spiCount ?? GICV3_DEFAULT_SPI_COUNT;
    if (
      !Number.isInteger(spiCount) ||
      spiCount <= 0 ||
      spiCount % 32 !== 0 ||
      spiCount > MAX_SPI_COUNT
    ) {
      throw new RangeError(
        `${id.name}: spiCount must be a multiple of 32 in 32..${MAX_SPI_COUNT}, got ${spiCount}`,
      );
    }
    this.spiCount = spiCount;
    this.numIrq = GIC_INTERNAL + spiCount;
    this.words = this.numIrq / 32;
    this.distributorRegisters = new RegisterMap(gicdRegisters(spiCount));
    this.redistributorRegisters = new RegisterMap(gicrRegisters);
    this.group = new Uint32Array(this.words);
    this.enabled = new Uint32Array(this.words);
    this.latch = new Uint32Array(this.words);
    this.active = new Uint32Array(this.words);
    this.edge = new Uint32Array(this.words);
    this.level = new Uint32Array(this.words);
    this.priority = new Uint8Array(this.numIrq);
    this.irouterLow = new Uint32Array(this.numIrq);
    this.irouterHigh = new Uint32Array(this.numIrq);
    this.cpu = this.makeCpuInterface();
    this.reset();
  }

  reset(): void {
    this.gicdCtlr = GICD_CTLR_DS | GICD_CTLR_ARE;
    this.gicrWaker = GICR_WAKER_ProcessorSleep | GICR_WAKER_ChildrenAsleep;
    this.group.fill(0);
    this.enabled.fill(0);
    this.latch.fill(0);
    this.active.fill(0);
    this.edge.fill(0);
    // SGIs are edge-triggered by definition; PPIs and SPIs reset to level (QEMU).
    this.edge[0] = 0x0000ffff;
    this.priority.fill(0);
    this.irouterLow.fill(0);
    this.irouterHigh.fill(0);
    this.iccPmr = 0;
    this.iccIgrpen1 = 0;
    this.iccCtlr = ICC_CTLR_RESET;
    this.iccBpr0 = MIN_BPR0;
    this.iccBpr1 = MIN_BPR1;
    this.iccAp1r0 = 0;
    this.update();
  }

  // -------------------------------------------------------------------------------------------
  // Interrupt inputs

  /** True when `setIrqLevel` accepts `intid`: a PPI or an implemented SPI. */
  hasInput(intid: number): boolean {
    return Number.isInteger(intid) && intid >= 16 && intid < this.numIrq;
  }

  /**
   * A device's interrupt line changed. A 0→1 transition latches pending for an edge-triggered
   * interrupt; a level-triggered one is pending for as long as the line is high.
   */
  setIrqLevel(intid: number, level: boolean): void {
    if (!this.hasInput(intid)) {
      throw new RangeError(
        `${this.name}: no interrupt input for INTID ${intid} (PPIs 16..31, SPIs 32..${this.numIrq - 1})`,
      );
    }
    const w = intid >>> 5;
    const bit = 1 << (intid & 31);
    const was = (this.level[w]! & bit) !== 0;
    if (was === level) return;
    if (level) {
      this.level[w]! |= bit;
      if (this.edge[w]! & bit) this.latch[w]! |= bit;
    } else {
      this.level[w]! &= ~bit;
    }
    this.update();
  }

  // -------------------------------------------------------------------------------------------
  // The one place that decides the CPU's IRQ input

  /**
   * Recomputes the PE's IRQ input from all state and tells the listeners when it changed. A
   * listener may call back into the GIC (acknowledge from inside the "interrupt"); nested
   * changes are delivered after the current round, never out of order.
   */
  update(): void {
    const hppi = this.highestPending();
    this.irqLevel = hppi !== null && this.canSignal(hppi);
    if (this.notifying) return;
    this.notifying = true;
    try {
      while (this.reportedLevel !== this.irqLevel) {
        const level = this.irqLevel;
        this.reportedLevel = level;
        this.note("cpu-irq", { level });
        for (const listener of [...this.listeners]) {
          if (this.irqLevel !== level) break;
          listener(level);
        }
      }
    } finally {
      this.notifying = false;
    }
  }

  /**
   * The highest-priority interrupt the Redistributor would forward: enabled, pending, not
   * active, Group 1 with the group enabled in GICD_CTLR and ICC_IGRPEN1_EL1, routed to this PE.
   * Ties go to the lowest INTID (as QEMU picks).
   */
  private highestPending(): PendingInterrupt | null {
    if (!(this.gicdCtlr & GICD_CTLR_EnableGrp1) || !(this.iccIgrpen1 & 1)) return null;
    if (this.gicrWaker & GICR_WAKER_ChildrenAsleep) return null;
    let best: PendingInterrupt | null = null;
    for (let w = 0; w < this.words; w++) {
      let candidates = this.enabled[w]! & this.pendingWord(w) & ~this.active[w]! & this.group[w]!;
      while (candidates !== 0) {
        const bit = lowestSetBit(candidates);
        candidates &= candidates - 1;
        const intid = w * 32 + bit;
        if (intid >= GIC_INTERNAL && !this.routedHere(intid)) continue;
        const priority = this.priority[intid]!;
        if (best === null || priority < best.priority) best = { intid, priority };
      }
    }
    return best;
  }

  /** CanSignalInterrupt: below the priority mask and able to preempt the running priority. */
  private canSignal(p: PendingInterrupt): boolean {
    if (p.priority >= this.iccPmr) return false;
    const running = this.runningPriority();
    if (running === IDLE_PRIORITY) return true;
    const mask = this.groupPriorityMask();
    return (p.priority & mask) < (running & mask);
  }

  /** Latch, plus the line for level-sensitive interrupts. */
  private pendingWord(w: number): number {
    return (this.latch[w]! | (this.level[w]! & ~this.edge[w]!)) >>> 0;
  }

  /** With one PE (affinity 0.0.0.0) and no 1-of-N, only IROUTER = 0 reaches it. */
  private routedHere(intid: number): boolean {
    return this.irouterLow[intid] === 0 && this.irouterHigh[intid] === 0;
  }

  /** GroupBits() for Group 1: which bits of a priority count for preemption. */
  private groupPriorityMask(): number {
    const bits = this.iccCtlr & ICC_CTLR_EL1_CBPR ? this.iccBpr0 + 1 : this.iccBpr1;
    return (0xff << bits) & 0xff;
  }

  private runningPriority(): number {
    if (this.iccAp1r0 === 0) return IDLE_PRIORITY;
    return lowestSetBit(this.iccAp1r0) << (8 - PRIORITY_BITS);
  }

  private isActive(intid: number): boolean {
    return (this.active[intid >>> 5]! & (1 << (intid & 31))) !== 0;
  }

  // -------------------------------------------------------------------------------------------
  // CPU interface behaviour

  private acknowledge(): number {
    const hppi = this.highestPending();
    if (hppi === null || !this.canSignal(hppi)) return INTID_SPURIOUS;
    const { intid, priority } = hppi;
    const level = (priority & this.groupPriorityMask()) >>> (8 - PRIORITY_BITS);
    this.iccAp1r0 = (this.iccAp1r0 | (1 << level)) >>> 0;
    const w = intid >>> 5;
    const bit = 1 << (intid & 31);
    this.active[w]! |= bit;
    this.latch[w]! &= ~bit;
    this.note("ack", { intid });
    this.update();
    return intid;
  }

  private endOfInterrupt(value: number): void {
    const intid = value & 0xffffff;
    if (intid >= INTID_SPECIAL_FIRST && intid <= INTID_SPURIOUS) return;
    if (intid >= this.numIrq) {
      this.guestError(`ICC_EOIR1_EL1: INTID ${intid} does not exist; ignored`);
      return;
    }
    if (this.iccAp1r0 === 0) {
      this.guestError(`ICC_EOIR1_EL1: INTID ${intid} with no Group 1 interrupt active; ignored`);
      return;
    }
    // Priority drop clears the highest active priority, whatever INTID was written (the
    // architecture leaves a mismatch UNPREDICTABLE; QEMU and this model drop anyway).
    this.iccAp1r0 = (this.iccAp1r0 & (this.iccAp1r0 - 1)) >>> 0;
    this.note("eoi", { intid });
    if (!(this.iccCtlr & ICC_CTLR_EL1_EOImode)) this.deactivate(intid, "ICC_EOIR1_EL1");
    this.update();
  }

  private deactivateInterrupt(value: number): void {
    const intid = value & 0xffffff;
    if (intid >= INTID_SPECIAL_FIRST && intid <= INTID_SPURIOUS) return;
    if (intid >= this.numIrq) {
      this.guestError(`ICC_DIR_EL1: INTID ${intid} does not exist; ignored`);
      return;
    }
    if (!(this.iccCtlr & ICC_CTLR_EL1_EOImode)) {
      this.guestError(`ICC_DIR_EL1: INTID ${intid} written while EOImode = 0; ignored`);
      return;
    }
    this.note("dir", { intid });
    this.deactivate(intid, "ICC_DIR_EL1");
    this.update();
  }

  private deactivate(intid: number, register: string): void {
    if (!this.isActive(intid)) {
      this.guestError(`${register}: INTID ${intid} is not active`);
      return;
    }
    this.active[intid >>> 5]! &= ~(1 << (intid & 31));
  }

  private highestPendingId(): number {
    const hppi = this.highestPending();
    return hppi === null ? INTID_SPURIOUS : hppi.intid;
  }

  private generateSgi(value: bigint): void {
    const intid = Number((value >> 24n) & 0xfn);
    const targetList = Number(value & 0xffffn);
    const aff1 = Number((value >> 16n) & 0xffn);
    const aff2 = Number((value >> 32n) & 0xffn);
    const irm = (value >> 40n) & 1n;
    const rs = Number((value >> 44n) & 0xfn);
    const aff3 = Number((value >> 48n) & 0xffn);
    // IRM = 1 means "every PE but me": there is none. Otherwise only Aff0 = 0 is this PE.
    if (irm === 1n || aff1 !== 0 || aff2 !== 0 || aff3 !== 0 || rs !== 0) return;
    if (!(targetList & 1)) return;
    this.latch[0]! |= 1 << intid;
    this.update();
  }

  private makeCpuInterface(): GicV3CpuInterface {
    const gic = this;
    return {
      iar1: () => gic.acknowledge(),
      eoir1: (intid: number) => gic.endOfInterrupt(intid),
      dir: (intid: number) => gic.deactivateInterrupt(intid),
      hppir1: () => gic.highestPendingId(),
      rpr: () => gic.runningPriority(),
      sgi1r: (value: bigint) => gic.generateSgi(value),
      get pmr() {
        return gic.iccPmr;
      },
      set pmr(value: number) {
        gic.iccPmr = value & PRIORITY_MASK;
        gic.update();
      },
      get igrpen1() {
        return gic.iccIgrpen1;
      },
      set igrpen1(value: number) {
        gic.iccIgrpen1 = value & 1;
        gic.update();
      },
      get ctlr() {
        return gic.iccCtlr;
      },
      set ctlr(value: number) {
        gic.iccCtlr = ((gic.iccCtlr & ~ICC_CTLR_WRITABLE) | (value & ICC_CTLR_WRITABLE)) >>> 0;
        gic.update();
      },
      get bpr1() {
        // With CBPR set, BPR1 reads as BPR0 + 1 (saturating) and ignores writes.
        if (gic.iccCtlr & ICC_CTLR_EL1_CBPR) return Math.min(gic.iccBpr0 + 1, 7);
        return gic.iccBpr1;
      },
      set bpr1(value: number) {
        if (gic.iccCtlr & ICC_CTLR_EL1_CBPR) return;
        gic.iccBpr1 = Math.max(value & 7, MIN_BPR1);
        gic.update();
      },
      get ap1r0() {
        return gic.iccAp1r0;
      },
      set ap1r0(value: number) {
        gic.iccAp1r0 = value >>> 0;
        gic.update();
      },
      get sre() {
        return 0x7;
      },
      set sre(_value: number) {},
      get irqAsserted() {
        return gic.irqLevel;
      },
      onIrqChange(listener: IrqChangeListener) {
        gic.listeners.push(listener);
        return () => {
          const i = gic.listeners.indexOf(listener);
          if (i >= 0) gic.listeners.splice(i, 1);
        };
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // MMIO

  override mmioRead(offset: number, size: AccessSize, window: number): number {
    const frame = this.frame(offset, window, "read", size);
    if (!frame) return 0;
    const reg = frame.decode(offset);
    if (!reg) {
      this.guestError(
        `${this.frameName(window)}: ${size}-byte read of reserved offset ${hex(offset)}`,
      );
      return 0;
    }
    const width = reg.spec.width ?? 4;
    if (size === 1 && width === 1) return this.readByte(reg, window);
    if (size === 4 && (offset & 3) === 0) return this.readRegister(offset, window);
    this.guestError(
      `${reg.spec.name}: ${size}-byte read at ${hex(offset)} not supported; reads as 0`,
    );
    return 0;
  }

  override mmioWrite(offset: number, size: AccessSize, value: number, window: number): undefined {
    const frame = this.frame(offset, window, "write", size);
    if (!frame) return undefined;
    const reg = frame.decode(offset);
    if (!reg) {
      this.guestError(
        `${this.frameName(window)}: ${size}-byte write of reserved offset ${hex(offset)} ignored`,
      );
      return undefined;
    }
    const width = reg.spec.width ?? 4;
    if (size === 1 && width === 1) {
      this.writeByte(reg, value & 0xff, window);
      this.update();
    } else if (size === 4 && (offset & 3) === 0) {
      this.writeRegister(offset, value >>> 0, window);
    } else {
      this.guestError(
        `${reg.spec.name}: ${size}-byte write at ${hex(offset)} not supported; ignored`,
      );
    }
    return undefined;
  }

  private frame(
    offset: number,
    window: number,
    what: string,
    size: number,
  ): RegisterMap<GicdRegisterName> | RegisterMap<GicrRegisterName> | null {
    if (window === 0) return this.distributorRegisters;
    if (window === 1) {
      if (offset < GICR_FRAME_SIZE) return this.redistributorRegisters;
      this.guestError(
        `GICR: ${size}-byte ${what} at ${hex(offset)}: no Redistributor in this part of the region (one CPU)`,
      );
      return null;
    }
    this.guestError(
      `${size}-byte ${what} in window ${window}: the GIC has windows 0 (GICD) and 1 (GICR)`,
    );
    return null;
  }

  private frameName(window: number): string {
    return window === 0 ? "GICD" : "GICR";
  }

  protected readRegister(offset: number, window: number): number {
    if (window === 0) {
      const reg = this.distributorRegisters.decode(offset);
      return reg ? this.readDistributor(reg, offset) : 0;
    }
    const reg = this.redistributorRegisters.decode(offset);
    return reg ? this.readRedistributor(reg, offset) : 0;
  }

  protected writeRegister(offset: number, value: number, window: number): void {
    if (window === 0) {
      const reg = this.distributorRegisters.decode(offset);
      if (reg) this.writeDistributor(reg, offset, value);
    } else {
      const reg = this.redistributorRegisters.decode(offset);
      if (reg) this.writeRedistributor(reg, offset, value);
    }
    this.update();
  }

  /** A word access to a byte-wide bank: four consecutive byte registers, lowest in bits [7:0]. */
  private readBytesAsWord(offset: number, window: number): number {
    const map = window === 0 ? this.distributorRegisters : this.redistributorRegisters;
    let value = 0;
    for (let k = 3; k >= 0; k--) {
      const reg = map.decode(offset + k);
      value = (value << 8) | (reg ? this.readByte(reg, window) : 0);
    }
    return value >>> 0;
  }

  private writeWordAsBytes(offset: number, value: number, window: number): void {
    const map = window === 0 ? this.distributorRegisters : this.redistributorRegisters;
    for (let k = 0; k < 4; k++) {
      const reg = map.decode(offset + k);
      if (reg) this.writeByte(reg, (value >>> (8 * k)) & 0xff, window);
    }
  }

  private readByte(reg: DecodedRegister<string>, window: number): number {
    const name = reg.spec.name;
    if (name === "GICD_IPRIORITYR") {
      return this.isSpi(reg.index) ? this.priority[reg.index]! : 0;
    }
    if (name === "GICR_IPRIORITYR" && window === 1) return this.priority[reg.index]!;
    // ITARGETSR, CPENDSGIR, SPENDSGIR: RAZ/WI under affinity routing.
    return 0;
  }

  private writeByte(reg: DecodedRegister<string>, value: number, window: number): void {
    const name = reg.spec.name;
    if (name === "GICD_IPRIORITYR") {
      if (this.isSpi(reg.index)) this.priority[reg.index] = value;
    } else if (name === "GICR_IPRIORITYR" && window === 1) {
      this.priority[reg.index] = value;
    }
  }

  private isSpi(intid: number): boolean {
    return intid >= GIC_INTERNAL && intid < this.numIrq;
  }

  /** Bitmap word `n` of a GICD bank: RAZ for INTIDs 0..31 (Redistributor's) and beyond N. */
  private spiWord(bitmap: Uint32Array, n: number): number {
    return n === 0 || n >= this.words ? 0 : bitmap[n]! >>> 0;
  }

  private readDistributor(reg: DecodedRegister<GicdRegisterName>, offset: number): number {
    const n = reg.index;
    switch (reg.spec.name) {
      case "GICD_CTLR":
        return this.gicdCtlr;
      case "GICD_IGROUPR":
        return this.spiWord(this.group, n);
      case "GICD_ISENABLER":
      case "GICD_ICENABLER":
        return this.spiWord(this.enabled, n);
      case "GICD_ISPENDR":
      case "GICD_ICPENDR":
        return n === 0 || n >= this.words ? 0 : this.pendingWord(n);
      case "GICD_ISACTIVER":
      case "GICD_ICACTIVER":
        return this.spiWord(this.active, n);
      case "GICD_IPRIORITYR":
      case "GICD_ITARGETSR":
      case "GICD_CPENDSGIR":
      case "GICD_SPENDSGIR":
        return this.readBytesAsWord(offset, 0);
      case "GICD_ICFGR": {
        const word = this.spiWord(this.edge, n >>> 1);
        return edgeBitsToIcfgr(n & 1 ? word >>> 16 : word & 0xffff);
      }
      case "GICD_IROUTER": {
        const intid = GIC_INTERNAL + (n >>> 1);
        if (!this.isSpi(intid)) return 0;
        return n & 1 ? this.irouterHigh[intid]! : this.irouterLow[intid]!;
      }
      case "GICD_SGIR":
        this.guestError("GICD_SGIR: read of a write-only register; reads as 0");
        return 0;
      case "GICD_STATUSR":
      case "GICD_IGRPMODR":
      case "GICD_NSACR":
        return 0;
      default:
        // Read-only constants: TYPER, TYPER2, IIDR and the ID block.
        return reg.spec.reset ?? 0;
    }
  }

  private writeDistributor(
    reg: DecodedRegister<GicdRegisterName>,
    offset: number,
    value: number,
  ): void {
    const n = reg.index;
    const spiBank = n > 0 && n < this.words;
    switch (reg.spec.name) {
      case "GICD_CTLR": {
        // DS = 1: only the two group enables are writable; ARE and DS are RAO/WI.
        const writable = GICD_CTLR_EnableGrp0 | GICD_CTLR_EnableGrp1;
        this.gicdCtlr = ((this.gicdCtlr & ~writable) | (value & writable)) >>> 0;
        return;
      }
      case "GICD_IGROUPR":
        if (spiBank) this.group[n] = value;
        return;
      case "GICD_ISENABLER":
        if (spiBank) this.enabled[n]! |= value;
        return;
      case "GICD_ICENABLER":
        if (spiBank) this.enabled[n]! &= ~value;
        return;
      case "GICD_ISPENDR":
        if (spiBank) this.latch[n]! |= value;
        return;
      case "GICD_ICPENDR":
        if (spiBank) this.latch[n]! &= ~value;
        return;
      case "GICD_ISACTIVER":
        if (spiBank) this.active[n]! |= value;
        return;
      case "GICD_ICACTIVER":
        if (spiBank) this.active[n]! &= ~value;
        return;
      case "GICD_IPRIORITYR":
      case "GICD_ITARGETSR":
      case "GICD_CPENDSGIR":
      case "GICD_SPENDSGIR":
        this.writeWordAsBytes(offset, value, 0);
        return;
      case "GICD_ICFGR": {
        const w = n >>> 1;
        if (w === 0 || w >= this.words) return;
        const bits = icfgrToEdgeBits(value);
        const old = this.edge[w]!;
        this.edge[w] = n & 1 ? (old & 0x0000ffff) | (bits << 16) : (old & 0xffff0000) | bits;
        return;
      }
      case "GICD_IROUTER": {
        const intid = GIC_INTERNAL + (n >>> 1);
        if (!this.isSpi(intid)) return;
        // Aff3 in the high word; Aff2.Aff1.Aff0 in the low word. IRM is RAZ/WI (No1N = 1)
        // and the rest is RES0.
        if (n & 1) this.irouterHigh[intid] = value & 0xff;
        else this.irouterLow[intid] = value & 0x00ffffff;
        return;
      }
      case "GICD_STATUSR":
      case "GICD_IGRPMODR":
      case "GICD_NSACR":
      case "GICD_SGIR":
        return;
      default:
        this.guestError(`${reg.spec.name}: write to a read-only register ignored`);
    }
  }

  private readRedistributor(reg: DecodedRegister<GicrRegisterName>, offset: number): number {
    switch (reg.spec.name) {
      case "GICR_WAKER":
        return this.gicrWaker;
      case "GICR_IGROUPR0":
        return this.group[0]! >>> 0;
      case "GICR_ISENABLER0":
      case "GICR_ICENABLER0":
        return this.enabled[0]! >>> 0;
      case "GICR_ISPENDR0":
      case "GICR_ICPENDR0":
        return this.pendingWord(0);
      case "GICR_ISACTIVER0":
      case "GICR_ICACTIVER0":
        return this.active[0]! >>> 0;
      case "GICR_IPRIORITYR":
        return this.readBytesAsWord(offset, 1);
      case "GICR_ICFGR1":
        return edgeBitsToIcfgr(this.edge[0]! >>> 16);
      case "GICR_CTLR":
      case "GICR_STATUSR":
      case "GICR_IGRPMODR0":
      case "GICR_NSACR":
        return 0;
      default:
        // IIDR, ICFGR0 and the ID block.
        return reg.spec.reset ?? 0;
    }
  }

  private writeRedistributor(
    reg: DecodedRegister<GicrRegisterName>,
    offset: number,
    value: number,
  ): void {
    switch (reg.spec.name) {
      case "GICR_WAKER":
        // The handshake completes at once: ChildrenAsleep follows ProcessorSleep.
        this.gicrWaker =
          value & GICR_WAKER_ProcessorSleep
            ? GICR_WAKER_ProcessorSleep | GICR_WAKER_ChildrenAsleep
            : 0;
        return;
      case "GICR_IGROUPR0":
        this.group[0] = value;
        return;
      case "GICR_ISENABLER0":
        this.enabled[0]! |= value;
        return;
      case "GICR_ICENABLER0":
        this.enabled[0]! &= ~value;
        return;
      case "GICR_ISPENDR0":
        this.latch[0]! |= value;
        return;
      case "GICR_ICPENDR0":
        this.latch[0]! &= ~value;
        return;
      case "GICR_ISACTIVER0":
        this.active[0]! |= value;
        return;
      case "GICR_ICACTIVER0":
        this.active[0]! &= ~value;
        return;
      case "GICR_IPRIORITYR":
        this.writeWordAsBytes(offset, value, 1);
        return;
      case "GICR_ICFGR1":
        this.edge[0] = (this.edge[0]! & 0x0000ffff) | (icfgrToEdgeBits(value) << 16);
        return;
      case "GICR_ICFGR0":
        // SGIs are edge-triggered by definition: the register ignores writes.
        return;
      case "GICR_CTLR":
      case "GICR_STATUSR":
      case "GICR_IGRPMODR0":
      case "GICR_NSACR":
        return;
      default:
        this.guestError(`${reg.spec.name}: write to a read-only register ignored`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Device-tree binding

function u32Property(node: DtNode, name: string): number | undefined {
  const prop = node.properties.find((p) => p.name === name);
  if (!prop || prop.value.length < 4) return undefined;
  const v = prop.value;
  return ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
}

/** A `DeviceModel` for "arm,gic-v3" with the given options (the default board uses none). */
export function makeGicV3Model(options: GicV3Options = {}): DeviceModel {
  return {
    compatible: ["arm,gic-v3"],
    description: "Arm GICv3 distributor and one redistributor, CPU interface as an API",
    create(ctx: DeviceContext, id: DeviceIdentity, node: DtNode, _tree: DeviceTree): Device {
      if (id.windows.length < 2) {
        throw new Error(
          `${id.name}: "arm,gic-v3" needs reg = <GICD>, <GICR region>; got ${id.windows.length} window(s)`,
        );
      }
      const regions = u32Property(node, "#redistributor-regions") ?? 1;
      if (regions !== 1) {
        throw new Error(
          `${id.name}: #redistributor-regions = ${regions}; only one region is modelled`,
        );
      }
      if (id.windows[1]!.size < GICR_FRAME_SIZE) {
        throw new Error(
          `${id.name}: redistributor region is smaller than one RD_base + SGI_base pair`,
        );
      }
      return new GicV3(ctx, id, options);
    },
  };
}

export const gicV3Model: DeviceModel = makeGicV3Model();
