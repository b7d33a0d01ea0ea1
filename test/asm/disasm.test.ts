import { describe, expect, it } from "vitest";
import { disassemble } from "../../toolchain/asm/index.js";

const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"));

describe("disassemble", () => {
  it("lists one word per line with Capstone's text, addresses resolved", async () => {
    const lines = await disassemble(bytes("1f2003d5ffffff17c0035fd6"), { address: 0x1000n });
    expect(lines).toEqual([
      { offset: 0, word: 0xd503201f, text: "nop" },
      { offset: 4, word: 0x17ffffff, text: "b #0x1000" },
      { offset: 8, word: 0xd65f03c0, text: "ret" },
    ]);
  });

  it("shows data that is not an instruction as .word and goes on", async () => {
    const lines = await disassemble(bytes("00000000c0035fd6"));
    expect(lines.map((l) => l.text)).toEqual([".word 0x00000000", "ret"]);
  });

  it("decodes the SHA-256 instructions Keystone cannot assemble", async () => {
    expect((await disassemble(bytes("2040025e")))[0]?.text).toBe("sha256h q0, q1, v2.4s");
  });

  it("disassembles a word-aligned sub-range and refuses others", async () => {
    const b = bytes("1f2003d5c0035fd61f2003d5");
    expect((await disassemble(b, { start: 4, end: 8 })).map((l) => [l.offset, l.text])).toEqual([[4, "ret"]]);
    await expect(disassemble(b, { start: 2 })).rejects.toBeInstanceOf(RangeError);
    await expect(disassemble(b, { end: 16 })).rejects.toBeInstanceOf(RangeError);
  });
});
