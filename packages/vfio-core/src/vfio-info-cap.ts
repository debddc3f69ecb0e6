/**
 * Capability chains of the VFIO INFO ioctls (drivers/vfio/vfio_main.c: vfio_info_cap_add(),
 * vfio_info_cap_shift(), vfio_info_add_capability()).
 *
 * A chain is built in a kernel buffer: each capability starts with `struct vfio_info_cap_header`
 * (id u16, version u16, next u32) and is padded to 8 bytes; `next` is the offset of the
 * following one from the start of the buffer, 0 at the end. Before copying it behind the fixed
 * INFO struct the caller shifts every `next` by that struct's size, so user space reads offsets
 * from the start of its own buffer.
 *
 * Caveat: krealloc()'s ENOMEM is not modelled: the buffer grows without failing.
 */

/** The header every capability starts with (`struct vfio_info_cap_header`). */
export const VFIO_INFO_CAP_HEADER_SIZE = 8;

/** `struct vfio_info_cap`: the chain being built. */
export class VfioInfoCap {
  buf = new Uint8Array(0);
  size = 0;

  /** A view on the chain, for filling in a capability's body. */
  view(): DataView {
    return new DataView(this.buf.buffer, this.buf.byteOffset, this.size);
  }

  /** The chain's bytes as they are copied to user space. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }
}

/**
 * vfio_main.c: vfio_info_cap_add() — appends a zeroed capability of `size` bytes (rounded up to
 * 8) with its header filled in, links it at the end of the chain, and returns its offset in
 * `caps.buf`.
 */
export function vfioInfoCapAdd(
  caps: VfioInfoCap,
  size: number,
  id: number,
  version: number,
): number {
  const padded = Math.ceil(size / 8) * 8;
  const at = caps.size;
  const grown = new Uint8Array(at + padded);
  grown.set(caps.buf.subarray(0, at));
  caps.buf = grown;
  caps.size = at + padded;
  const v = caps.view();
  v.setUint16(at, id, true);
  v.setUint16(at + 2, version, true);
  // Walk to the last header (the chain is based at offset 0) and link the new one behind it.
  if (at !== 0) {
    let tail = 0;
    for (let next = v.getUint32(4, true); next !== 0; next = v.getUint32(tail + 4, true)) {
      tail = next;
    }
    v.setUint32(tail + 4, at, true);
  }
  return at;
}

/**
 * vfio_main.c: vfio_info_cap_shift() — rebases every `next` by `offset` (the size of the fixed
 * INFO struct the chain is copied behind). `offset` must be 8-aligned, as the kernel WARNs.
 */
export function vfioInfoCapShift(caps: VfioInfoCap, offset: number): void {
  if (caps.size === 0) return;
  const v = caps.view();
  for (let at = 0; ; ) {
    const next = v.getUint32(at + 4, true);
    if (next === 0) return;
    v.setUint32(at + 4, next + offset, true);
    at = next;
  }
}

/**
 * vfio_main.c: vfio_info_add_capability() — appends a capability whose header and body the
 * caller already encoded (`cap`: header included, `cap.length` bytes).
 */
export function vfioInfoAddCapability(caps: VfioInfoCap, cap: Uint8Array): void {
  const id = cap[0]! | (cap[1]! << 8);
  const version = cap[2]! | (cap[3]! << 8);
  const at = vfioInfoCapAdd(caps, cap.length, id, version);
  caps.buf.set(cap.subarray(VFIO_INFO_CAP_HEADER_SIZE), at + VFIO_INFO_CAP_HEADER_SIZE);
}
