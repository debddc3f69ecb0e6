/**
 * The IOAS ioctls, ported from tools/testing/selftests/iommu/iommufd.c (Linux 7.3): the
 * `iommufd` fixture, `change_process`, and the `iommufd_ioas` cases of the `no_domain` variant
 * (plus the domain-backed ones where an SMMU paging domain stands in for the mock domain).
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import type { Process } from "@vfio-lab/kernel";
import { _IO, type StructLayout } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import {
  allowIovas,
  buffer,
  destroy,
  ictxOf,
  ioasAlloc,
  ioasCopy,
  ioasMap,
  ioasMapFile,
  ioasObj,
  ioasUnmap,
  ioctlStruct,
  iovaRanges,
  MAP_RW,
  memfd,
  optionGet,
  optionSet,
  setup,
  smmuDomain,
  type World,
} from "../test/fixture.js";
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_CHANGE_PROCESS,
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
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  IOMMUFD_CMD_BASE,
  IOMMUFD_TYPE,
  IOPT_PAGES_ACCOUNT_MM,
  IOPT_PAGES_ACCOUNT_NONE,
  IOPT_PAGES_ACCOUNT_USER,
  iommu_destroy,
  iommu_ioas_alloc,
  iommu_ioas_allow_iovas,
  iommu_ioas_change_process,
  iommu_ioas_copy,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  iommu_ioas_map_file,
  iommu_ioas_noiommu_get_pa,
  iommu_ioas_unmap,
  iommu_option,
  iommu_vfio_ioas,
} from "./uapi.js";

const PS = BigInt(PAGE_SIZE);
const U64_MAX = (1n << 64n) - 1n;
/** iommufd_test.h */
const MOCK_APERTURE_START = 1n << 24n;
const MOCK_PAGE_SIZE = PAGE_SIZE / 2;
/** The selftests' BUFFER_SIZE. */
const BUFFER_SIZE = PAGE_SIZE * 16;

/** The `iommufd_ioas` fixture, no_domain variant: an fd, an IOAS, a buffer. */
function ioasFixture(opts: Parameters<typeof setup>[0] = {}) {
  const w = setup(opts);
  const ioasId = ioasAlloc(w);
  const buf = buffer(w, BUFFER_SIZE);
  return { ...w, ioasId, buf, baseIova: 0n };
}

/** Raw ioctl of `bytes` (with whatever `size` they carry). */
function rawIoctl(w: World, request: number, bytes: Uint8Array): void {
  w.p.poke(w.arg, bytes);
  w.p.ioctl(w.fd, request, w.arg);
}

function dropCapIpcLock(p: Process): void {
  p.capset({ effective: p.capget().effective.filter((c) => c !== "CAP_IPC_LOCK") });
}

