import { fc, test } from "@fast-check/vitest";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  array,
  decodeScalar,
  defineStruct,
  type ElementType,
  encodeScalar,
  type FieldType,
  flex,
  pad,
  type StructInput,
  type StructLayout,
  type StructValue,
  s8,
  s16,
  s32,
  s64,
  u8,
  u16,
  u32,
  u64,
} from "./struct.js";

// Layouts as include/uapi/linux/vfio.h, iommufd.h and rtc.h declare them. The sizes and offsets
// expected below are what an arm64 C compiler gives (pahole on a Linux build agrees).

const vfio_info_cap_header = defineStruct("vfio_info_cap_header", [
  ["id", u16],
  ["version", u16],
  ["next", u32],
]);

const vfio_device_info = defineStruct("vfio_device_info", [
  ["argsz", u32],
  ["flags", u32],
  ["num_regions", u32],
  ["num_irqs", u32],
  ["cap_offset", u32],
  ["pad", u32],
]);

const vfio_region_info = defineStruct("vfio_region_info", [
  ["argsz", u32],
  ["flags", u32],
  ["index", u32],
  ["cap_offset", u32],
  ["size", u64],
  ["offset", u64],
]);

const vfio_irq_set = defineStruct("vfio_irq_set", [
  ["argsz", u32],
  ["flags", u32],
  ["index", u32],
  ["start", u32],
  ["count", u32],
  ["data", flex(u8)],
]);

const vfio_iommu_type1_info = defineStruct("vfio_iommu_type1_info", [
  ["argsz", u32],
  ["flags", u32],
  ["iova_pgsizes", u64],
  ["cap_offset", u32],
  ["pad", u32],
]);

const vfio_iommu_type1_info_cap_migration = defineStruct("vfio_iommu_type1_info_cap_migration", [
  ["header", vfio_info_cap_header],
  ["flags", u32],
  ["pgsize_bitmap", u64],
  ["max_dirty_bitmap_size", u64],
]);

const vfio_iommu_type1_info_dma_avail = defineStruct("vfio_iommu_type1_info_dma_avail", [
  ["header", vfio_info_cap_header],
  ["avail", u32],
]);

const vfio_iova_range = defineStruct("vfio_iova_range", [
  ["start", u64],
  ["end", u64],
]);

const vfio_iommu_type1_info_cap_iova_range = defineStruct("vfio_iommu_type1_info_cap_iova_range", [
  ["header", vfio_info_cap_header],
  ["nr_iovas", u32],
  ["reserved", u32],
  ["iova_ranges", flex(vfio_iova_range)],
]);

const vfio_iommu_type1_dma_map = defineStruct("vfio_iommu_type1_dma_map", [
  ["argsz", u32],
  ["flags", u32],
  ["vaddr", u64],
  ["iova", u64],
  ["size", u64],
]);

const vfio_iommu_type1_dma_unmap = defineStruct("vfio_iommu_type1_dma_unmap", [
  ["argsz", u32],
  ["flags", u32],
  ["iova", u64],
  ["size", u64],
  ["data", flex(u8)],
]);

const vfio_bitmap = defineStruct("vfio_bitmap", [
  ["pgsize", u64],
  ["size", u64],
  ["data", u64],
]);

const vfio_iommu_type1_dirty_bitmap_get = defineStruct("vfio_iommu_type1_dirty_bitmap_get", [
  ["iova", u64],
  ["size", u64],
  ["bitmap", vfio_bitmap],
]);

const vfio_pci_hot_reset = defineStruct("vfio_pci_hot_reset", [
  ["argsz", u32],
  ["flags", u32],
  ["count", u32],
  ["group_fds", flex(s32)],
]);

const iommu_destroy = defineStruct("iommu_destroy", [
  ["size", u32],
  ["id", u32],
]);

const iommu_ioas_iova_ranges = defineStruct("iommu_ioas_iova_ranges", [
  ["size", u32],
  ["ioas_id", u32],
  ["num_iovas", u32],
  ["__reserved", u32],
  ["allowed_iovas", u64],
  ["out_iova_alignment", u64],
]);

