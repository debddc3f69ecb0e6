/**
 * ioctl request numbers, encoded as `include/uapi/asm-generic/ioctl.h` does (the generic scheme
 * arm64 uses): from the top, 2 direction bits, 14 size bits, 8 type bits, 8 number bits.
 *
 *   31 30 | 29 ........ 16 | 15 ..... 8 | 7 ...... 0
 *    dir  |      size      |    type    |     nr
 *
 * Requests are unsigned 32-bit JS numbers, as the `unsigned int cmd` a driver's `unlocked_ioctl`
 * receives. VFIO and IOMMUFD encode every request with `_IO` and carry the real size in the
 * struct's leading `argsz`/`size` field instead; the size bits matter for the drivers that use
 * `_IOR`/`_IOW` (the RTC class device, for one) and for anyone decoding a trace.
 *
 * Unlike the C macros, the encoders refuse an out-of-range field instead of silently spilling it
 * into the neighbouring bits: in the kernel an oversized `_IOR` type is a build error
 * (`_IOC_TYPECHECK`), here it is a `RangeError` when the table is built.
 *
 * @packageDocumentation
 */

export const _IOC_NRBITS = 8;
export const _IOC_TYPEBITS = 8;
export const _IOC_SIZEBITS = 14;
export const _IOC_DIRBITS = 2;

export const _IOC_NRMASK = (1 << _IOC_NRBITS) - 1;
export const _IOC_TYPEMASK = (1 << _IOC_TYPEBITS) - 1;
export const _IOC_SIZEMASK = (1 << _IOC_SIZEBITS) - 1;
export const _IOC_DIRMASK = (1 << _IOC_DIRBITS) - 1;

export const _IOC_NRSHIFT = 0;
export const _IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS;
export const _IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS;
export const _IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS;

/** No data transfer. */
export const _IOC_NONE = 0;
/** User space writes, the kernel reads (`copy_from_user`). */
export const _IOC_WRITE = 1;
/** User space reads, the kernel writes (`copy_to_user`). */
export const _IOC_READ = 2;

/** An ioctl "magic": a character as C writes it (`';'` for VFIO and IOMMUFD) or its code. */
export type IoctlType = string | number;

/** Anything with a `sizeof`: a byte count or a struct layout. */
export type IoctlSize = number | { readonly size: number };

function field(value: number, mask: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > mask) {
    throw new RangeError(`ioctl ${what} ${value} is outside 0..${mask}`);
  }
  return value;
}

function typeCode(type: IoctlType): number {
  if (typeof type === "number") return field(type, _IOC_TYPEMASK, "type");
  if (type.length !== 1) throw new RangeError(`ioctl type ${JSON.stringify(type)} is not one char`);
  return field(type.charCodeAt(0), _IOC_TYPEMASK, "type");
}

function sizeOf(size: IoctlSize): number {
  return field(typeof size === "number" ? size : size.size, _IOC_SIZEMASK, "size");
}

/** `_IOC(dir, type, nr, size)`: the raw encoder. */
export function _IOC(dir: number, type: IoctlType, nr: number, size: number): number {
  return (
    ((field(dir, _IOC_DIRMASK, "dir") << _IOC_DIRSHIFT) |
      (typeCode(type) << _IOC_TYPESHIFT) |
      (field(nr, _IOC_NRMASK, "nr") << _IOC_NRSHIFT) |
      (field(size, _IOC_SIZEMASK, "size") << _IOC_SIZESHIFT)) >>>
    0
  );
}

/** `_IO(type, nr)`: no argument struct encoded in the request. */
export function _IO(type: IoctlType, nr: number): number {
  return _IOC(_IOC_NONE, type, nr, 0);
}

/** `_IOR(type, nr, T)`: the kernel writes a `T` back to user space. */
export function _IOR(type: IoctlType, nr: number, size: IoctlSize): number {
  return _IOC(_IOC_READ, type, nr, sizeOf(size));
}

/** `_IOW(type, nr, T)`: the kernel reads a `T` from user space. */
export function _IOW(type: IoctlType, nr: number, size: IoctlSize): number {
  return _IOC(_IOC_WRITE, type, nr, sizeOf(size));
}

/** `_IOWR(type, nr, T)`: both. */
export function _IOWR(type: IoctlType, nr: number, size: IoctlSize): number {
  return _IOC(_IOC_READ | _IOC_WRITE, type, nr, sizeOf(size));
}

/** `_IOC_DIR(request)`. */
export function _IOC_DIR(request: number): number {
  return (request >>> _IOC_DIRSHIFT) & _IOC_DIRMASK;
}

/** `_IOC_TYPE(request)`. */
export function _IOC_TYPE(request: number): number {
  return (request >>> _IOC_TYPESHIFT) & _IOC_TYPEMASK;
}

/** `_IOC_NR(request)`. */
export function _IOC_NR(request: number): number {
  return (request >>> _IOC_NRSHIFT) & _IOC_NRMASK;
}

/** `_IOC_SIZE(request)`. */
export function _IOC_SIZE(request: number): number {
  return (request >>> _IOC_SIZESHIFT) & _IOC_SIZEMASK;
}

const DIR_MACRO = ["_IO", "_IOW", "_IOR", "_IOWR"] as const;

/**
 * The request as its C definition would read, for traces and error messages:
 * `_IO(';', 0x64)`, `_IOR('p', 0x09, 36)`.
 */
export function formatIoctl(request: number): string {
  const dir = _IOC_DIR(request);
  const type = _IOC_TYPE(request);
  const printable = type >= 0x20 && type < 0x7f && type !== 0x27 && type !== 0x5c;
  const typeText = printable ? `'${String.fromCharCode(type)}'` : `0x${type.toString(16)}`;
  const nr = `0x${_IOC_NR(request).toString(16)}`;
  const size = _IOC_SIZE(request);
  if (dir === _IOC_NONE) {
    // _IO() has no size argument; a sized no-direction request only _IOC() can spell.
    return size === 0 ? `_IO(${typeText}, ${nr})` : `_IOC(_IOC_NONE, ${typeText}, ${nr}, ${size})`;
  }
  return `${DIR_MACRO[dir]}(${typeText}, ${nr}, ${size})`;
}
