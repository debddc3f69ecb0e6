/**
 * vfio-platform and vfio-amba as bus drivers (vfio_platform.c, vfio_amba.c): how they bind
 * (driver_override only), what their probe prints and returns on every path, the devices they
 * register, `driver_managed_dma`, remove, and the two modules with their parameter — seen
 * from an administrator's sysfs writes and a VMM's syscalls.
 */

import { type Process, TAINT_USER, WouldBlockForeverError } from "@vfio-lab/kernel";
import { VFIO_DEVICE_FLAGS_AMBA, VFIO_DEVICE_FLAGS_PLATFORM } from "@vfio-lab/kernel/uapi";
import { VfioContainer, VfioGroup } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import {
  CALXEDA_XGMAC_COMPAT,
  VFIO_PLATFORM_CALXEDAXGMAC,
  vfioPlatformCalxedaxgmacModule,
} from "../src/reset/vfio-platform-calxedaxgmac.js";
import {
  VFIO_AMBA,
  VFIO_AMBA_DEPRECATION,
  vfioAmbaModule,
  vfioAmbaName,
} from "../src/vfio-amba.js";
import { VFIO_PLATFORM, vfioPlatformDeviceOf, vfioPlatformModule } from "../src/vfio-platform.js";
import {
  assign,
  boot,
  DEV,
  dmesgOf,
  driverOf,
  groupPath,
  type LabDevice,
  openDevice,
  sysfsDir,
  sysfsWrite,
} from "./platform-fixture.js";

/** A directory's entries without `.` and `..`. */
const ls = (p: Process, path: string) => p.readdir(path).filter((e) => e !== "." && e !== "..");

const failed = (drv: string, dev: LabDevice, err: number) =>
  `${drv} ${dev.name}: probe with driver ${drv} failed with error ${err}`;

describe("binding", () => {
  test("vfio-amba's id table matches nothing: a PrimeCell without a driver stays unbound", () => {
    const { kernel, p } = boot();
    // The SP804 has no kernel driver; loading vfio_amba and reprobing still binds nothing.
    const log = dmesgOf(kernel, () => sysfsWrite(p, "/sys/bus/amba/drivers_probe", DEV.SP804.name));
    expect(driverOf(p, DEV.SP804)).toBeNull();
    expect(log).toEqual([]);
  });

  test("vfio-platform has no match table: an unbound platform device stays unbound", () => {
    const { p } = boot();
    // virtio_mmio has no driver on the board: only driver_override could hand it over.
    sysfsWrite(p, "/sys/bus/platform/drivers_probe", DEV.VIRTIO0.name);
    expect(driverOf(p, DEV.VIRTIO0)).toBeNull();
  });

  test("an override naming the driver binds it; clearing it gives the device back", () => {
    const { kernel, p } = boot();
    expect(assign(p, DEV.PL330, VFIO_AMBA)).toBe(DEV.PL330.name.length);
    expect(driverOf(p, DEV.PL330)).toBe(VFIO_AMBA);
    p.writeFile(`${sysfsDir(DEV.PL330)}/driver_override`, "\n");
    p.writeFile(`${sysfsDir(DEV.PL330)}/driver/unbind`, DEV.PL330.name);
    sysfsWrite(p, "/sys/bus/amba/drivers_probe", DEV.PL330.name);
    expect(driverOf(p, DEV.PL330)).toBe("dma-pl330");
    expect(() => vfioPlatformDeviceOf(kernel, "amba", DEV.PL330.name)).toThrow(/not bound/);
  });
});

