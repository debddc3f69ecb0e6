/**
 * The PL330 (CoreLink DMA-330) instruction set: one opcode table from which the decoder, the
 * instruction sizes and the disassembler are derived, plus the channel control register (CCR)
 * layout and the fault-type bits.
 *
 * Source: ARM PrimeCell DMA Controller (PL330) TRM r1p1, chapter 4 "Instruction Set" and
 * section 3.3 (FTRD/FTRn, CCRn). Encodings cross-checked against QEMU `hw/dma/pl330.c`
 * (`insn_desc`) and Linux `drivers/dma/pl330.c` (`_emit_*`).
 *
 * Caveat: DMAADNH is decoded (TRM r1p1 has it, QEMU does not); the reserved condition encoding
 * `bs,x = 1,0` of DMALD/DMAST/DMALPEND and DMAWFP `0x33` decode as undefined instructions, where
 * QEMU raises operand_invalid instead.
 */

/** Mnemonic families; S/B/P suffixes live in the decoded instruction's `cond`. */
export type Pl330Op =
  | "DMAADDH"
  | "DMAADNH"
  | "DMAEND"
  | "DMAFLUSHP"
  | "DMAGO"
  | "DMAKILL"
  | "DMALD"
  | "DMALDP"
  | "DMALP"
  | "DMALPEND"
  | "DMAMOV"
  | "DMANOP"
  | "DMARMB"
  | "DMASEV"
  | "DMAST"
  | "DMASTP"
  | "DMASTZ"
  | "DMAWFE"
  | "DMAWFP"
  | "DMAWMB";

/** The `[S|B]` suffix: "always" executes unconditionally, the others only in that request mode. */
export type Pl330Cond = "always" | "single" | "burst";

/**
 * A decoded instruction. `operand` is the raw second byte where the TRM reserves some of its
 * bits (event, peripheral, channel, register number): the executing thread checks them and
 * faults with operand_invalid, so the decoder stays total.
 */
export type Pl330Insn =
  | {
      readonly op: "DMAADDH" | "DMAADNH";
      readonly size: 3;
      readonly toDar: boolean;
      readonly imm: number;
    }
  | {
      readonly op: "DMAEND" | "DMAKILL" | "DMANOP" | "DMARMB" | "DMAWMB" | "DMASTZ";
      readonly size: 1;
    }
  | { readonly op: "DMALD" | "DMAST"; readonly size: 1; readonly cond: Pl330Cond }
  | {
      readonly op: "DMALDP" | "DMASTP";
      readonly size: 2;
      readonly cond: "single" | "burst";
      readonly operand: number;
    }
  | { readonly op: "DMAFLUSHP" | "DMASEV" | "DMAWFE"; readonly size: 2; readonly operand: number }
  | {
      readonly op: "DMAWFP";
      readonly size: 2;
      readonly cond: "single" | "burst" | "periph";
      readonly operand: number;
    }
  | { readonly op: "DMALP"; readonly size: 2; readonly lc: 0 | 1; readonly count: number }
  | {
      readonly op: "DMALPEND";
      readonly size: 2;
      readonly lc: 0 | 1;
      /** DMALPFE: no loop counter, always jumps back. */
      readonly forever: boolean;
      readonly cond: Pl330Cond;
      /** Backward distance from this instruction to the first instruction of the body. */
      readonly jump: number;
    }
  | { readonly op: "DMAMOV"; readonly size: 6; readonly operand: number; readonly imm: number }
  | {
      readonly op: "DMAGO";
      readonly size: 6;
      readonly ns: boolean;
      readonly operand: number;
      readonly imm: number;
    };

interface OpcodeRow {
  readonly op: Pl330Op;
  readonly match: number;
  readonly mask: number;
  readonly size: 1 | 2 | 3 | 6;
  /** Bits [1:0] are `bs,x`: 00 always, 01 single, 11 burst, 10 reserved (undefined). */
  readonly condBits?: true;
}

/**
 * Every encoding, first match wins. DMASTP (0x29/0x2B) must come before DMALPEND, whose mask
 * (`op & 0xE8 == 0x28`) also covers it: the TRM gives DMALPFE no S/B form with lc = 0.
 */
