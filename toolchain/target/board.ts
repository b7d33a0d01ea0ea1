import { hex, isInputError } from "../bytes/index.js";
import {
  FDT_MAX_NCELLS,
  OF_ROOT_NODE_ADDR_CELLS_DEFAULT,
  OF_ROOT_NODE_SIZE_CELLS_DEFAULT,
  decodeString,
  decodeStrings,
  decodeU32,
  findNode,
  parseFdt,
  type FdtNode,
  type FdtTree,
} from "../fdt/index.js";
import type { PsciConduit, TargetConsole, UartFamily } from "./types.js";

/**
 * What a target's device tree says about the board, as data: the console
 * UART (family, CPU physical address, register shift and access width), the
 * PSCI conduit and each CPU's enable-method. Pure functions over a parsed
 * tree; docs/target.md explains each rule with the kernel source it follows.
 * Nothing here throws for odd device-tree content: a fact that cannot be
 * derived is null, and `notes` says why.
 */

export interface BoardFacts {
  readonly console: TargetConsole | null;
  readonly psci: PsciConduit | null;
  readonly cpuEnableMethod: Readonly<Record<string, string | null>>;
  /** Why a fact is missing or doubtful, one sentence each (describe prints them as warnings). */
  readonly notes: readonly string[];
}

/**
 * The board facts of a device tree (bytes or parsed) and the kernel command
 * line that goes with it (for `console=` when the tree has no stdout-path).
 */
export function boardFacts(dtb: Uint8Array | FdtTree, commandLine: string): BoardFacts {
  let tree: FdtTree;
  try {
    tree = dtb instanceof Uint8Array ? parseFdt(dtb) : dtb;
  } catch (e) {
    if (!isInputError(e)) throw e;
    return { console: null, psci: null, cpuEnableMethod: {}, notes: [`the device tree cannot be read (${e.message}): no console, PSCI or CPU facts`] };
  }
  const notes: string[] = [];
  const console = findConsole(tree, commandLine, notes);
  const psci = findPsci(tree, notes);
  return { console, psci, cpuEnableMethod: cpuEnableMethods(tree), notes };
}

// --- The console -------------------------------------------------------------

/**
 * One compatible and what its Linux driver makes of the node: the family, and
 * the register shift and access width it uses when the node does not say
 * (`reg-shift`, `reg-io-width`), or always (`fixed`).
 */
interface UartKind {
  readonly family: UartFamily;
  readonly shift: number;
  readonly width: 1 | 2 | 4;
  /** How the driver reads reg-shift/reg-io-width: "of" (8250_of.c), "dw" (8250_dw.c), "pl011", or "fixed" (ignores both). */
  readonly props: "of" | "dw" | "pl011" | "fixed";
}

const OF_8250: UartKind = { family: "8250", shift: 0, width: 1, props: "of" };
const CADENCE: UartKind = { family: "cadence", shift: 0, width: 4, props: "fixed" };

/**
 * The compatibles this tool knows. Sources (Linux 6.1):
 * - amba-pl011.c: "arm,pl011" (vendor_arm, access_32b false: pl011_read uses
 *   readw unless reg-io-width = 4 selects UPIO_MEM32) and "arm,sbsa-uart"
 *   (vendor_sbsa, access_32b true: readl).
 * - 8250/8250_of.c of_platform_serial_table: ns8250, ns16450, ns16550,
 *   ns16550a, ns16750, ns16850 and the SoC variants below; reg-shift default
 *   0, reg-io-width 1, 2 or 4 (default 1, UPIO_MEM), reg-offset added to the
 *   base; "mrvl,mmp-uart" implies reg-shift 2.
 * - 8250/8250_dw.c dw8250_of_match: "snps,dw-apb-uart" and its quirky
 *   relatives; reg-shift default 0, byte access unless reg-io-width = 4.
 * - 8250/8250_bcm2835aux.c: "brcm,bcm2835-aux-uart", registers at stride 4
 *   whatever the node says (regshift = 2); its earlycon reads them 32 bits
 *   wide (UPIO_MEM32), which is how the purgatory, an early console, uses it.
 * - xilinx_uartps.c cdns_uart_of_match: "xlnx,xuartps", "cdns,uart-r1p8",
 *   "cdns,uart-r1p12", "xlnx,zynqmp-uart"; 32-bit readl/writel, no shift.
 */
