/**
 * The docs site's browser test (docs/e2e/): Debian's Chromium (installed by `.ci/run`, never
 * downloaded) against the built site served on 127.0.0.1. `npm run test:browser` builds the
 * site first.
 */
import { defineConfig } from "@playwright/test";

const PORT = 4173;

export default defineConfig({
  testDir: "docs/e2e",
  testMatch: "*.spec.ts",
  outputDir: "test-results",
  globalSetup: "./docs/e2e/global-setup.ts",
  reporter: "list",
  // A notebook page re-runs the whole model in the browser; two shared cores can be slow.
  timeout: 120_000,
  expect: { timeout: 60_000 },
  workers: 2,
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    viewport: { width: 1440, height: 900 },
    launchOptions: {
      // biome-ignore lint/suspicious/noUndeclaredEnvVars: Playwright runs outside turbo
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    trace: "retain-on-failure",
  },
  webServer: {
    command: `node scripts/static-server.mjs docs/.vitepress/dist ${PORT}`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: false,
    stdout: "ignore",
    stderr: "pipe",
  },
});
