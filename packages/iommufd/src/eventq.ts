/**
 * drivers/iommu/iommufd/eventq.c: the two kinds of event queue an iommufd hands out as a file
 * descriptor — the FAULT object (IOMMU_FAULT_QUEUE_ALLOC: I/O page-fault groups delivered to
 * user space through a HWPT allocated with IOMMU_HWPT_FAULT_ID_VALID, answered by writing
 * `iommu_hwpt_page_response` records) and the vEVENTQ (IOMMU_VEVENTQ_ALLOC: a vIOMMU's events of
 * one type, read as `iommufd_vevent_header` plus the driver's record).
 *
 * The file is an anonymous inode (`[iommufd-pgfault]`, `[iommufd-viommu-event]`) holding a
 * reference on its object and on the iommufd context until it is closed: IOMMU_DESTROY of a
 * queue whose fd is open is EBUSY. The file protocol, as eventq.c has it:
 * - FAULT read(): a non-zero position or a count not a multiple of 40 bytes is ESPIPE; whole
 *   fault groups only (EINVAL if the first does not fit); each group delivered gets a response
 *   cookie. write(): multiples of 8 bytes (ESPIPE), a response code other than SUCCESS/INVALID
 *   or an unknown cookie is EINVAL. poll(): always POLLOUT, POLLIN|POLLRDNORM while faults wait.
 * - vEVENTQ read(): a non-zero position is ESPIPE, fewer than 8 bytes EINVAL; whole events only;
 *   no write() (EINVAL from the VFS).
 * Neither read blocks: an empty queue reads 0 bytes.
 *
 * On the board: IOMMU_FAULT_QUEUE_ALLOC works as in Linux (it is driver-independent), but no
 * fault ever arrives — the arm-smmu-v3 model has no stall or PRI support, so the I/O page-fault
 * path never runs and the queue stays empty. IOMMU_VEVENTQ_ALLOC always ends at the vIOMMU
 * lookup (ENOENT): no vIOMMU can be allocated on a stage-1-only SMMU.
 *
 * Caveat:
 * - `struct iopf_group` is reduced to what this file reads of it (`IopfGroup`); nothing in the
 *   model produces one, so delivery, responses and auto-responses are modelled but never run.
 */

import {
  copyFromUser,
  copyToUser,
  type File,
  type FileOperations,
  type Inode,
  O_CLOEXEC,
  O_RDWR,
  POLLIN,
  POLLOUT,
  POLLRDNORM,
  SysError,
  type Task,
} from "@vfio-lab/kernel";
import type { IommufdAttachHandle } from "./device.js";
import type { IommufdHwPagetable } from "./hw-pagetable.js";
import { type IommufdCtx, iommufdModule } from "./main.js";
import { IommufdObject } from "./object.js";
import {
  IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
  IOMMU_VEVENTQ_TYPE_DEFAULT,
  IOMMUFD_PAGE_RESP_INVALID,
  IOMMUFD_PAGE_RESP_SUCCESS,
  type IommuFaultAlloc,
  type IommuVeventqAlloc,
  iommu_hwpt_page_response,
  iommu_hwpt_pgfault,
  iommufd_vevent_header,
} from "./uapi.js";
import { iommufdObjectAllocUcmd, type Ucmd, ucmdRespond } from "./ucmd.js";
import type { IommufdViommu } from "./viommu.js";

/** eventq.c: VEVENTQ_MAX_DEPTH */
export const VEVENTQ_MAX_DEPTH = 1 << 19;

/** The part of one fault of a `struct iopf_group` that is reported (`iommu_fault.prm`). */
export interface IopfFault {
  readonly flags: number;
  readonly pasid: number;
  readonly grpid: number;
  readonly perm: number;
  readonly addr: bigint;
}

/** `struct iopf_group`, as the fault queue sees it. */
export interface IopfGroup {
  readonly faults: readonly IopfFault[];
  readonly attachHandle: IommufdAttachHandle;
  cookie: number;
  /** iopf_group_response() + iopf_free_group(). */
  respond(code: number): void;
}

