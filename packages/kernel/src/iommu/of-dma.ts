/**
 * drivers/of/device.c: of_dma_configure_id() and the drivers/of/address.c helpers it uses
 * (of_dma_get_range(), of_dma_is_coherent()): the DMA configuration a device-tree device gets
 * before its driver probes — bus address limits from `dma-ranges`, coherency from
 * `dma-coherent`/`dma-noncoherent`, and its IOMMU from `iommus` (of_iommu_configure()).
 *
 * Linux 7.3 no longer has the "Invalid size … / Adjusted size 0x… invalid" work-around older
 * kernels applied to a `dma-ranges` size: with `force_dma` (every platform and AMBA device) a
 * missing or unparsable `dma-ranges` is ignored, and the only failure left is EPROBE_DEFER while
 * the IOMMU has not registered.
 *
 * Caveat: the DMA parent is always the tree parent (no `interconnects` "dma-mem" path).
 */

import {
  addressCells,
  combineCells,
  type DtNode,
  findProperty,
  nodeAncestry,
  nodePath,
  propU32s,
  sizeCells,
} from "@vfio-lab/hw-soc";
import { type ErrnoName, SysError } from "../errno.js";
import type { BusDmaRegion } from "./dma-mapping.js";
import { dmaBitMask } from "./dma-mapping.js";
import type { IommuCore } from "./iommu.js";
import type { IommuClient } from "./iommu-defs.js";
import { ofIommuConfigure } from "./of-iommu.js";

/** of/address.c: __of_get_dma_parent() — the tree parent (null for the root). */
export function ofGetDmaParent(core: IommuCore, np: DtNode): DtNode | null {
  const chain = nodeAncestry(core.tree, np);
  return chain && chain.length >= 2 ? chain[chain.length - 2]! : null;
}

/** The ancestors of `np`, nearest first (excluding `np`). */
function ancestorsOf(core: IommuCore, np: DtNode): DtNode[] {
  const chain = nodeAncestry(core.tree, np) ?? [np];
  return chain.slice(0, -1).reverse();
}

/**
 * of/address.c: of_translate_dma_address() — a parent-bus address of `node`'s `dma-ranges`
 * carried up through the ancestors' `dma-ranges` (missing or empty means 1:1); null for an
 * address no window covers (OF_BAD_ADDR).
 */
function ofTranslateDmaAddress(core: IommuCore, node: DtNode, addr: number): number | null {
  const ups = ancestorsOf(core, node);
  // ups[0] is the bus whose address space `addr` is in; the root needs no translation.
  for (let i = 0; i < ups.length - 1; i++) {
    const bus = ups[i]!;
    const above = ups[i + 1]!;
    const cells = propU32s(bus, "dma-ranges");
    if (!cells || cells.length === 0) continue;
    const na = addressCells(bus);
    const pna = addressCells(above);
    const ns = sizeCells(bus);
    const stride = na + pna + ns;
    let mapped: number | null = null;
    for (let j = 0; j + stride <= cells.length; j += stride) {
      const child = combineCells(cells, j, na);
      const parent = combineCells(cells, j + na, pna);
      const size = combineCells(cells, j + na + pna, ns);
      if (addr >= child && addr - child < size) {
        mapped = parent + (addr - child);
        break;
      }
    }
    if (mapped === null) return null;
    addr = mapped;
  }
  return addr;
}

/**
 * of/address.c: of_dma_get_range() — the first non-empty `dma-ranges` walking up from `np`
 * (empty ones mean "1:1, keep looking"; a node missing the property after one was seen, or no
 * property at all, is ENODEV; a property none of whose windows translates is EINVAL).
 */
