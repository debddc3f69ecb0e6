/**
 * RFC (a), seed 000 (vfio-platform-nodma.ts + platform-dma-capable.ts): with
 * `vfio_platform_base.assign_dma_incapable=1`, vfio-amba and vfio-platform register a device
 * that platform_dma_capable() finds unable to DMA through the emulated-IOMMU path. Driven as a
 * VMM would, through syscalls, by a process without CAP_SYS_RAWIO, on a kernel booted without
 * `allow_unsafe_interrupts`:
 *
 * - off (the default) the kernel is mainline: no sysfs file, EINVAL without an IOMMU group;
 * - on: `Adding to iommu group N`, no taint line, `tainted` stays 0, `/dev/vfio/N` (not
 *   `noiommu-N`), a `vfioM` cdev; type1 container and iommufd cdev both open it; MAP_DMA and
 *   IOAS_MAP succeed and pin nothing; vfio_pin_pages() is EINVAL; the PL031's alarm arrives
 *   on an eventfd; the PL061's SET_IRQS stays EINVAL (its line, as on Linux 7.3);
 * - capable devices keep the mainline path (their group, or EINVAL, or a tainting no-IOMMU
 *   group with `enable_unsafe_noiommu_mode`);
 * - R1's false negative, as a test: a bus master whose node lacks `iommus` and `dma-coherent`
 *   is assigned untainted, and its DMA writes another process's page by physical address.
 */

import { DMA_TEST_CTRL, DMA_TEST_STATUS } from "@vfio-lab/hw-soc";
import { IommuFd } from "@vfio-lab/iommufd";
import { IOMMU_READ, TAINT_USER } from "@vfio-lab/kernel";
import { VfioDevice, VfioGroup, vfioPinPages } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import { platformDmaCapable } from "../src/platform-dma-capable.js";
import { vfioPlatformDmatestModule } from "../src/reset/vfio-platform-dmatest.js";
import { VFIO_AMBA, VFIO_AMBA_MODULE } from "../src/vfio-amba.js";
import { VFIO_PLATFORM, VFIO_PLATFORM_MODULE, vfioPlatformDeviceOf } from "../src/vfio-platform.js";
import { VFIO_PLATFORM_BASE } from "../src/vfio-platform-base.js";
import { VFIO_PLATFORM_NODMA_LINE } from "../src/vfio-platform-nodma.js";
import {
  assign,
  type BootOptions,
  boards,
  boot,
  cdevPath,
  DEV,
  dmesgOf,
  driverOf,
  eventfd,
  eventfdRead,
  iommuGroupOf,
  mmapAnon,
  mmioOf,
  openDevice,
  PAGE_SIZE,
  type World,
  waitEventfd,
} from "./platform-fixture.js";

/**
 * Boots with vfio_platform_base (RFC a `on` or off), vfio_amba and vfio_platform; no
 * allow_unsafe_interrupts, and a VMM without capabilities.
 */
function bootRfc(on: boolean, opts: BootOptions = {}): World {
  return boot({
    unsafeInterrupts: false,
    vmmCaps: [],
    install: [vfioPlatformDmatestModule],
    ...opts,
    modules: [
      [VFIO_PLATFORM_BASE, { assign_dma_incapable: on }],
      VFIO_AMBA_MODULE,
      VFIO_PLATFORM_MODULE,
    ],
  });
}

const SECOND = 1_000_000_000;

/** PL031 TRM registers. */
const RTC = { DR: 0x00, MR: 0x04, CR: 0x0c, IMSC: 0x10, RIS: 0x14, ICR: 0x1c } as const;

describe("off (the default): mainline 7.3", () => {
  test("the parameter has no sysfs file (perm 0)", () => {
    const w = bootRfc(false);
    expect(w.admin.readdir("/sys/module/vfio_platform_base")).not.toContain("parameters");
  });

  test("vfio-amba refuses the PL031, which has no IOMMU group: error -22, the write succeeds", () => {
    const w = bootRfc(false);
    const lines = dmesgOf(w.kernel, () => {
      expect(assign(w.admin, DEV.PL031, VFIO_AMBA)).toBe(DEV.PL031.name.length);
    });
    expect(lines).toEqual([
      "vfio-amba 9010000.pl031: DEPRECATION: vfio-amba is deprecated and will be removed in a future kernel release",
      "vfio-amba 9010000.pl031: probe with driver vfio-amba failed with error -22",
    ]);
    expect(driverOf(w.admin, DEV.PL031)).toBeNull();
  });
});

