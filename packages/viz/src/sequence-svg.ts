/**
 * `sequenceSvg(records, opts)`: a syscall sequence diagram from a kernel trace
 * (`kernel.trace.record()`): one lifeline per process (`comm[pid]`) and one per kernel object
 * the calls reach — a /dev node by its path (`/dev/vfio/vfio`, `/dev/vfio/2`, `/dev/iommu`), the
 * device fd a group handed out, eventfds, sysfs, anonymous memory — found from the arguments
 * (`openat`'s path, then the fd each open returned). Each call is an arrow with its decoded
 * name (ioctl requests by the kind of file, vfio-core's `vfioIoctlName()`) and its return; a
 * failed call is red, dashed, ends in ✗ and carries the errno code and the kernel function that
 * refused. printk lines, taints and (unless `kernelEvents: false`) driver binds and IOMMU-group
 * ownership changes appear as notes between the calls, where they happened.
 *
 * Every record is shown (no elision); a call takes two rows of 16 px.
 */

import {
  isTraceEvent,
  type JsonValue,
  type KernelTraceEventMap,
  type KernelTraceRecord,
} from "@vfio-lab/kernel";
import { type VfioFdKind, vfioFdKindOfPath, vfioIoctlName } from "@vfio-lab/vfio-core";
import { PALETTE } from "./palette.js";
import { arrowMarker, charLength, el, fit, GridCanvas, svgDocument, textEl } from "./svg.js";

export interface SequenceOptions {
  /** The diagram's title (default "Syscall sequence"). */
  readonly title?: string;
  /**
   * Show driver binds/unbinds, IOMMU-group ownership changes and module loads as notes
   * (default true). printk lines and taints are always shown.
   */
  readonly kernelEvents?: boolean;
}

type SyscallEvent = KernelTraceEventMap["syscall"];

interface Column {
  readonly key: string;
  readonly label: string;
  readonly process: boolean;
  col: number;
  width: number;
}

type Row =
  | {
      readonly kind: "call";
      readonly from: string;
      readonly to: string;
      readonly label: string;
      readonly failed: boolean;
      readonly code: string | null;
      readonly fn: string | null;
    }
  | { readonly kind: "note"; readonly text: string; readonly style: "printk" | "taint" | "event" };

interface FdInfo {
  readonly column: string;
  readonly kind: VfioFdKind;
}

const GUTTER = 6;
const MIN_COL = 14;
const MAX_COL = 28;
/** How much of a label or a note is shown (the whole text is in the row's tooltip). */
const MAX_LABEL = 140;

function objectOfPath(path: string): string {
  if (path.startsWith("/sys/")) return "sysfs";
  if (path.startsWith("/proc/")) return "procfs";
  if (path.startsWith("/dev/")) return path;
  return "files";
}

function num(v: JsonValue | undefined): number {
  return typeof v === "number"
    ? v
    : typeof v === "string" && /^-?0x[0-9a-f]+$/i.test(v)
      ? Number(BigInt(v))
      : Number.NaN;
}

