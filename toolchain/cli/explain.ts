import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { hex, hex64, inFile } from "../bytes/index.js";
import { MANIFEST_FORMAT, MANIFEST_KEYS, formatUart, parseConsoleRequest, readBundle, uartWindow, type SegmentFault } from "../bundle/index.js";
import {
  RULES,
  checkConsoleWindow,
  checkLoad,
  factsFor,
  kernelVerdict,
  loadCaveats,
  loadWarnings,
  parseLoadJson,
  KEXEC_ON_CRASH,
  memoryMap,
  renderMapSvg,
  renderMapText,
  type Caveat,
  type MapInput,
  type Errno,
  type LoadSegment,
  type Mode,
  type RuleId,
  type Violation,
} from "../layout/index.js";
import { parseTarget, type Target } from "../target/index.js";
import { readText, writeAtomically } from "./_files.js";
import { report, run } from "./_run.js";

/**
 * `purgatory explain FILE`: replays the kernel's kexec_load checks and the
 * arm64 boot rules on a proposed load, offline, and says for each broken rule
 * which errno the kernel would return and what to change.
 */

interface ExplainArgs {
  file: string;
  target?: string;
  map?: boolean;
  svg?: string;
  json?: boolean;
}

/** The report: plain data, printed as text or JSON. */
export interface Explanation {
  readonly file: string;
  /** Where the target facts came from: a path, "inline" (the manifest's), or null (only the load's own facts). */
  readonly target: string | null;
  readonly mode: Mode;
  readonly entry: bigint;
  /** The flags word (a bigint, so that JSON shows it in hex). */
  readonly flags: bigint;
  readonly segments: readonly LoadSegment[];
  readonly violations: readonly Violation[];
  /** What kexec_load would return: the first refusal's errno, or null when it accepts the load. */
  readonly kexecLoad: Errno | null;
  readonly caveats: readonly Caveat[];
  /** What the target's facts make likely to fail (spin-table CPUs under a reboot load). */
  readonly warnings: readonly string[];
  /** A bundle's purgatory console (`pl011@0x9000000`, `none`), or null for a segment list. */
  readonly console: string | null;
  /** Why a bundle's purgatory prints nothing, or null. */
  readonly consoleNote: string | null;
  /**
   * For a bundle (a manifest with `format`), each segment file that is
   * missing, of another size or another SHA-256 than the manifest says: a
   * loader could not load it as described. Null for a bare segment list.
   */
  readonly fileFaults: readonly SegmentFault[] | null;
  /** Top-level keys of the file that explain does not use (a bundle manifest's own keys are not listed). */
  readonly ignored: readonly string[];
}

/**
 * Reads FILE (a bundle directory or its manifest.json, or a JSON segment
 * list) and checks it; a bundle's segment files are read and hashed too.
 */
export async function explainFile(file: string, targetPath: string | undefined): Promise<{ explanation: Explanation; map: MapInput }> {
  const manifest = isDirectory(file) ? join(file, "manifest.json") : file;
  const text = readText(manifest, isDirectory(file) ? "Is this a bundle directory? It has no manifest.json" : undefined);
  const doc = inFile(manifest, () => parseLoadJson(text));
  const raw = JSON.parse(text) as { format?: unknown; purgatory?: { console?: unknown; consoleNote?: unknown } };
  const bundle = raw.format === MANIFEST_FORMAT;
  let target: Target | undefined;
  let source: string | null = null;
  if (targetPath !== undefined) {
    target = inFile(targetPath, () => parseTarget(readText(targetPath)));
    source = targetPath;
  } else if (typeof doc.target === "string") {
    source = join(dirname(manifest), doc.target);
    const path = source;
    target = inFile(path, () => parseTarget(readText(path, "The manifest's target path is relative to the manifest")));
  } else if (doc.target !== undefined) {
    target = parseTarget(JSON.stringify(doc.target));
    source = "inline";
  }
  const facts = factsFor(doc, target, source ?? file);
  const violations = checkLoad(doc.load, facts);
  // A bundle's manifest says which UART its purgatory writes to; its
  // registers must be neither RAM nor a segment.
  const purgatory = raw.purgatory;
  const console = typeof purgatory?.console === "string" ? purgatory.console : null;
  const req = console === null ? "none" : inFile(manifest, () => parseConsoleRequest(console, "purgatory.console"));
  if (req !== "none" && req !== "auto") violations.push(...checkConsoleWindow(uartWindow(req), formatUart(req), doc.load, facts));
  const explanation: Explanation = {
    file: manifest,
    target: source,
    mode: (doc.load.flags & KEXEC_ON_CRASH) !== 0 ? "crash" : "reboot",
    entry: doc.load.entry,
    flags: BigInt(doc.load.flags),
    segments: doc.load.segments,
    violations,
    kexecLoad: kernelVerdict(violations),
    caveats: loadCaveats(doc.load, facts),
    warnings: loadWarnings(doc.load, facts),
    console,
    consoleNote: typeof purgatory?.consoleNote === "string" ? purgatory.consoleNote : null,
    fileFaults: bundle ? (await readBundle(dirname(manifest))).faults : null,
    ignored: bundle ? doc.ignored.filter((k) => !MANIFEST_KEYS.includes(k)) : doc.ignored,
  };
  // The map shows the registers of the UART the purgatory prints on.
  const uart = req === "none" || req === "auto" ? null : { name: req.family, window: uartWindow(req) };
  return { explanation, map: { load: doc.load, facts, console: uart } };
}

