/**
 * The IOMMU-core API iommufd is built on (drivers/iommu/iommufd/device.c in 7.3):
 * iommu_device_claim_dma_owner() at bind, iommu_attach_group_handle() at the first attach,
 * iommu_replace_group_handle() to switch HWPTs without a blocking window,
 * iommu_detach_group_handle() at detach, iommu_group_has_isolated_msi() and the group's
 * reserved regions at bind — on the booted default board, with the DMA test engine doing real
 * transfers through the SMMU.
 */

import { decodeSte, STE_CONFIG_ABORT, STE_CONFIG_S1_TRANS, walkNodes } from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { boot } from "../../test/fixture.js";
import { ArmSmmuDomain } from "../drivers/iommu/arm-smmu-v3.js";
import { SysError } from "../errno.js";
import { expectErrno } from "../testing/matchers.js";
import type { KernelTraceRecord } from "../trace/trace-bus.js";
import { IommuAttachHandle, IommuDomain } from "./domain.js";
import { msiDeviceHasIsolatedMsi } from "./iommu.js";
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_NESTED,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_MMIO,
  IOMMU_NO_PASID,
  IOMMU_NOEXEC,
  IOMMU_READ,
  IOMMU_RESV_SW_MSI,
  IOMMU_WRITE,
  type IommuClient,
  IommuDevice,
  type IommuDomainOps,
  type IommuOps,
} from "./iommu-defs.js";
import { dmaTestCopy, iommuWorld, MOCK_IOMMU_DTS } from "./iommu-test-fixture.js";

const DMA_TEST = "c030000.dma-test";
const DMA_TEST_BASE = 0x0c03_0000;
const SID_DMA_TEST = 0x30;
const UNBIND = "/sys/bus/platform/drivers/vfio-lab-dma-test/unbind";
const BIND = "/sys/bus/platform/drivers/vfio-lab-dma-test/bind";
const RW = IOMMU_READ | IOMMU_WRITE;
/** Where the engine reads and writes, in every domain of these tests. */
const IOVA_SRC = 0x10_0000;
const IOVA_DST = 0x20_0000;

/** The booted board, with the dma-test engine's group and the helpers the scenarios share. */
function board() {
  const { soc, kernel, p } = boot();
  const core = kernel.iommu;
  const find = (bus: "platform" | "amba", name: string): IommuClient => {
    const dev = kernel.drivers.findDevice(bus, name);
    if (!dev) throw new Error(`no ${bus} device ${name}`);
    return dev;
  };
  const dev = find("platform", DMA_TEST);
  const group = core.deviceGroup(dev)!;
  const smmu = kernel.smmu.devices[0]!;
  const page = (text = ""): number => {
    const pa = kernel.allocator.allocPage({ kind: "kernel", zero: true }) * 4096;
    soc.memory.write(pa, new TextEncoder().encode(text));
    return pa;
  };
  const bytes = (pa: number, len: number) => {
    const buf = new Uint8Array(len);
    soc.memory.read(pa, buf);
    return buf;
  };
  const text = (pa: number, len: number) => new TextDecoder().decode(bytes(pa, len));
  /** A paging domain whose IOVA_SRC reads `src` and whose IOVA_DST writes a fresh page. */
  const domainOver = (src: string) => {
    const domain = core.iommuPagingDomainAlloc(dev);
    const dst = page();
    core.iommuMap(domain, IOVA_SRC, page(src), 4096, IOMMU_READ);
    core.iommuMap(domain, IOVA_DST, dst, 4096, IOMMU_WRITE);
    return { domain, dst };
  };
  /** What user space does through the mmapped registers once VFIO owns the engine. */
  const copy = (len: number) => dmaTestCopy(soc, DMA_TEST_BASE, IOVA_SRC, IOVA_DST, len);
  const ste = () => bytes(smmu.stepForSid(SID_DMA_TEST), 64);
  const steConfig = () => decodeSte(ste()).Config;
  return { soc, kernel, p, core, dev, group, find, page, text, domainOver, copy, ste, steConfig };
}

/** The same world with the engine unbound and claimed, and two domains ready to attach. */
function ownedBoard() {
  const w = board();
  w.p.writeFile(UNBIND, DMA_TEST);
  const ictx = {};
  w.core.iommuDeviceClaimDmaOwner(w.dev, ictx);
  const a = w.domainOver("from A");
  const b = w.domainOver("from B");
  return { ...w, ictx, a, b };
}

