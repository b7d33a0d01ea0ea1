import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { checkVmcoreHeader, dumpElfHeaders } from "../../toolchain/elf/index.js";
import { buildElfcorehdr, lintVmcoreinfoCoverage } from "../../toolchain/target/index.js";
import { parseTarget, parseVmcoreinfo } from "../../toolchain/target/index.js";
import type { Target } from "../../toolchain/target/index.js";
import { expectGolden } from "../_golden.js";
import { writePhysImage } from "./_phys-image.js";
import { codeOf } from "../_thrown.js";

const TARGET_JSON = new URL("./fixtures/qemu-virt-6.1/target.json", import.meta.url).pathname;
const GOLDEN = new URL("fixtures/qemu-virt-6.1/elfcorehdr.dump", import.meta.url).pathname;
const fixture = (): Target => parseTarget(readFileSync(TARGET_JSON, "utf8"));


describe("buildElfcorehdr", () => {
  it("writes the QEMU virt 6.1 header exactly as the golden dump", () => {
    expectGolden(GOLDEN, dumpElfHeaders(buildElfcorehdr(fixture()).bytes));
  });

  it("orders cpu notes, vmcoreinfo, kernel text, then RAM minus the crash range, with VAs from vmcoreinfo", () => {
    const h = buildElfcorehdr(fixture());
    // _text = NUMBER(MODULES_END) + KERNELOFFSET = 0xffff800008000000 + 0x2ba2d6e00000
    const text = 0xffffaba2dee00000n;
    expect(h.phdrs).toEqual([
      { index: 0, role: "cpu-note", cpu: 0, type: "PT_NOTE", paddr: 0x7fdd3e00n, vaddr: 0n, size: 424n },
      { index: 1, role: "cpu-note", cpu: 1, type: "PT_NOTE", paddr: 0x7fdf1e00n, vaddr: 0n, size: 424n },
      { index: 2, role: "vmcoreinfo", type: "PT_NOTE", paddr: 0x42f8d000n, vaddr: 0n, size: 0x1024n },
      // pa(_text) = _text - kimage_voffset; ends at _end ("Kernel data" end)
      { index: 3, role: "kernel-text", type: "PT_LOAD", paddr: 0x40200000n, vaddr: text, size: 0x42080000n - 0x40200000n },
      // linear map: pa - PHYS_OFFSET (0x40000000) + PAGE_OFFSET (~0 << 48)
      { index: 4, role: "ram", type: "PT_LOAD", paddr: 0x40000000n, vaddr: 0xffff000000000000n, size: 0x6fc00000n - 0x40000000n },
      { index: 5, role: "ram", type: "PT_LOAD", paddr: 0x7fc00000n, vaddr: 0xffff00003fc00000n, size: 0x400000n },
    ]);
    expect(h.vaModel.textFrom).toBe("MODULES_END+KERNELOFFSET");
    // 64 + 6 * 56 = 400 bytes, rounded up to 1 KiB
    expect(h.bytes.length).toBe(1024);
  });

  it("passes the capture kernel's checks and covers every vmcoreinfo symbol", () => {
    const t = fixture();
    const h = buildElfcorehdr(t);
    expect(checkVmcoreHeader(h.bytes)).toEqual([]);
    const report = lintVmcoreinfoCoverage(h.bytes, parseVmcoreinfo(t.vmcoreinfo?.text ?? ""));
    expect(report.findings).toEqual([]);
    expect(report.symbols.find((s) => s.name === "mem_section")?.coveredBy).toBe(5); // a linear-map address in RAM
    expect(report.symbols.find((s) => s.name === "_stext")?.coveredBy).toBe(3);
  });

  it("is read by readelf -h -l -n without complaint, from the physical memory the capture kernel sees", () => {
    const t = fixture();
    const h = buildElfcorehdr(t);
    const dir = mkdtempSync(join(tmpdir(), "purgatory-elf-"));
    try {
      const image = join(dir, "phys.img");
      writePhysImage(image, h.bytes, t);
      const r = spawnSync("readelf", ["-h", "-l", "-n", "--wide", image], { encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/Type:\s+CORE \(Core file\)/);
      expect(r.stdout).toMatch(/Machine:\s+AArch64/);
      expect(r.stdout).toMatch(/Number of program headers:\s+6/);
      const rows = [...r.stdout.matchAll(/^\s+(NOTE|LOAD)\s+(0x\S+) (0x\S+) (0x\S+) (0x\S+) (0x\S+)/gm)].map((m) => ({
        type: m[1] === "NOTE" ? "PT_NOTE" : "PT_LOAD",
        offset: BigInt(m[2] as string),
        vaddr: BigInt(m[3] as string),
        paddr: BigInt(m[4] as string),
        size: BigInt(m[5] as string),
      }));
      expect(rows).toEqual(h.phdrs.map((p) => ({ type: p.type, offset: p.paddr, vaddr: p.vaddr, paddr: p.paddr, size: p.size })));
      const owners = [...r.stdout.matchAll(/^\s+(CORE|VMCOREINFO)\s+(0x[0-9a-f]+)\s+(.*?)\s*$/gm)].map((m) => [m[1], Number(m[2]), m[3]?.split("\t")[0]]);
      expect(owners).toEqual([
        ["CORE", 392, "NT_PRSTATUS (prstatus structure)"],
        ["CORE", 392, "NT_PRSTATUS (prstatus structure)"],
        ["VMCOREINFO", t.vmcoreinfo?.text?.length, "Unknown note type: (0x00000000)"],
      ]);
      // and the kernel's own note walk over that memory finds nothing to complain about
      const fd = openSync(image, "r");
      const readPhys = (a: bigint, n: number) => {
        const b = new Uint8Array(n);
        return b.subarray(0, readSync(fd, b, 0, n, Number(a)));
      };
      try {
        expect(checkVmcoreHeader(h.bytes, { readPhys })).toEqual([]);
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("leaves both crash ranges out of the RAM program headers", () => {
    const t: Target = {
      ...fixture(),
      memory: [{ start: 0x40000000n, end: 0xc0000000n }, { start: 0x100000000n, end: 0x140000000n }],
      crashKernelLow: { start: 0x70000000n, end: 0x78000000n },
      crashKernel: { start: 0x120000000n, end: 0x140000000n },
    };
    const ram = buildElfcorehdr(t).phdrs.filter((p) => p.role === "ram").map((p) => [p.paddr, p.paddr + p.size]);
    expect(ram).toEqual([[0x40000000n, 0x70000000n], [0x78000000n, 0xc0000000n], [0x100000000n, 0x120000000n]]);
  });

  it("uses PAGE_OFFSET = ~0 << (VA_BITS - 1) for a pre-5.4 kernel whose image lies in the lower half", () => {
    const t = fixture();
    const text = (t.vmcoreinfo?.text ?? "")
      .replace(/SYMBOL\(_stext\)=.*/, "SYMBOL(_stext)=ffff000008081000")
      .replace(/NUMBER\(kimage_voffset\)=.*/, "NUMBER(kimage_voffset)=0xfffeffffc7e71000")
      .replace(/NUMBER\(MODULES_END\)=.*\n/, "");
    const h = buildElfcorehdr({ ...t, vmcoreinfo: { address: 0x42f8d000n, size: 0x1024n, text } });
    expect(h.vaModel.layout).toBe("pre-5.4");
    expect(h.vaModel.pageOffset).toBe(0xffff800000000000n);
    expect(h.phdrs.find((p) => p.role === "ram")?.vaddr).toBe(0xffff800000000000n);
    // without MODULES_END the image starts at _stext (= Kernel code start)
    expect(h.vaModel.textFrom).toBe("_stext");
    expect(h.phdrs.find((p) => p.role === "kernel-text")).toMatchObject({ paddr: 0x40210000n, vaddr: 0xffff000008081000n });
  });

  it("refuses targets it cannot describe, naming the field", () => {
    const t = fixture();
    expect(codeOf(() => buildElfcorehdr({ ...t, crashKernel: null }))).toBe("NO_CRASH_KERNEL");
    expect(codeOf(() => buildElfcorehdr({ ...t, vmcoreinfo: { address: 0x42f8d000n, size: 0x1024n } }))).toBe("NO_VMCOREINFO");
    expect(codeOf(() => buildElfcorehdr({ ...t, kernelData: null }))).toBe("NO_KERNEL_RANGES");
    const cpuNotes = Array.from({ length: 0xffff }, (_, cpu) => ({ cpu, address: 0x7fdd3e00n, size: 424n }));
    expect(codeOf(() => buildElfcorehdr({ ...t, cpuNotes }))).toBe("TOO_MANY_HEADERS");
    // iomem from another boot: Kernel code is not where vmcoreinfo's _stext maps
    expect(codeOf(() => buildElfcorehdr({ ...t, kernelCode: { start: 0x40410000n, end: 0x41c10000n } }))).toBe("KERNEL_MISMATCH");
    const noPhys = (t.vmcoreinfo?.text ?? "").replace(/NUMBER\(PHYS_OFFSET\)=.*\n/, "");
    try {
      buildElfcorehdr({ ...t, vmcoreinfo: { address: 0x42f8d000n, size: 0x1024n, text: noPhys } });
      expect.unreachable();
    } catch (e) {
      expect((e as InputError).code).toBe("NO_VMCOREINFO");
      expect((e as InputError).message).toMatch(/NUMBER\(PHYS_OFFSET\)/);
    }
  });

  it("is a pure function of the target", () => {
    expect(buildElfcorehdr(fixture()).bytes).toEqual(buildElfcorehdr(fixture()).bytes);
  });
});


it("readelf is installed (the oracle of this file)", () => {
  expect(execFileSync("readelf", ["--version"], { encoding: "utf8" })).toMatch(/GNU readelf/);
});
