/**
 * drivers/vfio/platform/vfio_amba.c: the module `vfio_amba` and its AMBA driver `vfio-amba`,
 * which hands an ARM PrimeCell (PL011, PL031, PL061, PL330, SP804 on the board) to user space
 * with vfio-platform's code. Deprecated since Linux 6.18.
 *
 * The id table is the single terminator `{ 0, 0 }` (no entry can match), so only
 * `driver_override` binds it; `driver_managed_dma` as vfio-platform.
 *
 * Probe (vfio_amba_probe()):
 *   0. `DEPRECATION: vfio-amba is deprecated and will be removed in a future kernel release`
 *      (dev_err_once: the first probe after the module is loaded prints it, even one that then
 *      fails; a reload of vfio_amba prints it again).
 *   1. vfio_alloc_device() → ops.init (vfio_amba_init_dev): `vdev->name` is
 *      `vfio-amba-<periphid %08x>` (kasprintf: ENOMEM) — which is what the IRQ names show —
 *      flags AMBA, the one window `adev->res` as region 0, IRQ i = `adev->irq[i]` for i < 9
 *      (0 means none: ENXIO), and never `reset_required`; then vfio_platform_init_common()
 *      (the reset lookup runs and loads nothing: no reset module knows a PrimeCell).
 *   2. vfio_register_group_dev(): the PL011/PL031/PL061/SP804 sit behind no IOMMU, so EINVAL
 *      (`probe with driver vfio-amba failed with error -22`, yet the drivers_probe write
 *      succeeds) unless no-IOMMU mode is on; the PL330 (behind the SMMU) gets its group.
 *   3. pm_runtime_enable(), drvdata.
 *
 * Remove and release as vfio-platform, release also freeing the name.
 *
 * Caveat:
 * - Runtime PM is not modelled; the kasprintf failure is the fault-injection site `kasprintf`.
 * - No MODULE_AUTHOR/DESCRIPTION/LICENSE and no MODULE_DEVICE_TABLE alias (the model has no
 *   modinfo, and the table cannot match anything anyway).
 */

import {
  AMBA_NR_IRQS,
  type AmbaDevice,
  AmbaDriver,
  defineModule,
  errno,
  type Kernel,
  type KernelModule,
  SysError,
} from "@vfio-lab/kernel";
import { VFIO_DEVICE_FLAGS_AMBA } from "@vfio-lab/kernel/uapi";
import { type VfioDeviceOps, vfioModule } from "@vfio-lab/vfio-core";
import {
  devErrOnce,
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
import { type VfioPlatformBinder, VfioPlatformDevice } from "./vfio-platform-private.js";

/** The driver's name: what `driver_override` must say. */
export const VFIO_AMBA = "vfio-amba";
/** The module's name (lsmod). */
export const VFIO_AMBA_MODULE = "vfio_amba";

/** vfio_amba.c: the probe's dev_err_once() text. */
export const VFIO_AMBA_DEPRECATION =
  "DEPRECATION: vfio-amba is deprecated and will be removed in a future kernel release";

/** `vdev->name` of an AMBA device: `vfio-amba-%08x` of its peripheral ID. */
export function vfioAmbaName(periphid: number): string {
  return `vfio-amba-${(periphid >>> 0).toString(16).padStart(8, "0")}`;
}

/** vfio_amba.c: get_amba_irq() — `adev->irq[i]`, where 0 means the PrimeCell has no line i. */
function getAmbaIrq(adev: AmbaDevice, i: number): number {
  const irq = i < AMBA_NR_IRQS ? (adev.irq[i] ?? 0) : 0;
  return irq ? irq : -errno("ENXIO");
}

/**
 * The fields vfio_amba_init_dev() sets besides `vdev->name` (given: vfio-amba's is
 * vfioAmbaName(), an RFC variant's its driver name): flags AMBA, the one window `adev->res` as
 * region 0, get_amba_irq(), and never `reset_required` — no reset module knows a PrimeCell, so
 * requiring one would make the driver useless (a variant's reset is its own).
 */
export function vfioAmbaBinder(adev: AmbaDevice, name: string): VfioPlatformBinder {
  return {
    platformName: name,
    flags: VFIO_DEVICE_FLAGS_AMBA,
    getResource: (i) => (i === 0 ? adev.res : null),
    getIrq: (i) => getAmbaIrq(adev, i),
    resetRequired: false,
  };
}

/**
 * vfio_amba.c: vfio_amba_init_dev() — the name allocation, then vfio_platform_init_common()
 * (the other fields are the binder's, already in place).
 */
function vfioAmbaInitDev(vdev: VfioPlatformDevice): void {
  if (vdev.kernel.allocator.shouldFail("kasprintf")) {
    throw new SysError("ENOMEM", "vfio_amba_init_dev", "kasprintf");
  }
  vfioPlatformInitCommon(vdev);
}

/** vfio_amba.c: vfio_amba_release_dev() — the name dies with the device (nothing to free). */
function vfioAmbaReleaseDev(vdev: VfioPlatformDevice): void {
  vfioPlatformReleaseCommon(vdev);
}

/** vfio_amba.c: vfio_amba_ops */
export const vfioAmbaOps: VfioDeviceOps<VfioPlatformDevice> = {
  name: VFIO_AMBA,
  init: vfioAmbaInitDev,
  release: vfioAmbaReleaseDev,
  ...vfioPlatformCommonOps,
  ...vfioPlatformPhysicalIommufdOps,
};

/** RFC (a): the same ops with an iommufd access in place of the physical device. */
const vfioAmbaEmulatedOps: VfioDeviceOps<VfioPlatformDevice> = {
  ...vfioAmbaOps,
  ...vfioPlatformEmulatedIommufdOps,
};

/** vfio_amba.c: vfio_amba_probe() */
function vfioAmbaProbe(kernel: Kernel) {
  return (adev: AmbaDevice): void => {
    // Before anything can fail: the static lives in vfio_amba.ko, so once per load.
    devErrOnce(kernel, `${VFIO_AMBA_MODULE}:deprecation`, adev, VFIO_AMBA_DEPRECATION);
    const ops = vfioPlatformSelectOps(kernel, adev, vfioAmbaOps, vfioAmbaEmulatedOps);
    vfioPlatformProbeCommon(
      new VfioPlatformDevice(kernel, adev, ops, () =>
        vfioAmbaBinder(adev, vfioAmbaName(adev.periphid)),
      ),
    );
  };
}

/** The `vfio_amba` module: module_amba_driver(vfio_amba_driver); no parameters. */
export const vfioAmbaModule: KernelModule<Kernel, readonly []> = defineModule({
  name: VFIO_AMBA_MODULE,
  params: [],
  dependencies: [vfioPlatformBaseModule, vfioModule],
  version: VFIO_PLATFORM_BASE_VERSION,
  ...moduleDriver(
    (kernel) =>
      new AmbaDriver({
        name: VFIO_AMBA,
        owner: VFIO_AMBA_MODULE,
        // vfio_amba_ids[] = { { 0, 0 } }: the terminator alone.
        idTable: [{ id: 0, mask: 0 }],
        driverManagedDma: true,
        probe: vfioAmbaProbe(kernel),
        // vfio_amba_remove()
        remove: vfioPlatformRemoveCommon,
      }),
  ),
});
