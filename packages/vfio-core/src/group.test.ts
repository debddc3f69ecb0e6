import { fc, test } from "@fast-check/vitest";
import {
  CAPABILITIES,
  type CapabilityName,
  IOMMU_CAP_ENFORCE_CACHE_COHERENCY,
  MAJOR,
  major,
  minor,
  O_RDONLY,
  O_RDWR,
  SysError,
  TAINT_USER,
} from "@vfio-lab/kernel";
import {
  VFIO_GET_API_VERSION,
  VFIO_GROUP_FLAGS_CONTAINER_SET,
  VFIO_GROUP_FLAGS_VIABLE,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_SET_IOMMU,
  VFIO_TYPE1v2_IOMMU,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, it } from "vitest";
import {
  bindIommufd,
  bindTest,
  type CoreWorld,
  containerSetup,
  coreSetup,
  DMAT0,
  DMAT1,
  dmesg,
  fakeBackend,
  fileOf,
  getDeviceFd,
  groupStatus,
  iommuGroupOf,
  KDRV,
  MOCK_A,
  MOCK_B,
  registerBackend,
  setContainer,
  TEST_DRIVER,
  unbindDriver,
  vdevOf,
  XGMAC,
} from "../test/core-fixture.js";
import {
  vfioDeviceBlockGroup,
  vfioDeviceHasContainer,
  vfioFileHasDev,
  vfioFileIommuGroup,
  vfioFileIsGroup,
  vfioGroupEnforcedCoherent,
  vfioGroupFromFile,
} from "./group.js";
import { VFIO_EMULATED_IOMMU, VFIO_IOMMU, VFIO_NO_IOMMU } from "./vfio.js";

const VIABLE = VFIO_GROUP_FLAGS_VIABLE;
const SET = VFIO_GROUP_FLAGS_CONTAINER_SET;
const ALL_CAPS = Object.keys(CAPABILITIES) as CapabilityName[];
const NO_RAWIO = ALL_CAPS.filter((c) => c !== "CAP_SYS_RAWIO");

/** A world with DMA test 0 on the test driver and a fake type1 backend registered. */
function dmat0(opts: Parameters<typeof coreSetup>[0] = {}) {
  const w = coreSetup({ bind: [DMAT0], ...opts });
  const backend = fakeBackend();
  registerBackend(w, backend);
  return { ...w, backend };
}

/** A directory's entries, sorted, without "." and "..". */
function ls(w: CoreWorld, path: string): string[] {
  return w.p
    .readdir(path)
    .filter((n) => n !== "." && n !== "..")
    .sort();
}