export const PL330_OPCODES: readonly OpcodeRow[] = [
  { op: "DMAADDH", match: 0x54, mask: 0xfd, size: 3 },
  { op: "DMAADNH", match: 0x5c, mask: 0xfd, size: 3 },
  { op: "DMAEND", match: 0x00, mask: 0xff, size: 1 },
  { op: "DMAFLUSHP", match: 0x35, mask: 0xff, size: 2 },
  { op: "DMAGO", match: 0xa0, mask: 0xfd, size: 6 },
  { op: "DMAKILL", match: 0x01, mask: 0xff, size: 1 },
  { op: "DMALD", match: 0x04, mask: 0xfc, size: 1, condBits: true },
  { op: "DMALDP", match: 0x25, mask: 0xfd, size: 2 },
  { op: "DMALP", match: 0x20, mask: 0xfd, size: 2 },
  { op: "DMASTP", match: 0x29, mask: 0xfd, size: 2 },
  { op: "DMALPEND", match: 0x28, mask: 0xe8, size: 2, condBits: true },
  { op: "DMAMOV", match: 0xbc, mask: 0xff, size: 6 },
  { op: "DMANOP", match: 0x18, mask: 0xff, size: 1 },
  { op: "DMARMB", match: 0x12, mask: 0xff, size: 1 },
  { op: "DMASEV", match: 0x34, mask: 0xff, size: 2 },
  { op: "DMAST", match: 0x08, mask: 0xfc, size: 1, condBits: true },
  { op: "DMASTZ", match: 0x0c, mask: 0xff, size: 1 },
  { op: "DMAWFE", match: 0x36, mask: 0xff, size: 2 },
  { op: "DMAWFP", match: 0x30, mask: 0xfc, size: 2 },
  { op: "DMAWMB", match: 0x13, mask: 0xff, size: 1 },
];

/** Opcode byte → row, derived once from the table (undefined: no instruction). */
const BY_OPCODE: readonly (OpcodeRow | undefined)[] = Array.from({ length: 256 }, (_, byte) => {
  const row = PL330_OPCODES.find((r) => (byte & r.mask) === r.match);
  if (!row) return undefined;
  if (row.condBits && (byte & 3) === 2) return undefined;
  if (row.op === "DMAWFP" && (byte & 3) === 3) return undefined;
  return row;
});

/** The mnemonic family of an opcode byte, or undefined for an undefined instruction. */
export function pl330OpOf(opcode: number): Pl330Op | undefined {
  return BY_OPCODE[opcode & 0xff]?.op;
}

/** Length in bytes of the instruction starting with `opcode`, or undefined if undefined. */
export function pl330InsnSize(opcode: number): 1 | 2 | 3 | 6 | undefined {
  return BY_OPCODE[opcode & 0xff]?.size;
}

function condOf(byte: number): Pl330Cond {
  return (byte & 1) === 0 ? "always" : byte & 2 ? "burst" : "single";
}

const u16 = (b: ArrayLike<number>, i: number) => (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8);
const u32 = (b: ArrayLike<number>, i: number) =>
  ((b[i] ?? 0) | ((b[i + 1] ?? 0) << 8) | ((b[i + 2] ?? 0) << 16) | ((b[i + 3] ?? 0) << 24)) >>> 0;

/**
 * Decodes the instruction at `bytes[at]`. Returns undefined for an undefined opcode or when
 * fewer bytes than the instruction's size are available.
 */
export function decodePl330(bytes: ArrayLike<number>, at = 0): Pl330Insn | undefined {
  const b0 = bytes[at];
  if (b0 === undefined) return undefined;
  const row = BY_OPCODE[b0 & 0xff];
  if (!row || at + row.size > bytes.length) return undefined;
  const b1 = bytes[at + 1] ?? 0;
  switch (row.op) {
    case "DMAADDH":
    case "DMAADNH":
      return { op: row.op, size: 3, toDar: (b0 & 2) !== 0, imm: u16(bytes, at + 1) };
    case "DMAEND":
    case "DMAKILL":
    case "DMANOP":
    case "DMARMB":
    case "DMAWMB":
    case "DMASTZ":
      return { op: row.op, size: 1 };
    case "DMALD":
    case "DMAST":
      return { op: row.op, size: 1, cond: condOf(b0) };
    case "DMALDP":
    case "DMASTP":
      return { op: row.op, size: 2, cond: b0 & 2 ? "burst" : "single", operand: b1 };
    case "DMAFLUSHP":
    case "DMASEV":
    case "DMAWFE":
      return { op: row.op, size: 2, operand: b1 };
    case "DMAWFP":
      return {
        op: "DMAWFP",
        size: 2,
        cond: (b0 & 3) === 0 ? "single" : (b0 & 3) === 1 ? "periph" : "burst",
        operand: b1,
      };
    case "DMALP":
      return { op: "DMALP", size: 2, lc: b0 & 2 ? 1 : 0, count: b1 };
    case "DMALPEND":
      return {
        op: "DMALPEND",
        size: 2,
        lc: b0 & 4 ? 1 : 0,
        forever: (b0 & 0x10) === 0,
        cond: condOf(b0),
        jump: b1,
      };
    case "DMAMOV":
      return { op: "DMAMOV", size: 6, operand: b1, imm: u32(bytes, at + 2) };
    case "DMAGO":
      return { op: "DMAGO", size: 6, ns: (b0 & 2) !== 0, operand: b1, imm: u32(bytes, at + 2) };
  }
}

