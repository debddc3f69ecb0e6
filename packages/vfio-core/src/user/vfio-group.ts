/**
 * `VfioGroup`: a typed user-space wrapper over a VFIO group file, `/dev/vfio/<N>` (or
 * `/dev/vfio/noiommu-<N>` for an unsafe no-IOMMU group), as rust-vmm's `VfioGroup`.
 *
 * A group is the unit of isolation the IOMMU gives: user space may only use a device once every
 * device of its group is either bound to a VFIO driver or to none (the group is then *viable*),
 * and only once the group sits in a container (`setContainer`, with a legacy container or an
 * iommufd) whose IOMMU model is set. Then `deviceFd(name)` hands out a device file.
 *
 * Every method is one ioctl on the group fd (see vfio-container.ts for the conventions).
 */

import type { IommuFd } from "@vfio-lab/iommufd";
import { encodeScalar, O_RDWR, type Process, s32 } from "@vfio-lab/kernel";
import {
  VFIO_GROUP_FLAGS_CONTAINER_SET,
  VFIO_GROUP_FLAGS_VIABLE,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  vfio_group_status,
} from "@vfio-lab/kernel/uapi";
import { ioctlArgsz, UserScratch, type VfioContainer } from "./vfio-container.js";
import { VfioDevice } from "./vfio-device.js";

/** VFIO_GROUP_GET_STATUS, decoded. */
export interface VfioGroupStatus {
  readonly flags: number;
  /** VFIO_GROUP_FLAGS_VIABLE: every device of the group is free for user space. */
  readonly viable: boolean;
  /** VFIO_GROUP_FLAGS_CONTAINER_SET. */
  readonly containerSet: boolean;
}

/** An open VFIO group of one process. */
export class VfioGroup {
  private readonly scratch: UserScratch;

  private constructor(
    readonly process: Process,
    readonly fd: number,
    /** The path it was opened by. */
    readonly path: string,
  ) {
    this.scratch = new UserScratch(process);
  }

  /**
   * open("/dev/vfio/<group>", O_RDWR): `group` is the IOMMU group number, a name such as
   * `"noiommu-0"`, or an absolute path.
   */
  static open(process: Process, group: number | string): VfioGroup {
    const path = typeof group === "string" && group.startsWith("/") ? group : `/dev/vfio/${group}`;
    return new VfioGroup(process, process.open(path, O_RDWR), path);
  }

  /** VFIO_GROUP_GET_STATUS. */
  status(): VfioGroupStatus {
    const { out } = ioctlArgsz(this.scratch, this.fd, VFIO_GROUP_GET_STATUS, vfio_group_status, {});
    return {
      flags: out.flags,
      viable: (out.flags & VFIO_GROUP_FLAGS_VIABLE) !== 0,
      containerSet: (out.flags & VFIO_GROUP_FLAGS_CONTAINER_SET) !== 0,
    };
  }

  /**
   * VFIO_GROUP_SET_CONTAINER: the argument points at the container's fd (an `__s32`), which may
   * be a `/dev/vfio/vfio` container or an iommufd.
   */
  setContainer(container: VfioContainer | IommuFd | number): void {
    const fd = typeof container === "number" ? container : container.fd;
    const va = this.scratch.stage(s32.size, encodeScalar(s32, fd));
    this.process.ioctl(this.fd, VFIO_GROUP_SET_CONTAINER, va);
  }

  /** VFIO_GROUP_UNSET_CONTAINER. */
  unsetContainer(): void {
    this.process.ioctl(this.fd, VFIO_GROUP_UNSET_CONTAINER);
  }

  /**
   * VFIO_GROUP_GET_DEVICE_FD: the argument points at the NUL-terminated device name (the
   * device's dev_name, `c030000.dma-test`, unless its driver matches names itself).
   */
  deviceFd(name: string): VfioDevice {
    const bytes = new TextEncoder().encode(`${name}\0`);
    const va = this.scratch.stage(bytes.length, bytes);
    const fd = this.process.ioctl(this.fd, VFIO_GROUP_GET_DEVICE_FD, va);
    return VfioDevice.fromFd(this.process, fd, this);
  }

  /** close(2). */
  close(): void {
    this.scratch.release();
    this.process.close(this.fd);
  }
}
