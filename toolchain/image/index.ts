/**
 * arm64 kernel images: unwrap any shipped kernel format to the raw Image and
 * read its header. `loadKernelImage` is the entry point; the per-format
 * parsers are exported for tools and tests.
 */
export { loadKernelImage, MAX_NESTING } from "./load.js";
export type { KernelImage, Layer, LoadOptions } from "./load.js";
export { MAX_DECOMPRESSED } from "./_common.js";
export {
  ARM64_IMAGE_HEADER_SIZE,
  ARM64_IMAGE_MAGIC,
  IMAGE_HEAD_SIZE,
  IMAGE_HEADER,
  LEGACY_IMAGE_SIZE,
  LEGACY_TEXT_OFFSET,
  checkImage,
  hasImageMagic,
  parseImageHeader,
} from "./header.js";
export type { CheckedImage, ImageFlags, ImageHeader, PageSizeFlag } from "./header.js";
export { identify } from "./probe.js";
export type { Format } from "./probe.js";
export { gunzip, isGzip } from "./gzip.js";
export { isZstd, unzstd, zstdWindow } from "./zstd.js";
export { isXz, unxz, xzDictionarySize } from "./xz.js";
export { ZBOOT_HEADER, parseZboot } from "./zboot.js";
export type { Zboot, ZbootCodec } from "./zboot.js";
export { UIMAGE_HEADER, parseUImage } from "./uimage.js";
export type { UImage, UImageCodec } from "./uimage.js";
export { EM_AARCH64, flattenVmlinux } from "./vmlinux.js";
export type { LoadSegment, Vmlinux } from "./vmlinux.js";
export { readPeHeader } from "./pe.js";
export type { PeHeader, PeSection } from "./pe.js";
