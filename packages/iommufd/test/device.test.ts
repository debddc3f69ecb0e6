/**
 * Scenario tests for devices, HWPTs and hardware info, after the device cases of
 * tools/testing/selftests/iommu/iommufd.c (FIXTURE iommufd_ioas, iommufd_mock_domain), with the
 * board's devices in place of the selftest's mock device and mock IOMMU: the XGMAC, the PL330
 * and the DMA test engine behind the SMMU (4 KiB granule, 48-bit aperture), the PL061 behind
 * none. A device is bound the way VFIO will bind it: its kernel driver is unbound through sysfs
 * and iommufd_device_bind() is called with the test's iommufd context.
 */

import { DMA_TEST_STATUS } from "@vfio-lab/hw-soc";
import { IOMMU_HWPT_ALLOC_PASID, type Process } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import {
  type IommufdDevice,
  iommufdDeviceAttach,
  iommufdDeviceBind,
  iommufdDeviceDetach,
  iommufdDeviceReplace,
  iommufdDeviceUnbind,
  MSI_NOT_ISOLATED_WARNING,
} from "../src/device.js";
import type { IommufdHwptPaging } from "../src/hw-pagetable.js";
import { IommuFd } from "../src/iommu-fd.js";
import { iommufdOf } from "../src/main.js";
import { sweepFailNth } from "../src/testing/fail-nth.js";
import {
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HWPT_FAULT_ID_VALID,
  iommu_hw_info_arm_smmuv3,
} from "../src/uapi.js";
import {
  bindDev,
  type DevWorld,
  DMAT0,
  deviceOf,
  devSetup,
  dmaTestCopy,
  faultAlloc,
  groupOf,
  hwInfo,
  hwptAlloc,
  PL061,
  PL330,
  unbindDriver,
  XGMAC,
} from "./device-fixture.js";
import {
  buffer,
  destroy,
  ioasAlloc,
  ioasMap,
  ioasUnmap,
  iovaRanges,
  PAGE_SIZE,
} from "./fixture.js";

const NO_PASID = 0;
const BUFFER_SIZE = 16 * PAGE_SIZE;
/** The SMMU's ID registers, as hw_info() reads them. */
const SMMU_BASE = 0x0905_0000;

/** FIXTURE_SETUP(iommufd_ioas), mock_domain variant: an IOAS with a device attached. */
function ioasWithDevice(d = XGMAC): DevWorld & { ioas: number; idev: IommufdDevice; hwpt: number } {
  const w = devSetup();
  const ioas = ioasAlloc(w);
  const idev = bindDev(w, d);
  const hwpt = iommufdDeviceAttach(idev, NO_PASID, ioas);
  return { ...w, ioas, idev, hwpt };
}

/** The SMMU domain of an attached HWPT. */
function domainOf(w: DevWorld, hwptId: number) {
  return (w.ictx.objects.peek(hwptId) as IommufdHwptPaging).domain!;
}

describe("iommufd_ioas with a device", () => {
  it("ioas_destroy: an IOAS with a device attached through a HWPT is EBUSY", () => {
    const w = ioasWithDevice();
    expect(() => destroy(w, w.ioas)).toThrowErrno("EBUSY");
    iommufdDeviceDetach(w.idev, NO_PASID);
    destroy(w, w.ioas);
  });

  it("ioas_area_destroy: mappings do not change that", () => {
    const w = ioasWithDevice();
    ioasMap(w, w.ioas, buffer(w, PAGE_SIZE), PAGE_SIZE, 0x10_0000n);
    expect(() => destroy(w, w.ioas)).toThrowErrno("EBUSY");
  });

  it("hwpt_attach: a second device attaches directly to the HWPT of the first", () => {
    const w = ioasWithDevice();
    const other = bindDev(w, PL330);
    expect(iommufdDeviceAttach(other, NO_PASID, w.hwpt)).toBe(w.hwpt);
    expect(groupOf(w, PL330).domain).toBe(domainOf(w, w.hwpt));
  });

  it("hwpt_attach: ENOENT once the HWPT is gone", () => {
    const w = ioasWithDevice();
    const other = bindDev(w, PL330);
    // The automatic HWPT goes with its last device, and its ID with it.
    iommufdDeviceDetach(w.idev, NO_PASID);
    expect(() => iommufdDeviceAttach(other, NO_PASID, w.hwpt)).toThrowErrno("ENOENT");
  });

  it("iova_ranges: the SMMU's aperture and 4 KiB alignment, less the MSI window", () => {
    const w = ioasWithDevice();
    const r = iovaRanges(w, w.ioas);
    expect(r.ranges).toEqual([
      [0n, 0x7ff_ffffn],
      [0x810_0000n, (1n << 48n) - 1n],
    ]);
    expect(r.out.out_iova_alignment).toBe(BigInt(PAGE_SIZE));
  });
});

