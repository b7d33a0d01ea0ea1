import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildElfcorehdr, lintVmcoreinfoCoverage } from "../../toolchain/target/index.js";
import { parseTarget, parseVmcoreinfo } from "../../toolchain/target/index.js";

const TARGET = parseTarget(readFileSync(new URL("./fixtures/qemu-virt-6.1/target.json", import.meta.url), "utf8"));
const TEXT = TARGET.vmcoreinfo?.text ?? "";
const INFO = parseVmcoreinfo(TEXT);
const GOOD = buildElfcorehdr(TARGET).bytes;
const SYMBOLS = ["init_uts_ns", "node_online_map", "swapper_pg_dir", "_stext", "vmap_area_list", "mem_section", "prb", "printk_rb_static", "clear_seq"];

describe("lintVmcoreinfoCoverage", () => {
  it("finds every symbol of the fixture inside our PT_LOADs", () => {
    const r = lintVmcoreinfoCoverage(GOOD, INFO);
    expect(r.symbols.map((s) => s.name)).toEqual(SYMBOLS);
    expect(r.symbols.every((s) => s.coveredBy !== null)).toBe(true);
    expect(r.findings).toEqual([]);
  });

  it("flags every symbol of the header kexec-tools writes when kallsyms has no _text", () => {
    // kexec-tools then sets the kernel PT_LOAD's p_vaddr to UINT64_MAX and, seeing
    // _text (0) below ~0 << (VA_BITS - 1), takes the pre-5.4 PAGE_OFFSET for the RAM
    // PT_LOADs: the header of a 6.1 kernel's unusable /proc/vmcore.
    const broken = GOOD.slice();
    const v = new DataView(broken.buffer);
    v.setBigUint64(64 + 3 * 56 + 16, 0xffff_ffff_ffff_ffffn, true);
    for (const i of [4, 5]) {
      const at = 64 + i * 56 + 16;
      v.setBigUint64(at, v.getBigUint64(at, true) + 0x8000_0000_0000n, true);
    }
    const r = lintVmcoreinfoCoverage(broken, INFO);
    expect(r.findings.map((f) => f.symbol)).toEqual(SYMBOLS);
    expect(r.findings[3]).toMatchObject({ code: "SYMBOL_NOT_COVERED", severity: "error", address: 0xffffaba2dee10000n });
    expect(r.findings[3]?.message).toMatch(/SYMBOL\(_stext\)=0xffffaba2dee10000 lies in no PT_LOAD/);
  });

  it("treats the end of a PT_LOAD as outside it", () => {
    // Kernel data ends at _end = _text + 0x1e80000; a symbol there is past the image
    const info = parseVmcoreinfo(TEXT + "SYMBOL(_end)=ffffaba2e0c80000\n");
    expect(lintVmcoreinfoCoverage(GOOD, info).findings.map((f) => f.symbol)).toEqual(["_end"]);
  });

  it("exempts SYMBOL(vmemmap), an array base below the vmemmap, and nothing else", () => {
    // arm64: VMEMMAP_START - (PHYS_OFFSET >> PAGE_SHIFT) * sizeof(struct page)
    const info = parseVmcoreinfo(TEXT + "SYMBOL(vmemmap)=fffffbffff000000\nSYMBOL(modules)=ffff800000010000\n");
    const r = lintVmcoreinfoCoverage(GOOD, info);
    expect(r.symbols.find((s) => s.name === "vmemmap")).toMatchObject({ coveredBy: null, exempt: expect.stringMatching(/array base/) });
    expect(r.findings.map((f) => f.symbol)).toEqual(["modules"]);
  });
});
