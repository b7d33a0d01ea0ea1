import { decodeLayout, fieldWidth, hex } from "../bytes/index.js";
import type { Layout } from "../bytes/index.js";
import { ELF64_EHDR, ELF64_PHDR, ptName } from "./layout.js";
import { readElf } from "./read.js";

/**
 * An offset-annotated text dump of an ELF64 header buffer: every byte is
 * accounted for (each field of the header and program headers, then the
 * padding), so a changed byte shows as a changed line. Golden fixtures store it.
 * @throws InputError when the header cannot be read.
 */
export function dumpElfHeaders(bytes: Uint8Array): string {
  const { header } = readElf(bytes);
  const lines: string[] = [];
  let covered = 0;
  const block = (title: string, layout: Layout, at: number): void => {
    lines.push(`${title} @ ${hex4(at)}`);
    const rec = decodeLayout(layout, bytes, at) as Record<string, number | bigint | Uint8Array>;
    for (const f of layout.fields) {
      const v = rec[f.name] as number | bigint | Uint8Array;
      let shown: string;
      if (v instanceof Uint8Array) shown = [...v].map((b) => b.toString(16).padStart(2, "0")).join(" ");
      else if (typeof v === "bigint") shown = hex(v);
      else shown = f.name === "p_type" ? `${v} (${ptName(v)})` : String(v);
      lines.push(`  ${hex4(at + f.offset)}  ${f.name.padEnd(14)}${shown}`);
      covered = Math.max(covered, at + f.offset + fieldWidth(f));
    }
  };
  block("ELF64 header", ELF64_EHDR, 0);
  const phoff = Number(header.e_phoff);
  for (let i = 0; i < header.e_phnum; i++) block(`program header ${i}`, ELF64_PHDR, phoff + i * ELF64_PHDR.size);
  if (covered < bytes.length) {
    const rest = bytes.subarray(covered);
    const nonZero = rest.findIndex((b) => b !== 0);
    lines.push(
      nonZero < 0
        ? `padding ${hex4(covered)}-${hex4(bytes.length - 1)}: ${rest.length} zero bytes`
        : `padding ${hex4(covered)}-${hex4(bytes.length - 1)}: ${rest.length} bytes, first non-zero at ${hex4(covered + nonZero)}`,
    );
  }
  return lines.join("\n") + "\n";
}

function hex4(n: number): string {
  return "0x" + n.toString(16).padStart(4, "0");
}
