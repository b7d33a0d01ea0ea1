import { describe, expect, it } from "vitest";
import { machineName, readPeHeader } from "../../toolchain/image/pe.js";
import { makeImage, makeUki } from "./_make.js";

describe("readPeHeader finds the machine and the sections", () => {
  it("lists a UKI's sections at their file offsets, sized by VirtualSize", () => {
    const linux = makeImage({ fileSize: 0x300, efiStub: true });
    const uki = makeUki(linux, { cmdline: "quiet" });
    const pe = readPeHeader(uki, 0x40);
    expect(pe.machine).toBe(0xaa64);
    expect(pe.sections).toEqual([
      { name: ".linux", offset: 0x400, size: 0x300, rawSize: 0x400 },
      { name: ".cmdline", offset: 0x800, size: 5, rawSize: 0x200 },
    ]);
    expect(uki.subarray(0x400, 0x700)).toEqual(linux);
  });

  it("refuses a missing signature and a section past the end of the file", () => {
    const uki = makeUki(new Uint8Array(0x10));
    expect(() => readPeHeader(uki, 0x10)).toThrow(/signature at 0x10 is 0x0, expected "PE\\0\\0"/);
    expect(() => readPeHeader(uki, 0x10)).toThrow(expect.objectContaining({ code: "BAD_PE" }) as Error);
    expect(() => readPeHeader(uki.subarray(0, 0x405), 0x40)).toThrow(/section ".linux": data 0x400\+0x10 lies past the end of the 0x405-byte file/);
    expect(() => readPeHeader(uki.subarray(0, 0x60), 0x40)).toThrow(/Cannot read PE section table/);
    // Given only the headers, sections are checked against the stated file size.
    expect(readPeHeader(uki.subarray(0, 0x200), 0x40, uki.length).sections).toHaveLength(1);
    expect(() => readPeHeader(uki.subarray(0, 0x200), 0x40, 0x405)).toThrow(/lies past the end of the 0x405-byte file/);
  });

  it("names machines", () => {
    expect([machineName(0xaa64), machineName(0x8664), machineName(0x1234)]).toEqual(["arm64", "x86-64", "unknown machine"]);
  });
});
