/**
 * One ioctl invocation as a handler sees it (`struct iommufd_ucmd`, iommufd_private.h), and the
 * helpers every handler uses to answer and to allocate its object.
 */

import { copyToUser, type StructLayout, type StructValue, type Task } from "@vfio-lab/kernel";
import type { IommufdCtx } from "./main.js";
import type { IommufdObject } from "./object.js";

/** One ioctl invocation (`struct iommufd_ucmd`). */
export interface Ucmd<L extends StructLayout = StructLayout> {
  readonly ictx: IommufdCtx;
  /** The calling task: its mm for user copies, its credentials for capability checks. */
  readonly current: Task;
  /** The user address of the struct. */
  readonly ubuffer: number;
  /** The struct's `size` as user space gave it. */
  readonly userSize: number;
  /** The kernel's copy of the struct (sizeof the kernel's struct, zero-extended). */
  readonly cmd: StructValue<L>;
  readonly layout: L;
  /** An object allocated for this command (`ucmd->new_obj`): finalized or aborted by the core. */
  newObj: IommufdObject | null;
}

/** iommufd_private.h: iommufd_ucmd_respond() — copies min(user size, `len`) bytes of `cmd` back. */
export function ucmdRespond(ucmd: Ucmd, len: number = ucmd.layout.size): void {
  const bytes = ucmd.layout.encode(ucmd.cmd as never);
  const n = Math.min(ucmd.userSize, len);
  // A view is only needed when less than the whole struct goes back (subarray() is not free).
  copyToUser(
    ucmd.current.mm,
    ucmd.ubuffer,
    n === bytes.length ? bytes : bytes.subarray(0, n),
    "iommufd_ucmd_respond",
  );
}

/**
 * main.c: _iommufd_object_alloc_ucmd() — allocates `obj` for the running command; the
 * dispatcher finalizes it when the handler succeeds and aborts it (destroy + free the ID) when
 * it fails, so handlers need no unwinding of their own for it.
 */
export function iommufdObjectAllocUcmd<T extends IommufdObject>(ucmd: Ucmd, obj: T): T {
  if (ucmd.newObj) throw new Error("iommufd: two objects allocated for one command");
  ucmd.ictx.objects.alloc(obj);
  ucmd.newObj = obj;
  return obj;
}
