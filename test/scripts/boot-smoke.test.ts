import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { busyboxInitramfs, type CpioEntry } from "../../scripts/initramfs.js";

// Boots the provisioned Debian arm64 kernel directly in QEMU (TCG) with a
// busybox initramfs built by scripts/initramfs.ts, and runs the provisioned
// makedumpfile in the guest through its program interpreter with only the
// provisioned libraries: if the library set is incomplete, ld.so fails.
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

describe("boot smoke: the provisioned arm64 kernel, busybox and makedumpfile", () => {
  it(
    "boots to the busybox /init, prints the marker, runs makedumpfile with the provisioned libraries and powers off",
    async () => {
      const assets = loadAssets();
      const m = assets.makedumpfile;
      const marker = `purgatory-smoke-${randomUUID()}`;
      const libPath = m.libDirs.join(":");
      // Debian version "1:1.7.2-1" → upstream "1.7.2", which makedumpfile prints.
      const upstream = m.version.replace(/^\d+:/, "").replace(/-[^-]*$/, "");
      const init = [
        "#!/bin/sh",
        "mount -t proc proc /proc",
        `echo "${marker} up on $(cat /proc/sys/kernel/osrelease)"`,
        `${m.interpreter.guestPath} --library-path ${libPath} ${m.binary.guestPath} -v`,
        `echo "${marker} makedumpfile-exit=$?"`,
        "poweroff -f",
        "",
      ].join("\n");
      const file = (guestPath: string, hostPath: string): CpioEntry => ({ path: guestPath, mode: 0o755, data: readFileSync(hostPath) });
      const initrd = busyboxInitramfs({
        busybox: readFileSync(assets.busybox.binary.path),
        applets: ["sh", "mount", "cat", "echo", "ls", "poweroff"],
        init,
        extra: [
          file(m.binary.guestPath, m.binary.path),
          file(m.interpreter.guestPath, m.interpreter.path),
          ...m.libraries.filter((l) => l.guestPath !== m.interpreter.guestPath).map((l) => file(l.guestPath, l.path)),
        ],
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
      expect(run.console, show).toMatch(new RegExp(`makedumpfile: version ${upstream.replace(/\./g, "\\.")}\\b`));
      expect(run.console, show).toContain(`${marker} makedumpfile-exit=0`);
      expect(run.console, show).toMatch(/reboot: Power down/);
      expect(run.timedOut, show).toBe(false);
      expect(run.code, show).toBe(0);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );
});
