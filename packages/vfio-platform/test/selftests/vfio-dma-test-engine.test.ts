/**
 * DMA end to end, across the five IOMMU modes: what vfio_pci_driver_test.c does with a real
 * DMA engine (memcpy_success, memcpy_from_unmapped_iova, the completion interrupt), done by the
 * board's DMA test engine (c030000.dma-test, behind the SMMU, on vfio-platform) that user
 * space drives entirely through VFIO — registers through the mmap'd region 0 and pread/pwrite,
 * the completion through an eventfd set with SET_IRQS TRIGGER, acknowledged by UNMASK (the line
 * is level-triggered, so vfio_platform_irq.c automasks it).
 *
 * Ported from vfio_pci_driver_test.c (no PCI needed with this engine):
 * - memcpy_success: a copy between two buffers mapped at IOVAs lands byte for byte, and its
 *   interrupt arrives on the eventfd;
 * - memcpy_from_unmapped_iova / memcpy_to_unmapped_iova: the SMMU faults the transfer, the
 *   engine reports ERROR with the failing IOVA, and no byte of the destination changes (the
 *   selftest can only check that no MSI came; this engine reports the fault itself);
 * - mix_and_match, one round: a good copy after a faulting one still works.
 * Not ported: init_remove (the lib driver's init/remove cycles have no meaning without a
 * selftest driver library), send_msi (no MSI on this board: the engine's IRQ is a wired
 * line), memcpy_storm (a 60-second throughput test: timing is not asserted in this model).
 *
 * No no-IOMMU variant: the board's no-IOMMU engine (c031000.dma-test) still issues its DMA
 * with StreamID 0x30 through the SMMU, where it lands in c030000.dma-test's stream table entry
 * and faults; the no-IOMMU cdev is covered without DMA in vfio-iommufd-noiommu.test.ts.
 */

import { DMA_TEST_CTRL, DMA_TEST_ERR_CAUSE, DMA_TEST_STATUS } from "@vfio-lab/hw-soc";
import { EFD_NONBLOCK, POLLIN, type Process } from "@vfio-lab/kernel";
import {
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
} from "@vfio-lab/kernel/uapi";
import type { VfioDevice } from "@vfio-lab/vfio-core";
import { describe, expect, test } from "vitest";
import { DMA_TEST_REG } from "../../src/testing/index.js";
import {
  type DmaRegion,
  IovaAllocator,
  iommuIovaRanges,
  iommuMap,
  iommuUnmap,
  MODE_ROWS,
  type ModeWorld,
  mmapAnon,
  modeSetup,
  modeTeardown,
  PAGE_SIZE,
} from "./fixture.js";

/** The engine's registers (hw-soc devices/dma-test.ts, the datasheet). */
const REG = DMA_TEST_REG;

/** Long enough for any transfer of these tests (setup + 1 ns per byte). */
const WAIT_NS = 10_000_000;

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** The engine as user space sees it: its registers mmapped, its interrupt on an eventfd. */
class Engine {
  readonly mmio: number;
  readonly efd: number;

  constructor(
    readonly p: Process,
    readonly device: VfioDevice,
  ) {
    this.mmio = device.mmapRegion(0);
    this.efd = p.eventfd(0, EFD_NONBLOCK);
    device.setIrqs({ index: 0, action: "trigger", data: { eventfds: [this.efd] } });
  }

  writeReg(off: number, v: number): void {
    this.p.poke(this.mmio + off, u32(v));
  }

  /** Registers are read with pread of region 0, the other way into the same window. */
  readReg(off: number): number {
    return new DataView(this.device.readRegion(0, off, 4).buffer).getUint32(0, true);
  }

  /** Programs a copy and waits on the eventfd; returns STATUS after the interrupt. */
  copy(dst: bigint, src: bigint, len: number): number {
    this.writeReg(REG.SRC_LO, Number(src & 0xffff_ffffn));
    this.writeReg(REG.SRC_HI, Number(src >> 32n));
    this.writeReg(REG.DST_LO, Number(dst & 0xffff_ffffn));
    this.writeReg(REG.DST_HI, Number(dst >> 32n));
    this.writeReg(REG.LEN, len);
    this.writeReg(
      REG.CTRL,
      DMA_TEST_CTRL.START |
        DMA_TEST_CTRL.IRQ_EN |
        (DMA_TEST_CTRL.MODE_COPY << DMA_TEST_CTRL.MODE_SHIFT),
    );
    const [ready] = this.p.poll([{ fd: this.efd, events: POLLIN }], WAIT_NS);
    expect(ready?.revents ?? 0).toBe(POLLIN);
    expect(this.readEventfd()).toBe(1n);
    const status = this.readReg(REG.STATUS);
    // Quiet the device, then let its line through again (the driver automasked it).
    this.writeReg(REG.STATUS, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
    this.device.setIrqs({ index: 0, action: "unmask" });
    return status;
  }

  readEventfd(): bigint {
    const va = this.p.malloc(8);
    this.p.read(this.efd, va, 8);
    const v = new DataView(this.p.peek(va, 8).buffer).getBigUint64(0, true);
    this.p.munmap(va, PAGE_SIZE);
    return v;
  }

  errAddr(): bigint {
    return (BigInt(this.readReg(REG.ERR_ADDR_HI)) << 32n) | BigInt(this.readReg(REG.ERR_ADDR_LO));
  }

  close(): void {
    this.device.setIrqs({ index: 0, action: "trigger", count: 0 });
    this.p.close(this.efd);
    this.p.munmap(this.mmio, PAGE_SIZE);
  }
}

function pattern(len: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed) & 0xff);
}

