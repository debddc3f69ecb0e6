import { readFileSync } from "node:fs";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { describeStructLayouts } from "../testing/uapi-layout.js";
import { _IOC_DIR, _IOC_NONE, _IOC_NR, _IOC_SIZE, _IOC_TYPE, formatIoctl } from "./ioctl.js";
import * as vfio from "./vfio.js";

// The compiler's answer for Linux 7.3's include/uapi/linux/vfio.h: vfio-layout.c compiled against
// the 7.3 headers (on the host and on the arm64 oracle kernel, with identical output).
interface LayoutFixture {
  source: string;
  structs: Record<string, { size: number; align: number; members: [string, number, number][] }>;
  constants: Record<string, number | string>;
}
const fixture = JSON.parse(
  readFileSync(new URL("./vfio-layout.7.3.json", import.meta.url), "utf8"),
) as LayoutFixture;

const exported = vfio as Record<string, unknown>;

// C unions the codec declares as one member: the other member must sit on top of it.
const UNION_ALIASES: Record<string, Record<string, string>> = {
  vfio_pci_dependent_device: { devid: "group_id" },
  vfio_device_gfx_plane_info: { dmabuf_id: "region_index" },
};

// The type characters, which vfio.ts spells as C does (';') and the fixture as their code.
const CHAR_CONSTANTS = new Set(["VFIO_TYPE"]);

describeStructLayouts("vfio.h", exported, fixture, UNION_ALIASES);

describe("vfio.h layout details", () => {
  it("ends a struct in a flexible array exactly where C does", () => {
    expect(vfio.vfio_irq_set.flex?.offset).toBe(20);
    expect(vfio.vfio_irq_set.sizeWithFlex(2 * 4)).toBe(28);
    expect(vfio.vfio_iommu_type1_info_cap_iova_range.sizeWithFlex(2)).toBe(16 + 2 * 16);
    expect(vfio.vfio_iommu_type1_dma_unmap.offsetofend("data")).toBe(24);
  });

  it("leaves the hole C leaves before an aligned u64", () => {
    expect(vfio.vfio_iommu_type1_info_cap_migration.offsetof("pgsize_bitmap")).toBe(16);
    expect(vfio.vfio_iommu_type1_info_dma_avail.size).toBe(12);
  });
});

describe("vfio.h constants match the C preprocessor", () => {
  it.each(Object.entries(fixture.constants))("%s = %s", (name, value) => {
    const ours = exported[name];
    if (CHAR_CONSTANTS.has(name)) {
      expect(typeof ours).toBe("string");
      expect((ours as string).charCodeAt(0)).toBe(value);
    } else {
      expect(ours).toBe(value);
    }
  });

  it("exports no constant the compiler was not asked about", () => {
    const constants = Object.entries(exported)
      .filter(([, value]) => typeof value === "number" || typeof value === "string")
      .map(([name]) => name);
    expect(constants.sort()).toEqual(Object.keys(fixture.constants).sort());
  });

  it("gives flags whose C spelling overflows int as the unsigned u32 value", () => {
    // (1 << 31) is INT_MIN in C; stored in `__u32 type` it reads 0x80000000.
    expect(vfio.VFIO_REGION_TYPE_PCI_VENDOR_TYPE).toBe(0x8000_0000);
    expect(vfio.VFIO_PCI_DEVID_NOT_OWNED >>> 0).toBe(0xffff_ffff);
  });
});

