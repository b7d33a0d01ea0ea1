import { InputError, hex } from "../bytes/index.js";
import type { Console, Policy } from "../purgatory/index.js";
import type { PsciConduit, Range, Target, UartFamily } from "../target/index.js";

/**
 * Which UART the purgatory prints on and how it resets, chosen from the
 * target's board facts (docs/target.md) or the user's `--console`, then
 * mapped onto what this purgatory build can drive (`forPurgatory`).
 */

/** A UART as the bundle speaks of it: `FAMILY@ADDR[,shift=N][,width=N]`. */
export interface Uart {
  readonly family: UartFamily;
  readonly base: bigint;
  /** Register n is at base + (n << shift). */
  readonly shift: number;
  /** Bytes per register access. */
  readonly width: 1 | 2 | 4;
}

/** `--console`: the target's own UART, no console, or one given explicitly. */
export type ConsoleRequest = "auto" | "none" | Uart;

/**
 * Parses `auto`, `none` or `FAMILY@ADDR[,shift=N][,width=N]` (FAMILY pl011,
 * 8250 or cadence; ADDR hex with 0x, or decimal). Without `width`, an 8250
 * takes 1-byte accesses, as a device tree without reg-io-width means
 * (Documentation/devicetree/bindings/serial/8250.yaml) and as the purgatory's
 * own `parseConsole` reads the same text; a PL011 or a Cadence UART takes
 * 32-bit accesses.
 * @throws InputError `BAD_CONSOLE` naming the accepted forms.
 */
export function parseConsoleRequest(text: string, where = "--console"): ConsoleRequest {
  if (text === "auto" || text === "none") return text;
  const m = /^(pl011|8250|cadence)@(0x[0-9a-fA-F]+|[0-9]+)((?:,(?:shift|width)=[0-9]+)*)$/.exec(text);
  const opts = new Map((m?.[3] ?? "").split(",").filter((x) => x !== "").map((x) => x.split("=") as [string, string]));
  const family = m?.[1] as UartFamily | undefined;
  const base = m === null ? 0n : BigInt(m[2]!);
  const shift = Number(opts.get("shift") ?? "0");
  const width = opts.has("width") ? Number(opts.get("width")) : defaultWidth(family ?? "pl011", shift);
  const fail = (why: string): never => {
    throw new InputError("BAD_CONSOLE", `Cannot use console "${text}": ${why}`, where,
      "Use auto (the target's UART), none, or FAMILY@ADDR[,shift=N][,width=N] with FAMILY pl011, 8250 or cadence, e.g. pl011@0x9000000 or 8250@0xfe215040,shift=2,width=4");
  };
  if (m === null || family === undefined) return fail("not auto, none or FAMILY@ADDR[,shift=N][,width=N]");
  if ((m[3] ?? "").split(",").filter((x) => x !== "").length !== opts.size) fail("an option is given twice");
  if (base >= 1n << 64n) fail("the address does not fit 64 bits");
  if (shift > 4) fail(`shift ${shift} is not 0..4`);
  if (width !== 1 && width !== 2 && width !== 4) fail(`width ${width} is not 1, 2 or 4`);
  if (family !== "8250" && shift !== 0) fail(`a ${family} UART has no register shift`);
  if (base % BigInt(width) !== 0n) fail(`the address is not aligned to the ${width}-byte accesses`);
  return { family, base, shift, width: width as Uart["width"] };
}

function defaultWidth(family: UartFamily, _shift: number): number {
  return family === "8250" ? 1 : 4;
}

/** The text form `parseConsoleRequest` reads: shift and width only where they differ from the defaults. */
export function formatUart(u: Uart): string {
  return `${u.family}@${hex(u.base)}${u.shift === 0 ? "" : `,shift=${u.shift}`}${u.width === defaultWidth(u.family, u.shift) ? "" : `,width=${u.width}`}`;
}

/**
 * The bytes of a UART's register block, for the checks that it is not RAM
 * and not a segment: 4 KiB for a PL011 (its TRM's register map) and a
 * Cadence UART (CDNS_UART_REGISTER_SPACE in xilinx_uartps.c), the eight
 * registers of an 8250.
 */
export function uartWindow(u: Uart): Range {
  const span = u.family === "8250" ? 8n << BigInt(u.shift) : 0x1000n;
  return { start: u.base, end: u.base + span };
}

