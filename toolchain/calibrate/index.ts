/**
 * Calibration of the crash reservation: the smallest `crashkernel=` with
 * which a real crash of an emulated machine is captured (each probe run by
 * toolchain/qemu), and the estimate's constant it implies, written as the
 * calibration file the estimate reads.
 */
export { searchMinimum } from "./bisect.js";
export type { Probed, SearchOptions, SearchResult } from "./bisect.js";
export { CALIBRATION_GRANULE, calibrateCrashkernel, impliedKernelRuntime } from "./calibrate.js";
export type { CalibrateInputs, CalibrationResult, CalibrationSetup, ImpliedConstant } from "./calibrate.js";
