/**
 * The model against a real Linux 7.3: replays oracle-probes/vfio-platform-common.c (answers in
 * vfio-platform-common.7.3.txt, cited by ORC number). The probe's DTB turns QEMU's PL061 node
 * into a `calxeda,hb-xgmac` platform device; the model boots the same transform of its board.
 * One difference is the hardware behind the node: QEMU keeps its PL061, the model instantiates
 * its XGMAC model there (and the model's native calxedaxgmac driver, absent from the oracle's
 * kernel, fails to probe it at boot for want of its second IRQ) — so register contents are not
 * compared, only what vfio-platform does.
 */

import { boards } from "@vfio-lab/hw-soc";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  vfio_device_info,
  vfio_irq_info,
  vfio_region_info,
} from "@vfio-lab/kernel/uapi";
import { regionOffset } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import {
  assign,
  boot,
  driverOf,
  type Opened,
  openDevice,
  type World,
} from "../test/platform-fixture.js";
import { vfioPlatformCalxedaxgmacModule } from "./reset/vfio-platform-calxedaxgmac.js";
import { vfioPlatformModule } from "./vfio-platform.js";

const DEV = { bus: "platform", name: "9030000.pl061", base: 0x0903_0000 } as const;
const VIRTIO = { bus: "platform", name: "a000000.virtio_mmio", base: 0x0a00_0000 } as const;
const PS = 4096;
const DEPRECATION =
  "vfio-platform 9030000.pl061: DEPRECATION: VFIO Calxeda xgmac platform reset is deprecated and will be removed in a future kernel release";

/** The probe's `-dtb virt-pl061-xgmac.dtb`, in the model's terms, and the probe's process. */
function bootXgmacPl061(): World {
  const board = boards
    .virtLab()
    .replace('compatible = "arm,pl061", "arm,primecell";', 'compatible = "calxeda,hb-xgmac";');
  // ORC 001-005: vfio with enable_unsafe_noiommu_mode=1, then vfio_platform_base, vfio_platform.
  const w = boot({ board, noiommu: true, modules: ["vfio_platform"] });
  return { ...w, p: w.kernel.spawn({ comm: "probe" }) };
}

/** kmsg since the last call, without timestamps, with the opener's pid folded. */
function kmsg(w: World): string[] {
  const lines = w.kernel.dmesg().map((l) => l.replace(/^\[[ \d.]+\] /, ""));
  w.kernel.printk.clear();
  return lines.map((l) => l.replace(/\(probe:\d+\)/, "(probe:PID)"));
}

function ioctlStruct<T extends Record<string, unknown>>(
  w: World & Opened,
  cmd: number,
  layout: { size: number; encode(v: T): Uint8Array; decode(b: Uint8Array): T },
  value: T,
): T {
  const va = w.p.malloc(layout.size);
  w.p.poke(va, layout.encode(value));
  w.p.ioctl(w.device.fd, cmd, va);
  return layout.decode(w.p.peek(va, layout.size));
}

function refcnt(w: World): string {
  return w.p.readFile("/sys/module/vfio_platform_calxedaxgmac/refcnt");
}

