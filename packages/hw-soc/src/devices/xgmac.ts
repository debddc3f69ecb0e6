/**
 * Calxeda XGMAC (`calxeda,hb-xgmac`): the 10 Gb/s Ethernet MAC of the Highbank/Midway SoCs, a
 * Synopsys DesignWare XGMAC derivative, reduced to what Linux's drivers/net/ethernet/calxeda/
 * xgmac.c and the vfio reset module drivers/vfio/platform/reset/vfio_platform_calxedaxgmac.c
 * program. Register offsets and bits are the driver's; where the driver leaves a gap (current
 * descriptor/buffer registers, DMA_STATUS error bits) the layout of the DesignWare GMAC DMA
 * block, of which this one is a relative, fills it and the comment says so.
 *
 * It is a platform device (no PrimeCell ID block) and a bus master.
 *   MMIO: one 0x1000 window: MAC registers 0x000–0x9ff, DMA registers 0xf00–0xf58.
 *   IRQs (level, in device-tree order): "main" (DMA/MAC), "pmt" (power management), "lpi"
 *   (low-power idle), as in the binding and Calxeda's ecx-common.dtsi.
 *
 * DMA engine: two descriptor lists in memory, walked through `this.dma`. A descriptor is four
 * little-endian words — flags/status, buffer sizes (buffer 1 in [12:0], buffer 2 in [28:16]),
 * buffer 1 address, buffer 2 address — padded to 32 bytes when DMA_BUS_MODE.ATDS is set (the
 * driver's layout) and followed by DMA_BUS_MODE.DSL × 8 bytes of skip. A list is a ring closed
 * by the end-of-ring bit (TXDESC_END_RING in the TX flags, RXDESC1_END_RING in the RX size
 * word) or a chain through buffer 2 (TXDESC_2ND_ADDR_CHAINED / RXDESC1_CHAINED).
 *   TX: setting DMA_CONTROL.ST or writing DMA_TX_POLL schedules a fetch. Each step takes one
 *   frame (FIRST_SEG … LAST_SEG, all descriptors owned by the DMA), reads its buffers, hands
 *   the bytes to `onTransmit` (or to the receiver in loopback, XGMAC_CONTROL.LM), gives the
 *   descriptors back (OWN and status bits cleared), raises TI if the last one asked for
 *   TXDESC_INTERRUPT, and schedules the next step after the frame's wire time at 10 Gb/s. No
 *   owned descriptor: the process suspends with TU until the next poll demand.
 *   RX: `receive(frame)` (frame without FCS) runs the address filter, then fills as many owned
 *   descriptors as the frame needs (FIRST_SEG on the first, LAST_SEG, frame length and frame
 *   type on the last), gives them back and raises RI. The FCS is appended for Ethernet-type
 *   frames, and stripped (not stored) for 802.3-length frames when XGMAC_CONTROL.ACS is set —
 *   which is why the driver subtracts ETH_FCS_LEN only when RXDESC_FRAME_TYPE is set. No owned
 *   descriptor: the frame is dropped, RU is raised, the missed-frame counter counts it.
 *   A bus error on any descriptor or buffer access sets DMA_STATUS.FBI with the error bits and
 *   stops that process until software clears and sets ST/SR again (or resets the block).
 *
 * DMA_STATUS interrupt bits are write-1-to-clear; the summary bits NIS/AIS are recomputed from
 * the enabled causes (the databook's "logical OR"), so clearing the causes clears them. The main
 * line is (NIS & NIE) | (AIS & AIE).
 *
 * DMA_BUS_MODE.SFT_RESET puts every register back to its reset value at once and reads as 1
 * until the reset completes `softResetNs` (default 1 µs) of virtual time later; register writes
 * in between are refused as guest errors. `reset()` is the SoC reset: the same, plus whatever
 * the boot firmware programmed — the MAC address from the node's `local-mac-address`.
 *
 * Caveat:
 * - No checksum offload (DMA_HW_FEATURE reads 0 by default, so the driver enables none), no
 *   CRC/pad insertion on TX (frames leave as their buffers hold them), no VLAN tag handling.
 * - XGMAC_VERSION (0x1012) and DMA_HW_FEATURE (0) are placeholders: Calxeda's values are not
 *   known here; `XgmacOptions` overrides both.
 * - Address filter: perfect (32 entries), hash, promiscuous, pass-all-multicast, broadcast and
 *   receive-all; no inverse/SA/VLAN filtering (logged as unimplemented), no mask-byte control.
 * - Flow control, LPI/EEE, remote wake-up frame filters, the RX watchdog, the AXI bus settings
 *   and the MMC interrupt registers are storage only; the "lpi" line never asserts.
 * - MMC: frame and octet counters (octets include the FCS) plus broadcast/multicast/unicast/
 *   VLAN counts; error counters stay 0; no reset-on-read, no rollover control.
 * - A TX frame whose descriptors are not all owned is not started (the process suspends with
 *   TU), where hardware would underflow; frames are never split in time (no partial frames).
 * - DSL is counted in 8-byte units (a 64-bit AXI bus); the real bus width is not documented.
 * - DMA_STATUS.GLI/GMI/GPI read 0; TS/RS report only stopped, running and suspended.
 */

import type { BusError } from "../core/bus-error.js";
import type { ScheduledEvent } from "../core/clock.js";
import { Device, type DeviceContext, type DeviceIdentity } from "../core/device.js";
import type { DeviceModel } from "../core/device-model.js";
import { RegisterMap, type RegisterSpec } from "../core/registers.js";

