/**
 * Module pinning by file operations (include/linux/fs.h: fops_get(), fops_put(), replace_fops()).
 *
 * An open file keeps the module that implements its operations loaded: `fops_get()` takes a
 * reference on `fops->owner` when a file is opened (and fails if the module is being removed),
 * `fops_put()` drops it when the file is finally released. Drivers such as misc and the
 * char-device layer swap a file's operations during open (`replace_fops()`), which moves the
 * reference to the new owner. Which owner a file pins is recorded here, per file, so a release
 * always drops exactly what was taken, whoever built the file.
 *
 * The module loader supplies `ModuleRefs` (try_module_get()/module_put()); the VFS never decides
 * on its own whether a module may be pinned.
 */

import type { File, FileOperations } from "./file.js";

export type ModuleOwner = NonNullable<FileOperations["owner"]>;

/** kernel/module/main.c: try_module_get() / module_put(), as the module loader provides them. */
export interface ModuleRefs {
  /** False while the module is going away (delete_module in progress): the open must fail. */
  tryModuleGet(owner: ModuleOwner): boolean;
  modulePut(owner: ModuleOwner): void;
}

/** Built-in code only: every module can always be pinned. */
export const BUILTIN_MODULE_REFS: ModuleRefs = {
  tryModuleGet: () => true,
  modulePut: () => {},
};

/** The owner each file pins, and through which `ModuleRefs` it was pinned. */
const pinnedBy = new WeakMap<File, { owner: ModuleOwner; refs: ModuleRefs }>();

/** include/linux/fs.h: fops_get() — false if `fops.owner` is going away. */
export function fopsGet(refs: ModuleRefs, fops: FileOperations): boolean {
  return fops.owner === undefined || refs.tryModuleGet(fops.owner);
}

/** Drops the module reference `fops_get()` took for an operations table never installed. */
export function fopsPut(refs: ModuleRefs, fops: FileOperations): void {
  if (fops.owner !== undefined) refs.modulePut(fops.owner);
}

/**
 * include/linux/fs.h: replace_fops() — installs `fops` (already pinned by `fopsGet`) on the
 * file, dropping the reference held for the operations it replaces.
 */
export function replaceFops(refs: ModuleRefs, file: File, fops: FileOperations): void {
  filePutFops(file);
  file.fOp = fops;
  if (fops.owner !== undefined) pinnedBy.set(file, { owner: fops.owner, refs });
}

/**
 * fs/file_table.c: __fput()'s fops_put(): drops whatever module reference the file holds,
 * through the `ModuleRefs` that took it.
 */
export function filePutFops(file: File): void {
  const pin = pinnedBy.get(file);
  if (pin === undefined) return;
  pinnedBy.delete(file);
  pin.refs.modulePut(pin.owner);
}

/** The module a file currently pins, if any (for tests and rmmod diagnostics). */
export function filePinnedOwner(file: File): ModuleOwner | undefined {
  return pinnedBy.get(file)?.owner;
}
