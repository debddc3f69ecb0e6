import { fc, test } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { describe, expect, it } from "vitest";
import { SysError } from "./errno.js";
import type { UserMemory } from "./mm/user-memory.js";
import { expectErrno, setupKernelMatchers } from "./testing/index.js";
import {
  accessOk,
  checkZeroedUser,
  clearUser,
  copyFromUser,
  copyStructFromUser,
  copyStructToUser,
  copyToUser,
  getUser,
  PATH_MAX,
  putUser,
  strncpyFromUser,
  TASK_SIZE_MAX,
} from "./uaccess.js";
import { defineStruct, s32, u8, u32, u64 } from "./uapi/struct.js";

setupKernelMatchers();

/**
 * A tiny address space: 4 KiB pages, each unmapped, read-only or read-write. Like the real one
 * it checks a whole range before moving a byte, and fails with EFAULT in its own name.
 */
class FakeUserMemory implements UserMemory {
  private readonly pages = new Map<number, { bytes: Uint8Array; writable: boolean }>();
  calls = 0;

  map(va: number, length: number, prot: "r" | "rw" = "rw"): this {
    for (let p = Math.floor(va / PAGE_SIZE); p * PAGE_SIZE < va + length; p++) {
      this.pages.set(p, { bytes: new Uint8Array(PAGE_SIZE), writable: prot === "rw" });
    }
    return this;
  }

  /** Writes regardless of protection, as a test's setup does. */
  poke(va: number, bytes: Uint8Array | readonly number[]): this {
    Array.from(bytes).forEach((b, i) => {
      this.page(va + i)!.bytes[(va + i) % PAGE_SIZE] = b;
    });
    return this;
  }

  peek(va: number, length: number): Uint8Array {
    return Uint8Array.from({ length }, (_, i) => this.page(va + i)!.bytes[(va + i) % PAGE_SIZE]!);
  }

  readUser(va: number, dst: Uint8Array): void {
    this.calls++;
    this.check(va, dst.length, false);
    for (let i = 0; i < dst.length; i++) dst[i] = this.page(va + i)!.bytes[(va + i) % PAGE_SIZE]!;
  }

  writeUser(va: number, src: Uint8Array): void {
    this.calls++;
    this.check(va, src.length, true);
    for (let i = 0; i < src.length; i++) this.page(va + i)!.bytes[(va + i) % PAGE_SIZE] = src[i]!;
  }

  private page(va: number) {
    return this.pages.get(Math.floor(va / PAGE_SIZE));
  }

  private check(va: number, length: number, write: boolean): void {
    for (let p = Math.floor(va / PAGE_SIZE); p * PAGE_SIZE < va + length; p++) {
      const page = this.pages.get(p);
      if (!page || (write && !page.writable)) throw new SysError("EFAULT", "fake_access");
    }
  }
}

const BASE = 0x10_0000;
const FN = "test_ioctl";

const iommu_ioas_map = defineStruct("iommu_ioas_map", [
  ["size", u32],
  ["flags", u32],
  ["ioas_id", u32],
  ["__reserved", u32],
  ["user_va", u64],
  ["length", u64],
  ["iova", u64],
]);

const iommu_destroy = defineStruct("iommu_destroy", [
  ["size", u32],
  ["id", u32],
]);

const ascii = (s: string) => new TextEncoder().encode(s);

describe("access_ok", () => {
  it("accepts ranges that end at or below TASK_SIZE_MAX", () => {
    expect(accessOk(0, 0)).toBe(true);
    expect(accessOk(TASK_SIZE_MAX - 8, 8)).toBe(true);
    expect(accessOk(TASK_SIZE_MAX, 0)).toBe(true);
  });

  it("refuses ranges past TASK_SIZE_MAX, negative and fractional values", () => {
    expect(accessOk(TASK_SIZE_MAX - 8, 9)).toBe(false);
    expect(accessOk(TASK_SIZE_MAX + 4096, 0)).toBe(false);
    expect(accessOk(-1, 1)).toBe(false);
    expect(accessOk(BASE, -1)).toBe(false);
    expect(accessOk(BASE + 0.5, 1)).toBe(false);
  });
});

