/**
 * The GICv3 irqchip driver (drivers/irqchip/irq-gic-v3.c, irq-gic-common.c) for one CPU, as a
 * guest kernel booted at EL1 on QEMU's `virt` machine runs it.
 *
 * It talks to the hardware only as Linux does: the Distributor (GICD) at the node's first `reg`
 * window and the Redistributor region (GICR) at the second through MMIO on the system bus, and
 * the CPU interface through the ICC_* system registers (the SoC's `gic.cpu` API).
 *
 * Boot (gic_of_init() → gic_init_bases()): check GICD_PIDR2, read GICD_TYPER and log the SPI
 * count, create the irq domain, become the root IRQ handler, find this CPU's Redistributor, pick
 * the priorities (gic_prio_init()), program the Distributor (gic_dist_init(): every SPI Group 1,
 * level, priority 0xc0, disabled, deactivated, routed to CPU 0; then ARE and both group enables),
 * wake the Redistributor (GICR_WAKER handshake), configure SGIs/PPIs, program the CPU interface
 * (ICC_PMR_EL1 = 0xf0, BPR1 = 0, EOImode, AP1R0 = 0, IGRPEN1 = 1), and allocate the eight SGIs
 * as the IPIs (virqs 1–8).
 *
 * EOI: without EL2 (`is_hyp_mode_available()` false, the guest case) Linux uses EOImode 0: one
 * write to ICC_EOIR1_EL1 both drops the priority and deactivates, and it happens at the end of
 * handle_fasteoi_irq(). With `el2: true` the driver uses split EOI/Deactivate (EOImode 1):
 * priority drop right after the acknowledge, deactivation through ICC_DIR_EL1 in irq_eoi.
 *
 * Caveat:
 * - No LPIs, ITS, MBIs, GICv2m frames, pseudo-NMIs, ESPI/EPPI hardware, errata quirks, PPI
 *   partitions or KVM info: the hw-soc GIC has none of them (GICD_TYPER.LPIS = 0), so the
 *   `ITS …` and `using LPI property table` lines of a real virt boot do not appear.
 * - 64-bit registers (GICD_IROUTER, GICR_TYPER) are accessed as two 32-bit halves, low word
 *   first: the hw-soc GIC implements word accesses only.
 * - Register polls (RWP, GICR_WAKER.ChildrenAsleep) read once: the model's hardware changes only
 *   as virtual time passes, so a poll that fails once would fail for its whole timeout; the
 *   timeout message is then printed at once.
 * - ICC_AP0R*_EL1 are not written (the CPU-interface API has no Group 0 active-priority
 *   register; Group 0 is never forwarded by the hw-soc GIC).
 */

import { type DtNode, propU32, readReg, type Soc } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import {
  DEFAULT_PMR_VALUE,
  EPPI_BASE_INTID,
  ESPI_BASE_INTID,
  GIC_PIDR2_ARCH_GICv3,
  GIC_PIDR2_ARCH_GICv4,
  GIC_PIDR2_ARCH_MASK,
  GICD,
  GICD_CTLR_ARE_NS,
  GICD_CTLR_DS,
  GICD_CTLR_ENABLE_G1,
  GICD_CTLR_ENABLE_G1A,
  GICD_CTLR_nASSGIreq,
  GICD_CTLR_RWP,
  GICD_INT_ACTLOW_LVLTRIG,
  GICD_INT_EN_CLR_X32,
  GICD_TYPER_LPIS,
  GICD_TYPER_RSS,
  GICD_TYPER2_nASSGIcap,
  GICR,
  GICR_CTLR_IR,
  GICR_CTLR_RWP,
  GICR_SGI,
  GICR_TYPER_DIRTY,
  GICR_TYPER_DirectLPIS,
  GICR_TYPER_LAST,
  GICR_TYPER_RVPEID,
  GICR_TYPER_VLPIS,
  GICR_WAKER_ChildrenAsleep,
  GICR_WAKER_ProcessorSleep,
  GICV3_PRIO_IRQ,
  GICV3_PRIO_NMI,
  type GicIntidRange,
  gicdTyperEspis,
  gicdTyperSpis,
  gicIntidRange,
  gicIrqnrIsSpecial,
  gicrTyperNrPpis,
  ICC_CTLR_EL1_EOImode_drop,
  ICC_CTLR_EL1_EOImode_drop_dir,
  ICC_CTLR_EL1_ExtRange,
  ICC_CTLR_EL1_PRI_BITS_MASK,
  ICC_CTLR_EL1_PRI_BITS_SHIFT,
  ICC_SRE_EL1_SRE,
} from "./arm-gic-v3-regs.js";
import { irqModifyStatus } from "./chip.js";
import { handleFasteoiIrq, handlePercpuDevidIrq } from "./flow.js";
import type { IrqContext } from "./irq-context.js";
import {
  IRQ_NOPROBE,
  IRQ_TYPE_EDGE_BOTH,
  IRQ_TYPE_EDGE_RISING,
  IRQ_TYPE_LEVEL_HIGH,
  IRQ_TYPE_LEVEL_MASK,
  IRQ_TYPE_NONE,
  IRQ_TYPE_SENSE_MASK,
  IRQCHIP_MASK_ON_SUSPEND,
  IRQCHIP_SET_TYPE_MASKED,
  IRQCHIP_SKIP_SET_WAKE,
  IRQD_HANDLE_ENFORCE_IRQCTX,
  IRQD_SINGLE_TARGET,
} from "./irq-flags.js";
import type { IrqChip, IrqData, IrqDesc } from "./irqdesc.js";
import {
  type IrqDomain,
  type IrqDomainBusToken,
  type IrqDomainOps,
  type IrqDomainRegistry,
  type IrqFwspec,
  type IrqTranslation,
  irqDomainSetInfo,
  irqSetPercpuDevid,
  type NamedFlowHandler,
} from "./irqdomain.js";

