/**
 * The VFIO container (drivers/vfio/container.c): `/dev/vfio/vfio`, the IOMMU backends that
 * serve it (type1, and the no-IOMMU one defined here), and how groups join and leave one.
 *
 * A container is an unprivileged object: opening `/dev/vfio/vfio` (misc minor 196, mode 0666)
 * needs nothing. Only a group set into it (VFIO_GROUP_SET_CONTAINER, group.ts) lets user space
 * pick a backend with VFIO_SET_IOMMU, and detaching the last group releases the backend again:
 *
 *   empty      no group, no backend     CHECK_EXTENSION asks every backend; SET_IOMMU EINVAL
 *   grouped    groups, no backend       SET_IOMMU tries the backends in list order
 *   set        groups and a backend     every other ioctl goes to the backend
 *
 * The backend list is `iommu_drivers_list`: registration puts a backend at its head, so the
 * last registered is asked first. A container of no-IOMMU groups may only use the no-IOMMU
 * backend and the other way round (`vfio_iommu_driver_allowed()`). A backend in use pins its
 * module (try_module_get()), and so does every CHECK_EXTENSION while it asks.
 *
 * Caveat:
 * - The container's rw_semaphore and the drivers' mutex are not modelled: syscalls run one at
 *   a time.
 * - `compat_ioctl` is not modelled (the model is 64-bit only).
 * - Backends report failure by throwing SysError; CHECK_EXTENSION keeps the C's rule that a
 *   failing backend's errno is the answer only when that backend was the last one asked.
 */

import { VFIO_MINOR } from "@vfio-lab/iommufd";
import {
  type File,
  type FileOperations,
  KERN_ERR,
  type MiscDevice,
  SysError,
  type Task,
} from "@vfio-lab/kernel";
import {
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
} from "@vfio-lab/kernel/uapi";
import {
  VFIO_IOMMU,
  VFIO_NO_IOMMU,
  VfioCoreContainer,
  type VfioCoreDevice,
  type VfioCoreGroup,
  type VfioIommuDriverOps,
} from "./vfio.js";
import { VFIO_PIN_PAGES_MAX_ENTRIES, type Vfio } from "./vfio-main.js";
import { vfioModule } from "./vfio-modules.js";

const CONTAINER_C = "drivers/vfio/container.c";

/** The module that owns each container (the C's containers need no such link: one `vfio`). */
const containerVfio = new WeakMap<VfioCoreContainer, Vfio>();
/** Every `vfio_fops`, so that a file can be recognised as a container (`f_op == &vfio_fops`). */
const containerFops = new WeakSet<FileOperations>();
/** Each loaded module's `vfio_noiommu_ops`. */
const noiommuOps = new WeakMap<Vfio, VfioIommuDriverOps<null>>();

function vfioOfContainer(container: VfioCoreContainer): Vfio {
  const vfio = containerVfio.get(container);
  if (!vfio) throw new Error("vfio: a container that no /dev/vfio/vfio open made");
  return vfio;
}

/** capable(CAP_SYS_RAWIO) of the task in a syscall; kernel context has every capability. */
function capableRawio(vfio: Vfio, current: Task | null = vfio.kernel.current): boolean {
  return current?.capable("CAP_SYS_RAWIO") ?? true;
}

// ---------------------------------------------------------------------------------------------
// The no-IOMMU backend

/**
 * container.c: vfio_noiommu_ops — the backend of no-IOMMU containers: nothing to map (user
 * space programs physical addresses itself), so every container ioctl but CHECK_EXTENSION is
 * ENOTTY, and CHECK_EXTENSION(VFIO_NOIOMMU_IOMMU) answers 1 only while
 * `enable_unsafe_noiommu_mode` is on.
 */