/** `struct iommufd_eventq`: the object part every event queue shares. */
export abstract class IommufdEventq extends IommufdObject {
  abstract override readonly type: "FAULT" | "VEVENTQ";
  /** The anonymous file; null until iommufd_eventq_init(). */
  filep: File | null = null;

  constructor(readonly ictx: IommufdCtx) {
    super();
  }

  /** Whether `deliver` holds anything (for poll). */
  abstract get hasEvents(): boolean;

  /**
   * main.c: iommufd_object_abort_and_destroy() for an object with a file: the file goes first
   * (synchronously), returning the references it held, then the object is destroyed.
   */
  override abort(): void {
    const file = this.filep;
    if (file) this.ictx.kernel.vfs.fput(file);
    this.abortObject();
  }

  /** The type's abort op, or its destroy when it has none. */
  protected abortObject(): void {
    this.destroy();
  }
}

/** `struct iommufd_fault` */
export class IommufdFault extends IommufdEventq {
  readonly type = "FAULT";
  /** `common.deliver`: groups not read yet. */
  readonly deliver: IopfGroup[] = [];
  /** `response`: groups read and waiting for a response, by cookie (xa_alloc from 1). */
  readonly response = new Map<number, IopfGroup>();

  get hasEvents(): boolean {
    return this.deliver.length > 0;
  }

  /** eventq.c: iommufd_fault_destroy() — every pending group is answered INVALID. */
  destroy(): void {
    for (const group of this.deliver.splice(0)) group.respond(IOMMUFD_PAGE_RESP_INVALID);
    for (const [cookie, group] of [...this.response.entries()].sort((a, b) => a[0] - b[0])) {
      this.response.delete(cookie);
      group.respond(IOMMUFD_PAGE_RESP_INVALID);
    }
  }
}

/** One vEVENT (`struct iommufd_vevent`): the header and the driver's record. */
export interface IommufdVevent {
  readonly header: { flags: number; sequence: number };
  readonly data: Uint8Array;
}

/** `struct iommufd_veventq` */
export class IommufdVeventq extends IommufdEventq {
  readonly type = "VEVENTQ";
  readonly deliver: IommufdVevent[] = [];
  /** `lost_events_header`: queued (once) when the queue overflows. */
  readonly lostEventsHeader: IommufdVevent = {
    header: { flags: IOMMU_VEVENTQ_FLAG_LOST_EVENTS, sequence: 0 },
    data: new Uint8Array(0),
  };
  numEvents = 0;

  constructor(
    ictx: IommufdCtx,
    readonly viommu: IommufdViommu,
    /** `enum iommu_veventq_type` */
    readonly veventqType: number,
    readonly depth: number,
  ) {
    super(ictx);
  }

  get hasEvents(): boolean {
    return this.deliver.length > 0;
  }

  /** eventq.c: iommufd_veventq_destroy() */
  destroy(): void {
    this.abortObject();
  }

  /** eventq.c: iommufd_veventq_abort() */
  protected override abortObject(): void {
    this.deliver.length = 0;
    this.viommu.users--;
    const at = this.viommu.veventqs.indexOf(this);
    if (at >= 0) this.viommu.veventqs.splice(at, 1);
  }
}

/**
 * eventq.c: iommufd_auto_response_faults() — when a device leaves a HWPT with a fault queue,
 * the faults it raised that are still pending are answered INVALID.
 */
export function iommufdAutoResponseFaults(
  hwpt: IommufdHwPagetable,
  handle: IommufdAttachHandle | null,
): void {
  const fault = hwpt.fault;
  if (!fault || !handle) return;
  const mine = fault.deliver.filter((g) => g.attachHandle === handle);
  for (const group of mine) fault.deliver.splice(fault.deliver.indexOf(group), 1);
  for (const group of mine) group.respond(IOMMUFD_PAGE_RESP_INVALID);
  for (const [cookie, group] of [...fault.response.entries()].sort((a, b) => a[0] - b[0])) {
    if (group.attachHandle !== handle) continue;
    fault.response.delete(cookie);
    group.respond(IOMMUFD_PAGE_RESP_INVALID);
  }
}

