/**
 * The in-kernel access API (device.c's access half), one behaviour or errno per test, through
 * the small emulated driver of test/emulated-access.ts.
 */

import { fc, test as fcTest } from "@fast-check/vitest";
import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { O_RDWR } from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { EmulatedAccess } from "../test/emulated-access.js";
import {
  buffer,
  destroy,
  ictxOf,
  ioasAlloc,
  ioasMap,
  ioasObj,
  ioasUnmap,
  iommufd,
  iovaRanges,
  setup,
} from "../test/fixture.js";
import {
  iommufdAccessAttach,
  iommufdAccessAttachInternal,
  iommufdAccessCreate,
  iommufdAccessCreateInternal,
  iommufdAccessDestroy,
  iommufdAccessDestroyInternal,
  iommufdAccessDetach,
  iommufdAccessPinPages,
  iommufdAccessReplace,
  iommufdAccessUnpinPages,
} from "./access.js";
import { ULONG_MAX } from "./io-pagetable.js";
import {
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMUFD_ACCESS_RW_KTHREAD,
  IOMMUFD_ACCESS_RW_WRITE,
} from "./uapi.js";

const PS = BigInt(PAGE_SIZE);
const BUFFER_SIZE = PAGE_SIZE * 16;
const IOVA = 1n << 24n;
const TAINT_WARN = 1 << 9;

/** A file, an IOAS, and a 16-page buffer with a recognisable pattern. */
function world() {
  const w = setup();
  const ictx = ictxOf(w);
  const ioasId = ioasAlloc(w);
  const buf = buffer(w, BUFFER_SIZE);
  const pattern = Uint8Array.from({ length: BUFFER_SIZE }, (_, i) => (i * 7 + (i >> 12)) & 0xff);
  w.p.poke(buf, pattern);
  return { ...w, ictx, ioasId, buf, pattern };
}

const noop = { needsPinPages: true, unmap() {} };

function warnings(w: ReturnType<typeof world>): string[] {
  return w.kernel
    .dmesg()
    .map((l) => l.replace(/^\[[ .0-9]+\] /, ""))
    .filter((l) => l.startsWith("WARNING: drivers/iommu/iommufd/"));
}

describe("iommufd_access_create / destroy", () => {
  it("publishes an ACCESS object the driver holds: IOMMU_DESTROY of it is EBUSY", () => {
    const w = world();
    const a = iommufdAccessCreate(w.ictx, noop, null);
    expect(a.id).toBe(2);
    expect(w.ictx.objects.peek(a.id)).toBe(a);
    expect(() => destroy(w, a.id)).toThrowErrno("EBUSY");
    iommufdAccessDestroy(a);
    expect(w.ictx.objects.peek(a.id)).toBeUndefined();
    // The lowest free id is reused.
    expect(iommufdAccessCreate(w.ictx, noop, null).id).toBe(2);
  });

  it("fails with ENOMEM when the object cannot be allocated, leaving nothing", () => {
    const w = world();
    w.kernel.allocator.setFailHook((site) => site === "kzalloc");
    expect(() => iommufdAccessCreate(w.ictx, noop, null)).toThrowErrno("ENOMEM");
    w.kernel.allocator.setFailHook(undefined);
    expect(w.ictx.objects.size).toBe(1);
  });

  it("keeps the iommufd file alive until the driver destroys the access", () => {
    const w = world();
    const a = iommufdAccessCreate(w.ictx, noop, null);
    w.p.close(w.fd);
    expect(iommufd(w).contexts.has(w.ictx)).toBe(true);
    iommufdAccessDestroy(a);
    // The last reference was the access's: the context is released, its IOAS with it.
    expect(iommufd(w).contexts.size).toBe(0);
  });

  it("the alignment is PAGE_SIZE for a pinning driver and 1 for an rw-only one", () => {
    const w = world();
    const rwOnly = new EmulatedAccess(w.ictx, w.ioasId, false);
    expect(iovaRanges(w, w.ioasId).out.out_iova_alignment).toBe(1n);
    const pinning = new EmulatedAccess(w.ictx, w.ioasId, true);
    expect(iovaRanges(w, w.ioasId).out.out_iova_alignment).toBe(PS);
    pinning.close();
    expect(iovaRanges(w, w.ioasId).out.out_iova_alignment).toBe(1n);
    rwOnly.close();
  });

  it("destroying an attached access detaches it first (unmap of everything)", () => {
    const w = world();
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    expect(() => destroy(w, w.ioasId)).toThrowErrno("EBUSY");
    iommufdAccessDestroy(d.access);
    expect(d.unmapCalls).toEqual([[0n, ULONG_MAX]]);
    destroy(w, w.ioasId);
  });
});