describe("FIXTURE(iommufd)", () => {
  it("simple_close", () => {
    const w = setup();
    w.p.close(w.fd);
    expect(w.kernel.allocator.totalPins).toBe(0);
  });

  it("cmd_fail", () => {
    const w = setup();
    expect(() => destroy(w, 0)).toThrowErrno("ENOENT");
    expect(() => w.p.ioctl(w.fd, IOMMU_DESTROY, 0)).toThrowErrno("EFAULT");
    expect(() =>
      ioctlStruct(w, _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE - 1), iommu_destroy, { size: 0, id: 0 }),
    ).toThrowErrno("ENOTTY");
  });

  /** TEST_LENGTH(): short → EINVAL, long with a non-zero tail → E2BIG, zero tail ≡ exact. */
  function testLength(w: World, layout: StructLayout, request: number, last: string): void {
    const minSize = layout.offsetofend(last as never);
    const buf = new Uint8Array(layout.size + 1);
    const dv = new DataView(buf.buffer);
    buf[layout.size] = 0xff;
    dv.setUint32(0, minSize - 1, true);
    expect(() => rawIoctl(w, request, buf), `${layout.name} short`).toThrowErrno("EINVAL");
    dv.setUint32(0, layout.size + 1, true);
    expect(() => rawIoctl(w, request, buf), `${layout.name} long`).toThrowErrno("E2BIG");
    const exact = new Uint8Array(layout.size + 1);
    new DataView(exact.buffer).setUint32(0, layout.size, true);
    let err: unknown = null;
    try {
      rawIoctl(w, request, exact);
    } catch (e) {
      err = e;
    }
    const longer = new Uint8Array(layout.size + 1);
    new DataView(longer.buffer).setUint32(0, layout.size + 1, true);
    if (err === null) rawIoctl(w, request, longer);
    else
      expect(() => rawIoctl(w, request, longer)).toThrowErrno(
        (err as { code: string }).code as never,
      );
  }

  it("cmd_length", () => {
    const w = setup();
    testLength(w, iommu_destroy, IOMMU_DESTROY, "id");
    testLength(w, iommu_ioas_alloc, IOMMU_IOAS_ALLOC, "out_ioas_id");
    testLength(w, iommu_ioas_iova_ranges, IOMMU_IOAS_IOVA_RANGES, "out_iova_alignment");
    testLength(w, iommu_ioas_allow_iovas, IOMMU_IOAS_ALLOW_IOVAS, "allowed_iovas");
    testLength(w, iommu_ioas_map, IOMMU_IOAS_MAP, "iova");
    testLength(w, iommu_ioas_copy, IOMMU_IOAS_COPY, "src_iova");
    testLength(w, iommu_ioas_unmap, IOMMU_IOAS_UNMAP, "length");
    testLength(w, iommu_option, IOMMU_OPTION, "val64");
    testLength(w, iommu_vfio_ioas, IOMMU_VFIO_IOAS, "__reserved");
    testLength(w, iommu_ioas_map_file, IOMMU_IOAS_MAP_FILE, "iova");
    testLength(w, iommu_ioas_change_process, IOMMU_IOAS_CHANGE_PROCESS, "__reserved");
    testLength(w, iommu_ioas_noiommu_get_pa, IOMMU_IOAS_NOIOMMU_GET_PA, "out_phys");
  });

  it("cmd_ex_fail", () => {
    const w = setup();
    const buf = new Uint8Array(16);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, 16, true);
    expect(() => rawIoctl(w, IOMMU_DESTROY, buf)).toThrowErrno("ENOENT");
    dv.setBigUint64(8, 1n, true);
    expect(() => rawIoctl(w, IOMMU_DESTROY, buf)).toThrowErrno("E2BIG");
    dv.setUint32(0, 8, true);
    expect(() => rawIoctl(w, IOMMU_DESTROY, buf)).toThrowErrno("ENOENT");
    dv.setUint32(0, 7, true);
    expect(() => rawIoctl(w, IOMMU_DESTROY, buf)).toThrowErrno("EINVAL");
  });

  it("global_options", () => {
    const w = setup();
    expect(optionGet(w, IOMMU_OPTION_RLIMIT_MODE, 0)).toBe(0n);
    optionSet(w, IOMMU_OPTION_RLIMIT_MODE, 0, 1n);
    expect(() => optionSet(w, IOMMU_OPTION_RLIMIT_MODE, 0, 2n)).toThrowErrno("EINVAL");
    expect(optionGet(w, IOMMU_OPTION_RLIMIT_MODE, 0)).toBe(1n);
    optionSet(w, IOMMU_OPTION_RLIMIT_MODE, 0, 0n);
    expect(() => optionGet(w, IOMMU_OPTION_HUGE_PAGES, 0)).toThrowErrno("ENOENT");
    expect(() => optionSet(w, IOMMU_OPTION_HUGE_PAGES, 0, 0n)).toThrowErrno("ENOENT");
  });

  it("global_options: RLIMIT_MODE SET needs CAP_SYS_RESOURCE (EPERM)", () => {
    const w = setup();
    w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_SYS_RESOURCE") });
    expect(() => optionSet(w, IOMMU_OPTION_RLIMIT_MODE, 0, 1n)).toThrowErrno("EPERM");
    expect(optionGet(w, IOMMU_OPTION_RLIMIT_MODE, 0)).toBe(0n);
  });

  it("global_options: RLIMIT_MODE SET with objects is EBUSY; object_id, op, option and __reserved", () => {
    const w = setup();
    expect(() => optionGet(w, IOMMU_OPTION_RLIMIT_MODE, 1)).toThrowErrno("EOPNOTSUPP");
    expect(() =>
      ioctlStruct(w, IOMMU_OPTION, iommu_option, { size: 0, option_id: 0, op: 2 }),
    ).toThrowErrno("EOPNOTSUPP");
    expect(() =>
      ioctlStruct(w, IOMMU_OPTION, iommu_option, { size: 0, option_id: 7, op: 1 }),
    ).toThrowErrno("EOPNOTSUPP");
    expect(() =>
      ioctlStruct(w, IOMMU_OPTION, iommu_option, { size: 0, __reserved: 1, op: 1 }),
    ).toThrowErrno("EOPNOTSUPP");
    ioasAlloc(w);
    expect(() => optionSet(w, IOMMU_OPTION_RLIMIT_MODE, 0, 1n)).toThrowErrno("EBUSY");
  });

  it("IOMMU_OPTION writes back only val64", () => {
    const w = setup();
    const id = ioasAlloc(w);
    const out = ioctlStruct(w, IOMMU_OPTION, iommu_option, {
      size: 0,
      option_id: IOMMU_OPTION_HUGE_PAGES,
      op: IOMMU_OPTION_OP_GET,
      object_id: id,
      val64: 3n,
    });
    expect(out.val64).toBe(1n);
    expect(out.object_id).toBe(id);
    expect(out.option_id).toBe(IOMMU_OPTION_HUGE_PAGES);
  });

  it("vfio_ioas", () => {
    const w = setup();
    const op = (o: number, ioasId = 0) =>
      ioctlStruct(w, IOMMU_VFIO_IOAS, iommu_vfio_ioas, { size: 0, op: o, ioas_id: ioasId });
    expect(() => op(IOMMU_VFIO_IOAS_GET)).toThrowErrno("ENODEV");
    expect(() => op(IOMMU_VFIO_IOAS_SET)).toThrowErrno("ENOENT");
    const id = ioasAlloc(w);
    op(IOMMU_VFIO_IOAS_SET, id);
    expect(op(IOMMU_VFIO_IOAS_GET).ioas_id).toBe(id);
    op(IOMMU_VFIO_IOAS_CLEAR);
    expect(() => op(IOMMU_VFIO_IOAS_GET)).toThrowErrno("ENODEV");
    expect(() => op(3)).toThrowErrno("EOPNOTSUPP");
    expect(() =>
      ioctlStruct(w, IOMMU_VFIO_IOAS, iommu_vfio_ioas, { size: 0, op: 0, __reserved: 1 }),
    ).toThrowErrno("EOPNOTSUPP");
  });

  it("vfio_ioas: destroying the compat IOAS forgets it", () => {
    const w = setup();
    const id = ioasAlloc(w);
    ioctlStruct(w, IOMMU_VFIO_IOAS, iommu_vfio_ioas, {
      size: 0,
      op: IOMMU_VFIO_IOAS_SET,
      ioas_id: id,
    });
    destroy(w, id);
    expect(() =>
      ioctlStruct(w, IOMMU_VFIO_IOAS, iommu_vfio_ioas, { size: 0, op: IOMMU_VFIO_IOAS_GET }),
    ).toThrowErrno("ENODEV");
  });
});

