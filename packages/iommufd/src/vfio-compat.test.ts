/**
 * vfio_compat.c: the VFIO container ioctls on an iommufd file and the compat-IOAS API VFIO uses,
 * one behaviour or errno per test.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  __VFIO_RESERVED_TYPE1_NESTING_IOMMU,
  type ErrnoName,
  IOMMU_NO_PASID,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  VFIO_API_VERSION,
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
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_SPAPR_TCE_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
  vfio_info_cap_header,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_dma_avail,
} from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { bindDev, DMAT0 } from "../test/device-fixture.js";
import {
  buffer,
  destroy,
  ictxOf,
  ioasAlloc,
  ioasMap,
  ioasObj,
  ioctlStruct,
  iovaRanges,
  optionGet,
  setup,
  type World,
  type WorldOptions,
} from "../test/fixture.js";
import { iommufdDeviceAttach } from "./device.js";
import { ULONG_MAX } from "./io-pagetable.js";
import {
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  iommu_vfio_ioas,
} from "./uapi.js";
import {
  iommufdVfioCompatIoasCreate,
  iommufdVfioCompatIoasGetId,
  iommufdVfioCompatSetNoIommu,
} from "./vfio-compat.js";

const PS = BigInt(PAGE_SIZE);
const IOVA = 1n << 24n;
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
const BUFFER_SIZE = 16 * PAGE_SIZE;

function world(opts: WorldOptions = {}) {
  const w = setup({ cmdline: "iommufd.allow_unsafe_interrupts=1", ...opts });
  const ictx = ictxOf(w);
  const buf = buffer(w, BUFFER_SIZE);
  w.p.poke(buf, new Uint8Array(BUFFER_SIZE).fill(0x3c));
  return { ...w, ictx, buf };
}
type W = ReturnType<typeof world>;

/** A compat IOAS, as VFIO's group code makes one; returns its id. */
function compat(w: W): number {
  iommufdVfioCompatIoasCreate(w.ictx);
  return iommufdVfioCompatIoasGetId(w.ictx);
}

/** c030000.dma-test bound and attached to `ioasId` (what a VFIO group attach does). */
function attachDevice(w: W, ioasId: number): void {
  iommufdDeviceAttach(bindDev(w, DMAT0), IOMMU_NO_PASID, ioasId);
}

function ioctl(w: World, request: number, arg = 0): number {
  return w.p.ioctl(w.fd, request, arg);
}

function mapDma(
  w: W,
  iova: bigint,
  size: number | bigint,
  vaddr = w.buf,
  a: { flags?: number; argsz?: number } = {},
) {
  ioctlStruct(
    w,
    VFIO_IOMMU_MAP_DMA,
    vfio_iommu_type1_dma_map,
    {
      argsz: 0,
      flags: a.flags ?? RW,
      vaddr: BigInt(vaddr),
      iova,
      size: BigInt(size),
    },
    { size: a.argsz ?? vfio_iommu_type1_dma_map.size },
  );
}

/** VFIO_IOMMU_UNMAP_DMA: the error (or null) and the struct as written back. */
function unmapDma(w: W, iova: bigint, size: bigint, a: { flags?: number; argsz?: number } = {}) {
  const l = vfio_iommu_type1_dma_unmap;
  const bytes = l.encode({ argsz: a.argsz ?? l.size, flags: a.flags ?? 0, iova, size });
  w.p.poke(w.arg, bytes);
  let err: unknown = null;
  try {
    ioctl(w, VFIO_IOMMU_UNMAP_DMA, w.arg);
  } catch (e) {
    err = e;
  }
  return { err, out: l.decode(w.p.peek(w.arg, l.size)) };
}

function expectErr(err: unknown, code: ErrnoName): void {
  expect(() => {
    throw err;
  }).toThrowErrno(code);
}

