import { crc32 as zlibCrc32 } from "node:zlib";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../core/clock.js";
import { PhysicalMemory } from "../core/physical-memory.js";
import { SystemBus } from "../core/system-bus.js";
import { HwTrace } from "../core/trace.js";
import {
  xgmacBits as B,
  crc32,
  XGMAC_DMA_FETCH_NS,
  XGMAC_SOFT_RESET_NS,
  XGMAC_VERSION_DEFAULT,
  Xgmac,
  type XgmacOptions,
  xgmacHashBit,
  xgmacModel,
} from "./xgmac.js";

const BASE = 0x0c00_4000;
const RAM = 0x4000_0000;
const TX_RING = RAM + 0x1000;
const RX_RING = RAM + 0x2000;
const BUF = RAM + 0x10000;

/** Register offsets as xgmac.c names them. */
const XGMAC_CONTROL = 0x000;
const XGMAC_FRAME_FILTER = 0x004;
const XGMAC_VERSION = 0x020;
const XGMAC_INT_STAT = 0x03c;
const XGMAC_ADDR_HIGH = (n: number) => 0x040 + 8 * n;
const XGMAC_ADDR_LOW = (n: number) => 0x044 + 8 * n;
const XGMAC_HASH = (n: number) => 0x300 + 4 * n;
const XGMAC_OMR = 0x400;
const XGMAC_PMT = 0x704;
const XGMAC_MMC_CTRL = 0x800;
const XGMAC_MMC_TXFRAME_GB_LO = 0x81c;
const XGMAC_MMC_TXOCTET_GB_LO = 0x814;
const XGMAC_MMC_RXFRAME_GB_LO = 0x900;
const XGMAC_MMC_RXBCFRAME_G = 0x918;
const XGMAC_DMA_BUS_MODE = 0xf00;
const XGMAC_DMA_TX_POLL = 0xf04;
const XGMAC_DMA_RX_POLL = 0xf08;
const XGMAC_DMA_RX_BASE_ADDR = 0xf0c;
const XGMAC_DMA_TX_BASE_ADDR = 0xf10;
const XGMAC_DMA_STATUS = 0xf14;
const XGMAC_DMA_CONTROL = 0xf18;
const XGMAC_DMA_INTR_ENA = 0xf1c;
const XGMAC_DMA_MISS_FRAME_CTR = 0xf20;
const XGMAC_DMA_CUR_TX_DESC = 0xf48;
const XGMAC_DMA_CUR_RX_DESC = 0xf4c;
const XGMAC_DMA_HW_FEATURE = 0xf58;

const MAC = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

interface Desc {
  flags: number;
  sizes: number;
  buf1: number;
  buf2: number;
}

function setup(options?: XgmacOptions, ramSize = 0x10_0000) {
  const memory = new PhysicalMemory();
  const bus = new SystemBus(memory);
  const clock = new VirtualClock();
  const trace = new HwTrace(() => clock.now);
  bus.addRam("ram", RAM, ramSize);
  const dev = new Xgmac(
    { clock, trace, bus },
    {
      name: "ethernet@c004000",
      path: "/platform-bus@c000000/ethernet@c004000",
      compatible: ["calxeda,hb-xgmac"],
      windows: [{ base: BASE, size: 0x1000 }],
    },
    options,
  );
  bus.addMmio(dev.name, BASE, 0x1000, dev, 0);
  const sent: Uint8Array[] = [];
  dev.onTransmit = (f) => sent.push(f);
  const rd = (off: number) => bus.read(BASE + off, 4);
  const wr = (off: number, v: number) => bus.write(BASE + off, 4, v >>> 0);
  const setBits = (off: number, bits: number) => wr(off, rd(off) | bits);
  const clearBits = (off: number, bits: number) => wr(off, rd(off) & ~bits);
  const putDesc = (addr: number, d: Desc) => {
    const b = Buffer.alloc(32);
    b.writeUInt32LE(d.flags >>> 0, 0);
    b.writeUInt32LE(d.sizes >>> 0, 4);
    b.writeUInt32LE(d.buf1 >>> 0, 8);
    b.writeUInt32LE(d.buf2 >>> 0, 12);
    bus.writeBytes(addr, b);
  };
  const getDesc = (addr: number): Desc => {
    const b = Buffer.from(bus.readBytes(addr, 16));
    return {
      flags: b.readUInt32LE(0),
      sizes: b.readUInt32LE(4),
      buf1: b.readUInt32LE(8),
      buf2: b.readUInt32LE(12),
    };
  };
  /** xgmac_hw_init() + xgmac_open(), with empty rings the test fills. */
  const open = () => {
    wr(
      XGMAC_DMA_BUS_MODE,
      (0x10 << 8) | (0x10 << 17) | 0x0001_0000 | B.DMA_BUS_MODE_ATDS | 0x0200_0000,
    );
    wr(XGMAC_DMA_INTR_ENA, 0);
    wr(XGMAC_INT_STAT, B.XGMAC_INT_STAT_PMTIM);
    wr(
      XGMAC_CONTROL,
      B.XGMAC_CONTROL_DDIC | B.XGMAC_CONTROL_JE | B.XGMAC_CONTROL_ACS | B.XGMAC_CONTROL_CAR,
    );
    wr(XGMAC_DMA_CONTROL, B.DMA_CONTROL_OSF);
    wr(XGMAC_ADDR_HIGH(0), (MAC[5]! << 8) | MAC[4]!);
    wr(XGMAC_ADDR_LOW(0), (MAC[3]! << 24) | (MAC[2]! << 16) | (MAC[1]! << 8) | MAC[0]!);
    wr(XGMAC_DMA_TX_BASE_ADDR, TX_RING);
    wr(XGMAC_DMA_RX_BASE_ADDR, RX_RING);
    setBits(XGMAC_CONTROL, B.MAC_ENABLE_RX | B.MAC_ENABLE_TX);
    setBits(XGMAC_DMA_CONTROL, B.DMA_CONTROL_ST | B.DMA_CONTROL_SR);
    wr(XGMAC_DMA_STATUS, B.DMA_INTR_DEFAULT_MASK);
    wr(XGMAC_DMA_INTR_ENA, B.DMA_INTR_DEFAULT_MASK);
  };
  /** One-descriptor frames at TX_RING[i], as xgmac_xmit() lays them out. */
  const queueTx = (i: number, frame: Uint8Array, extra = 0) => {
    const buf = BUF + 0x4000 * i;
    bus.writeBytes(buf, frame);
    putDesc(TX_RING + 32 * i, {
      flags: B.DESC_OWN | B.TXDESC_FIRST_SEG | B.TXDESC_LAST_SEG | extra,
      sizes: frame.length,
      buf1: buf,
      buf2: 0,
    });
  };
  /** xgmac_rx_refill(): owned RX descriptors with `size`-byte buffers. */
  const fillRx = (count: number, size = 1536, endRing = false) => {
    for (let i = 0; i < count; i++) {
      const end = endRing && i === count - 1 ? B.RXDESC1_END_RING : 0;
      putDesc(RX_RING + 32 * i, {
        flags: B.DESC_OWN,
        sizes: size | end,
        buf1: BUF + 0x8_0000 + 0x4000 * i,
        buf2: 0,
      });
    }
  };
  const status = () => rd(XGMAC_DMA_STATUS);
  return {
    memory,
    bus,
    clock,
    trace,
    dev,
    sent,
    rd,
    wr,
    setBits,
    clearBits,
    putDesc,
    getDesc,
    open,
    queueTx,
    fillRx,
    status,
  };
}

