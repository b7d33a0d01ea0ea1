import { ByteReader, InputError, hex } from "../bytes/index.js";
import { MAX_DECOMPRESSED } from "./_common.js";
import { gunzip } from "./gzip.js";
import { checkImage } from "./header.js";
import type { ImageFlags, ImageHeader } from "./header.js";
import { machineName, readPeHeader } from "./pe.js";
import { identify } from "./probe.js";
import type { Format } from "./probe.js";
import { parseUImage } from "./uimage.js";
import { flattenVmlinux } from "./vmlinux.js";
import { unxz } from "./xz.js";
import { parseZboot } from "./zboot.js";
import { unzstd } from "./zstd.js";

/** Containers may nest (a UKI holding zboot holding gzip holding the Image); deeper than this is refused. */
export const MAX_NESTING = 6;

export interface LoadOptions {
  /** The target's page size in bytes; a kernel whose header names another page size is refused. */
  readonly pageSize?: number;
  /** Cap, in bytes, on each decompression and on a vmlinux's flat image (default 512 MiB). */
  readonly maxBytes?: number;
}

/** One container the loader unwrapped, outermost first, with the fields it read. */
export interface Layer {
  readonly format: string;
  /** Size of this layer's input, in bytes. */
  readonly size: number;
  readonly fields: Readonly<Record<string, string | number | bigint | boolean>>;
}

/** A kernel ready to place: the raw Image and what its header says. */
export interface KernelImage {
  /** The raw arm64 Image (a view into the input when nothing had to be unwrapped). */
  readonly bytes: Uint8Array;
  /** Bytes from the 2 MiB aligned base to where the Image goes. */
  readonly textOffset: bigint;
  /** Bytes of memory the kernel occupies from its start, BSS included. */
  readonly imageSize: bigint;
  readonly flags: ImageFlags;
  /** Formats from the outside in, ending in "Image", e.g. ["zboot", "gzip", "Image"]. */
  readonly formatChain: readonly string[];
  readonly warnings: readonly string[];
  readonly layers: readonly Layer[];
  readonly header: ImageHeader;
}

/**
 * Unwraps any arm64 kernel file to its raw Image: a raw Image, Image.gz,
 * Image.zst, Image.xz, EFI zboot (gzip, zstd, xz), a UKI's .linux section, an
 * ELF vmlinux, or a legacy uImage (none, gzip, zstd), nested up to
 * MAX_NESTING deep. Then checks the Image header (see `checkImage`).
 *
 * Error offsets (`where`) are file offsets while the data is a slice of the
 * file, and `"<chain>+0x…"` (an offset into decompressed data) after that.
 * @throws InputError with a code naming what failed; never anything else for bad input.
 */
