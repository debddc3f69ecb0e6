/**
 * SMMUv3 in-memory structures as field tables: Stream Table Entries, Context Descriptors,
 * VMSAv8-64 translation table descriptors, command-queue entries and event records.
 *
 * Bit positions follow the Arm SMMUv3 architecture (IHI 0070, §5.2 STE, §5.4 CD, §4 commands,
 * §7.3 event records) and the ARMv8-A VMSAv8-64 descriptor formats, cross-checked against the
 * field masks Linux uses (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h). Every structure is
 * little-endian; a bit number is counted from bit 0 of byte 0 across the whole structure, so
 * "dword 1 bit 4" is bit 68.
 *
 * The same tables drive the device model (decoding what software wrote into RAM) and the pure
 * encoders exported for the kernel driver and the tests, so a field is never positioned twice.
 * Values are JS numbers: exact up to 2^53, enough for 52-bit physical addresses.
 *
 * Caveat: only the fields the model or a stage-1 driver uses are listed; stage-2 fields are
 * present for the encoders but the device refuses stage-2 configurations.
 */

/** One field of a structure. */
export interface BitField<N extends string = string> {
  readonly name: N;
  /** Position of the field's lowest bit within the structure. */
  readonly bit: number;
  /** Width in bits (at most 53). */
  readonly width: number;
  /**
   * For an address field: the field holds value bits [shift + width - 1 : shift] in place, and
   * the value's bits below `shift` must be zero (an alignment requirement).
   */
  readonly shift: number;
}

export type FieldTable<N extends string> = { readonly [K in N]: BitField<K> };

/** Values to encode: booleans count as 0/1, absent fields are zero. */
export type FieldValues<N extends string> = { readonly [K in N]?: number | boolean };

/** Builds a table from `name: [bit, width, shift?]` entries. */
export function defineFields<N extends string>(
  spec: {
    readonly [K in N]: readonly [bit: number, width: number, shift?: number];
  },
): FieldTable<N> {
  const out: Record<string, BitField> = {};
  for (const name of Object.keys(spec) as N[]) {
    const [bit, width, shift = 0] = spec[name];
    out[name] = { name, bit, width, shift };
  }
  return out as FieldTable<N>;
}

const POW2 = Array.from({ length: 65 }, (_, i) => 2 ** i);

/** Reads `width` bits at `bit` from little-endian 32-bit words (exact up to 53 bits). */
export function extractBits(words: ArrayLike<number>, bit: number, width: number): number {
  let result = 0;
  let scale = 1;
  while (width > 0) {
    const w = bit >>> 5;
    const off = bit & 31;
    const n = Math.min(32 - off, width);
    const word = words[w] ?? 0;
    const chunk = n === 32 ? word >>> 0 : (word >>> off) & ((1 << n) - 1);
    result += chunk * scale;
    scale *= POW2[n]!;
    bit += n;
    width -= n;
  }
  return result;
}

/** Writes `value` (a non-negative integer that fits) into `width` bits at `bit`. */
export function insertBits(words: Uint32Array, bit: number, width: number, value: number): void {
  while (width > 0) {
    const w = bit >>> 5;
    const off = bit & 31;
    const n = Math.min(32 - off, width);
    const chunk = value % POW2[n]!;
    const mask = n === 32 ? 0xffffffff : ((1 << n) - 1) << off;
    words[w] = ((words[w]! & ~mask) | (chunk * POW2[off]!)) >>> 0;
    value = Math.floor(value / POW2[n]!);
    bit += n;
    width -= n;
  }
}

/** Reads one field; an address field comes back as the address (low bits zero). */
export function readField(words: ArrayLike<number>, field: BitField): number {
  const raw = extractBits(words, field.bit, field.width);
  return field.shift === 0 ? raw : raw * POW2[field.shift]!;
}

/** Encodes a structure of `size` bytes; throws RangeError for a value that does not fit. */
export function encodeFields<N extends string>(
  table: FieldTable<N>,
  size: number,
  values: FieldValues<N>,
): Uint8Array {
  const words = new Uint32Array(size / 4);
  for (const name of Object.keys(values) as N[]) {
    const field = (table as Record<string, BitField | undefined>)[name];
    if (!field) throw new RangeError(`unknown field ${name}`);
    const given: number | boolean | undefined = values[name];
    if (given === undefined) continue;
    const v = typeof given === "boolean" ? Number(given) : given;
    const scale = POW2[field.shift]!;
    if (!Number.isSafeInteger(v) || v < 0 || v % scale !== 0 || v / scale >= POW2[field.width]!) {
      throw new RangeError(
        `${name} = ${v} does not fit ${field.width} bits` +
          (field.shift ? ` aligned to 2^${field.shift}` : ""),
      );
    }
    insertBits(words, field.bit, field.width, v / scale);
  }
  return new Uint8Array(words.buffer);
}

