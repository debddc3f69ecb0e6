/**
 * The device cdev, driven the way a VMM drives it (tools/testing/selftests/vfio's
 * vfio_iommufd_setup_test, and oracle-probes/vfio-cdev.c on a 7.3 kernel): open
 * /dev/vfio/devices/vfioN, VFIO_DEVICE_BIND_IOMMUFD to an iommufd, ATTACH/DETACH_IOMMUFD_PT,
 * close. The device is the DMA test engine behind the SMMU, bound to the test bus driver.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { DMA_TEST_STATUS } from "@vfio-lab/hw-soc";
import { IommuFd, type IommufdCtx } from "@vfio-lab/iommufd";
import {
  MAJOR,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MINOR,
  PROT_READ,
  PROT_WRITE,
  S_IFCHR,
  SysError,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_FLAG_TOKEN,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_PASID,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FLAGS_PLATFORM,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_STATUS,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import {
  attachPt,
  bindIommufd,
  type CoreWorld,
  type CoreWorldOptions,
  DMAT0,
  DMAT1,
  detachPt,
  deviceGetInfo,
  dmaTestCopy,
  getDeviceFd,
  type IommufdWorld,
  ictxOf,
  iommufdSetup,
  outDevid,
  setContainer,
  TEST_DRIVER,
  vdevOf,
} from "../test/core-fixture.js";
import { vfioDeviceFopsCdevOpen } from "./device-cdev.js";
import { vfioOf } from "./vfio-main.js";

const CDEV = "/dev/vfio/devices/vfio0";
const GROUP = `/dev/vfio/${DMAT0.group}`;
const PAGE = 4096;

/** DEVICE objects of a context. */
function devicesIn(ictx: IommufdCtx): number {
  return ictx.objects.objects().filter((o) => o.type === "DEVICE").length;
}

/** A page of user memory that reads fine but cannot be written (mprotect(PROT_READ)). */
function readOnlyPage(w: CoreWorld, bytes: Uint8Array): number {
  const va = w.p.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  w.p.poke(va, bytes);
  w.p.mprotect(va, PAGE, PROT_READ);
  return va;
}

// ---------------------------------------------------------------------------------------------

describe("the cdev node and its sysfs", () => {
  test("/dev/vfio/devices/vfio0 is a 0600 char device of the vfio-dev region, minor = index", () => {
    const w = iommufdSetup();
    const st = w.p.stat(CDEV);
    expect(st.mode).toBe(S_IFCHR | 0o600);
    const major = MAJOR(vfioOf(w.kernel).deviceDevt);
    expect(w.p.readFile("/proc/devices")).toContain(`${String(major).padStart(3)} vfio-dev\n`);
    expect(vdevOf(w, DMAT0).devt).toBe(vfioOf(w.kernel).deviceDevt);
    expect(MINOR(vdevOf(w, DMAT0).devt)).toBe(0);
    expect(w.p.readdir("/dev/vfio/devices").filter((n) => !n.startsWith("."))).toEqual(["vfio0"]);
  });

  test("/sys/class/vfio-dev/vfio0 is the class device under the platform device", () => {
    const w = iommufdSetup();
    const dir = "/sys/devices/platform/platform-bus@c000000/c030000.dma-test";
    expect(w.p.readlink("/sys/class/vfio-dev/vfio0")).toBe(
      "../../devices/platform/platform-bus@c000000/c030000.dma-test/vfio-dev/vfio0",
    );
    expect(w.p.readdir(`${dir}/vfio-dev`).filter((n) => !n.startsWith("."))).toEqual(["vfio0"]);
    const major = MAJOR(vfioOf(w.kernel).deviceDevt);
    expect(w.p.readFile("/sys/class/vfio-dev/vfio0/dev")).toBe(`${major}:0\n`);
    expect(w.p.readFile("/sys/class/vfio-dev/vfio0/uevent")).toBe(
      `MAJOR=${major}\nMINOR=0\nDEVNAME=vfio/devices/vfio0\n`,
    );
    expect(w.p.readlink("/sys/class/vfio-dev/vfio0/subsystem")).toBe(
      "../../../../../../class/vfio-dev",
    );
    expect(vdevOf(w, DMAT0).classPath).toBe(`${dir}/vfio-dev/vfio0`);
  });

  test("unbinding the bus driver removes the node and the class device", () => {
    const w = iommufdSetup();
    w.p.writeFile(`/sys/bus/platform/drivers/${TEST_DRIVER}/unbind`, DMAT0.name);
    expect(() => w.p.stat(CDEV)).toThrowErrno("ENOENT");
    expect(() => w.p.readlink("/sys/class/vfio-dev/vfio0")).toThrowErrno("ENOENT");
  });

  test("without CONFIG_VFIO_DEVICE_CDEV the class device has no dev and no node", () => {
    const w = iommufdSetup({ config: { CONFIG_VFIO_DEVICE_CDEV: false } });
    expect(
      w.p.readdir("/sys/class/vfio-dev/vfio0").filter((n) => !n.startsWith(".")),
    ).not.toContain("dev");
    expect(w.p.readFile("/sys/class/vfio-dev/vfio0/uevent")).toBe("");
    expect(() => w.p.stat(CDEV)).toThrowErrno("ENOENT");
    expect(w.p.readFile("/proc/devices")).not.toContain("vfio-dev");
  });

  test("the vfio-dev region is given back when vfio is unloaded", () => {
    const w = iommufdSetup({ bind: [] });
    w.kernel.rmmod("vfio");
    expect(w.p.readFile("/proc/devices")).not.toContain("vfio-dev");
  });
});

