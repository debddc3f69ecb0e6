/**
 * vfio_main.c: what the core does for every device fd whatever the bus driver — the dispatcher,
 * VFIO_DEVICE_GET_REGION_INFO's capability protocol, VFIO_DEVICE_FEATURE's header checks,
 * registration's checks and taint, unregistration that waits for user space, and
 * vfio_pin_pages()'s refusals.
 */

import { copyToUser, IOMMU_WRITE, SysError, WouldBlockForeverError } from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_READ,
  vfio_region_info,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import {
  type CoreTestDevice,
  type CoreWorld,
  containerSetup,
  coreSetup,
  coreTestOps,
  DMAT0,
  getDeviceFd,
  TEST_DRIVER,
} from "../test/core-fixture.js";
import type { VfioCoreDevice, VfioDeviceOps } from "./vfio.js";
import { vfioInfoCapAdd } from "./vfio-info-cap.js";
import { vfioPinPages } from "./vfio-main.js";
import { vfioIommuType1Module } from "./vfio-modules.js";

interface World extends CoreWorld {
  vdev: () => VfioCoreDevice;
}

/**
 * The board with vfio and vfio_iommu_type1 loaded and c030000.dma-test registered through
 * `ops`, iommufd.allow_unsafe_interrupts left off.
 */
function world(ops: VfioDeviceOps<CoreTestDevice>): World {
  const w = coreSetup({
    safe: true,
    cmdline: "vfio_iommu_type1.allow_unsafe_interrupts=1",
    driver: { ops },
    bind: [DMAT0],
  });
  w.kernel.modprobe(vfioIommuType1Module);
  return {
    ...w,
    vdev: () => w.kernel.drivers.findDevice("platform", DMAT0.name)?.driverData as VfioCoreDevice,
  };
}

/** A device fd the legacy way: container, group, type1v2, GET_DEVICE_FD. */
function openDevice(w: World): number {
  const group = w.p.open(`/dev/vfio/${DMAT0.group}`);
  containerSetup(w, group);
  return getDeviceFd(w, group, DMAT0.name);
}

/** Region 0 is a readable 4 KiB window with a sparse-mmap capability of `areas` areas. */
function regionOps(areas: number): VfioDeviceOps<CoreTestDevice> {
  return {
    ...coreTestOps(),
    getRegionInfoCaps: (_vdev, info, caps) => {
      if (info.index !== 0) throw new SysError("EINVAL", "test_get_region_info", "index");
      info.flags = VFIO_REGION_INFO_FLAG_READ;
      info.size = 0x1000n;
      info.offset = 0n;
      if (areas === 0) return;
      const at = vfioInfoCapAdd(caps, 16 + 16 * areas, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1);
      const v = caps.view();
      v.setUint32(at + 8, areas, true);
      for (let i = 0; i < areas; i++) {
        v.setBigUint64(at + 16 + 16 * i, BigInt(i * 0x800), true);
        v.setBigUint64(at + 24 + 16 * i, 0x800n, true);
      }
    },
  };
}

function regionInfo(w: World, fd: number, argsz: number) {
  w.p.poke(w.arg, new Uint8Array(argsz + 16).fill(0xee));
  copyToUser(
    w.p.mm,
    w.arg,
    vfio_region_info.encode({ argsz, flags: 0, index: 0, cap_offset: 0, size: 0n, offset: 0n }),
    "test",
  );
  w.p.ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, w.arg);
  return { info: vfio_region_info.decode(w.p.peek(w.arg, 32)), raw: w.p.peek(w.arg, argsz + 16) };
}

