import { describe, expect, test } from "vitest";
import { anonInodeGetfile } from "./anon-inode.js";
import {
  FMODE_PREAD,
  FMODE_PWRITE,
  FMODE_READ,
  FMODE_WRITE,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
} from "./file.js";
import { filePinnedOwner, type ModuleOwner } from "./fops.js";
import { errnoOf, fsWorld } from "./fs-test-fixture.js";
import { major, minor } from "./kdev-t.js";

describe("anon_inode_getfile (fs/anon_inodes.c)", () => {
  test("the file is named anon_inode:[name] and keeps only the access mode and O_NONBLOCK", () => {
    const f = anonInodeGetfile("[vfio-device]", {}, "priv", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    expect(f.path).toBe("anon_inode:[vfio-device]");
    expect(f.flags).toBe(O_RDWR | O_NONBLOCK);
    expect(f.mode).toBe(FMODE_READ | FMODE_WRITE);
    expect(f.mode & FMODE_PREAD).toBe(0);
    expect(f.privateData).toBe("priv");
    expect(anonInodeGetfile("[x]", {}, null, O_RDONLY).mode).toBe(FMODE_READ);
  });

  test("anon_inode_getfile_fmode adds f_mode bits (a VFIO device file allows pread and pwrite)", () => {
    const { vfs } = fsWorld();
    const f = vfs.anonInodeGetfileFmode(
      "[vfio-device]",
      {},
      null,
      O_RDWR,
      FMODE_PREAD | FMODE_PWRITE,
    );
    expect(f.mode).toBe(FMODE_READ | FMODE_WRITE | FMODE_PREAD | FMODE_PWRITE);
  });

  test("all anonymous files share one typeless 0600 inode of anon_inodefs", () => {
    const { vfs } = fsWorld();
    const a = vfs.anonInodeGetfile("[eventfd]", {}, null, O_RDWR);
    const b = vfs.anonInodeGetfile("[vfio-device]", {}, null, O_RDWR);
    expect(a.inode).toBe(b.inode);
    const st = vfs.fstat(a);
    expect(st.mode).toBe(0o600);
    expect([major(st.dev), minor(st.dev), st.uid]).toEqual([0, 14, 0]);
  });

  test("the module behind the operations is pinned; a going module is ENOENT", () => {
    const owner: ModuleOwner = { name: "vfio" };
    let held = 0;
    let going = false;
    const { vfs } = fsWorld({
      modules: {
        tryModuleGet: () => !going && ++held > 0,
        modulePut: () => {
          held--;
        },
      },
    });
    const f = vfs.anonInodeGetfile("[vfio-device]", { owner }, null, O_RDWR);
    expect([held, filePinnedOwner(f)]).toEqual([1, owner]);
    vfs.fput(f);
    expect(held).toBe(0);
    going = true;
    expect(errnoOf(() => vfs.anonInodeGetfile("[vfio-device]", { owner }, null, O_RDWR))).toBe(
      "ENOENT:anon_inode_getfile",
    );
  });

  test("release runs once, at the last reference", () => {
    const { vfs } = fsWorld();
    let released = 0;
    const f = vfs.anonInodeGetfile("[eventfd]", { release: () => released++ }, null, O_RDWR);
    vfs.fget(f);
    vfs.fput(f);
    expect(released).toBe(0);
    vfs.fput(f);
    expect(released).toBe(1);
    expect(() => vfs.fput(f)).toThrow(/released file/);
  });
});
