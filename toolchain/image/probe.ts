import { InputError, hex } from "../bytes/index.js";
import { isGzip } from "./gzip.js";
import { hasImageMagic } from "./header.js";
import { isUImage } from "./uimage.js";
import { isElf } from "./vmlinux.js";
import { isXz } from "./xz.js";
import { isZboot } from "./zboot.js";
import { isZstd } from "./zstd.js";

/** The formats the loader unwraps. "pe" is a PE/COFF file that is neither an Image nor zboot (a UKI, perhaps). */
export type Format = "Image" | "zboot" | "pe" | "vmlinux" | "uImage" | "gzip" | "zstd" | "xz";

/** Formats we recognise but do not load, by the bytes that give them away. */
const REFUSED: readonly { what: string; at: number; magic: readonly number[]; hint: string }[] = [
  { what: "bzip2 data", at: 0, magic: [0x42, 0x5a, 0x68], hint: "Decompress it with `bunzip2` and pass the Image" },
  { what: "lz4 data (legacy frame, as the kernel's Image.lz4)", at: 0, magic: [0x02, 0x21, 0x4c, 0x18], hint: "Decompress it with `lz4 -d` and pass the Image" },
  { what: "lz4 data", at: 0, magic: [0x04, 0x22, 0x4d, 0x18], hint: "Decompress it with `lz4 -d` and pass the Image" },
  { what: "lzo data (lzop)", at: 0, magic: [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a], hint: "Decompress it with `lzop -d` and pass the Image" },
  { what: "lzma data (as the kernel's Image.lzma)", at: 0, magic: [0x5d, 0x00, 0x00], hint: "Decompress it with `unlzma` (or `xz -d --format=lzma`) and pass the Image" },
  { what: "a device tree or U-Boot FIT image", at: 0, magic: [0xd0, 0x0d, 0xfe, 0xed], hint: "For a FIT image, extract the kernel with `dumpimage -T flat_dt -p 0 -o Image FILE`" },
  { what: "a cpio archive (an initramfs?)", at: 0, magic: [0x30, 0x37, 0x30, 0x37, 0x30], hint: "Pass the kernel, and the initramfs as the initrd" },
  { what: "a 32-bit ARM zImage", at: 0x24, magic: [0x18, 0x28, 0x6f, 0x01], hint: "Use an arm64 kernel (Image, Image.gz, vmlinuz.efi)" },
  { what: "an x86 bzImage", at: 0x202, magic: [0x48, 0x64, 0x72, 0x53], hint: "Use an arm64 kernel (Image, Image.gz, vmlinuz.efi)" },
];

/**
 * Names the format of `bytes` from its magic numbers. Checks the Image magic
 * first: an Image with the EFI stub also starts with "MZ".
 * @throws InputError `UNSUPPORTED_FORMAT` for a format we recognise but do not
 *   load (bzip2, lz4, lzo, lzma, FIT, cpio, other architectures' kernels), and
 *   `UNKNOWN_FORMAT` (with the first bytes) for anything else.
 */
export function identify(bytes: Uint8Array): Format {
  if (hasImageMagic(bytes)) return "Image";
  if (isZboot(bytes)) return "zboot";
  if (bytes[0] === 0x4d && bytes[1] === 0x5a) return "pe";
  if (isElf(bytes)) return "vmlinux";
  if (isUImage(bytes)) return "uImage";
  if (isGzip(bytes)) return "gzip";
  if (isZstd(bytes)) return "zstd";
  if (isXz(bytes)) return "xz";
  for (const r of REFUSED) {
    if (r.magic.every((b, i) => bytes[r.at + i] === b)) {
      throw new InputError("UNSUPPORTED_FORMAT", `Cannot load the kernel: the file is ${r.what}, which is not supported`, r.at, r.hint);
    }
  }
  const head = Buffer.from(bytes.subarray(0, 8)).toString("hex").replace(/(..)(?!$)/g, "$1 ");
  throw new InputError(
    "UNKNOWN_FORMAT",
    `Cannot load the kernel: ${hex(bytes.length)} bytes starting ${head || "(empty)"} match none of arm64 Image ("ARM\\x64" at 0x38), EFI zboot ("MZ", "zimg"), ELF vmlinux, uImage, gzip, zstd or xz`,
    0,
    bytes.length < 64 ? "The file is too short to be a kernel" : "Check that this is the kernel file",
  );
}
