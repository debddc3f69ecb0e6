import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { nastyString } from "../test/arbitraries.js";
import { defaultLab, noiommuLab, pl330Lab, sharedGroupLab, uioLab } from "../test/labs.js";
import { expectGoodSvg, svgTitle } from "../test/render-check.js";
import { OWNER_COLOURS, PALETTE } from "./palette.js";
import { type SystemSnapshot, snapshot } from "./snapshot.js";
import { svgToText } from "./text-render.js";
import { topologySvg } from "./topology-svg.js";

const labs = {
  default: defaultLab,
  pl330: pl330Lab,
  noiommu: noiommuLab,
  uio: uioLab,
  shared: sharedGroupLab,
} as const;

const snaps = new Map<string, SystemSnapshot>();
function snap(name: keyof typeof labs): SystemSnapshot {
  let s = snaps.get(name);
  if (!s) {
    s = snapshot(labs[name]().kernel);
    snaps.set(name, s);
  }
  return s;
}

describe("topologySvg()", () => {
  for (const name of Object.keys(labs) as (keyof typeof labs)[]) {
    test(`${name}: well-formed, accessible, stable`, () => {
      const s = snap(name);
      const svg = topologySvg(s);
      expectGoodSvg(svg);
      expect(topologySvg(s)).toBe(svg);
      expect(topologySvg(snapshot(labs[name]().kernel))).toBe(svg);
    });
  }

  test("file snapshots of the default board, the PL330 on VFIO and the tainted no-IOMMU system", async () => {
    await expect(topologySvg(snap("default"))).toMatchFileSnapshot(
      "../test/__snapshots__/topology-default.svg",
    );
    await expect(topologySvg(snap("pl330"))).toMatchFileSnapshot(
      "../test/__snapshots__/topology-pl330.svg",
    );
    await expect(topologySvg(snap("noiommu"))).toMatchFileSnapshot(
      "../test/__snapshots__/topology-noiommu.svg",
    );
    await expect(svgToText(topologySvg(snap("shared")))).toMatchFileSnapshot(
      "../test/__snapshots__/topology-shared.txt",
    );
  });

  test("a red TAINTED (U) badge when tainted, a green 'Not tainted' otherwise", () => {
    const tainted = topologySvg(snap("noiommu"));
    expect(svgTitle(tainted)).toContain("TAINTED (U)");
    expect(tainted).toContain(`fill="${PALETTE.taint.fill}"`);
    expect(tainted).toMatch(
      new RegExp(`<text class="b" [^>]*fill="${PALETTE.taint.text}"[^>]*>TAINTED \\(U\\)</text>`),
    );
    const clean = topologySvg(snap("default"));
    expect(clean).not.toContain("TAINTED");
    expect(clean).toMatch(/>Not tainted<\/text>/);
    expect(clean).not.toContain(`fill="${PALETTE.taint.fill}"`);
  });

  test("devices are coloured by owner and say it in words", () => {
    const svg = topologySvg(snap("pl330"));
    for (const [owner, name, driver] of [
      ["vfio", "c000000.dma", "vfio-amba"],
      ["kernel", "9030000.pl061", "pl061_gpio"],
      ["none", "c020000.timer", null],
    ] as const) {
      const g = new RegExp(
        `<g class="device owner-${owner}"><title>${name}\\n[^<]*</title><rect [^>]*fill="${OWNER_COLOURS[owner].fill}"[^>]*/>[\\s\\S]*?</g>`,
      ).exec(svg);
      expect(g, name).not.toBeNull();
      expect(g![0]).toContain(driver ? `>${owner} · ${driver}</text>` : ">none · unbound</text>");
    }
    const uio = topologySvg(snap("uio"));
    expect(uio).toMatch(/<g class="device owner-uio"><title>c031000\.dma-test/);
  });

  test("groups say their ownership and /dev/vfio node; a fake no-IOMMU group says it is unsafe", () => {
    const svg = topologySvg(snap("pl330"));
    expect(svg).toContain(">IOMMU group 2 · user (VFIO)</text>");
    expect(svg).toContain(">owner_cnt 1 · /dev/vfio/2</text>");
    expect(svg).toContain(">IOMMU group 0 · kernel DMA</text>");
    const noiommu = topologySvg(snap("noiommu"));
    expect(noiommu).toContain(">IOMMU group 3 · no-IOMMU (unsafe)</text>");
    expect(noiommu).toContain(">owner_cnt 0 · /dev/vfio/noiommu-3</text>");
    const shared = topologySvg(snap("shared"));
    expect(shared).toMatch(
      /<g class="iommu-group group-user-owned">(?:(?!<\/g><g class="iommu-group)[\s\S])*c030000\.dma-test(?:(?!<\/g><g class="iommu-group)[\s\S])*c031000\.dma-test/,
    );
  });

  test("the text rendering names every device (alike idle ones counted) under the title", () => {
    for (const name of Object.keys(labs) as (keyof typeof labs)[]) {
      const s = snap(name);
      const text = svgToText(topologySvg(s));
      expect(text.split("\n")[0]).toBe(svgTitle(topologySvg(s)));
      for (const d of s.devices) {
        if (d.compatible[0] === "virtio,mmio") continue;
        expect(text, `${name}: ${d.name}`).toContain(d.name);
      }
      if (s.devices.some((d) => d.compatible[0] === "virtio,mmio")) {
        expect(text).toContain("32 × virtio,mmio");
      }
    }
  });

  test("the description says what the picture shows", () => {
    const svg = topologySvg(snap("noiommu"));
    const desc = /<desc>([^<]*)<\/desc>/.exec(svg)![1]!;
    expect(desc).toContain("IOMMU 9050000.smmuv3 has 3 IOMMU groups");
    expect(desc).toContain("group 3 (/dev/vfio/noiommu-3) with 9030000.pl061 (vfio-amba, vfio)");
    expect(desc).toContain("The kernel is TAINTED (U, value 64).");
  });

  fcTest.prop([fc.array(nastyString, { minLength: 1, maxLength: 6 }), nastyString], {
    numRuns: 60,
  })(
    "arbitrary device, driver and compatible strings never break the document",
    (names, driver) => {
      const base = snap("pl330");
      const devices = base.devices.map((d, i) => ({
        ...d,
        name: names[i % names.length]! + (i >= names.length ? String(i) : ""),
        driver: d.driver === null ? null : driver,
        compatible: [names[(i + 1) % names.length]!],
      }));
      const s: SystemSnapshot = {
        ...base,
        devices,
        groups: base.groups.map((g) => ({
          ...g,
          devices: g.devices.map((n) => devices[base.devices.findIndex((d) => d.name === n)]!.name),
        })),
      };
      const svg = topologySvg(s);
      expectGoodSvg(svg);
      expect(() => svgToText(svg)).not.toThrow();
    },
  );
});
