import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { busyboxInitramfs, type CpioEntry } from "../../toolchain/initramfs/index.js";
import { REPO, purgatory } from "./_bundle.js";
import { copyOut, makeExt4, names } from "./_disk.js";
import { GUEST_KERNEL, buildLoader, productionAppend, programFiles } from "./_guest.js";
import { Machine, Timeline, keepConsole } from "./_machine.js";

// Issue 12 §2 and §3: kdump armed by the target itself. The production
// guest's initramfs holds Debian 12's node 18 with its libraries, the built
// project, the loader, the kernel Image and the capture initramfs; its /init
// (guest/kdump-service.sh) runs `purgatory kdump status`, `kdump arm`, `kdump
// status`, writes a marker to the kernel's log and crashes. The capture kernel
// boots through our purgatory, saves the dump on the ext4 disk and reboots;
// QEMU (without -no-reboot) starts the production kernel again, whose /init
// finds the dump, reads the marker out of the saved vmcore with makedumpfile,
// checks that the loader refuses the previous boot's bundle, and powers off.
// The failure path: the same machine without its dump disk; the capture
// initramfs waits its bounded time, says so, reboots, and the production
// kernel comes back up.

const MACHINE_MS = 10 * 60_000;
const BOOT_MS = 300_000;
const assets = loadAssets();
const work = mkdtempSync(join(tmpdir(), "cycle-kdump-service-"));
const LABEL = "pgdump";
const timeline = new Timeline();
let production: string;
let captureReport: { compressedBytes: string; unpackedBytes: string; modules: { load: { name: string; path: string }[] } | null };
let machine: Machine | undefined;
let noDisk: Machine | undefined;
const failureTimeline = new Timeline();

/** Every regular file under `dir` (symlinks left out: Debian's node loads the real files), as entries at `guestDir`. */
function tree(dir: string, guestDir: string): CpioEntry[] {
  const out: CpioEntry[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push({ path: join(guestDir, relative(dir, p)), mode: st.mode & 0o777, data: readFileSync(p) });
    }
  };
  walk(dir);
  return out;
}

