/**
 * ARM PrimeCell DMA Controller PL330 (CoreLink DMA-330), revision r1p1.
 *
 * Models the TRM (ARM DDI 0424, r1p1): one manager thread and up to 8 channel threads that
 * execute PL330 microcode fetched from memory through the controller's bus-master port, a
 * shared MFIFO, events and interrupts, the fault registers and the debug interface through
 * which software (Linux `drivers/dma/pl330.c`) starts and kills threads. Facts cross-checked
 * against QEMU `hw/dma/pl330.c`; unlike QEMU, bus errors fault the thread as the TRM says.
 *
 * MMIO: one 4 KiB window (32-bit registers). IRQ outputs, in order: "abort" (high while the
 * manager or any channel is faulting), then "irq0".."irq<events-1>" (level: INT_EVENT_RIS &
 * INTEN). DMA: every instruction fetch, load and store goes through `this.dma`.
 *
 * Cost model (deterministic; virtual time only): a 250 MHz core clock (`PL330_CYCLE_NS`);
 * every instruction costs one cycle, and a load or store burst one more cycle per beat (a beat
 * wider than the data bus, width/bus cycles). A thread runs in clock events of at most
 * `PL330_QUANTUM_CYCLES`; its next event comes when the cycles it used have elapsed. What a
 * channel signals to the outside (DMASEV, DMAEND, DMAKILL, DMAWFE, DMAWFP) executes only at the
 * start of an event, so it happens after the work before it has taken its time. A debug
 * instruction executes in an event at the current time (DBGSTATUS reads busy until then); a
 * channel started by DMAGO runs its first instruction one cycle later.
 *
 * Fast path: when a DMALPEND is about to repeat a body made only of DMALD/DMAST (with fixed,
 * aligned, incrementing bursts), DMANOP, DMARMB, DMAWMB and nested DMALP/DMALPEND loops, the
 * remaining passes run as `DmaPort.copyBatch` calls of at most `PL330_BATCH_BYTES`, each
 * committed whole (SAR, DAR, loop counters advanced as the passes would). A chunk that faults or
 * cannot be batched (not RAM, a frame both read and written, or the microcode's own frame
 * written) is re-run burst by burst by the interpreter, which stays the reference.
 *
 * Caveat:
 * - No AXI read/write queues or outstanding transactions: a burst completes inside its
 *   instruction, so faults are precise (CPC points at the faulting fetch, DMALD or DMAST),
 *   DMARMB/DMAWMB never wait, and Cache miss, Updating PC, Queue busy and At barrier are never
 *   observed; Killing, Completing and Faulting completing are passed through at once.
 * - No instruction cache (CR1 reports QEMU's 8 lines of 4 words): each instruction is fetched
 *   through the DMA port when it executes; the DMAWFE invalidate flag has nothing to do.
 * - The manager executes debug-interface instructions only: no boot from CR2 (CR0 boot_en = 0).
 * - Peripheral requests come only from `peripheralRequest()` (nothing on the board drives them);
 *   no DMAACK/DMALAST handshake, DMAFLUSHP just forgets a pending request.
 * - CCR cache, privileged and instruction bits are not modelled; ES ≠ 0 is logged as
 *   unimplemented and bytes are not swapped; beats wider than the data bus are a guest error
 *   but performed. The MFIFO is a byte count shared by all channels (no line packing).
 * - No watchdog: lockup_err is never raised.
 * - Time is charged per clock event: the transfers of one event (up to `PL330_QUANTUM_CYCLES`,
 *   about 1 ms) all land at its start; only what a channel signals waits for their cycles.
 * - The fast path traces one "dma" record per chunk rather than per burst, and a chunk that
 *   faults is translated again by the burst-by-burst re-run, so an IOMMU may record that
 *   fault event twice.
 */

import type { BusError } from "../core/bus-error.js";
import type { ScheduledEvent } from "../core/clock.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import type { DmaPort } from "../core/dma-port.js";
import { PAGE_SIZE } from "../core/physical-memory.js";
import {
  type PrimeCellIdName,
  primeCellIdRegisters,
  RegisterMap,
  type RegisterSpec,
} from "../core/registers.js";
import {
  decodePl330,
  PL330_FAULT,
  PL330_PROT_NS,
  type Pl330Cond,
  type Pl330Insn,
  type Pl330Op,
  pl330FaultNames,
  pl330InsnSize,
  pl330OpOf,
} from "./pl330-isa.js";
import { pl330BeatCycles, pl330CondHolds, planPl330Pass } from "./pl330-loop.js";

/** One core clock cycle (250 MHz). */
export const PL330_CYCLE_NS = 4;
/** Most cycles a thread runs in one clock event before it yields. */
export const PL330_QUANTUM_CYCLES = 1 << 18;
/** Largest run the loop fast path hands to the DMA port at once (63 pages: ≤ 64 touched). */
export const PL330_BATCH_BYTES = 63 * PAGE_SIZE;

/** The PL330 peripheral ID bytes (part 0x330, designer 0x41, revision 2 = r1p1). */
export const PL330_PERIPH_ID = [0x30, 0x13, 0x24, 0x00] as const;

export interface Pl330Options {
  /** Channel threads, 1–8 (QEMU default 8). */
  readonly channels?: number;
  /** Events/interrupts, 1–32; IRQ outputs irq0..irq(events-1). Default 8. */
  readonly events?: number;
  /** Peripheral request interfaces, 0–32 (QEMU default 4). */
  readonly peripherals?: number;
  /** AXI data bus width (QEMU default 64). */
  readonly dataWidthBits?: 32 | 64 | 128;
  /** MFIFO size in bytes, a multiple of the bus width (default 256). */
  readonly mfifoBytes?: number;
  /** boot_manager_ns: the manager is non-secure out of reset (default false). */
  readonly managerNonSecureAtReset?: boolean;
  /** boot_irq_ns (CR3): events a non-secure thread may use. */
  readonly eventNonSecureMask?: number;
  /** boot_periph_ns (CR4): peripherals a non-secure thread may use. */
  readonly periphNonSecureMask?: number;
  /** Run eligible loops as batched copies (default true); false keeps the interpreter only. */
  readonly fastPath?: boolean;
}

export interface Pl330Config {
  readonly channels: number;
  readonly events: number;
  readonly peripherals: number;
  readonly dataWidthBits: 32 | 64 | 128;
  readonly mfifoBytes: number;
  readonly managerNonSecureAtReset: boolean;
  readonly eventNonSecureMask: number;
  readonly periphNonSecureMask: number;
  readonly fastPath: boolean;
}

