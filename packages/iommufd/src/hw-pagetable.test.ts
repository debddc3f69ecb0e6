import { PROT_READ } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import {
  bindDev,
  type DevWorld,
  devSetup,
  faultAlloc,
  groupOf,
  hwptAlloc,
  PL061,
  XGMAC,
} from "../test/device-fixture.js";
import { buffer, destroy, ioasAlloc, ioasMap, ioctlStruct, iovaRanges } from "../test/fixture.js";
import {
  type IommufdDevice,
  iommufdDeviceAttach,
  iommufdDeviceDetach,
  iommufdDeviceUnbind,
} from "./device.js";
import { IommufdHwptPaging } from "./hw-pagetable.js";
import { isIommufdNoiommuDomain } from "./hwpt-noiommu.js";
import {
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_HWPT_SET_DIRTY_TRACKING,
  iommu_hwpt_alloc,
  iommu_hwpt_get_dirty_bitmap,
  iommu_hwpt_invalidate,
  iommu_hwpt_set_dirty_tracking,
} from "./uapi.js";

const U64_MAX = (1n << 64n) - 1n;

/** A bound, unattached XGMAC and an empty IOAS (FIXTURE iommufd_ioas, mock_domain variant). */
function world(): DevWorld & { idev: IommufdDevice; devId: number; ioas: number } {
  const w = devSetup();
  const idev = bindDev(w, XGMAC);
  return { ...w, idev, devId: idev.id, ioas: ioasAlloc(w) };
}

function hwptOf(w: DevWorld, id: number): IommufdHwptPaging {
  const obj = w.ictx.objects.peek(id);
  if (!(obj instanceof IommufdHwptPaging)) throw new Error(`${id} is not a HWPT_PAGING`);
  return obj;
}

describe("IOMMU_HWPT_ALLOC on an IOAS (what arm-smmu-v3 answers)", () => {
  it("makes a manual HWPT_PAGING that holds the IOAS and is not attached", () => {
    const w = world();
    const id = hwptAlloc(w, w.devId, w.ioas);
    const hwpt = hwptOf(w, id);
    expect(hwpt.autoDomain).toBe(false);
    expect(hwpt.domain!.cookieType).toBe("iommufd");
    expect(hwpt.domain!.iommufdHwpt).toBe(hwpt);
    expect(groupOf(w, XGMAC).domain).toBe(groupOf(w, XGMAC).blockingDomain);
    expect(() => destroy(w, w.ioas)).toThrowErrno("EBUSY");
    destroy(w, id);
    destroy(w, w.ioas);
  });

  it("maps (and so pins) what the IOAS already holds", () => {
    const w = world();
    ioasMap(w, w.ioas, buffer(w, 4 * 4096), 4 * 4096);
    expect(w.p.mm.pinnedVm).toBe(0);
    const id = hwptAlloc(w, w.devId, w.ioas);
    expect(w.p.mm.pinnedVm).toBe(4);
    // The domain's aperture and page size now shape the IOAS.
    expect(iovaRanges(w, w.ioas).ranges).toEqual([[0n, (1n << 48n) - 1n]]);
    destroy(w, id);
    expect(w.p.mm.pinnedVm).toBe(0);
  });

  it("takes IOMMU_HWPT_ALLOC_PASID", () => {
    const w = world();
    expect(
      hwptOf(w, hwptAlloc(w, w.devId, w.ioas, { flags: IOMMU_HWPT_ALLOC_PASID })).pasidCompat,
    ).toBe(true);
  });

  it("is EOPNOTSUPP for NEST_PARENT: the SMMU has no stage 2", () => {
    const w = world();
    expect(() =>
      hwptAlloc(w, w.devId, w.ioas, { flags: IOMMU_HWPT_ALLOC_NEST_PARENT }),
    ).toThrowErrno("EOPNOTSUPP");
  });

  it("is EOPNOTSUPP for DIRTY_TRACKING: the SMMU has no HTTU", () => {
    const w = world();
    expect(() =>
      hwptAlloc(w, w.devId, w.ioas, { flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }),
    ).toThrowErrno("EOPNOTSUPP");
  });

  it("is EOPNOTSUPP for FAULT_ID_VALID with NEST_PARENT, and for unknown flags", () => {
    const w = world();
    const flags = [
      IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_NEST_PARENT,
      1 << 4,
      ~IOMMU_HWPT_ALLOC_NEST_PARENT >>> 0,
    ];
    for (const f of flags) {
      expect(() => hwptAlloc(w, w.devId, w.ioas, { flags: f })).toThrowErrno("EOPNOTSUPP");
    }
    expect(w.ictx.objects.objects().map((o) => o.type)).toEqual(["DEVICE", "IOAS"]);
  });

  it("takes a fault queue with FAULT_ID_VALID, ENOENT when fault_id is not one", () => {
    const w = world();
    expect(() =>
      hwptAlloc(w, w.devId, w.ioas, { flags: IOMMU_HWPT_FAULT_ID_VALID, faultId: w.ioas }),
    ).toThrowErrno("ENOENT");
    const fault = faultAlloc(w);
    const id = hwptAlloc(w, w.devId, w.ioas, {
      flags: IOMMU_HWPT_FAULT_ID_VALID,
      faultId: fault.id,
    });
    expect(hwptOf(w, id).fault!.id).toBe(fault.id);
    // The HWPT holds the fault queue.
    expect(() => destroy(w, fault.id)).toThrowErrno("EBUSY");
    destroy(w, id);
    w.p.close(fault.fd);
    destroy(w, fault.id);
  });

  it("is EOPNOTSUPP for driver data: arm-smmu-v3 takes none for a paging domain", () => {
    const w = world();
    const data = w.p.malloc(16);
    expect(() =>
      hwptAlloc(w, w.devId, w.ioas, {
        dataType: IOMMU_HWPT_DATA_ARM_SMMUV3,
        dataLen: 16,
        dataUptr: BigInt(data),
      }),
    ).toThrowErrno("EOPNOTSUPP");
  });

  it("works with the 24-byte struct of its first version", () => {
    const w = world();
    expect(hwptAlloc(w, w.devId, w.ioas, { size: 24 })).toBeGreaterThan(0);
  });
});

