import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import {
  DEFAULT_POLLMASK,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  POLLERR,
  POLLPRI,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  SEEK_END,
  SEEK_SET,
} from "./file.js";
import {
  bufText,
  errnoOf,
  fsWorld,
  readAll,
  readText,
  writeFile,
  writeText,
} from "./fs-test-fixture.js";
import { major, minor } from "./kdev-t.js";

const DEV = "/sys/bus/platform/devices/9030000.pl061";

function world() {
  const w = fsWorld();
  let value = "vfio-amba\n";
  const stored: string[] = [];
  let shows = 0;
  w.vfs.sysfs.mkdir(DEV);
  w.vfs.sysfs.createFile(`${DEV}/driver_override`, {
    mode: 0o644,
    show: () => {
      shows++;
      return value;
    },
    store: (text) => {
      stored.push(text);
      value = text;
    },
  });
  return {
    ...w,
    stored,
    shows: () => shows,
  };
}

describe("sysfs attribute reads (seq_file over show())", () => {
  test("a read returns show()'s text, the next read 0, without calling show() again", () => {
    const { vfs, root, shows } = world();
    const f = vfs.open(`${DEV}/driver_override`, O_RDONLY, root);
    expect(vfs.read(f, root, root.buf, 100)).toBe(10);
    expect(bufText(root, 10)).toBe("vfio-amba\n");
    expect(vfs.read(f, root, root.buf, 100)).toBe(0);
    expect(shows()).toBe(1);
  });

  test("short reads continue from the position with the same text", () => {
    const { vfs, root, shows } = world();
    const f = vfs.open(`${DEV}/driver_override`, O_RDONLY, root);
    expect(readAll(vfs, root, f, 3)).toBe("vfio-amba\n");
    expect(shows()).toBe(1);
  });

  test("pread at an offset and a read after lseek regenerate from there", () => {
    const { vfs, root, shows } = world();
    const f = vfs.open(`${DEV}/driver_override`, O_RDONLY, root);
    expect(vfs.pread(f, root, root.buf, 100, 5)).toBe(5);
    expect(bufText(root, 5)).toBe("amba\n");
    expect(vfs.pread(f, root, root.buf, 100, 50)).toBe(0);
    expect(vfs.llseek(f, 0, SEEK_SET)).toBe(0);
    expect(readAll(vfs, root, f)).toBe("vfio-amba\n");
    expect(shows()).toBe(3);
  });

  test("an attribute without show() reads as EIO", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/bus/platform");
    vfs.sysfs.createFile("/sys/bus/platform/drivers_probe", { mode: 0o644, store: () => {} });
    const f = vfs.open("/sys/bus/platform/drivers_probe", O_RDONLY, root);
    expect(errnoOf(() => vfs.read(f, root, root.buf, 10))).toBe("EIO:dev_attr_show");
  });

  test("a write-only attribute (0200) cannot be opened for reading, not even by root", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/bus/platform");
    vfs.sysfs.createFile("/sys/bus/platform/drivers_probe", { mode: 0o200, store: () => {} });
    expect(errnoOf(() => vfs.open("/sys/bus/platform/drivers_probe", O_RDONLY, root))).toBe(
      "EACCES:kernfs_fop_open",
    );
    expect(errnoOf(() => vfs.open("/sys/bus/platform/drivers_probe", O_WRONLY, root))).toBe("ok");
  });

  test("a read-only attribute (0444) cannot be opened for writing, not even by root", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/module/vfio/parameters");
    vfs.sysfs.createFile("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", {
      mode: 0o444,
      show: () => "N\n",
    });
    expect(
      errnoOf(() =>
        writeText(vfs, root, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "1"),
      ),
    ).toBe("EACCES:kernfs_fop_open");
  });

  test("show() text is cut at PAGE_SIZE - 1 bytes", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/big");
    vfs.sysfs.createFile("/sys/big/a", { mode: 0o444, show: () => "x".repeat(5000) });
    expect(readText(vfs, root, "/sys/big/a").length).toBe(PAGE_SIZE - 1);
  });

  test("a SysError from show() is the read's error", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/e");
    vfs.sysfs.createFile("/sys/e/a", {
      mode: 0o444,
      show: () => {
        throw new SysError("ENODEV", "state_show");
      },
    });
    expect(errnoOf(() => readText(vfs, root, "/sys/e/a"))).toBe("ENODEV:state_show");
  });

  test("a buffer that faults is EFAULT and consumes nothing", () => {
    const { vfs, root } = world();
    const f = vfs.open(`${DEV}/driver_override`, O_RDONLY, root);
    expect(errnoOf(() => vfs.read(f, root, root.buf + 4 * PAGE_SIZE, 10))).toBe(
      "EFAULT:seq_read_iter",
    );
    expect(readAll(vfs, root, f)).toBe("vfio-amba\n");
  });
});

