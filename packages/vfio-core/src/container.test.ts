import { fc, test } from "@fast-check/vitest";
import { VFIO_MINOR } from "@vfio-lab/iommufd";
import {
  CAPABILITIES,
  type CapabilityName,
  major,
  minor,
  O_RDWR,
  SysError,
} from "@vfio-lab/kernel";
import {
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, it } from "vitest";
import {
  type CoreWorld,
  checkExtension,
  coreSetup,
  DMAT0,
  DMAT1,
  dmesg,
  type FakeBackend,
  fakeBackend,
  fakeBackendModule,
  fileOf,
  getDeviceFd,
  groupStatus,
  iommuGroupOf,
  registerBackend,
  setContainer,
  unregisterBackend,
  vdevOf,
  XGMAC,
} from "../test/core-fixture.js";
import {
  vfioContainerFromFile,
  vfioContainerPinPages,
  vfioRegisterIommuDriver,
} from "./container.js";
import type { VfioIommuDriverOps } from "./vfio.js";
import {
  VFIO_PIN_PAGES_MAX_ENTRIES,
  vfioDmaRw,
  vfioPinPages,
  vfioUnpinPages,
} from "./vfio-main.js";

const ALL_CAPS = Object.keys(CAPABILITIES) as CapabilityName[];
const NO_RAWIO = ALL_CAPS.filter((c) => c !== "CAP_SYS_RAWIO");
/** type1's extensions before SET_IOMMU, as the oracle's kernel answers them. */
const TYPE1 = [VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL];

/** CHECK_EXTENSION 0..11 → the extensions answered 1 (what the oracle probes print). */
function extensions(w: CoreWorld, fd: number): number[] {
  const yes: number[] = [];
  for (let ext = 0; ext <= 11; ext++) if (checkExtension(w, fd, ext) === 1) yes.push(ext);
  return yes;
}

/** A world with DMA test 0 (group 1) and the XGMAC.name (group 0) on the test driver, a type1-like backend. */
function world(
  opts: Parameters<typeof coreSetup>[0] = {},
  backend = fakeBackend({ types: TYPE1 }),
) {
  const w = coreSetup({ bind: [DMAT0, XGMAC], ...opts });
  registerBackend(w, backend);
  return { ...w, backend };
}

describe("/dev/vfio/vfio", () => {
  it("is misc minor 196, mode 0666, openable by anyone, a new container per open", () => {
    const w = world();
    const st = w.p.stat("/dev/vfio/vfio");
    expect(st.mode).toBe(0o020666);
    expect([major(st.rdev), minor(st.rdev)]).toEqual([10, VFIO_MINOR]);
    const user = w.kernel.spawn({ comm: "user", uid: 1000 });
    const a = user.open("/dev/vfio/vfio", O_RDWR);
    const b = user.open("/dev/vfio/vfio", O_RDWR);
    expect(w.vfio.containers.size).toBe(2);
    expect(vfioContainerFromFile(fileOf({ ...w, p: user }, a))).not.toBe(
      vfioContainerFromFile(fileOf({ ...w, p: user }, b)),
    );
    expect(user.ioctl(a, VFIO_GET_API_VERSION)).toBe(0);
    user.close(a);
    user.close(b);
    expect(w.vfio.containers.size).toBe(0);
  });

  it("pins the vfio module while open", () => {
    const w = coreSetup();
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    expect(() => w.kernel.rmmod("vfio")).toThrowErrno("EAGAIN");
    w.p.close(fd);
    w.kernel.rmmod("vfio");
    expect(() => w.p.stat("/dev/vfio/vfio")).toThrowErrno("ENOENT");
  });

  it("is iommufd's without CONFIG_VFIO_CONTAINER", () => {
    const w = coreSetup({ config: { CONFIG_VFIO_CONTAINER: false } });
    expect(w.vfio.containerMisc).toBeNull();
    expect(w.vfio.iommuDrivers).toEqual([]);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    expect(dmesg(w).at(-1)).toBe("iommufd: IOMMUFD is providing /dev/vfio/vfio, not VFIO.");
    expect(vfioContainerFromFile(fileOf(w, fd))).toBeNull();
    expect(w.vfio.containers.size).toBe(0);
  });

  it("registers the no-IOMMU backend at load only with CONFIG_VFIO_NOIOMMU", () => {
    expect(coreSetup().vfio.iommuDrivers.map((o) => o.name)).toEqual(["vfio-noiommu"]);
    const w = coreSetup({ config: { CONFIG_VFIO_NOIOMMU: false } });
    expect(w.vfio.iommuDrivers).toEqual([]);
  });

  it("answers EINVAL for every other ioctl until an IOMMU backend is set", () => {
    const w = world();
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    for (const cmd of [VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_GROUP_GET_STATUS, 0x1234]) {
      expect(() => w.p.ioctl(fd, cmd, 0)).toThrowErrno("EINVAL");
    }
    expect(w.backend.log).toEqual([]);
  });
});

