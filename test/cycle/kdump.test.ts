import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { parseManifest } from "../../toolchain/bundle/manifest.js";
import { encodeSegmentTable } from "../../toolchain/bundle/table.js";
import { hex } from "../../toolchain/bytes/index.js";
import { KEXEC_ARCH_AARCH64, KEXEC_ON_CRASH } from "../../toolchain/layout/index.js";
import { parseTarget, type Target } from "../../toolchain/target/index.js";
import { sha256 } from "./_agent.js";
import { describeCapture, makeBundle, sendBundle } from "./_bundle.js";
import { GUEST_KERNEL, GUEST_STAGE2, bootProduction, captureCommandLine, crash, prepareGuest, type Guest, type Production } from "./_guest.js";
import { Timeline, keepConsole } from "./_machine.js";

// Issue 5 §3: the real kdump cycle. Debian's cloud kernel boots in QEMU with
// crashkernel=256M; its /init (guest/agent.sh) sends a collect-target.sh
// capture over the console; the host makes target.json and a crash bundle
// with the CLI and sends the bundle back (the kernel and the stage-2
// initramfs by digest only); the guest loads it with examples/loader, writes
// a marker to /dev/kmsg and crashes; the capture kernel boots through our
// purgatory and Debian's makedumpfile reads /proc/vmcore.
// One guest runs the whole file, so the tests run in order.

const MACHINE_MS = 12 * 60_000;
const STEP_MS = 90_000;
const assets = loadAssets();
const work = mkdtempSync(join(tmpdir(), "cycle-kdump-"));

let guest: Guest;
let prod: Production;
let target: Target;
const timeline = new Timeline();
const mark = (name: string, t = prod.machine.now()) => timeline.mark(name, t);

/** Prints the console of the run when a test fails. */
function showConsoleOnFailure(ctx: TestContext): void {
  ctx.onTestFailed(() => console.error(prod.machine.transcript()));
}

beforeAll(async () => {
  guest = prepareGuest(assets, work);
  prod = await bootProduction(guest, MACHINE_MS);
  const linux = prod.machine.lines.find((l) => l.text.includes("Linux version"));
  if (linux !== undefined) mark("kernel banner", linux.t);
  mark("/init", prod.init.t);
  mark("capture received");
}, 300_000);

afterAll(async () => {
  if (prod !== undefined) await keepConsole(prod.machine, "kdump");
  rmSync(work, { recursive: true, force: true });
  console.log(timeline.format("kdump cycle timings", "/init"));
});

