/**
 * VfioDevice against the VFIO core with core-fixture.ts's minimal bus driver: the group and cdev
 * paths to a device fd, and the ioctls the core answers itself. What the wrapper decodes from a
 * full driver (regions, IRQs, reset) is tested on vfio-platform:
 * packages/vfio-platform/test/selftests/vfio-device.test.ts.
 */

import { IommuFd } from "@vfio-lab/iommufd";
import { VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { cdevPath, coreSetup, DMAT0, sysfsIommuGroupGet } from "../../test/core-fixture.js";
import { VfioContainer } from "./vfio-container.js";
import { VfioDevice } from "./vfio-device.js";
import { VfioGroup } from "./vfio-group.js";

describe("VfioDevice from a group", () => {
  test("cdev-only ioctls on a group fd reach the driver, which does not know them", () => {
    const w = coreSetup({ type1: true, bind: [DMAT0] });
    const container = VfioContainer.open(w.p);
    const group = VfioGroup.open(w.p, sysfsIommuGroupGet(w.p, DMAT0));
    group.setContainer(container);
    container.setIommu(VFIO_TYPE1v2_IOMMU);
    const device = group.deviceFd(DMAT0.name);
    expect(() => device.attachPt(1)).toThrowErrno("ENOTTY");
    expect(() => device.bindIommufd(IommuFd.open(w.p))).toThrowErrno("EINVAL");
  });
});

describe("VfioDevice from its cdev", () => {
  function cdevWorld() {
    const w = coreSetup({ bind: [DMAT0] });
    const iommufd = IommuFd.open(w.p);
    const device = VfioDevice.openCdev(w.p, cdevPath(w.p, DMAT0));
    return { ...w, iommufd, device };
  }

  test("bindIommufd → devid; attachPt writes back the HWPT it attached; detachPt", () => {
    const w = cdevWorld();
    expect(() => w.device.info()).toThrowErrno("EINVAL");
    const devid = w.device.bindIommufd(w.iommufd);
    expect(devid).toBeGreaterThan(0);
    const ioas = w.iommufd.ioasAlloc();
    const hwpt = w.device.attachPt(ioas);
    // An IOAS is attached through an automatic HWPT: a new object id.
    expect(hwpt).not.toBe(ioas);
    expect(hwpt).not.toBe(devid);
    w.device.detachPt();
    expect(w.device.info().numRegions).toBe(1);
  });

  test("a token with a driver that matches none is EINVAL; a PASID attach is EOPNOTSUPP", () => {
    const w = cdevWorld();
    expect(() => w.device.bindIommufd(w.iommufd, { token: new Uint8Array(16) })).toThrowErrno(
      "EINVAL",
    );
    w.device.bindIommufd(w.iommufd);
    const ioas = w.iommufd.ioasAlloc();
    expect(() => w.device.attachPt(ioas, { pasid: 1 })).toThrowErrno("EOPNOTSUPP");
    expect(() => w.device.detachPt({ pasid: 1 })).toThrowErrno("EOPNOTSUPP");
  });
});