describe("VFIO_CHECK_EXTENSION", () => {
  it("answers 0 for everything with no backend that offers it", () => {
    const w = coreSetup();
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    expect(extensions(w, fd)).toEqual([]);
  });

  it("polls the backends without state before SET_IOMMU, each pinned while it answers", () => {
    const mod = fakeBackendModule();
    const w0 = coreSetup({ bind: [DMAT0] });
    w0.kernel.modprobe(mod);
    const backend = fakeBackend({ types: TYPE1, owner: mod });
    registerBackend(w0, backend);
    const fd = w0.p.open("/dev/vfio/vfio", O_RDWR);
    expect(extensions(w0, fd)).toEqual(TYPE1);
    expect(backend.log[0]).toBe(`ioctl null 0x${VFIO_CHECK_EXTENSION.toString(16)} 0`);
    // Nothing is held once it answered.
    w0.kernel.rmmod(mod.name);
    expect(extensions(w0, fd)).toEqual([]);
  });

  it("asks only the chosen backend, with its state, after SET_IOMMU", () => {
    const w = world();
    const group = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, group, fd);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    w.backend.log.length = 0;
    expect(checkExtension(w, fd, VFIO_TYPE1_IOMMU)).toBe(1);
    expect(w.backend.log).toEqual([`ioctl data 0x${VFIO_CHECK_EXTENSION.toString(16)} 1`]);
  });

  it("gives the first positive answer in list order, else the last asked backend's", () => {
    const w = coreSetup({ config: { CONFIG_VFIO_NOIOMMU: false } });
    let failed = 0;
    const failing: VfioIommuDriverOps = {
      ...fakeBackend({ name: "failing" }),
      ioctl: () => {
        failed++;
        throw new SysError("EIO", "failing_ioctl");
      },
    };
    vfioRegisterIommuDriver(w.vfio, failing);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    expect(() => checkExtension(w, fd, VFIO_TYPE1v2_IOMMU)).toThrowErrno("EIO");
    // A backend asked before it that offers nothing does not change the answer...
    registerBackend(w, fakeBackend({ name: "none", types: [] }));
    expect(() => checkExtension(w, fd, VFIO_TYPE1v2_IOMMU)).toThrowErrno("EIO");
    // ...one that offers it ends the poll before the failing one is asked.
    registerBackend(w, fakeBackend({ name: "good", types: TYPE1 }));
    const asked = failed;
    expect(checkExtension(w, fd, VFIO_TYPE1v2_IOMMU)).toBe(1);
    expect(failed).toBe(asked);
    // Asked first, its errno is overwritten by the next answer.
    const v = coreSetup({ config: { CONFIG_VFIO_NOIOMMU: false } });
    registerBackend(v, fakeBackend({ name: "none", types: [] }));
    vfioRegisterIommuDriver(v.vfio, failing);
    expect(checkExtension(v, v.p.open("/dev/vfio/vfio", O_RDWR), VFIO_TYPE1v2_IOMMU)).toBe(0);
  });
});

