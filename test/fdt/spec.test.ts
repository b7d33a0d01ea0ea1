import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FDT_ERROR_CODES, FDT_HEADER, FDT_HEADER_V16, FDT_PARSE_ERROR_CODES } from "../../toolchain/fdt/index.js";

const SRC = new URL("../../toolchain/fdt/", import.meta.url).pathname;

describe("FDT_ERROR_CODES is the closed list of codes the library throws", () => {
  it("lists every code thrown in toolchain/fdt/, and nothing else", () => {
    const thrown = new Set<string>();
    for (const f of readdirSync(SRC).filter((f) => f.endsWith(".ts") && f !== "spec.ts")) {
      for (const m of readFileSync(SRC + f, "utf8").matchAll(/"([A-Z][A-Z_]+)"/g)) thrown.add(m[1]!);
    }
    expect([...thrown].sort()).toEqual([...FDT_ERROR_CODES].sort());
  });

  it("starts with the parse codes", () => {
    expect(FDT_ERROR_CODES.slice(0, FDT_PARSE_ERROR_CODES.length)).toEqual([...FDT_PARSE_ERROR_CODES]);
  });
});

describe("FDT_HEADER follows DTSpec 5.2", () => {
  it("has ten big-endian u32 fields at 4-byte steps; version 16 lacks the last", () => {
    expect(FDT_HEADER.fields.map((f) => [f.name, f.offset, f.kind])).toEqual(
      ["magic", "totalsize", "off_dt_struct", "off_dt_strings", "off_mem_rsvmap", "version", "last_comp_version", "boot_cpuid_phys", "size_dt_strings", "size_dt_struct"].map((n, i) => [n, 4 * i, "u32BE"]),
    );
    expect([FDT_HEADER.size, FDT_HEADER_V16.size]).toEqual([40, 36]);
    expect(FDT_HEADER_V16.fields).toEqual(FDT_HEADER.fields.slice(0, 9));
  });
});
