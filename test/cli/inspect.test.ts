import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandModule } from "yargs";
import inspectCommand from "../../toolchain/cli/inspect.js";
import { hex64 } from "../../toolchain/bytes/index.js";
import { build, patch } from "../../toolchain/purgatory/index.js";
import type { Build } from "../../toolchain/purgatory/index.js";
import { runCommand } from "./_purgatory-cli.js";

const dir = mkdtempSync(join(tmpdir(), "purgatory-inspect-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[]) => runCommand(inspectCommand as CommandModule<object, never>, ["inspect", ...args]);

let b: Build;
let file: string;
beforeAll(async () => {
  b = await build();
  file = join(dir, "p.bin");
  const sha = new Uint8Array(32).fill(0xab);
  writeFileSync(file, patch(b.blob, {
    kernel_entry: 0x4020_0000n, dtb_addr: 0x4400_0000n, regions: [{ start: 0x4400_0000n, length: 0x1234n, sha256: sha }], segment_memsz: b.memsz,
  }));
});

describe("purgatory inspect", () => {
  it("shows the header, every slot with its value, the regions and the code", async () => {
    const r = await cli([file]);
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toContain(`${file}: purgatory ABI 3, ${b.blob.length} bytes (memsz ${b.memsz}), sha256 `);
    expect(r.out).toContain("  flags         @0x9c   0x0   (fast path)\n");
    expect(r.out).toContain('  0x8   magic                 "PURGATRY"');
    expect(r.out).toContain("  kernel_entry  @0x60   0x0000000040200000\n");
    expect(r.out).toContain("  dtb_addr      @0x68   0x0000000044000000\n");
    expect(r.out).toContain("  console_shift @0x8c   0\n");
    expect(r.out).toContain("  console_width @0x90   4   (console pl011@0x9000000)\n");
    expect(r.out).toContain("  psci          @0x98   auto\n");
    expect(r.out).toContain(`  segment_memsz @0x78   ${hex64(b.memsz)}\n`);
    expect(r.out).toContain('  patched       @0x80   yes ("PATCHED!")\n');
    expect(r.out).toContain("  region_count  @0xa0   1 of 16\n");
    expect(r.out).toContain(`     0  start 0x0000000044000000  length 0x0000000000001234  sha256 ${"ab".repeat(32)}\n`);
    const start = b.header.code_start;
    expect(r.out).toContain(`code 0x${start.toString(16)}..${"0x" + b.header.code_end.toString(16)} (${(b.header.code_end - start) / 4} instructions):\n  00${start.toString(16)}  d5034fdf  msr daifset, #0xf\n`);
  });

  it("reports as JSON, and leaves out the disassembly with --no-disasm", async () => {
    const j = JSON.parse((await cli([file, "--json"])).out);
    expect(j.slots).toMatchObject({ kernel_entry: "0x40200000", policy: "spin", regions: [{ start: "0x44000000", length: "0x1234" }] });
    expect(j.disassembly).toHaveLength((b.header.code_end - b.header.code_start) / 4);
    expect(j.header[2]).toEqual({ field: "magic", note: '"PURGATRY"', offset: 8, value: '"PURGATRY"' });
    expect(JSON.parse((await cli([file, "--json", "--no-disasm"])).out).disassembly).toBeUndefined();
  });

  it("names the flags that are set", async () => {
    const flagged = join(dir, "f.bin");
    writeFileSync(flagged, patch(b.blob, { flags: 3 }));
    const out = (await cli([flagged, "--no-disasm"])).out;
    expect(out).toContain("  flags         @0x9c   0x3   (no_mmu, no_crypto)\n");
    expect(out).toContain("  segment_memsz @0x78   0x0000000000000000   (not given: caches stay off)\n");
    expect(out).toContain("  patched       @0x80   no: the blob refuses to run\n");
  });

  it("shows console slots that no build would write as they are, saying so", async () => {
    const odd = join(dir, "o.bin");
    const blob = b.blob.slice();
    new DataView(blob.buffer).setUint32(b.header.console_width_offset, 1, true); // a PL011 with byte accesses
    writeFileSync(odd, blob);
    expect((await cli([odd, "--no-disasm"])).out).toContain("  console_width @0x90   1   (console pl011: shift 0 and width 1 do not go together)\n");
  });

  it("refuses a file that is not a purgatory, with the offset and exit 1", async () => {
    const bad = join(dir, "bad.bin");
    writeFileSync(bad, new Uint8Array(0x100));
    const r = await cli([bad]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('magic is 0000000000000000, not "PURGATRY" (5055524741545259) (at offset 0x8)');
    expect(JSON.parse((await cli([bad, "--json"])).out).error).toMatchObject({ code: "BAD_MAGIC", where: 8 });
  });

  it("reports a file it cannot read", async () => {
    const r = await cli([join(dir, "nope.bin"), "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).error.code).toBe("READ_FAILED");
  });
});