function frame(dst: readonly number[], type: number, payload: number, seed = 1): Uint8Array {
  const f = new Uint8Array(14 + payload);
  f.set(dst, 0);
  f.set([0x52, 0x54, 0x00, 0x12, 0x34, 0x56], 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  for (let i = 14; i < f.length; i++) f[i] = (i * 37 + seed) & 0xff;
  return f;
}

const fcsOf = (f: Uint8Array) => {
  const c = zlibCrc32(f);
  return [c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24];
};
const ts = (s: number) => (s & B.DMA_STATUS_TS_MASK) >>> B.DMA_STATUS_TS_SHIFT;
const rs = (s: number) => (s & B.DMA_STATUS_RS_MASK) >>> B.DMA_STATUS_RS_SHIFT;

describe("XGMAC registers", () => {
  it("read their reset values", () => {
    const { rd, dev } = setup();
    for (const { name, index, offset, spec } of Xgmac.registers.entries()) {
      expect(rd(offset), `${name}[${index}]`).toBe(spec.reset ?? 0);
    }
    expect(rd(XGMAC_VERSION)).toBe(XGMAC_VERSION_DEFAULT);
    expect(dev.guestErrors).toEqual([
      "read of write-only register XGMAC_DMA_TX_POLL",
      "read of write-only register XGMAC_DMA_RX_POLL",
    ]);
    expect(dev.irqs.map((l) => [l.name, l.level])).toEqual([
      ["main", false],
      ["pmt", false],
      ["lpi", false],
    ]);
  });

  it("report the configured version, hardware features and firmware MAC address", () => {
    const { rd } = setup({ version: 0x1234, hwFeature: B.DMA_HW_FEAT_TXCOESEL, macAddress: MAC });
    expect(rd(XGMAC_VERSION)).toBe(0x1234);
    expect(rd(XGMAC_DMA_HW_FEATURE)).toBe(B.DMA_HW_FEAT_TXCOESEL);
    expect(rd(XGMAC_ADDR_HIGH(0))).toBe(0x3020);
    expect(rd(XGMAC_ADDR_LOW(0))).toBe(0x105e_0002);
  });

  it("let the driver find 31 address filters: ADDR_HIGH(31) keeps a written 1", () => {
    const { rd, wr } = setup();
    wr(XGMAC_ADDR_HIGH(31), 1);
    expect(rd(XGMAC_ADDR_HIGH(31))).toBe(1);
  });

  it("log unknown offsets, read-only writes and write-only reads as guest errors", () => {
    const { rd, wr, dev } = setup();
    expect(rd(0x500)).toBe(0);
    wr(0x500, 1);
    wr(XGMAC_VERSION, 0);
    wr(XGMAC_DMA_CUR_TX_DESC, 0x1234);
    expect(rd(XGMAC_DMA_CUR_TX_DESC)).toBe(0);
    expect(dev.guestErrors).toEqual([
      "read of unknown register at offset 0x500",
      "write of unknown register at offset 0x500",
      "write to read-only register XGMAC_VERSION",
      "write to read-only register XGMAC_DMA_CUR_TX_DESC",
    ]);
  });

  it("keep only the mask bits of XGMAC_INT_STAT writable", () => {
    const { rd, wr } = setup();
    wr(XGMAC_INT_STAT, 0xffff_ffff);
    expect(rd(XGMAC_INT_STAT)).toBe(B.XGMAC_INT_STAT_PMTIM | B.XGMAC_INT_STAT_LPIIM);
  });

  it("complete a TX FIFO flush at once: XGMAC_OMR.FTF reads back clear", () => {
    const { rd, wr } = setup();
    wr(XGMAC_OMR, 0x0020_0000 | B.XGMAC_OMR_FTF);
    expect(rd(XGMAC_OMR)).toBe(0x0020_0000);
  });

  it("name xgmac.c's DMA_INTR_DEFAULT_MASK: its normal and abnormal enables", () => {
    const normal =
      B.DMA_INTR_ENA_NIE | B.DMA_INTR_ENA_RIE | B.DMA_INTR_ENA_TUE | B.DMA_INTR_ENA_TIE;
    const abnormal =
      B.DMA_INTR_ENA_AIE |
      B.DMA_INTR_ENA_FBE |
      B.DMA_INTR_ENA_RWE |
      B.DMA_INTR_ENA_RSE |
      B.DMA_INTR_ENA_RUE |
      B.DMA_INTR_ENA_UNE |
      B.DMA_INTR_ENA_OVE |
      B.DMA_INTR_ENA_TJE |
      B.DMA_INTR_ENA_TSE;
    expect(B.DMA_INTR_DEFAULT_MASK).toBe(normal | abnormal);
  });

  it("mask DMA_INTR_ENA to the defined enables", () => {
    const { rd, wr } = setup();
    wr(XGMAC_DMA_INTR_ENA, 0xffff_ffff);
    expect(rd(XGMAC_DMA_INTR_ENA)).toBe(0x0001_ffff);
  });
});

describe("XGMAC software reset", () => {
  it("reads SFT_RESET until the reset completes, with every register back at its reset value", () => {
    const { clock, rd, wr, open, dev } = setup({ macAddress: MAC });
    open();
    wr(XGMAC_DMA_BUS_MODE, B.DMA_BUS_MODE_SFT_RESET);
    expect(rd(XGMAC_DMA_BUS_MODE)).toBe(B.DMA_BUS_MODE_SFT_RESET);
    expect(rd(XGMAC_CONTROL)).toBe(0);
    expect(rd(XGMAC_DMA_INTR_ENA)).toBe(0);
    expect(rd(XGMAC_ADDR_LOW(0))).toBe(0);
    clock.run(XGMAC_SOFT_RESET_NS - 1);
    expect(rd(XGMAC_DMA_BUS_MODE)).toBe(B.DMA_BUS_MODE_SFT_RESET);
    clock.run(1);
    expect(rd(XGMAC_DMA_BUS_MODE)).toBe(0);
    expect(dev.irqs[0]!.level).toBe(false);
  });

  it("refuses register writes while the reset is in progress", () => {
    const { clock, rd, wr, dev } = setup({ softResetNs: 50 });
    wr(XGMAC_DMA_BUS_MODE, B.DMA_BUS_MODE_SFT_RESET);
    wr(XGMAC_CONTROL, B.MAC_ENABLE_TX);
    expect(rd(XGMAC_CONTROL)).toBe(0);
    expect(dev.guestErrors).toEqual([
      "write to XGMAC_CONTROL during the DMA software reset ignored",
    ]);
    clock.run(50);
    wr(XGMAC_CONTROL, B.MAC_ENABLE_TX);
    expect(rd(XGMAC_CONTROL)).toBe(B.MAC_ENABLE_TX);
  });

  it("is cut short by a SoC reset, which restores the firmware MAC address", () => {
    const { clock, rd, wr, dev } = setup({ macAddress: MAC });
    wr(XGMAC_DMA_BUS_MODE, B.DMA_BUS_MODE_SFT_RESET);
    dev.reset();
    expect(rd(XGMAC_DMA_BUS_MODE)).toBe(0);
    expect(rd(XGMAC_ADDR_HIGH(0))).toBe(0x3020);
    expect(clock.runUntilIdle()).toBe(0);
  });
});

describe("XGMAC transmit", () => {
  it("sends a frame after ST and a poll demand, gives the descriptor back and raises TI", () => {
    const { clock, wr, open, queueTx, getDesc, sent, status, dev } = setup();
    open();
    const f = frame(BROADCAST, 0x0800, 100);
    queueTx(0, f, B.TXDESC_INTERRUPT);
    wr(XGMAC_DMA_TX_POLL, 1);
    expect(sent).toEqual([]);
    clock.run(XGMAC_DMA_FETCH_NS);
    expect(sent).toEqual([f]);
    expect(getDesc(TX_RING).flags).toBe(
      B.TXDESC_FIRST_SEG | B.TXDESC_LAST_SEG | B.TXDESC_INTERRUPT,
    );
    expect(status() & (B.DMA_STATUS_TI | B.DMA_STATUS_NIS)).toBe(
      B.DMA_STATUS_TI | B.DMA_STATUS_NIS,
    );
    expect(dev.irqs[0]!.level).toBe(true);
  });

  it("raises no TI for a frame without TXDESC_INTERRUPT", () => {
    const { clock, wr, open, queueTx, sent, status, dev } = setup();
    open();
    queueTx(0, frame(BROADCAST, 0x0800, 46));
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.run(XGMAC_DMA_FETCH_NS);
    expect(sent).toHaveLength(1);
    expect(status() & B.DMA_STATUS_TI).toBe(0);
    expect(dev.irqs[0]!.level).toBe(false);
  });

  it("gathers a frame from FIRST_SEG to LAST_SEG across both buffers of several descriptors", () => {
    const { bus, clock, wr, open, putDesc, getDesc, sent } = setup();
    open();
    const f = frame(MAC, 0x0800, 200);
    bus.writeBytes(BUF, f.subarray(0, 10));
    bus.writeBytes(BUF + 0x100, f.subarray(10, 60));
    bus.writeBytes(BUF + 0x200, f.subarray(60));
    putDesc(TX_RING, {
      flags: B.DESC_OWN | B.TXDESC_FIRST_SEG,
      sizes: 10 | (50 << 16),
      buf1: BUF,
      buf2: BUF + 0x100,
    });
    putDesc(TX_RING + 32, {
      flags: B.DESC_OWN | B.TXDESC_LAST_SEG,
      sizes: f.length - 60,
      buf1: BUF + 0x200,
      buf2: 0,
    });
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.run(XGMAC_DMA_FETCH_NS);
    expect(sent).toEqual([f]);
    expect(getDesc(TX_RING).flags & B.DESC_OWN).toBe(0);
    expect(getDesc(TX_RING + 32).flags & B.DESC_OWN).toBe(0);
  });

  it("sends queued frames back to back, one wire time apart, then suspends with TU", () => {
    const { clock, rd, wr, open, queueTx, sent, status } = setup();
    open();
    queueTx(0, frame(BROADCAST, 0x0800, 986));
    queueTx(1, frame(BROADCAST, 0x0800, 46));
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.run(XGMAC_DMA_FETCH_NS);
    expect(sent).toHaveLength(1);
    // 1000 bytes + FCS, preamble and gap at 0.8 ns per byte.
    clock.run(Math.ceil(((1000 + 24) * 4) / 5) - 1);
    expect(sent).toHaveLength(1);
    clock.run(1);
    expect(sent).toHaveLength(2);
    clock.runUntilIdle();
    expect(ts(status())).toBe(6);
    expect(status() & B.DMA_STATUS_TU).toBe(B.DMA_STATUS_TU);
    expect(rd(XGMAC_DMA_CUR_TX_DESC)).toBe(TX_RING + 64);
  });

  it("resumes from suspension on the next poll demand", () => {
    const { clock, wr, open, queueTx, sent, status } = setup();
    open();
    clock.runUntilIdle();
    expect(ts(status())).toBe(6);
    queueTx(0, frame(BROADCAST, 0x0800, 46));
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toHaveLength(1);
  });

  it("wraps to the list base after a descriptor marked TXDESC_END_RING", () => {
    const { bus, clock, rd, wr, open, putDesc, sent } = setup();
    open();
    const f = frame(BROADCAST, 0x0800, 46);
    bus.writeBytes(BUF, f);
    putDesc(TX_RING, {
      flags: B.DESC_OWN | B.TXDESC_FIRST_SEG | B.TXDESC_LAST_SEG | B.TXDESC_END_RING,
      sizes: f.length,
      buf1: BUF,
      buf2: 0,
    });
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toHaveLength(1);
    expect(rd(XGMAC_DMA_CUR_TX_DESC)).toBe(TX_RING);
  });

  it("follows buffer 2 as the next descriptor in chained mode", () => {
    const { bus, clock, rd, wr, open, putDesc, sent } = setup();
    open();
    const f = frame(BROADCAST, 0x0800, 46);
    bus.writeBytes(BUF, f);
    putDesc(TX_RING, {
      flags: B.DESC_OWN | B.TXDESC_FIRST_SEG | B.TXDESC_LAST_SEG | B.TXDESC_2ND_ADDR_CHAINED,
      sizes: f.length | (0x40 << 16),
      buf1: BUF,
      buf2: RAM + 0x3000,
    });
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toEqual([f]);
    expect(rd(XGMAC_DMA_CUR_TX_DESC)).toBe(RAM + 0x3000);
  });

  it("steps 16-byte descriptors plus the skip length when ATDS is clear", () => {
    const { bus, clock, rd, wr, open, putDesc, sent } = setup();
    open();
    wr(XGMAC_DMA_BUS_MODE, 2 << B.DMA_BUS_MODE_DSL_SHIFT);
    const f = frame(BROADCAST, 0x0800, 46);
    bus.writeBytes(BUF, f);
    putDesc(TX_RING, {
      flags: B.DESC_OWN | B.TXDESC_FIRST_SEG | B.TXDESC_LAST_SEG,
      sizes: f.length,
      buf1: BUF,
      buf2: 0,
    });
    putDesc(TX_RING + 32, {
      flags: B.DESC_OWN | B.TXDESC_FIRST_SEG | B.TXDESC_LAST_SEG,
      sizes: f.length,
      buf1: BUF,
      buf2: 0,
    });
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toHaveLength(2);
    expect(rd(XGMAC_DMA_CUR_TX_DESC)).toBe(TX_RING + 64);
  });

  it("waits while the transmitter is disabled and sends once MAC_ENABLE_TX is set", () => {
    const { clock, wr, open, queueTx, clearBits, setBits, sent } = setup();
    open();
    clearBits(XGMAC_CONTROL, B.MAC_ENABLE_TX);
    queueTx(0, frame(BROADCAST, 0x0800, 46));
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toEqual([]);
    setBits(XGMAC_CONTROL, B.MAC_ENABLE_TX);
    clock.runUntilIdle();
    expect(sent).toHaveLength(1);
  });

  it("ignores a poll demand while the transmit process is stopped", () => {
    const { clock, wr, queueTx, sent, trace } = setup();
    const rec = trace.record();
    wr(XGMAC_CONTROL, B.MAC_ENABLE_TX);
    wr(XGMAC_DMA_TX_BASE_ADDR, TX_RING);
    queueTx(0, frame(BROADCAST, 0x0800, 46));
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toEqual([]);
    expect(rec.records.some((r) => r.type === "device" && r.event === "tx-poll-ignored")).toBe(
      true,
    );
  });

  it("refuses a list base written while the process runs, as a guest error", () => {
    const { rd, wr, open, dev } = setup();
    open();
    wr(XGMAC_DMA_TX_BASE_ADDR, RAM + 0x5000);
    expect(rd(XGMAC_DMA_CUR_TX_DESC)).toBe(TX_RING);
    expect(dev.guestErrors).toEqual(["TX descriptor list base written while the process runs"]);
  });

  it("warns about a frame that starts without FIRST_SEG but still sends it", () => {
    const { bus, clock, wr, open, putDesc, sent, dev } = setup();
    open();
    const f = frame(BROADCAST, 0x0800, 46);
    bus.writeBytes(BUF, f);
    putDesc(TX_RING, {
      flags: B.DESC_OWN | B.TXDESC_LAST_SEG,
      sizes: f.length,
      buf1: BUF,
      buf2: 0,
    });
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toHaveLength(1);
    expect(dev.guestErrors).toEqual([
      `TX descriptor at 0x${TX_RING.toString(16)} starts a frame without FIRST_SEG`,
    ]);
  });

  it("does not start a frame whose later descriptors the host still owns", () => {
    const { bus, clock, wr, open, putDesc, getDesc, sent, status } = setup();
    open();
    bus.writeBytes(BUF, frame(BROADCAST, 0x0800, 46));
    putDesc(TX_RING, { flags: B.DESC_OWN | B.TXDESC_FIRST_SEG, sizes: 30, buf1: BUF, buf2: 0 });
    putDesc(TX_RING + 32, { flags: B.TXDESC_LAST_SEG, sizes: 30, buf1: BUF + 30, buf2: 0 });
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toEqual([]);
    expect((getDesc(TX_RING).flags & B.DESC_OWN) >>> 0).toBe(B.DESC_OWN);
    expect(ts(status())).toBe(6);
  });
});

describe("XGMAC receive", () => {
  it("stores an Ethernet-type frame with its FCS and reports the length including it", () => {
    const { bus, rd, open, fillRx, getDesc, status, dev } = setup();
    fillRx(4);
    open();
    const f = frame(MAC, 0x0800, 100);
    expect(dev.receive(f)).toBe(true);
    const d = getDesc(RX_RING);
    expect(d.flags).toBe(
      B.RXDESC_FIRST_SEG | B.RXDESC_LAST_SEG | B.RXDESC_FRAME_TYPE | ((f.length + 4) << 16),
    );
    expect([...bus.readBytes(d.buf1, f.length + 4)]).toEqual([...f, ...fcsOf(f)]);
    expect(status() & B.DMA_STATUS_RI).toBe(B.DMA_STATUS_RI);
    expect(dev.irqs[0]!.level).toBe(true);
    expect(rd(XGMAC_DMA_CUR_RX_DESC)).toBe(RX_RING + 32);
    expect(rs(status())).toBe(3);
  });

  it("strips the FCS of an 802.3 length frame when ACS is set, and keeps it when clear", () => {
    const { bus, open, fillRx, getDesc, clearBits, dev } = setup();
    fillRx(2);
    open();
    const f = frame(MAC, 46, 46);
    dev.receive(f);
    expect(getDesc(RX_RING).flags).toBe(B.RXDESC_FIRST_SEG | B.RXDESC_LAST_SEG | (f.length << 16));
    clearBits(XGMAC_CONTROL, B.XGMAC_CONTROL_ACS);
    dev.receive(f);
    const d = getDesc(RX_RING + 32);
    expect(d.flags).toBe(B.RXDESC_FIRST_SEG | B.RXDESC_LAST_SEG | ((f.length + 4) << 16));
    expect([...bus.readBytes(d.buf1 + f.length, 4)]).toEqual(fcsOf(f));
  });

  it("spreads a frame larger than one descriptor over several, FIRST_SEG first and LAST_SEG last", () => {
    const { bus, open, fillRx, getDesc, dev } = setup();
    fillRx(4, 256);
    open();
    const f = frame(MAC, 0x0800, 586);
    expect(dev.receive(f)).toBe(true);
    const ds = [0, 1, 2].map((i) => getDesc(RX_RING + 32 * i));
    expect(ds.map((d) => d.flags)).toEqual([
      B.RXDESC_FIRST_SEG,
      0,
      B.RXDESC_LAST_SEG | B.RXDESC_FRAME_TYPE | (604 << 16),
    ]);
    const stored = [...ds.flatMap((d) => [...bus.readBytes(d.buf1, 256)])].slice(0, 604);
    expect(stored).toEqual([...f, ...fcsOf(f)]);
    expect(getDesc(RX_RING + 96).flags).toBe(B.DESC_OWN);
  });

  it("drops a frame when no descriptor is owned: RU, suspended, counted as missed until read", () => {
    const { rd, open, status, dev } = setup();
    open();
    expect(rs(status())).toBe(4);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(false);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(false);
    expect(status() & (B.DMA_STATUS_RU | B.DMA_STATUS_AIS)).toBe(
      B.DMA_STATUS_RU | B.DMA_STATUS_AIS,
    );
    expect(rd(XGMAC_DMA_MISS_FRAME_CTR)).toBe(2);
    expect(rd(XGMAC_DMA_MISS_FRAME_CTR)).toBe(0);
  });

  it("resumes on a receive poll demand once the host refills the ring", () => {
    const { wr, open, fillRx, status, dev } = setup();
    open();
    expect(rs(status())).toBe(4);
    fillRx(1);
    wr(XGMAC_DMA_RX_POLL, 1);
    expect(rs(status())).toBe(3);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(true);
  });

  it("wraps to the list base after RXDESC1_END_RING", () => {
    const { rd, open, fillRx, dev } = setup();
    fillRx(2, 1536, true);
    open();
    dev.receive(frame(MAC, 0x0800, 46));
    dev.receive(frame(MAC, 0x0800, 46));
    expect(rd(XGMAC_DMA_CUR_RX_DESC)).toBe(RX_RING);
  });

  it("counts frames arriving while the receive DMA is stopped as FIFO overflows", () => {
    const { rd, wr, fillRx, dev } = setup();
    fillRx(1);
    wr(XGMAC_CONTROL, B.MAC_ENABLE_RX);
    wr(XGMAC_ADDR_LOW(0), 0);
    expect(dev.receive(frame([0, 0, 0, 0, 0, 0], 0x0800, 46))).toBe(false);
    expect(rd(XGMAC_DMA_MISS_FRAME_CTR)).toBe(1 << 17);
  });

  it("ignores frames while the receiver is disabled", () => {
    const { open, fillRx, clearBits, status, dev } = setup();
    fillRx(1);
    open();
    clearBits(XGMAC_CONTROL, B.MAC_ENABLE_RX);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(false);
    expect(status() & B.DMA_STATUS_RI).toBe(0);
  });

  it("refuses frames shorter than a header or longer than the length field", () => {
    const { dev } = setup();
    expect(() => dev.receive(new Uint8Array(13))).toThrow(RangeError);
    expect(() => dev.receive(new Uint8Array(0x3fff - 3))).toThrow(RangeError);
  });

  it("sends frames back to the receiver in loopback mode", () => {
    const { bus, clock, wr, open, queueTx, fillRx, setBits, getDesc, sent, dev } = setup();
    fillRx(1);
    open();
    setBits(XGMAC_CONTROL, B.XGMAC_CONTROL_LM);
    const f = frame(MAC, 0x0800, 60);
    queueTx(0, f);
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toEqual([]);
    expect([...bus.readBytes(getDesc(RX_RING).buf1, f.length)]).toEqual([...f]);
    expect(dev.irqs[0]!.level).toBe(true);
  });
});

describe("XGMAC address filter", () => {
  const setupOpen = () => {
    const s = setup();
    s.fillRx(8);
    s.open();
    return s;
  };

  it("accepts its own address and broadcast, and drops other unicast", () => {
    const { dev } = setupOpen();
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(true);
    expect(dev.receive(frame(BROADCAST, 0x0806, 46))).toBe(true);
    expect(dev.receive(frame([0x02, 0, 0, 0, 0, 1], 0x0800, 46))).toBe(false);
  });

  it("drops broadcast when DBF is set", () => {
    const { wr, dev } = setupOpen();
    wr(XGMAC_FRAME_FILTER, B.XGMAC_FRAME_FILTER_DBF);
    expect(dev.receive(frame(BROADCAST, 0x0806, 46))).toBe(false);
  });

  it("matches further perfect filters only when their AE bit is set", () => {
    const { wr, dev } = setupOpen();
    const other = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
    wr(XGMAC_ADDR_HIGH(3), (other[5]! << 8) | other[4]!);
    wr(XGMAC_ADDR_LOW(3), (other[3]! << 24) | (other[2]! << 16) | (other[1]! << 8) | other[0]!);
    expect(dev.receive(frame(other, 0x0800, 46))).toBe(false);
    wr(XGMAC_ADDR_HIGH(3), B.XGMAC_ADDR_AE | (other[5]! << 8) | other[4]!);
    expect(dev.receive(frame(other, 0x0800, 46))).toBe(true);
  });

  it("matches multicast by hash with the bit xgmac.c computes from ether_crc", () => {
    const { wr, dev } = setupOpen();
    const group = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];
    // ~ether_crc(6, addr) >> 23 is the bit-reversed standard CRC-32, top 9 bits.
    const c = zlibCrc32(Uint8Array.from(group));
    const bit =
      Number.parseInt(c.toString(2).padStart(32, "0").split("").reverse().join(""), 2) >>> 23;
    expect(xgmacHashBit(Uint8Array.from(group))).toBe(bit);
    wr(XGMAC_FRAME_FILTER, B.XGMAC_FRAME_FILTER_HMC | B.XGMAC_FRAME_FILTER_HPF);
    expect(dev.receive(frame(group, 0x86dd, 46))).toBe(false);
    wr(XGMAC_HASH(bit >>> 5), 1 << (bit & 31));
    expect(dev.receive(frame(group, 0x86dd, 46))).toBe(true);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(true);
  });

  it("uses the hash alone for unicast when HUC is set without HPF", () => {
    const { wr, dev } = setupOpen();
    wr(XGMAC_FRAME_FILTER, B.XGMAC_FRAME_FILTER_HUC);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(false);
  });

  it("passes all multicast with PM and everything with PR", () => {
    const { wr, dev } = setupOpen();
    wr(XGMAC_FRAME_FILTER, B.XGMAC_FRAME_FILTER_PM);
    expect(dev.receive(frame([0x01, 0, 0x5e, 1, 2, 3], 0x0800, 46))).toBe(true);
    expect(dev.receive(frame([0x02, 9, 9, 9, 9, 9], 0x0800, 46))).toBe(false);
    wr(XGMAC_FRAME_FILTER, B.XGMAC_FRAME_FILTER_PR);
    expect(dev.receive(frame([0x02, 9, 9, 9, 9, 9], 0x0800, 46))).toBe(true);
  });

  it("stores a failing frame with RXDESC_DA_FILTER_FAIL in receive-all mode", () => {
    const { wr, getDesc, dev } = setupOpen();
    wr(XGMAC_FRAME_FILTER, B.XGMAC_FRAME_FILTER_RA);
    expect(dev.receive(frame([0x02, 9, 9, 9, 9, 9], 0x0800, 46))).toBe(true);
    expect(getDesc(RX_RING).flags & B.RXDESC_DA_FILTER_FAIL).toBe(B.RXDESC_DA_FILTER_FAIL);
  });

  it("logs inverse, source-address and VLAN filtering as unimplemented", () => {
    const { wr, dev } = setupOpen();
    wr(XGMAC_FRAME_FILTER, B.XGMAC_FRAME_FILTER_SAF);
    expect(dev.guestErrors).toEqual([
      "unimplemented: frame filter modes 0x200 (inverse, SA, VLAN)",
    ]);
  });
});

