/**
 * Device classes and their class devices (drivers/base/class.c: class_register();
 * drivers/base/core.c: device_create() / device_destroy(), dev_uevent()): what makes a char
 * device visible under `/sys/class/<class>/<name>` with its `dev`, `uevent` and `subsystem`
 * files, and gives it a devtmpfs node.
 *
 * A device without a parent lives in `/sys/devices/virtual/<class>/<name>` (misc's `iommu`,
 * `vfio`); one with a parent lives in `<parent>/<class>/<name>` (a VFIO cdev under its
 * platform device). The parent's `<class>` "glue" directory (get_device_parent()) goes when its
 * last class device does (cleanup_glue_dir()). Checked against a 7.3 kernel:
 * oracle-probes/misc-class.7.3.txt.
 *
 * Caveat: the `power/` directory Linux adds with CONFIG_PM is not modelled (the oracle's kernel
 * has no CONFIG_PM either, and shows none).
 */

import { SysError } from "../errno.js";
import type { Devtmpfs } from "./devtmpfs.js";
import { MAJOR, MINOR } from "./kdev-t.js";
import type { Sysfs, SysfsAttribute } from "./sysfs-api.js";

export interface ClassDeviceOptions {
  /** dev_name(): the entry under /sys/class/<class>/. */
  readonly name: string;
  /** The char device number (kernel encoding), or 0 for a device without a node. */
  readonly devt: number;
  /** The node's path under /dev (`vfio/vfio`); `name` when absent. */
  readonly nodename?: string;
  /** The node's permission bits; reported as DEVMODE in the uevent when set. */
  readonly mode?: number;
  /** The parent's sysfs directory; the device is "virtual" without one. */
  readonly parentPath?: string | null;
  /** Class attributes (`dev_groups`) created in the device's directory. */
  readonly attrs?: Readonly<Record<string, SysfsAttribute>>;
}

/** One registered class. */
export class DeviceClass {
  private readonly devices = new Map<string, { dir: string; opts: ClassDeviceOptions }>();

  constructor(
    readonly name: string,
    private readonly sysfs: Sysfs,
    private readonly devtmpfs: Devtmpfs,
  ) {}

  /** /sys/class/<name>. */
  get classPath(): string {
    return `/sys/class/${this.name}`;
  }

  /** class_register() */
  register(): void {
    this.sysfs.mkdir(this.classPath);
  }

  /** class_unregister(): the class must have no devices left. */
  unregister(): void {
    if (this.devices.size > 0) throw new Error(`class ${this.name} still has devices`);
    this.sysfs.remove(this.classPath);
  }

  /**
   * device_create(): the device directory with `dev`, `uevent`, `subsystem` and the class's
   * attributes, the /sys/class link, and the devtmpfs node. EEXIST for a name in use.
   * Returns the device's sysfs directory.
   */
  deviceCreate(opts: ClassDeviceOptions): string {
    if (this.devices.has(opts.name)) {
      throw new SysError("EEXIST", "device_add", `${this.name}/${opts.name} exists`);
    }
    const parent = opts.parentPath ?? `/sys/devices/virtual/${this.name}`;
    const dir = opts.parentPath ? `${parent}/${this.name}/${opts.name}` : `${parent}/${opts.name}`;
    this.sysfs.mkdir(dir, true);
    try {
      if (opts.devt !== 0) {
        this.sysfs.createFile(`${dir}/dev`, {
          mode: 0o444,
          show: () => `${MAJOR(opts.devt)}:${MINOR(opts.devt)}\n`,
        });
      }
      this.sysfs.createFile(`${dir}/uevent`, {
        mode: 0o644,
        show: () => devUevent(opts),
        store: () => {},
      });
      this.sysfs.symlink(`${dir}/subsystem`, this.classPath);
      // device_add_class_symlinks(): a class device with a parent links back to it.
      if (opts.parentPath) this.sysfs.symlink(`${dir}/device`, opts.parentPath);
      for (const [attr, spec] of Object.entries(opts.attrs ?? {})) {
        this.sysfs.createFile(`${dir}/${attr}`, spec);
      }
      this.sysfs.symlink(`${this.classPath}/${opts.name}`, dir);
      if (opts.devt !== 0) {
        this.devtmpfs.devtmpfsCreateNode({
          nodename: opts.nodename ?? opts.name,
          devt: opts.devt,
          ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
        });
      }
    } catch (e) {
      if (this.sysfs.exists(`${this.classPath}/${opts.name}`)) {
        this.sysfs.remove(`${this.classPath}/${opts.name}`);
      }
      this.sysfs.remove(dir);
      this.cleanupGlueDir(opts.parentPath);
      throw e;
    }
    this.devices.set(opts.name, { dir, opts });
    return dir;
  }

  /** device_destroy() */
  deviceDestroy(name: string): void {
    const d = this.devices.get(name);
    if (!d) return;
    this.devices.delete(name);
    if (d.opts.devt !== 0) {
      this.devtmpfs.devtmpfsDeleteNode({ nodename: d.opts.nodename ?? name, devt: d.opts.devt });
    }
    this.sysfs.remove(`${this.classPath}/${name}`);
    this.sysfs.remove(d.dir);
    this.cleanupGlueDir(d.opts.parentPath);
  }

  /**
   * drivers/base/core.c: cleanup_glue_dir() — the parent's `<class>` glue directory goes once
   * no class device is left in it. (The virtual `/sys/devices/virtual/<class>` stays.)
   */
  private cleanupGlueDir(parent: string | null | undefined): void {
    if (!parent) return;
    for (const d of this.devices.values()) if (d.opts.parentPath === parent) return;
    const glue = `${parent}/${this.name}`;
    if (this.sysfs.exists(glue)) this.sysfs.remove(glue);
  }

  /** The sysfs directory of a class device, if it exists. */
  devicePath(name: string): string | undefined {
    return this.devices.get(name)?.dir;
  }
}

/** drivers/base/core.c: dev_uevent() — the variables a class device reports. */
function devUevent(opts: ClassDeviceOptions): string {
  const lines: string[] = [];
  if (opts.devt !== 0) {
    lines.push(`MAJOR=${MAJOR(opts.devt)}`, `MINOR=${MINOR(opts.devt)}`);
    lines.push(`DEVNAME=${opts.nodename ?? opts.name}`);
    if (opts.mode) lines.push(`DEVMODE=0${(opts.mode & 0o777).toString(8).padStart(3, "0")}`);
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}
