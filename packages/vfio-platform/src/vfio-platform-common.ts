/**
 * drivers/vfio/platform/vfio_platform_common.c: the bus-independent half of vfio-platform and
 * vfio-amba — the reset registry and its lookup by `compatible` (with request_module() of
 * `vfio-reset:<compat>`), init/release of a device, open/close (regions, IRQs, reset), the
 * device ioctls, region info, MMIO read/write in Linux's 4/2/1-byte steps, and mmap.
 *
 * Every line this file prints carries the file's `dev_fmt`, `VFIO: `.
 *
 * Caveat:
 * - DT only: vfio_platform_acpi_probe() answers -ENOENT silently (acpi_disabled), so ACPI
 *   companions, `_RST` and the ACPI branches of has_reset/call_reset/put_reset are not
 *   modelled.
 * - Runtime PM is not modelled: pm_runtime_get_sync() in open always succeeds and
 *   pm_runtime_put() in close does nothing.
 * - `igate` is not modelled (one syscall at a time).
 * - kzalloc() failures are injected with `kernel.allocator.shouldFail("kzalloc")`, ioremap()
 *   failures with `shouldFail("ioremap")`, besides ioremap() refusing RAM.
 * - PIO regions are built (type PIO, no flags) but no board device has an IO resource; their
 *   read/write/mmap are EINVAL as in Linux ("not implemented").
 * - Model only: the probe and remove bodies that vfio_platform.c and vfio_amba.c each spell out
 *   (and the RFC variant drivers repeat) live here once, as vfioPlatformProbeCommon() and
 *   vfioPlatformRemoveCommon(), beside the `vfio_iommufd_physical_*` ops both drivers list.
 */

import { PAGE_SHIFT, PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  copyFromUser,
  copyToUser,
  type Device,
  IORESOURCE_IO,
  IORESOURCE_MEM,
  type IoMem,
  ioremap,
  type Kernel,
  SysError,
  type Task,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  type Vma,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  vfio_device_info,
  vfio_irq_info,
  vfio_irq_set,
} from "@vfio-lab/kernel/uapi";
import {
  VFIO_IRQ_SET_MINSZ,
  type VfioDeviceOps,
  type VfioInfoCap,
  type VfioRegionInfo,
  vfioInitDevice,
  vfioIommufdPhysicalAttachIoas,
  vfioIommufdPhysicalBind,
  vfioIommufdPhysicalDetachIoas,
  vfioIommufdPhysicalUnbind,
  vfioPutDevice,
  vfioSetIrqsValidateAndPrepare,
  vfioUnregisterGroupDev,
} from "@vfio-lab/vfio-core";
import { vfioPlatformBaseOf } from "./vfio-platform-base.js";
import {
  vfioPlatformIrqCleanup,
  vfioPlatformIrqInit,
  vfioPlatformSetIrqsIoctl,
} from "./vfio-platform-irq.js";
import { vfioPlatformRegisterDev } from "./vfio-platform-nodma.js";
import {
  VFIO_PLATFORM_OFFSET_MASK,
  VFIO_PLATFORM_OFFSET_SHIFT,
  VFIO_PLATFORM_REGION_TYPE_MMIO,
  VFIO_PLATFORM_REGION_TYPE_PIO,
  type VfioPlatformDevice,
  type VfioPlatformRegion,
  type VfioPlatformResetFn,
  type VfioPlatformResetNode,
  vfioPlatformIndexToOffset,
  vfioPlatformOffsetToIndex,
} from "./vfio-platform-private.js";

/** The file's `dev_fmt()`: every message of vfio_platform_common.c starts with it. */
const DEV_FMT = "VFIO: ";
const COMMON_C = "drivers/vfio/platform/vfio_platform_common.c";

/** include/linux/ioport.h: IORESOURCE_READONLY (no board resource sets it). */
export const IORESOURCE_READONLY = 0x0000_4000;

/** Pages of `vm_pgoff` one region spans: `1 << (VFIO_PLATFORM_OFFSET_SHIFT - PAGE_SHIFT)`. */
const PGOFF_PER_REGION = 2 ** (VFIO_PLATFORM_OFFSET_SHIFT - PAGE_SHIFT);

