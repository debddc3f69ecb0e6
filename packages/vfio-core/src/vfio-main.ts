/**
 * The VFIO core module (drivers/vfio/vfio_main.c): the `vfio` module and its
 * `enable_unsafe_noiommu_mode` parameter, device sets, the life of a `vfio_device` from
 * allocation through registration to unregistration, opening and closing a device for a user
 * (`vfio_df_open()` / `vfio_df_close()`), the device file's operations (the ioctl dispatcher,
 * VFIO_DEVICE_FEATURE, VFIO_DEVICE_GET_REGION_INFO, read/write/mmap), and the DMA entry points of
 * emulated-IOMMU drivers (vfio_pin_pages(), vfio_unpin_pages(), vfio_dma_rw()).
 *
 * The groups (group.ts), the container (container.ts), the device cdev (device-cdev.ts) and the
 * iommufd glue (iommufd.ts) each keep their part of the module's state on `Vfio`, as each C
 * file keeps its own `static struct vfio`.
 *
 * Caveat:
 * - The `enable_unsafe_noiommu_mode` parameter is declared whatever the Kconfig; with
 *   CONFIG_VFIO_NOIOMMU=n it exists in sysfs but is never read (Linux has no such file then).
 * - Runtime PM is not modelled: no bus driver of the model has `pm` ops, so the dispatcher's
 *   resume step never fails.
 * - Migration and DMA logging (the MIGRATION, MIG_DEVICE_STATE, MIG_DATA_SIZE and
 *   DMA_LOGGING_* features) answer as for a driver without `mig_ops` / `log_ops` (ENOTTY), and
 *   MIG_PRECOPY_INFOv2 as for a device without VFIO_MIGRATION_PRE_COPY (EINVAL): every driver
 *   of the board.
 * - KVM is not modelled (`vfio_file_set_kvm()` and the kvm reference of a device).
 * - `show_fdinfo` (`vfio-device-syspath:`) is not modelled: the model has no fdinfo files.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  IOMMUFD_ACCESS_RW_WRITE,
  type IommufdAccess,
  iommufdAccessPinPages,
  iommufdAccessRw,
  iommufdAccessUnpinPages,
} from "@vfio-lab/iommufd";
import {
  copyFromUser,
  copyToUser,
  DeviceClass,
  type File,
  type FileOperations,
  Ida,
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_WRITE,
  KERN_INFO,
  type Kernel,
  MINORMASK,
  type MiscDevice,
  SysError,
  TAINT_USER,
  type Task,
  WouldBlockForeverError,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_MASK,
  VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_MIGRATION_PRE_COPY,
  VFIO_REGION_INFO_FLAG_CAPS,
  vfio_region_info,
} from "@vfio-lab/kernel/uapi";
import { vfioContainerDmaRw, vfioContainerPinPages, vfioContainerUnpinPages } from "./container.js";
import {
  vfioCdevCleanup,
  vfioCdevInit,
  vfioDeviceAdd,
  vfioDeviceDel,
  vfioDeviceFopsCdevOpen,
  vfioDfIoctlAttachPt,
  vfioDfIoctlBindIommufd,
  vfioDfIoctlDetachPt,
  vfioDfUnbindIommufd,
} from "./device-cdev.js";
import {
  vfioDeviceGroupRegister,
  vfioDeviceGroupUnregister,
  vfioDeviceGroupUnuseIommu,
  vfioDeviceGroupUseIommu,
  vfioDeviceHasContainer,
  vfioDeviceRemoveGroup,
  vfioDeviceSetGroup,
  vfioDfGroupClose,
  vfioGroupCleanup,
  vfioGroupInit,
} from "./group.js";
import { vfioDfIommufdBind, vfioDfIommufdUnbind } from "./iommufd.js";
import {
  VFIO_DRIVER_DESC,
  VFIO_DRIVER_VERSION,
  VFIO_EMULATED_IOMMU,
  VFIO_IOMMU,
  VFIO_NO_IOMMU,
  type VfioCoreContainer,
  type VfioCoreDevice,
  type VfioCoreGroup,
  VfioDeviceFile,
  VfioDeviceSet,
  type VfioGroupType,
  type VfioIommuDriverOps,
  type VfioRegionInfo,
} from "./vfio.js";
import { VfioInfoCap, vfioInfoCapShift } from "./vfio-info-cap.js";
import { vfioModule } from "./vfio-modules.js";
import { vfioVirqfdExit, vfioVirqfdInit } from "./virqfd.js";

/** include/linux/vfio.h: VFIO_PIN_PAGES_MAX_ENTRIES */
export const VFIO_PIN_PAGES_MAX_ENTRIES = PAGE_SIZE / 8;

