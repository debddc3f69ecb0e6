/**
 * `IommuFd`: a typed user-space wrapper over `/dev/iommu`, in the spirit of rust-vmm's
 * `vfio-ioctls` and of the kernel selftests' `iommufd_utils.h` helpers.
 *
 * Nothing here touches the kernel model directly: every method encodes the UAPI struct into the
 * process's own memory, issues the real ioctl through the syscall facade and decodes what the
 * kernel wrote back — exactly what a C program does, so the syscall trace of a test written
 * with it is the trace of the equivalent C program. A failing ioctl throws the kernel's
 * `SysError` (errno, name, and the kernel function that refused).
 *
 * IOVAs and lengths are `bigint` (u64 in the UAPI); user addresses are `number`s, as in the
 * process facade.
 */

import { O_RDWR, type Process, type StructLayout, type StructValue } from "@vfio-lab/kernel";
import {
  IOMMU_DESTROY,
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_NOIOMMU_GET_PA,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_VFIO_IOAS,
  iommu_destroy,
  iommu_hw_info,
  iommu_hwpt_alloc,
  iommu_ioas_alloc,
  iommu_ioas_allow_iovas,
  iommu_ioas_copy,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  iommu_ioas_map_file,
  iommu_ioas_noiommu_get_pa,
  iommu_ioas_unmap,
  iommu_iova_range,
  iommu_option,
  iommu_vfio_ioas,
} from "./uapi.js";

/** One usable IOVA range (`struct iommu_iova_range`, `last` inclusive). */
export interface IovaRange {
  readonly start: bigint;
  readonly last: bigint;
}

export interface MapOptions {
  /** Map at exactly this IOVA (IOMMU_IOAS_MAP_FIXED_IOVA); otherwise the kernel chooses. */
  readonly iova?: bigint;
  /** Defaults to read + write. */
  readonly readable?: boolean;
  readonly writeable?: boolean;
}

export interface HwInfo {
  readonly outDataType: number;
  readonly dataLen: number;
  readonly data: Uint8Array;
  readonly outCapabilities: bigint;
  readonly outMaxPasidLog2: number;
}

/** An open `/dev/iommu` of one process. */
export class IommuFd {
  private constructor(
    readonly process: Process,
    readonly fd: number,
  ) {}

  /** open("/dev/iommu", O_RDWR). */
  static open(process: Process, path = "/dev/iommu"): IommuFd {
    return new IommuFd(process, process.open(path, O_RDWR));
  }

  /** Wraps a descriptor opened elsewhere (e.g. /dev/vfio/vfio served by iommufd). */
  static fromFd(process: Process, fd: number): IommuFd {
    return new IommuFd(process, fd);
  }

  close(): void {
    this.process.close(this.fd);
  }

  /** IOMMU_IOAS_ALLOC → the new IOAS id. */
  ioasAlloc(): number {
    return this.call(IOMMU_IOAS_ALLOC, iommu_ioas_alloc, { flags: 0 }).out_ioas_id;
  }

  /** IOMMU_DESTROY of any object. */
  destroy(id: number): void {
    this.call(IOMMU_DESTROY, iommu_destroy, { id });
  }

  /** IOMMU_IOAS_MAP of `length` bytes of user memory at `userVa` → the IOVA used. */
  map(ioasId: number, userVa: number, length: bigint | number, opts: MapOptions = {}): bigint {
    const out = this.call(IOMMU_IOAS_MAP, iommu_ioas_map, {
      flags: mapFlags(opts),
      ioas_id: ioasId,
      user_va: BigInt(userVa),
      length: BigInt(length),
      iova: opts.iova ?? 0n,
    });
    return out.iova;
  }

  /** IOMMU_IOAS_MAP_FILE of `length` bytes of the memfd `fd` from offset `start` → the IOVA. */
  mapFile(
    ioasId: number,
    fd: number,
    start: bigint | number,
    length: bigint | number,
    opts: MapOptions = {},
  ): bigint {
    const out = this.call(IOMMU_IOAS_MAP_FILE, iommu_ioas_map_file, {
      flags: mapFlags(opts),
      ioas_id: ioasId,
      fd,
      start: BigInt(start),
      length: BigInt(length),
      iova: opts.iova ?? 0n,
    });
    return out.iova;
  }

