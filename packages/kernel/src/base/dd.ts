/**
 * Binding devices to drivers (drivers/base/dd.c): matching, really_probe() in Linux's order,
 * unbinding, and deferred probing.
 *
 * really_probe(): `dev->driver` is set; the bus's dma_configure() runs (its failure unwinds
 * *without* dma_cleanup and is returned as a negative errno); the `driver` links are made;
 * call_driver_probe() runs the probe and logs by errno class — EPROBE_DEFER and ENODEV/ENXIO
 * at debug level, anything else as `probe with driver X failed with error -N` (dev_err); a
 * failed probe unwinds through the links, the bus's dma_cleanup() and the managed resources,
 * and is returned as a *positive* code so callers can tell it from a core error.
 *
 * Deferred probing: a device whose probe (or match) asks to be deferred waits on the pending
 * list; every successful bind moves the pending list to the active one and queues the
 * deferred-probe work, which retries each device. Triggers do nothing before
 * deferred_probe_initcall() (late_initcall), which retries twice and then, when
 * deferred_probe_timeout > 0, arms the timeout work that prints `deferred probe pending`.
 *
 * The workqueue is modelled as "after the current driver-core operation": triggers queue the
 * work, and it runs when the outermost operation (a sysfs write, a device or driver
 * registration) returns — never nested inside a probe, as on Linux where it runs on
 * system_dfl_wq after the probe that triggered it.
 *
 * Caveat: no asynchronous probing (every driver probes synchronously), no device links or
 * fw_devlink, no PM domains, pinctrl or runtime PM, no CONFIG_DEBUG_TEST_DRIVER_REMOVE.
 */

import type { ScheduledEvent } from "@vfio-lab/hw-soc";
import { errno, SysError } from "../errno.js";
import type { Sysfs } from "../fs/sysfs-api.js";
import type { Printk } from "../printk/printk.js";
import type { KernelTrace } from "../trace/trace-bus.js";
import {
  BUS_NOTIFY_BIND_DRIVER,
  BUS_NOTIFY_BOUND_DRIVER,
  BUS_NOTIFY_DRIVER_NOT_BOUND,
  BUS_NOTIFY_UNBIND_DRIVER,
  BUS_NOTIFY_UNBOUND_DRIVER,
} from "./bus.js";
import type { Device } from "./device.js";
import type { DeviceDriver } from "./driver.js";

const EPROBE_DEFER = errno("EPROBE_DEFER");
const ENODEV = errno("ENODEV");
const ENXIO = errno("ENXIO");
const EBUSY = errno("EBUSY");
const EAGAIN = errno("EAGAIN");
const ETIMEDOUT = errno("ETIMEDOUT");

/** The virtual clock, for the deferred-probe timeout work (hw-soc VirtualClock). */
export interface DelayedWorkClock {
  readonly now: number;
  schedule(delayNs: number, label: string, callback: () => void): ScheduledEvent;
  cancel(event: ScheduledEvent): void;
}

export interface DriverBindingOptions {
  readonly sysfs: Sysfs;
  readonly printk: Printk;
  readonly trace: KernelTrace;
  /** arch_teardown_dma_ops(), run by device_unbind_cleanup(). */
  readonly archTeardownDmaOps?: (dev: Device) => void;
  /** For the deferred-probe timeout; without it, call `deferredProbeTimeoutWorkFunc()`. */
  readonly clock?: DelayedWorkClock;
  /**
   * `deferred_probe_timeout=` in seconds (CONFIG_DRIVER_DEFERRED_PROBE_TIMEOUT: 10 with
   * modules, 0 without).
   */
  readonly deferredProbeTimeout?: number;
  /** CONFIG_MODULES (default true). */
  readonly modules?: boolean;
}

/** A thrown SysError as the negative errno a kernel function returns; other errors propagate. */
export function negativeErrno(e: unknown): number {
  if (SysError.isInstance(e)) return -e.errno;
  throw e;
}

