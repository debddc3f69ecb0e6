import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { O_RDONLY, O_RDWR, O_WRONLY, S_IFCHR, SEEK_END, SEEK_SET } from "./file.js";
import { errnoOf, fsWorld, readText, writeText } from "./fs-test-fixture.js";
import { MKDEV } from "./kdev-t.js";
import { MEM_MAJOR } from "./mem.js";

describe("memory devices (drivers/char/mem.c)", () => {
  test("chr_dev_init makes /dev/null, zero, full and kmsg with their modes", () => {
    const { vfs, root } = fsWorld();
    expect(vfs.stat("/dev/null", root).mode).toBe(S_IFCHR | 0o666);
    expect(vfs.stat("/dev/zero", root).mode).toBe(S_IFCHR | 0o666);
    expect(vfs.stat("/dev/full", root).mode).toBe(S_IFCHR | 0o666);
    expect(vfs.stat("/dev/kmsg", root).mode).toBe(S_IFCHR | 0o644);
    expect(readText(vfs, root, "/proc/devices")).toBe(
      "Character devices:\n  1 mem\n 10 misc\n\nBlock devices:\n",
    );
  });

  test("/dev/null reads nothing and swallows any write, even from an unmapped buffer", () => {
    const { vfs, root } = fsWorld();
    expect(readText(vfs, root, "/dev/null")).toBe("");
    const f = vfs.open("/dev/null", O_WRONLY, root);
    expect(vfs.write(f, root, 0x10000, 100)).toBe(100);
    expect(vfs.llseek(f, 5, SEEK_END)).toBe(0);
  });

  test("/dev/zero fills the buffer with zeros; a fault after the first page returns what was done", () => {
    const { vfs, root } = fsWorld();
    root.poke(new Uint8Array(PAGE_SIZE).fill(7));
    const f = vfs.open("/dev/zero", O_RDONLY, root);
    expect(vfs.read(f, root, root.buf, 10)).toBe(10);
    expect(root.peek(11)).toEqual(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]));
    // The buffer is 4 pages; start one page before its end and ask for two.
    const last = root.buf + 3 * PAGE_SIZE;
    expect(vfs.read(f, root, last, 2 * PAGE_SIZE)).toBe(PAGE_SIZE);
    expect(errnoOf(() => vfs.read(f, root, root.buf + 4 * PAGE_SIZE, 8))).toBe(
      "EFAULT:read_iter_zero",
    );
  });

  test("/dev/full reads zeros and refuses writes with ENOSPC", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => writeText(vfs, root, "/dev/full", "x"))).toBe("ENOSPC:write_full");
    const f = vfs.open("/dev/full", O_RDWR, root);
    expect(vfs.read(f, root, root.buf, 3)).toBe(3);
    expect(vfs.llseek(f, 9, SEEK_SET)).toBe(0);
  });

  test("/dev/kmsg is ENXIO until printk installs its operations", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("/dev/kmsg", O_RDONLY, root))).toBe("ENXIO:memory_open");
    vfs.mem.setKmsgFops({ read: () => 0 });
    expect(readText(vfs, root, "/dev/kmsg")).toBe("");
  });

  test("a minor of major 1 with no device is ENXIO", () => {
    const { vfs, root } = fsWorld();
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "mem", devt: MKDEV(MEM_MAJOR, 1) });
    expect(errnoOf(() => vfs.open("/dev/mem", O_RDONLY, root))).toBe("ENXIO:memory_open");
  });
});
