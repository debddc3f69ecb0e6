/**
 * kernel/dma/mapping.c and kernel/dma/direct.c: the DMA API a kernel driver uses —
 * dma_map_single()/dma_unmap_single(), dma_alloc_coherent()/dma_free_coherent(),
 * dma_map_sg(), and the DMA masks. A device in a DMA-API IOMMU domain goes through
 * dma-iommu.c (IOVAs); any other device is mapped directly: its DMA address is the physical
 * address (shifted by `dma-ranges`, if the tree has any).
 *
 * The per-device DMA fields of `struct device` (`dma_mask`, `coherent_dma_mask`,
 * `bus_dma_limit`, `dma_range_map`, `dma_coherent`, `dma_iommu`) live here, in the device's own
 * `dma` parameters when the driver core keeps them, else with the 32-bit masks
 * of_platform_device_create_pdata() and of_amba_device_create() give.
 *
 * The model has no kernel virtual addresses: a "CPU address" is a physical address (what the
 * linear map would give), and a coherent buffer is returned as its pages.
 *
 * Caveat: no swiotlb (an address beyond the mask is a mapping error, not a bounce), no CMA or
 * per-device coherent pools, no cache maintenance for non-coherent masters (memory is always
 * coherent in the model), no DMA debug.
 */

import { PAGE_SIZE, type PhysicalMemory, propStrings, readReg } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import {
  type DmaDataDirection,
  iommuDmaAlloc,
  iommuDmaFree,
  iommuDmaMapPhys,
  iommuDmaMapSg,
  iommuDmaUnmapPhys,
  iommuDmaUnmapSg,
} from "./dma-iommu.js";
import type { IommuCore } from "./iommu.js";
import type { IommuClient } from "./iommu-defs.js";

/** DMA_BIT_MASK(n) */
export function dmaBitMask(n: number): bigint {
  return n >= 64 ? 0xffff_ffff_ffff_ffffn : (1n << BigInt(n)) - 1n;
}

/** A mask as a JS number: addresses never exceed 2^53, so larger masks are "no limit". */
function maskLimit(mask: bigint): number {
  return mask > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(mask);
}

/** `struct bus_dma_region`: one `dma-ranges` window. */
export interface BusDmaRegion {
  readonly cpuStart: number;
  readonly dmaStart: number;
  readonly size: number;
}

/**
 * The DMA fields of `struct device` that the driver core keeps itself (`Device.dma`): one
 * storage, so both layers see the same masks.
 */
import type { DeviceDmaParams } from "../base/device.js";

export type { DeviceDmaParams };

/** The DMA fields of one `struct device`. */
export class DeviceDma {
  dmaRangeMap: BusDmaRegion[] | null = null;
  /** `dma_iommu`: streaming and coherent DMA go through the IOMMU's DMA domain. */
  dmaIommu = false;
  /** dev_WARN_ONCE() state of the overflow warning. */
  warnedOverflow = false;

  constructor(readonly params: DeviceDmaParams) {}

  /** `*dev->dma_mask` (the coherent mask while the device has none of its own). */
  get dmaMask(): bigint {
    return this.params.mask ?? this.params.coherentMask;
  }

  set dmaMask(v: bigint) {
    this.params.mask = v;
  }

  get coherentDmaMask(): bigint {
    return this.params.coherentMask;
  }

  set coherentDmaMask(v: bigint) {
    this.params.coherentMask = v;
  }

  /** `dma_coherent`: the master snoops CPU caches (arm64 default false). */
  get coherent(): boolean {
    return this.params.coherent;
  }

  set coherent(v: boolean) {
    this.params.coherent = v;
  }

  /** `bus_dma_limit`: the highest DMA address the bus reaches (0: no limit). */
  get busDmaLimit(): number {
    return maskLimit(this.params.busDmaLimit);
  }

  set busDmaLimit(v: number) {
    this.params.busDmaLimit = BigInt(v);
  }

  get dmaMaskLimit(): number {
    return maskLimit(this.dmaMask);
  }

