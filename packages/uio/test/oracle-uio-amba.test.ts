/**
 * The model against a real Linux 7.3: replays oracle-probes/uio-amba.c — uio_pdrv_genirq is a
 * platform driver and cannot take a PrimeCell, which of_platform_populate() makes an AMBA
 * device: driver_override = uio_pdrv_genirq on 9010000.pl031 and on 9030000.pl061 (its
 * pl061_gpio driver unbound first, given back after), and `of_id=arm,pl031`. Every write
 * succeeds, nothing binds, and the kernel logs nothing but pl061_gpio's own line when it takes
 * its device back.
 *
 * Differences by construction, substituted below:
 * - the oracle's kernel has no rtc-pl031 (CONFIG_RTC_DRV_PL031 is off), the model's binds the
 *   PL031 at boot: the replay unregisters that driver first, silently;
 * - `ls /sys/bus/amba/drivers` lists the board's drivers (dma-pl330, rtc-pl031 …) where the
 *   oracle's kernel has three: compared as "no uio_pdrv_genirq among them".
 */

import { O_RDWR, O_WRONLY } from "@vfio-lab/kernel";
import { describe, expect, test } from "vitest";
import { uioPdrvGenirqModule } from "../src/index.js";
import { boot, dmesgOf } from "./fixture.js";
import { compare, OracleReplay } from "./oracle.js";

const PL031 = "9010000.pl031";
const PL061 = "9030000.pl061";

function runProbe(): OracleReplay {
  const { kernel, admin: p } = boot();
  const rtc = kernel.drivers.ambaBus.drivers.find((d) => d.name === "rtc-pl031");
  if (rtc) kernel.drivers.unregisterDriver(rtc);
  for (let i = 0; i < 3; i++) p.open("/dev/null", O_RDWR);
  const r = new OracleReplay(kernel, p);
  const state = (dev: string) => r.info(`amba ${dev}: driver=${r.driverOf("amba", dev)}`);

  r.kmsg();
  r.step("boot state");
  state(PL031);
  state(PL061);
  r.ls("/sys/bus/amba/drivers");

  r.step("load uio_pdrv_genirq");
  r.modprobe(uioPdrvGenirqModule, "");
  r.kmsg();
  r.ls("/sys/bus/amba/drivers");
  r.ls("/sys/bus/platform/drivers/uio_pdrv_genirq");

  r.step("override on 9010000.pl031");
  r.writeFile(`/sys/bus/amba/devices/${PL031}/driver_override`, "uio_pdrv_genirq");
  r.showFile(`/sys/bus/amba/devices/${PL031}/driver_override`);
  r.writeFile("/sys/bus/amba/drivers_probe", PL031);
  state(PL031);
  r.writeFile("/sys/bus/platform/drivers/uio_pdrv_genirq/bind", PL031);
  const bind = "/sys/bus/amba/drivers/uio_pdrv_genirq/bind";
  r.orc(`open("${bind}", O_WRONLY)`, () => p.open(bind, O_WRONLY));
  r.ls("/sys/class/uio");
  r.kmsg();

  r.step("override on 9030000.pl061");
  r.writeFile(`/sys/bus/amba/devices/${PL061}/driver_override`, "uio_pdrv_genirq");
  r.writeFile(`/sys/bus/amba/devices/${PL061}/driver/unbind`, PL061);
  r.writeFile("/sys/bus/amba/drivers_probe", PL061);
  state(PL061);
  r.ls("/sys/class/uio");
  r.kmsg();

  r.step("give 9030000.pl061 back");
  r.writeFile(`/sys/bus/amba/devices/${PL061}/driver_override`, "\n");
  r.writeFile("/sys/bus/amba/drivers_probe", PL061);
  state(PL061);
  r.kmsg();

  r.step("of_id=arm,pl031 on a fresh module");
  r.writeFile(`/sys/bus/amba/devices/${PL031}/driver_override`, "\n");
  r.rmmod("uio_pdrv_genirq");
  r.modprobe(uioPdrvGenirqModule, "of_id=arm,pl031");
  state(PL031);
  r.writeFile("/sys/bus/amba/drivers_probe", PL031);
  state(PL031);
  r.ls("/sys/bus/platform/drivers/uio_pdrv_genirq");
  r.ls("/sys/class/uio");
  r.kmsg();
  return r;
}

describe("oracle uio-amba.c, replayed on the board", () => {
  const ambaDrivers = (l: string) =>
    l.startsWith("INFO ls /sys/bus/amba/drivers: ")
      ? `INFO ls /sys/bus/amba/drivers: ${l.includes("uio_pdrv_genirq") ? "(with uio)" : "(without uio)"}`
      : l;

  test("every line of the recorded trace is reproduced, in order", () => {
    const { got, want } = compare(runProbe(), "uio-amba.7.3.txt", ambaDrivers);
    expect(got.map(ambaDrivers)).toEqual(want);
  });

  test("an override naming uio_pdrv_genirq leaves 9030000.pl061 unbound and logs nothing", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    const lines = dmesgOf(kernel, () => {
      admin.writeFile(`/sys/bus/amba/devices/${PL061}/driver_override`, "uio_pdrv_genirq");
      admin.writeFile(`/sys/bus/amba/devices/${PL061}/driver/unbind`, PL061);
      admin.writeFile("/sys/bus/amba/drivers_probe", PL061);
    });
    expect(lines).toEqual([]);
    expect(admin.readdir(`/sys/bus/amba/devices/${PL061}`)).not.toContain("driver");
    expect(admin.readdir("/sys/class/uio").filter((n) => !n.startsWith("."))).toEqual([]);
  });

  test("binding a PrimeCell by name through the platform driver's bind file fails ENODEV", () => {
    const { kernel, admin } = boot();
    kernel.modprobe(uioPdrvGenirqModule);
    expect(() =>
      admin.writeFile("/sys/bus/platform/drivers/uio_pdrv_genirq/bind", PL061),
    ).toThrowErrno("ENODEV");
  });
});
