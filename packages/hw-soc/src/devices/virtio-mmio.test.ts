import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { BusError } from "../core/bus-error.js";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { type AccessSize, SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import {
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_VENDOR_QEMU,
  VIRTIO_MMIO_WINDOW,
  type VirtioMmioOptions,
  VirtioMmioTransport,
  virtioMmioModel,
} from "./virtio-mmio.js";

const BASE = 0x0a00_0000;

function setup(options?: VirtioMmioOptions) {
  const bus = new SystemBus(new PhysicalMemory());
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  const dev = new VirtioMmioTransport(
    { clock, trace, bus },
    {
      name: "virtio_mmio@a000000",
      path: "/virtio_mmio@a000000",
      compatible: ["virtio,mmio"],
      windows: [{ base: BASE, size: VIRTIO_MMIO_WINDOW }],
    },
    options,
  );
  bus.addMmio(dev.name, BASE, VIRTIO_MMIO_WINDOW, dev, 0);
  return { bus, trace, dev };
}

describe("empty virtio-mmio transport", () => {
  it("reads the reset value of every register: magic, version 1, vendor QEMU, the rest 0", () => {
    const { bus, dev } = setup();
    for (const { name, index, offset, spec } of dev.registers.entries()) {
      expect(bus.read(BASE + offset, 4), `${name}[${index}]`).toBe(spec.reset ?? 0);
    }
    expect(bus.read(BASE + 0x000, 4)).toBe(VIRTIO_MMIO_MAGIC);
    expect(bus.read(BASE + 0x004, 4)).toBe(1);
    expect(bus.read(BASE + 0x008, 4)).toBe(0);
    expect(bus.read(BASE + 0x00c, 4)).toBe(VIRTIO_MMIO_VENDOR_QEMU);
    expect(dev.guestErrors).toEqual([]);
  });

  it("spells virt and QEMU in memory order", () => {
    const { bus } = setup();
    const text = (off: number) => new TextDecoder().decode(bus.readBytes(BASE + off, 4));
    expect(text(0x000)).toBe("virt");
    expect(text(0x00c)).toBe("QEMU");
  });

  it("reports Version 2 when force-legacy is off", () => {
    const { bus } = setup({ forceLegacy: false });
    expect(bus.read(BASE + 0x004, 4)).toBe(2);
  });

  it("answers only at exact register offsets: a narrow read is truncated, not shifted", () => {
    const { bus } = setup();
    expect(bus.read(BASE + 0x000, 1)).toBe(0x76);
    expect(bus.read(BASE + 0x000, 2)).toBe(0x6976);
    expect(bus.read(BASE + 0x001, 1)).toBe(0);
    expect(bus.read(BASE + 0x002, 2)).toBe(0);
    expect(bus.read(BASE + 0x00c, 2)).toBe(0x4551);
  });

  it("drops writes, even to Status and the config space, without a guest error", () => {
    const { bus, dev, trace } = setup();
    const rec = trace.record();
    bus.write(BASE + 0x070, 4, 0x0f);
    bus.write(BASE + 0x100, 1, 0xff);
    bus.write(BASE + 0x000, 4, 0);
    expect(bus.read(BASE + 0x070, 4)).toBe(0);
    expect(bus.read(BASE + 0x100, 4)).toBe(0);
    expect(bus.read(BASE + 0x000, 4)).toBe(VIRTIO_MMIO_MAGIC);
    expect(dev.guestErrors).toEqual([]);
    expect(rec.records.map((r) => r.type === "device" && r.detail?.register)).toEqual([
      "Status",
      "Config",
      "MagicValue",
    ]);
  });

  it("refuses unaligned accesses with a bus error and a guest error", () => {
    const { bus, dev } = setup();
    expect(() => bus.read(BASE + 0x002, 4)).toThrow(BusError);
    expect(() => bus.write(BASE + 0x071, 2, 0)).toThrow(BusError);
    expect(dev.guestErrors).toEqual([
      "invalid read at offset 0x2, size 4: unaligned",
      "invalid write at offset 0x71, size 2: unaligned",
    ]);
  });

  test.prop([
    fc.integer({ min: 0, max: VIRTIO_MMIO_WINDOW / 4 - 1 }),
    fc.constantFrom<AccessSize>(1, 2, 4),
  ])("reads zero everywhere except the three identification registers", (word, size) => {
    const { bus } = setup();
    const offset = word * 4;
    const expected =
      offset === 0
        ? VIRTIO_MMIO_MAGIC
        : offset === 4
          ? 1
          : offset === 0xc
            ? VIRTIO_MMIO_VENDOR_QEMU
            : 0;
    const mask = size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    expect(bus.read(BASE + offset, size)).toBe((expected & mask) >>> 0);
  });

  it("never raises its interrupt and has no DMA port", () => {
    const { bus, dev } = setup();
    bus.write(BASE + 0x050, 4, 0);
    dev.reset();
    expect(dev.irqs.map((l) => [l.name, l.level])).toEqual([["irq", false]]);
    expect(dev.dma).toBeNull();
  });

  it("is what virtioMmioModel builds for virtio,mmio", () => {
    const { bus } = setup();
    const clock = new VirtualClock();
    const dev = virtioMmioModel.create(
      { clock, trace: new HwTrace(() => clock.now), bus },
      {
        name: "virtio_mmio@a000200",
        path: "/virtio_mmio@a000200",
        compatible: ["virtio,mmio"],
        windows: [{ base: 0x0a00_0200, size: 0x200 }],
      },
      { name: "virtio_mmio@a000200", properties: [], children: [], labels: [] },
      {
        root: { name: "", properties: [], children: [], labels: [] },
        memoryReservations: [],
        bootCpuidPhys: 0,
      },
    );
    expect(virtioMmioModel.compatible).toEqual(["virtio,mmio"]);
    expect(dev).toBeInstanceOf(VirtioMmioTransport);
    expect((dev as VirtioMmioTransport).version).toBe(1);
  });
});
