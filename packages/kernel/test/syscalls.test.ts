/**
 * The syscall facade against a booted kernel, one test per documented errno, in the style of the
 * kernel selftests: each case sets up, makes the call, and checks errno and the state left behind.
 */

import { beforeAll, describe, expect, it } from "vitest";
import { EFD_NONBLOCK, EFD_SEMAPHORE } from "../src/fs/eventfd.js";
import {
  O_CLOEXEC,
  O_DIRECTORY,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  S_IFCHR,
  S_IFDIR,
  S_IFMT,
  SEEK_SET,
} from "../src/fs/file.js";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "../src/mm/mman.js";
import { F_DUPFD, F_GETFD, F_GETFL, F_SETFD, F_SETFL, FIOCLEX, FIONBIO } from "../src/process.js";
import { setupKernelMatchers } from "../src/testing/matchers.js";
import { boot, registerTestDevice, TEST_DEV_DOUBLE, test_dev_arg } from "./fixture.js";

beforeAll(() => setupKernelMatchers());

describe("open / close", () => {
  it("hands out the lowest free descriptor", () => {
    const { p } = boot();
    expect(p.open("/proc/cmdline", O_RDONLY)).toBe(0);
    expect(p.open("/proc/cmdline", O_RDONLY)).toBe(1);
    p.close(0);
    expect(p.open("/dev/null", O_RDWR)).toBe(0);
  });

  it("ENOENT for a missing path, ENOTDIR through a file, EISDIR to write a directory", () => {
    const { p } = boot();
    expect(() => p.open("/dev/nothing", O_RDONLY)).toThrowErrno("ENOENT");
    expect(() => p.open("/proc/cmdline/x", O_RDONLY)).toThrowErrno("ENOTDIR");
    expect(() => p.open("/proc/cmdline", O_RDONLY | O_DIRECTORY)).toThrowErrno("ENOTDIR");
    expect(() => p.open("/dev", O_WRONLY)).toThrowErrno("EISDIR");
  });

  it("EACCES for a user without permission, where root passes", () => {
    const { kernel } = boot();
    const user = kernel.spawn({ comm: "user", uid: 1000 });
    expect(() => user.open("/proc/sys/kernel/tainted", O_WRONLY)).toThrowErrno("EACCES");
    const root = kernel.spawn({ comm: "root" });
    expect(root.open("/proc/sys/kernel/tainted", O_WRONLY)).toBe(0);
  });

  it("EMFILE once RLIMIT_NOFILE descriptors are open", () => {
    const { kernel } = boot();
    const p = kernel.spawn({ rlimits: { nofile: 3 } });
    for (let i = 0; i < 3; i++) p.open("/dev/null", O_RDONLY);
    expect(() => p.open("/dev/null", O_RDONLY)).toThrowErrno("EMFILE");
  });

  it("EBADF for closing a descriptor that is not open, and twice", () => {
    const { p } = boot();
    const fd = p.open("/dev/null", O_RDONLY);
    p.close(fd);
    expect(() => p.close(fd)).toThrowErrno("EBADF");
    expect(() => p.close(-1)).toThrowErrno("EBADF");
  });

  it("ENAMETOOLONG for a component over 255 bytes", () => {
    const { p } = boot();
    expect(() => p.open(`/dev/${"x".repeat(256)}`, O_RDONLY)).toThrowErrno("ENAMETOOLONG");
  });
});

