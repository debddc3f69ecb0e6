/**
 * drivers/vfio/platform/vfio_platform_irq.c: a platform/AMBA device's interrupts handed to user
 * space — one VFIO IRQ index per line, each with a count of 1, signalled through an eventfd.
 *
 * At open (vfioPlatformIrqInit) every line the binder's `get_irq` finds is requested with
 * IRQF_NO_AUTOEN under `vfio-irq[<irq>](<vdev->name>)`: a level-triggered line is MASKABLE and
 * AUTOMASKED (its handler disables it and signals; user space quiets the device and UNMASKs),
 * an edge-triggered one only signals. A line request_irq() refuses does not fail the open: the
 * error is kept in place of the name and every SET_IRQS on that index returns it (Linux keeps
 * this so that a user can fall back to polling).
 *
 * The enable state of a line follows one rule: it is enabled exactly when a trigger eventfd is
 * set and the index is not masked. request_irq() leaves it at depth 1, setting a trigger
 * enables it once, and `masked` nests one more disable inside that enable; replacing or
 * removing a trigger disables first, so `masked` survives a trigger change.
 *
 * VFIO_DEVICE_SET_IRQS (after vfio-platform-common.ts copied and validated the header):
 *
 *   action  | DATA_NONE                 | DATA_BOOL            | DATA_EVENTFD
 *   MASK    | mask                      | mask if byte != 0    | fd >= 0: virqfd → mask; -1: virqfd off
 *   UNMASK  | unmask                    | unmask if byte != 0  | fd >= 0: virqfd → unmask; -1: off
 *   TRIGGER | count 0: trigger off;     | loopback if byte != 0| set trigger (fd -1: off only)
 *           | count 1: loopback         |                      |
 *
 * MASK/UNMASK need `start == 0 && count == 1` and a MASKABLE line (EINVAL); TRIGGER needs the
 * same except for the DATA_NONE teardown with `count == 0`. An action that is not exactly one
 * of the three is ENOTTY. A loopback runs the line's own handler, so on a level line it masks.
 *
 * Checked against Linux 7.3: oracle-probes/vfio-platform-irqs (an edge and a level line, every
 * action × data type, automasking by the PL031's alarm), replayed by
 * test/oracle-vfio-platform-irqs.test.ts.
 *
 * Caveat:
 * - The per-IRQ spinlock and `igate` are not modelled (one syscall runs at a time).
 * - kzalloc/kasprintf failures are the fault-injection sites `kzalloc` and `kasprintf`.
 */

import {
  type EventfdCtx,
  eventfdCtxFdget,
  eventfdCtxPut,
  eventfdSignal,
  IRQ_HANDLED,
  IRQ_NONE,
  IRQ_TYPE_LEVEL_MASK,
  IRQF_NO_AUTOEN,
  type IrqReturn,
  type Kernel,
  SysError,
  type Task,
} from "@vfio-lab/kernel";
import {
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
} from "@vfio-lab/kernel/uapi";
import { vfioVirqfdDisable, vfioVirqfdEnable } from "@vfio-lab/vfio-core";
import type { VfioPlatformDevice, VfioPlatformIrq } from "./vfio-platform-private.js";

/** vfio_platform_irq.c: vfio_platform_mask() — one disable, nested inside the trigger's enable. */
function vfioPlatformMask(kernel: Kernel, irq: VfioPlatformIrq): void {
  if (!irq.masked) {
    kernel.irq.disableIrqNosync(irq.hwirq);
    irq.masked = true;
  }
}

/** vfio_platform_irq.c: vfio_platform_unmask() */
function vfioPlatformUnmask(kernel: Kernel, irq: VfioPlatformIrq): void {
  if (irq.masked) {
    kernel.irq.enableIrq(irq.hwirq);
    irq.masked = false;
  }
}

/** vfio_platform_irq.c: vfio_send_eventfd() — a line without a trigger is simply not heard. */
function vfioSendEventfd(irq: VfioPlatformIrq): void {
  if (irq.trigger) eventfdSignal(irq.trigger);
}

/**
 * vfio_platform_irq.c: vfio_automasked_irq_handler() — a level line stays asserted until user
 * space quiets the device, so it is disabled before user space hears of it; a second call
 * while masked (a loopback) is IRQ_NONE and signals nothing.
 */
function vfioAutomaskedIrqHandler(kernel: Kernel, irq: VfioPlatformIrq): IrqReturn {
  if (irq.masked) return IRQ_NONE;
  kernel.irq.disableIrqNosync(irq.hwirq);
  irq.masked = true;
  vfioSendEventfd(irq);
  return IRQ_HANDLED;
}