describe("IOMMU_HWPT_ALLOC argument checks, in the kernel's order", () => {
  it("is EOPNOTSUPP for a non-zero __reserved", () => {
    const w = world();
    expect(() => hwptAlloc(w, w.devId, w.ioas, { reserved: 1 })).toThrowErrno("EOPNOTSUPP");
  });

  it("is EINVAL when data_type and data_len disagree (checked before the device)", () => {
    const w = world();
    expect(() => hwptAlloc(w, 99, w.ioas, { dataLen: 8 })).toThrowErrno("EINVAL");
    expect(() =>
      hwptAlloc(w, 99, w.ioas, { dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, dataLen: 0 }),
    ).toThrowErrno("EINVAL");
  });

  it("is ENOENT for a dev_id that is not a device", () => {
    const w = world();
    expect(() => hwptAlloc(w, w.ioas, w.ioas)).toThrowErrno("ENOENT");
    expect(() => hwptAlloc(w, 99, w.ioas)).toThrowErrno("ENOENT");
  });

  it("is EINVAL (not ENOENT) for a pt_id that names nothing or a device", () => {
    const w = world();
    expect(() => hwptAlloc(w, w.devId, 99)).toThrowErrno("EINVAL");
    expect(() => hwptAlloc(w, w.devId, w.devId)).toThrowErrno("EINVAL");
  });

  it("is EOPNOTSUPP for a nested HWPT over a paging one: no domain_alloc_nested", () => {
    const w = world();
    const parent = hwptAlloc(w, w.devId, w.ioas);
    const data = w.p.malloc(16);
    expect(() => hwptAlloc(w, w.devId, parent)).toThrowErrno("EOPNOTSUPP");
    expect(() =>
      hwptAlloc(w, w.devId, parent, {
        dataType: IOMMU_HWPT_DATA_ARM_SMMUV3,
        dataLen: 16,
        dataUptr: BigInt(data),
      }),
    ).toThrowErrno("EOPNOTSUPP");
  });

  it("is EFAULT when out_hwpt_id cannot be written, and the HWPT is gone", () => {
    const w = world();
    const va = w.p.malloc(4096);
    const bytes = iommu_hwpt_alloc.encode({
      size: iommu_hwpt_alloc.size,
      flags: 0,
      dev_id: w.devId,
      pt_id: w.ioas,
      out_hwpt_id: 0,
      __reserved: 0,
      data_type: 0,
      data_len: 0,
      data_uptr: 0n,
      fault_id: 0,
      __reserved2: 0,
    });
    w.p.poke(va, bytes);
    w.p.mprotect(va, 4096, PROT_READ);
    expect(() => w.p.ioctl(w.fd, IOMMU_HWPT_ALLOC, va)).toThrowErrno("EFAULT");
    expect(w.ictx.objects.objects().map((o) => o.type)).toEqual(["DEVICE", "IOAS"]);
    expect(hwptAlloc(w, w.devId, w.ioas)).toBe(w.ioas + 1);
  });

  it("fails only with SysError, and leaves no trace, whatever allocation fails", () => {
    let completed = false;
    for (let n = 1; n < 60 && !completed; n++) {
      const w = world();
      ioasMap(w, w.ioas, buffer(w, 4 * 4096), 4 * 4096);
      let calls = 0;
      w.kernel.allocator.setFailHook(() => ++calls === n);
      let failed = false;
      try {
        hwptAlloc(w, w.devId, w.ioas);
      } catch (e) {
        failed = true;
        expect(e).toHaveProperty("errno");
      }
      w.kernel.allocator.setFailHook(undefined);
      if (failed) {
        expect(w.ictx.objects.objects().map((o) => o.type)).toEqual(["DEVICE", "IOAS"]);
        expect(w.p.mm.pinnedVm).toBe(0);
        expect(iovaRanges(w, w.ioas).ranges).toEqual([[0n, U64_MAX]]);
      } else {
        completed = calls < n;
      }
    }
    expect(completed).toBe(true);
  }, 120_000);
});

