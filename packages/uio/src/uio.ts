/**
 * drivers/uio/uio.c: the UIO core as the module `uio` — the `uio` char region (a dynamic major,
 * UIO_MAX_DEVICES minors, one cdev) and class, registration of a driver's `uio_info` as the class
 * device `uioN` under its parent (`<parent>/uio/uioN`, `/sys/class/uio/uioN`, `/dev/uioN`) with
 * its attributes `name`, `version`, `event` and the `maps/mapM` and `portio/portP` directories,
 * the threaded interrupt that counts events, and the file operations of `/dev/uioN`.
 *
 * File operations, in Linux 7.3's order of checks:
 * - open: no device at this minor → ENODEV; the registering module going away → ENODEV; then
 *   the listener remembers the current event count; a device already unregistered → EINVAL;
 *   `info->open`.
 * - read: exactly 4 bytes (else EINVAL); no `info` or no interrupt → EIO; a new event count →
 *   the s32 count (EFAULT if it cannot be copied, the listener then keeps its old count); with
 *   O_NONBLOCK → EAGAIN; otherwise sleep. The model sleeps on virtual time: the hardware runs
 *   until an event (or an unregistration) arrives, and a read that nothing pending could ever
 *   wake fails with WouldBlockForeverError, as the model's eventfd read does.
 * - write: exactly 4 bytes (EINVAL), copied first (EFAULT); no `info` → EINVAL; no interrupt →
 *   EIO; no `irqcontrol` → ENOSYS; `irqcontrol(s32)`; returns 4.
 * - poll: no `info` or no interrupt → EPOLLERR; a new event count → EPOLLIN | EPOLLRDNORM.
 * - mmap: map index = the file offset in pages (`vm_pgoff`), which must name a map with a
 *   non-zero size (EINVAL), not longer than the map's pages (EINVAL); PHYS and IOVA maps are
 *   remapped from the map's first page whatever the page index (ENODEV for an unaligned `addr`,
 *   EINVAL when longer than `size`); no VM_SHARED check, so MAP_PRIVATE works.
 * - release: `info->release` if still registered; the module reference goes.
 *
 * Unregistration (driver unbind) removes the attributes, frees the interrupt, clears `info`,
 * wakes sleepers (their read fails with EIO) and removes the class device and its node; files
 * still open survive and fail as above (read EIO, write EINVAL, poll EPOLLERR, mmap EINVAL).
 * Mappings made before keep mapping the device. Checked against Linux 7.3:
 * oracle-probes/uio-pdrv-genirq.7.3.txt.
 *
 * Caveat:
 * - Signals are not modelled: a sleeping read never ends with ERESTARTSYS, and the SIGIO of
 *   fasync (uio_fasync(), kill_fasync()) is not sent.
 * - UIO_MEM_LOGICAL/VIRTUAL maps take `addr` as a physical address (the model has no kernel
 *   virtual addresses) and are mapped whole at mmap() rather than page by page at fault time;
 *   UIO_MEM_DMA_COHERENT maps `addr` as the buffer's physical address (dma_mmap_coherent()).
 *   No driver of the model uses them: uio_pdrv_genirq makes PHYS maps only.
 * - Memory attributes (pgprot_noncached() for PHYS) are not modelled: every PFN mapping of
 *   the model reaches the bus directly.
 * - A driver that requests an interrupt without a `handler` (a NULL call in Linux) has every
 *   interrupt counted.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  Cdev,
  copyToUser,
  type Device,
  DeviceClass,
  defineModule,
  devLogger,
  encodeScalar,
  type File,
  type FileOperations,
  getUser,
  Ida,
  type Inode,
  IRQ_HANDLED,
  IRQ_WAKE_THREAD,
  KERN_ERR,
  type Kernel,
  MAJOR,
  MINOR,
  MKDEV,
  noopLlseek,
  O_NONBLOCK,
  POLLERR,
  POLLIN,
  POLLRDNORM,
  SysError,
  s32,
  type Task,
  type Vma,
} from "@vfio-lab/kernel";
import {
  MAX_UIO_MAPS,
  MAX_UIO_PORT_REGIONS,
  UIO_IRQ_CUSTOM,
  UIO_MAX_DEVICES,
  UIO_MEM_DMA_COHERENT,
  UIO_MEM_IOVA,
  UIO_MEM_LOGICAL,
  UIO_MEM_PHYS,
  UIO_MEM_VIRTUAL,
  UIO_PORT_OTHER,
  UioDevice,
  type UioInfo,
  type UioMem,
  type UioPort,
} from "./uio-driver.js";

/** The module's name as `lsmod` shows it, and the name of its class and char region. */
export const UIO = "uio";

