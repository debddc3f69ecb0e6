import { boards } from "@vfio-lab/hw-soc";
import {
  IORESOURCE_BUSY,
  IRQ_DISABLE_UNLAZY,
  type Kernel,
  O_RDWR,
  O_WRONLY,
  type PlatformDevice,
} from "@vfio-lab/kernel";
import { describe, expect, test } from "vitest";
import { assignToDriver, boot, dmesgOf, driverOf } from "../test/fixture.js";
import { uioOf } from "./uio.js";
import { UIO_IRQ_NONE } from "./uio-driver.js";
import { UIO_PDRV_GENIRQ, uioPdrvGenirqModule, uioPdrvGenirqOf } from "./uio-pdrv-genirq.js";

const ENGINE = "c031000.dma-test";
const VIRTIO = "a000200.virtio_mmio";

/** The board with `extra` added to the platform bus (after dma-test@31000). */
function boardWith(extra: string): string {
  const dts = boards.virtLab();
  const anchor = "\t\tdma-test@31000 {";
  if (!dts.includes(anchor)) throw new Error("virt-lab board: no dma-test@31000 node");
  return dts.replace(anchor, `${extra}\n${anchor}`);
}

/** dmesg lines without their timestamps. */
function logOf(kernel: Kernel, f: () => void): string[] {
  return dmesgOf(kernel, f).map((l) => l.replace(/^\[[ .\d]+\] /, ""));
}

function listing(kernel: Kernel, path: string): string[] {
  return kernel
    .spawn({ comm: "ls" })
    .readdir(path)
    .filter((n) => !n.startsWith("."))
    .sort();
}

describe("binding", () => {
  test("without of_id or an override nothing binds it", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    admin.writeFile("/sys/bus/platform/drivers_probe", VIRTIO);
    expect(driverOf(admin, "platform", VIRTIO)).toBeNull();
    expect(listing(kernel, "/sys/class/uio")).toEqual([]);
  });

  test("of_id binds every unbound device with that compatible at load, and only those", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule, { of_id: "qemu,fw-cfg-mmio" });
    expect(driverOf(admin, "platform", "9020000.fw-cfg")).toBe(UIO_PDRV_GENIRQ);
    expect(listing(kernel, "/sys/class/uio")).toEqual(["uio0"]);
    expect(admin.readFile("/sys/class/uio/uio0/name")).toBe("fw-cfg@9020000\n");
  });

  test("of_id does not take devices other drivers hold", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule, { of_id: "vfio-lab,dma-test" });
    expect(driverOf(admin, "platform", ENGINE)).toBe("vfio-lab-dma-test");
    admin.writeFile(`/sys/bus/platform/devices/${ENGINE}/driver/unbind`, ENGINE);
    admin.writeFile("/sys/bus/platform/drivers_probe", ENGINE);
    // Both drivers match now; the one registered first (the built-in) wins the probe.
    expect(driverOf(admin, "platform", ENGINE)).toBe("vfio-lab-dma-test");
  });

  test("of_id has no file under /sys/module (perm 0)", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule, { of_id: "virtio,mmio" });
    expect(admin.readdir("/sys/module/uio_pdrv_genirq")).not.toContain("parameters");
  });

  test("an of_id of 128 bytes or more does not fit: the load fails ENOSPC", () => {
    const { kernel } = boot();
    const lines = logOf(kernel, () => {
      expect(() => kernel.modprobe(uioPdrvGenirqModule, { of_id: "x".repeat(128) })).toThrowErrno(
        "ENOSPC",
      );
    });
    expect(lines).toContain("of_id: string doesn't fit in 127 chars.");
    expect(kernel.modules.isLoaded(UIO_PDRV_GENIRQ)).toBe(false);
    kernel.modprobe(uioPdrvGenirqModule, { of_id: "x".repeat(127) });
  });

  test("rmmod uio is refused while uio_pdrv_genirq uses it", () => {
    const { kernel } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    expect(() => kernel.rmmod("uio")).toThrowErrno("EAGAIN");
  });

  test("an open /dev/uioN pins uio_pdrv_genirq; rmmod after close unbinds its devices", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    assignToDriver(admin, "platform", VIRTIO, UIO_PDRV_GENIRQ);
    const fd = admin.open("/dev/uio0", O_RDWR);
    expect(() => kernel.rmmod(UIO_PDRV_GENIRQ)).toThrowErrno("EAGAIN");
    admin.close(fd);
    kernel.rmmod(UIO_PDRV_GENIRQ);
    expect(driverOf(admin, "platform", VIRTIO)).toBeNull();
    expect(listing(kernel, "/sys/class/uio")).toEqual([]);
  });

  test("it is a DMA-API driver: binding claims the device's IOMMU group for the kernel", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    const dev = kernel.drivers.findDevice("platform", "c030000.dma-test")!;
    const group = kernel.iommu.deviceGroup(dev)!;
    admin.writeFile("/sys/bus/platform/devices/c030000.dma-test/driver/unbind", "c030000.dma-test");
    expect(group.ownerCnt).toBe(0);
    assignToDriver(admin, "platform", "c030000.dma-test", UIO_PDRV_GENIRQ);
    expect(driverOf(admin, "platform", "c030000.dma-test")).toBe(UIO_PDRV_GENIRQ);
    expect(group.ownerCnt).toBe(1);
  });
});

