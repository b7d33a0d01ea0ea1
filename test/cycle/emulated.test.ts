import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it, type TestContext } from "vitest";
import { loadAssets, type Assets } from "../../scripts/assets.js";
import { parseManifest, type Manifest } from "../../toolchain/bundle/manifest.js";
import { readBundle } from "../../toolchain/bundle/read.js";
import { bootBundle } from "../../toolchain/qemu/index.js";
import { NT_PRSTATUS, PT_LOAD, PT_NOTE, parseNotes, readElf, type ProgramHeader } from "../../toolchain/elf/index.js";
import { toNumber } from "../../toolchain/bytes/index.js";
import { parseTarget, type Target } from "../../toolchain/target/index.js";
import { frameIn, parseReply, sha256 } from "./_agent.js";
import { describeCaptureAsync, makeBundleAsync, purgatoryAsync, type CliResult } from "./_bundle.js";
import { agentInitramfs, bootProduction, emulatedInitramfs, rebootCommandLine } from "./_guest.js";
import { keepConsole } from "./_machine.js";

// Issue 5 §4: emulated kexec. `purgatory boot --qemu` (the CLI, from dist/)
// places a bundle's segments in QEMU virt's RAM and starts the CPU at our
// purgatory, which checks every segment and enters Debian's kernel; the
// kernel's /init (guest/emulated.sh) reports its command line, /chosen and,
// after a crash bundle, the head of /proc/vmcore; the host compares them with
// the bundle. Reboot bundles are built for `purgatory target qemu-virt`;
// crash bundles need a target a kernel has run on (CPU crash notes,
// vmcoreinfo), so the production guest boots once per (EL, CPU count) with
// crashkernel=256M and sends collect-target.sh's capture; `purgatory boot`
// plants the notes a crashed kernel leaves at the addresses that capture names.
// Then the purgatory's guard: a kernel segment changed after bundling is
// refused before the kernel runs, under --on-mismatch spin and reset.
//
// The tests run side by side, but at most two QEMU machines at once (the host
// has two cores, shared with other suites).

interface Config {
  readonly el2: boolean;
  readonly smp: number;
}
const CONFIGS: readonly Config[] = [
  { el2: false, smp: 1 },
  { el2: false, smp: 4 },
  { el2: true, smp: 1 },
  { el2: true, smp: 4 },
];
const key = (c: Config) => `el${c.el2 ? 2 : 1}-smp${c.smp}`;
/** For test names. */
const label = (c: Config) => `EL${c.el2 ? 2 : 1} with ${c.smp} CPU${c.smp === 1 ? "" : "s"}`;
/** A CPU with FEAT_VHE for the VHE boot (see the last describe). */
const VHE_CPU = "max,pauth-impdef=on";
/** `purgatory boot --timeout`, seconds: the kernel reaches /init in some 6 s under TCG on a busy host. */
const BOOT_S = 120;
/** The production guest: QEMU start to the capture received. */
const CAPTURE_MS = 240_000;
/** A test also waits for a free QEMU slot (and a crash test for its capture). */
const TEST_MS = 10 * 60_000;

/** Runs at most `n` jobs at once, first come first served. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.free++;
      else next();
    }
  }
}
const qemuSlots = new Slots(2);

const work = mkdtempSync(join(tmpdir(), "cycle-emulated-"));
let assets: Assets;
let initrdPath: string;
let capturePath: string;
const figures: string[] = [];

beforeAll(() => {
  assets = loadAssets();
  initrdPath = join(work, "emulated.cpio");
  writeFileSync(initrdPath, emulatedInitramfs(assets));
  capturePath = join(work, "capture.cpio");
  writeFileSync(capturePath, agentInitramfs(assets));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  console.log(["emulated kexec timings (host ms; guest uptime in s):", ...figures.sort()].join("\n  "));
});

/** Fails with `what` and the command's output unless it exited 0. */
function succeeded(args: readonly string[], r: CliResult): void {
  if (r.status !== 0) throw new Error(`purgatory ${args.join(" ")} exited with ${String(r.status)}:\n${r.stdout}${r.stderr}`);
}

const once = new Map<string, Promise<string>>();
/** Runs `make` once per name; later calls share its result. */
function memo(name: string, make: () => Promise<string>): Promise<string> {
  let p = once.get(name);
  if (p === undefined) once.set(name, (p = make()));
  return p;
}

