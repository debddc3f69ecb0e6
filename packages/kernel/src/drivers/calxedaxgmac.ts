/**
 * drivers/net/ethernet/calxeda/xgmac.c: the `calxedaxgmac` platform driver
 * (of_match `calxeda,hb-xgmac`), reduced to what probe, open and stop program — the
 * registers the vfio reset module (vfio_platform_calxedaxgmac.c) also touches.
 *
 * Probe (xgmac_probe): the window claimed as the device's name and mapped, the version logged
 * — `calxedaxgmac c010000.ethernet (unnamed net_device) (uninitialized): h/w version is
 * 0x1012` (netdev_info() before the netdev has a name) — the MAC address filters counted
 * (ADDR_HIGH(31) write-read), DMA interrupts off, interrupts 0 ("main") and 1 ("pmt")
 * requested under the device's name, checksum offload from DMA_HW_FEATURE, the MAC address
 * read from address register 0 (a warning when it is not a valid one), and the netdev
 * registered as `eth<n>`.
 *
 * open() (xgmac_open → xgmac_hw_init): software reset (DMA_BUS_MODE.SFT_RESET, polled up to
 * 15000 reads — the model lets virtual time run between reads; EBUSY if it never clears),
 * bus mode, interrupts off, PMT masked, the AXI magic, CONTROL (DDIC|JE|ACS|CAR, IPC with
 * checksum offload), DMA_CONTROL.OSF, OMR, MMC counters reset; the MAC address into register 0;
 * flow control (RFE|TFE|PLT|UP, pause time 0x400, OMR.EFC); descriptor rings (256 RX, 128 TX
 * descriptors of 32 bytes, dma_alloc_coherent, end-of-ring bits) written to the base
 * registers; MAC TX|RX and DMA ST|SR enabled; DMA_STATUS cleared and DMA_INTR_ENA set to
 * DMA_INTR_DEFAULT_MASK. stop() (xgmac_stop): DMA_INTR_ENA 0, DMA ST|SR and MAC TX|RX off,
 * rings freed. Remove stops the MAC, frees both interrupts and unregisters the netdev.
 *
 * The main interrupt acknowledges the enabled status bits and counts them (xgmac_interrupt();
 * abnormal causes log as Linux does: `fatal bus error`, `transmit process stopped`, …).
 *
 * Caveat: no network stack — no transmit path, no RX buffers posted (the RX ring is empty:
 * received frames are dropped with RU), no NAPI (the interrupt does the accounting at once),
 * no ethtool/PM/WoL; an invalid MAC address is replaced at open by a fixed locally
 * administered one derived from the device address (Linux picks a random one).
 */

import { type IoMem, ioremap } from "../base/io.js";
import { type PlatformDevice, PlatformDriver } from "../base/platform.js";
import { IORESOURCE_MEM, releaseRegion, requestRegion } from "../base/resource.js";
import { SysError } from "../errno.js";
import type { DmaCoherentBuffer } from "../iommu/dma-mapping.js";
import { IRQ_HANDLED } from "../irq/irq-flags.js";
import { devDriverString, devPrintkInfo } from "../printk/dev-printk.js";
import { KERN_ERR, KERN_INFO, KERN_WARNING, LOG_KERN } from "../printk/levels.js";
import { type BoardDriverEnv, drvdata } from "./board-env.js";

/** xgmac.c: register offsets. */
export const XGMAC = {
  CONTROL: 0x000,
  FRAME_FILTER: 0x004,
  FLOW_CTRL: 0x018,
  VERSION: 0x020,
  INT_STAT: 0x03c,
  ADDR_HIGH: (n: number) => 0x040 + n * 8,
  ADDR_LOW: (n: number) => 0x044 + n * 8,
  OMR: 0x400,
  PMT: 0x704,
  MMC_CTRL: 0x800,
  DMA_BUS_MODE: 0xf00,
  DMA_TX_POLL: 0xf04,
  DMA_RX_BASE_ADDR: 0xf0c,
  DMA_TX_BASE_ADDR: 0xf10,
  DMA_STATUS: 0xf14,
  DMA_CONTROL: 0xf18,
  DMA_INTR_ENA: 0xf1c,
  DMA_AXI_BUS: 0xf28,
  DMA_HW_FEATURE: 0xf58,
} as const;