describe("VFIO_DEVICE_GET_REGION_INFO (vfio_get_region_info)", () => {
  test("without capabilities: the driver's fields, 32 bytes copied back", () => {
    const w = world(regionOps(0));
    const fd = openDevice(w);
    const { info, raw } = regionInfo(w, fd, 40);
    expect(info).toMatchObject({
      argsz: 40,
      flags: VFIO_REGION_INFO_FLAG_READ,
      size: 0x1000n,
      cap_offset: 0,
    });
    expect([...raw.subarray(32, 40)]).toEqual(new Array(8).fill(0xee));
  });

  test("argsz too small for the chain: argsz says what is needed, cap_offset 0, success", () => {
    const w = world(regionOps(2));
    const fd = openDevice(w);
    const { info, raw } = regionInfo(w, fd, 32);
    expect(info.flags).toBe(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_CAPS);
    expect(info.argsz).toBe(32 + 48);
    expect(info.cap_offset).toBe(0);
    expect([...raw.subarray(32, 48)]).toEqual(new Array(16).fill(0xee));
  });

  test("argsz large enough: the chain follows the struct, its offsets rebased", () => {
    const w = world(regionOps(2));
    const fd = openDevice(w);
    const { info, raw } = regionInfo(w, fd, 80);
    expect(info).toMatchObject({ argsz: 80, cap_offset: 32 });
    const v = new DataView(raw.buffer, raw.byteOffset);
    expect([v.getUint16(32, true), v.getUint16(34, true), v.getUint32(36, true)]).toEqual([
      VFIO_REGION_INFO_CAP_SPARSE_MMAP,
      1,
      0,
    ]);
    expect(v.getUint32(40, true)).toBe(2);
    expect(v.getBigUint64(64, true)).toBe(0x800n);
    expect([...raw.subarray(80, 96)]).toEqual(new Array(16).fill(0xee));
  });

  test("argsz below 32 is EINVAL, a driver without regions EINVAL, the driver's errno passes", () => {
    const w = world(regionOps(0));
    const fd = openDevice(w);
    expect(() => regionInfo(w, fd, 31)).toThrowErrno("EINVAL");
    w.p.poke(
      w.arg,
      vfio_region_info.encode({
        argsz: 32,
        flags: 0,
        index: 7,
        cap_offset: 0,
        size: 0n,
        offset: 0n,
      }),
    );
    expect(() => w.p.ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, w.arg)).toThrowErrno("EINVAL");
    const bare = world(coreTestOps());
    const fd2 = openDevice(bare);
    expect(() => regionInfo(bare, fd2, 32)).toThrowErrno("EINVAL");
  });
});

describe("VFIO_DEVICE_FEATURE (vfio_ioctl_device_feature)", () => {
  function feature(w: World, fd: number, argsz: number, flags: number): number {
    w.p.poke(w.arg, new Uint8Array(new Uint32Array([argsz, flags]).buffer));
    return w.p.ioctl(fd, VFIO_DEVICE_FEATURE, w.arg);
  }

  test("header checks: short argsz, unknown flag bits, GET with SET without PROBE", () => {
    const seen: number[] = [];
    const w = world({
      ...coreTestOps(),
      deviceFeature: (_v, _c, flags) => {
        seen.push(flags);
        return 0;
      },
    });
    const fd = openDevice(w);
    expect(() => feature(w, fd, 7, VFIO_DEVICE_FEATURE_GET | 10)).toThrowErrno("EINVAL");
    expect(() => feature(w, fd, 8, (1 << 19) | 10)).toThrowErrno("EINVAL");
    expect(() =>
      feature(w, fd, 8, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | 10),
    ).toThrowErrno("EINVAL");
    expect(seen).toEqual([]);
    const probe =
      VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | 10;
    expect(feature(w, fd, 8, probe)).toBe(0);
    expect(seen).toEqual([probe]);
  });

  test("migration and DMA logging need mig_ops/log_ops (ENOTTY), PRECOPY_INFOv2 needs PRE_COPY (EINVAL); unknown ids ENOTTY", () => {
    const w = world(coreTestOps());
    const fd = openDevice(w);
    for (const id of [1, 2, 6, 7, 8, 9]) {
      expect(() => feature(w, fd, 16, VFIO_DEVICE_FEATURE_GET | id)).toThrowErrno("ENOTTY");
    }
    // MIG_PRECOPY_INFOv2 asks the migration flags, not mig_ops: no PRE_COPY is EINVAL.
    expect(() => feature(w, fd, 16, VFIO_DEVICE_FEATURE_SET | 12)).toThrowErrno("EINVAL");
    expect(() => feature(w, fd, 16, VFIO_DEVICE_FEATURE_GET | 10)).toThrowErrno("ENOTTY");
  });
});

