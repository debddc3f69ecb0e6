/**
 * The reset modules and the registry behind them (vfio_platform_common.c: the reset list,
 * vfio_platform_get_reset() with request_module("vfio-reset:<compat>"); reset/
 * vfio_platform_calxedaxgmac.c; the model-only vfio_platform_dmatest), driven as an
 * administrator and a VMM drive them: modprobe/rmmod, sysfs binding, device-fd ioctls.
 */

import { DMA_TEST_CTRL, DMA_TEST_STATUS, xgmacBits } from "@vfio-lab/hw-soc";
import { defineModule, type Kernel, type KernelModule } from "@vfio-lab/kernel";
import { VFIO_DEVICE_FLAGS_PLATFORM, VFIO_DEVICE_FLAGS_RESET } from "@vfio-lab/kernel/uapi";
import { describe, expect, test } from "vitest";
import {
  assign,
  boot,
  DEV,
  dmesgText,
  driverOf,
  openDevice,
  vdevOf,
  type World,
} from "../../test/platform-fixture.js";
import { vfioPlatformBaseModule } from "../vfio-platform-base.js";
import { vfioPlatformRegisterReset, vfioPlatformUnregisterReset } from "../vfio-platform-common.js";
import type { VfioPlatformDevice } from "../vfio-platform-private.js";
import {
  VFIO_PLATFORM_CALXEDAXGMAC,
  vfioPlatformCalxedaxgmacModule,
} from "./vfio-platform-calxedaxgmac.js";
import {
  VFIO_PLATFORM_DMATEST,
  VFIO_PLATFORM_RESET_ALIASES,
  vfioPlatformDmatestModule,
} from "./vfio-platform-dmatest.js";

const XGMAC_CONTROL = 0x000;
const XGMAC_DMA_CONTROL = 0xf18;
const XGMAC_DMA_INTR_ENA = 0xf1c;
const DMA_TEST_CTRL_REG = 0x1c;
const DMA_TEST_STATUS_REG = 0x20;

const DEPRECATION =
  "vfio-platform c010000.ethernet: DEPRECATION: VFIO Calxeda xgmac platform reset is deprecated and will be removed in a future kernel release";

function refcnt(w: World, name: string): string {
  return w.p.readFile(`/sys/module/${name}/refcnt`);
}

/** Puts the XGMAC in a "running" state a previous owner could have left behind. */
function dirtyXgmac(w: World): void {
  const bus = w.soc.bus;
  bus.write(
    DEV.XGMAC.base + XGMAC_CONTROL,
    4,
    xgmacBits.MAC_ENABLE_TX | xgmacBits.MAC_ENABLE_RX | xgmacBits.XGMAC_CONTROL_LM,
  );
  bus.write(
    DEV.XGMAC.base + XGMAC_DMA_CONTROL,
    4,
    xgmacBits.DMA_CONTROL_ST | xgmacBits.DMA_CONTROL_SR | xgmacBits.DMA_CONTROL_OSF,
  );
  bus.write(DEV.XGMAC.base + XGMAC_DMA_INTR_ENA, 4, xgmacBits.DMA_INTR_DEFAULT_MASK);
}

function xgmacRegs(w: World) {
  const bus = w.soc.bus;
  return {
    control: bus.read(DEV.XGMAC.base + XGMAC_CONTROL, 4),
    dmaControl: bus.read(DEV.XGMAC.base + XGMAC_DMA_CONTROL, 4),
    intrEna: bus.read(DEV.XGMAC.base + XGMAC_DMA_INTR_ENA, 4),
  };
}