// Every request, with the VFIO_BASE offset the header writes it with.
const REQUESTS: [name: keyof typeof vfio, offset: number][] = [
  ["VFIO_GET_API_VERSION", 0],
  ["VFIO_CHECK_EXTENSION", 1],
  ["VFIO_SET_IOMMU", 2],
  ["VFIO_GROUP_GET_STATUS", 3],
  ["VFIO_GROUP_SET_CONTAINER", 4],
  ["VFIO_GROUP_UNSET_CONTAINER", 5],
  ["VFIO_GROUP_GET_DEVICE_FD", 6],
  ["VFIO_DEVICE_GET_INFO", 7],
  ["VFIO_DEVICE_GET_REGION_INFO", 8],
  ["VFIO_DEVICE_GET_IRQ_INFO", 9],
  ["VFIO_DEVICE_SET_IRQS", 10],
  ["VFIO_DEVICE_RESET", 11],
  ["VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", 12],
  ["VFIO_IOMMU_GET_INFO", 12],
  ["VFIO_DEVICE_PCI_HOT_RESET", 13],
  ["VFIO_IOMMU_MAP_DMA", 13],
  ["VFIO_DEVICE_QUERY_GFX_PLANE", 14],
  ["VFIO_IOMMU_UNMAP_DMA", 14],
  ["VFIO_DEVICE_GET_GFX_DMABUF", 15],
  ["VFIO_IOMMU_ENABLE", 15],
  ["VFIO_DEVICE_IOEVENTFD", 16],
  ["VFIO_IOMMU_DISABLE", 16],
  ["VFIO_DEVICE_FEATURE", 17],
  ["VFIO_IOMMU_DIRTY_PAGES", 17],
  ["VFIO_DEVICE_BIND_IOMMUFD", 18],
  ["VFIO_DEVICE_ATTACH_IOMMUFD_PT", 19],
  ["VFIO_DEVICE_DETACH_IOMMUFD_PT", 20],
  ["VFIO_MIG_GET_PRECOPY_INFO", 21],
];

describe("vfio.h ioctl requests", () => {
  it.each(REQUESTS)("%s is _IO(';', VFIO_BASE + %i)", (name, offset) => {
    const request = exported[name] as number;
    expect(request).toBe(0x3b00 | (vfio.VFIO_BASE + offset));
    expect(_IOC_DIR(request)).toBe(_IOC_NONE);
    expect(_IOC_SIZE(request)).toBe(0);
    expect(formatIoctl(request)).toBe(`_IO(';', 0x${(100 + offset).toString(16)})`);
  });

  it("lists every request the fixture holds", () => {
    const requests = Object.entries(fixture.constants)
      .filter(([, v]) => typeof v === "number" && v >= 0x3b00 + 100 && v <= 0x3b00 + 121)
      .map(([name]) => name);
    expect(requests.sort()).toEqual(REQUESTS.map(([name]) => name).sort());
  });

  // Container, device and type1 requests share numbers: which one a request is depends only on
  // the fd it is issued on, never on bits the request could carry.
  test.prop([fc.constantFrom(...REQUESTS)])("carries only type ';' and the number", ([name]) => {
    const request = exported[name] as number;
    expect(_IOC_TYPE(request)).toBe(";".charCodeAt(0));
    expect(request & ~0xffff).toBe(0);
    expect(_IOC_NR(request)).toBeGreaterThanOrEqual(vfio.VFIO_BASE);
  });
});

describe("vfio.h round trips through the codec", () => {
  test.prop([
    fc.record({
      argsz: fc.integer({ min: 0, max: 0xffff_ffff }),
      flags: fc.integer({ min: 0, max: 0xffff_ffff }),
      vaddr: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      iova: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      size: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
    }),
  ])("vfio_iommu_type1_dma_map decodes to what was encoded", (value) => {
    const bytes = vfio.vfio_iommu_type1_dma_map.encode(value);
    expect(bytes.length).toBe(32);
    expect(vfio.vfio_iommu_type1_dma_map.decode(bytes)).toEqual(value);
  });

  it("vfio_iommu_type1_dirty_bitmap_get nests a vfio_bitmap at offset 16", () => {
    const bytes = vfio.vfio_iommu_type1_dirty_bitmap_get.encode({
      iova: 0x1000n,
      size: 0x2000n,
      bitmap: { pgsize: 4096n, size: 8n, data: 0xdead_0000n },
    });
    expect(bytes.length).toBe(40);
    expect(new DataView(bytes.buffer).getBigUint64(32, true)).toBe(0xdead_0000n);
  });
});