describe("before BIND_IOMMUFD", () => {
  test("the device is held by the open file, and the driver's open_device does not run", () => {
    const w = iommufdSetup();
    const vdev = vdevOf(w, DMAT0);
    const fd = w.p.open(CDEV);
    expect(vdev.refcount).toBe(2);
    expect(vdev.opens).toBe(0);
    w.p.close(fd);
    expect(vdev.refcount).toBe(1);
  });

  test.each([
    ["DEVICE_GET_INFO", VFIO_DEVICE_GET_INFO],
    ["DEVICE_GET_REGION_INFO", VFIO_DEVICE_GET_REGION_INFO],
    ["DEVICE_GET_IRQ_INFO", VFIO_DEVICE_GET_IRQ_INFO],
    ["DEVICE_SET_IRQS", VFIO_DEVICE_SET_IRQS],
    ["DEVICE_RESET", VFIO_DEVICE_RESET],
    ["DEVICE_FEATURE", VFIO_DEVICE_FEATURE],
    ["DEVICE_ATTACH_IOMMUFD_PT", VFIO_DEVICE_ATTACH_IOMMUFD_PT],
    ["DEVICE_DETACH_IOMMUFD_PT", VFIO_DEVICE_DETACH_IOMMUFD_PT],
    ["GET_API_VERSION", VFIO_GET_API_VERSION],
    ["GROUP_GET_STATUS", VFIO_GROUP_GET_STATUS],
    ["0x1234", 0x1234],
  ])("%s is EINVAL", (_name, request) => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    w.p.poke(
      w.arg,
      new Uint8Array(256).fill(0).map((_, i) => (i === 0 ? 255 : 0)),
    );
    expect(() => w.p.ioctl(fd, request, w.arg)).toThrowErrno("EINVAL");
  });

  fcTest.prop([fc.integer({ min: 0, max: 0xffff_ffff })])(
    "any request but BIND_IOMMUFD is EINVAL",
    (request) => {
      fc.pre(request >>> 0 !== VFIO_DEVICE_BIND_IOMMUFD);
      const w = fixedWorld();
      expect(() => w.p.ioctl(w.cdev, request, w.arg)).toThrowErrno("EINVAL");
    },
  );

  test("read, write, pread, pwrite and mmap are EINVAL", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    expect(() => w.p.read(fd, w.arg, 4)).toThrowErrno("EINVAL");
    expect(() => w.p.write(fd, w.arg, 4)).toThrowErrno("EINVAL");
    expect(() => w.p.pread(fd, w.arg, 4, 0)).toThrowErrno("EINVAL");
    expect(() => w.p.pwrite(fd, w.arg, 4, 0)).toThrowErrno("EINVAL");
    expect(() => w.p.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)).toThrowErrno(
      "EINVAL",
    );
    // vfio_device_fops has no llseek (oracle 029).
    expect(() => w.p.lseek(fd, 0, 0)).toThrowErrno("ESPIPE");
  });

  test("opening a device whose unregistration began is ENODEV", () => {
    const w = iommufdSetup();
    const vdev = vdevOf(w, DMAT0);
    const fd = w.p.open(CDEV);
    const file = w.p.fget(fd)!;
    w.kernel.vfs.fput(file);
    // The window between vfio_device_put_registration() and cdev_device_del() of a racing
    // unregistration: the cdev is still reachable, the registration is gone.
    const saved = vdev.refcount;
    vdev.refcount = 0;
    try {
      expect(() => vfioDeviceFopsCdevOpen(vfioOf(w.kernel), file, w.p)).toThrowErrno("ENODEV");
    } finally {
      vdev.refcount = saved;
    }
  });

  test("a no-IOMMU device's cdev is noiommu-vfioN and needs CAP_SYS_RAWIO to open (EPERM)", () => {
    const w = iommufdSetup({
      noiommu: true,
      bind: [DMAT0, DMAT1],
    });
    expect(w.p.readdir("/dev/vfio/devices").filter((n) => !n.startsWith("."))).toEqual([
      "noiommu-vfio1",
      "vfio0",
    ]);
    expect(w.p.stat("/dev/vfio/devices/noiommu-vfio1").mode).toBe(S_IFCHR | 0o600);
    const vdev = vdevOf(w, DMAT1);
    w.p.capset({ effective: w.p.capget().effective.filter((c) => c !== "CAP_SYS_RAWIO") });
    expect(() => w.p.open("/dev/vfio/devices/noiommu-vfio1")).toThrowErrno("EPERM");
    expect(vdev.refcount).toBe(1);
    // Other devices do not care.
    w.p.close(w.p.open(CDEV));
  });
});

