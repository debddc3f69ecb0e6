/**
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: the Arm SMMUv3 driver, as the logic the
 * platform-driver wrapper calls (`ArmSmmuV3Driver.probe()` is arm_smmu_device_probe()).
 *
 * Probe reads the ID registers through MMIO at the device-tree window (features, queue and
 * StreamID sizes, output address size), allocates the command and event queues and a linear
 * Stream table from DMA memory (every STE "abort"), runs the arm_smmu_device_reset() register
 * sequence (tables, queues, CFGI_ALL and TLBI_NSNH_ALL with CMD_SYNC, wired IRQs, SMMUEN), and
 * registers the instance with the IOMMU core, which probes every device whose `iommus` points
 * here. Each master's StreamIDs are checked against the table and against other masters:
 * a StreamID already owned by another device is refused ("Aliasing StreamID … unsupported"),
 * so that device gets no IOMMU group. Paging domains are stage 1 (an ASID and an io-pgtable-arm
 * table); attaching one writes the master's Context Descriptor and STE with the hitless entry
 * writer; identity and blocked domains are bypass and abort STEs. Unmaps invalidate with
 * TLBI_NH_VA (or TLBI_NH_ASID for large ranges) and CMD_SYNC. The event-queue interrupt
 * drains the queue and logs each record as 7.3 does.
 *
 * This file holds the driver (`arm_smmu_ops`, probe, domains and attach); one SMMU instance is
 * arm-smmu-v3-device.ts, the constants arm-smmu-v3-defs.ts, entries/queues/events beside them,
 * and what iommufd asks of the driver (hw_info, vIOMMU sizing) arm-smmu-v3-iommufd.ts.
 *
 * Caveat: no PCI (ATS, PRI, PASIDs/SSIDs, pci_device_group()), no stalls/IOPF, no MSIs, no
 * 2-level tables (the SMMU model has neither), no stage-2 or nested domains, no SVA, no vSMMU /
 * iommufd HW queues, no dirty tracking (`dirty_ops`: unreachable through iommufd, as the SMMU
 * model has no HTTU), no ACPI/IORT, no implementation quirks (Tegra CMDQV, errata). The
 * reserved regions leave out of_iommu_get_resv_regions() (`memory-region` nodes with
 * `iommu-addresses`), which no node of our boards has.
 */

import { type DtNode, encodeCommand, propU32, type SystemBus } from "@vfio-lab/hw-soc";
import { SysError } from "../../errno.js";
import { IommuDomain, type IommuIotlbGather, iommuIotlbGatherAddPage } from "../../iommu/domain.js";
import type { IommuGroup } from "../../iommu/group.js";
import { Ida } from "../../iommu/ida.js";
import type { IommuCore } from "../../iommu/iommu.js";
import {
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_CAP_DEFERRED_FLUSH,
  IOMMU_CAP_DIRTY_TRACKING,
  IOMMU_CAP_ENFORCE_CACHE_COHERENCY,
  IOMMU_CAP_NOEXEC,
  IOMMU_CAP_PCI_ATS_SUPPORTED,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_RESV_SW_MSI,
  IOMMU_WRITE,
  type IommuCap,
  type IommuClient,
  type IommuDevice,
  type IommuDomainOps,
  type IommuOps,
  type IommuResvRegion,
  type IommuUserData,
  type OfPhandleArgs,
} from "../../iommu/iommu-defs.js";
import { ofDmaIsCoherent } from "../../iommu/of-dma.js";
import {
  ARM_SMMU_FEAT,
  ARM_SMMU_OPT_PAGE0_REGS_ONLY,
  ARM_SMMU_REG_SZ,
  CTXDESC_LINEAR_CDMAX,
  type IommuIrqRequester,
  MSI_IOVA_BASE,
  MSI_IOVA_LENGTH,
  SZ_64K,
  SZ_128K,
  VA_BITS,
} from "./arm-smmu-v3-defs.js";
import { ArmSmmuDevice, ArmSmmuDomain, ArmSmmuMaster } from "./arm-smmu-v3-device.js";
import {
  armSmmuMakeAbortSte,
  armSmmuMakeBypassSte,
  armSmmuMakeCdtableSte,
  armSmmuMakeS1Cd,
  STRTAB_STE_1_S1DSS_SSID0,
} from "./arm-smmu-v3-entry.js";
import {
  armSmmuGetViommuSize,
  armSmmuHwInfo,
  armSmmuMasterCanwbs,
  armVsmmuInit,
} from "./arm-smmu-v3-iommufd.js";
import { ArmLpaeS1Pgtable, IO_PGTABLE_QUIRK_ARM_HD } from "./io-pgtable-arm.js";
import { Iomem } from "./ioremap.js";

