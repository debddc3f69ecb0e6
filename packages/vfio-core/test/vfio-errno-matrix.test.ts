/**
 * The rows of reference/vfio.md's errno matrix (§4 state machines, §5 no-IOMMU, §6 device fd,
 * §10) that no other suite of the package exercised, each driven from user space on the board
 * and held to the errno Linux 7.3 returns (drivers/vfio/*.c, drivers/vfio/platform/*.c,
 * drivers/iommu/iommu.c). ERRNO-COVERAGE.md beside this file lists every row of those sections
 * and where each one is tested; the test names here say the situation and the errno, in the
 * order of that table.
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
  MAP_SHARED,
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
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  vfio_device_bind_iommufd,
  vfio_device_info,
  vfio_irq_info,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { VfioDevice } from "../src/user/index.js";
import { vfioOf } from "../src/vfio-main.js";
import { vfioIommuType1Module, vfioModule } from "../src/vfio-modules.js";
import {
  type BoardDevice,
  bindToTestDriver,
  boot,
  cdevPath,
  DMA_TEST,
  DMA_TEST_NOIOMMU,
  sysfsIommuGroupGet,
  UNSAFE_INTERRUPTS,
  vdevOf,
} from "./fixture.js";
import { VFIO_LAB_TEST, VFIO_LAB_TEST_MODULE, vfioLabTestModule } from "./test-bus-driver.js";

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
    const { kernel, p } = boot();
    const path = `/dev/vfio/${sysfsIommuGroupGet(p, DMA_TEST)}`;
    const group = vdevOf(kernel, DMA_TEST).group!;
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
    const { kernel, p } = boot();
    const vdev = vdevOf(kernel, DMA_TEST);
    const g = p.open(`/dev/vfio/${sysfsIommuGroupGet(p, DMA_TEST)}`, O_RDWR);
    const iommufd = IommuFd.open(p);
    p.ioctl(g, VFIO_GROUP_SET_CONTAINER, s32Arg(p, iommufd.fd));
    // A kernel user put the group in a domain of its own: iommufd cannot take the DMA ownership.
    const ig = kernel.iommu.deviceGroup(vdev.dev)!;
    const domain = kernel.iommu.iommuPagingDomainAlloc(ig.firstDev());
    kernel.iommu.iommuAttachGroup(domain, ig);
    const name = strArg(p, DMA_TEST.name);
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
  test("BIND_IOMMUFD while the bus driver's module is going away is ENODEV", () => {
    const { kernel, p } = boot();
    const vdev = vdevOf(kernel, DMA_TEST);
    const iommufd = IommuFd.open(p);
    const device = VfioDevice.openCdev(p, cdevPath(p, DMA_TEST));
    // rmmod: the module is GOING and its exit() waits in vfio_unregister_group_dev() for the
    // open cdev file; the VMM binds it meanwhile, then gives it up.
    let err: SysError | null = null;
    kernel.soc.clock.schedule(1_000, "vmm binds during rmmod", () => {
      err = refusal(() => device.bindIommufd(iommufd));
      device.close();
    });
    kernel.rmmod(VFIO_LAB_TEST_MODULE);
    expect(err).toMatchObject({ code: "ENODEV", fn: "vfio_df_device_first_open" });
    expect(vdev.openCount).toBe(0);
    expect(vdev.iommufdDevice).toBeNull();
    expect(vdev.resets).toBe(0);
    expect(kernel.modules.isLoaded(VFIO_LAB_TEST_MODULE)).toBe(false);
    // No module reference leaked: the driver loads and unloads again.
    kernel.modprobe(vfioLabTestModule);
    kernel.rmmod(VFIO_LAB_TEST_MODULE);
  });

  describe("BIND_IOMMUFD whose argsz runs past the caller's mapping", () => {
    // The struct sits in the last 24 bytes of a page whose successor is unmapped.
    const { kernel, p } = boot();
    const vdev = vdevOf(kernel, DMA_TEST);
    const iommufd = IommuFd.open(p);
    const cdev = p.open(cdevPath(p, DMA_TEST), O_RDWR);
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

/** The board with its SMMU not `dma-coherent`, and the VFIO modules loaded as boot() loads them. */
function bootNonCoherentSmmu(): { kernel: Kernel; p: Process } {
  const dts = boards
    .virtLab({ ramSize: 0x4000_0000 })
    .replace(/(#iommu-cells = <0x1>;\s*)dma-coherent;/, "$1");
  const kernel = Kernel.boot(Soc.fromDeviceTree(dts), { cmdline: UNSAFE_INTERRUPTS });
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  if (!kernel.modules.isLoaded("vfio_iommu_type1")) kernel.modprobe(vfioIommuType1Module);
  kernel.modprobe(vfioLabTestModule);
  return { kernel, p: kernel.spawn({ comm: "vmm" }) };
}

const probeFailed = (d: BoardDevice) =>
  `${VFIO_LAB_TEST} ${d.name}: probe with driver ${VFIO_LAB_TEST} failed with error -22`;

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
    expect(sysfsIommuGroupGet(p, DMA_TEST)).toBeGreaterThanOrEqual(0);
    bindToTestDriver(p, DMA_TEST);
    expect(lastLog(kernel)).toBe(probeFailed(DMA_TEST));
    expect(() => p.readlink(`/sys/bus/platform/devices/${DMA_TEST.name}/driver`)).toThrowErrno(
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
    const { kernel, p } = boot({
      config: { CONFIG_VFIO_GROUP: false },
      bind: [DMA_TEST_NOIOMMU],
    });
    expect(lastLog(kernel)).toBe(probeFailed(DMA_TEST_NOIOMMU));
    expect(vfioDevs(p)).toEqual([]);
    // The same build takes a device behind the SMMU.
    bindToTestDriver(p, DMA_TEST);
    expect(vfioDevs(p)).toEqual(["vfio0"]);
  });
});

