/**
 * vfio_platform_irq.c against a real Linux 7.3: replays oracle-probes/vfio-platform-irqs.c line
 * by line (oracle-replay.ts) — the edge line of a000000.virtio_mmio under vfio-platform
 * (`reset_required=0`) and the level line of the PL031 under vfio-amba, both in no-IOMMU mode:
 * GET_IRQ_INFO, the `vfio-irq[N](<vdev name>)` rows, every SET_IRQS action × data type with its
 * errno, loopback on both kinds of line, a failed trigger replacement that has already dropped
 * the old trigger, fd -1 and count-0 teardown, automasking by the RTC's alarm and UNMASK while
 * the RTC still asserts, MASK/UNMASK by eventfd, and the DEPRECATION line after vfio_amba is
 * reloaded. In the board's terms:
 *
 * - noiommu groups 3 and 4 where the oracle's are 1 and 2 (the board's SMMU made 0–2);
 * - Linux IRQ numbers differ (the board requests other lines first), so the `vfio-irq` rows
 *   are compared with the number replaced by N on both sides; the GIC hwirq, trigger type and
 *   name are compared as printed;
 * - the probe's pipe (fds 3 and 4, and "a file that is not an eventfd") is /dev/null opened
 *   twice: the model has no pipe(2), and eventfd_ctx_fdget() refuses any non-eventfd file the
 *   same way (EINVAL);
 * - the oracle's kernel does not build rtc-pl031, so its PL031 starts unbound; the board's
 *   rtc-pl031 is unbound before the step (outside the replay), so that orc_bind() takes the
 *   same path.
 *
 * Skipped: ORC 001, finit_module(iommu_amdv1) (not a module of the board).
 */

import { iommufdModule } from "@vfio-lab/iommufd";
import { EFD_NONBLOCK, MAP_SHARED, O_RDWR, POLLIN, PROT_READ, PROT_WRITE } from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_SET_IRQS,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  vfio_device_info,
  vfio_irq_info,
  vfio_irq_set,
} from "@vfio-lab/kernel/uapi";
import { vfioModule } from "@vfio-lab/vfio-core";
import { vfioAmbaModule } from "../src/vfio-amba.js";
import { vfioPlatformModule } from "../src/vfio-platform.js";
import { vfioPlatformBaseModule } from "../src/vfio-platform-base.js";
import { describeReplay, info, type Replay, startReplay, writeFile } from "./oracle-replay.js";

const VIRTIO = "a000000.virtio_mmio";
const PL031 = "9010000.pl031";
const N = VFIO_IRQ_SET_DATA_NONE;
const B = VFIO_IRQ_SET_DATA_BOOL;
const E = VFIO_IRQ_SET_DATA_EVENTFD;
const M = VFIO_IRQ_SET_ACTION_MASK;
const U = VFIO_IRQ_SET_ACTION_UNMASK;
const T = VFIO_IRQ_SET_ACTION_TRIGGER;
const MS = 1_000_000;

/** `%#x` as C prints it: 0 without a prefix. */
const hex = (n: number) => (n === 0 ? "0" : `0x${n.toString(16)}`);

/** Linux IRQ numbers out of a vfio-irq row (see the file header). */
const irqNumbersOut = (l: string) =>
  l
    .replace(/^INFO vfio-irq row: +\d+:/, "INFO vfio-irq row: N:")
    .replace(/vfio-irq\[\d+\]/, "vfio-irq[N]");

