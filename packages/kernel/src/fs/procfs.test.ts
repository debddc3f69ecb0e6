import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { O_RDONLY, O_RDWR, O_WRONLY, S_IFDIR, S_IFLNK, S_IFREG } from "./file.js";
import { errnoOf, fsWorld, readAll, readText, writeFile, writeText } from "./fs-test-fixture.js";
import { major, minor } from "./kdev-t.js";
import { procDoulongvecWrite } from "./proc-sysctl.js";
import { PROC_DYNAMIC_FIRST, PROC_ROOT_INO } from "./procfs.js";

describe("/proc root (fs/proc/root.c)", () => {
  test("/proc/cmdline is the command line and a newline", () => {
    const { vfs, root, user } = fsWorld({
      cmdline: "console=ttyAMA0 vfio.enable_unsafe_noiommu_mode=1",
    });
    expect(readText(vfs, user, "/proc/cmdline")).toBe(
      "console=ttyAMA0 vfio.enable_unsafe_noiommu_mode=1\n",
    );
    expect(vfs.stat("/proc/cmdline", root)).toMatchObject({
      mode: S_IFREG | 0o444,
      size: 0,
      nlink: 1,
    });
  });

  test("writing a file without a write handler: EACCES for a user, EIO for root (pde_write)", () => {
    const { vfs, root, user } = fsWorld();
    expect(errnoOf(() => writeText(vfs, user, "/proc/cmdline", "x"))).toBe(
      "EACCES:generic_permission",
    );
    expect(errnoOf(() => writeText(vfs, root, "/proc/cmdline", "x"))).toBe("EIO:pde_write");
  });

  test("a listing: entries by length then bytes, self, thread-self, then pids ascending", () => {
    const { vfs, root, spawn } = fsWorld();
    spawn({ pid: 42 });
    expect(vfs.readdir("/proc", root)).toEqual([
      ".",
      "..",
      "sys",
      "misc",
      "cmdline",
      "devices",
      "self",
      "thread-self",
      "1",
      "42",
      "1000",
    ]);
  });

  test("/proc/self and /proc/thread-self read as the reader's pid", () => {
    const { vfs, root, user } = fsWorld();
    expect(vfs.readlink("/proc/self", user)).toBe("1000");
    expect(vfs.readlink("/proc/thread-self", root)).toBe("1/task/1");
    expect(readText(vfs, user, "/proc/self/comm")).toBe("user\n");
    expect(readText(vfs, user, "/proc/thread-self/comm")).toBe("user\n");
    expect(vfs.stat("/proc/self", root, { followLast: false })).toMatchObject({
      mode: S_IFLNK | 0o777,
      uid: 0,
    });
  });

  test("stat: inode 1, device 0:22, one link per process on top of 2 + subdirectories", () => {
    const { vfs, root, spawn } = fsWorld();
    const st = vfs.stat("/proc", root);
    expect([st.ino, major(st.dev), minor(st.dev), st.mode]).toEqual([
      PROC_ROOT_INO,
      0,
      22,
      S_IFDIR | 0o555,
    ]);
    expect(st.nlink).toBe(2 + 1 + 2);
    spawn({ pid: 5 });
    expect(vfs.stat("/proc", root).nlink).toBe(2 + 1 + 3);
    expect(vfs.stat("/proc/self", root, { followLast: false }).ino).toBe(PROC_DYNAMIC_FIRST);
  });

  test("other layers add files: createFile shows through seq_file, EEXIST twice, ENOENT without parent", () => {
    const { vfs, root } = fsWorld();
    let n = 0;
    vfs.procfs.createFile("interrupts", () => `${++n}\n`);
    const f = vfs.open("/proc/interrupts", O_RDONLY, root);
    expect(readAll(vfs, root, f, 1)).toBe("1\n");
    expect(readText(vfs, root, "/proc/interrupts")).toBe("2\n");
    expect(errnoOf(() => vfs.procfs.createFile("interrupts", () => ""))).toBe(
      "EEXIST:proc_create_single",
    );
    expect(errnoOf(() => vfs.procfs.createFile("/proc/driver/x", () => ""))).toBe(
      "ENOENT:proc_create_single",
    );
    vfs.procfs.mkdir("driver");
    vfs.procfs.createFile("/proc/driver/x", () => "x");
    expect(vfs.readdir("/proc/driver", root)).toEqual([".", "..", "x"]);
    expect(vfs.stat("/proc/driver", root).nlink).toBe(2);
  });

  test("a removed entry: open files read EIO, lookups find nothing", () => {
    const { vfs, root } = fsWorld();
    vfs.procfs.createFile("modules", () => "vfio 1 0 - Live 0x0\n");
    const f = vfs.open("/proc/modules", O_RDONLY, root);
    vfs.procfs.remove("/proc/modules");
    expect(errnoOf(() => vfs.read(f, root, root.buf, 10))).toBe("EIO:proc_reg_read_iter");
    expect(errnoOf(() => vfs.open("/proc/modules", O_RDONLY, root))).toBe("ENOENT:step_into");
    expect(errnoOf(() => vfs.procfs.remove("/proc/modules"))).toBe("ENOENT:remove_proc_subtree");
  });

  test("a file with a write handler gets the text and its result", () => {
    const { vfs, root } = fsWorld();
    const got: string[] = [];
    vfs.procfs.createFile("knob", () => "", {
      mode: 0o644,
      write: (text) => {
        got.push(text);
        return text.length;
      },
    });
    expect(writeText(vfs, root, "/proc/knob", "on\n")).toBe(3);
    expect(got).toEqual(["on\n"]);
  });

  test("proc_symlink makes a link with the target's length as size", () => {
    const { vfs, root } = fsWorld();
    vfs.procfs.symlink("mounts", "self/mounts");
    expect(vfs.readlink("/proc/mounts", root)).toBe("self/mounts");
    expect(vfs.stat("/proc/mounts", root, { followLast: false }).size).toBe(11);
  });
});