/** Bit definitions, with Linux's names (xgmac.c) unless marked "model name". */
export const xgmacBits = {
  XGMAC_CONTROL_SPD_MASK: 0x6000_0000,
  XGMAC_CONTROL_CAR: 0x0400_0000,
  XGMAC_CONTROL_JE: 0x0010_0000,
  XGMAC_CONTROL_LM: 0x0000_1000,
  XGMAC_CONTROL_IPC: 0x0000_0400,
  XGMAC_CONTROL_ACS: 0x0000_0080,
  XGMAC_CONTROL_DDIC: 0x0000_0010,
  MAC_ENABLE_TX: 0x0000_0008,
  MAC_ENABLE_RX: 0x0000_0004,

  XGMAC_FRAME_FILTER_PR: 0x0000_0001,
  XGMAC_FRAME_FILTER_HUC: 0x0000_0002,
  XGMAC_FRAME_FILTER_HMC: 0x0000_0004,
  XGMAC_FRAME_FILTER_DAIF: 0x0000_0008,
  XGMAC_FRAME_FILTER_PM: 0x0000_0010,
  XGMAC_FRAME_FILTER_DBF: 0x0000_0020,
  XGMAC_FRAME_FILTER_SAIF: 0x0000_0100,
  XGMAC_FRAME_FILTER_SAF: 0x0000_0200,
  XGMAC_FRAME_FILTER_HPF: 0x0000_0400,
  XGMAC_FRAME_FILTER_VHF: 0x0000_0800,
  XGMAC_FRAME_FILTER_VPF: 0x0000_1000,
  XGMAC_FRAME_FILTER_RA: 0x8000_0000,

  XGMAC_ADDR_AE: 0x8000_0000,

  XGMAC_INT_STAT_PMTIM: 0x0080_0000,
  /** Model name: the LPI mask, placed 16 bits above its status bit as PMTIM is. */
  XGMAC_INT_STAT_LPIIM: 0x0040_0000,
  XGMAC_INT_STAT_PMT: 0x0000_0080,
  XGMAC_INT_STAT_LPI: 0x0000_0040,

  XGMAC_PMT_POINTER_RESET: 0x8000_0000,
  XGMAC_PMT_GLBL_UNICAST: 0x0000_0200,
  XGMAC_PMT_WAKEUP_RX_FRM: 0x0000_0040,
  XGMAC_PMT_MAGIC_PKT: 0x0000_0020,
  XGMAC_PMT_WAKEUP_FRM_EN: 0x0000_0004,
  XGMAC_PMT_MAGIC_PKT_EN: 0x0000_0002,
  XGMAC_PMT_POWERDOWN: 0x0000_0001,

  XGMAC_OMR_FTF: 0x0010_0000,

  /** Model name: MMC control bit 0, "reset all counters" (self-clearing). */
  XGMAC_MMC_CTRL_CNT_RESET: 0x0000_0001,
  XGMAC_MMC_CTRL_CNT_FRZ: 0x0000_0008,

  DMA_BUS_MODE_SFT_RESET: 0x0000_0001,
  DMA_BUS_MODE_DSL_MASK: 0x0000_007c,
  DMA_BUS_MODE_DSL_SHIFT: 2,
  DMA_BUS_MODE_ATDS: 0x0000_0080,

  DMA_CONTROL_ST: 0x0000_2000,
  DMA_CONTROL_SR: 0x0000_0002,
  DMA_CONTROL_OSF: 0x0000_0004,
  DMA_CONTROL_DFF: 0x0100_0000,

  DMA_INTR_ENA_NIE: 0x0001_0000,
  DMA_INTR_ENA_AIE: 0x0000_8000,
  DMA_INTR_ENA_ERE: 0x0000_4000,
  DMA_INTR_ENA_FBE: 0x0000_2000,
  DMA_INTR_ENA_ETE: 0x0000_0400,
  DMA_INTR_ENA_RWE: 0x0000_0200,
  DMA_INTR_ENA_RSE: 0x0000_0100,
  DMA_INTR_ENA_RUE: 0x0000_0080,
  DMA_INTR_ENA_RIE: 0x0000_0040,
  DMA_INTR_ENA_UNE: 0x0000_0020,
  DMA_INTR_ENA_OVE: 0x0000_0010,
  DMA_INTR_ENA_TJE: 0x0000_0008,
  DMA_INTR_ENA_TUE: 0x0000_0004,
  DMA_INTR_ENA_TSE: 0x0000_0002,
  DMA_INTR_ENA_TIE: 0x0000_0001,
  /** xgmac.c DMA_INTR_DEFAULT_MASK: what the driver enables at open. */
  DMA_INTR_DEFAULT_MASK: 0x0001_a3ff,

  DMA_STATUS_GMI: 0x0800_0000,
  DMA_STATUS_GLI: 0x0400_0000,
  /**
   * Model names: the error-bit field [25:23] as the DesignWare GMAC databook places it, just
   * below GLI. (xgmac.c's DMA_STATUS_EB_* defines overlap the TS field and are never used.)
   * Set with FBI: TXDMA = error by the TX DMA (else RX), READ = a read (else a write),
   * DESC = a descriptor access (else a data buffer).
   */
  DMA_STATUS_EB_TXDMA: 0x0080_0000,
  DMA_STATUS_EB_READ: 0x0100_0000,
  DMA_STATUS_EB_DESC: 0x0200_0000,
  DMA_STATUS_TS_MASK: 0x0070_0000,
  DMA_STATUS_TS_SHIFT: 20,
  DMA_STATUS_RS_MASK: 0x000e_0000,
  DMA_STATUS_RS_SHIFT: 17,
  DMA_STATUS_NIS: 0x0001_0000,
  DMA_STATUS_AIS: 0x0000_8000,
  DMA_STATUS_ERI: 0x0000_4000,
  DMA_STATUS_FBI: 0x0000_2000,
  DMA_STATUS_ETI: 0x0000_0400,
  DMA_STATUS_RWT: 0x0000_0200,
  DMA_STATUS_RPS: 0x0000_0100,
  DMA_STATUS_RU: 0x0000_0080,
  DMA_STATUS_RI: 0x0000_0040,
  DMA_STATUS_UNF: 0x0000_0020,
  DMA_STATUS_OVF: 0x0000_0010,
  DMA_STATUS_TJT: 0x0000_0008,
  DMA_STATUS_TU: 0x0000_0004,
  DMA_STATUS_TPS: 0x0000_0002,
  DMA_STATUS_TI: 0x0000_0001,

  DMA_HW_FEAT_TXCOESEL: 0x0001_0000,

  DESC_OWN: 0x8000_0000,
  DESC_BUFFER1_SZ_MASK: 0x0000_1fff,
  DESC_BUFFER2_SZ_MASK: 0x1fff_0000,
  DESC_BUFFER2_SZ_OFFSET: 16,
  TXDESC_INTERRUPT: 0x4000_0000,
  TXDESC_LAST_SEG: 0x2000_0000,
  TXDESC_FIRST_SEG: 0x1000_0000,
  TXDESC_END_RING: 0x0020_0000,
  TXDESC_2ND_ADDR_CHAINED: 0x0010_0000,
  TXDESC_ERROR_SUMMARY: 0x0000_8000,
  RXDESC_DA_FILTER_FAIL: 0x4000_0000,
  RXDESC_FRAME_LEN_MASK: 0x3fff_0000,
  RXDESC_FRAME_LEN_OFFSET: 16,
  RXDESC_FIRST_SEG: 0x0000_0200,
  RXDESC_LAST_SEG: 0x0000_0100,
  RXDESC_FRAME_TYPE: 0x0000_0020,
  RXDESC1_END_RING: 0x0000_8000,
  /** Model name: "second address chained" in the RX size word, as the GMAC places it. */
  RXDESC1_CHAINED: 0x0000_4000,
} as const;

const B = xgmacBits;

