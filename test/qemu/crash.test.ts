import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseCrashkernel, readInitramfsFiles } from "../../toolchain/crashkernel/index.js";
import { crashProbeInitramfs, findHostTools, productionCommandLine } from "../../toolchain/qemu/index.js";
import { thrown } from "../_thrown.js";

// The pieces of a crash probe that need no QEMU; test/cycle/calibrate.test.ts
// runs real ones.
const work = mkdtempSync(join(tmpdir(), "qemu-crash-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const REPO = join(import.meta.dirname, "..", "..");

describe("productionCommandLine", () => {
  it("asks for SIZE in MiB, with the console, earlycon, and a reset on panic", () => {
    const line = productionCommandLine(116n << 20n);
    expect(line).toBe("console=ttyAMA0 earlycon crashkernel=116M panic=-1");
    expect(parseCrashkernel(line, 1n << 30n)?.size).toBe(116n << 20n);
  });
});

describe("crashProbeInitramfs", () => {
  it("holds crash-init.sh as /init, collect-target.sh, the loader, and the bundle's kernel and initrd", async () => {
    const cpio = crashProbeInitramfs({
      busybox: new TextEncoder().encode("busybox"), loader: new TextEncoder().encode("loader"),
      kernel: new TextEncoder().encode("kernel"), initrd: new TextEncoder().encode("initrd"),
    });
    const files = await readInitramfsFiles(cpio, ["/init", "/bin/collect-target.sh", "/bin/loader", "/bundle/kernel.bin", "/bundle/initrd.bin", "/bin/busybox"]);
    const text = (p: string) => new TextDecoder().decode(files.get(p));
    expect(text("/init")).toBe(readFileSync(join(REPO, "toolchain", "qemu", "crash-init.sh"), "utf8"));
    expect(text("/bin/collect-target.sh")).toBe(readFileSync(join(REPO, "examples", "collect-target.sh"), "utf8"));
    expect([text("/bin/loader"), text("/bundle/kernel.bin"), text("/bundle/initrd.bin"), text("/bin/busybox")]).toEqual(["loader", "kernel", "initrd", "busybox"]);
  });
});

describe("findHostTools", () => {
  it("finds mkfs.<type> (mkfs.ext4 for auto) and debugfs in the directories given", () => {
    const bin = join(work, "bin");
    mkdirSync(bin);
    for (const f of ["mkfs.ext4", "mkfs.ext2", "debugfs"]) writeFileSync(join(bin, f), "");
    expect(findHostTools("auto", ["", bin])).toEqual({ mkfs: join(bin, "mkfs.ext4"), debugfs: join(bin, "debugfs") });
    expect(findHostTools("ext2", [bin]).mkfs).toBe(join(bin, "mkfs.ext2"));
  });

  it("names the program it misses and the package that has it (TOOL_MISSING)", () => {
    const e = thrown(() => findHostTools("ext4", [join(work, "empty")]));
    expect(e.code).toBe("TOOL_MISSING");
    expect(e.where).toBe("mkfs.ext4");
    expect(e.message).toMatch(/mkfs\.ext4 is not in .*empty/);
    expect(e.hint).toMatch(/e2fsprogs/);
  });
});
