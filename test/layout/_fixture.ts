import { readFileSync } from "node:fs";
import type { LayoutInput } from "../../toolchain/layout/index.js";
import { parseTarget, type Target } from "../../toolchain/target/index.js";

/**
 * The layout fixtures: test/layout/fixtures/<name>/ holds target.json (read by
 * the target module's own parser), layout.json (mode and segment sizes) and the
 * golden plan.txt or error.txt. A golden is written only when a person runs
 * the tests with UPDATE_GOLDENS=1; otherwise a missing or changed golden fails.
 */

export const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

type J = Record<string, unknown>;

/** The planner input of fixture `dir` (a path ending in /). */
export function fixtureInput(dir: string): LayoutInput {
  const j = JSON.parse(readFileSync(`${dir}layout.json`, "utf8")) as J;
  const sizes = (v: unknown): Record<string, bigint> => Object.fromEntries(Object.entries(v as J).map(([k, x]) => [k, BigInt(x as string)]));
  const k = sizes(j.kernel);
  const p = sizes(j.purgatory);
  return {
    mode: j.mode as "crash" | "reboot",
    target: parseTarget(readFileSync(`${dir}target.json`, "utf8")),
    kernel: { bufsz: k.bufsz!, textOffset: k.textOffset!, imageSize: k.imageSize! },
    dtb: { bufsz: sizes(j.dtb).bufsz! },
    purgatory: { bufsz: p.bufsz!, ...(p.memsz !== undefined ? { memsz: p.memsz } : {}), ...(p.align !== undefined ? { align: p.align } : {}) },
    ...(j.initrd ? { initrd: { bufsz: sizes(j.initrd).bufsz! } } : {}),
    ...(j.elfcorehdr ? { elfcorehdr: { bufsz: sizes(j.elfcorehdr).bufsz! } } : {}),
  };
}

/** A 4K target with 1 GiB at 0x40000000 and nothing else, with `over` applied. */
export function target(over: Partial<Target> = {}): Target {
  return {
    version: 2,
    pageSize: 4096,
    memory: [{ start: 0x4000_0000n, end: 0x8000_0000n }],
    reserved: [],
    crashKernel: null,
    crashKernelLow: null,
    cpuNotes: [],
    vmcoreinfo: null,
    kernelCode: null,
    kernelData: null,
    commandLine: "",
    dtb: null,
    console: null,
    psci: null,
    cpuEnableMethod: {},
    ...over,
  };
}

export { expectGolden } from "../_golden.js";
