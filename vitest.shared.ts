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
    // Test files of one worker share their imported modules instead of re-importing the whole
    // model for each file: this halves `npm test` (import time was half the run). It is safe
    // because the model keeps no state in modules — every `Kernel.boot()` builds its own world —
    // and no test mocks modules or stubs globals; a test that changes a module-level knob
    // (iommufd's `setTempMemoryLimit`) restores it.
    isolate: false,
    benchmark: { include: ["src/**/*.bench.ts", "bench/**/*.bench.ts"] },
  },
});
