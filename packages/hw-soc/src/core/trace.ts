/**
 * The hardware trace: every block publishes what it does as plain, JSON-serialisable records.
 *
 * The kernel package subscribes to this sink and forwards the records onto its own trace bus.
 * Emitters check `enabled` first so that a hot path (a PL330 burst) costs nothing when nobody
 * listens.
 *
 * @packageDocumentation
 */

export type HwTraceEvent =
  | {
      readonly type: "dma";
      readonly master: string;
      readonly streamId: number | null;
      readonly write: boolean;
      /** Bus address issued by the master (an IOVA behind an IOMMU). */
      readonly address: number;
      readonly length: number;
      /** First physical address reached, after translation. */
      readonly physical: number;
    }
  | {
      readonly type: "dma-error";
      readonly master: string;
      readonly streamId: number | null;
      readonly write: boolean;
      readonly address: number;
      readonly length: number;
      readonly reason: string;
    }
  | {
      readonly type: "iommu-translate";
      readonly iommu: string;
      readonly streamId: number;
      readonly iova: number;
      readonly physical: number;
      readonly write: boolean;
      /** "walk" when the page tables were read, "iotlb" on a cache hit, "bypass" for bypass. */
      readonly via: "walk" | "iotlb" | "bypass";
    }
  | {
      readonly type: "iommu-event";
      readonly iommu: string;
      /** Event name as the SMMUv3 spec spells it (F_TRANSLATION, C_BAD_STREAMID, …). */
      readonly event: string;
      readonly streamId: number;
      readonly iova: number;
      readonly recorded: boolean;
    }
  | {
      readonly type: "iommu-command";
      readonly iommu: string;
      readonly command: string;
      readonly args: Readonly<Record<string, number>>;
    }
  | {
      readonly type: "irq-line";
      readonly source: string;
      /** The line's name at the source, e.g. "intr" or "abort". */
      readonly line: string;
      /** GIC INTID the line is wired to, or null for an unconnected output. */
      readonly intid: number | null;
      readonly level: boolean;
    }
  | {
      readonly type: "guest-error" | "unimplemented";
      readonly device: string;
      readonly message: string;
    }
  | {
      readonly type: "device";
      readonly device: string;
      /** A device-specific happening worth seeing (channel state change, FIFO overflow, …). */
      readonly event: string;
      readonly detail?: Readonly<Record<string, string | number | boolean>>;
    };

/** A record as delivered: the event plus the virtual time it happened at. */
export type HwTraceRecord = HwTraceEvent & { readonly time: number };

export type HwTraceListener = (record: HwTraceRecord) => void;

export class HwTrace {
  private readonly listeners: HwTraceListener[] = [];
  /** True while at least one listener is subscribed; check it before building a record. */
  enabled = false;

  constructor(private readonly now: () => number) {}

  subscribe(listener: HwTraceListener): () => void {
    this.listeners.push(listener);
    this.enabled = true;
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
      this.enabled = this.listeners.length > 0;
    };
  }

  emit(event: HwTraceEvent): void {
    if (!this.enabled) return;
    const record = { time: this.now(), ...event } as HwTraceRecord;
    for (const listener of this.listeners) listener(record);
  }

  /** Collects every record until the returned `stop()` is called; handy for tests and demos. */
  record(): { readonly records: HwTraceRecord[]; stop(): void } {
    const records: HwTraceRecord[] = [];
    const stop = this.subscribe((r) => records.push(r));
    return { records, stop };
  }
}

/** One JSON object per line, keys in emission order: byte-identical for identical runs. */
export function toJsonLines(records: readonly HwTraceRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join("\n") + (records.length ? "\n" : "");
}
