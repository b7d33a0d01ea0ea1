import { InputError } from "../../toolchain/bytes/index.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  RULES,
  checkConsoleWindow,
  checkLoad,
  kernelVerdict,
  loadCaveats,
  loadWarnings,
  planLayout,
  type CheckFacts,
  type Load,
  type LoadSegment,
  type Plan,
  type RuleId,
} from "../../toolchain/layout/index.js";
import { inputArb } from "./_arbitraries.js";

// Hand-written clean loads (not from the planner: these tests check the checker).
const seg = (role: LoadSegment["role"], mem: bigint, memsz: bigint, bufsz: bigint, extra: Partial<LoadSegment> = {}): LoadSegment => ({
  ...(role ? { role } : {}), mem, memsz, bufsz, ...extra,
});

const CRASH_FACTS: CheckFacts = {
  pageSize: 4096,
  memory: [{ start: 0x4000_0000n, end: 0x8000_0000n }],
  reserved: [{ start: 0x4000_0000n, end: 0x4010_0000n }],
  crashKernel: { start: 0x7000_0000n, end: 0x8000_0000n },
  crashKernelLow: { start: 0x6000_0000n, end: 0x6800_0000n },
};
const CRASH: Load = {
  entry: 0x7347_7000n,
  flags: 0xb70001,
  segments: [
    seg("kernel", 0x7000_0000n, 0x2ad_0000n, 0x1ea_0a00n, { textOffset: 0n, imageSize: 0x2ad_0000n }),
    seg("initrd", 0x72ad_0000n, 0x9a_5000n, 0x9a_4b12n),
    seg("dtb", 0x7347_5000n, 0x2000n, 0x1f8cn),
    seg("purgatory", 0x7347_7000n, 0x1000n, 0xa38n),
    seg("elfcorehdr", 0x7fff_0000n, 0x1000n, 0x400n),
  ],
};

const REBOOT_FACTS: CheckFacts = {
  pageSize: 4096,
  memory: [{ start: 0x4000_0000n, end: 0x8000_0000n }],
  reserved: [{ start: 0x4000_0000n, end: 0x4010_0000n }],
  crashKernel: null,
  crashKernelLow: null,
};
const REBOOT: Load = {
  entry: 0x4010_2000n,
  flags: 0xb70000,
  segments: [
    seg("dtb", 0x4010_0000n, 0x2000n, 0x1f8cn),
    seg("purgatory", 0x4010_2000n, 0x1000n, 0xa38n),
    seg("kernel", 0x4020_0000n, 0x2ad_0000n, 0x1ea_0a00n, { textOffset: 0n, imageSize: 0x2ad_0000n }),
    seg("initrd", 0x42cd_0000n, 0x1d3_f000n, 0x1d3_e2c1n),
  ],
};

type Case = [string, Load, CheckFacts, RuleId, number | undefined];

const withSeg = (load: Load, i: number, patch: Partial<LoadSegment>): Load => ({
  ...load,
  segments: load.segments.map((s, j) => (j === i ? { ...s, ...patch } : s)),
});

const extraPages: LoadSegment[] = Array.from({ length: 12 }, (_, i) => seg(undefined, 0x7400_0000n + BigInt(i) * 0x1000n, 0x1000n, 0x1000n));

