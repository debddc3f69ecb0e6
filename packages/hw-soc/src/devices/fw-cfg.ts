/**
 * QEMU's firmware configuration device, MMIO flavour (`qemu,fw-cfg-mmio`), as the `virt`
 * machine builds it: one 0x18-byte window at 0x09020000 holding a data register, a selector and
 * a DMA address register, with DMA enabled. Facts from QEMU hw/nvram/fw_cfg.c and from
 * hw/arm/virt.c, which calls `fw_cfg_init_mem_wide(base + 8, base, 8, base + 16, …)`.
 *
 *   +0x00 DATA      8 bytes wide; only accesses that start at +0x00 are accepted (1, 2 or 4
 *                   bytes here). Each read returns the next bytes of the selected item in
 *                   memory order — a string reads as a string — padded with zeros past the end.
 *                   Writes are accepted and ignored (write support was removed in QEMU 2.4).
 *   +0x08 SELECTOR  16-bit, big-endian, write-only: a 2-byte write selects an item and rewinds
 *                   its read offset. Reads and other sizes are refused.
 *   +0x10 DMA       64-bit big-endian address of a FWCfgDmaAccess {be32 control, be32 length,
 *                   be64 address}. Writing the high half (+0x10) stores it and clears the low
 *                   half; writing the low half (+0x14) starts the transfer, which completes
 *                   before the write returns. Reads return the signature "QEMU CFG" in memory
 *                   order, at any naturally aligned size.
 *
 * A refused access (wrong offset, size or alignment, the unassigned 0x0a–0x0f) is a bus error:
 * QEMU's memory core answers it with a decode error, which an Arm CPU takes as an external
 * abort, and logs it as a guest error.
 *
 * Items: selector 0x0000 signature "QEMU"; 0x0001 ID, a little-endian u32 of feature bits
 * (bit 0 traditional interface, bit 1 DMA); 0x0019 the file directory (be32 count, then
 * 64-byte entries {be32 size, be16 select, u16 reserved, char name[56]}), present once a file
 * is added, as in QEMU. Any other selector reads zeros. Selectors keep QEMU's decoding: bit 15
 * picks the architecture-local table (empty on Arm), bit 14 (the old write channel) is ignored,
 * and an entry number at or above 0x40 (0x20 well-known + 0x20 file slots) selects nothing.
 *
 * Caveat:
 * - Only the signature and ID items exist by default; QEMU `virt` also publishes the UUID,
 *   NB_CPUS, NOGRAPHIC and BOOT_MENU items and files (etc/boot-fail-wait, bootorder, ACPI and
 *   SMBIOS tables, …). A board adds them with `addItem()` / `addFile()`.
 * - 8-byte accesses cannot be expressed on the system bus (1, 2 and 4 bytes only), so the
 *   64-bit DMA address is always written as two 32-bit halves.
 * - DMA writes to items always fail (every item is read-only, as QEMU's defaults are).
 * - No select/write callbacks, no legacy (x86) file ordering.
 */

import type { BusError } from "../core/bus-error.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import type { AccessSize } from "../core/system-bus.js";

/** Well-known selectors (include/standard-headers/linux/qemu_fw_cfg.h). */
export const FW_CFG_SIGNATURE = 0x0000;
export const FW_CFG_ID = 0x0001;
export const FW_CFG_FILE_DIR = 0x0019;
export const FW_CFG_FILE_FIRST = 0x0020;
/** QEMU's default number of file slots (`x-file-slots`). */
export const FW_CFG_FILE_SLOTS = 0x20;
export const FW_CFG_ARCH_LOCAL = 0x8000;
const FW_CFG_ENTRY_MASK = 0x3fff;
const FW_CFG_MAX_ENTRY = FW_CFG_FILE_FIRST + FW_CFG_FILE_SLOTS;
const FW_CFG_INVALID = 0xffff;
const FW_CFG_FILE_NAME_LEN = 56;
const FW_CFG_FILE_ENTRY_SIZE = 64;

/** Bits of the ID item. */
export const FW_CFG_VERSION = 0x01;
export const FW_CFG_VERSION_DMA = 0x02;

/** Bits of FWCfgDmaAccess.control; the selector travels in bits [31:16]. */
export const FW_CFG_DMA_CTL = {
  ERROR: 0x01,
  READ: 0x02,
  SKIP: 0x04,
  SELECT: 0x08,
  WRITE: 0x10,
} as const;

/** What a read of the DMA register returns, in memory order. */
export const FW_CFG_DMA_SIGNATURE = new TextEncoder().encode("QEMU CFG");

/** The window on `virt`: DATA, SELECTOR, DMA. */
export const FW_CFG_WINDOW = 0x18;

export type FwCfgRegister = "DATA" | "SELECTOR" | "DMA";

