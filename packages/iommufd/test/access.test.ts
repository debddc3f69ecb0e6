/**
 * The access cases of FIXTURE(iommufd_ioas) (tools/testing/selftests/iommu/iommufd.c, Linux
 * 7.3) — access_pin, access_pin_unmap, access_rw, access_rw_unaligned, access_domain_destory —
 * and the access sweeps of iommufd_fail_nth.c (access_rw, access_pin, access_pin_domain).
 *
 * IOMMU_TEST_OP_CREATE_ACCESS and friends do not exist here: a small emulated driver
 * (emulated-access.ts) calls the in-kernel access API as the selftest's does. The mock domain
 * is replaced by the board's `c030000.dma-test` behind the SMMU, its kernel driver unbound and
 * the device bound to the iommufd and attached to the IOAS; the variant without it is the
 * selftest's `no_domain`. MOCK_APERTURE_START (1 << 24) is inside the SMMU's aperture.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { IOMMU_NO_PASID, type IommuDomain, type Kernel, type Process } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { iommufdDeviceAttach, iommufdDeviceDetach, iommufdDeviceUnbind } from "../src/device.js";
import type { IommufdCtx } from "../src/main.js";
import { sweepFailNth } from "../src/testing/index.js";
import { IOMMUFD_ACCESS_RW_WRITE } from "../src/uapi.js";
import { bindDev, DMAT0, deviceOf } from "./device-fixture.js";
import { EmulatedAccess } from "./emulated-access.js";
import {
  buffer,
  ictxOf,
  ioasAlloc,
  ioasMap,
  ioasObj,
  ioasUnmap,
  setup,
  type World,
} from "./fixture.js";

const PS = BigInt(PAGE_SIZE);
const BUFFER_SIZE = 16 * PAGE_SIZE;
const HUGEPAGE_SIZE = 2 * 1024 * 1024;
const MOCK_APERTURE_START = 1n << 24n;
const MOCK_PAGE_SIZE = BigInt(PAGE_SIZE / 2);

interface Fixture extends World {
  readonly ictx: IommufdCtx;
  readonly ioasId: number;
  readonly buf: number;
  readonly baseIova: bigint;
  /** The attached device's domain (the mock_domain variants' HWPT), or null. */
  readonly domain: IommuDomain | null;
  /** Undo the device attach and bind (test_ioctl_destroy(self->stdev_id)). */
  readonly destroyDevice: (() => void) | null;
}

/** FIXTURE_SETUP(iommufd_ioas) with `withDomain` standing in for mock_domains = 1. */
function fixture(withDomain: boolean): Fixture {
  const w = setup({ cmdline: "iommufd.allow_unsafe_interrupts=1" });
  const ictx = ictxOf(w);
  const ioasId = ioasAlloc(w);
  const buf = buffer(w, BUFFER_SIZE);
  w.p.poke(
    buf,
    Uint8Array.from({ length: BUFFER_SIZE }, (_, i) => (i * 13 + 5) & 0xff),
  );
  if (!withDomain) {
    return { ...w, ictx, ioasId, buf, baseIova: 0n, domain: null, destroyDevice: null };
  }
  const idev = bindDev({ ...w, ictx }, DMAT0);
  iommufdDeviceAttach(idev, IOMMU_NO_PASID, ioasId);
  const domain = ioasObj(w, ioasId).iopt.domains[0] ?? null;
  const destroyDevice = () => {
    iommufdDeviceDetach(idev, IOMMU_NO_PASID);
    iommufdDeviceUnbind(idev);
  };
  return { ...w, ictx, ioasId, buf, baseIova: MOCK_APERTURE_START, domain, destroyDevice };
}

/** IOMMU_TEST_OP_MD_CHECK_MAP: `domain` translates [iova, +length) to the pages of `va`. */
function checkMap(f: Fixture, domain: IommuDomain, iova: bigint, va: number, length: number) {
  for (let off = 0; off < length; off += PAGE_SIZE) {
    const phys = f.kernel.iommu.iommuIovaToPhys(domain, Number(iova) + off);
    expect(phys).toBe(f.p.mm.translate(va + off) * PAGE_SIZE);
  }
}

/** A second paging domain joining the IOAS (test_cmd_mock_domain inside access_pin). */
function addDomain(f: Fixture): { domain: IommuDomain; remove: () => void } {
  const iopt = ioasObj(f, f.ioasId).iopt;
  const domain = f.kernel.iommu.iommuPagingDomainAlloc(deviceOf(f, DMAT0));
  iopt.tableAddDomain(domain);
  return {
    domain,
    remove: () => {
      iopt.tableRemoveDomain(domain);
      f.kernel.iommu.iommuDomainFree(domain);
    },
  };
}

