import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isXz, unxz } from "../../toolchain/image/xz.js";
import { FUZZ_RUNS, mutated, onlyInputErrorAsync } from "./_fuzz.js";
import { makeImage, withSize } from "./_make.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name, "input.bin")));
/** `xz --check=crc32 --lzma2=dict=32MiB` (scripts/xz_wrap.sh before arm64 had a BCJ filter) plus size_append. */
const IMAGE_XZ = read("image-xz");
/** The same with `--arm64`, as the rewritten xz_wrap.sh (2024) does for arm64 with XZ Utils >= 5.4. */
const IMAGE_XZ_BCJ = read("image-xz-arm64-bcj");
const IMAGE = makeImage({ fileSize: 0x2000 });
const STREAM = IMAGE_XZ.subarray(0, -4);

describe("unxz decompresses xz streams", () => {
  it("decodes the kernel's xz with and without its size trailer", async () => {
    expect(isXz(IMAGE_XZ)).toBe(true);
    expect(await unxz(IMAGE_XZ)).toEqual({ data: IMAGE, filters: ["LZMA2"], sizeTrailer: true });
    expect(await unxz(STREAM)).toEqual({ data: IMAGE, filters: ["LZMA2"], sizeTrailer: false });
  });

  it("names the ARM64 BCJ filter it cannot decode, with the filter's offset", async () => {
    await expect(unxz(IMAGE_XZ_BCJ)).rejects.toThrow(/ARM64 BCJ filter \(id 0xa\), which the xz decoder .* does not support \(at offset 0xe\)/);
  });

  it("names the SHA-256 check it cannot verify", async () => {
    const sha = STREAM.slice();
    sha[7] = 0x0a; // stream flags: check type SHA-256
    await expect(unxz(sha)).rejects.toThrow(/SHA-256 check/);
  });

  it("refuses a truncated stream, corrupt data and a wrong size trailer", async () => {
    await expect(unxz(STREAM.subarray(0, 100))).rejects.toThrow(/does not end with a stream footer/);
    const corrupt = STREAM.slice();
    corrupt[60]! ^= 0x55;
    await expect(unxz(corrupt)).rejects.toThrow(/Cannot decompress xz data: the compressed data is corrupt/);
    await expect(unxz(corrupt)).rejects.toThrow(expect.objectContaining({ code: "BAD_XZ" }) as Error);
    await expect(unxz(withSize(STREAM, 5))).rejects.toThrow(/the 4 bytes after the stream say 0x5 but it decompressed to 0x2000 bytes/);
  });

  it("stops at the limit and leaves the decoder usable", async () => {
    await expect(unxz(IMAGE_XZ, 0x1000)).rejects.toThrow(/xz data expands past the limit of 0x1000 bytes/);
    // The package serialises its decoders; an early stop that did not release it would hang here.
    expect((await unxz(IMAGE_XZ)).data).toEqual(IMAGE);
  });

  it("throws only InputError on mutated xz", async () => {
    await fc.assert(
      fc.asyncProperty(mutated([IMAGE_XZ, STREAM]), async (b) => {
        await onlyInputErrorAsync(() => unxz(b, 1 << 20));
      }),
      { numRuns: FUZZ_RUNS / 5 },
    );
    expect((await unxz(IMAGE_XZ)).data).toEqual(IMAGE);
  });
});