/** VFIO_IOMMU_GET_INFO into a 0xaa-filled page: the header and the raw buffer. */
function getInfo(w: W, argsz: number) {
  const buf = w.p.malloc(PAGE_SIZE);
  w.p.poke(buf, new Uint8Array(PAGE_SIZE).fill(0xaa));
  w.p.poke(buf, vfio_iommu_type1_info.encode({ argsz }).subarray(0, Math.min(argsz, 24)));
  ioctl(w, VFIO_IOMMU_GET_INFO, buf);
  const raw = w.p.peek(buf, PAGE_SIZE);
  return { info: vfio_iommu_type1_info.decode(raw), raw };
}

function areas(w: W, ioasId: number): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  const tree = ioasObj(w, ioasId).iopt.areaItree;
  for (let n = tree.first(); n; n = tree.next(n)) out.push([n.start, n.last]);
  return out;
}

describe("iommufd_vfio_ioctl", () => {
  it("VFIO_GET_API_VERSION is VFIO_API_VERSION", () => {
    const w = world();
    expect(ioctl(w, VFIO_GET_API_VERSION)).toBe(VFIO_API_VERSION);
  });

  it("any other request is ENOTTY (VFIO_IOMMU_DIRTY_PAGES included)", () => {
    const w = world();
    expect(() => ioctl(w, VFIO_IOMMU_DIRTY_PAGES, w.arg)).toThrowErrno("ENOTTY");
    expect(() => ioctl(w, VFIO_GET_API_VERSION + 20)).toThrowErrno("ENOTTY");
  });
});

describe("VFIO_CHECK_EXTENSION", () => {
  it("TYPE1, TYPE1v2 and UNMAP_ALL are there; nesting, VADDR and sPAPR are not", () => {
    const w = world();
    for (const ext of [VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL]) {
      expect(ioctl(w, VFIO_CHECK_EXTENSION, ext)).toBe(1);
    }
    for (const ext of [
      __VFIO_RESERVED_TYPE1_NESTING_IOMMU,
      VFIO_UPDATE_VADDR,
      VFIO_SPAPR_TCE_IOMMU,
      77,
    ]) {
      expect(ioctl(w, VFIO_CHECK_EXTENSION, ext)).toBe(0);
    }
  });

  it("in no-IOMMU mode TYPE1, TYPE1v2 and UNMAP_ALL answer 0", () => {
    const w = world();
    iommufdVfioCompatSetNoIommu(w.ictx);
    for (const ext of [VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL]) {
      expect(ioctl(w, VFIO_CHECK_EXTENSION, ext)).toBe(0);
    }
  });

  it("VFIO_NOIOMMU_IOMMU answers CONFIG_VFIO_NOIOMMU", () => {
    expect(ioctl(world(), VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU)).toBe(1);
    const off = world({ config: { CONFIG_VFIO_NOIOMMU: false } });
    expect(ioctl(off, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU)).toBe(0);
  });

  it("VFIO_DMA_CC_IOMMU is ENODEV without a compat IOAS", () => {
    const w = world();
    expect(() => ioctl(w, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU)).toThrowErrno("ENODEV");
  });

  it("VFIO_DMA_CC_IOMMU is 1 with no HWPT, 0 once the SMMU's (non-snooping) HWPT is there", () => {
    const w = world();
    const id = compat(w);
    expect(ioctl(w, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU)).toBe(1);
    attachDevice(w, id);
    expect(ioctl(w, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU)).toBe(0);
  });
});

