/**
 * A minimal VFIO bus driver for the core's tests, the way a real one (vfio-platform) is built:
 * a platform driver with `driver_managed_dma` that binds only through driver_override, and on
 * probe registers a `VfioCoreDevice` with the physical iommufd operations of iommufd.ts. Its
 * device protocol is the least a VMM needs to see a device: VFIO_DEVICE_GET_INFO (one region,
 * no IRQs), read/write/mmap that do nothing, and a record of open_device/close_device calls.
 *
 * Behind the SMMU the engine is `c030000.dma-test` (IOMMU group 1); `c031000.dma-test` has no
 * IOMMU, so it registers only as a no-IOMMU device (vfio.enable_unsafe_noiommu_mode=1).
 */

import { boards, Soc } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import {
  copyFromUser,
  copyToUser,
  Kernel,
  type KernelConfigInput,
  type PlatformDevice,
  PlatformDriver,
  type Process,
  SysError,
  type Task,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_FLAGS_PLATFORM,
  VFIO_DEVICE_GET_INFO,
  vfio_device_info,
} from "@vfio-lab/kernel/uapi";
import {
  vfioIommufdPhysicalAttachIoas,
  vfioIommufdPhysicalBind,
  vfioIommufdPhysicalDetachIoas,
  vfioIommufdPhysicalPasidAttachIoas,
  vfioIommufdPhysicalPasidDetachIoas,
  vfioIommufdPhysicalUnbind,
} from "../src/iommufd.js";
import { VfioCoreDevice, type VfioDeviceOps } from "../src/vfio.js";
import {
  vfioInitDevice,
  vfioPutDevice,
  vfioRegisterGroupDev,
  vfioUnregisterGroupDev,
} from "../src/vfio-main.js";
import { vfioModule } from "../src/vfio-modules.js";

export const TEST_DRIVER = "vfio-cdev-test";
/** The engine behind the SMMU (IOMMU group 1). */
export const DMAT0 = { name: "c030000.dma-test", group: 1, base: 0x0c03_0000 } as const;
/** The engine the SMMU refuses (no IOMMU). */
export const DMAT1 = { name: "c031000.dma-test", group: null, base: 0x0c03_1000 } as const;

/** `struct vfio_cdev_test_device`: the core device plus what the tests look at. */
export class CdevTestDevice extends VfioCoreDevice {
  opens = 0;
  closes = 0;
}

/** offsetofend(struct vfio_device_info, num_irqs) */
const INFO_MINSZ = vfio_device_info.offsetofend("num_irqs");

/** The driver's VFIO_DEVICE_GET_INFO, as vfio-platform answers it (copies back minsz). */
function getInfo(current: Task, arg: number): number {
  const fn = "vfio_cdev_test_ioctl";
  const info = vfio_device_info.decodePartial(copyFromUser(current.mm, arg, INFO_MINSZ, fn));
  if (info.argsz < INFO_MINSZ) throw new SysError("EINVAL", fn, `argsz ${info.argsz}`);
  info.flags = VFIO_DEVICE_FLAGS_PLATFORM;
  info.num_regions = 1;
  info.num_irqs = 0;
  copyToUser(current.mm, arg, vfio_device_info.encode(info).subarray(0, INFO_MINSZ), fn);
  return 0;
}

export interface TestDriverOptions {
  /** Offer pasid_attach_ioas / pasid_detach_ioas (vfio-pci does; vfio-platform does not). */
  readonly pasid?: boolean;
}

export function cdevTestOps(opts: TestDriverOptions = {}): VfioDeviceOps<CdevTestDevice> {
  return {
    name: TEST_DRIVER,
    bindIommufd: vfioIommufdPhysicalBind,
    unbindIommufd: vfioIommufdPhysicalUnbind,
    attachIoas: vfioIommufdPhysicalAttachIoas,
    detachIoas: vfioIommufdPhysicalDetachIoas,
    ...(opts.pasid
      ? {
          pasidAttachIoas: vfioIommufdPhysicalPasidAttachIoas,
          pasidDetachIoas: vfioIommufdPhysicalPasidDetachIoas,
        }
      : {}),
    openDevice: (vdev) => {
      vdev.opens++;
    },
    closeDevice: (vdev) => {
      vdev.closes++;
    },
    ioctl: (_vdev, current, cmd, arg) => {
      if (cmd >>> 0 === VFIO_DEVICE_GET_INFO) return getInfo(current, arg);
      throw new SysError("ENOTTY", "vfio_cdev_test_ioctl", `cmd 0x${(cmd >>> 0).toString(16)}`);
    },
    read: () => 0,
    write: (_vdev, _current, _va, count) => count,
    mmap: () => {},
  };
}