/** The text form of the report. */
export function renderExplanation(e: Explanation): string {
  const lines = [
    `load:    ${e.file}${e.target === null ? " (no target: only the facts in the file)" : `, target ${e.target}`}`,
    `mode:    ${e.mode} (flags ${hex(e.flags)}), entry ${hex64(e.entry)}, ${e.segments.length} segment${e.segments.length === 1 ? "" : "s"}`,
    "",
    "  #  role        mem                 end                 memsz       bufsz",
  ];
  e.segments.forEach((s, i) => {
    lines.push(`${String(i).padStart(3)}  ${(s.role ?? "-").padEnd(10)}  ${hex64(s.mem)}  ${s.mem + s.memsz < 1n << 64n ? hex64(s.mem + s.memsz) : "(past 2^64)       "}  ${hex(s.memsz).padEnd(10)}  ${hex(s.bufsz)}`);
  });
  lines.push("");
  const faults = e.fileFaults ?? [];
  if (faults.length > 0) {
    lines.push(`${faults.length} bundle file${faults.length === 1 ? "" : "s"} not as the manifest says (a loader reads each file, the purgatory checks its SHA-256):`);
    for (const f of faults) lines.push(`  [${f.fault}] ${f.role}: ${f.detail}`);
    lines.push("      fix:  Rebuild the bundle, or restore the file", "");
  }
  if (e.violations.length === 0) {
    lines.push(faults.length === 0
      ? "no violations: kexec_load accepts this load and every arm64 boot rule holds"
      : "no layout violations, but the bundle cannot be loaded as it is: its files differ from the manifest (above)");
  } else {
    lines.push(`${e.violations.length} violation${e.violations.length === 1 ? "" : "s"}:`);
    for (const v of e.violations) {
      const rule = RULES[v.rule];
      lines.push(`  [${v.errno === "none" ? "boot fails" : v.errno}] ${v.rule}: ${v.message}`);
      lines.push(`      fix:  ${v.fix}`);
      lines.push(`      rule: ${rule.summary} (${rule.source})`);
    }
    const boot = e.violations.filter((v) => v.severity === "boot-fails").length;
    lines.push("");
    lines.push(
      e.kexecLoad !== null
        ? `verdict: kexec_load would fail with ${e.kexecLoad} (the first broken rule it checks)${boot > 0 ? `; ${boot} boot rule${boot === 1 ? "" : "s"} broken as well` : ""}`
        : `verdict: kexec_load accepts this load, but the boot would fail (${boot} boot rule${boot === 1 ? "" : "s"} broken)`,
    );
  }
  if (e.consoleNote !== null) lines.push("", `note: ${e.consoleNote}`);
  for (const w of e.warnings) lines.push("", `warning: ${w}`);
  lines.push("", "caveats (not decidable offline, or not checked):");
  for (const c of e.caveats) lines.push(`  ${c.errno === "none" ? "-" : c.errno}${" ".repeat(Math.max(1, 8 - (c.errno === "none" ? 1 : c.errno.length)))}${c.message}`);
  if (e.ignored.length > 0) lines.push("", `ignored keys: ${e.ignored.join(", ")}`);
  return lines.join("\n") + "\n";
}

