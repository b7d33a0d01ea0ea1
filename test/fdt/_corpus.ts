import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

/**
 * The independent producers and readers the FDT tests compare against: dtc
 * (compiler and decompiler), fdtget, and QEMU's `virt` machine, which dumps
 * the blob it would boot with (`-M virt,dumpdtb=F`). Blobs are made fresh in a
 * temp dir on every run; nothing here is a golden.
 */

export const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

// One scratch directory per test file (each file imports this module afresh),
// removed when the file's tests are done.
const dir = mkdtempSync(join(tmpdir(), "purgatory-fdt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const scratch = (): string => dir;

let n = 0;
/** Writes `bytes` to a fresh temp file and returns its path. */
export function tempFile(bytes: Uint8Array | string, ext = ".dtb"): string {
  const path = join(scratch(), `f${n++}${ext}`);
  writeFileSync(path, bytes);
  return path;
}

export interface Ran {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export function sh(cmd: string, args: readonly string[]): Ran {
  const r = spawnSync(cmd, args, { maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function ok(cmd: string, args: readonly string[]): Ran {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r;
}

/** `dtc -I dts -O dtb` of a source file, with extra dtc options. */
export function dtcCompile(dtsPath: string, extra: readonly string[] = []): Uint8Array {
  const out = join(scratch(), `c${n++}.dtb`);
  ok("dtc", ["-I", "dts", "-O", "dtb", ...extra, "-o", out, dtsPath]);
  return new Uint8Array(readFileSync(out));
}

/** `dtc -I dtb -O dtb` (re-serialized by dtc), with extra dtc options. */
export function dtcRepack(blob: Uint8Array, extra: readonly string[] = []): Uint8Array {
  return new Uint8Array(ok("dtc", ["-I", "dtb", "-O", "dtb", ...extra, tempFile(blob)]).stdout);
}

/**
 * `dtc -I dtb -O dts` (with extra dtc options): the text, and dtc's warnings with the file name taken
 * out so that two blobs' warnings compare.
 */
export function dtcDecompile(blob: Uint8Array, extra: readonly string[] = []): { text: string; warnings: string } {
  const path = tempFile(blob);
  const r = ok("dtc", ["-I", "dtb", "-O", "dts", ...extra, path]);
  return { text: r.stdout.toString("latin1"), warnings: r.stderr.split(path).join("FILE") };
}

/**
 * `fdtget OPTIONS FILE NODE [PROP]` on `blob` (`["-t", "x"]`, `["-l"]` lists
 * subnodes, `["-p"]` lists properties): stdout without the final newline.
 */
export function fdtget(blob: Uint8Array, options: readonly string[], node: string, prop?: string): string {
  const args = [...options, tempFile(blob), node, ...(prop === undefined ? [] : [prop])];
  return ok("fdtget", args).stdout.toString().replace(/\n$/, "");
}

export interface Blob {
  readonly name: string;
  readonly blob: Uint8Array;
}

/** The committed .dts fixtures, compiled by dtc. */
export function fixtureBlobs(): Blob[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".dts"))
    .sort()
    .map((f) => ({ name: f, blob: dtcCompile(join(FIXTURES, f)) }));
}

/** QEMU `virt` settings whose blobs differ in CPUs, memory, GIC, EL2/EL3 nodes and reservations. */
export const QEMU_VARIANTS: readonly { name: string; machine: string; smp: string; mem: string }[] = [
  { name: "virt-smp1-128M", machine: "virt", smp: "1", mem: "128M" },
  { name: "virt-smp2-512M", machine: "virt", smp: "2", mem: "512M" },
  { name: "virt-smp4-4G-el2", machine: "virt,virtualization=on", smp: "4", mem: "4G" },
  { name: "virt-smp8-8G-secure", machine: "virt,secure=on", smp: "8", mem: "8G" },
  { name: "virt-smp4-2G-el2-secure-gicv3", machine: "virt,secure=on,virtualization=on,gic-version=3", smp: "4", mem: "2G" },
  { name: "virt-smp2-1G-gicv2-lowmem", machine: "virt,gic-version=2,highmem=off", smp: "2", mem: "1G" },
];

let qemuCache: Blob[] | undefined;
/** Blobs dumped by qemu-system-aarch64 for each of `QEMU_VARIANTS`. */
export function qemuBlobs(): Blob[] {
  qemuCache ??= QEMU_VARIANTS.map((v) => {
    const out = join(scratch(), `${v.name}.dtb`);
    ok("qemu-system-aarch64", [
      "-M", `${v.machine},dumpdtb=${out}`,
      "-cpu", "cortex-a57", "-smp", v.smp, "-m", v.mem,
      "-nographic", "-nodefaults", "-net", "none",
    ]);
    return { name: v.name, blob: new Uint8Array(readFileSync(out)) };
  });
  return qemuCache;
}