describe("vfio_platform_calxedaxgmac", () => {
  test("a module with the alias vfio-reset:calxeda,hb-xgmac, version 0.1, on vfio_platform_base", () => {
    expect(vfioPlatformCalxedaxgmacModule.aliases).toEqual(["vfio-reset:calxeda,hb-xgmac"]);
    const w = boot();
    w.kernel.modprobe(vfioPlatformCalxedaxgmacModule);
    expect(w.p.readFile(`/sys/module/${VFIO_PLATFORM_CALXEDAXGMAC}/version`)).toBe("0.1\n");
    expect(w.p.readdir("/sys/module/vfio_platform_base/holders")).toContain(
      VFIO_PLATFORM_CALXEDAXGMAC,
    );
    // Loading prints nothing: the deprecation waits for the first reset.
    expect(dmesgText(w.kernel).filter((l) => l.includes("DEPRECATION"))).toEqual([]);
  });

  test("probe loads it by its alias and pins it until the device is released", () => {
    const w = boot({ install: [vfioPlatformCalxedaxgmacModule] });
    expect(w.kernel.modules.isLoaded(VFIO_PLATFORM_CALXEDAXGMAC)).toBe(false);
    assign(w.p, DEV.XGMAC);
    expect(driverOf(w.p, DEV.XGMAC)).toBe("vfio-platform");
    expect(w.kernel.modules.isLoaded(VFIO_PLATFORM_CALXEDAXGMAC)).toBe(true);
    expect(refcnt(w, VFIO_PLATFORM_CALXEDAXGMAC)).toBe("1\n");
    // delete_module(): in use → EWOULDBLOCK (EAGAIN).
    expect(() => w.kernel.rmmod(VFIO_PLATFORM_CALXEDAXGMAC)).toThrowErrno("EAGAIN");
    w.p.writeFile(`/sys/bus/platform/devices/${DEV.XGMAC.name}/driver/unbind`, DEV.XGMAC.name);
    expect(refcnt(w, VFIO_PLATFORM_CALXEDAXGMAC)).toBe("0\n");
    w.kernel.rmmod(VFIO_PLATFORM_CALXEDAXGMAC);
  });

  test("reset at open: `VFIO: reset`, then the deprecation; IRQs, DMA and MAC stopped", () => {
    const w = boot({ install: [vfioPlatformCalxedaxgmacModule] });
    assign(w.p, DEV.XGMAC);
    dirtyXgmac(w);
    w.kernel.printk.clear();
    const o = openDevice(w.p, DEV.XGMAC);
    expect(dmesgText(w.kernel).filter((l) => l.startsWith("vfio-platform"))).toEqual([
      "vfio-platform c010000.ethernet: VFIO: reset",
      DEPRECATION,
    ]);
    const r = xgmacRegs(w);
    expect(r.intrEna).toBe(0);
    // Only ST/SR and TX/RX are cleared: the rest of the configuration is kept.
    expect(r.dmaControl & (xgmacBits.DMA_CONTROL_ST | xgmacBits.DMA_CONTROL_SR)).toBe(0);
    expect(r.dmaControl & xgmacBits.DMA_CONTROL_OSF).toBe(xgmacBits.DMA_CONTROL_OSF);
    expect(r.control & (xgmacBits.MAC_ENABLE_TX | xgmacBits.MAC_ENABLE_RX)).toBe(0);
    expect(r.control & xgmacBits.XGMAC_CONTROL_LM).toBe(xgmacBits.XGMAC_CONTROL_LM);
    expect(o.device.info().flags).toBe(VFIO_DEVICE_FLAGS_PLATFORM | VFIO_DEVICE_FLAGS_RESET);
    o.close();
  });

  test("VFIO_DEVICE_RESET runs the handler again; the deprecation stays printed once", () => {
    const w = boot({ install: [vfioPlatformCalxedaxgmacModule] });
    assign(w.p, DEV.XGMAC);
    const o = openDevice(w.p, DEV.XGMAC);
    dirtyXgmac(w);
    w.kernel.printk.clear();
    o.device.reset();
    expect(dmesgText(w.kernel)).toEqual(["vfio-platform c010000.ethernet: VFIO: reset"]);
    expect(xgmacRegs(w).intrEna).toBe(0);
    o.close();
    // The close resets too.
    expect(dmesgText(w.kernel).at(-1)).toBe("vfio-platform c010000.ethernet: VFIO: reset");
  });

  test("the deprecation prints again after the module is unloaded and loaded anew", () => {
    const w = boot({ install: [vfioPlatformCalxedaxgmacModule] });
    assign(w.p, DEV.XGMAC);
    openDevice(w.p, DEV.XGMAC).close();
    openDevice(w.p, DEV.XGMAC).close();
    expect(dmesgText(w.kernel).filter((l) => l === DEPRECATION)).toHaveLength(1);
    w.p.writeFile(`/sys/bus/platform/devices/${DEV.XGMAC.name}/driver/unbind`, DEV.XGMAC.name);
    w.kernel.rmmod(VFIO_PLATFORM_CALXEDAXGMAC);
    w.p.writeFile("/sys/bus/platform/drivers_probe", DEV.XGMAC.name);
    openDevice(w.p, DEV.XGMAC).close();
    expect(dmesgText(w.kernel).filter((l) => l === DEPRECATION)).toHaveLength(2);
  });

  test("ENOMEM when the reset cannot map the window: open fails, after the deprecation", () => {
    const w = boot({ install: [vfioPlatformCalxedaxgmacModule] });
    assign(w.p, DEV.XGMAC);
    w.kernel.allocator.setFailHook((site) => site === "ioremap");
    w.kernel.printk.clear();
    expect(() => openDevice(w.p, DEV.XGMAC)).toThrowErrno("ENOMEM");
    expect(dmesgText(w.kernel).filter((l) => l.startsWith("vfio-platform"))).toEqual([
      "vfio-platform c010000.ethernet: VFIO: reset",
      DEPRECATION,
      "vfio-platform c010000.ethernet: VFIO: reset driver is required and reset call failed in open (-12) ",
    ]);
    // Everything open had set up is gone: no interrupt is left requested.
    expect(w.p.readFile("/proc/interrupts")).not.toContain("vfio-irq");
    w.kernel.allocator.setFailHook(undefined);
    openDevice(w.p, DEV.XGMAC).close();
  });

  test("rmmod unregisters the handler: an XGMAC probe then fails ENOENT if modprobe cannot find it", () => {
    const w = boot();
    w.kernel.modprobe(vfioPlatformCalxedaxgmacModule);
    assign(w.p, DEV.XGMAC);
    expect(driverOf(w.p, DEV.XGMAC)).toBe("vfio-platform");
    w.p.writeFile(`/sys/bus/platform/devices/${DEV.XGMAC.name}/driver/unbind`, DEV.XGMAC.name);
    w.kernel.rmmod(VFIO_PLATFORM_CALXEDAXGMAC);
    w.kernel.printk.clear();
    w.p.writeFile("/sys/bus/platform/drivers_probe", DEV.XGMAC.name);
    expect(driverOf(w.p, DEV.XGMAC)).toBe(null);
    expect(dmesgText(w.kernel)).toEqual([
      "vfio-platform c010000.ethernet: VFIO: No reset function found for device c010000.ethernet",
      "vfio-platform c010000.ethernet: probe with driver vfio-platform failed with error -2",
    ]);
  });
});