describe("XGMAC bus errors", () => {
  const eb = (s: number) =>
    s & (B.DMA_STATUS_EB_TXDMA | B.DMA_STATUS_EB_READ | B.DMA_STATUS_EB_DESC);

  it("stops the transmit process with FBI on a descriptor fetch outside memory", () => {
    const { clock, wr, rd, status, sent, dev, trace } = setup();
    const rec = trace.record();
    wr(XGMAC_DMA_TX_BASE_ADDR, 0x1000);
    wr(XGMAC_CONTROL, B.MAC_ENABLE_TX);
    wr(XGMAC_DMA_INTR_ENA, B.DMA_INTR_DEFAULT_MASK);
    wr(XGMAC_DMA_CONTROL, B.DMA_CONTROL_ST);
    clock.runUntilIdle();
    const s = status();
    expect(s & (B.DMA_STATUS_FBI | B.DMA_STATUS_AIS)).toBe(B.DMA_STATUS_FBI | B.DMA_STATUS_AIS);
    expect(eb(s)).toBe(B.DMA_STATUS_EB_TXDMA | B.DMA_STATUS_EB_READ | B.DMA_STATUS_EB_DESC);
    expect(ts(s)).toBe(0);
    expect(dev.irqs[0]!.level).toBe(true);
    expect(sent).toEqual([]);
    expect(rec.records.some((r) => r.type === "device" && r.event === "fatal-bus-error")).toBe(
      true,
    );
    // Stays stopped: a poll demand does nothing until ST is cleared and set again.
    wr(XGMAC_DMA_TX_POLL, 1);
    expect(clock.pending).toBe(0);
    expect(rd(XGMAC_DMA_CONTROL) & B.DMA_CONTROL_ST).toBe(B.DMA_CONTROL_ST);
  });

  it("reports a data-buffer read fault as a TX read of data", () => {
    const { clock, wr, open, putDesc, status, sent } = setup();
    open();
    putDesc(TX_RING, {
      flags: B.DESC_OWN | B.TXDESC_FIRST_SEG | B.TXDESC_LAST_SEG,
      sizes: 60,
      buf1: 0x2000_0000,
      buf2: 0,
    });
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(eb(status())).toBe(B.DMA_STATUS_EB_TXDMA | B.DMA_STATUS_EB_READ);
    expect(sent).toEqual([]);
  });

  it("restarts after the driver clears FBI and toggles ST", () => {
    const { bus, clock, wr, rd, status, sent, putDesc, clearBits, setBits } = setup();
    wr(XGMAC_DMA_BUS_MODE, B.DMA_BUS_MODE_ATDS);
    wr(XGMAC_DMA_TX_BASE_ADDR, 0x1000);
    wr(XGMAC_CONTROL, B.MAC_ENABLE_TX);
    wr(XGMAC_DMA_CONTROL, B.DMA_CONTROL_ST);
    clock.runUntilIdle();
    wr(XGMAC_DMA_STATUS, B.DMA_STATUS_FBI);
    expect(eb(status())).toBe(0);
    clearBits(XGMAC_DMA_CONTROL, B.DMA_CONTROL_ST);
    wr(XGMAC_DMA_TX_BASE_ADDR, TX_RING);
    expect(rd(XGMAC_DMA_CUR_TX_DESC)).toBe(TX_RING);
    const f = frame(BROADCAST, 0x0800, 46);
    bus.writeBytes(BUF, f);
    putDesc(TX_RING, {
      flags: B.DESC_OWN | B.TXDESC_FIRST_SEG | B.TXDESC_LAST_SEG,
      sizes: f.length,
      buf1: BUF,
      buf2: 0,
    });
    setBits(XGMAC_DMA_CONTROL, B.DMA_CONTROL_ST);
    clock.runUntilIdle();
    expect(sent).toEqual([f]);
  });

  it("reports a receive buffer outside memory as an RX write of data and stops receiving", () => {
    const { open, putDesc, status, dev } = setup();
    putDesc(RX_RING, { flags: B.DESC_OWN, sizes: 1536, buf1: 0x2000_0000, buf2: 0 });
    open();
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(false);
    const s = status();
    expect(s & B.DMA_STATUS_FBI).toBe(B.DMA_STATUS_FBI);
    expect(eb(s)).toBe(0);
    expect(rs(s)).toBe(0);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(false);
  });

  it("reports an RX descriptor list outside memory at SR as an RX read of a descriptor", () => {
    const { wr, status } = setup();
    wr(XGMAC_DMA_RX_BASE_ADDR, 0x1000);
    wr(XGMAC_DMA_CONTROL, B.DMA_CONTROL_SR);
    expect(eb(status())).toBe(B.DMA_STATUS_EB_READ | B.DMA_STATUS_EB_DESC);
  });
});