describe("the production guest: Debian's cloud kernel with crashkernel=256M, 2 CPUs, 1 GiB", () => {
  it("reserves 256 MiB for the crash kernel (a Crash kernel range in /proc/iomem)", async (ctx) => {
    showConsoleOnFailure(ctx);
    const r = await prod.agent.run("cat /proc/iomem", STEP_MS);
    expect(r.status).toBe(0);
    const crash = /^\s*([0-9a-f]+)-([0-9a-f]+) : Crash kernel$/m.exec(r.output);
    expect(crash, r.output).not.toBeNull();
    const [, start, end] = crash as RegExpExecArray;
    expect(BigInt(`0x${end}`) + 1n - BigInt(`0x${start}`)).toBe(256n << 20n);
  }, STEP_MS);

  it("sends collect-target.sh's capture intact over the console, and `purgatory describe --from` makes target.json of it", async (ctx) => {
    showConsoleOnFailure(ctx);
    // The frame's SHA-256 was checked on arrival; describe refuses a capture cut short.
    const capturePath = join(work, "target.capture");
    writeFileSync(capturePath, prod.capture);
    const targetPath = describeCapture(capturePath, join(work, "target.json"));
    mark("target.json written");
    target = parseTarget(readFileSync(targetPath, "utf8"));

    const iomem = (await prod.agent.run("cat /proc/iomem", STEP_MS)).output;
    const crash = /^\s*([0-9a-f]+)-([0-9a-f]+) : Crash kernel$/m.exec(iomem) as RegExpExecArray;
    expect(target.crashKernel).toEqual({ start: BigInt(`0x${crash[1]}`), end: BigInt(`0x${crash[2]}`) + 1n });
    expect(target.cpuNotes.map((n) => n.cpu)).toEqual([0, 1]);
    expect(target.vmcoreinfo?.text).toContain(`OSRELEASE=${assets.kernel.release}\n`);
    expect(target.pageSize).toBe(4096);
    expect(target.commandLine).toBe(`${(await prod.agent.run("cat /proc/cmdline", STEP_MS)).output.trim()}`);
    expect(target.dtb?.length).toBeGreaterThan(0);
  }, STEP_MS * 3);

  it("carries 64 KiB of random bytes each way over the console intact", async (ctx) => {
    showConsoleOnFailure(ctx);
    const bytes = new Uint8Array(randomBytes(64 * 1024));
    const t0 = prod.machine.now();
    await prod.agent.put("/tmp/roundtrip", bytes, STEP_MS);
    const t1 = prod.machine.now();
    const back = await prod.agent.get("/tmp/roundtrip", STEP_MS);
    const t2 = prod.machine.now();
    expect(sha256(back)).toBe(sha256(bytes));
    const rate = (ms: number) => `${(bytes.length / 1024 / (ms / 1000)).toFixed(0)} KiB/s`;
    console.log(`console throughput: host to guest ${rate(t1 - t0)} (${(t1 - t0).toFixed(0)} ms), guest to host ${rate(t2 - t1)} (${(t2 - t1).toFixed(0)} ms), of payload bytes`);
  }, STEP_MS * 4);
});

describe("examples/loader in the production guest", () => {
  /** A crash table with one 4 KiB segment at `mem` and the entry at the start of crashk_res. */
  async function putCrashTable(dir: string, mem: bigint): Promise<void> {
    const junk = new Uint8Array(4096).fill(0xa5);
    const crash = target.crashKernel as NonNullable<Target["crashKernel"]>;
    const table = encodeSegmentTable({
      entry: crash.start,
      flags: BigInt(KEXEC_ON_CRASH | KEXEC_ARCH_AARCH64),
      segments: [{ role: "purgatory", file: "junk", mem, memsz: 4096n, bufsz: 4096n, sha256: new Uint8Array(Buffer.from(sha256(junk), "hex")) }],
    });
    await prod.agent.put(`${dir}/segments.bin`, table, STEP_MS);
    await prod.agent.put(`${dir}/junk`, junk, STEP_MS);
  }

  it("refuses a table it cannot pass on: bad magic, no segments, a file name with a slash, a file shorter than bufsz", async (ctx) => {
    showConsoleOnFailure(ctx);
    const junk = new Uint8Array(4096);
    const segment = { role: "kernel" as const, file: "junk", mem: target.crashKernel?.start ?? 0n, memsz: 8192n, bufsz: 4096n, sha256: new Uint8Array(32) };
    const table = (segments: (typeof segment)[]) => encodeSegmentTable({ entry: segment.mem, flags: BigInt(KEXEC_ON_CRASH | KEXEC_ARCH_AARCH64), segments });
    const badMagic = table([segment]);
    badMagic[0] = 0x58;
    const cases: [string, Uint8Array, string][] = [
      ["magic", badMagic, "loader: /tmp/t/magic/segments.bin is not a version 1 segment table"],
      ["empty", table([]), "loader: segments.bin: bad count 0 for 32 bytes"],
      ["slash", table([{ ...segment, file: "../junk" }]), 'loader: segments.bin entry 0: file name "../junk" is not a plain name'],
      ["short", table([{ ...segment, bufsz: 8192n }]), "loader: junk is 4096 bytes, the table says 8192"],
    ];
    for (const [name, bytes] of cases) {
      await prod.agent.put(`/tmp/t/${name}/segments.bin`, bytes, STEP_MS);
      await prod.agent.put(`/tmp/t/${name}/junk`, junk, STEP_MS);
    }
    const r = await prod.agent.run(cases.map(([name]) => `loader /tmp/t/${name}; echo "${name} status=$?"`).join("\n"), STEP_MS);
    for (const [name, , message] of cases) {
      expect(r.output).toContain(`${message}\n${name} status=1\n`);
    }
    expect(r.output).not.toContain("kexec_load(");
  }, STEP_MS * 3);

  it("refuses a crash segment outside crashk_res: kexec_load's EADDRNOTAVAIL, with its likely cause", async (ctx) => {
    showConsoleOnFailure(ctx);
    const ram = target.memory[0] as NonNullable<Target["memory"][0]>;
    expect(ram.start).not.toBe(target.crashKernel?.start);
    await putCrashTable("/tmp/outside", ram.start);
    const r = await prod.agent.run("loader /tmp/outside; echo status=$?; cat /sys/kernel/kexec_crash_loaded", STEP_MS);
    expect(r.output).toContain(`kexec_load(entry ${hex(target.crashKernel?.start ?? 0n)}, 1 segments, flags 0xb70001) failed: Cannot assign requested address`);
    expect(r.output).toMatch(/likely cause: .*outside the crashkernel= region/);
    expect(r.output).toMatch(/status=1\n0\n$/);
  }, STEP_MS * 2);

  it("loads a table inside crashk_res (the kernel takes it) and unloads it again", async (ctx) => {
    showConsoleOnFailure(ctx);
    await putCrashTable("/tmp/inside", target.crashKernel?.start ?? 0n);
    const r = await prod.agent.run("loader /tmp/inside && cat /sys/kernel/kexec_crash_loaded && loader --unload --crash && cat /sys/kernel/kexec_crash_loaded", STEP_MS);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain("loader: loaded crash bundle");
    expect(r.output).toMatch(/\n1\n0\n$/);
  }, STEP_MS * 2);

  it("--exec with no reboot bundle loaded fails and says what is missing", async (ctx) => {
    showConsoleOnFailure(ctx);
    const r = await prod.agent.run("loader --exec; echo status=$?", STEP_MS);
    expect(r.output).toContain("reboot(LINUX_REBOOT_CMD_KEXEC) failed: Invalid argument (is a reboot bundle loaded?)");
    expect(r.output).toContain("status=1");
  }, STEP_MS);
});

