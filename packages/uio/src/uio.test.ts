import { fc } from "@fast-check/vitest";
import {
  DMA_TEST_CTRL,
  DMA_TEST_REGISTERS,
  DMA_TEST_STATUS,
  type DmaTestRegister,
  PAGE_SIZE,
} from "@vfio-lab/hw-soc";
import {
  type Device,
  defineModule,
  IRQ_HANDLED,
  IRQ_NONE,
  ioremap,
  type Kernel,
  MAP_PRIVATE,
  MAP_SHARED,
  MKDEV,
  O_NONBLOCK,
  O_RDWR,
  POLLERR,
  POLLIN,
  POLLRDNORM,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SysError,
} from "@vfio-lab/kernel";
import { beforeEach, describe, expect, test } from "vitest";
import { boot, dmesgOf, le32, peek32 } from "../test/fixture.js";
import {
  formatPa,
  uioEventNotify,
  uioModule,
  uioOf,
  uioRegisterDevice,
  uioUnregisterDevice,
} from "./uio.js";
import {
  newUioInfo,
  UIO_IRQ_CUSTOM,
  UIO_IRQ_NONE,
  UIO_MEM_DMA_COHERENT,
  UIO_MEM_IOVA,
  UIO_MEM_LOGICAL,
  UIO_MEM_PHYS,
  UIO_PORT_GPIO,
  UIO_PORT_X86,
  type UioInfo,
} from "./uio-driver.js";

/** The engine the core is exercised on (its kernel driver is unbound first). */
const ENGINE = "c031000.dma-test";
const ENGINE_BASE = 0x0c03_1000;
/** A module standing for a UIO driver (what `owner` names and open() pins). */
const OWNER = { name: "uio_core_test" } as const;
const ownerModule = defineModule<Kernel, readonly []>({
  name: OWNER.name,
  params: [],
  dependencies: [uioModule],
  init: () => {},
  exit: () => {},
});
const REG = Object.fromEntries(DMA_TEST_REGISTERS.map((r) => [r.name, r.offset])) as Record<
  DmaTestRegister,
  number
>;

interface Env {
  kernel: Kernel;
  admin: Process;
  p: Process;
  parent: Device;
  /** The engine's Linux IRQ (level). */
  irq: number;
  va: number;
}

function setup(): Env {
  const { kernel, admin } = boot();
  kernel.modprobe(ownerModule);
  admin.writeFile(`/sys/bus/platform/devices/${ENGINE}/driver/unbind`, ENGINE);
  const parent = kernel.drivers.findDevice("platform", ENGINE)!;
  const irq = kernel.irq.irqFindMapping(158);
  const p = kernel.spawn({ comm: "uio-user" });
  return { kernel, admin, p, parent, irq, va: p.malloc(16) };
}

/** One PHYS map over the engine's window, no interrupt. */
function engineInfo(overrides: Partial<UioInfo> = {}): UioInfo {
  const info = newUioInfo("engine", "0.1");
  Object.assign(info.mem[0]!, {
    name: "regs",
    addr: ENGINE_BASE,
    offs: 0,
    size: PAGE_SIZE,
    memtype: UIO_MEM_PHYS,
  });
  return Object.assign(info, overrides);
}

function register(e: Env, info: UioInfo): UioInfo {
  uioRegisterDevice(e.kernel, OWNER, e.parent, info);
  return info;
}

function listing(p: Process, path: string): string[] {
  return p
    .readdir(path)
    .filter((n) => !n.startsWith("."))
    .sort();
}

