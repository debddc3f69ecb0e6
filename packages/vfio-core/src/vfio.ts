/**
 * The VFIO core's shared objects (drivers/vfio/vfio.h and include/linux/vfio.h): the device
 * every bus driver registers (`struct vfio_device`) with its operations, the per-open device
 * file (`struct vfio_device_file`), the group (`struct vfio_group`), the container and the
 * IOMMU-backend interface (`struct vfio_iommu_driver_ops`).
 *
 * The behaviour lives in the files named after Linux's: vfio-main.ts (registration, the device
 * fd), group.ts, container.ts, device-cdev.ts, iommufd.ts, vfio-iommu-type1.ts. This file only
 * declares what they share, so none of them has to import another to know a field.
 */

import type { IommufdAccess, IommufdCtx, IommufdDevice } from "@vfio-lab/iommufd";
import type {
  Device,
  DeviceDriver,
  File,
  IommuDomain,
  IommuGroup,
  Kernel,
  Task,
  Vma,
} from "@vfio-lab/kernel";
import type { VfioInfoCap } from "./vfio-info-cap.js";

/** vfio_main.c: DRIVER_DESC and DRIVER_VERSION, printed at load and in /sys/module/vfio/version. */
export const VFIO_DRIVER_DESC = "VFIO - User Level meta-driver";
export const VFIO_DRIVER_VERSION = "0.3";

/** drivers/vfio/vfio.h: enum vfio_group_type. */
export const VFIO_IOMMU = 0;
/** A virtual device whose DMA goes through the core (vfio_pin_pages / vfio_dma_rw) only. */
export const VFIO_EMULATED_IOMMU = 1;
/** A physical device without an IOMMU: unmediated DMA, taint, CAP_SYS_RAWIO. */
export const VFIO_NO_IOMMU = 2;
export type VfioGroupType = typeof VFIO_IOMMU | typeof VFIO_EMULATED_IOMMU | typeof VFIO_NO_IOMMU;

/** include/linux/vfio.h: the file offset of region `index` (VFIO_PCI_OFFSET_SHIFT = 40). */
export const VFIO_REGION_OFFSET_SHIFT = 40;

/**
 * The decoded `struct vfio_region_info` a driver's `getRegionInfoCaps` fills in (the core owns
 * the ioctl, its argsz protocol and the capability chain since Linux 6.19).
 */
export interface VfioRegionInfo {
  argsz: number;
  flags: number;
  index: number;
  cap_offset: number;
  size: bigint;
  offset: bigint;
}

/**
 * include/linux/vfio.h: struct vfio_device_ops — what a bus driver provides. Errors are thrown
 * as SysError with the Linux errno; methods that return a count return it.
 *
 * With CONFIG_IOMMUFD the four iommufd operations are mandatory (registration WARNs and fails
 * with EINVAL otherwise); drivers use the physical or emulated helpers of iommufd.ts.
 */