/** xgmac.c: the bits the driver programs. */
export const XGMAC_BITS = {
  CONTROL_SPD_MASK: 0x6000_0000,
  CONTROL_CAR: 0x0400_0000,
  CONTROL_JE: 0x0010_0000,
  CONTROL_IPC: 0x0000_0400,
  CONTROL_ACS: 0x0000_0080,
  CONTROL_DDIC: 0x0000_0010,
  MAC_ENABLE_TX: 0x0000_0008,
  MAC_ENABLE_RX: 0x0000_0004,
  ADDR_AE: 0x8000_0000,
  INT_STAT_PMTIM: 0x0080_0000,
  INT_STAT_PMT: 0x0000_0080,
  FLOW_CTRL_PT_SHIFT: 16,
  FLOW_CTRL_PLT: 0x0000_0020,
  FLOW_CTRL_UP: 0x0000_0008,
  FLOW_CTRL_RFE: 0x0000_0004,
  FLOW_CTRL_TFE: 0x0000_0002,
  DMA_BUS_MODE_SFT_RESET: 0x0000_0001,
  DMA_BUS_MODE_ATDS: 0x0000_0080,
  DMA_BUS_MODE_PBL_SHIFT: 8,
  DMA_BUS_MODE_FB: 0x0001_0000,
  DMA_BUS_MODE_RPBL_SHIFT: 17,
  DMA_BUS_MODE_AAL: 0x0200_0000,
  DMA_CONTROL_ST: 0x0000_2000,
  DMA_CONTROL_SR: 0x0000_0002,
  DMA_CONTROL_OSF: 0x0000_0004,
  OMR_TSF: 0x0020_0000,
  OMR_RFD: 0x0000_6000,
  OMR_RFA: 0x0000_0600,
  OMR_EFC: 0x0000_0100,
  OMR_RTC_256: 0x0000_0018,
  DMA_HW_FEAT_TXCOESEL: 0x0001_0000,
  /** DMA_INTR_NORMAL | DMA_INTR_ABNORMAL */
  DMA_INTR_DEFAULT_MASK: 0x0001_a3ff,
  /** DMA_INTR_ABNORMAL */
  DMA_INTR_ABNORMAL: 0x0000_a3ba,
  DMA_STATUS_AIS: 0x0000_8000,
  DMA_STATUS_ETI: 0x0000_0400,
  DMA_STATUS_FBI: 0x0000_2000,
  DMA_STATUS_RPS: 0x0000_0100,
  DMA_STATUS_RU: 0x0000_0080,
  DMA_STATUS_RI: 0x0000_0040,
  DMA_STATUS_TJT: 0x0000_0008,
  DMA_STATUS_TU: 0x0000_0004,
  DMA_STATUS_TPS: 0x0000_0002,
  DMA_STATUS_TI: 0x0000_0001,
  TXDESC_END_RING: 0x0020_0000,
  RXDESC1_END_RING: 0x0000_8000,
} as const;
const B = XGMAC_BITS;

/** xgmac.c: ring sizes and the descriptor (`struct xgmac_dma_desc`, 8 words). */
export const DMA_RX_RING_SZ = 256;
export const DMA_TX_RING_SZ = 128;
const DESC_SIZE = 32;
/** PAUSE_TIME */
const PAUSE_TIME = 0x400;
/** ETH_DATA_LEN + ETH_HLEN + ETH_FCS_LEN + NET_IP_ALIGN, 8-aligned: the RX buffer size. */
const RX_BUF_SZ = (1500 + 14 + 4 + 2 + 7) & ~7;
/** What one polling read of a register costs the CPU, in virtual time. */
const MMIO_READ_NS = 100;

/** Interrupt causes the driver has seen (`struct xgmac_extra_stats`, in part). */
export interface XgmacStats {
  interrupts: number;
  txProcessStopped: number;
  rxBufUnav: number;
  rxProcessStopped: number;
  txJabber: number;
  txEarly: number;
  fatalBusError: number;
  pmtInterrupts: number;
}

