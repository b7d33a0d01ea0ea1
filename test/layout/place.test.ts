import { existsSync, readdirSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import {
  ELFCOREHDR_ALIGN,
  checkLoad,
  formatPlan,
  planLayout,
  type LayoutInput,
  type Plan,
} from "../../toolchain/layout/index.js";
import type { Target } from "../../toolchain/target/types.js";
import { inputArb } from "./_arbitraries.js";
import { FIXTURES, expectGolden, fixtureInput, target } from "./_fixture.js";
import { thrown as captureInputError } from "../_thrown.js";

const MiB = 0x10_0000n;

/** The fixtures the issue asks for; deleting one fails here. */
const REQUIRED = [
  "virt-1g-reboot",
  "virt-1g-crash",
  "virt-6g-reboot",
  "virt-6g-crash-low-high",
  "virt-2g-16k-crash",
  "virt-3g-64k-crash",
  "virt-3g-64k-reboot-textoffset",
  "error-crash-too-small",
  "error-reboot-fragmented",
  "error-initrd-window",
];

const fixtureDirs = readdirSync(FIXTURES).filter((d) => existsSync(`${FIXTURES}${d}/layout.json`)).sort();

describe("planLayout golden layouts", () => {
  it("has every required fixture", () => {
    expect(fixtureDirs).toEqual(expect.arrayContaining(REQUIRED));
  });

  it.each(fixtureDirs)("%s matches its golden plan.txt or error.txt", (name) => {
    const dir = `${FIXTURES}${name}/`;
    const input = fixtureInput(dir);
    let golden: string;
    let text: string;
    try {
      const plan = planLayout(input);
      expect(checkLoad(plan, input.target)).toEqual([]);
      golden = "plan.txt";
      text = formatPlan(plan, input.target);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      golden = "error.txt";
      text = `${e.code}\n${e.message}\n`;
    }
    if (process.env.UPDATE_GOLDENS !== "1") {
      // A fixture whose outcome flipped (plan <-> error) must fail, not pass on a stale file.
      expect(existsSync(dir + (golden === "plan.txt" ? "error.txt" : "plan.txt"))).toBe(false);
    }
    expectGolden(dir + golden, text);
  });
});

function base(over: Partial<LayoutInput> = {}, t: Partial<Target> = {}): LayoutInput {
  return {
    mode: "crash",
    target: target({ crashKernel: { start: 0x7000_0000n, end: 0x8000_0000n }, ...t }),
    kernel: { bufsz: 0x1e0_0000n, textOffset: 0n, imageSize: 0x2ad_0000n },
    initrd: { bufsz: 0x80_0001n },
    dtb: { bufsz: 0x2000n },
    elfcorehdr: { bufsz: 0x400n },
    purgatory: { bufsz: 0xa38n },
    ...over,
  };
}

function seg(plan: Plan, role: string) {
  const s = plan.segments.find((x) => x.role === role);
  if (!s) throw new Error(`no ${role}`);
  return s;
}

describe("planLayout placement rules", () => {
  it("puts a crash load inside crashk_res, kernel on a 2 MiB base, elfcorehdr at the top on 64 KiB", () => {
    const plan = planLayout(base());
    expect(plan.flags).toBe(0xb70001);
    expect(plan.mode).toBe("crash");
    const k = seg(plan, "kernel");
    expect(k.mem).toBe(0x7000_0000n);
    expect(k.memsz).toBe(0x2ad_0000n);
    expect(plan.kernelEntry).toBe(k.mem);
    const e = seg(plan, "elfcorehdr");
    expect(e.mem % ELFCOREHDR_ALIGN).toBe(0n);
    expect(0x8000_0000n - (e.mem + e.memsz)).toBeLessThan(ELFCOREHDR_ALIGN);
    expect(plan.entry).toBe(seg(plan, "purgatory").mem);
    expect(plan.segments.map((s) => s.mem)).toEqual([...plan.segments.map((s) => s.mem)].sort((a, b) => (a < b ? -1 : 1)));
  });

  it("gives a reboot load flags 0xb70000 and refuses an elfcorehdr", () => {
    const { elfcorehdr: _, ...rest } = base({ mode: "reboot" });
    expect(planLayout(rest).flags).toBe(0xb70000);
    expect(() => planLayout(base({ mode: "reboot" }))).toThrow(/elfcorehdr belongs to a crash load only/);
  });

  it("keeps the text_offset gap below the kernel free of other segments", () => {
    const plan = planLayout(base({ kernel: { bufsz: 0x100_0000n, textOffset: 0x8_0000n, imageSize: 0x140_0000n } }));
    const k = seg(plan, "kernel");
    expect(k.mem).toBe(0x7008_0000n);
    for (const s of plan.segments) if (s !== k) expect(s.mem + s.memsz <= 0x7000_0000n || s.mem >= k.mem + k.memsz).toBe(true);
  });

  it("moves a DTB that would cross 2 MiB up to the next boundary", () => {
    const plan = planLayout(base({ initrd: { bufsz: 0x1f_0000n }, dtb: { bufsz: 0x2_0000n } }));
    const d = seg(plan, "dtb");
    expect(d.mem / (2n * MiB)).toBe((d.mem + d.bufsz - 1n) / (2n * MiB));
  });

  it("honours the purgatory's alignment and memsz", () => {
    const plan = planLayout(base({ purgatory: { bufsz: 0xa38n, memsz: 0x3000n, align: 0x1_0000n } }));
    const p = seg(plan, "purgatory");
    expect(p.mem % 0x1_0000n).toBe(0n);
    expect(p.memsz).toBe(0x3000n);
  });

  it("never uses the low crash range, and says so when the high one is too small", () => {
    const t = { crashKernel: { start: 0x7e00_0000n, end: 0x8000_0000n }, crashKernelLow: { start: 0x4000_0000n, end: 0x6000_0000n } };
    expect(() => planLayout(base({}, t))).toThrow(/crashkernel=…,low cannot hold segments/);
  });

  it.each<[string, Partial<LayoutInput>, RegExp]>([
    ["image_size 0", { kernel: { bufsz: 0x10n, textOffset: 0n, imageSize: 0n } }, /kernel.imageSize is 0/],
    ["a kernel file longer than image_size", { kernel: { bufsz: 0x3000n, textOffset: 0n, imageSize: 0x2000n } }, /longer than its image_size/],
    ["text_offset off the page", { kernel: { bufsz: 0x1000n, textOffset: 0x800n, imageSize: 0x2000n } }, /text_offset 0x800 is not a multiple/],
    ["a DTB over 2 MiB", { dtb: { bufsz: 2n * MiB + 1n } }, /at most 2 MiB/],
    ["an empty initrd", { initrd: { bufsz: 0n } }, /initrd.bufsz is 0/],
    ["purgatory memsz below bufsz", { purgatory: { bufsz: 0x2000n, memsz: 0x1000n } }, /smaller than its bufsz/],
    ["purgatory alignment not a power of two", { purgatory: { bufsz: 0x1000n, align: 0x3000n } }, /not a power of two/],
    ["a size above 64 bits", { dtb: { bufsz: 1n << 64n } }, /not a 64-bit size/],
  ])("refuses %s with LAYOUT_INPUT", (_, over, re) => {
    const err = captureInputError(() => planLayout(base(over)));
    expect(err.code).toBe("BAD_VALUE");
    expect(err.message).toMatch(re);
  });

  it("refuses a crash plan without crash memory and suggests crashkernel=", () => {
    const err = captureInputError(() => planLayout(base({}, { crashKernel: null })));
    expect(err.code).toBe("NO_CRASH_KERNEL");
    expect(err.hint).toMatch(/crashkernel=\d+M/);
  });

  it("refuses segments above half of RAM before placing anything", () => {
    const err = captureInputError(() => planLayout(base({ mode: "reboot", elfcorehdr: undefined as never, initrd: { bufsz: 600n * MiB } }, { crashKernel: null })));
    expect(err.code).toBe("OVER_HALF_RAM");
  });
});


describe("planLayout properties", () => {
  it("gives plans that the independent checkLoad accepts, or an InputError saying what did not fit", () => {
    let planned = 0;
    let refused = 0;
    fc.assert(
      fc.property(inputArb, (input) => {
        let plan: Plan;
        try {
          plan = planLayout(input);
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          expect(["NO_FIT", "OVER_HALF_RAM"]).toContain(e.code);
          refused++;
          return;
        }
        planned++;
        expect(checkLoad(plan, input.target)).toEqual([]);
        expect(plan.entry).toBe(seg(plan, "purgatory").mem);
        expect(plan.kernelEntry).toBe(seg(plan, "kernel").mem);
        expect(plan.flags).toBe(input.mode === "crash" ? 0xb70001 : 0xb70000);
        expect(plan.segments.length).toBe(3 + (input.initrd ? 1 : 0) + (input.elfcorehdr ? 1 : 0));
        for (let i = 1; i < plan.segments.length; i++) expect(plan.segments[i - 1]!.mem < plan.segments[i]!.mem).toBe(true);
        expect(planLayout(input)).toEqual(plan);
      }),
      { numRuns: 600 },
    );
    // Not vacuous: most random machines take the load.
    expect(planned).toBeGreaterThan(refused);
  });
});
