import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_NESTING, loadKernelImage } from "../../toolchain/image/index.js";
import { defaultCacheDir, loadAssets } from "../../scripts/assets.js";
import { FUZZ_RUNS, mutated, onlyInputErrorAsync } from "./_fuzz.js";
import { makeImage, makeUImage, makeUki, makeVmlinux, makeZboot, makeZstdFrame } from "./_make.js";
import { rejected as failure } from "../_thrown.js";

const IMAGE = makeImage();
const gz = (b: Uint8Array): Uint8Array => new Uint8Array(gzipSync(b));
/** A zstd frame of raw blocks (no checksum), as our own stand-in encoder. */
const zst = (b: Uint8Array): Uint8Array => {
  const blocks = [];
  for (let i = 0; i < b.length; i += 0x8000) blocks.push({ raw: b.subarray(i, i + 0x8000) });
  return makeZstdFrame(blocks);
};


describe("loadKernelImage unwraps every container to the raw Image", () => {
  it("returns the Image, its header values and the chain", async () => {
    const k = await loadKernelImage(IMAGE, { pageSize: 4096 });
    expect(k.bytes).toBe(IMAGE);
    expect([k.textOffset, k.imageSize, k.flags, k.formatChain, k.warnings]).toEqual([
      0n,
      0x10000n,
      { bigEndian: false, pageSize: 4096, physPlacementAnywhere: true },
      ["Image"],
      [],
    ]);
  });

  it("unwraps nested containers and reports each layer", async () => {
    const cases: [Uint8Array, string[]][] = [
      [gz(IMAGE), ["gzip", "Image"]],
      [zst(IMAGE), ["zstd", "Image"]],
      [makeUImage(gz(IMAGE), { comp: 1 }), ["uImage", "gzip", "Image"]],
      [makeUImage(zst(IMAGE), { comp: 6 }), ["uImage", "zstd", "Image"]],
      [makeZboot(gz(IMAGE), "gzip"), ["zboot", "gzip", "Image"]],
      [makeZboot(zst(IMAGE), "zstd", { appendedSize: IMAGE.length }), ["zboot", "zstd", "Image"]],
      [makeUki(makeZboot(gz(IMAGE), "gzip")), ["UKI", "zboot", "gzip", "Image"]],
      [makeUki(makeImage({ efiStub: true })), ["UKI", "Image"]],
      [makeVmlinux(makeImage({ fileSize: 0x4000 })), ["vmlinux", "Image"]],
      [gz(makeUImage(IMAGE)), ["gzip", "uImage", "Image"]],
    ];
    for (const [input, chain] of cases) {
      const k = await loadKernelImage(input);
      expect(k.formatChain).toEqual(chain);
      expect(k.layers.map((l) => l.format)).toEqual(chain);
      expect(k.header.magic).toBe(0x644d5241);
    }
  });

  it("refuses nesting deeper than MAX_NESTING", async () => {
    let b = IMAGE;
    for (let i = 0; i <= MAX_NESTING; i++) b = gz(b);
    const e = await failure(loadKernelImage(b));
    expect([e.code, e.message]).toEqual(["TOO_DEEP", expect.stringMatching(/nest more than 6 deep \(gzip > gzip > gzip > gzip > gzip > gzip > gzip\)/)]);
    let ok = IMAGE;
    for (let i = 0; i < MAX_NESTING; i++) ok = gz(ok);
    expect((await loadKernelImage(ok)).formatChain).toHaveLength(MAX_NESTING + 1);
  });

  it("refuses data that contradicts its container's header", async () => {
    const uimage = await failure(loadKernelImage(makeUImage(zst(IMAGE), { comp: 1 })));
    expect(uimage.message).toMatch(/the uImage header says its data is gzip, but the data looks like zstd \(at offset 0x40\)/);
    expect(uimage.code).toBe("FORMAT_MISMATCH");
    const zboot = await failure(loadKernelImage(makeZboot(gz(IMAGE), "zstd")));
    expect(zboot.message).toMatch(/the zboot header says its data is zstd, but the data looks like gzip \(at offset 0x200\)/);
    const size = await failure(loadKernelImage(makeZboot(zst(IMAGE), "zstd", { appendedSize: 0x1234 })));
    expect(size.message).toMatch(/zstd data decompressed to 0x4000 bytes but the zboot header says 0x1234/);
    const vml = await failure(loadKernelImage(makeVmlinux(makeImage({ fileSize: 0x4000, imageSize: 0x8000n }))));
    expect(vml.message).toMatch(/vmlinux PT_LOADs span 0x10000 bytes but the Image header's image_size is 0x8000/);
  });

  it("reports file offsets inside slices of the file, and chain offsets inside decompressed data", async () => {
    const zb = makeZboot(gz(IMAGE), "gzip");
    zb[zb.length - 8]! ^= 1; // the gzip CRC32, 8 bytes from the end of the payload
    expect((await failure(loadKernelImage(zb))).where).toBe(zb.length - 8);
    const big = await failure(loadKernelImage(makeUImage(gz(makeImage({ fileSize: 0x4000, imageSize: 0x2000n })), { comp: 1 })));
    expect([big.code, big.where]).toEqual(["SIZE_MISMATCH", "uImage>gzip+0x10"]);
    expect(big.message).toMatch(/image_size is only 0x2000 \(at uImage>gzip\+0x10\)\. The header is corrupt/);
  });

  it("passes the page size through and returns warnings as data", async () => {
    const k64 = gz(makeImage({ flags: 3n << 1n }));
    expect((await failure(loadKernelImage(k64, { pageSize: 4096 }))).code).toBe("PAGE_SIZE_CONFLICT");
    expect((await loadKernelImage(k64, { pageSize: 65536 })).flags.pageSize).toBe(65536);
    const legacy = await loadKernelImage(makeUImage(makeImage({ imageSize: 0n })));
    expect(legacy.warnings).toEqual([expect.stringMatching(/image_size is 0/)]);
    const uki = await loadKernelImage(makeUki(makeImage({ efiStub: true }), { cmdline: "quiet", initrd: new Uint8Array(9) }));
    expect(uki.warnings).toEqual(["the UKI also carries .cmdline (5 bytes), .initrd (9 bytes); only .linux is used, pass the others explicitly"]);
  });

  it("names PE files that are no arm64 kernel", async () => {
    const x86 = makeUki(IMAGE);
    x86[0x44] = 0x64;
    x86[0x45] = 0x86;
    expect((await failure(loadKernelImage(x86))).message).toMatch(/PE\/COFF file for x86-64 \(machine 0x8664\), not arm64/);
    const noLinux = makeUki(IMAGE);
    noLinux.set(new TextEncoder().encode(".other"), 0x40 + 24);
    expect((await failure(loadKernelImage(noLinux))).message).toMatch(/not an Image with the EFI stub .* not EFI zboot .* not a UKI \(no \.linux section\)/);
  });

  it("applies maxBytes to every decompression", async () => {
    expect((await failure(loadKernelImage(makeZboot(gz(IMAGE), "gzip"), { maxBytes: 0x1000 }))).code).toBe("TOO_LARGE");
  });

  it("throws only InputError on mutated kernels of every format", async () => {
    const seeds = [
      gz(IMAGE),
      zst(makeImage({ fileSize: 0x800 })),
      makeUImage(gz(IMAGE), { comp: 1 }),
      makeZboot(gz(IMAGE), "gzip"),
      makeUki(makeZboot(zst(makeImage({ fileSize: 0x800 })), "zstd", { appendedSize: 0x800 })),
      makeVmlinux(makeImage({ fileSize: 0x4000 })),
      makeImage({ fileSize: 0x200 }),
    ];
    await fc.assert(
      fc.asyncProperty(mutated(seeds), fc.constantFrom(undefined, 4096), async (b, pageSize) => {
        await onlyInputErrorAsync(() => loadKernelImage(b, pageSize !== undefined ? { pageSize, maxBytes: 1 << 20 } : { maxBytes: 1 << 20 }));
      }),
      { numRuns: FUZZ_RUNS / 4 },
    );
  });
});

describe("loadKernelImage on the provisioned Debian kernel", () => {
  const cache = defaultCacheDir();
  // npm test provisions first: a missing cache fails here (loadAssets says how to make it), never skips.
  const why = `the cache ${cache} that npm run provision makes`;
  const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

  it(`loads the packaged vmlinuz to the provisioner's Image with a sane header (${why})`, async () => {
    const { kernel } = loadAssets(cache);
    const k = await loadKernelImage(new Uint8Array(readFileSync(kernel.vmlinuz.path)), { pageSize: 4096 });
    // Debian 12's cloud-arm64 vmlinuz is a plain Image; older packages were gzip.
    expect(k.formatChain).toEqual(kernel.vmlinuzCompression === "gzip" ? ["gzip", "Image"] : ["Image"]);
    // The provisioner unpacked the same kernel with its own tools; the bytes must agree.
    expect(sha(k.bytes)).toBe(kernel.image.sha256);
    expect(k.warnings).toEqual([]);
    expect(k.textOffset).toBe(0n);
    expect(k.flags).toEqual({ bigEndian: false, pageSize: 4096, physPlacementAnywhere: true });
    expect(k.header.efiStub).toBe(true);
    expect(k.imageSize).toBeGreaterThan(BigInt(k.bytes.length));
    expect(k.imageSize).toBeLessThan(256n << 20n);
  });

  it(`refuses the real Image cut to 100 KB, with the length its PE section table gives (${why})`, async () => {
    const { kernel } = loadAssets(cache);
    const image = new Uint8Array(readFileSync(kernel.image.path));
    const e = await failure(loadKernelImage(image.subarray(0, 100_000)));
    expect([e.code, e.where]).toEqual(["TRUNCATED", 100_000]);
    expect(e.message).toMatch(/the Image is 0x186a0 bytes but its PE section table puts "\.data" up to 0x[0-9a-f]+, so it must be at least/);
    // The same cut with the PE header blanked: the entry branch still gives it away.
    const noStub = image.slice(0, 100_000);
    noStub[0] = 0;
    noStub.fill(0, 0x40, 0x200);
    expect((await failure(loadKernelImage(noStub))).message).toMatch(/its entry branch at 0x4 jumps to 0x[0-9a-f]+/);
  });

  it(`loads the real Image as Image.gz and inside gzip zboot (${why})`, async () => {
    const { kernel } = loadAssets(cache);
    const image = new Uint8Array(readFileSync(kernel.image.path));
    const gzipped = new Uint8Array(gzipSync(image, { level: 1 }));
    const k = await loadKernelImage(gzipped, { pageSize: 4096 });
    expect(k.formatChain).toEqual(["gzip", "Image"]);
    expect(sha(k.bytes)).toBe(kernel.image.sha256);
    // Makefile.zboot pads the Image to image_size before compressing it.
    const padded = new Uint8Array(Number(k.imageSize));
    padded.set(image);
    const z = await loadKernelImage(makeZboot(new Uint8Array(gzipSync(padded, { level: 1 })), "gzip"));
    expect(z.formatChain).toEqual(["zboot", "gzip", "Image"]);
    expect(sha(z.bytes)).toBe(sha(padded)); // (toEqual on 30 MB arrays takes minutes)
  });

  it(`loads the real Image as Image.xz with the ARM64 BCJ filter and inside xz zboot, as Linux 6.12+ builds them (${why})`, async () => {
    const { kernel } = loadAssets(cache);
    const image = new Uint8Array(readFileSync(kernel.image.path));
    // scripts/xz_wrap.sh for arm64 with XZ Utils >= 5.4 (a faster preset than its default, same format).
    const xz = (b: Uint8Array): Uint8Array =>
      new Uint8Array(execFileSync("xz", ["--check=crc32", "--arm64", "--lzma2=preset=0,dict=32MiB"], { input: b, maxBuffer: 1 << 27 }));
    const k = await loadKernelImage(xz(image), { pageSize: 4096 });
    expect([k.formatChain, k.layers[0]?.fields["filters"]]).toEqual([["xz", "Image"], "ARM64 BCJ+LZMA2"]);
    expect(sha(k.bytes)).toBe(kernel.image.sha256);
    const padded = new Uint8Array(Number(k.imageSize));
    padded.set(image);
    const z = await loadKernelImage(makeZboot(xz(padded), "xzkern", { appendedSize: padded.length }));
    expect(z.formatChain).toEqual(["zboot", "xz", "Image"]);
    expect(sha(z.bytes)).toBe(sha(padded));
  }, 180_000);
});