// ---------------------------------------------------------------------------------------------
// The reset registry

/** vfio_platform_common.c: __vfio_platform_register_reset() — at the head of `reset_list`. */
export function vfioPlatformRegisterReset(kernel: Kernel, node: VfioPlatformResetNode): void {
  vfioPlatformBaseOf(kernel).resetList.unshift(node);
}

/** vfio_platform_common.c: vfio_platform_unregister_reset() — the first node of that pair. */
export function vfioPlatformUnregisterReset(
  kernel: Kernel,
  compat: string,
  fn: VfioPlatformResetFn,
): void {
  const list = vfioPlatformBaseOf(kernel).resetList;
  const at = list.findIndex((n) => n.compat === compat && n.ofReset === fn);
  if (at >= 0) list.splice(at, 1);
}

/**
 * vfio_platform_private.h: module_vfio_reset_handler(compat, reset) — what a reset module is
 * made of: MODULE_ALIAS("vfio-reset:<compat>"), an init that registers the node (owned by the
 * module, so a device using the handler pins it) and an exit that unregisters it.
 */
export function moduleVfioResetHandler(
  module: string,
  compat: string,
  reset: VfioPlatformResetFn,
): {
  aliases: string[];
  init(kernel: Kernel): void;
  exit(kernel: Kernel): void;
} {
  // vfio_platform_register_reset(): the static node with THIS_MODULE as its owner.
  const node: VfioPlatformResetNode = { compat, owner: { name: module }, ofReset: reset };
  return {
    aliases: [`vfio-reset:${compat}`],
    init: (kernel) => vfioPlatformRegisterReset(kernel, node),
    exit: (kernel) => vfioPlatformUnregisterReset(kernel, compat, reset),
  };
}

/**
 * vfio_platform_common.c: vfio_platform_lookup_reset() — the first node for `compat` whose
 * module can still be pinned (a module being unloaded is skipped, try_module_get()).
 */
function vfioPlatformLookupReset(
  kernel: Kernel,
  compat: string,
): { fn: VfioPlatformResetFn; owner: { name: string } } | null {
  for (const node of vfioPlatformBaseOf(kernel).resetList) {
    if (node.compat === compat && kernel.modules.tryModuleGet(node.owner)) {
      return { fn: node.ofReset, owner: node.owner };
    }
  }
  return null;
}

/**
 * vfio_platform_common.c: vfio_platform_get_reset() — the registry, else modprobe of the alias
 * `vfio-reset:<compat>` (its result ignored: only the second lookup counts), else ENOENT.
 */
function vfioPlatformGetReset(vdev: VfioPlatformDevice): void {
  const kernel = vdev.kernel;
  const compat = vdev.compat ?? "";
  let found = vfioPlatformLookupReset(kernel, compat);
  if (!found) {
    kernel.modules.requestModule(`vfio-reset:${compat}`);
    found = vfioPlatformLookupReset(kernel, compat);
  }
  if (!found) throw new SysError("ENOENT", "vfio_platform_get_reset", `no reset for ${compat}`);
  vdev.ofReset = found.fn;
  vdev.resetModule = found.owner;
}

/** vfio_platform_common.c: vfio_platform_put_reset() — drops the reset module's reference. */
function vfioPlatformPutReset(vdev: VfioPlatformDevice): void {
  if (vdev.ofReset) vdev.kernel.modules.modulePut(vdev.resetModule);
}

/** vfio_platform_common.c: vfio_platform_has_reset() (the OF branch). */
export function vfioPlatformHasReset(vdev: VfioPlatformDevice): boolean {
  return vdev.ofReset !== null;
}

/**
 * vfio_platform_common.c: vfio_platform_call_reset() — `VFIO: reset` and the handler, or
 * `VFIO: no reset function found!` and EINVAL.
 */
