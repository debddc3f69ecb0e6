/**
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: decoding an event record
 * (arm_smmu_decode_event()) and printing it (arm_smmu_dump_event()) as 7.3 does: the raw
 * record as four 64-bit words, then a decoded line naming the event, the client device (or
 * "(unassigned sid)"), StreamID, SubstreamID and the addresses, and for translation-class faults
 * the access ("priv data read s1 \"Input address caused fault\" stag: 0").
 */

import { altHex } from "../../iommu/bits.js";

/** Event IDs with names (`event_str[]`); others print as UNKNOWN. */
export const EVT_ID = {
  BAD_STREAMID_CONFIG: 0x02,
  STE_FETCH_FAULT: 0x03,
  BAD_STE_CONFIG: 0x04,
  STREAM_DISABLED_FAULT: 0x06,
  BAD_SUBSTREAMID_CONFIG: 0x08,
  CD_FETCH_FAULT: 0x09,
  BAD_CD_CONFIG: 0x0a,
  TRANSLATION_FAULT: 0x10,
  ADDR_SIZE_FAULT: 0x11,
  ACCESS_FAULT: 0x12,
  PERMISSION_FAULT: 0x13,
  VMS_FETCH_FAULT: 0x25,
} as const;

const EVENT_STR: Readonly<Record<number, string>> = {
  [EVT_ID.BAD_STREAMID_CONFIG]: "C_BAD_STREAMID",
  [EVT_ID.STE_FETCH_FAULT]: "F_STE_FETCH",
  [EVT_ID.BAD_STE_CONFIG]: "C_BAD_STE",
  [EVT_ID.STREAM_DISABLED_FAULT]: "F_STREAM_DISABLED",
  [EVT_ID.BAD_SUBSTREAMID_CONFIG]: "C_BAD_SUBSTREAMID",
  [EVT_ID.CD_FETCH_FAULT]: "F_CD_FETCH",
  [EVT_ID.BAD_CD_CONFIG]: "C_BAD_CD",
  [EVT_ID.TRANSLATION_FAULT]: "F_TRANSLATION",
  [EVT_ID.ADDR_SIZE_FAULT]: "F_ADDR_SIZE",
  [EVT_ID.ACCESS_FAULT]: "F_ACCESS",
  [EVT_ID.PERMISSION_FAULT]: "F_PERMISSION",
  [EVT_ID.VMS_FETCH_FAULT]: "F_VMS_FETCH",
};

const EVENT_CLASS_STR = [
  "CD fetch",
  "Stage 1 translation table fetch",
  "Input address caused fault",
  "Reserved",
];

/** EVTQ_1_CLASS_TT */
const EVTQ_1_CLASS_TT = 1;

/** `struct arm_smmu_event` */
export interface ArmSmmuEvent {
  readonly id: number;
  readonly sid: number;
  readonly ssv: boolean;
  readonly ssid: number;
  readonly privileged: boolean;
  readonly instruction: boolean;
  readonly s2: boolean;
  readonly read: boolean;
  readonly stag: number;
  readonly stall: boolean;
  readonly class: number;
  readonly iova: bigint;
  readonly ipa: bigint;
  readonly fetchAddr: bigint;
  readonly ttrnw: boolean;
  readonly classTt: boolean;
  /** The master's device name, when a master owns the StreamID. */
  readonly dev: string | null;
}

function bits(q: bigint, hi: number, lo: number): bigint {
  return (q >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** arm-smmu-v3.c: arm_smmu_decode_event() (`findMaster` is arm_smmu_find_master()). */
export function armSmmuDecodeEvent(
  raw: readonly bigint[],
  findMaster: (sid: number) => string | null,
): ArmSmmuEvent {
  const [r0, r1, r2, r3] = raw as [bigint, bigint, bigint, bigint];
  const id = Number(bits(r0, 7, 0));
  const sid = Number(bits(r0, 63, 32));
  const ssv = bits(r0, 11, 11) === 1n;
  const cls = Number(bits(r1, 41, 40));
  return {
    id,
    sid,
    ssv,
    ssid: ssv ? Number(bits(r0, 31, 12)) : 0,
    privileged: bits(r1, 33, 33) === 1n,
    instruction: bits(r1, 34, 34) === 1n,
    s2: bits(r1, 39, 39) === 1n,
    read: bits(r1, 35, 35) === 1n,
    stag: Number(bits(r1, 15, 0)),
    stall: bits(r1, 31, 31) === 1n,
    class: cls,
    iova: r2,
    ipa: bits(r3, 51, 12) << 12n,
    fetchAddr: bits(r3, 51, 3) << 3n,
    ttrnw: bits(r1, 44, 44) === 1n,
    classTt: id === EVT_ID.PERMISSION_FAULT && cls === EVTQ_1_CLASS_TT,
    dev: findMaster(sid),
  };
}

/** The event's name as the kernel prints it. */
export function armSmmuEventName(id: number): string {
  return EVENT_STR[id] ?? "UNKNOWN";
}

/** arm-smmu-v3.c: arm_smmu_dump_raw_event() + arm_smmu_dump_event(): the lines, in order. */
export function armSmmuDumpEvent(raw: readonly bigint[], evt: ArmSmmuEvent): string[] {
  const lines = [`event 0x${evt.id.toString(16).padStart(2, "0")} received:`];
  for (const q of raw) lines.push(`\t0x${q.toString(16).padStart(16, "0")}`);
  const client = evt.dev ?? "(unassigned sid)";
  const head = `event: ${armSmmuEventName(evt.id)} client: ${client} sid: ${altHex(evt.sid)} ssid: ${altHex(evt.ssid)}`;
  switch (evt.id) {
    case EVT_ID.TRANSLATION_FAULT:
    case EVT_ID.ADDR_SIZE_FAULT:
    case EVT_ID.ACCESS_FAULT:
    case EVT_ID.PERMISSION_FAULT:
      lines.push(`${head} iova: ${altHex(evt.iova)} ipa: ${altHex(evt.ipa)}`);
      lines.push(
        `${evt.privileged ? "priv" : "unpriv"} ${evt.instruction ? "inst" : "data"} ${evt.read ? "read" : "write"} ${evt.s2 ? "s2" : "s1"} "${EVENT_CLASS_STR[evt.class]}"${evt.classTt ? (evt.ttrnw ? " ttd_read" : " ttd_write") : ""}${evt.stall ? " stall" : ""} stag: ${altHex(evt.stag)}`,
      );
      break;
    case EVT_ID.STE_FETCH_FAULT:
    case EVT_ID.CD_FETCH_FAULT:
    case EVT_ID.VMS_FETCH_FAULT:
      lines.push(`${head} fetch_addr: ${altHex(evt.fetchAddr)}`);
      break;
    default:
      lines.push(head);
  }
  return lines;
}
