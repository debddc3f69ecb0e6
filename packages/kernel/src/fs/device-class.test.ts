import { describe, expect, it } from "vitest";
import { boot } from "../../test/fixture.js";
import { DeviceClass } from "./device-class.js";
import { MISC_DYNAMIC_MINOR } from "./misc.js";

/** What 7.3 shows for /dev/iommu and /dev/vfio/vfio (oracle-probes/misc-class.7.3.txt). */
describe("misc class devices in sysfs", () => {
  function registered() {
    const { kernel, p } = boot();
    kernel.vfs.misc.miscRegister({
      minor: MISC_DYNAMIC_MINOR,
      name: "iommu",
      nodename: "iommu",
      mode: 0o660,
      fops: {},
    });
    kernel.vfs.misc.miscRegister({
      minor: 196,
      name: "vfio",
      nodename: "vfio/vfio",
      mode: 0o666,
      fops: {},
    });
    return { kernel, p };
  }

  it("links /sys/class/misc/<name> to /sys/devices/virtual/misc/<name>", () => {
    const { p } = registered();
    expect(p.readlink("/sys/class/misc/iommu")).toBe("../../devices/virtual/misc/iommu");
    const entries = p.readdir("/sys/class/misc/iommu/").filter((n) => !n.startsWith("."));
    expect(entries.sort()).toEqual(["dev", "subsystem", "uevent"]);
    expect(p.readlink("/sys/class/misc/iommu/subsystem")).toBe("../../../../class/misc");
    const virt = p.readdir("/sys/devices/virtual/misc").filter((n) => !n.startsWith("."));
    expect(virt.sort()).toEqual(["iommu", "vfio"]);
  });

  it("reports dev and a uevent with DEVNAME from the node name and DEVMODE", () => {
    const { p } = registered();
    expect(p.readFile("/sys/class/misc/iommu/dev")).toBe("10:256\n");
    expect(p.readFile("/sys/class/misc/iommu/uevent")).toBe(
      "MAJOR=10\nMINOR=256\nDEVNAME=iommu\nDEVMODE=0660\n",
    );
    expect(p.readFile("/sys/class/misc/vfio/uevent")).toBe(
      "MAJOR=10\nMINOR=196\nDEVNAME=vfio/vfio\nDEVMODE=0666\n",
    );
    expect(p.stat("/dev/vfio/vfio").mode & 0o7777).toBe(0o666);
  });

  it("removes everything again on deregistration", () => {
    const { kernel, p } = registered();
    const misc = kernel.vfs.misc;
    const dev = { minor: MISC_DYNAMIC_MINOR, name: "tmpdev", fops: {} };
    misc.miscRegister(dev);
    misc.miscDeregister(dev);
    expect(() => p.readlink("/sys/class/misc/tmpdev")).toThrowErrno("ENOENT");
    expect(() => p.stat("/sys/devices/virtual/misc/tmpdev")).toThrowErrno("ENOENT");
    expect(() => p.stat("/dev/tmpdev")).toThrowErrno("ENOENT");
  });
});

describe("class devices with a parent", () => {
  it("live below the parent and link back to it with `device` (device_add_class_symlinks)", () => {
    const { kernel, p } = boot();
    const cls = new DeviceClass("vfio-dev", kernel.vfs.sysfs, kernel.vfs.devtmpfs);
    cls.register();
    const parent = "/sys/devices/platform/9030000.pl061";
    const dir = cls.deviceCreate({ name: "vfio0", devt: 0, parentPath: parent });
    expect(dir).toBe(`${parent}/vfio-dev/vfio0`);
    expect(
      p
        .readdir(`${dir}/`)
        .filter((n) => !n.startsWith("."))
        .sort(),
    ).toEqual(["device", "subsystem", "uevent"]);
    expect(p.readlink(`${dir}/device`)).toBe("../../../9030000.pl061");
    cls.deviceDestroy("vfio0");
    expect(() => p.stat(dir)).toThrowErrno("ENOENT");
  });

  it("the parent's class glue directory goes with its last device (cleanup_glue_dir)", () => {
    const { kernel, p } = boot();
    const cls = new DeviceClass("vfio-dev", kernel.vfs.sysfs, kernel.vfs.devtmpfs);
    cls.register();
    const parent = "/sys/devices/platform/9030000.pl061";
    cls.deviceCreate({ name: "vfio0", devt: 0, parentPath: parent });
    cls.deviceCreate({ name: "vfio1", devt: 0, parentPath: parent });
    const ls = (d: string) =>
      p
        .readdir(`${d}/`)
        .filter((n) => !n.startsWith("."))
        .sort();
    cls.deviceDestroy("vfio0");
    expect(ls(`${parent}/vfio-dev`)).toEqual(["vfio1"]);
    cls.deviceDestroy("vfio1");
    expect(() => p.stat(`${parent}/vfio-dev`)).toThrowErrno("ENOENT");
    expect(ls(parent)).not.toContain("vfio-dev");
    // A new device recreates it.
    cls.deviceCreate({ name: "vfio2", devt: 0, parentPath: parent });
    expect(ls(`${parent}/vfio-dev`)).toEqual(["vfio2"]);
  });
});
