import { defaultClientConditions, defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

/** Shared by every package: resolve workspace packages to their TypeScript sources. */
export default defineConfig({
  resolve: { conditions: ["@vfio-lab/source", ...defaultClientConditions] },
  ssr: { resolve: { conditions: ["@vfio-lab/source", ...defaultServerConditions] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // A hang guard, not a performance check: fail-nth sweeps and whole-board scenarios take
    // seconds, more on a loaded CI machine (performance is measured by `npm run bench`).
    testTimeout: 60_000,
    benchmark: { include: ["src/**/*.bench.ts", "bench/**/*.bench.ts"] },
  },
});
