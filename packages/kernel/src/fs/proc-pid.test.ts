import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../mm/mman.js";
import { decodePagemapEntry, PM_PRESENT } from "../mm/pagemap.js";
import {
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "./file.js";
import { errnoOf, type FsTask, fsWorld, readText } from "./fs-test-fixture.js";

function touchPage(task: FsTask): number {
  const va = task.mm.mmap({
    addr: 0,
    length: PAGE_SIZE,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_PRIVATE | MAP_ANONYMOUS,
  });
  task.mm.writeUser(va, new Uint8Array([1]));
  return va;
}

function entryAt(task: FsTask): bigint {
  return new DataView(task.peek(8).buffer).getBigUint64(0, true);
}

describe("/proc/<pid> (fs/proc/base.c)", () => {
  test("the directory lists its entries in tgid_base_stuff order and is owned by the task", () => {
    const { vfs, root, user } = fsWorld();
    expect(vfs.readdir("/proc/1000", root)).toEqual([
      ".",
      "..",
      "task",
      "fd",
      "comm",
      "maps",
      "pagemap",
    ]);
    expect(vfs.stat("/proc/1000", root)).toMatchObject({
      mode: S_IFDIR | 0o555,
      uid: 1000,
      gid: 1000,
      nlink: 4,
    });
    expect(vfs.stat("/proc/1000/pagemap", root)).toMatchObject({
      mode: S_IFREG | 0o400,
      uid: 1000,
      size: 0,
    });
    expect(vfs.readdir("/proc/1000/task", user)).toEqual([".", "..", "1000"]);
    expect(vfs.readdir("/proc/1000/task/1000", user)).toEqual([
      ".",
      "..",
      "fd",
      "comm",
      "maps",
      "pagemap",
    ]);
    expect(errnoOf(() => vfs.lookup("/proc/1000/task/1", root))).toBe("ENOENT:step_into");
  });

  test("a process that exited disappears from /proc", () => {
    const { vfs, root, spawn, exit } = fsWorld();
    const t = spawn({ pid: 77 });
    expect(readText(vfs, root, "/proc/77/comm")).toBe("task77\n");
    exit(t);
    expect(errnoOf(() => vfs.lookup("/proc/77", root))).toBe("ENOENT:step_into");
    expect(vfs.readdir("/proc", root)).not.toContain("77");
  });

  test("comm cannot be written (no write operation: EINVAL)", () => {
    const { vfs, user } = fsWorld();
    const f = vfs.open("/proc/self/comm", O_WRONLY, user);
    expect(errnoOf(() => vfs.write(f, user, user.buf, 1))).toBe("EINVAL:vfs_write");
  });
});

describe("/proc/<pid>/pagemap (fs/proc/task_mmu.c)", () => {
  test("pread at vpn*8 gives the PFN to an opener with CAP_SYS_ADMIN", () => {
    const { vfs, root } = fsWorld();
    const va = touchPage(root);
    const f = vfs.open("/proc/self/pagemap", O_RDONLY, root);
    expect(vfs.pread(f, root, root.buf, 8, (va / PAGE_SIZE) * 8)).toBe(8);
    const e = decodePagemapEntry(entryAt(root));
    expect(e.present).toBe(true);
    expect(e.pfn).toBe(root.mm.translate(va));
  });

  test("without CAP_SYS_ADMIN at open the PFN field is zero; dropping it later changes nothing", () => {
    const { vfs, root, user } = fsWorld();
    const va = touchPage(user);
    const f = vfs.open("/proc/self/pagemap", O_RDONLY, user);
    expect(vfs.pread(f, user, user.buf, 8, (va / PAGE_SIZE) * 8)).toBe(8);
    expect(entryAt(user) & ~(0xfn << 60n)).toBe(1n << 56n);
    expect(entryAt(user) & PM_PRESENT).toBe(PM_PRESENT);
    const g = vfs.open("/proc/1000/pagemap", O_RDONLY, root);
    root.drop("CAP_SYS_ADMIN");
    vfs.pread(g, root, root.buf, 8, (va / PAGE_SIZE) * 8);
    expect(decodePagemapEntry(entryAt(root)).pfn).toBe(user.mm.translate(va));
  });

  test("a position or count that is not a multiple of 8 is EINVAL", () => {
    const { vfs, root } = fsWorld();
    const f = vfs.open("/proc/self/pagemap", O_RDONLY, root);
    expect(errnoOf(() => vfs.pread(f, root, root.buf, 8, 4))).toBe("EINVAL:pagemap_read");
    expect(errnoOf(() => vfs.pread(f, root, root.buf, 12, 0))).toBe("EINVAL:pagemap_read");
  });

  test("a read advances the position; lseek takes SEEK_SET and SEEK_CUR only", () => {
    const { vfs, root } = fsWorld();
    const f = vfs.open("/proc/self/pagemap", O_RDONLY, root);
    expect(vfs.read(f, root, root.buf, 16)).toBe(16);
    expect(f.pos).toBe(16);
    expect(vfs.llseek(f, 8, SEEK_CUR)).toBe(24);
    expect(vfs.llseek(f, 2 ** 40, SEEK_SET)).toBe(2 ** 40);
    expect(errnoOf(() => vfs.llseek(f, 0, SEEK_END))).toBe("EINVAL:mem_lseek");
  });

  test("a large read covers many pages and stops at the end of the address space", () => {
    const { vfs, root } = fsWorld();
    const va = touchPage(root);
    const f = vfs.open("/proc/self/pagemap", O_RDONLY, root);
    const start = (va / PAGE_SIZE - 700) * 8;
    expect(vfs.pread(f, root, root.buf, 4 * PAGE_SIZE, start)).toBe(4 * PAGE_SIZE);
    const last = (root.mm.taskSize / PAGE_SIZE) * 8;
    expect(vfs.pread(f, root, root.buf, 64, last - 16)).toBe(16);
    expect(vfs.pread(f, root, root.buf, 64, last)).toBe(0);
  });

  test("another user's pagemap is closed by its mode; another uid with 0444 maps needs ptrace access", () => {
    const { vfs, root, user, spawn } = fsWorld();
    expect(errnoOf(() => vfs.open("/proc/1/pagemap", O_RDONLY, user))).toBe(
      "EACCES:generic_permission",
    );
    expect(errnoOf(() => vfs.open("/proc/1/maps", O_RDONLY, user))).toBe("EACCES:mm_access");
    const peer = spawn({ pid: 1001, uid: 1000 });
    expect(errnoOf(() => vfs.open("/proc/1000/maps", O_RDONLY, peer))).toBe("ok");
    expect(errnoOf(() => vfs.open("/proc/1000/maps", O_RDONLY, root))).toBe("ok");
    root.drop("CAP_SYS_PTRACE");
    expect(errnoOf(() => vfs.open("/proc/1000/maps", O_RDONLY, root))).toBe("EACCES:mm_access");
  });
});

describe("/proc/<pid>/maps and fd", () => {
  test("maps has one show_map_vma() line per VMA", () => {
    const { vfs, root } = fsWorld();
    touchPage(root);
    const expected = root.mm.vmaList.map((v) => `${v.mapsLine()}\n`).join("");
    expect(readText(vfs, root, "/proc/self/maps")).toBe(expected);
    expect(expected.split("\n").length - 1).toBe(root.mm.vmaList.length);
  });

  test("fd lists the descriptors; each link reads as the file's path and leads to it", () => {
    const { vfs, root } = fsWorld();
    root.install(vfs.open("/dev/null", O_RDWR, root));
    root.install(vfs.open("/proc/cmdline", O_RDONLY, root));
    root.install(vfs.anonInodeGetfile("[eventfd]", {}, null, O_RDWR));
    expect(vfs.readdir("/proc/self/fd", root)).toEqual([".", "..", "0", "1", "2"]);
    expect(vfs.readlink("/proc/self/fd/0", root)).toBe("/dev/null");
    expect(vfs.readlink("/proc/1/fd/1", root)).toBe("/proc/cmdline");
    expect(vfs.readlink("/proc/self/fd/2", root)).toBe("anon_inode:[eventfd]");
    expect(vfs.stat("/proc/self/fd/0", root).mode).toBe(S_IFCHR | 0o666);
    expect(vfs.stat("/proc/self/fd/0", root, { followLast: false })).toMatchObject({
      mode: S_IFLNK | 0o700,
      size: 64,
    });
    expect(vfs.stat("/proc/self/fd/1", root, { followLast: false }).mode).toBe(S_IFLNK | 0o500);
    expect(vfs.stat("/proc/self/fd/2", root).mode).toBe(0o600);
    expect(errnoOf(() => vfs.lookup("/proc/self/fd/3", root))).toBe("ENOENT:step_into");
    expect(errnoOf(() => vfs.lookup("/proc/self/fd/01", root))).toBe("ENOENT:step_into");
  });

  test("another process's fd directory is closed (0500) except to root; its links need ptrace access", () => {
    const { vfs, root, user } = fsWorld();
    user.install(vfs.open("/dev/zero", O_RDONLY, user));
    expect(vfs.readlink("/proc/1000/fd/0", user)).toBe("/dev/zero");
    expect(errnoOf(() => vfs.readdir("/proc/1/fd", user))).toBe("EACCES:proc_fd_permission");
    expect(vfs.readlink("/proc/1000/fd/0", root)).toBe("/dev/zero");
    root.drop("CAP_SYS_PTRACE");
    expect(errnoOf(() => vfs.readlink("/proc/1000/fd/0", root))).toBe("EACCES:proc_pid_readlink");
    expect(errnoOf(() => vfs.stat("/proc/1000/fd/0", root))).toBe("EACCES:proc_pid_get_link");
  });
});
