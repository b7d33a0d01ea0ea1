import type { Capstone, Insn } from "capstone-wasm";

/**
 * Disassembly with Capstone (capstone-wasm 1.0.3, AArch64), one word at a
 * time so that data between instructions shows as `.word` instead of
 * stopping the listing.
 */

/** One 4-byte word of a listing; `offset` is in bytes from the start of the input. */
export interface DisasmLine {
  readonly offset: number;
  readonly word: number;
  readonly text: string;
}

let shared: Promise<Capstone> | undefined;

/** One instruction, or undefined for a word that is not one (capstone-wasm throws when it decodes nothing). */
function decode(cs: Capstone, word: Uint8Array, address: bigint): Insn | undefined {
  try {
    return cs.disasm(word, { address, count: 1 })[0];
  } catch (e) {
    if ((e as Error).message.startsWith("Failed to disassemble")) return undefined;
    throw e;
  }
}

async function capstone(): Promise<Capstone> {
  shared ??= import("capstone-wasm").then(async (m) => {
    await m.loadCapstone();
    return new m.Capstone(m.Const.CS_ARCH_ARM64, m.Const.CS_MODE_ARM);
  });
  return shared;
}

/**
 * Disassembles `bytes[start, end)` (word-aligned offsets) as placed at `address`.
 * @throws RangeError when the range is not word-aligned or outside `bytes`.
 */
export async function disassemble(
  bytes: Uint8Array,
  options: { readonly address?: bigint; readonly start?: number; readonly end?: number } = {},
): Promise<DisasmLine[]> {
  const { address = 0n, start = 0, end = bytes.length } = options;
  if (start % 4 !== 0 || end % 4 !== 0 || start < 0 || end > bytes.length || start > end) {
    throw new RangeError(`disassemble: range ${start}..${end} is not word-aligned inside 0..${bytes.length}`);
  }
  const cs = await capstone();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: DisasmLine[] = [];
  for (let o = start; o < end; o += 4) {
    const word = view.getUint32(o, true);
    const insn = decode(cs, bytes.subarray(o, o + 4), address + BigInt(o));
    const text = insn ? `${insn.mnemonic} ${insn.opStr}`.trim() : `.word 0x${word.toString(16).padStart(8, "0")}`;
    out.push({ offset: o, word, text });
  }
  return out;
}
