/**
 * The device fd of a real bus driver, seen through vfio-core's user-space wrapper `VfioDevice`
 * (packages/vfio-core/src/user/vfio-device.ts): what the wrapper decodes and issues for regions,
 * IRQs and reset, and what vfio-core's suites once asked of their stand-in driver — binding by
 * driver_override only, the module kept in use by an open device fd, reads split and clamped,
 * EFAULT, mmap's refusals, UNMASK by eventfd — now answered by vfio-platform
 * (drivers/vfio/platform/vfio_platform_common.c, vfio_platform_irq.c) on c030000.dma-test
 * with the model-only vfio_platform_dmatest reset module.
 *
 * The wrapper's tests that need no more than GET_INFO stay in vfio-core
 * (src/user/vfio-device.test.ts, on core-fixture.ts's minimal driver); vfio-platform's own
 * suites (src/vfio-platform-common.test.ts, src/vfio-platform-irq.test.ts) hold one test per
 * errno of the driver.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { DMA_TEST_ID } from "@vfio-lab/hw-soc";
import {
  EFD_NONBLOCK,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "@vfio-lab/kernel";
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
import { regionOffset, VfioContainer, VfioGroup } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import { VFIO_PLATFORM, VFIO_PLATFORM_MODULE } from "../../src/index.js";
import { dmesgDuring } from "../../src/testing/index.js";
import { boot, DMA_TEST, PAGE_SIZE, sysfsIommuGroupGet, vdevOf } from "./fixture.js";

/** The DMA engine's device fd, taken through a type1 v2 container. */
function groupDevice() {
  const b = boot();
  const container = VfioContainer.open(b.p);
  const group = VfioGroup.open(b.p, sysfsIommuGroupGet(b.p, DMA_TEST));
  group.setContainer(container);
  container.setIommu(VFIO_TYPE1v2_IOMMU);
  return { ...b, container, group, device: group.deviceFd(DMA_TEST.name) };
}

/** The eventfd's count, read without blocking (0 when nothing was signalled). */
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

function signal(p: Process, efd: number): void {
  const va = p.malloc(8);
  p.poke(va, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  p.write(efd, va, 8);
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
    const { lines } = dmesgDuring(w.kernel, () => w.device.reset());
    expect(lines).toEqual([`${VFIO_PLATFORM} ${DMA_TEST.name}: VFIO: reset`]);
    expect(() =>
      w.device.feature(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_BUS_MASTER),
    ).toThrowErrno("ENOTTY");
  });
});

describe("the device fd on vfio-platform", () => {
  test("vfio-platform binds only through driver_override", () => {
    const b = boot({ bind: [] });
    expect(b.p.readdir(`/sys/bus/platform/drivers/${VFIO_PLATFORM}`)).toContain("bind");
    expect(b.p.readlink(`/sys/bus/platform/devices/${DMA_TEST.name}/driver`)).toContain(
      "vfio-lab-dma-test",
    );
    b.p.writeFile(`/sys/bus/platform/devices/${DMA_TEST.name}/driver/unbind`, DMA_TEST.name);
    b.p.writeFile("/sys/bus/platform/drivers_probe", DMA_TEST.name);
    // Without driver_override the kernel driver matches again, never vfio-platform.
    expect(b.p.readlink(`/sys/bus/platform/devices/${DMA_TEST.name}/driver`)).toContain(
      "vfio-lab-dma-test",
    );
  });

  test("the module stays in use while a device fd is open", () => {
    const w = groupDevice();
    // delete_module(): a module with references is EWOULDBLOCK (rmmod: "is in use").
    expect(() => w.kernel.rmmod(VFIO_PLATFORM_MODULE)).toThrowErrno("EAGAIN");
    w.device.close();
  });

  test("read: clamped at the region's end, split into aligned accesses", () => {
    const w = groupDevice();
    // The last register is 4 bytes; asking for 8 returns 4.
    expect(w.device.readRegion(0, PAGE_SIZE - 4, 8)).toHaveLength(4);
    // ID 0x444d4154 reads T A M D in memory order; from offset 1: a byte, then a halfword.
    expect(w.device.readRegion(0, 1, 3)).toEqual(new Uint8Array([0x41, 0x4d, 0x44]));
  });

  describe("any read inside the region returns what a CPU load sees", () => {
    const w = groupDevice();
    fcTest.prop([fc.integer({ min: 0, max: 0x2f }), fc.integer({ min: 1, max: 24 })], {
      numRuns: 60,
    })("pread(len) at off: min(len, size - off) bytes, equal to the bus's bytes", (off, len) => {
      const got = w.device.readRegion(0, off, len);
      const n = Math.min(len, PAGE_SIZE - off);
      expect(got).toHaveLength(n);
      expect(got).toEqual(w.soc.bus.readBytes(DMA_TEST.base + off, n));
    });
  });

  test("read into an unwritable buffer: EFAULT", () => {
    const w = groupDevice();
    const ro = w.p.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | 0x20, -1, 0);
    expect(() => w.p.pread(w.device.fd, ro, 4, regionOffset(0, 0))).toThrowErrno("EFAULT");
  });

  test("mmap: MAP_SHARED only, within the region (EINVAL otherwise)", () => {
    const w = groupDevice();
    const fd = w.device.fd;
    const rw = PROT_READ | PROT_WRITE;
    expect(() => w.p.mmap(0, PAGE_SIZE, rw, MAP_PRIVATE, fd, 0)).toThrowErrno("EINVAL");
    expect(() => w.p.mmap(0, 2 * PAGE_SIZE, rw, MAP_SHARED, fd, 0)).toThrowErrno("EINVAL");
    expect(() => w.p.mmap(0, PAGE_SIZE, rw, MAP_SHARED, fd, regionOffset(1))).toThrowErrno(
      "EINVAL",
    );
    const va = w.p.mmap(0, PAGE_SIZE, rw, MAP_SHARED, fd, 0);
    expect(w.p.readFile(`/proc/${w.p.pid}/maps`)).toContain(va.toString(16).padStart(8, "0"));
  });

  test("UNMASK by eventfd (virqfd): a signal re-enables the automasked line", () => {
    const w = groupDevice();
    const trigger = w.p.eventfd(0, EFD_NONBLOCK);
    const unmask = w.p.eventfd(0, EFD_NONBLOCK);
    w.device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [trigger] } });
    w.device.setIrqs({ index: 0, action: "unmask", data: { eventfds: [unmask] } });
    w.device.setIrqs({ index: 0, action: "trigger" });
    expect(readCount(w.p, trigger)).toBe(1n);
    w.device.setIrqs({ index: 0, action: "trigger" });
    expect(readCount(w.p, trigger)).toBe(0n); // automasked
    signal(w.p, unmask);
    w.device.setIrqs({ index: 0, action: "trigger" });
    expect(readCount(w.p, trigger)).toBe(1n);
    expect(vdevOf(w.kernel, DMA_TEST).irqs[0]!.unmask.virqfd).not.toBeNull();
    w.device.close();
  });
});
