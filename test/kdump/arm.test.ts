import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { SEGMENT_FILE, verifyBundle } from "../../toolchain/bundle/index.js";
import { buildCpio } from "../../toolchain/initramfs/index.js";
import { armKdump, kdumpStatus, readArmed, statePaths } from "../../toolchain/kdump/index.js";
import { makeFakeRoot } from "../target/_fake-root.js";

// armKdump on the fake root of a Debian 6.1 guest (test/target/fixtures),
// with the provisioned Debian Image and a loader that only marks the crash
// image loaded, as kexec_load would: what arming reuses from the state
// directory at the next boot.
const work = mkdtempSync(join(tmpdir(), "kdump-arm-"));
const root = makeFakeRoot();
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});
mkdirSync(join(root, "proc/sys/kernel/random"), { recursive: true });
writeFileSync(join(root, "proc/sys/kernel/random/boot_id"), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n");
writeFileSync(join(root, "sys/kernel/kexec_crash_loaded"), "0\n");

const kernel = join(work, "vmlinuz");
copyFileSync(loadAssets().kernel.image.path, kernel);
const initrd = join(work, "capture.cpio.gz");
writeFileSync(initrd, gzipSync(buildCpio([{ path: "/init", mode: 0o755, data: "#!/bin/sh\n" }])));
// Files older than a second, as a kernel package's are: their digests may be remembered.
const past = new Date(Date.now() - 60_000);
utimesSync(kernel, past, past);
const loader = join(work, "loader");
writeFileSync(loader, `#!/bin/sh\n[ "$1" = --verify ] && [ -f "$2/segments.bin" ] && echo 1 >${root}/sys/kernel/kexec_crash_loaded\n`);
chmodSync(loader, 0o755);

const stateDir = join(work, "state");
const paths = statePaths(stateDir);
const arm = () => armKdump({ root, stateDir, kernel, initrd, loader, append: "nr_cpus=1 reset_devices", console: "auto" });

describe("purgatory kdump arm, boot after boot", () => {
  it("the first arm unwraps and caches the kernel and hashes everything; the bundle verifies and status says armed", async () => {
    const r = await arm();
    expect(r.kernelCached).toBe(false);
    expect(r.digestsRemembered).toBe(false);
    expect((await verifyBundle(paths.bundle)).ok).toBe(true);
    expect(readArmed(paths.armed)?.kernel).toMatchObject({ path: kernel, size: statSync(kernel).size });
    expect(kdumpStatus(root, stateDir)).toMatchObject({ state: "armed", loaded: true, changes: [] });
  }, 60_000);

  it("the next arm reads neither the kernel nor the cached Image: their digests are remembered and the Image is hard-linked into the bundle", async () => {
    const r = await arm();
    expect(r.kernelCached).toBe(true);
    expect(r.digestsRemembered).toBe(true);
    const cached = join(paths.kernels, `${r.armed.kernel.sha256}.Image`);
    expect(statSync(join(paths.bundle, SEGMENT_FILE.kernel)).ino).toBe(statSync(cached).ino);
    expect((await verifyBundle(paths.bundle)).ok).toBe(true);
    const digests = JSON.parse(readFileSync(paths.digests, "utf8")) as { files: Record<string, { sha256: string }> };
    expect(Object.keys(digests.files).sort()).toEqual([cached, kernel].sort());
    expect(digests.files[kernel]?.sha256).toBe(r.armed.kernel.sha256);
  }, 60_000);

  it("a kernel file touched since is hashed again, and a changed one is stale until re-armed, which drops the old Image", async () => {
    const later = new Date(Date.now() - 30_000);
    utimesSync(kernel, later, later);
    const same = await arm();
    expect(same.kernelCached).toBe(true);
    expect(same.digestsRemembered).toBe(false);

    // A different kernel file: the same Image, gzip-compressed.
    writeFileSync(kernel, gzipSync(readFileSync(loadAssets().kernel.image.path), { level: 1 }));
    utimesSync(kernel, past, past);
    expect(kdumpStatus(root, stateDir)).toMatchObject({ state: "stale", changes: [{ what: "kernel" }] });
    const other = await arm();
    expect(other.kernelCached).toBe(false);
    expect(other.armed.kernel.sha256).not.toBe(same.armed.kernel.sha256);
    expect(readFileSync(join(paths.bundle, SEGMENT_FILE.kernel)).equals(readFileSync(loadAssets().kernel.image.path))).toBe(true);
    expect(statSync(join(paths.kernels, `${same.armed.kernel.sha256}.Image`), { throwIfNoEntry: false })).toBeUndefined();
    expect(kdumpStatus(root, stateDir)).toMatchObject({ state: "armed", changes: [] });
  }, 120_000);
});
