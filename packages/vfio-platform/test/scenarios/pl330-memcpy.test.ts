/**
 * The PL330 behind the SMMU, driven from user space through vfio-amba (design §4.1): the DMAC
 * (c000000.dma, AMBA, IOMMU group 2, nine level IRQs: index 0 `abort`, 1..8 `irq0`..`irq7`) is
 * taken from dma-pl330, opened by a VMM over (i) the legacy container with type1 MAP_DMA and
 * (ii) an iommufd cdev with IOMMU_IOAS_MAP, and made to copy memory: microcode, source and
 * destination all in guest RAM mapped at IOVA 0x1000_0000 (the PL330 addresses 32 bits), the
 * channel started with DMAGO through the debug registers, the completion arriving on the
 * eventfd of IRQ index 1 (event 0), acknowledged with INTCLR and unmasked through a virqfd.
 *
 * Then a copy to an IOVA nobody mapped: the SMMU reports the translation fault (event 0x10,
 * F_TRANSLATION, client c000000.dma, sid 0x10), the channel faults (CS 0xf, FTR data_write_err),
 * `abort` fires and `irq0` does not, and not one byte of guest RAM — nor of a page the VMM
 * never mapped for DMA — changed. DMAKILL takes the channel out of Faulting and the DMAC works
 * again.
 */

import { PL330_FAULT } from "@vfio-lab/hw-soc";
import { IommuFd } from "@vfio-lab/iommufd";
import {
  VFIO_DEVICE_FLAGS_AMBA,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  VFIO_TYPE1v2_IOMMU,
} from "@vfio-lab/kernel/uapi";
import { VfioContainer, VfioDevice, VfioGroup } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import { VFIO_AMBA } from "../../src/vfio-amba.js";
import {
  type AccessPath,
  assignToDriver,
  bootLab,
  cdevPath,
  DEV,
  dmesgOf,
  dmesgText,
  driverOf,
  firstDifference,
  interruptRows,
  ls,
  PL330_CS,
  Pl330User,
  pattern,
  pl330StartMemcpy,
  Vmm,
} from "./fixture.js";

const GUEST_IOVA = 0x1000_0000n;
const RAM_SIZE = 0x10_0000;
/** Guest RAM layout: microcode, then source and destination buffers. */
const MCODE = 0x0;
const SRC = 0x1_0000;
const DST = 0x2_0000;
const LEN = 0x1000;

const DEPRECATION =
  "vfio-amba c000000.dma: DEPRECATION: vfio-amba is deprecated and will be removed in a future kernel release";

/** A lab with dma-pl330 bound at boot and vfio_amba loaded; the DMAC assigned to vfio-amba. */
function assignedPl330(opts: { unsafeInterrupts?: boolean } = {}) {
  const lab = bootLab({ modules: ["vfio_amba"], ...opts });
  expect(driverOf(lab.admin, DEV.PL330)).toBe("dma-pl330");
  const log = dmesgOf(lab.kernel, () => {
    expect(assignToDriver(lab.admin, DEV.PL330, VFIO_AMBA)).toEqual({
      probeWrite: DEV.PL330.name.length,
      driver: VFIO_AMBA,
    });
  });
  return { lab, log };
}

/** The VMM side: the DMAC opened over `path`, 1 MiB of guest RAM, IRQs 0 and 1 wired. */
function vmmWithPl330(path: AccessPath) {
  const { lab, log } = assignedPl330();
  const vmm = new Vmm(lab.vmm, path);
  const dev = vmm.assign(DEV.PL330);
  const ram = vmm.mapGuestRam(RAM_SIZE, GUEST_IOVA);
  const dmac = new Pl330User(lab.vmm, dev.mmio(0));
  const done = dev.wireIrq(1, { unmask: "eventfd" });
  const abort = dev.wireIrq(0, { unmask: "ioctl" });
  return { lab, log, vmm, dev, ram, dmac, done, abort };
}

