import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Runs raw code on an emulated arm64 CPU with no firmware: QEMU `virt`
 * (TCG), images placed with `-device loader,file=…,force-raw=on`, and CPU 0
 * started at `entry` with `-device loader,addr=…,cpu-num=0`. QEMU then starts
 * the CPU at the machine's highest exception level: EL1 for `virt`, EL2 for
 * `virt,virtualization=on`; MMU and caches are off.
 *
 * QEMU keeps its own device tree as a ROM at the first MiB of RAM
 * (0x40000000-0x40100000); images must not overlap it.
 * The console (virt: the PL011 at 0x09000000) is read from QEMU's stdout.
 * Other machines work too (raspi3b: its mini UART, an 8250-like UART with
 * 32-bit registers at stride 4, is `uart: 1`; xlnx-zcu102, RAM at 0, no DTB
 * ROM, its CPU type fixed: `cpu: null`).
 */

export interface Image {
  readonly addr: bigint;
  readonly bytes: Uint8Array;
}

export interface BareMetalRun {
  /** `virt` or `virt,virtualization=on`, or any other -M value. */
  readonly machine: string;
  /** Default `cortex-a57`; null leaves -cpu out, for machines that fix their CPU type. */
  readonly cpu?: string | null;
  /** Default `512M`. */
  readonly memory?: string;
  readonly images: readonly Image[];
  /** Files placed as they are, without a copy (e.g. a bundle's segments); empty files must be left out. */
  readonly files?: readonly { readonly addr: bigint; readonly path: string }[];
  /** The QEMU binary; default `qemu-system-aarch64`, found on PATH. */
  readonly qemu?: string;
  /** Address CPU 0 starts at. */
  readonly entry: bigint;
  /** Wall-clock limit in milliseconds; QEMU is killed after it. */
  readonly timeoutMs: number;
  /** Stops QEMU early once the console output satisfies this (for runs that never exit, e.g. a spin). */
  readonly until?: (console: string) => boolean;
  /** Which of the machine's UARTs is the console (default 0; raspi3b's mini UART is 1). */
  readonly uart?: number;
  /** Extra QEMU arguments (e.g. `-plugin`). */
  readonly extraArgs?: readonly string[];
  /**
   * Guest physical memory to read once `until` matches: the CPU is stopped
   * and each range saved over QMP (`pmemsave`) before QEMU is ended.
   */
  readonly dump?: readonly { readonly addr: bigint; readonly size: number }[];
}

export interface BareMetalResult {
  /** Everything written to the UART. */
  readonly console: string;
  /** QEMU's exit code, or null when it was killed. */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  /** True when `until` matched and QEMU was stopped. */
  readonly stopped: boolean;
  readonly stderr: string;
  readonly args: readonly string[];
  /** The `dump` ranges, in order, when `until` matched. */
  readonly dumps?: readonly Uint8Array[];
}

/** Runs QEMU once; never throws for a guest failure (inspect the result). */
export async function runBareMetal(run: BareMetalRun): Promise<BareMetalResult> {
  const dir = await mkdtemp(join(tmpdir(), "purgatory-qemu-"));
  try {
    const args = [
      "-M", run.machine,
      ...(run.cpu === null ? [] : ["-cpu", run.cpu ?? "cortex-a57"]),
      "-m", run.memory ?? "512M",
      "-nodefaults", "-display", "none", "-monitor", "none",
      ...Array.from({ length: run.uart ?? 0 }, () => ["-serial", "null"]).flat(),
      "-serial", "stdio",
      "-no-reboot", // a PSCI SYSTEM_RESET ends QEMU instead of restarting the guest
    ];
    for (const [i, img] of run.images.entries()) {
      if (img.bytes.length === 0) continue; // nothing to place (QEMU refuses empty files)
      const file = join(dir, `image${i}.bin`);
      await writeFile(file, img.bytes);
      args.push("-device", `loader,file=${file},addr=0x${img.addr.toString(16)},force-raw=on`);
    }
    for (const f of run.files ?? []) {
      // QEMU option values escape a comma by doubling it.
      args.push("-device", `loader,file=${f.path.replaceAll(",", ",,")},addr=0x${f.addr.toString(16)},force-raw=on`);
    }
    args.push("-device", `loader,addr=0x${run.entry.toString(16)},cpu-num=0`, ...(run.extraArgs ?? []));
    const qmp = join(dir, "qmp.sock");
    if (run.dump !== undefined) args.push("-qmp", `unix:${qmp},server=on,wait=off`);
    return await new Promise<BareMetalResult>((resolve, reject) => {
      const child = spawn(run.qemu ?? "qemu-system-aarch64", args, { stdio: ["ignore", "pipe", "pipe"] });
      let console = "";
      let stderr = "";
      let timedOut = false;
      let stopped = false;
      let dumps: Uint8Array[] | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, run.timeoutMs);
      child.stdout.setEncoding("latin1");
      child.stdout.on("data", (d: string) => {
        console += d;
        if (!stopped && run.until?.(console)) {
          stopped = true;
          if (run.dump === undefined) child.kill("SIGKILL");
          else {
            saveMemory(qmp, run.dump, dir)
              .then((d) => (dumps = d), (e: Error) => (stderr += `memory dump failed: ${e.message}\n`))
              .finally(() => child.kill("SIGKILL"));
          }
        }
      });
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (d: string) => (stderr += d));
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ console, exitCode: code, timedOut, stopped, stderr, args, ...(dumps ? { dumps } : {}) });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Stops the CPU and saves each range with QMP `pmemsave` (QEMU's qapi/misc.json), one command at a time. */
async function saveMemory(socket: string, ranges: readonly { addr: bigint; size: number }[], dir: string): Promise<Uint8Array[]> {
  const conn = connect(socket);
  let buffer = "";
  const waiting: ((reply: { return?: unknown; error?: { desc: string } }) => void)[] = [];
  conn.setEncoding("utf8");
  conn.on("data", (d: string) => {
    buffer += d;
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const msg = JSON.parse(buffer.slice(0, nl)) as { return?: unknown; error?: { desc: string } };
      buffer = buffer.slice(nl + 1);
      if ("return" in msg || "error" in msg) waiting.shift()?.(msg);
    }
  });
  const call = (execute: string, args?: object): Promise<void> =>
    new Promise((resolve, reject) => {
      waiting.push((m) => (m.error ? reject(new Error(`QMP ${execute}: ${m.error.desc}`)) : resolve()));
      conn.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + "\n");
    });
  try {
    await new Promise<void>((resolve, reject) => conn.once("connect", resolve).once("error", reject));
    await call("qmp_capabilities");
    await call("stop");
    const out: Uint8Array[] = [];
    for (const [i, r] of ranges.entries()) {
      const file = join(dir, `dump${i}.bin`);
      await call("pmemsave", { val: Number(r.addr), size: r.size, filename: file });
      out.push(new Uint8Array(await readFile(file)));
    }
    return out;
  } finally {
    conn.destroy();
  }
}

/** A one-paragraph account of a run, for test failure messages. */
export function describeRun(r: BareMetalResult): string {
  const how = r.timedOut ? "timed out" : r.stopped ? "was stopped" : `exited with ${String(r.exitCode)}`;
  return `QEMU ${how}.\nconsole:\n${r.console}\nstderr:\n${r.stderr}\nargs: ${r.args.join(" ")}`;
}
