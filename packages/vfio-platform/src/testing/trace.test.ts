import { VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import { VfioContainer } from "@vfio-lab/vfio-core";
import { expect, test } from "vitest";
import { bootLab } from "./boot.js";
import { dataPlane, normalizeTrace, syscallTrace } from "./trace.js";

test("fds by kind, ioctls by name, errors by errno; scratch memory and sysfs dropped", () => {
  const lab = bootLab();
  const t = syscallTrace(lab.kernel, lab.vmm);
  lab.vmm.readFile("/proc/interrupts");
  lab.vmm.readlink(`/sys/bus/platform/devices/c030000.dma-test/iommu_group`);
  const c = VfioContainer.open(lab.vmm);
  c.checkExtension(VFIO_TYPE1v2_IOMMU);
  // No group yet: MAP_DMA without an IOMMU model (same number as VFIO_DEVICE_PCI_HOT_RESET).
  expect(() => c.mapDma({ vaddr: 0x1000, iova: 0n, size: 0x1000 })).toThrowErrno("EINVAL");
  lab.vmm.close(lab.vmm.eventfd(0, 0));
  c.close();
  expect(normalizeTrace(t.stop())).toEqual([
    "open(/dev/vfio/vfio) = container",
    "ioctl(container, VFIO_CHECK_EXTENSION) = 1",
    "ioctl(container, VFIO_IOMMU_MAP_DMA) = -EINVAL",
    "eventfd() = eventfd0",
    "close(eventfd0)",
    "close(container)",
  ]);
});

test("only the syscalls of the traced process, and none after stop()", () => {
  const lab = bootLab();
  const t = syscallTrace(lab.kernel, lab.vmm);
  lab.admin.eventfd(0, 0);
  lab.vmm.eventfd(0, 0);
  t.stop();
  lab.vmm.eventfd(0, 0);
  expect(normalizeTrace(t.records)).toEqual(["eventfd() = eventfd0"]);
});

test("the data plane keeps device mmaps, SET_IRQS and eventfd reads and writes", () => {
  expect(
    dataPlane([
      "ioctl(device, VFIO_DEVICE_GET_INFO) = 0",
      "mmap(device, 0x1000, region 0+0x0) = addr",
      "ioctl(device, VFIO_DEVICE_SET_IRQS UNMASK|NONE index 0 start 0 count 1) = 0",
      "read(eventfd0, 8) = 8",
      "write(eventfd1, 8) = 8",
      "read(device, 4, @0x0) = 4",
    ]),
  ).toEqual([
    "mmap(device, 0x1000, region 0+0x0) = addr",
    "ioctl(device, VFIO_DEVICE_SET_IRQS UNMASK|NONE index 0 start 0 count 1) = 0",
    "read(eventfd0, 8) = 8",
    "write(eventfd1, 8) = 8",
  ]);
});
