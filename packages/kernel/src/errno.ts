/**
 * Linux error numbers: every name and number of `include/uapi/asm-generic/errno-base.h` and
 * `errno.h` (the values arm64 uses), plus the kernel-internal codes of `include/linux/errno.h`
 * that never reach user space but appear in logs (`probe … failed with error -517`).
 *
 * `SysError` is how every kernel path in the model fails: it carries the errno, its name and the
 * kernel function that refused, so a test or a notebook can say exactly where Linux would fail.
 */

/** Each errno name with its number and the C library's message for it. */
export const ERRNO_TABLE = {
  EPERM: { errno: 1, message: "Operation not permitted" },
  ENOENT: { errno: 2, message: "No such file or directory" },
  ESRCH: { errno: 3, message: "No such process" },
  EINTR: { errno: 4, message: "Interrupted system call" },
  EIO: { errno: 5, message: "Input/output error" },
  ENXIO: { errno: 6, message: "No such device or address" },
  E2BIG: { errno: 7, message: "Argument list too long" },
  ENOEXEC: { errno: 8, message: "Exec format error" },
  EBADF: { errno: 9, message: "Bad file descriptor" },
  ECHILD: { errno: 10, message: "No child processes" },
  EAGAIN: { errno: 11, message: "Resource temporarily unavailable" },
  ENOMEM: { errno: 12, message: "Cannot allocate memory" },
  EACCES: { errno: 13, message: "Permission denied" },
  EFAULT: { errno: 14, message: "Bad address" },
  ENOTBLK: { errno: 15, message: "Block device required" },
  EBUSY: { errno: 16, message: "Device or resource busy" },
  EEXIST: { errno: 17, message: "File exists" },
  EXDEV: { errno: 18, message: "Invalid cross-device link" },
  ENODEV: { errno: 19, message: "No such device" },
  ENOTDIR: { errno: 20, message: "Not a directory" },
  EISDIR: { errno: 21, message: "Is a directory" },
  EINVAL: { errno: 22, message: "Invalid argument" },
  ENFILE: { errno: 23, message: "Too many open files in system" },
  EMFILE: { errno: 24, message: "Too many open files" },
  ENOTTY: { errno: 25, message: "Inappropriate ioctl for device" },
  ETXTBSY: { errno: 26, message: "Text file busy" },
  EFBIG: { errno: 27, message: "File too large" },
  ENOSPC: { errno: 28, message: "No space left on device" },
  ESPIPE: { errno: 29, message: "Illegal seek" },
  EROFS: { errno: 30, message: "Read-only file system" },
  EMLINK: { errno: 31, message: "Too many links" },
  EPIPE: { errno: 32, message: "Broken pipe" },
  EDOM: { errno: 33, message: "Numerical argument out of domain" },
  ERANGE: { errno: 34, message: "Numerical result out of range" },
  EDEADLK: { errno: 35, message: "Resource deadlock avoided" },
  ENAMETOOLONG: { errno: 36, message: "File name too long" },
  ENOLCK: { errno: 37, message: "No locks available" },
  ENOSYS: { errno: 38, message: "Function not implemented" },
  ENOTEMPTY: { errno: 39, message: "Directory not empty" },
  ELOOP: { errno: 40, message: "Too many levels of symbolic links" },
  ENOMSG: { errno: 42, message: "No message of desired type" },
  EIDRM: { errno: 43, message: "Identifier removed" },
  ECHRNG: { errno: 44, message: "Channel number out of range" },
  EL2NSYNC: { errno: 45, message: "Level 2 not synchronized" },
  EL3HLT: { errno: 46, message: "Level 3 halted" },
  EL3RST: { errno: 47, message: "Level 3 reset" },
  ELNRNG: { errno: 48, message: "Link number out of range" },
  EUNATCH: { errno: 49, message: "Protocol driver not attached" },
  ENOCSI: { errno: 50, message: "No CSI structure available" },
  EL2HLT: { errno: 51, message: "Level 2 halted" },
  EBADE: { errno: 52, message: "Invalid exchange" },
  EBADR: { errno: 53, message: "Invalid request descriptor" },
  EXFULL: { errno: 54, message: "Exchange full" },
  ENOANO: { errno: 55, message: "No anode" },
  EBADRQC: { errno: 56, message: "Invalid request code" },
  EBADSLT: { errno: 57, message: "Invalid slot" },
  EBFONT: { errno: 59, message: "Bad font file format" },
  ENOSTR: { errno: 60, message: "Device not a stream" },
  ENODATA: { errno: 61, message: "No data available" },
  ETIME: { errno: 62, message: "Timer expired" },
  ENOSR: { errno: 63, message: "Out of streams resources" },
  ENONET: { errno: 64, message: "Machine is not on the network" },
  ENOPKG: { errno: 65, message: "Package not installed" },
  EREMOTE: { errno: 66, message: "Object is remote" },
  ENOLINK: { errno: 67, message: "Link has been severed" },
  EADV: { errno: 68, message: "Advertise error" },
  ESRMNT: { errno: 69, message: "Srmount error" },
  ECOMM: { errno: 70, message: "Communication error on send" },
  EPROTO: { errno: 71, message: "Protocol error" },
  EMULTIHOP: { errno: 72, message: "Multihop attempted" },
  EDOTDOT: { errno: 73, message: "RFS specific error" },
  EBADMSG: { errno: 74, message: "Bad message" },
  EOVERFLOW: { errno: 75, message: "Value too large for defined data type" },
  ENOTUNIQ: { errno: 76, message: "Name not unique on network" },
  EBADFD: { errno: 77, message: "File descriptor in bad state" },
  EREMCHG: { errno: 78, message: "Remote address changed" },
  ELIBACC: { errno: 79, message: "Can not access a needed shared library" },
  ELIBBAD: { errno: 80, message: "Accessing a corrupted shared library" },
  ELIBSCN: { errno: 81, message: ".lib section in a.out corrupted" },
  ELIBMAX: { errno: 82, message: "Attempting to link in too many shared libraries" },
  ELIBEXEC: { errno: 83, message: "Cannot exec a shared library directly" },
  EILSEQ: { errno: 84, message: "Invalid or incomplete multibyte or wide character" },
  ERESTART: { errno: 85, message: "Interrupted system call should be restarted" },
  ESTRPIPE: { errno: 86, message: "Streams pipe error" },
  EUSERS: { errno: 87, message: "Too many users" },
  ENOTSOCK: { errno: 88, message: "Socket operation on non-socket" },
  EDESTADDRREQ: { errno: 89, message: "Destination address required" },
  EMSGSIZE: { errno: 90, message: "Message too long" },
  EPROTOTYPE: { errno: 91, message: "Protocol wrong type for socket" },
  ENOPROTOOPT: { errno: 92, message: "Protocol not available" },
  EPROTONOSUPPORT: { errno: 93, message: "Protocol not supported" },
  ESOCKTNOSUPPORT: { errno: 94, message: "Socket type not supported" },
  EOPNOTSUPP: { errno: 95, message: "Operation not supported" },
  EPFNOSUPPORT: { errno: 96, message: "Protocol family not supported" },
  EAFNOSUPPORT: { errno: 97, message: "Address family not supported by protocol" },
  EADDRINUSE: { errno: 98, message: "Address already in use" },
  EADDRNOTAVAIL: { errno: 99, message: "Cannot assign requested address" },
  ENETDOWN: { errno: 100, message: "Network is down" },
  ENETUNREACH: { errno: 101, message: "Network is unreachable" },
  ENETRESET: { errno: 102, message: "Network dropped connection on reset" },
  ECONNABORTED: { errno: 103, message: "Software caused connection abort" },
  ECONNRESET: { errno: 104, message: "Connection reset by peer" },
  ENOBUFS: { errno: 105, message: "No buffer space available" },
  EISCONN: { errno: 106, message: "Transport endpoint is already connected" },
  ENOTCONN: { errno: 107, message: "Transport endpoint is not connected" },
  ESHUTDOWN: { errno: 108, message: "Cannot send after transport endpoint shutdown" },
  ETOOMANYREFS: { errno: 109, message: "Too many references: cannot splice" },
  ETIMEDOUT: { errno: 110, message: "Connection timed out" },
  ECONNREFUSED: { errno: 111, message: "Connection refused" },
  EHOSTDOWN: { errno: 112, message: "Host is down" },
  EHOSTUNREACH: { errno: 113, message: "No route to host" },
  EALREADY: { errno: 114, message: "Operation already in progress" },
  EINPROGRESS: { errno: 115, message: "Operation now in progress" },
  ESTALE: { errno: 116, message: "Stale file handle" },
  EUCLEAN: { errno: 117, message: "Structure needs cleaning" },
  ENOTNAM: { errno: 118, message: "Not a XENIX named type file" },
  ENAVAIL: { errno: 119, message: "No XENIX semaphores available" },
  EISNAM: { errno: 120, message: "Is a named type file" },
  EREMOTEIO: { errno: 121, message: "Remote I/O error" },
  EDQUOT: { errno: 122, message: "Disk quota exceeded" },
  ENOMEDIUM: { errno: 123, message: "No medium found" },
  EMEDIUMTYPE: { errno: 124, message: "Wrong medium type" },
  ECANCELED: { errno: 125, message: "Operation canceled" },
  ENOKEY: { errno: 126, message: "Required key not available" },
  EKEYEXPIRED: { errno: 127, message: "Key has expired" },
  EKEYREVOKED: { errno: 128, message: "Key has been revoked" },
  EKEYREJECTED: { errno: 129, message: "Key was rejected by service" },
  EOWNERDEAD: { errno: 130, message: "Owner died" },
  ENOTRECOVERABLE: { errno: 131, message: "State not recoverable" },
  ERFKILL: { errno: 132, message: "Operation not possible due to RF-kill" },
  EHWPOISON: { errno: 133, message: "Memory page has hardware error" },
  ERESTARTSYS: { errno: 512, message: "Restart the system call (kernel-internal)" },
  ERESTARTNOINTR: {
    errno: 513,
    message: "Restart the system call, no interrupt (kernel-internal)",
  },
  ERESTARTNOHAND: { errno: 514, message: "Restart if no handler (kernel-internal)" },
  ENOIOCTLCMD: { errno: 515, message: "No ioctl command (kernel-internal)" },
  ERESTART_RESTARTBLOCK: {
    errno: 516,
    message: "Restart by calling sys_restart_syscall (kernel-internal)",
  },
  EPROBE_DEFER: { errno: 517, message: "Driver requests probe retry (kernel-internal)" },
  EOPENSTALE: { errno: 518, message: "Open found a stale dentry (kernel-internal)" },
  ENOPARAM: { errno: 519, message: "Parameter not supported (kernel-internal)" },
  EBADHANDLE: { errno: 521, message: "Illegal NFS file handle (kernel-internal)" },
  ENOTSYNC: { errno: 522, message: "Update synchronization mismatch (kernel-internal)" },
  EBADCOOKIE: { errno: 523, message: "Cookie is stale (kernel-internal)" },
  ENOTSUPP: { errno: 524, message: "Operation is not supported (kernel-internal)" },
  ETOOSMALL: { errno: 525, message: "Buffer or request is too small (kernel-internal)" },
  ESERVERFAULT: { errno: 526, message: "An untranslatable error occurred (kernel-internal)" },
  EBADTYPE: { errno: 527, message: "Type not supported by server (kernel-internal)" },
  EJUKEBOX: {
    errno: 528,
    message: "Request initiated, but will not complete before timeout (kernel-internal)",
  },
  EIOCBQUEUED: { errno: 529, message: "iocb queued, will get completion event (kernel-internal)" },
  ERECALLCONFLICT: { errno: 530, message: "Conflict with recalled state (kernel-internal)" },
  ENOGRACE: { errno: 531, message: "NFS file lock reclaim refused (kernel-internal)" },
} as const;

