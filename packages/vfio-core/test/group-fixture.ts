/**
 * The world of the group and container tests (group.test.ts, container.test.ts): a booted
 * board with iommufd and vfio loaded, a tiny VFIO bus driver bound through driver_override the
 * way a VMM's setup script binds vfio-platform, and the group and container ioctls issued as
 * user space issues them.
 *
 *   XGMAC        c010000.ethernet   IOMMU group 0
 *   DMA test 0   c030000.dma-test   IOMMU group 1
 *   PL330        c000000.dma        IOMMU group 2 (amba)
 *   DMA test 1   c031000.dma-test   no IOMMU: a no-IOMMU (noiommu-3) or emulated (3) group
 *
 * The shared-group cases boot MOCK_IOMMU_DTS (kernel/src/iommu/iommu-test-fixture.ts), whose
 * mock IOMMU puts `2000000.a` and `2001000.b` in one group; the model's kernel needs a GIC to
 * boot, so one is added, and the mock IOMMU driver is registered once the kernel is up. A
 * kernel DMA-API driver (`kdrv`, not driver_managed_dma) binds both devices at boot.
 *
 * The container's backend is a fake (`fakeBackend()`), registered by the test: the type1
 * backend is another file's business, and the fake shows exactly what container.c asks of one.
 */

import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import {
  decodeScalar,
  defineModule,
  encodeScalar,
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IommuDevice,
  IommuDomain,
  type IommuDomainOps,
  type IommuGroup,
  type IommuOps,
  Kernel,
  type KernelConfigInput,
  type PlatformDevice,
  PlatformDriver,
  type Process,
  SysError,
  s32,
  type Task,
  u32,
} from "@vfio-lab/kernel";
import {
  VFIO_CHECK_EXTENSION,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  vfio_group_status,
} from "@vfio-lab/kernel/uapi";
import { MOCK_IOMMU_DTS } from "../../kernel/src/iommu/iommu-test-fixture.js";
import { vfioRegisterIommuDriver, vfioUnregisterIommuDriver } from "../src/container.js";
import {
  vfioIommufdEmulatedAttachIoas,
  vfioIommufdEmulatedBind,
  vfioIommufdEmulatedDetachIoas,
  vfioIommufdEmulatedUnbind,
  vfioIommufdPhysicalAttachIoas,
  vfioIommufdPhysicalBind,
  vfioIommufdPhysicalDetachIoas,
  vfioIommufdPhysicalUnbind,
} from "../src/iommufd.js";
import {
  VfioCoreDevice,
  type VfioDeviceOps,
  type VfioGroupType,
  type VfioIommuDriverOps,
} from "../src/vfio.js";
import {
  type Vfio,
  vfioInitDevice,
  vfioOf,
  vfioPutDevice,
  vfioRegisterEmulatedIommuDev,
  vfioRegisterGroupDev,
  vfioUnregisterGroupDev,
} from "../src/vfio-main.js";
import { vfioModule } from "../src/vfio-modules.js";

export const TEST_DRIVER = "vfio-group-test";
export const XGMAC = "c010000.ethernet";
export const DMAT0 = "c030000.dma-test";
export const DMAT1 = "c031000.dma-test";
/** The mock board's two devices of one IOMMU group. */
export const MOCK_A = "2000000.a";
export const MOCK_B = "2001000.b";

/** `struct vfio_group_test_device`: what the tests look at. */
export class GroupTestDevice extends VfioCoreDevice {
  opens = 0;
  closes = 0;
}

export interface TestDriverOptions {
  /** vfio_register_emulated_iommu_dev() instead of vfio_register_group_dev(). */
  readonly emulated?: boolean;
  /** The driver's `match` (GET_DEVICE_FD name matching); dev_name() without one. */
  readonly match?: (vdev: GroupTestDevice, name: string) => number;
  /** An `open_device` that refuses. */
  readonly openError?: SysError;
}

function testOps(opts: TestDriverOptions): VfioDeviceOps<GroupTestDevice> {
  const iommufdOps = opts.emulated
    ? {
        bindIommufd: vfioIommufdEmulatedBind,
        unbindIommufd: vfioIommufdEmulatedUnbind,
        attachIoas: vfioIommufdEmulatedAttachIoas,
        detachIoas: vfioIommufdEmulatedDetachIoas,
        dmaUnmap: () => {},
      }
    : {
        bindIommufd: vfioIommufdPhysicalBind,
        unbindIommufd: vfioIommufdPhysicalUnbind,
        attachIoas: vfioIommufdPhysicalAttachIoas,
        detachIoas: vfioIommufdPhysicalDetachIoas,
      };
  return {
    name: TEST_DRIVER,
    ...iommufdOps,
    ...(opts.match ? { match: opts.match } : {}),
    openDevice: (vdev) => {
      if (opts.openError) throw opts.openError;
      vdev.opens++;
    },
    closeDevice: (vdev) => {
      vdev.closes++;
    },
    ioctl: (_vdev, _current, cmd) => {
      throw new SysError("ENOTTY", "vfio_group_test_ioctl", `cmd 0x${(cmd >>> 0).toString(16)}`);
    },
  };
}

