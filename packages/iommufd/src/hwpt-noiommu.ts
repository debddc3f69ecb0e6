/**
 * drivers/iommu/iommufd/hwpt_noiommu.c (CONFIG_IOMMUFD_NOIOMMU, the no-IOMMU cdev series of
 * 7.3): `iommufd_noiommu_ops`, the IOMMU "driver" iommufd uses for a device that no IOMMU
 * translates for. It can only allocate one kind of paging domain: a software-only I/O page table
 * in the AMDv1 format of the generic page table (generic_pt/fmt/amdv1.h). The table is never
 * programmed into hardware — the device keeps doing DMA with physical addresses — and exists so
 * that an IOAS attached to a no-IOMMU device pins its memory and can answer
 * IOMMU_IOAS_NOIOMMU_GET_PA (iommu_iova_to_phys() on it).
 *
 * What is kept of the AMDv1 table (noiommu_alloc_paging_flags()'s configuration: 64-bit VA,
 * 52-bit OA, dynamic top level):
 * - page sizes: every power of two from 4 KiB to 2^51 except 512 GiB (amdv1pt_possible_sizes());
 * - aperture: the whole 64-bit space, forced (pt_iommu_init_domain());
 * - map: READ or WRITE required (EINVAL), an output address at or above 2^52 is ERANGE, a leaf
 *   already present is EADDRINUSE after the leaves before it were written;
 * - unmap: removes whole leaves; a range starting inside a leaf removes nothing, a range ending
 *   inside one removes all of it (and says so in the length), a hole ends the walk
 *   (__unmap_range());
 * - iova_to_phys: the output address plus the offset into the leaf, 0 when nothing is mapped.
 *
 * The table is an interval tree of extents — runs of leaves of one size, contiguous in IOVA and
 * in physical address, with one protection — so a physically contiguous range costs one node
 * however many pages it spans; the radix levels of the real table are not materialised.
 *
 * Caveat:
 * - The IOMMU core's domain API takes IOVAs as JS numbers. Every multiple of 4 KiB below 2^64
 *   is exact as a double, and the core only hands page-aligned values to map/unmap, so maps and
 *   unmaps anywhere in the 64-bit aperture are exact. What a number cannot hold is an unaligned
 *   IOVA above 2^53 (iova_to_phys() of such an address is answered for the address the caller's
 *   number rounded to) and the aperture's last byte, U64_MAX: `geometry.apertureEnd` is
 *   `2 ** 64 - 1`, which a double rounds up to 2^64 — so it still compares above every IOVA,
 *   and `BigInt()` of it is past ULONG_MAX, leaving nothing above the aperture to reserve.
 * - Table-page allocation is one fault-injection site per map call ("alloc_pages"), not one per
 *   radix level the real walk allocates; freed table pages are not tracked.
 * - `probeDevice`/`deviceGroup` exist only because the model's `IommuOps` requires them: no
 *   device is ever probed by these ops, as none is in C.
 */

import {
  __IOMMU_DOMAIN_PAGING,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuClient,
  IommuDomain,
  type IommuDomainOps,
  type IommuIotlbGather,
  type IommuOps,
  type IommuUserData,
  SysError,
} from "@vfio-lab/kernel";
import { IntervalTree } from "./interval-tree.js";

const U64_MAX = (1n << 64n) - 1n;

/** cfg.common.hw_max_oasz_lg2 of noiommu_alloc_paging_flags(). */
const NOIOMMU_MAX_OASZ_LG2 = 52;

/**
 * amdv1pt_possible_sizes() over every level, clipped to the 63-bit VA and 52-bit OA limits of
 * get_info(): 2^12 … 2^51 without 2^39 (512 GiB pages are avoided for a hardware erratum).
 */
export const NOIOMMU_PGSIZE_BITMAP = (() => {
  let bitmap = 0;
  for (let lg2 = 12; lg2 <= 51; lg2++) if (lg2 !== 39) bitmap += 2 ** lg2;
  return bitmap;
})();

/** A run of `count` leaves of `pgsize` bytes, contiguous in IOVA and in physical address. */
interface Extent {
  readonly paddr: number;
  readonly pgsize: number;
  readonly prot: number;
}

/** `struct noiommu_domain`: the iommu_domain and its software AMDv1 table. */
export class NoiommuDomain extends IommuDomain {
  /** IOVA → extent; nodes never overlap. */
  readonly table = new IntervalTree<Extent>();
}

/** The fault-injection point the ops ask (the kernel's `PageAllocator.shouldFail`). */
export type ShouldFail = (site: string) => boolean;

