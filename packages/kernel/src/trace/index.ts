export * from "./trace-bus.js";