/** How long unregistration waits between requests to user space (10 s, HZ * 10). */
const UNREGISTER_REQUEST_INTERVAL_NS = 10_000_000_000;
/** An hour of unanswered requests: the model gives up (see vfioUnregisterGroupDev). */
const UNREGISTER_MAX_REQUESTS = 360;

/** The module's parameters (`vfio.enable_unsafe_noiommu_mode`). */
export interface VfioParams {
  enable_unsafe_noiommu_mode: boolean;
}

/**
 * The loaded `vfio` module: vfio_main.c's `struct vfio` (device ida, device sets, the vfio-dev
 * class) plus the state group.c, container.c and device_cdev.c keep for themselves.
 */
export class Vfio {
  /** `vfio.device_ida`: the N of vfioN. */
  readonly deviceIda = new Ida();
  /** `vfio_device_set_xa`: device sets by set id. */
  readonly deviceSets = new Map<unknown, VfioDeviceSet>();
  /** `vfio_device_class`: /sys/class/vfio-dev. */
  readonly deviceClass: DeviceClass;
  /** The device file operations (`vfio_device_fops`), shared by group and cdev fds. */
  readonly deviceFops: FileOperations;

  // group.c: `struct vfio` of the group code (CONFIG_VFIO_GROUP).
  /** `vfio_class`: /sys/class/vfio, nodes /dev/vfio/<name>. */
  groupClass: DeviceClass | null = null;
  readonly groupIda = new Ida();
  /** The first devt of the group char-device region (alloc_chrdev_region(..., "vfio")). */
  groupDevt = 0;
  readonly groupList: VfioCoreGroup[] = [];

  // container.c (CONFIG_VFIO_CONTAINER).
  /** `iommu_drivers_list`, in registration order (new drivers go to the head, as list_add). */
  readonly iommuDrivers: VfioIommuDriverOps[] = [];
  /** `vfio_dev`: the /dev/vfio/vfio misc device. */
  containerMisc: MiscDevice | null = null;
  /** Open containers (for leak checks in tests). */
  readonly containers = new Set<VfioCoreContainer>();

  // device_cdev.c (CONFIG_VFIO_DEVICE_CDEV).
  /** `device_devt`: the first devt of the vfio-dev char-device region. */
  deviceDevt = 0;

  constructor(
    readonly kernel: Kernel,
    readonly params: VfioParams,
  ) {
    this.deviceClass = new DeviceClass("vfio-dev", kernel.vfs.sysfs, kernel.vfs.devtmpfs);
    this.deviceFops = {
      owner: vfioModule,
      open: (_inode, file, current) => vfioDeviceFopsCdevOpen(this, file, current),
      release: (_inode, file) => this.deviceFopsRelease(file),
      read: (file, current, va, count, pos) => this.deviceFopsRead(file, current, va, count, pos),
      write: (file, current, va, count, pos) => this.deviceFopsWrite(file, current, va, count, pos),
      unlockedIoctl: (file, current, cmd, arg) => this.deviceFopsIoctl(file, current, cmd, arg),
      mmap: (file, current, vma) => this.deviceFopsMmap(file, current, vma),
    };
  }

  /** `vfio_noiommu`: the parameter, and false when CONFIG_VFIO_NOIOMMU is off. */
  get noiommu(): boolean {
    return this.kernel.config.CONFIG_VFIO_NOIOMMU && this.params.enable_unsafe_noiommu_mode;
  }