describe("IOMMU_IOAS_ALLOC", () => {
  it("allocates the lowest free id and rejects flags (EOPNOTSUPP)", () => {
    const w = setup();
    expect(ioasAlloc(w)).toBe(1);
    expect(ioasAlloc(w)).toBe(2);
    expect(() =>
      ioctlStruct(w, IOMMU_IOAS_ALLOC, iommu_ioas_alloc, { size: 0, flags: 1 }),
    ).toThrowErrno("EOPNOTSUPP");
    destroy(w, 1);
    expect(ioasAlloc(w)).toBe(1);
  });

  it("a response that cannot be written aborts the object (EFAULT, id freed)", () => {
    const w = setup();
    const ro = w.p.mmap(0, PAGE_SIZE, 1 /* PROT_READ */, 0x22, -1, 0);
    const bytes = iommu_ioas_alloc.encode({ size: iommu_ioas_alloc.size });
    w.p.poke(w.arg, bytes);
    // The struct is readable but not writable: copy_from_user works, the answer faults.
    w.p.mprotect(w.arg, PAGE_SIZE, 1);
    expect(() => w.p.ioctl(w.fd, IOMMU_IOAS_ALLOC, w.arg)).toThrowErrno("EFAULT");
    w.p.mprotect(w.arg, PAGE_SIZE, 3);
    expect(ictxOf(w).objects.size).toBe(0);
    expect(ioasAlloc(w)).toBe(1);
    void ro;
  });

  it("fails with ENOMEM under fault injection and leaves nothing behind", () => {
    const w = setup();
    w.kernel.allocator.setFailHook((site) => site === "kzalloc");
    expect(() => ioasAlloc(w)).toThrowErrno("ENOMEM");
    w.kernel.allocator.setFailHook(undefined);
    expect(ictxOf(w).objects.size).toBe(0);
  });
});