describe("copy_from_user / copy_to_user", () => {
  it("copies across a page boundary", () => {
    const mem = new FakeUserMemory()
      .map(BASE, 2 * PAGE_SIZE)
      .poke(BASE + PAGE_SIZE - 2, [1, 2, 3, 4]);
    expect(Array.from(copyFromUser(mem, BASE + PAGE_SIZE - 2, 4, FN))).toEqual([1, 2, 3, 4]);
  });

  it("EFAULT names the kernel function doing the copy", () => {
    const mem = new FakeUserMemory();
    const err = expectErrno(
      () => copyFromUser(mem, BASE, 4, "vfio_device_fops_unl_ioctl"),
      "EFAULT",
    );
    expect(err.fn).toBe("vfio_device_fops_unl_ioctl");
    expect(err.errno).toBe(14);
  });

  it("EFAULT when the range runs into an unmapped page", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    expect(() => copyFromUser(mem, BASE + PAGE_SIZE - 4, 8, FN)).toThrowErrno("EFAULT");
  });

  it("EFAULT for NULL", () => {
    const mem = new FakeUserMemory().map(0, PAGE_SIZE);
    expect(() => copyFromUser(mem, 0, 4, FN)).toThrowErrno("EFAULT");
    expect(() => copyToUser(mem, 0, new Uint8Array(4), FN)).toThrowErrno("EFAULT");
  });

  it("EFAULT without touching memory when access_ok() fails", () => {
    const mem = new FakeUserMemory();
    expect(() => copyFromUser(mem, TASK_SIZE_MAX - 4, 8, FN)).toThrowErrno("EFAULT");
    expect(() => copyFromUser(mem, BASE, -1, FN)).toThrowErrno("EFAULT");
    expect(() => copyToUser(mem, -8, new Uint8Array(4), FN)).toThrowErrno("EFAULT");
    expect(mem.calls).toBe(0);
  });

  it("a zero-length copy never faults", () => {
    const mem = new FakeUserMemory();
    expect(copyFromUser(mem, 0, 0, FN)).toEqual(new Uint8Array());
    expect(copyFromUser(mem, BASE, 0, FN)).toEqual(new Uint8Array());
    expect(copyFromUser(mem, -1, 0, FN)).toEqual(new Uint8Array());
    copyToUser(mem, TASK_SIZE_MAX + PAGE_SIZE, new Uint8Array(), FN);
    expect(mem.calls).toBe(0);
  });

  it("copy_to_user writes the bytes", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    copyToUser(mem, BASE + 8, Uint8Array.of(9, 8, 7), FN);
    expect(Array.from(mem.peek(BASE + 7, 5))).toEqual([0, 9, 8, 7, 0]);
  });

  it("copy_to_user to a read-only page is EFAULT and writes nothing", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).map(BASE + PAGE_SIZE, PAGE_SIZE, "r");
    expect(() => copyToUser(mem, BASE + PAGE_SIZE - 2, Uint8Array.of(1, 2, 3, 4), FN)).toThrowErrno(
      "EFAULT",
    );
    expect(Array.from(mem.peek(BASE + PAGE_SIZE - 2, 4))).toEqual([0, 0, 0, 0]);
  });

  it("errors other than SysError from the address space are not disguised as EFAULT", () => {
    const broken: UserMemory = {
      readUser() {
        throw new TypeError("model bug");
      },
      writeUser() {
        throw new TypeError("model bug");
      },
    };
    expect(() => copyFromUser(broken, BASE, 4, FN)).toThrow(TypeError);
    expect(() => copyToUser(broken, BASE, new Uint8Array(4), FN)).toThrow(TypeError);
  });
});

