export * from "./cmdline.js";
export * from "./kstrtox.js";
export * from "./loader.js";
export * from "./module.js";
export * from "./module-sysfs.js";
export * from "./params.js";