export {
  ARM_SMMU_FEAT,
  ARM_SMMU_OPT_PAGE0_REGS_ONLY,
  ARM_SMMU_OPT_SKIP_PREFETCH,
  type IommuIrqHandler,
  type IommuIrqRequester,
  MSI_IOVA_BASE,
  MSI_IOVA_LENGTH,
} from "./arm-smmu-v3-defs.js";
export { ArmSmmuDevice, ArmSmmuDomain, ArmSmmuMaster } from "./arm-smmu-v3-device.js";
export { iommu_hw_info_arm_smmuv3 } from "./arm-smmu-v3-iommufd.js";

export interface ArmSmmuV3DriverOptions {
  readonly core: IommuCore;
  /** MMIO goes through the system bus (ioremap). */
  readonly bus: SystemBus;
  readonly irq: IommuIrqRequester;
  /**
   * CONFIG_ARM_SMMU_V3_IOMMUFD (default true): build arm-smmu-v3-iommufd.c, which gives
   * `arm_smmu_ops` its hw_info, get_viommu_size and viommu_init. Without it those ops are NULL
   * and IOMMU_GET_HW_INFO reports IOMMU_HW_INFO_TYPE_NONE — as on the oracle kernel, whose
   * configuration leaves it off.
   */
  readonly CONFIG_ARM_SMMU_V3_IOMMUFD?: boolean;
}

/** What the platform-driver wrapper hands to probe. */
export interface ArmSmmuProbeArgs {
  /** The SMMU's platform device (bound to "arm-smmu-v3" while probing). */
  readonly dev: IommuClient;
  /** platform_get_resource(pdev, IORESOURCE_MEM, 0), or undefined (EINVAL). */
  readonly res?: { readonly start: number; readonly size: number };
  /** platform_get_irq_byname_optional() results (only positive numbers count). */
  readonly irqs?: {
    readonly combined?: number;
    readonly eventq?: number;
    readonly priq?: number;
    readonly gerror?: number;
  };
}

/**
 * The arm-smmu-v3 driver: what is global in arm-smmu-v3.c — `arm_smmu_ops`, the static
 * identity and blocked domains, the ASID allocator shared by every instance — and the probed
 * instances.
 */
export class ArmSmmuV3Driver {
  readonly name = "arm-smmu-v3";
  readonly core: IommuCore;
  readonly bus: SystemBus;
  readonly irq: IommuIrqRequester;
  readonly ops: IommuOps;
  readonly identityDomain: IommuDomain;
  readonly blockedDomain: IommuDomain;
  /** arm_smmu_asid_xa (ids from 1). */
  readonly asidXa = new Ida();
  readonly devices: ArmSmmuDevice[] = [];
  private readonly domainOps: IommuDomainOps;

