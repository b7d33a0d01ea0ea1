/**
 * Issue 13 §3: calibrates the crash reservation on several emulated machines
 * (RAM, CPUs, a small and a large capture initramfs) with real crashes
 * (`calibrateCrashkernel`, the library of `purgatory crashkernel --calibrate
 * --qemu`), and prints side by side the measured minimum, our estimate
 * (minimum and recommended, built-in constants) and the peers' formulas on
 * the same inputs (docs/crashkernel.md, "What the peers do"):
 *
 * - Fedora, kdump-utils `kdumpctl estimate`: max(the aarch64 default for the
 *   RAM, kernel + modules + 3 x initramfs + 16 MiB). The kernel is its
 *   "Kernel code" and "Kernel data" in /proc/iomem (get_kernel_size() falls
 *   back to them for an Image), the modules those of the capture initramfs.
 * - Debian (a proposed estimator, salsa.debian.org debian/makedumpfile merge
 *   request 7, as issue 13 describes it; its source was not read): 4 x vmlinuz
 *   + initramfs + unpacked initramfs + memory in use, taken here as
 *   MemTotal - MemAvailable of the production guest at its /init.
 * - openSUSE, kdumptool calibrate: its run-time model (kernel base +
 *   unpacked initramfs, per-CPU, user space with makedumpfile's bitmaps, then
 *   solved for 20% dirty cache, hashes and struct pages; at least the boot
 *   size) on constants measured once, then x 1.3 + 64 MiB. Its constants are
 *   measured per distribution kernel; here they are ours: kernel base =
 *   image + the kernel run time calibrated with the small initramfs, user
 *   space = init + collector.
 *
 *   node dist/bench/crashkernel-calibrate.js [CONFIG...] [--out results.json] [--consoles DIR]
 *   node dist/bench/crashkernel-calibrate.js --from results.json   # the table again, from measured minima
 *
 * CONFIG is RAM-CPUs-initramfs[-cma0], e.g. 1G-2-small, 4G-4-large, 1G-2-small-cma0
 * (cma=0 on the capture command line, as kdump-utils sets); default: every
 * combination of 1G, 2G, 4G; 1 and 4 CPUs; small and large. Each takes a
 * few probes of half a minute to a minute under TCG.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAssets } from "../scripts/assets.js";
import { calibrateCrashkernel, impliedKernelRuntime } from "../toolchain/calibrate/index.js";
import type { CalibrationResult } from "../toolchain/calibrate/index.js";
import { captureKernel, estimateCrashkernel, measureInitramfs, mib } from "../toolchain/crashkernel/index.js";
import type { Calibration } from "../toolchain/crashkernel/index.js";
import { loadKernelImage } from "../toolchain/image/index.js";
import { buildCaptureInitramfs, buildCpio, fsRoot } from "../toolchain/initramfs/index.js";
import { CALIBRATED } from "../toolchain/crashkernel/calibration.js";
import { parseTarget, serializeTarget } from "../toolchain/target/index.js";
import { execFileSync } from "node:child_process";

const MiB = 1n << 20n;
const args = process.argv.slice(2);
const outAt = args.indexOf("--out");
const out = outAt >= 0 ? args[outAt + 1] : undefined;
const fromAt = args.indexOf("--from");
const from = fromAt >= 0 ? args[fromAt + 1] : undefined;
const consolesAt = args.indexOf("--consoles");
const consoles = consolesAt >= 0 ? args[consolesAt + 1] : undefined;
const values = new Set([outAt, fromAt, consolesAt].filter((i) => i >= 0).map((i) => i + 1));
const wanted = args.filter((a, i) => !a.startsWith("--") && !values.has(i));
const ALL = ["1G", "2G", "4G"].flatMap((m) => ["1", "4"].flatMap((c) => ["small", "large"].map((i) => `${m}-${c}-${i}`)));
const configs = wanted.length > 0 ? wanted : ALL;
/** Bytes of files the large initramfs adds (incompressible, in an uncompressed cpio before the capture archive). */
const LARGE_EXTRA = 40 * 1024 * 1024;

