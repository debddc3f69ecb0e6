/**
 * vfio_platform_irq.c through a VMM's syscalls: what GET_IRQ_INFO says for level and edge
 * lines, the lines requested at open and freed at close, a refused request_irq() kept for
 * SET_IRQS, every action × data type of VFIO_DEVICE_SET_IRQS with its errnos, automasking with
 * the DMA test engine's level interrupt, UNMASK by ioctl and by eventfd, and the rule that a
 * line is enabled exactly when a trigger is set and the index is not masked.
 *
 * Devices: c030000.dma-test (vfio-platform, IOMMU group 1, level SPI 125) — with
 * `reset_required=0`, as no reset module is installed; a000000.virtio_mmio (edge, no IOMMU:
 * no-IOMMU mode); the PL330 (vfio-amba, nine level lines).
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import {
  EFD_NONBLOCK,
  type Kernel,
  type PlatformDevice,
  type Process,
  SysError,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_SET_IRQS,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  vfio_irq_set,
} from "@vfio-lab/kernel/uapi";
import type { VfioDevice } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import {
  assign,
  type World as Booted,
  boot,
  DEV,
  eventfdRead,
  type LabDevice,
  type Opened,
  openDevice,
} from "../test/platform-fixture.js";
import { VFIO_AMBA } from "./vfio-amba.js";
import { VFIO_PLATFORM, vfioPlatformDeviceOf } from "./vfio-platform.js";
import type { VfioPlatformDevice } from "./vfio-platform-private.js";

const LEVEL = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
const NONE = VFIO_IRQ_SET_DATA_NONE;
const BOOL = VFIO_IRQ_SET_DATA_BOOL;
const EVENTFD = VFIO_IRQ_SET_DATA_EVENTFD;
const MASK = VFIO_IRQ_SET_ACTION_MASK;
const UNMASK = VFIO_IRQ_SET_ACTION_UNMASK;
const TRIGGER = VFIO_IRQ_SET_ACTION_TRIGGER;

/** DMA test engine registers (hw-soc dma-test.ts). */
const LEN = 0x18;
const CTRL = 0x1c;
const STATUS = 0x20;
const CTRL_START_IRQ_EN = 0x3;
const STATUS_DONE = 0x2;

interface World extends Booted, Opened {
  readonly vdev: VfioPlatformDevice;
  /** The Linux IRQ of index 0. */
  readonly virq: number;
}

/** A board device handed to `driver` and opened by the VMM. */
function open(dev: LabDevice, driver: string, opts: { noiommu?: boolean } = {}): World {
  const lab = boot({ resetRequired: false, noiommu: opts.noiommu ?? false });
  assign(lab.p, dev, driver);
  const opened = openDevice(lab.p, dev);
  const vdev = vfioPlatformDeviceOf(lab.kernel, dev.bus, dev.name);
  return { ...lab, ...opened, vdev, virq: vdev.irqs[0]!.hwirq };
}

const dmaTest = () => open(DEV.DMA_TEST0, VFIO_PLATFORM);
const virtio = () => open(DEV.VIRTIO0, VFIO_PLATFORM, { noiommu: true });

/** VFIO_DEVICE_SET_IRQS with any header: `data` follows it, argsz covers both. */
function setIrqs(
  w: { p: Process; device: VfioDevice },
  hdr: { flags: number; index?: number; start?: number; count?: number },
  data: Uint8Array = new Uint8Array(0),
): number {
  const bytes = vfio_irq_set.encode({
    argsz: vfio_irq_set.size + data.length,
    flags: hdr.flags,
    index: hdr.index ?? 0,
    start: hdr.start ?? 0,
    count: hdr.count ?? 1,
    data,
  });
  const va = w.p.malloc(bytes.length);
  w.p.poke(va, bytes);
  return w.p.ioctl(w.device.fd, VFIO_DEVICE_SET_IRQS, va);
}

const s32 = (fd: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, fd, true);
  return b;
};
const u8 = (v: number) => Uint8Array.of(v);

function signal(p: Process, efd: number): void {
  const va = p.malloc(8);
  p.poke(va, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0));
  p.write(efd, va, 8);
}

function writel(w: World, off: number, v: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  w.device.writeRegion(0, off, b);
}

