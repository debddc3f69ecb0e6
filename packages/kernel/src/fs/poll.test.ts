import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { WouldBlockForeverError } from "../sched/wait.js";
import { expectErrno } from "../testing/matchers.js";
import { EFD_NONBLOCK, eventfd2, eventfdCtxFileget, eventfdSignal } from "./eventfd.js";
import { type EventsWorld, eventsWorld } from "./events-test-fixture.js";
import {
  DEFAULT_POLLMASK,
  type File,
  type FileOperations,
  O_RDWR,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLPRI,
  POLLRDNORM,
} from "./file.js";
import { doSysPoll, type PollDeps, pollMaskOf } from "./poll.js";

function deps(w: EventsWorld): PollDeps {
  return { current: w.task, fget: w.fget, scheduler: w.scheduler };
}

/** A file whose readiness is whatever `mask()` says; `fOp: {}` when `mask` is undefined. */
function fakeFile(w: EventsWorld, mask?: () => number): number {
  const fOp: FileOperations = mask ? { poll: () => mask() } : {};
  const file: File = {
    inode: { ino: 1, mode: 0o100600, uid: 0, gid: 0, rdev: 0, size: 0, fop: null, private: null },
    fOp,
    flags: O_RDWR,
    mode: 3,
    pos: 0,
    path: "/fake",
    privateData: null,
    refcount: 1,
  };
  return w.installFd(file, O_RDWR);
}

function eventfd(w: EventsWorld, initval = 0) {
  const fd = eventfd2(initval, EFD_NONBLOCK, w);
  return { fd, ctx: eventfdCtxFileget(w.fget(fd)!) };
}

describe("poll(2) (fs/select.c: do_sys_poll)", () => {
  test("reports ready descriptors and how many there are", () => {
    const w = eventsWorld();
    const a = eventfd(w, 1);
    const b = eventfd(w, 0);
    const r = doSysPoll(
      [
        { fd: a.fd, events: POLLIN },
        { fd: b.fd, events: POLLIN },
      ],
      0,
      deps(w),
    );
    expect(r).toEqual({
      fds: [
        { fd: a.fd, revents: POLLIN },
        { fd: b.fd, revents: 0 },
      ],
      count: 1,
    });
  });

  test("a negative fd is skipped: revents 0, not counted", () => {
    const w = eventsWorld();
    const r = doSysPoll([{ fd: -1, events: POLLIN | POLLOUT }], 0, deps(w));
    expect(r).toEqual({ fds: [{ fd: -1, revents: 0 }], count: 0 });
  });

  test("POLLNVAL for a descriptor with no open file, whatever was asked; it counts", () => {
    const w = eventsWorld();
    const r = doSysPoll([{ fd: 7, events: 0 }], -1, deps(w));
    expect(r).toEqual({ fds: [{ fd: 7, revents: POLLNVAL }], count: 1 });
    expect(w.clock.now).toBe(0);
  });

  test("a file without poll is always ready: DEFAULT_POLLMASK", () => {
    const w = eventsWorld();
    const fd = fakeFile(w);
    expect(pollMaskOf(w.fget(fd)!, w.task)).toBe(DEFAULT_POLLMASK);
    const r = doSysPoll([{ fd, events: POLLIN | POLLPRI }], -1, deps(w));
    expect(r.fds[0]!.revents).toBe(POLLIN);
  });

  test("only the bits asked for, plus POLLERR and POLLHUP which are always reported", () => {
    const w = eventsWorld();
    const fd = fakeFile(w, () => POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDNORM);
    expect(doSysPoll([{ fd, events: POLLOUT }], 0, deps(w)).fds[0]!.revents).toBe(
      POLLOUT | POLLERR | POLLHUP,
    );
    expect(doSysPoll([{ fd, events: 0 }], 0, deps(w)).fds[0]!.revents).toBe(POLLERR | POLLHUP);
  });

  test("events is a short: bits above 16 are ignored", () => {
    const w = eventsWorld();
    const fd = fakeFile(w, () => POLLIN);
    expect(doSysPoll([{ fd, events: 0x10000 }], 0, deps(w)).count).toBe(0);
    expect(doSysPoll([{ fd, events: 0x10000 | POLLIN }], 0, deps(w)).count).toBe(1);
  });

  test("the same fd twice is polled twice", () => {
    const w = eventsWorld();
    const a = eventfd(w, 1);
    const r = doSysPoll(
      [
        { fd: a.fd, events: POLLIN },
        { fd: a.fd, events: POLLOUT },
      ],
      0,
      deps(w),
    );
    expect(r.count).toBe(2);
  });

  test("EINVAL for more entries than RLIMIT_NOFILE; exactly the limit is fine", () => {
    const w = eventsWorld();
    w.task.nofile = 3;
    const entries = (n: number) => Array.from({ length: n }, () => ({ fd: -1, events: POLLIN }));
    const err = expectErrno(() => doSysPoll(entries(4), 0, deps(w)), "EINVAL");
    expect(err.fn).toBe("do_sys_poll");
    expect(doSysPoll(entries(3), 0, deps(w)).count).toBe(0);
  });

  test("an empty array with a timeout just sleeps it", () => {
    const w = eventsWorld();
    expect(doSysPoll([], 1_000, deps(w))).toEqual({ fds: [], count: 0 });
    expect(w.clock.now).toBe(1_000);
  });
});

