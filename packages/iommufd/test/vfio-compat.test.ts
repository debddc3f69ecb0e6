/**
 * The VFIO compatibility cases of tools/testing/selftests/iommu/iommufd.c (Linux 7.3):
 * FIXTURE(iommufd)'s simple_ioctls, unmap_cmd, map_cmd, info_cmd, set_iommu_cmd and vfio_ioas,
 * and FIXTURE(vfio_compat_mock_domain) (variants Ver1v2 and Ver1v0). Each runs on /dev/iommu,
 * as the selftest does, and on /dev/vfio/vfio as iommufd provides it without VFIO's container
 * (CONFIG_VFIO_CONTAINER=n). The mock domain is the board's `c030000.dma-test` behind the
 * SMMU, bound to the iommufd and attached to the IOAS.
 *
 * Expectations that differ from the mock: the IOVA_RANGE capability lists the SMMU aperture
 * minus its MSI window (two ranges, the ones IOMMU_IOAS_IOVA_RANGES reports), not the mock's
 * single aperture; MAP_HUGETLB has no model, so huge_map uses ordinary pages (the TYPE1v2 ENOENT
 * comes from the area, not from the page size, so the outcome is the same).
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  IOMMU_NO_PASID,
  O_RDWR,
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  vfio_info_cap_header,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_dma_avail,
} from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { iommufdDeviceAttach, iommufdDeviceDetach, iommufdDeviceUnbind } from "../src/device.js";
import { sweepFailNth } from "../src/testing/index.js";
import {
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  iommu_vfio_ioas,
} from "../src/uapi.js";
import { iommufdVfioCompatIoasCreate, iommufdVfioCompatIoasGetId } from "../src/vfio-compat.js";
import { bindDev, DMA_TEST_STATUS, DMAT0, dmaTestCopy } from "./device-fixture.js";
import {
  buffer,
  ictxOf,
  ioasAlloc,
  ioctlStruct,
  iovaRanges,
  optionGet,
  setup,
  type World,
} from "./fixture.js";

const PS = BigInt(PAGE_SIZE);
const BUFFER_SIZE = 16 * PAGE_SIZE;
const HUGEPAGE_SIZE = 2 * 1024 * 1024;
/** MOCK_APERTURE_START: inside the SMMU aperture, below its MSI window at 0x8000000. */
const IOVA_BASE = 1n << 24n;
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

const NODES = ["/dev/iommu", "/dev/vfio/vfio"] as const;
type Node = (typeof NODES)[number];

/** FIXTURE_SETUP(iommufd) on `node`: a booted board whose iommufd serves /dev/vfio/vfio. */
function open(node: Node): World {
  const w = setup({
    config: { CONFIG_VFIO_CONTAINER: false },
    cmdline: "iommufd.allow_unsafe_interrupts=1",
  });
  if (node === "/dev/iommu") return w;
  w.p.close(w.fd);
  return { ...w, fd: w.p.open(node, O_RDWR) };
}

function vfioIoas(w: World, op: number, ioasId = 0): number {
  return ioctlStruct(w, IOMMU_VFIO_IOAS, iommu_vfio_ioas, { size: 0, op, ioas_id: ioasId }).ioas_id;
}

function mapCmd(
  w: World,
  m: { argsz?: number; flags?: number; vaddr: number; iova: bigint; size: bigint },
) {
  ioctlStruct(
    w,
    VFIO_IOMMU_MAP_DMA,
    vfio_iommu_type1_dma_map,
    { argsz: 0, flags: m.flags ?? RW, vaddr: BigInt(m.vaddr), iova: m.iova, size: m.size },
    { size: m.argsz ?? vfio_iommu_type1_dma_map.size },
  );
}

/** VFIO_IOMMU_UNMAP_DMA: returns the `size` written back. */
function unmapCmd(
  w: World,
  u: { argsz?: number; flags?: number; iova: bigint; size: bigint },
): bigint {
  return ioctlStruct(
    w,
    VFIO_IOMMU_UNMAP_DMA,
    vfio_iommu_type1_dma_unmap,
    { argsz: 0, flags: u.flags ?? 0, iova: u.iova, size: u.size },
    { size: u.argsz ?? vfio_iommu_type1_dma_unmap.size },
  ).size;
}

/** A deterministic stand-in for the selftest's rand()-based shuffle_array(). */
function shuffle<T>(items: T[], seed: number): T[] {
  let s = seed >>> 0;
  for (let i = 0; i !== items.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const other = (s >>> 16) % (items.length - i);
    [items[i], items[other]] = [items[other]!, items[i]!];
  }
  return items;
}

