import { type DtNode, parseDts, propStrings, walkNodes } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { driverOf, iommuGroupOf } from "./bind.js";
import { boards } from "./boards.js";
import { bootLab, DEV } from "./boot.js";

function node(dts: string, name: string): DtNode {
  let found: DtNode | undefined;
  walkNodes(parseDts(dts), (n) => {
    if (n.name === name) found = n;
  });
  if (!found) throw new Error(name);
  return found;
}

const has = (n: DtNode, prop: string) => n.properties.some((p) => p.name === prop);

describe("board transforms", () => {
  test("withoutIommus drops `iommus` only, or `dma-coherent` too when asked", () => {
    const kept = node(boards.withoutIommus(["dma-test@30000"]), "dma-test@30000");
    expect([has(kept, "iommus"), has(kept, "dma-coherent")]).toEqual([false, true]);
    const bare = node(
      boards.withoutIommus(["dma-test@30000"], { dmaCoherent: false }),
      "dma-test@30000",
    );
    expect([has(bare, "iommus"), has(bare, "dma-coherent")]).toEqual([false, false]);
    // The other engine is untouched.
    expect(has(node(boards.withoutIommus(["dma-test@30000"]), "dma-test@31000"), "iommus")).toBe(
      true,
    );
  });

  test("a board without the engine's `iommus` boots with the engine outside any group", () => {
    const lab = bootLab({ board: boards.withoutIommus(["dma-test@30000"]) });
    expect(iommuGroupOf(lab.admin, DEV.DMA_TEST0)).toBeNull();
    expect(driverOf(lab.admin, DEV.DMA_TEST0)).toBe("vfio-lab-dma-test");
  });

  test("primeCellAsPlatform keeps every compatible but `arm,primecell`", () => {
    const n = node(boards.primeCellAsPlatform(["pl031@9010000"]), "pl031@9010000");
    expect(propStrings(n, "compatible")).toEqual(["arm,pl031"]);
  });

  test("naming a node the board lacks is an error, not a silent no-op", () => {
    expect(() => boards.withoutIommus(["dma-test@40000"])).toThrow(/no node dma-test@40000/);
  });

  test("sharedGroup with the grouping IOMMU: both engines in group 0 on their kernel driver", () => {
    const lab = bootLab({ board: boards.sharedGroup(), groupingIommu: true });
    for (const d of [DEV.DMA_TEST0, DEV.DMA_TEST1]) {
      expect(iommuGroupOf(lab.admin, d)).toBe(0);
      expect(driverOf(lab.admin, d)).toBe("vfio-lab-dma-test");
    }
  });
});
