import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { expectErrno } from "../testing/matchers.js";
import { Cdev } from "./chrdev.js";
import {
  type File,
  FMODE_PATH,
  FMODE_PREAD,
  FMODE_READ,
  FMODE_WRITE,
  O_APPEND,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOATIME,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  SEEK_CUR,
  SEEK_SET,
} from "./file.js";
import { filePinnedOwner, type ModuleOwner } from "./fops.js";
import { errnoOf, fsWorld, readText, writeFile } from "./fs-test-fixture.js";
import { dPath, isLnk } from "./inode.js";
import { MKDEV, major, minor } from "./kdev-t.js";
import { MAXSYMLINKS } from "./namei.js";
import { O_TMPFILE } from "./vfs.js";

const RO = { mode: 0o444, show: () => "ro\n" };

describe("path walk (fs/namei.c)", () => {
  test("absolute, relative, repeated slashes and dots all reach the same dentry", () => {
    const { vfs, root } = fsWorld();
    const d = vfs.lookup("/dev/null", root);
    expect(vfs.lookup("dev/null", root)).toBe(d);
    expect(vfs.lookup("//dev///./null", root)).toBe(d);
    expect(vfs.lookup("/sys/../dev/null", root)).toBe(d);
    expect(vfs.lookup("/..", root)).toBe(vfs.root);
    expect(dPath(d)).toBe("/dev/null");
  });

  test("the empty path is ENOENT from getname_flags", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.lookup("", root))).toBe("ENOENT:getname_flags");
    expect(errnoOf(() => vfs.open("", O_RDONLY, root))).toBe("ENOENT:getname_flags");
  });

  test("a path of PATH_MAX bytes is ENAMETOOLONG, one byte less is walked", () => {
    const { vfs, root } = fsWorld();
    const name = (n: number) => `/${"a/".repeat(n)}`.slice(0, n);
    expect(errnoOf(() => vfs.lookup(name(4096), root))).toBe("ENAMETOOLONG:getname_flags");
    expect(errnoOf(() => vfs.lookup(name(4095), root))).toBe("ENOENT:step_into");
  });

  test("a component over NAME_MAX is ENAMETOOLONG on tmpfs but simply absent on sysfs and procfs", () => {
    const { vfs, root } = fsWorld();
    const long = "x".repeat(256);
    expect(errnoOf(() => vfs.lookup(`/dev/${long}`, root))).toBe("ENAMETOOLONG:simple_lookup");
    expect(errnoOf(() => vfs.lookup(`/dev/${"x".repeat(255)}`, root))).toBe("ENOENT:step_into");
    expect(errnoOf(() => vfs.lookup(`/sys/${long}`, root))).toBe("ENOENT:step_into");
    expect(errnoOf(() => vfs.lookup(`/proc/${long}`, root))).toBe("ENOENT:step_into");
  });

  test("a file in the middle of a path is ENOTDIR; so is a trailing slash after a file", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.lookup("/dev/null/x", root))).toBe("ENOTDIR:link_path_walk");
    expect(errnoOf(() => vfs.lookup("/dev/null/", root))).toBe("ENOTDIR:path_lookupat");
    expect(errnoOf(() => vfs.lookup("/dev/null", root, { directory: true }))).toBe(
      "ENOTDIR:path_lookupat",
    );
  });

  test("a directory without search permission is EACCES for a user, before the name is looked up", () => {
    const { vfs, root, user } = fsWorld();
    vfs.rootfs.mkdir(vfs.root, "secret", 0o700, 0, 0);
    expect(errnoOf(() => vfs.lookup("/secret/missing", user))).toBe("EACCES:generic_permission");
    // Root searches anything (CAP_DAC_READ_SEARCH), and then finds nothing.
    expect(errnoOf(() => vfs.lookup("/secret/missing", root))).toBe("ENOENT:step_into");
  });

  test("root without CAP_DAC_READ_SEARCH still searches with CAP_DAC_OVERRIDE, and without both is refused", () => {
    const { vfs, root } = fsWorld();
    vfs.rootfs.mkdir(vfs.root, "secret", 0o700, 1000, 1000);
    root.drop("CAP_DAC_READ_SEARCH");
    expect(errnoOf(() => vfs.lookup("/secret/x", root))).toBe("ENOENT:step_into");
    root.drop("CAP_DAC_OVERRIDE");
    expect(errnoOf(() => vfs.lookup("/secret/x", root))).toBe("EACCES:generic_permission");
  });

  test("group and other bits decide for a non-owner, group only when they differ", () => {
    const { vfs, spawn } = fsWorld();
    vfs.rootfs.mkdir(vfs.root, "g", 0o710, 0, 50);
    const member = spawn({ pid: 7, uid: 7, gid: 50 });
    const other = spawn({ pid: 8, uid: 8, gid: 8 });
    expect(errnoOf(() => vfs.lookup("/g/x", member))).toBe("ENOENT:step_into");
    expect(errnoOf(() => vfs.lookup("/g/x", other))).toBe("EACCES:generic_permission");
  });

  test("a sysfs symlink is followed in the middle and at the end, lstat keeps the link", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/devices/platform/9030000.pl061");
    vfs.sysfs.createFile("/sys/devices/platform/9030000.pl061/modalias", RO);
    vfs.sysfs.mkdir("/sys/bus/amba/devices");
    vfs.sysfs.symlink("/sys/bus/amba/devices/9030000.pl061", "/sys/devices/platform/9030000.pl061");
    expect(readText(vfs, root, "/sys/bus/amba/devices/9030000.pl061/modalias")).toBe("ro\n");
    const target = vfs.lookup("/sys/devices/platform/9030000.pl061", root);
    expect(vfs.lookup("/sys/bus/amba/devices/9030000.pl061", root)).toBe(target);
    const link = vfs.lookup("/sys/bus/amba/devices/9030000.pl061", root, { followLast: false });
    expect(isLnk(link.inode)).toBe(true);
    expect(vfs.stat("/sys/bus/amba/devices/9030000.pl061", root).mode & S_IFDIR).toBe(S_IFDIR);
    expect(vfs.stat("/sys/bus/amba/devices/9030000.pl061", root, { followLast: false }).mode).toBe(
      S_IFLNK | 0o777,
    );
  });

  test(`${MAXSYMLINKS} symlinks in one walk are followed, the next one is ELOOP`, () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/a");
    vfs.sysfs.createFile("/sys/a/f", RO);
    vfs.sysfs.symlink("/sys/a/self", "/sys/a");
    expect(vfs.readlink("/sys/a/self", root)).toBe("../a");
    const via = (n: number) => `/sys/a/${"self/".repeat(n)}f`;
    expect(readText(vfs, root, via(MAXSYMLINKS))).toBe("ro\n");
    expect(errnoOf(() => vfs.lookup(via(MAXSYMLINKS + 1), root))).toBe("ELOOP:reserve_stack");
    expect(errnoOf(() => vfs.open(via(MAXSYMLINKS + 1), O_RDONLY, root))).toBe(
      "ELOOP:reserve_stack",
    );
  });

  test("a trailing slash follows a final symlink even without LOOKUP_FOLLOW", () => {
    const { vfs, root } = fsWorld();
    vfs.sysfs.mkdir("/sys/a");
    vfs.sysfs.symlink("/sys/l", "/sys/a");
    expect(vfs.lookup("/sys/l/", root, { followLast: false })).toBe(vfs.lookup("/sys/a", root));
  });

  test("'..' climbs out of a mounted filesystem into the one below", () => {
    const { vfs, root } = fsWorld();
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vfio/vfio", devt: MKDEV(10, 196) });
    expect(vfs.lookup("/dev/vfio/../../proc/..", root)).toBe(vfs.root);
    expect(vfs.readdir("/dev/vfio/../..", root)).toEqual([".", "..", "proc", "sys", "dev"]);
  });
});

