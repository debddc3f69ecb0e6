import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import type { Process } from "@vfio-lab/kernel";
import {
  assignToDriver,
  boards,
  bootLab,
  DEV,
  type Lab,
  Vmm,
} from "@vfio-lab/vfio-platform/testing";
import { describe, expect, test } from "vitest";
import { pl330Lab } from "../test/labs.js";
import { type IoasMap, ioasMap, type PhysRun } from "./ioas-map.js";

/**
 * The bytes the process sees at `va` must be the bytes physical memory holds at each run's
 * physical address: an independent check that the runs name the right pages.
 */
function expectRunsHoldUserBytes(
  lab: Lab,
  p: Process,
  va: number,
  iova: bigint,
  runs: readonly PhysRun[],
): void {
  for (const run of runs) {
    const off = Number(run.iova - iova);
    const user = p.peek(va + off, Number(run.length));
    const phys = new Uint8Array(Number(run.length));
    lab.soc.memory.read(Number(run.phys), phys);
    expect(phys).toEqual(user);
  }
}

/** Fills `len` bytes at `va` with a pattern that differs on every page. */
function stamp(p: Process, va: number, len: number): void {
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = (i * 7 + Math.floor(i / PAGE_SIZE) * 31 + 1) & 0xff;
  p.poke(va, bytes);
}

function totalLength(runs: readonly PhysRun[]): bigint {
  return runs.reduce((n, r) => n + r.length, 0n);
}

/** Runs are sorted, disjoint and cover [iova, iova + length) exactly. */
function expectCovers(runs: readonly PhysRun[], iova: bigint, length: bigint): void {
  let at = iova;
  for (const r of runs) {
    expect(r.iova).toBe(at);
    expect(r.length > 0n).toBe(true);
    expect(r.phys % BigInt(PAGE_SIZE)).toBe(at % BigInt(PAGE_SIZE));
    at += r.length;
  }
  expect(at).toBe(iova + length);
}

