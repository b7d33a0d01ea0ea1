import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InputError } from "../../toolchain/bytes/index.js";
import { decodeSegmentTable, encodeSegmentTable, type SegmentTable } from "../../toolchain/bundle/table.js";

const sample: SegmentTable = {
  entry: 0x7fe00000n,
  flags: 0xb70001n,
  segments: [
    { role: "kernel", file: "kernel.bin", mem: 0x70000000n, memsz: 0x2000000n, bufsz: 0x1a00000n, sha256: new Uint8Array(32).fill(0xaa) },
    { role: "purgatory", file: "purgatory.bin", mem: 0x7fe00000n, memsz: 0x1000n, bufsz: 0x800n, sha256: new Uint8Array(32).fill(0x55) },
  ],
};

describe("encodeSegmentTable/decodeSegmentTable", () => {
  it("writes the documented little-endian layout and reads it back", () => {
    const b = encodeSegmentTable(sample);
    expect(b.length).toBe(32 + 2 * 96);
    expect(Buffer.from(b.subarray(0, 32)).toString("hex")).toBe(
      Buffer.from("PGSEGTB1").toString("hex") + "01000000" + "02000000" + "0000e07f00000000" + "0100b70000000000",
    );
    // first entry: mem, memsz, bufsz, role 1
    expect(Buffer.from(b.subarray(32, 60)).toString("hex")).toBe(
      "0000007000000000" + "0000000200000000" + "0000a00100000000" + "01000000",
    );
    expect(decodeSegmentTable(b)).toEqual(sample);
  });

  it("refuses names that leave the bundle and unknown roles, with the offset", () => {
    const b = encodeSegmentTable(sample);
    const bad = b.slice();
    bad.set(new TextEncoder().encode("../x\0"), 32 + 64);
    expect(() => decodeSegmentTable(bad)).toThrow(/leaves the bundle/);
    const role = b.slice();
    role[32 + 24] = 9;
    try {
      decodeSegmentTable(role);
      expect.unreachable();
    } catch (e) {
      expect((e as InputError).where).toBe(32 + 24);
      expect((e as InputError).code).toBe("BAD_ROLE");
    }
  });

  it("refuses more segments than kexec_load takes", () => {
    const b = encodeSegmentTable(sample);
    new DataView(b.buffer, b.byteOffset).setUint32(12, 17, true);
    expect(() => decodeSegmentTable(b)).toThrow(expect.objectContaining({ code: "TOO_MANY_SEGMENTS", where: 12 }) as Error);
  });

  it("throws only InputError on arbitrary mutations (10,000 cases)", () => {
    const good = encodeSegmentTable(sample);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length }), fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (cut, flips) => {
        const b = good.slice(0, cut);
        for (const [i, v] of flips) if (i < b.length) b[i] = v;
        try {
          decodeSegmentTable(b);
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
