/**
 * `vfio-lab-test`: the small VFIO bus driver the core's suites use until vfio-platform exists.
 * It is vfio-platform / vfio-amba (drivers/vfio/platform/vfio_platform_common.c,
 * vfio_platform_irq.c, vfio_platform.c, vfio_amba.c) cut down to what a test needs, and reads
 * as they do:
 *
 * - a platform driver and an AMBA driver, both named `vfio-lab-test`, with
 *   `driver_managed_dma` and no match table: only driver_override binds them;
 * - probe allocates a `VfioLabTestDevice` and registers it with vfio_register_group_dev() and
 *   the physical iommufd operations — or, with the module parameter `emulated_iommu=1`, with
 *   vfio_register_emulated_iommu_dev(), the emulated iommufd operations and a `dma_unmap` that
 *   drops the driver's pins, as an mdev driver does. The emulated registration gives the device
 *   a private IOMMU group, so it only works for a device without one (c031000.dma-test, the
 *   PL061): a device behind the SMMU fails with EEXIST, its `iommu_group` link being taken —
 *   exactly what the 2024 RFC on DMA-incapable platform devices would run into;
 * - open_device builds the regions from the MEM resources (READ|WRITE, +MMAP when page
 *   aligned; file offset `index << 40`) and one IRQ per interrupt (EVENTFD, +MASKABLE and
 *   AUTOMASKED when level triggered, requested with IRQF_NO_AUTOEN under
 *   `vfio-irq[<irq>](<name>)`), then resets the device; close_device undoes it all;
 * - read/write of MMIO through ioremap() in 4/2/1-byte accesses, mmap by remap_pfn_range(),
 *   GET_INFO / GET_IRQ_INFO / SET_IRQS (validated by vfio_set_irqs_validate_and_prepare(),
 *   TRIGGER by eventfd or loopback, MASK/UNMASK by value or by virqfd) and RESET;
 * - reset is a table by compatible, as vfio-platform's reset modules: the DMA test engine is
 *   reset by turning CTRL off and acknowledging DONE/ERROR; a device without an entry has no
 *   VFIO_DEVICE_FLAGS_RESET and VFIO_DEVICE_RESET fails with EINVAL ("no reset function
 *   found!").
 *
 * Caveat (test code): no reset_required parameter (a device without reset opens anyway), no
 * PIO regions (the board has none), no runtime PM, no ACPI.
 */

import { DMA_TEST_STATUS, PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  type AmbaDevice,
  AmbaDriver,
  copyFromUser,
  copyToUser,
  type Device,
  defineModule,
  type EventfdCtx,
  errno,
  eventfdCtxFdget,
  eventfdCtxPut,
  eventfdSignal,
  IORESOURCE_MEM,
  type IoMem,
  IRQ_HANDLED,
  IRQ_NONE,
  IRQ_TYPE_LEVEL_MASK,
  IRQF_NO_AUTOEN,
  ioremap,
  type Kernel,
  moduleParam,
  type PlatformDevice,
  PlatformDriver,
  type Resource,
  SysError,
  type Task,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  type Vma,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_FLAGS_AMBA,
  VFIO_DEVICE_FLAGS_PLATFORM,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  vfio_device_info,
  vfio_irq_info,
  vfio_irq_set,
} from "@vfio-lab/kernel/uapi";
import {
  vfioIommufdEmulatedAttachIoas,
  vfioIommufdEmulatedBind,
  vfioIommufdEmulatedDetachIoas,
  vfioIommufdEmulatedUnbind,
  vfioIommufdPhysicalAttachIoas,
  vfioIommufdPhysicalBind,
  vfioIommufdPhysicalDetachIoas,
  vfioIommufdPhysicalUnbind,
} from "../src/iommufd.js";
import { VFIO_REGION_OFFSET_SHIFT, VfioCoreDevice, type VfioDeviceOps } from "../src/vfio.js";
import {
  vfioDmaRw,
  vfioInitDevice,
  vfioPinPages,
  vfioPutDevice,
  vfioRegisterEmulatedIommuDev,
  vfioRegisterGroupDev,
  vfioUnpinPages,
  vfioUnregisterGroupDev,
} from "../src/vfio-main.js";
import { vfioModule } from "../src/vfio-modules.js";
import { VFIO_IRQ_SET_MINSZ, vfioSetIrqsValidateAndPrepare } from "../src/vfio-set-irqs.js";
import { type VirqfdSlot, vfioVirqfdDisable, vfioVirqfdEnable } from "../src/virqfd.js";

