/**
 * The driver core (drivers/base/core.c, init.c, platform.c's platform_bus_init(),
 * amba/bus.c's amba_init()): owns /sys/devices, /sys/bus and /sys/firmware/devicetree, the
 * platform and AMBA buses, the iomem resource tree and device/driver binding, and adds and
 * removes devices as device_add()/device_del() do.
 *
 * A device directory holds `uevent`, `of_node` (→ /sys/firmware/devicetree/base/…),
 * `subsystem` (→ /sys/bus/<bus>), `driver` once bound, `driver_override` on buses that have
 * it, and the bus's attributes (`modalias` on platform, `id` and `resource` on AMBA).
 *
 * Boot order, as Linux's initcalls run it: construct (driver_init(): devices, buses, the
 * platform bus; of_core_init(); postcore amba_init()), `populate()` (arch_initcall_sync
 * of_platform_default_populate_init()), drivers register (device_initcall), then
 * `lateInitcalls()` (deferred_probe_initcall(), then the amba-proxy stub driver).
 *
 * Caveat: no classes, device links, power/ directories or devt files; uevents are not sent.
 */

import type { DeviceTree, SystemBus } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { Sysfs } from "../fs/sysfs-api.js";
import { KERN_ERR, KERN_WARNING } from "../printk/levels.js";
import type { Printk } from "../printk/printk.js";
import type { KernelTrace } from "../trace/trace-bus.js";
import { AmbaDevice, AmbaDriver, ambaBusType, ambaProxyDriver, ambaReadPeriphid } from "./amba.js";
import {
  BUS_NOTIFY_ADD_DEVICE,
  BUS_NOTIFY_DEL_DEVICE,
  BUS_NOTIFY_REMOVED_DEVICE,
  Bus,
  type BusType,
} from "./bus.js";
import { type DelayedWorkClock, DriverBinding, negativeErrno } from "./dd.js";
import { Device, type DeviceContext } from "./device.js";
import { type DeviceDriver, driverRegister, driverUnregister } from "./driver.js";
import type { DmaConfigurator, IrqMapper } from "./hooks.js";
import { kobjectSynthUevent } from "./kobject-uevent.js";
import { ofAttachTreeSysfs, ofNodeSysfsPath } from "./of-kobj.js";
import { OfTree } from "./of-node.js";
import {
  OF_EARLY_DECLARED,
  type OfPlatformHost,
  ofMarkEarlyDeclared,
  ofPlatformDefaultPopulateInit,
  ofPlatformDeviceDestroy,
} from "./of-platform.js";
import {
  ofDeviceUevent,
  PLATFORM_DEVID_AUTO,
  PLATFORM_DEVID_NONE,
  type PlatformDevice,
  PlatformDriver,
  platformBusType,
} from "./platform.js";
import {
  formatResource,
  IORESOURCE_MEM,
  iomemShow,
  newIomemRoot,
  type Resource,
  releaseResource,
  requestResource,
} from "./resource.js";

export const SYS_DEVICES = "/sys/devices";

export interface DriverCoreOptions {
  readonly sysfs: Sysfs;
  readonly printk: Printk;
  readonly trace: KernelTrace;
  /** The SoC's system bus: the CPU side of ioremap(). */
  readonly bus: SystemBus;
  /** The device tree the bootloader passed. */
  readonly tree: DeviceTree;
  readonly irqMapper: IrqMapper;
  readonly dmaConfigurator: DmaConfigurator;
  /** The virtual clock, for the deferred-probe timeout work. */
  readonly clock?: DelayedWorkClock;
  /** `deferred_probe_timeout=` (s); default CONFIG_DRIVER_DEFERRED_PROBE_TIMEOUT = 10. */
  readonly deferredProbeTimeout?: number;
  /** CONFIG_SYMBOLIC_ERRNAME (default y): `%pe` prints `-ENXIO` rather than `-6`. */
  readonly symbolicErrname?: boolean;
  /** CONFIG_MODULES (default y). */
  readonly modules?: boolean;
}