describe("VFIO_SET_IOMMU", () => {
  it("ENODEV for TYPE1 and TYPE1v2 without a compat IOAS", () => {
    const w = world();
    expect(() => ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("ENODEV");
    expect(() => ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)).toThrowErrno("ENODEV");
  });

  it("EINVAL for another type, before looking for the IOAS", () => {
    const w = world();
    for (const t of [VFIO_SPAPR_TCE_IOMMU, VFIO_NOIOMMU_IOMMU, 0]) {
      expect(() => ioctl(w, VFIO_SET_IOMMU, t)).toThrowErrno("EINVAL");
    }
  });

  it("TYPE1v2 keeps huge pages; TYPE1 disables them", () => {
    const w = world();
    const id = compat(w);
    ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    expect(optionGet(w, IOMMU_OPTION_HUGE_PAGES, id)).toBe(1n);
    ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU);
    expect(optionGet(w, IOMMU_OPTION_HUGE_PAGES, id)).toBe(0n);
    expect(iovaRanges(w, id).out.out_iova_alignment).toBe(PS);
  });

  it("TYPE1 is EINVAL once a domain holds mappings", () => {
    const w = world();
    const id = compat(w);
    attachDevice(w, id);
    mapDma(w, IOVA, PAGE_SIZE);
    expect(() => ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)).toThrowErrno("EINVAL");
    expect(optionGet(w, IOMMU_OPTION_HUGE_PAGES, id)).toBe(1n);
  });

  it("TYPE1 is EADDRINUSE when a mapping is not PAGE_SIZE aligned", () => {
    const w = world();
    const id = compat(w);
    ioasMap(w, id, w.buf + 0x800, PAGE_SIZE, IOVA + 0x800n);
    expect(() => ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)).toThrowErrno("EADDRINUSE");
    expect(optionGet(w, IOMMU_OPTION_HUGE_PAGES, id)).toBe(1n);
  });

  it("no-IOMMU mode: VFIO_NOIOMMU_IOMMU needs CAP_SYS_RAWIO (EPERM), TYPE1 is EINVAL", () => {
    const w = world();
    iommufdVfioCompatSetNoIommu(w.ictx);
    expect(ioctl(w, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)).toBe(0);
    expect(() => ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("EINVAL");
    w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_SYS_RAWIO") });
    expect(() => ioctl(w, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)).toThrowErrno("EPERM");
  });

  it("no-IOMMU mode without CONFIG_VFIO_NOIOMMU: VFIO_NOIOMMU_IOMMU is EINVAL", () => {
    const w = world({ config: { CONFIG_VFIO_NOIOMMU: false } });
    iommufdVfioCompatSetNoIommu(w.ictx);
    expect(() => ioctl(w, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)).toThrowErrno("EINVAL");
  });
});

describe("VFIO_IOMMU_MAP_DMA", () => {
  it("EFAULT for an unreadable struct", () => {
    const w = world();
    expect(() => ioctl(w, VFIO_IOMMU_MAP_DMA, 0)).toThrowErrno("EFAULT");
  });

  it("EINVAL for argsz short of `size`", () => {
    const w = world();
    compat(w);
    expect(() => mapDma(w, IOVA, PAGE_SIZE, w.buf, { argsz: 31 })).toThrowErrno("EINVAL");
  });

  it("EINVAL for a flag other than READ and WRITE (VADDR included)", () => {
    const w = world();
    compat(w);
    expect(() =>
      mapDma(w, IOVA, PAGE_SIZE, w.buf, { flags: VFIO_DMA_MAP_FLAG_VADDR }),
    ).toThrowErrno("EINVAL");
    expect(() => mapDma(w, IOVA, PAGE_SIZE, w.buf, { flags: 0x8000_0000 })).toThrowErrno("EINVAL");
  });

  it("ENODEV without a compat IOAS", () => {
    const w = world();
    expect(() => mapDma(w, IOVA, PAGE_SIZE)).toThrowErrno("ENODEV");
  });

  it("maps at exactly the given IOVA with the given permissions", () => {
    const w = world();
    const id = compat(w);
    mapDma(w, IOVA, 2 * PAGE_SIZE);
    mapDma(w, IOVA + 4n * PS, PAGE_SIZE, w.buf, { flags: VFIO_DMA_MAP_FLAG_READ });
    expect(areas(w, id)).toEqual([
      [IOVA, IOVA + 2n * PS - 1n],
      [IOVA + 4n * PS, IOVA + 5n * PS - 1n],
    ]);
    const tree = ioasObj(w, id).iopt.areaItree;
    expect(tree.first()!.value.iommuProt).toBe(1 | 2 | 4);
    expect(tree.next(tree.first()!)!.value.iommuProt).toBe(1 | 4);
  });

  it("IOMMU_IOAS_MAP's errors: EEXIST for an overlap, EINVAL for a zero size", () => {
    const w = world();
    compat(w);
    mapDma(w, IOVA, 2 * PAGE_SIZE);
    expect(() => mapDma(w, IOVA + PS, PAGE_SIZE)).toThrowErrno("EEXIST");
    expect(() => mapDma(w, IOVA + 8n * PS, 0)).toThrowErrno("EINVAL");
  });

  it("charges the mm's locked_vm on /dev/vfio/vfio (MM mode), the user's on /dev/iommu", () => {
    for (const node of ["/dev/vfio/vfio", "/dev/iommu"]) {
      const w0 = world({ config: { CONFIG_VFIO_CONTAINER: false } });
      const fd = w0.p.open(node, O_RDWR);
      const w = { ...w0, fd, ictx: ictxOf(w0, fd) };
      w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_IPC_LOCK") });
      const id = compat(w);
      attachDevice(w, id);
      const userLocked = () => w.kernel.users.findUser(w.p.uid)?.lockedVm ?? 0;
      const before = { mm: w.p.mm.lockedVm, user: userLocked() };
      mapDma(w, IOVA, 4 * PAGE_SIZE);
      const mm = node === "/dev/vfio/vfio";
      expect(w.p.mm.lockedVm - before.mm).toBe(mm ? 4 : 0);
      expect(userLocked() - before.user).toBe(mm ? 0 : 4);
      expect(w.p.mm.pinnedVm).toBe(4);
    }
  });
});

