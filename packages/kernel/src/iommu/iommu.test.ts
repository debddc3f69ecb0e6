import { fc, test } from "@fast-check/vitest";
import { boards, decodeSte, STE_CONFIG_BYPASS, STE_CONFIG_S1_TRANS } from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { IommuDomain } from "./domain.js";
import type { IommuGroup } from "./group.js";
import {
  IOMMU_CACHE,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuClient,
  IommuDevice,
  type IommuOps,
} from "./iommu-defs.js";
import {
  type IommuWorld,
  iommuWorld,
  MOCK_IOMMU_DTS,
  sysLinkTarget,
  sysLs,
  sysRead,
  sysReadlink,
  sysWrite,
} from "./iommu-test-fixture.js";

const RW = IOMMU_READ | IOMMU_WRITE;
const DMA_TEST = "c030000.dma-test";
const DMA_TEST_PATH = "/sys/devices/platform/c000000.platform-bus/c030000.dma-test";

function steConfig(w: IommuWorld, sid: number): number {
  const bytes = new Uint8Array(64);
  w.soc.memory.read(w.smmu!.stepForSid(sid), bytes);
  return decodeSte(bytes).Config;
}

/** A kernel driver binding: what really_probe() does for a non-driver_managed_dma driver. */
function bindKernelDriver(w: IommuWorld, name: string) {
  const dev = w.dev(name);
  w.core.iommuDeviceUseDefaultDomain(dev);
  dev.driverName = "kdrv";
  return dev;
}

function unbindKernelDriver(w: IommuWorld, name: string) {
  const dev = w.dev(name);
  dev.driverName = undefined;
  w.core.iommuDeviceUnuseDefaultDomain(dev);
}

