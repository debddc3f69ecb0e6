/**
 * `Vmm`: the user-space side of device assignment, written as a small VMM would write it, over
 * one of the four access paths Linux 7.3 offers (design §4.5):
 *
 * | path              | kernel build                | DMA address space                  | device fd                      |
 * |-------------------|-----------------------------|------------------------------------|--------------------------------|
 * | `container-type1` | default                     | /dev/vfio/vfio, type1 v2 (or NOIOMMU for a noiommu group) | group: GET_DEVICE_FD |
 * | `iommufd-compat`  | CONFIG_VFIO_CONTAINER=n     | /dev/vfio/vfio served by iommufd   | group: GET_DEVICE_FD           |
 * | `iommufd-cdev`    | default                     | /dev/iommu, one IOAS               | /dev/vfio/devices/vfioN        |
 * | `noiommu-cdev`    | vfio.enable_unsafe_noiommu_mode=1 | /dev/iommu, one IOAS (no-IOMMU HWPT) | /dev/vfio/devices/noiommu-vfioN |
 *
 * The order is QEMU's: the address space is opened when the VMM starts, devices are assigned
 * (which, for a container, attaches the group and sets the IOMMU model), then guest RAM is
 * mapped for DMA. `GuestRam.dmaAddr(off)` is what a device must be programmed with: the IOVA
 * behind an IOMMU, the physical address (IOMMU_IOAS_NOIOMMU_GET_PA) without one.
 *
 * Caveat: one IOAS or container per VMM, guest RAM is anonymous private memory (QEMU uses a
 * shared memfd or hugetlbfs), and a no-IOMMU container maps nothing (use `noiommu-cdev` for
 * DMA without an IOMMU: the legacy no-IOMMU container has no way to translate or pin).
 */

import { IommuFd } from "@vfio-lab/iommufd";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, type Process } from "@vfio-lab/kernel";
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel/uapi";
import {
  VfioContainer,
  VfioDevice,
  type VfioDeviceInfo,
  VfioGroup,
  type VfioRegion,
} from "@vfio-lab/vfio-core";
import { iommuGroupOf, sysfsDir } from "./bind.js";
import { type LabDevice, PAGE_SIZE } from "./boot.js";
import { WiredIrq, type WireIrqOptions } from "./irq.js";
import { UserMmio } from "./user-mmio.js";

export type AccessPath = "container-type1" | "iommufd-compat" | "iommufd-cdev" | "noiommu-cdev";

export const ACCESS_PATHS: readonly AccessPath[] = [
  "container-type1",
  "iommufd-compat",
  "iommufd-cdev",
  "noiommu-cdev",
];

/** Guest RAM mapped for DMA. */
export class GuestRam {
  constructor(
    private readonly vmm: Vmm,
    /** The user address of the RAM in the VMM. */
    readonly va: number,
    /** Where the device sees offset 0 behind an IOMMU (also the IOAS IOVA without one). */
    readonly iova: bigint,
    readonly size: number,
  ) {}

  /**
   * The address to program into a device for byte `off`: the IOVA, or — on the no-IOMMU path —
   * the physical address IOMMU_IOAS_NOIOMMU_GET_PA reports. `len` bytes from there must be
   * contiguous for the device (always true behind an IOMMU; checked without one).
   */
  dmaAddr(off = 0, len = 1): bigint {
    if (off < 0 || off + len > this.size) throw new RangeError(`0x${off.toString(16)} outside RAM`);
    const iova = this.iova + BigInt(off);
    if (this.vmm.path !== "noiommu-cdev") return iova;
    const { phys, length } = this.vmm.iommufd!.noiommuGetPa(this.vmm.ioasId, iova);
    if (length < BigInt(len)) {
      throw new RangeError(`${len} bytes at 0x${off.toString(16)} are not physically contiguous`);
    }
    return phys;
  }

  /** dmaAddr() as a number (devices with 32-bit address registers). */
  dmaAddr32(off = 0, len = 1): number {
    const a = this.dmaAddr(off, len);
    if (a >= 1n << 32n) throw new RangeError(`0x${a.toString(16)} is beyond 32 bits`);
    return Number(a);
  }

  write(off: number, bytes: Uint8Array): void {
    this.vmm.process.poke(this.va + off, bytes);
  }

  read(off: number, len: number): Uint8Array {
    return this.vmm.process.peek(this.va + off, len);
  }
}

/** A device handed to the VMM: its fd, info, regions, IRQs. */
export class AssignedDevice {
  readonly info: VfioDeviceInfo;
  private readonly mmios = new Map<number, UserMmio>();
  private readonly irqs: WiredIrq[] = [];

  constructor(
    readonly vmm: Vmm,
    readonly dev: LabDevice,
    readonly device: VfioDevice,
    readonly group: VfioGroup | null,
  ) {
    this.info = device.info();
  }

  regionInfo(index: number): VfioRegion {
    return this.device.regionInfo(index);
  }

  /** Region `index` mmapped (once; MAP_SHARED, read/write) as registers. */
  mmio(index = 0): UserMmio {
    let m = this.mmios.get(index);
    if (!m) {
      const size = Number(this.device.regionInfo(index).size);
      const va = this.device.mmapRegion(index, { length: size, prot: PROT_READ | PROT_WRITE });
      m = new UserMmio(this.vmm.process, va, size);
      this.mmios.set(index, m);
    }
    return m;
  }

  /** IRQ `index` wired to an eventfd (and an unmask path for a level line). */
  wireIrq(index: number, opts: WireIrqOptions = {}): WiredIrq {
    const info = this.device.irqInfo(index);
    const irq = new WiredIrq(this.vmm.process, this.device, index, info, opts);
    this.irqs.push(irq);
    return irq;
  }