describe("PL330 assigned to vfio-amba", () => {
  test("dma-pl330 gives it up, vfio-amba says it is deprecated, group 2 appears", () => {
    const { lab, log } = assignedPl330();
    expect(log).toContain(DEPRECATION);
    expect(ls(lab.admin, "/dev/vfio").sort()).toEqual(["2", "devices", "vfio"]);
    expect(lab.admin.readlink(`/sys/bus/amba/devices/${DEV.PL330.name}/iommu_group`)).toMatch(
      /iommu_groups\/2$/,
    );
  });

  test("the device fd: AMBA, one page-sized mmap-able region, nine level IRQs", () => {
    const { dev, lab } = vmmWithPl330("container-type1");
    expect(dev.info).toMatchObject({ flags: VFIO_DEVICE_FLAGS_AMBA, numRegions: 1, numIrqs: 9 });
    expect(dev.regionInfo(0)).toMatchObject({
      size: 0x1000n,
      offset: 0n,
      flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
    });
    for (let i = 0; i < 9; i++) {
      expect(dev.device.irqInfo(i)).toEqual({
        index: i,
        flags: VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED,
        count: 1,
      });
    }
    const rows = interruptRows(lab.vmm, /vfio-irq/);
    expect(rows).toHaveLength(9);
    for (const row of rows) expect(row).toMatch(/Level\s+vfio-irq\[\d+\]\(vfio-amba-00241330\)$/);
  });

  test("opening it warns there is no reset function (vfio-amba never has one)", () => {
    const { lab } = assignedPl330();
    const log = dmesgOf(lab.kernel, () => new Vmm(lab.vmm, "container-type1").assign(DEV.PL330));
    expect(log).toEqual(["vfio-amba c000000.dma: VFIO: no reset function found!"]);
  });

  test("the container path step by step: VIABLE, SET_CONTAINER, SET_IOMMU, GET_DEVICE_FD", () => {
    const { lab } = assignedPl330();
    const container = VfioContainer.open(lab.vmm);
    const group = VfioGroup.open(lab.vmm, 2);
    expect(group.status()).toEqual({ flags: 0x1, viable: true, containerSet: false });
    group.setContainer(container);
    container.setIommu(VFIO_TYPE1v2_IOMMU);
    expect(group.deviceFd(DEV.PL330.name).info().numIrqs).toBe(9);
  });

  test("the iommufd cdev path step by step: BIND, ATTACH, IOAS_MAP", () => {
    const { lab } = assignedPl330();
    const iommufd = IommuFd.open(lab.vmm);
    const ioas = iommufd.ioasAlloc();
    const path = cdevPath(lab.vmm, DEV.PL330);
    expect(path).toMatch(/^\/dev\/vfio\/devices\/vfio\d+$/);
    const device = VfioDevice.openCdev(lab.vmm, path);
    expect(device.bindIommufd(iommufd)).toBeGreaterThan(0);
    expect(device.attachPt(ioas)).toBeGreaterThan(0);
    const buf = lab.vmm.malloc(0x1000);
    expect(iommufd.map(ioas, buf, 0x1000, { iova: GUEST_IOVA })).toBe(GUEST_IOVA);
  });

  test("without allow_unsafe_interrupts type1 refuses SET_IOMMU with EPERM and says why", () => {
    const { lab } = assignedPl330({ unsafeInterrupts: false });
    const container = VfioContainer.open(lab.vmm);
    VfioGroup.open(lab.vmm, 2).setContainer(container);
    const log = dmesgOf(lab.kernel, () =>
      expect(() => container.setIommu(VFIO_TYPE1v2_IOMMU)).toThrowErrno("EPERM"),
    );
    expect(log.join("\n")).toContain('Use the module param "allow_unsafe_interrupts"');
  });

  test("without allow_unsafe_interrupts iommufd refuses BIND_IOMMUFD with EPERM, silently", () => {
    const { lab } = assignedPl330({ unsafeInterrupts: false });
    const iommufd = IommuFd.open(lab.vmm);
    const device = VfioDevice.openCdev(lab.vmm, cdevPath(lab.vmm, DEV.PL330));
    const log = dmesgOf(lab.kernel, () =>
      expect(() => device.bindIommufd(iommufd)).toThrowErrno("EPERM"),
    );
    expect(log).toEqual([]);
  });

  test("with allow_unsafe_interrupts iommufd binds, warning that MSIs are not isolated", () => {
    const { lab } = assignedPl330();
    const iommufd = IommuFd.open(lab.vmm);
    const device = VfioDevice.openCdev(lab.vmm, cdevPath(lab.vmm, DEV.PL330));
    const log = dmesgOf(lab.kernel, () => device.bindIommufd(iommufd));
    expect(log[0]).toMatch(/^vfio-amba c000000\.dma: MSI interrupts are not secure/);
  });
});

