import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { fsWorld } from "./fs-test-fixture.js";
import { KernfsRoot, kernfsNameHash } from "./kernfs.js";

describe("kernfs directory order (fs/kernfs/dir.c)", () => {
  test("hashes are 31-bit and avoid 0, 1 and INT_MAX", () => {
    for (const name of ["", "a", "uevent", "driver_override", "x".repeat(300)]) {
      const h = kernfsNameHash(name);
      expect(h).toBeGreaterThanOrEqual(2);
      expect(h).toBeLessThan(0x7fffffff);
    }
    // No bytes hash to 0, which is bumped to 2 as kernfs_name_hash() does.
    expect(kernfsNameHash("")).toBe(2);
  });

  test("/sys lists in the order `ls -f /sys` shows on Linux", () => {
    const { vfs, root } = fsWorld();
    for (const d of [
      "block",
      "bus",
      "class",
      "dev",
      "devices",
      "firmware",
      "fs",
      "hypervisor",
      "kernel",
      "module",
      "power",
    ]) {
      vfs.sysfs.mkdir(`/sys/${d}`);
    }
    expect(vfs.readdir("/sys", root)).toEqual([
      ".",
      "..",
      "kernel",
      "power",
      "class",
      "devices",
      "dev",
      "hypervisor",
      "fs",
      "bus",
      "firmware",
      "block",
      "module",
    ]);
  });

  fcTest.prop([
    fc.uniqueArray(
      fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes("/")),
      { maxLength: 20 },
    ),
  ])("a listing is sorted by (hash, name) whatever the creation order", (names) => {
    const r = new KernfsRoot();
    for (const n of names) r.createDir(r.kn, n);
    const listed = r.sortedChildren(r.kn).map((kn) => kn.name);
    const reversed = new KernfsRoot();
    for (const n of [...names].reverse()) reversed.createDir(reversed.kn, n);
    expect(reversed.sortedChildren(reversed.kn).map((kn) => kn.name)).toEqual(listed);
    for (let i = 1; i < listed.length; i++) {
      expect(kernfsNameHash(listed[i - 1]!)).toBeLessThanOrEqual(kernfsNameHash(listed[i]!));
    }
  });

  test("inode numbers count from 1 (the root) in creation order and are never reused", () => {
    const r = new KernfsRoot();
    const a = r.createDir(r.kn, "a");
    r.remove(a);
    const b = r.createDir(r.kn, "a");
    expect([r.kn.ino, a.ino, b.ino]).toEqual([1, 2, 3]);
  });

  test("a link's text climbs to the first shared ancestor, then descends", () => {
    const r = new KernfsRoot();
    const dev = r.createDir(r.createDir(r.createDir(r.kn, "devices"), "platform"), "9030000.pl061");
    const devs = r.createDir(r.createDir(r.createDir(r.kn, "bus"), "amba"), "devices");
    const link = r.createLink(devs, "9030000.pl061", dev);
    expect(r.getTargetPath(link)).toBe("../../../devices/platform/9030000.pl061");
    const grp = r.createDir(r.createDir(r.createDir(r.kn, "kernel"), "iommu_groups"), "0");
    const up = r.createLink(dev, "iommu_group", grp);
    expect(r.getTargetPath(up)).toBe("../../../kernel/iommu_groups/0");
    const sub = r.createDir(dev, "driver_dir");
    const sibling = r.createLink(sub, "parent_link", dev);
    expect(r.getTargetPath(sibling)).toBe("../../9030000.pl061");
  });
});
