import { DMA_TEST_ID } from "@vfio-lab/hw-soc";
import { expect, test } from "vitest";
import { VFIO_PLATFORM } from "../vfio-platform.js";
import { assignToDriver } from "./bind.js";
import { boards, virtLab } from "./boards.js";
import { bootLab, DEV } from "./boot.js";
import { UserMmio } from "./user-mmio.js";
import { Vmm } from "./vmm.js";

function lab(board = virtLab(), cmdline = "") {
  const l = bootLab({
    board,
    cmdline,
    modules: ["vfio_platform"],
    install: ["vfio_platform_dmatest"],
  });
  assignToDriver(l.admin, DEV.DMA_TEST0, VFIO_PLATFORM);
  return l;
}

test("a container VMM maps guest RAM only after a device set its IOMMU model", () => {
  const vmm = new Vmm(lab().vmm, "container-type1");
  expect(() => vmm.mapGuestRam(0x1000, 0x10_0000n)).toThrow(/after assigning a device/);
  vmm.assign(DEV.DMA_TEST0);
  expect(vmm.mapGuestRam(0x1000, 0x10_0000n).dmaAddr(0x10)).toBe(0x10_0010n);
});

test("no-IOMMU guest RAM: dmaAddr is the physical address, checked for contiguity", () => {
  const l = lab(boards.withoutIommus(["dma-test@30000"]), "vfio.enable_unsafe_noiommu_mode=1");
  const vmm = new Vmm(l.vmm, "noiommu-cdev");
  vmm.assign(DEV.DMA_TEST0);
  const ram = vmm.mapGuestRam(0x4000, 0x10_0000n);
  const pa = ram.dmaAddr(0x123, 16);
  expect(pa).toBe(BigInt(l.vmm.mm.translate(ram.va) * 0x1000 + 0x123));
  expect(() => ram.dmaAddr(0x3ffe, 4)).toThrow(RangeError);
});

test("UserMmio: loads and stores reach the device; outside the mapping is a RangeError", () => {
  const l = lab();
  const dev = new Vmm(l.vmm, "iommufd-cdev").assign(DEV.DMA_TEST0);
  const regs = dev.mmio(0);
  expect(regs.readl(0)).toBe(DMA_TEST_ID);
  expect(regs.readb(0)).toBe(DMA_TEST_ID & 0xff);
  regs.writel(0x18, 0x1234);
  expect(l.soc.bus.read(DEV.DMA_TEST0.base + 0x18, 4)).toBe(0x1234);
  expect(() => regs.readl(0x1000)).toThrow(RangeError);
  regs.unmap();
  expect(() => new UserMmio(l.vmm, regs.va, 0x1000).readl(0)).toThrowErrno("EFAULT");
});
