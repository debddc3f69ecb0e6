/**
 * iommufd benchmark (issue 5, "Measured"), ratios in one process:
 * - IOMMU_IOAS_MAP + IOMMU_IOAS_UNMAP of one 4 KiB page through the whole syscall path (struct
 *   in user memory, ioctl, dispatcher, io_pagetable, and with a domain: pin_user_pages,
 *   RLIMIT_MEMLOCK accounting, the arm-smmu-v3 page tables and TLB invalidation through the
 *   simulated command queue), at 1 000 and at 1 000 000 live mappings, with and without an
 *   SMMU domain attached, against a JS `Map` set + delete with as many live keys;
 * - mapping a 16 GiB, 2 MiB-aligned anonymous region into an IOAS with an SMMU domain attached:
 *   the memory the Node process needs for it.
 */

import assert from "node:assert/strict";
import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import { Kernel, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "@vfio-lab/kernel";
import {
  gc,
  heldBytes,
  measure,
  mib,
  report,
  runBenchmarks,
} from "../../../scripts/bench-harness.ts";
import { iommufdDeviceAttach, iommufdDeviceBind } from "../src/device.js";
import { IommuFd } from "../src/iommu-fd.js";
import { type IommufdCtx, iommufdModule } from "../src/main.js";
import {
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  iommu_ioas_map,
  iommu_ioas_unmap,
} from "../src/uapi.js";

const GiB = 2 ** 30;
const DEV = "c030000.dma-test";
/** Mappings start at 4 GiB: clear of the SMMU's MSI window (0x8000000) in the IOAS. */
const IOVA_BASE = 2 ** 32;

/** A kernel with iommufd, a process with /dev/iommu open and one IOAS, optionally a domain. */
function world(ramSize: number, withDomain: boolean) {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize }));
  const kernel = Kernel.boot(soc, { cmdline: "iommufd.allow_unsafe_interrupts=1" });
  kernel.modprobe(iommufdModule);
  const p = kernel.spawn({ comm: "bench" });
  const iommu = IommuFd.open(p);
  const ioas = iommu.ioasAlloc();
  if (withDomain) {
    p.writeFile(`/sys/bus/platform/devices/${DEV}/driver/unbind`, DEV);
    const file = p.fget(iommu.fd)!;
    kernel.vfs.fput(file);
    const idev = iommufdDeviceBind(
      file.privateData as IommufdCtx,
      kernel.drivers.findDevice("platform", DEV)!,
    );
    iommufdDeviceAttach(idev, 0, ioas);
  }
  return { kernel, p, iommu, ioas };
}

/** Fills the IOAS with `live` one-page mappings at IOVA 4 GiB upward, from distinct pages. */
function populate(w: ReturnType<typeof world>, live: number): number {
  const { p, iommu, ioas } = w;
  const base = p.mmap(
    0,
    live * PAGE_SIZE,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS,
    -1,
    0,
  );
  for (let i = 0; i < live; i++) {
    iommu.map(ioas, base + i * PAGE_SIZE, PAGE_SIZE, { iova: BigInt(IOVA_BASE + i * PAGE_SIZE) });
  }
  return base;
}

/** One MAP + UNMAP pair per call, as a C program issues them: structs prepared once. */
function mapUnmapLoop(w: ReturnType<typeof world>, live: number) {
  const { p, iommu, ioas } = w;
  const page = p.malloc(PAGE_SIZE);
  p.poke(page, [1]);
  const iova = BigInt(IOVA_BASE + (live + 16) * PAGE_SIZE);
  const mapArg = p.malloc(PAGE_SIZE);
  p.poke(
    mapArg,
    iommu_ioas_map.encode({
      size: iommu_ioas_map.size,
      flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
      ioas_id: ioas,
      user_va: BigInt(page),
      length: BigInt(PAGE_SIZE),
      iova,
    }),
  );
  const unmapArg = mapArg + 128;
  const unmap = iommu_ioas_unmap.encode({
    size: iommu_ioas_unmap.size,
    ioas_id: ioas,
    iova,
    length: BigInt(PAGE_SIZE),
  });
  return (n: number) => {
    for (let i = 0; i < n; i++) {
      p.ioctl(iommu.fd, IOMMU_IOAS_MAP, mapArg);
      // UNMAP writes the unmapped length back: restore the request as a C loop would.
      p.poke(unmapArg, unmap);
      p.ioctl(iommu.fd, IOMMU_IOAS_UNMAP, unmapArg);
    }
  };
}

