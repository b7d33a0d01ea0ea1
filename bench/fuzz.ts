import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { gzipSync } from "node:zlib";
import { InputError } from "../toolchain/bytes/index.js";
import { decodeSegmentTable, encodeSegmentTable, parseManifest } from "../toolchain/bundle/index.js";
import { measureInitramfs } from "../toolchain/crashkernel/index.js";
import { readElf } from "../toolchain/elf/index.js";
import { loadKernelImage } from "../toolchain/image/index.js";
import { gunzip } from "../toolchain/image/gzip.js";
import { readPeHeader } from "../toolchain/image/pe.js";
import { parseUImage } from "../toolchain/image/uimage.js";
import { flattenVmlinux } from "../toolchain/image/vmlinux.js";
import { unxz } from "../toolchain/image/xz.js";
import { parseZboot } from "../toolchain/image/zboot.js";
import { unzstd } from "../toolchain/image/zstd.js";
import { build, parseHeader, readSlots } from "../toolchain/purgatory/index.js";
import { buildElfcorehdr, parseCapture, parseIomem, parseTarget, parseVmcoreinfo } from "../toolchain/target/index.js";

/**
 * Seeded fuzzing of every parser except the FDT's (bench/fdt-fuzz.ts has its
 * own mutator): ELF, each kernel image format and codec, /proc/iomem,
 * vmcoreinfo, collect-target captures, the target JSON, manifest.json,
 * segments.bin, the purgatory header and the initramfs (cpio) reader.
 *
 *   npm run build && node dist/bench/fuzz.js [CASES] [SEED] [TARGET...]
 *
 * Each target runs CASES (default 1,000,000) mutated inputs in a worker thread
 * with a bounded heap (256 MiB old space): truncations, bit flips, fields
 * overwritten with values that break arithmetic, splices, insertions and
 * random bytes, all from the same mulberry32 stream, so SEED reproduces a run.
 * The one invariant: a parser returns or throws InputError. Anything else is
 * a bug: its input is written to fuzz-bug-TARGET-CASE.bin and the run exits 1.
 * A case that takes more than 2 minutes (the worker stops reporting: wall time,
 * so a starved worker on a loaded machine needs that margin) is a hang,
 * reported the same way. Prints, per target: cases, time, outcomes by code,
 * the slowest case and the worker's peak heap.
 *
 *   node dist/bench/fuzz.js --replay TARGET CASE [SEED]
 *
 * regenerates one case (the mutator alone, no parsing before it), writes it to
 * fuzz-case-TARGET-CASE.bin and runs it once, timed: how a hang is examined.
 */

interface Target {
  readonly name: string;
  /** Valid inputs to mutate. */
  readonly seeds: () => Promise<Uint8Array[]> | Uint8Array[];
  /** Parses one input; may be async. */
  readonly run: (bytes: Uint8Array) => unknown;
}

const root = join(import.meta.dirname, "../..");
const fixture = (...p: string[]) => new Uint8Array(readFileSync(join(root, ...p)));
const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
const bytesOf = (s: string) => new TextEncoder().encode(s);
const imageFixtures = (...names: string[]) => names.map((n) => fixture("test/image/fixtures", n, "input.bin"));
const virtTargetJson = () => readFileSync(join(root, "test/target/fixtures/qemu-virt-6.1/target.json"), "utf8");