/** target.json of `purgatory target qemu-virt [--el2] --smp N` (1 GiB): a machine no kernel has run on. */
function virtTarget(c: Config): Promise<string> {
  return memo(`virt-${key(c)}`, async () => {
    const out = join(work, `virt-${key(c)}.json`);
    const args = ["target", "qemu-virt", "--smp", String(c.smp), ...(c.el2 ? ["--el2"] : []), "-o", out];
    succeeded(args, await purgatoryAsync(args));
    return out;
  });
}

/**
 * target.json of the production guest on `c` (Debian's kernel, crashkernel=256M,
 * 1 GiB): QEMU generates its DTB for that EL (PSCI conduit) and CPU count, and
 * the kernel's crash notes and vmcoreinfo are where a crash would leave them.
 */
function capturedTarget(c: Config): Promise<string> {
  return memo(`captured-${key(c)}`, async () => {
    // bootProduction throws with the console when the capture does not arrive.
    const prod = await qemuSlots.run(async () => {
      const p = await bootProduction({ kernel: { path: assets.kernel.image.path, sha256: assets.kernel.image.sha256 }, production: capturePath }, CAPTURE_MS, c);
      figures.push(`capture ${key(c)}: production /init at ${p.init.t.toFixed(0)} ms, capture received at ${p.machine.now().toFixed(0)} ms`);
      await keepConsole(p.machine, `emulated-capture-${key(c)}`);
      return p;
    });
    const path = join(work, `captured-${key(c)}.capture`);
    writeFileSync(path, prod.capture);
    const out = await describeCaptureAsync(path, join(work, `captured-${key(c)}.json`));
    const t = parseTarget(readFileSync(out, "utf8"));
    if (t.cpuNotes.length !== c.smp || t.vmcoreinfo?.text === undefined || t.crashKernel === null) {
      throw new Error(`the capture on ${key(c)} lacks what a crash bundle needs: ${t.cpuNotes.length} CPU notes, vmcoreinfo ${t.vmcoreinfo?.text === undefined ? "missing" : "present"}, ` +
        `crash kernel ${t.crashKernel === null ? "missing" : "present"}\n${prod.machine.transcript()}`);
    }
    return out;
  });
}

interface BootReport {
  readonly outcome: string;
  readonly reason: string;
  readonly elapsedMs: number;
  readonly banner: string | null;
  readonly machine: { readonly el2: boolean; readonly smp: number; readonly memory: string };
  readonly exitCode: number | null;
  readonly qemuArgs: readonly string[];
}

interface Boot {
  readonly report: BootReport;
  readonly status: number | null;
  /** The serial console, line by line. */
  readonly lines: readonly string[];
}

/**
 * `purgatory boot DIR --qemu [--el2] --smp N --json ARGS…` in a QEMU slot; on
 * a test failure, the command and the whole console are printed.
 */
async function bootCli(ctx: TestContext, dir: string, c: Config, extra: readonly string[]): Promise<Boot> {
  const args = ["boot", dir, "--qemu", "--smp", String(c.smp), ...(c.el2 ? ["--el2"] : []), "--timeout", String(BOOT_S), "--json", ...extra];
  const r = await qemuSlots.run(() => purgatoryAsync(args));
  ctx.onTestFailed(() => console.error(`purgatory ${args.join(" ")} exited with ${String(r.status)}\nconsole:\n${r.stderr}\nreport: ${r.stdout}`));
  let report: BootReport;
  try {
    report = JSON.parse(r.stdout) as BootReport;
  } catch {
    throw new Error(`purgatory boot printed no JSON report (exit ${String(r.status)}):\n${r.stdout}\n${r.stderr}`);
  }
  return { report, status: r.status, lines: r.stderr.split("\n").map((l) => l.replace(/\r+$/, "")) };
}

/** What guest/emulated.sh reported. */
interface GuestReport {
  readonly cmdline: string;
  readonly cpus: number;
  /** Each /chosen property: its bytes in hex. */
  readonly chosen: ReadonlyMap<string, string>;
  /** /proc/vmcore's size, or null when there is none. */
  readonly vmcoreSize: number | null;
  /** Guest uptime (s) when /init printed its first line and its last. */
  readonly initAt: number;
  readonly doneAt: number;
}

