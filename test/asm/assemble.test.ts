import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { Assembler, disassemble, getAssembler } from "../../toolchain/asm/index.js";
import type { Assembly, SourceLine } from "../../toolchain/asm/index.js";
import { expandTemplateFile } from "../../toolchain/purgatory/index.js";
import { gnuAssemble } from "./_gnu.js";

let asm: Assembler;
beforeAll(async () => {
  asm = await getAssembler();
});

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString("hex");

async function failure(text: string): Promise<InputError> {
  try {
    await asm.assemble(text, { file: "t.S" });
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

/** Every program this project ships, as the assembler sees it. */
function programs(): [string, SourceLine[]][] {
  const standin = "test/purgatory/fixtures/standin-kernel.S";
  return [
    ["templates/purgatory.S", expandTemplateFile("purgatory.S", {
      regions: 16, region_bytes: 768, console_kind: 1, console_base: 0x9000000n, console_shift: 0, console_width: 4, policy: 0, psci: 3, flags: 0,
      pool_bytes: 131072,
    })],
    ["templates/sha256-harness.S", expandTemplateFile("sha256-harness.S", { table: 0x41000000n, routine: "sha256_ce" })],
    [standin, readFileSync(standin, "utf8").split("\n").map((text, i) => ({ file: standin, line: i + 1, text }))],
  ];
}

/** Registers and numbers of an operand string; labels become their absolute addresses. */
function operands(text: string, a: Assembly): { regs: string[]; nums: bigint[] } {
  const t = text.toLowerCase();
  const regs = [...t.matchAll(/\b([wxqv]\d+|[wx]zr|sp)\b/g)].map((m) => m[1]!);
  const nums = [...t.matchAll(/#(-?(?:0x[0-9a-f]+|\d+))\b/g)].map((m) => BigInt(m[1]!.replace(/^-/, "")) * (m[1]!.startsWith("-") ? -1n : 1n));
  for (const [name, off] of a.labels) if (new RegExp(`(^|[\\s,])${name}$`).test(text.trim())) nums.push(a.address + BigInt(off));
  return { regs, nums };
}

// Aliases Capstone prints for what the source writes.
const ALIAS: Record<string, string> = { movz: "mov" };

describe("Assembler.assemble", () => {
  it("assembles AArch64 and reports label offsets", async () => {
    const a = await asm.assemble("start: nop\nnext: b start\n.quad 7", { address: 0x1000n });
    expect(hexOf(a.bytes)).toBe("1f2003d5ffffff170700000000000000");
    expect([...a.labels]).toEqual([["start", 0], ["next", 4]]);
    expect(a.statements.map((p) => [p.offset, p.size])).toEqual([[0, 0], [0, 4], [4, 0], [4, 4], [8, 8]]);
  });

  it("aligns absolute addresses, as Keystone does", async () => {
    expect((await asm.assemble("nop\n.balign 16\nnop", { address: 0x1000n })).bytes.length).toBe(20);
    expect((await asm.assemble("nop\n.balign 16\nnop", { address: 0x1004n })).bytes.length).toBe(16);
  });

  it("catches a statement Keystone drops without an error (`foo bar baz`) and names its line", async () => {
    const e = await failure("nop\nfoo bar baz\nnop");
    expect(e.code).toBe("ASM_DROPPED");
    expect(e.where).toBe("t.S:2");
    expect(e.message).toContain("Keystone emitted 0 bytes up to here, the model expects 8");
  });

  it("checks every statement of a program larger than one statement-table window (5,000 statements)", async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => (i % 1000 === 0 ? `l${i}: add x0, x0, #${i % 4096}` : "nop"));
    const a = await asm.assemble([...lines, "b l0"].join("\n"));
    expect(a.bytes.length).toBe(4 * 5001);
    expect(a.labels.get("l4000")).toBe(16000);
    expect(a.statements.filter((p) => p.statement.kind === "insn").every((p, i) => p.offset === 4 * i && p.size === 4)).toBe(true);
    const e = await failure([...lines.slice(0, 3500), "foo bar baz", ...lines.slice(3500)].join("\n"));
    expect(e.code).toBe("ASM_DROPPED");
    expect(e.where).toBe("t.S:3501");
  });

  it("assembles a program of more text than Keystone takes in one call, byte for byte as GNU as does", async () => {
    const body = Array.from({ length: 6000 }, (_, i) =>
      i % 500 === 0 ? `far${i}: adr x${i % 29}, far${(i + 3000) % 6000}` : `add x${i % 29}, x${(i + 1) % 29}, x${(i + 2) % 29}, lsl #${i % 64}`,
    );
    const src = [...body, ".balign 16", "tail: .ascii \"ends\"", "b far0"].join("\n");
    expect(Buffer.byteLength(src)).toBeGreaterThan(2 * 75_600);
    const a = await asm.assemble(src);
    expect(hexOf(a.bytes)).toBe(hexOf(gnuAssemble(src)));
    expect(a.labels.get("far5500")).toBe(4 * 5500);
  });

  it("refuses a program whose labels alone are more text than Keystone takes in one call", async () => {
    const e = await failure(Array.from({ length: 8000 }, (_, i) => `a_rather_long_label_number_${i}: nop`).join("\n"));
    expect(e.code).toBe("ASM_ERROR");
    expect(e.message).toContain("Keystone takes at most");
  });

  it("assembles .inst, which Keystone alone drops", async () => {
    expect(hexOf((await asm.assemble(".inst 0xd503201f, 0xd65f03c0")).bytes)).toBe("1f2003d5c0035fd6");
  });

  it("reports Keystone's error at the failing line, inside macros too", async () => {
    const e = await failure("nop\n.macro M\n  mov w0, #0x84000009\n.endm\nnop\nM");
    expect(e.where).toBe("t.S:3");
    expect(e.message).toContain('t.S:3 (in macro M, called at t.S:6): "mov w0, #0x84000009"');
    const missing = await failure("nop\nadr x0, nowhere\nnop");
    expect(missing.where).toBe("t.S:2");
    expect(missing.message).toContain("KS_ERR_ASM_SYMBOL_MISSING");
    expect(missing.code).toBe("ASM_ERROR");
  });

  it("resolves forward references while it looks for the failing line", async () => {
    const e = await failure("b later\nldr x0, =0x1\nmov w0, #0x84000009\nlater: nop");
    expect(e.where).toBe("t.S:3");
  });

  it("agrees byte for byte with GNU as on every modelled directive", async () => {
    const src = [
      "nop", ".byte 1, 2, 3", ".balign 8", ".hword 0x1234", ".short 5", ".word 0xdeadbeef", ".long 1, 2",
      '.ascii "ab\\n\\r\\t\\\\\\"\\101"', '.asciz "x", "yz"', '.string "s"', ".p2align 3", ".quad 0x0123456789abcdef",
      ".space 3", ".skip 2, 0xaa", ".zero 1", ".align 4", ".equ K, 0x18", "ldr w0, [x1, #K]", ".inst 0xd503201f",
      "sha256su0 v1.4s, v2.4s",
    ].join("\n");
    expect(hexOf((await asm.assemble(src)).bytes)).toBe(hexOf(gnuAssemble(src)));
  });

  it.each(programs())("agrees byte for byte with GNU as on %s", async (_name, lines) => {
    const ours = await asm.assemble(lines);
    expect(hexOf(ours.bytes)).toBe(hexOf(gnuAssemble(lines.map((l) => l.text).join("\n"))));
  });

  it.each(programs())("disassembles %s back to its source, instruction by instruction (Capstone)", async (_name, lines) => {
    const a = await asm.assemble(lines, { address: 0x4000_0000n });
    const listing = new Map((await disassemble(a.bytes, { address: a.address })).map((l) => [l.offset, l.text]));
    let checked = 0;
    for (const p of a.statements) {
      if (p.statement.kind !== "insn") continue;
      const got = listing.get(p.offset) ?? "";
      const [gotMn = "", ...gotOps] = got.split(" ");
      const want = p.statement.source;
      const wantOps = want.slice(p.statement.mnemonic.length);
      const where = `${p.statement.origin.file}:${p.statement.origin.line} "${want}" vs "${got}"`;
      expect(gotMn, where).toBe(ALIAS[p.statement.mnemonic] ?? p.statement.mnemonic);
      const g = operands(gotOps.join(" "), a);
      const w = operands(wantOps, a);
      expect(g.regs, where).toEqual(w.regs);
      if (!(p.statement.mnemonic in ALIAS)) expect(g.nums, where).toEqual(w.nums);
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
  });
});