  /** IOMMU_IOAS_UNMAP → the number of bytes unmapped. `unmapAll` is iova 0, length U64_MAX. */
  unmap(ioasId: number, iova: bigint, length: bigint | number): bigint {
    return this.call(IOMMU_IOAS_UNMAP, iommu_ioas_unmap, {
      ioas_id: ioasId,
      iova,
      length: BigInt(length),
    }).length;
  }

  unmapAll(ioasId: number): bigint {
    return this.unmap(ioasId, 0n, 0xffff_ffff_ffff_ffffn);
  }

  /** IOMMU_IOAS_COPY → the destination IOVA. */
  copy(
    dstIoasId: number,
    srcIoasId: number,
    srcIova: bigint,
    length: bigint | number,
    opts: MapOptions = {},
  ): bigint {
    return this.call(IOMMU_IOAS_COPY, iommu_ioas_copy, {
      flags: mapFlags(opts),
      dst_ioas_id: dstIoasId,
      src_ioas_id: srcIoasId,
      length: BigInt(length),
      dst_iova: opts.iova ?? 0n,
      src_iova: srcIova,
    }).dst_iova;
  }

  /**
   * IOMMU_IOAS_IOVA_RANGES: asks once with room for `capacity` ranges and, on EMSGSIZE, again
   * with the count the kernel reported — the protocol the UAPI documents.
   */
  iovaRanges(ioasId: number, capacity = 4): { ranges: IovaRange[]; alignment: bigint } {
    const p = this.process;
    for (;;) {
      const size = Math.max(1, capacity) * iommu_iova_range.size;
      const buf = p.malloc(size);
      try {
        const out = this.call(IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, {
          ioas_id: ioasId,
          num_iovas: capacity,
          allowed_iovas: BigInt(buf),
        });
        const ranges: IovaRange[] = [];
        for (let i = 0; i < out.num_iovas; i++) {
          const r = iommu_iova_range.decode(
            p.peek(buf + i * iommu_iova_range.size, iommu_iova_range.size),
          );
          ranges.push({ start: r.start, last: r.last });
        }
        return { ranges, alignment: out.out_iova_alignment };
      } catch (e) {
        if (!isErrno(e, "EMSGSIZE")) throw e;
        const needed = iommu_ioas_iova_ranges.decode(
          p.peek(this.lastArg, iommu_ioas_iova_ranges.size),
        );
        capacity = needed.num_iovas;
      } finally {
        p.munmap(buf, size);
      }
    }
  }

  /** IOMMU_IOAS_ALLOW_IOVAS: only these ranges for automatic IOVA allocation ([] clears). */
  allowIovas(ioasId: number, ranges: readonly IovaRange[]): void {
    const p = this.process;
    const size = Math.max(1, ranges.length) * iommu_iova_range.size;
    const buf = p.malloc(size);
    try {
      ranges.forEach((r, i) => {
        p.poke(buf + i * iommu_iova_range.size, iommu_iova_range.encode(r));
      });
      this.call(IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, {
        ioas_id: ioasId,
        num_iovas: ranges.length,
        allowed_iovas: BigInt(buf),
      });
    } finally {
      p.munmap(buf, size);
    }
  }

  /** IOMMU_OPTION get: `objectId` 0 for the global RLIMIT_MODE, an IOAS for HUGE_PAGES. */
  optionGet(optionId: number, objectId = 0): bigint {
    return this.call(IOMMU_OPTION, iommu_option, {
      option_id: optionId,
      op: IOMMU_OPTION_OP_GET,
      object_id: objectId,
    }).val64;
  }

  optionSet(optionId: number, val: bigint | number, objectId = 0): void {
    this.call(IOMMU_OPTION, iommu_option, {
      option_id: optionId,
      op: IOMMU_OPTION_OP_SET,
      object_id: objectId,
      val64: BigInt(val),
    });
  }