/** Thread states of the TRM (DSR/CSR [3:0]); the manager uses a subset. */
export type Pl330ThreadState =
  | "stopped"
  | "executing"
  | "cacheMiss"
  | "updatingPc"
  | "waitingForEvent"
  | "atBarrier"
  | "queueBusy"
  | "waitingForPeripheral"
  | "killing"
  | "completing"
  | "faultingCompleting"
  | "faulting";

export const PL330_STATE_CODE: Readonly<Record<Pl330ThreadState, number>> = {
  stopped: 0x0,
  executing: 0x1,
  cacheMiss: 0x2,
  updatingPc: 0x3,
  waitingForEvent: 0x4,
  atBarrier: 0x5,
  queueBusy: 0x6,
  waitingForPeripheral: 0x7,
  killing: 0x8,
  completing: 0x9,
  faultingCompleting: 0xe,
  faulting: 0xf,
};

/**
 * Legal moves of a channel thread (TRM "DMA channel thread states" diagram). Cache miss,
 * Updating PC, Queue busy and At barrier are listed for completeness; this model never enters
 * them (see the caveats).
 */
export const PL330_CHANNEL_TRANSITIONS: Readonly<
  Record<Pl330ThreadState, readonly Pl330ThreadState[]>
> = {
  stopped: ["executing", "faultingCompleting"],
  executing: [
    "cacheMiss",
    "updatingPc",
    "waitingForEvent",
    "atBarrier",
    "queueBusy",
    "waitingForPeripheral",
    "killing",
    "completing",
    "faultingCompleting",
  ],
  cacheMiss: ["updatingPc", "killing", "faultingCompleting"],
  updatingPc: ["executing", "killing", "faultingCompleting"],
  waitingForEvent: ["executing", "killing", "faultingCompleting"],
  atBarrier: ["executing", "killing", "faultingCompleting"],
  queueBusy: ["executing", "killing", "faultingCompleting"],
  waitingForPeripheral: ["executing", "killing", "faultingCompleting"],
  killing: ["stopped"],
  completing: ["stopped", "faultingCompleting"],
  faultingCompleting: ["faulting"],
  faulting: ["killing"],
};

/** Legal moves of the manager thread (TRM "DMA manager thread states"). */
export const PL330_MANAGER_TRANSITIONS: Readonly<
  Record<Pl330ThreadState, readonly Pl330ThreadState[]>
> = {
  stopped: ["executing"],
  executing: ["stopped", "cacheMiss", "updatingPc", "waitingForEvent", "faulting"],
  cacheMiss: ["updatingPc", "faulting", "stopped"],
  updatingPc: ["executing", "faulting", "stopped"],
  waitingForEvent: ["executing", "faulting", "stopped"],
  atBarrier: [],
  queueBusy: [],
  waitingForPeripheral: [],
  killing: [],
  completing: [],
  faultingCompleting: [],
  faulting: ["stopped"],
};

/** Instructions the manager thread may execute; anything else is undef_instr there. */
const MANAGER_OPS: ReadonlySet<Pl330Op> = new Set([
  "DMAEND",
  "DMAFLUSHP",
  "DMAGO",
  "DMAKILL",
  "DMANOP",
  "DMASEV",
  "DMAWFE",
]);

/** Instructions that only execute at the start of a clock event (see the cost model). */
const SIGNAL_OPS: ReadonlySet<Pl330Op> = new Set([
  "DMASEV",
  "DMAEND",
  "DMAKILL",
  "DMAWFE",
  "DMAWFP",
]);

/** What DBGINST0 may carry (TRM, Debug Instruction-0 Register: DMAGO, DMAKILL, DMASEV). */
const DEBUG_OPS: ReadonlySet<Pl330Op> = new Set(["DMAGO", "DMAKILL", "DMASEV"]);

export type Pl330RegisterName =
  | "DSR"
  | "DPC"
  | "INTEN"
  | "INT_EVENT_RIS"
  | "INTMIS"
  | "INTCLR"
  | "FSRD"
  | "FSRC"
  | "FTRD"
  | "FTR"
  | "CSR"
  | "CPC"
  | "SAR"
  | "DAR"
  | "CCR"
  | "LC0"
  | "LC1"
  | "DBGSTATUS"
  | "DBGCMD"
  | "DBGINST0"
  | "DBGINST1"
  | "CR0"
  | "CR1"
  | "CR2"
  | "CR3"
  | "CR4"
  | "CRD"
  | PrimeCellIdName;

const BUS_WIDTH_CODE = { 32: 2, 64: 3, 128: 4 } as const;
/** CR1 as QEMU reports it: 8 instruction-cache lines of 4 words (code 2). */
const CR1_VALUE = (7 << 4) | 2;
/** CRD queue geometry as QEMU reports it: write/read issuing capability 8, queues 16 deep. */
const WR_CAP = 8;
const WR_Q_DEP = 16;
const RD_CAP = 8;
const RD_Q_DEP = 16;

