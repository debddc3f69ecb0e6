/**
 * Module loading and unloading (kernel/module/main.c) and the modprobe/rmmod view of it.
 *
 * `insmod()` is finit_module()'s load_module() + do_init_module(), in the kernel's order:
 * 1. blacklisted (`module_blacklist=` on the command line): EPERM, "Module x is blacklisted";
 * 2. add_unformed_module(): EEXIST if a module of that name is live, EBUSY while one of that
 *    name is still loading or unloading;
 * 3. the module holds a reference on itself during init (`refcnt` reads 1);
 * 4. its dependencies must be live (in Linux, resolving their symbols takes a reference on each
 *    and makes it a holder): ENOENT if one is missing or going, EBUSY if one is still loading;
 * 5. parse_args(): the module's arguments in order; an unknown parameter is a warning
 *    ("x: unknown parameter 'p' ignored"), a bad value fails the load with its errno after the
 *    kernel's message ("x: `v' invalid for parameter `p'"); words after `--` are ignored with
 *    a warning;
 * 6. mod_sysfs_setup(): /sys/module/<name> (EINVAL if it exists);
 * 7. init(): a SysError fails the load with its errno (EEXIST, reserved for "already loaded",
 *    becomes EBUSY), nothing else is logged, and everything above is undone.
 * Each failure leaves the loader as it was.
 *
 * `modprobe()` loads the dependencies first (depth first, in declaration order, skipping those
 * already loaded, as modprobe(8) does from modules.dep) and then the module itself with the
 * `module.param=` words of the kernel command line followed by the caller's arguments, so the
 * caller's win. Unlike modprobe(8), which exits 0 for a module already loaded, modprobe() of a
 * loaded module is EEXIST: the facade models the syscall. As with modprobe(8), dependencies
 * loaded before a failure stay loaded.
 *
 * `rmmod()` is delete_module(): ENOENT if not loaded; EWOULDBLOCK (= EAGAIN) while other modules
 * depend on it; EBUSY while it is loading or unloading, or if it has init but no exit (it is
 * "[permanent]"); EWOULDBLOCK while its reference count is not zero (an open file whose fops it
 * owns, a tryModuleGet()). Note: ARCHITECTURE.md says EBUSY "while in use"; Linux 7.3 returns
 * EWOULDBLOCK for both "in use" cases and the model follows Linux.
 *
 * `requestModule()` is kernel/module/kmod.c: request_module() — the kernel asking modprobe(8)
 * for a module by name or `MODULE_ALIAS`, synchronously (see the method).
 *
 * Caveats: capabilities (CAP_SYS_MODULE → EPERM), signatures, `modules_disabled`, forced
 * loads/unloads (O_TRUNC) and per-module taints are not modelled; a missing dependency fails
 * without the "Unknown symbol" message, as the model has no symbols.
 */

import { errno, SysError } from "../errno.js";
import type { Sysfs } from "../fs/sysfs-api.js";
import { KERN_ERR, KERN_WARNING } from "../printk/levels.js";
import type { Printk } from "../printk/printk.js";
import type { Taint } from "../taint.js";
import type { KernelTrace } from "../trace/trace-bus.js";
import {
  type KernelCmdline,
  normalizeModuleName,
  parseKernelCmdline,
  splitArgs,
} from "./cmdline.js";
import type { KernelModule, ParamSpec } from "./module.js";
import { modSysfsSetup, modSysfsTeardown } from "./module-sysfs.js";
import {
  type KernelArg,
  newParamStore,
  type ParamContext,
  type ParamStore,
  parseArgs,
} from "./params.js";

/** `enum module_state`, in the lower case `initstate` shows. */
export type ModuleState = "live" | "coming" | "going" | "unformed";

/** A module in the kernel's `modules` list. */
export class LoadedModule<K = unknown> {
  state: ModuleState = "unformed";
  /** module_refcount(): references beyond the loader's own base one. */
  refcnt = 0;
  /** `source_list`: modules using this one, newest first. */
  readonly sources: LoadedModule<K>[] = [];
  /** `target_list`: modules this one uses, newest first. */
  readonly targets: LoadedModule<K>[] = [];
  readonly paramSpecs: readonly ParamSpec[];
  /** The live parameter values `init()` received. */
  readonly params: ParamStore;

