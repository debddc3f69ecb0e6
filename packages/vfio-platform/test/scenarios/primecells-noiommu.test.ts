/**
 * The PrimeCells behind no IOMMU — PL011 (UART), PL031 (RTC), PL061 (GPIO) and the SP804 timer
 * (design §4.3), the devices of the 2024 RFC on assigning DMA-incapable platform devices:
 *
 * - mainline refuses them: vfio-amba's probe fails with EINVAL (no IOMMU group), yet the
 *   `drivers_probe` write succeeds; `bind` reports the EINVAL; nothing appears under /dev/vfio;
 *   given back, the kernel driver binds as before (oracle-probes/pl061-vfio-amba.7.3.txt);
 * - with `vfio.enable_unsafe_noiommu_mode` written to 1 at run time, vfio-amba binds each into
 *   a fake `noiommu-N` group, tainting the kernel (U); a VMM with CAP_SYS_RAWIO opens them
 *   through a no-IOMMU container and drives them through their mmap'd registers, with their
 *   interrupt on an eventfd — where Linux allows it: the PL061's line cannot be requested after
 *   pl061_gpio left it a chained handler, so SET_IRQS fails with EINVAL as on the oracle.
 */

import { PL011_CR, PL011_INT, SP804_CTRL } from "@vfio-lab/hw-soc";
import { TAINT_USER } from "@vfio-lab/kernel";
import { VFIO_DEVICE_FLAGS_AMBA, VFIO_NOIOMMU_IOMMU } from "@vfio-lab/kernel/uapi";
import { VfioContainer, VfioGroup } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import { VFIO_AMBA } from "../../src/vfio-amba.js";
import {
  type AssignedDevice,
  assignToDriver,
  bindTo,
  bootLab,
  DEV,
  dmesgOf,
  driverOf,
  giveBack,
  interruptRows,
  type Lab,
  type LabDevice,
  ls,
  sysfsWrite,
  Vmm,
} from "./fixture.js";

const PRIMECELLS = [
  [DEV.PL061, "pl061_gpio"],
  [DEV.PL031, "rtc-pl031"],
  [DEV.PL011, "uart-pl011"],
] as const;

const DEPRECATION = (d: LabDevice) =>
  `vfio-amba ${d.name}: DEPRECATION: vfio-amba is deprecated and will be removed in a future kernel release`;
const FAILED = (d: LabDevice) =>
  `vfio-amba ${d.name}: probe with driver vfio-amba failed with error -22`;

describe("vfio-amba refuses a PrimeCell behind no IOMMU", () => {
  test("PL061: the write succeeds, the probe fails with -22 after the deprecation line", () => {
    const lab = bootLab({ modules: ["vfio_amba"] });
    let probeWrite = 0;
    const log = dmesgOf(lab.kernel, () => {
      ({ probeWrite } = assignToDriver(lab.admin, DEV.PL061, VFIO_AMBA));
    });
    expect(probeWrite).toBe(13);
    expect(log).toEqual([DEPRECATION(DEV.PL061), FAILED(DEV.PL061)]);
    expect(driverOf(lab.admin, DEV.PL061)).toBeNull();
  });

  test("bind reports the EINVAL, and the failure is logged again (no second deprecation)", () => {
    const lab = bootLab({ modules: ["vfio_amba"] });
    assignToDriver(lab.admin, DEV.PL061, VFIO_AMBA);
    const log = dmesgOf(lab.kernel, () =>
      expect(() => bindTo(lab.admin, DEV.PL061, VFIO_AMBA)).toThrowErrno("EINVAL"),
    );
    expect(log).toEqual([FAILED(DEV.PL061)]);
    expect(ls(lab.admin, "/dev/vfio")).toEqual(["vfio"]);
  });

  test.each(PRIMECELLS)("%s refused and given back to %s", (dev, kdrv) => {
    const lab = bootLab({ modules: ["vfio_amba"] });
    expect(driverOf(lab.admin, dev)).toBe(kdrv);
    const log = dmesgOf(lab.kernel, () => assignToDriver(lab.admin, dev, VFIO_AMBA));
    expect(log).toContain(FAILED(dev));
    expect(giveBack(lab.admin, dev)).toEqual({ probeWrite: dev.name.length, driver: kdrv });
    expect(lab.admin.readFile(`/sys/bus/amba/devices/${dev.name}/driver_override`)).toBe(
      "(null)\n",
    );
  });

  test("the PL061 given back registers its GPIO chip again, as on the oracle", () => {
    const lab = bootLab({ modules: ["vfio_amba"] });
    assignToDriver(lab.admin, DEV.PL061, VFIO_AMBA);
    const log = dmesgOf(lab.kernel, () => giveBack(lab.admin, DEV.PL061));
    expect(log).toEqual(["pl061_gpio 9030000.pl061: PL061 GPIO chip registered"]);
    expect(lab.admin.readFile("/proc/sys/kernel/tainted").trim()).toBe("0");
  });
});

