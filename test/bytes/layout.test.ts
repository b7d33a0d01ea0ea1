import { describe, expect, it } from "vitest";
import { InputError, decodeLayout, defineLayout, encodeLayout } from "../../toolchain/bytes/index.js";

const demo = defineLayout("demo header", 24, [
  { name: "magic", offset: 0, kind: "u32BE", note: "0xd00dfeed" },
  { name: "size", offset: 4, kind: "u64LE", note: "bytes" },
  { name: "tag", offset: 12, kind: "bytes", size: 4, note: "ascii" },
  { name: "flags", offset: 16, kind: "u16LE", note: "" },
] as const);

describe("defineLayout/decodeLayout/encodeLayout", () => {
  it("round-trips a record and leaves gaps zero", () => {
    const rec = { magic: 0xd00dfeed, size: 0x1122334455n, tag: new Uint8Array([65, 66, 67, 68]), flags: 7 };
    const bytes = encodeLayout(demo, rec);
    expect(Buffer.from(bytes).toString("hex")).toBe(
      "d00dfeed" + "5544332211000000" + "41424344" + "0700" + "0000" + "00000000",
    );
    expect(decodeLayout(demo, bytes)).toEqual(rec);
  });

  it("refuses overlapping or oversized tables at definition", () => {
    expect(() => defineLayout("bad", 8, [
      { name: "a", offset: 0, kind: "u64LE", note: "" },
      { name: "b", offset: 4, kind: "u32LE", note: "" },
    ])).toThrow(/overlaps/);
    expect(() => defineLayout("bad", 4, [{ name: "a", offset: 0, kind: "u64LE", note: "" }])).toThrow(/past size/);
  });

  it("throws TRUNCATED with the offset on short input", () => {
    expect(() => decodeLayout(demo, new Uint8Array(30), 10)).toThrow(InputError);
    try {
      decodeLayout(demo, new Uint8Array(30), 10);
    } catch (e) {
      expect((e as InputError).where).toBe(10);
    }
  });
});
