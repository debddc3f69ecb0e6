/**
 * printk (kernel/printk/printk.c): log levels, `vprintk_emit()`/`vprintk_store()` into the ring
 * buffer with virtual-time stamps, `pr_*` helpers with a `pr_fmt` prefix, the console-style
 * `dmesg` text (`[    1.234567] text`), and listeners so the trace bus sees every record.
 *
 * What a record gets, as `vprintk_store()` builds it: the text capped at PRINTKRB_RECORD_MAX − 1
 * bytes, one trailing newline stripped, and for kernel messages (facility 0) any leading
 * `KERN_SOH` level markers parsed and removed; a message without a level gets
 * `default_message_loglevel` (CONFIG_MESSAGE_LOGLEVEL_DEFAULT = 4, KERN_WARNING).
 *
 * Caveats: consoles and `console_loglevel` are not modelled (nothing is printed anywhere; the
 * ring is the log). `KERN_CONT` continuation records are not merged: a `KERN_CONT` message is a
 * record of its own. `pr_debug()`/`dev_dbg()` are dropped unless `debug` is set, as a kernel
 * without DEBUG and with dynamic debug off does. The caller id (CONFIG_PRINTK_CALLER) is not kept.
 */

import { devDriverString, devPrintkInfo, type PrintkDevice } from "./dev-printk.js";
import {
  KERN_ALERT,
  KERN_CRIT,
  KERN_DEBUG,
  KERN_EMERG,
  KERN_ERR,
  KERN_INFO,
  KERN_NOTICE,
  KERN_WARNING,
  LOG_KERN,
  LOGLEVEL_DEFAULT,
  MESSAGE_LOGLEVEL_DEFAULT,
} from "./levels.js";
import { type PrintkRecord, PrintkRingbuffer } from "./printk-ringbuffer.js";

/** kernel/printk/internal.h: the largest record reserved (text + NUL). */
export const PRINTKRB_RECORD_MAX = 1024;
/** kernel/printk/internal.h: the buffer a formatted (extended) message is built in. */
export const PRINTK_MESSAGE_MAX = 2048;

/** include/linux/dev_printk.h: `struct dev_printk_info` (sizes of its char arrays included). */
export interface DevPrintkInfo {
  /** At most 15 characters (`PRINTK_INFO_SUBSYSTEM_LEN` is 16). */
  readonly subsystem: string;
  /** At most 47 characters (`PRINTK_INFO_DEVICE_LEN` is 48). */
  readonly device: string;
}

export type { PrintkRead, PrintkRecord } from "./printk-ringbuffer.js";

export type PrintkListener = (record: PrintkRecord) => void;

export interface PrintkOptions {
  /** Virtual time in ns (the SoC clock): every record's timestamp. */
  readonly now: () => number;
  /** CONFIG_LOG_BUF_SHIFT: the ring holds 2^shift bytes of text (default 17, 128 KiB). */
  readonly logBufShift?: number;
  /** Keep pr_debug()/dev_dbg() messages (DEBUG defined, or dynamic debug switched on). */
  readonly debug?: boolean;
}

/** The `pr_*()` family bound to one `pr_fmt` prefix. */
export interface PrLogger {
  emerg(text: string): void;
  alert(text: string): void;
  crit(text: string): void;
  err(text: string): void;
  warn(text: string): void;
  notice(text: string): void;
  info(text: string): void;
  /** pr_debug(): dropped unless the log was created with `debug`. */
  debug(text: string): void;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

export class Printk {
  /** The ring buffer (`prb`). */
  readonly rb: PrintkRingbuffer;
  readonly debugEnabled: boolean;
  private readonly now: () => number;
  private readonly listeners: PrintkListener[] = [];
  /** `clear_seq`: where `dmesg` and SEEK_DATA start after SYSLOG_ACTION_CLEAR. */
  private clearSeqValue = 0;

  constructor(opts: PrintkOptions) {
    this.now = opts.now;
    this.rb = new PrintkRingbuffer(opts.logBufShift ?? 17);
    this.debugEnabled = opts.debug ?? false;
  }

  /** `log_buf_len`. */
  get logBufLen(): number {
    return this.rb.dataSize;
  }

  get clearSeq(): number {
    return this.clearSeqValue;
  }

  /** printk(): a kernel message at `level` (or LOGLEVEL_DEFAULT and an in-band KERN_SOH level). */
  printk(level: number, text: string): PrintkRecord {
    return this.vprintkEmit(LOG_KERN, level, text);
  }

