/**
 * MMIO from the kernel: ioremap() (arch/arm64/mm/ioremap.c, mm/ioremap.c) and the readl/writel
 * family (include/asm-generic/io.h), going to the hardware through the SoC's system bus as a
 * CPU load or store would; and the managed forms drivers use in probe (lib/devres.c:
 * devm_ioremap_resource(), kernel/resource.c: devm_request_mem_region()).
 *
 * An access the interconnect cannot complete (a decode error, a device answering SLVERR) is
 * what an arm64 kernel takes as a synchronous external abort — an oops, not an errno: it is
 * thrown as `KernelOops`. So is an access outside the mapping (a paging request the kernel
 * cannot handle).
 *
 * Caveat: no memory types (nGnRE vs nGnRnE), no ordering or posting; `readq`/`writeq` are two
 * 32-bit accesses, low word first, as the system bus offers them.
 */

import type { AccessSize, BusError, SystemBus } from "@vfio-lab/hw-soc";
import { errno } from "../errno.js";
import { devErrProbe } from "./dev-err-probe.js";
import type { Device } from "./device.js";
import type { DevresNode } from "./devres.js";
import {
  formatPhysAddr,
  formatResource,
  IORESOURCE_MEM,
  type Resource,
  releaseRegion,
  requestRegion,
} from "./resource.js";

const KERNEL_OOPS_MARKER = Symbol.for("@vfio-lab/kernel/KernelOops");

/** What Linux would not survive: an oops (external abort, bad kernel paging request). */
export class KernelOops extends Error {
  readonly [KERNEL_OOPS_MARKER] = true;
  /** The bus's answer, when the oops is an external abort. */
  readonly busError: BusError | undefined;

  constructor(message: string, busError?: BusError) {
    super(message);
    this.name = "KernelOops";
    this.busError = busError;
  }

  static isInstance(value: unknown): value is KernelOops {
    return typeof value === "object" && value !== null && KERNEL_OOPS_MARKER in value;
  }
}

/** A `void __iomem *` mapping of [phys, phys + size). */
export class IoMem {
  private mapped = true;

  constructor(
    private readonly bus: SystemBus,
    readonly phys: number,
    readonly size: number,
  ) {}

  private addr(offset: number, width: number, op: string): number {
    if (!this.mapped) {
      throw new KernelOops(
        `Unable to handle kernel paging request: ${op} after iounmap of ${formatPhysAddr(this.phys)}`,
      );
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + width > this.size) {
      throw new KernelOops(
        `Unable to handle kernel paging request: ${op} at offset 0x${offset.toString(16)} of a 0x${this.size.toString(16)}-byte mapping of ${formatPhysAddr(this.phys)}`,
      );
    }
    return this.phys + offset;
  }

  private load(offset: number, size: AccessSize, op: string): number {
    const addr = this.addr(offset, size, op);
    const v = this.bus.tryRead(addr, size, "cpu");
    if (typeof v !== "number") throw abort(op, addr, v);
    return v;
  }

  private store(offset: number, size: AccessSize, value: number, op: string): void {
    const addr = this.addr(offset, size, op);
    const e = this.bus.tryWrite(addr, size, value, "cpu");
    if (e) throw abort(op, addr, e);
  }

  readb(offset: number): number {
    return this.load(offset, 1, "readb");
  }

  readw(offset: number): number {
    return this.load(offset, 2, "readw");
  }

  readl(offset: number): number {
    return this.load(offset, 4, "readl") >>> 0;
  }

