/**
 * The in-kernel sysfs API that the driver core, modules and drivers use to populate `/sys`
 * (kobject directories, attributes, links). Paths are absolute (`/sys/module/vfio/parameters`).
 *
 * @packageDocumentation
 */

export interface SysfsAttribute {
  /** Permission bits (0o444, 0o644, 0o200 …); root can read/write regardless, as DAC allows. */
  readonly mode: number;
  /** `show()`: the whole file's text (Linux limits it to PAGE_SIZE). */
  readonly show?: () => string;
  /**
   * `store()`: the written bytes as text (a write of "x\n" passes "x\n"); returns nothing on
   * success (the write then returns its full count) or throws a SysError that the write returns.
   */
  readonly store?: (text: string) => void;
}

export interface Sysfs {
  /** Creates a directory and any missing parents; EEXIST if it exists and `exclusive`. */
  mkdir(path: string, exclusive?: boolean): void;
  /** Creates an attribute file; its parent directory must exist (ENOENT) and the name be free (EEXIST). */
  createFile(path: string, attr: SysfsAttribute): void;
  /** Creates a symbolic link at `path` pointing to the absolute sysfs path `target`. */
  symlink(path: string, target: string): void;
  /** Removes a file, link or whole directory tree; ENOENT if absent. */
  remove(path: string): void;
  exists(path: string): boolean;
}