/** `struct uio_listener`: one open file's view — the event count it last returned. */
interface UioListener {
  readonly dev: UioDevice;
  eventCount: number;
}

/**
 * The loaded `uio` module: uio.c's statics (`uio_major`, `uio_cdev`, `uio_idr`, `uio_class`,
 * `uio_class_registered`).
 */
export class Uio {
  /** `uio_idr`: minor → device. */
  readonly idr = new Ida();
  readonly devices = new Map<number, UioDevice>();
  /** The first devt of the region (`MKDEV(uio_major, 0)`). */
  devt = 0;
  cdev: Cdev | null = null;
  readonly uioClass: DeviceClass;
  classRegistered = false;
  readonly fops: FileOperations;

  constructor(readonly kernel: Kernel) {
    this.uioClass = new DeviceClass(UIO, kernel.vfs.sysfs, kernel.vfs.devtmpfs);
    this.fops = {
      owner: uioModule,
      open: (inode, file, current) => uioOpen(this, inode, file, current),
      release: (_inode, file) => uioRelease(this, file),
      read: (file, current, va, count) => uioRead(this, file, current, va, count),
      write: (file, current, va, count) => uioWrite(file, current, va, count),
      mmap: (file, _current, vma) => uioMmap(file, vma),
      poll: (file) => uioPoll(file),
      llseek: noopLlseek,
    };
  }

  /** `uio_major`. */
  get major(): number {
    return MAJOR(this.devt);
  }
}

const instances = new WeakMap<Kernel, Uio>();

/** The loaded `uio` module of `kernel`, or undefined. */
export function uioOf(kernel: Kernel): Uio | undefined {
  return instances.get(kernel);
}

function listenerOf(file: File): UioListener {
  return file.privateData as UioListener;
}

// ---------------------------------------------------------------------------------------------
// sysfs

/** `%pa` of a phys_addr_t / resource_size_t on a 64-bit kernel: `0x` and 16 hex digits. */
export function formatPa(value: number): string {
  return `0x${value.toString(16).padStart(16, "0")}`;
}

/** `0x%lx` / `0x%llx`. */
function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

const PORTTYPES = ["none", "x86", "gpio", "other"] as const;

/** uio.c: map_name_show() … map_offset_show(): the four files of `maps/mapN`. */
function mapAttributes(mem: UioMem) {
  return {
    name: { mode: 0o444, show: () => `${mem.name ?? ""}\n` },
    addr: { mode: 0o444, show: () => `${formatPa(mem.addr)}\n` },
    size: { mode: 0o444, show: () => `${formatPa(mem.size)}\n` },
    offset: { mode: 0o444, show: () => `${hex(mem.offs)}\n` },
  } as const;
}

/** uio.c: portio_name_show() … portio_porttype_show(). */
function portAttributes(port: UioPort) {
  return {
    name: { mode: 0o444, show: () => `${port.name ?? ""}\n` },
    start: { mode: 0o444, show: () => `${hex(port.start)}\n` },
    size: { mode: 0o444, show: () => `${hex(port.size)}\n` },
    porttype: {
      mode: 0o444,
      show: () => {
        if (port.porttype < 0 || port.porttype > UIO_PORT_OTHER) {
          throw new SysError("EINVAL", "portio_porttype_show", `porttype ${port.porttype}`);
        }
        return `port_${PORTTYPES[port.porttype]}\n`;
      },
    },
  } as const;
}

