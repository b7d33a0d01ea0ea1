import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { IMAGE_HEAD_SIZE, checkImage, hasImageMagic, parseImageHeader } from "../../toolchain/image/header.js";
import { FUZZ_RUNS, mutated, onlyInputError } from "./_fuzz.js";
import { makeImage } from "./_make.js";

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e.code;
    throw e;
  }
  return "ok";
}

// A header written out by hand from booting.rst, field by field.
const HAND = Buffer.from(
  "4d5a0091" + "ff3f4914" + // code0 ("MZ", add x13, x18, #0x16), code1 (b)
    "0000080000000000" + // text_offset 0x80000
    "0000a00200000000" + // image_size 0x2a00000
    "0a00000000000000" + // flags: LE, 4K (1 << 1), anywhere (1 << 3)
    "0000000000000000".repeat(3) +
    "41524d64" + // "ARM\x64"
    "40000000", // res5: PE header at 0x40
  "hex",
);

describe("parseImageHeader decodes the booting.rst header", () => {
  it("reads every field of a hand-written header", () => {
    const h = parseImageHeader(new Uint8Array(HAND));
    expect(h).toEqual({
      code0: 0x91005a4d,
      code1: 0x14493fff,
      textOffset: 0x80000n,
      imageSize: 0x2a00000n,
      rawFlags: 0xan,
      flags: { bigEndian: false, pageSize: 4096, physPlacementAnywhere: true },
      magic: 0x644d5241,
      res5: 0x40,
      efiStub: true,
    });
  });

  it("maps page-size bits 1-2 to 0, 4K, 16K, 64K", () => {
    const sizes = [0n, 1n, 2n, 3n].map((v) => parseImageHeader(makeImage({ flags: v << 1n })).flags.pageSize);
    expect(sizes).toEqual([0, 4096, 16384, 65536]);
  });

  it("refuses a missing magic with its offset, and a short header as TRUNCATED", () => {
    const bad = makeImage();
    bad[59] = 0;
    expect(() => parseImageHeader(bad)).toThrow(/magic is 0x4d5241, expected 0x644d5241.*offset 0x38/);
    expect(code(() => parseImageHeader(new Uint8Array(63)))).toBe("TRUNCATED");
    expect(hasImageMagic(bad)).toBe(false);
    expect(hasImageMagic(makeImage())).toBe(true);
  });
});

describe("checkImage applies the loading rules", () => {
  it("passes a modern header through unchanged", () => {
    const c = checkImage(makeImage({ textOffset: 0n, imageSize: 0x10000n }), 4096);
    expect([c.textOffset, c.imageSize, c.warnings]).toEqual([0n, 0x10000n, []]);
  });

  it("refuses a big-endian kernel", () => {
    expect(() => checkImage(makeImage({ flags: 1n }))).toThrow(/big-endian/);
    expect(code(() => checkImage(makeImage({ flags: 1n })))).toBe("UNSUPPORTED_BIG_ENDIAN");
  });

  it("refuses a page size the target does not run, accepts an unspecified one", () => {
    const k64 = makeImage({ flags: 3n << 1n });
    expect(() => checkImage(k64, 4096)).toThrow(/built for 64 KiB pages but the target runs 4 KiB pages/);
    expect(checkImage(k64, 65536).header.flags.pageSize).toBe(65536);
    expect(checkImage(k64).header.flags.pageSize).toBe(65536); // no target given: no check
    expect(code(() => checkImage(makeImage({ flags: 0n }), 16384))).toBe("ok");
  });

  it("takes image_size 0 (pre-3.17) as text_offset 0x80000 and 16 MiB, with a warning", () => {
    const c = checkImage(makeImage({ imageSize: 0n, textOffset: 0n }));
    expect([c.textOffset, c.imageSize]).toEqual([0x80000n, 0x1000000n]);
    expect(c.warnings).toEqual([expect.stringMatching(/older than v3.17.*kexec-tools/)]);
  });

  it("refuses an Image longer than its image_size", () => {
    expect(() => checkImage(makeImage({ fileSize: 0x3000, imageSize: 0x2000n }))).toThrow(
      /Image is 0x3000 bytes but image_size is only 0x2000 \(at offset 0x10\)/,
    );
  });

  it("checks the size it is given when the bytes hold only the Image's start", () => {
    const head = makeImage({ fileSize: 0x3000, imageSize: 0x2000n }).subarray(0, 64);
    expect(() => checkImage(head, 4096, 0x3000)).toThrow(/Image is 0x3000 bytes but image_size is only 0x2000/);
    expect(checkImage(head, 4096, 0x2000).imageSize).toBe(0x2000n);
  });

  it("refuses an Image shorter than its PE section table says, naming where it ends and the length expected", () => {
    const whole = makeImage({ fileSize: 0x3000, efiStub: true, peSections: [[0x1000, 0x1000], [0x2000, 0x1000]] });
    expect(checkImage(whole).warnings).toEqual([]);
    const cut = whole.subarray(0, 0x2800);
    expect(() => checkImage(cut)).toThrow(
      /the Image is 0x2800 bytes but its PE section table puts ".data" up to 0x3000, so it must be at least 0x3000 bytes \(at offset 0x2800\)\. The file is truncated/,
    );
    expect(code(() => checkImage(cut))).toBe("TRUNCATED");
    // Only the start in memory (a staged file): the size given is what counts.
    expect(() => checkImage(whole.subarray(0, IMAGE_HEAD_SIZE), 4096, 0x2fff)).toThrow(/at least 0x3000 bytes \(at offset 0x2fff\)/);
    expect(checkImage(whole.subarray(0, IMAGE_HEAD_SIZE), 4096, 0x3000).imageSize).toBe(0x10000n);
    // Longer than the sections (a signed kernel's certificate table follows them) is fine.
    expect(code(() => checkImage(makeImage({ fileSize: 0x3000, efiStub: true, peSections: [[0x1000, 0x1800]] })))).toBe("ok");
  });

  it("refuses an Image that ends before the target of its entry branch", () => {
    const img = makeImage({ fileSize: 0x2000 });
    new DataView(img.buffer).setUint32(4, 0x14000000 | ((0x1800 - 4) / 4), true); // code1: b 0x1800
    expect(code(() => checkImage(img))).toBe("ok");
    expect(() => checkImage(img.subarray(0, 0x1000))).toThrow(
      /the Image is 0x1000 bytes but its entry branch at 0x4 jumps to 0x1800, so it must be at least 0x1804 bytes \(at offset 0x1000\)/,
    );
    // A backward branch bounds nothing.
    new DataView(img.buffer).setUint32(4, 0x17ffffff, true);
    expect(code(() => checkImage(img.subarray(0, 0x100)))).toBe("ok");
  });

  it("throws only InputError on mutated and random headers", () => {
    const seeds = [makeImage({ fileSize: 0x100 }), makeImage({ fileSize: 0x100, imageSize: 0n }), new Uint8Array(HAND)];
    fc.assert(
      fc.property(mutated(seeds), fc.constantFrom(undefined, 4096, 16384, 65536), (b, page) => {
        onlyInputError(() => checkImage(b, page));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
