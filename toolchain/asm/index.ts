/**
 * The assembler: Keystone (AArch64, little-endian) with every statement's
 * output checked against a size model, source-line errors, GNU-as-compatible
 * macros, an encoder for the SHA-256 instructions Keystone lacks, and a
 * Capstone disassembler.
 */
export { Assembler, getAssembler } from "./assemble.js";
export { keystoneWasmVersion } from "./_keystone.js";
export type { AssembleOptions, Assembly, Placed } from "./assemble.js";
export { disassemble } from "./disasm.js";
export type { DisasmLine } from "./disasm.js";
export { encodeSha2, SHA2_MNEMONICS } from "./sha2.js";
export { formatOrigin, parseSource, sourceLines } from "./source.js";
export type { Origin, SourceLine, Statement } from "./source.js";
