import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseZboot } from "../../toolchain/image/zboot.js";
import { FUZZ_RUNS, mutated, onlyInputError } from "./_fuzz.js";
import { makeImage, makeZboot } from "./_make.js";

const GZ = new Uint8Array(gzipSync(makeImage()));

describe("parseZboot reads the zboot-header.S header", () => {
  it("returns the payload, codec and offsets of a gzip zboot", () => {
    const z = parseZboot(makeZboot(GZ, "gzip"));
    expect(z).toMatchObject({ compressType: "gzip", codec: "gzip", payloadOffset: 0x200, payloadSize: GZ.length, peOffset: 0x40, machine: 0xaa64 });
    expect(z.appendedSize).toBeUndefined();
    expect(z.payload).toEqual(GZ);
  });

  it("maps every Makefile.zboot name to a codec and reads the appended size", () => {
    for (const [type, codec] of [["zstd", "zstd"], ["zstd22", "zstd"], ["xzkern", "xz"]] as const) {
      const z = parseZboot(makeZboot(new Uint8Array(16), type, { appendedSize: 0x1234 }));
      expect([z.codec, z.appendedSize]).toEqual([codec, 0x1234]);
    }
  });

  it("names the codecs it does not decode", () => {
    for (const c of ["lz4", "lzma", "lzo", "bzip2"]) {
      expect(() => parseZboot(makeZboot(new Uint8Array(16), c))).toThrow(
        new RegExp(`payload is compressed with ${c}, which is not supported \\(gzip, zstd and xz are\\) \\(at offset 0x18\\)`),
      );
    }
    expect(() => parseZboot(makeZboot(new Uint8Array(16), "brotli"))).toThrow(/unknown compress_type "brotli"/);
    const binary = makeZboot(new Uint8Array(16), "gzip");
    binary[25] = 0x01;
    expect(() => parseZboot(binary)).toThrow(/compress_type is not ASCII text/);
    expect(() => parseZboot(binary)).toThrow(expect.objectContaining({ code: "BAD_ZBOOT" }) as Error);
  });

  it("refuses another architecture's zboot", () => {
    expect(() => parseZboot(makeZboot(GZ, "gzip", { machine: 0x5064 }))).toThrow(/PE machine is 0x5064 \(RISC-V 64\), not arm64 \(0xaa64\) \(at offset 0x44\)/);
  });

  it("refuses a payload outside the file and a broken PE header", () => {
    const z = makeZboot(GZ, "gzip");
    expect(() => parseZboot(z.subarray(0, z.length - 1))).toThrow(/payload 0x200\+0x[0-9a-f]+ does not lie inside/);
    const pe = z.slice();
    pe[0x3c] = 0x80;
    expect(() => parseZboot(pe)).toThrow(/signature at 0x80 is 0x0, expected "PE\\0\\0"/);
    expect(() => parseZboot(z.subarray(0, 0x30))).toThrow(/Cannot read zboot header: needs 64 bytes/);
  });

  it("throws only InputError on mutated zboot images", () => {
    const seeds = [makeZboot(GZ, "gzip"), makeZboot(new Uint8Array(40), "zstd", { appendedSize: 40 }), makeZboot(GZ, "xzkern")];
    fc.assert(
      fc.property(mutated(seeds), (b) => {
        onlyInputError(() => parseZboot(b));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
