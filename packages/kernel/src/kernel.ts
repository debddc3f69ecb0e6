/**
 * The kernel: boots on a hw-soc `Soc` and owns every core subsystem — page allocator, VFS
 * (devtmpfs, sysfs, procfs), printk and /dev/kmsg, taint, modules, the trace bus — plus the
 * process table. ARCHITECTURE.md §3 is its contract: `Kernel.boot(soc, { cmdline })`,
 * `kernel.spawn({ comm, uid, caps, rlimits })`, `kernel.modprobe(module, params)`,
 * `kernel.rmmod(name)`.
 *
 * Caveat: there is no scheduler beyond virtual time — user processes run one syscall at a time
 * from the caller's JavaScript, and a blocking call advances the SoC's clock until it can finish.
 */

import { propStrings, propU32s, type Soc } from "@vfio-lab/hw-soc";
import { BUS_NOTIFY_ADD_DEVICE, BUS_NOTIFY_REMOVED_DEVICE } from "./base/bus.js";
import { DriverCore } from "./base/core.js";
import type { Device } from "./base/device.js";
import { DRIVERS_LINK_ORDER, driversLinkIndex, registerBoardDrivers } from "./drivers/index.js";
import { ArmSmmuV3Driver } from "./drivers/iommu/arm-smmu-v3.js";
import { armSmmuV3PlatformDriver } from "./drivers/iommu/arm-smmu-v3-platform.js";
import { errnoName, SysError } from "./errno.js";
import type { ProcessTable } from "./fs/proc-pid.js";
import { Vfs } from "./fs/vfs.js";
import { IommuCore } from "./iommu/iommu.js";
import { IrqCore } from "./irq/irq-core.js";
import { type KernelConfig, type KernelConfigInput, resolveKernelConfig } from "./kconfig.js";
import { UserStructTable } from "./mm/account.js";
import { type Migration, migratePages } from "./mm/migrate.js";
import { PageAllocator } from "./mm/page-allocator.js";
import { type KernelCmdline, parseKernelCmdline } from "./module/cmdline.js";
import type { KernelModule, ModuleArgs } from "./module/index.js";
import { ModuleLoader } from "./module/loader.js";
import { Devkmsg } from "./printk/devkmsg.js";
import { KERN_INFO, KERN_NOTICE } from "./printk/levels.js";
import { Printk } from "./printk/printk.js";
import { Process, type SpawnOptions } from "./process.js";
import { Scheduler } from "./sched/wait.js";
import { Taint } from "./taint.js";
import { KernelTrace, type KernelTraceListener } from "./trace/trace-bus.js";

export interface KernelBootOptions {
  /** The kernel command line (`vfio.enable_unsafe_noiommu_mode=1 …`). */
  readonly cmdline?: string;
  /** Subscribed to the trace bus before the first boot message, to record the boot itself. */
  readonly traceListener?: KernelTraceListener;
  /** Build-time options (`CONFIG_VFIO_CONTAINER: false` …); unset ones as the oracle kernel. */
  readonly config?: KernelConfigInput;
}

/** The release the model follows (ARCHITECTURE.md, fidelity rule 7). */
export const UTS_RELEASE = "7.3.0-vfio-lab";

/** The first pid handed to a spawned process; lower ones belong to init and kernel threads. */
const FIRST_USER_PID = 100;

export class Kernel {
  readonly soc: Soc;
  readonly cmdline: string;
  /** The Kconfig choices this kernel was "built" with. */
  readonly config: KernelConfig;
  readonly parsedCmdline: KernelCmdline;
  readonly scheduler: Scheduler;
  readonly trace: KernelTrace;
  readonly printk: Printk;
  readonly taint: Taint;
  readonly allocator: PageAllocator;
  /** Per-user accounting (`struct user_struct`), for RLIMIT_MEMLOCK charged to a user. */
  readonly users = new UserStructTable();
  /**
   * `current`: the process whose system call is running, or null outside one (boot, timers,
   * interrupts). For kernel messages that name the caller ("task \"qemu\" (123)").
   */
  current: Process | null = null;
  readonly vfs: Vfs;
  readonly modules: ModuleLoader<Kernel>;
  /** The IRQ core and the GICv3 irqchip driver. */
  readonly irq: IrqCore;
  /** The IOMMU core, with the DMA API (`iommu.dma`) kernel drivers use. */
  readonly iommu: IommuCore;
  /** The driver core: platform and AMBA buses, devices from the device tree, drivers. */
  readonly drivers: DriverCore;
  /** The arm-smmu-v3 driver (its instances, once probed). */
  readonly smmu: ArmSmmuV3Driver;
  private readonly processes = new Map<number, Process>();
  private nextPid = FIRST_USER_PID;

