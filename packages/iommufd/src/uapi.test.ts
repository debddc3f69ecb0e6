import { readFileSync } from "node:fs";
import { fc, test } from "@fast-check/vitest";
import {
  _IO,
  _IOC,
  _IOC_DIR,
  _IOC_NONE,
  _IOC_READ,
  _IOC_SIZE,
  _IOC_TYPE,
  _IOC_WRITE,
} from "@vfio-lab/kernel";
import { describeStructLayouts } from "@vfio-lab/kernel/testing";
import { describe, expect, it } from "vitest";
import * as uapi from "./uapi.js";

// The compiler's answer for Linux 7.3's include/uapi/linux/iommufd.h: uapi-layout.c compiled
// against the 7.3 headers (on the host and on the arm64 oracle kernel, with identical output).
interface LayoutFixture {
  source: string;
  structs: Record<string, { size: number; align: number; members: [string, number, number][] }>;
  constants: Record<string, number>;
  ioctlMinSize: Record<string, number>;
}
const fixture = JSON.parse(
  readFileSync(new URL("./uapi-layout.7.3.json", import.meta.url), "utf8"),
) as LayoutFixture;

const exported = uapi as Record<string, unknown>;

// C unions the codec declares as one member: the other member must sit on top of it.
const UNION_ALIASES: Record<string, Record<string, string>> = {
  iommu_hw_info: { in_data_type: "out_data_type" },
};

// Not in the UAPI header, so not in the fixture: drivers/iommu/iommufd/io_pagetable.h and
// include/linux/iommufd.h (7.3), checked by value below.
const KERNEL_INTERNAL: Record<string, number> = {
  IOPT_PAGES_ACCOUNT_NONE: 0,
  IOPT_PAGES_ACCOUNT_USER: 1,
  IOPT_PAGES_ACCOUNT_MM: 2,
  IOMMUFD_ACCESS_RW_READ: 0,
  IOMMUFD_ACCESS_RW_WRITE: 1,
  IOMMUFD_ACCESS_RW_KTHREAD: 2,
};

describeStructLayouts("iommufd.h", exported, fixture, UNION_ALIASES);

describe("iommufd.h layout details", () => {
  it("puts iommu_hw_info's in/out data type union at offset 24", () => {
    expect(uapi.iommu_hw_info.offsetof("out_data_type")).toBe(24);
    expect(uapi.iommu_hw_info.offsetof("out_max_pasid_log2")).toBe(28);
  });
});

describe("iommufd.h constants match the C preprocessor", () => {
  it.each(Object.entries(fixture.constants))("%s = %i", (name, value) => {
    const ours = exported[name];
    if (name === "IOMMUFD_TYPE") {
      expect(ours).toBe(";");
      expect((ours as string).charCodeAt(0)).toBe(value);
    } else {
      expect(ours).toBe(value);
    }
  });

  it.each(Object.entries(KERNEL_INTERNAL))("kernel-internal %s = %i", (name, value) => {
    expect(exported[name]).toBe(value);
  });

  it("exports no constant the compiler was not asked about", () => {
    const constants = Object.entries(exported)
      .filter(([, value]) => typeof value === "number" || typeof value === "string")
      .map(([name]) => name);
    expect(constants.sort()).toEqual(
      [...Object.keys(fixture.constants), ...Object.keys(KERNEL_INTERNAL)].sort(),
    );
  });
});

// drivers/iommu/iommufd/main.c (7.3), iommufd_ioctl_ops[]: IOCTL_OP(request, handler, struct,
// last member), min_size = offsetofend(struct, last), read from the source line by line.
const MAIN_C_OPS: [name: string, struct: string, last: string, minSize: number][] = [
  ["IOMMU_DESTROY", "iommu_destroy", "id", 8],
  ["IOMMU_IOAS_ALLOC", "iommu_ioas_alloc", "out_ioas_id", 12],
  ["IOMMU_IOAS_ALLOW_IOVAS", "iommu_ioas_allow_iovas", "allowed_iovas", 24],
  ["IOMMU_IOAS_COPY", "iommu_ioas_copy", "src_iova", 40],
  ["IOMMU_IOAS_IOVA_RANGES", "iommu_ioas_iova_ranges", "out_iova_alignment", 32],
  ["IOMMU_IOAS_MAP", "iommu_ioas_map", "iova", 40],
  ["IOMMU_IOAS_UNMAP", "iommu_ioas_unmap", "length", 24],
  ["IOMMU_OPTION", "iommu_option", "val64", 24],
  ["IOMMU_VFIO_IOAS", "iommu_vfio_ioas", "__reserved", 12],
  ["IOMMU_HWPT_ALLOC", "iommu_hwpt_alloc", "__reserved", 24],
  ["IOMMU_GET_HW_INFO", "iommu_hw_info", "__reserved", 32],
  ["IOMMU_HWPT_SET_DIRTY_TRACKING", "iommu_hwpt_set_dirty_tracking", "__reserved", 16],
  ["IOMMU_HWPT_GET_DIRTY_BITMAP", "iommu_hwpt_get_dirty_bitmap", "data", 48],
  ["IOMMU_HWPT_INVALIDATE", "iommu_hwpt_invalidate", "__reserved", 32],
  ["IOMMU_FAULT_QUEUE_ALLOC", "iommu_fault_alloc", "out_fault_fd", 16],
  ["IOMMU_IOAS_MAP_FILE", "iommu_ioas_map_file", "iova", 40],
  ["IOMMU_VIOMMU_ALLOC", "iommu_viommu_alloc", "out_viommu_id", 24],
  ["IOMMU_VDEVICE_ALLOC", "iommu_vdevice_alloc", "virt_id", 24],
  ["IOMMU_IOAS_CHANGE_PROCESS", "iommu_ioas_change_process", "__reserved", 8],
  ["IOMMU_VEVENTQ_ALLOC", "iommu_veventq_alloc", "out_veventq_fd", 28],
  ["IOMMU_HW_QUEUE_ALLOC", "iommu_hw_queue_alloc", "length", 40],
  ["IOMMU_IOAS_NOIOMMU_GET_PA", "iommu_ioas_noiommu_get_pa", "out_phys", 40],
];

