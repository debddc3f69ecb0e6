/**
 * What arm-smmu-v3 tells iommufd about itself (arm-smmu-v3-iommufd.c and the iommufd-facing
 * parts of `arm_smmu_ops` in 7.3): hw_info() against the SMMU model's registers, the vIOMMU
 * size of a stage-1-only SMMU, capabilities, paging-domain flags, and reserved regions.
 */

import { fc, test } from "@fast-check/vitest";
import { readField, SMMU_IDR0_FIELDS, SMMU_V3_REG, walkNodes } from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { boot } from "../../../test/fixture.js";
import {
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_CAP_DIRTY_TRACKING,
  IOMMU_CAP_ENFORCE_CACHE_COHERENCY,
  IOMMU_CAP_PCI_ATS_SUPPORTED,
  IOMMU_HW_INFO_TYPE_AMD,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_RESV_SW_MSI,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_DEFAULT,
  IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
  IOMMU_WRITE,
  type IommuClient,
} from "../../iommu/iommu-defs.js";
import { expectErrno } from "../../testing/matchers.js";
import { ArmSmmuDomain, ArmSmmuV3Driver, iommu_hw_info_arm_smmuv3 } from "./arm-smmu-v3.js";
import { IO_PGTABLE_QUIRK_ARM_HD } from "./io-pgtable-arm.js";

const SMMU_BASE = 0x0905_0000;
const MASTERS = [
  ["platform", "c010000.ethernet"],
  ["platform", "c030000.dma-test"],
  ["amba", "c000000.dma"],
] as const;

function board() {
  const { soc, kernel } = boot();
  const find = (bus: "platform" | "amba", name: string): IommuClient => {
    const dev = kernel.drivers.findDevice(bus, name);
    if (!dev) throw new Error(`no ${bus} device ${name}`);
    return dev;
  };
  const dev = find("platform", "c030000.dma-test");
  const ops = kernel.iommu.devIommuOps(dev);
  const smmu = kernel.smmu.devices[0]!;
  /** An SMMU register as a bus master (or the probe) reads it. */
  const reg = (name: keyof typeof SMMU_V3_REG) =>
    soc.bus.read(SMMU_BASE + SMMU_V3_REG[name], 4) >>> 0;
  return { soc, kernel, find, dev, ops, smmu, reg };
}

