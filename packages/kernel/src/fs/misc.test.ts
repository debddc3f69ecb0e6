import { describe, expect, test } from "vitest";
import type { File } from "./file.js";
import { O_RDWR, S_IFCHR } from "./file.js";
import { errnoOf, fsWorld } from "./fs-test-fixture.js";
import { major, minor } from "./kdev-t.js";
import { MISC_DYNAMIC_MINOR, type MiscDevice } from "./misc.js";

describe("misc_register (drivers/char/misc.c)", () => {
  test("a fixed minor makes its node at nodename with the asked mode", () => {
    const { vfs, root } = fsWorld();
    vfs.misc.miscRegister({
      minor: 196,
      name: "vfio",
      nodename: "vfio/vfio",
      mode: 0o666,
      fops: {},
    });
    const st = vfs.stat("/dev/vfio/vfio", root);
    expect(st.mode).toBe(S_IFCHR | 0o666);
    expect([major(st.rdev), minor(st.rdev)]).toEqual([10, 196]);
    expect(vfs.readdir("/dev/vfio", root)).toEqual([".", "..", "vfio"]);
  });

  test("without nodename or mode the node is /dev/<name>, 0600", () => {
    const { vfs, root } = fsWorld();
    vfs.misc.miscRegister({ minor: 200, name: "tun", fops: {} });
    expect(vfs.stat("/dev/tun", root).mode).toBe(S_IFCHR | 0o600);
  });

  test("a minor in use is EBUSY, a fixed minor above 255 is EINVAL", () => {
    const { vfs } = fsWorld();
    vfs.misc.miscRegister({ minor: 196, name: "vfio", fops: {} });
    expect(errnoOf(() => vfs.misc.miscRegister({ minor: 196, name: "again", fops: {} }))).toBe(
      "EBUSY:misc_register",
    );
    expect(errnoOf(() => vfs.misc.miscRegister({ minor: 256, name: "big", fops: {} }))).toBe(
      "EINVAL:misc_register",
    );
  });

  test("dynamic minors are the lowest free above 255, and revert to MISC_DYNAMIC_MINOR on deregister", () => {
    const { vfs } = fsWorld();
    const a: MiscDevice = { minor: MISC_DYNAMIC_MINOR, name: "a", fops: {} };
    const b: MiscDevice = { minor: MISC_DYNAMIC_MINOR, name: "b", fops: {} };
    vfs.misc.miscRegister(a);
    vfs.misc.miscRegister(b);
    expect([a.minor, b.minor]).toEqual([256, 257]);
    vfs.misc.miscDeregister(a);
    expect(a.minor).toBe(MISC_DYNAMIC_MINOR);
    const c: MiscDevice = { minor: MISC_DYNAMIC_MINOR, name: "c", fops: {} };
    vfs.misc.miscRegister(c);
    expect(c.minor).toBe(256);
  });

  test("a node that cannot be created fails the registration and frees the minor", () => {
    const { vfs } = fsWorld();
    vfs.misc.miscRegister({ minor: 1, name: "x", fops: {} });
    const dup: MiscDevice = { minor: MISC_DYNAMIC_MINOR, name: "x", fops: {} };
    // Two class devices cannot share a name: sysfs refuses the second directory (device_add).
    expect(errnoOf(() => vfs.misc.miscRegister(dup))).toBe("EEXIST:device_add");
    expect(dup.minor).toBe(MISC_DYNAMIC_MINOR);
    expect(vfs.misc.procMiscShow()).toBe("  1 x\n");
  });

  test("/proc/misc lists newest first; deregistering removes the node and the line", () => {
    const { vfs, root } = fsWorld();
    const vfio: MiscDevice = { minor: 196, name: "vfio", nodename: "vfio/vfio", fops: {} };
    vfs.misc.miscRegister(vfio);
    vfs.misc.miscRegister({ minor: MISC_DYNAMIC_MINOR, name: "iommu", fops: {} });
    expect(vfs.misc.procMiscShow()).toBe("256 iommu\n196 vfio\n");
    vfs.misc.miscDeregister(vfio);
    expect(vfs.misc.procMiscShow()).toBe("256 iommu\n");
    expect(errnoOf(() => vfs.stat("/dev/vfio", root))).toBe("ENOENT:step_into");
  });
});

describe("misc_open", () => {
  test("the miscdevice becomes private_data and its fops open runs", () => {
    const { vfs, root } = fsWorld();
    const opened: unknown[] = [];
    const dev: MiscDevice = {
      minor: 196,
      name: "vfio",
      nodename: "vfio/vfio",
      fops: { open: (_i, f: File) => opened.push(f.privateData) },
    };
    vfs.misc.miscRegister(dev);
    const f = vfs.open("/dev/vfio/vfio", O_RDWR, root);
    expect(opened).toEqual([dev]);
    expect(f.fOp).toBe(dev.fops);
    expect(f.privateData).toBe(dev);
  });

  test("after deregistration an open node is ENODEV", () => {
    const { vfs, root } = fsWorld();
    const dev: MiscDevice = { minor: 196, name: "vfio", fops: {} };
    vfs.misc.miscRegister(dev);
    vfs.lookup("/dev/vfio", root);
    vfs.misc.miscDeregister(dev);
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vfio", devt: (10 << 20) | 196 });
    expect(errnoOf(() => vfs.open("/dev/vfio", O_RDWR, root))).toBe("ENODEV:misc_open");
  });
});
