/**
 * The VFIO device cdev (drivers/vfio/device_cdev.c, and the inline vfio_device_add() /
 * vfio_device_del() of drivers/vfio/vfio.h): `/dev/vfio/devices/vfioN`, a char device per
 * registered VFIO device, which user space opens directly instead of going through a group and
 * a container.
 *
 * The life of a cdev file:
 *
 *   open      nothing granted: every ioctl but BIND_IOMMUFD, and read/write/mmap, are EINVAL.
 *   bind      VFIO_DEVICE_BIND_IOMMUFD: the group is blocked (its open is EBUSY from now on),
 *             the device is bound to the iommufd and opened (open_device()); `out_devid` is the
 *             iommufd id user space names the device by. DMA stays blocked: nothing attached.
 *   attach    VFIO_DEVICE_ATTACH_IOMMUFD_PT to an IOAS or HWPT (again: replace), per PASID
 *             with VFIO_DEVICE_ATTACH_PASID; `pt_id` is written back with what was attached.
 *   detach    VFIO_DEVICE_DETACH_IOMMUFD_PT: back to blocked DMA; never fails once parsed.
 *   close     unbind: close_device(), unbind (which detaches), the group unblocked.
 *
 * One bind per device at a time (a second cdev file's bind is EINVAL: the device is open), and
 * never while the group file is open (EBUSY), nor on a device fd that came from the group
 * (EINVAL).
 *
 * Without CONFIG_VFIO_DEVICE_CDEV the class device `vfioN` still appears under its parent, but
 * with no `dev` and no node, and BIND_IOMMUFD is ENOTTY. A no-IOMMU device gets a cdev
 * (`noiommu-vfioN`, CAP_SYS_RAWIO to open) only with CONFIG_IOMMUFD_NOIOMMU.
 *
 * Caveat:
 * - KVM is not modelled: the bind takes no KVM reference (vfio_df_get_kvm_safe()).
 * - `dev_set->lock` is not modelled: syscalls run one at a time.
 * - `filep->f_mapping` (so that unmap_mapping_range() finds every mmap of the device) is not
 *   set: the model's bus drivers zap their mappings themselves.
 */

import { iommufdOf } from "@vfio-lab/iommufd";
import {
  Cdev,
  copyFromUser,
  copyStructFromUser,
  type File,
  getUser,
  MAJOR,
  MINORMASK,
  MKDEV,
  putUser,
  SysError,
  type Task,
  u32,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_FLAG_TOKEN,
  VFIO_DEVICE_DETACH_PASID,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_device_detach_iommufd_pt,
} from "@vfio-lab/kernel/uapi";
import { vfioDeviceBlockGroup, vfioDeviceUnblockGroup } from "./group.js";
import type { VfioCoreDevice, VfioDeviceFile } from "./vfio.js";
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

/** `device->cdev` of each registered device that has one. */
const cdevs = new WeakMap<VfioCoreDevice, Cdev>();

/** device_cdev.c: vfio_cdev_init() — the vfio-dev char-device region, one minor per index. */
export function vfioCdevInit(vfio: Vfio): void {
  if (!vfio.kernel.config.CONFIG_VFIO_DEVICE_CDEV) return;
  vfio.deviceDevt = vfio.kernel.vfs.chrdev.allocChrdevRegion(0, MINORMASK + 1, "vfio-dev");
}

/** device_cdev.c: vfio_cdev_cleanup() */
export function vfioCdevCleanup(vfio: Vfio): void {
  if (!vfio.kernel.config.CONFIG_VFIO_DEVICE_CDEV) return;
  vfio.kernel.vfs.chrdev.unregisterChrdevRegion(vfio.deviceDevt, MINORMASK + 1);
}

/**
 * device_cdev.c: vfio_init_device_cdev() — the devt MKDEV(major, index) and a cdev serving
 * the device fops; none for a no-IOMMU device unless iommufd can bind it.
 */