describe("hw_info()", () => {
  it("reports IDR0-5, IIDR and AIDR as the SMMU's registers read, unmasked, byte for byte", () => {
    const w = board();
    const info = w.ops.hwInfo!(w.dev, IOMMU_HW_INFO_TYPE_DEFAULT);
    expect(info.type).toBe(IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
    expect(info.data.length).toBe(40);
    expect(iommu_hw_info_arm_smmuv3.size).toBe(40);
    const regs = [
      w.reg("IDR0"),
      w.reg("IDR1"),
      w.reg("IDR2"),
      w.reg("IDR3"),
      w.reg("IDR4"),
      w.reg("IDR5"),
    ];
    // struct iommu_hw_info_arm_smmuv3: flags@0 __reserved@4 idr[6]@8 iidr@32 aidr@36.
    const le = new DataView(info.data.buffer, info.data.byteOffset, info.data.byteLength);
    expect(le.getUint32(0, true)).toBe(0);
    expect(le.getUint32(4, true)).toBe(0);
    expect([0, 1, 2, 3, 4, 5].map((i) => le.getUint32(8 + 4 * i, true))).toEqual(regs);
    expect(le.getUint32(32, true)).toBe(w.reg("IIDR"));
    expect(le.getUint32(36, true)).toBe(w.reg("AIDR"));
    expect(iommu_hw_info_arm_smmuv3.decode(info.data)).toEqual({
      flags: 0,
      __reserved: 0,
      idr: regs,
      iidr: w.reg("IIDR"),
      aidr: w.reg("AIDR"),
    });
    // The same values the driver read at probe.
    expect(w.smmu.idr).toEqual(regs);
    expect([w.smmu.iidr, w.smmu.aidr]).toEqual([w.reg("IIDR"), w.reg("AIDR")]);
    // The model is SMMUv3.1, stage 1 only, no HTTU: a VMM would see exactly that.
    expect(readField([regs[0]!], SMMU_IDR0_FIELDS.S1P)).toBe(1);
    expect(readField([regs[0]!], SMMU_IDR0_FIELDS.S2P)).toBe(0);
    expect(readField([regs[0]!], SMMU_IDR0_FIELDS.HTTU)).toBe(0);
    expect(w.reg("AIDR")).toBe(0x01);
  });

  it("answers the explicit ARM_SMMUV3 request the same, for every master of the SMMU", () => {
    const w = board();
    const ref = w.ops.hwInfo!(w.dev, IOMMU_HW_INFO_TYPE_DEFAULT);
    for (const [bus, name] of MASTERS) {
      const info = w.ops.hwInfo!(w.find(bus, name), IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
      expect(info).toEqual(ref);
    }
  });

  it("EOPNOTSUPP for any other requested type (no implementation ops to ask)", () => {
    const w = board();
    for (const type of [
      IOMMU_HW_INFO_TYPE_INTEL_VTD,
      IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV,
      IOMMU_HW_INFO_TYPE_AMD,
      5,
      0xffff_ffff,
    ]) {
      const err = expectErrno(() => w.ops.hwInfo!(w.dev, type), "EOPNOTSUPP");
      expect(err.fn).toBe("arm_smmu_hw_info");
    }
  });

  it("ENOMEM when the payload cannot be allocated", () => {
    const w = board();
    w.kernel.allocator.setFailHook((site) => site === "kzalloc");
    expect(() => w.ops.hwInfo!(w.dev, IOMMU_HW_INFO_TYPE_DEFAULT)).toThrowErrno("ENOMEM");
    w.kernel.allocator.setFailHook(undefined);
    expect(w.ops.hwInfo!(w.dev, IOMMU_HW_INFO_TYPE_DEFAULT).type).toBe(
      IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
    );
  });

  it("is not there without CONFIG_ARM_SMMU_V3_IOMMUFD (the oracle kernel's configuration)", () => {
    const w = board();
    const driver = new ArmSmmuV3Driver({
      core: w.kernel.iommu,
      bus: w.soc.bus,
      irq: w.kernel.irq,
      CONFIG_ARM_SMMU_V3_IOMMUFD: false,
    });
    expect(driver.ops.hwInfo).toBeUndefined();
    expect(driver.ops.getViommuSize).toBeUndefined();
    expect(driver.ops.viommuInit).toBeUndefined();
    expect(driver.ops.domainAllocPagingFlags).toBeDefined();
  });
});

describe("vIOMMU on a stage-1-only SMMU", () => {
  it("get_viommu_size() is 0 for every type: no stage 2 (IDR0.S2P = 0), so no nesting", () => {
    const w = board();
    expect(w.smmu.features & (1 << 10)).toBe(0); // ARM_SMMU_FEAT_TRANS_S2
    expect(w.smmu.features & (1 << 19)).toBe(0); // ARM_SMMU_FEAT_NESTING
    for (const type of [
      IOMMU_VIOMMU_TYPE_DEFAULT,
      IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
      IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
    ]) {
      expect(w.ops.getViommuSize!(w.dev, type)).toBe(0);
    }
  });

  it("viommu_init() refuses a nest parent that is not this SMMU's (EINVAL)", () => {
    const w = board();
    const viommu = { type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, iommuDev: w.smmu.iommu };
    const err = expectErrno(
      () => w.ops.viommuInit!(viommu, w.kernel.smmu.blockedDomain, null),
      "EINVAL",
    );
    expect(err.fn).toBe("arm_vsmmu_init");
  });

  it("has no domain_alloc_nested (nested domains come from the vSMMU) but a user PASID table", () => {
    const w = board();
    expect(w.ops.domainAllocNested).toBeUndefined();
    expect(w.ops.domainAllocPaging).toBeUndefined();
    expect(w.ops.userPasidTable).toBe(true);
  });
});

describe("capabilities iommufd asks for", () => {
  it("no dirty tracking (no HTTU), no ATS (not PCI), no enforced coherency, coherent walks", () => {
    const w = board();
    for (const [bus, name] of MASTERS) {
      const dev = w.find(bus, name);
      expect(w.kernel.iommu.deviceIommuCapable(dev, IOMMU_CAP_DIRTY_TRACKING)).toBe(false);
      expect(w.kernel.iommu.deviceIommuCapable(dev, IOMMU_CAP_PCI_ATS_SUPPORTED)).toBe(false);
      expect(w.kernel.iommu.deviceIommuCapable(dev, IOMMU_CAP_ENFORCE_CACHE_COHERENCY)).toBe(false);
      expect(w.kernel.iommu.deviceIommuCapable(dev, IOMMU_CAP_CACHE_COHERENCY)).toBe(true);
    }
  });
});

describe("domain_alloc_paging_flags()", () => {
  const w = board();
  const alloc = (
    flags: number,
    userData: Parameters<NonNullable<typeof w.ops.domainAllocPagingFlags>>[2] = null,
  ) => w.ops.domainAllocPagingFlags!(w.dev, flags, userData);

  it("makes stage-1 domains for 0, DIRTY_TRACKING and PASID, dirty ones with the HD quirk", () => {
    for (const flags of [
      0,
      IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
      IOMMU_HWPT_ALLOC_PASID,
      IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID,
    ]) {
      const d = alloc(flags) as ArmSmmuDomain;
      expect(d).toBeInstanceOf(ArmSmmuDomain);
      expect(d.stage).toBe("S1");
      // 7.3 does not ask the hardware here: iommufd checks IOMMU_CAP_DIRTY_TRACKING first.
      const hd = (d.pgtbl!.quirks & IO_PGTABLE_QUIRK_ARM_HD) !== 0;
      expect(hd).toBe((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0);
      w.kernel.iommu.iommuDomainFree(d);
    }
  });

  it("EOPNOTSUPP for NEST_PARENT: the SMMU cannot nest", () => {
    for (const flags of [
      IOMMU_HWPT_ALLOC_NEST_PARENT,
      IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
      IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID,
    ]) {
      const err = expectErrno(() => alloc(flags), "EOPNOTSUPP");
      expect(err.fn).toBe("arm_smmu_domain_alloc_paging_flags");
    }
  });

  it("EOPNOTSUPP for driver data, which a paging domain never takes", () => {
    expect(() => alloc(0, { type: 2, uptr: 0x1000, len: 8 })).toThrowErrno("EOPNOTSUPP");
  });

  test.prop([fc.integer({ min: 0, max: 0xffff_ffff })], { numRuns: 64 })(
    "succeeds exactly for flags within DIRTY_TRACKING | PASID",
    (flags) => {
      const ok = (flags & ~(IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID)) === 0;
      if (ok) {
        w.kernel.iommu.iommuDomainFree(alloc(flags));
      } else {
        expect(() => alloc(flags)).toThrowErrno("EOPNOTSUPP");
      }
    },
  );
});

describe("get_resv_regions()", () => {
  it("is the software MSI window, as 7.3 reports it for a DT master without memory-region", () => {
    const w = board();
    for (const [bus, name] of MASTERS) {
      expect(w.ops.getResvRegions!(w.find(bus, name))).toEqual([
        {
          start: 0x0800_0000,
          length: 0x0010_0000,
          prot: IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO,
          type: IOMMU_RESV_SW_MSI,
        },
      ]);
    }
    let memoryRegions = 0;
    walkNodes(w.soc.tree, (node) => {
      if (node.properties.some((p) => p.name === "memory-region")) memoryRegions++;
      return true;
    });
    expect(memoryRegions).toBe(0);
  });
});
