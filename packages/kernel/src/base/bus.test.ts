import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { setupKernelMatchers } from "../testing/matchers.js";
import { AMBA_IDS, ambaDriver, baseWorld, platformDriver } from "./base-test-fixture.js";
import { cString, sysfsStreq } from "./bus.js";

setupKernelMatchers();

const SMMU = "9050000.smmuv3";
const smmuDriver = (extra = {}) =>
  platformDriver("arm-smmu-v3", { ofMatchTable: [{ compatible: "arm,smmu-v3" }], ...extra });

describe("/sys/bus/<bus> after bus_register", () => {
  test("has devices/, drivers/, drivers_probe, drivers_autoprobe and uevent", () => {
    const w = baseWorld();
    expect(w.ls("/sys/bus").sort()).toEqual(["amba", "platform"]);
    expect(w.ls("/sys/bus/platform").sort()).toEqual(
      ["devices", "drivers", "drivers_autoprobe", "drivers_probe", "uevent"].sort(),
    );
    expect(w.cat("/sys/bus/platform/drivers_autoprobe")).toBe("1\n");
  });

  test("a registered driver has bind, unbind and uevent, and links its bound devices", () => {
    const w = baseWorld();
    w.core.registerDriver(smmuDriver());
    expect(w.ls("/sys/bus/platform/drivers/arm-smmu-v3").sort()).toEqual(
      [SMMU, "bind", "unbind", "uevent"].sort(),
    );
  });

  test("suppress_bind_attrs leaves bind and unbind out", () => {
    const w = baseWorld();
    w.core.registerDriver(smmuDriver({ suppressBindAttrs: true }));
    expect(w.exists("/sys/bus/platform/drivers/arm-smmu-v3/bind")).toBe(false);
    expect(w.exists("/sys/bus/platform/drivers/arm-smmu-v3/unbind")).toBe(false);
  });

  test("a second driver of the same name is EBUSY, with the kernel's message", () => {
    const w = baseWorld();
    w.core.registerDriver(smmuDriver());
    expect(() => w.core.registerDriver(smmuDriver())).toThrowErrno("EBUSY");
    expect(w.log()).toContain("Error: Driver 'arm-smmu-v3' is already registered, aborting...");
  });

  test("an owner module gets the module link and /sys/module/<mod>/drivers/<bus>:<drv>", () => {
    const w = baseWorld();
    w.sysfs.mkdir("/sys/module/vfio_platform");
    w.core.registerDriver(platformDriver("vfio-platform", { owner: "vfio_platform" }));
    expect(w.readlink("/sys/bus/platform/drivers/vfio-platform/module")).toBe(
      "../../../../module/vfio_platform",
    );
    expect(w.readlink("/sys/module/vfio_platform/drivers/platform:vfio-platform")).toBe(
      "../../../bus/platform/drivers/vfio-platform",
    );
    w.core.unregisterDriver(
      w.core.bus("platform")!.drivers.find((d) => d.name === "vfio-platform")!,
    );
    expect(w.exists("/sys/module/vfio_platform/drivers/platform:vfio-platform")).toBe(false);
    expect(w.exists("/sys/bus/platform/drivers/vfio-platform")).toBe(false);
  });
});

