import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Runs examples/collect-target.sh against a fake root: under `busybox sh`
 * with a PATH holding busybox applets only (so any tool busybox lacks fails
 * the test) when busybox is on the host, or under dash (strict POSIX syntax).
 */
export const SCRIPT = new URL("../../examples/collect-target.sh", import.meta.url).pathname;

export interface ScriptRun {
  readonly shell: string;
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const which = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
const busybox = which("busybox");

/** The shells available here, busybox first. */
export function shells(): ("busybox sh" | "dash")[] {
  return [...(busybox === "" ? [] : ["busybox sh" as const]), ...(which("dash") === "" ? [] : ["dash" as const])];
}

export function runCollectScript(root: string, shell: "busybox sh" | "dash" = shells()[0] ?? "dash"): ScriptRun {
  if (shell === "dash") {
    const r = spawnSync("dash", [SCRIPT], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ROOT: root } });
    return { shell: "dash", status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  const bin = mkdtempSync(join(tmpdir(), "purgatory-busybox-"));
  try {
    const applets = spawnSync(busybox, ["--list"], { encoding: "utf8" }).stdout.split("\n").filter((a) => /^[a-z0-9_.-]+$/.test(a));
    mkdirSync(bin, { recursive: true });
    for (const a of applets) symlinkSync(busybox, join(bin, a));
    const r = spawnSync(join(bin, "sh"), [SCRIPT], { encoding: "utf8", env: { PATH: bin, ROOT: root } });
    return { shell: "busybox sh", status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}