function attaches(records: readonly KernelTraceRecord[]) {
  return records
    .filter((r) => r.type === "iommu:attach")
    .map((r) => {
      const a = r as unknown as { device: string; domain: number; domainType: string };
      return [a.device, a.domain, a.domainType];
    });
}

describe("iommufd's life cycle of a device, on the board", () => {
  it("claims, attaches by handle, replaces without blocking, detaches to blocking, releases", () => {
    const w = board();
    // iommufd_device_bind(): the kernel driver is unbound first, which gives its DMA-API use
    // of the group back; the claim then blocks DMA.
    w.p.writeFile(UNBIND, DMA_TEST);
    expect(w.group.ownerCnt).toBe(0);
    const ictx = {};
    w.core.iommuDeviceClaimDmaOwner(w.dev, ictx);
    expect(w.group.owner).toBe(ictx);
    expect(w.group.domain).toBe(w.group.blockingDomain);
    expect(w.copy(6).ok).toBe(false);

    // IOMMU_HWPT_ALLOC + the first attach: iommufd_hwpt_attach_device().
    const a = w.domainOver("from A");
    const h1 = new IommuAttachHandle();
    w.core.iommuAttachGroupHandle(a.domain, w.group, h1);
    expect(h1.domain).toBe(a.domain);
    expect(w.group.domain).toBe(a.domain);
    expect(w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0)).toBe(h1);
    expect(w.copy(6).ok).toBe(true);
    expect(w.text(a.dst, 6)).toBe("from A");

    // A second HWPT, same IOVAs, other pages: iommufd_hwpt_replace_device().
    const b = w.domainOver("from B");
    const steBefore = w.ste();
    const rec = w.kernel.trace.record();
    const h2 = new IommuAttachHandle();
    w.core.iommuReplaceGroupHandle(w.group, b.domain, h2);
    rec.stop();
    // One attach, straight to the new domain: no stop at the blocking domain on the way. Both
    // domains are stage 1 through the one CD table, so the STE is not touched; the CD is
    // rewritten in place (the entry writer's three steps, as in 7.3) and the old ASID flushed.
    expect(attaches(rec.records)).toEqual([[DMA_TEST, w.core.domainId(b.domain), "unmanaged"]]);
    expect(w.ste()).toEqual(steBefore);
    const commands = rec.records.flatMap((r) => {
      const hw = (r as { record?: { type: string; command?: string } }).record;
      return r.type === "hw" && hw?.type === "iommu-command" ? [String(hw.command)] : [];
    });
    expect(commands).not.toContain("CMD_CFGI_STE");
    expect(commands).toContain("CMD_CFGI_CD");
    expect(commands).toContain("CMD_TLBI_NH_ASID");
    expect(w.group.domain).toBe(b.domain);
    expect(w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0)).toBe(h2);
    expect(w.copy(6).ok).toBe(true);
    expect(w.text(b.dst, 6)).toBe("from B");

    // iommufd_hwpt_detach_device(): back to the blocking domain while still owned.
    w.core.iommuDetachGroupHandle(b.domain, w.group);
    expect(w.group.domain).toBe(w.group.blockingDomain);
    expect(w.group.pasidArray.size).toBe(0);
    const err = expectErrno(
      () => w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0),
      "ENOENT",
    );
    expect(err.fn).toBe("iommu_attach_handle_get");
    expect(w.steConfig()).toBe(STE_CONFIG_ABORT);
    const fault = w.copy(6);
    expect(fault.ok).toBe(false);
    expect(fault.errAddr).toBe(IOVA_SRC);

    // iommufd_device_unbind(): the last release restores the default domain, and a kernel
    // driver may bind again.
    w.core.iommuDeviceReleaseDmaOwner(w.dev);
    expect(w.group).toMatchObject({ ownerCnt: 0, owner: null });
    expect(w.group.domain).toBe(w.group.defaultDomain);
    expect(w.steConfig()).toBe(STE_CONFIG_S1_TRANS);
    w.p.writeFile(BIND, DMA_TEST);
    expect(w.p.readlink(`/sys/bus/platform/devices/${DMA_TEST}/driver`)).toMatch(
      /vfio-lab-dma-test$/,
    );
    expect(w.group.ownerCnt).toBe(1);
    w.core.iommuDomainFree(a.domain);
    w.core.iommuDomainFree(b.domain);
  });
});

