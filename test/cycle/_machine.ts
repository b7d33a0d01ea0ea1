import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { MACHINES, machineArg, type MachineName } from "../../toolchain/qemu/index.js";

/**
 * A QEMU machine (`virt`, or `xlnx-zcu102` with a board DTB) booting a Linux
 * kernel, driven through its first serial console (`-serial stdio`): the
 * host reads the console line by line, each line stamped with the host's
 * monotonic clock when its newline arrived, and writes to the guest's console
 * input. QEMU's PL011 and Cadence UART take input only while their FIFO has
 * room, so what the host writes waits in the pipe, not lost.
 */

/** One console line; `t` is milliseconds since QEMU was started (performance.now, monotonic). */
export interface ConsoleLine {
  readonly t: number;
  readonly text: string;
}

export interface BootOptions {
  readonly kernel: string;
  readonly initrd: string;
  readonly append: string;
  /** QEMU -m, e.g. "1G". */
  readonly memory: string;
  readonly smp: number;
  /** Start the CPUs at EL2 (`virtualization=on`; on virt QEMU's PSCI then answers SMC, not HVC). Default EL1. */
  readonly el2?: boolean;
  /** QEMU's -cpu value; default cortex-a57. */
  readonly cpu?: string;
  /** The machine (default qemu-virt). */
  readonly machine?: MachineName;
  /** The device tree to give QEMU (-dtb), for a machine that makes none. */
  readonly dtb?: string;
  /** QEMU is killed this many milliseconds after it started. */
  readonly timeoutMs: number;
  /** More QEMU arguments (a TCG plugin: toolchain/qemu/plugin.ts startCounting). */
  readonly extraArgs?: readonly string[];
  /** A reset boots the machine again (the same -kernel and -initrd) instead of ending QEMU. Default false (-no-reboot). */
  readonly reboot?: boolean;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
}

export interface Match {
  /** Index of the line in `lines`. */
  readonly index: number;
  readonly line: ConsoleLine;
  readonly match: RegExpExecArray;
}

export class Machine {
  /** Every complete console line so far. */
  readonly lines: ConsoleLine[] = [];
  readonly args: readonly string[];
  /** Settles when QEMU has exited. */
  readonly exited: Promise<Exit>;
  /** `next` searches from here and moves it past each match. */
  cursor = 0;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly t0 = performance.now();
  private partial = "";
  private stderr = "";
  private exit: Exit | null = null;
  private readonly wakers = new Set<() => void>();

