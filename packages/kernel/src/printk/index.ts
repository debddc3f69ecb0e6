export * from "./dev-printk.js";
export * from "./devkmsg.js";
export * from "./levels.js";
export * from "./printk.js";
export * from "./printk-ringbuffer.js";