describe("iommufd_access_attach", () => {
  it("ENOENT for an id that is not an IOAS", () => {
    const w = world();
    const a = iommufdAccessCreate(w.ictx, noop, null);
    expect(() => iommufdAccessAttach(a, 99)).toThrowErrno("ENOENT");
    expect(() => iommufdAccessAttach(a, a.id)).toThrowErrno("ENOENT");
    expect(a.ioas).toBeNull();
  });

  it("EINVAL, with a WARNING and TAINT_WARN, when already attached", () => {
    const w = world();
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    expect(() => iommufdAccessAttach(d.access, w.ioasId)).toThrowErrno("EINVAL");
    expect(warnings(w)).toEqual([
      expect.stringMatching(
        /^WARNING: drivers\/iommu\/iommufd\/device.c:1319 at iommufd_access_attach/,
      ),
    ]);
    expect(w.kernel.taint.value & TAINT_WARN).toBe(TAINT_WARN);
    expect(d.access.ioas?.id).toBe(w.ioasId);
  });

  it("EADDRINUSE when a mapping is not aligned for a pinning access; nothing changes", () => {
    const w = world();
    ioasMap(w, w.ioasId, w.buf + 0x800, PAGE_SIZE, IOVA + 0x800n);
    const a = iommufdAccessCreate(w.ictx, noop, null);
    expect(() => iommufdAccessAttach(a, w.ioasId)).toThrowErrno("EADDRINUSE");
    expect(a.ioas).toBeNull();
    expect(ioasObj(w, w.ioasId).iopt.accesses.size).toBe(0);
    expect(ioasObj(w, w.ioasId).users).toBe(1);
    // An rw-only access imposes nothing.
    const rw = new EmulatedAccess(w.ictx, w.ioasId, false);
    expect(rw.access.ioas?.id).toBe(w.ioasId);
  });

  it("ENOMEM when the IOAS's access list cannot grow", () => {
    const w = world();
    const a = iommufdAccessCreate(w.ictx, noop, null);
    w.kernel.allocator.setFailHook((site) => site === "xa_alloc");
    expect(() => iommufdAccessAttach(a, w.ioasId)).toThrowErrno("ENOMEM");
    w.kernel.allocator.setFailHook(undefined);
    expect(a.ioas).toBeNull();
    iommufdAccessAttach(a, w.ioasId);
  });

  it("an attached access holds its IOAS: IOMMU_DESTROY is EBUSY until detach", () => {
    const w = world();
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    expect(() => destroy(w, w.ioasId)).toThrowErrno("EBUSY");
    iommufdAccessDetach(d.access);
    expect(d.unmapCalls).toEqual([[0n, ULONG_MAX]]);
    destroy(w, w.ioasId);
  });
});