const iommu_ioas_map = defineStruct("iommu_ioas_map", [
  ["size", u32],
  ["flags", u32],
  ["ioas_id", u32],
  ["__reserved", u32],
  ["user_va", u64],
  ["length", u64],
  ["iova", u64],
]);

const iommu_option = defineStruct("iommu_option", [
  ["size", u32],
  ["option_id", u32],
  ["op", u16],
  ["__reserved", u16],
  ["object_id", u32],
  ["val64", u64],
]);

const iommu_vfio_ioas = defineStruct("iommu_vfio_ioas", [
  ["size", u32],
  ["ioas_id", u32],
  ["op", u16],
  ["__reserved", u16],
]);

const rtc_time = defineStruct("rtc_time", [
  ["tm_sec", s32],
  ["tm_min", s32],
  ["tm_hour", s32],
  ["tm_mday", s32],
  ["tm_mon", s32],
  ["tm_year", s32],
  ["tm_wday", s32],
  ["tm_yday", s32],
  ["tm_isdst", s32],
]);

const rtc_wkalrm = defineStruct("rtc_wkalrm", [
  ["enabled", u8],
  ["pending", u8],
  ["time", rtc_time],
]);

const rtc_pll_info = defineStruct("rtc_pll_info", [
  ["pll_ctrl", s32],
  ["pll_value", s32],
  ["pll_max", s32],
  ["pll_min", s32],
  ["pll_posmult", s32],
  ["pll_negmult", s32],
  ["pll_clock", s64],
]);

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("layouts match the arm64 C ABI of Linux's UAPI headers", () => {
  it.each([
    [vfio_info_cap_header, 8, 4],
    [vfio_device_info, 24, 4],
    [vfio_region_info, 32, 8],
    [vfio_irq_set, 20, 4],
    [vfio_iommu_type1_info, 24, 8],
    [vfio_iommu_type1_info_cap_migration, 32, 8],
    [vfio_iommu_type1_info_dma_avail, 12, 4],
    [vfio_iommu_type1_info_cap_iova_range, 16, 8],
    [vfio_iommu_type1_dma_map, 32, 8],
    [vfio_iommu_type1_dma_unmap, 24, 8],
    [vfio_bitmap, 24, 8],
    [vfio_iommu_type1_dirty_bitmap_get, 40, 8],
    [vfio_pci_hot_reset, 12, 4],
    [iommu_destroy, 8, 4],
    [iommu_ioas_iova_ranges, 32, 8],
    [iommu_ioas_map, 40, 8],
    [iommu_option, 24, 8],
    [iommu_vfio_ioas, 12, 4],
    [rtc_time, 36, 4],
    [rtc_wkalrm, 40, 4],
    [rtc_pll_info, 32, 8],
  ] as const)("sizeof(struct %s) and its alignment", (layout, size, align) => {
    expect(layout.size).toBe(size);
    expect(layout.align).toBe(align);
  });

  it("places each member at its natural alignment", () => {
    expect(vfio_region_info.offsetof("size")).toBe(16);
    expect(vfio_region_info.offsetof("offset")).toBe(24);
    expect(vfio_iommu_type1_dma_map.offsetof("vaddr")).toBe(8);
    expect(vfio_iommu_type1_dma_map.offsetof("iova")).toBe(16);
    expect(iommu_ioas_map.offsetof("user_va")).toBe(16);
    expect(iommu_ioas_map.offsetof("iova")).toBe(32);
    expect(iommu_option.offsetof("op")).toBe(8);
    expect(iommu_option.offsetof("__reserved")).toBe(10);
    expect(iommu_option.offsetof("object_id")).toBe(12);
    expect(iommu_option.offsetof("val64")).toBe(16);
    expect(iommu_ioas_iova_ranges.offsetof("allowed_iovas")).toBe(16);
    expect(iommu_ioas_iova_ranges.offsetof("out_iova_alignment")).toBe(24);
  });

  it("pads a u64 after a lone u32 up to the next 8-byte boundary", () => {
    // header(8) + flags(4) + hole(4) + pgsize_bitmap(8) + max_dirty_bitmap_size(8)
    expect(vfio_iommu_type1_info_cap_migration.offsetof("flags")).toBe(8);
    expect(vfio_iommu_type1_info_cap_migration.offsetof("pgsize_bitmap")).toBe(16);
  });

  it("aligns a nested struct to its own alignment, not its size", () => {
    expect(rtc_wkalrm.offsetof("pending")).toBe(1);
    expect(rtc_wkalrm.offsetof("time")).toBe(4);
    expect(vfio_iommu_type1_dirty_bitmap_get.offsetof("bitmap")).toBe(16);
  });

  it("adds tail padding so that arrays of the struct stay aligned", () => {
    const s = defineStruct("tail", [
      ["a", u64],
      ["b", u8],
    ]);
    expect(s.size).toBe(16);
    expect(array(s, 3).size).toBe(48);
  });

  it("offsetofend() is the minsz VFIO computes for each ioctl", () => {
    // drivers/vfio: minsz = offsetofend(struct vfio_device_info, num_irqs) etc.
    expect(vfio_device_info.offsetofend("num_irqs")).toBe(16);
    expect(vfio_region_info.offsetofend("offset")).toBe(32);
    expect(vfio_irq_set.offsetofend("count")).toBe(20);
    expect(vfio_iommu_type1_dma_map.offsetofend("size")).toBe(32);
    expect(vfio_iommu_type1_info.offsetofend("iova_pgsizes")).toBe(16);
    // iommufd's ioctl table: offsetofend(struct iommu_ioas_map, iova)
    expect(iommu_ioas_map.offsetofend("iova")).toBe(40);
    expect(iommu_destroy.offsetofend("id")).toBe(8);
  });

  it("a flexible array member has an offset but adds nothing to sizeof", () => {
    expect(vfio_irq_set.offsetof("data")).toBe(20);
    expect(vfio_irq_set.offsetofend("data")).toBe(20);
    expect(vfio_irq_set.flex?.name).toBe("data");
    expect(vfio_iommu_type1_info_cap_iova_range.offsetof("iova_ranges")).toBe(16);
    expect(vfio_iommu_type1_dma_unmap.offsetof("data")).toBe(24);
    expect(vfio_region_info.flex).toBeUndefined();
  });

  it("a flexible array can start inside the tail padding", () => {
    const s = defineStruct("early_flex", [
      ["a", u32],
      ["b", u8],
      ["data", flex(u8)],
    ]);
    expect(s.size).toBe(8);
    expect(s.offsetof("data")).toBe(5);
    expect(s.sizeWithFlex(2)).toBe(8);
    expect(s.sizeWithFlex(5)).toBe(10);
  });

  it("a flexible array of u64 raises the struct's alignment", () => {
    const s = defineStruct("u64_flex", [
      ["n", u32],
      ["items", flex(u64)],
    ]);
    expect(s.offsetof("items")).toBe(8);
    expect(s.size).toBe(8);
    expect(s.align).toBe(8);
  });

  it("explicit pad() occupies bytes and is listed in fields", () => {
    const s = defineStruct("padded", [
      ["a", u8],
      ["__pad", pad(3)],
      ["b", u32],
    ]);
    expect(s.size).toBe(8);
    expect(s.offsetof("b")).toBe(4);
    expect(s.fields.map((f) => [f.name, f.offset, f.size])).toEqual([
      ["a", 0, 1],
      ["__pad", 1, 3],
      ["b", 4, 4],
    ]);
  });

  it("fields describe every member for docs and fuzzers", () => {
    expect(vfio_irq_set.fields.map((f) => [f.name, f.offset, f.size, f.type.kind])).toEqual([
      ["argsz", 0, 4, "scalar"],
      ["flags", 4, 4, "scalar"],
      ["index", 8, 4, "scalar"],
      ["start", 12, 4, "scalar"],
      ["count", 16, 4, "scalar"],
      ["data", 20, 0, "flex"],
    ]);
  });
});

