/**
 * The model against a real Linux 7.3: replays oracle-probes/uio-pdrv-genirq.c — the UIO core and
 * uio_pdrv_genirq on a000200.virtio_mmio (bound by driver_override; an unaligned 0x200 window
 * and an edge SPI), on 9020000.fw-cfg (no interrupt), and on every virtio_mmio transport by
 * `of_id=virtio,mmio` — and holds the model's transcript to the recorded one line by line.
 * The board reproduces QEMU virt's virtio-mmio transports and fw-cfg node for node, so the
 * probe runs unchanged. What differs by construction, and is substituted below:
 *
 * - the `uio` major is the first free dynamic one: 251 on the oracle's kernel (which had given
 *   254–252 to other drivers first), 254 on the model;
 * - Linux IRQ numbers (virqs) depend on which drivers requested lines before: normalised to
 *   `<virq>` on both sides (the hardware IRQ, trigger and name columns are compared);
 * - /sys/module/<m> has no `coresize`, `initsize`, `notes`, `sections`, `uevent` in the model
 *   (they describe a module image; module-sysfs.ts caveat);
 * - `ls /dev` is reduced to the `uio*` nodes (the oracle's /dev has its consoles and ttys), and
 *   `ls /sys/class` to whether `uio` is in it (the model has few classes);
 * - the probe process has stdin, stdout and stderr open, so its first fd is 3: the replaying
 *   process opens /dev/null three times first.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import {
  MAP_PRIVATE,
  MAP_SHARED,
  major,
  minor,
  O_NONBLOCK,
  O_RDWR,
  POLLIN,
  POLLRDNORM,
  PROT_READ,
  PROT_WRITE,
  S_IFCHR,
  S_IFMT,
  SEEK_SET,
} from "@vfio-lab/kernel";
import { describe, expect, test } from "vitest";
import { uioModule, uioOf, uioPdrvGenirqModule } from "../src/index.js";
import { boot, peek32 } from "./fixture.js";
import { compare, OracleReplay } from "./oracle.js";

const VIRTIO = "a000200.virtio_mmio";
const FWCFG = "9020000.fw-cfg";
const PS = PAGE_SIZE;
const FILE = "uio-pdrv-genirq.7.3.txt";

/** `0x%x` / `%#x` of C: 0 prints without a prefix. */
const hx = (n: number) => (n === 0 ? "0" : `0x${n.toString(16)}`);