/** include/linux/irqchip/arm-gic-v3.h: GIC_IRQ_TYPE_LPI, the first cell of an LPI specifier. */
export const GIC_IRQ_TYPE_LPI = 0xa110c8ed;

const SZ_64K = 0x1_0000;
const EINVAL = -22;
const EPERM = -1;
const ENODEV = -19;
const FILE = "drivers/irqchip/irq-gic-v3.c";

export interface GicV3DriverOptions {
  /**
   * The kernel entered at EL2 (`is_hyp_mode_available()`): split EOI/Deactivate mode. A guest
   * on QEMU without `virtualization=on` boots at EL1, the default.
   */
  readonly el2?: boolean;
}

/** One Redistributor region of the `reg` property. */
interface RedistRegion {
  readonly physBase: number;
  readonly size: number;
}

/** The arch hook the root handler is registered with (arch/arm64/kernel/irq.c). */
export interface RootIrqHost {
  /** set_handle_irq(): becomes the handler of the CPU's IRQ exception. */
  setHandleIrq(name: string, handler: () => boolean): void;
}

export class GicV3Driver {
  readonly chip: IrqChip;
  domain: IrqDomain | null = null;
  /** Split EOI/Deactivate mode (supports_deactivate_key). */
  readonly supportsDeactivate: boolean;
  private distBase = 0;
  private readonly regions: RedistRegion[] = [];
  private redistStride = 0;
  /** gic_data_rdist_rd_base(): this CPU's RD_base, once found. */
  private rdBase: number | null = null;
  private gicdTyper = 0;
  private gicdTyper2 = 0;
  private ppiNr = 0;
  private hasRss = false;
  private hasDirectLpi = true;
  private hasVlpis = true;
  private hasRvpeid = true;
  private hasVpendValidDirty = true;
  private distPrioIrq = GICV3_PRIO_IRQ;
  private distPrioNmi = GICV3_PRIO_NMI;
  private cpusHaveGroup0 = false;

