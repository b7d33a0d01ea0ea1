import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import xxhash from "xxhash-wasm";
import { isZstd, unzstd, zstdWindow } from "../../toolchain/image/zstd.js";
import { FUZZ_RUNS, mutated, onlyInputErrorAsync } from "./_fuzz.js";
import { makeImage, makeZstdFrame, makeZstdFrame as frame, withSize } from "./_make.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
/** `zstd -19` from a pipe plus the kernel's size_append, as made by load.golden.test.ts. */
const IMAGE_ZST = new Uint8Array(readFileSync(join(FIXTURES, "image-zst", "input.bin")));
const IMAGE = makeImage({ fileSize: 0x2000 });

const cat = (...p: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(p));

describe("unzstd decompresses zstd frames exactly", () => {
  it("decodes the zstd CLI's output with its checksum and the kernel's size trailer", async () => {
    expect(isZstd(IMAGE_ZST)).toBe(true);
    expect(await unzstd(IMAGE_ZST)).toEqual({ data: IMAGE, frames: 1, sizeTrailer: true });
    // Without the trailer there is no size to trust, so it streams; same bytes.
    expect((await unzstd(IMAGE_ZST.subarray(0, -4))).data).toEqual(IMAGE);
  });

  it("decodes hand-written raw and RLE blocks, several frames and a skippable frame", async () => {
    const a = frame([{ raw: new Uint8Array([1, 2, 3]) }, { rle: 7, size: 5 }]);
    const b = frame([{ raw: new Uint8Array([9]) }], { fcs: 1 });
    const skip = cat(new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 0xee, 0xee]));
    const r = await unzstd(cat(a, skip, b));
    expect(r).toEqual({ data: new Uint8Array([1, 2, 3, 7, 7, 7, 7, 7, 9]), frames: 2, sizeTrailer: false });
  });

  it("refuses a checksum mismatch", async () => {
    const bad = IMAGE_ZST.slice();
    bad[bad.length - 5]! ^= 1; // last checksum byte
    await expect(unzstd(bad)).rejects.toThrow(/content checksum .* does not match the stored/);
  });

  it("decodes a large frame of known size in one shot, and lets the checksum disprove a wrong size", async () => {
    // 17 MiB of RLE blocks in a 32 MiB window: the streaming window would stay
    // over ONE_SHOT_WINDOW. The checksum is XXH64's low 32 bits (RFC 8878 §3.1.1).
    const size = 136 * (128 << 10);
    const body = makeZstdFrame(Array.from({ length: 136 }, (_, i) => ({ rle: i, size: 128 << 10 })), { windowByte: 15 << 3 });
    body[4] = 0x04; // Content_Checksum_flag
    const expected = new Uint8Array(size);
    for (let i = 0; i < 136; i++) expected.fill(i, i * (128 << 10), (i + 1) * (128 << 10));
    const { h64Raw } = await xxhash();
    const sum = new Uint8Array(new Uint32Array([Number(h64Raw(expected) & 0xffffffffn)]).buffer);
    const withSum = new Uint8Array(Buffer.concat([body, sum]));
    const r = await unzstd(withSize(withSum, size));
    expect(r.sizeTrailer).toBe(true);
    expect(Buffer.compare(r.data, expected)).toBe(0);
    await expect(unzstd(withSize(withSum, size + 1))).rejects.toThrow(/output taken as 0x1100001 bytes, the size the file states/);
    await expect(unzstd(withSum, undefined, size - 1)).rejects.toThrow(/checksum/);
    expect((await unzstd(withSum)).data.length).toBe(size); // no size known: streams
  });

  it("refuses bytes after the frames unless they are the output size", async () => {
    const f = frame([{ raw: new Uint8Array([1, 2]) }]);
    expect((await unzstd(withSize(f, 2))).sizeTrailer).toBe(true);
    await expect(unzstd(withSize(f, 3))).rejects.toThrow(/0x4 bytes follow the last frame .*\(at offset 0xb\)/);
    await expect(unzstd(cat(f, new Uint8Array([1, 2])))).rejects.toThrow(/follow the last frame/);
  });

  it("refuses a content size or window past the limit before decoding", async () => {
    await expect(unzstd(frame([{ raw: new Uint8Array(1) }], { fcs: 0x20000001 }))).rejects.toThrow(
      /past the limit of 0x20000000 bytes \(512 MiB\)/,
    );
    await expect(unzstd(frame([{ raw: new Uint8Array(1) }], { windowByte: 0xf8 }))).rejects.toThrow(/past the limit/);
  });

  it("stops an RLE bomb at the limit", async () => {
    const bomb = frame(Array.from({ length: 64 }, () => ({ rle: 0, size: 128 << 10 })));
    await expect(unzstd(bomb, 1 << 20)).rejects.toThrow(/zstd data expands past the limit of 0x100000 bytes/);
    expect((await unzstd(bomb, 8 << 20)).data.length).toBe(8 << 20);
  });

  it("names malformed headers and blocks", async () => {
    const one = [{ raw: new Uint8Array([1]) }];
    await expect(unzstd(frame(one, { fhd: 0x08 }))).rejects.toThrow(/reserved bit set in frame header descriptor 0x8/);
    await expect(unzstd(cat(frame(one, { fhd: 0x01 }).subarray(0, 6), new Uint8Array([7]), frame(one).subarray(6)))).rejects.toThrow(
      /needs dictionary 7/,
    );
    const reserved = frame(one);
    reserved[6] = 0x07; // last block, type 3
    await expect(unzstd(reserved)).rejects.toThrow(/block type 3 is reserved/);
    await expect(unzstd(reserved)).rejects.toThrow(expect.objectContaining({ code: "BAD_ZSTD" }) as Error);
    await expect(unzstd(frame([{ raw: new Uint8Array(0x20001) }]))).rejects.toThrow(/block size 0x20001 exceeds the maximum 0x20000/);
    await expect(unzstd(IMAGE_ZST.subarray(0, 100))).rejects.toThrow(/Cannot read zstd frame block/);
    await expect(unzstd(new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]))).rejects.toThrow(/holds no zstd frame/);
  });

  it("throws only InputError on mutated zstd", async () => {
    const seeds = [IMAGE_ZST, frame([{ raw: new Uint8Array([1, 2, 3]) }, { rle: 7, size: 5 }]), frame([{ raw: new Uint8Array([9]) }], { fcs: 1 })];
    await fc.assert(
      fc.asyncProperty(mutated(seeds), async (b) => {
        await onlyInputErrorAsync(() => unzstd(b, 1 << 20));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});

describe("zstdWindow reads the window a streaming decoder allocates", () => {
  it("finds the 8 MiB window `zstd -19` declares for piped input (zstd -lv: Window Size 8388608 B)", () => {
    expect(zstdWindow(IMAGE_ZST.subarray(0, -4))).toBe(8 << 20);
  });

  it("takes the largest window of several frames, skips skippable frames and counts a single-segment frame's content size", () => {
    const a = frame([{ raw: new Uint8Array([1]) }], { windowByte: 0x58 }); // 2 MiB
    const b = frame([{ raw: new Uint8Array([2]) }], { windowByte: 0x60 }); // 4 MiB
    const skip = cat(new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 1, 0, 0, 0, 0xee]));
    expect(zstdWindow(cat(a, skip, b))).toBe(4 << 20);
    expect(zstdWindow(frame([{ raw: new Uint8Array(9) }], { fcs: 9 }))).toBe(9);
  });
});
