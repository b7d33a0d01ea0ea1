import fc from "fast-check";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { arm64Decode, crc64, isXz, unxz, xzDictionarySize } from "../../toolchain/image/xz.js";
import { FUZZ_RUNS, mutated, onlyInputErrorAsync } from "./_fuzz.js";
import { makeImage, withSize } from "./_make.js";
import { rejected as failure } from "../_thrown.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name, "input.bin")));
/** `xz --check=crc32 --lzma2=dict=32MiB` (scripts/xz_wrap.sh before arm64 had a BCJ filter) plus size_append. */
const IMAGE_XZ = read("image-xz");
/** The same with `--arm64`, as scripts/xz_wrap.sh does for arm64 since Linux 6.12 with XZ Utils >= 5.4. */
const IMAGE_XZ_BCJ = read("image-xz-arm64-bcj");
/** The first 256 KiB of the Debian arm64 Image (real BL and ADRP instructions) through `xz --arm64`, and in xz zboot. */
const REAL_XZ = read("debian-cut-xz-arm64");
const REAL_ZBOOT = read("debian-cut-zboot-xz-arm64");
const IMAGE = makeImage({ fileSize: 0x2000 });
const STREAM = IMAGE_XZ.subarray(0, -4);

/** The host's XZ Utils, the independent decoder and encoder. */
const xz = (args: string[], input: Uint8Array): Uint8Array => new Uint8Array(execFileSync("xz", args, { input, maxBuffer: 1 << 26 }));
const REAL = xz(["-dc", "--single-stream"], REAL_XZ);


