/**
 * The model against a real Linux 7.3: replays oracle-probes/vfio-group-viability.c — one IOMMU
 * group holding two devices: viability while one of them has a kernel driver, SET_CONTAINER and
 * the iommufd paths refused by DMA ownership, a kernel driver probing into a group VFIO owns,
 * both devices through the group fd and through their cdevs (same and different iommufd
 * contexts, same and different IOAS) — on the mock-IOMMU board of core-fixture.ts, whose
 * `2000000.a` (for edu) and `2001000.b` (for the e1000) share a group, with `vfio-core-test`
 * as the VFIO driver and `kdrv` as the kernel DMA-API driver (for e1000's). Every line is
 * compared with the recorded one (oracle-probes/vfio-group-viability.7.3.txt, by ORC number),
 * names and paths put in the board's terms: the group's number, the devices' names, and
 * /sys/bus/platform/drivers/kdrv/bind for e1000's bind file (so 9 bytes written, not 12).
 *
 * Skipped: ORC 001–008 (module loads: the fixture boots with iommufd and vfio loaded, kdrv
 * bound, and type1 is loaded with allow_unsafe_interrupts=1 — the mock IOMMU isolates no MSI),
 * 009–010 and 039–040 (driver_override and drivers_probe through /sys/bus/pci: done through
 * /sys/bus/platform), 024 and 035 (unbinding the e1000, which is unbinding kdrv), the e1000
 * driver's own log lines and KMSG "enabling device (0000 -> 0002)", and the INFO lines naming
 * PCI functions. On the model's side iommufd's "MSI interrupts are not secure" warning is left
 * out (iommufd.allow_unsafe_interrupts=1 on a board without isolated MSI warns at every bind).
 */

import { O_RDWR, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU } from "@vfio-lab/kernel";
import { vfioIommuType1Module } from "../src/vfio-modules.js";
import { bindTest, coreSetup, KDRV, MOCK_A, MOCK_B, unbindDriver } from "./core-fixture.js";
import {
  describeReplay,
  ls,
  notEnablingDevice,
  notMsiWarning,
  OracleProbe,
  openStdio,
  ProbeCalls,
  Replay,
  writeFile,
} from "./oracle-vfio-replay.js";

const BIND = `/sys/bus/platform/drivers/${KDRV}/bind`;

