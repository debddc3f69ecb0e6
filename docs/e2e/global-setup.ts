/**
 * Starts each browser-test run with an empty screenshot folder, so the artifacts CI keeps are
 * this run's pictures only (Playwright cleans its own outputDir, not this one).
 */
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export default function globalSetup(): void {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}
