/**
 * /dev/kmsg (kernel/printk/printk.c: `kmsg_fops`, char device 1:11 of drivers/char/mem.c): the
 * structured interface to the log. Each open file is a reader with its own position (a sequence
 * number); each read returns exactly one record as
 *
 *     <prio>,<seq>,<usec>,<flags>;<text>\n
 *      SUBSYSTEM=<subsystem>\n
 *      DEVICE=<device>\n
 *
 * with `prio = facility << 3 | level`, `flags` `-` (`c` would mark a continuation, which the
 * model never produces), and every byte below 0x20, from 0x7f, and the backslash escaped as
 * `\xNN`. A write injects one record (LOG_USER unless a `<N>` prefix names another facility).
 *
 * Errors and their order follow devkmsg_open/read/write/llseek/poll:
 * - open: EPERM when `printk.devkmsg=off`; readers also need CAP_SYSLOG if `dmesg_restrict`;
 * - read: EAGAIN with O_NONBLOCK and nothing new (else it sleeps in virtual time, and a read that
 *   nothing can ever satisfy is a `WouldBlockForeverError`); EPIPE once when the next record was
 *   overwritten (the position then jumps to the oldest one left); EINVAL when the buffer is
 *   smaller than the record and EFAULT for a bad buffer — both after the record was consumed,
 *   as Linux advances the position before it checks the buffer;
 * - write: EINVAL above PRINTKRB_RECORD_MAX bytes; unless `printk.devkmsg=on`, each opener may
 *   write 10 records per 5 s and further ones are dropped silently (`___ratelimit()`), the count
 *   being reported when the file is closed;
 * - llseek: ESPIPE for a non-zero offset, EINVAL for a whence other than SEEK_SET (oldest
 *   record), SEEK_DATA (first record after the last clear) or SEEK_END (after the newest).
 */

import { SysError } from "../errno.js";
import {
  type File,
  type FileOperations,
  O_ACCMODE,
  O_NONBLOCK,
  O_WRONLY,
  POLLERR,
  POLLIN,
  POLLPRI,
  POLLRDNORM,
  SEEK_END,
  SEEK_SET,
} from "../fs/file.js";
/** include/uapi/linux/fs.h: lseek whence values beyond SEEK_END. */
import { SEEK_DATA } from "../fs/read-write.js";
import type { Scheduler } from "../sched/wait.js";
import type { Task } from "../task.js";
import { copyFromUser, copyToUser } from "../uaccess.js";
import { KERN_WARNING, LOG_USER, MESSAGE_LOGLEVEL_DEFAULT } from "./levels.js";
import { PRINTK_MESSAGE_MAX, PRINTKRB_RECORD_MAX, type Printk } from "./printk.js";
import type { PrintkRecord } from "./printk-ringbuffer.js";

/** drivers/char/mem.c: the kmsg entry of `devlist[]`. */
export const DEVKMSG_DEVICE = { name: "kmsg", major: 1, minor: 11, mode: 0o644 } as const;

/** `printk.devkmsg=` / the `kernel.printk_devkmsg` sysctl. */
export type DevkmsgLog = "on" | "off" | "ratelimit";

/** include/linux/ratelimit_types.h: DEFAULT_RATELIMIT_INTERVAL (5 * HZ) and _BURST. */
const RATELIMIT_INTERVAL_NS = 5_000_000_000;
const RATELIMIT_BURST = 10;

/** lib/ratelimit.c: a `struct ratelimit_state` with RATELIMIT_MSG_ON_RELEASE. */
class RatelimitState {
  private begin: number | undefined;
  private printed = 0;
  missed = 0;

  /** ___ratelimit(): whether this event may go through; the misses are kept for release. */
  allow(now: number): boolean {
    this.begin ??= now;
    if (now > this.begin + RATELIMIT_INTERVAL_NS) {
      // A new interval; with MSG_ON_RELEASE the misses are not reported (nor reset) here.
      this.begin = now;
      this.printed = 0;
    }
    if (this.printed < RATELIMIT_BURST) {
      this.printed++;
      return true;
    }
    this.missed++;
    return false;
  }
}

/** `struct devkmsg_user`: the state of one open /dev/kmsg. */
interface DevkmsgUser {
  /** The next record this reader wants. */
  seq: number;
  readonly rs: RatelimitState;
  /** Who last wrote: ratelimit_state_exit() names `current->comm` when the file is released. */
  comm: string;
}

