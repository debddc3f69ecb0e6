/**
 * fs/char_dev.c: character device numbers and `struct cdev`.
 *
 * Two registries, as in Linux:
 * - device-number regions (`chrdevs[]`, what /proc/devices lists): register_chrdev_region()
 *   reserves major:minor ranges by name and refuses overlaps with EBUSY; major 0 asks for a
 *   dynamic major, taken from 254 down to 234 (a hash bucket that is entirely free), then from
 *   511 down to 384 (CHRDEV_MAJOR_DYN_END / CHRDEV_MAJOR_DYN_EXT_START / _EXT_END);
 * - the cdev map (`cdev_map`, kobj_map()): which file operations serve a device number. Opening
 *   a char special file runs chrdev_open(): the cdev covering its rdev (ENXIO if none, or if the
 *   module behind it is going away), then the driver's operations replace the inode's and their
 *   `open` runs.
 *
 * An open file pins the cdev's owner twice, as in Linux: cdev_get() (the cdev owner) and
 * fops_get() (the operations' owner); __fput() drops both (cdevPutFile(), then fops_put()).
 * cdev_del() forgets the inodes that found the cdev (cdev_purge()), so a file still open then
 * skips cdev_put() at its release and its cdev owner reference stays taken, as Linux's does.
 * misc devices pin their driver once: the misc cdev is built in, and misc_open() replaces the
 * operations (misc.ts).
 *
 * Overlapping cdevs are allowed (kobj_map() does not check): the one with the smallest range
 * wins, the newest among equals.
 */

import { SysError } from "../errno.js";
import type { Task } from "../task.js";
import { type File, type FileOperations, FMODE_PATH, type Inode } from "./file.js";
import { fopsGet, type ModuleRefs, replaceFops } from "./fops.js";
import { isChr } from "./inode.js";
import { MAJOR, MINOR, MINORMASK, MKDEV } from "./kdev-t.js";
import { noopLlseek } from "./read-write.js";

/** include/linux/fs.h and fs/char_dev.c limits. */
export const CHRDEV_MAJOR_HASH_SIZE = 255;
export const CHRDEV_MAJOR_MAX = 512;
/** Bottom of the first range of dynamic majors (254 down to here). */
export const CHRDEV_MAJOR_DYN_END = 234;
/** Top and bottom of the second range of dynamic majors. */
export const CHRDEV_MAJOR_DYN_EXT_START = 511;
export const CHRDEV_MAJOR_DYN_EXT_END = 384;

/** `struct char_device_struct`: one registered region. */
interface CharDeviceStruct {
  readonly major: number;
  readonly baseminor: number;
  readonly minorct: number;
  readonly name: string;
  cdev: Cdev | null;
}

/** `struct cdev`: file operations for a range of device numbers (cdev_init()). */
export class Cdev {
  /** First device number and count once added (cdev_add()). */
  dev = 0;
  count = 0;
  added = false;

  /** `cdev->list`: the inodes whose `i_cdev` is this cdev (cdev_purge() clears them). */
  readonly inodes = new Set<Inode>();

  constructor(
    readonly ops: FileOperations,
    /** The driver's object, which Linux reaches with container_of(inode->i_cdev, …). */
    readonly driverData: unknown = undefined,
  ) {}

  /**
   * `cdev->owner`: every driver of the model sets it to its fops' owner (`cdev.owner =
   * THIS_MODULE` beside `.owner = THIS_MODULE`), as __register_chrdev() does.
   */
  get owner(): FileOperations["owner"] {
    return this.ops.owner;
  }
}

export class CharDevices {
  private readonly chrdevs: CharDeviceStruct[][] = Array.from(
    { length: CHRDEV_MAJOR_HASH_SIZE },
    () => [],
  );
  /** kobj_map probes: by range ascending, newest first among equal ranges. */
  private readonly probes: Cdev[] = [];
  /** inode->i_cdev, set by the first open of a char special file. */
  private readonly iCdev = new WeakMap<Inode, Cdev>();

  /** fs/char_dev.c: def_chr_fops — what every char special inode opens with. */
  readonly defChrFops: FileOperations;

  constructor(private readonly refs: ModuleRefs) {
    this.defChrFops = Object.freeze({
      open: (inode: Inode, file: File, current: Task) => this.chrdevOpen(inode, file, current),
      llseek: noopLlseek,
    });
  }

  /**
   * fs/char_dev.c: find_dynamic_major() — an empty hash bucket from 254 down to 234, else a
   * major from 511 down to 384 that nothing uses; EBUSY when all are taken.
   */
  private findDynamicMajor(): number {
    for (let i = CHRDEV_MAJOR_HASH_SIZE - 1; i >= CHRDEV_MAJOR_DYN_END; i--) {
      if (this.chrdevs[i]!.length === 0) return i;
    }
    for (let i = CHRDEV_MAJOR_DYN_EXT_START; i >= CHRDEV_MAJOR_DYN_EXT_END; i--) {
      if (!this.bucket(i).some((cd) => cd.major === i)) return i;
    }
    return -1;
  }