/** Decodes every field of `table` from the structure's bytes. */
export function decodeFields<N extends string>(
  table: FieldTable<N>,
  bytes: Uint8Array,
): Record<N, number> {
  const words = bytesToWords(bytes);
  const out = {} as Record<N, number>;
  for (const name of Object.keys(table) as N[]) out[name] = readField(words, table[name]);
  return out;
}

/** The bytes as little-endian 32-bit words (copied, so any alignment is fine). */
export function bytesToWords(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(bytes.length / 4));
  for (let i = 0; i < bytes.length; i++) words[i >>> 2]! |= bytes[i]! << (8 * (i & 3));
  return words;
}

// ---------------------------------------------------------------------------------------------
// Stream Table Entry (§5.2), 64 bytes

export const STE_SIZE = 64;

export const STE_FIELDS = defineFields({
  V: [0, 1],
  Config: [1, 3],
  S1Fmt: [4, 2],
  S1ContextPtr: [6, 46, 6],
  S1CDMax: [59, 5],
  S1DSS: [64, 2],
  S1CIR: [66, 2],
  S1COR: [68, 2],
  S1CSH: [70, 2],
  S1STALLD: [91, 1],
  EATS: [92, 2],
  STRW: [94, 2],
  SHCFG: [108, 2],
  S2VMID: [128, 16],
  S2T0SZ: [160, 6],
  S2SL0: [166, 2],
  S2IR0: [168, 2],
  S2OR0: [170, 2],
  S2SH0: [172, 2],
  S2TG: [174, 2],
  S2PS: [176, 3],
  S2AA64: [179, 1],
  S2ENDI: [180, 1],
  S2PTW: [182, 1],
  S2S: [185, 1],
  S2R: [186, 1],
  S2TTB: [196, 48, 4],
});
export type SteField = keyof typeof STE_FIELDS;

/** STE.Config: 0b000 abort, 0b100 bypass, 0b101 stage 1, 0b110 stage 2, 0b111 nested. */
export const STE_CONFIG_ABORT = 0b000;
export const STE_CONFIG_BYPASS = 0b100;
export const STE_CONFIG_S1_TRANS = 0b101;
export const STE_CONFIG_S2_TRANS = 0b110;
export const STE_CONFIG_NESTED = 0b111;
/** STE.SHCFG: use the incoming shareability (what Linux programs for bypass STEs). */
export const STE_SHCFG_INCOMING = 1;

export function encodeSte(values: FieldValues<SteField>): Uint8Array {
  return encodeFields(STE_FIELDS, STE_SIZE, values);
}

export function decodeSte(bytes: Uint8Array): Record<SteField, number> {
  return decodeFields(STE_FIELDS, bytes);
}

// ---------------------------------------------------------------------------------------------
// Context Descriptor (§5.4), 64 bytes

export const CD_SIZE = 64;

export const CD_FIELDS = defineFields({
  T0SZ: [0, 6],
  TG0: [6, 2],
  IR0: [8, 2],
  OR0: [10, 2],
  SH0: [12, 2],
  EPD0: [14, 1],
  ENDI: [15, 1],
  T1SZ: [16, 6],
  TG1: [22, 2],
  IR1: [24, 2],
  OR1: [26, 2],
  SH1: [28, 2],
  EPD1: [30, 1],
  V: [31, 1],
  IPS: [32, 3],
  AFFD: [35, 1],
  WXN: [36, 1],
  UWXN: [37, 1],
  TBI: [38, 2],
  PAN: [40, 1],
  AA64: [41, 1],
  HD: [42, 1],
  HA: [43, 1],
  S: [44, 1],
  R: [45, 1],
  A: [46, 1],
  ASET: [47, 1],
  ASID: [48, 16],
  NSCFG0: [64, 1],
  HAD0: [65, 1],
  TTB0: [68, 48, 4],
  NSCFG1: [128, 1],
  HAD1: [129, 1],
  TTB1: [132, 48, 4],
  MAIR0: [192, 32],
  MAIR1: [224, 32],
  AMAIR0: [256, 32],
  AMAIR1: [288, 32],
});
export type CdField = keyof typeof CD_FIELDS;

