/**
 * ELF64 little-endian, the format alone: the layouts, a reader for headers
 * and notes, the dynamic-linking facts (PT_INTERP, DT_NEEDED) and section
 * headers, the checker that replays the capture kernel's `fs/proc/vmcore.c`
 * on a core header, and a text dump. What a crashed machine's core header
 * holds is the target's business (toolchain/target/elfcorehdr.ts).
 */
export * from "./layout.js";
export { parseElfHeader, parseProgramHeaders, parseNotes, programHeaderSpan, readElf } from "./read.js";
export type { ElfHeader, Note, ProgramHeader } from "./read.js";
export { checkVmcoreHeader } from "./check.js";
export type { CheckOptions, VmcoreFinding } from "./check.js";
export { dumpElfHeaders } from "./dump.js";
export { readDynamic } from "./dynamic.js";
export type { DynamicInfo } from "./dynamic.js";
export { findSection, readSections, sectionBytes } from "./sections.js";
export type { Section, SectionHeader } from "./sections.js";