describe("vfio_platform_dmatest (model only)", () => {
  test("loaded by vfio-reset:vfio-lab,dma-test; the reset stops the engine and acknowledges it", () => {
    const w = boot({ install: [vfioPlatformDmatestModule] });
    assign(w.p, DEV.DMA_TEST0);
    expect(w.kernel.modules.isLoaded(VFIO_PLATFORM_DMATEST)).toBe(true);
    const o = openDevice(w.p, DEV.DMA_TEST0);
    const bus = w.soc.bus;
    // A zero-length fill with IRQ_EN: completes at once (after the setup time) with DONE.
    bus.write(DEV.DMA_TEST0.base + 0x18, 4, 0);
    bus.write(
      DEV.DMA_TEST0.base + DMA_TEST_CTRL_REG,
      4,
      DMA_TEST_CTRL.START |
        DMA_TEST_CTRL.IRQ_EN |
        (DMA_TEST_CTRL.MODE_FILL << DMA_TEST_CTRL.MODE_SHIFT),
    );
    w.soc.clock.runUntilIdle();
    expect(bus.read(DEV.DMA_TEST0.base + DMA_TEST_STATUS_REG, 4) & DMA_TEST_STATUS.DONE).toBe(
      DMA_TEST_STATUS.DONE,
    );
    o.device.reset();
    expect(bus.read(DEV.DMA_TEST0.base + DMA_TEST_CTRL_REG, 4)).toBe(0);
    expect(bus.read(DEV.DMA_TEST0.base + DMA_TEST_STATUS_REG, 4)).toBe(0);
    o.close();
  });

  test("VFIO_PLATFORM_RESET_ALIASES names each reset module by the alias probe asks for", () => {
    expect(Object.keys(VFIO_PLATFORM_RESET_ALIASES)).toEqual([
      "vfio-reset:calxeda,hb-xgmac",
      "vfio-reset:vfio-lab,dma-test",
    ]);
    for (const [alias, module] of Object.entries(VFIO_PLATFORM_RESET_ALIASES)) {
      expect(module.aliases).toEqual([alias]);
    }
  });
});

