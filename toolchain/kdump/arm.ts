import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../bytes/index.js";
import { BundleDir, SEGMENT_FILE, buildBundle, composeCommandLine, parseConsoleRequest, verifyBundle, type Manifest } from "../bundle/index.js";
import { IMAGE_HEAD_SIZE, loadKernelImage } from "../image/index.js";
import { runLoader } from "./_exec.js";
import { crashLoaded, describeThisBoot, memoryOf } from "./live.js";
import { ARMED_FORMAT, DigestMemo, serializeArmed, statePaths, writeAtomic, type Armed } from "./state.js";

export interface ArmOptions {
  /** The live system's root (`/`). */
  readonly root: string;
  readonly stateDir: string;
  /** The capture kernel, in any arm64 format (usually the running kernel's own /boot/vmlinuz). */
  readonly kernel: string;
  /** The capture initramfs (`purgatory initramfs`). */
  readonly initrd: string;
  /** The static loader (scripts/build-loader.sh). */
  readonly loader: string;
  /** Words appended to the running kernel's command line (without crashkernel= and BOOT_IMAGE=). */
  readonly append: string;
  /** The purgatory's console: `auto` (the target's, from its device tree), `none` or `FAMILY@ADDR[,shift=N][,width=N]`. */
  readonly console: string;
}

export interface ArmReport {
  readonly armed: Armed;
  readonly manifest: Manifest;
  /** Whether the unwrapped kernel came from the state directory's cache. */
  readonly kernelCached: boolean;
  /** Whether the kernel file's and the cached Image's digests were remembered (digests.json) rather than read and hashed. */
  readonly digestsRemembered: boolean;
  /** Milliseconds of each step. */
  readonly ms: { readonly describe: number; readonly kernel: number; readonly bundle: number; readonly verify: number; readonly load: number };
  readonly loaderOutput: string;
  readonly warnings: readonly string[];
}

/**
 * `purgatory kdump arm`: describes this boot, builds the crash bundle into the
 * state directory (the unwrapped kernel reused by content, hard-linked into
 * the bundle with its remembered digest), verifies it
 * offline, loads it with the loader (`--verify`: the loader re-hashes every
 * segment and compares boot.txt with the running system before kexec_load),
 * and records what it loaded in armed.json.
 * @throws InputError `LOAD_FAILED` when the loader refuses or kexec_load fails (with its words).
 */
export async function armKdump(o: ArmOptions): Promise<ArmReport> {
  const paths = statePaths(o.stateDir);
  const t0 = performance.now();
  const now = describeThisBoot(o.root);
  const t1 = performance.now();

  // The unwrapped kernel, keyed by the SHA-256 of the kernel file as given;
  // both digests remembered while the files' stats hold (digests.json).
  const memo = DigestMemo.read(paths.digests);
  const kernelIn = memo.digest(o.kernel);
  const cached = join(paths.kernels, `${kernelIn.sha256}.Image`);
  const kernelCached = existsSync(cached);
  if (!kernelCached) {
    const bytes = (await loadKernelImage(new Uint8Array(readFileSync(o.kernel)))).bytes;
    writeAtomic(cached, bytes);
    memo.remember(cached, createHash("sha256").update(bytes).digest("hex"));
  }
  const image = memo.digest(cached);
  const digestsRemembered = kernelIn.remembered && image.remembered;
  const t2 = performance.now();

  const commandLine = composeCommandLine({ mode: "crash", reuse: now.target.commandLine, append: o.append, commandLine: undefined });
  const out = await BundleDir.open(paths.bundle);
  let manifest: Manifest;
  let initrdIn: { sha256: string; size: number };
  let warnings: readonly string[];
  try {
    const initrd = await out.copy(SEGMENT_FILE.initrd, o.initrd);
    const kernel = await out.adopt(SEGMENT_FILE.kernel, cached, { size: image.size, sha256: Buffer.from(image.sha256, "hex") }, IMAGE_HEAD_SIZE);
    initrdIn = { sha256: Buffer.from(initrd.sha256).toString("hex"), size: initrd.size };
    const b = await buildBundle({
      mode: "crash", kernel, initrd, dtb: null, target: now.target, commandLine,
      seed: new Uint8Array(randomBytes(32)), console: parseConsoleRequest(o.console),
    });
    await out.commit(b.files);
    manifest = b.manifest;
    warnings = b.warnings;
  } finally {
    await out.discard();
  }
  const t3 = performance.now();

  const verify = await verifyBundle(paths.bundle);
  if (!verify.ok) {
    const f = verify.firstFailure;
    // A bundle fresh from buildBundle that fails verifyBundle is a bug in one of them, not bad input.
    throw new Error(`armKdump: the crash bundle just built in ${paths.bundle} fails "${f?.check}": ${f?.detail}`);
  }
  const t4 = performance.now();

  // Replace whatever crash image is loaded (kexec_load replaces it in one call).
  const load = runLoader(o.loader, ["--verify", paths.bundle]);
  if (load.status !== 0 || crashLoaded(o.root) === false) {
    throw new InputError("LOAD_FAILED", `Cannot arm kdump: ${o.loader} --verify ${paths.bundle} exited with ${load.status}: ${load.output.split("\n").filter((l) => !l.includes(" segment ")).join("; ")}`, paths.bundle,
      "The loader's message says why; `purgatory explain` on the bundle names each kernel rule.");
  }
  const t5 = performance.now();

  const armed: Armed = {
    format: ARMED_FORMAT,
    bundle: paths.bundle,
    armedAt: new Date().toISOString(),
    boot: now.boot,
    kernel: kernelIn,
    initrd: { path: o.initrd, ...initrdIn },
    cpus: now.boot.crashNotes.map((n) => n.cpu),
    memory: memoryOf(now.target),
    commandLine,
    loader: o.loader,
  };
  writeAtomic(paths.armed, serializeArmed(armed));
  // Images of other kernels are not needed any more: one capture kernel at a time.
  for (const name of listKernels(paths.kernels)) if (name !== `${kernelIn.sha256}.Image`) rmSync(join(paths.kernels, name), { force: true });
  memo.save(paths.digests);
  const ms = (a: number, b: number) => Math.round(b - a);
  return {
    armed, manifest, kernelCached, digestsRemembered, loaderOutput: load.output, warnings: [...now.warnings, ...warnings],
    ms: { describe: ms(t0, t1), kernel: ms(t1, t2), bundle: ms(t2, t3), verify: ms(t3, t4), load: ms(t4, t5) },
  };
}

function listKernels(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
