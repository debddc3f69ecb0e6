/**
 * RFC (a) of the 2024 thread "Simple device assignment with VFIO platform" (seed 000, Mostafa
 * Saleh): `platform_dma_capable()`, the function the RFC proposed for drivers/base/platform.c
 * beside platform_dma_configure(), which would tell from firmware whether a platform (or AMBA)
 * device can master the bus. **Not in Linux**: mainline has no such function and no DT encoding
 * of "cannot DMA" — platform_dma_configure() calls of_dma_configure() with `force_dma = true`,
 * so every DT device is DMA-configured.
 *
 * Rule R1 (OF branch; the one this model chose):
 *   a device without an OF node is capable (ACPI is not modelled; the safe answer);
 *   a device is capable iff its **own** node has at least one of `iommus`, `iommu-map`,
 *   `dma-coherent`, `dma-noncoherent`, `#dma-cells`, `memory-region`, `dma-ranges`;
 *   otherwise it is incapable.
 *
 * Why these: they are the only DT properties whose bindings describe the node's own bus-master
 * port — its translation (`iommus`, `iommu-map`), the coherency of its transactions
 * (`dma-coherent`, `dma-noncoherent`), its being a DMA controller (`#dma-cells`), memory set
 * aside for its DMA (`memory-region`), or its being a bridge that masters for children
 * (`dma-ranges`). Parent and bus properties are ignored because they describe the interconnect:
 * of_dma_is_coherent() inherits a bus's `dma-coherent` to every child, masters or not. `dmas` is
 * ignored because it makes the node a DMA *client*: the controller it names masters the bus.
 *
 * On the default board: PL011, PL031, PL061 and SP804 are incapable; the PL330, the XGMAC, both
 * dma-test engines, the virtio-mmio transports and fw-cfg are capable.
 *
 * Caveat:
 * - R1 has false negatives, and they are the dangerous kind: a non-coherent bus master behind
 *   no IOMMU usually carries none of these properties (coherency defaults to non-coherent on
 *   arm64, and nothing else is needed to describe it), so R1 calls it incapable and RFC (a)
 *   assigns it to user space untainted and unisolated. The rfc test shows it with dma-test@31000
 *   stripped of `iommus` and `dma-coherent`: its engine then writes raw physical memory.
 * - False positives (a non-master with `dma-coherent`, as QEMU gives fw-cfg) only keep a device
 *   on the mainline path, which is safe.
 * - The property list is this model's choice; the RFC never got as far as code.
 */

import type { Device } from "@vfio-lab/kernel";

/**
 * The node properties whose presence R1 takes as evidence of a bus-master port (see the file
 * header for why each is there and why `dmas` and parent properties are not).
 */
export const PLATFORM_DMA_CAPABLE_PROPERTIES = [
  "iommus",
  "iommu-map",
  "dma-coherent",
  "dma-noncoherent",
  "#dma-cells",
  "memory-region",
  "dma-ranges",
] as const;

/**
 * platform_dma_capable() (2024 RFC, not in Linux) — rule R1: true unless the device has an OF
 * node carrying none of PLATFORM_DMA_CAPABLE_PROPERTIES.
 */
export function platformDmaCapable(dev: Device): boolean {
  const np = dev.ofNode;
  // Without firmware to ask, claiming "cannot DMA" would be a guess: stay on the safe side.
  if (!np) return true;
  return PLATFORM_DMA_CAPABLE_PROPERTIES.some((p) => np.hasProperty(p));
}