/** The bus driver: probe registers the VFIO device, remove unregisters it. */
export function testDriver(kernel: Kernel, opts: TestDriverOptions = {}): PlatformDriver {
  const ops = testOps(opts);
  return new PlatformDriver({
    name: TEST_DRIVER,
    driverManagedDma: true,
    probe: (pdev: PlatformDevice) => {
      const vdev = vfioInitDevice(new GroupTestDevice(kernel, pdev, ops));
      try {
        if (opts.emulated) vfioRegisterEmulatedIommuDev(vdev);
        else vfioRegisterGroupDev(vdev);
      } catch (e) {
        vfioPutDevice(vdev);
        throw e;
      }
      pdev.driverData = vdev;
    },
    remove: (pdev: PlatformDevice) => {
      const vdev = pdev.driverData as GroupTestDevice;
      vfioUnregisterGroupDev(vdev);
      vfioPutDevice(vdev);
    },
  });
}

/** A GIC, which the model's kernel needs to boot, for the mock-IOMMU board. */
const GIC_NODE = `\tgic: intc@8000000 {
\t\treg = <0x0 0x8000000 0x0 0x10000 0x0 0x80a0000 0x0 0xf60000>;
\t\tcompatible = "arm,gic-v3";
\t\tinterrupt-controller;
\t\t#interrupt-cells = <0x3>;
\t};
};
`;

/**
 * The mock IOMMU of iommu.test.ts as a driver of the full kernel: one group for every device
 * behind it (generic_single_device_group()), domains that translate nothing, and
 * IOMMU_CAP_CACHE_COHERENCY so VFIO accepts its devices.
 */
function registerMockIommu(kernel: Kernel): void {
  const core = kernel.iommu;
  const hw = kernel.drivers.findDevice("platform", "1000000.iommu");
  if (!hw) throw new Error("no mock IOMMU device");
  const iommu = new IommuDevice(hw);
  const domainOps: IommuDomainOps = {
    attachDev: () => {},
    mapPages: () => {},
    unmapPages: () => 0,
  };
  const ops: IommuOps = {
    name: "mock",
    identityDomain: new IommuDomain(IOMMU_DOMAIN_IDENTITY, domainOps),
    blockedDomain: new IommuDomain(IOMMU_DOMAIN_BLOCKED, domainOps),
    defaultDomainOps: domainOps,
    capable: (_dev, cap) => cap === IOMMU_CAP_CACHE_COHERENCY,
    probeDevice: () => iommu,
    deviceGroup: (dev) => core.genericSingleDeviceGroup(dev),
    ofXlate: (dev, args) => core.iommuFwspecAddIds(dev, args),
    domainAllocPaging: () => {
      const d = new IommuDomain(IOMMU_DOMAIN_UNMANAGED, domainOps);
      d.pgsizeBitmap = 0x1000;
      d.geometry.apertureEnd = 2 ** 32 - 1;
      return d;
    },
  };
  core.iommuDeviceRegister(iommu, ops, hw);
}

/** A kernel DMA-API driver for the mock devices (binding it claims the group for the kernel). */
export const KDRV = "kdrv";
function kernelDmaDriver(): PlatformDriver {
  return new PlatformDriver({
    name: KDRV,
    ofMatchTable: [{ compatible: "vfio-lab,test-a" }, { compatible: "vfio-lab,test-b" }],
    probe: () => {},
  });
}

export interface GroupWorld {
  readonly soc: Soc;
  readonly kernel: Kernel;
  readonly vfio: Vfio;
  /** The VMM. */
  readonly p: Process;
  /** Scratch user memory for ioctl arguments (one page). */
  readonly arg: number;
}

export interface GroupWorldOptions {
  readonly config?: KernelConfigInput;
  /** vfio.enable_unsafe_noiommu_mode (default off). */
  readonly noiommu?: boolean;
  /** Boot the mock-IOMMU board (two devices in one group) instead of virtLab. */
  readonly mock?: boolean;
  readonly driver?: TestDriverOptions;
  /** Bind these devices to the test driver (default: none). */
  readonly bind?: readonly string[];
}