describe("iommu_attach_group_handle()", () => {
  it("EINVAL without a handle, before anything else", () => {
    const w = ownedBoard();
    const err = expectErrno(
      () => w.core.iommuAttachGroupHandle(w.a.domain, w.group, null),
      "EINVAL",
    );
    expect(err.fn).toBe("iommu_attach_group_handle");
    expect(w.group.domain).toBe(w.group.blockingDomain);
    expect(w.group.pasidArray.size).toBe(0);
  });

  it("EBUSY while the RID has a handle, even for the domain already attached", () => {
    const w = ownedBoard();
    w.core.iommuAttachGroupHandle(w.a.domain, w.group, new IommuAttachHandle());
    const h = w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0);
    for (const d of [w.a.domain, w.b.domain]) {
      const err = expectErrno(
        () => w.core.iommuAttachGroupHandle(d, w.group, new IommuAttachHandle()),
        "EBUSY",
      );
      expect(err.fn).toBe("xa_insert");
    }
    expect(w.group.domain).toBe(w.a.domain);
    expect(w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0)).toBe(h);
  });

  it("EBUSY over a user domain attached without a handle, leaving the RID empty", () => {
    const w = ownedBoard();
    w.core.iommuAttachGroup(w.a.domain, w.group);
    const err = expectErrno(
      () => w.core.iommuAttachGroupHandle(w.b.domain, w.group, new IommuAttachHandle()),
      "EBUSY",
    );
    expect(err.fn).toBe("__iommu_attach_group");
    expect(w.group.domain).toBe(w.a.domain);
    expect(w.group.pasidArray.size).toBe(0);
  });

  it("EINVAL for a domain of another IOMMU driver, leaving the RID empty", () => {
    const w = ownedBoard();
    const foreign = new IommuDomain(IOMMU_DOMAIN_UNMANAGED, { attachDev: () => {} });
    const err = expectErrno(
      () => w.core.iommuAttachGroupHandle(foreign, w.group, new IommuAttachHandle()),
      "EINVAL",
    );
    expect(err.fn).toBe("__iommu_attach_group");
    expect(w.group.domain).toBe(w.group.blockingDomain);
    expect(w.group.pasidArray.size).toBe(0);
  });

  it("passes the driver's refusal on and leaves the device blocked (EINVAL)", () => {
    const w = ownedBoard();
    // A domain that promised to enforce cache coherency cannot take a platform master.
    expect(w.a.domain.ops.enforceCacheCoherency?.(w.a.domain)).toBe(true);
    const err = expectErrno(
      () => w.core.iommuAttachGroupHandle(w.a.domain, w.group, new IommuAttachHandle()),
      "EINVAL",
    );
    expect(err.fn).toBe("arm_smmu_attach_dev");
    expect(w.group.domain).toBe(w.group.blockingDomain);
    expect(w.group.pasidArray.size).toBe(0);
    expect(w.steConfig()).toBe(STE_CONFIG_ABORT);
    expect(w.copy(6).ok).toBe(false);
  });

  it("does not look at ownership: iommufd claims the group before it attaches", () => {
    const w = board();
    w.p.writeFile(UNBIND, DMA_TEST);
    const a = w.domainOver("unowned");
    const h = new IommuAttachHandle();
    w.core.iommuAttachGroupHandle(a.domain, w.group, h);
    expect(w.group.domain).toBe(a.domain);
    // With a handle in the pasid array nobody can take or give ownership…
    expect(() => w.core.iommuDeviceClaimDmaOwner(w.dev, {})).toThrowErrno("EBUSY");
    // …and detaching an unowned group returns it to its default domain.
    w.core.iommuDetachGroupHandle(a.domain, w.group);
    expect(w.group.domain).toBe(w.group.defaultDomain);
    expect(w.group.pasidArray.size).toBe(0);
  });
});

