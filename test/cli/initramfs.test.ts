import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import initramfsCommand from "../../toolchain/cli/initramfs.js";
import { runCli } from "../_cli.js";
import { purgatory } from "../cycle/_bundle.js";

const dir = mkdtempSync(join(tmpdir(), "purgatory-initramfs-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const assets = loadAssets();
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const cli = (args: string[]) => runCli(initramfsCommand, ["initramfs", ...args]);
const base = (out: string) => ["-o", out, "--sysroot", assets.sysroot, "--modules", "virtio_blk,virtio_pci", "--modules", "ext4", "--dump-to", "/dev/vda", "--fs-type", "ext4"];

describe("purgatory initramfs", () => {
  it("writes the archive and says what is in it, its three sizes and its digest", async () => {
    const out = join(dir, "capture.cpio.gz");
    const r = await cli(base(out));
    expect(r, r.stderr).toMatchObject({ code: 0, stderr: "" });
    const bytes = readFileSync(out);
    expect(r.stdout).toMatch(new RegExp(`^wrote ${out}: ${bytes.length} bytes \\(gzip level 9\\); cpio \\d+ bytes; unpacked \\d+ bytes in \\d+ files, \\d+ entries\\n`));
    expect(r.stdout).toContain(`  sha256        ${sha256(bytes)}\n`);
    expect(r.stdout).toContain("  busybox       /bin/busybox (static, ");
    expect(r.stdout).toContain("  makedumpfile  /usr/bin/makedumpfile, interpreter /lib/ld-linux-aarch64.so.1\n");
    expect(r.stdout).toMatch(/ {2}modules {7}virtio\S* .*virtio_blk.* \(load order; 6\.1\.\S+, dependencies from \.modinfo\)\n {16}built in: ext4\n/);
    expect(r.stdout).toContain("  dump to       /dev/vda (ext4): /var/crash/<UTC time>-<boot id>/\n");
    expect(r.stdout).toContain("  then          reboot; on failure reboot; device wait 60 s; whole capture at most 7200 s");
  });

  it("reports every file, library and module with --json, and the same bytes every time", async () => {
    const out = join(dir, "again.cpio.gz");
    const r = await cli([...base(out), "--json", "--final-action", "poweroff", "--wait", "10", "--dir", "/srv/dumps"]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown> & { files: { path: string; bytes: string }[]; config: Record<string, unknown>; modules: { load: unknown[] } };
    expect(j).toMatchObject({ output: out, compression: "gzip", gzipLevel: 9, compressedBytes: `0x${readFileSync(out).length.toString(16)}`, dumpFrom: null });
    expect(j.config).toEqual({ dumpTo: "/dev/vda", fsType: "ext4", directory: "/srv/dumps", coreCollector: "makedumpfile -l -d 31", finalAction: "poweroff", failureAction: "reboot", waitSeconds: 10, timeoutSeconds: 7200 });
    expect(j.files.map((f) => f.path)).toContain("/usr/bin/makedumpfile");
    // Sizes in bytes are "0x…" strings, as in every --json report.
    expect(BigInt(j["unpackedBytes"] as string)).toBe(j.files.reduce((s, f) => s + BigInt(f.bytes), 0n));
    expect(j.modules.load).toHaveLength(6);
    const twice = join(dir, "twice.cpio.gz");
    expect((await cli([...base(twice), "--json", "--final-action", "poweroff", "--wait", "10", "--dir", "/srv/dumps"])).code).toBe(0);
    expect(sha256(readFileSync(twice))).toBe(sha256(readFileSync(out)));
  });

  it("exits 1 with the error as JSON for a bad value or a missing module, and writes nothing", async () => {
    const out = join(dir, "bad.cpio.gz");
    const bad = await cli(["-o", out, "--sysroot", assets.sysroot, "--dump-to", "/dev/disk/by-label/x", "--json"]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: "BAD_VALUE", where: "dumpTo", hint: expect.stringContaining("UUID=") } });
    const missing = await cli(["-o", out, "--sysroot", assets.sysroot, "--dump-to", "/dev/vda", "--modules", "nvme_tcp_bogus"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^purgatory: Cannot build the capture initramfs: module nvme_tcp_bogus \(requested\) is not in \/lib\/modules\//);
    expect(existsSync(out)).toBe(false);
  });

  it("exits 2 without exactly one root, without --dump-to off-target, and for an unknown action", async () => {
    const out = join(dir, "usage.cpio.gz");
    expect((await cli(["-o", out, "--dump-to", "/dev/vda"])).stderr).toContain("Give the programs' root: --root / on the target, or --sysroot DIR");
    expect((await cli(["-o", out, "--root", "/", "--sysroot", assets.sysroot, "--dump-to", "/dev/vda"])).code).toBe(2);
    const noTarget = await cli(["-o", out, "--sysroot", assets.sysroot]);
    expect([noTarget.code, noTarget.stderr]).toEqual([2, expect.stringContaining("Name the dump device with --dump-to")]);
    expect((await cli(["-o", out, "--sysroot", assets.sysroot, "--dump-to", "/dev/vda", "--final-action", "explode"])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  it("teaches in --help: what /init does, where programs come from, the defaults and determinism", () => {
    // yargs prints help through console.log; the built CLI shows what a person sees. Piped, yargs
    // breaks the usage text at odd places (every command's), so the line breaks are taken out.
    const r = purgatory(["initramfs", "--help"]);
    expect(r.status).toBe(0);
    const text = r.stdout.replaceAll("\n", "");
    for (const s of ["purgatory-capture: FAILED", "vmcore.incomplete", "status.json", "--sysroot", "PT_INTERP", "modules.dep", "gzip at level 9", "--dump-to", "--failure-action", "docs/capture-initramfs.md"]) {
      expect(text).toContain(s);
    }
  });
});