function vfioInitDeviceCdev(vfio: Vfio, device: VfioCoreDevice): Cdev | null {
  if (vfioDeviceIsNoiommu(device) && !vfio.kernel.config.CONFIG_IOMMUFD_NOIOMMU) return null;
  device.devt = MKDEV(MAJOR(vfio.deviceDevt), device.index);
  return new Cdev(vfio.deviceFops, device);
}

/**
 * vfio.h: vfio_device_add() — with CONFIG_VFIO_DEVICE_CDEV, cdev_device_add(): the cdev (if
 * the device has a devt) and then the class device `vfio-dev/<name>` under the parent device,
 * with the node `/dev/vfio/devices/<name>` (vfio_device_devnode(); no mode: 0600). Without
 * it, device_add() of a class device with no devt.
 */
export function vfioDeviceAdd(device: VfioCoreDevice): void {
  const vfio = vfioOf(device.kernel);
  const chrdev = vfio.kernel.vfs.chrdev;
  const cdev = vfio.kernel.config.CONFIG_VFIO_DEVICE_CDEV ? vfioInitDeviceCdev(vfio, device) : null;
  if (cdev) chrdev.cdevAdd(cdev, device.devt, 1);
  try {
    device.classPath = vfio.deviceClass.deviceCreate({
      name: device.name,
      devt: cdev ? device.devt : 0,
      nodename: `vfio/devices/${device.name}`,
      parentPath: device.dev.kobjPath,
    });
  } catch (e) {
    if (cdev) chrdev.cdevDel(cdev);
    throw e;
  }
  if (cdev) cdevs.set(device, cdev);
}

/**
 * vfio.h: vfio_device_del() — cdev_device_del(): the class device and its node go, then the
 * cdev, so no new open reaches the device; files already open keep working.
 */
export function vfioDeviceDel(device: VfioCoreDevice): void {
  const vfio = vfioOf(device.kernel);
  vfio.deviceClass.deviceDestroy(device.name);
  device.classPath = null;
  const cdev = cdevs.get(device);
  if (cdev) {
    vfio.kernel.vfs.chrdev.cdevDel(cdev);
    cdevs.delete(device);
  }
}

/**
 * device_cdev.c: vfio_device_fops_cdev_open() — the device behind the opened cdev, held
 * (ENODEV once unregistration began) until the file is released; a no-IOMMU device needs
 * CAP_SYS_RAWIO (EPERM). The file grants no access until BIND_IOMMUFD.
 */
export function vfioDeviceFopsCdevOpen(vfio: Vfio, file: File, current: Task): void {
  const fn = "vfio_device_fops_cdev_open";
  const device = vfio.kernel.vfs.chrdev.inodeCdev(file.inode)?.driverData as VfioCoreDevice;
  if (!vfioDeviceTryGetRegistration(device)) {
    throw new SysError("ENODEV", fn, `${device.name} is being unregistered`);
  }
  let df: VfioDeviceFile;
  try {
    if (vfioDeviceIsNoiommu(device) && !current.capable("CAP_SYS_RAWIO")) {
      throw new SysError("EPERM", fn, `${device.name} is a no-IOMMU device: needs CAP_SYS_RAWIO`);
    }
    df = vfioAllocateDeviceFile(device);
  } catch (e) {
    vfioDevicePutRegistration(device);
    throw e;
  }
  df.file = file;
  file.privateData = df;
}

/**
 * device_cdev.c: vfio_df_check_token() — a driver without a token operation refuses a token
 * (EINVAL); one with it judges the token given, or its absence (copied first: EFAULT).
 */
function vfioDfCheckToken(
  device: VfioCoreDevice,
  current: Task,
  flags: number,
  tokenUuidPtr: bigint,
): void {
  const match = device.coreOps.matchTokenUuid;
  if (!match) {
    if (flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
      throw new SysError("EINVAL", "vfio_df_check_token", `${device.name} takes no token`);
    }
    return;
  }
  if (!(flags & VFIO_DEVICE_BIND_FLAG_TOKEN)) {
    match.call(device.coreOps, device, null);
    return;
  }
  // A pointer past what a number can hold cannot be mapped: EFAULT, as copy_from_user() says.
  const va = tokenUuidPtr <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(tokenUuidPtr) : -1;
  const uuid = copyFromUser(current.mm, va, 16, "vfio_df_check_token");
  match.call(device.coreOps, device, uuid);
}