describe("VFIO_SET_IOMMU", () => {
  describe("without a group", () => {
    // One board for every run: a refusal leaves nothing behind, and each run has its own file.
    const w = coreSetup();
    registerBackend(w, fakeBackend({ types: TYPE1 }));
    test.prop([fc.integer({ min: 0, max: 0xffff_ffff })], { numRuns: 40 })(
      "refuses any type while the container has no group (EINVAL)",
      (type) => {
        const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
        try {
          expect(() => w.p.ioctl(fd, VFIO_SET_IOMMU, type)).toThrowErrno("EINVAL");
        } finally {
          w.p.close(fd);
        }
      },
    );
  });

  it("refuses a type no backend offers (ENODEV), opening nothing", () => {
    const w = world();
    const group = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, group, fd);
    for (const type of [6, 2, VFIO_NOIOMMU_IOMMU, 99, 0]) {
      expect(() => w.p.ioctl(fd, VFIO_SET_IOMMU, type)).toThrowErrno("ENODEV");
    }
    expect(w.backend.log.filter((l) => l.startsWith("open"))).toEqual([]);
  });

  it("opens the backend with the type and attaches every group, once (EINVAL after)", () => {
    const w = world();
    const g1 = w.p.open("/dev/vfio/1", O_RDWR);
    const g0 = w.p.open("/dev/vfio/0", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, g1, fd);
    setContainer(w, g0, fd);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    // The newest group is at the head of the container's list.
    expect(w.backend.log.filter((l) => !l.startsWith("ioctl"))).toEqual([
      "open 3",
      "attach 0 type 0",
      "attach 1 type 0",
    ]);
    expect(() => w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("EINVAL");
    expect(() => w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)).toThrowErrno("EINVAL");
    expect(w.backend.instances).toHaveLength(1);
  });

  it("takes the first backend that opens, newest registered first; a refusal's errno otherwise", () => {
    const w = world({}, fakeBackend({ name: "old", types: TYPE1 }));
    const refusing = fakeBackend({
      name: "new",
      types: TYPE1,
      openError: new SysError("ENOMEM", "new_open"),
    });
    registerBackend(w, refusing);
    const group = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, group, fd);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    expect(refusing.log.filter((l) => l.startsWith("open"))).toEqual(["open 3"]);
    expect(w.backend.instances).toHaveLength(1);
    // Alone, the refusal is the answer.
    w.p.ioctl(group, VFIO_GROUP_UNSET_CONTAINER);
    unregisterBackend(w, w.backend);
    setContainer(w, group, fd);
    expect(() => w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("ENOMEM");
  });

  it("undoes a half-attached container when a group is refused, newest first", () => {
    const backend = fakeBackend({
      types: TYPE1,
      refuseGroup: { id: 1, error: new SysError("EPERM", "fake_attach_group") },
    });
    const w = world({}, backend);
    const g1 = w.p.open("/dev/vfio/1", O_RDWR);
    const g0 = w.p.open("/dev/vfio/0", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, g1, fd);
    setContainer(w, g0, fd);
    expect(() => w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("EPERM");
    expect(backend.log.filter((l) => !l.startsWith("ioctl"))).toEqual([
      "open 3",
      "attach 0 type 0",
      "attach 1 type 0",
      "detach 0",
      "release",
    ]);
    // Still grouped, no backend: GET_DEVICE_FD is refused as before SET_IOMMU.
    expect(() => getDeviceFd(w, g1, DMAT0.name)).toThrowErrno("EINVAL");
  });

  it("pins the backend's module until the last group leaves", () => {
    const mod = fakeBackendModule();
    const w = coreSetup({ bind: [DMAT0] });
    w.kernel.modprobe(mod);
    registerBackend(w, fakeBackend({ types: TYPE1, owner: mod }));
    const group = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, group, fd);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    expect(() => w.kernel.rmmod(mod.name)).toThrowErrno("EAGAIN");
    w.p.ioctl(group, VFIO_GROUP_UNSET_CONTAINER);
    w.kernel.rmmod(mod.name);
  });

  it("skips a backend whose module cannot be pinned", () => {
    const w = world({}, fakeBackend({ types: TYPE1, owner: { name: "not_loaded" } }));
    const group = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, group, fd);
    expect(checkExtension(w, fd, VFIO_TYPE1v2_IOMMU)).toBe(0);
    expect(() => w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("ENODEV");
    expect(w.backend.log).toEqual([]);
  });

  it("passes every other ioctl to the backend once set", () => {
    const w = world();
    const group = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, group, fd);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    expect(() => w.p.ioctl(fd, 0x1234, 7)).toThrowErrno("ENOTTY");
    expect(w.backend.log.at(-1)).toBe("ioctl data 0x1234 7");
    expect(w.p.ioctl(fd, VFIO_GET_API_VERSION)).toBe(0);
  });
});

