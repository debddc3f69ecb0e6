/**
 * The IOAS object and its ioctls: drivers/iommu/iommufd/ioas.c (IOMMU_IOAS_ALLOC, _IOVA_RANGES,
 * _ALLOW_IOVAS, _MAP, _MAP_FILE, _COPY, _UNMAP, _CHANGE_PROCESS, _NOIOMMU_GET_PA and the per-IOAS
 * IOMMU_OPTION), main.c's iommufd_option() (IOMMU_OPTION itself, with RLIMIT_MODE) and
 * vfio_compat.c's iommufd_vfio_ioas() (IOMMU_VFIO_IOAS).
 *
 * Each handler checks in the kernel's order and fails with the kernel's errno; the io_pagetable
 * (io-pagetable.ts) does the work.
 *
 * Caveat:
 * - `ioas->mutex` and the iova_rwsems CHANGE_PROCESS takes are not modelled (one syscall at a
 *   time); their ordering effects (an IOAS being created meanwhile) cannot happen.
 */

import {
  copyFromUser,
  copyToUser,
  encodeScalar,
  IOMMU_CACHE,
  IOMMU_READ,
  IOMMU_WRITE,
  KernelBug,
  SysError,
  type Task,
  u64,
} from "@vfio-lab/kernel";
import { IntervalTree, spans } from "./interval-tree.js";
import { IOPT_ALLOC_IOVA, IoPagetable, type IoptPagesListElm, ULONG_MAX } from "./io-pagetable.js";
import type { IommufdCtx } from "./main.js";
import { IommufdObject } from "./object.js";
import {
  IOPT_ADDRESS_FILE,
  IOPT_PAGES_ACCOUNT_MODE_NUM,
  type IoptPages,
  ioptPagesUpdatePinned,
  type PinAccountTarget,
} from "./pages.js";
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  IOPT_PAGES_ACCOUNT_MM,
  IOPT_PAGES_ACCOUNT_NONE,
  IOPT_PAGES_ACCOUNT_USER,
  type IommuIoasAlloc,
  type IommuIoasAllowIovas,
  type IommuIoasChangeProcess,
  type IommuIoasCopy,
  type IommuIoasIovaRanges,
  type IommuIoasMap,
  type IommuIoasMapFile,
  type IommuIoasNoiommuGetPa,
  type IommuIoasUnmap,
  type IommuOption,
  type IommuVfioIoas,
  iommu_iova_range,
  iommu_option,
} from "./uapi.js";
import { iommufdObjectAllocUcmd, type Ucmd, ucmdRespond } from "./ucmd.js";

const U64_MAX = ULONG_MAX;
const MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

