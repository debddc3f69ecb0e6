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

/** The exponents of the set bits of a page-size bitmap (< 2^53), ascending. */
export function pgsizeExponents(bitmap: number): number[] {
  const out: number[] = [];
  for (let e = 0; e < 53 && 2 ** e <= bitmap; e++) {
    if (Math.floor(bitmap / 2 ** e) % 2 === 1) out.push(e);
  }
  return out;
}

/** __ffs(): the index of the lowest set bit of a positive integer below 2^53. */
export function ffs(n: number): number {
  let e = 0;
  while (n % 2 ** (e + 1) === 0) e++;
  return e;
}