function vfioNoiommuOps(vfio: Vfio): VfioIommuDriverOps<null> {
  return {
    name: "vfio-noiommu",
    owner: vfioModule,
    /** container.c: vfio_noiommu_open() */
    open(current, arg) {
      if (arg !== VFIO_NOIOMMU_IOMMU) {
        throw new SysError("EINVAL", "vfio_noiommu_open", `type ${arg}`);
      }
      if (!capableRawio(vfio, current)) {
        throw new SysError("EPERM", "vfio_noiommu_open", "needs CAP_SYS_RAWIO");
      }
      return null;
    },
    release() {},
    /** container.c: vfio_noiommu_ioctl() */
    ioctl(_data, _current, cmd, arg) {
      if (cmd >>> 0 === VFIO_CHECK_EXTENSION) {
        return vfio.noiommu && arg === VFIO_NOIOMMU_IOMMU ? 1 : 0;
      }
      throw new SysError("ENOTTY", "vfio_noiommu_ioctl", `cmd 0x${(cmd >>> 0).toString(16)}`);
    },
    attachGroup() {},
    detachGroup() {},
  };
}

/**
 * container.c: vfio_iommu_driver_allowed() — with CONFIG_VFIO_NOIOMMU, a no-IOMMU container
 * uses only the no-IOMMU backend and every other container any backend but it.
 */
function vfioIommuDriverAllowed(
  vfio: Vfio,
  container: VfioCoreContainer,
  ops: VfioIommuDriverOps,
): boolean {
  if (!vfio.kernel.config.CONFIG_VFIO_NOIOMMU) return true;
  return container.noiommu === (ops === noiommuOps.get(vfio));
}

// ---------------------------------------------------------------------------------------------
// Backend registration

/**
 * container.c: vfio_register_iommu_driver() — EINVAL (with a WARN) when only one of
 * register_device/unregister_device is given, ENOMEM, EINVAL for ops already registered; the
 * new backend goes to the head of the list.
 */
export function vfioRegisterIommuDriver(vfio: Vfio, ops: VfioIommuDriverOps): void {
  const fn = "vfio_register_iommu_driver";
  const kernel = vfio.kernel;
  if (!ops.registerDevice !== !ops.unregisterDevice) {
    kernel.irq.bug.warnOn({ file: CONTAINER_C, line: 95, fn });
    throw new SysError("EINVAL", fn, `${ops.name}: register_device without unregister_device`);
  }
  if (kernel.allocator.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn);
  if (vfio.iommuDrivers.includes(ops)) {
    throw new SysError("EINVAL", fn, `${ops.name} is already registered`);
  }
  vfio.iommuDrivers.unshift(ops);
}

/** container.c: vfio_unregister_iommu_driver() — ops never registered are ignored. */
export function vfioUnregisterIommuDriver(vfio: Vfio, ops: VfioIommuDriverOps): void {
  const at = vfio.iommuDrivers.indexOf(ops);
  if (at >= 0) vfio.iommuDrivers.splice(at, 1);
}

// ---------------------------------------------------------------------------------------------
// The container file

/** container.c: vfio_container_put() — the last reference frees it (vfio_container_release()). */
function vfioContainerPut(container: VfioCoreContainer): void {
  if (--container.refs === 0) vfioOfContainer(container).containers.delete(container);
}

/** The backend's answer to CHECK_EXTENSION, an errno it throws as its negative value. */
function askExtension(
  ops: VfioIommuDriverOps,
  data: unknown,
  current: Task,
  arg: number,
): { ret: number; err: SysError | null } {
  try {
    return { ret: ops.ioctl(data, current, VFIO_CHECK_EXTENSION, arg), err: null };
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    return { ret: e.negative, err: e };
  }
}

/**
 * container.c: vfio_container_ioctl_check_extension() — without a backend, the first positive
 * answer of the backends this container may use (each pinned while it answers); with one, its
 * answer alone.
 */
