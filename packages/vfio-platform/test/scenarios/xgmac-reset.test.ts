/**
 * The Calxeda XGMAC through vfio-platform with its reset module, and back (design §4.2; the
 * seed 004 example): the only board device a mainline vfio-platform reset module knows.
 *
 * - Without `vfio_platform_calxedaxgmac` installed, vfio-platform's probe finds no reset and
 *   `reset_required` (default Y) fails it with ENOENT — the `drivers_probe` write itself still
 *   succeeds. With `vfio_platform.reset_required=0` it binds, without VFIO_DEVICE_FLAGS_RESET,
 *   and VFIO_DEVICE_RESET is EINVAL.
 * - Installed, the probe loads it by its alias `vfio-reset:calxeda,hb-xgmac` (request_module
 *   inside the `drivers_probe` write) and holds a reference on it; the group is VIABLE at once
 *   (driver_managed_dma). Open resets the MAC (`VFIO: reset`, then the module's one-time
 *   DEPRECATION line); VFIO_DEVICE_RESET clears what user space set in CONTROL, DMA_CONTROL
 *   and DMA_INTR_ENA; close resets again.
 * - Given back: override cleared, unbound, drivers_probe — calxedaxgmac probes as at boot,
 *   claims the group for the DMA API (owner count 1), /dev/vfio/0 is gone, the reset module's
 *   reference is dropped, and the device can be assigned again (the module is not reloaded:
 *   it stayed loaded).
 */

import { VFIO_DEVICE_FLAGS_PLATFORM, VFIO_DEVICE_FLAGS_RESET } from "@vfio-lab/kernel/uapi";
import { VfioGroup } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import { VFIO_PLATFORM } from "../../src/vfio-platform.js";
import {
  assignToDriver,
  bootLab,
  DEV,
  dmesgOf,
  dmesgText,
  driverOf,
  giveBack,
  interruptRows,
  ls,
  unbind,
  Vmm,
} from "./fixture.js";

/** XGMAC registers (hw-soc devices/xgmac.ts; the reset module's targets). */
const XGMAC_CONTROL = 0x000;
const XGMAC_DMA_CONTROL = 0xf18;
const XGMAC_DMA_INTR_ENA = 0xf1c;
const CONTROL_TX_RX = 0x8 | 0x4;
const DMA_CONTROL_ST_SR = 0x2000 | 0x2;

const RESET_MODULE = "vfio_platform_calxedaxgmac";
const DEV_PREFIX = `vfio-platform ${DEV.XGMAC.name}: `;
const RESET_LINE = `${DEV_PREFIX}VFIO: reset`;
const RESET_DEPRECATION = `${DEV_PREFIX}DEPRECATION: VFIO Calxeda xgmac platform reset is deprecated and will be removed in a future kernel release`;

/** calxedaxgmac's lines at boot (its probe), to compare the give-back probe against. */
function calxedaLines(lines: readonly string[]): string[] {
  return lines.filter((l) => l.startsWith(`calxedaxgmac ${DEV.XGMAC.name}`));
}

describe("XGMAC without its reset module", () => {
  test("reset_required refuses: ENOENT with `No reset function found`, the write succeeds", () => {
    const lab = bootLab({ modules: ["vfio_platform"] });
    let probeWrite = 0;
    const log = dmesgOf(lab.kernel, () => {
      ({ probeWrite } = assignToDriver(lab.admin, DEV.XGMAC, VFIO_PLATFORM));
    });
    expect(probeWrite).toBe(DEV.XGMAC.name.length);
    expect(log).toEqual([
      `${DEV_PREFIX}VFIO: No reset function found for device ${DEV.XGMAC.name}`,
      `${DEV_PREFIX}probe with driver vfio-platform failed with error -2`,
    ]);
    expect(driverOf(lab.admin, DEV.XGMAC)).toBeNull();
    expect(ls(lab.admin, "/dev/vfio")).not.toContain("0");
  });

  test("reset_required=0 binds it: no RESET flag, VFIO_DEVICE_RESET is EINVAL", () => {
    const lab = bootLab({ modules: [["vfio_platform", { reset_required: false }]] });
    expect(assignToDriver(lab.admin, DEV.XGMAC, VFIO_PLATFORM).driver).toBe(VFIO_PLATFORM);
    const dev = new Vmm(lab.vmm, "container-type1").assign(DEV.XGMAC);
    expect(dev.info.flags).toBe(VFIO_DEVICE_FLAGS_PLATFORM);
    const log = dmesgOf(lab.kernel, () => expect(() => dev.reset()).toThrowErrno("EINVAL"));
    expect(log).toEqual([`${DEV_PREFIX}VFIO: no reset function found!`]);
  });
});

