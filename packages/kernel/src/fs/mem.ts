/**
 * drivers/char/mem.c: the memory devices of major 1 ("mem" in /proc/devices) — /dev/null
 * (1:3), /dev/zero (1:5), /dev/full (1:7) and /dev/kmsg (1:11, whose operations the printk
 * layer supplies). memory_open() dispatches on the minor: ENXIO for a minor with no device.
 *
 * - null: reads end at once, writes swallow everything (without touching user memory);
 * - zero: reads fill the buffer with zeros a page at a time, a fault after some pages returns
 *   what was written; writes are swallowed;
 * - full: reads like zero, writes are ENOSPC;
 * - all three seek to 0 whatever is asked (null_lseek()).
 *
 * Caveat: /dev/mem, /dev/port, /dev/random and /dev/urandom are not modelled, and /dev/zero
 * cannot be mmap()ed (Linux maps it as anonymous or shared zero memory).
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import { copyToUser } from "../uaccess.js";
import type { CharDevices } from "./chrdev.js";
import type { Devtmpfs } from "./devtmpfs.js";
import type { File, FileOperations, Inode } from "./file.js";
import { MINOR, MKDEV } from "./kdev-t.js";
import { noopLlseek } from "./read-write.js";

/** include/uapi/linux/major.h MEM_MAJOR. */
export const MEM_MAJOR = 1;

/** drivers/char/mem.c: null_lseek() (also zero_lseek, full_lseek). */
function nullLlseek(file: File): number {
  file.pos = 0;
  return 0;
}

/** drivers/char/mem.c: read_iter_zero() — zeros page by page; a fault keeps what was done. */
function readZero(_file: File, current: Task, va: number, count: number): number {
  let written = 0;
  while (written < count) {
    const at = va + written;
    const chunk = Math.min(count - written, PAGE_SIZE - (at % PAGE_SIZE));
    try {
      copyToUser(current.mm, at, new Uint8Array(chunk), "read_iter_zero");
    } catch (e) {
      if (written > 0 && SysError.isInstance(e) && e.code === "EFAULT") return written;
      throw e;
    }
    written += chunk;
  }
  return written;
}

export const NULL_FOPS: FileOperations = Object.freeze({
  read: () => 0,
  write: (_file: File, _current: Task, _va: number, count: number) => count,
  llseek: nullLlseek,
});

export const ZERO_FOPS: FileOperations = Object.freeze({
  read: readZero,
  write: (_file: File, _current: Task, _va: number, count: number) => count,
  llseek: nullLlseek,
});

export const FULL_FOPS: FileOperations = Object.freeze({
  read: readZero,
  write(): never {
    throw new SysError("ENOSPC", "write_full");
  },
  llseek: nullLlseek,
});

/** One row of mem.c's devlist[]. */
interface MemDev {
  readonly name: string;
  readonly mode: number;
  fops: FileOperations | null;
}

export class MemDevices {
  /** drivers/char/mem.c devlist[], the modelled minors. */
  private readonly devlist = new Map<number, MemDev>([
    [3, { name: "null", mode: 0o666, fops: NULL_FOPS }],
    [5, { name: "zero", mode: 0o666, fops: ZERO_FOPS }],
    [7, { name: "full", mode: 0o666, fops: FULL_FOPS }],
    [11, { name: "kmsg", mode: 0o644, fops: null }],
  ]);

  /** drivers/char/mem.c: chr_dev_init() — major 1 and a node per device. */
  constructor(chrdev: CharDevices, devtmpfs: Devtmpfs) {
    const memoryFops: FileOperations = Object.freeze({
      open: (inode: Inode, file: File, current: Task) => this.memoryOpen(inode, file, current),
      llseek: noopLlseek,
    });
    chrdev.registerChrdev(MEM_MAJOR, 0, 256, "mem", memoryFops);
    for (const [minor, dev] of this.devlist) {
      devtmpfs.devtmpfsCreateNode({
        nodename: dev.name,
        devt: MKDEV(MEM_MAJOR, minor),
        mode: dev.mode,
      });
    }
  }

  /** Installs the /dev/kmsg operations (kernel/printk/printk.c kmsg_fops). */
  setKmsgFops(fops: FileOperations): void {
    this.devlist.get(11)!.fops = fops;
  }

  /** drivers/char/mem.c: memory_open() — ENXIO for a minor without a device. */
  private memoryOpen(inode: Inode, file: File, current: Task): void {
    const minor = MINOR(inode.rdev);
    const dev = this.devlist.get(minor);
    if (!dev?.fops) throw new SysError("ENXIO", "memory_open", `no memory device 1:${minor}`);
    // Built-in operations: mem.c assigns them without fops_get().
    file.fOp = dev.fops;
    dev.fops.open?.(inode, file, current);
  }
}