describe("bind_store", () => {
  test("binds a matching unbound device", () => {
    const w = baseWorld();
    const drv = smmuDriver();
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    w.core.registerDriver(drv);
    expect(drv.probed).toEqual([]);
    w.echo("/sys/bus/platform/drivers/arm-smmu-v3/bind", `${SMMU}\n`);
    expect(drv.probed).toEqual([SMMU]);
  });

  test("ENODEV for an unknown device", () => {
    const w = baseWorld();
    w.core.registerDriver(smmuDriver());
    expect(() => w.echo("/sys/bus/platform/drivers/arm-smmu-v3/bind", "nope")).toThrowErrno(
      "ENODEV",
    );
  });

  test("ENODEV when the driver does not match the device", () => {
    const w = baseWorld();
    w.core.registerDriver(smmuDriver());
    expect(() =>
      w.echo("/sys/bus/platform/drivers/arm-smmu-v3/bind", "9020000.fw-cfg"),
    ).toThrowErrno("ENODEV");
  });

  test("ENODEV when driver_override names another driver", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    w.core.registerDriver(smmuDriver());
    w.echo(`/sys/bus/platform/devices/${SMMU}/driver_override`, "vfio-platform");
    expect(() => w.echo("/sys/bus/platform/drivers/arm-smmu-v3/bind", SMMU)).toThrowErrno("ENODEV");
  });

  test("EBUSY when the device already has a driver", () => {
    const w = baseWorld();
    w.core.registerDriver(smmuDriver());
    expect(() => w.echo("/sys/bus/platform/drivers/arm-smmu-v3/bind", SMMU)).toThrowErrno("EBUSY");
  });

  test("a failed probe's errno comes back", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    w.core.registerDriver(
      smmuDriver({
        probe: () => {
          throw new SysError("EIO", "arm_smmu_device_probe");
        },
      }),
    );
    expect(() => w.echo("/sys/bus/platform/drivers/arm-smmu-v3/bind", SMMU)).toThrowErrno("EIO");
  });

  test("EPROBE_DEFER from the probe becomes EAGAIN, and the device is not put on the deferred list", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    w.core.registerDriver(
      smmuDriver({
        probe: () => {
          throw new SysError("EPROBE_DEFER", "arm_smmu_device_probe");
        },
      }),
    );
    expect(() => w.echo("/sys/bus/platform/drivers/arm-smmu-v3/bind", SMMU)).toThrowErrno("EAGAIN");
    expect(w.core.binding.deferredDevices()).toEqual([]);
  });

  test("a DMA-configuration error passes through unchanged (EBUSY: the group is user-owned)", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    w.core.registerDriver(smmuDriver());
    w.dma.useFails.set(SMMU, "EBUSY");
    expect(() => w.echo("/sys/bus/platform/drivers/arm-smmu-v3/bind", SMMU)).toThrowErrno("EBUSY");
  });
});

describe("unbind_store", () => {
  test("unbinds the device from this driver", () => {
    const w = baseWorld();
    const drv = smmuDriver();
    w.core.registerDriver(drv);
    w.echo("/sys/bus/platform/drivers/arm-smmu-v3/unbind", `${SMMU}\n`);
    expect(drv.removed).toEqual([SMMU]);
    expect(w.exists(`/sys/devices/platform/${SMMU}/driver`)).toBe(false);
    expect(w.exists(`/sys/bus/platform/drivers/arm-smmu-v3/${SMMU}`)).toBe(false);
  });

  test("ENODEV for an unknown device", () => {
    const w = baseWorld();
    w.core.registerDriver(smmuDriver());
    expect(() => w.echo("/sys/bus/platform/drivers/arm-smmu-v3/unbind", "nope")).toThrowErrno(
      "ENODEV",
    );
  });

  test("ENODEV when the device is bound to another driver, or to none", () => {
    const w = baseWorld();
    w.core.registerDriver(smmuDriver());
    w.core.registerDriver(
      platformDriver("fw_cfg", { ofMatchTable: [{ compatible: "qemu,fw-cfg-mmio" }] }),
    );
    expect(() => w.echo("/sys/bus/platform/drivers/fw_cfg/unbind", SMMU)).toThrowErrno("ENODEV");
    expect(() => w.echo("/sys/bus/platform/drivers/fw_cfg/unbind", "9050000.smmuv3x")).toThrowErrno(
      "ENODEV",
    );
    w.echo("/sys/bus/platform/drivers/arm-smmu-v3/unbind", SMMU);
    expect(() => w.echo("/sys/bus/platform/drivers/arm-smmu-v3/unbind", SMMU)).toThrowErrno(
      "ENODEV",
    );
  });
});