  private constructor(soc: Soc, opts: KernelBootOptions) {
    this.soc = soc;
    this.cmdline = opts.cmdline ?? "";
    this.config = resolveKernelConfig(opts.config);
    this.parsedCmdline = parseKernelCmdline(this.cmdline);
    const now = () => soc.clock.now;
    this.scheduler = new Scheduler(soc.clock);
    this.trace = new KernelTrace(now);
    if (opts.traceListener) this.trace.subscribe(opts.traceListener);
    this.printk = new Printk({ now });
    this.taint = new Taint({ printk: this.printk });
    this.trace.forwardPrintk(this.printk);
    this.trace.forwardTaint(this.taint);
    this.trace.forwardHw(soc.trace);

    this.printk.printk(KERN_INFO, "Booting Linux on physical CPU 0x0000000000 [0x411fd070]");
    this.printk.printk(KERN_NOTICE, `Linux version ${UTS_RELEASE} (vfio-lab) #1 SMP PREEMPT`);
    this.printk.printk(KERN_INFO, `Machine model: ${machineModel(soc)}`);
    this.allocator = new PageAllocator(soc.memory, soc.ram);
    this.printk.printk(KERN_NOTICE, `Kernel command line: ${this.cmdline}`);

    const processes: ProcessTable = {
      find: (pid) => this.processes.get(pid),
      pids: () => [...this.processes.keys()].sort((a, b) => a - b),
      files: (pid) => {
        const p = this.processes.get(pid);
        return p ? p.fds.fds.map((fd) => [fd, p.fds.get(fd, "proc_fd")] as const) : [];
      },
    };
    let loader: ModuleLoader<Kernel> | undefined;
    const devkmsg = new Devkmsg({ printk: this.printk, scheduler: this.scheduler });
    this.vfs = new Vfs({
      cmdline: this.cmdline,
      tainted: () => BigInt(this.taint.value),
      addTaint: (mask) => this.taint.procTaintWrite(mask),
      processes,
      kmsgFops: devkmsg.fops,
      modules: {
        tryModuleGet: (owner) => loader?.tryModuleGet(owner) ?? true,
        modulePut: (owner) => loader?.modulePut(owner),
      },
    });
    loader = new ModuleLoader<Kernel>({
      kernel: this,
      sysfs: this.vfs.sysfs,
      printk: this.printk,
      taint: this.taint,
      trace: this.trace,
      cmdline: this.parsedCmdline,
    });
    this.modules = loader;

    // The device half of boot, in initcall order: irqchip (early), the IOMMU subsystem
    // (subsys_initcall), of_platform_populate (arch_initcall_sync), then the drivers
    // (device_initcall), each binding to the devices already there, and deferred probing last.
    this.irq = new IrqCore({ soc, printk: this.printk, trace: this.trace, taint: this.taint });
    this.irq.initGic();
    // The architected timer (drivers/clocksource/arm_arch_timer.c, TIMER_OF_DECLARE) maps its
    // four PPIs right after the GIC, so every later virq is numbered as on a real virt guest
    // (uart-pl011 is 13, arm-smmu-v3-evtq 15 — oracle-probes/pl061-vfio-amba.7.3.txt).
    // Caveat: the model has no CPU timer, so nothing requests them and no arch_timer line
    // shows in /proc/interrupts.
    const archTimer = soc.tree.root.children.find((n) =>
      propStrings(n, "compatible")?.includes("arm,armv8-timer"),
    );
    if (archTimer) {
      const n = Math.floor((propU32s(archTimer, "interrupts")?.length ?? 0) / 3);
      for (let i = 0; i < n; i++) this.irq.irqOfParseAndMap(archTimer, i);
    }
    this.iommu = new IommuCore({
      printk: this.printk,
      trace: this.trace,
      sysfs: this.vfs.sysfs,
      allocator: this.allocator,
      tree: soc.tree,
      cmdline: this.parsedCmdline,
      clock: soc.clock,
      deferredProbeCheckState: (dev) =>
        errnoName(this.drivers.driverDeferredProbeCheckState(dev as Device)) ?? "EPROBE_DEFER",
    });
    this.iommu.iommuSubsysInit();
    this.drivers = new DriverCore({
      sysfs: this.vfs.sysfs,
      printk: this.printk,
      trace: this.trace,
      bus: soc.bus,
      tree: soc.tree,
      irqMapper: { irqOfParseAndMap: (node, index) => this.irq.ofIrqGet(node, index) },
      dmaConfigurator: this.iommu,
      clock: soc.clock,
    });
    const buses = [this.drivers.platformBus, this.drivers.ambaBus];
    this.iommu.setBuses(
      buses.map((bus) => ({
        name: bus.type.name,
        devices: () => this.drivers.devices(bus.type.name),
        dmaConfigure: (dev) => bus.type.dmaConfigure?.(dev as Device),
      })),
    );
    for (const bus of buses) {
      // drivers/iommu/iommu.c: iommu_bus_notifier() — a device no IOMMU translates (ENODEV) or
      // one its IOMMU refuses is simply left without a group: the notifier's answer is ignored.
      bus.registerNotifier((action, dev) => {
        try {
          if (action === BUS_NOTIFY_ADD_DEVICE) this.iommu.iommuProbeDevice(dev);
          else if (action === BUS_NOTIFY_REMOVED_DEVICE) this.iommu.iommuReleaseDevice(dev);
        } catch (e) {
          if (!SysError.isInstance(e)) throw e;
        }
      });
    }
    this.vfs.procfs.createFile("interrupts", () => this.irq.procInterruptsShow());
    this.vfs.procfs.createFile("iomem", () => this.drivers.iomemShow());
    this.drivers.populate();
    this.smmu = new ArmSmmuV3Driver({
      core: this.iommu,
      bus: soc.bus,
      irq: this.irq,
      CONFIG_ARM_SMMU_V3_IOMMUFD: this.config.CONFIG_ARM_SMMU_V3_IOMMUFD,
    });
    // Built-in drivers register in link order; arm-smmu-v3 (drivers/iommu) sits among them, so
    // a bus master whose driver links earlier (dma-pl330) defers until the SMMU has probed.
    const iommuAt = DRIVERS_LINK_ORDER.indexOf("drivers/iommu");
    let smmuRegistered = false;
    const registerSmmu = () => {
      if (smmuRegistered) return;
      smmuRegistered = true;
      this.drivers.registerDriver(armSmmuV3PlatformDriver(this.smmu, this.irq));
    };
    registerBoardDrivers(
      this.drivers,
      { irq: this.irq, dma: this.iommu.dma, scheduler: this.scheduler },
      (entry) => {
        if (entry.initcall === "device_initcall" && driversLinkIndex(entry.linkDir) > iommuAt) {
          registerSmmu();
        }
      },
    );
    registerSmmu();
    this.drivers.lateInitcalls();
  }