export function vfioPlatformCallReset(vdev: VfioPlatformDevice): void {
  if (vdev.ofReset) {
    vdev.dev.log.info(`${DEV_FMT}reset`);
    vdev.ofReset(vdev);
    return;
  }
  vdev.dev.log.warn(`${DEV_FMT}no reset function found!`);
  throw new SysError("EINVAL", "vfio_platform_call_reset", "no reset function");
}

// ---------------------------------------------------------------------------------------------
// Init and release (from the bus drivers' ops.init / ops.release)

/**
 * vfio_platform_common.c: vfio_platform_of_probe() — device_property_read_string(dev,
 * "compatible"): the first string; EINVAL without the property, ENODATA when it has no value.
 */
function vfioPlatformOfProbe(vdev: VfioPlatformDevice): void {
  const node = vdev.dev.ofNode;
  const fn = "device_property_read_string";
  let err: SysError | null = null;
  if (!node?.hasProperty("compatible")) {
    err = new SysError("EINVAL", fn, "no compatible property");
  } else {
    const first = node.compatible[0];
    if (first === undefined) err = new SysError("ENODATA", fn, "compatible has no string");
    else vdev.compat = first;
  }
  if (err) {
    vdev.dev.log.err(`${DEV_FMT}Cannot retrieve compat for ${vdev.platformName}`);
    throw err;
  }
}

/**
 * vfio_platform_common.c: vfio_platform_init_common() — the compatible, then the reset
 * handler: with `reset_required`, none is ENOENT and `VFIO: No reset function found for
 * device <name>`; without, the device goes on with no reset (VFIO_DEVICE_RESET is EINVAL).
 */
export function vfioPlatformInitCommon(vdev: VfioPlatformDevice): void {
  // vfio_platform_acpi_probe(): acpi_disabled on a DT system → -ENOENT, then the OF probe.
  vfioPlatformOfProbe(vdev);
  try {
    vfioPlatformGetReset(vdev);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    if (!vdev.resetRequired) return;
    vdev.dev.log.err(`${DEV_FMT}No reset function found for device ${vdev.platformName}`);
    throw e;
  }
}

/** vfio_platform_common.c: vfio_platform_release_common() */
export function vfioPlatformReleaseCommon(vdev: VfioPlatformDevice): void {
  vfioPlatformPutReset(vdev);
}

// ---------------------------------------------------------------------------------------------
// Regions

/**
 * vfio_platform_common.c: vfio_platform_regions_init() — one region per resource until
 * get_resource() says NULL: MEM is readable, writable unless IORESOURCE_READONLY, mmappable
 * only when base and size are whole pages (anything less would expose a neighbour's
 * registers); IO is a PIO region without flags; anything else is EINVAL.
 */
function vfioPlatformRegionsInit(vdev: VfioPlatformDevice): void {
  const fn = "vfio_platform_regions_init";
  let cnt = 0;
  while (vdev.getResource(cnt)) cnt++;
  if (vdev.kernel.allocator.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "kzalloc");
  const regions: VfioPlatformRegion[] = [];
  for (let i = 0; i < cnt; i++) {
    const res = vdev.getResource(i);
    if (!res) throw new Error(`resource ${i} went away during regions_init`);
    const region: VfioPlatformRegion = {
      addr: res.start,
      size: res.size,
      flags: 0,
      type: 0,
      ioaddr: null,
    };
    switch (res.type) {
      case IORESOURCE_MEM:
        region.type = VFIO_PLATFORM_REGION_TYPE_MMIO;
        region.flags |= VFIO_REGION_INFO_FLAG_READ;
        if (!(res.flags & IORESOURCE_READONLY)) region.flags |= VFIO_REGION_INFO_FLAG_WRITE;
        if (region.addr % PAGE_SIZE === 0 && region.size % PAGE_SIZE === 0) {
          region.flags |= VFIO_REGION_INFO_FLAG_MMAP;
        }
        break;
      case IORESOURCE_IO:
        region.type = VFIO_PLATFORM_REGION_TYPE_PIO;
        break;
      default:
        throw new SysError("EINVAL", fn, `resource ${i} type 0x${res.type.toString(16)}`);
    }
    regions.push(region);
  }
  vdev.regions = regions;
}

