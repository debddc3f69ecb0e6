/**
 * mmap/mprotect/mlock/memfd constants as arm64 user space sees them
 * (include/uapi/asm-generic/mman-common.h, mman.h, arch/arm64/include/uapi/asm/mman.h,
 * include/uapi/linux/memfd.h, include/uapi/linux/fcntl.h), and the address-space layout of an
 * arm64 process with 48-bit VAs and 4 KiB pages.
 *
 * @packageDocumentation
 */

export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const PROT_SEM = 0x8;
/** arm64: Branch Target Identification (rejected: the modelled CPU has no BTI). */
export const PROT_BTI = 0x10;
/** arm64: Memory Tagging (rejected: the modelled CPU has no MTE). */
export const PROT_MTE = 0x20;
export const PROT_GROWSDOWN = 0x01000000;
export const PROT_GROWSUP = 0x02000000;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_SHARED_VALIDATE = 0x03;
export const MAP_DROPPABLE = 0x08;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x0100;
export const MAP_DENYWRITE = 0x0800;
export const MAP_EXECUTABLE = 0x1000;
export const MAP_LOCKED = 0x2000;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_NONBLOCK = 0x10000;
export const MAP_STACK = 0x20000;
export const MAP_HUGETLB = 0x40000;
export const MAP_SYNC = 0x80000;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MAP_UNINITIALIZED = 0x4000000;

/** Flags MAP_SHARED silently accepts (include/linux/mman.h LEGACY_MAP_MASK). */
export const LEGACY_MAP_MASK =
  MAP_SHARED |
  MAP_PRIVATE |
  MAP_FIXED |
  MAP_ANONYMOUS |
  MAP_DENYWRITE |
  MAP_EXECUTABLE |
  MAP_UNINITIALIZED |
  MAP_GROWSDOWN |
  MAP_LOCKED |
  MAP_NORESERVE |
  MAP_POPULATE |
  MAP_NONBLOCK |
  MAP_STACK |
  MAP_HUGETLB;

export const MLOCK_ONFAULT = 0x01;

export const MFD_CLOEXEC = 0x0001;
export const MFD_ALLOW_SEALING = 0x0002;
export const MFD_HUGETLB = 0x0004;
export const MFD_NOEXEC_SEAL = 0x0008;
export const MFD_EXEC = 0x0010;
export const MFD_ALL_FLAGS =
  MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
/** NAME_MAX minus the "memfd:" prefix. */
export const MFD_NAME_MAX_LEN = 255 - 6;

export const F_SEAL_SEAL = 0x0001;
export const F_SEAL_SHRINK = 0x0002;
export const F_SEAL_GROW = 0x0004;
export const F_SEAL_WRITE = 0x0008;
export const F_SEAL_FUTURE_WRITE = 0x0010;
export const F_SEAL_EXEC = 0x0020;
export const F_ALL_SEALS =
  F_SEAL_SEAL | F_SEAL_EXEC | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

/** struct file f_mode bits a mmap hook's file carries (include/linux/fs.h). */
export { FMODE_READ, FMODE_WRITE } from "../fs/file.js";

/** arm64 address-space layout (CONFIG_ARM64_VA_BITS_48, 4 KiB pages, no ASLR). */
export const LAYOUT = {
  /** TASK_SIZE = DEFAULT_MAP_WINDOW = 1 << 48. */
  taskSize: 2 ** 48,
  /** mm/util.c mmap_base(): STACK_TOP minus MIN_GAP (128 MiB) when the stack rlimit is 8 MiB. */
  mmapBase: 2 ** 48 - 128 * 2 ** 20,
  /** TASK_UNMAPPED_BASE = PAGE_ALIGN(DEFAULT_MAP_WINDOW / 4): the bottom-up fallback start. */
  taskUnmappedBase: 2 ** 46,
  /** vm.mmap_min_addr as Debian's arm64 kernel configures it (CONFIG_DEFAULT_MMAP_MIN_ADDR). */
  mmapMinAddr: 32768,
  /** DEFAULT_MAX_MAP_COUNT (vm.max_map_count). */
  maxMapCount: 65530,
  /** PMD_SIZE: anonymous mappings of a multiple of this are THP-aligned. */
  pmdSize: 2 * 2 ** 20,
} as const;
