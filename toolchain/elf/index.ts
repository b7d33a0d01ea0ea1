/**
 * ELF64 little-endian: the layouts, a reader for headers and notes, the
 * dynamic-linking facts (PT_INTERP, DT_NEEDED) and section headers, the
 * elfcorehdr writer, the checker that replays the capture kernel's
 * `fs/proc/vmcore.c`, the vmcoreinfo coverage lint and a text dump.
 */
export * from "./layout.js";
export { parseElfHeader, parseProgramHeaders, parseNotes, programHeaderSpan, readElf } from "./read.js";
export type { ElfHeader, Note, ProgramHeader } from "./read.js";
export { buildElfcorehdr, ELF_CORE_HEADER_ALIGN } from "./elfcorehdr.js";
export type { Elfcorehdr, PhdrRole, PhdrSummary } from "./elfcorehdr.js";
export { checkVmcoreHeader } from "./check.js";
export type { CheckOptions, VmcoreFinding } from "./check.js";
export { lintVmcoreinfoCoverage } from "./lint.js";
export type { CoverageReport, LintFinding, SymbolCoverage } from "./lint.js";
export { dumpElfHeaders } from "./dump.js";
export { ARM64_PRSTATUS_SIZE, crashNotes, noteRecord } from "./notes.js";
export { readDynamic } from "./dynamic.js";
export type { DynamicInfo } from "./dynamic.js";
export { findSection, readSections, sectionBytes } from "./sections.js";
export type { Section, SectionHeader } from "./sections.js";
