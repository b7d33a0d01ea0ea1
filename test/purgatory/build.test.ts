import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stableJson } from "../../toolchain/bytes/index.js";
import { expectGolden } from "../_golden.js";
import { build, DEFAULT_PAGE_TABLES, FLAGS, headerRows, parseConsole, parseHeader, readSlots } from "../../toolchain/purgatory/index.js";
import type { Build } from "../../toolchain/purgatory/index.js";
import { gnuAssemble } from "../asm/_gnu.js";

// The default blob (16 regions, PL011 at 0x09000000, policy spin, PSCI auto), pinned. A
// change to purgatory-src/, templates/ or the assembler changes this on
// purpose: check the listing diff in fixtures/default-build/, then update the
// pin and run `UPDATE_GOLDENS=1 npx vitest run --config test/vitest.config.ts test/purgatory/build.test.ts`.
const DEFAULT_SHA256 = "98e61424b6356ec256f975a84dd0818cd933969a737f5a6520dec3ac82418a19";

const GOLDEN = "test/purgatory/fixtures/default-build";

let def: Build;
beforeAll(async () => {
  def = await build();
});

/** Human-readable dumps of a build: the header, the slot map, and a listing of every statement. */
function dumps(b: Build): Record<string, string> {
  const header = headerRows(b.header)
    .map((r) => `0x${r.offset.toString(16).padStart(2, "0")}  ${r.field.padEnd(22)} ${r.value.padEnd(12)} ${r.note}`)
    .join("\n");
  const listing = b.assembly.statements
    .filter((p) => p.statement.kind !== "symbol")
    .map((p) => {
      const bytes = Buffer.from(b.blob.subarray(p.offset, p.offset + Math.min(p.size, 8))).toString("hex") + (p.size > 8 ? "…" : "");
      const o = p.statement.origin;
      return `${p.offset.toString(16).padStart(5, "0")}  ${bytes.padEnd(17)} ${p.statement.source.replace(/\s+/g, " ").padEnd(40)} ${o.file}:${o.line}`;
    })
    .join("\n");
  return { "header.txt": header + "\n", "slots.json": stableJson(b.slots) + "\n", "listing.txt": listing + "\n" };
}

describe("build", () => {
  it("makes the pinned default blob", () => {
    expect(def.sha256).toBe(DEFAULT_SHA256);
  });

  it("matches the golden dumps in fixtures/default-build/ (header, slot map, listing)", () => {
    for (const [name, text] of Object.entries(dumps(def))) {
      expectGolden(join(GOLDEN, name), text);
    }
  });

  it("is deterministic: building twice gives the same bytes", async () => {
    expect((await build()).blob).toEqual(def.blob);
  });

  it("is position-independent: assembled for other (page-aligned) addresses, the bytes are the same", async () => {
    for (const at of [0x4000_1000n, 0x8_8000_0000n, 0xffff_0000_1234_5000n]) expect((await build({ assembleAt: at })).blob).toEqual(def.blob);
  });

  it("agrees byte for byte with GNU as on the same source", () => {
    expect(Buffer.from(gnuAssemble(def.source.map((l) => l.text).join("\n"))).equals(Buffer.from(def.blob))).toBe(true);
  });

  it("lays the header out as abi.ts declares it, the slots just after it", () => {
    const h = parseHeader(def.blob);
    const labels = def.assembly.labels;
    expect(h.code_start).toBe(labels.get("purgatory_entry"));
    expect(h.code_end).toBe(labels.get("code_end"));
    expect(h.kernel_entry_offset).toBe(0x60);
    expect(h.regions_offset).toBe(0xa8);
    expect(labels.get("purgatory_vectors")! % 2048).toBe(0); // VBAR needs 2 KiB alignment: the blob is loaded page-aligned
    expect(labels.get("purgatory_vectors")!).toBeLessThan(h.code_end); // inside the code range, so `inspect` disassembles it
    expect(labels.get("purgatory_digest")! % 4096).toBe(0); // run-time writes start a page of their own
    expect(labels.get("purgatory_digest")!).toBeGreaterThanOrEqual(h.code_end);
  });

  it("builds the fast path on by default, and sets flags no_mmu / no_crypto from the options", async () => {
    expect(readSlots(def.blob).flags).toBe(0);
    expect(readSlots((await build({ mmu: false })).blob).flags).toBe(FLAGS.no_mmu);
    expect(readSlots((await build({ crypto: false })).blob).flags).toBe(FLAGS.no_crypto);
    expect(readSlots((await build({ mmu: false, crypto: false })).blob).flags).toBe(FLAGS.no_mmu | FLAGS.no_crypto);
  });

  it("reports memsz: the blob (whole pages) and the page-table pool, which pageTables sizes", async () => {
    expect(def.memsz).toBe(BigInt(def.blob.length + DEFAULT_PAGE_TABLES * 4096));
    expect(def.memsz).toBe(BigInt(def.header.mem_size));
    const small = await build({ pageTables: 4 });
    expect(small.blob).toHaveLength(def.blob.length);
    expect(small.memsz).toBe(BigInt(def.blob.length + 4 * 4096));
    expect((await build({ pageTables: 0 })).memsz).toBe(BigInt(def.blob.length));
  });

  it("writes the options into the initial slots and sizes the region table; the blob is not patched", async () => {
    const b = await build({ regions: 32, console: parseConsole("8250@0x1c28000,shift=2,width=4"), policy: "reset", psci: "smc" });
    expect(b.header.region_capacity).toBe(32);
    expect(readSlots(b.blob)).toMatchObject({
      console_kind: "8250", console_base: 0x1c28000n, console_shift: 2, console_width: 4, policy: "reset", psci: "smc", regions: [], segment_memsz: 0n, patched: false,
    });
    expect(readSlots(def.blob)).toMatchObject({ psci: "auto", patched: false });
  });

  it.each([
    ["15 regions", { regions: 15 }, "BAD_VALUE"],
    ["257 regions", { regions: 257 }, "BAD_VALUE"],
    ["16.5 regions", { regions: 16.5 }, "BAD_VALUE"],
    ["a misaligned PL011", { console: { kind: "pl011", base: 0x9000002n, shift: 0, width: 4 } }, "MISALIGNED"],
    ["an unknown policy", { policy: "explode" }, "BAD_VALUE"],
    ["an unknown PSCI conduit", { psci: "svc" }, "BAD_VALUE"],
    ["policy reset with no PSCI conduit", { policy: "reset", psci: "none" }, "NO_PSCI"],
    ["-1 page tables", { pageTables: -1 }, "BAD_VALUE"],
    ["4097 page tables", { pageTables: 4097 }, "BAD_VALUE"],
    ["2.5 page tables", { pageTables: 2.5 }, "BAD_VALUE"],
  ] as const)("refuses %s", async (_what, options, code) => {
    await expect(build(options as Parameters<typeof build>[0])).rejects.toMatchObject({ code });
  });
});
