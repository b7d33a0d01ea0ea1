import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { loadAssets, type Assets } from "../../scripts/assets.js";
import { busyboxInitramfs } from "../../toolchain/initramfs/index.js";
import { parseManifest } from "../../toolchain/bundle/manifest.js";
import { PT_LOAD, readElf, type ProgramHeader } from "../../toolchain/elf/index.js";
import { parseTarget, type Target } from "../../toolchain/target/index.js";
import { frameIn, parseReply } from "./_agent.js";
import { describeCapture, makeBundleAsync, purgatoryAsync, sendBundle, type CliResult } from "./_bundle.js";
import {
  GUEST_KERNEL,
  GUEST_STAGE2,
  bootProduction,
  captureCommandLine,
  crash,
  emulatedInitramfs,
  prepareGuest,
  rebootCommandLine,
  type Guest,
  type Production,
} from "./_guest.js";
import { Timeline, keepConsole } from "./_machine.js";
import { ZCU102_UART0, zcu102GuestDtb } from "./_zcu102.js";

// Issue 11: a second machine family, QEMU's xlnx-zcu102 (four Cortex-A53,
// RAM at 0, a Cadence UART at 0xff000000, PSCI over SMC), with Debian's
// generic kernel and the ZCU102 device tree it ships. One production guest
// serves the whole file: its own description (collect-target.sh over the
// console) makes the target of two emulated boots (`purgatory boot`, which
// picks the machine from the bundle's DTB) and of the real kdump cycle at the
// end, which crashes it. The bundles take the purgatory's console from the
// target (`--console auto`: the Cadence UART at 0xff000000) and its PSCI
// conduit (SMC); what is asserted is the kernel's own output (earlycon, then
// ttyPS0) and the markers of its /init (QEMU starts the emulated boot's UART
// with its transmitter off, which only a firmware or a kernel turns on). A last boot uses the DTB exactly as Debian ships it, where
// only earlycon prints and /init speaks through /dev/kmsg.

const MACHINE_MS = 12 * 60_000;
const STEP_MS = 90_000;
/** `purgatory boot --timeout`, seconds: the generic kernel reaches /init in some 10 s under TCG on a busy host. */
const BOOT_S = 150;
const TEST_MS = 5 * 60_000;
/** The kernel prints through earlycon (stdout-path) from its first line, then on ttyPS0. */
const CONSOLE = "earlycon console=ttyPS0";

const work = mkdtempSync(join(tmpdir(), "cycle-zcu102-"));
let assets: Assets;
let guest: Guest;
let dtbPath: string;
let emulatedPath: string;
let prod: Production;
let targetJson: string;
let target: Target;
const timeline = new Timeline();
const mark = (name: string, t = prod.machine.now()) => timeline.mark(name, t);

function showConsoleOnFailure(ctx: TestContext): void {
  ctx.onTestFailed(() => console.error(prod.machine.transcript()));
}

beforeAll(async () => {
  assets = loadAssets();
  guest = prepareGuest(assets, work, assets.genericKernel.image);
  dtbPath = join(work, "zcu102.dtb");
  writeFileSync(dtbPath, zcu102GuestDtb(assets));
  emulatedPath = join(work, "emulated.cpio");
  writeFileSync(emulatedPath, emulatedInitramfs(assets));
  prod = await bootProduction(guest, MACHINE_MS, { machine: "xlnx-zcu102", dtb: dtbPath, smp: 4, console: CONSOLE });
  const linux = prod.machine.lines.find((l) => l.text.includes("Linux version"));
  if (linux !== undefined) mark("kernel banner", linux.t);
  mark("/init", prod.init.t);
  const capturePath = join(work, "target.capture");
  writeFileSync(capturePath, prod.capture);
  targetJson = describeCapture(capturePath, join(work, "target.json"));
  target = parseTarget(readFileSync(targetJson, "utf8"));
  mark("target.json written");
}, 300_000);

afterAll(async () => {
  if (prod !== undefined) await keepConsole(prod.machine, "zcu102");
  rmSync(work, { recursive: true, force: true });
  console.log(timeline.format("xlnx-zcu102 timings", "/init"));
});

describe("the production guest: Debian's generic kernel on xlnx-zcu102, 4 CPUs, 1 GiB at 0, crashkernel=256M", () => {
  it("describes itself: RAM at 0, its Cadence console at 0xff000000 from stdout-path, PSCI over SMC, four PSCI CPUs, crash notes and vmcoreinfo", async (ctx) => {
    showConsoleOnFailure(ctx);
    expect(prod.machine.lines.some((l) => l.text.includes("Machine model: ZynqMP ZCU102 Rev1.0"))).toBe(true);
    expect(target.memory).toEqual([{ start: 0n, end: 0x4000_0000n }]);
    const iomem = (await prod.agent.run("cat /proc/iomem", STEP_MS)).output;
    const crashRange = /^\s*([0-9a-f]+)-([0-9a-f]+) : Crash kernel$/m.exec(iomem);
    expect(crashRange, iomem).not.toBeNull();
    expect(target.crashKernel).toEqual({ start: BigInt(`0x${crashRange![1]}`), end: BigInt(`0x${crashRange![2]}`) + 1n });
    expect(target.console).toEqual({ family: "cadence", compatible: "xlnx,zynqmp-uart", path: ZCU102_UART0, base: 0xff00_0000n, shift: 0, width: 4 });
    expect(target.psci).toBe("smc");
    expect(target.cpuEnableMethod).toEqual(Object.fromEntries([0, 1, 2, 3].map((i) => [`/cpus/cpu@${i}`, "psci"])));
    expect(target.cpuNotes.map((n) => n.cpu)).toEqual([0, 1, 2, 3]);
    expect(target.vmcoreinfo?.text).toContain(`OSRELEASE=${assets.genericKernel.release}\n`);
  }, STEP_MS * 2);
});

