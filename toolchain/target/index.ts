/**
 * What the target machine is: collected from a live system, a copied tree or
 * a capture, written and read as versioned JSON, plus the arm64 address model
 * derived from vmcoreinfo. Everything downstream takes a plain `Target`.
 */
export type { CpuNote, Lockdown, PageSize, PsciConduit, Range, Target, TargetConsole, UartFamily, VmcoreInfo } from "./types.js";
export { LOCKDOWN_LEVELS, UART_FAMILIES } from "./types.js";
export { boardFacts, cpuEnableMethods, regBase } from "./board.js";
export type { BoardFacts } from "./board.js";
export { parseIomem, memoryMapFromIomem } from "./iomem.js";
export { alignDown, alignUp, intersect, normalize, subtract, totalSize } from "./ranges.js";
export type { IomemEntry, IomemMemoryMap } from "./iomem.js";
export { parseTarget, serializeTarget, validateTarget } from "./json.js";
export { parseVmcoreinfo, vaModel, linearVa, kimagePa, describeVaModel } from "./vmcoreinfo.js";
export type { Vmcoreinfo, VmcoreinfoEntry, VaModel } from "./vmcoreinfo.js";
export { fsSource } from "./source.js";
export type { CaptureSource } from "./source.js";
export { parseCapture, captureSource, CAPTURE_MAGIC, CAPTURE_VERSION } from "./capture.js";
export { readKcoreVmcoreinfo } from "./kcore.js";
export { collectTarget, auxvPageSize } from "./collect.js";
export type { CollectOptions, Collected } from "./collect.js";
export { buildElfcorehdr, ELF_CORE_HEADER_ALIGN } from "./elfcorehdr.js";
export type { Elfcorehdr, PhdrRole, PhdrSummary } from "./elfcorehdr.js";
export { lintVmcoreinfoCoverage } from "./lint.js";
export type { CoverageReport, LintFinding, SymbolCoverage } from "./lint.js";
export { ARM64_PRSTATUS_SIZE, crashNotes, noteRecord } from "./notes.js";
export { reserveCrashKernel } from "./reserve.js";
export type { CrashKernelRequest } from "./reserve.js";
