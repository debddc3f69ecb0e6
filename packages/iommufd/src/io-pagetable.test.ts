/**
 * io_pagetable.c below the ioctls: domains joining and leaving (alignment, aperture
 * reservations), device reserved regions, accesses, splitting, the contiguous-area walk, and a
 * model-checked property over map/unmap with a real SMMU domain attached.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { IOMMU_DOMAIN_UNMANAGED, IommuDomain } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import {
  buffer,
  DMA_TEST_DEV,
  destroy,
  ioasAlloc,
  ioasMap,
  ioasObj,
  ioasUnmap,
  iovaRanges,
  setup,
  smmuDomain,
} from "../test/fixture.js";
import { IoptAreaContigIter, ULONG_MAX } from "./io-pagetable.js";
import { ioptAreaAddAccess, ioptAreaRemoveAccess } from "./pages.js";

const PS = BigInt(PAGE_SIZE);
/** arm-smmu-v3: MSI_IOVA_BASE / MSI_IOVA_LENGTH, the SW_MSI window. */
const MSI_IOVA_BASE = 0x800_0000n;
const MSI_IOVA_LENGTH = 0x10_0000n;

function world() {
  const w = setup();
  const id = ioasAlloc(w);
  const iopt = ioasObj(w, id).iopt;
  return { ...w, id, iopt };
}

function dmaTestDev(w: ReturnType<typeof world>) {
  return w.kernel.drivers.findDevice("platform", DMA_TEST_DEV)!;
}

describe("iopt_table_add_domain / iopt_table_remove_domain", () => {
  it("reserves the aperture's complement and raises the alignment; removal undoes both", () => {
    const w = world();
    const d = smmuDomain(w);
    w.iopt.tableAddDomain(d);
    const last = BigInt(d.geometry.apertureEnd);
    expect(iovaRanges(w, w.id).ranges).toEqual([[0n, last]]);
    expect(iovaRanges(w, w.id).out.out_iova_alignment).toBe(PS);
    expect(() => w.iopt.tableAddDomain(d)).toThrowErrno("EEXIST");
    w.iopt.tableRemoveDomain(d);
    expect(iovaRanges(w, w.id).ranges).toEqual([[0n, ULONG_MAX]]);
    expect(w.iopt.iovaAlignment).toBe(1n);
  });

  it("a domain whose smallest page exceeds PAGE_SIZE is EINVAL", () => {
    const w = world();
    const d = new IommuDomain(IOMMU_DOMAIN_UNMANAGED, { attachDev: () => {} });
    d.pgsizeBitmap = 1 << 16;
    expect(() => w.iopt.tableAddDomain(d)).toThrowErrno("EINVAL");
    expect(w.iopt.domains).toEqual([]);
  });

  it("a mapping that breaks the new alignment is EADDRINUSE, and nothing is reserved", () => {
    const w = world();
    ioasMap(w, w.id, buffer(w, PAGE_SIZE), 100n, 0x1000n);
    expect(() => w.iopt.tableAddDomain(smmuDomain(w))).toThrowErrno("EADDRINUSE");
    expect(w.iopt.reservedItree.size).toBe(0);
    expect(w.iopt.iovaAlignment).toBe(1n);
  });

  it("ALLOW_IOVAS outside the aperture makes the attach EADDRINUSE", () => {
    const w = world();
    const t = new (w.iopt.allowedItree.constructor as new () => typeof w.iopt.allowedItree)();
    t.insert(1n << 50n, (1n << 50n) + 0xfffn, null);
    w.iopt.setAllowIova(t);
    expect(() => w.iopt.tableAddDomain(smmuDomain(w))).toThrowErrno("EADDRINUSE");
    expect(w.iopt.reservedItree.size).toBe(0);
  });

  it("the xa_reserve fault point is ENOMEM and drops the reservations", () => {
    const w = world();
    const d = smmuDomain(w);
    w.kernel.allocator.setFailHook((s) => s === "xa_reserve");
    expect(() => w.iopt.tableAddDomain(d)).toThrowErrno("ENOMEM");
    w.kernel.allocator.setFailHook(undefined);
    expect(w.iopt.reservedItree.size).toBe(0);
    expect(w.iopt.domains).toEqual([]);
  });
});

