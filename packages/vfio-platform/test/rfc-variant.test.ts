/**
 * RFC (b), seed 001 (vfio-amba-variant.ts, pl061-vfio-amba.ts, pl011-vfio-amba.ts): VFIO
 * drivers that know their device — `pl061_vfio_amba` and `pl011_vfio_amba`, each with an
 * `emulated_iommu` parameter (perm 0, off by default) — driven through syscalls by a VMM
 * without CAP_SYS_RAWIO on a kernel booted without `allow_unsafe_interrupts`:
 *
 * - binding only by driver_override, and only to the PrimeCell the driver knows (ENODEV,
 *   silently, for any other);
 * - off: registered exactly as vfio-amba registers (EINVAL without a group; a tainting
 *   no-IOMMU group that needs CAP_SYS_RAWIO), minus the deprecation line;
 * - on: `Adding to iommu group N`, no taint, `/dev/vfio/N`, no CAP_SYS_RAWIO; GET_INFO flags
 *   0x9 and `VFIO: reset` at open, close and VFIO_DEVICE_RESET, which quiets the device's
 *   registers; MAP_DMA pins nothing, vfio_pin_pages() EINVAL;
 * - PL011 end to end (loop-back RX interrupt on an eventfd, automasked until UNMASK); the
 *   PL061's SET_IRQS stays EINVAL (pl061_gpio's chained handler, as on Linux 7.3).
 */

import { PL011_REGISTER_MAP, PL061_REGISTER_MAP } from "@vfio-lab/hw-soc";
import { IommuFd } from "@vfio-lab/iommufd";
import { IOMMU_READ, TAINT_USER } from "@vfio-lab/kernel";
import { VfioDevice, VfioGroup, vfioPinPages } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import {
  PL011_VFIO_AMBA,
  PL011_VFIO_AMBA_MODULE,
  PL011_VFIO_AMBA_SPEC,
} from "../src/pl011-vfio-amba.js";
import {
  PL061_VFIO_AMBA,
  PL061_VFIO_AMBA_MODULE,
  PL061_VFIO_AMBA_SPEC,
} from "../src/pl061-vfio-amba.js";
import { vfioAmbaVariantDeviceOf } from "../src/vfio-amba-variant.js";
import { VFIO_PLATFORM_NODMA_LINE } from "../src/vfio-platform-nodma.js";
import {
  assign,
  type BootOptions,
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
  virtLab,
  type World,
  waitEventfd,
  withProperties,
} from "./platform-fixture.js";

/**
 * Boots with both variant modules, `emulated_iommu` as given; no allow_unsafe_interrupts, and a
 * VMM without capabilities.
 */
function bootRfc(emulated: boolean, opts: BootOptions = {}): World {
  return boot({
    unsafeInterrupts: false,
    vmmCaps: [],
    ...opts,
    modules: [
      [PL061_VFIO_AMBA_MODULE, { emulated_iommu: emulated }],
      [PL011_VFIO_AMBA_MODULE, { emulated_iommu: emulated }],
    ],
  });
}

/** PL061 TRM registers. */
const GPIO = { DIR: 0x400, IE: 0x410, RIS: 0x414 } as const;
/** PL011 TRM registers and bits. */
const UART = { DR: 0x00, FR: 0x18, CR: 0x30, IMSC: 0x38, RIS: 0x3c, ICR: 0x44 } as const;
const CR_UARTEN = 0x001;
const CR_LBE = 0x080;
const CR_TXE = 0x100;
const CR_RXE = 0x200;
const INT_RX = 1 << 4;

describe("what the drivers know", () => {
  test.each([
    ["PL061", PL061_VFIO_AMBA_SPEC, PL061_REGISTER_MAP, "GPIO"],
    ["PL011", PL011_VFIO_AMBA_SPEC, PL011_REGISTER_MAP, "UART"],
  ] as const)(
    "the %s reset writes the registers the TRM names at those offsets",
    (_n, spec, map, prefix) => {
      for (const w of spec.reset) {
        expect(map.decode(w.offset)?.spec.name).toBe(w.name.slice(prefix.length));
      }
    },
  );

  test("the parameter has no sysfs file (perm 0)", () => {
    const w = bootRfc(true);
    expect(w.admin.readdir(`/sys/module/${PL061_VFIO_AMBA_MODULE}`)).not.toContain("parameters");
    expect(w.admin.readdir(`/sys/module/${PL011_VFIO_AMBA_MODULE}`)).not.toContain("parameters");
  });
});

