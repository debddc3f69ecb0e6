import { beforeAll, describe, expect, test } from "vitest";
import { errno, SysError } from "../errno.js";
import { setupKernelMatchers } from "../testing/matchers.js";
import { isTraceEvent } from "../trace/trace-bus.js";
import { MODULE_NAME_LEN } from "./loader.js";
import { defineModule, type KernelModule, moduleParam } from "./module.js";
import { moduleWorld, type TestKernel } from "./module-test-fixture.js";

beforeAll(() => setupKernelMatchers());

const vfio = defineModule({
  name: "vfio",
  params: [
    moduleParam("enable_unsafe_noiommu_mode", "bool", {
      perm: 0o644,
      description: "Enable UNSAFE, no-IOMMU mode.",
    }),
    moduleParam("debug_level", "int", { perm: 0o444, default: 1 }),
    moduleParam("hidden", "int", { perm: 0 }),
  ],
  init(k: TestKernel, params) {
    k.events.push(
      `vfio init noiommu=${params.enable_unsafe_noiommu_mode} level=${params.debug_level}`,
    );
  },
  exit(k: TestKernel) {
    k.events.push("vfio exit");
  },
});

const type1: KernelModule<TestKernel> = {
  name: "vfio_iommu_type1",
  dependencies: [vfio],
  init: (k) => void k.events.push("type1 init"),
  exit: (k) => void k.events.push("type1 exit"),
};

/** Depends on type1 by name only, as modules.dep would say. */
const platform: KernelModule<TestKernel> = {
  name: "vfio_platform",
  dependencies: ["vfio_iommu_type1", vfio],
  init: (k) => void k.events.push("platform init"),
  exit: (k) => void k.events.push("platform exit"),
};

function failing(err: unknown): KernelModule<TestKernel> {
  return {
    name: "broken",
    dependencies: [vfio],
    params: [moduleParam("x", "int", { perm: 0o644 })],
    init() {
      throw err;
    },
    exit() {},
  };
}