function asNoiommu(domain: IommuDomain): NoiommuDomain {
  if (!(domain instanceof NoiommuDomain)) {
    throw new TypeError("noiommu domain ops called on another domain");
  }
  return domain;
}

/** Inserts an extent, merging it with neighbours it continues exactly. */
function insertExtent(dom: NoiommuDomain, start: bigint, last: bigint, ext: Extent): void {
  const t = dom.table;
  let s = start;
  let l = last;
  let paddr = ext.paddr;
  const prev = s > 0n ? t.findContaining(s - 1n) : undefined;
  if (
    prev &&
    prev.value.pgsize === ext.pgsize &&
    prev.value.prot === ext.prot &&
    prev.value.paddr + Number(prev.last - prev.start + 1n) === paddr
  ) {
    s = prev.start;
    paddr = prev.value.paddr;
    t.remove(prev);
  }
  const next = l < U64_MAX ? t.findContaining(l + 1n) : undefined;
  if (
    next &&
    next.value.pgsize === ext.pgsize &&
    next.value.prot === ext.prot &&
    paddr + Number(l - s + 1n) === next.value.paddr
  ) {
    l = next.last;
    t.remove(next);
  }
  t.insert(s, l, { paddr, pgsize: ext.pgsize, prot: ext.prot });
}

/**
 * generic_pt/iommu_pt.h: map_range() for the AMDv1 format — what the core's map reaches.
 * `mapped.value` grows by the bytes written even when a later leaf is refused.
 */
function noiommuMapPages(
  shouldFail: ShouldFail,
  domain: IommuDomain,
  iova: number,
  paddr: number,
  pgsize: number,
  pgcount: number,
  prot: number,
  mapped: { value: number },
): void {
  const fn = "pt_iommu_amdv1_map_range";
  const dom = asNoiommu(domain);
  if (!(prot & (IOMMU_READ | IOMMU_WRITE))) {
    throw new SysError("EINVAL", fn, "neither IOMMU_READ nor IOMMU_WRITE");
  }
  if (paddr >= 2 ** NOIOMMU_MAX_OASZ_LG2) {
    throw new SysError("ERANGE", fn, "output address beyond 52 bits");
  }
  const start = BigInt(iova);
  const size = BigInt(pgsize) * BigInt(pgcount);
  if (size === 0n) return;
  const last = start + size - 1n;
  if (last > U64_MAX) throw new SysError("EOVERFLOW", fn, "range wraps the 64-bit space");
  if (shouldFail("alloc_pages")) throw new SysError("ENOMEM", fn, "page-table level");
  // A present leaf stops the walk: the leaves before it stay written.
  const busy = dom.table.iterFirst(start, last);
  let end = last;
  if (busy) {
    // A leaf present at the start (or a run that began before it) writes nothing at all.
    if (busy.start <= start) throw new SysError("EADDRINUSE", fn, "IOVA already mapped");
    const leaves = (busy.start - start) / BigInt(pgsize);
    end = start + leaves * BigInt(pgsize) - 1n;
  }
  insertExtent(dom, start, end, { paddr, pgsize, prot });
  mapped.value += Number(end - start + 1n);
  if (busy) throw new SysError("EADDRINUSE", fn, "IOVA already mapped");
}

/**
 * generic_pt/iommu_pt.h: unmap_range() / __unmap_range() — whole leaves only: a start inside a
 * leaf unmaps nothing, an end inside one takes the whole leaf, a hole ends the walk. Returns the
 * bytes unmapped.
 */
function noiommuUnmapPages(
  domain: IommuDomain,
  iova: number,
  pgsize: number,
  pgcount: number,
  _gather: IommuIotlbGather,
): number {
  const dom = asNoiommu(domain);
  const t = dom.table;
  const start = BigInt(iova);
  const len = BigInt(pgsize) * BigInt(pgcount);
  if (len === 0n || start + len - 1n > U64_MAX) return 0;
  const last = start + len - 1n;
  let cur = start;
  let unmapped = 0n;
  while (cur <= last) {
    const node = t.findContaining(cur);
    if (!node) break;
    const leaf = BigInt(node.value.pgsize);
    const into = cur - node.start;
    if (into % leaf !== 0n) break;
    // Through the leaf that holds `last`, or the end of this run.
    const runEnd = node.last;
    const wantEnd =
      last >= runEnd ? runEnd : node.start + ((last - node.start) / leaf + 1n) * leaf - 1n;
    const { paddr, pgsize: size, prot } = node.value;
    t.remove(node);
    if (cur > node.start) t.insert(node.start, cur - 1n, { paddr, pgsize: size, prot });
    if (wantEnd < runEnd) {
      t.insert(wantEnd + 1n, runEnd, {
        paddr: paddr + Number(wantEnd + 1n - node.start),
        pgsize: size,
        prot,
      });
    }
    unmapped += wantEnd - cur + 1n;
    if (wantEnd === U64_MAX) break;
    cur = wantEnd + 1n;
  }
  return Number(unmapped);
}