/** The register table for a given configuration (banks sized by the channel count). */
export function pl330Registers(c: Pl330Config): RegisterSpec<Pl330RegisterName>[] {
  const busBytes = c.dataWidthBits / 8;
  const cr0 =
    (c.peripherals > 0 ? 1 : 0) |
    (c.managerNonSecureAtReset ? 4 : 0) |
    ((c.channels - 1) << 4) |
    (c.peripherals > 0 ? (c.peripherals - 1) << 12 : 0) |
    ((c.events - 1) << 17);
  // data_buffer_dep counts MFIFO lines of the bus width (TRM, CRD register), as Linux
  // reads it; QEMU reports its byte count there instead.
  const crd =
    BUS_WIDTH_CODE[c.dataWidthBits] |
    ((WR_CAP - 1) << 4) |
    ((WR_Q_DEP - 1) << 8) |
    ((RD_CAP - 1) << 12) |
    ((RD_Q_DEP - 1) << 16) |
    ((c.mfifoBytes / busBytes - 1) << 20);
  const n = c.channels;
  return [
    {
      name: "DSR",
      offset: 0x000,
      access: "ro",
      reset: c.managerNonSecureAtReset ? 1 << 9 : 0,
      doc: "DMA manager status",
    },
    { name: "DPC", offset: 0x004, access: "ro", doc: "DMA manager program counter" },
    {
      name: "INTEN",
      offset: 0x020,
      access: "rw",
      doc: "Event (0) or interrupt (1) for each DMASEV number",
    },
    { name: "INT_EVENT_RIS", offset: 0x024, access: "ro", doc: "Event/interrupt raw status" },
    { name: "INTMIS", offset: 0x028, access: "ro", doc: "Interrupt status (raw status & INTEN)" },
    { name: "INTCLR", offset: 0x02c, access: "wo", doc: "Write 1 to clear an interrupt" },
    { name: "FSRD", offset: 0x030, access: "ro", doc: "Fault status, manager" },
    { name: "FSRC", offset: 0x034, access: "ro", doc: "Fault status, one bit per channel" },
    { name: "FTRD", offset: 0x038, access: "ro", doc: "Fault type, manager" },
    { name: "FTR", offset: 0x040, access: "ro", count: n, stride: 4, doc: "Fault type, channel n" },
    { name: "CSR", offset: 0x100, access: "ro", count: n, stride: 8, doc: "Channel n status" },
    {
      name: "CPC",
      offset: 0x104,
      access: "ro",
      count: n,
      stride: 8,
      doc: "Channel n program counter",
    },
    {
      name: "SAR",
      offset: 0x400,
      access: "ro",
      count: n,
      stride: 0x20,
      doc: "Channel n source address",
    },
    {
      name: "DAR",
      offset: 0x404,
      access: "ro",
      count: n,
      stride: 0x20,
      doc: "Channel n destination address",
    },
    { name: "CCR", offset: 0x408, access: "ro", count: n, stride: 0x20, doc: "Channel n control" },
    {
      name: "LC0",
      offset: 0x40c,
      access: "ro",
      count: n,
      stride: 0x20,
      doc: "Channel n loop counter 0",
    },
    {
      name: "LC1",
      offset: 0x410,
      access: "ro",
      count: n,
      stride: 0x20,
      doc: "Channel n loop counter 1",
    },
    { name: "DBGSTATUS", offset: 0xd00, access: "ro", doc: "Debug status: b0 busy" },
    { name: "DBGCMD", offset: 0xd04, access: "wo", doc: "Write 0 to execute DBGINST0/1" },
    {
      name: "DBGINST0",
      offset: 0xd08,
      access: "wo",
      doc: "Debug thread, channel, instruction bytes 0-1",
    },
    { name: "DBGINST1", offset: 0xd0c, access: "wo", doc: "Debug instruction bytes 2-5" },
    { name: "CR0", offset: 0xe00, access: "ro", reset: cr0, doc: "Configuration 0" },
    {
      name: "CR1",
      offset: 0xe04,
      access: "ro",
      reset: CR1_VALUE,
      doc: "Configuration 1 (instruction cache)",
    },
    { name: "CR2", offset: 0xe08, access: "ro", doc: "Configuration 2 (boot address)" },
    {
      name: "CR3",
      offset: 0xe0c,
      access: "ro",
      reset: c.eventNonSecureMask >>> 0,
      doc: "Configuration 3 (event NS)",
    },
    {
      name: "CR4",
      offset: 0xe10,
      access: "ro",
      reset: c.periphNonSecureMask >>> 0,
      doc: "Configuration 4 (periph NS)",
    },
    { name: "CRD", offset: 0xe14, access: "ro", reset: crd >>> 0, doc: "DMA configuration" },
    ...primeCellIdRegisters(PL330_PERIPH_ID),
  ];
}

function resolveConfig(o: Pl330Options): Pl330Config {
  const c: Pl330Config = {
    channels: o.channels ?? 8,
    events: o.events ?? 8,
    peripherals: o.peripherals ?? 4,
    dataWidthBits: o.dataWidthBits ?? 64,
    mfifoBytes: o.mfifoBytes ?? 256,
    managerNonSecureAtReset: o.managerNonSecureAtReset ?? false,
    eventNonSecureMask: o.eventNonSecureMask ?? 0,
    periphNonSecureMask: o.periphNonSecureMask ?? 0,
    fastPath: o.fastPath ?? true,
  };
  const int = (v: number, lo: number, hi: number, what: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new RangeError(`pl330: ${what} ${v} not in ${lo}..${hi}`);
  };
  int(c.channels, 1, 8, "channels");
  int(c.events, 1, 32, "events");
  int(c.peripherals, 0, 32, "peripherals");
  const busBytes = c.dataWidthBits / 8;
  if (!(c.dataWidthBits in BUS_WIDTH_CODE))
    throw new RangeError(`pl330: data width ${c.dataWidthBits}`);
  int(c.mfifoBytes / busBytes, 1, 1024, "MFIFO lines");
  return c;
}

/** A channel's share of the MFIFO: the bytes it has loaded and not yet stored, in order. */
class ByteFifo {
  private readonly buf: Uint8Array;
  private head = 0;
  count = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  push(src: Uint8Array): void {
    const cap = this.buf.length;
    let tail = (this.head + this.count) % cap;
    for (let i = 0; i < src.length; i++) {
      this.buf[tail] = src[i]!;
      tail = tail + 1 === cap ? 0 : tail + 1;
    }
    this.count += src.length;
  }

  /** Copies the oldest `dst.length` bytes without consuming them. */
  peek(dst: Uint8Array): void {
    const cap = this.buf.length;
    let at = this.head;
    for (let i = 0; i < dst.length; i++) {
      dst[i] = this.buf[at]!;
      at = at + 1 === cap ? 0 : at + 1;
    }
  }

  drop(n: number): void {
    this.head = (this.head + n) % this.buf.length;
    this.count -= n;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}

class Pl330Thread {
  state: Pl330ThreadState = "stopped";
  pc = 0;
  /** Manager: DNS; channel: CNS (set by the DMAGO that started it). */
  ns = false;
  faultType = 0;
  /** CSR/DSR wakeup number: the event or peripheral last waited for. */
  wakeup = 0;
  /** Which DMAWFP form the channel last executed (CSR bits 14/15). */
  wfp: "single" | "burst" | "periph" = "single";
  sar = 0;
  dar = 0;
  ccr = 0;
  readonly lc: [number, number] = [0, 0];
  /** request_flag: set by DMAWFP; selects what DMALD/DMAST/DMALPEND S and B forms do. */
  requestBurst = false;
  event: ScheduledEvent | null = null;
  /** An instruction fetched but held back to the next event (SIGNAL_OPS). */
  prefetch: { pc: number; insn: Pl330Insn } | null = null;
  /** After a batch failed at this DMALPEND: how many passes to interpret before trying again. */
  interpretAt = -1;
  interpretPasses = 0;
  /** One log line per run for each CCR oddity, not one per burst. */
  readonly warned = new Set<string>();

  constructor(
    /** Channel number, or -1 for the manager. */
    readonly index: number,
    readonly name: string,
    readonly fifo: ByteFifo,
  ) {}

  get isManager(): boolean {
    return this.index < 0;
  }