for (const node of NODES) {
  describe(`FIXTURE(iommufd) VFIO compat on ${node}`, () => {
    it("simple_ioctls", () => {
      const w = open(node);
      expect(w.p.ioctl(w.fd, VFIO_GET_API_VERSION)).toBe(VFIO_API_VERSION);
      expect(w.p.ioctl(w.fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU)).toBe(1);
    });

    it("unmap_cmd", () => {
      const w = open(node);
      const base = { iova: IOVA_BASE, size: PS };
      expect(() => unmapCmd(w, { ...base, argsz: 1 })).toThrowErrno("EINVAL");
      expect(() => unmapCmd(w, { ...base, flags: 0x8000_0000 })).toThrowErrno("EINVAL");
      expect(() => unmapCmd(w, base)).toThrowErrno("ENODEV");
    });

    it("map_cmd", () => {
      const w = open(node);
      const base = { iova: IOVA_BASE, size: PS, vaddr: buffer(w, BUFFER_SIZE) };
      expect(() => mapCmd(w, { ...base, argsz: 1 })).toThrowErrno("EINVAL");
      expect(() => mapCmd(w, { ...base, flags: 0x8000_0000 })).toThrowErrno("EINVAL");
      // Requires a domain to be attached
      expect(() => mapCmd(w, base)).toThrowErrno("ENODEV");
    });

    it("info_cmd", () => {
      const w = open(node);
      // Invalid argsz
      expect(() =>
        ioctlStruct(w, VFIO_IOMMU_GET_INFO, vfio_iommu_type1_info, { argsz: 0 }, { size: 1 }),
      ).toThrowErrno("EINVAL");
      expect(() =>
        ioctlStruct(w, VFIO_IOMMU_GET_INFO, vfio_iommu_type1_info, { argsz: 0 }),
      ).toThrowErrno("ENODEV");
    });

    it("set_iommu_cmd", () => {
      const w = open(node);
      // Requires a domain to be attached
      expect(() => w.p.ioctl(w.fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("ENODEV");
      expect(() => w.p.ioctl(w.fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)).toThrowErrno("ENODEV");
    });

    it("vfio_ioas", () => {
      const w = open(node);
      // ENODEV if there is no compat ioas
      expect(() => vfioIoas(w, IOMMU_VFIO_IOAS_GET)).toThrowErrno("ENODEV");
      // Invalid id for set
      expect(() => vfioIoas(w, IOMMU_VFIO_IOAS_SET)).toThrowErrno("ENOENT");
      // Valid id for set
      const ioasId = ioasAlloc(w);
      vfioIoas(w, IOMMU_VFIO_IOAS_SET, ioasId);
      // Same id comes back from get
      expect(vfioIoas(w, IOMMU_VFIO_IOAS_GET)).toBe(ioasId);
      // Clear works
      vfioIoas(w, IOMMU_VFIO_IOAS_CLEAR);
      expect(() => vfioIoas(w, IOMMU_VFIO_IOAS_GET)).toThrowErrno("ENODEV");
    });
  });

  for (const [variant, version] of [
    ["Ver1v2", VFIO_TYPE1v2_IOMMU],
    ["Ver1v0", VFIO_TYPE1_IOMMU],
  ] as const) {
    /** FIXTURE_SETUP(vfio_compat_mock_domain) */
    const fixture = () => {
      const w = open(node);
      const ictx = ictxOf(w);
      // Create what VFIO would consider a group
      const ioasId = ioasAlloc(w);
      const idev = bindDev({ ...w, ictx }, DMAT0);
      iommufdDeviceAttach(idev, IOMMU_NO_PASID, ioasId);
      // Attach it to the vfio compat
      vfioIoas(w, IOMMU_VFIO_IOAS_SET, ioasId);
      expect(w.p.ioctl(w.fd, VFIO_SET_IOMMU, version)).toBe(0);
      const buf = buffer(w, BUFFER_SIZE);
      w.p.poke(buf, new Uint8Array(BUFFER_SIZE).fill(0x42));
      const teardown = () => {
        iommufdDeviceDetach(idev, IOMMU_NO_PASID);
        iommufdDeviceUnbind(idev);
        w.p.close(w.fd);
        expect(w.kernel.allocator.totalPins).toBe(0);
      };
      return { ...w, ioasId, buf, teardown };
    };

    describe(`FIXTURE(vfio_compat_mock_domain) ${variant} on ${node}`, () => {
      it("simple_close", () => {
        fixture().teardown();
      });

      it("option_huge_pages", () => {
        const f = fixture();
        expect(optionGet(f, IOMMU_OPTION_HUGE_PAGES, f.ioasId)).toBe(
          version === VFIO_TYPE1_IOMMU ? 0n : 1n,
        );
        f.teardown();
      });

      it("get_info", () => {
        const f = fixture();
        const page = f.p.malloc(PAGE_SIZE);
        /** ioctl_check_buf(): run GET_INFO in a 0xAA-filled buffer, nothing past argsz changes. */
        const checkBuf = (argsz: number) => {
          f.p.poke(page, new Uint8Array(PAGE_SIZE).fill(0xaa));
          f.p.poke(page, vfio_iommu_type1_info.encode({ argsz }).subarray(0, Math.min(argsz, 24)));
          expect(f.p.ioctl(f.fd, VFIO_IOMMU_GET_INFO, page)).toBe(0);
          const raw = f.p.peek(page, PAGE_SIZE);
          expect(raw.subarray(argsz).every((b) => b === 0xaa)).toBe(true);
          return { info: vfio_iommu_type1_info.decode(raw), raw };
        };
        const ranges = iovaRanges(f, f.ioasId).ranges;
        /** check_vfio_info_cap_chain() */
        const checkChain = (info: { argsz: number; cap_offset: number }, raw: Uint8Array) => {
          expect(info.argsz).toBeGreaterThanOrEqual(info.cap_offset + vfio_info_cap_header.size);
          let at = info.cap_offset;
          for (;;) {
            const cap = vfio_info_cap_header.decode(raw, at);
            const capSize = (cap.next ? cap.next : info.argsz) - at;
            expect(cap.version).toBe(1);
            if (cap.id === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
              const l = vfio_iommu_type1_info_cap_iova_range;
              const head = l.decode(raw, at);
              const data = l.decode(raw, at, head.nr_iovas);
              expect(data.iova_ranges.map((r) => [r.start, r.end])).toEqual(ranges);
            } else if (cap.id === VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
              // The C struct is 12 bytes; the chain rounds it to 16.
              expect(capSize).toBe(16);
              expect(vfio_iommu_type1_info_dma_avail.decode(raw, at).avail).toBe(0xffff_ffff);
            } else {
              expect.unreachable(`capability id ${cap.id}`);
            }
            if (!cap.next) break;
            expect(info.argsz).toBeGreaterThanOrEqual(cap.next + vfio_info_cap_header.size);
            expect(cap.next).toBeGreaterThanOrEqual(at);
            at = cap.next;
          }
        };

        // Pre-cap ABI
        let r = checkBuf(vfio_iommu_type1_info.offsetof("cap_offset"));
        expect(r.info.iova_pgsizes).not.toBe(0n);
        expect(r.info.flags).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);

        // Read the cap chain size
        r = checkBuf(vfio_iommu_type1_info.size);
        expect(r.info.iova_pgsizes).not.toBe(0n);
        expect(r.info.flags).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
        expect(r.info.cap_offset).toBe(0);
        expect(r.info.argsz).toBeGreaterThan(vfio_iommu_type1_info.size);

        // Read the caps, kernel should never create a corrupted caps
        const caplen = r.info.argsz;
        for (let i = vfio_iommu_type1_info.size; i < caplen + 8; i++) {
          const { info, raw } = checkBuf(i);
          expect(info.flags).toBe(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
          if (!info.cap_offset) continue;
          checkChain({ ...info, argsz: i }, raw);
        }
        f.teardown();
      });

      it("map", () => {
        const f = fixture();
        const map = { vaddr: f.buf, size: BigInt(BUFFER_SIZE), iova: IOVA_BASE };
        const unmap = { size: BigInt(BUFFER_SIZE), iova: IOVA_BASE };

        // Simple map/unmap
        mapCmd(f, map);
        expect(unmapCmd(f, unmap)).toBe(BigInt(BUFFER_SIZE));
        // Unmap of empty is success
        expect(unmapCmd(f, unmap)).toBe(0n);

        // UNMAP_FLAG_ALL requires 0 iova/size
        mapCmd(f, map);
        expect(() => unmapCmd(f, { ...unmap, flags: VFIO_DMA_UNMAP_FLAG_ALL })).toThrowErrno(
          "EINVAL",
        );
        expect(unmapCmd(f, { iova: 0n, size: 0n, flags: VFIO_DMA_UNMAP_FLAG_ALL })).toBe(
          BigInt(BUFFER_SIZE),
        );

        // Small pages
        const pagesIova: bigint[] = [];
        for (let i = 0; i !== BUFFER_SIZE / PAGE_SIZE; i++) {
          pagesIova.push(IOVA_BASE + BigInt(i) * PS);
          mapCmd(f, { vaddr: f.buf + i * PAGE_SIZE, size: PS, iova: pagesIova[i]! });
        }
        for (const iova of shuffle(pagesIova, 1)) expect(unmapCmd(f, { iova, size: PS })).toBe(PS);
        f.teardown();
      });

      it("huge_map", () => {
        const f = fixture();
        const bufSize = HUGEPAGE_SIZE * 2;
        // Test huge pages and splitting
        const buf = buffer(f, bufSize);
        f.p.poke(buf, new Uint8Array(bufSize).fill(1));
        mapCmd(f, { vaddr: buf, size: BigInt(bufSize), iova: IOVA_BASE });
        const size = BigInt(bufSize / 16);
        const pagesIova = Array.from({ length: 16 }, (_, i) => IOVA_BASE + BigInt(i) * size);
        // type1 mode can cut up larger mappings, type1v2 always fails
        for (const iova of shuffle(pagesIova, 2)) {
          if (version === VFIO_TYPE1_IOMMU) {
            expect(unmapCmd(f, { iova, size })).toBe(size);
          } else {
            expect(() => unmapCmd(f, { iova, size })).toThrowErrno("ENOENT");
          }
        }
        f.teardown();
      });
    });
  }
}

describe("the container VFIO would build on /dev/vfio/vfio", () => {
  it("compat IOAS, device attach, TYPE1v2, MAP_DMA: the DMA engine copies through the SMMU", () => {
    const w = open("/dev/vfio/vfio");
    const ictx = ictxOf(w);
    // vfio_group_ioctl_set_container() → iommufd_vfio_compat_ioas_create() and the attach.
    iommufdVfioCompatIoasCreate(ictx);
    const ioasId = iommufdVfioCompatIoasGetId(ictx);
    const idev = bindDev({ ...w, ictx }, DMAT0);
    iommufdDeviceAttach(idev, IOMMU_NO_PASID, ioasId);
    expect(w.p.ioctl(w.fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toBe(0);
    const buf = buffer(w, BUFFER_SIZE);
    const msg = new TextEncoder().encode("DMA through the VFIO compat container");
    w.p.poke(buf, msg);
    mapCmd(w, { vaddr: buf, size: BigInt(BUFFER_SIZE), iova: IOVA_BASE });
    const status = dmaTestCopy(w, DMAT0, IOVA_BASE + 8n * PS, IOVA_BASE, msg.length);
    expect(status & DMA_TEST_STATUS.DONE).toBe(DMA_TEST_STATUS.DONE);
    expect(status & DMA_TEST_STATUS.ERROR).toBe(0);
    expect(w.p.peek(buf + 8 * PAGE_SIZE, msg.length)).toEqual(msg);
    // After UNMAP_DMA the same transfer faults.
    expect(unmapCmd(w, { iova: 0n, size: 0n, flags: VFIO_DMA_UNMAP_FLAG_ALL })).toBe(
      BigInt(BUFFER_SIZE),
    );
    expect(
      dmaTestCopy(w, DMAT0, IOVA_BASE + 8n * PS, IOVA_BASE, msg.length) & DMA_TEST_STATUS.ERROR,
    ).toBe(DMA_TEST_STATUS.ERROR);
    iommufdDeviceDetach(idev, IOMMU_NO_PASID);
    iommufdDeviceUnbind(idev);
    w.p.close(w.fd);
    expect(w.kernel.allocator.totalPins).toBe(0);
  });

  it("fail_nth: MAP_DMA/UNMAP_DMA through a compat container fail cleanly at every site", () => {
    const report = sweepFailNth({
      setup: () => {
        const w = open("/dev/vfio/vfio");
        const ictx = ictxOf(w);
        const buf = buffer(w, BUFFER_SIZE);
        w.p.poke(buf, new Uint8Array(BUFFER_SIZE).fill(7));
        return {
          ...w,
          ictx,
          buf,
          processes: [w.p],
          idev: null as ReturnType<typeof bindDev> | null,
        };
      },
      run: (s) => {
        iommufdVfioCompatIoasCreate(s.ictx);
        const ioasId = iommufdVfioCompatIoasGetId(s.ictx);
        s.idev = bindDev(s, DMAT0);
        iommufdDeviceAttach(s.idev, IOMMU_NO_PASID, ioasId);
        s.p.ioctl(s.fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU);
        mapCmd(s, { vaddr: s.buf, size: BigInt(BUFFER_SIZE), iova: IOVA_BASE });
        unmapCmd(s, { iova: IOVA_BASE + PS, size: PS });
        unmapCmd(s, { iova: 0n, size: 0n, flags: VFIO_DMA_UNMAP_FLAG_ALL });
      },
      teardown: (s) => {
        if (!s.idev) return;
        try {
          iommufdDeviceDetach(s.idev, IOMMU_NO_PASID);
        } finally {
          iommufdDeviceUnbind(s.idev);
        }
      },
    });
    expect(report.sites.length).toBeGreaterThan(3);
  }, 120_000);
});