/** vfio_platform_irq.c: vfio_irq_handler() — an edge leaves nothing asserted to mask. */
function vfioIrqHandler(_kernel: Kernel, irq: VfioPlatformIrq): IrqReturn {
  vfioSendEventfd(irq);
  return IRQ_HANDLED;
}

/** The handler request_irq() got for this line (both the IRQ path and loopback use it). */
function handlerOf(irq: VfioPlatformIrq): (kernel: Kernel, irq: VfioPlatformIrq) => IrqReturn {
  return irq.flags & VFIO_IRQ_INFO_AUTOMASKED ? vfioAutomaskedIrqHandler : vfioIrqHandler;
}

/**
 * vfio_platform_irq.c: vfio_platform_irq_init() — at first open. ENOMEM (kzalloc, kasprintf;
 * lines already requested are freed again) and EINVAL (a line that vanished between counting
 * and requesting); a request_irq() refusal is kept in `name`, not returned.
 */
export function vfioPlatformIrqInit(vdev: VfioPlatformDevice): void {
  const fn = "vfio_platform_irq_init";
  const kernel = vdev.kernel;
  let cnt = 0;
  while (vdev.getIrq(cnt) >= 0) cnt++;
  if (kernel.allocator.shouldFail("kzalloc")) throw new SysError("ENOMEM", fn, "irqs");

  const irqs: VfioPlatformIrq[] = [];
  const unwind = () => {
    for (const irq of irqs.reverse()) {
      if (typeof irq.name === "string") kernel.irq.freeIrq(irq.hwirq, irq);
    }
  };
  for (let i = 0; i < cnt; i++) {
    const hwirq = vdev.getIrq(i);
    if (hwirq < 0) {
      unwind();
      throw new SysError("EINVAL", fn, `IRQ index ${i} is gone`);
    }
    let flags = VFIO_IRQ_INFO_EVENTFD;
    if (kernel.irq.irqGetTriggerType(hwirq) & IRQ_TYPE_LEVEL_MASK) {
      flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
    }
    if (kernel.allocator.shouldFail("kasprintf")) {
      unwind();
      throw new SysError("ENOMEM", fn, `name of IRQ index ${i}`);
    }
    // vdev->name, not the device name: an AMBA device shows as vfio-amba-<periphid>.
    const name = `vfio-irq[${hwirq}](${vdev.platformName})`;
    const irq: VfioPlatformIrq = {
      flags,
      count: 1,
      hwirq,
      name,
      trigger: null,
      masked: false,
      mask: { virqfd: null },
      unmask: { virqfd: null },
    };
    const handler = handlerOf(irq);
    try {
      // NO_AUTOEN: the line stays off until user space sets a trigger.
      kernel.irq.requestIrq(hwirq, () => handler(kernel, irq), IRQF_NO_AUTOEN, name, irq);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      irq.name = e;
    }
    irqs.push(irq);
  }
  vdev.irqs = irqs;
}

/**
 * vfio_platform_irq.c: vfio_platform_irq_cleanup() — at last close: both virqfds go, then each
 * requested line is freed and its trigger dropped.
 */
export function vfioPlatformIrqCleanup(vdev: VfioPlatformDevice): void {
  const kernel = vdev.kernel;
  for (const irq of vdev.irqs) {
    vfioVirqfdDisable(kernel, irq.mask);
    vfioVirqfdDisable(kernel, irq.unmask);
    if (typeof irq.name === "string") {
      kernel.irq.freeIrq(irq.hwirq, irq);
      if (irq.trigger) eventfdCtxPut(irq.trigger);
      irq.trigger = null;
    }
  }
  vdev.irqs = [];
}

/** The s32 file descriptor of a DATA_EVENTFD payload. */
function fdOf(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, 4).getInt32(0, true);
}

type SetIrqFn = (
  vdev: VfioPlatformDevice,
  current: Task,
  irq: VfioPlatformIrq,
  start: number,
  count: number,
  flags: number,
  data: Uint8Array,
) => void;

/**
 * vfio_platform_irq.c: vfio_platform_set_irq_mask() and vfio_platform_set_irq_unmask() — the
 * same shape with the opposite action. DATA_EVENTFD hooks the action to an eventfd (KVM's
 * resamplefd for UNMASK): vfio_virqfd_enable()'s ENOMEM, EBADF, EINVAL and EBUSY pass through;
 * fd -1 unhooks and succeeds even when nothing was hooked.
 */
