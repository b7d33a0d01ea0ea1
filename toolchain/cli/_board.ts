import { hex } from "../bytes/index.js";
import type { Target, TargetConsole } from "../target/index.js";

/** The board facts of a target (docs/target.md) as the CLI prints them. */

/** One line for a target's console: family, address, node, compatible, shift and width. */
export function describeConsole(c: TargetConsole | null): string {
  if (c === null) return "unknown";
  const at = c.base === null ? "address unknown" : hex(c.base);
  return `${c.family ?? "unknown family"} at ${at} (${c.path}, ${c.compatible}, shift ${c.shift}, width ${c.width})`;
}

/** One line for the CPUs' enable-methods: how many use each ("2 psci", "1 none, 3 spin-table"). */
export function describeCpus(t: Pick<Target, "cpuEnableMethod">): string {
  const counts = new Map<string, number>();
  for (const m of Object.values(t.cpuEnableMethod)) counts.set(m ?? "none", (counts.get(m ?? "none") ?? 0) + 1);
  return counts.size === 0 ? "no CPU nodes" : [...counts].map(([m, n]) => `${n} ${m}`).join(", ");
}