const ruleList = (Object.keys(RULES) as RuleId[])
  .map((id) => `  ${id.padEnd(18)} ${(RULES[id].errno === "none" ? "boot fails" : RULES[id].errno).padEnd(13)} ${RULES[id].summary}`)
  .join("\n");

const explain: CommandModule<object, ExplainArgs> = {
  command: "explain <file>",
  describe: "Check a proposed kexec_load offline: each broken rule, the errno the kernel would return, and the fix",
  builder: (y) =>
    y
      .positional("file", {
        type: "string",
        demandOption: true,
        describe: "A bundle directory (its manifest.json is read) or a JSON segment list (- for stdin)",
      })
      .option("target", {
        type: "string", requiresArg: true,
        describe: "target.json (as `purgatory describe` writes it) to check against; overrides the manifest's target",
      })
      .option("map", { type: "boolean", describe: "Also draw physical memory: RAM, reserved and crash ranges, each segment, the purgatory's pool and console" })
      .option("svg", { type: "string", requiresArg: true, describe: "Write the same map as an SVG with a legend to FILE (atomically)" })
      .option("json", { type: "boolean", describe: "Print the report as JSON" })
      .example("$0 explain out/bundle", "check a bundle against the target named in its manifest")
      .example("$0 explain out/bundle --map --svg map.svg", "and draw where everything lies, in the terminal and as a picture")
      .example("$0 explain load.json --target target.json", "check a loader's own segment list against a machine")
      .epilogue(
        "A segment list is JSON; 64-bit values are \"0x…\" strings, ranges half-open:\n" +
          '  { "entry": "0x40102000", "flags": "0xb70000",\n' +
          '    "segments": [ { "role": "dtb", "mem": "0x40100000", "memsz": "0x2000", "bufsz": "0x1f8c" }, … ],\n' +
          '    "pageSize": 4096, "memory": [ { "start": "0x40000000", "end": "0x80000000" } ],\n' +
          '    "reserved": [ … ], "crashKernel": { "start": …, "end": … } | null }\n' +
          "role (kernel, initrd, dtb, elfcorehdr, purgatory) enables the arm64 boot rules; a kernel segment\n" +
          "may carry textOffset and imageSize from its Image header. Facts the file and --target leave out\n" +
          "skip their checks, and the report says which.\n\n" +
          "Rules, in the order the kernel checks them (errno, or \"boot fails\" when the kernel accepts the\n" +
          "load but the new kernel cannot boot or firmware memory is overwritten):\n" +
          ruleList +
          "\n\nLockdown is a finding (EPERM) when the target states its level (describe reads\n" +
          "/sys/kernel/security/lockdown), a caveat otherwise; EPERM from kexec_load_disabled and EBUSY\n" +
          "(CPUs stuck) depend on the running system and are listed as caveats, never as findings; a\n" +
          "reboot load on a target whose CPUs start with spin-table is warned about (EBUSY unless its\n" +
          "kernel runs with nr_cpus=1). For a bundle, the UART its purgatory prints on (manifest\n" +
          "purgatory.console) must lie outside RAM and every segment (console-window), and when it\n" +
          "prints nothing the report says why, once (docs/target.md). A bundle's segment files are\n" +
          "read and hashed as well: a missing or changed one is reported.\n" +
          "Exit status: 0 no violation, 1 a violation, a bundle file not as its manifest says, or\n" +
          "unreadable input, 2 wrong usage.",
      ) as unknown as Argv<ExplainArgs>,
  handler: (argv) =>
    run(argv, async () => {
      const { explanation: e, map } = await explainFile(argv.file, argv.target);
      const drawn = argv.map === true || argv.svg !== undefined ? memoryMap(map) : null;
      if (argv.svg !== undefined) writeAtomically(argv.svg, renderMapSvg(drawn!));
      report(argv, e, (d) => renderExplanation(d) + (argv.map === true ? `\n${renderMapText(drawn!)}` : "") + (argv.svg !== undefined ? `\nwrote the map to ${argv.svg}\n` : ""));
      if (e.violations.length > 0 || (e.fileFaults ?? []).length > 0) process.exitCode = 1;
    }),
};

export default explain;

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

