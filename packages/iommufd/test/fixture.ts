/**
 * The shared fixture of the iommufd tests: a booted virtLab kernel with iommufd loaded, a
 * process holding `/dev/iommu` open, and small helpers that issue the IOMMUFD ioctls the way
 * the kernel selftests' iommufd_utils.h does — struct encoded into the process's memory, real
 * ioctl through the syscall facade, struct decoded back.
 */

import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import {
  type IommuDomain,
  Kernel,
  type KernelConfigInput,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type SpawnOptions,
  type StructLayout,
  type StructValue,
} from "@vfio-lab/kernel";
import type { IommufdIoas } from "../src/ioas.js";
import { type IommufdCtx, iommufdModule, iommufdOf } from "../src/main.js";
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  iommu_destroy,
  iommu_ioas_alloc,
  iommu_ioas_allow_iovas,
  iommu_ioas_copy,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  iommu_ioas_map_file,
  iommu_ioas_unmap,
  iommu_iova_range,
  iommu_option,
} from "../src/uapi.js";

export { PAGE_SIZE };
export const MAP_RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
export const MAP_FIXED_RW = MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA;
/** A board device behind the SMMU (group 1) whose driver tests unbind before using its IOMMU. */
export const DMA_TEST_DEV = "c030000.dma-test";

export interface World {
  readonly soc: Soc;
  readonly kernel: Kernel;
  readonly p: Process;
  /** The open /dev/iommu. */
  readonly fd: number;
  /** Scratch user memory for ioctl structs. */
  readonly arg: number;
}

export interface WorldOptions {
  readonly config?: KernelConfigInput;
  readonly cmdline?: string;
  readonly spawn?: SpawnOptions;
}

/** Boots the board, loads iommufd and opens /dev/iommu (FIXTURE_SETUP(iommufd)). */
export function setup(opts: WorldOptions = {}): World {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const kernel = Kernel.boot(soc, { cmdline: opts.cmdline ?? "", config: opts.config ?? {} });
  kernel.modprobe(iommufdModule);
  const p = kernel.spawn(opts.spawn ?? { comm: "iommufd" });
  const fd = p.open("/dev/iommu", O_RDWR);
  const arg = p.malloc(PAGE_SIZE);
  return { soc, kernel, p, fd, arg };
}

/** Another process on the same kernel with its own /dev/iommu and scratch memory. */
export function spawnIn(w: World, spawn: SpawnOptions, openIommu = true): World {
  const p = w.kernel.spawn(spawn);
  const fd = openIommu ? p.open("/dev/iommu", O_RDWR) : -1;
  return { ...w, p, fd, arg: p.malloc(PAGE_SIZE) };
}

/** Writes `value` as `layout` at the scratch address, issues `request`, returns what came back. */
export function ioctlStruct<L extends StructLayout>(
  w: World,
  request: number,
  layout: L,
  value: Parameters<L["encode"]>[0],
  opts: { fd?: number; size?: number } = {},
): StructValue<L> {
  const bytes = layout.encode(value as never);
  const size = opts.size ?? layout.size;
  // `size` is the struct's first u32, as user space sets it.
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, size, true);
  w.p.poke(w.arg, bytes);
  w.p.ioctl(opts.fd ?? w.fd, request, w.arg);
  return layout.decode(w.p.peek(w.arg, layout.size)) as StructValue<L>;
}

/** The kernel side of the test's iommufd file. */
export function ictxOf(w: World, fd = w.fd): IommufdCtx {
  const file = w.p.fget(fd)!;
  w.kernel.vfs.fput(file);
  return file.privateData as IommufdCtx;
}

/** The IOAS object with this id (no reference taken). */
export function ioasObj(w: World, id: number): IommufdIoas {
  const obj = ictxOf(w).objects.peek(id);
  if (obj?.type !== "IOAS") throw new Error(`no IOAS ${id}`);
  return obj as IommufdIoas;
}

export function ioasAlloc(w: World): number {
  return ioctlStruct(w, IOMMU_IOAS_ALLOC, iommu_ioas_alloc, { size: 0 }).out_ioas_id;
}

export function destroy(w: World, id: number): void {
  ioctlStruct(w, IOMMU_DESTROY, iommu_destroy, { size: 0, id });
}

/** IOMMU_IOAS_MAP; `iova` undefined lets the kernel choose. Returns the IOVA. */
export function ioasMap(
  w: World,
  ioasId: number,
  va: number | bigint,
  length: number | bigint,
  iova?: number | bigint,
  flags = MAP_RW,
): bigint {
  const f =
    iova === undefined ? flags & ~IOMMU_IOAS_MAP_FIXED_IOVA : flags | IOMMU_IOAS_MAP_FIXED_IOVA;
  return ioctlStruct(w, IOMMU_IOAS_MAP, iommu_ioas_map, {
    size: 0,
    flags: f,
    ioas_id: ioasId,
    user_va: BigInt(va),
    length: BigInt(length),
    iova: BigInt(iova ?? 0),
  }).iova;
}

export function ioasMapFile(
  w: World,
  ioasId: number,
  mfd: number,
  start: number | bigint,
  length: number | bigint,
  iova?: number | bigint,
  flags = MAP_RW,
): bigint {
  const f =
    iova === undefined ? flags & ~IOMMU_IOAS_MAP_FIXED_IOVA : flags | IOMMU_IOAS_MAP_FIXED_IOVA;
  return ioctlStruct(w, IOMMU_IOAS_MAP_FILE, iommu_ioas_map_file, {
    size: 0,
    flags: f,
    ioas_id: ioasId,
    fd: mfd,
    start: BigInt(start),
    length: BigInt(length),
    iova: BigInt(iova ?? 0),
  }).iova;
}

