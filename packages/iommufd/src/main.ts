/**
 * The iommufd character device and module (drivers/iommu/iommufd/main.c): `/dev/iommu` (and,
 * with CONFIG_IOMMUFD_VFIO_CONTAINER, `/dev/vfio/vfio`), the per-file context, the ioctl table
 * and the one dispatcher that enforces the size protocol for every command.
 *
 * The dispatcher, in the kernel's order (iommufd_fops_ioctl()):
 * 1. a number outside 0x80..0x95 goes to the VFIO type1 emulation (vfio_compat.c), whose
 *    "unknown" is ENOTTY;
 * 2. the first u32 of the argument (the struct's `size`) is read: EFAULT if it cannot be;
 * 3. the request must be exactly the table's (`_IO(';', nr)`), else ENOTTY;
 * 4. `size` below the command's minimum (offsetofend of its last mandatory field): EINVAL;
 * 5. copy_struct_from_user(): a longer struct's extra bytes must be zero (E2BIG), a shorter
 *    one reads as zero-extended;
 * 6. the handler runs; an object it allocated is finalized on success and aborted on error.
 * Handlers answer with `ucmdRespond()`, which copies min(size, sizeof) bytes back.
 *
 * Caveat: `mmap` of the iommufd file (vIOMMU MMIO pages) is not offered: no IOMMU driver of
 * the board allocates a vIOMMU, so every offset would be ENXIO anyway, which is what the missing
 * operation answers through the VFS (ENODEV) — noted as a difference.
 */

import {
  copyStructFromUser,
  defineModule,
  type File,
  type FileOperations,
  getUser,
  type Inode,
  KERN_INFO,
  type Kernel,
  MISC_DYNAMIC_MINOR,
  type MiscDevice,
  moduleParam,
  type StructLayout,
  SysError,
  type Task,
  u32,
} from "@vfio-lab/kernel";
import type { IommufdGroup } from "./device.js";
import type { IommufdIoas } from "./ioas.js";
import { IOMMUFD_HANDLERS } from "./ioctl-handlers.js";
import { type IommufdObject, IommufdObjectTable } from "./object.js";
import {
  IOMMUFD_CMD_BASE,
  IOMMUFD_IOCTLS,
  IOPT_PAGES_ACCOUNT_MM,
  IOPT_PAGES_ACCOUNT_USER,
} from "./uapi.js";
import type { Ucmd } from "./ucmd.js";
import { iommufdVfioIoctl } from "./vfio-compat.js";

/** include/linux/miscdevice.h: VFIO_MINOR. */
export const VFIO_MINOR = 196;

/** `struct iommufd_ctx`: the state of one open iommufd file. */
export class IommufdCtx {
  readonly objects: IommufdObjectTable;
  /** iommu_group id → the context's `iommufd_group` (device.c). */
  readonly groups = new Map<number, IommufdGroup>();
  /** IOPT_PAGES_ACCOUNT_USER or _MM (IOMMU_OPTION_RLIMIT_MODE). */
  accountMode: number;
  /** VFIO no-IOMMU compatibility (VFIO_SET_IOMMU(VFIO_NOIOMMU_IOMMU)). */
  noIommuMode = false;
  /** The IOAS the VFIO compatibility ioctls use (IOMMU_VFIO_IOAS). */
  vfioIoas: IommufdIoas | null = null;

  constructor(
    readonly iommufd: Iommufd,
    readonly file: File,
    viaVfioNode: boolean,
  ) {
    this.objects = new IommufdObjectTable((site) => iommufd.shouldFail(site));
    // /dev/vfio/vfio keeps VFIO's accounting (locked_vm of the mm) for unmodified users.
    this.accountMode = viaVfioNode ? IOPT_PAGES_ACCOUNT_MM : IOPT_PAGES_ACCOUNT_USER;
  }

  get kernel(): Kernel {
    return this.iommufd.kernel;
  }

  /** main.c: iommufd_ctx_get() — one more reference on the file. */
  get(): void {
    this.kernel.vfs.fget(this.file);
  }

  /** main.c: iommufd_ctx_put(). */
  put(): void {
    this.kernel.vfs.fput(this.file);
  }

  /** main.c: iommufd_object_remove() for IOMMU_DESTROY and in-kernel destruction. */
  removeObject(toDestroy: IommufdObject | null, id: number, flags: number): void {
    this.objects.remove(toDestroy, id, flags, (obj) => {
      if (this.vfioIoas === obj) this.vfioIoas = null;
    });
  }
}

