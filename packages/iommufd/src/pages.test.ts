/**
 * Pinning, accounting and the PFN storage rule of pages.c, seen through IOMMU_IOAS_MAP/UNMAP on
 * an IOAS whose domain is a real SMMU paging domain (the selftests' mock domain stands here:
 * `iopt.tableAddDomain()` as an attached HWPT would do it), and in-kernel accesses.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import type { IommuDomain } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import {
  buffer,
  destroy,
  ioasAlloc,
  ioasCopy,
  ioasMap,
  ioasMapFile,
  ioasObj,
  ioasUnmap,
  memfd,
  optionSet,
  setup,
  smmuDomain,
  type World,
} from "../test/fixture.js";
import type { IoptArea } from "./io-pagetable.js";
import {
  ioptAreaAddAccess,
  ioptAreaRemoveAccess,
  ioptPagesRwAccess,
  PfnXarray,
  TEMP_MEMORY_LIMIT,
} from "./pages.js";
import {
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMUFD_ACCESS_RW_KTHREAD,
  IOMMUFD_ACCESS_RW_WRITE,
} from "./uapi.js";

const PS = BigInt(PAGE_SIZE);

/** An IOAS with an SMMU domain, by an unprivileged-for-locking process (CAP_IPC_LOCK dropped). */
function domainFixture(opts: { capIpcLock?: boolean; memlock?: number; mm?: boolean } = {}) {
  const w = setup(
    opts.memlock === undefined
      ? {}
      : { spawn: { comm: "iommufd", rlimits: { memlock: opts.memlock } } },
  );
  if (opts.capIpcLock !== true) {
    w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_IPC_LOCK") });
  }
  if (opts.mm === true) optionSet(w, IOMMU_OPTION_RLIMIT_MODE, 0, 1n);
  const ioasId = ioasAlloc(w);
  const domain = smmuDomain(w);
  const iopt = ioasObj(w, ioasId).iopt;
  iopt.tableAddDomain(domain);
  return { ...w, ioasId, domain, iopt, user: w.kernel.users.allocUid(w.p.uid) };
}

function firstArea(w: World, ioasId: number): IoptArea {
  return ioasObj(w, ioasId).iopt.areaItree.first()!.value;
}

/** Every page of [va, va+len) is mapped at iova in `domain` to the PFN the process sees. */
function expectMapped(w: World, domain: IommuDomain, iova: bigint, va: number, len: number) {
  for (let off = 0; off < len; off += PAGE_SIZE) {
    const pfn = w.p.mm.translate(va + off);
    expect(pfn).toBeGreaterThan(0);
    expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(iova) + off)).toBe(pfn * PAGE_SIZE);
    expect(w.kernel.allocator.pinCount(pfn)).toBeGreaterThan(0);
  }
}

