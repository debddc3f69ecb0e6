/**
 * The model against a real Linux 7.3: replays oracle-probes/vfio-noiommu.c — unsafe no-IOMMU mode
 * (vfio.enable_unsafe_noiommu_mode=1) on the PL061, which sits behind no IOMMU: its nodes
 * /dev/vfio/noiommu-N and /dev/vfio/devices/noiommu-vfioN, the taint and log lines, the
 * no-IOMMU container backend (container.c), iommufd's compat no-IOMMU mode (vfio_compat.c), the
 * no-IOMMU cdev bound to an iommufd with IOMMU_IOAS_NOIOMMU_GET_PA, mixing with a real group,
 * CAP_SYS_RAWIO, and the parameter turned off and on at run time — with the PL061 bound to
 * vfio-amba, as on the oracle, and c030000.dma-test (IOMMU group 1, on vfio-platform with the
 * model-only vfio_platform_dmatest reset) standing for edu under vfio-pci. Every line is
 * compared with the recorded one (oracle-probes/vfio-noiommu.7.3.txt, by ORC number), vfio-amba's
 * own lines included (its DEPRECATION at the first probe, `VFIO: no reset function found!` at
 * every open, close and DEVICE_RESET), in the board's terms:
 *
 * - the fake IOMMU group is 3 where the oracle's is 2: the board's SMMU already has groups 0–2
 *   (the oracle's kernel had the PCI host bridge's 0 and edu's 1);
 * - the dynamic majors are the board's first two, 254 (vfio) and 253 (vfio-dev), where the
 *   oracle's kernel had given 254–252 away first (251 and 250 there).
 *
 * The replay helpers are vfio-core's (packages/vfio-core/test/oracle-vfio-replay.ts): this probe
 * asks the VFIO core, and lived there while vfio-core's suites ran on a stand-in bus driver.
 *
 * Skipped: ORC 001 and 006–008 (finit_module of iommu_amdv1, irqbypass, vfio_pci_core,
 * vfio_pci: not on the board), 010–011 (binding edu through /sys/bus/pci: done through
 * /sys/bus/platform); the INFO lines describing the board rather than VFIO (the kernel command
 * line, the list of IOMMU groups, the PL061's sysfs directory with its gpio-keys consumer link,
 * the PCI device). The board has no isolated MSI, so iommufd (loaded with
 * allow_unsafe_interrupts=1, as the probe loads it) warns "MSI interrupts are not secure" at
 * binds the oracle's GICv3 ITS did not need to warn about: left out on the model's side.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { iommufdModule } from "@vfio-lab/iommufd";
import {
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_NOIOMMU_GET_PA,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  iommu_ioas_noiommu_get_pa,
  iommu_vfio_ioas,
} from "@vfio-lab/iommufd/uapi";
import {
  encodeScalar,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  s32,
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_RESET,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  vfio_device_bind_iommufd,
  vfio_device_info,
  vfio_iommu_type1_dirty_bitmap,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
} from "@vfio-lab/kernel";
import { vfioIommuType1Module, vfioModule } from "@vfio-lab/vfio-core";
import {
  boardMajors,
  describeReplay,
  hex,
  info,
  ls,
  notMsiWarning,
  ProbeCalls,
  type Replay,
  showFile,
  showLink,
  startReplay,
  statNode,
  writeFile,
} from "../../../vfio-core/test/oracle-vfio-replay.js";
import {
  VFIO_AMBA,
  vfioAmbaModule,
  vfioPlatformBaseModule,
  vfioPlatformDmatestModule,
  vfioPlatformModule,
} from "../../src/index.js";
import { assign, DMA_TEST, sysfsIommuGroupGet } from "./fixture.js";

const DEV = "9030000.pl061";
const SYSDEV = `/sys/bus/amba/devices/${DEV}`;
const PARAM = "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode";
const PS = PAGE_SIZE;

/** The oracle's names in the board's terms (see the file header). */
function boardTerms(l: string): string {
  return boardMajors(l)
    .replaceAll("noiommu-2", "noiommu-3")
    .replace("iommu group 2", "iommu group 3")
    .replace("iommu_groups/2", "iommu_groups/3")
    .replace("iommu_group=2", "iommu_group=3");
}