/** generic_pt/iommu_pt.h: iova_to_phys() — 0 when nothing is mapped at `iova`. */
function noiommuIovaToPhys(domain: IommuDomain, iova: number): number {
  const node = asNoiommu(domain).table.findContaining(BigInt(iova));
  if (!node) return 0;
  return node.value.paddr + Number(BigInt(iova) - node.start);
}

/** The operations of every noiommu domain (`noiommu_amdv1_ops`). */
function noiommuAmdv1Ops(shouldFail: ShouldFail): IommuDomainOps {
  return {
    attachDev(_domain, dev) {
      // Never reached: iommufd does not attach a no-IOMMU device to anything.
      throw new SysError("ENODEV", "noiommu_amdv1_ops", `${dev.name} has no IOMMU`);
    },
    mapPages: (domain, iova, paddr, pgsize, pgcount, prot, mapped) =>
      noiommuMapPages(shouldFail, domain, iova, paddr, pgsize, pgcount, prot, mapped),
    unmapPages: noiommuUnmapPages,
    // noiommu_iotlb_sync(): only frees table pages the unmap detached; there is no TLB.
    iotlbSync: () => {},
    iovaToPhys: noiommuIovaToPhys,
    // noiommu_domain_free()
    free: (domain) => asNoiommu(domain).table.clear(),
  };
}

/**
 * hwpt_noiommu.c: noiommu_alloc_paging_flags() — EOPNOTSUPP for any flag or driver data, ENOMEM
 * when the domain or its top table cannot be allocated.
 */
function noiommuAllocPagingFlags(
  shouldFail: ShouldFail,
  domainOps: IommuDomainOps,
  flags: number,
  userData: IommuUserData | null | undefined,
): NoiommuDomain {
  const fn = "noiommu_alloc_paging_flags";
  if (flags || userData) throw new SysError("EOPNOTSUPP", fn, "no flags or data for noiommu");
  if (shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "kzalloc");
  // pt_iommu_amdv1_init(): the top table page.
  if (shouldFail("alloc_pages")) throw new SysError("ENOMEM", "pt_iommu_amdv1_init", "top table");
  // pt_iommu_init_domain(): a paging domain over the whole 64-bit space.
  const domain = new NoiommuDomain(__IOMMU_DOMAIN_PAGING, domainOps);
  domain.pgsizeBitmap = NOIOMMU_PGSIZE_BITMAP;
  domain.geometry.apertureStart = 0;
  domain.geometry.apertureEnd = 2 ** 64 - 1;
  domain.geometry.forceAperture = true;
  return domain;
}

/** Every `iommufd_noiommu_ops` made, so that a domain's owner can be recognised. */
const noiommuOpsSet = new WeakSet<IommuOps>();

/**
 * hwpt_noiommu.c: `iommufd_noiommu_ops` — one per fault-injection point (one per loaded
 * iommufd): only domain_alloc_paging_flags().
 */
export function makeIommufdNoiommuOps(shouldFail: ShouldFail): IommuOps {
  const domainOps = noiommuAmdv1Ops(shouldFail);
  const noDevice = (dev: IommuClient): never => {
    throw new SysError("ENODEV", "iommufd_noiommu_ops", `${dev.name}: noiommu ops probe nothing`);
  };
  const ops: IommuOps = {
    name: "iommufd-noiommu",
    defaultDomainOps: domainOps,
    domainAllocPagingFlags: (_dev, flags, userData) =>
      noiommuAllocPagingFlags(shouldFail, domainOps, flags, userData),
    probeDevice: noDevice,
    deviceGroup: noDevice,
  };
  noiommuOpsSet.add(ops);
  return ops;
}

/**
 * io_pagetable.c: the `storage_domain->owner != &iommufd_noiommu_ops` test of iopt_get_phys() —
 * whether `domain` is a software table of a noiommu HWPT.
 */
export function isIommufdNoiommuDomain(domain: IommuDomain): boolean {
  return (
    domain instanceof NoiommuDomain && domain.owner !== undefined && noiommuOpsSet.has(domain.owner)
  );
}