/** `struct net_device` + `struct xgmac_priv` */
export class XgmacNetDevice {
  /** `dev->name`: "eth%d" until register_netdev() names it. */
  name = "eth%d";
  /** `dev->dev_addr` */
  devAddr: Uint8Array = new Uint8Array(6);
  /** `priv->max_macs`: 31 or 7 address filters. */
  maxMacs = 7;
  /** NETIF_F_RXCSUM: checksum offload (DMA_HW_FEATURE.TXCOESEL). */
  rxcsum = false;
  /** register_netdev() ran (NETREG_REGISTERED). */
  registered = false;
  /** netif_running(): open() succeeded and stop() did not run. */
  running = false;
  readonly stats: XgmacStats = {
    interrupts: 0,
    txProcessStopped: 0,
    rxBufUnav: 0,
    rxProcessStopped: 0,
    txJabber: 0,
    txEarly: 0,
    fatalBusError: 0,
    pmtInterrupts: 0,
  };
  /** `ndev->irq` and `priv->pmt_irq` */
  irq = 0;
  pmtIrq = 0;
  private rxRing: DmaCoherentBuffer | null = null;
  private txRing: DmaCoherentBuffer | null = null;

  constructor(
    private readonly env: BoardDriverEnv,
    readonly pdev: PlatformDevice,
    readonly base: IoMem,
  ) {}

  /**
   * net/core/dev.c: __netdev_printk() — `<driver> <device> <netdev name><reg state>: text`,
   * emitted as the parent device's message (dev_printk_emit(): its SUBSYSTEM/DEVICE).
   */
  netdevLog(level: number, text: string): void {
    const unnamed = this.name.includes("%");
    const name = unnamed ? "(unnamed net_device)" : this.name;
    const state = this.registered ? "" : " (uninitialized)";
    const line = `${devDriverString(this.pdev)} ${this.pdev.name} ${name}${state}: ${text}`;
    this.pdev.ctx.printk.vprintkEmit(LOG_KERN, level, line, devPrintkInfo(this.pdev));
  }

  /** The MAC address as `%pM` prints it. */
  get macAddress(): string {
    return [...this.devAddr].map((b) => b.toString(16).padStart(2, "0")).join(":");
  }

  /** xgmac_get_mac_addr() of register pair `num`. */
  getMacAddr(num: number): Uint8Array {
    const hi = this.base.readl(XGMAC.ADDR_HIGH(num));
    const lo = this.base.readl(XGMAC.ADDR_LOW(num));
    return Uint8Array.of(
      lo & 0xff,
      (lo >>> 8) & 0xff,
      (lo >>> 16) & 0xff,
      lo >>> 24,
      hi & 0xff,
      (hi >>> 8) & 0xff,
    );
  }

  /** xgmac_set_mac_addr(): AE is set for every register but 0. */
  private setMacAddr(addr: Uint8Array, num: number): void {
    const hi = (((addr[5] as number) << 8) | (addr[4] as number) | (num ? B.ADDR_AE : 0)) >>> 0;
    const lo =
      (((addr[3] as number) << 24) |
        ((addr[2] as number) << 16) |
        ((addr[1] as number) << 8) |
        (addr[0] as number)) >>>
      0;
    this.base.writel(XGMAC.ADDR_HIGH(num), hi);
    this.base.writel(XGMAC.ADDR_LOW(num), lo);
  }

