import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { setupKernelMatchers } from "../testing/matchers.js";
import { baseWorld, platformDriver } from "./base-test-fixture.js";
import {
  PLATFORM_DEVID_AUTO,
  PLATFORM_DEVID_NONE,
  PlatformDevice,
  platformMatch,
} from "./platform.js";
import { IORESOURCE_IRQ, IORESOURCE_MEM, Resource } from "./resource.js";

setupKernelMatchers();

const ETH = "c010000.ethernet";

describe("platform_match", () => {
  test("OF first, then the id table, then the driver name", () => {
    const w = baseWorld();
    const eth = w.core.findDevice("platform", ETH) as PlatformDevice;
    expect(
      platformMatch(
        eth,
        platformDriver("calxedaxgmac", { ofMatchTable: [{ compatible: "calxeda,hb-xgmac" }] }),
      ),
    ).toBe(1);
    expect(
      platformMatch(eth, platformDriver("x", { ofMatchTable: [{ compatible: "acme,other" }] })),
    ).toBe(0);
    const byId = platformDriver("x", { idTable: [{ name: ETH, driverData: 7 }] });
    expect(platformMatch(eth, byId)).toBe(1);
    expect(eth.idEntry?.driverData).toBe(7);
    // With an id table, the driver name is not consulted.
    expect(platformMatch(eth, platformDriver(ETH, { idTable: [{ name: "nope" }] }))).toBe(0);
    expect(platformMatch(eth, platformDriver(ETH))).toBe(1);
  });

  test("compatible matching is case-insensitive, as of_compat_cmp() is", () => {
    const w = baseWorld();
    const eth = w.core.findDevice("platform", ETH) as PlatformDevice;
    expect(
      platformMatch(
        eth,
        platformDriver("x", { ofMatchTable: [{ compatible: "Calxeda,HB-XGMAC" }] }),
      ),
    ).toBe(1);
  });

  test("a driver_override decides alone", () => {
    const w = baseWorld();
    const eth = w.core.findDevice("platform", ETH) as PlatformDevice;
    const xgmac = platformDriver("calxedaxgmac", {
      ofMatchTable: [{ compatible: "calxeda,hb-xgmac" }],
    });
    eth.setDriverOverride("vfio-platform\n");
    expect(platformMatch(eth, xgmac)).toBe(0);
    expect(platformMatch(eth, platformDriver("vfio-platform"))).toBe(1);
    eth.setDriverOverride("\n");
    expect(platformMatch(eth, xgmac)).toBe(1);
  });

  test("the first driver registered with a match binds at population", () => {
    const w = baseWorld({ populate: false });
    const a = platformDriver("calxedaxgmac", {
      ofMatchTable: [{ compatible: "calxeda,hb-xgmac" }],
    });
    const b = platformDriver("other-xgmac", { ofMatchTable: [{ compatible: "calxeda,hb-xgmac" }] });
    w.core.registerDriver(a);
    w.core.registerDriver(b);
    w.core.populate();
    expect(a.probed).toEqual([ETH]);
    expect(b.probed).toEqual([]);
  });
});

describe("platform_get_irq", () => {
  test("returns the mapped IRQ of an interrupts entry", () => {
    const w = baseWorld();
    const eth = w.core.findDevice("platform", ETH) as PlatformDevice;
    expect([0, 1, 2].map((i) => eth.getIrq(i))).toEqual([153, 154, 155]);
    expect(eth.irqCount()).toBe(3);
  });

  test("ENXIO with 'error -ENXIO: IRQ index 3 not found'", () => {
    const w = baseWorld();
    const eth = w.core.findDevice("platform", ETH) as PlatformDevice;
    expect(() => eth.getIrq(3)).toThrowErrno("ENXIO");
    expect(w.log()).toEqual([`platform ${ETH}: error -ENXIO: IRQ index 3 not found`]);
  });

  test("without CONFIG_SYMBOLIC_ERRNAME %pe prints the number", () => {
    const w = baseWorld({ symbolicErrname: false });
    const eth = w.core.findDevice("platform", ETH) as PlatformDevice;
    expect(() => eth.getIrq(5)).toThrowErrno("ENXIO");
    expect(w.log()).toEqual([`platform ${ETH}: error -6: IRQ index 5 not found`]);
  });

  test("the optional form fails the same way but logs nothing", () => {
    const w = baseWorld();
    const eth = w.core.findDevice("platform", ETH) as PlatformDevice;
    expect(() => eth.getIrqOptional(3)).toThrowErrno("ENXIO");
    expect(w.log()).toEqual([]);
  });

  test("EPROBE_DEFER while the interrupt controller is missing; only the reason is kept", () => {
    const w = baseWorld();
    const eth = w.core.findDevice("platform", ETH) as PlatformDevice;
    w.irq.defer = true;
    expect(() => eth.getIrq(0)).toThrowErrno("EPROBE_DEFER");
    expect(() => eth.irqCount()).toThrowErrno("EPROBE_DEFER");
    expect(w.log()).toEqual([]);
    expect(eth.deferredProbeReason).toBe("platform: IRQ index 0 not found");
  });

  test("falls back to IRQ resources; an IRQ resource of 0 is EINVAL", () => {
    const w = baseWorld();
    const pdev = new PlatformDevice(w.core.deviceContext, "serial8250", PLATFORM_DEVID_NONE, [
      new Resource(42, 42, IORESOURCE_IRQ),
      new Resource(0, 0, IORESOURCE_IRQ),
    ]);
    w.core.platformDeviceAdd(pdev);
    expect(pdev.getIrq(0)).toBe(42);
    expect(() => pdev.getIrqOptional(1)).toThrowErrno("EINVAL");
    expect(w.log()).toContain("0 is an invalid IRQ number");
  });
});