  /** vfio_main.c: vfio_init() */
  init(): void {
    vfioGroupInit(this);
    try {
      vfioVirqfdInit(this.kernel);
      try {
        // /sys/class/vfio-dev/vfioX
        this.deviceClass.register();
        try {
          vfioCdevInit(this);
        } catch (e) {
          this.deviceClass.unregister();
          throw e;
        }
      } catch (e) {
        vfioVirqfdExit(this.kernel);
        throw e;
      }
    } catch (e) {
      vfioGroupCleanup(this);
      throw e;
    }
    this.kernel.printk.printk(KERN_INFO, `${VFIO_DRIVER_DESC} version: ${VFIO_DRIVER_VERSION}`);
  }

  /** vfio_main.c: vfio_cleanup() */
  cleanup(): void {
    vfioCdevCleanup(this);
    this.deviceClass.unregister();
    vfioVirqfdExit(this.kernel);
    vfioGroupCleanup(this);
    this.deviceSets.clear();
  }

  // -------------------------------------------------------------------------------------------
  // The device file

  /** vfio_main.c: vfio_device_fops_release() */
  private deviceFopsRelease(file: File): void {
    const df = file.privateData as VfioDeviceFile;
    if (df.group) vfioDfGroupClose(df);
    else vfioDfUnbindIommufd(df);
    vfioDevicePutRegistration(df.device);
  }

  /** vfio_main.c: vfio_device_fops_unl_ioctl() */
  private deviceFopsIoctl(file: File, current: Task, cmd: number, arg: number): number {
    const df = file.privateData as VfioDeviceFile;
    const device = df.device;
    const request = cmd >>> 0;
    if (request === VFIO_DEVICE_BIND_IOMMUFD) return vfioDfIoctlBindIommufd(df, current, arg);
    if (!df.accessGranted) {
      throw new SysError("EINVAL", "vfio_device_fops_unl_ioctl", "device not opened for access");
    }
    // cdev-only ioctls; on a group fd these numbers fall through to the driver.
    if (this.kernel.config.CONFIG_VFIO_DEVICE_CDEV && !df.group) {
      if (request === VFIO_DEVICE_ATTACH_IOMMUFD_PT) return vfioDfIoctlAttachPt(df, current, arg);
      if (request === VFIO_DEVICE_DETACH_IOMMUFD_PT) return vfioDfIoctlDetachPt(df, current, arg);
    }
    switch (request) {
      case VFIO_DEVICE_FEATURE:
        return vfioIoctlDeviceFeature(device, current, arg);
      case VFIO_DEVICE_GET_REGION_INFO:
        return vfioGetRegionInfo(device, current, arg);
      default: {
        const ops = device.coreOps;
        if (!ops.ioctl) {
          throw new SysError("EINVAL", "vfio_device_fops_unl_ioctl", `${ops.name} has no ioctl`);
        }
        return ops.ioctl(device, current, cmd, arg);
      }
    }
  }

  /** vfio_main.c: vfio_device_fops_read() */
  private deviceFopsRead(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const df = file.privateData as VfioDeviceFile;
    const ops = df.device.coreOps;
    if (!df.accessGranted) throw new SysError("EINVAL", "vfio_device_fops_read", "not granted");
    if (!ops.read) throw new SysError("EINVAL", "vfio_device_fops_read", `${ops.name} has no read`);
    return ops.read(df.device, current, va, count, pos);
  }

  /** vfio_main.c: vfio_device_fops_write() */
  private deviceFopsWrite(
    file: File,
    current: Task,
    va: number,
    count: number,
    pos: { value: number },
  ): number {
    const df = file.privateData as VfioDeviceFile;
    const ops = df.device.coreOps;
    if (!df.accessGranted) throw new SysError("EINVAL", "vfio_device_fops_write", "not granted");
    if (!ops.write) {
      throw new SysError("EINVAL", "vfio_device_fops_write", `${ops.name} has no write`);
    }
    return ops.write(df.device, current, va, count, pos);
  }

  /** vfio_main.c: vfio_device_fops_mmap() */
  private deviceFopsMmap(
    file: File,
    current: Task,
    vma: Parameters<NonNullable<FileOperations["mmap"]>>[2],
  ): void {
    const df = file.privateData as VfioDeviceFile;
    const ops = df.device.coreOps;
    if (!df.accessGranted) throw new SysError("EINVAL", "vfio_device_fops_mmap", "not granted");
    if (!ops.mmap) throw new SysError("EINVAL", "vfio_device_fops_mmap", `${ops.name} has no mmap`);
    ops.mmap(df.device, current, vma);
  }
}

