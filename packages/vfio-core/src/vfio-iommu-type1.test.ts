/**
 * The type1 backend driven the way container.c drives it: a board group whose kernel driver was
 * unbound through sysfs and whose DMA ownership was claimed, the backend's ops called directly,
 * and every ioctl argument a struct in the calling process's memory. Cases follow the kernel
 * selftests (vfio_dma_mapping_test, vfio_dma_map_limit_test) and every errno of
 * vfio_iommu_type1.c's user paths.
 */

import { test as fcTest } from "@fast-check/vitest";
import { boards, DMA_TEST_STATUS, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import {
  __VFIO_RESERVED_TYPE1_NESTING_IOMMU,
  type ErrnoName,
  IOMMU_READ,
  IOMMU_WRITE,
  IommuGroup,
  Kernel,
  KernelBug,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type SpawnOptions,
  type StructLayout,
  type StructValue,
  SysError,
  TAINT_WARN,
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_CC_IOMMU,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
  vfio_bitmap,
  vfio_info_cap_header,
  vfio_iommu_type1_dirty_bitmap,
  vfio_iommu_type1_dirty_bitmap_get,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_cap_migration,
  vfio_iommu_type1_info_dma_avail,
} from "@vfio-lab/kernel";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  type BoardDev,
  coreSetup,
  DMAT0,
  dmaTestCopy,
  dmesg,
  getDeviceFd,
  iommuGroupOf,
  setContainer,
  unbindDriver,
  XGMAC,
} from "../test/core-fixture.js";
import { VFIO_EMULATED_IOMMU, VFIO_IOMMU, VfioCoreDevice, type VfioDeviceOps } from "./vfio.js";
import {
  DIRTY_BITMAP_SIZE_MAX,
  type VfioIommu,
  VfioIommuType1,
  type VfioIommuType1Params,
  vfioIommuType1Of,
} from "./vfio-iommu-type1.js";
import { vfioOf } from "./vfio-main.js";
import { vfioIommuType1Module } from "./vfio-modules.js";

const U64_MAX = (1n << 64n) - 1n;
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
/** The SMMU's software MSI window (IOMMU_RESV_SW_MSI): 0x8000000 + 1 MiB. */
const MSI_BASE = 0x800_0000n;
const MSI_END = 0x80f_ffffn;
/** An IOVA well inside the valid ranges. */
const IOVA = 0x1000_0000n;
/** The SMMU domain's aperture end (48-bit input addresses). */
const APERTURE_END = (1n << 48n) - 1n;

interface World {
  readonly soc: Soc;
  readonly kernel: Kernel;
  readonly t: VfioIommuType1;
  readonly p: Process;
  /** Scratch user memory for ioctl structs. */
  readonly arg: number;
  /** IOMMU group 1 (c030000.dma-test), unbound and owned by the test. */
  readonly group: IommuGroup;
}

interface WorldOptions {
  readonly params?: Partial<VfioIommuType1Params>;
  readonly spawn?: SpawnOptions;
}

/** Unbinds the kernel driver of a platform device and claims its group, as VFIO would. */
function claimGroup(kernel: Kernel, dev: BoardDev): IommuGroup {
  const admin = kernel.spawn({ comm: "admin" });
  unbindDriver(admin, dev);
  admin.exit();
  const group = iommuGroupOf({ kernel }, dev);
  kernel.iommu.iommuGroupClaimDmaOwner(group, { owner: dev.name });
  return group;
}

/** A booted board, the backend (not yet a module), a VMM process and group 1 claimed. */
function setup(o: WorldOptions = {}): World {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const kernel = Kernel.boot(soc, { cmdline: "" });
  const t = new VfioIommuType1(kernel, {
    allow_unsafe_interrupts: true,
    disable_hugepages: false,
    dma_entry_limit: 0xffff,
    ...o.params,
  });
  const p = kernel.spawn(o.spawn ?? { comm: "vmm" });
  const group = claimGroup(kernel, DMAT0);
  return { soc, kernel, t, p, arg: p.malloc(PAGE_SIZE), group };
}

/** VFIO_SET_IOMMU as container.c does it: open, then attach every group. */
function setIommu(w: World, type = VFIO_TYPE1v2_IOMMU): VfioIommu {
  const iommu = w.t.ops.open(w.p, type);
  w.t.ops.attachGroup(iommu, w.group, VFIO_IOMMU);
  return iommu;
}

/** The bytes the last ioctl helper put in user memory (what a failed ioctl must leave). */
let lastRequest: Uint8Array = new Uint8Array(0);

/** Writes `value` (with `argsz`) at the scratch address, issues `cmd`, decodes the reply. */
function ioctlStruct<L extends StructLayout>(
  w: World,
  iommu: VfioIommu,
  cmd: number,
  layout: L,
  value: Parameters<L["encode"]>[0],
  opts: { argsz?: number; p?: Process; arg?: number } = {},
): StructValue<L> {
  const p = opts.p ?? w.p;
  const arg = opts.arg ?? w.arg;
  const bytes = layout.encode(value as never);
  new DataView(bytes.buffer).setUint32(0, opts.argsz ?? layout.size, true);
  p.poke(arg, bytes);
  lastRequest = bytes;
  w.t.ops.ioctl(iommu, p, cmd, arg);
  return layout.decode(p.peek(arg, layout.size)) as StructValue<L>;
}

interface MapArgs {
  readonly vaddr: number | bigint;
  readonly iova: bigint;
  readonly size: number | bigint;
  readonly flags?: number;
  readonly argsz?: number;
  readonly p?: Process;
}

function mapDma(w: World, iommu: VfioIommu, a: MapArgs): void {
  ioctlStruct(
    w,
    iommu,
    VFIO_IOMMU_MAP_DMA,
    vfio_iommu_type1_dma_map,
    {
      argsz: 0,
      flags: a.flags ?? RW,
      vaddr: BigInt(a.vaddr),
      iova: a.iova,
      size: BigInt(a.size),
    },
    { ...(a.argsz !== undefined && { argsz: a.argsz }), ...(a.p && { p: a.p }) },
  );
}

/** VFIO_IOMMU_UNMAP_DMA; returns the `size` user space reads back. */
function unmapDma(
  w: World,
  iommu: VfioIommu,
  iova: bigint,
  size: bigint,
  flags = 0,
  argsz?: number,
): bigint {
  return ioctlStruct(
    w,
    iommu,
    VFIO_IOMMU_UNMAP_DMA,
    vfio_iommu_type1_dma_unmap,
    { argsz: 0, flags, iova, size },
    argsz === undefined ? {} : { argsz },
  ).size;
}

/** User memory of `pages` pages, faulted in. */
function buffer(p: Process, pages: number): number {
  const va = p.malloc(pages * PAGE_SIZE);
  for (let i = 0; i < pages; i++) p.poke(va + i * PAGE_SIZE, new Uint8Array([i & 0xff]));
  return va;
}

/** The domain group 1 translates through. */
function domainOf(w: World, iommu: VfioIommu) {
  const d = w.t.ops.groupIommuDomain?.(iommu, w.group);
  if (!d) throw new Error("group 1 has no type1 domain");
  return d;
}

/** The physical address of a user page, as the CPU sees it. */
function physOf(p: Process, va: number): number {
  return p.mm.translate(va) * PAGE_SIZE + (va % PAGE_SIZE);
}

/** What must be back to its starting point when an operation fails or everything is gone. */
function snapshot(w: World, iommu: VfioIommu | null) {
  return {
    pins: w.kernel.allocator.totalPins,
    lockedVm: w.p.mm.lockedVm,
    dmas: iommu?.dmas().map((d) => [d.iova, d.size, d.vaddr, d.vaddrInvalid]) ?? [],
    dmaAvail: iommu?.dmaAvail,
    iovaList: iommu ? iommu.iovaList.map((r) => [r.start, r.end]) : [],
    domains: iommu?.domainList.length,
    groupDomain: w.group.domain,
    vaddrInvalid: iommu?.vaddrInvalidCount,
  };
}

// ---------------------------------------------------------------------------------------------

describe("vfio_iommu_type1_open", () => {
  test("TYPE1 opens v1, TYPE1v2 and the retired nesting number open v2", () => {
    const w = setup();
    expect(w.t.ops.open(w.p, VFIO_TYPE1_IOMMU).v2).toBe(false);
    expect(w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU).v2).toBe(true);
    expect(w.t.ops.open(w.p, __VFIO_RESERVED_TYPE1_NESTING_IOMMU).v2).toBe(true);
  });

  test("any other type is EINVAL", () => {
    const w = setup();
    expect(() => w.t.ops.open(w.p, VFIO_NOIOMMU_IOMMU)).toThrowErrno("EINVAL");
    expect(() => w.t.ops.open(w.p, 0)).toThrowErrno("EINVAL");
  });

  test("ENOMEM when the instance cannot be allocated", () => {
    const w = setup();
    w.kernel.allocator.setFailHook((site) => site === "kzalloc");
    expect(() => w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU)).toThrowErrno("ENOMEM");
  });

  test("a new instance has dma_entry_limit mappings available and page-sized pages", () => {
    const w = setup({ params: { dma_entry_limit: 7 } });
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    expect(iommu.dmaAvail).toBe(7);
    expect(iommu.pgsizeBitmap).toBe(U64_MAX & ~0xfffn);
    expect(iommu.iovaList).toEqual([]);
  });
});

describe("VFIO_CHECK_EXTENSION", () => {
  const ask = (w: World, iommu: VfioIommu | null, ext: number) =>
    w.t.ops.ioctl(iommu, w.p, VFIO_CHECK_EXTENSION, ext);

  test("before VFIO_SET_IOMMU: TYPE1, TYPE1v2 and UNMAP_ALL only", () => {
    const w = setup();
    expect(ask(w, null, VFIO_TYPE1_IOMMU)).toBe(1);
    expect(ask(w, null, VFIO_TYPE1v2_IOMMU)).toBe(1);
    expect(ask(w, null, VFIO_UNMAP_ALL)).toBe(1);
    expect(ask(w, null, VFIO_UPDATE_VADDR)).toBe(0);
    expect(ask(w, null, VFIO_DMA_CC_IOMMU)).toBe(0);
    expect(ask(w, null, __VFIO_RESERVED_TYPE1_NESTING_IOMMU)).toBe(0);
    expect(ask(w, null, VFIO_NOIOMMU_IOMMU)).toBe(0);
  });

  test("UPDATE_VADDR with an instance, until an emulated group joins", () => {
    const w = setup();
    const iommu = setIommu(w);
    expect(ask(w, iommu, VFIO_UPDATE_VADDR)).toBe(1);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    expect(ask(w, iommu, VFIO_UPDATE_VADDR)).toBe(0);
  });

  test("DMA_CC_IOMMU: the SMMU cannot enforce snooping for a platform master", () => {
    const w = setup();
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    // No domain: nothing to disagree.
    expect(ask(w, iommu, VFIO_DMA_CC_IOMMU)).toBe(1);
    w.t.ops.attachGroup(iommu, w.group, VFIO_IOMMU);
    expect(iommu.domainList[0]?.enforceCacheCoherency).toBe(false);
    expect(ask(w, iommu, VFIO_DMA_CC_IOMMU)).toBe(0);
  });

  test("an unknown request is ENOTTY", () => {
    const w = setup();
    const iommu = setIommu(w);
    expect(() => w.t.ops.ioctl(iommu, w.p, 0x3b00 + 99, 0)).toThrowErrno("ENOTTY");
  });
});

