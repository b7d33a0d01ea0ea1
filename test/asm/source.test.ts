import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { formatOrigin, parseSource, sourceLines } from "../../toolchain/asm/index.js";

const parse = (text: string) => parseSource(sourceLines(text, "t.S"));

function refusal(text: string): InputError {
  try {
    parse(text);
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

describe("parseSource", () => {
  it("models each statement's size: labels and symbols 0, instructions 4, data counted, alignment kept", () => {
    const s = parse(
      [
        "start: nop // comment",
        "a: b: ret",
        "\t.equ FR, 0x18",
        '.ascii "ab", "c\\n"',
        '.asciz "x\\101\\"", ""',
        ".byte 1, 2, (3 + 4)",
        ".hword 1", ".short 1, 2", ".word 1", ".long 1, 2", ".quad 1, 2, 3",
        ".space 5", ".skip 3, 0xff", ".zero 2",
        ".balign 8", ".p2align 4", ".align 3, 0",
      ].join("\n"),
    );
    expect(s.map((x) => [x.kind, "size" in x ? x.size : "align" in x ? x.align : undefined])).toEqual([
      ["label", undefined], ["insn", undefined], ["label", undefined], ["label", undefined], ["insn", undefined],
      ["symbol", undefined],
      ["data", 4], ["data", 5], ["data", 3],
      ["data", 2], ["data", 4], ["data", 4], ["data", 8], ["data", 24],
      ["data", 5], ["data", 3], ["data", 2],
      ["align", 8], ["align", 16], ["align", 8],
    ]);
  });

  it("rewrites .inst as .long and the SHA-256 instructions as .long words", () => {
    const s = parse(".inst 0xd503201f\nsha256h q0, q1, v2.4s");
    expect(s.map((x) => x.text)).toEqual([".long 0xd503201f", ".long 0x5e024020"]);
    expect(s[1]).toMatchObject({ kind: "data", size: 4, source: "sha256h q0, q1, v2.4s" });
  });

  it("expands GNU-style macros, with \\() and the call site in each origin", () => {
    const s = parse(".macro M r, v\n  add \\r, \\r, #\\v\\()0\n.endm\n  M x0, 1\n  M x1, 2");
    expect(s.map((x) => x.text)).toEqual(["add x0, x0, #10", "add x1, x1, #20"]);
    expect(formatOrigin(s[1]!.origin)).toBe("t.S:2 (in macro M, called at t.S:5)");
  });

  it("looks macro names up without regard to case, before mnemonics, as GNU as does", () => {
    expect(parse(".macro DUP r\n  bfi \\r, \\r, #32, #32\n.endm\n  dup x3").map((x) => x.text)).toEqual(["bfi x3, x3, #32, #32"]);
    expect(refusal(".macro DUP r\n  bfi \\r, \\r, #32, #32\n.endm\n  dup v3.16b, w11").message).toContain("macro dup takes 1 arguments (r), got 2");
  });

  it("nests macros and names the whole call chain", () => {
    const e = refusal(".macro IN\n  .text\n.endm\n.macro OUT\n  IN\n.endm\nOUT");
    expect(e.message).toContain("t.S:2 (in macro IN, called at t.S:5 (in macro OUT, called at t.S:7))");
  });

  it.each([
    [".text", "directive .text is not supported"],
    [".data", "directive .data is not supported"],
    [".section .text", "directive .section is not supported"],
    [".rept 3", "directive .rept is not supported"],
    [".globl foo", "directive .globl is not supported"],
    ["nop ; nop", "`;` statement separators"],
    ["nop /* x */", "block comments"],
    ["# comment", "`#` comments"],
    ["b 1f", "numeric local label"],
    ["cbz x0, 2b", "numeric local label"],
    [".space N", "needs a literal size"],
    [".balign 3", "power-of-two alignment"],
    [".balign 8, 0, 4", "power-of-two alignment"],
    [".byte", "needs at least one value"],
    ['.ascii "\\x41"', "unsupported escape \\x"],
    [".ascii abc", "expected a quoted string"],
    [".equ 1x, 2", "needs NAME, value"],
    ["__asm_s0: nop", "reserved prefix"],
    ["sha256h q0, q1", "sha256h takes qN, qN, vN.4s"],
    [".macro M a\n.endm\nM", "takes 1 arguments (a), got 0"],
    [".macro M a\n  add \\b, x0, x0\n.endm\nM x1", "has no parameter \\b"],
    [".macro M\n.macro N\n.endm", "cannot be defined inside another macro"],
    [".macro M\nnop", "has no .endm"],
    [".endm", ".endm without .macro"],
    [".macro M\n.endm\n.macro M\n.endm", "already defined"],
    [".macro M\n.endm\n.macro m\n.endm", "already defined"],
  ])("refuses %j", (text, message) => {
    const e = refusal(text);
    expect(e.code).toBe("ASM_SYNTAX");
    expect(e.message).toContain(message);
    expect(e.where).toMatch(/^t\.S:\d+$/);
  });

  it("reports the line of a refusal", () => {
    expect(refusal("nop\nnop\n.data").where).toBe("t.S:3");
  });
});
