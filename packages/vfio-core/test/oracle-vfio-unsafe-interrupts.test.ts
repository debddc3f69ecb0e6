/**
 * The model against a real Linux 7.3: replays oracle-probes/vfio-unsafe-interrupts.c — a
 * platform without MSI isolation (QEMU with GICv2: no ITS), where type1's SET_IOMMU, the
 * iommufd compat group path and the cdev bind are refused until the `allow_unsafe_interrupts`
 * parameters of vfio_iommu_type1 and iommufd are written at run time — with c030000.dma-test
 * (IOMMU group 1, as edu's was) bound to core-fixture.ts's minimal `vfio-core-test` driver. The
 * board has no isolated MSI at all, so this is the probe whose answers it must give with both
 * parameters at their defaults; every line and log line is compared with the recorded one
 * (oracle-probes/vfio-unsafe-interrupts.7.3.txt, by ORC number).
 *
 * Skipped: ORC 001–002, 005–006 (finit_module of irqbypass, iommu_amdv1, vfio_pci_core,
 * vfio_pci), 008–009 (vfio-pci binds edu through /sys/bus/pci: the replay binds through
 * /sys/bus/platform), the INFO line naming the PCI device, and KMSG "enabling device (0000 ->
 * 0002)" (vfio-pci's). The log lines a device prints carry the driver's name:
 * `vfio-core-test c030000.dma-test:` where the oracle has `vfio-pci 0000:00:01.0:`.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  O_RDWR,
  VFIO_CHECK_EXTENSION,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
} from "@vfio-lab/kernel";
import {
  bindTest,
  coreTestDriver,
  DMAT0,
  sysfsIommuGroupGet,
  TEST_DRIVER,
} from "./core-fixture.js";
import {
  describeReplay,
  eduAs,
  notEnablingDevice,
  ProbeCalls,
  type Replay,
  replayModuleLoads,
  showFile,
  startReplay,
  writeFile,
} from "./oracle-vfio-replay.js";

const TYPE1_PARAM = "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts";
const IOMMUFD_PARAM = "/sys/module/iommufd/parameters/allow_unsafe_interrupts";

function replay(): Replay {
  const { t, kernel, p } = startReplay("vfio-unsafe-interrupts.7.3.txt", {
    subst: eduAs(TEST_DRIVER, DMAT0.name),
  });
  const arg = p.malloc(PAGE_SIZE);
  const name = p.malloc(PAGE_SIZE);
  const io = new ProbeCalls(t, p, arg, name);
  const gpath = `/dev/vfio/${sysfsIommuGroupGet(p, DMAT0)}`;
  const kmsg = () => t.kmsg();
  const getDeviceFd = (n: number, g: number) =>
    io.getDeviceFd(n, g, DMAT0.name, "GROUP_GET_DEVICE_FD");

  replayModuleLoads(t, kernel, { type1: 7, pciBind: [8, 9] });
  kernel.drivers.registerDriver(coreTestDriver(kernel));
  bindTest({ p }, DMAT0);
  t.after(
    9,
    [showFile(p, TYPE1_PARAM), showFile(p, IOMMUFD_PARAM), ...kmsg()],
    (l) => !l.startsWith("INFO pci "),
  );

  t.begin("type1 without allow_unsafe_interrupts");
  const c = t.orc(10, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
  let g = t.orc(11, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  io.setContainer(12, g, c, "GROUP_SET_CONTAINER(container)");
  t.orc(13, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  t.after(13, kmsg());
  t.orc(14, "SET_IOMMU(TYPE1)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
  t.after(14, kmsg());
  t.orc(15, "CHECK_EXTENSION(TYPE1v2) after the refusal", () =>
    p.ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU),
  );
  getDeviceFd(16, g);
  io.groupStatus(17, g);

  t.begin("type1 with allow_unsafe_interrupts written at run time");
  t.orc(18, `write("${TYPE1_PARAM}", "Y")`, () => writeFile(p, TYPE1_PARAM, "Y"));
  t.orc(19, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  t.after(19, kmsg());
  let d = getDeviceFd(20, g);
  t.after(20, kmsg(), notEnablingDevice);
  p.close(d);
  io.close(21, g, "close(group)");
  io.close(22, c, "close(container)");

  t.begin("iommufd compat group path without iommufd.allow_unsafe_interrupts");
  const ifd = t.orc(23, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));
  g = t.orc(24, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  io.setContainer(25, g, ifd, "GROUP_SET_CONTAINER(iommufd)");
  getDeviceFd(26, g);
  t.after(26, kmsg());
  io.close(27, g, "close(group)");

  t.begin("cdev bind without iommufd.allow_unsafe_interrupts");
  const cd = t.orc(28, "open(/dev/vfio/devices/vfio0)", () =>
    p.open("/dev/vfio/devices/vfio0", O_RDWR),
  );
  io.bindIommufd(29, cd, ifd, "DEVICE_BIND_IOMMUFD");
  t.after(29, kmsg());

  t.begin("iommufd.allow_unsafe_interrupts written at run time");
  t.orc(30, `write("${IOMMUFD_PARAM}", "Y")`, () => writeFile(p, IOMMUFD_PARAM, "Y"));
  io.bindIommufd(31, cd, ifd, "DEVICE_BIND_IOMMUFD");
  t.after(31, kmsg(), notEnablingDevice);
  const ioas = io.ioasAlloc(32, ifd);
  io.attachPt(33, cd, ioas, "DEVICE_ATTACH_IOMMUFD_PT(ioas)");
  t.after(33, kmsg());
  io.close(34, cd, "close(cdev)");
  g = t.orc(35, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  io.setContainer(36, g, ifd, "GROUP_SET_CONTAINER(iommufd)");
  d = getDeviceFd(37, g);
  t.after(37, kmsg(), notEnablingDevice);
  p.close(d);
  io.close(38, g, "close(group)");
  return t;
}

describeReplay(
  "no MSI isolation: the answers of Linux 7.3 (oracle-probes/vfio-unsafe-interrupts)",
  replay,
);