describe("binding", () => {
  test("only driver_override binds a variant: drivers_probe alone gives the PL061 back to pl061_gpio", () => {
    const w = bootRfc(true);
    w.admin.writeFile(`/sys/bus/amba/devices/${DEV.PL061.name}/driver/unbind`, DEV.PL061.name);
    w.admin.writeFile("/sys/bus/amba/drivers_probe", DEV.PL061.name);
    expect(driverOf(w.admin, DEV.PL061)).toBe("pl061_gpio");
  });

  test("another PrimeCell is refused with ENODEV, silently ('rejects match')", () => {
    const w = bootRfc(true);
    const lines = dmesgOf(w.kernel, () => {
      expect(assign(w.admin, DEV.PL031, PL061_VFIO_AMBA)).toBe(DEV.PL031.name.length);
    });
    expect(lines).toEqual([]);
    expect(driverOf(w.admin, DEV.PL031)).toBeNull();
    expect(() =>
      w.admin.writeFile(`/sys/bus/amba/drivers/${PL061_VFIO_AMBA}/bind`, DEV.PL031.name),
    ).toThrowErrno("ENODEV");
  });
});

describe("emulated_iommu off: registered as vfio-amba registers", () => {
  test("EINVAL without an IOMMU group, and no deprecation line", () => {
    const w = bootRfc(false);
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.PL061, PL061_VFIO_AMBA));
    expect(lines).toEqual([
      "pl061-vfio-amba 9030000.pl061: probe with driver pl061-vfio-amba failed with error -22",
    ]);
    expect(driverOf(w.admin, DEV.PL061)).toBeNull();
  });

  test("with no-IOMMU mode: a tainting noiommu group that needs CAP_SYS_RAWIO (EPERM without)", () => {
    const w = bootRfc(false, { cmdline: "vfio.enable_unsafe_noiommu_mode=1" });
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.PL061, PL061_VFIO_AMBA));
    expect(lines).toContain(
      "pl061-vfio-amba 9030000.pl061: Adding kernel taint for vfio-noiommu group on device",
    );
    expect(w.kernel.taint.test(TAINT_USER)).toBe(true);
    expect(() => VfioGroup.open(w.vmm, "noiommu-3")).toThrowErrno("EPERM");
  });
});

