/**
 * One assignment, four access paths (design §4.5): the same VMM program — assign the DMA test
 * engine, map 64 KiB of guest RAM, wire its level IRQ to an eventfd, run two copies programmed
 * through the mmap'd registers, each completed by read(eventfd) → acknowledge → UNMASK — over
 *
 *   (1) `container-type1`  the legacy container and type1 (default kernel),
 *   (2) `iommufd-compat`   the same /dev/vfio/vfio ioctls served by iommufd (CONFIG_VFIO_CONTAINER=n),
 *   (3) `iommufd-cdev`     /dev/iommu, an IOAS and the device cdev (default kernel),
 *   (4) `noiommu-cdev`     the no-IOMMU cdev of 7.3 on a board where the engine has no `iommus`
 *                          (`vfio.enable_unsafe_noiommu_mode=1`): the only clean no-IOMMU bus
 *                          master, since c031000.dma-test still hits the SMMU's STE 0x30,
 *
 * with the VMM's syscalls recorded from the kernel trace bus and compared: the data plane is
 * identical on all four, the control planes are the tables below ((1) and (2) identical), the
 * kernel is tainted only by (4), and guest memory ends up byte for byte the same.
 */

import { TAINT_USER } from "@vfio-lab/kernel";
import { beforeAll, describe, expect, test } from "vitest";
import { VFIO_PLATFORM } from "../../src/vfio-platform.js";
import {
  type AccessPath,
  assignToDriver,
  boards,
  bootLab,
  DEV,
  DmaTestUser,
  dataPlane,
  dmaTestRun,
  type Lab,
  normalizeTrace,
  pattern,
  syscallTrace,
  Vmm,
} from "./fixture.js";

const RAM_SIZE = 0x1_0000;
const GUEST_IOVA = 0x10_0000n;
const PAGE = 0x1000;

/** The kernel each path needs. */
function bootFor(path: AccessPath): Lab {
  const noiommu = path === "noiommu-cdev";
  return bootLab({
    board: noiommu ? boards.withoutIommus(["dma-test@30000"]) : boards.virtLab(),
    cmdline: noiommu ? "vfio.enable_unsafe_noiommu_mode=1" : "",
    config: path === "iommufd-compat" ? { CONFIG_VFIO_CONTAINER: false } : {},
    modules: ["vfio_platform"],
    install: ["vfio_platform_dmatest"],
  });
}

interface Run {
  readonly lines: string[];
  readonly statuses: number[];
  readonly interrupts: number[];
  readonly memory: Uint8Array;
  readonly tainted: string;
}

/** The VMM program, the same on every path. */
function runVmm(path: AccessPath): Run {
  const lab = bootFor(path);
  const bound = assignToDriver(lab.admin, DEV.DMA_TEST0, VFIO_PLATFORM);
  expect(bound.driver).toBe(VFIO_PLATFORM);
  const trace = syscallTrace(lab.kernel, lab.vmm);

  const vmm = new Vmm(lab.vmm, path);
  const dev = vmm.assign(DEV.DMA_TEST0);
  const ram = vmm.mapGuestRam(RAM_SIZE, GUEST_IOVA);
  const engine = new DmaTestUser(dev.mmio(0));
  const irq = dev.wireIrq(0, { unmask: "ioctl" });
  ram.write(0, pattern(PAGE, 3));
  const statuses: number[] = [];
  const interrupts: number[] = [];
  for (const [src, dst] of [
    [0, PAGE],
    [PAGE, 2 * PAGE],
  ] as const) {
    const r = dmaTestRun(engine, irq, {
      mode: "copy",
      src: ram.dmaAddr(src, PAGE),
      dst: ram.dmaAddr(dst, PAGE),
      len: PAGE,
    });
    statuses.push(r.status);
    interrupts.push(r.interrupts);
  }
  const memory = ram.read(0, 3 * PAGE);
  vmm.close();
  return {
    lines: normalizeTrace(trace.stop()),
    statuses,
    interrupts,
    memory,
    tainted: lab.admin.readFile("/proc/sys/kernel/tainted").trim(),
  };
}

/** What the VMM does once the device is set up: identical on every path. */
const DATA_PLANE = [
  "mmap(device, 0x1000, region 0+0x0) = addr",
  "ioctl(device, VFIO_DEVICE_SET_IRQS TRIGGER|EVENTFD index 0 start 0 count 1) = 0",
  "read(eventfd0, 8) = 8",
  "ioctl(device, VFIO_DEVICE_SET_IRQS UNMASK|NONE index 0 start 0 count 1) = 0",
  "read(eventfd0, 8) = 8",
  "ioctl(device, VFIO_DEVICE_SET_IRQS UNMASK|NONE index 0 start 0 count 1) = 0",
  "ioctl(device, VFIO_DEVICE_SET_IRQS TRIGGER|NONE index 0 start 0 count 0) = 0",
];