describe("XGMAC with vfio_platform_calxedaxgmac installed", () => {
  function lab() {
    return bootLab({ modules: ["vfio_platform"], install: [RESET_MODULE] });
  }

  test("probe loads the reset module by alias and holds it; group 0 is viable at once", () => {
    const l = lab();
    const rec = l.kernel.trace.record();
    expect(assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM).driver).toBe(VFIO_PLATFORM);
    rec.stop();
    const modules = rec.records.filter((r) => r.type === "module");
    expect(modules.map((r) => [r.action, r.name])).toEqual([
      ["request", "vfio-reset:calxeda,hb-xgmac"],
      ["load", RESET_MODULE],
    ]);
    expect(l.admin.readFile(`/sys/module/${RESET_MODULE}/refcnt`).trim()).toBe("1");
    expect(ls(l.admin, "/dev/vfio")).toContain("0");
    expect(VfioGroup.open(l.vmm, 0).status().viable).toBe(true);
  });

  test("open resets (then the module's deprecation, once); flags, region and IRQs", () => {
    const l = lab();
    assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM);
    const vmm = new Vmm(l.vmm, "container-type1");
    let dev = vmm.assign(DEV.XGMAC);
    const log = dmesgOf(l.kernel, () => {
      dev.close();
      dev = vmm.assign(DEV.XGMAC);
    });
    // The deprecation line printed at the first reset (the open above) only.
    expect(dmesgText(l.kernel).filter((x) => x === RESET_DEPRECATION)).toHaveLength(1);
    expect(log).toEqual([RESET_LINE, RESET_LINE]);
    expect(dev.info).toMatchObject({
      flags: VFIO_DEVICE_FLAGS_PLATFORM | VFIO_DEVICE_FLAGS_RESET,
      numRegions: 1,
      numIrqs: 3,
    });
    expect(dev.regionInfo(0)).toMatchObject({ flags: 0x7, size: 0x1000n, offset: 0n });
    for (let i = 0; i < 3; i++) expect(dev.device.irqInfo(i).flags).toBe(0x7);
    expect(interruptRows(l.vmm, /vfio-irq\[\d+\]\(c010000\.ethernet\)$/)).toHaveLength(3);
  });

  test("the first reset prints `VFIO: reset` and then the deprecation", () => {
    const l = lab();
    assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM);
    const log = dmesgOf(l.kernel, () => new Vmm(l.vmm, "container-type1").assign(DEV.XGMAC));
    expect(log).toEqual([RESET_LINE, RESET_DEPRECATION]);
  });

  test("VFIO_DEVICE_RESET clears CONTROL TX|RX, DMA_CONTROL ST|SR and DMA_INTR_ENA", () => {
    const l = lab();
    assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM);
    const dev = new Vmm(l.vmm, "container-type1").assign(DEV.XGMAC);
    const mac = dev.mmio(0);
    mac.writel(XGMAC_CONTROL, CONTROL_TX_RX);
    mac.writel(XGMAC_DMA_CONTROL, DMA_CONTROL_ST_SR);
    mac.writel(XGMAC_DMA_INTR_ENA, 0x1_ffff);
    expect(mac.readl(XGMAC_CONTROL) & CONTROL_TX_RX).toBe(CONTROL_TX_RX);
    const log = dmesgOf(l.kernel, () => dev.reset());
    expect(log).toEqual([RESET_LINE]);
    expect(mac.readl(XGMAC_CONTROL) & CONTROL_TX_RX).toBe(0);
    expect(mac.readl(XGMAC_DMA_CONTROL) & DMA_CONTROL_ST_SR).toBe(0);
    expect(mac.readl(XGMAC_DMA_INTR_ENA)).toBe(0);
  });

  test("rmmod of the reset module while the device is bound is refused (in use)", () => {
    const l = lab();
    assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM);
    expect(() => l.kernel.rmmod(RESET_MODULE)).toThrowErrno("EAGAIN");
    expect(l.kernel.modules.isLoaded(RESET_MODULE)).toBe(true);
  });

  test("close resets the MAC once more", () => {
    const l = lab();
    assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM);
    const vmm = new Vmm(l.vmm, "container-type1");
    const dev = vmm.assign(DEV.XGMAC);
    dev.mmio(0).writel(XGMAC_CONTROL, CONTROL_TX_RX);
    const log = dmesgOf(l.kernel, () => vmm.close());
    expect(log).toEqual([RESET_LINE]);
    expect(l.soc.bus.read(DEV.XGMAC.base + XGMAC_CONTROL, 4) & CONTROL_TX_RX).toBe(0);
  });

  test("given back to calxedaxgmac: its probe as at boot, group 0 for the DMA API, no /dev/vfio/0", () => {
    const l = lab();
    const bootLines = calxedaLines(dmesgText(l.kernel));
    expect(bootLines.length).toBeGreaterThan(0);
    assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM);
    new Vmm(l.vmm, "container-type1").assign(DEV.XGMAC).vmm.close();

    const log = dmesgOf(l.kernel, () => {
      expect(giveBack(l.admin, DEV.XGMAC)).toEqual({
        probeWrite: DEV.XGMAC.name.length,
        driver: "calxedaxgmac",
      });
    });
    expect(calxedaLines(log)).toEqual(bootLines);
    const pdev = l.kernel.drivers.findDevice("platform", DEV.XGMAC.name)!;
    expect(l.kernel.iommu.deviceGroup(pdev)?.ownerCnt).toBe(1);
    expect(() => VfioGroup.open(l.vmm, 0)).toThrowErrno("ENOENT");
    expect(l.admin.readFile(`/sys/module/${RESET_MODULE}/refcnt`).trim()).toBe("0");
    l.kernel.rmmod(RESET_MODULE);
    expect(l.kernel.modules.isLoaded(RESET_MODULE)).toBe(false);
  });

  test("re-assigned after the give-back, the reset module autoloads once more", () => {
    const l = lab();
    assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM);
    giveBack(l.admin, DEV.XGMAC);
    l.kernel.rmmod(RESET_MODULE);
    expect(assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM).driver).toBe(VFIO_PLATFORM);
    expect(l.kernel.modules.isLoaded(RESET_MODULE)).toBe(true);
    const dev = new Vmm(l.vmm, "container-type1").assign(DEV.XGMAC);
    expect(dev.info.flags).toBe(VFIO_DEVICE_FLAGS_PLATFORM | VFIO_DEVICE_FLAGS_RESET);
  });

  test("unbinding while the VMM holds the device fd would wait forever (no .request op)", () => {
    const l = lab();
    assignToDriver(l.admin, DEV.XGMAC, VFIO_PLATFORM);
    new Vmm(l.vmm, "container-type1").assign(DEV.XGMAC);
    expect(() => unbind(l.admin, DEV.XGMAC)).toThrow(/would block forever|WouldBlockForever/);
  });
});