/** The three registers, as QEMU maps them on `virt` (its "fwcfg.data", ".ctl" and ".dma"). */
export const FW_CFG_REGISTERS: readonly {
  readonly name: FwCfgRegister;
  readonly offset: number;
  readonly size: number;
  readonly doc: string;
}[] = [
  { name: "DATA", offset: 0x00, size: 8, doc: "Item data stream; access only at +0" },
  { name: "SELECTOR", offset: 0x08, size: 2, doc: "Big-endian item selector; 2-byte writes only" },
  {
    name: "DMA",
    offset: 0x10,
    size: 8,
    doc: "Big-endian FWCfgDmaAccess address; reads the signature",
  },
];

export interface FwCfgOptions {
  /** Whether the DMA interface exists (true on `virt`); without it 0x10–0x17 is unassigned. */
  readonly dma?: boolean;
}

const TWO_32 = 0x1_0000_0000;
const ZERO_CHUNK = 4096;

export class FwCfg extends Device {
  readonly dmaEnabled: boolean;
  private readonly items = new Map<number, Uint8Array>();
  private readonly files: { name: string; data: Uint8Array }[] = [];
  private curEntry = FW_CFG_SIGNATURE;
  private curOffset = 0;
  private dmaAddrHigh = 0;

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: FwCfgOptions = {}) {
    const dma = options.dma ?? true;
    super(ctx, id, { irqNames: [], busMaster: dma });
    this.dmaEnabled = dma;
    this.items.set(FW_CFG_SIGNATURE, new TextEncoder().encode("QEMU"));
    this.items.set(FW_CFG_ID, le32(FW_CFG_VERSION | (dma ? FW_CFG_VERSION_DMA : 0)));
  }

  /** Publishes a numbered item (QEMU `fw_cfg_add_bytes`); files go through `addFile`. */
  addItem(key: number, data: Uint8Array): void {
    const entry = key & FW_CFG_ENTRY_MASK;
    if (entry >= FW_CFG_MAX_ENTRY || (!(key & FW_CFG_ARCH_LOCAL) && entry >= FW_CFG_FILE_DIR)) {
      throw new RangeError(`fw_cfg: selector 0x${key.toString(16)} is not a numbered item`);
    }
    const slot = this.slot(key);
    if (this.items.has(slot))
      throw new RangeError(`fw_cfg: item 0x${key.toString(16)} already exists`);
    this.items.set(slot, data.slice());
  }

  /** Publishes a named file (QEMU `fw_cfg_add_file`): files are kept sorted by name. */
  addFile(name: string, data: Uint8Array): void {
    if (!/^[\x20-\x7e]+$/.test(name) || name.length >= FW_CFG_FILE_NAME_LEN) {
      throw new RangeError(`fw_cfg: bad file name "${name}"`);
    }
    if (this.files.some((f) => f.name === name))
      throw new RangeError(`fw_cfg: duplicate file "${name}"`);
    if (this.files.length >= FW_CFG_FILE_SLOTS) throw new RangeError("fw_cfg: no free file slot");
    this.files.push({ name, data: data.slice() });
    this.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.rebuildDirectory();
  }

  reset(): void {
    this.select(FW_CFG_SIGNATURE);
    this.dmaAddrHigh = 0;
  }

  override mmioRead(offset: number, size: AccessSize): number | BusError {
    const reg = this.decode(offset);
    if (reg?.name === "DATA" && reg.byte === 0) return this.readData(size);
    if (reg?.name === "DMA" && reg.byte % size === 0) {
      return leBytes(FW_CFG_DMA_SIGNATURE.subarray(reg.byte, reg.byte + size));
    }
    return this.refuse(offset, size, false);
  }

  override mmioWrite(offset: number, size: AccessSize, value: number): BusError | undefined {
    const reg = this.decode(offset);
    if (reg?.name === "DATA" && reg.byte === 0) {
      this.note("data-write-ignored", { size, value });
      return undefined;
    }
    if (reg?.name === "SELECTOR" && reg.byte === 0 && size === 2) {
      this.select(swap16(value));
      return undefined;
    }
    if (reg?.name === "DMA" && size === 4 && (reg.byte === 0 || reg.byte === 4)) {
      if (reg.byte === 0) {
        this.dmaAddrHigh = swap32(value);
      } else {
        const addr = this.dmaAddrHigh * TWO_32 + swap32(value);
        this.dmaAddrHigh = 0;
        this.dmaTransfer(addr);
      }
      return undefined;
    }
    return this.refuse(offset, size, true);
  }

  /** Unused: every access goes through `mmioRead`/`mmioWrite`, as the registers are not 32-bit. */
  protected readRegister(offset: number): number {
    const v = this.mmioRead(offset, 4);
    return typeof v === "number" ? v : 0;
  }

  protected writeRegister(offset: number, value: number): void {
    this.mmioWrite(offset, 4, value);
  }

  private decode(offset: number): { name: FwCfgRegister; byte: number } | undefined {
    for (const r of FW_CFG_REGISTERS) {
      if (r.name === "DMA" && !this.dmaEnabled) continue;
      if (offset >= r.offset && offset < r.offset + r.size)
        return { name: r.name, byte: offset - r.offset };
    }
    return undefined;
  }

  private refuse(offset: number, size: number, write: boolean): BusError {
    this.guestError(
      `invalid ${write ? "write" : "read"} at offset 0x${offset.toString(16)}, size ${size}: rejected`,
    );
    return this.slaveError(offset, size, write);
  }

  /** hw/nvram/fw_cfg.c: fw_cfg_select() */
  private select(key: number): void {
    this.curOffset = 0;
    this.curEntry = (key & FW_CFG_ENTRY_MASK) >= FW_CFG_MAX_ENTRY ? FW_CFG_INVALID : key;
    this.note("select", { key, valid: this.curEntry !== FW_CFG_INVALID });
  }

  private slot(key: number): number {
    return (key & FW_CFG_ARCH_LOCAL) | (key & FW_CFG_ENTRY_MASK);
  }

  private current(): Uint8Array | undefined {
    return this.curEntry === FW_CFG_INVALID ? undefined : this.items.get(this.slot(this.curEntry));
  }

  private readData(size: number): number {
    const item = this.current();
    let value = 0;
    for (let i = 0; i < size; i++) {
      if (!item || this.curOffset >= item.length) break;
      value += item[this.curOffset++]! * 2 ** (8 * i);
    }
    return value;
  }

  /** hw/nvram/fw_cfg.c: fw_cfg_dma_transfer() */
  private dmaTransfer(descriptor: number): void {
    const dma = this.dma!;
    const head = new Uint8Array(16);
    if (dma.read(descriptor, head)) {
      dma.write(descriptor, be32(FW_CFG_DMA_CTL.ERROR));
      this.note("dma", { descriptor, result: "descriptor-fault" });
      return;
    }
    const view = new DataView(head.buffer);
    const control = view.getUint32(0);
    let length = view.getUint32(4);
    let address = view.getUint32(8) * TWO_32 + view.getUint32(12);

    if (control & FW_CFG_DMA_CTL.SELECT) this.select(control >>> 16);
    const read = (control & FW_CFG_DMA_CTL.READ) !== 0;
    const write = !read && (control & FW_CFG_DMA_CTL.WRITE) !== 0;
    if (!(control & (FW_CFG_DMA_CTL.READ | FW_CFG_DMA_CTL.WRITE | FW_CFG_DMA_CTL.SKIP))) length = 0;

    let status = 0;
    while (length > 0 && !(status & FW_CFG_DMA_CTL.ERROR)) {
      const item = this.current();
      let len: number;
      if (!item || this.curOffset >= item.length) {
        len = length;
        if (read && this.zeroFill(address, len)) status |= FW_CFG_DMA_CTL.ERROR;
      } else {
        len = Math.min(length, item.length - this.curOffset);
        if (read && dma.write(address, item.subarray(this.curOffset, this.curOffset + len))) {
          status |= FW_CFG_DMA_CTL.ERROR;
        }
        this.curOffset += len;
      }
      // Every item is read-only, so a write transfer fails on its first chunk.
      if (write) status |= FW_CFG_DMA_CTL.ERROR;
      address += len;
      length -= len;
    }
    dma.write(descriptor, be32(status));
    this.note("dma", { descriptor, control, result: status ? "error" : "ok" });
  }

  private zeroFill(address: number, length: number): BusError | undefined {
    const zeros = new Uint8Array(Math.min(length, ZERO_CHUNK));
    for (let done = 0; done < length; done += zeros.length) {
      const e = this.dma!.write(
        address + done,
        zeros.subarray(0, Math.min(zeros.length, length - done)),
      );
      if (e) return e;
    }
    return undefined;
  }

  private rebuildDirectory(): void {
    const dir = new Uint8Array(4 + FW_CFG_FILE_ENTRY_SIZE * FW_CFG_FILE_SLOTS);
    const view = new DataView(dir.buffer);
    view.setUint32(0, this.files.length);
    this.files.forEach((f, i) => {
      const at = 4 + i * FW_CFG_FILE_ENTRY_SIZE;
      view.setUint32(at, f.data.length);
      view.setUint16(at + 4, FW_CFG_FILE_FIRST + i);
      dir.set(new TextEncoder().encode(f.name), at + 8);
      this.items.set(FW_CFG_FILE_FIRST + i, f.data);
    });
    this.items.set(FW_CFG_FILE_DIR, dir);
  }
}

function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

/** The value a little-endian CPU loads from these bytes. */
function leBytes(bytes: Uint8Array): number {
  let v = 0;
  for (let i = bytes.length - 1; i >= 0; i--) v = v * 256 + bytes[i]!;
  return v;
}

function swap16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

export const fwCfgModel: DeviceModel = {
  compatible: ["qemu,fw-cfg-mmio"],
  description: "QEMU fw_cfg, MMIO interface with DMA (signature, ID and file directory items)",
  create: (ctx, id) => new FwCfg(ctx, id),
};
