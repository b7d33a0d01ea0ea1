import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import bundle from "../../toolchain/cli/bundle.js";
import { buildCpio } from "../../toolchain/initramfs/index.js";
import { serializeTarget } from "../../toolchain/target/index.js";
import { defaultCacheDir, loadAssets } from "../../scripts/assets.js";
import { runCli } from "../_cli.js";
import { syntheticImage, syntheticInitrd, virtTarget } from "../bundle/_inputs.js";
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
    expect(r.err).toMatch(/the Image is 0x2800 bytes but its PE section table puts "\.data" up to 0x3000, so it must be at least 0x3000 bytes \(at offset 0x2800 of .*in-\d+\)/);
  });

  const cache = defaultCacheDir();
  it("the Debian Image cut to its first 100 KB (the provisioned kernel)", async () => {
    const image = readFileSync(loadAssets(cache).kernel.image.path);
    const r = await run(file(image.subarray(0, 100_000)));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the Image is 0x186a0 bytes but its PE section table puts "\.data" up to 0x1a09a00, so it must be at least 0x1a09a00 bytes \(at offset 0x186a0 of .*in-\d+\)/);
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

/** The `purgatory` command as `npm run build` bundles it (package.json's bin). */
const MAIN = join(import.meta.dirname, "../../dist/bin/purgatory.mjs");
const dir = mkdtempSync(join(scratch, "more-"));
const put = (name: string, bytes: Uint8Array | string) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};
const kernel = put("Image", syntheticImage());
const initrd = put("initrd.cpio", syntheticInitrd());
const target = put("target.json", serializeTarget(virtTarget()));
const cli = (args: string[]) => runCli(bundle, ["bundle", ...args]);
const crash = (out: string, more: string[] = []) => ["--mode", "crash", "--kernel", kernel, "--initrd", initrd, "-t", target, "-o", join(dir, out), ...more];

describe("purgatory bundle", () => {
  it("records the seed it drew, so that --seed with it rebuilds the same bytes", async () => {
    const r = await cli(crash("random", ["--append", "console=ttyAMA0"]));
    expect(r, r.stderr).toMatchObject({ code: 0, stderr: "" });
    const seed = JSON.parse(readFileSync(join(dir, "random", "manifest.json"), "utf8")).seed as string;
    expect(seed).toMatch(/^[0-9a-f]{64}$/);
    const again = await cli(crash("again", ["--append", "console=ttyAMA0", "--seed", seed]));
    expect(again.code, again.stderr).toBe(0);
    const names = readdirSync(join(dir, "random")).sort();
    expect(readdirSync(join(dir, "again")).sort()).toEqual(names);
    for (const n of names) expect(readFileSync(join(dir, "again", n)).equals(readFileSync(join(dir, "random", n))), n).toBe(true);
  });

  it("names the file whose bytes are wrong: an empty --initrd, a --dtb that is not a DTB, a bad target", async () => {
    const empty = put("empty.cpio", "");
    const e = await cli(["--mode", "reboot", "--kernel", kernel, "--initrd", empty, "-t", target, "-o", join(dir, "e")]);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(`Cannot use the initrd: --initrd ${empty} is empty`);
    const text = put("text.txt", "this is not a device tree\n");
    const d = await cli([...crash("d"), "--dtb", text]);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(new RegExp(`^purgatory: Cannot .*FDT.* of ${text.replaceAll(".", "\\.")}\\)`, "m"));
    const badTarget = put("bad.json", "{");
    const t = await cli(["--mode", "reboot", "--kernel", kernel, "-t", badTarget, "-o", join(dir, "t"), "--json"]);
    expect(t.code).toBe(1);
    expect(JSON.parse(t.stdout).error).toMatchObject({ code: "BAD_JSON", file: badTarget });
    expect(readdirSync(dir).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("treats bad option values as usage errors (exit 2) naming the option", async () => {
    const cases: [string[], RegExp][] = [
      [[...crash("x"), "--console", "foo"], /Cannot use console "foo": .* \(at --console\)/],
      [[...crash("x"), "--seed", "zz"], /--seed takes an even number of hex digits/],
      [["--mode", "foo", "--kernel", kernel, "-t", target, "-o", join(dir, "x")], /mode.*Invalid values|Invalid values[\s\S]*mode/],
      [[...crash("x"), "--command-line", "console=ttyAMA0", "--append", "quiet"], /--command-line gives the whole command line/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
    }
    const j = await cli([...crash("x"), "--console", "foo", "--json"]);
    expect(JSON.parse(j.stdout).error).toMatchObject({ code: "BAD_OPTION", where: "--console" });
  });

  it("says in --help what the command line is without --append, --command-line or --reuse-cmdline", async () => {
    const r = spawnSync(process.execPath, [MAIN, "bundle", "--help"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout.replace(/\s+/g, " ")).toContain("With none of the three the bundle has no bootargs: the property is deleted");
  });

  it("leaves no hidden staging directory when Ctrl-C (SIGINT) stops it while it copies the initrd", async () => {
    const parent = mkdtempSync(join(dir, "sigint-"));
    const fifo = join(parent, "initrd.fifo");
    execFileSync("mkfifo", [fifo]);
    const child = spawn(process.execPath, [MAIN, "bundle", "--mode", "crash", "--kernel", kernel, "--initrd", fifo, "-t", target, "-o", join(parent, "out")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("close", (c, s) => resolve([c, s])));
    // The copy waits on the FIFO: feed it some bytes, stop the command, then let the read return.
    const w = openSync(fifo, "w");
    writeSync(w, syntheticInitrd(0x10000));
    for (let i = 0; i < 200 && !readdirSync(parent).some((n) => n.startsWith(".out.tmp-")); i++) await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(parent).some((n) => n.startsWith(".out.tmp-"))).toBe(true);
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    closeSync(w);
    const [code, signal] = await closed;
    expect({ code, signal, stderr }).toEqual({ code: null, signal: "SIGINT", stderr: "" });
    expect(readdirSync(parent)).toEqual(["initrd.fifo"]);
  }, 60_000);
});