describe("XGMAC interrupts", () => {
  it("follow the driver's handler: read status & enables, write them back, line drops", () => {
    const { clock, rd, wr, open, queueTx, dev } = setup();
    open();
    queueTx(0, frame(BROADCAST, 0x0800, 46), B.TXDESC_INTERRUPT);
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.run(XGMAC_DMA_FETCH_NS);
    expect(dev.irqs[0]!.level).toBe(true);
    // xgmac_interrupt(): acknowledge what is pending and enabled, then leave only abnormal
    // causes enabled while NAPI polls.
    const pending = rd(XGMAC_DMA_STATUS) & rd(XGMAC_DMA_INTR_ENA);
    expect(pending).toBe(B.DMA_STATUS_TI | B.DMA_STATUS_NIS);
    wr(XGMAC_DMA_STATUS, pending);
    wr(
      XGMAC_DMA_INTR_ENA,
      rd(XGMAC_DMA_INTR_ENA) &
        ~(B.DMA_INTR_ENA_NIE | B.DMA_INTR_ENA_RIE | B.DMA_INTR_ENA_TUE | B.DMA_INTR_ENA_TIE),
    );
    expect(dev.irqs[0]!.level).toBe(false);
    // The DMA then finds the ring empty: TU is recorded but stays quiet while masked…
    clock.runUntilIdle();
    expect(rd(XGMAC_DMA_STATUS) & 0x1ffff).toBe(B.DMA_STATUS_TU);
    expect(dev.irqs[0]!.level).toBe(false);
    // …and raises the line when xgmac_poll() re-enables the default mask.
    wr(XGMAC_DMA_INTR_ENA, B.DMA_INTR_DEFAULT_MASK);
    expect(dev.irqs[0]!.level).toBe(true);
  });

  it("drive the main line from NIS only while NIE is enabled", () => {
    const { clock, wr, open, queueTx, clearBits, setBits, dev } = setup();
    open();
    queueTx(0, frame(BROADCAST, 0x0800, 46), B.TXDESC_INTERRUPT);
    clearBits(XGMAC_DMA_INTR_ENA, B.DMA_INTR_ENA_NIE | B.DMA_INTR_ENA_TUE);
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(dev.irqs[0]!.level).toBe(false);
    setBits(XGMAC_DMA_INTR_ENA, B.DMA_INTR_ENA_NIE);
    expect(dev.irqs[0]!.level).toBe(true);
  });

  it("report the processes stopping (TPS, RPS) when the vfio reset module disables the MAC", () => {
    const { clock, rd, wr, open, fillRx, setBits, status, dev } = setup();
    fillRx(1);
    open();
    clock.runUntilIdle();
    // vfio_platform_calxedaxgmac_reset(): interrupts off, DMA off, MAC off.
    wr(XGMAC_DMA_INTR_ENA, 0);
    wr(XGMAC_DMA_CONTROL, rd(XGMAC_DMA_CONTROL) & ~(B.DMA_CONTROL_ST | B.DMA_CONTROL_SR));
    wr(XGMAC_CONTROL, rd(XGMAC_CONTROL) & ~(B.MAC_ENABLE_TX | B.MAC_ENABLE_RX));
    const s = status();
    expect(s & (B.DMA_STATUS_TPS | B.DMA_STATUS_RPS)).toBe(B.DMA_STATUS_TPS | B.DMA_STATUS_RPS);
    expect([ts(s), rs(s)]).toEqual([0, 0]);
    expect(dev.irqs.map((l) => l.level)).toEqual([false, false, false]);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(false);
    setBits(XGMAC_DMA_INTR_ENA, B.DMA_INTR_ENA_AIE | B.DMA_INTR_ENA_TSE);
    expect(dev.irqs[0]!.level).toBe(true);
  });
});