/** CD.TG0 encodings (TG1 uses a different one, as TCR_ELx does). */
export const CD_TG0_4K = 0b00;
export const CD_TG0_64K = 0b01;
export const CD_TG0_16K = 0b10;
export const CD_TG1_4K = 0b10;

/** CD.IPS / SMMU_IDR5.OAS code → address bits (codes 6 and 7 are 52 and 56 bits). */
export const ADDRESS_SIZE_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52, 56];

export function encodeCd(values: FieldValues<CdField>): Uint8Array {
  return encodeFields(CD_FIELDS, CD_SIZE, values);
}

export function decodeCd(bytes: Uint8Array): Record<CdField, number> {
  return decodeFields(CD_FIELDS, bytes);
}

// ---------------------------------------------------------------------------------------------
// VMSAv8-64 stage-1 translation table descriptors, 4 KiB granule (8 bytes each)

export const DESCRIPTOR_SIZE = 8;

export const TABLE_DESCRIPTOR_FIELDS = defineFields({
  Valid: [0, 1],
  Type: [1, 1],
  NextLevelTable: [12, 36, 12],
  PXNTable: [59, 1],
  XNTable: [60, 1],
  APTable: [61, 2],
  NSTable: [63, 1],
});
export type TableDescriptorField = keyof typeof TABLE_DESCRIPTOR_FIELDS;

/** Block (level 1/2) and page (level 3) descriptors share their attribute layout. */
export const LEAF_DESCRIPTOR_FIELDS = defineFields({
  Valid: [0, 1],
  Type: [1, 1],
  AttrIndx: [2, 3],
  NS: [5, 1],
  AP: [6, 2],
  SH: [8, 2],
  AF: [10, 1],
  nG: [11, 1],
  OutputAddress: [12, 36, 12],
  DBM: [51, 1],
  Contiguous: [52, 1],
  PXN: [53, 1],
  XN: [54, 1],
});
export type LeafDescriptorField = keyof typeof LEAF_DESCRIPTOR_FIELDS;
/** What a caller chooses in a block or page descriptor (Valid/Type/OutputAddress are set). */
export type LeafAttributes = FieldValues<
  Exclude<LeafDescriptorField, "Valid" | "Type" | "OutputAddress">
>;
export type TableAttributes = FieldValues<
  Exclude<TableDescriptorField, "Valid" | "Type" | "NextLevelTable">
>;

/** AP[2:1] = descriptor bits [7:6]: bit 7 set = read-only, bit 6 set = EL0 accessible. */
export const AP_RW = 0b00;
export const AP_RW_EL0 = 0b01;
export const AP_RO = 0b10;
export const AP_RO_EL0 = 0b11;
/** APTable[1] (bit 62): no write access at any later level. */
export const APTABLE_NO_WRITE = 0b10;

/** log2 of the span of one entry at each level of a 4 KiB-granule walk. */
export const LEVEL_SHIFT: readonly number[] = [39, 30, 21, 12];

export function encodeTableDescriptor(nextTable: number, attrs: TableAttributes = {}): Uint8Array {
  return encodeFields(TABLE_DESCRIPTOR_FIELDS, DESCRIPTOR_SIZE, {
    ...attrs,
    Valid: 1,
    Type: 1,
    NextLevelTable: nextTable,
  });
}

/** A level-1 (1 GiB) or level-2 (2 MiB) block. */
export function encodeBlockDescriptor(
  level: 1 | 2,
  outputAddress: number,
  attrs: LeafAttributes,
): Uint8Array {
  const span = 2 ** LEVEL_SHIFT[level]!;
  if (outputAddress % span !== 0) {
    throw new RangeError(`level ${level} block output 0x${outputAddress.toString(16)} not aligned`);
  }
  return encodeFields(LEAF_DESCRIPTOR_FIELDS, DESCRIPTOR_SIZE, {
    ...attrs,
    Valid: 1,
    Type: 0,
    OutputAddress: outputAddress,
  });
}

