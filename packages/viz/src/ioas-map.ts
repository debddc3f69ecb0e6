/**
 * `ioasMap(p, fd, ioasId?)`: what an I/O address space maps, as data — for an iommufd fd an IOAS
 * (drivers/iommu/iommufd/io_pagetable.c: its areas, the user memory or file behind each, and the
 * IOMMU domains the IOAS fills), for a VFIO container fd the type1 backend
 * (vfio_iommu_type1.c: its `dma_list` and `domain_list`), or the IOAS a container on iommufd
 * uses (vfio_compat.c).
 *
 * Physical pages are read back the way the hardware sees them: each domain's page table is
 * walked page by page (`iommu_iova_to_phys()`, the SMMU driver's real tables in simulated
 * memory) and contiguous pages are merged into runs. An IOAS without a domain shows the pages
 * pinned for accesses (`pinned_pfns`), a type1 container without one its `pfn_list`.
 *
 * It only reads: no syscall, no pin, no reference (the fd is looked up in the fd table).
 *
 * Caveat: at most 65536 pages are walked per call (`truncated` says when more were mapped).
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  IommufdCtx,
  IommufdHwptPaging,
  IommufdIoas,
  type IoptArea,
  isIommufdNoiommuDomain,
} from "@vfio-lab/iommufd";
import {
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDomain,
  type Kernel,
  type Process,
} from "@vfio-lab/kernel";
import { VfioCoreContainer, type VfioDma, VfioIommu } from "@vfio-lab/vfio-core";

/** Pages `[iova, iova + length)` backed by physical `[phys, phys + length)`. */
export interface PhysRun {
  readonly iova: bigint;
  readonly phys: bigint;
  readonly length: bigint;
}

/** One mapping: an IOAS area, or a type1 `vfio_dma`. */
export interface IoasMapping {
  readonly iova: bigint;
  readonly length: bigint;
  /** The user virtual address mapped, or null (a file mapping). */
  readonly vaddr: bigint | null;
  /** Where the memory comes from, in words: `user VA 0x…`, `file /memfd:ram + 0x0`. */
  readonly source: string;
  readonly read: boolean;
  readonly write: boolean;
  /** The physical pages behind it (from the first domain, or the pinned pages). */
  readonly pages: readonly PhysRun[];
}

/** One IOMMU domain the address space fills, and what its page table holds. */
export interface IoasDomainMap {
  /** `HWPT 3`, `auto HWPT 3`, `type1 domain 0`. */
  readonly label: string;
  /** The domain type (`unmanaged`, `DMA`, `no-IOMMU`…). */
  readonly type: string;
  /** IOMMU groups attached to it now, and their devices. */
  readonly groups: readonly number[];
  readonly devices: readonly string[];
  /** Its translations, merged into physically contiguous runs. */
  readonly runs: readonly PhysRun[];
}

export interface IoasMap {
  readonly kind: "iommufd" | "iommufd-vfio-compat" | "vfio-type1" | "vfio-noiommu";
  readonly pid: number;
  readonly comm: string;
  readonly fd: number;
  /** The path the fd was opened from (`/dev/iommu`, `/dev/vfio/vfio`). */
  readonly path: string;
  /** The IOAS shown (iommufd), or null (a type1 container). */
  readonly ioasId: number | null;
  readonly mappings: readonly IoasMapping[];
  readonly domains: readonly IoasDomainMap[];
  /** Pages pinned for this address space's mappings. */
  readonly pinnedPages: number;
  /** The page walk stopped at its limit: runs beyond it are missing. */
  readonly truncated: boolean;
}

const PAGE = BigInt(PAGE_SIZE);
const MAX_PAGES = 1 << 16;

/** Merges page translations into physically contiguous runs. */
class RunBuilder {
  readonly runs: PhysRun[] = [];
  private cur: { iova: bigint; phys: bigint; length: bigint } | null = null;

  add(iova: bigint, phys: bigint | null, length: bigint): void {
    if (phys === null) {
      this.flush();
      return;
    }
    const c = this.cur;
    if (c && c.iova + c.length === iova && c.phys + c.length === phys) {
      c.length += length;
      return;
    }
    this.flush();
    this.cur = { iova, phys, length };
  }

  flush(): void {
    if (this.cur) this.runs.push({ ...this.cur });
    this.cur = null;
  }
}

class Walker {
  pages = 0;
  truncated = false;

  constructor(readonly kernel: Kernel) {}