describe("group objects", () => {
  it("makes /dev/vfio/1 (0600) and /sys/class/vfio/1 for the first device of IOMMU group 1", () => {
    const w = coreSetup({ bind: [DMAT0] });
    expect(w.p.readdir("/dev/vfio").sort()).toEqual([".", "..", "1", "devices", "vfio"]);
    const st = w.p.stat("/dev/vfio/1");
    expect(st.mode).toBe(0o020600);
    expect(major(st.rdev)).toBe(MAJOR(w.vfio.groupDevt));
    expect(minor(st.rdev)).toBe(0);
    expect(w.p.readFile("/proc/devices")).toContain(`${MAJOR(w.vfio.groupDevt)} vfio\n`);
    expect(w.p.readdir("/sys/class/vfio").filter((n) => !n.startsWith("."))).toEqual(["1"]);
    expect(w.p.readlink("/sys/class/vfio/1")).toBe("../../devices/virtual/vfio/1");
    expect(
      w.p
        .readdir("/sys/class/vfio/1/")
        .filter((n) => !n.startsWith("."))
        .sort(),
    ).toEqual(["dev", "subsystem", "uevent"]);
    expect(w.p.readFile("/sys/class/vfio/1/dev")).toBe(`${MAJOR(w.vfio.groupDevt)}:0\n`);
    expect(w.p.readFile("/sys/class/vfio/1/uevent")).toBe(
      `MAJOR=${MAJOR(w.vfio.groupDevt)}\nMINOR=0\nDEVNAME=vfio/1\n`,
    );
    const group = vdevOf(w, DMAT0).group!;
    expect(group.type).toBe(VFIO_IOMMU);
    expect(group.name).toBe("1");
    expect(group.iommuGroup).toBe(iommuGroupOf(w, DMAT0));
  });

  it("numbers group minors lowest free, and names each group after its IOMMU group", () => {
    const w = coreSetup({ bind: [DMAT0, XGMAC] });
    expect(minor(w.p.stat("/dev/vfio/1").rdev)).toBe(0);
    expect(minor(w.p.stat("/dev/vfio/0").rdev)).toBe(1);
    unbindDriver(w.p, DMAT0);
    bindTest(w, DMAT0);
    expect(minor(w.p.stat("/dev/vfio/1").rdev)).toBe(0);
  });

  it("removes the group with its last device: node, class device and the IOMMU group reference", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const iommuGroup = iommuGroupOf(w, DMAT0);
    const refs = iommuGroup.refs;
    unbindDriver(w.p, DMAT0);
    expect(w.p.readdir("/dev/vfio").sort()).toEqual([".", "..", "vfio"]);
    expect(() => w.p.open("/dev/vfio/1", O_RDWR)).toThrowErrno("ENOENT");
    expect(w.p.readdir("/sys/class/vfio").filter((n) => !n.startsWith("."))).toEqual([]);
    expect(w.vfio.groupList).toEqual([]);
    expect(w.vfio.groupIda.size).toBe(0);
    expect(iommuGroup.refs).toBe(refs - 1);
  });

  it("keeps the minor of a removed group while its file is open; the file then sees ENODEV", () => {
    const w = dmat0();
    const groupFd = w.p.open("/dev/vfio/1", O_RDWR);
    const container = w.p.open("/dev/vfio/vfio", O_RDWR);
    unbindDriver(w.p, DMAT0);
    expect(w.vfio.groupIda.has(0)).toBe(true);
    expect(() => groupStatus(w, groupFd)).toThrowErrno("ENODEV");
    expect(() => setContainer(w, groupFd, container)).toThrowErrno("ENODEV");
    // A new group for the device gets the next minor.
    bindTest(w, DMAT0);
    expect(minor(w.p.stat("/dev/vfio/1").rdev)).toBe(1);
    w.p.close(groupFd);
    expect(w.vfio.groupIda.has(0)).toBe(false);
  });

  it("gives the remaining group file's container back when the last device goes", () => {
    const w = dmat0();
    const groupFd = w.p.open("/dev/vfio/1", O_RDWR);
    const container = containerSetup(w, groupFd);
    unbindDriver(w.p, DMAT0);
    expect(w.backend.log.slice(-2)).toEqual(["detach 1", "release"]);
    expect(iommuGroupOf(w, DMAT0).owner).toBeNull();
    // The container is empty again: SET_IOMMU needs a group.
    expect(() => w.p.ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("EINVAL");
    w.p.close(groupFd);
  });

  it("refuses a device without an IOMMU group (EINVAL) while no-IOMMU mode is off", () => {
    const w = coreSetup();
    bindTest(w, DMAT1);
    expect(dmesg(w).at(-1)).toBe(
      `${TEST_DRIVER} ${DMAT1.name}: probe with driver ${TEST_DRIVER} failed with error -22`,
    );
    expect(w.p.readdir("/dev/vfio").sort()).toEqual([".", "..", "vfio"]);
    expect(w.kernel.taint.value & (1 << TAINT_USER)).toBe(0);
    expect(w.vfio.groupIda.size).toBe(0);
  });

  it("gives a device without an IOMMU a tainting noiommu-N group in no-IOMMU mode", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT1] });
    expect(dmesg(w).slice(-3)).toEqual([
      `${TEST_DRIVER} ${DMAT1.name}: Adding to iommu group 3`,
      `${TEST_DRIVER} ${DMAT1.name}: Adding kernel taint for vfio-noiommu group on device`,
      `${TEST_DRIVER} ${DMAT1.name}: Adding kernel taint for vfio-noiommu cdev`,
    ]);
    expect(w.kernel.taint.value & (1 << TAINT_USER)).not.toBe(0);
    expect(w.p.stat("/dev/vfio/noiommu-3").mode).toBe(0o020600);
    expect(w.p.readlink("/sys/class/vfio/noiommu-3")).toBe("../../devices/virtual/vfio/noiommu-3");
    expect(w.p.readFile("/sys/class/vfio/noiommu-3/uevent")).toBe(
      `MAJOR=${MAJOR(w.vfio.groupDevt)}\nMINOR=0\nDEVNAME=vfio/noiommu-3\n`,
    );
    const ig = "/sys/kernel/iommu_groups/3";
    expect(
      w.p
        .readdir(ig)
        .filter((n) => !n.startsWith("."))
        .sort(),
    ).toEqual(["devices", "name", "reserved_regions", "type"]);
    expect(w.p.readFile(`${ig}/name`)).toBe("vfio-noiommu\n");
    expect(w.p.readFile(`${ig}/type`)).toBe("unknown\n");
    expect(w.p.readFile(`${ig}/reserved_regions`)).toBe("");
    expect(w.p.readlink(`/sys/bus/platform/devices/${DMAT1.name}/iommu_group`)).toBe(
      "../../../../kernel/iommu_groups/3",
    );
    expect(vdevOf(w, DMAT1).group!.type).toBe(VFIO_NO_IOMMU);
  });

  it("takes the fake IOMMU group away with the no-IOMMU device", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT1] });
    unbindDriver(w.p, DMAT1);
    expect(dmesg(w)).toContain(`${TEST_DRIVER} ${DMAT1.name}: Removing from iommu group 3`);
    expect(ls(w, "/sys/kernel/iommu_groups")).toEqual(["0", "1", "2"]);
    expect(w.p.readdir("/dev/vfio").sort()).toEqual([".", "..", "vfio"]);
    // The parameter is read at registration: turned off, the device is refused again.
    w.p.writeFile("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "0");
    bindTest(w, DMAT1);
    expect(dmesg(w).at(-1)).toContain("failed with error -22");
  });

  it("gives an emulated-IOMMU device a plain-numbered group of its own, without taint", () => {
    const w = coreSetup({ driver: { emulated: true }, bind: [DMAT1] });
    expect(dmesg(w).at(-1)).toBe(`${TEST_DRIVER} ${DMAT1.name}: Adding to iommu group 3`);
    expect(w.kernel.taint.value).toBe(0);
    expect(w.p.stat("/dev/vfio/3").mode).toBe(0o020600);
    expect(w.p.readFile("/sys/kernel/iommu_groups/3/name")).toBe("vfio-noiommu\n");
    expect(vdevOf(w, DMAT1).group!.type).toBe(VFIO_EMULATED_IOMMU);
    // No CAP_SYS_RAWIO needed: the driver mediates every DMA.
    const p = w.kernel.spawn({ comm: "user", caps: NO_RAWIO });
    p.close(p.open("/dev/vfio/3", O_RDWR));
    unbindDriver(w.p, DMAT1);
    expect(ls(w, "/sys/kernel/iommu_groups")).toEqual(["0", "1", "2"]);
  });

  it("shares one group between the devices of one IOMMU group, until the last leaves", () => {
    const w = coreSetup({ mock: true, bind: [MOCK_A, MOCK_B] });
    const group = vdevOf(w, MOCK_A).group!;
    expect(vdevOf(w, MOCK_B).group).toBe(group);
    expect(group.drivers).toBe(2);
    // GET_DEVICE_FD looks newest first.
    expect(group.devices.map((d) => d.dev.name)).toEqual([MOCK_B.name, MOCK_A.name]);
    expect(w.p.readdir("/sys/class/vfio").filter((n) => !n.startsWith("."))).toEqual(["0"]);
    unbindDriver(w.p, MOCK_A);
    expect(group.drivers).toBe(1);
    expect(w.p.stat("/dev/vfio/0").mode).toBe(0o020600);
    unbindDriver(w.p, MOCK_B);
    expect(() => w.p.stat("/dev/vfio/0")).toThrowErrno("ENOENT");
  });
  it("registers class vfio and the vfio char region at load, and gives both back at unload", () => {
    const w = coreSetup();
    expect(w.p.readFile("/proc/devices")).toMatch(/\n\d+ vfio\n/);
    expect(ls(w, "/sys/class/vfio")).toEqual([]);
    w.kernel.rmmod("vfio");
    expect(w.p.readFile("/proc/devices")).not.toMatch(/\n\d+ vfio\n/);
    expect(() => w.p.readdir("/sys/class/vfio")).toThrowErrno("ENOENT");
  });
});