export interface DevkmsgOptions {
  readonly printk: Printk;
  /** Where a blocking read sleeps (virtual time). */
  readonly scheduler: Scheduler;
  /** `printk.devkmsg=` on the command line; default "ratelimit", as Linux. */
  readonly devkmsg?: DevkmsgLog;
  /** `kernel.dmesg_restrict` (CONFIG_SECURITY_DMESG_RESTRICT); default off, as upstream. */
  readonly dmesgRestrict?: boolean;
}

function userOf(file: File, fn: string): DevkmsgUser {
  const user = file.privateData as DevkmsgUser | null | undefined;
  if (!user || typeof user.seq !== "number") throw new SysError("EBADF", fn, "not /dev/kmsg");
  return user;
}

/** Bytes of the extended format, cut at PRINTK_MESSAGE_MAX as the kernel's buffer cuts them. */
class ExtBuffer {
  private readonly out = new Uint8Array(PRINTK_MESSAGE_MAX);
  length = 0;

  /** append_char(): one byte while there is room. */
  putc(c: number): void {
    if (this.length < PRINTK_MESSAGE_MAX) this.out[this.length++] = c;
  }

  /** scnprintf(): what fits, leaving room for the NUL terminator it always writes. */
  printf(text: string): void {
    const room = PRINTK_MESSAGE_MAX - this.length - 1;
    for (let i = 0; i < text.length && i < room; i++) this.out[this.length++] = text.charCodeAt(i);
  }

  /** msg_add_ext_text(): `bytes` with non-printable bytes and `\` escaped, then `end`. */
  addExtText(bytes: Uint8Array, end: number): void {
    for (const c of bytes) {
      if (c < 0x20 || c >= 0x7f || c === 0x5c) this.printf(`\\x${c.toString(16).padStart(2, "0")}`);
      else this.putc(c);
    }
    this.putc(end);
  }

