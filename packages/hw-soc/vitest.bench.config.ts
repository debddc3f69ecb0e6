import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.bench.shared";

export default mergeConfig(shared, defineProject({ test: { name: "hw-soc-bench" } }));
