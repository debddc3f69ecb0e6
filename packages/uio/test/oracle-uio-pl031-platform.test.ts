/**
 * The model against a real Linux 7.3: replays oracle-probes/uio-pl031-platform.c — "UIO drives
 * the PL031" on the device tree where the pl031@9010000 node says only `"arm,pl031"`, so it is a
 * platform device: uio_pdrv_genirq binds it by driver_override, the RTC's alarm (MR = DR + 2,
 * IMSC = 1) is counted by a blocking read() of /dev/uio0 while time runs, a non-blocking read
 * has nothing more (EAGAIN), write(1) while the RTC still asserts fires the level interrupt
 * again at once, and after ICR it stays quiet. No eventfd anywhere.
 *
 * Differences by construction:
 * - QEMU's PL031 counts from power-on; the model's follows the TRM and counts only once CR.EN
 *   is written (hw-soc pl031.ts), so the replay sets CR.EN before arming the alarm;
 * - `usleep(10000)` is 10 ms of virtual time (the SoC clock runs);
 * - `ls /sys/bus/amba/devices` lists the board's other PrimeCells (PL330, SP804) too: compared
 *   as "no 9010000.pl031 among them".
 */

import {
  F_SETFL,
  MAP_SHARED,
  O_NONBLOCK,
  O_RDWR,
  POLLIN,
  PROT_READ,
  PROT_WRITE,
} from "@vfio-lab/kernel";
import { describe, expect, test } from "vitest";
import { uioPdrvGenirqModule } from "../src/index.js";
import { boot, le32, peek32, pl031AsPlatform } from "./fixture.js";
import { compare, OracleReplay } from "./oracle.js";

const DEV = "9010000.pl031";
const RTCDR = 0x00;
const RTCMR = 0x04;
const RTCCR = 0x0c;
const RTCIMSC = 0x10;
const RTCRIS = 0x14;
const RTCMIS = 0x18;
const RTCICR = 0x1c;

function runProbe(): OracleReplay {
  const { kernel, soc, admin: p } = boot(pl031AsPlatform());
  for (let i = 0; i < 3; i++) p.open("/dev/null", O_RDWR);
  const r = new OracleReplay(kernel, p);
  const va = p.malloc(8);
  let rtc = 0;
  const reg = (o: number) => peek32(p, rtc + o);
  const regs = (when: string) =>
    r.info(`${when}: RIS=${reg(RTCRIS)} MIS=${reg(RTCMIS)} IMSC=${reg(RTCIMSC)}`);
  const procInterrupts = () => {
    for (const line of p.readFile("/proc/interrupts").split("\n")) {
      if (!line.includes("pl031")) continue;
      const at = line.indexOf("GICv3");
      r.info(`/proc/interrupts row: ${at >= 0 ? line.slice(at) : line}`);
    }
  };
  const rd = (fd: number, why: string) =>
    r.orc(
      `read(uio, 4) ${why}`,
      () => p.read(fd, va, 4),
      (ret) => (ret === 4 ? `count=${peek32(p, va) | 0}` : null),
    );
  const pl = (fd: number, why: string) => {
    let revents = 0;
    r.orc(
      `poll(uio, POLLIN, 0) ${why}`,
      () => {
        revents = p.poll([{ fd, events: POLLIN }], 0)[0]?.revents ?? 0;
        return revents ? 1 : 0;
      },
      () => `revents=${revents === 0 ? "0" : `0x${revents.toString(16)}`}`,
    );
  };
  const usleep = (us: number) => soc.clock.run(us * 1000);

  r.kmsg();
  r.step("boot state");
  r.ls("/sys/bus/amba/devices");
  r.info(`platform ${DEV}: driver=${r.driverOf("platform", DEV)}`);
  r.showFile(`/sys/bus/platform/devices/${DEV}/modalias`);

  r.step("bind 9010000.pl031 to uio_pdrv_genirq");
  r.modprobe(uioPdrvGenirqModule, "");
  r.bind("platform", DEV, "uio_pdrv_genirq");
  r.kmsg();
  for (const f of [
    "name",
    "maps/map0/name",
    "maps/map0/addr",
    "maps/map0/size",
    "maps/map0/offset",
  ]) {
    r.showFile(`/sys/class/uio/uio0/${f}`);
  }
  procInterrupts();

  r.step("alarm");
  const fd = r.orc("open(/dev/uio0, O_RDWR)", () => p.open("/dev/uio0", O_RDWR));
  r.orc("mmap(uio, map 0)", () => {
    rtc = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return 0;
  });
  regs("before");
  p.poke(rtc + RTCCR, le32(1));
  p.poke(rtc + RTCMR, le32(reg(RTCDR) + 2));
  p.poke(rtc + RTCIMSC, le32(1));
  pl(fd, "armed");
  rd(fd, "blocking");
  regs("after the alarm");
  r.showFile("/sys/class/uio/uio0/event");
  r.orc("fcntl(uio, F_SETFL, O_NONBLOCK)", () => p.fcntl(fd, F_SETFL, O_NONBLOCK));
  rd(fd, "nonblock, nothing new");
  pl(fd, "nothing new");

  r.step("re-enable while the RTC still asserts");
  p.poke(va + 4, le32(1));
  r.orc("write(uio, 1) with RIS set", () => p.write(fd, va + 4, 4));
  usleep(10000);
  rd(fd, "nonblock after write(1)");
  r.showFile("/sys/class/uio/uio0/event");

  r.step("acknowledge, then re-enable");
  p.poke(rtc + RTCICR, le32(1));
  regs("after ICR");
  r.orc("write(uio, 1) after ICR", () => p.write(fd, va + 4, 4));
  usleep(10000);
  rd(fd, "nonblock after ICR + write(1)");
  r.showFile("/sys/class/uio/uio0/event");
  procInterrupts();
  p.poke(rtc + RTCIMSC, le32(0));
  p.munmap(rtc, 4096);
  r.orc("close(uio)", () => {
    p.close(fd);
    return 0;
  });
  r.writeFile(`/sys/bus/platform/devices/${DEV}/driver/unbind`, DEV);
  r.kmsg();
  return r;
}

describe("oracle uio-pl031-platform.c, replayed on the board's PL031-as-platform variant", () => {
  const ambaDevices = (l: string) =>
    l.startsWith("INFO ls /sys/bus/amba/devices: ")
      ? `INFO ls /sys/bus/amba/devices: ${l.includes(DEV) ? "(with the PL031)" : "(without the PL031)"}`
      : l;

  test("every line of the recorded trace is reproduced, in order", () => {
    const { got, want } = compare(runProbe(), "uio-pl031-platform.7.3.txt", ambaDevices);
    expect(got.map(ambaDevices)).toEqual(want);
  });

  test("the variant board has no AMBA PL031, and rtc-pl031 never binds it", () => {
    const { admin } = boot(pl031AsPlatform());
    expect(admin.readdir("/sys/bus/amba/devices")).not.toContain(DEV);
    expect(admin.readdir(`/sys/bus/platform/devices/${DEV}`)).not.toContain("driver");
  });
});
