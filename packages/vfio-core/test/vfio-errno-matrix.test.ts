/**
 * The rows of reference/vfio.md's errno matrix (§4 state machines, §5 no-IOMMU, §6 device fd,
 * §10) that no other suite of the package exercised, each driven from user space on the board
 * and held to the errno Linux 7.3 returns (drivers/vfio/*.c, drivers/iommu/iommu.c), with
 * core-fixture.ts's minimal bus driver. ERRNO-COVERAGE.md beside this file lists every row of
 * those sections and where each one is tested; the test names here say the situation and the
 * errno, in the order of that table. The rows that need a full bus driver (a driver module going
 * away under an open cdev, vfio-platform's info ioctls and mmap) are tested on vfio-platform:
 * packages/vfio-platform/test/selftests/vfio-errno-matrix.test.ts.
 *
 * Some situations need the kernel in a state user space reaches only by racing a removal: the
 * window is opened by setting the one field the racing kernel path would have set, as the cdev
 * suite does for an unregistering device, and closed again afterwards.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { IommuFd, iommufdModule } from "@vfio-lab/iommufd";
import {
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SysError,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_SET_CONTAINER,
  vfio_device_bind_iommufd,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { VfioDevice } from "../src/user/index.js";
import { vfioOf } from "../src/vfio-main.js";
import { vfioModule } from "../src/vfio-modules.js";
import {
  type BoardDev,
  bindTest,
  cdevPath,
  coreSetup,
  coreTestDriver,
  DMAT0,
  DMAT1,
  sysfsIommuGroupGet,
  TEST_DRIVER,
  UNSAFE_INTERRUPTS,
  vdevOf,
} from "./core-fixture.js";

/** The error a call threw (a SysError, or the test fails). */
function refusal(f: () => unknown): SysError {
  try {
    f();
  } catch (e) {
    if (SysError.isInstance(e)) return e;
    throw e;
  }
  throw new Error("the call succeeded");
}

/** `s32` at a fresh user address: what VFIO_GROUP_SET_CONTAINER reads. */
function s32Arg(p: Process, v: number): number {
  const va = p.malloc(4);
  p.poke(va, new Uint8Array(new Int32Array([v]).buffer));
  return va;
}

/** A NUL-terminated string at a fresh user address: GET_DEVICE_FD's argument. */
function strArg(p: Process, s: string): number {
  const bytes = new TextEncoder().encode(`${s}\0`);
  const va = p.malloc(bytes.length);
  p.poke(va, bytes);
  return va;
}

/** The vfio-dev entries of the board (what /sys/class/vfio-dev lists). */
function vfioDevs(p: Process): string[] {
  return p.readdir("/sys/class/vfio-dev").filter((n) => !n.startsWith("."));
}

/** The nodes under /dev/vfio, `devices/` aside. */
function vfioNodes(p: Process): string[] {
  return p
    .readdir("/dev/vfio")
    .filter((n) => !n.startsWith(".") && n !== "devices")
    .sort();
}

/** The DMA engine behind the SMMU on the test driver: what most rows start from. */
const boot = () => coreSetup({ bind: [DMAT0] });

// ---------------------------------------------------------------------------------------------
// §4.1 The container

