/**
 * The GICv3 register layout as the Linux driver knows it (include/linux/irqchip/arm-gic-v3.h,
 * include/linux/irqchip/arm-gic-common.h, include/linux/irqchip/arm-gic-v3-prio.h): Distributor
 * and Redistributor offsets, the fields the driver reads and writes, and the priorities it uses.
 * Only what drivers/irqchip/irq-gic-v3.c touches on a GIC without LPIs is listed.
 */

/** Distributor (GICD) frame offsets. */
export const GICD = {
  CTLR: 0x0000,
  TYPER: 0x0004,
  IIDR: 0x0008,
  TYPER2: 0x000c,
  IGROUPR: 0x0080,
  ISENABLER: 0x0100,
  ICENABLER: 0x0180,
  ISPENDR: 0x0200,
  ICPENDR: 0x0280,
  ISACTIVER: 0x0300,
  ICACTIVER: 0x0380,
  IPRIORITYR: 0x0400,
  ICFGR: 0x0c00,
  IROUTER: 0x6000,
  PIDR2: 0xffe8,
} as const;

/** Redistributor RD_base frame offsets; the SGI_base frame follows at +64 KiB. */
export const GICR = {
  CTLR: 0x0000,
  IIDR: 0x0004,
  TYPER: 0x0008,
  WAKER: 0x0014,
  PIDR2: 0xffe8,
  SGI_BASE: 0x1_0000,
  /** One Redistributor (RD_base + SGI_base) without VLPIs. */
  FRAME_SIZE: 0x2_0000,
} as const;

/** SGI_base frame offsets: the Distributor's banked registers for INTIDs 0–31. */
export const GICR_SGI = {
  IGROUPR0: GICD.IGROUPR,
  ISENABLER0: GICD.ISENABLER,
  ICENABLER0: GICD.ICENABLER,
  ICACTIVER0: GICD.ICACTIVER,
  IPRIORITYR0: GICD.IPRIORITYR,
  ICFGR0: GICD.ICFGR,
} as const;

export const GICD_CTLR_RWP = 1 << 31;
export const GICD_CTLR_nASSGIreq = 1 << 8;
export const GICD_CTLR_DS = 1 << 6;
export const GICD_CTLR_ARE_NS = 1 << 4;
export const GICD_CTLR_ENABLE_G1A = 1 << 1;
export const GICD_CTLR_ENABLE_G1 = 1 << 0;

export const GICD_TYPER_RSS = 1 << 26;
export const GICD_TYPER_LPIS = 1 << 17;
export const GICD_TYPER_MBIS = 1 << 16;
export const GICD_TYPER_ESPI = 1 << 8;
export const GICD_TYPER2_nASSGIcap = 1 << 8;

/** GICD_TYPER_SPIS(): interrupt lines, INTIDs 0–31 included. */
export function gicdTyperSpis(typer: number): number {
  return ((typer & 0x1f) + 1) * 32;
}

/** GICD_TYPER_ESPIS(): extended SPIs. */
export function gicdTyperEspis(typer: number): number {
  return typer & GICD_TYPER_ESPI ? gicdTyperSpis(typer >>> 27) : 0;
}

export const GIC_PIDR2_ARCH_MASK = 0xf0;
export const GIC_PIDR2_ARCH_GICv3 = 0x30;
export const GIC_PIDR2_ARCH_GICv4 = 0x40;

export const GICR_CTLR_IR = 1 << 2;
export const GICR_CTLR_RWP = 1 << 3;
export const GICR_WAKER_ProcessorSleep = 1 << 1;
export const GICR_WAKER_ChildrenAsleep = 1 << 2;
export const GICR_TYPER_VLPIS = 1 << 1;
export const GICR_TYPER_DIRTY = 1 << 2;
export const GICR_TYPER_DirectLPIS = 1 << 3;
export const GICR_TYPER_LAST = 1 << 4;
export const GICR_TYPER_RVPEID = 1 << 7;

/** GICR_TYPER_NR_PPIS(): 16, or 48/80 with the extended PPI range (PPInum 1 or 2). */
export function gicrTyperNrPpis(typerLow: number): number {
  const ppinum = (typerLow >>> 27) & 0x1f;
  return ppinum === 1 || ppinum === 2 ? 16 + ppinum * 32 : 16;
}

export const ICC_CTLR_EL1_EOImode_drop_dir = 0 << 1;
export const ICC_CTLR_EL1_EOImode_drop = 1 << 1;
export const ICC_CTLR_EL1_PRI_BITS_SHIFT = 8;
export const ICC_CTLR_EL1_PRI_BITS_MASK = 0x7 << ICC_CTLR_EL1_PRI_BITS_SHIFT;
export const ICC_CTLR_EL1_RSS = 1 << 18;
export const ICC_CTLR_EL1_ExtRange = 1 << 19;
export const ICC_SRE_EL1_SRE = 1 << 0;

/** arm-gic-common.h: all SPIs level-triggered (ICFGR value), and the clear-all word. */
export const GICD_INT_ACTLOW_LVLTRIG = 0x0;
export const GICD_INT_EN_CLR_X32 = 0xffff_ffff;

/** arm-gic-v3-prio.h: the priority of ordinary interrupts, as the PMR/RPR see it. */
export const GICV3_PRIO_IRQ = 0xc0;
/** arm-gic-v3-prio.h: the priority of pseudo-NMIs. */
export const GICV3_PRIO_NMI = 0x80;
/** irq-gic-v3.c: DEFAULT_PMR_VALUE, written to ICC_PMR_EL1 when priority masking is off. */
export const DEFAULT_PMR_VALUE = 0xf0;

/** The special INTIDs 1020–1023 that ICC_IAR1_EL1 returns when nothing can be acknowledged. */
export function gicIrqnrIsSpecial(irqnr: number): boolean {
  return irqnr >= 1020 && irqnr <= 1023;
}

/** irq-gic-v3.c: the INTID ranges (__get_intid_range()). */
export const EPPI_BASE_INTID = 1056;
export const ESPI_BASE_INTID = 4096;
export type GicIntidRange = "SGI" | "PPI" | "SPI" | "EPPI" | "ESPI" | "LPI" | "INVALID";

export function gicIntidRange(hwirq: number): GicIntidRange {
  if (hwirq < 0) return "INVALID";
  if (hwirq <= 15) return "SGI";
  if (hwirq <= 31) return "PPI";
  if (hwirq <= 1019) return "SPI";
  if (hwirq >= EPPI_BASE_INTID && hwirq <= EPPI_BASE_INTID + 63) return "EPPI";
  if (hwirq >= ESPI_BASE_INTID && hwirq <= ESPI_BASE_INTID + 1023) return "ESPI";
  if (hwirq >= 8192 && hwirq <= 0xff_ffff) return "LPI";
  return "INVALID";
}