beforeAll(() => {
  // The capture initramfs, off-target from the provisioned sysroot.
  const makeCapture = (out: string, wait: number) => {
    const r = purgatory(["initramfs", "-o", out, "--sysroot", assets.sysroot, "--modules", "virtio_blk,virtio_pci", "--dump-to", `LABEL=${LABEL}`, "--fs-type", "ext4", "--wait", String(wait), "--json"]);
    if (r.status !== 0) throw new Error(`purgatory initramfs failed:\n${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout) as typeof captureReport;
  };
  const capture = join(work, "capture.cpio.gz");
  captureReport = makeCapture(capture, 30);
  // The failure path's: the same, waiting 5 s for its device.
  const captureNoDisk = join(work, "capture-nodisk.cpio.gz");
  makeCapture(captureNoDisk, 5);
  const modules = captureReport.modules?.load ?? [];

  // The project as installed on a target: the bundled CLI, the prebuilt
  // purgatory with the sources its key covers, package.json, and keystone-wasm's
  // package.json (its version is part of that key; Keystone itself is not loaded).
  const project = "/opt/purgatory";
  const ks = join(REPO, "node_modules", "keystone-wasm");
  const entries: CpioEntry[] = [
    { path: "/etc/modules.order", data: modules.map((m) => m.path).join("\n") + "\n" },
    ...modules.map((m) => ({ path: m.path, data: readFileSync(join(assets.sysroot, m.path)) })),
    ...programFiles(assets.nodejs, "node"),
    ...tree(join(assets.nodejs.root, "usr/share/nodejs"), "/usr/share/nodejs"),
    ...programFiles(assets.makedumpfile, "makedumpfile"),
    { path: `${project}/package.json`, data: readFileSync(join(REPO, "package.json")) },
    ...tree(join(REPO, "dist", "bin"), `${project}/dist/bin`),
    { path: `${project}/dist/purgatory-default.json`, data: readFileSync(join(REPO, "dist", "purgatory-default.json")) },
    ...tree(join(REPO, "templates"), `${project}/templates`),
    ...tree(join(REPO, "purgatory-src"), `${project}/purgatory-src`),
    { path: `${project}/node_modules/keystone-wasm/package.json`, data: readFileSync(join(ks, "package.json")) },
    { path: `${project}/node_modules/keystone-wasm/dist/index.cjs`, data: readFileSync(join(ks, "dist", "index.cjs")) },
    { path: "/bin/purgatory", mode: 0o755, data: `#!/bin/sh\nexec node ${project}/dist/bin/purgatory.mjs "$@"\n` },
    { path: "/bin/loader", mode: 0o755, data: readFileSync(buildLoader()) },
    { path: GUEST_KERNEL, data: readFileSync(assets.kernel.image.path) },
    { path: "/boot/capture.cpio.gz", data: readFileSync(capture) },
    { path: "/boot/capture-nodisk.cpio.gz", data: readFileSync(captureNoDisk) },
  ];
  production = join(work, "production.cpio");
  writeFileSync(production, busyboxInitramfs({
    busybox: readFileSync(assets.busybox.binary.path),
    applets: ["sh", "mount", "umount", "cat", "poweroff", "dmesg", "insmod", "sleep", "tr", "grep", "tail", "cp", "mkdir", "sync"],
    init: readFileSync(join(REPO, "test", "cycle", "guest", "kdump-service.sh"), "utf8"),
    // node and makedumpfile share the dynamic linker and libc: each path once.
    extra: [{ path: "/tmp", directory: true }, ...[...new Map(entries.map((e) => [e.path, e])).values()]],
  }));
}, 180_000);

afterAll(async () => {
  if (machine !== undefined) await keepConsole(machine, "kdump-service");
  if (noDisk !== undefined) await keepConsole(noDisk, "kdump-service-nodisk");
  rmSync(work, { recursive: true, force: true });
  console.log(timeline.format("kdump service timings", "echo c"));
  console.log(failureTimeline.format("kdump service failure path (no dump disk) timings", "echo c"));
});

const json = (s: string) => JSON.parse(s) as Record<string, unknown>;

describe("purgatory kdump on the guest, from a crash to a dump on disk and the machine back up", () => {
  it("arms on the guest with Debian 12's node 18, saves the dump through the capture initramfs, reboots, and the next boot reads the marker from the saved vmcore", async (ctx) => {
    const treeDir = join(work, "disk-tree");
    mkdirSync(join(treeDir, "var", "crash"), { recursive: true });
    const disk = join(work, "dump.img");
    makeExt4(disk, 512, LABEL, treeDir);
    const m = new Machine({
      kernel: assets.kernel.image.path, initrd: production, append: productionAppend(), memory: "1G", smp: 2, reboot: true, timeoutMs: MACHINE_MS,
      extraArgs: ["-drive", `file=${disk},format=raw,if=none,id=dump`, "-device", "virtio-blk-pci,drive=dump"],
    });
    machine = m;
    ctx.onTestFailed(() => console.error(m.transcript()));

    const init = await m.next(/@@INIT ([\d.]+) boot ([0-9a-f-]+)@@/, BOOT_MS, "the first /init");
    const firstBoot = init.match[2] as string;
    timeline.mark("/init", init.line.t);
    const node = await m.next(/@@NODE ([\d.]+) ([\d.]+)@@/, BOOT_MS, "node -e 0");
    const before = await m.next(/@@STATUS-BEFORE (.*)@@/, BOOT_MS, "kdump status before arming");
    expect(json(before.match[1] as string)).toMatchObject({ state: "disarmed", loaded: false, bundle: null });
    const arm = await m.next(/@@ARM (\d+) ([\d.]+) ([\d.]+) (.*)@@/, BOOT_MS, "kdump arm");
    expect(arm.match[1], arm.match[4]).toBe("0");
    const armed = json(arm.match[4] as string) as { state: string; bootId: string; bundle: string; commandLine: string; ms: Record<string, number> };
    expect(armed).toMatchObject({ state: "armed", bootId: firstBoot, bundle: "/var/lib/purgatory/bundle" });
    expect(armed.commandLine).toBe("console=ttyAMA0 panic=-1 rdinit=/init nr_cpus=1 reset_devices");
    const after = await m.next(/@@STATUS-AFTER (.*)@@/, BOOT_MS, "kdump status after arming");
    expect(json(after.match[1] as string)).toMatchObject({ state: "armed", loaded: true, bootId: firstBoot, changes: [] });
    expect((await m.next(/@@CRASHLOADED (\d)@@/, BOOT_MS)).match[1]).toBe("1");
    const crashed = await m.next(/@@CRASH ([\d.]+)@@/, BOOT_MS, "the crash");
    timeline.mark("echo c", crashed.line.t);

    const capInit = await m.next(/purgatory-capture: started at/, BOOT_MS, "the capture /init");
    timeline.mark("capture /init", capInit.line.t);
    const saved = await m.next(/purgatory-capture: (SAVED|FAILED) /, BOOT_MS, "the capture's verdict");
    timeline.mark("dump saved", saved.line.t);
    expect(saved.match[1], saved.line.text).toBe("SAVED");

    const again = await m.next(/@@INIT ([\d.]+) boot ([0-9a-f-]+)@@/, BOOT_MS, "the production /init after the reboot");
    timeline.mark("production /init again", again.line.t);
    expect(again.match[2]).not.toBe(firstBoot);
    const back = await m.next(/@@STATUS-BACK (.*)@@/, BOOT_MS, "kdump status after the reboot");
    expect(json(back.match[1] as string)).toMatchObject({ state: "disarmed", loaded: false });
    const old = await m.next(/@@OLD-BUNDLE (\d+) (\d+) (.*)@@/, BOOT_MS, "the loader on the previous boot's bundle");
    expect(old.match[1]).toBe("1");
    expect(old.match[3]).toMatch(/moved: boot_id [0-9a-f-]+ -> [0-9a-f-]+/);
    expect((await m.next(/@@CRASHLOADED (\d)@@/, BOOT_MS)).match[1]).toBe("0");
    const verdict = await m.next(/@@VERDICT (OK|FAIL) (.*)@@/, BOOT_MS, "the verdict");
    expect(verdict.match[1], verdict.match[2]).toBe("OK");
    expect((await m.exited).code).toBe(0);

    // The disk, read on the host.
    const crashDir = copyOut(disk, "/var/crash", join(work, "out"));
    const stamps = names(crashDir);
    expect(stamps).toHaveLength(1);
    const d = join(crashDir, stamps[0] as string);
    expect(names(d)).toEqual(["dmesg.txt", "status.json", "vmcore"]);
    const status = json(readFileSync(join(d, "status.json"), "utf8"));
    expect(status).toMatchObject({ result: "success", action: "reboot" });
    const marker = readFileSync(join(copyOut(disk, "/marker", join(work, "marker-out"))), "utf8").trim();
    expect(verdict.match[2]).toContain(marker);
    expect(readFileSync(join(d, "dmesg.txt"), "utf8")).toContain(`PURGATORY-MARKER ${marker}`);

    const s = (x: string | undefined) => Number(x);
    console.log(
      `kdump service: node -e 0 ${(s(node.match[2]) - s(node.match[1])).toFixed(2)} s; purgatory kdump arm ${(s(arm.match[3]) - s(arm.match[2])).toFixed(2)} s on the guest's clock ` +
        `(inside: ${JSON.stringify(armed.ms)} ms); capture initramfs ${Number(captureReport.compressedBytes)} bytes gzip, ${Number(captureReport.unpackedBytes)} unpacked; ` +
        `crash → capture /init ${((capInit.line.t - crashed.line.t) / 1000).toFixed(1)} s, capture /init → saved ${((saved.line.t - capInit.line.t) / 1000).toFixed(1)} s, ` +
        `crash → production /init again ${((again.line.t - crashed.line.t) / 1000).toFixed(1)} s (host clock)`,
    );
  }, MACHINE_MS);

  it("without the dump disk: the capture waits its bounded 5 s, says why, runs the failure action (reboot), and the production kernel comes back up", async (ctx) => {
    const m = new Machine({
      kernel: assets.kernel.image.path, initrd: production, append: `${productionAppend()} pgtest=nodisk`, memory: "1G", smp: 2, reboot: true, timeoutMs: MACHINE_MS,
    });
    noDisk = m;
    ctx.onTestFailed(() => console.error(m.transcript()));
    const init = await m.next(/@@INIT ([\d.]+) boot ([0-9a-f-]+)@@/, BOOT_MS, "the first /init");
    const firstBoot = init.match[2] as string;
    const arm = await m.next(/@@ARM (\d+) ([\d.]+) ([\d.]+) (.*)@@/, BOOT_MS, "kdump arm");
    expect(arm.match[1], arm.match[4]).toBe("0");
    const crashed = await m.next(/@@CRASH ([\d.]+)@@/, BOOT_MS, "the crash");
    failureTimeline.mark("echo c", crashed.line.t);
    const capInit = await m.next(/purgatory-capture: started at/, BOOT_MS, "the capture /init");
    failureTimeline.mark("capture /init", capInit.line.t);
    const failed = await m.next(/purgatory-capture: (SAVED|FAILED) (.*)/, BOOT_MS, "the capture's verdict");
    failureTimeline.mark("capture gives up", failed.line.t);
    expect(failed.match[1], failed.line.text).toBe("FAILED");
    expect(failed.match[2]).toMatch(/^device: LABEL=pgdump did not appear within 5 s .*; failure action: reboot/);
    // Bounded: the wait, not a hang (the capture /init starts it at once).
    expect(failed.line.t - capInit.line.t).toBeGreaterThanOrEqual(5000);
    expect(failed.line.t - capInit.line.t).toBeLessThan(60_000);
    const again = await m.next(/@@INIT ([\d.]+) boot ([0-9a-f-]+)@@/, BOOT_MS, "the production /init after the failure action");
    failureTimeline.mark("production /init again", again.line.t);
    expect(again.match[2]).not.toBe(firstBoot);
    await m.stop();
  }, MACHINE_MS);
});