/** A user pointer from a u64 field (beyond the JS-safe range it faults like any bad pointer). */
function userPtr(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** `struct iommufd_ioas`: an IO address space. */
export class IommufdIoas extends IommufdObject {
  readonly type = "IOAS" as const;
  readonly iopt: IoPagetable;
  /** `hwpt_list`: the HWPT_PAGING objects made on this IOAS (hw-pagetable.ts owns them). */
  readonly hwptList: IommufdObject[] = [];

  constructor(readonly ictx: IommufdCtx) {
    super();
    this.iopt = new IoPagetable(ictx.kernel);
  }

  /** ioas.c: iommufd_ioas_destroy() — whatever is still mapped goes first. */
  destroy(): void {
    try {
      this.iopt.unmapAll();
    } catch (e) {
      if (!(SysError.isInstance(e) && e.code === "ENOENT")) {
        throw new KernelBug(`iommufd: IOAS ${this.id} failed to unmap all: ${String(e)}`);
      }
    }
    this.iopt.destroyTable();
  }
}

/**
 * ioas.c: iommufd_ioas_alloc() — a new IOAS with its ID reserved; the caller finalizes or
 * aborts it (`ictx.objects.finalize/abortAndDestroy`).
 */
export function iommufdIoasAlloc(ictx: IommufdCtx): IommufdIoas {
  return ictx.objects.alloc(new IommufdIoas(ictx));
}

/** iommufd_private.h: iommufd_get_ioas() — ENOENT unless `id` is an IOAS; put it when done. */
export function iommufdGetIoas(ictx: IommufdCtx, id: number): IommufdIoas {
  return ictx.objects.get<IommufdIoas>(id, "IOAS", "iommufd_get_ioas");
}

/** ioas.c: iommufd_ioas_alloc_ioctl() — IOMMU_IOAS_ALLOC. */
export function iommufdIoasAllocIoctl(ucmd: Ucmd): void {
  const cmd = ucmd.cmd as IommuIoasAlloc;
  if (cmd.flags) throw new SysError("EOPNOTSUPP", "iommufd_ioas_alloc_ioctl", "flags");
  const ioas = iommufdObjectAllocUcmd(ucmd, new IommufdIoas(ucmd.ictx));
  cmd.out_ioas_id = ioas.id;
  ucmdRespond(ucmd);
}

/**
 * ioas.c: iommufd_ioas_iova_ranges() — IOMMU_IOAS_IOVA_RANGES: the holes of the reserved
 * ranges (not the allowed ones) and the alignment; EMSGSIZE after answering when the user's
 * array was too short.
 */
export function iommufdIoasIovaRanges(ucmd: Ucmd): void {
  const fn = "iommufd_ioas_iova_ranges";
  const cmd = ucmd.cmd as IommuIoasIovaRanges;
  if (cmd.__reserved) throw new SysError("EOPNOTSUPP", fn, "__reserved");
  const ioas = iommufdGetIoas(ucmd.ictx, cmd.ioas_id);
  try {
    const maxIovas = cmd.num_iovas;
    const ranges = userPtr(cmd.allowed_iovas);
    const iopt = ioas.iopt;
    let n = 0;
    cmd.out_iova_alignment = iopt.iovaAlignment;
    for (const span of spans(iopt.reservedItree, 0n, ULONG_MAX)) {
      if (!span.isHole) continue;
      if (n < maxIovas) {
        copyToUser(
          ucmd.current.mm,
          ranges + n * iommu_iova_range.size,
          iommu_iova_range.encode({ start: span.start, last: span.last }),
          fn,
        );
      }
      n++;
    }
    cmd.num_iovas = n;
    ucmdRespond(ucmd);
    if (n > maxIovas) throw new SysError("EMSGSIZE", fn, `${n} ranges, room for ${maxIovas}`);
  } finally {
    ucmd.ictx.objects.put(ioas);
  }
}

/** ioas.c: iommufd_ioas_load_iovas() — the user's ranges as a tree; EINVAL for bad ones. */
function ioasLoadIovas(ucmd: Ucmd, ranges: number, num: number): IntervalTree<null> {
  const fn = "iommufd_ioas_load_iovas";
  const tree = new IntervalTree<null>();
  for (let i = 0; i !== num; i++) {
    const range = iommu_iova_range.decode(
      copyFromUser(ucmd.current.mm, ranges + i * iommu_iova_range.size, iommu_iova_range.size, fn),
    );
    if (range.start >= range.last) throw new SysError("EINVAL", fn, "empty or one-byte range");
    if (tree.iterFirst(range.start, range.last) !== undefined) {
      throw new SysError("EINVAL", fn, "overlapping ranges");
    }
    if (ucmd.ictx.kernel.allocator.shouldFail("kzalloc")) {
      throw new SysError("ENOMEM", fn, "fault injection");
    }
    tree.insert(range.start, range.last, null);
  }
  return tree;
}

/**
 * ioas.c: iommufd_ioas_allow_iovas() — IOMMU_IOAS_ALLOW_IOVAS: replaces the allowed ranges,
 * all or nothing (EADDRINUSE when one is already reserved).
 */
export function iommufdIoasAllowIovas(ucmd: Ucmd): void {
  const cmd = ucmd.cmd as IommuIoasAllowIovas;
  if (cmd.__reserved) throw new SysError("EOPNOTSUPP", "iommufd_ioas_allow_iovas", "__reserved");
  const ioas = iommufdGetIoas(ucmd.ictx, cmd.ioas_id);
  try {
    const tree = ioasLoadIovas(ucmd, userPtr(cmd.allowed_iovas), cmd.num_iovas);
    ioas.iopt.setAllowIova(tree);
  } finally {
    ucmd.ictx.objects.put(ioas);
  }
}

/** ioas.c: conv_iommu_prot() — IOMMU_CACHE always: bind insists on coherent IOMMUs. */
export function convIommuProt(mapFlags: number): number {
  let prot = IOMMU_CACHE;
  if (mapFlags & IOMMU_IOAS_MAP_WRITEABLE) prot |= IOMMU_WRITE;
  if (mapFlags & IOMMU_IOAS_MAP_READABLE) prot |= IOMMU_READ;
  return prot;
}

/** The checks MAP, MAP_FILE and COPY share before looking anything up. */
function checkMapFlags(fn: string, flags: number): void {
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) {
    throw new SysError("EINVAL", fn, "neither readable nor writeable");
  }
}

