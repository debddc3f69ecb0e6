/**
 * What the device, HWPT, fault-queue and vIOMMU tests share: a booted board with iommufd loaded
 * (allow_unsafe_interrupts on unless asked otherwise: no device of the board has isolated MSIs),
 * the board devices the selftests' mock devices are replaced by, binding them the way VFIO will
 * (kernel driver unbound through sysfs, then iommufd_device_bind()), and the raw ioctls of
 * hw_pagetable.c, device.c and eventq.c.
 *
 *   PL330        c000000.dma        amba      IOMMU group 2 (StreamID 0x10)
 *   XGMAC        c010000.ethernet   platform  IOMMU group 0 (StreamID 0x20)
 *   DMA test 0   c030000.dma-test   platform  IOMMU group 1 (StreamID 0x30)
 *   DMA test 1   c031000.dma-test   platform  no IOMMU: arm-smmu-v3 refuses its StreamID 0x30,
 *                                             which aliases engine 0's
 *   PL061        9030000.pl061      amba      no IOMMU
 *
 * arm-smmu-v3 gives every platform device a group of its own (generic_device_group()), so the
 * board has no IOMMU group of two devices; a second iommufd_device_bind() of the same device
 * into the same context stands in for a sibling (same group, same owner, another DEVICE).
 */

import { DMA_TEST_CTRL, DMA_TEST_STATUS } from "@vfio-lab/hw-soc";
import type { IommuClient } from "@vfio-lab/kernel";
import { type IommufdDevice, iommufdDeviceBind } from "../src/device.js";
import type { IommufdCtx } from "../src/main.js";
import {
  IOMMU_FAULT_QUEUE_ALLOC,
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  iommu_fault_alloc,
  iommu_hw_info,
  iommu_hwpt_alloc,
} from "../src/uapi.js";
import { ictxOf, ioctlStruct, setup, type World, type WorldOptions } from "./fixture.js";

export interface BoardDev {
  readonly bus: "amba" | "platform";
  readonly name: string;
  /** The IOMMU group (null: no IOMMU). */
  readonly group: number | null;
  /** The MMIO base of the device. */
  readonly base: number;
}

export const PL330: BoardDev = { bus: "amba", name: "c000000.dma", group: 2, base: 0x0c00_0000 };
export const XGMAC: BoardDev = {
  bus: "platform",
  name: "c010000.ethernet",
  group: 0,
  base: 0x0c01_0000,
};
export const DMAT0: BoardDev = {
  bus: "platform",
  name: "c030000.dma-test",
  group: 1,
  base: 0x0c03_0000,
};
export const DMAT1: BoardDev = {
  bus: "platform",
  name: "c031000.dma-test",
  group: null,
  base: 0x0c03_1000,
};
export const PL061: BoardDev = {
  bus: "amba",
  name: "9030000.pl061",
  group: null,
  base: 0x0903_0000,
};

export interface DevWorld extends World {
  /** The kernel side of the test's /dev/iommu. */
  readonly ictx: IommufdCtx;
}

export interface DevWorldOptions extends WorldOptions {
  /** iommufd.allow_unsafe_interrupts (default true). */
  readonly unsafeInterrupts?: boolean;
}

export function devSetup(opts: DevWorldOptions = {}): DevWorld {
  const unsafe = opts.unsafeInterrupts ?? true;
  const cmdline = [opts.cmdline ?? "", unsafe ? "iommufd.allow_unsafe_interrupts=1" : ""]
    .filter((s) => s !== "")
    .join(" ");
  const w = setup({ ...opts, cmdline });
  return { ...w, ictx: ictxOf(w) };
}

/** The kernel's device object. */
export function deviceOf(w: World, d: BoardDev): IommuClient {
  const dev = w.kernel.drivers.findDevice(d.bus, d.name);
  if (!dev) throw new Error(`no ${d.bus} device ${d.name}`);
  return dev;
}

/** echo <dev> > /sys/bus/<bus>/devices/<dev>/driver/unbind (no-op when unbound). */
export function unbindDriver(w: World, d: BoardDev): void {
  const path = `/sys/bus/${d.bus}/devices/${d.name}/driver`;
  try {
    w.p.readlink(path);
  } catch {
    return;
  }
  w.p.writeFile(`${path}/unbind`, d.name);
}

