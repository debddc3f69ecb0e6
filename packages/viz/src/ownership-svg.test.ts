import { describe, expect, test } from "vitest";
import { defaultLab, noiommuLab, pl330Lab, sharedGroupLab } from "../test/labs.js";
import { expectGoodSvg, svgTitle } from "../test/render-check.js";
import { ownershipSvg } from "./ownership-svg.js";
import { snapshot } from "./snapshot.js";
import { svgToText } from "./text-render.js";

const snaps = {
  default: snapshot(defaultLab().kernel),
  pl330: snapshot(pl330Lab().kernel),
  noiommu: snapshot(noiommuLab().kernel),
  shared: snapshot(sharedGroupLab().kernel),
};

function currentState(svg: string): string | undefined {
  return /<g class="state state-([a-z-]+) current">/.exec(svg)?.[1];
}

describe("ownershipSvg()", () => {
  test("every group of every state: well-formed, accessible, stable, one current state", () => {
    for (const s of Object.values(snaps)) {
      for (const g of s.groups) {
        const svg = ownershipSvg(s, g.id);
        expectGoodSvg(svg);
        expect(ownershipSvg(s, g.id)).toBe(svg);
        expect(svg.match(/ current">/g)).toHaveLength(1);
        expect(currentState(svg)).toBe(g.ownership);
        for (const d of g.devices) expect(svgToText(svg)).toContain(d);
      }
    }
  });

  test("file snapshots: the PL330's group owned by VFIO, the shared group", async () => {
    await expect(ownershipSvg(snaps.pl330, 2)).toMatchFileSnapshot(
      "../test/__snapshots__/ownership-pl330.svg",
    );
    await expect(svgToText(ownershipSvg(snaps.shared, 0))).toMatchFileSnapshot(
      "../test/__snapshots__/ownership-shared.txt",
    );
  });

  test("kernel DMA: the default domain is attached and a claim would be EPERM", () => {
    const svg = ownershipSvg(snaps.default, 2);
    expect(svgTitle(svg)).toBe("IOMMU group 2: DMA ownership — kernel DMA, owner_cnt 1");
    expect(currentState(svg)).toBe("kernel-dma");
    expect(svgToText(svg)).toContain("▲ attached now");
    expect(svg).toMatch(/<text class="b" [^>]*>user-space claim while kernel DMA → EPERM/);
    expect(svg).toContain(">DMA-API driver: one owner_cnt while kernel DMA</text>");
    const desc = /<desc>([^<]*)<\/desc>/.exec(svg)![1]!;
    expect(desc).toContain("translate through a DMA domain (default)");
    expect(desc).toContain("would fail with EPERM");
  });

  test("user owned: the user domain is attached, a DMA-API bind would be EBUSY, VFIO's driver is not counted", () => {
    const svg = ownershipSvg(snaps.pl330, 2);
    expect(svgTitle(svg)).toBe("IOMMU group 2: DMA ownership — user (VFIO), owner_cnt 1");
    expect(svg).toMatch(/<text class="b" [^>]*>DMA-API driver bind while user owned → EBUSY/);
    expect(svg).toContain(">unmanaged · user IOVAs</text>");
    expect(svg).toContain(">driver_managed_dma: not counted (VFIO claims the group itself)</text>");
    expect(svg).toContain(">VFIO: group 2 · /dev/vfio/2 · open · in a container</text>");
    // The shared group is claimed without SET_IOMMU: it sits on its blocking domain.
    const shared = ownershipSvg(snaps.shared, 0);
    expect(/<desc>([^<]*)<\/desc>/.exec(shared)![1]).toContain("a blocked domain (blocking)");
    expect(shared).toContain(">unbound: not counted</text>");
  });

  test("a fake no-IOMMU group says nobody claims it", () => {
    const svg = ownershipSvg(snaps.noiommu, 3);
    expect(svg).toContain("A VFIO no-IOMMU group: no IOMMU translates or isolates this device");
    expect(svg).toContain(
      ">VFIO: no-IOMMU group (unsafe, taints) noiommu-3 · /dev/vfio/noiommu-3 · not open</text>",
    );
  });

  test("a group that does not exist is said so, with the ones that do", () => {
    const svg = ownershipSvg(snaps.default, 42);
    expectGoodSvg(svg);
    expect(svgTitle(svg)).toBe("IOMMU group 42: not in this snapshot");
    expect(svg).toContain(">Groups in the snapshot: 0, 1, 2</text>");
  });
});
