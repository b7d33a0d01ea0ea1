import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Assets, Program } from "../../scripts/assets.js";
import { busyboxInitramfs, type CpioEntry } from "../../toolchain/initramfs/index.js";
import type { MachineName } from "../../toolchain/qemu/index.js";
import { Agent, sha256, type Reply } from "./_agent.js";
import { REPO } from "./_bundle.js";
import { Machine, type Match } from "./_machine.js";

/**
 * The guests of the real cycles: a production initramfs (test/cycle/guest/
 * agent.sh as /init, collect-target.sh, the loader, and the files its bundles
 * reuse: the kernel Image and the stage-2 initramfs) and the stage-2
 * initramfs (guest/stage2.sh with makedumpfile), which both the capture
 * kernel and the kernel a reboot bundle starts boot into.
 */

const here = join(REPO, "test", "cycle");

/** Where the production guest keeps the files a bundle may reference by digest. */
export const GUEST_KERNEL = "/boot/Image";
export const GUEST_STAGE2 = "/boot/stage2.cpio";

/** The kernel's console on virt (its PL011); xlnx-zcu102's is "earlycon console=ttyPS0". */
export const VIRT_CONSOLE = "console=ttyAMA0";

/** The production kernel's command line. */
export function productionAppend(console = VIRT_CONSOLE): string {
  return `${console} crashkernel=256M panic=-1 rdinit=/init`;
}

/** The capture kernel's command line: one CPU (kdump boots on the crashing one), as distribution kdump scripts do. */
export function captureCommandLine(marker: string, console = VIRT_CONSOLE): string {
  return `${console} nr_cpus=1 reset_devices panic=-1 rdinit=/init purgatory_marker=${marker}`;
}

/** The command line of the kernel a reboot bundle starts. */
export function rebootCommandLine(marker: string, console = VIRT_CONSOLE): string {
  return `${console} panic=-1 rdinit=/init purgatory_marker=${marker}`;
}

export interface HostFile {
  readonly path: string;
  readonly sha256: string;
}

export interface Guest {
  /** The kernel Image: the production kernel, and the kernel of every bundle. */
  readonly kernel: HostFile;
  /** The stage-2 initramfs (the initrd of every bundle). */
  readonly stage2: HostFile;
  /** The production initramfs (a path). */
  readonly production: string;
}

// What agent.sh, stage2.sh and collect-target.sh run (busybox ash has echo, read and printf built in).
const APPLETS = [
  "sh", "mount", "cat", "poweroff", "dmesg", "stty", "sha256sum", "base64", "gzip", "gunzip", "head", "timeout",
  "wc", "cp", "mkdir", "od", "tr", "id", "sed", "grep", "stat",
];

/** Builds the static loader with scripts/build-loader.sh (cached by source hash); returns its path. */
export function buildLoader(): string {
  const out = execFileSync("bash", [join(REPO, "scripts", "build-loader.sh")], { encoding: "utf8" });
  return out.trim().split("\n").at(-1) ?? "";
}

/**
 * A provisioned program's files for an initramfs: its binary, program
 * interpreter and libraries where the package installs them, and /bin/NAME,
 * a script that runs it through the interpreter with exactly those libraries.
 */
export function programFiles(p: Program, name: string): CpioEntry[] {
  const file = (guestPath: string, hostPath: string): CpioEntry => ({ path: guestPath, mode: 0o755, data: readFileSync(hostPath) });
  return [
    file(p.binary.guestPath, p.binary.path),
    file(p.interpreter.guestPath, p.interpreter.path),
    // The interpreter is listed among the libraries too (as a soname); add it once.
    ...p.libraries.filter((l) => l.guestPath !== p.interpreter.guestPath).map((l) => file(l.guestPath, l.path)),
    { path: `/bin/${name}`, mode: 0o755, data: `#!/bin/sh\nexec ${p.interpreter.guestPath} --library-path ${p.libDirs.join(":")} ${p.binary.guestPath} "$@"\n` },
  ];
}

/** The stage-2 initramfs (uncompressed): guest/stage2.sh as /init, with makedumpfile. */
export function stage2Initramfs(assets: Assets): Uint8Array {
  return busyboxInitramfs({
    busybox: readFileSync(assets.busybox.binary.path),
    applets: APPLETS,
    init: readFileSync(join(here, "guest", "stage2.sh"), "utf8"),
    extra: [{ path: "/tmp", directory: true }, ...programFiles(assets.makedumpfile, "makedumpfile")],
  });
}

/**
 * Writes both initramfs images into `dir` and returns every file the cycles
 * use, with digests; `kernel` is the Image the guest boots and keeps (default
 * the cloud kernel).
 */
