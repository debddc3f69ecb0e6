/**
 * drivers/uio/uio_pdrv_genirq.c: the module `uio_pdrv_genirq` — a platform driver that hands
 * any platform device to user space as `/dev/uioN`, with "generic IRQ handling": the interrupt
 * handler only disables the line, user space quiets the device and re-enables the line by
 * writing 1 to /dev/uioN.
 *
 * Binding: the OF match table has one entry, filled from the `of_id` parameter (a 128-byte
 * string, perm 0: no file under /sys/module/uio_pdrv_genirq/parameters, settable only at
 * load); with `of_id` empty the table ends at once, so only `driver_override` binds it (the
 * name fallback of platform_match() would need a device called `uio_pdrv_genirq`). It is a
 * platform driver: the PrimeCells of an OF tree are AMBA devices and can never bind it
 * (oracle-probes/uio-amba.7.3.txt).
 *
 * Probe (device-tree devices): `uio_info` named by `linux,uio-name` or else `%pfwP` — the
 * node's name with its unit address (`dma-test@31000`) — version "devicetree"; interrupt 0 by
 * platform_get_irq_optional() (none → UIO_IRQ_NONE; EPROBE_DEFER passed on; another error →
 * "failed to get IRQ"); a level interrupt gets IRQ_DISABLE_UNLAZY (the line is masked at once
 * when disabled, since only user space can clear its cause); one UIO_MEM_PHYS map per resource
 * whose flags are exactly IORESOURCE_MEM, at most MAX_UIO_MAPS ("device has more than 5 I/O
 * memory resources."), each from the resource's page (`addr`), with the registers' offset in it
 * (`offs`) and whole pages (`size`), named like the resource; then devm_uio_register_device()
 * ("unable to register uio device" when it fails). Checked against Linux 7.3:
 * oracle-probes/uio-pdrv-genirq.7.3.txt, uio-pl031-platform.7.3.txt.
 *
 * It is a DMA-API driver (no `driver_managed_dma`): binding it claims the device's IOMMU group
 * for the kernel, and whatever the device masters goes through the kernel's default domain.
 *
 * Caveat:
 * - Runtime PM is not modelled: pm_runtime_enable()/get_sync()/put_sync() of probe, open and
 *   release do nothing (the oracle's kernel has CONFIG_PM off too).
 * - Platform data (`dev_get_platdata()`, board files) is not modelled: a device without an OF
 *   node fails with "missing platform_data", so "failed to get IRQ" (an IRQ resource of 0) and
 *   "interrupt configuration error" cannot be reached on an OF board.
 * - The probe keeps its platdata as the device's driver data (Linux sets none), so tests and
 *   notebooks can find it with uioPdrvGenirqOf().
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  defineModule,
  errno,
  IORESOURCE_MEM,
  IRQ_DISABLE_UNLAZY,
  IRQ_HANDLED,
  IRQ_TYPE_LEVEL_MASK,
  IRQF_SHARED,
  type Kernel,
  moduleParam,
  type PlatformDevice,
  PlatformDriver,
  SysError,
} from "@vfio-lab/kernel";
import { devmUioRegisterDevice, uioModule } from "./uio.js";
import {
  MAX_UIO_MAPS,
  newUioInfo,
  UIO_IRQ_NONE,
  UIO_MEM_PHYS,
  type UioInfo,
} from "./uio-driver.js";

/** `DRIVER_NAME`: the platform driver's name, what driver_override must say. */
export const UIO_PDRV_GENIRQ = "uio_pdrv_genirq";

/** The module as an owner (THIS_MODULE of devm_uio_register_device()). */
const THIS_MODULE = { name: UIO_PDRV_GENIRQ } as const;

/** `struct uio_pdrv_genirq_platdata`. */
export interface UioPdrvGenirqPlatdata {
  readonly uioinfo: UioInfo;
  /** Bit UIO_IRQ_DISABLED of `flags`: the handler (or user space) disabled the line. */
  irqDisabled: boolean;
  readonly pdev: PlatformDevice;
}