interface BootReport {
  readonly outcome: string;
  readonly reason: string;
  readonly banner: string | null;
  readonly machine: { readonly name: string; readonly el2: boolean; readonly smp: number; readonly memory: string };
}

/** `purgatory boot DIR --json ARGS…`: the report and the console, line by line. */
async function boot(ctx: TestContext, dir: string, extra: readonly string[]): Promise<{ report: BootReport; r: CliResult; lines: string[] }> {
  const args = ["boot", dir, "--timeout", String(BOOT_S), "--json", ...extra];
  const r = await purgatoryAsync(args);
  ctx.onTestFailed(() => console.error(`purgatory ${args.join(" ")} exited with ${String(r.status)}\nconsole:\n${r.stderr}\nreport: ${r.stdout}`));
  return { report: JSON.parse(r.stdout) as BootReport, r, lines: r.stderr.split("\n").map((l) => l.replace(/\r+$/, "")) };
}

const loads = (phs: readonly ProgramHeader[]) =>
  phs.filter((p) => p.p_type === PT_LOAD).map((p) => ({ paddr: p.p_paddr, vaddr: p.p_vaddr, memsz: p.p_memsz }));

// Side by side: the production guest only waits on its console meanwhile.
describe.concurrent("emulated kexec on xlnx-zcu102 (purgatory boot), from the guest's own description", () => {
  it.for(["reboot", "crash"] as const)("a %s bundle: the purgatory's console is the target's Cadence UART, and the kernel boots through our purgatory with the bundle's command line", { timeout: TEST_MS }, async (mode, ctx) => {
    const { expect } = ctx;
    const marker = randomUUID();
    const commandLine = rebootCommandLine(marker, CONSOLE);
    const dir = await makeBundleAsync({
      mode, targetJson, kernelPath: guest.kernel.path, initrdPath: emulatedPath, commandLine, outDir: join(work, `emulated-${mode}`), seed: marker.replaceAll("-", ""),
    });
    const manifest = parseManifest(readFileSync(join(dir, "manifest.json"), "utf8"));
    expect(manifest.purgatory).toMatchObject({ console: "cadence@0xff000000", consoleNote: null });
    const verify = JSON.parse((await purgatoryAsync(["verify", dir, "--json"])).stdout) as { ok: boolean; checks: { check: string; ok: boolean }[] };
    expect(verify.ok).toBe(true);
    expect(verify.checks.filter((c) => c.check === "purgatory: console").map((c) => c.ok)).toEqual([true]);

    const { report, r, lines } = await boot(ctx, dir, ["--expect", "^@@DONE [0-9.]+@@$"]);
    expect(report.outcome, report.reason).toBe("success");
    expect(r.status).toBe(0);
    expect(report.machine).toMatchObject({ name: "xlnx-zcu102", el2: false, smp: 4 });
    expect(report.banner).toBe(`Linux version ${assets.genericKernel.release}`);
    expect(lines).toContain("[    0.000000] Machine model: ZynqMP ZCU102 Rev1.0");
    const replies = lines.map((l) => parseReply(l)).filter((x) => x !== null);
    expect(replies.find((x) => x.word === "CMDLINE")?.rest).toBe(commandLine);
    if (mode === "reboot") {
      expect(replies.find((x) => x.word === "CPUS")?.rest).toBe("4");
      expect(replies.some((x) => x.word === "NOVMCORE")).toBe(true);
      return;
    }
    // /proc/vmcore is the bundle's elfcorehdr as the capture kernel rewrites it.
    const head = frameIn(lines, "vmcore.head");
    if (typeof head === "string") throw new Error(`/proc/vmcore's head did not arrive: ${head}`);
    const ours = readElf(new Uint8Array(readFileSync(join(dir, "elfcorehdr.bin"))));
    expect(loads(ours.programHeaders).length).toBeGreaterThan(0);
    expect(loads(readElf(head).programHeaders)).toEqual(loads(ours.programHeaders));
  });
});

