/**
 * The model against a real Linux 7.3: replays oracle-probes/vfio-unsafe-interrupts.c — a
 * platform without MSI isolation (QEMU with GICv2: no ITS), where type1's SET_IOMMU, the
 * iommufd compat group path and the cdev bind are refused until the `allow_unsafe_interrupts`
 * parameters of vfio_iommu_type1 and iommufd are written at run time — with c030000.dma-test
 * (IOMMU group 1, as edu's was) bound to `vfio-lab-test`. The board has no isolated MSI at all,
 * so this is the probe whose answers it must give with both parameters at their defaults; every
 * line and log line is compared with the recorded one
 * (oracle-probes/vfio-unsafe-interrupts.7.3.txt, by ORC number).
 *
 * Skipped: ORC 001–002, 005–006 (finit_module of irqbypass, iommu_amdv1, vfio_pci_core,
 * vfio_pci), 008–009 (vfio-pci binds edu through /sys/bus/pci: the replay binds through
 * /sys/bus/platform), the INFO line naming the PCI device, and KMSG "enabling device (0000 ->
 * 0002)" (vfio-pci's) and, on the model's side, the test driver's "reset" (vfio-platform resets
 * the device at every open and close, and says so). The log lines a device prints carry the driver's name: `vfio-lab-test
 * c030000.dma-test:` where the oracle has `vfio-pci 0000:00:01.0:`.
 */

import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import { IOMMU_IOAS_ALLOC, iommu_ioas_alloc } from "@vfio-lab/iommufd/uapi";
import {
  encodeScalar,
  Kernel,
  O_RDWR,
  s32,
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_group_status,
} from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { vfioModule } from "../src/vfio-modules.js";
import { hex, OracleProbe, openStdio, Replay, showFile, writeFile } from "./oracle-vfio-replay.js";
import { VFIO_LAB_TEST, vfioLabTestModule } from "./test-bus-driver.js";

const DEV = "c030000.dma-test";
const SYSDEV = `/sys/bus/platform/devices/${DEV}`;
const BOOT = "ORACLE-BOOTED kernel=7.3.0-rc7-oracle";
const TYPE1_PARAM = "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts";
const IOMMUFD_PARAM = "/sys/module/iommufd/parameters/allow_unsafe_interrupts";