  constructor(opts: ArmSmmuV3DriverOptions) {
    this.core = opts.core;
    this.bus = opts.bus;
    this.irq = opts.irq;
    this.identityDomain = new IommuDomain(IOMMU_DOMAIN_IDENTITY, {
      attachDev: (_d, dev, old) => this.attachDevSte(dev, old, false),
    });
    this.blockedDomain = new IommuDomain(IOMMU_DOMAIN_BLOCKED, {
      attachDev: (_d, dev, old) => this.attachDevSte(dev, old, true),
    });
    this.domainOps = {
      attachDev: (d, dev, old) => this.attachDev(d as ArmSmmuDomain, dev, old),
      enforceCacheCoherency: (d) => this.enforceCacheCoherency(d as ArmSmmuDomain),
      mapPages: (d, iova, paddr, pgsize, pgcount, prot, mapped) => {
        const pgtbl = (d as ArmSmmuDomain).pgtbl;
        if (!pgtbl) throw new SysError("ENODEV", "arm_smmu_map_pages", "no page table");
        pgtbl.mapPages(iova, paddr, pgsize, pgcount, prot, mapped);
      },
      unmapPages: (d, iova, pgsize, pgcount, gather) =>
        (d as ArmSmmuDomain).pgtbl?.unmapPages(iova, pgsize, pgcount, gather) ?? 0,
      flushIotlbAll: (d) => {
        const sd = d as ArmSmmuDomain;
        sd.smmu?.domainInvRange(sd, 0, 0, 0, false);
      },
      iotlbSync: (d, gather) => {
        const sd = d as ArmSmmuDomain;
        if (!gather.pgsize || !sd.smmu) return;
        sd.smmu.domainInvRange(
          sd,
          gather.start,
          gather.end - gather.start + 1,
          gather.pgsize,
          true,
        );
      },
      iovaToPhys: (d, iova) => (d as ArmSmmuDomain).pgtbl?.iovaToPhys(iova) ?? 0,
      free: (d) => this.domainFreePaging(d as ArmSmmuDomain),
    };
    const core = this.core;
    const iommufdOps: Pick<IommuOps, "hwInfo" | "getViommuSize" | "viommuInit"> =
      (opts.CONFIG_ARM_SMMU_V3_IOMMUFD ?? true)
        ? {
            hwInfo: (dev, type) => armSmmuHwInfo(this.master(dev), type),
            getViommuSize: (dev, type) => armSmmuGetViommuSize(this.master(dev), type),
            viommuInit: (viommu, parent, userData) =>
              armVsmmuInit(this.devices, viommu, parent, userData),
          }
        : {};
    this.ops = {
      name: this.name,
      identityDomain: this.identityDomain,
      blockedDomain: this.blockedDomain,
      releaseDomain: this.blockedDomain,
      defaultDomainOps: this.domainOps,
      capable: (dev, cap) => this.capable(dev, cap),
      ...iommufdOps,
      domainAllocPagingFlags: (dev, flags, userData) =>
        this.domainAllocPagingFlags(dev, flags, userData ?? null),
      probeDevice: (dev) => this.probeDevice(dev),
      releaseDevice: (dev) => this.releaseDevice(dev),
      deviceGroup: (dev): IommuGroup => core.genericDeviceGroup(dev),
      ofXlate: (dev, args) => this.ofXlate(dev, args),
      getResvRegions: (dev) => this.getResvRegions(dev),
      defDomainType: () => 0,
      // The vSMMU owns the CD table, hence the PASIDs, of a nested master.
      userPasidTable: true,
    };
  }

  /** arm_smmu_get_by_fwnode() */
  getByFwnode(fwnode: DtNode): ArmSmmuDevice | undefined {
    return this.devices.find((s) => s.dev.dtNode === fwnode);
  }

  // -------------------------------------------------------------------------------------------
  // Platform driver