describe("open (fs/namei.c path_openat)", () => {
  test("O_CREAT | O_DIRECTORY is EINVAL before the path is even looked at", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("", O_CREAT | O_DIRECTORY, root))).toBe(
      "EINVAL:build_open_flags",
    );
  });

  test("a directory opened for writing is EISDIR, for reading it is fine", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("/dev", O_WRONLY, root))).toBe("EISDIR:may_open");
    expect(errnoOf(() => vfs.open("/sys", O_RDWR, root))).toBe("EISDIR:may_open");
    const f = vfs.open("/proc", O_RDONLY, root);
    expect(errnoOf(() => vfs.read(f, root, root.buf, 10))).toBe("EISDIR:generic_read_dir");
    vfs.fput(f);
  });

  test("O_DIRECTORY on a device node is ENOTDIR", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("/dev/null", O_RDONLY | O_DIRECTORY, root))).toBe(
      "ENOTDIR:do_open",
    );
  });

  test("O_CREAT where the filesystem cannot create is EACCES, even for root", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("/sys/new", O_CREAT | O_WRONLY, root))).toBe(
      "EACCES:lookup_open",
    );
    expect(errnoOf(() => vfs.open("/proc/new", O_CREAT | O_WRONLY, root))).toBe(
      "EACCES:lookup_open",
    );
    expect(errnoOf(() => vfs.open("/proc/sys/kernel/new", O_CREAT, root))).toBe(
      "EACCES:proc_sys_permission",
    );
  });

  test("O_CREAT in /dev: a user lacks write permission on the directory, root creates a regular file", () => {
    const { vfs, root, user } = fsWorld();
    expect(errnoOf(() => vfs.open("/dev/scratch", O_CREAT | O_WRONLY, user))).toBe(
      "EACCES:generic_permission",
    );
    const f = vfs.open("/dev/scratch", O_CREAT | O_WRONLY, root, 0o666);
    expect(writeFile(vfs, root, f, "data")).toBe(4);
    vfs.fput(f);
    const st = vfs.stat("/dev/scratch", root);
    expect(st.mode).toBe(S_IFREG | 0o644);
    expect(st.size).toBe(4);
    expect(readText(vfs, root, "/dev/scratch")).toBe("data");
  });

  test("an existing file opens with O_CREAT without write permission on its directory", () => {
    const { vfs, user } = fsWorld();
    const f = vfs.open("/dev/null", O_CREAT | O_WRONLY, user);
    expect(f.path).toBe("/dev/null");
    vfs.fput(f);
  });

  test("O_CREAT | O_EXCL on an existing name is EEXIST, and does not follow a symlink", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("/dev/null", O_CREAT | O_EXCL | O_WRONLY, root))).toBe(
      "EEXIST:do_open",
    );
    expect(errnoOf(() => vfs.open("/proc/self", O_CREAT | O_EXCL | O_WRONLY, root))).toBe(
      "EEXIST:do_open",
    );
  });

  test("O_CREAT on a directory or with a trailing slash is EISDIR", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("/dev", O_CREAT | O_RDONLY, root))).toBe("EISDIR:do_open");
    expect(errnoOf(() => vfs.open("/dev/newdir/", O_CREAT | O_RDONLY, root))).toBe(
      "EISDIR:open_last_lookups",
    );
  });

  test("O_NOFOLLOW on a symlink is ELOOP, with O_DIRECTORY it is ENOTDIR", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("/proc/self", O_RDONLY | O_NOFOLLOW, root))).toBe(
      "ELOOP:may_open",
    );
    expect(errnoOf(() => vfs.open("/proc/self", O_RDONLY | O_NOFOLLOW | O_DIRECTORY, root))).toBe(
      "ENOTDIR:do_open",
    );
    const f = vfs.open("/proc/self", O_RDONLY | O_DIRECTORY, root);
    expect(f.path).toBe("/proc/1");
    vfs.fput(f);
  });

  test("mode bits: a user cannot open a root 0600 node, root can, root without DAC capabilities cannot", () => {
    const { vfs, root, user } = fsWorld();
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vfio/0", devt: MKDEV(243, 0) });
    expect(vfs.stat("/dev/vfio/0", root).mode).toBe(S_IFCHR | 0o600);
    expect(errnoOf(() => vfs.open("/dev/vfio/0", O_RDWR, user))).toBe("EACCES:generic_permission");
    // Permission passes for root; then nothing serves 243:0.
    expect(errnoOf(() => vfs.open("/dev/vfio/0", O_RDWR, root))).toBe("ENXIO:chrdev_open");
    root.drop("CAP_DAC_OVERRIDE");
    expect(errnoOf(() => vfs.open("/dev/vfio/0", O_RDWR, root))).toBe("ENXIO:chrdev_open");
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "mine", devt: MKDEV(243, 1), uid: 1000 });
    expect(errnoOf(() => vfs.open("/dev/mine", O_RDWR, root))).toBe("EACCES:generic_permission");
    // CAP_DAC_READ_SEARCH is enough to read.
    expect(errnoOf(() => vfs.open("/dev/mine", O_RDONLY, root))).toBe("ENXIO:chrdev_open");
  });

  test("O_TRUNC needs write permission even with O_RDONLY", () => {
    const { vfs, user } = fsWorld();
    vfs.rootfs.mknod(vfs.root, "f", S_IFREG | 0o644, 0, 0, 0);
    expect(errnoOf(() => vfs.open("/f", O_RDONLY | O_TRUNC, user))).toBe(
      "EACCES:generic_permission",
    );
    expect(errnoOf(() => vfs.open("/f", O_RDONLY, user))).toBe("ok");
  });

  test("O_NOATIME is EPERM for a file the caller neither owns nor has CAP_FOWNER over", () => {
    const { vfs, user } = fsWorld();
    expect(errnoOf(() => vfs.open("/dev/null", O_RDONLY | O_NOATIME, user))).toBe("EPERM:may_open");
  });

  test("the file keeps its flags minus the creation ones, and the access mode as FMODE bits", () => {
    const { vfs, root } = fsWorld();
    const f = vfs.open(
      "/dev/null",
      O_RDWR | O_NONBLOCK | O_APPEND | O_CLOEXEC | O_CREAT | O_TRUNC,
      root,
    );
    expect(f.flags).toBe(O_RDWR | O_NONBLOCK | O_APPEND);
    expect(f.mode & (FMODE_READ | FMODE_WRITE)).toBe(FMODE_READ | FMODE_WRITE);
    expect(f.refcount).toBe(1);
    vfs.fput(f);
    // Access mode 3 asks for read and write permission but grants neither (ioctl-only opens).
    const g = vfs.open("/dev/null", 3, root);
    expect(g.mode & (FMODE_READ | FMODE_WRITE)).toBe(0);
    expect(errnoOf(() => vfs.read(g, root, root.buf, 1))).toBe("EBADF:vfs_read");
  });

  test("O_PATH needs no permission on the file and allows no I/O", () => {
    const { vfs, user } = fsWorld();
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "locked", devt: MKDEV(243, 0) });
    const f = vfs.open("/dev/locked", O_PATH | O_RDWR, user);
    expect(f.mode).toBe(FMODE_PATH);
    expect(errnoOf(() => vfs.read(f, user, user.buf, 1))).toBe("EBADF:vfs_read");
    expect(errnoOf(() => vfs.llseek(f, 0, SEEK_SET))).toBe("EBADF:ksys_lseek");
    expect(errnoOf(() => vfs.ioctl(f, user, 1, 0))).toBe("EBADF:ksys_ioctl");
    expect(errnoOf(() => vfs.mmapFile(f, user))).toBe("EBADF:ksys_mmap_pgoff");
    expect(vfs.fstat(f).mode).toBe(S_IFCHR | 0o600);
    vfs.fput(f);
  });

  test("O_TMPFILE needs write access and a filesystem with tmpfile: EOPNOTSUPP here", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.open("/dev", O_TMPFILE | O_RDONLY, root))).toBe(
      "EINVAL:build_open_flags",
    );
    expect(errnoOf(() => vfs.open("/dev", O_TMPFILE | O_RDWR, root))).toBe(
      "EOPNOTSUPP:vfs_tmpfile",
    );
  });

  test("an inode without file operations opens as ENXIO (no_open)", () => {
    const { vfs, root } = fsWorld();
    const efd = vfs.anonInodeGetfile("[x]", {}, null, O_RDWR);
    root.install(efd);
    expect(errnoOf(() => vfs.open("/proc/self/fd/0", O_RDONLY, root))).toBe("ENXIO:no_open");
  });
});

