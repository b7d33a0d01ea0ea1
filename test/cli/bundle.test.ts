import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import bundle from "../../toolchain/cli/bundle.js";
import { buildCpio } from "../../toolchain/initramfs/index.js";
import { defaultCacheDir, loadAssets } from "../../scripts/assets.js";
import { syntheticImage } from "../bundle/_inputs.js";
import { makeImage } from "../image/_make.js";
import { runCommand } from "./_purgatory-cli.js";

const scratch = mkdtempSync(join(tmpdir(), "bundle-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const TARGET = "test/target/fixtures/qemu-virt-6.1/target.json";
let n = 0;
function file(bytes: Uint8Array): string {
  const path = join(scratch, `in-${n++}`);
  writeFileSync(path, bytes);
  return path;
}
const run = (kernel: string, initrd?: string) =>
  runCommand(bundle as never, ["bundle", "--mode", "reboot", "--kernel", kernel, ...(initrd !== undefined ? ["--initrd", initrd] : []), "-t", TARGET, "--seed", "00", "-o", join(scratch, `out-${n++}`)]);

describe("purgatory bundle refuses truncated inputs", () => {
  it("a raw Image shorter than its PE section table says, read from the staged copy's first 4 KiB", async () => {
    const whole = makeImage({ fileSize: 0x3000, efiStub: true, peSections: [[0x1000, 0x1000], [0x2000, 0x1000]] });
    expect((await run(file(whole))).code).toBe(0);
    const r = await run(file(whole.subarray(0, 0x2800)));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the Image is 0x2800 bytes but its PE section table puts "\.data" up to 0x3000, so it must be at least 0x3000 bytes \(at offset 0x2800\)/);
  });

  const cache = defaultCacheDir();
  it("the Debian Image cut to its first 100 KB (the provisioned kernel)", async () => {
    const image = readFileSync(loadAssets(cache).kernel.image.path);
    const r = await run(file(image.subarray(0, 100_000)));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the Image is 0x186a0 bytes but its PE section table puts "\.data" up to 0x1a09a00, so it must be at least 0x1a09a00 bytes \(at offset 0x186a0\)/);
  });

  it("an initramfs cut short, and takes the whole one, concatenated or not, and an initrd image with a note", async () => {
    const kernel = file(syntheticImage());
    const cpio = buildCpio([{ path: "init", data: new Uint8Array(0x4000).fill(0x5a), mode: 0o755 }]);
    const gz = new Uint8Array(gzipSync(cpio));
    const cut = await run(kernel, file(gz.subarray(0, gz.length - 5)));
    expect(cut.code).toBe(1);
    expect(cut.err).toMatch(/the gzip member at 0x0 ends without its 8-byte trailer \(CRC32, ISIZE\) at 0x[0-9a-f]+: the initrd ends at 0x[0-9a-f]+/);
    const ok = await run(kernel, file(new Uint8Array([...cpio, ...new Uint8Array(8), ...gz])));
    expect([ok.code, ok.out]).toEqual([0, expect.not.stringContaining("warning")]);
    const image = await run(kernel, file(new Uint8Array(0x1000).fill(0x11)));
    expect([image.code, image.out]).toEqual([0, expect.stringContaining("warning: initrd: no initramfs archive (byte 0x11 at 0x0): the kernel will keep the file as an initrd image")]);
  });
});