describe("basic map/unmap accounting", () => {
  it("user mode: VmPin and the user's locked_vm follow the pinned pages", () => {
    const w = domainFixture();
    const buf = buffer(w, 16 * PAGE_SIZE);
    const iova = ioasMap(w, w.ioasId, buf, 4n * PS);
    expect(w.p.mm.pinnedVm).toBe(4);
    expect(w.user.lockedVm).toBe(4);
    expect(w.p.mm.lockedVm).toBe(0);
    expect(w.kernel.allocator.totalPins).toBe(4);
    expectMapped(w, w.domain, iova, buf, 4 * PAGE_SIZE);
    // A second MAP of the same memory pins and charges again (a new pages object).
    const iova2 = ioasMap(w, w.ioasId, buf, 4n * PS);
    expect(w.p.mm.pinnedVm).toBe(8);
    expect(w.user.lockedVm).toBe(8);
    ioasUnmap(w, w.ioasId, iova, 4n * PS);
    ioasUnmap(w, w.ioasId, iova2, 4n * PS);
    expect(w.p.mm.pinnedVm).toBe(0);
    expect(w.user.lockedVm).toBe(0);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.kernel.iommu.iommuIovaToPhys(w.domain, Number(iova))).toBe(0);
  });

  it("mm mode: the mm's locked_vm (VmLck) is charged too", () => {
    const w = domainFixture({ mm: true });
    const buf = buffer(w, 16 * PAGE_SIZE);
    const iova = ioasMap(w, w.ioasId, buf, 3n * PS);
    expect(w.p.mm.pinnedVm).toBe(3);
    expect(w.p.mm.lockedVm).toBe(3);
    expect(w.user.lockedVm).toBe(0);
    ioasUnmap(w, w.ioasId, iova, 3n * PS);
    expect([w.p.mm.pinnedVm, w.p.mm.lockedVm]).toEqual([0, 0]);
  });

  it("CAP_IPC_LOCK means no rlimit accounting, but VmPin still counts", () => {
    const w = domainFixture({ capIpcLock: true, memlock: 0 });
    const buf = buffer(w, 16 * PAGE_SIZE);
    ioasMap(w, w.ioasId, buf, 16n * PS);
    expect(w.p.mm.pinnedVm).toBe(16);
    expect(w.user.lockedVm).toBe(0);
    expect(w.p.mm.lockedVm).toBe(0);
  });

  it("over RLIMIT_MEMLOCK: ENOMEM after pinning, and every pin is undone", () => {
    const w = domainFixture({ memlock: 2 * PAGE_SIZE });
    const buf = buffer(w, 16 * PAGE_SIZE);
    expect(() => ioasMap(w, w.ioasId, buf, 3n * PS, 0x10000n)).toThrowErrno("ENOMEM");
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.p.mm.pinnedVm).toBe(0);
    expect(w.user.lockedVm).toBe(0);
    expect(w.iopt.areaItree.size).toBe(0);
    expect(w.kernel.iommu.iommuIovaToPhys(w.domain, 0x10000)).toBe(0);
    ioasMap(w, w.ioasId, buf, 2n * PS, 0x10000n);
    expect(w.user.lockedVm).toBe(2);
  });

  it("mm mode over RLIMIT_MEMLOCK is ENOMEM too", () => {
    const w = domainFixture({ memlock: PAGE_SIZE, mm: true });
    const buf = buffer(w, 16 * PAGE_SIZE);
    expect(() => ioasMap(w, w.ioasId, buf, 2n * PS)).toThrowErrno("ENOMEM");
    expect([w.p.mm.pinnedVm, w.p.mm.lockedVm, w.kernel.allocator.totalPins]).toEqual([0, 0, 0]);
  });

  it("unmapped or half-mapped VA: EFAULT, nothing left", () => {
    const w = domainFixture();
    const buf = buffer(w, 4 * PAGE_SIZE);
    w.p.munmap(buf + 2 * PAGE_SIZE, 2 * PAGE_SIZE);
    expect(() => ioasMap(w, w.ioasId, buf + 2 * PAGE_SIZE, 2n * PS)).toThrowErrno("EFAULT");
    expect(() => ioasMap(w, w.ioasId, buf, 4n * PS)).toThrowErrno("EFAULT");
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect([w.p.mm.pinnedVm, w.user.lockedVm, w.iopt.areaItree.size]).toEqual([0, 0, 0]);
  });

  it("read-only map of read-only memory works; a writeable one is EFAULT", () => {
    const w = domainFixture();
    const buf = buffer(w, 2 * PAGE_SIZE);
    w.p.mprotect(buf, 2 * PAGE_SIZE, 1 /* PROT_READ */);
    expect(() => ioasMap(w, w.ioasId, buf, 2n * PS)).toThrowErrno("EFAULT");
    ioasMap(w, w.ioasId, buf, 2n * PS, undefined, IOMMU_IOAS_MAP_READABLE);
    expect(w.kernel.allocator.totalPins).toBe(2);
  });

  it("COPY shares the pins and the charge of its source", () => {
    const w = domainFixture();
    const buf = buffer(w, 8 * PAGE_SIZE);
    const iova = ioasMap(w, w.ioasId, buf, 8n * PS);
    const copy = ioasCopy(w, w.ioasId, w.ioasId, iova + 2n * PS, 4n * PS);
    expect(w.kernel.allocator.totalPins).toBe(8);
    expect(w.user.lockedVm).toBe(8);
    expectMapped(w, w.domain, copy, buf + 2 * PAGE_SIZE, 4 * PAGE_SIZE);
    ioasUnmap(w, w.ioasId, iova, 8n * PS);
    // The copy still holds its four pages.
    expect(w.kernel.allocator.totalPins).toBe(4);
    expect(w.user.lockedVm).toBe(4);
    expectMapped(w, w.domain, copy, buf + 2 * PAGE_SIZE, 4 * PAGE_SIZE);
    ioasUnmap(w, w.ioasId, copy, 4n * PS);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.user.lockedVm).toBe(0);
  });

  it("a pinned page outlives munmap: the domain keeps the old frame", () => {
    const w = domainFixture();
    const buf = buffer(w, PAGE_SIZE);
    w.p.poke(buf, [0xaa]);
    const pfn = w.p.mm.translate(buf);
    const iova = ioasMap(w, w.ioasId, buf, PS);
    w.p.munmap(buf, PAGE_SIZE);
    expect(w.kernel.iommu.iommuIovaToPhys(w.domain, Number(iova))).toBe(pfn * PAGE_SIZE);
    expect(w.kernel.allocator.pinCount(pfn)).toBe(1);
    ioasUnmap(w, w.ioasId, iova, PS);
    expect(w.kernel.allocator.isAllocated(pfn)).toBe(false);
  });

  it("sub-page alignment is refused once a domain sets the IOVA alignment (EINVAL)", () => {
    const w = domainFixture();
    const buf = buffer(w, 2 * PAGE_SIZE);
    expect(() => ioasMap(w, w.ioasId, buf, 100n)).toThrowErrno("EINVAL");
    expect(() => ioasMap(w, w.ioasId, buf + 16, PS, 0x10000n)).toThrowErrno("EINVAL");
    expect(() => ioasMap(w, w.ioasId, buf, PS, 0x10010n)).toThrowErrno("EINVAL");
  });

  it("closing the file unpins everything", () => {
    const w = domainFixture();
    const buf = buffer(w, 8 * PAGE_SIZE);
    ioasMap(w, w.ioasId, buf, 8n * PS);
    w.iopt.tableRemoveDomain(w.domain);
    w.p.close(w.fd);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect([w.p.mm.pinnedVm, w.user.lockedVm]).toEqual([0, 0]);
  });
});

