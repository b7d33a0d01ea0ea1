import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { afterAll, describe, expect, it } from "vitest";
import command from "../../toolchain/cli/kdump.js";
import { runCommand } from "./_purgatory-cli.js";

// `purgatory kdump`: the thin CLI over toolchain/kdump. The whole service
// (arm on a real guest) is proven in test/cycle/kdump-service.test.ts.

const dir = mkdtempSync(join(tmpdir(), "cli-kdump-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const kdump = (args: string[]) => runCommand(command as unknown as CommandModule<object, never>, ["kdump", ...args]);

describe("purgatory kdump", () => {
  it("status --json reports disarmed from /sys/kernel/kexec_crash_loaded, with no bundle", async () => {
    mkdirSync(join(dir, "root/sys/kernel"), { recursive: true });
    writeFileSync(join(dir, "root/sys/kernel/kexec_crash_loaded"), "0\n");
    const r = await kdump(["status", "--root", join(dir, "root"), "--state-dir", join(dir, "state"), "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ state: "disarmed", loaded: false, bundle: null, bootId: null, armedAt: null, changes: [] });
    const t = await kdump(["status", "--root", join(dir, "root"), "--state-dir", join(dir, "state")]);
    expect(t.out).toBe("disarmed: no crash image is loaded\n");
  });

  it("arm without --kernel or --initrd is a usage error (exit 2)", async () => {
    const r = await kdump(["arm", "--root", join(dir, "root"), "--state-dir", join(dir, "state")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("kdump arm needs --kernel and --initrd");
  });

  it.skipIf(process.arch === "arm64")("refuses to arm or disarm a machine that is not arm64 (NOT_ARM64, exit 1)", async () => {
    const r = await kdump(["disarm", "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).error.code).toBe("NOT_ARM64");
  });
});