describe("vfio_iommu_type1_attach_group", () => {
  test("the group gets a paging domain; the IOVA ranges are its aperture minus the MSI window", () => {
    const w = setup();
    const iommu = setIommu(w);
    const domain = domainOf(w, iommu);
    expect(w.group.domain).toBe(domain);
    expect(iommu.domainList).toHaveLength(1);
    expect(iommu.iovaList).toEqual([
      { start: 0n, end: MSI_BASE - 1n },
      { start: MSI_END + 1n, end: APERTURE_END },
    ]);
    expect(iommu.pgsizeBitmap).toBe(BigInt(domain.pgsizeBitmap));
    expect(domain.cookieType).toBe("dma-msi");
    expect(iommu.numNonPinnedGroups).toBe(1);
  });

  test("without interrupt remapping and allow_unsafe_interrupts: EPERM and the 7.3 warning", () => {
    const w = setup({ params: { allow_unsafe_interrupts: false } });
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    const before = snapshot(w, iommu);
    expect(() => w.t.ops.attachGroup(iommu, w.group, VFIO_IOMMU)).toThrowErrno("EPERM");
    expect(dmesg(w)).toContain(
      'vfio_iommu_type1_attach_group: No interrupt remapping support.  Use the module param "allow_unsafe_interrupts" to enable VFIO IOMMU support on this platform',
    );
    expect(snapshot(w, iommu)).toEqual(before);
    expect(w.group.domain).toBe(w.group.blockingDomain);
  });

  test("a group attached already is EINVAL", () => {
    const w = setup();
    const iommu = setIommu(w);
    expect(() => w.t.ops.attachGroup(iommu, w.group, VFIO_IOMMU)).toThrowErrno("EINVAL");
    const emu = new IommuGroup(100);
    w.t.ops.attachGroup(iommu, emu, VFIO_EMULATED_IOMMU);
    expect(() => w.t.ops.attachGroup(iommu, emu, VFIO_EMULATED_IOMMU)).toThrowErrno("EINVAL");
  });

  test("while a vaddr is invalidated: EBUSY", () => {
    const w = setup();
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    unmapDma(w, iommu, IOVA, BigInt(PAGE_SIZE), VFIO_DMA_UNMAP_FLAG_VADDR);
    const g0 = claimGroup(w.kernel, XGMAC);
    expect(() => w.t.ops.attachGroup(iommu, g0, VFIO_IOMMU)).toThrowErrno("EBUSY");
    expect(g0.domain).toBe(g0.blockingDomain);
  });

  test("a mapping where the new group has a reserved region: EINVAL, nothing changes", () => {
    const w = setup();
    // An emulated group alone: no IOVA restriction, so the MSI window can be mapped.
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: MSI_BASE, size: PAGE_SIZE });
    const before = snapshot(w, iommu);
    expect(() => w.t.attachGroup(iommu, w.group, VFIO_IOMMU, w.p)).toThrowErrno("EINVAL");
    expect(snapshot(w, iommu)).toEqual(before);
  });

  test("a mapping outside the new domain's aperture: EINVAL, nothing changes", () => {
    const w = setup();
    const iommu = setIommu(w);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    // With the real group gone the valid range is all of u64: map above the SMMU's aperture.
    w.t.ops.detachGroup(iommu, w.group);
    expect(iommu.iovaList).toEqual([{ start: 0n, end: U64_MAX }]);
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: APERTURE_END + 1n, size: PAGE_SIZE });
    const before = snapshot(w, iommu);
    expect(() => w.t.attachGroup(iommu, w.group, VFIO_IOMMU, w.p)).toThrowErrno("EINVAL");
    expect(snapshot(w, iommu)).toEqual(before);
  });

  test("an emulated group is only recorded: no domain, no IOVA restriction", () => {
    const w = setup();
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    expect(iommu.domainList).toHaveLength(0);
    expect(iommu.emulatedIommuGroups).toHaveLength(1);
    expect(iommu.emulatedIommuGroups[0]?.pinnedPageDirtyScope).toBe(true);
    expect(iommu.numNonPinnedGroups).toBe(0);
    // Any IOVA, even the top page, and nothing is pinned.
    const pins = w.kernel.allocator.totalPins;
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: U64_MAX - 0xfffn, size: PAGE_SIZE });
    expect(w.kernel.allocator.totalPins).toBe(pins);
    expect(w.p.mm.lockedVm).toBe(0);
  });

  test("a second group of the same IOMMU joins the first group's domain", () => {
    const w = setup();
    const iommu = setIommu(w);
    const va = buffer(w.p, 4);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 4 * PAGE_SIZE });
    const g0 = claimGroup(w.kernel, XGMAC);
    w.t.ops.attachGroup(iommu, g0, VFIO_IOMMU);
    expect(iommu.domainList).toHaveLength(1);
    expect(iommu.domainList[0]?.groupList.map((g) => g.iommuGroup)).toEqual([g0, w.group]);
    expect(g0.domain).toBe(w.group.domain);
    expect(iommu.numNonPinnedGroups).toBe(2);
  });

  test("the first real group after emulated ones replays the mappings: pinned now", () => {
    const w = setup();
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    const va = buffer(w.p, 3);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 3 * PAGE_SIZE });
    const pins = w.kernel.allocator.totalPins;
    w.t.attachGroup(iommu, w.group, VFIO_IOMMU, w.p);
    expect(w.kernel.allocator.totalPins).toBe(pins + 3);
    expect(w.p.mm.lockedVm).toBe(3);
    const domain = domainOf(w, iommu);
    for (let i = 0; i < 3; i++) {
      expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(IOVA) + i * PAGE_SIZE)).toBe(
        physOf(w.p, va + i * PAGE_SIZE),
      );
    }
    expect(iommu.dmas()[0]?.iommuMapped).toBe(true);
  });

  test("replay without a task to pin for (a kernel thread) is ENODEV and undone", () => {
    const w = setup();
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA, size: 2 * PAGE_SIZE });
    const before = snapshot(w, iommu);
    expect(() => w.t.ops.attachGroup(iommu, w.group, VFIO_IOMMU)).toThrowErrno("ENODEV");
    expect(snapshot(w, iommu)).toEqual(before);
  });

  test("replay past RLIMIT_MEMLOCK is ENOMEM and unpins what it pinned", () => {
    const w = setup({ spawn: { comm: "vmm", uid: 1000, rlimits: { memlock: 2 * PAGE_SIZE } } });
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA, size: 2 * PAGE_SIZE });
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA + 0x10_0000n, size: 2 * PAGE_SIZE });
    const before = snapshot(w, iommu);
    expect(() => w.t.attachGroup(iommu, w.group, VFIO_IOMMU, w.p)).toThrowErrno("ENOMEM");
    expect(snapshot(w, iommu)).toEqual(before);
    expect(dmesg(w).at(-1)).toBe("vfio_pin_pages_remote: RLIMIT_MEMLOCK (8192) exceeded");
  });
});

describe("vfio_iommu_type1_attach_group under fault injection", () => {
  test("a fault at any allocation or pin of an attach with replay leaves nothing behind", () => {
    const board = setup();
    const refused = new Set<string>();
    for (let nth = 1; ; nth++) {
      const w = { ...board, p: board.kernel.spawn({ comm: "vmm" }) };
      const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
      w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
      mapDma(w, iommu, { vaddr: buffer(w.p, 3), iova: IOVA, size: 3 * PAGE_SIZE });
      mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA + 0x10_0000n, size: 2 * PAGE_SIZE });
      const before = snapshot(w, iommu);
      let calls = 0;
      w.kernel.allocator.setFailHook(() => ++calls === nth);
      let err: unknown = null;
      try {
        w.t.attachGroup(iommu, w.group, VFIO_IOMMU, w.p);
      } catch (e) {
        err = e;
      } finally {
        w.kernel.allocator.setFailHook(undefined);
      }
      if (err !== null) refused.add((err as SysError).fn);
      if (err === null) {
        expect(iommu.dmas().every((d) => d.iommuMapped)).toBe(true);
        expect(w.p.mm.lockedVm).toBe(5);
      } else if ((err as SysError).fn === "iommu_get_msi_cookie") {
        // 7.3 jumps to out_detach after the replay without undoing it: the replayed pins and
        // their charge stay with no domain left to find them. Kept as Linux has it.
        expect(snapshot(w, iommu)).toEqual({ ...before, pins: before.pins + 5, lockedVm: 5 });
      } else {
        expect(SysError.isInstance(err)).toBe(true);
        expect(snapshot(w, iommu)).toEqual(before);
      }
      w.t.ops.release(iommu);
      w.p.exit();
      if (calls < nth) break;
    }
    expect(refused).toContain("vfio_iommu_type1_attach_group");
    expect(refused).toContain("iommu_get_msi_cookie");
    expect(refused.size).toBeGreaterThanOrEqual(4);
  });
});