  /**
   * arm-smmu-v3.c: arm_smmu_device_probe() — DT checks, MMIO, hardware probe, structures,
   * reset, then registration with the IOMMU core (which probes the masters). Failures throw
   * the probe's errno and release everything allocated, as devres does.
   */
  probe(args: ArmSmmuProbeArgs): ArmSmmuDevice {
    const fn = "arm_smmu_device_probe";
    const dev = args.dev;
    const np = dev.dtNode;
    const smmu = new ArmSmmuDevice(this, dev);
    const log = smmu.log;
    // arm_smmu_device_dt_probe()
    let dtErr = false;
    const cells = np ? propU32(np, "#iommu-cells") : undefined;
    if (cells === undefined) {
      log.err("missing #iommu-cells property");
      dtErr = true;
    } else if (cells !== 1) {
      log.err(`invalid #iommu-cells value (${cells})`);
      dtErr = true;
    }
    if (np) smmu.parseDriverOptions(np);
    if (np && ofDmaIsCoherent(this.core, np)) smmu.features |= ARM_SMMU_FEAT.COHERENCY;
    if (dtErr) throw new SysError("EINVAL", "arm_smmu_device_dt_probe", "#iommu-cells");

    const res = args.res;
    if (!res) throw new SysError("EINVAL", fn, "no MMIO resource");
    const need = smmu.options & ARM_SMMU_OPT_PAGE0_REGS_ONLY ? SZ_64K : SZ_128K;
    if (res.size < need) {
      const h = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
      log.err(
        `MMIO region too small ([mem ${h(res.start)}-${h(res.start + res.size - 1)} flags 0x200])`,
      );
      throw new SysError("EINVAL", fn, "MMIO region too small");
    }
    smmu.base = new Iomem(this.bus, res.start, ARM_SMMU_REG_SZ);
    smmu.page1 =
      need > SZ_64K ? new Iomem(this.bus, res.start + SZ_64K, ARM_SMMU_REG_SZ) : smmu.base;

    const irqs = args.irqs ?? {};
    const pos = (n: number | undefined) => (n !== undefined && n > 0 ? n : 0);
    let evtqIrq = 0;
    if (pos(irqs.combined)) {
      smmu.combinedIrq = pos(irqs.combined);
    } else {
      evtqIrq = pos(irqs.eventq);
      smmu.gerrIrq = pos(irqs.gerror);
    }
    try {
      smmu.hwProbe();
      smmu.evtq.irq = evtqIrq;
      smmu.initStructures();
      try {
        smmu.deviceReset();
      } catch (e) {
        smmu.deviceDisable();
        throw e;
      }
      this.devices.push(smmu);
      const name = `smmu3.0x${res.start.toString(16).padStart(16, "0")}`;
      this.core.iommuDeviceSysfsAdd(smmu.iommu, dev, name);
      try {
        this.core.iommuDeviceRegister(smmu.iommu, this.ops, dev);
      } catch (e) {
        log.err("Failed to register iommu");
        this.core.iommuDeviceSysfsRemove(smmu.iommu);
        throw e;
      }
    } catch (e) {
      const i = this.devices.indexOf(smmu);
      if (i >= 0) {
        this.devices.splice(i, 1);
        smmu.deviceDisable();
      }
      smmu.releaseResources();
      throw e;
    }
    return smmu;
  }

  /** arm-smmu-v3.c: arm_smmu_device_remove() (and the devres actions after it). */
  remove(smmu: ArmSmmuDevice): void {
    this.core.iommuDeviceUnregister(smmu.iommu);
    this.core.iommuDeviceSysfsRemove(smmu.iommu);
    smmu.deviceDisable();
    smmu.releaseResources();
    const i = this.devices.indexOf(smmu);
    if (i >= 0) this.devices.splice(i, 1);
  }

  /** arm-smmu-v3.c: arm_smmu_device_shutdown() */
  shutdown(smmu: ArmSmmuDevice): void {
    smmu.deviceDisable();
  }

  // -------------------------------------------------------------------------------------------
  // iommu_ops

  private master(dev: IommuClient): ArmSmmuMaster {
    const m = this.core.devIommuPrivGet<ArmSmmuMaster>(dev);
    if (!m) throw new RangeError(`arm-smmu-v3: ${dev.name} is not a master`);
    return m;
  }

  /** arm-smmu-v3.c: arm_smmu_of_xlate() — the single cell is the StreamID. */
  private ofXlate(dev: IommuClient, args: OfPhandleArgs): void {
    this.core.iommuFwspecAddIds(dev, args.slice(0, 1));
  }