describe("get_hw_info", () => {
  /** The SMMU's ID registers (IDR0..5, IIDR, AIDR) as the bus reads them. */
  function smmuIdRegs(w: DevWorld) {
    const rd = (off: number) => w.soc.bus.read(SMMU_BASE + off, 4);
    return { idr: [0, 4, 8, 12, 16, 20].map(rd), iidr: rd(0x18), aidr: rd(0x1c) };
  }

  it("reports the SMMU's ID registers, exactly sized", () => {
    const w = ioasWithDevice();
    const size = iommu_hw_info_arm_smmuv3.size;
    const { out, bytes } = hwInfo(w, w.idev.id, { dataLen: size });
    expect(out.out_data_type).toBe(IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
    expect(out.data_len).toBe(40);
    const info = iommu_hw_info_arm_smmuv3.decode(bytes.subarray(0, size));
    expect(info).toMatchObject({ flags: 0, ...smmuIdRegs(w) });
    // No HTTU (no dirty tracking), a platform device (no ATS), no PASIDs.
    expect(out.out_capabilities).toBe(BigInt(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED));
    expect(out.out_max_pasid_log2).toBe(0);
    expect([...bytes.subarray(size)]).toEqual(Array(8).fill(0xaa));
  });

  it("with a zero-size buffer writes nothing and says how much there is", () => {
    const w = ioasWithDevice();
    const { out, bytes } = hwInfo(w, w.idev.id, { dataLen: 0 });
    expect(out.data_len).toBe(40);
    expect([...bytes]).toEqual(Array(8).fill(0xaa));
  });

  it("zero-fills a larger buffer past the payload", () => {
    const w = ioasWithDevice();
    const { out, bytes } = hwInfo(w, w.idev.id, { dataLen: 48 });
    expect(out.data_len).toBe(40);
    expect([...bytes.subarray(40, 48)]).toEqual(Array(8).fill(0));
    expect([...bytes.subarray(48)]).toEqual(Array(8).fill(0xaa));
  });

  it("fills a smaller buffer with the payload's start only", () => {
    const w = ioasWithDevice();
    const { out, bytes } = hwInfo(w, w.idev.id, { dataLen: 8 });
    expect(out.data_len).toBe(40);
    expect([...bytes.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    expect([...bytes.subarray(8)]).toEqual(Array(8).fill(0xaa));
  });

  it("takes a requested type with IOMMU_HW_INFO_FLAG_INPUT_TYPE: its own, not another", () => {
    const w = ioasWithDevice();
    const flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
    expect(
      hwInfo(w, w.idev.id, { dataLen: 40, flags, type: IOMMU_HW_INFO_TYPE_ARM_SMMUV3 }).out
        .out_data_type,
    ).toBe(IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
    expect(() =>
      hwInfo(w, w.idev.id, { dataLen: 40, flags, type: IOMMU_HW_INFO_TYPE_INTEL_VTD }),
    ).toThrowErrno("EOPNOTSUPP");
    // Without the flag the field is an output only: whatever it held is ignored.
    expect(
      hwInfo(w, w.idev.id, { dataLen: 40, type: IOMMU_HW_INFO_TYPE_INTEL_VTD }).out.out_data_type,
    ).toBe(IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
  });

  it("is EOPNOTSUPP for an unknown flag or non-zero reserved bytes", () => {
    const w = ioasWithDevice();
    expect(() => hwInfo(w, w.idev.id, { dataLen: 40, flags: 2 })).toThrowErrno("EOPNOTSUPP");
    expect(() => hwInfo(w, w.idev.id, { dataLen: 40, reserved: [0, 1, 0] })).toThrowErrno(
      "EOPNOTSUPP",
    );
  });

  it("is ENOENT without a device", () => {
    const w = devSetup();
    const ioas = ioasAlloc(w);
    expect(() => hwInfo(w, 0, { dataLen: 40 })).toThrowErrno("ENOENT");
    expect(() => hwInfo(w, ioas, { dataLen: 48 })).toThrowErrno("ENOENT");
  });

  it("is EFAULT for a buffer the process cannot write", () => {
    const w = ioasWithDevice();
    expect(() => hwInfo(w, w.idev.id, { dataLen: 40, uptr: 0x10 })).toThrowErrno("EFAULT");
  });

  it("is EOPNOTSUPP for a device without an IOMMU", () => {
    const w = devSetup();
    const idev = bindDev(w, PL061);
    expect(() => hwInfo(w, idev.id, { dataLen: 40 })).toThrowErrno("EOPNOTSUPP");
  });

  it("reads the same through the typed wrapper", () => {
    const w = ioasWithDevice();
    const info = IommuFd.fromFd(w.p, w.fd).getHwInfo(w.idev.id, 40);
    expect(info).toMatchObject({ outDataType: IOMMU_HW_INFO_TYPE_ARM_SMMUV3, dataLen: 40 });
  });
});

describe("iommufd_mock_domain with the SMMU", () => {
  it("basic: a DMA through the SMMU lands in the mapped page, and faults once unmapped", () => {
    const w = ioasWithDevice(DMAT0);
    const src = buffer(w, PAGE_SIZE);
    const dst = buffer(w, PAGE_SIZE);
    const pattern = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
    w.p.poke(src + 0x100, pattern);
    w.p.poke(dst, new Uint8Array(PAGE_SIZE));
    const srcIova = ioasMap(w, w.ioas, src, PAGE_SIZE);
    const dstIova = ioasMap(w, w.ioas, dst, PAGE_SIZE);
    const status = dmaTestCopy(w, DMAT0, dstIova + 0x80n, srcIova + 0x100n, 256);
    expect(status & (DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR)).toBe(DMA_TEST_STATUS.DONE);
    expect(w.p.peek(dst + 0x80, 256)).toEqual(pattern);
    expect([...w.p.peek(dst, 0x80)]).toEqual(Array(0x80).fill(0));

    ioasUnmap(w, w.ioas, dstIova, PAGE_SIZE);
    const after = dmaTestCopy(w, DMAT0, dstIova, srcIova, 64);
    expect(after & DMA_TEST_STATUS.ERROR).toBe(DMA_TEST_STATUS.ERROR);
  });

  it("basic: before attach the group is blocked, and its DMA faults", () => {
    const w = devSetup();
    const idev = bindDev(w, DMAT0);
    const ioas = ioasAlloc(w);
    const src = buffer(w, PAGE_SIZE);
    const iova = ioasMap(w, ioas, src, PAGE_SIZE);
    expect(dmaTestCopy(w, DMAT0, iova, iova, 16) & DMA_TEST_STATUS.ERROR).toBe(
      DMA_TEST_STATUS.ERROR,
    );
    iommufdDeviceAttach(idev, NO_PASID, ioas);
    expect(dmaTestCopy(w, DMAT0, iova + 0x800n, iova, 16) & DMA_TEST_STATUS.DONE).toBe(
      DMA_TEST_STATUS.DONE,
    );
  });

  it("all_aligns: every start and length at the SMMU's 4 KiB granule", () => {
    const w = ioasWithDevice();
    const buf = buffer(w, BUFFER_SIZE);
    w.p.poke(buf, new Uint8Array(BUFFER_SIZE).fill(1));
    const domain = domainOf(w, w.hwpt);
    const alloc = w.kernel.allocator;
    const pfnOf = (va: number) => w.p.mm.translate(va);
    for (let start = 0; start < BUFFER_SIZE; start += PAGE_SIZE) {
      for (let end = start + PAGE_SIZE; end <= BUFFER_SIZE; end += PAGE_SIZE) {
        const length = end - start;
        const iova = ioasMap(w, w.ioas, buf + start, length);
        for (let off = 0; off < length; off += PAGE_SIZE) {
          expect(w.kernel.iommu.iommuIovaToPhys(domain, Number(iova) + off)).toBe(
            pfnOf(buf + start + off) * PAGE_SIZE,
          );
        }
        for (let off = 0; off < BUFFER_SIZE; off += PAGE_SIZE) {
          const mapped = off >= start && off < end;
          expect(alloc.pinCount(pfnOf(buf + off))).toBe(mapped ? 1 : 0);
        }
        expect(ioasUnmap(w, w.ioas, iova, length)).toBe(BigInt(length));
      }
    }
    expect(w.p.mm.pinnedVm).toBe(0);
  });

  it("replace: to a new IOAS frees the old automatic HWPT; back again", () => {
    const w = ioasWithDevice();
    const ioas2 = ioasAlloc(w);
    const pt2 = iommufdDeviceReplace(w.idev, NO_PASID, ioas2);
    expect(() => iommufdDeviceReplace(w.idev, NO_PASID, w.hwpt)).toThrowErrno("ENOENT");
    expect(iommufdDeviceReplace(w.idev, NO_PASID, ioas2)).toBe(pt2);
    const back = iommufdDeviceReplace(w.idev, NO_PASID, w.ioas);
    expect(w.ictx.objects.peek(pt2)).toBeUndefined();
    destroy(w, ioas2);
    expect(groupOf(w, XGMAC).domain).toBe(domainOf(w, back));
  });

  it("replace: keeps DMA working across the switch, into the new IOAS's pages", () => {
    const w = ioasWithDevice(DMAT0);
    const a = buffer(w, PAGE_SIZE);
    const b = buffer(w, PAGE_SIZE);
    w.p.poke(a, new Uint8Array(16).fill(0x11));
    w.p.poke(b, new Uint8Array(16).fill(0x22));
    const iova = 0x10_0000n;
    ioasMap(w, w.ioas, a, PAGE_SIZE, iova);
    const ioas2 = ioasAlloc(w);
    ioasMap(w, ioas2, b, PAGE_SIZE, iova);
    dmaTestCopy(w, DMAT0, iova + 0x100n, iova, 16);
    expect([...w.p.peek(a + 0x100, 16)]).toEqual(Array(16).fill(0x11));
    iommufdDeviceReplace(w.idev, NO_PASID, ioas2);
    dmaTestCopy(w, DMAT0, iova + 0x100n, iova, 16);
    expect([...w.p.peek(b + 0x100, 16)]).toEqual(Array(16).fill(0x22));
  });

  it("alloc_hwpt: bad flags, manual HWPTs, a replace rotation and busy HWPTs", () => {
    const w = ioasWithDevice();
    const devId = w.idev.id;
    expect(() =>
      hwptAlloc(w, devId, w.ioas, { flags: ~IOMMU_HWPT_ALLOC_PASID >>> 0 }),
    ).toThrowErrno("EOPNOTSUPP");
    const h0 = hwptAlloc(w, devId, w.ioas);
    // The SMMU has no stage 2, so a PASID-capable HWPT is the second kind it can make.
    const h1 = hwptAlloc(w, devId, w.ioas, { flags: IOMMU_HWPT_ALLOC_PASID });
    iommufdDeviceReplace(w.idev, NO_PASID, h0);
    expect(() => destroy(w, h0)).toThrowErrno("EBUSY");
    iommufdDeviceReplace(w.idev, NO_PASID, h1);
    expect(() => destroy(w, h1)).toThrowErrno("EBUSY");
    iommufdDeviceReplace(w.idev, NO_PASID, w.ioas);
    destroy(w, h1);
    // A new device attaches directly to the manual HWPT.
    const other = bindDev(w, PL330);
    iommufdDeviceAttach(other, NO_PASID, h0);
    iommufdDeviceDetach(other, NO_PASID);
    iommufdDeviceUnbind(other);
    destroy(w, h0);
  });

  it("closes cleanly: unbind, close, and nothing is left pinned, owned or referenced", () => {
    const w = ioasWithDevice(DMAT0);
    ioasMap(w, w.ioas, buffer(w, 4 * PAGE_SIZE), 4 * PAGE_SIZE);
    iommufdDeviceDetach(w.idev, NO_PASID);
    iommufdDeviceUnbind(w.idev);
    w.p.close(w.fd);
    expect(iommufdOf(w.kernel).contexts.size).toBe(0);
    expect(w.kernel.allocator.totalPins).toBe(0);
    const g = groupOf(w, DMAT0);
    expect(g.owner).toBeNull();
    expect(g.domain).toBe(g.defaultDomain);
    // The kernel driver can have its device back.
    w.p.writeFile("/sys/bus/platform/drivers/vfio-lab-dma-test/bind", DMAT0.name);
    expect(w.p.readlink(`/sys/bus/platform/devices/${DMAT0.name}/driver`)).toMatch(
      /vfio-lab-dma-test$/,
    );
  });
});

describe("MSI isolation", () => {
  it("bind is EPERM without allow_unsafe_interrupts; with it, it binds and warns", () => {
    const w = devSetup({ unsafeInterrupts: false });
    unbindDriver(w, XGMAC);
    expect(() => iommufdDeviceBind(w.ictx, deviceOf(w, XGMAC))).toThrowErrno("EPERM");
    expect(w.p.readFile("/sys/module/iommufd/parameters/allow_unsafe_interrupts")).toBe("N\n");
    w.p.writeFile("/sys/module/iommufd/parameters/allow_unsafe_interrupts", "Y");
    const idev = iommufdDeviceBind(w.ictx, deviceOf(w, XGMAC));
    expect(w.kernel.dmesg().filter((l) => l.includes("MSI interrupts are not secure"))).toEqual([
      expect.stringMatching(`platform c010000.ethernet: ${MSI_NOT_ISOLATED_WARNING}$`),
    ]);
    iommufdDeviceUnbind(idev);
  });
});

describe("no-IOMMU devices (CONFIG_IOMMUFD_NOIOMMU)", () => {
  it("the PL061 binds and attaches; its IOAS pins and answers IOMMU_IOAS_NOIOMMU_GET_PA", () => {
    const w = devSetup();
    const idev = bindDev(w, PL061);
    const ioas = ioasAlloc(w);
    const buf = buffer(w, 4 * PAGE_SIZE);
    w.p.poke(buf, new Uint8Array(4 * PAGE_SIZE).fill(7));
    const iova = ioasMap(w, ioas, buf, 4 * PAGE_SIZE);
    const fd = IommuFd.fromFd(w.p, w.fd);
    // Without a noiommu HWPT behind it the IOAS cannot answer.
    expect(() => fd.noiommuGetPa(ioas, iova, PAGE_SIZE)).toThrowErrno("EOPNOTSUPP");
    const pt = iommufdDeviceAttach(idev, NO_PASID, ioas);
    expect(w.ictx.objects.peek(pt)!.type).toBe("HWPT_PAGING");
    expect(w.p.mm.pinnedVm).toBe(4);
    const pa = fd.noiommuGetPa(ioas, iova + 0x80n, 4 * PAGE_SIZE);
    expect(pa.phys).toBe(BigInt(w.p.mm.translate(buf) * PAGE_SIZE + 0x80));
    expect((pa.phys + pa.length) % BigInt(PAGE_SIZE)).toBe(0n);
    // Nothing of the device was touched: it has no group, and the board no IOMMU for it.
    expect(w.kernel.iommu.deviceGroup(deviceOf(w, PL061))).toBeNull();
    iommufdDeviceDetach(idev, NO_PASID);
    expect(w.p.mm.pinnedVm).toBe(0);
    iommufdDeviceUnbind(idev);
  });

  it("a second device shares the IOAS's noiommu HWPT", () => {
    const w = devSetup();
    const a = bindDev(w, PL061);
    const b = iommufdDeviceBind(w.ictx, deviceOf(w, PL061));
    const ioas = ioasAlloc(w);
    const pt = iommufdDeviceAttach(a, NO_PASID, ioas);
    expect(iommufdDeviceAttach(b, NO_PASID, ioas)).toBe(pt);
  });

  it("without CONFIG_IOMMUFD_NOIOMMU the PL061 cannot bind (EINVAL)", () => {
    const w = devSetup({ config: { CONFIG_VFIO_NOIOMMU: false } });
    unbindDriver(w, PL061);
    expect(() => iommufdDeviceBind(w.ictx, deviceOf(w, PL061))).toThrowErrno("EINVAL");
  });
});

describe("iommufd_fail_nth: device", () => {
  it("every failing allocation or lookup ends in an errno and leaves nothing behind", () => {
    interface W extends DevWorld {
      readonly processes: readonly Process[];
      idev: IommufdDevice | null;
      attached: boolean;
    }
    const report = sweepFailNth<W>(
      {
        setup() {
          const w = devSetup();
          unbindDriver(w, XGMAC);
          return { ...w, processes: [w.p], idev: null, attached: false };
        },
        run(w) {
          const ioas = ioasAlloc(w);
          ioasMap(w, ioas, buffer(w, 4 * PAGE_SIZE), 4 * PAGE_SIZE);
          w.idev = iommufdDeviceBind(w.ictx, deviceOf(w, XGMAC));
          hwInfo(w, w.idev.id, { dataLen: 40 });
          const hwpt = hwptAlloc(w, w.idev.id, ioas);
          iommufdDeviceAttach(w.idev, NO_PASID, ioas);
          w.attached = true;
          iommufdDeviceReplace(w.idev, NO_PASID, hwpt);
          const fault = faultAlloc(w);
          const iopf = hwptAlloc(w, w.idev.id, ioas, {
            flags: IOMMU_HWPT_FAULT_ID_VALID,
            faultId: fault.id,
          });
          iommufdDeviceReplace(w.idev, NO_PASID, iopf);
          iommufdDeviceReplace(w.idev, NO_PASID, ioas);
        },
        teardown(w) {
          if (w.idev && w.attached) iommufdDeviceDetach(w.idev, NO_PASID);
          if (w.idev) iommufdDeviceUnbind(w.idev);
        },
      },
      { maxRuns: 300 },
    );
    expect(report.runs.length).toBeGreaterThan(20);
    expect(report.sites).toEqual(expect.arrayContaining(["kzalloc", "iommufd_get_object"]));
  }, 300_000);
});