function setIrqMaskOrUnmask(unmask: boolean): SetIrqFn {
  const fn = unmask ? "vfio_platform_set_irq_unmask" : "vfio_platform_set_irq_mask";
  const act = unmask ? vfioPlatformUnmask : vfioPlatformMask;
  return (vdev, current, irq, start, count, flags, data) => {
    const kernel = vdev.kernel;
    if (start !== 0 || count !== 1) {
      throw new SysError("EINVAL", fn, `start ${start} count ${count}`);
    }
    if (!(irq.flags & VFIO_IRQ_INFO_MASKABLE)) throw new SysError("EINVAL", fn, "not maskable");
    if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
      const fd = fdOf(data);
      const slot = unmask ? irq.unmask : irq.mask;
      if (fd >= 0) {
        /** vfio_platform_mask_handler() / vfio_platform_unmask_handler(): no thread wanted. */
        const handler = (i: VfioPlatformIrq) => {
          act(kernel, i);
          return false;
        };
        vfioVirqfdEnable(kernel, current, irq, handler, null, null, slot, fd);
        return;
      }
      vfioVirqfdDisable(kernel, slot);
      return;
    }
    if (flags & VFIO_IRQ_SET_DATA_NONE) act(kernel, irq);
    else if (flags & VFIO_IRQ_SET_DATA_BOOL && data[0] !== 0) act(kernel, irq);
  };
}

/**
 * vfio_platform_irq.c: vfio_set_trigger() — the old trigger goes first (line disabled, eventfd
 * dropped), whatever follows: fd < 0 stops there; a bad fd is EBADF/EINVAL from
 * eventfd_ctx_fdget() with the old trigger already gone; a good one is installed and the line
 * enabled once.
 */
function vfioSetTrigger(
  vdev: VfioPlatformDevice,
  current: Task,
  irq: VfioPlatformIrq,
  fd: number,
): void {
  const kernel = vdev.kernel;
  if (irq.trigger) {
    kernel.irq.disableIrq(irq.hwirq);
    eventfdCtxPut(irq.trigger);
    irq.trigger = null;
  }
  if (fd < 0) return;
  // eventfd_ctx_fdget() holds the file only for the lookup; the context keeps its own count.
  const trigger: EventfdCtx = eventfdCtxFdget(fd, (n) => {
    const file = current.fget(n);
    if (file) kernel.vfs.fput(file);
    return file;
  });
  irq.trigger = trigger;
  kernel.irq.enableIrq(irq.hwirq);
}

/** vfio_platform_irq.c: vfio_platform_set_irq_trigger() */
const setIrqTrigger: SetIrqFn = (vdev, current, irq, start, count, flags, data) => {
  const fn = "vfio_platform_set_irq_trigger";
  // Teardown accepts any start the header check let through (it is checked against the
  // number of indexes, not this index's count of 1).
  if (count === 0 && flags & VFIO_IRQ_SET_DATA_NONE) {
    vfioSetTrigger(vdev, current, irq, -1);
    return;
  }
  if (start !== 0 || count !== 1) throw new SysError("EINVAL", fn, `start ${start} count ${count}`);
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    vfioSetTrigger(vdev, current, irq, fdOf(data));
    return;
  }
  // Loopback: user space raises its own interrupt through the real handler.
  const handler = handlerOf(irq);
  if (flags & VFIO_IRQ_SET_DATA_NONE) handler(vdev.kernel, irq);
  else if (flags & VFIO_IRQ_SET_DATA_BOOL && data[0] !== 0) handler(vdev.kernel, irq);
};

const SET_IRQ_FNS: Readonly<Record<number, SetIrqFn>> = {
  [VFIO_IRQ_SET_ACTION_MASK]: setIrqMaskOrUnmask(false),
  [VFIO_IRQ_SET_ACTION_UNMASK]: setIrqMaskOrUnmask(true),
  [VFIO_IRQ_SET_ACTION_TRIGGER]: setIrqTrigger,
};

/**
 * vfio_platform_irq.c: vfio_platform_set_irqs_ioctl() — `index`, `start`, `count` and the data
 * size were validated by the caller (vfio_set_irqs_validate_and_prepare()). A line request_irq()
 * refused answers with that errno first; an action field that is not exactly MASK, UNMASK or
 * TRIGGER is ENOTTY.
 */
export function vfioPlatformSetIrqsIoctl(
  vdev: VfioPlatformDevice,
  current: Task,
  flags: number,
  index: number,
  start: number,
  count: number,
  data: Uint8Array,
): void {
  const fn = "vfio_platform_set_irqs_ioctl";
  const irq = vdev.irqs[index];
  if (!irq) throw new SysError("EINVAL", fn, `IRQ index ${index}`);
  if (typeof irq.name !== "string") {
    throw new SysError(irq.name.code, fn, `request_irq(${irq.hwirq}) failed at open`);
  }
  const func = SET_IRQ_FNS[flags & VFIO_IRQ_SET_ACTION_TYPE_MASK];
  if (!func)
    throw new SysError("ENOTTY", fn, `action bits ${flags & VFIO_IRQ_SET_ACTION_TYPE_MASK}`);
  func(vdev, current, irq, start, count, flags, data);
}
