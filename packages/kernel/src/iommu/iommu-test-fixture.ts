/**
 * A small world for the IOMMU tests: the virtLab board booted in hw-soc, the kernel pieces the
 * IOMMU layer needs (page allocator, printk, trace bus, a real sysfs), the board's DT devices
 * as `IommuClient`s on a platform and an AMBA bus (named and placed as Linux names them), a
 * fake IRQ requester whose handlers a test fires by hand, and the arm-smmu-v3 driver probed at
 * `9050000.smmuv3` — what the driver core and IRQ core will do at boot, reduced to the calls.
 */

import {
  boards,
  DMA_TEST_CTRL,
  DMA_TEST_STATUS,
  type DtNode,
  propStrings,
  readReg,
  Soc,
  walkNodes,
} from "@vfio-lab/hw-soc";
import {
  type ArmSmmuDevice,
  ArmSmmuV3Driver,
  type IommuIrqHandler,
  type IommuIrqRequester,
} from "../drivers/iommu/arm-smmu-v3.js";
import { SysError } from "../errno.js";
import type { KernfsNode } from "../fs/kernfs.js";
import { SysfsFs } from "../fs/sysfs.js";
import { PageAllocator } from "../mm/page-allocator.js";
import { parseKernelCmdline } from "../module/cmdline.js";
import { Printk } from "../printk/printk.js";
import { KernelTrace } from "../trace/trace-bus.js";
import { type IommuBus, IommuCore, type IommuCoreOptions } from "./iommu.js";
import type { IommuClient } from "./iommu-defs.js";

/** A device as the driver core would present it; `driverName` changes with binding. */
export class TestDevice implements IommuClient {
  driverName: string | undefined = undefined;
  constructor(
    readonly name: string,
    readonly busName: string,
    readonly kobjPath: string | null,
    readonly dtNode: DtNode | null,
  ) {}
}

/**
 * request_irq()/request_threaded_irq() that only record; `fire()` runs the primary handler and
 * then the thread, as the IRQ core does for a line that asserted.
 */
export class FakeIrqs implements IommuIrqRequester {
  readonly handlers = new Map<
    number,
    {
      handler: IommuIrqHandler | null;
      thread: IommuIrqHandler | null;
      flags: number;
      name: string;
      devId: unknown;
    }
  >();
  /** virqs whose request fails with EBUSY. */
  readonly refuse = new Set<number>();

  requestIrq(
    virq: number,
    handler: IommuIrqHandler,
    flags: number,
    name: string,
    devId: unknown,
  ): void {
    this.requestThreadedIrq(virq, handler, null, flags, name, devId);
  }

  requestThreadedIrq(
    virq: number,
    handler: IommuIrqHandler | null,
    thread: IommuIrqHandler | null,
    flags: number,
    name: string,
    devId: unknown,
  ): void {
    if (this.refuse.has(virq) || this.handlers.has(virq)) {
      throw new SysError("EBUSY", "request_threaded_irq", `irq ${virq}`);
    }
    this.handlers.set(virq, { handler, thread, flags, name, devId });
  }

  freeIrq(virq: number): string | null {
    const h = this.handlers.get(virq);
    this.handlers.delete(virq);
    return h?.name ?? null;
  }

  fire(virq: number): number {
    const h = this.handlers.get(virq);
    if (!h) throw new Error(`no handler for irq ${virq}`);
    // IRQ_WAKE_THREAD (2) or no primary handler: the thread runs.
    const ret = h.handler ? h.handler(virq, h.devId) : 2;
    return ret === 2 && h.thread ? h.thread(virq, h.devId) : ret;
  }
}

/** The SMMU's wired interrupts on virtLab, used as virq numbers (INTID = SPI + 32). */
export const SMMU_IRQS = { eventq: 0x4a + 32, priq: 0x4b + 32, gerror: 0x4d + 32 } as const;

export interface IommuWorldOptions {
  readonly dts?: string;
  readonly cmdline?: string;
  /** Probe the SMMU (default true). */
  readonly probeSmmu?: boolean;
  readonly irqs?: FakeIrqs;
  readonly deferredProbeCheckState?: IommuCoreOptions["deferredProbeCheckState"];
}

export interface IommuWorld {
  readonly soc: Soc;
  readonly allocator: PageAllocator;
  readonly printk: Printk;
  readonly trace: KernelTrace;
  readonly sysfs: SysfsFs;
  readonly core: IommuCore;
  readonly driver: ArmSmmuV3Driver;
  readonly irqs: FakeIrqs;
  readonly devices: TestDevice[];
  smmu: ArmSmmuDevice | null;
  /** The device called `name` (`c030000.dma-test`). */
  dev(name: string): TestDevice;
  /** Probes the SMMU as the platform driver would. */
  probeSmmu(): ArmSmmuDevice;
  /** dmesg text lines without timestamps. */
  log(): string[];
}