describe("on: a DMA-incapable device through the emulated IOMMU", () => {
  test("the kernel command line switches it on as well as modprobe's argument", () => {
    const w = boot({
      unsafeInterrupts: false,
      vmmCaps: [],
      cmdline: "vfio_platform_base.assign_dma_incapable=1",
      modules: [VFIO_PLATFORM_BASE, VFIO_AMBA_MODULE],
    });
    assign(w.admin, DEV.PL031, VFIO_AMBA);
    expect(driverOf(w.admin, DEV.PL031)).toBe(VFIO_AMBA);
  });

  test("binds with a private group: `Adding to iommu group N`, no taint, /dev/vfio/N, vfioM", () => {
    const w = bootRfc(true);
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.PL031, VFIO_AMBA));
    expect(lines).toEqual([
      "vfio-amba 9010000.pl031: DEPRECATION: vfio-amba is deprecated and will be removed in a future kernel release",
      `vfio-amba 9010000.pl031: ${VFIO_PLATFORM_NODMA_LINE}`,
      "vfio-amba 9010000.pl031: Adding to iommu group 3",
    ]);
    expect(w.kernel.taint.test(TAINT_USER)).toBe(false);
    expect(w.admin.readFile("/proc/sys/kernel/tainted")).toBe("0\n");
    expect(iommuGroupOf(w.admin, DEV.PL031)).toBe(3);
    expect(w.admin.readdir("/dev/vfio")).toContain("3");
    expect(w.admin.readdir("/dev/vfio").some((e) => e.startsWith("noiommu"))).toBe(false);
    expect(cdevPath(w.admin, DEV.PL031)).toMatch(/^\/dev\/vfio\/devices\/vfio\d+$/);
  });

  test("a VMM without CAP_SYS_RAWIO opens it through type1, with no allow_unsafe_interrupts", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL031, VFIO_AMBA);
    expect(w.vmm.capget().effective).not.toContain("CAP_SYS_RAWIO");
    const lines = dmesgOf(w.kernel, () => {
      const { device } = openDevice(w.vmm, DEV.PL031);
      // No reset for a PrimeCell through vfio-amba: flags AMBA only.
      expect(device.info()).toMatchObject({ flags: 0x8, numRegions: 1, numIrqs: 1 });
      expect(device.regionInfo(0)).toMatchObject({ flags: 0x7, size: 0x1000n, offset: 0n });
      expect(device.irqInfo(0)).toMatchObject({ flags: 0x7, count: 1 });
    });
    expect(lines).toEqual(["vfio-amba 9010000.pl031: VFIO: no reset function found!"]);
  });

  test("type1 MAP_DMA succeeds and pins nothing; vfio_pin_pages() is EINVAL (no dma_unmap)", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL031, VFIO_AMBA);
    const { container } = openDevice(w.vmm, DEV.PL031);
    const buf = mmapAnon(w.vmm, 16 * PAGE_SIZE);
    w.vmm.poke(buf, new Uint8Array(16 * PAGE_SIZE).fill(1));
    container.mapDma({ vaddr: buf, iova: 0x10_0000n, size: 16 * PAGE_SIZE });
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.vmm.mm.lockedVm).toBe(0);
    const vdev = vfioPlatformDeviceOf(w.kernel, "amba", DEV.PL031.name);
    expect(() => vfioPinPages(vdev, 0x10_0000n, 1, IOMMU_READ)).toThrowErrno("EINVAL");
    expect(container.unmapDma({ iova: 0x10_0000n, size: 16 * PAGE_SIZE })).toBe(
      BigInt(16 * PAGE_SIZE),
    );
  });

  test("iommufd cdev: BIND makes an access, ATTACH answers with the IOAS, IOAS_MAP pins nothing", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL031, VFIO_AMBA);
    const iommufd = IommuFd.open(w.vmm);
    const device = VfioDevice.openCdev(w.vmm, cdevPath(w.vmm, DEV.PL031));
    device.bindIommufd(iommufd);
    const ioas = iommufd.ioasAlloc();
    expect(device.attachPt(ioas)).toBe(ioas);
    const buf = mmapAnon(w.vmm, 4 * PAGE_SIZE);
    iommufd.map(ioas, buf, 4 * PAGE_SIZE, { iova: 0x20_0000n });
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.vmm.mm.pinnedVm).toBe(0);
    const vdev = vfioPlatformDeviceOf(w.kernel, "amba", DEV.PL031.name);
    expect(() => vfioPinPages(vdev, 0x20_0000n, 1, IOMMU_READ)).toThrowErrno("EINVAL");
    expect(device.info().flags).toBe(0x8);
    device.close();
    iommufd.close();
  });

  test("PL031: the alarm arrives on the eventfd, automasked until UNMASK", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL031, VFIO_AMBA);
    const { device } = openDevice(w.vmm, DEV.PL031);
    expect(w.vmm.readFile("/proc/interrupts")).toMatch(
      /Level\s+vfio-irq\[\d+\]\(vfio-amba-00141031\)/,
    );
    const rtc = mmioOf(w.vmm, device);
    const efd = eventfd(w.vmm);
    device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [efd] } });
    rtc.writel(RTC.CR, 1); // the counter runs from here (sticky)
    rtc.writel(RTC.MR, rtc.readl(RTC.DR) + 2);
    rtc.writel(RTC.IMSC, 1);
    expect(waitEventfd(w.vmm, efd, 3 * SECOND)).toBe(true);
    expect(eventfdRead(w.vmm, efd)).toBe(1n);
    // Still asserted, but automasked: nothing more until UNMASK.
    expect(rtc.readl(RTC.RIS)).toBe(1);
    expect(waitEventfd(w.vmm, efd, SECOND)).toBe(false);
    rtc.writel(RTC.ICR, 1);
    device.setIrqs({ index: 0, action: "unmask" });
    expect(waitEventfd(w.vmm, efd, SECOND)).toBe(false);
  });

  test("PL061: GET_IRQ_INFO says 0x7, SET_IRQS is EINVAL (pl061_gpio left the line unrequestable)", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL061, VFIO_AMBA);
    const { device } = openDevice(w.vmm, DEV.PL061);
    expect(device.irqInfo(0).flags).toBe(0x7);
    const efd = eventfd(w.vmm);
    expect(() =>
      device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [efd] } }),
    ).toThrowErrno("EINVAL");
    expect(w.vmm.readFile("/proc/interrupts")).not.toContain("vfio-irq[");
  });

  test("unbinding removes the fake group: /dev/vfio/N goes", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL031, VFIO_AMBA);
    const lines = dmesgOf(w.kernel, () =>
      w.admin.writeFile(`/sys/bus/amba/drivers/${VFIO_AMBA}/unbind`, DEV.PL031.name),
    );
    expect(lines.at(-1)).toMatch(/9010000\.pl031: Removing from iommu group 3$/);
    expect(w.admin.readdir("/dev/vfio")).not.toContain("3");
    expect(() =>
      w.admin.readlink(`/sys/bus/amba/devices/${DEV.PL031.name}/iommu_group`),
    ).toThrowErrno("ENOENT");
  });
});

