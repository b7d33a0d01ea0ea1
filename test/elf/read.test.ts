import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { parseElfHeader, parseNotes, parseProgramHeaders, readElf } from "../../toolchain/elf/index.js";
import { buildElfcorehdr } from "../../toolchain/target/index.js";
import { parseTarget } from "../../toolchain/target/index.js";
import { fakeKcore } from "../target/_fake-root.js";
import { noteRecord as note } from "../../toolchain/target/index.js";
import { thrown } from "../_thrown.js";

const TARGET = parseTarget(readFileSync(new URL("../target/fixtures/qemu-virt-6.1/target.json", import.meta.url), "utf8"));
const HEADER = buildElfcorehdr(TARGET).bytes;
const KCORE = fakeKcore("OSRELEASE=6.1.0-18-arm64\nPAGESIZE=4096\n");


describe("readElf", () => {
  it("reads the header and program headers of an elfcorehdr", () => {
    const { header, programHeaders } = readElf(HEADER);
    expect(header.e_phnum).toBe(6);
    expect(programHeaders.map((p) => p.p_type)).toEqual([4, 4, 4, 1, 1, 1]);
    expect(programHeaders[3]?.p_vaddr).toBe(0xffffaba2dee00000n);
  });

  it("reports what is wrong and where", () => {
    expect(thrown(() => readElf(HEADER.subarray(0, 40)))).toMatchObject({ code: "TRUNCATED", where: 0 });
    const notElf = HEADER.slice();
    notElf[1] = 0x46;
    expect(thrown(() => readElf(notElf))).toMatchObject({ code: "NOT_ELF", where: 0 });
    const elf32 = HEADER.slice();
    elf32[4] = 1;
    expect(thrown(() => readElf(elf32))).toMatchObject({ code: "UNSUPPORTED_ELF", where: 4 });
    const bigEndian = HEADER.slice();
    bigEndian[5] = 2;
    expect(thrown(() => readElf(bigEndian))).toMatchObject({ code: "UNSUPPORTED_ELF", where: 5 });
    const phentsize = HEADER.slice();
    phentsize[54] = 32;
    expect(thrown(() => readElf(phentsize))).toMatchObject({ code: "UNSUPPORTED_ELF", where: 54 });
    // 6 program headers end at 400; cut at 300
    expect(thrown(() => readElf(HEADER.subarray(0, 300)))).toMatchObject({ code: "TRUNCATED", where: 300 });
    const farPhoff = HEADER.slice();
    new DataView(farPhoff.buffer).setBigUint64(32, 0x10_0000n, true);
    expect(thrown(() => readElf(farPhoff))).toMatchObject({ code: "TRUNCATED", where: 32 });
    const hugePhoff = HEADER.slice();
    new DataView(hugePhoff.buffer).setBigUint64(32, 1n << 60n, true);
    expect(thrown(() => readElf(hugePhoff))).toMatchObject({ code: "TOO_LARGE", where: 32 });
  });
});

describe("parseProgramHeaders", () => {
  it("names the file offset where the table runs out", () => {
    expect(thrown(() => parseProgramHeaders(new Uint8Array(100), 2, 0x40))).toMatchObject({ code: "TRUNCATED", where: 0x40 + 100 });
  });
});

describe("parseElfHeader", () => {
  it("reads the kcore header of an arm64 core file", () => {
    expect(parseElfHeader(KCORE)).toMatchObject({ e_type: 4, e_machine: 183, e_phnum: 5 });
  });
});

describe("parseNotes", () => {
  it("walks records, trims name NULs, stops at an empty note, and reports offsets from the base", () => {
    const desc = new TextEncoder().encode("PAGESIZE=4096\n");
    const a = note("CORE", 1, new Uint8Array(392));
    const b = note("VMCOREINFO", 0, desc);
    const bytes = new Uint8Array(a.length - 12 + b.length);
    bytes.set(a.subarray(0, a.length - 12));
    bytes.set(b, a.length - 12);
    const notes = parseNotes(bytes, 0x1000);
    expect(notes.map((n) => [n.name, n.type, n.desc.length, n.offset])).toEqual([
      ["CORE", 1, 392, 0x1000],
      ["VMCOREINFO", 0, desc.length, 0x1000 + a.length - 12],
    ]);
    expect(new TextDecoder().decode(notes[1]?.desc)).toBe("PAGESIZE=4096\n");
  });

  it("refuses a record that runs past the segment, at its offset", () => {
    const n = note("VMCOREINFO", 0, new Uint8Array(100));
    expect(thrown(() => parseNotes(n.subarray(0, 60), 0x2000))).toMatchObject({ code: "TRUNCATED", where: 0x2000 });
    expect(thrown(() => parseNotes(n.subarray(0, 5), 0x2000))).toMatchObject({ code: "TRUNCATED", where: 0x2000 });
  });
});

describe("ELF reader fuzz", () => {
  const seeds = [HEADER, KCORE];
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat())
    .map(([seed, edits, cut]) => {
      const b = seed.slice(0, seed.length - (cut % 64));
      for (const [at, v] of edits) b[at % b.length] = v;
      return b;
    });
  const anyBytes = fc.uint8Array({ maxLength: 600 }).map((b) => {
    const out = b.slice();
    if (out.length >= 6) out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
    return out;
  });

  it("throws only InputError on 10,000 damaged or random files", () => {
    fc.assert(
      fc.property(fc.oneof(mutated, anyBytes), (bytes) => {
        try {
          const { programHeaders } = readElf(bytes);
          for (const p of programHeaders) {
            if (p.p_type === 4 && p.p_offset < BigInt(bytes.length)) {
              parseNotes(bytes.subarray(Number(p.p_offset), Number(p.p_offset) + Math.min(Number(p.p_filesz > 1n << 20n ? 1n << 20n : p.p_filesz), bytes.length)), Number(p.p_offset));
            }
          }
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