describe("FIXTURE(iommufd_ioas) no_domain", () => {
  it("ioas_auto_destroy", () => {
    const w = ioasFixture();
    w.p.close(w.fd);
  });

  it("ioas_destroy", () => {
    const w = ioasFixture();
    destroy(w, w.ioasId);
    expect(() => destroy(w, w.ioasId)).toThrowErrno("ENOENT");
  });

  it("ioas_area_destroy", () => {
    const w = ioasFixture();
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, w.baseIova);
    destroy(w, w.ioasId);
  });

  it("ioas_area_auto_destroy", () => {
    const w = ioasFixture();
    for (let i = 0n; i !== 10n; i++) ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, w.baseIova + i * PS);
    w.p.close(w.fd);
  });

  it("area", () => {
    const w = ioasFixture();
    const id = w.ioasId;
    for (let i = 0n; i !== 10n; i++) {
      expect(() => ioasUnmap(w, id, i * PS, PS)).toThrowErrno("ENOENT");
    }
    for (let i = 0n; i !== 10n; i++) ioasMap(w, id, w.buf, PAGE_SIZE, w.baseIova + i * PS);
    for (let i = 0n; i !== 10n; i++) ioasUnmap(w, id, w.baseIova + i * PS, PS);

    // Split fails.
    ioasMap(w, id, w.buf, PAGE_SIZE * 2, w.baseIova + 16n * PS);
    expect(() => ioasUnmap(w, id, w.baseIova + 16n * PS, PS)).toThrowErrno("ENOENT");
    expect(() => ioasUnmap(w, id, w.baseIova + 17n * PS, PS)).toThrowErrno("ENOENT");

    // Over map fails.
    for (const [len, at] of [
      [2, 16],
      [1, 16],
      [1, 17],
      [2, 15],
      [3, 15],
    ] as const) {
      expect(() =>
        ioasMap(w, id, w.buf, PAGE_SIZE * len, w.baseIova + BigInt(at) * PS),
      ).toThrowErrno("EEXIST");
    }

    expect(ioasUnmap(w, id, 0n, U64_MAX)).toBe(2n * PS);
    // Unmap all succeeds on an empty IOAS.
    expect(ioasUnmap(w, id, 0n, U64_MAX)).toBe(0n);
  });

  it("unmap_fully_contained_areas", () => {
    const w = ioasFixture();
    const base = w.baseIova + 4n * PS;
    for (let i = 0n; i !== 4n; i++) ioasMap(w, w.ioasId, w.buf, 8 * PAGE_SIZE, base + i * 16n * PS);
    expect(() => ioasUnmap(w, w.ioasId, base - 4n * PS, 8n * PS)).toThrowErrno("ENOENT");
    expect(() =>
      ioasUnmap(w, w.ioasId, base + 3n * 16n * PS + 8n * PS - 4n * PS, 8n * PS),
    ).toThrowErrno("ENOENT");
    expect(ioasUnmap(w, w.ioasId, base - 4n * PS, 3n * 16n * PS + 8n * PS + 4n * PS)).toBe(
      32n * PS,
    );
  });

  it("unmap keeps the areas it removed before failing (partial effect)", () => {
    const w = ioasFixture();
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, 0x10000n);
    ioasMap(w, w.ioasId, w.buf, 2 * PAGE_SIZE, 0x20000n);
    expect(() => ioasUnmap(w, w.ioasId, 0x10000n, 0x11000n)).toThrowErrno("ENOENT");
    expect(() => ioasUnmap(w, w.ioasId, 0x10000n, PS)).toThrowErrno("ENOENT");
    expect(ioasUnmap(w, w.ioasId, 0x20000n, 2n * PS)).toBe(2n * PS);
  });

  it("area_auto_iova", () => {
    const w = ioasFixture();
    const id = w.ioasId;
    const iovas: bigint[] = [];
    for (let i = 0; i !== 10; i++) iovas.push(ioasMap(w, id, w.buf, PAGE_SIZE));
    for (const iova of iovas) ioasUnmap(w, id, iova, PS);

    // The kernel aligns IOVAs to the length's lowest bit.
    iovas.length = 0;
    for (let i = 0; i !== 10; i++) {
      const length = BigInt(PAGE_SIZE * (i + 1));
      const iova = ioasMap(w, id, 1n << 31n, length);
      expect(iova % (length & -length)).toBe(0n);
      iovas.push(iova);
    }
    for (const [i, iova] of iovas.entries()) ioasUnmap(w, id, iova, BigInt(PAGE_SIZE * (i + 1)));

    // Avoids a reserved region (IOMMU_TEST_OP_ADD_RESERVED: the iopt directly).
    const resvStart = PS * 4n;
    const resvLen = PS * 100n;
    ioasObj(w, id).iopt.reserveIova(resvStart, resvStart + resvLen - 1n, null);
    iovas.length = 0;
    for (let i = 0; i !== 10; i++) {
      const length = BigInt(PAGE_SIZE * (i + 1));
      const iova = ioasMap(w, id, w.buf, length);
      expect(iova % (length & -length)).toBe(0n);
      expect(iova > resvStart && iova < resvStart + resvLen).toBe(false);
      iovas.push(iova);
    }
    for (const [i, iova] of iovas.entries()) ioasUnmap(w, id, iova, BigInt(PAGE_SIZE * (i + 1)));

    // An allowed range that intersects the reserved one.
    expect(() => allowIovas(w, id, [[PS, PS * 600n]])).toThrowErrno("EADDRINUSE");

    // Allocate from an allowed range.
    const range = [PS * 200n, PS * 600n - 1n] as const;
    allowIovas(w, id, [range]);
    for (let i = 0; i !== 10; i++) {
      const length = BigInt(PAGE_SIZE * (i + 1));
      const iova = ioasMap(w, id, w.buf, length);
      expect(iova % (length & -length)).toBe(0n);
      expect(iova >= range[0] && iova + length <= range[1] + 1n).toBe(true);
    }
  });

  it("reserved_overflow", () => {
    const w = ioasFixture();
    ioasObj(w, w.ioasId).iopt.reserveIova(6n, 6n + 0xffffffffffff8001n - 1n, null);
    expect(() => ioasMap(w, w.ioasId, w.buf, 0x5000)).toThrowErrno("ENOSPC");
  });

  it("area_allowed", () => {
    const w = ioasFixture();
    const iopt = ioasObj(w, w.ioasId).iopt;
    const r0 = w.baseIova;
    allowIovas(w, w.ioasId, [[r0, r0 + PS * 600n]]);
    expect(() => iopt.reserveIova(r0 + PS, r0 + 2n * PS - 1n, null)).toThrowErrno("EADDRINUSE");
    allowIovas(w, w.ioasId, []);
    iopt.reserveIova(r0 + PS, r0 + 2n * PS - 1n, null);
    expect(() => allowIovas(w, w.ioasId, [[r0, r0 + PS * 600n]])).toThrowErrno("EADDRINUSE");
  });

  it("copy_area", () => {
    const w = ioasFixture();
    const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE;
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, w.baseIova);
    ioasCopy(w, w.ioasId, w.ioasId, w.baseIova, PS, w.baseIova + PS, flags);
    const dst = ioasAlloc(w);
    ioasCopy(w, dst, w.ioasId, w.baseIova, PS, 0n, flags);
  });

  it("iova_ranges", () => {
    const w = ioasFixture();
    let r = iovaRanges(w, w.ioasId, BUFFER_SIZE / 16);
    expect(r.out.num_iovas).toBe(1);
    expect(r.ranges).toEqual([[0n, U64_MAX]]);
    expect(r.out.out_iova_alignment).toBe(1n);

    r = iovaRanges(w, w.ioasId, 0);
    expect((r.err as { code: string }).code).toBe("EMSGSIZE");
    expect(r.out.num_iovas).toBe(1);

    ioasObj(w, w.ioasId).iopt.reserveIova(PS, 2n * PS - 1n, null);
    r = iovaRanges(w, w.ioasId, BUFFER_SIZE / 16);
    expect(r.ranges).toEqual([
      [0n, PS - 1n],
      [PS * 2n, U64_MAX],
    ]);

    r = iovaRanges(w, w.ioasId, 1);
    expect((r.err as { code: string }).code).toBe("EMSGSIZE");
    expect(r.out.num_iovas).toBe(2);
    expect(r.ranges).toEqual([[0n, PS - 1n]]);
  });

  it("iova_ranges: __reserved is EOPNOTSUPP, an unwritable array EFAULT, a bad id ENOENT", () => {
    const w = ioasFixture();
    expect(() =>
      ioctlStruct(w, IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, {
        size: 0,
        ioas_id: w.ioasId,
        __reserved: 1,
      }),
    ).toThrowErrno("EOPNOTSUPP");
    expect(() =>
      ioctlStruct(w, IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, { size: 0, ioas_id: 99 }),
    ).toThrowErrno("ENOENT");
    expect(() =>
      ioctlStruct(w, IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, {
        size: 0,
        ioas_id: w.ioasId,
        num_iovas: 1,
        allowed_iovas: 16n,
      }),
    ).toThrowErrno("EFAULT");
  });

  it("ioas_option_huge_pages", () => {
    const w = ioasFixture();
    expect(optionGet(w, IOMMU_OPTION_HUGE_PAGES, w.ioasId)).toBe(1n);
    optionSet(w, IOMMU_OPTION_HUGE_PAGES, w.ioasId, 0n);
    expect(optionGet(w, IOMMU_OPTION_HUGE_PAGES, w.ioasId)).toBe(0n);
    expect(() => optionSet(w, IOMMU_OPTION_HUGE_PAGES, w.ioasId, 2n)).toThrowErrno("EINVAL");
    optionSet(w, IOMMU_OPTION_HUGE_PAGES, w.ioasId, 1n);
    expect(() =>
      ioctlStruct(w, IOMMU_OPTION, iommu_option, {
        size: 0,
        option_id: IOMMU_OPTION_HUGE_PAGES,
        op: 5,
        object_id: w.ioasId,
      }),
    ).toThrowErrno("EOPNOTSUPP");
  });

  it("ioas_iova_alloc", () => {
    const w = ioasFixture();
    for (let length = 1; length !== PAGE_SIZE * 2; length++) {
      const iova = ioasMap(w, w.ioasId, w.buf, length);
      ioasUnmap(w, w.ioasId, iova, length);
    }
  });

  it("ioas_iova_alloc (SMMU domain: lengths off its 4 KiB page are EINVAL)", () => {
    const w = ioasFixture();
    ioasObj(w, w.ioasId).iopt.tableAddDomain(smmuDomain(w));
    for (let length = 1; length !== PAGE_SIZE * 2 + 1; length++) {
      if (length % PAGE_SIZE) {
        expect(() => ioasMap(w, w.ioasId, w.buf, length)).toThrowErrno("EINVAL");
      } else {
        const iova = ioasMap(w, w.ioasId, w.buf, length);
        ioasUnmap(w, w.ioasId, iova, length);
      }
    }
  });

  it("ioas_align_change", () => {
    const w = ioasFixture();
    const id = w.ioasId;
    ioasMap(w, id, w.buf, PAGE_SIZE, MOCK_APERTURE_START);
    optionSet(w, IOMMU_OPTION_HUGE_PAGES, id, 0n);
    expect(() =>
      ioasMap(w, id, w.buf + MOCK_PAGE_SIZE, PAGE_SIZE, MOCK_APERTURE_START + PS),
    ).toThrowErrno("EINVAL");
    optionSet(w, IOMMU_OPTION_HUGE_PAGES, id, 0n);
    optionSet(w, IOMMU_OPTION_HUGE_PAGES, id, 1n);
    ioasMap(w, id, w.buf + MOCK_PAGE_SIZE, PAGE_SIZE, MOCK_APERTURE_START + PS);
    expect(() => optionSet(w, IOMMU_OPTION_HUGE_PAGES, id, 0n)).toThrowErrno("EADDRINUSE");
    expect(optionGet(w, IOMMU_OPTION_HUGE_PAGES, id)).toBe(1n);
    ioasUnmap(w, id, MOCK_APERTURE_START + PS, PS);
    ioasUnmap(w, id, MOCK_APERTURE_START, PS);
  });

  it("copy_sweep", () => {
    const w = ioasFixture();
    const dst = ioasAlloc(w);
    const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE;
    const lastIova = MOCK_APERTURE_START + BigInt(BUFFER_SIZE) - 2n;
    ioasMap(w, w.ioasId, w.buf, lastIova - MOCK_APERTURE_START + 1n, MOCK_APERTURE_START);
    const length = BigInt(MOCK_PAGE_SIZE);
    for (let iova = MOCK_APERTURE_START - PS; iova <= lastIova; iova += 511n) {
      if (iova < MOCK_APERTURE_START || iova + length - 1n > lastIova) {
        expect(() =>
          ioasCopy(w, dst, w.ioasId, iova, length, MOCK_APERTURE_START, flags),
        ).toThrowErrno("ENOENT");
      } else {
        ioasCopy(w, dst, w.ioasId, iova, length, MOCK_APERTURE_START, flags);
        ioasUnmap(w, dst, MOCK_APERTURE_START, length);
      }
    }
    destroy(w, dst);
  });
});

