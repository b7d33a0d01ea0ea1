import { randomUUID } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { busyboxInitramfs } from "../../toolchain/initramfs/index.js";
import { InputError } from "../../toolchain/bytes/index.js";
import { readBundle } from "../../toolchain/bundle/index.js";
import { encodeStrings, parseFdt, serializeFdt, setProperty } from "../../toolchain/fdt/index.js";
import { ConsoleWatch, XLNX_ZCU102, bootBundle, consoleLoglevel, dumpDtb, dumpVirtDtb, initLineHidden, machineTarget, planBoot, virtTarget, type Verdict } from "../../toolchain/qemu/index.js";
import type { Target } from "../../toolchain/target/index.js";
import { AT, writeHandBundle } from "./_bundle.js";

const MiB = 0x10_0000n;
const GiB = 0x4000_0000n;

// Console transcripts as the guest prints them (\r\n from the serial driver).
const BANNER = "[    0.000000] Linux version 6.1.0-56-cloud-arm64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP Debian 6.1.192-2\r\n";
const INIT = "[    1.700000] Run /init as init process\r\n";
const MISMATCH =
  "purgatory: verifying 3 regions\r\n" +
  "purgatory: region 1 at 0x0000000048000000, length 0x0000000000200000: sha256 mismatch\r\n" +
  `  expected ${"ab".repeat(32)}\r\n  actual   ${"cd".repeat(32)}\r\n` +
  "purgatory: halted\r\n";
const PANIC =
  "[    1.600000] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n" +
  "[    1.600100] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0-56-cloud-arm64 #1\r\n" +
  "[    1.600200] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---\r\n";
const EXIT = { timedOut: false, timeoutMs: 60_000, exitCode: 0, stderr: "" };

function watch(text: string, expectRe?: RegExp): { early: Verdict | undefined; final: Verdict } {
  const w = new ConsoleWatch(expectRe);
  const early = w.push(text);
  return { early, final: w.end(EXIT) };
}

describe("ConsoleWatch decides the outcome from the console", () => {
  it("succeeds when the kernel starts init, and not before", () => {
    expect(new ConsoleWatch().push(BANNER)).toBeUndefined();
    const { early } = watch(BANNER + INIT + PANIC);
    expect(early).toEqual({ outcome: "success", reason: "the kernel reached userspace: Run /init as init process" });
  });

  it("with --expect, succeeds on a whole matching line only (init alone is not enough); an unfinished last line counts at the end", () => {
    expect(watch(BANNER + INIT, /marker-1/).final.outcome).toBe("qemu-exited");
    expect(watch(BANNER + INIT + "marker-1 up\r\n", /marker-1/).early).toEqual({ outcome: "success", reason: "the console matched --expect: marker-1 up" });
    expect(watch(BANNER + "marker-1 u", /^marker-1 u$/).early).toBeUndefined();
    const prompt = watch(BANNER + INIT + "~ # ", /~ # $/);
    expect(prompt.early).toBeUndefined();
    expect(prompt.final.outcome).toBe("success");
  });

  it("fails on the purgatory's mismatch message once it halts, naming the region", () => {
    const w = new ConsoleWatch();
    expect(w.push(MISMATCH.slice(0, MISMATCH.indexOf("purgatory: halted")))).toBeUndefined();
    expect(w.push("purgatory: halted\r\n")).toEqual({
      outcome: "purgatory-failed",
      reason: "the purgatory refused to boot: purgatory: region 1 at 0x0000000048000000, length 0x0000000000200000: sha256 mismatch",
    });
  });

  it("fails on a kernel panic at its end line, or when QEMU exits after it (panic=-1 with -no-reboot)", () => {
    expect(watch(BANNER + PANIC).early).toEqual({ outcome: "kernel-panic", reason: "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)" });
    const firstLine = PANIC.split("\n")[0]! + "\n";
    expect(watch(BANNER + firstLine).early).toBeUndefined();
    expect(watch(BANNER + firstLine).final.outcome).toBe("kernel-panic");
  });

  it("reports a timeout, saying how far the kernel got, and an early QEMU exit with QEMU's last words", () => {
    const w = new ConsoleWatch();
    w.push(BANNER);
    expect(w.end({ ...EXIT, timedOut: true, exitCode: null, timeoutMs: 1500 })).toEqual({
      outcome: "timeout",
      reason: "the kernel did not start init within 1.5 s; the kernel had started (Linux version 6.1.0-56-cloud-arm64)",
    });
    const q = new ConsoleWatch().end({ ...EXIT, exitCode: 1, stderr: "qemu-system-aarch64: Some ROM regions are overlapping\nz.bin (addresses …)\n" });
    expect(q).toEqual({ outcome: "qemu-exited", reason: "QEMU exited with code 1 and the kernel did not start init: z.bin (addresses …)" });
  });

  it("decides the same however the console is split into chunks", () => {
    const transcripts = [BANNER + INIT, MISMATCH, BANNER + PANIC, BANNER + "marker-7 up\r\n", BANNER + INIT + "~ # "];
    fc.assert(
      fc.property(fc.constantFrom(...transcripts), fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        const expectRe = text.includes("marker-7") ? /marker-7 up/ : text.includes("~ #") ? /~ # $/ : undefined;
        const whole = watch(text, expectRe).final;
        const w = new ConsoleWatch(expectRe);
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        let from = 0;
        for (const p of [...points, text.length]) {
          w.push(text.slice(from, p));
          from = p;
        }
        expect(w.end(EXIT)).toEqual(whole);
      }),
    );
  });
});

