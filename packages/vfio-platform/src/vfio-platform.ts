/**
 * drivers/vfio/platform/vfio_platform.c: the module `vfio_platform` and its platform driver
 * `vfio-platform`, which hands a platform device (an OF node that is not an AMBA PrimeCell) to
 * user space through the VFIO core.
 *
 * The driver has no OF match table and no id table: only `driver_override` binds it (the
 * platform bus's last resort, comparing `pdev->name` with the driver name, never matches an OF
 * device, whose name is its unit address and node name). It sets `driver_managed_dma`, so
 * binding it leaves the IOMMU group's DMA ownership alone; user space claims the group later.
 *
 * Probe (vfio_platform_probe()):
 *   1. vfio_alloc_device() → ops.init (vfio_platform_init_dev): `vdev->name = pdev->name`,
 *      flags PLATFORM, resources by platform_get_mem_or_io(), IRQs by
 *      platform_get_irq_optional(), `reset_required` from the module parameter; then
 *      vfio_platform_init_common() — the compatible, the reset lookup (which may load a reset
 *      module by its `vfio-reset:<compat>` alias) and, without one while a reset is required,
 *      `VFIO: No reset function found for device <name>` and ENOENT. A failing init does not
 *      run `release`.
 *   2. vfio_register_group_dev(): EINVAL (silently) without an IOMMU group unless no-IOMMU
 *      mode makes one, which taints. A failure puts the device (→ release).
 *   3. pm_runtime_enable(), drvdata.
 *
 * Remove: vfio_unregister_group_dev() waits for every user to close the device (the ops have
 * no `request`, so user space is never asked), then the device is put: release drops the
 * reference on the reset module.
 *
 * The 2024 RFC (a) hooks in where its patch would: vfioPlatformSelectOps() picks the emulated
 * iommufd ops before allocation, vfioPlatformRegisterDev() registers accordingly (both in
 * vfio-platform-nodma.ts, inert unless `vfio_platform_base.assign_dma_incapable=1`).
 *
 * Caveat:
 * - Runtime PM is not modelled (pm_runtime_enable/disable are no-ops: no board device has
 *   power domains).
 * - No MODULE_AUTHOR/DESCRIPTION/LICENSE (the model has no modinfo).
 */

import {
  defineModule,
  type Kernel,
  type KernelModule,
  moduleParam,
  type PlatformDevice,
  PlatformDriver,
  SysError,
} from "@vfio-lab/kernel";
import { VFIO_DEVICE_FLAGS_PLATFORM } from "@vfio-lab/kernel/uapi";
import { type VfioDeviceOps, vfioModule } from "@vfio-lab/vfio-core";
import {
  moduleDriver,
  VFIO_PLATFORM_BASE_VERSION,
  vfioPlatformBaseModule,
} from "./vfio-platform-base.js";
import {
  vfioPlatformCommonOps,
  vfioPlatformInitCommon,
  vfioPlatformPhysicalIommufdOps,
  vfioPlatformProbeCommon,
  vfioPlatformReleaseCommon,
  vfioPlatformRemoveCommon,
} from "./vfio-platform-common.js";
import { vfioPlatformEmulatedIommufdOps, vfioPlatformSelectOps } from "./vfio-platform-nodma.js";
import { VfioPlatformDevice } from "./vfio-platform-private.js";

/** The driver's name: what `driver_override` must say. */
export const VFIO_PLATFORM = "vfio-platform";
/** The module's name (lsmod). */
export const VFIO_PLATFORM_MODULE = "vfio_platform";

/** vfio_platform.c: module_param(reset_required, bool, 0444). */
function resetRequiredParam() {
  return moduleParam("reset_required", "bool", {
    perm: 0o444,
    default: true,
    description: "override reset requirement (default: 1)",
  });
}

type ResetRequired = ReturnType<typeof resetRequiredParam>;

/** vfio_platform.c: get_platform_irq() — platform_get_irq_optional() as an int. */
function getPlatformIrq(pdev: PlatformDevice, i: number): number {
  try {
    return pdev.getIrqOptional(i);
  } catch (e) {
    if (SysError.isInstance(e)) return e.negative;
    throw e;
  }
}

/** vfio_platform.c: vfio_platform_release_dev() */
function vfioPlatformReleaseDev(vdev: VfioPlatformDevice): void {
  vfioPlatformReleaseCommon(vdev);
}

/**
 * vfio_platform.c: vfio_platform_ops. `init` is vfio_platform_init_dev() minus the binder
 * half, which the VfioPlatformDevice constructor has already filled in (see probe).
 */
export const vfioPlatformOps: VfioDeviceOps<VfioPlatformDevice> = {
  name: VFIO_PLATFORM,
  init: vfioPlatformInitCommon,
  release: vfioPlatformReleaseDev,
  ...vfioPlatformCommonOps,
  ...vfioPlatformPhysicalIommufdOps,
};

/** RFC (a): the same ops with an iommufd access in place of the physical device. */
const vfioPlatformEmulatedOps: VfioDeviceOps<VfioPlatformDevice> = {
  ...vfioPlatformOps,
  ...vfioPlatformEmulatedIommufdOps,
};

/** vfio_platform.c: vfio_platform_probe() */
function vfioPlatformProbe(kernel: Kernel, params: { reset_required: boolean }) {
  return (pdev: PlatformDevice): void => {
    const ops = vfioPlatformSelectOps(kernel, pdev, vfioPlatformOps, vfioPlatformEmulatedOps);
    // vfio_alloc_device(): vfio_platform_init_dev()'s fields first, then ops.init.
    vfioPlatformProbeCommon(
      new VfioPlatformDevice(kernel, pdev, ops, () => ({
        platformName: pdev.pdevName,
        flags: VFIO_DEVICE_FLAGS_PLATFORM,
        getResource: (i) => pdev.getMemOrIo(i),
        getIrq: (i) => getPlatformIrq(pdev, i),
        resetRequired: params.reset_required,
      })),
    );
  };
}

/** The `vfio_platform` module: module_platform_driver(vfio_platform_driver). */
export const vfioPlatformModule: KernelModule<Kernel, readonly [ResetRequired]> = defineModule({
  name: VFIO_PLATFORM_MODULE,
  params: [resetRequiredParam()],
  // Symbols of vfio_platform_base.ko (init_common, the ops) and of vfio.ko (registration).
  dependencies: [vfioPlatformBaseModule, vfioModule],
  version: VFIO_PLATFORM_BASE_VERSION,
  ...moduleDriver(
    (kernel, params: { reset_required: boolean }) =>
      new PlatformDriver({
        name: VFIO_PLATFORM,
        owner: VFIO_PLATFORM_MODULE,
        driverManagedDma: true,
        probe: vfioPlatformProbe(kernel, params),
        // vfio_platform_remove()
        remove: vfioPlatformRemoveCommon,
      }),
  ),
});

/**
 * The VfioPlatformDevice bound to board device `name` on `bus` (vfio-platform, vfio-amba or an
 * RFC variant driver) — what a test or notebook inspects; a model error when there is none.
 */
export function vfioPlatformDeviceOf(
  kernel: Kernel,
  bus: "platform" | "amba",
  name: string,
): VfioPlatformDevice {
  const dev = kernel.drivers.findDevice(bus, name);
  if (!dev) throw new Error(`no ${bus} device ${name}`);
  if (!(dev.driverData instanceof VfioPlatformDevice)) {
    throw new Error(`${bus} device ${name} is not bound to a vfio-platform driver`);
  }
  return dev.driverData;
}
