import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { parseLoadJson, type LoadDocument } from "../../toolchain/layout/index.js";

const PLAIN = JSON.stringify({
  entry: "0x40102000",
  flags: "0xb70000",
  segments: [
    { mem: "0x40100000", memsz: "0x2000", bufsz: "0x1f8c" },
    { mem: "0x40102000", memsz: 4096, bufsz: "2616" },
  ],
  pageSize: 4096,
  crashKernel: null,
  memory: [{ start: "0x40000000", end: "0x80000000" }],
});

const MANIFEST = JSON.stringify({
  mode: "crash",
  entry: "0x0000000071277000",
  flags: "0x0000000000b70001",
  target: "target.json",
  tool: { name: "purgatory", version: "0.1.0" },
  chosen: { bootargs: "console=ttyAMA0" },
  segments: [
    { role: "kernel", file: "kernel.bin", mem: "0x6de00000", memsz: "0x2ad0000", bufsz: "0x1ea0a00", textOffset: "0x0", imageSize: "0x2ad0000", sha256: "a".repeat(64) },
    { role: "purgatory", file: "purgatory.bin", mem: "0x71277000", memsz: "0x1000", bufsz: "0xa38", sha256: "b".repeat(64), source: "purgatory-src/entry.s" },
  ],
});

function errorOf(text: string): InputError {
  try {
    parseLoadJson(text);
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("expected an InputError");
}

const doc = (patch: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(PLAIN), ...patch });
const withSegment = (patch: Record<string, unknown>) =>
  doc({ segments: [{ mem: "0x40100000", memsz: "0x2000", bufsz: "0x1f8c", ...patch }] });

describe("parseLoadJson", () => {
  it("reads a plain segment list with hex strings, decimal strings and JSON integers", () => {
    const d = parseLoadJson(PLAIN);
    expect(d.load).toEqual({
      entry: 0x4010_2000n,
      flags: 0xb70000,
      segments: [
        { mem: 0x4010_0000n, memsz: 0x2000n, bufsz: 0x1f8cn },
        { mem: 0x4010_2000n, memsz: 0x1000n, bufsz: 0xa38n },
      ],
    });
    expect(d.facts).toEqual({ pageSize: 4096, crashKernel: null, memory: [{ start: 0x4000_0000n, end: 0x8000_0000n }] });
    expect(d.mode).toBeUndefined();
    expect(d.ignored).toEqual([]);
  });

  it("reads a bundle manifest: roles, kernel header facts, the target path, and lists keys it ignores", () => {
    const d = parseLoadJson(MANIFEST);
    expect(d.mode).toBe("crash");
    expect(d.target).toBe("target.json");
    expect(d.ignored).toEqual(["chosen", "tool"]);
    expect(d.load.segments[0]).toEqual({ role: "kernel", mem: 0x6de0_0000n, memsz: 0x2ad_0000n, bufsz: 0x1ea_0a00n, textOffset: 0n, imageSize: 0x2ad_0000n });
  });

  it("hands an inline target back unparsed", () => {
    const d = parseLoadJson(doc({ target: { pageSize: 16384 } }));
    expect(d.target).toEqual({ pageSize: 16384 });
  });

  it.each<[string, string, string | number | undefined, RegExp]>([
    ["a syntax error, with its offset", '{"entry": "0x0",, }', 16, /Cannot parse the load/],
    ["a non-object document", "[1, 2]", undefined, /expected a JSON object/],
    ["a missing entry", JSON.stringify({ flags: "0x0", segments: [] }), "entry", /entry is missing/],
    ["an unsafe JSON integer", doc({ entry: 2 ** 60 }), "entry", /JSON numbers hold exactly/],
    ["a negative number", doc({ entry: -4096 }), "entry", /non-negative/],
    ["a value above 64 bits", doc({ entry: "0x10000000000000000" }), "entry", /does not fit in 64 bits/],
    ["text that is not a number", withSegment({ mem: "0x4010_0000" }), "segments[0].mem", /is not a number/],
    ["flags above bit 31", doc({ flags: "0x100b70000" }), "flags", /EINVAL/],
    ["mode that disagrees with the flags", doc({ mode: "crash" }), "mode", /disagrees with flags/],
    ["an empty segment list", doc({ segments: [] }), "segments", /unloads instead of loading/],
    ["a misspelt segment key", withSegment({ memSz: "0x1000" }), "segments[0].memSz", /unknown segment key "memSz"/],
    ["a prototype key", withSegment({ constructor: 1 }), "segments[0].constructor", /unknown segment key/],
    ["a __proto__ key", '{"entry":"0x0","flags":"0x0","segments":[{"__proto__":{"mem":"0x0"},"mem":"0x0","memsz":"0x0","bufsz":"0x0"}]}', "segments[0].__proto__", /unknown segment key/],
    ["a missing bufsz", doc({ segments: [{ mem: "0x0", memsz: "0x1000" }] }), "segments[0].bufsz", /bufsz is missing/],
    ["an unknown role", withSegment({ role: "ramdisk" }), "segments[0].role", /not one of kernel, initrd/],
    [
      "two segments with one role",
      doc({ segments: [{ role: "dtb", mem: "0x0", memsz: "0x1000", bufsz: "0x1" }, { role: "dtb", mem: "0x1000", memsz: "0x1000", bufsz: "0x1" }] }),
      "segments[1].role",
      /both have role dtb/,
    ],
    ["text_offset on a non-kernel segment", withSegment({ role: "dtb", textOffset: "0x0" }), "segments[0].textOffset", /kernel segment only/],
    ["a bad sha256", withSegment({ sha256: "XYZ" }), "segments[0].sha256", /64 lower-case hex/],
    ["a page size arm64 does not have", doc({ pageSize: 8192 }), "pageSize", /not 4096, 16384 or 65536/],
    ["an empty range", doc({ memory: [{ start: "0x1000", end: "0x1000" }] }), "memory[0]", /not above start/],
    ["a range with extra keys", doc({ crashKernel: { start: "0x0", end: "0x1000", size: "0x1000" } }), "crashKernel.size", /unknown range key/],
    ["an empty target path", doc({ target: "" }), "target", /empty path/],
  ])("refuses %s with LOAD_JSON and where it is", (_, text, where, re) => {
    const e = errorOf(text);
    expect(e.code).toBe("BAD_LOAD");
    expect(e.where).toBe(where);
    expect(e.message).toMatch(re);
  });
});

