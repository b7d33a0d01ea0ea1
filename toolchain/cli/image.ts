import { createHash } from "node:crypto";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { hex, inFileAsync } from "../bytes/index.js";
import { loadKernelImage } from "../image/index.js";
import { readInput, writeAtomically } from "./_files.js";
import type { KernelImage, Layer } from "../image/index.js";
import { UsageError, report, run } from "./_run.js";

/** `purgatory image info FILE`: what a kernel file is and what its Image header says. */

interface InfoArgs {
  file: string;
  json?: boolean;
  pageSize?: number;
}

/** The report `image info` prints: plain data, rendered as text or JSON. */
export interface ImageInfo {
  readonly formatChain: readonly string[];
  /** Bytes in the file. */
  readonly fileSize: bigint;
  /** Bytes in the raw Image after unwrapping. */
  readonly decompressedSize: bigint;
  readonly sha256: string;
  readonly textOffset: bigint;
  readonly imageSize: bigint;
  readonly flags: KernelImage["flags"];
  /** Each layer, its size in bytes a bigint (printed "0x…" in JSON, as every size is). */
  readonly layers: readonly (Omit<Layer, "size"> & { readonly size: bigint })[];
  readonly warnings: readonly string[];
}

/** Builds the report from a loaded kernel. */
export function imageInfo(fileSize: number, k: KernelImage): ImageInfo {
  return {
    formatChain: k.formatChain,
    fileSize: BigInt(fileSize),
    decompressedSize: BigInt(k.bytes.length),
    sha256: createHash("sha256").update(k.bytes).digest("hex"),
    textOffset: k.textOffset,
    imageSize: k.imageSize,
    flags: k.flags,
    layers: k.layers.map((l) => ({ ...l, size: BigInt(l.size) })),
    warnings: k.warnings,
  };
}

