/**
 * The generic pieces of fs/read_write.c that filesystems and drivers plug into their file
 * operations: the llseek flavours (generic_file_llseek_size(), default_llseek(), noop_llseek(),
 * no_seek_end_llseek(), fixed_size_llseek()) and rw_verify_area()'s position checks.
 *
 * File positions are JS numbers: offsets beyond 2^53 cannot be represented, so the model's
 * `loff_t` range is [-(2^53 - 1), 2^53 - 1] and MAX_LFS_FILESIZE is the largest safe integer.
 */

import { PAGE_SIZE } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import { type File, SEEK_CUR, SEEK_END, SEEK_SET } from "./file.js";

/** include/uapi/linux/fs.h SEEK_DATA / SEEK_HOLE / SEEK_MAX. */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
export const SEEK_MAX = SEEK_HOLE;

/** include/linux/fs.h MAX_RW_COUNT: INT_MAX rounded down to a page. */
export const MAX_RW_COUNT = 0x7fffffff & ~(PAGE_SIZE - 1);

/** MAX_LFS_FILESIZE, capped to what a JS number holds exactly. */
export const MAX_LFS_FILESIZE = Number.MAX_SAFE_INTEGER;

/** fs/read_write.c: vfs_setpos() — EINVAL for a negative position or one beyond `maxsize`. */
export function vfsSetpos(file: File, offset: number, maxsize: number, fn = "vfs_setpos"): number {
  if (offset < 0 || offset > maxsize) {
    throw new SysError("EINVAL", fn, `position ${offset} outside [0, ${maxsize}]`);
  }
  file.pos = offset;
  return offset;
}

/**
 * fs/read_write.c: generic_file_llseek_size() — SEEK_SET/CUR/END against `eof`, SEEK_DATA
 * (ENXIO at or past the end: the whole file is data) and SEEK_HOLE (the end).
 */
export function genericFileLlseekSize(
  file: File,
  offset: number,
  whence: number,
  maxsize: number,
  eof: number,
): number {
  const fn = "generic_file_llseek_size";
  switch (whence) {
    case SEEK_END:
      offset += eof;
      break;
    case SEEK_CUR:
      // A SEEK_CUR of 0 only asks where the file is.
      if (offset === 0) return file.pos;
      offset += file.pos;
      break;
    case SEEK_DATA:
      // Compared as unsigned in C: a negative offset is past any end.
      if (offset < 0 || offset >= eof) throw new SysError("ENXIO", fn, "SEEK_DATA past the end");
      break;
    case SEEK_HOLE:
      if (offset < 0 || offset >= eof) throw new SysError("ENXIO", fn, "SEEK_HOLE past the end");
      offset = eof;
      break;
    case SEEK_SET:
      break;
    default:
      throw new SysError("EINVAL", fn, `whence ${whence}`);
  }
  return vfsSetpos(file, offset, maxsize, fn);
}

/** fs/read_write.c: generic_file_llseek() — against the inode's size. */
export function genericFileLlseek(file: File, offset: number, whence: number): number {
  return genericFileLlseekSize(file, offset, whence, MAX_LFS_FILESIZE, file.inode.size);
}

/** fs/read_write.c: fixed_size_llseek() — a file of `size` bytes that cannot seek past its end. */
export function fixedSizeLlseek(file: File, offset: number, whence: number, size: number): number {
  return genericFileLlseekSize(file, offset, whence, size, size);
}

/**
 * fs/read_write.c: default_llseek() — like the generic one against i_size, but SEEK_DATA and
 * SEEK_HOLE compare signed (a negative offset falls through to EINVAL).
 */
export function defaultLlseek(file: File, offset: number, whence: number): number {
  const fn = "default_llseek";
  const size = file.inode.size;
  switch (whence) {
    case SEEK_END:
      offset += size;
      break;
    case SEEK_CUR:
      if (offset === 0) return file.pos;
      offset += file.pos;
      break;
    case SEEK_DATA:
      if (offset >= size) throw new SysError("ENXIO", fn, "SEEK_DATA past the end");
      break;
    case SEEK_HOLE:
      if (offset >= size) throw new SysError("ENXIO", fn, "SEEK_HOLE past the end");
      offset = size;
      break;
    case SEEK_SET:
      break;
    default:
      throw new SysError("EINVAL", fn, `whence ${whence}`);
  }
  if (offset < 0) throw new SysError("EINVAL", fn, `negative position ${offset}`);
  file.pos = offset;
  return offset;
}

/** fs/read_write.c: noop_llseek() — lseek succeeds and the position stays where it is. */
export function noopLlseek(file: File): number {
  return file.pos;
}

/**
 * fs/seq_file.c: seq_lseek() — SEEK_SET and SEEK_CUR only, never before 0. The next read
 * regenerates the text from the new position.
 */
export function seqLseek(file: File, offset: number, whence: number): number {
  const fn = "seq_lseek";
  if (whence === SEEK_CUR) offset += file.pos;
  else if (whence !== SEEK_SET) throw new SysError("EINVAL", fn, `whence ${whence}`);
  if (offset < 0) throw new SysError("EINVAL", fn, `negative position ${offset}`);
  file.pos = offset;
  return offset;
}

/**
 * fs/read_write.c: rw_verify_area() — a negative position is EINVAL. (A position plus count
 * overflowing loff_t cannot occur with JS numbers.)
 */
export function rwVerifyArea(pos: number, fn = "rw_verify_area"): void {
  if (pos < 0) throw new SysError("EINVAL", fn, `negative file position ${pos}`);
}
