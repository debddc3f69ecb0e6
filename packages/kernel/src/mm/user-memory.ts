/**
 * What the uaccess helpers need from a process's address space: `copy_from_user` and
 * `copy_to_user` at the byte level. Both throw `SysError("EFAULT")` when any byte of the range is
 * not mapped with the needed permission, and then move nothing (the model checks the whole range
 * first; Linux may copy a prefix, but every caller in this model treats a short copy as -EFAULT).
 *
 * @packageDocumentation
 */
export interface UserMemory {
  /** Copies `dst.length` bytes from user virtual address `va`. */
  readUser(va: number, dst: Uint8Array): void;
  /** Copies `src` to user virtual address `va`. */
  writeUser(va: number, src: Uint8Array): void;
}