  get isFaulting(): boolean {
    return this.state === "faulting" || this.state === "faultingCompleting";
  }
}

/** Architectural state of one thread, as a test or a picture wants it. */
export interface Pl330ThreadSnapshot {
  readonly state: Pl330ThreadState;
  readonly pc: number;
  readonly ns: boolean;
  readonly faultType: number;
  readonly sar: number;
  readonly dar: number;
  readonly ccr: number;
  readonly lc0: number;
  readonly lc1: number;
  /** Bytes this channel holds in the MFIFO. */
  readonly mfifoBytes: number;
}

export class Pl330 extends Device {
  declare readonly dma: DmaPort;
  readonly config: Pl330Config;
  readonly registers: RegisterMap<Pl330RegisterName>;

  private readonly manager: Pl330Thread;
  private readonly channels: readonly Pl330Thread[];
  private readonly busBytes: number;
  private inten = 0;
  private ris = 0;
  private dbgInst0 = 0;
  private dbgInst1 = 0;
  private dbgEvent: ScheduledEvent | null = null;
  /** The thread running a debug instruction right now, if any. */
  private debugThread: Pl330Thread | null = null;
  /** 0 none, 1 single, 2 burst: a request a peripheral raised and no DMAWFP took yet. */
  private readonly periphPending: Uint8Array;
  private fifoUsed = 0;
  private readonly fetchBuf = new Uint8Array(6);
  private readonly dataBuf = new Uint8Array(16 * 128);

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: Pl330Options = {}) {
    const config = resolveConfig(options);
    super(ctx, id, {
      irqNames: ["abort", ...Array.from({ length: config.events }, (_, e) => `irq${e}`)],
      busMaster: true,
    });
    this.config = config;
    this.registers = new RegisterMap(pl330Registers(config));
    this.busBytes = config.dataWidthBits / 8;
    this.periphPending = new Uint8Array(Math.max(config.peripherals, 1));
    this.manager = new Pl330Thread(-1, "manager", new ByteFifo(1));
    this.channels = Array.from(
      { length: config.channels },
      (_, i) => new Pl330Thread(i, `ch${i}`, new ByteFifo(config.mfifoBytes)),
    );
    this.reset();
  }

  reset(): void {
    if (this.dbgEvent) this.clock.cancel(this.dbgEvent);
    this.dbgEvent = null;
    for (const t of [this.manager, ...this.channels]) {
      if (t.event) this.clock.cancel(t.event);
      t.event = null;
      t.state = "stopped";
      t.pc = 0;
      t.ns = false;
      t.faultType = 0;
      t.wakeup = 0;
      t.wfp = "single";
      t.sar = 0;
      t.dar = 0;
      t.ccr = 0;
      t.lc[0] = 0;
      t.lc[1] = 0;
      t.requestBurst = false;
      t.prefetch = null;
      t.interpretAt = -1;
      t.interpretPasses = 0;
      t.warned.clear();
      t.fifo.clear();
    }
    this.manager.ns = this.config.managerNonSecureAtReset;
    this.inten = 0;
    this.ris = 0;
    this.dbgInst0 = 0;
    this.dbgInst1 = 0;
    this.periphPending.fill(0);
    this.fifoUsed = 0;
    this.update();
  }

  /** The manager thread's state (DSR[3:0]). */
  get managerState(): Pl330ThreadState {
    return this.manager.state;
  }

  channelState(channel: number): Pl330ThreadState {
    return this.channel(channel).state;
  }

  /** Everything architectural about channel `channel` (or the manager with "manager"). */
  snapshot(channel: number | "manager"): Pl330ThreadSnapshot {
    const t = channel === "manager" ? this.manager : this.channel(channel);
    return {
      state: t.state,
      pc: t.pc,
      ns: t.ns,
      faultType: t.faultType,
      sar: t.sar,
      dar: t.dar,
      ccr: t.ccr,
      lc0: t.lc[0],
      lc1: t.lc[1],
      mfifoBytes: t.fifo.count,
    };
  }

  /**
   * A peripheral raises its request line: "single" (DMASREQ) or "burst" (DMABREQ). A channel
   * waiting in DMAWFP for it resumes; otherwise the request stays pending for the next DMAWFP.
   */
  peripheralRequest(periph: number, kind: "single" | "burst"): void {
    if (!Number.isInteger(periph) || periph < 0 || periph >= this.config.peripherals) {
      throw new RangeError(`${this.name}: no peripheral request interface ${periph}`);
    }
    const waiter = this.channels.find(
      (t) => t.state === "waitingForPeripheral" && t.wakeup === periph,
    );
    if (!waiter) {
      this.periphPending[periph] = kind === "burst" ? 2 : 1;
      return;
    }
    waiter.requestBurst = waiter.wfp === "periph" ? kind === "burst" : waiter.wfp === "burst";
    waiter.pc = (waiter.pc + 2) >>> 0;
    this.moveTo(waiter, "executing");
    this.schedule(waiter, 1);
  }

  private channel(n: number): Pl330Thread {
    const t = this.channels[n];
    if (!t) throw new RangeError(`${this.name}: no channel ${n}`);
    return t;
  }

  // ---- registers ---------------------------------------------------------------------------

  protected readRegister(offset: number): number {
    const reg = this.registers.decode(offset);
    if (!reg) {
      this.guestError(`read of unknown offset 0x${offset.toString(16)}`);
      return 0;
    }
    const { spec, index } = reg;
    if (spec.access === "wo") {
      this.guestError(`read of write-only ${spec.name}`);
      return 0;
    }
    const ch = this.channels[index] ?? this.manager;
    switch (spec.name) {
      case "DSR":
        return (
          (PL330_STATE_CODE[this.manager.state] |
            (this.manager.wakeup << 4) |
            (this.manager.ns ? 1 << 9 : 0)) >>>
          0
        );
      case "DPC":
        return this.manager.pc;
      case "INTEN":
        return this.inten;
      case "INT_EVENT_RIS":
        return this.ris;
      case "INTMIS":
        return (this.ris & this.inten) >>> 0;
      case "FSRD":
        return this.manager.isFaulting ? 1 : 0;
      case "FSRC":
        return this.channels.reduce((v, t, i) => (t.isFaulting ? v | (1 << i) : v), 0);
      case "FTRD":
        return this.manager.faultType;
      case "FTR":
        return ch.faultType;
      case "CSR":
        return (
          (PL330_STATE_CODE[ch.state] |
            (ch.wakeup << 4) |
            (ch.wfp === "burst" ? 1 << 14 : 0) |
            (ch.wfp === "periph" ? 1 << 15 : 0) |
            (ch.ns ? 1 << 21 : 0)) >>>
          0
        );
      case "CPC":
        return ch.pc;
      case "SAR":
        return ch.sar;
      case "DAR":
        return ch.dar;
      case "CCR":
        return ch.ccr;
      case "LC0":
        return ch.lc[0];
      case "LC1":
        return ch.lc[1];
      case "DBGSTATUS":
        return this.dbgEvent ? 1 : 0;
      default:
        return spec.reset ?? 0;
    }
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = this.registers.decode(offset);
    if (!reg) {
      this.guestError(
        `write of 0x${value.toString(16)} to unknown offset 0x${offset.toString(16)}`,
      );
      return;
    }
    const { spec } = reg;
    switch (spec.name) {
      case "INTEN":
        this.inten = (value & this.eventMask()) >>> 0;
        this.update();
        return;
      case "INTCLR":
        // Only enabled interrupts clear; a 1 for an event-mode bit has no effect (TRM, INTCLR).
        this.ris = (this.ris & ~(value & this.inten)) >>> 0;
        this.update();
        return;
      case "DBGCMD":
        this.debugCommand(value);
        return;
      case "DBGINST0":
        this.dbgInst0 = value;
        return;
      case "DBGINST1":
        this.dbgInst1 = value;
        return;
      default:
        this.guestError(`write of 0x${value.toString(16)} to read-only ${spec.name}`);
    }
  }

