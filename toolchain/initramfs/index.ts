/**
 * Initramfs archives: the deterministic newc cpio writer.
 */
export { buildCpio, busyboxInitramfs, gzipArchive, GZIP_LEVEL } from "./cpio.js";
export type { BusyboxInitramfsOptions, CpioEntry, CpioOptions } from "./cpio.js";