function replay(): Replay {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const kernel = Kernel.boot(soc);
  const t = new Replay(new OracleProbe("vfio-unsafe-interrupts.7.3.txt"), kernel, {
    subst: (l) => l.replace("vfio-pci 0000:00:01.0:", `${VFIO_LAB_TEST} ${DEV}:`),
  });
  const p = kernel.spawn({ comm: "probe" });
  openStdio(p);
  const arg = p.malloc(PAGE_SIZE);
  const name = p.malloc(PAGE_SIZE);
  p.poke(name, new TextEncoder().encode(`${DEV}\0`));
  const gpath = `/dev/vfio/${p.readlink(`${SYSDEV}/iommu_group`).split("/").pop()}`;
  const notEnabling = (l: string) => !l.includes("enabling device");
  // The test driver resets the DMA engine at every open and close, as vfio-platform does.
  const kmsg = () => t.kmsg().filter((l) => !l.endsWith(": reset"));
  const close = (n: number, fd: number, desc: string) =>
    t.orc(n, desc, () => {
      p.close(fd);
      return 0;
    });
  const setContainer = (n: number, g: number, fd: number, what: string) => {
    p.poke(arg, encodeScalar(s32, fd));
    t.orc(n, `GROUP_SET_CONTAINER(${what})`, () => p.ioctl(g, VFIO_GROUP_SET_CONTAINER, arg));
  };
  const getDeviceFd = (n: number, g: number) =>
    t.orc(n, "GROUP_GET_DEVICE_FD", () => p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, name));
  const bind = (n: number, cd: number, ifd: number) => {
    p.poke(
      arg,
      vfio_device_bind_iommufd.encode({ argsz: vfio_device_bind_iommufd.size, iommufd: ifd }),
    );
    t.call(n, "DEVICE_BIND_IOMMUFD", () => p.ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, arg));
    t.end(
      `out_devid=${vfio_device_bind_iommufd.decode(p.peek(arg, vfio_device_bind_iommufd.size)).out_devid}`,
    );
  };

  t.begin(BOOT);
  t.skip([1, 2, 5, 6], "irqbypass, iommu_amdv1, vfio_pci_core, vfio_pci: not on the board");
  t.orc(3, 'finit_module(iommufd, "")', () => {
    kernel.modprobe(iommufdModule);
    return 0;
  });
  t.orc(4, 'finit_module(vfio, "")', () => {
    // modprobe(8) brings vfio_iommu_type1 along (the soft dependency), as ORC 007 loads it.
    kernel.modprobe(vfioModule);
    return 0;
  });
  t.orc(7, 'finit_module(vfio_iommu_type1, "")', () => 0);
  t.skip([8, 9], "vfio-pci binds edu through /sys/bus/pci: the replay binds through platform");
  kernel.modprobe(vfioLabTestModule);
  p.writeFile(`${SYSDEV}/driver_override`, VFIO_LAB_TEST);
  p.writeFile(`${SYSDEV}/driver/unbind`, DEV);
  p.writeFile("/sys/bus/platform/drivers_probe", DEV);
  t.after(
    9,
    [showFile(p, TYPE1_PARAM), showFile(p, IOMMUFD_PARAM), ...kmsg()],
    (l) => !l.startsWith("INFO pci "),
  );

  t.begin("type1 without allow_unsafe_interrupts");
  const c = t.orc(10, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
  let g = t.orc(11, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  setContainer(12, g, c, "container");
  t.orc(13, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  t.after(13, kmsg());
  t.orc(14, "SET_IOMMU(TYPE1)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
  t.after(14, kmsg());
  t.orc(15, "CHECK_EXTENSION(TYPE1v2) after the refusal", () =>
    p.ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU),
  );
  getDeviceFd(16, g);
  p.poke(arg, vfio_group_status.encode({ argsz: vfio_group_status.size, flags: 0 }));
  t.call(17, "GROUP_GET_STATUS", () => p.ioctl(g, VFIO_GROUP_GET_STATUS, arg));
  t.end(`flags=${hex(vfio_group_status.decode(p.peek(arg, 8)).flags)}`);

  t.begin("type1 with allow_unsafe_interrupts written at run time");
  t.orc(18, `write("${TYPE1_PARAM}", "Y")`, () => writeFile(p, TYPE1_PARAM, "Y"));
  t.orc(19, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  t.after(19, kmsg());
  let d = getDeviceFd(20, g);
  t.after(20, kmsg(), notEnabling);
  p.close(d);
  close(21, g, "close(group)");
  close(22, c, "close(container)");

  t.begin("iommufd compat group path without iommufd.allow_unsafe_interrupts");
  const ifd = t.orc(23, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));
  g = t.orc(24, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  setContainer(25, g, ifd, "iommufd");
  getDeviceFd(26, g);
  t.after(26, kmsg());
  close(27, g, "close(group)");

  t.begin("cdev bind without iommufd.allow_unsafe_interrupts");
  const cd = t.orc(28, "open(/dev/vfio/devices/vfio0)", () =>
    p.open("/dev/vfio/devices/vfio0", O_RDWR),
  );
  bind(29, cd, ifd);
  t.after(29, kmsg());

  t.begin("iommufd.allow_unsafe_interrupts written at run time");
  t.orc(30, `write("${IOMMUFD_PARAM}", "Y")`, () => writeFile(p, IOMMUFD_PARAM, "Y"));
  bind(31, cd, ifd);
  t.after(31, kmsg(), notEnabling);
  p.poke(arg, iommu_ioas_alloc.encode({ size: iommu_ioas_alloc.size }));
  t.call(32, "IOMMU_IOAS_ALLOC", () => p.ioctl(ifd, IOMMU_IOAS_ALLOC, arg));
  const ioas = iommu_ioas_alloc.decode(p.peek(arg, iommu_ioas_alloc.size)).out_ioas_id;
  t.end(`out_ioas_id=${ioas}`);
  p.poke(
    arg,
    vfio_device_attach_iommufd_pt.encode({
      argsz: vfio_device_attach_iommufd_pt.size,
      pt_id: ioas,
    }),
  );
  t.call(33, "DEVICE_ATTACH_IOMMUFD_PT(ioas)", () =>
    p.ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg),
  );
  t.end(`pt_id=${vfio_device_attach_iommufd_pt.decode(p.peek(arg, 16)).pt_id}`);
  t.after(33, kmsg());
  close(34, cd, "close(cdev)");
  g = t.orc(35, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  setContainer(36, g, ifd, "iommufd");
  d = getDeviceFd(37, g);
  t.after(37, kmsg(), notEnabling);
  p.close(d);
  close(38, g, "close(group)");
  return t;
}

describe("no MSI isolation: the answers of Linux 7.3 (oracle-probes/vfio-unsafe-interrupts)", () => {
  const t = replay();
  for (const [step, r] of t.results) {
    it(`=== ${step} ===`, () => {
      expect(r.got).toEqual(r.want);
    });
  }
  it("replays or names as skipped every ORC line of the probe", () => {
    expect(t.uncovered()).toEqual([]);
  });
});
