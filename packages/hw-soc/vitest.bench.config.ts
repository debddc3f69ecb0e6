import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.bench.shared.ts";

export default mergeConfig(shared, defineProject({ test: { name: "hw-soc-bench" } }));