const vfioInstances = new WeakMap<Kernel, Vfio>();

/** The loaded vfio of `kernel` (what a bus driver gets by linking against vfio's symbols). */
export function vfioOf(kernel: Kernel): Vfio {
  const v = vfioInstances.get(kernel);
  if (!v) throw new SysError("ENOENT", "vfio", "the vfio module is not loaded");
  return v;
}

/** vfio_main.c: vfio_init() — called by the module's init (vfio-modules.ts). */
export function vfioInit(kernel: Kernel, params: VfioParams): void {
  const v = new Vfio(kernel, params);
  v.init();
  vfioInstances.set(kernel, v);
}

/** vfio_main.c: vfio_cleanup() */
export function vfioCleanup(kernel: Kernel): void {
  vfioInstances.get(kernel)?.cleanup();
  vfioInstances.delete(kernel);
}

// ---------------------------------------------------------------------------------------------
// Device sets

/**
 * vfio_main.c: vfio_assign_device_set() — devices with the same `setId` share one set (one
 * open lock, one reset scope). Without a call, registration puts a device in a set of its own.
 */
export function vfioAssignDeviceSet(device: VfioCoreDevice, setId: unknown): void {
  const vfio = vfioOf(device.kernel);
  let set = vfio.deviceSets.get(setId);
  if (!set) {
    set = new VfioDeviceSet(setId);
    vfio.deviceSets.set(setId, set);
  }
  set.devices.add(device);
  device.devSet = set;
}

/** vfio_main.c: vfio_release_device_set() */
function vfioReleaseDeviceSet(vfio: Vfio, device: VfioCoreDevice): void {
  const set = device.devSet;
  if (!set) return;
  set.devices.delete(device);
  if (set.devices.size === 0) vfio.deviceSets.delete(set.setId);
  device.devSet = null;
}