/** dev_printk of the class device (`uio uio0: …`). */
function idevLog(kernel: Kernel, idev: UioDevice) {
  return devLogger(kernel.printk, {
    name: idev.name,
    className: UIO,
    devt: { major: MAJOR(idev.devt), minor: MINOR(idev.devt) },
  });
}

/**
 * uio.c: uio_dev_add_attributes() — `maps/mapN` for each map up to the first of size 0, then
 * `portio/portN` likewise; all or nothing, with "error creating sysfs files (%d)".
 */
function uioDevAddAttributes(kernel: Kernel, idev: UioDevice, info: UioInfo): void {
  const sysfs = kernel.vfs.sysfs;
  const dir = idev.devPath as string;
  try {
    for (let mi = 0; mi < MAX_UIO_MAPS; mi++) {
      const mem = info.mem[mi];
      if (!mem || mem.size === 0) break;
      if (!idev.mapDir) {
        if (kernel.allocator.shouldFail("kobject_create_and_add")) {
          throw new SysError("ENOMEM", "uio_dev_add_attributes", "maps");
        }
        idev.mapDir = `${dir}/maps`;
        sysfs.mkdir(idev.mapDir, true);
      }
      if (kernel.allocator.shouldFail("kzalloc")) {
        throw new SysError("ENOMEM", "uio_dev_add_attributes", `map${mi}`);
      }
      const mapPath = `${idev.mapDir}/map${mi}`;
      sysfs.mkdir(mapPath, true);
      for (const [attr, spec] of Object.entries(mapAttributes(mem))) {
        sysfs.createFile(`${mapPath}/${attr}`, spec);
      }
    }
    for (let pi = 0; pi < MAX_UIO_PORT_REGIONS; pi++) {
      const port = info.port[pi];
      if (!port || port.size === 0) break;
      if (!idev.portioDir) {
        if (kernel.allocator.shouldFail("kobject_create_and_add")) {
          throw new SysError("ENOMEM", "uio_dev_add_attributes", "portio");
        }
        idev.portioDir = `${dir}/portio`;
        sysfs.mkdir(idev.portioDir, true);
      }
      if (kernel.allocator.shouldFail("kzalloc")) {
        throw new SysError("ENOMEM", "uio_dev_add_attributes", `port${pi}`);
      }
      const portPath = `${idev.portioDir}/port${pi}`;
      sysfs.mkdir(portPath, true);
      for (const [attr, spec] of Object.entries(portAttributes(port))) {
        sysfs.createFile(`${portPath}/${attr}`, spec);
      }
    }
  } catch (e) {
    uioDevDelAttributes(kernel, idev);
    if (SysError.isInstance(e)) {
      idevLog(kernel, idev).err(`error creating sysfs files (${-e.errno})`);
    }
    throw e;
  }
}

/** uio.c: uio_dev_del_attributes() */
function uioDevDelAttributes(kernel: Kernel, idev: UioDevice): void {
  const sysfs = kernel.vfs.sysfs;
  for (const dir of [idev.mapDir, idev.portioDir]) {
    if (dir && sysfs.exists(dir)) sysfs.remove(dir);
  }
  idev.mapDir = null;
  idev.portioDir = null;
}

// ---------------------------------------------------------------------------------------------
// Events and the interrupt

/** uio.c: uio_event_notify() — count an event and wake readers (they re-check on wake-up). */
export function uioEventNotify(info: UioInfo): void {
  const idev = info.uioDev;
  if (!idev) return;
  // atomic_inc() of an int: wraps at 2^32 like the C counter (shown unsigned by `event`).
  idev.event = (idev.event + 1) >>> 0;
}

