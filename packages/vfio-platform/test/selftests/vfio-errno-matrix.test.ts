/**
 * The rows of reference/vfio.md's errno matrix (§4.3, §6.2, §6.6) that need a full VFIO bus
 * driver — a module that can be going away under an open cdev, the driver's own info ioctls,
 * its mmap — driven from user space on the board with vfio-platform and held to the errno
 * Linux 7.3 returns (drivers/vfio/vfio_main.c, drivers/vfio/platform/vfio_platform_common.c).
 * packages/vfio-core/test/ERRNO-COVERAGE.md lists every row of those sections and where each
 * one is tested; the rest of the audit is packages/vfio-core/test/vfio-errno-matrix.test.ts.
 *
 * One situation needs the kernel in a state user space reaches only by racing a removal: the
 * VMM binds while `rmmod vfio_platform` waits in vfio_unregister_group_dev() for its cdev.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { IommuFd } from "@vfio-lab/iommufd";
import { MAP_SHARED, PROT_READ, PROT_WRITE, SysError } from "@vfio-lab/kernel";
import { expectErrno } from "@vfio-lab/kernel/testing";
import {
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  vfio_device_info,
  vfio_irq_info,
} from "@vfio-lab/kernel/uapi";
import { VfioDevice } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import { VFIO_PLATFORM, VFIO_PLATFORM_MODULE, vfioPlatformModule } from "../../src/index.js";
import { dmesgText, sysfsWrite } from "../../src/testing/index.js";
import { boot, cdevPath, DMA_TEST, PAGE_SIZE, vdevOf } from "./fixture.js";

// ---------------------------------------------------------------------------------------------
// §4.3 The cdev (and the first open both paths share)

describe("§4.3 device cdev (device_cdev.c, vfio_main.c)", () => {
  test("BIND_IOMMUFD while the bus driver's module is going away is ENODEV", () => {
    const { kernel, p } = boot();
    const vdev = vdevOf(kernel, DMA_TEST);
    const iommufd = IommuFd.open(p);
    const device = VfioDevice.openCdev(p, cdevPath(p, DMA_TEST));
    kernel.printk.clear();
    // rmmod: the module is GOING and its exit() waits in vfio_unregister_group_dev() for the
    // open cdev file; the VMM binds it meanwhile, then gives it up.
    let err: unknown = null;
    kernel.soc.clock.schedule(1_000, "vmm binds during rmmod", () => {
      try {
        device.bindIommufd(iommufd);
      } catch (e) {
        err = e;
      }
      device.close();
    });
    kernel.rmmod(VFIO_PLATFORM_MODULE);
    expect(err).toMatchObject({ code: "ENODEV", fn: "vfio_df_device_first_open" });
    expect(vdev.openCount).toBe(0);
    expect(vdev.iommufdDevice).toBeNull();
    // open_device never ran: vfio-platform resets at every open, and says so.
    expect(dmesgText(kernel).filter((l) => l.endsWith("VFIO: reset"))).toEqual([]);
    expect(kernel.modules.isLoaded(VFIO_PLATFORM_MODULE)).toBe(false);
    // No module reference leaked: the driver loads and unloads again.
    kernel.modprobe(vfioPlatformModule);
    kernel.rmmod(VFIO_PLATFORM_MODULE);
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

/** fw-cfg@9020000: a MEM resource of 0x18 bytes, the board's one region that is not a page. */
const FW_CFG = { bus: "platform", name: "9020000.fw-cfg" } as const;

describe("§6.6 mmap (vfio_platform_mmap)", () => {
  test("mmap of a region without VFIO_REGION_INFO_FLAG_MMAP is EINVAL, and maps nothing", () => {
    // fw-cfg sits behind no IOMMU and has no reset module: no-IOMMU mode, reset_required=0.
    const { p, admin } = boot({
      cmdline: "vfio.enable_unsafe_noiommu_mode=1",
      resetRequired: false,
      bind: [],
    });
    const dir = `/sys/bus/${FW_CFG.bus}/devices/${FW_CFG.name}`;
    sysfsWrite(admin, `${dir}/driver_override`, VFIO_PLATFORM);
    try {
      sysfsWrite(admin, `${dir}/driver/unbind`, FW_CFG.name);
    } catch (e) {
      if (!SysError.isInstance(e) || e.code !== "ENOENT") throw e;
    }
    sysfsWrite(admin, `/sys/bus/${FW_CFG.bus}/drivers_probe`, FW_CFG.name);
    const entry = p.readdir(`${dir}/vfio-dev`).find((e) => e.startsWith("noiommu-vfio"))!;
    const device = VfioDevice.openCdev(p, `/dev/vfio/devices/${entry}`);
    device.bindIommufd(IommuFd.open(p));
    const region = device.regionInfo(0);
    expect(region.flags).toBe(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
    expect(region.size).toBe(0x18n);
    const maps = p.readFile(`/proc/${p.pid}/maps`);
    for (const prot of [PROT_READ, PROT_READ | PROT_WRITE]) {
      const err = expectErrno(() => p.mmap(0, PAGE_SIZE, prot, MAP_SHARED, device.fd, 0), "EINVAL");
      expect(err.fn).toBe("vfio_platform_mmap");
    }
    expect(p.readFile(`/proc/${p.pid}/maps`)).toBe(maps);
    // The region is still there for read(): only mapping it is refused.
    expect(device.readRegion(0, 0, 4)).toHaveLength(4);
    expect(region.flags & VFIO_REGION_INFO_FLAG_MMAP).toBe(0);
  });
});
