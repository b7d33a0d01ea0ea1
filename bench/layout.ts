import { checkLoad, planLayout, type LayoutInput } from "../toolchain/layout/index.js";
import type { Range, Target } from "../toolchain/target/index.js";

/**
 * planLayout and checkLoad speed on a small machine (QEMU virt, 6 GiB, two
 * crash ranges) and on a fragmented one (64 GiB in 64 RAM ranges with 1,000
 * reserved holes, like a big server's /proc/iomem).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/layout.js [SECONDS]
 *
 * Each measurement runs for about SECONDS (default 1) and prints µs per call.
 */

const seconds = Number(process.argv[2] ?? 1);
const MiB = 0x10_0000n;

function target(memory: Range[], reserved: Range[], crashKernel: Range, crashKernelLow: Range | null): Target {
  return {
    version: 2, pageSize: 4096, memory, reserved, crashKernel, crashKernelLow, cpuNotes: [], vmcoreinfo: null,
    kernelCode: null, kernelData: null, commandLine: "", dtb: null, console: null, psci: null, cpuEnableMethod: {},
  };
}

const small = target(
  [{ start: 0x4000_0000n, end: 0x1_c000_0000n }],
  [{ start: 0x4000_0000n, end: 0x4010_0000n }],
  { start: 0x1_9fe0_0000n, end: 0x1_bfe0_0000n },
  { start: 0xb800_0000n, end: 0xc000_0000n },
);

const ranges: Range[] = [];
const holes: Range[] = [];
for (let i = 0n; i < 64n; i++) ranges.push({ start: 0x4000_0000n + i * 1025n * MiB, end: 0x4000_0000n + i * 1025n * MiB + 1024n * MiB });
for (let i = 0n; i < 1000n; i++) {
  const r = ranges[Number(i % 64n)]!;
  const at = r.start + ((i * 7919n) % 1000n) * MiB;
  holes.push({ start: at, end: at + 0x1_0000n });
}
holes.sort((a, b) => (a.start < b.start ? -1 : 1));
const big = target(ranges, holes, { start: ranges[63]!.start, end: ranges[63]!.start + 512n * MiB }, null);

function input(mode: "crash" | "reboot", t: Target): LayoutInput {
  return {
    mode, target: t,
    kernel: { bufsz: 0x1ea_0a00n, textOffset: 0n, imageSize: 0x2ad_0000n },
    initrd: { bufsz: 0x3c2_1a07n },
    dtb: { bufsz: 0x1f8cn },
    ...(mode === "crash" ? { elfcorehdr: { bufsz: 0x1000n } } : {}),
    purgatory: { bufsz: 0xa38n },
  };
}

function measure(name: string, f: () => unknown): void {
  for (let i = 0; i < 200; i++) f();
  let n = 0;
  const start = process.hrtime.bigint();
  const stop = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < stop) {
    for (let i = 0; i < 50; i++) f();
    n += 50;
    now = process.hrtime.bigint();
  }
  console.log(`${name.padEnd(40)} ${(Number(now - start) / 1e3 / n).toFixed(1).padStart(8)} µs/call`);
}

for (const [label, t] of [["virt 6 GiB", small], ["64 ranges, 1000 reserved", big]] as const) {
  for (const mode of ["crash", "reboot"] as const) {
    const i = input(mode, t);
    const plan = planLayout(i);
    measure(`planLayout ${mode}, ${label}`, () => planLayout(i));
    measure(`checkLoad ${mode}, ${label}`, () => checkLoad(plan, t));
  }
}
