import { IOMMU_IOAS_MAP } from "@vfio-lab/iommufd";
import { formatIoctl } from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_IOMMU_MAP_DMA,
} from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import { vfioFdKindOfPath, vfioIoctlName } from "./ioctl-names.js";

describe("vfioIoctlName()", () => {
  test("names a request by number or by the trace's spelling, on the kind of file that answers it", () => {
    expect(vfioIoctlName("group", VFIO_GROUP_SET_CONTAINER)).toBe("VFIO_GROUP_SET_CONTAINER");
    expect(vfioIoctlName("group", formatIoctl(VFIO_GROUP_SET_CONTAINER))).toBe(
      "VFIO_GROUP_SET_CONTAINER",
    );
    expect(vfioIoctlName("iommufd", IOMMU_IOAS_MAP)).toBe("IOMMU_IOAS_MAP");
    expect(vfioIoctlName("container", VFIO_GROUP_SET_CONTAINER)).toBeUndefined();
    expect(vfioIoctlName("other", IOMMU_IOAS_MAP)).toBeUndefined();
  });

  test("MAP_DMA and PCI_HOT_RESET share a number: the fd's kind tells them apart", () => {
    expect(VFIO_IOMMU_MAP_DMA).toBe(VFIO_DEVICE_PCI_HOT_RESET);
    expect(vfioIoctlName("container", VFIO_IOMMU_MAP_DMA)).toBe("VFIO_IOMMU_MAP_DMA");
    expect(vfioIoctlName("device", VFIO_IOMMU_MAP_DMA)).toBeUndefined();
  });
});

test("vfioFdKindOfPath()", () => {
  expect(vfioFdKindOfPath("/dev/vfio/vfio")).toBe("container");
  expect(vfioFdKindOfPath("/dev/vfio/7")).toBe("group");
  expect(vfioFdKindOfPath("/dev/vfio/noiommu-3")).toBe("group");
  expect(vfioFdKindOfPath("/dev/vfio/devices/vfio0")).toBe("device");
  expect(vfioFdKindOfPath("/dev/vfio/devices/noiommu-vfio0")).toBe("device");
  expect(vfioFdKindOfPath("/dev/iommu")).toBe("iommufd");
  expect(vfioFdKindOfPath("/dev/vfio/x7")).toBe("other");
  expect(vfioFdKindOfPath("/sys/bus/platform/drivers_probe")).toBe("other");
});