describe("VFIO_IOMMU_UNMAP_DMA", () => {
  it("EFAULT for an unreadable struct", () => {
    const w = world();
    expect(() => ioctl(w, VFIO_IOMMU_UNMAP_DMA, 0)).toThrowErrno("EFAULT");
  });

  it("EINVAL for argsz short of `size`", () => {
    const w = world();
    compat(w);
    expectErr(unmapDma(w, IOVA, PS, { argsz: 23 }).err, "EINVAL");
  });

  it("EINVAL for GET_DIRTY_BITMAP, VADDR or an unknown flag", () => {
    const w = world();
    compat(w);
    for (const flags of [
      VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
      VFIO_DMA_UNMAP_FLAG_VADDR,
      0x8000_0000,
    ]) {
      expectErr(unmapDma(w, IOVA, PS, { flags }).err, "EINVAL");
    }
  });

  it("ENODEV without a compat IOAS", () => {
    const w = world();
    expectErr(unmapDma(w, IOVA, PS).err, "ENODEV");
  });

  it("UNMAP_FLAG_ALL with a non-zero iova or size is EINVAL and nothing is written back", () => {
    const w = world();
    const id = compat(w);
    mapDma(w, IOVA, PAGE_SIZE);
    const r = unmapDma(w, 0n, PS, { flags: VFIO_DMA_UNMAP_FLAG_ALL });
    expectErr(r.err, "EINVAL");
    expect(r.out.size).toBe(PS);
    expectErr(unmapDma(w, IOVA, 0n, { flags: VFIO_DMA_UNMAP_FLAG_ALL }).err, "EINVAL");
    expect(areas(w, id).length).toBe(1);
  });

  it("UNMAP_FLAG_ALL unmaps everything and returns the bytes", () => {
    const w = world();
    const id = compat(w);
    mapDma(w, IOVA, 2 * PAGE_SIZE);
    mapDma(w, IOVA + 8n * PS, PAGE_SIZE);
    const r = unmapDma(w, 0n, 0n, { flags: VFIO_DMA_UNMAP_FLAG_ALL });
    expect(r.err).toBeNull();
    expect(r.out.size).toBe(3n * PS);
    expect(areas(w, id)).toEqual([]);
  });

  it("an empty range succeeds with size 0", () => {
    const w = world();
    compat(w);
    const r = unmapDma(w, IOVA, PS);
    expect(r.err).toBeNull();
    expect(r.out).toMatchObject({ argsz: 24, flags: 0, iova: IOVA, size: 0n });
  });

  it("TYPE1v2: a range that splits a mapping is ENOENT, with size 0 written back", () => {
    const w = world();
    const id = compat(w);
    ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    mapDma(w, IOVA, 4 * PAGE_SIZE);
    const r = unmapDma(w, IOVA + PS, PS);
    expectErr(r.err, "ENOENT");
    expect(r.out.size).toBe(0n);
    expect(areas(w, id)).toEqual([[IOVA, IOVA + 4n * PS - 1n]]);
  });

  it("a failure half way still writes back what was unmapped", () => {
    const w = world();
    const id = compat(w);
    mapDma(w, IOVA, PAGE_SIZE);
    mapDma(w, IOVA + PS, 2 * PAGE_SIZE);
    const r = unmapDma(w, IOVA, 2n * PS);
    expectErr(r.err, "ENOENT");
    expect(r.out.size).toBe(PS);
    expect(areas(w, id)).toEqual([[IOVA + PS, IOVA + 3n * PS - 1n]]);
  });

  it("TYPE1: cuts the range out of a larger mapping", () => {
    const w = world();
    const id = compat(w);
    ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU);
    mapDma(w, IOVA, 4 * PAGE_SIZE);
    const r = unmapDma(w, IOVA + PS, 2n * PS);
    expect(r.err).toBeNull();
    expect(r.out.size).toBe(2n * PS);
    expect(areas(w, id)).toEqual([
      [IOVA, IOVA + PS - 1n],
      [IOVA + 3n * PS, IOVA + 4n * PS - 1n],
    ]);
  });

  it("TYPE1 at IOVA 0 makes only the cut at the end", () => {
    const w = world();
    const id = compat(w);
    ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU);
    mapDma(w, 0n, 2 * PAGE_SIZE);
    expect(unmapDma(w, 0n, PS).out.size).toBe(PS);
    expect(areas(w, id)).toEqual([[PS, 2n * PS - 1n]]);
  });

  it("TYPE1 with size 0: the cut before the range stays, the unmap is EINVAL", () => {
    const w = world();
    const id = compat(w);
    ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU);
    mapDma(w, IOVA, 4 * PAGE_SIZE);
    const r = unmapDma(w, IOVA + 2n * PS, 0n);
    expectErr(r.err, "EINVAL");
    expect(r.out.size).toBe(0n);
    expect(areas(w, id)).toEqual([
      [IOVA, IOVA + 2n * PS - 1n],
      [IOVA + 2n * PS, IOVA + 4n * PS - 1n],
    ]);
  });

  it("TYPE1: a cut through an area an access has pinned is EINVAL, nothing written back", () => {
    const w = world();
    const id = compat(w);
    ioctl(w, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU);
    mapDma(w, IOVA, 4 * PAGE_SIZE);
    const area = ioasObj(w, id).iopt.areaItree.first()!.value;
    area.numAccesses++;
    const r = unmapDma(w, IOVA + PS, PS);
    area.numAccesses--;
    expectErr(r.err, "EINVAL");
    expect(r.out.size).toBe(PS);
  });

  it("EFAULT when the answer cannot be written; the unmap has happened", () => {
    const w = world();
    const id = compat(w);
    mapDma(w, IOVA, PAGE_SIZE);
    const ro = w.p.malloc(PAGE_SIZE);
    w.p.poke(ro, vfio_iommu_type1_dma_unmap.encode({ argsz: 24, iova: IOVA, size: PS }));
    w.p.mprotect(ro, PAGE_SIZE, PROT_READ);
    expect(() => ioctl(w, VFIO_IOMMU_UNMAP_DMA, ro)).toThrowErrno("EFAULT");
    w.p.mprotect(ro, PAGE_SIZE, PROT_READ | PROT_WRITE);
    expect(areas(w, id)).toEqual([]);
  });
});