  get coherentMaskLimit(): number {
    return maskLimit(this.coherentDmaMask);
  }
}

/** A dma_alloc_coherent() buffer: its DMA address and the pages behind it. */
export class DmaCoherentBuffer {
  constructor(
    private readonly memory: PhysicalMemory,
    readonly dmaHandle: number,
    readonly size: number,
    /** The frames, in buffer order (contiguous for a direct allocation). */
    readonly pfns: readonly number[],
  ) {}

  /** The physical address of byte `offset` (what the CPU's linear map reaches). */
  physOf(offset: number): number {
    return this.pfns[Math.floor(offset / PAGE_SIZE)]! * PAGE_SIZE + (offset % PAGE_SIZE);
  }

  /** CPU read through the buffer's kernel mapping. */
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const at = offset + done;
      const n = Math.min(PAGE_SIZE - (at % PAGE_SIZE), length - done);
      this.memory.read(this.physOf(at), out.subarray(done, done + n));
      done += n;
    }
    return out;
  }

  /** CPU write through the buffer's kernel mapping. */
  write(offset: number, bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length; ) {
      const at = offset + done;
      const n = Math.min(PAGE_SIZE - (at % PAGE_SIZE), bytes.length - done);
      this.memory.write(this.physOf(at), bytes.subarray(done, done + n));
      done += n;
    }
  }
}

/** A scatterlist entry: its physical segment and, once mapped, its DMA address. */
export interface ScatterlistEntry {
  readonly phys: number;
  readonly length: number;
  dmaAddress?: number;
}

/** Where a dma_map_sg() range lives, for dma_unmap_sg(). */
interface SgMapping {
  readonly iova: number;
  readonly size: number;
}

export class DmaApi {
  private readonly devs = new WeakMap<IommuClient, DeviceDma>();
  private readonly sgMaps = new WeakMap<readonly ScatterlistEntry[], SgMapping>();

  constructor(private readonly core: IommuCore) {}

  /** The device's DMA fields (created with the OF/AMBA 32-bit defaults). */
  devDma(dev: IommuClient): DeviceDma {
    let dd = this.devs.get(dev);
    if (!dd) {
      dd = new DeviceDma(
        dev.dma ?? {
          coherentMask: dmaBitMask(32),
          mask: dmaBitMask(32),
          coherent: false,
          busDmaLimit: 0n,
        },
      );
      this.devs.set(dev, dd);
    }
    return dd;
  }

  /** dev_assign_dma_iommu() */
  devAssignDmaIommu(dev: IommuClient, dmaIommu: boolean): void {
    this.devDma(dev).dmaIommu = dmaIommu;
  }

  /** dev_clear_dma_iommu() */
  devClearDmaIommu(dev: IommuClient): void {
    this.devDma(dev).dmaIommu = false;
  }

  /** use_dma_iommu() */
  useDmaIommu(dev: IommuClient): boolean {
    return this.devDma(dev).dmaIommu;
  }

  /** dev_is_dma_coherent() */
  devIsDmaCoherent(dev: IommuClient): boolean {
    return this.devDma(dev).coherent;
  }

  /** dma_get_mask() */
  dmaGetMask(dev: IommuClient): bigint {
    return this.devDma(dev).dmaMask;
  }

  /**
   * mapping.c: dma_supported() → dma_direct_supported() — masks of 32 bits or more always
   * work; a smaller one must cover all of RAM (the model has no ZONE_DMA below it). Through
   * an IOMMU any mask works.
   */
  private dmaSupported(dev: IommuClient, mask: bigint): boolean {
    if (this.useDmaIommu(dev)) return true;
    if (mask >= dmaBitMask(32)) return true;
    return mask >= BigInt(this.ramTop());
  }

  /** (max_pfn << PAGE_SHIFT) − 1: the top of the RAM the device tree declares. */
  private ramTop(): number {
    let top = 0;
    const root = this.core.tree.root;
    for (const node of root.children) {
      if (propStrings(node, "device_type")?.[0] !== "memory") continue;
      for (const r of readReg(node, [root])) top = Math.max(top, r.address + r.size - 1);
    }
    return top;
  }