export type ErrnoName = keyof typeof ERRNO_TABLE | "EWOULDBLOCK" | "EDEADLOCK";

/** Aliases Linux defines to the same number. */
const ALIASES = { EWOULDBLOCK: "EAGAIN", EDEADLOCK: "EDEADLK" } as const;

function canonical(name: ErrnoName): keyof typeof ERRNO_TABLE {
  return name in ALIASES
    ? ALIASES[name as keyof typeof ALIASES]
    : (name as keyof typeof ERRNO_TABLE);
}

/** `errno("EBUSY") === 16`. */
export function errno(name: ErrnoName): number {
  return ERRNO_TABLE[canonical(name)].errno;
}

const BY_NUMBER = new Map<number, keyof typeof ERRNO_TABLE>(
  Object.entries(ERRNO_TABLE).map(([name, e]) => [e.errno, name as keyof typeof ERRNO_TABLE]),
);

/** The canonical name of an errno number (`errnoName(11) === "EAGAIN"`), or undefined. */
export function errnoName(n: number): keyof typeof ERRNO_TABLE | undefined {
  return BY_NUMBER.get(Math.abs(n));
}

/** The C library's message for an errno, as `strerror(3)` prints it. */
export function strerror(n: number): string {
  const name = errnoName(n);
  return name ? ERRNO_TABLE[name].message : `Unknown error ${n}`;
}

