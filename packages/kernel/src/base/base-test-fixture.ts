/**
 * A small world for the driver-core tests: the virtLab SoC (real PrimeCell ID registers on a
 * real system bus), a sysfs, the log and the trace bus, and fakes for the two hooks the driver
 * core takes — an IRQ mapper that maps `interrupts` entry i of a GIC node to its INTID, and a
 * DMA configurator that counts default-domain users per device and can be told to fail.
 * Helpers read and write sysfs attributes the way `cat` and `echo` reach show() and store().
 */

import { boards, type DtNode, propU32s, Soc } from "@vfio-lab/hw-soc";
import { type ErrnoName, SysError } from "../errno.js";
import type { KernfsNode } from "../fs/kernfs.js";
import { SysfsFs } from "../fs/sysfs.js";
import { Printk } from "../printk/printk.js";
import { KernelTrace, type KernelTraceRecord } from "../trace/trace-bus.js";
import { AmbaDriver, type AmbaId } from "./amba.js";
import { DriverCore, type DriverCoreOptions } from "./core.js";
import type { Device } from "./device.js";
import type { DmaConfigurator, IrqMapper } from "./hooks.js";
import { PlatformDriver, type PlatformDriverOptions } from "./platform.js";

/** Maps GIC specifier i of `interrupts` to its INTID (SPI n → n + 32); 0 when absent. */
export class FakeIrqMapper implements IrqMapper {
  /** A deferral to return for every node (the GIC driver "not probed yet"). */
  defer = false;
  irqOfParseAndMap(node: DtNode, index: number): number {
    if (this.defer) return -517;
    const cells = propU32s(node, "interrupts");
    if (!cells || index < 0 || 3 * index + 2 >= cells.length) return 0;
    const type = cells[3 * index] as number;
    const n = cells[3 * index + 1] as number;
    return type === 0 ? n + 32 : n + 16;
  }
}

/** Records every hook call; `owners` counts iommu_device_use_default_domain() per device. */
export class FakeDma implements DmaConfigurator {
  readonly calls: string[] = [];
  readonly owners = new Map<string, number>();
  /** Devices whose of_dma_configure() fails, with the errno. */
  readonly configureFails = new Map<string, ErrnoName>();
  /** Devices whose iommu_device_use_default_domain() fails, with the errno. */
  readonly useFails = new Map<string, ErrnoName>();

  ofDmaConfigure(dev: Device, _node: DtNode, forceDma: boolean): void {
    this.calls.push(`of_dma_configure ${dev.name} force=${forceDma}`);
    const fail = this.configureFails.get(dev.name);
    if (fail) throw new SysError(fail, "of_dma_configure");
  }

  iommuDeviceUseDefaultDomain(dev: Device): void {
    this.calls.push(`use_default_domain ${dev.name}`);
    const fail = this.useFails.get(dev.name);
    if (fail) throw new SysError(fail, "iommu_device_use_default_domain");
    this.owners.set(dev.name, (this.owners.get(dev.name) ?? 0) + 1);
  }

  iommuDeviceUnuseDefaultDomain(dev: Device): void {
    this.calls.push(`unuse_default_domain ${dev.name}`);
    this.owners.set(dev.name, (this.owners.get(dev.name) ?? 0) - 1);
  }

  archTeardownDmaOps(dev: Device): void {
    this.calls.push(`arch_teardown_dma_ops ${dev.name}`);
  }
}

export interface BaseWorld {
  readonly soc: Soc;
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly sysfs: SysfsFs;
  readonly irq: FakeIrqMapper;
  readonly dma: FakeDma;
  readonly core: DriverCore;
  /** The log's texts, oldest first. */
  log(): string[];
  /** Every trace record of a `driver:*` type so far. */
  driverEvents(): KernelTraceRecord[];
  /** `cat path`. */
  cat(path: string): string;
  /** `echo -n text > path`: store() or its SysError. */
  echo(path: string, text: string): void;
  /** `readlink path`: the link's relative target. */
  readlink(path: string): string;
  /** `ls path` in kernfs order. */
  ls(path: string): string[];
  exists(path: string): boolean;
}

export interface WorldOptions
  extends Partial<Omit<DriverCoreOptions, "sysfs" | "printk" | "trace" | "bus" | "tree">> {
  /** DTS text (default: the virtLab board). */
  readonly dts?: string;
  /** Populate the tree at once (default true). */
  readonly populate?: boolean;
  readonly debug?: boolean;
}