export class DriverBinding {
  /** `deferred_probe_pending_list`. */
  private readonly pendingList: Device[] = [];
  /** `deferred_probe_active_list`. */
  private readonly activeList: Device[] = [];
  private deferredTriggerCount = 0;
  /** `driver_deferred_probe_enable`: false until deferred_probe_initcall(). */
  private deferredProbeEnable = false;
  /** `initcalls_done`. */
  initcallsDone = false;
  /** `defer_all_probes` (device_block_probing()). */
  deferAllProbes = false;
  /** `driver_deferred_probe_timeout`, in seconds. */
  deferredProbeTimeout: number;
  private readonly modules: boolean;
  private workQueued = false;
  private depth = 0;
  private timeoutWork: ScheduledEvent | null = null;

  constructor(private readonly opts: DriverBindingOptions) {
    this.modules = opts.modules ?? true;
    this.deferredProbeTimeout = opts.deferredProbeTimeout ?? (this.modules ? 10 : 0);
  }

  private trace(type: string, dev: Device, drv: DeviceDriver | null, err?: number): void {
    const trace = this.opts.trace;
    if (!trace.enabled) return;
    trace.emit({
      type: `driver:${type}`,
      device: dev.name,
      driver: drv?.name ?? null,
      bus: dev.bus?.name ?? null,
      ...(err !== undefined ? { errno: err } : {}),
    });
  }

  // -----------------------------------------------------------------------------------------
  // The workqueue model