describe("groups in a container", () => {
  it("claims the IOMMU group for the VFIO group, and a set backend takes it at once", () => {
    const w = world();
    const g1 = w.p.open("/dev/vfio/1", O_RDWR);
    const g0 = w.p.open("/dev/vfio/0", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, g1, fd);
    const group = vdevOf(w, DMAT0).group!;
    expect(iommuGroupOf(w, DMAT0).owner).toBe(group);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    setContainer(w, g0, fd);
    expect(w.backend.log.at(-1)).toBe("attach 0 type 0");
    expect(w.backend.instances[0]!.groups.map((g) => g.id)).toEqual([1, 0]);
  });

  it("gives the claim back when the backend refuses the group (its errno)", () => {
    const backend = fakeBackend({
      types: TYPE1,
      refuseGroup: { id: 0, error: new SysError("EINVAL", "fake_attach_group") },
    });
    const w = world({}, backend);
    const g1 = w.p.open("/dev/vfio/1", O_RDWR);
    const g0 = w.p.open("/dev/vfio/0", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, g1, fd);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    const refs = fileOf(w, fd).refcount;
    expect(() => setContainer(w, g0, fd)).toThrowErrno("EINVAL");
    expect(iommuGroupOf(w, XGMAC).owner).toBeNull();
    expect(groupStatus(w, g0)).toBe(1);
    expect(vdevOf(w, XGMAC).group!.container).toBeNull();
    expect(fileOf(w, fd).refcount).toBe(refs);
  });

  it("refuses a group whose IOMMU group is off its default domain (EBUSY)", () => {
    const w = world();
    const g1 = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    const ig = iommuGroupOf(w, DMAT0);
    const domain = w.kernel.iommu.iommuPagingDomainAlloc(ig.firstDev());
    w.kernel.iommu.iommuAttachGroup(domain, ig);
    expect(() => setContainer(w, g1, fd)).toThrowErrno("EBUSY");
    expect(groupStatus(w, g1)).toBe(1);
  });

  it("lives on after its fd is closed while a group holds it", () => {
    const w = world();
    const group = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, group, fd);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU);
    w.p.close(fd);
    expect(groupStatus(w, group)).toBe(3);
    w.p.close(getDeviceFd(w, group, DMAT0.name));
    expect(w.vfio.containers.size).toBe(1);
    w.p.ioctl(group, VFIO_GROUP_UNSET_CONTAINER);
    expect(w.vfio.containers.size).toBe(0);
    expect(w.backend.log.slice(-2)).toEqual(["detach 1", "release"]);
  });

  it("returns to its first state when the group file is closed", () => {
    const w = world();
    const group = w.p.open("/dev/vfio/1", O_RDWR);
    const fd = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, group, fd);
    w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    w.p.close(group);
    expect(iommuGroupOf(w, DMAT0).owner).toBeNull();
    expect(() => w.p.ioctl(fd, 0x1234)).toThrowErrno("EINVAL");
    expect(() => w.p.ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)).toThrowErrno("EINVAL");
  });
});