/** The engine's zero-length transfer: DONE after its setup time raises the level line. */
function raise(w: World): void {
  writel(w, LEN, 0);
  writel(w, CTRL, CTRL_START_IRQ_EN);
  w.soc.clock.run(1_000);
}

/** The device quiets its line (STATUS.DONE acknowledged). */
function ack(w: World): void {
  writel(w, STATUS, STATUS_DONE);
}

const depth = (kernel: Kernel, virq: number) => kernel.irq.irqToDesc(virq)!.depth;

/** A trigger eventfd on index 0. */
function wire(w: World): number {
  const efd = w.p.eventfd(0, EFD_NONBLOCK);
  setIrqs(w, { flags: EVENTFD | TRIGGER }, s32(efd));
  return efd;
}

describe("lines at open and close", () => {
  test("a level line: EVENTFD|MASKABLE|AUTOMASKED, count 1, `vfio-irq[N](<vdev name>)` Level", () => {
    const w = dmaTest();
    expect(w.device.irqInfo(0)).toEqual({ index: 0, flags: LEVEL, count: 1 });
    expect(w.p.readFile("/proc/interrupts")).toMatch(
      new RegExp(`^ *${w.virq}:.* Level +vfio-irq\\[${w.virq}\\]\\(c030000\\.dma-test\\)$`, "m"),
    );
    w.close();
    expect(w.p.readFile("/proc/interrupts")).not.toContain("vfio-irq[");
  });

  test("an edge line: EVENTFD only, Edge", () => {
    const w = virtio();
    expect(w.device.irqInfo(0)).toEqual({ index: 0, flags: VFIO_IRQ_INFO_EVENTFD, count: 1 });
    expect(w.p.readFile("/proc/interrupts")).toMatch(
      new RegExp(` Edge +vfio-irq\\[${w.virq}\\]\\(a000000\\.virtio_mmio\\)$`, "m"),
    );
  });

  test("an AMBA device's lines carry vdev->name: nine vfio-irq[N](vfio-amba-00241330)", () => {
    const w = open(DEV.PL330, VFIO_AMBA);
    const rows = w.p
      .readFile("/proc/interrupts")
      .split("\n")
      .filter((l) => l.includes("vfio-irq["));
    expect(rows).toHaveLength(9);
    for (const [i, irq] of w.vdev.irqs.entries()) {
      expect(rows[i]).toMatch(
        new RegExp(`Level +vfio-irq\\[${irq.hwirq}\\]\\(vfio-amba-00241330\\)$`),
      );
      expect(w.device.irqInfo(i).flags).toBe(LEVEL);
    }
  });

  test("requested with NO_AUTOEN: the line stays disabled until a trigger is set", () => {
    const w = dmaTest();
    expect(depth(w.kernel, w.virq)).toBe(1);
    raise(w);
    const efd = wire(w);
    expect(depth(w.kernel, w.virq)).toBe(0);
    // The engine has been asserting all along: enabling the line delivers it at once.
    w.soc.clock.run(1_000);
    expect(eventfdRead(w.p, efd)).toBe(1n);
  });

  test("a line request_irq() refuses: open succeeds, every SET_IRQS returns that errno", () => {
    const lab = boot({ resetRequired: false });
    assign(lab.p, DEV.DMA_TEST0, VFIO_PLATFORM);
    const pdev = lab.kernel.drivers.findDevice("platform", DEV.DMA_TEST0.name) as PlatformDevice;
    const virq = pdev.getIrqOptional(0);
    const squatter = {};
    lab.kernel.irq.requestIrq(virq, () => 1, 0, "squatter", squatter);
    const w = { ...lab, ...openDevice(lab.p, DEV.DMA_TEST0) };
    expect(w.device.irqInfo(0).flags).toBe(LEVEL);
    expect(w.p.readFile("/proc/interrupts")).not.toContain("vfio-irq[");
    expect(() => setIrqs(w, { flags: NONE | TRIGGER })).toThrowErrno("EBUSY");
    // Checked before the action: even a request ENOTTY would refuse gets the stored error.
    expect(() => setIrqs(w, { flags: NONE | MASK | UNMASK })).toThrowErrno("EBUSY");
    w.close();
    // Close frees only what was requested: the squatter keeps its line.
    expect(lab.kernel.irq.freeIrq(virq, squatter)).toBe("squatter");
    const again = openDevice(lab.p, DEV.DMA_TEST0);
    expect(setIrqs({ p: lab.p, device: again.device }, { flags: NONE | TRIGGER })).toBe(0);
  });

  test("every allocation failure at open unwinds fully: no line stays requested", () => {
    const lab = boot({ resetRequired: false });
    assign(lab.p, DEV.PL330, VFIO_AMBA);
    const { group, container, device: first } = openDevice(lab.p, DEV.PL330);
    first.close();
    for (let nth = 1; ; nth++) {
      let seen = 0;
      lab.kernel.allocator.setFailHook(
        (site) => (site === "kzalloc" || site === "kasprintf") && ++seen === nth,
      );
      let device: VfioDevice | null = null;
      let err: unknown = null;
      try {
        device = group.deviceFd(DEV.PL330.name);
      } catch (e) {
        err = e;
      }
      lab.kernel.allocator.setFailHook(undefined);
      if (device) {
        // The regions, the IRQ array and all nine names were each made to fail once.
        expect(nth).toBeGreaterThan(11);
        expect(device.info().numIrqs).toBe(9);
        device.close();
        break;
      }
      expect(SysError.isInstance(err) && err.code).toBe("ENOMEM");
      expect(lab.p.readFile("/proc/interrupts")).not.toContain("vfio-irq[");
    }
    group.close();
    container.close();
  });
});

