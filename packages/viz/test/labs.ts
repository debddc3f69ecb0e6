/**
 * The systems the viz tests draw: real labs booted with the VMM fixture of
 * `@vfio-lab/vfio-platform/testing`, each in one state a notebook shows, with the kernel trace of
 * how it got there.
 */

import type { KernelTraceRecord } from "@vfio-lab/kernel";
import { uioPdrvGenirqModule } from "@vfio-lab/uio";
import { VfioContainer, VfioGroup } from "@vfio-lab/vfio-core";
import {
  assignToDriver,
  boards,
  bootLab,
  DEV,
  type Lab,
  type LabDevice,
  SHARED_GROUP_DEVICES,
  sysfsWrite,
  unbind,
  Vmm,
} from "@vfio-lab/vfio-platform/testing";
import { expect } from "vitest";

export interface TracedLab extends Lab {
  /** Everything the trace bus delivered while the state was set up (after boot). */
  readonly records: KernelTraceRecord[];
}

function traced(lab: Lab, setup: (lab: Lab) => void): TracedLab {
  const rec = lab.kernel.trace.record();
  try {
    setup(lab);
  } finally {
    rec.stop();
  }
  return { ...lab, records: rec.records.filter((r) => r.type !== "hw") };
}

/** The default board as booted: every device on its kernel driver (or none). */
export function defaultLab(): TracedLab {
  return traced(bootLab(), () => {});
}

/**
 * The PL330 taken from dma-pl330 by vfio-amba and opened by a VMM over a type1 container, with
 * 64 KiB of guest RAM mapped at IOVA 0x100000; then one ioctl on a closed fd (EBADF).
 */
export function pl330Lab(): TracedLab & { vmmObj: Vmm; ramVa: number } {
  let vmmObj: Vmm | null = null;
  let ramVa = 0;
  const lab = traced(bootLab({ modules: ["vfio_amba"] }), (l) => {
    expect(assignToDriver(l.admin, DEV.PL330, "vfio-amba").driver).toBe("vfio-amba");
    vmmObj = new Vmm(l.vmm, "container-type1");
    vmmObj.assign(DEV.PL330);
    ramVa = vmmObj.mapGuestRam(0x10000, 0x10_0000n).va;
    expect(() => l.vmm.ioctl(99, 0x3b64)).toThrow();
  });
  return { ...lab, vmmObj: vmmObj!, ramVa };
}

/** No-IOMMU mode switched on at run time and the PL061 bound to vfio-amba: taint U. */
export function noiommuLab(): TracedLab {
  return traced(bootLab({ modules: ["vfio_amba"] }), (l) => {
    sysfsWrite(l.admin, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "1");
    expect(assignToDriver(l.admin, DEV.PL061, "vfio-amba").driver).toBe("vfio-amba");
  });
}

/** `c031000.dma-test` (no IOMMU group of its own) bound to uio_pdrv_genirq. */
export function uioLab(): TracedLab {
  return traced(bootLab({ modules: [uioPdrvGenirqModule] }), (l) => {
    expect(assignToDriver(l.admin, DEV.DMA_TEST1, "uio_pdrv_genirq").driver).toBe(
      "uio_pdrv_genirq",
    );
  });
}

export const ENGINE_A: LabDevice = {
  bus: "platform",
  name: SHARED_GROUP_DEVICES[0],
  base: 0x0c03_0000,
};
export const ENGINE_B: LabDevice = {
  bus: "platform",
  name: SHARED_GROUP_DEVICES[1],
  base: 0x0c03_1000,
};

/**
 * The shared-group board: engine A on vfio-platform; the VMM's SET_CONTAINER fails with EPERM
 * while B's kernel driver uses the group; B is unbound and the VMM claims the group.
 */
export function sharedGroupLab(): TracedLab {
  return traced(
    bootLab({
      board: boards.sharedGroup(),
      groupingIommu: true,
      modules: ["vfio_platform"],
      install: ["vfio_platform_dmatest"],
    }),
    (l) => {
      expect(assignToDriver(l.admin, ENGINE_A, "vfio-platform").driver).toBe("vfio-platform");
      const container = VfioContainer.open(l.vmm);
      const group = VfioGroup.open(l.vmm, 0);
      expect(() => group.setContainer(container)).toThrow();
      unbind(l.admin, ENGINE_B);
      group.setContainer(container);
    },
  );
}
