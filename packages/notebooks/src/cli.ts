/**
 * The `vfio-lab` command (Node only; `bin/vfio-lab.mjs` runs it):
 *
 *   vfio-lab list                         the notebooks: id, seed, title, summary
 *   vfio-lab run <notebook> [--no-source] [--json]
 *                                         run one (by id `00-tour`, number `00`, or path) and
 *                                         print it, or write the executed .ipynb with --json
 *   vfio-lab board [file.dts|file.dtb] [--svg]
 *                                         boot a board with the lab's modules and show its
 *                                         devices, IOMMU groups, drivers and taint
 *
 * Exit status: 0 success, 1 a notebook cell failed, 2 bad usage or input (missing file, a DTS
 * dtc would refuse). Reading files and writing streams happens here; what is printed is built
 * by `cli-render.ts`.
 */

// biome-ignore lint/correctness/noNodejsModules: the CLI is the package's Node-only entry
import { readdirSync, readFileSync, statSync } from "node:fs";
// biome-ignore lint/correctness/noNodejsModules: the CLI is the package's Node-only entry
import { basename, resolve } from "node:path";
import { DtsSyntaxError, FdtFormatError, formatDts, isFdt, loadDeviceTree } from "@vfio-lab/hw-soc";
import type { Kernel, KernelModule } from "@vfio-lab/kernel";
import { uioPdrvGenirqModule } from "@vfio-lab/uio";
import { bootLab, type LabModule, virtLab } from "@vfio-lab/vfio-platform/testing";
import { snapshot, topologySvg } from "@vfio-lab/viz";
import {
  ANSI,
  type NotebookListing,
  PLAIN,
  renderBoard,
  renderList,
  renderRun,
  type Style,
} from "./cli-render.js";
import { executedNotebook, ipynbText } from "./ipynb-output.js";
import { type NotebookFile, notebookInfo, parseNotebook } from "./notebook-file.js";
import { runNotebook } from "./run-notebook.js";

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Style stdout with ANSI escapes (a terminal, and NO_COLOR unset). */
  readonly color: boolean;
  /** Where relative paths are resolved. */
  readonly cwd: string;
  /** The package's `notebooks/` directory. */
  readonly notebooksDir: string;
}

export const USAGE = `Usage: vfio-lab <command> [options]

Commands:
  list                               list the notebooks (id, seed, title, summary)
  run <notebook> [--no-source] [--json]
                                     run a notebook by id (00-tour), number (00) or path
                                     --no-source  print the outputs only
                                     --json       write the executed .ipynb to stdout
  board [file.dts|file.dtb] [--svg]  boot a board (default: the lab's virt board) with the
                                     lab's modules; print its devices, IOMMU groups, drivers
                                     and taint, or its topology as SVG with --svg

Exit status: 0 ok, 1 a notebook cell failed, 2 bad usage or input.
`;

/** A user mistake: one line on stderr, exit status 2. */
class CliError extends Error {}

interface Parsed {
  readonly positional: string[];
  readonly flags: Set<string>;
}

function parseArgs(args: readonly string[], allowed: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags = new Set<string>();
  for (const a of args) {
    if (a.startsWith("-") && a !== "-") {
      if (!allowed.includes(a)) throw new CliError(`unknown option ${a}`);
      flags.add(a);
    } else {
      positional.push(a);
    }
  }
  return { positional, flags };
}

function notebookFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".ipynb"))
      .sort();
  } catch {
    return [];
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new CliError(
      `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

function loadNotebook(path: string): NotebookFile {
  try {
    return parseNotebook(readText(path));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

function cmdList(args: readonly string[], io: CliIo, style: Style): number {
  parseArgs(args, []);
  const items: NotebookListing[] = notebookFiles(io.notebooksDir).map((file) => {
    const id = file.replace(/\.ipynb$/, "");
    try {
      return {
        id,
        info: notebookInfo(parseNotebook(readFileSync(resolve(io.notebooksDir, file), "utf8"))),
      };
    } catch (e) {
      return { id, info: null, error: (e as Error).message };
    }
  });
  io.stdout(renderList(items, style));
  return 0;
}

/** A notebook named by path, by file id (`00-tour`) or by number (`00`). */
export function resolveNotebook(arg: string, io: Pick<CliIo, "cwd" | "notebooksDir">): string {
  const asPath = resolve(io.cwd, arg);
  if (arg.endsWith(".ipynb") || arg.includes("/")) {
    try {
      if (statSync(asPath).isFile()) return asPath;
    } catch {
      // fall through to the error below
    }
    throw new CliError(`no such notebook file: ${arg}`);
  }
  const files = notebookFiles(io.notebooksDir);
  const exact = files.find((f) => f === `${arg}.ipynb`);
  if (exact) return resolve(io.notebooksDir, exact);
  const prefixed = files.filter((f) => f.startsWith(`${arg}-`));
  if (prefixed.length === 1) return resolve(io.notebooksDir, prefixed[0]!);
  const known = files.map((f) => f.replace(/\.ipynb$/, "")).join(", ") || "none";
  if (prefixed.length > 1)
    throw new CliError(`"${arg}" names several notebooks: ${prefixed.join(", ")}`);
  throw new CliError(`no notebook "${arg}" (notebooks: ${known})`);
}

async function cmdRun(args: readonly string[], io: CliIo, style: Style): Promise<number> {
  const { positional, flags } = parseArgs(args, ["--no-source", "--json"]);
  if (positional.length !== 1)
    throw new CliError("run takes one notebook (an id, a number or a path)");
  const nb = loadNotebook(resolveNotebook(positional[0]!, io));
  const result = await runNotebook(nb);
  if (flags.has("--json")) io.stdout(ipynbText(executedNotebook(nb, result)));
  else io.stdout(renderRun(nb, result, { source: !flags.has("--no-source"), style }));
  return result.failedCell === null ? 0 : 1;
}

/**
 * The lab's modules for `board`: the mainline VFIO bus drivers and UIO loaded, the reset modules
 * installed for vfio-platform to request; bootLab() adds iommufd, vfio and vfio_iommu_type1.
 */
const BOARD_MODULES: readonly LabModule[] = [
  "vfio_platform",
  "vfio_amba",
  uioPdrvGenirqModule as unknown as KernelModule<Kernel>,
];
const BOARD_INSTALL = ["vfio_platform_calxedaxgmac", "vfio_platform_dmatest"] as const;

/** The board's DTS text: the default lab board, or a file (DTS as is, DTB decoded and re-written). */
function boardSource(file: string | undefined, io: CliIo): { title: string; dts: string } {
  if (file === undefined)
    return { title: "Board: virtLab (the lab's default QEMU virt board)", dts: virtLab() };
  const path = resolve(io.cwd, file);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CliError(
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  try {
    // Parsed here, with the file name, so that a DTS error reads `board.dts:12:5: syntax error`.
    const tree = loadDeviceTree(bytes, { filename: file });
    const dts = isFdt(bytes) ? formatDts(tree) : new TextDecoder().decode(bytes);
    return { title: `Board: ${basename(file)}`, dts };
  } catch (e) {
    if (DtsSyntaxError.isInstance(e)) throw new CliError(e.message);
    if (FdtFormatError.isInstance(e)) throw new CliError(`${file}: ${e.message}`);
    throw new CliError(`${file}: ${(e as Error).message}`);
  }
}

function cmdBoard(args: readonly string[], io: CliIo, style: Style): number {
  const { positional, flags } = parseArgs(args, ["--svg"]);
  if (positional.length > 1) throw new CliError("board takes at most one device-tree file");
  const { title, dts } = boardSource(positional[0], io);
  let kernel: Kernel;
  try {
    kernel = bootLab({ board: dts, modules: BOARD_MODULES, install: [...BOARD_INSTALL] }).kernel;
  } catch (e) {
    throw new CliError(`${positional[0] ?? "virtLab"}: cannot boot: ${(e as Error).message}`);
  }
  const snap = snapshot(kernel);
  if (flags.has("--svg")) io.stdout(topologySvg(snap).replace(/\n?$/, "\n"));
  else io.stdout(renderBoard(title, kernel, snap, style));
  return 0;
}

/** Runs one command line; returns the exit status. Never throws for a user mistake. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const style = io.color ? ANSI : PLAIN;
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr(USAGE);
    return 2;
  }
  if (
    command === "--help" ||
    command === "-h" ||
    command === "help" ||
    rest.includes("--help") ||
    rest.includes("-h")
  ) {
    io.stdout(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case "list":
        return cmdList(rest, io, style);
      case "run":
        return await cmdRun(rest, io, style);
      case "board":
        return cmdBoard(rest, io, style);
      default:
        throw new CliError(`unknown command "${command}" (try vfio-lab --help)`);
    }
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    io.stderr(`vfio-lab: ${e.message}\n`);
    return 2;
  }
}

/** The process's own streams and environment, for `bin/vfio-lab.mjs`. */
export function processIo(notebooksDir: string): CliIo {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    color: process.stdout.isTTY === true && !process.env.NO_COLOR,
    cwd: process.cwd(),
    notebooksDir,
  };
}
