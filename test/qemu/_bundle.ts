import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeSegmentTable } from "../../toolchain/bundle/table.js";
import { MANIFEST_FORMAT, serializeManifest, type Manifest, type ManifestSegment } from "../../toolchain/bundle/manifest.js";
import { encodeString, encodeU64, ensureNode, parseFdt, serializeFdt, setProperty } from "../../toolchain/fdt/index.js";
import { KEXEC_ARCH_AARCH64, type Role } from "../../toolchain/layout/index.js";
import type { Target } from "../../toolchain/target/index.js";

/**
 * TEST-ONLY hand-made bundle, standing in for `purgatory bundle` so that
 * `purgatory boot` can be proven on its own. It is NOT a purgatory: the
 * "purgatory" segment is an 8-instruction trampoline that enters the kernel
 * as docs/kexec-contract.md §3 asks (x0 = DTB, x1..x3 = 0, br kernel), which
 * checks no digest. The manifest has the shape `purgatory bundle` writes
 * (serializeManifest), so tests can switch to real bundles.
 */

/** Where the segments go in virt's RAM (the kernel 2 MiB aligned, all clear of QEMU's DTB ROM). */
export const AT: Readonly<Record<"kernel" | "initrd" | "dtb" | "purgatory", bigint>> = {
  kernel: 0x4020_0000n,
  initrd: 0x4800_0000n,
  dtb: 0x4a00_0000n,
  purgatory: 0x4a20_0000n,
};

export interface HandBundle {
  readonly target: Target;
  /** A raw arm64 Image. */
  readonly kernel: Uint8Array;
  /** Null: no initrd segment and no linux,initrd-* properties. */
  readonly initrd: Uint8Array | null;
  readonly bootargs: string;
  /** "spin" puts `b .` at the entry instead of the trampoline (a boot that never ends). */
  readonly purgatory?: "trampoline" | "spin";
  readonly at?: Partial<typeof AT>;
}

/** The trampoline: ldr x0, =dtb; ldr x17, =entry; mov x1..x3, xzr; br x17; the two literals (8-byte aligned). */
export function trampoline(dtb: bigint, entry: bigint): Uint8Array {
  const out = new Uint8Array(40);
  const v = new DataView(out.buffer);
  [0x580000c0, 0x580000f1, 0xaa1f03e1, 0xaa1f03e2, 0xaa1f03e3, 0xd61f0220].forEach((w, i) => v.setUint32(4 * i, w, true));
  v.setBigUint64(0x18, dtb, true);
  v.setBigUint64(0x20, entry, true);
  return out;
}

const page = (n: bigint) => (n + 0xfffn) & ~0xfffn;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Writes the bundle directory (created if missing); returns its manifest. */
export function writeHandBundle(dir: string, b: HandBundle): Manifest {
  const at = { ...AT, ...b.at };
  const head = new DataView(b.kernel.buffer, b.kernel.byteOffset, 64);
  const textOffset = head.getBigUint64(8, true);
  const imageSize = head.getBigUint64(16, true);
  let tree = ensureNode(parseFdt(b.target.dtb!), "/chosen");
  tree = setProperty(tree, "/chosen", "bootargs", encodeString(b.bootargs));
  if (b.initrd !== null) {
    tree = setProperty(tree, "/chosen", "linux,initrd-start", encodeU64(at.initrd));
    tree = setProperty(tree, "/chosen", "linux,initrd-end", encodeU64(at.initrd + BigInt(b.initrd.length)));
  }
  const dtb = serializeFdt(tree);
  const purgatory = b.purgatory === "spin" ? new Uint8Array([0x00, 0x00, 0x00, 0x14]) : trampoline(at.dtb, at.kernel);
  const parts: [Role, Uint8Array, bigint][] = [
    ["kernel", b.kernel, page(imageSize)],
    ...(b.initrd === null ? [] : [["initrd", b.initrd, page(BigInt(b.initrd.length))] as [Role, Uint8Array, bigint]]),
    ["dtb", dtb, page(BigInt(dtb.length))],
    ["purgatory", purgatory, 0x1000n],
  ];
  mkdirSync(dir, { recursive: true });
  const segments: ManifestSegment[] = parts
    .map(([role, bytes, memsz]): ManifestSegment => {
      const file = `${role}.bin`;
      writeFileSync(join(dir, file), bytes);
      const seg = { role, file, mem: at[role as keyof typeof AT], memsz, bufsz: BigInt(bytes.length), sha256: sha256(bytes) };
      return role === "kernel" ? { ...seg, textOffset, imageSize } : seg;
    })
    .sort((x, y) => (x.mem < y.mem ? -1 : 1));
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    mode: "reboot",
    entry: at.purgatory,
    flags: BigInt(KEXEC_ARCH_AARCH64),
    kernelEntry: at.kernel,
    dtbAddress: at.dtb,
    segments,
    chosen: { bootargs: b.bootargs },
    kernel: { format: "Image" },
    purgatory: { kind: `test trampoline (${b.purgatory ?? "trampoline"})` },
    seed: null,
    target: { ...b.target, dtb: null },
    baseDtb: { sha256: sha256(b.target.dtb!), size: b.target.dtb!.length },
    tools: { purgatory: "test/qemu/_bundle.ts", assembler: "none" },
  };
  writeFileSync(join(dir, "manifest.json"), serializeManifest(manifest));
  writeFileSync(join(dir, "segments.bin"), encodeSegmentTable({
    entry: manifest.entry,
    flags: manifest.flags,
    segments: segments.map((s) => ({ ...s, sha256: new Uint8Array(Buffer.from(s.sha256, "hex")) })),
  }));
  return manifest;
}
