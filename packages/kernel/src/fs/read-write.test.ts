import { describe, expect, test } from "vitest";
import type { File } from "./file.js";
import { SEEK_CUR, SEEK_END, SEEK_SET } from "./file.js";
import { errnoOf } from "./fs-test-fixture.js";
import {
  defaultLlseek,
  fixedSizeLlseek,
  genericFileLlseek,
  noopLlseek,
  SEEK_DATA,
  SEEK_HOLE,
  seqLseek,
} from "./read-write.js";

function file(size: number, pos = 0): File {
  return {
    inode: { ino: 1, mode: 0, uid: 0, gid: 0, rdev: 0, size, fop: null, private: null },
    fOp: {},
    flags: 0,
    mode: 0,
    pos,
    path: "/f",
    privateData: null,
    refcount: 1,
  };
}

describe("llseek flavours (fs/read_write.c)", () => {
  test("generic_file_llseek: SET/CUR/END against i_size, never negative", () => {
    const f = file(100, 10);
    expect(genericFileLlseek(f, 0, SEEK_CUR)).toBe(10);
    expect(genericFileLlseek(f, 5, SEEK_CUR)).toBe(15);
    expect(genericFileLlseek(f, -1, SEEK_END)).toBe(99);
    expect(genericFileLlseek(f, 1000, SEEK_SET)).toBe(1000);
    expect(errnoOf(() => genericFileLlseek(f, -2000, SEEK_CUR))).toBe(
      "EINVAL:generic_file_llseek_size",
    );
    expect(f.pos).toBe(1000);
  });

  test("SEEK_DATA stays, SEEK_HOLE is the end; both ENXIO at or past the end", () => {
    const f = file(100);
    expect(genericFileLlseek(f, 7, SEEK_DATA)).toBe(7);
    expect(genericFileLlseek(f, 7, SEEK_HOLE)).toBe(100);
    expect(errnoOf(() => genericFileLlseek(f, 100, SEEK_DATA))).toBe(
      "ENXIO:generic_file_llseek_size",
    );
    expect(errnoOf(() => genericFileLlseek(f, -1, SEEK_HOLE))).toBe(
      "ENXIO:generic_file_llseek_size",
    );
    // default_llseek compares signed: a negative SEEK_DATA offset is EINVAL instead.
    expect(errnoOf(() => defaultLlseek(f, -1, SEEK_DATA))).toBe("EINVAL:default_llseek");
  });

  test("fixed_size_llseek cannot go past the size", () => {
    const f = file(0);
    expect(fixedSizeLlseek(f, 4096, SEEK_SET, 4096)).toBe(4096);
    expect(errnoOf(() => fixedSizeLlseek(f, 4097, SEEK_SET, 4096))).toBe(
      "EINVAL:generic_file_llseek_size",
    );
  });

  test("seq_lseek knows only SEEK_SET and SEEK_CUR; noop_llseek never moves", () => {
    const f = file(0, 3);
    expect(seqLseek(f, 2, SEEK_CUR)).toBe(5);
    expect(errnoOf(() => seqLseek(f, 0, SEEK_END))).toBe("EINVAL:seq_lseek");
    expect(errnoOf(() => seqLseek(f, -1, SEEK_SET))).toBe("EINVAL:seq_lseek");
    expect(noopLlseek(f)).toBe(5);
  });
});