  private eventMask(): number {
    return this.config.events === 32 ? 0xffff_ffff : (1 << this.config.events) - 1;
  }

  /** The one place that drives the IRQ outputs. */
  private update(): void {
    const faulting = this.manager.isFaulting || this.channels.some((t) => t.isFaulting);
    this.irqs[0]!.set(faulting);
    const active = this.ris & this.inten;
    for (let e = 0; e < this.config.events; e++) this.irqs[1 + e]!.set(((active >>> e) & 1) === 1);
  }

  // ---- debug interface ---------------------------------------------------------------------

  private debugCommand(value: number): void {
    if (value !== 0) {
      this.guestError(`DBGCMD write of ${value} (only 0, execute, is defined)`);
      return;
    }
    if (this.dbgEvent) {
      this.guestError("DBGCMD written while DBGSTATUS is busy; ignored");
      return;
    }
    const inst0 = this.dbgInst0;
    const inst1 = this.dbgInst1;
    this.dbgEvent = this.clock.schedule(0, `${this.name} debug`, () =>
      this.executeDebug(inst0, inst1),
    );
  }

  /** TRM "Debug interface": the instruction runs on the thread DBGINST0 selects. */
  private executeDebug(inst0: number, inst1: number): void {
    this.dbgEvent = null;
    const chan = (inst0 >>> 8) & 7;
    const t = inst0 & 1 ? this.channels[chan] : this.manager;
    if (!t) {
      this.guestError(`debug instruction for channel ${chan}, which this PL330 does not have`);
      return;
    }
    const bytes = Uint8Array.of(
      (inst0 >>> 16) & 0xff,
      inst0 >>> 24,
      inst1 & 0xff,
      (inst1 >>> 8) & 0xff,
      (inst1 >>> 16) & 0xff,
      inst1 >>> 24,
    );
    const op = pl330OpOf(bytes[0]!);
    this.note("debug-instruction", { thread: t.name, opcode: bytes[0]! });
    if (op === undefined || !DEBUG_OPS.has(op)) {
      this.fault(t, PL330_FAULT.undef_instr | PL330_FAULT.dbg_instr);
      return;
    }
    if (t.isFaulting && op !== "DMAKILL") {
      this.guestError(`debug ${op} to faulting ${t.name} ignored (only DMAKILL leaves Faulting)`);
      return;
    }
    const insn = decodePl330(bytes)!;
    if (t.isManager && t.state === "stopped") this.moveTo(t, "executing");
    this.debugThread = t;
    this.execute(t, insn, 0, true);
    this.debugThread = null;
    if (t.isManager && t.state === "executing") this.moveTo(t, "stopped");
  }

  // ---- thread machinery --------------------------------------------------------------------

  /** Moves `t` to `to`, refusing what the TRM's state diagram does not allow. */
  private moveTo(t: Pl330Thread, to: Pl330ThreadState): void {
    const table = t.isManager ? PL330_MANAGER_TRANSITIONS : PL330_CHANNEL_TRANSITIONS;
    if (!table[t.state].includes(to)) {
      throw new Error(`${this.name} ${t.name}: illegal state change ${t.state} -> ${to}`);
    }
    const from = t.state;
    t.state = to;
    this.note("thread-state", { thread: t.name, from, to, pc: t.pc });
  }

  private schedule(t: Pl330Thread, cycles: number): void {
    if (t.event) return;
    t.event = this.clock.schedule(cycles * PL330_CYCLE_NS, `${this.name} ${t.name}`, () =>
      this.run(t),
    );
  }

  private unschedule(t: Pl330Thread): void {
    if (t.event) this.clock.cancel(t.event);
    t.event = null;
    t.prefetch = null;
  }

  private run(t: Pl330Thread): void {
    t.event = null;
    let used = 0;
    while (t.state === "executing" && used < PL330_QUANTUM_CYCLES) {
      const insn = this.fetch(t);
      if (!insn) break;
      if (used > 0 && SIGNAL_OPS.has(insn.op)) {
        t.prefetch = { pc: t.pc, insn };
        break;
      }
      t.prefetch = null;
      used += this.execute(t, insn, PL330_QUANTUM_CYCLES - used, false);
    }
    if (t.state === "executing") this.schedule(t, Math.max(used, 1));
  }

  /** Fetches the instruction at CPC through the DMA port: opcode first, then its operands. */
  private fetch(t: Pl330Thread): Pl330Insn | undefined {
    if (t.prefetch && t.prefetch.pc === t.pc) return t.prefetch.insn;
    const buf = this.fetchBuf;
    if (this.dma.read(t.pc, buf.subarray(0, 1))) {
      this.fault(t, PL330_FAULT.instr_fetch_err);
      return undefined;
    }
    const size = pl330InsnSize(buf[0]!);
    if (size === undefined) {
      this.fault(t, PL330_FAULT.undef_instr);
      return undefined;
    }
    if (size > 1 && this.dma.read((t.pc + 1) >>> 0, buf.subarray(1, size))) {
      this.fault(t, PL330_FAULT.instr_fetch_err);
      return undefined;
    }
    return decodePl330(buf.subarray(0, size));
  }

  private fault(t: Pl330Thread, bits: number): void {
    // A fault raised by an instruction from DBGINST says so (TRM: FTR dbg_instr).
    const dbg = t === this.debugThread ? PL330_FAULT.dbg_instr : 0;
    t.faultType = (t.faultType | bits | dbg) >>> 0;
    if (!t.isFaulting) {
      this.unschedule(t);
      if (t.isManager) {
        if (t.state === "stopped") this.moveTo(t, "executing");
        this.moveTo(t, "faulting");
      } else {
        // Nothing is outstanding in this model, so Faulting completing lasts no time.
        this.moveTo(t, "faultingCompleting");
        this.moveTo(t, "faulting");
      }
      this.note("fault", {
        thread: t.name,
        pc: t.pc,
        type: pl330FaultNames(t.faultType).join("|"),
      });
    }
    this.update();
  }

