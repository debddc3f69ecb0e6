/**
 * Small formatting and bit helpers the IOMMU code shares (the kernel's printf `%#x` and
 * `0x%016llx`, __ffs() and the page-size bitmap walk) for values below 2^53.
 */

/** `0x%016llx` of a (non-negative, < 2^53) number. */
export function hex16(n: number): string {
  return `0x${n.toString(16).padStart(16, "0")}`;
}

/** printf `%#x` / `%#llx`: "0" for zero, "0x…" otherwise. */
export function altHex(n: number | bigint): string {
  return n === 0 || n === 0n ? "0" : `0x${n.toString(16)}`;
}

/** Exponent lists by bitmap: a domain's bitmap never changes and every map/unmap asks. */
const exponentsOf = new Map<number, readonly number[]>();

/** The exponents of the set bits of a page-size bitmap (< 2^53), ascending. */
export function pgsizeExponents(bitmap: number): readonly number[] {
  let out = exponentsOf.get(bitmap);
  if (out === undefined) {
    const list: number[] = [];
    for (let e = 0; e < 53 && 2 ** e <= bitmap; e++) {
      if (Math.floor(bitmap / 2 ** e) % 2 === 1) list.push(e);
    }
    out = Object.freeze(list);
    exponentsOf.set(bitmap, out);
  }
  return out;
}

/** __ffs(): the index of the lowest set bit of a positive integer below 2^53. */
export function ffs(n: number): number {
  // The low 32 bits first (n >>> 0 is n mod 2^32 for any safe integer), then the high ones.
  const lo = n >>> 0;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(n / 0x1_0000_0000) >>> 0;
  return 32 + 31 - Math.clz32(hi & -hi);
}