/** One world for the property tests (the cdev stays unbound). */
let shared: (IommufdWorld & { cdev: number }) | null = null;
function fixedWorld(): IommufdWorld & { cdev: number } {
  if (!shared) {
    const w = iommufdSetup();
    shared = { ...w, cdev: w.p.open(CDEV) };
  }
  return shared;
}

describe("VFIO_DEVICE_BIND_IOMMUFD", () => {
  test("binds the device: out_devid is its iommufd DEVICE id and the device is opened", () => {
    const w = iommufdSetup();
    const vdev = vdevOf(w, DMAT0);
    const fd = w.p.open(CDEV);
    const devid = bindIommufd(w, fd);
    const ictx = ictxOf(w, w.iommufd.fd);
    expect(devid).toBe(vdev.iommufdDevice!.id);
    expect(devicesIn(ictx)).toBe(1);
    expect(vdev.opens).toBe(1);
    expect(vdev.cdevOpened).toBe(true);
    expect(vdev.iommufdAttached).toBe(false);
    expect(deviceGetInfo(w, fd)).toMatchObject({
      flags: VFIO_DEVICE_FLAGS_PLATFORM,
      num_regions: 1,
    });
    // The driver's read/write/mmap are reachable now.
    expect(w.p.read(fd, w.arg, 4)).toBe(0);
    expect(w.p.write(fd, w.arg, 4)).toBe(4);
  });

  test("argsz 16 (no token_uuid_ptr), 24, and longer with a zero tail all bind", () => {
    for (const a of [{ argsz: 16 }, { argsz: 24 }, { tail: 8 }, { tail: PAGE - 24 }]) {
      const w = iommufdSetup();
      const fd = w.p.open(CDEV);
      expect(bindIommufd(w, fd, a)).toBe(vdevOf(w, DMAT0).iommufdDevice!.id);
    }
  });

  test("an unreadable argument is EFAULT", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    expect(() => w.p.ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, 0)).toThrowErrno("EFAULT");
  });

  fcTest.prop([fc.integer({ min: 0, max: 15 })])("argsz below 16 is EINVAL", (argsz) => {
    const w = fixedWorld();
    expect(() => bindIommufd(w, w.cdev, { argsz })).toThrowErrno("EINVAL");
    expect(outDevid(w)).toBe(0xeeee_eeee);
  });

  fcTest.prop([fc.integer({ min: 1, max: 200 })])(
    "a non-zero byte past the struct is E2BIG, before flags and iommufd are looked at",
    (tail) => {
      const w = fixedWorld();
      expect(() => bindIommufd(w, w.cdev, { tail, dirtyTail: true })).toThrowErrno("E2BIG");
      expect(() =>
        bindIommufd(w, w.cdev, { tail, dirtyTail: true, flags: 2, iommufd: -1 }),
      ).toThrowErrno("E2BIG");
    },
  );

  test("a negative iommufd is EINVAL", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    expect(() => bindIommufd(w, fd, { iommufd: -1 })).toThrowErrno("EINVAL");
    expect(() => bindIommufd(w, fd, { iommufd: -2 })).toThrowErrno("EINVAL");
  });

  fcTest.prop([fc.integer({ min: 1, max: 31 })])("an unknown flag is EINVAL", (bit) => {
    const w = fixedWorld();
    expect(() => bindIommufd(w, w.cdev, { flags: (1 << bit) >>> 0 })).toThrowErrno("EINVAL");
  });

  test("FLAG_TOKEN to a driver without a token check is EINVAL, before the iommufd is looked up", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    expect(() => bindIommufd(w, fd, { flags: VFIO_DEVICE_BIND_FLAG_TOKEN })).toThrowErrno("EINVAL");
    expect(() =>
      bindIommufd(w, fd, { flags: VFIO_DEVICE_BIND_FLAG_TOKEN, iommufd: 999 }),
    ).toThrowErrno("EINVAL");
  });

  test("an iommufd that is not open is EBADF", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    expect(() => bindIommufd(w, fd, { iommufd: 999 })).toThrowErrno("EBADF");
  });

  test("a file that is not an iommufd is EBADFD (an eventfd, the container, the cdev itself)", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    const efd = w.p.eventfd(0, 0);
    const container = w.p.open("/dev/vfio/vfio");
    for (const other of [efd, container, fd]) {
      expect(() => bindIommufd(w, fd, { iommufd: other })).toThrowErrno("EBADFD");
    }
    // Nothing was left behind: the next bind works.
    expect(bindIommufd(w, fd)).toBeGreaterThan(0);
  });

  test("a second bind of the same file is EINVAL, whatever the iommufd, and changes nothing", () => {
    const w = iommufdSetup();
    const vdev = vdevOf(w, DMAT0);
    const fd = w.p.open(CDEV);
    const devid = bindIommufd(w, fd);
    expect(() => bindIommufd(w, fd)).toThrowErrno("EINVAL");
    expect(() => bindIommufd(w, fd, { iommufd: 999 })).toThrowErrno("EINVAL");
    expect(vdev.iommufdDevice!.id).toBe(devid);
    expect(vdev.opens).toBe(1);
    expect(vdev.group!.cdevDeviceOpenCnt).toBe(1);
    expect(deviceGetInfo(w, fd).num_regions).toBe(1);
  });

  test("binding a second cdev file of a bound device is EINVAL (EBADF is found first)", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd);
    const fd2 = w.p.open(CDEV);
    expect(() => bindIommufd(w, fd2, { iommufd: 999 })).toThrowErrno("EBADF");
    expect(() => bindIommufd(w, fd2)).toThrowErrno("EINVAL");
    expect(() => deviceGetInfo(w, fd2)).toThrowErrno("EINVAL");
    w.p.close(fd2);
    // The first file is untouched.
    expect(deviceGetInfo(w, fd).num_regions).toBe(1);
  });

  test("when out_devid cannot be written the bind is EFAULT and undone", () => {
    const w = iommufdSetup();
    const vdev = vdevOf(w, DMAT0);
    const fd = w.p.open(CDEV);
    const bytes = vfio_device_bind_iommufd.encode({
      argsz: 16,
      flags: 0,
      iommufd: w.iommufd.fd,
      out_devid: 0,
      token_uuid_ptr: 0n,
    });
    const ro = readOnlyPage(w, bytes);
    expect(() => w.p.ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, ro)).toThrowErrno("EFAULT");
    expect(vdev.opens).toBe(1);
    expect(vdev.closes).toBe(1);
    expect(vdev.openCount).toBe(0);
    expect(vdev.iommufdDevice).toBeNull();
    expect(vdev.cdevOpened).toBe(false);
    expect(vdev.group!.cdevDeviceOpenCnt).toBe(0);
    expect(devicesIn(ictxOf(w, w.iommufd.fd))).toBe(0);
    expect(() => deviceGetInfo(w, fd)).toThrowErrno("EINVAL");
    // The group is not blocked, and the same file binds afterwards.
    w.p.close(w.p.open(GROUP));
    expect(bindIommufd(w, fd)).toBeGreaterThan(0);
  });

  test("the driver's bind error passes through (EPERM without allow_unsafe_interrupts)", () => {
    const w = iommufdSetup({ safe: true });
    const vdev = vdevOf(w, DMAT0);
    const fd = w.p.open(CDEV);
    expect(() => bindIommufd(w, fd)).toThrowErrno("EPERM");
    expect(vdev.opens).toBe(0);
    expect(vdev.openCount).toBe(0);
    expect(vdev.group!.cdevDeviceOpenCnt).toBe(0);
    expect(ictxOf(w, w.iommufd.fd).file.refcount).toBe(1);
    w.p.writeFile("/sys/module/iommufd/parameters/allow_unsafe_interrupts", "1");
    expect(bindIommufd(w, fd)).toBeGreaterThan(0);
  });

  test("a no-IOMMU device binds through its cdev to a real iommufd", () => {
    const w = iommufdSetup({ noiommu: true, bind: [DMAT1] });
    const fd = w.p.open("/dev/vfio/devices/noiommu-vfio0");
    expect(bindIommufd(w, fd)).toBeGreaterThan(0);
    expect(deviceGetInfo(w, fd).num_regions).toBe(1);
    const ioas = w.iommufd.ioasAlloc();
    expect(attachPt(w, fd, ioas)).not.toBe(ioas);
    expect(detachPt(w, fd)).toBe(0);
  });
});

