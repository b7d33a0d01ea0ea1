import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { BundleDir, buildBundle, verifyBundle, writeDirAtomic, type BundleInputs } from "../../toolchain/bundle/index.js";
import { readSlots } from "../../toolchain/purgatory/index.js";
import type { Target } from "../../toolchain/target/index.js";
import { expectGolden } from "../_golden.js";
import { syntheticImage, syntheticInitrd, virtTarget } from "./_inputs.js";

const fixtures = new URL("./fixtures", import.meta.url).pathname;
const tmp = () => mkdtempSync(join(tmpdir(), "bundle-"));

function inputs(mode: "crash" | "reboot", target: Target = virtTarget()): BundleInputs {
  return {
    mode, kernel: syntheticImage(), initrd: syntheticInitrd(), dtb: null, target,
    commandLine: "console=ttyAMA0 rdinit=/init", seed: new Uint8Array([0x5e, 0xed]),
  };
}

/** The same machine with crashkernel=512M,high and a 128 MiB low range. */
function lowHighTarget(): Target {
  const t = virtTarget();
  return {
    ...t,
    memory: [{ start: 0x40000000n, end: 0x1c0000000n }],
    crashKernel: { start: 0x19fe00000n, end: 0x1bfe00000n },
    crashKernelLow: { start: 0x78000000n, end: 0x7c000000n },
  };
}

/** The code a promise rejects with ("ok" when it resolves). */
const code = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof InputError ? e.code : String(e)));

describe("buildBundle", () => {
  it.each([
    ["virt-reboot", "reboot", virtTarget],
    ["virt-crash", "crash", virtTarget],
    ["virt-crash-low-high", "crash", lowHighTarget],
  ] as const)("%s: matches its golden manifest, and verify accepts it", async (name, mode, target) => {
    const b = await buildBundle(inputs(mode, target()));
    expectGolden(join(fixtures, `${name}.manifest.json`), new TextDecoder().decode(b.files.get("manifest.json")));
    const dir = join(tmp(), "b");
    await writeDirAtomic(dir, b.files);
    const r = await verifyBundle(dir);
    expect(r.firstFailure).toBeNull();
    expect(r.checks.length).toBeGreaterThan(12);
  });

  it("is byte-identical for the same inputs and seed, and differs only in seeds for another seed", async () => {
    const a = await buildBundle(inputs("crash"));
    const b = await buildBundle(inputs("crash"));
    expect([...a.files.keys()].sort()).toEqual([...b.files.keys()].sort());
    for (const [k, v] of a.files) expect(Buffer.compare(v, b.files.get(k)!), k).toBe(0);
    const c = await buildBundle({ ...inputs("crash"), seed: new Uint8Array([1]) });
    expect(Buffer.compare(c.files.get("kernel.bin")!, a.files.get("kernel.bin")!)).toBe(0);
    expect(Buffer.compare(c.files.get("dtb.bin")!, a.files.get("dtb.bin")!)).not.toBe(0);
  });

  it("refuses a target under lockdown, where kexec_load fails with EPERM whatever the load", async () => {
    await expect(buildBundle(inputs("reboot", { ...virtTarget(), lockdown: "integrity" }))).rejects.toMatchObject({
      code: "KEXEC_LOAD_REFUSED", where: "target.lockdown", message: expect.stringMatching(/lockdown=integrity, where kexec_load fails with EPERM/),
    });
    expect((await buildBundle(inputs("reboot", { ...virtTarget(), lockdown: "none" }))).manifest.target.lockdown).toBe("none");
  });

  it("refuses a crash bundle for a target without crash memory or vmcoreinfo, with a fix", async () => {
    await expect(buildBundle(inputs("crash", { ...virtTarget(), crashKernel: null }))).rejects.toThrow(/crashkernel=/);
    await expect(buildBundle(inputs("crash", { ...virtTarget(), vmcoreinfo: null }))).rejects.toThrow(InputError);
  });

  it("writes the same bundle from a staged raw Image and initrd (BundleDir.copy) as from bytes in memory", async () => {
    const src = tmp();
    writeFileSync(join(src, "Image"), syntheticImage());
    writeFileSync(join(src, "initrd"), syntheticInitrd());
    const memory = join(tmp(), "b");
    await writeDirAtomic(memory, (await buildBundle(inputs("crash"))).files);
    const staged = join(tmp(), "b");
    const out = await BundleDir.open(staged);
    try {
      const kernel = out.copy("kernel.bin", join(src, "Image"), 64);
      const initrd = out.copy("initrd.bin", join(src, "initrd"));
      const b = await buildBundle({ ...inputs("crash"), kernel, initrd });
      expect(b.files.has("kernel.bin") || b.files.has("initrd.bin")).toBe(false);
      await out.commit(b.files);
    } finally {
      await out.discard();
    }
    expect(readdirSync(staged).sort()).toEqual(readdirSync(memory).sort());
    for (const f of readdirSync(memory)) expect(Buffer.compare(readFileSync(join(staged, f)), readFileSync(join(memory, f))), f).toBe(0);
  });

  it("checks a staged kernel's header and size as loadKernelImage checks a raw Image", async () => {
    const staged = (bytes: Uint8Array) => ({ size: bytes.length, sha256: new Uint8Array(32), head: bytes.subarray(0, 64) });
    expect(await code(buildBundle({ ...inputs("reboot"), kernel: staged(syntheticInitrd()) }))).toBe("BAD_MAGIC");
    expect(await code(buildBundle({ ...inputs("reboot"), kernel: staged(syntheticImage(0x90000, 0x80000n)) }))).toBe("SIZE_MISMATCH");
    expect(await code(buildBundle({ ...inputs("reboot"), kernel: { ...staged(syntheticImage()), head: new Uint8Array(10) } }))).toBe("TRUNCATED");
  });

  it("passes --no-mmu and --no-crypto to the purgatory's flags slot, and records them", async () => {
    const b = await buildBundle({ ...inputs("reboot"), mmu: false, crypto: false });
    expect(readSlots(b.files.get("purgatory.bin")!).flags).toBe(3);
    expect(b.manifest.purgatory).toMatchObject({ mmu: false, crypto: false });
    const d = await buildBundle(inputs("reboot"));
    expect(readSlots(d.files.get("purgatory.bin")!).flags).toBe(0);
  });

  it("refuses a bundle without any base DTB", async () => {
    await expect(buildBundle(inputs("reboot", { ...virtTarget(), dtb: null }))).rejects.toThrow(/--dtb/);
    expect(await code(buildBundle(inputs("reboot", { ...virtTarget(), dtb: null })))).toBe("NO_DTB");
  });
});

