/**
 * tools/testing/selftests/iommu/iommufd_fail_nth.c, on the model: each scenario runs once
 * untouched and then with the n-th fault-injection site failing, for every n it reaches. Every
 * failure must come back as a Linux errno, and after the processes exit nothing may be left:
 * no iommufd context, no page pin, no locked_vm, every group back in its default domain.
 *
 * The scenarios are the kernel test's (basic, map_domain, map_file_domain, map_two_domains,
 * access_rw, access_pin, device), with the board's devices in place of the mock domain.
 */

import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { Kernel, MFD_CLOEXEC, O_RDWR, type Process } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import {
  iommufdAccessAttach,
  iommufdAccessCreate,
  iommufdAccessDestroy,
  iommufdAccessPinPages,
  iommufdAccessRw,
  iommufdAccessUnpinPages,
} from "../src/access.js";
import {
  type IommufdDevice,
  iommufdDeviceAttach,
  iommufdDeviceBind,
  iommufdDeviceDetach,
  iommufdDeviceReplace,
  iommufdDeviceUnbind,
} from "../src/device.js";
import { IommuFd } from "../src/iommu-fd.js";
import { type IommufdCtx, iommufdModule } from "../src/main.js";
import { sweepFailNth } from "../src/testing/fail-nth.js";
import { IOMMU_HW_INFO_TYPE_ARM_SMMUV3, IOMMUFD_ACCESS_RW_WRITE } from "../src/uapi.js";

const DMAT0 = { bus: "platform", name: "c030000.dma-test" } as const;
const XGMAC = { bus: "platform", name: "c010000.ethernet" } as const;

interface World {
  readonly kernel: Kernel;
  readonly p: Process;
  readonly processes: readonly Process[];
}

function boot(): World {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  const kernel = Kernel.boot(soc, { cmdline: "iommufd.allow_unsafe_interrupts=1" });
  kernel.modprobe(iommufdModule);
  const p = kernel.spawn({ comm: "fail_nth" });
  for (const d of [DMAT0, XGMAC])
    p.writeFile(`/sys/bus/${d.bus}/devices/${d.name}/driver/unbind`, d.name);
  return { kernel, p, processes: [p] };
}

function ictxOf(w: World, iommu: IommuFd): IommufdCtx {
  const file = w.p.fget(iommu.fd)!;
  w.kernel.vfs.fput(file);
  return file.privateData as IommufdCtx;
}

function dev(w: World, d: { bus: string; name: string }) {
  return w.kernel.drivers.findDevice(d.bus, d.name)!;
}

const BUFFER = 16 * PAGE_SIZE;

/** What VFIO does on close (vfio_iommufd_physical_unbind()): detach if attached, then unbind. */
function release(idev: IommufdDevice, attached: boolean): void {
  if (attached) iommufdDeviceDetach(idev, 0);
  iommufdDeviceUnbind(idev);
}

