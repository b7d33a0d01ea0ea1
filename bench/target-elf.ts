import { readFileSync } from "node:fs";
import { checkVmcoreHeader } from "../toolchain/elf/index.js";
import { buildElfcorehdr, lintVmcoreinfoCoverage, memoryMapFromIomem, parseIomem, parseTarget, parseVmcoreinfo, serializeTarget } from "../toolchain/target/index.js";
import type { Target } from "../toolchain/target/index.js";

/**
 * Figures for describe and elfcorehdr on a big machine: a /proc/iomem of
 * 4096 System RAM ranges (each with a nested reserved entry), and a target of
 * 512 CPUs over those ranges.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/target-elf.js [SECONDS]
 *
 * Prints operations per second (wall clock) after a warm-up, and the peak
 * heap growth of one elfcorehdr build.
 */

const seconds = Number(process.argv[2] ?? 1);
const fixture = parseTarget(readFileSync(new URL("../../test/target/fixtures/qemu-virt-6.1/target.json", import.meta.url), "utf8"));

const RANGES = 4096;
const lines: string[] = [];
for (let i = 0; i < RANGES; i++) {
  const base = 0x40000000n + BigInt(i) * 0x1000000n;
  lines.push(`${base.toString(16)}-${(base + 0xffffffn).toString(16)} : System RAM`);
  lines.push(`  ${(base + 0x10000n).toString(16)}-${(base + 0x1ffffn).toString(16)} : reserved`);
}
const iomem = lines.join("\n");

// Contiguous 16 MiB ranges from 0x40000000: the fixture's kernel and crash ranges stay inside RAM.
const memory = Array.from({ length: RANGES }, (_, i) => ({ start: 0x40000000n + BigInt(i) * 0x1000000n, end: 0x41000000n + BigInt(i) * 0x1000000n }));
const big: Target = {
  ...fixture,
  memory,
  reserved: [],
  cpuNotes: Array.from({ length: 512 }, (_, cpu) => ({ cpu, address: 0x7fdd3e00n + BigInt(cpu) * 0x20000n, size: 424n })),
};

function rate(name: string, unit: string, f: () => unknown): void {
  const until = (ms: number) => {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      f();
      n++;
    }
    return (n * 1000) / (performance.now() - t0);
  };
  until(200);
  const r = until(seconds * 1000);
  console.log(`${name.padEnd(44)} ${r.toFixed(1).padStart(10)} ${unit}/s`);
}

rate(`parse /proc/iomem (${iomem.split("\n").length} lines)`, "files", () => memoryMapFromIomem(parseIomem(iomem)));
rate("parse + serialize target.json (fixture)", "docs", () => serializeTarget(parseTarget(serializeTarget(fixture))));
rate(`build elfcorehdr (512 CPUs, ${RANGES} RAM ranges)`, "headers", () => buildElfcorehdr(big));
const h = buildElfcorehdr(big);
const info = parseVmcoreinfo(fixture.vmcoreinfo?.text ?? "");
rate("check + lint that header", "headers", () => {
  checkVmcoreHeader(h.bytes);
  lintVmcoreinfoCoverage(h.bytes, info);
});
global.gc?.();
const before = process.memoryUsage().heapUsed;
buildElfcorehdr(big);
console.log(`elfcorehdr size ${h.bytes.length} bytes (${h.phdrs.length} program headers); heap growth of one build ~${((process.memoryUsage().heapUsed - before) / 1024).toFixed(0)} KiB`);
