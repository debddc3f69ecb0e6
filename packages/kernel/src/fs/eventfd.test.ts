import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { SysError } from "../errno.js";
import { WouldBlockForeverError } from "../sched/wait.js";
import { expectErrno } from "../testing/matchers.js";
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EFD_SEMAPHORE,
  EVENTFD_FOPS,
  type EventfdCtx,
  eventfd2,
  eventfdCount,
  eventfdCtxAddWaitQueue,
  eventfdCtxDoRead,
  eventfdCtxFdget,
  eventfdCtxFileget,
  eventfdCtxPut,
  eventfdCtxRemoveWaitQueue,
  eventfdFileCreate,
  eventfdSignal,
  eventfdSignalAllowed,
  eventfdSignalMask,
  isEventfdFile,
  ULLONG_MAX,
} from "./eventfd.js";
import { type EventsWorld, eventsWorld } from "./events-test-fixture.js";
import {
  type File,
  FMODE_READ,
  FMODE_WRITE,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  POLLPRI,
  S_IFMT,
} from "./file.js";

/** An eventfd file in `w`, with a reference to its context for inspection. */
function open(w: EventsWorld, initval = 0, flags = 0): { file: File; ctx: EventfdCtx } {
  const fd = eventfd2(initval, flags, w);
  const file = w.fget(fd)!;
  const ctx = eventfdCtxFileget(file);
  eventfdCtxPut(ctx); // the file keeps it alive; tests only peek
  return { file, ctx };
}

function read(w: EventsWorld, file: File, count = 8, va = w.buf): number {
  return EVENTFD_FOPS.read!(file, w.task, va, count, { value: 0 });
}

function write(w: EventsWorld, file: File, value: bigint, count = 8): number {
  w.pokeU64(value);
  return EVENTFD_FOPS.write!(file, w.task, w.buf, count, { value: 0 });
}

const poll = (w: EventsWorld, file: File) => EVENTFD_FOPS.poll!(file, w.task);

describe("eventfd2(2)", () => {
  test("creates an anon-inode file [eventfd] at the lowest free fd", () => {
    const w = eventsWorld();
    const fd = eventfd2(5, 0, w);
    expect(fd).toBe(0);
    const file = w.fget(fd)!;
    expect(file.path).toBe("anon_inode:[eventfd]");
    expect(file.inode.mode & S_IFMT).toBe(0);
    expect(file.inode.mode).toBe(0o600);
    expect(file.mode).toBe(FMODE_READ | FMODE_WRITE);
    expect(file.flags).toBe(O_RDWR);
    expect(isEventfdFile(file)).toBe(true);
    expect(eventfdCount(eventfdCtxFileget(file))).toBe(5n);
    expect(eventfd2(0, 0, w)).toBe(1);
  });

  test("EFD_NONBLOCK lands on the file, EFD_CLOEXEC only on the fd", () => {
    const w = eventsWorld();
    const fd = eventfd2(0, EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE, w);
    expect(w.fget(fd)!.flags).toBe(O_RDWR | O_NONBLOCK);
    expect(w.installedFlags.get(fd)).toBe(O_RDWR | O_NONBLOCK | O_CLOEXEC);
    expect(EFD_NONBLOCK).toBe(0o4000);
    expect(EFD_CLOEXEC).toBe(0o2000000);
  });

  test("EINVAL for any other flag, before an fd is taken", () => {
    const w = eventsWorld();
    for (const flags of [2, O_RDWR, 0o100, 1 << 30, -1]) {
      const err = expectErrno(() => eventfd2(0, flags, w), "EINVAL");
      expect(err.fn).toBe("do_eventfd");
    }
    expect(w.fds.size).toBe(0);
  });

  test("EMFILE from a full fd table passes through", () => {
    const w = eventsWorld();
    const full = {
      scheduler: w.scheduler,
      installFd: (): number => {
        throw new SysError("EMFILE", "get_unused_fd_flags");
      },
    };
    expectErrno(() => eventfd2(0, 0, full), "EMFILE");
  });

  test("initval is an unsigned int, converted as C does", () => {
    const w = eventsWorld();
    expect(eventfdCount(open(w, 0xffff_ffff).ctx)).toBe(0xffff_ffffn);
    expect(eventfdCount(open(w, -1).ctx)).toBe(0xffff_ffffn);
  });
});

