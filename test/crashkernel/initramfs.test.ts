import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { buildCpio } from "../../toolchain/initramfs/index.js";
import { measureInitramfs, readInitramfsFiles } from "../../toolchain/crashkernel/index.js";
import { EXPECTED, captureCpio } from "./_initramfs.js";
import { rejected as rejection } from "../_thrown.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name)));
const cat = (...p: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(p));


const counts = (m: Awaited<ReturnType<typeof measureInitramfs>>) => ({
  entries: m.entries, files: m.files, directories: m.directories, symlinks: m.symlinks, others: m.others, dataBytes: m.dataBytes, tmpfsBytes: m.tmpfsBytes,
});

describe("measureInitramfs counts what init/initramfs.c unpacks", () => {
  it("counts every entry of a newc archive and the pages its files take at each page size", async () => {
    const cpio = captureCpio();
    const m = await measureInitramfs(cpio);
    expect(counts(m)).toEqual(EXPECTED);
    expect(m).toMatchObject({ fileBytes: cpio.length, cpioBytes: cpio.length, decompressorBytes: 0 });
    expect(m.parts).toEqual([{ offset: 0, format: "cpio", size: cpio.length, cpioBytes: cpio.length, decompressorBytes: 0 }]);
  });

  it("unpacks gzip, zstd and xz parts and reports the buffers the kernel's decompressor holds", async () => {
    const cpio = captureCpio();
    const gz = new Uint8Array(gzipSync(cpio));
    const g = await measureInitramfs(gz);
    expect(counts(g)).toEqual(EXPECTED);
    expect(g.parts).toEqual([{ offset: 0, format: "gzip", size: gz.length, cpioBytes: cpio.length, decompressorBytes: 128 << 10 }]);

    // fixtures/README.md: zstd -19 declares an 8 MiB window, xz --lzma2=dict=1MiB a 1 MiB dictionary.
    const z = await measureInitramfs(fixture("capture.cpio.zst"));
    expect(counts(z)).toEqual(EXPECTED);
    expect(z).toMatchObject({ cpioBytes: cpio.length, decompressorBytes: (8 << 20) + (384 << 10) });
    const x = await measureInitramfs(fixture("capture.cpio.xz"));
    expect(counts(x)).toEqual(EXPECTED);
    expect(x).toMatchObject({ cpioBytes: cpio.length, decompressorBytes: (1 << 20) + (64 << 10) });
  });

  it("walks an early uncompressed archive, NUL padding and a compressed main archive, as unpack_to_rootfs() does", async () => {
    const early = buildCpio([{ path: "/kernel/firmware.bin", data: new Uint8Array(5000) }]);
    const main = new Uint8Array(gzipSync(captureCpio()));
    const file = cat(early, new Uint8Array(512), main);
    const m = await measureInitramfs(file);
    expect(m.parts.map((p) => [p.offset, p.format])).toEqual([[0, "cpio"], [early.length + 512, "gzip"]]);
    expect(m.entries).toBe(EXPECTED.entries + 2); // /kernel and its file
    expect(m.tmpfsBytes[4096]).toBe(EXPECTED.tmpfsBytes[4096] + 8192);
    expect(m.cpioBytes).toBe(early.length + captureCpio().length);
    // Two archives concatenated inside one compressed stream, with padding between them.
    const both = new Uint8Array(gzipSync(cat(captureCpio(), new Uint8Array(4), early)));
    expect((await measureInitramfs(both)).entries).toBe(EXPECTED.entries + 2);
  });

  it("refuses codecs it cannot decompress, naming the tool that can", async () => {
    const e = await rejection(measureInitramfs(cat(new TextEncoder().encode("BZh91AY&SY"), new Uint8Array(32))));
    expect(e.code).toBe("UNSUPPORTED_FORMAT");
    expect(e.message).toMatch(/bzip2-compressed/);
    expect(e.hint).toMatch(/bunzip2/);
    const lz4 = await rejection(measureInitramfs(new Uint8Array([0x02, 0x21, 0x4c, 0x18, 0, 0, 0, 0])));
    expect(lz4.hint).toMatch(/lz4 -d/);
  });

  it.each([
    ["a kernel image", new TextEncoder().encode("MZ\0\0not an initramfs at all"), /bytes 4d5a0000 at 0x0 start neither a cpio archive/, 0],
    ["the old binary cpio format", new TextEncoder().encode("070707" + "0".repeat(200)), /magic "070707" at 0x0 is not newc/, 0],
    ["a truncated header", captureCpio().subarray(0, 60), /cpio header at 0x0 is cut short/, 0],
    ["a non-hex field", (() => { const b = captureCpio().slice(); b[6 + 8 * 6] = 0x47; return b; })(), /field 6 "G.*" at 0x36 is not 8 hex digits/, 0x36],
    ["data running past the end", captureCpio().subarray(0, 300), /runs past the end/, undefined],
    ["junk after the trailer", cat(captureCpio(), new TextEncoder().encode("junk")), /start neither a cpio archive/, captureCpio().length],
    ["no archive at all", new Uint8Array(64), /holds no cpio archive/, 0],
  ] as const)("refuses %s with BAD_CPIO at the offset", async (_, bytes, message, at) => {
    const e = await rejection(measureInitramfs(bytes));
    expect(e.code).toBe("BAD_CPIO");
    expect(e.message).toMatch(message);
    if (at !== undefined) expect(e.where).toBe(at);
  });

  it("names the compressed part and the offset in its output for junk inside it", async () => {
    const gz = new Uint8Array(gzipSync(cat(captureCpio(), new TextEncoder().encode("1234"))));
    const e = await rejection(measureInitramfs(cat(captureCpio(), gz)));
    expect(e.code).toBe("BAD_CPIO");
    expect(e.message).toMatch(/junk within the gzip part/);
    expect(e.where).toBe(`gzip@0x${captureCpio().length.toString(16)}+0x${captureCpio().length.toString(16)}`);
  });

  it("passes the decoders' errors through (a corrupt gzip part)", async () => {
    const gz = new Uint8Array(gzipSync(captureCpio()));
    gz[gz.length - 5]! ^= 0xff; // the CRC32 in the trailer
    const e = await rejection(measureInitramfs(gz));
    expect(e.code).toBe("BAD_GZIP");
  });
});

describe("readInitramfsFiles", () => {
  it("returns the regular files asked for, from every part, the later member winning as in the unpacked rootfs", async () => {
    const early = buildCpio([{ path: "/etc/x.conf", data: "first\n" }, { path: "/etc/only-early", data: "early\n" }]);
    const main = new Uint8Array(gzipSync(cat(captureCpio(), buildCpio([{ path: "/etc/x.conf", data: "second\n" }]))));
    const files = await readInitramfsFiles(cat(early, main), ["/etc/x.conf", "/etc/only-early", "/bin/busybox", "/bin/sh", "/nowhere"]);
    const text = (p: string) => new TextDecoder().decode(files.get(p));
    expect([...files.keys()].sort()).toEqual(["/bin/busybox", "/etc/only-early", "/etc/x.conf"]);
    expect(text("/etc/x.conf")).toBe("second\n");
    expect(text("/etc/only-early")).toBe("early\n");
    // /bin/sh is a symlink: not a file's contents.
    expect(files.get("/bin/busybox")?.length).toBe(10_000);
  });

  it("refuses what measureInitramfs refuses", async () => {
    expect((await rejection(readInitramfsFiles(new TextEncoder().encode("not an archive"), ["/init"]))).code).toBe("BAD_CPIO");
  });
});