  /** Boots a kernel on `soc`: memory, filesystems, consoles; the drivers come with later layers. */
  static boot(soc: Soc, opts: KernelBootOptions = {}): Kernel {
    return new Kernel(soc, opts);
  }

  /** Starts a user process (default: root with every capability, RLIMIT_MEMLOCK 8 MiB). */
  spawn(opts: SpawnOptions = {}): Process {
    const pid = this.nextPid++;
    const p = new Process(this, pid, opts);
    this.processes.set(pid, p);
    return p;
  }

  /** The live process with this pid, or undefined. */
  process(pid: number): Process | undefined {
    return this.processes.get(pid);
  }

  /** Called by `Process.exit()`: the pid disappears from /proc. */
  reap(p: Process): void {
    this.processes.delete(p.pid);
  }

  /**
   * modprobe(8) of a module object, dependencies first; `params` override `module.param=` from
   * the command line. finit_module() errors: EEXIST when already loaded, the init's errno.
   */
  modprobe(module: KernelModule<Kernel>, params?: ModuleArgs): void {
    this.modules.modprobe(module, params);
  }

  /** delete_module(2): ENOENT when not loaded, EWOULDBLOCK (EAGAIN) while in use. */
  rmmod(name: string): void {
    this.modules.rmmod(name);
  }

  /** The kernel log, one line per record, as dmesg(1) prints it. */
  dmesg(): string[] {
    return this.printk.dmesg();
  }

  /**
   * Memory compaction: moves every movable user page that is not pinned (mlocked ones included)
   * and fixes up the page tables — the point of the no-IOMMU "pin, don't mlock" rule.
   */
  migratePages(): Migration[] {
    return migratePages(this.allocator);
  }

  /** A SysError for kernel code that wants one without importing errno. */
  static error(
    code: ConstructorParameters<typeof SysError>[0],
    fn: string,
    detail?: string,
  ): SysError {
    return new SysError(code, fn, detail);
  }
}

function machineModel(soc: Soc): string {
  const model = soc.tree.root.properties.find((p) => p.name === "model");
  if (!model) return "unknown";
  return new TextDecoder().decode(model.value).replace(/\0.*$/s, "");
}