describe("IOMMU_IOAS_MAP errors, in the kernel's order", () => {
  function map(w: World, v: Partial<Parameters<typeof iommu_ioas_map.encode>[0]>) {
    return ioctlStruct(w, IOMMU_IOAS_MAP, iommu_ioas_map, { size: 0, ...v });
  }

  it("unknown flags or __reserved: EOPNOTSUPP before anything else", () => {
    const w = ioasFixture();
    expect(() => map(w, { flags: 1 << 3, ioas_id: 999, length: U64_MAX })).toThrowErrno(
      "EOPNOTSUPP",
    );
    expect(() => map(w, { flags: MAP_RW, __reserved: 1, ioas_id: w.ioasId })).toThrowErrno(
      "EOPNOTSUPP",
    );
  });

  it("iova or length at ULONG_MAX: EOVERFLOW before the R/W and id checks", () => {
    const w = ioasFixture();
    expect(() => map(w, { flags: 0, ioas_id: 999, length: U64_MAX })).toThrowErrno("EOVERFLOW");
    expect(() => map(w, { flags: 0, ioas_id: 999, iova: U64_MAX })).toThrowErrno("EOVERFLOW");
  });

  it("neither readable nor writeable: EINVAL before the id check", () => {
    const w = ioasFixture();
    expect(() => map(w, { flags: IOMMU_IOAS_MAP_FIXED_IOVA, ioas_id: 999 })).toThrowErrno("EINVAL");
  });

  it("an id that is not an IOAS: ENOENT", () => {
    const w = ioasFixture();
    expect(() => map(w, { flags: MAP_RW, ioas_id: 999, length: PS })).toThrowErrno("ENOENT");
  });

  it("length 0 is EINVAL; user_va + length wrapping is EOVERFLOW", () => {
    const w = ioasFixture();
    expect(() => map(w, { flags: MAP_RW, ioas_id: w.ioasId, user_va: BigInt(w.buf) })).toThrowErrno(
      "EINVAL",
    );
    expect(() =>
      map(w, { flags: MAP_RW, ioas_id: w.ioasId, user_va: U64_MAX - 10n, length: PS }),
    ).toThrowErrno("EOVERFLOW");
  });

  it("fixed iova + length wrapping is EOVERFLOW, reserved EINVAL, mapped EEXIST", () => {
    const w = ioasFixture();
    expect(() => ioasMap(w, w.ioasId, w.buf, 2n * PS, U64_MAX - PS)).toThrowErrno("EOVERFLOW");
    ioasObj(w, w.ioasId).iopt.reserveIova(0x100000n, 0x100fffn, null);
    expect(() => ioasMap(w, w.ioasId, w.buf, PS, 0x100000n)).toThrowErrno("EINVAL");
    ioasMap(w, w.ioasId, w.buf, PS, 0x200000n);
    expect(() => ioasMap(w, w.ioasId, w.buf, PS, 0x200000n)).toThrowErrno("EEXIST");
  });

  it("a domain-less IOAS maps an unmapped VA lazily", () => {
    const w = ioasFixture();
    const iova = ioasMap(w, w.ioasId, 0x1000_0000n, PS * 4n);
    expect(w.p.mm.pinnedVm).toBe(0);
    expect(w.kernel.allocator.totalPins).toBe(0);
    ioasUnmap(w, w.ioasId, iova, PS * 4n);
  });

  it("a domain-less IOAS takes any byte granularity", () => {
    const w = ioasFixture();
    const iova = ioasMap(w, w.ioasId, w.buf + 3, 5, 0x1003n);
    expect(iova).toBe(0x1003n);
    expect(ioasUnmap(w, w.ioasId, 0x1000n, PS)).toBe(5n);
  });
});

