/**
 * VFIO groups (drivers/vfio/group.c): `/dev/vfio/<N>` for an IOMMU group whose devices a bus
 * driver registered with VFIO, `/dev/vfio/noiommu-<N>` for a device without an IOMMU in unsafe
 * no-IOMMU mode, and the group file's protocol — GET_STATUS, SET_CONTAINER (a VFIO container
 * or an iommufd), UNSET_CONTAINER and GET_DEVICE_FD.
 *
 * A group is created by the first device of its IOMMU group that registers (`drivers` counts
 * the registrations) and removed with the last. It is a char device of class "vfio" named by
 * the IOMMU group's id (`/sys/class/vfio/<name>`, node `vfio/<name>` mode 0600, minor from the
 * group IDA in the "vfio" region). No-IOMMU and emulated-IOMMU devices get a fake IOMMU group
 * of their own named "vfio-noiommu"; a no-IOMMU one taints the kernel.
 *
 * The group file can be open once at a time, and not while a device of the group is bound
 * through its cdev (and the other way round: vfio_device_block_group()). Its state:
 *
 *   unset       no container, no iommufd   GET_DEVICE_FD EINVAL
 *   container   SET_CONTAINER(container)   DMA ownership claimed at SET_CONTAINER; device fds
 *                                          pin the group file and block UNSET (EBUSY)
 *   iommufd     SET_CONTAINER(iommufd)     ownership claimed by iommufd at GET_DEVICE_FD
 *
 * Every entry point behaves as drivers/vfio/vfio.h's stubs when CONFIG_VFIO_GROUP is off.
 *
 * Caveat:
 * - The group, device and vfio locks are not modelled: syscalls run one at a time.
 * - KVM is not modelled: no `kvm` reference is taken at the first open (vfio_group_set_kvm()).
 * - The device file's `f_mapping` (the device inode's shared address space, for
 *   unmap_mapping_range()) is not modelled.
 * - fput() releases at once where Linux defers to task work: a group file whose last reference
 *   is an open device's goes in the middle of that device's close, not after it.
 * - vfio_file_iommu_group() answers for the sPAPR TCE IOMMU only, which arm64 does not have: it
 *   always returns null.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  type IommufdCtx,
  iommufdOf,
  iommufdVfioCompatIoasCreate,
  iommufdVfioCompatSetNoIommu,
} from "@vfio-lab/iommufd";
import {
  Cdev,
  copyFromUser,
  copyToUser,
  DeviceClass,
  type File,
  type FileOperations,
  FMODE_PREAD,
  FMODE_PWRITE,
  getUser,
  type Inode,
  IOMMU_CAP_ENFORCE_CACHE_COHERENCY,
  type IommuGroup,
  MAJOR,
  MINORMASK,
  MKDEV,
  O_CLOEXEC,
  O_RDWR,
  SysError,
  s32,
  strncpyFromUser,
  TAINT_USER,
  type Task,
} from "@vfio-lab/kernel";
import {
  VFIO_GROUP_FLAGS_CONTAINER_SET,
  VFIO_GROUP_FLAGS_VIABLE,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  vfio_group_status,
} from "@vfio-lab/kernel/uapi";
import {
  vfioContainerAttachGroup,
  vfioContainerCleanup,
  vfioContainerFromFile,
  vfioContainerInit,
  vfioDeviceContainerRegister,
  vfioDeviceContainerUnregister,
  vfioGroupDetachContainer,
  vfioGroupUnuseContainer,
  vfioGroupUseContainer,
} from "./container.js";
import { vfioIommufdCompatAttachIoas, vfioIommufdDeviceHasCompatIoas } from "./iommufd.js";
import {
  VFIO_EMULATED_IOMMU,
  VFIO_IOMMU,
  VFIO_NO_IOMMU,
  type VfioCoreDevice,
  VfioCoreGroup,
  type VfioDeviceFile,
  type VfioGroupType,
} from "./vfio.js";
import {
  type Vfio,
  vfioAllocateDeviceFile,
  vfioDeviceIsNoiommu,
  vfioDevicePutRegistration,
  vfioDeviceTryGetRegistration,
  vfioDfClose,
  vfioDfOpen,
  vfioOf,
} from "./vfio-main.js";
import { vfioModule } from "./vfio-modules.js";

const GROUP_C = "drivers/vfio/group.c";

/** offsetofend(struct vfio_group_status, flags) */
const GROUP_STATUS_MINSZ = vfio_group_status.offsetofend("flags");