  /** DMAKILL: the only way out of Faulting; drops the thread's MFIFO data. */
  private kill(t: Pl330Thread): void {
    this.unschedule(t);
    if (t.state !== "stopped") {
      if (t.isManager) {
        this.moveTo(t, "stopped");
      } else {
        this.moveTo(t, "killing");
        this.dropFifo(t);
        this.moveTo(t, "stopped");
      }
    }
    t.faultType = 0;
    this.update();
  }

  private dropFifo(t: Pl330Thread): void {
    this.fifoUsed -= t.fifo.count;
    t.fifo.clear();
  }

  private next(t: Pl330Thread, insn: Pl330Insn, debug: boolean): void {
    if (!debug) t.pc = (t.pc + insn.size) >>> 0;
  }

  private warnOnce(t: Pl330Thread, key: string, report: () => void): void {
    if (t.warned.has(key)) return;
    t.warned.add(key);
    report();
  }

  // ---- instructions ------------------------------------------------------------------------

  /** Executes one instruction; returns the cycles it cost. `debug`: from DBGINST, PC untouched. */
  private execute(t: Pl330Thread, insn: Pl330Insn, budget: number, debug: boolean): number {
    if (t.isManager ? !MANAGER_OPS.has(insn.op) : insn.op === "DMAGO") {
      this.fault(t, PL330_FAULT.undef_instr);
      return 1;
    }
    switch (insn.op) {
      case "DMAADDH":
      case "DMAADNH": {
        // DMAADNH extends its immediate with ones: the addend is negative (TRM, DMAADNH).
        const add = insn.op === "DMAADDH" ? insn.imm : insn.imm - 0x10000;
        if (insn.toDar) t.dar = (t.dar + add) >>> 0;
        else t.sar = (t.sar + add) >>> 0;
        this.next(t, insn, debug);
        return 1;
      }
      case "DMAEND":
        // CPC ends past the DMAEND, as in QEMU (the TRM leaves it unstated).
        this.next(t, insn, debug);
        this.end(t);
        return 1;
      case "DMAFLUSHP": {
        const p = this.periphOperand(t, insn.operand);
        if (p < 0) return 1;
        this.periphPending[p] = 0;
        this.next(t, insn, debug);
        return 1;
      }
      case "DMAGO":
        this.go(t, insn, debug);
        return 1;
      case "DMAKILL":
        this.next(t, insn, debug);
        this.kill(t);
        return 1;
      case "DMALD":
        return this.load(t, insn, insn.cond, debug);
      case "DMALDP":
        if (this.periphOperand(t, insn.operand) < 0) return 1;
        return this.load(t, insn, insn.cond, debug);
      case "DMALP":
        t.lc[insn.lc] = insn.count;
        this.next(t, insn, debug);
        return 1;
      case "DMALPEND":
        return this.loopEnd(t, insn, budget, debug);
      case "DMAMOV":
        if (insn.operand > 2) {
          this.fault(t, PL330_FAULT.operand_invalid);
          return 1;
        }
        if (insn.operand === 0) t.sar = insn.imm;
        else if (insn.operand === 1) t.ccr = insn.imm;
        else t.dar = insn.imm;
        this.next(t, insn, debug);
        return 1;
      case "DMANOP":
      case "DMARMB":
      case "DMAWMB":
        this.next(t, insn, debug);
        return 1;
      case "DMASEV":
        if (this.sendEvent(t, insn.operand)) this.next(t, insn, debug);
        return 1;
      case "DMAST":
        return this.store(t, insn, insn.cond, debug);
      case "DMASTP":
        if (this.periphOperand(t, insn.operand) < 0) return 1;
        return this.store(t, insn, insn.cond, debug);
      case "DMASTZ":
        return this.storeZero(t, insn, debug);
      case "DMAWFE":
        this.waitForEvent(t, insn, debug);
        return 1;
      case "DMAWFP":
        this.waitForPeripheral(t, insn, debug);
        return 1;
    }
  }

  /** DMAEND: done once nothing is outstanding, which here is at once. */
  private end(t: Pl330Thread): void {
    this.unschedule(t);
    if (t.isManager) {
      this.moveTo(t, "stopped");
      return;
    }
    this.moveTo(t, "completing");
    if (t.fifo.count > 0) {
      this.guestError(
        `${t.name}: DMAEND with ${t.fifo.count} loaded byte(s) never stored; dropped`,
      );
      this.dropFifo(t);
    }
    this.moveTo(t, "stopped");
  }

  /** DMAGO on the manager: start a stopped channel at the immediate address. */
  private go(t: Pl330Thread, insn: Extract<Pl330Insn, { op: "DMAGO" }>, debug: boolean): void {
    const ch = insn.operand <= 7 ? this.channels[insn.operand] : undefined;
    if (ch?.state !== "stopped") {
      this.fault(t, PL330_FAULT.operand_invalid);
      return;
    }
    if (t.ns && !insn.ns) {
      this.fault(t, PL330_FAULT.dmago_err);
      return;
    }
    ch.pc = insn.imm;
    ch.ns = insn.ns;
    ch.requestBurst = false;
    ch.prefetch = null;
    ch.interpretAt = -1;
    ch.interpretPasses = 0;
    ch.warned.clear();
    this.moveTo(ch, "executing");
    this.schedule(ch, 1);
    this.next(t, insn, debug);
  }

  /** Peripheral number of a DMAWFP/DMALDP/DMASTP/DMAFLUSHP operand, or -1 after faulting. */
  private periphOperand(t: Pl330Thread, operand: number): number {
    const p = operand >>> 3;
    if ((operand & 7) !== 0 || p >= this.config.peripherals) {
      this.fault(t, PL330_FAULT.operand_invalid);
      return -1;
    }
    if (t.ns && !((this.config.periphNonSecureMask >>> p) & 1)) {
      this.fault(t, PL330_FAULT.periph_err);
      return -1;
    }
    return p;
  }

  /** Event number of a DMASEV/DMAWFE operand, or -1 after faulting. */
  private eventOperand(t: Pl330Thread, operand: number, reserved: number): number {
    const e = operand >>> 3;
    if ((operand & reserved) !== 0 || e >= this.config.events) {
      this.fault(t, PL330_FAULT.operand_invalid);
      return -1;
    }
    if (t.ns && !((this.config.eventNonSecureMask >>> e) & 1)) {
      this.fault(t, PL330_FAULT.evnt_err);
      return -1;
    }
    return e;
  }

