import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { setupKernelMatchers } from "../testing/matchers.js";
import { AMBA_IDS, ambaDriver, baseWorld, platformDriver } from "./base-test-fixture.js";
import { devErrProbe } from "./dev-err-probe.js";
import type { PlatformDevice } from "./platform.js";

setupKernelMatchers();

const PL061 = "9030000.pl061";
const TEST0 = "c030000.dma-test";
const dmaTestTable = [{ compatible: "vfio-lab,dma-test" }];

describe("really_probe", () => {
  test("a failed probe logs 'probe with driver X failed with error -N' and unwinds dma_cleanup", () => {
    const w = baseWorld();
    const drv = ambaDriver("pl061_gpio", [AMBA_IDS.pl061], {
      probe: () => {
        throw new SysError("EINVAL", "pl061_probe");
      },
    });
    w.core.registerDriver(drv);
    expect(w.log()).toContain(
      `pl061_gpio ${PL061}: probe with driver pl061_gpio failed with error -22`,
    );
    expect(w.dma.calls).toEqual([
      `of_dma_configure ${PL061} force=true`,
      `use_default_domain ${PL061}`,
      `unuse_default_domain ${PL061}`,
      `arch_teardown_dma_ops ${PL061}`,
    ]);
    expect(w.dma.owners.get(PL061)).toBe(0);
    const dev = w.core.findDevice("amba", PL061)!;
    expect(dev.driver).toBeNull();
    expect(w.exists(`/sys/devices/platform/${PL061}/driver`)).toBe(false);
    expect(w.exists(`/sys/bus/amba/drivers/pl061_gpio/${PL061}`)).toBe(false);
  });

  test("ENODEV and ENXIO from a probe 'reject the match' quietly (dev_dbg)", () => {
    for (const code of ["ENODEV", "ENXIO"] as const) {
      const w = baseWorld({ debug: true });
      w.core.registerDriver(
        ambaDriver("pl061_gpio", [AMBA_IDS.pl061], {
          probe: () => {
            throw new SysError(code, "pl061_probe");
          },
        }),
      );
      const n = code === "ENODEV" ? -19 : -6;
      expect(w.log()).toContain(
        `pl061_gpio ${PL061}: probe with driver pl061_gpio rejects match ${n}`,
      );
      expect(w.log().some((l) => l.includes("failed with error"))).toBe(false);
    }
  });

  test("without debug, a rejected match leaves nothing in the log", () => {
    const w = baseWorld();
    w.core.registerDriver(
      ambaDriver("pl061_gpio", [AMBA_IDS.pl061], {
        probe: () => {
          throw new SysError("ENODEV", "pl061_probe");
        },
      }),
    );
    expect(w.log()).toEqual([]);
  });

  test("a DMA-configuration failure unwinds without dma_cleanup and without a probe message", () => {
    const w = baseWorld();
    w.dma.configureFails.set(TEST0, "EINVAL");
    const drv = platformDriver("dma-test", { ofMatchTable: dmaTestTable });
    w.core.registerDriver(drv);
    expect(drv.probed).toEqual(["c031000.dma-test"]);
    expect(w.dma.calls.filter((c) => c.includes(TEST0))).toEqual([
      `of_dma_configure ${TEST0} force=true`,
      `arch_teardown_dma_ops ${TEST0}`,
    ]);
    expect(w.log()).toEqual([]);
    expect(w.core.findDevice("platform", TEST0)!.driver).toBeNull();
  });

  test("use_default_domain failing tears the DMA ops down and is not cleaned up", () => {
    const w = baseWorld();
    w.dma.useFails.set(TEST0, "EBUSY");
    w.core.registerDriver(platformDriver("dma-test", { ofMatchTable: dmaTestTable }));
    expect(w.dma.calls.filter((c) => c.includes(TEST0))).toEqual([
      `of_dma_configure ${TEST0} force=true`,
      `use_default_domain ${TEST0}`,
      `arch_teardown_dma_ops ${TEST0}`,
      `arch_teardown_dma_ops ${TEST0}`,
    ]);
  });

  test("driver_managed_dma drivers never take or give back default-domain ownership", () => {
    const w = baseWorld();
    const vfio = platformDriver("vfio-platform", { driverManagedDma: true });
    w.core.registerDriver(vfio);
    w.echo(`/sys/bus/platform/devices/${TEST0}/driver_override`, "vfio-platform");
    w.echo("/sys/bus/platform/drivers_probe", TEST0);
    w.echo("/sys/bus/platform/drivers/vfio-platform/unbind", TEST0);
    expect(w.dma.calls).toEqual([
      `of_dma_configure ${TEST0} force=true`,
      `arch_teardown_dma_ops ${TEST0}`,
    ]);
  });

  test("managed resources taken by a failing probe are released", () => {
    const w = baseWorld();
    w.core.registerDriver(
      platformDriver("dma-test", {
        ofMatchTable: dmaTestTable,
        probe: (pdev) => {
          pdev.devmIoremapResource(0);
          throw new SysError("EIO", "dma_test_probe");
        },
      }),
    );
    expect(w.core.iomemShow()).not.toContain("dma-test");
    expect(w.core.findDevice("platform", TEST0)!.devres.empty).toBe(true);
  });

  test("'Resources present before probing' refuses with EBUSY", () => {
    const w = baseWorld();
    const dev = w.core.findDevice("platform", TEST0) as PlatformDevice;
    dev.devres.add("leftover", () => {});
    w.echo("/sys/bus/platform/drivers_autoprobe", "0");
    w.core.registerDriver(platformDriver("dma-test", { ofMatchTable: dmaTestTable }));
    expect(() => w.echo("/sys/bus/platform/drivers/dma-test/bind", TEST0)).toThrowErrno("EBUSY");
    expect(w.log()).toContain(`platform ${TEST0}: Resources present before probing`);
  });

  test("the driver link exists while the probe runs (driver_sysfs_add precedes the probe)", () => {
    const w = baseWorld();
    let linked = false;
    w.core.registerDriver(
      platformDriver("dma-test", {
        ofMatchTable: dmaTestTable,
        probe: (pdev) => {
          linked ||= w.exists(`${pdev.kobjPath}/driver`);
        },
      }),
    );
    expect(linked).toBe(true);
  });
});