/**
 * What struct vfio_group embeds beside the fields vfio.ts shares: the module it belongs to, its
 * cdev, and the reference count of its `struct device` — one for the group itself, one per open
 * group file (the cdev pins its parent device), so that the minor is freed only when both the
 * last device and the last open file are gone.
 */
interface GroupDev {
  readonly vfio: Vfio;
  readonly cdev: Cdev;
  readonly minor: number;
  refs: number;
}

const groupDevs = new WeakMap<VfioCoreGroup, GroupDev>();
/** Every `vfio_group_fops`, so that a file can be recognised as a group (`f_op` test). */
const groupFops = new WeakSet<FileOperations>();
const groupFopsOf = new WeakMap<Vfio, FileOperations>();

function groupDevOf(group: VfioCoreGroup): GroupDev {
  const gd = groupDevs.get(group);
  if (!gd) throw new Error(`vfio: group ${group.name} was not made by vfio_create_group()`);
  return gd;
}

/** capable(CAP_SYS_RAWIO) */
function capableRawio(current: Task): boolean {
  return current.capable("CAP_SYS_RAWIO");
}

/** group.c: vfio_group_release() — the last reference on the group's device. */
function vfioGroupPutDev(group: VfioCoreGroup): void {
  const gd = groupDevOf(group);
  if (--gd.refs > 0) return;
  const bug = gd.vfio.kernel.irq.bug;
  if (group.iommuGroup) bug.warnOn({ file: GROUP_C, line: 510, fn: "vfio_group_release" });
  if (group.cdevDeviceOpenCnt) bug.warnOn({ file: GROUP_C, line: 511, fn: "vfio_group_release" });
  gd.vfio.groupIda.free(gd.minor);
}

// ---------------------------------------------------------------------------------------------
// The group file

/**
 * group.c: vfio_group_has_iommu() — a container or an iommufd is set. There are container users
 * exactly when there is a container (WARN otherwise).
 */
function vfioGroupHasIommu(group: VfioCoreGroup): boolean {
  if (!group.container !== !group.containerUsers) {
    groupDevOf(group).vfio.kernel.irq.bug.warnOn({
      file: GROUP_C,
      line: 70,
      fn: "vfio_group_has_iommu",
    });
  }
  return group.container !== null || group.iommufd !== null;
}

/**
 * group.c: vfio_group_ioctl_unset_container() — EINVAL with neither set, EBUSY while devices
 * opened through the container are open; an iommufd is just let go.
 */
function vfioGroupIoctlUnsetContainer(group: VfioCoreGroup): number {
  const fn = "vfio_group_ioctl_unset_container";
  if (!vfioGroupHasIommu(group)) throw new SysError("EINVAL", fn, "no container set");
  if (group.container) {
    if (group.containerUsers !== 1) {
      throw new SysError("EBUSY", fn, `${group.containerUsers - 1} device(s) open`);
    }
    vfioGroupDetachContainer(group);
  }
  if (group.iommufd) {
    group.iommufd.put();
    group.iommufd = null;
  }
  return 0;
}

/**
 * group.c: vfio_group_ioctl_set_container() — `*arg` is a container fd or an iommufd: EFAULT,
 * EBADF for no such fd, EINVAL when one is already set, ENODEV once the group lost its IOMMU
 * group, EBADFD for any other file. A container takes the group (container.ts); an iommufd
 * gets a compat IOAS, or no-IOMMU mode for a no-IOMMU group.
 */