  /**
   * DMASEV: with INTEN[e] set, raise interrupt e; otherwise wake every thread waiting for
   * event e, or leave the event pending for the next DMAWFE if none is.
   */
  private sendEvent(t: Pl330Thread, operand: number): boolean {
    const e = this.eventOperand(t, operand, 7);
    if (e < 0) return false;
    const bit = 1 << e;
    if (this.inten & bit) {
      this.ris = (this.ris | bit) >>> 0;
      this.update();
      return true;
    }
    const waiters = this.channels.filter((c) => c.state === "waitingForEvent" && c.wakeup === e);
    if (waiters.length === 0) {
      this.ris = (this.ris | bit) >>> 0;
      return true;
    }
    for (const w of waiters) {
      w.pc = (w.pc + 2) >>> 0;
      this.moveTo(w, "executing");
      this.schedule(w, 1);
    }
    return true;
  }

  /** DMAWFE: consume a pending event at once, or wait (CPC stays on the DMAWFE) for one. */
  private waitForEvent(
    t: Pl330Thread,
    insn: Extract<Pl330Insn, { op: "DMAFLUSHP" | "DMASEV" | "DMAWFE" }>,
    debug: boolean,
  ): void {
    const e = this.eventOperand(t, insn.operand, 5);
    if (e < 0) return;
    const bit = 1 << e;
    t.wakeup = e;
    if (this.ris & bit && !(this.inten & bit)) {
      this.ris = (this.ris & ~bit) >>> 0;
      this.next(t, insn, debug);
      return;
    }
    this.unschedule(t);
    this.moveTo(t, "waitingForEvent");
  }

  /** DMAWFP: take a pending request at once, or wait (CPC stays on the DMAWFP) for one. */
  private waitForPeripheral(
    t: Pl330Thread,
    insn: Extract<Pl330Insn, { op: "DMAWFP" }>,
    debug: boolean,
  ): void {
    const p = this.periphOperand(t, insn.operand);
    if (p < 0) return;
    t.wakeup = p;
    t.wfp = insn.cond;
    const pending = this.periphPending[p]!;
    if (pending !== 0) {
      this.periphPending[p] = 0;
      t.requestBurst = insn.cond === "periph" ? pending === 2 : insn.cond === "burst";
      this.next(t, insn, debug);
      return;
    }
    this.unschedule(t);
    this.moveTo(t, "waitingForPeripheral");
  }

  /** False when an S/B form does not match request_flag: then the instruction is a DMANOP. */
  private condHolds(t: Pl330Thread, cond: Pl330Cond): boolean {
    return pl330CondHolds(cond, t.requestBurst);
  }

  private beatCycles(beatBytes: number): number {
    return pl330BeatCycles(beatBytes, this.busBytes);
  }

  /** Logs, once per run, the CCR settings this model performs but does not model fully. */
  private checkCcr(t: Pl330Thread, beatBytes: number, side: "source" | "destination"): void {
    if ((t.ccr >>> 28) & 7) {
      this.warnOnce(t, "es", () =>
        this.unimplemented(`${t.name}: CCR endian swap (ES) not performed`),
      );
    }
    if (beatBytes > this.busBytes) {
      this.warnOnce(t, side, () =>
        this.guestError(
          `${t.name}: ${side} beat of ${beatBytes} bytes exceeds the ${this.busBytes}-byte data bus`,
        ),
      );
    }
  }

  /**
   * Bytes an incrementing or fixed burst moves. An unaligned first beat only carries the bytes
   * up to the next beat boundary (AXI); with a fixed address every beat is that partial one.
   */
  private static burstBytes(addr: number, beatBytes: number, beats: number, inc: boolean): number {
    const off = addr & (beatBytes - 1);
    return inc ? beatBytes * beats - off : beats * (beatBytes - off);
  }

  /** DMALD/DMALDP: one source burst into the channel's MFIFO share. */
  private load(t: Pl330Thread, insn: Pl330Insn, cond: Pl330Cond, debug: boolean): number {
    if (!this.condHolds(t, cond)) {
      this.next(t, insn, debug);
      return 1;
    }
    const beatBytes = 1 << ((t.ccr >>> 1) & 7);
    const beats = cond === "single" ? 1 : ((t.ccr >>> 4) & 0xf) + 1;
    const inc = (t.ccr & 1) !== 0;
    const cycles = 1 + beats * this.beatCycles(beatBytes);
    if (t.ns && !((t.ccr >>> 8) & PL330_PROT_NS)) {
      this.fault(t, PL330_FAULT.rdwr_err);
      return 1;
    }
    this.checkCcr(t, beatBytes, "source");
    const total = Pl330.burstBytes(t.sar, beatBytes, beats, inc);
    if (total > this.config.mfifoBytes - this.fifoUsed) {
      this.fault(t, PL330_FAULT.mfifo_err);
      return 1;
    }
    const buf = this.dataBuf.subarray(0, total);
    let error: BusError | undefined;
    if (inc) {
      error = this.dma.read(t.sar, buf);
    } else {
      const per = total / beats;
      for (let i = 0; i < beats && !error; i++)
        error = this.dma.read(t.sar, buf.subarray(i * per, (i + 1) * per));
    }
    if (error) {
      this.fault(t, PL330_FAULT.data_read_err);
      return cycles;
    }
    t.fifo.push(buf);
    this.fifoUsed += total;
    if (inc) t.sar = (t.sar + total) >>> 0;
    this.next(t, insn, debug);
    return cycles;
  }

  /** DMAST/DMASTP: one destination burst out of the MFIFO; a faulting burst writes nothing. */
  private store(t: Pl330Thread, insn: Pl330Insn, cond: Pl330Cond, debug: boolean): number {
    if (!this.condHolds(t, cond)) {
      this.next(t, insn, debug);
      return 1;
    }
    const beatBytes = 1 << ((t.ccr >>> 15) & 7);
    const beats = cond === "single" ? 1 : ((t.ccr >>> 18) & 0xf) + 1;
    const inc = (t.ccr & (1 << 14)) !== 0;
    const cycles = 1 + beats * this.beatCycles(beatBytes);
    if (t.ns && !((t.ccr >>> 22) & PL330_PROT_NS)) {
      this.fault(t, PL330_FAULT.rdwr_err);
      return 1;
    }
    this.checkCcr(t, beatBytes, "destination");
    const total = Pl330.burstBytes(t.dar, beatBytes, beats, inc);
    if (total > t.fifo.count) {
      this.fault(t, PL330_FAULT.st_data_unavailable);
      return 1;
    }
    const buf = this.dataBuf.subarray(0, total);
    t.fifo.peek(buf);
    if (this.writeBurst(t.dar, buf, beats, inc)) {
      this.fault(t, PL330_FAULT.data_write_err);
      return cycles;
    }
    t.fifo.drop(total);
    this.fifoUsed -= total;
    if (inc) t.dar = (t.dar + total) >>> 0;
    this.next(t, insn, debug);
    return cycles;
  }

