import { defineProject, mergeConfig } from "vitest/config";
import shared from "../vitest.shared.ts";

/**
 * The docs workspace's tests: the guide's live examples (`guide/**\/*.test.ts`), run on the
 * packages' TypeScript sources like every other project. `include` replaces the shared one
 * (mergeConfig would append to it) so nothing else under docs/ is collected.
 */
const config = mergeConfig(shared, defineProject({ test: { name: "docs" } }));
config.test = { ...config.test, include: ["guide/**/*.test.ts"] };
export default config;
