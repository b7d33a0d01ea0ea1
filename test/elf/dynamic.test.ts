import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { codeOf as code } from "../_thrown.js";
import { DT_NULL, ELF64_DYN, PT_DYNAMIC, PT_INTERP, PT_LOAD, readDynamic, readElf } from "../../toolchain/elf/index.js";
import { dynamicElf } from "./_tiny.js";

const work = mkdtempSync(join(tmpdir(), "elf-dynamic-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What readelf (binutils) says a file's interpreter, DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH are. */
function readelf(bytes: Uint8Array): { interpreter: string | null; needed: string[]; soname: string | null; rpath: string[]; runpath: string[] } {
  const f = join(work, "f");
  writeFileSync(f, bytes);
  const l = execFileSync("readelf", ["-W", "-l", f], { encoding: "utf8" });
  const d = execFileSync("readelf", ["-W", "-d", f], { encoding: "utf8" });
  const one = (re: RegExp) => re.exec(d)?.[1] ?? null;
  const split = (s: string | null) => (s === null ? [] : s.split(":"));
  return {
    interpreter: /Requesting program interpreter: (.*)\]/.exec(l)?.[1] ?? null,
    needed: [...d.matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1] as string),
    soname: one(/\(SONAME\)\s+Library soname: \[(.*)\]/),
    rpath: split(one(/\(RPATH\)\s+Library rpath: \[(.*)\]/)),
    runpath: split(one(/\(RUNPATH\)\s+Library runpath: \[(.*)\]/)),
  };
}
const ours = (b: Uint8Array) => {
  const r = readDynamic(b);
  return { interpreter: r.interpreter, needed: [...r.needed], soname: r.soname, rpath: [...r.rpath], runpath: [...r.runpath] };
};

describe("readDynamic", () => {
  it("reads PT_INTERP, DT_NEEDED in order, DT_SONAME, DT_RPATH and DT_RUNPATH as readelf does", () => {
    const cases = [
      dynamicElf({ interpreter: "/lib/ld-linux-aarch64.so.1", needed: ["liba.so.1", "libb.so.2"], runpath: "$ORIGIN/../lib:/opt/x" }),
      dynamicElf({ soname: "liba.so.1", needed: ["libc.so.6"], rpath: "/r" }),
      dynamicElf({ soname: "libc.so.6" }),
    ];
    for (const b of cases) expect(ours(b)).toEqual(readelf(b));
    expect(ours(cases[0] as Uint8Array)).toEqual({ interpreter: "/lib/ld-linux-aarch64.so.1", needed: ["liba.so.1", "libb.so.2"], soname: null, rpath: [], runpath: ["$ORIGIN/../lib", "/opt/x"] });
  });

  it("says a static program has no dynamic table", () => {
    const r = readDynamic(dynamicElf({ static: true }));
    expect(r).toMatchObject({ dynamic: false, interpreter: null, needed: [], soname: null });
  });

  it("agrees with readelf on Debian's makedumpfile, busybox and every shared library provisioned with makedumpfile", () => {
    const assets = loadAssets();
    const root = assets.makedumpfile.root;
    const files = [assets.makedumpfile.binary.path, assets.busybox.binary.path];
    for (const dir of ["lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu"]) {
      for (const n of readdirSync(join(root, dir))) if (/\.so[.\d]*$/.test(n)) files.push(join(root, dir, n));
    }
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const b = new Uint8Array(readFileSync(f));
      expect(ours(b), f).toEqual(readelf(b));
    }
  });

  it("refuses an interpreter path without NUL, a table without DT_NULL, a string table outside PT_LOAD and a name past DT_STRSZ", () => {
    const base = dynamicElf({ interpreter: "/lib/ld.so", needed: ["liba.so.1"] });
    const phdr = (b: Uint8Array, type: number) => readElf(b).programHeaders.find((p) => p.p_type === type) as NonNullable<ReturnType<typeof readElf>["programHeaders"][0]>;
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

    const noNul = base.slice();
    const interp = phdr(noNul, PT_INTERP);
    noNul[Number(interp.p_offset + interp.p_filesz) - 1] = 0x41;
    expect(code(() => readDynamic(noNul))).toBe("BAD_DYNAMIC");

    const noNull = base.slice();
    const dyn = phdr(noNull, PT_DYNAMIC);
    const last = Number(dyn.p_offset + dyn.p_filesz) - ELF64_DYN.size;
    expect(view(noNull).getBigUint64(last, true)).toBe(BigInt(DT_NULL));
    view(noNull).setBigUint64(last, 0x7fffn, true); // an unknown tag where DT_NULL was
    expect(code(() => readDynamic(noNull))).toBe("BAD_DYNAMIC");

    const outside = base.slice();
    expect(phdr(outside, PT_LOAD).p_offset).toBe(0n); // the first program header
    view(outside).setBigUint64(Number(readElf(outside).header.e_phoff) + 32, 8n, true); // its p_filesz: it now maps 8 bytes
    expect(code(() => readDynamic(outside))).toBe("BAD_DYNAMIC");

    const pastEnd = base.slice();
    const d = phdr(pastEnd, PT_DYNAMIC);
    view(pastEnd).setBigUint64(Number(d.p_offset) + 8, 0x7fffn, true); // DT_NEEDED's string offset
    expect(code(() => readDynamic(pastEnd))).toBe("BAD_DYNAMIC");

    expect(code(() => readDynamic(base.subarray(0, Number(d.p_offset) + 8)))).toBe("TRUNCATED");
  });
});
