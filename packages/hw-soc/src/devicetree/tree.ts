/**
 * The in-memory device tree: what both the DTS parser and the FDT decoder produce, and what the
 * FDT encoder and `Soc.fromDeviceTree()` consume. Property values are kept as the raw bytes of
 * the flattened format (big-endian cells, NUL-terminated strings), so a tree round-trips through
 * a DTB bit for bit; typed views are in `properties.ts`.
 *
 * @packageDocumentation
 */

export interface DtProperty {
  readonly name: string;
  /** The value exactly as stored in a DTB (empty for a boolean property such as `dma-coherent;`). */
  value: Uint8Array;
}

export interface DtNode {
  /** Node name with unit address, e.g. `pl061@9030000`; the root is "". */
  readonly name: string;
  readonly properties: DtProperty[];
  readonly children: DtNode[];
  /** DTS labels attached to the node (`gic: intc@8000000`). A DTB carries none. */
  readonly labels: string[];
}

export interface DtMemoryReservation {
  readonly address: bigint;
  readonly size: bigint;
}

export interface DeviceTree {
  readonly root: DtNode;
  readonly memoryReservations: DtMemoryReservation[];
  /** FDT header field `boot_cpuid_phys` (0 unless a DTB says otherwise). */
  readonly bootCpuidPhys: number;
}