/** ioas.c: iommufd_ioas_map_file() — IOMMU_IOAS_MAP_FILE. */
export function iommufdIoasMapFile(ucmd: Ucmd): void {
  const fn = "iommufd_ioas_map_file";
  const cmd = ucmd.cmd as IommuIoasMapFile;
  if (cmd.flags & ~MAP_FLAGS) throw new SysError("EOPNOTSUPP", fn, "flags");
  if (cmd.iova >= ULONG_MAX || cmd.length >= ULONG_MAX) {
    throw new SysError("EOVERFLOW", fn, "iova or length");
  }
  checkMapFlags(fn, cmd.flags);
  const ioas = iommufdGetIoas(ucmd.ictx, cmd.ioas_id);
  try {
    const flags = cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA;
    cmd.iova = ioas.iopt.mapFilePages(
      ucmd.ictx,
      ucmd.current,
      cmd.iova,
      cmd.fd,
      cmd.start,
      cmd.length,
      convIommuProt(cmd.flags),
      flags,
    );
    ucmdRespond(ucmd);
  } finally {
    ucmd.ictx.objects.put(ioas);
  }
}

/** ioas.c: iommufd_ioas_map() — IOMMU_IOAS_MAP. */
export function iommufdIoasMap(ucmd: Ucmd): void {
  const fn = "iommufd_ioas_map";
  const cmd = ucmd.cmd as IommuIoasMap;
  if (cmd.flags & ~MAP_FLAGS || cmd.__reserved) {
    throw new SysError("EOPNOTSUPP", fn, "flags or __reserved");
  }
  if (cmd.iova >= ULONG_MAX || cmd.length >= ULONG_MAX) {
    throw new SysError("EOVERFLOW", fn, "iova or length");
  }
  checkMapFlags(fn, cmd.flags);
  const ioas = iommufdGetIoas(ucmd.ictx, cmd.ioas_id);
  try {
    const flags = cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA;
    cmd.iova = ioas.iopt.mapUserPages(
      ucmd.ictx,
      ucmd.current,
      cmd.iova,
      cmd.user_va,
      cmd.length,
      convIommuProt(cmd.flags),
      flags,
    );
    ucmdRespond(ucmd);
  } finally {
    ucmd.ictx.objects.put(ioas);
  }
}

/**
 * ioas.c: iommufd_ioas_copy() — IOMMU_IOAS_COPY: maps the pages behind a fully mapped source
 * range again (sharing their pins and accounting).
 */
export function iommufdIoasCopy(ucmd: Ucmd): void {
  const fn = "iommufd_ioas_copy";
  const cmd = ucmd.cmd as IommuIoasCopy;
  const objects = ucmd.ictx.objects;
  if (cmd.flags & ~MAP_FLAGS) throw new SysError("EOPNOTSUPP", fn, "flags");
  if (cmd.length >= ULONG_MAX || cmd.src_iova >= ULONG_MAX || cmd.dst_iova >= ULONG_MAX) {
    throw new SysError("EOVERFLOW", fn, "length or iova");
  }
  checkMapFlags(fn, cmd.flags);
  const src = iommufdGetIoas(ucmd.ictx, cmd.src_ioas_id);
  let list: IoptPagesListElm[];
  try {
    list = src.iopt.getPages(cmd.src_iova, cmd.length);
  } finally {
    objects.put(src);
  }
  const srcIopt = src.iopt;
  try {
    const dst = iommufdGetIoas(ucmd.ictx, cmd.dst_ioas_id);
    try {
      const flags = cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA;
      cmd.dst_iova = dst.iopt.mapPages(
        list,
        cmd.length,
        cmd.dst_iova,
        convIommuProt(cmd.flags),
        flags,
      );
      ucmdRespond(ucmd);
    } finally {
      objects.put(dst);
    }
  } finally {
    srcIopt.freePagesList(list);
  }
}

/**
 * ioas.c: iommufd_ioas_unmap() — IOMMU_IOAS_UNMAP: `iova` 0 with `length` U64_MAX unmaps
 * everything; otherwise every area must lie inside the range. Areas removed before a failure
 * stay removed.
 */