describe("modprobe", () => {
  test("loads dependencies first, then the module, each with its sysfs directory", () => {
    const w = moduleWorld();
    w.loader.register(type1);
    w.loader.modprobe(platform);
    expect(w.events).toEqual(["vfio init noiommu=false level=1", "type1 init", "platform init"]);
    expect(w.loader.loadedNames()).toEqual(["vfio_platform", "vfio_iommu_type1", "vfio"]);
    expect(w.sysfs.list("/sys/module/vfio")).toEqual([
      "holders",
      "initstate",
      "parameters",
      "refcnt",
      "taint",
    ]);
    expect(w.sysfs.read("/sys/module/vfio/initstate")).toBe("live\n");
    expect(w.sysfs.list("/sys/module/vfio/holders")).toEqual(["vfio_iommu_type1", "vfio_platform"]);
    expect(w.sysfs.linkTarget("/sys/module/vfio/holders/vfio_platform")).toBe(
      "/sys/module/vfio_platform",
    );
    expect(w.sysfs.read("/sys/module/vfio/refcnt")).toBe("2\n");
    expect(w.sysfs.exists("/sys/module/vfio_platform/parameters")).toBe(false);
  });

  test("post soft dependencies load after the module (MODULE_SOFTDEP), by name or object", () => {
    const w = moduleWorld();
    const core: KernelModule<TestKernel> = {
      name: "vfio",
      softdeps: { post: () => ["vfio_iommu_type1"] },
      init: (k) => void k.events.push("vfio init"),
      exit: () => {},
    };
    const backend: KernelModule<TestKernel> = {
      name: "vfio_iommu_type1",
      dependencies: [core],
      init: (k) => void k.events.push("type1 init"),
      exit: () => {},
    };
    w.loader.register(backend);
    w.loader.modprobe(core);
    expect(w.events).toEqual(["vfio init", "type1 init"]);
    expect(w.loader.loadedNames()).toEqual(["vfio_iommu_type1", "vfio"]);
  });

  test("parameters show under /sys/module/<m>/parameters, perm 0 ones not at all", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio);
    expect(w.sysfs.list("/sys/module/vfio/parameters")).toEqual([
      "debug_level",
      "enable_unsafe_noiommu_mode",
    ]);
    expect(w.sysfs.read("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode")).toBe("N\n");
    expect(w.sysfs.read("/sys/module/vfio/parameters/debug_level")).toBe("1\n");
  });

  test("module.param= on the command line applies, and modprobe arguments override it", () => {
    const w = moduleWorld("vfio.enable_unsafe_noiommu_mode=1 vfio.debug_level=3");
    w.loader.modprobe(vfio, { debug_level: 7 });
    expect(w.events).toEqual(["vfio init noiommu=true level=7"]);
  });

  test("command-line parameters also reach dependencies loaded on the way", () => {
    const w = moduleWorld("vfio.enable-unsafe-noiommu-mode");
    w.loader.modprobe(type1);
    expect(w.events[0]).toBe("vfio init noiommu=true level=1");
  });

  test("arguments may be a string, as on modprobe's command line", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio, "enable_unsafe_noiommu_mode debug_level=0x10");
    expect(w.events).toEqual(["vfio init noiommu=true level=16"]);
  });

  test("EEXIST before any dependency is touched", () => {
    const w = moduleWorld();
    w.loader.insmod(vfio);
    w.loader.insmod({ name: "vfio_iommu_type1" });
    expect(() => w.loader.modprobe({ ...type1, dependencies: ["vfio", "other"] })).toThrowErrno(
      "EEXIST",
    );
    expect(w.loader.loadedNames()).toEqual(["vfio_iommu_type1", "vfio"]);
  });

  test("EEXIST for a loaded module; loaded dependencies are skipped silently", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio);
    expect(() => w.loader.modprobe(vfio)).toThrowErrno("EEXIST");
    w.loader.modprobe(type1);
    expect(w.events).toEqual(["vfio init noiommu=false level=1", "type1 init"]);
  });

  test("modules are found by name with dashes or underscores; ENOENT for an unknown one", () => {
    const w = moduleWorld();
    w.loader.register(vfio, type1);
    w.loader.modprobe("vfio-iommu-type1");
    expect(w.loader.isLoaded("vfio_iommu_type1")).toBe(true);
    expect(() => w.loader.modprobe("nosuch")).toThrowErrno("ENOENT");
    expect(() => w.loader.modprobe(platform)).not.toThrow();
  });

  test("an unknown parameter is a warning and the load goes on", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio, { bogus: 1, async_probe: true });
    expect(w.loader.isLoaded("vfio")).toBe(true);
    expect(w.newLog()).toEqual(["vfio: unknown parameter 'bogus' ignored"]);
  });

  test("EINVAL for a bad value: logged, nothing loaded, dependencies stay loaded", () => {
    const w = moduleWorld();
    const user: KernelModule<TestKernel> = {
      name: "user",
      dependencies: [vfio],
      params: [moduleParam("count", "uint", { perm: 0o644 })],
      init: (k) => void k.events.push("user init"),
    };
    expect(() => w.loader.modprobe(user, { count: -1 })).toThrowErrno("EINVAL");
    expect(w.newLog()).toEqual(["user: `-1' invalid for parameter `count'"]);
    expect(w.loader.loadedNames()).toEqual(["vfio"]);
    expect(w.sysfs.exists("/sys/module/user")).toBe(false);
    expect(w.loader.moduleRefcount("vfio")).toBe(0);
    expect(w.sysfs.list("/sys/module/vfio/holders")).toEqual([]);
  });

  test("parameters after -- are ignored with a warning", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio, "debug_level=2 -- debug_level=9");
    expect(w.events).toEqual(["vfio init noiommu=false level=2"]);
    expect(w.newLog()).toEqual(["vfio: parameters 'debug_level=9' after `--' ignored"]);
  });

  test("EPERM for a module on module_blacklist=", () => {
    const w = moduleWorld("module_blacklist=evil,vfio");
    expect(() => w.loader.modprobe(vfio)).toThrowErrno("EPERM");
    expect(w.newLog()).toEqual(["Module vfio is blacklisted"]);
    expect(w.loader.loadedNames()).toEqual([]);
  });

  test("EINVAL 'module is already loaded' if /sys/module/<name> exists", () => {
    const w = moduleWorld();
    w.sysfs.mkdir("/sys/module/vfio");
    expect(() => w.loader.modprobe(vfio)).toThrowErrno("EINVAL");
    expect(w.newLog()).toEqual(["vfio: module is already loaded"]);
    expect(w.loader.isLoaded("vfio")).toBe(false);
  });

  test("an unsafe parameter taints the kernel when set", () => {
    const w = moduleWorld();
    const m: KernelModule<TestKernel> = {
      name: "risky",
      params: [moduleParam("allow", "bool", { perm: 0o644, unsafe: true })],
    };
    w.loader.modprobe(m, { allow: true });
    expect(w.taint.printTainted()).toMatch(/^Tainted: G {5}U/);
  });
});