  /**
   * Runs `fn` as one driver-core operation; deferred-probe work it queued runs when the
   * outermost operation returns (or throws).
   */
  flushAfter<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
      if (this.depth === 0) this.runQueuedWork();
    }
  }

  /** flush_work(&deferred_probe_work). */
  private runQueuedWork(): void {
    if (this.depth > 0) return;
    this.depth++;
    try {
      while (this.workQueued) {
        this.workQueued = false;
        this.deferredProbeWorkFunc();
      }
    } finally {
      this.depth--;
    }
  }

  private queueWork(): void {
    this.workQueued = true;
    if (this.depth === 0) this.runQueuedWork();
  }

  // -----------------------------------------------------------------------------------------
  // Deferred probe

  /** dd.c: deferred_probe_work_func() — retries every device on the active list. */
  private deferredProbeWorkFunc(): void {
    for (;;) {
      const dev = this.activeList.shift();
      if (!dev) break;
      dev.deferredProbeReason = null;
      dev.log.dbg("Retrying from deferred list");
      dev.bus?.probeDevice(dev);
    }
  }

  private onDeferredList(dev: Device): boolean {
    return this.pendingList.includes(dev) || this.activeList.includes(dev);
  }

  /** dd.c: driver_deferred_probe_add() — only for a device some driver matched (can_match). */
  driverDeferredProbeAdd(dev: Device): void {
    if (!dev.canMatch) return;
    if (!this.onDeferredList(dev)) {
      dev.log.dbg("Added to deferred list");
      this.pendingList.push(dev);
    }
  }

  /** dd.c: driver_deferred_probe_del(). */
  driverDeferredProbeDel(dev: Device): void {
    if (!this.onDeferredList(dev)) return;
    dev.log.dbg("Removed from deferred list");
    for (const list of [this.pendingList, this.activeList]) {
      const i = list.indexOf(dev);
      if (i >= 0) list.splice(i, 1);
    }
    dev.deferredProbeReason = null;
  }

  /**
   * dd.c: driver_deferred_probe_trigger() — after deferred_probe_initcall(), moves the
   * pending devices to the active list and queues the work.
   */
  driverDeferredProbeTrigger(): void {
    if (!this.deferredProbeEnable) return;
    this.deferredTriggerCount++;
    this.activeList.push(...this.pendingList.splice(0));
    this.queueWork();
  }

  /** dd.c: device_block_probing() — every probe defers until unblocked. */
  deviceBlockProbing(): void {
    this.deferAllProbes = true;
    this.runQueuedWork();
  }

  /** dd.c: device_unblock_probing(). */
  deviceUnblockProbing(): void {
    this.deferAllProbes = false;
    this.driverDeferredProbeTrigger();
  }

  /** dd.c: device_set_deferred_probe_reason() — `<driver or bus>: <message>`. */
  setDeferredProbeReason(dev: Device, reason: string): void {
    const who = dev.driver?.name ?? dev.bus?.name ?? "";
    dev.deferredProbeReason = `${who}: ${reason}`;
  }

  /** The debugfs `devices_deferred` file: each pending device and its reason. */
  deferredDevices(): { readonly device: string; readonly reason: string | null }[] {
    return this.pendingList.map((d) => ({ device: d.name, reason: d.deferredProbeReason }));
  }

  /**
   * dd.c: driver_deferred_probe_check_state() — for a subsystem waiting on a provider: -ENODEV
   * once initcalls are done without modules, -ETIMEDOUT once the timeout expired, else
   * -EPROBE_DEFER.
   */
  driverDeferredProbeCheckState(dev: Device): number {
    if (!this.modules && this.initcallsDone) {
      dev.log.warn("ignoring dependency for device, assuming no driver");
      return -ENODEV;
    }
    if (this.deferredProbeTimeout === 0 && this.initcallsDone) {
      dev.log.warn("deferred probe timeout, ignoring dependency");
      return -ETIMEDOUT;
    }
    return -EPROBE_DEFER;
  }

  /**
   * dd.c: deferred_probe_initcall() (late_initcall) — enables deferred probing, retries the
   * pending devices, marks initcalls done and retries once more; with a timeout, arms the
   * timeout work.
   */
  deferredProbeInitcall(): void {
    this.deferredProbeEnable = true;
    this.driverDeferredProbeTrigger();
    this.runQueuedWork();
    this.initcallsDone = true;
    this.driverDeferredProbeTrigger();
    this.runQueuedWork();
    const clock = this.opts.clock;
    if (this.deferredProbeTimeout > 0 && clock) {
      this.timeoutWork = clock.schedule(
        this.deferredProbeTimeout * 1e9,
        "deferred_probe_timeout_work",
        () => this.deferredProbeTimeoutWorkFunc(),
      );
    }
  }

  /** dd.c: deferred_probe_extend_timeout() — a driver registered: the timeout restarts. */
  deferredProbeExtendTimeout(): void {
    const clock = this.opts.clock;
    if (!this.timeoutWork || !clock) return;
    clock.cancel(this.timeoutWork);
    this.timeoutWork = clock.schedule(
      this.deferredProbeTimeout * 1e9,
      "deferred_probe_timeout_work",
      () => this.deferredProbeTimeoutWorkFunc(),
    );
    this.opts.printk
      .pr()
      .debug(`Extended deferred probe timeout by ${this.deferredProbeTimeout} secs`);
  }

  /**
   * dd.c: deferred_probe_timeout_work_func() — the timeout becomes 0, the pending devices get
   * a last try, and each one still waiting is reported: `deferred probe pending: <reason>`.
   */
  deferredProbeTimeoutWorkFunc(): void {
    this.timeoutWork = null;
    this.deferredProbeTimeout = 0;
    this.driverDeferredProbeTrigger();
    this.runQueuedWork();
    for (const dev of [...this.pendingList]) {
      dev.log.warn(`deferred probe pending: ${dev.deferredProbeReason ?? "(reason unknown)"}`);
    }
  }

  // -----------------------------------------------------------------------------------------
  // Matching and probing

  /** drivers/base/base.h: driver_match_device() — bus->match(), or a match without one. */
  driverMatchDevice(drv: DeviceDriver, dev: Device): number {
    const bus = drv.bus;
    return bus?.type.match ? bus.type.match(dev, drv) : 1;
  }

  /** dd.c: driver_sysfs_add() — `/sys/bus/<bus>/drivers/<drv>/<dev>` and the device's `driver`. */
  private driverSysfsAdd(dev: Device): number {
    const drv = dev.driver as DeviceDriver;
    dev.bus?.notify(dev, BUS_NOTIFY_BIND_DRIVER);
    const { sysfs } = this.opts;
    const devLink = `${drv.kobjPath}/${dev.name}`;
    try {
      sysfs.symlink(devLink, dev.kobjPath as string);
    } catch (e) {
      return negativeErrno(e);
    }
    try {
      sysfs.symlink(`${dev.kobjPath}/driver`, drv.kobjPath as string);
    } catch (e) {
      sysfs.remove(devLink);
      return negativeErrno(e);
    }
    return 0;
  }

  /** dd.c: driver_sysfs_remove(). */
  private driverSysfsRemove(dev: Device): void {
    const drv = dev.driver;
    if (!drv) return;
    const { sysfs } = this.opts;
    for (const p of [`${drv.kobjPath}/${dev.name}`, `${dev.kobjPath}/driver`]) {
      if (sysfs.exists(p)) sysfs.remove(p);
    }
  }

  /**
   * dd.c: driver_bound() — the device joins the driver's list, leaves the deferred list, and
   * every deferred device gets another chance.
   */
  private driverBound(dev: Device): void {
    const drv = dev.driver as DeviceDriver;
    if (dev.bound) {
      dev.log.warn("driver_bound: device already bound");
      return;
    }
    dev.log.dbg(`driver: '${drv.name}': driver_bound: bound to device`);
    drv.devices.push(dev);
    dev.bound = true;
    this.driverDeferredProbeDel(dev);
    this.driverDeferredProbeTrigger();
    dev.bus?.notify(dev, BUS_NOTIFY_BOUND_DRIVER);
    this.trace("bind", dev, drv);
  }

  /** dd.c: device_bind_driver() — for a device whose `driver` was set before device_add(). */
  deviceBindDriver(dev: Device): number {
    const ret = this.driverSysfsAdd(dev);
    if (ret === 0) this.driverBound(dev);
    else dev.bus?.notify(dev, BUS_NOTIFY_DRIVER_NOT_BOUND);
    return ret;
  }

  /**
   * dd.c: device_unbind_cleanup() — managed resources released, DMA ops torn down, `driver`
   * and driver data cleared.
   */
  private deviceUnbindCleanup(dev: Device): void {
    dev.devres.releaseAll();
    this.opts.archTeardownDmaOps?.(dev);
    dev.driver = null;
    dev.driverData = null;
  }

  /** dd.c: device_remove() — the bus's remove (which calls the driver's). */
  private deviceRemove(dev: Device): void {
    dev.bus?.type.remove?.(dev);
  }

  /**
   * dd.c: call_driver_probe() — 0 or the probe's negative errno, logged by class: deferral
   * and "rejects match" (ENODEV, ENXIO) at debug level, anything else with dev_err().
   */
  private callDriverProbe(dev: Device, drv: DeviceDriver): number {
    let ret = 0;
    try {
      dev.bus?.type.probe?.(dev);
    } catch (e) {
      ret = negativeErrno(e);
    }
    switch (ret) {
      case 0:
        break;
      case -EPROBE_DEFER:
        dev.log.dbg(`Driver ${drv.name} requests probe deferral`);
        break;
      case -ENODEV:
      case -ENXIO:
        dev.log.dbg(`probe with driver ${drv.name} rejects match ${ret}`);
        break;
      default:
        dev.log.err(`probe with driver ${drv.name} failed with error ${ret}`);
        break;
    }
    return ret;
  }

  /**
   * dd.c: really_probe() — 0 when bound; a negative errno when the core refused (devres left
   * over, DMA configuration); a positive errno when the driver's probe failed.
   */
  private reallyProbe(dev: Device, drv: DeviceDriver): number {
    const bus = dev.bus;
    if (this.deferAllProbes) {
      dev.log.dbg(`Driver ${drv.name} force probe deferral`);
      this.traceFailure(dev, drv, -EPROBE_DEFER);
      return -EPROBE_DEFER;
    }
    dev.log.dbg(`bus: '${bus?.name}': really_probe: probing driver ${drv.name} with device`);
    if (!dev.devres.empty) {
      dev.log.crit("Resources present before probing");
      this.traceFailure(dev, drv, -EBUSY);
      return -EBUSY;
    }
    dev.driver = drv;
    let ret = 0;
    try {
      bus?.type.dmaConfigure?.(dev);
    } catch (e) {
      ret = negativeErrno(e);
    }
    if (ret !== 0) {
      this.traceFailure(dev, drv, ret);
      this.deviceUnbindCleanup(dev);
      return ret;
    }
    ret = this.driverSysfsAdd(dev);
    if (ret !== 0) {
      dev.log.err("really_probe: driver_sysfs_add failed");
    } else {
      ret = this.callDriverProbe(dev, drv);
      if (ret === 0) {
        this.driverBound(dev);
        dev.log.dbg(`bus: '${bus?.name}': really_probe: bound device to driver ${drv.name}`);
        return 0;
      }
      this.traceFailure(dev, drv, ret);
      ret = -ret;
      this.driverSysfsRemove(dev);
    }
    bus?.notify(dev, BUS_NOTIFY_DRIVER_NOT_BOUND);
    bus?.type.dmaCleanup?.(dev);
    this.deviceUnbindCleanup(dev);
    return ret;
  }

  /** A probe that did not bind: `driver:defer` for a deferral, else `driver:probe-failed`. */
  private traceFailure(dev: Device, drv: DeviceDriver, ret: number): void {
    this.trace(ret === -EPROBE_DEFER ? "defer" : "probe-failed", dev, drv, ret);
  }

  /**
   * dd.c: __driver_probe_device() — ENODEV for a device being removed or not registered,
   * EBUSY when it already has a driver, else really_probe().
   */
  private driverProbeDeviceLocked(drv: DeviceDriver, dev: Device): number {
    if (dev.dead || !dev.registered) return -ENODEV;
    if (dev.driver) return -EBUSY;
    dev.canMatch = true;
    dev.log.dbg(
      `bus: '${drv.bus?.name}': __driver_probe_device: matched device with driver ${drv.name}`,
    );
    return this.reallyProbe(dev, drv);
  }

  /**
   * dd.c: driver_probe_device() — a deferral (either sign) puts the device on the pending
   * list; a trigger that happened meanwhile is repeated.
   */
  private driverProbeDevice(drv: DeviceDriver, dev: Device): number {
    const triggerCount = this.deferredTriggerCount;
    const ret = this.driverProbeDeviceLocked(drv, dev);
    if (ret === -EPROBE_DEFER || ret === EPROBE_DEFER) {
      this.driverDeferredProbeAdd(dev);
      if (triggerCount !== this.deferredTriggerCount && !this.deferAllProbes) {
        this.driverDeferredProbeTrigger();
      }
    }
    return ret;
  }

  /** A match that asks to defer: the device waits for the next trigger. */
  private matchDeferred(dev: Device, drv: DeviceDriver): void {
    dev.log.dbg("Device match requests probe deferral");
    dev.canMatch = true;
    this.driverDeferredProbeAdd(dev);
    this.trace("defer", dev, drv, -EPROBE_DEFER);
  }

  /**
   * dd.c: __device_attach_driver() — 0 to try the next driver, 1 when bound, < 0 to stop (a
   * deferring or failing match, a core error from the probe path). A failed probe (positive)
   * moves on to the next driver.
   */
  private deviceAttachDriver(drv: DeviceDriver, dev: Device): number {
    const match = this.driverMatchDevice(drv, dev);
    if (match === 0) return 0;
    if (match === -EPROBE_DEFER) {
      this.matchDeferred(dev, drv);
      return match;
    }
    if (match < 0) {
      dev.log.dbg(`Bus failed to match device: ${match}`);
      return match;
    }
    const ret = this.driverProbeDevice(drv, dev);
    if (ret < 0) return ret;
    return ret === 0 ? 1 : 0;
  }

  /** dd.c: __device_attach(). */
  private deviceAttachInternal(dev: Device): number {
    if (dev.dead) return 0;
    if (dev.driver) {
      if (dev.bound) return 1;
      if (this.deviceBindDriver(dev) === 0) return 1;
      dev.driver = null;
      return 0;
    }
    const bus = dev.bus;
    if (!bus) return 0;
    return bus.forEachDrv((drv) => this.deviceAttachDriver(drv, dev));
  }

  /**
   * dd.c: device_attach() — tries the bus's drivers in registration order: 1 when bound, 0
   * when none bound (no match, or every matching probe failed), < 0 on an error.
   */
  deviceAttach(dev: Device): number {
    return this.deviceAttachInternal(dev);
  }

  /** dd.c: device_initial_probe() — device_attach() when the bus autoprobes. */
  deviceInitialProbe(dev: Device): void {
    if (dev.bus?.driversAutoprobe) this.deviceAttachInternal(dev);
  }

  /**
   * dd.c: device_driver_attach() — bind one driver to one device: 0, or a negative errno
   * (a failed probe's too), EPROBE_DEFER turned into EAGAIN.
   */
  deviceDriverAttach(drv: DeviceDriver, dev: Device): number {
    let ret = this.driverProbeDeviceLocked(drv, dev);
    if (ret > 0) ret = -ret;
    if (ret === -EPROBE_DEFER) return -EAGAIN;
    return ret;
  }

  /** dd.c: __driver_attach() — errors are dropped so the next device gets its chance. */
  private driverAttachOne(dev: Device, drv: DeviceDriver): number {
    const match = this.driverMatchDevice(drv, dev);
    if (match === 0) return 0;
    if (match === -EPROBE_DEFER) {
      this.matchDeferred(dev, drv);
      return 0;
    }
    if (match < 0) {
      dev.log.dbg(`Bus failed to match device: ${match}`);
      return 0;
    }
    this.driverProbeDevice(drv, dev);
    return 0;
  }

  /** dd.c: driver_attach() — try the new driver on every device of its bus. */
  driverAttach(drv: DeviceDriver): number {
    const bus = drv.bus;
    if (!bus) return -errno("EINVAL");
    return bus.forEachDev((dev) => this.driverAttachOne(dev, drv));
  }

  /**
   * dd.c: __device_release_driver() — links removed, the bus's remove, dma_cleanup, managed
   * resources released, the device leaves the driver's list.
   */
  private deviceReleaseDriverLocked(dev: Device): void {
    const drv = dev.driver;
    if (!drv) return;
    this.driverSysfsRemove(dev);
    dev.bus?.notify(dev, BUS_NOTIFY_UNBIND_DRIVER);
    this.deviceRemove(dev);
    dev.bus?.type.dmaCleanup?.(dev);
    this.deviceUnbindCleanup(dev);
    const i = drv.devices.indexOf(dev);
    if (i >= 0) drv.devices.splice(i, 1);
    dev.bound = false;
    dev.bus?.notify(dev, BUS_NOTIFY_UNBOUND_DRIVER);
    this.trace("unbind", dev, drv);
  }

  /** dd.c: device_release_driver_internal() — only if `drv` is null or the bound driver. */
  deviceReleaseDriverInternal(dev: Device, drv: DeviceDriver | null): void {
    if (!drv || drv === dev.driver) this.deviceReleaseDriverLocked(dev);
  }

  /** dd.c: device_release_driver(). */
  deviceReleaseDriver(dev: Device): void {
    this.deviceReleaseDriverInternal(dev, null);
  }

  /** dd.c: device_driver_detach(). */
  deviceDriverDetach(dev: Device): void {
    this.deviceReleaseDriverInternal(dev, null);
  }

  /** dd.c: driver_detach() — unbinds the driver's devices, most recently bound first. */
  driverDetach(drv: DeviceDriver): void {
    for (;;) {
      const dev = drv.devices[drv.devices.length - 1];
      if (!dev) break;
      this.deviceReleaseDriverInternal(dev, drv);
    }
  }
}
