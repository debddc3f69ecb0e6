/**
 * drivers/iommu/dma-iommu.c: the DMA API on top of a DMA-API domain. Each DMA domain carries a
 * cookie with its IOVA allocator; mapping a buffer allocates an IOVA below the device's DMA
 * mask (top-down, see iova.ts) and maps it with iommu_map(); unmapping unmaps and, in strict
 * mode, invalidates the IOTLB before the IOVA is freed — so no stale translation can ever be
 * used again. In lazy mode (`iommu.strict=0`, domain type DMA-FQ) the IOVA goes to a flush
 * queue instead and the IOTLB is invalidated for the whole domain when the queue fills or its
 * 10 ms timer fires: until then a device can still reach the old page.
 *
 * Caveat: no swiotlb bouncing (untrusted PCI devices, unaligned non-coherent kmalloc buffers),
 * no MSI cookies or doorbell pages, no deferred attach. dma_map_sg() maps every segment into one
 * IOVA range but does not merge segments into fewer DMA segments.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import { KERN_WARNING } from "../printk/levels.js";
import { ffs } from "./bits.js";
import { type IommuDomain, IommuIotlbGather, iommuIotlbSync } from "./domain.js";
import type { IommuCore } from "./iommu.js";
import {
  IOMMU_CACHE,
  IOMMU_CAP_DEFERRED_FLUSH,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_MMIO,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_RESV_SW_MSI,
  IOMMU_WRITE,
  type IommuClient,
} from "./iommu-defs.js";
import { IovaDomain } from "./iova.js";

/** enum dma_data_direction */
export const DMA_BIDIRECTIONAL = 0;
export const DMA_TO_DEVICE = 1;
export const DMA_FROM_DEVICE = 2;
export const DMA_NONE = 3;
export type DmaDataDirection = 0 | 1 | 2 | 3;

/** DMA attributes (include/linux/dma-mapping.h), the ones the model looks at. */
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
export const DMA_ATTR_FORCE_CONTIGUOUS = 1 << 6;
export const DMA_ATTR_ALLOC_SINGLE_PAGES = 1 << 7;
export const DMA_ATTR_PRIVILEGED = 1 << 9;
export const DMA_ATTR_MMIO = 1 << 10;

/** Flush-queue tuning for per-CPU queues (IOVA_DEFAULT_FQ_SIZE, IOVA_DEFAULT_FQ_TIMEOUT). */
export const IOVA_DEFAULT_FQ_SIZE = 256;
export const IOVA_DEFAULT_FQ_TIMEOUT_MS = 10;
/** MAX_PAGE_ORDER with 4 KiB pages (CONFIG_ARCH_FORCE_MAX_ORDER=10). */
export const MAX_PAGE_ORDER = 10;
const HZ = 250;
const NS_PER_JIFFY = 1_000_000_000 / HZ;

/** One flush-queue slot (`struct iova_fq_entry`). */
interface IovaFqEntry {
  pfn: number;
  pages: number;
  counter: number;
}

/** `struct iommu_dma_cookie` */
export class IommuDmaCookie {
  /** Uninitialised (granule 0) until iommu_dma_init_domain(). */
  iovad: IovaDomain | null = null;
  /** Set once a flush queue exists: unmaps then defer their invalidation. */
  fqDomain: IommuDomain | null = null;
  fqSize = IOVA_DEFAULT_FQ_SIZE;
  fqTimeoutMs = IOVA_DEFAULT_FQ_TIMEOUT_MS;
  fq: (IovaFqEntry | null)[] = [];
  fqHead = 0;
  fqTail = 0;
  fqFlushStartCnt = 0;
  fqFlushFinishCnt = 0;
  fqTimerOn = false;
  fqTimer: { cancel(): void } | null = null;
}

/** dma-iommu.c: iommu_get_dma_cookie() */
export function iommuGetDmaCookie(domain: IommuDomain): void {
  if (domain.cookieType !== "none") {
    throw new SysError("EEXIST", "iommu_get_dma_cookie", "domain already has a cookie");
  }
  domain.cookieType = "dma-iova";
  domain.iovaCookie = new IommuDmaCookie();
}