describe("drivers_probe_store", () => {
  test("ENODEV for an unknown device", () => {
    const w = baseWorld();
    expect(() => w.echo("/sys/bus/platform/drivers_probe", "nope\n")).toThrowErrno("ENODEV");
  });

  test("succeeds when no driver matches (nothing binds)", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/drivers_probe", `${SMMU}\n`);
    expect(w.core.findDevice("platform", SMMU)!.driver).toBeNull();
  });

  test("succeeds when the matching driver's probe fails", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    w.core.registerDriver(
      smmuDriver({
        probe: () => {
          throw new SysError("EINVAL", "arm_smmu_device_probe");
        },
      }),
    );
    w.echo("/sys/bus/platform/drivers_probe", SMMU);
    expect(w.log()).toContain(
      `arm-smmu-v3 ${SMMU}: probe with driver arm-smmu-v3 failed with error -22`,
    );
    expect(w.core.findDevice("platform", SMMU)!.driver).toBeNull();
  });

  test("succeeds and does nothing for a device that is already bound", () => {
    const w = baseWorld();
    const drv = smmuDriver();
    w.core.registerDriver(drv);
    w.echo("/sys/bus/platform/drivers_probe", SMMU);
    expect(drv.probed).toEqual([SMMU]);
  });

  test("EINVAL when device_attach() fails (a DMA-configuration error stops the walk)", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    w.core.registerDriver(smmuDriver());
    w.dma.useFails.set(SMMU, "EBUSY");
    expect(() => w.echo("/sys/bus/platform/drivers_probe", SMMU)).toThrowErrno("EINVAL");
  });

  test("tries drivers in registration order and stops at the first that binds", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    const calls: string[] = [];
    const reject = platformDriver("first", {
      ofMatchTable: [{ compatible: "arm,smmu-v3" }],
      probe: () => {
        calls.push("first");
        throw new SysError("ENODEV", "first_probe");
      },
    });
    const accept = platformDriver("second", {
      ofMatchTable: [{ compatible: "arm,smmu-v3" }],
      probe: () => {
        calls.push("second");
      },
    });
    const third = platformDriver("third", {
      ofMatchTable: [{ compatible: "arm,smmu-v3" }],
      probe: () => {
        calls.push("third");
      },
    });
    for (const d of [reject, accept, third]) w.core.registerDriver(d);
    w.echo("/sys/bus/platform/drivers_probe", SMMU);
    expect(calls).toEqual(["first", "second"]);
    expect(w.core.findDevice("platform", SMMU)!.driver).toBe(accept);
    // ENODEV "rejects match" is a debug message only.
    expect(w.log().some((l) => l.includes("probe with driver first"))).toBe(false);
  });
});

describe("drivers_autoprobe", () => {
  test("'0…' stops binding at driver registration; anything else restores it", () => {
    const w = baseWorld();
    w.echo("/sys/bus/amba/drivers_autoprobe", "0\n");
    expect(w.cat("/sys/bus/amba/drivers_autoprobe")).toBe("0\n");
    const drv = ambaDriver("pl061_gpio", [AMBA_IDS.pl061]);
    w.core.registerDriver(drv);
    expect(drv.probed).toEqual([]);
    w.echo("/sys/bus/amba/drivers_autoprobe", "yes");
    expect(w.cat("/sys/bus/amba/drivers_autoprobe")).toBe("1\n");
    w.echo("/sys/bus/amba/drivers_probe", "9030000.pl061");
    expect(drv.probed).toEqual(["9030000.pl061"]);
  });
});

describe("uevent files", () => {
  test("an unknown action is EINVAL with the kernel's warning; a known one is accepted", () => {
    const w = baseWorld();
    w.echo("/sys/bus/platform/uevent", "add\n");
    w.echo(`/sys/devices/platform/${SMMU}/uevent`, "change");
    expect(() => w.echo("/sys/bus/platform/uevent", "explode")).toThrowErrno("EINVAL");
    expect(w.log()).toContain("synth uevent: /bus/platform: unknown uevent action string");
    expect(() => w.echo(`/sys/devices/platform/${SMMU}/uevent`, "bogus")).toThrowErrno("EINVAL");
    expect(w.log()).toContain(`platform ${SMMU}: uevent: failed to send synthetic uevent: -22`);
  });
});

describe("sysfs_streq and C strings", () => {
  test("one trailing newline on either side is ignored, nothing else", () => {
    expect(sysfsStreq("9030000.pl061", "9030000.pl061\n")).toBe(true);
    expect(sysfsStreq("9030000.pl061", "9030000.pl061\n\n")).toBe(false);
    expect(sysfsStreq("9030000.pl061", " 9030000.pl061")).toBe(false);
    expect(cString("9030000.pl061\0junk")).toBe("9030000.pl061");
  });
});
