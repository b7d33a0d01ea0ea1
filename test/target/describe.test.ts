import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import command from "../../toolchain/cli/describe.js";
import { FIXTURE, makeFakeRoot } from "./_fake-root.js";
import { runCollectScript } from "./_collect-script.js";
import { runCli } from "../_cli.js";

const GOLDEN = readFileSync(join(FIXTURE, "target.json"), "utf8");
let root = "";
let out = "";
let capture = "";
beforeAll(() => {
  root = makeFakeRoot();
  out = mkdtempSync(join(tmpdir(), "purgatory-describe-"));
  capture = join(out, "board.capture");
  writeFileSync(capture, runCollectScript(root).stdout);
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

describe("purgatory describe", () => {
  it("prints the same target.json from --root and from --from a collect-target.sh capture", async () => {
    const a = await runCli(command, ["describe", "--root", root]);
    const b = await runCli(command, ["describe", "--from", capture]);
    expect([a.code, a.stderr]).toEqual([0, ""]);
    expect([b.code, b.stderr]).toEqual([0, ""]);
    expect(a.stdout).toBe(GOLDEN);
    expect(b.stdout).toBe(GOLDEN);
  });

  it("reads the capture from stdin with --from -, as its --help and collect-target.sh show", () => {
    const main = join(import.meta.dirname, "../../dist/bin/purgatory.mjs");
    const r = spawnSync(process.execPath, [main, "describe", "--from", "-"], { input: readFileSync(capture), encoding: "utf8" });
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe(GOLDEN);
  });

  it("-o writes the file atomically and prints a summary, as text or --json", async () => {
    const file = join(out, "target.json");
    const t = await runCli(command, ["describe", "--root", root, "-o", file]);
    expect(t.code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(GOLDEN);
    expect(t.stdout).toMatch(/crash kernel 0x6fc00000-0x7fc00000 \(256 MiB\)/);
    expect(t.stdout).toMatch(/vmcoreinfo {3}text of 6\.1\.0-18-arm64/);
    expect(t.stdout).toContain("\n  console      pl011 at 0x9000000 (/pl011@9000000, arm,pl011, shift 0, width 2)\n  PSCI         over HVC\n  CPUs         2 psci\n");
    const j = await runCli(command, ["describe", "--root", root, "-o", file, "--json"]);
    expect(JSON.parse(j.stdout)).toMatchObject({
      output: file, cpuNotes: 2, vmcoreinfoText: true, pageSize: 4096, warnings: [],
      console: { family: "pl011", base: "0x9000000" }, psci: "hvc", cpuEnableMethod: { "/cpus/cpu@0": "psci", "/cpus/cpu@1": "psci" },
    });
    expect(readdirSync(out).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("prints warnings to stderr and keeps stdout pure JSON", async () => {
    const r = makeFakeRoot({ noKcore: true });
    try {
      const res = await runCli(command, ["describe", "--root", r]);
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout).vmcoreinfo.text).toBeUndefined();
      expect(res.stderr).toMatch(/^purgatory: warning: no \/proc\/kcore/m);
    } finally {
      rmSync(r, { recursive: true, force: true });
    }
  });

  it("exits 1 on bad input, with the error as JSON under --json, and writes nothing", async () => {
    const bad = join(out, "cut.capture");
    writeFileSync(bad, readFileSync(capture, "utf8").split("\n").slice(0, -3).join("\n"));
    const file = join(out, "never.json");
    const r = await runCli(command, ["describe", "--from", bad, "-o", file, "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: "TRUNCATED" });
    expect(existsSync(file)).toBe(false);
    const missing = await runCli(command, ["describe", "--from", join(out, "nope")]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/^purgatory: Cannot read .*nope/)]);
  });

  it("exits 2 for --root with --from, and for a page size arm64 does not have", async () => {
    expect((await runCli(command, ["describe", "--root", root, "--from", capture])).code).toBe(2);
    expect((await runCli(command, ["describe", "--root", root, "--page-size", "8192"])).code).toBe(2);
  });

  it.skipIf(process.arch === "arm64")("refuses to describe a live machine that is not arm64", async () => {
    const r = await runCli(command, ["describe"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Cannot describe this machine: it is .*--from/);
  });
});