function vfioGroupIoctlSetContainer(
  vfio: Vfio,
  group: VfioCoreGroup,
  current: Task,
  arg: number,
): number {
  const fn = "vfio_group_ioctl_set_container";
  const kernel = vfio.kernel;
  const fd = getUser(current.mm, s32, arg, fn);
  const file = current.fget(fd);
  if (!file) throw new SysError("EBADF", fn, `fd ${fd}`);
  try {
    if (vfioGroupHasIommu(group)) throw new SysError("EINVAL", fn, "a container is already set");
    if (!group.iommuGroup) throw new SysError("ENODEV", fn, "the group is being removed");
    const container = vfioContainerFromFile(file);
    if (container) {
      vfioContainerAttachGroup(container, group, current);
      return 0;
    }
    let ictx: IommufdCtx;
    try {
      ictx = iommufdOf(kernel).ctxFromFile(file);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      throw new SysError("EBADFD", fn, "neither a VFIO container nor an iommufd");
    }
    try {
      if (kernel.config.CONFIG_VFIO_NOIOMMU && group.type === VFIO_NO_IOMMU) {
        iommufdVfioCompatSetNoIommu(ictx);
      } else {
        iommufdVfioCompatIoasCreate(ictx);
      }
    } catch (e) {
      ictx.put();
      throw e;
    }
    group.iommufd = ictx;
    return 0;
  } finally {
    kernel.vfs.fput(file);
  }
}

/**
 * group.c: vfio_df_group_open() — EINVAL before SET_CONTAINER; with an iommufd, the first open
 * of a no-IOMMU device needs CAP_SYS_RAWIO and no compat IOAS (EPERM); then vfio_df_open()
 * (the container's or iommufd's errors) and, on the first open with an iommufd, the attach to
 * the compat IOAS. Grants the file access.
 */
function vfioDfGroupOpen(df: VfioDeviceFile, current: Task): void {
  const fn = "vfio_df_group_open";
  const device = df.device;
  const group = device.group!;
  if (!vfioGroupHasIommu(group)) throw new SysError("EINVAL", fn, "no container set");
  df.iommufd = group.iommufd;
  if (df.iommufd && vfioDeviceIsNoiommu(device) && device.openCount === 0) {
    // Translation was asked for (a compat IOAS), or the caller may not drive DMA unchecked.
    if (!capableRawio(current) || vfioIommufdDeviceHasCompatIoas(device, df.iommufd)) {
      df.iommufd = null;
      throw new SysError("EPERM", fn, "no-IOMMU device with a compat IOAS or without RAWIO");
    }
  }
  try {
    vfioDfOpen(df);
  } catch (e) {
    df.iommufd = null;
    throw e;
  }
  if (df.iommufd && device.openCount === 1) {
    try {
      vfioIommufdCompatAttachIoas(device, df.iommufd);
    } catch (e) {
      vfioDfClose(df);
      df.iommufd = null;
      throw e;
    }
  }
  df.accessGranted = true;
}

/** group.c: vfio_df_group_close() — the device file of a group is released. */
export function vfioDfGroupClose(df: VfioDeviceFile): void {
  if (!df.device.kernel.config.CONFIG_VFIO_GROUP) return;
  vfioDfClose(df);
  df.iommufd = null;
}

/**
 * group.c: vfio_device_open_file() — a device file (anon inode "[vfio-device]", O_RDWR, pread
 * and pwrite allowed) opened through the group; a no-IOMMU device says who opened it.
 */
function vfioDeviceOpenFile(vfio: Vfio, device: VfioCoreDevice, current: Task): File {
  const df = vfioAllocateDeviceFile(device);
  df.group = device.group;
  vfioDfGroupOpen(df, current);
  let filep: File;
  try {
    filep = vfio.kernel.vfs.anonInodeGetfileFmode(
      "[vfio-device]",
      vfio.deviceFops,
      df,
      O_RDWR,
      FMODE_PREAD | FMODE_PWRITE,
    );
  } catch (e) {
    vfioDfGroupClose(df);
    throw e;
  }
  df.file = filep;
  if (device.group!.type === VFIO_NO_IOMMU) {
    device.dev.log.warn(`vfio-noiommu device opened by user (${current.comm}:${current.pid})`);
  }
  return filep;
}

