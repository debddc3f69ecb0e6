import type { IommufdViommuCore, IommuOps } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import {
  bindDev,
  type DevWorld,
  devSetup,
  hwptAlloc,
  PL061,
  PL330,
  XGMAC,
} from "../test/device-fixture.js";
import { destroy, ioasAlloc, ioctlStruct, type World } from "../test/fixture.js";
import { iommufdDeviceUnbind } from "./device.js";
import type { IommufdHwptPaging } from "./hw-pagetable.js";
import {
  IOMMU_HW_QUEUE_ALLOC,
  IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_VEVENTQ_ALLOC,
  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
  IOMMU_VIOMMU_ALLOC,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  iommu_hw_queue_alloc,
  iommu_vdevice_alloc,
  iommu_veventq_alloc,
  iommu_viommu_alloc,
} from "./uapi.js";
import type { IommufdViommuOps } from "./viommu.js";

function viommuAlloc(
  w: World,
  devId: number,
  hwptId: number,
  a: { type?: number; flags?: number } = {},
) {
  return ioctlStruct(w, IOMMU_VIOMMU_ALLOC, iommu_viommu_alloc, {
    size: 0,
    flags: a.flags ?? 0,
    type: a.type ?? IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
    dev_id: devId,
    hwpt_id: hwptId,
    out_viommu_id: 0,
    data_len: 0,
    __reserved: 0,
    data_uptr: 0n,
  }).out_viommu_id;
}

function vdeviceAlloc(w: World, viommuId: number, devId: number, virtId: bigint) {
  return ioctlStruct(w, IOMMU_VDEVICE_ALLOC, iommu_vdevice_alloc, {
    size: 0,
    viommu_id: viommuId,
    dev_id: devId,
    out_vdevice_id: 0,
    virt_id: virtId,
  }).out_vdevice_id;
}

function hwQueueAlloc(w: World, a: Partial<Record<string, number | bigint>>) {
  return ioctlStruct(w, IOMMU_HW_QUEUE_ALLOC, iommu_hw_queue_alloc, {
    size: 0,
    flags: Number(a.flags ?? 0),
    viommu_id: Number(a.viommuId ?? 1),
    type: Number(a.type ?? IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV),
    index: 0,
    out_hw_queue_id: 0,
    nesting_parent_iova: BigInt(a.iova ?? 0),
    length: BigInt(a.length ?? 0x1000),
  });
}

function world(): DevWorld & { devId: number; ioas: number; hwpt: number } {
  const w = devSetup();
  const idev = bindDev(w, XGMAC);
  const ioas = ioasAlloc(w);
  return { ...w, devId: idev.id, ioas, hwpt: hwptAlloc(w, idev.id, ioas) };
}

describe("IOMMU_VIOMMU_ALLOC on the board", () => {
  it("is EOPNOTSUPP for flags or the DEFAULT type, before the device is looked up", () => {
    const w = world();
    expect(() => viommuAlloc(w, 99, w.hwpt, { type: 0 })).toThrowErrno("EOPNOTSUPP");
    expect(() => viommuAlloc(w, 99, w.hwpt, { flags: 1 })).toThrowErrno("EOPNOTSUPP");
  });

  it("is ENOENT for a dev_id that is not a device", () => {
    const w = world();
    expect(() => viommuAlloc(w, 99, w.hwpt)).toThrowErrno("ENOENT");
    expect(() => viommuAlloc(w, w.ioas, w.hwpt)).toThrowErrno("ENOENT");
  });

  it("is EOPNOTSUPP for the SMMU (stage 1 only: no vIOMMU), whatever hwpt_id says", () => {
    const w = world();
    expect(() => viommuAlloc(w, w.devId, w.hwpt)).toThrowErrno("EOPNOTSUPP");
    expect(() => viommuAlloc(w, w.devId, 999)).toThrowErrno("EOPNOTSUPP");
    expect(w.ictx.objects.objects().map((o) => o.type)).toEqual(["DEVICE", "IOAS", "HWPT_PAGING"]);
  });

  it("is EOPNOTSUPP for a device without an IOMMU", () => {
    const w = world();
    const noiommu = bindDev(w, PL061);
    expect(() => viommuAlloc(w, noiommu.id, w.hwpt)).toThrowErrno("EOPNOTSUPP");
  });
});

describe("IOMMU_VDEVICE_ALLOC and IOMMU_HW_QUEUE_ALLOC on the board", () => {
  it("VDEVICE_ALLOC is ENOENT for a viommu_id that is not a vIOMMU", () => {
    const w = world();
    expect(() => vdeviceAlloc(w, w.hwpt, w.devId, 1n)).toThrowErrno("ENOENT");
    expect(() => vdeviceAlloc(w, 99, w.devId, 1n)).toThrowErrno("ENOENT");
  });

  it("HW_QUEUE_ALLOC is EOPNOTSUPP for flags or the DEFAULT type", () => {
    const w = world();
    expect(() => hwQueueAlloc(w, { type: 0 })).toThrowErrno("EOPNOTSUPP");
    expect(() => hwQueueAlloc(w, { flags: 1 })).toThrowErrno("EOPNOTSUPP");
  });

  it("HW_QUEUE_ALLOC is EINVAL for a zero length, EOVERFLOW for a range that wraps", () => {
    const w = world();
    expect(() => hwQueueAlloc(w, { length: 0 })).toThrowErrno("EINVAL");
    expect(() => hwQueueAlloc(w, { iova: (1n << 64n) - 1n, length: 2 })).toThrowErrno("EOVERFLOW");
  });

  it("HW_QUEUE_ALLOC is ENOENT without a vIOMMU", () => {
    const w = world();
    expect(() => hwQueueAlloc(w, { viommuId: w.hwpt })).toThrowErrno("ENOENT");
  });
});

