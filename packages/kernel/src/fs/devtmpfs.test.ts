import { describe, expect, test } from "vitest";
import { O_CREAT, O_WRONLY, S_IFBLK, S_IFCHR, S_IFDIR } from "./file.js";
import { errnoOf, fsWorld } from "./fs-test-fixture.js";
import { MKDEV } from "./kdev-t.js";
import { BOGO_DIRENT_SIZE } from "./tmpfs.js";

describe("devtmpfs (drivers/base/devtmpfs.c)", () => {
  test("a node appears with its parents (0755 root), 0600 and root by default", () => {
    const { vfs, root } = fsWorld();
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vfio/devices/vfio0", devt: MKDEV(511, 0) });
    expect(vfs.stat("/dev/vfio", root).mode).toBe(S_IFDIR | 0o755);
    const st = vfs.stat("/dev/vfio/devices/vfio0", root);
    expect([st.mode, st.uid, st.gid]).toEqual([S_IFCHR | 0o600, 0, 0]);
  });

  test("mode, uid and gid are the driver's; a block node is S_IFBLK", () => {
    const { vfs, root } = fsWorld();
    vfs.devtmpfs.devtmpfsCreateNode({
      nodename: "/dev/uio0",
      devt: MKDEV(240, 0),
      mode: 0o660,
      uid: 0,
      gid: 5,
    });
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vda", devt: MKDEV(254, 0), block: true });
    const st = vfs.stat("/dev/uio0", root);
    expect([st.mode, st.gid]).toEqual([S_IFCHR | 0o660, 5]);
    expect(vfs.stat("/dev/vda", root).mode).toBe(S_IFBLK | 0o600);
  });

  test("a taken name is EEXIST; a parent that is a file is ENOTDIR", () => {
    const { vfs } = fsWorld();
    expect(
      errnoOf(() => vfs.devtmpfs.devtmpfsCreateNode({ nodename: "null", devt: MKDEV(1, 3) })),
    ).toBe("EEXIST:handle_create");
    expect(
      errnoOf(() => vfs.devtmpfs.devtmpfsCreateNode({ nodename: "null/x", devt: MKDEV(1, 3) })),
    ).toBe("ENOTDIR:handle_create");
  });

  test("deleting removes the node and the empty parents devtmpfs made, deepest first", () => {
    const { vfs, root } = fsWorld();
    const a = MKDEV(511, 0);
    const b = MKDEV(511, 1);
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vfio/devices/vfio0", devt: a });
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vfio/devices/vfio1", devt: b });
    vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "vfio/devices/vfio0", devt: a });
    expect(vfs.readdir("/dev/vfio/devices", root)).toEqual([".", "..", "vfio1"]);
    vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "vfio/devices/vfio1", devt: b });
    expect(vfs.devtmpfs.exists("vfio")).toBe(false);
  });

  test("a node is deleted only if it is devtmpfs's for that device number (else ENOENT)", () => {
    const { vfs, root } = fsWorld();
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "x", devt: MKDEV(240, 0) });
    expect(
      errnoOf(() => vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "x", devt: MKDEV(240, 1) })),
    ).toBe("ENOENT:handle_remove");
    expect(
      errnoOf(() =>
        vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "x", devt: MKDEV(240, 0), block: true }),
      ),
    ).toBe("ENOENT:handle_remove");
    expect(
      errnoOf(() => vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "nope", devt: MKDEV(240, 0) })),
    ).toBe("ENOENT:handle_remove");
    vfs.open("/dev/mine", O_CREAT | O_WRONLY, root);
    expect(errnoOf(() => vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "mine", devt: 0 }))).toBe(
      "ENOENT:handle_remove",
    );
  });

  test("a parent directory someone else made, or one not empty, stays", () => {
    const { vfs } = fsWorld();
    vfs.devtmpfs.fs.mkdir(vfs.devtmpfs.root, "shm", 0o1777, 0, 0);
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "shm/x", devt: MKDEV(240, 0) });
    vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "shm/x", devt: MKDEV(240, 0) });
    expect(vfs.devtmpfs.exists("shm")).toBe(true);
  });

  test("listing is newest first; re-creating a name moves it to the front", () => {
    const { vfs, root } = fsWorld();
    expect(vfs.readdir("/dev", root)).toEqual([".", "..", "kmsg", "full", "zero", "null"]);
    vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "zero", devt: MKDEV(1, 5) });
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "zero", devt: MKDEV(1, 5), mode: 0o666 });
    expect(vfs.readdir("/dev", root)).toEqual([".", "..", "zero", "kmsg", "full", "null"]);
  });

  test("stat: inode numbers in creation order, directories 20 bytes per entry and 2 + subdirs links", () => {
    const { vfs, root } = fsWorld();
    const dev = vfs.stat("/dev", root);
    expect(dev.ino).toBe(1);
    expect(vfs.stat("/dev/null", root).ino).toBe(2);
    expect(vfs.stat("/dev/kmsg", root).ino).toBe(5);
    expect(dev.size).toBe((2 + 4) * BOGO_DIRENT_SIZE);
    expect(dev.nlink).toBe(2);
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "a/b", devt: MKDEV(240, 0) });
    expect(vfs.stat("/dev", root).nlink).toBe(3);
    expect(vfs.stat("/dev", root).size).toBe((2 + 5) * BOGO_DIRENT_SIZE);
  });

  test("a node removed while open keeps working, and its fd link says (deleted)", () => {
    const { vfs, root } = fsWorld();
    const f = vfs.open("/dev/zero", 0, root);
    root.install(f);
    vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "zero", devt: MKDEV(1, 5) });
    expect(vfs.read(f, root, root.buf, 4)).toBe(4);
    expect(vfs.readlink("/proc/self/fd/0", root)).toBe("/dev/zero (deleted)");
  });
});