describe("/proc/sys (fs/proc/proc_sysctl.c)", () => {
  test("tainted reads the taint mask; directories are 0555 with one link", () => {
    let taint = 0n;
    const { vfs, root, user } = fsWorld({ tainted: () => taint });
    expect(readText(vfs, user, "/proc/sys/kernel/tainted")).toBe("0\n");
    taint = (1n << 12n) | 1n;
    expect(readText(vfs, user, "/proc/sys/kernel/tainted")).toBe("4097\n");
    expect(vfs.stat("/proc/sys/kernel/tainted", root)).toMatchObject({
      mode: S_IFREG | 0o644,
      size: 0,
    });
    expect(vfs.stat("/proc/sys", root)).toMatchObject({ mode: S_IFDIR | 0o555, nlink: 1 });
    expect(vfs.stat("/proc/sys/kernel", root)).toMatchObject({ mode: S_IFDIR | 0o555, nlink: 1 });
    expect(vfs.readdir("/proc/sys", root)).toEqual([".", "..", "kernel"]);
  });

  test("a read past the start returns 0, a short read cuts the text", () => {
    const { vfs, root } = fsWorld({ tainted: () => 12345n });
    const f = vfs.open("/proc/sys/kernel/tainted", O_RDONLY, root);
    expect(vfs.read(f, root, root.buf, 3)).toBe(3);
    expect(vfs.read(f, root, root.buf, 100)).toBe(0);
    expect(vfs.pread(f, root, root.buf, 100, 0)).toBe(6);
  });

  test("writing: a user cannot open it for writing; root without CAP_SYS_ADMIN gets EPERM", () => {
    const added: bigint[] = [];
    const { vfs, root, user } = fsWorld({ addTaint: (m) => added.push(m) });
    expect(errnoOf(() => writeText(vfs, user, "/proc/sys/kernel/tainted", "1"))).toBe(
      "EACCES:proc_sys_permission",
    );
    root.drop("CAP_SYS_ADMIN");
    expect(errnoOf(() => writeText(vfs, root, "/proc/sys/kernel/tainted", "1"))).toBe(
      "EPERM:proc_taint",
    );
    expect(added).toEqual([]);
  });

  test("root adds taint bits; junk is EINVAL; a write past the start is ignored", () => {
    const added: bigint[] = [];
    const { vfs, root } = fsWorld({ addTaint: (m) => added.push(m) });
    expect(writeText(vfs, root, "/proc/sys/kernel/tainted", "4096\n")).toBe(5);
    expect(writeText(vfs, root, "/proc/sys/kernel/tainted", "0x10")).toBe(4);
    expect(errnoOf(() => writeText(vfs, root, "/proc/sys/kernel/tainted", "12abc"))).toBe(
      "EINVAL:proc_get_long",
    );
    expect(errnoOf(() => writeText(vfs, root, "/proc/sys/kernel/tainted", "-1"))).toBe(
      "EINVAL:proc_get_long",
    );
    const f = vfs.open("/proc/sys/kernel/tainted", O_RDWR, root);
    f.pos = 1;
    expect(writeFile(vfs, root, f, "8")).toBe(0);
    expect(added).toEqual([4096n, 16n]);
  });

  test("proc_get_long: base-0 numbers, blanks around, the first number only", () => {
    expect(procDoulongvecWrite(" 010 \n")).toEqual({ value: 8n, consumed: 6 });
    expect(procDoulongvecWrite("1 2")).toEqual({ value: 1n, consumed: 2 });
    expect(procDoulongvecWrite("0")).toEqual({ value: 0n, consumed: 1 });
    expect(() => procDoulongvecWrite("   ")).toThrow(SysError);
    expect(() => procDoulongvecWrite("9".repeat(21))).toThrow(SysError);
  });

  test("sysctl entries are never executable and ignore DAC overrides", () => {
    const { vfs, root } = fsWorld();
    vfs.procfs.sysctl.register("vm/max_map_count", { mode: 0o444, read: () => "65530\n" });
    expect(errnoOf(() => vfs.open("/proc/sys/vm/max_map_count", O_WRONLY, root))).toBe(
      "EACCES:proc_sys_permission",
    );
    expect(readText(vfs, root, "/proc/sys/vm/max_map_count")).toBe("65530\n");
    expect(
      errnoOf(() =>
        vfs.procfs.sysctl.register("vm/max_map_count", { mode: 0o444, read: () => "" }),
      ),
    ).toBe("EEXIST:__register_sysctl_table");
    expect(vfs.readdir("/proc/sys", root)).toEqual([".", "..", "kernel", "vm"]);
    vfs.procfs.sysctl.unregister("vm/max_map_count");
    expect(vfs.readdir("/proc/sys", root)).toEqual([".", "..", "kernel"]);
  });
});
