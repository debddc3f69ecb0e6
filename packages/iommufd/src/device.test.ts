import { boards, Soc } from "@vfio-lab/hw-soc";
import { IOMMU_HWPT_ALLOC_PASID, Kernel, SysError } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import {
  bindDev,
  DMAT0,
  deviceOf,
  devSetup,
  groupOf,
  hwptAlloc,
  PL061,
  PL330,
  unbindDriver,
  XGMAC,
} from "../test/device-fixture.js";
import { buffer, destroy, ictxOf, ioasAlloc, ioasMap, iovaRanges } from "../test/fixture.js";
import {
  IommufdDevice,
  iommufdCtxHasGroup,
  iommufdDeviceAttach,
  iommufdDeviceBind,
  iommufdDeviceDetach,
  iommufdDeviceReplace,
  iommufdDeviceToIctx,
  iommufdDeviceToId,
  iommufdDeviceUnbind,
  MSI_NOT_ISOLATED_WARNING,
} from "./device.js";
import { IommufdHwptPaging } from "./hw-pagetable.js";
import { isIommufdNoiommuDomain } from "./hwpt-noiommu.js";
import { iommufdModule } from "./main.js";

const NO_PASID = 0;
/** The arm-smmu-v3 software MSI window (MSI_IOVA_BASE, MSI_IOVA_LENGTH). */
const MSI_FIRST = 0x800_0000n;
const MSI_LAST = 0x80f_ffffn;

