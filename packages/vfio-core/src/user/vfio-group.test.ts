import { IommuFd } from "@vfio-lab/iommufd";
import { VFIO_GROUP_FLAGS_VIABLE, VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import {
  type CoreWorldOptions,
  coreSetup,
  DMAT0,
  DMAT1,
  sysfsIommuGroupGet,
} from "../../test/core-fixture.js";
import { VfioContainer } from "./vfio-container.js";
import { VfioGroup } from "./vfio-group.js";

/** The board with type1 loaded and the DMA engine behind the SMMU (group 1) on the test driver. */
const boot = (opts: CoreWorldOptions = {}) => coreSetup({ type1: true, bind: [DMAT0], ...opts });

describe("VfioGroup", () => {
  test("status: viable, then CONTAINER_SET after setContainer, cleared by unsetContainer", () => {
    const b = boot();
    const group = VfioGroup.open(b.p, sysfsIommuGroupGet(b.p, DMAT0));
    expect(group.path).toBe("/dev/vfio/1");
    expect(group.status()).toEqual({
      flags: VFIO_GROUP_FLAGS_VIABLE,
      viable: true,
      containerSet: false,
    });
    const container = VfioContainer.open(b.p);
    group.setContainer(container);
    expect(group.status().containerSet).toBe(true);
    group.unsetContainer();
    expect(group.status().containerSet).toBe(false);
    group.close();
    container.close();
  });

  test("/dev/vfio/<N> exists only while a VFIO driver holds a device of group N", () => {
    const b = boot({ bind: [] });
    // c030000.dma-test is still bound to its kernel driver: no VFIO group yet.
    expect(() => VfioGroup.open(b.p, sysfsIommuGroupGet(b.p, DMAT0))).toThrowErrno("ENOENT");
  });

  test("setContainer takes an iommufd, or a bare fd", () => {
    // The iommufd_compat kernel (CONFIG_VFIO_CONTAINER=n).
    const b = boot({ config: { CONFIG_VFIO_CONTAINER: false } });
    const group = VfioGroup.open(b.p, 1);
    const iommufd = IommuFd.open(b.p);
    group.setContainer(iommufd);
    expect(group.status().containerSet).toBe(true);
    group.unsetContainer();
    group.setContainer(iommufd.fd);
    expect(group.status().containerSet).toBe(true);
  });

  test("deviceFd: a device fd once the container has an IOMMU", () => {
    const b = boot();
    const container = VfioContainer.open(b.p);
    const group = VfioGroup.open(b.p, 1);
    group.setContainer(container);
    // vfio_group_use_container(): no IOMMU driver yet.
    expect(() => group.deviceFd(DMAT0.name)).toThrowErrno("EINVAL");
    container.setIommu(VFIO_TYPE1v2_IOMMU);
    const device = group.deviceFd(DMAT0.name);
    expect(device.group).toBe(group);
    expect(device.fd).toBeGreaterThan(group.fd);
    expect(() => group.deviceFd("c031000.dma-test")).toThrowErrno("ENODEV");
    // The device fd keeps the container in use.
    expect(() => group.unsetContainer()).toThrowErrno("EBUSY");
    device.close();
    group.unsetContainer();
  });

  test("the kernel's refusals come through: EBUSY, EBADF, EBADFD", () => {
    const b = boot();
    const group = VfioGroup.open(b.p, 1);
    expect(() => VfioGroup.open(b.p, 1)).toThrowErrno("EBUSY");
    expect(() => group.setContainer(-1)).toThrowErrno("EBADF");
    expect(() => group.setContainer(b.p.eventfd())).toThrowErrno("EBADFD");
    expect(() => group.unsetContainer()).toThrowErrno("EINVAL");
    expect(() => VfioGroup.open(b.p, 7)).toThrowErrno("ENOENT");
  });

  test("opens a no-IOMMU group by name (`noiommu-N`) or path", () => {
    const b = boot({ noiommu: true, bind: [DMAT1] });
    const n = sysfsIommuGroupGet(b.p, DMAT1);
    const group = VfioGroup.open(b.p, `noiommu-${n}`);
    expect(group.path).toBe(`/dev/vfio/noiommu-${n}`);
    expect(group.status().viable).toBe(true);
    group.close();
    VfioGroup.open(b.p, `/dev/vfio/noiommu-${n}`).close();
  });
});
