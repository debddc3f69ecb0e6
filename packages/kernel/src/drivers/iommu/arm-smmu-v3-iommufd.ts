/**
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c: what the arm-smmu-v3 driver offers
 * iommufd (CONFIG_ARM_SMMU_V3_IOMMUFD) — `hw_info()`, the raw ID registers for
 * IOMMU_GET_HW_INFO, and the vSMMU entry points `get_viommu_size()`/`viommu_init()`.
 *
 * hw_info() reads IDR0–IDR5, IIDR and AIDR over MMIO when asked, and reports them unmasked: the
 * UAPI documents which fields a VMM may read, the kernel does not filter. The SMMU model
 * implements stage 1 only (IDR0.S2P = 0), so ARM_SMMU_FEAT_TRANS_S2 and with it
 * ARM_SMMU_FEAT_NESTING are never set, and get_viommu_size() answers 0 ("no vIOMMU") for
 * every type, which iommufd turns into EOPNOTSUPP.
 *
 * Caveat: no implementation ops (Tegra241 CMDQV: its hw_info type, vSMMU type and the
 * T264-SMMU-3 erratum flag); no vSMMU (nested domains, vSTEs, vdevices, cache invalidation,
 * vevents), which a NESTING SMMU would need and ours cannot have.
 */

import { SysError } from "../../errno.js";
import type { IommuDomain } from "../../iommu/domain.js";
import {
  IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  type IommufdViommuCore,
  type IommuHwInfo,
  type IommuUserData,
} from "../../iommu/iommu-defs.js";
import { array, defineStruct, u32 } from "../../uapi/struct.js";
import { ARM_SMMU_FEAT, REG } from "./arm-smmu-v3-defs.js";
import { type ArmSmmuDevice, ArmSmmuDomain, type ArmSmmuMaster } from "./arm-smmu-v3-device.js";

/**
 * include/uapi/linux/iommufd.h: `struct iommu_hw_info_arm_smmuv3` (40 bytes), the payload of
 * IOMMU_HW_INFO_TYPE_ARM_SMMUV3. Declared here rather than taken from iommufd's UAPI module:
 * the kernel package sits below iommufd and may not import it.
 */
export const iommu_hw_info_arm_smmuv3 = defineStruct("iommu_hw_info_arm_smmuv3", [
  ["flags", u32],
  ["__reserved", u32],
  ["idr", array(u32, 6)],
  ["iidr", u32],
  ["aidr", u32],
]);

/** arm-smmu-v3.h: ARM_SMMU_OPT_CMDQ_FORCE_SYNC (set only by implementations; never here). */
export const ARM_SMMU_OPT_CMDQ_FORCE_SYNC = 1 << 3;

/**
 * arm-smmu-v3.c: arm_smmu_erratum_repeat_tlbi_cfgi() — a static key only the Tegra241 CMDQV
 * implementation turns on; the model has no implementation ops.
 */
function armSmmuErratumRepeatTlbiCfgi(): boolean {
  return false;
}

/**
 * arm-smmu-v3.c: arm_smmu_master_canwbs() — the master's writes are always coherent (a PCI
 * root complex that says so through IORT/DT); a platform master cannot promise it.
 */
export function armSmmuMasterCanwbs(_master: ArmSmmuMaster): boolean {
  return false;
}

/**
 * arm-smmu-v3-iommufd.c: arm_smmu_hw_info() — EOPNOTSUPP for a requested type other than
 * DEFAULT or ARM_SMMUV3 (no implementation ops to ask), ENOMEM when the payload cannot be
 * allocated, else the registers as they read now.
 */
export function armSmmuHwInfo(master: ArmSmmuMaster, type: number): IommuHwInfo {
  const fn = "arm_smmu_hw_info";
  if (type !== IOMMU_HW_INFO_TYPE_DEFAULT && type !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
    throw new SysError("EOPNOTSUPP", fn, `hw_info type ${type}`);
  }
  const smmu = master.smmu;
  if (smmu.core.allocator.shouldFail("kzalloc")) {
    throw new SysError("ENOMEM", "kzalloc", "iommu_hw_info_arm_smmuv3");
  }
  const idr: number[] = [];
  for (let i = 0; i <= 5; i++) idr.push(smmu.base.readl(REG.IDR0 + 4 * i));
  const info = {
    flags: armSmmuErratumRepeatTlbiCfgi() ? IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI : 0,
    __reserved: 0,
    idr,
    iidr: smmu.base.readl(REG.IIDR),
    aidr: smmu.base.readl(REG.AIDR),
  };
  return { data: iommu_hw_info_arm_smmuv3.encode(info), type: IOMMU_HW_INFO_TYPE_ARM_SMMUV3 };
}

/**
 * arm-smmu-v3-iommufd.c: arm_smmu_get_viommu_size() — 0 unless the SMMU can nest (both stages),
 * is not forced to sync its command queue, and can keep a guest from making DMA non-coherent
 * (a canwbs master or S2FWB).
 */
export function armSmmuGetViommuSize(master: ArmSmmuMaster, viommuType: number): number {
  const smmu = master.smmu;
  if (!(smmu.features & ARM_SMMU_FEAT.NESTING)) return 0;
  // WARN_ON(): FORCE_SYNC and nesting are not meant to meet.
  if (smmu.options & ARM_SMMU_OPT_CMDQ_FORCE_SYNC) return 0;
  if (!armSmmuMasterCanwbs(master) && !(smmu.features & ARM_SMMU_FEAT.S2FWB)) return 0;
  // Reaching here needs ARM_SMMU_FEAT_NESTING, which the stage-1-only SMMU model never has;
  // the vSMMU (`struct arm_vsmmu`) is not modelled, so it reports no size either.
  if (viommuType === IOMMU_VIOMMU_TYPE_ARM_SMMUV3) return 0;
  // No implementation ops: no other vIOMMU types.
  return 0;
}

/**
 * arm-smmu-v3-iommufd.c: arm_vsmmu_init() — EINVAL when the nest parent belongs to another
 * SMMU. Only reachable after a non-zero get_viommu_size(), which this SMMU never gives.
 */
export function armVsmmuInit(
  smmus: readonly ArmSmmuDevice[],
  viommu: IommufdViommuCore,
  parentDomain: IommuDomain,
  _userData: IommuUserData | null,
): void {
  const fn = "arm_vsmmu_init";
  const smmu = smmus.find((s) => s.iommu === viommu.iommuDev);
  const s2Parent = parentDomain instanceof ArmSmmuDomain ? parentDomain : null;
  if (!smmu || s2Parent?.smmu !== smmu) {
    throw new SysError("EINVAL", fn, "nest parent of another SMMU");
  }
  throw new SysError("EOPNOTSUPP", fn, "vSMMU not modelled");
}