describe("IOMMU_IOAS_UNMAP errors", () => {
  it("ENOENT for the id comes first, then EOVERFLOW, EINVAL", () => {
    const w = ioasFixture();
    expect(() => ioasUnmap(w, 999, U64_MAX, U64_MAX)).toThrowErrno("ENOENT");
    expect(() => ioasUnmap(w, w.ioasId, U64_MAX, 1n)).toThrowErrno("EOVERFLOW");
    expect(() => ioasUnmap(w, w.ioasId, 1n, U64_MAX)).toThrowErrno("EOVERFLOW");
    expect(() => ioasUnmap(w, w.ioasId, 0x1000n, 0n)).toThrowErrno("EINVAL");
    expect(() => ioasUnmap(w, w.ioasId, U64_MAX - 1n, 3n)).toThrowErrno("EOVERFLOW");
    expect(() => ioasUnmap(w, w.ioasId, U64_MAX - 1n, 2n)).toThrowErrno("ENOENT");
  });

  it("an area under an in-kernel lock is EBUSY", () => {
    const w = ioasFixture();
    const iova = ioasMap(w, w.ioasId, w.buf, PS);
    const area = ioasObj(w, w.ioasId).iopt.areaItree.first()!.value;
    area.numLocks = 1;
    expect(() => ioasUnmap(w, w.ioasId, iova, PS)).toThrowErrno("EBUSY");
    area.numLocks = 0;
    ioasUnmap(w, w.ioasId, iova, PS);
  });
});

describe("IOMMU_IOAS_COPY", () => {
  it("checks flags, lengths, R/W, then the source, then the destination", () => {
    const w = ioasFixture();
    const copy = (v: Partial<Parameters<typeof iommu_ioas_copy.encode>[0]>) =>
      ioctlStruct(w, IOMMU_IOAS_COPY, iommu_ioas_copy, { size: 0, ...v });
    expect(() => copy({ flags: 8 })).toThrowErrno("EOPNOTSUPP");
    expect(() => copy({ flags: MAP_RW, src_iova: U64_MAX })).toThrowErrno("EOVERFLOW");
    expect(() => copy({ flags: MAP_RW, dst_iova: U64_MAX })).toThrowErrno("EOVERFLOW");
    expect(() => copy({ flags: 0, src_ioas_id: 99 })).toThrowErrno("EINVAL");
    expect(() => copy({ flags: MAP_RW, src_ioas_id: 99, length: PS })).toThrowErrno("ENOENT");
    expect(() => copy({ flags: MAP_RW, src_ioas_id: w.ioasId })).toThrowErrno("EINVAL");
    expect(() =>
      copy({ flags: MAP_RW, src_ioas_id: w.ioasId, length: 3n, src_iova: U64_MAX - 1n }),
    ).toThrowErrno("EOVERFLOW");
    ioasMap(w, w.ioasId, w.buf, PS, 0x1000n);
    expect(() =>
      copy({
        flags: MAP_RW,
        src_ioas_id: w.ioasId,
        src_iova: 0x1000n,
        length: PS,
        dst_ioas_id: 77,
      }),
    ).toThrowErrno("ENOENT");
    // The source's pages reference was dropped again.
    expect(ioasObj(w, w.ioasId).iopt.areaItree.first()!.value.pages!.refs).toBe(1);
  });

  it("a read-only mapping cannot be copied writeable (EPERM)", () => {
    const w = ioasFixture();
    ioasMap(w, w.ioasId, w.buf, PS, 0x1000n, IOMMU_IOAS_MAP_READABLE);
    expect(() => ioasCopy(w, w.ioasId, w.ioasId, 0x1000n, PS, 0x8000n)).toThrowErrno("EPERM");
    ioasCopy(w, w.ioasId, w.ioasId, 0x1000n, PS, 0x8000n, IOMMU_IOAS_MAP_READABLE);
  });

  it("copies share the source's pages object", () => {
    const w = ioasFixture();
    ioasMap(w, w.ioasId, w.buf, 4n * PS, 0x10000n);
    const dst = ioasAlloc(w);
    const iova = ioasCopy(w, dst, w.ioasId, 0x11000n, 2n * PS);
    const src = ioasObj(w, w.ioasId).iopt.areaItree.first()!.value;
    const cp = ioasObj(w, dst).iopt.areaItree.first()!.value;
    expect(cp.pages).toBe(src.pages);
    expect(src.pages!.refs).toBe(2);
    expect([cp.index, cp.lastIndex]).toEqual([1, 2]);
    ioasUnmap(w, dst, iova, 2n * PS);
    expect(src.pages!.refs).toBe(1);
  });
});

describe("IOMMU_IOAS_ALLOW_IOVAS", () => {
  it("rejects one-byte, reversed and overlapping ranges (EINVAL) and an unreadable array (EFAULT)", () => {
    const w = ioasFixture();
    expect(() => allowIovas(w, w.ioasId, [[0x1000n, 0x1000n]])).toThrowErrno("EINVAL");
    expect(() => allowIovas(w, w.ioasId, [[0x2000n, 0x1000n]])).toThrowErrno("EINVAL");
    expect(() =>
      allowIovas(w, w.ioasId, [
        [0x1000n, 0x2fffn],
        [0x2000n, 0x3fffn],
      ]),
    ).toThrowErrno("EINVAL");
    expect(() =>
      ioctlStruct(w, IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, {
        size: 0,
        ioas_id: w.ioasId,
        num_iovas: 1,
        allowed_iovas: 8n,
      }),
    ).toThrowErrno("EFAULT");
    expect(() =>
      ioctlStruct(w, IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, {
        size: 0,
        ioas_id: w.ioasId,
        __reserved: 1,
      }),
    ).toThrowErrno("EOPNOTSUPP");
    expect(ioasObj(w, w.ioasId).iopt.allowedItree.size).toBe(0);
  });

  it("restricts automatic IOVAs but not fixed ones", () => {
    const w = ioasFixture();
    allowIovas(w, w.ioasId, [[0x100000n, 0x1fffffn]]);
    expect(ioasMap(w, w.ioasId, w.buf, PS, 0x5000n)).toBe(0x5000n);
    const iova = ioasMap(w, w.ioasId, w.buf, PS);
    expect(iova >= 0x100000n && iova <= 0x1fffffn).toBe(true);
    // IOVA_RANGES reports the reserved holes, not the allowed ranges.
    expect(iovaRanges(w, w.ioasId).ranges).toEqual([[0n, U64_MAX]]);
  });

  it("ENOSPC when no allowed range fits", () => {
    const w = ioasFixture();
    allowIovas(w, w.ioasId, [[0x100000n, 0x101fffn]]);
    expect(() => ioasMap(w, w.ioasId, w.buf, 4n * PS)).toThrowErrno("ENOSPC");
  });
});

