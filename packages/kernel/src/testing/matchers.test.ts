import { describe, expect, expectTypeOf, it } from "vitest";
import { SysError } from "../errno.js";
import { expectErrno, setupKernelMatchers } from "./index.js";

setupKernelMatchers();

const busy = () => {
  throw new SysError("EBUSY", "vfio_group_ioctl_set_container", "group already has a container");
};

/** The assertion error a failing matcher throws, for checking its message. */
function failureOf(assertion: () => unknown): string {
  try {
    assertion();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the assertion passed");
}

async function asyncFailureOf(assertion: () => Promise<unknown>): Promise<string> {
  try {
    await assertion();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the assertion passed");
}

describe("toThrowErrno", () => {
  it("passes when a function throws a SysError with that errno", () => {
    expect(busy).toThrowErrno("EBUSY");
  });

  it("accepts an alias of the errno name", () => {
    expect(() => {
      throw new SysError("EAGAIN", "eventfd_read");
    }).toThrowErrno("EWOULDBLOCK");
  });

  it("recognises a SysError from another copy of the package by its marker", () => {
    const foreign = Object.assign(new Error("vfio_foo: EBUSY"), {
      [Symbol.for("@vfio-lab/kernel/SysError")]: true,
      errno: 16,
      code: "EBUSY",
      fn: "vfio_foo",
    });
    expect(() => {
      throw foreign;
    }).toThrowErrno("EBUSY");
  });

  it("on a different errno, prints both names, errno, fn and message", () => {
    const message = failureOf(() => expect(busy).toThrowErrno("ENOENT"));
    expect(message).toContain("SysError ENOENT (errno 2)");
    expect(message).toContain("SysError EBUSY (errno 16) from vfio_group_ioctl_set_container");
    expect(message).toContain("group already has a container");
  });

  it("fails when nothing is thrown", () => {
    expect(failureOf(() => expect(() => 0).toThrowErrno("EBUSY"))).toContain("nothing was thrown");
  });

  it("fails on an error that is not a SysError", () => {
    const message = failureOf(() =>
      expect(() => {
        throw new RangeError("model bug");
      }).toThrowErrno("EINVAL"),
    );
    expect(message).toContain("RangeError: model bug");
  });

  it("fails on a value that is neither a function nor a promise", () => {
    expect(failureOf(() => expect(16).toThrowErrno("EBUSY"))).toContain("a function or a promise");
  });

  it("works with .not", () => {
    expect(busy).not.toThrowErrno("ENOENT");
    expect(() => 0).not.toThrowErrno("EBUSY");
    expect(failureOf(() => expect(busy).not.toThrowErrno("EBUSY"))).toContain(
      "expected not to throw",
    );
  });

  it("awaits a rejected promise", async () => {
    await expect(Promise.reject(new SysError("EINTR", "poll"))).toThrowErrno("EINTR");
    await expect(async () => {
      throw new SysError("ETIMEDOUT", "poll");
    }).toThrowErrno("ETIMEDOUT");
  });

  it("works after .rejects", async () => {
    await expect(Promise.reject(new SysError("ENOMEM", "iopt_map_pages"))).rejects.toThrowErrno(
      "ENOMEM",
    );
  });

  it("fails on a promise that resolves or rejects with another errno", async () => {
    expect(await asyncFailureOf(() => expect(Promise.resolve(1)).toThrowErrno("EBUSY"))).toContain(
      "nothing was thrown",
    );
    expect(
      await asyncFailureOf(() =>
        expect(Promise.reject(new SysError("EPERM", "capable"))).toThrowErrno("EBUSY"),
      ),
    ).toContain("SysError EPERM (errno 1) from capable");
  });

  it("type-checks as sync for functions and async for promises", () => {
    expectTypeOf(expect(busy).toThrowErrno).returns.toEqualTypeOf<void>();
    expectTypeOf(expect(Promise.resolve()).toThrowErrno).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(expect(async () => 0).toThrowErrno).returns.toEqualTypeOf<Promise<void>>();
  });

  it("a misspelt errno name breaks the test instead of passing under .not", () => {
    // @ts-expect-error not an errno name
    expect(() => expect(busy).not.toThrowErrno("EBUSSY")).toThrow("EBUSSY is not an errno name");
  });
});

describe("expectErrno", () => {
  it("returns the SysError for further assertions", () => {
    const err = expectErrno(busy, "EBUSY");
    expect(err.fn).toBe("vfio_group_ioctl_set_container");
    expect(err.negative).toBe(-16);
  });

  it("is synchronous for a function typed as never returning", () => {
    expectTypeOf(expectErrno(busy, "EBUSY")).toEqualTypeOf<SysError>();
  });

  it("throws an assertion error on a mismatch", () => {
    expect(failureOf(() => expectErrno(busy, "EINVAL"))).toContain("SysError EINVAL (errno 22)");
    expect(failureOf(() => expectErrno(() => 1, "EINVAL"))).toContain("nothing was thrown");
  });

  it("awaits a function returning a promise", async () => {
    const err = await expectErrno(async () => {
      throw new SysError("EAGAIN", "eventfd_read");
    }, "EAGAIN");
    expect(err.fn).toBe("eventfd_read");
    expect(await asyncFailureOf(() => expectErrno(async () => 1, "EAGAIN"))).toContain(
      "nothing was thrown",
    );
  });
});
