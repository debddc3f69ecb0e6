/**
 * Syscall traces of a VMM from the kernel trace bus (`kernel.trace`, ARCHITECTURE.md §5), made
 * comparable across runs and access paths (design §4.5):
 *
 * - `syscallTrace(kernel, p)` records every syscall of process `p` (decoding the
 *   VFIO_DEVICE_SET_IRQS header while the argument is still in user memory);
 * - `normalizeTrace(records)` turns them into lines such as
 *   `ioctl(device, VFIO_DEVICE_SET_IRQS TRIGGER|EVENTFD index 0 count 1) = 0`: fds become the
 *   kind of file they are (`container`, `group`, `device`, `iommufd`, `eventfd0`…), ioctl numbers
 *   their UAPI names (the fd's kind tells VFIO_IOMMU_MAP_DMA from
 *   VFIO_DEVICE_PCI_HOT_RESET, which share a number), addresses disappear, and what is not part
 *   of the VMM's protocol with the kernel is dropped: scratch memory (anonymous mmap/munmap, which
 *   typed wrappers allocate lazily — design §6 R6), sysfs and /dev discovery (readlink, getdents,
 *   stat), and sysfs files.
 *
 * Caveat: only the ioctls of vfio-core's `vfioIoctlName()` table get names (others keep `_IO(';', 0x..)`); only
 * VFIO_DEVICE_SET_IRQS has its argument decoded; pread/pwrite offsets are kept as numbers.
 */

import {
  formatIoctl,
  isTraceEvent,
  type Kernel,
  type KernelTraceEventMap,
  type Process,
} from "@vfio-lab/kernel";
import {
  VFIO_DEVICE_SET_IRQS,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  vfio_irq_set,
} from "@vfio-lab/kernel/uapi";
import { type VfioFdKind, vfioFdKindOfPath, vfioIoctlName } from "@vfio-lab/vfio-core";

/** What an fd is, by the path it was opened from (or the syscall that made it). */
export type FdKind = VfioFdKind;

type SyscallEvent = KernelTraceEventMap["syscall"];

/** A syscall as recorded: the trace event, plus what was decoded from user memory at once. */
export interface SyscallRecord {
  readonly event: SyscallEvent;
  /** SET_IRQS: `TRIGGER|EVENTFD index 0 start 0 count 1`. */
  readonly detail?: string;
}

const SET_IRQS = formatIoctl(VFIO_DEVICE_SET_IRQS);

/** The SET_IRQS header in words: action, data type, index, start, count. */
function describeSetIrqs(bytes: Uint8Array): string {
  const h = vfio_irq_set.decodePartial(bytes);
  const action =
    h.flags & VFIO_IRQ_SET_ACTION_TRIGGER
      ? "TRIGGER"
      : h.flags & VFIO_IRQ_SET_ACTION_UNMASK
        ? "UNMASK"
        : h.flags & VFIO_IRQ_SET_ACTION_MASK
          ? "MASK"
          : "?";
  const data =
    h.flags & VFIO_IRQ_SET_DATA_EVENTFD
      ? "EVENTFD"
      : h.flags & VFIO_IRQ_SET_DATA_BOOL
        ? "BOOL"
        : h.flags & VFIO_IRQ_SET_DATA_NONE
          ? "NONE"
          : "?";
  return `${action}|${data} index ${h.index} start ${h.start} count ${h.count}`;
}

/** Records the syscalls of `p` until `stop()`. */
export function syscallTrace(
  kernel: Kernel,
  p: Process,
): { readonly records: SyscallRecord[]; stop(): SyscallRecord[] } {
  const records: SyscallRecord[] = [];
  const unsubscribe = kernel.trace.subscribe((r) => {
    if (!isTraceEvent(r, "syscall") || r.pid !== p.pid) return;
    const event: SyscallEvent = r;
    if (event.name === "ioctl" && event.args.request === SET_IRQS && event.error === undefined) {
      // The header is still in user memory right after the call (peek is no syscall).
      const bytes = p.peek(Number(event.args.arg), vfio_irq_set.size);
      records.push({ event, detail: describeSetIrqs(bytes) });
      return;
    }
    records.push({ event });
  });
  return {
    records,
    stop: () => {
      unsubscribe();
      return records;
    },
  };
}

const DISCOVERY = new Set(["readlinkat", "getdents64", "newfstatat"]);