function vfioContainerIoctlCheckExtension(
  vfio: Vfio,
  container: VfioCoreContainer,
  current: Task,
  arg: number,
): number {
  const driver = container.iommuDriver;
  if (driver) return driver.ioctl(container.iommuData, current, VFIO_CHECK_EXTENSION, arg);
  const modules = vfio.kernel.modules;
  let answer: { ret: number; err: SysError | null } = { ret: 0, err: null };
  for (const ops of [...vfio.iommuDrivers]) {
    if (container.groups.length !== 0 && !vfioIommuDriverAllowed(vfio, container, ops)) continue;
    if (ops.owner && !modules.tryModuleGet(ops.owner)) continue;
    answer = askExtension(ops, null, current, arg);
    if (ops.owner) modules.modulePut(ops.owner);
    if (answer.ret > 0) break;
  }
  if (answer.err) throw answer.err;
  return answer.ret;
}

/**
 * container.c: __vfio_container_attach_groups() — every group of the container to a new
 * backend instance; a refusal detaches those already attached, newest first.
 */
function vfioContainerAttachGroups(
  container: VfioCoreContainer,
  ops: VfioIommuDriverOps,
  data: unknown,
): void {
  const done: VfioCoreGroup[] = [];
  try {
    for (const group of container.groups) {
      ops.attachGroup(data, group.iommuGroup!, group.type);
      done.push(group);
    }
  } catch (e) {
    for (const group of done.reverse()) ops.detachGroup(data, group.iommuGroup!);
    throw e;
  }
}

/**
 * container.c: vfio_ioctl_set_iommu() — EINVAL without a group or with a backend already set;
 * then the first allowed backend that advertises `arg`, opens with it and takes every group
 * wins. ENODEV when none advertised it, else the last refusal's errno.
 */
function vfioIoctlSetIommu(
  vfio: Vfio,
  container: VfioCoreContainer,
  current: Task,
  arg: number,
): number {
  const fn = "vfio_ioctl_set_iommu";
  if (container.groups.length === 0 || container.iommuDriver) {
    throw new SysError("EINVAL", fn, container.iommuDriver ? "backend already set" : "no group");
  }
  const modules = vfio.kernel.modules;
  let err = new SysError("ENODEV", fn, `no backend offers type ${arg}`);
  for (const ops of [...vfio.iommuDrivers]) {
    if (!vfioIommuDriverAllowed(vfio, container, ops)) continue;
    if (ops.owner && !modules.tryModuleGet(ops.owner)) continue;
    const put = () => {
      if (ops.owner) modules.modulePut(ops.owner);
    };
    // SET_IOMMU's argument is a CHECK_EXTENSION one: only backends that offer it are opened.
    if (askExtension(ops, null, current, arg).ret <= 0) {
      put();
      continue;
    }
    let data: unknown;
    try {
      data = ops.open(current, arg);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      err = e;
      put();
      continue;
    }
    try {
      vfioContainerAttachGroups(container, ops, data);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      ops.release(data);
      put();
      err = e;
      continue;
    }
    container.iommuDriver = ops;
    container.iommuData = data;
    return 0;
  }
  throw err;
}

/** container.c: vfio_fops_unl_ioctl() — unknown commands go to the backend, EINVAL without one. */
function vfioFopsUnlIoctl(vfio: Vfio, file: File, current: Task, cmd: number, arg: number): number {
  const fn = "vfio_fops_unl_ioctl";
  const container = file.privateData as VfioCoreContainer | null;
  if (!container) throw new SysError("EINVAL", fn, "released container");
  switch (cmd >>> 0) {
    case VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case VFIO_CHECK_EXTENSION:
      return vfioContainerIoctlCheckExtension(vfio, container, current, arg);
    case VFIO_SET_IOMMU:
      return vfioIoctlSetIommu(vfio, container, current, arg);
    default: {
      const driver = container.iommuDriver;
      if (!driver) throw new SysError("EINVAL", fn, "no IOMMU backend set");
      return driver.ioctl(container.iommuData, current, cmd, arg);
    }
  }
}