describe("unbinding", () => {
  test("remove runs after the links go, then dma_cleanup; driver data is cleared", () => {
    const w = baseWorld();
    const order: string[] = [];
    const drv = platformDriver("dma-test", {
      ofMatchTable: dmaTestTable,
      probe: (pdev) => {
        pdev.driverData = { ok: true };
      },
      remove: (pdev) => {
        order.push(`remove link=${w.exists(`${pdev.kobjPath}/driver`)}`);
      },
    });
    w.core.registerDriver(drv);
    w.dma.calls.length = 0;
    w.echo("/sys/bus/platform/drivers/dma-test/unbind", TEST0);
    expect(order).toEqual(["remove link=false"]);
    expect(w.dma.calls).toEqual([
      `unuse_default_domain ${TEST0}`,
      `arch_teardown_dma_ops ${TEST0}`,
    ]);
    expect(w.core.findDevice("platform", TEST0)!.driverData).toBeNull();
  });

  test("driver_unregister unbinds every device, the most recently bound first", () => {
    const w = baseWorld();
    const drv = platformDriver("dma-test", { ofMatchTable: dmaTestTable });
    w.core.registerDriver(drv);
    expect(drv.probed).toEqual([TEST0, "c031000.dma-test"]);
    w.core.unregisterDriver(drv);
    expect(drv.removed).toEqual(["c031000.dma-test", TEST0]);
    expect(w.exists("/sys/bus/platform/drivers/dma-test")).toBe(false);
  });

  test("removing a bound device unbinds it and removes its links", () => {
    const w = baseWorld();
    const drv = platformDriver("dma-test", { ofMatchTable: dmaTestTable });
    w.core.registerDriver(drv);
    w.core.deviceDel(w.core.findDevice("platform", TEST0)!);
    expect(drv.removed).toEqual([TEST0]);
    expect(w.exists(`/sys/bus/platform/devices/${TEST0}`)).toBe(false);
    expect(w.exists(`/sys/bus/platform/drivers/dma-test/${TEST0}`)).toBe(false);
  });
});