const TARGETS: readonly Target[] = [
  { name: "elf", seeds: () => [buildElfcorehdr(parseTarget(virtTargetJson())).bytes, ...imageFixtures("vmlinux")], run: (b) => readElf(b) },
  {
    name: "image",
    seeds: () => readdirSync(join(root, "test/image/fixtures")).map((n) => fixture("test/image/fixtures", n, "input.bin")),
    run: (b) => loadKernelImage(b, { pageSize: 4096 }),
  },
  { name: "gzip", seeds: () => imageFixtures("image-gz"), run: (b) => gunzip(b) },
  { name: "zstd", seeds: () => imageFixtures("image-zst"), run: (b) => unzstd(b) },
  { name: "xz", seeds: () => imageFixtures("image-xz"), run: (b) => unxz(b) },
  { name: "zboot", seeds: () => imageFixtures("zboot-gzip", "zboot-zstd", "zboot-xzkern"), run: (b) => parseZboot(b) },
  { name: "uimage", seeds: () => imageFixtures("uimage-none", "uimage-gzip", "uimage-zstd"), run: (b) => parseUImage(b) },
  { name: "pe", seeds: () => imageFixtures("uki-zboot", "image-efi-stub-16k"), run: (b) => readPeHeader(b, 0x40) },
  { name: "vmlinux", seeds: () => imageFixtures("vmlinux"), run: (b) => flattenVmlinux(b) },
  { name: "iomem", seeds: () => [fixture("test/target/fixtures/qemu-virt-6.1/root/proc/iomem")], run: (b) => parseIomem(text(b)) },
  { name: "vmcoreinfo", seeds: () => [fixture("test/target/fixtures/qemu-virt-6.1/vmcoreinfo.txt")], run: (b) => parseVmcoreinfo(text(b)) },
  { name: "target-json", seeds: () => [bytesOf(virtTargetJson())], run: (b) => parseTarget(text(b)) },
  {
    name: "manifest",
    seeds: () => readdirSync(join(root, "test/bundle/fixtures")).map((n) => fixture("test/bundle/fixtures", n)),
    run: (b) => parseManifest(text(b)),
  },
  { name: "segments.bin", seeds: () => [segmentTable()], run: (b) => decodeSegmentTable(b) },
  { name: "purgatory", seeds: async () => [(await build()).blob], run: (b) => (parseHeader(b), readSlots(b)) },
  { name: "capture", seeds: () => [capture()], run: (b) => parseCapture(text(b)) },
  { name: "cpio", seeds: () => [cpio(), gzipSync(cpio())], run: (b) => measureInitramfs(b) },
];

function segmentTable(): Uint8Array {
  const sha = new Uint8Array(32).fill(7);
  return encodeSegmentTable({
    entry: 0x4a20_0000n,
    flags: 0xb7_0001n,
    segments: [
      { role: "kernel", file: "kernel.bin", mem: 0x4020_0000n, memsz: 0x1ab_0000n, bufsz: 0x1a0_9a00n, sha256: sha },
      { role: "initrd", file: "initrd.bin", mem: 0x4800_0000n, memsz: 0x20_0000n, bufsz: 0x1f_0000n, sha256: sha },
      { role: "purgatory", file: "purgatory.bin", mem: 0x4a20_0000n, memsz: 0x2_3000n, bufsz: 0x3000n, sha256: sha },
    ],
  });
}

/** A collect-target.sh capture of the fixture root's text files. */
function capture(): Uint8Array {
  const base = join(root, "test/target/fixtures/qemu-virt-6.1/root");
  const files = ["proc/cmdline", "proc/iomem", "sys/devices/system/cpu/cpu0/crash_notes", "sys/devices/system/cpu/cpu0/crash_notes_size"];
  const body = files.map((f) => `==> ${f} <==\n${readFileSync(join(base, f)).toString("base64")}\n`).join("");
  return bytesOf(`purgatory-target-capture 1\n${body}==> end ${files.length} <==\n`);
}

/** A small newc archive: a directory, a file and the trailer. */
function cpio(): Uint8Array {
  const entry = (name: string, mode: number, data: string) => {
    const hdr = ["070701", 1, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0]
      .map((v, i) => (i === 0 ? String(v) : v.toString(16).padStart(8, "0"))).join("");
    const pad = (n: number) => "\0".repeat((4 - (n % 4)) % 4);
    return hdr + name + "\0" + pad(110 + name.length + 1) + data + pad(data.length);
  };
  return bytesOf(entry("dev", 0o40755, "") + entry("init", 0o100755, "#!/bin/sh\necho hi\n") + entry("TRAILER!!!", 0, ""));
}

