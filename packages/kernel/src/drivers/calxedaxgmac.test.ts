import { XGMAC_SOFT_RESET_NS } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { type BoardWorldOptions, boardWorld } from "./board-test-fixture.js";
import {
  XGMAC_BITS as B,
  DMA_RX_RING_SZ,
  DMA_TX_RING_SZ,
  XGMAC,
  xgmacNetdev,
} from "./calxedaxgmac.js";

const BASE = 0x0c01_0000;
const DEV = "c010000.ethernet";
const MAC = "local-mac-address = [02 11 22 33 44 55];";

function macWorld(opts: BoardWorldOptions = {}) {
  const w = boardWorld(opts);
  const pdev = w.platform(DEV);
  const reg = (off: number) => w.soc.bus.read(BASE + off, 4);
  return { ...w, pdev, reg, ndev: () => xgmacNetdev(pdev) };
}

/** /proc/iomem lines naming the MAC: the driver's request_mem_region() (OF platform devices
 * are not in the tree until their driver claims them). */
function claims(w: ReturnType<typeof boardWorld>): number {
  return w.core
    .iomemShow()
    .split("\n")
    .filter((l) => l.endsWith(`: ${DEV}`)).length;
}

/** The board with a MAC address in the XGMAC's node, as firmware would leave it. */
const withMac: BoardWorldOptions = {
  dts: (dts) =>
    dts.replace('compatible = "calxeda,hb-xgmac";', `compatible = "calxeda,hb-xgmac";\n${MAC}`),
};

describe("calxedaxgmac probe", () => {
  test("logs the version through the unnamed netdev and registers eth0", () => {
    const w = macWorld();
    const texts = w.kernel.printk.records().map((r) => r.text);
    const i = texts.indexOf(
      "calxedaxgmac c010000.ethernet (unnamed net_device) (uninitialized): h/w version is 0x1012",
    );
    expect(i).toBeGreaterThan(0);
    // virtLab's node has no MAC address: the register reads zero.
    expect(texts[i + 1]).toBe(
      "calxedaxgmac c010000.ethernet (unnamed net_device) (uninitialized): MAC address 00:00:00:00:00:00 not valid",
    );
    expect(w.ndev()).toMatchObject({ name: "eth0", registered: true, maxMacs: 31, running: false });
  });

  test("reads the MAC address firmware left in address register 0", () => {
    const w = macWorld(withMac);
    expect(w.ndev().macAddress).toBe("02:11:22:33:44:55");
    expect(w.kernel.printk.records().some((r) => r.text.includes("not valid"))).toBe(false);
  });

  test("requests interrupts 0 (main) and 1 (pmt) under the device's name", () => {
    const w = macWorld();
    const rows = w
      .interrupts()
      .split("\n")
      .filter((l) => l.endsWith(DEV));
    expect(rows.map((r) => r.split(/\s+/)[4])).toEqual(["153", "154"]);
    expect(w.reg(XGMAC.DMA_INTR_ENA)).toBe(0);
  });

  test("ENXIO without a pmt interrupt; the first interrupt and the region are given back", () => {
    const w = macWorld({
      dts: (dts) =>
        dts.replace(
          "interrupts = <0x0 0x79 0x4>, <0x0 0x7a 0x4>, <0x0 0x7b 0x4>;",
          "interrupts = <0x0 0x79 0x4>;",
        ),
    });
    const texts = w.kernel.printk.records().map((r) => r.text);
    expect(texts).toContain("calxedaxgmac c010000.ethernet: error -ENXIO: IRQ index 1 not found");
    expect(texts).toContain(
      "calxedaxgmac c010000.ethernet (unnamed net_device) (uninitialized): No pmt irq resource",
    );
    // really_probe(): an ENXIO probe failure is only a debug message.
    expect(texts.some((t) => t.includes("probe with driver"))).toBe(false);
    expect(w.pdev.driver).toBeNull();
    expect(w.interrupts()).not.toContain(DEV);
    expect(claims(w)).toBe(0);
  });
});

