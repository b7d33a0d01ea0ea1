import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isXz, unxz, xzDictionarySize } from "../../toolchain/image/xz.js";
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

describe("xzDictionarySize reads the LZMA2 dictionary a dynamically allocating decoder holds", () => {
  it("reads the 32 MiB of `--lzma2=dict=32MiB` (xz -lvv: --lzma2=dict=32MiB)", () => {
    expect(xzDictionarySize(IMAGE_XZ)).toBe(32 << 20);
  });

  it("decodes every property byte as (2 | b & 1) << (b / 2 + 11), 40 meaning 4 GiB - 1", () => {
    // The LZMA2 property byte sits at offset 16: stream header (12), block header size, block flags, filter id 0x21, properties size 1.
    expect(IMAGE_XZ[16]).toBe(26);
    const withProp = (b: number): Uint8Array => {
      const x = IMAGE_XZ.slice();
      x[16] = b;
      return x;
    };
    expect(xzDictionarySize(withProp(0))).toBe(4096);
    expect(xzDictionarySize(withProp(1))).toBe(6144);
    expect(xzDictionarySize(withProp(22))).toBe(8 << 20);
    expect(xzDictionarySize(withProp(39))).toBe(3 * 2 ** 30);
    expect(xzDictionarySize(withProp(40))).toBe(2 ** 32 - 1);
  });
});
