import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultCacheDir, loadAssets } from "../../scripts/assets.js";

// scripts/provision.sh against the real cache, and against copies of the repo's
// scripts with altered pins and fresh caches. The last two tests need Debian's
// archive, as a first provision does.
const repo = new URL("../..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "provision-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs provision.sh without blocking the worker (vitest's RPC times out if a test blocks for long). */
function provision(root: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(root, "scripts/provision.sh")], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A copy of the repo's provisioning inputs with `pins` as the pin file, sharing node_modules. */
function sandbox(pins: string): string {
  const root = mkdtempSync(join(work, "repo-"));
  mkdirSync(join(root, "scripts"));
  copyFileSync(join(repo, "scripts/provision.sh"), join(root, "scripts/provision.sh"));
  writeFileSync(join(root, "scripts/arm64-packages.pin"), pins);
  copyFileSync(join(repo, "package-lock.json"), join(root, "package-lock.json"));
  symlinkSync(join(repo, "node_modules"), join(root, "node_modules"));
  return root;
}
/** A cache holding copies of the real cache's .debs and apt lists, so apt fetches only what changed. */
function seededCache(): string {
  const cache = mkdtempSync(join(work, "cache-"));
  cpSync(join(defaultCacheDir(), "debs"), join(cache, "debs"), { recursive: true });
  cpSync(join(defaultCacheDir(), "apt/lists"), join(cache, "apt/lists"), { recursive: true });
  return cache;
}
const pins = readFileSync(join(repo, "scripts/arm64-packages.pin"), "utf8");

describe("provision.sh", () => {
  it("does nothing and prints nothing on a second run", async () => {
    const assetsJson = join(defaultCacheDir(), "assets.json");
    const before = statSync(assetsJson).mtimeMs;
    const r = await provision(repo);
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(statSync(assetsJson).mtimeMs).toBe(before);
  });

  it("offline with an empty cache, stops naming the missing packages and how to get them", async () => {
    const cache = mkdtempSync(join(work, "cache-"));
    const r = await provision(sandbox(pins), { PURGATORY_CACHE: cache, http_proxy: "http://127.0.0.1:9", https_proxy: "http://127.0.0.1:9" });
    expect(r.code).toBe(1);
    for (const line of pins.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
      const [pkg, version] = line.split(" ");
      expect(r.stderr).toContain(`${pkg}=${version}`);
    }
    expect(r.stderr).toMatch(/archive is unreachable/);
    expect(r.stderr).toMatch(/copy a provisioned cache from another machine into .*; then run: npm run provision/);
    expect(existsSync(join(cache, "assets.json"))).toBe(false);
  }, 120_000);

  it("refuses a .deb whose SHA-256 differs from its pin, before unpacking anything", async () => {
    const cache = seededCache();
    const bad = pins.replace(/^(busybox-static \S+ )\S+$/m, `$1${"0".repeat(64)}`);
    const r = await provision(sandbox(bad), { PURGATORY_CACHE: cache });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/busybox-static.*has sha256 [0-9a-f]{64} but .* pins 0{64} for busybox-static/);
    expect(existsSync(join(cache, "arm64"))).toBe(false);
    expect(existsSync(join(cache, "assets.json"))).toBe(false);
  }, 120_000);

  it("replaces pinned versions gone from the archive (the kernel: by what linux-image-cloud-arm64 depends on), says so, and keeps working", async () => {
    const cache = seededCache();
    const gone = pins
      .replace(/^linux-image-\S+-cloud-arm64 .*$/m, `linux-image-6.1.0-1-cloud-arm64 6.1.4-1 ${"0".repeat(64)}`)
      .replace(/^busybox-static \S+/m, "busybox-static 1:1.0-0")
      .replace(/^liblzma5 .*\n/m, "");
    const root = sandbox(gone);
    const r = await provision(root, { PURGATORY_CACHE: cache });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/pinned kernel linux-image-6\.1\.0-1-cloud-arm64 6\.1\.4-1 is gone from Debian's archive; using linux-image-\S+-cloud-arm64 \S+, what linux-image-cloud-arm64 depends on now/);
    expect(r.stderr).toMatch(/pinned busybox-static 1:1\.0-0 is gone from Debian's archive; using the current \S+/);
    expect(r.stderr).toMatch(/liblzma5 is not pinned in .*; using the current \S+/);
    const assets = loadAssets(cache);
    expect(assets.kernel.package).toMatch(/^linux-image-.*-cloud-arm64$/);
    expect(assets.kernel.package).not.toBe("linux-image-6.1.0-1-cloud-arm64");
    const kernelDeb = assets.debs.find((d) => d.package === assets.kernel.package);
    expect(kernelDeb?.pinned).toBe(false);
    // The generic kernel follows the cloud kernel's upload, unpinned, and says so.
    expect(assets.genericKernel).toMatchObject({ package: assets.kernel.package.replace(/-cloud-arm64$/, "-arm64"), version: assets.kernel.version });
    expect(r.stderr).toContain(`${assets.genericKernel.package} ${assets.kernel.version} is not pinned in`);
    expect(assets.debs.find((d) => d.package === assets.genericKernel.package)?.pinned).toBe(false);
    expect(assets.debs.find((d) => d.package === "busybox-static")?.pinned).toBe(false);
    expect(assets.debs.find((d) => d.package === "libc6")?.pinned).toBe(true);
    // kexec-tools comes through the same resolver as makedumpfile, into its own root.
    expect(assets.debs.find((d) => d.package === "kexec-tools")?.pinned).toBe(true);
    expect(assets.kexecTools.root).not.toBe(assets.makedumpfile.root);
    // What it fetched is written in the pin file's format, ready to adopt.
    expect(readFileSync(join(cache, "arm64-packages.pin"), "utf8")).toContain(`${assets.kernel.package} ${assets.kernel.version} ${kernelDeb?.sha256}\n`);
    // The host's apt and dpkg state are untouched: no arm64 lists, no foreign architecture.
    expect(readdirSync("/var/lib/apt/lists").filter((f) => f.includes("binary-arm64"))).toEqual([]);
    expect(spawnSync("dpkg", ["--print-foreign-architectures"], { encoding: "utf8" }).stdout).not.toMatch(/arm64/);
    // And a second run is a no-op.
    expect(await provision(root, { PURGATORY_CACHE: cache })).toEqual({ code: 0, stdout: "", stderr: "" });
  }, 180_000);
});