describe("registration", () => {
  let e: Env;
  beforeEach(() => {
    e = setup();
  });

  test("before the uio module is loaded, registration defers (EPROBE_DEFER)", () => {
    const { kernel } = boot();
    const parent = kernel.drivers.findDevice("platform", ENGINE)!;
    expect(() => uioRegisterDevice(kernel, OWNER, parent, engineInfo())).toThrowErrno(
      "EPROBE_DEFER",
    );
  });

  test("a missing name or version is EINVAL, and nothing is created", () => {
    const noName = engineInfo({ name: undefined as unknown as string });
    expect(() => register(e, noName)).toThrowErrno("EINVAL");
    const noVersion = engineInfo({ version: undefined as unknown as string });
    expect(() => register(e, noVersion)).toThrowErrno("EINVAL");
    expect(listing(e.p, "/sys/class/uio")).toEqual([]);
  });

  test("the class device sits under its parent with name, version and event", () => {
    register(e, engineInfo());
    const dir = "/sys/devices/platform/platform-bus@c000000/c031000.dma-test/uio/uio0";
    expect(e.p.readlink("/sys/class/uio/uio0")).toBe(
      "../../devices/platform/platform-bus@c000000/c031000.dma-test/uio/uio0",
    );
    expect(listing(e.p, dir)).toEqual([
      "dev",
      "device",
      "event",
      "maps",
      "name",
      "subsystem",
      "uevent",
      "version",
    ]);
    expect(e.p.readFile(`${dir}/name`)).toBe("engine\n");
    expect(e.p.readFile(`${dir}/version`)).toBe("0.1\n");
    expect(e.p.readFile(`${dir}/event`)).toBe("0\n");
    const major = uioOf(e.kernel)!.major;
    expect(e.p.readFile(`${dir}/dev`)).toBe(`${major}:0\n`);
    expect(e.p.stat("/dev/uio0").mode & 0o7777).toBe(0o600);
  });

  test("minors are handed out lowest-free and reused after unregistration", () => {
    const infos = [0, 1, 2].map(() => register(e, engineInfo()));
    uioUnregisterDevice(infos[1]!);
    expect(listing(e.p, "/sys/class/uio")).toEqual(["uio0", "uio2"]);
    register(e, engineInfo());
    expect(listing(e.p, "/sys/class/uio")).toEqual(["uio0", "uio1", "uio2"]);
  });

  test("maps end at the first map of size 0; a map without a name shows an empty line", () => {
    const info = engineInfo();
    Object.assign(info.mem[0]!, { name: null });
    Object.assign(info.mem[2]!, { addr: 0x1000, size: PAGE_SIZE, memtype: UIO_MEM_PHYS });
    register(e, info);
    expect(listing(e.p, "/sys/class/uio/uio0/maps")).toEqual(["map0"]);
    expect(e.p.readFile("/sys/class/uio/uio0/maps/map0/name")).toBe("\n");
  });

  test("a device without maps has no maps directory", () => {
    const info = newUioInfo("bare", "1");
    register(e, info);
    expect(listing(e.p, "/sys/class/uio/uio0")).not.toContain("maps");
  });

  test("map addr and size print as %pa (0x + 16 digits), offset as 0x%llx", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
        (addr, size, offs) => {
          const info = newUioInfo("fmt", "1");
          Object.assign(info.mem[0]!, { addr, size, offs, memtype: UIO_MEM_PHYS });
          register(e, info);
          try {
            const dir = "/sys/class/uio/uio0/maps/map0";
            expect(e.p.readFile(`${dir}/addr`)).toBe(`0x${addr.toString(16).padStart(16, "0")}\n`);
            expect(e.p.readFile(`${dir}/size`)).toBe(`0x${size.toString(16).padStart(16, "0")}\n`);
            expect(e.p.readFile(`${dir}/offset`)).toBe(`0x${offs.toString(16)}\n`);
          } finally {
            uioUnregisterDevice(info);
          }
        },
      ),
    );
  });

  test("formatPa pads to 16 hex digits", () => {
    expect(formatPa(0xc031000)).toBe("0x000000000c031000");
    expect(formatPa(0)).toBe("0x0000000000000000");
  });

  test("port regions appear as portio/portN with name, start, size and porttype", () => {
    const info = newUioInfo("ports", "1");
    Object.assign(info.port[0]!, { name: "io", start: 0x3f8, size: 8, porttype: UIO_PORT_X86 });
    Object.assign(info.port[1]!, { name: null, start: 0x10, size: 1, porttype: UIO_PORT_GPIO });
    register(e, info);
    const dir = "/sys/class/uio/uio0/portio";
    expect(listing(e.p, dir)).toEqual(["port0", "port1"]);
    expect(listing(e.p, `${dir}/port0`)).toEqual(["name", "porttype", "size", "start"]);
    expect(e.p.readFile(`${dir}/port0/name`)).toBe("io\n");
    expect(e.p.readFile(`${dir}/port0/start`)).toBe("0x3f8\n");
    expect(e.p.readFile(`${dir}/port0/size`)).toBe("0x8\n");
    expect(e.p.readFile(`${dir}/port0/porttype`)).toBe("port_x86\n");
    expect(e.p.readFile(`${dir}/port1/name`)).toBe("\n");
    expect(e.p.readFile(`${dir}/port1/porttype`)).toBe("port_gpio\n");
  });

  test("a porttype beyond UIO_PORT_OTHER fails the read of porttype with EINVAL", () => {
    const info = newUioInfo("ports", "1");
    Object.assign(info.port[0]!, { name: "x", start: 1, size: 1, porttype: 7 });
    register(e, info);
    expect(() => e.p.readFile("/sys/class/uio/uio0/portio/port0/porttype")).toThrowErrno("EINVAL");
  });

  test("the interrupt is requested as a threaded IRQ named after the device", () => {
    register(e, engineInfo({ irq: e.irq, handler: () => IRQ_HANDLED }));
    expect(e.kernel.irq.irqInfo(e.irq)?.actions).toEqual(["engine"]);
    expect(e.kernel.irq.irqToDesc(e.irq)?.actions[0]?.threadFn).not.toBeNull();
  });

  test("UIO_IRQ_NONE and UIO_IRQ_CUSTOM request no interrupt", () => {
    register(e, engineInfo({ irq: UIO_IRQ_NONE }));
    register(e, engineInfo({ irq: UIO_IRQ_CUSTOM }));
    expect(e.kernel.irq.irqInfo(e.irq)?.actions).toEqual([]);
  });

  test("a refused interrupt fails registration with its errno and leaves nothing behind", () => {
    const info = engineInfo({ irq: 9999, handler: () => IRQ_HANDLED });
    expect(() => register(e, info)).toThrowErrno("EINVAL");
    expect(info.uioDev).toBeNull();
    expect(listing(e.p, "/sys/class/uio")).toEqual([]);
    expect(listing(e.p, "/dev").filter((n) => n.startsWith("uio"))).toEqual([]);
    register(e, engineInfo());
    expect(listing(e.p, "/sys/class/uio")).toEqual(["uio0"]);
  });

  test.each([
    ["kzalloc", 1, []],
    ["kobject_create_and_add", 1, ["uio uio0: error creating sysfs files (-12)"]],
    ["kzalloc", 2, ["uio uio0: error creating sysfs files (-12)"]],
  ] as const)(
    "an allocation failure (%s #%d) is ENOMEM and undoes everything",
    (site, nth, log) => {
      let n = 0;
      e.kernel.allocator.setFailHook((s) => s === site && ++n === nth);
      const info = engineInfo({ irq: e.irq, handler: () => IRQ_HANDLED });
      const lines = dmesgOf(e.kernel, () => {
        expect(() => register(e, info)).toThrowErrno("ENOMEM");
      });
      e.kernel.allocator.setFailHook(undefined);
      expect(lines.map((l) => l.replace(/^\[[ .\d]+\] /, ""))).toEqual(log);
      expect(listing(e.p, "/sys/class/uio")).toEqual([]);
      expect(e.kernel.irq.irqInfo(e.irq)?.actions).toEqual([]);
      register(e, engineInfo());
      expect(listing(e.p, "/sys/class/uio")).toEqual(["uio0"]);
    },
  );

  test("unregistration removes the class device, its node and the interrupt", () => {
    const info = register(e, engineInfo({ irq: e.irq, handler: () => IRQ_HANDLED }));
    uioUnregisterDevice(info);
    expect(listing(e.p, "/sys/class/uio")).toEqual([]);
    expect(() => e.p.stat("/dev/uio0")).toThrowErrno("ENOENT");
    expect(e.kernel.irq.irqInfo(e.irq)?.actions).toEqual([]);
    // cleanup_glue_dir(): the parent's `uio` directory goes with its last uioN.
    expect(listing(e.p, `/sys/devices/platform/platform-bus@c000000/${ENGINE}`)).not.toContain(
      "uio",
    );
  });

  test("unregistering an info that was never registered does nothing", () => {
    expect(() => uioUnregisterDevice(engineInfo())).not.toThrow();
  });
});