/** dma-iommu.c: iommu_put_dma_cookie() */
export function iommuPutDmaCookie(domain: IommuDomain): void {
  const cookie = domain.iovaCookie;
  if (cookie?.iovad) {
    cookie.fqTimer?.cancel();
    cookie.iovad.putIovaDomain();
  }
  domain.iovaCookie = null;
  domain.cookieType = "none";
}

function cookieOf(domain: IommuDomain): IommuDmaCookie {
  const cookie = domain.iovaCookie;
  if (!cookie?.iovad) throw new RangeError("dma-iommu: domain without an initialised cookie");
  return cookie;
}

/**
 * dma-iommu.c: iommu_dma_init_domain() — an IOVA allocator at the smallest page size,
 * starting above page 0, a flush queue for DMA-FQ domains (falling back to strict), and the
 * device's reserved regions kept out of the IOVA space.
 */
export function iommuDmaInitDomain(core: IommuCore, domain: IommuDomain, dev: IommuClient): void {
  const fn = "iommu_dma_init_domain";
  const cookie = domain.iovaCookie;
  if (!cookie || domain.cookieType !== "dma-iova") throw new SysError("EINVAL", fn, "no cookie");
  const order = ffs(domain.pgsizeBitmap);
  const map = core.dma.devDma(dev).dmaRangeMap;
  if (map) {
    const min = Math.min(...map.map((r) => r.dmaStart));
    const max = Math.max(...map.map((r) => r.dmaStart + r.size - 1));
    if (min > domain.geometry.apertureEnd || max < domain.geometry.apertureStart) {
      core.printk.printk(KERN_WARNING, "specified DMA range outside IOMMU capability");
      throw new SysError("EFAULT", fn, "dma-ranges outside the aperture");
    }
  }
  const basePfn = Math.max(1, Math.floor(domain.geometry.apertureStart / 2 ** order));
  if (cookie.iovad) {
    if (2 ** order !== cookie.iovad.granule || basePfn !== cookie.iovad.startPfn) {
      core.printk.printk(KERN_WARNING, "Incompatible range for DMA domain");
      throw new SysError("EFAULT", fn, "incompatible range");
    }
    return;
  }
  cookie.iovad = new IovaDomain(2 ** order, basePfn, core.clock ? { clock: core.clock } : {});
  cookie.iovad.initRcaches();
  if (domain.type === IOMMU_DOMAIN_DMA_FQ) {
    const supportsFq = core.deviceIommuCapable(dev, IOMMU_CAP_DEFERRED_FLUSH);
    let ok = supportsFq;
    if (ok) {
      try {
        iommuDmaInitFq(core, domain);
      } catch {
        ok = false;
      }
    }
    if (!ok) domain.type = IOMMU_DOMAIN_DMA;
  }
  iovaReserveIommuRegions(core, dev, domain);
}

/** dma-iommu.c: iova_reserve_iommu_regions() — except SW_MSI, which this layer manages. */
function iovaReserveIommuRegions(core: IommuCore, dev: IommuClient, domain: IommuDomain): void {
  const iovad = cookieOf(domain).iovad!;
  for (const region of core.iommuGetResvRegions(dev)) {
    if (region.type === IOMMU_RESV_SW_MSI) continue;
    iovad.reserveIova(iovad.iovaPfn(region.start), iovad.iovaPfn(region.start + region.length - 1));
    // An IOMMU_RESV_MSI window would also get its doorbell pages here (not modelled).
  }
}

/** dma-iommu.c: iommu_dma_init_fq() — a per-CPU flush queue and its timer. */
export function iommuDmaInitFq(core: IommuCore, domain: IommuDomain): void {
  const cookie = domain.iovaCookie!;
  if (cookie.fqDomain) return;
  if (!core.clock) {
    core.printk.printk(KERN_WARNING, "iova flush queue initialization failed");
    throw new SysError("ENOMEM", "iommu_dma_init_fq", "no timer base");
  }
  cookie.fqFlushStartCnt = 0;
  cookie.fqFlushFinishCnt = 0;
  cookie.fq = new Array<IovaFqEntry | null>(cookie.fqSize).fill(null);
  cookie.fqHead = 0;
  cookie.fqTail = 0;
  cookie.fqTimerOn = false;
  cookie.fqDomain = domain;
}

/** dma-iommu.c: fq_flush_iotlb() */
function fqFlushIotlb(cookie: IommuDmaCookie): void {
  cookie.fqFlushStartCnt++;
  const domain = cookie.fqDomain!;
  domain.ops.flushIotlbAll?.(domain);
  cookie.fqFlushFinishCnt++;
}

