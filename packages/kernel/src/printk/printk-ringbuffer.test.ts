import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { PrintkRingbuffer } from "./printk-ringbuffer.js";

const enc = new TextEncoder();

function put(rb: PrintkRingbuffer, textLen: number) {
  const text = "x".repeat(textLen);
  return rb.append({ tsNs: 0, facility: 0, level: 6, text, bytes: enc.encode(text), dict: [] });
}

describe("printk ring buffer", () => {
  test("CONFIG_LOG_BUF_SHIFT=17 gives 128 KiB of text and 4096 descriptors", () => {
    const rb = new PrintkRingbuffer();
    expect(rb.dataSize).toBe(128 * 1024);
    expect(rb.descsCount).toBe(4096);
    expect(() => new PrintkRingbuffer(11)).toThrow(RangeError);
    expect(() => new PrintkRingbuffer(26)).toThrow(RangeError);
  });

  test("each record takes ALIGN(8 + text_len, 8) bytes; the oldest go when the text fills", () => {
    const rb = new PrintkRingbuffer(12);
    // 56 bytes of text + the 8-byte id: 64-byte blocks, 64 of them fill 4096 bytes.
    for (let i = 0; i < 64; i++) put(rb, 56);
    expect(rb.size).toBe(64);
    expect(rb.firstValidSeq).toBe(0);
    put(rb, 56);
    expect(rb.size).toBe(64);
    expect(rb.firstValidSeq).toBe(1);
    // A 57-byte text needs a 72-byte block: two old records make room.
    put(rb, 57);
    expect(rb.firstValidSeq).toBe(3);
  });

  test("a block that would straddle the end wraps, wasting the tail of the array", () => {
    const rb = new PrintkRingbuffer(12);
    // 40 + 8 = 48-byte blocks: 85 fit (4080 bytes), the 86th goes to the next wrap and
    // consumes the 16 unused bytes too, pushing the tail to 48: one record lost.
    for (let i = 0; i < 85; i++) put(rb, 40);
    expect(rb.firstValidSeq).toBe(0);
    put(rb, 40);
    expect(rb.firstValidSeq).toBe(1);
    expect(rb.size).toBe(85);
  });

  test("the descriptor ring caps the number of records (empty texts take no text space)", () => {
    const rb = new PrintkRingbuffer(12);
    for (let i = 0; i < 128; i++) put(rb, 0);
    expect(rb.size).toBe(128);
    put(rb, 0);
    expect(rb.size).toBe(128);
    expect(rb.firstValidSeq).toBe(1);
  });

  test("prb_read_valid() finds the first record at or after a sequence, counting the lost ones", () => {
    const rb = new PrintkRingbuffer(12);
    for (let i = 0; i < 130; i++) put(rb, 0);
    expect(rb.read(0)).toMatchObject({ dropped: 2, record: { seq: 2 } });
    expect(rb.read(5)).toMatchObject({ dropped: 0, record: { seq: 5 } });
    expect(rb.read(130)).toBeUndefined();
  });

  fcTest.prop([fc.array(fc.integer({ min: 0, max: 1023 }), { maxLength: 300 })])(
    "records stay a contiguous run ending with the newest, within both rings",
    (lengths) => {
      const rb = new PrintkRingbuffer(12);
      for (const len of lengths) put(rb, len);
      const records = rb.records();
      expect(rb.nextSeq).toBe(lengths.length);
      expect(records.length).toBeLessThanOrEqual(rb.descsCount);
      expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => rb.firstValidSeq + i));
      if (lengths.length > 0) expect(records.at(-1)?.seq).toBe(lengths.length - 1);
      // What is kept fits in the data ring.
      const used = records.reduce(
        (n, r) => n + (r.bytes.length ? Math.ceil((8 + r.bytes.length) / 8) * 8 : 0),
        0,
      );
      expect(used).toBeLessThanOrEqual(rb.dataSize);
    },
  );
});
