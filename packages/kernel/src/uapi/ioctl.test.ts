import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  _IO,
  _IOC,
  _IOC_DIR,
  _IOC_NONE,
  _IOC_NR,
  _IOC_READ,
  _IOC_SIZE,
  _IOC_TYPE,
  _IOC_WRITE,
  _IOR,
  _IOW,
  _IOWR,
  formatIoctl,
} from "./ioctl.js";
import { defineStruct, s32 } from "./struct.js";

// include/uapi/linux/vfio.h: VFIO_TYPE ';', VFIO_BASE 100; include/uapi/linux/iommufd.h:
// IOMMUFD_TYPE ';', IOMMUFD_CMD_BASE 0x80. Every VFIO and IOMMUFD request is _IO().
const VFIO_TYPE = ";";
const VFIO_BASE = 100;
const IOMMUFD_CMD_BASE = 0x80;

// include/uapi/linux/rtc.h: struct rtc_time is nine ints.
const rtc_time = defineStruct("rtc_time", [
  ["tm_sec", s32],
  ["tm_min", s32],
  ["tm_hour", s32],
  ["tm_mday", s32],
  ["tm_mon", s32],
  ["tm_year", s32],
  ["tm_wday", s32],
  ["tm_yday", s32],
  ["tm_isdst", s32],
]);

describe("ioctl numbers match Linux's", () => {
  it.each([
    ["VFIO_GET_API_VERSION", _IO(VFIO_TYPE, VFIO_BASE + 0), 0x3b64],
    ["VFIO_CHECK_EXTENSION", _IO(VFIO_TYPE, VFIO_BASE + 1), 0x3b65],
    ["VFIO_GROUP_SET_CONTAINER", _IO(VFIO_TYPE, VFIO_BASE + 4), 0x3b68],
    ["VFIO_DEVICE_GET_INFO", _IO(VFIO_TYPE, VFIO_BASE + 7), 0x3b6b],
    ["VFIO_DEVICE_SET_IRQS", _IO(VFIO_TYPE, VFIO_BASE + 10), 0x3b6e],
    ["VFIO_IOMMU_MAP_DMA", _IO(VFIO_TYPE, VFIO_BASE + 13), 0x3b71],
    ["IOMMU_DESTROY", _IO(VFIO_TYPE, IOMMUFD_CMD_BASE), 0x3b80],
    ["IOMMU_IOAS_MAP", _IO(0x3b, IOMMUFD_CMD_BASE + 5), 0x3b85],
    ["RTC_AIE_ON", _IO("p", 0x01), 0x7001],
    ["RTC_RD_TIME", _IOR("p", 0x09, rtc_time), 0x80247009],
    ["RTC_SET_TIME", _IOW("p", 0x0a, rtc_time), 0x4024700a],
    ["RTC_IRQP_READ", _IOR("p", 0x0b, 8), 0x8008700b],
    ["RTC_WKALM_RD", _IOR("p", 0x10, 40), 0x80287010],
    ["EVIOCGVERSION", _IOR("E", 0x01, 4), 0x80044501],
    ["FS_IOC_GETFSLABEL", _IOR(0x94, 49, 256), 0x81009431],
    ["FS_IOC_SETFSLABEL", _IOW(0x94, 50, 256), 0x41009432],
    ["DRM_IOCTL_VERSION", _IOWR("d", 0x00, 64), 0xc0406400],
  ])("%s", (_name, request, expected) => {
    expect(request).toBe(expected);
  });

  it("results are unsigned 32-bit numbers even with the READ bit set", () => {
    const request = _IOWR("d", 0, 64);
    expect(request).toBeGreaterThan(0);
    expect(request).toBe(request >>> 0);
    expect(_IOC(3, 0xff, 0xff, 0x3fff)).toBe(0xffff_ffff);
  });
});

describe("decoders", () => {
  it("take a request apart again", () => {
    const request = _IOR("p", 0x09, rtc_time);
    expect(_IOC_DIR(request)).toBe(_IOC_READ);
    expect(_IOC_TYPE(request)).toBe("p".charCodeAt(0));
    expect(_IOC_NR(request)).toBe(0x09);
    expect(_IOC_SIZE(request)).toBe(36);
    expect(_IOC_DIR(_IO(";", 100))).toBe(_IOC_NONE);
    expect(_IOC_DIR(_IOW("p", 0x0a, 36))).toBe(_IOC_WRITE);
    expect(_IOC_DIR(_IOWR("d", 0, 64))).toBe(_IOC_READ | _IOC_WRITE);
  });

  test.prop([
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 0xff }),
    fc.integer({ min: 0, max: 0xff }),
    fc.integer({ min: 0, max: 0x3fff }),
  ])("decode(_IOC(dir, type, nr, size)) gives the fields back", (dir, type, nr, size) => {
    const request = _IOC(dir, type, nr, size);
    expect([_IOC_DIR(request), _IOC_TYPE(request), _IOC_NR(request), _IOC_SIZE(request)]).toEqual([
      dir,
      type,
      nr,
      size,
    ]);
    expect(request).toBeGreaterThanOrEqual(0);
    expect(request).toBeLessThanOrEqual(0xffff_ffff);
  });
});

describe("encoders refuse fields that would spill into their neighbours", () => {
  it("a size of 16 KiB or more (_IOC_TYPECHECK in the kernel)", () => {
    expect(_IOR("x", 1, 0x3fff)).toBe(0xbfff7801);
    expect(() => _IOR("x", 1, 0x4000)).toThrow(RangeError);
    expect(() => _IOW("x", 1, { size: 1 << 20 })).toThrow(RangeError);
  });

  it("a type that is not one 8-bit character", () => {
    expect(() => _IO("ab", 1)).toThrow(RangeError);
    expect(() => _IO("", 1)).toThrow(RangeError);
    expect(() => _IO("é", 1)).not.toThrow();
    expect(() => _IO("ā", 1)).toThrow(RangeError);
    expect(() => _IO(0x100, 1)).toThrow(RangeError);
  });

  it("an nr or dir out of range, negative or fractional", () => {
    expect(() => _IO(";", 0x100)).toThrow(RangeError);
    expect(() => _IO(";", -1)).toThrow(RangeError);
    expect(() => _IO(";", 1.5)).toThrow(RangeError);
    expect(() => _IOC(4, ";", 0, 0)).toThrow(RangeError);
  });
});

describe("formatIoctl", () => {
  it("spells a request as its C definition", () => {
    expect(formatIoctl(0x3b64)).toBe("_IO(';', 0x64)");
    expect(formatIoctl(0x80247009)).toBe("_IOR('p', 0x9, 36)");
    expect(formatIoctl(0x41009432)).toBe("_IOW(0x94, 0x32, 256)");
    expect(formatIoctl(0xc0406400)).toBe("_IOWR('d', 0x0, 64)");
    expect(formatIoctl(_IOC(_IOC_NONE, ";", 1, 8))).toBe("_IOC(_IOC_NONE, ';', 0x1, 8)");
  });
});
