import { InputError, crc32, decodeLayout, defineLayout, hex } from "../bytes/index.js";

/**
 * U-Boot legacy image (`uImage`, made by `mkimage -A arm64 -O linux -T kernel`):
 * a 64-byte big-endian header, then the data. Layout and numbers from
 * U-Boot include/image.h (`image_header_t`, IH_OS_*, IH_ARCH_*, IH_TYPE_*, IH_COMP_*).
 */

export const IH_MAGIC = 0x27051956;
export const IH_OS_LINUX = 5;
export const IH_ARCH_ARM = 2;
export const IH_ARCH_ARM64 = 22;
export const IH_TYPE_KERNEL = 2;
export const IH_TYPE_KERNEL_NOLOAD = 14;
export const IH_COMP_NONE = 0;
export const IH_COMP_GZIP = 1;
export const IH_COMP_ZSTD = 6;
const IH_NMLEN = 32;

export const UIMAGE_HEADER = defineLayout("uImage header", 64, [
  { name: "magic", offset: 0, kind: "u32BE", note: "IH_MAGIC 0x27051956" },
  { name: "hcrc", offset: 4, kind: "u32BE", note: "CRC32 of the header with this field zeroed" },
  { name: "time", offset: 8, kind: "u32BE", note: "creation time, seconds since 1970" },
  { name: "size", offset: 12, kind: "u32BE", note: "data size in bytes" },
  { name: "load", offset: 16, kind: "u32BE", note: "load address" },
  { name: "ep", offset: 20, kind: "u32BE", note: "entry point" },
  { name: "dcrc", offset: 24, kind: "u32BE", note: "CRC32 of the data" },
  { name: "os", offset: 28, kind: "u8", note: "IH_OS_*, Linux = 5" },
  { name: "arch", offset: 29, kind: "u8", note: "IH_ARCH_*, arm64 = 22" },
  { name: "type", offset: 30, kind: "u8", note: "IH_TYPE_*, kernel = 2, kernel_noload = 14" },
  { name: "comp", offset: 31, kind: "u8", note: "IH_COMP_*, none = 0, gzip = 1, zstd = 6" },
  { name: "name", offset: 32, kind: "bytes", size: IH_NMLEN, note: "image name, NUL-padded" },
] as const);

const COMP_NAMES = ["none", "gzip", "bzip2", "lzma", "lzo", "lz4", "zstd"];
const TYPE_NAMES: Record<number, string> = {
  1: "standalone program",
  3: "ramdisk",
  4: "multi-file image",
  5: "firmware",
  6: "script",
  7: "filesystem",
  8: "flat device tree",
};

export type UImageCodec = "none" | "gzip" | "zstd";

export interface UImage {
  readonly time: number;
  readonly size: number;
  readonly load: number;
  readonly ep: number;
  readonly type: number;
  readonly codec: UImageCodec;
  readonly name: string;
  /** The data after the header (a view into the input). */
  readonly data: Uint8Array;
  /** Bytes after `size` bytes of data, ignored. */
  readonly trailing: number;
}

/** True when `bytes` starts with the uImage magic. */
export function isUImage(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x27 && bytes[1] === 0x05 && bytes[2] === 0x19 && bytes[3] === 0x56;
}

/**
 * Reads and checks a legacy uImage: magic, header CRC, data CRC, and that it
 * is a Linux arm64 kernel compressed with none, gzip or zstd. Decompression is
 * the caller's.
 * @throws InputError `BAD_UIMAGE` or `TRUNCATED`.
 */
export function parseUImage(bytes: Uint8Array): UImage {
  const h = decodeLayout(UIMAGE_HEADER, bytes);
  if (h.magic !== IH_MAGIC) {
    throw new InputError("BAD_UIMAGE", `Cannot parse uImage header: magic is ${hex(h.magic)}, expected ${hex(IH_MAGIC)}`, 0, "The file is not a uImage");
  }
  const header = bytes.slice(0, UIMAGE_HEADER.size);
  header.fill(0, 4, 8);
  const hcrc = crc32(header);
  if (hcrc !== h.hcrc) {
    throw new InputError(
      "BAD_UIMAGE",
      `Cannot load the uImage: header CRC32 is ${hex(hcrc)} but the header says ${hex(h.hcrc)}`,
      4,
      "The header is corrupt",
    );
  }
  if (h.os !== IH_OS_LINUX) {
    throw new InputError("BAD_UIMAGE", `Cannot load the uImage: its OS is ${h.os}, not Linux (${IH_OS_LINUX})`, 28, "Use a uImage made with `mkimage -O linux`");
  }
  if (h.arch !== IH_ARCH_ARM64) {
    throw new InputError(
      "BAD_UIMAGE",
      `Cannot load the uImage: its architecture is ${h.arch}${h.arch === IH_ARCH_ARM ? " (32-bit ARM)" : ""}, not arm64 (${IH_ARCH_ARM64})`,
      29,
      "Use a uImage made with `mkimage -A arm64`",
    );
  }
  if (h.type !== IH_TYPE_KERNEL && h.type !== IH_TYPE_KERNEL_NOLOAD) {
    throw new InputError(
      "BAD_UIMAGE",
      `Cannot load the uImage: its type is ${h.type} (${TYPE_NAMES[h.type] ?? "unknown"}), not a kernel (${IH_TYPE_KERNEL} or ${IH_TYPE_KERNEL_NOLOAD})`,
      30,
      "Pass the kernel's uImage (`mkimage -T kernel`)",
    );
  }
  const codec = h.comp === IH_COMP_NONE ? "none" : h.comp === IH_COMP_GZIP ? "gzip" : h.comp === IH_COMP_ZSTD ? "zstd" : undefined;
  if (codec === undefined) {
    const what = COMP_NAMES[h.comp];
    throw new InputError(
      "BAD_UIMAGE",
      what !== undefined
        ? `Cannot load the uImage: its data is compressed with ${what}, which is not supported (none, gzip and zstd are)`
        : `Cannot load the uImage: unknown compression ${h.comp}`,
      31,
      "Make the uImage with `mkimage -C none`, `-C gzip` or `-C zstd`",
    );
  }
  const end = UIMAGE_HEADER.size + h.size;
  if (end > bytes.length) {
    throw new InputError(
      "TRUNCATED",
      `Cannot load the uImage: the header says ${hex(h.size)} bytes of data but only ${hex(bytes.length - UIMAGE_HEADER.size)} follow`,
      12,
      "The file is truncated",
    );
  }
  const data = bytes.subarray(UIMAGE_HEADER.size, end);
  const dcrc = crc32(data);
  if (dcrc !== h.dcrc) {
    throw new InputError(
      "BAD_UIMAGE",
      `Cannot load the uImage: data CRC32 is ${hex(dcrc)} but the header says ${hex(h.dcrc)}`,
      24,
      "The data is corrupt",
    );
  }
  const nul = h.name.indexOf(0);
  const name = Buffer.from(h.name.subarray(0, nul < 0 ? IH_NMLEN : nul)).toString("latin1");
  return {
    time: h.time,
    size: h.size,
    load: h.load,
    ep: h.ep,
    type: h.type,
    codec,
    name,
    data,
    trailing: bytes.length - end,
  };
}