describe("poll(2) timeouts in virtual time", () => {
  test("timeout 0 never sleeps, even with events pending", () => {
    const w = eventsWorld();
    const a = eventfd(w);
    w.clock.schedule(10, "irq", () => eventfdSignal(a.ctx));
    const r = doSysPoll([{ fd: a.fd, events: POLLIN }], 0, deps(w));
    expect(r.count).toBe(0);
    expect(w.clock.now).toBe(0);
  });

  test("a positive timeout with nothing ready returns 0 exactly at the deadline", () => {
    const w = eventsWorld();
    const a = eventfd(w);
    w.clock.schedule(500, "unrelated", () => {});
    w.clock.schedule(20_000, "irq too late", () => eventfdSignal(a.ctx));
    const r = doSysPoll([{ fd: a.fd, events: POLLIN }], 10_000, deps(w));
    expect(r).toEqual({ fds: [{ fd: a.fd, revents: 0 }], count: 0 });
    expect(w.clock.now).toBe(10_000);
  });

  test("an event before the deadline ends the sleep at the event", () => {
    const w = eventsWorld();
    const a = eventfd(w);
    w.clock.schedule(3_000, "irq", () => eventfdSignal(a.ctx));
    const r = doSysPoll([{ fd: a.fd, events: POLLIN }], 10_000, deps(w));
    expect(r.fds[0]!.revents).toBe(POLLIN);
    expect(w.clock.now).toBe(3_000);
  });

  test("an event exactly at the deadline is seen", () => {
    const w = eventsWorld();
    const a = eventfd(w);
    w.clock.schedule(10_000, "irq", () => eventfdSignal(a.ctx));
    expect(doSysPoll([{ fd: a.fd, events: POLLIN }], 10_000, deps(w)).count).toBe(1);
    expect(w.clock.now).toBe(10_000);
  });

  test("a negative timeout waits for the first ready descriptor", () => {
    const w = eventsWorld();
    const a = eventfd(w);
    const b = eventfd(w);
    w.clock.schedule(4_000, "irq b", () => eventfdSignal(b.ctx));
    w.clock.schedule(9_000, "irq a", () => eventfdSignal(a.ctx));
    const r = doSysPoll(
      [
        { fd: a.fd, events: POLLIN },
        { fd: b.fd, events: POLLIN },
      ],
      -1,
      deps(w),
    );
    expect(r.fds.map((f) => f.revents)).toEqual([0, POLLIN]);
    expect(w.clock.now).toBe(4_000);
  });

  test("waiting for ever on what can never become ready is a simulator error", () => {
    const w = eventsWorld();
    const a = eventfd(w);
    w.clock.schedule(100, "unrelated", () => {});
    expect(() => doSysPoll([{ fd: a.fd, events: POLLIN }], -1, deps(w))).toThrow(
      WouldBlockForeverError,
    );
    expect(() => doSysPoll([{ fd: a.fd, events: POLLIN }], -1, deps(w))).toThrow(
      /poll\(\[0\]\) by pid 42 \(selftest\)/,
    );
  });

  test("a descriptor closed while sleeping turns into POLLNVAL at the next pass", () => {
    const w = eventsWorld();
    const a = eventfd(w);
    w.clock.schedule(600, "close", () => w.fds.delete(a.fd));
    const r = doSysPoll([{ fd: a.fd, events: POLLIN }], -1, deps(w));
    expect(r.fds[0]!.revents).toBe(POLLNVAL);
    expect(w.clock.now).toBe(600);
  });

  fcTest.prop([fc.nat(100_000), fc.option(fc.nat(100_000), { nil: undefined })])(
    "returns at min(event, deadline), with the descriptor ready iff the event came first",
    (timeout, eventAt) => {
      const w = eventsWorld();
      const a = eventfd(w);
      if (eventAt !== undefined) w.clock.schedule(eventAt, "irq", () => eventfdSignal(a.ctx));
      const r = doSysPoll([{ fd: a.fd, events: POLLIN }], timeout, deps(w));
      const fired = eventAt !== undefined && (timeout > 0 ? eventAt <= timeout : false);
      expect(r.count).toBe(fired ? 1 : 0);
      if (timeout === 0) expect(w.clock.now).toBe(0);
      else expect(w.clock.now).toBe(fired ? eventAt : timeout);
    },
  );
});
