/**
 * The kernel trace bus (`kernel.trace`, ARCHITECTURE.md §5): one ordered stream of structured,
 * JSON-safe events from every layer — syscalls with decoded arguments and result, taints, printk
 * records, module loads, and the hardware's own trace (hw-soc `HwTrace`) forwarded — each stamped
 * with the virtual time in ns. A recorded run serialises to JSON Lines, byte-identical for
 * identical runs (keys in construction order, no wall clock).
 *
 * Events of the kernel core are typed through `KernelTraceEventMap`; a layer above can add its
 * own typed events by augmenting that interface, or emit ad-hoc events whose type is namespaced
 * (`"vfio:group-open"`), which keeps them apart from the core types when narrowing on `type`.
 *
 * Like HwTrace, emitters may check `enabled` before building an event, so tracing costs nothing
 * when nobody listens; the hardware trace is only subscribed to while the bus has listeners.
 */

import type { HwTrace, HwTraceRecord } from "@vfio-lab/hw-soc";
import type { SysError } from "../errno.js";
import type { Printk } from "../printk/printk.js";
import type { Taint } from "../taint.js";

export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

export type JsonObject = { readonly [key: string]: JsonValue };

/** The core events, by type. Augment this interface to add typed events of another layer. */
export interface KernelTraceEventMap {
  /** A syscall of the facade, after it returned or failed. */
  syscall: {
    readonly pid: number;
    readonly comm: string;
    /** The syscall's name (`ioctl`, `openat`, …). */
    readonly name: string;
    /** Arguments decoded and made JSON-safe (`jsonSafe`): bigints as "0x…" strings. */
    readonly args: JsonObject;
    /** The return value, when it succeeded. */
    readonly ret?: JsonValue;
    /** The error, when it failed. */
    readonly error?: { readonly errno: number; readonly code: string; readonly fn: string };
  };
  /** An add_taint() call. */
  taint: {
    readonly flag: string;
    readonly bit: number;
    readonly letter: string;
    /** `tainted_mask` after it. */
    readonly value: number;
  };
  /** A record stored in the printk ring (kernel messages and /dev/kmsg writes). */
  printk: {
    readonly seq: number;
    readonly level: number;
    readonly facility: number;
    readonly text: string;
  };
  /**
   * A module entering (before its init runs, as trace_module_load) or leaving the kernel, or a
   * request_module() of a name or alias (trace_module_request).
   */
  module: { readonly action: "load" | "unload" | "request"; readonly name: string };
  /** A hardware trace record, forwarded as is (it carries its own type and time). */
  hw: { readonly record: HwTraceRecord };
}

export type KernelTraceType = keyof KernelTraceEventMap;

export type KernelTraceEvent = {
  [T in KernelTraceType]: { readonly type: T } & KernelTraceEventMap[T];
}[KernelTraceType];

/** An untyped event of another layer: a namespaced type and JSON-safe fields. */
export interface GenericTraceEvent {
  readonly type: `${string}:${string}`;
  readonly [key: string]: JsonValue | undefined;
}

export type AnyTraceEvent = KernelTraceEvent | GenericTraceEvent;

/** An event as delivered: the virtual time (ns) it happened at, then the event. */
export type KernelTraceRecord = { readonly time: number } & AnyTraceEvent;

export type KernelTraceListener = (record: KernelTraceRecord) => void;

/** Narrows a record to one core (or augmented) event type. */
export function isTraceEvent<T extends KernelTraceType>(
  record: KernelTraceRecord,
  type: T,
): record is Extract<KernelTraceRecord, { readonly type: T }> {
  return record.type === type;
}

export class KernelTrace {
  private readonly listeners: KernelTraceListener[] = [];
  private readonly hwSources: { hw: HwTrace; unsubscribe: (() => void) | undefined }[] = [];
  /** True while at least one listener is subscribed; check it before building an event. */
  enabled = false;

  constructor(private readonly now: () => number) {}