describe("IOMMUFD_IOCTLS mirrors main.c's iommufd_ioctl_ops[]", () => {
  it("has one entry per command 0x80..0x95, entry i being command 0x80 + i", () => {
    expect(uapi.IOMMUFD_IOCTLS.map((op) => op.nr)).toEqual(
      Array.from({ length: 0x16 }, (_, i) => uapi.IOMMUFD_CMD_BASE + i),
    );
    expect(uapi.IOMMUFD_IOCTLS.map((op) => op.name).sort()).toEqual(
      MAIN_C_OPS.map(([name]) => name).sort(),
    );
  });

  it.each(MAIN_C_OPS)("%s: struct %s, min size offsetofend(%s) = %i", (name, s, last, min) => {
    const op = uapi.IOMMUFD_IOCTLS.find((o) => o.name === name)!;
    expect(op.struct).toBe(exported[s]);
    expect(op.minSizeField).toBe(last);
    expect(op.minSize).toBe(min);
    expect(op.minSize).toBe(fixture.ioctlMinSize[name]);
    expect(op.minSize).toBeLessThanOrEqual(op.struct.size);
    expect(op.request).toBe(exported[name]);
    expect(op.request).toBe(0x3b00 | op.nr);
    expect(op.request).toBe(_IO(uapi.IOMMUFD_TYPE, op.nr));
    expect(uapi.iommufdIoctlByNr(op.nr)).toBe(op);
  });

  it("names each command's handler, the function a refusal is reported from", () => {
    expect(uapi.iommufdIoctlByNr(uapi.IOMMUFD_CMD_IOAS_MAP)?.handler).toBe("iommufd_ioas_map");
    expect(uapi.iommufdIoctlByNr(uapi.IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA)?.handler).toBe(
      "iommufd_ioas_noiommu_get_pa",
    );
    for (const op of uapi.IOMMUFD_IOCTLS) expect(op.handler).toMatch(/^iommufd_\w+$/);
  });

  it("has no entry below 0x80 or past 0x95 (those go to the VFIO compatibility ioctls)", () => {
    expect(uapi.iommufdIoctlByNr(0x7f)).toBeUndefined();
    expect(uapi.iommufdIoctlByNr(0x96)).toBeUndefined();
    expect(uapi.iommufdIoctlByNr(0xa0)).toBeUndefined();
  });

  it("sets a minimum below sizeof where main.c stops before optional members", () => {
    const minOf = (nr: number) => uapi.iommufdIoctlByNr(nr)!.minSize;
    expect([minOf(uapi.IOMMUFD_CMD_HWPT_ALLOC), uapi.iommu_hwpt_alloc.size]).toEqual([24, 48]);
    expect([minOf(uapi.IOMMUFD_CMD_GET_HW_INFO), uapi.iommu_hw_info.size]).toEqual([32, 40]);
    expect([minOf(uapi.IOMMUFD_CMD_VIOMMU_ALLOC), uapi.iommu_viommu_alloc.size]).toEqual([24, 40]);
    expect([minOf(uapi.IOMMUFD_CMD_VEVENTQ_ALLOC), uapi.iommu_veventq_alloc.size]).toEqual([
      28, 32,
    ]);
  });

  // main.c compares the whole request with op->ioctl_num: a request with the right number but
  // any direction or size bits is not the command.
  test.prop([
    fc.integer({ min: uapi.IOMMUFD_CMD_BASE, max: uapi.IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA }),
    fc.constantFrom(_IOC_NONE, _IOC_READ, _IOC_WRITE, _IOC_READ | _IOC_WRITE),
    fc.integer({ min: 0, max: 0x3fff }),
  ])("matches a request only when it is exactly _IO(';', nr)", (nr, dir, size) => {
    const request = _IOC(dir, uapi.IOMMUFD_TYPE, nr, size);
    const op = uapi.iommufdIoctlByNr(nr)!;
    const exact = _IOC_DIR(request) === _IOC_NONE && _IOC_SIZE(request) === 0;
    expect(op.request === request).toBe(exact);
    expect(_IOC_TYPE(op.request)).toBe(0x3b);
  });
});

describe("iommufd.h structs round-trip through the codec", () => {
  test.prop([
    fc.record({
      size: fc.integer({ min: 0, max: 0xffff_ffff }),
      flags: fc.integer({ min: 0, max: 0xffff_ffff }),
      ioas_id: fc.integer({ min: 0, max: 0xffff_ffff }),
      __reserved: fc.integer({ min: 0, max: 0xffff_ffff }),
      user_va: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      length: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      iova: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
    }),
  ])("iommu_ioas_map decodes to what was encoded", (value) => {
    const bytes = uapi.iommu_ioas_map.encode(value);
    expect(bytes.length).toBe(40);
    expect(uapi.iommu_ioas_map.decode(bytes)).toEqual(value);
  });

  it("an older, shorter iommu_hwpt_alloc reads its missing tail as zeros", () => {
    const full = uapi.iommu_hwpt_alloc.encode({ size: 24, dev_id: 1, pt_id: 2, data_type: 9 });
    const short = uapi.iommu_hwpt_alloc.decodePartial(full.subarray(0, 24));
    expect(short).toMatchObject({ size: 24, dev_id: 1, pt_id: 2, data_type: 0, fault_id: 0 });
  });
});