describe("the group and the cdev exclude each other", () => {
  test("BIND is EBUSY while the group is open, even with a bad iommufd (EINVAL is found first)", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    const gfd = w.p.open(GROUP);
    expect(() => bindIommufd(w, fd)).toThrowErrno("EBUSY");
    expect(() => bindIommufd(w, fd, { iommufd: 999 })).toThrowErrno("EBUSY");
    expect(() => bindIommufd(w, fd, { iommufd: -1 })).toThrowErrno("EINVAL");
    w.p.close(gfd);
    expect(bindIommufd(w, fd)).toBeGreaterThan(0);
  });

  test("opening the group is EBUSY while the cdev is bound, and allowed again after close", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    // An open, unbound cdev does not block the group.
    w.p.close(w.p.open(GROUP));
    bindIommufd(w, fd);
    expect(() => w.p.open(GROUP)).toThrowErrno("EBUSY");
    w.p.close(fd);
    w.p.close(w.p.open(GROUP));
  });
});

describe("a device fd obtained through the group", () => {
  /** The group set to an iommufd (VFIO compat), and GET_DEVICE_FD. */
  function groupDeviceFd(w: IommufdWorld): number {
    const gfd = w.p.open(GROUP);
    setContainer(w, gfd, w.iommufd.fd);
    return getDeviceFd(w, gfd, DMAT0.name);
  }

  test("was bound to the iommufd and attached to its compat IOAS at open", () => {
    const w = iommufdSetup();
    const vdev = vdevOf(w, DMAT0);
    groupDeviceFd(w);
    const ictx = ictxOf(w, w.iommufd.fd);
    expect(devicesIn(ictx)).toBe(1);
    expect(vdev.iommufdAttached).toBe(true);
    expect(vdev.cdevOpened).toBe(false);
  });

  test("BIND_IOMMUFD is EINVAL; ATTACH/DETACH_IOMMUFD_PT go to the driver (ENOTTY here)", () => {
    const w = iommufdSetup();
    const dfd = groupDeviceFd(w);
    expect(() => bindIommufd(w, dfd)).toThrowErrno("EINVAL");
    expect(() => attachPt(w, dfd, 1)).toThrowErrno("ENOTTY");
    expect(() => detachPt(w, dfd)).toThrowErrno("ENOTTY");
    expect(deviceGetInfo(w, dfd).num_regions).toBe(1);
  });

  test("BIND_IOMMUFD is ENOTTY without CONFIG_VFIO_DEVICE_CDEV", () => {
    const w = iommufdSetup({ config: { CONFIG_VFIO_DEVICE_CDEV: false } });
    const dfd = groupDeviceFd(w);
    expect(() => bindIommufd(w, dfd)).toThrowErrno("ENOTTY");
  });
});

