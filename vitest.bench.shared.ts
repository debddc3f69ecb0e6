import { defaultClientConditions, defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

/**
 * Benchmarks run as ordinary vitest files (`bench/*.bench.ts`) in one forked process with the
 * garbage collector exposed, so memory figures are meaningful. Each file measures a subject and a
 * baseline in the same process and prints the ratio; nothing in them asserts on time.
 */
export default defineConfig({
  resolve: { conditions: ["@vfio-lab/source", ...defaultClientConditions] },
  ssr: { resolve: { conditions: ["@vfio-lab/source", ...defaultServerConditions] } },
  test: {
    include: ["bench/**/*.bench.ts"],
    pool: "forks",
    execArgv: ["--expose-gc"],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