describe("char devices and the modules behind them", () => {
  const owner: ModuleOwner = { name: "vfio" };

  function refs() {
    const held = new Map<string, number>();
    let going = false;
    return {
      held,
      setGoing: (g: boolean) => {
        going = g;
      },
      modules: {
        tryModuleGet: (o: ModuleOwner) => {
          if (going) return false;
          held.set(o.name, (held.get(o.name) ?? 0) + 1);
          return true;
        },
        modulePut: (o: ModuleOwner) => {
          held.set(o.name, held.get(o.name)! - 1);
        },
      },
    };
  }

  test("an open pins the driver's module twice (cdev_get, fops_get) until the last reference is released", () => {
    const r = refs();
    const { vfs, root } = fsWorld({ modules: r.modules });
    const released: File[] = [];
    const region = vfs.chrdev.allocChrdevRegion(0, 1, "vfio");
    vfs.chrdev.cdevAdd(new Cdev({ owner, release: (_i, f) => released.push(f) }), region, 1);
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vfio/0", devt: region });
    const f = vfs.open("/dev/vfio/0", O_RDWR, root);
    expect(r.held.get("vfio")).toBe(2);
    const g = vfs.open("/dev/vfio/0", O_RDWR, root);
    expect(r.held.get("vfio")).toBe(4);
    vfs.fput(g);
    expect(r.held.get("vfio")).toBe(2);
    expect(filePinnedOwner(f)).toBe(owner);
    vfs.fget(f);
    vfs.fput(f);
    expect(released).toEqual([g]);
    vfs.fput(f);
    expect(released).toEqual([g, f]);
    expect(r.held.get("vfio")).toBe(0);
  });

  test("a file open across cdev_del() keeps its cdev owner reference (cdev_purge())", () => {
    const r = refs();
    const { vfs, root } = fsWorld({ modules: r.modules });
    const cdev = new Cdev({ owner });
    vfs.chrdev.cdevAdd(cdev, MKDEV(240, 0), 1);
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "x", devt: MKDEV(240, 0) });
    const f = vfs.open("/dev/x", O_RDWR, root);
    vfs.chrdev.cdevDel(cdev);
    expect(errnoOf(() => vfs.open("/dev/x", O_RDWR, root))).toBe("ENXIO:chrdev_open");
    vfs.fput(f);
    // __fput() finds inode->i_cdev NULL: only fops_put() runs.
    expect(r.held.get("vfio")).toBe(1);
  });

  test("a module going away makes a plain cdev ENXIO (chrdev_open) and leaves nothing pinned", () => {
    const r = refs();
    const { vfs, root } = fsWorld({ modules: r.modules });
    vfs.chrdev.cdevAdd(new Cdev({ owner }), MKDEV(240, 0), 1);
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "x", devt: MKDEV(240, 0) });
    r.setGoing(true);
    expect(errnoOf(() => vfs.open("/dev/x", O_RDWR, root))).toBe("ENXIO:chrdev_open");
    expect(r.held.get("vfio")).toBeUndefined();
  });

  test("a failing driver open drops the module reference it took", () => {
    const r = refs();
    const { vfs, root } = fsWorld({ modules: r.modules });
    const fops = {
      owner,
      open: () => {
        throw new SysError("EBUSY", "vfio_group_fops_open");
      },
    };
    vfs.chrdev.cdevAdd(new Cdev(fops), MKDEV(240, 0), 1);
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "x", devt: MKDEV(240, 0) });
    expect(errnoOf(() => vfs.open("/dev/x", O_RDWR, root))).toBe("EBUSY:vfio_group_fops_open");
    expect(r.held.get("vfio")).toBe(0);
  });

  test("misc: a minor nobody registered is ENODEV, a going module too", () => {
    const r = refs();
    const { vfs, root } = fsWorld({ modules: r.modules });
    vfs.devtmpfs.devtmpfsCreateNode({ nodename: "vfio/vfio", devt: MKDEV(10, 196) });
    expect(errnoOf(() => vfs.open("/dev/vfio/vfio", O_RDWR, root))).toBe("ENODEV:misc_open");
    vfs.devtmpfs.devtmpfsDeleteNode({ nodename: "vfio/vfio", devt: MKDEV(10, 196) });
    vfs.misc.miscRegister({
      minor: 196,
      name: "vfio",
      nodename: "vfio/vfio",
      mode: 0o666,
      fops: { owner },
    });
    r.setGoing(true);
    expect(errnoOf(() => vfs.open("/dev/vfio/vfio", O_RDWR, root))).toBe("ENODEV:misc_open");
    r.setGoing(false);
    const f = vfs.open("/dev/vfio/vfio", O_RDWR, root);
    expect(r.held.get("vfio")).toBe(1);
    vfs.fput(f);
    expect(r.held.get("vfio")).toBe(0);
  });
});

