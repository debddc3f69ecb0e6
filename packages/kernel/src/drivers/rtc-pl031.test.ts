import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { requestRegion } from "../base/resource.js";
import { boardWorld } from "./board-test-fixture.js";
import { formatRtcTime, PL031_REG, type Pl031Local, RTC_CR_EN } from "./rtc-pl031.js";

const BASE = 0x0901_0000;
const DEV = "9010000.pl031";
const SECOND = 1_000_000_000;

function rtcWorld() {
  const w = boardWorld();
  const adev = w.amba(DEV);
  const rtc = adev.driverData as Pl031Local;
  const reg = (off: number) => w.soc.bus.read(BASE + off, 4);
  return { ...w, adev, rtc, reg };
}

describe("rtc-pl031 probe", () => {
  test("registers rtc0 and sets the system clock from it", () => {
    const w = rtcWorld();
    const texts = w.kernel.printk.records().map((r) => r.text);
    const i = texts.indexOf("rtc-pl031 9010000.pl031: registered as rtc0");
    expect(i).toBeGreaterThan(0);
    expect(texts[i + 1]).toBe(
      "rtc-pl031 9010000.pl031: setting system clock to 1970-01-01T00:00:00 UTC (0)",
    );
    expect(w.rtc.hctosys).toBe(0);
  });

  test("starts the counter (CR.EN), which then follows virtual time", () => {
    const w = rtcWorld();
    expect(w.reg(PL031_REG.CR) & RTC_CR_EN).toBe(RTC_CR_EN);
    w.soc.clock.run(5 * SECOND);
    expect(w.rtc.readTime()).toBe(5);
  });

  test("requests its alarm interrupt as rtc-pl031", () => {
    const w = rtcWorld();
    const irq = w.adev.irq[0] as number;
    expect(w.interrupts()).toContain(
      `${String(irq).padStart(4)}:          0  GICv3      34 Level     rtc-pl031\n`,
    );
  });

  test("claims its registers as rtc-pl031 (amba_request_regions())", () => {
    const w = rtcWorld();
    expect(w.core.iomemShow()).toContain("09010000-09010fff : rtc-pl031");
  });

  test("EBUSY when the registers are claimed already, and nothing is left behind", () => {
    const w = rtcWorld();
    const irq = w.adev.irq[0] as number;
    w.echo("/sys/bus/amba/drivers/rtc-pl031/unbind", DEV);
    requestRegion(w.core.iomem, BASE, 0x1000, "squatter");
    const iomem = w.core.iomemShow();
    w.mark();
    expect(() => w.echo("/sys/bus/amba/drivers/rtc-pl031/bind", DEV)).toThrowErrno("EBUSY");
    expect(w.log()).toEqual([
      "rtc-pl031 9010000.pl031: probe with driver rtc-pl031 failed with error -16",
    ]);
    expect(w.core.iomemShow()).toBe(iomem);
    expect(w.irq.irqInfo(irq)?.actions).toEqual([]);
  });
});

describe("the RTC class operations", () => {
  test("set_time loads the counter", () => {
    const w = rtcWorld();
    w.rtc.setTime(1_700_000_000);
    w.soc.clock.run(2 * SECOND);
    expect(w.rtc.readTime()).toBe(1_700_000_002);
  });

  test("an alarm raises the interrupt, which acknowledges it", () => {
    const w = rtcWorld();
    const irq = w.adev.irq[0] as number;
    w.rtc.setAlarm(w.rtc.readTime() + 3, true);
    w.soc.clock.run(4 * SECOND);
    expect(w.rtc.alarms).toBe(1);
    expect(w.irq.irqInfo(irq)?.count).toBe(1);
    expect(w.reg(PL031_REG.RIS)).toBe(0);
  });

  test("a disabled alarm does not interrupt", () => {
    const w = rtcWorld();
    w.rtc.setAlarm(w.rtc.readTime() + 1, false);
    w.soc.clock.run(2 * SECOND);
    expect(w.rtc.alarms).toBe(0);
    expect(w.reg(PL031_REG.RIS)).toBe(1);
  });

  test("ERANGE for a time the 32-bit counter cannot hold", () => {
    const w = rtcWorld();
    expect(() => w.rtc.setTime(2 ** 32)).toThrowErrno("ERANGE");
    expect(() => w.rtc.setAlarm(-1, true)).toThrowErrno("ERANGE");
  });

  fcTest.prop([fc.integer({ min: 0, max: 0xffff_ffff })])(
    "%ptR prints the UTC date and time of a counter value",
    (s) => {
      const d = new Date(s * 1000);
      const pad = (n: number) => String(n).padStart(2, "0");
      expect(formatRtcTime(s)).toBe(
        `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
      );
    },
  );
});

describe("rtc-pl031 remove", () => {
  test("frees the interrupt and the registers; a rebind is rtc0 again", () => {
    const w = rtcWorld();
    const irq = w.adev.irq[0] as number;
    w.echo("/sys/bus/amba/drivers/rtc-pl031/unbind", DEV);
    expect(w.interrupts()).not.toContain("rtc-pl031");
    expect(w.core.iomemShow()).not.toContain("rtc-pl031");
    w.mark();
    w.echo("/sys/bus/amba/drivers/rtc-pl031/bind", DEV);
    expect(w.log()[0]).toBe("rtc-pl031 9010000.pl031: registered as rtc0");
    expect(w.irq.irqInfo(irq)?.actions).toEqual(["rtc-pl031"]);
  });
});
