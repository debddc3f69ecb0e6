import { test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { nastyString } from "../test/arbitraries.js";
import { pl330Lab } from "../test/labs.js";
import { expectGoodSvg, svgTitle } from "../test/render-check.js";
import { type IoasMap, ioasMap } from "./ioas-map.js";
import { ioasMapSvg, sizeText } from "./ioas-map-svg.js";
import { svgToText } from "./text-render.js";

const lab = pl330Lab();
const map = ioasMap(lab.vmm, lab.vmmObj.container!.fd);

const hex8 = (n: bigint) => `0x${n.toString(16).padStart(8, "0")}`;

describe("ioasMapSvg()", () => {
  test("well-formed, accessible, stable; file snapshot", async () => {
    const svg = ioasMapSvg(map);
    expectGoodSvg(svg);
    expect(ioasMapSvg(map)).toBe(svg);
    expect(svgTitle(svg)).toBe(
      `VFIO type1 container /dev/vfio/vfio in vmm[${lab.vmm.pid}] (fd ${map.fd}): 1 mapping, 1 domain`,
    );
    await expect(svg).toMatchFileSnapshot("../test/__snapshots__/ioas-type1.svg");
  });

  test("each run: IOVA range → physical range with its size, under its domain and group", () => {
    const text = svgToText(ioasMapSvg(map));
    expect(text).toContain("type1 domain 0 · unmanaged · group 2: c000000.dma");
    expect(text).toContain(`IOVA 0x00100000–0x0010ffff`);
    expect(text).toContain(`← user VA 0x${BigInt(lab.ramVa).toString(16)}`);
    for (const run of map.domains[0]!.runs) {
      const line = text.split("\n").find((l) => l.includes(hex8(run.phys)));
      expect(line).toBeDefined();
      expect(line).toContain(`${hex8(run.iova)}–${hex8(run.iova + run.length - 1n)}`);
      expect(line).toContain(`${hex8(run.phys)}–${hex8(run.phys + run.length - 1n)}`);
      expect(line).toMatch(/>\s*0x/);
    }
  });

  test("without a domain the pinned pages are shown; an empty map says so", () => {
    const pinned: IoasMap = {
      ...map,
      domains: [],
      mappings: map.mappings.map((m) => ({
        ...m,
        pages: [{ iova: m.iova, phys: 0x4000_0000n, length: m.length }],
      })),
    };
    const text = svgToText(ioasMapSvg(pinned));
    expect(text).toContain("No IOMMU domain");
    expect(text).toContain("0x40000000–0x4000ffff");
    expect(text).toContain("pinned");
    const empty: IoasMap = { ...map, mappings: [], domains: [], pinnedPages: 0 };
    expectGoodSvg(ioasMapSvg(empty));
    expect(svgToText(ioasMapSvg(empty))).toContain("nothing mapped");
  });

  test("sizes read as people write them", () => {
    expect(sizeText(0x1000n)).toBe("4 KiB");
    expect(sizeText(0x10_0000n)).toBe("1 MiB");
    expect(sizeText(0x4000_0000n)).toBe("1 GiB");
    expect(sizeText(0x1800n)).toBe("6 KiB");
    expect(sizeText(0x1801n)).toBe("6.0 KiB");
    expect(sizeText(12n)).toBe("12 B");
  });

  fcTest.prop([nastyString, nastyString], { numRuns: 50 })(
    "arbitrary paths and labels stay well-formed",
    (path, label) => {
      const m: IoasMap = {
        ...map,
        path,
        comm: label,
        mappings: map.mappings.map((x) => ({ ...x, source: label })),
        domains: map.domains.map((d) => ({ ...d, label, type: path, devices: [label] })),
      };
      expectGoodSvg(ioasMapSvg(m));
    },
  );
});