describe("vfio_iommu_type1_detach_group", () => {
  test("the last group takes its domain and every mapping with it", () => {
    const w = setup();
    const start = snapshot(w, null);
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 8), iova: IOVA, size: 8 * PAGE_SIZE });
    w.t.ops.detachGroup(iommu, w.group);
    expect(iommu.domainList).toHaveLength(0);
    expect(iommu.dmas()).toEqual([]);
    expect(iommu.dmaAvail).toBe(0xffff);
    expect(w.kernel.allocator.totalPins).toBe(start.pins);
    expect(w.p.mm.lockedVm).toBe(0);
    expect(w.group.domain).toBe(w.group.blockingDomain);
    // aper_expand() with no domain left opens the whole space; the page size is PAGE_SIZE's.
    expect(iommu.iovaList).toEqual([{ start: 0n, end: U64_MAX }]);
    expect(iommu.pgsizeBitmap).toBe(U64_MAX & ~0xfffn);
    expect(iommu.numNonPinnedGroups).toBe(0);
  });

  test("one of two groups: the shared domain and the mappings stay", () => {
    const w = setup();
    const iommu = setIommu(w);
    const g0 = claimGroup(w.kernel, XGMAC);
    w.t.ops.attachGroup(iommu, g0, VFIO_IOMMU);
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    w.t.ops.detachGroup(iommu, g0);
    expect(g0.domain).toBe(g0.blockingDomain);
    expect(iommu.domainList[0]?.groupList.map((g) => g.iommuGroup)).toEqual([w.group]);
    expect(iommu.dmas()).toHaveLength(1);
  });

  test("the last real group with an emulated one left: the pins go, the mappings stay", () => {
    const w = setup();
    const iommu = setIommu(w);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    const pins = w.kernel.allocator.totalPins;
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA, size: 2 * PAGE_SIZE });
    w.t.ops.detachGroup(iommu, w.group);
    expect(w.kernel.allocator.totalPins).toBe(pins);
    expect(w.p.mm.lockedVm).toBe(0);
    expect(iommu.dmas().map((d) => [d.iova, d.size, d.iommuMapped])).toEqual([
      [IOVA, 2n * BigInt(PAGE_SIZE), false],
    ]);
  });
});

describe("VFIO_IOMMU_GET_INFO", () => {
  const CAPS = 32 + 16 + (16 + 2 * 16);

  test("page sizes and the MIGRATION, DMA_AVAIL and IOVA_RANGE capabilities", () => {
    const w = setup();
    const iommu = setIommu(w);
    const argsz = vfio_iommu_type1_info.size + CAPS;
    const info = ioctlStruct(
      w,
      iommu,
      VFIO_IOMMU_GET_INFO,
      vfio_iommu_type1_info,
      { argsz: 0 },
      { argsz },
    );
    expect(info.flags).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
    expect(info.argsz).toBe(argsz);
    expect(info.iova_pgsizes).toBe(BigInt(domainOf(w, iommu).pgsizeBitmap));
    expect(info.cap_offset).toBe(24);
    const buf = w.p.peek(w.arg, argsz);
    const hdr = (at: number) => vfio_info_cap_header.decode(buf, at);
    expect(hdr(24)).toEqual({ id: VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, version: 1, next: 56 });
    expect(vfio_iommu_type1_info_cap_migration.decode(buf, 24)).toMatchObject({
      flags: 0,
      pgsize_bitmap: 4096n,
      max_dirty_bitmap_size: BigInt(DIRTY_BITMAP_SIZE_MAX),
    });
    expect(DIRTY_BITMAP_SIZE_MAX).toBe(256n * 1024n * 1024n);
    expect(hdr(56)).toEqual({ id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: 1, next: 72 });
    expect(vfio_iommu_type1_info_dma_avail.decode(buf, 56).avail).toBe(0xffff);
    expect(hdr(72)).toEqual({ id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1, next: 0 });
    expect(vfio_iommu_type1_info_cap_iova_range.decode(buf, 72, 2)).toMatchObject({
      nr_iovas: 2,
      iova_ranges: [
        { start: 0n, end: MSI_BASE - 1n },
        { start: MSI_END + 1n, end: APERTURE_END },
      ],
    });
  });

  test.each([
    [16, 16],
    [20, 20],
    [24, 24],
    [24 + CAPS - 1, 24],
  ])(
    "argsz %i: too small for the chain — argsz says what is needed, %i bytes written",
    (argsz, written) => {
      const w = setup();
      const iommu = setIommu(w);
      const sentinel = new Uint8Array(200).fill(0xa5);
      w.p.poke(w.arg, sentinel);
      w.p.poke(w.arg, vfio_iommu_type1_info.encode({ argsz }).subarray(0, 16));
      w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_GET_INFO, w.arg);
      const out = w.p.peek(w.arg, 200);
      const info = vfio_iommu_type1_info.decodePartial(out.subarray(0, written));
      expect(info.argsz).toBe(24 + CAPS);
      expect(info.flags).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
      expect(info.cap_offset).toBe(0);
      // Nothing past min(argsz, sizeof(info)) is touched.
      expect([...out.subarray(written)].every((b) => b === 0xa5)).toBe(true);
    },
  );

  test("argsz below iova_pgsizes is EINVAL", () => {
    const w = setup();
    const iommu = setIommu(w);
    expect(() =>
      ioctlStruct(
        w,
        iommu,
        VFIO_IOMMU_GET_INFO,
        vfio_iommu_type1_info,
        { argsz: 0 },
        { argsz: 15 },
      ),
    ).toThrowErrno("EINVAL");
  });

  test("an unreadable argument is EFAULT", () => {
    const w = setup();
    const iommu = setIommu(w);
    expect(() => w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_GET_INFO, 0x10)).toThrowErrno("EFAULT");
  });

  test("DMA_AVAIL counts down with each mapping", () => {
    const w = setup({ params: { dma_entry_limit: 5 } });
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    ioctlStruct(w, iommu, VFIO_IOMMU_GET_INFO, vfio_iommu_type1_info, { argsz: 0 }, { argsz: 200 });
    expect(vfio_iommu_type1_info_dma_avail.decode(w.p.peek(w.arg, 200), 56).avail).toBe(4);
  });

  test("with only emulated groups there is no IOVA_RANGE capability", () => {
    const w = setup();
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    const info = ioctlStruct(
      w,
      iommu,
      VFIO_IOMMU_GET_INFO,
      vfio_iommu_type1_info,
      { argsz: 0 },
      { argsz: 16 },
    );
    expect(info.argsz).toBe(24 + 32 + 16);
    expect(info.iova_pgsizes).toBe(U64_MAX & ~0xfffn);
  });
});