const SYS_ERROR_MARKER = Symbol.for("@vfio-lab/kernel/SysError");

/**
 * A failed kernel operation: what a syscall returns as -1/errno, and what an in-kernel function
 * returns as a negative errno. `fn` names the kernel function that refused (e.g.
 * `vfio_group_ioctl_set_container`), so a reader can open Linux at the same place.
 */
export class SysError extends Error {
  readonly [SYS_ERROR_MARKER] = true;
  /** The positive errno number (`16`). */
  readonly errno: number;
  /** The errno name (`"EBUSY"`). */
  readonly code: keyof typeof ERRNO_TABLE;
  /** The kernel function that refused. */
  readonly fn: string;

  constructor(code: ErrnoName, fn: string, detail?: string) {
    const name = canonical(code);
    const { errno: n, message } = ERRNO_TABLE[name];
    super(`${fn}: ${name} (${message})${detail ? `: ${detail}` : ""}`);
    this.name = "SysError";
    this.errno = n;
    this.code = name;
    this.fn = fn;
  }

  /** The negative value a kernel function would return (`-16`). */
  get negative(): number {
    return -this.errno;
  }

  /** True for a `SysError` from any copy of this package. */
  static isInstance(value: unknown): value is SysError {
    return typeof value === "object" && value !== null && SYS_ERROR_MARKER in value;
  }

  /** A `SysError` from a negative errno number returned by a kernel-style function. */
  static fromNegative(value: number, fn: string, detail?: string): SysError {
    const name = errnoName(value);
    if (!name) throw new RangeError(`${fn}: ${value} is not an errno`);
    return new SysError(name, fn, detail);
  }
}