  constructor(o: BootOptions) {
    const m = MACHINES[o.machine ?? "qemu-virt"];
    this.args = [
      "-M", machineArg(m, o.el2 === true), ...((o.cpu ?? m.cpu) === null ? [] : ["-cpu", (o.cpu ?? m.cpu)!]), "-smp", String(o.smp), "-m", o.memory, ...m.extraArgs,
      ...(o.dtb === undefined ? [] : ["-dtb", o.dtb]),
      "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio", "-nic", "none",
      // A reset (panic=-1, a failed kexec) ends QEMU instead of booting again,
      // unless the test wants the machine back up (kdump-service.test.ts).
      ...(o.reboot === true ? [] : ["-no-reboot"]),
      "-kernel", o.kernel, "-initrd", o.initrd, "-append", o.append, ...(o.extraArgs ?? []),
    ];
    this.child = spawn("qemu-system-aarch64", this.args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.setEncoding("latin1");
    this.child.stdout.on("data", (d: string) => this.take(d));
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (d: string) => (this.stderr += d));
    // The guest may power off while the host still writes.
    this.child.stdin.on("error", () => undefined);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.child.kill("SIGKILL");
    }, o.timeoutMs);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer);
        if (this.partial !== "") this.push(this.partial);
        this.partial = "";
        this.exit = { code, signal, timedOut };
        this.wake();
        resolve(this.exit);
      };
      this.child.on("close", done);
      this.child.on("error", (e) => {
        this.stderr += `cannot start qemu-system-aarch64: ${e.message}\n`;
        done(null, null);
      });
    });
  }

  /** Milliseconds since QEMU was started. */
  now(): number {
    return performance.now() - this.t0;
  }

  /** Writes to the guest's console input. */
  write(text: string): void {
    this.child.stdin.write(text, "latin1");
  }

  /**
   * Waits for the next line at or after `cursor` that matches `re`, and moves
   * the cursor past it.
   * @throws Error naming `what` when QEMU exits or `timeoutMs` pass first.
   */
  async next(re: RegExp, timeoutMs: number, what: string = String(re)): Promise<Match> {
    const deadline = this.now() + timeoutMs;
    for (;;) {
      for (; this.cursor < this.lines.length; this.cursor++) {
        const line = this.lines[this.cursor] as ConsoleLine;
        const match = re.exec(line.text);
        if (match !== null) return { index: this.cursor++, line, match };
      }
      if (this.exit !== null) throw new Error(`waiting for ${what}: QEMU ${describeExit(this.exit)}`);
      const left = deadline - this.now();
      if (left <= 0) throw new Error(`waiting for ${what}: nothing after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, left);
        const wakers = this.wakers;
        function wake(): void {
          clearTimeout(timer);
          wakers.delete(wake);
          resolve();
        }
        wakers.add(wake);
      });
    }
  }

  /** Kills QEMU (if still running) and waits for it. SIGTERM lets QEMU exit cleanly (its plugins report). */
  async stop(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<Exit> {
    if (this.exit === null) this.child.kill(signal);
    return this.exited;
  }

  /** The whole console with host timestamps (seconds), QEMU's stderr and its arguments: for failure reports. */
  transcript(): string {
    const lines = this.lines.map((l) => `[${(l.t / 1000).toFixed(3).padStart(8)}] ${l.text}`);
    if (this.partial !== "") lines.push(`[ partial] ${this.partial}`);
    const exit = this.exit === null ? "QEMU still running" : `QEMU ${describeExit(this.exit)}`;
    return [`${exit}; console (host seconds since start):`, ...lines, `stderr: ${this.stderr}`, `args: ${this.args.join(" ")}`].join("\n");
  }

  private take(data: string): void {
    const parts = (this.partial + data).split("\n");
    this.partial = parts.pop() ?? "";
    for (const p of parts) this.push(p.replace(/\r+$/, ""));
    this.wake();
  }

  private push(text: string): void {
    this.lines.push({ t: this.now(), text });
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }
}

function describeExit(e: Exit): string {
  if (e.timedOut) return "was killed at its timeout";
  return e.signal !== null ? `was killed by ${e.signal}` : `exited with ${String(e.code)}`;
}

/** Named moments of a run on the host's clock, printed relative to one of them (the production /init). */
export class Timeline {
  private readonly steps: [string, number][] = [];

  /** Records `name` at `t` (ms since QEMU started). */
  mark(name: string, t: number): void {
    this.steps.push([name, t]);
  }

  /** One line a step: ms since QEMU started, and since the step named `origin`. */
  format(title: string, origin: string): string {
    const zero = this.steps.find(([n]) => n === origin)?.[1] ?? 0;
    const rows = this.steps.map(([n, t]) => `  ${n.padEnd(40)} ${t.toFixed(0).padStart(7)} ms  ${t >= zero ? "+" : "-"}${Math.abs(t - zero).toFixed(0)} ms`);
    return [`${title} (host monotonic clock: ms since QEMU started, and since ${origin}):`, ...rows].join("\n");
  }
}

/** Stops QEMU; with PURGATORY_CYCLE_LOG=DIR set, writes its console with host timestamps to DIR/NAME-console.txt. */
export async function keepConsole(m: Machine, name: string): Promise<void> {
  await m.stop();
  const dir = process.env["PURGATORY_CYCLE_LOG"];
  if (dir !== undefined && dir !== "") writeFileSync(join(dir, `${name}-console.txt`), m.transcript());
}