/**
 * group.c: vfio_device_get_from_name() — the first device of the group (newest registered
 * first) that the driver's `match` accepts, or whose dev_name() is `name`, with a registration
 * reference; ENODEV when none, the driver's errno when `match` refuses outright.
 */
function vfioDeviceGetFromName(group: VfioCoreGroup, name: string): VfioCoreDevice {
  const fn = "vfio_device_get_from_name";
  for (const it of group.devices) {
    const ops = it.coreOps;
    let ret: number;
    if (ops.match) {
      ret = ops.match(it, name);
      if (ret < 0) throw SysError.fromNegative(ret, fn, `${ops.name} refused "${name}"`);
    } else {
      ret = it.dev.name === name ? 1 : 0;
    }
    if (ret && vfioDeviceTryGetRegistration(it)) return it;
  }
  throw new SysError("ENODEV", fn, `no device "${name}" in group ${group.name}`);
}

/**
 * mm/util.c: strndup_user() — the NUL-terminated string at `va`, at most `n` bytes with the
 * NUL: EFAULT for an unreadable one, EINVAL for one longer than that.
 */
function strndupUser(current: Task, va: number, n: number): string {
  const fn = "strndup_user";
  try {
    return strncpyFromUser(current.mm, va, n, fn);
  } catch (e) {
    if (SysError.isInstance(e) && e.code === "ENAMETOOLONG") {
      throw new SysError("EINVAL", fn, `no NUL within ${n} bytes`);
    }
    throw e;
  }
}

/**
 * group.c: vfio_group_ioctl_get_device_fd() — the device named by the string at `arg`, opened
 * into a new O_CLOEXEC descriptor (reserved first: EMFILE before anything is opened).
 */
function vfioGroupIoctlGetDeviceFd(
  vfio: Vfio,
  group: VfioCoreGroup,
  current: Task,
  arg: number,
): number {
  const name = strndupUser(current, arg, PAGE_SIZE);
  const device = vfioDeviceGetFromName(group, name);
  let fd: number;
  let filep: File;
  try {
    fd = current.getUnusedFdFlags(O_CLOEXEC);
    try {
      filep = vfioDeviceOpenFile(vfio, device, current);
    } catch (e) {
      current.putUnusedFd(fd);
      throw e;
    }
  } catch (e) {
    vfioDevicePutRegistration(device);
    throw e;
  }
  // The registration reference now belongs to the file (vfio_device_fops_release() puts it).
  current.fdInstallReserved(fd, filep);
  return fd;
}

/**
 * group.c: vfio_group_ioctl_get_status() — EINVAL for argsz below 8, ENODEV once the group lost
 * its IOMMU group. VIABLE|CONTAINER_SET with a container or iommufd, else VIABLE while no
 * kernel driver (nor anyone else) owns the IOMMU group's DMA.
 */
function vfioGroupIoctlGetStatus(group: VfioCoreGroup, current: Task, arg: number): number {
  const fn = "vfio_group_ioctl_get_status";
  const status = vfio_group_status.decode(copyFromUser(current.mm, arg, GROUP_STATUS_MINSZ, fn));
  if (status.argsz < GROUP_STATUS_MINSZ) throw new SysError("EINVAL", fn, `argsz ${status.argsz}`);
  status.flags = 0;
  if (!group.iommuGroup) throw new SysError("ENODEV", fn, "the group is being removed");
  // With an iommufd the group is only claimed at GET_DEVICE_FD: VIABLE may still fail there.
  if (vfioGroupHasIommu(group)) {
    status.flags |= VFIO_GROUP_FLAGS_CONTAINER_SET | VFIO_GROUP_FLAGS_VIABLE;
  } else if (!groupDevOf(group).vfio.kernel.iommu.iommuGroupDmaOwnerClaimed(group.iommuGroup)) {
    status.flags |= VFIO_GROUP_FLAGS_VIABLE;
  }
  copyToUser(current.mm, arg, vfio_group_status.encode(status).subarray(0, GROUP_STATUS_MINSZ), fn);
  return 0;
}