/** `<unit address>.<node name>` as of_device_make_bus_id() names a DT device. */
function busId(node: DtNode, address: number): string {
  return `${address.toString(16)}.${node.name.replace(/@.*$/, "")}`;
}

/** The board's devices that matter to the IOMMU tests, in device-tree order. */
function populate(soc: Soc, sysfs: SysfsFs): TestDevice[] {
  const out: TestDevice[] = [];
  walkNodes(soc.tree, (node, _path, parent, ancestors) => {
    if (!parent) return true;
    const compatible = propStrings(node, "compatible");
    if (!compatible || !node.properties.some((p) => p.name === "reg")) return true;
    if (compatible.includes("simple-bus")) return true;
    if (compatible.some((c) => c.startsWith("arm,gic") || c === "pci-host-ecam-generic")) {
      return false;
    }
    let address: number;
    try {
      address = readReg(node, ancestors)[0]!.address;
    } catch {
      return false;
    }
    const bus = compatible.includes("arm,primecell") ? "amba" : "platform";
    const inBus = ancestors.length > 1;
    const name = busId(node, address);
    const path = inBus
      ? `/sys/devices/platform/c000000.platform-bus/${name}`
      : `/sys/devices/platform/${name}`;
    sysfs.mkdir(path);
    out.push(new TestDevice(name, bus, path, node));
    return false;
  });
  return out;
}

export function iommuWorld(opts: IommuWorldOptions = {}): IommuWorld {
  const soc = Soc.fromDeviceTree(opts.dts ?? boards.virtLab({ ramSize: 1024 ** 3 }));
  const allocator = new PageAllocator(soc.memory, soc.ram);
  const now = () => soc.clock.now;
  const printk = new Printk({ now });
  const trace = new KernelTrace(now);
  trace.forwardPrintk(printk);
  trace.forwardHw(soc.trace);
  const sysfs = new SysfsFs();
  const core = new IommuCore({
    printk,
    trace,
    sysfs,
    allocator,
    tree: soc.tree,
    cmdline: parseKernelCmdline(opts.cmdline ?? ""),
    clock: soc.clock,
    ...(opts.deferredProbeCheckState
      ? { deferredProbeCheckState: opts.deferredProbeCheckState }
      : {}),
  });
  core.iommuSubsysInit();
  const devices = populate(soc, sysfs);
  const busOf = (name: string): IommuBus => ({
    name,
    devices: () => devices.filter((d) => d.busName === name),
    dmaConfigure: (dev) => core.ofDmaConfigure(dev, dev.dtNode, true),
  });
  core.setBuses([busOf("platform"), busOf("amba")]);
  const irqs = opts.irqs ?? new FakeIrqs();
  const driver = new ArmSmmuV3Driver({ core, bus: soc.bus, irq: irqs });
  const dev = (name: string) => {
    const d = devices.find((x) => x.name === name);
    if (!d) throw new Error(`no device ${name}`);
    return d;
  };
  const world: IommuWorld = {
    soc,
    allocator,
    printk,
    trace,
    sysfs,
    core,
    driver,
    irqs,
    devices,
    smmu: null,
    dev,
    probeSmmu() {
      const smmuDev = dev("9050000.smmuv3");
      smmuDev.driverName = "arm-smmu-v3";
      // really_probe() configures DMA before the driver's probe: the SMMU is behind no IOMMU.
      core.ofDmaConfigure(smmuDev, smmuDev.dtNode, true);
      try {
        world.smmu = driver.probe({
          dev: smmuDev,
          res: { start: 0x905_0000, size: 0x2_0000 },
          irqs: SMMU_IRQS,
        });
      } catch (e) {
        smmuDev.driverName = undefined;
        throw e;
      }
      return world.smmu;
    },
    log: () => printk.records().map((r) => r.text),
  };
  if (opts.probeSmmu ?? true) world.probeSmmu();
  return world;
}

/** dma-test register offsets (hw-soc's DMA_TEST_REGISTERS). */
const DT = {
  SRC_LO: 0x08,
  SRC_HI: 0x0c,
  DST_LO: 0x10,
  DST_HI: 0x14,
  LEN: 0x18,
  CTRL: 0x1c,
  STATUS: 0x20,
  ERR_ADDR_LO: 0x28,
  ERR_ADDR_HI: 0x2c,
} as const;