describe("VFIO_DEVICE_ATTACH_IOMMUFD_PT", () => {
  function bound(opts: CoreWorldOptions = {}) {
    const w = iommufdSetup(opts);
    const fd = w.p.open(CDEV);
    const devid = bindIommufd(w, fd);
    return { ...w, fd, devid, vdev: vdevOf(w, DMAT0) };
  }

  test("attaching to an IOAS gives its automatic HWPT back in pt_id, and DMA flows", () => {
    const w = bound();
    const ioas = w.iommufd.ioasAlloc();
    const hwpt = attachPt(w, w.fd, ioas);
    expect(hwpt).not.toBe(ioas);
    expect(w.vdev.iommufdAttached).toBe(true);
    // Map two pages and let the engine copy one to the other.
    const buf = w.p.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    w.p.poke(buf, new TextEncoder().encode("through the SMMU"));
    w.iommufd.map(ioas, buf, 2 * PAGE, { iova: 0x10_0000n });
    expect(dmaTestCopy(w, DMAT0, 0x10_1000n, 0x10_0000n, 16) & DMA_TEST_STATUS.ERROR).toBe(0);
    expect(new TextDecoder().decode(w.p.peek(buf + PAGE, 16))).toBe("through the SMMU");
  });

  test("attaching the HWPT itself, and the IOAS again, keep the same HWPT (replace)", () => {
    const w = bound();
    const ioas = w.iommufd.ioasAlloc();
    const hwpt = attachPt(w, w.fd, ioas);
    expect(attachPt(w, w.fd, ioas, { argsz: 16 })).toBe(hwpt);
    expect(attachPt(w, w.fd, ioas, { argsz: 64 })).toBe(hwpt);
    expect(attachPt(w, w.fd, hwpt)).toBe(hwpt);
    expect(() => w.iommufd.destroy(ioas)).toThrowErrno("EBUSY");
    expect(() => w.iommufd.destroy(hwpt)).toThrowErrno("EBUSY");
  });

  test("attaching to a second IOAS replaces: the first IOAS is free and its HWPT gone", () => {
    const w = bound();
    const ioas1 = w.iommufd.ioasAlloc();
    const hwpt1 = attachPt(w, w.fd, ioas1);
    const ioas2 = w.iommufd.ioasAlloc();
    const hwpt2 = attachPt(w, w.fd, ioas2);
    expect(hwpt2).not.toBe(hwpt1);
    w.iommufd.destroy(ioas1);
    expect(() => w.iommufd.destroy(hwpt1)).toThrowErrno("ENOENT");
  });

  test.each([
    ["100 (nothing)", 100],
    ["UINT32_MAX", 0xffff_ffff],
    ["0", 0],
  ])("pt_id %s is ENOENT", (_what, ptId) => {
    const w = bound();
    expect(() => attachPt(w, w.fd, ptId)).toThrowErrno("ENOENT");
    expect(w.vdev.iommufdAttached).toBe(false);
  });

  test("pt_id naming the device itself is EINVAL", () => {
    const w = bound();
    expect(() => attachPt(w, w.fd, w.devid)).toThrowErrno("EINVAL");
  });

  test("an unreadable argument is EFAULT", () => {
    const w = bound();
    expect(() => w.p.ioctl(w.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, 0)).toThrowErrno("EFAULT");
  });

  fcTest.prop([fc.integer({ min: 0, max: 11 })])("argsz below 12 is EINVAL", (argsz) => {
    const w = boundWorld();
    expect(() => attachPt(w, w.fd, w.ioas, { argsz })).toThrowErrno("EINVAL");
  });

  fcTest.prop([fc.integer({ min: 1, max: 31 })])("an unknown flag is EINVAL", (bit) => {
    const w = boundWorld();
    expect(() => attachPt(w, w.fd, w.ioas, { flags: (1 << bit) >>> 0 })).toThrowErrno("EINVAL");
  });

  test("ATTACH_PASID to a driver without pasid_attach_ioas is EOPNOTSUPP, whatever argsz", () => {
    const w = bound();
    const ioas = w.iommufd.ioasAlloc();
    for (const argsz of [12, 16]) {
      expect(() =>
        attachPt(w, w.fd, ioas, { argsz, flags: VFIO_DEVICE_ATTACH_PASID, pasid: 1 }),
      ).toThrowErrno("EOPNOTSUPP");
    }
  });

  test("ATTACH_PASID needs an argsz covering pasid (EINVAL)", () => {
    const w = bound({ driver: { pasid: true } });
    const ioas = w.iommufd.ioasAlloc();
    for (const argsz of [12, 15]) {
      expect(() =>
        attachPt(w, w.fd, ioas, { argsz, flags: VFIO_DEVICE_ATTACH_PASID, pasid: 1 }),
      ).toThrowErrno("EINVAL");
    }
  });

  test("ATTACH_PASID of PASID 1 on a master without PASIDs is EINVAL and reserves nothing (oracle 081)", () => {
    const w = bound({ driver: { pasid: true } });
    const ioas = w.iommufd.ioasAlloc();
    expect(() =>
      attachPt(w, w.fd, ioas, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pasid: 1 }),
    ).toThrowErrno("EINVAL");
    expect(w.vdev.pasids.size).toBe(0);
  });

  test("ATTACH_PASID with a PASID above INT_MAX is ENOSPC (ida_alloc_range)", () => {
    const w = bound({ driver: { pasid: true } });
    const ioas = w.iommufd.ioasAlloc();
    expect(() =>
      attachPt(w, w.fd, ioas, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pasid: 0x8000_0000 }),
    ).toThrowErrno("ENOSPC");
    expect(w.vdev.pasids.size).toBe(0);
  });

  test("ATTACH_PASID with pasid 0 takes the RID through the PASID path (oracle 129-137)", () => {
    const w = bound({ driver: { pasid: true } });
    const ioas = w.iommufd.ioasAlloc();
    const pasid0 = { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pasid: 0 };
    const hwpt = attachPt(w, w.fd, ioas, pasid0);
    expect(attachPt(w, w.fd, ioas, pasid0)).toBe(hwpt);
    // The plain ops do not know about it: attach is EBUSY, detach a no-op.
    expect(() => attachPt(w, w.fd, ioas)).toThrowErrno("EBUSY");
    expect(detachPt(w, w.fd)).toBe(0);
    expect(() => attachPt(w, w.fd, ioas)).toThrowErrno("EBUSY");
    expect(detachPt(w, w.fd, { argsz: 12, flags: VFIO_DEVICE_DETACH_PASID, pasid: 0 })).toBe(0);
    expect(attachPt(w, w.fd, ioas)).toBe(hwpt);
    expect(detachPt(w, w.fd)).toBe(0);
    // Closing with a PASID attached detaches it.
    attachPt(w, w.fd, ioas, pasid0);
    w.p.close(w.fd);
    w.iommufd.destroy(ioas);
  });

  test("when pt_id cannot be written back the attach is EFAULT and the device detached", () => {
    const w = bound();
    const ioas = w.iommufd.ioasAlloc();
    const ro = readOnlyPage(
      w,
      vfio_device_attach_iommufd_pt.encode({ argsz: 12, flags: 0, pt_id: ioas, pasid: 0 }),
    );
    expect(() => w.p.ioctl(w.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, ro)).toThrowErrno("EFAULT");
    expect(w.vdev.iommufdAttached).toBe(false);
    // The automatic HWPT went with the detach: the IOAS can be destroyed.
    w.iommufd.destroy(ioas);
  });
});

