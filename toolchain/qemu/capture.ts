import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { InputError, hex } from "../bytes/index.js";
import { EM_AARCH64, readElf } from "../elf/index.js";
import { deleteProperty, parseFdt, serializeFdt } from "../fdt/index.js";
import { busyboxInitramfs } from "../initramfs/index.js";
import { normalize, type Target } from "../target/index.js";
import { machineArgs, qemuMissing, type MachineOptions, type QemuMachine } from "./machine.js";

/**
 * The no-hardware kdump flow needs what only a running kernel has: the
 * vmcoreinfo note and its text, each CPU's crash notes, and the crash
 * reservation the kernel really made. `captureMachine` boots the given kernel
 * once on an emulated machine (machine.ts; `-kernel`, with `crashkernel=` on
 * its command line) into
 * a small busybox initramfs whose /init runs examples/collect-target.sh and
 * sends the capture over the serial console, then powers the machine off.
 * The capture is what `purgatory describe --from` reads on real hardware.
 *
 * The kernel runs with `nokaslr` (arm64's KASLR would move vmcoreinfo's
 * KERNELOFFSET on every run) and `panic=-1` (a panic ends QEMU at once,
 * with -no-reboot). Kernel messages are kept off the console while the
 * capture is sent (`dmesg -n 1`); the capture is gzip-compressed, then
 * base64, between two marker lines that give its size.
 */

/** The applets /init and collect-target.sh use. */
const APPLETS = ["sh", "mount", "dmesg", "cat", "wc", "gzip", "base64", "head", "od", "tr", "id", "poweroff"];