describe("opening the group", () => {
  it("allows one open at a time (EBUSY), whatever the access mode", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => w.p.open("/dev/vfio/1", O_RDWR)).toThrowErrno("EBUSY");
    expect(() => w.p.open("/dev/vfio/1", O_RDONLY)).toThrowErrno("EBUSY");
    const other = w.kernel.spawn({ comm: "other" });
    expect(() => other.open("/dev/vfio/1", O_RDWR)).toThrowErrno("EBUSY");
    w.p.close(fd);
    w.p.close(w.p.open("/dev/vfio/1", O_RDWR));
  });

  it("needs CAP_SYS_RAWIO for a no-IOMMU group (EPERM, before EBUSY)", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT1] });
    const fd = w.p.open("/dev/vfio/noiommu-3", O_RDWR);
    w.p.capset({ effective: NO_RAWIO });
    expect(() => w.p.open("/dev/vfio/noiommu-3", O_RDWR)).toThrowErrno("EPERM");
    w.p.capset({ effective: ALL_CAPS });
    expect(() => w.p.open("/dev/vfio/noiommu-3", O_RDWR)).toThrowErrno("EBUSY");
    w.p.close(fd);
  });

  it("refuses the group while a device of it is bound through its cdev (EBUSY), and the other way round", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const iommufd = w.p.open("/dev/iommu", O_RDWR);
    const cdev = w.p.open("/dev/vfio/devices/vfio0", O_RDWR);
    const groupFd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => bindIommufd(w, cdev, { iommufd })).toThrowErrno("EBUSY");
    expect(() => vfioDeviceBlockGroup(vdevOf(w, DMAT0))).toThrowErrno("EBUSY");
    w.p.close(groupFd);
    bindIommufd(w, cdev, { iommufd });
    expect(vdevOf(w, DMAT0).group!.cdevDeviceOpenCnt).toBe(1);
    expect(() => w.p.open("/dev/vfio/1", O_RDWR)).toThrowErrno("EBUSY");
    w.p.close(cdev);
    expect(vdevOf(w, DMAT0).group!.cdevDeviceOpenCnt).toBe(0);
    w.p.close(w.p.open("/dev/vfio/1", O_RDWR));
  });

  it("pins the vfio module while open", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    unbindDriver(w.p, DMAT0);
    expect(() => w.kernel.rmmod("vfio")).toThrowErrno("EAGAIN");
    w.p.close(fd);
  });
});