describe("VFIO_IOMMU_MAP_DMA", () => {
  test("the device reaches the user's pages through the domain, and not after UNMAP", () => {
    const w = setup();
    const iommu = setIommu(w);
    const pins = w.kernel.allocator.totalPins;
    const va = buffer(w.p, 4);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 4 * PAGE_SIZE });
    const domain = domainOf(w, iommu);
    for (let i = 0; i < 4; i++) {
      expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(IOVA) + i * PAGE_SIZE + 8)).toBe(
        physOf(w.p, va + i * PAGE_SIZE + 8),
      );
    }
    expect(w.kernel.allocator.totalPins).toBe(pins + 4);
    expect(w.p.mm.lockedVm).toBe(4);
    // The engine copies page 0 to page 2 through the SMMU.
    w.p.poke(va, new TextEncoder().encode("through the SMMU"));
    expect(
      dmaTestCopy(w, DMAT0, IOVA + 2n * BigInt(PAGE_SIZE), IOVA, 16) & DMA_TEST_STATUS.ERROR,
    ).toBe(0);
    expect(new TextDecoder().decode(w.p.peek(va + 2 * PAGE_SIZE, 16))).toBe("through the SMMU");

    expect(unmapDma(w, iommu, IOVA, 4n * BigInt(PAGE_SIZE))).toBe(4n * BigInt(PAGE_SIZE));
    expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(IOVA))).toBe(0);
    expect(w.kernel.allocator.totalPins).toBe(pins);
    expect(w.p.mm.lockedVm).toBe(0);
    expect(
      dmaTestCopy(w, DMAT0, IOVA + 2n * BigInt(PAGE_SIZE), IOVA, 16) & DMA_TEST_STATUS.ERROR,
    ).not.toBe(0);
  });

  test("a read-only mapping: the device may read but not write", () => {
    const w = setup();
    const iommu = setIommu(w);
    const va = buffer(w.p, 2);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: PAGE_SIZE, flags: VFIO_DMA_MAP_FLAG_READ });
    mapDma(w, iommu, { vaddr: va + PAGE_SIZE, iova: IOVA + 0x1000n, size: PAGE_SIZE });
    expect(iommu.dmas().map((d) => d.prot)).toEqual([IOMMU_READ, IOMMU_READ | IOMMU_WRITE]);
    expect(dmaTestCopy(w, DMAT0, IOVA + 0x1000n, IOVA, 8) & DMA_TEST_STATUS.ERROR).toBe(0);
    expect(dmaTestCopy(w, DMAT0, IOVA, IOVA + 0x1000n, 8) & DMA_TEST_STATUS.ERROR).not.toBe(0);
  });

  test("physically contiguous pages are pinned and mapped as runs, not page by page", () => {
    const w = setup();
    const iommu = setIommu(w);
    const events: { size: number }[] = [];
    w.kernel.trace.subscribe((e) => {
      if (e.type === "iommu:map") events.push(e as unknown as { size: number });
    });
    // Fresh anonymous memory faults in as ascending frames: mostly one run.
    const va = buffer(w.p, 512);
    mapDma(w, iommu, { vaddr: va, iova: 0x4000_0000n, size: 512 * PAGE_SIZE });
    const mapped = events.reduce((s, e) => s + e.size, 0);
    expect(mapped).toBe(512 * PAGE_SIZE);
    expect(events.length).toBeLessThan(8);
  });

  test("a PFN map of another device's MMIO maps without pinning (dma_mapping_mmio map_full_bar)", () => {
    const w = setup();
    const iommu = setIommu(w);
    const pins = w.kernel.allocator.totalPins;
    // What a VFIO device fd's mmap of a region does: remap_pfn_range() of its MMIO.
    const bar = 0x0c03_1000; // c031000.dma-test's registers
    const va = w.p.mm.mmap({
      addr: 0,
      length: PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_SHARED,
      file: { mmap: (vma) => vma.remapPfnRange(bar / PAGE_SIZE, PAGE_SIZE) },
    });
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: PAGE_SIZE });
    expect(w.kernel.iommu.iommuIovaToPhys(domainOf(w, iommu), Number(IOVA))).toBe(bar);
    expect(iommu.dmas()[0]?.hasRsvd).toBe(true);
    expect(w.kernel.allocator.totalPins).toBe(pins);
    expect(w.p.mm.lockedVm).toBe(0);
    expect(unmapDma(w, iommu, IOVA, BigInt(PAGE_SIZE))).toBe(BigInt(PAGE_SIZE));
    expect(w.kernel.iommu.iommuIovaToPhys(domainOf(w, iommu), Number(IOVA))).toBe(0);
  });

  test("disable_hugepages: one page per iommu_map()", () => {
    const w = setup({ params: { disable_hugepages: true } });
    const iommu = setIommu(w);
    let maps = 0;
    w.kernel.trace.subscribe((e) => {
      if (e.type === "iommu:map") maps++;
    });
    mapDma(w, iommu, { vaddr: buffer(w.p, 16), iova: IOVA, size: 16 * PAGE_SIZE });
    expect(maps).toBe(16);
    expect(w.p.mm.lockedVm).toBe(16);
  });

  describe("errors, in vfio_dma_do_map()'s order, leave nothing behind", () => {
    const cases: [string, string, (w: World, iommu: VfioIommu, va: number) => void][] = [
      [
        "an unreadable argument",
        "EFAULT",
        (w, iommu) => {
          w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_MAP_DMA, 0x10);
        },
      ],
      [
        "argsz below sizeof",
        "EINVAL",
        (w, iommu, va) => mapDma(w, iommu, { vaddr: va, iova: IOVA, size: PAGE_SIZE, argsz: 31 }),
      ],
      [
        "an unknown flag",
        "EINVAL",
        (w, iommu, va) =>
          mapDma(w, iommu, { vaddr: va, iova: IOVA, size: PAGE_SIZE, flags: RW | (1 << 3) }),
      ],
      ["size 0", "EINVAL", (w, iommu, va) => mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 0 })],
      [
        "iova + size wrapping",
        "EOVERFLOW",
        (w, iommu, va) =>
          mapDma(w, iommu, { vaddr: va, iova: U64_MAX & ~0xfffn, size: 2 * PAGE_SIZE }),
      ],
      [
        "vaddr + size wrapping",
        "EOVERFLOW",
        (w, iommu) =>
          mapDma(w, iommu, { vaddr: U64_MAX & ~0xfffn, iova: IOVA, size: 2 * PAGE_SIZE }),
      ],
      [
        "neither READ nor WRITE",
        "EINVAL",
        (w, iommu, va) => mapDma(w, iommu, { vaddr: va, iova: IOVA, size: PAGE_SIZE, flags: 0 }),
      ],
      [
        "READ with VADDR",
        "EINVAL",
        (w, iommu, va) =>
          mapDma(w, iommu, {
            vaddr: va,
            iova: IOVA,
            size: PAGE_SIZE,
            flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_VADDR,
          }),
      ],
      [
        "an unaligned size",
        "EINVAL",
        (w, iommu, va) => mapDma(w, iommu, { vaddr: va, iova: IOVA, size: PAGE_SIZE + 512 }),
      ],
      [
        "an unaligned iova",
        "EINVAL",
        (w, iommu, va) => mapDma(w, iommu, { vaddr: va, iova: IOVA + 512n, size: PAGE_SIZE }),
      ],
      [
        "an unaligned vaddr",
        "EINVAL",
        (w, iommu, va) => mapDma(w, iommu, { vaddr: va + 512, iova: IOVA, size: PAGE_SIZE }),
      ],
      [
        "an iova in the MSI window",
        "EINVAL",
        (w, iommu, va) => mapDma(w, iommu, { vaddr: va, iova: MSI_BASE, size: PAGE_SIZE }),
      ],
      [
        "an iova straddling the MSI window",
        "EINVAL",
        (w, iommu, va) =>
          mapDma(w, iommu, { vaddr: va, iova: MSI_BASE - 0x1000n, size: 2 * PAGE_SIZE }),
      ],
      [
        "an iova above the aperture",
        "EINVAL",
        (w, iommu, va) => mapDma(w, iommu, { vaddr: va, iova: APERTURE_END + 1n, size: PAGE_SIZE }),
      ],
      [
        "a vaddr nothing is mapped at",
        "EFAULT",
        (w, iommu) => mapDma(w, iommu, { vaddr: 0x7000_0000_0000n, iova: IOVA, size: PAGE_SIZE }),
      ],
      [
        "a vaddr beyond TASK_SIZE",
        "EFAULT",
        (w, iommu) => mapDma(w, iommu, { vaddr: 1n << 60n, iova: IOVA, size: PAGE_SIZE }),
      ],
    ];
    test.each(cases)("%s: %s", (_what, errno, act) => {
      const w = setup();
      const iommu = setIommu(w);
      const va = buffer(w.p, 2);
      const before = snapshot(w, iommu);
      expect(() => act(w, iommu, va)).toThrowErrno(errno as ErrnoName);
      expect(snapshot(w, iommu)).toEqual(before);
    });

    test("an overlap with an existing mapping: EEXIST", () => {
      const w = setup();
      const iommu = setIommu(w);
      const va = buffer(w.p, 4);
      mapDma(w, iommu, { vaddr: va, iova: IOVA + 0x1000n, size: 2 * PAGE_SIZE });
      const before = snapshot(w, iommu);
      for (const [iova, size] of [
        [IOVA, 2 * PAGE_SIZE],
        [IOVA + 0x2000n, 2 * PAGE_SIZE],
        [IOVA, 4 * PAGE_SIZE],
        [IOVA + 0x1000n, PAGE_SIZE],
      ] as const) {
        expect(() => mapDma(w, iommu, { vaddr: va, iova, size })).toThrowErrno("EEXIST");
      }
      expect(snapshot(w, iommu)).toEqual(before);
    });

    test("dma_entry_limit mappings and no more: ENOSPC", () => {
      const w = setup({ params: { dma_entry_limit: 2 } });
      const iommu = setIommu(w);
      const va = buffer(w.p, 3);
      mapDma(w, iommu, { vaddr: va, iova: IOVA, size: PAGE_SIZE });
      mapDma(w, iommu, { vaddr: va + PAGE_SIZE, iova: IOVA + 0x1000n, size: PAGE_SIZE });
      const before = snapshot(w, iommu);
      expect(() =>
        mapDma(w, iommu, { vaddr: va + 2 * PAGE_SIZE, iova: IOVA + 0x2000n, size: PAGE_SIZE }),
      ).toThrowErrno("ENOSPC");
      expect(snapshot(w, iommu)).toEqual(before);
      unmapDma(w, iommu, IOVA, BigInt(PAGE_SIZE));
      mapDma(w, iommu, { vaddr: va + 2 * PAGE_SIZE, iova: IOVA + 0x2000n, size: PAGE_SIZE });
    });

    test("past RLIMIT_MEMLOCK: ENOMEM with the warning, nothing stays pinned", () => {
      const w = setup({ spawn: { comm: "vmm", uid: 1000, rlimits: { memlock: 4 * PAGE_SIZE } } });
      const iommu = setIommu(w);
      const va = buffer(w.p, 8);
      mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 3 * PAGE_SIZE });
      const before = snapshot(w, iommu);
      expect(() =>
        mapDma(w, iommu, {
          vaddr: va + 3 * PAGE_SIZE,
          iova: IOVA + 0x10_0000n,
          size: 2 * PAGE_SIZE,
        }),
      ).toThrowErrno("ENOMEM");
      expect(snapshot(w, iommu)).toEqual(before);
      expect(dmesg(w).at(-1)).toBe("vfio_pin_pages_remote: RLIMIT_MEMLOCK (16384) exceeded");
      // Exactly the limit is fine.
      mapDma(w, iommu, { vaddr: va + 3 * PAGE_SIZE, iova: IOVA + 0x10_0000n, size: PAGE_SIZE });
      expect(w.p.mm.lockedVm).toBe(4);
    });

    test("CAP_IPC_LOCK maps past RLIMIT_MEMLOCK, still charging locked_vm", () => {
      const w = setup({
        spawn: { comm: "vmm", uid: 1000, caps: ["CAP_IPC_LOCK"], rlimits: { memlock: PAGE_SIZE } },
      });
      const iommu = setIommu(w);
      mapDma(w, iommu, { vaddr: buffer(w.p, 8), iova: IOVA, size: 8 * PAGE_SIZE });
      expect(w.p.mm.lockedVm).toBe(8);
    });

    test("a fault injected at any allocation or pin leaves nothing behind", () => {
      const w = setup();
      const iommu = setIommu(w);
      const va = buffer(w.p, 24);
      const before = snapshot(w, iommu);
      const refused = new Set<string>();
      const map = vfio_iommu_type1_dma_map.encode({
        argsz: 32,
        flags: RW,
        vaddr: BigInt(va),
        iova: 0x4000_0000n,
        size: 24n * BigInt(PAGE_SIZE),
      });
      for (let nth = 1; ; nth++) {
        w.p.poke(w.arg, map);
        let calls = 0;
        const sites: string[] = [];
        w.kernel.allocator.setFailHook((site) => {
          sites.push(site);
          return ++calls === nth;
        });
        let err: unknown = null;
        try {
          w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_MAP_DMA, w.arg);
        } catch (e) {
          err = e;
        } finally {
          w.kernel.allocator.setFailHook(undefined);
        }
        if (err !== null) {
          expect(SysError.isInstance(err)).toBe(true);
          refused.add(sites[nth - 1] ?? "?");
        } else {
          // A fault the kernel works around (a single-page batch) still maps everything.
          expect(unmapDma(w, iommu, 0x4000_0000n, 24n * BigInt(PAGE_SIZE))).toBe(
            24n * BigInt(PAGE_SIZE),
          );
        }
        expect(snapshot(w, iommu)).toEqual(before);
        if (calls < nth) break;
      }
      // The vfio_dma allocation and the first page's pin refuse; a later page's failed pin
      // only ends a run early, and a failed batch page falls back to single pages.
      expect([...refused].sort()).toEqual(["kzalloc", "try_grab_folio"]);
    });
  });
});

