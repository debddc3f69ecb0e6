/**
 * A small world for the eventfd and poll tests: a virtual clock with its scheduler, a task with
 * a page of user memory, and an fd table that hands out the lowest free descriptor.
 */

import { PAGE_SIZE, VirtualClock } from "@vfio-lab/hw-soc";
import type { CapabilityName } from "../capability.js";
import type { AddressSpace } from "../mm/address-space.js";
import { machine } from "../mm/mm-test-fixture.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../mm/mman.js";
import { Scheduler } from "../sched/wait.js";
import type { RlimitName, Task } from "../task.js";
import { decodeScalar, encodeScalar, u64 } from "../uapi/struct.js";
import type { File } from "./file.js";

export class FakeTask implements Task {
  readonly pid = 42;
  readonly comm = "selftest";
  readonly uid = 0;
  readonly euid = 0;
  readonly gid = 0;
  readonly egid = 0;
  readonly mm: AddressSpace;
  /** RLIMIT_NOFILE soft limit. */
  nofile = 1024;
  constructor() {
    this.mm = machine(64).newMm();
  }
  capable(_cap: CapabilityName): boolean {
    return true;
  }
  rlimit(resource: RlimitName): number {
    return resource === "RLIMIT_NOFILE" ? this.nofile : 8 << 20;
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

export interface EventsWorld {
  clock: VirtualClock;
  scheduler: Scheduler;
  task: FakeTask;
  /** A writable page of the task's memory. */
  buf: number;
  /** A read-only page of the task's memory. */
  roBuf: number;
  fds: Map<number, File>;
  fget(fd: number): File | undefined;
  installFd(file: File, oflags: number): number;
  /** The oflags each installFd call was given, by fd. */
  installedFlags: Map<number, number>;
  /** Writes a u64 at `buf` (for write(2)). */
  pokeU64(value: bigint): void;
  /** Reads the u64 at `buf` (after read(2)). */
  peekU64(): bigint;
}

export function eventsWorld(): EventsWorld {
  const clock = new VirtualClock();
  const scheduler = new Scheduler(clock);
  const task = new FakeTask();
  const map = (prot: number) =>
    task.mm.mmap({ addr: 0, length: PAGE_SIZE, prot, flags: MAP_PRIVATE | MAP_ANONYMOUS });
  const buf = map(PROT_READ | PROT_WRITE);
  const roBuf = map(PROT_READ);
  const fds = new Map<number, File>();
  const installedFlags = new Map<number, number>();
  return {
    clock,
    scheduler,
    task,
    buf,
    roBuf,
    fds,
    installedFlags,
    fget: (fd) => fds.get(fd),
    installFd(file, oflags) {
      let fd = 0;
      while (fds.has(fd)) fd++;
      fds.set(fd, file);
      installedFlags.set(fd, oflags);
      return fd;
    },
    pokeU64: (value) => task.mm.writeUser(buf, encodeScalar(u64, value)),
    peekU64() {
      const bytes = new Uint8Array(8);
      task.mm.readUser(buf, bytes);
      return decodeScalar(bytes, 0, u64);
    },
  };
}
