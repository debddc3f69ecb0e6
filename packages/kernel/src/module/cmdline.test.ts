import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { formatArg, nextArg, parseKernelCmdline, splitArgs } from "./cmdline.js";

describe("next_arg()", () => {
  test("splits param and value at the first '='", () => {
    expect(splitArgs("  a=1 b c=x=y  ").args).toEqual([
      { param: "a", val: "1" },
      { param: "b", val: null },
      { param: "c", val: "x=y" },
    ]);
  });

  test("quotes group spaces and are removed around a value or a whole word", () => {
    expect(splitArgs('foo="bar baz" "qux=a b" "plain word"').args).toEqual([
      { param: "foo", val: "bar baz" },
      { param: "qux", val: "a b" },
      { param: "plain word", val: null },
    ]);
  });

  test("an '=' as the first character does not start the value", () => {
    expect(nextArg("=a=b", 0).arg).toEqual({ param: "=a", val: "b" });
    expect(nextArg("=", 0).arg).toEqual({ param: "=", val: null });
    expect(nextArg("x=", 0).arg).toEqual({ param: "x", val: "" });
  });

  test("tabs and newlines separate words too", () => {
    expect(splitArgs("a\tb\nc").args.map((a) => a.param)).toEqual(["a", "b", "c"]);
  });

  test("a bare -- ends the parameters; what follows is returned as is", () => {
    expect(splitArgs("a=1 -- init=/bin/sh  single")).toEqual({
      args: [{ param: "a", val: "1" }],
      afterDashes: "init=/bin/sh  single",
    });
    expect(splitArgs("--=x").afterDashes).toBeNull();
  });

  fcTest.prop([
    fc.stringMatching(/^[a-z_][a-z0-9_.]{0,10}$/),
    fc.option(fc.stringMatching(/^[a-z0-9 ,=./-]{0,12}$/), { nil: null }),
  ])("formatArg() writes what next_arg() reads back", (param, val) => {
    expect(splitArgs(formatArg({ param, val })).args).toEqual([{ param, val }]);
  });
});

describe("the kernel command line", () => {
  test("module.param words go to modprobe by module, the others to the kernel", () => {
    const cmd = parseKernelCmdline(
      'console=ttyAMA0 vfio.enable_unsafe_noiommu_mode=1 vfio-pci.ids="1af4:1041" ro vfio.x -- init',
    );
    expect(cmd.params).toEqual([
      { param: "console", val: "ttyAMA0" },
      { param: "ro", val: null },
    ]);
    expect(Object.fromEntries(cmd.moduleParams)).toEqual({
      vfio: [
        { param: "enable_unsafe_noiommu_mode", val: "1" },
        { param: "x", val: null },
      ],
      vfio_pci: [{ param: "ids", val: "1af4:1041" }],
    });
    expect(cmd.initArgs).toBe("init");
  });

  test("a dot in a value, or at either end of a name, does not make a module parameter", () => {
    const cmd = parseKernelCmdline("root=/dev/vda1.x .hidden trailing. a.b.c=1");
    expect(cmd.params.map((a) => a.param)).toEqual(["root", ".hidden", "trailing."]);
    expect(cmd.moduleParams.get("a")).toEqual([{ param: "b.c", val: "1" }]);
    expect(cmd.initArgs).toBeNull();
  });
});
