/**
 * The `console` a notebook's code receives: log/info/debug/dir go to the cell's stdout stream,
 * warn/error/assert to stderr, formatted as Node formats them (see inspect.ts), with Node's
 * two-space `console.group()` indentation. Nothing reaches the host's real console.
 */

import type { OutputSink } from "./cell-output.js";
import { formatArgs, inspect } from "./inspect.js";

export interface NotebookConsole {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  dir(value?: unknown): void;
  assert(condition?: unknown, ...args: unknown[]): void;
  group(...label: unknown[]): void;
  groupCollapsed(...label: unknown[]): void;
  groupEnd(): void;
}

export function captureConsole(sink: OutputSink): NotebookConsole {
  let indent = "";
  const write = (name: "stdout" | "stderr", text: string): void => {
    const body = indent === "" ? text : text.replace(/^/gm, indent);
    sink.stream(name, `${body}\n`);
  };
  const group = (...label: unknown[]): void => {
    if (label.length > 0) write("stdout", formatArgs(label));
    indent += "  ";
  };
  return {
    log: (...args) => write("stdout", formatArgs(args)),
    info: (...args) => write("stdout", formatArgs(args)),
    debug: (...args) => write("stdout", formatArgs(args)),
    warn: (...args) => write("stderr", formatArgs(args)),
    error: (...args) => write("stderr", formatArgs(args)),
    dir: (value) => write("stdout", inspect(value)),
    assert: (condition, ...args) => {
      if (condition) return;
      const [first, ...rest] = args;
      if (typeof first === "string")
        write("stderr", formatArgs([`Assertion failed: ${first}`, ...rest]));
      else write("stderr", formatArgs(["Assertion failed", ...args]));
    },
    group,
    groupCollapsed: group,
    groupEnd: () => {
      indent = indent.slice(0, -2);
    },
  };
}