function teardown(f: Fixture): void {
  f.p.close(f.fd);
  expect(f.kernel.allocator.totalPins).toBe(0);
}

/** The selftests' check_access_rw(): byte-granular reads and writes around a page boundary. */
function checkAccessRw(f: Fixture, d: EmulatedAccess, iova: bigint, current: Process | undefined) {
  let seed = 1;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 16;
  };
  const fill = new Uint8Array(BUFFER_SIZE);
  for (let i = 0; i < BUFFER_SIZE; i++) fill[i] = rand() & 0xff;
  f.p.poke(f.buf, fill);
  for (let at = iova + PS - 50n; at < iova + PS + 50n; at++) {
    const off = Number(at - iova);
    for (let length = 1; length < 64; length += 7) {
      expect(d.read(at, length, 0, current)).toEqual(f.p.peek(f.buf + off, length));
      const tmp = Uint8Array.from({ length }, () => rand() & 0xff);
      d.write(at, tmp, IOMMUFD_ACCESS_RW_WRITE, current);
      expect(f.p.peek(f.buf + off, length)).toEqual(tmp);
    }
  }
  // Multi-page
  expect(d.read(iova, BUFFER_SIZE, 0, current)).toEqual(f.p.peek(f.buf, BUFFER_SIZE));
}

