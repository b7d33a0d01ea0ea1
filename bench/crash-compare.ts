import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { loadAssets } from "../scripts/assets.js";
import { parseManifest } from "../toolchain/bundle/manifest.js";
import { hex } from "../toolchain/bytes/index.js";
import { startCounting, type Counting, type Counts } from "../toolchain/qemu/index.js";
import { sha256 } from "../test/cycle/_agent.js";
import { describeCaptureAsync, makeBundleAsync, sendBundle, type BundleRequest } from "../test/cycle/_bundle.js";
import {
  GUEST_KERNEL, agentInitramfs, bootProduction, buildLoader, captureCommandLine, crash, programFiles, stage2Initramfs, type Production,
} from "../test/cycle/_guest.js";
import { keepConsole } from "../test/cycle/_machine.js";

/**
 * Issue 6 §3: our crash path against Debian's kexec-tools, on the production
 * guest of the kdump cycle (test/cycle/: Debian's cloud kernel with
 * crashkernel=256M, 2 CPUs, 1 GiB, QEMU TCG cortex-a57). Every variant loads
 * the same kernel Image, the same capture initramfs (the stage-2 initramfs of
 * the cycles, gzip-compressed: busybox and makedumpfile) and the same command
 * line, then crashes with sysrq-c:
 *
 *   kexec      Debian's `kexec -p Image --initrd=… --append=…` (its purgatory checks SHA-256)
 *   kexec -i   the same with -i (--no-checks: its purgatory hashes nothing)
 *   ours       a crash bundle from `purgatory bundle`, loaded by examples/loader
 *              (its purgatory hashes with the MMU and caches on and the SHA-256
 *              instructions), and the same with `--no-crypto`, `--no-mmu` and both
 *
 * 1. Crash to capture /init: host monotonic milliseconds from the line the
 *    guest prints right before `echo c` to the capture kernel's /init line,
 *    and to the capture kernel's banner on the way. RUNS cycles a variant,
 *    interleaved; median, min and max.
 *    Targets (issue 6): ours / kexec -i at most 1.25.
 * 2. Instructions executed inside each purgatory that checks, counted by the
 *    TCG plugin (toolchain/qemu/icount-plugin.c) over the purgatory segment:
 *    ours from the bundle manifest, kexec-tools' from `kexec -p -d` (the
 *    segment holding the entry). The range must be known when QEMU starts, so
 *    it comes from the timed runs and the counted run checks it. Hashed bytes:
 *    the other segments' memsz for kexec-tools (it hashes the zero padding
 *    too), their bufsz for ours. Target: ours 15 times fewer per byte. The
 *    plugin's loads and stores per byte go with them: a memory access costs
 *    TCG far more than a register operation.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/crash-compare.js [RUNS]
 *
 * Set PURGATORY_CYCLE_LOG=DIR to keep every console. Each cycle boots the
 * production guest anew (some 40 s under TCG); figures from a loaded
 * host are slower, and the load average is printed with them.
 */

const runs = Number(process.argv[2] ?? 3);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`RUNS must be a positive integer, not ${process.argv[2]}`);
const MACHINE_MS = 15 * 60_000;
const STEP_MS = 120_000;
const GUEST_CAPTURE = "/boot/capture.cpio.gz";
const SEED = "5eed";

interface Range {
  readonly start: bigint;
  readonly end: bigint;
}

/** What one load put where: the purgatory's segment and the bytes its check covers. */
interface Load {
  readonly purgatory: Range;
  readonly hashedBytes: bigint;
  /** Which purgatory: ours by the SHA-256 of its unpatched blob (the manifest's), kexec-tools' by its version. */
  readonly build: string;
}

interface Cycle extends Load {
  /** ms from the line before `echo c` to the capture kernel's banner, and to its /init. */
  readonly toBanner: number;
  readonly toInit: number;
}

const assets = loadAssets();
const work = mkdtempSync(join(tmpdir(), "bench-crash-compare-"));
const marker = randomUUID();
const commandLine = captureCommandLine(marker);

// The guest: the production initramfs with the loader, Debian's kexec, and
// the kernel and capture initramfs every variant loads from the guest's files.
const capture = gzipSync(stage2Initramfs(assets), { level: 9 });
const capturePath = join(work, "capture.cpio.gz");
writeFileSync(capturePath, capture);
const productionPath = join(work, "production.cpio");
writeFileSync(productionPath, agentInitramfs(assets, [
  { path: "/bin/loader", mode: 0o755, data: readFileSync(buildLoader()) },
  { path: GUEST_KERNEL, data: readFileSync(assets.kernel.image.path) },
  { path: GUEST_CAPTURE, data: capture },
  ...programFiles(assets.kexecTools, "kexec"),
]));
const guest = { kernel: { path: assets.kernel.image.path, sha256: assets.kernel.image.sha256 }, production: productionPath };
const local = new Map([[guest.kernel.sha256, GUEST_KERNEL], [sha256(capture), GUEST_CAPTURE]]);
let bundles = 0;

