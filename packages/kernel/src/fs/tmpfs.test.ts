import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import {
  O_APPEND,
  O_CREAT,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  S_IFDIR,
  S_IFREG,
  SEEK_SET,
} from "./file.js";
import { errnoOf, fsWorld, readAll, readText, writeFile, writeText } from "./fs-test-fixture.js";
import { BOGO_DIRENT_SIZE } from "./tmpfs.js";

describe("tmpfs directories (mm/shmem.c, fs/libfs.c)", () => {
  test("mkdir of a taken name is EEXIST; rmdir of a non-empty directory ENOTEMPTY", () => {
    const { vfs } = fsWorld();
    const fs = vfs.rootfs;
    const d = fs.mkdir(vfs.root, "d", 0o755, 0, 0);
    fs.mknod(d, "f", S_IFREG | 0o644, 0, 0, 0);
    expect(errnoOf(() => fs.mkdir(vfs.root, "d", 0o755, 0, 0))).toBe("EEXIST:shmem_mkdir");
    expect(errnoOf(() => fs.rmdir(vfs.root, "d"))).toBe("ENOTEMPTY:simple_rmdir");
    expect(errnoOf(() => fs.unlink(vfs.root, "d"))).toBe("EISDIR:vfs_unlink");
    expect(errnoOf(() => fs.rmdir(d, "f"))).toBe("ENOTDIR:vfs_rmdir");
    fs.unlink(d, "f");
    fs.rmdir(vfs.root, "d");
    expect(errnoOf(() => fs.unlink(vfs.root, "d"))).toBe("ENOENT:shmem_unlink");
  });

  test("an empty directory is 40 bytes with 2 links; entries add 20 bytes, subdirectories a link", () => {
    const { vfs, root } = fsWorld();
    const d = vfs.rootfs.mkdir(vfs.root, "d", 0o700, 0, 0);
    expect(vfs.stat("/d", root)).toMatchObject({
      mode: S_IFDIR | 0o700,
      size: 2 * BOGO_DIRENT_SIZE,
      nlink: 2,
    });
    vfs.rootfs.mkdir(d, "sub", 0o755, 0, 0);
    vfs.rootfs.mknod(d, "f", S_IFREG | 0o600, 0, 0, 0);
    expect(vfs.stat("/d", root)).toMatchObject({ size: 4 * BOGO_DIRENT_SIZE, nlink: 3 });
    expect(vfs.readdir("/d", root)).toEqual([".", "..", "f", "sub"]);
  });
});

describe("tmpfs regular files (root creates them in /dev)", () => {
  test("write extends, O_APPEND writes at the end, O_TRUNC empties, read stops at the end", () => {
    const { vfs, root } = fsWorld();
    expect(writeText(vfs, root, "/dev/f", "hello", O_CREAT | O_WRONLY)).toBe(5);
    expect(writeText(vfs, root, "/dev/f", " world", O_WRONLY | O_APPEND)).toBe(6);
    expect(readText(vfs, root, "/dev/f")).toBe("hello world");
    const st = vfs.stat("/dev/f", root);
    expect([st.size, st.blocks]).toEqual([11, 8]);
    expect(writeText(vfs, root, "/dev/f", "x", O_WRONLY | O_TRUNC)).toBe(1);
    expect(readText(vfs, root, "/dev/f")).toBe("x");
    const f = vfs.open("/dev/f", O_RDWR, root);
    expect(vfs.llseek(f, 3, SEEK_SET)).toBe(3);
    expect(writeFile(vfs, root, f, "y")).toBe(1);
    expect(vfs.pread(f, root, root.buf, 10, 0)).toBe(4);
    expect([...root.peek(4)]).toEqual([0x78, 0, 0, 0x79]);
    expect(readAll(vfs, root, f)).toBe("");
  });

  fcTest.prop([
    fc.array(fc.tuple(fc.nat(64), fc.uint8Array({ minLength: 1, maxLength: 32 })), {
      maxLength: 12,
    }),
  ])("pwrite/pread at any offsets behave like a byte array", (writes) => {
    const { vfs, root } = fsWorld();
    const f = vfs.open("/dev/p", O_CREAT | O_RDWR, root);
    const model: number[] = [];
    for (const [off, bytes] of writes) {
      root.poke(bytes);
      expect(vfs.pwrite(f, root, root.buf, bytes.length, off)).toBe(bytes.length);
      while (model.length < off) model.push(0);
      bytes.forEach((b, i) => {
        model[off + i] = b;
      });
    }
    expect(vfs.fstat(f).size).toBe(model.length);
    const n = vfs.pread(f, root, root.buf, PAGE_SIZE, 0);
    expect([...root.peek(n)]).toEqual(model);
  });
});
