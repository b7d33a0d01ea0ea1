import { existsSync } from "node:fs";
import { bootMoved, type Moved } from "../bundle/index.js";
import { crashLoaded, describeThisBoot, memoryOf } from "./live.js";
import { DigestMemo, readArmed, statePaths, type Armed } from "./state.js";

/**
 * - `disarmed`: no crash image is loaded.
 * - `armed`: a crash image is loaded, armed.json names it, and nothing it depends on has changed.
 * - `stale`: armed.json's bundle is loaded but was built for another boot, or its kernel, initrd, CPUs or memory changed since: re-arm.
 * - `foreign`: a crash image is loaded that this service did not record (kexec -p, another tool).
 */
export type KdumpState = "disarmed" | "armed" | "stale" | "foreign";

export interface StatusReport {
  readonly state: KdumpState;
  /** `/sys/kernel/kexec_crash_loaded`, or null when the kernel has no such file (no CONFIG_CRASH_DUMP). */
  readonly loaded: boolean | null;
  readonly armed: Armed | null;
  /** Why the loaded bundle is stale; empty otherwise. */
  readonly changes: readonly Moved[];
}

/** `purgatory kdump status`: the state, from /sys, armed.json and this boot's description. */
export function kdumpStatus(root: string, stateDir: string): StatusReport {
  const paths = statePaths(stateDir);
  const loaded = crashLoaded(root);
  const armed = readArmed(paths.armed);
  if (loaded !== true) return { state: "disarmed", loaded, armed, changes: [] };
  if (armed === null) return { state: "foreign", loaded, armed, changes: [] };
  return staleness(root, armed, loaded, DigestMemo.read(paths.digests));
}

function staleness(root: string, armed: Armed, loaded: boolean, memo: DigestMemo): StatusReport {
  const now = describeThisBoot(root);
  const changes: Moved[] = [...bootMoved(armed.boot, now.boot)];
  for (const key of ["kernel", "initrd"] as const) {
    const f = armed[key];
    const cur = existsSync(f.path) ? memo.digest(f.path).sha256 : "missing";
    if (cur !== f.sha256) changes.push({ what: key, built: `${f.path} sha256 ${f.sha256.slice(0, 16)}`, now: cur === "missing" ? "missing" : `sha256 ${cur.slice(0, 16)}` });
  }
  const mem = memoryOf(now.target).join(",");
  if (mem !== armed.memory.join(",")) changes.push({ what: "memory", built: armed.memory.join(","), now: mem });
  return { state: changes.length === 0 ? "armed" : "stale", loaded, armed, changes };
}