describe("on: capable devices keep the mainline path", () => {
  test("behind the SMMU: its real group, no model line", () => {
    const w = bootRfc(true);
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.DMA_TEST0, VFIO_PLATFORM));
    expect(driverOf(w.admin, DEV.DMA_TEST0)).toBe(VFIO_PLATFORM);
    expect(iommuGroupOf(w.admin, DEV.DMA_TEST0)).toBe(1);
    expect(lines.join("\n")).not.toContain(VFIO_PLATFORM_NODMA_LINE);
    expect(lines.join("\n")).not.toContain("Adding to iommu group");
  });

  test("capable but without a group (c031000.dma-test, refused by the SMMU): EINVAL as mainline", () => {
    const w = bootRfc(true);
    expect(platformDmaCapable(w.kernel.drivers.findDevice("platform", DEV.DMA_TEST1.name)!)).toBe(
      true,
    );
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.DMA_TEST1, VFIO_PLATFORM));
    expect(lines.at(-1)).toMatch(
      /vfio-platform c031000\.dma-test: probe with driver vfio-platform failed with error -22$/,
    );
    expect(driverOf(w.admin, DEV.DMA_TEST1)).toBeNull();
  });

  test("with no-IOMMU mode as well: the incapable device stays untainted, a capable one taints", () => {
    const w = bootRfc(true, { cmdline: "vfio.enable_unsafe_noiommu_mode=1" });
    assign(w.admin, DEV.PL031, VFIO_AMBA);
    expect(w.kernel.taint.test(TAINT_USER)).toBe(false);
    expect(w.admin.readdir("/dev/vfio")).toContain("3");
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.DMA_TEST1, VFIO_PLATFORM));
    expect(lines.join("\n")).toContain("Adding kernel taint for vfio-noiommu group on device");
    expect(w.admin.readdir("/dev/vfio")).toContain("noiommu-4");
    expect(w.admin.readFile("/proc/sys/kernel/tainted")).toBe("64\n");
    // The no-IOMMU group needs CAP_SYS_RAWIO; the emulated one did not.
    expect(() => VfioGroup.open(w.vmm, "noiommu-4")).toThrowErrno("EPERM");
    VfioGroup.open(w.vmm, 3).close();
  });
});

