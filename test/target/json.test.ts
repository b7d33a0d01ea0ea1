import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { parseTarget, serializeTarget, validateTarget } from "../../toolchain/target/index.js";
import type { Target } from "../../toolchain/target/index.js";
import { thrown } from "../_thrown.js";

const JSON_TEXT = readFileSync(new URL("fixtures/qemu-virt-6.1/target.json", import.meta.url), "utf8");
const DOC = JSON.parse(JSON_TEXT) as Record<string, unknown>;

/** Parses the fixture with one change made by `edit`. */
function withEdit(edit: (d: any) => void): () => Target {
  const d = structuredClone(DOC);
  edit(d);
  return () => parseTarget(JSON.stringify(d));
}

describe("parseTarget / serializeTarget", () => {
  it("round-trips the fixture byte for byte", () => {
    const t = parseTarget(JSON_TEXT);
    expect(serializeTarget(t)).toBe(JSON_TEXT);
    expect(t.memory).toEqual([{ start: 0x40000000n, end: 0x80000000n }]);
    expect(t.cpuNotes[1]).toEqual({ cpu: 1, address: 0x7fdf1e00n, size: 424n });
    expect(t.dtb?.length).toBe(7816);
  });

  it("reads a description written before the lockdown field, and writes none back", () => {
    const old = JSON.stringify({ ...DOC, lockdown: undefined });
    const t = parseTarget(old);
    expect(t.lockdown).toBeUndefined();
    expect(JSON.parse(serializeTarget(t))).not.toHaveProperty("lockdown");
    expect(parseTarget(JSON_TEXT).lockdown).toBe("none");
  });

  it("keeps 64-bit values exact and omits unknown vmcoreinfo text", () => {
    const t: Target = {
      ...parseTarget(JSON_TEXT),
      memory: [{ start: 0x40000000n, end: 0xffff_ffff_ffff_f000n }],
      reserved: [],
      vmcoreinfo: { address: 0xffff_ffff_ffff_0000n, size: 0x1024n },
      cpuNotes: [],
    };
    const text = serializeTarget(t);
    expect(text).toContain('"end": "0xfffffffffffff000"');
    expect(JSON.parse(text).vmcoreinfo).toEqual({ address: "0xffffffffffff0000", size: "0x1024" });
    expect(parseTarget(text)).toEqual(t);
  });

  it("reports each bad field with its JSON path and a hint", () => {
    const cases: [(d: any) => void, string, RegExp][] = [
      [(d) => { d.version = 3; }, "version", /version 3 is not 1 or 2/],
      [(d) => { d.console.family = "sbsa"; }, "console.family", /"sbsa" is not one of pl011, 8250, cadence or null/],
      [(d) => { d.console.width = 8; }, "console.width", /width 8 is not 1, 2 or 4/],
      [(d) => { d.console.shift = 7; }, "console.shift", /shift 7 is not 0..4/],
      [(d) => { d.console.base = 9000000; }, "console.base", /"0x…" hex string/],
      [(d) => { d.console.path = "pl011"; }, "console.path", /not a node path/],
      [(d) => { delete d.console.compatible; }, "console.compatible", /missing field/],
      [(d) => { d.psci = "svc"; }, "psci", /"svc" is not "hvc", "smc" or null/],
      [(d) => { d.cpuEnableMethod = ["psci"]; }, "cpuEnableMethod", /expected an object/],
      [(d) => { d.cpuEnableMethod["/cpus/cpu@0"] = 1; }, "cpuEnableMethod./cpus/cpu@0", /expected a string/],
      [(d) => { d.cpuEnableMethod = { "cpu@0": "psci" }; }, "cpuEnableMethod.cpu@0", /not a node path/],
      [(d) => { delete d.psci; }, "psci", /missing field/],
      [(d) => { d.pageSize = 8192; }, "pageSize", /8192 is not 4096, 16384 or 65536/],
      [(d) => { d.memory[0].end = 2147483648; }, "memory[0].end", /"0x…" hex string/],
      [(d) => { d.memory[0].end = "0x40000000"; }, "memory[0].end", /not above start/],
      [(d) => { d.memory = []; }, "memory", /no System RAM/],
      [(d) => { d.reserved[1].start = "0x40080000"; }, "reserved[1].start", /overlaps or precedes/],
      [(d) => { d.reserved.push({ start: "0x90000000", end: "0x90001000" }); }, "reserved[5]", /not inside System RAM/],
      [(d) => { d.crashKernel = { start: "0x7fc00000", end: "0x90000000" }; }, "crashKernel", /not inside System RAM/],
      [(d) => { d.crashKernelLow = { start: "0x70000000", end: "0x71000000" }; }, "crashKernelLow", /above the start of crashKernel/],
      [(d) => { d.crashKernelLow = { start: "0x50000000", end: "0x51000000" }; d.crashKernel = null; }, "crashKernelLow", /without a crash range/],
      [(d) => { d.cpuNotes[1].cpu = 0; }, "cpuNotes[1].cpu", /does not follow cpu 0/],
      [(d) => { d.cpuNotes[0].cpu = "0"; }, "cpuNotes[0].cpu", /not a CPU number/],
      [(d) => { d.cpuNotes[0].size = "0x0"; }, "cpuNotes[0].size", /size 0/],
      [(d) => { d.cpuNotes[0].extra = 1; }, "cpuNotes[0].extra", /unknown field "extra"/],
      [(d) => { delete d.commandLine; }, "commandLine", /missing field/],
      [(d) => { d.kernelcode = null; }, "kernelcode", /unknown field/],
      [(d) => { d.vmcoreinfo.size = "0x0"; }, "vmcoreinfo.size", /size 0/],
      [(d) => { d.vmcoreinfo.text = d.vmcoreinfo.text.replace("PAGESIZE=4096", "PAGESIZE=65536"); }, "pageSize", /disagrees with vmcoreinfo PAGESIZE=65536/],
      [(d) => { d.vmcoreinfo.text = "SYMBOL(_stext)=zz\n"; }, "vmcoreinfo.text line 1", /not a hex address/],
      [(d) => { d.dtb = "not base64!"; }, "dtb", /not canonical base64/],
      [(d) => { d.dtb = "AAAAAA=="; }, "dtb", /FDT magic/],
      [(d) => { d.commandLine = "a\u0000b"; }, "commandLine", /NUL/],
      [(d) => { d.lockdown = "full"; }, "lockdown", /lockdown string "full" is not one of none, integrity, confidentiality/],
      [(d) => { d.lockdown = null; }, "lockdown", /lockdown null is not one of/],
    ];
    for (const [edit, where, message] of cases) {
      const e = thrown(withEdit(edit));
      expect([e.where, e.message], String(edit)).toEqual([where, expect.stringMatching(message)]);
    }
    expect(thrown(withEdit((d) => { d.memory[0].end = 1; })).hint).toMatch(/strings like "0x40000000"/);
    expect(thrown(withEdit((d) => { d.memory = []; })).code).toBe("BAD_TARGET");
  });

  it("keeps the board facts: an unknown console family, an untranslatable base, no PSCI", () => {
    const t: Target = {
      ...parseTarget(JSON_TEXT),
      console: { family: null, compatible: "acme,uart", path: "/i2c/uart@48", base: null, shift: 2, width: 4 },
      psci: null,
      cpuEnableMethod: { "/cpus/cpu@0": null, "/cpus/cpu@1": "spin-table" },
    };
    const text = serializeTarget(t);
    expect(JSON.parse(text)).toMatchObject({
      console: { base: null, compatible: "acme,uart", family: null, path: "/i2c/uart@48", shift: 2, width: 4 },
      cpuEnableMethod: { "/cpus/cpu@0": null, "/cpus/cpu@1": "spin-table" },
      psci: null,
      version: 2,
    });
    expect(parseTarget(text)).toEqual(t);
  });

  it("reads version 1, deriving the board facts from its DTB as describe does, and writes it back as version 2", () => {
    const v1 = structuredClone(DOC);
    for (const k of ["console", "psci", "cpuEnableMethod"]) delete v1[k];
    v1.version = 1;
    const t = parseTarget(JSON.stringify(v1));
    expect(serializeTarget(t)).toBe(JSON_TEXT);
    const bare = parseTarget(JSON.stringify({ ...v1, dtb: null }));
    expect([bare.console, bare.psci, bare.cpuEnableMethod]).toEqual([null, null, {}]);
    // Version 1 has no board fields, version 2 needs them.
    expect(thrown(() => parseTarget(JSON.stringify({ ...v1, psci: "hvc" }))).where).toBe("psci");
    expect(thrown(() => parseTarget(JSON.stringify({ ...DOC, version: 2, psci: undefined }))).message).toMatch(/missing field "psci"/);
  });

  it("reports invalid JSON with its byte offset", () => {
    const e = thrown(() => parseTarget('{"version": 1,,}'));
    expect([e.code, e.where]).toEqual(["BAD_JSON", 14]);
    expect(thrown(() => parseTarget("[]")).message).toMatch(/expected an object, found an array/);
  });

  it("throws only InputError on 10,000 damaged or random documents", () => {
    const leaf = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 12 }), fc.constantFrom("0x0", "0xffffffffffffffff", "0x", "0x10000000000000000"));
    const paths: string[][] = [];
    const walk = (v: unknown, p: string[]): void => {
      paths.push(p);
      if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    walk(DOC, []);
    const damaged = fc.array(fc.tuple(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.oneof(leaf, fc.constant(undefined))), { minLength: 1, maxLength: 3 }).map((edits) => {
      const d = structuredClone(DOC) as Record<string, unknown>;
      for (const [path, value] of edits) {
        let o: unknown = d;
        for (const k of path.slice(0, -1)) o = o !== null && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined;
        if (o !== null && typeof o === "object") (o as Record<string, unknown>)[path.at(-1) as string] = value;
      }
      return JSON.stringify(d);
    });
    const text = fc.oneof(damaged, fc.json(), fc.string({ maxLength: 40 }), damaged.map((s) => s.slice(0, s.length >> 1)));
    fc.assert(
      fc.property(text, (s) => {
        try {
          validateTarget(parseTarget(s));
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