describe("VFIO_IOMMU_GET_INFO", () => {
  it("EFAULT for an unreadable struct", () => {
    const w = world();
    expect(() => ioctl(w, VFIO_IOMMU_GET_INFO, 0)).toThrowErrno("EFAULT");
  });

  it("EINVAL for argsz short of iova_pgsizes", () => {
    const w = world();
    compat(w);
    expect(() => getInfo(w, 15)).toThrowErrno("EINVAL");
  });

  it("ENODEV without a compat IOAS", () => {
    const w = world();
    expect(() => getInfo(w, 24)).toThrowErrno("ENODEV");
  });

  it("without a domain: every page size from PAGE_SIZE up, one IOVA range, DMA_AVAIL U32_MAX", () => {
    const w = world();
    compat(w);
    const { info } = getInfo(w, 24);
    expect(info.flags).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
    expect(info.iova_pgsizes).toBe(ULONG_MAX & ~(PS - 1n));
    expect(info.cap_offset).toBe(0);
    // 24 + DMA_AVAIL (12, aligned to 16) + IOVA_RANGE with one range (32).
    expect(info.argsz).toBe(72);
    const full = getInfo(w, 72);
    expect(full.info.cap_offset).toBe(24);
    const avail = vfio_iommu_type1_info_dma_avail.decode(full.raw, 24);
    expect(avail).toEqual({
      header: { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: 1, next: 40 },
      avail: 0xffff_ffff,
    });
    const iovas = vfio_iommu_type1_info_cap_iova_range.decode(full.raw, 40, 1);
    expect(iovas).toEqual({
      header: { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1, next: 0 },
      nr_iovas: 1,
      reserved: 0,
      iova_ranges: [{ start: 0n, end: ULONG_MAX }],
    });
  });

  it("with the SMMU's domain: its page sizes, and the ranges IOMMU_IOAS_IOVA_RANGES reports", () => {
    const w = world();
    const id = compat(w);
    attachDevice(w, id);
    const domain = ioasObj(w, id).iopt.domains[0]!;
    const { info } = getInfo(w, 24);
    expect(info.iova_pgsizes).toBe(BigInt(domain.pgsizeBitmap));
    const full = getInfo(w, info.argsz);
    const ranges = iovaRanges(w, id).ranges;
    const cap = vfio_iommu_type1_info_cap_iova_range.decode(full.raw, 40, ranges.length);
    expect(cap.nr_iovas).toBe(ranges.length);
    expect(cap.iova_ranges.map((r) => [r.start, r.end])).toEqual(ranges);
    expect(full.info.argsz).toBe(40 + 16 + 16 * ranges.length);
  });

  it("the pre-capability ABI (argsz 16) gets 16 bytes and nothing more", () => {
    const w = world();
    compat(w);
    const { info, raw } = getInfo(w, 16);
    expect(info.flags).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
    expect(info.iova_pgsizes).not.toBe(0n);
    expect(raw.subarray(16).every((b) => b === 0xaa)).toBe(true);
  });

  it("a chain cut short links only the capabilities that fit and never writes past argsz", () => {
    const w = world();
    const id = compat(w);
    attachDevice(w, id);
    const total = getInfo(w, 24).info.argsz;
    for (let argsz = 16; argsz <= total + 8; argsz++) {
      const { info, raw } = getInfo(w, argsz);
      expect(raw.subarray(argsz).every((b) => b === 0xaa)).toBe(true);
      // argsz is in the first 16 bytes, which every accepted call gets back.
      expect(info.argsz).toBe(total);
      if (argsz >= 40) {
        // The first capability fits: written whole, linked only once the second's start fits.
        const h = vfio_info_cap_header.decode(raw, 24);
        expect(h.id).toBe(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
        expect(h.next).toBe(40);
      }
      if (argsz >= 24) expect(info.cap_offset).toBe(argsz >= total ? 24 : 0);
    }
  });

  describe("with reserved holes in the IOVA space", () => {
    const w = world();
    const id = compat(w);
    const iopt = ioasObj(w, id).iopt;
    iopt.reserveIova(1n << 20n, (1n << 21n) - 1n, null);
    iopt.reserveIova(1n << 30n, (1n << 31n) - 1n, null);
    iopt.reserveIova(ULONG_MAX - PS + 1n, ULONG_MAX, null);

    fcTest.prop([fc.integer({ min: 16, max: 512 })], { numRuns: 60 })(
      "never writes past argsz, and a full buffer gets the whole chain",
      (argsz) => {
        const { info, raw } = getInfo(w, argsz);
        expect(raw.subarray(argsz).every((b) => b === 0xaa)).toBe(true);
        // 24 + DMA_AVAIL 16 + IOVA_RANGE 16 + 3 holes of 16.
        expect(info.argsz).toBe(104);
        if (argsz >= 104) {
          const cap = vfio_iommu_type1_info_cap_iova_range.decode(raw, 40, 3);
          expect(cap.iova_ranges).toEqual([
            { start: 0n, end: (1n << 20n) - 1n },
            { start: 1n << 21n, end: (1n << 30n) - 1n },
            { start: 1n << 31n, end: ULONG_MAX - PS },
          ]);
        }
      },
    );
  });
});

describe("the compat IOAS API", () => {
  it("iommufd_vfio_compat_ioas_get_id is ENODEV without one", () => {
    const w = world();
    expect(() => iommufdVfioCompatIoasGetId(w.ictx)).toThrowErrno("ENODEV");
  });

  it("iommufd_vfio_compat_ioas_create makes an ordinary IOAS user space can find and destroy", () => {
    const w = world();
    iommufdVfioCompatIoasCreate(w.ictx);
    const id = iommufdVfioCompatIoasGetId(w.ictx);
    expect(ioasObj(w, id).type).toBe("IOAS");
    expect(
      ioctlStruct(w, IOMMU_VFIO_IOAS, iommu_vfio_ioas, { size: 0, op: IOMMU_VFIO_IOAS_GET })
        .ioas_id,
    ).toBe(id);
    destroy(w, id);
    expect(() => iommufdVfioCompatIoasGetId(w.ictx)).toThrowErrno("ENODEV");
    iommufdVfioCompatIoasCreate(w.ictx);
    expect(iommufdVfioCompatIoasGetId(w.ictx)).toBe(id);
  });

  it("an existing compat IOAS wins: the new one is aborted and its ID not consumed", () => {
    const w = world();
    const mine = ioasAlloc(w);
    ioctlStruct(w, IOMMU_VFIO_IOAS, iommu_vfio_ioas, {
      size: 0,
      op: IOMMU_VFIO_IOAS_SET,
      ioas_id: mine,
    });
    iommufdVfioCompatIoasCreate(w.ictx);
    expect(iommufdVfioCompatIoasGetId(w.ictx)).toBe(mine);
    expect(ioasAlloc(w)).toBe(mine + 1);
  });

  it("ENOMEM when the IOAS cannot be allocated", () => {
    const w = world();
    w.kernel.allocator.setFailHook((site) => site === "kzalloc");
    expect(() => iommufdVfioCompatIoasCreate(w.ictx)).toThrowErrno("ENOMEM");
    w.kernel.allocator.setFailHook(undefined);
    expect(w.ictx.objects.size).toBe(0);
  });

  it("EINVAL in no-IOMMU mode, and no ID is consumed", () => {
    const w = world();
    iommufdVfioCompatSetNoIommu(w.ictx);
    expect(() => iommufdVfioCompatIoasCreate(w.ictx)).toThrowErrno("EINVAL");
    expect(w.ictx.objects.size).toBe(0);
    expect(ioasAlloc(w)).toBe(1);
  });

  it("iommufd_vfio_compat_set_no_iommu is EINVAL once a compat IOAS exists", () => {
    const w = world();
    compat(w);
    expect(() => iommufdVfioCompatSetNoIommu(w.ictx)).toThrowErrno("EINVAL");
    expect(w.ictx.noIommuMode).toBe(false);
  });

  it("the compat IOAS goes with the file, whoever created it", () => {
    const w = world();
    compat(w);
    w.p.close(w.fd);
    expect(w.ictx.objects.size).toBe(0);
  });
});