// One crafted violation per rule: exactly that finding, with the rule's errno.
const CASES: Case[] = [
  ["a crash load under lockdown=integrity", CRASH, { ...CRASH_FACTS, lockdown: "integrity" }, "lockdown", undefined],
  ["a reboot load under lockdown=confidentiality", REBOOT, { ...REBOOT_FACTS, lockdown: "confidentiality" }, "lockdown", undefined],
  ["an unknown flag bit", { ...CRASH, flags: 0xb70101 }, CRASH_FACTS, "flags", undefined],
  ["KEXEC_PRESERVE_CONTEXT, which arm64 lacks", { ...REBOOT, flags: 0xb70002 }, REBOOT_FACTS, "flags", undefined],
  ["17 segments", { ...CRASH, segments: [...CRASH.segments, ...extraPages] }, CRASH_FACTS, "segment-count", undefined],
  ["the x86_64 arch field", { ...CRASH, flags: 0x3e0001 }, CRASH_FACTS, "flags-arch", undefined],
  ["a crash entry in the low range", { ...CRASH, entry: 0x6000_0000n }, CRASH_FACTS, "entry-crash-range", undefined],
  ["a crash load without crash memory", CRASH, { ...CRASH_FACTS, crashKernel: null }, "entry-crash-range", undefined],
  ["a segment running past 2^64", withSeg(CRASH, 4, { mem: 0xffff_ffff_ffff_f000n, memsz: 0x2000n }), CRASH_FACTS, "wrap", 4],
  ["memsz that ends off a page", withSeg(CRASH, 2, { memsz: 0x1f90n }), CRASH_FACTS, "page-alignment", 2],
  [
    "a 4K-aligned segment on a 64K kernel",
    { entry: 0x4001_0000n, flags: 0xb70000, segments: [seg("purgatory", 0x4001_0000n, 0x1_0000n, 0xa38n), seg("dtb", 0x4002_0000n, 0x3000n, 0x1f8cn)] },
    { ...REBOOT_FACTS, pageSize: 65536, reserved: [] },
    "page-alignment",
    1,
  ],
  ["two overlapping segments", withSeg(CRASH, 4, { mem: 0x7347_6000n }), CRASH_FACTS, "overlap", 2],
  ["bufsz above memsz", withSeg(CRASH, 3, { bufsz: 0x1001n }), CRASH_FACTS, "bufsz", 3],
  [
    "one segment above half of RAM",
    withSeg(REBOOT, 3, { memsz: 0x880_0000n }),
    { ...REBOOT_FACTS, memory: [{ start: 0x4000_0000n, end: 0x5000_0000n }], reserved: [] },
    "ram-half",
    3,
  ],
  [
    "all segments together above half of RAM",
    withSeg(REBOOT, 3, { memsz: 0x600_0000n }),
    { ...REBOOT_FACTS, memory: [{ start: 0x4000_0000n, end: 0x5000_0000n }], reserved: [] },
    "ram-half",
    undefined,
  ],
  ["a crash segment in the low range", withSeg(CRASH, 4, { mem: 0x6000_0000n }), CRASH_FACTS, "crash-range", 4],
  ["a reboot segment outside System RAM", withSeg(REBOOT, 0, { mem: 0x9000_0000n }), REBOOT_FACTS, "system-ram", 0],
  ["a reboot segment on reserved memory", withSeg(REBOOT, 0, { mem: 0x4000_0000n }), REBOOT_FACTS, "reserved", 0],
  ["a kernel base off 2 MiB", withSeg(REBOOT, 2, { textOffset: 0x1_0000n }), REBOOT_FACTS, "kernel-base", 2],
  ["a kernel memsz below image_size", withSeg(REBOOT, 2, { imageSize: 0x2ad_0001n }), REBOOT_FACTS, "kernel-image-size", 2],
  [
    "an initrd beyond the 32 GiB window",
    withSeg(REBOOT, 3, { mem: 0x8_4000_0000n }),
    { ...REBOOT_FACTS, memory: [{ start: 0x4000_0000n, end: 0x10_4000_0000n }] },
    "initrd-window",
    3,
  ],
  ["a DTB over 2 MiB", withSeg(REBOOT, 0, { mem: 0x5000_0000n, memsz: 0x20_1000n, bufsz: 0x20_0001n }), REBOOT_FACTS, "dtb-size", 0],
  ["a DTB crossing 2 MiB", withSeg(REBOOT, 0, { mem: 0x501f_f000n }), REBOOT_FACTS, "dtb-2m-crossing", 0],
  ["an entry in no segment", { ...REBOOT, entry: 0x5000_0000n }, REBOOT_FACTS, "entry-segment", undefined],
  ["an entry at the kernel (x0 = 0, no DTB)", { ...REBOOT, entry: 0x4020_0000n }, REBOOT_FACTS, "entry-segment", 2],
  ["an entry in the purgatory's zero fill", { ...REBOOT, entry: 0x4010_2a40n }, REBOOT_FACTS, "entry-segment", 1],
];