/** What one configuration measured: enough to recompute every column. */
interface Measured {
  readonly config: string;
  readonly memory: string;
  readonly smp: number;
  readonly initrd: "small" | "large";
  readonly minimum: string | null;
  readonly stopped: string | null;
  readonly probes: readonly { size: string; ok: boolean; outcome: string; wallMs: number; reason: string }[];
  readonly wallMs: number;
  /** The production machine's description at the minimum (or the last probe). */
  readonly target: string | null;
  readonly memInUse: string | null;
  readonly calibration: string | null;
}

const assets = loadAssets();
const work = mkdtempSync(join(tmpdir(), "bench-calibrate-"));
const kernelBytes = new Uint8Array(readFileSync(assets.kernel.image.path));
const kernel = captureKernel(await loadKernelImage(kernelBytes));
const vmlinuzBytes = readFileSync(assets.kernel.vmlinuz.path).length;
const loader = new Uint8Array(readFileSync(execFileSync("bash", ["scripts/build-loader.sh"], { encoding: "utf8" }).trim().split("\n").at(-1)!));

// The capture initramfs of test/cycle/calibrate.test.ts: LABEL=pgdump, ext4, power off either way.
const built = await buildCaptureInitramfs({
  root: fsRoot(assets.sysroot), modules: ["virtio_blk", "virtio_pci"], compress: "gzip",
  config: { dumpTo: "LABEL=pgdump", fsType: "ext4", directory: "/var/crash", coreCollector: "makedumpfile -l -d 31", finalAction: "poweroff", failureAction: "poweroff", waitSeconds: 30, timeoutSeconds: 600 },
});
const small = built.bytes;
const moduleBytes = (built.report.modules?.load ?? []).reduce((n, m) => n + m.bytes, 0);
const large = concat(buildCpio(Array.from({ length: LARGE_EXTRA / (8 << 20) }, (_, i) => ({ path: `/extra/blob${i}`, data: noise(8 << 20, i) }))), small);
const initrds = { small, large };