describe("deferred probe", () => {
  /** A consumer that needs a provider bound first (as a DMA client needs its controller). */
  function pair(w: ReturnType<typeof baseWorld>) {
    const provider = ambaDriver("dma-pl330", [AMBA_IDS.pl330]);
    const consumer = platformDriver("dma-test", {
      ofMatchTable: dmaTestTable,
      probe: (pdev) => {
        if (w.core.findDevice("amba", "c000000.dma")!.driver === null) {
          throw devErrProbe(pdev, -517, "waiting for the pl330", "dma_test_probe");
        }
      },
    });
    return { provider, consumer };
  }

  test("a deferred device waits until late init, then binds once its provider has", () => {
    const w = baseWorld();
    const { provider, consumer } = pair(w);
    w.core.registerDriver(consumer);
    expect(w.core.binding.deferredDevices().map((d) => d.device)).toEqual([
      TEST0,
      "c031000.dma-test",
    ]);
    w.core.registerDriver(provider);
    // Triggers do nothing before deferred_probe_initcall().
    expect(w.core.findDevice("platform", TEST0)!.driver).toBeNull();
    w.core.deferredProbeInitcall();
    expect(w.core.findDevice("platform", TEST0)!.driver).toBe(consumer);
    expect(w.core.findDevice("platform", "c031000.dma-test")!.driver).toBe(consumer);
    expect(w.core.binding.deferredDevices()).toEqual([]);
  });

  test("after late init, every successful bind retries the pending devices", () => {
    const w = baseWorld();
    w.core.deferredProbeInitcall();
    const { provider, consumer } = pair(w);
    w.core.registerDriver(consumer);
    expect(w.core.findDevice("platform", TEST0)!.driver).toBeNull();
    w.core.registerDriver(provider);
    expect(w.core.findDevice("platform", TEST0)!.driver).toBe(consumer);
  });

  test("what still waits at the timeout is reported as 'deferred probe pending'", () => {
    const w = baseWorld();
    const { consumer } = pair(w);
    w.core.registerDriver(consumer);
    w.core.lateInitcalls();
    expect(w.log().some((l) => l.includes("deferred probe pending"))).toBe(false);
    w.soc.run(10e9);
    expect(w.log()).toContain(
      `platform ${TEST0}: deferred probe pending: dma-test: waiting for the pl330`,
    );
    expect(w.core.binding.deferredProbeTimeout).toBe(0);
    expect(w.core.driverDeferredProbeCheckState(w.core.findDevice("platform", TEST0)!)).toBe(-110);
  });

  test("a device without a recorded reason says '(reason unknown)'", () => {
    const w = baseWorld({ deferredProbeTimeout: 1 });
    w.core.registerDriver(
      platformDriver("dma-test", {
        ofMatchTable: dmaTestTable,
        probe: () => {
          throw new SysError("EPROBE_DEFER", "dma_test_probe");
        },
      }),
    );
    w.core.lateInitcalls();
    w.soc.run(1e9);
    expect(w.log()).toContain(`platform ${TEST0}: deferred probe pending: (reason unknown)`);
  });

  test("driver_deferred_probe_check_state() defers until initcalls are done", () => {
    const w = baseWorld();
    const dev = w.core.findDevice("platform", TEST0)!;
    expect(w.core.driverDeferredProbeCheckState(dev)).toBe(-517);
    w.core.lateInitcalls();
    expect(w.core.driverDeferredProbeCheckState(dev)).toBe(-517);
    const noModules = baseWorld({ modules: false });
    noModules.core.lateInitcalls();
    expect(
      noModules.core.driverDeferredProbeCheckState(noModules.core.findDevice("platform", TEST0)!),
    ).toBe(-19);
    expect(noModules.log()).toContain(
      `platform ${TEST0}: ignoring dependency for device, assuming no driver`,
    );
  });

  test("a device whose match never succeeded is not remembered (can_match)", () => {
    const w = baseWorld();
    w.core.binding.driverDeferredProbeAdd(w.core.findDevice("platform", TEST0)!);
    expect(w.core.binding.deferredDevices()).toEqual([]);
  });
});

describe("trace events", () => {
  test("bind, probe-failed, defer and unbind carry device, driver, bus and errno", () => {
    const w = baseWorld();
    w.core.registerDriver(
      ambaDriver("pl061_gpio", [AMBA_IDS.pl061], {
        probe: () => {
          throw new SysError("EIO", "pl061_probe");
        },
      }),
    );
    w.core.registerDriver(
      platformDriver("dma-test", {
        ofMatchTable: dmaTestTable,
        probe: (pdev) => {
          if (pdev.name === "c031000.dma-test")
            throw new SysError("EPROBE_DEFER", "dma_test_probe");
        },
      }),
    );
    w.echo("/sys/bus/platform/drivers/dma-test/unbind", TEST0);
    const events = w.driverEvents().map(({ time: _t, ...e }) => e);
    expect(events).toEqual([
      { type: "driver:probe-failed", device: PL061, driver: "pl061_gpio", bus: "amba", errno: -5 },
      { type: "driver:bind", device: TEST0, driver: "dma-test", bus: "platform" },
      {
        type: "driver:defer",
        device: "c031000.dma-test",
        driver: "dma-test",
        bus: "platform",
        errno: -517,
      },
      { type: "driver:unbind", device: TEST0, driver: "dma-test", bus: "platform" },
    ]);
  });

  test("the same boot gives the same trace, byte for byte", () => {
    const run = () => {
      const w = baseWorld();
      w.core.registerDriver(ambaDriver("pl061_gpio", [AMBA_IDS.pl061]));
      w.core.registerDriver(ambaDriver("uart-pl011", [AMBA_IDS.pl011]));
      w.core.registerDriver(platformDriver("dma-test", { ofMatchTable: dmaTestTable }));
      w.core.lateInitcalls();
      return JSON.stringify(w.driverEvents());
    };
    expect(run()).toBe(run());
  });
});