export interface VfioDeviceOps<D extends VfioCoreDevice = VfioCoreDevice> {
  readonly name: string;
  /** After allocation (vfio_alloc_device()). */
  init?(vdev: D): void;
  /** When the last reference goes (vfio_put_device()). */
  release?(vdev: D): void;
  /** Returns the iommufd device (or access) id. */
  bindIommufd?(vdev: D, ictx: IommufdCtx): number;
  unbindIommufd?(vdev: D): void;
  /** Attaches (or replaces) to `ptId`; returns the id actually attached (an IOAS or a HWPT). */
  attachIoas?(vdev: D, ptId: number): number;
  detachIoas?(vdev: D): void;
  pasidAttachIoas?(vdev: D, pasid: number, ptId: number): number;
  pasidDetachIoas?(vdev: D, pasid: number): void;
  /** First open of the device (under the device set's lock). */
  openDevice?(vdev: D): void;
  /** Last close. */
  closeDevice?(vdev: D): void;
  /** `pos` is the file offset: region index << 40 | offset in region. */
  read?(vdev: D, current: Task, va: number, count: number, pos: { value: number }): number;
  write?(vdev: D, current: Task, va: number, count: number, pos: { value: number }): number;
  /** Every device ioctl the core does not handle itself. No `ioctl` → EINVAL. */
  ioctl?(vdev: D, current: Task, cmd: number, arg: number): number;
  /** VFIO_DEVICE_GET_REGION_INFO: fill `info` (index given) and add capabilities to `caps`. */
  getRegionInfoCaps?(vdev: D, info: VfioRegionInfo, caps: VfioInfoCap): void;
  mmap?(vdev: D, current: Task, vma: Vma): void;
  /** The device is being unregistered while user space holds it: ask for it back. */
  request?(vdev: D, count: number): void;
  /** GET_DEVICE_FD name matching: 0 no match, > 0 match, < 0 an errno (negative) to abort. */
  match?(vdev: D, name: string): number;
  /** BIND_IOMMUFD's VF token (`match_token_uuid`): throws EACCES/EINVAL; null when absent. */
  matchTokenUuid?(vdev: D, uuid: Uint8Array | null): void;
  /** Pinned IOVA range going away (required for vfio_pin_pages()). */
  dmaUnmap?(vdev: D, iova: bigint, length: bigint): void;
  /** Feature ids the core does not handle (`device_feature`). */
  deviceFeature?(vdev: D, current: Task, flags: number, arg: number, argsz: number): number;
}

/** include/linux/vfio.h: struct vfio_device_set — devices sharing a reset/open lock. */
export class VfioDeviceSet {
  readonly devices = new Set<VfioCoreDevice>();
  constructor(readonly setId: unknown) {}
}

/**
 * include/linux/vfio.h: struct vfio_device — what a bus driver allocates (usually a subclass)
 * and registers with vfioRegisterGroupDev() / vfioRegisterEmulatedIommuDev().
 */
export class VfioCoreDevice {
  /** `index`: the N of vfioN (ida_alloc_max(0..MINORMASK), lowest free). */
  index = -1;
  /** The vfio-dev class device name: `vfioN`, or `noiommu-vfioN` for a no-IOMMU cdev. */
  name = "";
  devSet: VfioDeviceSet | null = null;
  group: VfioCoreGroup | null = null;
  /** `refcount`: registration users (1 while registered, + one per open device file). */
  refcount = 0;
  /** Opens through open_device() not yet balanced by close_device(). */
  openCount = 0;
  /** Completed when `refcount` drops to 0 (unregistration waits for it). */
  registrationDone = false;
  /** Set while registered with the vfio core (between add and del of the cdev). */
  registered = false;
  iommufdDevice: IommufdDevice | null = null;
  iommufdAccess: IommufdAccess<VfioCoreDevice> | null = null;
  iommufdAttached = false;
  /** PASIDs attached through pasid_attach_ioas (`pasids` ida). */
  readonly pasids = new Set<number>();
  /** A device cdev file is bound (`cdev_opened`). */
  cdevOpened = false;
  /** A no-IOMMU device exposed through the cdev (CONFIG_IOMMUFD_NOIOMMU). */
  noiommu = false;
  /** The cdev's devt (0 without CONFIG_VFIO_DEVICE_CDEV). */
  devt = 0;
  /** `/sys/devices/.../vfio-dev/<name>` once added. */
  classPath: string | null = null;
  /** `migration_flags`, `precopy_info_v2`: no driver of the model migrates; kept for FEATURE. */
  migrationFlags = 0;

  constructor(
    readonly kernel: Kernel,
    /** `dev`: the physical (or parent) device. */
    readonly dev: Device,
    readonly ops: VfioDeviceOps<never>,
  ) {}

  /**
   * The driver's operations as the core calls them. `ops` is typed for the driver's own device
   * class (a subclass), which the core only ever hands back to it.
   */
  get coreOps(): VfioDeviceOps<VfioCoreDevice> {
    return this.ops as VfioDeviceOps<VfioCoreDevice>;
  }

