/**
 * The device-assignment sequence of ARCHITECTURE.md §3, on a booted kernel through the
 * syscall facade: driver_override → unbind → drivers_probe, with the return values and log
 * lines Linux 7.3 gives.
 */

import { boards, Soc } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { Kernel } from "../kernel.js";
import { setupKernelMatchers } from "../testing/matchers.js";
import { AmbaDriver } from "./amba.js";
import { AMBA_IDS } from "./base-test-fixture.js";

setupKernelMatchers();

const DEV = "/sys/bus/amba/devices/9030000.pl061";

function boot() {
  const soc = Soc.fromDeviceTree(boards.virtLab());
  const kernel = Kernel.boot(soc);
  const core = kernel.drivers;
  // The board's pl061_gpio, unless the kernel already has it built in.
  let builtIn = false;
  core.ambaBus.forEachDrv((d) => {
    if (d.name === "pl061_gpio") builtIn = true;
    return 0;
  });
  if (!builtIn) {
    core.registerDriver(
      new AmbaDriver({
        name: "pl061_gpio",
        idTable: [AMBA_IDS.pl061, { id: 0, mask: 0 }],
        probe: () => {},
      }),
    );
  }
  // vfio-amba: binds only through driver_override; here its probe finds no IOMMU group.
  const vfioAmba = new AmbaDriver({
    name: "vfio-amba",
    idTable: [{ id: 0, mask: 0 }],
    driverManagedDma: true,
    probe: () => {
      throw new SysError("EINVAL", "vfio_platform_probe_common", "no IOMMU group");
    },
  });
  core.registerDriver(vfioAmba);
  return { kernel, core, proc: kernel.spawn({ comm: "qemu" }) };
}

const dmesgHas = (kernel: Kernel, text: string) => kernel.dmesg().some((l) => l.endsWith(text));

describe("driver_override → unbind → drivers_probe", () => {
  test("the sequence of ARCHITECTURE.md §3: every write succeeds, nothing binds, dmesg says why", () => {
    const { kernel, proc } = boot();
    expect(proc.readlink(`${DEV}/driver`)).toBe("../../../bus/amba/drivers/pl061_gpio");
    expect(proc.readFile(`${DEV}/driver_override`)).toBe("(null)\n");

    proc.writeFile(`${DEV}/driver_override`, "vfio-amba");
    expect(proc.readFile(`${DEV}/driver_override`)).toBe("vfio-amba\n");
    // Setting the override binds or unbinds nothing.
    expect(proc.readlink(`${DEV}/driver`)).toBe("../../../bus/amba/drivers/pl061_gpio");

    proc.writeFile(`${DEV}/driver/unbind`, "9030000.pl061");
    expect(() => proc.readlink(`${DEV}/driver`)).toThrowErrno("ENOENT");

    proc.writeFile("/sys/bus/amba/drivers_probe", "9030000.pl061");
    expect(
      dmesgHas(
        kernel,
        "vfio-amba 9030000.pl061: probe with driver vfio-amba failed with error -22",
      ),
    ).toBe(true);
    expect(() => proc.readlink(`${DEV}/driver`)).toThrowErrno("ENOENT");
  });

  test("the override keeps the old driver away; clearing it with a newline lets it back", () => {
    const { proc } = boot();
    proc.writeFile(`${DEV}/driver_override`, "vfio-amba\n");
    proc.writeFile(`${DEV}/driver/unbind`, "9030000.pl061\n");
    expect(() =>
      proc.writeFile("/sys/bus/amba/drivers/pl061_gpio/bind", "9030000.pl061"),
    ).toThrowErrno("ENODEV");
    proc.writeFile(`${DEV}/driver_override`, "\n");
    expect(proc.readFile(`${DEV}/driver_override`)).toBe("(null)\n");
    proc.writeFile("/sys/bus/amba/drivers_probe", "9030000.pl061\n");
    expect(proc.readlink(`${DEV}/driver`)).toBe("../../../bus/amba/drivers/pl061_gpio");
  });

  test("binding by hand: EBUSY while bound, the probe's error once free, ENODEV to unbind twice", () => {
    const { proc } = boot();
    proc.writeFile(`${DEV}/driver_override`, "vfio-amba");
    expect(() =>
      proc.writeFile("/sys/bus/amba/drivers/vfio-amba/bind", "9030000.pl061"),
    ).toThrowErrno("EBUSY");
    proc.writeFile("/sys/bus/amba/drivers/pl061_gpio/unbind", "9030000.pl061");
    expect(() =>
      proc.writeFile("/sys/bus/amba/drivers/vfio-amba/bind", "9030000.pl061"),
    ).toThrowErrno("EINVAL");
    expect(() =>
      proc.writeFile("/sys/bus/amba/drivers/pl061_gpio/unbind", "9030000.pl061"),
    ).toThrowErrno("ENODEV");
    expect(() => proc.writeFile("/sys/bus/amba/drivers_probe", "9999999.nope")).toThrowErrno(
      "ENODEV",
    );
  });

  test("a page-sized override is EINVAL at the write", () => {
    const { proc } = boot();
    expect(() => proc.writeFile(`${DEV}/driver_override`, "x".repeat(4095))).toThrowErrno("EINVAL");
    expect(proc.readFile(`${DEV}/driver_override`)).toBe("(null)\n");
  });

  test("the bus directory lists the devices and drivers as readdir shows them", () => {
    const { proc } = boot();
    // The built-in AMBA drivers of the board, the stub, and the test's vfio-amba (a real 7.3
    // shows "amba-proxy pl061_gpio uart-pl011": oracle-probes/sysfs-after-boot.7.3.txt).
    expect(proc.readdir("/sys/bus/amba/drivers").sort()).toEqual([
      ".",
      "..",
      "amba-proxy",
      "dma-pl330",
      "pl061_gpio",
      "rtc-pl031",
      "uart-pl011",
      "vfio-amba",
    ]);
    expect(proc.readdir("/sys/bus/amba/devices").sort()).toEqual([
      ".",
      "..",
      "9000000.pl011",
      "9010000.pl031",
      "9030000.pl061",
      "c000000.dma",
      "c020000.timer",
    ]);
    expect(proc.readFile(`${DEV}/id`)).toBe("00041061\n");
  });
});
