import { spawnSync } from "node:child_process";
import { InputError } from "../bytes/index.js";

/**
 * The one place the kdump service runs another program: the loader
 * (examples/loader/loader.c), which makes the kexec_load system call Node
 * cannot make.
 */

export interface LoaderRun {
  readonly status: number;
  /** stdout and stderr, interleaved as far as pipes allow (stdout first). */
  readonly output: string;
}

/**
 * Runs `loader args...`.
 * @throws InputError `NO_LOADER` when it cannot be started (not found, not executable).
 */
export function runLoader(loader: string, args: readonly string[]): LoaderRun {
  const r = spawnSync(loader, args, { encoding: "utf8", timeout: 120_000 });
  if (r.error !== undefined) {
    throw new InputError("NO_LOADER", `Cannot run the loader ${loader}: ${r.error.message}`, loader,
      "Build it with scripts/build-loader.sh (a static arm64 binary) and give its path with --loader.");
  }
  return { status: r.status ?? 128, output: `${r.stdout}${r.stderr}`.trim() };
}