  constructor(
    readonly module: KernelModule<K>,
    readonly name: string,
  ) {
    this.paramSpecs = module.params ?? [];
    this.params = newParamStore(this.paramSpecs);
  }

  /** A module with init but no exit can never be unloaded. */
  get permanent(): boolean {
    return this.module.init !== undefined && this.module.exit === undefined;
  }
}

/** Arguments to a load: a `param=value …` string, or values by parameter name. */
export type ModuleArgs =
  | string
  | { readonly [param: string]: string | number | bigint | boolean | null | undefined };

/** What may own file operations: a module object, or anything with its name. */
/** What `fops.owner` may hold: a loaded module, or nothing for built-in code. */
type ModuleOwner = { readonly name: string } | null | undefined;

export interface ModuleLoaderOptions<K> {
  /** Passed to every module's init() and exit(). */
  readonly kernel: K;
  readonly sysfs: Sysfs;
  readonly printk: Printk;
  /** For `module_param_unsafe()` parameters. */
  readonly taint?: Taint | undefined;
  readonly trace?: KernelTrace | undefined;
  /** The boot command line: `module.param=` words and `module_blacklist=`. */
  readonly cmdline?: KernelCmdline | string | undefined;
}

/** include/linux/module.h: MODULE_NAME_LEN (64 - sizeof(unsigned long)) on a 64-bit kernel. */
export const MODULE_NAME_LEN = 56;

/** A value of the facade's argument object as a command-line word. */
function argOf(param: string, value: string | number | bigint | boolean | null): KernelArg {
  if (value === null) return { param, val: null };
  if (typeof value === "boolean") return { param, val: value ? "1" : "0" };
  return { param, val: String(value) };
}

export class ModuleLoader<K = unknown> {
  /** The `modules` list: newest first, as /proc/modules lists it. */
  private readonly modules: LoadedModule<K>[] = [];
  /** Modules modprobe can find by name (modules.dep). */
  private readonly registry = new Map<string, KernelModule<K>>();
  private readonly kernel: K;
  private readonly sysfs: Sysfs;
  private readonly printk: Printk;
  private readonly trace: KernelTrace | undefined;
  private readonly ctx: ParamContext;
  private readonly cmdline: KernelCmdline;
  private readonly blacklist: readonly string[];

  constructor(opts: ModuleLoaderOptions<K>) {
    this.kernel = opts.kernel;
    this.sysfs = opts.sysfs;
    this.printk = opts.printk;
    this.trace = opts.trace;
    this.ctx = { printk: opts.printk, taint: opts.taint };
    this.cmdline =
      typeof opts.cmdline === "string" || opts.cmdline === undefined
        ? parseKernelCmdline(opts.cmdline ?? "")
        : opts.cmdline;
    // kernel/module/main.c: the `module_blacklist` core parameter, a comma-separated list.
    const list = this.cmdline.params.filter((a) => a.param === "module_blacklist").at(-1)?.val;
    this.blacklist = list ? list.split(",").filter((n) => n !== "") : [];
  }

  /** Makes modules known by name to modprobe() (what depmod records in modules.dep). */
  register(...modules: KernelModule<K>[]): void {
    for (const m of modules) this.registry.set(normalizeModuleName(m.name), m);
  }

  /** A module in the list (loading, live or going), by name. */
  find(name: string): LoadedModule<K> | undefined {
    const n = normalizeModuleName(name);
    return this.modules.find((m) => m.name === n && m.state !== "unformed");
  }

  isLoaded(name: string): boolean {
    return this.find(name) !== undefined;
  }

  /** Names of the modules in the kernel, newest first (what lsmod lists). */
  loadedNames(): string[] {
    return this.modules.filter((m) => m.state !== "unformed").map((m) => m.name);
  }

  /** module_refcount() of a loaded module. */
  moduleRefcount(name: string): number | undefined {
    return this.find(name)?.refcnt;
  }