/** vfio_main.c: vfio_device_set_open_count() — opens across the set (hot-reset decisions). */
export function vfioDeviceSetOpenCount(set: VfioDeviceSet): number {
  let n = 0;
  for (const d of set.devices) if (d.openCount > 0) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Allocation and registration

/**
 * vfio_main.c: _vfio_alloc_device() / vfio_init_device() — gives a newly constructed device its
 * index and runs the driver's `init`. Balance with vfioPutDevice().
 */
export function vfioInitDevice<D extends VfioCoreDevice>(device: D): D {
  const vfio = vfioOf(device.kernel);
  device.index = vfio.deviceIda.alloc(0, MINORMASK, "vfio_init_device");
  try {
    device.coreOps.init?.(device);
  } catch (e) {
    vfioReleaseDeviceSet(vfio, device);
    vfio.deviceIda.free(device.index);
    throw e;
  }
  return device;
}

/** include/linux/vfio.h: vfio_put_device() — the last reference: vfio_device_release(). */
export function vfioPutDevice(device: VfioCoreDevice): void {
  const vfio = vfioOf(device.kernel);
  vfioReleaseDeviceSet(vfio, device);
  vfio.deviceIda.free(device.index);
  device.coreOps.release?.(device);
}

/** vfio_main.c: vfio_device_set_noiommu_and_name() */
function vfioDeviceSetNoiommuAndName(vfio: Vfio, device: VfioCoreDevice, type: VfioGroupType) {
  if (
    vfio.kernel.config.CONFIG_IOMMUFD_NOIOMMU &&
    vfio.noiommu &&
    !vfio.kernel.iommu.devIommuGetExisting(device.dev) &&
    type === VFIO_IOMMU
  ) {
    device.noiommu = true;
  }
  device.name = `${device.noiommu ? "noiommu-" : ""}vfio${device.index}`;
}

/** vfio.h: vfio_device_is_noiommu() */
export function vfioDeviceIsNoiommu(device: VfioCoreDevice): boolean {
  if (device.group && device.group.type === VFIO_NO_IOMMU) return true;
  return device.kernel.config.CONFIG_IOMMUFD_NOIOMMU && device.noiommu;
}

/** vfio_main.c: __vfio_register_dev() */
function vfioRegisterDev(device: VfioCoreDevice, type: VfioGroupType): void {
  const vfio = vfioOf(device.kernel);
  const kernel = vfio.kernel;
  const ops = device.coreOps;
  if (!ops.bindIommufd || !ops.unbindIommufd || !ops.attachIoas || !ops.detachIoas) {
    kernel.irq.bug.warnOn({
      file: "drivers/vfio/vfio_main.c",
      line: 348,
      fn: "__vfio_register_dev",
    });
    throw new SysError("EINVAL", "__vfio_register_dev", `${ops.name} lacks the iommufd ops`);
  }
  if (!device.devSet) vfioAssignDeviceSet(device, device);
  vfioDeviceSetNoiommuAndName(vfio, device, type);
  vfioDeviceSetGroup(device, type);
  try {
    if (vfioDeviceIsNoiommu(device) && kernel.config.CONFIG_IOMMUFD_NOIOMMU) {
      kernel.taint.add(TAINT_USER);
      device.dev.log.warn("Adding kernel taint for vfio-noiommu cdev");
    }
    // VFIO always maps with IOMMU_CACHE: a device that cannot honour it cannot be offered.
    if (
      type === VFIO_IOMMU &&
      !vfioDeviceIsNoiommu(device) &&
      !kernel.iommu.deviceIommuCapable(device.dev, IOMMU_CAP_CACHE_COHERENCY)
    ) {
      throw new SysError("EINVAL", "__vfio_register_dev", "no IOMMU_CAP_CACHE_COHERENCY");
    }
    vfioDeviceAdd(device);
  } catch (e) {
    vfioDeviceRemoveGroup(device);
    throw e;
  }
  // Refcounting starts with registration.
  device.refcount = 1;
  device.registrationDone = false;
  device.registered = true;
  vfioDeviceGroupRegister(device);
}

/** vfio_main.c: vfio_register_group_dev() — a physical device behind an IOMMU (or no-IOMMU). */
export function vfioRegisterGroupDev(device: VfioCoreDevice): void {
  vfioRegisterDev(device, VFIO_IOMMU);
}

/**
 * vfio_main.c: vfio_register_emulated_iommu_dev() — a device whose DMA the driver mediates
 * (vfio_pin_pages / vfio_dma_rw): a private fake group, no taint, no CAP_SYS_RAWIO.
 */
export function vfioRegisterEmulatedIommuDev(device: VfioCoreDevice): void {
  vfioRegisterDev(device, VFIO_EMULATED_IOMMU);
}

/**
 * vfio_main.c: vfio_unregister_group_dev() — no new opens, then wait until every user closed the
 * device, asking the driver to `request` it back every 10 s of virtual time. A user that has not
 * answered an hour of requests never will: a simulation deadlock (Linux would block forever).
 * The model has no signals, so the "Device is currently in use, task … blocked" warning Linux
 * prints when the waiting task is interrupted never appears.
 */
export function vfioUnregisterGroupDev(device: VfioCoreDevice): void {
  const kernel = device.kernel;
  vfioDeviceGroupUnregister(device);
  vfioDeviceDel(device);
  device.registered = false;
  vfioDevicePutRegistration(device);
  const ops = device.coreOps;
  for (let i = 0; !device.registrationDone; i++) {
    if (i === UNREGISTER_MAX_REQUESTS) {
      throw new WouldBlockForeverError(`vfio_unregister_group_dev(${device.name})`);
    }
    ops.request?.(device, i);
    kernel.scheduler.sleepUntil(
      () => device.registrationDone,
      "vfio_unregister_group_dev",
      UNREGISTER_REQUEST_INTERVAL_NS,
    );
  }
  vfioDeviceRemoveGroup(device);
}

/** vfio_main.c: vfio_device_try_get_registration() — fails once unregistration began. */
export function vfioDeviceTryGetRegistration(device: VfioCoreDevice): boolean {
  if (device.refcount === 0) return false;
  device.refcount++;
  return true;
}

/** vfio_main.c: vfio_device_put_registration() — the last put completes unregistration. */
export function vfioDevicePutRegistration(device: VfioCoreDevice): void {
  if (--device.refcount === 0) device.registrationDone = true;
}

// ---------------------------------------------------------------------------------------------
// Opening a device for a user

/** vfio_main.c: vfio_allocate_device_file() */
export function vfioAllocateDeviceFile(device: VfioCoreDevice): VfioDeviceFile {
  if (device.kernel.allocator.shouldFail("kzalloc")) {
    throw new SysError("ENOMEM", "vfio_allocate_device_file");
  }
  return new VfioDeviceFile(device);
}

/** `device->dev->driver->owner`: the bus driver's module (none for built-in code). */
function driverModule(device: VfioCoreDevice): { name: string } | undefined {
  const name = device.driver?.owner;
  return name === undefined ? undefined : { name };
}

/** vfio_main.c: vfio_df_device_first_open() */
function vfioDfDeviceFirstOpen(df: VfioDeviceFile): void {
  const device = df.device;
  const kernel = device.kernel;
  const owner = driverModule(device);
  if (owner && !kernel.modules.tryModuleGet(owner)) {
    throw new SysError("ENODEV", "vfio_df_device_first_open", "driver module going away");
  }
  try {
    if (df.iommufd) vfioDfIommufdBind(df);
    else vfioDeviceGroupUseIommu(device);
    try {
      device.coreOps.openDevice?.(device);
    } catch (e) {
      if (df.iommufd) vfioDfIommufdUnbind(df);
      else vfioDeviceGroupUnuseIommu(device);
      throw e;
    }
  } catch (e) {
    if (owner) kernel.modules.modulePut(owner);
    throw e;
  }
}

/** vfio_main.c: vfio_df_device_last_close() */
function vfioDfDeviceLastClose(df: VfioDeviceFile): void {
  const device = df.device;
  device.coreOps.closeDevice?.(device);
  if (df.iommufd) vfioDfIommufdUnbind(df);
  else vfioDeviceGroupUnuseIommu(device);
  const owner = driverModule(device);
  if (owner) device.kernel.modules.modulePut(owner);
}

/**
 * vfio_main.c: vfio_df_open() — the group path may open a device many times (open_device()
 * runs once); a cdev may not (EINVAL).
 */
export function vfioDfOpen(df: VfioDeviceFile): void {
  const device = df.device;
  if (device.openCount !== 0 && !df.group) {
    throw new SysError("EINVAL", "vfio_df_open", `${device.name} is already open`);
  }
  device.openCount++;
  if (device.openCount === 1) {
    try {
      vfioDfDeviceFirstOpen(df);
    } catch (e) {
      device.openCount--;
      throw e;
    }
  }
}

/** vfio_main.c: vfio_df_close() */
export function vfioDfClose(df: VfioDeviceFile): void {
  const device = df.device;
  if (!vfioAssertDeviceOpen(device)) return;
  if (device.openCount === 1) vfioDfDeviceLastClose(df);
  device.openCount--;
}

/** vfio_main.c: vfio_device_from_file() — the device of a VFIO device fd, or null. */
export function vfioDeviceFromFile(file: File): VfioCoreDevice | null {
  const df = file.privateData;
  if (!(df instanceof VfioDeviceFile)) return null;
  const vfio = vfioInstances.get(df.device.kernel);
  return vfio && file.fOp === vfio.deviceFops ? df.device : null;
}

// ---------------------------------------------------------------------------------------------
// Core device ioctls

const FEATURE_MINSZ = 8;

/**
 * vfio_main.c: vfio_ioctl_device_feature() — the header checks, then the core's migration and
 * DMA-logging features (ENOTTY for drivers without `mig_ops`/`log_ops`: every driver of the
 * model), else the driver's `device_feature` (ENOTTY without one).
 */
function vfioIoctlDeviceFeature(device: VfioCoreDevice, current: Task, arg: number): number {
  const fn = "vfio_ioctl_device_feature";
  const bytes = copyFromUser(current.mm, arg, FEATURE_MINSZ, fn);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const argsz = v.getUint32(0, true);
  const flags = v.getUint32(4, true);
  if (argsz < FEATURE_MINSZ) throw new SysError("EINVAL", fn, `argsz ${argsz}`);
  const known =
    VFIO_DEVICE_FEATURE_MASK |
    VFIO_DEVICE_FEATURE_SET |
    VFIO_DEVICE_FEATURE_GET |
    VFIO_DEVICE_FEATURE_PROBE;
  if ((flags & ~known) !== 0) throw new SysError("EINVAL", fn, `flags ${flags}`);
  if (
    !(flags & VFIO_DEVICE_FEATURE_PROBE) &&
    flags & VFIO_DEVICE_FEATURE_SET &&
    flags & VFIO_DEVICE_FEATURE_GET
  ) {
    throw new SysError("EINVAL", fn, "GET and SET without PROBE");
  }
  const feature = flags & VFIO_DEVICE_FEATURE_MASK;
  if (feature === VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2) {
    return vfioIoctlDeviceFeatureMigrationPrecopyInfoV2(device, flags);
  }
  // MIGRATION .. MIG_DATA_SIZE except BUS_MASTER and DMA_BUF, which are driver features.
  if (CORE_FEATURES.has(feature)) {
    throw new SysError("ENOTTY", fn, `feature ${feature} needs mig_ops/log_ops`);
  }
  const ops = device.coreOps;
  if (!ops.deviceFeature) throw new SysError("ENOTTY", fn, `${ops.name} has no features`);
  return ops.deviceFeature(device, current, flags, arg + FEATURE_MINSZ, argsz - FEATURE_MINSZ);
}

/**
 * The feature ids vfio_ioctl_device_feature() handles itself and refuses with ENOTTY when the
 * driver has no `mig_ops`/`log_ops` (MIG_PRECOPY_INFOv2 is handled apart: it asks the
 * migration flags, not the ops).
 */
const CORE_FEATURES = new Set([1, 2, 6, 7, 8, 9]);

/**
 * vfio_main.c: vfio_ioctl_device_feature_migration_precopy_info_v2() — EINVAL for a device that
 * does not advertise VFIO_MIGRATION_PRE_COPY, before the GET/SET/PROBE checks; then SET only
 * (include/linux/vfio.h: vfio_check_feature()) with no payload.
 */
function vfioIoctlDeviceFeatureMigrationPrecopyInfoV2(
  device: VfioCoreDevice,
  flags: number,
): number {
  const fn = "vfio_ioctl_device_feature_migration_precopy_info_v2";
  if (!(device.migrationFlags & VFIO_MIGRATION_PRE_COPY)) {
    throw new SysError("EINVAL", fn, `${device.name} has no VFIO_MIGRATION_PRE_COPY`);
  }
  const getSet = flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET);
  if (getSet & ~VFIO_DEVICE_FEATURE_SET) throw new SysError("EINVAL", "vfio_check_feature", "GET");
  if (flags & VFIO_DEVICE_FEATURE_PROBE) return 0;
  if (!getSet) throw new SysError("EINVAL", "vfio_check_feature", "neither GET nor SET");
  // minsz 0: any argsz will do. The v2 precopy_info flag itself is not modelled (no migration).
  return 0;
}