describe("checkLoad", () => {
  it.each([["crash", CRASH, CRASH_FACTS], ["reboot", REBOOT, REBOOT_FACTS]] as const)("finds nothing wrong with the clean %s load", (_, load, facts) => {
    expect(checkLoad(load, facts)).toEqual([]);
  });

  it.each(CASES)("reports %s with exactly its rule and errno", (_, load, facts, rule, segment) => {
    const found = checkLoad(load, facts);
    expect(found.map((v) => [v.rule, v.errno, v.severity])).toEqual([[rule, RULES[rule].errno, RULES[rule].severity]]);
    expect(found[0]!.segment).toBe(segment);
    expect(found[0]!.message.length).toBeGreaterThan(20);
    expect(found[0]!.fix.length).toBeGreaterThan(10);
  });

  it("finds nothing under lockdown=none, and makes lockdown the verdict (EPERM, checked first) otherwise", () => {
    expect(checkLoad(CRASH, { ...CRASH_FACTS, lockdown: "none" })).toEqual([]);
    const both = checkLoad({ ...CRASH, flags: 0xb70101 }, { ...CRASH_FACTS, lockdown: "integrity" });
    expect(both.map((v) => v.rule)).toEqual(["lockdown", "flags"]);
    expect(kernelVerdict(both)).toBe("EPERM");
  });

  it("keeps the lockdown caveat only while the level is unknown", () => {
    const eperm = (facts: CheckFacts) => loadCaveats(CRASH, facts).filter((c) => /lockdown/.test(c.message)).length;
    expect(eperm(CRASH_FACTS)).toBe(1);
    expect(eperm({ ...CRASH_FACTS, lockdown: "none" })).toBe(0);
  });

  it("covers every rule with a crafted case (the console's below)", () => {
    expect(new Set([...CASES.map((c) => c[3]), "console-window"])).toEqual(new Set(Object.keys(RULES)));
  });

  it("gives the kernel's errno for the kernel rules and none for the boot rules", () => {
    for (const r of Object.values(RULES)) expect(r.severity === "rejected").toBe(r.errno !== "none");
    expect(RULES.overlap.errno).toBe("EINVAL");
    expect(RULES["page-alignment"].errno).toBe("EADDRNOTAVAIL");
    expect(RULES["crash-range"].errno).toBe("EADDRNOTAVAIL");
  });

  it("names the low crash range as never accepted", () => {
    const [v] = checkLoad(withSeg(CRASH, 4, { mem: 0x6000_0000n }), CRASH_FACTS);
    expect(v!.message).toMatch(/crashk_low_res .* never accepts/);
  });

  it("reports every violation, in the kernel's order, and the verdict is the first refusal", () => {
    const load: Load = { ...withSeg(withSeg(CRASH, 3, { bufsz: 0x2000n }), 2, { memsz: 0x1f90n }), flags: 0xb70001 };
    const found = checkLoad(load, CRASH_FACTS);
    expect(found.map((v) => v.rule)).toEqual(["page-alignment", "bufsz"]);
    expect(kernelVerdict(found)).toBe("EADDRNOTAVAIL");
    expect(kernelVerdict(checkLoad({ ...REBOOT, entry: 0n }, REBOOT_FACTS))).toBe(null);
  });

  it("checks alignment against 4 KiB and skips RAM checks when the facts are missing, saying so", () => {
    const load = withSeg(REBOOT, 0, { mem: 0x9000_0000n });
    expect(checkLoad(load, {})).toEqual([]);
    const notes = loadCaveats(load, {}).map((c) => c.message).join("\n");
    expect(notes).toMatch(/page size unknown/);
    expect(notes).toMatch(/RAM unknown/);
    expect(notes).toMatch(/reserved ranges unknown/);
    expect(checkLoad(withSeg(REBOOT, 0, { mem: 0x5000_0000n, memsz: 0x2800n }), {}).map((v) => v.rule)).toEqual(["page-alignment"]);
  });

  it("lists EPERM and EBUSY as caveats, never as findings", () => {
    const caveats = loadCaveats(REBOOT, { ...REBOOT_FACTS, commandLine: "console=ttyAMA0 lockdown=integrity" });
    expect(caveats.map((c) => c.errno)).toEqual(expect.arrayContaining(["EPERM", "EBUSY", "ENOMEM"]));
    expect(caveats.find((c) => /lockdown=integrity/.test(c.message))).toBeDefined();
    expect(loadCaveats(CRASH, CRASH_FACTS).some((c) => /secondary CPUs/.test(c.message))).toBe(false);
  });
});

