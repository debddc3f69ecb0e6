/**
 * The `vfio_platform_base` module (drivers/vfio/platform/Makefile: vfio_platform_common.o +
 * vfio_platform_irq.o linked into vfio-platform-base.ko): what it owns per kernel — the reset
 * registry (`reset_list`, guarded by `driver_lock` in the C) — its version, and the one
 * parameter of the 2024 RFC (a), `assign_dma_incapable`, which mainline does not have.
 *
 * The code of the module lives in vfio-platform-common.ts and vfio-platform-irq.ts; this file
 * is the module object and its state. `devErrOnce()` is the `dev_err_once()` latch the
 * deprecation lines of vfio-amba and the reset modules need: a static in *their* module image,
 * so it fires again after that module is unloaded and loaded anew. `moduleDriver()` is the
 * module_driver() boilerplate the bus-driver modules (vfio_platform, vfio_amba, the RFC
 * variants) share.
 *
 * Caveat:
 * - `assign_dma_incapable` is not in Linux (perm 0: no file under /sys/module, so the default
 *   system shows exactly mainline's sysfs); it is read by vfio-platform-nodma.ts.
 * - No MODULE_AUTHOR/MODULE_DESCRIPTION/MODULE_LICENSE (the model has no modinfo).
 */

import {
  type AmbaDriver,
  type Device,
  defineModule,
  type Kernel,
  type KernelModule,
  type LoadedModule,
  moduleParam,
  type PlatformDriver,
} from "@vfio-lab/kernel";
import { vfioModule } from "@vfio-lab/vfio-core";
import type { VfioPlatformResetNode } from "./vfio-platform-private.js";

/** vfio_platform_common.c: DRIVER_VERSION (also vfio_platform.c's and vfio_amba.c's). */
export const VFIO_PLATFORM_BASE_VERSION = "0.10";
/** The module name, as lsmod shows it. */
export const VFIO_PLATFORM_BASE = "vfio_platform_base";

/** RFC (a), seed 000: off by default, so the default kernel is mainline's. */
function assignDmaIncapableParam() {
  return moduleParam("assign_dma_incapable", "bool", {
    perm: 0,
    default: false,
    description:
      "2024 RFC (not in Linux): register platform/AMBA devices that platform_dma_capable() finds DMA-incapable with an emulated IOMMU",
  });
}

type AssignDmaIncapable = ReturnType<typeof assignDmaIncapableParam>;

/** What vfio_platform_base holds while it is loaded. */
export interface VfioPlatformBase {
  /** `reset_list`: newest registration first (list_add() puts it at the head). */
  readonly resetList: VfioPlatformResetNode[];
  /** The live parameter values (modprobe arguments or `vfio_platform_base.x=` at boot). */
  readonly params: { assign_dma_incapable: boolean };
}

const bases = new WeakMap<Kernel, VfioPlatformBase>();

/** The `vfio_platform_base` module: no init work beyond its state, as in the C. */
export const vfioPlatformBaseModule: KernelModule<Kernel, readonly [AssignDmaIncapable]> =
  defineModule({
    name: VFIO_PLATFORM_BASE,
    params: [assignDmaIncapableParam()],
    // vfio_platform_irq.c uses vfio_set_irqs_validate_and_prepare() and the virqfd helpers,
    // the ioctl path vfio_register_group_dev()'s callers: symbols of vfio.ko.
    dependencies: [vfioModule],
    version: VFIO_PLATFORM_BASE_VERSION,
    init: (kernel, params) => {
      bases.set(kernel, { resetList: [], params });
    },
    exit: (kernel) => {
      bases.delete(kernel);
    },
  });

/** The loaded vfio_platform_base of `kernel`; a model error if it is not loaded. */
export function vfioPlatformBaseOf(kernel: Kernel): VfioPlatformBase {
  const base = bases.get(kernel);
  if (!base) throw new Error(`${VFIO_PLATFORM_BASE} is not loaded`);
  return base;
}

/** The sites that already printed, per loaded module image (its statics die with it). */
const onceByModule = new WeakMap<LoadedModule<Kernel>, Set<string>>();
/** Sites of code that is not in a loaded module (tests driving the functions directly). */
const onceBuiltin = new WeakMap<Kernel, Set<string>>();

/**
 * `dev_err_once()`: `site` is `<module>:<tag>` — the module whose image holds the static
 * `__print_once` (`vfio_amba:deprecation`), so that unloading and reloading that module prints
 * the line again, as Linux does (oracle P7). A site whose module is not loaded latches per
 * kernel.
 */
export function devErrOnce(kernel: Kernel, site: string, dev: Device, text: string): void {
  const colon = site.indexOf(":");
  const mod = colon > 0 ? kernel.modules.find(site.slice(0, colon)) : undefined;
  let done: Set<string> | undefined;
  if (mod) {
    done = onceByModule.get(mod);
    if (!done) {
      done = new Set();
      onceByModule.set(mod, done);
    }
  } else {
    done = onceBuiltin.get(kernel);
    if (!done) {
      done = new Set();
      onceBuiltin.set(kernel, done);
    }
  }
  if (done.has(site)) return;
  done.add(site);
  dev.log.err(text);
}

/**
 * module_driver() (include/linux/device/driver.h, what module_platform_driver() and
 * module_amba_driver() expand to): the module's init registers the driver `make` builds for
 * that kernel (a probe closes over the kernel and the parameters), its exit unregisters it.
 */
export function moduleDriver<P>(make: (kernel: Kernel, params: P) => PlatformDriver | AmbaDriver): {
  init(kernel: Kernel, params: P): void;
  exit(kernel: Kernel): void;
} {
  const drivers = new WeakMap<Kernel, PlatformDriver | AmbaDriver>();
  return {
    init: (kernel, params) => {
      const driver = make(kernel, params);
      kernel.drivers.registerDriver(driver);
      drivers.set(kernel, driver);
    },
    exit: (kernel) => {
      const driver = drivers.get(kernel);
      if (!driver) return;
      kernel.drivers.unregisterDriver(driver);
      drivers.delete(kernel);
    },
  };
}