// A hand-made bundle (test/qemu/_bundle.ts) around the Debian kernel and a busybox initramfs.
const work = mkdtempSync(join(tmpdir(), "qemu-boot-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let target: Target;
let zcu102: Target;
let kernel: Uint8Array;
let initrd: Uint8Array;
const MARKER = `purgatory-boot-${randomUUID()}`;

beforeAll(async () => {
  const assets = loadAssets();
  kernel = new Uint8Array(readFileSync(assets.kernel.image.path));
  initrd = busyboxInitramfs({
    busybox: readFileSync(assets.busybox.binary.path),
    applets: ["sh", "mount", "cat", "echo", "poweroff"],
    init: "#!/bin/sh\nmount -t proc proc /proc\necho \"$(cat /proc/cmdline) reached init\"\npoweroff -f\n",
  });
  target = virtTarget({ dtb: await dumpVirtDtb({ el2: false, memory: GiB, smp: 2 }), memory: GiB, crashKernel: null });
  const board = { el2: false, memory: GiB, smp: 4, dtb: assets.genericKernel.zcu102Dtb.path };
  zcu102 = machineTarget(XLNX_ZCU102, { dtb: await dumpDtb(XLNX_ZCU102, board), memory: GiB, crashKernel: null });
});
/** Where the hand bundles go in xlnx-zcu102's RAM, which starts at 0. */
const AT_ZCU102 = { kernel: 0x0020_0000n, initrd: 0x0800_0000n, dtb: 0x0a00_0000n, purgatory: 0x0a20_0000n };

const written = new Set<string>();
/** Writes the named bundle once (tests that change files use their own name). */
function bundle(name: string, extra: Partial<Parameters<typeof writeHandBundle>[1]> = {}): string {
  const dir = join(work, name);
  if (!written.has(name)) writeHandBundle(dir, { target, kernel, initrd, bootargs: `console=ttyAMA0 panic=-1 ${MARKER}`, ...extra });
  written.add(name);
  return dir;
}

function code<A extends unknown[]>(f: (...args: A) => unknown, ...args: A): string {
  try {
    f(...args);
  } catch (e) {
    if (e instanceof InputError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "no error";
}

describe("planBoot checks that the bundle fits the machine QEMU will emulate", async () => {
  it("takes RAM from the target and the CPU count from the DTB, EL1 unless asked", async () => {
    expect(planBoot(await readBundle(bundle("plain")), {})).toEqual({ name: "qemu-virt", el2: false, memory: GiB, smp: 2 });
    expect(planBoot(await readBundle(bundle("plain")), { memory: 2n * GiB, smp: 1 })).toEqual({ name: "qemu-virt", el2: false, memory: 2n * GiB, smp: 1 });
  });

  it("picks xlnx-zcu102 for a bundle made from its DTB: RAM at 0, four CPUs, PSCI over SMC at EL1 and EL2", async () => {
    const dir = bundle("zcu102", { target: zcu102, at: AT_ZCU102 });
    expect(planBoot(await readBundle(dir), {})).toEqual({ name: "xlnx-zcu102", el2: false, memory: GiB, smp: 4 });
    expect(planBoot(await readBundle(dir), { el2: true, smp: 1 })).toEqual({ name: "xlnx-zcu102", el2: true, memory: GiB, smp: 1 });
    expect(code(planBoot, await readBundle(dir), { smp: 5 })).toMatch(/^BAD_OPTION: Cannot start QEMU xlnx-zcu102 with 5 CPUs: it holds 1 to 4/);
    expect(code(planBoot, await readBundle(dir), { memory: 3n * GiB })).toMatch(/^BAD_OPTION: Cannot give QEMU xlnx-zcu102 3072 MiB: it maps at most 2048 MiB from 0x0/);
    // A virt bundle's addresses are above a 1 GiB zcu102's RAM, and a zcu102 bundle's below virt's.
    expect(code(planBoot, await readBundle(bundle("zcu102-high", { target: zcu102 })), {})).toMatch(/^SEGMENT_OUTSIDE_RAM: .*QEMU xlnx-zcu102 will have RAM 0x0-0x40000000/);
  });

  it("refuses a DTB made for a machine it cannot emulate, naming its compatible", async () => {
    const other = parseFdt(target.dtb!);
    const board = { ...target, dtb: serializeFdt(setProperty(other, "/", "compatible", encodeStrings(["acme,board", "acme,soc"]))) };
    expect(code(planBoot, await readBundle(bundle("acme", { target: board })), {})).toMatch(
      /^UNSUPPORTED_MACHINE: Cannot pick a QEMU machine: the device tree's root compatible is "acme,board", "acme,soc", which is none of qemu-virt \(linux,dummy-virt\), xlnx-zcu102 \(xlnx,zynqmp-zcu102\)/,
    );
  });

  it("refuses a segment outside QEMU's RAM, naming the segment and the RAM", async () => {
    expect(code(planBoot, await readBundle(bundle("plain")), { memory: 128n * MiB })).toMatch(
      /^SEGMENT_OUTSIDE_RAM: Cannot place segment initrd 0x48000000-0x48\w+: QEMU virt will have RAM 0x40000000-0x48000000/,
    );
    expect(code(planBoot, await readBundle(bundle("low", { at: { purgatory: 0x3fff_0000n } })), {})).toMatch(/^SEGMENT_OUTSIDE_RAM: .*purgatory 0x3fff0000/);
  });

  it("refuses what kexec_load itself would refuse (layout's checkLoad), with its errno", async () => {
    expect(code(planBoot, await readBundle(bundle("unaligned", { at: { purgatory: 0x4a20_0800n } })), {})).toMatch(
      /^KEXEC_LOAD_REFUSED: Cannot boot the bundle: kexec_load would refuse it with EADDRNOTAVAIL: /,
    );
  });

  it("refuses a DTB that gives the kernel more RAM than QEMU will have", async () => {
    expect(code(planBoot, await readBundle(bundle("plain")), { memory: 512n * MiB })).toMatch(/^DTB_MEMORY_OUTSIDE_RAM: .*RAM 0x40000000-0x80000000/);
  });

  it("refuses a segment on QEMU's own DTB ROM (QEMU would exit: 'Some ROM regions are overlapping')", async () => {
    expect(code(planBoot, await readBundle(bundle("on-rom", { at: { purgatory: 0x400f_f000n } })), {})).toMatch(/^SEGMENT_ON_QEMU_DTB: .*0x40000000-0x40100000/);
  });

  it("refuses a PSCI conduit the machine does not use at that EL, with the way out", async () => {
    expect(code(planBoot, await readBundle(bundle("plain")), { el2: true })).toMatch(/^PSCI_MISMATCH: Cannot boot at EL2: .*"hvc".* SMC.*Boot without --el2/s);
  });

  it("refuses an entry in zero-filled memory past the purgatory's bytes (kexec_load takes it; nothing would run there)", async () => {
    const dir = bundle("entry-past-bytes");
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    m.entry = `0x${(AT.purgatory + 0x800n).toString(16)}`;
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(m));
    expect(code(planBoot, await readBundle(dir), {})).toMatch(/^ENTRY_OUTSIDE_SEGMENTS: Cannot start at entry 0x4a200800/);
  });

  it("refuses changed segment files unless allowed, and files of the wrong size always", async () => {
    const dir = bundle("modified");
    const file = join(dir, "initrd.bin");
    const bytes = readFileSync(file);
    bytes[100]! ^= 1;
    writeFileSync(file, bytes);
    expect(code(planBoot, await readBundle(dir), {})).toMatch(/^DIGEST_MISMATCH: Cannot boot the bundle: initrd.bin differs/);
    expect(planBoot(await readBundle(dir), { allowModified: true }).smp).toBe(2);
    appendFileSync(file, "x");
    expect(code(planBoot, await readBundle(dir), { allowModified: true })).toMatch(/^READ_FAILED: Cannot boot the bundle: initrd.bin is 0x\w+ bytes, the manifest says bufsz/);
    await expect(readBundle(join(work, "none"))).rejects.toMatchObject({ code: "NO_MANIFEST" });
  });
});

describe("a quiet command line keeps the kernel's init line off the console", () => {
  it.each([
    ["console=ttyAMA0", 7],
    ["console=ttyAMA0 quiet", 4],
    ["quiet loglevel=7", 7],
    ["loglevel=8 quiet", 4],
    ["debug", 10],
    ["quiet ignore_loglevel", "all"],
    ["loglevel=3", 3],
  ] as const)("%j gives console log level %s (the last of quiet, debug, loglevel= counts)", (line, level) => {
    expect(consoleLoglevel(line)).toBe(level);
  });

  it("says why a bundle's init line will not show, from its DTB's bootargs", async () => {
    const dtb = (name: string, bootargs: string) => readBundle(bundle(name, { bootargs })).then((b) => b.files.get("dtb")!);
    expect(initLineHidden(await dtb("plain-args", "console=ttyAMA0 panic=-1"))).toBeNull();
    expect(initLineHidden(await dtb("quiet", "console=ttyAMA0 quiet"))).toBe(
      'the bundle\'s command line has "quiet" (console log level 4), so the kernel does not print "Run /init as init process" (KERN_INFO)',
    );
    expect(initLineHidden(await dtb("quiet-loud", "console=ttyAMA0 quiet loglevel=7"))).toBeNull();
  });

  it("makes bootBundle ask for --expect before starting QEMU, not time out on a boot that worked", async () => {
    const b = await readBundle(bundle("quiet", { bootargs: "console=ttyAMA0 quiet" }));
    await expect(bootBundle(b, { timeoutMs: 1000, qemu: join(work, "no-qemu") })).rejects.toMatchObject({ code: "BAD_OPTION", where: "--expect" });
    // With --expect it goes on (here to the missing QEMU binary).
    await expect(bootBundle(b, { timeoutMs: 1000, qemu: join(work, "no-qemu"), expect: /x/ })).rejects.toMatchObject({ code: "QEMU_MISSING" });
  });
});

describe("bootBundle boots a bundle as kexec would and reports the outcome", () => {
  it("boots the Debian kernel through the trampoline to its initramfs at EL1", async () => {
    let streamed = "";
    const r = await bootBundle(await readBundle(bundle("plain")), { timeoutMs: 60_000, expect: /reached init/ }, (t) => (streamed += t));
    expect(r.outcome, r.consoleTail).toBe("success");
    expect(r.console).toContain(`${MARKER} reached init`);
    expect(r.banner).toMatch(/^Linux version 6\.1\./);
    expect(streamed).toBe(r.console);
    expect(r.qemuArgs).toEqual(expect.arrayContaining(["-M", "virt", "-smp", "2", `loader,addr=0x${AT.purgatory.toString(16)},cpu-num=0`]));
    expect(r.qemuArgs.filter((a) => a.includes("force-raw=on"))).toHaveLength(4);
  }, 70_000);

  it("stops on the timeout with outcome timeout (a purgatory that spins)", async () => {
    const r = await bootBundle(await readBundle(bundle("spin", { purgatory: "spin" })), { timeoutMs: 1500 });
    expect(r).toMatchObject({ outcome: "timeout", banner: null, exitCode: null, console: "" });
    expect(r.reason).toBe("the kernel did not start init within 1.5 s; the kernel never printed its banner");
  });

  it("reports a kernel panic (no initrd: no root to mount)", async () => {
    const r = await bootBundle(await readBundle(bundle("no-initrd", { initrd: null })), { timeoutMs: 60_000 });
    expect(r.outcome, r.consoleTail).toBe("kernel-panic");
    expect(r.reason).toMatch(/^Kernel panic - not syncing: VFS: Unable to mount root fs/);
  }, 70_000);

  it("reports a QEMU binary that is not there as QEMU_MISSING", async () => {
    await expect(bootBundle(await readBundle(bundle("plain")), { timeoutMs: 1000, qemu: join(work, "no-qemu") })).rejects.toMatchObject({ code: "QEMU_MISSING" });
  });
});