function guestReport(lines: readonly string[]): GuestReport {
  const replies = lines.map((l) => parseReply(l)).filter((r) => r !== null);
  const one = (word: string) => {
    const r = replies.filter((x) => x.word === word);
    if (r.length !== 1) throw new Error(`the guest printed @@${word}@@ ${r.length} times, not once`);
    return r[0]!;
  };
  const vmcore = replies.find((r) => r.word === "VMCORE");
  if (vmcore === undefined) one("NOVMCORE");
  return {
    cmdline: one("CMDLINE").rest,
    cpus: Number(one("CPUS").rest),
    chosen: new Map(replies.filter((r) => r.word === "PROP").map((r) => [r.rest.split(" ")[0]!, r.rest.split(" ")[1] ?? ""])),
    vmcoreSize: vmcore === undefined ? null : Number(vmcore.rest),
    initAt: one("CMDLINE").uptime,
    doneAt: one("DONE").uptime,
  };
}

/** The manifest's /chosen properties (`null`: deleted). */
function chosenOf(m: Manifest): Readonly<Record<string, unknown>> {
  return (m.chosen as { properties: Record<string, unknown> }).properties;
}

/**
 * A reg-style /chosen value as the DTB holds it: each (address, size) as two
 * big-endian u64 (QEMU virt's root has #address-cells = #size-cells = 2).
 */
function regHex(ranges: unknown): string {
  const u64 = (v: string) => BigInt(v).toString(16).padStart(16, "0");
  return (ranges as { address: string; size: string }[]).map((r) => u64(r.address) + u64(r.size)).join("");
}

const loads = (phs: readonly ProgramHeader[]) =>
  phs.filter((p) => p.p_type === PT_LOAD).map((p) => ({ paddr: p.p_paddr, vaddr: p.p_vaddr, memsz: p.p_memsz }));