describe("verifyBundle", () => {
  async function written(): Promise<string> {
    const dir = join(tmp(), "b");
    await writeDirAtomic(dir, (await buildBundle(inputs("crash"))).files);
    return dir;
  }

  it("names a segment whose bytes changed after bundling", async () => {
    const dir = await written();
    const k = readFileSync(join(dir, "kernel.bin"));
    k[k.length >> 1]! ^= 1;
    writeFileSync(join(dir, "kernel.bin"), k);
    const r = await verifyBundle(dir);
    expect(r.ok).toBe(false);
    expect(r.firstFailure?.check).toBe("kernel: sha256");
  });

  it("catches a purgatory whose region table no longer matches the manifest", async () => {
    const dir = await written();
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    const p = readFileSync(join(dir, "purgatory.bin"));
    const off = m.purgatory.slotMap.regions.offset as number;
    p[off]! ^= 0x10; // first region's start
    writeFileSync(join(dir, "purgatory.bin"), p);
    const seg = m.segments.find((s: { role: string }) => s.role === "purgatory");
    seg.sha256 = (await import("node:crypto")).createHash("sha256").update(p).digest("hex");
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(m));
    const r = await verifyBundle(dir);
    expect(r.checks.find((c) => c.check === "purgatory: regions")?.ok).toBe(false);
  });

  it("names the missing file, and the manifest and field that is wrong", async () => {
    const dir = await written();
    rmSync(join(dir, "initrd.bin"));
    const r = await verifyBundle(dir);
    expect(r.firstFailure).toMatchObject({ check: "initrd: file", ok: false, detail: expect.stringMatching(/initrd.bin cannot be read: ENOENT/) });
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...m, format: "purgatory-bundle/0" }));
    await expect(verifyBundle(dir)).rejects.toMatchObject({ code: "BAD_MANIFEST", where: "format", file: join(dir, "manifest.json") });
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(m).slice(0, 100));
    await expect(verifyBundle(dir)).rejects.toThrow(new RegExp(`Cannot parse .*\\(at offset 0x64 of ${join(dir, "manifest.json")}\\)`));
    await expect(verifyBundle(join(dir, "nothing"))).rejects.toMatchObject({ code: "NO_MANIFEST" });
  });
});

describe("writeDirAtomic", () => {
  it("leaves nothing behind when a write fails, and refuses a directory that is not a bundle", async () => {
    const parent = tmp();
    const bad = new Map([["a", new Uint8Array(1)], ["sub/b", new Uint8Array(1)]]);
    await expect(writeDirAtomic(join(parent, "out"), bad)).rejects.toThrow();
    expect(readdirSync(parent)).toEqual([]);
    writeFileSync(join(parent, "precious"), "x");
    await expect(writeDirAtomic(parent, new Map([["a", new Uint8Array(1)]]))).rejects.toThrow(/not a bundle/);
    expect(existsSync(join(parent, "precious"))).toBe(true);
  });
});
