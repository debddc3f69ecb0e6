/**
 * A minimal machine for the mm tests: sparse RAM on a system bus, a page allocator over it, an
 * address space, and a scratch MMIO device a driver-style mmap hook can remap.
 */

import {
  type AccessSize,
  BusError,
  type MmioHandler,
  PAGE_SIZE,
  PhysicalMemory,
  SystemBus,
} from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import { AddressSpace } from "./address-space.js";
import { FMODE_READ, FMODE_WRITE } from "./mman.js";
import { PageAllocator } from "./page-allocator.js";
import type { MmapFile, Vma } from "./vma.js";

export const RAM_BASE = 0x4000_0000;
export const MMIO_BASE = 0x0c00_0000;

/** A device window of 32-bit registers; offsets at or past `size` answer SLVERR. */
export class ScratchDevice implements MmioHandler {
  readonly regs: Uint32Array;
  constructor(readonly size: number) {
    this.regs = new Uint32Array(size / 4);
  }
  mmioRead(offset: number, size: AccessSize): number | BusError {
    if (offset + size > this.size / 2) {
      return new BusError({ reason: "device", address: offset, size, write: false });
    }
    const word = this.regs[offset >> 2]!;
    return size === 4 ? word : (word >>> ((offset & 3) * 8)) & (size === 1 ? 0xff : 0xffff);
  }
  mmioWrite(offset: number, size: AccessSize, value: number): BusError | undefined {
    if (offset + size > this.size / 2) {
      return new BusError({ reason: "device", address: offset, size, write: true });
    }
    if (size === 4) this.regs[offset >> 2] = value;
    else {
      const shift = (offset & 3) * 8;
      const mask = (size === 1 ? 0xff : 0xffff) << shift;
      this.regs[offset >> 2] = (this.regs[offset >> 2]! & ~mask) | ((value << shift) & mask);
    }
    return undefined;
  }
}

export interface MmMachine {
  memory: PhysicalMemory;
  bus: SystemBus;
  allocator: PageAllocator;
  device: ScratchDevice;
  newMm(): AddressSpace;
}

/** A board with `ramPages` of RAM at 0x4000_0000 and a two-page scratch device (second page faults). */
export function machine(ramPages = 1024): MmMachine {
  const memory = new PhysicalMemory();
  const bus = new SystemBus(memory);
  bus.addRam("ram", RAM_BASE, ramPages * PAGE_SIZE);
  const device = new ScratchDevice(2 * PAGE_SIZE);
  bus.addMmio("scratch", MMIO_BASE, 2 * PAGE_SIZE, device);
  const allocator = new PageAllocator(memory, [{ base: RAM_BASE, size: ramPages * PAGE_SIZE }]);
  return {
    memory,
    bus,
    allocator,
    device,
    newMm: () => new AddressSpace({ allocator, bus }),
  };
}

/** A driver file whose mmap hook remaps the scratch device, as vfio-platform's does. */
export function deviceFile(
  opts: { fMode?: number; fail?: boolean } = {},
): MmapFile & { refs: number; mapped: Vma[] } {
  const file = {
    refs: 0,
    mapped: [] as Vma[],
    fMode: opts.fMode ?? FMODE_READ | FMODE_WRITE,
    mapsName: "/dev/scratch",
    mmap(vma: Vma) {
      vma.remapPfnRange(MMIO_BASE / PAGE_SIZE + vma.pgoff, vma.end - vma.start);
      file.mapped.push(vma);
      if (opts.fail) throw new SysError("EINVAL", "scratch_mmap", "failed after remapping");
    },
    getFile() {
      file.refs++;
    },
    fput() {
      file.refs--;
    },
  };
  return file;
}

/** Bytes 0,1,2,… (mod 251) starting at `seed`. */
export function pattern(len: number, seed = 1): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i) % 251;
  return b;
}

/** "CODE:function" of the SysError `f` throws, or "ok". */
export function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (SysError.isInstance(e)) return `${e.code}:${e.fn}`;
    throw e;
  }
  return "ok";
}