/**
 * The baseline the issue names: set + delete of one key in a Map holding `live` keys. (V8 keeps
 * deleted entries until it rehashes the table, so a Map at a steady size pays an O(size) rehash
 * every few set+delete pairs: the baseline itself grows with the live count.)
 */
function mapBaseline(live: number) {
  const m = new Map<number, number>();
  for (let i = 0; i < live; i++) m.set(IOVA_BASE + i * PAGE_SIZE, i);
  const key = IOVA_BASE + (live + 16) * PAGE_SIZE;
  return (n: number) => {
    for (let i = 0; i < n; i++) {
      m.set(key, i);
      m.delete(key);
    }
  };
}

function nsPerOp(ms: number, n: number): string {
  return `${((ms * 1e6) / n).toFixed(0)} ns`;
}

await runBenchmarks("iommufd", [
  [
    "IOMMU_IOAS_MAP + UNMAP of 4 KiB vs Map set+delete",
    () => {
      const N = 2_000;
      const lines: string[] = [];
      const cost: Record<string, number> = {};
      for (const withDomain of [false, true]) {
        for (const live of [1_000, 1_000_000]) {
          const ram = withDomain ? 6 * GiB : GiB;
          // Subject and baseline run one after the other, each alone in the heap: a million
          // live mappings and a million-entry Map would otherwise tax each other's GC.
          const s = (() => {
            const w = world(ram, withDomain);
            populate(w, live);
            const loop = mapUnmapLoop(w, live);
            gc();
            const t = measure("MAP+UNMAP", () => loop(N));
            w.p.exit();
            return t;
          })();
          gc();
          const base = mapBaseline(live);
          const b = measure("Map set+delete", () => base(N));
          const ratio = s.msPerOp / b.msPerOp;
          cost[`${withDomain}/${live}`] = s.msPerOp;
          lines.push(
            `${withDomain ? "SMMU domain" : "no domain  "}, ${String(live).padStart(9)} live: ` +
              `MAP+UNMAP ${nsPerOp(s.msPerOp, N)} vs Map ${nsPerOp(b.msPerOp, N)} → ${ratio.toFixed(1)}x`,
          );
          gc();
        }
        const growth = cost[`${withDomain}/1000000`]! / cost[`${withDomain}/1000`]!;
        lines.push(`  1M cost / 1K cost = ${growth.toFixed(2)}x`);
      }
      report(
        "IOMMU_IOAS_MAP + UNMAP of one page through the syscall path (target ≤ 10x, 1M ≤ 1.5x 1K)",
        lines,
      );
    },
  ],
  [
    "16 GiB 2 MiB-aligned anonymous map with an SMMU domain",
    () => {
      const w = world(18 * GiB, true);
      const { p, iommu, ioas, kernel } = w;
      const len = 16 * GiB;
      const raw = p.mmap(
        0,
        len + 2 * 2 ** 20,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
        0,
      );
      const va = Math.ceil(raw / 2 ** 21) * 2 ** 21;
      gc();
      const heldBefore = heldBytes();
      const rssBefore = process.memoryUsage().rss;
      const t0 = performance.now();
      const iova = iommu.map(ioas, va, len);
      const ms = performance.now() - t0;
      // The map is one synchronous call, so RSS is sampled right after it, before any GC.
      const rssAfter = process.memoryUsage().rss;
      const heldAfter = heldBytes();
      assert.equal(kernel.allocator.totalPins, len / PAGE_SIZE);
      report(
        "IOMMU_IOAS_MAP of 16 GiB (4M pages pinned, SMMU page tables written) (target ≤ 300 MiB)",
        [
          `mapped at IOVA 0x${iova.toString(16)} in ${(ms / 1000).toFixed(1)} s`,
          `JS heap + array buffers held: +${mib(heldAfter - heldBefore)}`,
          `process RSS: +${mib(rssAfter - rssBefore)}`,
        ],
      );
      iommu.close();
      p.exit();
    },
  ],
]);