describe("iommu_replace_group_handle()", () => {
  it("EINVAL without a domain or without a handle", () => {
    const w = ownedBoard();
    w.core.iommuAttachGroupHandle(w.a.domain, w.group, new IommuAttachHandle());
    const h = w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0);
    for (const [domain, handle] of [
      [null, new IommuAttachHandle()],
      [w.b.domain, null],
    ] as const) {
      const err = expectErrno(
        () => w.core.iommuReplaceGroupHandle(w.group, domain, handle),
        "EINVAL",
      );
      expect(err.fn).toBe("iommu_replace_group_handle");
    }
    expect(w.group.domain).toBe(w.a.domain);
    expect(w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0)).toBe(h);
  });

  it("acts as an attach when the group sits on its blocking domain", () => {
    const w = ownedBoard();
    const h = new IommuAttachHandle();
    w.core.iommuReplaceGroupHandle(w.group, w.a.domain, h);
    expect(w.group.domain).toBe(w.a.domain);
    expect(w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0)).toBe(h);
    expect(w.copy(6).ok).toBe(true);
    expect(w.text(w.a.dst, 6)).toBe("from A");
  });

  it("keeps the old domain and the old handle when the driver refuses the new one", () => {
    const w = ownedBoard();
    const h1 = new IommuAttachHandle();
    w.core.iommuAttachGroupHandle(w.a.domain, w.group, h1);
    w.b.domain.ops.enforceCacheCoherency?.(w.b.domain);
    const err = expectErrno(
      () => w.core.iommuReplaceGroupHandle(w.group, w.b.domain, new IommuAttachHandle()),
      "EINVAL",
    );
    expect(err.fn).toBe("arm_smmu_attach_dev");
    expect(w.group.domain).toBe(w.a.domain);
    expect(w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0)).toBe(h1);
    expect(w.copy(6).ok).toBe(true);
    expect(w.text(w.a.dst, 6)).toBe("from A");
  });

  it("only swaps the handle when the domain does not change", () => {
    const w = ownedBoard();
    w.core.iommuAttachGroupHandle(w.a.domain, w.group, new IommuAttachHandle());
    const rec = w.kernel.trace.record();
    const h2 = new IommuAttachHandle();
    w.core.iommuReplaceGroupHandle(w.group, w.a.domain, h2);
    rec.stop();
    expect(attaches(rec.records)).toEqual([]);
    expect(w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0)).toBe(h2);
  });
});

describe("iommu_detach_group_handle() and DMA ownership", () => {
  it("refuses to change owners while a handle is attached, and the release waits for detach", () => {
    const w = ownedBoard();
    w.core.iommuAttachGroupHandle(w.a.domain, w.group, new IommuAttachHandle());
    // Another context cannot claim it (EPERM); a kernel driver cannot bind (EBUSY).
    expect(() => w.core.iommuDeviceClaimDmaOwner(w.dev, {})).toThrowErrno("EPERM");
    expect(() => w.core.iommuDeviceUseDefaultDomain(w.dev)).toThrowErrno("EBUSY");
    // __iommu_release_dma_ownership() WARNs and does nothing while the pasid array is in use.
    w.core.iommuDeviceReleaseDmaOwner(w.dev);
    expect(w.group).toMatchObject({ ownerCnt: 1, owner: w.ictx });
    expect(w.group.domain).toBe(w.a.domain);
    w.core.iommuDetachGroupHandle(w.a.domain, w.group);
    w.core.iommuDeviceReleaseDmaOwner(w.dev);
    expect(w.group).toMatchObject({ ownerCnt: 0, owner: null });
    expect(w.group.domain).toBe(w.group.defaultDomain);
  });

  it("counts a second claim by the same context, and blocks until the last release", () => {
    const w = ownedBoard();
    w.core.iommuDeviceClaimDmaOwner(w.dev, w.ictx);
    expect(w.group.ownerCnt).toBe(2);
    w.core.iommuAttachGroupHandle(w.a.domain, w.group, new IommuAttachHandle());
    w.core.iommuDetachGroupHandle(w.a.domain, w.group);
    w.core.iommuDeviceReleaseDmaOwner(w.dev);
    expect(w.group.domain).toBe(w.group.blockingDomain);
    w.core.iommuDeviceReleaseDmaOwner(w.dev);
    expect(w.group.domain).toBe(w.group.defaultDomain);
  });
});

