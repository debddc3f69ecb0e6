/**
 * RFC (a)'s platform_dma_capable() (platform-dma-capable.ts), rule R1: a device is capable iff
 * its own OF node carries one of the bus-master properties; no OF node means capable. Checked
 * on the board (which devices the rule lets through) and over the input space of property sets
 * (fast-check), with parents' properties and DMA-client properties shown not to count.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { parseDts } from "@vfio-lab/hw-soc";
import { Device, type Kernel, OfTree } from "@vfio-lab/kernel";
import { beforeAll, describe, expect, test } from "vitest";
import {
  PLATFORM_DMA_CAPABLE_PROPERTIES,
  platformDmaCapable,
} from "../src/platform-dma-capable.js";
import { boards, boot } from "./platform-fixture.js";

let kernel: Kernel;

beforeAll(() => {
  kernel = boot({ unsafeInterrupts: false, modules: [] }).kernel;
});

function boardDevice(bus: "platform" | "amba", name: string): Device {
  const dev = kernel.drivers.findDevice(bus, name);
  if (!dev) throw new Error(`no ${bus} device ${name}`);
  return dev;
}

/** A device (no bus, never registered) whose OF node is `path` in `dts`. */
function deviceOfNode(dts: string, path: string): Device {
  const tree = new OfTree(parseDts(dts));
  const np = tree.findByPath(path);
  if (!np) throw new Error(`no node ${path}`);
  const dev = new Device(boardDevice("amba", "9030000.pl061").ctx, "test-device");
  dev.ofNode = np;
  return dev;
}

/** One DTS line per property: booleans bare, the rest with a plausible value. */
const PROPERTY_LINE: Readonly<Record<string, string>> = {
  iommus: "iommus = <&smmu 0x40>;",
  "iommu-map": "iommu-map = <0x0 &smmu 0x0 0x10000>;",
  "dma-coherent": "dma-coherent;",
  "dma-noncoherent": "dma-noncoherent;",
  "#dma-cells": "#dma-cells = <0x1>;",
  "memory-region": "memory-region = <&smmu>;",
  "dma-ranges": "dma-ranges;",
  // Properties that say nothing about a bus-master port of the node itself.
  dmas: 'dmas = <&smmu 0x1>;\n\t\tdma-names = "rx";',
  clocks: "clocks = <&smmu>;",
  interrupts: "interrupts = <0x0 0x2 0x4>;",
  status: 'status = "okay";',
};

const DISTRACTORS = ["dmas", "clocks", "interrupts", "status"] as const;

function fragment(props: readonly string[], parentProps: readonly string[] = []): string {
  return `/dts-v1/;
/ {
	#address-cells = <0x1>;
	#size-cells = <0x1>;
	smmu: smmu@0 {
		#iommu-cells = <0x1>;
		reg = <0x0 0x1000>;
	};
	bus@100000 {
		#address-cells = <0x1>;
		#size-cells = <0x1>;
		ranges;
		${parentProps.map((p) => PROPERTY_LINE[p]).join("\n\t\t")}
		dev@100000 {
			compatible = "vendor,dev";
			reg = <0x100000 0x1000>;
			${props.map((p) => PROPERTY_LINE[p]).join("\n\t\t\t")}
		};
	};
};
`;
}

describe("platform_dma_capable() on the default board (rule R1)", () => {
  test.each([
    ["amba", "9000000.pl011", false],
    ["amba", "9010000.pl031", false],
    ["amba", "9030000.pl061", false],
    ["amba", "c020000.timer", false],
    ["amba", "c000000.dma", true],
    ["platform", "c010000.ethernet", true],
    ["platform", "c030000.dma-test", true],
    ["platform", "c031000.dma-test", true],
    ["platform", "a000000.virtio_mmio", true],
    ["platform", "9020000.fw-cfg", true],
  ] as const)("%s %s: capable %s", (bus, name, capable) => {
    expect(platformDmaCapable(boardDevice(bus, name))).toBe(capable);
  });

  test("the known false negative: dma-test@31000 without iommus and dma-coherent is 'incapable'", () => {
    const board = boards.withoutIommus(["dma-test@31000"], { dmaCoherent: false });
    const dev = deviceOfNode(board, "/platform-bus@c000000/dma-test@31000");
    // A real bus master (the engine has a DMA port), yet R1 finds nothing to say so.
    expect(platformDmaCapable(dev)).toBe(false);
  });
});

describe("platform_dma_capable() over the property space", () => {
  fcTest.prop([fc.subarray([...PLATFORM_DMA_CAPABLE_PROPERTIES]), fc.subarray([...DISTRACTORS])], {
    numRuns: 80,
  })("capable iff the node itself has a bus-master property", (masters, others) => {
    const dev = deviceOfNode(fragment([...masters, ...others]), "/bus@100000/dev@100000");
    expect(platformDmaCapable(dev)).toBe(masters.length > 0);
  });

  fcTest.prop([fc.subarray([...PLATFORM_DMA_CAPABLE_PROPERTIES], { minLength: 1 })], {
    numRuns: 40,
  })(
    "a parent's bus-master properties describe the interconnect: the child stays incapable",
    (parent) => {
      const dev = deviceOfNode(fragment([], parent), "/bus@100000/dev@100000");
      expect(platformDmaCapable(dev)).toBe(false);
    },
  );

  test("`dmas` makes a DMA client, not a master", () => {
    const dev = deviceOfNode(fragment(["dmas"]), "/bus@100000/dev@100000");
    expect(platformDmaCapable(dev)).toBe(false);
  });

  test("a device without an OF node is capable (nothing to ask: the safe answer)", () => {
    const dev = new Device(boardDevice("amba", "9030000.pl061").ctx, "no-firmware");
    expect(dev.ofNode).toBeNull();
    expect(platformDmaCapable(dev)).toBe(true);
  });
});