  /** xgmac_hw_init(): software reset and the operating configuration. EBUSY if it hangs. */
  private hwInit(): void {
    const io = this.base;
    const ctrlSaved = io.readl(XGMAC.CONTROL) & B.CONTROL_SPD_MASK;
    io.writel(XGMAC.DMA_BUS_MODE, B.DMA_BUS_MODE_SFT_RESET);
    const cleared = this.env.scheduler.sleepUntil(
      () => (io.readl(XGMAC.DMA_BUS_MODE) & B.DMA_BUS_MODE_SFT_RESET) === 0,
      `${this.pdev.name}: software reset`,
      15000 * MMIO_READ_NS,
    );
    if (!cleared) throw new SysError("EBUSY", "xgmac_hw_init", "software reset did not complete");
    io.writel(
      XGMAC.DMA_BUS_MODE,
      (0x10 << B.DMA_BUS_MODE_PBL_SHIFT) |
        (0x10 << B.DMA_BUS_MODE_RPBL_SHIFT) |
        B.DMA_BUS_MODE_FB |
        B.DMA_BUS_MODE_ATDS |
        B.DMA_BUS_MODE_AAL,
    );
    io.writel(XGMAC.DMA_INTR_ENA, 0);
    io.writel(XGMAC.INT_STAT, B.INT_STAT_PMTIM);
    io.writel(XGMAC.DMA_AXI_BUS, 0x0077000e);
    let ctrl = ctrlSaved | B.CONTROL_DDIC | B.CONTROL_JE | B.CONTROL_ACS | B.CONTROL_CAR;
    if (this.rxcsum) ctrl |= B.CONTROL_IPC;
    io.writel(XGMAC.CONTROL, ctrl);
    io.writel(XGMAC.DMA_CONTROL, B.DMA_CONTROL_OSF);
    io.writel(XGMAC.OMR, B.OMR_TSF | B.OMR_RFD | B.OMR_RFA | B.OMR_RTC_256);
    io.writel(XGMAC.MMC_CTRL, 1);
  }

  /** xgmac_set_flow_ctrl(priv, 1, 1) */
  private setFlowCtrl(): void {
    const flow =
      B.FLOW_CTRL_RFE |
      B.FLOW_CTRL_TFE |
      B.FLOW_CTRL_PLT |
      B.FLOW_CTRL_UP |
      (PAUSE_TIME << B.FLOW_CTRL_PT_SHIFT);
    this.base.writel(XGMAC.FLOW_CTRL, flow);
    this.base.writel(XGMAC.OMR, this.base.readl(XGMAC.OMR) | B.OMR_EFC);
  }

  /** xgmac_dma_desc_rings_init(): both rings, end-of-ring marked, bases programmed. */
  private descRingsInit(): void {
    const rx = this.env.dma.dmaAllocCoherent(this.pdev, DMA_RX_RING_SZ * DESC_SIZE);
    let tx: DmaCoherentBuffer;
    try {
      tx = this.env.dma.dmaAllocCoherent(this.pdev, DMA_TX_RING_SZ * DESC_SIZE);
    } catch (e) {
      this.env.dma.dmaFreeCoherent(this.pdev, rx);
      throw e;
    }
    // desc_init_rx_desc(): each buffer size, END_RING on the last (no buffer is posted).
    const word = (v: number) =>
      Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
    for (let i = 0; i < DMA_RX_RING_SZ; i++) {
      const size = RX_BUF_SZ | (i === DMA_RX_RING_SZ - 1 ? B.RXDESC1_END_RING : 0);
      rx.write(i * DESC_SIZE + 4, word(size));
    }
    // desc_init_tx_desc()
    tx.write((DMA_TX_RING_SZ - 1) * DESC_SIZE, word(B.TXDESC_END_RING));
    this.rxRing = rx;
    this.txRing = tx;
    this.base.writel(XGMAC.DMA_TX_BASE_ADDR, tx.dmaHandle);
    this.base.writel(XGMAC.DMA_RX_BASE_ADDR, rx.dmaHandle);
  }

  /** xgmac_free_dma_desc_rings() */
  private freeDescRings(): void {
    if (this.txRing) this.env.dma.dmaFreeCoherent(this.pdev, this.txRing);
    if (this.rxRing) this.env.dma.dmaFreeCoherent(this.pdev, this.rxRing);
    this.txRing = null;
    this.rxRing = null;
  }

  /** xgmac_mac_enable(): MAC TX|RX, then DMA ST|SR. */
  private macEnable(): void {
    const io = this.base;
    io.writel(XGMAC.CONTROL, io.readl(XGMAC.CONTROL) | B.MAC_ENABLE_RX | B.MAC_ENABLE_TX);
    io.writel(XGMAC.DMA_CONTROL, io.readl(XGMAC.DMA_CONTROL) | B.DMA_CONTROL_ST | B.DMA_CONTROL_SR);
  }