describe("IOMMU_IOAS_MAP_FILE", () => {
  it("maps a memfd range lazily, and fails for a bad fd (EBADF)", () => {
    const w = ioasFixture();
    const { mfd } = memfd(w, BUFFER_SIZE);
    const iova = ioasMapFile(w, w.ioasId, mfd, 0, BUFFER_SIZE);
    expect(ioasUnmap(w, w.ioasId, iova, BigInt(BUFFER_SIZE))).toBe(BigInt(BUFFER_SIZE));
    expect(() => ioasMapFile(w, w.ioasId, 77, 0, PAGE_SIZE)).toThrowErrno("EBADF");
  });

  it("checks flags, overflow, R/W, id, length and start + length", () => {
    const w = ioasFixture();
    const { mfd } = memfd(w, PAGE_SIZE);
    const mf = (v: Partial<Parameters<typeof iommu_ioas_map_file.encode>[0]>) =>
      ioctlStruct(w, IOMMU_IOAS_MAP_FILE, iommu_ioas_map_file, { size: 0, fd: mfd, ...v });
    expect(() => mf({ flags: 16 })).toThrowErrno("EOPNOTSUPP");
    expect(() => mf({ flags: 0, length: U64_MAX })).toThrowErrno("EOVERFLOW");
    expect(() => mf({ flags: 0 })).toThrowErrno("EINVAL");
    expect(() => mf({ flags: MAP_RW, ioas_id: 9 })).toThrowErrno("ENOENT");
    expect(() => mf({ flags: MAP_RW, ioas_id: w.ioasId })).toThrowErrno("EINVAL");
    expect(() =>
      mf({ flags: MAP_RW, ioas_id: w.ioasId, start: U64_MAX - 1n, length: 4n }),
    ).toThrowErrno("EOVERFLOW");
  });

  it("keeps the file open while mapped", () => {
    const w = ioasFixture();
    const { mfd } = memfd(w, PAGE_SIZE);
    const file = w.p.fget(mfd)!;
    w.kernel.vfs.fput(file);
    const before = file.refcount;
    const iova = ioasMapFile(w, w.ioasId, mfd, 0, PAGE_SIZE);
    expect(file.refcount).toBe(before + 1);
    ioasUnmap(w, w.ioasId, iova, PS);
    expect(file.refcount).toBe(before);
  });
});

describe("FIXTURE(change_process)", () => {
  for (const [name, accounting] of [
    ["account_none", IOPT_PAGES_ACCOUNT_NONE],
    ["account_user", IOPT_PAGES_ACCOUNT_USER],
    ["account_mm", IOPT_PAGES_ACCOUNT_MM],
  ] as const) {
    it(`basic (${name})`, () => {
      const w = setup();
      dropCapIpcLock(w.p);
      if (accounting !== IOPT_PAGES_ACCOUNT_NONE) {
        optionSet(w, IOMMU_OPTION_RLIMIT_MODE, 0, accounting === IOPT_PAGES_ACCOUNT_MM ? 1n : 0n);
      }
      const id = ioasAlloc(w);
      ioasObj(w, id).iopt.tableAddDomain(smmuDomain(w));
      const change = () =>
        ioctlStruct(w, IOMMU_IOAS_CHANGE_PROCESS, iommu_ioas_change_process, { size: 0 });
      const buf = buffer(w, BUFFER_SIZE);

      // Non-file mappings refuse.
      let iova = ioasMap(w, id, buf, PS);
      expect(change).toThrowErrno("EINVAL");
      ioasUnmap(w, id, iova, PS);

      // Works in the current process.
      const { mfd } = memfd(w, BUFFER_SIZE);
      iova = ioasMapFile(w, id, mfd, 0, PAGE_SIZE);
      change();

      // A "child" that shares the iommufd file takes the charge over.
      const child = w.kernel.spawn({ comm: "child", uid: 0 });
      dropCapIpcLock(child);
      const file = w.p.fget(w.fd)!;
      const cfd = child.fdInstall(file, 0);
      // The model has no VmPin/VmLck in /proc/<pid>/status yet: read the mm counters.
      expect(w.p.mm.pinnedVm).toBe(1);
      if (accounting === IOPT_PAGES_ACCOUNT_MM) expect(w.p.mm.lockedVm).toBe(1);
      expect(child.mm.pinnedVm).toBe(0);
      expect(child.mm.lockedVm).toBe(0);
      const carg = child.malloc(PAGE_SIZE);
      child.poke(carg, iommu_ioas_change_process.encode({ size: iommu_ioas_change_process.size }));
      child.ioctl(cfd, IOMMU_IOAS_CHANGE_PROCESS, carg);
      expect(w.p.mm.pinnedVm).toBe(0);
      expect(w.p.mm.lockedVm).toBe(0);
      expect(child.mm.pinnedVm).toBe(1);
      if (accounting === IOPT_PAGES_ACCOUNT_MM) expect(child.mm.lockedVm).toBe(1);
      child.exit();
      void iova;
    });
  }

  it("__reserved is EOPNOTSUPP", () => {
    const w = setup();
    expect(() =>
      ioctlStruct(w, IOMMU_IOAS_CHANGE_PROCESS, iommu_ioas_change_process, {
        size: 0,
        __reserved: 1,
      }),
    ).toThrowErrno("EOPNOTSUPP");
  });

  it("a charge over the new owner's RLIMIT_MEMLOCK fails with ENOMEM and changes nothing", () => {
    const w = setup();
    dropCapIpcLock(w.p);
    const id = ioasAlloc(w);
    ioasObj(w, id).iopt.tableAddDomain(smmuDomain(w));
    const { mfd } = memfd(w, 4 * PAGE_SIZE);
    ioasMapFile(w, id, mfd, 0, 4 * PAGE_SIZE);
    const child = w.kernel.spawn({
      comm: "child",
      uid: 1000,
      caps: [],
      rlimits: { memlock: PAGE_SIZE },
    });
    const cfd = child.fdInstall(w.p.fget(w.fd)!, 0);
    const carg = child.malloc(PAGE_SIZE);
    child.poke(carg, iommu_ioas_change_process.encode({ size: iommu_ioas_change_process.size }));
    expect(() => child.ioctl(cfd, IOMMU_IOAS_CHANGE_PROCESS, carg)).toThrowErrno("ENOMEM");
    expect(w.p.mm.pinnedVm).toBe(4);
    expect(w.kernel.users.allocUid(0).lockedVm).toBe(4);
    expect(w.kernel.users.allocUid(1000).lockedVm).toBe(0);
    const pages = ioasObj(w, id).iopt.areaItree.first()!.value.pages!;
    expect(pages.lastNpinned).toBe(pages.npinned);
    expect(pages.sourceMm).toBe(w.p.mm);
    child.exit();
  });
});

