/** Running code on QEMU: bare-metal runs on an emulated arm64 `virt` machine. */
export { describeRun, runBareMetal } from "./bare.js";
export type { BareMetalResult, BareMetalRun, Image } from "./bare.js";
export { runCounted, startCounting } from "./plugin.js";
export type { Counting, Counts } from "./plugin.js";
export { bootedVirtTarget, captureVirt } from "./capture.js";
export type { VirtCapture, VirtCaptureOptions } from "./capture.js";
export { ConsoleWatch, bootBundle, consoleLoglevel, initLineHidden, planBoot } from "./boot.js";
export type { BootMachine, BootOptions, BootResult, Outcome, Verdict } from "./boot.js";
export {
  VIRT_COMMAND_LINE, VIRT_CPU, VIRT_DTB_ROM, VIRT_MAX_CPUS, VIRT_RAM_BASE, dtbMachine, dumpVirtDtb, parseCrashKernel, parseSize,
  psciMethodFor, qemuMemoryArg, qemuVersion, virtArgs, virtMachine, virtTarget,
} from "./virt.js";
export type { DtbMachine, PsciMethod, VirtOptions, VirtTargetOptions } from "./virt.js";
