import { randomUUID } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandModule } from "yargs";
import { loadAssets } from "../../scripts/assets.js";
import { busyboxInitramfs } from "../../toolchain/initramfs/index.js";
import bootCommand from "../../toolchain/cli/boot.js";
import bundleCommand from "../../toolchain/cli/bundle.js";
import targetCommand from "../../toolchain/cli/target.js";
import { parseTarget, type Target } from "../../toolchain/target/index.js";
import { writeHandBundle } from "../qemu/_bundle.js";
import { runCommand } from "./_purgatory-cli.js";

// `purgatory boot --qemu` end to end: targets from `purgatory target qemu-virt`,
// a hand-made bundle (test/qemu/_bundle.ts: a trampoline as purgatory)
// around the Debian kernel and a busybox initramfs whose /init prints the
// marker it reads from /proc/cmdline (so it came through /chosen/bootargs)
// and whether /chosen/linux,initrd-start reached the kernel.

const dir = mkdtempSync(join(tmpdir(), "purgatory-boot-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const boot = (args: string[]) => runCommand(bootCommand as CommandModule<object, never>, ["boot", ...args]);
const BOOT_MS = 70_000;

const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for w in $(cat /proc/cmdline); do case "$w" in purgatory.marker=*) marker="\${w#purgatory.marker=}";; esac; done
if [ -e /proc/device-tree/chosen/linux,initrd-start ]; then dt=initrd-start-found; else dt=initrd-start-missing; fi
echo "$marker $dt cpus=$(grep -c ^processor /proc/cpuinfo)"
poweroff -f
`;

let kernel: Uint8Array;
let kernelPath: string;
let initrd: Uint8Array;
let release: string;
const targets = new Map<string, Target>();

async function target(el2: boolean, smp: number): Promise<Target> {
  const key = `el${el2 ? 2 : 1}-smp${smp}`;
  if (!targets.has(key)) {
    const out = join(dir, `${key}.json`);
    const r = await runCommand(targetCommand as CommandModule<object, never>, ["target", "qemu-virt", "--smp", String(smp), ...(el2 ? ["--el2"] : []), "-o", out]);
    expect(r.code, r.err).toBe(0);
    targets.set(key, parseTarget(readFileSync(out, "utf8")));
  }
  return targets.get(key)!;
}

const written = new Set<string>();
/** Writes the named bundle once: a name stands for one target, marker and variant. */
function bundle(name: string, t: Target, marker: string, extra: Partial<Parameters<typeof writeHandBundle>[1]> = {}): string {
  const out = join(dir, name);
  if (!written.has(name)) writeHandBundle(out, { target: t, kernel, initrd, bootargs: `console=ttyAMA0 panic=-1 purgatory.marker=${marker}`, ...extra });
  written.add(name);
  return out;
}

beforeAll(() => {
  const assets = loadAssets();
  kernelPath = assets.kernel.image.path;
  kernel = new Uint8Array(readFileSync(kernelPath));
  release = assets.kernel.release;
  initrd = busyboxInitramfs({ busybox: readFileSync(assets.busybox.binary.path), applets: ["sh", "mount", "cat", "echo", "grep", "poweroff"], init: INIT });
});

describe("purgatory boot --qemu boots a bundle as kexec would", () => {
  it.each([
    [false, 1],
    [false, 4],
    [true, 1],
    [true, 4],
  ])("el2=%s, %i CPU(s): the kernel boots from the trampoline to init, with our bootargs and initrd", async (el2, smp) => {
    const marker = randomUUID();
    const b = bundle(`ok-${el2}-${smp}`, await target(el2, smp), marker);
    const r = await boot([b, "--qemu", "--smp", String(smp), ...(el2 ? ["--el2"] : []), "--expect", `^${marker} initrd-start`, "--json"]);
    const report = JSON.parse(r.out);
    const show = `${r.err}\n${r.out}`;
    expect(r.code, show).toBe(0);
    expect(report).toMatchObject({ outcome: "success", reason: `the console matched --expect: ${marker} initrd-start-found cpus=${smp}` });
    expect(report.banner).toBe(`Linux version ${release}`);
    expect(report.machine).toEqual({ name: "qemu-virt", el2, memory: "0x40000000", smp });
    expect(report.qemuArgs.slice(0, 3)).toEqual(["qemu-system-aarch64", "-M", el2 ? "virt,virtualization=on" : "virt"]);
    expect(report.consoleTail).toContain(`${marker} initrd-start-found cpus=${smp}`);
    expect(typeof report.elapsedMs).toBe("number");
    // The console streamed to stderr (stdout holds the JSON).
    expect(r.err).toContain(`All CPU(s) started at EL${el2 ? 2 : 1}`);
    expect(r.err).toContain(`Brought up 1 node, ${smp} CPU${smp === 1 ? "" : "s"}`);
    expect(r.err).toContain(`Kernel command line: console=ttyAMA0 panic=-1 purgatory.marker=${marker}`);
  }, BOOT_MS);

  it("without --expect, succeeds when the kernel starts init, and prints the console then the verdict", async () => {
    const r = await boot([bundle("plain", await target(false, 1), "plain"), "--qemu"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("Run /init as init process");
    expect(r.out).toMatch(/\nboot: success after \d+\.\d s \(qemu-virt, EL1, 1 CPU, 1024 MiB\): the kernel reached userspace: Run \/init as init process\n$/);
  }, BOOT_MS);
});

describe("purgatory boot --qemu reports failures with exit 1", () => {
  it("times out on a purgatory that never reaches the kernel", async () => {
    const r = await boot([bundle("spin", await target(false, 1), "spin", { purgatory: "spin" }), "--qemu", "--timeout", "1", "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ outcome: "timeout", banner: null, exitCode: null, consoleTail: "" });
  });

  it("refuses a segment outside the RAM QEMU will have, before starting QEMU", async () => {
    const r = await boot([bundle("plain", await target(false, 1), "plain"), "--qemu", "-m", "128M", "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).error).toMatchObject({ code: "SEGMENT_OUTSIDE_RAM", where: "segments[1].mem" });
  });

  it("refuses a DTB whose PSCI method is not the one QEMU uses at the requested EL", async () => {
    const el1 = await boot([bundle("plain", await target(false, 1), "plain"), "--qemu", "--el2", "--json"]);
    expect(JSON.parse(el1.out).error).toMatchObject({ code: "PSCI_MISMATCH", hint: expect.stringMatching(/without --el2/) });
    const el2 = await boot([bundle("el2", await target(true, 1), "el2"), "--qemu", "--json"]);
    expect(el2.code).toBe(1);
    expect(JSON.parse(el2.out).error).toMatchObject({ code: "PSCI_MISMATCH", hint: expect.stringMatching(/Boot with --el2/) });
  });

  it("says QEMU is missing, found through --qemu-binary or PATH", async () => {
    const b = bundle("plain", await target(false, 1), "plain");
    const byOption = await boot([b, "--qemu", "--qemu-binary", join(dir, "no-qemu"), "--json"]);
    expect(byOption.code).toBe(1);
    expect(JSON.parse(byOption.out).error).toMatchObject({ code: "QEMU_MISSING", hint: expect.stringMatching(/apt-get install qemu-system-arm/) });
    const empty = join(dir, "empty-path");
    mkdirSync(empty, { recursive: true });
    const path = process.env.PATH;
    process.env.PATH = empty;
    try {
      const byPath = await boot([b, "--qemu", "--json"]);
      expect(byPath.code).toBe(1);
      expect(JSON.parse(byPath.out).error).toMatchObject({ code: "QEMU_MISSING", where: "qemu-system-aarch64" });
    } finally {
      process.env.PATH = path;
    }
  });

  it("is a usage error (exit 2) with --no-qemu, a bad --expect, --timeout, --smp or -m, naming the option", async () => {
    const b = bundle("plain", await target(false, 1), "plain");
    expect((await boot([b, "--no-qemu"])).code).toBe(2);
    const cases: [string[], string][] = [
      [["--expect", "("], "--expect"], [["--timeout", "0"], "--timeout"], [["--smp", "0"], "--smp"], [["--smp", "9"], "--smp"],
      [["--smp", "1.5"], "--smp"], [["-m", "lots"], "-m"], [["-m", "1000K"], "-m"],
    ];
    for (const [bad, where] of cases) {
      const r = await boot([b, ...bad, "--json"]);
      expect([bad, r.code, JSON.parse(r.out).error]).toEqual([bad, 2, expect.objectContaining({ code: "BAD_OPTION", where })]);
    }
    // A bundle built with --append quiet reaches init without saying so: boot asks for --expect at once.
    const quiet = await boot([bundle("quiet", await target(false, 1), "quiet", { bootargs: "console=ttyAMA0 quiet" }), "--json"]);
    expect([quiet.code, JSON.parse(quiet.out).error]).toEqual([2, expect.objectContaining({ code: "BAD_OPTION", where: "--expect" })]);
  });
});

describe("purgatory boot --qemu boots real bundles (purgatory bundle, with the real purgatory)", () => {
  async function realBundle(name: string, el2: boolean, smp: number, marker: string): Promise<string> {
    await target(el2, smp);
    const initrdPath = join(dir, "initrd.cpio");
    writeFileSync(initrdPath, initrd);
    const out = join(dir, name);
    const r = await runCommand(bundleCommand as CommandModule<object, never>, [
      "bundle", "--mode", "reboot", "--kernel", kernelPath, "--initrd", initrdPath, "--target", join(dir, `el${el2 ? 2 : 1}-smp${smp}.json`),
      "--reuse-cmdline", "--append", `panic=-1 purgatory.marker=${marker}`, "--seed", "00", "-o", out,
    ]);
    expect(r.code, r.err).toBe(0);
    return out;
  }

  it("boots one at EL2 with 2 CPUs: the purgatory verifies every segment, then the kernel reaches init", async () => {
    const marker = randomUUID();
    const r = await boot([await realBundle("real-el2", true, 2, marker), "--qemu", "--el2", "--expect", `^${marker} initrd-start-found cpus=2$`, "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ outcome: "success", machine: { el2: true, smp: 2 } });
    expect(r.err).toMatch(/purgatory: verifying \d+ regions[^\r\n]*\r\npurgatory: ok, entering kernel at 0x/);
    expect(r.err).toContain("All CPU(s) started at EL2");
  }, BOOT_MS);

  it("reports purgatory-failed when a segment was changed after the build (--allow-modified), naming the region", async () => {
    const good = await realBundle("real-el1", false, 1, "real");
    const bad = join(dir, "real-el1-modified");
    cpSync(good, bad, { recursive: true });
    const file = join(bad, "initrd.bin");
    const bytes = readFileSync(file);
    bytes[5000]! ^= 1;
    writeFileSync(file, bytes);
    expect(JSON.parse((await boot([bad, "--qemu", "--json"])).out).error.code).toBe("DIGEST_MISMATCH");
    const r = await boot([bad, "--qemu", "--allow-modified", "--json"]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ outcome: "purgatory-failed", banner: null });
    expect(report.reason).toMatch(/^the purgatory refused to boot: purgatory: region \d+ at 0x[0-9a-f]+, length 0x[0-9a-f]+: sha256 mismatch$/);
    expect(report.consoleTail).toMatch(/expected [0-9a-f]{64}\n {2}actual {3}[0-9a-f]{64}\npurgatory: halted/);
  }, BOOT_MS);
});