describe("VFIO_GROUP_GET_STATUS", () => {
  it("needs argsz ≥ 8 (EINVAL, nothing written) and writes back 8 bytes", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    const fill = () => w.p.poke(w.arg, new Uint8Array(16).fill(0xaa));
    for (const argsz of [0, 7]) {
      fill();
      w.p.poke(w.arg, new Uint8Array([argsz, 0, 0, 0]));
      expect(() => w.p.ioctl(fd, VFIO_GROUP_GET_STATUS, w.arg)).toThrowErrno("EINVAL");
      expect(w.p.peek(w.arg + 4, 12)).toEqual(new Uint8Array(12).fill(0xaa));
    }
    fill();
    w.p.poke(w.arg, new Uint8Array([16, 0, 0, 0]));
    w.p.ioctl(fd, VFIO_GROUP_GET_STATUS, w.arg);
    expect([...w.p.peek(w.arg, 12)]).toEqual([16, 0, 0, 0, 1, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
  });

  it("faults on a bad pointer (EFAULT)", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => w.p.ioctl(fd, VFIO_GROUP_GET_STATUS, 0)).toThrowErrno("EFAULT");
  });

  describe("over argsz", () => {
    // One world for every run: GET_STATUS changes nothing.
    let world: { w: CoreWorld; fd: number } | null = null;
    const get = () => {
      if (!world) {
        const w = coreSetup({ bind: [DMAT0] });
        world = { w, fd: w.p.open("/dev/vfio/1", O_RDWR) };
      }
      return world;
    };
    test.prop([fc.integer({ min: 0, max: 0xffff_ffff })])(
      "accepts exactly the argsz values from 8 up",
      (argsz) => {
        const { w, fd } = get();
        if (argsz < 8) expect(() => groupStatus(w, fd, argsz)).toThrowErrno("EINVAL");
        else expect(groupStatus(w, fd, argsz)).toBe(VIABLE);
      },
    );
  });

  it("says VIABLE|CONTAINER_SET once a container or an iommufd is set", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(groupStatus(w, fd)).toBe(VIABLE);
    const container = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, fd, container);
    expect(groupStatus(w, fd)).toBe(VIABLE | SET);
    w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
    expect(groupStatus(w, fd)).toBe(VIABLE);
    setContainer(w, fd, w.p.open("/dev/iommu", O_RDWR));
    expect(groupStatus(w, fd)).toBe(VIABLE | SET);
  });
});