/** vfio_platform_common.c: vfio_platform_regions_cleanup() — iounmap() whatever was mapped. */
function vfioPlatformRegionsCleanup(vdev: VfioPlatformDevice): void {
  for (const r of vdev.regions) r.ioaddr?.unmap();
  vdev.regions = [];
}

/**
 * The lazy `if (!reg->ioaddr) reg->ioaddr = ioremap(reg->addr, reg->size)` of read, write and
 * the reset handlers; ENOMEM when ioremap() fails.
 */
export function vfioPlatformRegionIoremap(
  kernel: Kernel,
  reg: VfioPlatformRegion,
  fn: string,
): IoMem {
  if (!reg.ioaddr) {
    const io = kernel.allocator.shouldFail("ioremap")
      ? null
      : ioremap(kernel.soc.bus, reg.addr, reg.size);
    if (!io) throw new SysError("ENOMEM", fn, `ioremap 0x${reg.addr.toString(16)}`);
    reg.ioaddr = io;
  }
  return reg.ioaddr;
}

/** vfio_platform_common.c: vfio_platform_ioctl_get_region_info() — no capabilities. */
export function vfioPlatformIoctlGetRegionInfo(
  vdev: VfioPlatformDevice,
  info: VfioRegionInfo,
  _caps: VfioInfoCap,
): void {
  const reg = vdev.regions[info.index];
  if (!reg) {
    throw new SysError("EINVAL", "vfio_platform_ioctl_get_region_info", `index ${info.index}`);
  }
  info.offset = vfioPlatformIndexToOffset(info.index);
  info.size = BigInt(reg.size);
  info.flags = reg.flags;
}

/** The widest access `off` and `count` allow: 4 if aligned, else 2 if aligned, else 1. */
function accessWidth(off: number, count: number): 4 | 2 | 1 {
  if (count >= 4 && off % 4 === 0) return 4;
  if (count >= 2 && off % 2 === 0) return 2;
  return 1;
}

/**
 * The region a file position names, after vfio_platform_read()/write()'s checks: index in
 * range, READ (or WRITE) allowed, and an MMIO region (PIO is "not implemented": EINVAL).
 */
function regionAt(
  vdev: VfioPlatformDevice,
  pos: number,
  need: number,
  fn: string,
): { reg: VfioPlatformRegion; off: number } {
  const index = vfioPlatformOffsetToIndex(pos);
  const off = Number(BigInt(pos) & VFIO_PLATFORM_OFFSET_MASK);
  const reg = vdev.regions[index];
  if (!reg) throw new SysError("EINVAL", fn, `region ${index}`);
  if (!(reg.flags & need)) throw new SysError("EINVAL", fn, `region ${index} forbids it`);
  if (!(reg.type & VFIO_PLATFORM_REGION_TYPE_MMIO)) {
    throw new SysError("EINVAL", fn, `region ${index} is not MMIO`);
  }
  return { reg, off };
}

/**
 * vfio_platform_common.c: vfio_platform_read() / vfio_platform_read_mmio() — at most to the
 * region's end, each step copied to user space before the next device access; a fault is
 * EFAULT (what was already read is not reported). The file position does not move.
 */
export function vfioPlatformRead(
  vdev: VfioPlatformDevice,
  current: Task,
  va: number,
  count: number,
  pos: { value: number },
): number {
  const { reg, off: start } = regionAt(
    vdev,
    pos.value,
    VFIO_REGION_INFO_FLAG_READ,
    "vfio_platform_read",
  );
  const fn = "vfio_platform_read_mmio";
  if (start >= reg.size) throw new SysError("EINVAL", fn, `offset 0x${start.toString(16)}`);
  const total = Math.min(count, reg.size - start);
  const io = vfioPlatformRegionIoremap(vdev.kernel, reg, fn);
  let done = 0;
  while (done < total) {
    const off = start + done;
    const width = accessWidth(off, total - done);
    const bytes = new Uint8Array(width);
    const v = new DataView(bytes.buffer);
    if (width === 4) v.setUint32(0, io.readl(off), true);
    else if (width === 2) v.setUint16(0, io.readw(off), true);
    else v.setUint8(0, io.readb(off));
    copyToUser(current.mm, va + done, bytes, fn);
    done += width;
  }
  return done;
}