export class DriverCore implements OfPlatformHost {
  readonly sysfs: Sysfs;
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly systemBus: SystemBus;
  /** The unflattened device tree (`of_root`). */
  readonly of: OfTree;
  /** `iomem_resource`. */
  readonly iomem: Resource = newIomemRoot();
  readonly binding: DriverBinding;
  readonly deviceContext: DeviceContext;
  readonly platformBus: Bus;
  readonly ambaBus: Bus;
  /** `platform_bus`: /sys/devices/platform. */
  readonly platformRoot: Device;
  private readonly modules: boolean;
  private readonly buses = new Map<string, Bus>();
  /** platform_devid_ida: the lowest free PLATFORM_DEVID_AUTO id. */
  private readonly autoIds = new Set<number>();
  private ambaProxy: AmbaDriver | null = null;

  constructor(opts: DriverCoreOptions) {
    this.sysfs = opts.sysfs;
    this.printk = opts.printk;
    this.trace = opts.trace;
    this.systemBus = opts.bus;
    this.modules = opts.modules ?? true;
    const dma = opts.dmaConfigurator;
    this.binding = new DriverBinding({
      sysfs: opts.sysfs,
      printk: opts.printk,
      trace: opts.trace,
      archTeardownDmaOps: (dev) => dma.archTeardownDmaOps?.(dev),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.deferredProbeTimeout !== undefined
        ? { deferredProbeTimeout: opts.deferredProbeTimeout }
        : {}),
      modules: this.modules,
    });
    const binding = this.binding;
    this.deviceContext = {
      printk: opts.printk,
      trace: opts.trace,
      systemBus: opts.bus,
      iomem: this.iomem,
      irqMapper: opts.irqMapper,
      symbolicErrname: opts.symbolicErrname ?? true,
      setDeferredProbeReason: (dev, reason) => binding.setDeferredProbeReason(dev, reason),
    };