  /** arm-smmu-v3.c: arm_smmu_probe_device() */
  private probeDevice(dev: IommuClient): IommuDevice {
    const fn = "arm_smmu_probe_device";
    if (this.core.devIommuPrivGet(dev)) throw new SysError("EBUSY", fn, "already probed");
    const fwspec = this.core.devIommuFwspecGet(dev)!;
    const smmu = this.getByFwnode(fwspec.iommuFwnode);
    if (!smmu) throw new SysError("ENODEV", fn, "SMMU not probed");
    const master = new ArmSmmuMaster(dev, smmu);
    this.core.devIommuPrivSet(dev, master);
    try {
      smmu.insertMaster(master);
    } catch (e) {
      this.core.devIommuPrivSet(dev, undefined);
      throw e;
    }
    const bits = dev.dtNode ? (propU32(dev.dtNode, "pasid-num-bits") ?? 0) : 0;
    master.ssidBits = Math.min(smmu.ssidBits, bits);
    if (!(smmu.features & ARM_SMMU_FEAT["2_LVL_CDTAB"])) {
      master.ssidBits = Math.min(master.ssidBits, CTXDESC_LINEAR_CDMAX);
    }
    const canStall = dev.dtNode?.properties.some((p) => p.name === "dma-can-stall") ?? false;
    if (
      (smmu.features & ARM_SMMU_FEAT.STALLS && canStall) ||
      smmu.features & ARM_SMMU_FEAT.STALL_FORCE
    ) {
      master.stallEnabled = true;
    }
    return smmu.iommu;
  }

  /** arm-smmu-v3.c: arm_smmu_release_device() */
  private releaseDevice(dev: IommuClient): void {
    const master = this.master(dev);
    master.smmu.removeMaster(master);
    master.smmu.freeCdTables(master);
    this.core.devIommuPrivSet(dev, undefined);
  }

  /** arm-smmu-v3.c: arm_smmu_capable() */
  private capable(dev: IommuClient, cap: IommuCap): boolean {
    const master = this.master(dev);
    switch (cap) {
      case IOMMU_CAP_CACHE_COHERENCY:
        // A coherent TCU is taken to imply coherent TBUs.
        return (master.smmu.features & ARM_SMMU_FEAT.COHERENCY) !== 0;
      case IOMMU_CAP_ENFORCE_CACHE_COHERENCY:
        // Only PCI root complexes can promise it.
        return armSmmuMasterCanwbs(master);
      case IOMMU_CAP_NOEXEC:
      case IOMMU_CAP_DEFERRED_FLUSH:
        return true;
      case IOMMU_CAP_DIRTY_TRACKING: {
        // arm_smmu_dbm_capable(): hardware dirty-bit updates (IDR0.HTTU) on a coherent SMMU.
        const need = ARM_SMMU_FEAT.HD | ARM_SMMU_FEAT.COHERENCY;
        return (master.smmu.features & need) === need;
      }
      case IOMMU_CAP_PCI_ATS_SUPPORTED:
        // arm_smmu_ats_supported(): needs FEAT_ATS, a root complex with ATS and a PCI device.
        return false;
      default:
        return false;
    }
  }

  /**
   * arm-smmu-v3.c: arm_smmu_get_resv_regions() — the software MSI window, then
   * iommu_dma_get_resv_regions(): IORT's for an ACPI device (none here) and, for a DT node,
   * of_iommu_get_resv_regions()'s `memory-region`s with `iommu-addresses` (none on our boards).
   */
  private getResvRegions(_dev: IommuClient): IommuResvRegion[] {
    return [
      {
        start: MSI_IOVA_BASE,
        length: MSI_IOVA_LENGTH,
        prot: IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO,
        type: IOMMU_RESV_SW_MSI,
      },
    ];
  }

