import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/** The `purgatory` command as `npm run build` bundles it (package.json's bin). */
const MAIN = join(import.meta.dirname, "../../dist/bin/purgatory.mjs");
const FIXTURES = join(import.meta.dirname, "fixtures");

/** Runs the command with its stdout's reading end closed before it writes anything. */
function intoClosedPipe(args: string[]): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy();
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return new Promise((resolve) => child.on("close", (status, signal) => resolve({ status, signal, stderr })));
}

describe("purgatory (main)", () => {
  it("writes into a closed pipe quietly and keeps the command's own exit status", async () => {
    const ok = await intoClosedPipe(["explain", join(FIXTURES, "explain-bundle-crash"), "--json"]);
    expect(ok).toEqual({ status: 0, signal: null, stderr: "" });
    const failed = await intoClosedPipe(["explain", join(FIXTURES, "explain-list-bad", "load.json"), "--json"]);
    expect(failed).toEqual({ status: 1, signal: null, stderr: "" });
  }, 30_000);

  it("refuses an option given twice as a usage error naming the option, before any other check", () => {
    const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
    const kernel = run(["bundle", "--mode", "crash", "--kernel", "K", "--kernel", "K", "-t", "t.json", "-o", "out"]);
    expect(kernel.status).toBe(2);
    expect(kernel.stderr).toContain('purgatory: --kernel is given 2 times ("K", "K"); give it once.');
    expect(kernel.stderr).not.toMatch(/Array|at .*\.js:\d+/);
    const seed = run(["bundle", "--mode", "crash", "--kernel", "K", "--seed", "00", "--seed", "11", "-t", "t.json", "-o", "out"]);
    expect(seed.status).toBe(2);
    expect(seed.stderr).toContain('--seed is given 2 times ("00", "11")');
    const alias = run(["describe", "-o", "a.json", "--output", "b.json"]);
    expect(alias.status).toBe(2);
    expect(alias.stderr).toContain("-o is given 2 times");
  }, 30_000);

  it("lets an option declared to take several values take them", () => {
    const r = spawnSync(process.execPath, [MAIN, "fdt", "set", "-t", "u32", "missing.dtb", "/chosen", "cells", "1", "2"], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("purgatory: Cannot read missing.dtb: no such file (ENOENT). Check the path and its permissions.\n");
  }, 30_000);

  it("reads a positional - from stdin, as it does an option's", () => {
    const run = (args: string[], file: string) => spawnSync(process.execPath, [MAIN, ...args], { input: readFileSync(file), encoding: "utf8" });
    const load = join(FIXTURES, "explain-list-bad", "load.json");
    const byName = spawnSync(process.execPath, [MAIN, "explain", load], { encoding: "utf8" });
    expect(byName.status).toBe(1);
    const piped = run(["explain", "-"], load);
    expect(piped.status).toBe(1);
    expect(piped.stdout).toBe(byName.stdout.replace(load, "-"));
    const image = join(import.meta.dirname, "../image/fixtures/uki-zboot/input.bin");
    const info = run(["image", "info", "-", "--json"], image);
    expect([info.status, info.stderr]).toEqual([0, ""]);
    expect(JSON.parse(info.stdout)).toMatchObject({ formatChain: ["UKI", "zboot", "gzip", "Image"], imageSize: "0x10000" });
    const stray = run(["image", "info", "-", "-"], image);
    expect([stray.status, stray.stderr.split("\n")[0]]).toEqual([2, "purgatory: Unknown argument: -"]);
  }, 30_000);

  it("refuses - as an output, which would be a file named -, before writing anything", () => {
    const dir = mkdtempSync(join(tmpdir(), "purgatory-main-"));
    try {
      const dtb = spawnSync("dtc", ["-I", "dts", "-O", "dtb"], { input: "/dts-v1/; / { chosen { }; };" }).stdout;
      const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, input: dtb, encoding: "utf8" });
      const set = run(["fdt", "set", "-t", "string", "-", "/chosen", "x", "y"]);
      expect(dtb.length).toBeGreaterThan(40);
      expect(set.status).toBe(2);
      expect(set.stderr).toContain("purgatory: Cannot write to -: this output is a file, not standard output (at -). Give a file name");
      const bundle = run(["bundle", "--mode", "reboot", "--kernel", "K", "-t", "t.json", "-o", "-"]);
      expect([bundle.status, bundle.stderr.split("\n")[0]]).toEqual([2, "purgatory: Cannot write to -: this output is a file, not standard output (at -). Give a file name (-o FILE; for fdt set with the blob on stdin, -o FILE too)"]);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