/** Boots the board, loads iommufd and vfio, registers the test driver and binds it. */
export function groupSetup(opts: GroupWorldOptions = {}): GroupWorld {
  const dts = opts.mock
    ? MOCK_IOMMU_DTS.replace(/};\s*$/, GIC_NODE)
    : boards.virtLab({ ramSize: 0x4000_0000 });
  const soc = Soc.fromDeviceTree(dts);
  const cmdline = [
    "iommufd.allow_unsafe_interrupts=1",
    opts.noiommu ? "vfio.enable_unsafe_noiommu_mode=1" : "",
  ]
    .filter((s) => s !== "")
    .join(" ");
  const kernel = Kernel.boot(soc, { cmdline, config: opts.config ?? {} });
  if (opts.mock) {
    registerMockIommu(kernel);
    kernel.drivers.registerDriver(kernelDmaDriver());
  }
  kernel.modprobe(iommufdModule);
  kernel.modprobe(vfioModule);
  // modprobe brings vfio_iommu_type1 along (MODULE_SOFTDEP); these tests are about vfio itself,
  // so the container starts with no type1 backend, as after `insmod vfio.ko` (type1 has its own).
  if (kernel.modules.isLoaded("vfio_iommu_type1")) kernel.rmmod("vfio_iommu_type1");
  kernel.drivers.registerDriver(testDriver(kernel, opts.driver));
  const p = kernel.spawn({ comm: "vmm" });
  const w = { soc, kernel, vfio: vfioOf(kernel), p, arg: p.malloc(PAGE_SIZE) };
  for (const name of opts.bind ?? []) bindTest(w, name);
  return w;
}

/** driver_override, unbind from the current driver, drivers_probe — as a VMM's setup script. */
export function bindTest(w: GroupWorld, name: string): void {
  const dir = `/sys/bus/platform/devices/${name}`;
  w.p.writeFile(`${dir}/driver_override`, TEST_DRIVER);
  unbind(w, name);
  w.p.writeFile("/sys/bus/platform/drivers_probe", name);
}

/** echo <dev> > /sys/bus/platform/devices/<dev>/driver/unbind (nothing when unbound). */
export function unbind(w: GroupWorld, name: string): void {
  const dir = `/sys/bus/platform/devices/${name}`;
  try {
    w.p.readlink(`${dir}/driver`);
  } catch {
    return;
  }
  w.p.writeFile(`${dir}/driver/unbind`, name);
}

/** The test device registered for `name`. */
export function vdevOf(w: GroupWorld, name: string): GroupTestDevice {
  const dev = w.kernel.drivers.findDevice("platform", name);
  if (!(dev?.driverData instanceof GroupTestDevice)) throw new Error(`${name} is not bound`);
  return dev.driverData;
}

/** The IOMMU group of a device, as the IOMMU core holds it. */
export function iommuGroupOf(w: GroupWorld, name: string): IommuGroup {
  const dev = w.kernel.drivers.findDevice("platform", name);
  const group = dev ? w.kernel.iommu.deviceGroup(dev) : null;
  if (!group) throw new Error(`${name} has no IOMMU group`);
  return group;
}

/** dmesg text without the timestamps. */
export function dmesg(w: GroupWorld): string[] {
  return w.kernel.dmesg().map((l) => l.replace(/^\[[ \d.]+\] /, ""));
}

/** VFIO_GROUP_GET_STATUS with `argsz` (default 8) → flags. */
export function groupStatus(w: GroupWorld, groupFd: number, argsz = 8): number {
  w.p.poke(w.arg, vfio_group_status.encode({ argsz, flags: 0 }));
  w.p.ioctl(groupFd, VFIO_GROUP_GET_STATUS, w.arg);
  return vfio_group_status.decode(w.p.peek(w.arg, vfio_group_status.size)).flags;
}

/** VFIO_GROUP_SET_CONTAINER(&fd). */
export function setContainer(w: GroupWorld, groupFd: number, fd: number): void {
  w.p.poke(w.arg, encodeScalar(s32, fd));
  w.p.ioctl(groupFd, VFIO_GROUP_SET_CONTAINER, w.arg);
}

/** VFIO_GROUP_GET_DEVICE_FD(name) → the device fd. */
export function getDeviceFd(w: GroupWorld, groupFd: number, name: string): number {
  w.p.poke(w.arg, new TextEncoder().encode(`${name}\0`));
  return w.p.ioctl(groupFd, VFIO_GROUP_GET_DEVICE_FD, w.arg);
}

/** VFIO_CHECK_EXTENSION(ext) on a container. */
export function checkExtension(w: GroupWorld, fd: number, ext: number): number {
  return w.p.ioctl(fd, VFIO_CHECK_EXTENSION, ext);
}