describe("read(2) of an eventfd", () => {
  test("returns the counter as a little-endian u64 and resets it", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w, 7);
    write(w, file, 0x1_0000_0000n);
    w.pokeU64(0n);
    expect(read(w, file)).toBe(8);
    expect(w.peekU64()).toBe(0x1_0000_0007n);
    expect(eventfdCount(ctx)).toBe(0n);
  });

  test("EFD_SEMAPHORE: each read returns 1 and decrements", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w, 3, EFD_SEMAPHORE | EFD_NONBLOCK);
    for (const left of [2n, 1n, 0n]) {
      read(w, file);
      expect(w.peekU64()).toBe(1n);
      expect(eventfdCount(ctx)).toBe(left);
    }
    expectErrno(() => read(w, file), "EAGAIN");
  });

  test("EINVAL for a buffer shorter than 8 bytes, even when a count is pending", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w, 1);
    const err = expectErrno(() => read(w, file, 7), "EINVAL");
    expect(err.fn).toBe("eventfd_read");
    expect(eventfdCount(ctx)).toBe(1n);
    expect(read(w, file, 4096)).toBe(8);
  });

  test("EAGAIN with O_NONBLOCK when the counter is 0", () => {
    const w = eventsWorld();
    const { file } = open(w, 0, EFD_NONBLOCK);
    expectErrno(() => read(w, file), "EAGAIN");
    expect(w.clock.now).toBe(0);
  });

  test("O_NONBLOCK set later on the file (fcntl F_SETFL) is honoured", () => {
    const w = eventsWorld();
    const { file } = open(w);
    file.flags |= O_NONBLOCK;
    expectErrno(() => read(w, file), "EAGAIN");
  });

  test("EFAULT for an unwritable buffer — and the count is gone, as in Linux", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w, 9);
    expectErrno(() => read(w, file, 8, w.roBuf), "EFAULT");
    expect(eventfdCount(ctx)).toBe(0n);
  });

  test("a blocking read sleeps until an interrupt handler signals, in virtual time", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w);
    w.clock.schedule(1_000, "irq", () => {
      eventfdSignal(ctx);
      eventfdSignal(ctx);
    });
    expect(read(w, file)).toBe(8);
    expect(w.peekU64()).toBe(2n);
    expect(w.clock.now).toBe(1_000);
  });

  test("a blocking read keeps sleeping through events that do not signal", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w);
    w.clock.schedule(100, "unrelated", () => {});
    w.clock.schedule(5_000, "irq", () => eventfdSignal(ctx));
    read(w, file);
    expect(w.clock.now).toBe(5_000);
  });

  test("a read that nothing can ever satisfy is a simulator error, not a hang", () => {
    const w = eventsWorld();
    const { file } = open(w);
    w.clock.schedule(100, "unrelated", () => {});
    expect(() => read(w, file)).toThrow(WouldBlockForeverError);
    expect(() => read(w, file)).toThrow(/read\(anon_inode:\[eventfd\]\) by pid 42 \(selftest\)/);
  });
});

describe("write(2) to an eventfd", () => {
  test("adds to the counter", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w, 1);
    expect(write(w, file, 41n)).toBe(8);
    expect(eventfdCount(ctx)).toBe(42n);
    expect(write(w, file, 0n)).toBe(8);
    expect(eventfdCount(ctx)).toBe(42n);
  });

  test("EINVAL for a buffer shorter than 8 bytes", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w);
    const err = expectErrno(() => write(w, file, 1n, 4), "EINVAL");
    expect(err.fn).toBe("eventfd_write");
    expect(eventfdCount(ctx)).toBe(0n);
  });

  test("EFAULT for an unreadable buffer, counter untouched", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w, 3);
    expectErrno(() => EVENTFD_FOPS.write!(file, w.task, 0x10, 8, { value: 0 }), "EFAULT");
    expect(eventfdCount(ctx)).toBe(3n);
  });

  test("EINVAL for 0xffffffffffffffff", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w);
    expectErrno(() => write(w, file, ULLONG_MAX), "EINVAL");
    expect(eventfdCount(ctx)).toBe(0n);
  });

  test("the counter may reach ULLONG_MAX - 1 by write, not more: EAGAIN with O_NONBLOCK", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w, 0, EFD_NONBLOCK);
    write(w, file, ULLONG_MAX - 1n);
    expect(eventfdCount(ctx)).toBe(ULLONG_MAX - 1n);
    const err = expectErrno(() => write(w, file, 1n), "EAGAIN");
    expect(err.fn).toBe("eventfd_write");
    expect(write(w, file, 0n)).toBe(8);
    expect(eventfdCount(ctx)).toBe(ULLONG_MAX - 1n);
  });

  test("a blocking write sleeps until a consumer drains the counter", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w, 0);
    write(w, file, ULLONG_MAX - 10n);
    w.clock.schedule(2_000, "consumer", () => eventfdCtxDoRead(ctx));
    write(w, file, 20n);
    expect(w.clock.now).toBe(2_000);
    expect(eventfdCount(ctx)).toBe(20n);
  });

  test("a write that could never fit is a simulator error", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w);
    write(w, file, ULLONG_MAX - 1n);
    expect(() => write(w, file, 1n)).toThrow(WouldBlockForeverError);
    expect(eventfdCount(ctx)).toBe(ULLONG_MAX - 1n);
  });
});