/** container.c: vfio_fops_open() — a new, empty container (ENOMEM only). */
function vfioFopsOpen(vfio: Vfio, file: File): void {
  if (vfio.kernel.allocator.shouldFail("kzalloc")) {
    throw new SysError("ENOMEM", "vfio_fops_open");
  }
  const container = new VfioCoreContainer();
  containerVfio.set(container, vfio);
  vfio.containers.add(container);
  file.privateData = container;
}

/** container.c: vfio_fops_release() — the container lives on while groups hold it. */
function vfioFopsRelease(file: File): void {
  const container = file.privateData as VfioCoreContainer;
  file.privateData = null;
  vfioContainerPut(container);
}

/** container.c: vfio_fops */
function vfioFops(vfio: Vfio): FileOperations {
  const fops: FileOperations = {
    owner: vfioModule,
    open: (_inode, file) => vfioFopsOpen(vfio, file),
    release: (_inode, file) => vfioFopsRelease(file),
    unlockedIoctl: (file, current, cmd, arg) => vfioFopsUnlIoctl(vfio, file, current, cmd, arg),
  };
  containerFops.add(fops);
  return fops;
}

/**
 * container.c: vfio_container_from_file() — the container behind an open `/dev/vfio/vfio`, or
 * null for any other file (and always without CONFIG_VFIO_CONTAINER).
 */
export function vfioContainerFromFile(file: File): VfioCoreContainer | null {
  if (!containerFops.has(file.fOp)) return null;
  // The caller's fget() keeps the file from being released: its container is always there.
  return file.privateData as VfioCoreContainer;
}

// ---------------------------------------------------------------------------------------------
// Module init and exit

/**
 * container.c: vfio_container_init() — `/dev/vfio/vfio` (misc minor 196, 0666, node
 * "vfio/vfio"), then the no-IOMMU backend with CONFIG_VFIO_NOIOMMU. Nothing without
 * CONFIG_VFIO_CONTAINER: iommufd serves the node then (CONFIG_IOMMUFD_VFIO_CONTAINER).
 */
export function vfioContainerInit(vfio: Vfio): void {
  const kernel = vfio.kernel;
  if (!kernel.config.CONFIG_VFIO_CONTAINER) return;
  const misc: MiscDevice = {
    minor: VFIO_MINOR,
    name: "vfio",
    fops: vfioFops(vfio),
    nodename: "vfio/vfio",
    mode: 0o666,
  };
  try {
    kernel.vfs.misc.miscRegister(misc);
  } catch (e) {
    kernel.printk.printk(KERN_ERR, "vfio: misc device register failed");
    throw e;
  }
  vfio.containerMisc = misc;
  if (kernel.config.CONFIG_VFIO_NOIOMMU) {
    const ops = vfioNoiommuOps(vfio);
    try {
      vfioRegisterIommuDriver(vfio, ops);
    } catch (e) {
      kernel.vfs.misc.miscDeregister(misc);
      vfio.containerMisc = null;
      throw e;
    }
    noiommuOps.set(vfio, ops);
  }
}

/** container.c: vfio_container_cleanup() */
export function vfioContainerCleanup(vfio: Vfio): void {
  if (!vfio.kernel.config.CONFIG_VFIO_CONTAINER) return;
  const ops = noiommuOps.get(vfio);
  if (ops) vfioUnregisterIommuDriver(vfio, ops);
  noiommuOps.delete(vfio);
  if (vfio.containerMisc) vfio.kernel.vfs.misc.miscDeregister(vfio.containerMisc);
  vfio.containerMisc = null;
}

// ---------------------------------------------------------------------------------------------
// Groups in a container

/**
 * container.c: vfio_container_attach_group() — VFIO_GROUP_SET_CONTAINER with a container:
 * EPERM for a no-IOMMU group without CAP_SYS_RAWIO, EPERM when the container holds groups of
 * the other kind; an IOMMU group is claimed for user space (EPERM while a kernel driver uses
 * it, EBUSY off its default domain) and, once a backend is set, attached to it (its errno, the
 * claim given back). EOPNOTSUPP without CONFIG_VFIO_CONTAINER.
 */