/** group.c: vfio_group_fops_unl_ioctl() — ENOTTY for anything else. */
function vfioGroupFopsUnlIoctl(
  vfio: Vfio,
  file: File,
  current: Task,
  cmd: number,
  arg: number,
): number {
  const group = file.privateData as VfioCoreGroup;
  switch (cmd >>> 0) {
    case VFIO_GROUP_GET_DEVICE_FD:
      return vfioGroupIoctlGetDeviceFd(vfio, group, current, arg);
    case VFIO_GROUP_GET_STATUS:
      return vfioGroupIoctlGetStatus(group, current, arg);
    case VFIO_GROUP_SET_CONTAINER:
      return vfioGroupIoctlSetContainer(vfio, group, current, arg);
    case VFIO_GROUP_UNSET_CONTAINER:
      return vfioGroupIoctlUnsetContainer(group);
    default:
      throw new SysError(
        "ENOTTY",
        "vfio_group_fops_unl_ioctl",
        `cmd 0x${(cmd >>> 0).toString(16)}`,
      );
  }
}

/**
 * group.c: vfio_device_block_group() — a device's cdev is being bound: EBUSY while the group
 * file is open; else the group file cannot be opened until vfio_device_unblock_group().
 */
export function vfioDeviceBlockGroup(device: VfioCoreDevice): void {
  if (!device.kernel.config.CONFIG_VFIO_GROUP) return;
  const group = device.group!;
  if (group.openedFile) {
    throw new SysError("EBUSY", "vfio_device_block_group", `group ${group.name} is open`);
  }
  group.cdevDeviceOpenCnt++;
}

/** group.c: vfio_device_unblock_group() */
export function vfioDeviceUnblockGroup(device: VfioCoreDevice): void {
  if (!device.kernel.config.CONFIG_VFIO_GROUP) return;
  device.group!.cdevDeviceOpenCnt--;
}

/**
 * group.c: vfio_group_fops_open() — ENODEV for a group being removed, EPERM for a no-IOMMU
 * group without CAP_SYS_RAWIO, EBUSY while a device of the group is bound through its cdev and
 * EBUSY when the group is already open (one file at a time).
 */
function vfioGroupFopsOpen(vfio: Vfio, inode: Inode, file: File, current: Task): void {
  const fn = "vfio_group_fops_open";
  const group = vfio.kernel.vfs.chrdev.inodeCdev(inode)?.driverData as VfioCoreGroup;
  if (group.drivers === 0) throw new SysError("ENODEV", fn, `group ${group.name} is going away`);
  if (group.type === VFIO_NO_IOMMU && !capableRawio(current)) {
    throw new SysError("EPERM", fn, "no-IOMMU group needs CAP_SYS_RAWIO");
  }
  if (group.cdevDeviceOpenCnt) {
    throw new SysError("EBUSY", fn, "a device of the group is bound through its cdev");
  }
  if (group.openedFile) throw new SysError("EBUSY", fn, `group ${group.name} is already open`);
  group.openedFile = file;
  file.privateData = group;
  groupDevOf(group).refs++;
}

/**
 * group.c: vfio_group_fops_release() — device files hold the group file, so this runs with no
 * device open: the container is left (the last group out releases the backend) and the
 * iommufd let go.
 */
function vfioGroupFopsRelease(file: File): void {
  const group = file.privateData as VfioCoreGroup;
  file.privateData = null;
  if (group.container) vfioGroupDetachContainer(group);
  if (group.iommufd) {
    group.iommufd.put();
    group.iommufd = null;
  }
  group.openedFile = null;
  vfioGroupPutDev(group);
}

/** group.c: vfio_group_fops */
function vfioGroupFops(vfio: Vfio): FileOperations {
  const fops: FileOperations = {
    owner: vfioModule,
    open: (inode, file, current) => vfioGroupFopsOpen(vfio, inode, file, current),
    release: (_inode, file) => vfioGroupFopsRelease(file),
    unlockedIoctl: (file, current, cmd, arg) =>
      vfioGroupFopsUnlIoctl(vfio, file, current, cmd, arg),
  };
  groupFops.add(fops);
  return fops;
}

