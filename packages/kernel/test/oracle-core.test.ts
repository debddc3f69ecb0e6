/**
 * The model against a real Linux 7.3: replays the syscalls of oracle-probes/core-syscalls.c that
 * need nothing beyond kernel part 1 and compares each answer (return value or errno) with the
 * line the real kernel printed for it (oracle-probes/core-syscalls.7.3.txt).
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SysError } from "../src/errno.js";
import { EFD_NONBLOCK } from "../src/fs/eventfd.js";
import { O_NONBLOCK, O_RDONLY, O_WRONLY, SEEK_END, SEEK_SET } from "../src/fs/file.js";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../src/mm/mman.js";
import { F_GETFL, FIONBIO } from "../src/process.js";
import { _IOWR } from "../src/uapi/ioctl.js";
import { boot } from "./fixture.js";

const recorded = readFileSync(
  new URL("../../../oracle-probes/core-syscalls.7.3.txt", import.meta.url),
  "utf8",
);

/** `call => ret=… errno=…` of every ORC line, by the call text. */
const linux = new Map(
  recorded
    .split("\n")
    .filter((l) => l.startsWith("ORC "))
    .map((l) => {
      const m = /^ORC \d+ (.*) => (ret=\S+ errno=\S+)/.exec(l)!;
      return [m[1]!, m[2]!] as const;
    }),
);

/** The same answer line for a call on the model. */
function answer(f: () => number | bigint): string {
  try {
    return `ret=${f()} errno=OK(0)`;
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    return `ret=-1 errno=${e.code}(${e.errno})`;
  }
}

describe("kernel part 1 answers as Linux 7.3 gives them", () => {
  it("has the recorded probe output to compare with", () => {
    expect(linux.size).toBeGreaterThan(30);
  });

  it("/dev/kmsg, eventfd, fcntl, ioctl, mmap and pagemap", () => {
    const { p } = boot();
    const buf = p.malloc(8192);
    const calls: [string, () => number | bigint][] = [];
    const k = p.open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
    calls.push(["read(kmsg, buf, 8)", () => p.read(k, buf, 8)]);
    calls.push(["lseek(kmsg, 0, SEEK_END)", () => p.lseek(k, 0, SEEK_END)]);
    calls.push(["read(kmsg) after SEEK_END", () => p.read(k, buf, 8192)]);
    const e = p.eventfd(0, EFD_NONBLOCK);
    calls.push(["read(efd) empty", () => p.read(e, buf, 8)]);
    calls.push(["read(efd, 4)", () => p.read(e, buf, 4)]);
    calls.push([
      "write(efd, 0xffffffffffffffff)",
      () => {
        p.poke(buf, new Uint8Array(8).fill(0xff));
        return p.write(e, buf, 8);
      },
    ]);
    calls.push([
      "write(efd, 3)",
      () => {
        p.poke(buf, [3, 0, 0, 0, 0, 0, 0, 0]);
        return p.write(e, buf, 8);
      },
    ]);
    calls.push(["lseek(efd, 5, SEEK_SET)", () => p.lseek(e, 5, SEEK_SET)]);
    calls.push(["pread(efd)", () => p.pread(e, buf, 8, 0)]);
    calls.push(["eventfd(0, 0x40)", () => p.eventfd(0, 0x40)]);
    calls.push(["fcntl(efd, F_GETFL)", () => p.fcntl(e, F_GETFL)]);
    const nul = p.open("/dev/null", O_RDONLY);
    calls.push(["fcntl(/dev/null O_RDONLY, F_GETFL)", () => p.fcntl(nul, F_GETFL)]);
    calls.push(["ioctl(/dev/null, FIONBIO, NULL)", () => p.ioctl(nul, FIONBIO, 0)]);
    calls.push(["ioctl(/dev/null, _IOWR('t',1,u64))", () => p.ioctl(nul, _IOWR("t", 1, 8), buf)]);
    calls.push([
      "mmap(/proc/cmdline)",
      () => {
        p.mmap(0, 4096, PROT_READ, MAP_PRIVATE, p.open("/proc/cmdline", O_RDONLY), 0);
        return 0;
      },
    ]);
    const page = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p.poke(page, [1]);
    const pm = p.open("/proc/self/pagemap", O_RDONLY);
    calls.push(["pread(pagemap) as root", () => p.pread(pm, buf, 8, Math.floor(page / 4096) * 8)]);
    calls.push([
      "capset(all empty)",
      () => {
        p.capset({ effective: [], permitted: [] });
        return 0;
      },
    ]);
    calls.push([
      "open(/proc/sys/kernel/tainted, O_WRONLY) without caps",
      () => p.open("/proc/sys/kernel/tainted", O_WRONLY),
    ]);
    const model: string[] = [];
    const real: string[] = [];
    for (const [call, f] of calls) {
      const a = answer(f);
      // File descriptors differ between the probe and the model; compare the errno and the class.
      const fdLike = call.startsWith("open(") || call.startsWith("eventfd(");
      model.push(`${call} => ${fdLike ? a.replace(/ret=\d+/, "ret=FD") : a}`);
      const l = linux.get(call);
      expect(l, call).toBeDefined();
      real.push(`${call} => ${fdLike ? l!.replace(/ret=\d+/, "ret=FD") : l}`);
    }
    expect(model).toEqual(real);
  });
});
