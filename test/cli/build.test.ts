import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CommandModule } from "yargs";
import buildCommand from "../../toolchain/cli/build.js";
import { stableJson } from "../../toolchain/cli/_run.js";
import { build, readSlots } from "../../toolchain/purgatory/index.js";
import { runCommand } from "./_purgatory-cli.js";

const dir = mkdtempSync(join(tmpdir(), "purgatory-build-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[]) => runCommand(buildCommand as CommandModule<object, never>, ["build", ...args]);

describe("purgatory build", () => {
  it("writes the blob and OUTPUT.json (the slot map), and says what it wrote", async () => {
    const out = join(dir, "p.bin");
    const r = await cli(["-o", out]);
    expect(r).toMatchObject({ code: 0, err: "" });
    const lib = await build();
    expect(new Uint8Array(readFileSync(out))).toEqual(lib.blob);
    expect(readFileSync(`${out}.json`, "utf8")).toBe(stableJson(lib.slots) + "\n");
    expect(r.out).toBe(
      `wrote ${out}: ${lib.blob.length} bytes, sha256 ${lib.sha256} (${lib.assembler})\n` +
        `  memsz ${lib.memsz} bytes (the blob and its page-table pool): give the segment at least this\n` +
        "  console pl011@0x9000000, on mismatch spin, psci auto, 16 regions, flags none (fast path)\n" +
        `  slot map: ${out}.json\n`,
    );
  });

  it("sets the console, policy, PSCI conduit and table size from the options", async () => {
    const out = join(dir, "q.bin");
    const r = await cli(["--console", "8250@0x1c28000,shift=2,width=4", "--on-mismatch", "reset", "--psci", "smc", "--regions", "20", "-o", out]);
    expect(r.code).toBe(0);
    expect(readSlots(new Uint8Array(readFileSync(out)))).toMatchObject({
      console_kind: "8250", console_base: 0x1c28000n, console_shift: 2, console_width: 4, policy: "reset", psci: "smc",
    });
    expect(r.out).toContain("  console 8250@0x1c28000,shift=2,width=4, on mismatch reset, psci smc, 20 regions");
    const c = join(dir, "c.bin");
    expect((await cli(["--console", "cadence@0xff000000", "-o", c])).code).toBe(0);
    expect(readSlots(new Uint8Array(readFileSync(c)))).toMatchObject({ console_kind: "cadence", console_base: 0xff000000n, console_width: 4 });
  });

  it("turns parts of the fast path off and sizes the page-table pool", async () => {
    const out = join(dir, "f.bin");
    const r = await cli(["--no-mmu", "--no-crypto", "--page-tables", "8", "-o", out, "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const blob = new Uint8Array(readFileSync(out));
    // The report gives sizes as "0x…" (README); the slot map, a file format of its own, keeps numbers.
    expect(j).toMatchObject({ flags: ["no_mmu", "no_crypto"], memsz: `0x${(blob.length + 8 * 4096).toString(16)}`, slots: { memsz: blob.length + 8 * 4096 } });
    expect(readSlots(blob).flags).toBe(3);
  });

  it("prints the report with the slot map as JSON instead of writing OUTPUT.json", async () => {
    const out = join(dir, "j.bin");
    const r = await cli(["--console", "none", "-o", out, "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ output: out, console: "none", onMismatch: "spin", psci: "auto", regions: 16, flags: [], slots: { abi: 3, slots: { kernel_entry: { offset: 0x60 } } } });
    expect(existsSync(`${out}.json`)).toBe(false);
  });

  it.each([
    [["--console", "pl011"], "BAD_CONSOLE"],
    [["--console", "pl011@0x9000001"], "MISALIGNED"],
    [["--console", "8250@0x1000,shift=1,width=4"], "BAD_CONSOLE"],
    [["--on-mismatch", "reset", "--psci", "none"], "NO_PSCI"],
    [["--regions", "8"], "BAD_VALUE"],
    [["--page-tables", "5000"], "BAD_VALUE"],
  ])("refuses %j with exit 1 and writes nothing", async (args, code) => {
    const out = join(dir, `bad-${code}.bin`);
    const r = await cli([...args, "-o", out, "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).error.code).toBe(code);
    expect(existsSync(out)).toBe(false);
  });

  it("reports an output it cannot write, and leaves no temporary file", async () => {
    const r = await cli(["-o", join(dir, "missing", "p.bin")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("Cannot write");
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(JSON.parse((await cli(["-o", join(dir, "missing", "p.bin"), "--json"])).out).error.code).toBe("WRITE_FAILED");
  });

  it("refuses an unknown policy as a usage error", async () => {
    await expect(cli(["--on-mismatch", "explode", "-o", join(dir, "x.bin")])).rejects.toThrow(/Invalid values/);
  });
});