/** Placeholder version: Synopsys core 0x12, user 0x10 (Calxeda's value is not known here). */
export const XGMAC_VERSION_DEFAULT = 0x0000_1012;
/** Time from ST or a poll demand to the first descriptor fetch. */
export const XGMAC_DMA_FETCH_NS = 100;
/** Default duration of a DMA_BUS_MODE software reset. */
export const XGMAC_SOFT_RESET_NS = 1000;
/** FCS, preamble and inter-frame gap added to a frame's bytes on the wire. */
const WIRE_OVERHEAD = 4 + 8 + 12;
const ETH_HLEN = 14;
const ETH_FCS_LEN = 4;
const MAX_RX_FRAME = 0x3fff - ETH_FCS_LEN;
/** How many descriptors one frame may span before the model calls the list broken. */
const MAX_FRAME_DESCRIPTORS = 1024;
const TX_STATUS_MASK = 0x0001_ffff;
const STATUS_W1C = 0x0001_ffff;
const STATUS_EB = B.DMA_STATUS_EB_TXDMA | B.DMA_STATUS_EB_READ | B.DMA_STATUS_EB_DESC;
const NORMAL_CAUSES = B.DMA_STATUS_TI | B.DMA_STATUS_TU | B.DMA_STATUS_RI | B.DMA_STATUS_ERI;
const ABNORMAL_CAUSES =
  B.DMA_STATUS_TPS |
  B.DMA_STATUS_TJT |
  B.DMA_STATUS_OVF |
  B.DMA_STATUS_UNF |
  B.DMA_STATUS_RU |
  B.DMA_STATUS_RPS |
  B.DMA_STATUS_RWT |
  B.DMA_STATUS_ETI |
  B.DMA_STATUS_FBI;
const PMT_WRITABLE =
  B.XGMAC_PMT_POWERDOWN |
  B.XGMAC_PMT_MAGIC_PKT_EN |
  B.XGMAC_PMT_WAKEUP_FRM_EN |
  B.XGMAC_PMT_GLBL_UNICAST;
const UNIMPLEMENTED_FILTERS =
  B.XGMAC_FRAME_FILTER_DAIF |
  B.XGMAC_FRAME_FILTER_SAIF |
  B.XGMAC_FRAME_FILTER_SAF |
  B.XGMAC_FRAME_FILTER_VHF |
  B.XGMAC_FRAME_FILTER_VPF;

/** MMC counters: name (after XGMAC_MMC_), offset, and whether it has a _LO/_HI pair. */
const MMC_COUNTERS: readonly (readonly [string, number, boolean])[] = [
  ["TXOCTET_GB", 0x814, true],
  ["TXFRAME_GB", 0x81c, true],
  ["TXBCFRAME_G", 0x824, false],
  ["TXMCFRAME_G", 0x82c, false],
  ["TXUCFRAME_GB", 0x864, false],
  ["TXMCFRAME_GB", 0x86c, false],
  ["TXBCFRAME_GB", 0x874, false],
  ["TXUNDERFLOW", 0x87c, false],
  ["TXOCTET_G", 0x884, true],
  ["TXFRAME_G", 0x88c, true],
  ["TXPAUSEFRAME", 0x894, false],
  ["TXVLANFRAME", 0x89c, false],
  ["RXFRAME_GB", 0x900, true],
  ["RXOCTET_GB", 0x908, true],
  ["RXOCTET_G", 0x910, true],
  ["RXBCFRAME_G", 0x918, false],
  ["RXMCFRAME_G", 0x920, false],
  ["RXCRCERR", 0x928, false],
  ["RXRUNT", 0x930, false],
  ["RXJABBER", 0x934, false],
  ["RXUCFRAME_G", 0x970, false],
  ["RXLENGTHERR", 0x978, false],
  ["RXPAUSEFRAME", 0x988, false],
  ["RXOVERFLOW", 0x990, false],
  ["RXVLANFRAME", 0x998, false],
  ["RXWATCHDOG", 0x9a0, false],
];

const MMC_REGISTERS = new Map<string, { counter: string; high: boolean }>();
const mmcSpecs: RegisterSpec[] = MMC_COUNTERS.flatMap(([counter, offset, wide]) => {
  const names = wide
    ? [`XGMAC_MMC_${counter}_LO`, `XGMAC_MMC_${counter}_HI`]
    : [`XGMAC_MMC_${counter}`];
  return names.map((name, i) => {
    MMC_REGISTERS.set(name, { counter, high: i === 1 });
    return { name, offset: offset + 4 * i, access: "ro" as const, doc: `MMC counter ${counter}` };
  });
});

