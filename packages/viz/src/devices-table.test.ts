import { test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { nastyString } from "../test/arbitraries.js";
import { noiommuLab, pl330Lab } from "../test/labs.js";
import { xmlProblem } from "../test/xml-check.js";
import { devicesTable } from "./devices-table.js";
import { OWNER_COLOURS } from "./palette.js";
import { snapshot } from "./snapshot.js";
import { htmlToText } from "./text-render.js";

const pl330 = snapshot(pl330Lab().kernel);

describe("devicesTable()", () => {
  test("a captioned table with a head and one body row per device; stable", async () => {
    const html = devicesTable(pl330);
    expect(xmlProblem(html)).toBeNull();
    expect(html).toMatch(
      /^<table class="vfio-lab-devices">\n<caption>Devices: 49 on 2 buses, 3 IOMMU groups, kernel not tainted<\/caption>\n<thead><tr><th scope="col">device<\/th>/,
    );
    expect(html.match(/<tr class="owner-/g)).toHaveLength(pl330.devices.length);
    expect(devicesTable(pl330)).toBe(html);
    await expect(html).toMatchFileSnapshot("../test/__snapshots__/devices-pl330.html");
  });

  test("the VFIO device's row: driver, coloured owner, group, IOMMU with its StreamID, /dev nodes", () => {
    const html = devicesTable(pl330);
    const row = /<tr class="owner-vfio">(.*?)<\/tr>/.exec(html)![1]!;
    expect(row).toBe(
      '<td class="device">c000000.dma</td><td class="bus">amba</td><td class="compatible">arm,pl330, arm,primecell</td>' +
        '<td class="driver">vfio-amba</td>' +
        `<td class="owner owner-vfio" style="background:${OWNER_COLOURS.vfio.fill};color:${OWNER_COLOURS.vfio.text}">vfio</td>` +
        '<td class="group">2</td><td class="iommu">9050000.smmuv3 (0x10)</td>' +
        '<td class="nodes">/dev/vfio/2 /dev/vfio/devices/vfio0</td>',
    );
  });

  test("the caption says when the kernel is tainted", () => {
    const html = devicesTable(snapshot(noiommuLab().kernel));
    expect(html).toContain("kernel TAINTED (U)</caption>");
    expect(html).toContain(
      '<td class="nodes">/dev/vfio/noiommu-3 /dev/vfio/devices/noiommu-vfio0</td>',
    );
  });

  test("htmlToText: aligned columns under the caption", () => {
    const text = htmlToText(devicesTable(pl330));
    const lines = text.split("\n");
    expect(lines[0]).toBe("Devices: 49 on 2 buses, 3 IOMMU groups, kernel not tainted");
    expect(lines[2]).toMatch(/^device +bus +compatible +driver +owner +IOMMU group +IOMMU +\/dev$/);
    expect(lines[3]).toMatch(/^─+( +─+){7}$/);
    const pl330Row = lines.find((l) => l.startsWith("c000000.dma "))!;
    expect(pl330Row).toMatch(
      /^c000000\.dma +amba +arm,pl330, arm,primecell +vfio-amba +vfio +2 +9050000\.smmuv3 \(0x10\) +\/dev\/vfio\/2 \/dev\/vfio\/devices\/vfio0$/,
    );
    // Every column starts at the same offset on every row.
    const start = lines[2]!.indexOf("driver");
    expect(pl330Row.indexOf("vfio-amba")).toBe(start);
  });

  fcTest.prop([nastyString, nastyString], { numRuns: 60 })(
    "arbitrary names never break the table",
    (name, driver) => {
      const s = {
        ...pl330,
        devices: pl330.devices.map((d) => ({ ...d, name, driver, compatible: [driver, name] })),
      };
      const html = devicesTable(s);
      expect(xmlProblem(html)).toBeNull();
      expect(htmlToText(html).split("\n").length).toBeGreaterThan(pl330.devices.length);
    },
  );
});
