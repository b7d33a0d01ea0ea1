import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeBootFile } from "../../toolchain/bundle/boot.js";
import { encodeSegmentTable } from "../../toolchain/bundle/table.js";
import { buildLoader } from "./_guest.js";

// examples/loader's checks before kexec_load, run on the host by qemu-aarch64
// (user mode: the loader's file reads reach the host's /proc and /sys, and it
// stops before the kexec_load system call): --verify re-hashes every segment
// file against segments.bin (with its own SHA-256, checked here against
// node:crypto on sizes around the 56-byte padding edge), and a crash bundle's
// boot.txt must name the running boot.

const loader = buildLoader();
const work = mkdtempSync(join(tmpdir(), "loader-checks-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const KEXEC_ON_CRASH = 1n;
const ARCH = 183n << 16n;

function bundle(name: string, files: Record<string, Uint8Array>, flags: bigint, boot?: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  let mem = 0x60000000n;
  const segments = Object.entries(files).map(([file, data]) => {
    writeFileSync(join(dir, file), data);
    const s = { role: "kernel" as const, file, mem, memsz: 0x10000n, bufsz: BigInt(data.length), sha256: new Uint8Array(createHash("sha256").update(data).digest()) };
    mem += 0x10000n;
    return s;
  });
  writeFileSync(join(dir, "segments.bin"), encodeSegmentTable({ entry: 0x60000000n, flags: flags | ARCH, segments }));
  if (boot !== undefined) writeFileSync(join(dir, "boot.txt"), boot);
  return dir;
}

const run = (...args: string[]) => {
  const r = spawnSync("qemu-aarch64", [loader, ...args], { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

describe("loader --verify", () => {
  const sizes = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 65537];
  const files = Object.fromEntries(sizes.map((n, i) => [`s${i}.bin`, new Uint8Array(randomBytes(n))]));

  it("accepts segment files that hash to segments.bin's digests (sizes around SHA-256's padding edges), and goes on to kexec_load", () => {
    const dir = bundle("good", Object.fromEntries(Object.entries(files).slice(0, 16)), 0n);
    const r = run("--verify", dir);
    expect(r.out).toContain(`verified ${sizes.length} segments against segments.bin`);
    expect(r.out).toMatch(/kexec_load\(entry 0x60000000, 11 segments/);
  });

  it("refuses a segment file changed after the bundle was built, naming it", () => {
    const dir = bundle("damaged", { "kernel.bin": new Uint8Array(randomBytes(4096)) }, 0n);
    const f = join(dir, "kernel.bin");
    const b = readFileSync(f);
    b[100] = (b[100] as number) ^ 1;
    writeFileSync(f, b);
    const r = run("--verify", dir);
    expect(r.status).toBe(1);
    expect(r.out).toContain("kernel.bin does not match its SHA-256 in segments.bin");
    expect(run(dir).out).not.toContain("does not match");
  });
});

describe("a crash bundle's boot.txt", () => {
  const hostBoot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  const data = { "kernel.bin": new Uint8Array(randomBytes(64)) };

  it("is refused when it names another boot, with each fact that moved", () => {
    const boot = encodeBootFile({ bootId: "00000000-1111-2222-3333-444444444444", vmcoreinfo: 0x1234000n, crashNotes: [], kernelCode: null });
    const r = run("--verify", bundle("other-boot", data, KEXEC_ON_CRASH, boot));
    expect(r.status).toBe(1);
    expect(r.out).toContain(`loader: moved: boot_id 00000000-1111-2222-3333-444444444444 -> ${hostBoot}`);
    expect(r.out).toMatch(/loader: moved: vmcoreinfo 0x1234000 -> /);
    expect(r.out).toMatch(/refusing .* built for another boot \(2 facts moved/);
    expect(r.out).not.toContain("kexec_load(");
  });

  it("passes the boot check when it names this boot (only the boot id, as on a machine without crash notes)", () => {
    const r = run(bundle("this-boot", data, KEXEC_ON_CRASH, `purgatory-boot 1\nboot_id ${hostBoot}\n`));
    expect(r.out).not.toContain("moved:");
    expect(r.out).toContain("kexec_load(");
  });

  it("is refused when malformed", () => {
    const r = run(bundle("bad-boot", data, KEXEC_ON_CRASH, "purgatory-boot 9\n"));
    expect(r.status).toBe(1);
    expect(r.out).toContain("is not a \"purgatory-boot 1\" file");
  });
});