describe("IOMMU_HWPT_ALLOC for a no-IOMMU device", () => {
  function noiommuWorld() {
    const w = devSetup();
    const idev = bindDev(w, PL061);
    return { ...w, devId: idev.id, ioas: ioasAlloc(w) };
  }

  it("makes a HWPT over the software table with flags 0 and no data", () => {
    const w = noiommuWorld();
    const id = hwptAlloc(w, w.devId, w.ioas);
    expect(isIommufdNoiommuDomain(hwptOf(w, id).domain!)).toBe(true);
  });

  it("is EOPNOTSUPP for any flag the IOMMU core would accept", () => {
    const w = noiommuWorld();
    for (const flags of [
      IOMMU_HWPT_ALLOC_PASID,
      IOMMU_HWPT_ALLOC_NEST_PARENT,
      IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
    ]) {
      expect(() => hwptAlloc(w, w.devId, w.ioas, { flags })).toThrowErrno("EOPNOTSUPP");
    }
  });

  it("is EOPNOTSUPP for driver data", () => {
    const w = noiommuWorld();
    const data = w.p.malloc(16);
    expect(() =>
      hwptAlloc(w, w.devId, w.ioas, {
        dataType: IOMMU_HWPT_DATA_ARM_SMMUV3,
        dataLen: 16,
        dataUptr: BigInt(data),
      }),
    ).toThrowErrno("EOPNOTSUPP");
  });
});

describe("IOMMU_HWPT_SET_DIRTY_TRACKING", () => {
  const set = (w: DevWorld, hwptId: number, flags: number) =>
    ioctlStruct(w, IOMMU_HWPT_SET_DIRTY_TRACKING, iommu_hwpt_set_dirty_tracking, {
      size: 0,
      flags,
      hwpt_id: hwptId,
      __reserved: 0,
    });

  it("is EOPNOTSUPP for an unknown flag, before the lookup", () => {
    const w = world();
    expect(() => set(w, 99, 2)).toThrowErrno("EOPNOTSUPP");
  });

  it("is ENOENT for an ID that is not a HWPT_PAGING", () => {
    const w = world();
    expect(() => set(w, w.ioas, 0)).toThrowErrno("ENOENT");
  });

  it("is EOPNOTSUPP for a HWPT whose domain has no dirty tracking (every one here)", () => {
    const w = world();
    const id = hwptAlloc(w, w.devId, w.ioas);
    expect(() => set(w, id, 1)).toThrowErrno("EOPNOTSUPP");
    expect(() => set(w, id, 0)).toThrowErrno("EOPNOTSUPP");
  });
});

describe("IOMMU_HWPT_GET_DIRTY_BITMAP", () => {
  function get(w: DevWorld, hwptId: number, a: Partial<Record<string, bigint | number>> = {}) {
    return ioctlStruct(w, IOMMU_HWPT_GET_DIRTY_BITMAP, iommu_hwpt_get_dirty_bitmap, {
      size: 0,
      hwpt_id: hwptId,
      flags: Number(a.flags ?? 0),
      __reserved: Number(a.reserved ?? 0),
      iova: BigInt(a.iova ?? 0),
      length: BigInt(a.length ?? 0x1000),
      page_size: BigInt(a.pageSize ?? 0x1000),
      data: BigInt(a.data ?? 0),
    });
  }

  it("is EOPNOTSUPP for an unknown flag or __reserved", () => {
    const w = world();
    expect(() => get(w, 99, { flags: 2 })).toThrowErrno("EOPNOTSUPP");
    expect(() => get(w, 99, { reserved: 1 })).toThrowErrno("EOPNOTSUPP");
  });

  it("is ENOENT for an ID that is not a HWPT_PAGING", () => {
    const w = world();
    expect(() => get(w, w.ioas)).toThrowErrno("ENOENT");
  });

  it("checks the range before finding no dirty tracking: EOVERFLOW, EINVAL, then EOPNOTSUPP", () => {
    const w = world();
    const id = hwptAlloc(w, w.devId, w.ioas);
    expect(() => get(w, id, { iova: U64_MAX })).toThrowErrno("EOVERFLOW");
    expect(() => get(w, id, { iova: 0x800 })).toThrowErrno("EINVAL");
    expect(() => get(w, id, { pageSize: 0 })).toThrowErrno("EINVAL");
    expect(() => get(w, id, { pageSize: 0x2000 })).toThrowErrno("EINVAL");
    expect(() => get(w, id, { length: 0 })).toThrowErrno("EOPNOTSUPP");
    expect(() => get(w, id)).toThrowErrno("EOPNOTSUPP");
  });
});