/** A level-3 (4 KiB) page. */
export function encodePageDescriptor(outputAddress: number, attrs: LeafAttributes): Uint8Array {
  return encodeFields(LEAF_DESCRIPTOR_FIELDS, DESCRIPTOR_SIZE, {
    ...attrs,
    Valid: 1,
    Type: 1,
    OutputAddress: outputAddress,
  });
}

export type DecodedDescriptor =
  | { readonly kind: "invalid" }
  | ({ readonly kind: "table" } & Record<TableDescriptorField, number>)
  | ({ readonly kind: "block" | "page" } & Record<LeafDescriptorField, number>);

/** Interprets a descriptor found at `level` of a 4 KiB-granule walk. */
export function decodeDescriptor(bytes: Uint8Array, level: 0 | 1 | 2 | 3): DecodedDescriptor {
  const valid = (bytes[0]! & 1) === 1;
  const type = (bytes[0]! >> 1) & 1;
  if (!valid) return { kind: "invalid" };
  if (type === 1 && level < 3)
    return { kind: "table", ...decodeFields(TABLE_DESCRIPTOR_FIELDS, bytes) };
  if (type === 1) return { kind: "page", ...decodeFields(LEAF_DESCRIPTOR_FIELDS, bytes) };
  if (level === 1 || level === 2)
    return { kind: "block", ...decodeFields(LEAF_DESCRIPTOR_FIELDS, bytes) };
  return { kind: "invalid" };
}

// ---------------------------------------------------------------------------------------------
// Command queue entries (§4), 16 bytes; opcode in byte 0

export const COMMAND_SIZE = 16;

export const CMDQ_OP = {
  CMD_PREFETCH_CONFIG: 0x01,
  CMD_PREFETCH_ADDR: 0x02,
  CMD_CFGI_STE: 0x03,
  /** Also CMD_CFGI_ALL: the same opcode with Range = 31. */
  CMD_CFGI_STE_RANGE: 0x04,
  CMD_CFGI_CD: 0x05,
  CMD_CFGI_CD_ALL: 0x06,
  CMD_TLBI_NH_ALL: 0x10,
  CMD_TLBI_NH_ASID: 0x11,
  CMD_TLBI_NH_VA: 0x12,
  CMD_TLBI_NH_VAA: 0x13,
  CMD_TLBI_EL3_ALL: 0x18,
  CMD_TLBI_EL3_VA: 0x1a,
  CMD_TLBI_EL2_ALL: 0x20,
  CMD_TLBI_EL2_ASID: 0x21,
  CMD_TLBI_EL2_VA: 0x22,
  CMD_TLBI_EL2_VAA: 0x23,
  CMD_TLBI_S12_VMALL: 0x28,
  CMD_TLBI_S2_IPA: 0x2a,
  CMD_TLBI_NSNH_ALL: 0x30,
  CMD_ATC_INV: 0x40,
  CMD_PRI_RESP: 0x41,
  CMD_RESUME: 0x44,
  CMD_STALL_TERM: 0x45,
  CMD_SYNC: 0x46,
} as const;
export type SmmuCommandName = keyof typeof CMDQ_OP;

/** Every command field; which of them an opcode uses is in `COMMAND_FORMATS`. */
export const COMMAND_FIELDS = defineFields({
  Opcode: [0, 8],
  SSec: [10, 1],
  SSV: [11, 1],
  SubstreamID: [12, 20],
  NUM: [12, 5],
  SCALE: [20, 5],
  CS: [12, 2],
  MSH: [22, 2],
  MSIAttr: [24, 4],
  StreamID: [32, 32],
  MSIData: [32, 32],
  VMID: [32, 16],
  ASID: [48, 16],
  Leaf: [64, 1],
  Range: [64, 5],
  Size: [64, 5],
  TTL: [72, 2],
  TG: [74, 2],
  MSIAddress: [66, 50, 2],
  Address: [76, 52, 12],
});
export type CommandField = keyof typeof COMMAND_FIELDS;

const VA_INVALIDATION = ["NUM", "SCALE", "VMID", "Leaf", "TTL", "TG", "Address"] as const;