describe("iopt_table_enforce_dev_resv_regions", () => {
  it("reserves the SMMU's SW_MSI window for the device and reports its start", () => {
    const w = world();
    const dev = dmaTestDev(w);
    expect(w.iopt.tableEnforceDevResvRegions(dev)).toBe(Number(MSI_IOVA_BASE));
    expect(iovaRanges(w, w.id).ranges).toEqual([
      [0n, MSI_IOVA_BASE - 1n],
      [MSI_IOVA_BASE + MSI_IOVA_LENGTH, ULONG_MAX],
    ]);
    // The replace path passes no sw_msi_start.
    w.iopt.removeReservedIova(dev);
    expect(w.iopt.tableEnforceDevResvRegions(dev, { noSwMsi: true })).toBe(null);
    w.iopt.removeReservedIova(dev);
    expect(w.iopt.reservedItree.size).toBe(0);
  });

  it("a region over a mapping is EADDRINUSE and reserves nothing", () => {
    const w = world();
    ioasMap(w, w.id, buffer(w, PAGE_SIZE), PS, MSI_IOVA_BASE);
    expect(() => w.iopt.tableEnforceDevResvRegions(dmaTestDev(w))).toThrowErrno("EADDRINUSE");
    expect(w.iopt.reservedItree.size).toBe(0);
  });

  it("its fault point is EINVAL", () => {
    const w = world();
    w.kernel.allocator.setFailHook((s) => s === "iopt_table_enforce_dev_resv_regions");
    expect(() => w.iopt.tableEnforceDevResvRegions(dmaTestDev(w))).toThrowErrno("EINVAL");
    w.kernel.allocator.setFailHook(undefined);
  });
});

describe("iopt_add_access / iopt_remove_access", () => {
  it("gives the lowest free id and raises the alignment to the access's", () => {
    const w = world();
    const a = { iovaAlignment: PAGE_SIZE, ioptAccessListId: -1 };
    const b = { iovaAlignment: 1, ioptAccessListId: -1 };
    w.iopt.addAccess(a);
    w.iopt.addAccess(b);
    expect([a.ioptAccessListId, b.ioptAccessListId]).toEqual([0, 1]);
    expect(w.iopt.iovaAlignment).toBe(PS);
    w.iopt.removeAccess(a, 0);
    expect(w.iopt.iovaAlignment).toBe(1n);
    const c = { iovaAlignment: 1, ioptAccessListId: -1 };
    w.iopt.addAccess(c);
    expect(c.ioptAccessListId).toBe(0);
  });

  it("an alignment a mapping breaks is EADDRINUSE; the access is not added", () => {
    const w = world();
    ioasMap(w, w.id, buffer(w, PAGE_SIZE), 10n, 0x1000n);
    const a = { iovaAlignment: PAGE_SIZE, ioptAccessListId: -1 };
    expect(() => w.iopt.addAccess(a)).toThrowErrno("EADDRINUSE");
    expect(w.iopt.accesses.size).toBe(0);
    expect(a.ioptAccessListId).toBe(-1);
  });

  it("xa_alloc failure is ENOMEM", () => {
    const w = world();
    w.kernel.allocator.setFailHook((s) => s === "xa_alloc");
    expect(() => w.iopt.addAccess({ iovaAlignment: 1, ioptAccessListId: -1 })).toThrowErrno(
      "ENOMEM",
    );
    w.kernel.allocator.setFailHook(undefined);
  });
});

describe("iopt_cut_iova (VFIO type1 splitting)", () => {
  it("splits a domain-less area; both halves share the pages", () => {
    const w = world();
    ioasMap(w, w.id, buffer(w, 4 * PAGE_SIZE), 4n * PS, 0x10000n);
    w.iopt.cutIova([0x10000n + PS - 1n, 0x10000n, 0x20000n]);
    const areas = [];
    for (let n = w.iopt.areaItree.first(); n; n = w.iopt.areaItree.next(n)) areas.push(n.value);
    expect(areas.map((a) => [a.iova, a.lastIova, a.index, a.lastIndex])).toEqual([
      [0x10000n, 0x10fffn, 0, 0],
      [0x11000n, 0x13fffn, 1, 3],
    ]);
    expect(areas[0]!.pages).toBe(areas[1]!.pages);
    expect(areas[0]!.pages!.refs).toBe(2);
    expect(ioasUnmap(w, w.id, 0x11000n, 3n * PS)).toBe(3n * PS);
    expect(areas[0]!.pages!.refs).toBe(1);
  });

  it("an area with an access cannot be split (EINVAL)", () => {
    const w = world();
    ioasMap(w, w.id, buffer(w, 2 * PAGE_SIZE), 2n * PS, 0x10000n);
    const area = w.iopt.areaItree.first()!.value;
    ioptAreaAddAccess(area, 0, 0, [0], 0, false);
    expect(() => w.iopt.cutIova([0x10fffn])).toThrowErrno("EINVAL");
    ioptAreaRemoveAccess(area, 0, 0, false);
    expect(w.iopt.areaItree.size).toBe(1);
  });

  it("a split point off the IOAS alignment is EINVAL", () => {
    const w = world();
    w.iopt.disableLargePages();
    ioasMap(w, w.id, buffer(w, 2 * PAGE_SIZE), 2n * PS, 0x10000n);
    expect(() => w.iopt.cutIova([0x10010n])).toThrowErrno("EINVAL");
  });
});

