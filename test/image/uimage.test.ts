import fc from "fast-check";
import { crc32, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseUImage } from "../../toolchain/image/uimage.js";
import { FUZZ_RUNS, mutated, onlyInputError } from "./_fuzz.js";
import { makeImage, makeUImage } from "./_make.js";

const IMAGE = makeImage({ fileSize: 0x1000 });

/** Rewrites both CRCs, so a mutation reaches the checks behind them. */
function fixCrcs(b: Uint8Array): Uint8Array {
  if (b.length < 64) return b;
  const out = b.slice();
  const v = new DataView(out.buffer);
  const size = Math.min(v.getUint32(12), out.length - 64);
  v.setUint32(24, crc32(out.subarray(64, 64 + size)));
  v.setUint32(4, 0);
  v.setUint32(4, crc32(out.subarray(0, 64)));
  return out;
}

describe("parseUImage reads and checks a legacy U-Boot image", () => {
  it("returns the data and header fields of an uncompressed kernel", () => {
    const u = parseUImage(makeUImage(IMAGE, { name: "Linux-6.1" }));
    expect(u).toMatchObject({ name: "Linux-6.1", codec: "none", type: 2, size: IMAGE.length, load: 0x80080000, ep: 0x80080000, trailing: 0 });
    expect(u.data).toEqual(IMAGE);
  });

  it("accepts KERNEL_NOLOAD and the gzip and zstd compressions", () => {
    expect(parseUImage(makeUImage(IMAGE, { type: 14 })).type).toBe(14);
    expect(parseUImage(makeUImage(new Uint8Array(gzipSync(IMAGE)), { comp: 1 })).codec).toBe("gzip");
    expect(parseUImage(makeUImage(IMAGE, { comp: 6 })).codec).toBe("zstd");
  });

  it("checks the header CRC (with hcrc zeroed) and the data CRC", () => {
    const h = makeUImage(IMAGE);
    h[40]! ^= 1; // a name byte
    expect(() => parseUImage(h)).toThrow(/header CRC32 is 0x[0-9a-f]+ but the header says 0x[0-9a-f]+ \(at offset 0x4\)/);
    const d = makeUImage(IMAGE);
    d[64 + 100]! ^= 1;
    expect(() => parseUImage(d)).toThrow(/data CRC32 .* \(at offset 0x18\)/);
  });

  it("refuses other operating systems, architectures, types and compressions by name", () => {
    expect(() => parseUImage(makeUImage(IMAGE, { os: 17 }))).toThrow(/its OS is 17, not Linux \(5\)/);
    expect(() => parseUImage(makeUImage(IMAGE, { os: 17 }))).toThrow(expect.objectContaining({ code: "BAD_UIMAGE" }) as Error);
    expect(() => parseUImage(makeUImage(IMAGE, { arch: 2 }))).toThrow(/architecture is 2 \(32-bit ARM\), not arm64 \(22\)/);
    expect(() => parseUImage(makeUImage(IMAGE, { type: 3 }))).toThrow(/type is 3 \(ramdisk\), not a kernel/);
    expect(() => parseUImage(makeUImage(IMAGE, { comp: 3 }))).toThrow(/compressed with lzma, which is not supported \(none, gzip and zstd are\)/);
    expect(() => parseUImage(makeUImage(IMAGE, { comp: 5 }))).toThrow(/compressed with lz4/);
    expect(() => parseUImage(makeUImage(IMAGE, { comp: 99 }))).toThrow(/unknown compression 99/);
  });

  it("refuses truncated data and reports trailing bytes", () => {
    const u = makeUImage(IMAGE);
    expect(() => parseUImage(u.subarray(0, u.length - 1))).toThrow(/says 0x1000 bytes of data but only 0xfff follow/);
    expect(() => parseUImage(u.subarray(0, 63))).toThrow(/needs 64 bytes/);
    expect(parseUImage(new Uint8Array([...u, 0, 0, 0])).trailing).toBe(3);
  });

  it("throws only InputError on mutated uImages, with and without repaired CRCs", () => {
    const seeds = [makeUImage(IMAGE), makeUImage(new Uint8Array(gzipSync(IMAGE)), { comp: 1 }), makeUImage(new Uint8Array(8), { type: 14 })];
    fc.assert(
      fc.property(mutated(seeds), fc.boolean(), (b, fix) => {
        onlyInputError(() => parseUImage(fix ? fixCrcs(b) : b));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