describe("read, write, lseek and ioctl (fs/read_write.c, fs/ioctl.c)", () => {
  test("read of a file not open for reading is EBADF, of one without read is EINVAL", () => {
    const { vfs, root } = fsWorld();
    const w = vfs.open("/dev/null", O_WRONLY, root);
    expect(errnoOf(() => vfs.read(w, root, root.buf, 1))).toBe("EBADF:vfs_read");
    expect(errnoOf(() => vfs.write(vfs.open("/dev/null", O_RDONLY, root), root, root.buf, 1))).toBe(
      "EBADF:vfs_write",
    );
    vfs.misc.miscRegister({ minor: 255, name: "wo", fops: { write: () => 0 } });
    const f = vfs.open("/dev/wo", O_RDWR, root);
    expect(errnoOf(() => vfs.read(f, root, root.buf, 1))).toBe("EINVAL:vfs_read");
    expect(errnoOf(() => vfs.llseek(f, 0, SEEK_SET))).toBe("ESPIPE:vfs_llseek");
    expect(errnoOf(() => vfs.ioctl(f, root, 0x3b71, 0))).toBe("ENOTTY:vfs_ioctl");
  });

  test("a buffer outside user space is EFAULT before the driver is asked", () => {
    const { vfs, root } = fsWorld();
    let called = false;
    vfs.misc.miscRegister({
      minor: 255,
      name: "probe",
      fops: {
        read: () => {
          called = true;
          return 0;
        },
      },
    });
    const f = vfs.open("/dev/probe", O_RDONLY, root);
    expect(errnoOf(() => vfs.read(f, root, 2 ** 48 - 1, 2))).toBe("EFAULT:vfs_read");
    expect(errnoOf(() => vfs.read(f, root, root.buf, -1))).toBe("EFAULT:vfs_read");
    expect(called).toBe(false);
  });

  test("pread: a negative offset is EINVAL, an anonymous inode is ESPIPE, the position stays", () => {
    const { vfs, root } = fsWorld();
    const f = vfs.open("/proc/cmdline", O_RDONLY, root);
    expect(f.mode & FMODE_PREAD).toBe(FMODE_PREAD);
    expect(errnoOf(() => vfs.pread(f, root, root.buf, 1, -1))).toBe("EINVAL:ksys_pread64");
    expect(vfs.pread(f, root, root.buf, 10, 0)).toBe(1);
    expect(f.pos).toBe(0);
    const a = vfs.anonInodeGetfile("[eventfd]", { read: () => 8 }, null, O_RDWR);
    expect(errnoOf(() => vfs.pread(a, root, root.buf, 8, 0))).toBe("ESPIPE:ksys_pread64");
    expect(errnoOf(() => vfs.pwrite(a, root, root.buf, 8, 0))).toBe("ESPIPE:ksys_pwrite64");
  });

  test("lseek: whence beyond SEEK_HOLE is EINVAL before the file is asked", () => {
    const { vfs, root } = fsWorld();
    const f = vfs.open("/proc/cmdline", O_RDONLY, root);
    expect(errnoOf(() => vfs.llseek(f, 0, 5))).toBe("EINVAL:ksys_lseek");
    expect(vfs.llseek(f, 3, SEEK_SET)).toBe(3);
    expect(vfs.llseek(f, -1, SEEK_CUR)).toBe(2);
    expect(errnoOf(() => vfs.llseek(f, -5, SEEK_CUR))).toBe("EINVAL:seq_lseek");
  });

  test("ENOIOCTLCMD from a driver reaches user space as ENOTTY", () => {
    const { vfs, root } = fsWorld();
    vfs.misc.miscRegister({
      minor: 255,
      name: "ioc",
      fops: {
        unlockedIoctl: (_f, _c, cmd) => {
          if (cmd === 1) return 42;
          throw new SysError("ENOIOCTLCMD", "ioc_ioctl");
        },
      },
    });
    const f = vfs.open("/dev/ioc", O_RDWR, root);
    expect(vfs.ioctl(f, root, 1, 0)).toBe(42);
    expect(errnoOf(() => vfs.ioctl(f, root, 2, 0))).toBe("ENOTTY:vfs_ioctl");
  });

  test("mmapFile gives do_mmap one file object per open file and process", () => {
    const { vfs, root, user } = fsWorld();
    const f = vfs.open("/dev/zero", O_RDWR, root);
    const m = vfs.mmapFile(f, root);
    expect(vfs.mmapFile(f, root)).toBe(m);
    expect(vfs.mmapFile(f, user)).not.toBe(m);
    expect(m.mmap).toBeUndefined();
    expect(m.mapsName).toBe("/dev/zero");
    m.getFile?.();
    expect(f.refcount).toBe(2);
    m.fput?.();
    expect(f.refcount).toBe(1);
  });
});

