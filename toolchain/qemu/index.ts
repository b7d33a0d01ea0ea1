/** Running code on QEMU: bare-metal runs, emulated kexec, and the machines they run on (virt, xlnx-zcu102). */
export { describeRun, runBareMetal } from "./bare.js";
export type { BareMetalResult, BareMetalRun, Image } from "./bare.js";
export { runCounted, startCounting } from "./plugin.js";
export type { Counting, Counts } from "./plugin.js";
export { bootedTarget, captureMachine } from "./capture.js";
export type { MachineCapture, MachineCaptureOptions } from "./capture.js";
export { ConsoleWatch, bootBundle, consoleLoglevel, initLineHidden, planBoot } from "./boot.js";
export type { BootMachine, BootOptions, BootResult, Outcome, Verdict } from "./boot.js";
export {
  MACHINES, MACHINE_NAMES, QEMU_VIRT, VIRT_DTB_ROM, XLNX_ZCU102, dtbMachine, dumpDtb, dumpVirtDtb, machineArg, machineArgs, machineOf,
  machineTarget, parseCrashKernel, parseSize, qemuMemoryArg, qemuVersion, virtArgs, virtTarget,
} from "./machine.js";
export type { DtbMachine, MachineName, MachineOptions, MachineTargetOptions, QemuMachine } from "./machine.js";