/** The drivers' name, what driver_override must say. */
export const VFIO_LAB_TEST = "vfio-lab-test";
/** The module (lsmod name). */
export const VFIO_LAB_TEST_MODULE = "vfio_lab_test";

/** include/linux/ioport.h: IORESOURCE_READONLY (no board resource sets it). */
const IORESOURCE_READONLY = 0x0000_4000;
/** The offset mask of a region inside the device fd (VFIO_PLATFORM_OFFSET_MASK). */
const OFFSET_MASK = (1n << BigInt(VFIO_REGION_OFFSET_SHIFT)) - 1n;
/** How many pages of vm_pgoff one region spans (`1 << (40 - PAGE_SHIFT)`). */
const PGOFF_PER_REGION = 2 ** VFIO_REGION_OFFSET_SHIFT / PAGE_SIZE;

/** `struct vfio_platform_region` */
export interface TestRegion {
  readonly addr: number;
  readonly size: number;
  readonly flags: number;
  /** Mapped on first read/write (vfio-platform ioremaps lazily). */
  ioaddr: IoMem | null;
}

/** `struct vfio_platform_irq` */
export interface TestIrq {
  readonly hwirq: number;
  readonly flags: number;
  readonly count: number;
  masked: boolean;
  trigger: EventfdCtx | null;
  /** `vfio-irq[<irq>](<name>)`, or the request_irq() error SET_IRQS reports for this index. */
  name: string | SysError;
  readonly mask: VirqfdSlot;
  readonly unmask: VirqfdSlot;
}

/** A device reset, by compatible (vfio-platform's reset modules). */
type ResetFn = (vdev: VfioLabTestDevice) => void;