/** The UART `--console` asks for, and why there is none when there is none. */
export interface ChosenUart {
  readonly uart: Uart | null;
  /** Why there is no UART, or null. */
  readonly why: string | null;
}

/**
 * Resolves `--console` against the target: `auto` takes the target's console
 * when it has a known family and address, else none (never a guessed
 * address); an explicit UART or none is taken as given.
 */
export function chooseUart(req: ConsoleRequest, t: Pick<Target, "console">): ChosenUart {
  if (req === "none") return { uart: null, why: "--console none" };
  if (req !== "auto") return { uart: req, why: null };
  const c = t.console;
  if (c === null) return { uart: null, why: "the target names no console (no stdout-path, no console= it could resolve)" };
  if (c.family === null) return { uart: null, why: `the target's console ${c.path} (${c.compatible}) is of no UART family this tool knows` };
  if (c.base === null) return { uart: null, why: `the target's console ${c.path} has no CPU address (its bus has no ranges)` };
  return { uart: { family: c.family, base: c.base, shift: c.shift, width: c.width }, why: null };
}

/** What the purgatory is patched with, and why it stays silent when it does. */
export interface PurgatoryConsole {
  readonly console: Console;
  /** Why the purgatory prints nothing, or null when it prints. */
  readonly note: string | null;
}

/**
 * Maps a UART onto the purgatory's console slots (ABI 3, docs/purgatory-abi.md):
 * kinds pl011, 8250 and cadence; an 8250 with register shift 0..3 and 1- or
 * 4-byte accesses; 32-bit accesses to a PL011 (its APB register file takes
 * whatever width Linux's driver uses) and to a Cadence UART. Any other UART
 * (an 8250 with 2-byte accesses or a larger stride) gets no console and a note.
 */
export function forPurgatory(chosen: ChosenUart): PurgatoryConsole {
  const none: Console = { kind: "none", base: 0n, shift: 0, width: 1 };
  const u = chosen.uart;
  if (u === null) return { console: none, note: `the purgatory prints nothing: ${chosen.why ?? "no console"}` };
  if (u.family === "pl011" || u.family === "cadence") return { console: { kind: u.family, base: u.base, shift: 0, width: 4 }, note: null };
  if (u.shift <= 3 && (u.width === 1 || u.width === 4)) {
    return { console: { kind: "8250", base: u.base, shift: u.shift as Console["shift"], width: u.width }, note: null };
  }
  const why = `${formatUart(u)} is an 8250 with shift ${u.shift} and ${u.width}-byte accesses; the purgatory drives an 8250 at shift 0..3 with 1- or 4-byte accesses`;
  return { console: none, note: `the purgatory prints nothing: ${why}` };
}

/**
 * Checks that a UART's registers are neither RAM nor inside one of `ranges`
 * (segments): the purgatory would write its messages into memory.
 * @throws InputError `BAD_CONSOLE` naming the range it falls in.
 */
export function checkUartAddress(u: Uart, memory: readonly Range[], segments: readonly (Range & { readonly name: string })[], where: string): void {
  const w = uartWindow(u);
  const hit = [...memory.map((r) => ({ ...r, name: `System RAM ${hex(r.start)}-${hex(r.end)}` })), ...segments]
    .find((r) => w.start < r.end && r.start < w.end);
  if (hit !== undefined) {
    throw new InputError("BAD_CONSOLE", `Cannot use console ${formatUart(u)}: its registers ${hex(w.start)}-${hex(w.end)} are inside ${hit.name}`, where,
      "A UART is MMIO outside RAM; give its register base from the device tree (purgatory fdt dump), or --console none");
  }
}

/**
 * What a reset on a digest mismatch needs: PSCI, over the conduit the
 * target's device tree names (the purgatory's psci slot, ABI 3). Without a
 * reset policy the conduit is still passed on (an exception also resets).
 * @throws InputError `NO_PSCI` for `reset` on a target with no PSCI.
 */
export function checkPolicy(policy: Policy, psci: PsciConduit | null): void {
  if (policy !== "reset" || psci !== null) return;
  throw new InputError("NO_PSCI", "Cannot reset on a digest mismatch: the target's device tree has no PSCI node (or the target carries no DTB), so the purgatory has no SYSTEM_RESET to call",
    "--on-mismatch", "Use --on-mismatch spin, or describe the target again with its device tree (a board whose firmware has PSCI lists it as /psci)");
}
