/**
 * Seed 002's point, made concrete: with the no-IOMMU cdev series a device without an IOMMU
 * gets its DMA addresses from IOMMU_IOAS_NOIOMMU_GET_PA over pages iommufd has *pinned*, so
 * they stay put when the kernel compacts memory. The old no-IOMMU recipe — mlock() the buffer
 * and read its PFNs from /proc/self/pagemap — does not: an mlocked page may still migrate, and
 * the address handed to the device goes stale.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { expect, it } from "vitest";
import { iommufdDeviceAttach, iommufdDeviceDetach, iommufdDeviceUnbind } from "../src/device.js";
import { IommuFd } from "../src/iommu-fd.js";
import { bindDev, devSetup, PL061 } from "./device-fixture.js";
import { buffer, ioasAlloc } from "./fixture.js";

/** The physical address /proc/self/pagemap gives for `va` (root sees PFNs). */
function pagemapPhys(p: ReturnType<typeof devSetup>["p"], va: number): bigint {
  const fd = p.open("/proc/self/pagemap", 0);
  const out = p.malloc(8);
  p.pread(fd, out, 8, (va / PAGE_SIZE) * 8);
  p.close(fd);
  const entry = new DataView(p.peek(out, 8).buffer).getBigUint64(0, true);
  return (entry & ((1n << 55n) - 1n)) * BigInt(PAGE_SIZE) + BigInt(va % PAGE_SIZE);
}

it("GET_PA stays right across page migration; an mlocked buffer's pagemap address does not", () => {
  const w = devSetup();
  const idev = bindDev(w, PL061);
  const iommu = IommuFd.fromFd(w.p, w.fd);
  const ioas = ioasAlloc(w);
  iommufdDeviceAttach(idev, 0, ioas);

  // The new way: an IOAS mapping, pinned by the noiommu HWPT.
  const dmaBuf = buffer(w, PAGE_SIZE);
  w.p.poke(dmaBuf, [0xd0]);
  const iova = iommu.map(ioas, dmaBuf, PAGE_SIZE);
  const before = iommu.noiommuGetPa(ioas, iova, PAGE_SIZE);

  // The old way: mlock() and pagemap.
  const oldBuf = buffer(w, PAGE_SIZE);
  w.p.poke(oldBuf, [0x01]);
  w.p.mlock(oldBuf, PAGE_SIZE);
  const oldPhys = pagemapPhys(w.p, oldBuf);

  const moves = w.kernel.migratePages();

  // The mlocked page moved: a device told `oldPhys` would now hit a freed frame.
  expect(moves.some((m) => BigInt(m.oldPfn * PAGE_SIZE) === oldPhys)).toBe(true);
  expect(pagemapPhys(w.p, oldBuf)).not.toBe(oldPhys);
  // The pinned page did not: the address iommufd gave is still the page's.
  expect(iommu.noiommuGetPa(ioas, iova, PAGE_SIZE)).toEqual(before);
  expect(w.p.mm.translate(dmaBuf) * PAGE_SIZE).toBe(Number(before.phys));
  expect(w.kernel.soc.memory.load(Number(before.phys), 1)).toBe(0xd0);

  iommufdDeviceDetach(idev, 0);
  iommufdDeviceUnbind(idev);
});
