import { DMA_TEST_ID, PAGE_SIZE } from "@vfio-lab/hw-soc";
import { IommuFd } from "@vfio-lab/iommufd";
import { EFD_NONBLOCK, type Process } from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_FEATURE_BUS_MASTER,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FLAGS_PLATFORM,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  VFIO_TYPE1v2_IOMMU,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { boot, cdevPath, DMA_TEST, vdevOf } from "../../test/fixture.js";
import { VfioContainer } from "./vfio-container.js";
import { regionOffset, VfioDevice } from "./vfio-device.js";
import { VfioGroup } from "./vfio-group.js";

/** The DMA engine's device fd, taken through a type1 v2 container. */
function groupDevice() {
  const b = boot();
  const container = VfioContainer.open(b.p);
  const group = VfioGroup.open(b.p, 1);
  group.setContainer(container);
  container.setIommu(VFIO_TYPE1v2_IOMMU);
  return { ...b, container, group, device: group.deviceFd(DMA_TEST.name) };
}

function readCount(p: Process, efd: number): bigint {
  const va = p.malloc(8);
  try {
    p.read(efd, va, 8);
  } catch (e) {
    if ((e as { code?: string }).code === "EAGAIN") return 0n;
    throw e;
  }
  return new DataView(p.peek(va, 8).buffer).getBigUint64(0, true);
}

const u32le = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
};

describe("VfioDevice from a group", () => {
  test("info, regionInfo and irqInfo decode what the driver reports", () => {
    const w = groupDevice();
    expect(w.device.info()).toEqual({
      flags: VFIO_DEVICE_FLAGS_PLATFORM | VFIO_DEVICE_FLAGS_RESET,
      numRegions: 1,
      numIrqs: 1,
      caps: [],
    });
    expect(w.device.regionInfo(0)).toEqual({
      index: 0,
      flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
      size: BigInt(PAGE_SIZE),
      offset: 0n,
      caps: [],
    });
    expect(w.device.irqInfo(0)).toEqual({
      index: 0,
      flags: VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED,
      count: 1,
    });
    expect(() => w.device.regionInfo(1)).toThrowErrno("EINVAL");
    expect(() => w.device.irqInfo(1)).toThrowErrno("EINVAL");
  });

  test("readRegion / writeRegion go through pread / pwrite at index << 40", () => {
    const w = groupDevice();
    expect(regionOffset(2, 0x10)).toBe((2n << 40n) + 0x10n);
    expect(w.device.readRegion(0, 0, 4)).toEqual(u32le(DMA_TEST_ID));
    expect(w.device.writeRegion(0, 0x24, u32le(0xcafe_f00d))).toBe(4);
    expect(w.device.readRegion(0, 0x24, 4)).toEqual(u32le(0xcafe_f00d));
  });

  test("mmapRegion maps the whole region with the region's permissions", () => {
    const w = groupDevice();
    const va = w.device.mmapRegion(0);
    expect(w.p.peek(va, 4)).toEqual(u32le(DMA_TEST_ID));
    w.p.poke(va + 0x24, u32le(0x1234_5678));
    expect(w.device.readRegion(0, 0x24, 4)).toEqual(u32le(0x1234_5678));
    w.p.munmap(va, PAGE_SIZE);
  });

  test("setIrqs: eventfd trigger, loopback by NONE and by BOOL, mask and unmask", () => {
    const w = groupDevice();
    const efd = w.p.eventfd(0, EFD_NONBLOCK);
    w.device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [efd] } });
    w.device.setIrqs({ index: 0, action: "trigger" });
    expect(readCount(w.p, efd)).toBe(1n);
    // Automasked by the loopback: a second one is not delivered until UNMASK.
    w.device.setIrqs({ index: 0, action: "trigger", data: { bools: [true] } });
    expect(readCount(w.p, efd)).toBe(0n);
    w.device.setIrqs({ index: 0, action: "unmask" });
    w.device.setIrqs({ index: 0, action: "trigger", data: { bools: [true] } });
    expect(readCount(w.p, efd)).toBe(1n);
    w.device.setIrqs({ index: 0, action: "unmask", data: { bools: [true] } });
    w.device.setIrqs({ index: 0, action: "mask" });
    w.device.setIrqs({ index: 0, action: "trigger" });
    expect(readCount(w.p, efd)).toBe(0n);
    // count 0 with DATA_NONE disables the trigger.
    w.device.setIrqs({ index: 0, action: "trigger", count: 0 });
  });

  test("setIrqs refusals are the kernel's (EINVAL from the core's header check)", () => {
    const w = groupDevice();
    expect(() => w.device.setIrqs({ index: 1, action: "trigger" })).toThrowErrno("EINVAL");
    expect(() =>
      w.device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [99] } }),
    ).toThrowErrno("EBADF");
  });

  test("reset runs the driver's reset; feature is ENOTTY for a driver without features", () => {
    const w = groupDevice();
    const before = vdevOf(w.kernel, DMA_TEST).resets;
    w.device.reset();
    expect(vdevOf(w.kernel, DMA_TEST).resets).toBe(before + 1);
    expect(() =>
      w.device.feature(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_BUS_MASTER),
    ).toThrowErrno("ENOTTY");
  });

  test("cdev-only ioctls on a group fd reach the driver, which does not know them", () => {
    const w = groupDevice();
    expect(() => w.device.attachPt(1)).toThrowErrno("ENOTTY");
    expect(() => w.device.bindIommufd(IommuFd.open(w.p))).toThrowErrno("EINVAL");
  });
});

describe("VfioDevice from its cdev", () => {
  function cdevWorld() {
    const b = boot();
    const iommufd = IommuFd.open(b.p);
    const device = VfioDevice.openCdev(b.p, cdevPath(b.p, DMA_TEST));
    return { ...b, iommufd, device };
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
