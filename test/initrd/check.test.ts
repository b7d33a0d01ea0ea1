import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkInitrd, withFileSource } from "../../toolchain/initrd/index.js";
import { FUZZ_RUNS, mutated, onlyInputErrorAsync } from "../image/_fuzz.js";
import { makeZstdFrame } from "../image/_make.js";
import { rejected as failure } from "../_thrown.js";

/** Archives written by GNU cpio (the independent producer), from a small tree with a file of pseudo-random bytes. */
const tree = mkdtempSync(join(tmpdir(), "initrd-"));
mkdirSync(join(tree, "bin"));
writeFileSync(join(tree, "bin", "prog"), Uint8Array.from({ length: 0x5000 }, (_, i) => (i * 2654435761) >>> 24));
writeFileSync(join(tree, "init"), "#!/bin/sh\nexec /bin/prog\n");
const cpio = (format: string): Uint8Array =>
  new Uint8Array(execFileSync("cpio", ["-o", "-H", format, "--quiet", "--owner=0:0"], { cwd: tree, input: ".\nbin\nbin/prog\ninit\n" }));
const NEWC = cpio("newc");
const ODC = cpio("odc");
const gz = (b: Uint8Array): Uint8Array => new Uint8Array(gzipSync(b));
const xz = (b: Uint8Array): Uint8Array => new Uint8Array(execFileSync("xz", ["--check=crc32", "--lzma2=dict=1MiB"], { input: b }));
/** A zstd frame of raw blocks, written from RFC 8878 (test/image/_make.ts). */
const zst = (b: Uint8Array): Uint8Array => makeZstdFrame([{ raw: b.subarray(0, 0x4000) }, { raw: b.subarray(0x4000) }]);
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
/** GNU cpio pads archives to 512 bytes; the TRAILER!!! entry is the last 124 bytes before that padding. */
const trailerAt = (a: Uint8Array): number => Buffer.from(a).lastIndexOf("070701") ;


describe("checkInitrd accepts what the kernel unpacks", () => {
  it("walks a newc archive and its gzip, xz and zstd compressions", async () => {
    expect(await checkInitrd(NEWC)).toEqual({ kind: "initramfs", parts: [{ kind: "cpio", offset: 0, size: NEWC.length, entries: 5 }], notes: [] });
    const g = gz(NEWC);
    expect((await checkInitrd(g)).parts).toEqual([{ kind: "gzip", offset: 0, size: g.length, entries: 5, decompressedSize: NEWC.length }]);
    const x = xz(NEWC);
    expect((await checkInitrd(x)).parts).toEqual([{ kind: "xz", offset: 0, size: x.length }]);
    const z = zst(NEWC);
    expect((await checkInitrd(z)).parts).toEqual([{ kind: "zstd", offset: 0, size: z.length }]);
  });

  it("follows concatenations: a microcode cpio, zero padding, then compressed archives", async () => {
    const g = gz(NEWC);
    const x = xz(NEWC);
    const r = await checkInitrd(cat(NEWC, g, new Uint8Array(13), x, new Uint8Array(4), zst(NEWC)));
    expect(r.kind).toBe("initramfs");
    expect(r.parts.map((p) => [p.kind, p.offset])).toEqual([
      ["cpio", 0],
      ["gzip", NEWC.length],
      ["padding", NEWC.length + g.length],
      ["xz", NEWC.length + g.length + 13],
      ["padding", NEWC.length + g.length + 13 + x.length],
      ["zstd", NEWC.length + g.length + 17 + x.length],
    ]);
    // Two archives inside one gzip member, and zero padding after it.
    expect((await checkInitrd(cat(gz(cat(NEWC, NEWC)), new Uint8Array(512)))).parts.map((p) => [p.kind, p.entries])).toEqual([["gzip", 10], ["padding", undefined]]);
  });

  it("takes data that is no archive as an initrd image, with a note, and passes formats it cannot check with a note", async () => {
    const image = Uint8Array.from({ length: 0x2000 }, (_, i) => (i * 7 + 3) & 0xff);
    expect(await checkInitrd(image)).toEqual({ kind: "image", parts: [], notes: [expect.stringMatching(/no initramfs archive \(byte 0x3 at 0x0\): the kernel will keep the file as an initrd image/)] });
    const ext2 = cat(new Uint8Array(0x400), new Uint8Array([0x53, 0xef]), new Uint8Array(0x400));
    expect((await checkInitrd(ext2)).notes).toEqual([expect.stringMatching(/no initramfs archive after 0x400 zero bytes/)]);
    expect((await checkInitrd(gz(image))).notes).toEqual([expect.stringMatching(/the gzip data at 0x0 holds no cpio archive/)]);
    const bz = new Uint8Array(execFileSync("bzip2", ["-c"], { input: NEWC }));
    expect(await checkInitrd(cat(NEWC, bz))).toMatchObject({ kind: "initramfs", notes: [`the bzip2 data at ${"0x" + NEWC.length.toString(16)} and anything after it were not checked`] });
  });

  it("reads a file through withFileSource as it reads bytes in memory", async () => {
    const path = join(tree, "..", `${tree.split("/").pop()}.cpio.gz`);
    const data = cat(NEWC, gz(NEWC));
    writeFileSync(path, data);
    expect(await withFileSource(path, checkInitrd)).toEqual(await checkInitrd(data));
    writeFileSync(path, data.subarray(0, data.length - 100));
    expect((await failure(withFileSource(path, checkInitrd))).code).toBe("TRUNCATED");
    await expect(withFileSource(join(tree, "missing"), checkInitrd)).rejects.toThrow(/Cannot read .*missing/);
  });
});