describe("platform_get_resource", () => {
  test("counts per type; get_mem_or_io skips IRQs", () => {
    const w = baseWorld();
    const pdev = new PlatformDevice(w.core.deviceContext, "x", PLATFORM_DEVID_NONE, [
      new Resource(5, 5, IORESOURCE_IRQ),
      new Resource(0x1000, 0x1fff, IORESOURCE_MEM, "regs"),
      new Resource(0x3000, 0x3fff, IORESOURCE_MEM, "fifo"),
    ]);
    expect(pdev.getResource(IORESOURCE_MEM, 1)?.name).toBe("fifo");
    expect(pdev.getResource(IORESOURCE_MEM, 2)).toBeNull();
    expect(pdev.getMemOrIo(0)?.name).toBe("regs");
    expect(pdev.getResourceByName(IORESOURCE_MEM, "fifo")?.start).toBe(0x3000);
  });
});

describe("platform_device_add (devices not from the tree)", () => {
  test("names name, name.id or name.N.auto, under /sys/devices/platform", () => {
    const w = baseWorld();
    const a = new PlatformDevice(w.core.deviceContext, "reg-dummy", PLATFORM_DEVID_NONE);
    const b = new PlatformDevice(w.core.deviceContext, "serial8250", 3);
    const c = new PlatformDevice(w.core.deviceContext, "alarmtimer", PLATFORM_DEVID_AUTO);
    const d = new PlatformDevice(w.core.deviceContext, "alarmtimer", PLATFORM_DEVID_AUTO);
    for (const p of [a, b, c, d]) w.core.platformDeviceAdd(p);
    expect([a, b, c, d].map((p) => p.kobjPath)).toEqual([
      "/sys/devices/platform/reg-dummy",
      "/sys/devices/platform/serial8250.3",
      "/sys/devices/platform/alarmtimer.0.auto",
      "/sys/devices/platform/alarmtimer.1.auto",
    ]);
    expect(w.cat("/sys/devices/platform/serial8250.3/modalias")).toBe("platform:serial8250\n");
    expect(w.cat("/sys/devices/platform/serial8250.3/uevent")).toBe(
      "MODALIAS=platform:serial8250\n",
    );
  });

  test("a driver named like the device binds by name", () => {
    const w = baseWorld();
    const drv = platformDriver("reg-dummy");
    w.core.registerDriver(drv);
    w.core.platformDeviceAdd(
      new PlatformDevice(w.core.deviceContext, "reg-dummy", PLATFORM_DEVID_NONE),
    );
    expect(drv.probed).toEqual(["reg-dummy"]);
  });

  test("EBUSY 'failed to claim resource' for a window another device holds; nothing is left", () => {
    const w = baseWorld();
    const pdev = new PlatformDevice(w.core.deviceContext, "clash", PLATFORM_DEVID_NONE, [
      new Resource(0x9000000, 0x9000fff, IORESOURCE_MEM),
    ]);
    expect(() => w.core.platformDeviceAdd(pdev)).toThrowErrno("EBUSY");
    expect(w.log()).toContain(
      "platform clash: failed to claim resource 0: [mem 0x09000000-0x09000fff]",
    );
    expect(w.exists("/sys/devices/platform/clash")).toBe(false);
  });

  test("EEXIST for a taken name, with sysfs's warning", () => {
    const w = baseWorld();
    w.core.platformDeviceAdd(new PlatformDevice(w.core.deviceContext, "dup", PLATFORM_DEVID_NONE));
    expect(() =>
      w.core.platformDeviceAdd(
        new PlatformDevice(w.core.deviceContext, "dup", PLATFORM_DEVID_NONE),
      ),
    ).toThrowErrno("EEXIST");
    expect(w.log()).toContain("sysfs: cannot create duplicate filename '/devices/platform/dup'");
  });
});

describe("platform_probe", () => {
  test("prevent_deferred_probe turns a deferral into ENXIO with a warning", () => {
    const w = baseWorld();
    w.core.registerDriver(
      platformDriver("calxedaxgmac", {
        ofMatchTable: [{ compatible: "calxeda,hb-xgmac" }],
        preventDeferredProbe: true,
        probe: () => {
          throw new SysError("EPROBE_DEFER", "xgmac_probe");
        },
      }),
    );
    expect(w.log()).toContain(`calxedaxgmac ${ETH}: probe deferral not supported`);
    expect(w.core.binding.deferredDevices()).toEqual([]);
  });

  test("a bound device's uevent names its driver", () => {
    const w = baseWorld();
    w.core.registerDriver(
      platformDriver("calxedaxgmac", { ofMatchTable: [{ compatible: "calxeda,hb-xgmac" }] }),
    );
    expect(w.cat(`/sys/bus/platform/devices/${ETH}/uevent`).split("\n")[0]).toBe(
      "DRIVER=calxedaxgmac",
    );
  });
});