  bytes(): Uint8Array {
    return this.out.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

/**
 * kernel/printk/printk.c: info_print_ext_header() + msg_print_ext_body() — one record in the
 * /dev/kmsg format, as the bytes a read() returns.
 */
export function formatDevkmsgRecord(record: PrintkRecord): Uint8Array {
  const buf = new ExtBuffer();
  const prio = (record.facility << 3) | record.level;
  const usec = Math.floor(Math.max(0, record.tsNs) / 1000);
  buf.printf(`${prio},${record.seq},${usec},-;`);
  buf.addExtText(record.bytes, 0x0a);
  for (const entry of record.dict) {
    // msg_add_dict_text(): " KEY=value\n", key and value escaped alike.
    const eq = entry.indexOf("=");
    buf.addExtText(new Uint8Array(0), 0x20);
    buf.addExtText(utf8.encode(entry.slice(0, eq)), 0x3d);
    buf.addExtText(utf8.encode(entry.slice(eq + 1)), 0x0a);
  }
  return buf.bytes();
}

/**
 * The /dev/kmsg driver: `fops` to register for char device 1:11, and the two sysctls that
 * govern it (`kernel.printk_devkmsg`, `kernel.dmesg_restrict`), which may change at run time.
 */
export class Devkmsg {
  devkmsgLog: DevkmsgLog;
  dmesgRestrict: boolean;
  readonly fops: FileOperations;
  private readonly printk: Printk;
  private readonly scheduler: Scheduler;

  constructor(opts: DevkmsgOptions) {
    this.printk = opts.printk;
    this.scheduler = opts.scheduler;
    this.devkmsgLog = opts.devkmsg ?? "ratelimit";
    this.dmesgRestrict = opts.dmesgRestrict ?? false;
    this.fops = {
      open: (_inode, file, current) => this.open(file, current),
      release: (_inode, file) => this.release(file),
      read: (file, current, va, count) => this.read(file, current, va, count),
      write: (file, current, va, count) => this.write(file, current, va, count),
      llseek: (file, offset, whence) => this.llseek(file, offset, whence),
      poll: (file) => this.poll(file),
    };
  }

  /** kernel/printk/printk.c: devkmsg_open() */
  open(file: File, current: Task): void {
    if (this.devkmsgLog === "off")
      throw new SysError("EPERM", "devkmsg_open", "printk.devkmsg=off");
    // check_syslog_permissions(SYSLOG_ACTION_READ_ALL): readers only; write-only opens pass.
    if ((file.flags & O_ACCMODE) !== O_WRONLY) {
      if (this.dmesgRestrict && !current.capable("CAP_SYSLOG")) {
        throw new SysError(
          "EPERM",
          "check_syslog_permissions",
          "dmesg_restrict without CAP_SYSLOG",
        );
      }
    }
    const user: DevkmsgUser = {
      seq: this.printk.rb.firstValidSeq,
      rs: new RatelimitState(),
      comm: current.comm,
    };
    file.privateData = user;
  }

  /** kernel/printk/printk.c: devkmsg_release() → ratelimit_state_exit() */
  release(file: File): void {
    const user = file.privateData as DevkmsgUser | null;
    if (user?.rs.missed) {
      this.printk.printk(
        KERN_WARNING,
        `${user.comm}: ${user.rs.missed} output lines suppressed due to ratelimiting`,
      );
      user.rs.missed = 0;
    }
    file.privateData = null;
  }

  /** kernel/printk/printk.c: devkmsg_read() */
  read(file: File, current: Task, va: number, count: number): number {
    const fn = "devkmsg_read";
    const user = userOf(file, fn);
    let found = this.printk.rb.read(user.seq);
    if (!found) {
      if (file.flags & O_NONBLOCK) throw new SysError("EAGAIN", fn, "no new record");
      this.scheduler.sleepUntil(
        () => this.printk.rb.read(user.seq) !== undefined,
        `read() of /dev/kmsg by ${current.comm} (pid ${current.pid}) waiting for record ${user.seq}`,
      );
      found = this.printk.rb.read(user.seq)!;
    }
    if (found.dropped > 0) {
      // Our next record is gone: report it once and continue from the oldest one left.
      user.seq = found.record.seq;
      throw new SysError("EPIPE", fn, `${found.dropped} records overwritten`);
    }
    user.seq = found.record.seq + 1;
    const out = formatDevkmsgRecord(found.record);
    if (out.length > count) {
      throw new SysError("EINVAL", fn, `record of ${out.length} bytes, buffer of ${count}`);
    }
    copyToUser(current.mm, va, out, fn);
    return out.length;
  }

  /** kernel/printk/printk.c: devkmsg_write() */
  write(file: File, current: Task, va: number, count: number): number {
    const fn = "devkmsg_write";
    const user = userOf(file, fn);
    if (count > PRINTKRB_RECORD_MAX) {
      throw new SysError("EINVAL", fn, `${count} bytes > PRINTKRB_RECORD_MAX`);
    }
    if (this.devkmsgLog === "off") return count;
    if (this.devkmsgLog !== "on" && !user.rs.allow(this.scheduler.now)) return count;
    const buf = copyFromUser(current.mm, va, count, fn);
    user.comm = current.comm;
    // The record is built with "%s": the text ends at the first NUL.
    const nul = buf.indexOf(0);
    let line = nul >= 0 ? buf.subarray(0, nul) : buf;
    let level: number = MESSAGE_LOGLEVEL_DEFAULT;
    let facility = LOG_USER;
    if (line[0] === 0x3c) {
      // "<N>": simple_strtoul() digits, taken as a 32-bit value; the low 3 bits are the
      // level, the next 8 the facility, and facility 0 (the kernel's) is not accepted.
      let u = 0;
      let end = 1;
      for (; end < line.length && line[end]! >= 0x30 && line[end]! <= 0x39; end++) {
        u = (u * 10 + (line[end]! - 0x30)) % 2 ** 32;
      }
      if (line[end] === 0x3e) {
        level = u & 7;
        const fac = Math.floor(u / 8) & 0xff;
        if (fac !== 0) facility = fac;
        line = line.subarray(end + 1);
      }
    }
    this.printk.vprintkEmit(facility, level, line);
    return count;
  }

  /** kernel/printk/printk.c: devkmsg_llseek() */
  llseek(file: File, offset: number, whence: number): number {
    const fn = "devkmsg_llseek";
    const user = userOf(file, fn);
    if (offset !== 0) throw new SysError("ESPIPE", fn, "records are not byte-addressable");
    switch (whence) {
      case SEEK_SET:
        user.seq = this.printk.rb.firstValidSeq;
        break;
      case SEEK_DATA:
        user.seq = this.printk.clearSeq;
        break;
      case SEEK_END:
        user.seq = this.printk.rb.nextSeq;
        break;
      default:
        throw new SysError("EINVAL", fn, `whence ${whence}`);
    }
    return 0;
  }

  /** kernel/printk/printk.c: devkmsg_poll() */
  poll(file: File): number {
    const user = userOf(file, "devkmsg_poll");
    const found = this.printk.rb.read(user.seq);
    if (!found) return 0;
    // Data vanished underneath the reader: readable, with an error to fetch (EPIPE).
    if (found.dropped > 0) return POLLIN | POLLRDNORM | POLLERR | POLLPRI;
    return POLLIN | POLLRDNORM;
  }
}
