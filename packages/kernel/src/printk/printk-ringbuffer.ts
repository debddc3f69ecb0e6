/**
 * The printk ring buffer (kernel/printk/printk_ringbuffer.c): a data ring of `log_buf_len` bytes
 * holding each record's text, and a descriptor ring of `log_buf_len >> PRB_AVGBITS` entries
 * holding its metadata. When either is full the oldest records are overwritten, which is how a
 * slow /dev/kmsg reader loses records (EPIPE).
 *
 * Space is accounted as the kernel does, without the bytes themselves:
 * - a record's text takes a data block of `ALIGN(sizeof(id) + text_len, sizeof(long))` bytes
 *   (8-byte id header, 8-byte alignment on arm64); a block that would straddle the end of the
 *   array starts over at the beginning and also consumes the unused tail (`get_next_lpos()`),
 *   while one that ends exactly at the end of the array stays there;
 * - placing a block pushes the data tail to `next - DATA_SIZE`, dropping every record whose block
 *   begins behind it (`data_push_tail()`);
 * - the descriptor ring holds at most `DESCS_COUNT` records (`desc_reserve()` drops the oldest).
 *
 * Caveats: a record with empty text is "data-less" in Linux and survives until its descriptor is
 * recycled; here it is treated as a zero-length block at the head, so records always form one
 * contiguous run of sequence numbers. No record can fail to fit: texts are capped at
 * PRINTKRB_RECORD_MAX − 1 bytes (vprintk_store()) and the smallest ring (CONFIG_LOG_BUF_SHIFT=12)
 * still holds such a block, so `truncate_msg()` never runs.
 */

/** kernel/printk/printk.c: `PRB_AVGBITS`, the assumed average record size (32 bytes). */
export const PRB_AVGBITS = 5;
/** `sizeof(struct prb_data_block)` header before the text: the descriptor id (unsigned long). */
const DATA_BLOCK_HEADER = 8;
/** `LOG_ALIGN` / `sizeof(id)` on a 64-bit kernel. */
const DATA_ALIGN = 8;

/** The record metadata of `struct printk_info` that the model keeps, and its text. */
export interface PrintkRecord {
  /** Sequence number, from 0, never reused. */
  readonly seq: number;
  /** Virtual time of the printk() call, in ns (`ts_nsec`). */
  readonly tsNs: number;
  /** 0 (LOG_KERN) for printk(), 1 (LOG_USER) by default for /dev/kmsg writes. */
  readonly facility: number;
  /** 0 (KERN_EMERG) … 7 (KERN_DEBUG). */
  readonly level: number;
  /** The message, without its trailing newline. */
  readonly text: string;
  /** The message as stored (UTF-8), at most PRINTKRB_RECORD_MAX − 1 bytes. */
  readonly bytes: Uint8Array;
  /**
   * `dev_printk_info` as the dictionary lines /dev/kmsg shows: `SUBSYSTEM=…`, `DEVICE=…` (each
   * present only when non-empty). Empty for printk() without a device.
   */
  readonly dict: readonly string[];
}

/** What `prb_read_valid()` finds at or after a sequence number. */
export interface PrintkRead {
  readonly record: PrintkRecord;
  /** Records between the requested sequence number and the one found (overwritten ones). */
  readonly dropped: number;
}

interface Slot {
  readonly record: PrintkRecord;
  /** Logical position where its data block begins (`blk_lpos.begin`). */
  readonly begin: number;
}

export class PrintkRingbuffer {
  /** `DATA_SIZE(data_ring)`: `log_buf_len`. */
  readonly dataSize: number;
  /** `DESCS_COUNT(desc_ring)`. */
  readonly descsCount: number;
  private readonly slots: Slot[] = [];
  /** Index in `slots` of the oldest live record (the array is compacted lazily). */
  private first = 0;
  /** `data_ring.head_lpos`. */
  private headLpos = 0;
  private next = 0;

  /** `logBufShift` is CONFIG_LOG_BUF_SHIFT (12…25 as Kconfig allows; Linux's default is 17). */
  constructor(logBufShift = 17) {
    if (!Number.isInteger(logBufShift) || logBufShift < 12 || logBufShift > 25) {
      throw new RangeError(`CONFIG_LOG_BUF_SHIFT must be 12..25, got ${logBufShift}`);
    }
    this.dataSize = 2 ** logBufShift;
    this.descsCount = 2 ** (logBufShift - PRB_AVGBITS);
  }

  /** printk_ringbuffer.c: prb_next_seq() — the sequence number the next record will get. */
  get nextSeq(): number {
    return this.next;
  }

  /** printk_ringbuffer.c: prb_first_valid_seq() — the oldest record still readable. */
  get firstValidSeq(): number {
    return this.slots[this.first]?.record.seq ?? this.next;
  }

  /** Number of records currently held. */
  get size(): number {
    return this.slots.length - this.first;
  }

  /** The live records, oldest first. */
  records(): PrintkRecord[] {
    return this.slots.slice(this.first).map((s) => s.record);
  }

  /** printk_ringbuffer.c: prb_read_valid() — the first record with a sequence ≥ `seq`. */
  read(seq: number): PrintkRead | undefined {
    if (seq >= this.next) return undefined;
    const firstSeq = this.firstValidSeq;
    const at = Math.max(seq, firstSeq);
    const slot = this.slots[this.first + (at - firstSeq)];
    if (!slot) return undefined;
    return { record: slot.record, dropped: slot.record.seq - seq };
  }

  /**
   * prb_reserve() + prb_final_commit(): stores a record, overwriting the oldest ones that no
   * longer fit. Returns it with its sequence number.
   */
  append(fields: Omit<PrintkRecord, "seq">): PrintkRecord {
    // desc_reserve(): with every descriptor in use, the oldest record is recycled first.
    if (this.size >= this.descsCount) this.dropOldest();

    const record: PrintkRecord = { seq: this.next, ...fields };
    const size =
      fields.bytes.length === 0 ? 0 : alignUp(DATA_BLOCK_HEADER + fields.bytes.length, DATA_ALIGN);
    const begin = this.headLpos;
    let next = begin + size;
    // get_next_lpos(): a block that would wrap is placed at the start of the next wrap; one
    // that ends exactly at the end of the array does not wrap (is_blk_wrapped() looks at
    // next - 1).
    if (size > 0 && Math.floor(begin / this.dataSize) !== Math.floor((next - 1) / this.dataSize)) {
      next = Math.floor(next / this.dataSize) * this.dataSize + size;
    }
    // data_push_tail(): whatever begins before next - DATA_SIZE is overwritten.
    const tail = next - this.dataSize;
    while (this.size > 0 && this.slots[this.first]!.begin < tail) this.dropOldest();

    this.slots.push({ record, begin });
    this.headLpos = next;
    this.next++;
    return record;
  }

  private dropOldest(): void {
    this.first++;
    // Compact once the dead prefix dominates, so the array does not grow without bound.
    if (this.first > 1024 && this.first * 2 > this.slots.length) {
      this.slots.splice(0, this.first);
      this.first = 0;
    }
  }
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