describe("sysfs attribute writes (store())", () => {
  test("store() gets the written text whatever the position and the write returns the count", () => {
    const { vfs, root, stored } = world();
    expect(
      writeText(vfs, root, `${DEV}/driver_override`, "vfio-platform\n", O_WRONLY | O_TRUNC),
    ).toBe(14);
    const f = vfs.open(`${DEV}/driver_override`, O_RDWR, root);
    vfs.llseek(f, 100, SEEK_SET);
    expect(writeFile(vfs, root, f, "x")).toBe(1);
    expect(stored).toEqual(["vfio-platform\n", "x"]);
    expect(f.pos).toBe(101);
  });

  test("an empty write returns 0 without calling store()", () => {
    const { vfs, root, stored } = world();
    expect(writeText(vfs, root, `${DEV}/driver_override`, "")).toBe(0);
    expect(stored).toEqual([]);
  });

  test("a write longer than a page passes one page", () => {
    const { vfs, root, stored } = world();
    expect(writeText(vfs, root, `${DEV}/driver_override`, "y".repeat(PAGE_SIZE + 10))).toBe(
      PAGE_SIZE,
    );
    expect(stored[0]!.length).toBe(PAGE_SIZE);
  });

  test("a SysError from store() is the write's error; no store() is EIO", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/bus/amba");
    vfs.sysfs.createFile("/sys/bus/amba/drivers_probe", {
      mode: 0o200,
      store: () => {
        throw new SysError("EINVAL", "driver_override_store");
      },
    });
    vfs.sysfs.createFile("/sys/bus/amba/uevent", { mode: 0o644, show: () => "" });
    expect(errnoOf(() => writeText(vfs, root, "/sys/bus/amba/drivers_probe", "x"))).toBe(
      "EINVAL:driver_override_store",
    );
    expect(errnoOf(() => writeText(vfs, root, "/sys/bus/amba/uevent", "add"))).toBe(
      "EIO:dev_attr_store",
    );
  });

  test("a user may read a 0644 attribute but not write it", () => {
    const { vfs, user } = world();
    expect(readText(vfs, user, `${DEV}/driver_override`)).toBe("vfio-amba\n");
    expect(errnoOf(() => writeText(vfs, user, `${DEV}/driver_override`, "x"))).toBe(
      "EACCES:generic_permission",
    );
  });

  test("the written text is copied before anything else: a bad buffer is EFAULT", () => {
    const { vfs, root, stored } = world();
    const f = vfs.open(`${DEV}/driver_override`, O_WRONLY, root);
    expect(errnoOf(() => vfs.write(f, root, root.buf + 4 * PAGE_SIZE, 4))).toBe(
      "EFAULT:kernfs_fop_write_iter",
    );
    expect(stored).toEqual([]);
  });
});