/** offsetofend(struct vfio_region_info, offset) */
const REGION_INFO_MINSZ = 32;

/**
 * vfio_main.c: vfio_get_region_info() — the driver fills in the region and its capabilities;
 * the core applies the argsz protocol: too small for the chain → `argsz` says how much is
 * needed and `cap_offset` is 0 (and the call succeeds); otherwise the chain follows the struct.
 */
function vfioGetRegionInfo(device: VfioCoreDevice, current: Task, arg: number): number {
  const fn = "vfio_get_region_info";
  const ops = device.coreOps;
  if (!ops.getRegionInfoCaps) throw new SysError("EINVAL", fn, `${ops.name} has no regions`);
  // minsz is the whole struct: every field starts as user space wrote it.
  const info: VfioRegionInfo = vfio_region_info.decode(
    copyFromUser(current.mm, arg, REGION_INFO_MINSZ, fn),
  );
  const head = info;
  if (head.argsz < REGION_INFO_MINSZ) throw new SysError("EINVAL", fn, `argsz ${head.argsz}`);
  const caps = new VfioInfoCap();
  ops.getRegionInfoCaps(device, info, caps);
  if (caps.size) {
    info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
    if (info.argsz < vfio_region_info.size + caps.size) {
      info.argsz = vfio_region_info.size + caps.size;
      info.cap_offset = 0;
    } else {
      vfioInfoCapShift(caps, vfio_region_info.size);
      copyToUser(current.mm, arg + vfio_region_info.size, caps.bytes(), fn);
      info.cap_offset = vfio_region_info.size;
    }
  }
  copyToUser(current.mm, arg, vfio_region_info.encode(info).subarray(0, REGION_INFO_MINSZ), fn);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// DMA for emulated-IOMMU drivers

/**
 * vfio_main.c: vfio_pin_pages() — pins `npage` pages of IOVA from `iova` (its page) for the
 * driver and returns their page frame numbers; through the container's backend or the iommufd
 * access. EINVAL without pages, for a closed device, without `dma_unmap`, or with neither.
 */
export function vfioPinPages(
  device: VfioCoreDevice,
  iova: bigint,
  npage: number,
  prot: number,
): number[] {
  const fn = "vfio_pin_pages";
  if (npage <= 0 || !vfioAssertDeviceOpen(device)) throw new SysError("EINVAL", fn);
  if (!device.coreOps.dmaUnmap) throw new SysError("EINVAL", fn, "driver has no dma_unmap");
  if (vfioDeviceHasContainer(device)) return vfioContainerPinPages(device, iova, npage, prot);
  const access = device.iommufdAccess as IommufdAccess | null;
  if (access) {
    // VFIO pins whole pages from the one holding `iova`; the caller adds the sub-page offset.
    const start = iova - (iova % BigInt(PAGE_SIZE));
    const pfns = new Array<number>(npage).fill(0);
    const flags = prot & IOMMU_WRITE ? IOMMUFD_ACCESS_RW_WRITE : 0;
    iommufdAccessPinPages(access, start, BigInt(npage * PAGE_SIZE), pfns, flags);
    return pfns;
  }
  throw new SysError("EINVAL", fn, "no container and no iommufd access");
}

/** vfio_main.c: vfio_unpin_pages() */
export function vfioUnpinPages(device: VfioCoreDevice, iova: bigint, npage: number): void {
  if (!vfioAssertDeviceOpen(device)) return;
  if (!device.coreOps.dmaUnmap) {
    device.kernel.irq.bug.warnOn({
      file: "drivers/vfio/vfio_main.c",
      line: 1766,
      fn: "vfio_unpin_pages",
    });
    return;
  }
  if (vfioDeviceHasContainer(device)) {
    vfioContainerUnpinPages(device, iova, npage);
    return;
  }
  const access = device.iommufdAccess as IommufdAccess | null;
  if (access) {
    const start = iova - (iova % BigInt(PAGE_SIZE));
    iommufdAccessUnpinPages(access, start, BigInt(npage * PAGE_SIZE));
  }
}

/** vfio_main.c: vfio_dma_rw() — the CPU copies to or from user memory at an IOVA (no pinning). */
export function vfioDmaRw(
  device: VfioCoreDevice,
  current: Task,
  iova: bigint,
  buf: Uint8Array,
  write: boolean,
): void {
  const fn = "vfio_dma_rw";
  if (buf.length <= 0 || !vfioAssertDeviceOpen(device)) throw new SysError("EINVAL", fn);
  if (vfioDeviceHasContainer(device)) {
    vfioContainerDmaRw(device, current, iova, buf, write);
    return;
  }
  const access = device.iommufdAccess as IommufdAccess | null;
  if (access) {
    iommufdAccessRw(access, iova, buf, write ? IOMMUFD_ACCESS_RW_WRITE : 0, current);
    return;
  }
  throw new SysError("EINVAL", fn, "no container and no iommufd access");
}

/** vfio_main.c: vfio_assert_device_open() — WARNs once when the device is not open. */
function vfioAssertDeviceOpen(device: VfioCoreDevice): boolean {
  if (device.openCount > 0) return true;
  device.kernel.irq.bug.warnOnOnce({
    file: "drivers/vfio/vfio_main.c",
    line: 529,
    fn: "vfio_assert_device_open",
  });
  return false;
}