describe("VFIO_DEVICE_DETACH_IOMMUFD_PT", () => {
  test("detaching when not attached succeeds, as does detaching twice", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd);
    expect(detachPt(w, fd)).toBe(0);
    const ioas = w.iommufd.ioasAlloc();
    const hwpt = attachPt(w, fd, ioas);
    expect(detachPt(w, fd)).toBe(0);
    expect(detachPt(w, fd)).toBe(0);
    expect(() => w.iommufd.destroy(hwpt)).toThrowErrno("ENOENT");
    w.iommufd.destroy(ioas);
    // DMA is blocked again: the engine faults.
    expect(dmaTestCopy(w, DMAT0, 0x10_1000n, 0x10_0000n, 16) & DMA_TEST_STATUS.ERROR).not.toBe(0);
  });

  test("an unreadable argument is EFAULT", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd);
    expect(() => w.p.ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, 0)).toThrowErrno("EFAULT");
  });

  fcTest.prop([fc.integer({ min: 0, max: 7 })])("argsz below 8 is EINVAL", (argsz) => {
    const w = boundWorld();
    expect(() => detachPt(w, w.fd, { argsz })).toThrowErrno("EINVAL");
  });

  fcTest.prop([fc.integer({ min: 1, max: 31 })])("an unknown flag is EINVAL", (bit) => {
    const w = boundWorld();
    expect(() => detachPt(w, w.fd, { flags: (1 << bit) >>> 0 })).toThrowErrno("EINVAL");
  });

  test("DETACH_PASID to a driver without pasid_detach_ioas is EOPNOTSUPP", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd);
    expect(() =>
      detachPt(w, fd, { argsz: 12, flags: VFIO_DEVICE_DETACH_PASID, pasid: 1 }),
    ).toThrowErrno("EOPNOTSUPP");
  });

  test("DETACH_PASID needs argsz 12 (EINVAL); a PASID never attached detaches fine", () => {
    const w = iommufdSetup({ driver: { pasid: true } });
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd);
    expect(() =>
      detachPt(w, fd, { argsz: 8, flags: VFIO_DEVICE_DETACH_PASID, pasid: 1 }),
    ).toThrowErrno("EINVAL");
    expect(detachPt(w, fd, { argsz: 12, flags: VFIO_DEVICE_DETACH_PASID, pasid: 1 })).toBe(0);
  });
});

