import { describe, expect, test } from "vitest";
import { setupKernelMatchers } from "../testing/matchers.js";
import { type AmbaDevice, ambaLookup, ambaMatch, ambaRequestRegions } from "./amba.js";
import { AMBA_IDS, ambaDriver, baseWorld } from "./base-test-fixture.js";

setupKernelMatchers();

const amba = (w: ReturnType<typeof baseWorld>, name: string) =>
  w.core.findDevice("amba", name) as AmbaDevice;

describe("amba_read_periphid on the virtLab PrimeCells", () => {
  test("each periphid is read from the device's ID registers", () => {
    const w = baseWorld();
    expect(amba(w, "9000000.pl011").periphid).toBe(0x00141011);
    expect(amba(w, "9010000.pl031").periphid).toBe(0x00141031);
    expect(amba(w, "9030000.pl061").periphid).toBe(0x00041061);
    expect(amba(w, "c000000.dma").periphid).toBe(0x00241330);
    expect(amba(w, "c020000.timer").periphid).toBe(0x00141804);
    expect(amba(w, "9030000.pl061").cid).toBe(0xb105f00d);
  });

  test("arm,primecell-periphid overrides the hardware's ID", () => {
    const dts = `/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
	pl061@9030000 { compatible = "arm,pl061", "arm,primecell"; reg = <0x0 0x9030000 0x0 0x1000>;
		arm,primecell-periphid = <0x00341061>; };
};`;
    const w = baseWorld({ dts });
    expect(w.cat("/sys/bus/amba/devices/9030000.pl061/id")).toBe("00341061\n");
  });
});