describe("decode and encode", () => {
  it("encodes little-endian, member by member", () => {
    const bytes = vfio_iommu_type1_dma_map.encode({
      argsz: 32,
      flags: 3,
      vaddr: 0x7f00_1234_5000n,
      iova: 0x1000,
      size: 0xffff_ffff_ffff_ffffn,
    });
    expect(hex(bytes)).toBe(
      "20000000" + "03000000" + "0050341200" + "7f0000" + "0010000000000000" + "ffffffffffffffff",
    );
  });

  it("decodes 64-bit members as bigint and the rest as number", () => {
    const bytes = vfio_region_info.encode({
      argsz: 32,
      index: 2,
      size: 0x1000n,
      offset: 2n << 40n,
    });
    expect(vfio_region_info.decode(bytes)).toEqual({
      argsz: 32,
      flags: 0,
      index: 2,
      cap_offset: 0,
      size: 0x1000n,
      offset: 2n << 40n,
    });
  });

  it("decodes signed members with their sign", () => {
    const bytes = rtc_pll_info.encode({ pll_value: -5, pll_clock: -1n });
    const value = rtc_pll_info.decode(bytes);
    expect(value.pll_value).toBe(-5);
    expect(value.pll_clock).toBe(-1n);
    expect(hex(bytes.subarray(4, 8))).toBe("fbffffff");
  });

  it("zeroes missing members and padding", () => {
    const bytes = new Uint8Array(48).fill(0xee);
    vfio_iommu_type1_info_cap_migration.encodeInto(bytes, 8, { flags: 1 });
    expect(hex(bytes.subarray(0, 8))).toBe("eeeeeeeeeeeeeeee");
    expect(hex(bytes.subarray(8, 40))).toBe(`${"00".repeat(8)}01${"00".repeat(23)}`);
    expect(hex(bytes.subarray(40))).toBe("eeeeeeeeeeeeeeee");
  });

  it("decodes at an offset inside a larger buffer", () => {
    const buf = new Uint8Array(64);
    iommu_destroy.encodeInto(buf, 40, { size: 8, id: 7 });
    expect(iommu_destroy.decode(buf, 40)).toEqual({ size: 8, id: 7 });
  });

  it("nested structs and u8 arrays round-trip", () => {
    const s = defineStruct("nested", [
      ["hdr", vfio_info_cap_header],
      ["name", array(u8, 6)],
      ["ranges", array(vfio_iova_range, 2)],
    ]);
    expect(s.size).toBe(48);
    const value = s.decode(
      s.encode({
        hdr: { id: 1, version: 1, next: 0x40 },
        name: [0x70, 0x6c],
        ranges: [{ start: 0n, end: 0xfffn }],
      }),
    );
    expect(value).toEqual({
      hdr: { id: 1, version: 1, next: 0x40 },
      name: new Uint8Array([0x70, 0x6c, 0, 0, 0, 0]),
      ranges: [
        { start: 0n, end: 0xfffn },
        { start: 0n, end: 0n },
      ],
    });
  });

  it("the decoded u8 array is a copy, not a view of the user bytes", () => {
    const bytes = vfio_irq_set.encode({ count: 2, data: [1, 0] });
    const value = vfio_irq_set.decode(bytes, 0, 2);
    bytes[20] = 9;
    expect(value.data).toEqual(new Uint8Array([1, 0]));
  });

  it("a flexible u8 array follows the fixed part (VFIO_DEVICE_SET_IRQS with DATA_BOOL)", () => {
    const bytes = vfio_irq_set.encode({ argsz: 23, flags: 0x22, count: 3, data: [1, 0, 1] });
    expect(bytes.length).toBe(23);
    expect(hex(bytes.subarray(20))).toBe("010001");
    expect(vfio_irq_set.decode(bytes, 0, 3).data).toEqual(new Uint8Array([1, 0, 1]));
    expect(vfio_irq_set.decode(bytes).data).toEqual(new Uint8Array());
  });

  it("a flexible array of structs decodes the given number of elements", () => {
    const bytes = vfio_iommu_type1_info_cap_iova_range.encode({
      header: { id: 1, version: 1 },
      nr_iovas: 2,
      iova_ranges: [
        { start: 0n, end: 0x7fff_ffffn },
        { start: 0x1_0000_0000n, end: 0xffff_ffff_ffffn },
      ],
    });
    expect(bytes.length).toBe(48);
    const value = vfio_iommu_type1_info_cap_iova_range.decode(bytes, 0, 2);
    expect(value.iova_ranges[1]).toEqual({ start: 0x1_0000_0000n, end: 0xffff_ffff_ffffn });
  });

  it("a flexible s32 array carries eventfds and -1 (VFIO_DEVICE_PCI_HOT_RESET group_fds)", () => {
    const bytes = vfio_pci_hot_reset.encode({ argsz: 20, count: 2, group_fds: [5, -1] });
    expect(hex(bytes.subarray(12))).toBe("05000000ffffffff");
    expect(vfio_pci_hot_reset.decode(bytes, 0, 2).group_fds).toEqual([5, -1]);
  });

  it("decodePartial() zero-fills a short user struct", () => {
    const full = vfio_region_info.encode({ argsz: 32, flags: 7, index: 3, size: 5n, offset: 9n });
    expect(vfio_region_info.decodePartial(full.subarray(0, 12))).toEqual({
      argsz: 32,
      flags: 7,
      index: 3,
      cap_offset: 0,
      size: 0n,
      offset: 0n,
    });
    expect(vfio_region_info.decodePartial(new Uint8Array())).toEqual(
      vfio_region_info.decode(new Uint8Array(32)),
    );
    expect(vfio_region_info.decodePartial(full)).toEqual(vfio_region_info.decode(full));
  });

  it("decode() refuses bytes that do not hold the struct", () => {
    expect(() => vfio_region_info.decode(new Uint8Array(31))).toThrow(RangeError);
    expect(() => vfio_region_info.decode(new Uint8Array(40), 9)).toThrow(RangeError);
    expect(() => vfio_irq_set.decode(new Uint8Array(20), 0, 1)).toThrow(RangeError);
    expect(() => vfio_region_info.decode(new Uint8Array(32), -1)).toThrow(RangeError);
  });

  it("encodeInto() refuses a buffer that is too short", () => {
    expect(() => iommu_destroy.encodeInto(new Uint8Array(10), 4, {})).toThrow(RangeError);
  });

  it("encode() refuses values that do not fit their member", () => {
    expect(() => iommu_destroy.encode({ id: 2 ** 32 })).toThrow(RangeError);
    expect(() => iommu_destroy.encode({ id: -1 })).toThrow(RangeError);
    expect(() => iommu_destroy.encode({ id: 1.5 })).toThrow(TypeError);
    expect(() => iommu_ioas_map.encode({ length: 1n << 64n })).toThrow(RangeError);
    expect(() => iommu_ioas_map.encode({ length: -1n })).toThrow(RangeError);
    expect(() => rtc_time.encode({ tm_sec: 2 ** 31 })).toThrow(RangeError);
    expect(() => rtc_pll_info.encode({ pll_clock: 1n << 63n })).toThrow(RangeError);
    // @ts-expect-error a 32-bit member takes a number
    expect(() => iommu_destroy.encode({ id: 1n })).toThrow(TypeError);
  });

  it("encode() refuses an array longer than its member", () => {
    const s = defineStruct("name", [["name", array(u8, 4)]]);
    expect(() => s.encode({ name: [1, 2, 3, 4, 5] })).toThrow(RangeError);
    expect(() => s.encode({ name: [256] })).toThrow(RangeError);
  });

  it("encode() refuses a member the struct does not have", () => {
    // @ts-expect-error no such member
    expect(() => iommu_destroy.encode({ ioas_id: 1 })).toThrow(TypeError);
    const padded = defineStruct("padded", [
      ["a", u8],
      ["__pad", pad(3)],
    ]);
    // @ts-expect-error padding is not a value
    expect(() => padded.encode({ __pad: 0 })).toThrow(TypeError);
  });

  it("a 64-bit member takes a safe-integer number too", () => {
    expect(iommu_ioas_map.decode(iommu_ioas_map.encode({ iova: 0x1000 })).iova).toBe(0x1000n);
    expect(() => iommu_ioas_map.encode({ iova: 2 ** 60 })).toThrow(TypeError);
  });
});