describe("SET_IRQS: the action field", () => {
  test("two actions at once: ENOTTY", () => {
    const w = dmaTest();
    expect(() => setIrqs(w, { flags: NONE | MASK | UNMASK })).toThrowErrno("ENOTTY");
  });

  test("no action bit at all: ENOTTY", () => {
    const w = dmaTest();
    expect(() => setIrqs(w, { flags: NONE })).toThrowErrno("ENOTTY");
  });

  test("the header is vfio-core's: an index past the device's IRQs is EINVAL", () => {
    const w = dmaTest();
    expect(() => setIrqs(w, { flags: NONE | TRIGGER, index: 1 })).toThrowErrno("EINVAL");
  });
});

describe("SET_IRQS MASK and UNMASK", () => {
  for (const [name, action] of [
    ["MASK", MASK],
    ["UNMASK", UNMASK],
  ] as const) {
    test(`${name} of anything but start 0, count 1: EINVAL`, () => {
      const w = dmaTest();
      expect(() => setIrqs(w, { flags: NONE | action, count: 0 })).toThrowErrno("EINVAL");
    });

    test(`${name} of an edge line (not MASKABLE): EINVAL`, () => {
      const w = virtio();
      expect(() => setIrqs(w, { flags: NONE | action })).toThrowErrno("EINVAL");
    });

    test(`${name} by eventfd: a second one on the same index is EBUSY`, () => {
      const w = dmaTest();
      setIrqs(w, { flags: EVENTFD | action }, s32(w.p.eventfd(0, EFD_NONBLOCK)));
      expect(() =>
        setIrqs(w, { flags: EVENTFD | action }, s32(w.p.eventfd(0, EFD_NONBLOCK))),
      ).toThrowErrno("EBUSY");
    });

    test(`${name} by eventfd: an fd that is not open is EBADF`, () => {
      const w = dmaTest();
      expect(() => setIrqs(w, { flags: EVENTFD | action }, s32(999))).toThrowErrno("EBADF");
    });

    test(`${name} by eventfd: a file that is not an eventfd is EINVAL`, () => {
      const w = dmaTest();
      expect(() => setIrqs(w, { flags: EVENTFD | action }, s32(w.device.fd))).toThrowErrno(
        "EINVAL",
      );
    });

    test(`${name} by eventfd: the virqfd cannot be allocated, ENOMEM, the slot stays free`, () => {
      const w = dmaTest();
      const efd = w.p.eventfd(0, EFD_NONBLOCK);
      w.kernel.allocator.setFailHook((site) => site === "kzalloc");
      expect(() => setIrqs(w, { flags: EVENTFD | action }, s32(efd))).toThrowErrno("ENOMEM");
      w.kernel.allocator.setFailHook(undefined);
      expect(setIrqs(w, { flags: EVENTFD | action }, s32(efd))).toBe(0);
    });

    test(`${name} by eventfd -1 unhooks, and succeeds with nothing hooked`, () => {
      const w = dmaTest();
      const slot = action === MASK ? w.vdev.irqs[0]!.mask : w.vdev.irqs[0]!.unmask;
      expect(setIrqs(w, { flags: EVENTFD | action }, s32(-1))).toBe(0);
      setIrqs(w, { flags: EVENTFD | action }, s32(w.p.eventfd(0, EFD_NONBLOCK)));
      expect(slot.virqfd).not.toBeNull();
      expect(setIrqs(w, { flags: EVENTFD | action }, s32(-1))).toBe(0);
      expect(slot.virqfd).toBeNull();
    });
  }

  test("MASK then UNMASK by value: BOOL 0 does nothing, BOOL 1 and NONE act", () => {
    const w = dmaTest();
    wire(w);
    setIrqs(w, { flags: BOOL | MASK }, u8(0));
    expect(w.vdev.irqs[0]!.masked).toBe(false);
    setIrqs(w, { flags: BOOL | MASK }, u8(1));
    expect(w.vdev.irqs[0]!.masked).toBe(true);
    expect(depth(w.kernel, w.virq)).toBe(1);
    setIrqs(w, { flags: BOOL | UNMASK }, u8(0));
    expect(w.vdev.irqs[0]!.masked).toBe(true);
    setIrqs(w, { flags: NONE | UNMASK });
    expect(w.vdev.irqs[0]!.masked).toBe(false);
    expect(depth(w.kernel, w.virq)).toBe(0);
    setIrqs(w, { flags: NONE | MASK });
    setIrqs(w, { flags: NONE | MASK });
    // Masking twice nests nothing: one UNMASK re-enables.
    setIrqs(w, { flags: BOOL | UNMASK }, u8(7));
    expect(depth(w.kernel, w.virq)).toBe(0);
  });
});