export function vfioContainerAttachGroup(
  container: VfioCoreContainer,
  group: VfioCoreGroup,
  current: Task,
): void {
  const fn = "vfio_container_attach_group";
  const vfio = vfioOfContainer(container);
  const kernel = vfio.kernel;
  if (!kernel.config.CONFIG_VFIO_CONTAINER) throw new SysError("EOPNOTSUPP", fn);
  if (group.type === VFIO_NO_IOMMU && !capableRawio(vfio, current)) {
    throw new SysError("EPERM", fn, "no-IOMMU group needs CAP_SYS_RAWIO");
  }
  if (container.groups.length !== 0 && container.noiommu !== (group.type === VFIO_NO_IOMMU)) {
    throw new SysError("EPERM", fn, "IOMMU and no-IOMMU groups cannot share a container");
  }
  const iommuGroup = group.iommuGroup!;
  if (group.type === VFIO_IOMMU) kernel.iommu.iommuGroupClaimDmaOwner(iommuGroup, group);
  const driver = container.iommuDriver;
  if (driver) {
    try {
      driver.attachGroup(container.iommuData, iommuGroup, group.type);
    } catch (e) {
      if (group.type === VFIO_IOMMU) kernel.iommu.iommuGroupReleaseDmaOwner(iommuGroup);
      throw e;
    }
  }
  group.container = container;
  group.containerUsers = 1;
  container.noiommu = group.type === VFIO_NO_IOMMU;
  container.groups.unshift(group);
  container.refs++;
}

/**
 * container.c: vfio_group_detach_container() — the group leaves its backend and gives its DMA
 * ownership back; the last group out releases the backend (every mapping with it) and unpins
 * its module. Drops the group's reference on the container.
 */
export function vfioGroupDetachContainer(group: VfioCoreGroup): void {
  const container = group.container;
  if (!container) return;
  const vfio = vfioOfContainer(container);
  const kernel = vfio.kernel;
  if (group.containerUsers !== 1) {
    kernel.irq.bug.warnOn({ file: CONTAINER_C, line: 474, fn: "vfio_group_detach_container" });
  }
  const driver = container.iommuDriver;
  const iommuGroup = group.iommuGroup!;
  if (driver) driver.detachGroup(container.iommuData, iommuGroup);
  if (group.type === VFIO_IOMMU) kernel.iommu.iommuGroupReleaseDmaOwner(iommuGroup);
  group.container = null;
  group.containerUsers = 0;
  container.groups.splice(container.groups.indexOf(group), 1);
  if (driver && container.groups.length === 0) {
    driver.release(container.iommuData);
    if (driver.owner) kernel.modules.modulePut(driver.owner);
    container.iommuDriver = null;
    container.iommuData = null;
  }
  vfioContainerPut(container);
}

/**
 * container.c: vfio_group_use_container() — a device of the group is being opened: EINVAL
 * before VFIO_SET_IOMMU, EPERM for a no-IOMMU group without CAP_SYS_RAWIO; the open device
 * holds the group's file (closing the group fd first is deferred to the device's close).
 */
export function vfioGroupUseContainer(group: VfioCoreGroup): void {
  const fn = "vfio_group_use_container";
  const container = group.container;
  // Only CONFIG_VFIO_CONTAINER makes containers: a group without one is the stub's case.
  if (!container) throw new SysError("EOPNOTSUPP", fn);
  const vfio = vfioOfContainer(container);
  if (!container.iommuDriver) throw new SysError("EINVAL", fn, "VFIO_SET_IOMMU not done yet");
  if (group.type === VFIO_NO_IOMMU && !capableRawio(vfio)) {
    throw new SysError("EPERM", fn, "no-IOMMU group needs CAP_SYS_RAWIO");
  }
  vfio.kernel.vfs.fget(group.openedFile!);
  group.containerUsers++;
}