export const XGMAC_REGISTERS: readonly RegisterSpec[] = [
  {
    name: "XGMAC_CONTROL",
    offset: 0x000,
    access: "rw",
    doc: "MAC configuration (TE, RE, LM, ACS, …)",
  },
  { name: "XGMAC_FRAME_FILTER", offset: 0x004, access: "rw", doc: "Receive address filter mode" },
  { name: "XGMAC_FLOW_CTRL", offset: 0x018, access: "rw", doc: "Flow control (storage only)" },
  { name: "XGMAC_VLAN_TAG", offset: 0x01c, access: "rw", doc: "VLAN tag (storage only)" },
  {
    name: "XGMAC_VERSION",
    offset: 0x020,
    access: "ro",
    reset: XGMAC_VERSION_DEFAULT,
    doc: "Core version",
  },
  {
    name: "XGMAC_VLAN_INCL",
    offset: 0x024,
    access: "rw",
    doc: "VLAN tag for TX frames (storage only)",
  },
  {
    name: "XGMAC_LPI_CTRL",
    offset: 0x028,
    access: "rw",
    doc: "LPI control and status (storage only)",
  },
  { name: "XGMAC_LPI_TIMER", offset: 0x02c, access: "rw", doc: "LPI timers (storage only)" },
  {
    name: "XGMAC_TX_PACE",
    offset: 0x030,
    access: "rw",
    doc: "Transmit pace and stretch (storage only)",
  },
  { name: "XGMAC_VLAN_HASH", offset: 0x034, access: "rw", doc: "VLAN hash table (storage only)" },
  { name: "XGMAC_DEBUG", offset: 0x038, access: "ro", doc: "Debug state" },
  {
    name: "XGMAC_INT_STAT",
    offset: 0x03c,
    access: "rw",
    doc: "MAC interrupt status [7:6], masks [23:22]",
  },
  {
    name: "XGMAC_ADDR_HIGH",
    offset: 0x040,
    access: "rw",
    count: 32,
    stride: 8,
    doc: "MAC address n bytes 4–5, AE [31]",
  },
  {
    name: "XGMAC_ADDR_LOW",
    offset: 0x044,
    access: "rw",
    count: 32,
    stride: 8,
    doc: "MAC address n bytes 0–3",
  },
  {
    name: "XGMAC_HASH",
    offset: 0x300,
    access: "rw",
    count: 16,
    doc: "Multicast/unicast hash table",
  },
  { name: "XGMAC_OMR", offset: 0x400, access: "rw", doc: "Operation mode; FTF [20] self-clears" },
  {
    name: "XGMAC_REMOTE_WAKE",
    offset: 0x700,
    access: "rw",
    doc: "Remote wake-up frame filter (storage only)",
  },
  {
    name: "XGMAC_PMT",
    offset: 0x704,
    access: "rw",
    doc: "PMT control; status [6:5] clear on read",
  },
  {
    name: "XGMAC_MMC_CTRL",
    offset: 0x800,
    access: "rw",
    doc: "MMC control: counter reset [0], freeze [3]",
  },
  {
    name: "XGMAC_MMC_INTR_RX",
    offset: 0x804,
    access: "ro",
    doc: "MMC RX interrupt status (never set)",
  },
  {
    name: "XGMAC_MMC_INTR_TX",
    offset: 0x808,
    access: "ro",
    doc: "MMC TX interrupt status (never set)",
  },
  { name: "XGMAC_MMC_INTR_MASK_RX", offset: 0x80c, access: "rw", doc: "MMC RX interrupt mask" },
  { name: "XGMAC_MMC_INTR_MASK_TX", offset: 0x810, access: "rw", doc: "MMC TX interrupt mask" },
  ...mmcSpecs,
  {
    name: "XGMAC_DMA_BUS_MODE",
    offset: 0xf00,
    access: "rw",
    doc: "SFT_RESET [0], DSL [6:2], ATDS [7], bursts",
  },
  { name: "XGMAC_DMA_TX_POLL", offset: 0xf04, access: "wo", doc: "Transmit poll demand" },
  { name: "XGMAC_DMA_RX_POLL", offset: 0xf08, access: "wo", doc: "Receive poll demand" },
  { name: "XGMAC_DMA_RX_BASE_ADDR", offset: 0xf0c, access: "rw", doc: "RX descriptor list base" },
  { name: "XGMAC_DMA_TX_BASE_ADDR", offset: 0xf10, access: "rw", doc: "TX descriptor list base" },
  {
    name: "XGMAC_DMA_STATUS",
    offset: 0xf14,
    access: "rw",
    doc: "DMA status: causes W1C, TS/RS/EB read-only",
  },
  {
    name: "XGMAC_DMA_CONTROL",
    offset: 0xf18,
    access: "rw",
    doc: "Operation mode: ST [13], SR [1]",
  },
  { name: "XGMAC_DMA_INTR_ENA", offset: 0xf1c, access: "rw", doc: "DMA interrupt enables" },
  {
    name: "XGMAC_DMA_MISS_FRAME_CTR",
    offset: 0xf20,
    access: "ro",
    doc: "Missed frames; clears on read",
  },
  {
    name: "XGMAC_DMA_RI_WDOG_TIMER",
    offset: 0xf24,
    access: "rw",
    doc: "RX interrupt watchdog (storage only)",
  },
  { name: "XGMAC_DMA_AXI_BUS", offset: 0xf28, access: "rw", doc: "AXI bus mode (storage only)" },
  { name: "XGMAC_DMA_AXI_STATUS", offset: 0xf2c, access: "ro", doc: "AXI status" },
  // Not named by the driver; GMAC places them at DMA base + 0x48…0x54.
  { name: "XGMAC_DMA_CUR_TX_DESC", offset: 0xf48, access: "ro", doc: "Current host TX descriptor" },
  { name: "XGMAC_DMA_CUR_RX_DESC", offset: 0xf4c, access: "ro", doc: "Current host RX descriptor" },
  {
    name: "XGMAC_DMA_CUR_TX_BUF",
    offset: 0xf50,
    access: "ro",
    doc: "Current host TX buffer address",
  },
  {
    name: "XGMAC_DMA_CUR_RX_BUF",
    offset: 0xf54,
    access: "ro",
    doc: "Current host RX buffer address",
  },
  { name: "XGMAC_DMA_HW_FEATURE", offset: 0xf58, access: "ro", doc: "Enabled hardware features" },
];

const MAP = new RegisterMap<string>(XGMAC_REGISTERS);

/** Byte offsets of the registers the device logic touches. */
const R = {
  CONTROL: 0x000,
  FRAME_FILTER: 0x004,
  VERSION: 0x020,
  INT_STAT: 0x03c,
  ADDR_HIGH: 0x040,
  ADDR_LOW: 0x044,
  HASH: 0x300,
  PMT: 0x704,
  MMC_CTRL: 0x800,
  BUS_MODE: 0xf00,
  RX_BASE: 0xf0c,
  TX_BASE: 0xf10,
  STATUS: 0xf14,
  DMA_CONTROL: 0xf18,
  INTR_ENA: 0xf1c,
  MISS_FRAME_CTR: 0xf20,
  CUR_TX_DESC: 0xf48,
  CUR_RX_DESC: 0xf4c,
  CUR_TX_BUF: 0xf50,
  CUR_RX_BUF: 0xf54,
  HW_FEATURE: 0xf58,
} as const;

export interface XgmacOptions {
  /** The address the boot firmware left in address register 0 (6 bytes). */
  readonly macAddress?: readonly number[];
  /** XGMAC_VERSION value. */
  readonly version?: number;
  /** XGMAC_DMA_HW_FEATURE value (TXCOESEL makes the driver enable checksum offload). */
  readonly hwFeature?: number;
  /** Duration of a DMA_BUS_MODE software reset. */
  readonly softResetNs?: number;
}

type DmaProcess = "stopped" | "running" | "suspended";

interface Descriptor {
  readonly addr: number;
  readonly flags: number;
  readonly sizes: number;
  readonly buf1: number;
  readonly buf2: number;
}

interface Verdict {
  readonly pass: boolean;
  readonly daFail: boolean;
}

export class Xgmac extends Device {
  static readonly registers = MAP;

  /** Where transmitted frames go (the wire). Not called in loopback mode. */
  onTransmit: ((frame: Uint8Array) => void) | null = null;

  private readonly regs = new Uint32Array(0x400);
  private readonly counters = new Map<string, number>();
  private readonly version: number;
  private readonly hwFeature: number;
  private readonly softResetNs: number;
  private readonly macAddress: readonly number[] | undefined;
  private tx: DmaProcess = "stopped";
  private rx: DmaProcess = "stopped";
  private txEvent: ScheduledEvent | null = null;
  private softResetEvent: ScheduledEvent | null = null;

  constructor(ctx: DeviceContext, id: DeviceIdentity, options: XgmacOptions = {}) {
    super(ctx, id, { irqNames: ["main", "pmt", "lpi"], busMaster: true });
    if (options.macAddress && options.macAddress.length !== 6) {
      throw new RangeError(`xgmac: a MAC address has 6 bytes, got ${options.macAddress.length}`);
    }
    this.version = options.version ?? XGMAC_VERSION_DEFAULT;
    this.hwFeature = options.hwFeature ?? 0;
    this.softResetNs = options.softResetNs ?? XGMAC_SOFT_RESET_NS;
    this.macAddress = options.macAddress;
    this.reset();
  }

  /** SoC reset: hardware reset values, then the MAC address the firmware programs. */
  reset(): void {
    if (this.softResetEvent) this.clock.cancel(this.softResetEvent);
    this.softResetEvent = null;
    this.resetRegisters();
    const mac = this.macAddress;
    if (mac) {
      this.set(R.ADDR_HIGH, (mac[5]! << 8) | mac[4]!);
      this.set(R.ADDR_LOW, ((mac[3]! << 24) | (mac[2]! << 16) | (mac[1]! << 8) | mac[0]!) >>> 0);
    }
    this.update();
  }

