import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError, hex, inFile } from "../bytes/index.js";
import type { Role } from "../layout/index.js";
import { parseManifest, type Manifest } from "./manifest.js";

/** What is wrong with one segment file, compared with the manifest. */
export interface SegmentFault {
  readonly role: Role;
  readonly file: string;
  /** `missing`: cannot be read; `size`: not bufsz bytes; `sha256`: other bytes than the manifest's digest. */
  readonly fault: "missing" | "size" | "sha256";
  readonly detail: string;
}

/** A bundle directory as read back: the manifest, every segment file that could be read, and what differs. */
export interface BundleOnDisk {
  readonly dir: string;
  readonly manifest: Manifest;
  /** The bytes of each segment file that could be read, by role. */
  readonly files: ReadonlyMap<Role, Uint8Array>;
  /** Each segment's SHA-256 as read (hex), by role. */
  readonly digests: ReadonlyMap<Role, string>;
  /** Segment files that are missing, of the wrong size, or hash to another digest; empty when all agree. */
  readonly faults: readonly SegmentFault[];
}

/**
 * Reads a bundle directory: `manifest.json`, then every segment file, each
 * hashed once and compared with the manifest's `bufsz` and `sha256`. A file
 * that differs is reported in `faults`, not thrown: `verify` reports it as a
 * failed check, `boot` refuses it unless asked to boot it anyway.
 * @throws InputError `NO_MANIFEST` when manifest.json cannot be read, and what `parseManifest` throws.
 */
export async function readBundle(dir: string): Promise<BundleOnDisk> {
  const path = join(dir, "manifest.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new InputError("NO_MANIFEST", `Cannot read bundle ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, path,
      "Give the directory `purgatory bundle` wrote (it holds manifest.json)");
  }
  const manifest = inFile(path, () => parseManifest(text));
  const files = new Map<Role, Uint8Array>();
  const digests = new Map<Role, string>();
  const faults: SegmentFault[] = [];
  for (const s of manifest.segments) {
    const bytes = await readFile(join(dir, s.file)).catch((e: NodeJS.ErrnoException) => e);
    if (bytes instanceof Error) {
      faults.push({ role: s.role, file: s.file, fault: "missing", detail: `${s.file} cannot be read: ${bytes.code ?? bytes.message}` });
      continue;
    }
    const data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const digest = createHash("sha256").update(data).digest("hex");
    files.set(s.role, data);
    digests.set(s.role, digest);
    if (BigInt(data.length) !== s.bufsz) {
      faults.push({ role: s.role, file: s.file, fault: "size", detail: `${s.file} is ${hex(data.length)} bytes, the manifest says bufsz ${hex(s.bufsz)}` });
    } else if (digest !== s.sha256) {
      faults.push({ role: s.role, file: s.file, fault: "sha256", detail: `${s.file} hashes to ${digest}, the manifest says ${s.sha256}` });
    }
  }
  return { dir, manifest, files, digests, faults };
}
