import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { parseCalibration } from "../../toolchain/crashkernel/index.js";
import { purgatoryAsync } from "./_bundle.js";
import { buildLoader } from "./_guest.js";

// Issue 13 §2 and §3: `purgatory crashkernel --calibrate --qemu` on one
// configuration (Debian's cloud kernel, the project's capture initramfs from
// `purgatory initramfs`, 1 GiB, 2 CPUs). Each probe is a real crash: the
// production guest boots with crashkernel=SIZE, loads a crash bundle built
// from its own description, and crashes; the capture kernel boots through
// our purgatory and the capture initramfs saves the dump on a virtio disk,
// whose status.json the host reads back.
//
// The search itself is not run here (it takes about 4 probes): a run of it
// (`--calibrate --qemu -m 1G --smp 2`, probes 122 ok, 114 OOM, 118 ok, 116 ok;
// bench/crashkernel-calibrate.ts gives the same for 1 and 4 CPUs, 1 to 4 GiB)
// found 116 MiB. Below it the capture kernel, which reserves its 64 MiB CMA
// area first, runs out of memory while its drivers probe. This test probes
// exactly those two sizes.
const MINIMUM = 116n << 20n;
const BELOW = 114n << 20n;
const RUN_MS = 15 * 60_000;
const assets = loadAssets();
const work = mkdtempSync(join(tmpdir(), "cycle-calibrate-"));
const capture = join(work, "capture.cpio.gz");
let loader: string;

beforeAll(async () => {
  loader = buildLoader();
  const r = await purgatoryAsync([
    "initramfs", "-o", capture, "--sysroot", assets.sysroot, "--modules", "virtio_blk,virtio_pci", "--dump-to", "LABEL=pgdump", "--fs-type", "ext4",
    "--final-action", "poweroff", "--failure-action", "poweroff", "--wait", "30", "--timeout", "600",
  ]);
  if (r.status !== 0) throw new Error(`purgatory initramfs failed:\n${r.stdout}${r.stderr}`);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Probe {
  size: string;
  ok: boolean;
  outcome: string;
  reason: string;
  reached: string | null;
  memory: string | null;
  cma: string | null;
  wallMs: number;
  steps: Record<string, number>;
  status: { result: string; collector: { exitStatus: number; bytes: number }; vmcoreBytes: number; captureKernel: string } | null;
}

describe("purgatory crashkernel --calibrate --qemu, Debian's cloud kernel, 1 GiB, 2 CPUs", () => {
  it(`fails ${BELOW >> 20n} MiB for want of memory and saves the dump at the minimum ${MINIMUM >> 20n} MiB; writes the calibration that minimum implies`, async () => {
    const calibration = join(work, "virt-1g.json");
    const consoles = join(work, "consoles");
    const r = await purgatoryAsync([
      "crashkernel", "--calibrate", "--qemu", "--kernel", assets.kernel.image.path, "--initrd", capture, "--loader", loader,
      "--memory", "1G", "--smp", "2", "--probe", `${BELOW >> 20n}M,${MINIMUM >> 20n}M`, "--write-calibration", calibration,
      "--console-dir", consoles, "--json",
    ]);
    const show = `${r.stderr}\n${r.stdout.slice(0, 4000)}`;
    expect(r.status, show).toBe(0);
    const data = JSON.parse(r.stdout) as {
      probes: Probe[]; minimum: string; failed: string; consistent: boolean; captureCommandLine: string;
      estimate: { minimum: string; recommended: string }; calibrated: { minimum: string; recommended: string };
    };
    const [below, at] = data.probes as [Probe, Probe];
    const console_ = (p: Probe) => readFileSync(join(consoles, `probe-${BigInt(p.size) >> 20n}M-console.txt`), "latin1");

    // Below the minimum: a real crash whose capture kernel ran out of memory, classified from its console.
    expect(BigInt(below.size)).toBe(BELOW);
    expect(below.ok).toBe(false);
    expect(below.outcome, below.reason).toBe("oom");
    expect(below.reason).toMatch(/out of memory|OOM killer/);
    expect(below.reached).not.toBe("saved");
    expect(below.memory).toMatch(/^Memory: \d+K\/116736K available/);
    expect(console_(below)).toMatch(/purgatory: ok, entering kernel/);

    // The minimum: the capture initramfs saved the dump, and status.json on the disk says success.
    expect(BigInt(at.size)).toBe(MINIMUM);
    expect(at.ok, at.reason).toBe(true);
    expect(at.outcome).toBe("saved");
    expect(at.status).toMatchObject({ result: "success", captureKernel: assets.kernel.release, collector: { exitStatus: 0 } });
    expect(at.status!.collector.bytes).toBeGreaterThan(1 << 20);
    expect(at.status!.vmcoreBytes).toBeGreaterThan(800 << 20); // 1 GiB less the reservation, plus headers
    expect(console_(at)).toMatch(/purgatory-capture: SAVED /);
    expect(data.captureCommandLine).toBe("console=ttyAMA0 earlycon panic=-1 nr_cpus=1 reset_devices");

    expect(BigInt(data.minimum)).toBe(MINIMUM);
    expect(BigInt(data.failed)).toBe(BELOW);
    expect(data.consistent).toBe(true);
    // Our estimate's minimum is never below the measured one, and its recommended size within 1.3 x of it.
    expect(BigInt(data.estimate.minimum)).toBeGreaterThanOrEqual(MINIMUM);
    expect(BigInt(data.estimate.recommended)).toBeLessThanOrEqual((MINIMUM * 13n) / 10n);

    // The calibration: the kernel run time that makes the estimate's minimum the measured one, for this kernel release.
    expect(existsSync(calibration)).toBe(true);
    const cal = parseCalibration(readFileSync(calibration, "utf8"), calibration);
    expect(cal.measuredOn).toMatchObject({ kernelRelease: assets.kernel.release, pageSize: 4096 });
    expect(cal.constants.kernelRuntime).toBeGreaterThan(4 << 20);
    expect(BigInt(data.calibrated.minimum)).toBe(MINIMUM);

    for (const p of data.probes) {
      expect(p.steps["echo c"], JSON.stringify(p.steps)).toBeGreaterThan(p.steps["production /init"]!);
      expect(p.wallMs).toBeGreaterThanOrEqual(p.steps["echo c"]!);
    }
    const seconds = (ms: number) => (ms / 1000).toFixed(1);
    console.log(data.probes.map((p) => `probe ${BigInt(p.size) >> 20n} MiB: ${p.outcome} in ${seconds(p.wallMs)} s ` +
      `(production /init ${seconds(p.steps["production /init"]!)} s, echo c ${seconds(p.steps["echo c"]!)} s` +
      `${p.steps["capture /init"] === undefined ? "" : `, capture /init ${seconds(p.steps["capture /init"])} s`}); ${p.reason}`).join("\n"));
  }, RUN_MS);
});
