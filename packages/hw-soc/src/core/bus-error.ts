/**
 * A bus error: the typed answer of the interconnect to an access nobody can complete.
 *
 * Hardware has no exceptions; an AXI slave answers SLVERR/DECERR and the master decides what to
 * do with it (the PL330 faults the channel, a CPU takes an external abort). The model returns or
 * throws a `BusError` so that every such answer is visible and nothing silently reads as zero.
 */

const BUS_ERROR_MARKER = Symbol.for("@vfio-lab/hw-soc/BusError");

/** Why the access failed. */
export type BusErrorReason =
  /** No RAM bank or MMIO window decodes the address (AXI DECERR). */
  | "unmapped"
  /** The device answered with an error (AXI SLVERR), e.g. a disallowed access size. */
  | "device"
  /** An IOMMU terminated the transaction (translation, permission or configuration fault). */
  | "iommu";

export interface BusErrorInit {
  readonly reason: BusErrorReason;
  /** The address the master issued (an IOVA when `reason` is `"iommu"`). */
  readonly address: number;
  readonly size: number;
  readonly write: boolean;
  /** Who issued the access (a device name or "cpu"). */
  readonly master?: string;
  readonly detail?: string;
}

export class BusError extends Error {
  readonly [BUS_ERROR_MARKER] = true;
  readonly reason: BusErrorReason;
  readonly address: number;
  readonly size: number;
  readonly write: boolean;
  readonly master: string;

  constructor(init: BusErrorInit) {
    const what = init.write ? "write" : "read";
    const where = `0x${init.address.toString(16)}`;
    super(
      `bus error (${init.reason}): ${what} of ${init.size} byte(s) at ${where}` +
        (init.master ? ` by ${init.master}` : "") +
        (init.detail ? `: ${init.detail}` : ""),
    );
    this.name = "BusError";
    this.reason = init.reason;
    this.address = init.address;
    this.size = init.size;
    this.write = init.write;
    this.master = init.master ?? "cpu";
  }

  /** True for a `BusError` from any copy of this package. */
  static isInstance(value: unknown): value is BusError {
    return typeof value === "object" && value !== null && BUS_ERROR_MARKER in value;
  }
}