describe("the kdump cycle on xlnx-zcu102", () => {
  it("a crash bundle from the guest's own description, loaded with examples/loader: the capture kernel boots through our purgatory and makedumpfile reads the marker", async (ctx) => {
    showConsoleOnFailure(ctx);
    const marker = randomUUID();
    const dir = await makeBundleAsync({
      mode: "crash", targetJson, kernelPath: guest.kernel.path, initrdPath: guest.stage2.path, commandLine: captureCommandLine(marker, CONSOLE),
      outDir: join(work, "kdump"), seed: marker.replaceAll("-", ""),
    });
    mark("crash bundle made");
    const local = new Map([[guest.kernel.sha256, GUEST_KERNEL], [guest.stage2.sha256, GUEST_STAGE2]]);
    const sent = await sendBundle(prod.agent, dir, "/bundle", local, STEP_MS);
    expect(sent.linked.length).toBe(2);
    const load = await prod.agent.run("loader /bundle && cat /sys/kernel/kexec_crash_loaded", STEP_MS);
    expect(load.status, load.output).toBe(0);
    expect(load.output).toMatch(/\n1\n$/);
    mark("loaded");

    const m = prod.machine;
    const crashed = await crash(prod, marker, STEP_MS);
    mark("echo c", crashed.line.t);
    // The purgatory prints on the board's Cadence UART (Linux left it enabled), then the capture kernel's banner follows.
    const banner = await m.next(/Linux version (\S+)/, STEP_MS, "the capture kernel's banner");
    expect(banner.match[1]).toBe(assets.genericKernel.release);
    const said = m.lines.slice(crashed.index, banner.index).map((l) => l.text).filter((t) => t.startsWith("purgatory:"));
    expect(said.length, said.join("\n")).toBeGreaterThan(0);
    expect(said.filter((t) => /mismatch|exception|halted|resetting/.test(t))).toEqual([]);
    mark("capture kernel banner", banner.line.t);
    await m.next(/printk: bootconsole \[cdns0\] enabled/, STEP_MS, "earlycon on the Cadence UART");
    const stage2 = await m.next(/@@STAGE2 /, 240_000, "the capture kernel's /init");
    mark("capture /init", stage2.line.t);
    console.log(`xlnx-zcu102: crash to capture /init: ${(stage2.line.t - crashed.line.t).toFixed(0)} ms (host clock)`);
    const dmesg = await m.next(/@@(PASS|FAIL) (?:DMESG|MARKER) (.*) [0-9.]+@@/, 240_000, "the dmesg verdict");
    expect(dmesg.match[1], dmesg.line.text).toBe("PASS");
    expect(dmesg.match[2]).toContain(`PURGATORY-MARKER ${marker}`);
    const dump = await m.next(/@@(PASS|FAIL) DUMP (.*) [0-9.]+@@/, 480_000, "the dump verdict");
    mark("makedumpfile -l -d 31 done", dump.line.t);
    expect(dump.match[1], dump.line.text).toBe("PASS");
    await m.next(/@@DONE /, STEP_MS);
    expect((await m.exited).code, "QEMU should end when the capture kernel powers off").toBe(0);
  }, MACHINE_MS);
});

describe("the ZCU102 device tree as Debian ships it (no userspace console)", () => {
  it("purgatory target xlnx-zcu102 --dtb, a reboot bundle, purgatory boot: only earlycon prints, and /init speaks through /dev/kmsg", { timeout: TEST_MS }, async (ctx) => {
    const t = join(work, "shipped.json");
    const made = await purgatoryAsync(["target", "xlnx-zcu102", "--dtb", assets.genericKernel.zcu102Dtb.path, "-m", "1G", "-o", t]);
    expect(made.status, made.stderr).toBe(0);
    const marker = randomUUID();
    const init = "#!/bin/sh\nmount -t proc proc /proc\nmount -t devtmpfs devtmpfs /dev\n" +
      `read -r cmdline </proc/cmdline\necho "@@KMSG ${marker} $cmdline@@" >/dev/kmsg\npoweroff -f\n`;
    const initrd = join(work, "kmsg.cpio");
    writeFileSync(initrd, busyboxInitramfs({ busybox: readFileSync(assets.busybox.binary.path), applets: ["sh", "mount", "poweroff"], init }));
    const commandLine = `${CONSOLE} printk.devkmsg=on panic=-1 rdinit=/init`;
    // --console none: QEMU starts this UART with its transmitter off (a firmware would turn it on); the
    // purgatory's output is proven by the kdump cycle above, where Linux had turned it on.
    const dir = await makeBundleAsync({ mode: "reboot", targetJson: t, kernelPath: guest.kernel.path, initrdPath: initrd, commandLine, outDir: join(work, "shipped"), seed: "00", console: "none" });
    const { report, lines } = await boot(ctx, dir, ["--expect", `@@KMSG ${marker} `]);
    expect(report.outcome, report.reason).toBe("success");
    expect(report.machine).toMatchObject({ name: "xlnx-zcu102", smp: 4 });
    const text = lines.join("\n");
    expect(text).toContain("printk: bootconsole [cdns0] enabled");
    expect(text).toContain("Warning: unable to open an initial console.");
    expect(text).toMatch(new RegExp(`^\\[ *[0-9.]+\\] @@KMSG ${marker} ${commandLine}@@$`, "m"));
  });
});