/** uio.c: uio_interrupt_handler() — the driver's handler; a handled interrupt wakes the thread. */
function uioInterruptHandler(irq: number, idev: UioDevice): number {
  const info = idev.info as UioInfo;
  const ret = info.handler ? info.handler(irq, info) : IRQ_HANDLED;
  return ret === IRQ_HANDLED ? IRQ_WAKE_THREAD : ret;
}

/** uio.c: uio_interrupt_thread() — the event is counted in the thread, after the hard IRQ. */
function uioInterruptThread(idev: UioDevice): number {
  if (idev.info) uioEventNotify(idev.info);
  return IRQ_HANDLED;
}

// ---------------------------------------------------------------------------------------------
// Registration

/**
 * uio.c: __uio_register_device() — EPROBE_DEFER while the `uio` module is not loaded; EINVAL
 * without a parent, name or version; ENOMEM; EINVAL ("too many uio devices") when every minor is
 * taken; then the class device, its map/port attributes and the threaded interrupt (its errno
 * unwinds everything).
 */
export function uioRegisterDevice(
  kernel: Kernel,
  owner: { readonly name: string },
  parent: Device,
  info: UioInfo,
): void {
  const fn = "__uio_register_device";
  const uio = instances.get(kernel);
  if (!uio?.classRegistered) throw new SysError("EPROBE_DEFER", fn, "uio class not registered");
  if (!parent || !info || typeof info.name !== "string" || typeof info.version !== "string") {
    throw new SysError("EINVAL", fn, "no parent, info, name or version");
  }
  info.uioDev = null;
  if (kernel.allocator.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "uio_device");

  // uio_get_minor(): idr_alloc(0, UIO_MAX_DEVICES), lowest free.
  let minor: number;
  try {
    minor = uio.idr.alloc(0, UIO_MAX_DEVICES - 1, "idr_alloc");
  } catch (e) {
    if (!SysError.isInstance(e) || e.code !== "ENOSPC") throw e;
    // The device has no name or class yet: dev_err() prints "(null)" after an empty driver string.
    kernel.printk.printk(KERN_ERR, " (null): too many uio devices");
    throw new SysError("EINVAL", "uio_get_minor", "too many uio devices");
  }
  const idev = new UioDevice(kernel, owner, parent, minor, MKDEV(uio.major, minor), info);
  uio.devices.set(minor, idev);

  const freeMinor = () => {
    uio.devices.delete(minor);
    uio.idr.free(minor);
  };
  try {
    // device_add(): the class device with its attributes (uio_groups) and /dev/uioN.
    idev.devPath = uio.uioClass.deviceCreate({
      name: idev.name,
      devt: idev.devt,
      parentPath: parent.kobjPath,
      attrs: {
        name: { mode: 0o444, show: () => attrShow(kernel, idev, (i) => i.name, "name_show") },
        version: {
          mode: 0o444,
          show: () => attrShow(kernel, idev, (i) => i.version, "version_show"),
        },
        event: { mode: 0o444, show: () => `${idev.event >>> 0}\n` },
      },
    });
  } catch (e) {
    freeMinor();
    throw e;
  }
  const deviceDel = () => {
    uio.uioClass.deviceDestroy(idev.name);
    idev.devPath = null;
  };
  try {
    uioDevAddAttributes(kernel, idev, info);
  } catch (e) {
    idev.info = null;
    deviceDel();
    freeMinor();
    throw e;
  }
  info.uioDev = idev;
  if (info.irq && info.irq !== UIO_IRQ_CUSTOM) {
    // Not devm: the parent may unregister while files are open, and the line must go with it.
    try {
      kernel.irq.requestThreadedIrq(
        info.irq,
        (irq) => uioInterruptHandler(irq, idev),
        () => uioInterruptThread(idev),
        info.irqFlags,
        info.name,
        idev,
      );
    } catch (e) {
      info.uioDev = null;
      uioDevDelAttributes(kernel, idev);
      idev.info = null;
      deviceDel();
      freeMinor();
      throw e;
    }
  }
}