// ---------------------------------------------------------------------------------------------
// Group objects

/**
 * group.c: vfio_group_alloc() + vfio_create_group() — the group of `iommuGroup` (holding a
 * reference on it) with its minor, its cdev and its class device `<N>` or `noiommu-<N>`.
 */
function vfioCreateGroup(vfio: Vfio, iommuGroup: IommuGroup, type: VfioGroupType): VfioCoreGroup {
  const kernel = vfio.kernel;
  if (kernel.allocator.shouldFail("kzalloc")) throw new SysError("ENOMEM", "vfio_group_alloc");
  const minor = vfio.groupIda.alloc(0, MINORMASK, "ida_alloc_max");
  const group = new VfioCoreGroup(iommuGroup, type);
  group.devt = MKDEV(MAJOR(vfio.groupDevt), minor);
  kernel.iommu.iommuGroupRefGet(iommuGroup);
  const cdev = new Cdev(groupFopsOf.get(vfio)!, group);
  groupDevs.set(group, { vfio, cdev, minor, refs: 1 });
  group.name = `${type === VFIO_NO_IOMMU ? "noiommu-" : ""}${iommuGroup.iommuGroupId()}`;
  const chrdev = kernel.vfs.chrdev;
  try {
    // cdev_device_add(): the cdev first, the device (and its node) after.
    chrdev.cdevAdd(cdev, group.devt, 1);
    try {
      vfio.groupClass!.deviceCreate({
        name: group.name,
        devt: group.devt,
        nodename: `vfio/${group.name}`,
      });
    } catch (e) {
      chrdev.cdevDel(cdev);
      throw e;
    }
  } catch (e) {
    // put_device(): vfio_group_release() WARNs that the IOMMU group is still set, and its
    // reference is never given back — as in Linux.
    vfioGroupPutDev(group);
    throw e;
  }
  vfio.groupList.unshift(group);
  return group;
}

/**
 * group.c: vfio_noiommu_group_alloc() — a fake IOMMU group named "vfio-noiommu" holding just
 * `device` ("Adding to iommu group N"), and its VFIO group.
 */
function vfioNoiommuGroupAlloc(
  vfio: Vfio,
  device: VfioCoreDevice,
  type: VfioGroupType,
): VfioCoreGroup {
  const iommu = vfio.kernel.iommu;
  const iommuGroup = iommu.iommuGroupAlloc();
  try {
    iommu.iommuGroupSetName(iommuGroup, "vfio-noiommu");
    iommu.iommuGroupAddDevice(iommuGroup, device.dev);
    try {
      return vfioCreateGroup(vfio, iommuGroup, type);
    } catch (e) {
      iommu.iommuGroupRemoveDevice(device.dev);
      throw e;
    }
  } finally {
    iommu.iommuGroupPut(iommuGroup);
  }
}

/**
 * group.c: vfio_group_find_or_alloc() — the group of the device's IOMMU group (one more
 * driver), or a new one; without an IOMMU group a no-IOMMU group (tainting) when
 * `enable_unsafe_noiommu_mode` is on, else EINVAL.
 */
function vfioGroupFindOrAlloc(vfio: Vfio, device: VfioCoreDevice): VfioCoreGroup {
  const fn = "vfio_group_find_or_alloc";
  const kernel = vfio.kernel;
  const iommuGroup = kernel.iommu.iommuGroupGet(device.dev);
  if (!iommuGroup && vfio.noiommu) {
    // No IOMMU will check this device's DMA: the user is trusted with the whole machine.
    const group = vfioNoiommuGroupAlloc(vfio, device, VFIO_NO_IOMMU);
    kernel.taint.add(TAINT_USER);
    device.dev.log.warn("Adding kernel taint for vfio-noiommu group on device");
    return group;
  }
  if (!iommuGroup) throw new SysError("EINVAL", fn, `${device.dev.name} has no IOMMU group`);
  try {
    const group = vfio.groupList.find((g) => g.iommuGroup === iommuGroup);
    if (!group) return vfioCreateGroup(vfio, iommuGroup, VFIO_IOMMU);
    if (group.devices.some((d) => d.dev === device.dev)) {
      kernel.irq.bug.warnOn({ file: GROUP_C, line: 665, fn });
      throw new SysError("EINVAL", fn, `${device.dev.name} is already in group ${group.name}`);
    }
    group.drivers++;
    return group;
  } finally {
    kernel.iommu.iommuGroupPut(iommuGroup);
  }
}