describe("R1's false negative (the README's warning)", () => {
  /** dma-test@31000 with neither `iommus` nor `dma-coherent`: a master R1 cannot see. */
  const board = boards.withoutIommus(["dma-test@31000"], { dmaCoherent: false });

  /** The engine's registers (hw-soc devices/dma-test.ts). */
  const REG = { DST_LO: 0x10, DST_HI: 0x14, LEN: 0x18, CTRL: 0x1c, STATUS: 0x20, PATTERN: 0x24 };

  test("the engine is assigned untainted, and its DMA writes another process's page", () => {
    const w = bootRfc(true, { board });
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.DMA_TEST1, VFIO_PLATFORM));
    expect(lines.join("\n")).toContain(VFIO_PLATFORM_NODMA_LINE);
    expect(w.kernel.taint.test(TAINT_USER)).toBe(false);

    // A victim: someone else's page, known to the VMM only by its physical address.
    const victim = w.kernel.spawn({ comm: "victim" });
    const page = mmapAnon(victim, PAGE_SIZE);
    victim.poke(page, new Uint8Array(PAGE_SIZE).fill(0x11));
    const phys = victim.mm.translate(page) * PAGE_SIZE;

    const { container, device } = openDevice(w.vmm, DEV.DMA_TEST1);
    // Nothing the VMM maps is pinned or translated: there is no IOMMU in the way at all.
    const ram = mmapAnon(w.vmm, PAGE_SIZE);
    container.mapDma({ vaddr: ram, iova: 0x10_0000n, size: PAGE_SIZE });
    expect(w.kernel.allocator.totalPins).toBe(0);

    const mmio = mmioOf(w.vmm, device);
    const efd = eventfd(w.vmm);
    device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [efd] } });
    mmio.writel(REG.DST_LO, phys % 2 ** 32);
    mmio.writel(REG.DST_HI, Math.floor(phys / 2 ** 32));
    mmio.writel(REG.LEN, PAGE_SIZE);
    mmio.writel(REG.PATTERN, 0x6666_6666);
    mmio.writel(
      REG.CTRL,
      DMA_TEST_CTRL.START |
        DMA_TEST_CTRL.IRQ_EN |
        (DMA_TEST_CTRL.MODE_FILL << DMA_TEST_CTRL.MODE_SHIFT),
    );
    expect(waitEventfd(w.vmm, efd, SECOND)).toBe(true);
    expect(mmio.readl(REG.STATUS) & DMA_TEST_STATUS.DONE).toBe(DMA_TEST_STATUS.DONE);
    expect(victim.peek(page, PAGE_SIZE)).toEqual(new Uint8Array(PAGE_SIZE).fill(0x66));
    expect(w.kernel.taint.test(TAINT_USER)).toBe(false);
  });
});