function eventqOf<T extends IommufdEventq>(file: File, kind: abstract new (...a: never[]) => T): T {
  const q = file.privateData;
  if (!(q instanceof kind)) throw new TypeError("iommufd: not an event queue file");
  return q;
}

/** The lowest free xa_alloc (XA_FLAGS_ALLOC1, xa_limit_32b) index of a cookie map. */
function allocCookie(response: Map<number, IopfGroup>): number {
  let c = 1;
  while (response.has(c)) c++;
  return c;
}

/** eventq.c: iommufd_fault_fops_read() */
function iommufdFaultFopsRead(
  file: File,
  current: Task,
  va: number,
  count: number,
  pos: { value: number },
): number {
  const fn = "iommufd_fault_fops_read";
  const faultSize = iommu_hwpt_pgfault.size;
  const fault = eventqOf(file, IommufdFault);
  if (pos.value || count % faultSize) throw new SysError("ESPIPE", fn, "whole records from 0");
  let done = 0;
  let error: SysError | null = null;
  for (let group = fault.deliver.shift(); group; group = fault.deliver.shift()) {
    let groupDone = done;
    if (done >= count || group.faults.length * faultSize > count - done) {
      fault.deliver.unshift(group);
      // The read count cannot hold even the first group.
      if (done === 0) error = new SysError("EINVAL", fn, "buffer smaller than a fault group");
      break;
    }
    if (fault.ictx.iommufd.shouldFail("xa_alloc")) {
      fault.deliver.unshift(group);
      error = new SysError("ENOMEM", "xa_alloc", "fault cookie");
      break;
    }
    group.cookie = allocCookie(fault.response);
    fault.response.set(group.cookie, group);
    const devId = group.attachHandle.idev.id;
    try {
      for (const f of group.faults) {
        // iommufd_compose_fault_message()
        const rec = iommu_hwpt_pgfault.encode({
          flags: f.flags,
          dev_id: devId,
          pasid: f.pasid,
          grpid: f.grpid,
          perm: f.perm,
          __reserved: 0,
          addr: f.addr,
          length: 0,
          cookie: group.cookie,
        });
        copyToUser(current.mm, va + groupDone, rec, fn);
        groupDone += faultSize;
      }
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      fault.response.delete(group.cookie);
      fault.deliver.unshift(group);
      error = new SysError("EFAULT", fn, "copy_to_user");
      break;
    }
    done = groupDone;
  }
  if (done === 0 && error) throw error;
  return done;
}

/** eventq.c: iommufd_fault_fops_write() — responses to groups read before. */
function iommufdFaultFopsWrite(
  file: File,
  current: Task,
  va: number,
  count: number,
  pos: { value: number },
): number {
  const fn = "iommufd_fault_fops_write";
  const responseSize = iommu_hwpt_page_response.size;
  const fault = eventqOf(file, IommufdFault);
  if (pos.value || count % responseSize) throw new SysError("ESPIPE", fn, "whole records from 0");
  let done = 0;
  let error: SysError | null = null;
  while (count > done) {
    let bytes: Uint8Array;
    try {
      bytes = copyFromUser(current.mm, va + done, responseSize, fn);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      error = new SysError("EFAULT", fn, "copy_from_user");
      break;
    }
    const response = iommu_hwpt_page_response.decode(bytes);
    if (
      response.code !== IOMMUFD_PAGE_RESP_SUCCESS &&
      response.code !== IOMMUFD_PAGE_RESP_INVALID
    ) {
      error = new SysError("EINVAL", fn, `response code ${response.code}`);
      break;
    }
    const group = fault.response.get(response.cookie);
    if (!group) {
      error = new SysError("EINVAL", fn, `no fault group with cookie ${response.cookie}`);
      break;
    }
    fault.response.delete(response.cookie);
    group.respond(response.code);
    done += responseSize;
  }
  if (done === 0 && error) throw error;
  return done;
}