  /** DMASTZ: a destination burst of zeros, without the MFIFO. */
  private storeZero(t: Pl330Thread, insn: Pl330Insn, debug: boolean): number {
    const beatBytes = 1 << ((t.ccr >>> 15) & 7);
    const beats = ((t.ccr >>> 18) & 0xf) + 1;
    const inc = (t.ccr & (1 << 14)) !== 0;
    const cycles = 1 + beats * this.beatCycles(beatBytes);
    if (t.ns && !((t.ccr >>> 22) & PL330_PROT_NS)) {
      this.fault(t, PL330_FAULT.rdwr_err);
      return 1;
    }
    this.checkCcr(t, beatBytes, "destination");
    const total = Pl330.burstBytes(t.dar, beatBytes, beats, inc);
    const buf = this.dataBuf.subarray(0, total).fill(0);
    if (this.writeBurst(t.dar, buf, beats, inc)) {
      this.fault(t, PL330_FAULT.data_write_err);
      return cycles;
    }
    if (inc) t.dar = (t.dar + total) >>> 0;
    this.next(t, insn, debug);
    return cycles;
  }

  private writeBurst(
    addr: number,
    buf: Uint8Array,
    beats: number,
    inc: boolean,
  ): BusError | undefined {
    if (inc) return this.dma.write(addr, buf);
    const per = buf.length / beats;
    for (let i = 0; i < beats; i++) {
      const e = this.dma.write(addr, buf.subarray(i * per, (i + 1) * per));
      if (e) return e;
    }
    return undefined;
  }

  /** DMALPEND/DMALPFE: jump back while the loop counter is non-zero (decrementing it). */
  private loopEnd(
    t: Pl330Thread,
    insn: Extract<Pl330Insn, { op: "DMALPEND" }>,
    budget: number,
    debug: boolean,
  ): number {
    if (!this.condHolds(t, insn.cond)) {
      this.next(t, insn, debug);
      return 1;
    }
    if (!insn.forever) {
      const left = t.lc[insn.lc];
      if (left === 0) {
        this.next(t, insn, debug);
        return 1;
      }
      if (!debug && this.config.fastPath) {
        const batched = this.runBatched(t, insn, budget);
        if (batched > 0) return batched;
      }
      t.lc[insn.lc] = left - 1;
    }
    if (!debug) t.pc = (t.pc - insn.jump) >>> 0;
    return 1;
  }

  // ---- loop fast path ----------------------------------------------------------------------

  /**
   * Runs as many of the remaining passes of the loop closed by the DMALPEND at CPC as the
   * budget allows, as batched copies. Leaves CPC on the DMALPEND with the loop counter lowered
   * by the passes done, exactly where the interpreter would stand after them; returns their
   * cycles, or 0 when nothing could be batched.
   */
  private runBatched(
    t: Pl330Thread,
    insn: Extract<Pl330Insn, { op: "DMALPEND" }>,
    budget: number,
  ): number {
    const pc = t.pc;
    if (t.interpretAt === pc && t.interpretPasses > 0) {
      t.interpretPasses--;
      return 0;
    }
    const ccr = t.ccr;
    const srcBeat = 1 << ((ccr >>> 1) & 7);
    const dstBeat = 1 << ((ccr >>> 15) & 7);
    if (
      t.fifo.count !== 0 ||
      (ccr & 1) === 0 ||
      (ccr & (1 << 14)) === 0 ||
      (ccr >>> 28) & 7 ||
      srcBeat > this.busBytes ||
      dstBeat > this.busBytes ||
      (t.ns && (!((ccr >>> 8) & PL330_PROT_NS) || !((ccr >>> 22) & PL330_PROT_NS))) ||
      t.sar % srcBeat !== 0 ||
      t.dar % dstBeat !== 0
    ) {
      return 0;
    }
    // The body must sit in the page the DMALPEND was fetched from: reading it then cannot fault
    // or touch anything the interpreter would not.
    const start = pc - insn.jump;
    if (
      insn.jump === 0 ||
      start < 0 ||
      Math.floor(start / PAGE_SIZE) !== Math.floor((pc + 1) / PAGE_SIZE)
    ) {
      return 0;
    }
    const body = new Uint8Array(insn.jump);
    if (this.dma.read(start, body)) return 0;
    const pass = planPl330Pass(
      body,
      { ccr, requestBurst: t.requestBurst, busBytes: this.busBytes },
      1 << insn.lc,
    );
    if (
      !pass ||
      pass.loaded === 0 ||
      pass.loaded !== pass.stored ||
      pass.net !== 0 ||
      pass.min < 0 ||
      pass.max > this.config.mfifoBytes - this.fifoUsed
    ) {
      return 0;
    }
    const bytes = pass.loaded;
    const passCycles = pass.cycles + 1;
    const left = t.lc[insn.lc];
    const passes = Math.min(left, Math.max(1, Math.floor(budget / passCycles)));
    if (t.sar + passes * bytes > 0x1_0000_0000 || t.dar + passes * bytes > 0x1_0000_0000) return 0;
    const perChunk = Math.max(1, Math.floor(PL330_BATCH_BYTES / bytes));
    const guard = { address: start, length: insn.jump + insn.size };
    let done = 0;
    while (done < passes) {
      const n = Math.min(perChunk, passes - done);
      const length = n * bytes;
      if (this.dma.copyBatch(t.dar, t.sar, length, guard) !== undefined) {
        t.interpretAt = pc;
        t.interpretPasses = n;
        break;
      }
      t.sar = (t.sar + length) >>> 0;
      t.dar = (t.dar + length) >>> 0;
      t.lc[insn.lc] -= n;
      done += n;
    }
    if (done === 0) {
      // This DMALPEND itself starts the first pass the interpreter now runs.
      t.interpretPasses--;
      return 0;
    }
    // Every nested loop ran to completion in each pass, so its counter ends at zero.
    if (pass.innerLoops & 1) t.lc[0] = 0;
    if (pass.innerLoops & 2) t.lc[1] = 0;
    this.note("loop-batch", { thread: t.name, pc, passes: done, bytes: done * bytes });
    return done * passCycles;
  }
}

export const pl330Model: DeviceModel = {
  compatible: ["arm,pl330"],
  description:
    "ARM PrimeCell PL330 DMA controller (DMA-330 r1p1): 8 channels, MFIFO, debug interface",
  create: (ctx, id) => new Pl330(ctx, id),
};
