/**
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: the SMMUv3 queues as the driver sees them — a
 * power-of-two ring in DMA memory plus PROD/CONS registers whose low bits index the ring and
 * whose next bit is the wrap flag (`struct arm_smmu_ll_queue`) — and command submission:
 * commands are written into the ring, PROD is moved, and a CMD_SYNC (completion signalled
 * by SEV, as on an SMMU without MSIs) is polled for by reading CONS until it has gone past.
 *
 * Caveat: one CPU, so none of the lock-free multi-producer machinery (owner flag, valid map,
 * shared lock) is needed. The SMMU model consumes commands as soon as PROD moves, so a poll
 * either sees completion at once or the queue has stopped (an error): the 1 s timeout is
 * reported without spinning virtual time.
 */

import { CMD_SYNC_CS_SEV, encodeCommand, type PhysicalMemory } from "@vfio-lab/hw-soc";
import type { RatelimitState } from "../../iommu/ratelimit.js";
import type { DevLogger } from "../../printk/dev-printk.js";
import type { Printk } from "../../printk/printk.js";
import type { Iomem } from "./ioremap.js";

/** Q_OVERFLOW_FLAG: bit 31 of PROD/CONS. */
export const Q_OVERFLOW_FLAG = 0x8000_0000;
/** CMDQ_BATCH_ENTRIES (BITS_PER_LONG). */
export const CMDQ_BATCH_ENTRIES = 64;
/** ARM_SMMU_SH_ISH, ARM_SMMU_MEMATTR_OIWB */
export const ARM_SMMU_SH_ISH = 3;
export const ARM_SMMU_MEMATTR_OIWB = 0xf;

/** `struct arm_smmu_queue` with its `struct arm_smmu_ll_queue`. */
export class ArmSmmuQueue {
  /** Shadow PROD/CONS (`llq.prod`, `llq.cons`). */
  prod = 0;
  cons = 0;
  /** Physical address of the ring (`base_dma`). */
  base = 0;
  /** The value for the *_BASE register (`q_base`). */
  qBase = 0n;
  /** The wired interrupt, or 0. */
  irq = 0;

  constructor(
    /** Bytes per entry (16 for commands, 32 for events). */
    readonly entBytes: number,
    /** log2 of the number of entries (`max_n_shift`). */
    public maxNShift: number,
    readonly prodOff: number,
    readonly consOff: number,
    readonly regs: Iomem,
  ) {}

  /** Q_IDX() */
  idx(p: number): number {
    return p & (2 ** this.maxNShift - 1);
  }

  /** Q_WRP() */
  wrp(p: number): number {
    return p & (2 ** this.maxNShift);
  }

  /** Q_OVF() */
  static ovf(p: number): number {
    return (p & Q_OVERFLOW_FLAG) >>> 0;
  }

  /** Q_ENT(): the physical address of the entry `p` points at. */
  entAddr(p: number): number {
    return this.base + this.idx(p) * this.entBytes;
  }

  /** queue_has_space() */
  hasSpace(n: number): boolean {
    const prod = this.idx(this.prod);
    const cons = this.idx(this.cons);
    const space =
      this.wrp(this.prod) === this.wrp(this.cons)
        ? 2 ** this.maxNShift - (prod - cons)
        : cons - prod;
    return space >= n;
  }

  /** queue_full() */
  full(): boolean {
    return (
      this.idx(this.prod) === this.idx(this.cons) && this.wrp(this.prod) !== this.wrp(this.cons)
    );
  }

  /** queue_empty() */
  empty(): boolean {
    return (
      this.idx(this.prod) === this.idx(this.cons) && this.wrp(this.prod) === this.wrp(this.cons)
    );
  }

  /** queue_consumed(): CONS has gone past `prod`. */
  consumed(prod: number): boolean {
    const cons = this.cons;
    return (
      (this.wrp(cons) === this.wrp(prod) && this.idx(cons) > this.idx(prod)) ||
      (this.wrp(cons) !== this.wrp(prod) && this.idx(cons) <= this.idx(prod))
    );
  }

  /** queue_inc_prod_n() */
  incProdN(n: number): number {
    const p = (this.wrp(this.prod) | this.idx(this.prod)) + n;
    return (ArmSmmuQueue.ovf(this.prod) | this.wrp(p) | this.idx(p)) >>> 0;
  }

  /** queue_inc_cons() */
  incCons(): void {
    const c = (this.wrp(this.cons) | this.idx(this.cons)) + 1;
    this.cons = (ArmSmmuQueue.ovf(this.cons) | this.wrp(c) | this.idx(c)) >>> 0;
  }

  /** queue_sync_cons_out() */
  syncConsOut(): void {
    this.regs.writel(this.cons, this.consOff);
  }

  /** queue_sync_prod_in(): false on an overflow (EOVERFLOW). */
  syncProdIn(): boolean {
    const prod = this.regs.readl(this.prodOff);
    const overflow = ArmSmmuQueue.ovf(prod) !== ArmSmmuQueue.ovf(this.prod);
    this.prod = prod;
    return !overflow;
  }