describe("VFIO_IOMMU_UNMAP_DMA", () => {
  /** Three mappings of 2 pages each at IOVA, IOVA + 4 pages, IOVA + 8 pages. */
  function threeMaps(type = VFIO_TYPE1v2_IOMMU) {
    const w = setup();
    const iommu = setIommu(w, type);
    const va = buffer(w.p, 6);
    for (let i = 0; i < 3; i++) {
      mapDma(w, iommu, {
        vaddr: va + 2 * i * PAGE_SIZE,
        iova: IOVA + BigInt(4 * i * PAGE_SIZE),
        size: 2 * PAGE_SIZE,
      });
    }
    return { w, iommu };
  }
  const P = BigInt(PAGE_SIZE);

  test("v2: a range covering whole mappings unmaps them and reports their size", () => {
    const { w, iommu } = threeMaps();
    expect(unmapDma(w, iommu, IOVA - P, 7n * P)).toBe(4n * P);
    expect(iommu.dmas().map((d) => d.iova)).toEqual([IOVA + 8n * P]);
    expect(w.p.mm.lockedVm).toBe(2);
  });

  test("v2: a range with no mapping unmaps nothing and succeeds", () => {
    const { w, iommu } = threeMaps();
    expect(unmapDma(w, iommu, IOVA + 2n * P, 2n * P)).toBe(0n);
  });

  test("v2: a range starting or ending inside a mapping is EINVAL and unmaps nothing", () => {
    const { w, iommu } = threeMaps();
    const before = snapshot(w, iommu);
    expect(() => unmapDma(w, iommu, IOVA + P, 4n * P)).toThrowErrno("EINVAL");
    expect(() => unmapDma(w, iommu, IOVA, P)).toThrowErrno("EINVAL");
    expect(snapshot(w, iommu)).toEqual(before);
  });

  test("v1: a range starting inside a mapping unmaps nothing, yet succeeds", () => {
    const { w, iommu } = threeMaps(VFIO_TYPE1_IOMMU);
    expect(unmapDma(w, iommu, IOVA + P, P)).toBe(0n);
    expect(iommu.dmas()).toHaveLength(3);
  });

  test("v1: a range covering a mapping's first page unmaps the whole mapping", () => {
    const { w, iommu } = threeMaps(VFIO_TYPE1_IOMMU);
    expect(unmapDma(w, iommu, IOVA, P)).toBe(2n * P);
    expect(unmapDma(w, iommu, IOVA + 4n * P, 5n * P)).toBe(4n * P);
    expect(iommu.dmas()).toHaveLength(0);
  });

  test("UNMAP_FLAG_ALL removes everything and returns the total (unmap_all selftest)", () => {
    const { w, iommu } = threeMaps();
    const pins = w.kernel.allocator.totalPins;
    expect(unmapDma(w, iommu, 0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL)).toBe(6n * P);
    expect(iommu.dmas()).toHaveLength(0);
    expect(w.kernel.allocator.totalPins).toBe(pins - 6);
  });

  test("the last page below the top of the IOVA range maps and unmaps (unmap_range)", () => {
    const w = setup();
    const iommu = setIommu(w);
    const iova = APERTURE_END + 1n - P;
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova, size: PAGE_SIZE });
    expect(unmapDma(w, iommu, iova, P)).toBe(P);
  });

  test("two pages at the top of the u64 range: EOVERFLOW for map and unmap (overflow)", () => {
    const w = setup();
    const iommu = setIommu(w);
    const iova = U64_MAX & ~(P - 1n);
    expect(() =>
      mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova, size: 2 * PAGE_SIZE }),
    ).toThrowErrno("EOVERFLOW");
    expect(() => unmapDma(w, iommu, iova, 2n * P)).toThrowErrno("EOVERFLOW");
  });

  describe("errors leave the user's struct and the mappings alone", () => {
    const cases: [string, string, (w: World, iommu: VfioIommu) => unknown][] = [
      [
        "an unreadable argument",
        "EFAULT",
        (w, iommu) => w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_UNMAP_DMA, 0x10),
      ],
      ["argsz below sizeof", "EINVAL", (w, iommu) => unmapDma(w, iommu, IOVA, 2n * P, 0, 23)],
      ["an unknown flag", "EINVAL", (w, iommu) => unmapDma(w, iommu, IOVA, 2n * P, 1 << 3)],
      [
        "GET_DIRTY_BITMAP with ALL",
        "EINVAL",
        (w, iommu) =>
          unmapDma(
            w,
            iommu,
            0n,
            0n,
            VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
          ),
      ],
      [
        "GET_DIRTY_BITMAP with VADDR",
        "EINVAL",
        (w, iommu) =>
          unmapDma(
            w,
            iommu,
            IOVA,
            2n * P,
            VFIO_DMA_UNMAP_FLAG_VADDR | VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
          ),
      ],
      [
        "GET_DIRTY_BITMAP without room for the bitmap",
        "EINVAL",
        (w, iommu) => unmapDma(w, iommu, IOVA, 2n * P, VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 24),
      ],
      ["an unaligned iova", "EINVAL", (w, iommu) => unmapDma(w, iommu, IOVA + 1n, P)],
      [
        "UNMAP_FLAG_ALL with an iova",
        "EINVAL",
        (w, iommu) => unmapDma(w, iommu, IOVA, 0n, VFIO_DMA_UNMAP_FLAG_ALL),
      ],
      [
        "UNMAP_FLAG_ALL with a size",
        "EINVAL",
        (w, iommu) => unmapDma(w, iommu, 0n, P, VFIO_DMA_UNMAP_FLAG_ALL),
      ],
      ["size 0", "EINVAL", (w, iommu) => unmapDma(w, iommu, IOVA, 0n)],
      ["an unaligned size", "EINVAL", (w, iommu) => unmapDma(w, iommu, IOVA, P + 1n)],
      [
        "iova + size wrapping",
        "EOVERFLOW",
        (w, iommu) => unmapDma(w, iommu, 1n << 63n, (1n << 63n) + P),
      ],
      [
        "GET_DIRTY_BITMAP while not tracking",
        "EINVAL",
        (w, iommu) => unmapDirty(w, iommu, IOVA, 2n * P, P),
      ],
    ];
    test.each(cases)("%s: %s", (_what, errno, act) => {
      const { w, iommu } = threeMaps();
      const before = snapshot(w, iommu);
      expect(() => act(w, iommu)).toThrowErrno(errno as ErrnoName);
      expect(snapshot(w, iommu)).toEqual(before);
      // `size` is only copied back on success: the user's struct is as it was written.
      if (errno !== "EFAULT") expect(w.p.peek(w.arg, 24)).toEqual(lastRequest.subarray(0, 24));
    });
  });
});

/** UNMAP_DMA with GET_DIRTY_BITMAP into a bitmap at a fresh page; returns [size, bitmap]. */
function unmapDirty(
  w: World,
  iommu: VfioIommu,
  iova: bigint,
  size: bigint,
  pgsize: bigint,
  bitmapBytes = 8,
): [bigint, Uint8Array] {
  const data = w.p.malloc(PAGE_SIZE);
  const bytes = new Uint8Array(48);
  bytes.set(
    vfio_iommu_type1_dma_unmap.encode({
      argsz: 48,
      flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
      iova,
      size,
    }),
  );
  bytes.set(vfio_bitmap.encode({ pgsize, size: BigInt(bitmapBytes), data: BigInt(data) }), 24);
  w.p.poke(w.arg, bytes);
  lastRequest = bytes;
  w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_UNMAP_DMA, w.arg);
  const out = vfio_iommu_type1_dma_unmap.decode(w.p.peek(w.arg, 24)).size;
  return [out, w.p.peek(data, bitmapBytes)];
}

/** VFIO_IOMMU_DIRTY_PAGES with `flags` and, for GET_BITMAP, the range; returns the bitmap. */
function dirtyPages(
  w: World,
  iommu: VfioIommu,
  flags: number,
  range?: { iova: bigint; size: bigint; pgsize?: bigint; bytes?: number; argsz?: number },
): Uint8Array {
  const data = w.p.malloc(PAGE_SIZE);
  const argsz = range?.argsz ?? (range ? 8 + 40 : 8);
  const bytes = new Uint8Array(48);
  bytes.set(vfio_iommu_type1_dirty_bitmap.encode({ argsz, flags }));
  if (range) {
    bytes.set(
      vfio_iommu_type1_dirty_bitmap_get.encode({
        iova: range.iova,
        size: range.size,
        bitmap: {
          pgsize: range.pgsize ?? BigInt(PAGE_SIZE),
          size: BigInt(range.bytes ?? 8),
          data: BigInt(data),
        },
      }),
      8,
    );
  }
  w.p.poke(w.arg, bytes);
  w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_DIRTY_PAGES, w.arg);
  return w.p.peek(data, range?.bytes ?? 8);
}

describe("VFIO_UPDATE_VADDR", () => {
  const P = BigInt(PAGE_SIZE);

  test("invalidate, then map the same range at a new vaddr: the IOMMU mapping never changed", () => {
    const w = setup();
    const iommu = setIommu(w);
    const va = buffer(w.p, 2);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 2 * PAGE_SIZE });
    const phys = w.kernel.iommu.iommuIovaToPhys(domainOf(w, iommu), Number(IOVA));
    expect(unmapDma(w, iommu, IOVA, 2n * P, VFIO_DMA_UNMAP_FLAG_VADDR)).toBe(2n * P);
    expect(iommu.vaddrInvalidCount).toBe(1);
    expect(w.kernel.iommu.iommuIovaToPhys(domainOf(w, iommu), Number(IOVA))).toBe(phys);
    const va2 = buffer(w.p, 2);
    mapDma(w, iommu, {
      vaddr: va2,
      iova: IOVA,
      size: 2 * PAGE_SIZE,
      flags: VFIO_DMA_MAP_FLAG_VADDR,
    });
    expect(iommu.vaddrInvalidCount).toBe(0);
    expect(iommu.dmas()[0]?.vaddr).toBe(BigInt(va2));
    expect(w.p.mm.lockedVm).toBe(2);
  });

  test("VADDR for a range with no mapping: ENOENT", () => {
    const w = setup();
    const iommu = setIommu(w);
    expect(() =>
      mapDma(w, iommu, {
        vaddr: buffer(w.p, 1),
        iova: IOVA,
        size: PAGE_SIZE,
        flags: VFIO_DMA_MAP_FLAG_VADDR,
      }),
    ).toThrowErrno("ENOENT");
  });

  test("VADDR for a valid mapping, or not exactly its range: EINVAL", () => {
    const w = setup();
    const iommu = setIommu(w);
    const va = buffer(w.p, 2);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 2 * PAGE_SIZE });
    const upd = (size: number) =>
      mapDma(w, iommu, { vaddr: va, iova: IOVA, size, flags: VFIO_DMA_MAP_FLAG_VADDR });
    expect(() => upd(2 * PAGE_SIZE)).toThrowErrno("EINVAL");
    unmapDma(w, iommu, IOVA, 2n * P, VFIO_DMA_UNMAP_FLAG_VADDR);
    expect(() => upd(PAGE_SIZE)).toThrowErrno("EINVAL");
    expect(iommu.vaddrInvalidCount).toBe(1);
  });

  test("invalidating a range that holds an invalid vaddr: EINVAL, all or nothing", () => {
    const w = setup();
    const iommu = setIommu(w);
    const va = buffer(w.p, 2);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: PAGE_SIZE });
    mapDma(w, iommu, { vaddr: va + PAGE_SIZE, iova: IOVA + P, size: PAGE_SIZE });
    unmapDma(w, iommu, IOVA + P, P, VFIO_DMA_UNMAP_FLAG_VADDR);
    expect(() => unmapDma(w, iommu, IOVA, 2n * P, VFIO_DMA_UNMAP_FLAG_VADDR)).toThrowErrno(
      "EINVAL",
    );
    expect(iommu.dmas().map((d) => d.vaddrInvalid)).toEqual([false, true]);
    expect(iommu.vaddrInvalidCount).toBe(1);
  });

  test("VADDR invalidation with an emulated group present: EBUSY", () => {
    const w = setup();
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    w.t.ops.attachGroup(iommu, new IommuGroup(100), VFIO_EMULATED_IOMMU);
    expect(() => unmapDma(w, iommu, IOVA, P, VFIO_DMA_UNMAP_FLAG_VADDR)).toThrowErrno("EBUSY");
  });

  test("another process takes over the mapping's locked_vm (vfio_change_dma_owner)", () => {
    const w = setup();
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 3), iova: IOVA, size: 3 * PAGE_SIZE });
    unmapDma(w, iommu, IOVA, 3n * P, VFIO_DMA_UNMAP_FLAG_VADDR);
    const q = w.kernel.spawn({ comm: "vmm-new" });
    const qva = q.malloc(3 * PAGE_SIZE);
    mapDma(w, iommu, {
      vaddr: qva,
      iova: IOVA,
      size: 3 * PAGE_SIZE,
      flags: VFIO_DMA_MAP_FLAG_VADDR,
      p: q,
    });
    expect(w.p.mm.lockedVm).toBe(0);
    expect(q.mm.lockedVm).toBe(3);
    unmapDma(w, iommu, IOVA, 3n * P);
    expect(q.mm.lockedVm).toBe(0);
  });

  test("the new owner past its RLIMIT_MEMLOCK: ENOMEM, the vaddr stays invalid", () => {
    const w = setup();
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 3), iova: IOVA, size: 3 * PAGE_SIZE });
    unmapDma(w, iommu, IOVA, 3n * P, VFIO_DMA_UNMAP_FLAG_VADDR);
    const q = w.kernel.spawn({ comm: "small", uid: 1000, rlimits: { memlock: PAGE_SIZE } });
    const qva = q.malloc(3 * PAGE_SIZE);
    const qarg = q.malloc(PAGE_SIZE);
    q.poke(
      qarg,
      vfio_iommu_type1_dma_map.encode({
        argsz: 32,
        flags: VFIO_DMA_MAP_FLAG_VADDR,
        vaddr: BigInt(qva),
        iova: IOVA,
        size: 3n * P,
      }),
    );
    expect(() => w.t.ops.ioctl(iommu, q, VFIO_IOMMU_MAP_DMA, qarg)).toThrowErrno("ENOMEM");
    expect(iommu.vaddrInvalidCount).toBe(1);
    expect(w.p.mm.lockedVm).toBe(3);
  });
});