describe.concurrent("emulated kexec: Debian's arm64 kernel boots through our purgatory with a test initramfs", () => {
  const matrix = CONFIGS.flatMap((c) => (["reboot", "crash"] as const).map((mode) => [mode, label(c), c] as const));

  it.for(matrix)("purgatory boot --qemu, a %s bundle at %s: the kernel gets the bundle's command line, /chosen (and /proc/vmcore with the bundle's elfcorehdr)", { timeout: TEST_MS }, async ([mode, , c], ctx) => {
    const { expect } = ctx;
    const marker = randomUUID();
    const commandLine = rebootCommandLine(marker);
    const dir = await makeBundleAsync({
      mode,
      targetJson: await (mode === "crash" ? capturedTarget(c) : virtTarget(c)),
      kernelPath: assets.kernel.image.path,
      initrdPath,
      commandLine,
      outDir: join(work, `${mode}-${key(c)}`),
      seed: marker.replaceAll("-", ""),
    });
    const manifest = parseManifest(readFileSync(join(dir, "manifest.json"), "utf8"));
    const boot = await bootCli(ctx, dir, c, ["--expect", "^@@DONE [0-9.]+@@$"]);
    expect(boot.report.outcome, boot.report.reason).toBe("success");
    expect(boot.status).toBe(0);
    expect(boot.report.banner).toBe(`Linux version ${assets.kernel.release}`);
    expect(boot.report.machine).toMatchObject(c);
    const text = boot.lines.join("\n");
    expect(text).toContain(`All CPU(s) started at EL${c.el2 ? 2 : 1}`);
    const entry = /purgatory: ok, entering kernel at 0x([0-9a-f]+) with dtb at 0x([0-9a-f]+)/.exec(text);
    expect(entry, "the purgatory's go-ahead").not.toBeNull();
    expect([BigInt(`0x${entry![1]}`), BigInt(`0x${entry![2]}`)]).toEqual([manifest.kernelEntry, manifest.dtbAddress]);

    const kernelInit = /^\[\s*([0-9.]+)\] Run \/init as init process$/m.exec(text)?.[1];
    const guest = guestReport(boot.lines);
    const timing = `purgatory boot ${boot.report.elapsedMs} ms to @@DONE; the kernel ran /init at ${kernelInit} s (printk), its checks took ${(guest.doneAt - guest.initAt).toFixed(2)} s`;
    expect(guest.cmdline).toBe(commandLine);
    expect(guest.cpus).toBe(c.smp);
    const chosen = chosenOf(manifest);
    expect(Buffer.from(guest.chosen.get("bootargs") ?? "", "hex").toString("latin1")).toBe(`${commandLine}\0`);
    // The linux,* properties are the bundle's, no more and no fewer (the
    // kernel consumes rng-seed and may clear kaslr-seed: not compared).
    const linux = (names: Iterable<string>) => [...names].filter((n) => n.startsWith("linux,")).sort();
    expect(linux(guest.chosen.keys())).toEqual(linux(Object.keys(chosen).filter((n) => chosen[n] !== null)));
    for (const name of ["linux,initrd-start", "linux,initrd-end"]) {
      expect(BigInt(`0x${guest.chosen.get(name)}`), name).toBe(BigInt(chosen[name] as string));
    }
    if (mode === "reboot") {
      expect(guest.vmcoreSize, "a reboot bundle's kernel has no /proc/vmcore").toBeNull();
      figures.push(`${mode.padEnd(6)} ${key(c)}: ${timing}`);
      return;
    }
    for (const name of ["linux,elfcorehdr", "linux,usable-memory-range"]) {
      expect(guest.chosen.get(name), name).toBe(regHex(chosen[name]));
    }

    // /proc/vmcore is the bundle's elfcorehdr as the capture kernel rewrites
    // it (fs/proc/vmcore.c): PT_LOADs keep their addresses and sizes (only
    // p_offset changes), the PT_NOTEs become one, holding every note the
    // crashed kernel left: here, those `purgatory boot` planted.
    const head = frameIn(boot.lines, "vmcore.head");
    if (typeof head === "string") throw new Error(`/proc/vmcore's head did not arrive: ${head}`);
    const ours = readElf(new Uint8Array(readFileSync(join(dir, manifest.segments.find((s) => s.role === "elfcorehdr")!.file))));
    const vmcore = readElf(head);
    expect({ type: vmcore.header.e_type, machine: vmcore.header.e_machine }).toEqual({ type: ours.header.e_type, machine: ours.header.e_machine });
    expect(loads(ours.programHeaders).length, "PT_LOADs for the crashed kernel's RAM").toBeGreaterThan(0);
    expect(loads(vmcore.programHeaders)).toEqual(loads(ours.programHeaders));
    const notes = vmcore.programHeaders.filter((p) => p.p_type === PT_NOTE);
    expect(notes.length).toBe(1);
    const at = toNumber(notes[0]!.p_offset, "p_offset");
    const found = parseNotes(head.subarray(at, at + toNumber(notes[0]!.p_filesz, "p_filesz")), at);
    expect(found.length).toBe(ours.programHeaders.filter((p) => p.p_type === PT_NOTE).length);
    const target: Target = manifest.target;
    // pr_pid (offset 32 of struct elf_prstatus), which crashNotes sets to 1000 + cpu.
    const pid = (desc: Uint8Array) => new DataView(desc.buffer, desc.byteOffset, desc.byteLength).getUint32(32, true);
    expect(found.filter((n) => n.name === "CORE" && n.type === NT_PRSTATUS).map((n) => pid(n.desc))).toEqual(target.cpuNotes.map((n) => 1000 + n.cpu));
    expect(new TextDecoder().decode(found.find((n) => n.name === "VMCOREINFO")?.desc)).toBe(target.vmcoreinfo?.text);
    figures.push(`${mode.padEnd(6)} ${key(c)}: ${timing}; /proc/vmcore ${guest.vmcoreSize} bytes, its head ${head.length}`);
  });
});

