/**
 * drivers/char/misc.c: miscellaneous character devices, all on major 10 ("misc" in
 * /proc/devices). A driver registers a `struct miscdevice` with a fixed minor (VFIO's
 * /dev/vfio/vfio is 196) or MISC_DYNAMIC_MINOR (255), in which case it gets the lowest free
 * minor above 255; fixed minors above 255 are EINVAL and a minor in use is EBUSY. The node
 * appears in /dev under `nodename` (else `name`) with `mode` (else 0600).
 *
 * Opening a misc node runs misc_open(): the device registered for the node's minor (ENODEV if
 * none, or if its module is going away) becomes the file's private data, its operations
 * replace misc's, and their `open` runs.
 *
 * Caveat: the class device (/sys/class/misc/<name>) is the driver core's business; the
 * registry calls `deviceCreate`/`deviceDestroy` hooks, which by default only manage the
 * devtmpfs node.
 */

import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import type { CharDevices } from "./chrdev.js";
import type { Devtmpfs } from "./devtmpfs.js";
import type { File, FileOperations, Inode } from "./file.js";
import { fopsGet, type ModuleRefs, replaceFops } from "./fops.js";
import { MINOR, MINORMASK, MKDEV } from "./kdev-t.js";
import { noopLlseek } from "./read-write.js";

/** include/uapi/linux/major.h MISC_MAJOR. */
export const MISC_MAJOR = 10;
/** include/linux/miscdevice.h MISC_DYNAMIC_MINOR. */
export const MISC_DYNAMIC_MINOR = 255;

/** `struct miscdevice`. `minor` is updated by registration when it was MISC_DYNAMIC_MINOR. */
export interface MiscDevice {
  minor: number;
  readonly name: string;
  readonly fops: FileOperations;
  /** Node name under /dev ("vfio/vfio"); `name` when absent (misc_devnode()). */
  readonly nodename?: string;
  /** Node permission bits; 0600 when absent. */
  readonly mode?: number;
}

/** device_create()/device_destroy() for the misc class. */
export interface MiscClassHooks {
  deviceCreate(devt: number, misc: MiscDevice): void;
  deviceDestroy(devt: number, misc: MiscDevice): void;
}

export class MiscDevices {
  /** misc_list: newest first (list_add()), so later devices can override earlier ones. */
  private readonly list: MiscDevice[] = [];
  /** misc_minors_ida: minors in use. */
  private readonly minors = new Set<number>();
  private readonly hooks: MiscClassHooks;

  constructor(
    chrdev: CharDevices,
    private readonly refs: ModuleRefs,
    devtmpfs: Devtmpfs,
    hooks?: MiscClassHooks,
  ) {
    this.hooks = hooks ?? {
      deviceCreate: (devt, misc) =>
        devtmpfs.devtmpfsCreateNode({
          nodename: misc.nodename ?? misc.name,
          devt,
          ...(misc.mode !== undefined ? { mode: misc.mode } : {}),
        }),
      deviceDestroy: (devt, misc) =>
        devtmpfs.devtmpfsDeleteNode({ nodename: misc.nodename ?? misc.name, devt }),
    };
    // misc_init(): the whole minor range of major 10.
    const miscFops: FileOperations = Object.freeze({
      open: (inode: Inode, file: File, current: Task) => this.miscOpen(inode, file, current),
      llseek: noopLlseek,
    });
    chrdev.registerChrdev(MISC_MAJOR, 0, MINORMASK + 1, "misc", miscFops);
  }

  private find(minor: number): MiscDevice | undefined {
    return this.list.find((c) => c.minor === minor);
  }

  /**
   * drivers/char/misc.c: misc_register() — EINVAL for a fixed minor above 255, EBUSY for a
   * minor in use or when no dynamic minor is left; then the device node.
   */
  miscRegister(misc: MiscDevice): void {
    const fn = "misc_register";
    const isDynamic = misc.minor === MISC_DYNAMIC_MINOR;
    if (misc.minor > MISC_DYNAMIC_MINOR || misc.minor < 0 || !Number.isInteger(misc.minor)) {
      throw new SysError(
        "EINVAL",
        fn,
        `Invalid fixed minor ${misc.minor} for miscdevice '${misc.name}'`,
      );
    }
    let minor: number;
    if (isDynamic) {
      // misc_minor_alloc(): ida_alloc_range(MISC_DYNAMIC_MINOR + 1, MINORMASK).
      minor = MISC_DYNAMIC_MINOR + 1;
      while (minor <= MINORMASK && this.minors.has(minor)) minor++;
      if (minor > MINORMASK) throw new SysError("EBUSY", fn, "no dynamic misc minor left");
    } else {
      minor = misc.minor;
      if (this.find(minor) || this.minors.has(minor)) {
        throw new SysError("EBUSY", fn, `minor ${minor} is in use`);
      }
    }
    const devt = MKDEV(MISC_MAJOR, minor);
    misc.minor = minor;
    try {
      this.hooks.deviceCreate(devt, misc);
    } catch (e) {
      if (isDynamic) misc.minor = MISC_DYNAMIC_MINOR;
      throw e;
    }
    this.minors.add(minor);
    this.list.unshift(misc);
  }

  /** drivers/char/misc.c: misc_deregister() — a dynamic minor reverts to MISC_DYNAMIC_MINOR. */
  miscDeregister(misc: MiscDevice): void {
    const at = this.list.indexOf(misc);
    if (at < 0) return;
    this.list.splice(at, 1);
    this.hooks.deviceDestroy(MKDEV(MISC_MAJOR, misc.minor), misc);
    this.minors.delete(misc.minor);
    if (misc.minor > MISC_DYNAMIC_MINOR) misc.minor = MISC_DYNAMIC_MINOR;
  }

  /**
   * drivers/char/misc.c: misc_open() — the device for this minor (ENODEV if none or if its
   * module is going away) becomes private_data, and its operations take over.
   */
  private miscOpen(inode: Inode, file: File, current: Task): void {
    const minor = MINOR(inode.rdev);
    const c = this.find(minor);
    if (!c || !fopsGet(this.refs, c.fops)) {
      throw new SysError("ENODEV", "misc_open", `no misc device with minor ${minor}`);
    }
    file.privateData = c;
    replaceFops(this.refs, file, c.fops);
    c.fops.open?.(inode, file, current);
  }

  /** /proc/misc (misc_seq_show()): "%3i %s", newest first. */
  procMiscShow(): string {
    return this.list.map((c) => `${String(c.minor).padStart(3)} ${c.name}\n`).join("");
  }
}