describe("iommufd_device_bind()", () => {
  it("claims DMA ownership: the group moves to its blocking domain, owned by the context", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const g = groupOf(w, XGMAC);
    expect(g.owner).toBe(w.ictx);
    expect(g.ownerCnt).toBe(1);
    expect(g.domain).toBe(g.blockingDomain);
    expect(idev.type).toBe("DEVICE");
    expect(iommufdDeviceToId(idev)).toBe(idev.id);
    expect(iommufdDeviceToIctx(idev)).toBe(w.ictx);
    // The driver's reference and the table's.
    expect(idev.users).toBe(2);
    expect(iommufdCtxHasGroup(w.ictx, g)).toBe(true);
    expect(iommufdCtxHasGroup(w.ictx, groupOf(w, PL330))).toBe(false);
  });

  it("takes the lowest free object ID", () => {
    const w = devSetup();
    const ioas = ioasAlloc(w);
    expect(bindDev(w, XGMAC).id).toBe(ioas + 1);
  });

  it("is EPERM for a group whose MSIs are not isolated, unless allow_unsafe_interrupts", () => {
    const w = devSetup({ unsafeInterrupts: false });
    unbindDriver(w, XGMAC);
    const before = w.kernel.dmesg().length;
    expect(() => iommufdDeviceBind(w.ictx, deviceOf(w, XGMAC))).toThrowErrno("EPERM");
    expect(w.kernel.dmesg().length).toBe(before);
    expect(w.ictx.objects.isEmpty()).toBe(true);
    expect(groupOf(w, XGMAC).ownerCnt).toBe(0);
    expect(w.ictx.groups.size).toBe(0);

    w.p.writeFile("/sys/module/iommufd/parameters/allow_unsafe_interrupts", "1");
    iommufdDeviceBind(w.ictx, deviceOf(w, XGMAC));
    expect(w.kernel.dmesg().at(-1)).toMatch(
      `platform c010000.ethernet: ${MSI_NOT_ISOLATED_WARNING}`,
    );
  });

  it("is EPERM while a kernel driver does DMA through the group (the DMA API's claim)", () => {
    const w = devSetup();
    expect(() => iommufdDeviceBind(w.ictx, deviceOf(w, DMAT0))).toThrowErrno("EPERM");
    expect(w.ictx.objects.isEmpty()).toBe(true);
    expect(w.ictx.groups.size).toBe(0);
  });

  it("is EPERM while another iommufd owns the group", () => {
    const w = devSetup();
    bindDev(w, XGMAC);
    const fd2 = w.p.open("/dev/iommu");
    expect(() => iommufdDeviceBind(ictxOf(w, fd2), deviceOf(w, XGMAC))).toThrowErrno("EPERM");
  });

  it("is EBUSY while a kernel user has put the group on a domain of its own", () => {
    const w = devSetup();
    unbindDriver(w, XGMAC);
    const dev = deviceOf(w, XGMAC);
    const domain = w.kernel.iommu.iommuPagingDomainAlloc(dev);
    w.kernel.iommu.iommuAttachDevice(domain, dev);
    expect(() => iommufdDeviceBind(w.ictx, dev)).toThrowErrno("EBUSY");
    expect(w.ictx.groups.size).toBe(0);
  });

  it("is EINVAL for a device no cache-coherent IOMMU translates for", () => {
    // Without CONFIG_IOMMUFD_NOIOMMU, a device with no IOMMU fails the coherency check.
    const w = devSetup({ config: { CONFIG_VFIO_NOIOMMU: false } });
    unbindDriver(w, PL061);
    expect(() => iommufdDeviceBind(w.ictx, deviceOf(w, PL061))).toThrowErrno("EINVAL");
  });

  it("is EINVAL behind an SMMU whose table walks are not coherent", () => {
    const dts = boards
      .virtLab({ ramSize: 0x4000_0000 })
      .replace(/(smmu: smmuv3@9050000 \{\n\t\t#iommu-cells = <0x1>;\n)\t\tdma-coherent;\n/, "$1");
    const kernel = Kernel.boot(Soc.fromDeviceTree(dts), {
      cmdline: "iommufd.allow_unsafe_interrupts=1",
    });
    kernel.modprobe(iommufdModule);
    const p = kernel.spawn({ comm: "t" });
    const fd = p.open("/dev/iommu");
    p.writeFile(`/sys/bus/platform/devices/${XGMAC.name}/driver/unbind`, XGMAC.name);
    const dev = kernel.drivers.findDevice("platform", XGMAC.name)!;
    const file = p.fget(fd)!;
    kernel.vfs.fput(file);
    expect(() =>
      iommufdDeviceBind(file.privateData as ReturnType<typeof ictxOf>, dev),
    ).toThrowErrno("EINVAL");
  });

  it("is ENOMEM when the object, the igroup or its slot cannot be allocated", () => {
    for (const site of ["kzalloc", "xa_alloc", "xa_cmpxchg"]) {
      const w = devSetup();
      unbindDriver(w, XGMAC);
      let armed = true;
      w.kernel.allocator.setFailHook((s) => {
        if (!armed || s !== site) return false;
        armed = false;
        return true;
      });
      expect(() => iommufdDeviceBind(w.ictx, deviceOf(w, XGMAC))).toThrowErrno("ENOMEM");
      w.kernel.allocator.setFailHook(undefined);
      expect(w.ictx.objects.isEmpty()).toBe(true);
      expect(w.ictx.groups.size).toBe(0);
      expect(groupOf(w, XGMAC).ownerCnt).toBe(0);
    }
  });

  it("shares one igroup between the DEVICEs of a group bound to one context", () => {
    const w = devSetup();
    const a = bindDev(w, DMAT0);
    const b = iommufdDeviceBind(w.ictx, deviceOf(w, DMAT0));
    expect(a.igroup).toBe(b.igroup);
    expect(a.igroup!.refs).toBe(2);
    expect(groupOf(w, DMAT0).ownerCnt).toBe(2);
    iommufdDeviceUnbind(a);
    expect(groupOf(w, DMAT0).owner).toBe(w.ictx);
    iommufdDeviceUnbind(b);
    const g = groupOf(w, DMAT0);
    expect(g.owner).toBeNull();
    expect(g.domain).toBe(g.defaultDomain);
    expect(w.ictx.groups.size).toBe(0);
  });

  it("holds the iommufd file until unbind", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    w.p.close(w.fd);
    expect(w.ictx.objects.peek(idev.id)).toBe(idev);
    iommufdDeviceUnbind(idev);
    expect(w.ictx.objects.isEmpty()).toBe(true);
    expect(groupOf(w, XGMAC).owner).toBeNull();
  });
});

describe("the no-IOMMU bind (CONFIG_IOMMUFD_NOIOMMU)", () => {
  it("binds a device without an IOMMU: no group, no ownership, no MSI check", () => {
    const w = devSetup({ unsafeInterrupts: false });
    const idev = bindDev(w, PL061);
    expect(idev.igroup!.group).toBeNull();
    expect(w.ictx.groups.size).toBe(0);
    expect(w.kernel.dmesg().some((l) => l.includes("MSI interrupts"))).toBe(false);
    iommufdDeviceUnbind(idev);
    expect(w.ictx.objects.isEmpty()).toBe(true);
  });

  it("attaching to an IOAS makes a HWPT_PAGING over the software table, which pins", () => {
    const w = devSetup();
    const idev = bindDev(w, PL061);
    const ioas = ioasAlloc(w);
    const va = buffer(w, 4 * 4096);
    ioasMap(w, ioas, va, 4 * 4096);
    expect(w.p.mm.pinnedVm).toBe(0);
    const pt = iommufdDeviceAttach(idev, NO_PASID, ioas);
    const hwpt = w.ictx.objects.peek(pt);
    expect(hwpt).toBeInstanceOf(IommufdHwptPaging);
    expect(isIommufdNoiommuDomain((hwpt as IommufdHwptPaging).domain!)).toBe(true);
    expect(w.p.mm.pinnedVm).toBe(4);
    // No reserved regions: the whole 64-bit space stays usable.
    expect(iovaRanges(w, ioas).ranges).toEqual([[0n, (1n << 64n) - 1n]]);
    iommufdDeviceDetach(idev, NO_PASID);
    expect(w.ictx.objects.peek(pt)).toBeUndefined();
    expect(w.p.mm.pinnedVm).toBe(0);
    iommufdDeviceUnbind(idev);
  });
});

describe("iommufd_device_attach()", () => {
  it("makes an automatic HWPT for an IOAS, held by the device, holding the IOAS", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const ioas = ioasAlloc(w);
    const pt = iommufdDeviceAttach(idev, NO_PASID, ioas);
    const hwpt = w.ictx.objects.peek(pt) as IommufdHwptPaging;
    expect(hwpt.autoDomain).toBe(true);
    expect(hwpt.users).toBe(2);
    expect(idev.users).toBe(3);
    expect(groupOf(w, XGMAC).domain).toBe(hwpt.domain);
    expect(() => destroy(w, ioas)).toThrowErrno("EBUSY");
    expect(() => destroy(w, pt)).toThrowErrno("EBUSY");
  });

  it("reserves the SMMU's software MSI window in the IOAS while attached", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const ioas = ioasAlloc(w);
    iommufdDeviceAttach(idev, NO_PASID, ioas);
    const { ranges } = iovaRanges(w, ioas);
    expect(ranges).toContainEqual([0n, MSI_FIRST - 1n]);
    expect(ranges).toContainEqual([MSI_LAST + 1n, (1n << 48n) - 1n]);
    expect(idev.igroup!.swMsiStart).toBe(Number(MSI_FIRST));
    iommufdDeviceDetach(idev, NO_PASID);
    expect(iovaRanges(w, ioas).ranges).toEqual([[0n, (1n << 64n) - 1n]]);
  });

  it("is EADDRINUSE when the MSI window is mapped, and leaves nothing behind", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const ioas = ioasAlloc(w);
    ioasMap(w, ioas, buffer(w, 4096), 4096, MSI_FIRST);
    expect(() => iommufdDeviceAttach(idev, NO_PASID, ioas)).toThrowErrno("EADDRINUSE");
    expect(idev.users).toBe(2);
    expect(w.ictx.objects.objects().map((o) => o.type)).toEqual(["DEVICE", "IOAS"]);
    const g = groupOf(w, XGMAC);
    expect(g.domain).toBe(g.blockingDomain);
  });

  it("is ENOENT for an ID that names nothing, EINVAL for one that is neither IOAS nor HWPT", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    expect(() => iommufdDeviceAttach(idev, NO_PASID, 99)).toThrowErrno("ENOENT");
    expect(() => iommufdDeviceAttach(idev, NO_PASID, idev.id)).toThrowErrno("EINVAL");
    expect(idev.users).toBe(2);
  });

  it("is EBUSY for a device already attached (replace is for that)", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const ioas = ioasAlloc(w);
    const pt = iommufdDeviceAttach(idev, NO_PASID, ioas);
    expect(() => iommufdDeviceAttach(idev, NO_PASID, pt)).toThrowErrno("EBUSY");
    expect((w.ictx.objects.peek(pt) as IommufdHwptPaging).users).toBe(2);
  });

  it("reuses the IOAS's automatic HWPT for a device of another group", () => {
    const w = devSetup();
    const a = bindDev(w, XGMAC);
    const b = bindDev(w, PL330);
    const ioas = ioasAlloc(w);
    const pa = iommufdDeviceAttach(a, NO_PASID, ioas);
    const pb = iommufdDeviceAttach(b, NO_PASID, ioas);
    expect(pb).toBe(pa);
    expect(groupOf(w, PL330).domain).toBe(groupOf(w, XGMAC).domain);
    iommufdDeviceDetach(a, NO_PASID);
    expect(w.ictx.objects.peek(pa)).toBeDefined();
    iommufdDeviceDetach(b, NO_PASID);
    // The last device took the automatic HWPT with it; its ID is free again.
    expect(w.ictx.objects.peek(pa)).toBeUndefined();
    expect(() => destroy(w, pa)).toThrowErrno("ENOENT");
  });

  it("never picks a manually allocated HWPT for an IOAS attach", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const ioas = ioasAlloc(w);
    const manual = hwptAlloc(w, idev.id, ioas);
    const pt = iommufdDeviceAttach(idev, NO_PASID, ioas);
    expect(pt).not.toBe(manual);
  });

  it("makes every device of a group use one HWPT (EINVAL for another)", () => {
    const w = devSetup();
    const a = bindDev(w, DMAT0);
    const b = iommufdDeviceBind(w.ictx, deviceOf(w, DMAT0));
    const ioas = ioasAlloc(w);
    const h1 = hwptAlloc(w, a.id, ioas);
    const h2 = hwptAlloc(w, a.id, ioas);
    expect(iommufdDeviceAttach(a, NO_PASID, h1)).toBe(h1);
    expect(() => iommufdDeviceAttach(b, NO_PASID, h2)).toThrowErrno("EINVAL");
    expect(iommufdDeviceAttach(b, NO_PASID, h1)).toBe(h1);
    const hwpt = w.ictx.objects.peek(h1) as IommufdHwptPaging;
    expect(hwpt.users).toBe(3);
    // The group leaves the HWPT only with its last device.
    iommufdDeviceDetach(a, NO_PASID);
    expect(groupOf(w, DMAT0).domain).toBe(hwpt.domain);
    iommufdDeviceDetach(b, NO_PASID);
    const g = groupOf(w, DMAT0);
    expect(g.domain).toBe(g.blockingDomain);
    expect(hwpt.users).toBe(1);
  });

  it("refuses an IOAS for a PASID (EINVAL): automatic HWPTs are not PASID-capable", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const ioas = ioasAlloc(w);
    expect(() => iommufdDeviceAttach(idev, 1, ioas)).toThrowErrno("EINVAL");
    expect(w.ictx.objects.objects().map((o) => o.type)).toEqual(["DEVICE", "IOAS"]);
  });

  it("attaches a PASID to a PASID-capable HWPT, as 7.3 does for a master without PASIDs", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const ioas = ioasAlloc(w);
    const plain = hwptAlloc(w, idev.id, ioas);
    const pasid = hwptAlloc(w, idev.id, ioas, { flags: IOMMU_HWPT_ALLOC_PASID });
    expect(() => iommufdDeviceAttach(idev, 1, plain)).toThrowErrno("EINVAL");
    expect(iommufdDeviceAttach(idev, 1, pasid)).toBe(pasid);
    expect(groupOf(w, XGMAC).pasidArray.has(1)).toBe(true);
    expect(() => iommufdDeviceAttach(idev, 1, pasid)).toThrowErrno("EBUSY");
    // The RID now needs a PASID-capable HWPT too.
    expect(() => iommufdDeviceAttach(idev, NO_PASID, plain)).toThrowErrno("EINVAL");
    expect(iommufdDeviceAttach(idev, NO_PASID, pasid)).toBe(pasid);
    iommufdDeviceDetach(idev, 1);
    iommufdDeviceDetach(idev, NO_PASID);
    expect(groupOf(w, XGMAC).pasidArray.size).toBe(0);
    iommufdDeviceUnbind(idev);
    expect(groupOf(w, XGMAC).owner).toBeNull();
  });
});

