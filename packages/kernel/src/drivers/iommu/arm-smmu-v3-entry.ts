/**
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: building Stream Table Entries and Context
 * Descriptors (arm_smmu_make_*_ste(), arm_smmu_make_s1_cd()) and writing them into live tables
 * without the SMMU ever seeing a torn entry (arm_smmu_write_entry()).
 *
 * The hardware reads a 64-byte entry with only 64-bit single-copy atomicity, so a change is
 * sequenced: bits the current configuration ignores are written first; if then only one
 * 64-bit word still has to change in bits the hardware uses, that word is the "critical" one
 * and the update is hitless; otherwise the entry is made invalid (V = 0), the other words are
 * written, and word 0 last. Each step that changed memory is followed by the entry's
 * invalidation (CFGI_STE or CFGI_CD) and a CMD_SYNC.
 *
 * Field positions come from hw-soc's STE/CD field tables (the architecture's layouts); the
 * "used bits" masks are derived from the same tables.
 *
 * Caveat: the "update safe" relaxation (MEV, EATS) is not needed — the model never sets those
 * bits — and stage-2/nested fields are only there for the used-bits rules.
 */

import {
  CD_FIELDS,
  CD_SIZE,
  type CdField,
  encodeCd,
  encodeFields,
  encodeSte,
  type FieldTable,
  STE_CONFIG_ABORT,
  STE_CONFIG_BYPASS,
  STE_CONFIG_S1_TRANS,
  STE_FIELDS,
  STE_SHCFG_INCOMING,
  STE_SIZE,
  type SteField,
} from "@vfio-lab/hw-soc";

export const NUM_ENTRY_QWORDS = 8;
/** STRTAB_STE_1_S1DSS_* */
export const STRTAB_STE_1_S1DSS_TERMINATE = 0;
export const STRTAB_STE_1_S1DSS_BYPASS = 1;
export const STRTAB_STE_1_S1DSS_SSID0 = 2;
/** STRTAB_STE_1_S1C_CACHE_WBRA */
const S1C_CACHE_WBRA = 1;
/** STRTAB_STE_1_STRW_NSEL1 */
const STRW_NSEL1 = 0;
/** STRTAB_STE_0_S1FMT_LINEAR */
export const STRTAB_STE_0_S1FMT_LINEAR = 0;

export type Qwords = bigint[];
const ALL_ONES = (1n << 64n) - 1n;

/** The entry's bytes as eight little-endian 64-bit words. */
export function bytesToQwords(bytes: Uint8Array): Qwords {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 8 }, (_, i) => dv.getBigUint64(i * 8, true));
}

export function qwordToBytes(q: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, q, true);
  return out;
}

/** Every bit of the named fields set, as qwords. */
function fieldMask<N extends string>(table: FieldTable<N>, size: number, names: N[]): Qwords {
  const values: Partial<Record<N, number>> = {};
  for (const n of names) {
    const f = table[n];
    values[n] = (2 ** f.width - 1) * 2 ** f.shift;
  }
  return bytesToQwords(encodeFields(table, size, values));
}

function steMask(names: SteField[]): Qwords {
  return fieldMask(STE_FIELDS, STE_SIZE, names);
}

function orInto(a: Qwords, b: Qwords): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! | b[i]!;
}

const STE_V = steMask(["V"]);
const STE_CFG = steMask(["Config"]);
const STE_S1_USED = steMask([
  "S1Fmt",
  "S1ContextPtr",
  "S1CDMax",
  "S1DSS",
  "S1CIR",
  "S1COR",
  "S1CSH",
  "S1STALLD",
  "STRW",
  "EATS",
  "S2VMID",
]);
const STE_S2_USED = steMask([
  "EATS",
  "SHCFG",
  "S2VMID",
  "S2T0SZ",
  "S2SL0",
  "S2IR0",
  "S2OR0",
  "S2SH0",
  "S2TG",
  "S2PS",
  "S2AA64",
  "S2ENDI",
  "S2PTW",
  "S2S",
  "S2R",
  "S2TTB",
]);
const STE_SHCFG = steMask(["SHCFG"]);