export async function loadKernelImage(bytes: Uint8Array, options: LoadOptions = {}): Promise<KernelImage> {
  const limit = options.maxBytes ?? MAX_DECOMPRESSED;
  const layers: Layer[] = [];
  const chain: string[] = [];
  const warnings: string[] = [];
  let cur = bytes;
  let base: number | undefined = 0; // file offset of `cur`, while it is a slice of the input
  let expect: Format | undefined; // what the outer container says comes next
  let expectSize: { size: number; from: string } | undefined;
  let vmlinuxMemSize: bigint | undefined;

  for (;;) {
    if (chain.length > MAX_NESTING) {
      throw new InputError(
        "TOO_DEEP",
        `Cannot load the kernel: containers nest more than ${MAX_NESTING} deep (${chain.join(" > ")})`,
        chain.join(">"),
        "No real kernel file nests this deep; the file is crafted",
      );
    }
    const here = base;
    const path = chain.join(">");
    let format: Format;
    try {
      format = identify(cur);
      if (expect !== undefined && format !== expect) {
        throw new InputError(
          "FORMAT_MISMATCH",
          `Cannot load the kernel: the ${chain[chain.length - 1]} header says its data is ${expect}, but the data looks like ${format}`,
          0,
          "The file is corrupt",
        );
      }
    } catch (e) {
      throw relocate(e, here, path);
    }
    expect = undefined;
    try {
      switch (format) {
        case "Image": {
          const img = checkImage(cur, options.pageSize);
          if (vmlinuxMemSize !== undefined && img.imageSize < vmlinuxMemSize) {
            throw new InputError(
              "SIZE_MISMATCH",
              `Cannot load the kernel: the vmlinux PT_LOADs span ${hex(vmlinuxMemSize)} bytes but the Image header's image_size is ${hex(img.imageSize)}`,
              16,
              "The vmlinux is corrupt",
            );
          }
          chain.push("Image");
          layers.push({
            format: "Image",
            size: cur.length,
            fields: {
              code0: hex(img.header.code0),
              code1: hex(img.header.code1),
              textOffset: img.header.textOffset,
              imageSize: img.header.imageSize,
              flags: img.header.rawFlags,
              res5: hex(img.header.res5),
              efiStub: img.header.efiStub,
            },
          });
          warnings.push(...img.warnings);
          return {
            bytes: cur,
            textOffset: img.textOffset,
            imageSize: img.imageSize,
            flags: img.header.flags,
            formatChain: chain,
            warnings,
            layers,
            header: img.header,
          };
        }
        case "zboot": {
          const z = parseZboot(cur);
          layers.push({
            format: "zboot",
            size: cur.length,
            fields: {
              compressType: z.compressType,
              payloadOffset: hex(z.payloadOffset),
              payloadSize: hex(z.payloadSize),
              peOffset: hex(z.peOffset),
              ...(z.appendedSize !== undefined ? { appendedSize: hex(z.appendedSize) } : {}),
            },
          });
          cur = z.payload;
          base = base === undefined ? undefined : base + z.payloadOffset;
          expect = z.codec;
          if (z.appendedSize !== undefined) expectSize = { size: z.appendedSize, from: "zboot" };
          break;
        }
        case "pe": {
          const peOffset = new ByteReader(cur, "MS-DOS header", 0x3c).u32LE("PE header offset (e_lfanew)");
          const pe = readPeHeader(cur, peOffset);
          const linux = pe.sections.find((s) => s.name === ".linux");
          if (pe.machine !== 0xaa64 || linux === undefined) {
            throw new InputError(
              "UNSUPPORTED_FORMAT",
              pe.machine !== 0xaa64
                ? `Cannot load the kernel: it is a PE/COFF file for ${machineName(pe.machine)} (machine ${hex(pe.machine)}), not arm64`
                : 'Cannot load the kernel: this arm64 PE/COFF file is not an Image with the EFI stub (no "ARM\\x64" at 0x38), not EFI zboot (no "zimg" at 4) and not a UKI (no .linux section)',
              pe.machine !== 0xaa64 ? peOffset + 4 : 0x38,
              "Pass the kernel's Image, vmlinuz or UKI file",
            );
          }
          const others = pe.sections.filter((s) => [".initrd", ".cmdline", ".dtb"].includes(s.name));
          if (others.length > 0) {
            warnings.push(
              `the UKI also carries ${others.map((s) => `${s.name} (${s.size} bytes)`).join(", ")}; only .linux is used, pass the others explicitly`,
            );
          }
          layers.push({
            format: "UKI",
            size: cur.length,
            fields: { linuxOffset: hex(linux.offset), linuxSize: hex(linux.size), sections: pe.sections.map((s) => s.name).join(" ") },
          });
          cur = cur.subarray(linux.offset, linux.offset + linux.size);
          base = base === undefined ? undefined : base + linux.offset;
          break;
        }
        case "vmlinux": {
          const v = flattenVmlinux(cur, limit);
          layers.push({
            format: "vmlinux",
            size: cur.length,
            fields: {
              entry: v.entry,
              loadSegments: v.segments.length,
              flatSize: hex(v.image.length),
              memSize: v.memSize,
            },
          });
          vmlinuxMemSize = v.memSize;
          cur = v.image;
          base = undefined;
          break;
        }
        case "uImage": {
          const u = parseUImage(cur);
          layers.push({
            format: "uImage",
            size: cur.length,
            fields: { name: u.name, type: u.type, comp: u.codec, load: hex(u.load), ep: hex(u.ep), time: u.time, dataSize: hex(u.size) },
          });
          if (u.trailing > 0) warnings.push(`${u.trailing} bytes after the uImage data were ignored`);
          cur = u.data;
          base = base === undefined ? undefined : base + 64;
          if (u.codec !== "none") expect = u.codec;
          break;
        }
        case "gzip":
        case "zstd":
        case "xz": {
          const out =
            format === "gzip" ? await gunzip(cur, limit) : format === "zstd" ? await unzstd(cur, limit, expectSize?.size) : await unxz(cur, limit);
          if (expectSize !== undefined && out.data.length !== expectSize.size) {
            throw new InputError(
              "SIZE_MISMATCH",
              `Cannot load the kernel: ${format} data decompressed to ${hex(out.data.length)} bytes but the ${expectSize.from} header says ${hex(expectSize.size)}`,
              0,
              "The file is corrupt",
            );
          }
          expectSize = undefined;
          const fields: Record<string, string | number | boolean> = { decompressedSize: hex(out.data.length) };
          if ("members" in out) fields["members"] = out.members;
          if ("frames" in out) fields["frames"] = out.frames;
          if ("filters" in out) fields["filters"] = out.filters.join("+");
          if ("sizeTrailer" in out) fields["sizeTrailer"] = out.sizeTrailer;
          layers.push({ format, size: cur.length, fields });
          cur = out.data;
          base = undefined;
          break;
        }
      }
    } catch (e) {
      throw relocate(e, here, path);
    }
    chain.push(format === "pe" ? "UKI" : format);
  }
}

/**
 * Re-anchors an error from a parser that saw only `cur`: to a file offset when
 * `cur` is a slice of the file at `base`, else to "<chain>+0x…".
 */
function relocate(e: unknown, base: number | undefined, path: string): unknown {
  if (!(e instanceof InputError) || typeof e.where !== "number") return e;
  if (base === 0) return e;
  const suffix = ` (at offset 0x${e.where.toString(16)})` + (e.hint !== undefined && e.hint !== "" ? `. ${e.hint}` : "");
  const message = e.message.endsWith(suffix) ? e.message.slice(0, -suffix.length) : e.message;
  return new InputError(e.code, message, base !== undefined ? base + e.where : `${path}+${hex(e.where)}`, e.hint);
}
