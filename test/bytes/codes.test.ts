import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../toolchain/bytes/index.js";

const ROOT = join(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(ROOT, dir, f));
}

/**
 * Every UPPER_SNAKE word in the files, with the files it stands in: quoted
 * (`"NO_FIT"`, as thrown or expected) or, with `bare`, anywhere (a test may
 * match `code: message` text with /^NO_FIT: /).
 */
function literals(files: string[], bare = false): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const word = bare ? /\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{3,})\b/g : /"([A-Z][A-Z0-9_]+)"/g;
  for (const f of files) {
    for (const m of readFileSync(f, "utf8").matchAll(word)) {
      const list = seen.get(m[1]!) ?? [];
      list.push(relative(ROOT, f));
      seen.set(m[1]!, list);
    }
  }
  return seen;
}

describe("ERROR_CODES is the closed list of InputError codes", () => {
  const codes = Object.keys(ERROR_CODES);
  const library = literals([...sources("toolchain"), ...sources("scripts")].filter((f) => !f.endsWith("bytes/codes.ts")));
  const tests = literals(sources("test").filter((f) => !f.endsWith("bytes/codes.test.ts")), true);

  it("names each code once, in one spelling, with what it means", () => {
    for (const c of codes) {
      expect(c).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(ERROR_CODES[c as keyof typeof ERROR_CODES].length).toBeGreaterThan(10);
    }
  });

  it("has every code thrown somewhere in the toolchain or scripts", () => {
    expect(codes.filter((c) => !library.has(c))).toEqual([]);
  });

  it("has every code expected by some test", () => {
    expect(codes.filter((c) => !tests.has(c))).toEqual([]);
  });
});
