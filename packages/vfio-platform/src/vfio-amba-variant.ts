/**
 * RFC (b) of the 2024 thread (seed 001, Alex Williamson's answer to Mostafa Saleh): instead of
 * a generic meta-driver guessing whether a platform device can DMA, *device-specific* VFIO
 * drivers that know their device — as vfio-pci grew variant drivers (mlx5_vfio_pci, …) — and
 * reuse vfio-platform's code for regions, IRQs and ioctls. **Not in Linux.** This file is the
 * factory the variants (pl061-vfio-amba.ts, pl011-vfio-amba.ts) are built with.
 *
 * A variant is a module `<dev>_vfio_amba` with one AMBA driver `<dev>-vfio-amba`:
 * - an empty id table (the `{ 0, 0 }` terminator alone) and `driver_managed_dma`, as vfio-amba:
 *   AMBA has no `override_only` flag, so a real id table would let the variant autobind (on
 *   `drivers_probe`) the moment the native driver lets go; only `driver_override` binds it;
 * - probe first checks that the PrimeCell is the one the driver knows,
 *   `(periphid & mask) == id`, else ENODEV (the driver core's dev_dbg "rejects match": no
 *   dmesg line, and the next driver is tried);
 * - the device reuses vfio_platform_base unchanged (vfio_platform_init_common(), open/close,
 *   ioctl, read/write/mmap, IRQs, the probe and remove bodies) and vfio-amba's binder (one
 *   window, get_amba_irq()); `vdev->name` is the driver's name, so the IRQ shows as
 *   `vfio-irq[N](<driver>)`; no reset module is required, and no deprecation line is printed;
 * - the device-specific knowledge the generic path lacks: a real reset, a list of register
 *   writes from the device's TRM, installed as the device's `of_reset` (so GET_INFO reports
 *   VFIO_DEVICE_FLAGS_RESET, flags 0x9, and open, close and VFIO_DEVICE_RESET print
 *   `VFIO: reset`), and — with the module parameter `emulated_iommu=1` (bool, perm 0, default
 *   off) — the knowledge that the PrimeCell cannot master the bus: the device (if it has no
 *   IOMMU group) is registered with vfio_register_emulated_iommu_dev() (no IOMMU group
 *   needed, no taint, no CAP_SYS_RAWIO, no `dma_unmap` so vfio_pin_pages() is EINVAL).
 *   Off, the variant registers
 *   exactly as vfio-amba does: EINVAL without an IOMMU group, a tainting no-IOMMU group in
 *   no-IOMMU mode.
 *
 * Caveat:
 * - Not in Linux; the naming (`pl061_vfio_amba`) follows vfio-pci's variant drivers.
 * - vfio_platform_init_common() still asks the reset registry (a request_module of
 *   `vfio-reset:<compat>` that finds nothing); a registered reset module for the same
 *   `compatible` would be dropped again (its reference put) in favour of the driver's own.
 * - The reset is the register writes only; a real driver might also wait for the device to go
 *   quiet. Runtime PM is not modelled.
 * - A PrimeCell that a board does put behind an IOMMU (it has a group) is registered with its
 *   group even with `emulated_iommu=1`, as RFC (a) does.
 * - Nothing a variant knows can give back an IRQ line another driver left unrequestable: the
 *   PL061's SET_IRQS stays EINVAL after pl061_gpio unbinds (its chained handler leaves
 *   IRQ_NOREQUEST, as on Linux 7.3).
 */

import {
  type AmbaDevice,
  AmbaDriver,
  type AmbaId,
  defineModule,
  type Kernel,
  type KernelModule,
  moduleParam,
  SysError,
} from "@vfio-lab/kernel";
import { type VfioDeviceOps, vfioModule } from "@vfio-lab/vfio-core";
import { vfioAmbaBinder } from "./vfio-amba.js";
import { moduleDriver, vfioPlatformBaseModule } from "./vfio-platform-base.js";
import {
  vfioPlatformCommonOps,
  vfioPlatformInitCommon,
  vfioPlatformPhysicalIommufdOps,
  vfioPlatformProbeCommon,
  vfioPlatformRegionIoremap,
  vfioPlatformReleaseCommon,
  vfioPlatformRemoveCommon,
} from "./vfio-platform-common.js";
import { vfioPlatformEmulatedIommufdOps } from "./vfio-platform-nodma.js";
import { VfioPlatformDevice, type VfioPlatformResetFn } from "./vfio-platform-private.js";

/** One 32-bit register write of a variant's reset, named as the device's TRM names it. */
export interface VfioAmbaVariantRegWrite {
  readonly name: string;
  readonly offset: number;
  readonly value: number;
}

/** What a variant driver knows about its device. */
export interface VfioAmbaVariantSpec {
  /** The module name, as lsmod shows it (`pl061_vfio_amba`). */
  readonly module: string;
  /** The driver name, what `driver_override` must say (`pl061-vfio-amba`). */
  readonly driver: string;
  /** The PrimeCell it drives: probe refuses a device whose `(periphid & mask) != id`. */
  readonly id: AmbaId;
  /** The device's reset, in order (region 0 offsets). */
  readonly reset: readonly VfioAmbaVariantRegWrite[];
  /** The human name of the device, for the parameter's description. */
  readonly device: string;
}