describe("get_user / put_user", () => {
  it("moves u32 and u64 little-endian", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    putUser(mem, u32, BASE, 0xdeadbeef, FN);
    putUser(mem, u64, BASE + 8, 0xffff_ffff_ffff_fffen, FN);
    expect(Array.from(mem.peek(BASE, 4))).toEqual([0xef, 0xbe, 0xad, 0xde]);
    expect(getUser(mem, u32, BASE, FN)).toBe(0xdeadbeef);
    expect(getUser(mem, u64, BASE + 8, FN)).toBe(0xffff_ffff_ffff_fffen);
  });

  it("reads signed types with their sign", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    putUser(mem, s32, BASE, -1, FN);
    expect(getUser(mem, s32, BASE, FN)).toBe(-1);
    expect(getUser(mem, u32, BASE, FN)).toBe(0xffff_ffff);
  });

  it("put_user refuses a value that does not fit, before touching memory", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    expect(() => putUser(mem, u8, BASE, 0x1ff, FN)).toThrow(RangeError);
    expect(() => putUser(mem, u32, BASE, -1, FN)).toThrow(RangeError);
    expect(mem.calls).toBe(0);
  });

  it("EFAULT on an unmapped or read-only address", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE, "r");
    expect(() => getUser(mem, u32, BASE + PAGE_SIZE, FN)).toThrowErrno("EFAULT");
    expect(() => putUser(mem, u64, BASE, 1n, FN)).toThrowErrno("EFAULT");
    expect(() => getUser(mem, u32, 0, FN)).toThrowErrno("EFAULT");
  });
});

describe("clear_user", () => {
  it("zeroes a range across pages", () => {
    const mem = new FakeUserMemory().map(BASE, 3 * PAGE_SIZE);
    mem.poke(BASE + 10, new Uint8Array(2 * PAGE_SIZE).fill(0xaa));
    clearUser(mem, BASE + 11, 2 * PAGE_SIZE - 2, FN);
    expect(Array.from(mem.peek(BASE + 10, 2))).toEqual([0xaa, 0]);
    expect(mem.peek(BASE + 11, 2 * PAGE_SIZE - 2).every((b) => b === 0)).toBe(true);
    expect(mem.peek(BASE + 2 * PAGE_SIZE + 9, 1)[0]).toBe(0xaa);
  });

  it("EFAULT at a read-only page, the pages before it already cleared (as Linux)", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).map(BASE + PAGE_SIZE, PAGE_SIZE, "r");
    mem.poke(BASE + PAGE_SIZE - 4, [1, 1, 1, 1, 1, 1, 1, 1]);
    expect(() => clearUser(mem, BASE + PAGE_SIZE - 4, 8, FN)).toThrowErrno("EFAULT");
    expect(Array.from(mem.peek(BASE + PAGE_SIZE - 4, 8))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });
});

describe("check_zeroed_user", () => {
  it("is true for zeros and false for any non-zero byte", () => {
    const mem = new FakeUserMemory().map(BASE, 2 * PAGE_SIZE);
    expect(checkZeroedUser(mem, BASE + 3, PAGE_SIZE, FN)).toBe(true);
    mem.poke(BASE + PAGE_SIZE + 2, [4]);
    expect(checkZeroedUser(mem, BASE + 3, PAGE_SIZE, FN)).toBe(false);
    expect(checkZeroedUser(mem, BASE + PAGE_SIZE + 3, 16, FN)).toBe(true);
  });

  it("a zero-size check succeeds without looking at the address", () => {
    const mem = new FakeUserMemory();
    expect(checkZeroedUser(mem, 0, 0, FN)).toBe(true);
    expect(mem.calls).toBe(0);
  });

  it("a non-zero byte before an unreadable page answers false, not EFAULT", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(BASE + PAGE_SIZE - 1, [1]);
    expect(checkZeroedUser(mem, BASE + PAGE_SIZE - 8, 16, FN)).toBe(false);
  });

  it("EFAULT when an unreadable byte comes before any non-zero one", () => {
    const mem = new FakeUserMemory().map(BASE + PAGE_SIZE, PAGE_SIZE).poke(BASE + PAGE_SIZE, [1]);
    expect(() => checkZeroedUser(mem, BASE + PAGE_SIZE - 8, 16, FN)).toThrowErrno("EFAULT");
    const zeros = new FakeUserMemory().map(BASE, PAGE_SIZE);
    expect(() => checkZeroedUser(zeros, BASE + PAGE_SIZE - 8, 16, FN)).toThrowErrno("EFAULT");
  });

  it("EFAULT past TASK_SIZE_MAX, before reading anything", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(BASE, [1]);
    expect(() => checkZeroedUser(mem, BASE, TASK_SIZE_MAX, FN)).toThrowErrno("EFAULT");
    expect(mem.calls).toBe(0);
  });
});

