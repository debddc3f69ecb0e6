/**
 * `@vfio-lab/kernel/uapi`: what a user-space header gives a C program — ioctl encoding, struct
 * layouts and errno — without the kernel model behind it.
 *
 * @packageDocumentation
 */
export * from "../errno.js";
export * from "./ioctl.js";
export * from "./struct.js";
export * from "./vfio.js";
