import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The purgatory package's own files (templates/, purgatory-src/, the shell
 * scripts under toolchain/, package.json), found upward from this module, so
 * that the same code works from toolchain/ (vitest), dist/toolchain/ (tsc) and
 * dist/bin/ (the esbuild bundle): the package root is the first directory
 * above whose package.json is named "purgatory".
 */

let root: { dir: string; version: string } | undefined;

function find(): { dir: string; version: string } {
  if (root !== undefined) return root;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const p = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (p.name === "purgatory" && typeof p.version === "string") return (root = { dir, version: p.version });
    }
    if (dirname(dir) === dir) throw new Error(`purgatory's package.json is not above ${here}`);
  }
}

/** The path of a file of the package, from the package root (`packageFile("templates", "x.S")`). */
export function packageFile(...rel: string[]): string {
  return join(find().dir, ...rel);
}

/** The package's version (package.json), written into manifests. */
export function packageVersion(): string {
  return find().version;
}