describe("a group shared with a kernel driver", () => {
  it("is not viable while a kernel DMA-API driver owns a device of it", () => {
    const w = coreSetup({ mock: true, bind: [MOCK_B] });
    registerBackend(w, fakeBackend());
    expect(w.p.readlink(`/sys/bus/platform/devices/${MOCK_A.name}/driver`)).toContain(KDRV);
    const fd = w.p.open("/dev/vfio/0", O_RDWR);
    expect(groupStatus(w, fd)).toBe(0);
    const container = w.p.open("/dev/vfio/vfio", O_RDWR);
    expect(() => setContainer(w, fd, container)).toThrowErrno("EPERM");
    expect(groupStatus(w, fd)).toBe(0);
    // iommufd claims ownership only at GET_DEVICE_FD: "viable" until then.
    const iommufd = w.p.open("/dev/iommu", O_RDWR);
    setContainer(w, fd, iommufd);
    expect(groupStatus(w, fd)).toBe(VIABLE | SET);
    expect(() => getDeviceFd(w, fd, MOCK_B.name)).toThrowErrno("EPERM");
    // A device of the group that is not a VFIO device cannot be asked for.
    expect(() => getDeviceFd(w, fd, MOCK_A.name)).toThrowErrno("ENODEV");
  });

  it("becomes viable once the kernel driver lets go, and then keeps the driver out (EBUSY)", () => {
    const w = coreSetup({ mock: true, bind: [MOCK_B] });
    registerBackend(w, fakeBackend());
    unbindDriver(w.p, MOCK_A);
    const fd = w.p.open("/dev/vfio/0", O_RDWR);
    expect(groupStatus(w, fd)).toBe(VIABLE);
    containerSetup(w, fd);
    const dev = getDeviceFd(w, fd, MOCK_B.name);
    expect(() => w.p.writeFile(`/sys/bus/platform/drivers/${KDRV}/bind`, MOCK_A.name)).toThrowErrno(
      "EBUSY",
    );
    w.p.close(dev);
    w.p.close(fd);
    w.p.writeFile(`/sys/bus/platform/drivers/${KDRV}/bind`, MOCK_A.name);
    expect(w.p.readlink(`/sys/bus/platform/devices/${MOCK_A.name}/driver`)).toContain(KDRV);
  });
});

describe("VFIO_GROUP_SET_CONTAINER", () => {
  it("faults on a bad pointer (EFAULT)", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => w.p.ioctl(fd, VFIO_GROUP_SET_CONTAINER, 0)).toThrowErrno("EFAULT");
  });

  it("refuses a descriptor that is not open (EBADF)", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => setContainer(w, fd, -1)).toThrowErrno("EBADF");
    expect(() => setContainer(w, fd, 999)).toThrowErrno("EBADF");
  });

  it("refuses a file that is neither a container nor an iommufd (EBADFD)", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => setContainer(w, fd, w.p.eventfd(0))).toThrowErrno("EBADFD");
    expect(() => setContainer(w, fd, w.p.open("/dev/null", O_RDWR))).toThrowErrno("EBADFD");
    expect(() => setContainer(w, fd, fd)).toThrowErrno("EBADFD");
    expect(groupStatus(w, fd)).toBe(VIABLE);
  });

  it("refuses a second container or iommufd (EINVAL)", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    const iommufd = w.p.open("/dev/iommu", O_RDWR);
    const container = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, fd, iommufd);
    expect(() => setContainer(w, fd, iommufd)).toThrowErrno("EINVAL");
    expect(() => setContainer(w, fd, container)).toThrowErrno("EINVAL");
    w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
    setContainer(w, fd, container);
    expect(() => setContainer(w, fd, container)).toThrowErrno("EINVAL");
    expect(() => setContainer(w, fd, w.p.open("/dev/vfio/vfio", O_RDWR))).toThrowErrno("EINVAL");
    expect(() => setContainer(w, fd, iommufd)).toThrowErrno("EINVAL");
  });

  it("gives an iommufd a compat IOAS, and holds the iommufd until unset", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    const iommufd = w.p.open("/dev/iommu", O_RDWR);
    const ictxFile = fileOf(w, iommufd);
    setContainer(w, fd, iommufd);
    const group = vdevOf(w, DMAT0).group!;
    expect(group.iommufd?.vfioIoas).not.toBeNull();
    expect(ictxFile.refcount).toBe(2);
    w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
    expect(group.iommufd).toBeNull();
    expect(ictxFile.refcount).toBe(1);
  });

  it("puts an iommufd in no-IOMMU mode for a no-IOMMU group", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT1] });
    const fd = w.p.open("/dev/vfio/noiommu-3", O_RDWR);
    setContainer(w, fd, w.p.open("/dev/iommu", O_RDWR));
    expect(vdevOf(w, DMAT1).group!.iommufd?.noIommuMode).toBe(true);
    expect(vdevOf(w, DMAT1).group!.iommufd?.vfioIoas).toBeNull();
  });

  it("refuses to mix IOMMU and no-IOMMU groups in one iommufd (EINVAL), dropping its reference", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT0, DMAT1] });
    const real = w.p.open("/dev/vfio/1", O_RDWR);
    const fake = w.p.open("/dev/vfio/noiommu-3", O_RDWR);
    const iommufd = w.p.open("/dev/iommu", O_RDWR);
    setContainer(w, real, iommufd);
    expect(() => setContainer(w, fake, iommufd)).toThrowErrno("EINVAL");
    expect(fileOf(w, iommufd).refcount).toBe(2);
    expect(groupStatus(w, fake)).toBe(VIABLE);
    w.p.ioctl(real, VFIO_GROUP_UNSET_CONTAINER);
    const other = w.p.open("/dev/iommu", O_RDWR);
    setContainer(w, fake, other);
    expect(() => setContainer(w, real, other)).toThrowErrno("EINVAL");
    expect(fileOf(w, other).refcount).toBe(2);
  });

  it("leaves the container and iommufd untouched when the attach is refused", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    const container = w.p.open("/dev/vfio/vfio", O_RDWR);
    const ig = iommuGroupOf(w, DMAT0);
    // The kernel's DMA API user holds the group: claim refused.
    ig.ownerCnt++;
    expect(() => setContainer(w, fd, container)).toThrowErrno("EPERM");
    ig.ownerCnt--;
    expect(groupStatus(w, fd)).toBe(VIABLE);
    expect(fileOf(w, container).refcount).toBe(1);
    expect(w.vfio.containers.size).toBe(1);
    setContainer(w, fd, container);
  });
});