  /** queue_sync_cons_ovf() — acknowledges an overflow once caught up. */
  syncConsOvf(): void {
    if (ArmSmmuQueue.ovf(this.prod) === ArmSmmuQueue.ovf(this.cons)) return;
    this.cons = (ArmSmmuQueue.ovf(this.prod) | this.wrp(this.cons) | this.idx(this.cons)) >>> 0;
    this.syncConsOut();
  }

  /** queue_remove_raw(): the next entry's bytes, or null when empty. */
  removeRaw(memory: PhysicalMemory): Uint8Array | null {
    if (this.empty()) return null;
    const ent = new Uint8Array(this.entBytes);
    memory.read(this.entAddr(this.cons), ent);
    this.incCons();
    this.syncConsOut();
    return ent;
  }
}

let cmdSync: Uint8Array | null = null;

/**
 * arm-smmu-v3.h: arm_smmu_make_cmd_sync() with CS = SEV and no MSI. The command never changes,
 * so it is encoded once; callers only copy it into the queue.
 */
export function makeCmdSync(): Uint8Array {
  cmdSync ??= encodeCommand("CMD_SYNC", {
    CS: CMD_SYNC_CS_SEV,
    MSH: ARM_SMMU_SH_ISH,
    MSIAttr: ARM_SMMU_MEMATTR_OIWB,
  });
  return cmdSync;
}

/** `struct arm_smmu_cmdq`: the command queue and how commands are issued. */
export class ArmSmmuCmdq {
  constructor(
    readonly q: ArmSmmuQueue,
    private readonly memory: PhysicalMemory,
    private readonly printk: Printk,
    private readonly log: DevLogger,
    private readonly rs: RatelimitState,
  ) {}

  /**
   * arm-smmu-v3.c: arm_smmu_cmdq_issue_cmdlist() — writes `cmds` (and a CMD_SYNC when
   * `sync`), moves PROD, and for a sync polls CONS until it is past the CMD_SYNC. False (with
   * the kernel's message) on a timeout.
   */
  issueCmdlist(cmds: readonly Uint8Array[], sync: boolean): boolean {
    const q = this.q;
    const n = cmds.length + (sync ? 1 : 0);
    if (!q.hasSpace(n)) {
      // arm_smmu_cmdq_poll_until_not_full()
      q.cons = q.regs.readl(q.consOff);
      if (!q.hasSpace(n)) {
        if (this.rs.ratelimit(this.printk, "__arm_smmu_cmdq_issue_cmdlist")) {
          this.log.err("CMDQ timeout");
        }
        return false;
      }
    }
    cmds.forEach((c, i) => {
      this.memory.write(q.entAddr(q.incProdN(i)), c);
    });
    const syncProd = q.incProdN(cmds.length);
    if (sync) this.memory.write(q.entAddr(syncProd), makeCmdSync());
    q.prod = q.incProdN(n);
    q.regs.writel(q.prod, q.prodOff);
    if (!sync) return true;
    // __arm_smmu_cmdq_poll_until_consumed()
    q.cons = q.regs.readl(q.consOff);
    if (q.consumed(syncProd)) return true;
    if (this.rs.ratelimit(this.printk, "__arm_smmu_cmdq_issue_cmdlist")) {
      const h8 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
      this.log.err(
        `CMD_SYNC timeout at ${h8(syncProd)} [hwprod ${h8(q.regs.readl(q.prodOff))}, hwcons ${h8(q.regs.readl(q.consOff))}]`,
      );
    }
    return false;
  }

  /** arm_smmu_cmdq_issue_cmd() / arm_smmu_cmdq_issue_cmd_with_sync() */
  issueCmd(cmd: Uint8Array, sync: boolean): boolean {
    return this.issueCmdlist([cmd], sync);
  }

  /** A batch of commands (`struct arm_smmu_cmdq_batch`). */
  batch(): ArmSmmuCmdqBatch {
    return new ArmSmmuCmdqBatch(this);
  }
}

/** `struct arm_smmu_cmdq_batch`: up to 64 commands, issued without a sync when it fills. */
export class ArmSmmuCmdqBatch {
  private cmds: Uint8Array[] = [];

  constructor(private readonly cmdq: ArmSmmuCmdq) {}

  get num(): number {
    return this.cmds.length;
  }

  /** arm_smmu_cmdq_batch_add_cmd() */
  add(cmd: Uint8Array): void {
    if (this.cmds.length === CMDQ_BATCH_ENTRIES) {
      this.cmdq.issueCmdlist(this.cmds, false);
      this.cmds = [];
    }
    this.cmds.push(cmd);
  }

  /** arm_smmu_cmdq_batch_submit(): what is left, with a CMD_SYNC. */
  submit(): boolean {
    const ok = this.cmdq.issueCmdlist(this.cmds, true);
    this.cmds = [];
    return ok;
  }
}