/** Two mapped buffers of `size` bytes: `src` holding a pattern, `dst` zeros. */
function buffers(w: ModeWorld, size: number) {
  const iovas = new IovaAllocator(iommuIovaRanges(w.iommu));
  const src: DmaRegion = {
    vaddr: mmapAnon(w.p, size),
    iova: iovas.alloc(BigInt(size)),
    size: BigInt(size),
  };
  const dst: DmaRegion = {
    vaddr: mmapAnon(w.p, size),
    iova: iovas.alloc(BigInt(size)),
    size: BigInt(size),
  };
  w.p.poke(src.vaddr, pattern(size, 3));
  w.p.poke(dst.vaddr, new Uint8Array(size));
  iommuMap(w.iommu, src);
  iommuMap(w.iommu, dst);
  return { src, dst, iovas };
}

describe.each(MODE_ROWS)("vfio_dma_test_engine.%s", (_name, mode) => {
  test("the IRQ is a level line: EVENTFD, MASKABLE, AUTOMASKED", () => {
    const w = modeSetup(mode);
    expect(w.dev.info.numIrqs).toBe(1);
    expect(w.dev.device.irqInfo(0)).toEqual({
      index: 0,
      flags: VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED,
      count: 1,
    });
    modeTeardown(w);
  });

  test("memcpy_success: the copy lands and its interrupt reaches the eventfd", () => {
    const w = modeSetup(mode);
    const engine = new Engine(w.p, w.dev.device);
    const size = 2 * PAGE_SIZE;
    const { src, dst } = buffers(w, size);

    const status = engine.copy(dst.iova, src.iova, size);

    expect(status & (DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR)).toBe(DMA_TEST_STATUS.DONE);
    expect(w.p.peek(dst.vaddr, size)).toEqual(pattern(size, 3));
    iommuUnmap(w.iommu, src);
    iommuUnmap(w.iommu, dst);
    engine.close();
    modeTeardown(w);
  });

  test("memcpy_from_unmapped_iova: ERROR, the failing IOVA, no byte written", () => {
    const w = modeSetup(mode);
    const engine = new Engine(w.p, w.dev.device);
    const size = PAGE_SIZE;
    const { src, dst, iovas } = buffers(w, size);
    w.p.poke(dst.vaddr, new Uint8Array(size).fill(0x5a));
    const unmapped = iovas.alloc(BigInt(size));

    const status = engine.copy(dst.iova, unmapped, size);

    expect(status & DMA_TEST_STATUS.ERROR).toBe(DMA_TEST_STATUS.ERROR);
    expect((status & DMA_TEST_STATUS.ERR_CAUSE_MASK) >> DMA_TEST_STATUS.ERR_CAUSE_SHIFT).toBe(
      DMA_TEST_ERR_CAUSE.READ,
    );
    expect(w.p.peek(dst.vaddr, size)).toEqual(new Uint8Array(size).fill(0x5a));
    iommuUnmap(w.iommu, src);
    iommuUnmap(w.iommu, dst);
    engine.close();
    modeTeardown(w);
  });

  test("memcpy_to_unmapped_iova: ERROR (write), and a good copy after it still lands", () => {
    const w = modeSetup(mode);
    const engine = new Engine(w.p, w.dev.device);
    const size = PAGE_SIZE;
    const { src, dst, iovas } = buffers(w, size);
    const unmapped = iovas.alloc(BigInt(size));

    const bad = engine.copy(unmapped, src.iova, size);
    expect((bad & DMA_TEST_STATUS.ERR_CAUSE_MASK) >> DMA_TEST_STATUS.ERR_CAUSE_SHIFT).toBe(
      DMA_TEST_ERR_CAUSE.WRITE,
    );
    // mix_and_match: the engine and the interrupt path recover.
    const good = engine.copy(dst.iova, src.iova, size);
    expect(good & DMA_TEST_STATUS.DONE).toBe(DMA_TEST_STATUS.DONE);
    expect(w.p.peek(dst.vaddr, size)).toEqual(pattern(size, 3));
    iommuUnmap(w.iommu, src);
    iommuUnmap(w.iommu, dst);
    engine.close();
    modeTeardown(w);
  });

  test("after UNMAP the engine faults on the IOVA it used to reach", () => {
    const w = modeSetup(mode);
    const engine = new Engine(w.p, w.dev.device);
    const size = PAGE_SIZE;
    const { src, dst } = buffers(w, size);
    expect(engine.copy(dst.iova, src.iova, size) & DMA_TEST_STATUS.DONE).toBeTruthy();
    iommuUnmap(w.iommu, src);
    w.p.poke(dst.vaddr, new Uint8Array(size));

    const status = engine.copy(dst.iova, src.iova, size);

    expect(status & DMA_TEST_STATUS.ERROR).toBe(DMA_TEST_STATUS.ERROR);
    expect(engine.errAddr()).toBe(src.iova);
    expect(w.p.peek(dst.vaddr, size)).toEqual(new Uint8Array(size));
    iommuUnmap(w.iommu, dst);
    engine.close();
    modeTeardown(w);
  });
});
