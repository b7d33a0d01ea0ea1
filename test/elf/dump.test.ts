import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { dumpElfHeaders } from "../../toolchain/elf/index.js";
import { buildElfcorehdr } from "../../toolchain/target/index.js";
import { parseTarget } from "../../toolchain/target/index.js";

const TARGET = parseTarget(readFileSync(new URL("../target/fixtures/qemu-virt-6.1/target.json", import.meta.url), "utf8"));
const GOOD = buildElfcorehdr(TARGET).bytes;

describe("dumpElfHeaders", () => {
  it("accounts for every byte: 20 header fields, 8 per program header, then the padding", () => {
    const lines = dumpElfHeaders(GOOD).trimEnd().split("\n");
    const fields = lines.filter((l) => /^ {2}0x/.test(l));
    expect(fields.length).toBe(20 + 6 * 8);
    expect(lines.at(-1)).toBe("padding 0x0190-0x03ff: 624 zero bytes");
    expect(lines).toContain("  0x0012  e_machine     183");
    expect(lines).toContain("  0x00e8  p_type        1 (PT_LOAD)");
  });

  it("shows a changed padding byte and a changed field", () => {
    const b = GOOD.slice();
    b[0x300] = 1;
    b[0x58] = 0xff; // low byte of program header 0's p_paddr
    const text = dumpElfHeaders(b);
    expect(text).toMatch(/padding 0x0190-0x03ff: 624 bytes, first non-zero at 0x0300/);
    expect(text).toMatch(/0x0058 {2}p_paddr {7}0x7fdd3eff/);
  });

  it("throws InputError for what is not ELF", () => {
    expect(() => dumpElfHeaders(new Uint8Array(64))).toThrow(InputError);
  });
});