/**
 * One kdump cycle on a running production guest: a crash bundle from its own
 * description, sent back and loaded with examples/loader, a marker, a panic;
 * the capture kernel must boot through our purgatory and makedumpfile must
 * read the marker from /proc/vmcore.
 */
async function kdumpCycle(p: Production, targetJson: string, label: string, mark: (name: string, t?: number) => void): Promise<void> {
  const marker = randomUUID();
  const dir = makeBundle({
    mode: "crash",
    targetJson,
    kernelPath: guest.kernel.path,
    initrdPath: guest.stage2.path,
    commandLine: captureCommandLine(marker),
    outDir: join(work, `crash-bundle-${label}`),
    seed: marker.replaceAll("-", ""),
  });
  mark("crash bundle made");
  const local = new Map([[guest.kernel.sha256, GUEST_KERNEL], [guest.stage2.sha256, GUEST_STAGE2]]);
  const sent = await sendBundle(p.agent, dir, "/bundle", local, STEP_MS);
  mark(`bundle in the guest (${sent.sentBytes} bytes sent)`);
  expect(sent.linked.length).toBe(2); // the kernel and the initramfs: by digest, not over the console

  const load = await p.agent.run("loader /bundle && cat /sys/kernel/kexec_crash_loaded", STEP_MS);
  expect(load.status, load.output).toBe(0);
  expect(load.output).toMatch(/\n1\n$/);
  mark("loaded");

  // The marker goes into the production kernel's log only: the capture
  // kernel learns which one to look for from its command line.
  const crashed = await crash(p, marker, STEP_MS);
  mark("echo c", crashed.line.t);
  const m = p.machine;
  await m.next(/purgatory: verifying \d+ regions with the SHA-256 instructions, caches on/, STEP_MS, "the purgatory's fast path");
  const entry = await m.next(/purgatory: ok, entering kernel at 0x([0-9a-f]+) with dtb at 0x([0-9a-f]+)/, STEP_MS, "the purgatory's go-ahead");
  mark("purgatory enters the kernel", entry.line.t);
  const manifest = parseManifest(readFileSync(join(dir, "manifest.json"), "utf8"));
  expect([BigInt(`0x${entry.match[1]}`), BigInt(`0x${entry.match[2]}`)]).toEqual([manifest.kernelEntry, manifest.dtbAddress]);
  await m.next(/Linux version /, STEP_MS, "the capture kernel's banner");
  const stage2 = await m.next(/@@STAGE2 /, 240_000, "the capture kernel's /init");
  mark("capture /init", stage2.line.t);
  console.log(`${label}: crash to capture /init: ${(stage2.line.t - crashed.line.t).toFixed(0)} ms (host clock)`);
  const dmesg = await m.next(/@@(PASS|FAIL) (?:DMESG|MARKER) (.*) [0-9.]+@@/, 240_000, "the dmesg verdict");
  mark("dump-dmesg done", dmesg.line.t);
  expect(dmesg.match[1], dmesg.line.text).toBe("PASS");
  expect(dmesg.match[2]).toContain(`PURGATORY-MARKER ${marker}`);
  const dump = await m.next(/@@(PASS|FAIL) DUMP (.*) [0-9.]+@@/, 480_000, "the dump verdict");
  mark("makedumpfile -l -d 31 done", dump.line.t);
  expect(dump.match[1], dump.line.text).toBe("PASS");
  await m.next(/@@DONE /, STEP_MS);
  const exit = await m.exited;
  expect(exit.code, "QEMU should end when the capture kernel powers off").toBe(0);
}

