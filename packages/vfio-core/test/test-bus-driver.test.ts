/**
 * The `vfio-lab-test` bus driver itself: what it must do as vfio-platform does, seen from user
 * space through the device fd (regions, read/write/mmap, IRQs, reset), and its emulated-IOMMU
 * mode, where the driver pins and reads user memory through the core (vfio_pin_pages(),
 * vfio_dma_rw()) and user space's unmaps reach its `dma_unmap`.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { IommuFd } from "@vfio-lab/iommufd";
import {
  EFD_NONBLOCK,
  IOMMU_READ,
  IOMMU_WRITE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  type Process,
  TAINT_USER,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_SET_IRQS,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_TYPE1v2_IOMMU,
  vfio_irq_set,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { VfioContainer, VfioDevice, VfioGroup } from "../src/user/index.js";
import { regionOffset } from "../src/user/vfio-device.js";
import {
  boot,
  cdevPath,
  DMA_TEST,
  DMA_TEST_NOIOMMU,
  mmapAnon,
  PAGE_SIZE,
  sysfsIommuGroupGet,
  userPhys,
  vdevOf,
} from "./fixture.js";

/**
 * A device fd through a type1 v2 container: the DMA engine behind the SMMU, or — emulated —
 * the engine without an IOMMU group, registered as an emulated-IOMMU device.
 */
function open(opts: { emulated?: boolean } = {}) {
  const board = opts.emulated ? DMA_TEST_NOIOMMU : DMA_TEST;
  const b = boot({ ...opts, bind: [board] });
  const container = VfioContainer.open(b.p);
  const group = VfioGroup.open(b.p, sysfsIommuGroupGet(b.p, board));
  group.setContainer(container);
  container.setIommu(VFIO_TYPE1v2_IOMMU);
  const device = group.deviceFd(board.name);
  return { ...b, container, group, device, vdev: vdevOf(b.kernel, board) };
}

function eventfdCount(p: Process, efd: number): bigint {
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

describe("vfio-lab-test binding", () => {
  test("binds only through driver_override", () => {
    const b = boot({ bind: [] });
    expect(b.p.readdir("/sys/bus/platform/drivers/vfio-lab-test")).toContain("bind");
    expect(b.p.readlink(`/sys/bus/platform/devices/${DMA_TEST.name}/driver`)).toContain(
      "vfio-lab-dma-test",
    );
    b.p.writeFile(`/sys/bus/platform/devices/${DMA_TEST.name}/driver/unbind`, DMA_TEST.name);
    b.p.writeFile("/sys/bus/platform/drivers_probe", DMA_TEST.name);
    // Without driver_override the kernel driver matches again, never vfio-lab-test.
    expect(b.p.readlink(`/sys/bus/platform/devices/${DMA_TEST.name}/driver`)).toContain(
      "vfio-lab-dma-test",
    );
  });

  test("the module stays in use while a device fd is open", () => {
    const w = open();
    // delete_module(): a module with references is EWOULDBLOCK (rmmod: "is in use").
    expect(() => w.kernel.rmmod("vfio_lab_test")).toThrowErrno("EAGAIN");
    w.device.close();
  });
});

describe("regions", () => {
  test("read: clamped at the region's end, split into aligned accesses", () => {
    const w = open();
    // The last register is 4 bytes; asking for 8 returns 4.
    expect(w.device.readRegion(0, PAGE_SIZE - 4, 8)).toHaveLength(4);
    // ID 0x444d4154 reads T A M D in memory order; from offset 1: a byte, then a halfword.
    expect(w.device.readRegion(0, 1, 3)).toEqual(new Uint8Array([0x41, 0x4d, 0x44]));
  });

  describe("any read inside the region returns what a CPU load sees", () => {
    const w = open();
    fcTest.prop([fc.integer({ min: 0, max: 0x2f }), fc.integer({ min: 1, max: 24 })], {
      numRuns: 60,
    })("pread(len) at off: min(len, size - off) bytes, equal to the bus's bytes", (off, len) => {
      const got = w.device.readRegion(0, off, len);
      const n = Math.min(len, PAGE_SIZE - off);
      expect(got).toHaveLength(n);
      expect(got).toEqual(w.soc.bus.readBytes(DMA_TEST.base + off, n));
    });
  });

  test("read/write past the region or into a region that does not exist: EINVAL", () => {
    const w = open();
    expect(() => w.device.readRegion(0, PAGE_SIZE, 4)).toThrowErrno("EINVAL");
    expect(() => w.device.readRegion(1, 0, 4)).toThrowErrno("EINVAL");
    expect(() => w.device.writeRegion(1, 0, new Uint8Array(4))).toThrowErrno("EINVAL");
  });

  test("read into an unwritable buffer: EFAULT", () => {
    const w = open();
    const ro = w.p.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | 0x20, -1, 0);
    expect(() => w.p.pread(w.device.fd, ro, 4, regionOffset(0, 0))).toThrowErrno("EFAULT");
  });

  test("mmap: MAP_SHARED only, within the region (EINVAL otherwise)", () => {
    const w = open();
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
});

describe("interrupts", () => {
  test("requested at open under vfio-irq[<irq>](<dev>), freed at close", () => {
    const w = open();
    expect(w.p.readFile("/proc/interrupts")).toMatch(/vfio-irq\[\d+\]\(c030000\.dma-test\)/);
    w.device.close();
    expect(w.p.readFile("/proc/interrupts")).not.toContain("vfio-irq[");
  });

  test("SET_IRQS with two actions is ENOTTY (the driver judges the action)", () => {
    const w = open();
    const va = w.p.malloc(vfio_irq_set.size);
    w.p.poke(
      va,
      vfio_irq_set.encode({
        argsz: vfio_irq_set.size,
        flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK,
        index: 0,
        start: 0,
        count: 1,
      }),
    );
    expect(() => w.p.ioctl(w.device.fd, VFIO_DEVICE_SET_IRQS, va)).toThrowErrno("ENOTTY");
  });

  test("MASK of no interrupt (count 0) is EINVAL", () => {
    const w = open();
    expect(() => w.device.setIrqs({ index: 0, action: "mask", count: 0 })).toThrowErrno("EINVAL");
  });

  test("a trigger fd that is not an eventfd is EINVAL; -1 de-assigns", () => {
    const w = open();
    expect(() =>
      w.device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [w.device.fd] } }),
    ).toThrowErrno("EINVAL");
    w.device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [-1] } });
  });

  test("UNMASK by eventfd (virqfd): a signal re-enables the automasked line", () => {
    const w = open();
    const trigger = w.p.eventfd(0, EFD_NONBLOCK);
    const unmask = w.p.eventfd(0, EFD_NONBLOCK);
    w.device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [trigger] } });
    w.device.setIrqs({ index: 0, action: "unmask", data: { eventfds: [unmask] } });
    w.device.setIrqs({ index: 0, action: "trigger" });
    expect(eventfdCount(w.p, trigger)).toBe(1n);
    w.device.setIrqs({ index: 0, action: "trigger" });
    expect(eventfdCount(w.p, trigger)).toBe(0n); // automasked
    signal(w.p, unmask);
    w.device.setIrqs({ index: 0, action: "trigger" });
    expect(eventfdCount(w.p, trigger)).toBe(1n);
    expect(vdevOf(w.kernel, DMA_TEST).irqs[0]!.unmask.virqfd).not.toBeNull();
    w.device.close();
  });
});