describe.each(["container-type1", "iommufd-cdev"] as const)("PL330 memcpy (%s)", (path) => {
  test("a copy lands and its completion arrives on irq0's eventfd; a second one proves UNMASK", () => {
    const { ram, dmac, done, abort } = vmmWithPl330(path);
    for (const seed of [3, 9]) {
      ram.write(SRC, pattern(LEN, seed));
      pl330StartMemcpy(dmac, ram, {
        src: ram.dmaAddr32(SRC, LEN),
        dst: ram.dmaAddr32(DST, LEN),
        len: LEN,
        channel: 0,
        event: 0,
        mcodeOffset: MCODE,
      });
      expect(done.wait()).toBe(1);
      expect(ram.read(DST, LEN)).toEqual(pattern(LEN, seed));
      dmac.waitStopped(0); // DMASEV comes before DMAEND
      // Quiesce (INTCLR), then let the automasked line through again.
      dmac.clearEvents(1 << 0);
      done.unmask();
    }
    expect(abort.tryWait()).toBeNull();
  });

  test("a copy to an unmapped IOVA faults in the SMMU, aborts the channel and changes no byte", () => {
    const { lab, ram, dmac, done, abort } = vmmWithPl330(path);
    ram.write(SRC, pattern(LEN, 5));
    const sentinel = lab.vmm.malloc(0x1000);
    lab.vmm.poke(sentinel, pattern(0x1000, 77));
    const before = ram.read(0, RAM_SIZE);
    const unmapped = Number(GUEST_IOVA) + RAM_SIZE;

    const log = dmesgOf(lab.kernel, () => {
      const n = pl330StartMemcpy(dmac, ram, {
        src: ram.dmaAddr32(SRC, LEN),
        dst: unmapped,
        len: LEN,
        event: 0,
        mcodeOffset: MCODE,
      });
      expect(abort.wait()).toBe(1);
      before.set(ram.read(MCODE, n), MCODE); // the microcode the VMM wrote itself
    });

    expect(log).toContain(
      `arm-smmu-v3 9050000.smmuv3: event: F_TRANSLATION client: c000000.dma sid: 0x10 ssid: 0 iova: 0x${unmapped.toString(16)} ipa: 0`,
    );
    expect(dmac.channelState(0)).toBe(PL330_CS.FAULTING);
    expect(dmac.faultType(0) & PL330_FAULT.data_write_err).toBe(PL330_FAULT.data_write_err);
    expect(dmac.faultingChannels()).toBe(1 << 0);
    expect(done.tryWait()).toBeNull();
    expect(firstDifference(ram.read(0, RAM_SIZE), before)).toBe(-1);
    expect(lab.vmm.peek(sentinel, 0x1000)).toEqual(pattern(0x1000, 77));

    // DMAKILL is the only way out of Faulting; abort drops, and is unmasked for next time.
    dmac.kill(0);
    expect(dmac.channelState(0)).toBe(PL330_CS.STOPPED);
    abort.unmask();
    expect(abort.tryWait()).toBeNull();

    pl330StartMemcpy(dmac, ram, {
      src: ram.dmaAddr32(SRC, LEN),
      dst: ram.dmaAddr32(DST, LEN),
      len: LEN,
      event: 0,
      mcodeOffset: MCODE,
    });
    expect(done.wait()).toBe(1);
    expect(ram.read(DST, LEN)).toEqual(pattern(LEN, 5));
  });
});

test("the kernel log of the whole PL330 scenario names no other device", () => {
  const { lab, ram, dmac, done } = vmmWithPl330("container-type1");
  pl330StartMemcpy(dmac, ram, { src: ram.dmaAddr32(SRC), dst: ram.dmaAddr32(DST), len: 64 });
  done.wait();
  const vfioLines = dmesgText(lab.kernel).filter((l) => l.startsWith("vfio-amba"));
  expect(vfioLines).toEqual([DEPRECATION, "vfio-amba c000000.dma: VFIO: no reset function found!"]);
});
