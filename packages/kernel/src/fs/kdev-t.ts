/**
 * Device numbers (include/linux/kdev_t.h). Inside the kernel a `dev_t` is a 12-bit major over a
 * 20-bit minor; stat(2) hands user space a different packing (`new_encode_dev()`), which the C
 * library's major()/minor()/makedev() of <sys/sysmacros.h> take apart. `Inode.rdev` and the
 * char-device registry use the kernel form; `Stat.dev`/`Stat.rdev` use the user form.
 *
 * @packageDocumentation
 */

export const MINORBITS = 20;
export const MINORMASK = (1 << MINORBITS) - 1;

/** include/linux/kdev_t.h: MKDEV() — the kernel `dev_t` of major:minor. */
export function MKDEV(major: number, minor: number): number {
  return ((major << MINORBITS) | (minor & MINORMASK)) >>> 0;
}

/** include/linux/kdev_t.h: MAJOR(). */
export function MAJOR(dev: number): number {
  return dev >>> MINORBITS;
}

/** include/linux/kdev_t.h: MINOR(). */
export function MINOR(dev: number): number {
  return dev & MINORMASK;
}

/**
 * include/linux/kdev_t.h: new_encode_dev() — the 32-bit number stat(2) reports: minor bits 0–7,
 * major bits 8–19, the rest of the minor above, so that small numbers keep the old 8:8 layout.
 */
export function newEncodeDev(dev: number): number {
  const major = MAJOR(dev);
  const minor = MINOR(dev);
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** include/linux/kdev_t.h: new_decode_dev() — back from the stat(2) form. */
export function newDecodeDev(dev: number): number {
  const major = (dev & 0xfff00) >>> 8;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  return MKDEV(major, minor);
}

/** <sys/sysmacros.h> major() on a `st_dev`/`st_rdev` value. */
export function major(dev: number): number {
  return (dev >>> 8) & 0xfff;
}

/** <sys/sysmacros.h> minor() on a `st_dev`/`st_rdev` value. */
export function minor(dev: number): number {
  return ((dev & 0xff) | ((dev >>> 12) & ~0xff)) >>> 0;
}

/** <sys/sysmacros.h> makedev(): the user-space number for major:minor. */
export function makedev(maj: number, min: number): number {
  return newEncodeDev(MKDEV(maj, min));
}
