import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { expectGolden } from "../_golden.js";
import { InputError } from "../../toolchain/bytes/index.js";
import { imageInfo, renderImageInfo } from "../../toolchain/cli/image.js";
import { loadKernelImage } from "../../toolchain/image/index.js";
import { loadAssets } from "../../scripts/assets.js";
import { makeImage, makeUImage, makeUki, makeVmlinux, makeZboot, withSize } from "./_make.js";

/**
 * Golden files: one directory per case under fixtures/, holding the input
 * kernel file (`input.bin`) and the expected `purgatory image info` text
 * (`expected.txt`), or the expected error. A missing or different golden
 * fails. To rebuild the inputs (with the host's gzip, zstd, xz, lz4, lzma and
 * bzip2, compressing the way the kernel's Makefiles do; xz >= 5.4 for
 * `--arm64`, as scripts/xz_wrap.sh uses since Linux 6.12) and the expected
 * dumps, a person runs (the debian-cut-* cases need `npm run provision`):
 *
 *   UPDATE_GOLDENS=1 npx vitest run --config test/vitest.config.ts test/image/load.golden.test.ts
 */

const FIXTURES = join(import.meta.dirname, "fixtures");

/** `cat Image | tool args` — how scripts/Makefile.lib feeds the compressors (stdin, so no stored size). */
function pipe(tool: string, args: string[], input: Uint8Array): Uint8Array {
  return new Uint8Array(execFileSync(tool, args, { input, maxBuffer: 1 << 26 }));
}
const gzip = (b: Uint8Array): Uint8Array => pipe("gzip", ["-n", "-9"], b);
const zstd = (b: Uint8Array): Uint8Array => withSize(pipe("zstd", ["-q", "-19"], b), b.length);
const zstd22 = (b: Uint8Array): Uint8Array => pipe("zstd", ["-q", "-22", "--ultra"], b);
const xzkern = (b: Uint8Array, bcj: string[] = []): Uint8Array =>
  withSize(pipe("xz", ["--check=crc32", ...bcj, "--lzma2=dict=32MiB"], b), b.length);

const image = (): Uint8Array => makeImage({ fileSize: 0x2000 });
/** The first 256 KiB of the provisioned Debian arm64 Image: real code for the ARM64 BCJ filter, but cut short. */
const debianCut = (): Uint8Array => new Uint8Array(readFileSync(loadAssets().kernel.image.path).subarray(0, 0x40000));
/** Makefile.zboot pads the Image to image_size before compressing it (vmlinux.bin). */
const padded = (): Uint8Array => {
  const out = new Uint8Array(0x10000);
  out.set(image());
  return out;
};

interface Case {
  name: string;
  build: () => Uint8Array;
  pageSize?: number;
}

const CASES: Case[] = [
  { name: "image", build: image, pageSize: 4096 },
  { name: "image-efi-stub-16k", build: () => makeImage({ fileSize: 0x2000, efiStub: true, flags: 2n << 1n }), pageSize: 16384 },
  { name: "image-legacy-size0", build: () => makeImage({ fileSize: 0x2000, imageSize: 0n, flags: 0n, textOffset: 0x80000n }) },
  { name: "image-gz", build: () => gzip(image()) },
  { name: "image-zst", build: () => zstd(image()) },
  { name: "image-xz", build: () => xzkern(image()) },
  { name: "zboot-gzip", build: () => makeZboot(gzip(padded()), "gzip") },
  { name: "zboot-zstd", build: () => makeZboot(zstd22(padded()), "zstd", { appendedSize: 0x10000 }) },
  { name: "zboot-xzkern", build: () => makeZboot(pipe("xz", ["--check=crc32", "--lzma2=dict=32MiB"], padded()), "xzkern", { appendedSize: 0x10000 }) },
  { name: "image-xz-arm64-bcj", build: () => xzkern(image(), ["--arm64"]) },
  {
    name: "zboot-xzkern-arm64-bcj",
    build: () => makeZboot(pipe("xz", ["--check=crc32", "--arm64", "--lzma2=dict=32MiB"], padded()), "xzkern", { appendedSize: 0x10000 }),
  },
  { name: "uimage-none", build: () => makeUImage(image()) },
  { name: "uimage-gzip", build: () => makeUImage(gzip(image()), { comp: 1 }) },
  { name: "uimage-zstd", build: () => makeUImage(zstd22(image()), { comp: 6 }) },
  { name: "uimage-none-holding-gz", build: () => makeUImage(gzip(image())) },
  { name: "vmlinux", build: () => makeVmlinux(image(), { gapStart: 0x1000, gapEnd: 0x1800 }) },
  { name: "uki-zboot", build: () => makeUki(makeZboot(gzip(padded()), "gzip"), { cmdline: "console=ttyAMA0", initrd: new Uint8Array(100) }) },
  // Refused, each with its own message.
  // A real Image's start through the ARM64 BCJ filter (xz.test.ts checks it against `xz -d`); refused as truncated.
  { name: "debian-cut-xz-arm64", build: () => xzkern(debianCut(), ["--arm64"]) },
  {
    name: "debian-cut-zboot-xz-arm64",
    build: () => makeZboot(pipe("xz", ["--check=crc32", "--arm64", "--lzma2=dict=32MiB"], debianCut()), "xzkern", { appendedSize: 0x40000 }),
  },
  { name: "image-xz-x86-bcj", build: () => xzkern(image(), ["--x86"]) },
  { name: "image-lz4", build: () => withSize(pipe("lz4", ["-l", "-9", "-q"], image()), 0x2000) },
  { name: "image-lzma", build: () => withSize(pipe("lzma", ["-9"], image()), 0x2000) },
  { name: "image-bz2", build: () => pipe("bzip2", ["-9"], image()) },
  { name: "zboot-lz4", build: () => makeZboot(pipe("lz4", ["-l", "-9", "-q"], padded()), "lz4", { appendedSize: 0x10000 }) },
  { name: "image-big-endian", build: () => makeImage({ fileSize: 0x2000, flags: 1n | (1n << 1n) }) },
  { name: "image-64k-on-4k-target", build: () => makeImage({ fileSize: 0x2000, flags: 3n << 1n }), pageSize: 4096 },
  { name: "uimage-arm32", build: () => makeUImage(image(), { arch: 2 }) },
];

async function dump(input: Uint8Array, pageSize: number | undefined): Promise<string> {
  try {
    const k = await loadKernelImage(input, pageSize !== undefined ? { pageSize } : {});
    return renderImageInfo(imageInfo(input.length, k)) + "\n";
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return `error ${e.code} at ${typeof e.where === "number" ? "0x" + e.where.toString(16) : String(e.where)}\n${e.message}\n`;
  }
}

describe("loadKernelImage golden dumps", () => {
  for (const c of CASES) {
    it(`matches fixtures/${c.name}`, async () => {
      const dir = join(FIXTURES, c.name);
      // The input is a golden too: a change to the builder shows as a changed input.bin.
      expectGolden(join(dir, "input.bin"), c.build());
      const input = new Uint8Array(readFileSync(join(dir, "input.bin")));
      expectGolden(join(dir, "expected.txt"), await dump(input, c.pageSize));
    });
  }
});
