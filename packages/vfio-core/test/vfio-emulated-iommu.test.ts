/**
 * The emulated-IOMMU path of vfio_main.c as an mdev-style driver uses it, end to end from user
 * space: vfio_register_emulated_iommu_dev() (a private group, no taint; EEXIST for a device that
 * already has an IOMMU group), and the driver pinning and reading user memory through the core
 * (vfio_pin_pages(), vfio_dma_rw()) while user space's unmaps reach its `dma_unmap` first —
 * through a type1 container and through an iommufd cdev. The driver is core-fixture.ts's
 * `vfio-core-test` registered emulated on c031000.dma-test, the engine the SMMU refuses.
 *
 * vfio-platform registers emulated only for the 2024 RFC (its devices cannot DMA, so it has no
 * `dma_unmap` and cannot pin): packages/vfio-platform/test/rfc-*.test.ts.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { IommuFd } from "@vfio-lab/iommufd";
import { IOMMU_READ, IOMMU_WRITE, TAINT_USER } from "@vfio-lab/kernel";
import { VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { VfioContainer, VfioDevice, VfioGroup } from "../src/user/index.js";
import {
  cdevPath,
  coreSetup,
  DMAT0,
  DMAT1,
  dmesg,
  mmapAnon,
  sysfsIommuGroupGet,
  TEST_DRIVER,
  userPhys,
  vdevOf,
} from "./core-fixture.js";

/** The engine without an IOMMU group, registered emulated, its fd through a type1 v2 container. */
function open() {
  const w = coreSetup({ type1: true, driver: { emulated: true }, bind: [DMAT1] });
  const container = VfioContainer.open(w.p);
  const group = VfioGroup.open(w.p, sysfsIommuGroupGet(w.p, DMAT1));
  group.setContainer(container);
  container.setIommu(VFIO_TYPE1v2_IOMMU);
  const device = group.deviceFd(DMAT1.name);
  return { ...w, container, group, device, vdev: vdevOf(w, DMAT1) };
}

describe("emulated-IOMMU registration", () => {
  test("a device with an IOMMU group cannot register: its iommu_group link exists (EEXIST)", () => {
    const w = coreSetup({ driver: { emulated: true }, bind: [DMAT0] });
    expect(() => w.p.readlink(`/sys/bus/platform/devices/${DMAT0.name}/driver`)).toThrowErrno(
      "ENOENT",
    );
    expect(dmesg(w).slice(-2)).toEqual([
      expect.stringMatching(
        new RegExp(`^${TEST_DRIVER} c030000\\.dma-test: Failed to add to iommu group \\d+: -17$`),
      ),
      expect.stringMatching(new RegExp(`probe with driver ${TEST_DRIVER} failed with error -17$`)),
    ]);
  });

  test("a private group /dev/vfio/<N> (not noiommu-), no taint", () => {
    const w = open();
    expect(w.kernel.taint.test(TAINT_USER)).toBe(false);
    expect(w.group.path).toMatch(/^\/dev\/vfio\/\d+$/);
    expect(w.group.status().viable).toBe(true);
  });
});

describe("the driver's pins and user space's unmaps", () => {
  test("type1: the driver pins what user space mapped; an unmap reaches dma_unmap first", () => {
    const w = open();
    const buf = mmapAnon(w.p, 2 * PAGE_SIZE);
    w.p.poke(buf, new Uint8Array(2 * PAGE_SIZE).fill(0x42));
    w.container.mapDma({ vaddr: buf, iova: 0x10_0000n, size: 2 * PAGE_SIZE });
    const pfns = w.vdev.pinPages(0x10_0000n, 2, IOMMU_READ | IOMMU_WRITE);
    expect(pfns.map((pfn) => pfn * PAGE_SIZE)).toEqual([
      userPhys(w.p, buf),
      userPhys(w.p, buf + PAGE_SIZE),
    ]);
    const seen = new Uint8Array(16);
    w.vdev.dmaRw(w.p, 0x10_0800n, seen, false);
    expect(seen).toEqual(new Uint8Array(16).fill(0x42));

    expect(w.container.unmapDma({ iova: 0x10_0000n, size: 2 * PAGE_SIZE })).toBe(
      BigInt(2 * PAGE_SIZE),
    );
    expect(w.vdev.unmapCalls).toEqual([[0x10_0000n, BigInt(2 * PAGE_SIZE)]]);
    expect(w.vdev.pins).toEqual([]);
    w.device.close();
    w.group.close();
    w.container.close();
    expect(w.kernel.allocator.totalPins).toBe(0);
  });

  test("iommufd: bind makes an access object; the same pin and unmap path", () => {
    const w = coreSetup({ driver: { emulated: true }, bind: [DMAT1] });
    const iommufd = IommuFd.open(w.p);
    const device = VfioDevice.openCdev(w.p, cdevPath(w.p, DMAT1));
    device.bindIommufd(iommufd);
    const ioas = iommufd.ioasAlloc();
    // An access attaches to the IOAS itself: the id written back is the IOAS's.
    expect(device.attachPt(ioas)).toBe(ioas);
    const vdev = vdevOf(w, DMAT1);
    const buf = mmapAnon(w.p, PAGE_SIZE);
    w.p.poke(buf, new Uint8Array(PAGE_SIZE).fill(7));
    const iova = iommufd.map(ioas, buf, PAGE_SIZE);
    const [pfn] = vdev.pinPages(iova, 1, IOMMU_READ);
    expect(pfn! * PAGE_SIZE).toBe(userPhys(w.p, buf));
    expect(iommufd.unmap(ioas, iova, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
    expect(vdev.unmapCalls).toEqual([[iova, BigInt(PAGE_SIZE)]]);
    expect(vdev.pins).toEqual([]);
    device.close();
    iommufd.close();
    expect(w.kernel.allocator.totalPins).toBe(0);
  });
});
