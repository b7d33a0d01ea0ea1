import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// scripts/build-loader.sh: examples/loader/loader.c as a static arm64 binary,
// cached by the hash of its inputs. (What the binary does is tested in a real
// guest: kdump.test.ts and reboot.test.ts.)

const cache = mkdtempSync(join(tmpdir(), "build-loader-"));
afterAll(() => rmSync(cache, { recursive: true, force: true }));
const script = new URL("../../scripts/build-loader.sh", import.meta.url).pathname;
const build = () => execFileSync("bash", [script], { encoding: "utf8", env: { ...process.env, PURGATORY_CACHE: cache } }).trim();

describe("scripts/build-loader.sh", () => {
  it("builds a static AArch64 executable under the cache, keyed by the inputs' hash", () => {
    const path = build();
    expect(path).toMatch(new RegExp(`^${cache}/loader/[0-9a-f]{16}/loader$`));
    const header = execFileSync("readelf", ["-h", path], { encoding: "utf8" });
    expect(header).toMatch(/Type:\s+EXEC/);
    expect(header).toMatch(/Machine:\s+AArch64/);
    expect(execFileSync("readelf", ["-l", path], { encoding: "utf8" })).not.toContain("INTERP");
  });

  it("gives the cached binary back, untouched, while the inputs are the same", () => {
    const first = build();
    const before = statSync(first);
    const second = build();
    expect(second).toBe(first);
    expect(statSync(second).mtimeMs).toBe(before.mtimeMs);
    expect(statSync(second).ino).toBe(before.ino);
  });
});