const KINDS: ReadonlyMap<string, UartKind> = new Map<string, UartKind>([
  ["arm,pl011", { family: "pl011", shift: 0, width: 2, props: "pl011" }],
  ["arm,sbsa-uart", { family: "pl011", shift: 0, width: 4, props: "fixed" }],
  ...["ns8250", "ns16450", "ns16550", "ns16550a", "ns16750", "ns16850", "nvidia,tegra20-uart", "ti,da830-uart",
    "nuvoton,npcm750-uart", "altr,16550-FIFO32", "altr,16550-FIFO64", "altr,16550-FIFO128"].map((c) => [c, OF_8250] as const),
  ["mrvl,mmp-uart", { ...OF_8250, shift: 2 }],
  ...["snps,dw-apb-uart", "marvell,armada-38x-uart", "renesas,rzn1-uart", "starfive,jh7100-uart"]
    .map((c) => [c, { family: "8250", shift: 0, width: 1, props: "dw" }] as const),
  ["brcm,bcm2835-aux-uart", { family: "8250", shift: 2, width: 4, props: "fixed" }],
  ...["xlnx,xuartps", "cdns,uart-r1p8", "cdns,uart-r1p12", "xlnx,zynqmp-uart"].map((c) => [c, CADENCE] as const),
]);

/** The tty name prefix each family's Linux driver registers (ttyAMA0, ttyS0, ttyPS0). */
const TTY: Readonly<Record<string, UartFamily>> = { ttyAMA: "pl011", ttyS: "8250", ttyPS: "cadence" };

/**
 * The console: the node `/chosen/stdout-path` (or `linux,stdout-path`) names,
 * as drivers/of/base.c of_alias_scan and of_find_node_opts_by_path read it
 * (an alias or a path, `:options` cut off); without one, the last `console=`
 * of the command line that names a UART this tool can resolve.
 */
function findConsole(tree: FdtTree, commandLine: string, notes: string[]): TargetConsole | null {
  const chosen = findNode(tree, "/chosen");
  const stdout = chosen === undefined ? undefined : prop(chosen, "stdout-path") ?? prop(chosen, "linux,stdout-path");
  if (stdout !== undefined) {
    const spec = safeString(stdout);
    if (spec === null) {
      notes.push("/chosen/stdout-path is not a string: no console");
      return null;
    }
    const path = resolvePath(tree, spec.split(":")[0]!, notes, `/chosen/stdout-path "${spec}"`);
    return path === null ? null : uartAt(tree, path, notes);
  }
  const consoles = [...commandLine.matchAll(/(?:^|\s)console=(\S+)/g)].map((m) => m[1]!);
  let named = false;
  for (const c of [...consoles].reverse()) {
    const found = fromConsoleArg(tree, c, notes);
    if (found !== undefined && found !== null) return found;
    named ||= found === null;
  }
  if (named) return null;
  notes.push(consoles.length === 0
    ? "no /chosen/stdout-path and no console= on the command line: the console is unknown"
    : `no /chosen/stdout-path, and no console= names a UART this tool can resolve (${consoles.map((c) => `console=${c}`).join(" ")}): the console is unknown`);
  return null;
}

/**
 * One `console=` value naming a UART port: `ttyAMA<n>`, `ttyS<n>` or
 * `ttyPS<n>`. Each driver numbers its ports by the node's alias
 * (of_alias_get_id(np, "serial") in amba-pl011.c, 8250_of.c, 8250_dw.c,
 * xilinx_uartps.c), so port n is the node of alias serial<n> when that node
 * is of the family registering the tty; without the alias, port 0 is the only
 * UART of that family, and anything else depends on probe order (unknown).
 * Undefined when the value names no UART port (tty0, hvc0, or the address
 * forms `uart8250,mmio32,ADDR` that belong to earlycon).
 */
function fromConsoleArg(tree: FdtTree, arg: string, notes: string[]): TargetConsole | null | undefined {
  const m = /^(ttyAMA|ttyS|ttyPS)([0-9]+)(?:,.*)?$/.exec(arg);
  if (m === null) return undefined;
  const family = TTY[m[1]!]!;
  const index = Number(m[2]);
  const aliases = findNode(tree, "/aliases");
  const alias = aliases === undefined ? undefined : prop(aliases, `serial${index}`);
  if (alias !== undefined) {
    const path = resolvePath(tree, safeString(alias) ?? "", notes, `alias serial${index}`);
    if (path === null) return null;
    const node = findNode(tree, path);
    if (node !== undefined && kindOf(node)?.kind.family === family) return uartAt(tree, path, notes);
    notes.push(`console=${arg}: alias serial${index} is ${path}, not a ${family} UART, so ${m[1]}${index} is another port: the console is unknown`);
    return null;
  }
  const same = walk(tree).filter(({ node }) => available(node) && kindOf(node)?.kind.family === family);
  if (index === 0 && same.length === 1) return uartAt(tree, same[0]!.path, notes);
  notes.push(`console=${arg}: no alias serial${index}, and ${same.length} ${family} UARTs, so which port the driver numbers ${index} depends on probe order: the console is unknown`);
  return null;
}