/** offsetofend(struct vfio_device_bind_iommufd, out_devid) */
const BIND_MINSZ = vfio_device_bind_iommufd.offsetofend("out_devid");

/**
 * device_cdev.c: vfio_df_ioctl_bind_iommufd() — in the C's order: argsz (EFAULT, EINVAL),
 * the extensible copy (E2BIG for non-zero bytes past the struct), a negative iommufd or an
 * unknown flag (EINVAL), a group fd (EINVAL), the group open (EBUSY), this file already bound
 * (EINVAL), the token, the iommufd (EBADF, EBADFD), the device open elsewhere or the driver's
 * bind and open_device errors, and the `out_devid` copy (EFAULT: the device is closed again).
 */
export function vfioDfIoctlBindIommufd(df: VfioDeviceFile, current: Task, arg: number): number {
  const fn = "vfio_df_ioctl_bind_iommufd";
  const device = df.device;
  const kernel = device.kernel;
  if (!kernel.config.CONFIG_VFIO_DEVICE_CDEV) {
    throw new SysError("ENOTTY", fn, "CONFIG_VFIO_DEVICE_CDEV is off");
  }
  const userSize = getUser(current.mm, u32, arg, fn);
  if (userSize < BIND_MINSZ) throw new SysError("EINVAL", fn, `argsz ${userSize}`);
  const bind = copyStructFromUser(current.mm, vfio_device_bind_iommufd, arg, userSize, fn);
  if (bind.iommufd < 0 || (bind.flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) !== 0) {
    throw new SysError("EINVAL", fn, `iommufd ${bind.iommufd}, flags 0x${bind.flags.toString(16)}`);
  }
  if (df.group) throw new SysError("EINVAL", fn, "device fd obtained through its group");

  vfioDeviceBlockGroup(device);
  try {
    if (df.accessGranted) throw new SysError("EINVAL", fn, `${device.name} is already bound`);
    vfioDfCheckToken(device, current, bind.flags, bind.token_uuid_ptr);
    const ictx = iommufdOf(kernel).ctxFromFd(current, bind.iommufd);
    df.iommufd = ictx;
    try {
      vfioDfOpen(df);
      try {
        putUser(
          current.mm,
          u32,
          arg + vfio_device_bind_iommufd.offsetof("out_devid"),
          df.devid,
          fn,
        );
      } catch (e) {
        vfioDfClose(df);
        throw e;
      }
    } catch (e) {
      ictx.put();
      df.iommufd = null;
      throw e;
    }
  } catch (e) {
    vfioDeviceUnblockGroup(device);
    throw e;
  }
  device.cdevOpened = true;
  df.accessGranted = true;
  return 0;
}

/**
 * device_cdev.c: vfio_df_unbind_iommufd() — the release of a bound cdev file: the device is
 * closed (close_device(), then the driver's unbind, which detaches) and the group unblocked.
 */
export function vfioDfUnbindIommufd(df: VfioDeviceFile): void {
  if (!df.accessGranted) return;
  const device = df.device;
  vfioDfClose(df);
  df.iommufd?.put();
  device.cdevOpened = false;
  vfioDeviceUnblockGroup(device);
}

/** offsetofend(struct vfio_device_attach_iommufd_pt, pt_id) */
const ATTACH_MINSZ = vfio_device_attach_iommufd_pt.offsetofend("pt_id");
/** offsetofend(struct vfio_device_attach_iommufd_pt, pasid) */
const ATTACH_PASID_XEND = vfio_device_attach_iommufd_pt.offsetofend("pasid");