export function iommufdIoasUnmap(ucmd: Ucmd): void {
  const fn = "iommufd_ioas_unmap";
  const cmd = ucmd.cmd as IommuIoasUnmap;
  const ioas = iommufdGetIoas(ucmd.ictx, cmd.ioas_id);
  try {
    let unmapped: bigint;
    if (cmd.iova === 0n && cmd.length === U64_MAX) {
      unmapped = ioas.iopt.unmapAll();
    } else {
      if (cmd.iova >= ULONG_MAX || cmd.length >= ULONG_MAX) {
        throw new SysError("EOVERFLOW", fn, "iova or length");
      }
      unmapped = ioas.iopt.unmapIova(cmd.iova, cmd.length);
      if (unmapped === 0n) throw new SysError("ENOENT", fn, "nothing mapped in the range");
    }
    cmd.length = unmapped;
    ucmdRespond(ucmd);
  } finally {
    ucmd.ictx.objects.put(ioas);
  }
}

/**
 * ioas.c: iommufd_ioas_noiommu_get_pa() — IOMMU_IOAS_NOIOMMU_GET_PA (no-IOMMU cdev series):
 * the physical address behind an IOVA of an IOAS stored in a no-IOMMU domain, and the
 * contiguous length from it. EOPNOTSUPP without CONFIG_IOMMUFD_NOIOMMU.
 */
export function iommufdIoasNoiommuGetPa(ucmd: Ucmd): void {
  const fn = "iommufd_ioas_noiommu_get_pa";
  const cmd = ucmd.cmd as IommuIoasNoiommuGetPa;
  if (!ucmd.ictx.kernel.config.CONFIG_IOMMUFD_NOIOMMU) {
    throw new SysError("EOPNOTSUPP", fn, "CONFIG_IOMMUFD_NOIOMMU is not set");
  }
  if (!ucmd.current.capable("CAP_SYS_RAWIO")) throw new SysError("EPERM", fn, "CAP_SYS_RAWIO");
  if (cmd.flags || cmd.__reserved) throw new SysError("EOPNOTSUPP", fn, "flags or __reserved");
  if (cmd.length === 0n) throw new SysError("EINVAL", fn, "length 0");
  if (cmd.iova >= ULONG_MAX) throw new SysError("EOVERFLOW", fn, "iova");
  const ioas = iommufdGetIoas(ucmd.ictx, cmd.ioas_id);
  try {
    const r = ioas.iopt.getPhys(cmd.iova, cmd.length);
    cmd.out_phys = r.phys;
    cmd.length = r.length;
    ucmdRespond(ucmd);
  } finally {
    ucmd.ictx.objects.put(ioas);
  }
}

// ---------------------------------------------------------------------------------------------
// IOMMU_IOAS_CHANGE_PROCESS

/** ioas.c: iommufd_take_all_iova_rwsem() — every live IOAS, in ID order, with a reference. */
function takeAllIoas(ictx: IommufdCtx): IommufdIoas[] {
  const list: IommufdIoas[] = [];
  for (const obj of ictx.objects.objects()) {
    if (obj.type !== "IOAS" || obj.users === 0) continue;
    obj.users++;
    if (ictx.kernel.allocator.shouldFail("xa_store")) {
      obj.users--;
      releaseAllIoas(ictx, list);
      throw new SysError("ENOMEM", "xa_store", "fault injection");
    }
    list.push(obj as IommufdIoas);
  }
  return list;
}

/** ioas.c: iommufd_release_all_iova_rwsem() */
function releaseAllIoas(ictx: IommufdCtx, list: IommufdIoas[]): void {
  for (const ioas of list) ictx.objects.put(ioas);
  list.length = 0;
}

/** Every pages object of every area of `list`, once per area (for_each_ioas_area). */
function forEachIoasArea(list: IommufdIoas[], fn: (pages: IoptPages | null) => void): void {
  for (const ioas of list) {
    const t = ioas.iopt.areaItree;
    for (let n = t.first(); n; n = t.next(n)) fn(n.value.pages);
  }
}

/** ioas.c: need_charge_update() */
function needChargeUpdate(ictx: IommufdCtx, current: Task, pages: IoptPages): boolean {
  switch (pages.accountMode) {
    case IOPT_PAGES_ACCOUNT_NONE:
      return false;
    case IOPT_PAGES_ACCOUNT_MM:
      return pages.sourceMm !== current.mm;
    case IOPT_PAGES_ACCOUNT_USER:
      // The mm matters too: every mode charges mm->pinned_vm.
      return (
        pages.sourceUser !== ictx.kernel.users.allocUid(current.uid) ||
        pages.sourceMm !== current.mm
      );
  }
  return true;
}

