import { readFileSync } from "node:fs";
import { parseFdt, serializeFdt } from "../toolchain/fdt/index.js";
import { INTERESTING_WORDS, type Mutation, applyMutations, fuzzOne, syntheticSeeds } from "./fdt-mutate.js";

/**
 * Long fuzz run of parseFdt: truncated, bit-flipped, spliced and
 * field-overwritten blobs, counted by outcome (ok or InputError code).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/fdt-fuzz.js [CASES] [SEED] [BLOB...]
 *
 * CASES defaults to 1,000,000, SEED to 1. Seeds are our own synthetic blobs
 * plus any BLOB files given (e.g. QEMU dumps, packed first). Prints the counts,
 * the slowest case and the peak heap; exits 1 if any case broke the invariant
 * of bench/fdt-mutate.ts.
 */

const [casesArg, seedArg, ...files] = process.argv.slice(2);
const cases = Number(casesArg ?? 1_000_000);
let state = Number(seedArg ?? 1) >>> 0;

// mulberry32: small, seeded, good enough to pick mutations.
function next(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}
const below = (n: number) => next() % n;

function mutation(): Mutation {
  switch (below(5)) {
    case 0:
      return { kind: "truncate", at: next() };
    case 1:
      return { kind: "flip", bits: Array.from({ length: 1 + below(8) }, next) };
    case 2:
      return { kind: "splice", to: next(), cut: below(65), donor: next(), from: next(), length: below(65), aligned: below(2) === 0 };
    case 3:
      return {
        kind: "word",
        at: below(2) ? below(10) : next(),
        value: below(2) ? INTERESTING_WORDS[below(INTERESTING_WORDS.length)]! : next(),
      };
    default:
      return { kind: "fixTotalsize" };
  }
}

const seeds = [...syntheticSeeds(), ...files.map((f) => serializeFdt(parseFdt(new Uint8Array(readFileSync(f)))))];
const counts = new Map<string, number>();
let slowest = 0;
let peakHeap = 0;
const t0 = performance.now();
for (let i = 0; i < cases; i++) {
  const input = applyMutations(seeds[below(seeds.length)]!, Array.from({ length: 1 + below(3) }, mutation), seeds);
  const start = performance.now();
  const outcome = fuzzOne(input);
  slowest = Math.max(slowest, performance.now() - start);
  counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  if (i % 65536 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}
const seconds = (performance.now() - t0) / 1000;

console.log(`fdt fuzz: ${cases} cases from ${seeds.length} seeds (largest ${Math.max(...seeds.map((s) => s.length))} bytes) in ${seconds.toFixed(1)} s`);
for (const [outcome, n] of [...counts].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${outcome.padEnd(16)} ${String(n).padStart(9)}  ${((100 * n) / cases).toFixed(2)}%`);
}
console.log(`slowest case ${slowest.toFixed(2)} ms; peak heap ${(peakHeap / 2 ** 20).toFixed(1)} MiB`);
if ([...counts.keys()].some((k) => k.startsWith("BUG"))) process.exitCode = 1;