/** The platform driver: probe registers the VFIO device, remove unregisters it. */
export function cdevTestDriver(kernel: Kernel, opts: TestDriverOptions = {}): PlatformDriver {
  const ops = cdevTestOps(opts);
  return new PlatformDriver({
    name: TEST_DRIVER,
    driverManagedDma: true,
    probe: (pdev: PlatformDevice) => {
      const vdev = vfioInitDevice(new CdevTestDevice(kernel, pdev, ops));
      try {
        vfioRegisterGroupDev(vdev);
      } catch (e) {
        vfioPutDevice(vdev);
        throw e;
      }
      pdev.driverData = vdev;
    },
    remove: (pdev: PlatformDevice) => {
      const vdev = pdev.driverData as CdevTestDevice;
      vfioUnregisterGroupDev(vdev);
      vfioPutDevice(vdev);
    },
  });
}

export interface CdevWorld {
  readonly soc: Soc;
  readonly kernel: Kernel;
  /** The VMM. */
  readonly p: Process;
  /** Scratch user memory for ioctl structs (one page). */
  readonly arg: number;
}

export interface CdevWorldOptions {
  readonly config?: KernelConfigInput;
  /** Extra kernel command line (iommufd.allow_unsafe_interrupts=1 is always there unless `safe`). */
  readonly cmdline?: string;
  /** Leave iommufd.allow_unsafe_interrupts off. */
  readonly safe?: boolean;
  readonly driver?: TestDriverOptions;
  /** Bind these engines to the test driver (default: DMAT0). */
  readonly bind?: readonly string[];
}

/** Boots the board, loads iommufd and vfio, registers the test driver and binds it. */
export function cdevSetup(opts: CdevWorldOptions = {}): CdevWorld {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const cmdline = [opts.safe ? "" : "iommufd.allow_unsafe_interrupts=1", opts.cmdline ?? ""]
    .filter((s) => s !== "")
    .join(" ");
  const kernel = Kernel.boot(soc, { cmdline, config: opts.config ?? {} });
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  // modprobe brings vfio_iommu_type1 along (MODULE_SOFTDEP); these tests are about vfio itself,
  // so the container starts with no type1 backend, as after `insmod vfio.ko` (type1 has its own).
  if (kernel.modules.isLoaded("vfio_iommu_type1")) kernel.rmmod("vfio_iommu_type1");
  kernel.drivers.registerDriver(cdevTestDriver(kernel, opts.driver));
  const p = kernel.spawn({ comm: "vmm" });
  for (const name of opts.bind ?? [DMAT0.name]) bindToTestDriver(p, name);
  return { soc, kernel, p, arg: p.malloc(4096) };
}

/** driver_override, unbind from the kernel driver, drivers_probe — as a VMM's setup script. */
export function bindToTestDriver(p: Process, name: string): void {
  const dir = `/sys/bus/platform/devices/${name}`;
  p.writeFile(`${dir}/driver_override`, TEST_DRIVER);
  let bound = true;
  try {
    p.readlink(`${dir}/driver`);
  } catch {
    bound = false;
  }
  if (bound) p.writeFile(`${dir}/driver/unbind`, name);
  p.writeFile("/sys/bus/platform/drivers_probe", name);
}

/** The test device registered for `name`. */
export function vdevOf(w: CdevWorld, name: string): CdevTestDevice {
  const dev = w.kernel.drivers.findDevice("platform", name);
  if (!(dev?.driverData instanceof CdevTestDevice)) throw new Error(`${name} is not bound`);
  return dev.driverData;
}
