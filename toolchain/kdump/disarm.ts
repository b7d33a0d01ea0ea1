import { rmSync } from "node:fs";
import { InputError } from "../bytes/index.js";
import { runLoader } from "./_exec.js";
import { crashLoaded } from "./live.js";
import { statePaths } from "./state.js";

export interface DisarmReport {
  /** Whether a crash image was loaded before. */
  readonly wasLoaded: boolean;
}

/**
 * `purgatory kdump disarm`: unloads the crash image (`loader --unload
 * --crash`: kexec_load with no segments and KEXEC_ON_CRASH, Linux
 * kernel/kexec.c) and removes armed.json.
 * @throws InputError `LOAD_FAILED` when the kernel refuses.
 */
export function disarmKdump(root: string, stateDir: string, loader: string): DisarmReport {
  const wasLoaded = crashLoaded(root) === true;
  const r = runLoader(loader, ["--unload", "--crash"]);
  if (r.status !== 0 || crashLoaded(root) === true) {
    throw new InputError("LOAD_FAILED", `Cannot disarm kdump: ${loader} --unload --crash exited with ${r.status}: ${r.output}`, loader, "Run it as root.");
  }
  rmSync(statePaths(stateDir).armed, { force: true });
  return { wasLoaded };
}