export function ofDmaGetRange(core: IommuCore, np: DtNode | null): BusDmaRegion[] {
  const fn = "of_dma_get_range";
  let node = np;
  let found = false;
  while (node) {
    const prop = findProperty(node, "dma-ranges");
    if (prop && prop.value.length > 0) break;
    if (found && !prop) throw new SysError("ENODEV", fn, "dma-ranges missing below one");
    found = true;
    node = ofGetDmaParent(core, node);
  }
  if (!node) throw new SysError("ENODEV", fn, "no dma-ranges");
  const cells = propU32s(node, "dma-ranges") ?? [];
  const parent = ofGetDmaParent(core, node);
  const na = addressCells(node);
  const pna = parent ? addressCells(parent) : 2;
  const ns = sizeCells(node);
  const stride = na + pna + ns;
  const regions: BusDmaRegion[] = [];
  for (let j = 0; stride > 0 && j + stride <= cells.length; j += stride) {
    const dmaStart = combineCells(cells, j, na);
    const parentAddr = combineCells(cells, j + na, pna);
    const size = combineCells(cells, j + na + pna, ns);
    const cpuStart = ofTranslateDmaAddress(core, node, parentAddr);
    if (cpuStart === null) {
      core.printk
        .pr()
        .err(
          `translation of DMA address(${dmaStart.toString(16)}) to CPU address failed node(${nodePath(core.tree, node)})`,
        );
      continue;
    }
    // of_pci_range_parser_one() folds windows contiguous on both sides into one.
    const last = regions[regions.length - 1];
    if (last && last.cpuStart + last.size === cpuStart && last.dmaStart + last.size === dmaStart) {
      regions[regions.length - 1] = { ...last, size: last.size + size };
    } else {
      regions.push({ cpuStart, dmaStart, size });
    }
  }
  if (regions.length === 0) throw new SysError("EINVAL", fn, "no dma-ranges window translates");
  return regions;
}

/** of/address.c: of_dma_is_coherent() — the nearest `dma-coherent`/`dma-noncoherent`. */
export function ofDmaIsCoherent(core: IommuCore, np: DtNode | null): boolean {
  let node = np;
  while (node) {
    if (findProperty(node, "dma-coherent")) return true;
    if (findProperty(node, "dma-noncoherent")) return false;
    node = ofGetDmaParent(core, node);
  }
  // dma_default_coherent is false on arm64.
  return false;
}

/** ilog2() of a positive 64-bit value. */
function ilog2(n: bigint): number {
  return n.toString(2).length - 1;
}

/**
 * of/device.c: of_dma_configure_id() — see the file comment. Throws EPROBE_DEFER (the IOMMU is
 * not there yet), or the `dma-ranges` error for a device that does not force DMA.
 */
export function ofDmaConfigureId(
  core: IommuCore,
  dev: IommuClient,
  np: DtNode | null,
  forceDma: boolean,
): void {
  const dd = core.dma.devDma(dev);
  const log = core.devLog(dev);
  let end = 0;
  let map: BusDmaRegion[] | null = null;
  if (dd.dmaRangeMap) {
    log.dbg("dma_range_map already set");
  } else {
    const busNp = np && np === dev.dtNode ? ofGetDmaParent(core, np) : np;
    let err: ErrnoName | null = null;
    try {
      map = ofDmaGetRange(core, busNp);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      err = e.code;
    }
    if (err !== null) {
      // Legacy: a device that must do DMA is configured whatever its dma-ranges say.
      if (!forceDma) {
        if (err === "ENODEV") return;
        throw new SysError(err, "of_dma_configure_id", "dma-ranges");
      }
    } else {
      end = Math.max(...map!.map((r) => r.dmaStart + r.size - 1));
    }
  }
  // A device must be DMA-capable by now; the legacy fallback shares the coherent mask.
  if (dd.params.mask === null) {
    log.warn("DMA mask not set");
    dd.params.mask = dd.params.coherentMask;
  }
  // The masks are 64-bit quantities: work out the limit as one.
  let limit = BigInt(end);
  if (!limit && dd.coherentDmaMask) limit = dd.coherentDmaMask;
  else if (!limit) limit = (1n << 32n) - 1n;
  const mask = dmaBitMask(ilog2(limit) + 1);
  dd.coherentDmaMask &= mask;
  dd.dmaMask &= mask;
  if (map) {
    dd.busDmaLimit = end;
    dd.dmaRangeMap = map;
  }
  const coherent = ofDmaIsCoherent(core, np);
  log.dbg(`device is${coherent ? " " : " not "}dma coherent`);
  let iommuErr: SysError | null = null;
  try {
    ofIommuConfigure(core, dev, np);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    if (e.code === "EPROBE_DEFER") {
      if (map) dd.dmaRangeMap = null;
      throw e;
    }
    iommuErr = e;
  }
  // Every other IOMMU error means carrying on without one.
  log.dbg(`device is${iommuErr ? " not " : " "}behind an iommu`);
  // arch/arm64/mm/dma-mapping.c: arch_setup_dma_ops()
  dd.coherent = coherent;
}