describe("IOMMU_HWPT_INVALIDATE", () => {
  /** The call and the entry_num written back, whatever the outcome. */
  function invalidate(w: DevWorld, hwptId: number, a: Partial<Record<string, number>> = {}) {
    const args = {
      size: 0,
      hwpt_id: hwptId,
      data_uptr: BigInt(a.uptr ?? w.p.malloc(64)),
      data_type: a.type ?? 0,
      entry_len: a.entryLen ?? 16,
      entry_num: a.entryNum ?? 3,
      __reserved: a.reserved ?? 0,
    };
    let error: unknown = null;
    try {
      ioctlStruct(w, IOMMU_HWPT_INVALIDATE, iommu_hwpt_invalidate, args);
    } catch (e) {
      error = e;
    }
    return { error, entryNum: iommu_hwpt_invalidate.decode(w.p.peek(w.arg, 32)).entry_num };
  }

  it("is EOPNOTSUPP for __reserved, with entry_num written back as 0", () => {
    const w = world();
    const r = invalidate(w, 99, { reserved: 1 });
    expect(() => {
      throw r.error;
    }).toThrowErrno("EOPNOTSUPP");
    expect(r.entryNum).toBe(0);
  });

  it("is EINVAL for entries without a pointer or length, or too many or too long", () => {
    const w = world();
    for (const bad of [
      { uptr: 0 },
      { entryLen: 0 },
      { entryLen: 4097 },
      { entryNum: (1 << 19) + 1 },
    ]) {
      const r = invalidate(w, 99, bad);
      expect(() => {
        throw r.error;
      }).toThrowErrno("EINVAL");
      expect(r.entryNum).toBe(0);
    }
  });

  it("is ENOENT for an ID that names nothing", () => {
    const w = world();
    const r = invalidate(w, 99);
    expect(() => {
      throw r.error;
    }).toThrowErrno("ENOENT");
    expect(r.entryNum).toBe(0);
  });

  it("is EINVAL for a paging HWPT or any object but a nested HWPT or a vIOMMU", () => {
    const w = world();
    const id = hwptAlloc(w, w.devId, w.ioas);
    for (const target of [id, w.ioas, w.devId]) {
      const r = invalidate(w, target);
      expect(() => {
        throw r.error;
      }).toThrowErrno("EINVAL");
      expect(r.entryNum).toBe(0);
    }
    // entry_num 0 needs no array, and still meets the type check.
    const r = invalidate(w, id, { entryNum: 0, uptr: 0, entryLen: 0 });
    expect(() => {
      throw r.error;
    }).toThrowErrno("EINVAL");
  });
});

describe("the HWPT_PAGING object", () => {
  it("a manual HWPT can be attached directly, and destroyed once detached", () => {
    const w = world();
    const idev = w.idev;
    const id = hwptAlloc(w, w.devId, w.ioas);
    expect(iommufdDeviceAttach(idev, 0, id)).toBe(id);
    expect(() => destroy(w, id)).toThrowErrno("EBUSY");
    iommufdDeviceDetach(idev, 0);
    // Manual HWPTs outlive their devices.
    expect(hwptOf(w, id).users).toBe(1);
    destroy(w, id);
    expect(() => destroy(w, id)).toThrowErrno("ENOENT");
  });

  it("goes when the iommufd is closed, before the IOAS it holds", () => {
    const w = world();
    hwptAlloc(w, w.devId, w.ioas);
    ioasMap(w, w.ioas, buffer(w, 4096), 4096);
    expect(w.p.mm.pinnedVm).toBe(1);
    // The bound device keeps the file open; VFIO unbinds it when its own file closes.
    iommufdDeviceUnbind(w.idev);
    w.p.close(w.fd);
    expect(w.ictx.objects.isEmpty()).toBe(true);
    expect(w.p.mm.pinnedVm).toBe(0);
  });
});