describe("poll of an eventfd", () => {
  test("writable at 0, readable and writable above, not writable at ULLONG_MAX - 1", () => {
    const w = eventsWorld();
    const { file } = open(w);
    expect(poll(w, file)).toBe(POLLOUT);
    write(w, file, 1n);
    expect(poll(w, file)).toBe(POLLIN | POLLOUT);
    write(w, file, ULLONG_MAX - 2n);
    expect(poll(w, file)).toBe(POLLIN);
  });

  test("an in-kernel overflow to ULLONG_MAX shows as EPOLLERR", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w);
    write(w, file, ULLONG_MAX - 1n);
    eventfdSignal(ctx);
    eventfdSignal(ctx); // saturates
    expect(eventfdCount(ctx)).toBe(ULLONG_MAX);
    expect(poll(w, file)).toBe(POLLIN | POLLERR);
    read(w, file);
    expect(w.peekU64()).toBe(ULLONG_MAX);
    expect(poll(w, file)).toBe(POLLOUT);
  });

  test("lseek is a no-op that succeeds", () => {
    const w = eventsWorld();
    const { file } = open(w);
    expect(EVENTFD_FOPS.llseek!(file, 100, 0)).toBe(0);
    expect(EVENTFD_FOPS.mmap).toBeUndefined();
    expect(EVENTFD_FOPS.unlockedIoctl).toBeUndefined();
  });
});

describe("in-kernel eventfd API", () => {
  test("eventfd_ctx_fileget: EINVAL for a file that is not an eventfd", () => {
    const w = eventsWorld();
    const { file } = open(w);
    const other: File = { ...file, fOp: { ...EVENTFD_FOPS } };
    const err = expectErrno(() => eventfdCtxFileget(other), "EINVAL");
    expect(err.fn).toBe("eventfd_ctx_fileget");
  });

  test("eventfd_ctx_fdget: EBADF for an empty slot, EINVAL for another file", () => {
    const w = eventsWorld();
    const { file } = open(w);
    w.fds.set(5, { ...file, fOp: {} });
    expectErrno(() => eventfdCtxFdget(3, w.fget), "EBADF");
    expectErrno(() => eventfdCtxFdget(-1, w.fget), "EBADF");
    expectErrno(() => eventfdCtxFdget(5, w.fget), "EINVAL");
    const ctx = eventfdCtxFdget(0, w.fget);
    eventfdSignal(ctx);
    expect(eventfdCount(ctx)).toBe(1n);
    eventfdCtxPut(ctx);
  });

  test("a driver's reference outlives close(); the last put frees the context", () => {
    const w = eventsWorld();
    const { file } = open(w);
    const ctx = eventfdCtxFileget(file);
    EVENTFD_FOPS.release!(file.inode, file);
    eventfdSignal(ctx);
    expect(eventfdCount(ctx)).toBe(1n);
    eventfdCtxPut(ctx);
    expect(ctx.freed).toBe(true);
    expect(() => eventfdSignal(ctx)).toThrow(/after its last reference/);
  });

  test("waiters see EPOLLIN on write and signal, EPOLLOUT on read, EPOLLHUP on release", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w);
    const seen: number[] = [];
    eventfdCtxAddWaitQueue(ctx, (mask) => seen.push(mask));
    write(w, file, 1n);
    eventfdSignal(ctx);
    eventfdSignalMask(ctx, POLLPRI);
    read(w, file);
    EVENTFD_FOPS.release!(file.inode, file);
    expect(seen).toEqual([POLLIN, POLLIN, POLLIN | POLLPRI, POLLOUT, POLLHUP]);
  });

  test("a virqfd-style waiter consumes each signal in the waker's context", () => {
    const w = eventsWorld();
    const { ctx } = open(w);
    let injected = 0n;
    const entry = eventfdCtxAddWaitQueue(ctx, (mask) => {
      if (mask & POLLIN) injected += eventfdCtxDoRead(ctx);
    });
    eventfdSignal(ctx);
    eventfdSignal(ctx);
    expect(injected).toBe(2n);
    expect(eventfdCount(ctx)).toBe(0n);
    expect(eventfdCtxRemoveWaitQueue(ctx, entry)).toBe(0n);
    eventfdSignal(ctx);
    expect(injected).toBe(2n);
    expect(eventfdCount(ctx)).toBe(1n);
  });

  test("eventfd_ctx_remove_wait_queue takes the pending count", () => {
    const w = eventsWorld();
    const { ctx } = open(w, 0, EFD_SEMAPHORE);
    const entry = eventfdCtxAddWaitQueue(ctx, () => {});
    eventfdSignal(ctx);
    eventfdSignal(ctx);
    expect(eventfdCtxRemoveWaitQueue(ctx, entry)).toBe(1n);
    expect(eventfdCount(ctx)).toBe(1n);
  });

  test("a semaphore eventfd read at 0 by a consumer does not underflow", () => {
    const w = eventsWorld();
    const { ctx } = open(w, 0, EFD_SEMAPHORE);
    expect(eventfdCtxDoRead(ctx)).toBe(0n);
    expect(eventfdCount(ctx)).toBe(0n);
  });

  test("signalling from inside an eventfd wake-up is refused (current->in_eventfd)", () => {
    const w = eventsWorld();
    const a = open(w).ctx;
    const b = open(w).ctx;
    let allowedInside: boolean | undefined;
    eventfdCtxAddWaitQueue(a, () => {
      allowedInside = eventfdSignalAllowed();
      eventfdSignal(b);
    });
    eventfdSignal(a);
    expect(allowedInside).toBe(false);
    expect(eventfdCount(b)).toBe(0n);
    expect(eventfdSignalAllowed()).toBe(true);
    eventfdSignal(b);
    expect(eventfdCount(b)).toBe(1n);
  });

  test("a signal from a device interrupt wakes a blocked reader through a waiter chain", () => {
    const w = eventsWorld();
    const { file, ctx } = open(w);
    const seen: number[] = [];
    eventfdCtxAddWaitQueue(ctx, (mask) => seen.push(w.clock.now, mask));
    w.clock.schedule(750, "gic: spi 42", () => eventfdSignal(ctx));
    read(w, file);
    expect(seen).toEqual([750, POLLIN, 750, POLLOUT]);
  });
});

