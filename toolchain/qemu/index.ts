/** Running code on QEMU: bare-metal runs on an emulated arm64 `virt` machine. */
export { describeRun, runBareMetal } from "./bare.js";
export type { BareMetalResult, BareMetalRun, Image } from "./bare.js";
export { runCounted } from "./plugin.js";
export type { Counts } from "./plugin.js";
