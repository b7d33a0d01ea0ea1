import type { KernelImage } from "../image/index.js";

/** What the estimate needs from the capture kernel. */
export interface CaptureKernel {
  /** Image header `image_size`: bytes the kernel occupies from its start, BSS included (not the file size). */
  readonly imageSize: bigint;
  /** Image header `text_offset`: bytes from the 2 MiB aligned base to the image. */
  readonly textOffset: bigint;
  /** The page size the Image header names, or 0 when it leaves it unspecified. */
  readonly pageSize: 0 | 4096 | 16384 | 65536;
  /** `uname -r` as the image's `linux_banner` ("Linux version <release> (...") spells it, or null when not found. */
  readonly release: string | null;
}

const BANNER = new TextEncoder().encode("Linux version ");
/** include/uapi/linux/utsname.h `__NEW_UTS_LEN`: a release has at most 64 characters. */
const UTS_LEN = 64;

/** The facts of an unwrapped kernel (see `loadKernelImage`). */
export function captureKernel(k: KernelImage): CaptureKernel {
  return { imageSize: k.imageSize, textOffset: k.textOffset, pageSize: k.flags.pageSize, release: bannerRelease(k.bytes) };
}

/**
 * The release in the first `linux_banner` of an Image (init/version.c:
 * "Linux version " UTS_RELEASE " (" ...), or null when there is none.
 */
export function bannerRelease(image: Uint8Array): string | null {
  const at = Buffer.from(image.buffer, image.byteOffset, image.byteLength).indexOf(BANNER);
  if (at < 0) return null;
  let release = "";
  for (let i = at + BANNER.length; i < image.length && release.length <= UTS_LEN; i++) {
    const c = image[i] ?? 0;
    if (c === 0x20) return release === "" ? null : release;
    if (c < 0x21 || c > 0x7e) return null;
    release += String.fromCharCode(c);
  }
  return null;
}
