/**
 * Notebook 02 (seed 002, "iommufd: Enable noiommu mode for cdev"): runs it with the runner and
 * checks that its outputs still tell its story — the noiommu cdev and the U taint, an mlocked
 * page that compaction moves under the device (stale pagemap address, DMA into another
 * process's page, the buffer untouched), and a pinned page that stays (GET_PA unchanged, DMA into
 * the buffer). A model change that breaks any of these fails here.
 */

import { describe, expect, it } from "vitest";
import type { CellOutput } from "../src/index.js";
import { loadNotebook } from "./notebook-under-test.js";

const { nb, expectEveryCellRan, outputs } = loadNotebook("02-noiommu-cdev");

/** The stdout and stderr of the cell with this id (without its `nb02-` prefix). */
function out(id: string): string {
  return outputs(`nb02-${id}`)
    .flatMap((o) => (o.kind === "stream" ? [o.text] : []))
    .join("");
}

/** The displays of the cell with this id. */
function displays(id: string): Extract<CellOutput, { kind: "display" }>[] {
  return outputs(`nb02-${id}`).flatMap((o) => (o.kind === "display" ? [o] : []));
}

/** The one capture group of `re` in `text` (the test fails if it does not match). */
function grab(text: string, re: RegExp): string {
  const m = re.exec(text);
  expect(m, `${re} in:\n${text}`).not.toBeNull();
  return m![1]!;
}

describe("notebook 02-noiommu-cdev", () => {
  it("is committed as the brief says: seed 002", () => {
    expect(nb.metadata["vfio-lab"]?.seed).toBe("002");
  });

  it("runs to the end without a failing cell", () => expectEveryCellRan());

  it("no-IOMMU mode: a noiommu group and a noiommu-vfioN cdev, the taint lines, U", () => {
    const o = out("noiommu");
    expect(o).toMatch(/\/dev\/vfio\/devices: noiommu-vfio\d+\n/);
    expect(o).toMatch(/\/dev\/vfio: .*noiommu-\d+/);
    expect(o).toContain("name = vfio-noiommu");
    expect(o).toContain("Adding kernel taint for vfio-noiommu group on device");
    expect(o).toContain("Adding kernel taint for vfio-noiommu cdev");
    expect(o).toContain("tainted = 64 (bit 6): Tainted: [U]=USER");
  });

  it("without CAP_SYS_RAWIO both nodes refuse to open (EPERM)", () => {
    const o = out("rawio");
    expect(o).toMatch(/open\(\/dev\/vfio\/noiommu-\d+\) without CAP_SYS_RAWIO: EPERM/);
    expect(o).toMatch(/open\(\/dev\/vfio\/devices\/noiommu-vfio\d+\) without CAP_SYS_RAWIO: EPERM/);
  });

  it("the legacy container has no MAP_DMA; pagemap hides PFNs without CAP_SYS_ADMIN", () => {
    expect(out("legacy-open")).toContain("vfio-noiommu device opened by user (vmm:");
    expect(out("legacy-open")).toMatch(/VFIO_IOMMU_MAP_DMA on the no-IOMMU container: ENOTTY/);
    const o = out("mlock");
    expect(o).toContain("without CAP_SYS_ADMIN: PFN 0x0 (hidden)");
    expect(o).toMatch(/PG_mlocked true, pin count 0/);
    expect(o).toContain('buf now: "DMA1DMA1DMA1DMA1"');
  });

  it("compaction moves the mlocked page: pagemap's PA before and after differ", () => {
    const before = grab(out("mlock"), /→ PA (0x[0-9a-f]+)\n/);
    const o = out("migrate-mlock");
    const after = grab(o, /now → PA (0x[0-9a-f]+)/);
    expect(grab(o, /\(was (0x[0-9a-f]+)\)/)).toBe(before);
    expect(after).not.toBe(before);
    expect(o).toContain('buf still reads "DMA1DMA1DMA1DMA1"');
  });

  it("the stale DMA lands in another process's page, the buffer unchanged", () => {
    const before = grab(out("mlock"), /→ PA (0x[0-9a-f]+)\n/);
    // The page of the other process that got the freed frame (its PFN is the stale PA's).
    const page = grab(
      out("victim"),
      /page (\d+): PFN 0x[0-9a-f]+ {3}← the frame the device still targets/,
    );
    expect(out("victim")).toContain(`page ${page}: PFN ${before.slice(0, -3)} `);
    const o = out("stale-dma");
    expect(o).toContain(`before: postgres page ${page}: "row ${page}: balance=100`);
    expect(o).toContain(`fill "DMA2"×4 at ${before}`);
    expect(o).toContain(`= physical ${before}`);
    // The fill overwrote the row's first 16 bytes; the driver's buffer still holds DMA1.
    expect(o).toContain(
      `after:  postgres page ${page}: "DMA2DMA2DMA2DMA200..", buf: "DMA1DMA1DMA1DMA1"`,
    );
    expect(o).toContain("the DMA landed in another process's page");
  });

  it("the cdev path: no-IOMMU HWPT attached, MAP pins, GET_PA agrees with pagemap", () => {
    expect(out("cdev")).toMatch(/ATTACH_IOMMUFD_PT\(IOAS \d+\) → pt_id \d+/);
    const o = out("map");
    expect(o).toMatch(/pin count 1, PG_mlocked false/);
    expect(o).toContain("pinned_vm (VmPin) 1 page, user locked_vm 1 page");
    const phys = grab(o, /NOIOMMU_GET_PA\(IOVA 0x[0-9a-f]+\) → phys (0x[0-9a-f]+), length 0x1000/);
    expect(grab(o, /pagemap agrees: (0x[0-9a-f]+)/)).toBe(phys);
    expect(o).toMatch(/GET_PA with length 0: EINVAL/);
    expect(o).toMatch(/GET_PA of an unmapped IOVA: ENOENT/);
    expect(o).toMatch(/GET_PA without CAP_SYS_RAWIO: EPERM .*iommufd_ioas_noiommu_get_pa/);
    expect(out("pin-dma")).toContain('buf2 now: "DMA3DMA3DMA3DMA3"');
  });

  it("compaction leaves the pinned page: GET_PA stays, the DMA lands in the buffer", () => {
    const phys = grab(out("map"), /→ phys (0x[0-9a-f]+), length/);
    const o = out("migrate-pin");
    expect(o).toContain("may compaction move page");
    expect(o).toMatch(/\? false\n/);
    expect(o).toMatch(/compaction moved [1-9]\d* pages; page 0x[0-9a-f]+ stayed/);
    expect(o).toContain(`GET_PA now → phys ${phys} (was ${phys}); pagemap → ${phys}`);
    expect(o).toContain(`= physical ${phys}`);
    expect(o).toContain('buf2 now: "DMA4DMA4DMA4DMA4"');
    expect(out("cleanup")).toContain("pinned_vm 0, user locked_vm 0");
  });

  it("draws the topology, the IOAS map and the cdev sequence, and the comparison table", () => {
    for (const id of ["topology", "ioas-picture", "sequence"]) {
      expect(
        displays(id).map((d) => d.mime),
        id,
      ).toEqual(["image/svg+xml"]);
    }
    expect(displays("sequence")[0]!.data).toContain("IOMMU_IOAS_MAP");
    const [table] = displays("table");
    expect(table?.mime).toBe("text/markdown");
    expect(table?.data).toContain("IOMMU_IOAS_NOIOMMU_GET_PA");
    expect(table?.data).toMatch(/moved 0x[0-9a-f]+ → 0x[0-9a-f]+/);
  });
});
