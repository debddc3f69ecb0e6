import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { BusError } from "../core/bus-error.js";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { type AccessSize, SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import {
  FW_CFG_DMA_CTL,
  FW_CFG_FILE_DIR,
  FW_CFG_ID,
  FW_CFG_REGISTERS,
  FW_CFG_SIGNATURE,
  FW_CFG_WINDOW,
  FwCfg,
  type FwCfgOptions,
  fwCfgModel,
} from "./fw-cfg.js";

const BASE = 0x0902_0000;
const RAM = 0x4000_0000;
const DATA = BASE;
const SELECTOR = BASE + 8;
const DMA = BASE + 0x10;

const swap16 = (v: number) => ((v & 0xff) << 8) | (v >>> 8);
const swap32 = (v: number) => Buffer.from(new Uint32Array([v]).buffer).readUInt32BE(0);

function setup(options?: FwCfgOptions) {
  const bus = new SystemBus(new PhysicalMemory());
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  bus.addRam("ram", RAM, 0x10_0000);
  const dev = new FwCfg(
    { clock, trace, bus },
    {
      name: "fw-cfg@9020000",
      path: "/fw-cfg@9020000",
      compatible: ["qemu,fw-cfg-mmio"],
      windows: [{ base: BASE, size: FW_CFG_WINDOW }],
    },
    options,
  );
  bus.addMmio(dev.name, BASE, FW_CFG_WINDOW, dev, 0);
  /** What Linux's qemu_fw_cfg does on MMIO: iowrite16be(key, ctrl). */
  const select = (key: number) => bus.write(SELECTOR, 2, swap16(key));
  const readBytes = (n: number) => Uint8Array.from({ length: n }, () => bus.read(DATA, 1));
  /** iowrite32be(high), iowrite32be(low): the second write runs the transfer. */
  const kick = (addr: number) => {
    bus.write(DMA, 4, swap32(Math.floor(addr / 2 ** 32)));
    bus.write(DMA + 4, 4, swap32(addr % 2 ** 32));
  };
  const access = (at: number, control: number, length: number, address: number) => {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(control, 0);
    b.writeUInt32BE(length, 4);
    b.writeBigUInt64BE(BigInt(address), 8);
    bus.writeBytes(at, b);
  };
  const control = (at: number) => Buffer.from(bus.readBytes(at, 4)).readUInt32BE(0);
  return { bus, trace, dev, select, readBytes, kick, access, control };
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("fw_cfg registers", () => {
  it("read their reset state: DATA streams the signature, SELECTOR is write-only, DMA reads QEMU CFG", () => {
    const { bus, dev } = setup();
    const seen: Record<string, unknown> = {};
    for (const r of FW_CFG_REGISTERS) {
      const v = bus.tryRead(BASE + r.offset, 4, "cpu");
      seen[r.name] = typeof v === "number" ? v : v.reason;
    }
    expect(seen).toEqual({ DATA: 0x554d_4551, SELECTOR: "device", DMA: 0x554d_4551 });
    expect(text(bus.readBytes(DMA, 8))).toBe("QEMU CFG");
    expect(dev.guestErrors).toEqual(["invalid read at offset 0x8, size 4: rejected"]);
  });

  it("cover the 0x18-byte window on virt", () => {
    expect(FW_CFG_REGISTERS.map((r) => [r.name, r.offset, r.size])).toEqual([
      ["DATA", 0x00, 8],
      ["SELECTOR", 0x08, 2],
      ["DMA", 0x10, 8],
    ]);
    expect(FW_CFG_WINDOW).toBe(0x18);
  });
});

describe("fw_cfg traditional interface", () => {
  it('streams the signature item "QEMU" byte by byte, then zeros', () => {
    const { select, readBytes } = setup();
    select(FW_CFG_SIGNATURE);
    expect([...readBytes(6)]).toEqual([0x51, 0x45, 0x4d, 0x55, 0, 0]);
  });

  it("returns the next bytes in memory order for wider reads, padded with zeros at the end", () => {
    const { bus, select } = setup();
    select(FW_CFG_SIGNATURE);
    expect(bus.read(DATA, 2)).toBe(0x4551);
    expect(bus.read(DATA, 4)).toBe(0x0000_554d);
    expect(bus.read(DATA, 4)).toBe(0);
  });

  it("reports traditional and DMA interfaces in the ID item", () => {
    const { bus, select } = setup();
    select(FW_CFG_ID);
    expect(bus.read(DATA, 4)).toBe(0x3);
  });

  it("reports only the traditional interface when DMA is absent", () => {
    const { bus, select } = setup({ dma: false });
    select(FW_CFG_ID);
    expect(bus.read(DATA, 4)).toBe(0x1);
  });

  it("has an empty file directory: the count reads zero", () => {
    const { bus, select, readBytes } = setup();
    select(FW_CFG_FILE_DIR);
    expect(bus.read(DATA, 4)).toBe(0);
    expect([...readBytes(8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("reads zeros for unknown, out-of-range and architecture-local selectors", () => {
    const { bus, select } = setup();
    for (const key of [0x0002, 0x001f, 0x0040, 0x3fff, 0x8000, 0xffff]) {
      select(key);
      expect(bus.read(DATA, 4), `0x${key.toString(16)}`).toBe(0);
    }
  });

  it("ignores the old write-channel bit when selecting", () => {
    const { bus, select } = setup();
    select(0x4000 | FW_CFG_SIGNATURE);
    expect(bus.read(DATA, 4)).toBe(0x554d_4551);
  });

  it("rewinds the item on every select, and reset selects the signature", () => {
    const { bus, select, dev } = setup();
    select(FW_CFG_SIGNATURE);
    bus.read(DATA, 2);
    select(FW_CFG_SIGNATURE);
    expect(bus.read(DATA, 1)).toBe(0x51);
    select(FW_CFG_ID);
    dev.reset();
    expect(bus.read(DATA, 4)).toBe(0x554d_4551);
  });

  it("accepts and ignores data writes, without a guest error", () => {
    const { bus, select, dev } = setup();
    select(FW_CFG_SIGNATURE);
    bus.write(DATA, 1, 0xff);
    expect(bus.read(DATA, 4)).toBe(0x554d_4551);
    expect(dev.guestErrors).toEqual([]);
  });

  it("refuses accesses the memory core rejects, with a bus error and a guest error", () => {
    const { bus, dev } = setup();
    const refused: [string, () => unknown][] = [
      ["data read at +1", () => bus.read(DATA + 1, 1)],
      ["selector read", () => bus.read(SELECTOR, 2)],
      ["1-byte selector write", () => bus.write(SELECTOR, 1, 0)],
      ["4-byte selector write", () => bus.write(SELECTOR, 4, 0)],
      ["unassigned 0xc", () => bus.read(BASE + 0xc, 4)],
      ["2-byte DMA write", () => bus.write(DMA, 2, 0)],
      ["DMA write at +2", () => bus.write(DMA + 2, 1, 0)],
      ["unaligned DMA read", () => bus.read(DMA + 2, 4)],
    ];
    for (const [what, access] of refused) expect(access, what).toThrow(BusError);
    expect(dev.guestErrors).toHaveLength(refused.length);
    expect(dev.guestErrors[0]).toBe("invalid read at offset 0x1, size 1: rejected");
  });

  it("has no DMA register when DMA is absent", () => {
    const { bus, dev } = setup({ dma: false });
    expect(() => bus.read(DMA, 4)).toThrow(BusError);
    expect(dev.dma).toBeNull();
  });
});

describe("fw_cfg files", () => {
  it("lists files sorted by name with big-endian size and selector, and serves their data", () => {
    const { bus, select, readBytes, dev } = setup();
    dev.addFile("etc/boot-fail-wait", new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    dev.addFile("bootorder", new TextEncoder().encode("/pl011\n"));
    select(FW_CFG_FILE_DIR);
    expect(Buffer.from(readBytes(4)).readUInt32BE(0)).toBe(2);
    const entries = [0, 1].map(() => {
      const e = Buffer.from(readBytes(64));
      return {
        size: e.readUInt32BE(0),
        select: e.readUInt16BE(4),
        name: e.subarray(8).toString("latin1").replace(/\0+$/, ""),
      };
    });
    expect(entries).toEqual([
      { size: 7, select: 0x20, name: "bootorder" },
      { size: 4, select: 0x21, name: "etc/boot-fail-wait" },
    ]);
    select(0x20);
    expect(text(readBytes(7))).toBe("/pl011\n");
    expect(bus.read(DATA, 1)).toBe(0);
  });

  it("refuses bad names, duplicates and numbered items outside the well-known range", () => {
    const { dev } = setup();
    dev.addFile("a", new Uint8Array(1));
    expect(() => dev.addFile("a", new Uint8Array(1))).toThrow(RangeError);
    expect(() => dev.addFile("x".repeat(56), new Uint8Array(1))).toThrow(RangeError);
    expect(() => dev.addItem(FW_CFG_FILE_DIR, new Uint8Array(1))).toThrow(RangeError);
    expect(() => dev.addItem(FW_CFG_SIGNATURE, new Uint8Array(1))).toThrow(RangeError);
  });

  it("serves added numbered items, e.g. NB_CPUS as a little-endian u16", () => {
    const { bus, select, dev } = setup();
    dev.addItem(0x05, new Uint8Array([4, 0]));
    select(0x05);
    expect(bus.read(DATA, 2)).toBe(4);
  });

  test.prop([
    fc.uint8Array({ minLength: 0, maxLength: 40 }),
    fc.array(fc.constantFrom<AccessSize>(1, 2, 4), { maxLength: 20 }),
  ])("any sequence of read sizes yields the item's bytes followed by zeros", (data, sizes) => {
    const { bus, select, dev } = setup();
    dev.addFile("blob", data);
    select(0x20);
    const got: number[] = [];
    for (const size of sizes) {
      const v = bus.read(DATA, size);
      for (let i = 0; i < size; i++) got.push((v >>> (8 * i)) & 0xff);
    }
    const expected = Array.from({ length: got.length }, (_, i) => data[i] ?? 0);
    expect(got).toEqual(expected);
  });
});

describe("fw_cfg DMA interface", () => {
  const DESC = RAM + 0x1000;
  const BUF = RAM + 0x2000;

  it("selects and reads an item into memory and clears the control word", () => {
    const { bus, kick, access, control } = setup();
    access(DESC, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL.SELECT | FW_CFG_DMA_CTL.READ, 4, BUF);
    kick(DESC);
    expect(control(DESC)).toBe(0);
    expect(text(bus.readBytes(BUF, 4))).toBe("QEMU");
  });

  it("zero-fills a read past the end of the item", () => {
    const { bus, kick, access, control } = setup();
    bus.writeBytes(BUF, new Uint8Array(8).fill(0xee));
    access(DESC, (FW_CFG_ID << 16) | FW_CFG_DMA_CTL.SELECT | FW_CFG_DMA_CTL.READ, 8, BUF);
    kick(DESC);
    expect(control(DESC)).toBe(0);
    expect([...bus.readBytes(BUF, 8)]).toEqual([3, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("shares the read offset with the data register: skip, then read the rest", () => {
    const { bus, kick, access, select } = setup();
    select(FW_CFG_SIGNATURE);
    access(DESC, FW_CFG_DMA_CTL.SKIP, 2, 0);
    kick(DESC);
    expect(bus.read(DATA, 2)).toBe(0x554d);
  });

  it("does nothing but clear the control word when no operation bit is set", () => {
    const { bus, kick, access, control } = setup();
    access(DESC, 0, 4, BUF);
    kick(DESC);
    expect(control(DESC)).toBe(0);
    expect(bus.read(DATA, 1)).toBe(0x51);
  });

  it("fails a write transfer with ERROR: every item is read-only", () => {
    const { kick, access, control } = setup();
    access(DESC, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL.SELECT | FW_CFG_DMA_CTL.WRITE, 4, BUF);
    kick(DESC);
    expect(control(DESC)).toBe(FW_CFG_DMA_CTL.ERROR);
  });

  it("reports ERROR when the buffer is not memory", () => {
    const { kick, access, control } = setup();
    access(DESC, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL.SELECT | FW_CFG_DMA_CTL.READ, 4, 0x1000);
    kick(DESC);
    expect(control(DESC)).toBe(FW_CFG_DMA_CTL.ERROR);
  });

  it("drops a transfer whose descriptor cannot be read", () => {
    const { bus, kick, trace } = setup();
    const rec = trace.record();
    kick(0x8000_0000);
    expect(rec.records.filter((r) => r.type === "dma-error")).toHaveLength(2);
    expect(bus.read(DATA, 1)).toBe(0x51);
  });

  it("starts only on the low-half write; the high half is cleared after each transfer", () => {
    const { bus, access, control } = setup();
    access(DESC, (FW_CFG_ID << 16) | FW_CFG_DMA_CTL.SELECT | FW_CFG_DMA_CTL.READ, 4, BUF);
    bus.write(DMA, 4, swap32(0x1));
    bus.write(DMA, 4, swap32(0));
    expect(bus.read(BUF, 4)).toBe(0);
    bus.write(DMA + 4, 4, swap32(DESC));
    expect(control(DESC)).toBe(0);
    expect(bus.read(BUF, 4)).toBe(3);
  });
});

describe("fwCfgModel", () => {
  it("builds the device for qemu,fw-cfg-mmio with DMA", () => {
    const { bus } = setup();
    const clock = new VirtualClock();
    const dev = fwCfgModel.create(
      { clock, trace: new HwTrace(() => clock.now), bus },
      {
        name: "fw-cfg@9020000",
        path: "/fw-cfg@9020000",
        compatible: ["qemu,fw-cfg-mmio"],
        windows: [{ base: BASE, size: 0x18 }],
      },
      { name: "fw-cfg@9020000", properties: [], children: [], labels: [] },
      {
        root: { name: "", properties: [], children: [], labels: [] },
        memoryReservations: [],
        bootCpuidPhys: 0,
      },
    );
    expect(fwCfgModel.compatible).toEqual(["qemu,fw-cfg-mmio"]);
    expect((dev as FwCfg).dmaEnabled).toBe(true);
    expect(dev.irqs).toEqual([]);
  });
});
