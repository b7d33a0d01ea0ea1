/**
 * Segment layout for kexec_load on arm64: `planLayout` places the segments the
 * way the kernel and booting.rst want them; `checkLoad` re-checks any load,
 * ours or another tool's, against those rules with separate code and returns
 * each violation with the errno kexec_load would give.
 */
export { planLayout, ELFCOREHDR_ALIGN } from "./place.js";
export type { LayoutInput } from "./place.js";
export { checkConsoleWindow, checkLoad, kernelVerdict, loadCaveats, loadWarnings, RULES } from "./check.js";
export type { CheckFacts, Rule } from "./check.js";
export { factsFor, parseLoadJson } from "./read.js";
export type { LoadDocument } from "./read.js";
export { formatPlan } from "./dump.js";
export { MAP_COLUMNS, MAP_KINDS, memoryMap, renderMapSvg, renderMapText } from "./map.js";
export type { MapBar, MapInput, MapKind, MapRange, MapRow, MemoryMap } from "./map.js";
export * from "./types.js";
