/**
 * notebooks/00-tour.ipynb, run with the Node runner: every cell runs, and what the tour tells the
 * reader is what its outputs show — the PL330 moves from dma-pl330 to vfio-amba, the VMM gets an
 * AMBA device fd with 1 region and 9 IRQs, the message is copied byte for byte by the DMAC, the
 * trace has the VFIO protocol in order, and each picture cell displays an SVG. A model change
 * that breaks the story breaks one of these.
 */

import { describe, expect, test } from "vitest";
import { expectInOrder, loadNotebook } from "./notebook-under-test.js";

const { nb, expectEveryCellRan, stdout, displays } = loadNotebook("00-tour");

describe("00-tour.ipynb as committed", () => {
  test("is the tour, with no seed", () => {
    expect(nb.metadata["vfio-lab"]).toMatchObject({ title: "A tour of vfio-lab", seed: null });
  });
});

describe("00-tour.ipynb run", () => {
  test("every code cell runs, none fails", () => expectEveryCellRan());

  test("the board's devices table lists the PL330 bound to dma-pl330", () => {
    const [table] = displays("tour-boot", "text/html");
    expect(table).toMatch(/^<table/);
    expect(table).toContain("c000000.dma");
    expect(table).toContain("dma-pl330");
    expect(stdout("tour-boot")).toContain("vfio_iommu_type1.allow_unsafe_interrupts=1");
  });

  test("the boot log shows the PL330 in IOMMU group 2 and dma-pl330 loaded", () => {
    expectInOrder(stdout("tour-dmesg-code"), [
      "arm-smmu-v3 9050000.smmuv3: oas 48-bit (features 0x00000304)",
      "amba c000000.dma: Adding to iommu group 2",
      "dma-pl330 c000000.dma: Loaded driver for PL330 DMAC-241330",
    ]);
    expect(stdout("tour-dmesg-code")).toContain(
      "platform c031000.dma-test: Aliasing StreamID 0x30 (from c030000.dma-test) unsupported, expect DMA to be broken",
    );
  });

  test("driver_override moves the PL330 to vfio-amba and creates /dev/vfio/2", () => {
    expectInOrder(stdout("tour-bind-code"), [
      "  driver: dma-pl330, iommu_group: 2",
      'write(driver_override, "vfio-amba") = 9',
      'write(drivers_probe, "c000000.dma") = 11',
      "  driver: vfio-amba",
      "/dev/vfio: devices  2  vfio",
      "  vfio-amba c000000.dma: DEPRECATION: vfio-amba is deprecated and will be removed in a future kernel release",
    ]);
  });

  test("the topology pictures change as the device changes hands", () => {
    const [before] = displays("tour-topology-before-code", "image/svg+xml");
    const [after] = displays("tour-topology-after", "image/svg+xml");
    const [final] = displays("tour-topology-final", "image/svg+xml");
    for (const svg of [before, after, final]) expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(before).toContain("c000000.dma");
    expect(after).not.toBe(before);
    expect(final).not.toBe(after);
  });

  test("the VMM gets an AMBA device fd: 1 region, 9 IRQs, no reset function", () => {
    expectInOrder(stdout("tour-open-code"), [
      "VFIO_DEVICE_GET_INFO: flags 0x8 (AMBA), 1 region, 9 IRQs",
      "VFIO_GROUP_GET_STATUS now: flags 0x3 (VIABLE | CONTAINER_SET)",
      "  vfio-amba c000000.dma: VFIO: no reset function found!",
    ]);
  });

  test("guest RAM is mapped at IOVA 0x10000000, and its map is drawn", () => {
    expect(stdout("tour-ram-code")).toMatch(/1024 KiB at IOVA 0x10000000/);
    const [map] = displays("tour-ram-code", "image/svg+xml");
    expect(map).toMatch(/^<svg/);
  });

  test("the PL330 copies the message byte for byte and signals IRQ index 1 once", () => {
    const out = stdout("tour-memcpy-code");
    expect(out).toContain("read(eventfd of IRQ index 1) = 1 interrupt");
    expect(out).toContain(
      'destination as text: "Hello from user space: copied by a PL330, through the SMMU."',
    );
    expect(out).toContain("all 59 bytes equal: true");
    // The microcode starts with DMAMOV CCR (0xbc 0x01) and ends with DMASEV 0, DMAEND.
    expect(out).toMatch(/microcode \(\d+ bytes at IOVA 0x10000000\): bc 01 .* 34 00 00\n/);
  });

  test("the trace is the VFIO protocol in QEMU's order, with no syscall to program the DMAC", () => {
    const trace = stdout("tour-trace-code");
    expectInOrder(trace, [
      "open(/dev/vfio/vfio) = container",
      "ioctl(container, VFIO_CHECK_EXTENSION) = 1",
      "open(/dev/vfio/N) = group",
      "ioctl(group, VFIO_GROUP_SET_CONTAINER) = 0",
      "ioctl(container, VFIO_SET_IOMMU) = 0",
      "ioctl(group, VFIO_GROUP_GET_DEVICE_FD) = device",
      "ioctl(device, VFIO_DEVICE_GET_INFO) = 0",
      "ioctl(container, VFIO_IOMMU_MAP_DMA) = 0",
      "mmap(device, 0x1000, region 0+0x0) = addr",
      "ioctl(device, VFIO_DEVICE_SET_IRQS TRIGGER|EVENTFD index 1 start 0 count 1) = 0",
      "read(eventfd0, 8) = 8",
      "ioctl(device, VFIO_DEVICE_SET_IRQS UNMASK|NONE index 1 start 0 count 1) = 0",
    ]);
    // After the mmap: IRQ wiring, sleeps while DBGSTATUS is busy, the eventfd read, the unmask.
    const afterMmap = trace.slice(trace.indexOf("mmap(device"));
    for (const line of afterMmap.trim().split("\n").slice(1)) {
      expect(line).toMatch(
        /^(ioctl\(device, VFIO_DEVICE_(GET_IRQ_INFO|SET_IRQS)|eventfd\(\)|poll\(\[\]|read\(eventfd0)/,
      );
    }
  });

  test("the sequence diagram runs from the sysfs writes to the interrupt", () => {
    const [sequence] = displays("tour-sequence", "image/svg+xml");
    expect(sequence).toMatch(/^<svg/);
    for (const text of [
      "setup[",
      "vmm[",
      "driver_override",
      "driver:bind: c000000.dma → vfio-amba",
      "DEPRECATION: vfio-amba is deprecated",
      "VFIO_GROUP_SET_CONTAINER",
      "VFIO_GROUP_GET_DEVICE_FD",
      "VFIO_IOMMU_MAP_DMA",
      "VFIO_DEVICE_SET_IRQS",
    ]) {
      expect(sequence).toContain(text);
    }
    // The scratch pages of the helpers are left out; the 1 MiB of guest RAM is not.
    expect(sequence).not.toContain("mmap(anon, 4096)");
    expect(sequence).toContain("mmap(anon, 0x100000)");
  });
});
