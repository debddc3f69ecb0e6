/**
 * virqfd: an eventfd user space signals, a driver handler run in the signaller's context and a
 * `thread` run later from a work item; teardown by closing the eventfd or by the driver.
 */

import { boards, Soc } from "@vfio-lab/hw-soc";
import {
  EFD_NONBLOCK,
  type EventfdCtx,
  eventfdCtxFileget,
  eventfdSignal,
  Kernel,
  type Process,
} from "@vfio-lab/kernel";
import { describe, expect, test } from "vitest";
import {
  type VirqfdSlot,
  vfioVirqfdDisable,
  vfioVirqfdEnable,
  vfioVirqfdExit,
  vfioVirqfdFlushThread,
} from "./virqfd.js";

interface World {
  readonly soc: Soc;
  readonly kernel: Kernel;
  readonly p: Process;
  readonly buf: number;
  /** What the driver saw, in order. */
  readonly calls: string[];
  readonly slot: VirqfdSlot;
}

function setup(): World {
  const soc = Soc.fromDeviceTree(boards.virtLab({ ramSize: 0x1000_0000 }));
  const kernel = Kernel.boot(soc, { cmdline: "" });
  const p = kernel.spawn({ comm: "vmm" });
  return { soc, kernel, p, buf: p.malloc(4096), calls: [], slot: { virqfd: null } };
}

/** write(2) of a u64 to an eventfd, as user space signals it. */
function signal(w: World, efd: number, n = 1n): void {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, n, true);
  w.p.poke(w.buf, bytes);
  w.p.write(efd, w.buf, 8);
}

function ctxOf(w: World, efd: number): EventfdCtx {
  const file = w.p.fget(efd)!;
  const ctx = eventfdCtxFileget(file);
  ctx.put();
  w.kernel.vfs.fput(file);
  return ctx;
}

/** Enables a virqfd whose handler answers `wantThread` and logs both calls. */
function enable(w: World, efd: number, wantThread: boolean, withThread = true): void {
  vfioVirqfdEnable(
    w.kernel,
    w.p,
    "opaque",
    (opaque: string, data: number) => {
      w.calls.push(`handler ${opaque} ${data}`);
      return wantThread;
    },
    withThread
      ? (opaque: string, data: number) => {
          w.calls.push(`thread ${opaque} ${data}`);
        }
      : null,
    7,
    w.slot,
    efd,
  );
}

describe("vfio_virqfd_enable()", () => {
  test("a signal runs the handler at once and consumes the count", () => {
    const w = setup();
    const efd = w.p.eventfd(0, EFD_NONBLOCK);
    enable(w, efd, false);
    expect(w.slot.virqfd).not.toBeNull();
    signal(w, efd, 3n);
    expect(w.calls).toEqual(["handler opaque 7"]);
    expect(() => w.p.read(efd, w.buf, 8)).toThrowErrno("EAGAIN");
    signal(w, efd);
    expect(w.calls).toHaveLength(2);
  });

  test("a handler answering true gets its thread run later, from a work item", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    enable(w, efd, true);
    signal(w, efd);
    expect(w.calls).toEqual(["handler opaque 7"]);
    w.soc.runUntilIdle();
    expect(w.calls).toEqual(["handler opaque 7", "thread opaque 7"]);
  });

  test("two signals before the work runs make one thread call (the work was already queued)", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    enable(w, efd, true);
    signal(w, efd);
    signal(w, efd);
    w.soc.runUntilIdle();
    expect(w.calls.filter((c) => c.startsWith("thread"))).toHaveLength(1);
  });

  test("an in-kernel eventfd_signal() is seen the same way", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    enable(w, efd, false);
    eventfdSignal(ctxOf(w, efd));
    expect(w.calls).toEqual(["handler opaque 7"]);
  });

  test("an eventfd signalled before enable fires at once, and its count is left alone", () => {
    const w = setup();
    const efd = w.p.eventfd(2, EFD_NONBLOCK);
    enable(w, efd, true);
    expect(w.calls).toEqual(["handler opaque 7"]);
    w.soc.runUntilIdle();
    expect(w.calls).toEqual(["handler opaque 7", "thread opaque 7"]);
    expect(w.p.read(efd, w.buf, 8)).toBe(8);
    expect(new DataView(w.p.peek(w.buf, 8).buffer).getBigUint64(0, true)).toBe(2n);
  });

  test("no handler: every signal schedules the thread", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    vfioVirqfdEnable(w.kernel, w.p, null, null, () => w.calls.push("thread"), null, w.slot, efd);
    signal(w, efd);
    w.soc.runUntilIdle();
    expect(w.calls).toEqual(["thread"]);
  });

  test("a descriptor that is not open (or negative) is EBADF", () => {
    const w = setup();
    expect(() => enable(w, 42, false)).toThrowErrno("EBADF");
    expect(() => enable(w, -1, false)).toThrowErrno("EBADF");
    expect(w.slot.virqfd).toBeNull();
  });

  test("a file that is not an eventfd is EINVAL", () => {
    const w = setup();
    const fd = w.p.open("/dev/null");
    expect(() => enable(w, fd, false)).toThrowErrno("EINVAL");
    expect(w.slot.virqfd).toBeNull();
  });

  test("a slot already holding a virqfd is EBUSY, and the new eventfd is not kept", () => {
    const w = setup();
    enable(w, w.p.eventfd(0, 0), false);
    const first = w.slot.virqfd;
    const efd = w.p.eventfd(0, 0);
    const ctx = ctxOf(w, efd);
    expect(() => enable(w, efd, false)).toThrowErrno("EBUSY");
    expect(w.slot.virqfd).toBe(first);
    w.p.close(efd);
    expect(ctx.freed).toBe(true);
  });

  test("an allocation failure is ENOMEM and leaves the slot empty", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    w.kernel.allocator.setFailHook((site) => site === "kzalloc");
    try {
      expect(() => enable(w, efd, false)).toThrowErrno("ENOMEM");
    } finally {
      w.kernel.allocator.setFailHook(undefined);
    }
    expect(w.slot.virqfd).toBeNull();
  });
});