/**
 * The UART at `path`: family and defaults from its compatibles (the first
 * one this tool knows, in the node's order, as the kernel prefers the most
 * specific), then `reg-shift`, `reg-io-width` and `reg-offset` where its
 * driver reads them, and the base translated to a CPU physical address.
 */
function uartAt(tree: FdtTree, path: string, notes: string[]): TargetConsole | null {
  const node = findNode(tree, path);
  if (node === undefined) {
    notes.push(`the console node ${path} does not exist: no console`);
    return null;
  }
  const compatibles = prop(node, "compatible");
  const list = compatibles === undefined ? [] : safeStrings(compatibles);
  if (list.length === 0) {
    notes.push(`the console node ${path} has no compatible: no console`);
    return null;
  }
  if (!available(node)) notes.push(`the console node ${path} has status "${statusOf(node)}": Linux does not drive it, but firmware may still print there`);
  if (prop(node, "big-endian") !== undefined) {
    notes.push(`the console ${path} has big-endian registers, which the purgatory does not drive: no console`);
    return null;
  }
  const found = kindOf(node);
  const kind: UartKind = found?.kind ?? { family: "8250", shift: 0, width: 1, props: "of" };
  const u32 = (name: string): number | undefined => {
    const v = prop(node, name);
    if (v === undefined) return undefined;
    try {
      return decodeU32(v, `${path}/${name}`);
    } catch {
      notes.push(`${path}/${name} is not one u32 cell: ignored`);
      return undefined;
    }
  };
  let shift = kind.shift;
  let width = kind.width;
  let offset = 0n;
  const regShift = u32("reg-shift");
  const ioWidth = u32("reg-io-width");
  if (kind.props !== "fixed" && kind.props !== "pl011" && regShift !== undefined) shift = regShift;
  if (kind.props === "pl011") width = ioWidth === 4 ? 4 : 2;
  if (kind.props === "dw") width = ioWidth === 4 ? 4 : 1;
  if (kind.props === "of") {
    if (ioWidth !== undefined) {
      if (ioWidth !== 1 && ioWidth !== 2 && ioWidth !== 4) {
        notes.push(`${path}/reg-io-width is ${ioWidth}; 8250_of refuses anything but 1, 2 or 4: no console`);
        return null;
      }
      width = ioWidth;
    }
    offset = BigInt(u32("reg-offset") ?? 0);
  }
  if (shift > 4) {
    notes.push(`${path}/reg-shift is ${shift}, more than any UART uses: no console`);
    return null;
  }
  let base: bigint | null = null;
  const at = regBase(tree, path, notes);
  if (at !== null) base = at + offset;
  if (found === null) notes.push(`the console ${path} (compatible "${list.join('", "')}") is of no UART family this tool knows: it is recorded, but nothing drives it`);
  return { family: found === null ? null : kind.family, compatible: found?.compatible ?? list[0]!, path, base, shift, width };
}

function kindOf(node: FdtNode): { compatible: string; kind: UartKind } | null {
  const v = prop(node, "compatible");
  for (const c of v === undefined ? [] : safeStrings(v)) {
    const kind = KINDS.get(c);
    if (kind !== undefined) return { compatible: c, kind };
  }
  return null;
}

// --- Addresses ---------------------------------------------------------------

/**
 * The CPU physical address of the first `reg` entry of the node at `path`:
 * drivers/of/address.c of_translate_address. The address, read with the
 * parent's #address-cells, is mapped through the `ranges` of each bus on the
 * way to the root: an empty `ranges` is the identity, an entry (child
 * address, parent address, size) moves addresses inside it, and a bus with no
 * `ranges` at all ends the walk (its children's addresses are not CPU
 * addresses, e.g. an I2C bus). PCI buses encode addresses differently and
 * are not followed. Null, with a note, when there is no translation.
 */