  /** The bus driver bound to `dev` (its module is pinned while the device is open). */
  get driver(): DeviceDriver | null {
    return this.dev.driver;
  }
}

/**
 * drivers/vfio/vfio.h: struct vfio_device_file — the private data of a device fd, from the
 * group (GET_DEVICE_FD) or from a cdev open.
 */
export class VfioDeviceFile {
  /** The group the fd came from (null for a cdev fd). */
  group: VfioCoreGroup | null = null;
  /** Device ioctls, read, write and mmap are allowed (after GET_DEVICE_FD or BIND). */
  accessGranted = false;
  /** The iommufd device id (valid with `iommufd`). */
  devid = 0;
  /** The iommufd context the device is bound through (cdev bind, or group with iommufd). */
  iommufd: IommufdCtx | null = null;
  /** The file this struct is the private data of. */
  file: File | null = null;

  constructor(readonly device: VfioCoreDevice) {}
}

/** drivers/vfio/vfio.h: struct vfio_group — `/dev/vfio/<N>` or `/dev/vfio/noiommu-<N>`. */
export class VfioCoreGroup {
  /** Bus drivers that registered devices of this group (`drivers`). */
  drivers = 1;
  /** Container users: 1 for the container itself, + one per open device in container mode. */
  containerUsers = 0;
  container: VfioCoreContainer | null = null;
  readonly devices: VfioCoreDevice[] = [];
  /** The group's open file (only one at a time). */
  openedFile: File | null = null;
  iommufd: IommufdCtx | null = null;
  /** Devices of the group bound through their cdev (blocks the group's open). */
  cdevDeviceOpenCnt = 0;
  /** The group char device's devt and class-device name (`N` or `noiommu-N`). */
  devt = 0;
  name = "";

  constructor(
    /** `iommu_group`: null once the last driver is gone. */
    public iommuGroup: IommuGroup | null,
    readonly type: VfioGroupType,
  ) {}
}

/**
 * drivers/vfio/vfio.h: struct vfio_iommu_driver_ops — a container backend (type1, noiommu).
 * `data` is the backend's per-container state, returned by `open`.
 */
export interface VfioIommuDriverOps<T = unknown> {
  readonly name: string;
  /** The module implementing it (pinned while a container uses it). */
  readonly owner?: { readonly name: string };
  /** SET_IOMMU(arg) and CHECK_EXTENSION with no data: `open(arg)` creates the state. */
  open(current: Task, arg: number): T;
  release(data: T): void;
  /** Container ioctls after SET_IOMMU; CHECK_EXTENSION is asked with data null before it. */
  ioctl(data: T | null, current: Task, cmd: number, arg: number): number;
  attachGroup(data: T, group: IommuGroup, type: VfioGroupType): void;
  detachGroup(data: T, group: IommuGroup): void;
  /** vfio_pin_pages() for an emulated device: returns the PFNs pinned (`struct page **`). */
  pinPages?(data: T, group: IommuGroup, iova: bigint, npage: number, prot: number): number[];
  unpinPages?(data: T, iova: bigint, npage: number): void;
  registerDevice?(data: T, vdev: VfioCoreDevice): void;
  unregisterDevice?(data: T, vdev: VfioCoreDevice): void;
  dmaRw?(data: T, current: Task, iova: bigint, buf: Uint8Array, write: boolean): void;
  groupIommuDomain?(data: T, group: IommuGroup): IommuDomain | null;
}

/** drivers/vfio/container.c: struct vfio_container — an open `/dev/vfio/vfio`. */
export class VfioCoreContainer {
  /** References: the container file plus one per attached group (`kref`). */
  refs = 1;
  readonly groups: VfioCoreGroup[] = [];
  iommuDriver: VfioIommuDriverOps | null = null;
  iommuData: unknown = null;
  /** The container holds no-IOMMU groups. */
  noiommu = false;
}