describe("read / write / pread / pwrite / lseek", () => {
  it("EBADF for a descriptor not open for that direction", () => {
    const { p } = boot();
    const buf = p.malloc(16);
    const ro = p.open("/dev/zero", O_RDONLY);
    const wo = p.open("/dev/null", O_WRONLY);
    expect(() => p.write(ro, buf, 1)).toThrowErrno("EBADF");
    expect(() => p.read(wo, buf, 1)).toThrowErrno("EBADF");
    expect(() => p.read(99, buf, 1)).toThrowErrno("EBADF");
  });

  it("EFAULT for a buffer that is unmapped or read-only", () => {
    const { p } = boot();
    const zero = p.open("/dev/zero", O_RDONLY);
    expect(() => p.read(zero, 0, 8)).toThrowErrno("EFAULT");
    const ro = p.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect(() => p.read(zero, ro, 8)).toThrowErrno("EFAULT");
  });

  it("reads /dev/zero as zeros and swallows writes to /dev/null", () => {
    const { p } = boot();
    const buf = p.malloc(64);
    p.poke(buf, new Uint8Array(64).fill(0xaa));
    expect(p.read(p.open("/dev/zero", O_RDONLY), buf, 64)).toBe(64);
    expect(p.peek(buf, 64).every((b) => b === 0)).toBe(true);
    expect(p.write(p.open("/dev/null", O_WRONLY), buf, 64)).toBe(64);
  });

  it("ESPIPE for pread on an eventfd (lseek is a no-op there), EINVAL for a negative offset or bad whence", () => {
    const { p } = boot();
    const buf = p.malloc(16);
    const efd = p.eventfd(1, 0);
    expect(() => p.pread(efd, buf, 8, 0)).toThrowErrno("ESPIPE");
    expect(p.lseek(efd, 5, SEEK_SET)).toBe(0); // eventfd_fops.llseek = noop_llseek
    const fd = p.open("/proc/cmdline", O_RDONLY);
    expect(() => p.pread(fd, buf, 8, -1)).toThrowErrno("EINVAL");
    expect(() => p.lseek(fd, 0, 99)).toThrowErrno("EINVAL");
  });

  it("pread reads at an offset without moving the file position; lseek moves it", () => {
    const { p } = boot("console=ttyAMA0");
    const buf = p.malloc(64);
    const fd = p.open("/proc/cmdline", O_RDONLY);
    expect(p.pread(fd, buf, 4, 8n)).toBe(4);
    expect(new TextDecoder().decode(p.peek(buf, 4))).toBe("ttyA");
    expect(p.read(fd, buf, 7)).toBe(7);
    expect(new TextDecoder().decode(p.peek(buf, 7))).toBe("console");
    expect(p.lseek(fd, 1, SEEK_SET)).toBe(1);
    expect(p.read(fd, buf, 6)).toBe(6);
    expect(new TextDecoder().decode(p.peek(buf, 6))).toBe("onsole");
  });
});

