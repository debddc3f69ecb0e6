/**
 * The model against a real Linux 7.3: replays oracle-probes/vfio-container-group.c — the legacy
 * container (/dev/vfio/vfio, container.c) and the group (/dev/vfio/N, group.c) state machines —
 * with c030000.dma-test (IOMMU group 1, as edu's was) bound to core-fixture.ts's minimal
 * `vfio-core-test` driver in place of the edu device under vfio-pci, and compares every line
 * whose answer does not depend on PCI with the recorded one
 * (oracle-probes/vfio-container-group.7.3.txt, by ORC number).
 *
 * Skipped, because their answer is vfio-pci's or PCI's:
 * - ORC 022–024 (finit_module of irqbypass, vfio_pci_core, vfio_pci) and 001 (iommu_amdv1): the
 *   board's bus driver is the test's `vfio-core-test`; 025–026, 131, 133–134 (driver_override,
 *   drivers_probe and unbind under /sys/bus/pci): done through /sys/bus/platform instead.
 * - ORC 046, 048, 049, 105 (a name with a trailing space, " foo", " vf_token=…"): vfio-pci's
 *   `match` parses the VF token; a driver without `match` compares dev_name() (ENODEV).
 * - The written-back fields of DEVICE_GET_INFO (066, 113): the edu device's regions and IRQs.
 * - KMSG "VF token incorrectly provided" and "enabling device (0000 -> 0002)": vfio-pci's.
 * - INFO lines about PCI (driver=vfio-pci, the host bridge's group 0), the fdinfo contents
 *   (`show_fdinfo` is not modelled), and allow_unsafe_interrupts reading 'N': QEMU's GICv3 ITS
 *   isolates MSI, the board has nothing that does, so the replay loads type1 with
 *   allow_unsafe_interrupts=1 (iommufd too) to get the same answers (see the unsafe-interrupts
 *   replay for the refusals). The sysfs paths of the device are the platform device's, the
 *   dynamic majors and the misc minor of /dev/iommu the board's (see pciToPlatform below).
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import {
  _IO,
  encodeScalar,
  F_GETFD,
  F_GETFL,
  O_RDONLY,
  O_RDWR,
  s32,
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_GET_INFO,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_IOMMU_ENABLE,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_SET_IOMMU,
  VFIO_TYPE,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_device_info,
  vfio_iommu_type1_info,
} from "@vfio-lab/kernel";
import { describe, expect } from "vitest";
import { vfioIommuType1Module, vfioModule } from "../src/vfio-modules.js";
import {
  bindTest,
  coreSetup,
  coreTestDriver,
  DMAT0,
  sysfsIommuGroupGet,
  UNSAFE_INTERRUPTS,
} from "./core-fixture.js";
import {
  boardMajors,
  describeReplay,
  hex,
  hexdump,
  info,
  ls,
  ProbeCalls,
  type Replay,
  showFile,
  showLink,
  startReplay,
  statNode,
} from "./oracle-vfio-replay.js";

const DEV = DMAT0.name;
const SYSDEV = `/sys/bus/platform/devices/${DEV}`;
/** Where the device sits in /sys/devices: below the board's platform bus node. */
const DEVPATH = `platform/platform-bus@c000000/${DEV}`;