function replay(): Replay {
  const { t, kernel, p, kmsg } = startReplay("vfio-platform-irqs.7.3.txt", (l) =>
    l
      .replace("iommu group 1", "iommu group 3")
      .replace("iommu_group=1", "iommu_group=3")
      .replace("iommu group 2", "iommu group 4")
      .replace("iommu_group=2", "iommu_group=4"),
  );
  // The probe's pipe(pfd): fds 3 and 4.
  const pipeRead = p.open("/dev/null", O_RDWR);
  p.open("/dev/null", O_RDWR);
  const arg = p.malloc(4096);
  const linkName = (path: string, none: string) => {
    try {
      return p.readlink(path).split("/").pop()!;
    } catch {
      return none;
    }
  };
  const group = (bus: string, dev: string) =>
    Number(linkName(`/sys/bus/${bus}/devices/${dev}/iommu_group`, "-1"));
  const driver = (bus: string, dev: string) =>
    linkName(`/sys/bus/${bus}/devices/${dev}/driver`, "(none)");

  /** orc_bind() for an unbound device: override, drivers_probe, the INFO line. */
  const bind = (n: number, bus: string, dev: string, drv: string) => {
    const dir = `/sys/bus/${bus}/devices/${dev}`;
    t.orc(n, `write("${dir}/driver_override", "${drv}")`, () =>
      writeFile(p, `${dir}/driver_override`, drv),
    );
    t.orc(n + 1, `write("/sys/bus/${bus}/drivers_probe", "${dev}")`, () =>
      writeFile(p, `/sys/bus/${bus}/drivers_probe`, dev),
    );
    return info(`${bus} ${dev}: driver=${driver(bus, dev)} iommu_group=${group(bus, dev)}`);
  };

  const vfioIrqRows = () => {
    const rows = p
      .readFile("/proc/interrupts")
      .split("\n")
      .filter((l) => l.includes("vfio-irq["))
      .map((l) => {
        const colon = l.indexOf(":");
        return info(`vfio-irq row: ${l.slice(0, colon + 1)} ${l.slice(l.indexOf("GICv3"))}`);
      });
    return rows.length ? rows : [info("vfio-irq rows: none")];
  };

  let d = -1;
  const setIrqs = (
    n: number,
    flags: number,
    index: number,
    start: number,
    count: number,
    data: Uint8Array,
    what: string,
  ) => {
    p.poke(
      arg,
      vfio_irq_set.encode({
        argsz: vfio_irq_set.size + data.length,
        flags,
        index,
        start,
        count,
        data,
      }),
    );
    return t.orc(
      n,
      `SET_IRQS ${what} (flags=${hex(flags)} index=${index} start=${start} count=${count})`,
      () => p.ioctl(d, VFIO_DEVICE_SET_IRQS, arg),
    );
  };
  const s32 = (fd: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, fd, true);
    return b;
  };
  const none = new Uint8Array(0);
  const setFd = (n: number, action: number, fd: number, what: string) =>
    setIrqs(n, E | action, 0, 0, 1, s32(fd), what);
  const setNone = (n: number, action: number, what: string) =>
    setIrqs(n, N | action, 0, 0, 1, none, what);
  const setBool = (n: number, action: number, v: number, what: string) =>
    setIrqs(n, B | action, 0, 0, 1, Uint8Array.of(v), what);
  const drain = (n: number, efd: number, what: string) => {
    let value = 0n;
    t.call(n, `read(${what})`, () => {
      const r = p.read(efd, arg, 8);
      value = new DataView(p.peek(arg, 8).buffer).getBigUint64(0, true);
      return r;
    });
    t.end(`value=${value}`);
  };
  const waitEfd = (n: number, efd: number, ms: number, what: string) => {
    let revents = 0;
    t.call(n, `poll(${what}, ${ms} ms)`, () => {
      const r = p.poll([{ fd: efd, events: POLLIN }], ms * MS);
      revents = r[0]?.revents ?? 0;
      return r.filter((x) => x.revents !== 0).length;
    });
    t.end(`revents=${hex(revents)}`);
  };
  const signalEfd = (n: number, efd: number, what: string) => {
    p.poke(arg, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0));
    t.orc(n, `write(${what}, 1)`, () => p.write(efd, arg, 8));
  };

  /** open_dev(): group, no-IOMMU container, device fd, GET_INFO, GET_IRQ_INFO(0). */
  const openDev = (n: number, bus: string, dev: string) => {
    const path = `/dev/vfio/noiommu-${group(bus, dev)}`;
    const g = t.orc(n, "open(/dev/vfio/noiommu-N)", () => p.open(path, O_RDWR));
    const c = t.orc(n + 1, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
    p.poke(arg, s32(c));
    t.orc(n + 2, "GROUP_SET_CONTAINER", () => p.ioctl(g, VFIO_GROUP_SET_CONTAINER, arg));
    t.orc(n + 3, "SET_IOMMU(NOIOMMU)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
    p.poke(arg, new TextEncoder().encode(`${dev}\0`));
    const fd = t.orc(n + 4, `GROUP_GET_DEVICE_FD(${dev})`, () =>
      p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, arg),
    );
    p.poke(arg, vfio_device_info.encode({ argsz: vfio_device_info.size }));
    t.call(n + 5, "DEVICE_GET_INFO", () => p.ioctl(fd, VFIO_DEVICE_GET_INFO, arg));
    const di = vfio_device_info.decode(p.peek(arg, vfio_device_info.size));
    t.end(`flags=${hex(di.flags)} num_regions=${di.num_regions} num_irqs=${di.num_irqs}`);
    p.poke(arg, vfio_irq_info.encode({ argsz: vfio_irq_info.size, index: 0 }));
    t.call(n + 6, "DEVICE_GET_IRQ_INFO(0)", () => p.ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, arg));
    const ii = vfio_irq_info.decode(p.peek(arg, vfio_irq_info.size));
    t.end(`flags=${hex(ii.flags)} count=${ii.count}`);
    return { g, c, d: fd };
  };

  // --- the edge line ----------------------------------------------------------------------
  t.begin(`vfio-platform on the edge line of ${VIRTIO}`);
  t.skip([1]);
  const load = (n: number, name: string, params: string, f: () => void) =>
    t.orc(n, `finit_module(${name}, "${params}")`, () => {
      f();
      return 0;
    });
  load(2, "iommufd", "", () => kernel.modprobe(iommufdModule));
  load(3, "vfio", "enable_unsafe_noiommu_mode=1", () => {
    kernel.modprobe(vfioModule, { enable_unsafe_noiommu_mode: true });
    // modprobe(8) follows MODULE_SOFTDEP; the probe's finit_module() does not.
    if (kernel.modules.isLoaded("vfio_iommu_type1")) kernel.rmmod("vfio_iommu_type1");
  });
  load(4, "vfio_platform_base", "", () => kernel.modprobe(vfioPlatformBaseModule));
  load(5, "vfio_platform", "reset_required=0", () =>
    kernel.modprobe(vfioPlatformModule, { reset_required: false }),
  );
  t.after(5, kmsg());
  const bound1 = bind(6, "platform", VIRTIO, "vfio-platform");
  t.after(7, [bound1, ...kmsg()]);
  let o = openDev(8, "platform", VIRTIO);
  d = o.d;
  t.after(14, [...kmsg(), ...vfioIrqRows()], irqNumbersOut);
  const efd = p.eventfd(0, EFD_NONBLOCK);
  setNone(15, M, "MASK NONE on an edge line");
  setNone(16, U, "UNMASK NONE on an edge line");
  setFd(17, M, efd, "MASK EVENTFD on an edge line");
  setIrqs(18, N | M | U, 0, 0, 1, none, "MASK|UNMASK");
  setIrqs(19, N, 0, 0, 1, none, "no action");
  setIrqs(20, 0x40 | N | T, 0, 0, 1, none, "unknown flag");
  setIrqs(21, N | T, 1, 0, 1, none, "index 1");
  setIrqs(22, N | T, 0, 1, 0, none, "start 1 count 0");
  setIrqs(23, B | T, 0, 0, 0, none, "BOOL count 0");
  setIrqs(24, E | T, 0, 0, 0, none, "EVENTFD count 0");
  setNone(25, T, "loopback without a trigger");
  setFd(26, T, efd, "TRIGGER eventfd");
  t.after(26, vfioIrqRows(), irqNumbersOut);
  setNone(27, T, "loopback NONE");
  setBool(28, T, 1, "loopback BOOL 1");
  setBool(29, T, 0, "loopback BOOL 0");
  drain(30, efd, "trigger");
  setFd(31, T, pipeRead, "TRIGGER a pipe");
  setNone(32, T, "loopback after the failed replacement");
  drain(33, efd, "old trigger");
  setFd(34, T, efd, "TRIGGER eventfd again");
  setFd(35, T, 999, "TRIGGER fd 999");
  setFd(36, T, efd, "TRIGGER eventfd again");
  setFd(37, T, -1, "TRIGGER fd -1");
  setFd(38, T, -1, "TRIGGER fd -1 without a trigger");
  setNone(39, T, "loopback after -1");
  drain(40, efd, "trigger");
  setFd(41, T, efd, "TRIGGER eventfd again");
  setIrqs(42, N | T, 0, 0, 0, none, "teardown (count 0)");
  setNone(43, T, "loopback after teardown");
  drain(44, efd, "trigger");
  p.close(o.d);
  p.close(o.c);
  p.close(o.g);
  t.after(44, kmsg());

  // --- the level line ---------------------------------------------------------------------
  t.begin(`vfio-amba on the level line of ${PL031}`);
  // The oracle's kernel has no rtc-pl031: start from an unbound PL031 as it does.
  p.writeFile(`/sys/bus/amba/devices/${PL031}/driver/unbind`, PL031);
  t.kmsg();
  load(45, "vfio_amba", "", () => kernel.modprobe(vfioAmbaModule));
  const bound2 = bind(46, "amba", PL031, "vfio-amba");
  t.after(47, [bound2, ...kmsg()]);
  o = openDev(48, "amba", PL031);
  d = o.d;
  const rows = vfioIrqRows();
  const rtc = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, d, 0);
  const rd = (off: number) => new DataView(p.peek(rtc + off, 4).buffer).getUint32(0, true);
  const wr = (off: number, v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    p.poke(rtc + off, b);
  };
  t.after(54, [...kmsg(), ...rows, info("mmap region 0: ok")], irqNumbersOut);
  setIrqs(55, N | M, 0, 0, 0, none, "MASK count 0");
  setFd(56, T, efd, "TRIGGER eventfd");
  t.after(56, vfioIrqRows(), irqNumbersOut);
  setNone(57, T, "loopback NONE");
  setNone(58, T, "loopback NONE while automasked");
  drain(59, efd, "trigger");
  setBool(60, U, 0, "UNMASK BOOL 0");
  setBool(61, T, 1, "loopback BOOL 1 while still masked");
  drain(62, efd, "trigger");
  setBool(63, U, 1, "UNMASK BOOL 1");
  setNone(64, M, "MASK NONE");
  setNone(65, M, "MASK NONE again");
  setNone(66, T, "loopback while masked");
  drain(67, efd, "trigger");
  setNone(68, U, "UNMASK NONE");
  setNone(69, T, "loopback");
  drain(70, efd, "trigger");
  setNone(71, U, "UNMASK NONE");
  // PL031: DR 0x00, MR 0x04, IMSC 0x10, RIS 0x14, MIS 0x18, ICR 0x1c.
  wr(0x10, 0);
  wr(0x1c, 1);
  wr(0x04, rd(0x00) + 2);
  wr(0x10, 1);
  t.after(71, [info(`alarm set: MR - DR = ${rd(0x04) - rd(0x00)}, IMSC = ${rd(0x10)}`)]);
  waitEfd(72, efd, 4000, "trigger, alarm in 2 s");
  drain(73, efd, "trigger");
  t.after(73, [info(`RIS = ${rd(0x14)} MIS = ${rd(0x18)}`)]);
  setNone(74, U, "UNMASK while the RTC still asserts");
  waitEfd(75, efd, 1000, "trigger");
  drain(76, efd, "trigger");
  wr(0x1c, 1);
  t.after(76, [info(`after ICR: RIS = ${rd(0x14)}`)]);
  setNone(77, U, "UNMASK after ICR");
  waitEfd(78, efd, 1000, "trigger");
  const efd2 = p.eventfd(0, EFD_NONBLOCK);
  setFd(79, U, efd2, "UNMASK EVENTFD");
  setFd(80, U, efd, "UNMASK EVENTFD a second one");
  setFd(81, U, 999, "UNMASK EVENTFD fd 999");
  setFd(82, M, pipeRead, "MASK EVENTFD a pipe");
  // The probe hooks MASK to the trigger eventfd itself: from now on the virqfd swallows what
  // the interrupt signals there.
  setFd(83, M, efd, "MASK EVENTFD");
  signalEfd(84, efd, "mask eventfd");
  drain(85, efd, "mask eventfd");
  wr(0x04, rd(0x00) + 2);
  waitEfd(86, efd, 4000, "(the mask eventfd) alarm while masked");
  drain(87, efd, "mask eventfd");
  signalEfd(88, efd2, "unmask eventfd");
  drain(89, efd2, "unmask eventfd");
  waitEfd(90, efd, 1000, "trigger after the unmask eventfd");
  drain(91, efd, "trigger");
  setFd(92, M, -1, "MASK EVENTFD -1");
  setFd(93, M, -1, "MASK EVENTFD -1 again");
  setFd(94, U, -1, "UNMASK EVENTFD -1");
  wr(0x10, 0);
  wr(0x1c, 1);
  p.munmap(rtc, 4096);
  p.close(o.d);
  p.close(o.c);
  p.close(o.g);
  t.after(94, [...kmsg(), ...vfioIrqRows()]);

  // --- reload -------------------------------------------------------------------------------
  t.begin("vfio_amba reloaded: DEPRECATION again");
  const dir = `/sys/bus/amba/devices/${PL031}`;
  t.orc(95, `write("${dir}/driver/unbind", "${PL031}")`, () =>
    writeFile(p, `${dir}/driver/unbind`, PL031),
  );
  t.orc(96, 'delete_module("vfio_amba")', () => {
    kernel.rmmod("vfio_amba");
    return 0;
  });
  load(97, "vfio_amba", "", () => kernel.modprobe(vfioAmbaModule));
  t.after(97, kmsg());
  // orc_bind(): already bound to vfio-amba after the override write, so nothing more.
  t.orc(98, `write("${dir}/driver_override", "vfio-amba")`, () =>
    writeFile(p, `${dir}/driver_override`, "vfio-amba"),
  );
  t.after(98, kmsg());
  return t;
}

describeReplay("vfio-platform IRQs answer as Linux 7.3 (oracle-probes/vfio-platform-irqs)", replay);
