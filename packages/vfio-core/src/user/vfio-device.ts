/**
 * `VfioDevice`: a typed user-space wrapper over a VFIO device file, as rust-vmm's `VfioDevice`.
 *
 * A device file comes from a group (`VfioGroup.deviceFd(name)`, the legacy path) or from the
 * device's own char device (`VfioDevice.openCdev(p, "/dev/vfio/devices/vfio0")`), which is
 * inert until bound to an iommufd (`bindIommufd`) and, for DMA, attached to an IOAS or HWPT
 * (`attachPt`). Then the device protocol is the same on both: `info`, `regionInfo`, `irqInfo`,
 * `setIrqs`, `reset`, `feature`, and the regions through pread/pwrite/mmap of the fd at
 * `index << 40`.
 *
 * Every method is one syscall on the device fd, except where the argsz protocol asks twice
 * (see vfio-container.ts for the conventions).
 */

import type { IommuFd } from "@vfio-lab/iommufd";
import { MAP_SHARED, O_RDWR, PROT_READ, PROT_WRITE, type Process } from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_FLAG_TOKEN,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_PASID,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FLAGS_CAPS,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_CAP_TYPE,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_device_detach_iommufd_pt,
  vfio_device_feature,
  vfio_device_info,
  vfio_irq_info,
  vfio_irq_set,
  vfio_region_info,
  vfio_region_info_cap_sparse_mmap,
  vfio_region_info_cap_type,
  vfio_region_sparse_mmap_area,
} from "@vfio-lab/kernel/uapi";
import { VFIO_REGION_OFFSET_SHIFT } from "../vfio.js";
import {
  ioctlArgsz,
  readCapChain,
  UserScratch,
  type VfioInfoCapability,
} from "./vfio-container.js";
import type { VfioGroup } from "./vfio-group.js";

/** VFIO_DEVICE_GET_INFO, decoded. */
export interface VfioDeviceInfo {
  readonly flags: number;
  readonly numRegions: number;
  readonly numIrqs: number;
  readonly caps: readonly VfioInfoCapability[];
}

/** VFIO_DEVICE_GET_REGION_INFO, decoded. */
export interface VfioRegion {
  readonly index: number;
  readonly flags: number;
  readonly size: bigint;
  /** Where the region starts in the device fd (pread/pwrite/mmap offset). */
  readonly offset: bigint;
  readonly caps: readonly VfioInfoCapability[];
  /** VFIO_REGION_INFO_CAP_SPARSE_MMAP: the only parts that may be mmapped. */
  readonly sparseMmap?: readonly { readonly offset: bigint; readonly size: bigint }[];
  /** VFIO_REGION_INFO_CAP_TYPE. */
  readonly type?: { readonly type: number; readonly subtype: number };
}

/** VFIO_DEVICE_GET_IRQ_INFO, decoded. */
export interface VfioIrq {
  readonly index: number;
  readonly flags: number;
  readonly count: number;
}

/** What VFIO_DEVICE_SET_IRQS carries after its header (nothing: VFIO_IRQ_SET_DATA_NONE). */
export type VfioIrqData =
  | { readonly bools: readonly boolean[] }
  | { readonly eventfds: readonly number[] };

export interface VfioIrqSet {
  readonly index: number;
  /** Default 0. */
  readonly start?: number;
  /** Default: the number of data elements, or 1 without data (0 with TRIGGER disables). */
  readonly count?: number;
  readonly action: "trigger" | "mask" | "unmask";
  readonly data?: VfioIrqData;
}

const ACTION_FLAGS = {
  trigger: VFIO_IRQ_SET_ACTION_TRIGGER,
  mask: VFIO_IRQ_SET_ACTION_MASK,
  unmask: VFIO_IRQ_SET_ACTION_UNMASK,
} as const;

/** An open VFIO device file of one process. */
export class VfioDevice {
  private readonly scratch: UserScratch;

  private constructor(
    readonly process: Process,
    readonly fd: number,
    /** The group the fd came from; null for a cdev fd. */
    readonly group: VfioGroup | null,
  ) {
    this.scratch = new UserScratch(process);
  }

  /** Wraps a device fd (from VFIO_GROUP_GET_DEVICE_FD or opened elsewhere). */
  static fromFd(process: Process, fd: number, group: VfioGroup | null = null): VfioDevice {
    return new VfioDevice(process, fd, group);
  }

  /** open("/dev/vfio/devices/vfioN", O_RDWR): unusable until bindIommufd(). */
  static openCdev(process: Process, path: string): VfioDevice {
    return new VfioDevice(process, process.open(path, O_RDWR), null);
  }