describe("the device fd dispatcher (vfio_device_fops_*)", () => {
  test("a driver without ioctl, read, write or mmap answers EINVAL for each", () => {
    const ops = { ...coreTestOps() };
    delete (ops as { ioctl?: unknown }).ioctl;
    delete (ops as { read?: unknown }).read;
    delete (ops as { write?: unknown }).write;
    delete (ops as { mmap?: unknown }).mmap;
    const w = world(ops);
    const fd = openDevice(w);
    w.p.poke(w.arg, new Uint8Array(new Uint32Array([16, 0, 0, 0]).buffer));
    expect(() => w.p.ioctl(fd, VFIO_DEVICE_GET_INFO, w.arg)).toThrowErrno("EINVAL");
    expect(() => w.p.pread(fd, w.arg, 4, 0)).toThrowErrno("EINVAL");
    expect(() => w.p.pwrite(fd, w.arg, 4, 0)).toThrowErrno("EINVAL");
    expect(() => w.p.mmap(0, 4096, 1, 1, fd, 0)).toThrowErrno("EINVAL");
  });
});

describe("registration (__vfio_register_dev)", () => {
  test("a driver lacking the iommufd ops: WARN and EINVAL, nothing registered", () => {
    const ops = { ...coreTestOps() };
    delete (ops as { attachIoas?: unknown }).attachIoas;
    const w = world(ops);
    expect(w.vdev()).toBeNull();
    const log = w.kernel.printk
      .records()
      .map((r) => r.text)
      .join("\n");
    expect(log).toContain("__vfio_register_dev");
    expect(log).toContain(`probe with driver ${TEST_DRIVER} failed with error -22`);
    expect(w.p.readdir("/sys/class/vfio-dev").filter((n) => !n.startsWith("."))).toEqual([]);
  });
});

describe("unregistration (vfio_unregister_group_dev)", () => {
  test("waits for user space: request() every 10 s until the fd closes", () => {
    const requests: number[] = [];
    let w!: World;
    let fd = -1;
    w = world({
      ...coreTestOps(),
      request: (_v, count) => {
        requests.push(count);
        // The VMM reacts to the second request by closing the device.
        if (count === 1) w.kernel.soc.clock.schedule(1_000, "vmm closes", () => w.p.close(fd));
      },
    });
    fd = openDevice(w);
    const t0 = w.kernel.scheduler.now;
    w.p.writeFile(`/sys/bus/platform/devices/${DMAT0.name}/driver/unbind`, DMAT0.name);
    expect(requests).toEqual([0, 1]);
    expect(w.kernel.scheduler.now - t0).toBeGreaterThanOrEqual(10_000_000_000);
    expect(w.p.readdir("/sys/class/vfio-dev").filter((n) => !n.startsWith("."))).toEqual([]);
  });

  test("a user that never gives the device back is a simulation deadlock, not a hang", () => {
    const w = world(coreTestOps());
    openDevice(w);
    expect(() =>
      w.p.writeFile(`/sys/bus/platform/devices/${DMAT0.name}/driver/unbind`, DMAT0.name),
    ).toThrow(WouldBlockForeverError);
  });
});

describe("vfio_pin_pages", () => {
  test("EINVAL for no pages, a closed device, and a driver without dma_unmap", () => {
    const w = world(coreTestOps());
    const vdev = w.vdev();
    expect(() => vfioPinPages(vdev, 0n, 1, IOMMU_WRITE)).toThrowErrno("EINVAL");
    openDevice(w);
    expect(() => vfioPinPages(vdev, 0n, 0, IOMMU_WRITE)).toThrowErrno("EINVAL");
    expect(() => vfioPinPages(vdev, 0n, 1, IOMMU_WRITE)).toThrowErrno("EINVAL");
  });
});