describe("init", () => {
  test("runs while the module is coming, holding a reference on itself", () => {
    const w = moduleWorld();
    const seen: string[] = [];
    w.loader.modprobe({
      name: "probe",
      init: () => {
        seen.push(w.sysfs.read("/sys/module/probe/initstate"));
        seen.push(w.sysfs.read("/sys/module/probe/refcnt"));
        seen.push(w.loader.procModules());
      },
      exit() {},
    });
    expect(seen).toEqual(["coming\n", "1\n", "probe 0 1 - Loading 0x0000000000000000\n"]);
    expect(w.sysfs.read("/sys/module/probe/refcnt")).toBe("0\n");
  });

  test("a failing init fails the load with its errno and undoes everything", () => {
    const w = moduleWorld();
    expect(() => w.loader.modprobe(failing(new SysError("ENODEV", "broken_init")))).toThrowErrno(
      "ENODEV",
    );
    expect(w.loader.loadedNames()).toEqual(["vfio"]);
    expect(w.sysfs.exists("/sys/module/broken")).toBe(false);
    expect(w.loader.moduleRefcount("vfio")).toBe(0);
    expect(w.sysfs.list("/sys/module/vfio/holders")).toEqual([]);
    expect(w.newLog()).toEqual([]);
    // The name is free again.
    w.loader.insmod({ name: "broken" });
  });

  test("EEXIST from init is reported as EBUSY (EEXIST means 'already loaded')", () => {
    const w = moduleWorld();
    expect(() => w.loader.modprobe(failing(new SysError("EEXIST", "broken_init")))).toThrowErrno(
      "EBUSY",
    );
  });

  test("a bug in init (not a SysError) still unloads the module and surfaces as is", () => {
    const w = moduleWorld();
    expect(() => w.loader.modprobe(failing(new TypeError("oops")))).toThrow(TypeError);
    expect(w.loader.isLoaded("broken")).toBe(false);
  });

  test("insmod needs its dependencies loaded: ENOENT, nothing changes", () => {
    const w = moduleWorld();
    expect(() => w.loader.insmod(type1)).toThrowErrno("ENOENT");
    expect(w.loader.loadedNames()).toEqual([]);
    expect(w.sysfs.exists("/sys/module/vfio_iommu_type1")).toBe(false);
  });

  test("a module loading its own dependency from init is EBUSY for it (still coming)", () => {
    const w = moduleWorld();
    const late: KernelModule<TestKernel> = { name: "late", dependencies: ["first"] };
    const first: KernelModule<TestKernel> = {
      name: "first",
      init: (k) => k.loader.insmod(late),
    };
    expect(() => w.loader.insmod(first)).toThrowErrno("EBUSY");
    expect(w.loader.loadedNames()).toEqual([]);
  });
});