  /**
   * modprobe: the module's dependencies first, then the module with its command-line
   * parameters and `args` (see the file comment).
   */
  modprobe(module: KernelModule<K> | string, args?: ModuleArgs): void {
    const target = this.resolve(module);
    // The named module's own finit_module() would refuse: do not load anything for it.
    this.addUnformedModule(normalizeModuleName(target.name));
    const order: KernelModule<K>[] = [];
    const visited = new Set<string>();
    const visit = (m: KernelModule<K>) => {
      const name = normalizeModuleName(m.name);
      // libkmod ignores a module it already visited, which also breaks dependency loops.
      if (visited.has(name)) return;
      visited.add(name);
      for (const dep of m.dependencies ?? []) visit(this.resolve(dep));
      order.push(m);
    };
    visit(target);
    for (const m of order) {
      if (m === target) break;
      if (this.isLoaded(m.name)) continue;
      this.loadModule(m, this.cmdlineArgs(m.name), null);
    }
    const { words, afterDashes } = this.argWords(args);
    this.loadModule(target, [...this.cmdlineArgs(target.name), ...words], afterDashes);
    // libkmod: post soft dependencies follow the module itself, each with its own dependencies.
    for (const post of target.softdeps?.post?.(this.kernel) ?? []) {
      const m = this.resolve(post);
      if (!this.isLoaded(m.name)) this.modprobe(m);
    }
  }

  /**
   * kernel/module/kmod.c: request_module() (`__request_module(true, …)`) — what a driver calls
   * to have modprobe(8) load the module that provides `name`, and wait for it. `name` is a
   * module name or a `MODULE_ALIAS` (`vfio-reset:calxeda,hb-xgmac`); dashes and underscores
   * are the same, as libkmod normalises both sides. Modprobe looks the name up among module
   * names before aliases (libkmod: modules.dep before modules.alias), among loaded and
   * installed (`register()`ed) modules, and loads the module with its dependencies.
   *
   * Returns 0 when the module is now loaded (or already was: modprobe(8) exits 0 then), else a
   * negative errno: -ENAMETOOLONG for a name of MODULE_NAME_LEN bytes or more, -ENOENT when no
   * module provides it, the load's errno when modprobe's finit_module() fails. Linux returns
   * modprobe's exit status (1) in the last two cases; callers only test for zero and must look
   * the service up again either way ("a successful load does not mean the module did not then
   * unload", kmod.c). Emits a `module` trace event with action `request`.
   */
  requestModule(name: string): number {
    if (new TextEncoder().encode(name).length >= MODULE_NAME_LEN) return -errno("ENAMETOOLONG");
    this.trace?.emit({ type: "module", action: "request", name });
    const target = this.lookupModule(name);
    if (!target) return -errno("ENOENT");
    if (this.isLoaded(target.name)) return 0;
    try {
      this.modprobe(target);
    } catch (e) {
      if (SysError.isInstance(e)) return -e.errno;
      throw e;
    }
    return 0;
  }

  /** libkmod's lookup: a module name first (loaded, then installed), then an alias. */
  private lookupModule(name: string): KernelModule<K> | undefined {
    const n = normalizeModuleName(name);
    const byName = this.find(n)?.module ?? this.registry.get(n);
    if (byName) return byName;
    const provides = (m: KernelModule<K>) =>
      (m.aliases ?? []).some((a) => normalizeModuleName(a) === n);
    const loaded = this.modules.find((m) => m.state !== "unformed" && provides(m.module));
    if (loaded) return loaded.module;
    for (const m of this.registry.values()) if (provides(m)) return m;
    return undefined;
  }

  /**
   * insmod: kernel/module/main.c: finit_module() → load_module() → do_init_module() with
   * `args` only (insmod(8) does not read the command line). Dependencies must be loaded.
   */
  insmod(module: KernelModule<K>, args?: ModuleArgs): void {
    const { words, afterDashes } = this.argWords(args);
    this.loadModule(module, words, afterDashes);
  }