describe("eth0 up and down", () => {
  test("open(): software reset, then MAC TX|RX, DMA ST|SR and the default interrupt mask", () => {
    const w = macWorld(withMac);
    const start = w.kernel.scheduler.now;
    w.ndev().open();
    expect(w.kernel.scheduler.now - start).toBeGreaterThanOrEqual(XGMAC_SOFT_RESET_NS);
    expect(w.reg(XGMAC.CONTROL)).toBe(
      B.CONTROL_DDIC |
        B.CONTROL_JE |
        B.CONTROL_ACS |
        B.CONTROL_CAR |
        B.MAC_ENABLE_TX |
        B.MAC_ENABLE_RX,
    );
    expect(w.reg(XGMAC.DMA_CONTROL)).toBe(B.DMA_CONTROL_OSF | B.DMA_CONTROL_ST | B.DMA_CONTROL_SR);
    expect(w.reg(XGMAC.DMA_INTR_ENA)).toBe(B.DMA_INTR_DEFAULT_MASK);
    expect(w.reg(XGMAC.DMA_BUS_MODE)).toBe(
      (0x10 << 8) | (0x10 << 17) | B.DMA_BUS_MODE_FB | B.DMA_BUS_MODE_ATDS | B.DMA_BUS_MODE_AAL,
    );
    expect(w.reg(XGMAC.FLOW_CTRL)).toBe(
      B.FLOW_CTRL_RFE | B.FLOW_CTRL_TFE | B.FLOW_CTRL_PLT | B.FLOW_CTRL_UP | (0x400 << 16),
    );
    expect(w.reg(XGMAC.OMR)).toBe(B.OMR_TSF | B.OMR_RFD | B.OMR_RFA | B.OMR_RTC_256 | B.OMR_EFC);
    expect(w.reg(XGMAC.ADDR_HIGH(0))).toBe(0x5544);
    expect(w.reg(XGMAC.ADDR_LOW(0))).toBe(0x33221102);
    expect(w.ndev().running).toBe(true);
  });

  test("the descriptor rings are coherent memory behind the IOMMU", () => {
    const w = macWorld(withMac);
    w.ndev().open();
    const domain = w.iommu.iommuGetDmaDomain(w.pdev);
    const tx = w.reg(XGMAC.DMA_TX_BASE_ADDR);
    const rx = w.reg(XGMAC.DMA_RX_BASE_ADDR);
    expect(w.iommu.iommuIovaToPhys(domain, tx)).not.toBe(0);
    expect(w.iommu.iommuIovaToPhys(domain, tx + DMA_TX_RING_SZ * 32 - 1)).not.toBe(0);
    expect(w.iommu.iommuIovaToPhys(domain, rx + DMA_RX_RING_SZ * 32 - 1)).not.toBe(0);
  });

  test("the idle transmitter's TU interrupt is taken without any DMA fault", () => {
    const w = macWorld(withMac);
    w.ndev().open();
    w.mark();
    w.run();
    expect(w.ndev().stats.interrupts).toBeGreaterThan(0);
    expect(w.log().filter((l) => l.includes("F_TRANSLATION"))).toEqual([]);
    expect(w.reg(XGMAC.DMA_STATUS) & B.DMA_STATUS_TU).toBe(0);
  });

  test("an abnormal cause is logged by eth0 (transmit process stopped)", () => {
    const w = macWorld(withMac);
    w.ndev().open();
    w.run();
    w.mark();
    // Stopping the transmitter behind the driver's back raises TPS.
    w.soc.bus.write(BASE + XGMAC.DMA_CONTROL, 4, B.DMA_CONTROL_OSF | B.DMA_CONTROL_SR);
    w.run();
    expect(w.log()).toEqual(["calxedaxgmac c010000.ethernet eth0: transmit process stopped"]);
    expect(w.ndev().stats.txProcessStopped).toBe(1);
  });

  test("stop(): interrupts off, DMA and MAC stopped, rings freed", () => {
    const w = macWorld(withMac);
    w.ndev().open();
    const domain = w.iommu.iommuGetDmaDomain(w.pdev);
    const tx = w.reg(XGMAC.DMA_TX_BASE_ADDR);
    w.ndev().stop();
    expect(w.reg(XGMAC.DMA_INTR_ENA)).toBe(0);
    expect(w.reg(XGMAC.DMA_CONTROL) & (B.DMA_CONTROL_ST | B.DMA_CONTROL_SR)).toBe(0);
    expect(w.reg(XGMAC.CONTROL) & (B.MAC_ENABLE_TX | B.MAC_ENABLE_RX)).toBe(0);
    expect(w.iommu.iommuIovaToPhys(domain, tx)).toBe(0);
    expect(w.ndev().running).toBe(false);
  });

  test("an invalid address is replaced at open by a locally administered one", () => {
    const w = macWorld();
    w.ndev().open();
    expect(w.ndev().macAddress.startsWith("02:00:")).toBe(true);
    expect(w.reg(XGMAC.ADDR_LOW(0)) & 0xff).toBe(0x02);
  });
});

describe("calxedaxgmac remove", () => {
  test("takes a running eth0 down, frees the interrupts and the region; eth0 comes back", () => {
    const w = macWorld(withMac);
    w.ndev().open();
    expect(claims(w)).toBe(1);
    w.echo("/sys/bus/platform/drivers/calxedaxgmac/unbind", DEV);
    expect(w.reg(XGMAC.DMA_INTR_ENA)).toBe(0);
    expect(w.reg(XGMAC.CONTROL) & (B.MAC_ENABLE_TX | B.MAC_ENABLE_RX)).toBe(0);
    expect(w.interrupts()).not.toContain(DEV);
    expect(claims(w)).toBe(0);
    w.echo("/sys/bus/platform/drivers/calxedaxgmac/bind", DEV);
    expect(w.ndev().name).toBe("eth0");
  });

  test("ENODEV for the netdev of an unbound device", () => {
    const w = macWorld();
    w.echo("/sys/bus/platform/drivers/calxedaxgmac/unbind", DEV);
    expect(() => w.ndev()).toThrowErrno("ENODEV");
  });
});
