/**
 * A booted virtLab system for the board-driver tests: `Kernel.boot()` (IRQ core and GICv3,
 * IOMMU core and arm-smmu-v3, driver core with the devices of the tree), with the board
 * drivers registered on it, and helpers to read the log, /proc/interrupts and sysfs.
 */

import { boards, Soc } from "@vfio-lab/hw-soc";
import { AmbaDevice } from "../base/amba.js";
import type { DriverCore } from "../base/core.js";
import type { Device } from "../base/device.js";
import { PlatformDevice } from "../base/platform.js";
import { SysError } from "../errno.js";
import type { KernfsNode } from "../fs/kernfs.js";
import type { IommuCore } from "../iommu/iommu.js";
import type { IrqCore } from "../irq/irq-core.js";
import { Kernel } from "../kernel.js";
import type { BoardDriverEnv } from "./board-env.js";
import { registerBoardDrivers } from "./index.js";

export interface BoardWorldOptions {
  /** Register the board drivers (default true). */
  readonly drivers?: boolean;
  /** RAM size (default 1 GiB). */
  readonly ramSize?: number;
  /** Edits the virtLab DTS before the SoC is built. */
  readonly dts?: (dts: string) => string;
}

export interface BoardWorld {
  readonly soc: Soc;
  readonly kernel: Kernel;
  readonly irq: IrqCore;
  readonly iommu: IommuCore;
  readonly core: DriverCore;
  readonly env: BoardDriverEnv;
  /** The device `name` on `bus` (amba or platform). */
  dev(bus: "amba" | "platform", name: string): Device;
  amba(name: string): AmbaDevice;
  platform(name: string): PlatformDevice;
  /** Log texts (no timestamps) since the last `mark()`. */
  log(): string[];
  mark(): void;
  /** /proc/interrupts. */
  interrupts(): string;
  /** `cat` / `echo -n` of a sysfs attribute. */
  cat(path: string): string;
  echo(path: string, text: string): void;
  /** Runs every pending event (interrupts, devices). */
  run(): void;
}

export function boardWorld(opts: BoardWorldOptions = {}): BoardWorld {
  const dts = boards.virtLab({ ramSize: opts.ramSize ?? 1024 ** 3 });
  const soc = Soc.fromDeviceTree(opts.dts ? opts.dts(dts) : dts);
  const kernel = Kernel.boot(soc);
  const { printk } = kernel;
  const sysfs = kernel.vfs.sysfs;
  const irq = kernel.irq;
  const iommu = kernel.iommu;
  const core = kernel.drivers;
  const env: BoardDriverEnv = { irq, dma: iommu.dma, scheduler: kernel.scheduler };
  // The kernel may register the board drivers itself at boot; otherwise they come now, after
  // the late initcalls (dma-pl330 then finds its IOMMU at once instead of deferring).
  const registered = core.bus("amba")?.drivers.some((d) => d.name === "uart-pl011") ?? false;
  if ((opts.drivers ?? true) && !registered) registerBoardDrivers(core, env);

  let seen = printk.rb.nextSeq;
  const node = (path: string): KernfsNode => {
    let kn: KernfsNode | undefined = sysfs.kernfs.kn;
    for (const part of path.slice(5).split("/")) {
      if (part === "") continue;
      kn = kn ? sysfs.kernfs.find(kn, part) : undefined;
      while (kn?.kind === "link") kn = kn.target ?? undefined;
    }
    if (!kn) throw new SysError("ENOENT", "test", path);
    return kn;
  };
  return {
    soc,
    kernel,
    irq,
    iommu,
    core,
    env,
    dev(bus, name) {
      const d = core.findDevice(bus, name);
      if (!d) throw new Error(`no ${bus} device ${name}`);
      return d;
    },
    amba(name) {
      const d = core.findDevice("amba", name);
      if (!(d instanceof AmbaDevice)) throw new Error(`no AMBA device ${name}`);
      return d;
    },
    platform(name) {
      const d = core.findDevice("platform", name);
      if (!(d instanceof PlatformDevice)) throw new Error(`no platform device ${name}`);
      return d;
    },
    log() {
      return printk
        .records()
        .filter((r) => r.seq >= seen)
        .map((r) => r.text);
    },
    mark() {
      seen = printk.rb.nextSeq;
    },
    interrupts: () => irq.procInterruptsShow(),
    cat(path) {
      const show = node(path).attr?.show;
      if (!show) throw new SysError("EIO", "test", `${path} has no show()`);
      return show();
    },
    echo(path, text) {
      const store = node(path).attr?.store;
      if (!store) throw new SysError("EIO", "test", `${path} has no store()`);
      store(text);
    },
    run() {
      soc.runUntilIdle();
    },
  };
}
