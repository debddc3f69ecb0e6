/**
 * notebooks/03-vfio-platform.ipynb (seed 003, the VFIO-for-platform-devices RFC), run with the
 * Node runner: every cell runs, and each claim of its prose is in its outputs — the region's
 * flags and `index << 40` offset, pread's short read and EINVALs, mmap's refusals and the
 * syscall-free register access, the sub-page virtio-mmio window without MMAP, the IRQ flags
 * (EVENTFD|MASKABLE|AUTOMASKED for level, EVENTFD for edge), automasking with UNMASK by ioctl and
 * by virqfd, the PL330 copy through the SMMU, and the translation fault that changes no byte.
 */

import { describe, expect, test } from "vitest";
import { expectInOrder, loadNotebook } from "./notebook-under-test.js";

const { nb, expectEveryCellRan, source, stdout, displays } = loadNotebook("03-vfio-platform");

describe("03-vfio-platform.ipynb as committed", () => {
  test("walks seed 003 and cites its cover letter", () => {
    expect(nb.metadata["vfio-lab"]?.seed).toBe("003");
    const intro = source("vp-intro");
    expect(intro).toContain("Antonios Motakis");
    expect(intro).toContain("[RFC PATCH v4 00/10] VFIO support for platform devices");
    expect(intro).toContain("What is not implemented is masking/unmasking via eventfd.");
  });

  test("ends with the table of what user space saw and what the kernel did", () => {
    const summary = source("vp-summary");
    expect(summary).toContain("| step | what user space saw | what the kernel did |");
  });
});

