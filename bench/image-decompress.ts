import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { defaultCacheDir, loadAssets } from "../scripts/assets.js";
import { loadKernelImage } from "../toolchain/image/index.js";

/**
 * How fast loadKernelImage unwraps a real-size kernel, per codec and path.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/image-decompress.js [IMAGE]
 *
 * IMAGE defaults to the provisioned Debian Image (npm run provision). Inputs
 * are made the way the kernel's Makefiles make them (compressor fed from a
 * pipe, so no stored size; size_append where the kernel appends it), with the
 * host's zstd and xz when present. Prints milliseconds (second run of each,
 * after a warm-up) and MB/s of output.
 */

const path = process.argv[2] ?? (existsSync(join(defaultCacheDir(), "assets.json")) ? loadAssets().kernel.image.path : undefined);
if (path === undefined) {
  process.stderr.write("image-decompress: name an arm64 Image, or run `npm run provision` first\n");
  process.exit(2);
}
const image = new Uint8Array(readFileSync(path));
const sizeLE = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const cat = (...p: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(p));
const pipe = (tool: string, args: string[]): Uint8Array | undefined => {
  try {
    return new Uint8Array(execFileSync(tool, args, { input: image, maxBuffer: 1 << 30 }));
  } catch {
    return undefined; // tool missing
  }
};

const zst19 = pipe("zstd", ["-q", "-19", "-T0"]);
const zst22 = pipe("zstd", ["-q", "-22", "--ultra", "-T0"]);
const xz = pipe("xz", ["-T0", "--check=crc32", "--lzma2=dict=32MiB"]);
/** scripts/xz_wrap.sh for arm64 since Linux 6.12 (XZ Utils >= 5.4). */
const xzArm64 = pipe("xz", ["-T0", "--check=crc32", "--arm64", "--lzma2=dict=32MiB"]);
const inputs: [string, Uint8Array | undefined][] = [
  ["Image (no unwrapping)", image],
  ["gzip -9 (node:zlib)", new Uint8Array(gzipSync(image, { level: 9 }))],
  ["zstd -19 + size (8 MiB window: streams)", zst19 && cat(zst19, sizeLE(image.length))],
  ["zstd -19, no size (streams)", zst19],
  ["zstd -22 --ultra + size (one shot)", zst22 && cat(zst22, sizeLE(image.length))],
  ["zstd -22 --ultra, no size (streams)", zst22],
  ["xz (xzkern) + size", xz && cat(xz, sizeLE(image.length))],
  ["xz --arm64 (xzkern, 6.12+) + size", xzArm64 && cat(xzArm64, sizeLE(image.length))],
];

process.stdout.write(`input: ${path} (${(image.length / 1048576).toFixed(1)} MiB)\n`);
for (const [name, bytes] of inputs) {
  if (bytes === undefined) {
    process.stdout.write(`${name.padEnd(40)} skipped (compressor not installed)\n`);
    continue;
  }
  await loadKernelImage(bytes); // warm-up: JIT, WebAssembly instances
  const t0 = performance.now();
  const k = await loadKernelImage(bytes);
  const ms = performance.now() - t0;
  const mbs = k.bytes.length / 1e6 / (ms / 1000);
  process.stdout.write(
    `${name.padEnd(40)} ${(bytes.length / 1048576).toFixed(1).padStart(6)} MiB in  ${ms.toFixed(0).padStart(6)} ms  ${mbs.toFixed(0).padStart(5)} MB/s  chain ${k.formatChain.join(">")}\n`,
  );
}
process.stdout.write(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB\n`);