  readq(offset: number): bigint {
    this.addr(offset, 8, "readq");
    const lo = this.load(offset, 4, "readq") >>> 0;
    const hi = this.load(offset + 4, 4, "readq") >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  writeb(offset: number, value: number): void {
    this.store(offset, 1, value & 0xff, "writeb");
  }

  writew(offset: number, value: number): void {
    this.store(offset, 2, value & 0xffff, "writew");
  }

  writel(offset: number, value: number): void {
    this.store(offset, 4, value >>> 0, "writel");
  }

  writeq(offset: number, value: bigint): void {
    this.addr(offset, 8, "writeq");
    this.store(offset, 4, Number(value & 0xffff_ffffn), "writeq");
    this.store(offset + 4, 4, Number((value >> 32n) & 0xffff_ffffn), "writeq");
  }

  /** iounmap(): later accesses oops. */
  unmap(): void {
    this.mapped = false;
  }
}

function abort(op: string, addr: number, e: BusError): KernelOops {
  return new KernelOops(
    `Internal error: synchronous external abort: ${op} at ${formatPhysAddr(addr)}: ${e.message}`,
    e,
  );
}

/**
 * arch/arm64/mm/ioremap.c: ioremap_prot() — null for an empty or wrapping range and for RAM
 * (arm64 refuses to map memory the kernel maps as normal memory).
 */
export function ioremap(bus: SystemBus, phys: number, size: number): IoMem | null {
  if (!(size > 0) || !Number.isSafeInteger(phys + size - 1) || phys < 0) return null;
  if (bus.isRam(phys, 1)) return null;
  return new IoMem(bus, phys, size);
}

/** iounmap(). */
export function iounmap(io: IoMem): void {
  io.unmap();
}

/** kernel/resource.c: devm_request_mem_region() — released with the device's resources. */
export function devmRequestMemRegion(
  dev: Device,
  start: number,
  n: number,
  name: string,
): Resource | null {
  return devmRequestMemRegionNode(dev, start, n, name)?.res ?? null;
}

function devmRequestMemRegionNode(
  dev: Device,
  start: number,
  n: number,
  name: string,
): { res: Resource; node: DevresNode } | null {
  const root = dev.ctx.iomem;
  const res = requestRegion(root, start, n, name);
  if (!res) return null;
  const node = dev.devres.add("devm_request_mem_region", () => {
    if (!releaseRegion(root, start, n)) {
      dev.ctx.printk
        .pr()
        .warn(
          `Trying to free nonexistent resource <${formatPhysAddr(start)}-${formatPhysAddr(start + n - 1)}>`,
        );
    }
  });
  return { res, node };
}

/** lib/devres.c: devm_ioremap() — unmapped with the device's resources. */
export function devmIoremap(dev: Device, phys: number, size: number): IoMem | null {
  const io = ioremap(dev.ctx.systemBus, phys, size);
  if (io) dev.devres.add("devm_ioremap", () => io.unmap());
  return io;
}

/**
 * lib/devres.c: __devm_ioremap_resource() — EINVAL "invalid resource" unless a MEM resource;
 * the region is claimed as `<dev> <resource name>` (EBUSY "can't request region for
 * resource" when already claimed); ENOMEM "ioremap failed for resource". Errors are logged
 * with dev_err_probe() and thrown.
 */
export function devmIoremapResource(dev: Device, res: Resource | null | undefined): IoMem {
  const fn = "devm_ioremap_resource";
  if (!res || res.type !== IORESOURCE_MEM) {
    throw devErrProbe(dev, -errno("EINVAL"), `invalid resource ${formatResource(res ?? null)}`, fn);
  }
  const prettyName = res.name ? `${dev.name} ${res.name}` : dev.name;
  const claim = devmRequestMemRegionNode(dev, res.start, res.size, prettyName);
  if (!claim) {
    throw devErrProbe(
      dev,
      -errno("EBUSY"),
      `can't request region for resource ${formatResource(res)}`,
      fn,
    );
  }
  const io = devmIoremap(dev, res.start, res.size);
  if (!io) {
    // devm_release_mem_region(): the claim just made goes again.
    dev.devres.release(claim.node);
    throw devErrProbe(
      dev,
      -errno("ENOMEM"),
      `ioremap failed for resource ${formatResource(res)}`,
      fn,
    );
  }
  return io;
}
