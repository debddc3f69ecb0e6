/**
 * FIXTURE(iommufd_ioas) of tools/testing/selftests/iommu/iommufd.c with its variants, one suite
 * run across them as the kernel runs it:
 *
 *   no_domain          an IOAS and nothing else
 *   one_domain         c030000.dma-test bound and attached: one SMMU paging domain (mock_domain)
 *   two_domains        and c010000.ethernet attached through a HWPT of its own, so the IOAS
 *                      fills two SMMU domains (two_mock_domain)
 *   one_domain_limit   one_domain with the temporary-memory limit at 16 bytes, so pinning runs
 *                      in batches of one PFN (mock_domain_limit)
 *
 * The board's SMMU stands in for the mock IOMMU: its aperture is 48 bits less the software MSI
 * window (0x8000000, 1 MiB) and its smallest page 4 KiB, where the mock's is [2^24, 2^31) with
 * 2 KiB pages; expectations that depend on the domain follow the selftest's `self->stdev_id`
 * branches. Every case ends with teardown_iommufd()'s check: once the devices are released and
 * the process has exited, no page is pinned and no charge is left.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { MSI_IOVA_BASE, MSI_IOVA_LENGTH } from "@vfio-lab/kernel";
import { afterEach, describe, expect, it } from "vitest";
import {
  type IommufdDevice,
  iommufdDeviceAttach,
  iommufdDeviceDetach,
  iommufdDeviceUnbind,
} from "../src/device.js";
import { setTempMemoryLimit, TEMP_MEMORY_LIMIT } from "../src/pages.js";
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_HUGE_PAGES,
} from "../src/uapi.js";
import {
  bindDev,
  type DevWorld,
  DMAT0,
  deviceOf,
  devSetup,
  hwptAlloc,
  XGMAC,
} from "./device-fixture.js";
import {
  allowIovas,
  buffer,
  destroy,
  ioasAlloc,
  ioasCopy,
  ioasMap,
  ioasObj,
  ioasUnmap,
  iovaRanges,
  optionGet,
  optionSet,
} from "./fixture.js";

const PS = BigInt(PAGE_SIZE);
const U64_MAX = (1n << 64n) - 1n;
/** Where the selftest maps when a domain is attached (MOCK_APERTURE_START): inside both apertures. */
const BASE_WITH_DOMAIN = 1n << 24n;
const BUFFER_SIZE = PAGE_SIZE * 16;

interface Variant {
  readonly name: string;
  readonly domains: 0 | 1 | 2;
  readonly memoryLimit?: number;
}

const VARIANTS: readonly Variant[] = [
  { name: "no_domain", domains: 0 },
  { name: "one_domain", domains: 1 },
  { name: "two_domains", domains: 2 },
  { name: "one_domain_limit", domains: 1, memoryLimit: 16 },
];

interface Self extends DevWorld {
  readonly ioasId: number;
  readonly buf: number;
  readonly baseIova: bigint;
  /** The bound devices, with whether each is attached (VFIO detaches before unbinding). */
  readonly devices: { idev: IommufdDevice; attached: boolean }[];
}

let current: Self | null = null;

/** FIXTURE_SETUP(iommufd_ioas) */
function setupIoas(v: Variant): Self {
  const w = devSetup();
  const ioasId = ioasAlloc(w);
  setTempMemoryLimit(v.memoryLimit ?? TEMP_MEMORY_LIMIT);
  const devices: Self["devices"] = [];
  if (v.domains >= 1) {
    const idev = bindDev(w, DMAT0);
    iommufdDeviceAttach(idev, 0, ioasId);
    devices.push({ idev, attached: true });
  }
  if (v.domains === 2) {
    const idev = bindDev(w, XGMAC);
    const hwpt = hwptAlloc(w, idev.id, ioasId);
    iommufdDeviceAttach(idev, 0, hwpt);
    devices.push({ idev, attached: true });
  }
  const self: Self = {
    ...w,
    ioasId,
    buf: buffer(w, BUFFER_SIZE),
    baseIova: v.domains ? BASE_WITH_DOMAIN : 0n,
    devices,
  };
  current = self;
  return self;
}

/** FIXTURE_TEARDOWN(iommufd_ioas): teardown_iommufd() checks nothing stays pinned. */
afterEach(() => {
  setTempMemoryLimit(TEMP_MEMORY_LIMIT);
  const self = current;
  current = null;
  if (!self) return;
  for (const d of self.devices.reverse()) {
    if (d.attached) iommufdDeviceDetach(d.idev, 0);
    iommufdDeviceUnbind(d.idev);
  }
  self.p.exit();
  expect(self.kernel.allocator.totalPins).toBe(0);
  expect(self.kernel.users.findUser(self.p.uid)?.lockedVm ?? 0).toBe(0);
});

