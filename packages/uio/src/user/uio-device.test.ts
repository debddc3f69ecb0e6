import { O_NONBLOCK, O_RDWR } from "@vfio-lab/kernel";
import { beforeEach, describe, expect, test } from "vitest";
import { assignToDriver, boot, type Lab, peek32 } from "../../test/fixture.js";
import { uioEventNotify } from "../uio.js";
import { UIO_PDRV_GENIRQ, uioPdrvGenirqModule, uioPdrvGenirqOf } from "../uio-pdrv-genirq.js";
import { UioUserDevice } from "./uio-device.js";

const VIRTIO = "a000200.virtio_mmio";

describe("UioUserDevice", () => {
  let lab: Lab;
  let uio: UioUserDevice;
  beforeEach(() => {
    lab = boot();
    lab.kernel.modprobe(uioPdrvGenirqModule);
    assignToDriver(lab.admin, "platform", VIRTIO, UIO_PDRV_GENIRQ);
    uio = UioUserDevice.open(lab.kernel.spawn({ comm: "app" }), 0);
  });

  /** Counts an event as the interrupt thread would (the transport has no backend to fire). */
  function event(): void {
    const pdev = lab.kernel.drivers.findDevice("platform", VIRTIO);
    uioEventNotify(uioPdrvGenirqOf(pdev as never)!.uioinfo);
  }

  test("name(), event() and maps() read sysfs", () => {
    expect(uio.sysfsPath).toBe("/sys/class/uio/uio0");
    expect(uio.name()).toBe("virtio_mmio@a000200");
    expect(uio.event()).toBe(0);
    expect(uio.maps()).toEqual([
      { index: 0, name: "virtio_mmio@a000200", addr: 0xa000000n, size: 0x1000n, offset: 0x200n },
    ]);
  });

  test("mmapMap() maps the map's whole size at page offset index; registers at +offset", () => {
    const va = uio.mmapMap(0);
    expect(peek32(uio.process, va + 0x200)).toBe(0x74726976);
    expect(() => uio.mmapMap(1)).toThrowErrno("EINVAL");
    expect(() => uio.mmapMap(0, 0x2000)).toThrowErrno("EINVAL");
  });

  test("waitIrq() returns the count; tryWaitIrq() is null when nothing is new", () => {
    expect(uio.tryWaitIrq()).toBeNull();
    event();
    expect(uio.tryWaitIrq()).toBe(1);
    event();
    event();
    expect(uio.waitIrq()).toBe(3);
    expect(uio.event()).toBe(3);
  });

  test("waitIrq() on an O_NONBLOCK file with nothing new is EAGAIN", () => {
    const nb = UioUserDevice.open(uio.process, 0, O_RDWR | O_NONBLOCK);
    expect(() => nb.waitIrq()).toThrowErrno("EAGAIN");
  });

  test("irqControl() writes 0 and 1 to the driver", () => {
    const virq = lab.kernel.irq.irqFindMapping(49);
    uio.irqControl(false);
    expect(lab.kernel.irq.irqInfo(virq)?.disabled).toBe(true);
    uio.irqControl(true);
    expect(lab.kernel.irq.irqInfo(virq)?.disabled).toBe(false);
  });

  test("after the device is unbound: poll() says POLLERR and tryWaitIrq() fails EIO", () => {
    lab.admin.writeFile(`/sys/bus/platform/devices/${VIRTIO}/driver/unbind`, VIRTIO);
    expect(uio.poll(0)).toBe(0x8);
    expect(() => uio.tryWaitIrq()).toThrowErrno("EIO");
    expect(uio.maps()).toEqual([]);
  });

  test("close() is idempotent", () => {
    uio.close();
    uio.close();
    expect(lab.kernel.modules.moduleRefcount(UIO_PDRV_GENIRQ)).toBe(0);
  });
});
