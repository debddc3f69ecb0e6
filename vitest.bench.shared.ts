import { defineConfig, mergeConfig } from "vitest/config";
import shared from "./vitest.shared";

/**
 * Benchmarks run as ordinary vitest files (`bench/*.bench.ts`) in one forked process with the
 * garbage collector exposed, so memory figures are meaningful. Each file measures a subject and a
 * baseline in the same process and prints the ratio; nothing in them asserts on time.
 */
export default mergeConfig(
  shared,
  defineConfig({
    test: {
      include: ["bench/**/*.bench.ts"],
      pool: "forks",
      execArgv: ["--expose-gc"],
      fileParallelism: false,
      testTimeout: 600_000,
      hookTimeout: 600_000,
    },
  }),
);
