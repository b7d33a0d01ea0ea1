import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { startCounting } from "../../toolchain/qemu/index.js";

// startCounting on a machine it does not start itself: an empty QEMU virt
// machine runs its boot ROM (it has no kernel), counted over all low
// addresses, and is stopped by a signal as test/cycle/_machine.ts stops one.

/** Runs an empty virt machine with `args` for `ms`, then sends `signal`; resolves when QEMU has exited, with its stderr. */
function runEmpty(args: readonly string[], ms: number, signal: NodeJS.Signals): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("qemu-system-aarch64", ["-M", "virt", "-cpu", "cortex-a57", "-nodefaults", "-display", "none", "-serial", "null", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    const timer = setTimeout(() => child.kill(signal), ms);
    child.on("close", () => {
      clearTimeout(timer);
      resolve(stderr);
    });
  });
}

describe("startCounting", () => {
  it("counts the instructions QEMU executes in the range once it exits on SIGTERM, and none outside it", async () => {
    const inside = await startCounting(0n, 1n << 40n);
    const outside = await startCounting(1n << 40n, 1n << 41n);
    try {
      expect(inside.args).toEqual(expect.arrayContaining(["-plugin", "-d", "plugin", "-D"]));
      const [a, b] = await Promise.all([runEmpty(inside.args, 1500, "SIGTERM"), runEmpty(outside.args, 1500, "SIGTERM")]);
      expect((await inside.read(a)).icount).toBeGreaterThan(0n);
      expect(await outside.read(b)).toEqual({ icount: 0n, accesses: 0n, unaligned: 0n });
    } finally {
      await inside.dispose();
      await outside.dispose();
    }
  }, 60_000);

  it("says the plugin reported nothing when QEMU was killed (SIGKILL runs no exit callbacks)", async () => {
    const counting = await startCounting(0n, 1n << 40n);
    try {
      const stderr = await runEmpty(counting.args, 1500, "SIGKILL");
      await expect(counting.read(stderr)).rejects.toThrow(/The QEMU plugin reported no icount/);
    } finally {
      await counting.dispose();
    }
  }, 60_000);
});