describe("vfio-amba probe", () => {
  test("the PL330 (behind the SMMU) binds with its group: DEPRECATION, then nothing else", () => {
    const { kernel, p } = boot();
    const log = dmesgOf(kernel, () => assign(p, DEV.PL330, VFIO_AMBA));
    expect(log).toEqual([`vfio-amba ${DEV.PL330.name}: ${VFIO_AMBA_DEPRECATION}`]);
    expect(groupPath(p, DEV.PL330)).toBe("/dev/vfio/2");
    const vdev = vfioPlatformDeviceOf(kernel, "amba", DEV.PL330.name);
    expect(vdev.platformName).toBe("vfio-amba-00241330");
    expect(vdev.flags).toBe(VFIO_DEVICE_FLAGS_AMBA);
    expect(vdev.resetRequired).toBe(false);
    // vfio_platform_get_reset() found nothing for arm,pl330: no reset, no module pinned.
    expect(vdev.ofReset).toBeNull();
    expect(vdev.resetModule).toBeNull();
    expect(p.readdir(`${sysfsDir(DEV.PL330)}/vfio-dev`)).toContain("vfio0");
  });

  test("a PrimeCell behind no IOMMU: -22 from probe, yet drivers_probe returns its count", () => {
    const { kernel, p } = boot();
    let ret = 0;
    const log = dmesgOf(kernel, () => {
      ret = assign(p, DEV.PL061, VFIO_AMBA);
    });
    expect(ret).toBe(DEV.PL061.name.length);
    expect(log).toEqual([
      `vfio-amba ${DEV.PL061.name}: ${VFIO_AMBA_DEPRECATION}`,
      failed(VFIO_AMBA, DEV.PL061, -22),
    ]);
    expect(driverOf(p, DEV.PL061)).toBeNull();
    expect(ls(p, "/dev/vfio")).toEqual(["vfio"]);
  });

  test("bind returns the probe's EINVAL and prints the failure again, not the DEPRECATION", () => {
    const { kernel, p } = boot();
    assign(p, DEV.PL061, VFIO_AMBA);
    const log = dmesgOf(kernel, () =>
      expect(() =>
        sysfsWrite(p, `/sys/bus/amba/drivers/${VFIO_AMBA}/bind`, DEV.PL061.name),
      ).toThrowErrno("EINVAL"),
    );
    expect(log).toEqual([failed(VFIO_AMBA, DEV.PL061, -22)]);
  });

  test("DEPRECATION is once per load of vfio_amba: a reload prints it again", () => {
    const { kernel, p } = boot();
    const first = dmesgOf(kernel, () => {
      assign(p, DEV.PL061, VFIO_AMBA);
      assign(p, DEV.PL031, VFIO_AMBA);
      assign(p, DEV.PL330, VFIO_AMBA);
    });
    expect(first.filter((l) => l.includes("DEPRECATION"))).toEqual([
      `vfio-amba ${DEV.PL061.name}: ${VFIO_AMBA_DEPRECATION}`,
    ]);
    kernel.rmmod("vfio_amba");
    expect(driverOf(p, DEV.PL330)).toBeNull();
    // The overrides still name vfio-amba: registering the driver probes those devices at once.
    const again = dmesgOf(kernel, () => kernel.modprobe(vfioAmbaModule));
    // In the bus's device order; the PL031 and the PL061 fail again, the DEPRECATION is new.
    expect(again[0]).toMatch(/^vfio-amba \S+: DEPRECATION: vfio-amba is deprecated/);
    expect(again.slice(1).sort()).toEqual(
      [failed(VFIO_AMBA, DEV.PL031, -22), failed(VFIO_AMBA, DEV.PL061, -22)].sort(),
    );
    expect(driverOf(p, DEV.PL330)).toBe(VFIO_AMBA);
  });

  test("vdev->name is vfio-amba-<periphid %08x> for every PrimeCell of the board", () => {
    const { kernel, p } = boot({ noiommu: true });
    const want: [LabDevice, string][] = [
      [DEV.PL011, "vfio-amba-00141011"],
      [DEV.PL031, "vfio-amba-00141031"],
      [DEV.PL061, "vfio-amba-00041061"],
      [DEV.PL330, "vfio-amba-00241330"],
      [DEV.SP804, "vfio-amba-00141804"],
    ];
    for (const [dev, name] of want) {
      assign(p, dev, VFIO_AMBA);
      expect(vfioPlatformDeviceOf(kernel, "amba", dev.name).platformName).toBe(name);
    }
    expect(vfioAmbaName(0xfff41061)).toBe("vfio-amba-fff41061");
  });

  test("no-IOMMU mode: a noiommu group, both taint lines, tainted U", () => {
    const { kernel, p } = boot({ noiommu: true });
    const log = dmesgOf(kernel, () => assign(p, DEV.PL061, VFIO_AMBA));
    expect(log).toEqual([
      `vfio-amba ${DEV.PL061.name}: ${VFIO_AMBA_DEPRECATION}`,
      `vfio-amba ${DEV.PL061.name}: Adding to iommu group 3`,
      `vfio-amba ${DEV.PL061.name}: Adding kernel taint for vfio-noiommu group on device`,
      `vfio-amba ${DEV.PL061.name}: Adding kernel taint for vfio-noiommu cdev`,
    ]);
    expect(groupPath(p, DEV.PL061)).toBe("/dev/vfio/noiommu-3");
    expect(kernel.taint.test(TAINT_USER)).toBe(true);
  });

  test("ENOMEM naming the device: -12 after the DEPRECATION, nothing registered or pinned", () => {
    const { kernel, p } = boot();
    kernel.allocator.setFailHook((site) => site === "kasprintf");
    const log = dmesgOf(kernel, () => assign(p, DEV.PL330, VFIO_AMBA));
    kernel.allocator.setFailHook(undefined);
    expect(log).toEqual([
      `vfio-amba ${DEV.PL330.name}: ${VFIO_AMBA_DEPRECATION}`,
      failed(VFIO_AMBA, DEV.PL330, -12),
    ]);
    expect(driverOf(p, DEV.PL330)).toBeNull();
    expect(ls(p, "/dev/vfio")).toEqual(["vfio"]);
    // The device index was given back: the next device is vfio0 again.
    sysfsWrite(p, "/sys/bus/amba/drivers_probe", DEV.PL330.name);
    expect(p.readdir(`${sysfsDir(DEV.PL330)}/vfio-dev`)).toContain("vfio0");
  });
});