describe("SET_IRQS TRIGGER", () => {
  test("BOOL or EVENTFD with count 0: EINVAL (only DATA_NONE tears down)", () => {
    const w = dmaTest();
    expect(() => setIrqs(w, { flags: BOOL | TRIGGER, count: 0 })).toThrowErrno("EINVAL");
    expect(() => setIrqs(w, { flags: EVENTFD | TRIGGER, count: 0 })).toThrowErrno("EINVAL");
  });

  test("count 0 tears down at any start the header check passes (PL330: start 5 of 9)", () => {
    const w = open(DEV.PL330, VFIO_AMBA);
    const efd = w.p.eventfd(0, EFD_NONBLOCK);
    setIrqs(w, { flags: EVENTFD | TRIGGER, index: 1 }, s32(efd));
    expect(setIrqs(w, { flags: NONE | TRIGGER, index: 1, start: 5, count: 0 })).toBe(0);
    expect(w.vdev.irqs[1]!.trigger).toBeNull();
    // The header check measures start against the nine indexes, MASK against its count of 1.
    expect(() => setIrqs(w, { flags: NONE | MASK, index: 1, start: 5, count: 0 })).toThrowErrno(
      "EINVAL",
    );
    expect(() => setIrqs(w, { flags: NONE | TRIGGER, index: 1, start: 9, count: 0 })).toThrowErrno(
      "EINVAL",
    );
  });

  test("NONE with start 0 count 1 is a loopback; any other start/count is EINVAL", () => {
    const w = open(DEV.PL330, VFIO_AMBA);
    expect(() => setIrqs(w, { flags: NONE | TRIGGER, start: 1, count: 1 })).toThrowErrno("EINVAL");
  });

  test("an fd that is not open: EBADF, and the old trigger is already gone", () => {
    const w = dmaTest();
    wire(w);
    expect(() => setIrqs(w, { flags: EVENTFD | TRIGGER }, s32(999))).toThrowErrno("EBADF");
    expect(w.vdev.irqs[0]!.trigger).toBeNull();
    expect(depth(w.kernel, w.virq)).toBe(1);
  });

  test("a file that is not an eventfd: EINVAL, the old trigger gone too", () => {
    const w = dmaTest();
    wire(w);
    expect(() => setIrqs(w, { flags: EVENTFD | TRIGGER }, s32(w.device.fd))).toThrowErrno("EINVAL");
    expect(w.vdev.irqs[0]!.trigger).toBeNull();
  });

  test("fd -1 removes the trigger (and succeeds without one)", () => {
    const w = dmaTest();
    expect(setIrqs(w, { flags: EVENTFD | TRIGGER }, s32(-1))).toBe(0);
    const efd = wire(w);
    expect(setIrqs(w, { flags: EVENTFD | TRIGGER }, s32(-1))).toBe(0);
    expect(depth(w.kernel, w.virq)).toBe(1);
    raise(w);
    expect(eventfdRead(w.p, efd)).toBe(0n);
  });

  test("loopback on an edge line signals every time", () => {
    const w = virtio();
    const efd = wire(w);
    setIrqs(w, { flags: NONE | TRIGGER });
    setIrqs(w, { flags: BOOL | TRIGGER }, u8(1));
    setIrqs(w, { flags: BOOL | TRIGGER }, u8(0));
    expect(eventfdRead(w.p, efd)).toBe(2n);
  });

  test("loopback on a level line runs the automasked handler: one signal, then masked", () => {
    const w = dmaTest();
    const efd = wire(w);
    setIrqs(w, { flags: NONE | TRIGGER });
    setIrqs(w, { flags: NONE | TRIGGER });
    expect(eventfdRead(w.p, efd)).toBe(1n);
    expect(w.vdev.irqs[0]!.masked).toBe(true);
    setIrqs(w, { flags: NONE | UNMASK });
    setIrqs(w, { flags: BOOL | TRIGGER }, u8(1));
    expect(eventfdRead(w.p, efd)).toBe(1n);
  });

  test("replacing the trigger keeps the mask: the new eventfd hears nothing until UNMASK", () => {
    const w = dmaTest();
    wire(w);
    setIrqs(w, { flags: NONE | MASK });
    const efd2 = wire(w);
    raise(w);
    expect(eventfdRead(w.p, efd2)).toBe(0n);
    setIrqs(w, { flags: NONE | UNMASK });
    w.soc.clock.run(1_000);
    expect(eventfdRead(w.p, efd2)).toBe(1n);
  });
});

