/**
 * VFIO's iommufd glue: the dev_id lookups PCI hot reset uses, the compat-IOAS helpers of the
 * group path, the WARN paths of the physical operations, and the emulated operations driven
 * end to end through a cdev (an emulated-IOMMU device whose "DMA" is the driver pinning pages).
 */

import { IommuFd, iommufdVfioCompatIoasCreate } from "@vfio-lab/iommufd";
import {
  errno,
  IOMMU_READ,
  IOMMU_WRITE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "@vfio-lab/kernel";
import { describe, expect, test } from "vitest";
import {
  attachPt,
  bindIommufd,
  DMAT0,
  DMAT1,
  detachPt,
  dmesg,
  type IommufdWorld,
  ictxOf,
  iommufdSetup,
  vdevOf,
} from "../test/core-fixture.js";
import {
  vfioIommufdCompatAttachIoas,
  vfioIommufdDeviceHasCompatIoas,
  vfioIommufdDeviceIctx,
  vfioIommufdEmulatedAttachIoas,
  vfioIommufdEmulatedBind,
  vfioIommufdEmulatedDetachIoas,
  vfioIommufdEmulatedUnbind,
  vfioIommufdGetDevId,
  vfioIommufdPhysicalAttachIoas,
  vfioIommufdPhysicalDetachIoas,
  vfioIommufdPhysicalPasidAttachIoas,
  vfioIommufdPhysicalPasidDetachIoas,
} from "./iommufd.js";
import { VfioCoreDevice, type VfioDeviceOps } from "./vfio.js";
import {
  vfioInitDevice,
  vfioPinPages,
  vfioPutDevice,
  vfioRegisterEmulatedIommuDev,
  vfioUnpinPages,
  vfioUnregisterGroupDev,
} from "./vfio-main.js";

const PAGE = 4096;

/** open() and VFIO_DEVICE_BIND_IOMMUFD to the world's iommufd. */
function openBound(w: IommufdWorld, path: string): { fd: number; devid: number } {
  const fd = w.p.open(path);
  return { fd, devid: bindIommufd(w, fd) };
}

/** The WARNING lines iommufd.c printed. */
function warnings(w: IommufdWorld): string[] {
  return dmesg(w).filter((l) => l.startsWith("WARNING: drivers/vfio/iommufd.c:"));
}

describe("vfio_iommufd_get_dev_id()", () => {
  test("a device bound to the context answers its DEVICE id", () => {
    const w = iommufdSetup();
    const { devid } = openBound(w, "/dev/vfio/devices/vfio0");
    const vdev = vdevOf(w, DMAT0);
    expect(vfioIommufdGetDevId(vdev, ictxOf(w, w.iommufd.fd))).toBe(devid);
    expect(vfioIommufdDeviceIctx(vdev)).toBe(ictxOf(w, w.iommufd.fd));
  });

  test("-ENOENT when the context owns the device's group through another device", () => {
    const w = iommufdSetup();
    openBound(w, "/dev/vfio/devices/vfio0");
    // An unbound vfio_device of the same physical device stands in for a group sibling.
    const sibling = new VfioCoreDevice(w.kernel, vdevOf(w, DMAT0).dev, { name: "sibling" });
    expect(vfioIommufdDeviceIctx(sibling)).toBeNull();
    expect(vfioIommufdGetDevId(sibling, ictxOf(w, w.iommufd.fd))).toBe(-errno("ENOENT"));
  });

  test("-ENODEV for a device the context does not own, or one without an IOMMU group", () => {
    const w = iommufdSetup();
    openBound(w, "/dev/vfio/devices/vfio0");
    const other = IommuFd.open(w.p);
    expect(vfioIommufdGetDevId(vdevOf(w, DMAT0), ictxOf(w, other.fd))).toBe(-errno("ENODEV"));
    const dev = w.kernel.drivers.findDevice("platform", DMAT1.name)!;
    const noGroup = new VfioCoreDevice(w.kernel, dev, { name: "nogroup" });
    expect(vfioIommufdGetDevId(noGroup, ictxOf(w, w.iommufd.fd))).toBe(-errno("ENODEV"));
  });
});

describe("the compat IOAS helpers of the group path", () => {
  test("has_compat_ioas is false until the context has a compat IOAS", () => {
    const w = iommufdSetup();
    const ictx = ictxOf(w, w.iommufd.fd);
    const vdev = vdevOf(w, DMAT0);
    expect(vfioIommufdDeviceHasCompatIoas(vdev, ictx)).toBe(false);
    iommufdVfioCompatIoasCreate(ictx);
    expect(vfioIommufdDeviceHasCompatIoas(vdev, ictx)).toBe(true);
  });

  test("compat_attach_ioas is ENODEV without a compat IOAS, and attaches with one", () => {
    const w = iommufdSetup();
    const { fd } = openBound(w, "/dev/vfio/devices/vfio0");
    const ictx = ictxOf(w, w.iommufd.fd);
    const vdev = vdevOf(w, DMAT0);
    expect(() => vfioIommufdCompatAttachIoas(vdev, ictx)).toThrowErrno("ENODEV");
    expect(vdev.iommufdAttached).toBe(false);
    iommufdVfioCompatIoasCreate(ictx);
    vfioIommufdCompatAttachIoas(vdev, ictx);
    expect(vdev.iommufdAttached).toBe(true);
    detachPt(w, fd);
  });
});

describe("the physical operations refuse an unbound device with a WARN", () => {
  test("attach_ioas and pasid_attach_ioas: WARN and EINVAL", () => {
    const w = iommufdSetup({ driver: { pasid: true } });
    const vdev = vdevOf(w, DMAT0);
    expect(() => vfioIommufdPhysicalAttachIoas(vdev, 1)).toThrowErrno("EINVAL");
    expect(() => vfioIommufdPhysicalPasidAttachIoas(vdev, 1, 1)).toThrowErrno("EINVAL");
    expect(warnings(w)).toEqual([
      expect.stringContaining("drivers/vfio/iommufd.c:161 at vfio_iommufd_physical_attach_ioas"),
      expect.stringContaining(
        "drivers/vfio/iommufd.c:196 at vfio_iommufd_physical_pasid_attach_ioas",
      ),
    ]);
  });

  test("detach_ioas and pasid_detach_ioas: WARN and nothing else", () => {
    const w = iommufdSetup({ driver: { pasid: true } });
    const vdev = vdevOf(w, DMAT0);
    vfioIommufdPhysicalDetachIoas(vdev);
    vfioIommufdPhysicalPasidDetachIoas(vdev, 1);
    expect(warnings(w)).toHaveLength(2);
  });

  test("a bound device warns about nothing", () => {
    const w = iommufdSetup({ driver: { pasid: true } });
    const { fd } = openBound(w, "/dev/vfio/devices/vfio0");
    detachPt(w, fd);
    const vdev = vdevOf(w, DMAT0);
    vfioIommufdPhysicalPasidDetachIoas(vdev, 5);
    expect(warnings(w)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// An emulated-IOMMU device: its driver pins what it needs and unpins when told to.

class EmulatedDevice extends VfioCoreDevice {
  /** Every dma_unmap call, as [iova, length]. */
  readonly unmaps: [bigint, bigint][] = [];
  /** What the driver has pinned: IOVA of each page. */
  readonly pinned = new Set<bigint>();
}

const emulatedOps: VfioDeviceOps<EmulatedDevice> = {
  name: "vfio-emulated-test",
  bindIommufd: vfioIommufdEmulatedBind,
  unbindIommufd: vfioIommufdEmulatedUnbind,
  attachIoas: vfioIommufdEmulatedAttachIoas,
  detachIoas: vfioIommufdEmulatedDetachIoas,
  dmaUnmap(vdev, iova, length) {
    vdev.unmaps.push([iova, length]);
    for (const page of [...vdev.pinned]) {
      if (page >= iova && page - iova < length) {
        vfioUnpinPages(vdev, page, 1);
        vdev.pinned.delete(page);
      }
    }
  },
};

/** Registers an emulated device on the IOMMU-less engine: /dev/vfio/devices/vfio1. */
function emulated(w: IommufdWorld): EmulatedDevice {
  const dev = w.kernel.drivers.findDevice("platform", DMAT1.name)!;
  const vdev = vfioInitDevice(new EmulatedDevice(w.kernel, dev, emulatedOps));
  vfioRegisterEmulatedIommuDev(vdev);
  return vdev;
}

const ULONG_MAX = 0xffff_ffff_ffff_ffffn;

describe("the emulated operations", () => {
  test("bind makes an iommufd access whose id is the dev_id; close destroys it", () => {
    const w = iommufdSetup();
    const vdev = emulated(w);
    expect(vdev.name).toBe("vfio1");
    const { fd, devid } = openBound(w, "/dev/vfio/devices/vfio1");
    const ictx = ictxOf(w, w.iommufd.fd);
    expect(vdev.iommufdAccess!.id).toBe(devid);
    expect(ictx.objects.peek(devid)?.type).toBe("ACCESS");
    expect(() => w.iommufd.destroy(devid)).toThrowErrno("EBUSY");
    w.p.close(fd);
    expect(vdev.iommufdAccess).toBeNull();
    expect(() => w.iommufd.destroy(devid)).toThrowErrno("ENOENT");
  });

  test("attach reports the IOAS itself; a non-IOAS pt_id is ENOENT", () => {
    const w = iommufdSetup();
    const vdev = emulated(w);
    const { fd, devid } = openBound(w, "/dev/vfio/devices/vfio1");
    expect(() => attachPt(w, fd, devid)).toThrowErrno("ENOENT");
    expect(vdev.iommufdAttached).toBe(false);
    const ioas = w.iommufd.ioasAlloc();
    expect(attachPt(w, fd, ioas)).toBe(ioas);
    expect(vdev.iommufdAttached).toBe(true);
    // The access holds the IOAS.
    expect(() => w.iommufd.destroy(ioas)).toThrowErrno("EBUSY");
    detachPt(w, fd);
    expect(vdev.iommufdAttached).toBe(false);
    w.iommufd.destroy(ioas);
  });

  test("an unmap of pinned IOVA reaches dma_unmap, which unpins, and the unmap completes", () => {
    const w = iommufdSetup();
    const vdev = emulated(w);
    const { fd } = openBound(w, "/dev/vfio/devices/vfio1");
    const ioas = w.iommufd.ioasAlloc();
    attachPt(w, fd, ioas);
    const buf = w.p.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    w.p.poke(buf, new TextEncoder().encode("pinned"));
    const iova = w.iommufd.map(ioas, buf, 2 * PAGE, { iova: 0x10_0000n });
    const [pfn] = vfioPinPages(vdev, iova, 1, IOMMU_READ | IOMMU_WRITE);
    vdev.pinned.add(iova);
    const bytes = new Uint8Array(6);
    w.soc.memory.read(pfn! * PAGE, bytes);
    expect(new TextDecoder().decode(bytes)).toBe("pinned");
    expect(w.iommufd.unmap(ioas, iova, 2 * PAGE)).toBe(BigInt(2 * PAGE));
    expect(vdev.unmaps).toEqual([[iova, BigInt(2 * PAGE)]]);
    expect(vdev.pinned.size).toBe(0);
    w.p.close(fd);
  });

  test("attaching again replaces: the driver is told the whole old IOAS is gone", () => {
    const w = iommufdSetup();
    const vdev = emulated(w);
    const { fd } = openBound(w, "/dev/vfio/devices/vfio1");
    const ioas1 = w.iommufd.ioasAlloc();
    const ioas2 = w.iommufd.ioasAlloc();
    attachPt(w, fd, ioas1);
    expect(attachPt(w, fd, ioas2)).toBe(ioas2);
    expect(vdev.unmaps).toEqual([[0n, ULONG_MAX]]);
    w.iommufd.destroy(ioas1);
    expect(() => w.iommufd.destroy(ioas2)).toThrowErrno("EBUSY");
    // Close detaches (unmap once more) and destroys the access.
    w.p.close(fd);
    expect(vdev.unmaps).toEqual([
      [0n, ULONG_MAX],
      [0n, ULONG_MAX],
    ]);
    w.iommufd.destroy(ioas2);
  });

  test("detach of an unbound emulated device WARNs; unbind of one does nothing", () => {
    const w = iommufdSetup();
    const vdev = emulated(w);
    vfioIommufdEmulatedUnbind(vdev);
    vfioIommufdEmulatedDetachIoas(vdev);
    expect(warnings(w)).toEqual([
      expect.stringContaining("drivers/vfio/iommufd.c:300 at vfio_iommufd_emulated_detach_ioas"),
    ]);
    vfioUnregisterGroupDev(vdev);
    vfioPutDevice(vdev);
  });
});
