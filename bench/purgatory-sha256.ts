import { performance } from "node:perf_hooks";
import { getAssembler } from "../toolchain/asm/index.js";
import { build, expandTemplateFile, patch, regionOf } from "../toolchain/purgatory/index.js";
import { runCounted } from "../toolchain/qemu/index.js";

/**
 * Purgatory figures: blob size, build time, and instructions executed per
 * hashed byte by each SHA-256 routine (sha256.S scalar, sha256-ce.S with the
 * SHA-256 instructions), MMU off, counted under QEMU (virt, cortex-a57, TCG)
 * by the plugin in toolchain/qemu/icount-plugin.c. The plugin also counts
 * misaligned data accesses (the purgatory must make none).
 *
 *   bash bench/purgatory-bench.sh sha256 [BUILDS]   (builds, then runs this file)
 *
 * Instructions per byte are the difference between two message lengths
 * (1 MiB and 5 MiB), so the fixed cost of a call drops out; it is printed
 * separately (a 0-byte message).
 */

const builds = Number(process.argv[2] ?? 10);
const MiB = 1024 * 1024;
const HARNESS_AT = 0x4020_0000n;
const TABLE_AT = 0x4100_0000n;
const DATA_AT = 0x4200_0000n;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
}

// Build time: the first build loads Keystone's WASM; later ones reuse it.
let t = performance.now();
const first = await build();
const cold = performance.now() - t;
const warm: number[] = [];
for (let i = 0; i < builds; i++) {
  t = performance.now();
  await build();
  warm.push(performance.now() - t);
}
const h = first.header;
console.log(`blob: ${first.blob.length} bytes, memsz ${first.memsz} (code ${h.code_end - h.code_start} bytes = ${(h.code_end - h.code_start) / 4} instructions, 16-entry region table, 2 KiB stack, 32 page tables)`);
console.log(`build: ${cold.toFixed(0)} ms cold (Keystone load included), ${median(warm).toFixed(1)} ms median of ${builds} warm builds`);

// Each SHA-256 routine, one message per QEMU run.
type Routine = "sha256" | "sha256_ce";
async function hashCost(routine: Routine, length: number, offset: number): Promise<{ icount: bigint; unaligned: bigint }> {
  const harness = await (await getAssembler()).assemble(expandTemplateFile("sha256-harness.S", { table: TABLE_AT, routine }), { address: HARNESS_AT });
  const start = HARNESS_AT + BigInt(harness.labels.get(routine)!);
  const end = HARNESS_AT + BigInt(harness.labels.get(routine === "sha256" ? "sha256_ce" : "harness_code_end")!);
  const table = new Uint8Array(24);
  const v = new DataView(table.buffer);
  v.setBigUint64(0, 1n, true);
  v.setBigUint64(8, DATA_AT + BigInt(offset), true);
  v.setBigUint64(16, BigInt(length), true);
  const data = new Uint8Array(offset + length).map((_, i) => (i * 131) & 0xff);
  const { result, counts } = await runCounted(
    {
      machine: "virt",
      images: [{ addr: HARNESS_AT, bytes: harness.bytes }, { addr: TABLE_AT, bytes: table }, { addr: DATA_AT, bytes: data }],
      entry: HARNESS_AT,
      timeoutMs: 120_000,
    },
    start,
    end,
  );
  if (!result.console.includes("done")) throw new Error(`harness failed: ${result.console} ${result.stderr}`);
  return counts;
}

for (const routine of ["sha256", "sha256_ce"] as const) {
  const fixed = await hashCost(routine, 0, 0);
  console.log(`${routine} call, 0-byte message: ${fixed.icount} instructions (padding block, prologue, digest out)`);
  for (const [name, offset] of [["aligned start", 0], ["odd start", 1]] as const) {
    const a = await hashCost(routine, 1 * MiB, offset);
    const b = await hashCost(routine, 5 * MiB, offset);
    const perByte = Number(b.icount - a.icount) / (4 * MiB);
    console.log(`${routine} ${name}: ${perByte.toFixed(3)} instructions per byte, ${(perByte * 64).toFixed(1)} per 64-byte block; misaligned accesses: ${a.unaligned + b.unaligned}`);
  }
}

// A whole purgatory run (default: the fast path): entry to kernel, verifying a 4 MiB region and the
// "kernel" (three instructions: PSCI SYSTEM_OFF, so QEMU exits and the plugin reports).
const kernel = (await (await getAssembler()).assemble("movz w0, #0x8400, lsl #16\nmovk w0, #0x0008\nhvc #0")).bytes;
const bigRegion = new Uint8Array(4 * MiB).map((_, i) => (i * 7) & 0xff);
const blob = patch(first.blob, {
  kernel_entry: 0x4020_0000n,
  dtb_addr: 0x4400_0000n,
  regions: [regionOf(0x4020_0000n, kernel), regionOf(0x4500_0000n, bigRegion)],
  segment_memsz: first.memsz,
});
const run = await runCounted(
  {
    machine: "virt",
    images: [{ addr: 0x4020_0000n, bytes: kernel }, { addr: 0x4500_0000n, bytes: bigRegion }, { addr: 0x4800_0000n, bytes: blob }],
    entry: 0x4800_0000n,
    timeoutMs: 60_000,
  },
  0x4800_0000n,
  0x4800_0000n + BigInt(blob.length),
);
if (!run.result.console.includes("entering kernel")) throw new Error(`purgatory failed: ${run.result.console}`);
console.log(`purgatory run, 2 regions (4 MiB + 12 bytes): ${run.counts.icount} instructions to the kernel jump, ${run.counts.accesses} data accesses, ${run.counts.unaligned} misaligned`);
