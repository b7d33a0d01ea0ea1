import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildBundle, writeDirAtomic } from "../../toolchain/bundle/index.js";
import verify from "../../toolchain/cli/verify.js";
import { syntheticImage, syntheticInitrd, virtTarget } from "../bundle/_inputs.js";
import { runCommand } from "./_purgatory-cli.js";

let dir: string;
beforeAll(async () => {
  dir = join(mkdtempSync(join(tmpdir(), "verify-cli-")), "b");
  const b = await buildBundle({
    mode: "crash", kernel: syntheticImage(), initrd: syntheticInitrd(), dtb: null, target: virtTarget(),
    commandLine: "console=ttyAMA0", seed: new Uint8Array([1]),
  });
  await writeDirAtomic(dir, b.files);
});

const cli = (...args: string[]) => runCommand(verify as never, ["verify", ...args]);

describe("purgatory verify", () => {
  it("exits 0 on an intact bundle and lists every check", async () => {
    const r = await cli(dir);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ok {3}kernel: sha256: [0-9a-f]{64}$/m);
    expect(r.out).toMatch(/^ok {3}elfcorehdr: fs\/proc\/vmcore.c checks: accepted$/m);
    expect(r.out).toMatch(/bundle .* verified: \d+ checks passed\n$/);
  });

  it("gives the same checks as JSON", async () => {
    const r = await cli(dir, "--json");
    const j = JSON.parse(r.out);
    expect([r.code, j.ok, j.firstFailure]).toEqual([0, true, null]);
    expect(j.checks.length).toBeGreaterThan(15);
  });

  it("exits 1 naming the first failure when a segment changed", async () => {
    const copy = join(mkdtempSync(join(tmpdir(), "verify-cli-")), "b");
    await writeDirAtomic(copy, new Map(["kernel.bin", "initrd.bin", "dtb.bin", "elfcorehdr.bin", "purgatory.bin", "manifest.json", "segments.bin"]
      .map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))])));
    const k = readFileSync(join(copy, "initrd.bin"));
    k[7]! ^= 0x80;
    writeFileSync(join(copy, "initrd.bin"), k);
    const r = await cli(copy);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAILED: initrd: sha256: initrd.bin hashes to [0-9a-f]{64}, the manifest says [0-9a-f]{64}\n$/);
  });

  it("exits 1 with the error as JSON for a directory that is not a bundle", async () => {
    const r = await cli(join(dir, "nope"), "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).error).toMatchObject({ code: "NO_MANIFEST", where: join(dir, "nope", "manifest.json") });
  });
});