/**
 * vfio_platform_common.c: vfio_platform_write() / vfio_platform_write_mmio() — each step
 * copied from user space before its device access; a fault is EFAULT after the steps before it
 * reached the device.
 */
export function vfioPlatformWrite(
  vdev: VfioPlatformDevice,
  current: Task,
  va: number,
  count: number,
  pos: { value: number },
): number {
  const { reg, off: start } = regionAt(
    vdev,
    pos.value,
    VFIO_REGION_INFO_FLAG_WRITE,
    "vfio_platform_write",
  );
  const fn = "vfio_platform_write_mmio";
  if (start >= reg.size) throw new SysError("EINVAL", fn, `offset 0x${start.toString(16)}`);
  const total = Math.min(count, reg.size - start);
  const io = vfioPlatformRegionIoremap(vdev.kernel, reg, fn);
  let done = 0;
  while (done < total) {
    const off = start + done;
    const width = accessWidth(off, total - done);
    const bytes = copyFromUser(current.mm, va + done, width, fn);
    const v = new DataView(bytes.buffer, bytes.byteOffset, width);
    if (width === 4) io.writel(off, v.getUint32(0, true));
    else if (width === 2) io.writew(off, v.getUint16(0, true));
    else io.writeb(off, v.getUint8(0));
    done += width;
  }
  return done;
}

/**
 * vfio_platform_common.c: vfio_platform_mmap() / vfio_platform_mmap_mmio() — every refusal is
 * EINVAL, in this order: inverted range, not MAP_SHARED, no such region, unaligned start or
 * end, no MMAP flag, VM_READ/VM_WRITE the region forbids, PIO; then a window that does not fit
 * inside the region (a part of it is fine). Maps the registers uncached with
 * remap_pfn_range().
 */
export function vfioPlatformMmap(vdev: VfioPlatformDevice, _current: Task, vma: Vma): void {
  const fn = "vfio_platform_mmap";
  const index = Math.floor(vma.pgoff / PGOFF_PER_REGION);
  if (vma.end < vma.start) throw new SysError("EINVAL", fn, "end before start");
  if (!(vma.flags & VM_SHARED)) throw new SysError("EINVAL", fn, "not MAP_SHARED");
  const reg = vdev.regions[index];
  if (!reg) throw new SysError("EINVAL", fn, `region ${index}`);
  if (vma.start % PAGE_SIZE) throw new SysError("EINVAL", fn, "unaligned start");
  if (vma.end % PAGE_SIZE) throw new SysError("EINVAL", fn, "unaligned end");
  if (!(reg.flags & VFIO_REGION_INFO_FLAG_MMAP)) throw new SysError("EINVAL", fn, "no MMAP");
  if (!(reg.flags & VFIO_REGION_INFO_FLAG_READ) && vma.flags & VM_READ) {
    throw new SysError("EINVAL", fn, "region is not readable");
  }
  if (!(reg.flags & VFIO_REGION_INFO_FLAG_WRITE) && vma.flags & VM_WRITE) {
    throw new SysError("EINVAL", fn, "region is not writable");
  }
  if (!(reg.type & VFIO_PLATFORM_REGION_TYPE_MMIO)) {
    throw new SysError("EINVAL", fn, "PIO regions cannot be mapped");
  }
  // vfio_platform_mmap_mmio()
  const length = vma.end - vma.start;
  const pgoff = vma.pgoff % PGOFF_PER_REGION;
  if (reg.size < PAGE_SIZE || pgoff * PAGE_SIZE + length > reg.size) {
    throw new SysError("EINVAL", "vfio_platform_mmap_mmio", "beyond the region");
  }
  vma.pgoff = Math.floor(reg.addr / PAGE_SIZE) + pgoff;
  vma.remapPfnRange(vma.pgoff, length);
}

// ---------------------------------------------------------------------------------------------
// Open, close, ioctl

