import { InputError, decodeLayout, defineLayout, hex } from "../bytes/index.js";
import { machineName, readPeHeader } from "./pe.js";

/**
 * EFI zboot (`vmlinuz.efi`): a PE/COFF EFI application that carries the
 * compressed Image. The header is drivers/firmware/efi/libstub/zboot-header.S;
 * which compressor wrote the payload is drivers/firmware/efi/libstub/Makefile.zboot.
 */

export const ZBOOT_HEADER = defineLayout("zboot header", 0x40, [
  { name: "mzMagic", offset: 0, kind: "u32LE", note: "MZ_MAGIC, \"MZ\\0\\0\"" },
  { name: "imageType", offset: 4, kind: "bytes", size: 4, note: "\"zimg\"" },
  { name: "payloadOffset", offset: 8, kind: "u32LE", note: "from the start of the file" },
  { name: "payloadSize", offset: 12, kind: "u32LE", note: "excludes the appended 4-byte size for non-gzip payloads" },
  { name: "reserved", offset: 16, kind: "bytes", size: 8, note: "0, 0" },
  { name: "compressType", offset: 24, kind: "bytes", size: 32, note: "COMP_TYPE, NUL-terminated ASCII" },
  { name: "linuxPeMagic", offset: 0x38, kind: "u32LE", note: "LINUX_PE_MAGIC 0x818223cd" },
  { name: "peOffset", offset: 0x3c, kind: "u32LE", note: "PE header offset" },
] as const);

/**
 * The codecs a zboot payload names. Makefile.zboot wrote "gzip", "lz4",
 * "lzma", "lzo", "xzkern" and "zstd22" (v6.1 on); later kernels only "gzip"
 * and "zstd".
 */
export type ZbootCodec = "gzip" | "zstd" | "xz";
const CODECS: Record<string, ZbootCodec> = { gzip: "gzip", zstd: "zstd", zstd22: "zstd", xzkern: "xz" };
const UNSUPPORTED: Record<string, string> = { lz4: "lz4", lzma: "lzma", lzo: "lzo", bzip2: "bzip2" };

export interface Zboot {
  readonly compressType: string;
  readonly codec: ZbootCodec;
  readonly payloadOffset: number;
  readonly payloadSize: number;
  /** The uncompressed size appended after non-gzip payloads (Makefile.zboot `_with_size`), if present. */
  readonly appendedSize: number | undefined;
  readonly peOffset: number;
  readonly machine: number;
  /** The compressed payload (a view into the input). */
  readonly payload: Uint8Array;
}

/** True when `bytes` starts with "MZ" and carries "zimg" at offset 4. */
export function isZboot(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 8 && bytes[0] === 0x4d && bytes[1] === 0x5a &&
    bytes[4] === 0x7a && bytes[5] === 0x69 && bytes[6] === 0x6d && bytes[7] === 0x67
  );
}

/**
 * Reads the zboot header and returns the compressed payload; decompression is
 * the caller's. Offsets are in bytes from the start of `bytes`.
 * @throws InputError `BAD_ZBOOT` (not zboot, a non-arm64 PE, an unknown or
 *   unsupported codec, a payload outside the file) or `TRUNCATED`.
 */
export function parseZboot(bytes: Uint8Array): Zboot {
  const h = decodeLayout(ZBOOT_HEADER, bytes);
  if (!isZboot(bytes)) {
    throw new InputError("BAD_ZBOOT", 'Cannot parse zboot header: no "MZ" at 0 and "zimg" at 4', 0, "The file is not an EFI zboot image");
  }
  const pe = readPeHeader(bytes, h.peOffset);
  if (pe.machine !== 0xaa64) {
    throw new InputError(
      "BAD_ZBOOT",
      `Cannot load the zboot image: its PE machine is ${hex(pe.machine)} (${machineName(pe.machine)}), not arm64 (0xaa64)`,
      h.peOffset + 4,
      "Use the arm64 build of the kernel",
    );
  }
  const nul = h.compressType.indexOf(0);
  const typeBytes = h.compressType.subarray(0, nul < 0 ? h.compressType.length : nul);
  if (typeBytes.some((c) => c < 0x20 || c > 0x7e)) {
    throw new InputError("BAD_ZBOOT", "Cannot parse zboot header: compress_type is not ASCII text", 24, "The file is corrupt");
  }
  const compressType = String.fromCharCode(...typeBytes);
  const codec = CODECS[compressType];
  if (codec === undefined) {
    const known = UNSUPPORTED[compressType];
    throw new InputError(
      known !== undefined ? "UNSUPPORTED_FORMAT" : "BAD_ZBOOT",
      known !== undefined
        ? `Cannot load the zboot image: its payload is compressed with ${known}, which is not supported (gzip, zstd and xz are)`
        : `Cannot load the zboot image: unknown compress_type "${compressType}"`,
      24,
      "Rebuild the kernel with CONFIG_KERNEL_GZIP or CONFIG_KERNEL_ZSTD, or boot its Image instead",
    );
  }
  const end = h.payloadOffset + h.payloadSize;
  if (h.payloadSize === 0 || h.payloadOffset < ZBOOT_HEADER.size || end > bytes.length) {
    throw new InputError(
      "BAD_ZBOOT",
      `Cannot load the zboot image: payload ${hex(h.payloadOffset)}+${hex(h.payloadSize)} does not lie inside the ${hex(bytes.length)}-byte file after the header`,
      8,
      "The file is truncated or corrupt",
    );
  }
  // Makefile.zboot appends the uncompressed size (le32) to every payload but gzip's,
  // outside payload_size.
  const appendedSize =
    codec !== "gzip" && end + 4 <= bytes.length
      ? new DataView(bytes.buffer, bytes.byteOffset + end, 4).getUint32(0, true)
      : undefined;
  return {
    compressType,
    codec,
    payloadOffset: h.payloadOffset,
    payloadSize: h.payloadSize,
    appendedSize,
    peOffset: h.peOffset,
    machine: pe.machine,
    payload: bytes.subarray(h.payloadOffset, end),
  };
}