export function regBase(tree: FdtTree, path: string, notes: string[]): bigint | null {
  const chain = chainOf(tree, path);
  if (chain === null) {
    notes.push(`${path} does not exist`);
    return null;
  }
  const node = chain.at(-1)!.node;
  const reg = prop(node, "reg");
  if (reg === undefined) {
    notes.push(`${path} has no reg: its address is unknown`);
    return null;
  }
  const parentCells = cells(chain, chain.length - 2);
  if (parentCells === null || parentCells.address === 0 || reg.length < 4 * parentCells.address) {
    notes.push(`${path}/reg does not hold an address of ${parentCells?.address ?? "?"} cells: its address is unknown`);
    return null;
  }
  let address = readCells(reg, 0, parentCells.address);
  if (address === null) {
    notes.push(`${path}/reg holds an address wider than 64 bits: its address is unknown`);
    return null;
  }
  for (let i = chain.length - 2; i > 0; i--) {
    const bus = chain[i]!;
    if (deviceType(bus.node) === "pci") {
      notes.push(`${path} is behind the PCI bus ${bus.path}, whose addresses this tool does not translate: its address is unknown`);
      return null;
    }
    const ranges = prop(bus.node, "ranges");
    if (ranges === undefined) {
      notes.push(`${bus.path} has no ranges, so ${path} at ${hex(address)} has no CPU address: its address is unknown`);
      return null;
    }
    if (ranges.length === 0) continue;
    const child = cells(chain, i);
    const parent = cells(chain, i - 1);
    if (child === null || parent === null) {
      notes.push(`${bus.path} has unreadable #address-cells or #size-cells: ${path} cannot be translated`);
      return null;
    }
    const stride = 4 * (child.address + parent.address + child.size);
    if (stride === 0 || ranges.length % stride !== 0) {
      notes.push(`${bus.path}/ranges is not a whole number of (${child.address} + ${parent.address} + ${child.size})-cell entries: ${path} cannot be translated`);
      return null;
    }
    let mapped: bigint | null = null;
    for (let at = 0; at < ranges.length && mapped === null; at += stride) {
      const from = readCells(ranges, at, child.address);
      const to = readCells(ranges, at + 4 * child.address, parent.address);
      const size = readCells(ranges, at + 4 * (child.address + parent.address), child.size);
      if (from === null || to === null || size === null) continue;
      if (address >= from && address - from < size) mapped = to + (address - from);
    }
    if (mapped === null) {
      notes.push(`${hex(address)} (${path}) is in no ranges entry of ${bus.path}: its address is unknown`);
      return null;
    }
    address = mapped;
  }
  return address;
}

interface Link {
  readonly node: FdtNode;
  readonly path: string;
}

/** The root, then each node along `path`; null when it does not exist. */
function chainOf(tree: FdtTree, path: string): Link[] | null {
  if (findNode(tree, path) === undefined) return null;
  const out: Link[] = [{ node: tree.root, path: "/" }];
  let at = "";
  for (const part of path.split("/").filter((p) => p !== "")) {
    at += `/${part}`;
    out.push({ node: findNode(tree, at)!, path: at });
  }
  return out;
}

/**
 * The #address-cells/#size-cells of the children of `chain[i]`: its own, else
 * the nearest ancestor's, else the kernel's root defaults (drivers/of/base.c
 * of_bus_n_addr_cells). Null for a value that is not one cell of 0..4.
 */
function cells(chain: readonly Link[], i: number): { address: number; size: number } | null {
  const read = (name: string, fallback: number): number | null => {
    for (let j = i; j >= 0; j--) {
      const v = prop(chain[j]!.node, name);
      if (v === undefined) continue;
      if (v.length !== 4) return null;
      const n = new DataView(v.buffer, v.byteOffset, 4).getUint32(0, false);
      return n <= FDT_MAX_NCELLS ? n : null;
    }
    return fallback;
  };
  const address = read("#address-cells", OF_ROOT_NODE_ADDR_CELLS_DEFAULT);
  const size = read("#size-cells", OF_ROOT_NODE_SIZE_CELLS_DEFAULT);
  return address === null || size === null ? null : { address, size };
}

/** `n` big-endian cells at byte `at` as one number; null past 64 bits or past the value. */
function readCells(v: Uint8Array, at: number, n: number): bigint | null {
  if (at + 4 * n > v.length) return null;
  const view = new DataView(v.buffer, v.byteOffset, v.length);
  let x = 0n;
  for (let i = 0; i < n; i++) x = (x << 32n) | BigInt(view.getUint32(at + 4 * i, false));
  return x >> 64n === 0n ? x : null;
}

// --- PSCI and CPUs ------------------------------------------------------------

const PSCI_COMPATIBLES = ["arm,psci", "arm,psci-0.2", "arm,psci-1.0"];

/**
 * The conduit of the first available node compatible with arm,psci,
 * arm,psci-0.2 or arm,psci-1.0 (drivers/firmware/psci/psci.c psci_dt_init,
 * get_set_conduit_method): its `method`, "hvc" or "smc". Null without such a
 * node, or when its method is neither (the kernel then does not use PSCI).
 */
