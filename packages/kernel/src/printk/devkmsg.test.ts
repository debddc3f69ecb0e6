import { beforeAll, describe, expect, test } from "vitest";
import {
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  POLLERR,
  POLLIN,
  POLLPRI,
  POLLRDNORM,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "../fs/file.js";
import { SEEK_DATA, SEEK_HOLE } from "../fs/read-write.js";
import { WouldBlockForeverError } from "../sched/wait.js";
import { setupKernelMatchers } from "../testing/matchers.js";
import { formatDevkmsgRecord } from "./devkmsg.js";
import { KERN_ERR, KERN_INFO } from "./levels.js";
import { PRINTK_MESSAGE_MAX } from "./printk.js";
import { KmsgTask, kmsgWorld } from "./printk-test-fixture.js";

beforeAll(() => setupKernelMatchers());

describe("/dev/kmsg read", () => {
  test("each read returns exactly one record as prio,seq,usec,-;text", () => {
    const w = kmsgWorld();
    w.clock.run(1_234_567);
    w.printk.printk(KERN_INFO, "hello\n");
    w.printk.printk(KERN_ERR, "world");
    const f = w.open(O_RDONLY | O_NONBLOCK);
    expect(w.read(f)).toBe("6,0,1234,-;hello\n");
    expect(w.read(f)).toBe("3,1,1234,-;world\n");
    expect(() => w.read(f)).toThrowErrno("EAGAIN");
  });

  test("dev_printk records carry SUBSYSTEM and DEVICE as continuation lines", () => {
    const w = kmsgWorld();
    const dev = { name: "9030000.pl061", busName: "amba", driverName: "vfio-amba" };
    w.printk.devPrintk(KERN_ERR, dev, "probe with driver vfio-amba failed with error -22");
    const f = w.open();
    expect(w.read(f)).toBe(
      "3,0,0,-;vfio-amba 9030000.pl061: probe with driver vfio-amba failed with error -22\n" +
        " SUBSYSTEM=amba\n DEVICE=+amba:9030000.pl061\n",
    );
  });

  test("control bytes, bytes from 0x7f and the backslash are escaped as \\xNN", () => {
    const w = kmsgWorld();
    w.printk.printk(KERN_INFO, "tab\there\\ caf\u00e9\u007f\nnext");
    expect(w.read(w.open())).toBe("6,0,0,-;tab\\x09here\\x5c caf\\xc3\\xa9\\x7f\\x0anext\n");
  });

  test("a reader starts at the oldest record still in the ring", () => {
    const w = kmsgWorld({ logBufShift: 12 });
    for (let i = 0; i < 200; i++) w.printk.printk(KERN_INFO, "");
    const f = w.open();
    expect(w.read(f)).toBe(`6,${200 - 128},0,-;\n`);
  });

  test("EINVAL when the buffer is smaller than the record, which is consumed anyway", () => {
    const w = kmsgWorld();
    w.printk.printk(KERN_INFO, "first");
    w.printk.printk(KERN_INFO, "second");
    const f = w.open();
    expect(() => w.read(f, 10)).toThrowErrno("EINVAL");
    expect(w.read(f)).toBe("6,1,0,-;second\n");
  });

  test("EFAULT for an unmapped buffer, after the record was consumed", () => {
    const w = kmsgWorld();
    w.printk.printk(KERN_INFO, "lost");
    w.printk.printk(KERN_INFO, "kept");
    const f = w.open();
    expect(() => w.devkmsg.fops.read!(f, w.task, 0x1000, 100, { value: 0 })).toThrowErrno("EFAULT");
    expect(w.read(f)).toBe("6,1,0,-;kept\n");
  });

  test("EPIPE once after the next record was overwritten, then the oldest left follows", () => {
    const w = kmsgWorld({ logBufShift: 12 });
    w.printk.printk(KERN_INFO, "r0");
    const f = w.open(O_RDONLY | O_NONBLOCK);
    for (let i = 1; i <= 130; i++) w.printk.printk(KERN_INFO, `r${i}`);
    expect(w.devkmsg.fops.poll!(f, w.task)).toBe(POLLIN | POLLRDNORM | POLLERR | POLLPRI);
    expect(() => w.read(f)).toThrowErrno("EPIPE");
    expect(w.devkmsg.fops.poll!(f, w.task)).toBe(POLLIN | POLLRDNORM);
    expect(w.read(f)).toBe("6,3,0,-;r3\n");
  });

  test("EAGAIN with O_NONBLOCK and nothing new; poll reports nothing", () => {
    const w = kmsgWorld();
    const f = w.open(O_RDONLY | O_NONBLOCK);
    expect(w.devkmsg.fops.poll!(f, w.task)).toBe(0);
    expect(() => w.read(f)).toThrowErrno("EAGAIN");
  });

  test("a blocking read sleeps in virtual time until a record arrives", () => {
    const w = kmsgWorld();
    const f = w.open();
    w.clock.schedule(5_000_000, "driver", () => w.printk.printk(KERN_INFO, "late"));
    expect(w.read(f)).toBe("6,0,5000,-;late\n");
    expect(w.clock.now).toBe(5_000_000);
  });

  test("a blocking read nothing can satisfy is a WouldBlockForeverError", () => {
    const w = kmsgWorld();
    const f = w.open();
    expect(() => w.read(f)).toThrow(WouldBlockForeverError);
  });
});

describe("/dev/kmsg write", () => {
  test("a line becomes one LOG_USER record at the default level, newline stripped", () => {
    const w = kmsgWorld();
    const f = w.open(O_WRONLY);
    expect(w.write(f, "systemd[1]: started\n")).toBe(20);
    expect(w.printk.records().map((r) => [r.facility, r.level, r.text])).toEqual([
      [1, 4, "systemd[1]: started"],
    ]);
    expect(w.read(w.open())).toBe("12,0,0,-;systemd[1]: started\n");
  });

  test("a <N> prefix sets the level and a non-zero facility, as devkmsg_write parses it", () => {
    const w = kmsgWorld();
    const f = w.open(O_WRONLY);
    const cases: [string, number, number, string][] = [
      ["<3>err", 1, 3, "err"],
      ["<30>daemon info", 3, 6, "daemon info"],
      ["<0>not the kernel", 1, 0, "not the kernel"],
      ["<>empty", 1, 0, "empty"],
      ["<1234>local", 154, 2, "local"],
      ["<4294967299>wraps", 1, 3, "wraps"],
      ["<3x>no prefix", 1, 4, "<3x>no prefix"],
    ];
    for (const [text] of cases) w.write(f, text);
    expect(w.printk.records().map((r) => [r.facility, r.level, r.text])).toEqual(
      cases.map(([, fac, lvl, t]) => [fac, lvl, t]),
    );
  });

  test("the text ends at the first NUL byte, as the kernel's %s sees it", () => {
    const w = kmsgWorld();
    w.write(w.open(O_WRONLY), new Uint8Array([0x61, 0x62, 0, 0x63]));
    expect(w.printk.records()[0]?.text).toBe("ab");
  });

  test("EINVAL above PRINTKRB_RECORD_MAX bytes; 1024 bytes are kept as 1023", () => {
    const w = kmsgWorld({ devkmsg: "on" });
    const f = w.open(O_WRONLY);
    expect(() => w.write(f, "x".repeat(1025))).toThrowErrno("EINVAL");
    expect(w.printk.records()).toHaveLength(0);
    expect(w.write(f, "y".repeat(1024))).toBe(1024);
    expect(w.printk.records()[0]?.bytes).toHaveLength(1023);
  });

  test("EFAULT for an unmapped source buffer, with nothing logged", () => {
    const w = kmsgWorld();
    const f = w.open(O_WRONLY);
    expect(() => w.devkmsg.fops.write!(f, w.task, 0x1000, 8, { value: 0 })).toThrowErrno("EFAULT");
    expect(w.printk.records()).toHaveLength(0);
  });

  test("ratelimited: 10 records per 5 s per opener, the rest dropped and counted at close", () => {
    const w = kmsgWorld();
    const f = w.open(O_WRONLY);
    for (let i = 0; i < 12; i++) expect(w.write(f, `line ${i}`)).toBe(5 + String(i).length);
    expect(w.printk.records()).toHaveLength(10);
    w.clock.run(5_000_000_001);
    w.write(f, "after the interval");
    expect(w.printk.records()).toHaveLength(11);
    w.devkmsg.fops.release!(f.inode, f);
    expect(w.printk.records().at(-1)).toMatchObject({
      facility: 0,
      level: 4,
      text: "journald: 2 output lines suppressed due to ratelimiting",
    });
  });

  test("printk.devkmsg=on lifts the ratelimit", () => {
    const w = kmsgWorld({ devkmsg: "on" });
    const f = w.open(O_WRONLY);
    for (let i = 0; i < 20; i++) w.write(f, "x");
    expect(w.printk.records()).toHaveLength(20);
  });
});

describe("/dev/kmsg open, llseek and poll", () => {
  test("EPERM for every open with printk.devkmsg=off", () => {
    const w = kmsgWorld({ devkmsg: "off" });
    expect(() => w.open(O_WRONLY)).toThrowErrno("EPERM");
    expect(() => w.open(O_RDONLY)).toThrowErrno("EPERM");
  });

  test("with dmesg_restrict, readers need CAP_SYSLOG but writers do not", () => {
    const w = kmsgWorld({ dmesgRestrict: true });
    const user = new KmsgTask("logger", w.task.mm);
    user.dropped.add("CAP_SYSLOG");
    expect(() => w.open(O_RDWR, user)).toThrowErrno("EPERM");
    const f = w.open(O_WRONLY, user);
    w.write(f, "hi", user);
    expect(w.printk.records()).toHaveLength(1);
    expect(() => w.open(O_RDONLY)).not.toThrow();
  });

  test("SEEK_END skips the log, SEEK_SET rewinds to the oldest record", () => {
    const w = kmsgWorld();
    w.printk.printk(KERN_INFO, "a");
    w.printk.printk(KERN_INFO, "b");
    const f = w.open(O_RDONLY | O_NONBLOCK);
    expect(w.devkmsg.fops.llseek!(f, 0, SEEK_END)).toBe(0);
    expect(() => w.read(f)).toThrowErrno("EAGAIN");
    w.devkmsg.fops.llseek!(f, 0, SEEK_SET);
    expect(w.read(f)).toBe("6,0,0,-;a\n");
  });

  test("SEEK_DATA starts after the last SYSLOG_ACTION_CLEAR", () => {
    const w = kmsgWorld();
    w.printk.printk(KERN_INFO, "before");
    w.printk.clear();
    w.printk.printk(KERN_INFO, "after");
    const f = w.open();
    w.devkmsg.fops.llseek!(f, 0, SEEK_DATA);
    expect(w.read(f)).toBe("6,1,0,-;after\n");
  });

  test("ESPIPE for a non-zero offset, EINVAL for SEEK_CUR and SEEK_HOLE", () => {
    const w = kmsgWorld();
    const f = w.open();
    expect(() => w.devkmsg.fops.llseek!(f, 1, SEEK_SET)).toThrowErrno("ESPIPE");
    expect(() => w.devkmsg.fops.llseek!(f, 0, SEEK_CUR)).toThrowErrno("EINVAL");
    expect(() => w.devkmsg.fops.llseek!(f, 0, SEEK_HOLE)).toThrowErrno("EINVAL");
  });

  test("poll is readable while a record waits", () => {
    const w = kmsgWorld();
    const f = w.open();
    w.printk.printk(KERN_INFO, "x");
    expect(w.devkmsg.fops.poll!(f, w.task)).toBe(POLLIN | POLLRDNORM);
  });
});

describe("formatDevkmsgRecord", () => {
  test("cuts the formatted record at PRINTK_MESSAGE_MAX like the kernel's buffer", () => {
    const w = kmsgWorld();
    const r = w.printk.vprintkEmit(1, 4, new Uint8Array(1023).fill(1));
    const out = formatDevkmsgRecord(r);
    expect(out).toHaveLength(PRINTK_MESSAGE_MAX);
    // The last escape only half fits (scnprintf keeps room for its NUL); the newline still does.
    expect(new TextDecoder().decode(out).endsWith("\\x01\\x01\\x\n")).toBe(true);
  });
});
