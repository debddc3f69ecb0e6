/**
 * Prints calls on the model the way oracle.h prints them on Linux (`ORC nnn desc => ret=R
 * errno=NAME(N) | extra`), so a replay of an oracle probe can be compared with its recorded
 * output line for line.
 */

import { readFileSync } from "node:fs";
import { SysError } from "@vfio-lab/kernel";

/** The ORC and INFO lines of a recorded probe, without its module loads (the model prints none). */
export function recordedTrace(probe: string): string[] {
  const text = readFileSync(new URL(`../../../oracle-probes/${probe}`, import.meta.url), "utf8");
  let loads = 0;
  return text
    .split("\n")
    .filter((l) => l.startsWith("ORC ") || l.startsWith("INFO "))
    .filter((l) => {
      if (!l.includes("finit_module")) return true;
      loads++;
      return false;
    })
    .map((l) =>
      l.replace(
        /^ORC (\d+)/,
        (_, n: string) => `ORC ${String(Number(n) - loads).padStart(3, "0")}`,
      ),
    );
}

/** `%#llx` as C prints it: 0 without a prefix. */
export const hex = (n: number | bigint) => (BigInt(n) === 0n ? "0" : `0x${BigInt(n).toString(16)}`);

export class OracleTrace {
  readonly lines: string[] = [];
  private seq = 0;
  private pending = "";

  /** ORC_CALL(): runs `f`, keeps its line open for `end()`. */
  call(desc: string, f: () => number): number {
    let ret: number;
    let errno = "OK(0)";
    try {
      ret = f();
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      ret = -1;
      errno = `${e.code}(${e.errno})`;
    }
    this.seq++;
    this.pending = `ORC ${String(this.seq).padStart(3, "0")} ${desc} => ret=${ret} errno=${errno}`;
    return ret;
  }

  /** orc_end(): closes the open line, with what the call wrote back. */
  end(extra?: string): void {
    this.lines.push(extra === undefined ? this.pending : `${this.pending} | ${extra}`);
  }

  /** ORC(): a call whose line has nothing after the result. */
  orc(desc: string, f: () => number): number {
    const r = this.call(desc, f);
    this.end();
    return r;
  }

  info(text: string): void {
    this.lines.push(`INFO ${text}`);
  }
}