describe("iommu groups", () => {
  it("gives each SMMU master a group with Linux's sysfs links and attributes", () => {
    const w = iommuWorld();
    expect(sysLs(w.sysfs, "/sys/kernel/iommu_groups").sort()).toEqual(["0", "1", "2"]);
    expect(sysLs(w.sysfs, "/sys/kernel/iommu_groups/1").sort()).toEqual([
      "devices",
      "reserved_regions",
      "type",
    ]);
    expect(sysReadlink(w.sysfs, "/sys/kernel/iommu_groups/1/devices/c030000.dma-test")).toBe(
      "../../../../devices/platform/c000000.platform-bus/c030000.dma-test",
    );
    expect(sysReadlink(w.sysfs, `${DMA_TEST_PATH}/iommu_group`)).toBe(
      "../../../../kernel/iommu_groups/1",
    );
    expect(sysRead(w.sysfs, "/sys/kernel/iommu_groups/1/type")).toBe("DMA\n");
    expect(sysRead(w.sysfs, "/sys/kernel/iommu_groups/1/reserved_regions")).toBe(
      "0x0000000008000000 0x00000000080fffff msi\n",
    );
  });

  it("gives a device without `iommus` no group", () => {
    const w = iommuWorld();
    for (const name of ["9030000.pl061", "9020000.fw-cfg", "c020000.timer"]) {
      const dev = w.dev(name);
      expect(w.core.deviceGroup(dev)).toBeNull();
      expect(w.sysfs.exists(`${dev.kobjPath}/iommu_group`)).toBe(false);
      // Kernel drivers bind as usual; user space cannot claim it.
      w.core.iommuDeviceUseDefaultDomain(dev);
      expect(() => w.core.iommuDeviceClaimDmaOwner(dev, {})).toThrowErrno("ENODEV");
      expect(() =>
        w.core.iommuAttachDevice(w.core.iommuGetDmaDomain(w.dev(DMA_TEST)), dev),
      ).toThrowErrno("ENODEV");
    }
  });

  it("leaves the second dma-test engine (aliased StreamID) without a group, even at bind", () => {
    const w = iommuWorld();
    const dev = w.dev("c031000.dma-test");
    expect(w.core.deviceGroup(dev)).toBeNull();
    expect(w.sysfs.exists(`${dev.kobjPath}/iommu_group`)).toBe(false);
    // really_probe() → of_dma_configure(): probing again warns again, and carries on.
    dev.driverName = "dma-test";
    const mark = w.log().length;
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    expect(w.log().slice(mark)).toEqual([
      "dma-test c031000.dma-test: Aliasing StreamID 0x30 (from c030000.dma-test) unsupported, expect DMA to be broken",
    ]);
    expect(w.core.deviceGroup(dev)).toBeNull();
    expect(w.core.dma.useDmaIommu(dev)).toBe(false);
  });

  it("defers of_dma_configure() until the IOMMU has registered", () => {
    const w = iommuWorld({ probeSmmu: false });
    const dev = w.dev(DMA_TEST);
    expect(() => w.core.ofDmaConfigure(dev, dev.dtNode, true)).toThrowErrno("EPROBE_DEFER");
    expect(w.core.devIommuGetExisting(dev)).toBeUndefined();
    w.probeSmmu();
    expect(w.core.deviceGroup(dev)?.id).toBe(1);
    // At bind time the fwspec is there: nothing more to do.
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    expect(w.core.deviceGroup(dev)?.id).toBe(1);
  });

  it("carries on without an IOMMU after the deferred-probe timeout", () => {
    const w = iommuWorld({ probeSmmu: false, deferredProbeCheckState: () => "ETIMEDOUT" });
    const dev = w.dev(DMA_TEST);
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    expect(w.core.deviceGroup(dev)).toBeNull();
  });

  it("treats a disabled IOMMU node as no IOMMU", () => {
    const dts = boards
      .virtLab({ ramSize: 1024 ** 3 })
      .replace(
        'compatible = "arm,smmu-v3";',
        'compatible = "arm,smmu-v3";\n\t\tstatus = "disabled";',
      );
    const w = iommuWorld({ dts, probeSmmu: false });
    const dev = w.dev("c010000.ethernet");
    w.core.ofDmaConfigure(dev, dev.dtNode, true);
    expect(w.core.deviceGroup(dev)).toBeNull();
  });

  it("frees a group with its last device and hands its id out again", () => {
    const w = iommuWorld();
    const eth = w.dev("c010000.ethernet");
    w.core.iommuReleaseDevice(eth);
    expect(w.sysfs.exists("/sys/kernel/iommu_groups/0")).toBe(false);
    expect(w.sysfs.exists(`${eth.kobjPath}/iommu_group`)).toBe(false);
    expect(w.smmu!.findMaster(0x20)).toBeUndefined();
    // BUS_NOTIFY_ADD_DEVICE again: lowest free id.
    w.core.iommuProbeDevice(eth);
    expect(w.core.deviceGroup(eth)?.id).toBe(0);
    expect(w.log().at(-1)).toBe("platform c010000.ethernet: Adding to iommu group 0");
  });

  it("keeps a group alive while someone holds a reference", () => {
    const w = iommuWorld();
    const eth = w.dev("c010000.ethernet");
    const group = w.core.iommuGroupGet(eth)!;
    w.core.iommuReleaseDevice(eth);
    expect(w.sysfs.exists("/sys/kernel/iommu_groups/0")).toBe(true);
    w.core.iommuGroupPut(group);
    expect(w.sysfs.exists("/sys/kernel/iommu_groups/0")).toBe(false);
  });

  it("adds a device no IOMMU translates to a group of the caller's, as VFIO's no-IOMMU mode does", () => {
    const w = iommuWorld();
    const gpio = w.dev("9030000.pl061");
    const group = w.core.iommuGroupAlloc();
    w.core.iommuGroupSetName(group, "vfio-noiommu");
    w.core.iommuGroupAddDevice(group, gpio);
    expect(group.id).toBe(3);
    expect(w.core.deviceGroup(gpio)).toBe(group);
    expect(w.log().at(-1)).toBe("amba 9030000.pl061: Adding to iommu group 3");
    expect(sysLs(w.sysfs, "/sys/kernel/iommu_groups/3").sort()).toEqual([
      "devices",
      "name",
      "reserved_regions",
      "type",
    ]);
    expect(sysRead(w.sysfs, "/sys/kernel/iommu_groups/3/name")).toBe("vfio-noiommu\n");
    expect(sysLinkTarget(w.sysfs, `${gpio.kobjPath}/iommu_group`)).toBe(
      "/sys/kernel/iommu_groups/3",
    );
    expect(sysLs(w.sysfs, "/sys/kernel/iommu_groups/3/devices")).toEqual(["9030000.pl061"]);
    // The allocation's reference goes; the member's keeps the group until it is removed.
    w.core.iommuGroupPut(group);
    expect(w.sysfs.exists("/sys/kernel/iommu_groups/3")).toBe(true);
    w.core.iommuGroupRemoveDevice(gpio);
    expect(w.log().at(-1)).toBe("amba 9030000.pl061: Removing from iommu group 3");
    expect(w.core.deviceGroup(gpio)).toBeNull();
    expect(w.sysfs.exists(`${gpio.kobjPath}/iommu_group`)).toBe(false);
    expect(w.sysfs.exists("/sys/kernel/iommu_groups/3")).toBe(false);
  });

  it("renames a group's name attribute, removes it with null, and refuses null on none (ENOMEM)", () => {
    const w = iommuWorld();
    const group = w.core.iommuGroupAlloc();
    const file = `${group.sysfsPath}/name`;
    expect(w.sysfs.exists(file)).toBe(false);
    expect(() => w.core.iommuGroupSetName(group, null)).toThrowErrno("ENOMEM");
    w.core.iommuGroupSetName(group, "first");
    w.core.iommuGroupSetName(group, "second");
    expect(sysRead(w.sysfs, file)).toBe("second\n");
    w.core.iommuGroupSetName(group, null);
    expect(group.name).toBeNull();
    expect(w.sysfs.exists(file)).toBe(false);
  });

  it("switches the default domain through iommu_group/type when no driver uses the group", () => {
    const w = iommuWorld();
    const type = "/sys/kernel/iommu_groups/1/type";
    sysWrite(w.sysfs, type, "identity\n");
    expect(sysRead(w.sysfs, type)).toBe("identity\n");
    expect(steConfig(w, 0x30)).toBe(STE_CONFIG_BYPASS);
    sysWrite(w.sysfs, type, "DMA");
    expect(steConfig(w, 0x30)).toBe(STE_CONFIG_S1_TRANS);
    expect(() => sysWrite(w.sysfs, type, "bogus\n")).toThrowErrno("EINVAL");
    bindKernelDriver(w, DMA_TEST);
    expect(() => sysWrite(w.sysfs, type, "identity\n")).toThrowErrno("EPERM");
    // DMA → DMA-FQ needs no teardown and is allowed while bound.
    sysWrite(w.sysfs, type, "DMA-FQ\n");
    expect(sysRead(w.sysfs, type)).toBe("DMA-FQ\n");
  });
});