/** The fields each command carries, per §4.2–4.7 (Opcode is implied). */
export const COMMAND_FORMATS: { readonly [K in SmmuCommandName]?: readonly CommandField[] } = {
  CMD_PREFETCH_CONFIG: ["SSec", "SSV", "SubstreamID", "StreamID"],
  CMD_PREFETCH_ADDR: ["SSec", "SSV", "SubstreamID", "StreamID", "Size", "Address"],
  CMD_CFGI_STE: ["SSec", "StreamID", "Leaf"],
  CMD_CFGI_STE_RANGE: ["SSec", "StreamID", "Range"],
  CMD_CFGI_CD: ["SSec", "SubstreamID", "StreamID", "Leaf"],
  CMD_CFGI_CD_ALL: ["SSec", "StreamID"],
  CMD_TLBI_NH_ALL: ["VMID"],
  CMD_TLBI_NH_ASID: ["VMID", "ASID"],
  CMD_TLBI_NH_VA: [...VA_INVALIDATION, "ASID"],
  CMD_TLBI_NH_VAA: VA_INVALIDATION,
  CMD_TLBI_EL2_ALL: [],
  CMD_TLBI_NSNH_ALL: [],
  CMD_SYNC: ["CS", "MSH", "MSIAttr", "MSIData", "MSIAddress"],
};

/** CMD_SYNC.CS: completion signal. */
export const CMD_SYNC_CS_NONE = 0;
export const CMD_SYNC_CS_IRQ = 1;
export const CMD_SYNC_CS_SEV = 2;

/** Name of an opcode, or undefined for one the architecture does not define. */
export function commandName(opcode: number): SmmuCommandName | undefined {
  for (const name of Object.keys(CMDQ_OP) as SmmuCommandName[]) {
    if (CMDQ_OP[name] === opcode) return name;
  }
  return undefined;
}

/**
 * Encodes a command. Only the fields of that command's format are accepted; a numeric opcode
 * without a format (an illegal or unmodelled command) encodes as a bare opcode byte.
 */
export function encodeCommand(
  command: SmmuCommandName | number,
  values: FieldValues<Exclude<CommandField, "Opcode">> = {},
): Uint8Array {
  const opcode = typeof command === "number" ? command : CMDQ_OP[command];
  const name = typeof command === "number" ? commandName(command) : command;
  const format = (name && COMMAND_FORMATS[name]) ?? [];
  for (const field of Object.keys(values)) {
    if (!format.includes(field as CommandField)) {
      throw new RangeError(`${name ?? `opcode 0x${opcode.toString(16)}`} has no field ${field}`);
    }
  }
  return encodeFields(COMMAND_FIELDS, COMMAND_SIZE, { ...values, Opcode: opcode });
}

// ---------------------------------------------------------------------------------------------
// Event records (§7.3), 32 bytes

export const EVENT_SIZE = 32;

export const EVENT_TYPES = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
} as const;
export type SmmuEventName = keyof typeof EVENT_TYPES;

export const EVENT_FIELDS = defineFields({
  EventType: [0, 8],
  SSV: [11, 1],
  SubstreamID: [12, 20],
  StreamID: [32, 32],
  STAG: [64, 16],
  Stall: [95, 1],
  PnU: [97, 1],
  InD: [98, 1],
  RnW: [99, 1],
  S2: [103, 1],
  CLASS: [104, 2],
  InputAddr: [128, 64],
  FetchAddr: [195, 53, 3],
});
export type EventField = keyof typeof EVENT_FIELDS;

/** Event CLASS: what the faulting access was doing. */
export const EVENT_CLASS_CD = 0b00;
export const EVENT_CLASS_TT = 0b01;
export const EVENT_CLASS_IN = 0b10;

export function eventName(type: number): SmmuEventName | undefined {
  for (const name of Object.keys(EVENT_TYPES) as SmmuEventName[]) {
    if (EVENT_TYPES[name] === type) return name;
  }
  return undefined;
}

export function encodeEvent(
  event: SmmuEventName,
  values: FieldValues<Exclude<EventField, "EventType">>,
): Uint8Array {
  return encodeFields(EVENT_FIELDS, EVENT_SIZE, { ...values, EventType: EVENT_TYPES[event] });
}

/** Decodes a 32-byte event record; `name` is undefined for a type the architecture lacks. */
export function decodeEvent(
  bytes: Uint8Array,
): Record<EventField, number> & { readonly name: SmmuEventName | undefined } {
  const f = decodeFields(EVENT_FIELDS, bytes);
  return { ...f, name: eventName(f.EventType) };
}
