import { hex, hex64 } from "../bytes/index.js";
import type { Target } from "../target/types.js";
import { subtract, intersect } from "../target/ranges.js";
import { KEXEC_ARCH_AARCH64, KEXEC_ON_CRASH, type Plan } from "./types.js";

/**
 * A plan as text for people and golden files: one line per segment with its
 * end, then the placement area and what is left free in it.
 */
export function formatPlan(plan: Plan, target: Target): string {
  const flagNames = [plan.flags & KEXEC_ON_CRASH ? "KEXEC_ON_CRASH" : "", (plan.flags & 0xffff0000) === KEXEC_ARCH_AARCH64 ? "KEXEC_ARCH_AARCH64" : ""]
    .filter((s) => s !== "")
    .join(" | ");
  const kernel = plan.segments.find((s) => s.role === "kernel");
  const lines = [
    `mode         ${plan.mode}`,
    `flags        ${hex(plan.flags)} (${flagNames})`,
    `entry        ${hex64(plan.entry)} (purgatory)`,
    `kernelEntry  ${hex64(plan.kernelEntry)} (2 MiB-aligned base ${hex(plan.kernelEntry - (kernel?.textOffset ?? 0n))} + text_offset ${hex(kernel?.textOffset ?? 0n)})`,
    `page size    ${hex(target.pageSize)}`,
    "",
    "role        mem                 end                 memsz       bufsz",
  ];
  for (const s of plan.segments) {
    lines.push(`${s.role.padEnd(11)} ${hex64(s.mem)}  ${hex64(s.mem + s.memsz)}  ${hex(s.memsz).padEnd(10)}  ${hex(s.bufsz)}`);
  }
  const total = plan.segments.reduce((n, s) => n + s.memsz, 0n);
  lines.push(`total memsz ${hex(total)}`, "");
  const area = plan.mode === "crash" && target.crashKernel
    ? subtract(intersect([target.crashKernel], target.memory), target.reserved)
    : subtract(target.memory, target.reserved);
  lines.push(plan.mode === "crash" ? "area (crashk_res minus reserved):" : "area (System RAM minus reserved):");
  for (const r of area) lines.push(`  [${hex64(r.start)}, ${hex64(r.end)})`);
  lines.push("free after placement:");
  const used = plan.segments.map((s) => ({ start: s.mem - (s.textOffset ?? 0n), end: s.mem + s.memsz }));
  const free = subtract(area, used);
  for (const r of free) lines.push(`  [${hex64(r.start)}, ${hex64(r.end)})  ${hex(r.end - r.start)} bytes`);
  if (free.length === 0) lines.push("  none");
  return lines.join("\n") + "\n";
}