/** container.c: vfio_group_unuse_container() */
export function vfioGroupUnuseContainer(group: VfioCoreGroup): void {
  const container = group.container;
  if (!container) return;
  const kernel = vfioOfContainer(container).kernel;
  if (group.containerUsers <= 1) {
    kernel.irq.bug.warnOn({ file: CONTAINER_C, line: 526, fn: "vfio_group_unuse_container" });
  }
  group.containerUsers--;
  kernel.vfs.fput(group.openedFile!);
}

// ---------------------------------------------------------------------------------------------
// Devices of a container

/** container.c: vfio_device_container_register() — tells the backend about an opened device. */
export function vfioDeviceContainerRegister(device: VfioCoreDevice): void {
  const container = device.group?.container;
  if (!container) return;
  container.iommuDriver?.registerDevice?.(container.iommuData, device);
}

/** container.c: vfio_device_container_unregister() */
export function vfioDeviceContainerUnregister(device: VfioCoreDevice): void {
  const container = device.group?.container;
  if (!container) return;
  container.iommuDriver?.unregisterDevice?.(container.iommuData, device);
}

/**
 * container.c: vfio_device_container_pin_pages() — vfio_pin_pages() through the backend: E2BIG
 * above VFIO_PIN_PAGES_MAX_ENTRIES, ENOTTY for a backend that cannot pin; returns the PFNs.
 * EOPNOTSUPP without CONFIG_VFIO_CONTAINER.
 */
export function vfioContainerPinPages(
  device: VfioCoreDevice,
  iova: bigint,
  npage: number,
  prot: number,
): number[] {
  const fn = "vfio_device_container_pin_pages";
  if (!device.kernel.config.CONFIG_VFIO_CONTAINER) throw new SysError("EOPNOTSUPP", fn);
  const group = device.group!;
  const container = group.container!;
  if (npage > VFIO_PIN_PAGES_MAX_ENTRIES) throw new SysError("E2BIG", fn, `${npage} pages`);
  const driver = container.iommuDriver;
  if (!driver?.pinPages) throw new SysError("ENOTTY", fn, "backend cannot pin");
  return driver.pinPages(container.iommuData, group.iommuGroup!, iova, npage, prot);
}

/** container.c: vfio_device_container_unpin_pages() — WARNs and ignores a bad page count. */
export function vfioContainerUnpinPages(device: VfioCoreDevice, iova: bigint, npage: number): void {
  if (!device.kernel.config.CONFIG_VFIO_CONTAINER) return;
  const container = device.group!.container!;
  if (npage <= 0 || npage > VFIO_PIN_PAGES_MAX_ENTRIES) {
    device.kernel.irq.bug.warnOn({
      file: CONTAINER_C,
      line: 553,
      fn: "vfio_device_container_unpin_pages",
    });
    return;
  }
  container.iommuDriver?.unpinPages?.(container.iommuData, iova, npage);
}

/**
 * container.c: vfio_device_container_dma_rw() — vfio_dma_rw() through the backend: ENOTTY for
 * a backend that cannot; EOPNOTSUPP without CONFIG_VFIO_CONTAINER.
 */
export function vfioContainerDmaRw(
  device: VfioCoreDevice,
  current: Task,
  iova: bigint,
  buf: Uint8Array,
  write: boolean,
): void {
  const fn = "vfio_device_container_dma_rw";
  if (!device.kernel.config.CONFIG_VFIO_CONTAINER) throw new SysError("EOPNOTSUPP", fn);
  const container = device.group!.container!;
  const driver = container.iommuDriver;
  if (!driver?.dmaRw) throw new SysError("ENOTTY", fn, "backend cannot copy");
  driver.dmaRw(container.iommuData, current, iova, buf, write);
}
