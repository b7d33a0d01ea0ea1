import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { checkFdtHeader } from "../../toolchain/fdt/index.js";
import { checkNoOverlap } from "../../toolchain/fdt/check.js";
import { type Assembly, assemble, at, begin, end, fin, prop } from "./_assemble.js";
import { FIXTURES, dtcCompile } from "./_corpus.js";

const good: Assembly = { tokens: [begin(""), prop(0, "board"), end, fin], strings: "model\0" };

function codeAt(bytes: Uint8Array): { code: string; where: unknown; message: string } {
  try {
    checkFdtHeader(bytes);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { code: e.code, where: e.where, message: e.message };
  }
  throw new Error("checkFdtHeader accepted the blob");
}

describe("checkFdtHeader reads the header fields by their spec names", () => {
  it("reads a dtc version 17 header", () => {
    const h = checkFdtHeader(dtcCompile(`${FIXTURES}minimal.dts`, ["-b", "3"]));
    expect(h).toEqual({
      magic: 0xd00dfeed, totalsize: 0x48, off_dt_struct: 0x38, off_dt_strings: 0x48, off_mem_rsvmap: 0x28,
      version: 17, last_comp_version: 16, boot_cpuid_phys: 3, size_dt_strings: 0, size_dt_struct: 0x10, headerSize: 40,
    });
  });

  it("reads a dtc version 16 header: 36 bytes, no size_dt_struct", () => {
    const h = checkFdtHeader(dtcCompile(`${FIXTURES}minimal.dts`, ["-V", "16"]));
    expect(h.version).toBe(16);
    expect(h.headerSize).toBe(36);
    expect(h.size_dt_struct).toBeUndefined();
  });
});

describe("checkFdtHeader refuses a bad header with the offending field's offset", () => {
  const cases: { name: string; bytes: Uint8Array; code: string; where: number; text: RegExp }[] = [
    { name: "empty input", bytes: new Uint8Array(0), code: "TRUNCATED", where: 0, text: /magic/ },
    { name: "wrong magic", bytes: assemble({ ...good, header: { magic: 0xfeedd00d } }), code: "BAD_MAGIC", where: 0, text: /not a flattened device tree/ },
    { name: "dts text", bytes: new TextEncoder().encode("/dts-v1/;\n/ { };\n"), code: "BAD_MAGIC", where: 0, text: /dtc -I dts -O dtb/ },
    { name: "header cut short", bytes: assemble(good).subarray(0, 30), code: "TRUNCATED", where: at("totalsize"), text: /header alone needs 36/ },
    { name: "version 15", bytes: assemble({ ...good, header: { version: 15 } }), code: "BAD_VERSION", where: at("version"), text: /-V 17/ },
    { name: "last_comp_version 18", bytes: assemble({ ...good, header: { version: 18, last_comp_version: 18 } }), code: "BAD_VERSION", where: at("last_comp_version"), text: /last_comp_version 18/ },
    { name: "last_comp_version above version", bytes: assemble({ ...good, header: { version: 16, last_comp_version: 17 } }), code: "BAD_VERSION", where: at("last_comp_version"), text: /version 16/ },
    { name: "totalsize past the input", bytes: assemble({ ...good, header: { totalsize: 0x3000 } }), code: "TRUNCATED", where: at("totalsize"), text: /totalsize 0x3000 exceeds input length 0x62/ },
    { name: "totalsize below the header", bytes: assemble({ ...good, header: { totalsize: 20 } }), code: "BAD_LAYOUT", where: at("totalsize"), text: /smaller than the 40-byte header/ },
    { name: "bytes after totalsize", bytes: assemble({ ...good, trailing: 5 }), code: "TRAILING_DATA", where: 0x62, text: /5 bytes follow totalsize 0x62.*head -c 98/ },
    { name: "reservation block inside the header", bytes: assemble({ ...good, header: { off_mem_rsvmap: 0x20 } }), code: "BAD_LAYOUT", where: at("off_mem_rsvmap"), text: /off_mem_rsvmap 0x20 is outside 0x28..0x62.*damaged/ },
    { name: "reservation block misaligned", bytes: assemble({ ...good, header: { off_mem_rsvmap: 0x2c } }), code: "BAD_LAYOUT", where: at("off_mem_rsvmap"), text: /not 8-aligned.*Realign it with `dtc -I dtb -O dtb/ },
    { name: "structure block misaligned", bytes: assemble({ ...good, header: { off_dt_struct: 0x3a } }), code: "BAD_LAYOUT", where: at("off_dt_struct"), text: /not 4-aligned.*Realign/ },
    { name: "structure block past totalsize", bytes: assemble({ ...good, header: { off_dt_struct: 0x70 } }), code: "BAD_LAYOUT", where: at("off_dt_struct"), text: /off_dt_struct 0x70/ },
    { name: "structure size past totalsize", bytes: assemble({ ...good, header: { size_dt_struct: 0x100 } }), code: "BAD_LAYOUT", where: at("size_dt_struct"), text: /ends past totalsize/ },
    { name: "strings block past totalsize", bytes: assemble({ ...good, header: { off_dt_strings: 0x1000 } }), code: "BAD_LAYOUT", where: at("off_dt_strings"), text: /off_dt_strings 0x1000/ },
    { name: "strings size past totalsize", bytes: assemble({ ...good, header: { size_dt_strings: 0xffff_ffff } }), code: "BAD_LAYOUT", where: at("size_dt_strings"), text: /strings block/ },
  ];
  it.each(cases)("$name → $code", ({ bytes, code, where, text }) => {
    const got = codeAt(bytes);
    expect(got.code).toBe(code);
    expect(got.where).toBe(where);
    expect(got.message).toMatch(text);
  });

  it("accepts the good blob the cases are made from", () => {
    expect(checkFdtHeader(assemble(good)).totalsize).toBe(0x62);
  });
});

describe("checkNoOverlap refuses overlapping blocks and ignores empty ones", () => {
  it("names both blocks and points at the later one", () => {
    expect(() =>
      checkNoOverlap([
        { name: "structure block", start: 0x40, end: 0x80 },
        { name: "strings block", start: 0x7c, end: 0x90 },
      ]),
    ).toThrow(/strings block \(0x7c..0x90\) overlaps the structure block \(0x40..0x80\) \(at offset 0x7c\)/);
  });
  it("lets an empty block sit anywhere", () => {
    expect(() => checkNoOverlap([{ name: "a", start: 0, end: 0x40 }, { name: "b", start: 0x20, end: 0x20 }])).not.toThrow();
  });
});