  /**
   * A frame arrives from the wire (destination address first, no FCS). Returns whether it was
   * stored in memory.
   */
  receive(frame: Uint8Array): boolean {
    if (frame.length < ETH_HLEN || frame.length > MAX_RX_FRAME) {
      throw new RangeError(
        `xgmac: a received frame has ${ETH_HLEN}–${MAX_RX_FRAME} bytes, got ${frame.length}`,
      );
    }
    const control = this.get(R.CONTROL);
    if (!(control & B.MAC_ENABLE_RX) || this.softResetEvent) return this.drop("receiver disabled");
    if (this.get(R.PMT) & B.XGMAC_PMT_POWERDOWN) {
      this.checkWakeUp(frame);
      return this.drop("power-down");
    }
    const verdict = this.filter(frame);
    if (!verdict.pass) return this.drop("address filter");
    this.countRx(frame);
    if (this.rx === "stopped") {
      this.countMissed(17, 0x7ff, 1 << 28);
      this.count("RXOVERFLOW", 1);
      return this.drop("receive DMA stopped");
    }
    const delivered = this.storeFrame(frame, verdict, control);
    this.update();
    return delivered;
  }

  protected readRegister(offset: number): number {
    const reg = MAP.decode(offset);
    if (!reg) {
      this.guestError(`read of unknown register at offset 0x${offset.toString(16)}`);
      return 0;
    }
    const name = reg.spec.name;
    switch (name) {
      case "XGMAC_VERSION":
        return this.version;
      case "XGMAC_DMA_HW_FEATURE":
        return this.hwFeature;
      case "XGMAC_DMA_BUS_MODE":
        return (this.get(R.BUS_MODE) | (this.softResetEvent ? B.DMA_BUS_MODE_SFT_RESET : 0)) >>> 0;
      case "XGMAC_DMA_STATUS":
        return this.statusValue();
      case "XGMAC_DMA_MISS_FRAME_CTR": {
        const v = this.get(R.MISS_FRAME_CTR);
        this.set(R.MISS_FRAME_CTR, 0);
        return v;
      }
      case "XGMAC_PMT": {
        const v = this.get(R.PMT);
        this.set(R.PMT, v & ~(B.XGMAC_PMT_MAGIC_PKT | B.XGMAC_PMT_WAKEUP_RX_FRM));
        this.set(R.INT_STAT, this.get(R.INT_STAT) & ~B.XGMAC_INT_STAT_PMT);
        this.update();
        return v;
      }
    }
    const mmc = MMC_REGISTERS.get(name);
    if (mmc) {
      const v = this.counters.get(mmc.counter) ?? 0;
      return mmc.high ? Math.floor(v / 2 ** 32) % 2 ** 32 : v % 2 ** 32;
    }
    if (reg.spec.access === "wo") {
      this.guestError(`read of write-only register ${name}`);
      return 0;
    }
    return this.regs[offset >>> 2]!;
  }

  protected writeRegister(offset: number, value: number): void {
    const reg = MAP.decode(offset);
    if (!reg) {
      this.guestError(`write of unknown register at offset 0x${offset.toString(16)}`);
      return;
    }
    const name = reg.spec.name;
    if (this.softResetEvent) {
      this.guestError(`write to ${name} during the DMA software reset ignored`);
      return;
    }
    if (reg.spec.access === "ro") {
      this.guestError(`write to read-only register ${name}`);
      return;
    }
    switch (name) {
      case "XGMAC_CONTROL": {
        const old = this.get(R.CONTROL);
        this.set(R.CONTROL, value);
        if (value & B.MAC_ENABLE_TX && !(old & B.MAC_ENABLE_TX) && this.tx !== "stopped") {
          this.scheduleTx(XGMAC_DMA_FETCH_NS);
        }
        break;
      }
      case "XGMAC_FRAME_FILTER":
        if (value & UNIMPLEMENTED_FILTERS) {
          this.unimplemented(
            `frame filter modes 0x${(value & UNIMPLEMENTED_FILTERS).toString(16)} (inverse, SA, VLAN)`,
          );
        }
        this.set(offset, value);
        break;
      case "XGMAC_INT_STAT":
        this.set(
          offset,
          (this.get(offset) & 0xff) | (value & (B.XGMAC_INT_STAT_PMTIM | B.XGMAC_INT_STAT_LPIIM)),
        );
        break;
      case "XGMAC_OMR":
        // A TX FIFO flush has nothing to flush: frames leave the model whole.
        this.set(offset, value & ~B.XGMAC_OMR_FTF);
        break;
      case "XGMAC_PMT":
        if (value & B.XGMAC_PMT_WAKEUP_FRM_EN) this.unimplemented("remote wake-up frame filters");
        this.set(offset, (this.get(offset) & ~PMT_WRITABLE) | (value & PMT_WRITABLE));
        break;
      case "XGMAC_MMC_CTRL":
        if (value & B.XGMAC_MMC_CTRL_CNT_RESET) this.counters.clear();
        this.set(offset, value & ~B.XGMAC_MMC_CTRL_CNT_RESET);
        break;
      case "XGMAC_DMA_BUS_MODE":
        if (value & B.DMA_BUS_MODE_SFT_RESET) this.softReset();
        else this.set(offset, value);
        break;
      case "XGMAC_DMA_TX_POLL":
        this.txPollDemand();
        break;
      case "XGMAC_DMA_RX_POLL":
        this.rxPollDemand();
        break;
      case "XGMAC_DMA_TX_BASE_ADDR":
        this.setListBase(offset, R.CUR_TX_DESC, this.tx, value);
        break;
      case "XGMAC_DMA_RX_BASE_ADDR":
        this.setListBase(offset, R.CUR_RX_DESC, this.rx, value);
        break;
      case "XGMAC_DMA_STATUS": {
        let clear = value & STATUS_W1C;
        if (clear & B.DMA_STATUS_FBI) clear |= STATUS_EB;
        this.set(offset, this.get(offset) & ~clear);
        break;
      }
      case "XGMAC_DMA_CONTROL":
        this.dmaControl(value);
        break;
      case "XGMAC_DMA_INTR_ENA":
        this.set(offset, value & STATUS_W1C);
        break;
      default:
        this.set(offset, value);
    }
    this.update();
  }

  /** The one place that drives the three outputs. */
  private update(): void {
    const ena = this.get(R.INTR_ENA);
    let status = this.get(R.STATUS) & ~(B.DMA_STATUS_NIS | B.DMA_STATUS_AIS);
    if (status & ena & NORMAL_CAUSES) status |= B.DMA_STATUS_NIS;
    if (status & ena & ABNORMAL_CAUSES) status |= B.DMA_STATUS_AIS;
    this.set(R.STATUS, status);
    const main =
      (status & B.DMA_STATUS_NIS && ena & B.DMA_INTR_ENA_NIE) ||
      (status & B.DMA_STATUS_AIS && ena & B.DMA_INTR_ENA_AIE);
    const intStat = this.get(R.INT_STAT);
    this.irqs[0]!.set(Boolean(main));
    this.irqs[1]!.set(
      Boolean(intStat & B.XGMAC_INT_STAT_PMT) && !(intStat & B.XGMAC_INT_STAT_PMTIM),
    );
    this.irqs[2]!.set(
      Boolean(intStat & B.XGMAC_INT_STAT_LPI) && !(intStat & B.XGMAC_INT_STAT_LPIIM),
    );
  }

