import { boards } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { AmbaDevice } from "./amba.js";
import { baseWorld } from "./base-test-fixture.js";
import { OF_POPULATED, OF_POPULATED_BUS } from "./of-node.js";
import { ofDeviceMakeBusId } from "./of-platform.js";
import type { PlatformDevice } from "./platform.js";

const w = baseWorld();
const names = (bus: string) => w.core.devices(bus).map((d) => d.name);

describe("of_platform_default_populate_init on the virtLab board", () => {
  test("AMBA devices are the arm,primecell nodes, named <address>.<node name>", () => {
    expect(names("amba").sort()).toEqual(
      ["9000000.pl011", "9010000.pl031", "9030000.pl061", "c000000.dma", "c020000.timer"].sort(),
    );
  });

  test("platform devices carry Linux's names for a virt guest", () => {
    const platform = names("platform");
    for (const name of [
      "9020000.fw-cfg",
      "9050000.smmuv3",
      "a000000.virtio_mmio",
      "a003e00.virtio_mmio",
      "c010000.ethernet",
      "c030000.dma-test",
      "c031000.dma-test",
      "4010000000.pcie",
      "0.flash",
      "platform-bus@c000000",
      "gpio-keys",
      "psci",
      "pmu",
      "timer",
    ]) {
      expect(platform, name).toContain(name);
    }
    expect(platform.filter((n) => n.endsWith(".virtio_mmio"))).toHaveLength(32);
  });

  test("no device for nodes without compatible, nor for the GIC and the fixed clock", () => {
    const platform = names("platform");
    for (const absent of [
      "memory@40000000",
      "40000000.memory",
      "cpus",
      "chosen",
      "8000000.intc",
      "8080000.its",
      "apb-pclk",
    ]) {
      expect(platform).not.toContain(absent);
    }
    expect(w.core.of.findByPath("/intc@8000000")!.checkFlag(OF_POPULATED)).toBe(true);
  });

  test("populated nodes are flagged; simple-bus nodes are OF_POPULATED_BUS", () => {
    const pl061 = w.core.of.findByPath("/pl061@9030000")!;
    expect(pl061.checkFlag(OF_POPULATED)).toBe(true);
    const pbus = w.core.of.findByPath("/platform-bus@c000000")!;
    expect(pbus.checkFlag(OF_POPULATED_BUS)).toBe(true);
    expect(w.core.of.root.checkFlag(OF_POPULATED_BUS)).toBe(true);
  });

  test("top-level devices live under /sys/devices/platform; bus children under their bus", () => {
    expect(w.core.findDevice("amba", "9030000.pl061")!.kobjPath).toBe(
      "/sys/devices/platform/9030000.pl061",
    );
    expect(w.core.findDevice("amba", "c000000.dma")!.kobjPath).toBe(
      "/sys/devices/platform/platform-bus@c000000/c000000.dma",
    );
    expect(w.core.findDevice("amba", "9030000.pl061")!.parent).toBe(w.core.platformRoot);
    expect(w.core.findDevice("platform", "c030000.dma-test")!.parent?.name).toBe(
      "platform-bus@c000000",
    );
  });

  test("the bus directories link to the devices, and the devices back to their bus", () => {
    expect(w.readlink("/sys/bus/amba/devices/9030000.pl061")).toBe(
      "../../../devices/platform/9030000.pl061",
    );
    expect(w.readlink("/sys/bus/amba/devices/c000000.dma")).toBe(
      "../../../devices/platform/platform-bus@c000000/c000000.dma",
    );
    expect(w.readlink("/sys/bus/platform/devices/9050000.smmuv3")).toBe(
      "../../../devices/platform/9050000.smmuv3",
    );
    expect(w.readlink("/sys/devices/platform/9030000.pl061/subsystem")).toBe("../../../bus/amba");
    expect(
      w.readlink("/sys/devices/platform/platform-bus@c000000/c030000.dma-test/subsystem"),
    ).toBe("../../../../bus/platform");
  });

  test("each device links to its node under /sys/firmware/devicetree/base", () => {
    expect(w.readlink("/sys/devices/platform/9030000.pl061/of_node")).toBe(
      "../../../firmware/devicetree/base/pl061@9030000",
    );
    expect(w.cat("/sys/bus/amba/devices/9030000.pl061/of_node/compatible")).toBe(
      "arm,pl061\0arm,primecell\0",
    );
    expect(w.cat("/sys/bus/amba/devices/9030000.pl061/of_node/name")).toBe("pl061\0");
    expect(w.cat("/sys/firmware/devicetree/base/name")).toBe("\0");
    expect(w.cat("/sys/firmware/devicetree/base/model")).toBe("linux,dummy-virt\0");
  });

  test("a platform device's files: uevent, modalias, driver_override, of_node, subsystem", () => {
    expect(w.ls("/sys/devices/platform/9050000.smmuv3").sort()).toEqual(
      ["driver_override", "modalias", "of_node", "subsystem", "uevent"].sort(),
    );
    expect(w.cat("/sys/devices/platform/9050000.smmuv3/modalias")).toBe(
      "of:Nsmmuv3T(null)Carm,smmu-v3\n",
    );
    expect(w.cat("/sys/devices/platform/9050000.smmuv3/uevent")).toBe(
      "OF_NAME=smmuv3\nOF_FULLNAME=/smmuv3@9050000\nOF_COMPATIBLE_0=arm,smmu-v3\nOF_COMPATIBLE_N=1\n" +
        "MODALIAS=of:Nsmmuv3T(null)Carm,smmu-v3\n",
    );
    expect(w.cat("/sys/devices/platform/9050000.smmuv3/driver_override")).toBe("(null)\n");
  });

  test("an AMBA device's files: id (%08x periphid) and resource", () => {
    expect(w.ls("/sys/devices/platform/9030000.pl061").sort()).toEqual(
      ["driver_override", "id", "of_node", "resource", "subsystem", "uevent"].sort(),
    );
    expect(w.cat("/sys/bus/amba/devices/9030000.pl061/id")).toBe("00041061\n");
    expect(w.cat("/sys/bus/amba/devices/c000000.dma/id")).toBe("00241330\n");
    expect(w.cat("/sys/bus/amba/devices/9030000.pl061/resource")).toBe(
      "\t0000000009030000\t0000000009030fff\t0000000000000200\n",
    );
    expect(w.cat("/sys/bus/amba/devices/9030000.pl061/uevent")).toContain(
      "AMBA_ID=00041061\nMODALIAS=amba:d00041061\n",
    );
  });

  test("resources come from reg, translated through the bus ranges", () => {
    const fwcfg = w.core.findDevice("platform", "9020000.fw-cfg") as PlatformDevice;
    expect(fwcfg.resources.map((r) => [r.start, r.end, r.name])).toEqual([
      [0x9020000, 0x9020017, "fw-cfg@9020000"],
    ]);
    const eth = w.core.findDevice("platform", "c010000.ethernet") as PlatformDevice;
    expect(eth.resources[0]!.start).toBe(0xc010000);
    const flash = w.core.findDevice("platform", "0.flash") as PlatformDevice;
    expect(flash.resources).toHaveLength(2);
    const dma = w.core.findDevice("amba", "c000000.dma") as AmbaDevice;
    expect(dma.res.start).toBe(0xc000000);
  });

  test("AMBA windows are claimed in iomem at device add", () => {
    expect(w.core.iomemShow()).toBe(
      "09000000-09000fff : pl011@9000000\n09010000-09010fff : pl031@9010000\n" +
        "09030000-09030fff : pl061@9030000\n0c000000-0c000fff : dma@0\n0c020000-0c020fff : timer@20000\n",
    );
  });

  test("DMA masks default to 32 bits", () => {
    const d = w.core.findDevice("platform", "c030000.dma-test")!;
    expect(d.dma.coherentMask).toBe(0xffff_ffffn);
    expect(d.dma.mask).toBe(0xffff_ffffn);
  });
});

