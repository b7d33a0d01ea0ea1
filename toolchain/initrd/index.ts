/**
 * Initrds: checks that an initramfs (cpio, compressed or not, concatenated)
 * is whole before it is bundled, walking it as the kernel's unpacker will.
 */
export { bytesSource, checkInitrd, withFileSource } from "./check.js";
export type { ByteSource, InitrdCheck, InitrdPart, InitrdPartKind } from "./check.js";
export { CpioWalker } from "./cpio.js";
export type { CpioState } from "./cpio.js";