  /** kernel/module/main.c: load_module() + do_init_module(). */
  private loadModule(
    module: KernelModule<K>,
    args: readonly KernelArg[],
    afterDashes: string | null,
  ): void {
    const name = normalizeModuleName(module.name);
    if (name === "" || name.includes("/")) {
      throw new SysError("ENOEXEC", "load_module", `bad module name "${module.name}"`);
    }
    if (this.blacklist.includes(name)) {
      this.printk.printk(KERN_ERR, `Module ${name} is blacklisted`);
      throw new SysError("EPERM", "load_module", `${name} is in module_blacklist`);
    }
    this.addUnformedModule(name);
    const mod = new LoadedModule<K>(module, name);
    this.modules.unshift(mod);
    // module_unload_init(): hold a reference during initialization.
    mod.refcnt = 1;
    try {
      this.resolveDependencies(mod);
      // complete_formation(): visible (as "Loading"), but not yet usable by others.
      mod.state = "coming";
      this.parseModuleArgs(mod, args);
      if (afterDashes !== null) {
        this.printk.printk(
          KERN_WARNING,
          `${name}: parameters '${afterDashes}' after \`--' ignored`,
        );
      }
      modSysfsSetup(this.sysfs, mod, this.ctx);
    } catch (err) {
      mod.state = "going";
      this.moduleUnloadFree(mod);
      this.unlink(mod);
      throw err;
    }
    this.trace?.emit({ type: "module", action: "load", name });
    this.doInitModule(mod);
  }

  /** kernel/module/main.c: delete_module() (with O_NONBLOCK, as rmmod(8) passes it). */
  rmmod(name: string): void {
    const fn = "delete_module";
    const mod = this.find(name);
    if (!mod) throw new SysError("ENOENT", fn, `${normalizeModuleName(name)} is not loaded`);
    if (mod.sources.length > 0) {
      const users = mod.sources.map((s) => s.name).join(",");
      throw new SysError("EWOULDBLOCK", fn, `${mod.name} is used by ${users}`);
    }
    if (mod.state !== "live") throw new SysError("EBUSY", fn, `${mod.name} is ${mod.state}`);
    if (mod.permanent) throw new SysError("EBUSY", fn, `${mod.name} has no exit function`);
    // try_stop_module(): only with no reference left.
    if (mod.refcnt !== 0) {
      throw new SysError("EWOULDBLOCK", "try_stop_module", `${mod.name} refcnt ${mod.refcnt}`);
    }
    mod.state = "going";
    try {
      mod.module.exit?.(this.kernel);
    } finally {
      this.freeModule(mod);
    }
  }

  /**
   * kernel/module/main.c: try_module_get() — a reference that keeps `owner` loaded (the VFS
   * takes one for every open file whose fops it owns). False once the module is going or gone;
   * no owner (built-in code) always succeeds.
   */
  tryModuleGet(owner: ModuleOwner): boolean {
    if (!owner) return true;
    const mod = this.find(owner.name);
    if (!mod || mod.state === "going") return false;
    mod.refcnt++;
    return true;
  }

  /** kernel/module/main.c: module_put() — never below zero (atomic_dec_if_positive). */
  modulePut(owner: ModuleOwner): void {
    if (!owner) return;
    const mod = this.find(owner.name);
    if (mod && mod.refcnt > 0) mod.refcnt--;
  }

  /**
   * kernel/module/procfs.c: m_show() — /proc/modules: name, size, refcount, users (or `-`,
   * `[permanent]` for a module that cannot be unloaded), state, and the load address, which the
   * model does not have (zeros, what a reader without kallsyms rights sees).
   */
  procModules(): string {
    let out = "";
    for (const mod of this.modules) {
      if (mod.state === "unformed") continue;
      let users = mod.sources.map((s) => `${s.name},`).join("");
      if (mod.permanent) users += "[permanent],";
      const state =
        mod.state === "going" ? "Unloading" : mod.state === "coming" ? "Loading" : "Live";
      // The "(+)"/"(-)" state marks only follow a taint list, and the model has no module taints.
      const size = mod.module.size ?? 0;
      out += `${mod.name} ${size} ${mod.refcnt} ${users || "-"} ${state} 0x0000000000000000\n`;
    }
    return out;
  }

  /** The module a name or dependency stands for: loaded, else registered; ENOENT otherwise. */
  private resolve(module: KernelModule<K> | string): KernelModule<K> {
    if (typeof module !== "string") return module;
    const name = normalizeModuleName(module);
    const found = this.find(name)?.module ?? this.registry.get(name);
    if (!found) throw new SysError("ENOENT", "modprobe", `module ${name} not found`);
    return found;
  }

