/** Running code on QEMU: bare-metal runs, emulated kexec, the machines they run on (virt, xlnx-zcu102), and real crashes of an emulated production machine. */
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
export { DEFAULT_PROBE_TIMEOUTS, DUMP_FS_TYPES, crashProbeInitramfs, findHostTools, productionCommandLine, runCrashProbe } from "./crash.js";
export type { CrashProbeSetup, DumpDisk, HostTools, ProbeOutcome, ProbeResult, ProbeTimeouts, ProductionInputs } from "./crash.js";
export { MILESTONES, classifyCrash, loadFailure } from "./crash-console.js";
export type { CrashEnd, CrashOutcome, CrashVerdict, Milestone } from "./crash-console.js";
