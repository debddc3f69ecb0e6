/**
 * A small benchmark harness: time a subject and its baseline in the same process, report ratios.
 * Wall-clock time is fine here (benchmarks measure the host, not the model); the model itself
 * never reads it.
 */

export interface Timing {
  readonly name: string;
  /** Mean milliseconds per operation over the measured runs. */
  readonly msPerOp: number;
  readonly runs: number;
}

/** Runs `fn` `warmup` times, then repeatedly for at least `minMs`, and returns the mean. */
export function measure(
  name: string,
  fn: () => void,
  { warmup = 3, minMs = 500, minRuns = 5 } = {},
): Timing {
  for (let i = 0; i < warmup; i++) fn();
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  while (runs < minRuns || elapsed < minMs) {
    fn();
    runs++;
    elapsed = performance.now() - start;
  }
  return { name, msPerOp: elapsed / runs, runs };
}

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

/** Bytes the process holds in JS heap plus array buffers (what a model's storage costs). */
export function heldBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Prints a result block that the closing notes quote. */
export function report(title: string, lines: readonly string[]): void {
  const body = [`── ${title}`, ...lines.map((l) => `   ${l}`)].join("\n");
  console.log(body);
}

/** Runs the named benchmark cases in order; a case that throws fails the run. */
export async function runBenchmarks(
  suite: string,
  cases: readonly (readonly [string, () => void | Promise<void>])[],
): Promise<void> {
  console.log(`${suite}`);
  for (const [name, fn] of cases) {
    try {
      await fn();
    } catch (e) {
      console.error(`✗ ${name}: ${e instanceof Error ? e.stack : String(e)}`);
      process.exitCode = 1;
    }
  }
}