  /** xgmac_mac_disable(): DMA ST|SR off, then MAC TX|RX. */
  macDisable(): void {
    const io = this.base;
    io.writel(
      XGMAC.DMA_CONTROL,
      io.readl(XGMAC.DMA_CONTROL) & ~(B.DMA_CONTROL_ST | B.DMA_CONTROL_SR),
    );
    io.writel(XGMAC.CONTROL, io.readl(XGMAC.CONTROL) & ~(B.MAC_ENABLE_TX | B.MAC_ENABLE_RX));
  }

  /** xgmac_open() (`ip link set eth0 up`): EBUSY when the reset hangs, ENOMEM for rings. */
  open(): void {
    if (this.running) return;
    if (!isValidEtherAddr(this.devAddr)) {
      this.devAddr = fallbackEtherAddr(this.pdev.name);
    }
    this.hwInit();
    this.setMacAddr(this.devAddr, 0);
    this.setFlowCtrl();
    this.descRingsInit();
    this.macEnable();
    this.base.writel(XGMAC.DMA_STATUS, B.DMA_INTR_DEFAULT_MASK);
    this.base.writel(XGMAC.DMA_INTR_ENA, B.DMA_INTR_DEFAULT_MASK);
    this.running = true;
  }

  /** xgmac_stop() (`ip link set eth0 down`) */
  stop(): void {
    if (!this.running) return;
    this.base.writel(XGMAC.DMA_INTR_ENA, 0);
    this.macDisable();
    this.freeDescRings();
    this.running = false;
  }

  /** xgmac_interrupt(): the enabled causes acknowledged and accounted. */
  interrupt(): number {
    const io = this.base;
    const status = io.readl(XGMAC.DMA_STATUS) & io.readl(XGMAC.DMA_INTR_ENA);
    io.writel(XGMAC.DMA_STATUS, status);
    this.stats.interrupts++;
    if (status & B.DMA_STATUS_AIS) {
      if (status & B.DMA_STATUS_TJT) {
        this.netdevLog(KERN_ERR, "transmit jabber");
        this.stats.txJabber++;
      }
      if (status & B.DMA_STATUS_RU) this.stats.rxBufUnav++;
      if (status & B.DMA_STATUS_RPS) {
        this.netdevLog(KERN_ERR, "receive process stopped");
        this.stats.rxProcessStopped++;
      }
      if (status & B.DMA_STATUS_ETI) {
        this.netdevLog(KERN_ERR, "transmit early interrupt");
        this.stats.txEarly++;
      }
      if (status & B.DMA_STATUS_TPS) {
        this.netdevLog(KERN_ERR, "transmit process stopped");
        this.stats.txProcessStopped++;
      }
      if (status & B.DMA_STATUS_FBI) {
        this.netdevLog(KERN_ERR, "fatal bus error");
        this.stats.fatalBusError++;
      }
    }
    return IRQ_HANDLED;
  }

  /** xgmac_pmt_interrupt(): reading PMT clears its status bits. */
  pmtInterrupt(): number {
    if (this.base.readl(XGMAC.INT_STAT) & B.INT_STAT_PMT) {
      this.base.readl(XGMAC.PMT);
      this.stats.pmtInterrupts++;
    }
    return IRQ_HANDLED;
  }
}

/** include/linux/etherdevice.h: is_valid_ether_addr() — not multicast, not all zeroes. */
export function isValidEtherAddr(addr: Uint8Array): boolean {
  return ((addr[0] as number) & 1) === 0 && addr.some((b) => b !== 0);
}

/** The address open() uses when the hardware has none (see the caveat). */
function fallbackEtherAddr(devName: string): Uint8Array {
  let h = 0x811c9dc5;
  for (const c of devName) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return Uint8Array.of(
    0x02,
    0x00,
    (h >>> 24) & 0xff,
    (h >>> 16) & 0xff,
    (h >>> 8) & 0xff,
    h & 0xff,
  );
}