/** Describes the guest from its capture, makes a crash bundle (with `options`) and loads it with examples/loader. */
async function loadOurs(prod: Production, options: Pick<BundleRequest, "mmu" | "crypto">): Promise<Load> {
  const dir = join(work, `bundle-${++bundles}`);
  writeFileSync(join(work, "target.capture"), prod.capture);
  const targetJson = await describeCaptureAsync(join(work, "target.capture"), join(work, `target-${bundles}.json`));
  await makeBundleAsync({ mode: "crash", targetJson, kernelPath: guest.kernel.path, initrdPath: capturePath, commandLine, outDir: dir, seed: SEED, ...options });
  const sent = await sendBundle(prod.agent, dir, "/bundle", local, STEP_MS);
  if (sent.linked.length !== 2) throw new Error(`the guest should have the kernel and the initrd by digest; it linked ${sent.linked.join(", ")}`);
  const r = await prod.agent.run("loader /bundle && cat /sys/kernel/kexec_crash_loaded", STEP_MS);
  if (r.status !== 0 || !r.output.endsWith("\n1\n")) throw new Error(`loader /bundle failed (status ${r.status}):\n${r.output}`);
  const manifest = parseManifest(readFileSync(join(dir, "manifest.json"), "utf8"));
  const p = manifest.segments.find((s) => s.role === "purgatory");
  if (p === undefined) throw new Error(`${dir}/manifest.json has no purgatory segment`);
  const hashedBytes = manifest.segments.filter((s) => s !== p).reduce((n, s) => n + s.bufsz, 0n);
  const build = (manifest.purgatory as { sha256Unpatched?: unknown }).sha256Unpatched;
  return { purgatory: { start: p.mem, end: p.mem + p.memsz }, hashedBytes, build: `blob sha256 ${String(build).slice(0, 16)}` };
}

/** Loads with Debian's `kexec -p -d` (debug output: the segment list) and finds the purgatory's segment. */
async function loadKexec(prod: Production, noChecks: boolean): Promise<Load> {
  const cmd = `kexec -p -d ${noChecks ? "-i " : ""}${GUEST_KERNEL} --initrd=${GUEST_CAPTURE} --append="${commandLine}"`;
  const r = await prod.agent.run(`${cmd} && cat /sys/kernel/kexec_crash_loaded`, STEP_MS);
  if (r.status !== 0 || !r.output.endsWith("\n1\n")) throw new Error(`${cmd} failed (status ${r.status}):\n${r.output}`);
  return kexecLoad(r.output);
}

/**
 * Reads `kexec -d`'s "kexec_load: entry = 0x… flags = 0x…" and its
 * "segment[N].mem/.memsz = 0x…" lines (kexec/kexec.c print_segments); the
 * purgatory's segment is the one holding the entry.
 */
function kexecLoad(debug: string): Load {
  const entry = /kexec_load: entry = (0x[0-9a-f]+)/.exec(debug)?.[1];
  const field = (name: string) => new Map([...debug.matchAll(new RegExp(`^segment\\[(\\d+)\\]\\.${name}\\s*= (0x[0-9a-f]+)`, "gm"))].map((m) => [m[1], BigInt(m[2] as string)]));
  const mem = field("mem");
  const memsz = field("memsz");
  if (entry === undefined || mem.size === 0 || mem.size !== memsz.size) throw new Error(`cannot read the entry and the segments from kexec -d:\n${debug}`);
  const segments = [...mem].map(([i, m]) => ({ start: m, end: m + (memsz.get(i) ?? 0n) }));
  const at = BigInt(entry);
  const purgatory = segments.find((s) => s.start <= at && at < s.end);
  if (purgatory === undefined) throw new Error(`no segment holds kexec's entry ${entry}:\n${debug}`);
  const hashedBytes = segments.filter((s) => s !== purgatory).reduce((n, s) => n + (s.end - s.start), 0n);
  return { purgatory, hashedBytes, build: `kexec-tools ${assets.kexecTools.version}` };
}

interface Variant {
  readonly name: string;
  /** Whether its purgatory checks digests (and so is counted). */
  readonly checks: boolean;
  load(prod: Production): Promise<Load>;
}

const VARIANTS: readonly Variant[] = [
  { name: "kexec", checks: true, load: (prod) => loadKexec(prod, false) },
  { name: "kexec -i", checks: false, load: (prod) => loadKexec(prod, true) },
  { name: "ours", checks: true, load: (prod) => loadOurs(prod, {}) },
  { name: "ours --no-crypto", checks: true, load: (prod) => loadOurs(prod, { crypto: false }) },
  { name: "ours --no-mmu", checks: true, load: (prod) => loadOurs(prod, { mmu: false }) },
  { name: "ours --no-mmu --no-crypto", checks: true, load: (prod) => loadOurs(prod, { mmu: false, crypto: false }) },
];
const [KEXEC, KEXEC_NO_CHECKS] = VARIANTS as [Variant, Variant];
const WIDTH = Math.max(...VARIANTS.map((v) => v.name.length));

/**
 * One cycle: boot the production guest, load `variant`, crash, wait for the
 * capture kernel's /init. With `count`, QEMU runs the plugin over `count`'s
 * range, which the load must put the purgatory in; returns what it counted.
 */