describe("emulated devices: vfio_pin_pages(), vfio_dma_rw() and the dma_unmap notifier", () => {
  const P = BigInt(PAGE_SIZE);

  /** An emulated group with one registered device whose dma_unmap unpins what it holds. */
  function emulated(o: WorldOptions & { type?: number; real?: boolean } = {}) {
    const w = setup(o);
    const iommu = w.t.ops.open(w.p, o.type ?? VFIO_TYPE1v2_IOMMU);
    if (o.real) w.t.ops.attachGroup(iommu, w.group, VFIO_IOMMU);
    const egroup = new IommuGroup(100);
    w.t.ops.attachGroup(iommu, egroup, VFIO_EMULATED_IOMMU);
    const held = new Map<bigint, number>();
    const notified: [bigint, bigint][] = [];
    let cooperative = true;
    const ops: VfioDeviceOps = {
      name: "mdev-test",
      dmaUnmap(_vdev, iova, length) {
        notified.push([iova, length]);
        if (!cooperative) return;
        for (const [pinned, n] of [...held]) {
          if (pinned >= iova && pinned < iova + length) {
            w.t.ops.unpinPages?.(iommu, pinned, n);
            held.delete(pinned);
          }
        }
      },
    };
    const dev = w.kernel.drivers.findDevice("platform", DMAT0.name)!;
    const vdev = new VfioCoreDevice(w.kernel, dev, ops as VfioDeviceOps<never>);
    w.t.ops.registerDevice?.(iommu, vdev);
    const pin = (iova: bigint, n: number, prot = IOMMU_READ | IOMMU_WRITE) => {
      const pages = w.t.ops.pinPages!(iommu, egroup, iova, n, prot);
      held.set(iova, n);
      return pages;
    };
    return {
      w,
      iommu,
      egroup,
      vdev,
      pin,
      held,
      notified,
      uncooperative: () => {
        cooperative = false;
      },
    };
  }

  test("pinning returns the pages' frame numbers and charges locked_vm once", () => {
    const { w, iommu, pin } = emulated();
    const va = buffer(w.p, 4);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 4 * PAGE_SIZE });
    const pins = w.kernel.allocator.totalPins;
    expect(pin(IOVA + P, 2)).toEqual([
      w.p.mm.translate(va + PAGE_SIZE),
      w.p.mm.translate(va + 2 * PAGE_SIZE),
    ]);
    expect(w.kernel.allocator.totalPins).toBe(pins + 2);
    expect(w.p.mm.lockedVm).toBe(2);
    // A second pin of the same page only takes a reference.
    pin(IOVA + P, 1);
    expect(w.kernel.allocator.totalPins).toBe(pins + 2);
    expect(iommu.dmas()[0]?.pfnList.get(IOVA + P)?.refCount).toBe(2);
    w.t.ops.unpinPages?.(iommu, IOVA + P, 1);
    w.t.ops.unpinPages?.(iommu, IOVA + P, 2);
    expect(w.kernel.allocator.totalPins).toBe(pins);
    expect(w.p.mm.lockedVm).toBe(0);
  });

  test("with a real domain too, the pages are charged by the mapping only", () => {
    const { w, iommu, pin } = emulated({ real: true });
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA, size: 2 * PAGE_SIZE });
    const pins = w.kernel.allocator.totalPins;
    pin(IOVA, 2);
    expect(w.kernel.allocator.totalPins).toBe(pins + 2);
    expect(w.p.mm.lockedVm).toBe(2);
  });

  test("a pin in scope promotes the group: only pinned pages count as dirty", () => {
    const { w, iommu } = emulated({ real: true });
    expect(iommu.numNonPinnedGroups).toBe(1);
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    w.t.ops.pinPages!(iommu, w.group, IOVA, 1, IOMMU_READ);
    expect(iommu.numNonPinnedGroups).toBe(0);
    w.t.ops.unpinPages?.(iommu, IOVA, 1);
  });

  test.each([
    ["npage 0", "EINVAL", (e: ReturnType<typeof emulated>) => e.pin(IOVA, 0)],
    [
      "an IOVA range that wraps",
      "EOVERFLOW",
      (e: ReturnType<typeof emulated>) => e.pin(U64_MAX & ~(P - 1n), 2),
    ],
    ["an IOVA not mapped", "EINVAL", (e: ReturnType<typeof emulated>) => e.pin(IOVA + 16n * P, 1)],
    [
      "a page mapped read-only, pinned for write",
      "EPERM",
      (e: ReturnType<typeof emulated>) => e.pin(IOVA + 8n * P, 1, IOMMU_WRITE),
    ],
  ])("%s: %s, and what was pinned before it is released", (_what, errno, act) => {
    const e = emulated();
    const va = buffer(e.w.p, 9);
    mapDma(e.w, e.iommu, { vaddr: va, iova: IOVA, size: 8 * PAGE_SIZE });
    mapDma(e.w, e.iommu, {
      vaddr: va + 8 * PAGE_SIZE,
      iova: IOVA + 8n * P,
      size: PAGE_SIZE,
      flags: VFIO_DMA_MAP_FLAG_READ,
    });
    const before = snapshot(e.w, e.iommu);
    expect(() => act(e)).toThrowErrno(errno as ErrnoName);
    expect(snapshot(e.w, e.iommu)).toEqual(before);
  });

  test("a run that fails half way releases the pages it pinned", () => {
    const e = emulated();
    const va = buffer(e.w.p, 9);
    mapDma(e.w, e.iommu, { vaddr: va, iova: IOVA, size: 8 * PAGE_SIZE });
    mapDma(e.w, e.iommu, {
      vaddr: va + 8 * PAGE_SIZE,
      iova: IOVA + 8n * P,
      size: PAGE_SIZE,
      flags: VFIO_DMA_MAP_FLAG_READ,
    });
    e.pin(IOVA + 6n * P, 1);
    const before = snapshot(e.w, e.iommu);
    expect(() => e.pin(IOVA + 5n * P, 4, IOMMU_WRITE)).toThrowErrno("EPERM");
    expect(snapshot(e.w, e.iommu)).toEqual(before);
    expect(e.iommu.dmas()[0]?.pfnList.get(IOVA + 6n * P)?.refCount).toBe(1);
  });

  test("v1 cannot pin: EACCES", () => {
    const { w, iommu, pin } = emulated({ type: VFIO_TYPE1_IOMMU });
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    expect(() => pin(IOVA, 1)).toThrowErrno("EACCES");
  });

  test("without a registered dma_unmap notifier: EINVAL", () => {
    const { w, iommu, pin, vdev } = emulated();
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    w.t.ops.unregisterDevice?.(iommu, vdev);
    expect(() => pin(IOVA, 1)).toThrowErrno("EINVAL");
  });

  test("while a vaddr is invalidated: EBUSY and a one-time kernel WARNING", () => {
    const w = setup();
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    unmapDma(w, iommu, IOVA, BigInt(PAGE_SIZE), VFIO_DMA_UNMAP_FLAG_VADDR);
    expect(() => w.t.ops.pinPages!(iommu, w.group, IOVA, 1, IOMMU_READ)).toThrowErrno("EBUSY");
    expect(dmesg(w)).toContain("vfio_pin_pages not allowed with VFIO_UPDATE_VADDR");
    expect(w.kernel.taint.test(TAINT_WARN)).toBe(true);
    expect(() => w.t.ops.dmaRw!(iommu, w.p, IOVA, new Uint8Array(4), false)).toThrowErrno("EBUSY");
    expect(dmesg(w)).toContain("vfio_dma_rw not allowed with VFIO_UPDATE_VADDR");
  });

  test("past RLIMIT_MEMLOCK (no domain charged it): ENOMEM and the per-task warning", () => {
    const e = emulated({ spawn: { comm: "qemu", uid: 1000, rlimits: { memlock: PAGE_SIZE } } });
    mapDma(e.w, e.iommu, { vaddr: buffer(e.w.p, 2), iova: IOVA, size: 2 * PAGE_SIZE });
    const before = snapshot(e.w, e.iommu);
    expect(() => e.pin(IOVA, 2)).toThrowErrno("ENOMEM");
    expect(snapshot(e.w, e.iommu)).toEqual(before);
    expect(dmesg(e.w).at(-1)).toBe(
      `vfio_pin_page_external: Task qemu (${e.w.p.pid}) RLIMIT_MEMLOCK (4096) exceeded`,
    );
  });

  test("unmapping a pinned range asks the device to unpin, then unmaps", () => {
    const { w, iommu, pin, notified, held } = emulated();
    mapDma(w, iommu, { vaddr: buffer(w.p, 4), iova: IOVA, size: 4 * PAGE_SIZE });
    const pins = w.kernel.allocator.totalPins;
    pin(IOVA + P, 2);
    expect(unmapDma(w, iommu, IOVA, 4n * P)).toBe(4n * P);
    expect(notified).toEqual([[IOVA, 4n * P]]);
    expect(held.size).toBe(0);
    expect(w.kernel.allocator.totalPins).toBe(pins);
    expect(w.p.mm.lockedVm).toBe(0);
  });

  test("a device that never unpins: the kernel BUG()s after ten retries", () => {
    const { w, iommu, pin, notified, uncooperative } = emulated();
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    pin(IOVA, 1);
    uncooperative();
    expect(() => unmapDma(w, iommu, IOVA, P)).toThrow(KernelBug);
    expect(notified).toHaveLength(11);
  });

  test("dma_rw copies through the user mapping without pinning", () => {
    const { w, iommu } = emulated();
    const va = buffer(w.p, 2);
    mapDma(w, iommu, { vaddr: va, iova: IOVA, size: 2 * PAGE_SIZE });
    const pins = w.kernel.allocator.totalPins;
    // Across the page boundary.
    w.t.ops.dmaRw!(iommu, w.p, IOVA + P - 3n, new TextEncoder().encode("straddle"), true);
    expect(new TextDecoder().decode(w.p.peek(va + PAGE_SIZE - 3, 8))).toBe("straddle");
    const back = new Uint8Array(8);
    w.t.ops.dmaRw!(iommu, w.p, IOVA + P - 3n, back, false);
    expect(new TextDecoder().decode(back)).toBe("straddle");
    expect(w.kernel.allocator.totalPins).toBe(pins);
  });

  test.each([
    ["an IOVA not mapped", "EINVAL", IOVA + 0x10_0000n, false, null],
    ["a write to a read-only mapping", "EPERM", IOVA + 0x20_0000n, true, null],
    ["from a process that does not own the mapping", "EFAULT", IOVA, false, "other"],
  ])("dma_rw %s: %s", (_what, errno, iova, write, who) => {
    const { w, iommu } = emulated();
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    mapDma(w, iommu, {
      vaddr: buffer(w.p, 1),
      iova: IOVA + 0x20_0000n,
      size: PAGE_SIZE,
      flags: VFIO_DMA_MAP_FLAG_READ,
    });
    const current = who ? w.kernel.spawn({ comm: "other" }) : w.p;
    expect(() => w.t.ops.dmaRw!(iommu, current, iova, new Uint8Array(4), write)).toThrowErrno(
      errno as ErrnoName,
    );
  });

  test("detaching the last emulated group with no domain drops every mapping", () => {
    const { w, iommu, egroup, vdev } = emulated();
    mapDma(w, iommu, { vaddr: buffer(w.p, 1), iova: IOVA, size: PAGE_SIZE });
    w.t.ops.unregisterDevice?.(iommu, vdev);
    w.t.ops.detachGroup(iommu, egroup);
    expect(iommu.dmas()).toHaveLength(0);
    expect(iommu.dmaAvail).toBe(0xffff);
  });
});