/**
 * The same ioctls against an IOMMU driver that can make vIOMMUs: the SMMU's ops are given a
 * get_viommu_size()/viommu_init() pair, and a HWPT is marked as a nest parent, which the
 * stage-1-only SMMU cannot really make. This exercises iommufd's own paths past the driver.
 */
describe("with a driver that makes vIOMMUs (test double)", () => {
  function nestingWorld() {
    const w = world();
    const ops = w.kernel.smmu.ops as IommuOps;
    const vOps: IommufdViommuOps = {};
    ops.getViommuSize = () => 64;
    ops.viommuInit = (core: IommufdViommuCore) => {
      (core as IommufdViommuCore & { ops?: IommufdViommuOps }).ops = vOps;
    };
    (w.ictx.objects.peek(w.hwpt) as IommufdHwptPaging).nestParent = true;
    return { ...w, vOps };
  }

  it("is EINVAL for a HWPT that is not a nest parent, ENOENT for one that is no HWPT", () => {
    const w = nestingWorld();
    const plain = hwptAlloc(w, w.devId, w.ioas);
    expect(() => viommuAlloc(w, w.devId, plain)).toThrowErrno("EINVAL");
    expect(() => viommuAlloc(w, w.devId, w.ioas)).toThrowErrno("ENOENT");
  });

  it("is EOPNOTSUPP when viommu_init() sets no ops, and leaves no object", () => {
    const w = nestingWorld();
    (w.kernel.smmu.ops as IommuOps).viommuInit = () => {};
    expect(() => viommuAlloc(w, w.devId, w.hwpt)).toThrowErrno("EOPNOTSUPP");
    expect((w.ictx.objects.peek(w.hwpt) as IommufdHwptPaging).users).toBe(1);
  });

  it("makes a vIOMMU that holds its nest parent, vDEVICEs and a vEVENTQ per type", () => {
    const w = nestingWorld();
    const viommu = viommuAlloc(w, w.devId, w.hwpt);
    expect(() => destroy(w, w.hwpt)).toThrowErrno("EBUSY");
    const vdev = vdeviceAlloc(w, viommu, w.devId, 0x30n);
    expect(() => vdeviceAlloc(w, viommu, w.devId, 0x31n)).toThrowErrno("EEXIST");
    const other = bindDev(w, PL330);
    expect(() => vdeviceAlloc(w, viommu, other.id, 0x30n)).toThrowErrno("EEXIST");
    const noiommu = bindDev(w, PL061);
    expect(() => vdeviceAlloc(w, viommu, noiommu.id, 0x40n)).toThrowErrno("EINVAL");
    expect(() => destroy(w, viommu)).toThrowErrno("EBUSY");

    const q = ioctlStruct(w, IOMMU_VEVENTQ_ALLOC, iommu_veventq_alloc, {
      size: 0,
      flags: 0,
      viommu_id: viommu,
      type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
      veventq_depth: 4,
      out_veventq_id: 0,
      out_veventq_fd: 0,
      __reserved: 0,
    });
    expect(w.p.readlink(`/proc/self/fd/${q.out_veventq_fd}`)).toBe(
      "anon_inode:[iommufd-viommu-event]",
    );
    expect(() =>
      ioctlStruct(w, IOMMU_VEVENTQ_ALLOC, iommu_veventq_alloc, {
        size: 0,
        flags: 0,
        viommu_id: viommu,
        type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
        veventq_depth: 4,
        out_veventq_id: 0,
        out_veventq_fd: 0,
        __reserved: 0,
      }),
    ).toThrowErrno("EEXIST");
    const buf = w.p.malloc(64);
    expect(() => w.p.read(q.out_veventq_fd, buf, 7)).toThrowErrno("EINVAL");
    expect(w.p.read(q.out_veventq_fd, buf, 64)).toBe(0);
    expect(() => w.p.write(q.out_veventq_fd, buf, 8)).toThrowErrno("EINVAL");

    // HW queues need driver ops this vIOMMU does not have.
    expect(() => hwQueueAlloc(w, { viommuId: viommu })).toThrowErrno("EOPNOTSUPP");

    // Tear down in dependency order.
    w.p.close(q.out_veventq_fd);
    destroy(w, q.out_veventq_id);
    destroy(w, vdev);
    destroy(w, viommu);
    destroy(w, w.hwpt);
  });

  it("unbinding the device destroys its vDEVICE and leaves the ID a tombstone", () => {
    const w = nestingWorld();
    const viommu = viommuAlloc(w, w.devId, w.hwpt);
    const vdev = vdeviceAlloc(w, viommu, w.devId, 0x30n);
    iommufdDeviceUnbind(w.ictx.objects.peek(w.devId) as Parameters<typeof iommufdDeviceUnbind>[0]);
    expect(w.ictx.objects.peek(w.devId)).toBeUndefined();
    expect(() => destroy(w, vdev)).toThrowErrno("ENOENT");
    // The slot stays taken until the file is closed.
    expect(ioasAlloc(w)).not.toBe(vdev);
    destroy(w, viommu);
  });
});