const hex = (v: number, digits = 1) => `0x${v.toString(16).padStart(digits, "0")}`;
const suffix = (c: Pl330Cond | "periph") =>
  c === "always" ? "" : c === "single" ? "S" : c === "burst" ? "B" : "P";

/** One instruction in the TRM's assembler syntax, e.g. `DMAMOV CCR, 0x003d40f5`. */
export function formatPl330Insn(insn: Pl330Insn): string {
  switch (insn.op) {
    case "DMAADDH":
    case "DMAADNH":
      return `${insn.op} ${insn.toDar ? "DAR" : "SAR"}, ${hex(insn.imm, 4)}`;
    case "DMAEND":
    case "DMAKILL":
    case "DMANOP":
    case "DMARMB":
    case "DMAWMB":
    case "DMASTZ":
      return insn.op;
    case "DMALD":
    case "DMAST":
      return insn.op + suffix(insn.cond);
    case "DMALDP":
    case "DMASTP":
      return `${insn.op}${suffix(insn.cond)} P${insn.operand >> 3}`;
    case "DMAFLUSHP":
      return `DMAFLUSHP P${insn.operand >> 3}`;
    case "DMASEV":
      return `DMASEV E${insn.operand >> 3}`;
    case "DMAWFE":
      return `DMAWFE E${insn.operand >> 3}${insn.operand & 2 ? ", invalid" : ""}`;
    case "DMAWFP":
      return `DMAWFP P${insn.operand >> 3}, ${insn.cond}`;
    case "DMALP":
      return `DMALP LC${insn.lc}, ${insn.count + 1}`;
    case "DMALPEND":
      return insn.forever
        ? `DMALPFE${suffix(insn.cond)} -${insn.jump}`
        : `DMALPEND${suffix(insn.cond)} LC${insn.lc}, -${insn.jump}`;
    case "DMAMOV": {
      const reg = ["SAR", "CCR", "DAR"][insn.operand] ?? `?${insn.operand}`;
      return `DMAMOV ${reg}, ${hex(insn.imm, 8)}`;
    }
    case "DMAGO":
      return `DMAGO C${insn.operand & 7}, ${hex(insn.imm, 8)}${insn.ns ? ", ns" : ""}`;
  }
}

/** A listing of a whole program, one `offset: bytes  mnemonic` line per instruction. */
export function disassemblePl330(program: Uint8Array, origin = 0): string[] {
  const lines: string[] = [];
  let at = 0;
  while (at < program.length) {
    const insn = decodePl330(program, at);
    const size = insn?.size ?? 1;
    const raw = [...program.subarray(at, at + size)].map((b) => b.toString(16).padStart(2, "0"));
    const text = insn ? formatPl330Insn(insn) : "(undefined)";
    lines.push(
      `${(origin + at).toString(16).padStart(8, "0")}: ${raw.join(" ").padEnd(17)} ${text}`,
    );
    at += size;
  }
  return lines;
}

