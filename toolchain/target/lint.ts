import { hex } from "../bytes/index.js";
import type { Vmcoreinfo } from "./vmcoreinfo.js";
import { PT_LOAD } from "../elf/layout.js";
import { readElf } from "../elf/read.js";

/**
 * Dump tools (makedumpfile, crash, vmcore-dmesg) find every `SYMBOL(x)` of
 * vmcoreinfo by its virtual address in the PT_LOADs of /proc/vmcore. An
 * address no PT_LOAD covers is unreadable: "No program header covering vaddr"
 * (the failure of kexec-tools' header on kernels without `_text` in kallsyms).
 */

export interface SymbolCoverage {
  readonly name: string;
  readonly address: bigint;
  /** Index of the first PT_LOAD covering the address, or null. */
  readonly coveredBy: number | null;
  /** Why an uncovered symbol is no finding, or null. */
  readonly exempt: string | null;
}

/**
 * Symbols whose value is a base for address arithmetic, never read at its own
 * address. `SYMBOL(vmemmap)` (`VMCOREINFO_SYMBOL_ARRAY(vmemmap)`, generic
 * vmcoreinfo since 6.x) is arm64's `VMEMMAP_START - (PHYS_OFFSET >>
 * PAGE_SHIFT)` struct pages: it points below the vmemmap, where no memory is.
 */
const ARRAY_BASES: ReadonlyMap<string, string> = new Map([["vmemmap", "array base: struct page of pfn 0, below the first real one"]]);

export interface LintFinding {
  readonly code: "SYMBOL_NOT_COVERED";
  readonly severity: "error";
  readonly message: string;
  readonly symbol: string;
  readonly address: bigint;
}

export interface CoverageReport {
  readonly symbols: readonly SymbolCoverage[];
  readonly findings: readonly LintFinding[];
}

/**
 * Checks that every `SYMBOL()` address of `info` falls inside a PT_LOAD
 * `[p_vaddr, p_vaddr + p_memsz)` of the elfcorehdr `bytes`.
 * @throws InputError when `bytes` is not a readable ELF64 LE file.
 */
export function lintVmcoreinfoCoverage(bytes: Uint8Array, info: Vmcoreinfo): CoverageReport {
  const loads = readElf(bytes).programHeaders
    .map((p, index) => ({ index, p }))
    .filter(({ p }) => p.p_type === PT_LOAD);
  const symbols: SymbolCoverage[] = [];
  const findings: LintFinding[] = [];
  for (const [name, address] of info.symbols) {
    const hit = loads.find(({ p }) => address >= p.p_vaddr && address - p.p_vaddr < p.p_memsz);
    const exempt = hit === undefined ? ARRAY_BASES.get(name) ?? null : null;
    symbols.push({ name, address, coveredBy: hit?.index ?? null, exempt });
    if (hit === undefined && exempt === null) {
      findings.push({
        code: "SYMBOL_NOT_COVERED",
        severity: "error",
        message: `SYMBOL(${name})=${hex(address)} lies in no PT_LOAD: dump tools cannot read it`,
        symbol: name,
        address,
      });
    }
  }
  return { symbols, findings };
}