describe("the storage rule: one pin per page", () => {
  it("a second domain reads PFNs back from the first and pins nothing more", () => {
    const w = domainFixture();
    const buf = buffer(w, 8 * PAGE_SIZE);
    const iova = ioasMap(w, w.ioasId, buf, 8n * PS);
    const d2 = w.kernel.iommu.iommuPagingDomainAlloc(
      w.kernel.drivers.findDevice("platform", "c030000.dma-test")!,
    );
    w.iopt.tableAddDomain(d2);
    expect(w.kernel.allocator.totalPins).toBe(8);
    expect(w.user.lockedVm).toBe(8);
    expectMapped(w, d2, iova, buf, 8 * PAGE_SIZE);
    // Removing the storage domain hands storage to the other; nothing is unpinned.
    w.iopt.tableRemoveDomain(w.domain);
    expect(firstArea(w, w.ioasId).storageDomain).toBe(d2);
    expect(w.kernel.allocator.totalPins).toBe(8);
    expect(w.kernel.iommu.iommuIovaToPhys(w.domain, Number(iova))).toBe(0);
    w.iopt.tableRemoveDomain(d2);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.user.lockedVm).toBe(0);
    expect(firstArea(w, w.ioasId).storageDomain).toBe(null);
  });

  it("a domain-less IOAS pins on attach, and an unmapped VA fails the attach with EFAULT (fork_gone)", () => {
    const w = setup();
    const id = ioasAlloc(w);
    const buf = buffer(w, 4 * PAGE_SIZE);
    ioasMap(w, id, buf, 4n * PS, 0x100000n);
    ioasMap(w, id, 0x4000_0000n, PS, 0x200000n);
    expect(w.kernel.allocator.totalPins).toBe(0);
    const d = smmuDomain(w);
    const iopt = ioasObj(w, id).iopt;
    expect(() => iopt.tableAddDomain(d)).toThrowErrno("EFAULT");
    expect(iopt.domains).toEqual([]);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.kernel.iommu.iommuIovaToPhys(d, 0x100000)).toBe(0);
    expect(iopt.iovaAlignment).toBe(1n);
    ioasUnmap(w, id, 0x200000n, PS);
    iopt.tableAddDomain(d);
    expectMapped(w, d, 0x100000n, buf, 4 * PAGE_SIZE);
  });

  it("a domain whose aperture excludes a mapping cannot be added (EADDRINUSE)", () => {
    const w = setup();
    const id = ioasAlloc(w);
    const buf = buffer(w, PAGE_SIZE);
    ioasMap(w, id, buf, PS, 1n << 50n);
    const iopt = ioasObj(w, id).iopt;
    expect(() => iopt.tableAddDomain(smmuDomain(w))).toThrowErrno("EADDRINUSE");
    expect(iopt.reservedItree.size).toBe(0);
  });
});

