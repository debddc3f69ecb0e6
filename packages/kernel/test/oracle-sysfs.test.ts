/**
 * The driver core after boot against a real Linux 7.3 on QEMU's virt machine
 * (oracle-probes/sysfs-after-boot.7.3.txt): the same device names on the platform and AMBA buses,
 * listed in the same getdents64 order, and the same IOMMU group presence for the devices the two
 * boards share. (Our board adds devices in the platform-bus window; QEMU's platform devices sit
 * behind no IOMMU, and neither do ours of the same names.)
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { boot } from "./fixture.js";

const recorded = readFileSync(
  new URL("../../../oracle-probes/sysfs-after-boot.7.3.txt", import.meta.url),
  "utf8",
);
const linuxDevices = recorded
  .split("\n")
  .map((l) => /^INFO (amba|platform) (\S+) driver=(\S+) iommu_group=(-?\d+)$/.exec(l))
  .filter((m) => m !== null)
  .map((m) => ({ bus: m[1]!, name: m[2]!, driver: m[3]!, group: Number(m[4]) }));

describe("sysfs after boot, as on a virt guest", () => {
  it("has the recorded device list to compare with", () => {
    expect(linuxDevices.length).toBeGreaterThan(40);
  });

  for (const bus of ["amba", "platform"] as const) {
    it(`lists every ${bus} device Linux has, in getdents64 order`, () => {
      const { p } = boot();
      const ours = p.readdir(`/sys/bus/${bus}/devices`).filter((n) => !n.startsWith("."));
      const theirs = linuxDevices.filter((d) => d.bus === bus).map((d) => d.name);
      expect(ours.filter((n) => theirs.includes(n))).toEqual(theirs);
    });
  }

  it("gives none of the shared devices an IOMMU group, as Linux does", () => {
    const { p } = boot();
    for (const d of linuxDevices) {
      expect(() => p.readlink(`/sys/bus/${d.bus}/devices/${d.name}/iommu_group`), d.name).toThrow();
    }
  });

  it("binds the SMMU to arm-smmu-v3 and shows the same attributes for it", () => {
    const { p } = boot();
    expect(p.readlink("/sys/bus/platform/devices/9050000.smmuv3/driver")).toMatch(/\/arm-smmu-v3$/);
    expect(p.readFile("/sys/bus/platform/devices/9050000.smmuv3/modalias")).toBe(
      "of:Nsmmuv3T(null)Carm,smmu-v3\n",
    );
    expect(p.readFile("/sys/bus/amba/devices/9000000.pl011/id")).toBe("00141011\n");
  });
});

describe("/proc/interrupts after boot, as on a virt guest", () => {
  const procInterrupts = /INFO \/proc\/interrupts = '([^']*)'/.exec(
    readFileSync(
      new URL("../../../oracle-probes/pl061-vfio-amba.7.3.txt", import.meta.url),
      "utf8",
    ),
  )![1]!;
  /** virq, hwirq, trigger and name of every GIC line (the per-CPU counts left out). */
  const gicLines = (text: string) =>
    text
      .split(/\n|\|/)
      .map((l) => /^\s*(\d+):[\s\d]+GICv3\s+(\d+) (Level|Edge)\s+(.*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => `${m[1]}: ${m[2]} ${m[3]} ${m[4]!.trim()}`);

  it("numbers, wires and names every line Linux has the same way (the CPU timer aside)", () => {
    const { p } = boot();
    const ours = gicLines(p.readFile("/proc/interrupts"));
    const theirs = gicLines(procInterrupts).filter((l) => !l.endsWith("arch_timer"));
    expect(theirs).toEqual([
      "13: 33 Level uart-pl011",
      "15: 106 Edge arm-smmu-v3-evtq",
      "17: 109 Edge arm-smmu-v3-gerror",
    ]);
    for (const line of theirs) expect(ours).toContain(line);
  });
});
