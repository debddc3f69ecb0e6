/**
 * Board variants for the scenarios, as transforms of device-tree text: what a developer does to
 * a QEMU `virt` DTB with `dtc` before booting a guest with `-dtb` (design §4.3–§4.5).
 *
 * - `virtLab()`: the default board (hw-soc), 1 GiB of RAM unless told otherwise.
 * - `withoutIommus(nodes)`: those nodes lose `iommus` (and, optionally, `dma-coherent`): the
 *   device then masters the bus untranslated, as on a machine without an SMMU in front of it.
 * - `primeCellAsPlatform(nodes)`: those nodes lose the `arm,primecell` compatible, so Linux's
 *   of_platform_bus_create() makes a platform device of them instead of an AMBA one — the only
 *   way `uio_pdrv_genirq` (a platform driver) can take a PL031.
 * - `sharedGroup()`: a small board whose two DMA test engines sit behind one grouping IOMMU
 *   (`vfio-lab,mock-iommu`), so they share IOMMU group 0; see grouping-iommu.ts.
 *
 * Caveat: the transforms go through the hw-soc DTS parser and writer, so labels survive but
 * phandle references come back as numbers; nothing on the boards depends on that.
 */

import {
  type DeviceTree,
  type DtNode,
  formatDts,
  boards as hwBoards,
  parseDts,
  propStrings,
  stringsProp,
  type VirtLabOptions,
  walkNodes,
} from "@vfio-lab/hw-soc";

/** 1 GiB: enough for every scenario, and sparse anyway. */
const DEFAULT_RAM = 0x4000_0000;

/** The default board (QEMU `virt` + the platform-bus additions). */
export function virtLab(options: VirtLabOptions = {}): string {
  return hwBoards.virtLab({ ramSize: options.ramSize ?? DEFAULT_RAM });
}

/** The nodes of `tree` named in `names` (node name with unit address); throws on a missing one. */
function nodesNamed(tree: DeviceTree, names: readonly string[]): DtNode[] {
  const found = new Map<string, DtNode>();
  walkNodes(tree, (node) => {
    if (names.includes(node.name)) found.set(node.name, node);
  });
  return names.map((name) => {
    const node = found.get(name);
    if (!node) throw new Error(`board has no node ${name}`);
    return node;
  });
}

function dropProperty(node: DtNode, name: string): void {
  const at = node.properties.findIndex((p) => p.name === name);
  if (at >= 0) node.properties.splice(at, 1);
}

function transform(dts: string, edit: (tree: DeviceTree) => void): string {
  const tree = parseDts(dts);
  edit(tree);
  return formatDts(tree);
}

export interface WithoutIommusOptions {
  /** Keep `dma-coherent` (default true); false makes the node a non-coherent master. */
  readonly dmaCoherent?: boolean;
}

/** `nodes` lose their `iommus` property: their DMA goes straight to physical memory. */
export function withoutIommus(
  nodes: readonly string[],
  opts: WithoutIommusOptions = {},
  dts: string = virtLab(),
): string {
  return transform(dts, (tree) => {
    for (const node of nodesNamed(tree, nodes)) {
      dropProperty(node, "iommus");
      if (opts.dmaCoherent === false) dropProperty(node, "dma-coherent");
    }
  });
}

/**
 * `nodes` lose the `arm,primecell` compatible: drivers/of/platform.c then creates a platform
 * device (`9010000.pl031`) and no AMBA device, so the AMBA driver (rtc-pl031) never binds.
 */
export function primeCellAsPlatform(nodes: readonly string[], dts: string = virtLab()): string {
  return transform(dts, (tree) => {
    for (const node of nodesNamed(tree, nodes)) {
      const compat = propStrings(node, "compatible") ?? [];
      const at = node.properties.findIndex((p) => p.name === "compatible");
      const kept = compat.filter((c) => c !== "arm,primecell");
      if (at >= 0) node.properties[at] = stringsProp("compatible", kept);
    }
  });
}

/** The grouping IOMMU's node (no hardware model behind it: its domains translate nothing). */
export const SHARED_GROUP_IOMMU = "1000000.iommu";
/** The two engines of the shared-group board. */
export const SHARED_GROUP_DEVICES = ["c030000.dma-test", "c031000.dma-test"] as const;

/**
 * Two `vfio-lab,dma-test` engines behind one grouping IOMMU (`iommus = <&mock 1>`, `<&mock 2>`),
 * a GIC and 256 MiB of RAM: the smallest board with a real two-device IOMMU group. Register the
 * IOMMU driver after boot with `registerGroupingIommu()` (a modular IOMMU driver, as
 * rockchip-iommu or ipmmu-vmsa can be), which lets the engines' deferred probes finish.
 */
export function sharedGroup(): string {
  return `/dts-v1/;

/ {
	interrupt-parent = <&gic>;
	#address-cells = <0x2>;
	#size-cells = <0x2>;
	compatible = "vfio-lab,shared-group";
	model = "vfio-lab shared IOMMU group";

	memory@40000000 {
		device_type = "memory";
		reg = <0x0 0x40000000 0x0 0x10000000>;
	};

	mock: iommu@1000000 {
		compatible = "vfio-lab,mock-iommu";
		reg = <0x0 0x1000000 0x0 0x1000>;
		#iommu-cells = <0x1>;
	};

	gic: intc@8000000 {
		reg = <0x0 0x8000000 0x0 0x10000 0x0 0x80a0000 0x0 0xf60000>;
		compatible = "arm,gic-v3";
		interrupt-controller;
		#interrupt-cells = <0x3>;
	};

	platform-bus@c000000 {
		ranges = <0x0 0x0 0xc000000 0x2000000>;
		#address-cells = <0x1>;
		#size-cells = <0x1>;
		compatible = "qemu,platform", "simple-bus";

		dma-test@30000 {
			compatible = "vfio-lab,dma-test";
			reg = <0x30000 0x1000>;
			interrupts = <0x0 0x7d 0x4>;
			dma-coherent;
			iommus = <&mock 0x1>;
		};

		dma-test@31000 {
			compatible = "vfio-lab,dma-test";
			reg = <0x31000 0x1000>;
			interrupts = <0x0 0x7e 0x4>;
			dma-coherent;
			iommus = <&mock 0x2>;
		};
	};
};
`;
}

/** The board builders, under one name as hw-soc's `boards`. */
export const boards = { virtLab, withoutIommus, primeCellAsPlatform, sharedGroup } as const;