describe("copy_struct_from_user", () => {
  const map = {
    size: 40,
    flags: 7,
    ioas_id: 3,
    __reserved: 0,
    user_va: 0x7f00_0000_0000n,
    length: 0x20_0000n,
    iova: 0x1000n,
  };

  it("usize == ksize copies the struct verbatim", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(BASE, iommu_ioas_map.encode(map));
    expect(copyStructFromUser(mem, iommu_ioas_map, BASE, 40, FN)).toEqual(map);
  });

  it("usize < ksize: an older user's struct, the rest reads as zero", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(BASE, iommu_ioas_map.encode(map));
    expect(copyStructFromUser(mem, iommu_ioas_map, BASE, 32, FN)).toEqual({ ...map, iova: 0n });
    expect(copyStructFromUser(mem, iommu_ioas_map, BASE, 0, FN)).toEqual(
      iommu_ioas_map.decode(new Uint8Array(40)),
    );
  });

  it("usize < ksize never reads past usize, even into an unmapped page", () => {
    const va = BASE + PAGE_SIZE - 32;
    const mem = new FakeUserMemory()
      .map(BASE, PAGE_SIZE)
      .poke(va, iommu_ioas_map.encode(map).subarray(0, 32));
    expect(copyStructFromUser(mem, iommu_ioas_map, va, 32, FN).length).toBe(0x20_0000n);
  });

  it("usize > ksize with a zero tail: a newer user's struct is accepted", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(BASE, iommu_ioas_map.encode(map));
    expect(copyStructFromUser(mem, iommu_ioas_map, BASE, 64, FN)).toEqual(map);
  });

  it("E2BIG when a byte this kernel does not know is non-zero", () => {
    const mem = new FakeUserMemory()
      .map(BASE, PAGE_SIZE)
      .poke(BASE, iommu_ioas_map.encode(map))
      .poke(BASE + 63, [1]);
    const err = expectErrno(
      () => copyStructFromUser(mem, iommu_ioas_map, BASE, 64, "iommufd_fops_ioctl"),
      "E2BIG",
    );
    expect(err.fn).toBe("iommufd_fops_ioctl");
  });

  it("EFAULT when the unknown tail runs into an unmapped page", () => {
    const va = BASE + PAGE_SIZE - 40;
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(va, iommu_ioas_map.encode(map));
    expect(() => copyStructFromUser(mem, iommu_ioas_map, va, 48, FN)).toThrowErrno("EFAULT");
  });

  it("the tail is checked before the head is copied: E2BIG beats an unmapped head", () => {
    // The known 8 bytes sit on an unmapped page, the unknown tail on a mapped one.
    const va = BASE + PAGE_SIZE - 8;
    const mem = new FakeUserMemory()
      .map(BASE + PAGE_SIZE, PAGE_SIZE)
      .poke(BASE + PAGE_SIZE + 4, [1]);
    expect(() => copyStructFromUser(mem, iommu_destroy, va, 16, FN)).toThrowErrno("E2BIG");
    const zeroTail = new FakeUserMemory().map(BASE + PAGE_SIZE, PAGE_SIZE);
    expect(() => copyStructFromUser(zeroTail, iommu_destroy, va, 16, FN)).toThrowErrno("EFAULT");
  });

  it("EFAULT for NULL and for a usize past the address space", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    expect(() => copyStructFromUser(mem, iommu_destroy, 0, 8, FN)).toThrowErrno("EFAULT");
    expect(() => copyStructFromUser(mem, iommu_destroy, BASE, TASK_SIZE_MAX, FN)).toThrowErrno(
      "EFAULT",
    );
    expect(() => copyStructFromUser(mem, iommu_destroy, BASE, -1, FN)).toThrowErrno("EFAULT");
  });

  test.prop([
    fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => b.map((x) => (x < 200 ? 0 : x))),
    fc.integer({ min: 0, max: 64 }),
  ])("agrees with the reference protocol for any user bytes and usize", (user, usize) => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(BASE, user);
    const ksize = iommu_ioas_map.size;
    const tailDirty = usize > ksize && user.subarray(ksize, usize).some((b) => b !== 0);
    if (tailDirty) {
      expect(() => copyStructFromUser(mem, iommu_ioas_map, BASE, usize, FN)).toThrowErrno("E2BIG");
    } else {
      const known = new Uint8Array(ksize);
      known.set(user.subarray(0, Math.min(usize, ksize)));
      expect(copyStructFromUser(mem, iommu_ioas_map, BASE, usize, FN)).toEqual(
        iommu_ioas_map.decode(known),
      );
    }
  });
});

