import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { sha256 } from "./_agent.js";
import { describeCapture, makeBundle, purgatory, sendBundle } from "./_bundle.js";
import { DUMP_DH_COMPRESSED_INCOMPLETE, DUMP_DH_COMPRESSED_LZO, copyOut, makeExt4, names, readKdumpHeader } from "./_disk.js";
import { GUEST_KERNEL, agentInitramfs, bootProduction, buildLoader, crash, type Production } from "./_guest.js";
import { Timeline, keepConsole, type Machine } from "./_machine.js";

// Issue 12 §1: the capture initramfs saves the dump to disk. `purgatory
// initramfs` builds it from the provisioned sysroot (busybox, makedumpfile
// and its libraries, the virtio block modules of Debian's cloud kernel). The
// production guest of the kdump cycle (Debian's cloud kernel, crashkernel=256M,
// 2 CPUs) has a virtio disk holding an ext4 file system made on the host; it
// describes itself, loads a crash bundle with that initramfs, writes a marker
// to its log and crashes. The capture kernel's /init must save dmesg.txt,
// vmcore and status.json on the disk and reboot; the host then reads the disk
// with debugfs and the vmcore with Debian's own makedumpfile (run by
// qemu-aarch64). Then the failure paths: a disk too small for the dump, and
// no dump device at all.

const MACHINE_MS = 8 * 60_000;
const STEP_MS = 90_000;
const CAPTURE_MS = 240_000;
const assets = loadAssets();
const work = mkdtempSync(join(tmpdir(), "cycle-capture-"));
const LABEL = "pgdump";
const MODULES = "virtio_blk,virtio_pci";
/** The capture kernel's command line: no marker, so the marker can only come from the dump. */
const CAPTURE_CMDLINE = "console=ttyAMA0 nr_cpus=1 reset_devices panic=-1";
const GUEST_CAPTURE = "/boot/capture.cpio.gz";
const GUEST_CAPTURE_MISSING = "/boot/capture-missing.cpio.gz";
const timeline = new Timeline();

interface Built {
  readonly path: string;
  readonly sha256: string;
  readonly report: {
    compressedBytes: string;
    cpioBytes: string;
    unpackedBytes: string;
    libraries: { soname: string }[];
    modules: { load: { name: string; path: string; compression: string }[]; builtin: string[]; dependencySource: string } | null;
    busybox: { static: boolean };
  };
}

/** `purgatory initramfs --sysroot … ARGS --json -o PATH`. */
function buildCapture(path: string, args: readonly string[]): Built {
  const full = ["initramfs", "-o", path, "--sysroot", assets.sysroot, "--modules", MODULES, ...args, "--json"];
  const r = purgatory(full);
  if (r.status !== 0) throw new Error(`purgatory ${full.join(" ")} exited with ${String(r.status)}:\n${r.stdout}${r.stderr}`);
  return { path, sha256: sha256(readFileSync(path)), report: JSON.parse(r.stdout) as Built["report"] };
}

let capture: Built;
let missing: Built;
let production: string;
const machines: [string, Machine][] = [];

beforeAll(() => {
  capture = buildCapture(join(work, "capture.cpio.gz"), ["--dump-to", `LABEL=${LABEL}`, "--fs-type", "ext4", "--wait", "30"]);
  missing = buildCapture(join(work, "capture-missing.cpio.gz"), ["--dump-to", `UUID=${randomUUID()}`, "--fs-type", "ext4", "--wait", "3", "--failure-action", "poweroff"]);
  production = join(work, "production.cpio");
  writeFileSync(production, agentInitramfs(assets, [
    { path: "/bin/loader", mode: 0o755, data: readFileSync(buildLoader()) },
    { path: GUEST_KERNEL, data: readFileSync(assets.kernel.image.path) },
    { path: GUEST_CAPTURE, data: readFileSync(capture.path) },
    { path: GUEST_CAPTURE_MISSING, data: readFileSync(missing.path) },
  ]));
}, 120_000);

afterAll(async () => {
  for (const [name, m] of machines) await keepConsole(m, name);
  rmSync(work, { recursive: true, force: true });
  console.log(timeline.format("capture-disk timings", "echo c"));
});