describe("iopt_area_contig_iter", () => {
  it("walks back-to-back areas and reports whether they cover the range", () => {
    const w = world();
    const buf = buffer(w, 4 * PAGE_SIZE);
    ioasMap(w, w.id, buf, PS, 0x10000n);
    ioasMap(w, w.id, buf, 2n * PS, 0x11000n);
    ioasMap(w, w.id, buf, PS, 0x14000n);
    const walk = (a: bigint, b: bigint) => {
      const it = new IoptAreaContigIter(w.iopt, a, b);
      const seen: bigint[] = [];
      for (let area = it.first(); area; area = it.next()) seen.push(area.iova);
      return { seen, done: it.done() };
    };
    expect(walk(0x10800n, 0x12fffn)).toEqual({ seen: [0x10000n, 0x11000n], done: true });
    expect(walk(0x10000n, 0x14000n)).toEqual({ seen: [0x10000n, 0x11000n], done: false });
    expect(walk(0xf000n, 0x10000n)).toEqual({ seen: [], done: false });
  });
});

describe("property: map/unmap with an SMMU domain keeps pins, accounting and the page table exact", () => {
  const shared = setup();
  const buf = buffer(shared, 32 * PAGE_SIZE);
  const domain = smmuDomain(shared);

  const op = fc.oneof(
    fc.record({
      kind: fc.constant("map" as const),
      slot: fc.integer({ min: 0, max: 15 }),
      n: fc.integer({ min: 1, max: 3 }),
      src: fc.integer({ min: 0, max: 28 }),
    }),
    fc.record({
      kind: fc.constant("unmap" as const),
      slot: fc.integer({ min: 0, max: 15 }),
      n: fc.integer({ min: 1, max: 6 }),
    }),
  );

  fcTest.prop([fc.array(op, { maxLength: 20 })], { numRuns: 20 })("random ops", (ops) => {
    const w = shared;
    const id = ioasAlloc(w);
    const iopt = ioasObj(w, id).iopt;
    iopt.tableAddDomain(domain);
    const base = 0x4000_0000n;
    /** slot → [length in slots, source page] of the mapping starting there. */
    const model = new Map<number, [number, number]>();
    const used = (s: number) => [...model].some(([start, [n]]) => s >= start && s < start + n);
    for (const o of ops) {
      const iova = base + BigInt(o.slot) * 4n * PS;
      if (o.kind === "map") {
        const len = BigInt(o.n) * 4n * PS;
        const clash = [...Array(o.n).keys()].some((k) => used(o.slot + k)) || o.slot + o.n > 16;
        const va = buf + o.src * PAGE_SIZE;
        const srcPages = Math.min(o.n * 4, 32 - o.src);
        if (clash) continue;
        if (srcPages < o.n * 4) {
          // Runs off the end of the buffer: the pin faults.
          expect(() => ioasMap(w, id, va, len, iova)).toThrowErrno("EFAULT");
          continue;
        }
        ioasMap(w, id, va, len, iova);
        model.set(o.slot, [o.n, o.src]);
      } else {
        const len = BigInt(o.n) * 4n * PS;
        const inside = [...model].filter(([s, [n]]) => s < o.slot + o.n && s + n > o.slot);
        const partial = inside.some(([s, [n]]) => s < o.slot || s + n > o.slot + o.n);
        if (partial) {
          expect(() => ioasUnmap(w, id, iova, len)).toThrowErrno("ENOENT");
          // Areas below the offending one were already removed (partial effect).
          for (const [s, [n]] of inside) {
            if (s >= o.slot && s + n <= o.slot + o.n) {
              if (!iopt.areaItree.findStart(base + BigInt(s) * 4n * PS)) model.delete(s);
            }
          }
        } else if (inside.length === 0) {
          expect(() => ioasUnmap(w, id, iova, len)).toThrowErrno("ENOENT");
        } else {
          const total = inside.reduce((t, [, [n]]) => t + BigInt(n) * 4n * PS, 0n);
          expect(ioasUnmap(w, id, iova, len)).toBe(total);
          for (const [s] of inside) model.delete(s);
        }
      }
      // Invariants: one pin per mapped page of each MAP, the page table matches the model.
      const pages = [...model.values()].reduce((t, [n]) => t + n * 4, 0);
      expect(w.kernel.allocator.totalPins).toBe(pages);
      expect(w.p.mm.pinnedVm).toBe(pages);
      for (let s = 0; s < 16; s++) {
        const entry = [...model].find(([st, [n]]) => s >= st && s < st + n);
        const pa = w.kernel.iommu.iommuIovaToPhys(domain, Number(base) + s * 4 * PAGE_SIZE);
        if (!entry) expect(pa).toBe(0);
        else {
          const [st, [, src]] = entry;
          const va = buf + (src + (s - st) * 4) * PAGE_SIZE;
          expect(pa).toBe(w.p.mm.translate(va) * PAGE_SIZE);
        }
      }
    }
    ioasUnmap(w, id, 0n, ULONG_MAX);
    iopt.tableRemoveDomain(domain);
    destroy(w, id);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.p.mm.pinnedVm).toBe(0);
  });
});
