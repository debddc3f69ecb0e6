/**
 * include/linux/uio_driver.h: what a UIO driver hands the UIO core — `struct uio_info` with up to
 * MAX_UIO_MAPS memory maps (`struct uio_mem`) and MAX_UIO_PORT_REGIONS port regions
 * (`struct uio_port`), its interrupt and the hooks the core calls — and the core's own
 * `struct uio_device` (the class device `uioN` and its event counter).
 *
 * Types and constants only; the behaviour is in uio.ts.
 *
 * Caveat:
 * - `mmap_prepare` (the 7.x hook that lets a driver set up the VMA itself) is not modelled: no
 *   driver of the model has one, so uio_mmap() always takes the memtype switch.
 * - `struct uio_mem.map` / `uio_port.portio` (the sysfs kobjects) live in uio.ts, not here.
 * - The fasync queue (SIGIO to user space) is not modelled: the model has no signals.
 */

import type { Device, IoMem, Kernel } from "@vfio-lab/kernel";

/** Memory maps per device (`MAX_UIO_MAPS`): map N is mmap offset N × PAGE_SIZE. */
export const MAX_UIO_MAPS = 5;
/** Port regions per device (`MAX_UIO_PORT_REGIONS`). */
export const MAX_UIO_PORT_REGIONS = 5;
/** Minors of the `uio` char region (`UIO_MAX_DEVICES = 1U << MINORBITS`). */
export const UIO_MAX_DEVICES = 1 << 20;

/** `uio_info->irq`: the driver handles the interrupt itself (the core requests nothing). */
export const UIO_IRQ_CUSTOM = -1;
/** `uio_info->irq`: no interrupt — read() and write() fail with EIO, poll() says EPOLLERR. */
export const UIO_IRQ_NONE = 0;

/** `uio_mem->memtype`. */
export const UIO_MEM_NONE = 0;
/** Physical memory (MMIO): mapped uncached by remap_pfn_range() from the map's first page. */
export const UIO_MEM_PHYS = 1;
/** Kernel logical memory (kmalloc): pages faulted in one by one. */
export const UIO_MEM_LOGICAL = 2;
/** Kernel virtual memory (vmalloc): pages faulted in one by one. */
export const UIO_MEM_VIRTUAL = 3;
/** An IOVA: mapped as PHYS but cached. */
export const UIO_MEM_IOVA = 4;
/** A dma_alloc_coherent() buffer (discouraged: it warns at every mmap). */
export const UIO_MEM_DMA_COHERENT = 5;

/** `uio_port->porttype` (sysfs `porttype` shows `port_<name>`). */
export const UIO_PORT_NONE = 0;
export const UIO_PORT_X86 = 1;
export const UIO_PORT_GPIO = 2;
export const UIO_PORT_OTHER = 3;

/** `struct uio_mem`: one memory map. A map with `size` 0 ends the list. */
export interface UioMem {
  /** sysfs `name` (NULL shows as an empty line). */
  name: string | null;
  /** The map's start: a physical address for PHYS/IOVA (page aligned to be mmap-able). */
  addr: number;
  /** Where the device's registers start inside the first page (sysfs `offset`). */
  offs: number;
  size: number;
  memtype: number;
  /** `internal_addr`: the driver's own ioremap() of the map, if it keeps one. */
  internalAddr?: IoMem;
  /** `dma_addr` of a UIO_MEM_DMA_COHERENT map. */
  dmaAddr?: number;
  /** `dma_device` of a UIO_MEM_DMA_COHERENT map. */
  dmaDevice?: Device;
}

/** `struct uio_port`: one port region (x86 I/O ports, GPIO …; only described in sysfs). */
export interface UioPort {
  name: string | null;
  start: number;
  size: number;
  porttype: number;
}

/**
 * `struct uio_info`: filled by the driver, registered with uioRegisterDevice(). The hooks throw a
 * SysError to fail (C returns a negative errno).
 */
export interface UioInfo {
  /** Set by the core while registered (`uio_dev`). */
  uioDev: UioDevice | null;
  /** sysfs `name`; also the interrupt's name in /proc/interrupts. */
  name: string;
  /** sysfs `version`. */
  version: string;
  /** MAX_UIO_MAPS entries; the first with size 0 ends the list. */
  mem: UioMem[];
  /** MAX_UIO_PORT_REGIONS entries; the first with size 0 ends the list. */
  port: UioPort[];
  /** The Linux IRQ, UIO_IRQ_NONE or UIO_IRQ_CUSTOM. */
  irq: number;
  /** `irq_flags` for request_threaded_irq(). */
  irqFlags: number;
  priv?: unknown;
  /** The primary handler's work: IRQ_HANDLED counts an event, IRQ_NONE does not. */
  handler?(irq: number, info: UioInfo): number;
  /** write(2) of an s32 to /dev/uioN (0 / 1: mask / unmask, by convention). */
  irqcontrol?(info: UioInfo, irqOn: number): void;
  open?(info: UioInfo): void;
  release?(info: UioInfo): void;
}

/** A fresh `struct uio_info` with every map and port region empty (kzalloc()). */
export function newUioInfo(name: string, version: string): UioInfo {
  return {
    uioDev: null,
    name,
    version,
    mem: Array.from({ length: MAX_UIO_MAPS }, () => ({
      name: null,
      addr: 0,
      offs: 0,
      size: 0,
      memtype: UIO_MEM_NONE,
    })),
    port: Array.from({ length: MAX_UIO_PORT_REGIONS }, () => ({
      name: null,
      start: 0,
      size: 0,
      porttype: UIO_PORT_NONE,
    })),
    irq: UIO_IRQ_NONE,
    irqFlags: 0,
  };
}

/**
 * `struct uio_device`: the core's side of a registered device — the class device `uio<minor>`,
 * the event counter the interrupt thread increments, and the `info` that unregistration clears
 * while files may still be open (every file operation then checks it).
 */
export class UioDevice {
  /** `event`: an atomic_t, shown as `%u` and copied to user space as an s32. */
  event = 0;
  /** The class device's sysfs directory (`<parent>/uio/uioN`), null once unregistered. */
  devPath: string | null = null;
  /** The `maps/` and `portio/` directories, when the device has any. */
  mapDir: string | null = null;
  portioDir: string | null = null;

  constructor(
    readonly kernel: Kernel,
    /** The module that registered it (pinned while a file is open). */
    readonly owner: { readonly name: string },
    /** `dev.parent`: the device the driver bound. */
    readonly parent: Device,
    readonly minor: number,
    /** `MKDEV(uio_major, minor)`. */
    readonly devt: number,
    /** Null once uioUnregisterDevice() ran. */
    public info: UioInfo | null,
  ) {}

  /** dev_name(): `uio<minor>`. */
  get name(): string {
    return `uio${this.minor}`;
  }
}