  /** VFIO_DEVICE_RESET. */
  reset(): void {
    this.device.reset();
  }

  /** Unwires the IRQs, unmaps the regions, closes the device fd (the group stays open). */
  close(): void {
    for (const irq of this.irqs.splice(0)) irq.close();
    for (const m of this.mmios.values()) m.unmap();
    this.mmios.clear();
    this.device.close();
    this.vmm.release(this);
  }
}

export interface VmmOptions {
  /** VFIO_TYPE1v2_IOMMU unless said otherwise (container paths). */
  readonly iommuType?: number;
}

export class Vmm {
  readonly container: VfioContainer | null = null;
  readonly iommufd: IommuFd | null = null;
  readonly ioasId: number = 0;
  private readonly groups = new Map<string, { group: VfioGroup }>();
  private iommuSet = false;
  private readonly assigned: AssignedDevice[] = [];
  private readonly rams: GuestRam[] = [];

  constructor(
    readonly process: Process,
    readonly path: AccessPath,
    readonly opts: VmmOptions = {},
  ) {
    if (path === "container-type1" || path === "iommufd-compat") {
      // Both builds answer on /dev/vfio/vfio; the compat one is iommufd behind it.
      const container = VfioContainer.open(process);
      container.apiVersion();
      container.checkExtension(opts.iommuType ?? VFIO_TYPE1v2_IOMMU);
      this.container = container;
    } else {
      this.iommufd = IommuFd.open(process);
      this.ioasId = this.iommufd.ioasAlloc();
    }
  }

  /** Hands `dev` (already bound to a VFIO driver) to the VMM over this VMM's path. */
  assign(dev: LabDevice): AssignedDevice {
    const p = this.process;
    let device: VfioDevice;
    let group: VfioGroup | null = null;
    if (this.container) {
      group = this.openGroup(dev);
      device = group.deviceFd(dev.name);
    } else {
      device = VfioDevice.openCdev(p, cdevPath(p, dev));
      device.bindIommufd(this.iommufd!);
      device.attachPt(this.ioasId);
    }
    const a = new AssignedDevice(this, dev, device, group);
    this.assigned.push(a);
    return a;
  }

  /**
   * Anonymous guest RAM of `size` bytes mapped for DMA at `iova`: MAP_DMA on a container,
   * IOAS_MAP with IOMMU_IOAS_MAP_FIXED_IOVA on an iommufd.
   */
  mapGuestRam(size: number, iova: bigint): GuestRam {
    const p = this.process;
    const va = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (this.container) {
      if (!this.iommuSet) throw new Error("map guest RAM after assigning a device (SET_IOMMU)");
      this.container.mapDma({ vaddr: va, iova, size });
    } else {
      this.iommufd!.map(this.ioasId, va, size, { iova });
    }
    const ram = new GuestRam(this, va, iova, size);
    this.rams.push(ram);
    return ram;
  }

  /** Unmaps guest RAM from DMA and from the process. */
  unmapGuestRam(ram: GuestRam): void {
    if (this.container) this.container.unmapDma({ iova: ram.iova, size: ram.size });
    else this.iommufd!.unmap(this.ioasId, ram.iova, ram.size);
    this.process.munmap(ram.va, ram.size);
    this.rams.splice(this.rams.indexOf(ram), 1);
  }

  /**
   * Shuts the VMM down as QEMU does: devices first, then guest RAM leaves the IOMMU (while a
   * group still holds the container's IOMMU model), then the groups and the address space.
   */
  close(): void {
    for (const a of [...this.assigned]) a.close();
    for (const ram of [...this.rams]) this.unmapGuestRam(ram);
    for (const { group } of this.groups.values()) group.close();
    this.groups.clear();
    this.container?.close();
    this.iommufd?.close();
  }

  /** Called by AssignedDevice.close(). */
  release(a: AssignedDevice): void {
    this.assigned.splice(this.assigned.indexOf(a), 1);
  }

  /** /dev/vfio/<N> (or noiommu-<N>), GET_STATUS, SET_CONTAINER, SET_IOMMU once. */
  private openGroup(dev: LabDevice): VfioGroup {
    const p = this.process;
    const n = iommuGroupOf(p, dev);
    if (n === null) throw new Error(`${dev.name} has no IOMMU group`);
    const nodes = p.readdir("/dev/vfio");
    const name = nodes.includes(String(n)) ? String(n) : `noiommu-${n}`;
    const known = this.groups.get(name);
    if (known) return known.group;
    const group = VfioGroup.open(p, name);
    group.status();
    group.setContainer(this.container!);
    if (!this.iommuSet) {
      const noiommu = name.startsWith("noiommu-");
      this.container!.setIommu(
        noiommu ? VFIO_NOIOMMU_IOMMU : (this.opts.iommuType ?? VFIO_TYPE1v2_IOMMU),
      );
      this.iommuSet = true;
    }
    this.groups.set(name, { group });
    return group;
  }
}

/** `/dev/vfio/devices/<entry of the device's vfio-dev/ directory>` (vfioN or noiommu-vfioN). */
export function cdevPath(p: Process, dev: LabDevice): string {
  const entry = p.readdir(`${sysfsDir(dev)}/vfio-dev`).find((e) => /^(noiommu-)?vfio\d+$/.test(e));
  if (!entry) throw new Error(`${dev.name} has no VFIO cdev`);
  return `/dev/vfio/devices/${entry}`;
}

export { PAGE_SIZE };
