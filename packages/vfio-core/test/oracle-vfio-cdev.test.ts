/**
 * The model against a real Linux 7.3: replays oracle-probes/vfio-cdev.c — the device cdev
 * /dev/vfio/devices/vfio0 (device_cdev.c, vfio_main.c, iommufd.c): everything before BIND,
 * BIND_IOMMUFD's argsz/flags/fd errors and their order, exclusivity against the group and a
 * second cdev fd, ATTACH/DETACH_IOMMUFD_PT (replace, PASID 0), close and reopen — with
 * c030000.dma-test (IOMMU group 1, as edu's was) bound to `vfio-core-test` with vfio-pci's
 * iommufd operations (the physical ones and the PASID ones), and compares every line whose
 * answer does not depend on PCI with the recorded one (oracle-probes/vfio-cdev.7.3.txt).
 *
 * vfio-pci checks a VF token (`match_token_uuid`); the replay gives the test driver the same
 * rule for a device that is neither PF nor VF (vfio_pci_validate_vf_token(): a token is refused
 * with "VF token incorrectly provided, not a PF or VF", none is fine), so that the core's order
 * around it (the uuid copied before the driver is asked, the token before the iommufd fd) is
 * what ORC 047–050 compare.
 *
 * The oracle's kernel was built without CONFIG_ARM_SMMU_V3_IOMMUFD (so IOMMU_GET_HW_INFO says
 * IOMMU_HW_INFO_TYPE_NONE): the replay boots the same configuration.
 *
 * Skipped: ORC 001–002, 005–006 (finit_module of irqbypass, iommu_amdv1, vfio_pci_core, vfio_pci),
 * 007–008 (the bind through /sys/bus/pci), 068 (a PCI config-space read); the written-back
 * fields of DEVICE_GET_INFO (067, 104, 112, 124: the edu device's regions and IRQs); the fdinfo
 * INFO lines (`show_fdinfo` is not modelled); KMSG "enabling device (0000 -> 0002)" (vfio-pci's)
 * and, on the model's side, iommufd's "MSI interrupts are not secure" warning: the board has no
 * isolated MSI (QEMU's GICv3 ITS does), so the replay runs with iommufd.allow_unsafe_interrupts=1,
 * which warns at every bind.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { IOMMU_DESTROY, IOMMU_IOAS_ALLOC, iommu_destroy } from "@vfio-lab/iommufd/uapi";
import {
  MAP_SHARED,
  O_RDWR,
  PROT_READ,
  SEEK_SET,
  SysError,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_FLAG_TOKEN,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_PASID,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_STATUS,
  vfio_device_info,
} from "@vfio-lab/kernel";
import type { VfioDeviceOps } from "../src/vfio.js";
import {
  bindTest,
  type CoreTestDevice,
  coreTestDriver,
  coreTestOps,
  DMAT0,
  TEST_DRIVER,
} from "./core-fixture.js";
import {
  describeReplay,
  eduAs,
  hex,
  notEnablingDevice,
  notMsiWarning,
  ProbeCalls,
  type Replay,
  replayModuleLoads,
  startReplay,
} from "./oracle-vfio-replay.js";

const CDEV = "/dev/vfio/devices/vfio0";

function replay(): Replay {
  // The oracle kernel's configuration: no CONFIG_ARM_SMMU_V3_IOMMUFD, so the SMMU driver has no
  // hw_info() and IOMMU_GET_HW_INFO reports IOMMU_HW_INFO_TYPE_NONE.
  const { t, kernel, p } = startReplay("vfio-cdev.7.3.txt", {
    cmdline: "iommufd.allow_unsafe_interrupts=1",
    config: { CONFIG_ARM_SMMU_V3_IOMMUFD: false },
    subst: eduAs(TEST_DRIVER, DMAT0.name),
  });
  const ab = p.malloc(2 * PAGE_SIZE);
  const z = p.malloc(PAGE_SIZE);
  const arg = p.malloc(PAGE_SIZE);
  const uuid = p.malloc(PAGE_SIZE);
  const io = new ProbeCalls(t, p, arg);
  const gpath = `/dev/vfio/${DMAT0.group}`;
  const kmsg = () => t.kmsg().filter(notMsiWarning);
  let ifd = -1;

  replayModuleLoads(t, kernel, { pciBind: [7, 8] });
  // vfio-pci's iommufd operations (the physical ones and the PASID ones), and its VF token rule
  // for a device that is neither PF nor VF.
  const ops: VfioDeviceOps<CoreTestDevice> = {
    ...coreTestOps({ pasid: true }),
    matchTokenUuid: (vdev, uuid) => {
      if (!uuid) return;
      vdev.dev.log.info("VF token incorrectly provided, not a PF or VF");
      throw new SysError("EINVAL", "vfio_pci_validate_vf_token", "not a PF or VF");
    },
  };
  kernel.drivers.registerDriver(coreTestDriver(kernel, { ops }));
  bindTest({ p }, DMAT0);
  t.after(8, kmsg(), (l) => l.startsWith("KMSG"));
  ifd = t.orc(9, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));

  const bind = (
    n: number,
    cd: number,
    argsz: number,
    flags: number,
    fd: number,
    token: number,
    tail: number,
    why: string,
  ) => {
    const b = new Uint8Array(8192);
    const v = new DataView(b.buffer);
    v.setUint32(0, argsz, true);
    v.setUint32(4, flags, true);
    v.setInt32(8, fd, true);
    v.setUint32(12, 0xeeeeeeee, true);
    v.setBigUint64(16, BigInt(token), true);
    if (tail) b[24 + tail - 1] = 1;
    p.poke(ab, b);
    t.call(
      n,
      `BIND_IOMMUFD(argsz=${argsz} flags=${hex(flags)} iommufd=${fd}${tail ? " non-zero byte past 24" : ""}) ${why}`,
      () => p.ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, ab),
    );
    const devid = new DataView(p.peek(ab, 16).buffer).getUint32(12, true);
    t.end(`out_devid=${hex(devid)}`);
    return devid;
  };
  const attach = (
    n: number,
    cd: number,
    argsz: number,
    flags: number,
    pt: number,
    pasid: number,
    why: string,
  ) => {
    const a = new Uint8Array(64);
    const v = new DataView(a.buffer);
    v.setUint32(0, argsz, true);
    v.setUint32(4, flags, true);
    v.setUint32(8, pt, true);
    v.setUint32(12, pasid, true);
    p.poke(arg, a);
    t.call(
      n,
      `ATTACH_IOMMUFD_PT(argsz=${argsz} flags=${hex(flags)} pt_id=${pt} pasid=${pasid}) ${why}`,
      () => p.ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg),
    );
    const ptId = new DataView(p.peek(arg, 12).buffer).getUint32(8, true);
    t.end(`pt_id=${ptId}`);
    return ptId;
  };
  const detach = (
    n: number,
    cd: number,
    argsz: number,
    flags: number,
    pasid: number,
    why: string,
  ) => {
    const d = new Uint8Array(12);
    const v = new DataView(d.buffer);
    v.setUint32(0, argsz, true);
    v.setUint32(4, flags, true);
    v.setUint32(8, pasid, true);
    p.poke(arg, d);
    t.orc(n, `DETACH_IOMMUFD_PT(argsz=${argsz} flags=${hex(flags)} pasid=${pasid}) ${why}`, () =>
      p.ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, arg),
    );
  };
  const destroy = (n: number, id: number, why: string) => {
    p.poke(arg, iommu_destroy.encode({ size: iommu_destroy.size, id }));
    t.orc(n, `IOMMU_DESTROY(id=${id}) ${why}`, () => p.ioctl(ifd, IOMMU_DESTROY, arg));
  };
  /** DEVICE_GET_INFO; the counts are compared only while nothing was written back. */
  const devInfo = (n: number, cd: number, why: string) => {
    p.poke(arg, vfio_device_info.encode({ argsz: vfio_device_info.size }));
    const desc = `DEVICE_GET_INFO ${why}`;
    if (t.call(n, desc, () => p.ioctl(cd, VFIO_DEVICE_GET_INFO, arg)) < 0) {
      const di = vfio_device_info.decode(p.peek(arg, vfio_device_info.size));
      t.end(`flags=${hex(di.flags)} num_regions=${di.num_regions} num_irqs=${di.num_irqs}`);
    } else {
      t.endResult();
    }
  };
  t.begin("open, and everything before BIND");
  let cd = t.orc(10, `open(${CDEV})`, () => p.open(CDEV, O_RDWR));
  const zb = new Uint8Array(256);
  new DataView(zb.buffer).setUint32(0, 256, true);
  p.poke(z, zb);
  const before: [number, string, number, number][] = [
    [11, "DEVICE_GET_INFO", VFIO_DEVICE_GET_INFO, z],
    [12, "DEVICE_GET_REGION_INFO", VFIO_DEVICE_GET_REGION_INFO, z],
    [13, "DEVICE_GET_IRQ_INFO", VFIO_DEVICE_GET_IRQ_INFO, z],
    [14, "DEVICE_SET_IRQS", VFIO_DEVICE_SET_IRQS, z],
    [15, "DEVICE_RESET", VFIO_DEVICE_RESET, 0],
    [16, "DEVICE_FEATURE", VFIO_DEVICE_FEATURE, z],
    [17, "DEVICE_ATTACH_IOMMUFD_PT", VFIO_DEVICE_ATTACH_IOMMUFD_PT, z],
    [18, "DEVICE_DETACH_IOMMUFD_PT", VFIO_DEVICE_DETACH_IOMMUFD_PT, z],
    [19, "DEVICE_GET_PCI_HOT_RESET_INFO", VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, z],
    [20, "GET_API_VERSION (nr 100)", VFIO_GET_API_VERSION, 0],
    [21, "GROUP_GET_STATUS (nr 103)", VFIO_GROUP_GET_STATUS, z],
    [22, "ioctl 0x1234", 0x1234, 0],
    [23, "IOMMU_IOAS_ALLOC on the cdev", IOMMU_IOAS_ALLOC, z],
  ];
  for (const [n, desc, cmd, a] of before) t.orc(n, desc, () => p.ioctl(cd, cmd, a));
  const region7 = 7n << 40n;
  t.orc(24, "read(4)", () => p.read(cd, z, 4));
  t.orc(25, "write(4)", () => p.write(cd, z, 4));
  t.orc(26, "pread(4, config region offset)", () => p.pread(cd, z, 4, region7));
  t.orc(27, "pwrite(4, config region offset)", () => p.pwrite(cd, z, 4, region7));
  t.orc(28, "mmap(4096, MAP_SHARED, offset 0)", () => {
    p.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, cd, 0);
    return 0;
  });
  t.orc(29, "lseek(0)", () => Number(p.lseek(cd, 0, SEEK_SET)));
  t.after(29, kmsg());

  t.begin("BIND_IOMMUFD errors");
  t.orc(30, "BIND_IOMMUFD(NULL)", () => p.ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, 0));
  bind(31, cd, 0, 0, ifd, 0, 0, "argsz 0");
  bind(32, cd, 15, 0, ifd, 0, 0, "argsz 15");
  bind(33, cd, 32, 0, ifd, 0, 8, "argsz 32");
  bind(34, cd, 25, 0, ifd, 0, 1, "argsz 25");
  bind(35, cd, 4096, 0, ifd, 0, 4072, "argsz 4096, byte 4095 non-zero");
  bind(36, cd, 4096, 2, ifd, 0, 0, "argsz 4096, zero tail, flag bit 1");
  bind(37, cd, 16, 2, ifd, 0, 0, "flag bit 1");
  bind(38, cd, 16, 0x8000_0000, ifd, 0, 0, "flag bit 31");
  bind(39, cd, 16, 0, -1, 0, 0, "iommufd -1");
  bind(40, cd, 16, 0, -2, 0, 0, "iommufd -2");
  bind(41, cd, 16, 2, -1, 0, 0, "flag bit 1 and iommufd -1");
  bind(42, cd, 32, 2, -1, 0, 8, "argsz 32 non-zero tail, flag bit 1 and iommufd -1");
  bind(43, cd, 16, 0, 999, 0, 0, "iommufd 999 (not open)");
  const efd = p.eventfd(0, 0);
  bind(44, cd, 16, 0, efd, 0, 0, "eventfd");
  const c = p.open("/dev/vfio/vfio", O_RDWR);
  bind(45, cd, 16, 0, c, 0, 0, "a /dev/vfio/vfio container fd");
  bind(46, cd, 16, 0, cd, 0, 0, "the cdev itself");
  const TOKEN = VFIO_DEVICE_BIND_FLAG_TOKEN;
  bind(47, cd, 24, TOKEN, ifd, uuid, 0, "FLAG_TOKEN, nil uuid, not a PF/VF");
  bind(48, cd, 24, TOKEN, ifd, 0x10, 0, "FLAG_TOKEN, token_uuid_ptr 0x10");
  bind(49, cd, 16, TOKEN, ifd, 0, 0, "FLAG_TOKEN with argsz 16");
  bind(50, cd, 24, TOKEN, 999, uuid, 0, "FLAG_TOKEN, nil uuid, iommufd 999");
  t.after(50, kmsg());
  devInfo(51, cd, "after the failed binds");

  t.begin("group against cdev");
  let g = t.orc(52, `open(${gpath}) while the cdev is open, unbound`, () => p.open(gpath, O_RDWR));
  bind(53, cd, 16, 0, ifd, 0, 0, "while the group is open");
  bind(54, cd, 16, 0, -1, 0, 0, "iommufd -1 while the group is open");
  bind(55, cd, 16, 0, 999, 0, 0, "iommufd 999 while the group is open");
  io.close(56, g, "close(group)");

  t.begin("BIND argsz 16");
  const devid = bind(57, cd, 16, 0, ifd, 0, 0, "argsz 16");
  t.after(57, kmsg(), notEnablingDevice);
  bind(58, cd, 16, 0, ifd, 0, 0, "bound twice");
  bind(59, cd, 16, 0, 999, 0, 0, "bound twice, iommufd 999");
  bind(60, cd, 16, 2, ifd, 0, 0, "bound twice, flag bit 1");
  t.orc(61, `open(${gpath}) while the cdev is bound`, () => p.open(gpath, O_RDWR));
  const cd2 = t.orc(62, `open(${CDEV}) a second time while bound`, () => p.open(CDEV, O_RDWR));
  bind(63, cd2, 16, 0, ifd, 0, 0, "second cdev fd");
  bind(64, cd2, 16, 0, 999, 0, 0, "second cdev fd, iommufd 999");
  devInfo(65, cd2, "on the second, unbound cdev fd");
  io.close(66, cd2, "close(second cdev fd)");
  devInfo(67, cd, "after bind");
  t.skip([68], "a read of the PCI config space");
  io.hwInfo(69, ifd, devid, `IOMMU_GET_HW_INFO(dev_id=${devid}) bound, not attached`);

  t.begin("ATTACH / DETACH");
  const PASID = VFIO_DEVICE_ATTACH_PASID;
  detach(70, cd, 8, 0, 0, "when not attached");
  attach(71, cd, 12, 0, 100, 0, "pt_id 100 before any IOAS exists");
  attach(72, cd, 12, 0, devid, 0, "pt_id = the device id");
  attach(73, cd, 12, 0, 0xffffffff, 0, "pt_id UINT32_MAX");
  attach(74, cd, 12, 0, 0, 0, "pt_id 0");
  let ioas = io.ioasAlloc(75, ifd);
  attach(76, cd, 11, 0, ioas, 0, "argsz 11");
  attach(77, cd, 0, 0, ioas, 0, "argsz 0");
  attach(78, cd, 12, 2, ioas, 0, "flag bit 1");
  attach(79, cd, 12, PASID, ioas, 1, "PASID flag with argsz 12");
  attach(80, cd, 15, PASID, ioas, 1, "PASID flag with argsz 15");
  attach(81, cd, 16, PASID, ioas, 1, "PASID flag, pasid 1");
  t.after(81, kmsg());
  t.orc(82, "ATTACH_IOMMUFD_PT(NULL)", () => p.ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, 0));
  attach(83, cd, 12, 0, ioas, 0, "the IOAS, argsz 12");
  {
    const a = new Uint8Array(16);
    new DataView(a.buffer).setUint32(0, 16, true);
    new DataView(a.buffer).setUint32(8, ioas, true);
    p.poke(arg, a);
    t.call(84, `ATTACH_IOMMUFD_PT(argsz=16 pt_id=${ioas}) the IOAS again (replace)`, () =>
      p.ioctl(cd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg),
    );
    t.end(`pt_id=${new DataView(p.peek(arg, 12).buffer).getUint32(8, true)}`);
  }
  const hwpt = new DataView(p.peek(arg, 12).buffer).getUint32(8, true);
  attach(85, cd, 64, 0, ioas, 0, "the IOAS again, argsz 64");
  attach(86, cd, 12, 0, hwpt, 0, "the HWPT the IOAS attach returned");
  io.hwInfo(87, ifd, devid, `IOMMU_GET_HW_INFO(dev_id=${devid}) attached`);
  destroy(88, ioas, "IOAS while attached");
  destroy(89, hwpt, "HWPT while attached");
  const ioas2 = io.ioasAlloc(90, ifd);
  attach(91, cd, 12, 0, ioas2, 0, "a second IOAS (replace)");
  destroy(92, ioas, "first IOAS after the device moved");
  destroy(93, hwpt, "first HWPT after the device moved");
  ioas = io.ioasAlloc(94, ifd);
  const DPASID = VFIO_DEVICE_DETACH_PASID;
  detach(95, cd, 7, 0, 0, "argsz 7");
  detach(96, cd, 8, 2, 0, "flag bit 1");
  detach(97, cd, 8, DPASID, 1, "PASID flag with argsz 8");
  detach(98, cd, 12, DPASID, 1, "PASID flag, pasid 1, never attached");
  t.orc(99, "DETACH_IOMMUFD_PT(NULL)", () => p.ioctl(cd, VFIO_DEVICE_DETACH_IOMMUFD_PT, 0));
  detach(100, cd, 8, 0, 0, "argsz 8");
  detach(101, cd, 8, 0, 0, "again, not attached");
  destroy(102, ioas2, "second IOAS after detach");
  attach(103, cd, 12, 0, ioas, 0, "re-attach to a third IOAS");
  devInfo(104, cd, "attached");
  t.after(104, kmsg());

  t.begin("close and reopen");
  io.close(105, cd, "close(cdev) while attached");
  t.after(105, kmsg());
  destroy(106, ioas, "third IOAS after close");
  g = t.orc(107, `open(${gpath}) after the cdev closed`, () => p.open(gpath, O_RDWR));
  cd = t.orc(108, `open(${CDEV}) while the group is open`, () => p.open(CDEV, O_RDWR));
  bind(109, cd, 16, 0, ifd, 0, 0, "while the group is open");
  io.close(110, g, "close(group)");
  bind(111, cd, 24, 0, ifd, 0, 0, "argsz 24");
  devInfo(112, cd, "after rebind");
  io.close(113, cd, "close(cdev)");
  cd = t.orc(114, `open(${CDEV})`, () => p.open(CDEV, O_RDWR));
  bind(115, cd, 32, 0, ifd, 0, 0, "argsz 32, zero tail");
  io.close(116, cd, "close(cdev)");
  cd = t.orc(117, `open(${CDEV})`, () => p.open(CDEV, O_RDWR));
  bind(118, cd, 4096, 0, ifd, 0, 0, "argsz 4096, zero tail");
  const ifd2 = t.orc(119, "open(/dev/iommu) second context", () => p.open("/dev/iommu", O_RDWR));
  io.close(120, cd, "close(cdev)");
  cd = t.orc(121, `open(${CDEV})`, () => p.open(CDEV, O_RDWR));
  bind(122, cd, 16, 0, ifd2, 0, 0, "to a second iommufd context");
  io.close(123, ifd2, "close(second iommufd) while the device is bound to it");
  devInfo(124, cd, "after its iommufd fd closed");
  io.close(125, cd, "close(cdev)");
  t.after(125, kmsg());

  t.begin("PASID flag with pasid 0 (IOMMU_NO_PASID)");
  cd = t.orc(126, `open(${CDEV})`, () => p.open(CDEV, O_RDWR));
  bind(127, cd, 16, 0, ifd, 0, 0, "argsz 16");
  ioas = io.ioasAlloc(128, ifd);
  attach(129, cd, 16, PASID, ioas, 0, "PASID flag, pasid 0");
  attach(130, cd, 16, PASID, ioas, 0, "PASID flag, pasid 0 again (replace)");
  attach(131, cd, 12, 0, ioas, 0, "without PASID flag");
  detach(132, cd, 8, 0, 0, "without PASID flag");
  attach(133, cd, 12, 0, ioas, 0, "without PASID flag, after the plain detach");
  detach(134, cd, 12, DPASID, 0, "PASID flag, pasid 0");
  attach(135, cd, 12, 0, ioas, 0, "without PASID flag, after the PASID detach");
  detach(136, cd, 8, 0, 0, "without PASID flag");
  attach(137, cd, 16, PASID, ioas, 0, "PASID flag, pasid 0, then close");
  io.close(138, cd, "close(cdev) with pasid 0 attached");
  destroy(139, ioas, "IOAS after close");
  t.after(139, kmsg());
  return t;
}

describeReplay("the device cdev answers as Linux 7.3 (oracle-probes/vfio-cdev)", replay);
