/**
 * A shared IOMMU group (design §4.4): the default board has none — arm-smmu-v3 refuses the second
 * DMA test engine's aliasing StreamID instead of grouping it — so the scenario boots the
 * `sharedGroup()` board: the two `vfio-lab,dma-test` engines behind one grouping IOMMU (group
 * 0), both bound to their kernel driver at boot. Engine A goes to vfio-platform; B stays with
 * vfio-lab-dma-test, a DMA-API driver.
 *
 * Every step and number is the oracle's (oracle-probes/vfio-group-viability.7.3.txt, where edu
 * and e1000 share group 1 on QEMU; ORC numbers below): with B's driver bound the group is not
 * viable and user space cannot claim it; unbound, it is; while user space owns it, a kernel
 * driver's bind fails with EBUSY and no message; once everything is closed it binds again. With
 * both engines on vfio-platform one group fd serves both devices, and the cdev path and the
 * group path exclude each other.
 *
 * Caveat: the grouping IOMMU has no hardware model, so the scenario asserts ownership and
 * viability only, never DMA isolation.
 */

import { IommuFd } from "@vfio-lab/iommufd";
import { VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { VfioContainer, VfioDevice, VfioGroup } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import { VFIO_PLATFORM } from "../../src/vfio-platform.js";
import {
  assignToDriver,
  bindTo,
  boards,
  bootLab,
  cdevPath,
  DEV,
  dmesgOf,
  dmesgText,
  driverOf,
  iommuGroupOf,
  type LabDevice,
  ls,
  SHARED_GROUP_DEVICES,
  unbind,
} from "./fixture.js";

const KDRV = "vfio-lab-dma-test";
const A: LabDevice = { bus: "platform", name: SHARED_GROUP_DEVICES[0], base: 0x0c03_0000 };
const B: LabDevice = { bus: "platform", name: SHARED_GROUP_DEVICES[1], base: 0x0c03_1000 };

/** The shared-group board with A on vfio-platform and B on its kernel driver. */
function sharedLab() {
  const lab = bootLab({
    board: boards.sharedGroup(),
    groupingIommu: true,
    modules: ["vfio_platform"],
    install: ["vfio_platform_dmatest"],
  });
  expect(assignToDriver(lab.admin, A, VFIO_PLATFORM).driver).toBe(VFIO_PLATFORM);
  return lab;
}

test("on the default board the second engine has no group: arm-smmu-v3 refuses its alias", () => {
  const lab = bootLab();
  expect(dmesgText(lab.kernel)).toContain(
    `platform ${DEV.DMA_TEST1.name}: Aliasing StreamID 0x30 (from ${DEV.DMA_TEST0.name}) unsupported, expect DMA to be broken`,
  );
  expect(iommuGroupOf(lab.admin, DEV.DMA_TEST0)).toBe(1);
  expect(iommuGroupOf(lab.admin, DEV.DMA_TEST1)).toBeNull();
});

test("on the shared-group board both engines are in group 0, bound to their kernel driver", () => {
  const lab = bootLab({ board: boards.sharedGroup(), groupingIommu: true });
  for (const d of [A, B]) {
    expect(iommuGroupOf(lab.admin, d)).toBe(0);
    expect(driverOf(lab.admin, d)).toBe(KDRV);
  }
  expect(ls(lab.admin, "/sys/kernel/iommu_groups/0/devices").sort()).toEqual([A.name, B.name]);
});

describe("one engine on vfio-platform, the other on its kernel driver", () => {
  test("the group is not viable; a container cannot claim it and it stays so (ORC 013–015)", () => {
    const lab = sharedLab();
    expect(driverOf(lab.admin, B)).toBe(KDRV);
    const container = VfioContainer.open(lab.vmm);
    const group = VfioGroup.open(lab.vmm, 0);
    expect(group.status().flags).toBe(0);
    expect(() => group.setContainer(container)).toThrowErrno("EPERM");
    expect(group.status().flags).toBe(0);
  });

  test("an iommufd takes the group, but GET_DEVICE_FD is EPERM; B is no VFIO device (ORC 016–020)", () => {
    const lab = sharedLab();
    const group = VfioGroup.open(lab.vmm, 0);
    group.setContainer(IommuFd.open(lab.vmm));
    expect(group.status().flags).toBe(0x3);
    expect(() => group.deviceFd(A.name)).toThrowErrno("EPERM");
    expect(() => group.deviceFd(B.name)).toThrowErrno("ENODEV");
  });

  test("the cdev cannot bind either: EPERM (ORC 022–023)", () => {
    const lab = sharedLab();
    const device = VfioDevice.openCdev(lab.vmm, cdevPath(lab.vmm, A));
    expect(() => device.bindIommufd(IommuFd.open(lab.vmm))).toThrowErrno("EPERM");
  });
});

describe("B unbound: the group is viable", () => {
  test("GET_STATUS VIABLE, then SET_CONTAINER, SET_IOMMU, GET_DEVICE_FD (ORC 024–029)", () => {
    const lab = sharedLab();
    unbind(lab.admin, B);
    const container = VfioContainer.open(lab.vmm);
    const group = VfioGroup.open(lab.vmm, 0);
    expect(group.status().flags).toBe(0x1);
    group.setContainer(container);
    container.setIommu(VFIO_TYPE1v2_IOMMU);
    expect(group.deviceFd(A.name).info().numIrqs).toBe(1);
  });

  test("a kernel driver cannot bind into the user-owned group: EBUSY, no message (ORC 030)", () => {
    const lab = sharedLab();
    unbind(lab.admin, B);
    const container = VfioContainer.open(lab.vmm);
    const group = VfioGroup.open(lab.vmm, 0);
    group.setContainer(container);
    container.setIommu(VFIO_TYPE1v2_IOMMU);
    const device = group.deviceFd(A.name);
    const log = dmesgOf(lab.kernel, () =>
      expect(() => bindTo(lab.admin, B, KDRV)).toThrowErrno("EBUSY"),
    );
    expect(log).toEqual([]);
    expect(driverOf(lab.admin, B)).toBeNull();

    // Everything closed, the group is free again and the driver binds (ORC 031–033).
    device.close();
    group.close();
    container.close();
    const again = dmesgOf(lab.kernel, () => expect(bindTo(lab.admin, B, KDRV)).toBe(B.name.length));
    expect(again).toEqual([`${KDRV} ${B.name}: DMA test engine 1.0`]);
    expect(driverOf(lab.admin, B)).toBe(KDRV);
  });

  test("a cdev-bound A also keeps B's driver out: EBUSY (ORC 034–037)", () => {
    const lab = sharedLab();
    const device = VfioDevice.openCdev(lab.vmm, cdevPath(lab.vmm, A));
    const iommufd = IommuFd.open(lab.vmm);
    expect(() => device.bindIommufd(iommufd)).toThrowErrno("EPERM");
    unbind(lab.admin, B);
    expect(device.bindIommufd(iommufd)).toBeGreaterThan(0);
    expect(() => bindTo(lab.admin, B, KDRV)).toThrowErrno("EBUSY");
    expect(driverOf(lab.admin, B)).toBeNull();
  });
});

describe("both engines on vfio-platform", () => {
  function bothLab() {
    const lab = sharedLab();
    expect(assignToDriver(lab.admin, B, VFIO_PLATFORM).driver).toBe(VFIO_PLATFORM);
    return lab;
  }

  test("one group fd serves both devices (ORC 041–046)", () => {
    const lab = bothLab();
    const container = VfioContainer.open(lab.vmm);
    const group = VfioGroup.open(lab.vmm, 0);
    expect(group.status().flags).toBe(0x1);
    group.setContainer(container);
    container.setIommu(VFIO_TYPE1v2_IOMMU);
    const a = group.deviceFd(A.name);
    const b = group.deviceFd(B.name);
    expect(a.fd).not.toBe(b.fd);
    expect(ls(lab.admin, "/dev/vfio/devices")).toHaveLength(2);
  });

  test("a cdev cannot bind while the group is open: EBUSY (ORC 047–048)", () => {
    const lab = bothLab();
    const group = VfioGroup.open(lab.vmm, 0);
    const device = VfioDevice.openCdev(lab.vmm, cdevPath(lab.vmm, B));
    expect(() => device.bindIommufd(IommuFd.open(lab.vmm))).toThrowErrno("EBUSY");
    group.close();
  });

  test("with a cdev bound the group cannot be opened: EBUSY (ORC 049–051, 064–066)", () => {
    const lab = bothLab();
    const device = VfioDevice.openCdev(lab.vmm, cdevPath(lab.vmm, B));
    expect(device.bindIommufd(IommuFd.open(lab.vmm))).toBeGreaterThan(0);
    expect(() => VfioGroup.open(lab.vmm, 0)).toThrowErrno("EBUSY");
    device.close();
    expect(VfioGroup.open(lab.vmm, 0).status().flags).toBe(0x1);
  });
});