describe("iommufd_device_replace()", () => {
  it("is EINVAL for a device that is not attached", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    expect(() => iommufdDeviceReplace(idev, NO_PASID, ioasAlloc(w))).toThrowErrno("EINVAL");
  });

  it("moves to another IOAS without a stop at the blocking domain; the old HWPT dies", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const ioas1 = ioasAlloc(w);
    const ioas2 = ioasAlloc(w);
    const pt1 = iommufdDeviceAttach(idev, NO_PASID, ioas1);
    const attaches: string[] = [];
    w.kernel.trace.subscribe((e) => {
      if (e.type === "iommu:attach") attaches.push(String(e.domainType));
    });
    const pt2 = iommufdDeviceReplace(idev, NO_PASID, ioas2);
    expect(pt2).not.toBe(pt1);
    expect(attaches).toEqual(["unmanaged"]);
    expect(w.ictx.objects.peek(pt1)).toBeUndefined();
    // The reserved regions moved with the device.
    expect(iovaRanges(w, ioas1).ranges).toEqual([[0n, (1n << 64n) - 1n]]);
    expect(iovaRanges(w, ioas2).ranges).toContainEqual([0n, MSI_FIRST - 1n]);
    expect(idev.users).toBe(3);
  });

  it("to the HWPT in use changes nothing", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    const pt = iommufdDeviceAttach(idev, NO_PASID, ioasAlloc(w));
    expect(iommufdDeviceReplace(idev, NO_PASID, pt)).toBe(pt);
    expect((w.ictx.objects.peek(pt) as IommufdHwptPaging).users).toBe(2);
  });

  it("moves every device reference of the group to the new HWPT", () => {
    const w = devSetup();
    const a = bindDev(w, DMAT0);
    const b = iommufdDeviceBind(w.ictx, deviceOf(w, DMAT0));
    const ioas = ioasAlloc(w);
    const h1 = hwptAlloc(w, a.id, ioas);
    const h2 = hwptAlloc(w, a.id, ioas);
    iommufdDeviceAttach(a, NO_PASID, h1);
    iommufdDeviceAttach(b, NO_PASID, h1);
    iommufdDeviceReplace(a, NO_PASID, h2);
    expect((w.ictx.objects.peek(h1) as IommufdHwptPaging).users).toBe(1);
    expect((w.ictx.objects.peek(h2) as IommufdHwptPaging).users).toBe(3);
    destroy(w, h1);
    iommufdDeviceDetach(b, NO_PASID);
    iommufdDeviceDetach(a, NO_PASID);
    destroy(w, h2);
  });
});

