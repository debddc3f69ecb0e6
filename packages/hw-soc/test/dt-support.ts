/**
 * Shared by the device-tree tests: whether Debian's dtc is here for the cross-checks, where the
 * QEMU fixtures are, the reference notes' §E.4 example, and label stripping (a DTB keeps none).
 */

import { spawnSync } from "node:child_process";
import type { DtNode } from "../src/devicetree/tree.js";

export const HAVE_DTC = spawnSync("dtc", ["--version"]).status === 0;

export const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

/** The node with its labels (and its subtree's) removed: what a DTB round trip gives back. */
export function stripLabels(node: DtNode): DtNode {
  return { ...node, labels: [], children: node.children.map(stripLabels) };
}

/** The §E.4 example of the reference notes, with the `#address-cells` dtc asks the GIC for. */
export const E4 = `/dts-v1/;

/ {
	compatible = "sim,soc";
	#address-cells = <2>;
	#size-cells = <2>;
	interrupt-parent = <&gic>;

	gic: interrupt-controller@8000000 {
		compatible = "arm,gic-v3";
		#interrupt-cells = <3>;
		#address-cells = <0>;
		interrupt-controller;
		reg = <0x0 0x08000000 0x0 0x10000>, <0x0 0x080a0000 0x0 0xf60000>;
	};

	smmu: iommu@9050000 {
		compatible = "arm,smmu-v3";
		reg = <0x0 0x09050000 0x0 0x20000>;
		#iommu-cells = <1>;
	};

	dma@9100000 {
		compatible = "arm,pl330", "arm,primecell";
		reg = <0x0 0x09100000 0x0 0x1000>;
		interrupts = <0 10 4>, <0 11 4>;
		iommus = <&smmu 0x10>;
		dma-coherent;
		status = "okay";
		mac = [00 11 22 33 44 55];
	};
};
`;