  private get(offset: number): number {
    return this.regs[offset >>> 2]!;
  }

  private set(offset: number, value: number): void {
    this.regs[offset >>> 2] = value;
  }

  private raise(bits: number): void {
    this.set(R.STATUS, this.get(R.STATUS) | bits);
  }

  private statusValue(): number {
    const ts = this.tx === "stopped" ? 0 : this.tx === "running" ? 1 : 6;
    const rs = this.rx === "stopped" ? 0 : this.rx === "running" ? 3 : 4;
    return (
      (this.get(R.STATUS) | (ts << B.DMA_STATUS_TS_SHIFT) | (rs << B.DMA_STATUS_RS_SHIFT)) >>> 0
    );
  }

  private resetRegisters(): void {
    if (this.txEvent) this.clock.cancel(this.txEvent);
    this.txEvent = null;
    this.tx = "stopped";
    this.rx = "stopped";
    this.regs.fill(0);
    for (const { offset, spec } of MAP.entries()) this.set(offset, spec.reset ?? 0);
    this.counters.clear();
  }

  private softReset(): void {
    this.resetRegisters();
    this.note("soft-reset");
    this.softResetEvent = this.clock.schedule(
      this.softResetNs,
      `${this.name}: software reset`,
      () => {
        this.softResetEvent = null;
      },
    );
  }

  private setListBase(offset: number, current: number, process: DmaProcess, value: number): void {
    this.set(offset, value);
    if (process === "stopped") {
      this.set(current, value);
    } else {
      this.guestError(
        `${offset === R.TX_BASE ? "TX" : "RX"} descriptor list base written while the process runs`,
      );
    }
  }

  private dmaControl(value: number): void {
    const old = this.get(R.DMA_CONTROL);
    this.set(R.DMA_CONTROL, value);
    const rising = value & ~old;
    const falling = old & ~value;
    if (rising & B.DMA_CONTROL_ST) {
      this.tx = "running";
      this.scheduleTx(XGMAC_DMA_FETCH_NS);
    } else if (falling & B.DMA_CONTROL_ST && this.tx !== "stopped") {
      this.stopTx();
      this.raise(B.DMA_STATUS_TPS);
    }
    if (rising & B.DMA_CONTROL_SR) {
      this.rx = "running";
      this.checkRxDescriptor();
    } else if (falling & B.DMA_CONTROL_SR && this.rx !== "stopped") {
      this.rx = "stopped";
      this.raise(B.DMA_STATUS_RPS);
    }
  }

  // ---- descriptors ----

  private descriptorStride(): number {
    const mode = this.get(R.BUS_MODE);
    const skip = ((mode & B.DMA_BUS_MODE_DSL_MASK) >>> B.DMA_BUS_MODE_DSL_SHIFT) * 8;
    return (mode & B.DMA_BUS_MODE_ATDS ? 32 : 16) + skip;
  }

  private readDescriptor(addr: number): Descriptor | BusError {
    const raw = new Uint8Array(16);
    const e = this.dma!.read(addr, raw);
    if (e) return e;
    const v = new DataView(raw.buffer);
    return {
      addr,
      flags: v.getUint32(0, true),
      sizes: v.getUint32(4, true),
      buf1: v.getUint32(8, true),
      buf2: v.getUint32(12, true),
    };
  }

  private fatal(process: "tx" | "rx", error: BusError, descriptor: boolean): void {
    let eb = descriptor ? B.DMA_STATUS_EB_DESC : 0;
    if (process === "tx") eb |= B.DMA_STATUS_EB_TXDMA;
    if (!error.write) eb |= B.DMA_STATUS_EB_READ;
    this.set(R.STATUS, (this.get(R.STATUS) & ~STATUS_EB) | eb | B.DMA_STATUS_FBI);
    if (process === "tx") this.stopTx();
    else this.rx = "stopped";
    this.note("fatal-bus-error", {
      process,
      address: error.address,
      write: error.write,
      descriptor,
      reason: error.reason,
    });
  }

  // ---- transmit ----

  private stopTx(): void {
    if (this.txEvent) this.clock.cancel(this.txEvent);
    this.txEvent = null;
    this.tx = "stopped";
  }

  private scheduleTx(delay: number): void {
    if (this.txEvent) return;
    this.txEvent = this.clock.schedule(delay, `${this.name}: tx`, () => {
      this.txEvent = null;
      this.txStep();
      this.update();
    });
  }

  private txPollDemand(): void {
    if (this.tx === "stopped") {
      this.note("tx-poll-ignored", { reason: "transmit process stopped" });
      return;
    }
    this.tx = "running";
    this.scheduleTx(XGMAC_DMA_FETCH_NS);
  }

  /** Transmits one frame, if the list holds a complete one and the transmitter is enabled. */
  private txStep(): void {
    if (this.tx === "stopped") return;
    // A disabled transmitter stalls the DMA; setting TE resumes it.
    if (!(this.get(R.CONTROL) & B.MAC_ENABLE_TX)) return;

    const descriptors: Descriptor[] = [];
    let addr = this.get(R.CUR_TX_DESC);
    for (;;) {
      if (descriptors.length === MAX_FRAME_DESCRIPTORS) {
        this.guestError(`TX frame spans ${MAX_FRAME_DESCRIPTORS} descriptors without LAST_SEG`);
        this.suspendTx();
        return;
      }
      const d = this.readDescriptor(addr);
      if (!("flags" in d)) {
        this.fatal("tx", d, true);
        return;
      }
      if (!(d.flags & B.DESC_OWN)) {
        this.suspendTx();
        return;
      }
      if (descriptors.length === 0 && !(d.flags & B.TXDESC_FIRST_SEG)) {
        this.guestError(`TX descriptor at 0x${addr.toString(16)} starts a frame without FIRST_SEG`);
      }
      descriptors.push(d);
      addr = this.nextTxDescriptor(d);
      if (d.flags & B.TXDESC_LAST_SEG) break;
    }

    const chunks: Uint8Array[] = [];
    for (const d of descriptors) {
      const buffers: [number, number][] = [[d.buf1, d.sizes & B.DESC_BUFFER1_SZ_MASK]];
      if (!(d.flags & B.TXDESC_2ND_ADDR_CHAINED)) {
        buffers.push([d.buf2, (d.sizes & B.DESC_BUFFER2_SZ_MASK) >>> B.DESC_BUFFER2_SZ_OFFSET]);
      }
      for (const [buf, len] of buffers) {
        if (len === 0) continue;
        this.set(R.CUR_TX_BUF, buf);
        const chunk = new Uint8Array(len);
        const e = this.dma!.read(buf, chunk);
        if (e) {
          this.fatal("tx", e, false);
          return;
        }
        chunks.push(chunk);
      }
    }
    const frame = concat(chunks);

    if (!(this.get(R.CONTROL) & B.XGMAC_CONTROL_LM)) this.onTransmit?.(frame);
    else if (frame.length >= ETH_HLEN && frame.length <= MAX_RX_FRAME) this.receive(frame);
    else this.note("rx-drop", { reason: "looped-back frame length" });
    this.countTx(frame);
    this.note("tx-frame", { length: frame.length, descriptors: descriptors.length });

    for (const d of descriptors) {
      const e = this.dma!.write32(d.addr, (d.flags & ~(B.DESC_OWN | TX_STATUS_MASK)) >>> 0);
      if (e) {
        this.fatal("tx", e, true);
        return;
      }
    }
    if (descriptors.at(-1)!.flags & B.TXDESC_INTERRUPT) this.raise(B.DMA_STATUS_TI);
    this.set(R.CUR_TX_DESC, addr);
    this.scheduleTx(Math.ceil(((frame.length + WIRE_OVERHEAD) * 4) / 5));
  }

