import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { gunzip } from "../../toolchain/image/gzip.js";
import { FUZZ_RUNS, mutated, onlyInputErrorAsync } from "./_fuzz.js";
import { makeImage } from "./_make.js";

const IMAGE = makeImage();
const GZ = new Uint8Array(gzipSync(IMAGE));

function cat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

describe("gunzip decompresses gzip members exactly", () => {
  it("round-trips node:zlib's gzip", async () => {
    expect(await gunzip(GZ)).toEqual({ data: IMAGE, members: 1 });
  });

  it("reads optional header fields (FEXTRA, FNAME, FCOMMENT, FHCRC)", async () => {
    const raw = GZ.subarray(10);
    const head = new Uint8Array([0x1f, 0x8b, 8, 0x1e, 0, 0, 0, 0, 0, 3]);
    const extra = new Uint8Array([4, 0, 1, 2, 3, 4]);
    const names = new TextEncoder().encode("Image\0a comment\0");
    const hcrc = new Uint8Array([0xaa, 0xbb]);
    expect((await gunzip(cat(head, extra, names, hcrc, raw))).data).toEqual(IMAGE);
  });

  it("concatenates members, as gzip(1) does", async () => {
    const r = await gunzip(cat(GZ, new Uint8Array(gzipSync(new Uint8Array([1, 2, 3])))));
    expect(r.members).toBe(2);
    expect(r.data.subarray(IMAGE.length)).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("refuses a wrong CRC32 or ISIZE with the trailer's offset", async () => {
    const crc = GZ.slice();
    crc[GZ.length - 8]! ^= 1;
    await expect(gunzip(crc)).rejects.toThrow(new RegExp(`CRC32 .* does not match .*offset 0x${(GZ.length - 8).toString(16)}\\)`));
    const isize = GZ.slice();
    isize[GZ.length - 4]! ^= 1;
    await expect(gunzip(isize)).rejects.toThrow(/ISIZE/);
  });

  it("refuses truncated data, a non-deflate method and reserved flags", async () => {
    await expect(gunzip(GZ.subarray(0, GZ.length - 20))).rejects.toThrow(/truncated/);
    await expect(gunzip(GZ.subarray(0, 5))).rejects.toThrow(/Cannot read gzip header/);
    const cm = GZ.slice();
    cm[2] = 7;
    await expect(gunzip(cm)).rejects.toThrow(/compression method 7 is not deflate/);
    await expect(gunzip(cm)).rejects.toThrow(expect.objectContaining({ code: "BAD_GZIP" }) as Error);
    const flg = GZ.slice();
    flg[3] = 0x20;
    await expect(gunzip(flg)).rejects.toThrow(/reserved flag bits/);
  });

  it("names data after the stream, and recognises an appended DTB (Image.gz-dtb)", async () => {
    await expect(gunzip(cat(GZ, new Uint8Array([1, 2, 3, 4])))).rejects.toThrow(
      new RegExp(`0x4 bytes follow the end of the gzip stream \\(at offset 0x${GZ.length.toString(16)}\\)`),
    );
    await expect(gunzip(cat(GZ, new Uint8Array([0xd0, 0x0d, 0xfe, 0xed, 0, 0])))).rejects.toThrow(/Image\.gz-dtb/);
  });

  it("stops at the output limit, across members too", async () => {
    await expect(gunzip(GZ, 0x1000)).rejects.toThrow(/gzip data expands past the limit of 0x1000 bytes/);
    await expect(gunzip(cat(GZ, GZ), IMAGE.length + 1)).rejects.toThrow(/past the limit/);
    expect((await gunzip(cat(GZ, GZ), 2 * IMAGE.length)).data.length).toBe(2 * IMAGE.length);
  });

  it("throws only InputError on mutated gzip", async () => {
    const seeds = [GZ, new Uint8Array(gzipSync(new Uint8Array(300), { level: 1 })), cat(GZ, GZ)];
    await fc.assert(
      fc.asyncProperty(mutated(seeds), async (b) => {
        await onlyInputErrorAsync(() => gunzip(b, 1 << 20));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