  private bucket(major: number): CharDeviceStruct[] {
    return this.chrdevs[major % CHRDEV_MAJOR_HASH_SIZE]!;
  }

  /**
   * fs/char_dev.c: __register_chrdev_region() — reserves `minorct` minors of `major` (0: a
   * dynamic one). EINVAL for a major ≥ 512 or a range past the last minor, EBUSY on overlap or
   * when no dynamic major is left.
   */
  private registerRegion(
    major: number,
    baseminor: number,
    minorct: number,
    name: string,
  ): CharDeviceStruct {
    const fn = "__register_chrdev_region";
    if (major >= CHRDEV_MAJOR_MAX) {
      throw new SysError(
        "EINVAL",
        fn,
        `CHRDEV "${name}" major requested (${major}) is greater than the maximum (${CHRDEV_MAJOR_MAX - 1})`,
      );
    }
    if (minorct > MINORMASK + 1 - baseminor) {
      throw new SysError(
        "EINVAL",
        fn,
        `CHRDEV "${name}" minor range requested (${baseminor}-${baseminor + minorct - 1}) is out of range of maximum range (0-${MINORMASK}) for a single major`,
      );
    }
    if (major === 0) {
      major = this.findDynamicMajor();
      if (major < 0) {
        throw new SysError("EBUSY", fn, `CHRDEV "${name}" dynamic allocation region is full`);
      }
    }
    const list = this.bucket(major);
    // The bucket is kept sorted by (major, baseminor); find the slot and any overlap.
    let at = 0;
    for (; at < list.length; at++) {
      const curr = list[at]!;
      if (curr.major < major) continue;
      if (curr.major > major) break;
      if (curr.baseminor + curr.minorct <= baseminor) continue;
      if (curr.baseminor >= baseminor + minorct) break;
      throw new SysError(
        "EBUSY",
        fn,
        `${major}:${baseminor}+${minorct} overlaps "${curr.name}" ${curr.major}:${curr.baseminor}+${curr.minorct}`,
      );
    }
    // strlcpy() into char name[64].
    const cd: CharDeviceStruct = { major, baseminor, minorct, name: name.slice(0, 63), cdev: null };
    list.splice(at, 0, cd);
    return cd;
  }

  /** fs/char_dev.c: __unregister_chrdev_region() — the exact region, if registered. */
  private unregisterRegion(
    major: number,
    baseminor: number,
    minorct: number,
  ): CharDeviceStruct | undefined {
    const list = this.bucket(major);
    const at = list.findIndex(
      (cd) => cd.major === major && cd.baseminor === baseminor && cd.minorct === minorct,
    );
    if (at < 0) return undefined;
    return list.splice(at, 1)[0];
  }

  /** Splits [from, from + count) at major boundaries, as the region calls do. */
  private static spans(from: number, count: number): [major: number, minor: number, n: number][] {
    const out: [number, number, number][] = [];
    const to = from + count;
    for (let n = from; n < to; ) {
      const next = Math.min(MKDEV(MAJOR(n) + 1, 0), to);
      out.push([MAJOR(n), MINOR(n), next - n]);
      n = next;
    }
    return out;
  }

  /**
   * fs/char_dev.c: register_chrdev_region() — reserves `count` device numbers from kernel
   * `dev_t` `from` (MKDEV(major, baseminor)), possibly spanning majors; all or nothing.
   */
  registerChrdevRegion(from: number, count: number, name: string): void {
    const done: [number, number, number][] = [];
    try {
      for (const span of CharDevices.spans(from, count)) {
        this.registerRegion(span[0], span[1], span[2], name);
        done.push(span);
      }
    } catch (e) {
      for (const [ma, mi, n] of done) this.unregisterRegion(ma, mi, n);
      throw e;
    }
  }

  /**
   * fs/char_dev.c: alloc_chrdev_region() — `count` minors from `baseminor` of a dynamic major;
   * returns the first `dev_t`.
   */
  allocChrdevRegion(baseminor: number, count: number, name: string): number {
    const cd = this.registerRegion(0, baseminor, count, name);
    return MKDEV(cd.major, cd.baseminor);
  }

  /** fs/char_dev.c: unregister_chrdev_region() — silently ignores regions never registered. */
  unregisterChrdevRegion(from: number, count: number): void {
    for (const [ma, mi, n] of CharDevices.spans(from, count)) this.unregisterRegion(ma, mi, n);
  }

  /**
   * fs/char_dev.c: __register_chrdev() — a region plus a cdev serving it with `fops`. Returns
   * the major when `major` was 0 (dynamic), else 0. register_chrdev() is this with minors 0–255.
   */
  registerChrdev(
    major: number,
    baseminor: number,
    count: number,
    name: string,
    fops: FileOperations,
  ): number {
    const cd = this.registerRegion(major, baseminor, count, name);
    const cdev = new Cdev(fops);
    this.cdevAdd(cdev, MKDEV(cd.major, baseminor), count);
    cd.cdev = cdev;
    return major === 0 ? cd.major : 0;
  }