export interface NormalizeOptions {
  /** Keep sysfs/devfs discovery (readlink, getdents, stat). Default false. */
  readonly discovery?: boolean;
}

/** Symbolic, address-free lines (see the file header). */
export function normalizeTrace(
  records: readonly SyscallRecord[],
  opts: NormalizeOptions = {},
): string[] {
  const fds = new Map<number, { kind: FdKind; name: string }>();
  const eventfds = { next: 0 };
  const deviceMaps = new Set<number>();
  const lines: string[] = [];
  const fdName = (fd: unknown) => fds.get(Number(fd))?.name ?? `fd?${String(fd)}`;
  const result = (e: SyscallEvent) => (e.error ? `-${e.error.code}` : String(e.ret));
  for (const { event: e, detail } of records) {
    const a = e.args;
    switch (e.name) {
      case "openat": {
        const kind = vfioFdKindOfPath(String(a.path));
        if (kind === "other") continue; // sysfs and procfs files
        if (!e.error) fds.set(Number(e.ret), { kind, name: kind });
        lines.push(`open(${String(a.path).replace(/\d+$/, "N")}) = ${e.error ? result(e) : kind}`);
        continue;
      }
      case "eventfd2": {
        if (e.error) {
          lines.push(`eventfd() = ${result(e)}`);
          continue;
        }
        const name = `eventfd${eventfds.next++}`;
        fds.set(Number(e.ret), { kind: "eventfd", name });
        lines.push(`eventfd() = ${name}`);
        continue;
      }
      case "close": {
        const f = fds.get(Number(a.fd));
        if (!f) continue;
        lines.push(`close(${f.name})`);
        fds.delete(Number(a.fd));
        continue;
      }
      case "ioctl": {
        const f = fds.get(Number(a.fd));
        if (!f) continue;
        const req = String(a.request);
        const name = vfioIoctlName(f.kind, req) ?? req;
        const what = detail ? `${name} ${detail}` : name;
        if (name === "VFIO_GROUP_GET_DEVICE_FD" && !e.error) {
          fds.set(Number(e.ret), { kind: "device", name: "device" });
          lines.push(`ioctl(${f.name}, ${what}) = device`);
          continue;
        }
        lines.push(`ioctl(${f.name}, ${what}) = ${result(e)}`);
        continue;
      }
      case "mmap": {
        if (Number(a.fd) < 0 || !fds.has(Number(a.fd))) continue; // scratch memory
        if (!e.error) deviceMaps.add(Number(e.ret));
        const off = BigInt(String(a.offset));
        lines.push(
          `mmap(${fdName(a.fd)}, 0x${Number(a.length).toString(16)}, region ${off >> 40n}+0x${(off & ((1n << 40n) - 1n)).toString(16)}) = ${e.error ? result(e) : "addr"}`,
        );
        continue;
      }
      case "munmap": {
        if (!deviceMaps.delete(Number(a.addr))) continue;
        lines.push(`munmap(device map) = ${result(e)}`);
        continue;
      }
      case "read":
      case "write":
      case "pread64":
      case "pwrite64": {
        if (!fds.has(Number(a.fd))) continue;
        const off = a.offset !== undefined ? `, @0x${BigInt(String(a.offset)).toString(16)}` : "";
        lines.push(`${e.name}(${fdName(a.fd)}, ${String(a.count)}${off}) = ${result(e)}`);
        continue;
      }
      case "poll": {
        const list = (a.fds as readonly { fd: number }[]).map((f) => fdName(f.fd)).join(", ");
        lines.push(`poll([${list}], ${String(a.timeoutNs)}) = ${e.error ? result(e) : "…"}`);
        continue;
      }
      default:
        if (DISCOVERY.has(e.name) && !opts.discovery) continue;
        lines.push(`${e.name}(${JSON.stringify(a)}) = ${result(e)}`);
    }
  }
  return lines;
}

/**
 * The data plane of a trace: what a VMM does per interrupt and per register access once the
 * device is set up — device mmaps, SET_IRQS, and eventfd reads and writes.
 */
export function dataPlane(lines: readonly string[]): string[] {
  return lines.filter(
    (l) =>
      l.startsWith("mmap(device") ||
      l.includes("VFIO_DEVICE_SET_IRQS") ||
      /^(read|write)\(eventfd\d+/.test(l),
  );
}