/** The text form of the report. */
export function renderImageInfo(i: ImageInfo): string {
  const f = i.flags;
  const lines = [
    `format:       ${i.formatChain.join(" > ")}`,
    `file size:    ${hex(i.fileSize)} bytes`,
    `Image size:   ${hex(i.decompressedSize)} bytes`,
    `Image sha256: ${i.sha256}`,
    `text_offset:  ${hex(i.textOffset)}`,
    `image_size:   ${hex(i.imageSize)}`,
    `flags:        ${f.bigEndian ? "big" : "little"}-endian, ` +
      `${f.pageSize === 0 ? "page size unspecified" : `${f.pageSize / 1024} KiB pages`}, ` +
      `${f.physPlacementAnywhere ? "placement anywhere" : "placement near the start of DRAM"}`,
    "layers:",
  ];
  for (const l of i.layers) {
    const fields = Object.entries(l.fields).map(([k, v]) => `${k}=${typeof v === "bigint" ? hex(v) : String(v)}`);
    lines.push(`  ${l.format.padEnd(8)} ${hex(l.size).padStart(10)} bytes  ${fields.join(" ")}`);
  }
  for (const w of i.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

const PAGE_SIZES = [4096, 16384, 65536];

const info: CommandModule<object, InfoArgs> = {
  command: "info <file>",
  describe: "Show a kernel file's format chain, Image header and decompressed size",
  builder: (y: Argv) =>
    y
      .positional("file", { type: "string", demandOption: true, describe: "Kernel: Image, Image.gz/.zst/.xz, vmlinuz.efi (zboot), UKI, vmlinux or uImage (- for stdin)" })
      .option("page-size", { type: "number", describe: "The target's page size in bytes (4096, 16384, 65536): refuse a kernel built for another" })
      .option("json", { type: "boolean", describe: "Print the report as JSON" })
      .example("$0 image info /boot/vmlinuz-6.1.0-18-arm64", "gzip > Image, with the header fields")
      .example("$0 image info --page-size 4096 --json vmlinuz.efi", "machine-readable, refusing a 16K or 64K kernel") as unknown as Argv<InfoArgs>,
  handler: (argv: ArgumentsCamelCase<InfoArgs>) =>
    run(argv, async () => {
      if (argv.pageSize !== undefined && !PAGE_SIZES.includes(argv.pageSize)) {
        throw new UsageError(`--page-size ${argv.pageSize} is not one of ${PAGE_SIZES.join(", ")}`);
      }
      const bytes = readInput(argv.file);
      const k = await inFileAsync(argv.file, () => loadKernelImage(bytes, argv.pageSize !== undefined ? { pageSize: argv.pageSize } : {}));
      report(argv, imageInfo(bytes.length, k), renderImageInfo);
    }),
};


interface UnwrapArgs {
  file: string;
  output: string;
  pageSize?: number;
  json?: boolean;
}

/** What `image unwrap` reports. */
interface Unwrapped {
  readonly input: string;
  readonly output: string;
  readonly formatChain: readonly string[];
  readonly size: bigint;
  readonly sha256: string;
  readonly warnings: readonly string[];
}

const unwrap: CommandModule<object, UnwrapArgs> = {
  command: "unwrap <file>",
  describe: "Write the raw arm64 Image out of a compressed, zboot, UKI, vmlinux or uImage kernel",
  builder: (y: Argv) =>
    y
      .usage(
        "$0 image unwrap KERNEL -o Image\n\n" +
          "Undoes every wrapper `image info` lists (gzip, zstd, xz, EFI zboot, a UKI's .linux section,\n" +
          "an ELF vmlinux, a uImage) and writes the Image inside, checked as `bundle` checks it (header,\n" +
          "image_size, page size with --page-size), atomically. kexec_file_load on distributions whose\n" +
          "kexec cannot unpack zboot or UKI kernels takes this Image (kexec -s -l Image).",
      )
      .positional("file", { type: "string", demandOption: true, describe: "The kernel in any format `image info` reads" })
      .option("output", { alias: "o", type: "string", requiresArg: true, demandOption: true, describe: "Where to write the raw Image" })
      .option("page-size", { type: "number", describe: "The target's page size in bytes (4096, 16384, 65536): refuse a kernel built for another" })
      .option("json", { type: "boolean", describe: "Print the report as JSON" })
      .example("$0 image unwrap /boot/vmlinuz-6.6.0-arm64 -o Image", "an EFI zboot kernel (Fedora, Debian 13) to its Image")
      .example("$0 image unwrap linux.efi -o Image --json", "the Image inside a UKI") as unknown as Argv<UnwrapArgs>,
  handler: (argv: ArgumentsCamelCase<UnwrapArgs>) =>
    run(argv, async () => {
      if (argv.pageSize !== undefined && !PAGE_SIZES.includes(argv.pageSize)) {
        throw new UsageError(`--page-size ${argv.pageSize} is not one of ${PAGE_SIZES.join(", ")}`);
      }
      const k = await inFileAsync(argv.file, () => loadKernelImage(readInput(argv.file), argv.pageSize !== undefined ? { pageSize: argv.pageSize } : {}));
      writeAtomically(argv.output, k.bytes);
      const data: Unwrapped = {
        input: argv.file,
        output: argv.output,
        formatChain: k.formatChain,
        size: BigInt(k.bytes.length),
        sha256: createHash("sha256").update(k.bytes).digest("hex"),
        warnings: k.warnings,
      };
      report(argv, data, (d) =>
        [`wrote ${d.output}: the raw Image of ${d.input} (${d.formatChain.join(" > ")}), ${hex(d.size)} bytes, sha256 ${d.sha256}`, ...d.warnings.map((w) => `warning: ${w}`)].join("\n"));
    }),
};

const image: CommandModule<object, object> = {
  command: "image <command>",
  describe: "Inspect arm64 kernel files (Image, Image.gz/.zst/.xz, zboot, UKI, vmlinux, uImage), and unwrap them to the raw Image",
  builder: (y: Argv) => y.command(info).command(unwrap).demandCommand(1, "Name an image command: info or unwrap"),
  handler: () => undefined,
};

export default image;
