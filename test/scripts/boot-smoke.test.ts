import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadAssets, type Program } from "../../scripts/assets.js";
import { busyboxInitramfs, type CpioEntry } from "../../toolchain/initramfs/index.js";

// Boots the provisioned Debian arm64 kernel directly in QEMU (TCG) with a
// busybox initramfs built by toolchain/initramfs/cpio.ts, and runs the provisioned
// makedumpfile and kexec in the guest through their program interpreter with
// only the provisioned libraries: if a library set is incomplete, ld.so fails.
const BOOT_TIMEOUT_MS = 60_000;
const work = mkdtempSync(join(tmpdir(), "boot-smoke-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs QEMU until it exits or `ms` pass; resolves with the console text and exit status. */
function runQemu(args: string[], ms: number): Promise<{ console: string; code: number | null; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn("qemu-system-aarch64", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("latin1")));
    child.stderr.on("data", (d: Buffer) => (out += d.toString("latin1")));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, ms);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ console: out, code, timedOut });
    });
  });
}

describe("boot smoke: the provisioned arm64 kernel, busybox, makedumpfile and kexec", () => {
  it(
    "boots to the busybox /init, prints the marker, runs makedumpfile and kexec with the provisioned libraries and powers off",
    async () => {
      const assets = loadAssets();
      const m = assets.makedumpfile;
      const k = assets.kexecTools;
      const marker = `purgatory-smoke-${randomUUID()}`;
      const invoke = (p: Program, arg: string) => `${p.interpreter.guestPath} --library-path ${p.libDirs.join(":")} ${p.binary.guestPath} ${arg}`;
      // Debian version "1:1.7.2-1" → upstream "1.7.2", which the programs print.
      const upstream = (p: Program) => p.version.replace(/^\d+:/, "").replace(/-[^-]*$/, "").replace(/\./g, "\\.");
      const init = [
        "#!/bin/sh",
        "mount -t proc proc /proc",
        `echo "${marker} up on $(cat /proc/sys/kernel/osrelease)"`,
        invoke(m, "-v"),
        `echo "${marker} makedumpfile-exit=$?"`,
        invoke(k, "--version"),
        `echo "${marker} kexec-exit=$?"`,
        "poweroff -f",
        "",
      ].join("\n");
      // Both programs come with libc6 (the same pinned version): each guest path once.
      const files = new Map<string, { path: string; sha256: string }>();
      for (const f of [m, k].flatMap((p) => [p.binary, p.interpreter, ...p.libraries])) {
        const had = files.get(f.guestPath);
        if (had !== undefined && had.sha256 !== f.sha256) throw new Error(`${f.guestPath}: ${had.path} and ${f.path} differ`);
        files.set(f.guestPath, f);
      }
      const initrd = busyboxInitramfs({
        busybox: readFileSync(assets.busybox.binary.path),
        applets: ["sh", "mount", "cat", "echo", "ls", "poweroff"],
        init,
        extra: [...files].map(([guestPath, f]): CpioEntry => ({ path: guestPath, mode: 0o755, data: readFileSync(f.path) })),
        compress: "gzip",
      });
      const initrdPath = join(work, "initrd.cpio.gz");
      writeFileSync(initrdPath, initrd);

      const run = await runQemu(
        [
          ...["-M", "virt", "-cpu", "cortex-a57", "-m", "1G", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none"],
          ...["-kernel", assets.kernel.image.path, "-initrd", initrdPath],
          ...["-append", "console=ttyAMA0 panic=-1 rdinit=/init"],
        ],
        BOOT_TIMEOUT_MS,
      );
      const show = `QEMU ${run.timedOut ? `timed out after ${BOOT_TIMEOUT_MS} ms` : `exited with ${run.code}`}; console:\n${run.console}`;
      expect(run.console, show).toContain(`Linux version ${assets.kernel.release}`);
      expect(run.console, show).toContain(`${marker} up on ${assets.kernel.release}`);
      expect(run.console, show).toMatch(new RegExp(`makedumpfile: version ${upstream(m)}\\b`));
      expect(run.console, show).toContain(`${marker} makedumpfile-exit=0`);
      expect(run.console, show).toMatch(new RegExp(`^kexec-tools ${upstream(k)}\\r?$`, "m"));
      expect(run.console, show).toContain(`${marker} kexec-exit=0`);
      expect(run.console, show).toMatch(/reboot: Power down/);
      expect(run.timedOut, show).toBe(false);
      expect(run.code, show).toBe(0);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );
});
