import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { codeOf as code } from "../_thrown.js";
import { ELF64_SHDR, SHN_XINDEX, findSection, readSections } from "../../toolchain/elf/index.js";
import { dynamicElf, moduleElf } from "./_tiny.js";

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const shoff = (b: Uint8Array) => Number(view(b).getBigUint64(40, true));

describe("readSections", () => {
  it("names the sections of a relocatable file and finds .modinfo", () => {
    const ko = moduleElf(["depends=a,b", "name=x"]);
    expect(readSections(ko).map((s) => s.name)).toEqual(["", ".modinfo", ".shstrtab"]);
    expect(new TextDecoder().decode(findSection(ko, ".modinfo") ?? new Uint8Array())).toBe("depends=a,b\0name=x\0");
    expect(findSection(ko, ".text")).toBeNull();
  });

  it("lists the same section names as readelf -S for a real module of Debian's kernel", () => {
    const kernel = loadAssets().kernel;
    const path = join(kernel.modulesDir as string, "kernel/drivers/block/virtio_blk.ko");
    const ours = readSections(new Uint8Array(readFileSync(path))).slice(1).map((s) => s.name);
    const theirs = [...execFileSync("readelf", ["-W", "-S", path], { encoding: "utf8" }).matchAll(/^\s*\[\s*(\d+)\]\s+(\S+)/gm)].map((m) => m[2]).filter((n) => n !== "NULL");
    expect(ours).toEqual(theirs);
    const modinfo = execFileSync("readelf", ["-p", ".modinfo", path], { encoding: "utf8" });
    for (const s of new TextDecoder().decode(findSection(new Uint8Array(readFileSync(path)), ".modinfo") ?? new Uint8Array()).split("\0").filter((x) => x !== "")) {
      expect(modinfo).toContain(s);
    }
  });

  it("returns nothing for a file without section headers", () => {
    expect(readSections(dynamicElf({ soname: "a.so" }))).toEqual([]);
  });

  it("honours the extended numbering: e_shnum 0 and e_shstrndx SHN_XINDEX move the values into section 0", () => {
    const ko = moduleElf(["name=x"]);
    const v = view(ko);
    v.setUint16(60, 0, true); // e_shnum
    v.setUint16(62, SHN_XINDEX, true); // e_shstrndx
    v.setBigUint64(shoff(ko) + 32, 3n, true); // section 0 sh_size = the count
    v.setUint32(shoff(ko) + 40, 2, true); // section 0 sh_link = the name table
    expect(readSections(ko).map((s) => s.name)).toEqual(["", ".modinfo", ".shstrtab"]);
  });

  it("refuses a wrong e_shentsize, a table past the end, a name table index out of range and a name without NUL", () => {
    const bad = (edit: (b: Uint8Array) => Uint8Array) => code(() => readSections(edit(moduleElf(["name=x"]))));
    expect(bad((b) => (view(b).setUint16(58, 40, true), b))).toBe("BAD_SECTION");
    expect(bad((b) => b.subarray(0, b.length - 10))).toBe("TRUNCATED");
    expect(bad((b) => (view(b).setUint16(62, 7, true), b))).toBe("BAD_SECTION");
    expect(bad((b) => (view(b).setUint32(shoff(b) + ELF64_SHDR.size, 0xfff, true), b))).toBe("BAD_SECTION");
  });
});
