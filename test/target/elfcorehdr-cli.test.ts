import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import command from "../../toolchain/cli/elfcorehdr.js";
import { buildElfcorehdr } from "../../toolchain/target/index.js";
import { parseTarget } from "../../toolchain/target/index.js";
import { runCli } from "../_cli.js";

// `purgatory elfcorehdr` (toolchain/cli/elfcorehdr.ts), run in-process.
const TARGET_JSON = new URL("./fixtures/qemu-virt-6.1/target.json", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "purgatory-elfcli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("purgatory elfcorehdr", () => {
  it("writes the header, and reports program headers, the VA model, checks and coverage", async () => {
    const out = join(dir, "h.bin");
    const r = await runCli(command, ["elfcorehdr", "-t", TARGET_JSON, "-o", out]);
    expect(r.code).toBe(0);
    expect(new Uint8Array(readFileSync(out))).toEqual(buildElfcorehdr(parseTarget(readFileSync(TARGET_JSON, "utf8"))).bytes);
    expect(r.stdout).toMatch(/wrote .*h\.bin: 1024 bytes, 6 program headers/);
    expect(r.stdout).toMatch(/3 {2}PT_LOAD {2}kernel-text {2}0x40200000 +0xffffaba2dee00000 0x1e80000/);
    expect(r.stdout).toMatch(/vmcore checks: pass/);
    expect(r.stdout).toMatch(/vmcoreinfo coverage: all 9 symbols inside a PT_LOAD/);
    const j = await runCli(command, ["elfcorehdr", "-t", TARGET_JSON, "-o", out, "--json"]);
    const data = JSON.parse(j.stdout);
    expect(data).toMatchObject({ written: true, size: "0x400", vmcore: [], lint: { findings: [] } });
    expect(data.phdrs[4]).toEqual({ index: 4, role: "ram", type: "PT_LOAD", paddr: "0x40000000", vaddr: "0xffff000000000000", size: "0x2fc00000" });
    const d = await runCli(command, ["elfcorehdr", "-t", TARGET_JSON, "-o", out, "--dump"]);
    expect(d.stdout).toMatch(/padding 0x0190-0x03ff: 624 zero bytes/);
  });

  it("refuses to write when a vmcoreinfo symbol is not covered, unless --force", async () => {
    const t = JSON.parse(readFileSync(TARGET_JSON, "utf8"));
    t.vmcoreinfo.text += "SYMBOL(outside)=ffff7fffffff0000\n";
    const tj = join(dir, "t.json");
    writeFileSync(tj, JSON.stringify(t));
    const out = join(dir, "refused.bin");
    const r = await runCli(command, ["elfcorehdr", "-t", tj, "-o", out]);
    expect(r.code).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect(r.stdout).toMatch(/did not write/);
    expect(r.stdout).toMatch(/error SYMBOL_NOT_COVERED: SYMBOL\(outside\)=0xffff7fffffff0000 lies in no PT_LOAD/);
    const f = await runCli(command, ["elfcorehdr", "-t", tj, "-o", out, "--force"]);
    expect(f.code).toBe(1);
    expect(existsSync(out)).toBe(true);
  });

  it("exits 1 with the target path for a target it cannot use", async () => {
    const t = JSON.parse(readFileSync(TARGET_JSON, "utf8"));
    t.crashKernel = null;
    const tj = join(dir, "nocrash.json");
    writeFileSync(tj, JSON.stringify(t));
    const r = await runCli(command, ["elfcorehdr", "-t", tj, "-o", join(dir, "x.bin"), "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: "NO_CRASH_KERNEL", where: "crashKernel" });
  });

  it("exits 2 without -o", async () => {
    expect((await runCli(command, ["elfcorehdr", "-t", TARGET_JSON])).code).toBe(2);
  });
});