/**
 * Boots the production guest with `disk` (if any) as a virtio-blk-pci drive,
 * loads a crash bundle whose initrd is `initrd` (found in the guest by digest)
 * and crashes it after writing a fresh marker to the kernel's log.
 */
async function crashWith(name: string, initrd: Built, guestPath: string, disk: string | null): Promise<{ p: Production; marker: string; crashedAt: number }> {
  const extraArgs = disk === null ? [] : ["-drive", `file=${disk},format=raw,if=none,id=dump`, "-device", "virtio-blk-pci,drive=dump"];
  const p = await bootProduction({ kernel: assets.kernel.image, production }, MACHINE_MS, { extraArgs });
  machines.push([name, p.machine]);
  const capturePath = join(work, `${name}.capture`);
  writeFileSync(capturePath, p.capture);
  const targetJson = describeCapture(capturePath, join(work, `${name}-target.json`));
  const marker = randomUUID();
  const dir = makeBundle({ mode: "crash", targetJson, kernelPath: assets.kernel.image.path, initrdPath: initrd.path, commandLine: CAPTURE_CMDLINE, outDir: join(work, `${name}-bundle`), seed: marker.replaceAll("-", "") });
  const local = new Map([[assets.kernel.image.sha256, GUEST_KERNEL], [initrd.sha256, guestPath]]);
  const sent = await sendBundle(p.agent, dir, "/bundle", local, STEP_MS);
  expect(sent.linked.length).toBe(2); // the kernel and the capture initramfs: by digest, not over the console
  const load = await p.agent.run("loader /bundle && cat /sys/kernel/kexec_crash_loaded", STEP_MS);
  expect(load.status, load.output).toBe(0);
  const crashed = await crash(p, marker, STEP_MS);
  return { p, marker, crashedAt: crashed.line.t };
}

/** The console lines of the capture /init ("purgatory-capture: …"). */
const captureLines = (m: Machine) => m.lines.map((l) => l.text).filter((t) => t.includes("purgatory-capture: "));

describe("purgatory initramfs from the provisioned sysroot", () => {
  it("takes static busybox, makedumpfile's 8 libraries and the virtio modules in load order (ext4 is built into Debian's cloud kernel)", () => {
    const r = capture.report;
    expect(r.busybox.static).toBe(true);
    expect(r.libraries.map((l) => l.soname)).toEqual(["ld-linux-aarch64.so.1", "libbz2.so.1.0", "libc.so.6", "libdw.so.1", "libelf.so.1", "liblzma.so.5", "liblzo2.so.2", "libz.so.1"]);
    // No modules.dep in a tree unpacked from .deb files: the order comes from each module's .modinfo depends=.
    expect(r.modules?.dependencySource).toBe(".modinfo");
    const order = r.modules?.load.map((m) => m.name) ?? [];
    expect(new Set(order)).toEqual(new Set(["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_blk", "virtio_pci"]));
    const before = (a: string, b: string) => expect(order.indexOf(a), `${a} before ${b}`).toBeLessThan(order.indexOf(b));
    before("virtio_ring", "virtio");
    before("virtio", "virtio_blk");
    before("virtio", "virtio_pci");
    before("virtio_pci_modern_dev", "virtio_pci");
    before("virtio_pci_legacy_dev", "virtio_pci");
    console.log(`capture initramfs: ${Number(r.compressedBytes)} bytes gzip, cpio ${Number(r.cpioBytes)} bytes, unpacked ${Number(r.unpackedBytes)} bytes`);
  });

  it("gives the same bytes for the same inputs", () => {
    const again = buildCapture(join(work, "again.cpio.gz"), ["--dump-to", `LABEL=${LABEL}`, "--fs-type", "ext4", "--wait", "30"]);
    expect(again.sha256).toBe(capture.sha256);
  });
});

