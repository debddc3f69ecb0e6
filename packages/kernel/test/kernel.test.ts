/**
 * The kernel object: modules and their parameters, taint, the kernel log and /dev/kmsg, and the
 * trace bus — through the same paths user space and modules use.
 */

import { describe, expect, it } from "vitest";
import { O_NONBLOCK, O_RDONLY, O_RDWR } from "../src/fs/file.js";
import type { Kernel } from "../src/kernel.js";
import { defineModule, moduleParam } from "../src/module/module.js";
import { toJsonLines } from "../src/trace/trace-bus.js";
import { boot, registerTestDevice, TEST_DEV_DOUBLE, test_dev_arg } from "./fixture.js";

const base = defineModule<Kernel, []>({ name: "demo_base", params: [], init() {}, exit() {} });

function makeDemo(log: string[]) {
  return defineModule<
    Kernel,
    readonly [
      ReturnType<typeof moduleParam<"unsafe_mode", "bool">>,
      ReturnType<typeof moduleParam<"depth", "uint">>,
    ]
  >({
    name: "demo",
    dependencies: [base],
    params: [
      moduleParam("unsafe_mode", "bool", { perm: 0o644, description: "enable the unsafe mode" }),
      moduleParam("depth", "uint", { perm: 0o444, default: 4 }),
    ],
    init(kernel, params) {
      log.push(`init unsafe_mode=${params.unsafe_mode} depth=${params.depth}`);
      registerTestDevice(kernel, { name: "demo" });
    },
    exit() {
      log.push("exit");
    },
  });
}

describe("modules", () => {
  it("loads dependencies first and exposes parameters under /sys/module/<m>/parameters", () => {
    const log: string[] = [];
    const { kernel, p } = boot();
    kernel.modprobe(makeDemo(log), { depth: 7 });
    expect(log).toEqual(["init unsafe_mode=false depth=7"]);
    expect(kernel.modules.loadedNames()).toEqual(expect.arrayContaining(["demo", "demo_base"]));
    expect(p.readFile("/sys/module/demo/parameters/unsafe_mode")).toBe("N\n");
    expect(p.readFile("/sys/module/demo/parameters/depth")).toBe("7\n");
    p.writeFile("/sys/module/demo/parameters/unsafe_mode", "1\n");
    expect(p.readFile("/sys/module/demo/parameters/unsafe_mode")).toBe("Y\n");
  });

  it("takes module.param= from the kernel command line, overridden by modprobe arguments", () => {
    const log: string[] = [];
    const { kernel } = boot("demo.unsafe_mode=1 demo.depth=2");
    kernel.modprobe(makeDemo(log), { depth: 3 });
    expect(log).toEqual(["init unsafe_mode=true depth=3"]);
  });

  it("EEXIST when loaded twice; ENOENT to remove what is not loaded", () => {
    const { kernel } = boot();
    const demo = makeDemo([]);
    kernel.modprobe(demo);
    expect(() => kernel.modprobe(demo)).toThrowErrno("EEXIST");
    expect(() => kernel.rmmod("nothing")).toThrowErrno("ENOENT");
  });

  it("refuses removal while a file it implements is open, or while another module depends on it", () => {
    const log: string[] = [];
    const { kernel, p } = boot();
    kernel.modprobe(makeDemo(log));
    const fd = p.open("/dev/testdev", O_RDWR);
    const arg = p.malloc(16);
    p.poke(arg, test_dev_arg.encode({ argsz: 16, calls: 0, value: 1n }));
    p.ioctl(fd, TEST_DEV_DOUBLE, arg);
    // delete_module(): EWOULDBLOCK (= EAGAIN) while the refcount is held (kernel/module/main.c).
    expect(() => kernel.rmmod("demo")).toThrowErrno("EAGAIN");
    expect(() => kernel.rmmod("demo_base")).toThrowErrno("EAGAIN");
    p.close(fd);
    kernel.rmmod("demo");
    expect(log).toEqual(["init unsafe_mode=false depth=4", "exit"]);
    expect(p.readdir("/sys/module")).not.toContain("demo");
    kernel.rmmod("demo_base");
  });

  it("EINVAL for a parameter value of the wrong type, with the kernel's log line", () => {
    const { kernel } = boot();
    expect(() => kernel.modprobe(makeDemo([]), { depth: "deep" })).toThrowErrno("EINVAL");
    expect(kernel.dmesg().join("\n")).toMatch(/demo: .*depth/);
    expect(kernel.modules.isLoaded("demo")).toBe(false);
  });
});

describe("taint", () => {
  it("adds TAINT_USER ('U') and shows it in /proc/sys/kernel/tainted", () => {
    const { kernel, p } = boot();
    expect(p.readFile("/proc/sys/kernel/tainted")).toBe("0\n");
    kernel.taint.add("TAINT_USER");
    expect(p.readFile("/proc/sys/kernel/tainted")).toBe("64\n");
    expect(kernel.taint.printTainted()).toMatch(/Tainted: .*U/);
  });
});

describe("/dev/kmsg", () => {
  it("reads one record per read in prio,seq,usec,flags;text format, then EAGAIN when drained", () => {
    const { kernel, p } = boot();
    kernel.printk.printk(4, "hello from the test");
    const fd = p.open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
    const buf = p.malloc(8192);
    const records: string[] = [];
    for (;;) {
      try {
        const n = p.read(fd, buf, 8192);
        records.push(new TextDecoder().decode(p.peek(buf, n)));
      } catch (e) {
        expect(e).toMatchObject({ code: "EAGAIN" });
        break;
      }
    }
    expect(records[0]).toMatch(/^6,0,0,-;Booting Linux/);
    expect(records.at(-1)).toMatch(/^4,\d+,\d+,-;hello from the test\n$/);
    expect(() => p.read(fd, buf, 8)).toThrowErrno("EAGAIN");
  });

  it("EINVAL when the buffer is too small for the record", () => {
    const { p } = boot();
    const fd = p.open("/dev/kmsg", O_RDONLY);
    expect(() => p.read(fd, p.malloc(8), 8)).toThrowErrno("EINVAL");
  });
});

describe("trace", () => {
  it("records syscalls with decoded arguments and errno, and is byte-identical across runs", () => {
    const run = () => {
      const { kernel, p } = boot("quiet");
      const rec = kernel.trace.record();
      registerTestDevice(kernel);
      const fd = p.open("/dev/testdev", O_RDWR);
      const arg = p.malloc(16);
      p.poke(arg, test_dev_arg.encode({ argsz: 16, calls: 0, value: 5n }));
      p.ioctl(fd, TEST_DEV_DOUBLE, arg);
      try {
        p.ioctl(fd + 1, TEST_DEV_DOUBLE, arg);
      } catch {}
      kernel.taint.add("TAINT_USER");
      p.close(fd);
      rec.stop();
      return toJsonLines(rec.records);
    };
    const a = run();
    expect(a).toContain('"name":"ioctl"');
    expect(a).toContain('"code":"EBADF"');
    expect(a).toContain('"type":"taint"');
    expect(a).toContain("_IOWR(");
    expect(run()).toBe(a);
  });
});