let results: Measured[];
if (from !== undefined) {
  results = JSON.parse(readFileSync(from, "utf8")) as Measured[];
} else {
  results = [];
  for (const config of configs) {
    const [memory, cpus, which] = config.split("-") as [string, string, "small" | "large"];
    if (!/^[124]G-[1-8]-(small|large)(-cma0)?$/.test(config)) throw new Error(`unknown configuration ${config}: give RAM-CPUs-initramfs[-cma0], e.g. 1G-2-small`);
    process.stderr.write(`${config}: `);
    const t = Date.now();
    let r: CalibrationResult;
    try {
      r = await calibrateCrashkernel({
        kernel: kernelBytes, initrd: initrds[which], loader, memory: BigInt(memory.replace("G", "")) << 30n, smp: Number(cpus),
        append: captureAppend(config), workDir: join(work, config), clock: () => performance.now(),
        onStart: (s) => process.stderr.write(`estimate ${mib(s.estimate.minimum.bytes)}; probes`),
        onProbe: (p) => {
          process.stderr.write(` ${p.size >> 20n}M:${p.ok ? "ok" : p.outcome}(${(p.wallMs / 1000).toFixed(0)}s)`);
          if (consoles !== undefined) writeFileSync(join(consoles, `${config}-${p.size >> 20n}M.txt`), p.console.join("\n") + "\n");
        },
      });
    } catch (e) {
      process.stderr.write(` failed: ${(e as Error).message.split("\n")[0]}\n`);
      continue;
    }
    process.stderr.write(` -> ${r.minimum === null ? `no minimum (${r.stopped})` : mib(r.minimum)} in ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
    const at = r.probes.find((p) => p.size === r.minimum) ?? [...r.probes].reverse().find((p) => p.target !== null);
    const mem = r.probes.find((p) => p.productionMemory !== null)?.productionMemory ?? null;
    results.push({
      config, memory, smp: Number(cpus), initrd: which, minimum: r.minimum === null ? null : String(r.minimum), stopped: r.stopped,
      probes: r.probes.map((p) => ({ size: String(p.size), ok: p.ok, outcome: p.outcome, wallMs: Math.round(p.wallMs), reason: p.reason })),
      wallMs: Math.round(r.wallMs), target: at?.target ? serializeTarget(at.target) : null,
      memInUse: mem === null ? null : String(mem.total - mem.available),
      calibration: r.calibration === null ? null : JSON.stringify({ ...r.calibration, format: "purgatory-crashkernel-calibration/1" }),
    });
    if (out !== undefined) writeFileSync(out, JSON.stringify(results, null, 1));
  }
}
rmSync(work, { recursive: true, force: true });

// The kernel run time each measured minimum implies under the current model
// (recomputed, so that --from follows changes to the estimate).
const captureLine = (config: string) => `console=ttyAMA0 earlycon panic=-1 ${captureAppend(config)}`;
const implied = new Map<string, bigint | null>();
for (const m of results) {
  if (m.minimum === null || m.target === null) continue;
  const target = parseTarget(m.target);
  const initramfs = await measureInitramfs(initrds[m.initrd]);
  const with_ = (k: bigint) => {
    const c: Calibration = { measuredOn: { kernelRelease: kernel.release ?? "unknown", pageSize: 4096 }, constants: { kernelRuntime: Number(k) } };
    const e = estimateCrashkernel({ target, cpus: m.smp, commandLine: captureLine(m.config), kernel, initramfs, calibration: c }).minimum;
    return { bytes: e.bytes, ruled: e.terms.some((t) => t.key === "tmpfsRule") };
  };
  implied.set(m.config, impliedKernelRuntime(with_, BigInt(m.minimum)).kernelRuntime);
}
// The table. openSUSE measures its constants once per kernel: the kernel run
// time here is the one implied with the small initramfs (with the large one,
// the rootfs size rule decides the minimum and none comes out).
const once = [...implied.values()].find((k) => k !== null && k !== undefined) ?? null;
const measuredOnce: Calibration | null = once === null ? null : { measuredOn: { kernelRelease: "bench", pageSize: 4096 }, constants: { kernelRuntime: Number(once) } };
const rows: string[][] = [["config", "measured", "probes", "wall", "ours min", "ours rec", "rec/meas", "min>=meas", "Fedora", "Debian", "SUSE", "kernelRuntime"]];
for (const m of results) {
  const initrd = initrds[m.initrd];
  const measure = await measureInitramfs(initrd);
  const target = m.target === null ? null : parseTarget(m.target);
  const M = m.minimum === null ? null : BigInt(m.minimum);
  const ours = target === null ? null : estimateCrashkernel({
    target, cpus: m.smp, commandLine: captureLine(m.config), kernel, initramfs: measure, calibration: null,
  });
  const ram = BigInt(m.memory.replace("G", "")) << 30n;
  const fedora = target === null ? null : fedoraEstimate(ram, target, initrd.length);
  const debian = m.memInUse === null ? null : 4n * BigInt(vmlinuzBytes) + BigInt(initrd.length) + BigInt(measure.dataBytes) + BigInt(m.memInUse);
  const k = implied.get(m.config) ?? null;
  const suse = suseEstimate(ram, measure.tmpfsBytes[4096], initrd.length, measuredOnce);
  const ratio = (n: bigint | null | undefined) => (n == null || M === null ? "-" : (Number(n) / Number(M)).toFixed(2));
  const wall = m.probes.reduce((n, p) => n + p.wallMs, 0);
  rows.push([
    m.config, M === null ? `none` : mib(M), String(m.probes.length), `${(wall / 1000).toFixed(0)} s`,
    ours === null ? "-" : mib(ours.minimum.bytes), ours === null ? "-" : mib(ours.recommended.bytes), ratio(ours?.recommended.bytes),
    ours === null || M === null ? "-" : ours.minimum.bytes >= M ? "yes" : "NO",
    fedora === null ? "-" : `${mib(fedora)} (${ratio(fedora)})`, debian === null ? "-" : `${mib(debian)} (${ratio(debian)})`, `${mib(suse)} (${ratio(suse)})`,
    k === null ? "- (rule)" : mib(k),
  ]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(`crash reservation on QEMU virt (Debian ${assets.kernel.release}, capture line "... nr_cpus=1 reset_devices"); small initramfs ${small.length} bytes, large ${large.length} bytes`);
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
for (const m of results) {
  console.log(`${m.config}: ${m.probes.map((p) => `${BigInt(p.size) >> 20n}M ${p.ok ? "ok" : p.outcome} ${(p.wallMs / 1000).toFixed(0)}s`).join(", ")}${m.stopped === null ? "" : `; ${m.stopped}`}`);
}

/** Words the capture command line adds: the README's, and cma=0 for a -cma0 configuration. */
function captureAppend(config: string): string {
  return config.endsWith("-cma0") ? "nr_cpus=1 reset_devices cma=0" : "nr_cpus=1 reset_devices";
}

/** kdump-utils do_estimate(): max(the aarch64 default for this RAM, kernel + modules + 3 x initramfs + 16 MiB runtime). */
function fedoraEstimate(ram: bigint, t: ReturnType<typeof parseTarget>, initrdBytes: number): bigint {
  // get_system_size(): the RAM rounded up to 128 MiB, in whole GiB; the default "2G-4G:256M,4G-64G:320M,64G-:576M".
  const gib = ((ram + 128n * MiB - 1n) / (128n * MiB)) * 128n / 1024n;
  const baseline = gib >= 64n ? 576n * MiB : gib >= 4n ? 320n * MiB : gib >= 2n ? 256n * MiB : 0n;
  const kernelSize = [t.kernelCode, t.kernelData].reduce((n, r) => n + (r === null ? 0n : r.end - r.start), 0n);
  const estimated = kernelSize + BigInt(moduleBytes) + 3n * BigInt(initrdBytes) + 16n * MiB;
  return estimated > baseline ? estimated : baseline;
}

/**
 * kdumptool calibrate (openSUSE/kdump kdumptool/calibrate.cc runtimeSize() and
 * main()), KiB arithmetic as there, on our constants: KERNEL_BASE = image +
 * kernel run time, INIT_CACHED = the unpacked initramfs, KERNEL_INIT = its
 * file, PERCPU = our perCpu, USER_BASE = init + collector; one CPU
 * (KDUMP_CPUS), no framebuffer (a serial console), no LUKS.
 */
function suseEstimate(ram: bigint, unpacked: number, initrdBytes: number, c: Calibration | null): bigint {
  const kb = (b: bigint | number) => BigInt(b) / 1024n;
  const constant = (name: keyof typeof CALIBRATED) => BigInt(c?.constants[name] ?? CALIBRATED[name].defaults[4096]);
  const kernelBase = kb(kernel.textOffset + kernel.imageSize + constant("kernelRuntime"));
  const initCached = kb(unpacked);
  const memtotal = kb(ram);
  let required = kernelBase + initCached;
  required += (kb(constant("perCpu")) + 50n * 2n + 3n * 4n + 128n + 5n) * 1n;
  let user = kb(constant("userspace") + constant("collector"));
  let bitmap = (memtotal / 4096n + 3n) / 4n;
  if (bitmap > 32n * 1024n) bitmap = 32n * 1024n;
  user += bitmap + 96n * ((memtotal + (1n << 27n) - 1n) >> 27n);
  required += user;
  required = (required * 102400n) / (102400n - 20480n - 20n * 64n);
  required = (required * 1048576n) / (1048576n - 232n * 8n);
  const prev = required;
  required = (required * 4096n) / (4096n - 64n);
  required = prev + ((required - prev) / 64n) * 64n;
  const boot = kernelBase + kb(initrdBytes) + initCached;
  if (required < boot) required = boot;
  required = (required * 130n) / 100n + 64n * 1024n;
  return required * 1024n;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** `n` bytes that do not compress, the same for the same `seed`. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let block = createHash("sha256").update(`bench noise ${seed}`).digest();
  for (let at = 0; at < n; at += block.length) {
    out.set(block.subarray(0, Math.min(block.length, n - at)), at);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}