describe("the interrupt", () => {
  let e: Env;
  beforeEach(() => {
    e = setup();
  });

  /** A kernel-side handler that acknowledges the engine (as a device-specific UIO driver does). */
  function ackingInfo(seen: number[]): UioInfo {
    const io = ioremap(e.kernel.soc.bus, ENGINE_BASE, PAGE_SIZE)!;
    const info: UioInfo = engineInfo({
      irq: e.irq,
      handler: (_irq, i) => {
        seen.push(i.uioDev?.event ?? -1);
        const st = io.readl(REG.STATUS);
        if (!(st & DMA_TEST_STATUS.DONE)) return IRQ_NONE;
        io.writel(REG.STATUS, DMA_TEST_STATUS.DONE);
        return IRQ_HANDLED;
      },
    });
    return info;
  }

  function fire(p: Process, regs: number): void {
    p.poke(regs + REG.LEN, le32(4));
    p.poke(
      regs + REG.CTRL,
      le32(
        DMA_TEST_CTRL.START |
          DMA_TEST_CTRL.IRQ_EN |
          (DMA_TEST_CTRL.MODE_FILL << DMA_TEST_CTRL.MODE_SHIFT),
      ),
    );
  }

  test("an event is counted by the IRQ thread, after the handler returned", () => {
    const seen: number[] = [];
    register(e, ackingInfo(seen));
    const fd = e.p.open("/dev/uio0", O_RDWR);
    const regs = e.p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    // DST 0 is unmapped behind the SMMU: the transfer ends in ERROR; DONE is what the handler
    // acknowledges, so make it a good one into the neighbour's DMA buffer.
    const other = e.kernel.drivers.findDevice("platform", "c030000.dma-test")!;
    const buf = e.kernel.iommu.dma.dmaAllocCoherent(other, PAGE_SIZE);
    e.p.poke(regs + REG.DST_LO, le32(buf.dmaHandle % 2 ** 32));
    e.p.poke(regs + REG.DST_HI, le32(Math.floor(buf.dmaHandle / 2 ** 32)));
    fire(e.p, regs);
    expect(e.p.read(fd, e.va, 4)).toBe(4);
    expect(peek32(e.p, e.va)).toBe(1);
    // The handler ran while the count was still 0: the thread counted it.
    expect(seen).toEqual([0]);
  });

  test("an interrupt the handler does not claim (IRQ_NONE) counts nothing", () => {
    const io = ioremap(e.kernel.soc.bus, ENGINE_BASE, PAGE_SIZE)!;
    let calls = 0;
    // Quiets the engine but disowns the interrupt (as a handler of a shared line would).
    const info = register(
      e,
      engineInfo({
        irq: e.irq,
        handler: () => {
          calls++;
          io.writel(REG.STATUS, DMA_TEST_STATUS.DONE | DMA_TEST_STATUS.ERROR);
          return IRQ_NONE;
        },
      }),
    );
    const fd = e.p.open("/dev/uio0", O_RDWR | O_NONBLOCK);
    const regs = e.p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    fire(e.p, regs);
    e.kernel.soc.clock.run(10_000);
    expect(calls).toBe(1);
    expect(info.uioDev?.event).toBe(0);
    expect(() => e.p.read(fd, e.va, 4)).toThrowErrno("EAGAIN");
  });

  test("uioEventNotify() counts an event for readers and pollers", () => {
    const info = register(e, engineInfo({ irq: UIO_IRQ_CUSTOM }));
    const fd = e.p.open("/dev/uio0", O_RDWR | O_NONBLOCK);
    expect(e.p.poll([{ fd, events: POLLIN }], 0)[0]?.revents).toBe(0);
    uioEventNotify(info);
    uioEventNotify(info);
    expect(e.p.poll([{ fd, events: POLLIN | POLLRDNORM }], 0)[0]?.revents).toBe(
      POLLIN | POLLRDNORM,
    );
    expect(e.p.read(fd, e.va, 4)).toBe(4);
    expect(peek32(e.p, e.va)).toBe(2);
    expect(e.p.readFile("/sys/class/uio/uio0/event")).toBe("2\n");
  });

  test("the count is an s32 to read() and unsigned in sysfs, and wraps at 2^32", () => {
    const info = register(e, engineInfo({ irq: UIO_IRQ_CUSTOM }));
    const fd = e.p.open("/dev/uio0", O_RDWR | O_NONBLOCK);
    info.uioDev!.event = 0x7fff_ffff;
    uioEventNotify(info);
    expect(e.p.readFile("/sys/class/uio/uio0/event")).toBe("2147483648\n");
    e.p.read(fd, e.va, 4);
    expect(peek32(e.p, e.va) | 0).toBe(-2147483648);
    info.uioDev!.event = 0xffff_ffff;
    uioEventNotify(info);
    expect(e.p.readFile("/sys/class/uio/uio0/event")).toBe("0\n");
  });
});