// ---- fuzz -------------------------------------------------------------------

/** Parses, and checks that a success is a well-formed load; anything thrown must be an InputError. */
function parsesOrRefuses(text: string): void {
  let d: LoadDocument;
  try {
    d = parseLoadJson(text);
  } catch (e) {
    if (e instanceof InputError) return;
    throw e;
  }
  const u64 = (v: bigint) => typeof v === "bigint" && v >= 0n && v < 1n << 64n;
  expect(u64(d.load.entry)).toBe(true);
  expect(Number.isInteger(d.load.flags) && d.load.flags >= 0 && d.load.flags <= 0xffff_ffff).toBe(true);
  expect(d.load.segments.length).toBeGreaterThan(0);
  for (const s of d.load.segments) expect(u64(s.mem) && u64(s.memsz) && u64(s.bufsz)).toBe(true);
}

const numberish = fc.oneof(
  fc.bigInt(0n, (1n << 66n)).map((n) => "0x" + n.toString(16)),
  fc.bigInt(0n, (1n << 64n)).map((n) => n.toString()),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 6 }),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
);
const rangeish = fc.oneof(fc.record({ start: numberish, end: numberish }, { requiredKeys: [] }), fc.jsonValue({ maxDepth: 2 }));
const segmentish = fc.oneof(
  fc.record(
    {
      role: fc.oneof(fc.constantFrom("kernel", "initrd", "dtb", "elfcorehdr", "purgatory"), fc.string({ maxLength: 4 })),
      mem: numberish,
      memsz: numberish,
      bufsz: numberish,
      textOffset: numberish,
      imageSize: numberish,
      file: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
      sha256: fc.oneof(fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 64, maxLength: 64 }), fc.string({ maxLength: 4 })),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
const documentish = fc.record(
  {
    entry: numberish,
    flags: numberish,
    mode: fc.oneof(fc.constantFrom("crash", "reboot"), fc.jsonValue({ maxDepth: 1 })),
    segments: fc.oneof(fc.array(segmentish, { maxLength: 20 }), fc.jsonValue({ maxDepth: 2 })),
    pageSize: fc.oneof(fc.constantFrom(4096, 16384, 65536, "0x1000"), numberish),
    memory: fc.oneof(fc.array(rangeish, { maxLength: 4 }), numberish),
    reserved: fc.array(rangeish, { maxLength: 4 }),
    crashKernel: rangeish,
    crashKernelLow: rangeish,
    target: fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

/** Character-level edits of a valid document. */
const mutatedText = fc
  .tuple(fc.constantFrom(PLAIN, MANIFEST), fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 6 }))
  .map(([text, edits]) => {
    let t = text;
    for (const [at, op, s] of edits) {
      const i = at % (t.length + 1);
      t = op === 0 ? t.slice(0, i) + s + t.slice(i) : op === 1 ? t.slice(0, i) + t.slice(i + 1) : t.slice(0, i) + s + t.slice(i + s.length);
    }
    return t;
  });

describe("parseLoadJson fuzz", () => {
  it("throws only InputError on 4,000 random documents shaped like loads", () => {
    fc.assert(fc.property(documentish, (d) => parsesOrRefuses(JSON.stringify(d))), { numRuns: 4000 });
  });

  it("throws only InputError on 4,000 edits of valid documents", () => {
    fc.assert(fc.property(mutatedText, parsesOrRefuses), { numRuns: 4000 });
  });

  it("throws only InputError on 2,000 arbitrary JSON values and strings", () => {
    fc.assert(fc.property(fc.oneof(fc.json(), fc.string(), fc.jsonValue().map((v) => JSON.stringify({ entry: "0x0", flags: "0x0", segments: [v] }))), parsesOrRefuses), {
      numRuns: 2000,
    });
  });
});
