import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeSegmentTable } from "../../toolchain/bundle/table.js";
import type { Agent } from "./_agent.js";

/**
 * The host's toolchain steps of the cycles, through the real CLI as a person
 * runs it (`node dist/bin/purgatory.mjs`, the package's bin, built by `npm run
 * build`; `npm test` builds it first), and the transfer of a bundle
 * into the guest.
 */

/** The checkout: the directory above this file with package.json (this file also runs compiled, from dist/test/cycle/, in benches). */
export const REPO = ((): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
  }
})();
const CLI = join(REPO, "dist", "bin", "purgatory.mjs");

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `purgatory ARGS…`. @throws Error when dist/ has not been built. */
export function purgatory(args: readonly string[]): CliResult {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: build it with npm run build`);
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `purgatory ARGS…` as a child that does not block the event loop (for runs side by side, e.g. QEMU boots). */
export async function purgatoryAsync(args: readonly string[]): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: build it with npm run build`);
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  // `purgatory boot --json` streams the console to stderr: one character per byte.
  child.stderr.setEncoding("latin1").on("data", (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}


/**
 * `purgatory describe --from CAPTURE -o TARGET --json`: target.json from a
 * collect-target.sh capture; returns TARGET.
 * @throws Error with the command's output when it fails.
 */
export function describeCapture(capturePath: string, targetPath: string): string {
  const args = describeArgs(capturePath, targetPath);
  return checked(args, purgatory(args), targetPath);
}

/** `describeCapture` without blocking the event loop. */
export async function describeCaptureAsync(capturePath: string, targetPath: string): Promise<string> {
  const args = describeArgs(capturePath, targetPath);
  return checked(args, await purgatoryAsync(args), targetPath);
}

function describeArgs(capturePath: string, targetPath: string): string[] {
  return ["describe", "--from", capturePath, "-o", targetPath, "--json"];
}

export interface BundleRequest {
  readonly mode: "crash" | "reboot";
  /** target.json as `purgatory describe` wrote it (a path). */
  readonly targetJson: string;
  readonly kernelPath: string;
  readonly initrdPath: string;
  /** The new kernel's whole command line (`--command-line`). */
  readonly commandLine: string;
  /** The bundle directory to write (`-o`); it must not exist. */
  readonly outDir: string;
  /** Even number of hex digits for kaslr-seed and rng-seed; the same seed gives the same bundle. */
  readonly seed: string;
  /** What the purgatory does on a digest mismatch (`--on-mismatch`); default the CLI's (spin). */
  readonly onMismatch?: "spin" | "reset";
  /** False: `--no-mmu` (the purgatory hashes with the MMU and caches off). */
  readonly mmu?: boolean;
  /** False: `--no-crypto` (the purgatory hashes with scalar code). */
  readonly crypto?: boolean;
  /** `--console`; default the CLI's (auto: the target's UART). */
  readonly console?: string;
}

/**
 * `purgatory bundle --mode M --kernel K --initrd I -t T --command-line S
 * --seed HEX -o DIR [--on-mismatch P] [--no-mmu] [--no-crypto]`; returns DIR.
 * @throws Error with the command's output when it fails or DIR has no segments.bin.
 */
export function makeBundle(r: BundleRequest): string {
  const args = bundleArgs(r);
  return checked(args, purgatory(args), r.outDir, join(r.outDir, "segments.bin"));
}

/** `makeBundle` without blocking the event loop. */
export async function makeBundleAsync(r: BundleRequest): Promise<string> {
  const args = bundleArgs(r);
  return checked(args, await purgatoryAsync(args), r.outDir, join(r.outDir, "segments.bin"));
}

function bundleArgs(r: BundleRequest): string[] {
  return [
    "bundle", "--mode", r.mode, "--kernel", r.kernelPath, "--initrd", r.initrdPath, "--target", r.targetJson,
    "--command-line", r.commandLine, "--seed", r.seed, "-o", r.outDir, ...(r.onMismatch === undefined ? [] : ["--on-mismatch", r.onMismatch]),
    ...(r.mmu === false ? ["--no-mmu"] : []), ...(r.crypto === false ? ["--no-crypto"] : []),
    ...(r.console === undefined ? [] : ["--console", r.console]),
  ];
}

/** Returns `out` when the command succeeded and wrote `made` (default `out`). @throws Error with the command's output otherwise. */
function checked(args: readonly string[], res: CliResult, out: string, made = out): string {
  if (res.status !== 0 || !existsSync(made)) throw new Error(`purgatory ${args.join(" ")} exited with ${String(res.status)}:\n${res.stdout}${res.stderr}`);
  return out;
}

export interface SentBundle {
  /** Bytes sent over the console (segments.bin and segments the guest did not have). */
  readonly sentBytes: number;
  /** Segment files the guest copied from its own files, by digest. */
  readonly linked: readonly string[];
}

/**
 * Copies a bundle into the guest's GUEST_DIR: segments.bin and every segment
 * file it names. A segment whose SHA-256 is that of a file the guest already
 * has (`local`: digest → guest path) is not sent: the guest copies its own
 * file after checking the digest.
 */
export async function sendBundle(agent: Agent, dir: string, guestDir: string, local: ReadonlyMap<string, string>, timeoutMs: number): Promise<SentBundle> {
  const tableBytes = new Uint8Array(readFileSync(join(dir, "segments.bin")));
  const table = decodeSegmentTable(tableBytes);
  let sentBytes = tableBytes.length;
  const linked: string[] = [];
  await agent.put(`${guestDir}/segments.bin`, tableBytes, timeoutMs);
  for (const s of table.segments) {
    const sha = Buffer.from(s.sha256).toString("hex");
    const have = local.get(sha);
    if (have !== undefined) {
      await agent.link(`${guestDir}/${s.file}`, sha, have, timeoutMs);
      linked.push(s.file);
    } else {
      const bytes = new Uint8Array(readFileSync(join(dir, s.file)));
      await agent.put(`${guestDir}/${s.file}`, bytes, timeoutMs);
      sentBytes += bytes.length;
    }
  }
  return { sentBytes, linked };
}