describe("amba_match / amba_lookup", () => {
  test("(periphid & mask) == id, masking the revision out as Linux's tables do", () => {
    const w = baseWorld();
    const pl011 = amba(w, "9000000.pl011");
    expect(ambaLookup([AMBA_IDS.pl011], pl011)).toBe(AMBA_IDS.pl011);
    expect(ambaLookup([{ id: 0x00141011, mask: 0xffffffff }], pl011)).not.toBeNull();
    expect(ambaLookup([{ id: 0x00041011, mask: 0xffffffff }], pl011)).toBeNull();
    expect(ambaLookup([AMBA_IDS.pl330], amba(w, "c000000.dma"))).toBe(AMBA_IDS.pl330);
    expect(ambaLookup([AMBA_IDS.pl061], pl011)).toBeNull();
    // A zero mask ends the table, as the {0, 0} terminator does.
    expect(ambaLookup([{ id: 0, mask: 0 }, AMBA_IDS.pl011], pl011)).toBeNull();
  });

  test("registered AMBA drivers bind to their PrimeCells only", () => {
    const w = baseWorld();
    const pl061 = ambaDriver("pl061_gpio", [AMBA_IDS.pl061]);
    const pl011 = ambaDriver("uart-pl011", [AMBA_IDS.pl011]);
    const pl330 = ambaDriver("dma-pl330", [AMBA_IDS.pl330]);
    for (const d of [pl061, pl011, pl330]) w.core.registerDriver(d);
    expect(pl061.probed).toEqual(["9030000.pl061"]);
    expect(pl011.probed).toEqual(["9000000.pl011"]);
    expect(pl330.probed).toEqual(["c000000.dma"]);
    expect(w.readlink("/sys/bus/amba/devices/9030000.pl061/driver")).toBe(
      "../../../bus/amba/drivers/pl061_gpio",
    );
    expect(w.readlink("/sys/bus/amba/drivers/pl061_gpio/9030000.pl061")).toBe(
      "../../../../devices/platform/9030000.pl061",
    );
  });

  test("driver_override decides alone: an empty id table binds only through it", () => {
    const w = baseWorld();
    const vfio = ambaDriver("vfio-amba", [], { driverManagedDma: true });
    w.core.registerDriver(vfio);
    expect(vfio.probed).toEqual([]);
    const dev = amba(w, "9030000.pl061");
    dev.setDriverOverride("vfio-amba");
    expect(ambaMatch(dev, vfio)).toBe(1);
    const pl061 = ambaDriver("pl061_gpio", [AMBA_IDS.pl061]);
    expect(ambaMatch(dev, pl061)).toBe(0);
  });

  test("the probe gets the matching id entry and irq[] decoded from interrupts", () => {
    const w = baseWorld();
    let seen: unknown;
    const drv = ambaDriver("dma-pl330", [AMBA_IDS.pl330], {
      probe: (adev, id) => {
        seen = { id, irq: [...adev.irq] };
      },
    });
    w.core.registerDriver(drv);
    // SPIs 112–120 are INTIDs 144–152.
    expect(seen).toEqual({
      id: AMBA_IDS.pl330,
      irq: [144, 145, 146, 147, 148, 149, 150, 151, 152],
    });
    const pl061 = amba(w, "9030000.pl061");
    w.core.registerDriver(ambaDriver("pl061_gpio", [AMBA_IDS.pl061]));
    expect(pl061.irq).toEqual([39, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test("an IRQ domain that is not there yet defers the probe", () => {
    const w = baseWorld();
    w.irq.defer = true;
    const drv = ambaDriver("pl061_gpio", [AMBA_IDS.pl061]);
    w.core.registerDriver(drv);
    expect(w.core.findDevice("amba", "9030000.pl061")!.driver).toBeNull();
    expect(w.core.binding.deferredDevices().map((d) => d.device)).toEqual(["9030000.pl061"]);
    w.irq.defer = false;
    w.core.deferredProbeInitcall();
    expect(w.core.findDevice("amba", "9030000.pl061")!.driver).toBe(drv);
  });
});

describe("a PrimeCell whose ID cannot be read", () => {
  // An arm,primecell node over a window nothing models: the IDs read as 0.
  const dts = `/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
	mystery@9040000 { compatible = "acme,mystery", "arm,primecell"; reg = <0x0 0x9040000 0x0 0x1000>; };
	pl061@9030000 { compatible = "arm,pl061", "arm,primecell"; reg = <0x0 0x9030000 0x0 0x1000>; };
};`;

  test("is still added, with id 00000000 and its uevent suppressed", () => {
    const w = baseWorld({ dts });
    const dev = amba(w, "9040000.mystery");
    expect(dev.periphid).toBe(0);
    expect(dev.ueventSuppress).toBe(true);
    expect(w.cat("/sys/bus/amba/devices/9040000.mystery/id")).toBe("00000000\n");
  });

  test("amba_match() answers -EPROBE_DEFER, and the device waits on the deferred list", () => {
    const w = baseWorld({ dts });
    const drv = ambaDriver("pl061_gpio", [AMBA_IDS.pl061]);
    w.core.registerDriver(drv);
    const dev = amba(w, "9040000.mystery");
    expect(ambaMatch(dev, drv)).toBe(-517);
    expect(w.core.binding.deferredDevices().map((d) => d.device)).toEqual(["9040000.mystery"]);
    expect(drv.probed).toEqual(["9030000.pl061"]);
  });

  test("drivers_probe of it is EINVAL: device_attach() stopped at the deferring match", () => {
    const w = baseWorld({ dts });
    w.core.registerDriver(ambaDriver("pl061_gpio", [AMBA_IDS.pl061]));
    expect(() => w.echo("/sys/bus/amba/drivers_probe", "9040000.mystery\n")).toThrowErrno("EINVAL");
  });

  test("bind still probes: the deferring match is non-zero (bind_store tests for != 0)", () => {
    const w = baseWorld({ dts });
    const drv = ambaDriver("pl061_gpio", [AMBA_IDS.pl061]);
    w.core.registerDriver(drv);
    w.echo("/sys/bus/amba/drivers/pl061_gpio/bind", "9040000.mystery");
    expect(drv.probed).toEqual(["9030000.pl061", "9040000.mystery"]);
  });
});

describe("amba_request_regions", () => {
  test("claims the window inside the device's resource; a second claim is EBUSY", () => {
    const w = baseWorld();
    const dev = amba(w, "9030000.pl061");
    ambaRequestRegions(dev, "pl061");
    expect(w.core.iomemShow()).toContain(
      "09030000-09030fff : pl061@9030000\n  09030000-09030fff : pl061\n",
    );
    expect(() => ambaRequestRegions(dev, "again")).toThrowErrno("EBUSY");
  });
});

describe("the amba-proxy stub driver", () => {
  test("registers at late init and only binds through driver_override, then refuses", () => {
    const w = baseWorld();
    w.core.lateInitcalls();
    expect(w.exists("/sys/bus/amba/drivers/amba-proxy/bind")).toBe(true);
    expect(w.core.findDevice("amba", "9030000.pl061")!.driver).toBeNull();
    w.echo("/sys/bus/amba/devices/9030000.pl061/driver_override", "amba-proxy");
    expect(() => w.echo("/sys/bus/amba/drivers/amba-proxy/bind", "9030000.pl061")).toThrowErrno(
      "ENODEV",
    );
    expect(w.log()).toContain("Stub driver should never match any device.");
  });

  test("is not registered without module support", () => {
    const w = baseWorld({ modules: false });
    w.core.lateInitcalls();
    expect(w.exists("/sys/bus/amba/drivers/amba-proxy")).toBe(false);
  });
});