/**
 * group.c: vfio_device_set_group() — a physical device's group (vfio_register_group_dev()), or
 * a private fake one for an emulated-IOMMU device. A no-op without CONFIG_VFIO_GROUP.
 */
export function vfioDeviceSetGroup(device: VfioCoreDevice, type: VfioGroupType): void {
  if (!device.kernel.config.CONFIG_VFIO_GROUP) return;
  const vfio = vfioOf(device.kernel);
  device.group =
    type === VFIO_IOMMU
      ? vfioGroupFindOrAlloc(vfio, device)
      : vfioNoiommuGroupAlloc(vfio, device, type);
}

/**
 * group.c: vfio_device_remove_group() — the device leaves a fake IOMMU group ("Removing from
 * iommu group N"); the last driver removes the group: its node goes, its container is left,
 * and its IOMMU group is let go. An open group file keeps the minor until it is closed.
 */
export function vfioDeviceRemoveGroup(device: VfioCoreDevice): void {
  const kernel = device.kernel;
  if (!kernel.config.CONFIG_VFIO_GROUP) return;
  const group = device.group!;
  const gd = groupDevOf(group);
  const vfio = gd.vfio;
  if (group.type === VFIO_NO_IOMMU || group.type === VFIO_EMULATED_IOMMU) {
    kernel.iommu.iommuGroupRemoveDevice(device.dev);
  }
  if (--group.drivers > 0) return;
  vfio.groupList.splice(vfio.groupList.indexOf(group), 1);
  // cdev_device_del(): no new open can find the group.
  vfio.groupClass!.deviceDestroy(group.name);
  kernel.vfs.chrdev.cdevDel(gd.cdev);
  if (group.devices.length !== 0) {
    kernel.irq.bug.warnOn({ file: GROUP_C, line: 725, fn: "vfio_device_remove_group" });
  }
  if (group.container) vfioGroupDetachContainer(group);
  const iommuGroup = group.iommuGroup;
  // From here on GET_STATUS and SET_CONTAINER on a still-open group file are ENODEV.
  group.iommuGroup = null;
  kernel.iommu.iommuGroupPut(iommuGroup);
  vfioGroupPutDev(group);
}

/** group.c: vfio_device_group_register() — GET_DEVICE_FD can find the device (newest first). */
export function vfioDeviceGroupRegister(device: VfioCoreDevice): void {
  if (!device.kernel.config.CONFIG_VFIO_GROUP) return;
  device.group!.devices.unshift(device);
}

/** group.c: vfio_device_group_unregister() */
export function vfioDeviceGroupUnregister(device: VfioCoreDevice): void {
  if (!device.kernel.config.CONFIG_VFIO_GROUP) return;
  const devices = device.group!.devices;
  const at = devices.indexOf(device);
  if (at >= 0) devices.splice(at, 1);
}

/**
 * group.c: vfio_device_group_use_iommu() — the first open of a device through a container:
 * vfio_group_use_container()'s errors, then the backend learns of the device. EOPNOTSUPP
 * without CONFIG_VFIO_GROUP.
 */
export function vfioDeviceGroupUseIommu(device: VfioCoreDevice): void {
  const fn = "vfio_device_group_use_iommu";
  if (!device.kernel.config.CONFIG_VFIO_GROUP) throw new SysError("EOPNOTSUPP", fn);
  const group = device.group!;
  if (!group.container) {
    device.kernel.irq.bug.warnOn({ file: GROUP_C, line: 764, fn });
    throw new SysError("EINVAL", fn, "no container");
  }
  vfioGroupUseContainer(group);
  vfioDeviceContainerRegister(device);
}

