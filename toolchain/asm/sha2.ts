/**
 * Encoder for the four ARMv8 SHA-256 instructions, which Keystone 0.9.2
 * rejects ("Invalid operand"). The assembler replaces each with a `.long` of
 * the word computed here. Encodings from the Arm ARM (A64 "Cryptographic
 * three-register SHA" and "two-register SHA" classes, FEAT_SHA256); a test
 * checks them against `aarch64-linux-gnu-as -march=armv8-a+sha2`.
 */

/** The mnemonics this encoder handles (lower case). */
export const SHA2_MNEMONICS: ReadonlySet<string> = new Set(["sha256h", "sha256h2", "sha256su0", "sha256su1"]);

type Operand = "q" | "v4s";

const FORMS: Record<string, { base: number; operands: readonly Operand[] }> = {
  // SHA256H  Qd, Qn, Vm.4S : 0101 1110 000 Rm 0 100 00 Rn Rd
  sha256h: { base: 0x5e004000, operands: ["q", "q", "v4s"] },
  // SHA256H2 Qd, Qn, Vm.4S : 0101 1110 000 Rm 0 101 00 Rn Rd
  sha256h2: { base: 0x5e005000, operands: ["q", "q", "v4s"] },
  // SHA256SU1 Vd.4S, Vn.4S, Vm.4S : 0101 1110 000 Rm 0 110 00 Rn Rd
  sha256su1: { base: 0x5e006000, operands: ["v4s", "v4s", "v4s"] },
  // SHA256SU0 Vd.4S, Vn.4S : 0101 1110 0010 1000 0010 10 Rn Rd
  sha256su0: { base: 0x5e282800, operands: ["v4s", "v4s"] },
};

/**
 * Encodes one SHA-256 instruction, e.g. `sha256h q0, q1, v2.4s`.
 * @returns the instruction word, or a message saying why the operands are wrong.
 */
export function encodeSha2(mnemonic: string, operands: string): number | string {
  const form = FORMS[mnemonic.toLowerCase()];
  if (form === undefined) return `${mnemonic} is not a SHA-256 instruction`;
  const parts = operands.split(",").map((s) => s.trim().toLowerCase());
  const want = form.operands.map((o) => (o === "q" ? "qN" : "vN.4s")).join(", ");
  if (parts.length !== form.operands.length) return `${mnemonic} takes ${want}`;
  const regs: number[] = [];
  for (const [i, kind] of form.operands.entries()) {
    const m = kind === "q" ? /^q(\d+)$/.exec(parts[i] ?? "") : /^v(\d+)\.4s$/.exec(parts[i] ?? "");
    const n = m ? Number(m[1]) : NaN;
    if (!(n >= 0 && n <= 31)) return `${mnemonic} takes ${want}, not "${operands.trim()}"`;
    regs.push(n);
  }
  const [rd = 0, rn = 0, rm = 0] = regs;
  return (form.base | (rm << 16) | (rn << 5) | rd) >>> 0;
}