describe("oracle vfio-platform-common.7.3.txt", () => {
  test("calxeda,hb-xgmac without a reset module, with it, and after a reload (ORC 006-054)", () => {
    const w = bootXgmacPl061();
    kmsg(w);
    // ORC 006-008: drivers_probe succeeds, bind returns the probe's ENOENT; each logs a pair.
    assign(w.p, DEV);
    expect(() =>
      w.p.writeFile("/sys/bus/platform/drivers/vfio-platform/bind", DEV.name),
    ).toThrowErrno("ENOENT");
    expect(driverOf(w.p, DEV)).toBe(null);
    const pair = [
      "vfio-platform 9030000.pl061: VFIO: No reset function found for device 9030000.pl061",
      "vfio-platform 9030000.pl061: probe with driver vfio-platform failed with error -2",
    ];
    expect(kmsg(w)).toEqual([...pair, ...pair]);

    // ORC 009-012
    w.kernel.modprobe(vfioPlatformCalxedaxgmacModule);
    expect(refcnt(w)).toBe("0\n");
    w.p.writeFile("/sys/bus/platform/drivers_probe", DEV.name);
    expect(driverOf(w.p, DEV)).toBe("vfio-platform");
    expect(kmsg(w).filter((l) => !l.includes("Adding to iommu group"))).toEqual([
      "vfio-platform 9030000.pl061: Adding kernel taint for vfio-noiommu group on device",
      "vfio-platform 9030000.pl061: Adding kernel taint for vfio-noiommu cdev",
    ]);
    expect(refcnt(w)).toBe("1\n");
    expect(() => w.kernel.rmmod("vfio_platform_calxedaxgmac")).toThrowErrno("EAGAIN");

    // ORC 013-017: `VFIO: reset`, then the deprecation, then the core's no-IOMMU line.
    const o = { ...w, ...openDevice(w.p, DEV) };
    expect(kmsg(w)).toEqual([
      "vfio-platform 9030000.pl061: VFIO: reset",
      DEPRECATION,
      "vfio-platform 9030000.pl061: vfio-noiommu device opened by user (probe:PID)",
    ]);
    // ORC 018: flags 0x5, 1, 1; the 8 bytes after the first 16 untouched.
    const va = w.p.malloc(vfio_device_info.size);
    w.p.poke(va, new Uint8Array(vfio_device_info.size).fill(0xee));
    w.p.poke(va, new Uint8Array([0x18, 0, 0, 0]));
    w.p.ioctl(o.device.fd, VFIO_DEVICE_GET_INFO, va);
    expect([...w.p.peek(va, 24)]).toEqual([
      0x18, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee,
      0xee,
    ]);
    // ORC 019
    w.p.poke(va, new Uint8Array([15, 0, 0, 0]));
    expect(() => w.p.ioctl(o.device.fd, VFIO_DEVICE_GET_INFO, va)).toThrowErrno("EINVAL");
    // ORC 020-021
    const ri = {
      argsz: vfio_region_info.size,
      flags: 0,
      index: 0,
      cap_offset: 0,
      size: 0n,
      offset: 0n,
    };
    expect(ioctlStruct(o, VFIO_DEVICE_GET_REGION_INFO, vfio_region_info, ri)).toMatchObject({
      flags: 0x7,
      size: 0x1000n,
      offset: 0n,
      cap_offset: 0,
    });
    expect(() =>
      ioctlStruct(o, VFIO_DEVICE_GET_REGION_INFO, vfio_region_info, { ...ri, index: 1 }),
    ).toThrowErrno("EINVAL");
    // ORC 022-024
    const ii = { argsz: vfio_irq_info.size, flags: 0, index: 0, count: 0 };
    expect(ioctlStruct(o, VFIO_DEVICE_GET_IRQ_INFO, vfio_irq_info, ii)).toMatchObject({
      flags: 0x7,
      count: 1,
    });
    expect(() =>
      ioctlStruct(o, VFIO_DEVICE_GET_IRQ_INFO, vfio_irq_info, { ...ii, index: 1 }),
    ).toThrowErrno("EINVAL");
    expect(() =>
      ioctlStruct(o, VFIO_DEVICE_GET_IRQ_INFO, vfio_irq_info, { ...ii, argsz: 15 }),
    ).toThrowErrno("EINVAL");
    // ORC 025: only `VFIO: reset` — the deprecation was printed once already.
    o.device.reset();
    expect(kmsg(w)).toEqual(["vfio-platform 9030000.pl061: VFIO: reset"]);
    // ORC 027
    expect(() => w.p.ioctl(o.device.fd, (0x3b << 8) | (100 + 40), 0)).toThrowErrno("ENOTTY");
    // ORC 028-035
    const buf = w.p.malloc(16);
    expect(w.p.pread(o.device.fd, buf, 8, 0xffc)).toBe(4);
    expect(() => w.p.pread(o.device.fd, buf, 4, 0x1000)).toThrowErrno("EINVAL");
    expect(() => w.p.pread(o.device.fd, buf, 4, regionOffset(1))).toThrowErrno("EINVAL");
    expect(w.p.pread(o.device.fd, buf, 7, 0xfe1)).toBe(7);
    expect(w.p.read(o.device.fd, buf, 4)).toBe(4);
    expect(w.p.pread(o.device.fd, buf, 4, 0xfe0)).toBe(4);
    expect(() => w.p.pread(o.device.fd, 8, 4, 0xfe0)).toThrowErrno("EFAULT");
    // ORC 036-040
    const rw = PROT_READ | PROT_WRITE;
    const fd = o.device.fd;
    expect(() => w.p.mmap(0, PS, rw, MAP_PRIVATE, fd, 0)).toThrowErrno("EINVAL");
    expect(() => w.p.mmap(0, 2 * PS, rw, MAP_SHARED, fd, 0)).toThrowErrno("EINVAL");
    expect(() => w.p.mmap(0, PS, rw, MAP_SHARED, fd, PS)).toThrowErrno("EINVAL");
    expect(() => w.p.mmap(0, PS, rw, MAP_SHARED, fd, regionOffset(1))).toThrowErrno("EINVAL");
    w.p.munmap(w.p.mmap(0, PS, rw, MAP_SHARED, fd, 0), PS);
    o.close();
    expect(kmsg(w)).toEqual(["vfio-platform 9030000.pl061: VFIO: reset"]);

    // ORC 041-045: a second open has no deprecation.
    openDevice(w.p, DEV).close();
    expect(kmsg(w)).toEqual([
      "vfio-platform 9030000.pl061: VFIO: reset",
      "vfio-platform 9030000.pl061: vfio-noiommu device opened by user (probe:PID)",
      "vfio-platform 9030000.pl061: VFIO: reset",
    ]);

    // ORC 046-054: unbind drops the reference; rmmod, reload: the deprecation once more.
    w.p.writeFile(`/sys/bus/platform/devices/${DEV.name}/driver/unbind`, DEV.name);
    expect(refcnt(w)).toBe("0\n");
    w.kernel.rmmod("vfio_platform_calxedaxgmac");
    w.kernel.modprobe(vfioPlatformCalxedaxgmacModule);
    w.p.writeFile("/sys/bus/platform/drivers_probe", DEV.name);
    expect(driverOf(w.p, DEV)).toBe("vfio-platform");
    kmsg(w);
    openDevice(w.p, DEV).close();
    expect(kmsg(w)).toEqual([
      "vfio-platform 9030000.pl061: VFIO: reset",
      DEPRECATION,
      "vfio-platform 9030000.pl061: vfio-noiommu device opened by user (probe:PID)",
      "vfio-platform 9030000.pl061: VFIO: reset",
    ]);
  });

  test("a000000.virtio_mmio: ENOENT, then reset_required=0 (ORC 055-074)", () => {
    const w = bootXgmacPl061();
    assign(w.p, VIRTIO);
    expect(() =>
      w.p.writeFile("/sys/bus/platform/drivers/vfio-platform/bind", VIRTIO.name),
    ).toThrowErrno("ENOENT");
    // ORC 059-060: the parameter is read-only in sysfs, so the module is reloaded with it.
    w.kernel.rmmod("vfio_platform");
    w.kernel.modprobe(vfioPlatformModule, { reset_required: false });
    expect(w.p.readFile("/sys/module/vfio_platform/parameters/reset_required")).toBe("N\n");
    // Registering the driver binds every device whose override names it.
    expect(driverOf(w.p, VIRTIO)).toBe("vfio-platform");
    kmsg(w);
    const o = { ...w, ...openDevice(w.p, VIRTIO) };
    expect(kmsg(w)).toEqual([
      "vfio-platform a000000.virtio_mmio: VFIO: no reset function found!",
      "vfio-platform a000000.virtio_mmio: vfio-noiommu device opened by user (probe:PID)",
    ]);
    expect(o.device.info()).toMatchObject({ flags: 0x4, numRegions: 1, numIrqs: 1 });
    expect(o.device.regionInfo(0)).toMatchObject({ flags: 0x3, size: 0x200n, offset: 0n });
    const buf = w.p.malloc(16);
    expect(w.p.pread(o.device.fd, buf, 8, 0x1fe)).toBe(2);
    expect(() => w.p.pread(o.device.fd, buf, 1, 0x200)).toThrowErrno("EINVAL");
    expect(w.p.pread(o.device.fd, buf, 7, 1)).toBe(7);
    expect(w.p.pread(o.device.fd, buf, 4, 0)).toBe(4);
    // "virt", the virtio-mmio magic.
    expect([...w.p.peek(buf, 4)]).toEqual([0x76, 0x69, 0x72, 0x74]);
    expect(() => w.p.mmap(0, PS, PROT_READ, MAP_SHARED, o.device.fd, 0)).toThrowErrno("EINVAL");
    expect(() => o.device.reset()).toThrowErrno("EINVAL");
    o.close();
    expect(kmsg(w)).toEqual([
      "vfio-platform a000000.virtio_mmio: VFIO: no reset function found!",
      "vfio-platform a000000.virtio_mmio: VFIO: no reset function found!",
    ]);
  });
});
