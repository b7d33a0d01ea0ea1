import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { gunzip } from "../../toolchain/image/gzip.js";
import { FUZZ_RUNS, mutated, onlyInputError } from "./_fuzz.js";
import { makeImage } from "./_make.js";

const IMAGE = makeImage();
const GZ = new Uint8Array(gzipSync(IMAGE));

function cat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

describe("gunzip decompresses gzip members exactly", () => {
  it("round-trips node:zlib's gzip", () => {
    expect(gunzip(GZ)).toEqual({ data: IMAGE, members: 1 });
  });

  it("reads optional header fields (FEXTRA, FNAME, FCOMMENT, FHCRC)", () => {
    const raw = GZ.subarray(10);
    const head = new Uint8Array([0x1f, 0x8b, 8, 0x1e, 0, 0, 0, 0, 0, 3]);
    const extra = new Uint8Array([4, 0, 1, 2, 3, 4]);
    const names = new TextEncoder().encode("Image\0a comment\0");
    const hcrc = new Uint8Array([0xaa, 0xbb]);
    expect(gunzip(cat(head, extra, names, hcrc, raw)).data).toEqual(IMAGE);
  });

  it("concatenates members, as gzip(1) does", () => {
    const r = gunzip(cat(GZ, new Uint8Array(gzipSync(new Uint8Array([1, 2, 3])))));
    expect(r.members).toBe(2);
    expect(r.data.subarray(IMAGE.length)).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("refuses a wrong CRC32 or ISIZE with the trailer's offset", () => {
    const crc = GZ.slice();
    crc[GZ.length - 8]! ^= 1;
    expect(() => gunzip(crc)).toThrow(new RegExp(`CRC32 .* does not match .*offset 0x${(GZ.length - 8).toString(16)}\\)`));
    const isize = GZ.slice();
    isize[GZ.length - 4]! ^= 1;
    expect(() => gunzip(isize)).toThrow(/ISIZE/);
  });

  it("refuses truncated data, a non-deflate method and reserved flags", () => {
    expect(() => gunzip(GZ.subarray(0, GZ.length - 20))).toThrow(/truncated/);
    expect(() => gunzip(GZ.subarray(0, 5))).toThrow(/Cannot read gzip header/);
    const cm = GZ.slice();
    cm[2] = 7;
    expect(() => gunzip(cm)).toThrow(/compression method 7 is not deflate/);
    expect(() => gunzip(cm)).toThrow(expect.objectContaining({ code: "BAD_GZIP" }) as Error);
    const flg = GZ.slice();
    flg[3] = 0x20;
    expect(() => gunzip(flg)).toThrow(/reserved flag bits/);
  });

  it("names data after the stream, and recognises an appended DTB (Image.gz-dtb)", () => {
    expect(() => gunzip(cat(GZ, new Uint8Array([1, 2, 3, 4])))).toThrow(
      new RegExp(`0x4 bytes follow the end of the gzip stream \\(at offset 0x${GZ.length.toString(16)}\\)`),
    );
    expect(() => gunzip(cat(GZ, new Uint8Array([0xd0, 0x0d, 0xfe, 0xed, 0, 0])))).toThrow(/Image\.gz-dtb/);
  });

  it("stops at the output limit, across members too", () => {
    expect(() => gunzip(GZ, 0x1000)).toThrow(/gzip data expands past the limit of 0x1000 bytes/);
    expect(() => gunzip(cat(GZ, GZ), IMAGE.length + 1)).toThrow(/past the limit/);
    expect(gunzip(cat(GZ, GZ), 2 * IMAGE.length).data.length).toBe(2 * IMAGE.length);
  });

  it("throws only InputError on mutated gzip", () => {
    const seeds = [GZ, new Uint8Array(gzipSync(new Uint8Array(300), { level: 1 })), cat(GZ, GZ)];
    fc.assert(
      fc.property(mutated(seeds), (b) => {
        onlyInputError(() => gunzip(b, 1 << 20));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
