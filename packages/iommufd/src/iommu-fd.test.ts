import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { Kernel, MFD_CLOEXEC } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { IommuFd } from "./iommu-fd.js";
import { iommufdModule } from "./main.js";
import {
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
} from "./uapi.js";

const U64_MAX = 2n ** 64n - 1n;

function open() {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const kernel = Kernel.boot(soc);
  kernel.modprobe(iommufdModule);
  const p = kernel.spawn({ comm: "vmm" });
  return { kernel, p, iommu: IommuFd.open(p) };
}

describe("IommuFd, the typed user-space wrapper", () => {
  it("allocates, maps (kernel-chosen and fixed IOVAs), copies, unmaps and destroys", () => {
    const { p, iommu } = open();
    const ioas = iommu.ioasAlloc();
    expect(ioas).toBe(1);
    const buf = p.malloc(4 * PAGE_SIZE);
    const iova = iommu.map(ioas, buf, 4 * PAGE_SIZE);
    expect(iova % BigInt(PAGE_SIZE)).toBe(0n);
    expect(iova).toBeGreaterThan(0n); // IOVA 0 is never chosen
    const fixed = iommu.map(ioas, buf, PAGE_SIZE, { iova: 0x1000_0000n, writeable: false });
    expect(fixed).toBe(0x1000_0000n);
    const other = iommu.ioasAlloc();
    const copied = iommu.copy(other, ioas, iova, 2 * PAGE_SIZE);
    expect(iommu.unmap(other, copied, 2 * PAGE_SIZE)).toBe(BigInt(2 * PAGE_SIZE));
    expect(iommu.unmapAll(ioas)).toBe(BigInt(5 * PAGE_SIZE));
    iommu.destroy(other);
    expect(() => iommu.destroy(other)).toThrowErrno("ENOENT");
    iommu.close();
  });

  it("follows the IOVA_RANGES EMSGSIZE protocol: asks again with the count the kernel gave", () => {
    const { iommu } = open();
    const ioas = iommu.ioasAlloc();
    expect(iommu.iovaRanges(ioas, 0)).toEqual({
      ranges: [{ start: 0n, last: U64_MAX }],
      alignment: 1n,
    });
  });

  it("sets allowed IOVAs that steer the kernel's choice", () => {
    const { p, iommu } = open();
    const ioas = iommu.ioasAlloc();
    iommu.allowIovas(ioas, [{ start: 0x4000_0000n, last: 0x4fff_ffffn }]);
    const iova = iommu.map(ioas, p.malloc(PAGE_SIZE), PAGE_SIZE);
    expect(iova >= 0x4000_0000n && iova <= 0x4fff_ffffn).toBe(true);
    iommu.allowIovas(ioas, []);
  });

  it("maps a memfd by file offset", () => {
    const { p, iommu } = open();
    const ioas = iommu.ioasAlloc();
    const mfd = p.memfdCreate("guest-ram", MFD_CLOEXEC);
    p.ftruncate(mfd, 8 * PAGE_SIZE);
    const iova = iommu.mapFile(ioas, mfd, PAGE_SIZE, 2 * PAGE_SIZE);
    expect(iommu.unmap(ioas, iova, 2 * PAGE_SIZE)).toBe(BigInt(2 * PAGE_SIZE));
  });

  it("reads and writes options and the VFIO compatibility IOAS", () => {
    const { iommu } = open();
    expect(iommu.optionGet(IOMMU_OPTION_RLIMIT_MODE)).toBe(0n);
    const ioas = iommu.ioasAlloc();
    expect(iommu.optionGet(IOMMU_OPTION_HUGE_PAGES, ioas)).toBe(1n);
    iommu.optionSet(IOMMU_OPTION_HUGE_PAGES, 0, ioas);
    expect(iommu.optionGet(IOMMU_OPTION_HUGE_PAGES, ioas)).toBe(0n);
    expect(() => iommu.vfioIoas(IOMMU_VFIO_IOAS_GET)).toThrowErrno("ENODEV");
    iommu.vfioIoas(IOMMU_VFIO_IOAS_SET, ioas);
    expect(iommu.vfioIoas(IOMMU_VFIO_IOAS_GET)).toBe(ioas);
  });

  it("surfaces the kernel's errno and refusing function", () => {
    const { iommu } = open();
    expect(() => iommu.map(7, 0x1000, PAGE_SIZE)).toThrowErrno("ENOENT");
    expect(() => iommu.getHwInfo(1)).toThrowErrno("ENOENT");
    expect(() => iommu.noiommuGetPa(1, 0n)).toThrowErrno("ENOENT");
    expect(() => iommu.noiommuGetPa(1, 0n, 0n)).toThrowErrno("EINVAL");
  });

  it("IOMMU_IOAS_NOIOMMU_GET_PA needs CAP_SYS_RAWIO before anything else", () => {
    const { kernel } = open();
    const p = kernel.spawn({ comm: "unprivileged", caps: [] });
    const iommu = IommuFd.open(p);
    expect(() => iommu.noiommuGetPa(1, 0n)).toThrowErrno("EPERM");
  });
});
