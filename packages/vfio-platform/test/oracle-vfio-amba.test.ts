/**
 * vfio-amba against a real Linux 7.3: replays oracle-probes/pl061-vfio-amba.c line by line —
 * the PL061 (behind no IOMMU) handed to vfio-amba without no-IOMMU mode (the DEPRECATION line
 * once, `probe with driver vfio-amba failed with error -22` for drivers_probe and again for
 * bind, which alone returns EINVAL), given back to pl061_gpio, then handed over again with
 * `enable_unsafe_noiommu_mode` written to 1 at run time: the noiommu group, the taint, the
 * legacy no-IOMMU container, `VFIO: no reset function found!` at open and close, GET_INFO
 * (AMBA, one region, one IRQ), GET_IRQ_INFO 0x7 and SET_IRQS TRIGGER refused with EINVAL
 * because pl061_gpio left its chained line IRQ_NOREQUEST — the request_irq() error kept by
 * vfio_platform_irq_init().
 *
 * Every ORC line of the recording is replayed as the line of the same number (`ORC 009 …`),
 * and every INFO/KMSG block is compared with the block Linux printed after the same ORC line
 * (oracle-replay.ts). In the
 * board's terms:
 *
 * - the noiommu group is 3 where the oracle's is 1: the board's SMMU already made groups 0–2
 *   (XGMAC, c030000.dma-test, PL330), the oracle's QEMU had only the PCI host bridge's 0;
 * - listings of /sys/bus/amba are compared for QEMU's own devices and drivers: the board adds
 *   the PL330 (c000000.dma, dma-pl330) and the SP804 (c020000.timer) and builds rtc-pl031;
 * - /proc/interrupts differs in CPUs and boot lines, so both sides are reduced to their
 *   `vfio-irq[` rows (none on either: the point of those two lines).
 *
 * Skipped: ORC 001, finit_module(iommu_amdv1) (an x86/AMD IOMMU page-table module the oracle's
 * modprobe list pulls in; the board has no such module).
 */

import { iommufdModule } from "@vfio-lab/iommufd";
import { EFD_NONBLOCK, O_RDWR } from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_SET_IRQS,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  vfio_device_info,
  vfio_group_status,
  vfio_irq_info,
  vfio_irq_set,
} from "@vfio-lab/kernel/uapi";
import { vfioModule } from "@vfio-lab/vfio-core";
import { vfioAmbaModule } from "../src/vfio-amba.js";
import { vfioPlatformBaseModule } from "../src/vfio-platform-base.js";
import { describeReplay, info, type Replay, startReplay, writeFile } from "./oracle-replay.js";

const DEV = "9030000.pl061";
const SYSDEV = `/sys/bus/amba/devices/${DEV}`;
const PARAM = "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode";
/** Board additions on the AMBA bus (see the file header). */
const BOARD_ONLY = new Set(["c000000.dma", "c020000.timer", "dma-pl330", "rtc-pl031"]);