describe("the no-IOMMU container (oracle-probes/vfio-noiommu, ORC 015–053)", () => {
  it("replays a real 7.3's answers with DMA test 1 as the PL061 and DMA test 0 as the edu", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT0, DMAT1] });
    registerBackend(w, fakeBackend({ types: TYPE1 }));
    const c = w.p.open("/dev/vfio/vfio", O_RDWR);
    expect(extensions(w, c)).toEqual([1, 3, 8, 9]);
    const g = w.p.open("/dev/vfio/noiommu-3", O_RDWR);
    expect(() => w.p.open("/dev/vfio/noiommu-3", O_RDWR)).toThrowErrno("EBUSY"); // 017
    expect(groupStatus(w, g)).toBe(1); // 018
    expect(() => getDeviceFd(w, g, DMAT1.name)).toThrowErrno("EINVAL"); // 019
    setContainer(w, g, c); // 020
    expect(groupStatus(w, g)).toBe(3); // 021
    expect(extensions(w, c)).toEqual([8]);
    expect(() => getDeviceFd(w, g, DMAT1.name)).toThrowErrno("EINVAL"); // 022
    for (const cmd of [VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, 0x1234]) {
      expect(() => w.p.ioctl(c, cmd, 0)).toThrowErrno("EINVAL"); // 023–027
    }
    const edu = w.p.open("/dev/vfio/1", O_RDWR); // 028
    expect(() => setContainer(w, edu, c)).toThrowErrno("EPERM"); // 029
    for (const type of [VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU, 99]) {
      expect(() => w.p.ioctl(c, VFIO_SET_IOMMU, type)).toThrowErrno("ENODEV"); // 030–032
    }
    w.p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU); // 033
    expect(() => w.p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)).toThrowErrno("EINVAL"); // 034
    expect(extensions(w, c)).toEqual([8]);
    for (const cmd of [VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, 0x1234]) {
      expect(() => w.p.ioctl(c, cmd, 0)).toThrowErrno("ENOTTY"); // 035–039
    }
    expect(() => setContainer(w, edu, c)).toThrowErrno("EPERM"); // 040
    const d1 = getDeviceFd(w, g, DMAT1.name); // 041
    const d2 = getDeviceFd(w, g, DMAT1.name); // 042
    expect(() => w.p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER)).toThrowErrno("EBUSY"); // 044
    w.p.close(d1);
    w.p.close(d2); // 045
    w.p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER); // 046
    expect(extensions(w, c)).toEqual([1, 3, 8, 9]);
    setContainer(w, edu, c); // 047
    expect(() => setContainer(w, g, c)).toThrowErrno("EPERM"); // 048
    expect(() => w.p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)).toThrowErrno("ENODEV"); // 049
    w.p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU); // 050
    expect(() => setContainer(w, g, c)).toThrowErrno("EPERM"); // 051
  });

  it("needs CAP_SYS_RAWIO to join (EPERM) and to set the backend (EPERM), not to ask", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT1] });
    const c = w.p.open("/dev/vfio/vfio", O_RDWR);
    const g = w.p.open("/dev/vfio/noiommu-3", O_RDWR);
    w.p.capset({ effective: NO_RAWIO });
    expect(() => setContainer(w, g, c)).toThrowErrno("EPERM"); // 116
    w.p.capset({ effective: ALL_CAPS });
    setContainer(w, g, c); // 118
    w.p.capset({ effective: NO_RAWIO });
    expect(() => w.p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)).toThrowErrno("EPERM"); // 120
    expect(checkExtension(w, c, VFIO_NOIOMMU_IOMMU)).toBe(1); // 121
    w.p.capset({ effective: ALL_CAPS });
    w.p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU); // 123
    w.p.capset({ effective: NO_RAWIO });
    expect(() => getDeviceFd(w, g, DMAT1.name)).toThrowErrno("EPERM"); // 125
    w.p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER); // 126
  });

  it("offers nothing once enable_unsafe_noiommu_mode is written 0 (ENODEV)", () => {
    const w = coreSetup({ noiommu: true, bind: [DMAT1] });
    w.p.writeFile("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "0"); // 135
    const c = w.p.open("/dev/vfio/vfio", O_RDWR);
    const g = w.p.open("/dev/vfio/noiommu-3", O_RDWR);
    setContainer(w, g, c); // 138
    expect(extensions(w, c)).toEqual([]);
    expect(() => w.p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)).toThrowErrno("ENODEV"); // 139
  });
});

