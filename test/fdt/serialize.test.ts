import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { type FdtNode, type FdtTree, checkFdtHeader, parseFdt, serializeFdt } from "../../toolchain/fdt/index.js";
import { treeArb } from "./_arbitrary.js";
import { type Blob, FIXTURES, dtcCompile, dtcDecompile, dtcRepack, fixtureBlobs, qemuBlobs } from "./_corpus.js";

const dtcBlobs = fixtureBlobs();
const corpus: Blob[] = [
  ...dtcBlobs,
  ...dtcBlobs.map(({ name }) => ({ name: `${name} -V 16`, blob: dtcCompile(FIXTURES + name, ["-V", "16"]) })),
  { name: "shapes.dts -b 5 -p 256", blob: dtcCompile(FIXTURES + "shapes.dts", ["-b", "5", "-p", "256"]) },
  ...qemuBlobs(),
];

describe("serializeFdt agrees with dtc byte for byte", () => {
  it("covers every property shape, deep nesting, reservations and long strings, plus QEMU's blobs", () => {
    const names = corpus.map((b) => b.name);
    expect(names).toEqual(expect.arrayContaining(["shapes.dts", "deep.dts", "reservations.dts", "long-strings.dts", "phandles.dts"]));
    expect(qemuBlobs().length).toBeGreaterThanOrEqual(6);
  });

  it.each(corpus)("$name: parse → serialize equals `dtc -I dtb -O dtb` of the same blob", ({ blob }) => {
    expect(Buffer.from(serializeFdt(parseFdt(blob)))).toEqual(Buffer.from(dtcRepack(blob)));
  });

  it.each(corpus)("$name: our output decompiles to the same dts text, with the same dtc warnings", ({ blob }) => {
    const ours = dtcDecompile(serializeFdt(parseFdt(blob)));
    const theirs = dtcDecompile(blob);
    expect(ours.text).toBe(theirs.text);
    expect(ours.warnings).toBe(theirs.warnings);
  });

  it.each(dtcBlobs)("$name: a blob dtc compiled from source comes back unchanged", ({ blob }) => {
    expect(Buffer.from(serializeFdt(parseFdt(blob)))).toEqual(Buffer.from(blob));
  });

  it("pads at the end to totalSize exactly as `dtc -S` does", () => {
    const blob = dtcCompile(FIXTURES + "phandles.dts");
    const padded = serializeFdt(parseFdt(blob), { totalSize: 0x4000 });
    expect(Buffer.from(padded)).toEqual(Buffer.from(dtcCompile(FIXTURES + "phandles.dts", ["-S", String(0x4000)])));
    expect(checkFdtHeader(padded).totalsize).toBe(0x4000);
  });

  it("writes names in first-use order and shares a name that is the tail of an earlier one", () => {
    const out = serializeFdt(parseFdt(dtcCompile(FIXTURES + "strings-table.dts")));
    const h = checkFdtHeader(out);
    const table = Buffer.from(out.subarray(h.off_dt_strings, h.off_dt_strings + h.size_dt_strings)).toString("latin1");
    // "phandle", "size-cells", "e" and "names" reuse tails; "ames" comes before "names", so it is not shared.
    expect(table).toBe("linux,phandle\0cells\0#address-cells\0#size-cells\0ames\0reg\0interrupt-reg\0reg-names\0");
  });

  it("agrees with dtc on random trees (names that share tails, every value shape)", () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        const ours = serializeFdt(tree);
        expect(Buffer.from(dtcRepack(ours, ["-f"]))).toEqual(Buffer.from(ours));
      }),
      { numRuns: 60 },
    );
  });

  it("writes only what it reads: parse(serialize(t)) equals t", () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        expect(parseFdt(serializeFdt(tree))).toEqual(tree);
      }),
      { numRuns: 500 },
    );
  });
});

describe("serializeFdt refuses trees a blob cannot carry, naming the path", () => {
  const leaf = (name: string, properties: FdtNode["properties"] = []): FdtNode => ({ name, properties, children: [] });
  const tree = (root: FdtNode, reservations: FdtTree["reservations"] = []): FdtTree => ({ bootCpuidPhys: 0, reservations, root });
  const v = new Uint8Array([1]);
  const deep = (n: number): FdtNode => (n === 0 ? leaf("x") : { name: "x", properties: [], children: [deep(n - 1)] });
  const cases: { name: string; tree: FdtTree; options?: { totalSize: number }; code: string; where: string }[] = [
    { name: "a named root", tree: tree(leaf("root")), code: "BAD_NAME", where: "/" },
    { name: "an unnamed child", tree: tree({ ...leaf(""), children: [leaf("")] }), code: "BAD_NAME", where: "/" },
    { name: "a NUL in a property name", tree: tree({ ...leaf(""), children: [leaf("c", [{ name: "a\0b", value: v }])] }), code: "BAD_NAME", where: "/c/a\0b" },
    { name: "a character above 0xff", tree: tree({ ...leaf(""), children: [leaf("caf\u20ac")] }), code: "BAD_NAME", where: "/caf\u20ac" },
    { name: "two properties with one name", tree: tree(leaf("", [{ name: "p", value: v }, { name: "p", value: v }])), code: "DUPLICATE", where: "/p" },
    { name: "two nodes with one name", tree: tree({ ...leaf(""), children: [leaf("n"), leaf("n")] }), code: "DUPLICATE", where: "/n" },
    { name: "64 levels below the root", tree: tree({ ...leaf(""), children: [deep(63)] }), code: "TOO_DEEP", where: "/" + Array(64).fill("x").join("/") },
    { name: "a size-0 reservation", tree: tree(leaf(""), [{ address: 0x1000n, size: 0n }]), code: "BAD_VALUE", where: "reservations[0]" },
    { name: "a reservation past u64", tree: tree(leaf(""), [{ address: 1n << 64n, size: 1n }]), code: "BAD_VALUE", where: "reservations[0]" },
    { name: "a totalSize below the tree", tree: tree(leaf("")), options: { totalSize: 0x40 }, code: "BAD_VALUE", where: "totalsize" },
  ];
  it.each(cases)("$name → $code at $where", ({ tree, options, code, where }) => {
    let err: unknown;
    try {
      serializeFdt(tree, options);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect([(err as InputError).code, (err as InputError).where]).toEqual([code, where]);
  });

  it("accepts 63 levels below the root", () => {
    expect(() => serializeFdt(tree({ ...leaf(""), children: [deep(62)] }))).not.toThrow();
  });
});
