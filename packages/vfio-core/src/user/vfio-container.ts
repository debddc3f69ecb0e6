/**
 * `VfioContainer`: a typed user-space wrapper over a VFIO container — `/dev/vfio/vfio`, or
 * `/dev/iommu` speaking its VFIO compatibility personality — in the spirit of rust-vmm's
 * `vfio-ioctls` and of the kernel selftests' `lib/iommu.c`.
 *
 * A container is the address space a set of groups share: user space opens it, attaches at
 * least one group (`VfioGroup.setContainer`), picks an IOMMU model with `setIommu` (type1, type1
 * v2, no-IOMMU) and only then maps memory for DMA. Each method below is the ioctl a C program
 * would issue: the UAPI struct is encoded into the process's own memory, the real syscall runs
 * through the process facade, and what the kernel wrote back is decoded. A refusal throws the
 * kernel's `SysError` (errno, name, and the kernel function that refused) untouched.
 *
 * IOVAs and sizes are `bigint` (u64 in the UAPI); user addresses are `number`s, as in `Process`.
 */

import { O_RDWR, type Process, type StructLayout, type StructValue } from "@vfio-lab/kernel";
import {
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_SET_IOMMU,
  vfio_info_cap_header,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_cap_migration,
  vfio_iommu_type1_info_dma_avail,
  vfio_iova_range,
} from "@vfio-lab/kernel/uapi";

/** One usable IOVA interval (`struct vfio_iova_range`, `end` inclusive). */
export interface VfioIovaRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** A capability of an INFO ioctl's chain, as found in the user buffer. */
export interface VfioInfoCapability {
  readonly id: number;
  readonly version: number;
  /** Offset of its header from the start of the INFO struct. */
  readonly offset: number;
  /** The capability's bytes, header included, up to the next one (or the end of the buffer). */
  readonly bytes: Uint8Array;
}

/** VFIO_IOMMU_GET_INFO, decoded. */
export interface VfioIommuInfo {
  readonly flags: number;
  readonly iovaPgsizes: bigint;
  /** Every capability the kernel chained, in chain order. */
  readonly caps: readonly VfioInfoCapability[];
  /** VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, when present. */
  readonly iovaRanges?: readonly VfioIovaRange[];
  /** VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: how many more mappings the container accepts. */
  readonly dmaAvail?: number;
  /** VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION. */
  readonly migration?: {
    readonly flags: number;
    readonly pgsizeBitmap: bigint;
    readonly maxDirtyBitmapSize: bigint;
  };
}

export interface VfioDmaMap {
  /** The user address backing the mapping (ignored by the kernel's checks only with VADDR). */
  readonly vaddr: number | bigint;
  readonly iova: bigint;
  readonly size: bigint | number;
  /** VFIO_DMA_MAP_FLAG_READ / _WRITE; both default to true, or to false with `vaddrFlag`. */
  readonly read?: boolean;
  readonly write?: boolean;
  /** VFIO_DMA_MAP_FLAG_VADDR: give an invalidated mapping its new user address. */
  readonly vaddrFlag?: boolean;
}

export interface VfioDmaUnmap {
  readonly iova?: bigint;
  readonly size?: bigint | number;
  /** VFIO_DMA_UNMAP_FLAG_ALL (`iova` and `size` must then be 0, their default). */
  readonly all?: boolean;
  /** VFIO_DMA_UNMAP_FLAG_VADDR: invalidate the user address only. */
  readonly vaddrFlag?: boolean;
}

/**
 * Scratch user memory for ioctl arguments: one anonymous mapping per wrapper, grown on demand
 * and reused, so that a wrapper's calls touch the process's memory the way a C program's stack
 * struct would. Shared by the three wrappers of this directory.
 */
export class UserScratch {
  private va = 0;
  private size = 0;

  constructor(readonly process: Process) {}

  /** A user address with at least `bytes` bytes, holding `init` (zero-filled after it). */
  stage(bytes: number, init?: Uint8Array): number {
    if (this.size < bytes) {
      if (this.va) this.process.munmap(this.va, this.size);
      this.size = Math.max(256, Math.ceil(bytes / 4096) * 4096);
      this.va = this.process.malloc(this.size);
    }
    const zero = new Uint8Array(bytes);
    if (init) zero.set(init.subarray(0, bytes));
    this.process.poke(this.va, zero);
    return this.va;
  }