/** ioas.c: charge_current() — all or nothing across the accounting modes. */
function chargeCurrent(ictx: IommufdCtx, current: Task, npinned: number[]): void {
  const tmp: PinAccountTarget = {
    accountMode: 0,
    sourceMm: current.mm,
    sourceTask: current,
    sourceUser: ictx.kernel.users.allocUid(current.uid),
    npinned: 0,
    lastNpinned: 0,
  };
  let mode = 0;
  try {
    for (; mode !== IOPT_PAGES_ACCOUNT_MODE_NUM; mode++) {
      if (!npinned[mode]) continue;
      tmp.accountMode = mode;
      ioptPagesUpdatePinned(tmp, npinned[mode]!, true);
    }
  } catch (e) {
    while (mode !== 0) {
      mode--;
      if (!npinned[mode]) continue;
      tmp.accountMode = mode;
      ioptPagesUpdatePinned(tmp, npinned[mode]!, false);
    }
    throw e;
  }
}

/**
 * ioas.c: iommufd_ioas_change_process() — IOMMU_IOAS_CHANGE_PROCESS: moves the accounting of
 * every mapping of every IOAS to the calling process (all mappings must be MAP_FILE ones:
 * EINVAL otherwise). All or nothing.
 */
export function iommufdIoasChangeProcess(ucmd: Ucmd): void {
  const fn = "iommufd_ioas_change_process";
  const cmd = ucmd.cmd as IommuIoasChangeProcess;
  const ictx = ucmd.ictx;
  const current = ucmd.current;
  if (cmd.__reserved) throw new SysError("EOPNOTSUPP", fn, "__reserved");
  const list = takeAllIoas(ictx);
  try {
    forEachIoasArea(list, (pages) => {
      if (pages === null) throw new SysError("EBUSY", fn, "area is being set up");
      if (pages.type !== IOPT_ADDRESS_FILE) throw new SysError("EINVAL", fn, "not a file mapping");
    });
    // Count each pages object once: clear last_npinned as it is counted (npinned equals it here,
    // so it can be restored).
    const all = [0, 0, 0];
    forEachIoasArea(list, (p) => {
      const pages = p as IoptPages;
      if (needChargeUpdate(ictx, current, pages)) {
        all[pages.accountMode]! += pages.lastNpinned;
        pages.lastNpinned = 0;
      }
    });
    try {
      chargeCurrent(ictx, current, all);
    } catch (e) {
      forEachIoasArea(list, (p) => {
        const pages = p as IoptPages;
        pages.lastNpinned = pages.npinned;
      });
      throw e;
    }
    forEachIoasArea(list, (p) => {
      const pages = p as IoptPages;
      // Uncharging the old owner also restores last_npinned.
      if (needChargeUpdate(ictx, current, pages)) {
        ioptPagesUpdatePinned(pages, pages.npinned, false);
      }
      pages.sourceMm = current.mm;
      pages.sourceTask = current;
      pages.sourceUser = ictx.kernel.users.allocUid(current.uid);
    });
  } finally {
    releaseAllIoas(ictx, list);
  }
}

// ---------------------------------------------------------------------------------------------
// IOMMU_OPTION and IOMMU_VFIO_IOAS

/** ioas.c: iommufd_option_rlimit_mode() — per-user (0) or per-mm (1) accounting of the file. */
export function iommufdOptionRlimitMode(cmd: IommuOption, ictx: IommufdCtx, current: Task): void {
  const fn = "iommufd_option_rlimit_mode";
  if (cmd.object_id) throw new SysError("EOPNOTSUPP", fn, "object_id");
  if (cmd.op === IOMMU_OPTION_OP_GET) {
    cmd.val64 = ictx.accountMode === IOPT_PAGES_ACCOUNT_MM ? 1n : 0n;
    return;
  }
  if (cmd.op === IOMMU_OPTION_OP_SET) {
    if (!current.capable("CAP_SYS_RESOURCE")) throw new SysError("EPERM", fn, "CAP_SYS_RESOURCE");
    if (!ictx.objects.isEmpty()) throw new SysError("EBUSY", fn, "objects exist");
    if (cmd.val64 === 0n) ictx.accountMode = IOPT_PAGES_ACCOUNT_USER;
    else if (cmd.val64 === 1n) ictx.accountMode = IOPT_PAGES_ACCOUNT_MM;
    else throw new SysError("EINVAL", fn, `val64 ${cmd.val64}`);
    return;
  }
  throw new SysError("EOPNOTSUPP", fn, `op ${cmd.op}`);
}

