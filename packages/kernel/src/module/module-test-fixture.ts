/**
 * A tiny in-memory `Sysfs` for the module tests (the real one is fs/sysfs.ts): directories,
 * attribute files and links by absolute path, with a read that calls show() and a write that
 * calls store() the way kernfs allows it (EACCES without write bits or without store).
 */

import { VirtualClock } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { Sysfs, SysfsAttribute } from "../fs/sysfs-api.js";
import { Printk } from "../printk/printk.js";
import { Taint } from "../taint.js";
import { KernelTrace } from "../trace/trace-bus.js";
import { ModuleLoader } from "./loader.js";

type Node =
  | { readonly kind: "dir" }
  | { readonly kind: "file"; readonly attr: SysfsAttribute }
  | { readonly kind: "link"; readonly target: string };

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

export class FakeSysfs implements Sysfs {
  readonly nodes = new Map<string, Node>([["/sys", { kind: "dir" }]]);

  mkdir(path: string, exclusive = false): void {
    if (this.nodes.has(path)) {
      if (exclusive) throw new SysError("EEXIST", "sysfs_create_dir_ns", path);
      return;
    }
    const parent = parentOf(path);
    if (!this.nodes.has(parent)) this.mkdir(parent);
    this.nodes.set(path, { kind: "dir" });
  }

  createFile(path: string, attr: SysfsAttribute): void {
    this.checkNew(path);
    this.nodes.set(path, { kind: "file", attr });
  }

  symlink(path: string, target: string): void {
    this.checkNew(path);
    this.nodes.set(path, { kind: "link", target });
  }

  remove(path: string): void {
    if (!this.nodes.has(path)) throw new SysError("ENOENT", "kernfs_remove", path);
    for (const p of [...this.nodes.keys()]) {
      if (p === path || p.startsWith(`${path}/`)) this.nodes.delete(p);
    }
  }

  exists(path: string): boolean {
    return this.nodes.has(path);
  }

  /** What cat prints. */
  read(path: string): string {
    const node = this.nodes.get(path);
    if (node?.kind !== "file") throw new SysError("ENOENT", "kernfs_fop_open", path);
    if (!node.attr.show) throw new SysError("EACCES", "kernfs_fop_open", path);
    return node.attr.show();
  }

  /** What `echo text > path` does. */
  write(path: string, text: string): void {
    const node = this.nodes.get(path);
    if (node?.kind !== "file") throw new SysError("ENOENT", "kernfs_fop_open", path);
    if ((node.attr.mode & 0o222) === 0 || !node.attr.store) {
      throw new SysError("EACCES", "kernfs_fop_open", path);
    }
    node.attr.store(text);
  }

  /** Entry names of a directory, sorted. */
  list(dir: string): string[] {
    return [...this.nodes.keys()]
      .filter((p) => parentOf(p) === dir && p !== dir)
      .map((p) => p.slice(dir.length + 1))
      .sort();
  }

  linkTarget(path: string): string | undefined {
    const node = this.nodes.get(path);
    return node?.kind === "link" ? node.target : undefined;
  }

  private checkNew(path: string): void {
    if (!this.nodes.has(parentOf(path))) throw new SysError("ENOENT", "sysfs_add_file", path);
    if (this.nodes.has(path)) throw new SysError("EEXIST", "sysfs_add_file", path);
  }
}

/** The object modules get as `kernel` in these tests. */
export interface TestKernel {
  readonly printk: Printk;
  readonly loader: ModuleLoader<TestKernel>;
  /** What the modules under test did, in order. */
  readonly events: string[];
}

export function moduleWorld(cmdline = "") {
  const clock = new VirtualClock();
  const printk = new Printk({ now: () => clock.now });
  const taint = new Taint({ printk });
  const trace = new KernelTrace(() => clock.now);
  const sysfs = new FakeSysfs();
  const events: string[] = [];
  const kernel = { printk, events } as {
    printk: Printk;
    events: string[];
    loader: ModuleLoader<TestKernel>;
  };
  const loader = new ModuleLoader<TestKernel>({ kernel, sysfs, printk, taint, trace, cmdline });
  kernel.loader = loader;
  /** The log text since the last call. */
  let seen = 0;
  const newLog = (): string[] => {
    const records = printk.records().filter((r) => r.seq >= seen);
    seen = printk.rb.nextSeq;
    return records.map((r) => r.text);
  };
  return {
    clock,
    printk,
    taint,
    trace,
    sysfs,
    loader,
    kernel: kernel as TestKernel,
    events,
    newLog,
  };
}