  /** mapping.c: dma_set_mask() — EIO when the mask cannot be honoured. */
  dmaSetMask(dev: IommuClient, mask: bigint): void {
    mask &= dmaBitMask(64);
    if (!this.dmaSupported(dev, mask)) {
      throw new SysError("EIO", "dma_set_mask", `mask 0x${mask.toString(16)} not supported`);
    }
    this.devDma(dev).dmaMask = mask;
  }

  /** mapping.c: dma_set_coherent_mask() */
  dmaSetCoherentMask(dev: IommuClient, mask: bigint): void {
    mask &= dmaBitMask(64);
    if (!this.dmaSupported(dev, mask)) {
      throw new SysError("EIO", "dma_set_coherent_mask", `mask 0x${mask.toString(16)}`);
    }
    this.devDma(dev).coherentDmaMask = mask;
  }

  /** include/linux/dma-mapping.h: dma_set_mask_and_coherent() */
  dmaSetMaskAndCoherent(dev: IommuClient, mask: bigint): void {
    this.dmaSetMask(dev, mask);
    this.dmaSetCoherentMask(dev, mask);
  }

  // -------------------------------------------------------------------------------------------
  // dma-direct

  /** dma-direct.h: phys_to_dma() — through `dma-ranges`; null when no window holds it. */
  physToDma(dev: IommuClient, phys: number): number | null {
    const map = this.devDma(dev).dmaRangeMap;
    if (!map) return phys;
    for (const r of map) {
      if (phys >= r.cpuStart && phys - r.cpuStart < r.size) return phys - r.cpuStart + r.dmaStart;
    }
    return null;
  }

  /** dma-direct.h: dma_to_phys() */
  dmaToPhys(dev: IommuClient, dma: number): number | null {
    const map = this.devDma(dev).dmaRangeMap;
    if (!map) return dma;
    for (const r of map) {
      if (dma >= r.dmaStart && dma - r.dmaStart < r.size) return dma - r.dmaStart + r.cpuStart;
    }
    return null;
  }

  /** dma-direct.h: dma_capable() */
  private dmaCapable(dev: IommuClient, addr: number, size: number, mask: number): boolean {
    const dd = this.devDma(dev);
    const limit = dd.busDmaLimit && dd.busDmaLimit < mask ? dd.busDmaLimit : mask;
    return addr + size - 1 <= limit;
  }

  /** direct.c: dma_direct_map_phys() — null when the address is beyond the mask. */
  private dmaDirectMapPhys(dev: IommuClient, phys: number, size: number): number | null {
    const dd = this.devDma(dev);
    const addr = this.physToDma(dev, phys);
    if (addr !== null && this.dmaCapable(dev, addr, size, dd.dmaMaskLimit)) return addr;
    if (!dd.warnedOverflow) {
      dd.warnedOverflow = true;
      this.core
        .devLog(dev)
        .warn(
          `DMA addr 0x${(addr ?? 2 ** 53 - 1).toString(16).padStart(16, "0")}+${size} overflow (mask ${dd.dmaMask.toString(16)}, bus limit ${dd.busDmaLimit.toString(16)}).`,
        );
    }
    return null;
  }

  // -------------------------------------------------------------------------------------------
  // The API

  /**
   * mapping.c: dma_map_phys() / dma_map_single() — the DMA address at which the device reaches
   * [phys, phys+size). A mapping error (what dma_mapping_error() reports) is ENOMEM.
   */
  dmaMapSingle(
    dev: IommuClient,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): number {
    const addr = this.useDmaIommu(dev)
      ? iommuDmaMapPhys(this.core, dev, phys, size, dir, attrs)
      : this.dmaDirectMapPhys(dev, phys, size);
    if (addr === null) throw new SysError("ENOMEM", "dma_map_phys", "DMA_MAPPING_ERROR");
    return addr;
  }

