#!/usr/bin/env node
// Runs `tsc` from the `typescript` package this repository pins (5.9.3), whatever
// node_modules/.bin/tsc happens to be. The name is ambiguous here: tslab bundles its own
// TypeScript 5.0 (`@tslab/typescript-for-tslab`), which also declares a `tsc` bin, and npm may link
// either one. Type-checking the packages with 5.0 reports errors 5.9 does not (named tuple
// spreads, narrowing of `filter` callbacks).
import { createRequire } from "node:module";

createRequire(import.meta.url)("typescript/lib/tsc.js");
