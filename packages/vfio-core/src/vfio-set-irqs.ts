/**
 * The header check every bus driver runs on VFIO_DEVICE_SET_IRQS
 * (drivers/vfio/vfio_main.c: vfio_set_irqs_validate_and_prepare()).
 *
 * Every refusal is EINVAL, in the kernel's order: a short `argsz`, an index past the driver's
 * IRQ types, a `start + count` that would wrap a u32, flag bits outside the data and action
 * masks; then a range outside the index's `num_irqs` (so an index with no interrupts refuses
 * even `count == 0`), a data type that is not exactly one of NONE/BOOL/EVENTFD, and an `argsz`
 * too short for `count` elements. The action bits are the driver's to judge (ENOTTY for a
 * combination it does not support).
 */

import { SysError } from "@vfio-lab/kernel";
import {
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_IRQ_SET_DATA_TYPE_MASK,
} from "@vfio-lab/kernel/uapi";

/** offsetofend(struct vfio_irq_set, count) */
export const VFIO_IRQ_SET_MINSZ = 20;
const U32_MAX = 0xffff_ffff;

/** The decoded fixed part of `struct vfio_irq_set`. */
export interface VfioIrqSetHeader {
  readonly argsz: number;
  readonly flags: number;
  readonly index: number;
  readonly start: number;
  readonly count: number;
}

/**
 * vfio_main.c: vfio_set_irqs_validate_and_prepare() — returns the size of the data that follows
 * the header (0 for DATA_NONE), or throws EINVAL.
 */
export function vfioSetIrqsValidateAndPrepare(
  hdr: VfioIrqSetHeader,
  numIrqs: number,
  maxIrqType: number,
): number {
  const fn = "vfio_set_irqs_validate_and_prepare";
  if (
    hdr.argsz < VFIO_IRQ_SET_MINSZ ||
    hdr.index >= maxIrqType ||
    hdr.count >= U32_MAX - hdr.start ||
    (hdr.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) !== 0
  ) {
    throw new SysError("EINVAL", fn, "bad header");
  }
  if (hdr.start >= numIrqs || hdr.start + hdr.count > numIrqs) {
    throw new SysError("EINVAL", fn, `irqs ${hdr.start}+${hdr.count} of ${numIrqs}`);
  }
  let size: number;
  switch (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
    case VFIO_IRQ_SET_DATA_NONE:
      size = 0;
      break;
    case VFIO_IRQ_SET_DATA_BOOL:
      size = 1;
      break;
    case VFIO_IRQ_SET_DATA_EVENTFD:
      size = 4;
      break;
    default:
      throw new SysError("EINVAL", fn, "not exactly one data type");
  }
  // The C compares in size_t: argsz - minsz >= 0 here, count * size cannot wrap 64 bits.
  if (size !== 0 && hdr.argsz - VFIO_IRQ_SET_MINSZ < hdr.count * size) {
    throw new SysError("EINVAL", fn, "argsz too short for the data");
  }
  return hdr.count * size;
}