function findPsci(tree: FdtTree, notes: string[]): PsciConduit | null {
  const node = walk(tree).find(({ node: n }) => {
    const c = prop(n, "compatible");
    return c !== undefined && safeStrings(c).some((x) => PSCI_COMPATIBLES.includes(x)) && available(n);
  });
  if (node === undefined) return null;
  const m = prop(node.node, "method");
  const method = m === undefined ? null : safeString(m);
  if (method === "hvc" || method === "smc") return method;
  notes.push(`${node.path} has method ${method === null ? "missing" : JSON.stringify(method)}, not "hvc" or "smc": Linux does not use PSCI there, and neither will the purgatory`);
  return null;
}

/**
 * Each CPU node's `enable-method` (arch/arm64/kernel/cpu_ops.c
 * cpu_read_enable_method): "psci" or "spin-table" on arm64; null when absent
 * (allowed for the boot CPU). CPU nodes are the children of /cpus named
 * "cpu" or with device_type "cpu", except those whose status is "fail…".
 */
export function cpuEnableMethods(tree: FdtTree): Record<string, string | null> {
  const cpus = findNode(tree, "/cpus");
  const out: Record<string, string | null> = {};
  for (const c of cpus?.children ?? []) {
    if (!(c.name.split("@")[0] === "cpu" || deviceType(c) === "cpu") || statusOf(c).startsWith("fail")) continue;
    const m = prop(c, "enable-method");
    out[`/cpus/${c.name}`] = m === undefined ? null : safeString(m);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// --- Small readers -----------------------------------------------------------

function prop(node: FdtNode, name: string): Uint8Array | undefined {
  return node.properties.find((p) => p.name === name)?.value;
}

function safeString(v: Uint8Array): string | null {
  try {
    return decodeString(v);
  } catch {
    return null;
  }
}

function safeStrings(v: Uint8Array): string[] {
  try {
    return decodeStrings(v);
  } catch {
    return [];
  }
}

function statusOf(node: FdtNode): string {
  const v = prop(node, "status");
  return v === undefined ? "okay" : safeString(v) ?? "";
}

/** drivers/of/base.c __of_device_is_available: no status, "okay" or "ok". */
function available(node: FdtNode): boolean {
  const s = statusOf(node);
  return s === "okay" || s === "ok";
}

function deviceType(node: FdtNode): string | null {
  const v = prop(node, "device_type");
  return v === undefined ? null : safeString(v);
}

/** Every node with its path, depth first in tree order (as of_find_matching_node visits them). */
function walk(tree: FdtTree): Link[] {
  const out: Link[] = [];
  const visit = (node: FdtNode, path: string): void => {
    out.push({ node, path });
    for (const c of node.children) visit(c, path === "/" ? `/${c.name}` : `${path}/${c.name}`);
  };
  visit(tree.root, "/");
  return out;
}

/**
 * An alias name or an absolute path (with an optional sub-path after the
 * alias) resolved to the absolute path of an existing node, as
 * of_find_node_opts_by_path does; null, with a note, when it names nothing.
 */
function resolvePath(tree: FdtTree, spec: string, notes: string[], what: string): string | null {
  let path = spec;
  if (!spec.startsWith("/")) {
    const slash = spec.indexOf("/");
    const name = slash < 0 ? spec : spec.slice(0, slash);
    const aliases = findNode(tree, "/aliases");
    const value = aliases === undefined ? undefined : prop(aliases, name);
    const target = value === undefined ? null : safeString(value);
    if (target === null || !target.startsWith("/")) {
      notes.push(`${what}: no alias "${name}" in /aliases: no console`);
      return null;
    }
    path = target + (slash < 0 ? "" : spec.slice(slash));
  }
  try {
    if (findNode(tree, path) !== undefined) return fullPath(tree, path);
  } catch (e) {
    if (!isInputError(e)) throw e;
    notes.push(`${what}: ${e.message}: no console`);
    return null;
  }
  notes.push(`${what} names ${path}, which does not exist: no console`);
  return null;
}

/** The path with every component's full name (a unit-less component matches `name@unit`). */
function fullPath(tree: FdtTree, path: string): string {
  let node = tree.root;
  let out = "";
  for (const part of path.split("/").filter((p) => p !== "")) {
    node = node.children.find((c) => c.name === part) ?? node.children.find((c) => c.name.split("@")[0] === part)!;
    out += `/${node.name}`;
  }
  return out === "" ? "/" : out;
}