describe("checkLoad on mutated plans (property)", () => {
  // Mutations that break one rule on any plan the planner makes.
  const mutations: Array<[RuleId, (p: Plan) => Load]> = [
    ["flags", (p) => ({ ...p, flags: p.flags | 0x40 })],
    ["flags-arch", (p) => ({ ...p, flags: (p.flags & 0xffff) | 0x280000 })],
    ["bufsz", (p) => withSeg(p, p.segments.findIndex((s) => s.role === "purgatory"), { bufsz: p.segments.find((s) => s.role === "purgatory")!.memsz + 1n })],
    [
      "page-alignment",
      (p) => {
        const i = p.segments.findIndex((s) => s.role === "dtb");
        const s = p.segments[i]!;
        return withSeg(p, i, { memsz: s.memsz - 1n, bufsz: s.bufsz < s.memsz - 1n ? s.bufsz : s.memsz - 1n });
      },
    ],
    // As a reboot load (a crash plan is also a clean reboot plan), so that crashk_res does not refuse it first.
    ["entry-segment", (p) => ({ ...p, flags: p.flags & ~1, entry: 1n << 48n })],
  ];

  it("finds exactly the one rule each mutation breaks", () => {
    fc.assert(
      fc.property(inputArb, fc.nat(mutations.length - 1), (input, m) => {
        let plan: Plan;
        try {
          plan = planLayout(input);
        } catch (e) {
          // A random machine may have no room for the load; anything else is a bug.
          if (e instanceof InputError) return;
          throw e;
        }
        const [rule, mutate] = mutations[m]!;
        expect(checkLoad(mutate(plan), input.target).map((v) => [v.rule, v.errno])).toEqual([[rule, RULES[rule].errno]]);
      }),
      { numRuns: 400 },
    );
  });
});

describe("checkConsoleWindow", () => {
  const pl011 = { start: 0x900_0000n, end: 0x900_1000n };

  it("accepts a UART outside RAM and every segment", () => {
    expect(checkConsoleWindow(pl011, "pl011@0x9000000", REBOOT, REBOOT_FACTS)).toEqual([]);
  });

  it("refuses registers inside System RAM, naming the range", () => {
    const [v, more] = checkConsoleWindow({ start: 0x4800_0000n, end: 0x4800_1000n }, "pl011@0x48000000", CRASH, CRASH_FACTS);
    expect(more).toBeUndefined();
    expect(v).toMatchObject({ rule: "console-window", errno: "none", severity: "boot-fails" });
    expect(v!.message).toBe("the purgatory's console pl011@0x48000000 at [0x48000000, 0x48001000) is inside System RAM [0x40000000, 0x80000000): it would write its messages into memory");
  });

  it("refuses registers inside a segment even where RAM is unknown", () => {
    const load = withSeg(REBOOT, 0, { mem: 0x900_0000n });
    const found = checkConsoleWindow(pl011, "pl011@0x9000000", load, {});
    expect(found.map((v) => [v.rule, v.segment, v.role])).toEqual([["console-window", 0, "dtb"]]);
    expect(found[0]!.message).toMatch(/inside segment 0 \(dtb\) \[0x9000000, 0x9002000\): it would overwrite it/);
  });
});

describe("loadWarnings", () => {
  const spin = { "/cpus/cpu@0": "spin-table", "/cpus/cpu@1": "spin-table" };

  it("warns that a reboot load on spin-table CPUs meets EBUSY, naming the CPUs and the way out", () => {
    const [w, more] = loadWarnings(REBOOT, { ...REBOOT_FACTS, cpuEnableMethod: spin });
    expect(more).toBeUndefined();
    expect(w).toMatch(/^the target's CPUs \/cpus\/cpu@0, \/cpus\/cpu@1 start with spin-table.*fails with EBUSY \("Can't kexec: CPUs are stuck in the kernel".*nr_cpus=1/);
  });

  it("is silent for a crash load, PSCI CPUs, one CPU, a kernel booted with nr_cpus=1, and unknown CPUs", () => {
    expect(loadWarnings(CRASH, { ...CRASH_FACTS, cpuEnableMethod: spin })).toEqual([]);
    expect(loadWarnings(REBOOT, { ...REBOOT_FACTS, cpuEnableMethod: { "/cpus/cpu@0": "psci", "/cpus/cpu@1": "psci" } })).toEqual([]);
    expect(loadWarnings(REBOOT, { ...REBOOT_FACTS, cpuEnableMethod: { "/cpus/cpu@0": "spin-table" } })).toEqual([]);
    expect(loadWarnings(REBOOT, { ...REBOOT_FACTS, cpuEnableMethod: spin, commandLine: "console=ttyS0 nr_cpus=1" })).toEqual([]);
    expect(loadWarnings(REBOOT, REBOOT_FACTS)).toEqual([]);
  });
});
