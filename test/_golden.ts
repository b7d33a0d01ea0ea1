import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { expect } from "vitest";

/**
 * Compares `actual` with the golden file at `path`. A missing or different
 * golden fails; a person regenerates goldens with UPDATE_GOLDENS=1 and reviews
 * the diff. The test run never creates one on its own.
 */
export function expectGolden(path: string, actual: string): void {
  if (process.env.UPDATE_GOLDENS === "1") {
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) {
    throw new Error(`golden ${path} is missing; create it with UPDATE_GOLDENS=1 and review it`);
  }
  expect(actual).toBe(readFileSync(path, "utf8"));
}
