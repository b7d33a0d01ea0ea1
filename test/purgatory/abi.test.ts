import { beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { build, formatConsole, HEADER, parseConsole, parseHeader, PATCHED_MAGIC, PATCHED_VALUE, slotMap } from "../../toolchain/purgatory/index.js";

let blob: Uint8Array;
beforeAll(async () => {
  blob = (await build()).blob;
});

function refusal(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("no error");
}

/** The default blob with one u32 of the header replaced. */
function withU32(at: number, v: number): Uint8Array {
  const b = blob.slice();
  new DataView(b.buffer).setUint32(at, v, true);
  return b;
}
const fieldAt = (name: string): number => HEADER.fields.find((f) => f.name === name)!.offset;

describe("parseHeader", () => {
  it("reads the header of a built blob", () => {
    const h = parseHeader(blob);
    expect(h).toMatchObject({ abi_version: 3, blob_size: blob.length, header_size: 0x60, region_capacity: 16, region_entry_size: 48 });
    expect(blob.length % 4096).toBe(0); // whole pages: the page-table pool starts right after
    expect(h.mem_size).toBe(blob.length + 32 * 4096);
    expect(h.code0 >>> 26).toBe(0b000101); // B imm26
    expect((h.code0 & 0x3ffffff) * 4).toBe(h.code_start); // branches to the code
  });

  it.each([
    ["a wrong magic", () => withU32(0x08, 0x41414141), "BAD_MAGIC", 0x08],
    ["an ABI 1 blob (no mem_size, flags reserved)", () => withU32(0x04, 1), "BAD_ABI", 0x04],
    ["an ABI 2 blob (no psci, segment_memsz, patched slots)", () => withU32(0x04, 2), "BAD_ABI", 0x04],
    ["a trailing byte", () => new Uint8Array([...blob, 0]), "SIZE_MISMATCH", 0x10],
    ["a truncated blob", () => blob.slice(0, blob.length - 1), "SIZE_MISMATCH", 0x10],
    ["less than a header", () => blob.slice(0, 0x20), "TRUNCATED", 0],
    ["a wrong header size", () => withU32(fieldAt("header_size"), 0x40), "BAD_HEADER", fieldAt("header_size")],
    ["a slot inside the header", () => withU32(fieldAt("dtb_addr_offset"), 0x10), "BAD_HEADER", fieldAt("dtb_addr_offset")],
    ["a misaligned u64 slot", () => withU32(fieldAt("kernel_entry_offset"), 0x54), "BAD_HEADER", fieldAt("kernel_entry_offset")],
    ["a slot past the end", () => withU32(fieldAt("flags_offset"), blob.length - 2), "BAD_HEADER", fieldAt("flags_offset")],
    ["a misaligned u64 slot of ABI 3", () => withU32(fieldAt("patched_offset"), 0x84), "BAD_HEADER", fieldAt("patched_offset")],
    ["an ABI 3 slot inside the header", () => withU32(fieldAt("psci_offset"), 0x58), "BAD_HEADER", fieldAt("psci_offset")],
    ["a region table past the end", () => withU32(fieldAt("regions_offset"), blob.length - 8 * 48), "BAD_HEADER", fieldAt("regions_offset")],
    ["a mem_size below the blob size", () => withU32(fieldAt("mem_size"), blob.length - 4096), "BAD_HEADER", fieldAt("mem_size")],
    ["a mem_size that is not whole page tables", () => withU32(fieldAt("mem_size"), blob.length + 100), "BAD_HEADER", fieldAt("mem_size")],
    ["no region table", () => withU32(fieldAt("region_capacity"), 0), "BAD_HEADER", fieldAt("region_capacity")],
    ["another entry size", () => withU32(fieldAt("region_entry_size"), 40), "BAD_HEADER", fieldAt("region_entry_size")],
    ["a code range past the end", () => withU32(fieldAt("code_end"), blob.length + 4), "BAD_HEADER", fieldAt("code_start")],
  ])("refuses %s, with the offset", (_what, make, code, where) => {
    const e = refusal(() => parseHeader(make()));
    expect(e.code).toBe(code);
    expect(e.where).toBe(where);
  });
});

describe("slotMap", () => {
  it("lists every slot with its offset and type, and the region table's shape", () => {
    const m = slotMap(parseHeader(blob));
    expect(m.slots.kernel_entry).toMatchObject({ offset: 0x60, type: "u64le" });
    expect(m.slots.region_count.type).toBe("u32le");
    expect(m.slots.segment_memsz.type).toBe("u64le");
    expect(m.slots.patched.type).toBe("u64le");
    expect(m.slots.psci.type).toBe("u32le");
    expect(m.slots.console_width.type).toBe("u32le");
    for (const s of Object.values(m.slots)) expect(s.offset % (s.type === "u64le" ? 8 : 4)).toBe(0);
    expect(m.regions).toMatchObject({ capacity: 16, stride: 48, fields: { start: { offset: 0 }, length: { offset: 8 }, sha256: { offset: 16, size: 32 } } });
    expect(m.values).toEqual({
      console_kind: { none: 0, pl011: 1, "8250": 2, cadence: 3 },
      policy: { spin: 0, reset: 1 },
      psci: { none: 0, hvc: 1, smc: 2, auto: 3 },
      flags: { no_mmu: 1, no_crypto: 2 },
      patched: "0x2144454843544150",
    });
    expect(m.memsz).toBe(blob.length + 32 * 4096);
  });

  it("names the patched magic as the 8 ASCII bytes PATCHED! read as a little-endian u64", () => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, PATCHED_VALUE, true);
    expect(new TextDecoder().decode(b)).toBe(PATCHED_MAGIC);
  });
});

describe("parseConsole / formatConsole", () => {
  it.each([
    ["none", { kind: "none", base: 0n, shift: 0, width: 1 }],
    ["pl011@0x9000000", { kind: "pl011", base: 0x9000000n, shift: 0, width: 4 }],
    ["cadence@0xff000000", { kind: "cadence", base: 0xff000000n, shift: 0, width: 4 }],
    ["8250@0x1c28000", { kind: "8250", base: 0x1c28000n, shift: 0, width: 1 }],
    ["8250@0x1c28000,shift=2", { kind: "8250", base: 0x1c28000n, shift: 2, width: 1 }],
    ["8250@0x1c28000,shift=2,width=4", { kind: "8250", base: 0x1c28000n, shift: 2, width: 4 }],
    ["8250@0x3f8,shift=1", { kind: "8250", base: 0x3f8n, shift: 1, width: 1 }],
    ["8250@0xfe215040,shift=3,width=4", { kind: "8250", base: 0xfe215040n, shift: 3, width: 4 }],
  ])("round-trips %s", (text, value) => {
    expect(parseConsole(text)).toEqual(value);
    expect(formatConsole(parseConsole(text))).toBe(text);
  });

  it("reads decimal bases, and shift and width in either order", () => {
    expect(parseConsole("pl011@4096").base).toBe(4096n);
    expect(parseConsole("8250@0x1000,width=4,shift=2")).toEqual(parseConsole("8250@0x1000,shift=2,width=4"));
  });

  it.each([
    "pl011", "pl011@", "pl011@0x9000000,shift=2", "cadence@0xff000000,width=4", "8250@0x10,shift=4", "8250@0x10,width=2",
    "8250@0x10,shift=1,shift=2", "8250@0x10,baud=9600", "uart@0x10", "8250@0x10000000000000000", "none@0x10",
  ])("refuses %j", (text) => {
    expect(refusal(() => parseConsole(text)).code).toBe("BAD_CONSOLE");
  });
});
