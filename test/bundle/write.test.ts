import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { BundleDir } from "../../toolchain/bundle/index.js";

const tmp = () => mkdtempSync(join(tmpdir(), "bundle-write-"));

/** 2 MiB + 7 bytes: three read chunks, the last a short one. */
function bigFile(dir: string): { path: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(2 * 1024 * 1024 + 7);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.imul(i, 2654435761) >>> 24;
  const path = join(dir, "src");
  writeFileSync(path, bytes);
  return { path, bytes };
}

describe("BundleDir.copy", () => {
  it("copies a file across chunk boundaries with its size, SHA-256 and first bytes", async () => {
    const parent = tmp();
    const { path, bytes } = bigFile(parent);
    const out = await BundleDir.open(join(parent, "b"));
    try {
      const f = await out.copy("initrd.bin", path, 64);
      expect(f.size).toBe(bytes.length);
      expect(Buffer.from(f.sha256).toString("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
      expect(f.head).toEqual(bytes.subarray(0, 64));
      expect(Buffer.compare((await out.copy("short.bin", path, 3 * 1024 * 1024)).head, bytes)).toBe(0);
      expect((await out.copy("none.bin", path)).head.length).toBe(0);
      await out.commit(new Map([["manifest.json", new Uint8Array([0x7b, 0x7d])]]));
    } finally {
      await out.discard();
    }
    expect(Buffer.compare(readFileSync(join(parent, "b", "initrd.bin")), bytes)).toBe(0);
    expect(readdirSync(join(parent, "b")).sort()).toEqual(["initrd.bin", "manifest.json", "none.bin", "short.bin"]);
  });

  it("throws READ_FAILED, naming the source, for a file it cannot read", async () => {
    const parent = tmp();
    const out = await BundleDir.open(join(parent, "b"));
    try {
      const err = await out.copy("initrd.bin", join(parent, "missing")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).code).toBe("READ_FAILED");
      expect((err as InputError).where).toBe(join(parent, "missing"));
    } finally {
      await out.discard();
    }
    expect(readdirSync(parent)).toEqual([]);
  });
});

describe("BundleDir", () => {
  it("leaves nothing behind when discarded before commit, and replaces an existing bundle on commit", async () => {
    const parent = tmp();
    const { path } = bigFile(parent);
    const dir = join(parent, "b");
    const first = await BundleDir.open(dir);
    await first.copy("initrd.bin", path);
    await first.discard();
    expect(readdirSync(parent)).toEqual(["src"]);

    mkdirSync(dir);
    writeFileSync(join(dir, "manifest.json"), "old");
    writeFileSync(join(dir, "stale.bin"), "old");
    const second = await BundleDir.open(dir);
    await second.commit(new Map([["manifest.json", new Uint8Array([0x6e])]]));
    await second.discard();
    expect(readdirSync(dir)).toEqual(["manifest.json"]);
    expect(readFileSync(join(dir, "manifest.json"), "utf8")).toBe("n");
    expect(readdirSync(parent).sort()).toEqual(["b", "src"]);
    await expect(second.commit(new Map())).rejects.toThrow(TypeError);
  });

  it("refuses a directory that is not a bundle before writing anything", async () => {
    const parent = tmp();
    writeFileSync(join(parent, "precious"), "x");
    await expect(BundleDir.open(parent)).rejects.toMatchObject({ code: "OUTPUT_EXISTS" });
    expect(readdirSync(parent)).toEqual(["precious"]);
    expect(existsSync(join(parent, "precious"))).toBe(true);
  });

  it.each(["SIGINT", "SIGTERM"] as const)("removes its staging directory when %s ends the process, which still dies of the signal", async (signal) => {
    const parent = tmp();
    const { path } = bigFile(parent);
    // A child process (the compiled module) stages a file, says so, and waits to be stopped.
    const write = pathToFileURL(join(import.meta.dirname, "../../dist/toolchain/bundle/write.js")).href;
    const script = `const { BundleDir } = await import(${JSON.stringify(write)});
      const out = await BundleDir.open(${JSON.stringify(join(parent, "b"))});
      await out.copy("initrd.bin", ${JSON.stringify(path)});
      process.stdout.write("staged\\n");
      setInterval(() => undefined, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    expect(readdirSync(parent).some((n) => n.startsWith(".b.tmp-"))).toBe(true);
    child.kill(signal);
    const [code, got] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("close", (c, s) => resolve([c, s])));
    expect({ code, got }).toEqual({ code: null, got: signal });
    expect(readdirSync(parent)).toEqual(["src"]);
  }, 30_000);
});
