import { setupKernelMatchers } from "../src/testing/matchers.js";

setupKernelMatchers();