const EPROBE_DEFER = errno("EPROBE_DEFER");
const ENXIO = errno("ENXIO");

/**
 * uio_pdrv_genirq.c: uio_pdrv_genirq_handler() — disable the line (once) and count the event;
 * the device keeps asserting until user space clears its cause.
 */
function uioPdrvGenirqHandler(kernel: Kernel, irq: number, info: UioInfo): number {
  const priv = info.priv as UioPdrvGenirqPlatdata;
  if (!priv.irqDisabled) {
    priv.irqDisabled = true;
    kernel.irq.disableIrqNosync(irq);
  }
  return IRQ_HANDLED;
}

/**
 * uio_pdrv_genirq.c: uio_pdrv_genirq_irqcontrol() — a non-zero value enables the line if the
 * driver disabled it, zero disables it if enabled; the flag keeps the disable depth at one.
 */
function uioPdrvGenirqIrqcontrol(kernel: Kernel, info: UioInfo, irqOn: number): void {
  const priv = info.priv as UioPdrvGenirqPlatdata;
  if (irqOn) {
    if (priv.irqDisabled) {
      priv.irqDisabled = false;
      kernel.irq.enableIrq(info.irq);
    }
  } else if (!priv.irqDisabled) {
    priv.irqDisabled = true;
    kernel.irq.disableIrqNosync(info.irq);
  }
}

/** platform_get_irq_optional() as C returns it: the IRQ, or a negative errno. */
function getIrqOptional(pdev: PlatformDevice, num: number): number {
  try {
    return pdev.getIrqOptional(num);
  } catch (e) {
    if (SysError.isInstance(e)) return -e.errno;
    throw e;
  }
}

/** uio_pdrv_genirq.c: uio_pdrv_genirq_probe() */
function uioPdrvGenirqProbe(kernel: Kernel, pdev: PlatformDevice): void {
  const fn = "uio_pdrv_genirq_probe";
  const log = pdev.log;
  const node = pdev.ofNode;
  let uioinfo: UioInfo | null = null;
  if (node) {
    if (kernel.allocator.shouldFail("devm_kzalloc")) {
      log.err("unable to kmalloc");
      throw new SysError("ENOMEM", fn, "uio_info");
    }
    // device_property_read_string(): the property's first string; else "%pfwP", the node's
    // name with its unit address (kbasename of full_name).
    const uioName = node.strings("linux,uio-name")[0];
    uioinfo = newUioInfo(uioName ?? node.fullName, "devicetree");
  }
  if (!uioinfo) {
    log.err("missing platform_data");
    throw new SysError("EINVAL", fn, "missing platform_data");
  }
  if (uioinfo.handler || uioinfo.irqcontrol || uioinfo.irqFlags & IRQF_SHARED) {
    log.err("interrupt configuration error");
    throw new SysError("EINVAL", fn, "interrupt configuration error");
  }
  if (kernel.allocator.shouldFail("devm_kzalloc")) {
    log.err("unable to kmalloc");
    throw new SysError("ENOMEM", fn, "platdata");
  }
  const priv: UioPdrvGenirqPlatdata = { uioinfo, irqDisabled: false, pdev };

  if (!uioinfo.irq) {
    const ret = getIrqOptional(pdev, 0);
    uioinfo.irq = ret;
    if (ret === -ENXIO) uioinfo.irq = UIO_IRQ_NONE;
    else if (ret === -EPROBE_DEFER) throw SysError.fromNegative(ret, fn);
    else if (ret < 0) {
      log.err("failed to get IRQ");
      throw SysError.fromNegative(ret, fn);
    }
  }
  if (uioinfo.irq) {
    // Only user space clears a level interrupt's cause: a lazy disable would fire it again.
    if (kernel.irq.irqGetTriggerType(uioinfo.irq) & IRQ_TYPE_LEVEL_MASK) {
      log.dbg("disable lazy unmask");
      kernel.irq.irqSetStatusFlags(uioinfo.irq, IRQ_DISABLE_UNLAZY);
    }
  }

  let m = 0;
  for (const r of pdev.resources) {
    // Exactly IORESOURCE_MEM: a resource with any other flag (BUSY, 64-bit …) is skipped.
    if (r.flags >>> 0 !== IORESOURCE_MEM) continue;
    if (m >= MAX_UIO_MAPS) {
      log.warn(`device has more than ${MAX_UIO_MAPS} I/O memory resources.`);
      break;
    }
    const mem = uioinfo.mem[m++]!;
    mem.memtype = UIO_MEM_PHYS;
    mem.offs = r.start % PAGE_SIZE;
    mem.addr = r.start - mem.offs;
    mem.size = Math.ceil((mem.offs + r.size) / PAGE_SIZE) * PAGE_SIZE;
    mem.name = r.name;
  }

  uioinfo.handler = (irq, info) => uioPdrvGenirqHandler(kernel, irq, info);
  uioinfo.irqcontrol = (info, irqOn) => uioPdrvGenirqIrqcontrol(kernel, info, irqOn);
  // uio_pdrv_genirq_open()/_release(): runtime-PM get/put (not modelled).
  uioinfo.open = () => {};
  uioinfo.release = () => {};
  uioinfo.priv = priv;

  // pm_runtime_enable() and its devm cleanup, pm_runtime_disable() (not modelled).
  pdev.devres.add("uio_pdrv_genirq_cleanup", () => {});
  try {
    devmUioRegisterDevice(kernel, THIS_MODULE, pdev, uioinfo);
  } catch (e) {
    log.err("unable to register uio device");
    throw e;
  }
  pdev.driverData = priv;
}