describe("MAP_FILE pinning", () => {
  it("pins the memfd's pages, and a range past EOF is EINVAL", () => {
    const w = domainFixture();
    const { mfd, va } = memfd(w, 4 * PAGE_SIZE);
    const iova = ioasMapFile(w, w.ioasId, mfd, PAGE_SIZE, 2 * PAGE_SIZE);
    expectMapped(w, w.domain, iova, va + PAGE_SIZE, 2 * PAGE_SIZE);
    expect(w.user.lockedVm).toBe(2);
    expect(() => ioasMapFile(w, w.ioasId, mfd, 0, 5 * PAGE_SIZE)).toThrowErrno("EINVAL");
    expect(w.kernel.allocator.totalPins).toBe(2);
  });

  it("a file that is not a memfd is EINVAL once pinned", () => {
    const w = domainFixture();
    const fd = w.p.open("/dev/iommu");
    expect(() => ioasMapFile(w, w.ioasId, fd, 0, PAGE_SIZE)).toThrowErrno("EINVAL");
  });
});

describe("large pages disabled (VFIO type1)", () => {
  it("every page is its own iommu_map and an area can then be cut", () => {
    const w = setup();
    const id = ioasAlloc(w);
    const iopt = ioasObj(w, id).iopt;
    iopt.disableLargePages();
    expect(iopt.iovaAlignment).toBe(PS);
    const d = smmuDomain(w);
    iopt.tableAddDomain(d);
    const buf = buffer(w, 8 * PAGE_SIZE);
    ioasMap(w, id, buf, 8n * PS, 0x200000n);
    iopt.cutIova([0x200000n + 2n * PS - 1n, 0x200000n + 5n * PS - 1n]);
    expect(iopt.areaItree.size).toBe(3);
    expect(ioasUnmap(w, id, 0x200000n + 2n * PS, 3n * PS)).toBe(3n * PS);
    expect(w.kernel.allocator.totalPins).toBe(5);
    expect(w.kernel.iommu.iommuIovaToPhys(d, 0x200000 + 3 * PAGE_SIZE)).toBe(0);
    expectMapped(w, d, 0x200000n, buf, 2 * PAGE_SIZE);
    expectMapped(w, d, 0x200000n + 5n * PS, buf + 5 * PAGE_SIZE, 3 * PAGE_SIZE);
  });

  it("with large pages a filled area cannot be cut (EINVAL)", () => {
    const w = domainFixture();
    const buf = buffer(w, 8 * PAGE_SIZE);
    ioasMap(w, w.ioasId, buf, 8n * PS, 0x200000n);
    expect(() => w.iopt.cutIova([0x200000n + PS - 1n])).toThrowErrno("EINVAL");
    expect(w.iopt.areaItree.size).toBe(1);
  });

  it("disabling large pages with domains and mappings is EINVAL", () => {
    const w = domainFixture();
    ioasMap(w, w.ioasId, buffer(w, PAGE_SIZE), PS);
    expect(() => w.iopt.disableLargePages()).toThrowErrno("EINVAL");
    expect(w.iopt.largePagesDisabled).toBe(false);
  });
});

