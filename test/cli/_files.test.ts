import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_INPUT, readInput, writeAtomically } from "../../toolchain/cli/_files.js";
import { thrown } from "../_thrown.js";

const dir = mkdtempSync(join(tmpdir(), "cli-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MAIN = join(import.meta.dirname, "../../dist/bin/purgatory.mjs");

describe("readInput bounds every input", () => {
  it("stops reading a device that never ends at the limit, with TOO_LARGE", () => {
    const e = thrown(() => readInput("/dev/zero", 8 << 20));
    expect(e).toMatchObject({ code: "TOO_LARGE", where: "/dev/zero" });
    expect(e.message).toMatch(/^Cannot read \/dev\/zero: more than 0x800000 bytes is more than the 8 MiB an input may hold/);
  });

  it("refuses a regular file over the limit from its size, without reading it", () => {
    const big = join(dir, "sparse");
    writeFileSync(big, "");
    truncateSync(big, MAX_INPUT + 1);
    const started = performance.now();
    expect(thrown(() => readInput(big)).code).toBe("TOO_LARGE");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("makes `image info /dev/zero` end quickly with exit 1, not grow without bound", () => {
    const started = performance.now();
    const r = spawnSync(process.execPath, [MAIN, "image", "info", "/dev/zero"], { encoding: "utf8", timeout: 60_000 });
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/^purgatory: Cannot read \/dev\/zero: more than 0x20000000 bytes is more than the 512 MiB/)]);
    expect(performance.now() - started).toBeLessThan(30_000);
  }, 60_000);
});

describe("writeAtomically", () => {
  it("leaves no temporary file when the write fails", () => {
    expect(thrown(() => writeAtomically(join(dir, "no-such-dir", "out"), "x")).code).toBe("WRITE_FAILED");
    writeAtomically(join(dir, "out"), "x");
    expect(readdirSync(dir).filter((n) => n.startsWith("."))).toEqual([]);
  });
});
