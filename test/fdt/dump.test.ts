import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stableJson } from "../../toolchain/bytes/index.js";
import { expectGolden } from "../_golden.js";
import { type FdtTree, describeFdt, formatDts, guessType, parseFdt, serializeFdt } from "../../toolchain/fdt/index.js";
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