describe("vfio-platform probe", () => {
  test("reset required, no reset module: ENOENT and `VFIO: No reset function found`", () => {
    const { kernel, p } = boot();
    let ret = 0;
    const log = dmesgOf(kernel, () => {
      ret = assign(p, DEV.XGMAC, VFIO_PLATFORM);
    });
    expect(ret).toBe(DEV.XGMAC.name.length);
    expect(log).toEqual([
      `vfio-platform ${DEV.XGMAC.name}: VFIO: No reset function found for device ${DEV.XGMAC.name}`,
      failed(VFIO_PLATFORM, DEV.XGMAC, -2),
    ]);
    expect(driverOf(p, DEV.XGMAC)).toBeNull();
    expect(ls(p, "/dev/vfio")).toEqual(["vfio"]);
  });

  test("the reset check comes before the group check: ENOENT for a device without a group", () => {
    const { kernel, p } = boot();
    const log = dmesgOf(kernel, () => assign(p, DEV.VIRTIO0, VFIO_PLATFORM));
    expect(log).toEqual([
      `vfio-platform ${DEV.VIRTIO0.name}: VFIO: No reset function found for device ${DEV.VIRTIO0.name}`,
      failed(VFIO_PLATFORM, DEV.VIRTIO0, -2),
    ]);
  });

  test("reset_required=0, no IOMMU group: EINVAL with no VFIO line of its own", () => {
    const { kernel, p } = boot({ resetRequired: false });
    const log = dmesgOf(kernel, () => assign(p, DEV.VIRTIO0, VFIO_PLATFORM));
    expect(log).toEqual([failed(VFIO_PLATFORM, DEV.VIRTIO0, -22)]);
  });

  test("reset_required=0: the XGMAC binds without a reset, GET_INFO flags PLATFORM only", () => {
    const { kernel, p } = boot({ resetRequired: false });
    const log = dmesgOf(kernel, () => assign(p, DEV.XGMAC, VFIO_PLATFORM));
    expect(log).toEqual([]);
    const vdev = vfioPlatformDeviceOf(kernel, "platform", DEV.XGMAC.name);
    expect(vdev.platformName).toBe(DEV.XGMAC.name);
    expect(vdev.compat).toBe(CALXEDA_XGMAC_COMPAT);
    const o = openDevice(p, DEV.XGMAC);
    expect(o.device.info()).toMatchObject({
      flags: VFIO_DEVICE_FLAGS_PLATFORM,
      numRegions: 1,
      numIrqs: 3,
    });
    o.close();
  });

  test("an installed reset module is loaded by alias at probe and pinned until release", () => {
    const { kernel, p } = boot();
    kernel.modules.register(vfioPlatformCalxedaxgmacModule);
    assign(p, DEV.XGMAC, VFIO_PLATFORM);
    expect(driverOf(p, DEV.XGMAC)).toBe(VFIO_PLATFORM);
    expect(kernel.modules.moduleRefcount(VFIO_PLATFORM_CALXEDAXGMAC)).toBe(1);
    expect(() => kernel.rmmod(VFIO_PLATFORM_CALXEDAXGMAC)).toThrowErrno("EAGAIN");
    p.writeFile(`${sysfsDir(DEV.XGMAC)}/driver/unbind`, DEV.XGMAC.name);
    expect(kernel.modules.moduleRefcount(VFIO_PLATFORM_CALXEDAXGMAC)).toBe(0);
    kernel.rmmod(VFIO_PLATFORM_CALXEDAXGMAC);
  });

  test("no-IOMMU mode with reset_required=0: virtio_mmio binds into a tainting noiommu group", () => {
    const { kernel, p } = boot({ noiommu: true, resetRequired: false });
    assign(p, DEV.VIRTIO0, VFIO_PLATFORM);
    expect(driverOf(p, DEV.VIRTIO0)).toBe(VFIO_PLATFORM);
    expect(groupPath(p, DEV.VIRTIO0)).toMatch(/^\/dev\/vfio\/noiommu-\d+$/);
    expect(kernel.taint.test(TAINT_USER)).toBe(true);
  });
});

