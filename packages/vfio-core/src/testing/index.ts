/** Test helpers for code built on @vfio-lab/vfio-core. */
export {};
