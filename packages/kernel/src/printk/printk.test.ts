import { describe, expect, test } from "vitest";
import { devLogger, devPrintkInfo } from "./dev-printk.js";
import { KERN_ERR, KERN_INFO, KERN_SOH, LOGLEVEL_DEFAULT } from "./levels.js";
import { PRINTKRB_RECORD_MAX, Printk, type PrintkRecord, printTime } from "./printk.js";

function log(opts: { debug?: boolean } = {}) {
  let now = 0;
  const printk = new Printk({ now: () => now, ...opts });
  return {
    printk,
    at(ns: number) {
      now = ns;
    },
  };
}

describe("printk", () => {
  test("records carry seq, level, kernel facility, the virtual time; one newline is stripped", () => {
    const { printk, at } = log();
    at(1_500_000);
    const r = printk.printk(KERN_INFO, "hello\n");
    at(2_000_000_000);
    printk.printk(KERN_ERR, "two\n\n");
    expect(printk.records().map((x) => [x.seq, x.level, x.facility, x.tsNs, x.text])).toEqual([
      [0, 6, 0, 1_500_000, "hello"],
      [1, 3, 0, 2_000_000_000, "two\n"],
    ]);
    expect(r.dict).toEqual([]);
  });

  test("a message without a level gets default_message_loglevel (KERN_WARNING)", () => {
    const { printk } = log();
    expect(printk.printk(LOGLEVEL_DEFAULT, "no level").level).toBe(4);
  });

  test("kernel messages take their level from KERN_SOH markers, which are removed", () => {
    const { printk } = log();
    expect(printk.printk(LOGLEVEL_DEFAULT, `${KERN_SOH}3oops`)).toMatchObject({
      level: 3,
      text: "oops",
    });
    // An explicit level wins over the marker; the marker is still stripped.
    expect(printk.printk(KERN_INFO, `${KERN_SOH}3x`)).toMatchObject({ level: 6, text: "x" });
    // Markers are only parsed for the kernel facility.
    expect(printk.vprintkEmit(1, 5, `${KERN_SOH}3u`).text).toBe(`${KERN_SOH}3u`);
  });

  test("text is capped at PRINTKRB_RECORD_MAX - 1 bytes before the newline is stripped", () => {
    const { printk } = log();
    const long = `${"a".repeat(PRINTKRB_RECORD_MAX - 1)}\n`;
    expect(printk.printk(KERN_INFO, long).bytes).toHaveLength(1023);
    expect(printk.printk(KERN_INFO, `${"b".repeat(1022)}\n`).text).toBe("b".repeat(1022));
    expect(printk.printk(KERN_INFO, "c".repeat(5000)).bytes).toHaveLength(1023);
  });

  test("dmesg prints [%5lu.%06lu] before every line, from the last clear on", () => {
    const { printk, at } = log();
    at(12_345);
    printk.printk(KERN_INFO, "old");
    printk.clear();
    at(3_456_789_012);
    printk.printk(KERN_INFO, "first\nsecond");
    expect(printk.dmesg()).toEqual(["[    3.456789] first", "[    3.456789] second"]);
    expect(printk.clearSeq).toBe(1);
  });

  test("print_time() pads seconds to five columns and microseconds to six digits", () => {
    expect(printTime(0)).toBe("[    0.000000]");
    expect(printTime(1_234_567_891)).toBe("[    1.234567]");
    expect(printTime(123_456_000_000_999)).toBe("[123456.000000]");
  });

  test("pr_*() add the pr_fmt prefix; pr_debug() is dropped unless debugging is on", () => {
    const quiet = log();
    const pr = quiet.printk.pr("vfio: ");
    pr.warn("something");
    pr.debug("hidden");
    expect(quiet.printk.records().map((r) => [r.level, r.text])).toEqual([[4, "vfio: something"]]);
    const loud = log({ debug: true });
    loud.printk.pr().debug("shown");
    expect(loud.printk.records().map((r) => [r.level, r.text])).toEqual([[7, "shown"]]);
  });

  test("listeners see every record until they unsubscribe", () => {
    const { printk } = log();
    const seen: PrintkRecord[] = [];
    const stop = printk.subscribe((r) => seen.push(r));
    printk.printk(KERN_INFO, "a");
    stop();
    printk.printk(KERN_INFO, "b");
    expect(seen.map((r) => r.text)).toEqual(["a"]);
  });
});

describe("dev_printk", () => {
  const pl061 = { name: "9030000.pl061", busName: "amba" };

  test("prefixes '<driver> <device>: ' and tags SUBSYSTEM and DEVICE", () => {
    const { printk } = log();
    const r = printk.devPrintk(KERN_ERR, { ...pl061, driverName: "vfio-amba" }, "probe failed\n");
    expect(r.text).toBe("vfio-amba 9030000.pl061: probe failed");
    expect(r.dict).toEqual(["SUBSYSTEM=amba", "DEVICE=+amba:9030000.pl061"]);
  });

  test("an unbound device is named after its bus, a class device after its class", () => {
    const { printk } = log();
    expect(printk.devPrintk(KERN_INFO, pl061, "x").text).toBe("amba 9030000.pl061: x");
    const misc = { name: "vfio", className: "misc", devt: { major: 10, minor: 196 } };
    const r = printk.devPrintk(KERN_INFO, misc, "x");
    expect(r.text).toBe("misc vfio: x");
    expect(r.dict).toEqual(["SUBSYSTEM=misc", "DEVICE=c10:196"]);
  });

  test("a device with neither bus nor class has no properties; a NULL device says so", () => {
    const { printk } = log();
    expect(printk.devPrintk(KERN_INFO, { name: "lonely" }, "x")).toMatchObject({
      text: " lonely: x",
      dict: [],
    });
    expect(printk.devPrintk(KERN_INFO, null, "x").text).toBe("(NULL device *): x");
  });

  test("properties are cut to the sizes of dev_printk_info's arrays", () => {
    const info = devPrintkInfo({ name: "d".repeat(60), busName: "a-very-long-bus-name" });
    expect(info?.subsystem).toBe("a-very-long-bus");
    expect(info?.device).toHaveLength(47);
    expect(
      devPrintkInfo({ name: "sda", className: "block", devt: { major: 8, minor: 0 } }),
    ).toEqual({ subsystem: "block", device: "b8:0" });
  });

  test("dev_*() helpers log at their level; dev_dbg() only when debugging", () => {
    const { printk } = log();
    const dev = devLogger(printk, { ...pl061, driverName: "pl061_gpio" });
    dev.info("ready");
    dev.dbg("detail");
    expect(printk.records().map((r) => [r.level, r.text])).toEqual([
      [6, "pl061_gpio 9030000.pl061: ready"],
    ]);
  });
});