/** The module's parameters (`iommufd.allow_unsafe_interrupts`). */
export interface IommufdParams {
  allow_unsafe_interrupts: boolean;
}

/**
 * The loaded module: what `iommufd_init()` registered, its parameters, and the in-kernel API
 * entry points other modules (VFIO) reach it by.
 */
export class Iommufd {
  readonly iommuMisc: MiscDevice;
  readonly vfioMisc: MiscDevice | null;
  /** Contexts of open files (for leak checks: everything a test opened was released). */
  readonly contexts = new Set<IommufdCtx>();
  private printedVfioNotice = false;

  constructor(
    readonly kernel: Kernel,
    readonly params: IommufdParams,
  ) {
    this.iommuMisc = {
      minor: MISC_DYNAMIC_MINOR,
      name: "iommu",
      fops: this.fops(false),
      nodename: "iommu",
      mode: 0o660,
    };
    this.vfioMisc = kernel.config.CONFIG_IOMMUFD_VFIO_CONTAINER
      ? {
          minor: VFIO_MINOR,
          name: "vfio",
          fops: this.fops(true),
          nodename: "vfio/vfio",
          mode: 0o666,
        }
      : null;
  }

  /** The kernel's fault-injection point (fail_nth): every fallible site asks it. */
  shouldFail(site: string): boolean {
    return this.kernel.allocator.shouldFail(site);
  }

  /** main.c: iommufd_init() */
  init(): void {
    const misc = this.kernel.vfs.misc;
    misc.miscRegister(this.iommuMisc);
    if (this.vfioMisc) {
      try {
        misc.miscRegister(this.vfioMisc);
      } catch (e) {
        misc.miscDeregister(this.iommuMisc);
        throw e;
      }
    }
  }

  /** main.c: iommufd_exit() */
  exit(): void {
    if (this.vfioMisc) this.kernel.vfs.misc.miscDeregister(this.vfioMisc);
    this.kernel.vfs.misc.miscDeregister(this.iommuMisc);
  }

  /** main.c: iommufd_ctx_from_file() — EBADFD for a file that is not an iommufd. */
  ctxFromFile(file: File): IommufdCtx {
    const ictx = file.privateData;
    if (!(ictx instanceof IommufdCtx) || ictx.iommufd !== this) {
      throw new SysError("EBADFD", "iommufd_ctx_from_file", "not an iommufd file");
    }
    ictx.get();
    return ictx;
  }

  /** main.c: iommufd_ctx_from_fd() — EBADF for a bad descriptor, EBADFD for another file. */
  ctxFromFd(current: Task, fd: number): IommufdCtx {
    const file = current.fget(fd);
    if (!file) throw new SysError("EBADF", "iommufd_ctx_from_fd", `fd ${fd}`);
    const ictx = file.privateData;
    if (!(ictx instanceof IommufdCtx) || ictx.iommufd !== this) {
      this.kernel.vfs.fput(file);
      throw new SysError("EBADFD", "iommufd_ctx_from_fd", `fd ${fd} is not an iommufd`);
    }
    return ictx;
  }

  private fops(viaVfioNode: boolean): FileOperations {
    return {
      owner: iommufdModule,
      open: (_inode: Inode, file: File) => this.fopsOpen(file, viaVfioNode),
      release: (_inode: Inode, file: File) => this.fopsRelease(file),
      unlockedIoctl: (file, current, cmd, arg) => this.fopsIoctl(file, current, cmd, arg),
    };
  }

  /** main.c: iommufd_fops_open() */
  private fopsOpen(file: File, viaVfioNode: boolean): void {
    if (this.shouldFail("kzalloc")) throw new SysError("ENOMEM", "iommufd_fops_open");
    if (viaVfioNode && !this.printedVfioNotice) {
      this.printedVfioNotice = true;
      this.kernel.printk.printk(
        KERN_INFO,
        "iommufd: IOMMUFD is providing /dev/vfio/vfio, not VFIO.",
      );
    }
    const ictx = new IommufdCtx(this, file, viaVfioNode);
    file.privateData = ictx;
    this.contexts.add(ictx);
  }

  /** main.c: iommufd_fops_release() */
  private fopsRelease(file: File): void {
    const ictx = file.privateData as IommufdCtx;
    ictx.objects.destroyAll();
    ictx.vfioIoas = null;
    if (ictx.groups.size !== 0) throw new Error("iommufd: groups left at release");
    this.contexts.delete(ictx);
  }

