import type { Range, Target } from "../target/types.js";
import { subtract, totalSize } from "../target/ranges.js";

/** The target facts the RAM estimate reads. */
export type RamFacts = Pick<Target, "pageSize" | "memory"> &
  Partial<Pick<Target, "reserved" | "crashKernel" | "crashKernelLow" | "kernelCode" | "kernelData">>;

/**
 * Estimates the running kernel's `totalram_pages()`, which
 * `sanity_check_segment_list` (kernel/kexec_core.c) halves to bound each
 * segment and the sum of all segments.
 *
 * totalram counts the pages the buddy allocator manages: System RAM minus what
 * memblock kept back. We subtract what the target knows of (reserved ranges,
 * both crash ranges, the kernel image); the real value is lower still (struct
 * pages, page tables), so a load within a few percent of the limit may still
 * be refused. Returns pages of `pageSize` bytes.
 */
export function estimateTotalRamPages(t: RamFacts): bigint {
  const held: Range[] = [...(t.reserved ?? [])];
  for (const r of [t.crashKernel, t.crashKernelLow, t.kernelCode, t.kernelData]) if (r) held.push(r);
  return totalSize(subtract(t.memory, held)) / BigInt(t.pageSize);
}