function ofIdParam() {
  return moduleParam("of_id", "string", {
    perm: 0,
    maxlen: 128,
    default: "",
    description: "Openfirmware id of the device to be handled by uio",
  });
}

const registered = new WeakMap<Kernel, PlatformDriver>();

/** The platform driver, its OF table filled from `of_id` (module_param_string into the table). */
function uioPdrvGenirqDriver(kernel: Kernel, ofId: string): PlatformDriver {
  return new PlatformDriver({
    name: UIO_PDRV_GENIRQ,
    owner: UIO_PDRV_GENIRQ,
    ofMatchTable: [{ compatible: ofId }, {}],
    probe: (pdev) => uioPdrvGenirqProbe(kernel, pdev),
  });
}

/**
 * The `uio_pdrv_genirq` module (module_platform_driver()): needs `uio`; `of_id` as above;
 * MODULE_ALIAS("platform:uio_pdrv_genirq"), no MODULE_DEVICE_TABLE and no MODULE_VERSION.
 */
export const uioPdrvGenirqModule = defineModule<Kernel, readonly [ReturnType<typeof ofIdParam>]>({
  name: UIO_PDRV_GENIRQ,
  params: [ofIdParam()],
  dependencies: [uioModule],
  init: (kernel, params) => {
    const drv = uioPdrvGenirqDriver(kernel, params.of_id);
    kernel.drivers.registerDriver(drv);
    registered.set(kernel, drv);
  },
  exit: (kernel) => {
    const drv = registered.get(kernel);
    if (!drv) return;
    kernel.drivers.unregisterDriver(drv);
    registered.delete(kernel);
  },
});

/** The driver state of a device bound to uio_pdrv_genirq, or undefined. */
export function uioPdrvGenirqOf(pdev: PlatformDevice): UioPdrvGenirqPlatdata | undefined {
  if (pdev.driver?.name !== UIO_PDRV_GENIRQ) return undefined;
  return pdev.driverData as UioPdrvGenirqPlatdata;
}