/** dma-iommu.c: fq_ring_free_locked() — frees every IOVA whose flush has completed. */
function fqRingFree(cookie: IommuDmaCookie): void {
  const mask = cookie.fqSize - 1;
  const iovad = cookie.iovad!;
  while (cookie.fqHead !== cookie.fqTail) {
    const e = cookie.fq[cookie.fqHead]!;
    if (e.counter >= cookie.fqFlushFinishCnt) break;
    iovad.freeIovaFast(e.pfn, e.pages);
    cookie.fq[cookie.fqHead] = null;
    cookie.fqHead = (cookie.fqHead + 1) & mask;
  }
}

/** dma-iommu.c: queue_iova() — defers the IOVA's release to the next IOTLB flush. */
function queueIova(core: IommuCore, cookie: IommuDmaCookie, pfn: number, pages: number): void {
  const mask = cookie.fqSize - 1;
  fqRingFree(cookie);
  if (((cookie.fqTail + 1) & mask) === cookie.fqHead) {
    fqFlushIotlb(cookie);
    fqRingFree(cookie);
  }
  cookie.fq[cookie.fqTail] = { pfn, pages, counter: cookie.fqFlushStartCnt };
  cookie.fqTail = (cookie.fqTail + 1) & mask;
  if (!cookie.fqTimerOn && core.clock) {
    cookie.fqTimerOn = true;
    // mod_timer(jiffies + msecs_to_jiffies(timeout)): expiry on a jiffy boundary.
    const clock = core.clock;
    const jiffies = Math.floor(clock.now / NS_PER_JIFFY);
    const delta = Math.ceil((cookie.fqTimeoutMs * 1_000_000) / NS_PER_JIFFY);
    const at = (jiffies + delta) * NS_PER_JIFFY;
    const ev = clock.schedule(at - clock.now, "fq_flush_timeout", () => {
      // fq_flush_timeout()
      cookie.fqTimer = null;
      cookie.fqTimerOn = false;
      if (!cookie.fqDomain || !cookie.iovad) return;
      fqFlushIotlb(cookie);
      fqRingFree(cookie);
    });
    cookie.fqTimer = { cancel: () => clock.cancel(ev) };
  }
}

/**
 * dma-iommu.c: dma_info_to_prot() — IOMMU_READ for DMA to the device, IOMMU_WRITE from it,
 * IOMMU_CACHE for a coherent master.
 */
export function dmaInfoToProt(dir: DmaDataDirection, coherent: boolean, attrs: number): number {
  let prot = attrs & DMA_ATTR_MMIO ? IOMMU_MMIO : coherent ? IOMMU_CACHE : 0;
  if (attrs & DMA_ATTR_PRIVILEGED) prot |= IOMMU_PRIV;
  switch (dir) {
    case DMA_BIDIRECTIONAL:
      return prot | IOMMU_READ | IOMMU_WRITE;
    case DMA_TO_DEVICE:
      return prot | IOMMU_READ;
    case DMA_FROM_DEVICE:
      return prot | IOMMU_WRITE;
    default:
      return 0;
  }
}

/**
 * dma-iommu.c: iommu_dma_alloc_iova() — below the smaller of the DMA mask, the bus limit and
 * the aperture. Returns 0 when the space is exhausted.
 */
function iommuDmaAllocIova(
  core: IommuCore,
  domain: IommuDomain,
  size: number,
  dmaLimit: number,
  dev: IommuClient,
): number {
  const iovad = cookieOf(domain).iovad!;
  const shift = iovad.shift;
  const busLimit = core.dma.devDma(dev).busDmaLimit;
  if (busLimit && (!dmaLimit || busLimit < dmaLimit)) dmaLimit = busLimit;
  if (domain.geometry.forceAperture) dmaLimit = Math.min(dmaLimit, domain.geometry.apertureEnd);
  const pfn = iovad.allocIovaFast(size / 2 ** shift, Math.floor(dmaLimit / 2 ** shift), true);
  return pfn * 2 ** shift;
}