  /** arm-smmu-v3.c: arm_smmu_enforce_cache_coherency() */
  private enforceCacheCoherency(domain: ArmSmmuDomain): boolean {
    // No platform master can write back its cache snoops (arm_smmu_master_canwbs()).
    const ok = domain.users === 0;
    domain.enforceCacheCoherency = ok;
    return ok;
  }

  /**
   * arm-smmu-v3.c: arm_smmu_domain_alloc_paging_flags() + arm_smmu_domain_finalise(): a stage-1
   * domain with an io-pgtable-arm table and an ASID. EOPNOTSUPP for flags it cannot honour or
   * any driver data, ENOMEM without memory, EBUSY when the ASIDs run out. DIRTY_TRACKING is
   * not checked against the hardware here (iommufd asks IOMMU_CAP_DIRTY_TRACKING first).
   */
  private domainAllocPagingFlags(
    dev: IommuClient,
    flags: number,
    userData: IommuUserData | null,
  ): ArmSmmuDomain {
    const fn = "arm_smmu_domain_alloc_paging_flags";
    const smmu = this.master(dev).smmu;
    const PAGING_FLAGS =
      IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID | IOMMU_HWPT_ALLOC_NEST_PARENT;
    if (flags & ~PAGING_FLAGS)
      throw new SysError("EOPNOTSUPP", fn, `flags 0x${flags.toString(16)}`);
    if (userData) throw new SysError("EOPNOTSUPP", fn, "paging domains take no driver data");
    switch (flags) {
      case 0:
        if (!(smmu.features & ARM_SMMU_FEAT.TRANS_S1)) {
          throw new SysError("EOPNOTSUPP", fn, "stage-2 domains are not modelled");
        }
        break;
      case IOMMU_HWPT_ALLOC_NEST_PARENT:
        // A nest parent is a stage-2 domain of an SMMU with both stages (IDR0.S1P and S2P);
        // the SMMU model has no stage 2, so ARM_SMMU_FEAT_NESTING is never set.
        if (!(smmu.features & ARM_SMMU_FEAT.NESTING)) {
          throw new SysError("EOPNOTSUPP", fn, "SMMU cannot nest (no ARM_SMMU_FEAT_NESTING)");
        }
        throw new SysError("EOPNOTSUPP", fn, "stage-2 domains are not modelled");
      case IOMMU_HWPT_ALLOC_DIRTY_TRACKING:
      case IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID:
      case IOMMU_HWPT_ALLOC_PASID:
        if (!(smmu.features & ARM_SMMU_FEAT.TRANS_S1)) throw new SysError("EOPNOTSUPP", fn, "S1");
        break;
      default:
        throw new SysError("EOPNOTSUPP", fn, `flags 0x${flags.toString(16)}`);
    }
    const domain = new ArmSmmuDomain(IOMMU_DOMAIN_UNMANAGED, this.domainOps);
    // arm_smmu_domain_finalise()
    const ias = Math.min(smmu.features & ARM_SMMU_FEAT.VAX ? 52 : 48, VA_BITS);
    const pgtbl = new ArmLpaeS1Pgtable(
      {
        pgsizeBitmap: smmu.pgsizeBitmap,
        ias,
        oas: smmu.oas,
        coherentWalk: (smmu.features & ARM_SMMU_FEAT.COHERENCY) !== 0,
        quirks: flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING ? IO_PGTABLE_QUIRK_ARM_HD : 0,
        tlb: {
          tlbFlushAll: () => domain.smmu?.domainInvRange(domain, 0, 0, 0, false),
          tlbFlushWalk: (iova, size, granule) =>
            domain.smmu?.domainInvRange(domain, iova, size, granule, false),
          tlbAddPage: (gather: IommuIotlbGather, iova, granule) =>
            iommuIotlbGatherAddPage(domain, gather, iova, granule),
        },
      },
      this.core.allocator,
    );
    domain.pgsizeBitmap = pgtbl.pgsizeBitmap;
    domain.geometry.apertureEnd = 2 ** pgtbl.ias - 1;
    domain.geometry.forceAperture = true;
    try {
      // arm_smmu_domain_finalise_s1(): the lowest free ASID, never 0.
      domain.asid = this.asidXa.alloc(1, 2 ** smmu.asidBits - 1, "xa_alloc", "EBUSY");
    } catch (e) {
      pgtbl.free();
      throw e;
    }
    domain.pgtbl = pgtbl;
    domain.smmu = smmu;
    return domain;
  }

