import { InputError, decodeLayout, defineLayout, encodeLayout } from "../bytes/index.js";
import { KEXEC_SEGMENT_MAX, type Role } from "../layout/index.js";

/**
 * The compact binary segment table (`segments.bin`) that a C loader reads
 * without a JSON parser. Little-endian throughout; documented in the README.
 *
 *   header (32 bytes)         entry (96 bytes) × count
 *   0  magic "PGSEGTB1"       0  mem    u64     24 role u32 (ROLE_CODES)
 *   8  version u32 = 1        8  memsz  u64     28 reserved u32 = 0
 *   12 count u32 (≤ 16)       16 bufsz  u64     32 sha256 [32]
 *   16 entry u64                                64 file [32] NUL-padded name
 *   24 flags u64                                   inside the bundle directory
 */

export const TABLE_MAGIC = "PGSEGTB1";
export const TABLE_VERSION = 1;

export const TABLE_HEADER = defineLayout("segment table header", 32, [
  { name: "magic", offset: 0, kind: "bytes", size: 8, note: 'ASCII "PGSEGTB1"' },
  { name: "version", offset: 8, kind: "u32LE", note: "table format version, 1" },
  { name: "count", offset: 12, kind: "u32LE", note: "number of entries that follow" },
  { name: "entry", offset: 16, kind: "u64LE", note: "kexec_load entry (purgatory start, physical)" },
  { name: "flags", offset: 24, kind: "u64LE", note: "kexec_load flags word" },
] as const);

export const TABLE_ENTRY = defineLayout("segment table entry", 96, [
  { name: "mem", offset: 0, kind: "u64LE", note: "physical destination" },
  { name: "memsz", offset: 8, kind: "u64LE", note: "bytes reserved at mem (page multiple)" },
  { name: "bufsz", offset: 16, kind: "u64LE", note: "bytes supplied from the file" },
  { name: "role", offset: 24, kind: "u32LE", note: "ROLE_CODES" },
  { name: "sha256", offset: 32, kind: "bytes", size: 32, note: "SHA-256 of the file's bufsz bytes" },
  { name: "file", offset: 64, kind: "bytes", size: 32, note: "file name in the bundle, NUL-padded" },
] as const);

export const ROLE_CODES: Readonly<Record<Role, number>> = { kernel: 1, initrd: 2, dtb: 3, elfcorehdr: 4, purgatory: 5 };

export interface TableSegment {
  readonly role: Role;
  readonly file: string;
  readonly mem: bigint;
  readonly memsz: bigint;
  readonly bufsz: bigint;
  readonly sha256: Uint8Array;
}

export interface SegmentTable {
  readonly entry: bigint;
  readonly flags: bigint;
  readonly segments: readonly TableSegment[];
}

/** Encodes the table. @throws RangeError on a name over 31 bytes or more than 16 segments. */
export function encodeSegmentTable(t: SegmentTable): Uint8Array {
  if (t.segments.length > KEXEC_SEGMENT_MAX) throw new RangeError(`segment table: ${t.segments.length} > ${KEXEC_SEGMENT_MAX}`);
  const out = new Uint8Array(TABLE_HEADER.size + TABLE_ENTRY.size * t.segments.length);
  encodeLayout(TABLE_HEADER, {
    magic: new TextEncoder().encode(TABLE_MAGIC),
    version: TABLE_VERSION,
    count: t.segments.length,
    entry: t.entry,
    flags: t.flags,
  }, out, 0);
  t.segments.forEach((s, i) => {
    const name = new TextEncoder().encode(s.file);
    if (name.length > 31 || name.includes(0)) throw new RangeError(`segment table: bad file name ${JSON.stringify(s.file)}`);
    const file = new Uint8Array(32);
    file.set(name);
    encodeLayout(TABLE_ENTRY, {
      mem: s.mem, memsz: s.memsz, bufsz: s.bufsz, role: ROLE_CODES[s.role], sha256: s.sha256, file,
    }, out, TABLE_HEADER.size + i * TABLE_ENTRY.size);
  });
  return out;
}

/** Decodes and validates a table. @throws InputError with the offset of the bad field. */
export function decodeSegmentTable(bytes: Uint8Array): SegmentTable {
  const h = decodeLayout(TABLE_HEADER, bytes, 0);
  if (new TextDecoder().decode(h.magic) !== TABLE_MAGIC) {
    throw new InputError("BAD_MAGIC", "Cannot read segment table: magic is not PGSEGTB1", 0, "Is this a bundle's segments.bin?");
  }
  if (h.version !== TABLE_VERSION) {
    throw new InputError("BAD_VERSION", `Cannot read segment table: version ${h.version} is not ${TABLE_VERSION}`, 8);
  }
  if (h.count > KEXEC_SEGMENT_MAX) {
    throw new InputError("TOO_MANY_SEGMENTS", `Cannot read segment table: ${h.count} segments exceed the kernel's limit of ${KEXEC_SEGMENT_MAX}`, 12);
  }
  const want = TABLE_HEADER.size + h.count * TABLE_ENTRY.size;
  if (bytes.length !== want) {
    throw new InputError("SIZE_MISMATCH", `Cannot read segment table: ${bytes.length} bytes, expected ${want} for ${h.count} segments`, bytes.length < want ? bytes.length : want);
  }
  const byCode = new Map(Object.entries(ROLE_CODES).map(([k, v]) => [v, k as Role]));
  const segments: TableSegment[] = [];
  for (let i = 0; i < h.count; i++) {
    const at = TABLE_HEADER.size + i * TABLE_ENTRY.size;
    const e = decodeLayout(TABLE_ENTRY, bytes, at);
    const role = byCode.get(e.role);
    if (role === undefined) throw new InputError("BAD_ROLE", `Cannot read segment table: unknown role code ${e.role}`, at + 24);
    const nul = e.file.indexOf(0);
    if (nul <= 0) throw new InputError("BAD_NAME", "Cannot read segment table: file name is empty or not NUL-terminated", at + 64);
    const file = new TextDecoder().decode(e.file.subarray(0, nul));
    if (file.includes("/") || file === "." || file === "..") {
      throw new InputError("BAD_NAME", `Cannot read segment table: file name ${JSON.stringify(file)} leaves the bundle`, at + 64);
    }
    segments.push({ role, file, mem: e.mem, memsz: e.memsz, bufsz: e.bufsz, sha256: e.sha256 });
  }
  return { entry: h.entry, flags: h.flags, segments };
}
