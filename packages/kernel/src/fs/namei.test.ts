import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { S_IFDIR, S_IFREG } from "./file.js";
import { fsWorld } from "./fs-test-fixture.js";
import { KInode, SuperBlock } from "./inode.js";
import { genericPermission, MAY_EXEC, MAY_READ, MAY_WRITE } from "./namei.js";

const sb = new SuperBlock("test", 0);

function inode(mode: number, uid: number, gid: number): KInode {
  return new KInode(sb, { ino: 1, mode, uid, gid });
}

describe("generic_permission (fs/namei.c)", () => {
  fcTest.prop([
    fc.integer({ min: 0, max: 0o777 }),
    fc.constantFrom(0, 1000, 2000),
    fc.constantFrom(0, 1000, 2000),
    fc.integer({ min: 1, max: 7 }),
  ])(
    "without capabilities, exactly the owner, else group, else other bits decide",
    (perm, uid, gid, mask) => {
      const { user } = fsWorld();
      const i = inode(S_IFREG | perm, uid, gid);
      const triad = user.euid === uid ? perm >> 6 : user.egid === gid ? perm >> 3 : perm;
      // acl_permission_check() only consults the group when its bits differ from other's.
      expect(genericPermission(i, mask, user)).toBe((mask & ~triad & 7) === 0);
    },
  );

  test("CAP_DAC_OVERRIDE grants read and write, but exec only if some execute bit is set", () => {
    const { root } = fsWorld();
    root.drop("CAP_DAC_READ_SEARCH");
    const noX = inode(S_IFREG | 0o600, 1000, 1000);
    expect(genericPermission(noX, MAY_READ | MAY_WRITE, root)).toBe(true);
    expect(genericPermission(noX, MAY_EXEC, root)).toBe(false);
    expect(genericPermission(inode(S_IFREG | 0o001, 1000, 1000), MAY_EXEC, root)).toBe(true);
    // Directories: searching needs no execute bit at all.
    expect(genericPermission(inode(S_IFDIR, 1000, 1000), MAY_EXEC, root)).toBe(true);
  });

  test("CAP_DAC_READ_SEARCH alone reads files and searches directories, never writes", () => {
    const { spawn } = fsWorld();
    const t = spawn({ pid: 9, uid: 5, caps: ["CAP_DAC_READ_SEARCH"] });
    expect(genericPermission(inode(S_IFREG, 0, 0), MAY_READ, t)).toBe(true);
    expect(genericPermission(inode(S_IFREG, 0, 0), MAY_READ | MAY_WRITE, t)).toBe(false);
    expect(genericPermission(inode(S_IFDIR, 0, 0), MAY_READ | MAY_EXEC, t)).toBe(true);
    expect(genericPermission(inode(S_IFDIR, 0, 0), MAY_WRITE | MAY_EXEC, t)).toBe(false);
  });
});