describe("the capture initramfs after a real crash", () => {
  it(`saves dmesg.txt, vmcore and status.json on the ext4 disk named by LABEL=, then reboots; the host reads the marker from the saved vmcore`, async (ctx) => {
    const tree = join(work, "disk-tree");
    mkdirSync(join(tree, "var", "crash"), { recursive: true });
    const disk = join(work, "dump.img");
    makeExt4(disk, 512, LABEL, tree);
    const { p, marker, crashedAt } = await crashWith("capture-disk", capture, GUEST_CAPTURE, disk);
    const m = p.machine;
    ctx.onTestFailed(() => console.error(m.transcript()));
    timeline.mark("echo c", crashedAt);
    const started = await m.next(/purgatory-capture: started at/, CAPTURE_MS, "the capture /init");
    timeline.mark("capture /init", started.line.t);
    const done = await m.next(/purgatory-capture: (SAVED|FAILED) /, CAPTURE_MS, "the capture's verdict");
    timeline.mark("dump saved", done.line.t);
    expect(done.match[1], done.line.text).toBe("SAVED");
    const exit = await m.exited;
    expect(exit.code, "QEMU ends (-no-reboot) when the capture kernel reboots").toBe(0);
    expect(m.lines.some((l) => l.text.includes("reboot: Restarting system"))).toBe(true);
    expect(captureLines(m).filter((t) => t.includes("FAILED"))).toEqual([]);

    // The disk, read on the host without mounting it.
    const crashDir = copyOut(disk, "/var/crash", join(work, "out"));
    const stamps = names(crashDir);
    expect(stamps).toHaveLength(1);
    const stamp = stamps[0] as string;
    expect(stamp).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    const d = join(crashDir, stamp);
    expect(names(d)).toEqual(["dmesg.txt", "status.json", "vmcore"]);
    const status = JSON.parse(readFileSync(join(d, "status.json"), "utf8")) as Record<string, unknown> & {
      dmesg: Record<string, unknown>; collector: Record<string, unknown>; uptime: Record<string, number>;
    };
    expect(status).toMatchObject({
      format: "purgatory-capture-status/1", result: "success", failedStep: null, message: null,
      dumpTo: `LABEL=${LABEL}`, device: "/dev/vda", fsType: "ext4", directory: `/var/crash/${stamp}`,
      captureKernel: assets.kernel.release, action: "reboot",
    });
    expect(String(status["bootId"]).slice(0, 8)).toBe(stamp.slice(-8));
    const vmcoreSize = statSync(join(d, "vmcore")).size;
    expect(status.collector).toMatchObject({ command: "makedumpfile -l -d 31", file: "vmcore", exitStatus: 0, bytes: vmcoreSize });
    expect(status.dmesg).toMatchObject({ file: "dmesg.txt", exitStatus: 0, bytes: statSync(join(d, "dmesg.txt")).size, messages: null });
    // /proc/vmcore covers the crashed kernel's RAM: 1 GiB less the 256 MiB crashkernel region, plus headers.
    expect(status["vmcoreBytes"]).toBeGreaterThan(700 << 20);
    const u = status.uptime;
    expect(u["init"]).toBeLessThanOrEqual(u["deviceReady"] as number);
    expect(u["deviceReady"]).toBeLessThanOrEqual(u["mounted"] as number);
    expect(u["mounted"]).toBeLessThanOrEqual(u["saved"] as number);

    // The crashed kernel's log, saved first, holds the marker it was given just before the crash.
    expect(readFileSync(join(d, "dmesg.txt"), "utf8")).toContain(`PURGATORY-MARKER ${marker}`);
    // The vmcore is a complete kdump-compressed file (makedumpfile -l -d 31) of the crashed kernel.
    const h = readKdumpHeader(new Uint8Array(readFileSync(join(d, "vmcore")).subarray(0, 8192)));
    expect(h).toMatchObject({ signature: "KDUMP   ", sysname: "Linux", release: assets.kernel.release, machine: "aarch64", blockSize: 4096, nrCpus: 2, dumpLevel: 31 });
    expect(h.status & DUMP_DH_COMPRESSED_LZO).toBe(DUMP_DH_COMPRESSED_LZO);
    expect(h.status & DUMP_DH_COMPRESSED_INCOMPLETE).toBe(0);
    // And Debian's makedumpfile, run on the host by qemu-aarch64 against the sysroot, reads the marker out of it.
    const hostDmesg = join(work, "host-dmesg.txt");
    execFileSync("qemu-aarch64", ["-L", assets.sysroot, join(assets.sysroot, "usr/bin/makedumpfile"), "--dump-dmesg", join(d, "vmcore"), hostDmesg], { stdio: "pipe" });
    expect(readFileSync(hostDmesg, "utf8")).toContain(`PURGATORY-MARKER ${marker}`);

    const seconds = (u["saved"] as number) - (u["init"] as number);
    console.log(
      `capture to disk: /init start to dump saved ${seconds.toFixed(2)} s (capture kernel's uptime ${u["init"]} → ${u["saved"]} s; dmesg ${String(status.dmesg["seconds"])} s, ` +
        `makedumpfile -l -d 31 ${String(status.collector["seconds"])} s for ${vmcoreSize} bytes of ${String(status["vmcoreBytes"])}); ` +
        `crash to SAVED ${((done.line.t - crashedAt) / 1000).toFixed(1)} s on the host's clock`,
    );
  }, MACHINE_MS);

  it(`on a disk too small for the dump: keeps dmesg.txt and vmcore.incomplete, status.json says the collector failed, one FAILED line, the failure action`, async (ctx) => {
    const tree = join(work, "small-tree");
    mkdirSync(tree, { recursive: true });
    const disk = join(work, "small.img");
    makeExt4(disk, 8, LABEL, tree);
    const { p, marker } = await crashWith("capture-full", capture, GUEST_CAPTURE, disk);
    const m = p.machine;
    ctx.onTestFailed(() => console.error(m.transcript()));
    const done = await m.next(/purgatory-capture: (SAVED|FAILED) /, CAPTURE_MS, "the capture's verdict");
    expect(done.match[1], done.line.text).toBe("FAILED");
    expect(done.line.text).toMatch(/purgatory-capture: FAILED collector: makedumpfile -l -d 31 exited with \d+: .*No space left on device.*; failure action: reboot$/);
    expect((await m.exited).code).toBe(0);
    expect(captureLines(m).filter((t) => /FAILED|SAVED/.test(t))).toHaveLength(1);

    const crashDir = copyOut(disk, "/var/crash", join(work, "out-small"));
    const [stamp] = names(crashDir);
    const d = join(crashDir, stamp as string);
    expect(names(d)).toEqual(["dmesg.txt", "status.json", "vmcore.incomplete"]);
    const status = JSON.parse(readFileSync(join(d, "status.json"), "utf8")) as Record<string, unknown> & { collector: Record<string, unknown> };
    expect(status).toMatchObject({ result: "failure", failedStep: "collector", action: "reboot" });
    expect(status.collector["file"]).toBe("vmcore.incomplete");
    expect(status.collector["exitStatus"]).not.toBe(0);
    expect(String(status.collector["messages"])).toMatch(/No space left on device/);
    expect(readFileSync(join(d, "dmesg.txt"), "utf8")).toContain(`PURGATORY-MARKER ${marker}`);
  }, MACHINE_MS);

  it(`without the dump device: waits the bounded --wait, prints one FAILED line and runs the failure action (poweroff), not the final one`, async (ctx) => {
    const { p } = await crashWith("capture-missing", missing, GUEST_CAPTURE_MISSING, null);
    const m = p.machine;
    ctx.onTestFailed(() => console.error(m.transcript()));
    const started = await m.next(/purgatory-capture: started at/, CAPTURE_MS, "the capture /init");
    const failed = await m.next(/purgatory-capture: (SAVED|FAILED) /, CAPTURE_MS, "the capture's verdict");
    expect(failed.line.text).toMatch(/purgatory-capture: FAILED device: UUID=[0-9a-f-]+ did not appear within 3 s \(block devices: .*\); failure action: poweroff$/);
    const waited = failed.line.t - started.line.t;
    expect(waited).toBeGreaterThanOrEqual(3000);
    expect(waited).toBeLessThan(60_000);
    expect((await m.exited).code).toBe(0);
    expect(m.lines.some((l) => l.text.includes("reboot: Power down"))).toBe(true);
    expect(captureLines(m).filter((t) => /FAILED|SAVED/.test(t))).toHaveLength(1);
    console.log(`no dump device: FAILED ${(waited / 1000).toFixed(1)} s after /init started (--wait 3), then poweroff`);
  }, MACHINE_MS);
});