function runProbe(): { r: OracleReplay; uioMajor: number } {
  const { kernel, admin: p } = boot();
  const r = new OracleReplay(kernel, p);
  const va = p.malloc(16);
  for (let i = 0; i < 3; i++) p.open("/dev/null", O_RDWR);

  const statNode = (path: string) => {
    try {
      const st = p.stat(path);
      const kind = (st.mode & S_IFMT) === S_IFCHR ? "char" : "other";
      const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
      r.info(`stat ${path}: ${kind} mode=${mode} rdev=${major(st.rdev)}:${minor(st.rdev)}`);
    } catch (e) {
      r.info(`stat ${path}: ${(e as { code: string }).code}`);
    }
  };
  const showLink = (path: string) => {
    try {
      r.info(`readlink ${path} = ${p.readlink(path)}`);
    } catch (e) {
      r.info(`readlink ${path}: ${(e as { code: string }).code}`);
    }
  };
  const procDevicesUio = () => {
    const row = p
      .readFile("/proc/devices")
      .split("\n")
      .map((l) => /^\s*(\d+) (\S+)$/.exec(l))
      .find((m) => m?.[2] === "uio");
    r.info(row ? `/proc/devices: ${row[1]} uio` : "/proc/devices: no uio");
  };
  const procInterrupts = (what: string) => {
    let found = false;
    for (const line of p.readFile("/proc/interrupts").split("\n")) {
      if (!line.includes(what)) continue;
      const at = line.indexOf("GICv3");
      const irq = line.slice(0, line.indexOf(":")).trim();
      r.info(`/proc/interrupts ${irq}: ${at >= 0 ? line.slice(at) : "?"}`);
      found = true;
    }
    if (!found) r.info(`/proc/interrupts: no row for ${what}`);
  };
  const classDev = (uio: string) => {
    const base = `/sys/class/uio/${uio}`;
    r.ls(base);
    for (const f of ["name", "version", "event", "dev", "uevent"]) r.showFile(`${base}/${f}`);
    showLink(base);
    showLink(`${base}/device`);
    showLink(`${base}/subsystem`);
    r.ls(`${base}/maps`);
    for (let m = 0; m < 5; m++) {
      const dir = `${base}/maps/map${m}`;
      if (!p.readdir(`${base}/maps`).includes(`map${m}`)) break;
      r.ls(dir);
      for (const f of ["name", "addr", "size", "offset"]) r.showFile(`${dir}/${f}`);
    }
    r.ls(`${base}/portio`);
  };
  const rd = (fd: number, n: number, why: string) => {
    p.poke(va, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    r.orc(
      `read(uio, ${n}) ${why}`,
      () => p.read(fd, va, n),
      (ret) => (ret === 4 ? `count=${peek32(p, va) | 0}` : null),
    );
  };
  const wr = (fd: number, v: number, n: number, why: string) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setInt32(0, v, true);
    p.poke(va + 8, b);
    r.orc(`write(uio, ${v}, ${n}) ${why}`, () => p.write(fd, va + 8, n));
  };
  const pl = (fd: number, why: string) => {
    let revents = 0;
    r.orc(
      `poll(uio, POLLIN, 0) ${why}`,
      () => {
        revents = p.poll([{ fd, events: POLLIN | POLLRDNORM }], 0)[0]?.revents ?? 0;
        return revents ? 1 : 0;
      },
      () => `revents=${hx(revents)}`,
    );
  };
  const mp = (fd: number, len: number, prot: number, flags: number, off: number, why: string) => {
    let a: number | null = null;
    const kind = flags & MAP_SHARED ? "MAP_SHARED" : "MAP_PRIVATE";
    r.orc(`mmap(uio, len=${hx(len)}, off=${hx(off)}, ${kind}) ${why}`, () => {
      a = p.mmap(0, len, prot, flags, fd, off);
      return 0;
    });
    return a as number | null;
  };
  const fops = (fd: number, why: string) => {
    rd(fd, 3, why);
    rd(fd, 8, why);
    rd(fd, 4, why);
    wr(fd, 1, 3, why);
    wr(fd, 1, 4, why);
    wr(fd, 0, 4, why);
    wr(fd, 1, 4, why);
    r.orc(`write(uio, bad address, 4) ${why}`, () => p.write(fd, 8, 4));
    pl(fd, why);
    for (const [len, prot, flags, off] of [
      [PS, PROT_READ | PROT_WRITE, MAP_SHARED, 0],
      [2 * PS, PROT_READ, MAP_SHARED, 0],
      [PS, PROT_READ, MAP_SHARED, PS],
      [PS, PROT_READ, MAP_SHARED, 5 * PS],
      [PS, PROT_READ, MAP_PRIVATE, 0],
    ] as const) {
      const a = mp(fd, len, prot, flags, off, why);
      if (a !== null) p.munmap(a, len);
    }
  };
  const driverOf = (dev: string) => r.driverOf("platform", dev);

  r.kmsg();
  r.step("boot state");
  r.info(
    `platform ${VIRTIO}: driver=${driverOf(VIRTIO)} iommu_group=${r.iommuGroup("platform", VIRTIO)}`,
  );
  r.info(
    `platform ${FWCFG}: driver=${driverOf(FWCFG)} iommu_group=${r.iommuGroup("platform", FWCFG)}`,
  );
  r.ls("/sys/class/uio");

  r.step("load uio_pdrv_genirq");
  r.modprobe(uioPdrvGenirqModule, "");
  r.kmsg();
  r.ls("/sys/module/uio_pdrv_genirq");
  r.ls("/sys/module/uio_pdrv_genirq/parameters");
  r.showFile("/sys/module/uio/refcnt");
  r.showFile("/sys/module/uio_pdrv_genirq/refcnt");
  r.ls("/sys/module/uio/holders");
  r.ls("/sys/class/uio");
  r.ls("/sys/bus/platform/drivers/uio_pdrv_genirq");
  procDevicesUio();
  const uioMajor = uioOf(kernel)?.major ?? -1;

  r.step("nothing binds without override or of_id");
  r.writeFile("/sys/bus/platform/drivers_probe", VIRTIO);
  r.info(`driver=${driverOf(VIRTIO)}`);
  r.kmsg();

  r.step("bind a000200.virtio_mmio by driver_override");
  r.bind("platform", VIRTIO, "uio_pdrv_genirq");
  r.kmsg();
  r.ls("/sys/class/uio");
  r.ls(`/sys/bus/platform/devices/${VIRTIO}`);
  r.ls(`/sys/bus/platform/devices/${VIRTIO}/uio`);
  classDev("uio0");
  r.ls("/dev");
  statNode("/dev/uio0");
  procInterrupts("virtio_mmio@a000200");
  r.showFile("/sys/module/uio_pdrv_genirq/refcnt");

  r.step("fops on uio0 (virtio_mmio, edge irq)");
  const fd = r.orc("open(/dev/uio0, O_RDWR)", () => p.open("/dev/uio0", O_RDWR));
  r.showFile("/sys/module/uio/refcnt");
  r.showFile("/sys/module/uio_pdrv_genirq/refcnt");
  const fd2 = r.orc("open(/dev/uio0, O_RDWR|O_NONBLOCK)", () =>
    p.open("/dev/uio0", O_RDWR | O_NONBLOCK),
  );
  r.showFile("/sys/module/uio/refcnt");
  r.showFile("/sys/module/uio_pdrv_genirq/refcnt");
  fops(fd2, "nonblock");
  r.orc("lseek(uio, 4, SEEK_SET)", () => Number(p.lseek(fd2, 4, SEEK_SET)));
  r.orc("pread(uio, 4, 0)", () => p.pread(fd2, va, 4, 0));
  const m = mp(fd2, PS, PROT_READ | PROT_WRITE, MAP_SHARED, 0, "keep");
  if (m !== null) {
    const w = (o: number) => hx(peek32(p, m + o));
    r.info(
      `mapping: +0x000=${w(0)} +0x200=${w(0x200)} +0x204=${w(0x204)} +0x20c=${w(0x20c)} +0x400=${w(0x400)}`,
    );
  }
  r.showFile("/sys/class/uio/uio0/event");
  r.orc("delete_module(uio_pdrv_genirq) while open", () => {
    kernel.rmmod("uio_pdrv_genirq");
    return 0;
  });
  r.orc("delete_module(uio) while open", () => {
    kernel.rmmod("uio");
    return 0;
  });

  r.step("unbind while open");
  r.writeFile(`/sys/bus/platform/devices/${VIRTIO}/driver/unbind`, VIRTIO);
  r.kmsg();
  r.ls("/sys/class/uio");
  r.ls("/dev");
  r.showFile("/sys/module/uio_pdrv_genirq/refcnt");
  procInterrupts("virtio_mmio@a000200");
  rd(fd2, 4, "after unbind");
  rd(fd2, 3, "after unbind");
  wr(fd2, 1, 4, "after unbind");
  wr(fd2, 1, 3, "after unbind");
  r.orc("write(uio, bad address, 4) after unbind", () => p.write(fd2, 8, 4));
  pl(fd2, "after unbind");
  const a = mp(fd2, PS, PROT_READ, MAP_SHARED, 0, "after unbind");
  if (a !== null) p.munmap(a, PS);
  if (m !== null) r.info(`old mapping after unbind: +0x200=${hx(peek32(p, m + 0x200))}`);
  r.orc("open(/dev/uio0) after unbind", () => p.open("/dev/uio0", O_RDWR));
  r.orc("close(fd)", () => {
    p.close(fd);
    return 0;
  });
  r.showFile("/sys/module/uio_pdrv_genirq/refcnt");
  r.orc("close(fd2)", () => {
    p.close(fd2);
    return 0;
  });
  r.showFile("/sys/module/uio_pdrv_genirq/refcnt");
  r.showFile("/sys/module/uio/refcnt");
  if (m !== null) r.info(`old mapping after close: +0x200=${hx(peek32(p, m + 0x200))}`);
  if (m !== null) p.munmap(m, PS);
  r.showFile("/sys/module/uio_pdrv_genirq/refcnt");
  r.kmsg();

  r.step("a device without an interrupt: 9020000.fw-cfg");
  r.bind("platform", FWCFG, "uio_pdrv_genirq");
  r.kmsg();
  r.ls("/sys/class/uio");
  classDev("uio0");
  procInterrupts("fw-cfg");
  const fd3 = r.orc("open(/dev/uio0, O_RDWR|O_NONBLOCK)", () =>
    p.open("/dev/uio0", O_RDWR | O_NONBLOCK),
  );
  fops(fd3, "no irq");
  r.orc("close(fd)", () => {
    p.close(fd3);
    return 0;
  });
  r.writeFile(`/sys/bus/platform/devices/${FWCFG}/driver/unbind`, FWCFG);
  r.writeFile(`/sys/bus/platform/devices/${FWCFG}/driver_override`, "\n");
  r.writeFile(`/sys/bus/platform/devices/${VIRTIO}/driver_override`, "\n");
  r.kmsg();

  r.step("bind errors");
  r.writeFile("/sys/bus/platform/drivers/uio_pdrv_genirq/bind", VIRTIO);
  r.writeFile("/sys/bus/platform/drivers/uio_pdrv_genirq/bind", "9010000.pl031");
  r.writeFile("/sys/bus/platform/drivers/uio_pdrv_genirq/unbind", VIRTIO);
  r.kmsg();

  r.step("of_id=virtio,mmio on a fresh module");
  r.rmmod("uio_pdrv_genirq");
  r.kmsg();
  r.modprobe(uioPdrvGenirqModule, "of_id=virtio,mmio");
  r.kmsg();
  r.ls("/sys/module/uio_pdrv_genirq");
  r.ls("/sys/bus/platform/drivers/uio_pdrv_genirq");
  r.ls("/sys/class/uio");
  r.showFile("/sys/class/uio/uio0/name");
  r.showFile("/sys/class/uio/uio1/name");
  r.showFile("/sys/class/uio/uio31/name");
  showLink("/sys/class/uio/uio0/device");
  showLink("/sys/class/uio/uio1/device");
  showLink("/sys/class/uio/uio31/device");
  r.showFile("/sys/class/uio/uio1/maps/map0/addr");
  r.showFile("/sys/class/uio/uio1/maps/map0/offset");
  r.info(`fw-cfg driver=${driverOf(FWCFG)}`);
  statNode("/dev/uio31");
  procInterrupts("virtio_mmio@a003e00");
  r.rmmod("uio_pdrv_genirq");
  r.kmsg();
  r.ls("/sys/class/uio");
  r.rmmod(uioModule.name);
  r.ls("/sys/class");
  procDevicesUio();
  r.kmsg();
  return { r, uioMajor };
}