describe("copy_struct_to_user", () => {
  const reply = { size: 8, id: 0x1234_5678 };

  it("usize == ksize writes the whole struct", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    expect(copyStructToUser(mem, iommu_destroy, BASE, 8, reply, FN)).toEqual({
      ignoredTrailing: false,
    });
    expect(iommu_destroy.decode(mem.peek(BASE, 8))).toEqual(reply);
  });

  it("usize < ksize writes only what the user has room for and reports lost bytes", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(BASE, new Uint8Array(8).fill(0xee));
    expect(copyStructToUser(mem, iommu_destroy, BASE, 4, reply, FN)).toEqual({
      ignoredTrailing: true,
    });
    expect(Array.from(mem.peek(BASE, 8))).toEqual([8, 0, 0, 0, 0xee, 0xee, 0xee, 0xee]);
    expect(copyStructToUser(mem, iommu_destroy, BASE, 4, { size: 8 }, FN)).toEqual({
      ignoredTrailing: false,
    });
  });

  it("usize > ksize zeroes the user's extra tail", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(BASE, new Uint8Array(24).fill(0xee));
    copyStructToUser(mem, iommu_destroy, BASE, 16, reply, FN);
    expect(Array.from(mem.peek(BASE + 8, 16))).toEqual([
      ...new Array(8).fill(0),
      ...new Array(8).fill(0xee),
    ]);
  });

  it("EFAULT on a read-only reply buffer", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE, "r");
    expect(() => copyStructToUser(mem, iommu_destroy, BASE, 8, reply, FN)).toThrowErrno("EFAULT");
    expect(() => copyStructToUser(mem, iommu_destroy, BASE, -1, reply, FN)).toThrowErrno("EFAULT");
  });
});

