import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import image from "../../toolchain/cli/image.js";
import { runCommand } from "../cli/_purgatory-cli.js";
import { makeImage, makeZboot } from "./_make.js";

const dir = mkdtempSync(join(tmpdir(), "purgatory-image-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}
const run = (args: string[]) => runCommand(image as never, ["image", ...args]);

describe("purgatory image info", () => {
  const zboot = file("vmlinuz.efi", makeZboot(new Uint8Array(gzipSync(makeImage())), "gzip"));

  it("prints the chain, header and sizes as text", async () => {
    const r = await run(["info", zboot]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^format: {7}zboot > gzip > Image\n/);
    expect(r.out).toContain("Image size:   0x4000 bytes");
    expect(r.out).toContain("flags:        little-endian, 4 KiB pages, placement anywhere");
    expect(r.out).toMatch(/zboot .* compressType=gzip payloadOffset=0x200/);
  });

  it("prints the same report as JSON, with 64-bit values as hex strings", async () => {
    const r = await run(["info", "--json", zboot]);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    expect(j).toMatchObject({ formatChain: ["zboot", "gzip", "Image"], decompressedSize: "0x4000", imageSize: "0x10000", textOffset: "0x0" });
    // One rule for numbers (README): every size in bytes is "0x…", counts are numbers.
    expect(j["fileSize"]).toMatch(/^0x[0-9a-f]+$/);
    expect((j["layers"] as { size: unknown }[]).map((l) => typeof l.size)).toEqual(["string", "string", "string"]);
    expect(j["sha256"]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("exits 1 with the error (as JSON with --json) for a refused kernel", async () => {
    const k64 = file("Image-64k", makeImage({ flags: 3n << 1n }));
    const text = await run(["info", "--page-size", "4096", k64]);
    expect([text.code, text.out]).toEqual([1, ""]);
    expect(text.err).toMatch(/^purgatory: Cannot load the kernel: it is built for 64 KiB pages but the target runs 4 KiB pages/);
    const json = await run(["info", "--json", "--page-size", "4096", k64]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject({ error: { code: "PAGE_SIZE_CONFLICT", where: 24 } });
  });

  it("exits 1 for a missing file and 2 for a page size that does not exist", async () => {
    const missing = await run(["info", join(dir, "nope")]);
    expect([missing.code, missing.err]).toEqual([1, expect.stringMatching(/Cannot read .*nope: no such file \(ENOENT\)/)]);
    const bad = await run(["info", "--page-size", "8192", zboot]);
    expect([bad.code, bad.err]).toEqual([2, expect.stringMatching(/--page-size 8192 is not one of 4096, 16384, 65536/)]);
  });
});

describe("purgatory image unwrap", () => {
  it("writes the raw Image out of a zboot kernel, atomically, and says what it undid", async () => {
    const inner = makeImage();
    const zboot = file("unwrap.efi", makeZboot(new Uint8Array(gzipSync(inner)), "gzip"));
    const out = join(dir, "Image");
    const r = await run(["unwrap", zboot, "-o", out]);
    expect(r.code, r.err).toBe(0);
    expect(new Uint8Array(readFileSync(out))).toEqual(inner);
    expect(r.out).toBe(`wrote ${out}: the raw Image of ${zboot} (zboot > gzip > Image), 0x4000 bytes, sha256 ${createHash("sha256").update(inner).digest("hex")}\n`);
  });

  it("takes the Image out of a UKI, the same one image info describes", async () => {
    const uki = join(import.meta.dirname, "fixtures/uki-zboot/input.bin");
    const out = join(dir, "uki-Image");
    const r = await run(["unwrap", uki, "-o", out, "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    const info = JSON.parse((await run(["info", uki, "--json"])).out);
    expect(j).toMatchObject({ formatChain: info.formatChain, size: info.decompressedSize, sha256: info.sha256 });
    expect(j.formatChain[0]).toBe("UKI");
    expect(createHash("sha256").update(readFileSync(out)).digest("hex")).toBe(info.sha256);
  });

  it("writes nothing for a file that is no kernel, and names the file", async () => {
    const junk = file("junk.bin", new Uint8Array(4096).fill(0x5a));
    const out = join(dir, "never");
    const r = await run(["unwrap", junk, "-o", out]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`of ${junk})`);
    expect(existsSync(out)).toBe(false);
    expect((await run(["unwrap", junk, "-o", out, "--page-size", "8192"])).code).toBe(2);
  });
});