function steField(ent: Qwords, name: SteField): number {
  const f = STE_FIELDS[name];
  const q = ent[f.bit >> 6]!;
  return Number((q >> BigInt(f.bit & 63)) & ((1n << BigInt(f.width)) - 1n));
}

/** arm-smmu-v3.c: arm_smmu_get_ste_used() — the bits the SMMU reads for this STE. */
export function armSmmuGetSteUsed(ent: Qwords): Qwords {
  const used: Qwords = new Array<bigint>(NUM_ENTRY_QWORDS).fill(0n);
  orInto(used, STE_V);
  if (!steField(ent, "V")) return used;
  orInto(used, STE_CFG);
  const cfg = steField(ent, "Config");
  if (cfg & 1) {
    orInto(used, STE_S1_USED);
    if (steField(ent, "S1DSS") === STRTAB_STE_1_S1DSS_BYPASS) orInto(used, STE_SHCFG);
  }
  if (cfg & 2) orInto(used, STE_S2_USED);
  if (cfg === STE_CONFIG_BYPASS) orInto(used, STE_SHCFG);
  return used;
}

const CD_V = fieldMask(CD_FIELDS, CD_SIZE, ["V"]);
const CD_EPD0_IGNORED = fieldMask(CD_FIELDS, CD_SIZE, ["T0SZ", "TG0", "IR0", "OR0", "SH0", "TTB0"]);

/** arm-smmu-v3.c: arm_smmu_get_cd_used() — all of a valid CD, less what EPD0 makes unused. */
export function armSmmuGetCdUsed(ent: Qwords): Qwords {
  if ((ent[0]! & CD_V[0]!) === 0n) return [...CD_V];
  const used: Qwords = new Array<bigint>(NUM_ENTRY_QWORDS).fill(ALL_ONES);
  const epd0 = CD_FIELDS.EPD0.bit;
  if ((ent[0]! >> BigInt(epd0)) & 1n) {
    for (let i = 0; i < NUM_ENTRY_QWORDS; i++) used[i] = used[i]! & ~CD_EPD0_IGNORED[i]!;
  }
  return used;
}

/** The memory side of an entry update (`struct arm_smmu_entry_writer`). */
export interface EntryWriter {
  getUsed(ent: Qwords): Qwords;
  /** Stores one 64-bit word of the live entry. */
  writeQword(index: number, value: bigint): void;
  /** Makes the SMMU drop its cached copy (CFGI_* + CMD_SYNC). */
  sync(): void;
}

/** entry_set(): writes the words that differ; syncs if any did. */
function entrySet(w: EntryWriter, entry: Qwords, target: Qwords, start: number, len: number) {
  let changed = false;
  for (let i = start; len !== 0; len--, i++) {
    if (entry[i] !== target[i]) {
      w.writeQword(i, target[i]!);
      entry[i] = target[i]!;
      changed = true;
    }
  }
  if (changed) w.sync();
}

/** arm-smmu-v3.c: arm_smmu_write_entry() — see the file comment. `entry` is the live value. */
export function armSmmuWriteEntry(w: EntryWriter, entry: Qwords, target: Qwords): void {
  // arm_smmu_entry_qword_diff()
  const curUsed = w.getUsed(entry);
  const targetUsed = w.getUsed(target);
  const unusedUpdate: Qwords = [];
  let diff = 0;
  for (let i = 0; i < NUM_ENTRY_QWORDS; i++) {
    unusedUpdate[i] = (entry[i]! & curUsed[i]!) | (target[i]! & ~curUsed[i]! & ALL_ONES);
    if ((unusedUpdate[i]! & targetUsed[i]!) !== target[i]) diff |= 1 << i;
  }
  const weight = [...diff.toString(2)].filter((c) => c === "1").length;
  if (weight === 1) {
    // Hitless: unused bits first, then the one critical word, then clean up.
    const critical = 31 - Math.clz32(diff);
    unusedUpdate[critical] = entry[critical]!;
    entrySet(w, entry, unusedUpdate, 0, NUM_ENTRY_QWORDS);
    entrySet(w, entry, target, critical, 1);
    entrySet(w, entry, target, 0, NUM_ENTRY_QWORDS);
  } else if (diff) {
    // Breaking: V = 0, every other word, then word 0.
    unusedUpdate[0] = 0n;
    entrySet(w, entry, unusedUpdate, 0, 1);
    entrySet(w, entry, target, 1, NUM_ENTRY_QWORDS - 1);
    entrySet(w, entry, target, 0, 1);
  } else {
    entrySet(w, entry, target, 0, NUM_ENTRY_QWORDS);
  }
}