export function baseWorld(opts: WorldOptions = {}): BaseWorld {
  const soc = Soc.fromDeviceTree(opts.dts ?? boards.virtLab());
  const now = () => soc.clock.now;
  const printk = new Printk({ now, debug: opts.debug ?? false });
  const trace = new KernelTrace(now);
  const records = trace.record().records;
  const sysfs = new SysfsFs();
  const irq = new FakeIrqMapper();
  const dma = new FakeDma();
  const core = new DriverCore({
    sysfs,
    printk,
    trace,
    bus: soc.bus,
    tree: soc.tree,
    irqMapper: opts.irqMapper ?? irq,
    dmaConfigurator: opts.dmaConfigurator ?? dma,
    clock: soc.clock,
    ...(opts.deferredProbeTimeout !== undefined
      ? { deferredProbeTimeout: opts.deferredProbeTimeout }
      : {}),
    ...(opts.symbolicErrname !== undefined ? { symbolicErrname: opts.symbolicErrname } : {}),
    ...(opts.modules !== undefined ? { modules: opts.modules } : {}),
  });
  if (opts.populate ?? true) core.populate();

  // Resolves like a path walk: links are followed, the last one only when `follow`.
  const node = (path: string, follow = true): KernfsNode => {
    const parts = path
      .slice(5)
      .split("/")
      .filter((p) => p !== "");
    let kn: KernfsNode | undefined = sysfs.kernfs.kn;
    parts.forEach((part, i) => {
      kn = kn ? sysfs.kernfs.find(kn, part) : undefined;
      while (kn?.kind === "link" && (follow || i < parts.length - 1)) kn = kn.target ?? undefined;
    });
    if (!kn) throw new SysError("ENOENT", "test", path);
    return kn;
  };
  return {
    soc,
    printk,
    trace,
    sysfs,
    irq,
    dma,
    core,
    log: () => printk.records().map((r) => r.text),
    driverEvents: () => records.filter((r) => r.type.startsWith("driver:")),
    cat: (path) => {
      const show = node(path).attr?.show;
      if (!show) throw new SysError("EIO", "test", `${path} has no show()`);
      return show();
    },
    echo: (path, text) => {
      const store = node(path).attr?.store;
      if (!store) throw new SysError("EIO", "test", `${path} has no store()`);
      store(text);
    },
    readlink: (path) => sysfs.kernfs.getTargetPath(node(path, false)),
    ls: (path) => sysfs.kernfs.sortedChildren(node(path)).map((kn) => kn.name),
    exists: (path) => sysfs.exists(path),
  };
}

/** Drivers as the board's real ones match (their Linux names and tables). */
export const AMBA_IDS = {
  pl011: { id: 0x00041011, mask: 0x000fffff },
  pl031: { id: 0x00041031, mask: 0x000fffff },
  pl061: { id: 0x00041061, mask: 0x000fffff },
  pl330: { id: 0x00041330, mask: 0x000fffff },
} as const satisfies Record<string, AmbaId>;

/** An AMBA driver whose probe records the call (and may fail). */
export function ambaDriver(
  name: string,
  ids: readonly AmbaId[],
  extra: Partial<ConstructorParameters<typeof AmbaDriver>[0]> = {},
): AmbaDriver & { probed: string[]; removed: string[] } {
  const probed: string[] = [];
  const removed: string[] = [];
  const drv = new AmbaDriver({
    name,
    idTable: [...ids, { id: 0, mask: 0 }],
    probe: (adev) => {
      probed.push(adev.name);
    },
    remove: (adev) => {
      removed.push(adev.name);
    },
    ...extra,
  });
  return Object.assign(drv, { probed, removed });
}

/** A platform driver whose probe records the call (and may fail). */
export function platformDriver(
  name: string,
  extra: Partial<PlatformDriverOptions> = {},
): PlatformDriver & { probed: string[]; removed: string[] } {
  const probed: string[] = [];
  const removed: string[] = [];
  const drv = new PlatformDriver({
    name,
    probe: (pdev) => {
      probed.push(pdev.name);
    },
    remove: (pdev) => {
      removed.push(pdev.name);
    },
    ...extra,
  });
  return Object.assign(drv, { probed, removed });
}
