/**
 * The SMMUv3 circular queues (Arm IHI 0070 §3.5): the Command queue and the Event queue.
 *
 * A queue is a power-of-two array of fixed-size entries in memory, described by a 64-bit
 * `*_BASE` register (ADDR [51:5], LOG2SIZE [4:0], RA/WA bit 62) and a PROD/CONS register pair.
 * The low LOG2SIZE bits of a pointer index the array and the next bit up is the wrap flag, so
 * "empty" is PROD == CONS and "full" is equal indexes with different wrap flags. Bits above the
 * wrap flag belong to the register (CONS.ERR, the event queue's overflow flags) and are kept.
 */

const POW32 = 2 ** 32;
/** BASE[31:0]: ADDR[31:5] and LOG2SIZE. */
const BASE_LO_MASK = 0xffffffff;
/** BASE[63:32]: RA/WA (bit 62) and ADDR[51:32]. */
export const QUEUE_BASE_HI_MASK = 0x400fffff;
const BASE_LOG2SIZE_MASK = 0x1f;
const BASE_ADDR_HI_MASK = 0x000fffff;

export class SmmuQueue {
  /** Raw BASE register halves, as software wrote them (masked to defined bits). */
  baseLo = 0;
  baseHi = 0;
  /** Raw PROD and CONS register values. */
  prod = 0;
  cons = 0;

  constructor(
    /** Bytes per entry: 16 for commands, 32 for events. */
    readonly entrySize: number,
    /** SMMU_IDR1.CMDQS / EVENTQS: the largest LOG2SIZE the implementation honours. */
    readonly maxLog2Size: number,
  ) {}

  reset(): void {
    this.baseLo = 0;
    this.baseHi = 0;
    this.prod = 0;
    this.cons = 0;
  }

  writeBase(half: 0 | 1, value: number): void {
    if (half === 0) this.baseLo = (value & BASE_LO_MASK) >>> 0;
    else this.baseHi = (value & QUEUE_BASE_HI_MASK) >>> 0;
  }

  /** Effective LOG2SIZE: a larger programmed value behaves as the implementation maximum. */
  get log2Size(): number {
    return Math.min(this.baseLo & BASE_LOG2SIZE_MASK, this.maxLog2Size);
  }

  /** Number of entries. */
  get size(): number {
    return 2 ** this.log2Size;
  }

  /** Effective base: ADDR aligned down to the queue size (or 32 bytes), §6.3.2x *_BASE.ADDR. */
  get baseAddress(): number {
    const addr = (this.baseLo & ~BASE_LOG2SIZE_MASK) >>> 0;
    const full = (this.baseHi & BASE_ADDR_HI_MASK) * POW32 + addr;
    const align = Math.max(32, this.entrySize * this.size);
    return full - (full % align);
  }

  /** Mask of the index bits plus the wrap flag. */
  get pointerMask(): number {
    return 2 ** (this.log2Size + 1) - 1;
  }

  private indexMask(): number {
    return this.size - 1;
  }

  isEmpty(): boolean {
    return ((this.prod ^ this.cons) & this.pointerMask) === 0;
  }

  isFull(): boolean {
    return ((this.prod ^ this.cons) & this.pointerMask) === this.size;
  }

  /** Address of the entry a pointer designates. */
  entryAddress(pointer: number): number {
    return this.baseAddress + (pointer & this.indexMask()) * this.entrySize;
  }

  /** The pointer advanced by one entry (wrapping and toggling the wrap flag), other bits kept. */
  next(pointer: number): number {
    const mask = this.pointerMask;
    return ((pointer & ~mask) | ((pointer + 1) & mask)) >>> 0;
  }
}
