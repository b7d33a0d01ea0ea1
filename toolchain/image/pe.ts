import { ByteReader, InputError, hex } from "../bytes/index.js";

/**
 * Just enough PE/COFF (Microsoft PE format, "COFF File Header" and "Section
 * Table") to tell a zboot image's machine and to find the sections of a
 * unified kernel image (UKI, the UAPI group's UKI specification).
 */

const MACHINES: Record<number, string> = {
  0x014c: "x86",
  0x01c0: "32-bit ARM",
  0x01c4: "32-bit ARM Thumb-2",
  0x5032: "RISC-V 32",
  0x5064: "RISC-V 64",
  0x6264: "LoongArch 64",
  0x8664: "x86-64",
  0xaa64: "arm64",
};

/** A human name for a PE machine value. */
export function machineName(machine: number): string {
  return MACHINES[machine] ?? "unknown machine";
}

export interface PeSection {
  readonly name: string;
  /** File offset and size (bytes) of the section's data, VirtualSize when it is the smaller. */
  readonly offset: number;
  readonly size: number;
  /** SizeOfRawData: bytes the section occupies in the file from `offset`. */
  readonly rawSize: number;
}

export interface PeHeader {
  readonly machine: number;
  readonly sections: readonly PeSection[];
}

/**
 * Reads the COFF header at `peOffset` (e_lfanew) and the section table.
 * `fileSize` is the whole file's length in bytes when `bytes` holds only its
 * start (the headers); every section's data must lie inside it.
 * @throws InputError `BAD_PE` (no "PE\0\0" signature, a section outside the file) or `TRUNCATED`.
 */
export function readPeHeader(bytes: Uint8Array, peOffset: number, fileSize: number = bytes.length): PeHeader {
  const r = new ByteReader(bytes, "PE header", peOffset);
  const sig = r.u32LE("signature");
  if (sig !== 0x00004550) {
    throw new InputError(
      "BAD_PE",
      `Cannot read the PE header: signature at ${hex(peOffset)} is ${hex(sig)}, expected "PE\\0\\0"`,
      peOffset,
      "The offset at 0x3c is corrupt, or this is not a PE/COFF file",
    );
  }
  const machine = r.u16LE("machine");
  const count = r.u16LE("number of sections");
  r.bytesN(12, "timestamp and symbol table");
  const optionalSize = r.u16LE("size of optional header");
  r.u16LE("characteristics");
  const t = new ByteReader(bytes, "PE section table", r.pos + optionalSize);
  const sections: PeSection[] = [];
  for (let i = 0; i < count; i++) {
    const at = t.pos;
    const rawName = t.bytesN(8, "section name");
    const nul = rawName.indexOf(0);
    const name = String.fromCharCode(...rawName.subarray(0, nul < 0 ? 8 : nul));
    const virtualSize = t.u32LE("virtual size");
    t.u32LE("virtual address");
    const rawSize = t.u32LE("size of raw data");
    const offset = t.u32LE("pointer to raw data");
    t.bytesN(16, "relocations, line numbers and characteristics");
    const size = virtualSize !== 0 && virtualSize < rawSize ? virtualSize : rawSize;
    if (offset + size > fileSize) {
      throw new InputError(
        "BAD_PE",
        `Cannot read PE section ${JSON.stringify(name)}: data ${hex(offset)}+${hex(size)} lies past the end of the ${hex(fileSize)}-byte file`,
        at,
        "The file is truncated or corrupt",
      );
    }
    sections.push({ name, offset, size, rawSize });
  }
  return { machine, sections };
}