describe.each(VARIANTS)("FIXTURE(iommufd_ioas) $name", (v) => {
  it("ioas_auto_destroy", () => {
    setupIoas(v);
  });

  it("ioas_destroy", () => {
    const self = setupIoas(v);
    if (v.domains) {
      // An IOAS cannot be freed while a device has a HWPT using it.
      expect(() => destroy(self, self.ioasId)).toThrowErrno("EBUSY");
    } else {
      destroy(self, self.ioasId);
      expect(() => destroy(self, self.ioasId)).toThrowErrno("ENOENT");
    }
  });

  it("ioas_area_destroy", () => {
    const self = setupIoas(v);
    ioasMap(self, self.ioasId, self.buf, PAGE_SIZE, self.baseIova);
    if (v.domains) expect(() => destroy(self, self.ioasId)).toThrowErrno("EBUSY");
    else destroy(self, self.ioasId);
  });

  it("ioas_area_auto_destroy", () => {
    const self = setupIoas(v);
    for (let i = 0n; i !== 10n; i++) {
      ioasMap(self, self.ioasId, self.buf, PAGE_SIZE, self.baseIova + i * PS);
    }
    // Each MAP is its own pages object: the one user page is pinned ten times with a domain.
    expect(self.kernel.allocator.totalPins).toBe(v.domains ? 10 : 0);
  });

  it("area", () => {
    const self = setupIoas(v);
    const id = self.ioasId;
    for (let i = 0n; i !== 10n; i++) {
      ioasMap(self, id, self.buf, PAGE_SIZE, self.baseIova + i * PS);
    }
    for (let i = 0n; i !== 10n; i++) ioasUnmap(self, id, self.baseIova + i * PS, PS);
    // Split fails.
    ioasMap(self, id, self.buf, 2 * PAGE_SIZE, self.baseIova + 16n * PS);
    expect(() => ioasUnmap(self, id, self.baseIova + 16n * PS, PS)).toThrowErrno("ENOENT");
    expect(() => ioasUnmap(self, id, self.baseIova + 17n * PS, PS)).toThrowErrno("ENOENT");
    // Over map fails.
    for (const [pages, at] of [
      [2, 16],
      [1, 16],
      [1, 17],
      [2, 15],
      [3, 15],
    ] as const) {
      expect(() =>
        ioasMap(self, id, self.buf, pages * PAGE_SIZE, self.baseIova + BigInt(at) * PS),
      ).toThrowErrno("EEXIST");
    }
    // Unmap all works, twice.
    expect(ioasUnmap(self, id, 0n, U64_MAX)).toBe(2n * PS);
    expect(ioasUnmap(self, id, 0n, U64_MAX)).toBe(0n);
  });

  it("unmap_fully_contained_areas", () => {
    const self = setupIoas(v);
    const base = self.baseIova + 4n * PS;
    for (let i = 0n; i !== 4n; i++) {
      ioasMap(self, self.ioasId, self.buf, 8 * PAGE_SIZE, base + i * 16n * PS);
    }
    expect(() => ioasUnmap(self, self.ioasId, base - 4n * PS, 8n * PS)).toThrowErrno("ENOENT");
    expect(() =>
      ioasUnmap(self, self.ioasId, base + 3n * 16n * PS + 8n * PS - 4n * PS, 8n * PS),
    ).toThrowErrno("ENOENT");
    const unmapped = ioasUnmap(self, self.ioasId, base - 4n * PS, 3n * 16n * PS + 12n * PS);
    expect(unmapped).toBe(32n * PS);
  });

  it("area_auto_iova", () => {
    const self = setupIoas(v);
    const id = self.ioasId;
    const iovas: bigint[] = [];
    for (let i = 0; i !== 10; i++) iovas.push(ioasMap(self, id, self.buf, PAGE_SIZE));
    for (const iova of iovas) ioasUnmap(self, id, iova, PS);
    // Check the IOVAs the kernel picks are aligned to the length's lowest bit.
    for (let i = 0; i !== 10; i++) {
      const length = BigInt(PAGE_SIZE * (i + 1));
      iovas[i] = ioasMap(self, id, self.buf, length);
      expect(iovas[i]! % (length & -length)).toBe(0n);
    }
    for (let i = 0; i !== 10; i++) ioasUnmap(self, id, iovas[i]!, BigInt(PAGE_SIZE * (i + 1)));
    // Avoid a reserved region (the selftest's ADD_RESERVED).
    const resv = [PS * 4n, PS * 4n + PS * 100n - 1n] as const;
    ioasObj(self, id).iopt.reserveIova(resv[0], resv[1], null);
    for (let i = 0; i !== 10; i++) {
      const length = BigInt(PAGE_SIZE * (i + 1));
      iovas[i] = ioasMap(self, id, self.buf, length);
      expect(iovas[i]! % (length & -length)).toBe(0n);
      expect(iovas[i]! + length - 1n < resv[0] || iovas[i]! > resv[1]).toBe(true);
    }
    for (let i = 0; i !== 10; i++) ioasUnmap(self, id, iovas[i]!, BigInt(PAGE_SIZE * (i + 1)));
    // Allowed ranges that intersect the reserved one are refused.
    expect(() => allowIovas(self, id, [[PS, PS * 600n - 1n]])).toThrowErrno("EADDRINUSE");
    // Allocate from an allowed region.
    const allowed = v.domains
      ? ([BASE_WITH_DOMAIN + PS, BASE_WITH_DOMAIN + PS * 600n - 1n] as const)
      : ([PS * 200n, PS * 600n - 1n] as const);
    allowIovas(self, id, [allowed]);
    for (let i = 0; i !== 10; i++) {
      const length = BigInt(PAGE_SIZE * (i + 1));
      const iova = ioasMap(self, id, self.buf, length);
      expect(iova % (length & -length)).toBe(0n);
      expect(iova >= allowed[0] && iova + length - 1n <= allowed[1]).toBe(true);
    }
  });

  it("area_allowed", () => {
    const self = setupIoas(v);
    const iopt = ioasObj(self, self.ioasId).iopt;
    const r0 = self.baseIova;
    // A reservation inside an allowed range is refused, and the other way round.
    allowIovas(self, self.ioasId, [[r0, r0 + PS * 600n - 1n]]);
    expect(() => iopt.reserveIova(r0 + PS, r0 + 2n * PS - 1n, null)).toThrowErrno("EADDRINUSE");
    allowIovas(self, self.ioasId, []);
    iopt.reserveIova(r0 + PS, r0 + 2n * PS - 1n, null);
    expect(() => allowIovas(self, self.ioasId, [[r0, r0 + PS * 600n - 1n]])).toThrowErrno(
      "EADDRINUSE",
    );
  });

  it("copy_area", () => {
    const self = setupIoas(v);
    const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE;
    ioasMap(self, self.ioasId, self.buf, PAGE_SIZE, self.baseIova);
    // Copy inside a single IOAS.
    ioasCopy(self, self.ioasId, self.ioasId, self.baseIova, PS, self.baseIova + PS, flags);
    // Copy between IOASs.
    const dst = ioasAlloc(self);
    ioasCopy(self, dst, self.ioasId, self.baseIova, PS, 0n, flags);
    // A copy shares the source's pin: still one pinned page with a domain.
    if (v.domains) expect(self.kernel.allocator.totalPins).toBe(1);
  });

  it("iova_ranges", () => {
    const self = setupIoas(v);
    const r = iovaRanges(self, self.ioasId, 4);
    if (!v.domains) {
      expect(r.ranges).toEqual([[0n, U64_MAX]]);
      expect(r.out.out_iova_alignment).toBe(1n);
    } else {
      // The SMMU's aperture, less the software MSI window every attached device reserves.
      const dom = self.kernel.iommu.iommuGetDomainForDev(deviceOf(self, DMAT0))!;
      expect(r.ranges).toEqual([
        [0n, BigInt(MSI_IOVA_BASE) - 1n],
        [BigInt(MSI_IOVA_BASE + MSI_IOVA_LENGTH), BigInt(dom.geometry.apertureEnd)],
      ]);
      expect(r.out.out_iova_alignment).toBe(PS);
    }
    // Buffer too small: EMSGSIZE with the count, and the first range written.
    const small = iovaRanges(self, self.ioasId, 1);
    expect((small.err as { code?: string } | null)?.code).toBe(v.domains ? "EMSGSIZE" : undefined);
    expect(small.out.num_iovas).toBe(v.domains ? 2 : 1);
  });

  it("ioas_option_huge_pages", () => {
    const self = setupIoas(v);
    expect(optionGet(self, IOMMU_OPTION_HUGE_PAGES, self.ioasId)).toBe(1n);
    optionSet(self, IOMMU_OPTION_HUGE_PAGES, self.ioasId, 0n);
    expect(optionGet(self, IOMMU_OPTION_HUGE_PAGES, self.ioasId)).toBe(0n);
    optionSet(self, IOMMU_OPTION_HUGE_PAGES, self.ioasId, 1n);
    // With a domain and an area, large pages can no longer be turned off (iopt_disable_large_pages).
    ioasMap(self, self.ioasId, self.buf, PAGE_SIZE, self.baseIova);
    if (v.domains) {
      expect(() => optionSet(self, IOMMU_OPTION_HUGE_PAGES, self.ioasId, 0n)).toThrowErrno(
        "EINVAL",
      );
    } else {
      optionSet(self, IOMMU_OPTION_HUGE_PAGES, self.ioasId, 0n);
    }
  });

  it("maps and unmaps the whole buffer in pieces, pinned once per page (batching)", () => {
    const self = setupIoas(v);
    const iova = ioasMap(self, self.ioasId, self.buf, BUFFER_SIZE, self.baseIova);
    expect(self.kernel.allocator.totalPins).toBe(v.domains ? BUFFER_SIZE / PAGE_SIZE : 0);
    for (let i = 0n; i < BigInt(BUFFER_SIZE / PAGE_SIZE); i += 4n) {
      ioasMap(
        self,
        self.ioasId,
        self.buf + Number(i) * PAGE_SIZE,
        4 * PAGE_SIZE,
        self.baseIova + 0x100000n + i * PS,
      );
    }
    expect(ioasUnmap(self, self.ioasId, 0n, U64_MAX)).toBe(2n * BigInt(BUFFER_SIZE));
    expect(iova).toBe(self.baseIova);
    expect(self.kernel.allocator.totalPins).toBe(0);
  });
});