  /**
   * kernel/printk/printk.c: vprintk_emit() → vprintk_store(): stores one record and tells the
   * listeners. `facility` 0 is the kernel; /dev/kmsg writes pass their syslog facility and the
   * bytes the user wrote (kept exactly; `text` is their UTF-8 decoding).
   */
  vprintkEmit(
    facility: number,
    level: number,
    text: string | Uint8Array,
    devInfo?: DevPrintkInfo,
  ): PrintkRecord {
    const tsNs = this.now();
    let bytes = typeof text === "string" ? utf8.encode(text) : text;
    // The formatted text goes into a reservation of at most PRINTKRB_RECORD_MAX bytes, NUL
    // included; vscnprintf() silently cuts what does not fit.
    if (bytes.length > PRINTKRB_RECORD_MAX - 1) bytes = bytes.subarray(0, PRINTKRB_RECORD_MAX - 1);
    // printk_sprint(): mark and strip one trailing newline, then (kernel messages only) the
    // level markers, whose level printk_parse_prefix() already took.
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0a) bytes = bytes.subarray(0, -1);
    if (facility === LOG_KERN) {
      let skip = 0;
      while (bytes[skip] === 0x01 && isLevelChar(bytes[skip + 1])) {
        const c = bytes[skip + 1]!;
        if (level === LOGLEVEL_DEFAULT && c >= 0x30 && c <= 0x37) level = c - 0x30;
        skip += 2;
      }
      bytes = bytes.subarray(skip);
    }
    if (level === LOGLEVEL_DEFAULT) level = MESSAGE_LOGLEVEL_DEFAULT;
    const dict: string[] = [];
    if (devInfo?.subsystem) dict.push(`SUBSYSTEM=${devInfo.subsystem}`);
    if (devInfo?.device) dict.push(`DEVICE=${devInfo.device}`);
    const stored = bytes.slice();
    const record = this.rb.append({
      tsNs,
      facility,
      level: level & 7,
      text: utf8Decoder.decode(stored),
      bytes: stored,
      dict,
    });
    for (const listener of [...this.listeners]) listener(record);
    return record;
  }

  /**
   * drivers/base/core.c: __dev_printk() → dev_printk_emit(): `"<driver> <device>: text"` with
   * the device's SUBSYSTEM/DEVICE properties; a NULL device prints `(NULL device *): text`.
   */
  devPrintk(level: number, dev: PrintkDevice | null, text: string): PrintkRecord {
    if (dev === null) return this.vprintkEmit(LOG_KERN, level, `(NULL device *): ${text}`);
    const message = `${devDriverString(dev)} ${dev.name}: ${text}`;
    return this.vprintkEmit(LOG_KERN, level, message, devPrintkInfo(dev));
  }

  /** A `pr_*()` family whose messages start with `prefix` (what a `pr_fmt` define gives). */
  pr(prefix = ""): PrLogger {
    const at = (level: number) => (text: string) => {
      this.printk(level, prefix + text);
    };
    return {
      emerg: at(KERN_EMERG),
      alert: at(KERN_ALERT),
      crit: at(KERN_CRIT),
      err: at(KERN_ERR),
      warn: at(KERN_WARNING),
      notice: at(KERN_NOTICE),
      info: at(KERN_INFO),
      debug: (text) => {
        if (this.debugEnabled) this.printk(KERN_DEBUG, prefix + text);
      },
    };
  }

  /** Called with every stored record; returns the unsubscribe function. */
  subscribe(listener: PrintkListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** The records still in the ring, oldest first. */
  records(): PrintkRecord[] {
    return this.rb.records();
  }

  /** kernel/printk/printk.c: syslog_print_all(…, clear) — SYSLOG_ACTION_CLEAR (`dmesg -C`). */
  clear(): void {
    this.clearSeqValue = this.rb.nextSeq;
  }

  /**
   * The log as `dmesg` prints it: every record since the last clear, each line of its text
   * prefixed with the timestamp as record_print_text() does (`[%5lu.%06lu] `).
   */
  dmesg(): string[] {
    const lines: string[] = [];
    for (const r of this.rb.records()) {
      if (r.seq < this.clearSeqValue) continue;
      const prefix = `${printTime(r.tsNs)} `;
      for (const line of r.text.split("\n")) lines.push(prefix + line);
    }
    return lines;
  }
}

function isLevelChar(c: number | undefined): boolean {
  // printk_get_level(): '0'…'7' and 'c' (KERN_CONT).
  return c !== undefined && ((c >= 0x30 && c <= 0x37) || c === 0x63);
}

/** kernel/printk/printk.c: print_time() — `[%5lu.%06lu]` from a ns timestamp. */
export function printTime(tsNs: number): string {
  const ns = Math.max(0, Math.floor(tsNs));
  const sec = Math.floor(ns / 1e9);
  const usec = Math.floor((ns % 1e9) / 1000);
  return `[${String(sec).padStart(5, " ")}.${String(usec).padStart(6, "0")}]`;
}