describe("automasking with the device's level interrupt", () => {
  test("DONE: one signal, the line masked; ack + UNMASK arms the next one", () => {
    const w = dmaTest();
    const efd = wire(w);
    raise(w);
    expect(eventfdRead(w.p, efd)).toBe(1n);
    expect(w.vdev.irqs[0]!.masked).toBe(true);
    ack(w);
    raise(w);
    // Asserted again, but masked: user space has not said it is done.
    expect(eventfdRead(w.p, efd)).toBe(0n);
    ack(w);
    setIrqs(w, { flags: NONE | UNMASK });
    raise(w);
    expect(eventfdRead(w.p, efd)).toBe(1n);
  });

  test("UNMASK while the device still asserts: an immediate second signal, masked again", () => {
    const w = dmaTest();
    const efd = wire(w);
    raise(w);
    expect(eventfdRead(w.p, efd)).toBe(1n);
    setIrqs(w, { flags: NONE | UNMASK });
    w.soc.clock.run(1_000);
    expect(eventfdRead(w.p, efd)).toBe(1n);
    expect(w.vdev.irqs[0]!.masked).toBe(true);
  });

  test("UNMASK by eventfd (virqfd): writing it re-enables the line, nothing to read there", () => {
    const w = dmaTest();
    const efd = wire(w);
    const unmask = w.p.eventfd(0, EFD_NONBLOCK);
    setIrqs(w, { flags: EVENTFD | UNMASK }, s32(unmask));
    raise(w);
    expect(eventfdRead(w.p, efd)).toBe(1n);
    ack(w);
    signal(w.p, unmask);
    expect(w.vdev.irqs[0]!.masked).toBe(false);
    expect(eventfdRead(w.p, unmask)).toBe(0n);
    raise(w);
    expect(eventfdRead(w.p, efd)).toBe(1n);
  });

  test("MASK by eventfd: writing it masks; the interrupt waits for UNMASK", () => {
    const w = dmaTest();
    const efd = wire(w);
    const mask = w.p.eventfd(0, EFD_NONBLOCK);
    setIrqs(w, { flags: EVENTFD | MASK }, s32(mask));
    signal(w.p, mask);
    raise(w);
    expect(eventfdRead(w.p, efd)).toBe(0n);
    setIrqs(w, { flags: NONE | UNMASK });
    w.soc.clock.run(1_000);
    expect(eventfdRead(w.p, efd)).toBe(1n);
  });

  test("a blocking read of the trigger waits in virtual time for the device", () => {
    const w = dmaTest();
    const efd = w.p.eventfd(0, 0);
    setIrqs(w, { flags: EVENTFD | TRIGGER }, s32(efd));
    writel(w, LEN, 0);
    writel(w, CTRL, CTRL_START_IRQ_EN);
    const va = w.p.malloc(8);
    expect(w.p.read(efd, va, 8)).toBe(8);
    expect(new DataView(w.p.peek(va, 8).buffer).getBigUint64(0, true)).toBe(1n);
  });

  test("last close: virqfds unhooked, line freed, trigger dropped; later writes reach nothing", () => {
    const w = dmaTest();
    const efd = wire(w);
    const unmask = w.p.eventfd(0, EFD_NONBLOCK);
    setIrqs(w, { flags: EVENTFD | UNMASK }, s32(unmask));
    const irq = w.vdev.irqs[0]!;
    w.device.close();
    expect(irq.unmask.virqfd).toBeNull();
    expect(irq.trigger).toBeNull();
    expect(w.vdev.irqs).toEqual([]);
    expect(w.p.readFile("/proc/interrupts")).not.toContain("vfio-irq[");
    // The eventfds are plain eventfds again: the count stays for their reader.
    signal(w.p, unmask);
    expect(eventfdRead(w.p, unmask)).toBe(1n);
    expect(eventfdRead(w.p, efd)).toBe(0n);
  });
});

