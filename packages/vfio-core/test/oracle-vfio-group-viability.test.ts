/**
 * The model against a real Linux 7.3: replays oracle-probes/vfio-group-viability.c — one IOMMU
 * group holding two devices: viability while one of them has a kernel driver, SET_CONTAINER and
 * the iommufd paths refused by DMA ownership, a kernel driver probing into a group VFIO owns,
 * both devices through the group fd and through their cdevs (same and different iommufd
 * contexts, same and different IOAS) — on the mock-IOMMU board of group-fixture.ts, whose
 * `2000000.a` (for edu) and `2001000.b` (for the e1000) share a group, with `vfio-group-test`
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

import { IOMMU_IOAS_ALLOC, iommu_ioas_alloc } from "@vfio-lab/iommufd/uapi";
import {
  encodeScalar,
  O_RDWR,
  s32,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_SET_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_device_detach_iommufd_pt,
  vfio_group_status,
} from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { vfioIommuType1Module } from "../src/vfio-modules.js";
import { bindTest, groupSetup, KDRV, MOCK_A, MOCK_B, unbind } from "./group-fixture.js";
import { hex, ls, OracleProbe, openStdio, Replay, writeFile } from "./oracle-vfio-replay.js";

const BIND = `/sys/bus/platform/drivers/${KDRV}/bind`;

function replay(): Replay {
  const w = groupSetup({ mock: true });
  const { kernel, p } = w;
  kernel.modprobe(vfioIommuType1Module, { allow_unsafe_interrupts: true });
  const group = p.readlink(`/sys/bus/platform/devices/${MOCK_A}/iommu_group`).split("/").pop()!;
  const gpath = `/dev/vfio/${group}`;
  const t = new Replay(new OracleProbe("vfio-group-viability.7.3.txt"), kernel, {
    subst: (l) =>
      l
        .replace(/\/dev\/vfio\/1\b/g, gpath)
        .replace(/^INFO ls \/dev\/vfio: 1 /, `INFO ls /dev/vfio: ${group} `)
        .replace(/iommu_groups\/1\//, `iommu_groups/${group}/`)
        .replace("/sys/bus/pci/drivers/e1000/bind", BIND)
        .replace(/"0000:00:03\.1"\) => ret=12 /, `"${MOCK_B}") => ret=${MOCK_B.length} `)
        .replaceAll("0000:00:03.1", MOCK_B)
        .replaceAll("0000:00:03.0", MOCK_A)
        .replace("driver=e1000", `driver=${KDRV}`),
  });
  openStdio(p);
  const arg = w.arg;
  const name = p.malloc(4096);
  const kmsg = () => t.kmsg().filter((l) => !l.includes("MSI interrupts are not secure"));
  const driverOf = (dev: string) => {
    try {
      return p.readlink(`/sys/bus/platform/devices/${dev}/driver`).split("/").pop();
    } catch {
      return "(none)";
    }
  };
  const status = (n: number, g: number, why: string) => {
    p.poke(arg, vfio_group_status.encode({ argsz: vfio_group_status.size, flags: 0 }));
    t.call(n, `GROUP_GET_STATUS ${why}`, () => p.ioctl(g, VFIO_GROUP_GET_STATUS, arg));
    t.end(`flags=${hex(vfio_group_status.decode(p.peek(arg, 8)).flags)}`);
  };
  const setContainer = (n: number, g: number, fd: number, what: string) => {
    p.poke(arg, encodeScalar(s32, fd));
    t.orc(n, `GROUP_SET_CONTAINER(${what})`, () => p.ioctl(g, VFIO_GROUP_SET_CONTAINER, arg));
  };
  const getDeviceFd = (n: number, g: number, dev: string, desc: string) => {
    p.poke(name, new TextEncoder().encode(`${dev}\0`));
    return t.orc(n, `GROUP_GET_DEVICE_FD${desc}`, () => p.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, name));
  };
  const bind = (n: number, cd: number, ifd: number, why: string) => {
    const size = vfio_device_bind_iommufd.size;
    p.poke(arg, vfio_device_bind_iommufd.encode({ argsz: size, iommufd: ifd }));
    t.call(n, `BIND_IOMMUFD ${why}`, () => p.ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, arg));
    t.end(`out_devid=${vfio_device_bind_iommufd.decode(p.peek(arg, size)).out_devid}`);
  };
  const ioasAlloc = (n: number, desc: string, ifd: number) => {
    p.poke(arg, iommu_ioas_alloc.encode({ size: iommu_ioas_alloc.size }));
    t.call(n, desc, () => p.ioctl(ifd, IOMMU_IOAS_ALLOC, arg));
    const id = iommu_ioas_alloc.decode(p.peek(arg, iommu_ioas_alloc.size)).out_ioas_id;
    t.end(`out_ioas_id=${id}`);
    return id;
  };
  const attach = (n: number, cd: number, ptId: number, desc: string, extra = "") => {
    const size = vfio_device_attach_iommufd_pt.size;
    p.poke(arg, vfio_device_attach_iommufd_pt.encode({ argsz: size, pt_id: ptId }));
    t.call(n, `ATTACH_IOMMUFD_PT${desc}`, () => p.ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg));
    const got = vfio_device_attach_iommufd_pt.decode(p.peek(arg, size)).pt_id;
    t.end(`pt_id=${got}${extra}`);
    return got;
  };
  const bindKdrv = (n: number) =>
    t.orc(n, `write("${BIND}", "${MOCK_B}")`, () => writeFile(p, BIND, MOCK_B));
  const close = (n: number, fd: number, desc: string) =>
    t.orc(n, desc, () => {
      p.close(fd);
      return 0;
    });

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
  status(13, g, "with e1000 bound to its driver");
  setContainer(14, g, c, "container");
  status(15, g, "after the refused SET_CONTAINER");
  const ifd = t.orc(16, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));
  setContainer(17, g, ifd, "iommufd");
  status(18, g, "after SET_CONTAINER(iommufd)");
  getDeviceFd(19, g, MOCK_A, "(edu) via iommufd");
  getDeviceFd(20, g, MOCK_B, "(e1000, not a vfio device)");
  t.after(20, kmsg());
  close(21, g, "close(group)");
  let cd = t.orc(22, "open(/dev/vfio/devices/vfio0)", () =>
    p.open("/dev/vfio/devices/vfio0", O_RDWR),
  );
  bind(23, cd, ifd, "edu while e1000 has its driver");
  t.after(23, kmsg());

  t.begin("e1000 unbound: viable");
  t.skip([24, 35], "unbinding the e1000: unbinding kdrv from the platform device");
  unbind(w, MOCK_B);
  g = t.orc(25, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  status(26, g, "with e1000 unbound");
  setContainer(27, g, c, "container");
  t.orc(28, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  const d = getDeviceFd(29, g, MOCK_A, "(edu)");
  t.after(29, kmsg(), (l) => !l.includes("enabling device"));
  bindKdrv(30);
  t.after(30, [...kmsg(), `INFO e1000 ${MOCK_B} driver=${driverOf(MOCK_B)}`]);
  close(31, d, "close(edu device)");
  close(32, g, "close(group)");
  bindKdrv(33);
  t.after(33, [`INFO e1000 ${MOCK_B} driver=${driverOf(MOCK_B)}`], (l) => l.startsWith("INFO"));
  kmsg();
  bind(34, cd, ifd, "edu while e1000 has its driver again");
  unbind(w, MOCK_B);
  bind(36, cd, ifd, "edu with e1000 unbound");
  bindKdrv(37);
  t.after(37, [...kmsg(), `INFO e1000 ${MOCK_B} driver=${driverOf(MOCK_B)}`]);
  close(38, cd, "close(edu cdev)");

  t.begin("both devices on vfio-pci");
  t.skip([39, 40], "driver_override and drivers_probe through /sys/bus/pci: done on platform");
  bindTest(w, MOCK_B);
  t.after(40, [...kmsg(), ls(p, "/dev/vfio/devices")], (l) => !l.startsWith("INFO pci "));
  g = t.orc(41, `open(${gpath})`, () => p.open(gpath, O_RDWR));
  status(42, g, "both on vfio-pci");
  setContainer(43, g, c, "container");
  t.orc(44, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  const d1 = getDeviceFd(45, g, MOCK_A, "(edu)");
  const d2 = getDeviceFd(46, g, MOCK_B, "(e1000)");
  t.after(46, kmsg(), (l) => !l.includes("enabling device"));
  const ncd = t.orc(47, "open(/dev/vfio/devices/vfio1) while the group is open", () =>
    p.open("/dev/vfio/devices/vfio1", O_RDWR),
  );
  bind(48, ncd, ifd, "e1000 while the group is open");
  p.close(d1);
  p.close(d2);
  close(49, g, "close(group) and both device fds");
  bind(50, ncd, ifd, "e1000");
  t.orc(51, `open(${gpath}) while one device of the group is cdev-bound`, () =>
    p.open(gpath, O_RDWR),
  );
  cd = t.orc(52, "open(/dev/vfio/devices/vfio0)", () => p.open("/dev/vfio/devices/vfio0", O_RDWR));
  const ifd2 = t.orc(53, "open(/dev/iommu) second context", () => p.open("/dev/iommu", O_RDWR));
  bind(54, cd, ifd2, "edu to a second iommufd context");
  bind(55, cd, ifd, "edu to the same context as the e1000");
  const ioas = ioasAlloc(56, "IOMMU_IOAS_ALLOC", ifd);
  const hwpt = attach(57, cd, ioas, `(edu, ioas ${ioas})`);
  const ioas2 = ioasAlloc(58, "IOMMU_IOAS_ALLOC second", ifd);
  attach(59, ncd, ioas2, `(e1000, second ioas ${ioas2})`);
  attach(60, ncd, ioas, `(e1000, ioas ${ioas})`, ` (edu got ${hwpt})`);
  p.poke(arg, vfio_device_detach_iommufd_pt.encode({ argsz: vfio_device_detach_iommufd_pt.size }));
  t.orc(61, "DETACH_IOMMUFD_PT(edu)", () => p.ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, arg));
  attach(62, ncd, ioas2, `(e1000, second ioas ${ioas2}) after edu detached`);
  close(63, cd, "close(edu cdev)");
  t.orc(64, `open(${gpath}) while the e1000 cdev is still bound`, () => p.open(gpath, O_RDWR));
  close(65, ncd, "close(e1000 cdev)");
  g = t.orc(66, `open(${gpath}) after both cdevs closed`, () => p.open(gpath, O_RDWR));
  status(67, g, "");
  t.after(67, kmsg());
  return t;
}

describe("one group, two devices: the answers of Linux 7.3 (oracle-probes/vfio-group-viability)", () => {
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
