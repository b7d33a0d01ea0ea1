/**
 * How much crash kernel memory a capture needs, and how to ask for it:
 * the estimate (named terms, calibratable constants), the initramfs
 * measurement it reads, and the kernel's own `crashkernel=` parser, against
 * which every syntax written here is checked. Pure arithmetic; the CLI reads
 * the files.
 */
export { DEFAULT_CRASH_KERNEL_LOW_SIZE, memparse, parseCrashkernel } from "./parse.js";
export type { CrashkernelRequest, Memparsed } from "./parse.js";
export { formatSize, mergeRanges, rangeSyntax, simpleSyntax, splitSyntax } from "./syntax.js";
export type { RangeEntry } from "./syntax.js";
export { TMPFS_PAGE_SIZES, measureInitramfs, readInitramfsFiles } from "./initramfs.js";
export type { InitramfsMeasure, InitramfsPart, TmpfsPageSize } from "./initramfs.js";
export { bannerRelease, captureKernel } from "./kernel.js";
export type { CaptureKernel } from "./kernel.js";
export { CALIBRATED, CALIBRATED_NAMES, CALIBRATION_FORMAT, constantsFor, parseCalibration, serializeCalibration } from "./calibration.js";
export type { CalibratedConstant, CalibratedName, Calibration, Constants, MeasuredOn } from "./calibration.js";
export { captureOptions, estimateCrashkernel, mib } from "./estimate.js";
export type { ConstantUse, Estimate, EstimateInput, FleetAdvice, FleetEntry, ReservationCheck, Sizing, SyntaxAdvice, Term, TermKey } from "./estimate.js";