describe.concurrent("the purgatory's guard in emulation: a kernel segment changed after bundling", () => {
  const cases = ([
    ["spin", { el2: false, smp: 1 }],
    ["reset", { el2: false, smp: 1 }],
    ["reset", { el2: true, smp: 1 }],
  ] as const).map(([policy, c]) => [policy, label(c), c] as const);

  it.for(cases)("--on-mismatch %s at %s: the purgatory names the kernel segment, and the kernel never runs", { timeout: TEST_MS }, async ([policy, , c], ctx) => {
    const { expect } = ctx;
    const dir = await makeBundleAsync({
      mode: "reboot",
      targetJson: await virtTarget(c),
      kernelPath: assets.kernel.image.path,
      initrdPath,
      commandLine: rebootCommandLine("guard"),
      outDir: join(work, `guard-${policy}-${key(c)}`),
      seed: "00",
      onMismatch: policy,
    });
    const manifest = parseManifest(readFileSync(join(dir, "manifest.json"), "utf8"));
    const kernel = manifest.segments.find((s) => s.role === "kernel")!;
    const file = join(dir, kernel.file);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0x01;
    writeFileSync(file, bytes);

    const boot = await bootCli(ctx, dir, c, ["--allow-modified"]);
    expect(boot.status).toBe(1);
    expect(boot.report.outcome, boot.report.reason).toBe("purgatory-failed");
    expect(boot.report.banner).toBeNull();
    const text = boot.lines.join("\n");
    // The region table lists every segment but the purgatory, in manifest order.
    const region = manifest.segments.filter((s) => s.role !== "purgatory").indexOf(kernel);
    const hex16 = (v: bigint) => v.toString(16).padStart(16, "0");
    expect(text).toContain(
      `purgatory: region ${region} at 0x${hex16(kernel.mem)}, length 0x${hex16(kernel.bufsz)}: sha256 mismatch\n  expected ${kernel.sha256}\n  actual   ${sha256(bytes)}\n`,
    );
    expect(text.match(/sha256 mismatch/g)?.length).toBe(1);
    expect(text).not.toMatch(/entering kernel|Booting Linux|Linux version/);
    if (policy === "spin") {
      expect(text).toMatch(/sha256 mismatch\n.*\n.*\npurgatory: halted$/m);
      expect(text).not.toContain("resetting");
      figures.push(`guard ${policy} ${key(c)}: purgatory-failed after ${boot.report.elapsedMs} ms`);
      return;
    }
    expect(text).toMatch(/sha256 mismatch\n.*\n.*\npurgatory: resetting \(PSCI SYSTEM_RESET\)$/m);
    // PSCI SYSTEM_RESET under -no-reboot ends QEMU by itself, with status 0.
    expect(boot.report.exitCode).toBe(0);
    expect(boot.report.reason).toMatch(/exited through PSCI SYSTEM_RESET/);
    figures.push(`guard ${policy} ${key(c)}: purgatory-failed, QEMU reset through PSCI after ${boot.report.elapsedMs} ms`);
  });
});


// VHE: on a CPU with FEAT_VHE (QEMU -cpu max; the IMP DEF pointer
// authentication algorithm, because QARMA under TCG slows the kernel down
// several times) started at EL2, the purgatory hands over at EL2 and the
// kernel runs its host there with HCR_EL2.E2H = 1. toolchain/qemu's `cpu`
// option; `purgatory boot` itself keeps cortex-a57.
describe("emulated kexec on a VHE CPU", () => {
  it("a reboot bundle at EL2 on -cpu max: the purgatory hashes with the caches on, and the kernel runs with VHE", { timeout: TEST_MS }, async (ctx) => {
    const { expect } = ctx;
    const c = { el2: true, smp: 1 };
    const dir = await makeBundleAsync({
      mode: "reboot",
      targetJson: await virtTarget(c),
      kernelPath: assets.kernel.image.path,
      initrdPath,
      commandLine: rebootCommandLine("vhe"),
      outDir: join(work, "vhe"),
      seed: "00",
    });
    const r = await qemuSlots.run(async () => bootBundle(await readBundle(dir), { el2: true, cpu: VHE_CPU, timeoutMs: BOOT_S * 1000, expect: /^@@DONE [0-9.]+@@$/ }));
    ctx.onTestFailed(() => console.error(`${r.qemuArgs.join(" ")}\n${r.console}`));
    expect(r.outcome, r.reason).toBe("success");
    expect(r.console).toContain("purgatory: verifying 3 regions with the SHA-256 instructions, caches on\r\n");
    expect(r.console).toContain("CPU features: detected: Virtualization Host Extensions");
    expect(r.console).toContain("CPU: All CPU(s) started at EL2");
    figures.push(`reboot el2-smp1 on ${VHE_CPU}: init at ${/\[\s*([0-9.]+)\] Run \/init as init process/.exec(r.console)?.[1]} s (printk)`);
  });
});
