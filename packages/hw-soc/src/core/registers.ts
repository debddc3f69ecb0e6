/**
 * Declarative register maps.
 *
 * A device lists its registers once — name, offset, access, reset value, and for banks a count
 * and stride — and everything else is derived from that table: offset decoding, reset, the
 * "reset values of every register" tests and the docs. Device code then switches on the decoded
 * register name, as QEMU models switch on offsets, but with the offsets written in one place.
 *
 * @packageDocumentation
 */

export type RegisterAccess =
  /** Read/write. */
  | "rw"
  /** Read-only: writes are guest errors. */
  | "ro"
  /** Write-only: reads are guest errors and return 0. */
  | "wo";

export interface RegisterSpec<N extends string = string> {
  readonly name: N;
  readonly offset: number;
  readonly access: RegisterAccess;
  /** Value after reset (and what a read returns before any write); defaults to 0. */
  readonly reset?: number;
  /** For a bank of identical registers: how many, and the byte distance between them. */
  readonly count?: number;
  readonly stride?: number;
  /** Register width in bytes; 4 unless stated. */
  readonly width?: 1 | 4;
  /** One line from the TRM: what the register is for. */
  readonly doc?: string;
}

export interface DecodedRegister<N extends string> {
  readonly spec: RegisterSpec<N>;
  /** Index within a bank (0 for a single register). */
  readonly index: number;
  /** Byte offset inside the register (for sub-word accesses). */
  readonly byte: number;
}

export class RegisterMap<N extends string> {
  private readonly byOffset = new Map<number, DecodedRegister<N>>();

  constructor(readonly specs: readonly RegisterSpec<N>[]) {
    for (const spec of specs) {
      const count = spec.count ?? 1;
      const stride = spec.stride ?? spec.width ?? 4;
      const width = spec.width ?? 4;
      for (let index = 0; index < count; index++) {
        const base = spec.offset + index * stride;
        for (let byte = 0; byte < width; byte++) {
          const at = base + byte;
          const clash = this.byOffset.get(at);
          if (clash) {
            throw new Error(
              `register map: ${spec.name}[${index}] at 0x${at.toString(16)} overlaps ${clash.spec.name}`,
            );
          }
          this.byOffset.set(at, { spec, index, byte });
        }
      }
    }
  }

  /** The register at `offset`, or undefined for a hole in the map. */
  decode(offset: number): DecodedRegister<N> | undefined {
    return this.byOffset.get(offset);
  }

  /** Every (name, index, offset, reset) the table declares, banks expanded. */
  *entries(): IterableIterator<{ name: N; index: number; offset: number; spec: RegisterSpec<N> }> {
    for (const spec of this.specs) {
      const count = spec.count ?? 1;
      const stride = spec.stride ?? spec.width ?? 4;
      for (let index = 0; index < count; index++) {
        yield { name: spec.name, index, offset: spec.offset + index * stride, spec };
      }
    }
  }
}

/** The AMBA PrimeCell / CoreLink ID block: one byte per word at 0xFE0–0xFFC. */
export const AMBA_CID = 0xb105f00d;

export type PrimeCellIdName =
  | "PeriphID0"
  | "PeriphID1"
  | "PeriphID2"
  | "PeriphID3"
  | "PCellID0"
  | "PCellID1"
  | "PCellID2"
  | "PCellID3";

/**
 * Register specs for the ID block of a PrimeCell with peripheral ID bytes `pid` (PeriphID0
 * first) and cell ID `cid` (0xB105F00D for every AMBA PrimeCell).
 */
export function primeCellIdRegisters(
  pid: readonly [number, number, number, number],
  cid = AMBA_CID,
): RegisterSpec<PrimeCellIdName>[] {
  const names = ["PeriphID0", "PeriphID1", "PeriphID2", "PeriphID3"] as const;
  const cells = ["PCellID0", "PCellID1", "PCellID2", "PCellID3"] as const;
  return [
    ...names.map((name, i) => ({
      name,
      offset: 0xfe0 + 4 * i,
      access: "ro" as const,
      reset: pid[i]!,
      doc: "Peripheral identification",
    })),
    ...cells.map((name, i) => ({
      name,
      offset: 0xff0 + 4 * i,
      access: "ro" as const,
      reset: (cid >>> (8 * i)) & 0xff,
      doc: "PrimeCell identification",
    })),
  ];
}