/** `offsetofend(struct vfio_device_info, num_irqs)` */
const DEVICE_INFO_MINSZ = vfio_device_info.offsetofend("num_irqs");
/** `offsetofend(struct vfio_irq_info, count)` */
const IRQ_INFO_MINSZ = vfio_irq_info.offsetofend("count");

/** The C's `ret` of a failed reset, for the warnings that print it. */
function errnoOf(e: unknown): number {
  if (SysError.isInstance(e)) return -e.errno;
  throw e;
}

/**
 * vfio_platform_common.c: vfio_platform_open_device() — regions, IRQs, then a reset. A failed
 * reset (including "no reset function") only matters with `reset_required`: then the warning,
 * everything undone, and the reset's errno.
 */
export function vfioPlatformOpenDevice(vdev: VfioPlatformDevice): void {
  vfioPlatformRegionsInit(vdev);
  try {
    vfioPlatformIrqInit(vdev);
  } catch (e) {
    vfioPlatformRegionsCleanup(vdev);
    throw e;
  }
  // pm_runtime_get_sync(): not modelled, always succeeds.
  try {
    vfioPlatformCallReset(vdev);
  } catch (e) {
    const ret = errnoOf(e);
    if (!vdev.resetRequired) return;
    vdev.dev.log.warn(`${DEV_FMT}reset driver is required and reset call failed in open (${ret}) `);
    vfioPlatformIrqCleanup(vdev);
    vfioPlatformRegionsCleanup(vdev);
    throw e;
  }
}

/**
 * vfio_platform_common.c: vfio_platform_close_device() — reset (a failure with
 * `reset_required` is a WARN and a warning, nothing more), then regions and IRQs go.
 */
export function vfioPlatformCloseDevice(vdev: VfioPlatformDevice): void {
  try {
    vfioPlatformCallReset(vdev);
  } catch (e) {
    const ret = errnoOf(e);
    if (vdev.resetRequired) {
      vdev.kernel.irq.bug.warnOn({ file: COMMON_C, line: 225, fn: "vfio_platform_close_device" });
      vdev.dev.log.warn(
        `${DEV_FMT}reset driver is required and reset call failed in release (${ret}) `,
      );
    }
  }
  // pm_runtime_put(): not modelled.
  vfioPlatformRegionsCleanup(vdev);
  vfioPlatformIrqCleanup(vdev);
}

/**
 * vfio_platform_common.c: vfio_platform_ioctl() — GET_INFO, GET_IRQ_INFO, SET_IRQS, RESET;
 * anything else ENOTTY.
 */
export function vfioPlatformIoctl(
  vdev: VfioPlatformDevice,
  current: Task,
  cmd: number,
  arg: number,
): number {
  const fn = "vfio_platform_ioctl";
  switch (cmd >>> 0) {
    case VFIO_DEVICE_GET_INFO: {
      const info = vfio_device_info.decodePartial(
        copyFromUser(current.mm, arg, DEVICE_INFO_MINSZ, fn),
      );
      if (info.argsz < DEVICE_INFO_MINSZ) throw new SysError("EINVAL", fn, `argsz ${info.argsz}`);
      // Sticky, as in the C: the flag is or-ed into vdev->flags itself.
      if (vfioPlatformHasReset(vdev)) vdev.flags |= VFIO_DEVICE_FLAGS_RESET;
      info.flags = vdev.flags;
      info.num_regions = vdev.regions.length;
      info.num_irqs = vdev.irqs.length;
      const out = vfio_device_info.encode(info).subarray(0, DEVICE_INFO_MINSZ);
      copyToUser(current.mm, arg, out, fn);
      return 0;
    }
    case VFIO_DEVICE_GET_IRQ_INFO: {
      const info = vfio_irq_info.decodePartial(copyFromUser(current.mm, arg, IRQ_INFO_MINSZ, fn));
      if (info.argsz < IRQ_INFO_MINSZ) throw new SysError("EINVAL", fn, `argsz ${info.argsz}`);
      const irq = vdev.irqs[info.index];
      if (!irq) throw new SysError("EINVAL", fn, `irq index ${info.index}`);
      info.flags = irq.flags;
      info.count = irq.count;
      copyToUser(current.mm, arg, vfio_irq_info.encode(info).subarray(0, IRQ_INFO_MINSZ), fn);
      return 0;
    }
    case VFIO_DEVICE_SET_IRQS: {
      const hdr = vfio_irq_set.decodePartial(copyFromUser(current.mm, arg, VFIO_IRQ_SET_MINSZ, fn));
      const n = vdev.irqs.length;
      const size = vfioSetIrqsValidateAndPrepare(hdr, n, n);
      // memdup_user()
      const data =
        size > 0 ? copyFromUser(current.mm, arg + VFIO_IRQ_SET_MINSZ, size, "memdup_user") : null;
      vfioPlatformSetIrqsIoctl(
        vdev,
        current,
        hdr.flags,
        hdr.index,
        hdr.start,
        hdr.count,
        data ?? new Uint8Array(0),
      );
      return 0;
    }
    case VFIO_DEVICE_RESET:
      vfioPlatformCallReset(vdev);
      return 0;
    default:
      throw new SysError("ENOTTY", fn, `cmd 0x${(cmd >>> 0).toString(16)}`);
  }
}