  /** Walks [iova, iova + length) page by page through `lookup`. */
  walk(
    iova: bigint,
    length: bigint,
    lookup: (iova: bigint) => bigint | null,
    out: RunBuilder,
  ): void {
    let at = iova;
    const end = iova + length;
    while (at < end) {
      if (this.pages >= MAX_PAGES) {
        this.truncated = true;
        break;
      }
      this.pages++;
      const pageEnd = (at / PAGE + 1n) * PAGE;
      const step = (pageEnd < end ? pageEnd : end) - at;
      out.add(at, lookup(at), step);
      at += step;
    }
    out.flush();
  }

  /** iommu_iova_to_phys(), with 0 (nothing mapped) as null. */
  domainLookup(domain: IommuDomain): (iova: bigint) => bigint | null {
    return (iova) => {
      const phys = this.kernel.iommu.iommuIovaToPhys(domain, Number(iova));
      return phys === 0 ? null : BigInt(phys);
    };
  }
}

/** IOMMU groups (and their devices) whose current domain is `domain`. */
function attachedTo(kernel: Kernel, domain: IommuDomain): { groups: number[]; devices: string[] } {
  const groups = new Map<number, string[]>();
  for (const bus of [kernel.drivers.platformBus, kernel.drivers.ambaBus]) {
    for (const dev of bus.devices) {
      const g = kernel.iommu.deviceGroup(dev);
      if (g && g.domain === domain && !groups.has(g.id)) {
        groups.set(
          g.id,
          g.devices.map((d) => d.dev.name),
        );
      }
    }
  }
  const ids = [...groups.keys()].sort((a, b) => a - b);
  return { groups: ids, devices: ids.flatMap((id) => groups.get(id)!) };
}