describe("of_device_make_bus_id", () => {
  test("reg-less nodes are named outermost first, joined with ':'; a 'mask' adds the bit index", () => {
    const dts = `/dts-v1/;
/ {
	#address-cells = <1>; #size-cells = <1>;
	soc { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges;
		sub { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges;
			leaf { compatible = "acme,leaf"; };
		};
		gpio@1000 { compatible = "acme,gpio"; reg = <0x1000 0x100>; mask = <0x30>; };
	};
	off@2000 { compatible = "acme,off"; reg = <0x2000 0x100>; status = "disabled"; };
	nocompat@3000 { reg = <0x3000 0x100>; };
};`;
    const v = baseWorld({ dts });
    const all = v.core.devices("platform").map((d) => d.name);
    expect(all).toEqual(["soc", "soc:sub", "soc:sub:leaf", "1000.4.gpio"]);
    const leaf = v.core.of.findByPath("/soc/sub/leaf")!;
    expect(ofDeviceMakeBusId(leaf)).toBe("soc:sub:leaf");
    expect(v.core.findDevice("platform", "soc:sub:leaf")!.kobjPath).toBe(
      "/sys/devices/platform/soc/soc:sub/soc:sub:leaf",
    );
  });

  test("populating twice adds nothing (OF_POPULATED_BUS, OF_POPULATED)", () => {
    const v = baseWorld({ dts: boards.virtLab() });
    const before = v.core.devices("platform").length + v.core.devices("amba").length;
    v.core.populate();
    expect(v.core.devices("platform").length + v.core.devices("amba").length).toBe(before);
  });

  test("a destroyed device frees its node for the next population", () => {
    const v = baseWorld();
    const dev = v.core.findDevice("amba", "9030000.pl061")!;
    v.core.ofPlatformDeviceDestroy(dev);
    expect(v.exists("/sys/bus/amba/devices/9030000.pl061")).toBe(false);
    expect(v.exists("/sys/devices/platform/9030000.pl061")).toBe(false);
    expect(v.core.iomemShow()).not.toContain("pl061");
    v.core.of.root.clearFlag(OF_POPULATED_BUS);
    v.core.populate();
    expect(v.core.findDevice("amba", "9030000.pl061")).toBeInstanceOf(AmbaDevice);
  });
});
