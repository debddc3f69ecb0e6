/**
 * A kernel module (include/linux/module.h, include/linux/moduleparam.h): a named object with
 * typed parameters, dependencies, and init/exit functions, loaded by `ModuleLoader` with
 * finit_module()/delete_module() semantics (ARCHITECTURE.md §2 "Kernel modules").
 *
 * Parameters are declared as `module_param()` declares them: a name, a type from
 * kernel/params.c (`bool`, `int`, `charp`, …), sysfs permission bits (0 = no file under
 * /sys/module/<m>/parameters) and a description (`MODULE_PARM_DESC`). `init()` receives the
 * live values: a store through sysfs changes them, as it changes a module's variable in Linux.
 *
 * ```ts
 * const vfio = defineModule({
 *   name: "vfio",
 *   params: [
 *     moduleParam("enable_unsafe_noiommu_mode", "bool", {
 *       perm: 0o644,
 *       description: "Enable UNSAFE, no-IOMMU mode. … (default: false)",
 *     }),
 *   ],
 *   init(kernel: Kernel, params) { if (params.enable_unsafe_noiommu_mode) … },
 *   exit() {},
 * });
 * ```
 */

/** What each parameter type holds (`module_param(name, type, perm)`'s C type). */
export interface ParamTypeMap {
  bool: boolean;
  /** Stored inverted: setting "1" stores false. */
  invbool: boolean;
  /** A bool that can be set but never cleared again (EROFS). */
  bool_enable_only: boolean;
  byte: number;
  short: number;
  ushort: number;
  int: number;
  uint: number;
  /** A uint shown as `%#08x`. */
  hexint: number;
  long: bigint;
  ulong: bigint;
  ullong: bigint;
  /** A kmalloc'ed string pointer; NULL (shown "(null)") until set. */
  charp: string | null;
  /** `module_param_string()`: a char array of `maxlen` bytes (NUL included). */
  string: string;
}

export type ParamType = keyof ParamTypeMap;

export interface ParamSpec<T extends ParamType = ParamType, N extends string = string> {
  readonly name: N;
  readonly type: T;
  /** The variable's initial value; false, 0, 0n, NULL or "" when omitted. */
  readonly default?: ParamTypeMap[T] | undefined;
  /** sysfs mode of /sys/module/<m>/parameters/<name>: 0o444, 0o644, 0o600 …; 0 = not shown. */
  readonly perm: number;
  /** `MODULE_PARM_DESC()`. */
  readonly description?: string | undefined;
  /** `module_param_string()`'s buffer size, NUL included (required for type "string"). */
  readonly maxlen?: number | undefined;
  /** `module_param_unsafe()`: setting it taints the kernel (TAINT_USER). */
  readonly unsafe?: boolean | undefined;
}

/** The parameter values a module sees, by name. */
export type ParamValues<P extends readonly ParamSpec[]> = {
  -readonly [S in P[number] as S["name"]]: ParamTypeMap[S["type"]];
};

/**
 * A loadable module. `K` is what `init`/`exit` get as the kernel (the Kernel object).
 * Dependencies are modules or, when a registry knows them, module names (modules.dep).
 */
export interface KernelModule<K = unknown, P extends readonly ParamSpec[] = readonly ParamSpec[]> {
  /** The module name, as `lsmod` shows it (underscores, not dashes). */
  readonly name: string;
  readonly params?: P | undefined;
  readonly dependencies?: readonly (KernelModule<K> | string)[] | undefined;
  /**
   * `MODULE_SOFTDEP("post: …")`: modules modprobe loads after this one, not needed by it
   * (vfio → vfio_iommu_type1). A function, read when modprobe runs, so that two modules may name
   * each other without an import cycle, and so that a soft dependency this kernel's
   * configuration does not build can be left out (modprobe skips a missing one).
   */
  readonly softdeps?:
    | { readonly post?: (kernel: K) => readonly (KernelModule<K> | string)[] }
    | undefined;
  /** `module_init()`: throwing a SysError fails the load with its errno. */
  init?(kernel: K, params: ParamValues<P>): void;
  /** `module_exit()`. A module with `init` but no `exit` can never be unloaded. */
  exit?(kernel: K): void;
  /** `MODULE_VERSION()`: shown as /sys/module/<m>/version when set. */
  readonly version?: string | undefined;
  /** The size `lsmod` shows (the model has no module image; 0 when omitted). */
  readonly size?: number | undefined;
  /**
   * `MODULE_ALIAS()`: other names modprobe finds this module by (what depmod writes to
   * modules.alias), e.g. `vfio-reset:calxeda,hb-xgmac`. Matched literally (no globs).
   */
  readonly aliases?: readonly string[] | undefined;
}

/** `module_param()`: a parameter declaration that keeps its literal name and type. */
export function moduleParam<const N extends string, const T extends ParamType>(
  name: N,
  type: T,
  opts: Omit<ParamSpec<T, N>, "name" | "type">,
): ParamSpec<T, N> {
  return { name, type, ...opts };
}

/** Identity helper that infers the parameter types of `init()` from `params`. */
export function defineModule<K, const P extends readonly ParamSpec[]>(
  module: KernelModule<K, P>,
): KernelModule<K, P> {
  return module;
}