describe("/dev/uioN", () => {
  let e: Env;
  beforeEach(() => {
    e = setup();
  });

  test("open of a minor with no device is ENODEV", () => {
    register(e, engineInfo());
    // mknod /dev/uio5 c <major> 5
    e.kernel.vfs.devtmpfs.devtmpfsCreateNode({
      nodename: "uio5",
      devt: MKDEV(uioOf(e.kernel)!.major, 5),
    });
    expect(() => e.p.open("/dev/uio5", O_RDWR)).toThrowErrno("ENODEV");
  });

  test("open is ENODEV when the registering module is not there to pin", () => {
    uioRegisterDevice(e.kernel, { name: "gone" }, e.parent, engineInfo());
    expect(() => e.p.open("/dev/uio0", O_RDWR)).toThrowErrno("ENODEV");
  });

  test("open is ENOMEM when the listener cannot be allocated, and drops its module reference", () => {
    register(e, engineInfo());
    e.kernel.allocator.setFailHook((s) => s === "kmalloc");
    expect(() => e.p.open("/dev/uio0", O_RDWR)).toThrowErrno("ENOMEM");
    e.kernel.allocator.setFailHook(undefined);
    expect(e.kernel.modules.moduleRefcount(OWNER.name)).toBe(0);
  });

  test("the driver's open hook may refuse; its errno is open's and the module is let go", () => {
    register(
      e,
      engineInfo({
        open: () => {
          throw new SysError("EBUSY", "test_open");
        },
      }),
    );
    expect(() => e.p.open("/dev/uio0", O_RDWR)).toThrowErrno("EBUSY");
    expect(e.kernel.modules.moduleRefcount(OWNER.name)).toBe(0);
  });

  test("open pins the driver's module; the last close lets it go and calls release", () => {
    const calls: string[] = [];
    register(
      e,
      engineInfo({ open: () => calls.push("open"), release: () => calls.push("release") }),
    );
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(e.kernel.modules.moduleRefcount(OWNER.name)).toBe(1);
    expect(() => e.kernel.rmmod(OWNER.name)).toThrowErrno("EAGAIN");
    e.p.close(fd);
    expect(calls).toEqual(["open", "release"]);
    expect(e.kernel.modules.moduleRefcount(OWNER.name)).toBe(0);
  });

  test("release after unregistration does not call the driver", () => {
    const calls: string[] = [];
    const info = register(e, engineInfo({ release: () => calls.push("release") }));
    const fd = e.p.open("/dev/uio0", O_RDWR);
    uioUnregisterDevice(info);
    e.p.close(fd);
    expect(calls).toEqual([]);
    expect(e.kernel.modules.moduleRefcount(OWNER.name)).toBe(0);
  });

  test("read() and write() of anything but 4 bytes are EINVAL", () => {
    register(e, engineInfo({ irq: UIO_IRQ_CUSTOM }));
    const fd = e.p.open("/dev/uio0", O_RDWR);
    const va = e.p.malloc(64);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 64 }).filter((n) => n !== 4),
        (n) => {
          expect(() => e.p.read(fd, va, n)).toThrowErrno("EINVAL");
          expect(() => e.p.write(fd, va, n)).toThrowErrno("EINVAL");
        },
      ),
    );
  });

  test("without an interrupt, read() and write() are EIO and poll() says POLLERR", () => {
    register(e, engineInfo());
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => e.p.read(fd, e.va, 4)).toThrowErrno("EIO");
    expect(() => e.p.write(fd, e.va, 4)).toThrowErrno("EIO");
    expect(e.p.poll([{ fd, events: POLLIN }], 0)[0]?.revents).toBe(POLLERR);
  });

  test("read() into a bad buffer is EFAULT and the event stays for the next read", () => {
    const info = register(e, engineInfo({ irq: UIO_IRQ_CUSTOM }));
    const fd = e.p.open("/dev/uio0", O_RDWR);
    uioEventNotify(info);
    expect(() => e.p.read(fd, 8, 4)).toThrowErrno("EFAULT");
    expect(e.p.read(fd, e.va, 4)).toBe(4);
    expect(peek32(e.p, e.va)).toBe(1);
  });

  test("a blocking read sleeps until an event; an unregistration wakes it with EIO", () => {
    const info = register(e, engineInfo({ irq: UIO_IRQ_CUSTOM }));
    const fd = e.p.open("/dev/uio0", O_RDWR);
    e.kernel.soc.clock.schedule(1_000_000, "event", () => uioEventNotify(info));
    expect(e.p.read(fd, e.va, 4)).toBe(4);
    expect(peek32(e.p, e.va)).toBe(1);
    e.kernel.soc.clock.schedule(1_000_000, "unregister", () => uioUnregisterDevice(info));
    expect(() => e.p.read(fd, e.va, 4)).toThrowErrno("EIO");
  });

  test("each open file counts from the events it has seen", () => {
    const info = register(e, engineInfo({ irq: UIO_IRQ_CUSTOM }));
    const a = e.p.open("/dev/uio0", O_RDWR | O_NONBLOCK);
    uioEventNotify(info);
    const b = e.p.open("/dev/uio0", O_RDWR | O_NONBLOCK);
    expect(e.p.read(a, e.va, 4)).toBe(4);
    expect(() => e.p.read(b, e.va, 4)).toThrowErrno("EAGAIN");
  });

  test("write() hands the s32 to irqcontrol and returns 4", () => {
    const got: number[] = [];
    register(e, engineInfo({ irq: UIO_IRQ_CUSTOM, irqcontrol: (_i, on) => void got.push(on) }));
    const fd = e.p.open("/dev/uio0", O_RDWR);
    for (const v of [1, 0, -1]) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, v, true);
      e.p.poke(e.va, b);
      expect(e.p.write(fd, e.va, 4)).toBe(4);
    }
    expect(got).toEqual([1, 0, -1]);
  });

  test("write() without irqcontrol is ENOSYS", () => {
    register(e, engineInfo({ irq: UIO_IRQ_CUSTOM }));
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => e.p.write(fd, e.va, 4)).toThrowErrno("ENOSYS");
  });

  test("write() fails with irqcontrol's errno", () => {
    register(
      e,
      engineInfo({
        irq: UIO_IRQ_CUSTOM,
        irqcontrol: () => {
          throw new SysError("EPERM", "test_irqcontrol");
        },
      }),
    );
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => e.p.write(fd, e.va, 4)).toThrowErrno("EPERM");
  });

  test("write() from a bad buffer is EFAULT, checked before anything else", () => {
    const info = register(e, engineInfo({ irq: UIO_IRQ_CUSTOM, irqcontrol: () => {} }));
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => e.p.write(fd, 8, 4)).toThrowErrno("EFAULT");
    uioUnregisterDevice(info);
    expect(() => e.p.write(fd, 8, 4)).toThrowErrno("EFAULT");
    expect(() => e.p.write(fd, e.va, 4)).toThrowErrno("EINVAL");
  });
});

