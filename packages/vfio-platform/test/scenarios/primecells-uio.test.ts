/**
 * "UIO drives the same device without eventfd" (design §4.3, §1.11): `uio_pdrv_genirq` is a
 * platform driver, and Linux makes every `arm,primecell` node an AMBA device, so on the default
 * board it cannot take the PL031 at all — the override is accepted, `drivers_probe` succeeds,
 * nothing binds and nothing is logged (oracle-probes/uio-amba.7.3.txt). On the board variant
 * whose pl031 node lacks `arm,primecell` (a platform device, rtc-pl031 never binds) it does,
 * by driver_override or by its `of_id` parameter: `/dev/uio0`, one map, the alarm counted by a
 * blocking read(), EAGAIN without O_NONBLOCK… with, write(1) to re-enable the line — and no
 * IOMMU group, no taint, no eventfd anywhere. Also UIO on the DMA engine the SMMU refuses
 * (c031000.dma-test), a platform device on the default board.
 */

import { F_SETFL, O_NONBLOCK, O_RDWR } from "@vfio-lab/kernel";
import { UIO_PDRV_GENIRQ, UioUserDevice, uioPdrvGenirqModule } from "@vfio-lab/uio";
import { describe, expect, test } from "vitest";
import {
  asPlatform,
  assignToDriver,
  boards,
  bootLab,
  DEV,
  DmaTestUser,
  dmesgOf,
  driverOf,
  interruptRows,
  iommuGroupOf,
  ls,
  UserMmio,
} from "./fixture.js";

const PL031_PLATFORM = asPlatform(DEV.PL031);
const RTCDR = 0x00;
const RTCMR = 0x04;
const RTCCR = 0x0c;
const RTCIMSC = 0x10;
const RTCICR = 0x1c;

function uioLab(board = boards.primeCellAsPlatform(["pl031@9010000"]), ofId?: string) {
  return bootLab({
    board,
    modules: [ofId === undefined ? uioPdrvGenirqModule : [uioPdrvGenirqModule, { of_id: ofId }]],
  });
}

test("on the default board UIO cannot take the PL031: accepted, nothing binds, nothing logged", () => {
  const lab = uioLab(boards.virtLab());
  const log = dmesgOf(lab.kernel, () => {
    expect(assignToDriver(lab.admin, DEV.PL031, UIO_PDRV_GENIRQ)).toEqual({
      probeWrite: DEV.PL031.name.length,
      driver: null,
    });
  });
  expect(log).toEqual([]);
  expect(ls(lab.admin, "/dev").filter((n) => n.startsWith("uio"))).toEqual([]);
});

describe("the PL031 as a platform device (boards.primeCellAsPlatform)", () => {
  test("no AMBA device, no rtc-pl031: the node became platform device 9010000.pl031", () => {
    const lab = uioLab();
    expect(ls(lab.admin, "/sys/bus/amba/devices")).not.toContain(DEV.PL031.name);
    expect(driverOf(lab.admin, PL031_PLATFORM)).toBeNull();
  });

  test.each([
    ["driver_override", undefined],
    ["of_id=arm,pl031", "arm,pl031"],
  ])("uio_pdrv_genirq binds it by %s: /dev/uio0, one map, a row in /proc/interrupts", (_, ofId) => {
    const lab = uioLab(undefined, ofId);
    if (ofId === undefined) assignToDriver(lab.admin, PL031_PLATFORM, UIO_PDRV_GENIRQ);
    expect(driverOf(lab.admin, PL031_PLATFORM)).toBe(UIO_PDRV_GENIRQ);
    const uio = UioUserDevice.open(lab.vmm, 0);
    expect(uio.name()).toBe("pl031@9010000");
    expect(uio.maps()).toEqual([
      { index: 0, name: "pl031@9010000", addr: 0x0901_0000n, size: 0x1000n, offset: 0n },
    ]);
    expect(lab.admin.readFile("/sys/class/uio/uio0/maps/map0/addr")).toBe("0x0000000009010000\n");
    expect(interruptRows(lab.vmm, /Level\s+pl031@9010000$/)).toHaveLength(1);
    expect(iommuGroupOf(lab.admin, PL031_PLATFORM)).toBeNull();
    expect(lab.admin.readFile("/proc/sys/kernel/tainted").trim()).toBe("0");
  });

  test("the alarm: a blocking read counts it, non-blocking EAGAIN after, write(1) re-enables", () => {
    const lab = uioLab();
    assignToDriver(lab.admin, PL031_PLATFORM, UIO_PDRV_GENIRQ);
    const uio = UioUserDevice.open(lab.vmm, 0);
    const rtc = new UserMmio(lab.vmm, uio.mmapMap(0), 0x1000);
    rtc.writel(RTCCR, 1); // the model's RTC counts once enabled (rtc-pl031 never ran)
    rtc.writel(RTCMR, rtc.readl(RTCDR) + 2);
    rtc.writel(RTCIMSC, 1);
    const t0 = lab.soc.now;
    expect(uio.waitIrq()).toBe(1);
    expect(lab.soc.now - t0).toBeGreaterThanOrEqual(1_000_000_000);

    // Nothing new: a non-blocking read is EAGAIN.
    lab.vmm.fcntl(uio.fd, F_SETFL, O_RDWR | O_NONBLOCK);
    const buf = lab.vmm.malloc(4);
    expect(() => lab.vmm.read(uio.fd, buf, 4)).toThrowErrno("EAGAIN");

    // The handler disabled the line; quiet the RTC, then irqcontrol(1) enables it again.
    rtc.writel(RTCICR, 1);
    uio.irqControl(true);
    expect(uio.tryWaitIrq()).toBeNull();
  });

  test("no eventfd and no VFIO file anywhere in the VMM's descriptors", () => {
    const lab = uioLab();
    assignToDriver(lab.admin, PL031_PLATFORM, UIO_PDRV_GENIRQ);
    const uio = UioUserDevice.open(lab.vmm, 0);
    uio.mmapMap(0);
    const fds = ls(lab.vmm, `/proc/${lab.vmm.pid}/fd`);
    const targets = fds.map((fd) => lab.vmm.readlink(`/proc/${lab.vmm.pid}/fd/${fd}`));
    expect(targets).toContain("/dev/uio0");
    expect(targets.filter((t) => /eventfd|vfio/.test(t))).toEqual([]);
  });
});

test("UIO on the DMA engine the SMMU refuses: no group, no taint, its IRQ counted by read()", () => {
  const lab = bootLab({ modules: [uioPdrvGenirqModule] });
  expect(iommuGroupOf(lab.admin, DEV.DMA_TEST1)).toBeNull();
  expect(assignToDriver(lab.admin, DEV.DMA_TEST1, UIO_PDRV_GENIRQ).driver).toBe(UIO_PDRV_GENIRQ);
  const uio = UioUserDevice.open(lab.vmm, 0);
  expect(uio.maps()[0]).toMatchObject({ name: "dma-test@31000", addr: 0x0c03_1000n });
  const engine = new DmaTestUser(new UserMmio(lab.vmm, uio.mmapMap(0), 0x1000));
  // A zero-length fill completes at once without touching memory: DONE, and the level IRQ.
  engine.start({ mode: "fill", dst: 0n, len: 0 });
  expect(uio.waitIrq()).toBe(1);
  expect(engine.result().done).toBe(true);
  engine.ack();
  uio.irqControl(true);
  expect(uio.tryWaitIrq()).toBeNull();
  expect(lab.admin.readFile("/proc/sys/kernel/tainted").trim()).toBe("0");
});