/** The guest's first process: mount what collect-target.sh reads, capture, send, power off. */
const INIT = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
dmesg -n 1
sh /bin/collect-target.sh >/capture.txt 2>/collect.log
status=$?
cat /collect.log
echo "@@PURGATORY-CAPTURE BEGIN $status $(wc -c </capture.txt)@@"
gzip -c /capture.txt | base64
echo "@@PURGATORY-CAPTURE END@@"
poweroff -f
`;

const BEGIN = /@@PURGATORY-CAPTURE BEGIN (\d+) (\d+)@@/;
const END = "@@PURGATORY-CAPTURE END@@";
const BASE64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;
/** include/uapi/linux/elf.h: a program interpreter, which a static busybox has none of. */
const PT_INTERP = 3;

export interface MachineCaptureOptions extends MachineOptions {
  /** The raw arm64 Image to boot (what QEMU's -kernel loads). */
  readonly kernel: Uint8Array;
  /** A static arm64 busybox (Debian's busybox-static). */
  readonly busybox: Uint8Array;
  /** The text of examples/collect-target.sh. */
  readonly collectScript: string;
  /** The `crashkernel=` value for the booted kernel, or null for none. */
  readonly crashkernel: string | null;
  /** Milliseconds before QEMU is killed. */
  readonly timeoutMs: number;
}

export interface MachineCapture {
  /** The capture, as collect-target.sh wrote it (for `parseCapture`). */
  readonly capture: string;
  /** What collect-target.sh said on stderr (one note a line). */
  readonly notes: readonly string[];
  /** The booted kernel's "Linux version …" line, or null. */
  readonly banner: string | null;
  /** The booted kernel's command line. */
  readonly commandLine: string;
  /** The binary and every argument. */
  readonly qemuArgs: readonly string[];
}

/**
 * Boots `kernel` on machine `m` and returns the machine's capture.
 * @throws InputError `BAD_VALUE` for a busybox that is not a static arm64
 *   executable, `QEMU_MISSING` when QEMU cannot be started, `QEMU_FAILED`
 *   with the console's last lines when the guest does not send its capture
 *   (a panic, a kernel without the machine's drivers, the timeout), and
 *   `BAD_CAPTURE` when what arrived is not the capture it announced.
 */
export async function captureMachine(m: QemuMachine, o: MachineCaptureOptions): Promise<MachineCapture> {
  checkStaticBusybox(o.busybox);
  const machine = [...machineArgs(m, o), ...m.extraArgs, ...(o.dtb === undefined ? [] : ["-dtb", o.dtb])];
  const commandLine = [m.commandLine, "rdinit=/init", "panic=-1", "nokaslr", ...(o.crashkernel === null ? [] : [`crashkernel=${o.crashkernel}`])].join(" ");
  const initrd = busyboxInitramfs({
    busybox: o.busybox,
    applets: APPLETS,
    init: INIT,
    extra: [{ path: "/bin/collect-target.sh", mode: 0o755, data: o.collectScript }],
  });
  const dir = await mkdtemp(join(tmpdir(), "purgatory-capture-"));
  try {
    const kernel = join(dir, "Image");
    const initrdFile = join(dir, "initrd.cpio");
    await writeFile(kernel, o.kernel);
    await writeFile(initrdFile, initrd);
    const bin = o.qemu ?? "qemu-system-aarch64";
    const args = [
      ...machine, "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio", "-nic", "none", "-no-reboot",
      "-kernel", kernel, "-initrd", initrdFile, "-append", commandLine,
    ];
    const run = await runOnce(bin, args, o.timeoutMs);
    const lines = run.console.replace(/\r/g, "").split("\n");
    const banner = lines.map((l) => /Linux version \S+/.exec(l)?.[0]).find((b) => b !== undefined) ?? null;
    const begin = lines.findIndex((l) => BEGIN.test(l));
    const end = lines.indexOf(END, begin + 1);
    if (begin < 0 || end < 0) {
      const how = run.timedOut ? `was still running after ${o.timeoutMs / 1000} s` : `exited with ${String(run.exitCode)}`;
      const tail = lines.filter((l) => l.trim() !== "").slice(-12).join("\n  ");
      throw new InputError("QEMU_FAILED", `Cannot describe the booted machine: QEMU ${how} before the guest sent its capture${banner === null ? " (the kernel never printed its banner)" : ` (${banner})`}; the console ended:\n  ${tail}`,
        `${bin} ${args.join(" ")}`, `Check that the kernel boots on QEMU ${m.qemuName} (an arm64 Image with the machine's UART driver and initramfs support), or give more time with --timeout`);
    }
    const [, status, size] = BEGIN.exec(lines[begin]!)!;
    const notes = lines.slice(0, begin).filter((l) => l.startsWith("collect-target: "));
    const text = lines.slice(begin + 1, end).filter((l) => BASE64_LINE.test(l)).join("");
    let capture: string;
    try {
      capture = gunzipSync(Buffer.from(text, "base64")).toString("latin1");
    } catch (e) {
      throw new InputError("BAD_CAPTURE", `Cannot read the capture the guest sent: ${(e as Error).message}`, "console", "Run it again: the console lost part of it");
    }
    if (capture.length !== Number(size)) {
      throw new InputError("BAD_CAPTURE", `Cannot read the capture the guest sent: ${hex(capture.length)} bytes arrived, the guest announced ${hex(Number(size))}`, "console", "Run it again: the console lost part of it");
    }
    if (status !== "0") {
      throw new InputError("BAD_CAPTURE", `Cannot describe the booted machine: collect-target.sh exited with ${status}${notes.length > 0 ? `: ${notes.join("; ")}` : ""}`, "console");
    }
    return { capture, notes, banner, commandLine, qemuArgs: [bin, ...args] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function checkStaticBusybox(b: Uint8Array): void {
  const bad = (why: string) =>
    new InputError("BAD_VALUE", `Cannot use this busybox in the guest: ${why}`, "--busybox", "Give a static arm64 busybox, e.g. /bin/busybox of Debian's busybox-static for arm64");
  let elf: ReturnType<typeof readElf>;
  try {
    elf = readElf(b);
  } catch (e) {
    throw bad(`it is not a 64-bit ELF executable (${e instanceof InputError ? e.what : String(e)})`);
  }
  if (elf.header.e_machine !== EM_AARCH64) throw bad(`e_machine is ${elf.header.e_machine}, not EM_AARCH64 (${EM_AARCH64})`);
  if (elf.programHeaders.some((p) => p.p_type === PT_INTERP)) throw bad("it is dynamically linked (PT_INTERP), and the initramfs has no libraries");
}

interface Run {
  readonly console: string;
  readonly exitCode: number | null;
  readonly timedOut: boolean;
}

function runOnce(bin: string, args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let console = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.setEncoding("latin1").on("data", (d: string) => (console += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e) => {
      clearTimeout(timer);
      const code = (e as NodeJS.ErrnoException).code;
      reject(code === "ENOENT" || code === "EACCES" ? qemuMissing(bin, e) : e);
    });
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      resolve({ console: stderr === "" ? console : `${console}\nQEMU: ${stderr.trim()}`, exitCode, timedOut });
    });
  });
}

/**
 * A description collected from a booted machine, made fit for the machine
 * `purgatory boot` emulates: QEMU's DTB ROM at the start of RAM reserved, if
 * the machine has one (that boot has no -kernel, and QEMU keeps its tree
 * there), the DTB without the seeds QEMU drew for this boot (the bundle
 * writes its own), and no boot id: that boot ended when QEMU powered off, and
 * a description of an emulated machine carries none (target/types.ts).
 */
export function bootedTarget(m: QemuMachine, t: Target): Target {
  const { bootId: _ended, ...rest } = t;
  const reserved = m.dtbRom === null ? t.reserved : normalize([...t.reserved, m.dtbRom]);
  if (t.dtb === null) return { ...rest, reserved };
  let tree = parseFdt(t.dtb);
  tree = deleteProperty(tree, "/chosen", "kaslr-seed");
  tree = deleteProperty(tree, "/chosen", "rng-seed");
  return { ...rest, reserved, dtb: serializeFdt(tree) };
}