function replay(): Replay {
  const { t, kernel, p } = startReplay("vfio-container-group.7.3.txt", {
    cmdline: UNSAFE_INTERRUPTS,
  });
  const sb = p.malloc(PAGE_SIZE);
  const big = p.malloc(2 * PAGE_SIZE);
  const enc = new TextEncoder();
  const io = new ProbeCalls(t, p, sb, big);
  const group = sysfsIommuGroupGet(p, DMAT0);
  const gpath = `/dev/vfio/${group}`;
  const status = (n: number, g: number, argsz: number) => {
    p.poke(sb, new Uint8Array(64).fill(0xaa));
    p.poke(sb, encodeScalar(s32, argsz));
    t.call(n, `GROUP_GET_STATUS(argsz=${argsz})`, () => p.ioctl(g, VFIO_GROUP_GET_STATUS, sb));
    const b = p.peek(sb, 16);
    t.end(`flags=${hex(new DataView(b.buffer, b.byteOffset).getUint32(4, true))}`);
    t.after(n, hexdump("status", b));
  };
  const setContainer = (n: number, g: number, fd: number, what: string) =>
    io.setContainer(n, g, fd, `GROUP_SET_CONTAINER(${what} fd=${fd})`);
  const getDevice = (n: number, g: number, name: string, what: string) =>
    io.getDeviceFd(n, g, name, `GROUP_GET_DEVICE_FD(${what})`);
  const deviceInfo = (n: number, d: number, desc: string) => {
    p.poke(sb, vfio_device_info.encode({ argsz: vfio_device_info.size }));
    t.orcResult(n, desc, () => p.ioctl(d, VFIO_DEVICE_GET_INFO, sb));
  };

  t.begin("boot state");
  t.after("boot state", [ls(p, "/dev/vfio")], (l) => l.startsWith("INFO ls /dev/vfio"));

  t.begin("load vfio only: container without any IOMMU backend");
  t.skip([1], "iommu_amdv1: no AMD IOMMU page-table module on the board");
  t.orc(2, 'finit_module(iommufd, "")', () => {
    kernel.modprobe(iommufdModule);
    return 0;
  });
  t.orc(3, 'finit_module(vfio, "")', () => {
    kernel.modprobe(vfioModule);
    // modprobe(8) follows vfio's soft dependency; finit_module() alone loads no backend.
    kernel.rmmod("vfio_iommu_type1");
    return 0;
  });
  t.after(3, [
    ...t.kmsg(),
    ls(p, "/dev/vfio"),
    statNode(p, "/dev/vfio/vfio"),
    ls(p, "/sys/class/vfio"),
    ls(p, "/sys/class/vfio-dev"),
    ls(p, "/sys/module/vfio/parameters"),
    showFile(p, "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"),
  ]);
  const c = t.orc(4, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
  const c2 = t.orc(5, "open(/dev/vfio/vfio) again", () => p.open("/dev/vfio/vfio", O_RDWR));
  t.orc(6, "GET_API_VERSION", () => p.ioctl(c, VFIO_GET_API_VERSION));
  t.after(6, [io.checks(c, "no backend, no group")]);
  t.orc(7, "SET_IOMMU(TYPE1v2) no backend, no group", () =>
    p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
  );
  t.orc(8, "IOMMU_GET_INFO no backend", () => p.ioctl(c, VFIO_IOMMU_GET_INFO, sb));

  t.begin("load vfio_iommu_type1");
  t.orc(9, 'finit_module(vfio_iommu_type1, "")', () => {
    kernel.modprobe(vfioIommuType1Module);
    return 0;
  });
  t.after(
    9,
    [
      ls(p, "/sys/module/vfio_iommu_type1/parameters"),
      showFile(p, "/sys/module/vfio_iommu_type1/parameters/disable_hugepages"),
      showFile(p, "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit"),
      io.checks(c, "type1 loaded, no group"),
    ],
    (l) => !l.includes("allow_unsafe_interrupts ="),
  );
  for (const [i, type] of [1, 3, 6, 2, 8, 99, 0].entries()) {
    t.orc(10 + i, `SET_IOMMU(${type}) before any group`, () => p.ioctl(c, VFIO_SET_IOMMU, type));
  }
  t.orc(17, "container IOMMU_GET_INFO before SET_IOMMU", () => p.ioctl(c, VFIO_IOMMU_GET_INFO, sb));
  t.orc(18, "container IOMMU_MAP_DMA before SET_IOMMU", () => p.ioctl(c, VFIO_IOMMU_MAP_DMA, sb));
  t.orc(19, "container GROUP_GET_STATUS (nr 103)", () => p.ioctl(c, VFIO_GROUP_GET_STATUS, sb));
  t.orc(20, "container _IO(';', 130) before SET_IOMMU", () => p.ioctl(c, _IO(VFIO_TYPE, 130)));
  t.orc(21, "container ioctl 0x1234 before SET_IOMMU", () => p.ioctl(c, 0x1234));

  t.begin("vfio-pci takes the edu device");
  t.skip([22, 23, 24], "vfio-pci's modules: the board's bus driver is the test's vfio-core-test");
  t.skip([25, 26], "binds through /sys/bus/pci: the replay binds through /sys/bus/platform");
  kernel.drivers.registerDriver(coreTestDriver(kernel));
  bindTest({ p }, DMAT0);
  t.kmsg();
  const procLines = (path: string) => p.readFile(path).replace(/\n$/, "").split("\n");
  /**
   * The oracle's lines with the board's names: the platform device's path (one directory less
   * deep than edu's below its PCI host bridge), the dynamic majors the board hands out, and the
   * first dynamic misc minor for /dev/iommu (256: the oracle's vga_arbiter took it there).
   */
  const pciToPlatform = (l: string) =>
    boardMajors(
      l
        .replaceAll("/sys/bus/pci/devices/0000:00:01.0", SYSDEV)
        .replace("platform/4010000000.pcie/pci0000:00/0000:00:01.0", DEVPATH)
        .replace("../../../../../../../class", "../../../../../../class")
        .replace("= ../../../0000:00:01.0", `= ../../../${DEV}`),
    )
      .replace("257 iommu", "256 iommu")
      .replace(/^(INFO \/proc\/(devices|misc) = ')(.*)'$/, (_, head: string, _f, body: string) => {
        const vfio = body.split("|").filter((e) => /vfio|iommu/.test(e));
        return `${head}${vfio.join("|")}'`;
      });
  t.after(
    26,
    [
      ls(p, "/dev/vfio"),
      ls(p, "/dev/vfio/devices"),
      statNode(p, gpath),
      statNode(p, "/dev/vfio/devices/vfio0"),
      ls(p, "/sys/class/vfio"),
      showLink(p, `/sys/class/vfio/${group}`),
      ls(p, `/sys/class/vfio/${group}`),
      showFile(p, `/sys/class/vfio/${group}/dev`),
      showFile(p, `/sys/class/vfio/${group}/uevent`),
      ls(p, `${SYSDEV}/vfio-dev`),
      ls(p, `${SYSDEV}/vfio-dev/vfio0`),
      ls(p, "/sys/class/vfio-dev"),
      showLink(p, "/sys/class/vfio-dev/vfio0"),
      showFile(p, "/sys/class/vfio-dev/vfio0/dev"),
      showFile(p, "/sys/class/vfio-dev/vfio0/uevent"),
      showLink(p, "/sys/class/vfio-dev/vfio0/device"),
      showLink(p, "/sys/class/vfio-dev/vfio0/subsystem"),
      `INFO /proc/devices = '${procLines("/proc/devices")
        .filter((e) => /vfio/.test(e))
        .join("|")}'`,
      `INFO /proc/misc = '${procLines("/proc/misc")
        .filter((e) => /vfio|iommu/.test(e))
        .join("|")}'`,
    ],
    (l) => !l.startsWith("INFO pci "),
    pciToPlatform,
  );

  t.begin("group open");
  let g = t.orc(27, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  t.orc(28, `open(${gpath}) again`, () => p.open(gpath, O_RDWR));
  t.orc(29, `open(${gpath}, O_RDONLY) again`, () => p.open(gpath, O_RDONLY));
  status(30, g, 0);
  status(31, g, 7);
  status(32, g, 8);
  status(33, g, 16);
  t.orc(34, "GROUP_GET_STATUS(NULL)", () => p.ioctl(g, VFIO_GROUP_GET_STATUS, 0));

  t.begin("group unknown ioctls");
  t.orc(35, "group GET_API_VERSION", () => p.ioctl(g, VFIO_GET_API_VERSION));
  t.orc(36, "group CHECK_EXTENSION(1)", () => p.ioctl(g, VFIO_CHECK_EXTENSION, 1));
  t.orc(37, "group DEVICE_GET_INFO", () => p.ioctl(g, VFIO_DEVICE_GET_INFO, sb));
  t.orc(38, "group ioctl 0x1234", () => p.ioctl(g, 0x1234));

  t.begin("GET_DEVICE_FD before SET_CONTAINER");
  getDevice(39, g, DEV, "bdf");
  getDevice(40, g, "nope", '"nope"');
  getDevice(41, g, "", '""');
  t.orc(42, "GROUP_GET_DEVICE_FD(NULL)", () => p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, 0));
  getDevice(43, g, "a".repeat(4095), "4095 x 'a'");
  getDevice(44, g, "a".repeat(4096), "4096 x 'a'");
  getDevice(45, g, "a".repeat(5000), "5000 x 'a'");
  t.skip([46, 48, 49], "vfio-pci's match (trailing spaces, VF token): no match op on the board");
  getDevice(47, g, `${DEV}x`, "bdf + 'x'");
  getDevice(50, g, DEV.slice(5), "bdf without domain");
  t.kmsg();

  t.begin("SET_CONTAINER errors");
  t.orc(51, "GROUP_SET_CONTAINER(NULL)", () => p.ioctl(g, VFIO_GROUP_SET_CONTAINER, 0));
  setContainer(52, g, -1, "-1");
  setContainer(53, g, 999, "999 (not open)");
  const efd = p.eventfd(0, 0);
  setContainer(54, g, efd, "eventfd");
  const nul = p.open("/dev/null", O_RDWR);
  setContainer(55, g, nul, "/dev/null");
  setContainer(56, g, g, "the group itself");
  t.orc(57, "GROUP_UNSET_CONTAINER without container", () =>
    p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER),
  );
  status(58, g, 8);

  t.begin("SET_CONTAINER with /dev/iommu (iommufd compat)");
  const ifd = t.orc(59, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));
  setContainer(60, g, ifd, "iommufd");
  status(61, g, 8);
  setContainer(62, g, ifd, "iommufd again");
  setContainer(63, g, c, "container while iommufd set");
  t.after(63, [io.checks(ifd, "on the iommufd")]);
  let d = getDevice(64, g, DEV, "bdf via iommufd");
  t.kmsg();
  const d2a = getDevice(65, g, DEV, "bdf via iommufd, second");
  deviceInfo(66, d, "DEVICE_GET_INFO");
  p.poke(
    sb,
    vfio_device_bind_iommufd.encode({ argsz: vfio_device_bind_iommufd.size, iommufd: ifd }),
  );
  t.orc(67, "DEVICE_BIND_IOMMUFD on a group-obtained fd", () =>
    p.ioctl(d, VFIO_DEVICE_BIND_IOMMUFD, sb),
  );
  p.poke(
    sb,
    vfio_device_attach_iommufd_pt.encode({ argsz: vfio_device_attach_iommufd_pt.size, pt_id: 1 }),
  );
  t.orc(68, "DEVICE_ATTACH_IOMMUFD_PT on a group-obtained fd", () =>
    p.ioctl(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, sb),
  );
  io.detachPt(69, d, "DEVICE_DETACH_IOMMUFD_PT on a group-obtained fd");
  t.orc(70, "GROUP_UNSET_CONTAINER (iommufd) with device fds open", () =>
    p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER),
  );
  status(71, g, 8);
  p.poke(big, enc.encode(`${DEV}\0`));
  t.orc(72, "GROUP_GET_DEVICE_FD after unset, device still open", () =>
    p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, big),
  );
  io.close(73, d2a, "close(device fd 2)");
  io.close(74, d, "close(device fd 1)");
  t.kmsg();
  status(75, g, 8);
  setContainer(76, g, ifd, "iommufd after unset");
  t.orc(77, "GROUP_UNSET_CONTAINER (iommufd)", () => p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
  t.orc(78, "GROUP_UNSET_CONTAINER again", () => p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER));

  t.begin("SET_CONTAINER with the legacy container");
  setContainer(79, g, c, "container");
  status(80, g, 8);
  setContainer(81, g, c, "container again");
  setContainer(82, g, c2, "another container");
  setContainer(83, g, ifd, "iommufd while container set");
  t.after(83, [
    io.checks(c, "group attached, no SET_IOMMU"),
    io.checks(c2, "second container, no group"),
  ]);
  getDevice(84, g, DEV, "bdf before SET_IOMMU");
  getDevice(85, g, "nope", '"nope" before SET_IOMMU');
  t.orc(86, "container IOMMU_GET_INFO before SET_IOMMU", () => p.ioctl(c, VFIO_IOMMU_GET_INFO, sb));
  t.orc(87, "second container SET_IOMMU(TYPE1v2), no group", () =>
    p.ioctl(c2, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
  );
  for (const [i, type] of [6, 2, 8, 99, 0].entries()) {
    t.orc(88 + i, `SET_IOMMU(${type})`, () => p.ioctl(c, VFIO_SET_IOMMU, type));
  }
  t.kmsg();
  t.orc(93, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  t.after(93, t.kmsg());
  t.orc(94, "SET_IOMMU(TYPE1v2) again", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  t.orc(95, "SET_IOMMU(TYPE1) after TYPE1v2", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
  t.after(95, [io.checks(c, "after SET_IOMMU(TYPE1v2)")]);
  t.orc(96, "GET_API_VERSION after SET_IOMMU", () => p.ioctl(c, VFIO_GET_API_VERSION));
  t.orc(97, "container _IO(';', 130) after SET_IOMMU", () => p.ioctl(c, _IO(VFIO_TYPE, 130)));
  t.orc(98, "container ioctl 0x1234 after SET_IOMMU", () => p.ioctl(c, 0x1234));
  t.orc(99, "container GROUP_GET_STATUS (nr 103) after SET_IOMMU", () =>
    p.ioctl(c, VFIO_GROUP_GET_STATUS, sb),
  );
  t.orc(100, "container VFIO_IOMMU_ENABLE (spapr nr 115) after SET_IOMMU", () =>
    p.ioctl(c, VFIO_IOMMU_ENABLE),
  );
  status(101, g, 8);

  t.begin("devices");
  d = getDevice(102, g, DEV, "bdf");
  t.kmsg();
  const d2 = getDevice(103, g, DEV, "bdf, second");
  getDevice(104, g, "nope", '"nope"');
  t.skip([105], "vfio-pci's match accepts a trailing space; dev_name() comparison does not");
  const link = p.readlink(`/proc/${p.pid}/fd/${d}`);
  const fdFlags = `fd_flags=${hex(p.fcntl(d, F_GETFD))} fl_flags=${hex(p.fcntl(d, F_GETFL))}`;
  t.after(105, [info(`device fd ${d} -> '${link}' ${fdFlags}`)], (l) => !l.includes("fdinfo"));
  t.orc(106, "GROUP_UNSET_CONTAINER with device fds open", () =>
    p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER),
  );
  io.close(107, d2, "close(device fd 2)");
  t.orc(108, "GROUP_UNSET_CONTAINER with one device fd open", () =>
    p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER),
  );
  status(109, g, 8);

  t.begin("close the group first, then the device");
  io.close(110, g, "close(group)");
  g = t.orc(111, `open(${gpath}) while a device fd is open`, () => p.open(gpath, O_RDWR));
  p.poke(sb, vfio_iommu_type1_info.encode({ argsz: vfio_iommu_type1_info.size }));
  t.call(112, "container IOMMU_GET_INFO(argsz=24) after group close", () =>
    p.ioctl(c, VFIO_IOMMU_GET_INFO, sb),
  );
  const i112 = vfio_iommu_type1_info.decode(p.peek(sb, vfio_iommu_type1_info.size));
  t.end(`flags=${hex(i112.flags)} argsz=${i112.argsz}`);
  t.after(112, [io.checks(c, "group fd closed, device fd open")]);
  deviceInfo(113, d, "DEVICE_GET_INFO after group close");
  io.close(114, d, "close(last device fd)");
  t.kmsg();
  t.after(114, [io.checks(c, "after last device fd closed")]);
  t.orc(115, "container IOMMU_GET_INFO after last close", () =>
    p.ioctl(c, VFIO_IOMMU_GET_INFO, sb),
  );
  t.orc(116, "SET_IOMMU(TYPE1v2) after last close", () =>
    p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
  );
  g = t.orc(117, `open(${gpath}) after last device fd closed`, () => p.open(gpath, O_RDWR));
  status(118, g, 8);

  t.begin("close the container fd while the group holds it");
  setContainer(119, g, c, "container");
  t.orc(120, "SET_IOMMU(TYPE1)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
  io.close(121, c, "close(container)");
  status(122, g, 8);
  d = getDevice(123, g, DEV, "bdf after container fd closed");
  io.close(124, d, "close(device)");
  t.orc(125, "GROUP_UNSET_CONTAINER", () => p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
  status(126, g, 8);
  setContainer(127, g, c2, "second container");
  t.orc(128, "second container SET_IOMMU(TYPE1v2)", () =>
    p.ioctl(c2, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
  );
  io.close(129, g, "close(group) with container set, no device");
  t.after(129, [io.checks(c2, "after group close released it")]);
  t.orc(130, "second container IOMMU_GET_INFO after group close", () =>
    p.ioctl(c2, VFIO_IOMMU_GET_INFO, sb),
  );
  t.kmsg();

  t.begin("unbind from vfio-pci");
  t.skip([131, 133, 134], "unbind and rebind through /sys/bus/pci: done through /sys/bus/platform");
  p.writeFile(`${SYSDEV}/driver/unbind`, DEV);
  t.after(131, [ls(p, "/dev/vfio"), ls(p, "/sys/class/vfio"), ls(p, "/sys/class/vfio-dev")]);
  t.orc(132, `open(${gpath}) after unbind`, () => p.open(gpath, O_RDWR));
  p.writeFile("/sys/bus/platform/drivers_probe", DEV);
  t.after(134, [ls(p, "/dev/vfio/devices")], (l) => !l.includes("pci"));
  return t;
}

describeReplay(
  "the container and group answer as Linux 7.3 (oracle-probes/vfio-container-group)",
  replay,
);

describe("GROUP_GET_STATUS at any argsz answers as Linux 7.3 did at 0, 7, 8 and 16", () => {
  const { p } = coreSetup({ bind: [DMAT0] });
  const g = p.open(`/dev/vfio/${sysfsIommuGroupGet(p, DMAT0)}`, O_RDWR);
  const sb = p.malloc(PAGE_SIZE);

  fcTest.prop([fc.integer({ min: 0, max: 0xffff_ffff })], { numRuns: 200 })(
    "EINVAL and nothing written below 8 (ORC 030, 031); else exactly 8 bytes, VIABLE (ORC 032, 033)",
    (argsz) => {
      const before = new Uint8Array(64).fill(0xaa);
      new DataView(before.buffer).setUint32(0, argsz, true);
      p.poke(sb, before);
      const after = before.slice();
      if (argsz < 8) {
        expect(() => p.ioctl(g, VFIO_GROUP_GET_STATUS, sb)).toThrowErrno("EINVAL");
      } else {
        expect(p.ioctl(g, VFIO_GROUP_GET_STATUS, sb)).toBe(0);
        after.set([1, 0, 0, 0], 4);
      }
      expect(p.peek(sb, 64)).toEqual(after);
    },
  );
});
