/**
 * `@vfio-lab/kernel/testing`: helpers for tests written against the model (vitest is an optional
 * peer dependency of this subpath only).
 *
 * @packageDocumentation
 */
export { expectErrno, setupKernelMatchers } from "./matchers.js";
export { type CStructLayouts, describeStructLayouts } from "./uapi-layout.js";
