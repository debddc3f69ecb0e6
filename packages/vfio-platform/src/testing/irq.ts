/**
 * `WiredIrq`: one interrupt of an assigned device wired to the VMM the way QEMU's vfio-platform
 * wired it (hw/vfio/platform.c before its removal, and every irqfd-based VMM since): a trigger
 * eventfd set with `VFIO_DEVICE_SET_IRQS(ACTION_TRIGGER, DATA_EVENTFD)` and, for a level
 * (AUTOMASKED) line, a way to unmask it after the guest handled the device —
 * `VFIO_DEVICE_SET_IRQS(ACTION_UNMASK, DATA_NONE)` by ioctl, or a second eventfd given with
 * `ACTION_UNMASK, DATA_EVENTFD` (virqfd: KVM's resamplefd path) that the VMM writes.
 *
 * The user protocol for a level line (design §1.7): read the trigger eventfd → quiesce the
 * device (acknowledge its status) → unmask. Unmasking while the device still asserts fires
 * again at once.
 *
 * The 8-byte buffers for eventfd read/write are allocated once, so a round trip issues only
 * the syscalls a C VMM would (read, ioctl or write) — what the trace comparison looks at.
 *
 * Caveat: no KVM, so no irqfd: the VMM itself reads the trigger eventfd (a VMM with KVM hands
 * it to KVM_IRQFD and the resample eventfd to the unmask path).
 */

import { POLLIN, type Process } from "@vfio-lab/kernel";
import { VFIO_IRQ_INFO_AUTOMASKED } from "@vfio-lab/kernel/uapi";
import type { VfioDevice, VfioIrq } from "@vfio-lab/vfio-core";

/** How a level IRQ is unmasked: by ioctl, by writing an unmask eventfd, or not at all (edge). */
export type UnmaskMode = "ioctl" | "eventfd" | "none";

export interface WireIrqOptions {
  /** Default: "ioctl" for an AUTOMASKED line, "none" otherwise. */
  readonly unmask?: UnmaskMode;
}

export class WiredIrq {
  /** The trigger eventfd (blocking: wait() sleeps in virtual time until the IRQ fires). */
  readonly trigger: number;
  /** The unmask eventfd (virqfd), when unmask is "eventfd". */
  readonly unmaskFd: number | null;
  readonly unmaskMode: UnmaskMode;
  /** Scratch for the 8-byte eventfd counter (one page, allocated once). */
  private readonly counterVa: number;
  private readonly view = new DataView(new ArrayBuffer(8));
  private readonly one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

  constructor(
    readonly process: Process,
    readonly device: VfioDevice,
    readonly index: number,
    readonly info: VfioIrq,
    opts: WireIrqOptions = {},
  ) {
    const p = process;
    this.unmaskMode = opts.unmask ?? (info.flags & VFIO_IRQ_INFO_AUTOMASKED ? "ioctl" : "none");
    this.counterVa = p.malloc(8);
    this.trigger = p.eventfd(0, 0);
    device.setIrqs({ index, action: "trigger", data: { eventfds: [this.trigger] } });
    if (this.unmaskMode === "eventfd") {
      this.unmaskFd = p.eventfd(0, 0);
      device.setIrqs({ index, action: "unmask", data: { eventfds: [this.unmaskFd] } });
    } else {
      this.unmaskFd = null;
    }
  }

  /** read(trigger): blocks until the line fired; the number of times it fired since. */
  wait(): number {
    this.process.read(this.trigger, this.counterVa, 8);
    return this.counter();
  }

  /**
   * poll(trigger, timeoutNs) and read it if ready: the count, or null when nothing fired. With
   * the default 0 no virtual time passes, so an interrupt the GIC has yet to deliver (a line
   * unmasked while its device still asserts it) needs a short timeout to be seen.
   */
  tryWait(timeoutNs = 0): number | null {
    const [r] = this.process.poll([{ fd: this.trigger, events: POLLIN }], timeoutNs);
    if (!r || !(r.revents & POLLIN)) return null;
    return this.wait();
  }

  /** Lets the automasked line through again (after the device was quiesced). */
  unmask(): void {
    if (this.unmaskMode === "ioctl") {
      this.device.setIrqs({ index: this.index, action: "unmask" });
    } else if (this.unmaskMode === "eventfd") {
      this.process.poke(this.counterVa, this.one);
      this.process.write(this.unmaskFd!, this.counterVa, 8);
    }
  }

  /** Tears the trigger down (SET_IRQS TRIGGER, DATA_NONE, count 0) and closes the eventfds. */
  close(): void {
    if (this.unmaskFd !== null) {
      this.device.setIrqs({ index: this.index, action: "unmask", data: { eventfds: [-1] } });
      this.process.close(this.unmaskFd);
    }
    this.device.setIrqs({ index: this.index, action: "trigger", count: 0 });
    this.process.close(this.trigger);
    this.process.munmap(this.counterVa, 4096);
  }

  private counter(): number {
    const bytes = this.process.peek(this.counterVa, 8);
    new Uint8Array(this.view.buffer).set(bytes);
    return Number(this.view.getBigUint64(0, true));
  }
}
