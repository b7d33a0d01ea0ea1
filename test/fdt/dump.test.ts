import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stableJson } from "../../toolchain/bytes/index.js";
import { expectGolden } from "../_golden.js";
import { type FdtTree, type NodeData, describeFdt, describeProperty, formatDts, guessType, parseFdt, serializeFdt } from "../../toolchain/fdt/index.js";
import { valueArb } from "./_arbitrary.js";
import { type Blob, FIXTURES, dtcCompile, dtcDecompile, fixtureBlobs, qemuBlobs } from "./_corpus.js";

const corpus: Blob[] = [
  ...fixtureBlobs(),
  { name: "reservations.dts -V 16", blob: dtcCompile(FIXTURES + "reservations.dts", ["-V", "16"]) },
  ...qemuBlobs(),
];

describe("formatDts prints what `dtc -I dtb -O dts` prints", () => {
  it.each(corpus)("$name", ({ blob }) => {
    expect(formatDts(parseFdt(blob))).toBe(dtcDecompile(blob).text);
  });

  // Any byte value, strings with every escape, runs of NULs: each batch is one tree.
  const anyValue = fc.oneof(
    valueArb,
    fc.uint8Array({ maxLength: 12 }),
    fc.array(fc.constantFrom(0, 0, 7, 8, 9, 10, 11, 12, 13, 0x22, 0x5c, 0x41, 0x7f, 0x80, 0x20, 0x27), { maxLength: 10 }).map((a) => Uint8Array.from(a)),
  );
  it("agrees with dtc on random values, decided by dtc's type guess", () => {
    fc.assert(
      fc.property(fc.array(anyValue, { minLength: 1, maxLength: 40 }), (values) => {
        const tree: FdtTree = {
          bootCpuidPhys: 0,
          reservations: [],
          root: { name: "", properties: values.map((value, i) => ({ name: `p${i}`, value })), children: [] },
        };
        expect(formatDts(tree)).toBe(dtcDecompile(serializeFdt(tree), ["-f"]).text);
      }),
      { numRuns: 60 },
    );
  });
});

describe("guessType follows dtc's guess", () => {
  it.each([
    ["", "empty"],
    ["00", "bytes"], // one NUL and no text: more NULs than characters
    ["4100", "string"],
    ["410000", "bytes"],
    ["41004200", "string"],
    ["41000000", "u32"],
    ["07080900", "string"], // \a\b\t
    ["7f00", "bytes"], // DEL is not printable
    ["0102030405", "bytes"],
    ["0102030405060708", "u32"],
  ])("%s → %s", (hex, type) => {
    expect(guessType(new Uint8Array(Buffer.from(hex, "hex")))).toBe(type);
  });
});

describe("describeFdt gives plain data for --json (golden: fixtures/shapes.dump.json)", () => {
  it("matches the golden; UPDATE_GOLDENS=1 rewrites it for a person to review", () => {
    const golden = `${FIXTURES}shapes.dump.json`;
    const json = stableJson(describeFdt(parseFdt(dtcCompile(`${FIXTURES}shapes.dts`)))) + "\n";
    expectGolden(golden, json);
  });
});

describe("describeFdt decodes what the devicetree spec gives a meaning: addresses and sizes, not u32 cells", () => {
  const tree = parseFdt(dtcCompile(`${FIXTURES}meanings.dts`));
  const data = JSON.parse(stableJson(describeFdt(tree))) as { root: NodeData };
  const props = (path: string) => {
    let n: NodeData = data.root;
    for (const c of path.split("/").filter((x) => x !== "")) n = n.children.find((k) => k.name === c)!;
    return Object.fromEntries(n.properties.map((p) => [p.name, { type: p.type, value: p.value }]));
  };

  it("reads /chosen's linux,* properties and kaslr-seed as addresses and u64 values", () => {
    expect(props("/chosen")).toEqual({
      "linux,initrd-start": { type: "u64", value: ["0x48000000"] },
      "linux,initrd-end": { type: "u64", value: ["0x148800000"] },
      "linux,usable-memory-range": { type: "reg", value: [{ address: "0x70000000", size: "0x10000000" }] },
      "linux,elfcorehdr": { type: "reg", value: [{ address: "0x7fff0000", size: "0x1000" }] },
      "kaslr-seed": { type: "u64", value: ["0x83ea3b5cfdec396c"] },
    });
  });

  it("reads reg in the parent's cells and ranges in the node's and the parent's, other cells as numbers", () => {
    expect(props("/soc")).toMatchObject({
      ranges: { type: "ranges", value: [{ child: "0x0", parent: "0x9000000", size: "0x1000000" }] },
      "dma-ranges": { type: "empty", value: null },
      "#address-cells": { type: "u32", value: [1] },
    });
    expect(props("/soc/uart@0")).toEqual({ reg: { type: "reg", value: [{ address: "0x0", size: "0x1000" }] }, "clock-frequency": { type: "u32", value: [24000000] } });
    expect(props("/pcie@10000000").reg).toEqual({ type: "reg", value: [{ address: "0x4010000000", size: "0x10000000" }] });
  });

  it("keeps the cells of a 3-cell PCI address, which is not one number", () => {
    expect(props("/pcie@10000000").ranges!.type).toBe("u32");
    expect(props("/pcie@10000000/dev@0").reg!.type).toBe("u32");
  });

  it("gives fdt get the same reading through describeProperty", () => {
    expect(describeProperty(tree, "/soc/uart@0", "reg")).toEqual({ type: "reg", value: [{ address: 0n, size: 0x1000n }] });
    expect(describeProperty(tree, "/chosen", "nope")).toBeUndefined();
    expect(describeProperty(tree, "/nope", "reg")).toBeUndefined();
  });
});