describe("iommufd_fail_nth", () => {
  it("basic: IOAS alloc, IOVA_RANGES, ALLOW_IOVAS, MAP, COPY, UNMAP", () => {
    const report = sweepFailNth({
      setup: boot,
      run(w) {
        const iommu = IommuFd.open(w.p);
        const buf = w.p.malloc(BUFFER);
        const ioas = iommu.ioasAlloc();
        iommu.iovaRanges(ioas);
        iommu.allowIovas(ioas, [{ start: 0x100000n, last: 0x1fffffn }]);
        const iova = iommu.map(ioas, buf, BUFFER);
        const ioas2 = iommu.ioasAlloc();
        iommu.copy(ioas2, ioas, iova, BUFFER);
        iommu.unmap(ioas, iova, BUFFER);
        iommu.unmapAll(ioas2);
        iommu.close();
      },
    });
    expect(report.runs.length).toBeGreaterThan(5);
  });

  it("map_domain: MAP and UNMAP with a device attached (pins, SMMU page tables)", () => {
    const report = sweepFailNth({
      setup: boot,
      run(w) {
        const iommu = IommuFd.open(w.p);
        const buf = w.p.malloc(BUFFER);
        w.p.poke(buf, [1]);
        const ioas = iommu.ioasAlloc();
        const idev = iommufdDeviceBind(ictxOf(w, iommu), dev(w, DMAT0));
        let attached = false;
        try {
          iommufdDeviceAttach(idev, 0, ioas);
          attached = true;
          const iova = iommu.map(ioas, buf, BUFFER);
          iommu.map(ioas, buf, PAGE_SIZE);
          iommu.unmap(ioas, iova, BUFFER);
        } finally {
          release(idev, attached);
        }
        iommu.close();
      },
    });
    expect(report.sites).toContain("pfn_reader_user_pin");
  });

  it("map_file_domain: MAP_FILE of a memfd with a device attached", () => {
    sweepFailNth({
      setup: boot,
      run(w) {
        const iommu = IommuFd.open(w.p);
        const mfd = w.p.memfdCreate("buffer", MFD_CLOEXEC);
        w.p.ftruncate(mfd, BUFFER);
        const ioas = iommu.ioasAlloc();
        const idev = iommufdDeviceBind(ictxOf(w, iommu), dev(w, DMAT0));
        let attached = false;
        try {
          iommufdDeviceAttach(idev, 0, ioas);
          attached = true;
          const iova = iommu.mapFile(ioas, mfd, 0, BUFFER);
          iommu.unmap(ioas, iova, BUFFER);
        } finally {
          release(idev, attached);
        }
        iommu.close();
        w.p.close(mfd);
      },
    });
  });

  it("map_two_domains: a mapping filled into two SMMU domains", () => {
    sweepFailNth({
      setup: boot,
      run(w) {
        const iommu = IommuFd.open(w.p);
        const buf = w.p.malloc(BUFFER);
        const ioas = iommu.ioasAlloc();
        const ictx = ictxOf(w, iommu);
        const a = iommufdDeviceBind(ictx, dev(w, DMAT0));
        let aAttached = false;
        let bAttached = false;
        let b: IommufdDevice | null = null;
        try {
          b = iommufdDeviceBind(ictx, dev(w, XGMAC));
          iommufdDeviceAttach(a, 0, ioas);
          aAttached = true;
          // A second, manually allocated HWPT on the same IOAS: the IOAS now has two domains.
          const hwpt = iommu.hwptAlloc(b.id, ioas);
          iommufdDeviceAttach(b, 0, hwpt);
          bAttached = true;
          const iova = iommu.map(ioas, buf, BUFFER);
          iommu.unmap(ioas, iova, BUFFER);
        } finally {
          if (b) release(b, bAttached);
          release(a, aAttached);
        }
        iommu.close();
      },
    });
  });

  it("access_rw and access_pin: an emulated device reading, writing and pinning", () => {
    sweepFailNth({
      setup: boot,
      run(w) {
        const iommu = IommuFd.open(w.p);
        const buf = w.p.malloc(BUFFER);
        const ioas = iommu.ioasAlloc();
        const iova = iommu.map(ioas, buf, BUFFER);
        const pinned: { iova: bigint; length: bigint }[] = [];
        const access = iommufdAccessCreate(
          ictxOf(w, iommu),
          {
            needsPinPages: true,
            unmap(_data, _iova, _length) {
              for (const r of pinned.splice(0)) iommufdAccessUnpinPages(access, r.iova, r.length);
            },
          },
          null,
        );
        try {
          iommufdAccessAttach(access, ioas);
          const data = new Uint8Array(100).fill(0x5a);
          iommufdAccessRw(access, iova + 4000n, data, IOMMUFD_ACCESS_RW_WRITE);
          iommufdAccessRw(access, iova + 4000n, new Uint8Array(100), 0);
          const pfns: number[] = [];
          iommufdAccessPinPages(access, iova, BigInt(2 * PAGE_SIZE), pfns, IOMMUFD_ACCESS_RW_WRITE);
          pinned.push({ iova, length: BigInt(2 * PAGE_SIZE) });
          iommu.unmap(ioas, iova, BUFFER);
        } finally {
          iommufdAccessDestroy(access);
        }
        iommu.close();
      },
    });
  });

  it("device: bind, GET_HW_INFO, HWPT_ALLOC, attach, replace", () => {
    sweepFailNth({
      setup: boot,
      run(w) {
        const iommu = IommuFd.open(w.p);
        const ioas = iommu.ioasAlloc();
        const ioas2 = iommu.ioasAlloc();
        const idev = iommufdDeviceBind(ictxOf(w, iommu), dev(w, DMAT0));
        let attached = false;
        try {
          const info = iommu.getHwInfo(idev.id);
          if (info.outDataType !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) throw new Error("hw info type");
          const hwpt = iommu.hwptAlloc(idev.id, ioas);
          iommufdDeviceAttach(idev, 0, ioas);
          attached = true;
          iommufdDeviceReplace(idev, 0, hwpt);
          iommufdDeviceReplace(idev, 0, ioas2);
        } finally {
          release(idev, attached);
        }
        iommu.close();
      },
    });
  });

  it("reports a scenario that fails without injection", () => {
    expect(() =>
      sweepFailNth({
        setup: boot,
        run(w) {
          const fd = w.p.open("/dev/iommu", O_RDWR);
          w.p.close(fd);
          w.p.close(fd);
        },
      }),
    ).toThrow(/fails without injection: EBADF/);
  });
});
