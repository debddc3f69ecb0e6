/**
 * A small world for the IRQ tests: the virt board, printk, the trace bus, taint, and an IrqCore
 * booted on the board's GICv3 — with helpers that drive the PL061 the way a driver and the
 * outside world would (its registers over MMIO, its input pins by hand) and read the GIC's state
 * back over MMIO.
 */

import { boards, type DtNode, nodeByPath, Pl061, Soc } from "@vfio-lab/hw-soc";
import { Printk } from "../printk/printk.js";
import { Taint } from "../taint.js";
import { KernelTrace, type KernelTraceRecord } from "../trace/trace-bus.js";
import { GICD } from "./arm-gic-v3-regs.js";
import { IrqCore, type IrqCoreOptions } from "./irq-core.js";

export const GICD_BASE = 0x0800_0000;
export const GICR_BASE = 0x080a_0000;
export const PL061_BASE = 0x0903_0000;
/** The PL061's interrupt: SPI 7, INTID 39. */
export const PL061_INTID = 39;

/** PL061 register offsets (ARM DDI 0190). */
export const PL061 = {
  IS: 0x404,
  IBE: 0x408,
  IEV: 0x40c,
  IE: 0x410,
  RIS: 0x414,
  MIS: 0x418,
  IC: 0x41c,
};

export interface IrqWorld {
  readonly soc: Soc;
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly taint: Taint;
  readonly irq: IrqCore;
  readonly gpio: Pl061;
  node(path: string): DtNode;
  /** dmesg lines since the last call, without timestamps. */
  log(): string[];
  /** Trace records since the last call. */
  events(): KernelTraceRecord[];
  /** Runs every pending event (interrupt exceptions, threads). */
  run(): void;
  /** GICD_ISENABLER / ISPENDR / ISACTIVER bit of an SPI. */
  gicEnabled(intid: number): boolean;
  gicPending(intid: number): boolean;
  gicActive(intid: number): boolean;
  /** GICD_ICFGR: true when the SPI is edge-triggered. */
  gicEdge(intid: number): boolean;
  /** PL061 line 0 as a level-high interrupt source (IS=1, IEV=1, IE=1). */
  gpioLevelHigh(): void;
  /** The device goes quiet: line 0 low, then the interrupt acknowledged (GPIOIC), as RIS is sticky. */
  gpioQuiet(): void;
  writeGpio(offset: number, value: number): void;
}

export function irqWorld(opts: Partial<Pick<IrqCoreOptions, "el2">> = {}): IrqWorld {
  const soc = Soc.fromDeviceTree(boards.virtLab());
  const now = () => soc.clock.now;
  const printk = new Printk({ now });
  const trace = new KernelTrace(now);
  const taint = new Taint({ printk });
  trace.forwardTaint(taint);
  const records: KernelTraceRecord[] = [];
  trace.subscribe((r) => records.push(r));
  const irq = new IrqCore({ soc, printk, trace, taint, ...opts });
  irq.initGic();
  let seen = printk.rb.nextSeq;
  const gpio = soc.deviceOf(Pl061, "pl061@9030000");
  const bit = (offset: number, intid: number) =>
    ((soc.bus.read(GICD_BASE + offset + Math.floor(intid / 32) * 4, 4) >>> (intid % 32)) & 1) === 1;
  return {
    soc,
    printk,
    trace,
    taint,
    irq,
    gpio,
    node(path) {
      const n = nodeByPath(soc.tree, path);
      if (!n) throw new Error(`no node ${path}`);
      return n;
    },
    log() {
      const lines = printk
        .records()
        .filter((r) => r.seq >= seen)
        .map((r) => r.text);
      seen = printk.rb.nextSeq;
      return lines;
    },
    events() {
      return records.splice(0);
    },
    run() {
      soc.runUntilIdle();
    },
    gicEnabled: (intid) => bit(GICD.ISENABLER, intid),
    gicPending: (intid) => bit(GICD.ISPENDR, intid),
    gicActive: (intid) => bit(GICD.ISACTIVER, intid),
    gicEdge: (intid) =>
      ((soc.bus.read(GICD_BASE + GICD.ICFGR + Math.floor(intid / 16) * 4, 4) >>>
        ((intid % 16) * 2 + 1)) &
        1) ===
      1,
    gpioLevelHigh() {
      soc.bus.write(PL061_BASE + PL061.IS, 1, 0x01);
      soc.bus.write(PL061_BASE + PL061.IEV, 1, 0x01);
      soc.bus.write(PL061_BASE + PL061.IE, 1, 0x01);
    },
    gpioQuiet() {
      gpio.setInput(0, false);
      soc.bus.write(PL061_BASE + PL061.IC, 1, 0x01);
    },
    writeGpio(offset, value) {
      soc.bus.write(PL061_BASE + offset, 1, value);
    },
  };
}