describe("iommufd_access_replace", () => {
  it("ENOENT when not attached", () => {
    const w = world();
    const a = iommufdAccessCreate(w.ictx, noop, null);
    expect(() => iommufdAccessReplace(a, w.ioasId)).toThrowErrno("ENOENT");
    expect(a.ioas).toBeNull();
  });

  it("ENOENT for a bad IOAS id, and the access stays where it was", () => {
    const w = world();
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    expect(() => d.replace(99)).toThrowErrno("ENOENT");
    expect(d.access.ioas?.id).toBe(w.ioasId);
    expect(d.unmapCalls).toEqual([]);
  });

  it("to the same IOAS is a no-op; to another unpins everything and moves the IOAS reference", () => {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, BUFFER_SIZE, IOVA);
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    d.pin(IOVA, PS);
    d.replace(w.ioasId);
    expect(d.unmapCalls).toEqual([]);
    const other = ioasAlloc(w);
    d.replace(other);
    expect(d.unmapCalls).toEqual([[0n, ULONG_MAX]]);
    expect(d.items).toEqual([]);
    destroy(w, w.ioasId);
    expect(() => destroy(w, other)).toThrowErrno("EBUSY");
  });

  it("EADDRINUSE when the new IOAS has a misaligned mapping: nothing changes", () => {
    const w = world();
    const other = ioasAlloc(w);
    ioasMap(w, other, w.buf + 0x800, PAGE_SIZE, IOVA + 0x800n);
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    expect(() => d.replace(other)).toThrowErrno("EADDRINUSE");
    expect(d.access.ioas?.id).toBe(w.ioasId);
    expect(ioasObj(w, other).iopt.accesses.size).toBe(0);
    expect(d.unmapCalls).toEqual([]);
  });

  it("EBUSY when the driver re-attaches from inside its own unmap callback", () => {
    const w = world();
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    const other = ioasAlloc(w);
    let inner: unknown = null;
    d.onUnmap = () => {
      try {
        iommufdAccessAttach(d.access, other);
      } catch (e) {
        inner = e;
      }
    };
    iommufdAccessDetach(d.access);
    expect(() => {
      throw inner;
    }).toThrowErrno("EBUSY");
    expect(d.access.ioas).toBeNull();
  });
});

