import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeSha2, SHA2_MNEMONICS } from "../../toolchain/asm/index.js";
import { gnuAssemble } from "./_gnu.js";

const OPERANDS: Record<string, (d: number, n: number, m: number) => string> = {
  sha256h: (d, n, m) => `q${d}, q${n}, v${m}.4s`,
  sha256h2: (d, n, m) => `q${d}, q${n}, v${m}.4s`,
  sha256su0: (d, n) => `v${d}.4s, v${n}.4s`,
  sha256su1: (d, n, m) => `v${d}.4s, v${n}.4s, v${m}.4s`,
};

describe("encodeSha2", () => {
  it("agrees with aarch64-linux-gnu-as on every mnemonic over random registers", () => {
    const lines: string[] = [];
    fc.assert(
      fc.property(fc.constantFrom(...SHA2_MNEMONICS), fc.nat(31), fc.nat(31), fc.nat(31), (mn, d, n, m) => {
        lines.push(`${mn} ${OPERANDS[mn]!(d, n, m)}`);
      }),
      { seed: 0x5a2, numRuns: 200 },
    );
    for (const mn of SHA2_MNEMONICS) lines.push(`${mn} ${OPERANDS[mn]!(31, 31, 31)}`, `${mn.toUpperCase()} ${OPERANDS[mn]!(0, 0, 0).toUpperCase()}`);
    const gnu = gnuAssemble(lines.join("\n"));
    const view = new DataView(gnu.buffer, gnu.byteOffset, gnu.byteLength);
    expect(gnu.length).toBe(4 * lines.length);
    for (const [i, line] of lines.entries()) {
      const [mn = "", ...rest] = line.split(" ");
      expect(encodeSha2(mn, rest.join(" ")), line).toBe(view.getUint32(4 * i, true));
    }
  });

  it.each([
    ["sha256h", "q0, q1, q2", "sha256h takes qN, qN, vN.4s"],
    ["sha256h", "q0, q32, v2.4s", "not"],
    ["sha256su0", "v0.4s", "sha256su0 takes vN.4s, vN.4s"],
    ["sha256su1", "v0.2d, v1.4s, v2.4s", "not"],
    ["sha1h", "s0, s1", "not a SHA-256 instruction"],
  ])("explains bad operands: %s %s", (mn, ops, msg) => {
    expect(encodeSha2(mn, ops)).toContain(msg);
  });
});
