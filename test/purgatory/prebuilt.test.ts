import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PREBUILT_FILE, build, prebuild, purgatoryBlob, readSlots, sourceKey, type BlobOptions } from "../../toolchain/purgatory/index.js";

const OPTIONS: [string, BlobOptions][] = [
  ["the defaults", {}],
  ["an 8250 console and reset", { console: { kind: "8250", base: 0xfe21_5040n, shift: 2, width: 4 }, policy: "reset" }],
  ["a Cadence console, reset over SMC", { console: { kind: "cadence", base: 0xff00_0000n, shift: 0, width: 4 }, policy: "reset", psci: "smc" }],
  ["no console, no PSCI, no MMU, no crypto", { console: { kind: "none", base: 0n, shift: 0, width: 1 }, psci: "none", mmu: false, crypto: false }],
];

describe("purgatoryBlob", () => {
  it("has a prebuilt default after `npm run build`, keyed by the current sources", () => {
    const file = JSON.parse(readFileSync(PREBUILT_FILE, "utf8")) as { key: string };
    expect(file.key).toBe(sourceKey());
  });

  it.each(OPTIONS)("gives the bytes Keystone gives for the same options, from the prebuilt blob: %s", async (_, o) => {
    const fast = await purgatoryBlob(o);
    const slow = await build({ ...o, ...(o.console !== undefined ? { console: o.console } : {}) });
    expect(fast.prebuilt).toBe(true);
    expect(Buffer.from(fast.blob).equals(Buffer.from(slow.blob))).toBe(true);
    expect([fast.sha256, fast.memsz, fast.assembler]).toEqual([slow.sha256, slow.memsz, slow.assembler]);
  });

  it("ignores a prebuilt file whose key does not match the sources, and assembles instead", async () => {
    const stale = join(mkdtempSync(join(tmpdir(), "prebuilt-")), "p.json");
    const doc = JSON.parse(await prebuild()) as { key: string; blob: string };
    // A blob that would be wrong if used: every byte flipped.
    writeFileSync(stale, JSON.stringify({ ...doc, key: "0".repeat(64), blob: Buffer.from(Buffer.from(doc.blob, "base64").map((b) => b ^ 0xff)).toString("base64") }));
    const r = await purgatoryBlob({}, stale);
    expect(r.prebuilt).toBe(false);
    expect(r.sha256).toBe((await build()).sha256);
  });

  it("refuses a bad console before using any blob", async () => {
    await expect(purgatoryBlob({ console: { kind: "pl011", base: 0x900_0001n, shift: 0, width: 4 } })).rejects.toMatchObject({ code: "MISALIGNED" });
  });

  it("refuses policy reset with no PSCI conduit", async () => {
    await expect(purgatoryBlob({ policy: "reset", psci: "none" })).rejects.toMatchObject({ code: "NO_PSCI", where: "psci" });
  });

  it("gives a blob not yet patched: the loader's patch gives it its load", async () => {
    expect(readSlots((await purgatoryBlob({})).blob).patched).toBe(false);
  });
});