/** The shared part of vfio_platform_ops / vfio_amba_ops (no iommufd ops, no init/release). */
export const vfioPlatformCommonOps: Omit<
  VfioDeviceOps<VfioPlatformDevice>,
  "name" | "init" | "release" | "bindIommufd" | "unbindIommufd" | "attachIoas" | "detachIoas"
> = {
  openDevice: vfioPlatformOpenDevice,
  closeDevice: vfioPlatformCloseDevice,
  ioctl: vfioPlatformIoctl,
  getRegionInfoCaps: vfioPlatformIoctlGetRegionInfo,
  read: vfioPlatformRead,
  write: vfioPlatformWrite,
  mmap: vfioPlatformMmap,
};

/**
 * The iommufd half of vfio_platform_ops and vfio_amba_ops: vfio_iommufd_physical_{bind,unbind,
 * attach_ioas,detach_ioas} (the RFC's emulated twin is vfio-platform-nodma.ts's).
 */
export const vfioPlatformPhysicalIommufdOps: Pick<
  VfioDeviceOps<VfioPlatformDevice>,
  "bindIommufd" | "unbindIommufd" | "attachIoas" | "detachIoas"
> = {
  bindIommufd: vfioIommufdPhysicalBind,
  unbindIommufd: vfioIommufdPhysicalUnbind,
  attachIoas: vfioIommufdPhysicalAttachIoas,
  detachIoas: vfioIommufdPhysicalDetachIoas,
};

// ---------------------------------------------------------------------------------------------
// Probe and remove (model only: vfio_platform.c and vfio_amba.c each write these out)

/**
 * What vfio_platform_probe() and vfio_amba_probe() do once the bus driver has built `vdev`
 * (its ops and binder): vfio_alloc_device()'s init (ops.init; a failure frees nothing more),
 * registration — vfio_register_group_dev(), or the RFC's emulated registration, see
 * vfioPlatformRegisterDev() — with the device put again when that fails, then
 * pm_runtime_enable() (not modelled) and dev_set_drvdata().
 */
export function vfioPlatformProbeCommon(vdev: VfioPlatformDevice): void {
  vfioInitDevice(vdev);
  try {
    vfioPlatformRegisterDev(vdev);
  } catch (e) {
    vfioPutDevice(vdev);
    throw e;
  }
  vdev.dev.driverData = vdev;
}

/**
 * vfio_platform_remove() / vfio_amba_remove(): unregister (which waits for every user of the
 * device to close it), pm_runtime_disable() (not modelled), put — release drops the reset
 * module. The driver core clears drvdata afterwards (device_unbind_cleanup()).
 */
export function vfioPlatformRemoveCommon(dev: Device): void {
  const vdev = dev.driverData as VfioPlatformDevice;
  vfioUnregisterGroupDev(vdev);
  vfioPutDevice(vdev);
}