describe("devices of a container", () => {
  /** An emulated-IOMMU device (DMA test 1) opened through a container with `backend`. */
  function emulated(backend: FakeBackend) {
    const w = coreSetup({ driver: { emulated: true }, bind: [DMAT1] });
    registerBackend(w, backend);
    const g = w.p.open("/dev/vfio/3", O_RDWR);
    const c = w.p.open("/dev/vfio/vfio", O_RDWR);
    setContainer(w, g, c);
    w.p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
    const dev = getDeviceFd(w, g, DMAT1.name);
    return { ...w, g, c, dev, vdev: vdevOf(w, DMAT1) };
  }

  it("tells the backend of each opened device; an emulated group claims no DMA ownership", () => {
    const backend = fakeBackend({ types: TYPE1, deviceOps: true });
    const w = emulated(backend);
    expect(backend.log.filter((l) => !l.startsWith("ioctl"))).toEqual([
      "open 3",
      "attach 3 type 1",
      `register ${w.vdev.name}`,
    ]);
    expect(iommuGroupOf(w, DMAT1).owner).toBeNull();
    w.p.close(w.dev);
    expect(backend.log.at(-1)).toBe(`unregister ${w.vdev.name}`);
  });

  it("pins pages through the backend: PFNs, E2BIG above VFIO_PIN_PAGES_MAX_ENTRIES", () => {
    const backend = fakeBackend({ types: TYPE1, deviceOps: true });
    const w = emulated(backend);
    expect(vfioPinPages(w.vdev, 0x10000n, 2, 3)).toEqual([0x40000, 0x40001]);
    expect(backend.log.at(-1)).toBe("pin 3 0x10000 2 3");
    expect(() => vfioPinPages(w.vdev, 0n, VFIO_PIN_PAGES_MAX_ENTRIES + 1, 3)).toThrowErrno("E2BIG");
    expect(vfioContainerPinPages(w.vdev, 0n, VFIO_PIN_PAGES_MAX_ENTRIES, 3)).toHaveLength(512);
    vfioUnpinPages(w.vdev, 0x10000n, 2);
    expect(backend.log.at(-1)).toBe("unpin 0x10000 2");
  });

  it("WARNs and ignores an unpin of no pages or too many", () => {
    const backend = fakeBackend({ types: TYPE1, deviceOps: true });
    const w = emulated(backend);
    const before = backend.log.length;
    vfioUnpinPages(w.vdev, 0n, VFIO_PIN_PAGES_MAX_ENTRIES + 1);
    expect(backend.log.length).toBe(before);
    expect(dmesg(w)).toContain("------------[ cut here ]------------");
  });

  it("copies through the backend (vfio_dma_rw)", () => {
    const backend = fakeBackend({ types: TYPE1, deviceOps: true });
    const w = emulated(backend);
    const buf = new Uint8Array(8);
    vfioDmaRw(w.vdev, w.p, 0x2000n, buf, false);
    expect(buf).toEqual(new Uint8Array(8).fill(0x5a));
    vfioDmaRw(w.vdev, w.p, 0x2000n, buf, true);
    expect(backend.log.slice(-2)).toEqual(["rw 0x2000 8 read", "rw 0x2000 8 write"]);
  });

  it("answers ENOTTY when the backend cannot pin or copy", () => {
    const w = emulated(fakeBackend({ types: TYPE1 }));
    expect(() => vfioPinPages(w.vdev, 0n, 1, 3)).toThrowErrno("ENOTTY");
    expect(() => vfioDmaRw(w.vdev, w.p, 0n, new Uint8Array(4), false)).toThrowErrno("ENOTTY");
  });
});

describe("backend registration", () => {
  it("refuses the same ops twice (EINVAL) and puts new backends first", () => {
    const w = coreSetup();
    const a = fakeBackend({ name: "a" });
    const b = fakeBackend({ name: "b" });
    registerBackend(w, a);
    registerBackend(w, b);
    expect(w.vfio.iommuDrivers.map((o) => o.name)).toEqual(["b", "a", "vfio-noiommu"]);
    expect(() => registerBackend(w, a)).toThrowErrno("EINVAL");
    unregisterBackend(w, a);
    unregisterBackend(w, a);
    expect(w.vfio.iommuDrivers.map((o) => o.name)).toEqual(["b", "vfio-noiommu"]);
  });

  it("refuses register_device without unregister_device (EINVAL, WARN)", () => {
    const w = coreSetup();
    const half: VfioIommuDriverOps = { ...fakeBackend(), registerDevice: () => {} };
    expect(() => vfioRegisterIommuDriver(w.vfio, half)).toThrowErrno("EINVAL");
    expect(dmesg(w)).toContain("------------[ cut here ]------------");
    expect(w.vfio.iommuDrivers.map((o) => o.name)).toEqual(["vfio-noiommu"]);
  });
});