describe("VFIO_GROUP_UNSET_CONTAINER", () => {
  it("refuses a group with nothing set (EINVAL)", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER)).toThrowErrno("EINVAL");
  });

  it("refuses while devices opened through the container are open (EBUSY)", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    containerSetup(w, fd);
    const d1 = getDeviceFd(w, fd, DMAT0.name);
    const d2 = getDeviceFd(w, fd, DMAT0.name);
    expect(() => w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER)).toThrowErrno("EBUSY");
    w.p.close(d1);
    expect(() => w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER)).toThrowErrno("EBUSY");
    w.p.close(d2);
    w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
    expect(groupStatus(w, fd)).toBe(VIABLE);
    expect(w.backend.log.slice(-2)).toEqual(["detach 1", "release"]);
  });

  it("lets an iommufd go even with device fds open; new opens are then EINVAL", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    setContainer(w, fd, w.p.open("/dev/iommu", O_RDWR));
    const d1 = getDeviceFd(w, fd, DMAT0.name);
    w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
    expect(groupStatus(w, fd)).toBe(0);
    expect(() => getDeviceFd(w, fd, DMAT0.name)).toThrowErrno("EINVAL");
    w.p.close(d1);
    expect(groupStatus(w, fd)).toBe(VIABLE);
  });
});