  /** Gives the mapping back (the wrapper's close()). */
  release(): void {
    if (this.va) this.process.munmap(this.va, this.size);
    this.va = 0;
    this.size = 0;
  }
}

/**
 * Encodes `value` as `layout` with its first u32 (`argsz`) set to `argsz`, padded with zeros to
 * `argsz` bytes, issues `request` on `fd`, and decodes the fixed part the kernel wrote back.
 * Returns the decoded struct, the user address and the ioctl's return value.
 */
export function ioctlArgsz<L extends StructLayout>(
  scratch: UserScratch,
  fd: number,
  request: number,
  layout: L,
  value: Parameters<L["encode"]>[0],
  argsz = layout.size,
): { out: StructValue<L>; va: number; ret: number } {
  const bytes = layout.encode(value as never);
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, argsz, true);
  const room = Math.max(argsz, bytes.length, layout.size);
  const va = scratch.stage(room, bytes);
  const ret = scratch.process.ioctl(fd, request, va);
  const out = layout.decode(scratch.process.peek(va, layout.size)) as StructValue<L>;
  return { out, va, ret };
}

/**
 * Walks a capability chain in a user buffer of `bufsz` bytes whose first capability is at
 * `capOffset` (0: none), as the selftests' `next_cap_hdr()` does: each `next` is an offset from
 * the start of the buffer, and a chain longer than the buffer could hold is a cycle.
 */
export function readCapChain(
  process: Process,
  va: number,
  bufsz: number,
  capOffset: number,
): VfioInfoCapability[] {
  const caps: VfioInfoCapability[] = [];
  if (capOffset === 0 || bufsz <= capOffset) return caps;
  const buf = process.peek(va, bufsz);
  const hdrSize = vfio_info_cap_header.size;
  const maxDepth = Math.floor(bufsz / hdrSize);
  for (let at = capOffset; at !== 0; ) {
    if (at + hdrSize > bufsz) throw new RangeError(`capability at ${at} outside ${bufsz} bytes`);
    if (caps.length >= maxDepth) throw new RangeError("capability chain contains a cycle");
    const hdr = vfio_info_cap_header.decode(buf, at);
    const end = hdr.next > at && hdr.next <= bufsz ? hdr.next : bufsz;
    caps.push({
      id: hdr.id,
      version: hdr.version,
      offset: at,
      bytes: buf.slice(at, end),
    });
    at = hdr.next;
  }
  return caps;
}

/** An open VFIO container of one process. */
export class VfioContainer {
  private readonly scratch: UserScratch;

  private constructor(
    readonly process: Process,
    readonly fd: number,
  ) {
    this.scratch = new UserScratch(process);
  }

  /**
   * open(path, O_RDWR): `/dev/vfio/vfio` (the legacy container, or iommufd's when
   * CONFIG_VFIO_CONTAINER is off), or `/dev/iommu` as the selftests' iommufd_compat modes do.
   */
  static open(process: Process, path = "/dev/vfio/vfio"): VfioContainer {
    return new VfioContainer(process, process.open(path, O_RDWR));
  }

  /** Wraps a descriptor opened elsewhere. */
  static fromFd(process: Process, fd: number): VfioContainer {
    return new VfioContainer(process, fd);
  }

  /** VFIO_GET_API_VERSION → VFIO_API_VERSION (0). */
  apiVersion(): number {
    return this.process.ioctl(this.fd, VFIO_GET_API_VERSION);
  }

  /** VFIO_CHECK_EXTENSION(ext): > 0 when supported (the argument is the number itself). */
  checkExtension(ext: number): number {
    return this.process.ioctl(this.fd, VFIO_CHECK_EXTENSION, ext);
  }

  /** VFIO_SET_IOMMU(type): VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU or VFIO_NOIOMMU_IOMMU. */
  setIommu(type: number): void {
    this.process.ioctl(this.fd, VFIO_SET_IOMMU, type);
  }