describe("iommufd_access_detach", () => {
  it("detaching a detached access only WARNs", () => {
    const w = world();
    const a = iommufdAccessCreate(w.ictx, noop, null);
    iommufdAccessDetach(a);
    expect(warnings(w)).toEqual([
      expect.stringMatching(/device.c:1305 at iommufd_access_detach, CPU#0/),
    ]);
  });
});

describe("iommufd_access_pin_pages", () => {
  function pinWorld() {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, BUFFER_SIZE, IOVA);
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    return { ...w, d };
  }

  it("returns the PFNs of the user pages, pinned once however many users share the range", () => {
    const w = pinWorld();
    const pins = w.kernel.allocator.totalPins;
    const { pfns } = w.d.pin(IOVA + PS, 3n * PS);
    expect(pfns).toEqual([1, 2, 3].map((i) => w.p.mm.translate(w.buf + i * PAGE_SIZE)));
    for (const pfn of pfns) expect(w.kernel.allocator.pinCount(pfn)).toBe(1);
    const again = w.d.pin(IOVA + PS, 3n * PS);
    expect(again.pfns).toEqual(pfns);
    for (const pfn of pfns) expect(w.kernel.allocator.pinCount(pfn)).toBe(1);
    w.d.destroyPages(0);
    for (const pfn of pfns) expect(w.kernel.allocator.pinCount(pfn)).toBe(1);
    w.d.destroyPages(again.id);
    expect(w.kernel.allocator.totalPins).toBe(pins);
  });

  it("EINVAL for a zero length", () => {
    const w = pinWorld();
    expect(() => w.d.pin(IOVA, 0n)).toThrowErrno("EINVAL");
  });

  it("EOVERFLOW when iova + length wraps", () => {
    const w = pinWorld();
    expect(() => w.d.pin(ULONG_MAX - PS + 1n, 2n * PS)).toThrowErrno("EOVERFLOW");
  });

  it("ENOENT when the access is not attached", () => {
    const w = pinWorld();
    iommufdAccessDetach(w.d.access);
    expect(() => w.d.pin(IOVA, PS)).toThrowErrno("ENOENT");
  });

  it("ENOENT for a hole, unpinning what the walk had pinned", () => {
    const w = pinWorld();
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, IOVA + BigInt(BUFFER_SIZE) + PS);
    const pins = w.kernel.allocator.totalPins;
    expect(() => w.d.pin(IOVA + BigInt(BUFFER_SIZE) - PS, 3n * PS)).toThrowErrno("ENOENT");
    expect(() => w.d.pin(IOVA - PS, 2n * PS)).toThrowErrno("ENOENT");
    expect(w.kernel.allocator.totalPins).toBe(pins);
    const area = ioasObj(w, w.ioasId).iopt.areaItree.first()!.value;
    expect(area.numAccesses).toBe(0);
  });

  it("EINVAL when the range does not start on a page of the memory", () => {
    const w = pinWorld();
    expect(() => w.d.pin(IOVA + 0x10n, PS)).toThrowErrno("EINVAL");
  });

  it("EINVAL when an inner area boundary is not a page boundary (alignment-1 corner case)", () => {
    const w = world();
    // An rw-only access keeps the alignment at 1, so sub-page mappings can exist.
    const d = new EmulatedAccess(w.ictx, w.ioasId, false);
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE + 0x800, IOVA);
    ioasMap(w, w.ioasId, w.buf + 0x3000, PAGE_SIZE, IOVA + PS + 0x800n);
    const pins = w.kernel.allocator.totalPins;
    expect(() => d.pin(IOVA, 2n * PS)).toThrowErrno("EINVAL");
    expect(w.kernel.allocator.totalPins).toBe(pins);
  });

  it("EPERM for a write pin of a read-only mapping", () => {
    const w = pinWorld();
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, 1n << 30n, IOMMU_IOAS_MAP_READABLE);
    expect(() => w.d.pin(1n << 30n, PS, IOMMUFD_ACCESS_RW_WRITE)).toThrowErrno("EPERM");
    w.d.pin(1n << 30n, PS);
  });

  it("EPERM for a read pin of a write-only mapping", () => {
    const w = pinWorld();
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, 1n << 30n, IOMMU_IOAS_MAP_WRITEABLE);
    expect(() => w.d.pin(1n << 30n, PS)).toThrowErrno("EPERM");
    w.d.pin(1n << 30n, PS, IOMMUFD_ACCESS_RW_WRITE);
  });

  it("EFAULT when the memory behind a domain-less mapping was unmapped by the user", () => {
    const w = pinWorld();
    w.p.munmap(w.buf, BUFFER_SIZE);
    expect(() => w.d.pin(IOVA, PS)).toThrowErrno("EFAULT");
  });

  it("ENOMEM in the second area unpins the first (the err_remove walk)", () => {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, 2 * PAGE_SIZE, IOVA);
    ioasMap(w, w.ioasId, w.buf + 2 * PAGE_SIZE, 2 * PAGE_SIZE, IOVA + 2n * PS);
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    const pins = w.kernel.allocator.totalPins;
    let kzallocs = 0;
    w.kernel.allocator.setFailHook((site) => site === "kzalloc" && ++kzallocs === 2);
    expect(() => d.pin(IOVA, 4n * PS)).toThrowErrno("ENOMEM");
    w.kernel.allocator.setFailHook(undefined);
    expect(kzallocs).toBe(2);
    expect(w.kernel.allocator.totalPins).toBe(pins);
    for (const n of [ioasObj(w, w.ioasId).iopt.areaItree.first()!]) {
      expect(n.value.numAccesses).toBe(0);
    }
  });

  it("EFAULT when pinning the user pages fails", () => {
    const w = pinWorld();
    const pins = w.kernel.allocator.totalPins;
    w.kernel.allocator.setFailHook((site) => site === "pfn_reader_user_pin");
    expect(() => w.d.pin(IOVA, 4n * PS)).toThrowErrno("EFAULT");
    w.kernel.allocator.setFailHook(undefined);
    expect(w.kernel.allocator.totalPins).toBe(pins);
  });

  it("EINVAL while the area is being unmapped (prevent_access, seen from the unmap callback)", () => {
    const w = pinWorld();
    w.d.pin(IOVA, PS);
    let inner: unknown = null;
    w.d.onUnmap = () => {
      try {
        w.d.pin(IOVA + PS, PS);
      } catch (e) {
        inner = e;
      }
    };
    expect(ioasUnmap(w, w.ioasId, IOVA, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
    expect(() => {
      throw inner;
    }).toThrowErrno("EINVAL");
  });

  it("pins across adjacent areas and fills the output in IOVA order", () => {
    const w = world();
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    ioasMap(w, w.ioasId, w.buf + 4 * PAGE_SIZE, 2 * PAGE_SIZE, IOVA);
    ioasMap(w, w.ioasId, w.buf, 2 * PAGE_SIZE, IOVA + 2n * PS);
    const { pfns } = d.pin(IOVA + PS, 2n * PS);
    expect(pfns).toEqual([w.p.mm.translate(w.buf + 5 * PAGE_SIZE), w.p.mm.translate(w.buf)]);
    const out = new Float64Array(4);
    iommufdAccessPinPages(d.access, IOVA, 4n * PS, out, 0);
    expect(Array.from(out)).toEqual(
      [4, 5, 0, 1].map((i) => w.p.mm.translate(w.buf + i * PAGE_SIZE)),
    );
    iommufdAccessUnpinPages(d.access, IOVA, 4n * PS);
  });
});