describe("VFIO_GROUP_GET_DEVICE_FD", () => {
  it("refuses before SET_CONTAINER (EINVAL) and before SET_IOMMU (EINVAL)", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => getDeviceFd(w, fd, DMAT0.name)).toThrowErrno("EINVAL");
    setContainer(w, fd, w.p.open("/dev/vfio/vfio", O_RDWR));
    expect(() => getDeviceFd(w, fd, DMAT0.name)).toThrowErrno("EINVAL");
    expect(vdevOf(w, DMAT0).refcount).toBe(1);
  });

  it("finds no device by another name (ENODEV), before anything else", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => getDeviceFd(w, fd, "nope")).toThrowErrno("ENODEV");
    expect(() => getDeviceFd(w, fd, "")).toThrowErrno("ENODEV");
    expect(() => getDeviceFd(w, fd, `${DMAT0.name}x`)).toThrowErrno("ENODEV");
    expect(() => getDeviceFd(w, fd, DMAT1.name)).toThrowErrno("ENODEV");
  });

  it("reads the name as strndup_user(PAGE_SIZE): EFAULT, then EINVAL past 4095 bytes", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => w.p.ioctl(fd, VFIO_GROUP_GET_DEVICE_FD, 0)).toThrowErrno("EFAULT");
    const buf = w.p.malloc(3 * 4096);
    const at = (n: number) => {
      w.p.poke(buf, new Uint8Array(n).fill(0x61));
      w.p.poke(buf + n, new Uint8Array([0]));
      return () => w.p.ioctl(fd, VFIO_GROUP_GET_DEVICE_FD, buf);
    };
    expect(at(4095)).toThrowErrno("ENODEV");
    expect(at(4096)).toThrowErrno("EINVAL");
    expect(at(5000)).toThrowErrno("EINVAL");
  });

  it("asks the driver's match first: its errno aborts the lookup", () => {
    const w = coreSetup({
      bind: [DMAT0],
      driver: {
        match: (vdev, name) => {
          if (name === "bad") return -13;
          return name.startsWith(vdev.dev.name) ? 1 : 0;
        },
      },
    });
    registerBackend(w, fakeBackend());
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    containerSetup(w, fd);
    expect(() => getDeviceFd(w, fd, "bad")).toThrowErrno("EACCES");
    w.p.close(getDeviceFd(w, fd, `${DMAT0.name} vf_token=x`));
  });

  it("opens the device into an O_CLOEXEC, O_RDWR anon file that can pread, as often as asked", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    containerSetup(w, fd);
    const vdev = vdevOf(w, DMAT0);
    const d1 = getDeviceFd(w, fd, DMAT0.name);
    const d2 = getDeviceFd(w, fd, DMAT0.name);
    expect(d2).toBe(d1 + 1);
    expect(w.p.readlink(`/proc/self/fd/${d1}`)).toBe("anon_inode:[vfio-device]");
    expect(w.p.fcntl(d1, 1)).toBe(1); // F_GETFD: FD_CLOEXEC
    expect(w.p.fcntl(d1, 3) & 3).toBe(O_RDWR); // F_GETFL
    const file = fileOf(w, d1);
    expect(file.mode & 0x18).toBe(0x18); // FMODE_PREAD | FMODE_PWRITE
    expect(vdev.opens).toBe(1);
    expect(vdev.openCount).toBe(2);
    expect(vdev.refcount).toBe(3);
    expect(vfioDeviceHasContainer(vdev)).toBe(true);
    w.p.close(d1);
    w.p.close(d2);
    expect(vdev.closes).toBe(1);
    expect(vdev.refcount).toBe(1);
  });

  it("reserves the descriptor first: EMFILE before the device is opened", () => {
    const w = dmat0();
    const p = w.kernel.spawn({ comm: "vmm", rlimits: { nofile: 4 } });
    const arg = p.malloc(4096);
    const fd = p.open("/dev/vfio/1", O_RDWR);
    const container = p.open("/dev/vfio/vfio", O_RDWR);
    setContainer({ ...w, p, arg }, fd, container);
    p.ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    p.open("/dev/null", O_RDWR);
    p.open("/dev/null", O_RDWR);
    expect(() => getDeviceFd({ ...w, p, arg }, fd, DMAT0.name)).toThrowErrno("EMFILE");
    const vdev = vdevOf(w, DMAT0);
    expect(vdev.opens).toBe(0);
    expect(vdev.refcount).toBe(1);
  });

  it("gives everything back when the driver's open_device refuses", () => {
    const w = coreSetup({
      bind: [DMAT0],
      driver: { openError: new SysError("EIO", "vfio_core_test_open_device") },
    });
    const backend = fakeBackend({ deviceOps: true });
    registerBackend(w, backend);
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    containerSetup(w, fd);
    expect(() => getDeviceFd(w, fd, DMAT0.name)).toThrowErrno("EIO");
    const vdev = vdevOf(w, DMAT0);
    expect(vdev.refcount).toBe(1);
    expect(vdev.openCount).toBe(0);
    expect(vdev.group!.containerUsers).toBe(1);
    expect(fileOf(w, fd).refcount).toBe(1);
    expect(backend.log.slice(-2)).toEqual([`register ${vdev.name}`, `unregister ${vdev.name}`]);
    // The descriptor it had reserved is free again.
    expect(w.p.open("/dev/null", O_RDWR)).toBe(fd + 2);
    w.p.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
  });

  it("pins the group file: closing the group first is deferred to the last device fd", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    containerSetup(w, fd);
    const dev = getDeviceFd(w, fd, DMAT0.name);
    const group = vdevOf(w, DMAT0).group!;
    w.p.close(fd);
    expect(group.openedFile).not.toBeNull();
    expect(() => w.p.open("/dev/vfio/1", O_RDWR)).toThrowErrno("EBUSY");
    expect(group.container).not.toBeNull();
    w.p.close(dev);
    expect(group.openedFile).toBeNull();
    expect(group.container).toBeNull();
    expect(w.backend.log.slice(-2)).toEqual(["detach 1", "release"]);
    w.p.close(w.p.open("/dev/vfio/1", O_RDWR));
  });

  it("opens through an iommufd: bound and attached to the compat IOAS on the first open", () => {
    const w = dmat0();
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    setContainer(w, fd, w.p.open("/dev/iommu", O_RDWR));
    const vdev = vdevOf(w, DMAT0);
    const d1 = getDeviceFd(w, fd, DMAT0.name);
    expect(vdev.iommufdDevice).not.toBeNull();
    expect(vdev.iommufdAttached).toBe(true);
    expect(iommuGroupOf(w, DMAT0).owner).not.toBeNull();
    const d2 = getDeviceFd(w, fd, DMAT0.name);
    expect(vdev.opens).toBe(1);
    // The iommufd path does not pin the group file.
    expect(fileOf(w, fd).refcount).toBe(1);
    w.p.close(d1);
    w.p.close(d2);
    expect(vdev.iommufdDevice).toBeNull();
    expect(iommuGroupOf(w, DMAT0).owner).toBeNull();
  });

  it("warns who opened a no-IOMMU device, and needs CAP_SYS_RAWIO to (EPERM)", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT1] });
    const fd = w.p.open("/dev/vfio/noiommu-3", O_RDWR);
    const container = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, fd, container);
    w.p.ioctl(container, VFIO_SET_IOMMU, 8);
    w.p.capset({ effective: NO_RAWIO });
    expect(() => getDeviceFd(w, fd, DMAT1.name)).toThrowErrno("EPERM");
    w.p.capset({ effective: ALL_CAPS });
    const dev = getDeviceFd(w, fd, DMAT1.name);
    expect(dmesg(w).at(-1)).toBe(
      `${TEST_DRIVER} ${DMAT1.name}: vfio-noiommu device opened by user (vmm:${w.p.pid})`,
    );
    w.p.close(dev);
  });

  it("opens a no-IOMMU device through an iommufd without binding it, unless translation was asked for (EPERM)", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT1] });
    const fd = w.p.open("/dev/vfio/noiommu-3", O_RDWR);
    setContainer(w, fd, w.p.open("/dev/iommu", O_RDWR));
    w.p.capset({ effective: NO_RAWIO });
    expect(() => getDeviceFd(w, fd, DMAT1.name)).toThrowErrno("EPERM");
    w.p.capset({ effective: ALL_CAPS });
    const dev = getDeviceFd(w, fd, DMAT1.name);
    const vdev = vdevOf(w, DMAT1);
    expect(vdev.iommufdDevice).toBeNull();
    expect(vdev.opens).toBe(1);
    w.p.close(dev);
  });

  it("answers ENOTTY for any other ioctl", () => {
    const w = coreSetup({ bind: [DMAT0] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    expect(() => w.p.ioctl(fd, VFIO_GET_API_VERSION)).toThrowErrno("ENOTTY");
    expect(() => w.p.ioctl(fd, 0x1234)).toThrowErrno("ENOTTY");
  });
});

