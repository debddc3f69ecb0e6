/**
 * A small world for the printk and /dev/kmsg tests: a virtual clock with its scheduler, the log,
 * the /dev/kmsg driver, and a task with a page of user memory through which reads and writes go.
 */

import { PAGE_SIZE, VirtualClock } from "@vfio-lab/hw-soc";
import type { CapabilityName } from "../capability.js";
import {
  type File,
  FMODE_READ,
  FMODE_WRITE,
  type Inode,
  O_ACCMODE,
  O_RDONLY,
  O_WRONLY,
  S_IFCHR,
} from "../fs/file.js";
import type { AddressSpace } from "../mm/address-space.js";
import { machine } from "../mm/mm-test-fixture.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../mm/mman.js";
import { Scheduler } from "../sched/wait.js";
import type { RlimitName, Task } from "../task.js";
import { DEVKMSG_DEVICE, Devkmsg, type DevkmsgOptions } from "./devkmsg.js";
import { Printk } from "./printk.js";

export class KmsgTask implements Task {
  readonly pid = 100;
  readonly uid = 0;
  readonly euid = 0;
  readonly gid = 0;
  readonly egid = 0;
  readonly mm: AddressSpace;
  /** Capabilities the task lacks. */
  readonly dropped = new Set<CapabilityName>();
  constructor(
    readonly comm = "journald",
    mm?: AddressSpace,
  ) {
    this.mm = mm ?? machine(64).newMm();
  }
  capable(cap: CapabilityName): boolean {
    return !this.dropped.has(cap);
  }
  rlimit(_resource: RlimitName): number {
    return 8 << 20;
  }

  fget(_fd: number): undefined {
    return undefined;
  }

  fdInstall(): number {
    throw new Error("this test task has no descriptor table");
  }

  getUnusedFdFlags(): number {
    throw new Error("this test task has no descriptor table");
  }

  fdInstallReserved(): void {
    throw new Error("this test task has no descriptor table");
  }

  putUnusedFd(): void {
    throw new Error("this test task has no descriptor table");
  }
}

export interface KmsgWorld {
  clock: VirtualClock;
  scheduler: Scheduler;
  printk: Printk;
  devkmsg: Devkmsg;
  task: KmsgTask;
  /** Four writable pages of the task's memory. */
  buf: number;
  /** open("/dev/kmsg", flags) by the driver alone (no VFS). */
  open(flags?: number, task?: KmsgTask): File;
  /** read(2) of up to `count` bytes into `buf`; the bytes read as text. */
  read(file: File, count?: number, task?: KmsgTask): string;
  /** write(2) of `text` from `buf`; the count written. */
  write(file: File, text: string | Uint8Array, task?: KmsgTask): number;
}

const utf8 = new TextEncoder();
const latin1 = new TextDecoder("latin1");

export function kmsgWorld(
  opts: { logBufShift?: number } & Partial<Omit<DevkmsgOptions, "printk" | "scheduler">> = {},
): KmsgWorld {
  const clock = new VirtualClock();
  const scheduler = new Scheduler(clock);
  const printk = new Printk({
    now: () => clock.now,
    ...(opts.logBufShift !== undefined ? { logBufShift: opts.logBufShift } : {}),
  });
  const devkmsg = new Devkmsg({
    printk,
    scheduler,
    ...(opts.devkmsg !== undefined ? { devkmsg: opts.devkmsg } : {}),
    ...(opts.dmesgRestrict !== undefined ? { dmesgRestrict: opts.dmesgRestrict } : {}),
  });
  const task = new KmsgTask();
  const buf = task.mm.mmap({
    addr: 0,
    length: 4 * PAGE_SIZE,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
  const inode: Inode = {
    ino: 11,
    mode: S_IFCHR | DEVKMSG_DEVICE.mode,
    uid: 0,
    gid: 0,
    rdev: (DEVKMSG_DEVICE.major << 20) | DEVKMSG_DEVICE.minor,
    size: 0,
    fop: devkmsg.fops,
    private: null,
  };
  return {
    clock,
    scheduler,
    printk,
    devkmsg,
    task,
    buf,
    open(flags = O_RDONLY, t = task) {
      const acc = flags & O_ACCMODE;
      const file: File = {
        inode,
        fOp: devkmsg.fops,
        flags,
        mode: (acc === O_WRONLY ? 0 : FMODE_READ) | (acc === O_RDONLY ? 0 : FMODE_WRITE),
        pos: 0,
        path: "/dev/kmsg",
        privateData: null,
        refcount: 1,
      };
      devkmsg.fops.open!(inode, file, t);
      return file;
    },
    read(file, count = 4 * PAGE_SIZE, t = task) {
      const n = devkmsg.fops.read!(file, t, buf, count, { value: file.pos });
      const out = new Uint8Array(n);
      t.mm.readUser(buf, out);
      return latin1.decode(out);
    },
    write(file, text, t = task) {
      const bytes = typeof text === "string" ? utf8.encode(text) : text;
      t.mm.writeUser(buf, bytes);
      return devkmsg.fops.write!(file, t, buf, bytes.length, { value: file.pos });
    },
  };
}