/** group.c: vfio_device_group_unuse_iommu() — the last close of a device opened that way. */
export function vfioDeviceGroupUnuseIommu(device: VfioCoreDevice): void {
  if (!device.kernel.config.CONFIG_VFIO_GROUP) return;
  const group = device.group!;
  if (!group.container) {
    device.kernel.irq.bug.warnOn({
      file: GROUP_C,
      line: 780,
      fn: "vfio_device_group_unuse_iommu",
    });
    return;
  }
  vfioDeviceContainerUnregister(device);
  vfioGroupUnuseContainer(group);
}

/** group.c: vfio_device_has_container() — false without CONFIG_VFIO_GROUP. */
export function vfioDeviceHasContainer(device: VfioCoreDevice): boolean {
  if (!device.kernel.config.CONFIG_VFIO_GROUP) return false;
  return device.group?.container != null;
}

/** group.c: vfio_group_from_file() — the group behind an open group file, else null. */
export function vfioGroupFromFile(file: File): VfioCoreGroup | null {
  if (!groupFops.has(file.fOp)) return null;
  return file.privateData as VfioCoreGroup | null;
}

/**
 * group.c: vfio_file_iommu_group() — only for KVM's sPAPR TCE code; arm64 has no
 * CONFIG_SPAPR_TCE_IOMMU, so the answer is always null.
 */
export function vfioFileIommuGroup(_file: File): IommuGroup | null {
  return null;
}

/** group.c: vfio_file_is_group() — false without CONFIG_VFIO_GROUP (include/linux/vfio.h). */
export function vfioFileIsGroup(file: File): boolean {
  return vfioGroupFromFile(file) !== null;
}

/**
 * group.c: vfio_group_enforced_coherent() — every device of the group can have the IOMMU
 * enforce cache coherency (true without CONFIG_VFIO_GROUP, where there are no groups).
 */
export function vfioGroupEnforcedCoherent(group: VfioCoreGroup): boolean {
  return group.devices.every((device) =>
    device.kernel.iommu.deviceIommuCapable(device.dev, IOMMU_CAP_ENFORCE_CACHE_COHERENCY),
  );
}

/** group.c: vfio_file_has_dev() — the file is the group of `device` (false without groups). */
export function vfioFileHasDev(file: File, device: VfioCoreDevice): boolean {
  if (!device.kernel.config.CONFIG_VFIO_GROUP) return false;
  const group = vfioGroupFromFile(file);
  return group !== null && group === device.group;
}

// ---------------------------------------------------------------------------------------------
// Module init and exit

/**
 * group.c: vfio_group_init() — the container first (container.ts), then class "vfio" and the
 * "vfio" char-device region of MINORMASK + 1 minors; nothing without CONFIG_VFIO_GROUP.
 */
export function vfioGroupInit(vfio: Vfio): void {
  const kernel = vfio.kernel;
  if (!kernel.config.CONFIG_VFIO_GROUP) return;
  vfioContainerInit(vfio);
  try {
    const cls = new DeviceClass("vfio", kernel.vfs.sysfs, kernel.vfs.devtmpfs);
    cls.register();
    try {
      vfio.groupDevt = kernel.vfs.chrdev.allocChrdevRegion(0, MINORMASK + 1, "vfio");
    } catch (e) {
      cls.unregister();
      throw e;
    }
    vfio.groupClass = cls;
  } catch (e) {
    vfioContainerCleanup(vfio);
    throw e;
  }
  groupFopsOf.set(vfio, vfioGroupFops(vfio));
}

/** group.c: vfio_group_cleanup() — WARNs if a group is left. */
export function vfioGroupCleanup(vfio: Vfio): void {
  const kernel = vfio.kernel;
  if (!kernel.config.CONFIG_VFIO_GROUP) return;
  if (vfio.groupList.length !== 0) {
    kernel.irq.bug.warnOn({ file: GROUP_C, line: 924, fn: "vfio_group_cleanup" });
  }
  kernel.vfs.chrdev.unregisterChrdevRegion(vfio.groupDevt, MINORMASK + 1);
  vfio.groupClass?.unregister();
  vfio.groupClass = null;
  vfioContainerCleanup(vfio);
}