describe("stat, readlink, readdir", () => {
  test("stat of a device node: type, permissions, rdev and the devtmpfs device", () => {
    const { vfs, root } = fsWorld();
    const st = vfs.stat("/dev/null", root);
    expect(st.mode).toBe(S_IFCHR | 0o666);
    expect([major(st.rdev), minor(st.rdev)]).toEqual([1, 3]);
    expect([major(st.dev), minor(st.dev)]).toEqual([0, 5]);
    expect([st.nlink, st.uid, st.gid, st.size, st.blksize, st.blocks]).toEqual([
      1, 0, 0, 0, 4096, 0,
    ]);
  });

  test("readlink of something that is not a link is EINVAL; of a missing path ENOENT", () => {
    const { vfs, root } = fsWorld();
    expect(errnoOf(() => vfs.readlink("/dev/null", root))).toBe("EINVAL:do_readlinkat");
    expect(errnoOf(() => vfs.readlink("/proc/nope", root))).toBe("ENOENT:step_into");
    expect(errnoOf(() => vfs.readlink("", root))).toBe("ENOENT:do_readlinkat");
    expect(vfs.readlink("/proc/self", root)).toBe("1");
  });

  test("readdir starts with '.' and '..'; a file is ENOTDIR; an unreadable directory EACCES", () => {
    const { vfs, root, user } = fsWorld();
    expect(vfs.readdir("/", root)).toEqual([".", "..", "proc", "sys", "dev"]);
    expect(errnoOf(() => vfs.readdir("/dev/null", root))).toBe("ENOTDIR:do_open");
    vfs.rootfs.mkdir(vfs.root, "x", 0o311, 0, 0);
    expect(errnoOf(() => vfs.readdir("/x", user))).toBe("EACCES:generic_permission");
    expect(vfs.readdir("/x", root)).toEqual([".", ".."]);
    const f = vfs.open("/dev/null", O_RDONLY, root);
    expect(errnoOf(() => vfs.iterateDir(f, root))).toBe("ENOTDIR:iterate_dir");
  });

  test("expectErrno gives the refusing function", () => {
    const { vfs, root } = fsWorld();
    expect(expectErrno(() => vfs.open("/nope", O_RDONLY, root), "ENOENT").fn).toBe("step_into");
  });
});
