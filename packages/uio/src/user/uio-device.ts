/**
 * A UIO user-space driver's view of `/dev/uioN` (what a program written against
 * Documentation/driver-api/uio-howto.rst does), through the process's system calls only: the
 * maps from sysfs, mmap of map M at offset M × page size, the interrupt count by a 4-byte
 * read(), interrupt control by a 4-byte write(), poll().
 *
 * ```ts
 * const uio = UioUserDevice.open(p, 0);
 * const regs = uio.mmapMap(0) + Number(uio.maps()[0]!.offset);
 * p.poke(regs + CTRL, le32(START | IRQ_EN));
 * uio.waitIrq();          // blocks (virtual time runs) until the interrupt thread counted it
 * p.poke(regs + STATUS, le32(DONE));
 * uio.irqControl(true);   // uio_pdrv_genirq: enable the line again
 * ```
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  MAP_SHARED,
  O_RDWR,
  POLLERR,
  POLLIN,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SysError,
} from "@vfio-lab/kernel";

/** One `maps/mapM` directory, as its files say. */
export interface UioUserMap {
  readonly index: number;
  readonly name: string;
  readonly addr: bigint;
  readonly size: bigint;
  readonly offset: bigint;
}

/** An open `/dev/uioN`. */
export class UioUserDevice {
  /** Four bytes of scratch memory for read() and write(). */
  private readonly buf: number;
  private closed = false;

  private constructor(
    readonly process: Process,
    readonly index: number,
    readonly fd: number,
  ) {
    this.buf = process.malloc(4);
  }

  /** open("/dev/uio<n>", flags). */
  static open(p: Process, n: number, flags = O_RDWR): UioUserDevice {
    return new UioUserDevice(p, n, p.open(`/dev/uio${n}`, flags));
  }

  /** `/sys/class/uio/uio<n>`. */
  get sysfsPath(): string {
    return `/sys/class/uio/uio${this.index}`;
  }

  private attr(name: string): string {
    return this.process.readFile(`${this.sysfsPath}/${name}`).replace(/\n$/, "");
  }

  /** The `name` attribute (the device-tree node name for uio_pdrv_genirq). */
  name(): string {
    return this.attr("name");
  }

  /** The `event` attribute: interrupts counted so far. */
  event(): number {
    return Number(this.attr("event"));
  }

  /** Every `maps/mapM`, in index order (none when the device has no `maps` directory). */
  maps(): UioUserMap[] {
    const out: UioUserMap[] = [];
    for (let m = 0; ; m++) {
      const dir = `maps/map${m}`;
      let name: string;
      try {
        name = this.attr(`${dir}/name`);
      } catch (e) {
        if (SysError.isInstance(e) && e.code === "ENOENT") break;
        throw e;
      }
      out.push({
        index: m,
        name,
        addr: BigInt(this.attr(`${dir}/addr`)),
        size: BigInt(this.attr(`${dir}/size`)),
        offset: BigInt(this.attr(`${dir}/offset`)),
      });
    }
    return out;
  }

  /**
   * mmap of map `index` (file offset index × PAGE_SIZE), shared, read-write; `length` defaults
   * to the map's `size`. Returns the address of the map's first page: the device's registers
   * start `offset` bytes into it.
   */
  mmapMap(index: number, length?: number): number {
    let len = length;
    if (len === undefined) {
      const map = this.maps()[index];
      len = map ? Number(map.size) : PAGE_SIZE;
    }
    return this.process.mmap(
      0,
      len,
      PROT_READ | PROT_WRITE,
      MAP_SHARED,
      this.fd,
      index * PAGE_SIZE,
    );
  }

  /** read(fd, 4): blocks until an interrupt was counted since the last read; the count. */
  waitIrq(): number {
    this.process.read(this.fd, this.buf, 4);
    return this.count();
  }

  /**
   * A read that does not block: poll() first, then read() only if it would not block. Null
   * when there is nothing new; a device without an interrupt (POLLERR) fails as read() does
   * (EIO).
   */
  tryWaitIrq(): number | null {
    const revents = this.poll(0);
    if (!(revents & (POLLIN | POLLERR))) return null;
    return this.waitIrq();
  }

  /** write(fd, s32, 4): irqcontrol — 1 enables the interrupt again, 0 disables it. */
  irqControl(on: boolean): void {
    const v = new Uint8Array(4);
    new DataView(v.buffer).setInt32(0, on ? 1 : 0, true);
    this.process.poke(this.buf, v);
    this.process.write(this.fd, this.buf, 4);
  }

  /** poll() of POLLIN for `timeoutNs` of virtual time; the revents. */
  poll(timeoutNs: number): number {
    return this.process.poll([{ fd: this.fd, events: POLLIN }], timeoutNs)[0]?.revents ?? 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.process.close(this.fd);
  }

  private count(): number {
    const b = this.process.peek(this.buf, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  }
}