/** uio.c: name_show() / version_show() — EINVAL and a log line once unregistered. */
function attrShow(
  kernel: Kernel,
  idev: UioDevice,
  pick: (info: UioInfo) => string,
  fn: string,
): string {
  if (!idev.info) {
    idevLog(kernel, idev).err("the device has been unregistered");
    throw new SysError("EINVAL", fn, "unregistered");
  }
  return `${pick(idev.info)}\n`;
}

/**
 * uio.c: __devm_uio_register_device() — uioRegisterDevice() undone by uioUnregisterDevice()
 * when `parent`'s driver unbinds.
 */
export function devmUioRegisterDevice(
  kernel: Kernel,
  owner: { readonly name: string },
  parent: Device,
  info: UioInfo,
): void {
  if (kernel.allocator.shouldFail("devres_alloc")) {
    throw new SysError("ENOMEM", "__devm_uio_register_device", "devres");
  }
  uioRegisterDevice(kernel, owner, parent, info);
  parent.devres.add("devm_uio_unregister_device", () => uioUnregisterDevice(info));
}

/**
 * uio.c: uio_unregister_device() — attributes, interrupt and `info` go (open files fail from now
 * on and sleeping readers wake with EIO), then the minor and the class device with its node.
 */
export function uioUnregisterDevice(info: UioInfo): void {
  const idev = info?.uioDev;
  if (!idev) return;
  const kernel = idev.kernel;
  const uio = instances.get(kernel);
  uioDevDelAttributes(kernel, idev);
  if (info.irq && info.irq !== UIO_IRQ_CUSTOM) kernel.irq.freeIrq(info.irq, idev);
  idev.info = null;
  if (uio) {
    uio.devices.delete(idev.minor);
    uio.idr.free(idev.minor);
    uio.uioClass.deviceDestroy(idev.name);
  }
  idev.devPath = null;
}

// ---------------------------------------------------------------------------------------------
// File operations

/** uio.c: uio_open() */
function uioOpen(uio: Uio, inode: Inode, file: File, _current: Task): void {
  const fn = "uio_open";
  const kernel = uio.kernel;
  const idev = uio.devices.get(MINOR(inode.rdev));
  if (!idev) throw new SysError("ENODEV", fn, `no uio device at minor ${MINOR(inode.rdev)}`);
  if (!kernel.modules.tryModuleGet(idev.owner)) {
    throw new SysError("ENODEV", fn, `${idev.owner.name} is going away`);
  }
  try {
    if (kernel.allocator.shouldFail("kmalloc")) throw new SysError("ENOMEM", fn, "listener");
    const listener: UioListener = { dev: idev, eventCount: idev.event };
    const info = idev.info;
    if (!info) throw new SysError("EINVAL", fn, `${idev.name} has been unregistered`);
    info.open?.(info);
    file.privateData = listener;
  } catch (e) {
    kernel.modules.modulePut(idev.owner);
    throw e;
  }
}

/** uio.c: uio_release() */
function uioRelease(uio: Uio, file: File): void {
  const idev = listenerOf(file).dev;
  const info = idev.info;
  try {
    if (info?.release) info.release(info);
  } finally {
    uio.kernel.modules.modulePut(idev.owner);
  }
}

/** uio.c: uio_poll() */
function uioPoll(file: File): number {
  const listener = listenerOf(file);
  const idev = listener.dev;
  if (!idev.info?.irq) return POLLERR;
  if (listener.eventCount !== idev.event) return POLLIN | POLLRDNORM;
  return 0;
}

/** sizeof(s32): the only size read() and write() accept. */
const UIO_XFER = 4;

