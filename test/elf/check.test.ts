import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkVmcoreHeader } from "../../toolchain/elf/index.js";
import { buildElfcorehdr } from "../../toolchain/target/index.js";
import { parseTarget } from "../../toolchain/target/index.js";
import { noteRecord as note } from "../../toolchain/target/index.js";

const TARGET = parseTarget(readFileSync(new URL("../target/fixtures/qemu-virt-6.1/target.json", import.meta.url), "utf8"));
const GOOD = buildElfcorehdr(TARGET).bytes;

function patched(f: (v: DataView, b: Uint8Array) => void): Uint8Array {
  const b = GOOD.slice();
  f(new DataView(b.buffer), b);
  return b;
}
const codes = (bytes: Uint8Array, opts = {}) => checkVmcoreHeader(bytes, opts).map((f) => [f.code, f.where]);

describe("checkVmcoreHeader", () => {
  it("passes our header", () => {
    expect(checkVmcoreHeader(GOOD)).toEqual([]);
  });

  it("refuses a header without the ELF magic as the kernel does", () => {
    expect(codes(patched((_, b) => { b[0] = 0; }))).toEqual([["NOT_FOUND", 0]]);
    expect(codes(GOOD.subarray(0, 10))).toEqual([["NOT_FOUND", 0]]);
    expect(checkVmcoreHeader(patched((_, b) => { b[0] = 0; }))[0]?.kernel).toMatch(/Core image elf header not found/);
  });

  it("reports every failed sanity check of parse_crash_elf64_headers with the field offset", () => {
    expect(codes(patched((_, b) => { b[4] = 1; }))).toEqual([["NOT_SANE", 4]]);
    const bad = patched((v, b) => {
      v.setUint16(16, 2, true); // e_type ET_EXEC
      v.setUint16(18, 62, true); // e_machine x86-64
      b[6] = 0; // EI_VERSION
      v.setUint32(20, 2, true); // e_version
      v.setUint16(52, 52, true); // e_ehsize
      v.setUint16(54, 32, true); // e_phentsize
    });
    expect(codes(bad)).toEqual([["NOT_SANE", 16], ["NOT_SANE", 18], ["NOT_SANE", 6], ["NOT_SANE", 20], ["NOT_SANE", 52], ["NOT_SANE", 54]]);
    expect(codes(patched((v) => v.setUint16(56, 0, true)))).toEqual([["NOT_SANE", 56]]);
    expect(checkVmcoreHeader(bad)[0]?.kernel).toMatch(/not sane/);
  });

  it("flags e_phoff other than 64, which vmcore ignores", () => {
    expect(codes(patched((v) => v.setBigUint64(32, 128n, true)))).toEqual([["PHOFF", 32]]);
  });

  it("flags program headers past the buffer", () => {
    expect(codes(patched((v) => v.setUint16(56, 30, true)))).toEqual([["TRUNCATED", 1024]]);
    expect(codes(GOOD.subarray(0, 40).slice())).toEqual([["TRUNCATED", 40]]);
  });

  it("flags a header with no PT_NOTE, which merge_note_headers_elf64 corrupts", () => {
    // turn the three notes into loads
    const b = patched((v) => [0, 1, 2].forEach((i) => v.setUint32(64 + i * 56, 1, true)));
    expect(codes(b)).toEqual([["NO_NOTES", 56]]);
  });

  it("flags a PT_NOTE smaller than a note header and a PT_LOAD that wraps", () => {
    expect(codes(patched((v) => v.setBigUint64(64 + 40, 8n, true)))).toEqual([["NOTE_TOO_SMALL", 64 + 40]]);
    const wrap = patched((v) => {
      v.setBigUint64(64 + 5 * 56 + 8, 0xffff_ffff_ffff_f000n, true);
      v.setBigUint64(64 + 5 * 56 + 24, 0xffff_ffff_ffff_f000n, true);
    });
    expect(codes(wrap)).toEqual([["LOAD_WRAPS", 64 + 5 * 56 + 8]]);
  });

  it("warns when p_paddr and p_offset of a PT_LOAD differ", () => {
    const f = checkVmcoreHeader(patched((v) => v.setBigUint64(64 + 4 * 56 + 24, 0x1000n, true)));
    expect(f.map((x) => [x.code, x.severity, x.where])).toEqual([["PADDR_MISMATCH", "warning", 64 + 4 * 56 + 24]]);
  });

  describe("with the crashed kernel's memory", () => {
    const memory = (cpu0: Uint8Array) => (address: bigint, length: number): Uint8Array => {
      const out = new Uint8Array(length);
      if (address === 0x7fdd3e00n) out.set(cpu0.subarray(0, length));
      else if (address === 0x7fdf1e00n) out.set(note("CORE", 1, new Uint8Array(392)));
      else if (address === 0x42f8d000n) out.set(note("VMCOREINFO", 0, new TextEncoder().encode("PAGESIZE=4096\n")));
      return out;
    };

    it("walks the notes as the kernel does and finds nothing wrong", () => {
      expect(codes(GOOD, { readPhys: memory(note("CORE", 1, new Uint8Array(392))) })).toEqual([]);
    });

    it("warns when no note precedes the terminator (the CPU never saved its registers)", () => {
      expect(codes(GOOD, { readPhys: memory(new Uint8Array(424)) })).toEqual([["NOTE_EMPTY", 64 + 40]]);
    });

    it("warns when a note overflows p_memsz and errs when notes fill it without a terminator", () => {
      // the only note is dropped, so the kernel then also finds zero notes
      expect(codes(GOOD, { readPhys: memory(note("CORE", 1, new Uint8Array(500))) })).toEqual([["NOTE_DROPPED", 64 + 40], ["NOTE_EMPTY", 64 + 40]]);
      const full = note("CORE", 1, new Uint8Array(404)).subarray(0, 424); // exactly 424 bytes of note, no room for the empty one
      expect(codes(GOOD, { readPhys: memory(full) })).toEqual([["NOTE_UNTERMINATED", 64 + 40]]);
    });
  });
});