function retText(v: JsonValue | undefined): string {
  if (v === undefined || v === null) return "0";
  if (typeof v === "number") return v > 0xffff ? `0x${v.toString(16)}` : String(v);
  if (typeof v === "string") return /^-?0x/.test(v) ? v : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.length} entries]`;
  return JSON.stringify(v);
}

function argText(v: JsonValue | undefined): string {
  if (typeof v === "number") return v > 0xffff ? `0x${v.toString(16)}` : String(v);
  if (typeof v === "string") return JSON.stringify(v);
  return JSON.stringify(v ?? null);
}

/** Builds the columns and rows from the records. */
function analyse(records: readonly KernelTraceRecord[], kernelEvents: boolean) {
  const columns = new Map<string, Column>();
  const processes: Column[] = [];
  const objects: Column[] = [];
  const column = (key: string, label: string, process: boolean): string => {
    if (!columns.has(key)) {
      const c: Column = { key, label, process, col: 0, width: 0 };
      columns.set(key, c);
      (process ? processes : objects).push(c);
    }
    return key;
  };
  const fdTables = new Map<number, Map<number, FdInfo>>();
  const fdsOf = (pid: number) => {
    let t = fdTables.get(pid);
    if (!t) {
      t = new Map();
      fdTables.set(pid, t);
    }
    return t;
  };
  const rows: Row[] = [];

  for (const r of records) {
    if (isTraceEvent(r, "syscall")) {
      const e: SyscallEvent = r;
      const from = column(`p:${e.pid}`, `${e.comm}[${e.pid}]`, true);
      const fds = fdsOf(e.pid);
      const a = e.args;
      const fdOf = (v: JsonValue | undefined): FdInfo => {
        const info = fds.get(num(v));
        return info ?? { column: column("fd?", "unknown fd", false), kind: "other" };
      };
      let to: string;
      let label: string;
      switch (e.name) {
        case "openat": {
          const path = String(a.path);
          to = column(objectOfPath(path), objectOfPath(path), false);
          label = `openat(${JSON.stringify(path)})`;
          if (!e.error) fds.set(num(e.ret), { column: to, kind: vfioFdKindOfPath(path) });
          break;
        }
        case "ioctl": {
          const info = fdOf(a.fd);
          to = info.column;
          const req = String(a.request);
          const name = vfioIoctlName(info.kind, req) ?? req;
          label = `ioctl(${argText(a.fd)}, ${name})`;
          if (name === "VFIO_GROUP_GET_DEVICE_FD" && !e.error) {
            const dcol = column(`device fd ${to}`, `device fd (${to})`, false);
            fds.set(num(e.ret), { column: dcol, kind: "device" });
          }
          break;
        }
        case "eventfd2": {
          to = column("eventfd", "eventfd", false);
          label = "eventfd2()";
          if (!e.error) fds.set(num(e.ret), { column: to, kind: "eventfd" });
          break;
        }
        case "memfd_create": {
          to = column("memfd", "memfd", false);
          label = `memfd_create(${argText(a.name)})`;
          if (!e.error) fds.set(num(e.ret), { column: to, kind: "other" });
          break;
        }
        case "dup":
        case "fcntl": {
          const info = fdOf(a.fd);
          to = info.column;
          label = `${e.name}(${argText(a.fd)}${a.cmd !== undefined ? `, ${argText(a.cmd)}` : ""})`;
          if (e.name === "dup" && !e.error) fds.set(num(e.ret), info);
          break;
        }
        case "close": {
          const info = fdOf(a.fd);
          to = info.column;
          label = `close(${argText(a.fd)})`;
          if (!e.error) fds.delete(num(a.fd));
          break;
        }
        case "mmap": {
          const fd = num(a.fd);
          if (fd < 0) {
            to = column("memory", "memory (mm)", false);
            label = `mmap(anon, ${argText(a.length)})`;
          } else {
            to = fdOf(a.fd).column;
            label = `mmap(${argText(a.fd)}, ${argText(a.length)}, off ${argText(a.offset)})`;
          }
          break;
        }
        case "munmap":
        case "mlock":
        case "munlock":
        case "mprotect": {
          to = column("memory", "memory (mm)", false);
          label = `${e.name}(${argText(a.addr)}, ${argText(a.length ?? a.len)})`;
          break;
        }
        case "poll": {
          const list = Array.isArray(a.fds) ? (a.fds as readonly { fd?: JsonValue }[]) : [];
          to = list[0] ? fdOf(list[0].fd).column : column("poll", "poll", false);
          label = `poll([${list.map((f) => argText(f.fd)).join(", ")}], ${argText(a.timeoutNs)})`;
          break;
        }
        case "read":
        case "write":
        case "pread64":
        case "pwrite64":
        case "lseek":
        case "ftruncate": {
          to = fdOf(a.fd).column;
          const extra = a.count ?? a.offset ?? a.length;
          label = `${e.name}(${argText(a.fd)}${extra !== undefined ? `, ${argText(extra)}` : ""})`;
          break;
        }
        default: {
          if (typeof a.path === "string") {
            to = column(objectOfPath(a.path), objectOfPath(a.path), false);
            label = `${e.name}(${JSON.stringify(a.path)})`;
          } else if (a.fd !== undefined) {
            to = fdOf(a.fd).column;
            label = `${e.name}(${argText(a.fd)})`;
          } else {
            to = column("kernel", "kernel", false);
            label = `${e.name}(${Object.values(a).map(argText).join(", ")})`;
          }
        }
      }
      const result = e.error ? ` = -1 ${e.error.code} (${e.error.fn})` : ` = ${retText(e.ret)}`;
      rows.push({
        kind: "call",
        from,
        to,
        label: label + result,
        failed: e.error !== undefined,
        code: e.error?.code ?? null,
        fn: e.error?.fn ?? null,
      });
      continue;
    }
    if (isTraceEvent(r, "printk")) {
      rows.push({ kind: "note", text: `printk: ${r.text}`, style: "printk" });
      continue;
    }
    if (isTraceEvent(r, "taint")) {
      rows.push({
        kind: "note",
        text: `TAINT ${r.letter} (${r.flag}): /proc/sys/kernel/tainted = ${r.value}`,
        style: "taint",
      });
      continue;
    }
    if (!kernelEvents) continue;
    const t = String(r.type);
    const f = r as Readonly<Record<string, JsonValue | undefined>>;
    if (t === "driver:bind" || t === "driver:unbind") {
      rows.push({
        kind: "note",
        text: `${t}: ${String(f.device)} ${t === "driver:bind" ? "→" : "✕"} ${String(f.driver)}`,
        style: "event",
      });
    } else if (t === "iommu:owner") {
      rows.push({
        kind: "note",
        text: `iommu:owner: group ${String(f.group)} ${String(f.action)} → owner_cnt ${String(f.ownerCnt)}${f.userOwned ? ", user owned" : ""}`,
        style: "event",
      });
    } else if (t === "module") {
      rows.push({
        kind: "note",
        text: `module: ${String(f.action)} ${String(f.name)}`,
        style: "event",
      });
    }
  }
  return { columns, processes, objects, rows };
}

/** The sequence diagram of `records` (see the file header). */
export function sequenceSvg(
  records: readonly KernelTraceRecord[],
  opts: SequenceOptions = {},
): string {
  const title = opts.title?.trim() ? opts.title : "Syscall sequence";
  const { columns, processes, objects, rows } = analyse(records, opts.kernelEvents ?? true);

  // Columns: processes, then objects in order of first use.
  let col = GUTTER;
  for (const c of [...processes, ...objects]) {
    c.width = Math.min(MAX_COL, Math.max(MIN_COL, charLength(c.label) + 3));
    c.col = col;
    col += c.width + 1;
  }
  const center = (key: string) => {
    const c = columns.get(key)!;
    return c.col + Math.floor(c.width / 2);
  };
  const lifelinesEnd = col;

  const c = new GridCanvas();
  c.raw(
    el(
      "defs",
      {},
      arrowMarker("vl-seq-ok", PALETTE.ok),
      arrowMarker("vl-seq-err", PALETTE.errno.stroke),
    ),
  );
  c.text(1, 1, title, { heading: true }, Math.max(lifelinesEnd, 60));
  const head = 3;
  const first = head + 3;
  let row = first;
  const body: string[] = [];
  // The widest row decides the picture's width (labels run to the right of their arrow).
  let width = Math.max(lifelinesEnd + 2, 40);
  for (const r of rows) {
    const len = charLength(fit(r.kind === "call" ? r.label : r.text, MAX_LABEL));
    width = Math.max(width, (r.kind === "call" ? center(r.from) + 2 : GUTTER + 2) + len + 2);
  }
  let calls = 0;
  let failures = 0;
  let printks = 0;
  let taints = 0;
  for (const r of rows) {
    const g = new GridCanvas();
    if (r.kind === "call") {
      calls++;
      const x1 = center(r.from);
      const x2 = center(r.to);
      const label = fit(r.label, MAX_LABEL);
      const start = x1 + 2;
      g.text(1, row + 1, `${calls}`, { fill: PALETTE.muted });
      if (r.failed) {
        failures++;
        g.band(GUTTER - 1, row, width - GUTTER + 1, 2, PALETTE.errno.fill);
        g.text(start, row, label, { fill: PALETTE.errno.text, bold: true });
        g.hline(x1, x2 - 1, row + 1, {
          stroke: PALETTE.errno.stroke,
          width: 1.5,
          dashed: true,
          arrow: "vl-seq-err",
        });
        g.text(x2, row + 1, "✗", { fill: PALETTE.errno.text, heading: true, anchor: "middle" });
      } else {
        g.text(start, row, label, { fill: PALETTE.ink, halo: true });
        g.hline(x1, x2 - 1, row + 1, { stroke: PALETTE.ok, arrow: "vl-seq-ok" });
      }
      body.push(
        el(
          "g",
          {
            class: r.failed ? "call errno" : "call",
            "data-errno": r.code ?? undefined,
            "data-fn": r.fn ?? undefined,
          },
          textEl("title", {}, r.label),
          ...g.parts,
        ),
      );
      row += 2;
    } else {
      const sw =
        r.style === "taint" ? PALETTE.errno : r.style === "printk" ? PALETTE.note : PALETTE.event;
      if (r.style === "printk") printks++;
      if (r.style === "taint") taints++;
      const text = fit(r.text, MAX_LABEL);
      g.band(GUTTER - 1, row, width - GUTTER + 1, 1, sw.fill);
      g.text(GUTTER + 1, row, text, {
        fill: sw.text,
        bold: r.style === "taint",
        italic: r.style !== "taint",
      });
      body.push(
        el("g", { class: `note note-${r.style}` }, textEl("title", {}, r.text), ...g.parts),
      );
      row += 1;
    }
  }
  const last = Math.max(row, first + 1);

  // Headers and lifelines first, so the rows are drawn over them.
  for (const col of [...processes, ...objects]) {
    const x = center(col.key);
    c.vline(x, head + 2, last, {
      stroke: col.process ? PALETTE.ink : PALETTE.frame,
      dashed: !col.process,
    });
    const sw = col.process
      ? PALETTE.iommu
      : { fill: PALETTE.frameFill, stroke: PALETTE.frame, text: PALETTE.ink };
    const h = new GridCanvas();
    h.box(col.col, head, col.width - 1, 2, {
      fill: sw.fill,
      stroke: sw.stroke,
      strokeWidth: 1.5,
      rx: 4,
    });
    h.text(col.col + Math.floor(col.width / 2), head + 1, fit(col.label, col.width - 3), {
      bold: col.process,
      fill: sw.text,
      anchor: "middle",
    });
    c.raw(
      el(
        "g",
        { class: col.process ? "lifeline process" : "lifeline object" },
        textEl("title", {}, col.label),
        ...h.parts,
      ),
    );
  }
  c.parts.push(...body);

  const who = processes.map((p) => p.label).join(", ") || "no process";
  const what = objects.map((o) => o.label).join(", ") || "nothing";
  const desc =
    `${calls} system call${calls === 1 ? "" : "s"} by ${who} on ${what}; ` +
    (failures
      ? `${failures} failed: ${rows
          .filter((r): r is Extract<Row, { kind: "call" }> => r.kind === "call" && r.failed)
          .map((r) => r.label)
          .join("; ")}. `
      : "none failed. ") +
    `${printks} kernel message${printks === 1 ? "" : "s"}, ${taints} taint event${taints === 1 ? "" : "s"}.`;
  return svgDocument(
    { cols: width, rows: last + 1, title, desc, className: "vfio-lab-sequence" },
    c.parts,
  );
}
