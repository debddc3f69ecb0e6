/**
 * drivers/rtc/rtc-pl031.c: the `rtc-pl031` AMBA driver for the ARM PrimeCell RTC, with the
 * RTC class registration it does (drivers/rtc/class.c: __devm_rtc_register_device(),
 * rtc_hctosys()).
 *
 * Probe claims the window (amba_request_regions()), maps it, starts the counter by setting
 * CR.EN (a read-modify-write: the bit is sticky once set), registers the RTC as `rtc<n>` —
 * `rtc-pl031 9010000.pl031: registered as rtc0` — and, being rtc0 (CONFIG_RTC_HCTOSYS_DEVICE),
 * sets the system clock from it: `setting system clock to 1970-01-01T00:00:00 UTC (0)`. Only
 * then is the alarm interrupt requested, as `rtc-pl031` (flags 0 for ARM's part). Remove frees
 * the interrupt and the regions.
 *
 * The RTC class operations: readTime()/setTime() (DR/LR), setAlarm() (MR, then the alarm
 * interrupt enabled or disabled as pl031_alarm_irq_enable() does), and the interrupt, which
 * acknowledges the alarm (ICR) and counts it (rtc_update_irq()).
 *
 * Caveat: no /dev/rtc0 or /sys/class/rtc, no ST variants, no wakeup IRQ (dev_pm_set_wake_irq),
 * no alarm read-back at registration; the "system clock" is only remembered (`hctosys`).
 */

import {
  type AmbaDevice,
  AmbaDriver,
  type AmbaId,
  ambaReleaseRegions,
  ambaRequestRegions,
} from "../base/amba.js";
import { devmIoremap, type IoMem } from "../base/io.js";
import { SysError } from "../errno.js";
import { IRQ_HANDLED, IRQ_NONE } from "../irq/irq-flags.js";
import { type BoardDriverEnv, drvdata } from "./board-env.js";

/** rtc-pl031.c: register offsets. */
export const PL031_REG = {
  DR: 0x00,
  MR: 0x04,
  LR: 0x08,
  CR: 0x0c,
  IMSC: 0x10,
  RIS: 0x14,
  MIS: 0x18,
  ICR: 0x1c,
} as const;
/** RTC_CR_EN: the counter enable bit. */
export const RTC_CR_EN = 1 << 0;
/** RTC_BIT_AI: the alarm interrupt bit of IMSC/RIS/MIS/ICR. */
export const RTC_BIT_AI = 1 << 0;

/** lib/vsprintf.c: `%ptR` of an rtc_time — `1970-01-01T00:00:00`. */
export function formatRtcTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19);
}

/** `struct pl031_local` with its `struct rtc_device`. */
export class Pl031Local {
  /** `rtc->id`: the n of rtc<n>. */
  readonly rtcId: number;
  /** What rtc_hctosys() set the system clock to (seconds), or null. */
  hctosys: number | null = null;
  /** Alarm interrupts handled (rtc_update_irq() calls). */
  alarms = 0;

  constructor(
    readonly adev: AmbaDevice,
    readonly base: IoMem,
    rtcId: number,
  ) {
    this.rtcId = rtcId;
  }

  /** `dev_name(&rtc->dev)` */
  get name(): string {
    return `rtc${this.rtcId}`;
  }

  /** pl031_read_time(): the counter, in seconds since the epoch. */
  readTime(): number {
    return this.base.readl(PL031_REG.DR);
  }

  /** pl031_set_time(): the counter loads at once. */
  setTime(seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffff_ffff) {
      throw new SysError("ERANGE", "rtc_valid_range", `${seconds} is out of range`);
    }
    this.base.writel(PL031_REG.LR, seconds);
  }

  /** pl031_alarm_irq_enable(): the pending alarm cleared, then AI unmasked or masked. */
  alarmIrqEnable(enabled: boolean): void {
    this.base.writel(PL031_REG.ICR, RTC_BIT_AI);
    const imsc = this.base.readl(PL031_REG.IMSC);
    this.base.writel(PL031_REG.IMSC, enabled ? imsc | RTC_BIT_AI : imsc & ~RTC_BIT_AI);
  }

  /** pl031_set_alarm(): MR, then the alarm interrupt. */
  setAlarm(seconds: number, enabled: boolean): void {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffff_ffff) {
      throw new SysError("ERANGE", "rtc_valid_range", `${seconds} is out of range`);
    }
    this.base.writel(PL031_REG.MR, seconds);
    this.alarmIrqEnable(enabled);
  }

  /** pl031_interrupt(): the alarm acknowledged and reported; anything else is not ours. */
  interrupt(): number {
    const mis = this.base.readl(PL031_REG.MIS);
    if (!(mis & RTC_BIT_AI)) return IRQ_NONE;
    this.base.writel(PL031_REG.ICR, RTC_BIT_AI);
    this.alarms++;
    return IRQ_HANDLED;
  }
}

/** rtc-pl031.c: pl031_ids[] — ARM's part (the ST variants are not on this board). */
export const PL031_IDS: readonly AmbaId[] = [
  { id: 0x00041031, mask: 0x000fffff },
  { id: 0, mask: 0 },
];

/** The `rtc-pl031` AMBA driver. */
export function pl031Driver(env: BoardDriverEnv): AmbaDriver {
  /** drivers/rtc/class.c: rtc_ida — ids of the registered RTCs. */
  const rtcIds = new Set<number>();
  return new AmbaDriver({
    name: "rtc-pl031",
    idTable: PL031_IDS,
    /** rtc-pl031.c: pl031_probe() */
    probe: (adev) => {
      ambaRequestRegions(adev);
      try {
        const base = devmIoremap(adev, adev.res.start, adev.res.size);
        if (!base) throw new SysError("ENOMEM", "pl031_probe", "devm_ioremap failed");
        base.writel(PL031_REG.CR, base.readl(PL031_REG.CR) | RTC_CR_EN);
        // devm_rtc_allocate_device(): the lowest free id, given back with the device.
        let id = 0;
        while (rtcIds.has(id)) id++;
        rtcIds.add(id);
        adev.devres.add("devm_rtc_release_device", () => rtcIds.delete(id));
        const ldata = new Pl031Local(adev, base, id);
        adev.driverData = ldata;
        // __devm_rtc_register_device()
        adev.log.info(`registered as ${ldata.name}`);
        if (ldata.name === "rtc0") {
          // rtc_hctosys() (CONFIG_RTC_HCTOSYS_DEVICE="rtc0")
          const now = ldata.readTime();
          ldata.hctosys = now;
          adev.log.info(`setting system clock to ${formatRtcTime(now)} UTC (${now})`);
        }
        const irq = adev.irq[0] ?? 0;
        if (irq) env.irq.requestIrq(irq, () => ldata.interrupt(), 0, "rtc-pl031", ldata);
      } catch (e) {
        ambaReleaseRegions(adev);
        throw e;
      }
    },
    /** rtc-pl031.c: pl031_remove() */
    remove: (adev) => {
      const ldata = drvdata(adev, Pl031Local);
      const irq = adev.irq[0] ?? 0;
      if (irq) env.irq.freeIrq(irq, ldata);
      ambaReleaseRegions(adev);
    },
  });
}