/** A bound cdev with an IOAS, shared by the property tests of attach and detach. */
let boundShared: (IommufdWorld & { fd: number; ioas: number }) | null = null;
function boundWorld(): IommufdWorld & { fd: number; ioas: number } {
  if (!boundShared) {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd);
    boundShared = { ...w, fd, ioas: w.iommufd.ioasAlloc() };
  }
  return boundShared;
}

describe("close unbinds", () => {
  test("closing an attached cdev closes, detaches and unbinds the device", () => {
    const w = iommufdSetup();
    const vdev = vdevOf(w, DMAT0);
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd);
    const ioas = w.iommufd.ioasAlloc();
    attachPt(w, fd, ioas);
    w.p.close(fd);
    expect(vdev.closes).toBe(1);
    expect(vdev.openCount).toBe(0);
    expect(vdev.iommufdDevice).toBeNull();
    expect(vdev.iommufdAttached).toBe(false);
    expect(vdev.cdevOpened).toBe(false);
    expect(vdev.refcount).toBe(1);
    expect(devicesIn(ictxOf(w, w.iommufd.fd))).toBe(0);
    w.iommufd.destroy(ioas);
    // The device's IOMMU group is back with the kernel: its DMA ownership was released.
    expect(w.kernel.iommu.deviceGroup(vdev.dev)!.owner).toBeNull();
  });

  test("the bound device keeps its iommufd alive after the iommufd fd is closed", () => {
    const w = iommufdSetup();
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd);
    const ictx = ictxOf(w, w.iommufd.fd);
    w.iommufd.close();
    expect(w.p.read(fd, w.arg, 4)).toBe(0);
    expect(deviceGetInfo(w, fd).num_regions).toBe(1);
    w.p.close(fd);
    expect(ictx.iommufd.contexts.has(ictx)).toBe(false);
  });

  test("close and reopen bind again, to the same or another iommufd", () => {
    const w = iommufdSetup();
    for (const argsz of [16, 24, 32]) {
      const fd = w.p.open(CDEV);
      expect(bindIommufd(w, fd, { argsz, tail: Math.max(0, argsz - 24) })).toBeGreaterThan(0);
      w.p.close(fd);
    }
    const other = IommuFd.open(w.p);
    const fd = w.p.open(CDEV);
    bindIommufd(w, fd, { iommufd: other.fd });
    expect(devicesIn(ictxOf(w, other.fd))).toBe(1);
    expect(devicesIn(ictxOf(w, w.iommufd.fd))).toBe(0);
  });

  test("closing an unbound cdev only drops the device", () => {
    const w = iommufdSetup();
    const vdev = vdevOf(w, DMAT0);
    const fd = w.p.open(CDEV);
    w.p.close(fd);
    expect(vdev.closes).toBe(0);
    expect(vdev.refcount).toBe(1);
  });
});

test("SysError carries the refusing function", () => {
  const w = iommufdSetup();
  const fd = w.p.open(CDEV);
  try {
    bindIommufd(w, fd, { iommufd: -1 });
    expect.unreachable();
  } catch (e) {
    expect(SysError.isInstance(e) && e.fn).toBe("vfio_df_ioctl_bind_iommufd");
  }
});