describe("rmmod", () => {
  test("ENOENT for a module that is not loaded", () => {
    const w = moduleWorld();
    expect(() => w.loader.rmmod("vfio")).toThrowErrno("ENOENT");
  });

  test("EWOULDBLOCK while other modules depend on it (Linux, where ARCHITECTURE says EBUSY)", () => {
    const w = moduleWorld();
    w.loader.modprobe(type1);
    expect(() => w.loader.rmmod("vfio")).toThrowErrno("EWOULDBLOCK");
    expect(w.loader.isLoaded("vfio")).toBe(true);
  });

  test("EWOULDBLOCK while referenced (an open file of its fops), fine after module_put", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio);
    const fops = { owner: vfio };
    expect(w.loader.tryModuleGet(fops.owner)).toBe(true);
    expect(w.sysfs.read("/sys/module/vfio/refcnt")).toBe("1\n");
    expect(() => w.loader.rmmod("vfio")).toThrowErrno("EWOULDBLOCK");
    w.loader.modulePut(fops.owner);
    w.loader.rmmod("vfio");
    expect(w.events.at(-1)).toBe("vfio exit");
  });

  test("EBUSY for a module with init but no exit ([permanent])", () => {
    const w = moduleWorld();
    w.loader.modprobe({ name: "sticky", init() {} });
    expect(w.loader.procModules()).toBe("sticky 0 0 [permanent], Live 0x0000000000000000\n");
    expect(() => w.loader.rmmod("sticky")).toThrowErrno("EBUSY");
  });

  test("EBUSY for a module still loading", () => {
    const w = moduleWorld();
    let err: unknown;
    w.loader.modprobe({
      name: "selfish",
      init: () => {
        try {
          w.loader.rmmod("selfish");
        } catch (e) {
          err = e;
        }
      },
      exit() {},
    });
    expect(() => {
      throw err;
    }).toThrowErrno("EBUSY");
  });

  test("calls exit, removes sysfs and the holders link, and releases dependencies", () => {
    const w = moduleWorld();
    w.loader.modprobe(type1);
    w.loader.rmmod("vfio-iommu-type1");
    expect(w.events.at(-1)).toBe("type1 exit");
    expect(w.sysfs.exists("/sys/module/vfio_iommu_type1")).toBe(false);
    expect(w.sysfs.list("/sys/module/vfio/holders")).toEqual([]);
    expect(w.loader.moduleRefcount("vfio")).toBe(0);
    w.loader.rmmod("vfio");
    expect(w.loader.loadedNames()).toEqual([]);
    expect(w.sysfs.exists("/sys/module/vfio")).toBe(false);
  });

  test("a module without init or exit can be removed; it can be loaded again", () => {
    const w = moduleWorld();
    w.loader.modprobe({ name: "plain" });
    w.loader.rmmod("plain");
    w.loader.modprobe({ name: "plain" });
    expect(w.loader.isLoaded("plain")).toBe(true);
  });
});

describe("module references", () => {
  test("try_module_get fails once the module is gone; no owner always succeeds", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio);
    w.loader.rmmod("vfio");
    expect(w.loader.tryModuleGet(vfio)).toBe(false);
    expect(w.loader.tryModuleGet(undefined)).toBe(true);
    w.loader.modulePut(undefined);
  });

  test("module_put never goes below zero", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio);
    w.loader.modulePut(vfio);
    expect(w.loader.moduleRefcount("vfio")).toBe(0);
  });
});

describe("sysfs parameters at run time", () => {
  test("a store changes the value the module sees; a bad one is refused", () => {
    const w = moduleWorld();
    let params: { enable_unsafe_noiommu_mode: boolean } | undefined;
    const observed = defineModule({
      ...vfio,
      init(_k: TestKernel, p) {
        params = p;
      },
    });
    w.loader.modprobe(observed);
    w.sysfs.write("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "1\n");
    expect(params?.enable_unsafe_noiommu_mode).toBe(true);
    expect(w.sysfs.read("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode")).toBe("Y\n");
    expect(() =>
      w.sysfs.write("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "maybe"),
    ).toThrowErrno("EINVAL");
    expect(params?.enable_unsafe_noiommu_mode).toBe(true);
  });

  test("a read-only parameter cannot be written (EACCES from kernfs)", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio);
    expect(() => w.sysfs.write("/sys/module/vfio/parameters/debug_level", "2")).toThrowErrno(
      "EACCES",
    );
  });

  test("each load starts from the declared defaults again", () => {
    const w = moduleWorld();
    w.loader.modprobe(vfio, { enable_unsafe_noiommu_mode: true });
    w.loader.rmmod("vfio");
    w.loader.modprobe(vfio);
    expect(w.events.at(-1)).toBe("vfio init noiommu=false level=1");
  });
});

describe("/proc/modules and the trace", () => {
  test("lists modules newest first with refcount, users, state and a zero address", () => {
    const w = moduleWorld();
    w.loader.register(type1);
    w.loader.modprobe({ ...platform, size: 16384 });
    expect(w.loader.procModules()).toBe(
      "vfio_platform 16384 0 - Live 0x0000000000000000\n" +
        "vfio_iommu_type1 0 1 vfio_platform, Live 0x0000000000000000\n" +
        "vfio 0 2 vfio_platform,vfio_iommu_type1, Live 0x0000000000000000\n",
    );
  });

  test("load and unload events go to the trace bus, a failed load included", () => {
    const w = moduleWorld();
    const rec = w.trace.record();
    w.loader.modprobe(vfio);
    w.loader.rmmod("vfio");
    expect(() => w.loader.modprobe(failing(new SysError("EIO", "x")))).toThrowErrno("EIO");
    rec.stop();
    const modules = rec.records.filter((r) => isTraceEvent(r, "module"));
    expect(modules.map((r) => (isTraceEvent(r, "module") ? `${r.action} ${r.name}` : ""))).toEqual([
      "load vfio",
      "unload vfio",
      "load vfio",
      "load broken",
      "unload broken",
    ]);
  });
});

