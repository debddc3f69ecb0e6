/**
 * A small emulated-IOMMU driver for the access tests: what drivers/iommu/iommufd/selftest.c's
 * `selftest_access` is behind IOMMU_TEST_OP_CREATE_ACCESS / ACCESS_PAGES / ACCESS_RW /
 * DESTROY_ACCESS_PAGES (which the model has no ioctl for), written against the in-kernel access
 * API the way a VFIO mdev driver uses it. Each pin is an item with an id counting from 0; the
 * unmap callback unpins every item intersecting the range, unless the test makes the driver
 * misbehave.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError, type Task } from "@vfio-lab/kernel";
import {
  type IommufdAccess,
  iommufdAccessAttach,
  iommufdAccessCreate,
  iommufdAccessDestroy,
  iommufdAccessPinPages,
  iommufdAccessReplace,
  iommufdAccessRw,
  iommufdAccessUnpinPages,
} from "../src/access.js";
import { ULONG_MAX } from "../src/io-pagetable.js";
import type { IommufdCtx } from "../src/main.js";

interface Item {
  readonly iova: bigint;
  readonly length: bigint;
  readonly id: number;
}

export class EmulatedAccess {
  readonly access: IommufdAccess<EmulatedAccess>;
  readonly items: Item[] = [];
  private nextId = 0;
  /** Every unmap callback, as [iova, length]. */
  readonly unmapCalls: [bigint, bigint][] = [];
  /** A driver that ignores unmap requests (the kernel's EDEADLOCK case). */
  ignoreUnmap = false;
  /** Runs inside the unmap callback before the driver unpins. */
  onUnmap: ((iova: bigint, length: bigint) => void) | null = null;

  /** iommufd_test_create_access(): create, then attach to `ioasId` (destroyed if that fails). */
  constructor(ictx: IommufdCtx, ioasId: number | null, needsPinPages = true) {
    this.access = iommufdAccessCreate(
      ictx,
      { needsPinPages, unmap: (d: EmulatedAccess, iova, length) => d.unmap(iova, length) },
      this,
    );
    if (ioasId === null) return;
    try {
      iommufdAccessAttach(this.access, ioasId);
    } catch (e) {
      iommufdAccessDestroy(this.access);
      throw e;
    }
  }

  get id(): number {
    return this.access.id;
  }

  /** iommufd_test_access_unmap() */
  unmap(iova: bigint, length: bigint): void {
    this.unmapCalls.push([iova, length]);
    this.onUnmap?.(iova, length);
    if (this.ignoreUnmap) return;
    const last = iova + length - 1n;
    for (let i = 0; i < this.items.length; ) {
      const item = this.items[i]!;
      if (iova > item.iova + item.length - 1n || last < item.iova) {
        i++;
        continue;
      }
      this.items.splice(i, 1);
      iommufdAccessUnpinPages(this.access, item.iova, item.length);
    }
  }

  /** iommufd_test_access_pages(): pins, records an item, returns its id and the PFNs. */
  pin(iova: bigint, length: bigint, flags = 0): { id: number; pfns: number[] } {
    const first = iova - (iova % BigInt(PAGE_SIZE));
    const end = iova + length;
    const npages = Number((end + BigInt(PAGE_SIZE) - 1n - first) / BigInt(PAGE_SIZE));
    const pfns: number[] = new Array<number>(Math.max(0, npages)).fill(-1);
    iommufdAccessPinPages(this.access, iova, length, pfns, flags);
    const id = this.nextId++;
    this.items.push({ iova, length, id });
    return { id, pfns };
  }

  /** iommufd_test_access_item_destroy(): ENOENT for an id the driver no longer holds. */
  destroyPages(id: number): void {
    const at = this.items.findIndex((i) => i.id === id);
    if (at < 0) throw new SysError("ENOENT", "iommufd_test_access_item_destroy", `item ${id}`);
    const [item] = this.items.splice(at, 1);
    iommufdAccessUnpinPages(this.access, item!.iova, item!.length);
  }

  read(iova: bigint, length: number, flags = 0, current?: Task): Uint8Array {
    const data = new Uint8Array(length);
    iommufdAccessRw(this.access, iova, data, flags, current);
    return data;
  }

  write(iova: bigint, data: Uint8Array, flags: number, current?: Task): void {
    iommufdAccessRw(this.access, iova, data, flags, current);
  }

  replace(ioasId: number): void {
    iommufdAccessReplace(this.access, ioasId);
  }

  /** iommufd_test_staccess_release(): unpin everything, then destroy. */
  close(): void {
    this.unmap(0n, ULONG_MAX);
    iommufdAccessDestroy(this.access);
  }
}