describe("unxz decompresses xz streams", () => {
  it("decodes the kernel's xz with and without its size trailer", async () => {
    expect(isXz(IMAGE_XZ)).toBe(true);
    expect(await unxz(IMAGE_XZ)).toEqual({ data: IMAGE, filters: ["LZMA2"], check: "CRC32", sizeTrailer: true });
    expect(await unxz(STREAM)).toEqual({ data: IMAGE, filters: ["LZMA2"], check: "CRC32", sizeTrailer: false });
  });

  it("undoes the ARM64 BCJ filter on a real Image exactly as `xz -d` does, plain and inside zboot", async () => {
    expect(REAL.length).toBe(0x40000);
    const r = await unxz(REAL_XZ);
    expect(r.filters).toEqual(["ARM64 BCJ", "LZMA2"]);
    expect(Buffer.compare(r.data, REAL)).toBe(0);
    // The zboot payload: from payload_offset, payload_size bytes (zboot-header.S), then the appended size.
    const view = new DataView(REAL_ZBOOT.buffer, REAL_ZBOOT.byteOffset);
    const payload = REAL_ZBOOT.subarray(view.getUint32(8, true), view.getUint32(8, true) + view.getUint32(12, true));
    expect(Buffer.compare((await unxz(payload)).data, xz(["-dc"], payload))).toBe(0);
    expect(Buffer.compare((await unxz(payload)).data, REAL)).toBe(0);
    // Real code: thousands of BL instructions went through the filter.
    const words = new Uint32Array(REAL.buffer, REAL.byteOffset, REAL.length / 4);
    expect(words.filter((w) => w >>> 26 === 0x25).length).toBeGreaterThan(1000);
  });

  it("verifies every check type and honours the filter's start offset, multiple blocks, streams and stream padding", async () => {
    const cases: [string[], string][] = [
      [["--check=none", "--arm64", "--lzma2=preset=1"], "None"],
      [["--check=crc64", "--arm64", "--lzma2=preset=1"], "CRC64"],
      [["--check=sha256", "--arm64", "--lzma2=preset=1"], "SHA-256"],
      [["--check=crc32", "--arm64=start=4096", "--lzma2=preset=1"], "CRC32"],
      [["--check=crc64", "--arm64=start=2147479552", "--lzma2=preset=1"], "CRC64"],
      [["--check=crc32", "--block-size=40000", "--arm64", "--lzma2=preset=1"], "CRC32"],
    ];
    for (const [args, check] of cases) {
      const c = xz(args, REAL);
      const r = await unxz(c);
      expect([args, r.check, r.filters]).toEqual([args, check, ["ARM64 BCJ", "LZMA2"]]);
      expect(Buffer.compare(r.data, REAL)).toBe(0);
    }
    const a = xz(["--check=crc32", "--arm64", "--lzma2=preset=1"], REAL);
    const b = xz(["--check=sha256", "--lzma2=preset=1"], IMAGE);
    const two = new Uint8Array([...a, 0, 0, 0, 0, 0, 0, 0, 0, ...b, 0, 0, 0, 0]);
    expect(Buffer.compare((await unxz(two)).data, xz(["-dc"], two))).toBe(0);
  });

  it("refuses filters it does not support, naming them, and filters out of place", async () => {
    for (const [flag, name, id] of [["--x86", "x86 BCJ", "0x4"], ["--armthumb", "ARM-Thumb BCJ", "0x8"], ["--delta=dist=4", "Delta", "0x3"], ["--powerpc", "PowerPC BCJ", "0x5"]] as const) {
      const e = await failure(unxz(xz(["--check=crc32", flag, "--lzma2=preset=1"], IMAGE)));
      expect([e.code, e.where]).toEqual(["UNSUPPORTED_FORMAT", 0xe]);
      expect(e.message).toContain(`the block uses the ${name} filter (id ${id}), which is not supported (ARM64 BCJ and LZMA2 are)`);
    }
  });

  it("refuses a truncated stream, with the offset where the footer should be", async () => {
    const e = await failure(unxz(STREAM.subarray(0, 100)));
    expect([e.code, e.where]).toEqual(["TRUNCATED", 98]);
    expect(e.message).toMatch(/does not end with a stream footer \("YZ" at 0x62\)/);
    expect((await failure(unxz(REAL_XZ.subarray(0, 50_000)))).code).toBe("TRUNCATED");
  });

  it("refuses a wrong check, corrupt LZMA2 data, a bad index and a wrong size trailer, each at its offset", async () => {
    const badCheck = STREAM.slice();
    badCheck[STREAM.length - 12 - 12 - 4]! ^= 1; // the block's CRC32, just before the 12-byte index
    const c = await failure(unxz(badCheck));
    expect([c.code, c.where]).toEqual(["BAD_XZ", STREAM.length - 28]);
    expect(c.message).toMatch(/the block's CRC32 is [0-9a-f]{8} but the output's is [0-9a-f]{8}/);
    const sha = xz(["--check=sha256", "--arm64", "--lzma2=preset=1"], REAL);
    sha[sha.length - 12 - 12 - 1]! ^= 1;
    expect((await failure(unxz(sha))).message).toMatch(/the block's SHA-256 is [0-9a-f]{64} but/);
    const corrupt = STREAM.slice();
    corrupt[60]! ^= 0x55;
    const d = await failure(unxz(corrupt));
    expect([d.code, d.where]).toEqual(["BAD_XZ", 0x18]);
    const index = STREAM.slice();
    index[STREAM.length - 12 - 3]! ^= 1; // inside the index's CRC32
    expect((await failure(unxz(index))).message).toMatch(/the index's CRC32 does not match/);
    const header = STREAM.slice();
    header[12 + 5]! ^= 1; // the block header's LZMA2 properties byte: its CRC32 catches it
    expect((await failure(unxz(header))).message).toMatch(/the block header's CRC32 does not match \(at offset 0xc\)/);
    await expect(unxz(withSize(STREAM, 5))).rejects.toThrow(/the 4 bytes after the stream say 0x5 but it decompressed to 0x2000 bytes/);
  });

  it("stops at the limit before decoding and leaves the decoder usable", async () => {
    await expect(unxz(IMAGE_XZ, 0x1000)).rejects.toThrow(/xz data expands past the limit of 0x1000 bytes/);
    expect((await unxz(IMAGE_XZ)).data).toEqual(IMAGE);
  });

  it("throws only InputError on mutated xz", async () => {
    await fc.assert(
      fc.asyncProperty(mutated([IMAGE_XZ, STREAM, IMAGE_XZ_BCJ]), async (b) => {
        await onlyInputErrorAsync(() => unxz(b, 1 << 20));
      }),
      { numRuns: FUZZ_RUNS / 5 },
    );
    expect((await unxz(IMAGE_XZ)).data).toEqual(IMAGE);
  });
});

describe("arm64Decode undoes the ARM64 BCJ filter", () => {
  const word = (buf: Uint8Array, at: number): number => new DataView(buf.buffer, buf.byteOffset).getUint32(at, true);
  it("makes a BL's immediate relative to its position plus the start offset again", () => {
    const b = new Uint8Array(0x108);
    new DataView(b.buffer).setUint32(0x100, 0x94000140, true); // bl, absolute (0x140 words)
    arm64Decode(b, 0);
    expect(word(b, 0x100)).toBe(0x94000100); // 0x140 - 0x100 / 4
    new DataView(b.buffer).setUint32(0x100, 0x94000140, true);
    arm64Decode(b, 0x1000); // pc 0x1100: 0x440 words back
    expect(word(b, 0x100)).toBe((0x94000000 | ((0x140 - 0x440) & 0x03ffffff)) >>> 0);
  });

  it("converts ADRP only within +/-512 MiB and leaves other words and a short tail alone", () => {
    const b = new Uint8Array(0x2003);
    const v = new DataView(b.buffer);
    v.setUint32(0x2000 - 4, 0x90000003 | (5 << 5), true); // adrp x3, immlo 0, immhi 0x5 -> page 0x14 (absolute)
    v.setUint32(0, 0xd503201f, true); // nop
    const far = 0x90000000 | (0x40000 << 5); // only immhi's sign bit: -1 GiB, out of range, kept
    v.setUint32(4, far >>> 0, true);
    b[0x2000] = 0x97;
    arm64Decode(b, 0);
    // pc 0x1ffc >> 12 = 1 page: immediate 0x14 - 1 = 0x13 (immlo 3, immhi 4).
    expect(word(b, 0x2000 - 4)).toBe((0x90000003 | (3 << 29) | (4 << 5)) >>> 0);
    expect([word(b, 0), word(b, 4), b[0x2000]]).toEqual([0xd503201f, far >>> 0, 0x97]);
  });
});

describe("crc64", () => {
  it("matches the CRC-64/XZ check value", () => {
    expect(crc64(new TextEncoder().encode("123456789"))).toBe(0x995dc9bbdf1939fan);
    expect(crc64(new Uint8Array(0))).toBe(0n);
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