// ---- the mutator (mulberry32 stream) ----

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

function mutate(seeds: readonly Uint8Array[], next: () => number): Uint8Array {
  const below = (n: number) => (n <= 0 ? 0 : next() % n);
  const s = seeds[below(seeds.length)]!;
  switch (below(7)) {
    case 0:
      return s.slice(0, below(s.length + 1));
    case 1: {
      const b = s.slice();
      for (let n = 1 + below(6); n > 0 && b.length > 0; n--) b[below(b.length)]! ^= 1 << below(8);
      return b;
    }
    case 2:
    case 3: {
      // Header fields live near the start, trailers near the end.
      const b = s.slice();
      const width = [1, 2, 4, 8][below(4)]!;
      const at = below(2) ? below(Math.min(b.length, 0x240)) : Math.max(0, b.length - 1 - below(16));
      const v = below(2) ? INTERESTING[below(INTERESTING.length)]! : next();
      for (let i = 0; i < width && at + i < b.length; i++) b[at + i] = (v >>> (8 * (i % 4))) & 0xff;
      return b;
    }
    case 4: {
      const d = seeds[below(seeds.length)]!;
      const b = s.slice();
      const at = below(b.length);
      const from = below(d.length);
      b.set(d.subarray(from, from + below(0x400)).subarray(0, Math.max(0, b.length - at)), at);
      return b;
    }
    case 5: {
      const at = below(s.length + 1);
      const junk = Uint8Array.from({ length: 1 + below(64) }, () => next() & 0xff);
      const del = below(2) === 0;
      const tail = del ? s.subarray(Math.min(s.length, at + junk.length)) : s.subarray(at);
      const out = new Uint8Array(at + (del ? 0 : junk.length) + tail.length);
      out.set(s.subarray(0, at));
      if (!del) out.set(junk, at);
      out.set(tail, at + (del ? 0 : junk.length));
      return out;
    }
    default:
      return Uint8Array.from({ length: below(512) }, () => next() & 0xff);
  }
}

// ---- worker: one target ----

interface Report {
  readonly target: string;
  readonly cases: number;
  readonly seconds: number;
  readonly outcomes: Record<string, number>;
  readonly slowestMs: number;
  readonly peakHeapMiB: number;
  readonly bug?: { readonly caseIndex: number; readonly error: string; readonly input: Uint8Array };
}

async function fuzzTarget(name: string, cases: number, seed: number): Promise<void> {
  const t = TARGETS.find((x) => x.name === name)!;
  const seeds = await t.seeds();
  const next = rng(seed ^ hashName(name));
  const outcomes: Record<string, number> = {};
  let slowest = 0;
  let peakHeap = 0;
  const t0 = performance.now();
  for (let i = 0; i < cases; i++) {
    const input = mutate(seeds, next);
    const start = performance.now();
    let outcome = "ok";
    try {
      const r = t.run(input);
      if (r instanceof Promise) await r;
    } catch (e) {
      if (!(e instanceof InputError)) {
        const report: Report = { target: name, cases: i, seconds: 0, outcomes, slowestMs: slowest, peakHeapMiB: 0, bug: { caseIndex: i, error: String((e as Error)?.stack ?? e), input } };
        parentPort!.postMessage(report);
        return;
      }
      outcome = e.code;
    }
    slowest = Math.max(slowest, performance.now() - start);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if ((i & 0xf) === 0) {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      parentPort!.postMessage({ progress: i });
    }
  }
  const report: Report = { target: name, cases, seconds: (performance.now() - t0) / 1000, outcomes, slowestMs: slowest, peakHeapMiB: peakHeap / 2 ** 20 };
  parentPort!.postMessage(report);
}

function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

// ---- main: one worker per target, a watchdog for hangs ----

const HANG_MS = 120_000;

