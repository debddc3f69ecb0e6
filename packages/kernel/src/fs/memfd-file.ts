/**
 * The file side of memfd_create(2): an open `memfd:<name>` file over a shmem object, with
 * read/write/lseek at the file position, `mmap` through shmem_mmap() (seals checked), and
 * ftruncate-free sizing by writes. mm/memfd.c and mm/shmem.c are the models.
 */

import { SysError } from "../errno.js";
import type { ShmemObject } from "../mm/memfd.js";
import { ShmemFile } from "../mm/memfd.js";
import { copyFromUser, copyToUser } from "../uaccess.js";
import type { File, FileOperations } from "./file.js";
import { SEEK_CUR, SEEK_END, SEEK_SET } from "./file.js";

/** The shmem object behind a memfd file, or undefined for any other file. */
export function memfdObjectOf(file: File): ShmemObject | undefined {
  return file.fOp === MEMFD_FOPS ? (file.privateData as ShmemObject) : undefined;
}

const memfdFops: FileOperations = {
  read(file, current, va, count, pos) {
    const obj = file.privateData as ShmemObject;
    const buf = new Uint8Array(Math.max(0, Math.min(count, obj.size - pos.value)));
    const n = obj.readAt(pos.value, buf);
    copyToUser(current.mm, va, buf.subarray(0, n), "shmem_file_read_iter");
    pos.value += n;
    return n;
  },
  write(file, current, va, count, pos) {
    const obj = file.privateData as ShmemObject;
    const data = copyFromUser(current.mm, va, count, "generic_perform_write");
    const n = obj.writeAt(pos.value, data);
    pos.value += n;
    return n;
  },
  llseek(file, offset, whence) {
    const obj = file.privateData as ShmemObject;
    const base =
      whence === SEEK_SET
        ? 0
        : whence === SEEK_CUR
          ? file.pos
          : whence === SEEK_END
            ? obj.size
            : NaN;
    if (Number.isNaN(base)) throw new SysError("EINVAL", "shmem_file_llseek", `whence ${whence}`);
    const next = base + offset;
    if (next < 0) throw new SysError("EINVAL", "shmem_file_llseek", "negative position");
    file.pos = next;
    return next;
  },
  mmap(file, _current, vma) {
    new ShmemFile(file.privateData as ShmemObject, file.mode).mmap(vma);
  },
  release(_inode, file) {
    (file.privateData as ShmemObject).put();
  },
};
export const MEMFD_FOPS: FileOperations = Object.freeze(memfdFops);