describe("the reset registry", () => {
  /** A second handler for the DMA test engine, in a module of its own, counting its calls. */
  function rivalModule(calls: string[]): KernelModule<Kernel> {
    const fn = (vdev: VfioPlatformDevice) => void calls.push(vdev.platformName);
    const owner = { name: "rival_reset" };
    return defineModule({
      name: owner.name,
      dependencies: [vfioPlatformBaseModule],
      init: (kernel: Kernel) =>
        vfioPlatformRegisterReset(kernel, { compat: "vfio-lab,dma-test", owner, ofReset: fn }),
      exit: (kernel: Kernel) => vfioPlatformUnregisterReset(kernel, "vfio-lab,dma-test", fn),
    });
  }

  test("the newest registration for a compatible wins (list_add at the head)", () => {
    const calls: string[] = [];
    const w = boot();
    w.kernel.modprobe(vfioPlatformDmatestModule);
    w.kernel.modprobe(rivalModule(calls));
    assign(w.p, DEV.DMA_TEST0);
    expect(refcnt(w, "rival_reset")).toBe("1\n");
    expect(refcnt(w, VFIO_PLATFORM_DMATEST)).toBe("0\n");
    const o = openDevice(w.p, DEV.DMA_TEST0);
    expect(calls).toEqual(["c030000.dma-test"]);
    o.close();
  });

  test("unregistering removes only the node with that compatible and function", () => {
    const calls: string[] = [];
    const w = boot();
    w.kernel.modprobe(vfioPlatformDmatestModule);
    w.kernel.modprobe(rivalModule(calls));
    w.kernel.rmmod("rival_reset");
    assign(w.p, DEV.DMA_TEST0);
    expect(refcnt(w, VFIO_PLATFORM_DMATEST)).toBe("1\n");
    openDevice(w.p, DEV.DMA_TEST0).close();
    expect(calls).toEqual([]);
  });

  test("a handler already registered is used without asking modprobe", () => {
    const w = boot();
    w.kernel.modprobe(vfioPlatformDmatestModule);
    const rec = w.kernel.trace.record();
    assign(w.p, DEV.DMA_TEST0);
    rec.stop();
    const requests = rec.records.filter((r) => r.type === "module");
    expect(requests).toEqual([]);
    expect(vdevOf(w, DEV.DMA_TEST0).resetModule?.name).toBe(VFIO_PLATFORM_DMATEST);
  });

  test("without a handler, probe asks modprobe for vfio-reset:<compat> once and then gives up", () => {
    const w = boot();
    const rec = w.kernel.trace.record();
    assign(w.p, DEV.DMA_TEST0);
    rec.stop();
    const requests = rec.records.flatMap((r) =>
      r.type === "module" && "action" in r ? [`${String(r.action)} ${String(r.name)}`] : [],
    );
    expect(requests).toEqual(["request vfio-reset:vfio-lab,dma-test"]);
    expect(driverOf(w.p, DEV.DMA_TEST0)).toBe(null);
  });
});