describe("strncpy_from_user", () => {
  it("reads a NUL-terminated path", () => {
    const mem = new FakeUserMemory()
      .map(BASE, PAGE_SIZE)
      .poke(BASE, ascii("/dev/vfio/vfio\0garbage"));
    expect(strncpyFromUser(mem, BASE, PATH_MAX, FN)).toBe("/dev/vfio/vfio");
  });

  it("reads across pages and decodes UTF-8", () => {
    const va = BASE + PAGE_SIZE - 3;
    const mem = new FakeUserMemory().map(BASE, 2 * PAGE_SIZE).poke(va, ascii("/tmp/é\0"));
    expect(strncpyFromUser(mem, va, PATH_MAX, FN)).toBe("/tmp/é");
  });

  it("never touches the bytes after the NUL, even if they are unmapped", () => {
    const va = BASE + PAGE_SIZE - 5;
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(va, ascii("/sys\0"));
    expect(strncpyFromUser(mem, va, PATH_MAX, FN)).toBe("/sys");
  });

  it("returns an empty string as is", () => {
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    expect(strncpyFromUser(mem, BASE, PATH_MAX, FN)).toBe("");
  });

  it("ENAMETOOLONG when no NUL is found within max bytes", () => {
    const mem = new FakeUserMemory()
      .map(BASE, 2 * PAGE_SIZE)
      .poke(BASE, new Uint8Array(PATH_MAX).fill(0x61));
    expect(() => strncpyFromUser(mem, BASE, PATH_MAX, FN)).toThrowErrno("ENAMETOOLONG");
    mem.poke(BASE + PATH_MAX - 1, [0]);
    expect(strncpyFromUser(mem, BASE, PATH_MAX, FN)).toHaveLength(PATH_MAX - 1);
    expect(() => strncpyFromUser(mem, BASE, 8, FN)).toThrowErrno("ENAMETOOLONG");
  });

  it("EFAULT when the string runs into an unmapped page", () => {
    const va = BASE + PAGE_SIZE - 4;
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE).poke(va, ascii("/dev"));
    expect(() => strncpyFromUser(mem, va, PATH_MAX, FN)).toThrowErrno("EFAULT");
  });

  it("EFAULT for NULL and for an address outside user space", () => {
    const mem = new FakeUserMemory().map(0, PAGE_SIZE);
    expect(() => strncpyFromUser(mem, 0, PATH_MAX, FN)).toThrowErrno("EFAULT");
    expect(() => strncpyFromUser(mem, TASK_SIZE_MAX, PATH_MAX, FN)).toThrowErrno("EFAULT");
    expect(() => strncpyFromUser(mem, -4, PATH_MAX, FN)).toThrowErrno("EFAULT");
  });

  it("EFAULT when the string reaches the end of the user address space", () => {
    const va = TASK_SIZE_MAX - 4;
    const mem = new FakeUserMemory()
      .map(TASK_SIZE_MAX - PAGE_SIZE, PAGE_SIZE)
      .poke(va, ascii("abcd"));
    expect(() => strncpyFromUser(mem, va, PATH_MAX, FN)).toThrowErrno("EFAULT");
    mem.poke(va + 3, [0]);
    expect(strncpyFromUser(mem, va, PATH_MAX, FN)).toBe("abc");
  });

  test.prop([
    fc.string({ unit: fc.constantFrom("a", "/", ".", "-"), maxLength: 40 }),
    fc.integer({ min: 0, max: 40 }),
    fc.integer({ min: 1, max: 48 }),
  ])("matches a byte-by-byte reference at a page edge", (text, shift, max) => {
    // The string starts `shift` bytes before the end of the only mapped page.
    const va = BASE + PAGE_SIZE - shift;
    const mem = new FakeUserMemory().map(BASE, PAGE_SIZE);
    const bytes = ascii(`${text}\0`).subarray(0, shift);
    mem.poke(va, bytes);
    const nul = bytes.indexOf(0);
    if (nul >= 0 && nul < max) {
      expect(strncpyFromUser(mem, va, max, FN)).toBe(text);
    } else if (max <= shift) {
      expect(() => strncpyFromUser(mem, va, max, FN)).toThrowErrno("ENAMETOOLONG");
    } else {
      expect(() => strncpyFromUser(mem, va, max, FN)).toThrowErrno("EFAULT");
    }
  });
});