describe("in-kernel accesses", () => {
  it("pin into the xarray once; a domain then shares the same pins", () => {
    const w = setup();
    w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_IPC_LOCK") });
    const id = ioasAlloc(w);
    const buf = buffer(w, 4 * PAGE_SIZE);
    ioasMap(w, id, buf, 4n * PS, 0x10000n);
    const area = firstArea(w, id);
    const out: number[] = [];
    ioptAreaAddAccess(area, 1, 2, out, IOMMUFD_ACCESS_RW_WRITE, false);
    expect(out).toEqual([w.p.mm.translate(buf + PAGE_SIZE), w.p.mm.translate(buf + 2 * PAGE_SIZE)]);
    expect(w.kernel.allocator.totalPins).toBe(2);
    expect(area.pages!.pinnedPfns.size).toBe(2);
    expect(w.kernel.users.allocUid(0).lockedVm).toBe(2);
    // The same interval again only counts a user.
    const again: number[] = [];
    ioptAreaAddAccess(area, 1, 2, again, 0, true);
    expect(again).toEqual(out);
    expect(area.numAccesses).toBe(2);
    expect(area.numLocks).toBe(1);

    const d = smmuDomain(w);
    ioasObj(w, id).iopt.tableAddDomain(d);
    expect(w.kernel.allocator.totalPins).toBe(4);
    expect(w.kernel.users.allocUid(0).lockedVm).toBe(4);

    ioptAreaRemoveAccess(area, 1, 2, true);
    ioptAreaRemoveAccess(area, 1, 2, false);
    // The domain still holds the pages: nothing unpinned, the xarray emptied.
    expect(w.kernel.allocator.totalPins).toBe(4);
    expect(area.pages!.pinnedPfns.size).toBe(0);
    ioasObj(w, id).iopt.tableRemoveDomain(d);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.kernel.users.allocUid(0).lockedVm).toBe(0);
  });

  it("removing the domain under an access unpins only what the access does not hold", () => {
    const w = domainFixture();
    const buf = buffer(w, 4 * PAGE_SIZE);
    ioasMap(w, w.ioasId, buf, 4n * PS, 0x10000n);
    const area = firstArea(w, w.ioasId);
    ioptAreaAddAccess(area, 0, 0, [0], 0, false);
    w.iopt.tableRemoveDomain(w.domain);
    expect(w.kernel.allocator.totalPins).toBe(1);
    expect(w.user.lockedVm).toBe(1);
    ioptAreaRemoveAccess(area, 0, 0, false);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.user.lockedVm).toBe(0);
  });

  it("a writable access to read-only pages is EPERM", () => {
    const w = setup();
    const id = ioasAlloc(w);
    ioasMap(w, id, buffer(w, PAGE_SIZE), PS, 0x1000n, IOMMU_IOAS_MAP_READABLE);
    expect(() =>
      ioptAreaAddAccess(firstArea(w, id), 0, 0, [0], IOMMUFD_ACCESS_RW_WRITE, false),
    ).toThrowErrno("EPERM");
  });

  it("an access to unmapped memory is EFAULT and leaves nothing", () => {
    const w = setup();
    const id = ioasAlloc(w);
    ioasMap(w, id, 0x4000_0000n, 2n * PS, 0x1000n);
    expect(() => ioptAreaAddAccess(firstArea(w, id), 0, 1, [0, 0], 0, false)).toThrowErrno(
      "EFAULT",
    );
    expect(firstArea(w, id).numAccesses).toBe(0);
    expect(firstArea(w, id).pages!.accessItree.size).toBe(0);
  });

  it("unmapping an area with an access that never lets go is EDEADLOCK", () => {
    const w = setup();
    const id = ioasAlloc(w);
    ioasMap(w, id, buffer(w, PAGE_SIZE), PS, 0x1000n);
    const area = firstArea(w, id);
    ioptAreaAddAccess(area, 0, 0, [0], 0, false);
    expect(() => ioasUnmap(w, id, 0x1000n, PS)).toThrowErrno("EDEADLOCK");
    expect(area.preventAccess).toBe(true);
    ioptAreaRemoveAccess(area, 0, 0, false);
    ioasUnmap(w, id, 0x1000n, PS);
  });
});

