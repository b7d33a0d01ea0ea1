import { InputError, stableJson } from "../bytes/index.js";
import { parseLoadJson, type Mode, type Role } from "../layout/index.js";
import { parseTarget, serializeTarget, type Target } from "../target/index.js";

/**
 * `manifest.json`: everything a loader or a verifier needs to know about a
 * bundle, as data. Written with sorted keys and no timestamps, 64-bit values
 * as `"0x…"` strings, so the same inputs give the same bytes.
 */

export const MANIFEST_FORMAT = "purgatory-bundle/1";

/** The top-level keys of a manifest, sorted (as written). */
export const MANIFEST_KEYS: readonly string[] = [
  "baseDtb", "chosen", "dtbAddress", "entry", "flags", "format", "kernel", "kernelEntry", "mode", "purgatory", "seed", "segments", "target", "tools",
];

export interface ManifestSegment {
  readonly role: Role;
  /** File name inside the bundle directory. */
  readonly file: string;
  readonly mem: bigint;
  readonly memsz: bigint;
  readonly bufsz: bigint;
  /** SHA-256 of the file (= of the `bufsz` bytes the purgatory checks), hex. */
  readonly sha256: string;
  /** Kernel only: from the Image header. */
  readonly textOffset?: bigint;
  readonly imageSize?: bigint;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly mode: Mode;
  /** kexec_load's entry: the purgatory's base. */
  readonly entry: bigint;
  /** kexec_load's flags word. */
  readonly flags: bigint;
  /** Where the purgatory jumps (kernel segment mem). */
  readonly kernelEntry: bigint;
  /** What the purgatory passes in x0. */
  readonly dtbAddress: bigint;
  /** Sorted by mem. */
  readonly segments: readonly ManifestSegment[];
  /** The `/chosen` properties written (value as JSON) and reservations changed. */
  readonly chosen: unknown;
  readonly kernel: unknown;
  readonly purgatory: unknown;
  /**
   * The seed bytes kaslr-seed and rng-seed were derived from, hex: `--seed`
   * with it rebuilds the same bundle. (They are in dtb.bin anyway.) Null when
   * none is recorded: a bundle made by other means, or before seeds were
   * recorded (those manifests say "given" or "random", read as null).
   */
  readonly seed: string | null;
  /** The target the load was planned for, without its base DTB (`baseDtb` names that). */
  readonly target: Target;
  /** The base device tree the DTB segment was edited from. */
  readonly baseDtb: { readonly sha256: string; readonly size: number };
  readonly tools: { readonly purgatory: string; readonly assembler: string };
}

/** Serializes with sorted keys and a trailing newline. */
export function serializeManifest(m: Manifest): string {
  return stableJson({ ...m, target: JSON.parse(serializeTarget({ ...m.target, dtb: null })) as unknown }) + "\n";
}

/**
 * Parses a manifest. The load part (entry, flags, segments) is read by the
 * layout reader, so a manifest and a hand-written segment list obey one set
 * of rules; this adds what only a bundle has.
 * @throws InputError with the JSON path of the first bad field.
 */
export function parseManifest(text: string): Manifest {
  const doc = parseLoadJson(text);
  const raw = JSON.parse(text) as Record<string, unknown>;
  if (raw.format !== MANIFEST_FORMAT) {
    throw new InputError("BAD_MANIFEST", `Cannot read manifest: format ${JSON.stringify(raw.format)} is not "${MANIFEST_FORMAT}"`, "format",
      "Rebuild the bundle with this version of purgatory");
  }
  if (doc.mode === undefined) throw new InputError("BAD_MANIFEST", "Cannot read manifest: it has no mode", "mode");
  if (typeof doc.target !== "object") {
    throw new InputError("BAD_MANIFEST", "Cannot read manifest: the target must be inline", "target");
  }
  const target = parseTarget(JSON.stringify(doc.target));
  const rawSegs = raw.segments as Record<string, unknown>[];
  const segments = doc.load.segments.map((s, i): ManifestSegment => {
    const r = rawSegs[i]!;
    const where = `segments[${i}]`;
    if (s.role === undefined) throw new InputError("BAD_MANIFEST", "Cannot read manifest: segment has no role", `${where}.role`);
    if (typeof r.file !== "string" || !/^[A-Za-z0-9._-]{1,31}$/.test(r.file) || r.file.startsWith(".")) {
      throw new InputError("BAD_MANIFEST", `Cannot read manifest: file ${JSON.stringify(r.file)} is not a plain file name`, `${where}.file`);
    }
    if (typeof r.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(r.sha256)) {
      throw new InputError("BAD_MANIFEST", "Cannot read manifest: sha256 is not 64 lower-case hex digits", `${where}.sha256`);
    }
    const seg: ManifestSegment = { role: s.role, file: r.file, mem: s.mem, memsz: s.memsz, bufsz: s.bufsz, sha256: r.sha256 };
    return s.textOffset !== undefined && s.imageSize !== undefined ? { ...seg, textOffset: s.textOffset, imageSize: s.imageSize } : seg;
  });
  const u64 = (k: string): bigint => {
    const v = raw[k];
    if (typeof v !== "string" || !/^0x[0-9a-f]{1,16}$/.test(v)) {
      throw new InputError("BAD_MANIFEST", `Cannot read manifest: ${k} is not a "0x…" u64`, k);
    }
    return BigInt(v);
  };
  const tools = raw.tools as { purgatory?: unknown; assembler?: unknown } | undefined;
  const baseDtb = raw.baseDtb as { sha256?: unknown; size?: unknown } | undefined;
  if (typeof baseDtb?.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(baseDtb.sha256) || typeof baseDtb.size !== "number") {
    throw new InputError("BAD_MANIFEST", "Cannot read manifest: baseDtb needs sha256 (hex) and size", "baseDtb");
  }
  const seed = raw.seed;
  if (seed !== null && (typeof seed !== "string" || !(/^([0-9a-f]{2})+$/.test(seed) || seed === "given" || seed === "random"))) {
    throw new InputError("BAD_MANIFEST", `Cannot read manifest: seed ${JSON.stringify(seed)} is not the seed's bytes in lower-case hex`, "seed",
      "Rebuild the bundle; `purgatory bundle` records the seed it used");
  }
  return {
    format: MANIFEST_FORMAT,
    mode: doc.mode,
    entry: doc.load.entry,
    flags: BigInt(doc.load.flags),
    kernelEntry: u64("kernelEntry"),
    dtbAddress: u64("dtbAddress"),
    segments,
    chosen: raw.chosen,
    kernel: raw.kernel,
    purgatory: raw.purgatory,
    seed: seed === null || seed === "given" || seed === "random" ? null : seed,
    target,
    baseDtb: { sha256: baseDtb.sha256, size: baseDtb.size },
    tools: { purgatory: String(tools?.purgatory ?? ""), assembler: String(tools?.assembler ?? "") },
  };
}