describe("emulated_iommu on: the driver knows the PrimeCell cannot DMA", () => {
  test("a private group, no taint line, no model line of RFC (a), no deprecation", () => {
    const w = bootRfc(true);
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.PL061, PL061_VFIO_AMBA));
    expect(lines).toEqual(["pl061-vfio-amba 9030000.pl061: Adding to iommu group 3"]);
    expect(lines.join("\n")).not.toContain(VFIO_PLATFORM_NODMA_LINE);
    expect(w.admin.readFile("/proc/sys/kernel/tainted")).toBe("0\n");
    expect(w.admin.readdir("/dev/vfio")).toContain("3");
    expect(cdevPath(w.admin, DEV.PL061)).toMatch(/^\/dev\/vfio\/devices\/vfio\d+$/);
  });

  test("opened without CAP_SYS_RAWIO: flags 0x9 (AMBA | RESET), and the reset quiets the PL061 at open", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL061, PL061_VFIO_AMBA);
    // What pl061_gpio left behind, or a previous user: interrupts and outputs.
    w.soc.bus.write(DEV.PL061.base + GPIO.IE, 4, 0x0f);
    w.soc.bus.write(DEV.PL061.base + GPIO.DIR, 4, 0xf0);
    const lines = dmesgOf(w.kernel, () => {
      const { device } = openDevice(w.vmm, DEV.PL061);
      expect(device.info()).toMatchObject({ flags: 0x9, numRegions: 1, numIrqs: 1 });
    });
    expect(lines).toEqual(["pl061-vfio-amba 9030000.pl061: VFIO: reset"]);
    expect(w.soc.bus.read(DEV.PL061.base + GPIO.IE, 4)).toBe(0);
    expect(w.soc.bus.read(DEV.PL061.base + GPIO.DIR, 4)).toBe(0);
  });

  test("VFIO_DEVICE_RESET: `VFIO: reset`, GPIOIE and GPIODIR cleared", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL061, PL061_VFIO_AMBA);
    const { device } = openDevice(w.vmm, DEV.PL061);
    const gpio = mmioOf(w.vmm, device);
    gpio.writel(GPIO.IE, 0xff);
    gpio.writel(GPIO.DIR, 0x0f);
    const lines = dmesgOf(w.kernel, () => device.reset());
    expect(lines).toEqual(["pl061-vfio-amba 9030000.pl061: VFIO: reset"]);
    expect(gpio.readl(GPIO.IE)).toBe(0);
    expect(gpio.readl(GPIO.DIR)).toBe(0);
  });

  test("PL061: SET_IRQS is EINVAL, as through vfio-amba (no variant can undo IRQ_NOREQUEST)", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL061, PL061_VFIO_AMBA);
    const { device } = openDevice(w.vmm, DEV.PL061);
    expect(device.irqInfo(0).flags).toBe(0x7);
    expect(() =>
      device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [eventfd(w.vmm)] } }),
    ).toThrowErrno("EINVAL");
  });

  test("MAP_DMA succeeds and pins nothing; vfio_pin_pages() is EINVAL", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL061, PL061_VFIO_AMBA);
    const { container } = openDevice(w.vmm, DEV.PL061);
    const buf = mmapAnon(w.vmm, 8 * PAGE_SIZE);
    container.mapDma({ vaddr: buf, iova: 0x10_0000n, size: 8 * PAGE_SIZE });
    expect(w.kernel.allocator.totalPins).toBe(0);
    expect(w.vmm.mm.lockedVm).toBe(0);
    const vdev = vfioAmbaVariantDeviceOf(w.kernel, PL061_VFIO_AMBA, DEV.PL061.name);
    expect(() => vfioPinPages(vdev, 0x10_0000n, 1, IOMMU_READ)).toThrowErrno("EINVAL");
  });

  test("close resets again; the module is in use while the fd is open, and unloads after", () => {
    const w = bootRfc(true);
    assign(w.admin, DEV.PL061, PL061_VFIO_AMBA);
    const { container, group, device } = openDevice(w.vmm, DEV.PL061);
    expect(() => w.kernel.rmmod(PL061_VFIO_AMBA_MODULE)).toThrowErrno("EAGAIN");
    const lines = dmesgOf(w.kernel, () => device.close());
    expect(lines).toEqual(["pl061-vfio-amba 9030000.pl061: VFIO: reset"]);
    group.close();
    container.close();
    w.kernel.rmmod(PL061_VFIO_AMBA_MODULE);
    expect(driverOf(w.admin, DEV.PL061)).toBeNull();
    expect(w.admin.readdir("/dev/vfio")).not.toContain("3");
  });

  test("a PL061 a board does put behind the SMMU keeps its real group (no EEXIST)", () => {
    const board = withProperties(virtLab(), "pl061@9030000", ["iommus = <&smmu 0x40>;"]);
    const w = bootRfc(true, { board });
    const group = iommuGroupOf(w.admin, DEV.PL061);
    const lines = dmesgOf(w.kernel, () => assign(w.admin, DEV.PL061, PL061_VFIO_AMBA));
    expect(lines.join("\n")).not.toContain("Adding to iommu group");
    expect(driverOf(w.admin, DEV.PL061)).toBe(PL061_VFIO_AMBA);
    expect(iommuGroupOf(w.admin, DEV.PL061)).toBe(group);
    expect(w.admin.readdir("/dev/vfio")).toContain(String(group));
  });

  test("PL011 end to end: the loop-back RX interrupt on an eventfd, automasked until UNMASK", () => {
    const w = bootRfc(true);
    const unbind = dmesgOf(w.kernel, () => assign(w.admin, DEV.PL011, PL011_VFIO_AMBA));
    expect(unbind).toContain("printk: legacy console [ttyAMA0] disabled");
    const iommufd = IommuFd.open(w.vmm);
    const device = VfioDevice.openCdev(w.vmm, cdevPath(w.vmm, DEV.PL011));
    device.bindIommufd(iommufd);
    device.attachPt(iommufd.ioasAlloc());
    expect(device.info().flags).toBe(0x9);
    expect(w.vmm.readFile("/proc/interrupts")).toMatch(
      /Level\s+vfio-irq\[\d+\]\(pl011-vfio-amba\)/,
    );
    const uart = mmioOf(w.vmm, device);
    // The reset at open left the UART off with every interrupt masked.
    expect(uart.readl(UART.CR)).toBe(0);
    const efd = eventfd(w.vmm);
    device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [efd] } });
    uart.writel(UART.IMSC, INT_RX);
    uart.writel(UART.CR, CR_UARTEN | CR_TXE | CR_RXE | CR_LBE);
    uart.writel(UART.DR, 0x41);
    expect(waitEventfd(w.vmm, efd, 1_000_000_000)).toBe(true);
    expect(eventfdRead(w.vmm, efd)).toBe(1n);
    expect(uart.readl(UART.DR) & 0xff).toBe(0x41);
    // Serviced (the FIFO is empty again): UNMASK lets the line through, and it stays quiet.
    uart.writel(UART.ICR, 0x7ff);
    device.setIrqs({ index: 0, action: "unmask" });
    expect(waitEventfd(w.vmm, efd, 1_000_000_000)).toBe(false);
    // Another byte, another interrupt: the unmask worked.
    uart.writel(UART.DR, 0x42);
    expect(waitEventfd(w.vmm, efd, 1_000_000_000)).toBe(true);
    expect(w.kernel.taint.test(TAINT_USER)).toBe(false);
    device.close();
    iommufd.close();
  });
});