describe("iopt_pages_rw_access", () => {
  function rwWorld() {
    const w = setup();
    const id = ioasAlloc(w);
    const buf = buffer(w, 3 * PAGE_SIZE);
    ioasMap(w, id, buf, 3n * PS, 0x10000n);
    return { ...w, id, buf, pages: firstArea(w, id).pages! };
  }

  it("copies from the caller's own mm (fast path)", () => {
    const w = rwWorld();
    w.p.poke(w.buf + PAGE_SIZE - 2, [1, 2, 3, 4]);
    const data = new Uint8Array(4);
    ioptPagesRwAccess(w.pages, PAGE_SIZE - 2, data, 0, w.p);
    expect([...data]).toEqual([1, 2, 3, 4]);
    ioptPagesRwAccess(w.pages, 5, Uint8Array.from([9, 8]), IOMMUFD_ACCESS_RW_WRITE, w.p);
    expect([...w.p.peek(w.buf + 5, 2)]).toEqual([9, 8]);
    expect(w.kernel.allocator.totalPins).toBe(0);
  });

  it("from another context: one page via a short pin, several through the pfn reader", () => {
    const w = rwWorld();
    const other = w.kernel.spawn({ comm: "other" });
    w.p.poke(w.buf + 2 * PAGE_SIZE - 1, [7, 6]);
    const one = new Uint8Array(1);
    ioptPagesRwAccess(w.pages, 10, Uint8Array.from([5]), IOMMUFD_ACCESS_RW_WRITE, other);
    ioptPagesRwAccess(w.pages, 10, one, 0, other);
    expect(one[0]).toBe(5);
    const two = new Uint8Array(2);
    ioptPagesRwAccess(w.pages, 2 * PAGE_SIZE - 1, two, 0, other);
    expect([...two]).toEqual([7, 6]);
    ioptPagesRwAccess(w.pages, 2 * PAGE_SIZE - 1, two, IOMMUFD_ACCESS_RW_KTHREAD);
    expect([...two]).toEqual([7, 6]);
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.pages.npinned).toBe(0);
  });

  it("writing read-only pages is EPERM; the single-page fault point is EINVAL", () => {
    const w = setup();
    const id = ioasAlloc(w);
    ioasMap(w, id, buffer(w, PAGE_SIZE), PS, 0x1000n, IOMMU_IOAS_MAP_READABLE);
    const pages = firstArea(w, id).pages!;
    expect(() =>
      ioptPagesRwAccess(pages, 0, new Uint8Array(1), IOMMUFD_ACCESS_RW_WRITE, w.p),
    ).toThrowErrno("EPERM");
    const other = w.kernel.spawn({ comm: "other" });
    w.kernel.allocator.setFailHook((s) => s === "iopt_pages_rw_page");
    expect(() => ioptPagesRwAccess(pages, 0, new Uint8Array(1), 0, other)).toThrowErrno("EINVAL");
    w.kernel.allocator.setFailHook(undefined);
  });
});