/** eventq.c: iommufd_veventq_fops_read() */
function iommufdVeventqFopsRead(
  file: File,
  current: Task,
  va: number,
  count: number,
  pos: { value: number },
): number {
  const fn = "iommufd_veventq_fops_read";
  const hdrSize = iommufd_vevent_header.size;
  const veventq = eventqOf(file, IommufdVeventq);
  if (pos.value) throw new SysError("ESPIPE", fn, "reads start at 0");
  if (count < hdrSize) throw new SysError("EINVAL", fn, "shorter than a vEVENT header");
  let done = 0;
  let error: SysError | null = null;
  for (let cur = veventq.deliver.shift(); cur; cur = veventq.deliver.shift()) {
    const lost = cur === veventq.lostEventsHeader;
    if (done >= count || hdrSize > count - done) {
      veventq.deliver.unshift(cur);
      break;
    }
    if (!lost && hdrSize + cur.data.length > count - done) {
      veventq.deliver.unshift(cur);
      // The read count cannot hold even one normal vEVENT.
      if (done === 0) error = new SysError("EINVAL", fn, "buffer smaller than a vEVENT");
      break;
    }
    try {
      copyToUser(current.mm, va + done, iommufd_vevent_header.encode(cur.header), fn);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      veventq.deliver.unshift(cur);
      error = new SysError("EFAULT", fn, "copy_to_user");
      break;
    }
    if (cur.data.length) {
      try {
        copyToUser(current.mm, va + done + hdrSize, cur.data, fn);
      } catch (e) {
        if (!SysError.isInstance(e)) throw e;
        veventq.deliver.unshift(cur);
        error = new SysError("EFAULT", fn, "copy_to_user");
        break;
      }
    }
    if (!lost) veventq.numEvents--;
    done += hdrSize + cur.data.length;
  }
  if (done === 0 && error) throw error;
  return done;
}

/** eventq.c: iommufd_eventq_fops_poll() — never blocks. */
function iommufdEventqFopsPoll(file: File): number {
  const eventq = eventqOf(file, IommufdEventq);
  let mask = eventq.type === "FAULT" ? POLLOUT : 0;
  if (eventq.hasEvents) mask |= POLLIN | POLLRDNORM;
  return mask;
}

/** eventq.c: iommufd_eventq_fops_release() — the file's references on the object and context. */
function iommufdEventqFopsRelease(_inode: Inode, file: File): void {
  const eventq = eventqOf(file, IommufdEventq);
  eventq.users--;
  eventq.ictx.put();
}

let faultFops: FileOperations | null = null;
let veventqFops: FileOperations | null = null;

/** eventq.c: iommufd_fault_fops (made on first use: the module object is defined after this file). */
function iommufdFaultFops(): FileOperations {
  faultFops ??= Object.freeze({
    owner: iommufdModule,
    read: iommufdFaultFopsRead,
    write: iommufdFaultFopsWrite,
    poll: iommufdEventqFopsPoll,
    release: iommufdEventqFopsRelease,
  });
  return faultFops;
}

/** eventq.c: iommufd_veventq_fops — no write. */
function iommufdVeventqFops(): FileOperations {
  veventqFops ??= Object.freeze({
    owner: iommufdModule,
    read: iommufdVeventqFopsRead,
    poll: iommufdEventqFopsPoll,
    release: iommufdEventqFopsRelease,
  });
  return veventqFops;
}

/**
 * eventq.c: iommufd_eventq_init() — the anonymous file, holding the object and the context;
 * returns the descriptor it will be installed at.
 */
