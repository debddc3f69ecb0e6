/**
 * tools/testing/selftests/vfio/vfio_iommufd_setup_test.c: FIXTURE(vfio_cdev) — the device's
 * cdev (`/dev/vfio/devices/vfioN` of c030000.dma-test on vfio-platform, found through sysfs
 * as vfio_pci_get_cdev_path() finds it) and a /dev/iommu, with the raw ioctls of the selftest.
 *
 * Ported, all of them: bind, get_info_without_bind_fails, bind_bad_iommufd_fails,
 * repeated_bind_fails, attach_detatch_pt (sic, as the selftest spells it),
 * attach_invalid_pt_fails. The selftest only asserts "fails"; each refusal is pinned to 7.3's
 * errno here.
 *
 * The fixture has no IOMMU-mode variants (a cdev is the iommufd path by definition); it runs
 * on the default build and on the iommufd-compat build (CONFIG_VFIO_CONTAINER=n), the two
 * kernels of the cross-mode suites, since the cdev must not depend on the container.
 */

import { IommuFd } from "@vfio-lab/iommufd";
import { O_RDWR, type Process } from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_GET_INFO,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_device_detach_iommufd_pt,
  vfio_device_info,
} from "@vfio-lab/kernel/uapi";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { type Booted, boot, cdevPath, DMA_TEST } from "./fixture.js";

const U32_MAX = 0xffff_ffff;

/** Writes `bytes` at a fresh user page of `p` and issues the ioctl with it; returns ret. */
function rawIoctl(p: Process, fd: number, request: number, bytes: Uint8Array): number {
  const va = p.malloc(bytes.length);
  p.poke(va, bytes);
  return p.ioctl(fd, request, va);
}

function bindIommufdIoctl(p: Process, cdevFd: number, iommufd: number): number {
  const size = vfio_device_bind_iommufd.size;
  return rawIoctl(
    p,
    cdevFd,
    VFIO_DEVICE_BIND_IOMMUFD,
    vfio_device_bind_iommufd.encode({ argsz: size, iommufd }),
  );
}

function getInfoIoctl(p: Process, cdevFd: number): number {
  return rawIoctl(
    p,
    cdevFd,
    VFIO_DEVICE_GET_INFO,
    vfio_device_info.encode({ argsz: vfio_device_info.size }),
  );
}

function attachPtIoctl(p: Process, cdevFd: number, ptId: number): number {
  return rawIoctl(
    p,
    cdevFd,
    VFIO_DEVICE_ATTACH_IOMMUFD_PT,
    vfio_device_attach_iommufd_pt.encode({
      argsz: vfio_device_attach_iommufd_pt.size,
      pt_id: ptId,
    }),
  );
}

function detachPtIoctl(p: Process, cdevFd: number): number {
  return rawIoctl(
    p,
    cdevFd,
    VFIO_DEVICE_DETACH_IOMMUFD_PT,
    vfio_device_detach_iommufd_pt.encode({ argsz: vfio_device_detach_iommufd_pt.size }),
  );
}

const BUILDS = [
  ["default", {}],
  ["CONFIG_VFIO_CONTAINER=n", { CONFIG_VFIO_CONTAINER: false }],
] as const;

describe.each(BUILDS)("vfio_cdev (%s)", (_name, config) => {
  let b: Booted;
  let cdevFd: number;
  let iommufd: number;

  // FIXTURE_SETUP(vfio_cdev)
  beforeEach(() => {
    b = boot({ config });
    cdevFd = b.p.open(cdevPath(b.p, DMA_TEST), O_RDWR);
    iommufd = b.p.open("/dev/iommu", O_RDWR);
  });

  // FIXTURE_TEARDOWN(vfio_cdev): both close fine, whatever the test did.
  afterEach(() => {
    b.p.close(cdevFd);
    b.p.close(iommufd);
    expect(b.kernel.allocator.totalPins).toBe(0);
  });

  test("bind", () => {
    expect(bindIommufdIoctl(b.p, cdevFd, iommufd)).toBe(0);
    expect(getInfoIoctl(b.p, cdevFd)).toBe(0);
  });

  test("get_info_without_bind_fails", () => {
    expect(() => getInfoIoctl(b.p, cdevFd)).toThrowErrno("EINVAL");
  });

  test("bind_bad_iommufd_fails", () => {
    expect(() => bindIommufdIoctl(b.p, cdevFd, -2)).toThrowErrno("EINVAL");
  });

  test("repeated_bind_fails", () => {
    expect(bindIommufdIoctl(b.p, cdevFd, iommufd)).toBe(0);
    expect(() => bindIommufdIoctl(b.p, cdevFd, iommufd)).toThrowErrno("EINVAL");
  });

  test("attach_detatch_pt", () => {
    expect(bindIommufdIoctl(b.p, cdevFd, iommufd)).toBe(0);
    const ioasId = IommuFd.fromFd(b.p, iommufd).ioasAlloc();
    expect(attachPtIoctl(b.p, cdevFd, ioasId)).toBe(0);
    expect(detachPtIoctl(b.p, cdevFd)).toBe(0);
  });

  test("attach_invalid_pt_fails", () => {
    expect(bindIommufdIoctl(b.p, cdevFd, iommufd)).toBe(0);
    expect(() => attachPtIoctl(b.p, cdevFd, U32_MAX)).toThrowErrno("ENOENT");
  });
});