/** Unbinds the device's kernel driver and binds it to the test's iommufd. */
export function bindDev(w: DevWorld, d: BoardDev): IommufdDevice {
  unbindDriver(w, d);
  return iommufdDeviceBind(w.ictx, deviceOf(w, d));
}

/** The IOMMU group of `d` as the IOMMU core holds it. */
export function groupOf(w: World, d: BoardDev) {
  const g = w.kernel.iommu.deviceGroup(deviceOf(w, d));
  if (!g) throw new Error(`${d.name} has no IOMMU group`);
  return g;
}

export interface HwptAllocArgs {
  readonly flags?: number;
  readonly faultId?: number;
  readonly dataType?: number;
  readonly dataLen?: number;
  readonly dataUptr?: bigint;
  readonly reserved?: number;
  readonly size?: number;
}

/** IOMMU_HWPT_ALLOC → out_hwpt_id. */
export function hwptAlloc(w: World, devId: number, ptId: number, a: HwptAllocArgs = {}): number {
  return ioctlStruct(
    w,
    IOMMU_HWPT_ALLOC,
    iommu_hwpt_alloc,
    {
      size: 0,
      flags: a.flags ?? 0,
      dev_id: devId,
      pt_id: ptId,
      __reserved: a.reserved ?? 0,
      data_type: a.dataType ?? 0,
      data_len: a.dataLen ?? 0,
      data_uptr: a.dataUptr ?? 0n,
      fault_id: a.faultId ?? 0,
    },
    a.size === undefined ? {} : { size: a.size },
  ).out_hwpt_id;
}

/** IOMMU_FAULT_QUEUE_ALLOC → the object id and its fd. */
export function faultAlloc(w: World, flags = 0): { id: number; fd: number } {
  const out = ioctlStruct(w, IOMMU_FAULT_QUEUE_ALLOC, iommu_fault_alloc, { size: 0, flags });
  return { id: out.out_fault_id, fd: out.out_fault_fd };
}

export interface HwInfoArgs {
  readonly dataLen: number;
  readonly flags?: number;
  readonly type?: number;
  /** The user buffer (default: fresh, filled with 0xaa beyond what the call may write). */
  readonly uptr?: number;
  readonly reserved?: readonly number[];
}

/**
 * IOMMU_GET_HW_INFO into a buffer of `dataLen` bytes followed by 8 guard bytes, all 0xaa
 * before the call: returns the struct written back and the buffer with its guard.
 */
export function hwInfo(w: World, devId: number, a: HwInfoArgs) {
  const buf = a.uptr ?? w.p.malloc(a.dataLen + 8);
  if (a.uptr === undefined) w.p.poke(buf, new Uint8Array(a.dataLen + 8).fill(0xaa));
  const out = ioctlStruct(w, IOMMU_GET_HW_INFO, iommu_hw_info, {
    size: 0,
    flags: a.flags ?? 0,
    dev_id: devId,
    data_len: a.dataLen,
    data_uptr: BigInt(buf),
    out_data_type: a.type ?? 0,
    out_max_pasid_log2: 0,
    __reserved: a.reserved ?? [0, 0, 0],
    out_capabilities: 0n,
  });
  return { out, bytes: w.p.peek(buf, a.dataLen + 8) };
}

/**
 * Programs the DMA test engine `d` through its MMIO registers to copy `len` bytes from bus
 * address `src` to `dst`, runs the board until it is done, and returns STATUS.
 */
export function dmaTestCopy(w: World, d: BoardDev, dst: bigint, src: bigint, len: number): number {
  const bus = w.soc.bus;
  const wr = (off: number, v: number) => bus.write(d.base + off, 4, v >>> 0);
  wr(0x20, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
  wr(0x08, Number(src & 0xffff_ffffn));
  wr(0x0c, Number(src >> 32n));
  wr(0x10, Number(dst & 0xffff_ffffn));
  wr(0x14, Number(dst >> 32n));
  wr(0x18, len);
  wr(0x1c, DMA_TEST_CTRL.START | (DMA_TEST_CTRL.MODE_COPY << DMA_TEST_CTRL.MODE_SHIFT));
  w.soc.runUntilIdle();
  return bus.read(d.base + 0x20, 4);
}

export { DMA_TEST_STATUS };
