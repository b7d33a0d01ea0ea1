import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { BundleDir, buildBundle, verifyBundle, writeDirAtomic, type BundleInputs } from "../../toolchain/bundle/index.js";
import { readSlots } from "../../toolchain/purgatory/index.js";
import type { Target } from "../../toolchain/target/index.js";
import { buildCpio } from "../../toolchain/initramfs/index.js";
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
      const initrd = await out.copy("initrd.bin", join(src, "initrd"));
      const kernel = out.copy("kernel.bin", join(src, "Image"), 64); // still copying: buildBundle awaits it
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
    const staged = (bytes: Uint8Array) => ({ path: "/nonexistent", size: bytes.length, sha256: new Uint8Array(32), head: bytes.subarray(0, 64) });
    expect(await code(buildBundle({ ...inputs("reboot"), kernel: staged(syntheticInitrd()) }))).toBe("BAD_MAGIC");
    expect(await code(buildBundle({ ...inputs("reboot"), kernel: staged(syntheticImage(0x90000, 0x80000n)) }))).toBe("SIZE_MISMATCH");
    expect(await code(buildBundle({ ...inputs("reboot"), kernel: { ...staged(syntheticImage()), head: new Uint8Array(10) } }))).toBe("TRUNCATED");
    // A staged Image shorter than its entry branch's target (code0: b +0x40, code1: b 0x20000).
    const far = syntheticImage();
    new DataView(far.buffer).setUint32(4, 0x14000000 | ((0x20000 - 4) / 4), true);
    expect(await code(buildBundle({ ...inputs("reboot"), kernel: { ...staged(far), size: 0x10000 } }))).toBe("TRUNCATED");
    expect(await code(buildBundle({ ...inputs("reboot"), kernel: staged(far) }))).toBe("ok");
  });

  it("checks the initrd, in memory or staged, refusing a truncated initramfs and noting an initrd image", async () => {
    const cpio = buildCpio([{ path: "init", data: new Uint8Array(0x3000).fill(1), mode: 0o755 }]);
    const gz = new Uint8Array(gzipSync(cpio));
    expect((await buildBundle({ ...inputs("reboot"), initrd: gz })).warnings).toEqual([]);
    await expect(buildBundle({ ...inputs("reboot"), initrd: gz.subarray(0, gz.length - 20) })).rejects.toThrow(
      /the gzip member at 0x0 ends early: its deflate data runs on to the end of the initrd/,
    );
    expect((await buildBundle({ ...inputs("reboot") })).warnings).toEqual([
      "initrd: no initramfs archive (byte 0x3 at 0x0): the kernel will keep the file as an initrd image",
    ]);
    const src = tmp();
    writeFileSync(join(src, "initrd"), cpio.subarray(0, 0x1000));
    const out = await BundleDir.open(join(tmp(), "b"));
    try {
      const initrd = await out.copy("initrd.bin", join(src, "initrd"));
      await expect(buildBundle({ ...inputs("reboot"), initrd })).rejects.toThrow(/cpio entry 1 "init" at 0x0 ends inside its data: it needs the data up to 0x3074 but the data ends at 0x1000 \(at offset 0x1000\)/);
    } finally {
      await out.discard();
    }
  });

  it("passes --no-mmu and --no-crypto to the purgatory's flags slot, and records them", async () => {
    const b = await buildBundle({ ...inputs("reboot"), mmu: false, crypto: false });
    expect(readSlots(b.files.get("purgatory.bin")!).flags).toBe(3);
    expect(b.manifest.purgatory).toMatchObject({ mmu: false, crypto: false });
    const d = await buildBundle(inputs("reboot"));
    expect(readSlots(d.files.get("purgatory.bin")!).flags).toBe(0);
  });

  it("prints on the target's console by default, on none or on a given UART, and says when it prints nothing", async () => {
    const consoleOf = (b: { files: ReadonlyMap<string, Uint8Array> }) => readSlots(b.files.get("purgatory.bin")!);
    const auto = await buildBundle(inputs("reboot"));
    expect(consoleOf(auto)).toMatchObject({ console_kind: "pl011", console_base: 0x900_0000n });
    expect([auto.manifest.purgatory, auto.notes]).toEqual([expect.objectContaining({ console: "pl011@0x9000000", consoleNote: null }), []]);
    // A ZynqMP board's Cadence UART, from the target.
    const cadence = { family: "cadence" as const, compatible: "xlnx,zynqmp-uart", path: "/axi/serial@ff000000", base: 0xff00_0000n, shift: 0, width: 4 as const };
    const zynq = await buildBundle(inputs("reboot", { ...virtTarget(), console: cadence }));
    expect(consoleOf(zynq)).toMatchObject({ console_kind: "cadence", console_base: 0xff00_0000n, console_width: 4 });
    // A UART the purgatory cannot drive: no console, never a guessed address, and a note that says why.
    const odd = await buildBundle(inputs("reboot", { ...virtTarget(), console: { ...cadence, family: "8250", shift: 1, width: 2 as const } }));
    expect(consoleOf(odd)).toMatchObject({ console_kind: "none", console_base: 0n });
    expect([odd.manifest.purgatory, odd.notes]).toEqual([expect.objectContaining({ console: "none", consoleNote: expect.stringMatching(/^the purgatory prints nothing: 8250@0xff000000,shift=1,width=2 is an 8250/) }), [expect.stringMatching(/prints nothing/)]]);
    expect(consoleOf(await buildBundle({ ...inputs("reboot"), console: "none" }))).toMatchObject({ console_kind: "none" });
    const given = await buildBundle({ ...inputs("reboot"), console: { family: "8250", base: 0x1c2_8000n, shift: 2, width: 4 } });
    expect(consoleOf(given)).toMatchObject({ console_kind: "8250", console_base: 0x1c2_8000n, console_shift: 2 });
  });

  it("refuses a console inside RAM, and a reset without PSCI, saying why", async () => {
    const inRam = { ...inputs("reboot"), console: { family: "pl011" as const, base: 0x4800_0000n, shift: 0, width: 4 as const } };
    await expect(buildBundle(inRam)).rejects.toMatchObject({ code: "BAD_CONSOLE", where: "--console", message: expect.stringMatching(/inside System RAM 0x40000000-0x80000000/) });
    const badTarget = { ...virtTarget(), console: { ...virtTarget().console!, base: 0x4000_0000n } };
    await expect(buildBundle(inputs("reboot", badTarget))).rejects.toMatchObject({ code: "BAD_CONSOLE", where: "target.console" });
    const noPsci = { ...inputs("reboot", { ...virtTarget(), psci: null }), onMismatch: "reset" as const };
    expect(await code(buildBundle(noPsci))).toBe("NO_PSCI");
    // The conduit comes from the target's /psci method: the purgatory resets the way its firmware answers.
    const reset = await buildBundle({ ...inputs("reboot"), onMismatch: "reset" });
    expect(readSlots(reset.files.get("purgatory.bin")!).psci).toBe("hvc");
    expect(readSlots((await buildBundle({ ...inputs("reboot", { ...virtTarget(), psci: "smc" }), onMismatch: "reset" })).files.get("purgatory.bin")!).psci).toBe("smc");
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

  it("checks the purgatory's console: the slots agree with the manifest, and its registers are not RAM; without one, it says why once", async () => {
    const dir = await written();
    const r = await verifyBundle(dir);
    expect(r.checks.filter((c) => c.check === "purgatory: console")).toEqual([
      { check: "purgatory: console", ok: true, detail: "pl011@0x9000000, outside RAM and every segment" },
    ]);
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...m, purgatory: { ...m.purgatory, console: "8250@0x9000000" } }));
    expect((await verifyBundle(dir)).checks.find((c) => c.check === "purgatory: console")).toMatchObject({ ok: false, detail: "the slots say pl011@0x9000000, the manifest 8250@0x9000000" });
    // A purgatory patched to write into RAM (as a loader with a wrong address would).
    const p = readFileSync(join(dir, "purgatory.bin"));
    const at = m.purgatory.slotMap.slots.console_base.offset as number;
    p.writeBigUInt64LE(0x4800_0000n, at);
    writeFileSync(join(dir, "purgatory.bin"), p);
    const seg = m.segments.find((s: { role: string }) => s.role === "purgatory");
    seg.sha256 = (await import("node:crypto")).createHash("sha256").update(p).digest("hex");
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...m, purgatory: { ...m.purgatory, console: "pl011@0x48000000" } }));
    expect((await verifyBundle(dir)).checks.find((c) => c.check === "purgatory: console")).toMatchObject({
      ok: false, detail: expect.stringMatching(/^the purgatory's console pl011@0x48000000 at \[0x48000000, 0x48001000\) is inside System RAM/),
    });
    const quiet = join(tmp(), "b");
    await writeDirAtomic(quiet, (await buildBundle({ ...inputs("crash"), console: "none" })).files);
    expect((await verifyBundle(quiet)).checks.find((c) => c.check === "purgatory: console")).toEqual({ check: "purgatory: console", ok: true, detail: "the purgatory prints nothing: --console none" });
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