async function cycle(variant: Variant, name: string, count?: Load): Promise<Cycle & { counts?: Counts }> {
  const counting: Counting | undefined = count === undefined ? undefined : await startCounting(count.purgatory.start, count.purgatory.end);
  const prod = await bootProduction(guest, MACHINE_MS, counting === undefined ? {} : { extraArgs: counting.args });
  const m = prod.machine;
  try {
    const load = await variant.load(prod);
    if (count !== undefined && (show(load.purgatory) !== show(count.purgatory) || load.build !== count.build)) {
      throw new Error(`this run's purgatory (${load.build} at ${show(load.purgatory)}) is not the timed runs' (${count.build} at ${show(count.purgatory)}): was it rebuilt meanwhile?`);
    }
    const crashed = await crash(prod, marker, STEP_MS);
    const banner = await m.next(/Linux version /, 4 * STEP_MS, "the capture kernel's banner");
    const init = await m.next(/@@STAGE2 /, 4 * STEP_MS, "the capture kernel's /init");
    const timing = { ...load, toBanner: banner.line.t - crashed.line.t, toInit: init.line.t - crashed.line.t };
    if (counting === undefined) return timing;
    await m.stop("SIGTERM");
    return { ...timing, counts: await counting.read() };
  } catch (e) {
    // The end of the console, without the base64 of the frames.
    console.error(m.transcript().split("\n").filter((l) => !/^\[[ 0-9.]+\] [A-Za-z0-9+/=]{40,}$/.test(l)).slice(-40).join("\n"));
    throw e;
  } finally {
    await keepConsole(m, name);
    await counting?.dispose();
  }
}

const show = (r: Range) => `${hex(r.start)}..${hex(r.end)}`;
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
const ms = (x: number) => x.toFixed(0).padStart(6);

try {
  console.log(`crash-compare: kernel ${assets.kernel.release}, kexec-tools ${assets.kexecTools.version}, capture initramfs ${capture.length} bytes (gzip)`);
  console.log(`command line: ${commandLine}`);
  console.log(`host load average at start: ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  const timed = new Map<Variant, Cycle[]>(VARIANTS.map((v) => [v, []]));
  const file = (v: Variant, i: number | string) => `crash-compare-${v.name.replace(/[ -]+/g, "-")}-${i}`;
  for (let i = 1; i <= runs; i++) {
    for (const v of VARIANTS) {
      const c = await cycle(v, file(v, i));
      timed.get(v)?.push(c);
      console.log(`  run ${i} ${v.name.padEnd(WIDTH)}: crash to banner ${ms(c.toBanner)} ms, to /init ${ms(c.toInit)} ms; purgatory ${show(c.purgatory)} (${c.build}), ${c.hashedBytes} bytes to hash`);
    }
  }

  console.log(`\ncrash to capture /init, host monotonic ms, ${runs} run(s) a variant`);
  console.log(`${"variant".padEnd(WIDTH)}  median     min     max   crash to capture banner (median)   / kexec -i`);
  const toInit = (v: Variant) => median((timed.get(v) ?? []).map((c) => c.toInit));
  const noChecks = toInit(KEXEC_NO_CHECKS);
  for (const v of VARIANTS) {
    const cs = timed.get(v) ?? [];
    const init = cs.map((c) => c.toInit);
    console.log(`${v.name.padEnd(WIDTH)}  ${ms(toInit(v))}  ${ms(Math.min(...init))}  ${ms(Math.max(...init))}   ${ms(median(cs.map((c) => c.toBanner))).padStart(32)}   ${(toInit(v) / noChecks).toFixed(2).padStart(9)}`);
  }
  console.log("target: ours / kexec -i <= 1.25");

  console.log("\ninstructions executed inside each checking purgatory (TCG plugin over its segment), one counted run each");
  console.log(`${"variant".padEnd(WIDTH)}  purgatory segment         instructions   hashed bytes   instr/byte   kexec / this   loads+stores/byte`);
  let kexecPerByte = NaN;
  for (const v of VARIANTS.filter((x) => x.checks)) {
    const loads = new Set((timed.get(v) ?? []).map((c) => `${c.build} at ${show(c.purgatory)}`));
    if (loads.size !== 1) throw new Error(`${v.name} loaded different purgatories in the timed runs (${[...loads].join("; ")}): no one range to count`);
    const c = await cycle(v, file(v, "counted"), timed.get(v)?.[0]);
    const counts = c.counts as Counts;
    const perByte = Number(counts.icount) / Number(c.hashedBytes);
    if (v === KEXEC) kexecPerByte = perByte;
    console.log(`${v.name.padEnd(WIDTH)}  ${show(c.purgatory).padEnd(22)} ${String(counts.icount).padStart(13)}  ${String(c.hashedBytes).padStart(13)}   ${perByte.toFixed(3).padStart(10)}   ${(kexecPerByte / perByte).toFixed(1).padStart(11)}x   ${(Number(counts.accesses) / Number(c.hashedBytes)).toFixed(3).padStart(17)}`);
  }
  console.log("target: kexec / ours >= 15x");
  console.log(`host load average at end: ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
