import { defineConfig } from "tsup";

export default defineConfig({
  // `cli` is the Node-only entry bin/vfio-lab.mjs imports; `index` is the browser-safe runner.
  entry: { index: "src/index.ts", cli: "src/cli.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
});