describe("teardown", () => {
  test("closing the eventfd empties the slot at once and frees the virqfd from a work item", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    const ctx = ctxOf(w, efd);
    enable(w, efd, false);
    w.p.close(efd);
    expect(w.slot.virqfd).toBeNull();
    // The shutdown work still holds the context.
    expect(ctx.freed).toBe(false);
    w.soc.runUntilIdle();
    expect(ctx.freed).toBe(true);
    // The slot can take a new eventfd right away.
    enable(w, w.p.eventfd(0, 0), false);
  });

  test("disable empties the slot, runs a pending thread, and releases the eventfd", () => {
    const w = setup();
    const efd = w.p.eventfd(0, EFD_NONBLOCK);
    const ctx = ctxOf(w, efd);
    enable(w, efd, true);
    signal(w, efd);
    vfioVirqfdDisable(w.kernel, w.slot);
    expect(w.calls).toEqual(["handler opaque 7", "thread opaque 7"]);
    expect(w.slot.virqfd).toBeNull();
    // Unhooked: a signal now stays in the counter for user space.
    signal(w, efd);
    expect(w.calls).toHaveLength(2);
    expect(w.p.read(efd, w.buf, 8)).toBe(8);
    w.p.close(efd);
    expect(ctx.freed).toBe(true);
  });

  test("disable also finishes a teardown an eventfd close queued", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    const ctx = ctxOf(w, efd);
    enable(w, efd, false);
    w.p.close(efd);
    vfioVirqfdDisable(w.kernel, w.slot);
    expect(ctx.freed).toBe(true);
  });

  test("disable of an empty slot does nothing", () => {
    const w = setup();
    vfioVirqfdDisable(w.kernel, w.slot);
    expect(w.slot.virqfd).toBeNull();
  });

  test("flush_thread runs a pending thread now; without a thread it only flushes", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    enable(w, efd, true);
    signal(w, efd);
    vfioVirqfdFlushThread(w.kernel, w.slot);
    expect(w.calls).toEqual(["handler opaque 7", "thread opaque 7"]);
    expect(w.slot.virqfd).not.toBeNull();
    const w2 = setup();
    enable(w2, w2.p.eventfd(0, 0), true, false);
    vfioVirqfdFlushThread(w2.kernel, w2.slot);
    expect(w2.calls).toEqual([]);
  });

  test("vfio_virqfd_exit() drains the cleanup queue", () => {
    const w = setup();
    const efd = w.p.eventfd(0, 0);
    const ctx = ctxOf(w, efd);
    enable(w, efd, false);
    w.p.close(efd);
    vfioVirqfdExit(w.kernel);
    expect(ctx.freed).toBe(true);
  });
});