describe("checkInitrd refuses a truncated initramfs, with where it ends and what was expected", () => {
  it("a cpio cut inside an entry, or at an entry boundary without its TRAILER!!!", async () => {
    const mid = await failure(checkInitrd(NEWC.subarray(0, 0x1000)));
    expect([mid.code, mid.where]).toEqual(["TRUNCATED", 0x1000]);
    expect(mid.message).toMatch(/cpio entry 3 "bin\/prog" at 0x[0-9a-f]+ ends inside its data: it needs the data up to 0x[0-9a-f]+ but the data ends at 0x1000/);
    const cut = trailerAt(NEWC);
    const e = await failure(checkInitrd(NEWC.subarray(0, cut)));
    expect([e.code, e.where]).toEqual(["TRUNCATED", cut]);
    expect(e.message).toMatch(/the cpio archive at 0x0 ends after 4 entries \(the last "init"\) without its TRAILER!!! entry/);
    const followed = await failure(checkInitrd(cat(NEWC.subarray(0, cut), gz(NEWC))));
    expect(followed.message).toMatch(/without its TRAILER!!! entry, and other data follows at 0x[0-9a-f]+/);
  });

  it("a gzip member cut in its deflate data or its trailer, or holding a cut cpio", async () => {
    const g = gz(NEWC);
    const mid = await failure(checkInitrd(cat(NEWC, g.subarray(0, 300))));
    expect([mid.code, mid.where]).toEqual(["TRUNCATED", NEWC.length + 300]);
    expect(mid.message).toMatch(new RegExp(`the gzip member at 0x${NEWC.length.toString(16)} ends early: its deflate data runs on to the end of the initrd`));
    const tail = await failure(checkInitrd(g.subarray(0, g.length - 3)));
    expect(tail.message).toMatch(/ends without its 8-byte trailer \(CRC32, ISIZE\) at 0x[0-9a-f]+: the initrd ends at 0x[0-9a-f]+/);
    const inner = await failure(checkInitrd(gz(NEWC.subarray(0, trailerAt(NEWC)))));
    expect([inner.code, inner.where]).toEqual(["TRUNCATED", `gzip@0x0+0x${trailerAt(NEWC).toString(16)}`]);
    expect(inner.message).toMatch(/the cpio archive at \+0x0 inflated from the gzip member at 0x0 ends after 4 entries/);
    const innerMid = await failure(checkInitrd(gz(NEWC.subarray(0, 0x1000))));
    expect(innerMid.where).toBe("gzip@0x0+0x1000");
  });

  it("zstd and xz streams cut short", async () => {
    const z = await failure(checkInitrd(zst(NEWC).subarray(0, 0x3000)));
    expect([z.code, z.where]).toEqual(["TRUNCATED", 0x3000]);
    expect(z.message).toMatch(/the zstd frame at 0x0 ends early: its block at 0x6 needs the data up to 0x400[0-9a-f] but the initrd ends at 0x3000/);
    const x = xz(NEWC);
    const e = await failure(checkInitrd(cat(NEWC, x.subarray(0, x.length - 12))));
    expect([e.code, e.where]).toEqual(["TRUNCATED", NEWC.length + x.length - 12]);
    expect(e.message).toMatch(/the xz stream at 0x[0-9a-f]+ has no stream footer before the end of the initrd/);
  });
});

describe("checkInitrd refuses what the kernel would stop at", () => {
  it("an odc archive, which the kernel does not unpack", async () => {
    const e = await failure(checkInitrd(ODC));
    expect([e.code, e.where]).toEqual(["BAD_CPIO", 0]);
    expect(e.message).toMatch(/old portable format \(magic 070707\).*use -H newc option/);
  });

  it("junk after an archive, outside or inside compressed data", async () => {
    const e = await failure(checkInitrd(cat(NEWC, new Uint8Array([0x41, 0x42, 0x43]))));
    expect([e.code, e.where]).toEqual(["TRAILING_DATA", NEWC.length]);
    expect(e.message).toMatch(/0x3 bytes at 0x[0-9a-f]+ follow the archive and are neither zero padding, a cpio archive nor compressed data the kernel knows \(byte 0x41\)/);
    const inner = await failure(checkInitrd(gz(cat(NEWC, new Uint8Array([0x41])))));
    expect([inner.code, inner.where]).toEqual(["TRAILING_DATA", `gzip@0x0+0x${NEWC.length.toString(16)}`]);
  });

  it("a gzip member whose trailer does not match its data", async () => {
    const g = gz(NEWC);
    g[g.length - 8]! ^= 1;
    const e = await failure(checkInitrd(g));
    expect([e.code, e.where]).toEqual(["BAD_GZIP", g.length - 8]);
  });

  it("throws only InputError on mutated initrds", async () => {
    const seeds = [NEWC.subarray(0, 0x800), gz(NEWC), cat(NEWC.subarray(0, 0x200), zst(NEWC).subarray(0, 0x300)), xz(NEWC.subarray(0, 0x400))];
    await fc.assert(
      fc.asyncProperty(mutated(seeds), async (b) => {
        await onlyInputErrorAsync(() => checkInitrd(b));
      }),
      { numRuns: FUZZ_RUNS / 5 },
    );
  });
});