function replay(): Replay {
  const { t, kernel, p, kmsg } = startReplay("pl061-vfio-amba.7.3.txt", (l) =>
    l
      .replaceAll("noiommu-1", "noiommu-3")
      .replace("iommu group 1", "iommu group 3")
      .replace("iommu_group=1", "iommu_group=3"),
  );
  const driverOf = () => {
    try {
      return p.readlink(`${SYSDEV}/driver`).split("/").pop()!;
    } catch {
      return "(none)";
    }
  };
  const iommuGroup = () => {
    try {
      return p.readlink(`${SYSDEV}/iommu_group`).split("/").pop()!;
    } catch {
      return "-1";
    }
  };
  const ls = (path: string) =>
    info(
      `ls ${path}: ${p
        .readdir(path)
        .filter((e) => e !== "." && e !== ".." && !BOARD_ONLY.has(e))
        .sort()
        .map((e) => `${e} `)
        .join("")}`,
    );
  const show = (path: string) =>
    info(`${path} = '${p.readFile(path).replace(/\n$/, "").replaceAll("\n", "|")}'`);
  const tainted = () => info(`tainted = ${p.readFile("/proc/sys/kernel/tainted").trim()}`);
  /** Both sides reduced to their vfio-irq rows (see the file header). */
  const vfioIrqRows = (l: string) => {
    const m = /^INFO \/proc\/interrupts = '(.*)'$/s.exec(l);
    if (!m) return l;
    const rows = m[1]!.split("|").filter((r) => r.includes("vfio-irq["));
    return `INFO /proc/interrupts vfio-irq rows: [${rows.join(", ")}]`;
  };
  const arg = p.malloc(4096);
  const bind = (first: number, withBindFile: boolean) => {
    t.orc(first, `write("${SYSDEV}/driver_override", "vfio-amba")`, () =>
      writeFile(p, `${SYSDEV}/driver_override`, "vfio-amba"),
    );
    t.orc(first + 1, `write("${SYSDEV}/driver/unbind", "${DEV}")`, () =>
      writeFile(p, `${SYSDEV}/driver/unbind`, DEV),
    );
    t.orc(first + 2, `write("/sys/bus/amba/drivers_probe", "${DEV}")`, () =>
      writeFile(p, "/sys/bus/amba/drivers_probe", DEV),
    );
    if (withBindFile) {
      t.orc(first + 3, `write("/sys/bus/amba/drivers/vfio-amba/bind", "${DEV}")`, () =>
        writeFile(p, "/sys/bus/amba/drivers/vfio-amba/bind", DEV),
      );
    }
    return first + (withBindFile ? 3 : 2);
  };

  t.begin("boot state");
  t.after("boot state", [
    info(`amba ${DEV}: driver=${driverOf()} iommu_group=${iommuGroup()}`),
    ls("/sys/bus/amba/devices"),
    ls("/sys/bus/amba/drivers"),
    show(`${SYSDEV}/driver_override`),
    show(`${SYSDEV}/id`),
    tainted(),
  ]);
  kmsg();

  t.begin("vfio-amba without no-IOMMU mode");
  t.skip([1]);
  const load = (n: number, name: string, f: () => void) =>
    t.orc(n, `finit_module(${name}, "")`, () => {
      f();
      return 0;
    });
  load(2, "iommufd", () => kernel.modprobe(iommufdModule));
  load(3, "vfio", () => {
    kernel.modprobe(vfioModule);
    // modprobe(8) follows MODULE_SOFTDEP; the probe's finit_module() does not.
    if (kernel.modules.isLoaded("vfio_iommu_type1")) kernel.rmmod("vfio_iommu_type1");
  });
  load(4, "vfio_platform_base", () => kernel.modprobe(vfioPlatformBaseModule));
  load(5, "vfio_amba", () => kernel.modprobe(vfioAmbaModule));
  t.after(5, kmsg());
  const last = bind(6, true);
  t.after(last, [
    info(`amba ${DEV}: driver=${driverOf()} iommu_group=${iommuGroup()}`),
    ...kmsg(),
    ls("/dev/vfio"),
    show(`${SYSDEV}/driver_override`),
  ]);
  // The recording lost this line's result with its newline; Linux's write returns the count.
  const cleared = t.orc(10, `write("${SYSDEV}/driver_override", "\n")`, () =>
    writeFile(p, `${SYSDEV}/driver_override`, "\n"),
  );
  if (cleared !== 1) throw new Error(`clearing driver_override returned ${cleared}`);
  t.after(10, [show(`${SYSDEV}/driver_override`)]);

  t.begin("give it back to pl061_gpio");
  t.orc(11, `write("/sys/bus/amba/drivers_probe", "${DEV}")`, () =>
    writeFile(p, "/sys/bus/amba/drivers_probe", DEV),
  );
  t.after(11, [info(`driver=${driverOf()}`), ...kmsg()]);

  t.begin("vfio-amba with enable_unsafe_noiommu_mode");
  t.orc(12, `write("${PARAM}", "1")`, () => writeFile(p, PARAM, "1"));
  bind(13, false);
  t.after(15, [
    info(`amba ${DEV}: driver=${driverOf()} iommu_group=${iommuGroup()}`),
    ...kmsg(),
    ls("/dev/vfio"),
    tainted(),
  ]);
  const gpath = `/dev/vfio/noiommu-${iommuGroup()}`;
  const g = t.orc(16, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  p.poke(arg, vfio_group_status.encode({ argsz: vfio_group_status.size, flags: 0 }));
  t.call(17, "ioctl(group, VFIO_GROUP_GET_STATUS)", () => p.ioctl(g, VFIO_GROUP_GET_STATUS, arg));
  t.end(
    `flags=0x${vfio_group_status.decode(p.peek(arg, vfio_group_status.size)).flags.toString(16)}`,
  );
  const c = t.orc(18, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
  p.poke(arg, Uint8Array.of(c, 0, 0, 0));
  t.orc(19, "ioctl(group, VFIO_GROUP_SET_CONTAINER)", () =>
    p.ioctl(g, VFIO_GROUP_SET_CONTAINER, arg),
  );
  t.orc(20, "ioctl(container, VFIO_SET_IOMMU, NOIOMMU)", () =>
    p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU),
  );
  p.poke(arg, new TextEncoder().encode(`${DEV}\0`));
  const d = t.orc(21, "ioctl(group, VFIO_GROUP_GET_DEVICE_FD)", () =>
    p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, arg),
  );
  t.after(21, kmsg());
  p.poke(arg, vfio_device_info.encode({ argsz: vfio_device_info.size }));
  t.call(22, "ioctl(dev, VFIO_DEVICE_GET_INFO)", () => p.ioctl(d, VFIO_DEVICE_GET_INFO, arg));
  const di = vfio_device_info.decode(p.peek(arg, vfio_device_info.size));
  t.end(`flags=0x${di.flags.toString(16)} num_regions=${di.num_regions} num_irqs=${di.num_irqs}`);
  p.poke(arg, vfio_irq_info.encode({ argsz: vfio_irq_info.size, index: 0 }));
  t.call(23, "ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, 0)", () =>
    p.ioctl(d, VFIO_DEVICE_GET_IRQ_INFO, arg),
  );
  const ii = vfio_irq_info.decode(p.peek(arg, vfio_irq_info.size));
  t.end(`flags=0x${ii.flags.toString(16)} count=${ii.count}`);
  t.after(23, [show("/proc/interrupts")], vfioIrqRows);
  const efd = p.eventfd(0, EFD_NONBLOCK);
  const set = vfio_irq_set.encode({
    argsz: vfio_irq_set.size + 4,
    flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
    index: 0,
    start: 0,
    count: 1,
    data: Uint8Array.of(efd, 0, 0, 0),
  });
  p.poke(arg, set);
  t.orc(24, "ioctl(dev, VFIO_DEVICE_SET_IRQS, TRIGGER eventfd)", () =>
    p.ioctl(d, VFIO_DEVICE_SET_IRQS, arg),
  );
  const mid = kmsg();
  const irqs = show("/proc/interrupts");
  p.close(d);
  p.close(c);
  p.close(g);
  t.after(24, [...mid, irqs, ...kmsg()], vfioIrqRows);
  return t;
}

describeReplay("vfio-amba answers as Linux 7.3 (oracle-probes/pl061-vfio-amba)", replay);