/** The `calxedaxgmac` platform driver. */
export function xgmacDriver(env: BoardDriverEnv): PlatformDriver {
  /** net/core/dev.c: the eth%d names in use. */
  const names = new Set<number>();
  return new PlatformDriver({
    name: "calxedaxgmac",
    ofMatchTable: [{ compatible: "calxeda,hb-xgmac" }],
    /** xgmac.c: xgmac_probe() */
    probe: (pdev) => {
      const res = pdev.getResource(IORESOURCE_MEM, 0);
      if (!res) throw new SysError("ENODEV", "xgmac_probe", "no MEM resource");
      const iomem = pdev.ctx.iomem;
      if (!requestRegion(iomem, res.start, res.size, pdev.pdevName)) {
        throw new SysError("EBUSY", "xgmac_probe", "request_mem_region failed");
      }
      const undo: (() => void)[] = [() => releaseRegion(iomem, res.start, res.size)];
      const unwind = () => {
        for (const u of undo.reverse()) u();
      };
      try {
        const base = ioremap(pdev.ctx.systemBus, res.start, res.size);
        if (!base) {
          pdev.ctx.printk.vprintkEmit(
            LOG_KERN,
            KERN_ERR,
            `${devDriverString(pdev)} ${pdev.name} (unnamed net_device) (uninitialized): ioremap failed`,
            devPrintkInfo(pdev),
          );
          throw new SysError("ENOMEM", "xgmac_probe", "ioremap failed");
        }
        undo.push(() => base.unmap());
        const ndev = new XgmacNetDevice(env, pdev, base);
        ndev.netdevLog(KERN_INFO, `h/w version is 0x${base.readl(XGMAC.VERSION).toString(16)}`);
        // How many address filters answer: register 31 exists on the 31-filter version.
        base.writel(XGMAC.ADDR_HIGH(31), 1);
        ndev.maxMacs = base.readl(XGMAC.ADDR_HIGH(31)) === 1 ? 31 : 7;
        base.writel(XGMAC.DMA_INTR_ENA, 0);
        const request = (index: number, handler: () => number, what: string): number => {
          let irq: number;
          try {
            irq = pdev.getIrq(index);
          } catch (e) {
            if (SysError.isInstance(e) && e.code === "ENXIO") {
              ndev.netdevLog(KERN_ERR, `No ${what}irq resource`);
            }
            throw e;
          }
          try {
            env.irq.requestIrq(irq, handler, 0, pdev.name, ndev);
          } catch (e) {
            if (SysError.isInstance(e)) {
              ndev.netdevLog(KERN_ERR, `Could not request irq ${irq} - ret ${-e.errno})`);
            }
            throw e;
          }
          undo.push(() => env.irq.freeIrq(irq, ndev));
          return irq;
        };
        ndev.irq = request(0, () => ndev.interrupt(), "");
        ndev.pmtIrq = request(1, () => ndev.pmtInterrupt(), "pmt ");
        ndev.rxcsum = (base.readl(XGMAC.DMA_HW_FEATURE) & B.DMA_HW_FEAT_TXCOESEL) !== 0;
        ndev.devAddr = ndev.getMacAddr(0);
        if (!isValidEtherAddr(ndev.devAddr)) {
          ndev.netdevLog(KERN_WARNING, `MAC address ${ndev.macAddress} not valid`);
        }
        // register_netdev(): the lowest free eth<n>.
        let n = 0;
        while (names.has(n)) n++;
        names.add(n);
        ndev.name = `eth${n}`;
        ndev.registered = true;
        pdev.driverData = ndev;
      } catch (e) {
        unwind();
        throw e;
      }
    },
    /** xgmac.c: xgmac_remove() */
    remove: (pdev) => {
      const ndev = drvdata(pdev, XgmacNetDevice);
      ndev.macDisable();
      env.irq.freeIrq(ndev.irq, ndev);
      env.irq.freeIrq(ndev.pmtIrq, ndev);
      // unregister_netdev() closes a running interface first.
      ndev.stop();
      ndev.registered = false;
      names.delete(Number(ndev.name.slice(3)));
      ndev.base.unmap();
      const res = pdev.getResource(IORESOURCE_MEM, 0);
      if (res) releaseRegion(pdev.ctx.iomem, res.start, res.size);
    },
  });
}

/** The netdev of a bound XGMAC (ENODEV when not bound to calxedaxgmac). */
export function xgmacNetdev(pdev: PlatformDevice): XgmacNetDevice {
  return drvdata(pdev, XgmacNetDevice);
}