for (const variant of ["no_domain", "mock_domain"] as const) {
  const withDomain = variant === "mock_domain";

  describe(`FIXTURE(iommufd_ioas) ${variant}`, () => {
    it("access_domain_destory", () => {
      const f = fixture(withDomain);
      const bufSize = 2 * HUGEPAGE_SIZE;
      const big = buffer(f, bufSize);
      f.p.poke(big, new Uint8Array(bufSize).fill(0x11));
      ioasMap(f, f.ioasId, big, bufSize, f.baseIova);
      const d = new EmulatedAccess(f.ictx, f.ioasId);
      const { id, pfns } = d.pin(f.baseIova + PS, PS);
      expect(pfns).toEqual([f.p.mm.translate(big + PAGE_SIZE)]);
      // Causes a complicated unpin across a huge page boundary.
      f.destroyDevice?.();
      expect(f.kernel.allocator.pinCount(pfns[0]!)).toBe(1);
      d.destroyPages(id);
      d.close();
      f.p.munmap(big, bufSize);
      teardown(f);
    });

    it("access_pin", () => {
      const f = fixture(withDomain);
      const d = new EmulatedAccess(f.ictx, f.ioasId);
      const iova = MOCK_APERTURE_START;
      for (let npages = 1; npages < BUFFER_SIZE / PAGE_SIZE; npages++) {
        const length = BigInt(npages) * PS;
        // Single map/unmap
        ioasMap(f, f.ioasId, f.buf, BUFFER_SIZE, iova);
        let pin = d.pin(iova, length);
        expect(pin.pfns).toEqual(
          Array.from({ length: npages }, (_, i) => f.p.mm.translate(f.buf + i * PAGE_SIZE)),
        );
        d.destroyPages(pin.id);

        // Double user
        const first = d.pin(iova, length).id;
        pin = d.pin(iova, length);
        d.destroyPages(pin.id);
        d.destroyPages(first);

        // Add/remove a domain with a user
        pin = d.pin(iova, length);
        const extra = addDomain(f);
        checkMap(f, extra.domain, iova, f.buf, BUFFER_SIZE);
        if (f.domain) checkMap(f, f.domain, iova, f.buf, BUFFER_SIZE);
        extra.remove();
        d.destroyPages(pin.id);

        expect(ioasUnmap(f, f.ioasId, iova, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
      }
      d.close();
      teardown(f);
    });

    it("access_pin_unmap", () => {
      const f = fixture(withDomain);
      const d = new EmulatedAccess(f.ictx, f.ioasId);
      ioasMap(f, f.ioasId, f.buf, BUFFER_SIZE, MOCK_APERTURE_START);
      const { id } = d.pin(MOCK_APERTURE_START, BigInt(BUFFER_SIZE));
      // Trigger the unmap op
      expect(ioasUnmap(f, f.ioasId, MOCK_APERTURE_START, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
      expect(d.unmapCalls).toEqual([[MOCK_APERTURE_START, BigInt(BUFFER_SIZE)]]);
      // kernel removed the item for us
      expect(() => d.destroyPages(id)).toThrowErrno("ENOENT");
      d.close();
      teardown(f);
    });

    it("access_rw", () => {
      const f = fixture(withDomain);
      const d = new EmulatedAccess(f.ictx, f.ioasId, false);
      const iova = ioasMap(f, f.ioasId, f.buf, BUFFER_SIZE);
      // The calling process's mm is the source: the copy_to_user() fast path.
      checkAccessRw(f, d, iova, f.p);
      // A kernel thread (no current->mm): the pfn_reader slow path (MOCK_ACCESS_RW_SLOW_PATH).
      checkAccessRw(f, d, iova, undefined);
      ioasUnmap(f, f.ioasId, iova, BUFFER_SIZE);
      d.close();
      teardown(f);
    });

    it("access_rw_unaligned", () => {
      const f = fixture(withDomain);
      const d = new EmulatedAccess(f.ictx, f.ioasId, false);
      // Unaligned pages: an IOAS whose alignment allows half pages (no domain) or not.
      const iova = f.baseIova + MOCK_PAGE_SIZE;
      if (withDomain) {
        // The SMMU's smallest page is 4 KiB: the IOAS refuses half-page IOVAs.
        expect(() => ioasMap(f, f.ioasId, f.buf, BUFFER_SIZE, iova)).toThrowErrno("EINVAL");
      } else {
        ioasMap(f, f.ioasId, f.buf, BUFFER_SIZE, iova);
        checkAccessRw(f, d, iova, f.p);
        ioasUnmap(f, f.ioasId, iova, BUFFER_SIZE);
      }
      d.close();
      teardown(f);
    });
  });
}

describe("an emulated device next to a real one", () => {
  it("what the access writes through its IOVA, the DMA engine reads through the SMMU", () => {
    const f = fixture(true);
    const d = new EmulatedAccess(f.ictx, f.ioasId, false);
    ioasMap(f, f.ioasId, f.buf, BUFFER_SIZE, MOCK_APERTURE_START);
    const msg = new TextEncoder().encode("written by an emulated device");
    d.write(MOCK_APERTURE_START + 100n, msg, IOMMUFD_ACCESS_RW_WRITE, f.p);
    checkMap(f, f.domain!, MOCK_APERTURE_START, f.buf, BUFFER_SIZE);
    const phys = f.kernel.iommu.iommuIovaToPhys(f.domain!, Number(MOCK_APERTURE_START) + 100);
    const seen = new Uint8Array(msg.length);
    f.soc.memory.read(phys, seen);
    expect(seen).toEqual(msg);
    d.close();
    f.destroyDevice!();
    teardown(f);
  });
});

describe("iommufd_fail_nth access sweeps", () => {
  interface SweepWorld {
    readonly kernel: Kernel;
    readonly processes: readonly Process[];
    readonly f: Fixture;
    readonly drivers: EmulatedAccess[];
  }

  function sweepSetup(withDomain: boolean): SweepWorld {
    const f = fixture(withDomain);
    return { kernel: f.kernel, processes: [f.p], f, drivers: [] };
  }

  function sweepTeardown(w: SweepWorld): void {
    for (const d of w.drivers) d.close();
    w.f.destroyDevice?.();
  }

  it("access_rw: every injected failure is an errno and leaves nothing behind", () => {
    const report = sweepFailNth({
      setup: () => sweepSetup(false),
      run: ({ f, drivers }) => {
        const ioasId = ioasAlloc(f);
        const iova = ioasMap(f, ioasId, f.buf, BUFFER_SIZE);
        const d = new EmulatedAccess(f.ictx, ioasId, false);
        drivers.push(d);
        d.read(iova, 16, 0, f.p);
        d.write(iova, new Uint8Array(16), IOMMUFD_ACCESS_RW_WRITE, f.p);
        d.read(iova + PS - 8n, 16, 0, undefined);
        d.read(iova, BUFFER_SIZE, 0, undefined);
        ioasUnmap(f, ioasId, iova, BUFFER_SIZE);
      },
      teardown: sweepTeardown,
    });
    expect(report.runs.length).toBeGreaterThan(3);
  }, 120_000);

  for (const withDomain of [false, true]) {
    it(`access_pin${withDomain ? "_domain" : ""}: every injected failure is an errno and leaves nothing behind`, () => {
      const report = sweepFailNth({
        setup: () => sweepSetup(withDomain),
        run: ({ f, drivers }) => {
          ioasMap(f, f.ioasId, f.buf, BUFFER_SIZE, MOCK_APERTURE_START);
          const d = new EmulatedAccess(f.ictx, f.ioasId);
          drivers.push(d);
          const { id } = d.pin(MOCK_APERTURE_START, BigInt(BUFFER_SIZE));
          d.pin(MOCK_APERTURE_START + PS, 2n * PS, IOMMUFD_ACCESS_RW_WRITE);
          d.destroyPages(id);
          ioasUnmap(f, f.ioasId, MOCK_APERTURE_START, BUFFER_SIZE);
        },
        teardown: sweepTeardown,
      });
      expect(report.sites.length).toBeGreaterThan(1);
    }, 120_000);
  }
});
