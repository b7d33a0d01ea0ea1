import { describe, expect, it } from "vitest";
import { ByteReader, ByteWriter, InputError, hex64, toNumber } from "../../toolchain/bytes/index.js";

// Table of value/hex pairs, checked four ways (micro-packed style).
const cases: Array<[keyof ByteWriter & keyof ByteReader, number | bigint, string]> = [
  ["u8", 0xab, "ab"],
  ["u16LE", 0x1234, "3412"],
  ["u16BE", 0x1234, "1234"],
  ["u32LE", 0xdeadbeef, "efbeadde"],
  ["u32BE", 0xdeadbeef, "deadbeef"],
  ["u64LE", 0x0102030405060708n, "0807060504030201"],
  ["u64BE", 0xffffffffffffffffn, "ffffffffffffffff"],
];

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("ByteWriter/ByteReader", () => {
  it.each(cases)("%s encodes, decodes and round-trips %s", (kind, value, expected) => {
    const w = new ByteWriter();
    (w[kind] as (v: number | bigint) => ByteWriter)(value);
    const bytes = w.finish();
    expect(toHex(bytes)).toBe(expected);
    const r = new ByteReader(Buffer.from(expected, "hex"), "test");
    expect((r[kind] as () => number | bigint)()).toBe(value);
    expect(r.remaining).toBe(0);
  });

  it("refuses values that do not fit instead of wrapping", () => {
    expect(() => new ByteWriter().u8(256)).toThrow(RangeError);
    expect(() => new ByteWriter().u32BE(-1)).toThrow(RangeError);
    expect(() => new ByteWriter().u64LE(1n << 64n)).toThrow(RangeError);
    expect(() => new ByteWriter().u32LE(1.5)).toThrow(RangeError);
  });

  it("reports a truncated read with its offset", () => {
    const r = new ByteReader(new Uint8Array(6), "FDT header");
    r.u32BE();
    try {
      r.u32BE("magic");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).code).toBe("TRUNCATED");
      expect((e as InputError).where).toBe(4);
      expect((e as InputError).message).toContain("FDT header magic");
    }
  });

  it("aligns, patches and grows past its initial capacity", () => {
    const w = new ByteWriter(16);
    w.u8(1).align(8).u32BE(0).patchU32BE(8, 0xcafe);
    w.zeros(100);
    const b = w.finish();
    expect(b.length).toBe(112);
    expect(toHex(b.subarray(0, 12))).toBe("0100000000000000" + "0000cafe");
  });
});

describe("hex64/toNumber", () => {
  it("formats u64 as 16 digits and refuses unsafe numbers", () => {
    expect(hex64(0x40000000n)).toBe("0x0000000040000000");
    expect(toNumber(5n, "size")).toBe(5);
    expect(() => toNumber(1n << 60n, "size", "/x")).toThrow(/largest safe integer/);
  });
});

describe("ByteWriter growth", () => {
  it("keeps every kind of write when the buffer is replaced mid-stream", () => {
    const w = new ByteWriter(16);
    const expected: number[] = [];
    for (let i = 0; i < 200; i++) {
      w.u8(i & 0xff).u32BE(0x01020304).u64LE(0x1122334455667788n).bytes(new Uint8Array([9, 8, 7]));
      expected.push(i & 0xff, 1, 2, 3, 4, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 9, 8, 7);
    }
    expect(Array.from(w.finish())).toEqual(expected);
  });
});