export function prepareGuest(assets: Assets, dir: string, kernel: HostFile = assets.kernel.image): Guest {
  const loaderPath = buildLoader();
  const stage2 = stage2Initramfs(assets);
  const stage2Path = join(dir, "stage2.cpio");
  writeFileSync(stage2Path, stage2);

  const production = agentInitramfs(assets, [
    { path: "/bin/loader", mode: 0o755, data: readFileSync(loaderPath) },
    { path: GUEST_KERNEL, data: readFileSync(kernel.path) },
    { path: GUEST_STAGE2, data: stage2 },
  ]);
  const productionPath = join(dir, "production.cpio");
  writeFileSync(productionPath, production);
  return {
    kernel: { path: kernel.path, sha256: kernel.sha256 },
    stage2: { path: stage2Path, sha256: sha256(stage2) },
    production: productionPath,
  };
}

/**
 * A production initramfs: guest/agent.sh as /init, collect-target.sh, and
 * `extra`. Uncompressed: an Image inside does not compress much, and
 * unpacking a gzip archive of 30 MiB costs seconds under TCG.
 */
export function agentInitramfs(assets: Assets, extra: readonly CpioEntry[] = []): Uint8Array {
  return busyboxInitramfs({
    busybox: readFileSync(assets.busybox.binary.path),
    applets: APPLETS,
    init: readFileSync(join(here, "guest", "agent.sh"), "utf8"),
    extra: [
      { path: "/tmp", directory: true },
      { path: "/bin/collect-target.sh", mode: 0o755, data: readFileSync(join(REPO, "examples", "collect-target.sh")) },
      ...extra,
    ],
  });
}

/** The initramfs of the emulated boots (test/cycle/emulated.test.ts): guest/emulated.sh as /init. */
export function emulatedInitramfs(assets: Assets): Uint8Array {
  return busyboxInitramfs({
    busybox: readFileSync(assets.busybox.binary.path),
    applets: APPLETS,
    init: readFileSync(join(here, "guest", "emulated.sh"), "utf8"),
    extra: [{ path: "/tmp", directory: true }],
  });
}

export interface Production {
  readonly machine: Machine;
  readonly agent: Agent;
  /** The guest's "@@INIT@@" line: /init started. */
  readonly init: Reply;
  /** What collect-target.sh wrote, as it arrived over the console. */
  readonly capture: Uint8Array;
}

/**
 * The production machine: `smp` CPUs (default 2), started at EL2 with `el2`
 * (default EL1), QEMU's `cpu` (default the machine's), with more QEMU
 * arguments `extraArgs`; on `machine` (default qemu-virt) with the device tree
 * `dtb` and the console `console` (default virt's).
 */
export interface ProductionMachine {
  readonly smp?: number;
  readonly el2?: boolean;
  readonly cpu?: string;
  readonly extraArgs?: readonly string[];
  readonly machine?: MachineName;
  readonly dtb?: string;
  readonly console?: string;
}

/**
 * Boots the production guest (`guest.kernel` with crashkernel=256M, 1 GiB,
 * on the machine `on` describes) and receives the capture its /init sends first.
 * @throws Error with the console transcript when the guest does not get there.
 */
export async function bootProduction(guest: Pick<Guest, "kernel" | "production">, timeoutMs: number, on: ProductionMachine = {}): Promise<Production> {
  const machine = new Machine({
    kernel: guest.kernel.path, initrd: guest.production, append: productionAppend(on.console), memory: "1G", smp: on.smp ?? 2,
    ...(on.el2 === true ? { el2: true } : {}), ...(on.cpu === undefined ? {} : { cpu: on.cpu }),
    ...(on.extraArgs === undefined ? {} : { extraArgs: on.extraArgs }),
    ...(on.machine === undefined ? {} : { machine: on.machine }), ...(on.dtb === undefined ? {} : { dtb: on.dtb }), timeoutMs,
  });
  const agent = new Agent(machine);
  try {
    const init = await agent.reply(["INIT"], 240_000);
    await agent.reply(["COLLECTED"], 120_000);
    const capture = await agent.receive("target.capture", 120_000);
    return { machine, agent, init, capture };
  } catch (e) {
    await machine.stop();
    throw new Error(`the production guest did not send its capture: ${(e as Error).message}\n${machine.transcript()}`);
  }
}

/**
 * Crashes the production guest (sysrq-c) once a crash kernel is loaded, with
 * every kernel message on the console, after writing "PURGATORY-MARKER
 * MARKER" to the kernel's log for the capture kernel to find in the dump.
 * @returns the line the guest prints right before `echo c`.
 */
export async function crash(prod: Production, marker: string, timeoutMs: number): Promise<Match> {
  await prod.agent.launch([
    "exec >/dev/console 2>&1",
    "dmesg -n 8",
    `echo "PURGATORY-MARKER ${marker}" >/dev/kmsg`,
    'read -r up _ </proc/uptime; echo "@@CRASH $up@@"',
    "echo c >/proc/sysrq-trigger",
  ].join("\n"), timeoutMs);
  return prod.machine.next(/@@CRASH /, timeoutMs);
}
