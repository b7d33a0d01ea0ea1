import { InputError } from "../toolchain/bytes/index.js";
import {
  FDT_PARSE_ERROR_CODES,
  type FdtTree,
  encodeString,
  encodeStrings,
  encodeU32,
  encodeU64,
  parseFdt,
  serializeFdt,
} from "../toolchain/fdt/index.js";

/**
 * Blob mutations and the one fuzz invariant, shared by the property test
 * (test/fdt/parse-fuzz.test.ts, driven by fast-check) and the long run
 * (bench/fdt-fuzz.ts, driven by a seeded PRNG).
 *
 * Invariant: `parseFdt` either returns a tree that re-serializes to a blob
 * which parses back to the same bytes, or throws `InputError` with a code from
 * `FDT_PARSE_ERROR_CODES` and a byte offset inside the input. Anything else
 * (another exception, a hang, an allocation beyond the input) is a bug.
 */

export type Mutation =
  /** Keep the first `at % (length + 1)` bytes. */
  | { readonly kind: "truncate"; readonly at: number }
  /** Flip these bits (indexes taken modulo the bit length). */
  | { readonly kind: "flip"; readonly bits: readonly number[] }
  /**
   * Replace `cut` bytes at `to` with `length` bytes of seed `donor` from
   * `from`; `aligned` rounds every offset and length down to whole tokens.
   */
  | {
      readonly kind: "splice";
      readonly to: number;
      readonly cut: number;
      readonly donor: number;
      readonly from: number;
      readonly length: number;
      readonly aligned: boolean;
    }
  /** Overwrite the aligned u32 at `at` (a header field or a token). */
  | { readonly kind: "word"; readonly at: number; readonly value: number }
  /** Set totalsize to the length, so that checks past the header get reached. */
  | { readonly kind: "fixTotalsize" };

/** Values that sit on the boundaries the parser checks. */
export const INTERESTING_WORDS: readonly number[] = [
  0, 1, 2, 3, 4, 8, 9, 16, 17, 18, 36, 40, 0x28, 0x38, 0xd00dfeed, 0x7fff_ffff, 0x8000_0000, 0xffff_fff0, 0xffff_fffc, 0xffff_ffff,
];

export function applyMutations(seed: Uint8Array, mutations: readonly Mutation[], seeds: readonly Uint8Array[]): Uint8Array {
  let b = seed;
  for (const m of mutations) {
    switch (m.kind) {
      case "truncate":
        b = b.slice(0, m.at % (b.length + 1));
        break;
      case "flip":
        if (b.length === 0) break;
        b = b.slice();
        for (const bit of m.bits) {
          const i = bit % (b.length * 8);
          b[i >> 3]! ^= 1 << (i & 7);
        }
        break;
      case "splice": {
        const donor = seeds[m.donor % seeds.length]!;
        const round = (n: number) => (m.aligned ? n - (n % 4) : n);
        const to = round(m.to % (b.length + 1));
        const from = round(m.from % (donor.length + 1));
        const cut = round(m.cut);
        const piece = donor.subarray(from, from + round(m.length));
        const out = new Uint8Array(to + piece.length + Math.max(0, b.length - to - cut));
        out.set(b.subarray(0, to));
        out.set(piece, to);
        out.set(b.subarray(to + cut), to + piece.length);
        b = out;
        break;
      }
      case "word":
        if (b.length < 4) break;
        b = b.slice();
        new DataView(b.buffer).setUint32(4 * (m.at % Math.floor(b.length / 4)), m.value >>> 0, false);
        break;
      case "fixTotalsize":
        if (b.length < 8) break;
        b = b.slice();
        new DataView(b.buffer).setUint32(4, b.length, false);
        break;
    }
  }
  return b;
}

/** What one input did: "ok", an error code, or a description of a broken invariant ("BUG: ..."). */
export function fuzzOne(bytes: Uint8Array): string {
  let tree: FdtTree;
  try {
    tree = parseFdt(bytes);
  } catch (e) {
    if (!(e instanceof InputError)) return `BUG: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    if (!(FDT_PARSE_ERROR_CODES as readonly string[]).includes(e.code)) return `BUG: unlisted code ${e.code}`;
    if (typeof e.where !== "number" || e.where < 0 || e.where > bytes.length) return `BUG: ${e.code} without an offset in the input`;
    return e.code;
  }
  try {
    const once = serializeFdt(tree);
    const twice = serializeFdt(parseFdt(once));
    if (Buffer.compare(once, twice) !== 0) return "BUG: re-serialized blob differs";
  } catch (e) {
    return `BUG: a parsed tree does not round-trip: ${e instanceof Error ? e.message : String(e)}`;
  }
  return "ok";
}

/**
 * Seed blobs made with our own writer, so the bench needs no dtc: every value
 * shape with reservations, its version 16 variant, and the deepest tree the
 * kernel reads.
 */
export function syntheticSeeds(): Uint8Array[] {
  const node = (name: string, properties: [string, Uint8Array][], children: FdtTree["root"][] = []) => ({
    name,
    properties: properties.map(([n, value]) => ({ name: n, value })),
    children,
  });
  const tree: FdtTree = {
    bootCpuidPhys: 1,
    reservations: [{ address: 0x8000_0000n, size: 0x1000n }, { address: 0x1_0000_0000n, size: 0x20_0000n }],
    root: node("", [["#address-cells", encodeU32(2)], ["#size-cells", encodeU32(2)], ["compatible", encodeStrings(["acme,board", "acme,soc"])]], [
      node("chosen", [["bootargs", encodeString("console=ttyAMA0 root=/dev/vda")], ["linux,initrd-start", encodeU64(0x4800_0000n)], ["linux,booted-from-kexec", new Uint8Array(0)]]),
      node("memory@40000000", [["device_type", encodeString("memory")], ["reg", encodeU32([0, 0x4000_0000, 1, 0])]]),
      node("soc", [["ranges", new Uint8Array(0)], ["phandle", encodeU32(1)], ["linux,phandle", encodeU32(1)]], [
        node("serial@9000000", [["reg", encodeU32([0, 0x900_0000, 0, 0x1000])], ["bytes", new Uint8Array([1, 2, 3, 4, 5])]]),
        node("deep", [], [node("deeper", [["x", new Uint8Array([0])]])]),
      ]),
    ]),
  };
  const v17 = serializeFdt(tree);
  const v16 = v17.slice();
  new DataView(v16.buffer).setUint32(20, 16, false); // version 16: 36-byte header, size_dt_struct unused
  // 63 levels below the root: one more level (a splice, a flipped tag) is too deep.
  let deep = node("leaf", [["x", encodeU32(1)]]);
  for (let i = 62; i > 0; i--) deep = node(`n${i}`, [], [deep]);
  return [v17, v16, serializeFdt({ bootCpuidPhys: 0, reservations: [], root: node("", [], [deep]) })];
}
