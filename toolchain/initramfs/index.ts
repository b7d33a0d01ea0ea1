/**
 * Initramfs archives: the deterministic newc cpio writer, and the capture
 * initramfs (busybox, makedumpfile and its shared libraries, kernel modules,
 * a generated /init and configuration) built from a root file system.
 */
export { buildCpio, busyboxInitramfs, gzipArchive, GZIP_LEVEL } from "./cpio.js";
export type { BusyboxInitramfsOptions, CpioEntry, CpioOptions } from "./cpio.js";
export { fsRoot, resolveIn } from "./root.js";
export type { Link, Resolved, RootFs } from "./root.js";
export { resolveClosure } from "./closure.js";
export type { Closure, ClosureFile, Library, Program } from "./closure.js";
export { moduleName, parseModinfo, parseModulesDep, parseSoftdep, resolveModules } from "./modules.js";
export type { KernelModule, ModuleCompression, ModuleSet } from "./modules.js";
export { busyboxApplets } from "./busybox.js";
export { ACTIONS, CONFIG_PATH, DEFAULT_CONFIG, checkConfig, parseConfig, rootDumpTarget, serializeConfig, shellQuote } from "./config.js";
export type { Action, CaptureConfig, GeneratedConfig, RootDumpTarget } from "./config.js";
export { INIT_APPLETS, captureInit, captureInitPath } from "./init.js";
export { buildCaptureInitramfs } from "./build.js";
export type { ArchiveFile, CaptureInitramfs, CaptureInitramfsOptions, CaptureReport } from "./build.js";