describe("DMA ownership", () => {
  it("counts kernel DMA-API users of the default domain", () => {
    const w = iommuWorld();
    const group = w.core.deviceGroup(w.dev(DMA_TEST))!;
    bindKernelDriver(w, DMA_TEST);
    expect(group.ownerCnt).toBe(1);
    expect(w.core.iommuGroupDmaOwnerClaimed(group)).toBe(true);
    unbindKernelDriver(w, DMA_TEST);
    expect(group.ownerCnt).toBe(0);
    expect(w.core.iommuGroupDmaOwnerClaimed(group)).toBe(false);
  });

  it("refuses a group claim without an owner (EINVAL) or while a kernel driver uses it (EPERM)", () => {
    const w = iommuWorld();
    const group = w.core.deviceGroup(w.dev(DMA_TEST))!;
    expect(() => w.core.iommuGroupClaimDmaOwner(group, null)).toThrowErrno("EINVAL");
    bindKernelDriver(w, DMA_TEST);
    expect(() => w.core.iommuGroupClaimDmaOwner(group, {})).toThrowErrno("EPERM");
    expect(group.owner).toBeNull();
    expect(group.domain).toBe(group.defaultDomain);
  });

  it("blocks DMA while claimed and restores the default domain on release", () => {
    const w = iommuWorld();
    const dev = w.dev(DMA_TEST);
    const group = w.core.deviceGroup(dev)!;
    const vfioGroup = {};
    w.core.iommuGroupClaimDmaOwner(group, vfioGroup);
    expect(group.owner).toBe(vfioGroup);
    expect(group.domain).toBe(group.blockingDomain);
    expect(group.blockingDomain?.type).toBe(IOMMU_DOMAIN_BLOCKED);
    expect(() => w.core.iommuGroupClaimDmaOwner(group, {})).toThrowErrno("EPERM");
    // A kernel driver cannot bind to a device of a user-owned group.
    expect(() => w.core.iommuDeviceUseDefaultDomain(dev)).toThrowErrno("EBUSY");
    w.core.iommuGroupReleaseDmaOwner(group);
    expect(group.owner).toBeNull();
    expect(group.ownerCnt).toBe(0);
    expect(group.domain).toBe(group.defaultDomain);
    expect(steConfig(w, 0x30)).toBe(STE_CONFIG_S1_TRANS);
    w.core.iommuDeviceUseDefaultDomain(dev);
  });

  it("lets one owner claim a device twice and counts both (iommufd bind)", () => {
    const w = iommuWorld();
    const dev = w.dev(DMA_TEST);
    const group = w.core.deviceGroup(dev)!;
    const ictx = {};
    expect(() => w.core.iommuDeviceClaimDmaOwner(dev, null)).toThrowErrno("EINVAL");
    w.core.iommuDeviceClaimDmaOwner(dev, ictx);
    w.core.iommuDeviceClaimDmaOwner(dev, ictx);
    expect(group.ownerCnt).toBe(2);
    expect(() => w.core.iommuDeviceClaimDmaOwner(dev, {})).toThrowErrno("EPERM");
    w.core.iommuDeviceReleaseDmaOwner(dev);
    expect(group.domain).toBe(group.blockingDomain);
    w.core.iommuDeviceReleaseDmaOwner(dev);
    expect(group.domain).toBe(group.defaultDomain);
    expect(group.owner).toBeNull();
  });

  it("refuses a device claim while a kernel driver uses the group (EPERM)", () => {
    const w = iommuWorld();
    bindKernelDriver(w, DMA_TEST);
    expect(() => w.core.iommuDeviceClaimDmaOwner(w.dev(DMA_TEST), {})).toThrowErrno("EPERM");
  });

  it("refuses ownership of a group a kernel user moved off its default domain (EBUSY)", () => {
    const w = iommuWorld();
    const dev = w.dev(DMA_TEST);
    const domain = w.core.iommuPagingDomainAlloc(dev);
    w.core.iommuAttachDevice(domain, dev);
    expect(() => w.core.iommuDeviceClaimDmaOwner(dev, {})).toThrowErrno("EBUSY");
    expect(() => w.core.iommuDeviceUseDefaultDomain(dev)).not.toThrow();
    expect(() => w.core.iommuDeviceUseDefaultDomain(dev)).toThrowErrno("EBUSY");
  });

  it("traces every ownership change", () => {
    const w = iommuWorld();
    const dev = w.dev(DMA_TEST);
    const rec = w.trace.record();
    const owner = {};
    w.core.iommuDeviceClaimDmaOwner(dev, owner);
    w.core.iommuDeviceReleaseDmaOwner(dev);
    w.core.iommuDeviceUseDefaultDomain(dev);
    rec.stop();
    expect(
      rec.records
        .filter((r) => r.type === "iommu:owner")
        .map((r) => {
          const o = r as unknown as { action: string; ownerCnt: number; userOwned: boolean };
          return [o.action, o.ownerCnt, o.userOwned];
        }),
    ).toEqual([
      ["claim", 1, true],
      ["release", 0, false],
      ["use", 1, false],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// A shared group needs an IOMMU that groups several devices: a minimal mock driver.

class MockIommu {
  readonly iommu: IommuDevice;
  readonly ops: IommuOps;
  readonly attached = new Map<string, number>();
  onProbe: ((dev: IommuClient) => void) | undefined;

  constructor(w: IommuWorld) {
    const hw = w.dev("1000000.iommu");
    this.iommu = new IommuDevice(hw);
    const mappings = new Map<IommuDomain, Map<number, number>>();
    const attach = (d: IommuDomain, dev: IommuClient) => this.attached.set(dev.name, d.type);
    const domainOps = {
      attachDev: attach,
      mapPages: (
        d: IommuDomain,
        iova: number,
        pa: number,
        pgsize: number,
        count: number,
        _prot: number,
        mapped: { value: number },
      ) => {
        for (let i = 0; i < count; i++) mappings.get(d)!.set(iova + i * pgsize, pa + i * pgsize);
        mapped.value += count * pgsize;
      },
      unmapPages: (d: IommuDomain, iova: number, pgsize: number) =>
        mappings.get(d)!.delete(iova) ? pgsize : 0,
      iovaToPhys: (d: IommuDomain, iova: number) => mappings.get(d)!.get(iova) ?? 0,
    };
    const core = w.core;
    this.ops = {
      name: "mock",
      identityDomain: new IommuDomain(IOMMU_DOMAIN_IDENTITY, { attachDev: attach }),
      blockedDomain: new IommuDomain(IOMMU_DOMAIN_BLOCKED, { attachDev: attach }),
      defaultDomainOps: domainOps,
      probeDevice: (dev) => {
        this.onProbe?.(dev);
        return this.iommu;
      },
      deviceGroup: (dev) => core.genericSingleDeviceGroup(dev),
      ofXlate: (dev, args) => core.iommuFwspecAddIds(dev, args),
      domainAllocPaging: () => {
        const d = new IommuDomain(IOMMU_DOMAIN_UNMANAGED, domainOps);
        d.pgsizeBitmap = 0x1000;
        d.geometry.apertureEnd = 2 ** 32 - 1;
        mappings.set(d, new Map());
        return d;
      },
    };
  }
}

function mockWorld(): { w: IommuWorld; mock: MockIommu; group: () => IommuGroup } {
  const w = iommuWorld({ dts: MOCK_IOMMU_DTS, probeSmmu: false });
  const mock = new MockIommu(w);
  return { w, mock, group: () => w.core.deviceGroup(w.dev("2000000.a"))! };
}

describe("ownership in a shared group", () => {
  it("puts both devices in the one group the driver makes", () => {
    const { w, mock, group } = mockWorld();
    w.core.iommuDeviceRegister(mock.iommu, mock.ops, w.dev("1000000.iommu"));
    expect(w.core.deviceGroup(w.dev("2001000.b"))).toBe(group());
    expect(sysLs(w.sysfs, "/sys/kernel/iommu_groups/0/devices").sort()).toEqual([
      "2000000.a",
      "2001000.b",
    ]);
    expect(mock.attached).toEqual(
      new Map([
        ["2000000.a", 3],
        ["2001000.b", 3],
      ]),
    );
    expect(sysLinkTarget(w.sysfs, "/sys/devices/platform/2001000.b/iommu_group")).toBe(
      "/sys/kernel/iommu_groups/0",
    );
  });

  it("refuses user space a device whose group mate is bound to a kernel driver (EPERM)", () => {
    const { w, mock, group } = mockWorld();
    w.core.iommuDeviceRegister(mock.iommu, mock.ops, w.dev("1000000.iommu"));
    bindKernelDriver(w, "2000000.a");
    expect(() => w.core.iommuDeviceClaimDmaOwner(w.dev("2001000.b"), {})).toThrowErrno("EPERM");
    unbindKernelDriver(w, "2000000.a");
    const ictx = {};
    w.core.iommuDeviceClaimDmaOwner(w.dev("2001000.b"), ictx);
    expect(mock.attached.get("2000000.a")).toBe(IOMMU_DOMAIN_BLOCKED);
    // Now a kernel driver cannot bind to the mate, but the same owner may claim it.
    expect(() => w.core.iommuDeviceUseDefaultDomain(w.dev("2000000.a"))).toThrowErrno("EBUSY");
    w.core.iommuDeviceClaimDmaOwner(w.dev("2000000.a"), ictx);
    expect(group().ownerCnt).toBe(2);
  });

  it("only attaches a domain by device when the device is alone in its group (EINVAL)", () => {
    const { w, mock } = mockWorld();
    w.core.iommuDeviceRegister(mock.iommu, mock.ops, w.dev("1000000.iommu"));
    const dev = w.dev("2000000.a");
    const domain = w.core.iommuPagingDomainAlloc(dev);
    expect(() => w.core.iommuAttachDevice(domain, dev)).toThrowErrno("EINVAL");
  });

  it("defers a kernel driver racing the default domain's setup (EPROBE_DEFER)", () => {
    const { w, mock } = mockWorld();
    let seen: unknown = null;
    mock.onProbe = (dev) => {
      if (dev.name !== "2001000.b") return;
      try {
        w.core.iommuDeviceUseDefaultDomain(w.dev("2000000.a"));
      } catch (e) {
        seen = e;
      }
    };
    w.core.iommuDeviceRegister(mock.iommu, mock.ops, w.dev("1000000.iommu"));
    expect(() => {
      throw seen;
    }).toThrowErrno("EPROBE_DEFER");
  });

  it("refuses a domain of another IOMMU driver (EINVAL)", () => {
    const { w, mock, group } = mockWorld();
    w.core.iommuDeviceRegister(mock.iommu, mock.ops, w.dev("1000000.iommu"));
    const foreign = new IommuDomain(IOMMU_DOMAIN_UNMANAGED, { attachDev: () => {} });
    expect(() => w.core.iommuAttachGroup(foreign, group())).toThrowErrno("EINVAL");
  });
});

describe("paging domains", () => {
  function attached(w: IommuWorld) {
    const dev = w.dev(DMA_TEST);
    w.core.iommuDeviceClaimDmaOwner(dev, {});
    const domain = w.core.iommuPagingDomainAlloc(dev);
    w.core.iommuAttachGroup(domain, w.core.deviceGroup(dev)!);
    const walk = (iova: number) =>
      (domain as unknown as { pgtbl: { pgtableWalk(i: number): bigint[] } }).pgtbl.pgtableWalk(
        iova,
      );
    return { dev, domain, walk };
  }

  it("attaches a user domain over the blocking domain, and EBUSY over another one", () => {
    const w = iommuWorld();
    const { dev, domain } = attached(w);
    const group = w.core.deviceGroup(dev)!;
    expect(group.domain).toBe(domain);
    expect(w.core.iommuGetDomainForDev(dev)).toBe(domain);
    const other = w.core.iommuPagingDomainAlloc(dev);
    expect(() => w.core.iommuAttachGroup(other, group)).toThrowErrno("EBUSY");
    w.core.iommuDetachGroup(domain, group);
    expect(group.domain).toBe(group.blockingDomain);
  });

  it("maps with the biggest pages size and alignment allow", () => {
    const w = iommuWorld();
    const { domain, walk } = attached(w);
    const rec = w.trace.record();
    // A page up to the 2 MiB boundary, a 2 MiB block, then a page.
    w.core.iommuMap(domain, 0x1f_f000, 0x401f_f000, 0x20_2000, RW | IOMMU_CACHE);
    rec.stop();
    expect(walk(0x1f_f000)).toHaveLength(4);
    expect(walk(0x20_0000)).toHaveLength(3);
    expect(walk(0x40_0000)).toHaveLength(4);
    expect(w.core.iommuIovaToPhys(domain, 0x30_0123)).toBe(0x4030_0123);
    expect(rec.records.filter((r) => r.type === "iommu:map")).toMatchObject([
      { iova: 0x1f_f000, paddr: 0x401f_f000, size: 0x20_2000 },
    ]);
    // 1 GiB block when both sides are 1 GiB aligned.
    w.core.iommuMap(domain, 0x4000_0000, 0x4000_0000, 0x4000_0000, RW);
    expect(walk(0x4123_4567)).toHaveLength(2);
    // Differently aligned sides within 2 MiB: only pages.
    w.core.iommuMap(domain, 0x1_0000_0000, 0x4000_1000, 0x20_0000, RW);
    expect(walk(0x1_0000_0000)).toHaveLength(4);
  });

  it("refuses unaligned maps (EINVAL) with the kernel's message", () => {
    const w = iommuWorld();
    const { domain } = attached(w);
    expect(() => w.core.iommuMap(domain, 0x1234, 0x4000_0000, 0x1000, RW)).toThrowErrno("EINVAL");
    // iommu_map() then unmaps the 0 bytes it mapped, which is just as unaligned.
    expect(w.log().slice(-2)).toEqual([
      "iommu: unaligned: iova 0x1234 pa 0x0000000040000000 size 0x1000 min_pagesz 0x1000",
      "iommu: unaligned: iova 0x1234 size 0x0 min_pagesz 0x1000",
    ]);
  });

  it("refuses to map a non-paging domain (EINVAL)", () => {
    const w = iommuWorld();
    expect(() => w.core.iommuMap(w.driver.identityDomain, 0x1000, 0x1000, 0x1000, RW)).toThrowErrno(
      "EINVAL",
    );
  });

  it("unmaps what it mapped when a map fails half way (EEXIST)", () => {
    const w = iommuWorld();
    const { domain } = attached(w);
    w.core.iommuMap(domain, 0x3000, 0x4000_3000, 0x1000, RW);
    expect(() => w.core.iommuMap(domain, 0x1000, 0x4000_1000, 0x3000, RW)).toThrowErrno("EEXIST");
    expect(w.core.iommuIovaToPhys(domain, 0x1000)).toBe(0);
    expect(w.core.iommuIovaToPhys(domain, 0x2000)).toBe(0);
    expect(w.core.iommuIovaToPhys(domain, 0x3000)).toBe(0x4000_3000);
  });

  it("unmaps whole mappings only, stopping at the first hole", () => {
    const w = iommuWorld();
    const { domain } = attached(w);
    w.core.iommuMap(domain, 0x20_0000, 0x4020_0000, 0x20_0000, RW);
    expect(w.core.iommuUnmap(domain, 0x20_0000, 0x1000)).toBe(0);
    expect(w.core.iommuIovaToPhys(domain, 0x20_0000)).toBe(0x4020_0000);
    w.core.iommuMap(domain, 0x1000, 0x4000_1000, 0x2000, RW);
    const rec = w.trace.record();
    expect(w.core.iommuUnmap(domain, 0x1000, 0x4000)).toBe(0x2000);
    rec.stop();
    expect(rec.records.filter((r) => r.type === "iommu:unmap")).toMatchObject([
      { iova: 0x1000, size: 0x4000, unmappedSize: 0x2000 },
    ]);
    expect(w.core.iommuUnmap(domain, 0x20_0000, 0x20_0000)).toBe(0x20_0000);
  });

  const propWorld = iommuWorld();
  test.prop([
    fc.array(
      fc.record({
        iovaPages: fc.integer({ min: 0, max: 2 ** 20 }),
        physPages: fc.integer({ min: 0, max: 2 ** 18 }),
        pages: fc.integer({ min: 1, max: 1536 }),
        shareAlign: fc.boolean(),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  ])("maps any aligned ranges so that iova_to_phys agrees, and unmaps them whole", (ranges) => {
    const w = propWorld;
    const domain = w.core.iommuPagingDomainAlloc(w.dev(DMA_TEST));
    let next = 0;
    const placed = ranges.map((r) => {
      // Disjoint IOVA ranges; physical side 2 MiB-congruent with the IOVA half the time.
      const iova = (next + r.iovaPages) * 4096;
      next += r.iovaPages + r.pages + 512;
      const phys = 0x4000_0000 + (r.shareAlign ? iova % 0x20_0000 : r.physPages * 4096);
      return { iova, phys, size: r.pages * 4096 };
    });
    for (const p of placed) w.core.iommuMap(domain, p.iova, p.phys, p.size, RW);
    for (const p of placed) {
      for (const off of [0, p.size - 1, Math.floor(p.size / 2)]) {
        expect(w.core.iommuIovaToPhys(domain, p.iova + off)).toBe(p.phys + off);
      }
    }
    for (const p of placed) expect(w.core.iommuUnmap(domain, p.iova, p.size)).toBe(p.size);
    for (const p of placed) expect(w.core.iommuIovaToPhys(domain, p.iova)).toBe(0);
    w.core.iommuDomainFree(domain);
  });

  it("leaves no trace when memory runs out (ENOMEM)", () => {
    const w = iommuWorld();
    const dev = w.dev(DMA_TEST);
    const asid = (d: unknown) => (d as { asid: number }).asid;
    const used = w.allocator.usedPages;
    w.allocator.setFailHook((site) => site === "alloc_pages");
    expect(() => w.core.iommuPagingDomainAlloc(dev)).toThrowErrno("ENOMEM");
    expect(() => w.core.dma.dmaMapSingle(dev, 0x4000_0000, 4096, 1)).toThrowErrno("ENOMEM");
    w.allocator.setFailHook(undefined);
    expect(w.allocator.usedPages).toBe(used);
    // The ASID and the IOVA the failed calls had taken are free again.
    expect(asid(w.core.iommuPagingDomainAlloc(dev))).toBe(4);
    expect(w.core.dma.dmaMapSingle(dev, 0x4000_0000, 4096, 1)).toBe(0xffff_f000);
  });

  it("undoes a map whose page table cannot grow (ENOMEM)", () => {
    const w = iommuWorld();
    const { domain } = attached(w);
    w.core.iommuMap(domain, 0x1000, 0x4000_1000, 0x1000, RW);
    let left = 0;
    w.allocator.setFailHook((site) => site === "alloc_pages" && left-- <= 0);
    // The second 2 MiB region needs a new level-3 table: none to be had.
    expect(() => w.core.iommuMap(domain, 0x1f_f000, 0x4000_0000, 0x2000, RW)).toThrowErrno(
      "ENOMEM",
    );
    w.allocator.setFailHook(undefined);
    expect(w.core.iommuIovaToPhys(domain, 0x1f_f000)).toBe(0);
    expect(w.core.iommuIovaToPhys(domain, 0x1000)).toBe(0x4000_1000);
  });

  it("translates identity 1:1 and blocked to nothing", () => {
    const w = iommuWorld();
    expect(w.core.iommuIovaToPhys(w.driver.identityDomain, 0x1234_5000)).toBe(0x1234_5000);
    expect(w.core.iommuIovaToPhys(w.driver.blockedDomain, 0x1234_5000)).toBe(0);
  });

  it("traces attaches", () => {
    const w = iommuWorld();
    const rec = w.trace.record();
    const { domain } = attached(w);
    rec.stop();
    expect(rec.records.filter((r) => r.type === "iommu:attach")).toMatchObject([
      { device: DMA_TEST, group: 1, domainType: "blocked" },
      { device: DMA_TEST, group: 1, domain: w.core.domainId(domain), domainType: "unmanaged" },
    ]);
  });
});