describe("reset", () => {
  test("at open and on VFIO_DEVICE_RESET: CTRL off, DONE/ERROR acknowledged, `reset` logged", () => {
    const w = open();
    expect(w.vdev.resets).toBe(1);
    w.device.writeRegion(0, 0x1c, new Uint8Array([2, 0, 0, 0])); // IRQ_EN
    w.device.reset();
    expect(w.device.readRegion(0, 0x1c, 4)).toEqual(new Uint8Array(4));
    expect(w.kernel.dmesg().at(-1)).toMatch(/vfio-lab-test c030000\.dma-test: reset$/);
    expect(w.vdev.resets).toBe(2);
  });
});

describe("emulated-IOMMU mode (emulated_iommu=1)", () => {
  test("a device with an IOMMU group cannot register: its iommu_group link exists (EEXIST)", () => {
    const b = boot({ emulated: true, bind: [DMA_TEST] });
    expect(() => b.p.readlink(`/sys/bus/platform/devices/${DMA_TEST.name}/driver`)).toThrowErrno(
      "ENOENT",
    );
    expect(b.kernel.dmesg().slice(-2)).toEqual([
      expect.stringMatching(
        /vfio-lab-test c030000\.dma-test: Failed to add to iommu group \d+: -17$/,
      ),
      expect.stringMatching(/probe with driver vfio-lab-test failed with error -17$/),
    ]);
  });

  test("a private group /dev/vfio/<N> (not noiommu-), no taint", () => {
    const w = open({ emulated: true });
    expect(w.kernel.taint.test(TAINT_USER)).toBe(false);
    expect(w.group.path).toMatch(/^\/dev\/vfio\/\d+$/);
    expect(w.group.status().viable).toBe(true);
  });

  test("type1: the driver pins what user space mapped; an unmap reaches dma_unmap first", () => {
    const w = open({ emulated: true });
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
    const b = boot({ emulated: true, bind: [DMA_TEST_NOIOMMU] });
    const iommufd = IommuFd.open(b.p);
    const device = VfioDevice.openCdev(b.p, cdevPath(b.p, DMA_TEST_NOIOMMU));
    device.bindIommufd(iommufd);
    const ioas = iommufd.ioasAlloc();
    // An access attaches to the IOAS itself: the id written back is the IOAS's.
    expect(device.attachPt(ioas)).toBe(ioas);
    const vdev = vdevOf(b.kernel, DMA_TEST_NOIOMMU);
    const buf = mmapAnon(b.p, PAGE_SIZE);
    b.p.poke(buf, new Uint8Array(PAGE_SIZE).fill(7));
    const iova = iommufd.map(ioas, buf, PAGE_SIZE);
    const [pfn] = vdev.pinPages(iova, 1, IOMMU_READ);
    expect(pfn! * PAGE_SIZE).toBe(userPhys(b.p, buf));
    expect(iommufd.unmap(ioas, iova, PAGE_SIZE)).toBe(BigInt(PAGE_SIZE));
    expect(vdev.unmapCalls).toEqual([[iova, BigInt(PAGE_SIZE)]]);
    expect(vdev.pins).toEqual([]);
    device.close();
    iommufd.close();
    expect(b.kernel.allocator.totalPins).toBe(0);
  });
});