describe("§4.1 container (container.c)", () => {
  test("open(/dev/vfio/vfio) when the container cannot be allocated is ENOMEM", () => {
    const { kernel, p } = boot();
    const next = p.open("/dev/null", O_RDWR);
    p.close(next);
    kernel.allocator.setFailHook((site) => site === "kzalloc");
    let err: SysError;
    try {
      err = refusal(() => p.open("/dev/vfio/vfio", O_RDWR));
    } finally {
      kernel.allocator.setFailHook(undefined);
    }
    expect(err).toMatchObject({ code: "ENOMEM", fn: "vfio_fops_open" });
    expect(vfioOf(kernel).containers.size).toBe(0);
    // Nothing was installed: the next open gets the descriptor the failed one would have had.
    expect(p.open("/dev/vfio/vfio", O_RDWR)).toBe(next);
    expect(vfioOf(kernel).containers.size).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// §4.2 The group

describe("§4.2 group (group.c)", () => {
  test("open of a group whose last driver is going away is ENODEV, before the EBUSY checks", () => {
    const w = boot();
    const { p } = w;
    const path = `/dev/vfio/${sysfsIommuGroupGet(p, DMAT0)}`;
    const group = vdevOf(w, DMAT0).group!;
    const first = p.open(path, O_RDWR);
    // vfio_device_remove_group() has dropped `drivers` to 0 and not yet deleted the node.
    group.drivers = 0;
    try {
      const err = refusal(() => p.open(path, O_RDWR));
      expect(err).toMatchObject({ code: "ENODEV", fn: "vfio_group_fops_open" });
    } finally {
      group.drivers = 1;
    }
    // The refused open changed nothing: the group is still the first file's.
    expect(() => p.open(path, O_RDWR)).toThrowErrno("EBUSY");
    p.close(first);
    p.close(p.open(path, O_RDWR));
  });

  test("GET_DEVICE_FD through an iommufd while the IOMMU group is off its default domain is EBUSY", () => {
    const w = boot();
    const { kernel, p } = w;
    const vdev = vdevOf(w, DMAT0);
    const g = p.open(`/dev/vfio/${sysfsIommuGroupGet(p, DMAT0)}`, O_RDWR);
    const iommufd = IommuFd.open(p);
    p.ioctl(g, VFIO_GROUP_SET_CONTAINER, s32Arg(p, iommufd.fd));
    // A kernel user put the group in a domain of its own: iommufd cannot take the DMA ownership.
    const ig = kernel.iommu.deviceGroup(vdev.dev)!;
    const domain = kernel.iommu.iommuPagingDomainAlloc(ig.firstDev());
    kernel.iommu.iommuAttachGroup(domain, ig);
    const name = strArg(p, DMAT0.name);
    const err = refusal(() => p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, name));
    expect(err).toMatchObject({ code: "EBUSY", fn: "__iommu_take_dma_ownership" });
    // Nothing stayed bound or open, and the device's registration reference was given back.
    expect(vdev.openCount).toBe(0);
    expect(vdev.iommufdDevice).toBeNull();
    expect(vdev.refcount).toBe(1);
    expect(ig.owner).toBeNull();
    kernel.iommu.iommuDetachGroup(domain, ig);
    kernel.iommu.iommuDomainFree(domain);
    p.close(p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, name));
  });
});

// ---------------------------------------------------------------------------------------------
// §4.3 The cdev (and the first open both paths share)

describe("§4.3 device cdev (device_cdev.c, vfio_main.c)", () => {
  describe("BIND_IOMMUFD whose argsz runs past the caller's mapping", () => {
    // The struct sits in the last 24 bytes of a page whose successor is unmapped.
    const w = boot();
    const { p } = w;
    const vdev = vdevOf(w, DMAT0);
    const iommufd = IommuFd.open(p);
    const cdev = p.open(cdevPath(p, DMAT0), O_RDWR);
    const va = p.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p.munmap(va + PAGE_SIZE, PAGE_SIZE);
    const at = va + PAGE_SIZE - vfio_device_bind_iommufd.size;
    const bind = (argsz: number) => {
      p.poke(
        at,
        vfio_device_bind_iommufd.encode({
          argsz,
          flags: 0,
          iommufd: iommufd.fd,
          out_devid: 0,
          token_uuid_ptr: 0n,
        }),
      );
      return p.ioctl(cdev, VFIO_DEVICE_BIND_IOMMUFD, at);
    };

    fcTest.prop([fc.integer({ min: vfio_device_bind_iommufd.size + 1, max: 2 * PAGE_SIZE })], {
      numRuns: 40,
    })("is EFAULT (copy_struct_from_user), and binds nothing", (argsz) => {
      expect(refusal(() => bind(argsz))).toMatchObject({
        code: "EFAULT",
        fn: "vfio_df_ioctl_bind_iommufd",
      });
      expect(vdev.openCount).toBe(0);
      expect(vdev.group!.cdevDeviceOpenCnt).toBe(0);
    });

    test("while the same struct with argsz 24 binds", () => {
      expect(bind(vfio_device_bind_iommufd.size)).toBe(0);
      expect(vdev.iommufdDevice).not.toBeNull();
      p.close(cdev);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// §4.4 / §5 Registration

/** The board with its SMMU not `dma-coherent`, vfio loaded and the test driver registered. */
function bootNonCoherentSmmu(): { kernel: Kernel; p: Process } {
  const dts = boards
    .virtLab({ ramSize: 0x4000_0000 })
    .replace(/(#iommu-cells = <0x1>;\s*)dma-coherent;/, "$1");
  const kernel = Kernel.boot(Soc.fromDeviceTree(dts), { cmdline: UNSAFE_INTERRUPTS });
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  kernel.drivers.registerDriver(coreTestDriver(kernel));
  return { kernel, p: kernel.spawn({ comm: "vmm" }) };
}

const probeFailed = (d: BoardDev) =>
  `${TEST_DRIVER} ${d.name}: probe with driver ${TEST_DRIVER} failed with error -22`;

/** The last kernel log line, without its timestamp. */
const lastLog = (kernel: Kernel) =>
  kernel
    .dmesg()
    .at(-1)
    ?.replace(/^\[[ .\d]+\] /, "");

describe("§4.4 registration (__vfio_register_dev)", () => {
  test("a device behind an IOMMU without IOMMU_CAP_CACHE_COHERENCY does not register: probe EINVAL", () => {
    const { kernel, p } = bootNonCoherentSmmu();
    // The SMMU did take the device: it has its IOMMU group, so the group step cannot refuse it.
    expect(sysfsIommuGroupGet(p, DMAT0)).toBeGreaterThanOrEqual(0);
    bindTest({ p }, DMAT0);
    expect(lastLog(kernel)).toBe(probeFailed(DMAT0));
    expect(() => p.readlink(`/sys/bus/platform/devices/${DMAT0.name}/driver`)).toThrowErrno(
      "ENOENT",
    );
    // The group made for it went again, with its node; no cdev was added.
    expect(vfioNodes(p)).toEqual(["vfio"]);
    expect(vfioDevs(p)).toEqual([]);
    expect(vfioOf(kernel).groupList).toEqual([]);
    expect(vfioOf(kernel).deviceIda.size).toBe(0);
  });
});

describe("§5 no-IOMMU (vfio_main.c, group.c)", () => {
  test("without CONFIG_VFIO_GROUP, a device without an IOMMU (no-IOMMU mode off) does not register: probe EINVAL", () => {
    const w = coreSetup({ config: { CONFIG_VFIO_GROUP: false }, bind: [DMAT1] });
    const { kernel, p } = w;
    expect(lastLog(kernel)).toBe(probeFailed(DMAT1));
    expect(vfioDevs(p)).toEqual([]);
    // The same build takes a device behind the SMMU.
    bindTest(w, DMAT0);
    expect(vfioDevs(p)).toEqual(["vfio0"]);
  });
});

// ---------------------------------------------------------------------------------------------
// §6 The device fd

/** The DMA engine's cdev, bound to an iommufd: a device fd with access granted. */
function boundCdev() {
  const w = boot();
  const iommufd = IommuFd.open(w.p);
  const device = VfioDevice.openCdev(w.p, cdevPath(w.p, DMAT0));
  device.bindIommufd(iommufd);
  return { ...w, device };
}

describe("§6.5 VFIO_DEVICE_FEATURE (vfio_ioctl_device_feature)", () => {
  const w = boundCdev();
  const feature = (argsz: number, flags: number) => {
    w.p.poke(w.arg, new Uint8Array(new Uint32Array([argsz, flags]).buffer));
    return w.p.ioctl(w.device.fd, VFIO_DEVICE_FEATURE, w.arg);
  };
  const ops = [VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_SET, VFIO_DEVICE_FEATURE_PROBE];

  fcTest.prop([fc.subarray(ops), fc.integer({ min: 8, max: 64 })])(
    "MIG_PRECOPY_INFOv2 on a device without VFIO_MIGRATION_PRE_COPY is EINVAL, whatever GET/SET/PROBE",
    (bits, argsz) => {
      const flags = bits.reduce((a, b) => a | b, VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2);
      const err = refusal(() => feature(argsz, flags));
      expect(err.code).toBe("EINVAL");
      // GET|SET without PROBE is the header's refusal; every other combination the feature's.
      const both = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET;
      expect(err.fn).toBe(
        (flags & both) === both && !(flags & VFIO_DEVICE_FEATURE_PROBE)
          ? "vfio_ioctl_device_feature"
          : "vfio_ioctl_device_feature_migration_precopy_info_v2",
      );
    },
  );
});