function replay(): Replay {
  const w = coreSetup({ mock: true });
  const { kernel, p } = w;
  kernel.modprobe(vfioIommuType1Module, { allow_unsafe_interrupts: true });
  const group = p
    .readlink(`/sys/bus/platform/devices/${MOCK_A.name}/iommu_group`)
    .split("/")
    .pop()!;
  const gpath = `/dev/vfio/${group}`;
  const t = new Replay(new OracleProbe("vfio-group-viability.7.3.txt"), kernel, {
    subst: (l) =>
      l
        .replace(/\/dev\/vfio\/1\b/g, gpath)
        .replace(/^INFO ls \/dev\/vfio: 1 /, `INFO ls /dev/vfio: ${group} `)
        .replace(/iommu_groups\/1\//, `iommu_groups/${group}/`)
        .replace("/sys/bus/pci/drivers/e1000/bind", BIND)
        .replace(/"0000:00:03\.1"\) => ret=12 /, `"${MOCK_B.name}") => ret=${MOCK_B.name.length} `)
        .replaceAll("0000:00:03.1", MOCK_B.name)
        .replaceAll("0000:00:03.0", MOCK_A.name)
        .replace("driver=e1000", `driver=${KDRV}`),
  });
  openStdio(p);
  const name = p.malloc(4096);
  const io = new ProbeCalls(t, p, w.arg, name);
  const kmsg = () => t.kmsg().filter(notMsiWarning);
  const driverOf = (dev: string) => {
    try {
      return p.readlink(`/sys/bus/platform/devices/${dev}/driver`).split("/").pop();
    } catch {
      return "(none)";
    }
  };
  const setContainer = (n: number, g: number, fd: number, what: string) =>
    io.setContainer(n, g, fd, `GROUP_SET_CONTAINER(${what})`);
  const getDeviceFd = (n: number, g: number, dev: string, desc: string) =>
    io.getDeviceFd(n, g, dev, `GROUP_GET_DEVICE_FD${desc}`);
  const bind = (n: number, cd: number, ifd: number, why: string) =>
    io.bindIommufd(n, cd, ifd, `BIND_IOMMUFD ${why}`);
  const attach = (n: number, cd: number, ptId: number, desc: string, extra = "") =>
    io.attachPt(n, cd, ptId, `ATTACH_IOMMUFD_PT${desc}`, extra);
  const bindKdrv = (n: number) =>
    t.orc(n, `write("${BIND}", "${MOCK_B.name}")`, () => writeFile(p, BIND, MOCK_B.name));

  t.begin("boot state");
  t.after("boot state", [ls(p, `/sys/kernel/iommu_groups/${group}/devices`)], (l) =>
    l.startsWith("INFO ls "),
  );

  t.begin("e1000 driver loaded, edu to vfio-pci");
  t.skip([1, 2, 3, 4, 5, 6, 7, 8], "module loads: the fixture's boot loads iommufd and vfio");
  t.skip([9, 10], "driver_override and drivers_probe through /sys/bus/pci: done on platform");
  bindTest(w, MOCK_A);
  t.after(10, [ls(p, "/dev/vfio"), ls(p, "/dev/vfio/devices")], (l) => l.startsWith("INFO ls "));
  kmsg();

  t.begin("group not viable");
  const c = t.orc(11, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
  let g = t.orc(12, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  io.groupStatus(13, g, "with e1000 bound to its driver");
  setContainer(14, g, c, "container");
  io.groupStatus(15, g, "after the refused SET_CONTAINER");
  const ifd = t.orc(16, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));
  setContainer(17, g, ifd, "iommufd");
  io.groupStatus(18, g, "after SET_CONTAINER(iommufd)");
  getDeviceFd(19, g, MOCK_A.name, "(edu) via iommufd");
  getDeviceFd(20, g, MOCK_B.name, "(e1000, not a vfio device)");
  t.after(20, kmsg());
  io.close(21, g, "close(group)");
  let cd = t.orc(22, "open(/dev/vfio/devices/vfio0)", () =>
    p.open("/dev/vfio/devices/vfio0", O_RDWR),
  );
  bind(23, cd, ifd, "edu while e1000 has its driver");
  t.after(23, kmsg());

  t.begin("e1000 unbound: viable");
  t.skip([24, 35], "unbinding the e1000: unbinding kdrv from the platform device");
  unbindDriver(p, MOCK_B);
  g = t.orc(25, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  io.groupStatus(26, g, "with e1000 unbound");
  setContainer(27, g, c, "container");
  t.orc(28, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  const d = getDeviceFd(29, g, MOCK_A.name, "(edu)");
  t.after(29, kmsg(), notEnablingDevice);
  bindKdrv(30);
  t.after(30, [...kmsg(), `INFO e1000 ${MOCK_B.name} driver=${driverOf(MOCK_B.name)}`]);
  io.close(31, d, "close(edu device)");
  io.close(32, g, "close(group)");
  bindKdrv(33);
  t.after(33, [`INFO e1000 ${MOCK_B.name} driver=${driverOf(MOCK_B.name)}`], (l) =>
    l.startsWith("INFO"),
  );
  kmsg();
  bind(34, cd, ifd, "edu while e1000 has its driver again");
  unbindDriver(p, MOCK_B);
  bind(36, cd, ifd, "edu with e1000 unbound");
  bindKdrv(37);
  t.after(37, [...kmsg(), `INFO e1000 ${MOCK_B.name} driver=${driverOf(MOCK_B.name)}`]);
  io.close(38, cd, "close(edu cdev)");

  t.begin("both devices on vfio-pci");
  t.skip([39, 40], "driver_override and drivers_probe through /sys/bus/pci: done on platform");
  bindTest(w, MOCK_B);
  t.after(40, [...kmsg(), ls(p, "/dev/vfio/devices")], (l) => !l.startsWith("INFO pci "));
  g = t.orc(41, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  io.groupStatus(42, g, "both on vfio-pci");
  setContainer(43, g, c, "container");
  t.orc(44, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  const d1 = getDeviceFd(45, g, MOCK_A.name, "(edu)");
  const d2 = getDeviceFd(46, g, MOCK_B.name, "(e1000)");
  t.after(46, kmsg(), notEnablingDevice);
  const ncd = t.orc(47, "open(/dev/vfio/devices/vfio1) while the group is open", () =>
    p.open("/dev/vfio/devices/vfio1", O_RDWR),
  );
  bind(48, ncd, ifd, "e1000 while the group is open");
  p.close(d1);
  p.close(d2);
  io.close(49, g, "close(group) and both device fds");
  bind(50, ncd, ifd, "e1000");
  t.orc(51, `open(${gpath}) while one device of the group is cdev-bound`, () =>
    p.open(gpath, O_RDWR),
  );
  cd = t.orc(52, "open(/dev/vfio/devices/vfio0)", () => p.open("/dev/vfio/devices/vfio0", O_RDWR));
  const ifd2 = t.orc(53, "open(/dev/iommu) second context", () => p.open("/dev/iommu", O_RDWR));
  bind(54, cd, ifd2, "edu to a second iommufd context");
  bind(55, cd, ifd, "edu to the same context as the e1000");
  const ioas = io.ioasAlloc(56, ifd, "IOMMU_IOAS_ALLOC");
  const hwpt = attach(57, cd, ioas, `(edu, ioas ${ioas})`);
  const ioas2 = io.ioasAlloc(58, ifd, "IOMMU_IOAS_ALLOC second");
  attach(59, ncd, ioas2, `(e1000, second ioas ${ioas2})`);
  attach(60, ncd, ioas, `(e1000, ioas ${ioas})`, ` (edu got ${hwpt})`);
  io.detachPt(61, cd, "DETACH_IOMMUFD_PT(edu)");
  attach(62, ncd, ioas2, `(e1000, second ioas ${ioas2}) after edu detached`);
  io.close(63, cd, "close(edu cdev)");
  t.orc(64, `open(${gpath}) while the e1000 cdev is still bound`, () => p.open(gpath, O_RDWR));
  io.close(65, ncd, "close(e1000 cdev)");
  g = t.orc(66, `open(${gpath}) after both cdevs closed`, () => p.open(gpath, O_RDWR));
  io.groupStatus(67, g, "");
  t.after(67, kmsg());
  return t;
}

describeReplay(
  "one group, two devices: the answers of Linux 7.3 (oracle-probes/vfio-group-viability)",
  replay,
);