function runWorker(name: string, cases: number, seed: number): Promise<Report> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { name, cases, seed }, resourceLimits: { maxOldGenerationSizeMb: 256 } });
    let last = Date.now();
    let lastCase = 0;
    const dog = setInterval(() => {
      if (Date.now() - last > HANG_MS) {
        clearInterval(dog);
        void w.terminate();
        resolve({ target: name, cases: lastCase, seconds: 0, outcomes: {}, slowestMs: HANG_MS, peakHeapMiB: 0, bug: { caseIndex: lastCase, error: `no progress for ${HANG_MS} ms after case ${lastCase} (a hang)`, input: new Uint8Array(0) } });
      }
    }, 500);
    w.on("message", (m: Report | { progress: number }) => {
      last = Date.now();
      if ("progress" in m) lastCase = m.progress;
      else {
        clearInterval(dog);
        resolve(m);
      }
    });
    w.on("error", (e) => {
      clearInterval(dog);
      // The heap bound is part of the invariant: running out of it is a bug of
      // one of the 16 cases after the last reported one (replay them).
      if ((e as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY") {
        resolve({ target: name, cases: lastCase, seconds: 0, outcomes: {}, slowestMs: 0, peakHeapMiB: 256, bug: { caseIndex: lastCase, error: `the worker ran out of its 256 MiB heap in cases ${lastCase} to ${lastCase + 15} (replay them)`, input: new Uint8Array(0) } });
      } else reject(e);
    });
  });
}

async function replay(name: string, index: number, seed: number): Promise<void> {
  const t = TARGETS.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no target ${name}`);
  const seeds = await t.seeds();
  const next = rng(seed ^ hashName(name));
  let input: Uint8Array = new Uint8Array(0);
  for (let i = 0; i <= index; i++) input = mutate(seeds, next);
  const file = `fuzz-case-${name}-${index}.bin`;
  writeFileSync(file, input);
  const start = performance.now();
  let outcome = "ok";
  try {
    await t.run(input);
  } catch (e) {
    outcome = e instanceof InputError ? e.code : `BUG ${String(e)}`;
  }
  console.log(`${name} case ${index} (${input.length} bytes, ${file}): ${outcome} in ${(performance.now() - start).toFixed(1)} ms`);
}

if (!isMainThread) {
  const d = workerData as { name: string; cases: number; seed: number };
  await fuzzTarget(d.name, d.cases, d.seed);
} else if (process.argv[2] === "--replay") {
  await replay(process.argv[3] ?? "", Number(process.argv[4]), Number(process.argv[5] ?? 1));
} else {
  const [casesArg, seedArg, ...names] = process.argv.slice(2);
  const cases = Number(casesArg ?? 1_000_000);
  const seed = Number(seedArg ?? 1);
  const chosen = names.length > 0 ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;
  console.log(`fuzz: ${cases} cases per target, seed ${seed}, ${chosen.length} targets; invariant: return or InputError, no hang over ${HANG_MS} ms, heap <= 256 MiB`);
  console.log("target         cases      s   slowest ms  peak heap MiB  outcomes (top 4)");
  let bugs = 0;
  for (const t of chosen) {
    const r = await runWorker(t.name, cases, seed);
    if (r.bug !== undefined) {
      bugs++;
      const file = `fuzz-bug-${t.name}-${r.bug.caseIndex}.bin`;
      writeFileSync(file, r.bug.input);
      console.log(`${t.name.padEnd(13)} BUG at case ${r.bug.caseIndex} (input in ${file}):\n${r.bug.error}`);
      continue;
    }
    const top = Object.entries(r.outcomes).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => `${k} ${((100 * n) / r.cases).toFixed(1)}%`).join(", ");
    console.log(`${t.name.padEnd(13)} ${String(r.cases).padStart(8)} ${r.seconds.toFixed(0).padStart(6)} ${r.slowestMs.toFixed(1).padStart(12)} ${r.peakHeapMiB.toFixed(1).padStart(14)}  ${top}`);
  }
  if (bugs > 0) process.exitCode = 1;
}