/** A lab where the PrimeCells went to vfio-amba with no-IOMMU mode switched on at run time. */
function noiommuLab(devices: readonly LabDevice[]) {
  const lab = bootLab({ modules: ["vfio_amba"] });
  expect(sysfsWrite(lab.admin, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "1")).toBe(
    1,
  );
  const logs = devices.map((d) =>
    dmesgOf(lab.kernel, () =>
      expect(assignToDriver(lab.admin, d, VFIO_AMBA).driver).toBe(VFIO_AMBA),
    ),
  );
  return { lab, logs };
}

function open(lab: Lab, dev: LabDevice): { vmm: Vmm; dev: AssignedDevice } {
  const vmm = new Vmm(lab.vmm, "container-type1");
  return { vmm, dev: vmm.assign(dev) };
}

describe("no-IOMMU mode: vfio-amba takes them, tainting the kernel", () => {
  test("PL061: a fake group (lowest free: 3), both taint lines, tainted = 64, noiommu nodes", () => {
    const { lab, logs } = noiommuLab([DEV.PL061]);
    expect(logs[0]).toEqual([
      DEPRECATION(DEV.PL061),
      `vfio-amba ${DEV.PL061.name}: Adding to iommu group 3`,
      `vfio-amba ${DEV.PL061.name}: Adding kernel taint for vfio-noiommu group on device`,
      `vfio-amba ${DEV.PL061.name}: Adding kernel taint for vfio-noiommu cdev`,
    ]);
    expect(lab.admin.readFile("/proc/sys/kernel/tainted").trim()).toBe(String(1 << TAINT_USER));
    expect(ls(lab.admin, "/dev/vfio").sort()).toEqual(["devices", "noiommu-3", "vfio"]);
    expect(ls(lab.admin, "/dev/vfio/devices")).toEqual(["noiommu-vfio0"]);
  });

  test("the VMM needs CAP_SYS_RAWIO to open the group: EPERM without it", () => {
    const { lab } = noiommuLab([DEV.PL061]);
    const caps = lab.vmm.capget().effective.filter((c) => c !== "CAP_SYS_RAWIO");
    const user = lab.kernel.spawn({ comm: "vmm-norawio", caps });
    expect(() => VfioGroup.open(user, "noiommu-3")).toThrowErrno("EPERM");
  });

  test("open through a NOIOMMU container: no reset, `opened by user`, GET_INFO 0x8/1/1", () => {
    const { lab } = noiommuLab([DEV.PL061]);
    const container = VfioContainer.open(lab.vmm);
    const group = VfioGroup.open(lab.vmm, "noiommu-3");
    expect(group.status().viable).toBe(true);
    group.setContainer(container);
    container.setIommu(VFIO_NOIOMMU_IOMMU);
    let info = { flags: 0, numRegions: 0, numIrqs: 0 };
    const log = dmesgOf(lab.kernel, () => {
      info = group.deviceFd(DEV.PL061.name).info();
    });
    expect(log).toEqual([
      `vfio-amba ${DEV.PL061.name}: VFIO: no reset function found!`,
      `vfio-amba ${DEV.PL061.name}: vfio-noiommu device opened by user (vmm:${lab.vmm.pid})`,
    ]);
    expect(info).toMatchObject({ flags: VFIO_DEVICE_FLAGS_AMBA, numRegions: 1, numIrqs: 1 });
  });

  test("PL061: GPIOs driven through the mmap'd window, address-masked DATA as the TRM says", () => {
    const { lab } = noiommuLab([DEV.PL061]);
    const gpio = open(lab, DEV.PL061).dev.mmio(0);
    gpio.writel(0x400, 0xff); // GPIODIR: all outputs
    gpio.writel(0x3fc, 0xa5); // GPIODATA with every address-mask bit
    expect(gpio.readl(0x3fc)).toBe(0xa5);
    expect(gpio.readl(0x0f << 2)).toBe(0x05); // only lines 0..3 through the mask
    gpio.writel(0x01 << 2, 0x00); // clears line 0 alone
    expect(gpio.readl(0x3fc)).toBe(0xa4);
  });

  test("PL061: its interrupt cannot be requested after pl061_gpio — SET_IRQS EINVAL, no row", () => {
    const { lab } = noiommuLab([DEV.PL061]);
    const { dev } = open(lab, DEV.PL061);
    expect(dev.device.irqInfo(0).flags).toBe(0x7);
    expect(() => dev.wireIrq(0)).toThrowErrno("EINVAL");
    expect(interruptRows(lab.vmm, /vfio-irq/)).toEqual([]);
  });

  test("PL031: an alarm two seconds ahead arrives on the eventfd; ICR + UNMASK quiets it", () => {
    const { lab } = noiommuLab([DEV.PL031]);
    const { dev } = open(lab, DEV.PL031);
    expect(interruptRows(lab.vmm, /Level\s+vfio-irq\[\d+\]\(vfio-amba-00141031\)$/)).toHaveLength(
      1,
    );
    const rtc = dev.mmio(0);
    const irq = dev.wireIrq(0);
    const t0 = lab.soc.now;
    rtc.writel(0x04, rtc.readl(0x00) + 2); // RTCMR = RTCDR + 2
    rtc.writel(0x10, 1); // RTCIMSC
    expect(irq.wait()).toBe(1);
    expect(lab.soc.now - t0).toBeGreaterThanOrEqual(1_000_000_000);
    expect(rtc.readl(0x18)).toBe(1); // RTCMIS
    rtc.writel(0x1c, 1); // RTCICR
    irq.unmask();
    expect(irq.tryWait(1_000)).toBeNull();
  });

  test("PL031: UNMASK while the alarm still asserts fires again at once", () => {
    const { lab } = noiommuLab([DEV.PL031]);
    const { dev } = open(lab, DEV.PL031);
    const rtc = dev.mmio(0);
    const irq = dev.wireIrq(0);
    rtc.writel(0x04, rtc.readl(0x00) + 1);
    rtc.writel(0x10, 1);
    expect(irq.wait()).toBe(1);
    irq.unmask(); // not acknowledged: the level line re-fires and is automasked again
    expect(irq.tryWait(1_000)).toBe(1);
    rtc.writel(0x1c, 1);
    irq.unmask();
    expect(irq.tryWait(1_000)).toBeNull();
  });

  test("PL011: unbinding the console says so; a loop-back byte raises RX on the eventfd", () => {
    const { lab, logs } = noiommuLab([DEV.PL011]);
    expect(logs[0]![0]).toBe("printk: legacy console [ttyAMA0] disabled");
    const { dev } = open(lab, DEV.PL011);
    const uart = dev.mmio(0);
    const irq = dev.wireIrq(0, { unmask: "eventfd" });
    uart.writel(0x30, PL011_CR.UARTEN | PL011_CR.TXE | PL011_CR.RXE | PL011_CR.LBE);
    uart.writel(0x38, PL011_INT.RX | PL011_INT.RT); // UARTIMSC
    uart.writel(0x00, 0x41); // 'A' loops back into the RX FIFO
    expect(irq.wait()).toBe(1);
    expect(uart.readl(0x00) & 0xff).toBe(0x41);
    uart.writel(0x44, 0x7ff); // UARTICR
    irq.unmask();
    expect(irq.tryWait(1_000)).toBeNull();
  });

  test("SP804 (no kernel driver): a one-shot timer's interrupt arrives on the eventfd", () => {
    const { lab } = noiommuLab([DEV.SP804]);
    const { dev } = open(lab, DEV.SP804);
    const timer = dev.mmio(0);
    const irq = dev.wireIrq(0);
    const t0 = lab.soc.now;
    timer.writel(0x00, 1000); // Timer1Load: 1000 ticks of the 24 MHz apb_pclk it is fed
    timer.writel(
      0x08,
      SP804_CTRL.ENABLE | SP804_CTRL.INTEN | SP804_CTRL.SIZE32 | SP804_CTRL.ONESHOT,
    );
    expect(irq.wait()).toBe(1);
    expect(lab.soc.now - t0).toBeGreaterThanOrEqual(Math.floor((1000 * 1e9) / 24e6));
    timer.writel(0x0c, 1); // Timer1IntClr
    irq.unmask();
    expect(irq.tryWait(1_000)).toBeNull();
  });

  test("four devices, four fake groups, one container: each opened by the same VMM", () => {
    const devices = [DEV.PL061, DEV.PL031, DEV.PL011, DEV.SP804];
    const { lab } = noiommuLab(devices);
    expect(
      ls(lab.admin, "/dev/vfio")
        .filter((n) => n.startsWith("noiommu-"))
        .sort(),
    ).toEqual(["noiommu-3", "noiommu-4", "noiommu-5", "noiommu-6"]);
    const vmm = new Vmm(lab.vmm, "container-type1");
    for (const d of devices) expect(vmm.assign(d).info.flags).toBe(VFIO_DEVICE_FLAGS_AMBA);
    vmm.close();
  });
});