/** The backend's per-container state. */
export interface FakeData {
  readonly type: number;
  readonly groups: IommuGroup[];
  readonly devices: VfioCoreDevice[];
  released: boolean;
}

export interface FakeBackendOptions {
  readonly name?: string;
  /** The types it offers (CHECK_EXTENSION answers 1, SET_IOMMU opens). Default TYPE1 and TYPE1v2. */
  readonly types?: readonly number[];
  readonly owner?: { readonly name: string };
  /** Refuse open() with this error. */
  readonly openError?: SysError;
  /** Refuse to attach this IOMMU group id. */
  readonly refuseGroup?: { readonly id: number; readonly error: SysError };
  /** Offer register_device/unregister_device, pin_pages/unpin_pages and dma_rw. */
  readonly deviceOps?: boolean;
}

/** A container backend that records what container.c asks of it. */
export interface FakeBackend extends VfioIommuDriverOps<FakeData> {
  /** Every call, in order ("open 3", "attach 1", "ioctl 0x3b65 3", …). */
  readonly log: string[];
  /** The instances open() made. */
  readonly instances: FakeData[];
}

export function fakeBackend(opts: FakeBackendOptions = {}): FakeBackend {
  const types = new Set(opts.types ?? [1, 3]);
  const log: string[] = [];
  const instances: FakeData[] = [];
  const backend: FakeBackend = {
    name: opts.name ?? "fake",
    ...(opts.owner ? { owner: opts.owner } : {}),
    log,
    instances,
    open(_current: Task, arg: number) {
      log.push(`open ${arg}`);
      if (opts.openError) throw opts.openError;
      const data: FakeData = { type: arg, groups: [], devices: [], released: false };
      instances.push(data);
      return data;
    },
    release(data) {
      log.push("release");
      data.released = true;
    },
    ioctl(data, _current, cmd, arg) {
      log.push(`ioctl ${data ? "data" : "null"} 0x${(cmd >>> 0).toString(16)} ${arg}`);
      if (cmd >>> 0 === VFIO_CHECK_EXTENSION) return types.has(arg) ? 1 : 0;
      throw new SysError("ENOTTY", "fake_ioctl", `cmd 0x${(cmd >>> 0).toString(16)}`);
    },
    attachGroup(data, group, type: VfioGroupType) {
      log.push(`attach ${group.id} type ${type}`);
      if (opts.refuseGroup?.id === group.id) throw opts.refuseGroup.error;
      data.groups.push(group);
    },
    detachGroup(data, group) {
      log.push(`detach ${group.id}`);
      data.groups.splice(data.groups.indexOf(group), 1);
    },
  };
  if (opts.deviceOps) {
    Object.assign(backend, {
      registerDevice(data: FakeData, vdev: VfioCoreDevice) {
        log.push(`register ${vdev.name}`);
        data.devices.push(vdev);
      },
      unregisterDevice(data: FakeData, vdev: VfioCoreDevice) {
        log.push(`unregister ${vdev.name}`);
        data.devices.splice(data.devices.indexOf(vdev), 1);
      },
      pinPages(_data: FakeData, group: IommuGroup, iova: bigint, npage: number, prot: number) {
        log.push(`pin ${group.id} 0x${iova.toString(16)} ${npage} ${prot}`);
        return Array.from({ length: npage }, (_, i) => 0x40000 + i);
      },
      unpinPages(_data: FakeData, iova: bigint, npage: number) {
        log.push(`unpin 0x${iova.toString(16)} ${npage}`);
      },
      dmaRw(_data: FakeData, _current: Task, iova: bigint, buf: Uint8Array, write: boolean) {
        log.push(`rw 0x${iova.toString(16)} ${buf.length} ${write ? "write" : "read"}`);
        if (!write) buf.fill(0x5a);
      },
    });
  }
  return backend;
}

/** Registers `backend` with the loaded vfio (what the type1 module's init does). */
export function registerBackend(w: GroupWorld, backend: FakeBackend): void {
  vfioRegisterIommuDriver(w.vfio, backend as VfioIommuDriverOps);
}

export function unregisterBackend(w: GroupWorld, backend: FakeBackend): void {
  vfioUnregisterIommuDriver(w.vfio, backend as VfioIommuDriverOps);
}

/** A kernel module to own a fake backend (try_module_get() needs a loaded module). */
export function fakeBackendModule(name = "vfio_fake_backend") {
  return defineModule<Kernel, readonly []>({ name, init: () => {}, exit: () => {} });
}

/** A u32 read back from user memory. */
export function peekU32(w: GroupWorld, va: number): number {
  return decodeScalar(w.p.peek(va, 4), 0, u32);
}