describe("IOMMU_IOAS_NOIOMMU_GET_PA", () => {
  const getPa = (w: World, v: Partial<Parameters<typeof iommu_ioas_noiommu_get_pa.encode>[0]>) =>
    ioctlStruct(w, IOMMU_IOAS_NOIOMMU_GET_PA, iommu_ioas_noiommu_get_pa, { size: 0, ...v });

  it("checks CAP_SYS_RAWIO, flags, length, iova, then the IOAS", () => {
    const w = ioasFixture();
    w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_SYS_RAWIO") });
    expect(() => getPa(w, { flags: 1 })).toThrowErrno("EPERM");
    const w2 = ioasFixture();
    expect(() => getPa(w2, { flags: 1, length: PS })).toThrowErrno("EOPNOTSUPP");
    expect(() => getPa(w2, { __reserved: 1, length: PS })).toThrowErrno("EOPNOTSUPP");
    expect(() => getPa(w2, { ioas_id: 99 })).toThrowErrno("EINVAL");
    expect(() => getPa(w2, { ioas_id: 99, length: PS, iova: U64_MAX })).toThrowErrno("EOVERFLOW");
    expect(() => getPa(w2, { ioas_id: 99, length: PS })).toThrowErrno("ENOENT");
  });

  it("an unmapped IOVA is ENOENT; a mapping not stored in a no-IOMMU domain EOPNOTSUPP", () => {
    const w = ioasFixture();
    expect(() => getPa(w, { ioas_id: w.ioasId, length: PS, iova: 0x1000n })).toThrowErrno("ENOENT");
    ioasMap(w, w.ioasId, w.buf, PS, 0x1000n);
    expect(() => getPa(w, { ioas_id: w.ioasId, length: PS, iova: 0x1000n })).toThrowErrno(
      "EOPNOTSUPP",
    );
    ioasObj(w, w.ioasId).iopt.tableAddDomain(smmuDomain(w));
    expect(() => getPa(w, { ioas_id: w.ioasId, length: PS, iova: 0x1000n })).toThrowErrno(
      "EOPNOTSUPP",
    );
  });

  it("is EOPNOTSUPP without CONFIG_IOMMUFD_NOIOMMU", () => {
    const w = ioasFixture({ config: { CONFIG_VFIO_NOIOMMU: false } });
    expect(() => getPa(w, { ioas_id: w.ioasId, length: PS })).toThrowErrno("EOPNOTSUPP");
  });
});

describe("properties", () => {
  // One kernel for all runs: each run works in a fresh IOAS.
  const shared = ioasFixture();
  const freshIoas = () => ({ ...shared, ioasId: ioasAlloc(shared) });

  fcTest.prop(
    [
      fc.array(
        fc.record({ page: fc.integer({ min: 0, max: 63 }), n: fc.integer({ min: 1, max: 4 }) }),
        {
          maxLength: 12,
        },
      ),
    ],
    { numRuns: 25 },
  )("fixed maps never overlap and unmap-all returns every mapped byte", (maps) => {
    const w = freshIoas();
    const taken = new Set<number>();
    let total = 0n;
    for (const { page, n } of maps) {
      const clash = [...Array(n).keys()].some((k) => taken.has(page + k));
      const doMap = () =>
        ioasMap(w, w.ioasId, w.buf, BigInt(n) * PS, 0x100000n + BigInt(page) * PS);
      if (clash) {
        expect(doMap).toThrowErrno("EEXIST");
      } else {
        doMap();
        for (let k = 0; k < n; k++) taken.add(page + k);
        total += BigInt(n) * PS;
      }
    }
    expect(ioasUnmap(w, w.ioasId, 0n, U64_MAX)).toBe(total);
    expect(ioasObj(w, w.ioasId).iopt.areaItree.size).toBe(0);
    destroy(w, w.ioasId);
  });

  fcTest.prop(
    [fc.array(fc.integer({ min: 1, max: 5 * PAGE_SIZE }), { minLength: 1, maxLength: 10 })],
    {
      numRuns: 25,
    },
  )("automatic IOVAs are non-zero, naturally aligned and disjoint", (lengths) => {
    const w = freshIoas();
    const got: [bigint, bigint][] = [];
    for (const len of lengths) {
      const length = BigInt(len);
      const iova = ioasMap(w, w.ioasId, BigInt(w.buf), length);
      expect(iova).not.toBe(0n);
      let align = 1n;
      while (align < length && align < 1n << 21n) align <<= 1n;
      expect(iova % align).toBe(0n);
      for (const [s, l] of got) expect(iova > l || iova + length - 1n < s).toBe(true);
      got.push([iova, iova + length - 1n]);
    }
    destroy(w, w.ioasId);
  });
});