describe("eventfd counter model", () => {
  type Op = { kind: "write"; value: bigint } | { kind: "read" } | { kind: "signal" };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant("write" as const),
      value: fc.oneof(fc.bigInt({ min: 0n, max: 100n }), fc.bigInt({ min: 0n, max: ULLONG_MAX })),
    }),
    fc.record({ kind: fc.constant("read" as const) }),
    fc.record({ kind: fc.constant("signal" as const) }),
  );

  fcTest.prop([fc.boolean(), fc.nat(0xffff_ffff), fc.array(op, { maxLength: 30 })])(
    "non-blocking reads, writes and signals follow the u64 counter rules",
    (semaphore, initval, ops) => {
      const w = eventsWorld();
      const { file, ctx } = open(w, initval, EFD_NONBLOCK | (semaphore ? EFD_SEMAPHORE : 0));
      let model = BigInt(initval);
      for (const o of ops) {
        if (o.kind === "signal") {
          eventfdSignal(ctx);
          if (model < ULLONG_MAX) model++;
        } else if (o.kind === "read") {
          if (model === 0n) {
            expectErrno(() => read(w, file), "EAGAIN");
          } else {
            read(w, file);
            const taken = semaphore ? 1n : model;
            expect(w.peekU64()).toBe(taken);
            model -= taken;
          }
        } else if (o.value === ULLONG_MAX) {
          expectErrno(() => write(w, file, o.value), "EINVAL");
        } else if (ULLONG_MAX - model > o.value) {
          write(w, file, o.value);
          model += o.value;
        } else {
          expectErrno(() => write(w, file, o.value), "EAGAIN");
        }
        expect(eventfdCount(ctx)).toBe(model);
        const mask = poll(w, file);
        expect(Boolean(mask & POLLIN)).toBe(model > 0n);
        expect(Boolean(mask & POLLOUT)).toBe(model < ULLONG_MAX - 1n);
        expect(Boolean(mask & POLLERR)).toBe(model === ULLONG_MAX);
      }
      expect(w.clock.now).toBe(0);
    },
  );
});

test("eventfdFileCreate makes a file without installing it", () => {
  const w = eventsWorld();
  const file = eventfdFileCreate(3, EFD_NONBLOCK, w.scheduler);
  expect(w.fds.size).toBe(0);
  expect(file.refcount).toBe(1);
  expect(file.flags & O_NONBLOCK).toBe(O_NONBLOCK);
});