  /**
   * VFIO_DEVICE_BIND_IOMMUFD → the iommufd device id (`out_devid`). `token` is the 16-byte VF
   * token UUID (VFIO_DEVICE_BIND_FLAG_TOKEN).
   */
  bindIommufd(iommufd: IommuFd | number, opts: { token?: Uint8Array } = {}): number {
    const ifd = typeof iommufd === "number" ? iommufd : iommufd.fd;
    const size = vfio_device_bind_iommufd.size;
    const token = opts.token;
    // The token lives right behind the struct, as a C caller's second local would.
    const va = this.scratch.stage(size + (token?.length ?? 0));
    const bytes = vfio_device_bind_iommufd.encode({
      argsz: size,
      flags: token ? VFIO_DEVICE_BIND_FLAG_TOKEN : 0,
      iommufd: ifd,
      token_uuid_ptr: token ? BigInt(va + size) : 0n,
    });
    this.process.poke(va, bytes);
    if (token) this.process.poke(va + size, token);
    this.process.ioctl(this.fd, VFIO_DEVICE_BIND_IOMMUFD, va);
    return vfio_device_bind_iommufd.decode(this.process.peek(va, size)).out_devid;
  }

  /**
   * VFIO_DEVICE_ATTACH_IOMMUFD_PT to an IOAS or HWPT (of `pasid`, with
   * VFIO_DEVICE_ATTACH_PASID) → the id actually attached (the kernel writes `pt_id` back).
   */
  attachPt(ptId: number, opts: { pasid?: number } = {}): number {
    const { out } = ioctlArgsz(
      this.scratch,
      this.fd,
      VFIO_DEVICE_ATTACH_IOMMUFD_PT,
      vfio_device_attach_iommufd_pt,
      {
        flags: opts.pasid !== undefined ? VFIO_DEVICE_ATTACH_PASID : 0,
        pt_id: ptId,
        pasid: opts.pasid ?? 0,
      },
    );
    return out.pt_id;
  }

  /** VFIO_DEVICE_DETACH_IOMMUFD_PT (of `pasid`, with VFIO_DEVICE_DETACH_PASID). */
  detachPt(opts: { pasid?: number } = {}): void {
    ioctlArgsz(
      this.scratch,
      this.fd,
      VFIO_DEVICE_DETACH_IOMMUFD_PT,
      vfio_device_detach_iommufd_pt,
      {
        flags: opts.pasid !== undefined ? VFIO_DEVICE_DETACH_PASID : 0,
        pasid: opts.pasid ?? 0,
      },
    );
  }

  /** VFIO_DEVICE_GET_INFO, asking again with the kernel's `argsz` when capabilities follow. */
  info(): VfioDeviceInfo {
    let argsz = vfio_device_info.size;
    // Twice at most: the second call has the room the first one asked for.
    for (let asked = 0; ; asked++) {
      const { out, va } = ioctlArgsz(
        this.scratch,
        this.fd,
        VFIO_DEVICE_GET_INFO,
        vfio_device_info,
        {},
        argsz,
      );
      if (out.argsz > argsz && asked === 0) {
        argsz = out.argsz;
        continue;
      }
      const caps =
        out.flags & VFIO_DEVICE_FLAGS_CAPS
          ? readCapChain(this.process, va, argsz, out.cap_offset)
          : [];
      return { flags: out.flags, numRegions: out.num_regions, numIrqs: out.num_irqs, caps };
    }
  }

  /** VFIO_DEVICE_GET_REGION_INFO of region `index`, with the same argsz protocol. */
  regionInfo(index: number): VfioRegion {
    let argsz = vfio_region_info.size;
    // Twice at most: the second call has the room the first one asked for.
    for (let asked = 0; ; asked++) {
      const { out, va } = ioctlArgsz(
        this.scratch,
        this.fd,
        VFIO_DEVICE_GET_REGION_INFO,
        vfio_region_info,
        { index },
        argsz,
      );
      if (out.flags & VFIO_REGION_INFO_FLAG_CAPS && out.argsz > argsz && asked === 0) {
        argsz = out.argsz;
        continue;
      }
      const caps =
        out.flags & VFIO_REGION_INFO_FLAG_CAPS
          ? readCapChain(this.process, va, argsz, out.cap_offset)
          : [];
      return {
        index: out.index,
        flags: out.flags,
        size: out.size,
        offset: out.offset,
        caps,
        ...decodeRegionCaps(caps),
      };
    }
  }

  /** VFIO_DEVICE_GET_IRQ_INFO of IRQ index `index`. */
  irqInfo(index: number): VfioIrq {
    const { out } = ioctlArgsz(this.scratch, this.fd, VFIO_DEVICE_GET_IRQ_INFO, vfio_irq_info, {
      index,
    });
    return { index: out.index, flags: out.flags, count: out.count };
  }