/** The device-fd protocol every path shares once it has a device fd. */
const DEVICE_SETUP = ["ioctl(device, VFIO_DEVICE_GET_INFO) = 0"];
const DEVICE_USE = [
  "ioctl(device, VFIO_DEVICE_GET_REGION_INFO) = 0",
  "ioctl(device, VFIO_DEVICE_GET_IRQ_INFO) = 0",
  "eventfd() = eventfd0",
];
const DEVICE_CLOSE = ["close(eventfd0)", "munmap(device map) = 0", "close(device)"];

/** (1) and (2): the container and group ioctls. */
const CONTAINER_PLANE = [
  "open(/dev/vfio/vfio) = container",
  "ioctl(container, VFIO_GET_API_VERSION) = 0",
  "ioctl(container, VFIO_CHECK_EXTENSION) = 1",
  "open(/dev/vfio/N) = group",
  "ioctl(group, VFIO_GROUP_GET_STATUS) = 0",
  "ioctl(group, VFIO_GROUP_SET_CONTAINER) = 0",
  "ioctl(container, VFIO_SET_IOMMU) = 0",
  "ioctl(group, VFIO_GROUP_GET_DEVICE_FD) = device",
  ...DEVICE_SETUP,
  "ioctl(container, VFIO_IOMMU_MAP_DMA) = 0",
  ...DEVICE_USE,
  ...DEVICE_CLOSE,
  "ioctl(container, VFIO_IOMMU_UNMAP_DMA) = 0",
  "close(group)",
  "close(container)",
];

/** (3), and (4) on `noiommu-vfioN`. */
function cdevPlane(cdev: string, getPa: number): string[] {
  return [
    "open(/dev/iommu) = iommufd",
    "ioctl(iommufd, IOMMU_IOAS_ALLOC) = 0",
    `open(/dev/vfio/devices/${cdev}) = device`,
    "ioctl(device, VFIO_DEVICE_BIND_IOMMUFD) = 0",
    "ioctl(device, VFIO_DEVICE_ATTACH_IOMMUFD_PT) = 0",
    ...DEVICE_SETUP,
    "ioctl(iommufd, IOMMU_IOAS_MAP) = 0",
    ...DEVICE_USE,
    // The no-IOMMU VMM asks for the physical address of every buffer it programs.
    ...Array<string>(getPa).fill("ioctl(iommufd, IOMMU_IOAS_NOIOMMU_GET_PA) = 0"),
    ...DEVICE_CLOSE,
    "ioctl(iommufd, IOMMU_IOAS_UNMAP) = 0",
    "close(iommufd)",
  ];
}

const CONTROL_PLANE: Readonly<Record<AccessPath, readonly string[]>> = {
  "container-type1": CONTAINER_PLANE,
  "iommufd-compat": CONTAINER_PLANE,
  "iommufd-cdev": cdevPlane("vfioN", 0),
  "noiommu-cdev": cdevPlane("noiommu-vfioN", 4),
};

const PATHS: readonly AccessPath[] = [
  "container-type1",
  "iommufd-compat",
  "iommufd-cdev",
  "noiommu-cdev",
];

describe("one assignment through four access paths", () => {
  const runs = new Map<AccessPath, Run>();
  // Four boots: generous, so a loaded machine does not fail the hook.
  beforeAll(() => {
    for (const path of PATHS) runs.set(path, runVmm(path));
  }, 60_000);
  const run = (path: AccessPath) => runs.get(path)!;

  test.each(PATHS)("%s: the data plane is mmap, SET_IRQS, read(eventfd) + UNMASK", (path) => {
    expect(dataPlane(run(path).lines)).toEqual(DATA_PLANE);
  });

  test.each(PATHS)("%s: the control plane is the path's table", (path) => {
    const dp = new Set(DATA_PLANE);
    expect(run(path).lines.filter((l) => !dp.has(l))).toEqual(CONTROL_PLANE[path]);
  });

  test("the iommufd compat path issues exactly the container path's syscalls", () => {
    expect(run("iommufd-compat").lines).toEqual(run("container-type1").lines);
  });

  test("the same transfers end the same way on every path: DONE, one interrupt each", () => {
    for (const path of PATHS) {
      expect(run(path).statuses, path).toEqual([2, 2]);
      expect(run(path).interrupts, path).toEqual([1, 1]);
    }
  });

  test("guest memory ends byte for byte the same on every path", () => {
    const want = new Uint8Array(3 * PAGE);
    for (let i = 0; i < 3; i++) want.set(pattern(PAGE, 3), i * PAGE);
    for (const path of PATHS) expect(run(path).memory, path).toEqual(want);
  });

  test("only the no-IOMMU path taints the kernel (U, 64)", () => {
    for (const path of PATHS) {
      expect(run(path).tainted, path).toBe(path === "noiommu-cdev" ? String(1 << TAINT_USER) : "0");
    }
  });
});