describe("VFIO_IOMMU_DIRTY_PAGES", () => {
  const P = BigInt(PAGE_SIZE);

  test("v1 has no dirty tracking: EACCES before the argument is even read", () => {
    const w = setup();
    const iommu = setIommu(w, VFIO_TYPE1_IOMMU);
    expect(() => w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_DIRTY_PAGES, 0)).toThrowErrno("EACCES");
  });

  test.each([
    ["an unreadable argument", "EFAULT", { flags: 0, argsz: 8, arg: 0x10 }],
    ["argsz below 8", "EINVAL", { flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START, argsz: 7 }],
    ["an unknown flag", "EINVAL", { flags: 1 << 3, argsz: 8 }],
    ["no flag", "EINVAL", { flags: 0, argsz: 8 }],
    [
      "START and STOP",
      "EINVAL",
      {
        flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
        argsz: 8,
      },
    ],
    [
      "GET_BITMAP without a range",
      "EINVAL",
      {
        flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
        argsz: 8 + 39,
      },
    ],
  ])("%s: %s", (_what, errno, a) => {
    const w = setup();
    const iommu = setIommu(w);
    w.p.poke(w.arg, vfio_iommu_type1_dirty_bitmap.encode({ argsz: a.argsz, flags: a.flags }));
    expect(() =>
      w.t.ops.ioctl(iommu, w.p, VFIO_IOMMU_DIRTY_PAGES, (a as { arg?: number }).arg ?? w.arg),
    ).toThrowErrno(errno as ErrnoName);
  });

  test("with a group that can DMA on its own, every mapped page is reported dirty", () => {
    const w = setup();
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 3), iova: IOVA, size: 3 * PAGE_SIZE });
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA + 5n * P, size: 2 * PAGE_SIZE });
    dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
    expect(iommu.dirtyPageTracking).toBe(true);
    const bm = dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, {
      iova: IOVA,
      size: 8n * P,
    });
    // Pages 0-2 and 5-6: the second mapping lands 5 bits in (update_user_bitmap()'s shift).
    expect(bm[0]).toBe(0b0110_0111);
    dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP);
    expect(iommu.dmas().every((d) => d.bitmap === null)).toBe(true);
  });

  test("with only emulated groups, only pinned and written pages are dirty, once", () => {
    const w = setup();
    const iommu = w.t.ops.open(w.p, VFIO_TYPE1v2_IOMMU);
    const eg = new IommuGroup(100);
    w.t.ops.attachGroup(iommu, eg, VFIO_EMULATED_IOMMU);
    const dev = w.kernel.drivers.findDevice("platform", DMAT0.name)!;
    const vdev = new VfioCoreDevice(w.kernel, dev, {
      name: "mdev",
      dmaUnmap: () => {},
    } as VfioDeviceOps<never>);
    w.t.ops.registerDevice?.(iommu, vdev);
    mapDma(w, iommu, { vaddr: buffer(w.p, 8), iova: IOVA, size: 8 * PAGE_SIZE });
    dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
    w.t.ops.pinPages!(iommu, eg, IOVA + P, 1, IOMMU_READ);
    w.t.ops.dmaRw!(iommu, w.p, IOVA + 4n * P, new Uint8Array(2), true);
    const get = () =>
      dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, { iova: IOVA, size: 8n * P })[0];
    expect(get()).toBe(0b0001_0010);
    // The report restarts from the pinned pages: the rw write is forgotten.
    expect(get()).toBe(0b0000_0010);
    w.t.ops.unpinPages?.(iommu, IOVA + P, 1);
  });

  test.each([
    ["zero size", "EINVAL", { iova: IOVA, size: 0n }],
    ["a wrapping range", "EOVERFLOW", { iova: 1n << 63n, size: (1n << 63n) + BigInt(PAGE_SIZE) }],
    ["a bitmap too small", "EINVAL", { iova: IOVA, size: 65n * BigInt(PAGE_SIZE), bytes: 8 }],
    [
      "a bitmap of another page size",
      "EINVAL",
      { iova: IOVA, size: 8n * BigInt(PAGE_SIZE), pgsize: 0x20_0000n },
    ],
    ["an unaligned iova", "EINVAL", { iova: IOVA + 1n, size: 8n * BigInt(PAGE_SIZE) }],
    ["an unaligned size", "EINVAL", { iova: IOVA, size: 8n * BigInt(PAGE_SIZE) + 1n }],
    [
      "a range cutting a mapping",
      "EINVAL",
      { iova: IOVA + BigInt(PAGE_SIZE), size: 8n * BigInt(PAGE_SIZE) },
    ],
  ])("GET_BITMAP with %s: %s", (_what, errno, range) => {
    const w = setup();
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA, size: 2 * PAGE_SIZE });
    dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
    expect(() => dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, range)).toThrowErrno(
      errno as ErrnoName,
    );
  });

  test("GET_BITMAP while not tracking: EINVAL", () => {
    const w = setup();
    const iommu = setIommu(w);
    expect(() =>
      dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, { iova: IOVA, size: P }),
    ).toThrowErrno("EINVAL");
  });

  test("UNMAP_DMA with GET_DIRTY_BITMAP reports the mapping's pages as it removes it", () => {
    const w = setup();
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 3), iova: IOVA, size: 3 * PAGE_SIZE });
    dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
    const [size, bm] = unmapDirty(w, iommu, IOVA, 3n * P, P);
    expect(size).toBe(3n * P);
    expect(bm[0]).toBe(0b111);
    expect(iommu.dmas()).toHaveLength(0);
  });

  test("a mapping made while tracking gets its bitmap", () => {
    const w = setup();
    const iommu = setIommu(w);
    dirtyPages(w, iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA, size: 2 * PAGE_SIZE });
    expect(iommu.dmas()[0]?.bitmap?.length).toBe(16);
  });
});

describe("vfio_iommu_type1_release", () => {
  test("nothing stays pinned, charged or attached", () => {
    const w = setup();
    const start = snapshot(w, null);
    const iommu = setIommu(w);
    const g0 = claimGroup(w.kernel, XGMAC);
    w.t.ops.attachGroup(iommu, g0, VFIO_IOMMU);
    for (let i = 0; i < 4; i++) {
      mapDma(w, iommu, {
        vaddr: buffer(w.p, 3),
        iova: IOVA + BigInt(i) * 0x10_0000n,
        size: 3 * PAGE_SIZE,
      });
    }
    const domain = domainOf(w, iommu);
    w.t.ops.release(iommu);
    expect(w.kernel.allocator.totalPins).toBe(start.pins);
    expect(w.p.mm.lockedVm).toBe(0);
    expect(w.group.domain).toBe(w.group.blockingDomain);
    expect(g0.domain).toBe(g0.blockingDomain);
    expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(IOVA))).toBe(0);
    expect(iommu.domainList).toHaveLength(0);
  });

  test("a process that exited first: the pages are unpinned, its gone mm is not touched", () => {
    const w = setup();
    const start = snapshot(w, null);
    const iommu = setIommu(w);
    mapDma(w, iommu, { vaddr: buffer(w.p, 2), iova: IOVA, size: 2 * PAGE_SIZE });
    w.p.exit();
    w.t.ops.release(iommu);
    expect(w.kernel.allocator.totalPins).toBe(start.pins);
  });
});

