/**
 * A module's sysfs directory (kernel/module/sysfs.c, kernel/params.c): /sys/module/<name> with
 * `holders/` (a link per module using it), `initstate`, `refcnt`, `taint`, `version` when the
 * module has one, and `parameters/<name>` for every parameter with non-zero perm.
 *
 * Caveat: `coresize`, `initsize`, `srcversion`, `uevent`, `sections/` and `notes/` describe a
 * module image the model does not have, and are not created.
 */

import { SysError } from "../errno.js";
import type { Sysfs } from "../fs/sysfs-api.js";
import { KERN_ERR } from "../printk/levels.js";
import type { LoadedModule } from "./loader.js";
import { type ParamContext, paramAttribute } from "./params.js";

export const SYS_MODULE = "/sys/module";

export function moduleDir(name: string): string {
  return `${SYS_MODULE}/${name}`;
}

/**
 * kernel/module/sysfs.c: mod_sysfs_setup() — EINVAL ("module is already loaded") if the
 * directory exists; on a failure half-way the directory is removed again.
 */
export function modSysfsSetup<K>(sysfs: Sysfs, mod: LoadedModule<K>, ctx: ParamContext): void {
  const dir = moduleDir(mod.name);
  if (sysfs.exists(dir)) {
    ctx.printk.printk(KERN_ERR, `${mod.name}: module is already loaded`);
    throw new SysError("EINVAL", "mod_sysfs_init", `${dir} exists`);
  }
  sysfs.mkdir(dir, true);
  const links: string[] = [];
  try {
    sysfs.mkdir(`${dir}/holders`, true);
    // module_param_sysfs_setup(): the directory only exists if some parameter is visible.
    const visible = mod.paramSpecs.filter((spec) => spec.perm !== 0);
    if (visible.length > 0) {
      sysfs.mkdir(`${dir}/parameters`, true);
      for (const spec of visible) {
        sysfs.createFile(`${dir}/parameters/${spec.name}`, paramAttribute(spec, mod.params, ctx));
      }
    }
    // module_add_modinfo_attrs()
    if (mod.module.version !== undefined) {
      const version = mod.module.version;
      sysfs.createFile(`${dir}/version`, { mode: 0o444, show: () => `${version}\n` });
    }
    sysfs.createFile(`${dir}/initstate`, { mode: 0o444, show: () => `${mod.state}\n` });
    sysfs.createFile(`${dir}/taint`, { mode: 0o444, show: () => "\n" });
    sysfs.createFile(`${dir}/refcnt`, { mode: 0o444, show: () => `${mod.refcnt}\n` });
    // add_usage_links(): each module this one uses lists it among its holders.
    for (const target of mod.targets) {
      const link = `${moduleDir(target.name)}/holders/${mod.name}`;
      sysfs.symlink(link, dir);
      links.push(link);
    }
  } catch (err) {
    for (const link of links) sysfs.remove(link);
    sysfs.remove(dir);
    throw err;
  }
}

/** kernel/module/sysfs.c: mod_sysfs_teardown() — the holders links, then the directory. */
export function modSysfsTeardown<K>(sysfs: Sysfs, mod: LoadedModule<K>): void {
  for (const target of mod.targets) {
    const link = `${moduleDir(target.name)}/holders/${mod.name}`;
    if (sysfs.exists(link)) sysfs.remove(link);
  }
  const dir = moduleDir(mod.name);
  if (sysfs.exists(dir)) sysfs.remove(dir);
}