function iommufdEventqInit(
  eventq: IommufdEventq,
  name: string,
  current: Task,
  fops: FileOperations,
): number {
  const ictx = eventq.ictx;
  const filep = ictx.kernel.vfs.anonInodeGetfile(name, fops, eventq, O_RDWR);
  ictx.get();
  eventq.filep = filep;
  eventq.users++;
  return current.getUnusedFdFlags(O_CLOEXEC);
}

/**
 * eventq.c: iommufd_fault_alloc() — IOMMU_FAULT_QUEUE_ALLOC: a FAULT object and its file
 * descriptor (O_CLOEXEC). EOPNOTSUPP for any flag; ENOMEM, EMFILE, EFAULT.
 */
export function iommufdFaultAlloc(ucmd: Ucmd): void {
  const cmd = ucmd.cmd as IommuFaultAlloc;
  if (cmd.flags) throw new SysError("EOPNOTSUPP", "iommufd_fault_alloc", "flags");
  const fault = iommufdObjectAllocUcmd(ucmd, new IommufdFault(ucmd.ictx));
  // A failure from here on aborts the object, whose abort closes the file.
  const fdno = iommufdEventqInit(fault, "[iommufd-pgfault]", ucmd.current, iommufdFaultFops());
  cmd.out_fault_id = fault.id;
  cmd.out_fault_fd = fdno;
  try {
    ucmdRespond(ucmd);
  } catch (e) {
    ucmd.current.putUnusedFd(fdno);
    throw e;
  }
  ucmd.current.fdInstallReserved(fdno, fault.filep!);
}

/**
 * eventq.c: iommufd_veventq_alloc() — IOMMU_VEVENTQ_ALLOC: EOPNOTSUPP for flags, __reserved or
 * the DEFAULT type; EINVAL for a depth of 0 or above VEVENTQ_MAX_DEPTH; ENOENT without the
 * vIOMMU; EEXIST when the vIOMMU has a queue of that type.
 */
export function iommufdVeventqAlloc(ucmd: Ucmd): void {
  const fn = "iommufd_veventq_alloc";
  const ictx = ucmd.ictx;
  const cmd = ucmd.cmd as IommuVeventqAlloc;
  if (cmd.flags || cmd.__reserved || cmd.type === IOMMU_VEVENTQ_TYPE_DEFAULT) {
    throw new SysError("EOPNOTSUPP", fn, "flags, __reserved or type");
  }
  if (!cmd.veventq_depth || cmd.veventq_depth > VEVENTQ_MAX_DEPTH) {
    throw new SysError("EINVAL", fn, `depth ${cmd.veventq_depth}`);
  }
  const viommu = ictx.objects.get<IommufdViommu>(cmd.viommu_id, "VIOMMU", "iommufd_get_viommu");
  try {
    if (viommu.veventqs.some((q) => q.veventqType === cmd.type)) {
      throw new SysError("EEXIST", fn, `a vEVENTQ of type ${cmd.type} exists`);
    }
    const veventq = ictx.objects.alloc(
      new IommufdVeventq(ictx, viommu, cmd.type, cmd.veventq_depth),
    );
    viommu.users++;
    viommu.veventqs.push(veventq);
    try {
      const fdno = iommufdEventqInit(
        veventq,
        "[iommufd-viommu-event]",
        ucmd.current,
        iommufdVeventqFops(),
      );
      cmd.out_veventq_id = veventq.id;
      cmd.out_veventq_fd = fdno;
      try {
        ucmdRespond(ucmd);
      } catch (e) {
        ucmd.current.putUnusedFd(fdno);
        throw e;
      }
      ictx.objects.finalize(veventq);
      ucmd.current.fdInstallReserved(fdno, veventq.filep!);
    } catch (e) {
      if (ictx.objects.peek(veventq.id) !== veventq) ictx.objects.abortAndDestroy(veventq);
      throw e;
    }
  } finally {
    ictx.objects.put(viommu);
  }
}
