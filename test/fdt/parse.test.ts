import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { FDT_MAX_DEPTH, parseFdt, serializeFdt } from "../../toolchain/fdt/index.js";
import { type Assembly, type Token, assemble, at, begin, end, fin, nop, prop, word } from "./_assemble.js";
import { dtcCompile, dtcDecompile, dtcRepack, fixtureBlobs } from "./_corpus.js";

const u32 = (...v: number[]) => new Uint8Array(v.flatMap((x) => [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff]));

function refusal(bytes: Uint8Array): InputError {
  try {
    parseFdt(bytes);
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("parseFdt accepted the blob");
}

describe("parseFdt reads blobs from independent producers", () => {
  it("reads a hand-assembled blob with FDT_NOP between every token, and drops the NOPs as dtc does", () => {
    const body: Token[] = [begin(""), nop, prop(0, "acme,board"), nop, prop(11, u32(2)), nop, begin("cpus"), nop, prop(12, u32(0)), end, nop, begin("empty"), end, nop, end, fin];
    const blob = assemble({ tokens: body, strings: "compatible\0#address-cells\0", reservations: [[0x8000_0000n, 0x1000n]] });
    const tree = parseFdt(blob);
    expect(tree).toEqual({
      bootCpuidPhys: 0,
      reservations: [{ address: 0x8000_0000n, size: 0x1000n }],
      root: {
        name: "",
        properties: [
          { name: "compatible", value: new TextEncoder().encode("acme,board\0") },
          { name: "#address-cells", value: u32(2) },
        ],
        children: [
          { name: "cpus", properties: [{ name: "address-cells", value: u32(0) }], children: [] },
          { name: "empty", properties: [], children: [] },
        ],
      },
    });
    // dtc drops the NOPs too, and writes what we write.
    expect(serializeFdt(tree)).toEqual(dtcRepack(blob));
    // DTSpec 5.4.1 lets a NOP be followed by any token, so NOPs may also come
    // before the root and before FDT_END (libfdt skips them); dtc 1.6.1 refuses
    // both, we read them.
    const leading = assemble({ tokens: [nop, ...body.slice(0, -1), nop, fin], strings: "compatible\0#address-cells\0", reservations: [[0x8000_0000n, 0x1000n]] });
    expect(parseFdt(leading)).toEqual(tree);
  });

  it("reads version 16 blobs (dtc -V 16) into the same tree as version 17", () => {
    for (const { name } of fixtureBlobs()) {
      const path = new URL(`./fixtures/${name}`, import.meta.url).pathname;
      expect(parseFdt(dtcCompile(path, ["-V", "16"])), name).toEqual(parseFdt(dtcCompile(path)));
    }
  });

  it("keeps boot_cpuid_phys (dtc -b)", () => {
    const path = new URL("./fixtures/minimal.dts", import.meta.url).pathname;
    expect(parseFdt(dtcCompile(path, ["-b", "7"])).bootCpuidPhys).toBe(7);
  });

  it("ends the reservation list at the first size-0 entry, as dtc, libfdt and the kernel do", () => {
    const blob = assemble({
      tokens: [begin(""), end, fin],
      strings: "",
      reservations: [[0x1000n, 0x2000n], [0x5000n, 0n], [0x7000n, 0x1000n]],
    });
    expect(parseFdt(blob).reservations).toEqual([{ address: 0x1000n, size: 0x2000n }]);
    expect(dtcDecompile(blob).text).toContain("/memreserve/\t0x0000000000001000 0x0000000000002000;\n/ {");
  });

  it("keeps names byte for byte, one character per byte", () => {
    const blob = assemble({ tokens: [begin(""), begin("caf\xe9"), prop(0, "x"), end, end, fin], strings: "\xff\0" });
    const tree = parseFdt(blob);
    expect(tree.root.children[0]!.name).toBe("caf\u00e9");
    expect(tree.root.children[0]!.properties[0]!.name).toBe("\u00ff");
    // dtc calls these names errors but writes them back unchanged when forced.
    expect(serializeFdt(tree)).toEqual(dtcRepack(blob, ["-f"]));
  });

  it("reads a blob at any offset of a larger buffer, aligned or not", () => {
    const blob = dtcCompile(new URL("./fixtures/phandles.dts", import.meta.url).pathname);
    const host = new Uint8Array(blob.length + 3);
    host.set(blob, 3);
    expect(parseFdt(host.subarray(3))).toEqual(parseFdt(blob));
  });

  it("copies the blob: changing the input afterwards changes no value, also for a pooled Node Buffer", () => {
    const blob = assemble({ tokens: [begin(""), prop(0, "abc"), end, fin], strings: "p\0" });
    const pooled = Buffer.from(blob); // small Buffers share one pool, at a nonzero offset
    for (const input of [blob, pooled]) {
      const tree = parseFdt(input);
      input.fill(0);
      expect(new TextDecoder().decode(tree.root.properties[0]!.value)).toBe("abc\0");
    }
  });

  it("accepts the deepest tree the kernel reads (63 levels below the root)", () => {
    const deep = (n: number): Token[] => [begin(""), ...Array.from({ length: n }, (_, i) => begin(`n${i}`)), ...Array.from({ length: n + 1 }, () => end), fin];
    expect(() => parseFdt(assemble({ tokens: deep(FDT_MAX_DEPTH - 1), strings: "" }))).not.toThrow();
    const e = refusal(assemble({ tokens: deep(FDT_MAX_DEPTH), strings: "" }));
    expect(e.code).toBe("TOO_DEEP");
    expect(e.message).toMatch(/node "n63" is nested 64 levels below the root; the kernel reads at most 63/);
  });
});

describe("parseFdt refuses a damaged structure with the offset of the fault", () => {
  const S = 0x38; // off_dt_struct with no reservations
  const base = (tokens: Token[], strings = "model\0", extra: Partial<Assembly> = {}): Uint8Array => assemble({ tokens, strings, ...extra });
  const cases: { name: string; bytes: Uint8Array; code: string; where: number; text: RegExp }[] = [
    { name: "no FDT_END", bytes: base([begin(""), end]), code: "BAD_STRUCTURE", where: S + 12, text: /ends without FDT_END/ },
    { name: "unknown token", bytes: base([begin(""), word(7), end, fin]), code: "BAD_STRUCTURE", where: S + 8, text: /unknown token 0x7/ },
    { name: "FDT_END_NODE first", bytes: base([end, fin]), code: "BAD_STRUCTURE", where: S, text: /without a node to end/ },
    { name: "property before the root", bytes: base([prop(0, "x"), begin(""), end, fin]), code: "BAD_STRUCTURE", where: S, text: /outside any node/ },
    { name: "property after a child node", bytes: base([begin(""), begin("c"), end, prop(0, "x"), end, fin]), code: "BAD_STRUCTURE", where: S + 20, text: /property after child nodes/ },
    { name: "two roots", bytes: base([begin(""), end, begin(""), end, fin]), code: "BAD_STRUCTURE", where: S + 12, text: /second root/ },
    { name: "FDT_END inside a node", bytes: base([begin(""), fin]), code: "BAD_STRUCTURE", where: S + 8, text: /FDT_END inside node/ },
    { name: "FDT_END before any node", bytes: base([fin]), code: "BAD_STRUCTURE", where: S, text: /before any node/ },
    { name: "nameoff outside the strings block", bytes: base([begin(""), prop(6, "x"), end, fin]), code: "BAD_STRING", where: S + 16, text: /nameoff 0x6 is outside the 0x6-byte strings block/ },
    { name: "property name without NUL", bytes: base([begin(""), prop(0, "x"), end, fin], "model"), code: "BAD_STRING", where: S + 16, text: /not NUL-terminated/ },
    { name: "node name running past the block", bytes: base([begin(""), word(1), word(0x61626364)]), code: "BAD_STRING", where: S + 12, text: /node name runs past/ },
    { name: "property value past the block", bytes: base([begin(""), word(3), word(0x1000), word(0), end, fin]), code: "BAD_STRUCTURE", where: S + 12, text: /length 0x1000 runs past/ },
    { name: "named root", bytes: base([begin("root"), end, fin]), code: "BAD_NAME", where: S + 4, text: /root node is named "root"/ },
    { name: "empty child name", bytes: base([begin(""), begin(""), end, end, fin]), code: "BAD_NAME", where: S + 12, text: /empty name/ },
    { name: "duplicate property", bytes: base([begin(""), prop(0, "a"), prop(6, "b"), end, fin], "model\0model\0"), code: "DUPLICATE", where: S + 24, text: /property "model" appears twice/ },
    { name: "duplicate node", bytes: base([begin(""), begin("c"), end, begin("c"), end, end, fin]), code: "DUPLICATE", where: S + 20, text: /node "c" appears twice/ },
    { name: "bytes after FDT_END", bytes: base([begin(""), end, fin, nop]), code: "TRAILING_DATA", where: S + 16, text: /4 bytes follow FDT_END/ },
    { name: "no reservation terminator", bytes: base([begin(""), end, fin], "model\0\0\0\0\0\0\0\0\0\0\0\0\0\0", { header: { off_mem_rsvmap: 0x50 } }), code: "BAD_LAYOUT", where: 0x50, text: /no terminating entry \(size 0\)/ },
    { name: "strings block inside the structure block", bytes: base([begin(""), prop(0, "x"), end, fin], "model\0", { header: { off_dt_strings: S } }), code: "BAD_LAYOUT", where: S, text: /strings block \(0x38..0x3e\) overlaps the structure block/ },
  ];
  it.each(cases)("$name → $code", ({ bytes, code, where, text }) => {
    const e = refusal(bytes);
    expect(e.code).toBe(code);
    expect(e.where).toBe(where);
    expect(e.message).toMatch(text);
    expect(e.hint).toBeTruthy();
  });

  it("checks the header before walking (a bad header field wins)", () => {
    const e = refusal(base([begin("root"), end, fin], "model\0", { header: { off_dt_struct: 0x3a } }));
    expect([e.code, e.where]).toEqual(["BAD_LAYOUT", at("off_dt_struct")]);
  });
});