export interface DmaTestResult {
  readonly ok: boolean;
  readonly status: number;
  readonly errAddr: number;
}

/** Programs a vfio-lab,dma-test engine to copy `len` bytes and runs it to completion. */
export function dmaTestCopy(
  soc: Soc,
  base: number,
  src: number,
  dst: number,
  len: number,
): DmaTestResult {
  const w = (off: number, v: number) => soc.bus.write(base + off, 4, v >>> 0);
  const r = (off: number) => soc.bus.read(base + off, 4);
  w(DT.STATUS, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
  w(DT.SRC_LO, src % 2 ** 32);
  w(DT.SRC_HI, Math.floor(src / 2 ** 32));
  w(DT.DST_LO, dst % 2 ** 32);
  w(DT.DST_HI, Math.floor(dst / 2 ** 32));
  w(DT.LEN, len);
  w(DT.CTRL, DMA_TEST_CTRL.START | (DMA_TEST_CTRL.MODE_COPY << DMA_TEST_CTRL.MODE_SHIFT));
  soc.clock.runUntil(() => (r(DT.STATUS) & DMA_TEST_STATUS.BUSY) === 0);
  const status = r(DT.STATUS);
  return {
    ok: (status & DMA_TEST_STATUS.DONE) !== 0,
    status,
    errAddr: r(DT.ERR_ADDR_LO) + r(DT.ERR_ADDR_HI) * 2 ** 32,
  };
}

/** The kernfs node at an absolute `/sys/…` path (links not followed). */
function sysNode(sysfs: SysfsFs, path: string): KernfsNode | undefined {
  const parts = path.split("/").filter((p) => p !== "");
  if (parts[0] !== "sys") return undefined;
  let kn: KernfsNode | undefined = sysfs.kernfs.kn;
  for (const p of parts.slice(1)) {
    if (kn?.kind !== "dir") return undefined;
    kn = sysfs.kernfs.find(kn, p);
  }
  return kn;
}

/** readlink(2) of a sysfs link: the relative path Linux shows. */
export function sysReadlink(sysfs: SysfsFs, path: string): string {
  const kn = sysNode(sysfs, path);
  if (kn?.kind !== "link") throw new Error(`${path} is not a link`);
  return sysfs.kernfs.getTargetPath(kn);
}

/** The absolute `/sys/…` path a link resolves to. */
export function sysLinkTarget(sysfs: SysfsFs, path: string): string {
  const kn = sysNode(sysfs, path);
  if (kn?.kind !== "link" || !kn.target) throw new Error(`${path} is not a link`);
  return `/sys${sysfs.kernfs.path(kn.target)}`;
}

/** cat of a sysfs attribute. */
export function sysRead(sysfs: SysfsFs, path: string): string {
  const kn = sysNode(sysfs, path);
  if (kn?.kind !== "file" || !kn.attr?.show) throw new Error(`${path} is not readable`);
  return kn.attr.show();
}

/** echo into a sysfs attribute (the store's SysError propagates). */
export function sysWrite(sysfs: SysfsFs, path: string, text: string): void {
  const kn = sysNode(sysfs, path);
  if (kn?.kind !== "file" || !kn.attr?.store) throw new Error(`${path} is not writable`);
  kn.attr.store(text);
}

/** ls of a sysfs directory, in Linux's order. */
export function sysLs(sysfs: SysfsFs, path: string): string[] {
  const kn = sysNode(sysfs, path);
  if (kn?.kind !== "dir") throw new Error(`${path} is not a directory`);
  return sysfs.kernfs.sortedChildren(kn).map((n) => n.name);
}

/**
 * A board with an IOMMU that groups devices, for tests of shared groups: a mock IOMMU (the test
 * registers its driver) and two devices `2000000.a` and `2001000.b` behind it.
 */
export const MOCK_IOMMU_DTS = `/dts-v1/;
/ {
	#address-cells = <0x2>;
	#size-cells = <0x2>;
	compatible = "vfio-lab,test";
	memory@40000000 {
		device_type = "memory";
		reg = <0x0 0x40000000 0x0 0x10000000>;
	};
	mock: iommu@1000000 {
		compatible = "vfio-lab,mock-iommu";
		reg = <0x0 0x1000000 0x0 0x1000>;
		#iommu-cells = <0x1>;
	};
	a@2000000 {
		compatible = "vfio-lab,test-a";
		reg = <0x0 0x2000000 0x0 0x1000>;
		iommus = <&mock 0x1>;
	};
	b@2001000 {
		compatible = "vfio-lab,test-b";
		reg = <0x0 0x2001000 0x0 0x1000>;
		iommus = <&mock 0x2>;
	};
};
`;
