/**
 * The model against a real Linux 7.3: replays oracle-probes/iommufd-ioas.c — /dev/iommu without
 * a device: the dispatcher's size protocol for every command, IOAS ids, IOVA_RANGES and its
 * EMSGSIZE protocol, ALLOW_IOVAS, the IOVAs the kernel chooses, MAP/COPY/UNMAP errors and
 * written-back fields, OPTION, VFIO_IOAS, MAP_FILE, CHANGE_PROCESS and NOIOMMU_GET_PA — and
 * requires the same printed trace, line for line.
 */

import { boards, PAGE_SIZE, Soc } from "@vfio-lab/hw-soc";
import {
  _IO,
  _IOR,
  Kernel,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from "@vfio-lab/kernel";
import { describe, expect, it } from "vitest";
import { iommufdModule } from "../src/main.js";
import {
  IOMMU_DESTROY,
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_CHANGE_PROCESS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_NOIOMMU_GET_PA,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  IOMMUFD_TYPE,
  iommu_destroy,
  iommu_ioas_alloc,
  iommu_ioas_allow_iovas,
  iommu_ioas_change_process,
  iommu_ioas_copy,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  iommu_ioas_map_file,
  iommu_ioas_noiommu_get_pa,
  iommu_ioas_unmap,
  iommu_iova_range,
  iommu_option,
  iommu_vfio_ioas,
} from "../src/uapi.js";
import { hex, OracleTrace, recordedTrace } from "./oracle-trace.js";

const recorded = recordedTrace("iommufd-ioas.7.3.txt");

const PS = PAGE_SIZE;
const U64_MAX = 2n ** 64n - 1n;

function replay(): string[] {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x4000_0000 }));
  // The oracle kernel's configuration: no transparent huge pages (see io-pagetable.ts).
  const kernel = Kernel.boot(soc, { config: { CONFIG_TRANSPARENT_HUGEPAGE: false } });
  kernel.modprobe(iommufdModule);
  const p = kernel.spawn({ comm: "probe" });
  const t = new OracleTrace();
  const out = t.lines;
  const call = (desc: string, f: () => number) => t.call(desc, f);
  const end = (extra?: string) => t.end(extra);
  const ORC = (desc: string, f: () => number) => t.orc(desc, f);

  for (let i = 0; i < 3; i++) p.open("/dev/null", O_RDWR); // the probe's stdio
  const fd = ORC("open /dev/iommu", () => p.open("/dev/iommu", O_RDWR));
  const buf = p.mmap(
    0x1000_0000,
    64 * PS,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
    -1,
    0,
  );
  out.push(`INFO buf=0x${buf.toString(16)}`);
  const arg = p.malloc(4096);
  const scratch = p.malloc(4096);
  const io = <T>(
    layout: { encode(v: never): Uint8Array; decode(b: Uint8Array): T; size: number },
    v: object,
  ) => {
    p.poke(arg, layout.encode({ size: layout.size, ...v } as never));
    return () => layout.decode(p.peek(arg, layout.size));
  };

  const raw = (req: number, what: string) => ORC(what, () => p.ioctl(fd, req, arg));
  const map = (ioas: number, flags: number, va: number, len: number, iova: bigint, rsv: number) => {
    const back = io(iommu_ioas_map, {
      flags,
      ioas_id: ioas,
      __reserved: rsv,
      user_va: BigInt(va),
      length: BigInt(len),
      iova,
    });
    call(
      `MAP(ioas=${ioas} flags=${hex(flags)} va=${hex(va)} len=${hex(len)} iova=${hex(iova)} rsv=${rsv})`,
      () => p.ioctl(fd, IOMMU_IOAS_MAP, arg),
    );
    const r = back().iova;
    end(`iova=${hex(r)}`);
    return r;
  };
  const unmap = (ioas: number, iova: bigint, len: bigint) => {
    const back = io(iommu_ioas_unmap, { ioas_id: ioas, iova, length: len });
    call(`UNMAP(ioas=${ioas} iova=${hex(iova)} len=${hex(len)})`, () =>
      p.ioctl(fd, IOMMU_IOAS_UNMAP, arg),
    );
    end(`length=${hex(back().length)}`);
  };
  const copy = (
    dst: number,
    src: number,
    flags: number,
    len: number,
    dstIova: bigint,
    srcIova: bigint,
  ) => {
    const back = io(iommu_ioas_copy, {
      flags,
      dst_ioas_id: dst,
      src_ioas_id: src,
      length: BigInt(len),
      dst_iova: dstIova,
      src_iova: srcIova,
    });
    call(
      `COPY(dst=${dst} src=${src} flags=${hex(flags)} len=${hex(len)} dst_iova=${hex(dstIova)} src_iova=${hex(srcIova)})`,
      () => p.ioctl(fd, IOMMU_IOAS_COPY, arg),
    );
    end(`dst_iova=${hex(back().dst_iova)}`);
  };
  const ranges = (ioas: number, num: number) => {
    p.poke(scratch, new Uint8Array(4 * iommu_iova_range.size).fill(0xaa));
    const back = io(iommu_ioas_iova_ranges, {
      ioas_id: ioas,
      num_iovas: num,
      allowed_iovas: BigInt(scratch),
    });
    call(`IOVA_RANGES(ioas=${ioas} num=${num})`, () => p.ioctl(fd, IOMMU_IOAS_IOVA_RANGES, arg));
    const q = back();
    const r = [0, 1].map((i) => iommu_iova_range.decode(p.peek(scratch + i * 16, 16)));
    end(
      `num=${q.num_iovas} align=${hex(q.out_iova_alignment)} r0=[${hex(r[0]!.start)},${hex(r[0]!.last)}] r1=[${hex(r[1]!.start)},${hex(r[1]!.last)}]`,
    );
  };
  const allow = (ioas: number, num: number, a0: bigint, l0: bigint, a1: bigint, l1: bigint) => {
    p.poke(scratch, iommu_iova_range.encode({ start: a0, last: l0 }));
    p.poke(scratch + 16, iommu_iova_range.encode({ start: a1, last: l1 }));
    io(iommu_ioas_allow_iovas, { ioas_id: ioas, num_iovas: num, allowed_iovas: BigInt(scratch) });
    ORC(
      `ALLOW_IOVAS(ioas=${ioas} num=${num} [${hex(a0)},${hex(l0)}] [${hex(a1)},${hex(l1)}])`,
      () => p.ioctl(fd, IOMMU_IOAS_ALLOW_IOVAS, arg),
    );
  };
  const option = (id: number, op: number, obj: number, val: bigint) => {
    const back = io(iommu_option, { option_id: id, op, object_id: obj, val64: val });
    call(`OPTION(id=${id} op=${op} obj=${obj} val=${val})`, () => p.ioctl(fd, IOMMU_OPTION, arg));
    end(`val64=${back().val64}`);
  };
  const ioasAlloc = (flags: number) => {
    const back = io(iommu_ioas_alloc, { flags });
    call(`IOAS_ALLOC(flags=${hex(flags)})`, () => p.ioctl(fd, IOMMU_IOAS_ALLOC, arg));
    const id = back().out_ioas_id;
    end(`id=${id}`);
    return id;
  };
  const destroy = (id: number) => {
    io(iommu_destroy, { id });
    ORC(`DESTROY(${id})`, () => p.ioctl(fd, IOMMU_DESTROY, arg));
  };
  const length = (req: number, name: string, min: number, sz: number) => {
    const set = (size: number, tail: number) => {
      const b = new Uint8Array(sz + 8);
      new DataView(b.buffer).setUint32(0, size, true);
      b[sz + 7] = tail;
      p.poke(arg, b);
    };
    set(min - 1, 0);
    raw(req, name);
    set(sz + 8, 0xaa);
    raw(req, name);
    set(sz + 8, 0);
    raw(req, name);
  };

  ORC("DESTROY(NULL)", () => p.ioctl(fd, IOMMU_DESTROY, 0));
  ORC("ioctl nr 0x7f", () => p.ioctl(fd, _IO(IOMMUFD_TYPE, 0x7f), arg));
  ORC("ioctl _IOR nr 0x80", () => p.ioctl(fd, _IOR(IOMMUFD_TYPE, 0x80, 8), arg));
  destroy(0);
  length(IOMMU_DESTROY, "len DESTROY", 8, 8);
  length(IOMMU_IOAS_ALLOC, "len IOAS_ALLOC", 12, 12);
  length(IOMMU_IOAS_IOVA_RANGES, "len IOVA_RANGES", 32, 32);
  length(IOMMU_IOAS_ALLOW_IOVAS, "len ALLOW_IOVAS", 24, 24);
  length(IOMMU_IOAS_MAP, "len MAP", 40, 40);
  length(IOMMU_IOAS_COPY, "len COPY", 40, 40);
  length(IOMMU_IOAS_UNMAP, "len UNMAP", 24, 24);
  length(IOMMU_OPTION, "len OPTION", 24, 24);
  length(IOMMU_VFIO_IOAS, "len VFIO_IOAS", 12, 12);
  length(IOMMU_HWPT_ALLOC, "len HWPT_ALLOC", 24, 48);
  length(IOMMU_GET_HW_INFO, "len GET_HW_INFO", 32, 40);
  length(IOMMU_IOAS_MAP_FILE, "len MAP_FILE", 40, 40);
  length(IOMMU_IOAS_CHANGE_PROCESS, "len CHANGE_PROCESS", 8, 8);
  length(IOMMU_IOAS_NOIOMMU_GET_PA, "len NOIOMMU_GET_PA", 40, 40);
  ioasAlloc(1);
  const a = ioasAlloc(0);
  const b = ioasAlloc(0);
  ranges(a, 0);
  ranges(a, 2);
  allow(a, 1, 0x100000n, 0x100000n, 0n, 0n);
  allow(a, 2, 0x100000n, 0x1fffffn, 0x180000n, 0x2fffffn);
  allow(a, 2, 0x1000000n, 0x1ffffffn, 0x4000000n, 0x7ffffffn);
  ranges(a, 2);
  const i1 = map(a, 6, buf, 16 * PS, 0n, 0);
  const i2 = map(a, 6, buf + PS, 3 * PS, 0n, 0);
  map(a, 6, buf + 0x80, 0x100, 0n, 0);
  allow(a, 0, 0n, 0n, 0n, 0n);
  map(a, 6, buf, 16 * PS, 0n, 0);
  map(a, 7, buf, PS, i1 + BigInt(PS), 0);
  map(a, 7, buf, PS, U64_MAX, 0);
  map(a, 7, buf, 0, 0x40000000n, 0);
  map(a, 1, buf, PS, 0x40000000n, 0);
  map(a, 7, buf, PS, 0x40000000n, 1);
  map(a, 0x17, buf, PS, 0x40000000n, 0);
  map(99, 7, buf, PS, 0x40000000n, 0);
  map(a, 7, 0x70_0000_0000, 2 * PS, 0x50000000n, 0);
  copy(b, a, 6, 2 * PS, 0n, i1 + BigInt(PS));
  copy(b, a, 6, 2 * PS, 0n, i2 + BigInt(2 * PS));
  copy(b, a, 7, 2 * PS, 0x9000000n, 0x70000000n);
  copy(b, a, 0, 2 * PS, 0x9000000n, i1);
  unmap(a, i1 + BigInt(PS), BigInt(PS));
  unmap(a, i1, BigInt(8 * PS));
  unmap(a, 0x60000000n, BigInt(PS));
  unmap(a, i2, BigInt(3 * PS));
  unmap(a, 0n, U64_MAX);
  unmap(a, 0n, U64_MAX);
  unmap(a, 0n, 0n);
  unmap(77, 0n, BigInt(PS));
  option(0, 1, 0, 0n);
  option(0, 0, 0, 1n);
  option(0, 0, 0, 2n);
  option(0, 1, 0, 0n);
  option(0, 1, a, 0n);
  option(1, 1, 0, 0n);
  option(1, 1, a, 0n);
  option(1, 0, a, 0n);
  option(1, 1, a, 0n);
  option(1, 0, a, 2n);
  option(2, 1, a, 0n);
  {
    let back = io(iommu_vfio_ioas, { op: IOMMU_VFIO_IOAS_GET });
    call("VFIO_IOAS GET", () => p.ioctl(fd, IOMMU_VFIO_IOAS, arg));
    end(`id=${back().ioas_id}`);
    io(iommu_vfio_ioas, { op: IOMMU_VFIO_IOAS_SET, ioas_id: 55 });
    ORC("VFIO_IOAS SET 55", () => p.ioctl(fd, IOMMU_VFIO_IOAS, arg));
    io(iommu_vfio_ioas, { op: IOMMU_VFIO_IOAS_SET, ioas_id: b });
    ORC("VFIO_IOAS SET b", () => p.ioctl(fd, IOMMU_VFIO_IOAS, arg));
    back = io(iommu_vfio_ioas, { op: IOMMU_VFIO_IOAS_GET });
    call("VFIO_IOAS GET", () => p.ioctl(fd, IOMMU_VFIO_IOAS, arg));
    end(`id=${back().ioas_id}`);
    io(iommu_vfio_ioas, { op: 3 });
    ORC("VFIO_IOAS op 3", () => p.ioctl(fd, IOMMU_VFIO_IOAS, arg));
  }
  {
    const mfd = ORC("memfd_create", () => p.memfdCreate("ram", 0));
    ORC("ftruncate", () => {
      p.ftruncate(mfd, 8 * PS);
      return 0;
    });
    const mapFile = (desc: string, fdArg: number, start: number, len: number, respond: boolean) => {
      const back = io(iommu_ioas_map_file, {
        flags: 6,
        ioas_id: a,
        fd: fdArg,
        start: BigInt(start),
        length: BigInt(len),
      });
      call(desc, () => p.ioctl(fd, IOMMU_IOAS_MAP_FILE, arg));
      if (respond) end(`iova=${hex(back().iova)}`);
      else end();
    };
    mapFile("MAP_FILE(start=PS len=4PS)", mfd, PS, 4 * PS, true);
    mapFile("MAP_FILE beyond EOF", mfd, 6 * PS, 4 * PS, false);
    mapFile("MAP_FILE bad fd", 1000, 6 * PS, 4 * PS, false);
    mapFile("MAP_FILE of the iommufd", fd, 0, PS, false);
    io(iommu_ioas_change_process, {});
    ORC("CHANGE_PROCESS (file map only)", () => p.ioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, arg));
    map(b, 6, buf, PS, 0n, 0);
    io(iommu_ioas_change_process, {});
    ORC("CHANGE_PROCESS (with a VA map)", () => p.ioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, arg));
  }
  io(iommu_ioas_noiommu_get_pa, { ioas_id: b, iova: 0x9000000n, length: BigInt(PS) });
  ORC("NOIOMMU_GET_PA no domain", () => p.ioctl(fd, IOMMU_IOAS_NOIOMMU_GET_PA, arg));
  io(iommu_ioas_noiommu_get_pa, { ioas_id: b, iova: 0x123n, length: BigInt(PS) });
  ORC("NOIOMMU_GET_PA unmapped", () => p.ioctl(fd, IOMMU_IOAS_NOIOMMU_GET_PA, arg));
  destroy(a);
  destroy(a);
  ioasAlloc(0);
  return out;
}

describe("/dev/iommu answers as Linux 7.3 gives them (oracle-probes/iommufd-ioas)", () => {
  it("prints the same trace, line for line", () => {
    expect(replay()).toEqual(recorded);
  });
});