  /**
   * VFIO_IOMMU_GET_INFO with the argsz protocol: asked with `sizeof(struct
   * vfio_iommu_type1_info)` first; when the capability chain did not fit, the kernel says how
   * much it needs in `argsz` and the call is made again with that much room.
   */
  iommuInfo(): VfioIommuInfo {
    let argsz = vfio_iommu_type1_info.size;
    // Twice at most: the second call has the room the first one asked for.
    for (let asked = 0; ; asked++) {
      const { out, va } = ioctlArgsz(
        this.scratch,
        this.fd,
        VFIO_IOMMU_GET_INFO,
        vfio_iommu_type1_info,
        {},
        argsz,
      );
      if (out.argsz > argsz && asked === 0) {
        argsz = out.argsz;
        continue;
      }
      const caps =
        out.flags & VFIO_IOMMU_INFO_CAPS
          ? readCapChain(this.process, va, argsz, out.cap_offset)
          : [];
      return { flags: out.flags, iovaPgsizes: out.iova_pgsizes, caps, ...decodeIommuCaps(caps) };
    }
  }

  /** VFIO_IOMMU_MAP_DMA. */
  mapDma(map: VfioDmaMap): void {
    let flags = 0;
    // A VADDR update carries no permission bits: the mapping keeps the ones it has.
    if (map.read ?? !map.vaddrFlag) flags |= VFIO_DMA_MAP_FLAG_READ;
    if (map.write ?? !map.vaddrFlag) flags |= VFIO_DMA_MAP_FLAG_WRITE;
    if (map.vaddrFlag) flags |= VFIO_DMA_MAP_FLAG_VADDR;
    ioctlArgsz(this.scratch, this.fd, VFIO_IOMMU_MAP_DMA, vfio_iommu_type1_dma_map, {
      flags,
      vaddr: BigInt(map.vaddr),
      iova: map.iova,
      size: BigInt(map.size),
    });
  }

  /** VFIO_IOMMU_UNMAP_DMA → the bytes unmapped (the `size` the kernel writes back). */
  unmapDma(unmap: VfioDmaUnmap): bigint {
    let flags = 0;
    if (unmap.all) flags |= VFIO_DMA_UNMAP_FLAG_ALL;
    if (unmap.vaddrFlag) flags |= VFIO_DMA_UNMAP_FLAG_VADDR;
    const { out } = ioctlArgsz(
      this.scratch,
      this.fd,
      VFIO_IOMMU_UNMAP_DMA,
      vfio_iommu_type1_dma_unmap,
      { flags, iova: unmap.iova ?? 0n, size: BigInt(unmap.size ?? 0) },
    );
    return out.size;
  }

  /** close(2); the scratch memory goes too. */
  close(): void {
    this.scratch.release();
    this.process.close(this.fd);
  }
}

/** The type1 capabilities of GET_INFO the wrapper knows, decoded from their chain entries. */
function decodeIommuCaps(
  caps: readonly VfioInfoCapability[],
): Pick<VfioIommuInfo, "iovaRanges" | "dmaAvail" | "migration"> {
  const out: {
    iovaRanges?: VfioIovaRange[];
    dmaAvail?: number;
    migration?: NonNullable<VfioIommuInfo["migration"]>;
  } = {};
  for (const cap of caps) {
    switch (cap.id) {
      case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: {
        const head = vfio_iommu_type1_info_cap_iova_range.decodePartial(cap.bytes);
        const n = Math.min(
          head.nr_iovas,
          Math.floor(
            (cap.bytes.length - vfio_iommu_type1_info_cap_iova_range.size) / vfio_iova_range.size,
          ),
        );
        const ranges: VfioIovaRange[] = [];
        for (let i = 0; i < n; i++) {
          const r = vfio_iova_range.decode(
            cap.bytes,
            vfio_iommu_type1_info_cap_iova_range.size + i * vfio_iova_range.size,
          );
          ranges.push({ start: r.start, end: r.end });
        }
        out.iovaRanges = ranges;
        break;
      }
      case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
        out.dmaAvail = vfio_iommu_type1_info_dma_avail.decodePartial(cap.bytes).avail;
        break;
      case VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION: {
        const m = vfio_iommu_type1_info_cap_migration.decodePartial(cap.bytes);
        out.migration = {
          flags: m.flags,
          pgsizeBitmap: m.pgsize_bitmap,
          maxDirtyBitmapSize: m.max_dirty_bitmap_size,
        };
        break;
      }
    }
  }
  return out;
}