/** IOMMU_IOAS_UNMAP: returns the bytes unmapped. */
export function ioasUnmap(
  w: World,
  ioasId: number,
  iova: number | bigint,
  length: number | bigint,
): bigint {
  return ioctlStruct(w, IOMMU_IOAS_UNMAP, iommu_ioas_unmap, {
    size: 0,
    ioas_id: ioasId,
    iova: BigInt(iova),
    length: BigInt(length),
  }).length;
}

export function ioasCopy(
  w: World,
  dst: number,
  src: number,
  srcIova: number | bigint,
  length: number | bigint,
  dstIova?: number | bigint,
  flags = MAP_RW,
): bigint {
  const f =
    dstIova === undefined ? flags & ~IOMMU_IOAS_MAP_FIXED_IOVA : flags | IOMMU_IOAS_MAP_FIXED_IOVA;
  return ioctlStruct(w, IOMMU_IOAS_COPY, iommu_ioas_copy, {
    size: 0,
    flags: f,
    dst_ioas_id: dst,
    src_ioas_id: src,
    length: BigInt(length),
    dst_iova: BigInt(dstIova ?? 0),
    src_iova: BigInt(srcIova),
  }).dst_iova;
}

/** IOMMU_IOAS_ALLOW_IOVAS with `ranges` as [start, last] pairs. */
export function allowIovas(
  w: World,
  ioasId: number,
  ranges: readonly (readonly [bigint, bigint])[],
) {
  const va = w.p.malloc(Math.max(1, ranges.length) * iommu_iova_range.size);
  for (const [i, [start, last]] of ranges.entries()) {
    w.p.poke(va + i * iommu_iova_range.size, iommu_iova_range.encode({ start, last }));
  }
  ioctlStruct(w, IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, {
    size: 0,
    ioas_id: ioasId,
    num_iovas: ranges.length,
    allowed_iovas: BigInt(va),
  });
}

/** IOMMU_IOAS_IOVA_RANGES with room for `room` entries: the answer and the ranges written. */
export function iovaRanges(w: World, ioasId: number, room = 16) {
  const va = w.p.malloc(Math.max(1, room) * iommu_iova_range.size);
  let err: unknown = null;
  let out: StructValue<typeof iommu_ioas_iova_ranges> | null = null;
  try {
    out = ioctlStruct(w, IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, {
      size: 0,
      ioas_id: ioasId,
      num_iovas: room,
      allowed_iovas: BigInt(va),
    });
  } catch (e) {
    err = e;
    out = iommu_ioas_iova_ranges.decode(w.p.peek(w.arg, iommu_ioas_iova_ranges.size));
  }
  const ranges: [bigint, bigint][] = [];
  for (let i = 0; i < Math.min(room, out.num_iovas); i++) {
    const r = iommu_iova_range.decode(w.p.peek(va + i * 16, 16));
    ranges.push([r.start, r.last]);
  }
  return { out, ranges, err };
}

export function optionGet(w: World, optionId: number, objectId: number): bigint {
  return ioctlStruct(w, IOMMU_OPTION, iommu_option, {
    size: 0,
    option_id: optionId,
    op: IOMMU_OPTION_OP_GET,
    object_id: objectId,
  }).val64;
}

export function optionSet(w: World, optionId: number, objectId: number, val: bigint): void {
  ioctlStruct(w, IOMMU_OPTION, iommu_option, {
    size: 0,
    option_id: optionId,
    op: IOMMU_OPTION_OP_SET,
    object_id: objectId,
    val64: val,
  });
}

/**
 * Anonymous shared memory aligned to a huge page, as the selftests' `buffer` (posix_memalign to
 * HUGEPAGE_SIZE, then MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED over it): the alignment of the VA
 * drives the automatic IOVA alignment.
 */
export function buffer(w: World, size: number): number {
  const HUGE = 2 * 1024 * 1024;
  const len = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
  const raw = w.p.mmap(0, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const va = Math.ceil(raw / HUGE) * HUGE;
  if (va > raw) w.p.munmap(raw, va - raw);
  if (raw + len + HUGE > va + len) w.p.munmap(va + len, raw + len + HUGE - (va + len));
  const MAP_FIXED = 0x10;
  w.p.mmap(va, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  return va;
}

/** A memfd of `size` bytes, written so every page exists, and a shared mapping of it. */
export function memfd(w: World, size: number): { mfd: number; va: number } {
  const mfd = w.p.memfdCreate("iommufd-test");
  const tmp = w.p.malloc(size);
  w.p.write(mfd, tmp, size);
  w.p.munmap(tmp, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE);
  const va = w.p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  // Fault the mapping in, so the test can see which frames back it.
  w.p.peek(va, size);
  return { mfd, va };
}

/**
 * A paging domain of the SMMU for `DMA_TEST_DEV` after unbinding its driver: what an attached
 * HWPT would give the IOAS, without the device layer.
 */
export function smmuDomain(w: World): IommuDomain {
  w.p.writeFile(`/sys/bus/platform/devices/${DMA_TEST_DEV}/driver/unbind`, DMA_TEST_DEV);
  const dev = w.kernel.drivers.findDevice("platform", DMA_TEST_DEV);
  if (!dev) throw new Error(`no platform device ${DMA_TEST_DEV}`);
  return w.kernel.iommu.iommuPagingDomainAlloc(dev);
}

/** The loaded module (for leak checks). */
export function iommufd(w: World) {
  return iommufdOf(w.kernel);
}
