import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isInputError } from "../../toolchain/bytes/index.js";
import { disarmKdump } from "../../toolchain/kdump/disarm.js";
import { runLoader } from "../../toolchain/kdump/_exec.js";
import { describeThisBoot } from "../../toolchain/kdump/live.js";
import { ARMED_FORMAT, readArmed, serializeArmed, type Armed } from "../../toolchain/kdump/state.js";
import { kdumpStatus } from "../../toolchain/kdump/status.js";

const dir = mkdtempSync(join(tmpdir(), "kdump-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return isInputError(e) ? e.code : `not an InputError: ${String(e)}`;
  }
  return undefined;
};

const armed: Armed = {
  format: ARMED_FORMAT, bundle: "/var/lib/purgatory/bundle", armedAt: "2025-01-01T00:00:00.000Z",
  boot: { bootId: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", vmcoreinfo: 0x4fe0b000n, crashNotes: [{ cpu: 0, address: 0x7fbd0000n }], kernelCode: null },
  kernel: { path: "/boot/Image", sha256: "a".repeat(64), size: 1 }, initrd: { path: "/boot/c.cpio.gz", sha256: "b".repeat(64), size: 2 },
  cpus: [0], memory: ["0x40000000-0x80000000"], commandLine: "console=ttyAMA0", loader: "/bin/loader",
};

describe("armed.json", () => {
  it("reads back what was written, bigints included", () => {
    const p = join(dir, "armed.json");
    writeFileSync(p, serializeArmed(armed));
    expect(readArmed(p)).toEqual(armed);
    expect(readArmed(join(dir, "none.json"))).toBeNull();
  });

  it("refuses a file that is not an armed record with BAD_STATE", () => {
    const p = join(dir, "bad.json");
    writeFileSync(p, JSON.stringify({ format: "something/1" }));
    expect(code(() => readArmed(p))).toBe("BAD_STATE");
  });
});

describe("the live system", () => {
  const root = mkdtempSync(join(dir, "root-"));
  const put = (p: string, text: string) => {
    const f = join(root, p);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, text);
  };

  it("needs /proc/sys/kernel/random/boot_id to arm (NO_BOOT_ID)", () => {
    put("proc/iomem", "40000000-7fffffff : System RAM\n  40210000-40ffffff : Kernel code\n  60000000-6fffffff : Crash kernel\n");
    put("proc/cmdline", "console=ttyAMA0 crashkernel=256M\n");
    put("sys/kernel/kexec_crash_loaded", "0\n");
    const auxv = Buffer.alloc(32);
    auxv.writeBigUInt64LE(6n, 0); // AT_PAGESZ
    auxv.writeBigUInt64LE(4096n, 8);
    mkdirSync(join(root, "proc/self"), { recursive: true });
    writeFileSync(join(root, "proc/self/auxv"), auxv);
    expect(code(() => describeThisBoot(root))).toBe("NO_BOOT_ID");
  });

  it("reports disarmed while nothing is loaded, foreign for an image it did not record", () => {
    expect(kdumpStatus(root, join(dir, "state")).state).toBe("disarmed");
    put("sys/kernel/kexec_crash_loaded", "1\n");
    expect(kdumpStatus(root, join(dir, "state")).state).toBe("foreign");
  });

  it("says the loader cannot be started (NO_LOADER) or refused (LOAD_FAILED)", () => {
    expect(code(() => runLoader(join(dir, "no-such-loader"), []))).toBe("NO_LOADER");
    expect(code(() => disarmKdump(root, join(dir, "state"), "/bin/false"))).toBe("LOAD_FAILED");
  });
});