describe("random MAP_DMA/UNMAP_DMA sequences against a model of the mapped pages (v2)", () => {
  const SLOTS = 24;
  const P = BigInt(PAGE_SIZE);
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("map" as const),
      slot: fc.integer({ min: 0, max: SLOTS - 1 }),
      pages: fc.integer({ min: 1, max: 6 }),
    }),
    fc.record({
      kind: fc.constant("unmap" as const),
      slot: fc.integer({ min: 0, max: SLOTS - 1 }),
      pages: fc.integer({ min: 1, max: 10 }),
    }),
    fc.constant({ kind: "all" as const, slot: 0, pages: 0 }),
  );

  // One board for every run: each run is a fresh VMM process and container instance.
  const board = setup();

  fcTest.prop([fc.array(op, { maxLength: 30 })], { numRuns: 40 })(
    "the domain maps exactly the model's pages, each pinned and charged once",
    (ops) => {
      const w = { ...board, p: board.kernel.spawn({ comm: "vmm" }) };
      const start = snapshot(w, null);
      const iommu = setIommu(w);
      const domain = domainOf(w, iommu);
      const va = buffer(w.p, SLOTS + 6);
      /** slot → pages of the mapping starting there. */
      const model = new Map<number, number>();
      const owner = (slot: number) => {
        for (const [s, n] of model) if (slot >= s && slot < s + n) return s;
        return -1;
      };
      for (const o of ops) {
        const iova = IOVA + BigInt(o.slot) * P;
        if (o.kind === "map") {
          const overlaps = [...Array(o.pages).keys()].some((i) => owner(o.slot + i) >= 0);
          const act = () =>
            mapDma(w, iommu, { vaddr: va + o.slot * PAGE_SIZE, iova, size: o.pages * PAGE_SIZE });
          if (overlaps) expect(act).toThrowErrno("EEXIST");
          else {
            act();
            model.set(o.slot, o.pages);
          }
        } else if (o.kind === "unmap") {
          const first = owner(o.slot);
          const last = owner(o.slot + o.pages - 1);
          const cuts =
            (first >= 0 && first !== o.slot) ||
            (last >= 0 && last + (model.get(last) ?? 0) !== o.slot + o.pages);
          const act = () => unmapDma(w, iommu, iova, BigInt(o.pages) * P);
          if (cuts) expect(act).toThrowErrno("EINVAL");
          else {
            let expected = 0;
            for (const [s, n] of [...model]) {
              if (s >= o.slot && s + n <= o.slot + o.pages) {
                expected += n;
                model.delete(s);
              }
            }
            expect(act()).toBe(BigInt(expected) * P);
          }
        } else {
          const total = [...model.values()].reduce((a, b) => a + b, 0);
          expect(unmapDma(w, iommu, 0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL)).toBe(BigInt(total) * P);
          model.clear();
        }
        let mappedPages = 0;
        for (let slot = 0; slot < SLOTS + 6; slot++) {
          const phys = w.kernel.iommu.iommuIovaToPhys(domain, Number(IOVA) + slot * PAGE_SIZE);
          if (owner(slot) >= 0) {
            mappedPages++;
            expect(phys).toBe(physOf(w.p, va + slot * PAGE_SIZE));
          } else {
            expect(phys).toBe(0);
          }
        }
        expect(w.p.mm.lockedVm).toBe(mappedPages);
        expect(w.kernel.allocator.totalPins).toBe(start.pins + mappedPages);
        expect(iommu.dmaAvail).toBe(0xffff - model.size);
      }
      w.t.ops.release(iommu);
      expect(w.kernel.allocator.totalPins).toBe(start.pins);
      expect(w.group.domain).toBe(w.group.blockingDomain);
      w.p.exit();
    },
  );
});

describe("the vfio_iommu_type1 module behind /dev/vfio/vfio", () => {
  const P = BigInt(PAGE_SIZE);

  /** The board with vfio, the test bus driver on c030000.dma-test (group 1) and type1 loaded. */
  function vfioSetup(cmdline = "vfio_iommu_type1.allow_unsafe_interrupts=1") {
    const w = coreSetup({ cmdline, bind: [DMAT0] });
    w.kernel.modprobe(vfioIommuType1Module);
    const container = w.p.open("/dev/vfio/vfio");
    const group = w.p.open(`/dev/vfio/${DMAT0.group}`);
    setContainer(w, group, container);
    return { ...w, container, group };
  }

  /** An ioctl on the container with a struct at the scratch address; returns the reply. */
  function containerIoctl<L extends StructLayout>(
    w: ReturnType<typeof vfioSetup>,
    cmd: number,
    layout: L,
    value: Parameters<L["encode"]>[0],
    argsz = layout.size,
  ): StructValue<L> {
    const bytes = layout.encode(value as never);
    new DataView(bytes.buffer).setUint32(0, argsz, true);
    w.p.poke(w.arg, bytes);
    w.p.ioctl(w.container, cmd, w.arg);
    return layout.decode(w.p.peek(w.arg, layout.size)) as StructValue<L>;
  }

  test("modprobe registers the backend with vfio, rmmod takes it away", () => {
    const w = coreSetup({ cmdline: "vfio_iommu_type1.dma_entry_limit=9", bind: [DMAT0] });
    w.kernel.modprobe(vfioIommuType1Module);
    expect(vfioOf(w.kernel).iommuDrivers[0]).toBe(vfioIommuType1Of(w.kernel).ops);
    expect(w.p.readFile("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit")).toBe("9\n");
    expect(w.p.readFile("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts")).toBe(
      "N\n",
    );
    expect(w.p.readFile("/sys/module/vfio_iommu_type1/parameters/disable_hugepages")).toBe("N\n");
    expect(w.p.readFile("/sys/module/vfio_iommu_type1/version")).toBe("0.2\n");
    w.kernel.rmmod("vfio_iommu_type1");
    expect(vfioOf(w.kernel).iommuDrivers.map((o) => o.name)).not.toContain("vfio-iommu-type1");
  });

  test("dma_map_unmap: map, DMA through the SMMU, unmap, close — nothing left pinned", () => {
    const w = vfioSetup();
    const pins = w.kernel.allocator.totalPins;
    expect(w.p.ioctl(w.container, VFIO_GET_API_VERSION)).toBe(0);
    expect(w.p.ioctl(w.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU)).toBe(1);
    expect(w.p.ioctl(w.container, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR)).toBe(0);
    w.p.ioctl(w.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    expect(w.p.ioctl(w.container, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR)).toBe(1);

    const info = containerIoctl(w, VFIO_IOMMU_GET_INFO, vfio_iommu_type1_info, { argsz: 0 }, 16);
    expect(info.argsz).toBe(24 + 32 + 16 + 48);
    expect(info.iova_pgsizes & 0x1000n).toBe(0x1000n);

    const va = buffer(w.p, 2);
    w.p.poke(va, new TextEncoder().encode("hello, type1"));
    containerIoctl(w, VFIO_IOMMU_MAP_DMA, vfio_iommu_type1_dma_map, {
      argsz: 0,
      flags: RW,
      vaddr: BigInt(va),
      iova: IOVA,
      size: 2n * P,
    });
    expect(w.kernel.allocator.totalPins).toBe(pins + 2);
    expect(w.p.mm.lockedVm).toBe(2);
    expect(dmaTestCopy(w, DMAT0, IOVA + P, IOVA, 12) & DMA_TEST_STATUS.ERROR).toBe(0);
    expect(new TextDecoder().decode(w.p.peek(va + PAGE_SIZE, 12))).toBe("hello, type1");

    const dev = getDeviceFd(w, w.group, DMAT0.name);
    const unmap = containerIoctl(w, VFIO_IOMMU_UNMAP_DMA, vfio_iommu_type1_dma_unmap, {
      argsz: 0,
      flags: 0,
      iova: IOVA,
      size: 2n * P,
    });
    expect(unmap.size).toBe(2n * P);
    expect(dmaTestCopy(w, DMAT0, IOVA + P, IOVA, 12) & DMA_TEST_STATUS.ERROR).not.toBe(0);

    containerIoctl(w, VFIO_IOMMU_MAP_DMA, vfio_iommu_type1_dma_map, {
      argsz: 0,
      flags: RW,
      vaddr: BigInt(va),
      iova: IOVA,
      size: 2n * P,
    });
    // The last group leaving releases the backend and every mapping with it.
    w.p.close(dev);
    w.p.close(w.group);
    w.p.close(w.container);
    expect(w.kernel.allocator.totalPins).toBe(pins);
    expect(w.p.mm.lockedVm).toBe(0);
  });

  test("rmmod while a container uses the backend: EAGAIN (its refcount is held)", () => {
    const w = vfioSetup();
    w.p.ioctl(w.container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU);
    expect(() => w.kernel.rmmod("vfio_iommu_type1")).toThrowErrno("EAGAIN");
    w.p.close(w.group);
    w.p.close(w.container);
    w.kernel.rmmod("vfio_iommu_type1");
  });

  test("without allow_unsafe_interrupts: SET_IOMMU fails EPERM with the warning", () => {
    const w = vfioSetup("");
    expect(() => w.p.ioctl(w.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("EPERM");
    expect(dmesg(w)).toContain(
      'vfio_iommu_type1_attach_group: No interrupt remapping support.  Use the module param "allow_unsafe_interrupts" to enable VFIO IOMMU support on this platform',
    );
    // The parameter is live: set it through sysfs and try again.
    w.p.writeFile("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "1");
    w.p.ioctl(w.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
  });

  test("dma_entry_limit written through sysfs applies to the next container", () => {
    const w = vfioSetup();
    w.p.writeFile("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "1");
    w.p.ioctl(w.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    const va = buffer(w.p, 2);
    const map = (i: number) =>
      containerIoctl(w, VFIO_IOMMU_MAP_DMA, vfio_iommu_type1_dma_map, {
        argsz: 0,
        flags: RW,
        vaddr: BigInt(va + i * PAGE_SIZE),
        iova: IOVA + BigInt(i) * P,
        size: P,
      });
    map(0);
    expect(() => map(1)).toThrowErrno("ENOSPC");
  });
});