    // driver_init(): devices_init(), buses_init(), firmware_init().
    this.sysfs.mkdir(SYS_DEVICES);
    this.sysfs.mkdir("/sys/bus");
    this.sysfs.mkdir("/sys/firmware");
    // of_core_init(): the tree under /sys/firmware/devicetree/base.
    this.of = new OfTree(opts.tree);
    ofAttachTreeSysfs(this.sysfs, this.of);
    // platform_bus_init(): the root device, then the bus.
    this.platformRoot = new Device(this.deviceContext, "platform");
    this.deviceAdd(this.platformRoot);
    this.platformBus = this.busRegister(platformBusType(dma));
    // amba_init() (postcore_initcall).
    this.ambaBus = this.busRegister(ambaBusType(dma));
  }

  /** drivers/base/bus.c: bus_register(). */
  busRegister(type: BusType): Bus {
    if (this.buses.has(type.name)) {
      throw new SysError("EEXIST", "bus_register", `bus ${type.name} is registered`);
    }
    const bus = new Bus({ sysfs: this.sysfs, printk: this.printk, binding: this.binding }, type);
    bus.register();
    this.buses.set(type.name, bus);
    return bus;
  }

  /** The registered bus of that name. */
  bus(name: string): Bus | undefined {
    return this.buses.get(name);
  }

  /** bus_find_device_by_name() on bus `busName`. */
  findDevice(busName: string, name: string): Device | undefined {
    return this.buses.get(busName)?.findDeviceByName(name);
  }

  /** The devices of a bus, in the order they were added. */
  devices(busName: string): readonly Device[] {
    return this.buses.get(busName)?.devices ?? [];
  }

  // -----------------------------------------------------------------------------------------
  // Devices

  /** drivers/base/core.c: dev_uevent() — the `KEY=value` lines `uevent` shows. */
  devUevent(dev: Device): string[] {
    // dev_uevent_filter(): only bus (or class) devices have a uevent environment.
    if (!dev.bus) return [];
    const env: string[] = [];
    if (dev.driver) env.push(`DRIVER=${dev.driver.name}`);
    if (dev.ofNode) env.push(...ofDeviceUevent(dev.ofNode));
    env.push(...(dev.bus.type.uevent?.(dev) ?? []));
    return env;
  }

  /**
   * drivers/base/core.c: device_add() — the sysfs directory under the parent (EEXIST for a
   * taken name), `uevent`, the `of_node` link, bus_add_device(), then bus_probe_device()
   * which binds a matching driver. Undone step by step when a step fails.
   */
  deviceAdd(dev: Device): void {
    this.binding.flushAfter(() => this.deviceAddLocked(dev));
  }

  private deviceAddLocked(dev: Device): void {
    const fn = "device_add";
    if (!dev.name) throw new SysError("EINVAL", fn, "device has no name");
    if (dev.registered) throw new SysError("EEXIST", fn, `${dev.name} is already added`);
    const parent = dev.parent;
    if (parent && !parent.registered) {
      throw new SysError("EINVAL", fn, `parent ${parent.name} of ${dev.name} is not registered`);
    }
    if (parent && dev.numaNode < 0) dev.numaNode = parent.numaNode;
    const dir = `${parent ? parent.kobjPath : SYS_DEVICES}/${dev.name}`;
    if (this.sysfs.exists(dir)) {
      this.printk.printk(KERN_WARNING, `sysfs: cannot create duplicate filename '${dir.slice(4)}'`);
      this.printk.printk(
        KERN_ERR,
        `kobject: kobject_add_internal failed for ${dev.name} with -EEXIST, don't try to register things with the same name in the same directory.`,
      );
      throw new SysError("EEXIST", "kobject_add_internal", dir);
    }
    this.sysfs.mkdir(dir, true);
    dev.kobjPath = dir;
    try {
      this.sysfs.createFile(`${dir}/uevent`, {
        mode: 0o644,
        show: () =>
          this.devUevent(dev)
            .map((l) => `${l}\n`)
            .join(""),
        store: (text) => {
          try {
            kobjectSynthUevent(this.printk, dir, text);
          } catch (e) {
            dev.log.err(`uevent: failed to send synthetic uevent: ${negativeErrno(e)}`);
            throw e;
          }
        },
      });
      if (dev.ofNode) {
        try {
          this.sysfs.symlink(`${dir}/of_node`, ofNodeSysfsPath(dev.ofNode));
        } catch (e) {
          dev.log.warn(`Error ${negativeErrno(e)} creating of_node link`);
        }
      }
      dev.bus?.addDevice(dev);
    } catch (e) {
      this.sysfs.remove(dir);
      dev.kobjPath = null;
      throw e;
    }
    dev.bus?.notify(dev, BUS_NOTIFY_ADD_DEVICE);
    dev.bus?.probeDevice(dev);
    parent?.children.push(dev);
  }

  /**
   * drivers/base/core.c: device_del() — the device is marked dead, leaves its parent, its
   * bus (which releases its driver) and the deferred list; its managed resources are freed
   * and its directory removed.
   */
  deviceDel(dev: Device): void {
    this.binding.flushAfter(() => {
      if (!dev.registered) throw new SysError("EINVAL", "device_del", `${dev.name} is not added`);
      dev.dead = true;
      dev.bus?.notify(dev, BUS_NOTIFY_DEL_DEVICE);
      const siblings = dev.parent?.children;
      if (siblings) {
        const i = siblings.indexOf(dev);
        if (i >= 0) siblings.splice(i, 1);
      }
      dev.bus?.removeDevice(dev);
      this.binding.driverDeferredProbeDel(dev);
      dev.devres.releaseAll();
      dev.bus?.notify(dev, BUS_NOTIFY_REMOVED_DEVICE);
      this.sysfs.remove(dev.kobjPath as string);
      dev.kobjPath = null;
    });
  }

  /** drivers/base/core.c: device_unregister(). */
  deviceUnregister(dev: Device): void {
    this.deviceDel(dev);
  }

  /**
   * drivers/amba/bus.c: amba_device_add() — claims the window in iomem (EBUSY on a
   * conflict), reads the PrimeCell IDs unless known (a failure only suppresses the uevent;
   * the match retries), then device_add().
   */
  ambaDeviceAdd(adev: AmbaDevice): void {
    if (requestResource(this.iomem, adev.res) !== 0) {
      throw new SysError("EBUSY", "request_resource", `${formatResource(adev.res)} is claimed`);
    }
    try {
      if (!adev.periphid && ambaReadPeriphid(adev) !== 0) adev.ueventSuppress = true;
      this.deviceAdd(adev);
    } catch (e) {
      releaseResource(adev.res);
      throw e;
    }
  }

  /**
   * drivers/base/platform.c: platform_device_add() — for devices not from the tree: the
   * name (`name`, `name.id` or `name.N.auto`), MEM resources claimed in iomem (named after
   * the device when unnamed; EBUSY "failed to claim resource"), then device_add().
   * Caveat: claims use request_resource() (no nesting into a containing window, as
   * insert_resource() would allow).
   */
  platformDeviceAdd(pdev: PlatformDevice): void {
    pdev.parent ??= this.platformRoot;
    pdev.bus = this.platformBus;
    let autoId: number | undefined;
    if (pdev.id === PLATFORM_DEVID_NONE) pdev.name = pdev.pdevName;
    else if (pdev.id === PLATFORM_DEVID_AUTO) {
      autoId = 0;
      while (this.autoIds.has(autoId)) autoId++;
      this.autoIds.add(autoId);
      pdev.name = `${pdev.pdevName}.${autoId}.auto`;
    } else pdev.name = `${pdev.pdevName}.${pdev.id}`;
    const claimed: Resource[] = [];
    const unwind = () => {
      for (const r of claimed.reverse()) releaseResource(r);
      if (autoId !== undefined) this.autoIds.delete(autoId);
    };
    for (const [i, r] of pdev.resources.entries()) {
      r.name ??= pdev.name;
      if (r.parent || r.type !== IORESOURCE_MEM) continue;
      if (requestResource(this.iomem, r) !== 0) {
        pdev.log.err(`failed to claim resource ${i}: ${formatResource(r)}`);
        unwind();
        throw new SysError("EBUSY", "platform_device_add", `resource ${i} is claimed`);
      }
      claimed.push(r);
    }
    try {
      this.deviceAdd(pdev);
    } catch (e) {
      unwind();
      throw e;
    }
  }

  /** drivers/base/platform.c: platform_device_unregister(). */
  platformDeviceUnregister(pdev: PlatformDevice): void {
    this.deviceDel(pdev);
    for (const r of pdev.resources) if (r.parent) releaseResource(r);
  }

  /** drivers/of/platform.c: of_platform_device_destroy() of one populated device. */
  ofPlatformDeviceDestroy(dev: Device): void {
    ofPlatformDeviceDestroy(dev, (d) => {
      this.deviceDel(d);
      if (d instanceof AmbaDevice) releaseResource(d.res);
    });
  }

  // -----------------------------------------------------------------------------------------
  // Drivers

  /**
   * platform_driver_register() / amba_driver_register(): the driver joins its bus and binds
   * to every matching device. EINVAL (an AMBA driver without probe), EBUSY (a driver of that
   * name is registered).
   */
  registerDriver(drv: PlatformDriver | AmbaDriver): void {
    if (drv instanceof AmbaDriver) {
      if (typeof drv.probe !== "function") {
        throw new SysError("EINVAL", "__amba_driver_register", `${drv.name} has no probe`);
      }
      drv.bus = this.ambaBus;
    } else if (drv instanceof PlatformDriver) {
      drv.bus = this.platformBus;
    } else {
      throw new SysError("EINVAL", "driver_register", "not a platform or AMBA driver");
    }
    this.binding.flushAfter(() => driverRegister(drv));
  }

  /** platform_driver_unregister() / amba_driver_unregister(): unbinds its devices first. */
  unregisterDriver(drv: DeviceDriver): void {
    this.binding.flushAfter(() => driverUnregister(drv));
  }

  // -----------------------------------------------------------------------------------------
  // Initcalls

  /**
   * drivers/of/platform.c: of_platform_default_populate_init() — after the early
   * OF_DECLARE'd nodes (GIC, fixed clocks) are marked populated.
   */
  populate(earlyDeclared = OF_EARLY_DECLARED): number {
    ofMarkEarlyDeclared(this.of, earlyDeclared, this.printk);
    return this.binding.flushAfter(() => ofPlatformDefaultPopulateInit(this));
  }

  /** drivers/base/dd.c: deferred_probe_initcall(). */
  deferredProbeInitcall(): void {
    this.binding.deferredProbeInitcall();
  }

  /** drivers/amba/bus.c: amba_stub_drv_init() — the `amba-proxy` driver, with modules. */
  ambaStubDrvInit(): void {
    if (!this.modules || this.ambaProxy) return;
    this.ambaProxy = ambaProxyDriver();
    this.registerDriver(this.ambaProxy);
  }

  /** late_initcall deferred_probe_initcall(), then late_initcall_sync amba_stub_drv_init(). */
  lateInitcalls(): void {
    this.deferredProbeInitcall();
    this.ambaStubDrvInit();
  }

  /** drivers/base/dd.c: driver_deferred_probe_check_state(), for providers' consumers. */
  driverDeferredProbeCheckState(dev: Device): number {
    return this.binding.driverDeferredProbeCheckState(dev);
  }

  /** /proc/iomem as root reads it. */
  iomemShow(): string {
    return iomemShow(this.iomem);
  }
}