describe("probe", () => {
  test("the UIO name is the node's name with its unit address (%pfwP), version devicetree", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    assignToDriver(admin, "platform", ENGINE, UIO_PDRV_GENIRQ);
    expect(admin.readFile("/sys/class/uio/uio0/name")).toBe("dma-test@31000\n");
    expect(admin.readFile("/sys/class/uio/uio0/version")).toBe("devicetree\n");
  });

  test("linux,uio-name overrides the name", () => {
    const dts = boards
      .virtLab()
      .replace(
        'compatible = "vfio-lab,dma-test";\n\t\t\treg = <0x31000 0x1000>;',
        'compatible = "vfio-lab,dma-test";\n\t\t\tlinux,uio-name = "engine1", "ignored";\n\t\t\treg = <0x31000 0x1000>;',
      );
    const { kernel, admin } = boot(dts);
    kernel.modprobe(uioPdrvGenirqModule);
    assignToDriver(admin, "platform", ENGINE, UIO_PDRV_GENIRQ);
    expect(admin.readFile("/sys/class/uio/uio0/name")).toBe("engine1\n");
  });

  test("maps: reg-names or the node name, page-rounded, at most five with a warning", () => {
    const dts = boardWith(`
		uio-test@40000 {
			compatible = "vfio-lab,uio-test";
			reg = <0x40000 0x1000>, <0x41100 0x100>, <0x42ff0 0x20>, <0x44000 0x1000>, <0x45000 0x1000>, <0x46000 0x1000>;
			reg-names = "ctrl", "fifo";
			interrupts = <0x0 0x7f 0x4>;
		};`);
    const { kernel, admin } = boot(dts);
    kernel.modprobe(uioPdrvGenirqModule);
    const lines = logOf(kernel, () =>
      assignToDriver(admin, "platform", "c040000.uio-test", UIO_PDRV_GENIRQ),
    );
    expect(lines).toEqual([
      "uio_pdrv_genirq c040000.uio-test: device has more than 5 I/O memory resources.",
    ]);
    const map = (m: number, f: string) =>
      admin.readFile(`/sys/class/uio/uio0/maps/map${m}/${f}`).trimEnd();
    expect(listing(kernel, "/sys/class/uio/uio0/maps")).toEqual([
      "map0",
      "map1",
      "map2",
      "map3",
      "map4",
    ]);
    expect([map(0, "name"), map(0, "addr"), map(0, "size"), map(0, "offset")]).toEqual([
      "ctrl",
      "0x000000000c040000",
      "0x0000000000001000",
      "0x0",
    ]);
    expect([map(1, "name"), map(1, "addr"), map(1, "size"), map(1, "offset")]).toEqual([
      "fifo",
      "0x000000000c041000",
      "0x0000000000001000",
      "0x100",
    ]);
    // 0x20 bytes from 0xff0 straddle a page boundary: two pages.
    expect([map(2, "name"), map(2, "addr"), map(2, "size"), map(2, "offset")]).toEqual([
      "uio-test@40000",
      "0x000000000c042000",
      "0x0000000000002000",
      "0xff0",
    ]);
  });

  test("only resources whose flags are exactly IORESOURCE_MEM become maps", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    const pdev = kernel.drivers.findDevice("platform", VIRTIO) as PlatformDevice;
    pdev.resources[0]!.flags |= IORESOURCE_BUSY;
    assignToDriver(admin, "platform", VIRTIO, UIO_PDRV_GENIRQ);
    expect(listing(kernel, "/sys/class/uio/uio0")).not.toContain("maps");
  });

  test("a device without interrupts gets UIO_IRQ_NONE and requests nothing", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    assignToDriver(admin, "platform", "9020000.fw-cfg", UIO_PDRV_GENIRQ);
    const pdev = kernel.drivers.findDevice("platform", "9020000.fw-cfg") as PlatformDevice;
    expect(uioPdrvGenirqOf(pdev)?.uioinfo.irq).toBe(UIO_IRQ_NONE);
    expect(admin.readFile("/proc/interrupts")).not.toContain("fw-cfg");
  });

  test("an edge interrupt is not made unlazy; a level one is", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    assignToDriver(admin, "platform", VIRTIO, UIO_PDRV_GENIRQ);
    assignToDriver(admin, "platform", ENGINE, UIO_PDRV_GENIRQ);
    const settings = (hwirq: number) =>
      kernel.irq.irqToDesc(kernel.irq.irqFindMapping(hwirq))?.settings ?? 0;
    expect(settings(49) & IRQ_DISABLE_UNLAZY).toBe(0);
    expect(settings(158) & IRQ_DISABLE_UNLAZY).toBe(IRQ_DISABLE_UNLAZY);
  });

  test("an interrupt whose controller has no driver defers the probe, silently", () => {
    const dts = boardWith(`
		intc2: interrupt-controller@48000 {
			compatible = "vfio-lab,no-driver-intc";
			reg = <0x48000 0x1000>;
			interrupt-controller;
			#interrupt-cells = <0x1>;
		};

		uio-test@40000 {
			compatible = "vfio-lab,uio-test";
			reg = <0x40000 0x1000>;
			interrupt-parent = <&intc2>;
			interrupts = <0x3>;
		};`);
    const { kernel, admin } = boot(dts);
    kernel.modprobe(uioPdrvGenirqModule);
    const lines = logOf(kernel, () =>
      assignToDriver(admin, "platform", "c040000.uio-test", UIO_PDRV_GENIRQ),
    );
    expect(lines).toEqual([]);
    expect(driverOf(admin, "platform", "c040000.uio-test")).toBeNull();
    expect(listing(kernel, "/sys/class/uio")).toEqual([]);
  });

  test("every allocation failure fails the probe with ENOMEM, leaves nothing, and a retry binds", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    admin.writeFile(`/sys/bus/platform/devices/${ENGINE}/driver/unbind`, ENGINE);
    admin.writeFile(`/sys/bus/platform/devices/${ENGINE}/driver_override`, UIO_PDRV_GENIRQ);
    // Count the fallible sites of one successful probe, then fail each in turn.
    // (The write's own user-memory allocations are not the probe's: prepared first.)
    const va = admin.malloc(64);
    admin.poke(va, new TextEncoder().encode(ENGINE));
    const fd = admin.open("/sys/bus/platform/drivers_probe", O_WRONLY);
    const probe = () => admin.pwrite(fd, va, ENGINE.length, 0);
    const sites: string[] = [];
    kernel.allocator.setFailHook((s) => {
      sites.push(s);
      return false;
    });
    probe();
    kernel.allocator.setFailHook(undefined);
    admin.writeFile(`/sys/bus/platform/devices/${ENGINE}/driver/unbind`, ENGINE);
    expect(sites).toEqual([
      "devm_kzalloc",
      "devm_kzalloc",
      "devres_alloc",
      "kzalloc",
      "kobject_create_and_add",
      "kzalloc",
    ]);
    for (let nth = 1; nth <= sites.length; nth++) {
      let n = 0;
      kernel.allocator.setFailHook(() => ++n === nth);
      const lines = logOf(kernel, () => expect(probe()).toBe(ENGINE.length));
      kernel.allocator.setFailHook(undefined);
      expect(lines.at(-1)).toBe(
        `${UIO_PDRV_GENIRQ} ${ENGINE}: probe with driver ${UIO_PDRV_GENIRQ} failed with error -12`,
      );
      expect(driverOf(admin, "platform", ENGINE)).toBeNull();
      expect(listing(kernel, "/sys/class/uio")).toEqual([]);
      expect(admin.readFile("/proc/interrupts")).not.toContain("dma-test@31000");
      expect(uioOf(kernel)?.devices.size).toBe(0);
    }
    probe();
    expect(listing(kernel, "/sys/class/uio")).toEqual(["uio0"]);
  });

  test("the failing step names itself in the log", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    const failing = (site: string, nth: number) => {
      let n = 0;
      kernel.allocator.setFailHook((s) => s === site && ++n === nth);
      const lines = logOf(kernel, () => assignToDriver(admin, "platform", VIRTIO, UIO_PDRV_GENIRQ));
      kernel.allocator.setFailHook(undefined);
      return lines.slice(0, -1);
    };
    const prefix = `${UIO_PDRV_GENIRQ} ${VIRTIO}: `;
    expect(failing("devm_kzalloc", 1)).toEqual([`${prefix}unable to kmalloc`]);
    expect(failing("devm_kzalloc", 2)).toEqual([`${prefix}unable to kmalloc`]);
    expect(failing("devres_alloc", 1)).toEqual([`${prefix}unable to register uio device`]);
    expect(failing("kobject_create_and_add", 1)).toEqual([
      "uio uio0: error creating sysfs files (-12)",
      `${prefix}unable to register uio device`,
    ]);
  });
});

describe("interrupt control", () => {
  test("write(0)/write(1) keep the line's disable depth at one, whatever the sequence", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    assignToDriver(admin, "platform", VIRTIO, UIO_PDRV_GENIRQ);
    const virq = kernel.irq.irqFindMapping(49);
    const fd = admin.open("/dev/uio0", O_RDWR);
    const va = admin.malloc(4);
    const control = (v: number) => {
      admin.poke(va, [v, 0, 0, 0]);
      admin.write(fd, va, 4);
    };
    const lines = logOf(kernel, () => {
      control(0);
      control(0);
      expect(kernel.irq.irqInfo(virq)).toMatchObject({ depth: 1, disabled: true });
      control(1);
      expect(kernel.irq.irqInfo(virq)).toMatchObject({ depth: 0, disabled: false });
      control(1);
      control(1);
      expect(kernel.irq.irqInfo(virq)).toMatchObject({ depth: 0, disabled: false });
    });
    // No "Unbalanced enable for IRQ" WARN.
    expect(lines).toEqual([]);
  });
});