  /** The `module.param=` words of the boot command line for `name`. */
  private cmdlineArgs(name: string): readonly KernelArg[] {
    return this.cmdline.moduleParams.get(normalizeModuleName(name)) ?? [];
  }

  /** The caller's arguments as words, and what follows a `--` in an argument string. */
  private argWords(args: ModuleArgs | undefined): {
    words: KernelArg[];
    afterDashes: string | null;
  } {
    if (args === undefined) return { words: [], afterDashes: null };
    if (typeof args === "string") {
      const { args: words, afterDashes } = splitArgs(args);
      return { words, afterDashes };
    }
    const words: KernelArg[] = [];
    for (const [param, value] of Object.entries(args)) {
      if (value !== undefined) words.push(argOf(param, value));
    }
    return { words, afterDashes: null };
  }

  /** kernel/module/main.c: add_unformed_module() — refuses a name already in the list. */
  private addUnformedModule(name: string): void {
    const old = this.modules.find((m) => m.name === name);
    if (!old) return;
    if (old.state === "live")
      throw new SysError("EEXIST", "add_unformed_module", `${name} is loaded`);
    throw new SysError("EBUSY", "add_unformed_module", `${name} is ${old.state}`);
  }

  /**
   * kernel/module/main.c: simplify_symbols() → resolve_symbol() → ref_module(): each dependency
   * gains a reference and lists this module among its users.
   */
  private resolveDependencies(mod: LoadedModule<K>): void {
    for (const dep of mod.module.dependencies ?? []) {
      const depName = normalizeModuleName(typeof dep === "string" ? dep : dep.name);
      const target = this.find(depName);
      if (!target) {
        throw new SysError("ENOENT", "resolve_symbol", `${mod.name} needs ${depName}, not loaded`);
      }
      if (mod.targets.includes(target)) continue;
      // strong_try_module_get()
      if (target.state === "coming") {
        throw new SysError("EBUSY", "strong_try_module_get", `${depName} is still loading`);
      }
      if (!this.tryModuleGet(target)) {
        throw new SysError("ENOENT", "strong_try_module_get", `${depName} is going`);
      }
      // add_module_usage()
      target.sources.unshift(mod);
      mod.targets.unshift(target);
    }
  }

  /** load_module()'s parse_args() with unknown_module_param_cb(). */
  private parseModuleArgs(mod: LoadedModule<K>, args: readonly KernelArg[]): void {
    parseArgs(mod.name, args, mod.paramSpecs, mod.params, this.ctx, (arg) => {
      // async_probe belongs to the loader, dyndbg to dynamic debug: neither is unknown.
      if (arg.param === "async_probe" || arg.param === "dyndbg") return;
      this.printk.printk(KERN_WARNING, `${mod.name}: unknown parameter '${arg.param}' ignored`);
    });
  }

  /** kernel/module/main.c: do_init_module() */
  private doInitModule(mod: LoadedModule<K>): void {
    try {
      mod.module.init?.(this.kernel, mod.params);
    } catch (err) {
      mod.state = "going";
      mod.refcnt--;
      this.freeModule(mod);
      if (SysError.isInstance(err) && err.code === "EEXIST") {
        throw new SysError("EBUSY", "do_init_module", `${mod.name} init returned -EEXIST`);
      }
      throw err;
    }
    mod.state = "live";
    // Drop the initial reference.
    mod.refcnt--;
  }

  /** kernel/module/main.c: free_module() */
  private freeModule(mod: LoadedModule<K>): void {
    modSysfsTeardown(this.sysfs, mod);
    this.moduleUnloadFree(mod);
    this.unlink(mod);
    this.trace?.emit({ type: "module", action: "unload", name: mod.name });
  }

  /** kernel/module/main.c: module_unload_free() — drops the references on dependencies. */
  private moduleUnloadFree(mod: LoadedModule<K>): void {
    for (const target of mod.targets) {
      this.modulePut(target);
      const i = target.sources.indexOf(mod);
      if (i >= 0) target.sources.splice(i, 1);
    }
    mod.targets.length = 0;
  }

  private unlink(mod: LoadedModule<K>): void {
    const i = this.modules.indexOf(mod);
    if (i >= 0) this.modules.splice(i, 1);
  }
}