describe("mmap of /dev/uioN", () => {
  let e: Env;
  beforeEach(() => {
    e = setup();
  });

  const mmap = (p: Process, fd: number, len: number, page: number, flags = MAP_SHARED) =>
    p.mmap(0, len, PROT_READ | PROT_WRITE, flags, fd, page * PAGE_SIZE);

  test("map N is at page offset N and maps the map's frames", () => {
    const info = engineInfo();
    Object.assign(info.mem[1]!, { name: "ram", addr: 0x4000_0000, size: 2 * PAGE_SIZE });
    info.mem[1]!.memtype = UIO_MEM_PHYS;
    register(e, info);
    const fd = e.p.open("/dev/uio0", O_RDWR);
    const regs = mmap(e.p, fd, PAGE_SIZE, 0);
    expect(peek32(e.p, regs + REG.ID)).toBe(0x444d_4154);
    const ram = mmap(e.p, fd, 2 * PAGE_SIZE, 1);
    e.p.poke(ram + PAGE_SIZE, le32(0xfeedface));
    const b = new Uint8Array(4);
    e.kernel.soc.memory.read(0x4000_0000 + PAGE_SIZE, b);
    expect(new DataView(b.buffer).getUint32(0, true)).toBe(0xfeedface);
  });

  test("MAP_PRIVATE is allowed (UIO has no VM_SHARED check)", () => {
    register(e, engineInfo());
    const fd = e.p.open("/dev/uio0", O_RDWR);
    const regs = e.p.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
    expect(peek32(e.p, regs + REG.ID)).toBe(0x444d_4154);
  });

  test.each([
    ["a page offset of MAX_UIO_MAPS or more", PAGE_SIZE, 5],
    ["a map of size 0", PAGE_SIZE, 1],
    ["more pages than the map has", 2 * PAGE_SIZE, 0],
  ])("%s is EINVAL", (_what, len, page) => {
    register(e, engineInfo());
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => mmap(e.p, fd, len, page)).toThrowErrno("EINVAL");
  });

  test("a PHYS map whose addr is not page aligned is ENODEV", () => {
    const info = engineInfo();
    Object.assign(info.mem[0]!, { addr: ENGINE_BASE + 0x100, size: 0x100 });
    register(e, info);
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => mmap(e.p, fd, PAGE_SIZE, 0)).toThrowErrno("ENODEV");
  });

  test("a mapping longer than a PHYS map's size is EINVAL even within its page", () => {
    const info = engineInfo();
    Object.assign(info.mem[0]!, { size: 0x800 });
    register(e, info);
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => mmap(e.p, fd, PAGE_SIZE, 0)).toThrowErrno("EINVAL");
  });

  test("an unknown memtype is EINVAL", () => {
    const info = engineInfo();
    info.mem[0]!.memtype = 9;
    register(e, info);
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => mmap(e.p, fd, PAGE_SIZE, 0)).toThrowErrno("EINVAL");
  });

  test("IOVA and LOGICAL maps are mapped like PHYS ones", () => {
    const info = engineInfo();
    info.mem[0]!.memtype = UIO_MEM_IOVA;
    Object.assign(info.mem[1]!, {
      name: "k",
      addr: 0x4000_2000,
      size: PAGE_SIZE,
      memtype: UIO_MEM_LOGICAL,
    });
    register(e, info);
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(peek32(e.p, mmap(e.p, fd, PAGE_SIZE, 0) + REG.ID)).toBe(0x444d_4154);
    const k = mmap(e.p, fd, PAGE_SIZE, 1);
    e.p.poke(k, le32(0x1234));
    const b = new Uint8Array(4);
    e.kernel.soc.memory.read(0x4000_2000, b);
    expect(b[0]).toBe(0x34);
  });

  test("a DMA_COHERENT map warns at every mmap; without a dma_device it is ENODEV", () => {
    const info = engineInfo();
    Object.assign(info.mem[0]!, {
      addr: 0x4000_3000,
      memtype: UIO_MEM_DMA_COHERENT,
      dmaAddr: 0x3000,
    });
    register(e, info);
    const fd = e.p.open("/dev/uio0", O_RDWR);
    expect(() => mmap(e.p, fd, PAGE_SIZE, 0)).toThrowErrno("ENODEV");
    info.mem[0]!.dmaDevice = e.parent;
    const lines = dmesgOf(e.kernel, () => mmap(e.p, fd, PAGE_SIZE, 0));
    expect(lines.map((l) => l.replace(/^\[[ .\d]+\] /, ""))).toEqual([
      "platform c031000.dma-test: use of UIO_MEM_DMA_COHERENT is highly discouraged",
    ]);
    info.mem[0]!.dmaAddr = 0x3010;
    expect(() => mmap(e.p, fd, PAGE_SIZE, 0)).toThrowErrno("ENODEV");
  });

  test("after unregistration mmap is EINVAL, and earlier mappings still reach the device", () => {
    const info = register(e, engineInfo());
    const fd = e.p.open("/dev/uio0", O_RDWR);
    const regs = mmap(e.p, fd, PAGE_SIZE, 0);
    uioUnregisterDevice(info);
    expect(() => mmap(e.p, fd, PAGE_SIZE, 0)).toThrowErrno("EINVAL");
    expect(peek32(e.p, regs + REG.ID)).toBe(0x444d_4154);
  });
});
