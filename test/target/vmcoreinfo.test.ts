import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { describeVaModel, kimagePa, linearVa, parseVmcoreinfo, vaModel } from "../../toolchain/target/index.js";
import { thrown } from "../_thrown.js";

const TEXT = readFileSync(new URL("fixtures/qemu-virt-6.1/vmcoreinfo.txt", import.meta.url), "utf8");


describe("parseVmcoreinfo", () => {
  it("reads the keys of a 6.1 arm64 kernel in their printed formats", () => {
    const v = parseVmcoreinfo(TEXT + "\0\0\0");
    expect(v.osRelease).toBe("6.1.0-18-arm64");
    expect(v.pageSize).toBe(4096);
    expect(v.symbols.get("_stext")).toBe(0xffffaba2dee10000n); // %lx, no 0x
    expect(v.numbers.get("VA_BITS")).toBe(48n); // %ld
    expect(v.numbers.get("PAGE_BUDDY_MAPCOUNT_VALUE")).toBe(-129n); // %d, negative
    expect(v.numbers.get("kimage_voffset")).toBe(0xffffaba29ec00000n); // 0x%llx
    expect(v.kernelOffset).toBe(0x2ba2d6e00000n);
    expect(v.entries.length).toBe(TEXT.trimEnd().split("\n").length);
    expect(v.entries[2]).toEqual({ key: "PAGESIZE", value: "4096", line: 3 });
  });

  it("names the line of a malformed or repeated key it reads", () => {
    expect(thrown(() => parseVmcoreinfo("OSRELEASE=6.1\nno equals sign\n", "vmcoreinfo.text"))).toMatchObject({ code: "BAD_VMCOREINFO", where: "vmcoreinfo.text line 2" });
    expect(thrown(() => parseVmcoreinfo("SYMBOL(_stext)=0xffff800008010000\n")).message).toMatch(/is not a hex address/);
    expect(thrown(() => parseVmcoreinfo("NUMBER(VA_BITS)=forty-eight\n")).message).toMatch(/decimal or 0x-hex/);
    expect(thrown(() => parseVmcoreinfo("PAGESIZE=4k\n")).code).toBe("BAD_VMCOREINFO");
    expect(thrown(() => parseVmcoreinfo("NUMBER(VA_BITS)=48\nNUMBER(VA_BITS)=39\n")).message).toMatch(/appears twice/);
    // keys this project does not read are kept as text, unchecked
    expect(parseVmcoreinfo("SIZE(page)=sixty-four\nCRASHTIME=1700000000\n").entries.length).toBe(2);
  });
});

describe("vaModel", () => {
  it("derives the 5.4+ layout of the fixture, and _text from MODULES_END + KERNELOFFSET", () => {
    const m = vaModel(parseVmcoreinfo(TEXT));
    expect(m).toEqual({
      vaBits: 48,
      layout: "5.4+",
      pageOffset: 0xffff000000000000n,
      physOffset: 0x40000000n,
      kimageVoffset: 0xffffaba29ec00000n,
      kernelOffset: 0x2ba2d6e00000n,
      stext: 0xffffaba2dee10000n,
      text: 0xffffaba2dee00000n,
      textFrom: "MODULES_END+KERNELOFFSET",
    });
    expect(linearVa(m, 0x40000000n)).toBe(0xffff000000000000n);
    expect(linearVa(m, 0x7fc00000n)).toBe(0xffff00003fc00000n);
    expect(kimagePa(m, m.stext)).toBe(0x40210000n);
    expect(describeVaModel(m)).toMatch(/^VA_BITS 48 \(5\.4\+\), PAGE_OFFSET 0xffff000000000000/);
  });

  it("handles a negative PHYS_OFFSET (linear-map randomisation) with wrapping arithmetic", () => {
    // PHYS_OFFSET is signed: 0xffffffffc0000000 is -1 GiB, so pa 0 maps 1 GiB above PAGE_OFFSET
    const m = vaModel(parseVmcoreinfo(TEXT.replace("NUMBER(PHYS_OFFSET)=0x40000000", "NUMBER(PHYS_OFFSET)=0xffffffffc0000000")));
    expect(linearVa(m, 0n)).toBe(0xffff000040000000n);
    expect(linearVa(m, 0x40000000n)).toBe(0xffff000080000000n);
  });

  it("falls back to _stext when _text cannot be derived", () => {
    const noModules = vaModel(parseVmcoreinfo(TEXT.replace(/NUMBER\(MODULES_END\)=.*\n/, "")));
    expect([noModules.text, noModules.textFrom]).toEqual([0xffffaba2dee10000n, "_stext"]);
    // MODULES_END + KERNELOFFSET beyond _stext: not this kernel's layout
    const wrong = vaModel(parseVmcoreinfo(TEXT.replace("KERNELOFFSET=2ba2d6e00000", "KERNELOFFSET=2ba2d7000000")));
    expect(wrong.textFrom).toBe("_stext");
  });

  it("names the vmcoreinfo key it is missing", () => {
    for (const key of ["NUMBER(VA_BITS)", "NUMBER(PHYS_OFFSET)", "NUMBER(kimage_voffset)", "SYMBOL(_stext)", "KERNELOFFSET"]) {
      const text = TEXT.split("\n").filter((l) => !l.startsWith(key + "=")).join("\n");
      const e = thrown(() => vaModel(parseVmcoreinfo(text), "vmcoreinfo.text"));
      expect([e.code, e.where]).toEqual(["NO_VMCOREINFO", "vmcoreinfo.text"]);
      expect(e.message).toContain(key);
    }
    expect(thrown(() => vaModel(parseVmcoreinfo(TEXT.replace("NUMBER(VA_BITS)=48", "NUMBER(VA_BITS)=44")))).code).toBe("BAD_VMCOREINFO");
  });
});
