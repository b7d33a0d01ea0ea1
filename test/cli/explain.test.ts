import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import yargs from "yargs";
import bundleCommand from "../../toolchain/cli/bundle.js";
import explain from "../../toolchain/cli/explain.js";
import { planLayout } from "../../toolchain/layout/index.js";
import { serializeTarget } from "../../toolchain/target/index.js";
import { expectGolden, fixtureInput } from "../layout/_fixture.js";
import { buildBundle, writeDirAtomic } from "../../toolchain/bundle/index.js";
import { runCli } from "../_cli.js";
import { syntheticImage, syntheticInitrd, virtTarget } from "../bundle/_inputs.js";

/** Runs `purgatory explain ARGS` in-process; returns stdout, stderr and the exit code. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const so = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  const se = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  process.exitCode = undefined;
  try {
    await yargs(["explain", ...args]).command(explain).strict().fail((msg, e) => {
      throw e ?? new Error(msg);
    }).parseAsync();
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, out, err };
}

const FIXTURES = "test/cli/fixtures/";

/** A crash bundle of the synthetic inputs, built by `purgatory bundle` into a new directory. */
async function realBundle(): Promise<string> {
  const inputs = mkdtempSync(join(scratch, "bundle-"));
  const put = (name: string, bytes: Uint8Array | string) => (writeFileSync(join(inputs, name), bytes), join(inputs, name));
  const dir = join(inputs, "kdump");
  const b = await runCli(bundleCommand, [
    "bundle", "--mode", "crash", "--kernel", put("Image", syntheticImage()), "--initrd", put("initrd", syntheticInitrd()),
    "-t", put("target.json", serializeTarget(virtTarget())), "--append", "console=ttyAMA0", "--seed", "00", "-o", dir,
  ]);
  expect(b.code, b.stderr).toBe(0);
  return dir;
}
const dirs = readdirSync(FIXTURES).filter((d) => d.startsWith("explain-")).sort();
const scratch = mkdtempSync(join(tmpdir(), "explain-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("purgatory explain", () => {
  it.each(dirs)("%s prints its golden report and exit code", async (name) => {
    const dir = FIXTURES + name;
    const file = existsSync(`${dir}/load.json`) ? `${dir}/load.json` : dir;
    const r = await cli([file]);
    expect(r.err).toBe("");
    expectGolden(`${dir}/explain.txt`, `$ purgatory explain ${file}\n${r.out}exit ${r.code}\n`);
  });

  it("reports as JSON: each violation with rule, errno and segment, and the kernel's verdict", async () => {
    const r = await cli([`${FIXTURES}explain-list-bad/load.json`, "--json"]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.kexecLoad).toBe("EADDRNOTAVAIL");
    expect(j.flags).toBe("0xb70001");
    expect(j.violations.map((v: { rule: string; errno: string; segment?: number }) => [v.rule, v.errno, v.segment])).toEqual([
      ["page-alignment", "EADDRNOTAVAIL", 2],
      ["overlap", "EINVAL", 1],
      ["overlap", "EINVAL", 1],
      ["crash-range", "EADDRNOTAVAIL", 4],
      ["kernel-base", "none", 0],
    ]);
  });

  it("exits 0 on every golden layout the planner makes, written as a manifest", async () => {
    for (const name of readdirSync("test/layout/fixtures").filter((d) => d.startsWith("virt-"))) {
      const input = fixtureInput(`test/layout/fixtures/${name}/`);
      const plan = planLayout(input);
      const dir = join(scratch, name);
      rmSync(dir, { recursive: true, force: true });
      writeFileSync(join(scratch, `${name}.target.json`), serializeTarget(input.target));
      const manifest = {
        mode: plan.mode,
        entry: `0x${plan.entry.toString(16)}`,
        flags: `0x${plan.flags.toString(16)}`,
        target: `${name}.target.json`,
        segments: plan.segments.map((s) => ({
          role: s.role,
          mem: `0x${s.mem.toString(16)}`,
          memsz: `0x${s.memsz.toString(16)}`,
          bufsz: `0x${s.bufsz.toString(16)}`,
          ...(s.textOffset !== undefined ? { textOffset: `0x${s.textOffset.toString(16)}`, imageSize: `0x${s.imageSize!.toString(16)}` } : {}),
        })),
      };
      writeFileSync(join(scratch, `${name}.json`), JSON.stringify(manifest));
      const r = await cli([join(scratch, `${name}.json`)]);
      expect({ name, code: r.code, out: r.out }).toMatchObject({ name, code: 0 });
      expect(r.out).toMatch(/no violations/);
    }
  });

  it("lets --target override the manifest's target, and refuses facts that disagree with it", async () => {
    const t = join(scratch, "64k.json");
    writeFileSync(t, serializeTarget({ ...fixtureInput("test/layout/fixtures/virt-1g-crash/").target, pageSize: 65536 }));
    const r = await cli([`${FIXTURES}explain-bundle-crash`, "--target", t]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/page-alignment/);
    const bad = await cli([`${FIXTURES}explain-list-bad/load.json`, "--target", t, "--json"]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.out).error).toMatchObject({ code: "TARGET_MISMATCH", where: "pageSize" });
  });

  it("reads a bundle's purgatory console: says once why there is none, refuses one inside RAM, and warns of spin-table CPUs", async () => {
    const target = {
      ...virtTarget(),
      // An 8250 with 16-bit registers: a UART the purgatory does not drive.
      console: { family: "8250" as const, compatible: "ns16550a", path: "/soc/serial@ff000000", base: 0xff00_0000n, shift: 1, width: 2 as const },
      cpuEnableMethod: { "/cpus/cpu@0": "spin-table", "/cpus/cpu@1": "spin-table" },
    };
    const b = await buildBundle({
      mode: "reboot", kernel: syntheticImage(), initrd: syntheticInitrd(), dtb: null, target, commandLine: "console=ttyPS0", seed: new Uint8Array(1),
    });
    const dir = join(scratch, "spin");
    await writeDirAtomic(dir, b.files);
    const r = await cli([dir]);
    expect(r.code, r.out).toBe(0);
    expect(r.out.match(/the purgatory prints nothing/g)).toEqual(["the purgatory prints nothing"]);
    expect(r.out).toContain("\nnote: the purgatory prints nothing: 8250@0xff000000,shift=1,width=2 is an 8250 with shift 1 and 2-byte accesses; the purgatory drives an 8250 at shift 0..3 with 1- or 4-byte accesses\n");
    expect(r.out).toMatch(/\nwarning: the target's CPUs \/cpus\/cpu@0, \/cpus\/cpu@1 start with spin-table, .* fails with EBUSY/);
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...m, purgatory: { ...m.purgatory, console: "pl011@0x48000000", consoleNote: null } }));
    const inRam = await cli([dir, "--json"]);
    expect(inRam.code).toBe(1);
    const j = JSON.parse(inRam.out);
    expect(j).toMatchObject({ console: "pl011@0x48000000", consoleNote: null, kexecLoad: null });
    expect(j.violations.map((v: { rule: string }) => v.rule)).toEqual(["console-window"]);
    expect(j.violations[0].message).toMatch(/pl011@0x48000000 at \[0x48000000, 0x48001000\) is inside System RAM/);
  });

  it("says what is wrong with unreadable input, with the path and a hint", async () => {
    const r = await cli([scratch]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/manifest\.json.*Is this a bundle directory/);
    const j = await cli([join(scratch, "missing.json"), "--json"]);
    expect(JSON.parse(j.out).error.code).toBe("READ_FAILED");
    writeFileSync(join(scratch, "broken.json"), '{"entry": "0x0", "flags": 0xb7}');
    const b = await cli([join(scratch, "broken.json")]);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/Cannot parse the load.*offset 0x1b/);
  });

  it("reads a bundle's files too: a deleted initrd.bin fails it, and a manifest's own keys are not 'ignored'", async () => {
    const dir = await realBundle();
    const ok = await cli([dir]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("no violations: kexec_load accepts this load");
    expect(ok.out).not.toContain("ignored keys");
    rmSync(join(dir, "initrd.bin"));
    const r = await cli([dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("1 bundle file not as the manifest says");
    expect(r.out).toContain("  [missing] initrd: initrd.bin cannot be read: ENOENT");
    expect(r.out).not.toContain("no violations:");
    const j = await cli([dir, "--json"]);
    expect(JSON.parse(j.out).fileFaults).toEqual([{ role: "initrd", file: "initrd.bin", fault: "missing", detail: "initrd.bin cannot be read: ENOENT" }]);
  });

  it("draws the map with --map and writes it as an SVG with --svg, the console from the manifest", async () => {
    const dir = await realBundle();
    const svg = join(scratch, "map.svg");
    const r = await cli([dir, "--map", "--svg", svg]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/no violations[\s\S]*\nmemory map: crash load, 5 segments, entry 0x[0-9a-f]+\n/);
    expect(r.out).toMatch(/^0x09000000-0x09001000 +4 KiB {2}C console {6}pl011 registers/m);
    expect(r.out).toMatch(/^ {4}0x[0-9a-f]{8}-0x[0-9a-f]{8} +\d+ KiB {2}p pool /m);
    expect(r.out).toContain(`wrote the map to ${svg}`);
    const picture = readFileSync(svg, "utf8");
    expect(picture).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(picture).toContain("console MMIO (the purgatory's UART)");
    await cli([dir, "--svg", svg]);
    expect(readFileSync(svg, "utf8")).toBe(picture);
    const j = await cli([dir, "--map", "--json"]);
    expect(() => JSON.parse(j.out)).not.toThrow();
  });

  it("makes lockdown the verdict (EPERM) for a target that states it, and keeps it a caveat otherwise", async () => {
    const t = join(scratch, "locked.json");
    writeFileSync(t, serializeTarget({ ...fixtureInput("test/layout/fixtures/virt-1g-crash/").target, lockdown: "integrity" }));
    const r = await cli([`${FIXTURES}explain-bundle-crash`, "--target", t]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("[EPERM] lockdown: the target runs under lockdown=integrity (/sys/kernel/security/lockdown): kexec_load refuses every load");
    expect(r.out).toContain("verdict: kexec_load would fail with EPERM");
  });
});
