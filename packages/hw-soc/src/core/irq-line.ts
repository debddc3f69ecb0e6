/**
 * An interrupt output wire. A device drives its level; whatever the line is connected to (a
 * GIC input) sees every change. Edge semantics belong to the receiver, as on real hardware:
 * a device "pulses" by raising and lowering its line.
 */

import type { HwTrace } from "./trace.js";

/** The receiving end: a GIC's SPI inputs, addressed by INTID. */
export interface IrqSink {
  setIrqLevel(intid: number, level: boolean): void;
}

export class IrqLine {
  private current = false;
  private sink: IrqSink | null = null;
  private target: number | null = null;

  constructor(
    /** The device that drives the line. */
    readonly source: string,
    /** The output's name at the device ("intr", "abort", "event0", …). */
    readonly name: string,
    private readonly trace: HwTrace,
  ) {}

  get level(): boolean {
    return this.current;
  }

  /** The INTID this line is wired to, or null when unconnected. */
  get intid(): number | null {
    return this.target;
  }

  connect(sink: IrqSink, intid: number): void {
    this.sink = sink;
    this.target = intid;
    if (this.current) sink.setIrqLevel(intid, true);
  }

  set(level: boolean): void {
    if (level === this.current) return;
    this.current = level;
    if (this.trace.enabled) {
      this.trace.emit({
        type: "irq-line",
        source: this.source,
        line: this.name,
        intid: this.target,
        level,
      });
    }
    if (this.sink && this.target !== null) this.sink.setIrqLevel(this.target, level);
  }

  /** Raise then lower: an edge for an edge-triggered receiver. */
  pulse(): void {
    this.set(true);
    this.set(false);
  }
}
