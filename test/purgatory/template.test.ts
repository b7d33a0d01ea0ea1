import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expandTemplate, expandTemplateFile } from "../../toolchain/purgatory/index.js";
import { ROOT } from "../../toolchain/purgatory/template.js";

describe("expandTemplate", () => {
  it("substitutes parameters: numbers in decimal, bigints in hex, strings as given", () => {
    const out = expandTemplate(".word {{n}}\n.quad {{ big }}\n{{s}}", "t.S", { n: 16, big: 0x9000000n, s: "nop" });
    expect(out).toEqual([
      { file: "t.S", line: 1, text: ".word 16" },
      { file: "t.S", line: 2, text: ".quad 0x9000000" },
      { file: "t.S", line: 3, text: "nop" },
    ]);
  });

  it("includes purgatory-src files in place, keeping each line's file and number", () => {
    const out = expandTemplate('nop\n  {{include "sha256-constants.S"}}\nret', "t.S", {});
    expect(out[0]).toEqual({ file: "t.S", line: 1, text: "nop" });
    expect(out[1]).toMatchObject({ file: "purgatory-src/sha256-constants.S", line: 1 });
    expect(out.at(-1)).toEqual({ file: "t.S", line: 3, text: "ret" });
    expect(out.some((l) => l.text.startsWith("sha256_k:"))).toBe(true);
  });

  it.each([
    ["{{nope}}", {}, "t.S:1: unknown template parameter {{nope}}"],
    ["nop", { extra: 1 }, "template parameters never used: extra"],
    ["nop // {{extra}} in a comment is not a use", { extra: 1 }, "template parameters never used: extra"],
    ['{{include "missing.S"}}', {}, "purgatory-src/missing.S does not exist"],
    ['{{include "sha256.S"}}\n{{include "sha256.S"}}', {}, "t.S:2: purgatory-src/sha256.S is included twice"],
  ])("refuses %j", (text, params, message) => {
    expect(() => expandTemplate(text, "t.S", params)).toThrow(message);
  });
});

describe("expandTemplateFile", () => {
  it("reads templates/ from the repository root found above the module", () => {
    expect(existsSync(join(ROOT, "templates", "purgatory.S"))).toBe(true);
    const out = expandTemplateFile("sha256-harness.S", { table: 0x41000000n, routine: "sha256_ce" });
    expect(out[0]?.file).toBe("templates/sha256-harness.S");
    expect(out.some((l) => l.text.includes(".quad\t0x41000000"))).toBe(true);
  });
});