/** dma-iommu.c: iommu_dma_free_iova() — to the flush queue when the gather is queued. */
function iommuDmaFreeIova(
  core: IommuCore,
  domain: IommuDomain,
  iova: number,
  size: number,
  gather: IommuIotlbGather | null,
): void {
  const cookie = cookieOf(domain);
  const iovad = cookie.iovad!;
  const pages = size / 2 ** iovad.shift;
  if (gather?.queued) queueIova(core, cookie, iovad.iovaPfn(iova), pages);
  else iovad.freeIovaFast(iovad.iovaPfn(iova), pages);
}

/** dma-iommu.c: __iommu_dma_unmap() */
function iommuDmaUnmapLocked(
  core: IommuCore,
  dev: IommuClient,
  dmaAddr: number,
  size: number,
): void {
  const domain = core.iommuGetDmaDomain(dev);
  const cookie = cookieOf(domain);
  const iovad = cookie.iovad!;
  const off = iovad.iovaOffset(dmaAddr);
  dmaAddr -= off;
  size = iovad.iovaAlign(size + off);
  const gather = new IommuIotlbGather();
  gather.queued = cookie.fqDomain !== null;
  core.iommuUnmapFast(domain, dmaAddr, size, gather);
  if (!gather.queued) iommuIotlbSync(domain, gather);
  iommuDmaFreeIova(core, domain, dmaAddr, size, gather);
}

/** dma-iommu.c: __iommu_dma_map() — null for DMA_MAPPING_ERROR. */
function iommuDmaMapLocked(
  core: IommuCore,
  dev: IommuClient,
  phys: number,
  size: number,
  prot: number,
  dmaMask: number,
): number | null {
  const domain = core.iommuGetDmaDomain(dev);
  const iovad = cookieOf(domain).iovad!;
  const off = iovad.iovaOffset(phys);
  size = iovad.iovaAlign(size + off);
  const iova = iommuDmaAllocIova(core, domain, size, dmaMask, dev);
  if (!iova) return null;
  try {
    core.iommuMap(domain, iova, phys - off, size, prot);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    iommuDmaFreeIova(core, domain, iova, size, null);
    return null;
  }
  return iova + off;
}

/** dma-iommu.c: iommu_dma_map_phys() — null for DMA_MAPPING_ERROR. */
export function iommuDmaMapPhys(
  core: IommuCore,
  dev: IommuClient,
  phys: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): number | null {
  const dd = core.dma.devDma(dev);
  const prot = dmaInfoToProt(dir, dd.coherent, attrs);
  return iommuDmaMapLocked(core, dev, phys, size, prot, dd.dmaMaskLimit);
}

/** dma-iommu.c: iommu_dma_unmap_phys() */
export function iommuDmaUnmapPhys(
  core: IommuCore,
  dev: IommuClient,
  handle: number,
  size: number,
): void {
  // WARN_ON(!phys): unmapping what is not mapped changes nothing.
  if (!core.iommuIovaToPhys(core.iommuGetDmaDomain(dev), handle)) return;
  iommuDmaUnmapLocked(core, dev, handle, size);
}

/**
 * dma-iommu.c: __iommu_dma_alloc_pages() — `count` pages, in the largest blocks the domain's
 * page sizes allow (up to MAX_PAGE_ORDER), falling back to smaller ones. Zeroed.
 */
function iommuDmaAllocPages(core: IommuCore, count: number, orderMask: number): number[] {
  orderMask &= 2 ** (MAX_PAGE_ORDER + 1) - 1;
  if (!orderMask) throw new SysError("ENOMEM", "__iommu_dma_alloc_pages", "no usable order");
  const pfns: number[] = [];
  const alloc = core.allocator;
  try {
    while (count) {
      let got = 0;
      for (let order = 31 - Math.clz32(orderMask); order >= 0; order--) {
        if (!(orderMask & (1 << order)) || 2 ** order > count) continue;
        try {
          const first =
            order === 0
              ? alloc.allocPage({ kind: "kernel", zero: true })
              : alloc.allocPages(order, { kind: "kernel", zero: true });
          for (let i = 0; i < 2 ** order; i++) pfns.push(first + i);
          got = 2 ** order;
          break;
        } catch (e) {
          if (!SysError.isInstance(e)) throw e;
        }
      }
      if (!got) throw new SysError("ENOMEM", "__iommu_dma_alloc_pages", "out of memory");
      count -= got;
    }
  } catch (e) {
    for (const pfn of pfns) alloc.putPage(pfn);
    throw e;
  }
  return pfns;
}