/**
 * device_cdev.c: vfio_df_ioctl_attach_pt() — argsz below `pt_id`'s end or an unknown flag is
 * EINVAL; a PASID attach needs the driver's `pasid_attach_ioas` (EOPNOTSUPP) and an argsz
 * covering `pasid` (EINVAL). The id attached (the automatic HWPT of an IOAS) is written back
 * to `pt_id`; if that copy faults the device is detached again (the whole device, even after a
 * PASID attach, as the C does).
 */
export function vfioDfIoctlAttachPt(df: VfioDeviceFile, current: Task, arg: number): number {
  const fn = "vfio_df_ioctl_attach_pt";
  const device = df.device;
  const ops = device.coreOps;
  const head = copyFromUser(current.mm, arg, ATTACH_MINSZ, fn);
  const attach = vfio_device_attach_iommufd_pt.decodePartial(head);
  if (attach.argsz < ATTACH_MINSZ) throw new SysError("EINVAL", fn, `argsz ${attach.argsz}`);
  if ((attach.flags & ~VFIO_DEVICE_ATTACH_PASID) !== 0) {
    throw new SysError("EINVAL", fn, `flags 0x${attach.flags.toString(16)}`);
  }
  const withPasid = (attach.flags & VFIO_DEVICE_ATTACH_PASID) !== 0;
  if (withPasid) {
    if (!ops.pasidAttachIoas) throw new SysError("EOPNOTSUPP", fn, `${ops.name}: no PASID`);
    if (attach.argsz < ATTACH_PASID_XEND) throw new SysError("EINVAL", fn, `argsz ${attach.argsz}`);
    attach.pasid = getUser(current.mm, u32, arg + ATTACH_MINSZ, fn);
  }
  const ptId = withPasid
    ? ops.pasidAttachIoas!(device, attach.pasid, attach.pt_id)
    : ops.attachIoas!(device, attach.pt_id);
  try {
    putUser(current.mm, u32, arg + vfio_device_attach_iommufd_pt.offsetof("pt_id"), ptId, fn);
  } catch (e) {
    ops.detachIoas!(device);
    throw e;
  }
  return 0;
}

/** offsetofend(struct vfio_device_detach_iommufd_pt, flags) */
const DETACH_MINSZ = vfio_device_detach_iommufd_pt.offsetofend("flags");
/** offsetofend(struct vfio_device_detach_iommufd_pt, pasid) */
const DETACH_PASID_XEND = vfio_device_detach_iommufd_pt.offsetofend("pasid");

/**
 * device_cdev.c: vfio_df_ioctl_detach_pt() — the same header rules as attach (minimum 8, 12
 * with VFIO_DEVICE_DETACH_PASID); detaching what is not attached succeeds.
 */
export function vfioDfIoctlDetachPt(df: VfioDeviceFile, current: Task, arg: number): number {
  const fn = "vfio_df_ioctl_detach_pt";
  const device = df.device;
  const ops = device.coreOps;
  const head = copyFromUser(current.mm, arg, DETACH_MINSZ, fn);
  const detach = vfio_device_detach_iommufd_pt.decodePartial(head);
  if (detach.argsz < DETACH_MINSZ) throw new SysError("EINVAL", fn, `argsz ${detach.argsz}`);
  if ((detach.flags & ~VFIO_DEVICE_DETACH_PASID) !== 0) {
    throw new SysError("EINVAL", fn, `flags 0x${detach.flags.toString(16)}`);
  }
  const withPasid = (detach.flags & VFIO_DEVICE_DETACH_PASID) !== 0;
  if (withPasid) {
    if (!ops.pasidDetachIoas) throw new SysError("EOPNOTSUPP", fn, `${ops.name}: no PASID`);
    if (detach.argsz < DETACH_PASID_XEND) throw new SysError("EINVAL", fn, `argsz ${detach.argsz}`);
    const pasid = getUser(current.mm, u32, arg + DETACH_MINSZ, fn);
    ops.pasidDetachIoas(device, pasid);
  } else {
    ops.detachIoas!(device);
  }
  return 0;
}