/** The variant's one parameter: the RFC's "this device cannot DMA" switch. */
function emulatedIommuParam(device: string) {
  return moduleParam("emulated_iommu", "bool", {
    perm: 0,
    default: false,
    description: `2024 RFC (not in Linux): the ${device} cannot master the bus; register it with an emulated IOMMU (no IOMMU group, no taint)`,
  });
}

/** The parameter list of every variant module. */
export type VfioAmbaVariantParams = readonly [ReturnType<typeof emulatedIommuParam>];

/**
 * The variant's reset handler: the register writes of `spec.reset`, through region 0's lazy
 * ioremap (ENOMEM when it fails) — as the reset modules write their device.
 */
export function vfioAmbaVariantReset(spec: VfioAmbaVariantSpec): VfioPlatformResetFn {
  const fn = `${spec.module}_reset`;
  return (vdev) => {
    const reg = vdev.regions[0];
    // Reset runs only while the device is open, after vfio_platform_regions_init().
    if (!reg) throw new SysError("EINVAL", fn, `${vdev.platformName} has no region 0`);
    const io = vfioPlatformRegionIoremap(vdev.kernel, reg, fn);
    for (const w of spec.reset) io.writel(w.offset, w.value);
  };
}

/** The physical and emulated `vfio_device_ops` of one variant. */
function variantOps(spec: VfioAmbaVariantSpec): {
  physical: VfioDeviceOps<VfioPlatformDevice>;
  emulated: VfioDeviceOps<VfioPlatformDevice>;
} {
  const reset = vfioAmbaVariantReset(spec);
  /** `<variant>_init_dev`: vfio_platform_init_common(), then the driver's own reset. */
  const init = (vdev: VfioPlatformDevice): void => {
    vfioPlatformInitCommon(vdev);
    // The driver knows its device better than a module matched by `compatible` would.
    if (vdev.ofReset) vdev.kernel.modules.modulePut(vdev.resetModule);
    vdev.ofReset = reset;
    vdev.resetModule = null;
  };
  /** `<variant>_release_dev`: put_reset() finds no module to drop (`reset_module` NULL). */
  const release = (vdev: VfioPlatformDevice): void => vfioPlatformReleaseCommon(vdev);
  const physical: VfioDeviceOps<VfioPlatformDevice> = {
    name: spec.driver,
    init,
    release,
    ...vfioPlatformCommonOps,
    ...vfioPlatformPhysicalIommufdOps,
  };
  return { physical, emulated: { ...physical, ...vfioPlatformEmulatedIommufdOps } };
}

/**
 * The variant's probe (modelled on vfio_amba_probe() without the deprecation line): the
 * periphid check, vfio_alloc_device() with the ops `emulated_iommu` picks, registration
 * (emulated, or vfio_register_group_dev()), drvdata.
 */
function variantProbe(
  kernel: Kernel,
  spec: VfioAmbaVariantSpec,
  emulatedIommu: boolean,
  { physical, emulated }: ReturnType<typeof variantOps>,
) {
  return (adev: AmbaDevice): void => {
    // Bound by driver_override alone: make sure it is the PrimeCell this driver knows.
    if ((adev.periphid & spec.id.mask) >>> 0 !== spec.id.id >>> 0) {
      const id = (adev.periphid >>> 0).toString(16).padStart(8, "0");
      throw new SysError("ENODEV", `${spec.module}_probe`, `periphid ${id}`);
    }
    // A board that does put the PrimeCell behind an IOMMU gave it a group: use it (an
    // emulated registration would try to add the device to a second group and fail EEXIST).
    const ops = emulatedIommu && !kernel.iommu.deviceGroup(adev) ? emulated : physical;
    // The reset is the driver's own: no module has to be found for it (resetRequired false).
    vfioPlatformProbeCommon(
      new VfioPlatformDevice(kernel, adev, ops, () => vfioAmbaBinder(adev, spec.driver)),
    );
  };
}

/** Builds a variant module from what its driver knows (see the file header). */
export function defineVfioAmbaVariant(
  spec: VfioAmbaVariantSpec,
): KernelModule<Kernel, VfioAmbaVariantParams> {
  const ops = variantOps(spec);
  return defineModule({
    name: spec.module,
    params: [emulatedIommuParam(spec.device)] as const,
    dependencies: [vfioPlatformBaseModule, vfioModule],
    ...moduleDriver(
      (kernel, params: { emulated_iommu: boolean }) =>
        new AmbaDriver({
          name: spec.driver,
          owner: spec.module,
          // The terminator alone: binding only by driver_override (see the file header).
          idTable: [{ id: 0, mask: 0 }],
          driverManagedDma: true,
          // perm 0: fixed for the life of the module.
          probe: variantProbe(kernel, spec, params.emulated_iommu, ops),
          // As vfio_amba_remove().
          remove: vfioPlatformRemoveCommon,
        }),
    ),
  });
}

/** The VFIO device a variant driver `driver` made of AMBA device `name` (for tests, notebooks). */
export function vfioAmbaVariantDeviceOf(
  kernel: Kernel,
  driver: string,
  name: string,
): VfioPlatformDevice {
  const dev = kernel.drivers.findDevice("amba", name);
  if (dev?.driver?.name !== driver || !(dev.driverData instanceof VfioPlatformDevice)) {
    throw new Error(`amba device ${name} is not bound to ${driver}`);
  }
  return dev.driverData;
}