describe("driver_managed_dma", () => {
  test("binding leaves the group unclaimed: it is viable and user space can claim it", () => {
    const { kernel, p } = boot({ resetRequired: false });
    assign(p, DEV.DMA_TEST0, VFIO_PLATFORM);
    const group = kernel.iommu.deviceGroup(
      kernel.drivers.findDevice("platform", DEV.DMA_TEST0.name)!,
    );
    expect(group?.ownerCnt).toBe(0);
    const g = VfioGroup.open(p, groupPath(p, DEV.DMA_TEST0));
    expect(g.status().viable).toBe(true);
    const c = VfioContainer.open(p);
    g.setContainer(c);
    expect(group?.ownerCnt).toBe(1);
    g.close();
    c.close();
  });

  test("vfio-amba too: the PL330's group (2) stays viable with vfio-amba bound", () => {
    const { p } = boot();
    assign(p, DEV.PL330, VFIO_AMBA);
    const g = VfioGroup.open(p, 2);
    expect(g.status().viable).toBe(true);
    g.close();
  });
});

describe("remove", () => {
  test("unbind waits for the device fd to close (no `request` op: user space is never asked)", () => {
    const { p } = boot();
    assign(p, DEV.PL330, VFIO_AMBA);
    const o = openDevice(p, DEV.PL330);
    expect(() => p.writeFile(`${sysfsDir(DEV.PL330)}/driver/unbind`, DEV.PL330.name)).toThrow(
      WouldBlockForeverError,
    );
    o.close();
  });

  test("unbind after the last close: the group node and the vfio-dev entry are gone", () => {
    const { p } = boot();
    assign(p, DEV.PL330, VFIO_AMBA);
    openDevice(p, DEV.PL330).close();
    p.writeFile(`${sysfsDir(DEV.PL330)}/driver/unbind`, DEV.PL330.name);
    expect(ls(p, "/dev/vfio")).toEqual(["vfio"]);
    expect(driverOf(p, DEV.PL330)).toBeNull();
  });
});

describe("the modules", () => {
  test("vfio_platform: reset_required (0444, default Y), version 0.10, needs vfio_platform_base", () => {
    const { kernel, p } = boot({ modules: ["vfio_platform"] });
    const param = "/sys/module/vfio_platform/parameters/reset_required";
    expect(p.readFile(param)).toBe("Y\n");
    expect(p.stat(param).mode & 0o777).toBe(0o444);
    expect(p.readFile("/sys/module/vfio_platform/version")).toBe("0.10\n");
    expect(() => kernel.rmmod("vfio_platform_base")).toThrowErrno("EAGAIN");
    kernel.rmmod("vfio_platform");
    expect(() => p.readdir("/sys/bus/platform/drivers/vfio-platform")).toThrowErrno("ENOENT");
  });

  test("vfio_amba: no parameters, version 0.10; vfio_platform_base comes with it", () => {
    const { kernel, p } = boot({ modules: [] });
    kernel.modprobe(vfioAmbaModule);
    expect(kernel.modules.isLoaded("vfio_platform_base")).toBe(true);
    expect(p.readFile("/sys/module/vfio_amba/version")).toBe("0.10\n");
    expect(() => p.readdir("/sys/module/vfio_amba/parameters")).toThrowErrno("ENOENT");
    expect(p.readdir("/sys/bus/amba/drivers")).toContain(VFIO_AMBA);
  });

  test("reset_required from the kernel command line", () => {
    const { kernel, p } = boot({
      modules: ["vfio_amba"],
      cmdline: "vfio_platform.reset_required=0",
    });
    kernel.modprobe(vfioPlatformModule);
    expect(p.readFile("/sys/module/vfio_platform/parameters/reset_required")).toBe("N\n");
    assign(p, DEV.XGMAC, VFIO_PLATFORM);
    expect(driverOf(p, DEV.XGMAC)).toBe(VFIO_PLATFORM);
  });
});