// ---------------------------------------------------------------------------------------------
// §6 The device fd

/** The DMA engine's cdev, bound to an iommufd: a device fd with access granted. */
function boundCdev() {
  const b = boot();
  const iommufd = IommuFd.open(b.p);
  const device = VfioDevice.openCdev(b.p, cdevPath(b.p, DMA_TEST));
  device.bindIommufd(iommufd);
  return { ...b, device, arg: b.p.malloc(PAGE_SIZE) };
}

describe("§6.2 info ioctls (vfio_platform_ioctl)", () => {
  const w = boundCdev();
  /** The ioctl with `argsz` and 0xaa everywhere else; the 32 bytes it leaves behind. */
  const call = (request: number, argsz: number) => {
    w.p.poke(w.arg, new Uint8Array(32).fill(0xaa));
    w.p.poke(w.arg, new Uint8Array(new Uint32Array([argsz]).buffer));
    w.p.poke(w.arg + 8, new Uint8Array(4)); // index 0 for GET_IRQ_INFO
    return w.p.ioctl(w.device.fd, request, w.arg);
  };
  const after = () => w.p.peek(w.arg + 4, 28);

  fcTest.prop([fc.integer({ min: 0, max: vfio_device_info.offsetofend("num_irqs") - 1 })])(
    "GET_INFO with argsz below 16 is EINVAL and writes nothing",
    (argsz) => {
      expect(() => call(VFIO_DEVICE_GET_INFO, argsz)).toThrowErrno("EINVAL");
      expect([...after()]).toEqual([0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0, 0, ...Array(20).fill(0xaa)]);
    },
  );

  fcTest.prop([fc.integer({ min: 0, max: vfio_irq_info.offsetofend("count") - 1 })])(
    "GET_IRQ_INFO with argsz below 16 is EINVAL and writes nothing",
    (argsz) => {
      expect(() => call(VFIO_DEVICE_GET_IRQ_INFO, argsz)).toThrowErrno("EINVAL");
      expect([...after()]).toEqual([0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0, 0, ...Array(20).fill(0xaa)]);
    },
  );

  test("argsz 16 is enough for both, and exactly 16 bytes come back", () => {
    expect(call(VFIO_DEVICE_GET_INFO, 16)).toBe(0);
    expect([...w.p.peek(w.arg + 16, 16)]).toEqual(Array(16).fill(0xaa));
    expect(call(VFIO_DEVICE_GET_IRQ_INFO, 16)).toBe(0);
    expect([...w.p.peek(w.arg + 16, 16)]).toEqual(Array(16).fill(0xaa));
  });
});

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

/** fw-cfg@9020000: a MEM resource of 0x18 bytes, the board's one region that is not a page. */
const FW_CFG = { bus: "platform", name: "9020000.fw-cfg" } as const;

describe("§6.6 mmap (vfio_platform_mmap)", () => {
  test("mmap of a region without VFIO_REGION_INFO_FLAG_MMAP is EINVAL, and maps nothing", () => {
    // Emulated-IOMMU registration: the device has no IOMMU and does no DMA.
    const { p } = boot({ emulated: true, bind: [] });
    const dir = `/sys/bus/${FW_CFG.bus}/devices/${FW_CFG.name}`;
    p.writeFile(`${dir}/driver_override`, VFIO_LAB_TEST);
    try {
      p.writeFile(`${dir}/driver/unbind`, FW_CFG.name);
    } catch (e) {
      if (!SysError.isInstance(e) || e.code !== "ENOENT") throw e;
    }
    p.writeFile(`/sys/bus/${FW_CFG.bus}/drivers_probe`, FW_CFG.name);
    const entry = p.readdir(`${dir}/vfio-dev`).find((e) => e.startsWith("vfio"))!;
    const device = VfioDevice.openCdev(p, `/dev/vfio/devices/${entry}`);
    device.bindIommufd(IommuFd.open(p));
    const region = device.regionInfo(0);
    expect(region.flags).toBe(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
    expect(region.size).toBe(0x18n);
    const maps = p.readFile(`/proc/${p.pid}/maps`);
    for (const prot of [PROT_READ, PROT_READ | PROT_WRITE]) {
      const err = refusal(() => p.mmap(0, PAGE_SIZE, prot, MAP_SHARED, device.fd, 0));
      expect(err).toMatchObject({ code: "EINVAL", fn: "vfio_platform_mmap" });
    }
    expect(p.readFile(`/proc/${p.pid}/maps`)).toBe(maps);
    // The region is still there for read(): only mapping it is refused.
    expect(device.readRegion(0, 0, 4)).toHaveLength(4);
    expect(region.flags & VFIO_REGION_INFO_FLAG_MMAP).toBe(0);
  });
});