/** FTRD / FTRn bits (TRM: Fault Type DMA Manager / Channel Registers). */
export const PL330_FAULT = {
  undef_instr: 1 << 0,
  operand_invalid: 1 << 1,
  /** Manager only: a non-secure manager tried to start a secure channel. */
  dmago_err: 1 << 4,
  evnt_err: 1 << 5,
  periph_err: 1 << 6,
  /** A non-secure channel asked for a secure read or write in its CCR. */
  rdwr_err: 1 << 7,
  /**
   * DMALD found too little free MFIFO space. The TRM names bit 12 mfifo_err and bit 13
   * st_data_unavailable; QEMU's names for the two bits are the other way round.
   */
  mfifo_err: 1 << 12,
  /** DMAST found fewer bytes in the MFIFO than its burst needs. */
  st_data_unavailable: 1 << 13,
  instr_fetch_err: 1 << 16,
  data_write_err: 1 << 17,
  data_read_err: 1 << 18,
  /** The faulting instruction came from the debug interface. */
  dbg_instr: 1 << 30,
  lockup_err: 0x8000_0000,
} as const;

export type Pl330FaultName = keyof typeof PL330_FAULT;

/** The names of the bits set in an FTR value, lowest bit first. */
export function pl330FaultNames(ftr: number): Pl330FaultName[] {
  return (Object.keys(PL330_FAULT) as Pl330FaultName[]).filter((n) => (ftr & PL330_FAULT[n]) !== 0);
}

/** The fields of CCRn (TRM: Channel Control Registers), as `DMAMOV CCR` sets them. */
export interface Pl330CcrFields {
  /** SI: increment SAR after each beat. */
  readonly srcInc: boolean;
  /** SS as bytes per beat: 1, 2, 4, … 128. */
  readonly srcBeatBytes: number;
  /** SB + 1: beats per burst, 1–16. */
  readonly srcBurstLen: number;
  /** SP: AXI ARPROT (b0 privileged, b1 non-secure, b2 instruction). */
  readonly srcProt: number;
  /** SC: AXI ARCACHE[2:0]. */
  readonly srcCache: number;
  readonly dstInc: boolean;
  readonly dstBeatBytes: number;
  readonly dstBurstLen: number;
  readonly dstProt: number;
  readonly dstCache: number;
  /** ES as the swap unit in bytes: 1 = no swap, 2, 4, 8, 16. */
  readonly endianSwapBytes: number;
}

/** CCR prot bit that makes an access non-secure (SP[1] / DP[1]). */
export const PL330_PROT_NS = 2;

function log2Exact(v: number, what: string, max: number): number {
  const l = Math.log2(v);
  if (!Number.isInteger(l) || l < 0 || l > max) throw new RangeError(`pl330 CCR: bad ${what} ${v}`);
  return l;
}

function field(v: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`pl330 CCR: bad ${what} ${v}`);
  return v;
}

/** Encodes CCR; omitted fields default to a secure, incrementing, 1-beat byte copy. */
export function pl330Ccr(f: Partial<Pl330CcrFields>): number {
  const v =
    ((f.srcInc ?? true) ? 1 : 0) |
    (log2Exact(f.srcBeatBytes ?? 1, "source beat size", 7) << 1) |
    ((field(f.srcBurstLen ?? 1, 1, 16, "source burst length") - 1) << 4) |
    (field(f.srcProt ?? 0, 0, 7, "source prot") << 8) |
    (field(f.srcCache ?? 0, 0, 7, "source cache") << 11) |
    (((f.dstInc ?? true) ? 1 : 0) << 14) |
    (log2Exact(f.dstBeatBytes ?? 1, "destination beat size", 7) << 15) |
    ((field(f.dstBurstLen ?? 1, 1, 16, "destination burst length") - 1) << 18) |
    (field(f.dstProt ?? 0, 0, 7, "destination prot") << 22) |
    (field(f.dstCache ?? 0, 0, 7, "destination cache") << 25) |
    (log2Exact(f.endianSwapBytes ?? 1, "endian swap size", 4) << 28);
  return v >>> 0;
}

export function decodePl330Ccr(ccr: number): Pl330CcrFields {
  return {
    srcInc: (ccr & 1) !== 0,
    srcBeatBytes: 1 << ((ccr >>> 1) & 7),
    srcBurstLen: ((ccr >>> 4) & 0xf) + 1,
    srcProt: (ccr >>> 8) & 7,
    srcCache: (ccr >>> 11) & 7,
    dstInc: (ccr & (1 << 14)) !== 0,
    dstBeatBytes: 1 << ((ccr >>> 15) & 7),
    dstBurstLen: ((ccr >>> 18) & 0xf) + 1,
    dstProt: (ccr >>> 22) & 7,
    dstCache: (ccr >>> 25) & 7,
    endianSwapBytes: 1 << ((ccr >>> 28) & 7),
  };
}