describe("ioctl", () => {
  it("reaches the driver with a struct in user memory", () => {
    const { kernel, p } = boot();
    registerTestDevice(kernel);
    const fd = p.open("/dev/testdev", O_RDWR);
    const arg = p.malloc(test_dev_arg.size);
    p.poke(arg, test_dev_arg.encode({ argsz: 16, calls: 0, value: 21n }));
    expect(p.ioctl(fd, TEST_DEV_DOUBLE, arg)).toBe(0);
    expect(test_dev_arg.decode(p.peek(arg, 16))).toEqual({ argsz: 16, calls: 1, value: 42n });
  });

  it("ENOTTY for a file without ioctls, EBADF for a bad fd, EFAULT for a bad struct", () => {
    const { kernel, p } = boot();
    registerTestDevice(kernel);
    const proc = p.open("/proc/cmdline", O_RDONLY);
    expect(() => p.ioctl(proc, TEST_DEV_DOUBLE, 0)).toThrowErrno("ENOTTY");
    expect(() => p.ioctl(42, TEST_DEV_DOUBLE, 0)).toThrowErrno("EBADF");
    const fd = p.open("/dev/testdev", O_RDWR);
    expect(() => p.ioctl(fd, TEST_DEV_DOUBLE, 0x10)).toThrowErrno("EFAULT");
  });

  it("copies a struct that straddles a page boundary, and EFAULTs when its second page is gone", () => {
    const { kernel, p } = boot();
    registerTestDevice(kernel);
    const fd = p.open("/dev/testdev", O_RDWR);
    const two = p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const arg = two + 4096 - 8;
    p.poke(arg, test_dev_arg.encode({ argsz: 16, calls: 0, value: 100n }));
    p.ioctl(fd, TEST_DEV_DOUBLE, arg);
    expect(test_dev_arg.decode(p.peek(arg, 16)).value).toBe(200n);
    p.munmap(two + 4096, 4096);
    expect(() => p.ioctl(fd, TEST_DEV_DOUBLE, arg)).toThrowErrno("EFAULT");
    // A read-only second page: copy_from_user works, copy_to_user faults — and the driver's
    // state moved on (calls counts the attempt), exactly as a C driver's would.
    const ro = p.mmap(two + 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect(ro).toBe(two + 4096);
    expect(() => p.ioctl(fd, TEST_DEV_DOUBLE, arg)).toThrowErrno("EFAULT");
  });

  it("handles FIOCLEX and FIONBIO itself, as do_vfs_ioctl does", () => {
    const { p } = boot();
    const fd = p.open("/dev/null", O_RDONLY);
    p.ioctl(fd, FIOCLEX);
    expect(p.fcntl(fd, F_GETFD)).toBe(1);
    const on = p.malloc(4);
    p.poke(on, [1, 0, 0, 0]);
    p.ioctl(fd, FIONBIO, on);
    expect(p.fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(() => p.ioctl(fd, FIONBIO, 0)).toThrowErrno("EFAULT");
  });
});

describe("mmap / munmap / mlock", () => {
  it("EINVAL for zero length or an unaligned offset, EBADF without a file, EIO/ENODEV for files that cannot map", () => {
    const { p } = boot();
    expect(() => p.mmap(0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)).toThrowErrno(
      "EINVAL",
    );
    const fd = p.open("/proc/cmdline", O_RDONLY);
    expect(() => p.mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 100)).toThrowErrno("EINVAL");
    expect(() => p.mmap(0, 4096, PROT_READ, MAP_PRIVATE, 77, 0)).toThrowErrno("EBADF");
    // A proc_create_single() file answers EIO (pde_mmap); a file with no mmap at all ENODEV
    // (oracle-probes/core-syscalls.7.3.txt, ORC 030).
    expect(() => p.mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0)).toThrowErrno("EIO");
    const tainted = p.open("/proc/sys/kernel/tainted", O_RDONLY);
    expect(() => p.mmap(0, 4096, PROT_READ, MAP_PRIVATE, tainted, 0)).toThrowErrno("ENODEV");
  });

  it("EEXIST for MAP_FIXED_NOREPLACE over a mapping; EINVAL for munmap of an unaligned address", () => {
    const { p } = boot();
    const va = p.malloc(8192);
    expect(() =>
      p.mmap(va, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
    ).toThrowErrno("EEXIST");
    expect(() => p.munmap(va + 1, 4096)).toThrowErrno("EINVAL");
    p.munmap(va, 8192);
    expect(() => p.peek(va, 1)).toThrowErrno("EFAULT");
  });

  it("shares a memfd's pages between two mappings", () => {
    const { p } = boot();
    const fd = p.memfdCreate("guest-ram");
    const buf = p.malloc(4096);
    p.poke(buf, new Uint8Array(4096).fill(7));
    p.write(fd, buf, 4096);
    p.write(fd, buf, 4096);
    const a = p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const b = p.mmap(0, 8192, PROT_READ, MAP_SHARED, fd, 0);
    p.poke(a + 4096, [1, 2, 3]);
    expect([...p.peek(b + 4096, 3)]).toEqual([1, 2, 3]);
  });

  it("enforces RLIMIT_MEMLOCK on mlock: ENOMEM over the limit, EPERM when the limit is 0", () => {
    const { kernel } = boot();
    const p = kernel.spawn({ caps: [], uid: 1000, rlimits: { memlock: 64 * 1024 } });
    const va = p.malloc(128 * 1024);
    p.mlock(va, 64 * 1024);
    expect(() => p.mlock(va + 64 * 1024, 4096)).toThrowErrno("ENOMEM");
    p.munlock(va, 64 * 1024);
    p.mlock(va + 64 * 1024, 4096);
    const none = kernel.spawn({ caps: [], uid: 1000, rlimits: { memlock: 0 } });
    const v2 = none.malloc(4096);
    expect(() => none.mlock(v2, 4096)).toThrowErrno("EPERM");
    // CAP_IPC_LOCK lifts the limit.
    const cap = kernel.spawn({ caps: ["CAP_IPC_LOCK"], uid: 1000, rlimits: { memlock: 0 } });
    const v3 = cap.malloc(8192);
    cap.mlock(v3, 8192);
  });

  it("ENOMEM for mlock of an unmapped range", () => {
    const { p } = boot();
    expect(() => p.mlock(0x1000_0000, 4096)).toThrowErrno("ENOMEM");
  });
});

describe("eventfd / poll", () => {
  it("counts, reads and resets; EFD_SEMAPHORE reads one at a time", () => {
    const { p } = boot();
    const buf = p.malloc(8);
    const fd = p.eventfd(0, EFD_NONBLOCK);
    expect(() => p.read(fd, buf, 8)).toThrowErrno("EAGAIN");
    p.poke(buf, [5, 0, 0, 0, 0, 0, 0, 0]);
    p.write(fd, buf, 8);
    p.write(fd, buf, 8);
    expect(p.read(fd, buf, 8)).toBe(8);
    expect(p.peek(buf, 1)[0]).toBe(10);
    const sem = p.eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    p.read(sem, buf, 8);
    expect(p.peek(buf, 1)[0]).toBe(1);
    p.read(sem, buf, 8);
    expect(() => p.read(sem, buf, 8)).toThrowErrno("EAGAIN");
  });

  it("EINVAL for bad flags or a short buffer", () => {
    const { p } = boot();
    expect(() => p.eventfd(0, 0x40)).toThrowErrno("EINVAL");
    const fd = p.eventfd(0, 0);
    expect(() => p.read(fd, p.malloc(8), 4)).toThrowErrno("EINVAL");
  });

  it("a blocking read advances virtual time until a hardware event signals it", () => {
    const { soc, p } = boot();
    const buf = p.malloc(8);
    const fd = p.eventfd(0, 0);
    const writer = p; // the "other side": a timer callback writes through the same process
    const wbuf = writer.malloc(8);
    writer.poke(wbuf, [1, 0, 0, 0, 0, 0, 0, 0]);
    soc.clock.schedule(5_000, "test-signal", () => writer.write(fd, wbuf, 8));
    const before = soc.now;
    expect(p.read(fd, buf, 8)).toBe(8);
    expect(soc.now - before).toBe(5_000);
  });

  it("a read that nothing can ever complete fails clearly instead of hanging", () => {
    const { p } = boot();
    const fd = p.eventfd(0, 0);
    expect(() => p.read(fd, p.malloc(8), 8)).toThrow(/would block forever/);
  });

  it("poll reports readiness, POLLNVAL for a bad fd, and times out in virtual time", () => {
    const { soc, p } = boot();
    const fd = p.eventfd(0, 0);
    const t0 = soc.now;
    expect(
      p.poll(
        [
          { fd, events: POLLIN },
          { fd: 50, events: POLLIN },
          { fd: -1, events: POLLIN },
        ],
        1_000_000,
      ),
    ).toEqual([
      { fd, revents: 0 },
      { fd: 50, revents: POLLNVAL },
      { fd: -1, revents: 0 },
    ]);
    expect(soc.now - t0).toBe(0); // POLLNVAL counts as ready: no wait
    expect(p.poll([{ fd, events: POLLIN | POLLOUT }], 1_000_000)).toEqual([
      { fd, revents: POLLOUT },
    ]);
    expect(p.poll([{ fd, events: POLLIN }], 1_000_000)).toEqual([{ fd, revents: 0 }]);
    expect(soc.now - t0).toBe(1_000_000);
  });

  it("EINVAL for more poll entries than RLIMIT_NOFILE", () => {
    const { kernel } = boot();
    const p = kernel.spawn({ rlimits: { nofile: 2 } });
    expect(() =>
      p.poll(
        [
          { fd: 0, events: 1 },
          { fd: 1, events: 1 },
          { fd: 2, events: 1 },
        ],
        0,
      ),
    ).toThrowErrno("EINVAL");
  });
});

describe("dup / fcntl", () => {
  it("dup takes the lowest free fd and shares the file position", () => {
    const { p } = boot("abcdef");
    const fd = p.open("/proc/cmdline", O_RDONLY);
    const fd2 = p.dup(fd);
    expect(fd2).toBe(1);
    const buf = p.malloc(8);
    p.read(fd, buf, 3);
    p.read(fd2, buf, 3);
    expect(new TextDecoder().decode(p.peek(buf, 3))).toBe("def");
    expect(() => p.dup(9)).toThrowErrno("EBADF");
  });

  it("F_SETFL changes only O_APPEND/O_NONBLOCK/…; F_SETFD keeps FD_CLOEXEC; EINVAL for unknown commands", () => {
    const { p } = boot();
    const fd = p.open("/dev/null", O_RDONLY | O_CLOEXEC);
    expect(p.fcntl(fd, F_GETFD)).toBe(1);
    p.fcntl(fd, F_SETFD, 0);
    expect(p.fcntl(fd, F_GETFD)).toBe(0);
    p.fcntl(fd, F_SETFL, O_NONBLOCK | O_WRONLY);
    expect(p.fcntl(fd, F_GETFL) & 3).toBe(O_RDONLY);
    expect(p.fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(p.fcntl(fd, F_DUPFD, 10)).toBe(10);
    expect(() => p.fcntl(fd, 999)).toThrowErrno("EINVAL");
    expect(() => p.fcntl(77, F_GETFD)).toThrowErrno("EBADF");
  });
});

describe("stat / readlink / readdir", () => {
  it("stats /dev/kmsg as char device 1:11 and /sys as a directory", () => {
    const { p } = boot();
    const st = p.stat("/dev/kmsg");
    expect(st.mode & S_IFMT).toBe(S_IFCHR);
    expect(st.rdev).toBe((1 << 8) | 11);
    expect(p.stat("/sys").mode & S_IFMT).toBe(S_IFDIR);
    expect(() => p.stat("/nope")).toThrowErrno("ENOENT");
  });

  it("reads /proc/self as the caller's pid; EINVAL for readlink of a non-link", () => {
    const { kernel, p } = boot();
    const q = kernel.spawn({ comm: "other" });
    expect(p.readlink("/proc/self")).toBe(String(p.pid));
    expect(q.readlink("/proc/self")).toBe(String(q.pid));
    expect(() => p.readlink("/proc/cmdline")).toThrowErrno("EINVAL");
  });

  it("lists directories; ENOTDIR for a file", () => {
    const { p } = boot();
    expect(p.readdir("/")).toEqual(expect.arrayContaining(["dev", "proc", "sys"]));
    expect(() => p.readdir("/proc/cmdline")).toThrowErrno("ENOTDIR");
  });
});

describe("capabilities", () => {
  it("root holds every capability; a process may drop and not raise again beyond permitted", () => {
    const { p } = boot();
    expect(p.capget().effective).toContain("CAP_SYS_RAWIO");
    p.capset({ effective: [], permitted: ["CAP_SYS_ADMIN"] });
    expect(p.capget().effective).toEqual([]);
    expect(p.capable("CAP_SYS_ADMIN")).toBe(false);
    p.capset({ effective: ["CAP_SYS_ADMIN"] });
    expect(p.capable("CAP_SYS_ADMIN")).toBe(true);
    expect(() => p.capset({ effective: ["CAP_SYS_RAWIO"] })).toThrowErrno("EPERM");
  });
});

describe("ftruncate", () => {
  it("sizes a memfd, refuses what do_ftruncate refuses, and honours seals", async () => {
    const { F_ADD_SEALS } = await import("../src/process.js");
    const { F_SEAL_GROW, MFD_ALLOW_SEALING } = await import("../src/mm/mman.js");
    const { p } = boot();
    const mfd = p.memfdCreate("buf", MFD_ALLOW_SEALING);
    p.ftruncate(mfd, 3 * 4096);
    expect(p.lseek(mfd, 0, 2)).toBe(3 * 4096);
    expect(() => p.ftruncate(mfd, -1)).toThrowErrno("EINVAL");
    expect(() => p.ftruncate(99, 0)).toThrowErrno("EBADF");
    const nul = p.open("/dev/null", O_RDWR);
    expect(() => p.ftruncate(nul, 0)).toThrowErrno("EINVAL");
    p.fcntl(mfd, F_ADD_SEALS, F_SEAL_GROW);
    expect(() => p.ftruncate(mfd, 4 * 4096)).toThrowErrno("EPERM");
    p.ftruncate(mfd, 4096);
  });
});

describe("reserved descriptors (get_unused_fd_flags / fd_install / put_unused_fd)", () => {
  it("a reserved descriptor is skipped by allocation and EBADF until installed", () => {
    const { kernel, p } = boot();
    const reserved = p.getUnusedFdFlags(0);
    expect(reserved).toBe(0);
    expect(() => p.close(reserved)).toThrowErrno("EBADF");
    expect(p.open("/dev/null", O_RDWR)).toBe(1);
    const file = kernel.vfs.open("/dev/null", O_RDWR, p);
    p.fdInstallReserved(reserved, file);
    expect(p.fcntl(reserved, 1 /* F_GETFD */)).toBe(0);
    const again = p.getUnusedFdFlags(0);
    p.putUnusedFd(again);
    expect(p.open("/dev/null", O_RDWR)).toBe(again);
  });
});