describe("iommufd_access_unpin_pages", () => {
  it("misuse only WARNs: zero length, a wrapping range, a detached access, a hole", () => {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, IOVA);
    const a = iommufdAccessCreate(w.ictx, noop, null);
    iommufdAccessUnpinPages(a, IOVA, PS);
    iommufdAccessAttach(a, w.ioasId);
    iommufdAccessUnpinPages(a, IOVA, 0n);
    iommufdAccessUnpinPages(a, ULONG_MAX, 2n);
    iommufdAccessUnpinPages(a, IOVA + PS, PS);
    expect(warnings(w).map((l) => l.replace(/ at .*/, ""))).toEqual([
      "WARNING: drivers/iommu/iommufd/device.c:1427",
      "WARNING: drivers/iommu/iommufd/device.c:1418",
      "WARNING: drivers/iommu/iommufd/device.c:1419",
      "WARNING: drivers/iommu/iommufd/device.c:1441",
    ]);
  });
});

describe("iommufd_access_rw", () => {
  function rwWorld() {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, BUFFER_SIZE, IOVA);
    const d = new EmulatedAccess(w.ictx, w.ioasId, false);
    return { ...w, d };
  }

  it("reads and writes at any alignment, on the fast path, the slow path and from a kthread", () => {
    const w = rwWorld();
    for (const [current, flags] of [
      [w.p, 0],
      [undefined, 0],
      [undefined, IOMMUFD_ACCESS_RW_KTHREAD],
    ] as const) {
      const at = PAGE_SIZE - 3;
      expect(w.d.read(IOVA + BigInt(at), 9, flags, current)).toEqual(w.p.peek(w.buf + at, 9));
      const data = Uint8Array.from({ length: 9 }, (_, i) => 0xa0 + i + flags);
      w.d.write(IOVA + BigInt(at), data, flags | IOMMUFD_ACCESS_RW_WRITE, current);
      expect(w.p.peek(w.buf + at, 9)).toEqual(data);
    }
  });

  it("EINVAL for a zero length", () => {
    const w = rwWorld();
    expect(() => w.d.read(IOVA, 0)).toThrowErrno("EINVAL");
  });

  it("EOVERFLOW when the range wraps", () => {
    const w = rwWorld();
    expect(() => w.d.read(ULONG_MAX, 2)).toThrowErrno("EOVERFLOW");
  });

  it("ENOENT when not attached", () => {
    const w = rwWorld();
    iommufdAccessDetach(w.d.access);
    expect(() => w.d.read(IOVA, 1)).toThrowErrno("ENOENT");
  });

  it("ENOENT for a hole; what was copied before it stays copied", () => {
    const w = rwWorld();
    const data = new Uint8Array(8).fill(0x5a);
    expect(() =>
      w.d.write(IOVA + BigInt(BUFFER_SIZE) - 4n, data, IOMMUFD_ACCESS_RW_WRITE, w.p),
    ).toThrowErrno("ENOENT");
    expect(w.p.peek(w.buf + BUFFER_SIZE - 4, 4)).toEqual(new Uint8Array(4).fill(0x5a));
  });

  it("EPERM for a write through a read-only mapping", () => {
    const w = rwWorld();
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, 1n << 30n, IOMMU_IOAS_MAP_READABLE);
    expect(() => w.d.write(1n << 30n, new Uint8Array(1), IOMMUFD_ACCESS_RW_WRITE)).toThrowErrno(
      "EPERM",
    );
    expect(w.d.read(1n << 30n, 4, 0, w.p)).toEqual(w.pattern.subarray(0, 4));
  });

  it("EFAULT when the user unmapped the memory of a domain-less mapping", () => {
    const w = rwWorld();
    w.p.munmap(w.buf, BUFFER_SIZE);
    expect(() => w.d.read(IOVA, 4, 0, w.p)).toThrowErrno("EFAULT");
    expect(() => w.d.read(IOVA, 2 * PAGE_SIZE)).toThrowErrno("EFAULT");
  });

  it("EINVAL on an area left behind by an EDEADLOCK unmap (prevent_access stays set)", () => {
    const w = rwWorld();
    const pinner = new EmulatedAccess(w.ictx, w.ioasId);
    pinner.pin(IOVA, PS);
    pinner.ignoreUnmap = true;
    expect(() => ioasUnmap(w, w.ioasId, IOVA, BUFFER_SIZE)).toThrowErrno("EDEADLOCK");
    expect(pinner.unmapCalls.length).toBe(101);
    expect(() => w.d.read(IOVA + PS, 4, 0, w.p)).toThrowErrno("EINVAL");
    expect(() => pinner.pin(IOVA + PS, PS)).toThrowErrno("EINVAL");
  });
});

