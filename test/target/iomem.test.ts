import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { memoryMapFromIomem, normalize as mergeRanges, parseIomem } from "../../toolchain/target/index.js";
import { thrown } from "../_thrown.js";

const QEMU = readFileSync(new URL("fixtures/qemu-virt-6.1/root/proc/iomem", import.meta.url), "utf8");
const r = (start: bigint, end: bigint) => ({ start, end });


describe("parseIomem", () => {
  it("reads nested lines of a QEMU virt guest with half-open ranges and depths", () => {
    const e = parseIomem(QEMU);
    expect(e.length).toBe(QEMU.trimEnd().split("\n").length);
    expect(e.find((x) => x.name === "System RAM")).toEqual({ start: 0x40000000n, end: 0x80000000n, name: "System RAM", depth: 0, line: 18 });
    expect(e.find((x) => x.name === "virtio-pci-legacy")?.depth).toBe(2);
    expect(e.at(-1)).toMatchObject({ start: 0x8000000000n, end: 0x8000004000n, name: "virtio-pci-modern", depth: 2 });
  });

  it("says which line is wrong and why", () => {
    expect(thrown(() => parseIomem("40000000-7fffffff : System RAM\n  garbage\n"))).toMatchObject({ code: "BAD_IOMEM", where: "iomem line 2" });
    expect(thrown(() => parseIomem("40000000-7fffffff : System RAM\n   40210000-41a0ffff : Kernel code\n"))).toMatchObject({ where: "iomem line 2" });
    expect(thrown(() => parseIomem("40000000-7fffffff : System RAM\n    40210000-41a0ffff : Kernel code\n")).message).toMatch(/nesting jumps to level 2/);
    expect(thrown(() => parseIomem("7fffffff-40000000 : System RAM\n")).message).toMatch(/start 0x7fffffff is above end 0x40000000/);
    expect(thrown(() => parseIomem("40000000-7fffffff : System RAM\n  3f000000-40000fff : reserved\n")).message).toMatch(/outside its parent "System RAM" \(line 1\)/);
    expect(thrown(() => parseIomem("0-ffffffffffffffff : all\n")).code).toBe("BAD_IOMEM");
  });

  it("recognises the zeros a non-root reader sees", () => {
    const hidden = "00000000-00000000 : System RAM\n  00000000-00000000 : Kernel code\n";
    expect(thrown(() => parseIomem(hidden))).toMatchObject({ code: "IOMEM_HIDDEN" });
    expect(thrown(() => parseIomem(hidden)).hint).toMatch(/run as root/);
  });

  it("throws only InputError on 10,000 damaged iomem texts", () => {
    const lines = QEMU.split("\n");
    const damaged = fc
      .tuple(fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 6 }), fc.nat()), { maxLength: 4 }), fc.boolean())
      .map(([edits, shuffle]) => {
        const ls = [...lines];
        for (const [line, text, col] of edits) {
          const i = line % ls.length;
          const l = ls[i] ?? "";
          const c = col % (l.length + 1);
          ls[i] = l.slice(0, c) + text + l.slice(c + text.length);
        }
        return (shuffle ? ls.reverse() : ls).join("\n");
      });
    const random = fc.array(
      fc.tuple(fc.integer({ min: 0, max: 6 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom("System RAM", "reserved", "Crash kernel", "Kernel code", "Kernel data", "")),
      { maxLength: 12 },
    ).map((es) => es.map(([d, a, b, n]) => `${" ".repeat(d)}${a.toString(16)}-${b.toString(16)} : ${n}`).join("\n"));
    fc.assert(
      fc.property(fc.oneof(damaged, random), (text) => {
        try {
          memoryMapFromIomem(parseIomem(text));
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe("memoryMapFromIomem", () => {
  it("takes RAM at the top level, kernel and crash ranges inside it, and everything else inside RAM as reserved", () => {
    const m = memoryMapFromIomem(parseIomem(QEMU));
    expect(m.memory).toEqual([r(0x40000000n, 0x80000000n)]);
    expect(m.kernelCode).toEqual(r(0x40210000n, 0x41a10000n));
    expect(m.kernelData).toEqual(r(0x41be0000n, 0x42080000n));
    expect(m.crashKernel).toEqual(r(0x6fc00000n, 0x7fc00000n));
    expect(m.crashKernelLow).toBeNull();
    // the last two reserved lines touch and merge; PCI and flash are not RAM
    expect(m.reserved).toEqual([
      r(0x40000000n, 0x40100000n), r(0x41a10000n, 0x41be0000n), r(0x48000000n, 0x4a200000n),
      r(0x7fc4c000n, 0x7fe00000n), r(0x7fe13000n, 0x80000000n),
    ]);
  });

  it("splits crashkernel=X,high and Y,low: the lower range is crashk_low_res", () => {
    const text = [
      "40000000-bfffffff : System RAM",
      "  40210000-41a0ffff : Kernel code",
      "  41be0000-4207ffff : Kernel data",
      "  b0000000-b7ffffff : Crash kernel",
      "100000000-13fffffff : System RAM",
      "  120000000-13fffffff : Crash kernel",
      "  13ff00000-13fffffff : reserved",
    ].join("\n");
    const m = memoryMapFromIomem(parseIomem(text));
    expect(m.crashKernelLow).toEqual(r(0xb0000000n, 0xb8000000n));
    expect(m.crashKernel).toEqual(r(0x120000000n, 0x140000000n));
    expect(m.memory).toEqual([r(0x40000000n, 0xc0000000n), r(0x100000000n, 0x140000000n)]);
  });

  it("refuses a third crash range, a second Kernel code and overlapping RAM", () => {
    const crash3 = "40000000-bfffffff : System RAM\n  50000000-50ffffff : Crash kernel\n  60000000-60ffffff : Crash kernel\n  70000000-70ffffff : Crash kernel\n";
    expect(thrown(() => memoryMapFromIomem(parseIomem(crash3)))).toMatchObject({ code: "BAD_IOMEM", where: "iomem line 4" });
    const code2 = "40000000-bfffffff : System RAM\n  40210000-41a0ffff : Kernel code\n  50000000-5fffffff : Kernel code\n";
    expect(thrown(() => memoryMapFromIomem(parseIomem(code2))).message).toMatch(/second "Kernel code" entry \(the first is on line 2\)/);
    const overlap = "40000000-bfffffff : System RAM\n80000000-cfffffff : System RAM\n";
    expect(thrown(() => memoryMapFromIomem(parseIomem(overlap)))).toMatchObject({ where: "iomem line 2" });
  });
});

describe("mergeRanges", () => {
  it("sorts and merges touching and overlapping ranges", () => {
    expect(mergeRanges([r(10n, 20n), r(0n, 5n), r(20n, 30n), r(25n, 26n), r(40n, 50n)])).toEqual([r(0n, 5n), r(10n, 30n), r(40n, 50n)]);
  });
});
