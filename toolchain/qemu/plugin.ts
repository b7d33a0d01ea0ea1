import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { packageFile } from "../bytes/index.js";
import { runBareMetal } from "./bare.js";
import type { BareMetalResult, BareMetalRun } from "./bare.js";

/**
 * Counting what guest code does, with the TCG plugin in icount-plugin.c:
 * instructions executed inside an address range, the data accesses they
 * make, and how many of those are misaligned. QEMU 7.2 does not fault on a
 * misaligned access with the MMU off, as hardware does, so the count is the
 * oracle for "aligned accesses only". Needs gcc (to build the plugin).
 */

export interface Counts {
  /** Instructions executed at addresses in the range. */
  readonly icount: bigint;
  /** Loads and stores made by those instructions (a pair counts as two). */
  readonly accesses: bigint;
  /** Accesses whose address is not a multiple of their size. */
  readonly unaligned: bigint;
}

const SOURCE = packageFile("toolchain", "qemu", "icount-plugin.c");

let built: Promise<string> | undefined;

/** Builds the plugin once per process; returns the path of the shared object. */
function buildPlugin(): Promise<string> {
  built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "purgatory-plugin-"));
    const so = join(dir, "icount-plugin.so");
    try {
      await promisify(execFile)("gcc", ["-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-o", so, SOURCE]);
    } catch (e) {
      throw new Error(`Cannot build the QEMU plugin (${SOURCE}) with gcc: ${(e as Error).message}. Install gcc.`);
    }
    return so;
  })();
  return built;
}

/** QEMU arguments that load the plugin, and the counts it leaves once QEMU has exited normally. */
export interface Counting {
  /** `-plugin …,start=…,end=… -d plugin -D LOG`: append to QEMU's arguments. */
  readonly args: readonly string[];
  /**
   * The counts. The plugin writes them when QEMU exits on its own or on
   * SIGTERM; SIGKILL leaves none.
   * @throws Error when the log holds no counts.
   */
  read(stderr?: string): Promise<Counts>;
  /** Removes the log. */
  dispose(): Promise<void>;
}

/** Builds the plugin (once per process) and prepares a run of any QEMU machine counting `[start, end)`. */
export async function startCounting(start: bigint, end: bigint): Promise<Counting> {
  const so = await buildPlugin();
  const dir = await mkdtemp(join(tmpdir(), "purgatory-count-"));
  const log = join(dir, "plugin.log");
  return {
    args: ["-plugin", `${so},start=0x${start.toString(16)},end=0x${end.toString(16)}`, "-d", "plugin", "-D", log],
    async read(stderr = "") {
      const text = existsSync(log) ? await readFile(log, "utf8") : "";
      const field = (name: string): bigint => {
        const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
        if (!m) throw new Error(`The QEMU plugin reported no ${name} (log: ${JSON.stringify(text)}; stderr: ${stderr})`);
        return BigInt(m[1] ?? "0");
      };
      return { icount: field("icount"), accesses: field("accesses"), unaligned: field("unaligned") };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Runs QEMU with the plugin counting `[start, end)`. */
export async function runCounted(run: BareMetalRun, start: bigint, end: bigint): Promise<{ result: BareMetalResult; counts: Counts }> {
  const counting = await startCounting(start, end);
  try {
    const result = await runBareMetal({ ...run, extraArgs: [...(run.extraArgs ?? []), ...counting.args] });
    return { result, counts: await counting.read(result.stderr) };
  } finally {
    await counting.dispose();
  }
}