/** The DMA test engine: stop it (CTRL 0: no START, no IRQ_EN) and acknowledge DONE/ERROR. */
function dmaTestReset(vdev: VfioLabTestDevice): void {
  const io = regionIoaddr(vdev, 0);
  io.writel(0x1c, 0);
  io.writel(0x20, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
}

const RESETS: Readonly<Record<string, ResetFn>> = {
  "vfio-lab,dma-test": dmaTestReset,
};

/** What a probe found on its bus: MEM resources and a way to the N-th interrupt. */
interface BusView {
  /** `get_resource(vdev, i)`: the i-th MEM or IO resource, or null. */
  readonly resource: (i: number) => Resource | null;
  /** `get_irq(vdev, i)`: the Linux IRQ of interrupt i, or a negative errno. */
  readonly irq: (i: number) => number;
  readonly flags: number;
}

/** `struct vfio_platform_device`: the core device plus the driver's per-open state. */
export class VfioLabTestDevice extends VfioCoreDevice {
  regions: TestRegion[] = [];
  irqs: TestIrq[] = [];
  /** VFIO_DEVICE_FLAGS_PLATFORM or _AMBA. */
  readonly flags: number;
  readonly reset: ResetFn | null;
  /** Resets performed (open and VFIO_DEVICE_RESET). */
  resets = 0;
  /** Emulated mode: the page runs the driver holds pinned, as an mdev driver tracks them. */
  readonly pins: { iova: bigint; npage: number }[] = [];
  /** Emulated mode: every dma_unmap the core asked for, as [iova, length]. */
  readonly unmapCalls: [bigint, bigint][] = [];

  constructor(
    kernel: Kernel,
    dev: Device,
    ops: VfioDeviceOps<VfioLabTestDevice>,
    readonly bus: BusView,
  ) {
    super(kernel, dev, ops as VfioDeviceOps<never>);
    this.flags = bus.flags;
    const compat = dev.ofNode?.compatible ?? [];
    this.reset = compat.map((c) => RESETS[c]).find((r) => r !== undefined) ?? null;
  }

  /** vfio_pin_pages() for the driver's own use (emulated mode): pins and records the run. */
  pinPages(iova: bigint, npage: number, prot: number): number[] {
    const pfns = vfioPinPages(this, iova, npage, prot);
    this.pins.push({ iova, npage });
    return pfns;
  }

  /** vfio_unpin_pages() of a run the driver pinned. */
  unpinPages(iova: bigint, npage: number): void {
    const at = this.pins.findIndex((p) => p.iova === iova && p.npage === npage);
    if (at < 0) throw new Error(`no pinned run at 0x${iova.toString(16)}`);
    this.pins.splice(at, 1);
    vfioUnpinPages(this, iova, npage);
  }

  /** vfio_dma_rw(): the CPU reads or writes user memory at an IOVA for the device. */
  dmaRw(current: Task, iova: bigint, buf: Uint8Array, write: boolean): void {
    vfioDmaRw(this, current, iova, buf, write);
  }
}

function regionIoaddr(vdev: VfioLabTestDevice, index: number): IoMem {
  const reg = vdev.regions[index];
  if (!reg) throw new SysError("EINVAL", "vfio_lab_test_ioaddr", `no region ${index}`);
  reg.ioaddr ??= ioremap(vdev.kernel.soc.bus, reg.addr, reg.size);
  if (!reg.ioaddr) throw new SysError("ENOMEM", "ioremap", `0x${reg.addr.toString(16)}`);
  return reg.ioaddr;
}

// ---------------------------------------------------------------------------------------------
// Regions

/** vfio_platform_common.c: vfio_platform_regions_init() */
function regionsInit(vdev: VfioLabTestDevice): void {
  const regions: TestRegion[] = [];
  for (let i = 0; ; i++) {
    const res = vdev.bus.resource(i);
    if (!res) break;
    if (res.type !== IORESOURCE_MEM) {
      // PIO regions exist in vfio-platform but no board device has one.
      throw new SysError("EINVAL", "vfio_lab_test_regions_init", `resource ${i} is not MEM`);
    }
    let flags = VFIO_REGION_INFO_FLAG_READ;
    if (!(res.flags & IORESOURCE_READONLY)) flags |= VFIO_REGION_INFO_FLAG_WRITE;
    // Only whole pages can be handed to user space without exposing a neighbour.
    if (res.start % PAGE_SIZE === 0 && res.size % PAGE_SIZE === 0) {
      flags |= VFIO_REGION_INFO_FLAG_MMAP;
    }
    regions.push({ addr: res.start, size: res.size, flags, ioaddr: null });
  }
  vdev.regions = regions;
}

/** vfio_platform_common.c: vfio_platform_regions_cleanup() */
function regionsCleanup(vdev: VfioLabTestDevice): void {
  for (const r of vdev.regions) r.ioaddr?.unmap();
  vdev.regions = [];
}

/** vfio_platform_common.c: vfio_platform_ioctl_get_region_info() */
function getRegionInfoCaps(
  vdev: VfioLabTestDevice,
  info: { index: number; offset: bigint; size: bigint; flags: number },
): void {
  const reg = vdev.regions[info.index];
  if (!reg) throw new SysError("EINVAL", "vfio_lab_test_get_region_info", `index ${info.index}`);
  info.offset = BigInt(info.index) << BigInt(VFIO_REGION_OFFSET_SHIFT);
  info.size = BigInt(reg.size);
  info.flags = reg.flags;
}

/** The region and offset a file position names, after vfio_platform_read()'s checks. */
function regionAt(
  vdev: VfioLabTestDevice,
  pos: number,
  need: number,
  fn: string,
): { reg: TestRegion; index: number; off: number } {
  const p = BigInt(pos);
  const index = Number(p >> BigInt(VFIO_REGION_OFFSET_SHIFT));
  const off = Number(p & OFFSET_MASK);
  const reg = vdev.regions[index];
  if (!reg) throw new SysError("EINVAL", fn, `region ${index}`);
  if (!(reg.flags & need)) throw new SysError("EINVAL", fn, `region ${index} forbids it`);
  if (off >= reg.size) throw new SysError("EINVAL", fn, `offset 0x${off.toString(16)}`);
  return { reg, index, off };
}

/** The widest access the position and count allow: 4, 2 or 1 bytes. */
function accessWidth(off: number, count: number): 4 | 2 | 1 {
  if (count >= 4 && off % 4 === 0) return 4;
  if (count >= 2 && off % 2 === 0) return 2;
  return 1;
}

/** vfio_platform_common.c: vfio_platform_read() / vfio_platform_read_mmio() */
function read(
  vdev: VfioLabTestDevice,
  current: Task,
  va: number,
  count: number,
  pos: { value: number },
): number {
  const fn = "vfio_platform_read";
  const { reg, index, off: start } = regionAt(vdev, pos.value, VFIO_REGION_INFO_FLAG_READ, fn);
  const io = regionIoaddr(vdev, index);
  const total = Math.min(count, reg.size - start);
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

/** vfio_platform_common.c: vfio_platform_write() / vfio_platform_write_mmio() */
function write(
  vdev: VfioLabTestDevice,
  current: Task,
  va: number,
  count: number,
  pos: { value: number },
): number {
  const fn = "vfio_platform_write";
  const { reg, index, off: start } = regionAt(vdev, pos.value, VFIO_REGION_INFO_FLAG_WRITE, fn);
  const io = regionIoaddr(vdev, index);
  const total = Math.min(count, reg.size - start);
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

/** vfio_platform_common.c: vfio_platform_mmap() / vfio_platform_mmap_mmio() */
function mmap(vdev: VfioLabTestDevice, _current: Task, vma: Vma): void {
  const fn = "vfio_platform_mmap";
  const index = Math.floor(vma.pgoff / PGOFF_PER_REGION);
  if (vma.end < vma.start) throw new SysError("EINVAL", fn, "end before start");
  if (!(vma.flags & VM_SHARED)) throw new SysError("EINVAL", fn, "not MAP_SHARED");
  const reg = vdev.regions[index];
  if (!reg) throw new SysError("EINVAL", fn, `region ${index}`);
  if (vma.start % PAGE_SIZE || vma.end % PAGE_SIZE) throw new SysError("EINVAL", fn, "unaligned");
  if (!(reg.flags & VFIO_REGION_INFO_FLAG_MMAP)) throw new SysError("EINVAL", fn, "no MMAP");
  if (!(reg.flags & VFIO_REGION_INFO_FLAG_READ) && vma.flags & VM_READ) {
    throw new SysError("EINVAL", fn, "region is not readable");
  }
  if (!(reg.flags & VFIO_REGION_INFO_FLAG_WRITE) && vma.flags & VM_WRITE) {
    throw new SysError("EINVAL", fn, "region is not writable");
  }
  const pgoff = vma.pgoff % PGOFF_PER_REGION;
  const length = vma.end - vma.start;
  if (reg.size < PAGE_SIZE || pgoff * PAGE_SIZE + length > reg.size) {
    throw new SysError("EINVAL", "vfio_platform_mmap_mmio", "beyond the region");
  }
  vma.pgoff = reg.addr / PAGE_SIZE + pgoff;
  vma.remapPfnRange(vma.pgoff, length);
}

// ---------------------------------------------------------------------------------------------
// Interrupts

/** vfio_platform_irq.c: vfio_send_eventfd() */
function sendEventfd(irq: TestIrq): void {
  if (irq.trigger) eventfdSignal(irq.trigger);
}

/**
 * vfio_platform_irq.c: vfio_automasked_irq_handler() — a level line stays asserted until user
 * space quiets the device, so it is disabled here and re-enabled by UNMASK.
 */
function automaskedIrqHandler(kernel: Kernel, irq: TestIrq): number {
  if (irq.masked) return IRQ_NONE;
  kernel.irq.disableIrqNosync(irq.hwirq);
  irq.masked = true;
  sendEventfd(irq);
  return IRQ_HANDLED;
}

/** vfio_platform_irq.c: vfio_irq_handler() */
function irqHandler(_kernel: Kernel, irq: TestIrq): number {
  sendEventfd(irq);
  return IRQ_HANDLED;
}

function handlerOf(irq: TestIrq): (kernel: Kernel, irq: TestIrq) => number {
  return irq.flags & VFIO_IRQ_INFO_AUTOMASKED ? automaskedIrqHandler : irqHandler;
}

/** vfio_platform_irq.c: vfio_platform_irq_init() */
function irqInit(vdev: VfioLabTestDevice): void {
  const kernel = vdev.kernel;
  const irqs: TestIrq[] = [];
  for (let i = 0; vdev.bus.irq(i) >= 0; i++) {
    const hwirq = vdev.bus.irq(i);
    let flags = VFIO_IRQ_INFO_EVENTFD;
    if (kernel.irq.irqGetTriggerType(hwirq) & IRQ_TYPE_LEVEL_MASK) {
      flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
    }
    const name = `vfio-irq[${hwirq}](${vdev.dev.name})`;
    const irq: TestIrq = {
      hwirq,
      flags,
      count: 1,
      masked: false,
      trigger: null,
      name,
      mask: { virqfd: null },
      unmask: { virqfd: null },
    };
    const handler = handlerOf(irq);
    try {
      // Off until a trigger is set: `masked` then nests inside that enable.
      kernel.irq.requestIrq(hwirq, () => handler(kernel, irq), IRQF_NO_AUTOEN, name, irq);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      // A refused line fails SET_IRQS for that index only (polling fallbacks stay possible).
      irq.name = e;
    }
    irqs.push(irq);
  }
  vdev.irqs = irqs;
}

/** vfio_platform_irq.c: vfio_platform_irq_cleanup() */
function irqCleanup(vdev: VfioLabTestDevice): void {
  const kernel = vdev.kernel;
  for (const irq of vdev.irqs) {
    vfioVirqfdDisable(kernel, irq.mask);
    vfioVirqfdDisable(kernel, irq.unmask);
    if (typeof irq.name === "string") {
      kernel.irq.freeIrq(irq.hwirq, irq);
      if (irq.trigger) eventfdCtxPut(irq.trigger);
      irq.trigger = null;
    }
  }
  vdev.irqs = [];
}

/** vfio_platform_irq.c: vfio_platform_mask() */
function irqMask(kernel: Kernel, irq: TestIrq): void {
  if (irq.masked) return;
  kernel.irq.disableIrqNosync(irq.hwirq);
  irq.masked = true;
}

/** vfio_platform_irq.c: vfio_platform_unmask() */
function irqUnmask(kernel: Kernel, irq: TestIrq): void {
  if (!irq.masked) return;
  kernel.irq.enableIrq(irq.hwirq);
  irq.masked = false;
}

/** vfio_platform_irq.c: vfio_set_trigger() — EBADF/EINVAL from eventfd_ctx_fdget(). */
function setTrigger(vdev: VfioLabTestDevice, current: Task, irq: TestIrq, fd: number): void {
  const kernel = vdev.kernel;
  if (irq.trigger) {
    kernel.irq.disableIrq(irq.hwirq);
    eventfdCtxPut(irq.trigger);
    irq.trigger = null;
  }
  if (fd < 0) return;
  // eventfd_ctx_fdget() holds the file only for the lookup.
  irq.trigger = eventfdCtxFdget(fd, (n) => {
    const file = current.fget(n);
    if (file) kernel.vfs.fput(file);
    return file;
  });
  kernel.irq.enableIrq(irq.hwirq);
}

type SetIrqsFn = (
  vdev: VfioLabTestDevice,
  current: Task,
  irq: TestIrq,
  start: number,
  count: number,
  flags: number,
  data: Uint8Array,
) => void;

/** vfio_platform_irq.c: vfio_platform_set_irq_mask() / _unmask() */
function setIrqMaskOrUnmask(unmask: boolean): SetIrqsFn {
  return (vdev, current, irq, start, count, flags, data) => {
    const kernel = vdev.kernel;
    if (start !== 0 || count !== 1) throw new SysError("EINVAL", fnName(unmask), "not 0/1");
    if (!(irq.flags & VFIO_IRQ_INFO_MASKABLE)) {
      throw new SysError("EINVAL", fnName(unmask), "not maskable");
    }
    const act = unmask ? irqUnmask : irqMask;
    if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
      const fd = new DataView(data.buffer, data.byteOffset).getInt32(0, true);
      const slot = unmask ? irq.unmask : irq.mask;
      if (fd >= 0) {
        vfioVirqfdEnable(
          kernel,
          current,
          irq,
          (i: TestIrq) => {
            act(kernel, i);
            return false;
          },
          null,
          null,
          slot,
          fd,
        );
      } else {
        vfioVirqfdDisable(kernel, slot);
      }
      return;
    }
    if (flags & VFIO_IRQ_SET_DATA_NONE || data[0]) act(kernel, irq);
  };
}

function fnName(unmask: boolean): string {
  return unmask ? "vfio_platform_set_irq_unmask" : "vfio_platform_set_irq_mask";
}

/** vfio_platform_irq.c: vfio_platform_set_irq_trigger() */
const setIrqTrigger: SetIrqsFn = (vdev, current, irq, start, count, flags, data) => {
  const fn = "vfio_platform_set_irq_trigger";
  if (count === 0 && flags & VFIO_IRQ_SET_DATA_NONE) {
    setTrigger(vdev, current, irq, -1);
    return;
  }
  if (start !== 0 || count !== 1) throw new SysError("EINVAL", fn, "not 0/1");
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    setTrigger(vdev, current, irq, new DataView(data.buffer, data.byteOffset).getInt32(0, true));
    return;
  }
  // Loopback: user space fires its own trigger, exactly as the interrupt would.
  if (flags & VFIO_IRQ_SET_DATA_NONE || data[0]) handlerOf(irq)(vdev.kernel, irq);
};

const SET_IRQS_ACTIONS: Readonly<Record<number, SetIrqsFn>> = {
  [VFIO_IRQ_SET_ACTION_MASK]: setIrqMaskOrUnmask(false),
  [VFIO_IRQ_SET_ACTION_UNMASK]: setIrqMaskOrUnmask(true),
  [VFIO_IRQ_SET_ACTION_TRIGGER]: setIrqTrigger,
};

/** vfio_platform_common.c: vfio_platform_ioctl() — VFIO_DEVICE_SET_IRQS */
function setIrqs(vdev: VfioLabTestDevice, current: Task, arg: number): number {
  const fn = "vfio_platform_ioctl";
  const hdr = vfio_irq_set.decodePartial(copyFromUser(current.mm, arg, VFIO_IRQ_SET_MINSZ, fn));
  const n = vdev.irqs.length;
  const size = vfioSetIrqsValidateAndPrepare(hdr, n, n);
  const data = size
    ? copyFromUser(current.mm, arg + VFIO_IRQ_SET_MINSZ, size, fn)
    : new Uint8Array(0);
  const irq = vdev.irqs[hdr.index]!;
  // vfio_platform_set_irqs_ioctl(): a line request_irq() refused answers with its error.
  if (typeof irq.name !== "string") throw irq.name;
  const action = SET_IRQS_ACTIONS[hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK];
  if (!action) throw new SysError("ENOTTY", "vfio_platform_set_irqs_ioctl", "no single action");
  action(vdev, current, irq, hdr.start, hdr.count, hdr.flags, data);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The device's ioctls, open and close

/** vfio_platform_common.c: vfio_platform_call_reset() */
function callReset(vdev: VfioLabTestDevice): void {
  if (!vdev.reset) {
    vdev.dev.log.warn("no reset function found!");
    throw new SysError("EINVAL", "vfio_platform_call_reset", "no reset function");
  }
  vdev.dev.log.info("reset");
  vdev.reset(vdev);
  vdev.resets++;
}

const INFO_MINSZ = vfio_device_info.offsetofend("num_irqs");
const IRQ_INFO_MINSZ = vfio_irq_info.offsetofend("count");

/** vfio_platform_common.c: vfio_platform_ioctl() */
function ioctl(vdev: VfioLabTestDevice, current: Task, cmd: number, arg: number): number {
  const fn = "vfio_platform_ioctl";
  switch (cmd >>> 0) {
    case VFIO_DEVICE_GET_INFO: {
      const info = vfio_device_info.decodePartial(copyFromUser(current.mm, arg, INFO_MINSZ, fn));
      if (info.argsz < INFO_MINSZ) throw new SysError("EINVAL", fn, `argsz ${info.argsz}`);
      info.flags = vdev.flags | (vdev.reset ? VFIO_DEVICE_FLAGS_RESET : 0);
      info.num_regions = vdev.regions.length;
      info.num_irqs = vdev.irqs.length;
      copyToUser(current.mm, arg, vfio_device_info.encode(info).subarray(0, INFO_MINSZ), fn);
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
    case VFIO_DEVICE_SET_IRQS:
      return setIrqs(vdev, current, arg);
    case VFIO_DEVICE_RESET:
      callReset(vdev);
      return 0;
    default:
      throw new SysError("ENOTTY", fn, `cmd 0x${(cmd >>> 0).toString(16)}`);
  }
}

/** vfio_platform_common.c: vfio_platform_open_device() */
function openDevice(vdev: VfioLabTestDevice): void {
  regionsInit(vdev);
  try {
    irqInit(vdev);
  } catch (e) {
    regionsCleanup(vdev);
    throw e;
  }
  // vfio-platform resets at open; without a reset entry this driver opens anyway.
  if (vdev.reset) callReset(vdev);
}

/** vfio_platform_common.c: vfio_platform_close_device() */
function closeDevice(vdev: VfioLabTestDevice): void {
  if (vdev.reset) callReset(vdev);
  regionsCleanup(vdev);
  irqCleanup(vdev);
}

/**
 * The emulated driver's `dma_unmap`: user space is taking `[iova, iova + length)` away, so every
 * pinned run that touches it is unpinned before the core goes on.
 */
function dmaUnmap(vdev: VfioLabTestDevice, iova: bigint, length: bigint): void {
  vdev.unmapCalls.push([iova, length]);
  const page = BigInt(PAGE_SIZE);
  for (const pin of [...vdev.pins]) {
    const end = pin.iova + BigInt(pin.npage) * page;
    if (end <= iova || pin.iova >= iova + length) continue;
    vdev.unpinPages(pin.iova, pin.npage);
  }
}

/** The device ops: the physical iommufd helpers, or the emulated ones and `dma_unmap`. */
export function vfioLabTestOps(emulated: boolean): VfioDeviceOps<VfioLabTestDevice> {
  const common = {
    name: VFIO_LAB_TEST,
    openDevice,
    closeDevice,
    ioctl,
    getRegionInfoCaps,
    read,
    write,
    mmap,
  };
  return emulated
    ? {
        ...common,
        bindIommufd: vfioIommufdEmulatedBind,
        unbindIommufd: vfioIommufdEmulatedUnbind,
        attachIoas: vfioIommufdEmulatedAttachIoas,
        detachIoas: vfioIommufdEmulatedDetachIoas,
        dmaUnmap,
      }
    : {
        ...common,
        bindIommufd: vfioIommufdPhysicalBind,
        unbindIommufd: vfioIommufdPhysicalUnbind,
        attachIoas: vfioIommufdPhysicalAttachIoas,
        detachIoas: vfioIommufdPhysicalDetachIoas,
      };
}

// ---------------------------------------------------------------------------------------------
// Probe and remove

/** vfio_platform.c: vfio_platform_probe() */
function probe(kernel: Kernel, dev: Device, bus: BusView, emulated: boolean): void {
  const vdev = vfioInitDevice(new VfioLabTestDevice(kernel, dev, vfioLabTestOps(emulated), bus));
  try {
    if (emulated) vfioRegisterEmulatedIommuDev(vdev);
    else vfioRegisterGroupDev(vdev);
  } catch (e) {
    vfioPutDevice(vdev);
    throw e;
  }
  dev.driverData = vdev;
}

/** vfio_platform.c: vfio_platform_remove() */
function remove(dev: Device): void {
  const vdev = dev.driverData as VfioLabTestDevice;
  vfioUnregisterGroupDev(vdev);
  vfioPutDevice(vdev);
  dev.driverData = null;
}

/** The platform half (vfio_platform.c): resources by platform_get_mem_or_io(). */
export function vfioLabTestPlatformDriver(kernel: Kernel, emulated: boolean): PlatformDriver {
  return new PlatformDriver({
    name: VFIO_LAB_TEST,
    owner: VFIO_LAB_TEST_MODULE,
    driverManagedDma: true,
    probe: (pdev: PlatformDevice) =>
      probe(
        kernel,
        pdev,
        {
          resource: (i) => pdev.getMemOrIo(i),
          irq: (i) => {
            try {
              return pdev.getIrqOptional(i);
            } catch (e) {
              if (SysError.isInstance(e)) return -e.errno;
              throw e;
            }
          },
          flags: VFIO_DEVICE_FLAGS_PLATFORM,
        },
        emulated,
      ),
    remove,
  });
}

/** The AMBA half (vfio_amba.c): the one window and `adev->irq[]`. */
export function vfioLabTestAmbaDriver(kernel: Kernel, emulated: boolean): AmbaDriver {
  return new AmbaDriver({
    name: VFIO_LAB_TEST,
    owner: VFIO_LAB_TEST_MODULE,
    idTable: [],
    driverManagedDma: true,
    probe: (adev: AmbaDevice) =>
      probe(
        kernel,
        adev,
        {
          resource: (i) => (i === 0 ? adev.res : null),
          irq: (i) => adev.irq[i] || -errno("ENXIO"),
          flags: VFIO_DEVICE_FLAGS_AMBA,
        },
        emulated,
      ),
    remove,
  });
}

const registered = new WeakMap<Kernel, readonly [PlatformDriver, AmbaDriver]>();

/**
 * The `vfio_lab_test` module: both drivers, registered at init. `emulated_iommu=1` registers
 * every device it binds as an emulated-IOMMU device.
 */
export const vfioLabTestModule = defineModule<Kernel, readonly [ReturnType<typeof emulatedParam>]>({
  name: VFIO_LAB_TEST_MODULE,
  params: [emulatedParam()],
  dependencies: [vfioModule],
  init: (kernel, params) => {
    const pdrv = vfioLabTestPlatformDriver(kernel, params.emulated_iommu);
    const adrv = vfioLabTestAmbaDriver(kernel, params.emulated_iommu);
    kernel.drivers.registerDriver(pdrv);
    try {
      kernel.drivers.registerDriver(adrv);
    } catch (e) {
      kernel.drivers.unregisterDriver(pdrv);
      throw e;
    }
    registered.set(kernel, [pdrv, adrv]);
  },
  exit: (kernel) => {
    const drivers = registered.get(kernel);
    if (!drivers) return;
    kernel.drivers.unregisterDriver(drivers[1]);
    kernel.drivers.unregisterDriver(drivers[0]);
    registered.delete(kernel);
  },
});

function emulatedParam() {
  return moduleParam("emulated_iommu", "bool", {
    perm: 0o444,
    default: false,
    description: "Register devices as emulated-IOMMU devices (vfio_register_emulated_iommu_dev)",
  });
}

/** The test device bound to board device `name` on `bus`. */
export function testDeviceOf(
  kernel: Kernel,
  bus: "platform" | "amba",
  name: string,
): VfioLabTestDevice {
  const dev = kernel.drivers.findDevice(bus, name);
  if (!(dev?.driverData instanceof VfioLabTestDevice)) {
    throw new Error(`${bus} device ${name} is not bound to ${VFIO_LAB_TEST}`);
  }
  return dev.driverData;
}