function protOf(prot: number): { read: boolean; write: boolean } {
  return { read: (prot & IOMMU_READ) !== 0, write: (prot & IOMMU_WRITE) !== 0 };
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

function areas(ioas: IommufdIoas): IoptArea[] {
  const out: IoptArea[] = [];
  const tree = ioas.iopt.areaItree;
  for (let n = tree.first(); n; n = tree.next(n)) out.push(n.value);
  return out;
}

function iommufdMap(
  kernel: Kernel,
  ictx: IommufdCtx,
  ioasId: number | undefined,
  base: Omit<IoasMap, "kind" | "ioasId" | "mappings" | "domains" | "pinnedPages" | "truncated">,
): IoasMap {
  const objects = ictx.objects.objects();
  const compat = base.path === "/dev/vfio/vfio";
  let ioas: IommufdIoas | undefined;
  if (ioasId !== undefined) {
    const obj = objects.find((o) => o.id === ioasId);
    if (!(obj instanceof IommufdIoas)) {
      throw new RangeError(`ioasMap: object ${ioasId} of fd ${base.fd} is not an IOAS`);
    }
    ioas = obj;
  } else {
    ioas =
      ictx.vfioIoas ??
      objects
        .filter((o): o is IommufdIoas => o instanceof IommufdIoas)
        .sort((a, b) => a.id - b.id)[0];
  }
  const kind = compat ? "iommufd-vfio-compat" : "iommufd";
  if (!ioas) {
    return {
      ...base,
      kind,
      ioasId: null,
      mappings: [],
      domains: [],
      pinnedPages: 0,
      truncated: false,
    };
  }
  const walker = new Walker(kernel);
  const domains = [...ioas.iopt.domains];
  const list = areas(ioas);
  const mappings: IoasMapping[] = list.map((area) => {
    const pages = area.pages;
    const first = area.startByte(area.iova);
    const vaddr = pages && pages.file === null ? pages.uptr + first : null;
    const source = !pages
      ? "(being torn down)"
      : pages.file
        ? `file ${pages.file.path} + ${hex(pages.start + first)}`
        : `user VA ${hex(pages.uptr + first)}`;
    const out = new RunBuilder();
    const storage = area.storageDomain ?? domains[0];
    if (storage) {
      walker.walk(area.iova, area.length, walker.domainLookup(storage), out);
    } else if (pages) {
      walker.walk(
        area.iova,
        area.length,
        (iova) => {
          const pfn = pages.pinnedPfns.load(area.iovaToIndex(iova));
          return pfn < 0 ? null : BigInt(pfn) * PAGE + (area.startByte(iova) % PAGE);
        },
        out,
      );
    }
    return {
      iova: area.iova,
      length: area.length,
      vaddr,
      source,
      ...protOf(area.iommuProt),
      pages: out.runs,
    };
  });
  const hwpts = objects.filter((o): o is IommufdHwptPaging => o instanceof IommufdHwptPaging);
  const domainMaps: IoasDomainMap[] = domains.map((d, i) => {
    const hwpt = hwpts.find((h) => h.domain === d);
    const label = hwpt ? `${hwpt.autoDomain ? "auto " : ""}HWPT ${hwpt.id}` : `domain ${i}`;
    const out = new RunBuilder();
    const lookup = walker.domainLookup(d);
    for (const area of list) walker.walk(area.iova, area.length, lookup, out);
    return {
      label,
      type: isIommufdNoiommuDomain(d) ? "no-IOMMU" : d.typeName,
      ...attachedTo(kernel, d),
      runs: out.runs,
    };
  });
  const pinned = new Set(list.map((a) => a.pages).filter((p) => p !== null));
  return {
    ...base,
    kind,
    ioasId: ioas.id,
    mappings,
    domains: domainMaps,
    pinnedPages: [...pinned].reduce((n, p) => n + p!.npinned, 0),
    truncated: walker.truncated,
  };
}

function type1Map(
  kernel: Kernel,
  iommu: VfioIommu,
  base: Omit<IoasMap, "kind" | "ioasId" | "mappings" | "domains" | "pinnedPages" | "truncated">,
): IoasMap {
  const walker = new Walker(kernel);
  const dmas: VfioDma[] = iommu.dmas();
  const first = iommu.domainList[0]?.domain;
  const mappings: IoasMapping[] = dmas.map((dma) => {
    const out = new RunBuilder();
    if (first) walker.walk(dma.iova, dma.size, walker.domainLookup(first), out);
    else {
      walker.walk(
        dma.iova,
        dma.size,
        (iova) => {
          const pfn = dma.pfnList.get(iova - (iova % PAGE));
          return pfn ? BigInt(pfn.pfn) * PAGE + (iova % PAGE) : null;
        },
        out,
      );
    }
    return {
      iova: dma.iova,
      length: dma.size,
      vaddr: dma.vaddr,
      source: `user VA ${hex(dma.vaddr)}`,
      ...protOf(dma.prot),
      pages: out.runs,
    };
  });
  const domains: IoasDomainMap[] = iommu.domainList.map((vd, i) => {
    const out = new RunBuilder();
    const lookup = walker.domainLookup(vd.domain);
    for (const dma of dmas) walker.walk(dma.iova, dma.size, lookup, out);
    const groups = vd.groupList.map((g) => g.iommuGroup).sort((a, b) => a.id - b.id);
    return {
      label: `type1 domain ${i}`,
      type: vd.domain.typeName,
      groups: groups.map((g) => g.id),
      devices: groups.flatMap((g) => g.devices.map((d) => d.dev.name)),
      runs: out.runs,
    };
  });
  const pinnedPages = dmas.reduce(
    (n, d) => n + (iommu.domainList.length ? Number(d.size / PAGE) : d.pfnList.size),
    0,
  );
  return {
    ...base,
    kind: "vfio-type1",
    ioasId: null,
    mappings,
    domains,
    pinnedPages,
    truncated: walker.truncated,
  };
}

/** The address space behind `fd` of `p` (see the file header). */
export function ioasMap(p: Process, fd: number, ioasId?: number): IoasMap {
  const file = p.fds.lookup(fd);
  if (!file) throw new RangeError(`ioasMap: fd ${fd} is not open in ${p.comm}[${p.pid}]`);
  const base = { pid: p.pid, comm: p.comm, fd, path: file.path };
  const data = file.privateData;
  if (data instanceof IommufdCtx) return iommufdMap(data.kernel, data, ioasId, base);
  if (data instanceof VfioCoreContainer) {
    if (data.iommuData instanceof VfioIommu)
      return type1Map(data.iommuData.kernel, data.iommuData, base);
    return {
      ...base,
      kind: data.noiommu ? "vfio-noiommu" : "vfio-type1",
      ioasId: null,
      mappings: [],
      domains: [],
      pinnedPages: 0,
      truncated: false,
    };
  }
  throw new RangeError(
    `ioasMap: fd ${fd} (${file.path}) of ${p.comm}[${p.pid}] is neither an iommufd nor a VFIO container`,
  );
}