/** The model's module directories lack what describes a module image (module-sysfs.ts). */
const MODULE_IMAGE_FILES = /\b(coresize|initsize|notes|sections|uevent) /g;

describe("oracle uio-pdrv-genirq.c, replayed on the board", () => {
  const { r, uioMajor } = runProbe();
  const virq = (l: string) =>
    l.replace(/^INFO \/proc\/interrupts \d+:/, "INFO /proc/interrupts <virq>:");
  const devOnlyUio = (l: string) =>
    l.startsWith("INFO ls /sys/class: ")
      ? `INFO ls /sys/class: ${l.includes(" uio ") ? "(with uio)" : "(without uio)"}`
      : l.startsWith("INFO ls /dev: ")
        ? `INFO ls /dev: ${l
            .slice("INFO ls /dev: ".length)
            .split(" ")
            .filter((n) => n.startsWith("uio"))
            .map((n) => `${n} `)
            .join("")}`
        : l;
  const { got, want } = compare(r, FILE, (l) => {
    let s = devOnlyUio(virq(l));
    s = s.replaceAll("251:", `${uioMajor}:`).replace("MAJOR=251", `MAJOR=${uioMajor}`);
    s = s.replace("/proc/devices: 251 uio", `/proc/devices: ${uioMajor} uio`);
    if (s.startsWith("INFO ls /sys/module/uio_pdrv_genirq:")) s = s.replace(MODULE_IMAGE_FILES, "");
    return s;
  });
  const gotN = got.map((l) => devOnlyUio(virq(l)));

  test("every line of the recorded trace is reproduced, in order", () => {
    expect(gotN).toEqual(want);
  });

  test("the uio major is a dynamic one, from the top of the range down", () => {
    expect(uioMajor).toBe(254);
  });
});