describe("XGMAC power management", () => {
  it("wakes on a magic packet: PMT status, the pmt line unless masked, cleared by reading PMT", () => {
    const { rd, wr, open, fillRx, dev } = setup();
    fillRx(1);
    open();
    wr(XGMAC_INT_STAT, 0);
    wr(XGMAC_PMT, B.XGMAC_PMT_POWERDOWN | B.XGMAC_PMT_MAGIC_PKT_EN);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(false);
    expect(dev.irqs[1]!.level).toBe(false);
    const magic = new Uint8Array(14 + 6 + 96 + 4);
    magic.set(BROADCAST, 0);
    magic.set([0x08, 0x42], 12);
    magic.fill(0xff, 16, 22);
    for (let i = 0; i < 16; i++) magic.set(MAC, 22 + 6 * i);
    expect(dev.receive(magic)).toBe(false);
    expect(dev.irqs[1]!.level).toBe(true);
    expect(rd(XGMAC_INT_STAT) & B.XGMAC_INT_STAT_PMT).toBe(B.XGMAC_INT_STAT_PMT);
    expect(rd(XGMAC_PMT)).toBe(B.XGMAC_PMT_MAGIC_PKT_EN | B.XGMAC_PMT_MAGIC_PKT);
    expect(rd(XGMAC_PMT)).toBe(B.XGMAC_PMT_MAGIC_PKT_EN);
    expect(dev.irqs[1]!.level).toBe(false);
    expect(dev.receive(frame(MAC, 0x0800, 46))).toBe(true);
  });

  it("wakes on any unicast frame to its address with GLBL_UNICAST, masked by PMTIM", () => {
    const { rd, wr, open, dev } = setup();
    open();
    wr(XGMAC_PMT, B.XGMAC_PMT_POWERDOWN | B.XGMAC_PMT_GLBL_UNICAST);
    dev.receive(frame(MAC, 0x0800, 46));
    expect(rd(XGMAC_INT_STAT)).toBe(B.XGMAC_INT_STAT_PMTIM | B.XGMAC_INT_STAT_PMT);
    expect(dev.irqs[1]!.level).toBe(false);
    expect(rd(XGMAC_PMT) & B.XGMAC_PMT_WAKEUP_RX_FRM).toBe(B.XGMAC_PMT_WAKEUP_RX_FRM);
  });

  it("logs remote wake-up frame filters as unimplemented", () => {
    const { wr, dev } = setup();
    wr(XGMAC_PMT, B.XGMAC_PMT_WAKEUP_FRM_EN);
    expect(dev.guestErrors).toEqual(["unimplemented: remote wake-up frame filters"]);
  });
});

