import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { keystoneWasmVersion } from "../asm/index.js";
import { DEFAULT_CONSOLE, FLAGS, parseHeader, slotMap, type Console, type Header, type Policy, type PsciConduit, type SlotMap } from "./abi.js";
import { build, DEFAULT_PAGE_TABLES } from "./build.js";
import { checkConsole, patch } from "./patch.js";
import { ROOT } from "./template.js";

/**
 * The default purgatory without Keystone at every run. Only the structure of
 * the blob (16 regions, the default page-table pool) needs the assembler;
 * console, policy, PSCI conduit and flags are slots, so one assembled blob
 * serves every bundle once they are patched in. `npm run build` assembles it into
 * dist/purgatory-default.json, keyed by a digest of every source file and the
 * assembler's version; a key that no longer matches (a source edited since)
 * is ignored and the blob assembled afresh, so the file can go stale but
 * never wrong. test/purgatory/prebuilt.test.ts checks that both ways give the
 * same bytes.
 */

/** What a bundle needs of the purgatory: the patched blob and its description. */
export interface PurgatoryBlob {
  readonly blob: Uint8Array;
  readonly memsz: bigint;
  readonly header: Header;
  readonly slots: SlotMap;
  readonly sha256: string;
  readonly assembler: string;
  /** True when it came from dist/purgatory-default.json, false when Keystone assembled it now. */
  readonly prebuilt: boolean;
}

export interface BlobOptions {
  readonly console?: Console;
  readonly policy?: Policy;
  readonly psci?: PsciConduit;
  readonly mmu?: boolean;
  readonly crypto?: boolean;
}

/** The file `npm run build` writes. */
export const PREBUILT_FILE = join(ROOT, "dist", "purgatory-default.json");

interface PrebuiltFile {
  readonly key: string;
  readonly assembler: string;
  /** The blob as assembled with the template's defaults, base64. */
  readonly blob: string;
}

/**
 * The digest that names one assembly: every file under templates/ and
 * purgatory-src/ (name and bytes, in sorted order), keystone-wasm's version
 * and the structural parameters.
 */
export function sourceKey(): string {
  const h = createHash("sha256");
  for (const dir of ["templates", "purgatory-src"]) {
    for (const name of readdirSync(join(ROOT, dir)).sort()) {
      const bytes = readFileSync(join(ROOT, dir, name));
      h.update(`${dir}/${name}\0${bytes.length}\0`).update(bytes);
    }
  }
  h.update(`keystone-wasm ${keystoneWasmVersion()}\0page tables ${DEFAULT_PAGE_TABLES}\0regions 16`);
  return h.digest("hex");
}

/** Assembles the default blob and returns the file's contents (for `npm run build`). */
export async function prebuild(): Promise<string> {
  const b = await build();
  const file: PrebuiltFile = { key: sourceKey(), assembler: b.assembler, blob: Buffer.from(b.blob).toString("base64") };
  return JSON.stringify(file, null, 2) + "\n";
}

/**
 * The default purgatory with `o`'s console, policy, PSCI conduit and flags in
 * its slots: from the prebuilt `file` when it matches the sources, else
 * assembled now. The bytes are the same either way. The blob is not patched
 * yet: the loader's patch gives it kernel_entry, dtb_addr, the regions and
 * segment_memsz.
 * @throws InputError `BAD_CONSOLE`, `NO_PSCI` and what `build` throws.
 */
export async function purgatoryBlob(o: BlobOptions = {}, file = PREBUILT_FILE): Promise<PurgatoryBlob> {
  const console = o.console ?? DEFAULT_CONSOLE;
  checkConsole(console, "console");
  const values = {
    console_kind: console.kind,
    console_base: console.base,
    console_shift: console.shift,
    console_width: console.width,
    policy: o.policy ?? "spin",
    psci: o.psci ?? "auto",
    flags: (o.mmu === false ? FLAGS.no_mmu : 0) | (o.crypto === false ? FLAGS.no_crypto : 0),
  };
  const cached = readPrebuilt(file);
  const base = cached === null ? await build() : { blob: new Uint8Array(Buffer.from(cached.blob, "base64")), assembler: cached.assembler };
  const blob = patch(base.blob, values);
  const header = parseHeader(blob);
  return {
    blob,
    memsz: BigInt(header.mem_size),
    header,
    slots: slotMap(header),
    sha256: createHash("sha256").update(blob).digest("hex"),
    assembler: base.assembler,
    prebuilt: cached !== null,
  };
}

function readPrebuilt(path: string): PrebuiltFile | null {
  if (!existsSync(path)) return null;
  const file = JSON.parse(readFileSync(path, "utf8")) as PrebuiltFile;
  return file.key === sourceKey() ? file : null;
}