  private suspendTx(): void {
    this.tx = "suspended";
    this.raise(B.DMA_STATUS_TU);
  }

  private nextTxDescriptor(d: Descriptor): number {
    if (d.flags & B.TXDESC_END_RING) return this.get(R.TX_BASE);
    if (d.flags & B.TXDESC_2ND_ADDR_CHAINED) return d.buf2;
    return d.addr + this.descriptorStride();
  }

  // ---- receive ----

  private nextRxDescriptor(d: Descriptor): number {
    if (d.sizes & B.RXDESC1_END_RING) return this.get(R.RX_BASE);
    if (d.sizes & B.RXDESC1_CHAINED) return d.buf2;
    return d.addr + this.descriptorStride();
  }

  /** On SR and on a poll demand: is the current descriptor ours? */
  private checkRxDescriptor(): void {
    const d = this.readDescriptor(this.get(R.CUR_RX_DESC));
    if (!("flags" in d)) {
      this.fatal("rx", d, true);
      return;
    }
    if (d.flags & B.DESC_OWN) {
      this.rx = "running";
    } else {
      this.rx = "suspended";
      this.raise(B.DMA_STATUS_RU);
    }
  }

  private rxPollDemand(): void {
    if (this.rx === "stopped") {
      this.note("rx-poll-ignored", { reason: "receive process stopped" });
      return;
    }
    this.checkRxDescriptor();
  }

  private storeFrame(frame: Uint8Array, verdict: Verdict, control: number): boolean {
    const type = (frame[12]! << 8) | frame[13]!;
    const ethernetType = type >= 0x600;
    const data =
      !ethernetType && control & B.XGMAC_CONTROL_ACS ? frame : concat([frame, fcs(frame)]);

    const descriptors: Descriptor[] = [];
    let addr = this.get(R.CUR_RX_DESC);
    let room = 0;
    while (room < data.length) {
      if (descriptors.length === MAX_FRAME_DESCRIPTORS) {
        this.guestError(
          `RX frame of ${data.length} bytes does not fit ${MAX_FRAME_DESCRIPTORS} descriptors`,
        );
        this.countMissed(0, 0xffff, 1 << 16);
        return this.drop("descriptors too small");
      }
      this.set(R.CUR_RX_DESC, addr);
      const d = this.readDescriptor(addr);
      if (!("flags" in d)) {
        this.fatal("rx", d, true);
        return false;
      }
      if (!(d.flags & B.DESC_OWN)) {
        this.rx = "suspended";
        this.raise(B.DMA_STATUS_RU);
        this.countMissed(0, 0xffff, 1 << 16);
        return this.drop("no receive descriptor");
      }
      descriptors.push(d);
      room += rxCapacity(d);
      addr = this.nextRxDescriptor(d);
    }
    this.rx = "running";

    let done = 0;
    for (const d of descriptors) {
      const buffers: [number, number][] = [[d.buf1, d.sizes & B.DESC_BUFFER1_SZ_MASK]];
      if (!(d.sizes & B.RXDESC1_CHAINED)) {
        buffers.push([d.buf2, (d.sizes & B.DESC_BUFFER2_SZ_MASK) >>> B.DESC_BUFFER2_SZ_OFFSET]);
      }
      for (const [buf, size] of buffers) {
        const n = Math.min(size, data.length - done);
        if (n <= 0) continue;
        this.set(R.CUR_RX_BUF, buf);
        const e = this.dma!.write(buf, data.subarray(done, done + n));
        if (e) {
          this.fatal("rx", e, false);
          return false;
        }
        done += n;
      }
    }

    const last = descriptors.length - 1;
    for (const [i, d] of descriptors.entries()) {
      let flags = i === 0 ? B.RXDESC_FIRST_SEG : 0;
      if (i === last) {
        flags |= B.RXDESC_LAST_SEG | (data.length << B.RXDESC_FRAME_LEN_OFFSET);
        if (ethernetType) flags |= B.RXDESC_FRAME_TYPE;
        if (verdict.daFail) flags |= B.RXDESC_DA_FILTER_FAIL;
      }
      const e = this.dma!.write32(d.addr, flags >>> 0);
      if (e) {
        this.fatal("rx", e, true);
        return false;
      }
    }
    this.set(R.CUR_RX_DESC, addr);
    this.raise(B.DMA_STATUS_RI);
    this.note("rx-frame", { length: data.length, descriptors: descriptors.length });
    return true;
  }

  private drop(reason: string): false {
    this.note("rx-drop", { reason });
    this.update();
    return false;
  }

  /** Saturating counter in XGMAC_DMA_MISS_FRAME_CTR at `shift`, with its overflow bit. */
  private countMissed(shift: number, max: number, overflow: number): void {
    const v = this.get(R.MISS_FRAME_CTR);
    const n = (v >>> shift) & max;
    const next = n === max ? v | overflow : (v & ~(max << shift)) | ((n + 1) << shift);
    this.set(R.MISS_FRAME_CTR, next >>> 0);
  }

  // ---- address filter and power management ----

  private filter(frame: Uint8Array): Verdict {
    const ff = this.get(R.FRAME_FILTER);
    if (ff & B.XGMAC_FRAME_FILTER_PR) return { pass: true, daFail: false };
    const da = frame.subarray(0, 6);
    const orPerfect = (ff & B.XGMAC_FRAME_FILTER_HPF) !== 0;
    let ok: boolean;
    if (da.every((b) => b === 0xff)) {
      ok = !(ff & B.XGMAC_FRAME_FILTER_DBF);
    } else if (da[0]! & 1) {
      ok =
        (ff & B.XGMAC_FRAME_FILTER_PM) !== 0 ||
        (ff & B.XGMAC_FRAME_FILTER_HMC
          ? this.hashHit(da) || (orPerfect && this.perfectHit(da))
          : this.perfectHit(da));
    } else {
      ok =
        ff & B.XGMAC_FRAME_FILTER_HUC
          ? this.hashHit(da) || (orPerfect && this.perfectHit(da))
          : this.perfectHit(da);
    }
    if (ok) return { pass: true, daFail: false };
    return ff & B.XGMAC_FRAME_FILTER_RA
      ? { pass: true, daFail: true }
      : { pass: false, daFail: true };
  }