describe("iommufd_access_notify_unmap", () => {
  it("calls every access of the IOAS with the area's range, in access-list order", () => {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, BUFFER_SIZE, IOVA);
    const order: number[] = [];
    const a = new EmulatedAccess(w.ictx, w.ioasId);
    const b = new EmulatedAccess(w.ictx, w.ioasId);
    const c = new EmulatedAccess(w.ictx, w.ioasId, false);
    a.onUnmap = () => order.push(0);
    b.onUnmap = () => order.push(1);
    c.onUnmap = () => order.push(2);
    // List slot 0 freed and retaken: the list order is by slot, not by age.
    iommufdAccessDetach(a.access);
    a.unmapCalls.length = 0;
    order.length = 0;
    iommufdAccessAttach(a.access, w.ioasId);
    b.pin(IOVA + 2n * PS, PS);
    expect(ioasUnmap(w, w.ioasId, IOVA, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
    expect(order).toEqual([0, 1, 2]);
    expect(a.unmapCalls).toEqual([[IOVA, BigInt(BUFFER_SIZE)]]);
    expect(b.items).toEqual([]);
  });

  it("an unmap that does not touch a pinned area calls nobody", () => {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, IOVA);
    ioasMap(w, w.ioasId, w.buf, PAGE_SIZE, IOVA + 4n * PS);
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    d.pin(IOVA, PS);
    ioasUnmap(w, w.ioasId, IOVA + 4n * PS, PS);
    expect(d.unmapCalls).toEqual([]);
  });

  it("EDEADLOCK after 100 retries when a driver never unpins; the area stays mapped", () => {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, BUFFER_SIZE, IOVA);
    const d = new EmulatedAccess(w.ictx, w.ioasId);
    d.pin(IOVA, PS);
    d.ignoreUnmap = true;
    expect(() => ioasUnmap(w, w.ioasId, IOVA, BUFFER_SIZE)).toThrowErrno("EDEADLOCK");
    expect(d.unmapCalls.length).toBe(101);
    expect(ioasObj(w, w.ioasId).iopt.areaItree.size).toBe(1);
    d.ignoreUnmap = false;
    d.close();
    expect(ioasUnmap(w, w.ioasId, IOVA, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
  });
});

describe("internal accesses (HW queue memory)", () => {
  it("pin with PAGE_SIZE alignment, lock the area (IOAS_UNMAP is EBUSY) and get no unmap calls", () => {
    const w = world();
    ioasMap(w, w.ioasId, w.buf, BUFFER_SIZE, IOVA);
    const a = iommufdAccessCreateInternal(w.ictx);
    iommufdAccessAttachInternal(a, ioasObj(w, w.ioasId));
    expect(iovaRanges(w, w.ioasId).out.out_iova_alignment).toBe(PS);
    const pfns: number[] = [];
    iommufdAccessPinPages(a, IOVA, PS, pfns, 0);
    expect(() => ioasUnmap(w, w.ioasId, IOVA, BUFFER_SIZE)).toThrowErrno("EBUSY");
    iommufdAccessUnpinPages(a, IOVA, PS);
    iommufdAccessDetach(a);
    iommufdAccessDestroyInternal(w.ictx, a);
    expect(ioasUnmap(w, w.ioasId, IOVA, BUFFER_SIZE)).toBe(BigInt(BUFFER_SIZE));
  });

  it("an internal access holds no reference on the file", () => {
    const w = world();
    const refs = w.ictx.file.refcount;
    const a = iommufdAccessCreateInternal(w.ictx);
    expect(w.ictx.file.refcount).toBe(refs);
    iommufdAccessDestroyInternal(w.ictx, a);
    w.p.close(w.fd);
    expect(iommufd(w).contexts.size).toBe(0);
  });
});

describe("a second file", () => {
  it("an access of one file cannot attach to another file's IOAS id", () => {
    const w = world();
    const fd2 = w.p.open("/dev/iommu", O_RDWR);
    const ictx2 = ictxOf(w, fd2);
    const a = iommufdAccessCreate(ictx2, noop, null);
    expect(() => iommufdAccessAttach(a, w.ioasId)).toThrowErrno("ENOENT");
    iommufdAccessDestroy(a);
  });
});

describe("properties", () => {
  fcTest.prop(
    [
      fc.array(
        fc.record({
          page: fc.integer({ min: 0, max: 15 }),
          npages: fc.integer({ min: 1, max: 4 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      fc.array(fc.nat(), { maxLength: 12 }),
    ],
    { numRuns: 20 },
  )(
    "pins return the user pages and leave no pin behind once unpinned",
    (pins, order) => {
      const w = world();
      ioasMap(w, w.ioasId, w.buf, BUFFER_SIZE / 2, IOVA);
      ioasMap(
        w,
        w.ioasId,
        w.buf + BUFFER_SIZE / 2,
        BUFFER_SIZE / 2,
        IOVA + BigInt(BUFFER_SIZE / 2),
      );
      const d = new EmulatedAccess(w.ictx, w.ioasId);
      const before = w.kernel.allocator.totalPins;
      for (const { page, npages } of pins) {
        const n = Math.min(npages, 16 - page);
        const { pfns } = d.pin(IOVA + BigInt(page) * PS, BigInt(n) * PS);
        expect(pfns).toEqual(
          Array.from({ length: n }, (_, i) => w.p.mm.translate(w.buf + (page + i) * PAGE_SIZE)),
        );
      }
      const ids = d.items.map((i) => i.id);
      for (const k of order) {
        if (ids.length === 0) break;
        const [id] = ids.splice(k % ids.length, 1);
        d.destroyPages(id!);
      }
      d.close();
      expect(w.kernel.allocator.totalPins).toBe(before);
    },
    60_000,
  );
});