  /** arm-smmu-v3.c: arm_smmu_domain_free_paging() */
  private domainFreePaging(domain: ArmSmmuDomain): void {
    domain.pgtbl?.free();
    domain.pgtbl = null;
    if (domain.asid) this.asidXa.free(domain.asid);
    domain.asid = 0;
  }

  /** The old domain's side of an attach (arm_smmu_attach_commit()'s invalidation upkeep). */
  private dropOldDomain(master: ArmSmmuMaster, old: IommuDomain | null): void {
    if (!(old instanceof ArmSmmuDomain)) return;
    old.users--;
    // An ASID no master uses any more must be left clean in the IOTLB.
    if (old.users === 0 && old.smmu) {
      old.smmu.cmdq.issueCmd(encodeCommand("CMD_TLBI_NH_ASID", { ASID: old.asid, VMID: 0 }), true);
    }
    if (master.domain === old) master.domain = null;
  }

  /** arm-smmu-v3.c: arm_smmu_attach_dev() for a stage-1 paging domain. */
  private attachDev(domain: ArmSmmuDomain, dev: IommuClient, old: IommuDomain | null): void {
    const fn = "arm_smmu_attach_dev";
    if (!this.core.devIommuFwspecGet(dev)) throw new SysError("ENOENT", fn, "no fwspec");
    const master = this.master(dev);
    const smmu = master.smmu;
    if (domain.smmu !== smmu) throw new SysError("EINVAL", fn, "domain of another SMMU");
    smmu.allocCdPtr(master);
    // arm_smmu_attach_prepare(): the new domain starts invalidating for this master.
    if (domain.enforceCacheCoherency) throw new SysError("EINVAL", fn, "cannot enforce snooping");
    domain.users++;
    const pgtbl = domain.pgtbl!;
    smmu.writeCdEntry(
      master,
      armSmmuMakeS1Cd({
        tcr: pgtbl.tcr,
        ttbr: pgtbl.ttbr,
        mair: pgtbl.mair,
        asid: domain.asid,
        stallEnabled: master.stallEnabled,
        hd: (pgtbl.quirks & IO_PGTABLE_QUIRK_ARM_HD) !== 0,
      }),
    );
    smmu.installSteForDev(
      master,
      armSmmuMakeCdtableSte(master.cdTable!, {
        s1dss: STRTAB_STE_1_S1DSS_SSID0,
        stallsFeature: (smmu.features & ARM_SMMU_FEAT.STALLS) !== 0,
        stallEnabled: master.stallEnabled,
        attrTypesOvr: (smmu.features & ARM_SMMU_FEAT.ATTR_TYPES_OVR) !== 0,
      }),
    );
    this.dropOldDomain(master, old);
    master.domain = domain;
  }

  /**
   * arm-smmu-v3.c: arm_smmu_attach_dev_ste() for the identity (bypass STE) and blocked (abort
   * STE) domains; the default substream's CD is cleared afterwards.
   */
  private attachDevSte(dev: IommuClient, old: IommuDomain | null, blocked: boolean): void {
    const master = this.master(dev);
    const smmu = master.smmu;
    const ste = blocked
      ? armSmmuMakeAbortSte()
      : armSmmuMakeBypassSte((smmu.features & ARM_SMMU_FEAT.ATTR_TYPES_OVR) !== 0);
    smmu.installSteForDev(master, ste);
    this.dropOldDomain(master, old);
    smmu.clearCd(master);
  }
}