  /** main.c: iommufd_fops_ioctl() */
  private fopsIoctl(file: File, current: Task, cmd: number, arg: number): number {
    const ictx = file.privateData as IommufdCtx;
    const nr = (cmd >>> 0) & 0xff;
    const index = nr - IOMMUFD_CMD_BASE;
    const table = iommufdIoctlOps();
    if (nr < IOMMUFD_CMD_BASE || index >= table.length) {
      return iommufdVfioIoctl(ictx, current, cmd, arg);
    }
    const userSize = getUser(current.mm, u32, arg, "iommufd_fops_ioctl");
    const op = table[index];
    if (op === undefined || op.ioctlNum !== cmd >>> 0) {
      throw new SysError("ENOTTY", "iommufd_fops_ioctl", "unknown command");
    }
    if (userSize < op.minSize) {
      throw new SysError("EINVAL", "iommufd_fops_ioctl", `size ${userSize} < ${op.minSize}`);
    }
    const ucmd: Ucmd = {
      ictx,
      current,
      ubuffer: arg,
      userSize,
      cmd: copyStructFromUser(current.mm, op.layout, arg, userSize, "iommufd_fops_ioctl"),
      layout: op.layout,
      newObj: null,
    };
    try {
      op.execute(ucmd);
    } catch (e) {
      if (ucmd.newObj) ictx.objects.abortAndDestroy(ucmd.newObj);
      throw e;
    }
    if (ucmd.newObj) ictx.objects.finalize(ucmd.newObj);
    return 0;
  }
}

/** `struct iommufd_ioctl_op`: one row of the table, indexed by nr - IOMMUFD_CMD_BASE. */
interface IoctlOp {
  readonly ioctlNum: number;
  readonly layout: StructLayout;
  readonly minSize: number;
  readonly execute: (ucmd: Ucmd) => void;
}

/**
 * main.c: iommufd_ioctl_ops[] — derived from the UAPI table and the handlers, on first use (the
 * handler modules import this one, so the table cannot be built while they load).
 */
let ioctlOps: readonly (IoctlOp | undefined)[] | null = null;
function iommufdIoctlOps(): readonly (IoctlOp | undefined)[] {
  ioctlOps ??= buildIoctlOps();
  return ioctlOps;
}

function buildIoctlOps(): readonly (IoctlOp | undefined)[] {
  const ops: (IoctlOp | undefined)[] = [];
  for (const row of IOMMUFD_IOCTLS) {
    const execute = IOMMUFD_HANDLERS[row.name];
    if (!execute) throw new Error(`iommufd: no handler for ${row.name}`);
    ops[row.nr - IOMMUFD_CMD_BASE] = {
      ioctlNum: row.request >>> 0,
      layout: row.struct,
      minSize: row.minSize,
      execute,
    };
  }
  return ops;
}

const iommufdInstances = new WeakMap<Kernel, Iommufd>();

/** The loaded iommufd of `kernel` (what a module gets by linking against iommufd's symbols). */
export function iommufdOf(kernel: Kernel): Iommufd {
  const i = iommufdInstances.get(kernel);
  if (!i) throw new SysError("ENOENT", "iommufd", "the iommufd module is not loaded");
  return i;
}

/** The `iommufd` module (drivers/iommu/iommufd/main.c: iommufd_init() / iommufd_exit()). */
export const iommufdModule = defineModule<Kernel, readonly [ReturnType<typeof allowUnsafe>]>({
  name: "iommufd",
  params: [allowUnsafe()],
  init(kernel, params) {
    // The live parameter store: writes to /sys/module/iommufd/parameters/ take effect at once.
    const i = new Iommufd(kernel, params);
    i.init();
    iommufdInstances.set(kernel, i);
  },
  exit(kernel) {
    iommufdInstances.get(kernel)?.exit();
    iommufdInstances.delete(kernel);
  },
});

/** device.c: the `allow_unsafe_interrupts` parameter (0644). */
function allowUnsafe() {
  return moduleParam("allow_unsafe_interrupts", "bool", {
    perm: 0o644,
    default: false,
    description:
      "Allow IOMMUFD to bind to devices even if the platform cannot isolate the MSI interrupt window. Enabling this is a security weakness.",
  });
}

/** main.c: iommufd_destroy() — IOMMU_DESTROY of any object type. */
export function iommufdDestroy(ucmd: Ucmd): void {
  const cmd = ucmd.cmd as { id: number };
  ucmd.ictx.removeObject(null, cmd.id, 0);
}