/**
 * dma-iommu.c: iommu_dma_alloc() → iommu_dma_alloc_remap() — pages (not necessarily
 * contiguous) mapped at one IOVA range below the coherent mask.
 */
export function iommuDmaAlloc(
  core: IommuCore,
  dev: IommuClient,
  size: number,
  attrs: number,
): { handle: number; pfns: number[] } {
  const fn = "iommu_dma_alloc";
  const domain = core.iommuGetDmaDomain(dev);
  const iovad = cookieOf(domain).iovad!;
  const dd = core.dma.devDma(dev);
  const prot = dmaInfoToProt(DMA_BIDIRECTIONAL, dd.coherent, attrs);
  let allocSizes = domain.pgsizeBitmap;
  const minSize = 2 ** ffs(allocSizes);
  if (minSize < PAGE_SIZE) allocSizes += PAGE_SIZE;
  else size = Math.ceil(size / minSize) * minSize;
  if (attrs & DMA_ATTR_ALLOC_SINGLE_PAGES) allocSizes = Math.max(minSize, PAGE_SIZE);
  const count = Math.ceil(size / PAGE_SIZE);
  const orderMask = Math.floor(allocSizes / PAGE_SIZE) % 2 ** 31;
  const pfns = iommuDmaAllocPages(core, count, orderMask);
  size = iovad.iovaAlign(size);
  const iova = iommuDmaAllocIova(core, domain, size, dd.coherentMaskLimit, dev);
  if (!iova) {
    for (const pfn of pfns) core.allocator.putPage(pfn);
    throw new SysError("ENOMEM", fn, "IOVA space exhausted");
  }
  try {
    core.iommuMapSg(
      domain,
      iova,
      pfns.map((pfn) => ({ phys: pfn * PAGE_SIZE, length: PAGE_SIZE })),
      prot,
    );
  } catch (e) {
    iommuDmaFreeIova(core, domain, iova, size, null);
    for (const pfn of pfns) core.allocator.putPage(pfn);
    throw e;
  }
  return { handle: iova, pfns };
}

/** dma-iommu.c: iommu_dma_free() */
export function iommuDmaFree(
  core: IommuCore,
  dev: IommuClient,
  size: number,
  handle: number,
  pfns: readonly number[],
): void {
  iommuDmaUnmapLocked(core, dev, handle, size);
  for (const pfn of pfns) core.allocator.putPage(pfn);
}

/**
 * dma-iommu.c: iommu_dma_map_sg() — one IOVA range for every segment (each keeps its offset
 * within its first page). Returns each segment's DMA address, or null on failure.
 */
export function iommuDmaMapSg(
  core: IommuCore,
  dev: IommuClient,
  sg: readonly { readonly phys: number; readonly length: number }[],
  dir: DmaDataDirection,
  attrs: number,
): { iova: number; size: number; addrs: number[] } | null {
  const domain = core.iommuGetDmaDomain(dev);
  const iovad = cookieOf(domain).iovad!;
  const dd = core.dma.devDma(dev);
  const prot = dmaInfoToProt(dir, dd.coherent, attrs);
  const spans = sg.map((s) => {
    const off = iovad.iovaOffset(s.phys);
    return { phys: s.phys - off, off, length: iovad.iovaAlign(s.length + off) };
  });
  const total = spans.reduce((a, s) => a + s.length, 0);
  const iova = iommuDmaAllocIova(core, domain, total, dd.dmaMaskLimit, dev);
  if (!iova) return null;
  try {
    core.iommuMapSg(
      domain,
      iova,
      spans.map((s) => ({ phys: s.phys, length: s.length })),
      prot,
    );
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    iommuDmaFreeIova(core, domain, iova, total, null);
    return null;
  }
  const addrs: number[] = [];
  let at = iova;
  for (const s of spans) {
    addrs.push(at + s.off);
    at += s.length;
  }
  return { iova, size: total, addrs };
}

/** dma-iommu.c: iommu_dma_unmap_sg() — the whole range from the first segment's IOVA. */
export function iommuDmaUnmapSg(
  core: IommuCore,
  dev: IommuClient,
  iova: number,
  size: number,
): void {
  iommuDmaUnmapLocked(core, dev, iova, size);
}
