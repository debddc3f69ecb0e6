import { describe, expect, test } from "vitest";
import {
  defaultLab,
  ENGINE_A,
  ENGINE_B,
  noiommuLab,
  pl330Lab,
  sharedGroupLab,
  uioLab,
} from "../test/labs.js";
import { type DeviceSnapshot, type SystemSnapshot, snapshot } from "./snapshot.js";

function dev(s: SystemSnapshot, name: string): DeviceSnapshot {
  const d = s.devices.find((x) => x.name === name);
  if (!d) throw new Error(`no ${name}`);
  return d;
}

describe("snapshot()", () => {
  test("the default board: drivers, owners, groups behind the SMMU, no taint", () => {
    const lab = defaultLab();
    const s = snapshot(lab.kernel);
    expect(s.iommus.map((m) => [m.name, m.compatible[0], m.driver])).toEqual([
      ["9050000.smmuv3", "arm,smmu-v3", "arm-smmu-v3"],
    ]);
    expect(dev(s, "c000000.dma")).toMatchObject({
      bus: "amba",
      compatible: ["arm,pl330", "arm,primecell"],
      driver: "dma-pl330",
      owner: "kernel",
      iommuGroup: 2,
      iommu: "9050000.smmuv3",
      streamIds: [0x10],
      mmio: [{ start: 0x0c00_0000, size: 0x1000 }],
      vfio: null,
    });
    expect(dev(s, "c000000.dma").irqs).toHaveLength(9);
    expect(dev(s, "9030000.pl061")).toMatchObject({
      bus: "amba",
      driver: "pl061_gpio",
      owner: "kernel",
      iommuGroup: null,
      iommu: null,
    });
    expect(dev(s, "a000000.virtio_mmio")).toMatchObject({ driver: null, owner: "none" });
    // The second engine's StreamID aliases the first's: behind the SMMU, in no group.
    expect(dev(s, "c031000.dma-test")).toMatchObject({
      iommu: "9050000.smmuv3",
      iommuGroup: null,
      streamIds: [0x30],
    });
    expect(s.groups.map((g) => [g.id, g.devices, g.ownership, g.ownerCnt, g.domain?.role])).toEqual(
      [
        [0, ["c010000.ethernet"], "kernel-dma", 1, "default"],
        [1, ["c030000.dma-test"], "kernel-dma", 1, "default"],
        [2, ["c000000.dma"], "kernel-dma", 1, "default"],
      ],
    );
    expect(s.groups[2]!.kernelDmaUsers).toEqual(["c000000.dma"]);
    expect(s.taint).toEqual({ value: 0, letters: "", text: "Not tainted", flags: [] });
    expect(s.vfio).toEqual({ loaded: true, noiommuMode: false });
    expect(s.vfioGroups).toEqual([]);
  });

  test("PL330 on vfio-amba, opened through a container: vfio owner, user-owned group 2", () => {
    const lab = pl330Lab();
    const s = snapshot(lab.kernel);
    expect(dev(s, "c000000.dma")).toMatchObject({
      driver: "vfio-amba",
      owner: "vfio",
      driverOverride: "vfio-amba",
      driverManagedDma: true,
      iommuGroup: 2,
      vfio: {
        group: "2",
        groupKind: "iommu",
        groupNode: "/dev/vfio/2",
        cdevName: "vfio0",
        cdevNode: "/dev/vfio/devices/vfio0",
        openCount: 1,
      },
    });
    const g = s.groups.find((x) => x.id === 2)!;
    expect(g).toMatchObject({
      ownership: "user-owned",
      ownerKind: "vfio-group",
      ownerCnt: 1,
      hasBlockingDomain: true,
      kernelDmaUsers: [],
      domain: { role: "user", type: "unmanaged", paging: true },
      defaultDomain: { role: "default", type: "DMA" },
      vfio: { name: "2", kind: "iommu", open: true, container: true, iommufd: false },
    });
  });

  test("no-IOMMU mode: the PL061 in a fake vfio-noiommu group, taint U", () => {
    const lab = noiommuLab();
    const s = snapshot(lab.kernel);
    expect(s.taint).toEqual({
      value: 64,
      letters: "U",
      text: lab.kernel.taint.printTainted(),
      flags: [{ letter: "U", name: "TAINT_USER", desc: "USER" }],
    });
    expect(s.vfio.noiommuMode).toBe(true);
    expect(dev(s, "9030000.pl061")).toMatchObject({
      owner: "vfio",
      iommu: null,
      iommuGroup: 3,
      vfio: {
        group: "noiommu-3",
        groupKind: "noiommu",
        groupNode: "/dev/vfio/noiommu-3",
        cdevNode: "/dev/vfio/devices/noiommu-vfio0",
      },
    });
    expect(s.groups.find((g) => g.id === 3)).toMatchObject({
      name: "vfio-noiommu",
      iommu: null,
      ownership: "unused",
      vfio: { kind: "noiommu", node: "/dev/vfio/noiommu-3" },
    });
  });

  test("UIO: uio owner, /dev/uio0, no VFIO, no taint", () => {
    const lab = uioLab();
    const s = snapshot(lab.kernel);
    expect(dev(s, "c031000.dma-test")).toMatchObject({
      driver: "uio_pdrv_genirq",
      owner: "uio",
      uio: ["/dev/uio0"],
      vfio: null,
    });
    expect(s.taint.value).toBe(0);
  });

  test("shared group: one engine user-owned, the other unbound", () => {
    const lab = sharedGroupLab();
    const s = snapshot(lab.kernel);
    expect(dev(s, ENGINE_A.name)).toMatchObject({
      owner: "vfio",
      driver: "vfio-platform",
      iommuGroup: 0,
    });
    expect(dev(s, ENGINE_B.name)).toMatchObject({ owner: "none", driver: null, iommuGroup: 0 });
    const g = s.groups.find((x) => x.id === 0)!;
    expect(g).toMatchObject({
      devices: [ENGINE_A.name, ENGINE_B.name],
      ownership: "user-owned",
      ownerKind: "vfio-group",
      ownerCnt: 1,
      domain: { role: "blocking", type: "blocked" },
      vfio: { name: "0", node: "/dev/vfio/0", open: true, container: true },
    });
    const iommu = s.iommus.find((m) => m.devices.includes(ENGINE_A.name));
    expect(iommu?.driver).toBe("vfio-lab-grouping-iommu");
    expect(g.iommu).toBe(iommu?.name);
  });

  test("reading leaves no trace: no syscall, no event, the same snapshot twice", () => {
    const lab = pl330Lab();
    const rec = lab.kernel.trace.record();
    const a = snapshot(lab.kernel);
    const b = snapshot(lab.kernel);
    rec.stop();
    expect(rec.records).toEqual([]);
    expect(b).toEqual(a);
  });
});
