/**
 * The modules a notebook cell may import, for the runner's `require()`: the main entry of every
 * `@vfio-lab/*` package, the VMM fixture `@vfio-lab/vfio-platform/testing`, and `tslab` (the
 * display shim). Imported statically so that a bundler (the docs site's Vite build) includes
 * them all, and so that the runner never touches a module loader, a file system or the network.
 *
 * Each entry carries `__esModule: true`, as tsup's CommonJS build does: sucrase's `imports`
 * transform compiles `import x from "…"` to `_interopRequireDefault(require("…")).default`, which
 * needs that marker to pick the module's default export (tslab loads the CJS build, so this is
 * also what a notebook sees under Jupyter).
 */

import * as hwSoc from "@vfio-lab/hw-soc";
import * as iommufd from "@vfio-lab/iommufd";
import * as kernel from "@vfio-lab/kernel";
import * as uio from "@vfio-lab/uio";
import * as vfioCore from "@vfio-lab/vfio-core";
import * as vfioPlatform from "@vfio-lab/vfio-platform";
import * as vfioPlatformTesting from "@vfio-lab/vfio-platform/testing";
import * as viz from "@vfio-lab/viz";
import type { OutputSink } from "./cell-output.js";
import { createTslabShim } from "./tslab-shim.js";

function asCommonJs(ns: object): Readonly<Record<string, unknown>> {
  return Object.freeze({ __esModule: true, ...ns });
}

/** Runs in progress, newest last; the shared `tslab` shim displays into the newest. */
export const activeRuns: OutputSink[] = [];

/** Module specifier → module, for `require()` in notebook code. */
export const LAB_MODULES: Readonly<Record<string, unknown>> = Object.freeze({
  "@vfio-lab/hw-soc": asCommonJs(hwSoc),
  "@vfio-lab/kernel": asCommonJs(kernel),
  "@vfio-lab/iommufd": asCommonJs(iommufd),
  "@vfio-lab/vfio-core": asCommonJs(vfioCore),
  "@vfio-lab/vfio-platform": asCommonJs(vfioPlatform),
  "@vfio-lab/vfio-platform/testing": asCommonJs(vfioPlatformTesting),
  "@vfio-lab/uio": asCommonJs(uio),
  "@vfio-lab/viz": asCommonJs(viz),
  tslab: createTslabShim(() => activeRuns[activeRuns.length - 1] ?? null),
});
