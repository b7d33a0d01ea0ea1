import fc from "fast-check";
import type { AddrSize, FdtNode, FdtProperty, FdtTree } from "../../toolchain/fdt/index.js";

/**
 * Random trees for property tests. Names are built from a few fragments that
 * are tails of one another ("phandle", "linux,phandle", "names", "reg-names"),
 * so the strings block's tail sharing is exercised on most trees. Names and
 * values stay inside what dtc accepts without warnings about characters.
 */

const fragment = fc.constantFrom("reg", "names", "reg-names", "phandle", "linux,phandle", "a", "e", "#address-cells", "cells", "x_1.2+3");
const propName = fc.array(fragment, { minLength: 1, maxLength: 2 }).map((a) => a.join(""));
const nodeName = fc.tuple(fc.constantFrom("node", "cpu", "bus", "serial", "a"), fc.option(fc.nat(0xffff), { nil: undefined })).map(
  ([base, unit]) => (unit === undefined ? base : `${base}@${unit.toString(16)}`),
);

const text = fc.string({ unit: fc.constantFrom(..."abcxyz ,./=-_0123456789\t\"\\"), maxLength: 12 });
/** Values of every shape: empty, strings and lists, u32 cells, u64s, odd byte runs. */
export const valueArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.array(text, { minLength: 1, maxLength: 4 }).map((l) => new TextEncoder().encode(l.map((s) => s + "\0").join(""))),
  fc.array(fc.nat(0xffff_ffff), { minLength: 1, maxLength: 6 }).map((cells) => {
    const b = new Uint8Array(4 * cells.length);
    cells.forEach((c, i) => new DataView(b.buffer).setUint32(4 * i, c));
    return b;
  }),
  fc.uint8Array({ minLength: 1, maxLength: 23 }),
);

const propArb: fc.Arbitrary<FdtProperty> = fc.record({ name: propName, value: valueArb });
const props = fc.uniqueArray(propArb, { selector: (p) => p.name, maxLength: 5 });

const { node } = fc.letrec<{ node: FdtNode }>((tie) => ({
  node: fc.record({
    name: nodeName,
    properties: props,
    children: fc.oneof({ depthSize: "small", maxDepth: 4 }, fc.constant([]), fc.uniqueArray(tie("node"), { selector: (n) => n.name, maxLength: 3 })),
  }),
}));

const U64 = (1n << 64n) - 1n;
export const reservationArb: fc.Arbitrary<AddrSize> = fc.record({ address: fc.bigInt(0n, U64), size: fc.bigInt(1n, U64) });

export const treeArb: fc.Arbitrary<FdtTree> = fc.record({
  bootCpuidPhys: fc.nat(0xffff_ffff),
  reservations: fc.array(reservationArb, { maxLength: 4 }),
  root: fc.record({ name: fc.constant(""), properties: props, children: fc.uniqueArray(node, { selector: (n) => n.name, maxLength: 4 }) }),
});