  /** fs/char_dev.c: __unregister_chrdev() — the region and its cdev. */
  unregisterChrdev(major: number, baseminor: number, count: number): void {
    const cd = this.unregisterRegion(major, baseminor, count);
    if (cd?.cdev) this.cdevDel(cd.cdev);
  }

  /** fs/char_dev.c: cdev_add() — makes `cdev` serve `count` device numbers from `dev`. */
  cdevAdd(cdev: Cdev, dev: number, count: number): void {
    cdev.dev = dev;
    cdev.count = count;
    cdev.added = true;
    // drivers/base/map.c: kobj_map() inserts before the first probe with a range as large.
    const at = this.probes.findIndex((p) => p.count >= count);
    this.probes.splice(at < 0 ? this.probes.length : at, 0, cdev);
  }

  /**
   * fs/char_dev.c: cdev_del() — no new opens reach `cdev`; files already open keep their
   * operations.
   */
  cdevDel(cdev: Cdev): void {
    const at = this.probes.indexOf(cdev);
    if (at >= 0) this.probes.splice(at, 1);
    cdev.added = false;
    // cdev_purge(): the inodes forget the cdev.
    for (const inode of cdev.inodes) this.iCdev.delete(inode);
    cdev.inodes.clear();
  }

  /** drivers/base/map.c: kobj_lookup() — the cdev serving `dev`, if any. */
  lookup(dev: number): Cdev | undefined {
    return this.probes.find((p) => p.dev <= dev && dev - p.dev < p.count);
  }

  /** `inode->i_cdev`: the cdev an open of this inode found (for drivers' container_of()). */
  inodeCdev(inode: Inode): Cdev | undefined {
    return this.iCdev.get(inode);
  }

  /** fs/char_dev.c: cdev_get() — pins the cdev's owner; false if it is going away. */
  private cdevGet(p: Cdev): boolean {
    return p.owner === undefined || this.refs.tryModuleGet(p.owner);
  }

  /** fs/char_dev.c: cdev_put() */
  private cdevPut(p: Cdev): void {
    if (p.owner !== undefined) this.refs.modulePut(p.owner);
  }

  /**
   * fs/char_dev.c: chrdev_open() — finds the cdev (remembering it in the inode) and pins its
   * owner (cdev_get()), pins its operations' owner (fops_get()), ENXIO if either is going away;
   * installs the operations and runs their `open`, whose failure drops the cdev pin.
   */
  private chrdevOpen(inode: Inode, file: File, current: Task): void {
    const fn = "chrdev_open";
    let p = this.iCdev.get(inode);
    if (p === undefined) {
      // kobj_lookup(): the probe's exact_lock() is the cdev_get().
      const found = this.lookup(inode.rdev);
      if (found === undefined || !this.cdevGet(found)) {
        throw new SysError(
          "ENXIO",
          fn,
          found === undefined
            ? `no char device ${MAJOR(inode.rdev)}:${MINOR(inode.rdev)} registered`
            : `module ${found.owner?.name} is going away`,
        );
      }
      p = found;
      this.iCdev.set(inode, p);
      p.inodes.add(inode);
    } else if (!this.cdevGet(p)) {
      throw new SysError("ENXIO", fn, `module ${p.owner?.name} is going away`);
    }
    if (!fopsGet(this.refs, p.ops)) {
      this.cdevPut(p);
      throw new SysError("ENXIO", fn, `module ${p.ops.owner?.name} is going away`);
    }
    replaceFops(this.refs, file, p.ops);
    try {
      p.ops.open?.(inode, file, current);
    } catch (e) {
      this.cdevPut(p);
      throw e;
    }
  }

  /**
   * fs/file_table.c: __fput()'s cdev_put(inode->i_cdev) for a char special file not opened
   * with O_PATH — nothing once cdev_del() has purged the inode.
   */
  cdevPutFile(file: File): void {
    if (!isChr(file.inode) || file.mode & FMODE_PATH) return;
    const p = this.iCdev.get(file.inode);
    if (p !== undefined) this.cdevPut(p);
  }

  /** The "Character devices:" half of /proc/devices (fs/proc/devices.c, chrdev_show()). */
  procDevicesShow(): string {
    let out = "Character devices:\n";
    for (let major = 0; major < CHRDEV_MAJOR_MAX; major++) {
      for (const cd of this.bucket(major)) {
        if (cd.major === major) out += `${String(major).padStart(3)} ${cd.name}\n`;
      }
    }
    // CONFIG_BLOCK: the block half follows; the model registers no block devices.
    return `${out}\nBlock devices:\n`;
  }
}