describe("iommu_attach_handle_get()", () => {
  it("ENOENT without a handle, EBUSY for another domain type, the handle otherwise", () => {
    const w = ownedBoard();
    expect(() => w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, 0)).toThrowErrno("ENOENT");
    const h = new IommuAttachHandle();
    w.core.iommuAttachGroupHandle(w.a.domain, w.group, h);
    expect(() => w.core.iommuAttachHandleGet(w.group, 1, 0)).toThrowErrno("ENOENT");
    expect(() =>
      w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, IOMMU_DOMAIN_NESTED),
    ).toThrowErrno("EBUSY");
    expect(w.core.iommuAttachHandleGet(w.group, IOMMU_NO_PASID, IOMMU_DOMAIN_UNMANAGED)).toBe(h);
  });
});

describe("what iommufd_device_bind() asks of the group", () => {
  const MASTERS = [
    ["platform", "c010000.ethernet", 0],
    ["platform", "c030000.dma-test", 1],
    ["amba", "c000000.dma", 2],
  ] as const;

  it("finds no isolated MSI: no device has an MSI domain, and arm64 does not isolate", () => {
    const w = board();
    for (const [bus, name, id] of MASTERS) {
      const dev = w.find(bus, name);
      const group = w.core.deviceGroup(dev)!;
      expect(group.iommuGroupId()).toBe(id);
      expect(msiDeviceHasIsolatedMsi(dev)).toBe(false);
      expect(w.core.iommuGroupHasIsolatedMsi(group)).toBe(false);
    }
    // No node names an MSI parent, although the GIC has an ITS.
    const withMsiParent: string[] = [];
    walkNodes(w.soc.tree, (node, path) => {
      if (node.properties.some((p) => p.name === "msi-parent")) withMsiParent.push(path);
      return true;
    });
    expect(withMsiParent).toEqual([]);
  });

  it("reserves exactly 7.3's software MSI window for every group", () => {
    const w = board();
    for (const [bus, name] of MASTERS) {
      const dev = w.find(bus, name);
      const sw = {
        start: 0x800_0000,
        length: 0x10_0000,
        prot: IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO,
        type: IOMMU_RESV_SW_MSI,
      };
      expect(w.core.iommuGetResvRegions(dev)).toEqual([sw]);
      expect(w.core.iommuGetGroupResvRegions(w.core.deviceGroup(dev)!)).toEqual([sw]);
    }
    // iommu_dma_get_resv_regions() would add `memory-region`s with `iommu-addresses`.
    const withMemoryRegion: string[] = [];
    walkNodes(w.soc.tree, (node, path) => {
      if (node.properties.some((p) => p.name === "memory-region")) withMemoryRegion.push(path);
      return true;
    });
    expect(withMemoryRegion).toEqual([]);
  });

  it("hands iommufd the group by reference and the driver through dev_iommu_ops()", () => {
    const w = board();
    const before = w.group.refs;
    const g = w.core.iommuGroupGet(w.dev);
    expect(g).toBe(w.group);
    expect(w.group.refs).toBe(before + 1);
    w.core.iommuGroupPut(g);
    expect(w.group.refs).toBe(before);
    expect(w.core.devIommuOps(w.dev)).toBe(w.kernel.smmu.ops);
    expect(w.core.devIommuGetExisting(w.dev)?.maxPasids).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// The SMMU gives every master a group of its own; unwinding a group of two needs an IOMMU that
// groups devices: a minimal mock driver whose attach can be made to fail for one device.

function sharedGroup() {
  const w = iommuWorld({ dts: MOCK_IOMMU_DTS, probeSmmu: false });
  const hw = w.dev("1000000.iommu");
  const iommu = new IommuDevice(hw);
  /** Attaches as "device→domain name", in order. */
  const log: string[] = [];
  const names = new Map<IommuDomain, string>();
  /** Domains the device `b` refuses. */
  const refusedByB = new Set<IommuDomain>();
  const attachDev: IommuDomainOps["attachDev"] = (d, dev) => {
    if (dev.name === "2001000.b" && refusedByB.has(d)) {
      throw new SysError("ENOSPC", "mock_attach_dev", "refused");
    }
    log.push(`${dev.name}→${names.get(d) ?? d.typeName}`);
  };
  const domainOps: IommuDomainOps = { attachDev, mapPages: () => {}, unmapPages: () => 0 };
  const core = w.core;
  const ops: IommuOps = {
    name: "mock",
    identityDomain: new IommuDomain(IOMMU_DOMAIN_IDENTITY, { attachDev }),
    blockedDomain: new IommuDomain(IOMMU_DOMAIN_BLOCKED, { attachDev }),
    defaultDomainOps: domainOps,
    probeDevice: () => iommu,
    deviceGroup: (dev) => core.genericSingleDeviceGroup(dev),
    ofXlate: (dev, args) => core.iommuFwspecAddIds(dev, args),
    domainAllocPaging: () => {
      const d = new IommuDomain(IOMMU_DOMAIN_UNMANAGED, domainOps);
      d.pgsizeBitmap = 0x1000;
      d.geometry.apertureEnd = 2 ** 32 - 1;
      return d;
    },
  };
  core.iommuDeviceRegister(iommu, ops, hw);
  const a = w.dev("2000000.a");
  const b = w.dev("2001000.b");
  const group = core.deviceGroup(a)!;
  const ictx = {};
  core.iommuDeviceClaimDmaOwner(a, ictx);
  core.iommuDeviceClaimDmaOwner(b, ictx);
  const domain = (name: string) => {
    const d = core.iommuPagingDomainAlloc(a);
    names.set(d, name);
    return d;
  };
  log.length = 0;
  return { core, group, log, domain, refusedByB };
}

describe("unwinding a group of two devices", () => {
  it("an attach that one member refuses moves the other back to the blocking domain", () => {
    const s = sharedGroup();
    const bad = s.domain("bad");
    s.refusedByB.add(bad);
    const err = expectErrno(
      () => s.core.iommuAttachGroupHandle(bad, s.group, new IommuAttachHandle()),
      "ENOSPC",
    );
    expect(err.fn).toBe("mock_attach_dev");
    expect(s.log).toEqual(["2000000.a→bad", "2000000.a→blocked"]);
    expect(s.group.domain).toBe(s.group.blockingDomain);
    expect(s.group.pasidArray.size).toBe(0);
  });

  it("a replace that one member refuses moves the other back to the old domain", () => {
    const s = sharedGroup();
    const good = s.domain("good");
    const bad = s.domain("bad");
    s.refusedByB.add(bad);
    const h = new IommuAttachHandle();
    s.core.iommuAttachGroupHandle(good, s.group, h);
    s.log.length = 0;
    expect(() =>
      s.core.iommuReplaceGroupHandle(s.group, bad, new IommuAttachHandle()),
    ).toThrowErrno("ENOSPC");
    expect(s.log).toEqual(["2000000.a→bad", "2000000.a→good"]);
    expect(s.group.domain).toBe(good);
    expect(s.core.iommuAttachHandleGet(s.group, IOMMU_NO_PASID, 0)).toBe(h);
  });

  it("a replace both members accept moves them together, blocking neither", () => {
    const s = sharedGroup();
    const one = s.domain("one");
    const two = s.domain("two");
    s.core.iommuAttachGroupHandle(one, s.group, new IommuAttachHandle());
    s.log.length = 0;
    s.core.iommuReplaceGroupHandle(s.group, two, new IommuAttachHandle());
    expect(s.log).toEqual(["2000000.a→two", "2001000.b→two"]);
    s.core.iommuDetachGroupHandle(two, s.group);
    expect(s.log.slice(2)).toEqual(["2000000.a→blocked", "2001000.b→blocked"]);
  });
});

// Keep the import of the driver's domain class honest: user domains here are stage-1 SMMU ones.
describe("the domains the board hands out", () => {
  it("are arm-smmu-v3 stage-1 domains owned by the driver's ops", () => {
    const w = board();
    const d = w.core.iommuPagingDomainAlloc(w.dev);
    expect(d).toBeInstanceOf(ArmSmmuDomain);
    expect(d.owner).toBe(w.kernel.smmu.ops);
    w.core.iommuMap(d, IOVA_SRC, w.page(), 4096, RW);
    expect(w.core.iommuIovaToPhys(d, IOVA_SRC)).not.toBe(0);
    w.core.iommuDomainFree(d);
  });
});