describe("single integers (get_user / put_user)", () => {
  it("encode and decode one scalar little-endian", () => {
    expect(hex(encodeScalar(u32, 0xdeadbeef))).toBe("efbeadde");
    expect(hex(encodeScalar(s16, -2))).toBe("feff");
    expect(
      decodeScalar(Uint8Array.of(0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 1, u64),
    ).toBe(0xffff_ffff_ffff_ffffn);
    expectTypeOf(decodeScalar(new Uint8Array(8), 0, u64)).toEqualTypeOf<bigint>();
    expectTypeOf(decodeScalar(new Uint8Array(8), 0, s32)).toEqualTypeOf<number>();
  });

  it("refuse out-of-range values and short buffers", () => {
    expect(() => encodeScalar(u8, 256)).toThrow(RangeError);
    expect(() => decodeScalar(new Uint8Array(3), 0, u32)).toThrow(RangeError);
  });
});

describe("declarations", () => {
  it("refuse a duplicate member", () => {
    expect(() =>
      defineStruct("dup", [
        ["a", u32],
        ["a", u32],
      ]),
    ).toThrow(TypeError);
  });

  it("refuse a flexible array that is not last", () => {
    expect(() =>
      defineStruct("bad", [
        ["data", flex(u8)],
        ["a", u32],
      ]),
    ).toThrow(TypeError);
  });

  it("refuse a struct ending in a flexible array as a member or array element", () => {
    expect(() => defineStruct("outer", [["irq", vfio_irq_set]])).toThrow(TypeError);
    expect(() => array(vfio_irq_set, 2)).toThrow(TypeError);
    expect(() => flex(vfio_irq_set)).toThrow(TypeError);
  });

  it("refuse negative sizes", () => {
    expect(() => array(u8, -1)).toThrow(TypeError);
    expect(() => pad(-1)).toThrow(TypeError);
  });

  it("the layout object is frozen", () => {
    expect(Object.isFrozen(vfio_region_info)).toBe(true);
    expect(Object.isFrozen(vfio_region_info.fields)).toBe(true);
  });
});

describe("types are inferred from the declaration", () => {
  it("StructValue gives number, bigint, arrays and nested values", () => {
    expectTypeOf<StructValue<typeof iommu_ioas_map>>().toEqualTypeOf<{
      size: number;
      flags: number;
      ioas_id: number;
      __reserved: number;
      user_va: bigint;
      length: bigint;
      iova: bigint;
    }>();
    expectTypeOf<StructValue<typeof vfio_irq_set>["data"]>().toEqualTypeOf<Uint8Array>();
    expectTypeOf<StructValue<typeof vfio_pci_hot_reset>["group_fds"]>().toEqualTypeOf<number[]>();
    expectTypeOf<
      StructValue<typeof vfio_iommu_type1_info_cap_iova_range>["iova_ranges"]
    >().toEqualTypeOf<{ start: bigint; end: bigint }[]>();
    expectTypeOf<StructValue<typeof rtc_wkalrm>["time"]["tm_sec"]>().toEqualTypeOf<number>();
    expectTypeOf(vfio_region_info.decode(new Uint8Array(32))).toEqualTypeOf<
      StructValue<typeof vfio_region_info>
    >();
  });

  it("padding is not part of the value", () => {
    const s = defineStruct("padded", [
      ["a", u8],
      ["__pad", pad(3)],
      ["b", u32],
    ]);
    expectTypeOf<StructValue<typeof s>>().toEqualTypeOf<{ a: number; b: number }>();
  });

  it("StructInput makes every member optional and lets 64-bit members take numbers", () => {
    expectTypeOf<StructInput<typeof iommu_destroy>>().toEqualTypeOf<{
      size?: number;
      id?: number;
    }>();
    expectTypeOf<StructInput<typeof vfio_bitmap>["pgsize"]>().toEqualTypeOf<
      bigint | number | undefined
    >();
  });

  it("offsetof only accepts declared members", () => {
    // @ts-expect-error not a member of vfio_region_info
    expect(() => vfio_region_info.offsetof("argz")).toThrow(TypeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips: a value generator derived from the layout's own field table, as a fuzzer would.

const SCALAR_ARB = {
  u8: fc.integer({ min: 0, max: 0xff }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  u32: fc.integer({ min: 0, max: 0xffff_ffff }),
  u64: fc.oneof(
    fc.constantFrom(0n, 1n, 0xffff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n),
    fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
  ),
  s8: fc.integer({ min: -0x80, max: 0x7f }),
  s16: fc.integer({ min: -0x8000, max: 0x7fff }),
  s32: fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
  s64: fc.oneof(
    fc.constantFrom(-(1n << 63n), (1n << 63n) - 1n, -1n, 0n),
    fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  ),
} as const;

function arbitraryOf(type: FieldType, flexLength: number): fc.Arbitrary<unknown> {
  switch (type.kind) {
    case "scalar":
      return SCALAR_ARB[type.name];
    case "array":
      return elements(type.element, type.length);
    case "flex":
      return elements(type.element, flexLength);
    case "struct": {
      const entries: Record<string, fc.Arbitrary<unknown>> = {};
      for (const f of type.fields)
        if (f.type.kind !== "pad") entries[f.name] = arbitraryOf(f.type, flexLength);
      return fc.record(entries);
    }
    case "pad":
      return fc.constant(undefined);
  }
}

function elements(element: ElementType, length: number): fc.Arbitrary<unknown> {
  if (element.kind === "scalar" && element.name === "u8") {
    return fc.uint8Array({ minLength: length, maxLength: length });
  }
  return fc.array(arbitraryOf(element, 0), { minLength: length, maxLength: length });
}

const kitchenSink = defineStruct("kitchen_sink", [
  ["a", s8],
  ["b", u64],
  ["c", s16],
  ["__pad", pad(2)],
  ["d", array(s64, 2)],
  ["e", array(array(u16, 2), 2)],
  ["f", rtc_wkalrm],
  ["g", array(u8, 5)],
  ["tail", flex(vfio_iova_range)],
]);

const roundTrip: readonly StructLayout[] = [
  vfio_iommu_type1_dma_map,
  vfio_region_info,
  vfio_iommu_type1_info_cap_migration,
  vfio_iommu_type1_dirty_bitmap_get,
  iommu_option,
  rtc_pll_info,
  rtc_wkalrm,
  kitchenSink,
  vfio_irq_set,
  vfio_pci_hot_reset,
];

describe("round trips", () => {
  for (const layout of roundTrip) {
    test.prop([fc.integer({ min: 0, max: 4 }).chain((n) => arbitraryOf(layout, n))])(
      `decode(encode(v)) == v for struct ${layout.name}`,
      (value) => {
        const flexCount = layout.flex
          ? ((value as Record<string, ArrayLike<unknown>>)[layout.flex.name]?.length ?? 0)
          : 0;
        const bytes = layout.encode(value as StructInput<typeof layout>);
        expect(bytes.length).toBe(layout.sizeWithFlex(flexCount));
        expect(layout.decode(bytes, 0, flexCount)).toEqual(value);
      },
    );
  }

  test.prop([fc.uint8Array({ minLength: 32, maxLength: 32 })])(
    "encode(decode(b)) == b for a struct without padding",
    (bytes) => {
      expect(hex(vfio_iommu_type1_dma_map.encode(vfio_iommu_type1_dma_map.decode(bytes)))).toBe(
        hex(bytes),
      );
    },
  );

  test.prop([fc.uint8Array({ minLength: 32, maxLength: 32 })])(
    "encode(decode(b)) clears exactly the padding bytes",
    (bytes) => {
      const layout = vfio_iommu_type1_info_cap_migration;
      const out = layout.encode(layout.decode(bytes));
      const expected = Uint8Array.from(bytes);
      expected.fill(0, 12, 16);
      expect(hex(out)).toBe(hex(expected));
    },
  );

  test.prop([fc.uint8Array({ maxLength: 40 })])(
    "decodePartial(b) == decode(b zero-extended)",
    (bytes) => {
      const full = new Uint8Array(Math.max(40, bytes.length));
      full.set(bytes);
      expect(iommu_ioas_map.decodePartial(bytes)).toEqual(iommu_ioas_map.decode(full));
    },
  );
});
