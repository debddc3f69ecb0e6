/** The VFS of the model: the public surface of `src/fs/` (piece "fs"). *
 * @packageDocumentation
 */

export * from "./anon-inode.js";
export * from "./chrdev.js";
export * from "./device-class.js";
export * from "./devtmpfs.js";
export * from "./fops.js";
export * from "./inode.js";
export * from "./kdev-t.js";
export * from "./kernfs.js";
export * from "./mem.js";
export * from "./misc.js";
export * from "./namei.js";
export * from "./proc-pid.js";
export * from "./proc-sysctl.js";
export * from "./procfs.js";
export * from "./read-write.js";
export * from "./seq-file.js";
export * from "./stat.js";
export * from "./sysfs.js";
export * from "./tmpfs.js";
export * from "./vfs.js";