  /** IOMMU_HWPT_ALLOC of a paging HWPT for device `devId` on IOAS/HWPT `ptId` → its id. */
  hwptAlloc(devId: number, ptId: number, flags = 0): number {
    return this.call(IOMMU_HWPT_ALLOC, iommu_hwpt_alloc, {
      flags,
      dev_id: devId,
      pt_id: ptId,
    }).out_hwpt_id;
  }

  /** IOMMU_GET_HW_INFO with a `dataLen`-byte buffer for the driver's payload. */
  getHwInfo(devId: number, dataLen = 64): HwInfo {
    const p = this.process;
    const buf = dataLen > 0 ? p.malloc(dataLen) : 0;
    try {
      const out = this.call(IOMMU_GET_HW_INFO, iommu_hw_info, {
        dev_id: devId,
        data_len: dataLen,
        data_uptr: BigInt(buf),
      });
      return {
        outDataType: out.out_data_type,
        dataLen: out.data_len,
        data: dataLen > 0 ? p.peek(buf, Math.min(dataLen, out.data_len)) : new Uint8Array(),
        outCapabilities: out.out_capabilities,
        outMaxPasidLog2: out.out_max_pasid_log2,
      };
    } finally {
      if (buf) p.munmap(buf, dataLen);
    }
  }

  /** IOMMU_VFIO_IOAS: get (→ id), set or clear the IOAS the VFIO compatibility ioctls use. */
  vfioIoas(op: number, ioasId = 0): number {
    return this.call(IOMMU_VFIO_IOAS, iommu_vfio_ioas, { ioas_id: ioasId, op }).ioas_id;
  }

  /**
   * IOMMU_IOAS_NOIOMMU_GET_PA: the physical address behind `iova` and how many bytes from it
   * are physically contiguous, at most `maxLength` (7.3 requires a non-zero limit: EINVAL for
   * 0; the default, U64_MAX, asks for the whole contiguous run).
   */
  noiommuGetPa(
    ioasId: number,
    iova: bigint,
    maxLength: bigint | number = 2n ** 64n - 1n,
  ): {
    phys: bigint;
    length: bigint;
  } {
    const out = this.call(IOMMU_IOAS_NOIOMMU_GET_PA, iommu_ioas_noiommu_get_pa, {
      ioas_id: ioasId,
      iova,
      length: BigInt(maxLength),
    });
    return { phys: out.out_phys, length: out.length };
  }

  /** The user address of the last struct passed to the kernel (kept until the next call). */
  private lastArg = 0;
  private argBuf = 0;
  private argBufSize = 0;

  /**
   * Encodes `value` with `size` = sizeof, issues `request` and decodes the struct the kernel
   * wrote back. The argument lives in one scratch buffer of the process, reused across calls.
   */
  private call<L extends StructLayout>(
    request: number,
    layout: L,
    value: Partial<StructValue<L>>,
  ): StructValue<L> {
    const p = this.process;
    if (this.argBufSize < layout.size) {
      if (this.argBuf) p.munmap(this.argBuf, this.argBufSize);
      this.argBufSize = Math.max(256, layout.size);
      this.argBuf = p.malloc(this.argBufSize);
    }
    const va = this.argBuf;
    this.lastArg = va;
    p.poke(va, layout.encode({ size: layout.size, ...value } as never));
    p.ioctl(this.fd, request, va);
    return layout.decode(p.peek(va, layout.size)) as StructValue<L>;
  }
}

function mapFlags(opts: MapOptions): number {
  let flags = 0;
  if (opts.iova !== undefined) flags |= IOMMU_IOAS_MAP_FIXED_IOVA;
  if (opts.readable ?? true) flags |= IOMMU_IOAS_MAP_READABLE;
  if (opts.writeable ?? true) flags |= IOMMU_IOAS_MAP_WRITEABLE;
  return flags;
}

function isErrno(e: unknown, code: string): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === code;
}