describe("XGMAC MMC counters", () => {
  it("count transmitted and received frames and octets (FCS included), freeze and reset", () => {
    const { clock, rd, wr, open, queueTx, fillRx, dev } = setup();
    fillRx(4);
    open();
    queueTx(0, frame(BROADCAST, 0x0800, 86));
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    dev.receive(frame(BROADCAST, 0x0806, 46));
    expect(rd(XGMAC_MMC_TXFRAME_GB_LO)).toBe(1);
    expect(rd(XGMAC_MMC_TXOCTET_GB_LO)).toBe(104);
    expect(rd(XGMAC_MMC_RXFRAME_GB_LO)).toBe(1);
    expect(rd(XGMAC_MMC_RXBCFRAME_G)).toBe(1);
    wr(XGMAC_MMC_CTRL, B.XGMAC_MMC_CTRL_CNT_FRZ);
    dev.receive(frame(BROADCAST, 0x0806, 46));
    expect(rd(XGMAC_MMC_RXFRAME_GB_LO)).toBe(1);
    wr(XGMAC_MMC_CTRL, B.XGMAC_MMC_CTRL_CNT_RESET);
    expect(rd(XGMAC_MMC_CTRL)).toBe(0);
    expect(rd(XGMAC_MMC_TXFRAME_GB_LO)).toBe(0);
  });
});

