import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { S_IFREG } from "./file.js";
import {
  MAJOR,
  MINOR,
  MKDEV,
  major,
  makedev,
  minor,
  newDecodeDev,
  newEncodeDev,
} from "./kdev-t.js";
import { vfsGetattr } from "./stat.js";

describe("device numbers (include/linux/kdev_t.h)", () => {
  test("small numbers keep the old 8:8 layout in stat(2)", () => {
    expect(newEncodeDev(MKDEV(1, 3))).toBe(0x103);
    expect(newEncodeDev(MKDEV(10, 196))).toBe(0xac4);
    expect(newEncodeDev(MKDEV(511, 0x12345))).toBe(0x1231ff45);
    expect(makedev(511, 0x12345)).toBe(newEncodeDev(MKDEV(511, 0x12345)));
  });

  fcTest.prop([fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 0, max: 0xfffff })])(
    "encode/decode round-trip and glibc's major()/minor() take the stat(2) form apart",
    (ma, mi) => {
      const dev = MKDEV(ma, mi);
      expect([MAJOR(dev), MINOR(dev)]).toEqual([ma, mi]);
      expect(newDecodeDev(newEncodeDev(dev))).toBe(dev);
      expect([major(newEncodeDev(dev)), minor(newEncodeDev(dev))]).toEqual([ma, mi]);
    },
  );
});

describe("stat of an inode that is not the VFS's own", () => {
  test("generic_fillattr() defaults: one link, device 0, 4096-byte blocks", () => {
    const st = vfsGetattr({
      ino: 9,
      mode: S_IFREG | 0o600,
      uid: 1,
      gid: 2,
      rdev: 0,
      size: 3,
      fop: null,
      private: null,
    });
    expect(st).toEqual({
      dev: 0,
      ino: 9,
      mode: S_IFREG | 0o600,
      nlink: 1,
      uid: 1,
      gid: 2,
      rdev: 0,
      size: 3,
      blksize: 4096,
      blocks: 0,
    });
  });
});
