import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import {
  type AddrSize,
  type Cells,
  decodeAddrRanges,
  decodeString,
  decodeStrings,
  decodeU32,
  decodeU32s,
  decodeU64,
  decodeU64s,
  encodeAddrRanges,
  encodeString,
  encodeStrings,
  encodeU32,
  encodeU64,
} from "../../toolchain/fdt/index.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (h: string) => new Uint8Array(Buffer.from(h.replace(/ /g, ""), "hex"));
const cells = (addressCells: number, sizeCells: number): Cells => ({ addressCells, sizeCells, addressFrom: "/", sizeFrom: "/" });

interface Row<T> {
  readonly name: string;
  readonly value: T;
  readonly hex: string;
  readonly encode: (v: T) => Uint8Array;
  readonly decode: (b: Uint8Array) => T;
}
const row = <T,>(r: Row<T>): Row<unknown> => r as Row<unknown>;

const ranges = (c: Cells) => ({ encode: (v: AddrSize[]) => encodeAddrRanges(v, c, "/chosen/x"), decode: (b: Uint8Array) => decodeAddrRanges(b, c, "/chosen/x") });

const table: Row<unknown>[] = [
  row({ name: "u32 0", value: 0, hex: "00000000", encode: (v: number) => encodeU32(v), decode: (b) => decodeU32(b) }),
  row({ name: "u32 max", value: 0xdeadbeef, hex: "deadbeef", encode: (v: number) => encodeU32(v), decode: (b) => decodeU32(b) }),
  row({ name: "u32 cells", value: [1, 0x8003], hex: "00000001 00008003", encode: (v: number[]) => encodeU32(v), decode: (b) => decodeU32s(b) }),
  row({ name: "u64", value: 0x1234_5678_9abc_def0n, hex: "123456789abcdef0", encode: (v: bigint) => encodeU64(v), decode: (b) => decodeU64(b) }),
  row({ name: "u64 list", value: [(1n << 64n) - 1n, 0n], hex: "ffffffffffffffff 0000000000000000", encode: (v: bigint[]) => encodeU64(v), decode: (b) => decodeU64s(b) }),
  row({ name: "string", value: "console=ttyAMA0", hex: Buffer.from("console=ttyAMA0\0").toString("hex"), encode: (v: string) => encodeString(v), decode: (b) => decodeString(b) }),
  row({ name: "empty string", value: "", hex: "00", encode: (v: string) => encodeString(v), decode: (b) => decodeString(b) }),
  row({ name: "UTF-8 string", value: "é", hex: "c3a900", encode: (v: string) => encodeString(v), decode: (b) => decodeString(b) }),
  row({ name: "string list", value: ["a", "", "bb"], hex: "6100 00 626200", encode: (v: string[]) => encodeStrings(v), decode: (b) => decodeStrings(b) }),
  row({ name: "no strings", value: [], hex: "", encode: (v: string[]) => encodeStrings(v), decode: (b) => decodeStrings(b) }),
  row({ name: "ranges 2/2", value: [{ address: 0x1_2345_6000n, size: 0x1_0000n }], hex: "00000001 23456000 00000000 00010000", ...ranges(cells(2, 2)) }),
  row({ name: "ranges 1/1", value: [{ address: 0x4000_0000n, size: 0x1000n }, { address: 0n, size: 1n }], hex: "40000000 00001000 00000000 00000001", ...ranges(cells(1, 1)) }),
  row({ name: "ranges 3/1 (leading zero cell)", value: [{ address: 0xffff_ffff_ffff_ffffn, size: 7n }], hex: "00000000 ffffffff ffffffff 00000007", ...ranges(cells(3, 1)) }),
  row({ name: "ranges 1/0 (no size cells)", value: [{ address: 5n, size: 0n }], hex: "00000005", ...ranges(cells(1, 0)) }),
];

describe("typed coders agree four ways: encode, decode, decode(encode), encode(decode)", () => {
  it.each(table)("$name", (r) => {
    expect(hex(r.encode(r.value))).toBe(r.hex.replace(/ /g, ""));
    expect(r.decode(unhex(r.hex))).toEqual(r.value);
    expect(r.decode(r.encode(r.value))).toEqual(r.value);
    expect(hex(r.encode(r.decode(unhex(r.hex))))).toBe(r.hex.replace(/ /g, ""));
  });

  it("decodes from a view that does not start at byte 0 of its buffer", () => {
    const buf = unhex("ff 00000002 00000000 00000003");
    expect(decodeU32(buf.subarray(1, 5))).toBe(2);
    expect(decodeU64(buf.subarray(5, 13))).toBe(3n);
  });
});

describe("typed coders refuse what they cannot represent, with the property path", () => {
  it.each([
    ["u32 -1", () => encodeU32(-1, "/p")],
    ["u32 2^32", () => encodeU32(2 ** 32, "/p")],
    ["u32 1.5", () => encodeU32([1, 1.5], "/p")],
    ["u64 -1", () => encodeU64(-1n, "/p")],
    ["u64 2^64", () => encodeU64(1n << 64n, "/p")],
    ["a NUL inside a string", () => encodeString("a\0b", "/p")],
    ["3 bytes as a u32", () => decodeU32(new Uint8Array(3), "/p")],
    ["8 bytes as one u32", () => decodeU32(new Uint8Array(8), "/p")],
    ["6 bytes as u32 cells", () => decodeU32s(new Uint8Array(6), "/p")],
    ["4 bytes as a u64", () => decodeU64(new Uint8Array(4), "/p")],
    ["12 bytes as u64s", () => decodeU64s(new Uint8Array(12), "/p")],
    ["a string without NUL", () => decodeString(unhex("6162"), "/p")],
    ["a string list as one string", () => decodeString(unhex("610062 00"), "/p")],
    ["a list without a final NUL", () => decodeStrings(unhex("610062"), "/p")],
    ["half a pair", () => decodeAddrRanges(new Uint8Array(12), cells(2, 2), "/p")],
    ["a pair with no cells", () => decodeAddrRanges(new Uint8Array(0), cells(0, 0), "/p")],
    ["an address above 64 bits", () => decodeAddrRanges(unhex("00000001 00000000 00000000 00000001"), cells(3, 1), "/p")],
  ])("%s → BAD_VALUE at /p", (_, f) => {
    let err: unknown;
    try {
      f();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect([(err as InputError).code, (err as InputError).where]).toEqual(["BAD_VALUE", "/p"]);
  });
});

describe("encodeAddrRanges round-trips whatever fits and refuses whatever does not", () => {
  const u64 = fc.bigInt(0n, (1n << 64n) - 1n);
  it("holds for random cell counts and values", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 4 }), fc.array(fc.record({ address: u64, size: u64 }), { maxLength: 4 }), (ac, sc, list) => {
        const c = cells(ac, sc);
        const fits = list.every((r) => r.address >> BigInt(32 * ac) === 0n && r.size >> BigInt(32 * sc) === 0n);
        if (fits) {
          const b = encodeAddrRanges(list, c, "/x");
          expect(b.length).toBe(4 * (ac + sc) * list.length);
          expect(decodeAddrRanges(b, c, "/x")).toEqual(list);
        } else {
          expect(() => encodeAddrRanges(list, c, "/x")).toThrow(/does not fit #(address|size)-cells/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("string lists round-trip", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme" }).filter((s) => !s.includes("\0"))), (list) => {
        expect(decodeStrings(encodeStrings(list))).toEqual(list.length === 0 ? [] : list);
      }),
    );
  });
});