  private addressMatches(n: number, da: Uint8Array): boolean {
    const hi = this.get(R.ADDR_HIGH + 8 * n);
    const lo = this.get(R.ADDR_LOW + 8 * n);
    if (n > 0 && !(hi & B.XGMAC_ADDR_AE)) return false;
    return (
      da[0] === (lo & 0xff) &&
      da[1] === ((lo >>> 8) & 0xff) &&
      da[2] === ((lo >>> 16) & 0xff) &&
      da[3] === lo >>> 24 &&
      da[4] === (hi & 0xff) &&
      da[5] === ((hi >>> 8) & 0xff)
    );
  }

  private perfectHit(da: Uint8Array): boolean {
    for (let n = 0; n < 32; n++) if (this.addressMatches(n, da)) return true;
    return false;
  }

  private hashHit(da: Uint8Array): boolean {
    const bit = xgmacHashBit(da);
    return ((this.get(R.HASH + 4 * (bit >>> 5)) >>> (bit & 31)) & 1) === 1;
  }

  /** In power-down only wake-up events are looked for: a magic packet or any unicast to us. */
  private checkWakeUp(frame: Uint8Array): void {
    const pmt = this.get(R.PMT);
    let event = 0;
    if (pmt & B.XGMAC_PMT_MAGIC_PKT_EN && this.isMagicPacket(frame)) event = B.XGMAC_PMT_MAGIC_PKT;
    else if (
      pmt & B.XGMAC_PMT_GLBL_UNICAST &&
      !(frame[0]! & 1) &&
      this.perfectHit(frame.subarray(0, 6))
    ) {
      event = B.XGMAC_PMT_WAKEUP_RX_FRM;
    }
    if (!event) return;
    this.set(R.PMT, (pmt & ~B.XGMAC_PMT_POWERDOWN) | event);
    this.set(R.INT_STAT, this.get(R.INT_STAT) | B.XGMAC_INT_STAT_PMT);
    this.note("wake-up", { event: event === B.XGMAC_PMT_MAGIC_PKT ? "magic-packet" : "unicast" });
  }

  /** Six 0xff bytes followed by sixteen copies of address 0, anywhere in the frame. */
  private isMagicPacket(frame: Uint8Array): boolean {
    const hi = this.get(R.ADDR_HIGH);
    const lo = this.get(R.ADDR_LOW);
    const mac = [
      lo & 0xff,
      (lo >>> 8) & 0xff,
      (lo >>> 16) & 0xff,
      lo >>> 24,
      hi & 0xff,
      (hi >>> 8) & 0xff,
    ];
    outer: for (let i = 0; i + 6 + 96 <= frame.length; i++) {
      for (let k = 0; k < 6; k++) if (frame[i + k] !== 0xff) continue outer;
      for (let k = 0; k < 96; k++) if (frame[i + 6 + k] !== mac[k % 6]) continue outer;
      return true;
    }
    return false;
  }

  // ---- MMC ----

  private count(counter: string, n: number): void {
    if (this.get(R.MMC_CTRL) & B.XGMAC_MMC_CTRL_CNT_FRZ) return;
    this.counters.set(counter, (this.counters.get(counter) ?? 0) + n);
  }

  private countTx(frame: Uint8Array): void {
    const octets = frame.length + ETH_FCS_LEN;
    this.count("TXOCTET_GB", octets);
    this.count("TXOCTET_G", octets);
    this.count("TXFRAME_GB", 1);
    this.count("TXFRAME_G", 1);
    const kind = addressKind(frame);
    if (kind === "broadcast") {
      this.count("TXBCFRAME_G", 1);
      this.count("TXBCFRAME_GB", 1);
    } else if (kind === "multicast") {
      this.count("TXMCFRAME_G", 1);
      this.count("TXMCFRAME_GB", 1);
    } else {
      this.count("TXUCFRAME_GB", 1);
    }
    if (isVlan(frame)) this.count("TXVLANFRAME", 1);
  }

  private countRx(frame: Uint8Array): void {
    const octets = frame.length + ETH_FCS_LEN;
    this.count("RXFRAME_GB", 1);
    this.count("RXOCTET_GB", octets);
    this.count("RXOCTET_G", octets);
    const kind = addressKind(frame);
    this.count(
      kind === "broadcast" ? "RXBCFRAME_G" : kind === "multicast" ? "RXMCFRAME_G" : "RXUCFRAME_G",
      1,
    );
    if (isVlan(frame)) this.count("RXVLANFRAME", 1);
  }
}

function rxCapacity(d: Descriptor): number {
  const b1 = d.sizes & B.DESC_BUFFER1_SZ_MASK;
  if (d.sizes & B.RXDESC1_CHAINED) return b1;
  return b1 + ((d.sizes & B.DESC_BUFFER2_SZ_MASK) >>> B.DESC_BUFFER2_SZ_OFFSET);
}

function addressKind(frame: Uint8Array): "broadcast" | "multicast" | "unicast" {
  if (frame.length >= 6 && frame.subarray(0, 6).every((b) => b === 0xff)) return "broadcast";
  return (frame[0] ?? 0) & 1 ? "multicast" : "unicast";
}

function isVlan(frame: Uint8Array): boolean {
  return frame.length >= ETH_HLEN && frame[12] === 0x81 && frame[13] === 0x00;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The IEEE 802.3 CRC-32 (reflected, initial and final inversion). */
export function crc32(data: Uint8Array): number {
  let c = 0xffff_ffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb8_8320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** The FCS as it follows the frame on the wire and in memory: the CRC, least significant byte first. */
function fcs(frame: Uint8Array): Uint8Array {
  const c = crc32(frame);
  return new Uint8Array([c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24]);
}

/**
 * The hash-table bit (0–511) of a destination address: the top 9 bits of the bit-reversed
 * CRC-32. XGMAC_HASH(bit >> 5) holds it at bit (bit & 31) — the value xgmac.c computes as
 * `~ether_crc(ETH_ALEN, addr) >> 23`.
 */
export function xgmacHashBit(address: Uint8Array): number {
  let c = crc32(address.subarray(0, 6));
  let r = 0;
  for (let i = 0; i < 32; i++) {
    r = (r << 1) | (c & 1);
    c >>>= 1;
  }
  return r >>> 23;
}

function macFromNode(
  properties: readonly { name: string; value: Uint8Array }[],
): number[] | undefined {
  for (const name of ["local-mac-address", "mac-address"]) {
    const p = properties.find((q) => q.name === name);
    if (p && p.value.length === 6) return [...p.value];
  }
  return undefined;
}

export const xgmacModel: DeviceModel = {
  compatible: ["calxeda,hb-xgmac"],
  description: "Calxeda XGMAC 10G Ethernet MAC (control, DMA descriptor rings and interrupts)",
  create: (ctx, id, node) => {
    const macAddress = macFromNode(node.properties);
    return new Xgmac(ctx, id, macAddress ? { macAddress } : {});
  },
};
