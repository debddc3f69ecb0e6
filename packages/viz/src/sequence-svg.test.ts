import { test as fcTest } from "@fast-check/vitest";
import type { KernelTraceRecord } from "@vfio-lab/kernel";
import { describe, expect, test } from "vitest";
import { nastyString } from "../test/arbitraries.js";
import { noiommuLab, pl330Lab, sharedGroupLab } from "../test/labs.js";
import { expectGoodSvg, svgTitle } from "../test/render-check.js";
import { PALETTE } from "./palette.js";
import { sequenceSvg } from "./sequence-svg.js";
import { svgToText } from "./text-render.js";

const shared = sharedGroupLab();
const pl330 = pl330Lab();

/** The `<g class="call…">` groups of a diagram. */
function calls(svg: string): string[] {
  return svg.match(/<g class="call[^"]*"[^>]*>(?:(?!<\/g>)[\s\S])*<\/g>/g) ?? [];
}

function syscall(
  pid: number,
  comm: string,
  name: string,
  args: Record<string, string | number>,
  result: { ret: number } | { error: { errno: number; code: string; fn: string } },
): KernelTraceRecord {
  return { time: 0, type: "syscall", pid, comm, name, args, ...result } as KernelTraceRecord;
}

describe("sequenceSvg()", () => {
  test("well-formed, accessible, byte-identical for the same trace", () => {
    for (const lab of [shared, pl330]) {
      const svg = sequenceSvg(lab.records);
      expectGoodSvg(svg);
      expect(sequenceSvg(lab.records)).toBe(svg);
      expect(sequenceSvg(JSON.parse(JSON.stringify(lab.records)))).toBe(svg);
    }
  });

  test("file snapshots of the shared-group claim", async () => {
    const svg = sequenceSvg(shared.records, { title: "Claiming a shared IOMMU group" });
    await expect(svg).toMatchFileSnapshot("../test/__snapshots__/sequence-shared-group.svg");
    await expect(svgToText(svg)).toMatchFileSnapshot(
      "../test/__snapshots__/sequence-shared-group.txt",
    );
  });

  test("a lifeline per process and per object, found from the paths and fds", () => {
    const svg = sequenceSvg(pl330.records);
    const heads = (kind: string) =>
      [...svg.matchAll(new RegExp(`<g class="lifeline ${kind}"><title>([^<]*)</title>`, "g"))].map(
        (m) => m[1],
      );
    expect(heads("process")).toEqual([`setup[${pl330.admin.pid}]`, `vmm[${pl330.vmm.pid}]`]);
    expect(heads("object")).toEqual([
      "sysfs",
      "memory (mm)",
      "/dev/vfio/vfio",
      "/dev/vfio",
      "/dev/vfio/2",
      "device fd (/dev/vfio/2)",
      "unknown fd",
    ]);
  });

  test("ioctl requests are named by the kind of fd, with their returns", () => {
    const text = sequenceSvg(pl330.records);
    for (const label of [
      "ioctl(0, VFIO_GET_API_VERSION) = 0",
      "ioctl(1, VFIO_GROUP_GET_STATUS) = 0",
      "ioctl(1, VFIO_GROUP_SET_CONTAINER) = 0",
      "ioctl(0, VFIO_SET_IOMMU) = 0",
      "ioctl(1, VFIO_GROUP_GET_DEVICE_FD) = 2",
      "ioctl(2, VFIO_DEVICE_GET_INFO) = 0",
      "ioctl(0, VFIO_IOMMU_MAP_DMA) = 0",
      'openat("/dev/vfio/2") = 1',
    ]) {
      expect(text).toContain(`>${label}</text>`);
    }
  });

  test("a failed call is red, dashed, ends in ✗ and carries the errno and the refusing function", () => {
    const svg = sequenceSvg(shared.records);
    const failed = calls(svg).filter((g) => g.includes('class="call errno"'));
    expect(failed).toHaveLength(1);
    const g = failed[0]!;
    expect(g).toContain('data-errno="EPERM"');
    expect(g).toContain('data-fn="iommu_group_claim_dma_owner"');
    expect(g).toMatch(
      new RegExp(
        `<text class="b" [^>]*fill="${PALETTE.errno.text}">ioctl\\(1, VFIO_GROUP_SET_CONTAINER\\) = -1 EPERM \\(iommu_group_claim_dma_owner\\)</text>`,
      ),
    );
    expect(g).toMatch(
      new RegExp(`<line [^>]*stroke="${PALETTE.errno.stroke}"[^>]*stroke-dasharray`),
    );
    expect(g).toContain(">✗</text>");
    expect(g).toContain(`fill="${PALETTE.errno.fill}"`);
    // The successful retry is not red.
    const ok = calls(svg).find((c) => c.includes("VFIO_GROUP_SET_CONTAINER) = 0"))!;
    expect(ok).toContain('class="call"');
    expect(ok).not.toContain(PALETTE.errno.text);
    // The description names it too.
    expect(/<desc>([^<]*)<\/desc>/.exec(svg)![1]).toContain(
      "1 failed: ioctl(1, VFIO_GROUP_SET_CONTAINER) = -1 EPERM",
    );
    // And the text rendering keeps the code.
    expect(svgToText(svg)).toContain("= -1 EPERM (iommu_group_claim_dma_owner)");
  });

  test("an ioctl on an fd never opened goes to an 'unknown fd' lifeline with its EBADF", () => {
    const svg = sequenceSvg(pl330.records);
    expect(svg).toContain('<g class="lifeline object"><title>unknown fd</title>');
    expect(svg).toContain('data-errno="EBADF"');
  });

  test("printk lines and taints are notes; kernel events can be left out", () => {
    const lab = noiommuLab();
    const svg = sequenceSvg(lab.records);
    expect(svg).toContain('<g class="note note-taint">');
    expect(svg).toContain(">TAINT U (TAINT_USER): /proc/sys/kernel/tainted = 64</text>");
    expect(svg).toContain(
      ">printk: vfio-amba 9030000.pl061: Adding kernel taint for vfio-noiommu group on device</text>",
    );
    expect(svg).toContain(">driver:bind: 9030000.pl061 → vfio-amba</text>");
    const quiet = sequenceSvg(lab.records, { kernelEvents: false });
    expect(quiet).not.toContain("driver:bind");
    expect(quiet).toContain("TAINT U");
    expect(quiet).toContain("printk: ");
  });

  test("opts.title names the picture", () => {
    expect(svgTitle(sequenceSvg(pl330.records, { title: "PL330 <to> vfio-amba" }))).toBe(
      "PL330 <to> vfio-amba",
    );
    expect(svgTitle(sequenceSvg([]))).toBe("Syscall sequence");
    expectGoodSvg(sequenceSvg([]));
  });

  test("a long trace keeps every call, two rows each", () => {
    const records: KernelTraceRecord[] = [
      syscall(7, "loop", "openat", { path: "/dev/iommu", flags: 2 }, { ret: 3 }),
    ];
    for (let i = 0; i < 600; i++) {
      records.push(
        i % 50 === 0
          ? syscall(
              7,
              "loop",
              "ioctl",
              { fd: 3, request: "_IO(';', 0x83)", arg: 0 },
              { error: { errno: 22, code: "EINVAL", fn: "iommufd_fops_ioctl" } },
            )
          : syscall(7, "loop", "ioctl", { fd: 3, request: "_IO(';', 0x81)", arg: 0 }, { ret: 0 }),
      );
    }
    const svg = sequenceSvg(records);
    expectGoodSvg(svg);
    expect(calls(svg)).toHaveLength(601);
    expect(calls(svg).filter((g) => g.includes("EINVAL"))).toHaveLength(12);
    expect(svg).toContain(">ioctl(3, IOMMU_IOAS_ALLOC) = 0</text>");
    // 2 rows of 16 px per call, plus the header.
    const h = Number(/viewBox="0 0 \d+ (\d+)"/.exec(svg)![1]);
    expect(h).toBeLessThanOrEqual((601 * 2 + 10) * 16);
    expect(h).toBeGreaterThanOrEqual(601 * 2 * 16);
  });

  fcTest.prop([nastyString, nastyString, nastyString], { numRuns: 80 })(
    "arbitrary comm, paths and printk text never break the document",
    (comm, path, text) => {
      const records: KernelTraceRecord[] = [
        syscall(1, comm, "openat", { path, flags: 2 }, { ret: 3 }),
        { time: 0, type: "printk", seq: 1, level: 6, facility: 0, text } as KernelTraceRecord,
        syscall(
          1,
          comm,
          "ioctl",
          { fd: 3, request: path, arg: 0 },
          { error: { errno: 1, code: text, fn: path } },
        ),
      ];
      const svg = sequenceSvg(records, { title: text });
      expectGoodSvg(svg);
      expect(() => svgToText(svg)).not.toThrow();
    },
  );
});