describe("XGMAC properties", () => {
  test.prop([
    fc.uint8Array({ minLength: 14, maxLength: 3000 }),
    fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }),
  ])("a frame split over any buffers leaves the wire exactly as software wrote it", (f, cuts) => {
    const { bus, clock, wr, open, putDesc, sent } = setup();
    open();
    const pieces: Uint8Array[] = [];
    let at = 0;
    for (const c of cuts) {
      if (at >= f.length) break;
      pieces.push(f.subarray(at, Math.min(f.length, at + c)));
      at += c;
    }
    if (at < f.length) pieces.push(f.subarray(at));
    pieces.forEach((p, i) => {
      bus.writeBytes(BUF + 0x1000 * i, p);
      const flags =
        B.DESC_OWN |
        (i === 0 ? B.TXDESC_FIRST_SEG : 0) |
        (i === pieces.length - 1 ? B.TXDESC_LAST_SEG : 0);
      putDesc(TX_RING + 32 * i, { flags, sizes: p.length, buf1: BUF + 0x1000 * i, buf2: 0 });
    });
    wr(XGMAC_DMA_TX_POLL, 1);
    clock.runUntilIdle();
    expect(sent).toEqual([f]);
  });

  test.prop([
    fc.uint8Array({ minLength: 0, maxLength: 4000 }),
    fc.integer({ min: 64, max: 2048 }),
    fc.integer({ min: 0, max: 0xffff }),
  ])(
    "a received frame lands in memory, with the FCS the standard CRC-32 gives, whatever the buffer size",
    (payload, bufSize, type) => {
      const { bus, open, fillRx, getDesc, clearBits, dev } = setup();
      fillRx(64, bufSize);
      open();
      clearBits(XGMAC_CONTROL, B.XGMAC_CONTROL_ACS);
      const f = Uint8Array.from([...MAC, 1, 2, 3, 4, 5, 6, type >>> 8, type & 0xff, ...payload]);
      expect(dev.receive(f)).toBe(true);
      const total = f.length + 4;
      const used = Math.ceil(total / bufSize);
      const stored = Array.from({ length: used }, (_, i) => [
        ...bus.readBytes(getDesc(RX_RING + 32 * i).buf1, bufSize),
      ]).flat();
      expect(stored.slice(0, total)).toEqual([...f, ...fcsOf(f)]);
      const last = getDesc(RX_RING + 32 * (used - 1));
      expect((last.flags & B.RXDESC_FRAME_LEN_MASK) >>> B.RXDESC_FRAME_LEN_OFFSET).toBe(total);
      expect(crc32(f)).toBe(zlibCrc32(f));
    },
  );
});