describe("the kdump cycle", () => {
  it(`a crash bundle from the guest's own description boots the capture kernel through our purgatory, and makedumpfile reads the marker from /proc/vmcore`, async (ctx) => {
    showConsoleOnFailure(ctx);
    await kdumpCycle(prod, join(work, "target.json"), "EL1", mark);
  }, MACHINE_MS);
});

// The same cycle with the production kernel at EL2 (virt,virtualization=on)
// on a CPU with FEAT_VHE (-cpu max; the IMP DEF pointer authentication
// algorithm, as QARMA under TCG is slow): the kernel runs its host at EL2
// with HCR_EL2.E2H = 1, as Linux does wherever VHE exists, and its kexec
// (cpu_soft_restart) enters the purgatory at EL2 with E2H still set. The
// purgatory builds its identity map in the EL2&0 regime and hashes with the
// caches on (kdumpCycle waits for that line); it resets through SMC. EL2
// without VHE is the purgatory's path in emulated kexec
// (test/cycle/emulated.test.ts) and on bare metal (test/purgatory/).
describe("the kdump cycle at EL2 with VHE", () => {
  let el2: Production | undefined;
  afterAll(async () => {
    if (el2 !== undefined) await keepConsole(el2.machine, "kdump-el2");
  });

  it(`the production kernel at EL2 (VHE) crashes into the capture kernel through our purgatory, and makedumpfile reads the marker`, async (ctx) => {
    el2 = await bootProduction(guest, MACHINE_MS, { el2: true, cpu: "max,pauth-impdef=on" });
    const p = el2;
    ctx.onTestFailed(() => console.error(p.machine.transcript()));
    expect((await p.agent.run("dmesg | grep -c 'CPU(s) started at EL2'", STEP_MS)).output.trim()).toBe("1");
    expect((await p.agent.run("dmesg | grep -c 'CPU features: detected: Virtualization Host Extensions'", STEP_MS)).output.trim()).toBe("1");
    const capturePath = join(work, "el2.capture");
    writeFileSync(capturePath, p.capture);
    const targetJson = describeCapture(capturePath, join(work, "el2-target.json"));
    await kdumpCycle(p, targetJson, "EL2", () => {});
  }, MACHINE_MS);
});