  /** mapping.c: dma_unmap_phys() / dma_unmap_single() */
  dmaUnmapSingle(
    dev: IommuClient,
    addr: number,
    size: number,
    _dir: DmaDataDirection,
    _attrs = 0,
  ): void {
    if (this.useDmaIommu(dev)) iommuDmaUnmapPhys(this.core, dev, addr, size);
  }

  /**
   * mapping.c: dma_alloc_attrs() / dma_alloc_coherent() — zeroed memory the device and CPU
   * share, with its DMA address. ENOMEM when it cannot be had.
   */
  dmaAllocCoherent(dev: IommuClient, size: number, attrs = 0): DmaCoherentBuffer {
    const memory = this.core.allocator.memory;
    if (this.useDmaIommu(dev)) {
      const { handle, pfns } = iommuDmaAlloc(this.core, dev, size, attrs);
      return new DmaCoherentBuffer(memory, handle, size, pfns);
    }
    // direct.c: dma_direct_alloc() — physically contiguous pages under the coherent mask.
    const dd = this.devDma(dev);
    const count = Math.ceil(size / PAGE_SIZE);
    const order = count <= 1 ? 0 : 32 - Math.clz32(count - 1);
    const first =
      order === 0
        ? this.core.allocator.allocPage({ kind: "kernel", zero: true })
        : this.core.allocator.allocPages(order, { kind: "kernel", zero: true });
    const pfns = Array.from({ length: 2 ** order }, (_, i) => first + i);
    const handle = this.physToDma(dev, first * PAGE_SIZE);
    if (handle === null || !this.dmaCapable(dev, handle, size, dd.coherentMaskLimit)) {
      for (const pfn of pfns) this.core.allocator.putPage(pfn);
      throw new SysError("ENOMEM", "dma_direct_alloc", "memory beyond the coherent mask");
    }
    return new DmaCoherentBuffer(memory, handle, size, pfns);
  }

  /** mapping.c: dma_free_attrs() / dma_free_coherent() */
  dmaFreeCoherent(dev: IommuClient, buf: DmaCoherentBuffer): void {
    if (this.useDmaIommu(dev)) {
      iommuDmaFree(this.core, dev, buf.size, buf.dmaHandle, buf.pfns);
      return;
    }
    for (const pfn of buf.pfns) this.core.allocator.putPage(pfn);
  }

  /**
   * mapping.c: dma_map_sg() — fills each entry's `dmaAddress`; returns the number of entries
   * mapped (all of them). ENOMEM on a mapping error.
   */
  dmaMapSg(dev: IommuClient, sg: ScatterlistEntry[], dir: DmaDataDirection, attrs = 0): number {
    if (this.useDmaIommu(dev)) {
      const r = iommuDmaMapSg(this.core, dev, sg, dir, attrs);
      if (!r) throw new SysError("ENOMEM", "dma_map_sg", "DMA_MAPPING_ERROR");
      sg.forEach((s, i) => {
        s.dmaAddress = r.addrs[i]!;
      });
      this.sgMaps.set(sg, { iova: r.iova, size: r.size });
      return sg.length;
    }
    const addrs = sg.map((s) => this.dmaDirectMapPhys(dev, s.phys, s.length));
    if (addrs.some((a) => a === null)) throw new SysError("ENOMEM", "dma_map_sg", "overflow");
    sg.forEach((s, i) => {
      s.dmaAddress = addrs[i]!;
    });
    return sg.length;
  }

  /** mapping.c: dma_unmap_sg() */
  dmaUnmapSg(dev: IommuClient, sg: ScatterlistEntry[], _dir: DmaDataDirection): void {
    const m = this.sgMaps.get(sg);
    if (m && this.useDmaIommu(dev)) iommuDmaUnmapSg(this.core, dev, m.iova, m.size);
    this.sgMaps.delete(sg);
    for (const s of sg) delete s.dmaAddress;
  }
}