  constructor(
    private readonly ctx: IrqContext,
    private readonly domains: IrqDomainRegistry,
    private readonly soc: Soc,
    readonly node: DtNode,
    private readonly ancestors: readonly DtNode[],
    opts: GicV3DriverOptions = {},
  ) {
    this.supportsDeactivate = opts.el2 ?? false;
    // gic_chip / gic_eoimode1_chip: the same ops but for mask (forwarded-to-vCPU deactivation,
    // not modelled) and eoi.
    this.chip = {
      name: "GICv3",
      flags: IRQCHIP_SET_TYPE_MASKED | IRQCHIP_SKIP_SET_WAKE | IRQCHIP_MASK_ON_SUSPEND,
      irqMask: (d) => this.maskIrq(d),
      irqUnmask: (d) => this.pokeIrq(d.hwirq, GICD.ISENABLER),
      irqEoi: (d) => this.eoiIrq(d),
      irqSetType: (d, type) => this.setType(d, type),
      irqSetTypeSymbol: "gic_set_type",
      irqRetrigger: (d) => {
        // gic_retrigger(): gic_irq_set_irqchip_state(PENDING, true) succeeded.
        this.pokeIrq(d.hwirq, GICD.ISPENDR);
        return 1;
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // MMIO and system-register access

  private get cpu() {
    return this.soc.gic.cpu;
  }

  private readl(addr: number): number {
    return this.soc.bus.read(addr, 4) >>> 0;
  }

  private writel(value: number, addr: number): void {
    this.soc.bus.write(addr, 4, value >>> 0);
  }

  /** readq_relaxed(): low word, then high word (see the caveat). */
  private readq(addr: number): { lo: number; hi: number } {
    return { lo: this.readl(addr), hi: this.readl(addr + 4) };
  }

  /** writeq_relaxed() of a value below 2^32 (affinities of CPU 0 are). */
  private writeq(lo: number, hi: number, addr: number): void {
    this.writel(lo, addr);
    this.writel(hi, addr + 4);
  }

  private get sgiBase(): number {
    return (this.rdBase ?? 0) + GICR.SGI_BASE;
  }

  /** gic_do_wait_for_rwp() */
  private waitForRwp(base: number, bit: number): void {
    if (this.readl(base + GICD.CTLR) & bit) {
      this.ctx.printk.pr("GICv3: ").err("RWP timeout, gone fishing");
    }
  }

  private distWaitForRwp(): void {
    this.waitForRwp(this.distBase, GICD_CTLR_RWP);
  }

  private redistWaitForRwp(): void {
    this.waitForRwp(this.rdBase ?? 0, GICR_CTLR_RWP);
  }

  // -------------------------------------------------------------------------------------------
  // irq_chip

  private inRdist(hwirq: number): boolean {
    const r = gicIntidRange(hwirq);
    return r === "SGI" || r === "PPI" || r === "EPPI";
  }

  /** convert_offset_index(): the register index of `hwirq` (ESPI/EPPI banks not modelled). */
  private index(hwirq: number): number {
    const r = gicIntidRange(hwirq);
    if (r === "EPPI") return hwirq - EPPI_BASE_INTID + 32;
    if (r === "ESPI") return hwirq - ESPI_BASE_INTID;
    return hwirq;
  }

  /** gic_poke_irq(): write the INTID's bit into a set/clear register. */
  pokeIrq(hwirq: number, offset: number): void {
    const index = this.index(hwirq);
    const base = this.inRdist(hwirq) ? this.sgiBase : this.distBase;
    this.writel(1 << (index % 32), base + offset + Math.floor(index / 32) * 4);
  }

  /** gic_peek_irq() */
  peekIrq(hwirq: number, offset: number): boolean {
    const index = this.index(hwirq);
    const base = this.inRdist(hwirq) ? this.sgiBase : this.distBase;
    return (this.readl(base + offset + Math.floor(index / 32) * 4) & (1 << (index % 32))) !== 0;
  }

  /** gic_mask_irq() / gic_eoimode1_mask_irq() */
  private maskIrq(d: IrqData): void {
    this.pokeIrq(d.hwirq, GICD.ICENABLER);
    if (this.inRdist(d.hwirq)) this.redistWaitForRwp();
    else this.distWaitForRwp();
  }

  /** gic_eoi_irq() (EOImode 0) / gic_eoimode1_eoi_irq() (EOImode 1). */
  private eoiIrq(d: IrqData): void {
    if (!this.supportsDeactivate) {
      this.cpu.eoir1(d.hwirq);
      return;
    }
    if (d.hwirq >= 8192) return;
    this.cpu.dir(d.hwirq);
  }

  /**
   * gic_set_type(): SGIs are edge only; SPIs take level-high or rising edge and nothing else
   * (-EINVAL for IRQ_TYPE_LEVEL_LOW / EDGE_FALLING); the type goes into GICD_ICFGR (GICR_ICFGR1
   * for PPIs, where a refusal is only a warning).
   */
  private setType(d: IrqData, type: number): number {
    const range = gicIntidRange(d.hwirq);
    if (range === "SGI") return type !== IRQ_TYPE_EDGE_RISING ? EINVAL : 0;
    if (
      (range === "SPI" || range === "ESPI") &&
      type !== IRQ_TYPE_LEVEL_HIGH &&
      type !== IRQ_TYPE_EDGE_RISING
    ) {
      return EINVAL;
    }
    const base = this.inRdist(d.hwirq) ? this.sgiBase : this.distBase;
    const ret = this.configureIrq(this.index(d.hwirq), type, base + GICD.ICFGR);
    if (ret && (range === "PPI" || range === "EPPI")) {
      this.ctx.printk.pr("GICv3: ").warn(`GIC: PPI INTID${d.hwirq} is secure or misconfigured`);
      return 0;
    }
    return ret;
  }

  /** irq-gic-common.c: gic_configure_irq() — read-modify-write of the 2-bit ICFGR field. */
  private configureIrq(irq: number, type: number, base: number): number {
    const confmask = (0x2 << ((irq % 16) * 2)) >>> 0;
    const confoff = Math.floor(irq / 16) * 4;
    const oldval = this.readl(base + confoff);
    let val = oldval;
    if (type & IRQ_TYPE_LEVEL_MASK) val = (val & ~confmask) >>> 0;
    else if (type & IRQ_TYPE_EDGE_BOTH) val = (val | confmask) >>> 0;
    if (val === oldval) return 0;
    this.writel(val, base + confoff);
    return this.readl(base + confoff) !== val ? EINVAL : 0;
  }

  // -------------------------------------------------------------------------------------------
  // irq_domain_ops

  /** gic_irq_domain_translate() */
  translate(fwspec: IrqFwspec): IrqTranslation {
    const p = fwspec.param;
    if (p.length === 1 && (p[0] as number) < 16) {
      return { hwirq: p[0] as number, type: IRQ_TYPE_EDGE_RISING };
    }
    // Every specifier here comes from the device tree (is_of_node()).
    if (p.length < 3) return EINVAL;
    const [kind, num, flags] = p as [number, number, number];
    let hwirq: number;
    switch (kind >>> 0) {
      case 0:
        if (num > 987) this.warnOnce("SPI", `SPI ${num} out of range (use ESPI?)`);
        hwirq = num + 32;
        break;
      case 1:
        if (num > 15) this.warnOnce("PPI", `PPI ${num} out of range (use EPPI?)`);
        hwirq = num + 16;
        break;
      case 2:
        if (num > 1023) this.warnOnce("ESPI", `ESPI ${num} out of range`);
        hwirq = num + ESPI_BASE_INTID;
        break;
      case 3:
        if (num > 63) this.warnOnce("EPPI", `EPPI ${num} out of range`);
        hwirq = num + EPPI_BASE_INTID;
        break;
      case GIC_IRQ_TYPE_LPI:
        hwirq = num;
        break;
      default:
        return EINVAL;
    }
    const type = flags & IRQ_TYPE_SENSE_MASK;
    // "Make it clear that broken DTs are... broken."
    if (type === IRQ_TYPE_NONE) {
      this.ctx.bug.warnOn({ file: FILE, line: 1634, fn: "gic_irq_domain_translate" });
    }
    return { hwirq, type };
  }

  private warnOnce(what: string, text: string): void {
    if (this.ctx.bug.once(`gic_irq_domain_translate:${what}`)) {
      this.ctx.printk.pr("GICv3: ").warn(text);
    }
  }

  /** gic_irq_domain_map() */
  private map(d: IrqDomain, virq: number, hw: number): number {
    const desc = this.ctx.irqToDesc(virq) as IrqDesc;
    const range: GicIntidRange = gicIntidRange(hw);
    switch (range) {
      case "SGI":
      case "PPI":
      case "EPPI":
        irqSetPercpuDevid(this.ctx, desc);
        irqDomainSetInfo(this.ctx, d, desc, hw, this.chip, this.percpuFlow);
        break;
      case "SPI":
      case "ESPI":
        irqDomainSetInfo(this.ctx, d, desc, hw, this.chip, this.fasteoiFlow);
        irqModifyStatus(this.ctx, desc, IRQ_NOPROBE, 0); // irq_set_probe()
        desc.setState(IRQD_SINGLE_TARGET);
        break;
      case "LPI":
        if (!this.distSupportsLpis()) return EPERM;
        irqDomainSetInfo(this.ctx, d, desc, hw, this.chip, this.fasteoiFlow);
        break;
      default:
        return EPERM;
    }
    // Prevents software retriggers, which would upset the ACK/EOI ordering.
    desc.setState(IRQD_HANDLE_ENFORCE_IRQCTX);
    return 0;
  }

  private readonly fasteoiFlow: NamedFlowHandler = {
    fn: (desc) => handleFasteoiIrq(this.ctx, desc),
    name: "handle_fasteoi_irq",
  };

  private readonly percpuFlow: NamedFlowHandler = {
    fn: (desc) => handlePercpuDevidIrq(this.ctx, desc),
    name: "handle_percpu_devid_irq",
  };

  /** gic_irq_domain_ops: translate, alloc, free, select. */
  readonly domainOps: IrqDomainOps = {
    translate: (_d, fwspec) => this.translate(fwspec),
    alloc: (d, virq, nrIrqs, fwspec) => {
      const t = this.translate(fwspec);
      if (typeof t === "number") return t;
      for (let i = 0; i < nrIrqs; i++) {
        const ret = this.map(d, virq + i, t.hwirq + i);
        if (ret) return ret;
      }
      return 0;
    },
    free: (_d, virq, nrIrqs) => {
      for (let i = 0; i < nrIrqs; i++) {
        const desc = this.ctx.irqToDesc(virq + i);
        if (!desc) continue;
        desc.handleIrq = null;
        desc.handleIrqName = "handle_bad_irq";
        desc.irqData.hwirq = 0;
        desc.irqData.domain = null;
      }
    },
    select: (d, fwspec, busToken: IrqDomainBusToken) => {
      if (fwspec.fwnode !== d.fwnode) return false;
      if (fwspec.param.length === 0) return d.busToken === busToken;
      if (typeof this.translate(fwspec) === "number") {
        this.ctx.bug.warnOnOnce({ file: FILE, line: 1712, fn: "gic_irq_domain_select" });
        return false;
      }
      return d === this.domain;
    },
  };

  private distSupportsLpis(): boolean {
    return (this.readl(this.distBase + GICD.TYPER) & GICD_TYPER_LPIS) !== 0;
  }

  // -------------------------------------------------------------------------------------------
  // The root handler

  /**
   * gic_handle_irq() → __gic_handle_irq_from_irqson(): one IRQ exception. Acknowledge through
   * ICC_IAR1_EL1; a special INTID means there was nothing to take (returns false). Otherwise
   * (EOImode 1: drop the priority now) dispatch through the domain; an INTID nobody mapped is a
   * WARN_ONCE and is deactivated here.
   */
  handleIrq(): boolean {
    const irqnr = this.cpu.iar1();
    if (gicIrqnrIsSpecial(irqnr)) return false;
    if (this.supportsDeactivate) this.cpu.eoir1(irqnr); // gic_complete_ack()
    const virq = this.domain?.findMapping(irqnr) ?? 0;
    const desc = virq ? this.ctx.irqToDesc(virq) : undefined;
    if (desc?.handleIrq) {
      desc.handleIrq(desc);
    } else {
      this.ctx.bug.warnOnce(
        { file: FILE, line: 826, fn: "__gic_handle_irq" },
        `Unexpected interrupt (irqnr ${irqnr})`,
      );
      // gic_deactivate_unhandled()
      if (this.supportsDeactivate) {
        if (irqnr < 8192) this.cpu.dir(irqnr);
      } else {
        this.cpu.eoir1(irqnr);
      }
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Initialisation

  /** gic_of_init(): map the frames, check the Distributor, then gic_init_bases(). */
  ofInit(arch: RootIrqHost, onSgis: (baseVirq: number, count: number) => void): void {
    const log = this.ctx.printk.pr("GICv3: ");
    const path = `/${this.ancestors
      .slice(1)
      .map((n) => n.name)
      .concat(this.node.name)
      .join("/")}`;
    const reg = readReg(this.node, this.ancestors);
    const dist = reg[0];
    if (!dist) {
      log.err(`${path}: unable to map gic dist registers`);
      throw new SysError("EINVAL", "gic_of_init", "no GICD window");
    }
    this.distBase = dist.address;
    const pidr2 = this.readl(this.distBase + GICD.PIDR2) & GIC_PIDR2_ARCH_MASK;
    if (pidr2 !== GIC_PIDR2_ARCH_GICv3 && pidr2 !== GIC_PIDR2_ARCH_GICv4) {
      log.err(`${path}: no distributor detected, giving up`);
      throw new SysError("ENODEV", "gic_of_init", "GICD_PIDR2 is not GICv3/v4");
    }
    let nrRedistRegions = 1;
    try {
      nrRedistRegions = propU32(this.node, "#redistributor-regions") ?? 1;
    } catch {
      nrRedistRegions = 1;
    }
    for (let i = 0; i < nrRedistRegions; i++) {
      const r = reg[1 + i];
      if (!r) {
        log.err(`${path}: couldn't map region ${i}`);
        throw new SysError("ENODEV", "gic_of_init", `no GICR region ${i}`);
      }
      this.regions.push({ physBase: r.address, size: r.size });
    }
    // "redistributor-stride" is a u64; the virt board has none.
    this.redistStride = 0;
    this.initBases(arch, onSgis);
  }

  /** gic_init_bases() */
  private initBases(arch: RootIrqHost, onSgis: (baseVirq: number, count: number) => void): void {
    const log = this.ctx.printk.pr("GICv3: ");
    if (this.supportsDeactivate) log.info("GIC: Using split EOI/Deactivate mode");
    const typer = this.readl(this.distBase + GICD.TYPER);
    this.gicdTyper = typer;
    // gic_enable_quirks(): no quirk of the table matches an IIDR of 0x43b on a virt machine.
    this.readl(this.distBase + GICD.IIDR);
    log.info(`${this.lineNr - 32} SPIs implemented`);
    log.info(`${gicdTyperEspis(typer)} Extended SPIs implemented`);
    this.gicdTyper2 = this.readl(this.distBase + GICD.TYPER2);
    this.domain = this.domains.createTree(this.node, this.domainOps, "wired");
    this.hasRss = (typer & GICD_TYPER_RSS) !== 0;
    arch.setHandleIrq("gic_handle_irq", () => this.handleIrq());
    this.updateRdistProperties();
    this.cpuSysRegEnable();
    this.prioInit();
    this.distInit();
    this.cpuInit();
    // gic_enable_nmi_support(): priority masking (pseudo-NMI) is off.
    this.smpInit(onSgis);
    // gic_dist_supports_lpis() is false: gicv2m_init() looks for "arm,gic-v2m-frame" children.
  }

  /** GIC_LINE_NR */
  private get lineNr(): number {
    return Math.min(gicdTyperSpis(this.gicdTyper), 1020);
  }

  /**
   * gic_iterate_rdists(): walk every Redistributor frame until `fn` returns 0 (found) or the
   * frame with GICR_TYPER.Last. Returns 0 or −ENODEV.
   */
  private iterateRdists(
    fn: (region: number, ptr: number, typerLo: number, typerHi: number) => number,
  ): number {
    let ret = ENODEV;
    for (let i = 0; i < this.regions.length; i++) {
      const region = this.regions[i] as RedistRegion;
      let ptr = region.physBase;
      const pidr2 = this.readl(ptr + GICR.PIDR2) & GIC_PIDR2_ARCH_MASK;
      if (pidr2 !== GIC_PIDR2_ARCH_GICv3 && pidr2 !== GIC_PIDR2_ARCH_GICv4) {
        // %p this early in boot prints the placeholder, not a hash.
        this.ctx.printk.pr("GICv3: ").warn("No redistributor present @(____ptrval____)");
        break;
      }
      let typer: { lo: number; hi: number };
      do {
        typer = this.readq(ptr + GICR.TYPER);
        ret = fn(i, ptr, typer.lo, typer.hi);
        if (!ret) return 0;
        if (this.redistStride) ptr += this.redistStride;
        else {
          ptr += SZ_64K * 2;
          if (typer.lo & GICR_TYPER_VLPIS) ptr += SZ_64K * 2;
        }
      } while (!(typer.lo & GICR_TYPER_LAST));
    }
    return ret ? ENODEV : 0;
  }

  /** gic_update_rdist_properties() */
  private updateRdistProperties(): void {
    let ppiNr = Number.MAX_SAFE_INTEGER;
    this.iterateRdists((_region, ptr, typerLo) => {
      const ctlr = this.readl(ptr + GICR.CTLR);
      this.hasVlpis &&= (typerLo & GICR_TYPER_VLPIS) !== 0;
      this.hasRvpeid &&= (typerLo & GICR_TYPER_RVPEID) !== 0;
      this.hasDirectLpi &&=
        (typerLo & GICR_TYPER_DirectLPIS) !== 0 || (ctlr & GICR_CTLR_IR) !== 0 || this.hasRvpeid;
      this.hasVpendValidDirty &&= (typerLo & GICR_TYPER_DIRTY) !== 0;
      ppiNr = Math.min(gicrTyperNrPpis(typerLo), ppiNr);
      return 1;
    });
    if (ppiNr === Number.MAX_SAFE_INTEGER) {
      this.ctx.bug.warnOn({ file: FILE, line: 1122, fn: "gic_update_rdist_properties" });
      ppiNr = 0;
    }
    this.ppiNr = ppiNr;
    const log = this.ctx.printk.pr("GICv3: ");
    log.info(
      `GICv3 features: ${ppiNr} PPIs${this.hasRss ? ", RSS" : ""}${this.hasDirectLpi ? ", DirectLPI" : ""}`,
    );
    if (this.hasVlpis) {
      log.info(
        `GICv4 features: ${this.hasDirectLpi ? "DirectLPI " : ""}${this.hasRvpeid ? "RVPEID " : ""}${this.hasVpendValidDirty ? "Valid+Dirty " : ""}`,
      );
    }
  }

  /** gic_cpu_sys_reg_enable() → gic_enable_sre() */
  private cpuSysRegEnable(): void {
    let sre = this.cpu.sre;
    if (!(sre & ICC_SRE_EL1_SRE)) {
      this.cpu.sre = sre | ICC_SRE_EL1_SRE;
      sre = this.cpu.sre;
    }
    if (!(sre & ICC_SRE_EL1_SRE)) {
      this.ctx.printk.pr("GICv3: ").err("GIC: unable to set SRE (disabled at EL2), panic ahead");
    }
  }

  /** gic_get_pribits() */
  private pribits(): number {
    return ((this.cpu.ctlr & ICC_CTLR_EL1_PRI_BITS_MASK) >>> ICC_CTLR_EL1_PRI_BITS_SHIFT) + 1;
  }

  /**
   * gic_has_group0(): write the highest non-zero priority to PMR and read it back; with
   * SCR_EL3.FIQ set the Non-secure view loses it and reads 0.
   */
  private hasGroup0(): boolean {
    const old = this.cpu.pmr;
    this.cpu.pmr = 1 << (8 - this.pribits());
    const val = this.cpu.pmr;
    this.cpu.pmr = old;
    return val !== 0;
  }

  /** gic_dist_security_disabled() */
  private distSecurityDisabled(): boolean {
    return (this.readl(this.distBase + GICD.CTLR) & GICD_CTLR_DS) !== 0;
  }

  /** gic_prio_init(): Distributor priorities in the view ICC_PMR_EL1 has of them. */
  private prioInit(): void {
    this.cpusHaveGroup0 = this.hasGroup0();
    const ds = this.distSecurityDisabled();
    if (this.cpusHaveGroup0 && !ds) {
      // __gicv3_prio_to_ns(): only the Distributor sees the Non-secure (shifted) range.
      this.distPrioIrq = (this.distPrioIrq << 1) & 0xff;
      this.distPrioNmi = (this.distPrioNmi << 1) & 0xff;
    }
    this.ctx.printk
      .pr("GICv3: ")
      .info(`GICD_CTLR.DS=${ds ? 1 : 0}, SCR_EL3.FIQ=${this.cpusHaveGroup0 ? 0 : 1}`);
  }

  /** gic_dist_init() with irq-gic-common.c: gic_dist_config(). */
  private distInit(): void {
    const base = this.distBase;
    const lines = this.lineNr;
    this.writel(0, base + GICD.CTLR);
    this.distWaitForRwp();
    // Every SPI Non-secure Group 1.
    for (let i = 32; i < lines; i += 32) this.writel(0xffff_ffff, base + GICD.IGROUPR + i / 8);
    // gic_dist_config(): level (active low in GICv2 terms), default priority, disabled, inactive.
    for (let i = 32; i < lines; i += 16) {
      this.writel(GICD_INT_ACTLOW_LVLTRIG, base + GICD.ICFGR + i / 4);
    }
    const prio4 = (this.distPrioIrq * 0x0101_0101) >>> 0;
    for (let i = 32; i < lines; i += 4) this.writel(prio4, base + GICD.IPRIORITYR + i);
    for (let i = 32; i < lines; i += 32) {
      this.writel(GICD_INT_EN_CLR_X32, base + GICD.ICACTIVER + i / 8);
      this.writel(GICD_INT_EN_CLR_X32, base + GICD.ICENABLER + i / 8);
    }
    let val = GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A | GICD_CTLR_ENABLE_G1;
    if (this.gicdTyper2 & GICD_TYPER2_nASSGIcap) {
      this.ctx.printk.pr("GICv3: ").info("Enabling SGIs without active state");
      val |= GICD_CTLR_nASSGIreq;
    }
    this.writel(val, base + GICD.CTLR);
    this.distWaitForRwp();
    // Every SPI to the boot CPU (affinity 0.0.0.0).
    const affinity = this.cpuAffinity();
    for (let i = 32; i < lines; i++) this.writeq(affinity, 0, base + GICD.IROUTER + i * 8);
  }

  /** gic_cpu_to_affinity(0): Aff2.Aff1.Aff0 of the boot CPU (`reg` of /cpus/cpu@0). */
  private cpuAffinity(): number {
    return 0;
  }

  /** gic_populate_rdist() / __gic_populate_rdist() */
  private populateRdist(): number {
    const aff = this.cpuAffinity();
    const found = this.iterateRdists((region, ptr, _lo, typerHi) => {
      if (typerHi >>> 0 !== aff) return 1;
      // Frames are addressed by physical address here, so ptr is already phys_base + offset.
      this.rdBase = ptr;
      const phys = ptr;
      this.ctx.printk
        .pr("GICv3: ")
        .info(
          `CPU0: found redistributor ${aff.toString(16)} region ${region}:0x${phys.toString(16).padStart(16, "0")}`,
        );
      return 0;
    });
    if (found === 0) return 0;
    this.ctx.bug.warn(
      { file: FILE, line: 1061, fn: "gic_populate_rdist" },
      `CPU0: mpidr ${aff.toString(16)} has no re-distributor!`,
    );
    return ENODEV;
  }

  /** gic_enable_redist(true): clear ProcessorSleep, wait for ChildrenAsleep to clear. */
  private enableRedist(): void {
    const rbase = this.rdBase as number;
    let val = this.readl(rbase + GICR.WAKER);
    val &= ~GICR_WAKER_ProcessorSleep;
    this.writel(val, rbase + GICR.WAKER);
    val = this.readl(rbase + GICR.WAKER);
    if (val & GICR_WAKER_ChildrenAsleep) {
      this.ctx.printk.pr("GICv3: ").err("redistributor failed to wakeup...");
    }
  }

  /** gic_cpu_init() with irq-gic-common.c: gic_cpu_config(). */
  private cpuInit(): void {
    if (this.populateRdist()) return;
    this.enableRedist();
    if (
      (this.ppiNr > 16 || gicdTyperEspis(this.gicdTyper) !== 0) &&
      !(this.cpu.ctlr & ICC_CTLR_EL1_ExtRange)
    ) {
      this.ctx.bug.warn(
        { file: FILE, line: 1282, fn: "gic_cpu_init" },
        "Distributor has extended ranges, but CPU0 doesn't",
      );
    }
    const rbase = this.sgiBase;
    const nr = this.ppiNr + 16;
    for (let i = 0; i < nr; i += 32) this.writel(0xffff_ffff, rbase + GICR_SGI.IGROUPR0 + i / 8);
    for (let i = 0; i < nr; i += 32) {
      this.writel(GICD_INT_EN_CLR_X32, rbase + GICR_SGI.ICACTIVER0 + i / 8);
      this.writel(GICD_INT_EN_CLR_X32, rbase + GICR_SGI.ICENABLER0 + i / 8);
    }
    const prio4 = (this.distPrioIrq * 0x0101_0101) >>> 0;
    for (let i = 0; i < nr; i += 4) this.writel(prio4, rbase + GICR_SGI.IPRIORITYR0 + i);
    this.redistWaitForRwp();
    this.cpuSysRegInit();
  }

  /** gic_cpu_sys_reg_init(): the CPU interface. */
  private cpuSysRegInit(): void {
    const pribits = this.pribits();
    this.hasGroup0();
    // Priority masking (pseudo-NMI) is off: unmask everything below DEFAULT_PMR_VALUE.
    this.cpu.pmr = DEFAULT_PMR_VALUE;
    // Firmware may leave a BPR that stops preemption; 0 restores the reset value.
    this.cpu.bpr1 = 0;
    this.cpu.ctlr = this.supportsDeactivate
      ? ICC_CTLR_EL1_EOImode_drop
      : ICC_CTLR_EL1_EOImode_drop_dir;
    // Active priorities: with 5 priority bits only ICC_AP1R0_EL1 exists.
    if (pribits >= 4) this.cpu.ap1r0 = 0;
    this.cpu.igrpen1 = 1;
    // The RSS check compares range selectors between CPUs; MPIDR_RS() of the only CPU is 0, so
    // "can't SGI" / "RSS is required" never print.
  }

  /** gic_smp_init(): the eight Non-secure SGIs, handed to the IPI code. */
  private smpInit(onSgis: (baseVirq: number, count: number) => void): void {
    const d = this.domain as IrqDomain;
    const baseSgi = this.domains.allocIrqs(d, 8, { fwnode: this.node, param: [0] });
    if (baseSgi <= 0) {
      this.ctx.bug.warnOn({ file: FILE, line: 1419, fn: "gic_smp_init" });
      return;
    }
    onSgis(baseSgi, 8);
  }
}
