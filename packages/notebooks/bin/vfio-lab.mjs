#!/usr/bin/env node
// The `vfio-lab` command: see src/cli.ts. Notebooks are found beside this file, in the package.
import { fileURLToPath } from "node:url";
import { main, processIo } from "../dist/cli.js";

// `vfio-lab run 00 | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

const notebooksDir = fileURLToPath(new URL("../notebooks/", import.meta.url));
process.exitCode = await main(process.argv.slice(2), processIo(notebooksDir));
