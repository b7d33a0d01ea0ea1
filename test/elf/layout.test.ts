import { describe, expect, it } from "vitest";
import { decodeLayout, encodeLayout } from "../../toolchain/bytes/index.js";
import { ELF64_EHDR, ELF64_NHDR, ELF64_PHDR, align4, ptName } from "../../toolchain/elf/index.js";

// Reference bytes written by hand from the ELF64 specification, not by our encoder.
const EHDR_HEX =
  "7f454c46" + "02" + "01" + "01" + "00" + "00" + "00000000000000" + // e_ident
  "0400" + "b700" + "01000000" + // e_type ET_CORE, e_machine 183, e_version
  "0000000000000000" + "4000000000000000" + "0000000000000000" + // e_entry, e_phoff, e_shoff
  "00000000" + "4000" + "3800" + "0300" + "0000" + "0000" + "0000";
const PHDR_HEX =
  "01000000" + "07000000" + "0000004000000000" + "00000000000000ff" +
  "0000004000000000" + "0000001000000000" + "0000001000000000" + "0000000000000000";

describe("ELF64 layouts", () => {
  it("declare the sizes of the specification", () => {
    expect([ELF64_EHDR.size, ELF64_PHDR.size, ELF64_NHDR.size]).toEqual([64, 56, 12]);
  });

  it("decode and encode an ET_CORE header the way the specification lays it out", () => {
    const bytes = Buffer.from(EHDR_HEX, "hex");
    const h = decodeLayout(ELF64_EHDR, new Uint8Array(bytes));
    expect(h).toMatchObject({ ei_class: 2, ei_data: 1, e_type: 4, e_machine: 183, e_phoff: 64n, e_ehsize: 64, e_phentsize: 56, e_phnum: 3 });
    expect(Buffer.from(encodeLayout(ELF64_EHDR, h)).toString("hex")).toBe(EHDR_HEX);
  });

  it("decode and encode a program header field by field", () => {
    const p = decodeLayout(ELF64_PHDR, new Uint8Array(Buffer.from(PHDR_HEX, "hex")));
    expect(p).toEqual({
      p_type: 1, p_flags: 7, p_offset: 0x4000_0000n, p_vaddr: 0xff00_0000_0000_0000n,
      p_paddr: 0x4000_0000n, p_filesz: 0x1000_0000n, p_memsz: 0x1000_0000n, p_align: 0n,
    });
    expect(Buffer.from(encodeLayout(ELF64_PHDR, p)).toString("hex")).toBe(PHDR_HEX);
  });

  it("pads note fields to 4 bytes and names program header types", () => {
    expect([0, 1, 4, 5, 11, 0xffff_ffff].map(align4)).toEqual([0, 4, 4, 8, 12, 0x1_0000_0000]);
    expect([ptName(1), ptName(4), ptName(6)]).toEqual(["PT_LOAD", "PT_NOTE", "0x6"]);
  });
});