describe("request_module (MODULE_ALIAS)", () => {
  const reset: KernelModule<TestKernel> = {
    name: "vfio_platform_calxedaxgmac",
    aliases: ["vfio-reset:calxeda,hb-xgmac"],
    dependencies: [vfio],
    init: (k) => void k.events.push("reset init"),
    exit: () => {},
  };

  test("loads an installed module found by its alias, dependencies first, and returns 0", () => {
    const w = moduleWorld();
    w.loader.register(reset);
    expect(w.loader.requestModule("vfio-reset:calxeda,hb-xgmac")).toBe(0);
    expect(w.events).toEqual(["vfio init noiommu=false level=1", "reset init"]);
    expect(w.loader.loadedNames()).toEqual(["vfio_platform_calxedaxgmac", "vfio"]);
  });

  test("dashes and underscores match each other, in names and in aliases", () => {
    const w = moduleWorld();
    w.loader.register(reset);
    expect(w.loader.requestModule("vfio_reset:calxeda,hb_xgmac")).toBe(0);
    expect(w.loader.isLoaded("vfio_platform_calxedaxgmac")).toBe(true);
    w.loader.rmmod("vfio_platform_calxedaxgmac");
    expect(w.loader.requestModule("vfio-platform-calxedaxgmac")).toBe(0);
    expect(w.loader.isLoaded("vfio_platform_calxedaxgmac")).toBe(true);
  });

  test("0 for a module already loaded (modprobe exits 0), which is not loaded again", () => {
    const w = moduleWorld();
    w.loader.modprobe(reset);
    w.events.length = 0;
    expect(w.loader.requestModule("vfio-reset:calxeda,hb-xgmac")).toBe(0);
    expect(w.loader.requestModule("vfio")).toBe(0);
    expect(w.events).toEqual([]);
  });

  test("-ENOENT when nothing provides the name; nothing is loaded", () => {
    const w = moduleWorld();
    w.loader.register(reset);
    expect(w.loader.requestModule("vfio-reset:arm,pl330")).toBe(-errno("ENOENT"));
    expect(w.loader.loadedNames()).toEqual([]);
  });

  test("-ENAMETOOLONG for a name of MODULE_NAME_LEN bytes, before any lookup", () => {
    const w = moduleWorld();
    const rec = w.trace.record();
    expect(w.loader.requestModule("x".repeat(MODULE_NAME_LEN))).toBe(-errno("ENAMETOOLONG"));
    expect(w.loader.requestModule("x".repeat(MODULE_NAME_LEN - 1))).toBe(-errno("ENOENT"));
    rec.stop();
    expect(rec.records.filter((r) => isTraceEvent(r, "module"))).toHaveLength(1);
  });

  test("a failing load returns its negative errno and leaves the module unloaded", () => {
    const w = moduleWorld();
    w.loader.register({ ...failing(new SysError("ENODEV", "x")), aliases: ["of:broken"] });
    expect(w.loader.requestModule("of:broken")).toBe(-errno("ENODEV"));
    expect(w.loader.isLoaded("broken")).toBe(false);
  });

  test("a module name wins over another module's alias of the same spelling", () => {
    const w = moduleWorld();
    const impostor: KernelModule<TestKernel> = { name: "impostor", aliases: ["vfio"] };
    w.loader.register(impostor, vfio);
    expect(w.loader.requestModule("vfio")).toBe(0);
    expect(w.loader.loadedNames()).toEqual(["vfio"]);
  });

  test("each request is a module trace event with action request", () => {
    const w = moduleWorld();
    w.loader.register(reset);
    const rec = w.trace.record();
    w.loader.requestModule("vfio-reset:calxeda,hb-xgmac");
    rec.stop();
    const modules = rec.records.filter((r) => isTraceEvent(r, "module"));
    expect(modules.map((r) => (isTraceEvent(r, "module") ? `${r.action} ${r.name}` : ""))).toEqual([
      "request vfio-reset:calxeda,hb-xgmac",
      "load vfio",
      "load vfio_platform_calxedaxgmac",
    ]);
  });
});