describe("xgmacModel", () => {
  it("builds an XGMAC for calxeda,hb-xgmac with the firmware MAC from local-mac-address", () => {
    const { bus } = setup();
    const clock = new VirtualClock();
    const dev = xgmacModel.create(
      { clock, trace: new HwTrace(() => clock.now), bus },
      {
        name: "ethernet@fff50000",
        path: "/ethernet@fff50000",
        compatible: ["calxeda,hb-xgmac"],
        windows: [{ base: 0xfff5_0000, size: 0x1000 }],
      },
      {
        name: "ethernet@fff50000",
        properties: [{ name: "local-mac-address", value: Uint8Array.from(MAC) }],
        children: [],
        labels: [],
      },
      {
        root: { name: "", properties: [], children: [], labels: [] },
        memoryReservations: [],
        bootCpuidPhys: 0,
      },
    );
    expect(xgmacModel.compatible).toEqual(["calxeda,hb-xgmac"]);
    expect(dev.mmioRead(0x040, 4, 0)).toBe(0x3020);
    expect(dev.mmioRead(0x044, 4, 0)).toBe(0x105e_0002);
    expect(dev.dma).not.toBeNull();
  });

  it("rejects a MAC address that is not 6 bytes", () => {
    expect(() => setup({ macAddress: [1, 2, 3] })).toThrow(RangeError);
  });
});