describe("the line-enabled rule", () => {
  /** One SET_IRQS a VMM might issue on a level line, and its effect on the reference model. */
  const ops = [
    "trigger",
    "trigger -1",
    "teardown",
    "mask",
    "unmask",
    "mask bool",
    "unmask bool",
    "loopback",
  ] as const;

  // One boot for every run: each starts from a torn-down trigger and an unmasked line.
  const w = dmaTest();
  const efd = w.p.eventfd(0, EFD_NONBLOCK);

  fcTest.prop([fc.array(fc.constantFrom(...ops), { maxLength: 24 })], { numRuns: 100 })(
    "enabled ⇔ trigger set ∧ ¬masked, after any sequence of SET_IRQS",
    (seq) => {
      setIrqs(w, { flags: NONE | TRIGGER, count: 0 });
      setIrqs(w, { flags: NONE | UNMASK });
      eventfdRead(w.p, efd);
      let trigger = false;
      let masked = false;
      let signals = 0n;
      for (const op of seq) {
        switch (op) {
          case "trigger":
            setIrqs(w, { flags: EVENTFD | TRIGGER }, s32(efd));
            trigger = true;
            break;
          case "trigger -1":
            setIrqs(w, { flags: EVENTFD | TRIGGER }, s32(-1));
            trigger = false;
            break;
          case "teardown":
            setIrqs(w, { flags: NONE | TRIGGER, count: 0 });
            trigger = false;
            break;
          case "mask":
          case "mask bool":
            setIrqs(w, op === "mask" ? { flags: NONE | MASK } : { flags: BOOL | MASK }, u8(1));
            masked = true;
            break;
          case "unmask":
          case "unmask bool":
            setIrqs(
              w,
              op === "unmask" ? { flags: NONE | UNMASK } : { flags: BOOL | UNMASK },
              u8(1),
            );
            masked = false;
            break;
          case "loopback":
            setIrqs(w, { flags: NONE | TRIGGER });
            if (!masked) {
              masked = true;
              if (trigger) signals++;
            }
            break;
        }
        const irq = w.vdev.irqs[0]!;
        expect(irq.masked).toBe(masked);
        expect(irq.trigger !== null).toBe(trigger);
        // request_irq(NO_AUTOEN) leaves depth 1; a trigger enables once, `masked` nests once.
        expect(depth(w.kernel, w.virq)).toBe(1 - (trigger ? 1 : 0) + (masked ? 1 : 0));
      }
      expect(eventfdRead(w.p, efd)).toBe(signals);
    },
  );
});