  /**
   * VFIO_DEVICE_SET_IRQS: `argsz` is the header plus exactly `count` data elements (u8 bools or
   * s32 eventfds, -1 to de-assign one), as `vfio_pci_irq_set()` of the selftests sizes it.
   */
  setIrqs(set: VfioIrqSet): void {
    const data = set.data;
    let dataFlag = VFIO_IRQ_SET_DATA_NONE;
    let payload = new Uint8Array(0);
    if (data && "bools" in data) {
      dataFlag = VFIO_IRQ_SET_DATA_BOOL;
      payload = Uint8Array.from(data.bools, (b) => (b ? 1 : 0));
    } else if (data) {
      dataFlag = VFIO_IRQ_SET_DATA_EVENTFD;
      payload = new Uint8Array(data.eventfds.length * 4);
      const v = new DataView(payload.buffer);
      data.eventfds.forEach((fd, i) => {
        v.setInt32(i * 4, fd, true);
      });
    }
    const count =
      set.count ?? (data ? payload.length / (dataFlag === VFIO_IRQ_SET_DATA_BOOL ? 1 : 4) : 1);
    const bytes = vfio_irq_set.encode({
      argsz: vfio_irq_set.size + payload.length,
      flags: dataFlag | ACTION_FLAGS[set.action],
      index: set.index,
      start: set.start ?? 0,
      count,
      data: payload,
    });
    const va = this.scratch.stage(bytes.length, bytes);
    this.process.ioctl(this.fd, VFIO_DEVICE_SET_IRQS, va);
  }

  /** VFIO_DEVICE_RESET. */
  reset(): void {
    this.process.ioctl(this.fd, VFIO_DEVICE_RESET);
  }

  /**
   * VFIO_DEVICE_FEATURE with `flags` (feature number | GET/SET/PROBE) and `data` as payload →
   * the ioctl's return value and the payload as the kernel left it.
   */
  feature(flags: number, data: Uint8Array = new Uint8Array(0)): { ret: number; data: Uint8Array } {
    const bytes = vfio_device_feature.encode({
      argsz: vfio_device_feature.size + data.length,
      flags,
      data,
    });
    const va = this.scratch.stage(bytes.length, bytes);
    const ret = this.process.ioctl(this.fd, VFIO_DEVICE_FEATURE, va);
    return {
      ret,
      data: data.length ? this.process.peek(va + vfio_device_feature.size, data.length) : data,
    };
  }

  /** pread(2) of `length` bytes at `offset` in region `index` (file offset `index << 40`). */
  readRegion(index: number, offset: number | bigint, length: number): Uint8Array {
    const va = this.scratch.stage(length);
    const n = this.process.pread(this.fd, va, length, regionOffset(index, offset));
    return this.process.peek(va, n);
  }

  /** pwrite(2) of `bytes` at `offset` in region `index` → the bytes written. */
  writeRegion(index: number, offset: number | bigint, bytes: Uint8Array): number {
    const va = this.scratch.stage(bytes.length, bytes);
    return this.process.pwrite(this.fd, va, bytes.length, regionOffset(index, offset));
  }

  /**
   * mmap(2) of region `index` (MAP_SHARED, PROT_READ|PROT_WRITE by default, from `offset`
   * inside it) → the user address. Without `length` the whole region is mapped, which costs a
   * VFIO_DEVICE_GET_REGION_INFO first.
   */
  mmapRegion(
    index: number,
    opts: { length?: number; offset?: number; prot?: number } = {},
  ): number {
    let length = opts.length;
    let prot = opts.prot;
    if (length === undefined || prot === undefined) {
      const region = this.regionInfo(index);
      length ??= Number(region.size) - (opts.offset ?? 0);
      prot ??=
        (region.flags & VFIO_REGION_INFO_FLAG_READ ? PROT_READ : 0) |
        (region.flags & VFIO_REGION_INFO_FLAG_WRITE ? PROT_WRITE : 0);
    }
    return this.process.mmap(
      0,
      length,
      prot,
      MAP_SHARED,
      this.fd,
      regionOffset(index, opts.offset ?? 0),
    );
  }

  /** close(2). */
  close(): void {
    this.scratch.release();
    this.process.close(this.fd);
  }
}

/** The device-fd offset of byte `offset` of region `index`. */
export function regionOffset(index: number, offset: number | bigint = 0): bigint {
  return (BigInt(index) << BigInt(VFIO_REGION_OFFSET_SHIFT)) + BigInt(offset);
}

function decodeRegionCaps(
  caps: readonly VfioInfoCapability[],
): Pick<VfioRegion, "sparseMmap" | "type"> {
  const out: {
    sparseMmap?: NonNullable<VfioRegion["sparseMmap"]>;
    type?: NonNullable<VfioRegion["type"]>;
  } = {};
  for (const cap of caps) {
    if (cap.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
      const head = vfio_region_info_cap_sparse_mmap.decodePartial(cap.bytes);
      const base = vfio_region_info_cap_sparse_mmap.size;
      const fits = Math.floor((cap.bytes.length - base) / vfio_region_sparse_mmap_area.size);
      const areas: { offset: bigint; size: bigint }[] = [];
      for (let i = 0; i < Math.min(head.nr_areas, fits); i++) {
        const a = vfio_region_sparse_mmap_area.decode(
          cap.bytes,
          base + i * vfio_region_sparse_mmap_area.size,
        );
        areas.push({ offset: a.offset, size: a.size });
      }
      out.sparseMmap = areas;
    } else if (cap.id === VFIO_REGION_INFO_CAP_TYPE) {
      const t = vfio_region_info_cap_type.decodePartial(cap.bytes);
      out.type = { type: t.type, subtype: t.subtype };
    }
  }
  return out;
}