  /** Stamps `event` with the current virtual time and delivers it to every listener. */
  emit(event: AnyTraceEvent): void {
    if (!this.enabled) return;
    this.deliver({ time: this.now(), ...event } as KernelTraceRecord);
  }

  subscribe(listener: KernelTraceListener): () => void {
    this.listeners.push(listener);
    this.setEnabled(true);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
      this.setEnabled(this.listeners.length > 0);
    };
  }

  /** Collects every record until the returned `stop()` is called. */
  record(): { readonly records: KernelTraceRecord[]; stop(): void } {
    const records: KernelTraceRecord[] = [];
    const stop = this.subscribe((r) => records.push(r));
    return { records, stop };
  }

  /**
   * Forwards a hardware trace as `hw` events (at the hardware record's own time). The bus
   * subscribes to it only while it has listeners, so hardware emitters stay idle otherwise.
   */
  forwardHw(hw: HwTrace): () => void {
    const source = { hw, unsubscribe: undefined as (() => void) | undefined };
    this.hwSources.push(source);
    if (this.enabled) this.attachHw(source);
    return () => {
      source.unsubscribe?.();
      const i = this.hwSources.indexOf(source);
      if (i >= 0) this.hwSources.splice(i, 1);
    };
  }

  /** Forwards every printk record as a `printk` event. */
  forwardPrintk(printk: Printk): () => void {
    return printk.subscribe((r) => {
      if (!this.enabled) return;
      this.emit({ type: "printk", seq: r.seq, level: r.level, facility: r.facility, text: r.text });
    });
  }

  /** Forwards every add_taint() as a `taint` event. */
  forwardTaint(taint: Taint): () => void {
    return taint.subscribe((t) => {
      if (!this.enabled) return;
      this.emit({ type: "taint", flag: t.flag, bit: t.bit, letter: t.letter, value: t.value });
    });
  }

  private deliver(record: KernelTraceRecord): void {
    for (const listener of [...this.listeners]) listener(record);
  }

  private attachHw(source: { hw: HwTrace; unsubscribe: (() => void) | undefined }): void {
    source.unsubscribe ??= source.hw.subscribe((record) => {
      this.deliver({ time: record.time, type: "hw", record });
    });
  }

  private setEnabled(on: boolean): void {
    if (on === this.enabled) return;
    this.enabled = on;
    for (const source of this.hwSources) {
      if (on) this.attachHw(source);
      else {
        source.unsubscribe?.();
        source.unsubscribe = undefined;
      }
    }
  }
}

/** A bigint as the trace writes it: `0x…` (with a leading `-` if negative). */
export function hexBigint(value: bigint): string {
  return value < 0n ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`;
}

/**
 * A value made JSON-safe for a trace event: bigints become "0x…" strings, byte arrays arrays of
 * numbers, non-finite numbers strings, undefined properties disappear, functions and symbols
 * become null. Object keys keep their insertion order.
 */
export function jsonSafe(value: unknown): JsonValue {
  switch (typeof value) {
    case "bigint":
      return hexBigint(value);
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "string":
    case "boolean":
      return value;
    case "undefined":
    case "function":
    case "symbol":
      return null;
  }
  if (value === null) return null;
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(jsonSafe);
  const out: Record<string, JsonValue> = {};
  for (const [key, v] of Object.entries(value as object)) {
    if (v !== undefined) out[key] = jsonSafe(v);
  }
  return out;
}

/** The `error` field of a failed syscall event. */
export function sysErrorJson(err: SysError): { errno: number; code: string; fn: string } {
  return { errno: err.errno, code: err.code, fn: err.fn };
}

/** One JSON object per line; a stray bigint is written as "0x…" rather than failing. */
export function toJsonLines(records: readonly KernelTraceRecord[]): string {
  const replacer = (_key: string, v: unknown) => (typeof v === "bigint" ? hexBigint(v) : v);
  return records.map((r) => `${JSON.stringify(r, replacer)}\n`).join("");
}