describe("removal, links, stat, poll", () => {
  test("files open on a removed attribute fail with ENODEV; new lookups find nothing", () => {
    const { vfs, root } = world();
    const f = vfs.open(`${DEV}/driver_override`, O_RDWR, root);
    vfs.sysfs.remove(DEV);
    expect(errnoOf(() => vfs.read(f, root, root.buf, 10))).toBe("ENODEV:kernfs_seq_start");
    expect(errnoOf(() => writeFile(vfs, root, f, "x"))).toBe("ENODEV:kernfs_fop_write_iter");
    expect(errnoOf(() => vfs.open(`${DEV}/driver_override`, O_RDONLY, root))).toBe(
      "ENOENT:step_into",
    );
    expect(vfs.sysfs.exists(DEV)).toBe(false);
  });

  test("mkdir/createFile/symlink/remove errors: EEXIST, ENOENT", () => {
    const { vfs } = world();
    expect(errnoOf(() => vfs.sysfs.mkdir(DEV, true))).toBe("EEXIST:kernfs_link_sibling");
    expect(errnoOf(() => vfs.sysfs.mkdir(DEV))).toBe("ok");
    expect(errnoOf(() => vfs.sysfs.createFile("/sys/nope/x", { mode: 0o444 }))).toBe(
      "ENOENT:sysfs_add_file_mode_ns",
    );
    expect(errnoOf(() => vfs.sysfs.createFile(`${DEV}/driver_override`, { mode: 0o444 }))).toBe(
      "EEXIST:kernfs_link_sibling",
    );
    expect(errnoOf(() => vfs.sysfs.symlink("/sys/l", "/sys/devices/nope"))).toBe(
      "ENOENT:sysfs_do_create_link_sd",
    );
    expect(errnoOf(() => vfs.sysfs.remove("/sys/devices/nope"))).toBe(
      "ENOENT:kernfs_remove_by_name_ns",
    );
    expect(errnoOf(() => vfs.sysfs.mkdir("/proc/x"))).toBe("EINVAL:sysfs_create_dir_ns");
  });

  test("a link reads relative to its directory, as sysfs_create_link() renders it", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/devices/platform/9030000.pl061");
    vfs.sysfs.mkdir("/sys/bus/platform/devices");
    vfs.sysfs.symlink(
      "/sys/bus/platform/devices/9030000.pl061",
      "/sys/devices/platform/9030000.pl061",
    );
    expect(vfs.readlink("/sys/bus/platform/devices/9030000.pl061", root)).toBe(
      "../../../devices/platform/9030000.pl061",
    );
  });

  test("stat: attributes are 4096-byte files, directories 2 + subdirs links, links 0 bytes, all root's", () => {
    const { vfs, root } = world();
    const attr = vfs.stat(`${DEV}/driver_override`, root);
    expect([attr.mode, attr.size, attr.nlink, attr.uid, attr.blocks]).toEqual([
      S_IFREG | 0o644,
      4096,
      1,
      0,
      0,
    ]);
    expect([major(attr.dev), minor(attr.dev)]).toEqual([0, 21]);
    vfs.sysfs.mkdir(`${DEV}/power`);
    const dir = vfs.stat(DEV, root);
    expect([dir.mode, dir.nlink, dir.size]).toEqual([S_IFDIR | 0o755, 3, 0]);
    expect(vfs.stat("/sys", root).mode).toBe(S_IFDIR | 0o555);
    vfs.sysfs.symlink(`${DEV}/subsystem`, "/sys/bus/platform");
    expect(vfs.stat(`${DEV}/subsystem`, root, { followLast: false })).toMatchObject({
      mode: S_IFLNK | 0o777,
      size: 0,
    });
    const f = vfs.open(`${DEV}/driver_override`, O_RDONLY, root);
    expect(vfs.llseek(f, 0, SEEK_END)).toBe(4096);
  });

  test("poll reports POLLERR|POLLPRI after sysfs_notify() until the attribute is read again", () => {
    const { vfs, root } = world();
    const f = vfs.open(`${DEV}/driver_override`, O_RDONLY, root);
    readAll(vfs, root, f);
    expect(f.fOp.poll!(f, root)).toBe(DEFAULT_POLLMASK);
    vfs.sysfs.notify(`${DEV}/driver_override`);
    expect(f.fOp.poll!(f, root)).toBe(DEFAULT_POLLMASK | POLLERR | POLLPRI);
    vfs.pread(f, root, root.buf, 100, 0);
    expect(f.fOp.poll!(f, root)).toBe(DEFAULT_POLLMASK);
  });

  test("chmod changes what the open check allows", () => {
    const { vfs, root } = world();
    vfs.sysfs.chmod(`${DEV}/driver_override`, 0o444);
    expect(errnoOf(() => vfs.open(`${DEV}/driver_override`, O_WRONLY, root))).toBe(
      "EACCES:kernfs_fop_open",
    );
  });
});