function replay(): Replay {
  const { t, kernel, p } = startReplay("vfio-noiommu.7.3.txt", { subst: boardTerms });
  const sb = p.malloc(PS);
  const arg = p.malloc(PS);
  const name = p.malloc(PS);
  const ranges = p.malloc(PS);
  const io = new ProbeCalls(t, p, arg, name);
  /** orc_kmsg(), the process id shown as the probe's PID, the board's MSI warning left out. */
  const kmsg = () =>
    t
      .kmsg()
      .filter(notMsiWarning)
      .map((l) => l.replace(`(probe:${p.pid})`, "(probe:PID)"));
  const tainted = () => info(`tainted = ${p.readFile("/proc/sys/kernel/tainted").trim()}`);
  const containerIoctls = (n: number, c: number, what: string) => {
    p.poke(sb, new Uint8Array(256));
    p.poke(sb, encodeScalar(s32, 120));
    t.orc(n, `${what} IOMMU_GET_INFO`, () => p.ioctl(c, VFIO_IOMMU_GET_INFO, sb));
    const m = vfio_iommu_type1_dma_map.encode({
      argsz: vfio_iommu_type1_dma_map.size,
      flags: 3,
      vaddr: BigInt(sb),
      iova: 1n << 32n,
      size: BigInt(PS),
    });
    p.poke(arg, m);
    t.orc(n + 1, `${what} IOMMU_MAP_DMA`, () => p.ioctl(c, VFIO_IOMMU_MAP_DMA, arg));
    const u = vfio_iommu_type1_dma_unmap.encode({
      argsz: vfio_iommu_type1_dma_unmap.size,
      flags: 0,
      iova: 1n << 32n,
      size: BigInt(PS),
    });
    p.poke(arg, u);
    t.orc(n + 2, `${what} IOMMU_UNMAP_DMA`, () => p.ioctl(c, VFIO_IOMMU_UNMAP_DMA, arg));
    const size = vfio_iommu_type1_dirty_bitmap.size;
    p.poke(arg, vfio_iommu_type1_dirty_bitmap.encode({ argsz: size, flags: 1 }));
    t.orc(n + 3, `${what} IOMMU_DIRTY_PAGES`, () => p.ioctl(c, VFIO_IOMMU_DIRTY_PAGES, arg));
    t.orc(n + 4, `${what} ioctl 0x1234`, () => p.ioctl(c, 0x1234));
  };
  const devInfo = (n: number, d: number, why: string) => {
    p.poke(arg, vfio_device_info.encode({ argsz: vfio_device_info.size }));
    t.call(n, `DEVICE_GET_INFO ${why}`, () => p.ioctl(d, VFIO_DEVICE_GET_INFO, arg));
    const di = vfio_device_info.decode(p.peek(arg, vfio_device_info.size));
    t.end(`flags=${hex(di.flags)} num_regions=${di.num_regions} num_irqs=${di.num_irqs}`);
  };
  const vfioIoasSet = (n: number, ifd: number, ioas: number, why: string) => {
    const size = iommu_vfio_ioas.size;
    p.poke(arg, iommu_vfio_ioas.encode({ size, op: IOMMU_VFIO_IOAS_SET, ioas_id: ioas }));
    t.orc(n, `IOMMU_VFIO_IOAS(SET ${ioas}) ${why}`, () => p.ioctl(ifd, IOMMU_VFIO_IOAS, arg));
  };
  const getPa = (
    n: number,
    ifd: number,
    ioas: number,
    iova: bigint,
    length: bigint,
    flags: number,
    why: string,
  ) => {
    const size = iommu_ioas_noiommu_get_pa.size;
    p.poke(arg, iommu_ioas_noiommu_get_pa.encode({ size, flags, ioas_id: ioas, iova, length }));
    t.call(
      n,
      `IOAS_NOIOMMU_GET_PA(ioas=${ioas} iova=${hex(iova)} length=${hex(length)} flags=${hex(flags)}) ${why}`,
      () => p.ioctl(ifd, IOMMU_IOAS_NOIOMMU_GET_PA, arg),
    );
    const q = iommu_ioas_noiommu_get_pa.decode(p.peek(arg, size));
    const phys = q.out_phys;
    const where =
      phys >= 0x4000_0000n && phys < 0x8000_0000n ? "in RAM" : phys ? "outside RAM" : "0";
    t.end(`length=${hex(q.length)} out_phys ${where}, page offset ${hex(phys & BigInt(PS - 1))}`);
  };

  t.begin("boot state");
  t.after("boot state", [tainted()], (l) => l.startsWith("INFO tainted"));

  t.begin("load vfio (enable_unsafe_noiommu_mode=1), vfio_amba, vfio_pci, vfio_iommu_type1");
  t.skip([1, 6, 7, 8], "iommu_amdv1 and vfio-pci's modules: not on the board");
  t.orc(2, 'finit_module(iommufd, "allow_unsafe_interrupts=1")', () => {
    kernel.modprobe(iommufdModule, { allow_unsafe_interrupts: true });
    return 0;
  });
  t.orc(3, 'finit_module(vfio, "enable_unsafe_noiommu_mode=1")', () => {
    kernel.modprobe(vfioModule, { enable_unsafe_noiommu_mode: true });
    // modprobe(8) follows the soft dependency; the probe loads type1 itself (ORC 009).
    kernel.rmmod("vfio_iommu_type1");
    return 0;
  });
  t.orc(4, 'finit_module(vfio_platform_base, "")', () => {
    kernel.modprobe(vfioPlatformBaseModule);
    return 0;
  });
  t.orc(5, 'finit_module(vfio_amba, "")', () => {
    kernel.modprobe(vfioAmbaModule);
    return 0;
  });
  t.orc(9, 'finit_module(vfio_iommu_type1, "allow_unsafe_interrupts=1")', () => {
    kernel.modprobe(vfioIommuType1Module, { allow_unsafe_interrupts: true });
    return 0;
  });
  // edu's stand-in needs a bus driver as well: vfio-platform, its reset module installed.
  kernel.modules.register(vfioPlatformDmatestModule);
  kernel.modprobe(vfioPlatformModule);
  t.after(9, [
    ...kmsg(),
    showFile(p, PARAM),
    showFile(p, "/sys/module/iommufd/parameters/allow_unsafe_interrupts"),
    showFile(p, "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"),
    tainted(),
  ]);
  t.skip([10, 11], "vfio-pci binds edu through /sys/bus/pci: the replay binds through platform");
  assign(p, DMA_TEST);
  const gpath = `/dev/vfio/${sysfsIommuGroupGet(p, DMA_TEST)}`;
  t.after(11, [...kmsg(), tainted()], (l) => !l.startsWith("INFO pci "));

  t.begin("bind the PL061 to vfio-amba");
  const dir = SYSDEV;
  t.orc(12, `write("${dir}/driver_override", "${VFIO_AMBA}")`, () =>
    writeFile(p, `${dir}/driver_override`, VFIO_AMBA),
  );
  t.orc(13, `write("${dir}/driver/unbind", "${DEV}")`, () =>
    writeFile(p, `${dir}/driver/unbind`, DEV),
  );
  t.orc(14, `write("/sys/bus/amba/drivers_probe", "${DEV}")`, () =>
    writeFile(p, "/sys/bus/amba/drivers_probe", DEV),
  );
  const ng = p.readlink(`${SYSDEV}/iommu_group`).split("/").pop()!;
  const driver = p.readlink(`${SYSDEV}/driver`).split("/").pop()!;
  const npath = `/dev/vfio/noiommu-${ng}`;
  const cname = p.readdir(`${SYSDEV}/vfio-dev`).find((e) => !e.startsWith("."))!;
  const cdev = `/dev/vfio/devices/${cname}`;
  t.after(
    14,
    [
      info(`amba ${DEV}: driver=${driver} iommu_group=${ng}`),
      ...kmsg(),
      tainted(),
      ls(p, "/dev/vfio"),
      ls(p, "/dev/vfio/devices"),
      statNode(p, npath),
      ls(p, "/sys/class/vfio"),
      showLink(p, `/sys/class/vfio/noiommu-${ng}`),
      showFile(p, `/sys/class/vfio/noiommu-${ng}/dev`),
      showFile(p, `/sys/class/vfio/noiommu-${ng}/uevent`),
      ls(p, `/sys/kernel/iommu_groups/${ng}`),
      showFile(p, `/sys/kernel/iommu_groups/${ng}/name`),
      showFile(p, `/sys/kernel/iommu_groups/${ng}/type`),
      showFile(p, `/sys/kernel/iommu_groups/${ng}/reserved_regions`),
      showLink(p, `${SYSDEV}/iommu_group`),
      ls(p, `${SYSDEV}/vfio-dev`),
      ls(p, "/sys/class/vfio-dev"),
      statNode(p, cdev),
      showLink(p, `/sys/class/vfio-dev/${cname}`),
      showFile(p, `/sys/class/vfio-dev/${cname}/dev`),
      showFile(p, `/sys/class/vfio-dev/${cname}/uevent`),
    ],
    (l) =>
      !l.startsWith("INFO ls /sys/kernel/iommu_groups: ") && !l.startsWith(`INFO ls ${SYSDEV}: `),
  );

  t.begin("noiommu group with the legacy container");
  let c = t.orc(15, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
  t.after(15, [io.checks(c, "no group")]);
  let g = t.orc(16, `open(${npath})`, () => p.open(npath, O_RDWR));
  t.orc(17, `open(${npath}) again`, () => p.open(npath, O_RDWR));
  io.groupStatus(18, g, "before SET_CONTAINER");
  io.getDeviceFd(19, g, DEV, "GROUP_GET_DEVICE_FD before SET_CONTAINER");
  io.setContainer(20, g, c, "GROUP_SET_CONTAINER(container)");
  io.groupStatus(21, g, "after SET_CONTAINER");
  t.after(21, [io.checks(c, "noiommu group attached")]);
  io.getDeviceFd(22, g, DEV, "GROUP_GET_DEVICE_FD before SET_IOMMU");
  containerIoctls(23, c, "container before SET_IOMMU");
  let eg = t.orc(28, `open(${gpath}) (edu, real group)`, () => p.open(gpath, O_RDWR));
  io.setContainer(29, eg, c, "edu GROUP_SET_CONTAINER(noiommu container)");
  t.orc(30, "SET_IOMMU(TYPE1v2)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  t.orc(31, "SET_IOMMU(TYPE1)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
  t.orc(32, "SET_IOMMU(99)", () => p.ioctl(c, VFIO_SET_IOMMU, 99));
  t.orc(33, "SET_IOMMU(NOIOMMU)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  t.orc(34, "SET_IOMMU(NOIOMMU) again", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  t.after(34, [io.checks(c, "after SET_IOMMU(NOIOMMU)")]);
  containerIoctls(35, c, "noiommu container");
  io.setContainer(40, eg, c, "edu GROUP_SET_CONTAINER(noiommu container) after SET_IOMMU");
  t.after(40, kmsg());
  let d = io.getDeviceFd(41, g, DEV, "GROUP_GET_DEVICE_FD");
  t.after(41, kmsg());
  const d2 = io.getDeviceFd(42, g, DEV, "GROUP_GET_DEVICE_FD second");
  t.after(42, kmsg());
  devInfo(43, d, "");
  t.orc(44, "GROUP_UNSET_CONTAINER with device fds open", () =>
    p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER),
  );
  p.close(d2);
  io.close(45, d, "close(device)");
  t.after(45, kmsg());
  t.orc(46, "GROUP_UNSET_CONTAINER", () => p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
  t.after(46, [io.checks(c, "after UNSET_CONTAINER")]);
  io.setContainer(47, eg, c, "edu GROUP_SET_CONTAINER(the emptied container)");
  io.setContainer(48, g, c, "noiommu GROUP_SET_CONTAINER(container holding the edu group)");
  t.orc(49, "SET_IOMMU(NOIOMMU) with the edu group", () =>
    p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU),
  );
  t.orc(50, "SET_IOMMU(TYPE1v2) with the edu group", () =>
    p.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
  );
  io.setContainer(51, g, c, "noiommu GROUP_SET_CONTAINER(type1 container)");
  io.close(52, eg, "close(edu group)");
  io.close(53, c, "close(container)");

  t.begin("noiommu group with iommufd (compat no-iommu mode)");
  let ifd = t.orc(54, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));
  t.after(54, [io.checks(ifd, "iommufd before SET_CONTAINER")]);
  io.setContainer(55, g, ifd, "GROUP_SET_CONTAINER(iommufd)");
  io.groupStatus(56, g, "after SET_CONTAINER(iommufd)");
  t.after(56, [io.checks(ifd, "iommufd in no-iommu mode")]);
  t.orc(57, "iommufd SET_IOMMU(TYPE1v2)", () => p.ioctl(ifd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  t.orc(58, "iommufd SET_IOMMU(NOIOMMU)", () => p.ioctl(ifd, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  containerIoctls(59, ifd, "iommufd in no-iommu mode");
  eg = t.orc(64, `open(${gpath}) (edu)`, () => p.open(gpath, O_RDWR));
  io.setContainer(65, eg, ifd, "edu GROUP_SET_CONTAINER(iommufd in no-iommu mode)");
  io.close(66, eg, "close(edu group)");
  d = io.getDeviceFd(67, g, DEV, "GROUP_GET_DEVICE_FD via iommufd");
  t.after(67, kmsg());
  devInfo(68, d, "via iommufd");
  p.poke(arg, iommu_vfio_ioas.encode({ size: iommu_vfio_ioas.size, op: IOMMU_VFIO_IOAS_GET }));
  t.call(69, "IOMMU_VFIO_IOAS(GET)", () => p.ioctl(ifd, IOMMU_VFIO_IOAS, arg));
  t.end(`ioas_id=${iommu_vfio_ioas.decode(p.peek(arg, iommu_vfio_ioas.size)).ioas_id}`);
  io.close(70, d, "close(device)");
  let ioas = io.ioasAlloc(71, ifd);
  vfioIoasSet(72, ifd, ioas, "in no-iommu mode");
  io.getDeviceFd(73, g, DEV, "GROUP_GET_DEVICE_FD with a compat IOAS set");
  t.orc(74, "GROUP_UNSET_CONTAINER", () => p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
  io.close(75, ifd, "close(iommufd)");
  ifd = t.orc(76, "open(/dev/iommu) fresh", () => p.open("/dev/iommu", O_RDWR));
  ioas = io.ioasAlloc(77, ifd);
  vfioIoasSet(78, ifd, ioas, "before any group");
  io.setContainer(79, g, ifd, "GROUP_SET_CONTAINER(iommufd with a compat IOAS)");
  io.close(80, g, "close(noiommu group)");
  t.after(80, kmsg());

  t.begin("noiommu cdev");
  let cd = t.orc(81, `open(${cdev})`, () => p.open(cdev, O_RDWR));
  t.after(81, kmsg());
  t.orc(82, "DEVICE_GET_INFO before BIND", () => p.ioctl(cd, VFIO_DEVICE_GET_INFO, sb));
  g = t.orc(83, `open(${npath}) with the cdev open, unbound`, () => p.open(npath, O_RDWR));
  // The probe prints out_devid only after a bind that succeeded.
  p.poke(
    arg,
    vfio_device_bind_iommufd.encode({ argsz: vfio_device_bind_iommufd.size, iommufd: ifd }),
  );
  t.orc(84, "BIND_IOMMUFD while the group is open", () =>
    p.ioctl(cd, VFIO_DEVICE_BIND_IOMMUFD, arg),
  );
  io.close(85, g, "close(group)");
  let ifd2 = t.orc(86, "open(/dev/iommu) second", () => p.open("/dev/iommu", O_RDWR));
  const devid = io.bindIommufd(87, cd, ifd2, "BIND_IOMMUFD");
  t.after(87, kmsg());
  t.orc(88, `open(${npath}) while the cdev is bound`, () => p.open(npath, O_RDWR));
  devInfo(89, cd, "after BIND");
  io.hwInfo(90, ifd2, devid, `IOMMU_GET_HW_INFO(dev_id=${devid})`);
  const ia = io.ioasAlloc(91, ifd2);
  const iovaRanges = (n: number, desc: string, two: boolean) => {
    const size = iommu_ioas_iova_ranges.size;
    p.poke(
      arg,
      iommu_ioas_iova_ranges.encode({
        size,
        ioas_id: ia,
        num_iovas: 4,
        allowed_iovas: BigInt(ranges),
      }),
    );
    t.call(n, desc, () => p.ioctl(ifd2, IOMMU_IOAS_IOVA_RANGES, arg));
    const q = iommu_ioas_iova_ranges.decode(p.peek(arg, size));
    const r = new DataView(p.peek(ranges, 32).buffer);
    const range = (k: number) =>
      `[${hex(r.getBigUint64(16 * k, true))},${hex(r.getBigUint64(16 * k + 8, true))}]`;
    const head = `num=${q.num_iovas} align=${hex(q.out_iova_alignment)} r0=${range(0)}`;
    t.end(two ? `${head} r1=${range(1)}` : head);
  };
  p.poke(ranges, new Uint8Array(64));
  iovaRanges(92, "IOMMU_IOAS_IOVA_RANGES before attach", false);
  io.attachPt(93, cd, ia, `ATTACH_IOMMUFD_PT(ioas ${ia})`);
  t.after(93, kmsg());
  iovaRanges(94, "IOMMU_IOAS_IOVA_RANGES after attach", true);
  // Where the oracle's mmap() put its buffer matters twice. iommufd aligns the IOVA it picks as
  // the user address is aligned (iopt_alloc_iova()): the oracle got 0x1000, so its address was
  // an odd multiple of 4 KiB, as BUF is. And NOIOMMU_GET_PA reports a physically contiguous run:
  // the oracle's four pages were not contiguous (Linux hands out pages from per-CPU lists), so
  // the pages are faulted in last first, which the board's allocator answers with descending
  // frames.
  const BUF = 0x3000_1000;
  const buf = p.mmap(
    BUF,
    4 * PS,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
    -1,
    0,
  );
  for (let i = 3; i >= 0; i--) p.poke(buf + i * PS, [0]); // MAP_POPULATE
  const ioasMap = (n: number, desc: string, flags: number, iova: bigint) => {
    const size = iommu_ioas_map.size;
    p.poke(
      arg,
      iommu_ioas_map.encode({
        size,
        flags,
        ioas_id: ia,
        user_va: BigInt(buf),
        length: BigInt(4 * PS),
        iova,
      }),
    );
    t.call(n, desc, () => p.ioctl(ifd2, IOMMU_IOAS_MAP, arg));
    t.end(`iova=${hex(iommu_ioas_map.decode(p.peek(arg, size)).iova)}`);
  };
  const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  ioasMap(
    95,
    "IOMMU_IOAS_MAP(4 pages at iova 1<<32, FIXED_IOVA)",
    RW | IOMMU_IOAS_MAP_FIXED_IOVA,
    1n << 32n,
  );
  ioasMap(96, "IOMMU_IOAS_MAP(4 pages, kernel-chosen iova)", RW, 0n);
  const U64_MAX = (1n << 64n) - 1n;
  const I = 1n << 32n;
  const P = BigInt(PS);
  getPa(97, ifd2, ia, I, 4n * P, 0, "mapped");
  getPa(98, ifd2, ia, I + 0x80n, P, 0, "+0x80, length one page");
  getPa(99, ifd2, ia, I, 0n, 0, "length 0");
  getPa(100, ifd2, ia, I, U64_MAX, 0, "length UINT64_MAX");
  getPa(101, ifd2, ia, 1n << 40n, P, 0, "unmapped iova");
  getPa(102, ifd2, ia, I, P, 1, "flags 1");
  getPa(103, ifd2, ia, U64_MAX, P, 0, "iova UINT64_MAX");
  getPa(104, ifd2, 999, I, P, 0, "ioas 999");
  getPa(105, ifd2, devid, I, P, 0, "ioas = device id");
  getPa(106, ifd, ioas, I, P, 0, "another context's IOAS without mappings");
  t.orc(107, "DEVICE_RESET", () => p.ioctl(cd, VFIO_DEVICE_RESET));
  io.detachPt(108, cd, "DETACH_IOMMUFD_PT");
  io.attachPt(109, cd, ia, `ATTACH_IOMMUFD_PT(ioas ${ia}) again`);
  io.close(110, cd, "close(cdev)");
  t.after(110, kmsg());

  t.begin("without CAP_SYS_RAWIO");
  c = t.orc(111, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
  g = t.orc(112, `open(${npath}) (with RAWIO)`, () => p.open(npath, O_RDWR));
  io.capset(113, "CAP_SYS_RAWIO", false);
  t.orc(114, `open(${npath}) while the group is open`, () => p.open(npath, O_RDWR));
  t.orc(115, `open(${cdev})`, () => p.open(cdev, O_RDWR));
  io.setContainer(116, g, c, "GROUP_SET_CONTAINER(container)");
  io.capset(117, "CAP_SYS_RAWIO", true);
  io.setContainer(118, g, c, "GROUP_SET_CONTAINER(container) with RAWIO");
  io.capset(119, "CAP_SYS_RAWIO", false);
  t.orc(120, "SET_IOMMU(NOIOMMU)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  t.orc(121, "CHECK_EXTENSION(NOIOMMU)", () =>
    p.ioctl(c, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU),
  );
  io.capset(122, "CAP_SYS_RAWIO", true);
  t.orc(123, "SET_IOMMU(NOIOMMU) with RAWIO", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  io.capset(124, "CAP_SYS_RAWIO", false);
  io.getDeviceFd(125, g, DEV, "GROUP_GET_DEVICE_FD");
  t.orc(126, "GROUP_UNSET_CONTAINER", () => p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
  ifd2 = t.orc(127, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));
  io.setContainer(128, g, ifd2, "GROUP_SET_CONTAINER(iommufd)");
  t.orc(129, "iommufd SET_IOMMU(NOIOMMU)", () => p.ioctl(ifd2, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  io.getDeviceFd(130, g, DEV, "GROUP_GET_DEVICE_FD via iommufd");
  getPa(131, ifd2, 1, 0n, P, 0, "without RAWIO");
  io.capset(132, "CAP_SYS_RAWIO", true);
  io.close(133, g, "close(group)");
  io.close(134, c, "close(container)");
  t.after(134, kmsg());

  t.begin("enable_unsafe_noiommu_mode written to 0 at run time");
  t.orc(135, `write("${PARAM}", "0")`, () => writeFile(p, PARAM, "0"));
  t.after(135, [showFile(p, PARAM), ls(p, "/dev/vfio"), ls(p, "/dev/vfio/devices")]);
  c = t.orc(136, "open(/dev/vfio/vfio)", () => p.open("/dev/vfio/vfio", O_RDWR));
  t.after(136, [io.checks(c, "parameter off, no group")]);
  g = t.orc(137, `open(${npath})`, () => p.open(npath, O_RDWR));
  io.setContainer(138, g, c, "GROUP_SET_CONTAINER(container)");
  t.after(138, [io.checks(c, "parameter off, noiommu group attached")]);
  t.orc(139, "SET_IOMMU(NOIOMMU)", () => p.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  t.orc(140, "GROUP_UNSET_CONTAINER", () => p.ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
  const ifd3 = t.orc(141, "open(/dev/iommu)", () => p.open("/dev/iommu", O_RDWR));
  io.setContainer(142, g, ifd3, "GROUP_SET_CONTAINER(iommufd)");
  t.after(142, [io.checks(ifd3, "parameter off, iommufd in no-iommu mode")]);
  d = io.getDeviceFd(143, g, DEV, "GROUP_GET_DEVICE_FD via iommufd");
  t.after(143, kmsg());
  p.close(d);
  io.close(144, g, "close(group)");
  cd = t.orc(145, `open(${cdev})`, () => p.open(cdev, O_RDWR));
  io.bindIommufd(146, cd, ifd3, "BIND_IOMMUFD");
  io.close(147, cd, "close(cdev)");
  t.after(147, [tainted(), ...kmsg()]);

  t.begin("rebind with the parameter off");
  t.orc(148, `write("${SYSDEV}/driver/unbind", "${DEV}")`, () =>
    writeFile(p, `${SYSDEV}/driver/unbind`, DEV),
  );
  t.after(148, [...kmsg(), ls(p, "/dev/vfio")], (l) => !l.startsWith("INFO ls /sys/kernel"));
  t.orc(149, `write("/sys/bus/amba/drivers_probe", "${DEV}")`, () =>
    writeFile(p, "/sys/bus/amba/drivers_probe", DEV),
  );
  const bindFile = `/sys/bus/amba/drivers/${VFIO_AMBA}/bind`;
  t.orc(150, `write("${bindFile}", "${DEV}")`, () => writeFile(p, bindFile, DEV));
  let drv = "(none)";
  try {
    drv = p.readlink(`${SYSDEV}/driver`).split("/").pop()!;
  } catch {}
  t.after(150, [info(`driver=${drv}`), ...kmsg(), ls(p, "/dev/vfio"), tainted()]);
  t.orc(151, `write("${PARAM}", "1")`, () => writeFile(p, PARAM, "1"));
  t.orc(152, `write("${bindFile}", "${DEV}")`, () => writeFile(p, bindFile, DEV));
  t.after(152, [...kmsg(), ls(p, "/dev/vfio"), ls(p, "/dev/vfio/devices"), tainted()]);
  return t;
}

describeReplay("unsafe no-IOMMU mode answers as Linux 7.3 (oracle-probes/vfio-noiommu)", replay);
