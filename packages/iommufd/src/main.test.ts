import { boards, Soc } from "@vfio-lab/hw-soc";
import { _IO, _IOR, Kernel, type KernelConfigInput, major, minor, O_RDWR } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { iommufdModule, iommufdOf } from "./main.js";
import { IOMMU_DESTROY, IOMMUFD_TYPE, iommu_destroy } from "./uapi.js";

function world(config: KernelConfigInput = {}, cmdline = "") {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const kernel = Kernel.boot(soc, { cmdline, config });
  kernel.modprobe(iommufdModule);
  const p = kernel.spawn({ comm: "iommufd-test" });
  return { kernel, p };
}

describe("/dev/iommu", () => {
  it("is a misc device node, mode 0660, with a dynamic minor", () => {
    const { p } = world();
    const st = p.stat("/dev/iommu");
    expect(st.mode & 0o7777).toBe(0o660);
    expect(major(st.rdev)).toBe(10);
  });

  it("/dev/vfio/vfio is iommufd's only with CONFIG_IOMMUFD_VFIO_CONTAINER", () => {
    expect(() => world().p.stat("/dev/vfio/vfio")).toThrowErrno("ENOENT");
    const { kernel, p } = world({ CONFIG_VFIO_CONTAINER: false });
    const st = p.stat("/dev/vfio/vfio");
    expect(st.mode & 0o7777).toBe(0o666);
    expect([major(st.rdev), minor(st.rdev)]).toEqual([10, 196]);
    const fd = p.open("/dev/vfio/vfio", O_RDWR);
    expect(kernel.dmesg().join("\n")).toContain(
      "iommufd: IOMMUFD is providing /dev/vfio/vfio, not VFIO.",
    );
    p.close(fd);
  });

  it("keeps the module loaded while a file is open", () => {
    const { kernel, p } = world();
    const fd = p.open("/dev/iommu", O_RDWR);
    expect(() => kernel.rmmod("iommufd")).toThrowErrno("EAGAIN");
    p.close(fd);
    kernel.rmmod("iommufd");
    expect(() => p.stat("/dev/iommu")).toThrowErrno("ENOENT");
  });

  it("shows allow_unsafe_interrupts under /sys/module/iommufd/parameters, writable by root", () => {
    const { kernel, p } = world({}, "iommufd.allow_unsafe_interrupts=1");
    expect(p.readFile("/sys/module/iommufd/parameters/allow_unsafe_interrupts")).toBe("Y\n");
    p.writeFile("/sys/module/iommufd/parameters/allow_unsafe_interrupts", "0");
    expect(iommufdOf(kernel).params.allow_unsafe_interrupts).toBe(false);
  });
});

describe("the ioctl dispatcher (selftest iommufd.cmd_fail / cmd_length)", () => {
  function open() {
    const w = world();
    const fd = w.p.open("/dev/iommu", O_RDWR);
    return { ...w, fd };
  }

  it("IOMMU_DESTROY of id 0 is ENOENT", () => {
    const { p, fd } = open();
    const va = p.malloc(4096);
    p.poke(va, iommu_destroy.encode({ size: iommu_destroy.size, id: 0 }));
    expect(() => p.ioctl(fd, IOMMU_DESTROY, va)).toThrowErrno("ENOENT");
  });

  it("a NULL argument is EFAULT, before the request is even validated", () => {
    const { p, fd } = open();
    expect(() => p.ioctl(fd, IOMMU_DESTROY, 0)).toThrowErrno("EFAULT");
    // An in-range number with the wrong encoding still reads the size first.
    expect(() => p.ioctl(fd, _IOR(IOMMUFD_TYPE, 0x80, 8), 0)).toThrowErrno("EFAULT");
  });

  it("an unknown number is ENOTTY, and so is a known number with another encoding", () => {
    const { p, fd } = open();
    const va = p.malloc(4096);
    p.poke(va, iommu_destroy.encode({ size: 8, id: 0 }));
    expect(() => p.ioctl(fd, _IO(IOMMUFD_TYPE, 0x7f), va)).toThrowErrno("ENOTTY");
    expect(() => p.ioctl(fd, _IOR(IOMMUFD_TYPE, 0x80, 8), va)).toThrowErrno("ENOTTY");
    expect(() => p.ioctl(fd, _IO(IOMMUFD_TYPE, 0x9f), va)).toThrowErrno("ENOTTY");
  });

  it("enforces the size protocol: short EINVAL, non-zero tail E2BIG, zero tail as exact", () => {
    const { p, fd } = open();
    const va = p.malloc(4096);
    p.poke(va, iommu_destroy.encode({ size: 7, id: 0 }));
    expect(() => p.ioctl(fd, IOMMU_DESTROY, va)).toThrowErrno("EINVAL");
    p.poke(va, new Uint8Array(16));
    p.poke(va, iommu_destroy.encode({ size: 9, id: 0 }));
    p.poke(va + 8, [0xaa]);
    expect(() => p.ioctl(fd, IOMMU_DESTROY, va)).toThrowErrno("E2BIG");
    p.poke(va + 8, [0]);
    expect(() => p.ioctl(fd, IOMMU_DESTROY, va)).toThrowErrno("ENOENT");
  });
});