describe("03-vfio-platform.ipynb run", () => {
  test("every code cell runs, none fails", () => expectEveryCellRan());

  test("the device fd: AMBA without RESET, 1 region, 9 IRQs; the open warns of no reset", () => {
    expectInOrder(stdout("vp-setup-code"), [
      "bound to: vfio-amba",
      "VFIO_DEVICE_GET_INFO: flags 0x8 (AMBA, no RESET), num_regions 1, num_irqs 9",
      "vfio-amba c000000.dma: VFIO: no reset function found!",
    ]);
  });

  test("regions: flags, index << 40, pread of the PrimeCell ID, short read, EINVALs", () => {
    expectInOrder(stdout("vp-regions-code"), [
      "region 0: size 0x1000, offset 0x0, flags 0x7 = READ | WRITE | MMAP",
      "region 1 would start at 0x10000000000 (1 << 40)",
      "VFIO_DEVICE_GET_REGION_INFO(index 1): EINVAL from vfio_platform_ioctl_get_region_info()",
      "pread(32 bytes at 0xfe0) = 30 00 00 00 13 00 00 00 24 00 00 00 00 00 00 00 0d 00 00 00 f0 00 00 00 05 00 00 00 b1 00 00 00",
      "  periph ID 0x00241330, cell ID 0xb105f00d",
      "pread(8 bytes at 0xffc) = 4 bytes (short: the region ends at 0x1000)",
      "pread(4 bytes at 0x1000): EINVAL from vfio_platform_read_mmio()",
      "pread(4 bytes at 1 << 40, region 1): EINVAL from vfio_platform_read()",
    ]);
  });

  test("mmap: refusals with EINVAL, then register reads with no syscall", () => {
    expectInOrder(stdout("vp-mmap-code"), [
      "mmap(MAP_PRIVATE): EINVAL from vfio_platform_mmap()",
      "mmap(0x2000 bytes of a 0x1000 region): EINVAL from vfio_platform_mmap_mmio()",
      "mmap(offset 0x800): EINVAL from sys_mmap()",
      "mmap(region 1): EINVAL from vfio_platform_mmap()",
      "readl(0xfe0) = 0x30  (the byte pread returned)",
      "syscalls issued by those two register reads: 0",
    ]);
    expect(stdout("vp-mmap-code")).toMatch(/readl\(CR0\) {3}= 0x[0-9a-f]+: 8 channels, 8 events/);
  });

  test("a 0x200-byte window has no MMAP; pread still works; no-IOMMU mode taints", () => {
    expectInOrder(stdout("vp-align-code"), [
      "vfio-platform a000000.virtio_mmio: Adding kernel taint for vfio-noiommu group on device",
      "vfio-platform a000000.virtio_mmio: VFIO: no reset function found!",
      "a000000.virtio_mmio region 0: size 0x200, flags 0x3 = READ | WRITE",
      "mmap(region 0): EINVAL from vfio_platform_mmap()",
      'pread(4 bytes at 0) = 76 69 72 74 "virt" (the virtio-mmio magic)',
      "pread(8 bytes at 0x1fe) = 2 bytes",
      "/proc/sys/kernel/tainted = 64 (TAINT_USER)",
    ]);
  });

  test("IRQ info: EVENTFD|MASKABLE|AUTOMASKED on the 9 level lines, EVENTFD on the edge one", () => {
    const out = stdout("vp-irqs-code");
    const names = ["abort", "irq0", "irq1", "irq2", "irq3", "irq4", "irq5", "irq6", "irq7"];
    expectInOrder(out, [
      ...names.map(
        (n, i) => `index ${i} (${n}): flags 0x7 = EVENTFD | MASKABLE | AUTOMASKED, count 1`,
      ),
      "VFIO_DEVICE_GET_IRQ_INFO(index 9): EINVAL from vfio_platform_ioctl()",
      "a000000.virtio_mmio index 0 (edge): flags 0x1 = EVENTFD",
    ]);
    const rows = out.split("\n").filter((l) => l.includes("vfio-irq["));
    expect(rows).toHaveLength(9);
    for (const row of rows) expect(row).toMatch(/Level\s+vfio-irq\[\d+\]\(vfio-amba-00241330\)$/);
  });

  test("SET_IRQS: errors, loopback automasks, UNMASK by ioctl and by virqfd", () => {
    expectInOrder(stdout("vp-setirqs-code"), [
      "SET_IRQS(TRIGGER, EVENTFD fd 999): EBADF from eventfd_ctx_fdget()",
      "SET_IRQS(TRIGGER, EVENTFD the device fd): EINVAL from eventfd_ctx_fileget()",
      "SET_IRQS(index 9): EINVAL from vfio_set_irqs_validate_and_prepare()",
      "SET_IRQS(UNMASK, start 0 count 2): EINVAL from vfio_platform_set_irq_unmask()",
      "TRIGGER set;                  read(trigger) = EAGAIN from eventfd_read()",
      "loopback: the handler ran;    read(trigger) = 1  (and the line is now masked)",
      "loopback while masked:        read(trigger) = EAGAIN from eventfd_read()  (IRQ_NONE, nothing signalled)",
      "UNMASK by ioctl, loopback:    read(trigger) = 1",
      "virqfd armed, loopback:       read(trigger) = EAGAIN from eventfd_read()  (still masked by the last one)",
      "write(unmask eventfd), loopback: read(trigger) = 1  (the virqfd unmasked it)",
    ]);
  });

  test("the guest RAM mapping is drawn", () => {
    expect(stdout("vp-dma-map")).toContain("1024 KiB of user memory at IOVA 0x10000000");
    expect(displays("vp-dma-map", "image/svg+xml")[0]).toMatch(/^<svg/);
  });

  test("the PL330 copies 4 KiB through the SMMU; the level line refires until INTCLR", () => {
    expectInOrder(stdout("vp-memcpy-code"), [
      "read(irq0 eventfd) = 1",
      "destination: 03 0a 11 18 1f 26 2d 34 3b 42 49 50 57 5e 65 6c …",
      "4096 bytes copied correctly: true",
      "INT_EVENT_RIS = 0x1 (event 0 still asserts irq0)",
      "unmask before INTCLR:  the line fires again, read = 1",
      "INTCLR, then unmask:   INT_EVENT_RIS = 0x0, read = nothing (quiet)",
      "abort eventfd: nothing",
    ]);
  });

  test("a DMA to an unmapped IOVA: SMMU event, channel fault, abort IRQ, no byte changed", () => {
    expectInOrder(stdout("vp-fault-code"), [
      "read(abort eventfd) = 1",
      "  arm-smmu-v3 9050000.smmuv3: event 0x10 received:",
      "  arm-smmu-v3 9050000.smmuv3: event: F_TRANSLATION client: c000000.dma sid: 0x10 ssid: 0 iova: 0x10100000 ipa: 0",
      "CSR0 state 0xf (Faulting), FSRC 0x1, FTR0 0x20000 = data_write_err",
      "irq0 eventfd: nothing",
      "guest RAM unchanged: true; an unmapped page unchanged: true",
      "after DMAKILL: CSR0 state 0x0 (Stopped), FSRC 0x0, abort after UNMASK: quiet",
    ]);
    // The access line: a stage-1 data write faulting on its input address (hw-soc marks every
    // transaction privileged, so only the rest of the line is pinned here).
    expect(stdout("vp-fault-code")).toMatch(
      /\n {2}arm-smmu-v3 9050000\.smmuv3: (un)?priv data write s1 "Input address caused fault" stag: 0\n/,
    );
  });

  test("the sequence diagram shows each refusal with its errno and kernel function", () => {
    const [sequence] = displays("vp-sequence", "image/svg+xml");
    expect(sequence).toMatch(/^<svg/);
    for (const text of [
      "VFIO_DEVICE_GET_REGION_INFO) = -1 EINVAL (vfio_platform_ioctl_get_region_info)",
      "EINVAL (vfio_platform_read_mmio)",
      "EINVAL (vfio_platform_read)",
      "EINVAL (vfio_platform_mmap)",
      "EINVAL (vfio_platform_mmap_mmio)",
      "EINVAL (sys_mmap)",
      "VFIO: no reset function found!",
    ]) {
      expect(sequence).toContain(text);
    }
  });

  test("the trace holds the data plane", () => {
    expectInOrder(stdout("vp-trace"), [
      "ioctl(group, VFIO_GROUP_GET_DEVICE_FD) = device",
      "mmap(device, 0x1000, region 0+0x0) = -EINVAL",
      "mmap(device, 0x1000, region 0+0x0) = addr",
      "ioctl(device, VFIO_DEVICE_SET_IRQS UNMASK|EVENTFD index 2 start 0 count 1) = 0",
      "ioctl(container, VFIO_IOMMU_MAP_DMA) = 0",
      "ioctl(device, VFIO_DEVICE_SET_IRQS TRIGGER|EVENTFD index 1 start 0 count 1) = 0",
      "ioctl(device, VFIO_DEVICE_SET_IRQS UNMASK|EVENTFD index 1 start 0 count 1) = 0",
      "ioctl(device, VFIO_DEVICE_SET_IRQS TRIGGER|EVENTFD index 0 start 0 count 1) = 0",
      "ioctl(device, VFIO_DEVICE_SET_IRQS UNMASK|NONE index 0 start 0 count 1) = 0",
    ]);
  });
});