describe("what other modules ask of a group file", () => {
  it("recognises a group file, its devices and their coherency", () => {
    const w = coreSetup({ bind: [DMAT0, XGMAC] });
    const fd = w.p.open("/dev/vfio/1", O_RDWR);
    const file = fileOf(w, fd);
    const vdev = vdevOf(w, DMAT0);
    expect(vfioFileIsGroup(file)).toBe(true);
    expect(vfioGroupFromFile(file)).toBe(vdev.group);
    expect(vfioFileHasDev(file, vdev)).toBe(true);
    expect(vfioFileHasDev(file, vdevOf(w, XGMAC))).toBe(false);
    expect(vfioFileIommuGroup(file)).toBeNull();
    const container = fileOf(w, w.p.open("/dev/vfio/vfio", O_RDWR));
    expect(vfioFileIsGroup(container)).toBe(false);
    expect(vfioFileHasDev(container, vdev)).toBe(false);
    expect(vfioGroupEnforcedCoherent(vdev.group!)).toBe(
      w.kernel.iommu.deviceIommuCapable(vdev.dev, IOMMU_CAP_ENFORCE_CACHE_COHERENCY),
    );
  });

  it("has no groups at all without CONFIG_VFIO_GROUP", () => {
    const w = coreSetup({ config: { CONFIG_VFIO_GROUP: false }, bind: [DMAT0] });
    expect(w.p.readdir("/dev/vfio").sort()).toEqual([".", "..", "devices"]);
    expect(() => w.p.stat("/sys/class/vfio")).toThrowErrno("ENOENT");
    const vdev = vdevOf(w, DMAT0);
    expect(vdev.group).toBeNull();
    expect(vfioDeviceHasContainer(vdev)).toBe(false);
    vfioDeviceBlockGroup(vdev);
    expect(w.p.readFile("/proc/devices")).not.toContain(" vfio\n");
  });
});