/** uio.c: uio_read() */
function uioRead(uio: Uio, file: File, current: Task, va: number, count: number): number {
  const fn = "uio_read";
  const listener = listenerOf(file);
  const idev = listener.dev;
  if (count !== UIO_XFER) throw new SysError("EINVAL", fn, `${count} bytes, need 4`);
  for (;;) {
    if (!idev.info?.irq) throw new SysError("EIO", fn, `${idev.name} has no interrupt`);
    const eventCount = idev.event;
    if (eventCount !== listener.eventCount) {
      // The s32 is copied as is; the listener advances only once the copy succeeded.
      copyToUser(current.mm, va, encodeScalar(s32, eventCount | 0), fn);
      listener.eventCount = eventCount;
      return UIO_XFER;
    }
    if (file.flags & O_NONBLOCK) throw new SysError("EAGAIN", fn, "no new event");
    // schedule(): virtual time runs until an event or an unregistration wakes the reader.
    uio.kernel.scheduler.sleepUntil(
      () => !idev.info?.irq || idev.event !== listener.eventCount,
      `read(${file.path}) by pid ${current.pid} (${current.comm})`,
    );
  }
}

/** uio.c: uio_write() */
function uioWrite(file: File, current: Task, va: number, count: number): number {
  const fn = "uio_write";
  const idev = listenerOf(file).dev;
  if (count !== UIO_XFER) throw new SysError("EINVAL", fn, `${count} bytes, need 4`);
  const irqOn = getUser(current.mm, s32, va, fn);
  const info = idev.info;
  if (!info) throw new SysError("EINVAL", fn, `${idev.name} has been unregistered`);
  if (!info.irq) throw new SysError("EIO", fn, `${idev.name} has no interrupt`);
  if (!info.irqcontrol) throw new SysError("ENOSYS", fn, `${idev.name} has no irqcontrol`);
  info.irqcontrol(info, irqOn);
  return UIO_XFER;
}

/** uio.c: uio_find_mem_index() — the map `vm_pgoff` names, or -1. */
function uioFindMemIndex(info: UioInfo, vma: Vma): number {
  if (vma.pgoff < MAX_UIO_MAPS) {
    if ((info.mem[vma.pgoff]?.size ?? 0) === 0) return -1;
    return vma.pgoff;
  }
  return -1;
}

/** uio.c: uio_mmap_physical() — the map's frames from its first page on, whatever the offset. */
function uioMmapPhysical(info: UioInfo, vma: Vma): void {
  const fn = "uio_mmap_physical";
  const mi = uioFindMemIndex(info, vma);
  if (mi < 0) throw new SysError("EINVAL", fn, "no such map");
  const mem = info.mem[mi] as UioMem;
  if (mem.addr % PAGE_SIZE !== 0) {
    throw new SysError("ENODEV", fn, `map ${mi} at ${hex(mem.addr)} is not page aligned`);
  }
  if (vma.end - vma.start > mem.size) {
    throw new SysError("EINVAL", fn, `0x${(vma.end - vma.start).toString(16)} bytes > map size`);
  }
  vma.remapPfnRange(mem.addr / PAGE_SIZE, vma.end - vma.start);
}

/** uio.c: uio_mmap_logical() — the model maps the pages at once (see Caveat). */
function uioMmapLogical(info: UioInfo, vma: Vma): void {
  const mem = info.mem[vma.pgoff] as UioMem;
  vma.remapPfnRange(Math.floor(mem.addr / PAGE_SIZE), vma.end - vma.start);
}

/** uio.c: uio_mmap_dma_coherent() */
function uioMmapDmaCoherent(info: UioInfo, vma: Vma): void {
  const fn = "uio_mmap_dma_coherent";
  const mi = uioFindMemIndex(info, vma);
  if (mi < 0) throw new SysError("EINVAL", fn, "no such map");
  const mem = info.mem[mi] as UioMem;
  if (mem.addr % PAGE_SIZE !== 0) throw new SysError("ENODEV", fn, "addr not page aligned");
  if ((mem.dmaAddr ?? 0) % PAGE_SIZE !== 0) {
    throw new SysError("ENODEV", fn, "dma_addr not page aligned");
  }
  if (!mem.dmaDevice) throw new SysError("ENODEV", fn, "no dma_device");
  if (vma.end - vma.start > mem.size) throw new SysError("EINVAL", fn, "longer than the map");
  mem.dmaDevice.log.warn("use of UIO_MEM_DMA_COHERENT is highly discouraged");
  vma.remapPfnRange(mem.addr / PAGE_SIZE, vma.end - vma.start);
}