describe("ioasMap()", () => {
  test("after type1 MAP_DMA: the range, its user VA, the domain with group 2 and its pages", () => {
    const lab = pl330Lab();
    stamp(lab.vmm, lab.ramVa, 0x10000);
    const map: IoasMap = ioasMap(lab.vmm, lab.vmmObj.container!.fd);
    expect(map).toMatchObject({
      kind: "vfio-type1",
      pid: lab.vmm.pid,
      comm: "vmm",
      path: "/dev/vfio/vfio",
      ioasId: null,
      pinnedPages: 16,
      truncated: false,
    });
    expect(map.mappings).toHaveLength(1);
    const m = map.mappings[0]!;
    expect(m).toMatchObject({
      iova: 0x10_0000n,
      length: 0x10000n,
      vaddr: BigInt(lab.ramVa),
      read: true,
      write: true,
    });
    expectCovers(m.pages, 0x10_0000n, 0x10000n);
    expectRunsHoldUserBytes(lab, lab.vmm, lab.ramVa, 0x10_0000n, m.pages);
    expect(map.domains).toHaveLength(1);
    const d = map.domains[0]!;
    expect(d).toMatchObject({
      label: "type1 domain 0",
      type: "unmanaged",
      groups: [2],
      devices: ["c000000.dma"],
    });
    expect(d.runs).toEqual(m.pages);
  });

  for (const path of ["iommufd-cdev", "iommufd-compat"] as const) {
    test(`after IOMMU_IOAS_MAP (${path}): the area, the auto domain and the pinned pages`, () => {
      const lab = bootLab({
        modules: ["vfio_amba"],
        ...(path === "iommufd-compat" ? { config: { CONFIG_VFIO_CONTAINER: false } } : {}),
      });
      assignToDriver(lab.admin, DEV.PL330, "vfio-amba");
      const vmm = new Vmm(lab.vmm, path);
      vmm.assign(DEV.PL330);
      const ram = vmm.mapGuestRam(0x8000, 0x20_0000n);
      const ram2 = vmm.mapGuestRam(0x3000, 0x40_0000n);
      stamp(lab.vmm, ram.va, 0x8000);
      stamp(lab.vmm, ram2.va, 0x3000);
      const fd = path === "iommufd-cdev" ? vmm.iommufd!.fd : vmm.container!.fd;
      const map = ioasMap(lab.vmm, fd, path === "iommufd-cdev" ? vmm.ioasId : undefined);
      expect(map.kind).toBe(path === "iommufd-cdev" ? "iommufd" : "iommufd-vfio-compat");
      expect(map.path).toBe(path === "iommufd-cdev" ? "/dev/iommu" : "/dev/vfio/vfio");
      expect(map.ioasId).not.toBeNull();
      expect(map.mappings.map((m) => [m.iova, m.length, m.vaddr])).toEqual([
        [0x20_0000n, 0x8000n, BigInt(ram.va)],
        [0x40_0000n, 0x3000n, BigInt(ram2.va)],
      ]);
      expect(map.pinnedPages).toBe(11);
      for (const [m, r] of [
        [map.mappings[0]!, ram],
        [map.mappings[1]!, ram2],
      ] as const) {
        expectCovers(m.pages, m.iova, m.length);
        expectRunsHoldUserBytes(lab, lab.vmm, r.va, m.iova, m.pages);
      }
      expect(map.domains).toHaveLength(1);
      const d = map.domains[0]!;
      expect(d.label).toMatch(/^auto HWPT \d+$/);
      expect(d).toMatchObject({ type: "unmanaged", groups: [2], devices: ["c000000.dma"] });
      expect(totalLength(d.runs)).toBe(0xb000n);
      expect(d.runs).toEqual([...map.mappings[0]!.pages, ...map.mappings[1]!.pages]);
    });
  }

  test("no-IOMMU cdev: the software page table holds the pinned pages GET_PA reports", () => {
    const lab = bootLab({
      board: boards.withoutIommus(["dma-test@30000"]),
      cmdline: "vfio.enable_unsafe_noiommu_mode=1",
      modules: ["vfio_platform"],
      install: ["vfio_platform_dmatest"],
    });
    assignToDriver(lab.admin, DEV.DMA_TEST0, "vfio-platform");
    const vmm = new Vmm(lab.vmm, "noiommu-cdev");
    vmm.assign(DEV.DMA_TEST0);
    const ram = vmm.mapGuestRam(0x4000, 0x10_0000n);
    stamp(lab.vmm, ram.va, 0x4000);
    const map = ioasMap(lab.vmm, vmm.iommufd!.fd, vmm.ioasId);
    expect(map.domains).toHaveLength(1);
    const d = map.domains[0]!;
    expect(d).toMatchObject({ type: "no-IOMMU", groups: [] });
    expectCovers(d.runs, 0x10_0000n, 0x4000n);
    expectRunsHoldUserBytes(lab, lab.vmm, ram.va, 0x10_0000n, d.runs);
    // IOMMU_IOAS_NOIOMMU_GET_PA (through the VMM) names the same first page.
    expect(ram.dmaAddr(0)).toBe(d.runs[0]!.phys);
  });

  test("an IOAS with no device attached: mappings known, no domain, nothing pinned", () => {
    const lab = bootLab();
    const vmm = new Vmm(lab.vmm, "iommufd-cdev");
    const ram = vmm.mapGuestRam(0x2000, 0x1000n);
    const map = ioasMap(lab.vmm, vmm.iommufd!.fd, vmm.ioasId);
    expect(map.mappings.map((m) => [m.iova, m.length, m.vaddr, m.pages])).toEqual([
      [0x1000n, 0x2000n, BigInt(ram.va), []],
    ]);
    expect(map.domains).toEqual([]);
    expect(map.pinnedPages).toBe(0);
  });

  test("reading is no syscall; other fds are refused", () => {
    const lab = pl330Lab();
    const rec = lab.kernel.trace.record();
    ioasMap(lab.vmm, lab.vmmObj.container!.fd);
    rec.stop();
    expect(rec.records).toEqual([]);
    expect(() => ioasMap(lab.vmm, 77)).toThrow(/fd 77 is not open/);
    const fd = lab.vmm.open("/dev/null");
    expect(() => ioasMap(lab.vmm, fd)).toThrow(/neither an iommufd nor a VFIO container/);
  });
});