/** ioas.c: iommufd_ioas_option_huge_pages() */
function ioasOptionHugePages(cmd: IommuOption, ioas: IommufdIoas): void {
  const fn = "iommufd_ioas_option_huge_pages";
  if (cmd.op === IOMMU_OPTION_OP_GET) {
    cmd.val64 = ioas.iopt.largePagesDisabled ? 0n : 1n;
    return;
  }
  if (cmd.op === IOMMU_OPTION_OP_SET) {
    if (cmd.val64 === 0n) ioas.iopt.disableLargePages();
    else if (cmd.val64 === 1n) ioas.iopt.enableLargePages();
    else throw new SysError("EINVAL", fn, `val64 ${cmd.val64}`);
    return;
  }
  throw new SysError("EOPNOTSUPP", fn, `op ${cmd.op}`);
}

/** ioas.c: iommufd_ioas_option() — the options whose object is an IOAS. */
function iommufdIoasOption(ucmd: Ucmd): void {
  const cmd = ucmd.cmd as IommuOption;
  if (cmd.__reserved) throw new SysError("EOPNOTSUPP", "iommufd_ioas_option", "__reserved");
  const ioas = iommufdGetIoas(ucmd.ictx, cmd.object_id);
  try {
    if (cmd.option_id === IOMMU_OPTION_HUGE_PAGES) ioasOptionHugePages(cmd, ioas);
    else throw new SysError("EOPNOTSUPP", "iommufd_ioas_option", `option ${cmd.option_id}`);
  } finally {
    ucmd.ictx.objects.put(ioas);
  }
}

/** main.c: iommufd_option() — IOMMU_OPTION; only `val64` is written back. */
export function iommufdOption(ucmd: Ucmd): void {
  const fn = "iommufd_option";
  const cmd = ucmd.cmd as IommuOption;
  if (cmd.__reserved) throw new SysError("EOPNOTSUPP", fn, "__reserved");
  switch (cmd.option_id) {
    case IOMMU_OPTION_RLIMIT_MODE:
      iommufdOptionRlimitMode(cmd, ucmd.ictx, ucmd.current);
      break;
    case IOMMU_OPTION_HUGE_PAGES:
      iommufdIoasOption(ucmd);
      break;
    default:
      throw new SysError("EOPNOTSUPP", fn, `option ${cmd.option_id}`);
  }
  copyToUser(
    ucmd.current.mm,
    ucmd.ubuffer + iommu_option.offsetof("val64"),
    encodeScalar(u64, cmd.val64),
    fn,
  );
}

/** vfio_compat.c: get_compat_ioas() — ENODEV without a (live) compat IOAS. */
export function getCompatIoas(ictx: IommufdCtx): IommufdIoas {
  const ioas = ictx.vfioIoas;
  if (ioas === null || ioas.users === 0) {
    throw new SysError("ENODEV", "get_compat_ioas", "no compat IOAS");
  }
  ioas.users++;
  return ioas;
}

/** vfio_compat.c: iommufd_vfio_ioas() — IOMMU_VFIO_IOAS: get, set or clear the compat IOAS. */
export function iommufdVfioIoas(ucmd: Ucmd): void {
  const fn = "iommufd_vfio_ioas";
  const cmd = ucmd.cmd as IommuVfioIoas;
  const ictx = ucmd.ictx;
  if (cmd.__reserved) throw new SysError("EOPNOTSUPP", fn, "__reserved");
  switch (cmd.op) {
    case IOMMU_VFIO_IOAS_GET: {
      const ioas = getCompatIoas(ictx);
      cmd.ioas_id = ioas.id;
      ictx.objects.put(ioas);
      ucmdRespond(ucmd);
      return;
    }
    case IOMMU_VFIO_IOAS_SET: {
      const ioas = iommufdGetIoas(ictx, cmd.ioas_id);
      ictx.vfioIoas = ioas;
      ictx.objects.put(ioas);
      return;
    }
    case IOMMU_VFIO_IOAS_CLEAR:
      ictx.vfioIoas = null;
      return;
    default:
      throw new SysError("EOPNOTSUPP", fn, `op ${cmd.op}`);
  }
}