/** uio.c: uio_mmap() */
function uioMmap(file: File, vma: Vma): void {
  const fn = "uio_mmap";
  const idev = listenerOf(file).dev;
  if (vma.end < vma.start) throw new SysError("EINVAL", fn, "end before start");
  const info = idev.info;
  if (!info) throw new SysError("EINVAL", fn, `${idev.name} has been unregistered`);
  const mi = uioFindMemIndex(info, vma);
  if (mi < 0) throw new SysError("EINVAL", fn, `no map at page offset ${vma.pgoff}`);
  const mem = info.mem[mi] as UioMem;
  const requested = vma.pages;
  const actual = Math.floor(((mem.addr % PAGE_SIZE) + mem.size + PAGE_SIZE - 1) / PAGE_SIZE);
  if (requested > actual) {
    throw new SysError("EINVAL", fn, `${requested} pages requested, map ${mi} has ${actual}`);
  }
  switch (mem.memtype) {
    case UIO_MEM_IOVA:
    case UIO_MEM_PHYS:
      uioMmapPhysical(info, vma);
      return;
    case UIO_MEM_LOGICAL:
    case UIO_MEM_VIRTUAL:
      uioMmapLogical(info, vma);
      return;
    case UIO_MEM_DMA_COHERENT:
      uioMmapDmaCoherent(info, vma);
      return;
    default:
      throw new SysError("EINVAL", fn, `memtype ${mem.memtype}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The module

/**
 * uio.c: uio_major_init() + init_uio_class() — the `uio` char region of UIO_MAX_DEVICES minors
 * from a dynamic major, one cdev over all of it, then class `uio`.
 */
function uioInit(kernel: Kernel): void {
  const uio = new Uio(kernel);
  const chrdev = kernel.vfs.chrdev;
  uio.devt = chrdev.allocChrdevRegion(0, UIO_MAX_DEVICES, UIO);
  try {
    if (kernel.allocator.shouldFail("cdev_alloc")) {
      throw new SysError("ENOMEM", "uio_major_init", "cdev_alloc");
    }
    const cdev = new Cdev(uio.fops, uio);
    chrdev.cdevAdd(cdev, uio.devt, UIO_MAX_DEVICES);
    uio.cdev = cdev;
    try {
      uio.uioClass.register();
    } catch (e) {
      kernel.printk.printk(KERN_ERR, "class_register failed for uio");
      chrdev.cdevDel(cdev);
      throw e;
    }
  } catch (e) {
    chrdev.unregisterChrdevRegion(uio.devt, UIO_MAX_DEVICES);
    throw e;
  }
  uio.classRegistered = true;
  instances.set(kernel, uio);
}

/** uio.c: uio_exit() → release_uio_class() */
function uioExit(kernel: Kernel): void {
  const uio = instances.get(kernel);
  if (!uio) return;
  uio.classRegistered = false;
  uio.uioClass.unregister();
  kernel.vfs.chrdev.unregisterChrdevRegion(uio.devt, UIO_MAX_DEVICES);
  if (uio.cdev) kernel.vfs.chrdev.cdevDel(uio.cdev);
  instances.delete(kernel);
}

/** The `uio` module ("Userspace IO core module"): no parameters, no MODULE_VERSION. */
export const uioModule = defineModule<Kernel, readonly []>({
  name: UIO,
  params: [],
  init: (kernel) => uioInit(kernel),
  exit: (kernel) => uioExit(kernel),
});