/** arm-smmu-v3.c: arm_smmu_make_abort_ste() */
export function armSmmuMakeAbortSte(): Qwords {
  return bytesToQwords(encodeSte({ V: 1, Config: STE_CONFIG_ABORT }));
}

/** arm-smmu-v3.c: arm_smmu_make_bypass_ste() */
export function armSmmuMakeBypassSte(attrTypesOvr: boolean): Qwords {
  return bytesToQwords(
    encodeSte({
      V: 1,
      Config: STE_CONFIG_BYPASS,
      ...(attrTypesOvr ? { SHCFG: STE_SHCFG_INCOMING } : {}),
    }),
  );
}

export interface CdTableConfig {
  readonly s1fmt: number;
  readonly s1cdmax: number;
  /** Physical address of the CD table (`cdtab_dma`). */
  readonly cdtabDma: number;
}

/** arm-smmu-v3.c: arm_smmu_make_cdtable_ste() — stage 1 through the master's CD table. */
export function armSmmuMakeCdtableSte(
  cd: CdTableConfig,
  opts: { s1dss: number; stallsFeature: boolean; stallEnabled: boolean; attrTypesOvr: boolean },
): Qwords {
  return bytesToQwords(
    encodeSte({
      V: 1,
      Config: STE_CONFIG_S1_TRANS,
      S1Fmt: cd.s1fmt,
      S1ContextPtr: cd.cdtabDma,
      S1CDMax: cd.s1cdmax,
      S1DSS: opts.s1dss,
      S1CIR: S1C_CACHE_WBRA,
      S1COR: S1C_CACHE_WBRA,
      S1CSH: 3,
      S1STALLD: opts.stallsFeature && !opts.stallEnabled,
      EATS: 0,
      ...(opts.attrTypesOvr && opts.s1dss === STRTAB_STE_1_S1DSS_BYPASS
        ? { SHCFG: STE_SHCFG_INCOMING }
        : {}),
      // VMID 0 is reserved for stage-2 bypass EL1 STEs (arm_smmu_domain_alloc_id()).
      STRW: STRW_NSEL1,
      S2VMID: 0,
    }),
  );
}

/** What a stage-1 CD takes from the domain's page table and ASID. */
export interface S1CdConfig {
  readonly tcr: {
    readonly tsz: number;
    readonly tg: number;
    readonly irgn: number;
    readonly orgn: number;
    readonly sh: number;
    readonly ips: number;
  };
  readonly ttbr: number;
  readonly mair: number;
  readonly asid: number;
  readonly stallEnabled: boolean;
  readonly hd: boolean;
}

/** arm-smmu-v3.c: arm_smmu_make_s1_cd() */
export function armSmmuMakeS1Cd(c: S1CdConfig): Qwords {
  const values: Partial<Record<CdField, number | boolean>> = {
    T0SZ: c.tcr.tsz,
    TG0: c.tcr.tg,
    IR0: c.tcr.irgn,
    OR0: c.tcr.orgn,
    SH0: c.tcr.sh,
    EPD1: 1,
    V: 1,
    IPS: c.tcr.ips,
    AA64: 1,
    S: c.stallEnabled,
    R: 1,
    A: 1,
    ASET: 1,
    ASID: c.asid,
    TTB0: c.ttbr,
    MAIR0: c.mair % 2 ** 32,
    MAIR1: Math.floor(c.mair / 2 ** 32),
  };
  if (c.hd) {
    values.HA = 1;
    values.HD = 1;
  }
  return bytesToQwords(encodeCd(values));
}

/** An all-zero entry (arm_smmu_clear_cd()'s target). */
export function zeroEntry(): Qwords {
  return new Array<bigint>(NUM_ENTRY_QWORDS).fill(0n);
}
