import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { expect } from "vitest";

/** True when a person asked the run to rewrite goldens (UPDATE_GOLDENS=1). */
export const UPDATING_GOLDENS = process.env.UPDATE_GOLDENS === "1";

/**
 * Compares `actual` with the golden file at `path` (text, or bytes for a
 * binary golden). A missing or different golden fails; a person regenerates
 * goldens with UPDATE_GOLDENS=1 and reviews the diff. The test run never
 * creates one on its own.
 */
export function expectGolden(path: string, actual: string | Uint8Array): void {
  if (UPDATING_GOLDENS) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) {
    throw new Error(`golden ${path} is missing; create it with UPDATE_GOLDENS=1 and review it`);
  }
  if (typeof actual === "string") expect(actual, path).toBe(readFileSync(path, "utf8"));
  else expect(Buffer.from(actual).equals(readFileSync(path)), `${path} differs`).toBe(true);
}