describe("iommufd_device_detach()", () => {
  it("does nothing for a device that is not attached", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    iommufdDeviceDetach(idev, NO_PASID);
    expect(idev.users).toBe(2);
  });

  it("leaves the group blocked; unbind returns it to its default domain", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    iommufdDeviceAttach(idev, NO_PASID, ioasAlloc(w));
    iommufdDeviceDetach(idev, NO_PASID);
    const g = groupOf(w, XGMAC);
    expect(g.domain).toBe(g.blockingDomain);
    iommufdDeviceUnbind(idev);
    expect(g.domain).toBe(g.defaultDomain);
    expect(w.ictx.objects.peek(idev.id)).toBeUndefined();
  });
});

describe("the DEVICE object", () => {
  it("cannot be destroyed by user space while bound (EBUSY)", () => {
    const w = devSetup();
    const idev = bindDev(w, XGMAC);
    expect(() => destroy(w, idev.id)).toThrowErrno("EBUSY");
    expect(w.ictx.objects.peek(idev.id)).toBeInstanceOf(IommufdDevice);
  });

  it("fails with SysError only, whatever allocation fails during attach", () => {
    let completed = false;
    for (let n = 1; n < 80 && !completed; n++) {
      const w = devSetup();
      const idev = bindDev(w, XGMAC);
      const ioas = ioasAlloc(w);
      ioasMap(w, ioas, buffer(w, 8 * 4096), 8 * 4096);
      let calls = 0;
      w.kernel.allocator.setFailHook(() => ++calls === n);
      let failed: unknown = null;
      try {
        iommufdDeviceAttach(idev, NO_PASID, ioas);
      } catch (e) {
        failed = e;
      }
      w.kernel.allocator.setFailHook(undefined);
      if (failed) {
        expect(SysError.isInstance(failed)).toBe(true);
        expect(idev.users).toBe(2);
        expect(w.ictx.objects.objects().map((o) => o.type)).toEqual(["DEVICE", "IOAS"]);
        expect(w.p.mm.pinnedVm).toBe(0);
        const g = groupOf(w, XGMAC);
        expect(g.domain).toBe(g.blockingDomain);
        expect(iovaRanges(w, ioas).ranges).toEqual([[0n, (1n << 64n) - 1n]]);
      } else {
        iommufdDeviceDetach(idev, NO_PASID);
        // A run that never reached its n-th site is the last one.
        completed = calls < n;
      }
    }
    expect(completed).toBe(true);
  }, 120_000);
});