describe("fault injection (iommufd_fail_nth)", () => {
  /** Runs `body` failing the nth fault site for n = 1, 2, ... until it succeeds. */
  function failNth(make: () => { w: World; body: () => void; clean: () => void }): number {
    for (let n = 1; n < 200; n++) {
      const { w, body, clean } = make();
      let count = 0;
      w.kernel.allocator.setFailHook(() => ++count === n);
      let failed = false;
      try {
        body();
      } catch (e) {
        failed = true;
        expect((e as { errno?: number }).errno, String(e)).toBeGreaterThan(0);
      }
      w.kernel.allocator.setFailHook(undefined);
      clean();
      expect(w.kernel.allocator.totalPins).toBe(0);
      expect(w.p.mm.pinnedVm).toBe(0);
      expect(w.kernel.users.allocUid(w.p.uid).lockedVm).toBe(0);
      if (!failed) return n;
    }
    throw new Error("never succeeded");
  }

  it("map_domain: every failure of MAP + UNMAP with a domain unwinds completely", () => {
    const runs = failNth(() => {
      const w = domainFixture();
      const buf = buffer(w, 8 * PAGE_SIZE);
      let iova: bigint | null = null;
      return {
        w,
        body: () => {
          iova = ioasMap(w, w.ioasId, buf, 8n * PS);
          ioasUnmap(w, w.ioasId, iova, 8n * PS);
          iova = null;
        },
        clean: () => {
          if (iova !== null) ioasUnmap(w, w.ioasId, iova, 8n * PS);
          expect(w.iopt.areaItree.size).toBe(0);
        },
      };
    });
    expect(runs).toBeGreaterThan(3);
  });

  it("attaching a domain to a populated IOAS unwinds completely", () => {
    const runs = failNth(() => {
      const w = setup();
      w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_IPC_LOCK") });
      const id = ioasAlloc(w);
      const buf = buffer(w, 8 * PAGE_SIZE);
      ioasMap(w, id, buf, 4n * PS, 0x100000n);
      ioasMap(w, id, buf + 4 * PAGE_SIZE, 4n * PS, 0x200000n);
      const iopt = ioasObj(w, id).iopt;
      const d = smmuDomain(w);
      return {
        w,
        body: () => iopt.tableAddDomain(d),
        clean: () => {
          if (iopt.domains.length) iopt.tableRemoveDomain(d);
          expect(iopt.reservedItree.size).toBe(0);
          expect(w.kernel.iommu.iommuIovaToPhys(d, 0x100000)).toBe(0);
        },
      };
    });
    expect(runs).toBeGreaterThan(2);
  });

  it("access pin on a domain-less IOAS unwinds completely", () => {
    failNth(() => {
      const w = setup();
      w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_IPC_LOCK") });
      const id = ioasAlloc(w);
      ioasMap(w, id, buffer(w, 4 * PAGE_SIZE), 4n * PS, 0x100000n);
      const area = firstArea(w, id);
      let added = false;
      return {
        w,
        body: () => {
          ioptAreaAddAccess(area, 0, 3, [0, 0, 0, 0], 0, false);
          added = true;
        },
        clean: () => {
          if (added) ioptAreaRemoveAccess(area, 0, 3, false);
          expect(area.pages!.pinnedPfns.size).toBe(0);
          expect(area.pages!.accessItree.size).toBe(0);
        },
      };
    });
  });
});

describe("scale", () => {
  it("a 16 GiB domain-less map and unmap touch no per-page state", () => {
    const w = setup();
    const id = ioasAlloc(w);
    const len = 16n << 30n;
    const iova = ioasMap(w, id, 0x10_0000_0000n, len);
    const pages = firstArea(w, id).pages!;
    expect(pages.npages).toBe(4 * 1024 * 1024);
    expect(ioasUnmap(w, id, iova, len)).toBe(len);
    destroy(w, id);
  });

  it("pins in batches bounded by TEMP_MEMORY_LIMIT and keeps the xarray sparse", () => {
    expect(TEMP_MEMORY_LIMIT).toBe(65536);
    const xa = new PfnXarray();
    xa.store(5_000_000, 42);
    expect(xa.load(5_000_000)).toBe(42);
    expect(xa.load(4_999_999)).toBe(-1);
    expect(xa.erase(5_000_000)).toBe(42);
    expect(xa.isEmpty()).toBe(true);
  });

  it("maps 64 MiB with a domain (more than one pin batch) and unmaps it", () => {
    const w = domainFixture({ capIpcLock: true });
    const len = 64 * 1024 * 1024;
    const buf = buffer(w, len);
    const iova = ioasMap(w, w.ioasId, buf, BigInt(len));
    expect(w.kernel.allocator.totalPins).toBe(len / PAGE_SIZE);
    expectMapped(w, w.domain, iova + BigInt(len) - PS, buf + len - PAGE_SIZE, PAGE_SIZE);
    ioasUnmap(w, w.ioasId, iova, BigInt(len));
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.p.mm.pinnedVm).toBe(0);
  });
});
