/**
 * The arm64 Debian assets that scripts/provision.sh downloads and describes in
 * `<cache>/assets.json`: the cloud kernel, the generic kernel with the ZynqMP
 * ZCU102 device tree, a static busybox, makedumpfile and kexec-tools, each
 * with the shared libraries it needs, Debian 12's nodejs, and a sysroot holding
 * the kernel, busybox and makedumpfile together. Paths in the file are relative to the cache;
 * `loadAssets` returns them absolute.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { InputError } from "../toolchain/bytes/index.js";

/** The `schema` provision.sh writes; a different one means the cache predates this code. */
export const ASSETS_SCHEMA = 4;

export interface AssetFile {
  /** Absolute path on the host. */
  readonly path: string;
  /** SHA-256 of the file, lower-case hex. */
  readonly sha256: string;
}

export interface Deb extends AssetFile {
  readonly package: string;
  /** Debian version, with its epoch (`1:1.7.2-1`). */
  readonly version: string;
  /** False when the version is not the one scripts/arm64-packages.pin names (the archive dropped it). */
  readonly pinned: boolean;
}

export interface GuestFile extends AssetFile {
  /** Where the guest expects the file (`/lib/ld-linux-aarch64.so.1`). */
  readonly guestPath: string;
}

export interface Library extends GuestFile {
  /** The DT_NEEDED name; `guestPath` is the soname's path, `path` the file it resolves to. */
  readonly soname: string;
  readonly package: string;
}

export interface Assets {
  /** The cache directory everything lives in. */
  readonly cacheDir: string;
  /** Every .deb fetched, sorted by package. */
  readonly debs: readonly Deb[];
  readonly kernel: {
    readonly package: string;
    readonly version: string;
    /** `uname -r` of the kernel, e.g. `6.1.0-56-cloud-arm64`; its banner says `Linux version <release>`. */
    readonly release: string;
    /** The packaged /boot/vmlinuz-<release>. */
    readonly vmlinuz: AssetFile;
    /** How `vmlinuz` is compressed; Debian has shipped it both gzip-compressed and plain. */
    readonly vmlinuzCompression: "gzip" | "none";
    /** The uncompressed arm64 Image (what QEMU's -kernel and kexec_load take). */
    readonly image: AssetFile;
    readonly config: AssetFile | null;
    /** Null when the package ships Debian's one-line placeholder (the real one is in the -dbg package). */
    readonly systemMap: AssetFile | null;
    /** /lib/modules/<release> as extracted, or null. */
    readonly modulesDir: string | null;
  };
  /**
   * Debian's generic arm64 kernel (`linux-image-<abi>-arm64`, the cloud
   * kernel's ABI and version), for boards other than QEMU virt: its Image,
   * config and the ZynqMP ZCU102 device tree it ships (xilinx/zynqmp-zcu102-rev1.0.dtb).
   */
  readonly genericKernel: {
    readonly package: string;
    readonly version: string;
    /** `uname -r`, e.g. `6.1.0-56-arm64`. */
    readonly release: string;
    readonly image: AssetFile;
    readonly config: AssetFile;
    readonly zcu102Dtb: AssetFile;
  };
  readonly busybox: { readonly package: string; readonly version: string; readonly binary: AssetFile };
  /** Debian's makedumpfile (/usr/bin/makedumpfile), run in the capture kernel. */
  readonly makedumpfile: Program;
  /** Debian's kexec-tools (/sbin/kexec): what the benches compare with. */
  readonly kexecTools: Program;
  /**
   * Debian 12's nodejs (/usr/bin/node, Node 18) with libnode and its
   * libraries, and in its `root` the JavaScript packages it loads at start-up
   * (/usr/share/nodejs: cjs-module-lexer, acorn, undici): the Node a target
   * runs `purgatory kdump` with.
   */
  readonly nodejs: Program;
  /**
   * One root with busybox-static, makedumpfile and its libraries' packages,
   * and the kernel (/lib/modules/<release>, no modules.dep), laid out as
   * installed: a sysroot for `purgatory initramfs --sysroot`.
   */
  readonly sysroot: string;
}

/** A dynamically linked program from one package, with everything it needs to run in a bare initramfs. */
export interface Program {
  readonly package: string;
  readonly version: string;
  /** A root holding the program's package and its libraries' packages, extracted. */
  readonly root: string;
  /** The binary; `guestPath` is where the package installs it. */
  readonly binary: GuestFile;
  /** The program interpreter (PT_INTERP): run the binary as `<interpreter> --library-path <libDirs> <binary>`. */
  readonly interpreter: GuestFile;
  /** Guest directories holding `libraries`, in search order. */
  readonly libDirs: readonly string[];
  /** Every shared object the binary needs, directly or not (DT_NEEDED, recursively). */
  readonly libraries: readonly Library[];
}

/** `$PURGATORY_CACHE`, else `~/.cache/purgatory` (as in scripts/provision.sh). */
export function defaultCacheDir(): string {
  const env = process.env["PURGATORY_CACHE"];
  return env !== undefined && env !== "" ? resolve(env) : join(homedir(), ".cache", "purgatory");
}

const HINT = "Run `npm run provision` (it downloads the arm64 packages into the cache)";

/**
 * Reads `<cacheDir>/assets.json` and checks that every file it names exists.
 * @throws InputError `NO_ASSETS` when assets.json or a file it names is
 *   missing, `STALE_ASSETS` when it was written by another schema, and
 *   `BAD_ASSETS` when a field is missing or has the wrong type.
 */
export function loadAssets(cacheDir: string = defaultCacheDir()): Assets {
  const file = join(cacheDir, "assets.json");
  if (!existsSync(file)) {
    throw new InputError("NO_ASSETS", `Cannot load the arm64 assets: ${file} does not exist`, file, HINT);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError("BAD_ASSETS", `Cannot load the arm64 assets: ${file} is not JSON (${(e as Error).message})`, file, HINT);
  }
  const r = new Reader(cacheDir, file);
  const top = r.obj(raw, "");
  const schema = r.num(top, "schema", "");
  if (schema !== ASSETS_SCHEMA) {
    throw new InputError("STALE_ASSETS", `Cannot load the arm64 assets: ${file} has schema ${schema}, this code reads ${ASSETS_SCHEMA}`, file, HINT);
  }
  const k = r.obj(top["kernel"], "kernel");
  const b = r.obj(top["busybox"], "busybox");
  const g = r.obj(top["genericKernel"], "genericKernel");
  const compression = r.str(k, "vmlinuzCompression", "kernel");
  if (compression !== "gzip" && compression !== "none") r.bad("kernel.vmlinuzCompression", `unknown compression ${compression}`);
  return {
    cacheDir,
    debs: r.arr(top["debs"], "debs").map((d, i) => {
      const o = r.obj(d, `debs[${i}]`);
      return {
        package: r.str(o, "package", `debs[${i}]`),
        version: r.str(o, "version", `debs[${i}]`),
        pinned: r.bool(o, "pinned", `debs[${i}]`),
        ...r.file(o, `debs[${i}]`),
      };
    }),
    kernel: {
      package: r.str(k, "package", "kernel"),
      version: r.str(k, "version", "kernel"),
      release: r.str(k, "release", "kernel"),
      vmlinuz: r.file(r.obj(k["vmlinuz"], "kernel.vmlinuz"), "kernel.vmlinuz"),
      vmlinuzCompression: compression as "gzip" | "none",
      image: r.file(r.obj(k["image"], "kernel.image"), "kernel.image"),
      config: k["config"] === null ? null : r.file(r.obj(k["config"], "kernel.config"), "kernel.config"),
      systemMap: k["systemMap"] === null ? null : r.file(r.obj(k["systemMap"], "kernel.systemMap"), "kernel.systemMap"),
      modulesDir: k["modulesDir"] === null ? null : r.path(r.str(k, "modulesDir", "kernel"), "kernel.modulesDir"),
    },
    genericKernel: {
      package: r.str(g, "package", "genericKernel"),
      version: r.str(g, "version", "genericKernel"),
      release: r.str(g, "release", "genericKernel"),
      image: r.file(r.obj(g["image"], "genericKernel.image"), "genericKernel.image"),
      config: r.file(r.obj(g["config"], "genericKernel.config"), "genericKernel.config"),
      zcu102Dtb: r.file(r.obj(g["zcu102Dtb"], "genericKernel.zcu102Dtb"), "genericKernel.zcu102Dtb"),
    },
    busybox: {
      package: r.str(b, "package", "busybox"),
      version: r.str(b, "version", "busybox"),
      binary: r.file(r.obj(b["binary"], "busybox.binary"), "busybox.binary"),
    },
    makedumpfile: r.program(top, "makedumpfile"),
    kexecTools: r.program(top, "kexecTools"),
    nodejs: r.program(top, "nodejs"),
    sysroot: r.path(r.str(top, "sysroot", ""), "sysroot"),
  };
}

/** Typed field access that names the JSON path of whatever is wrong. */
class Reader {
  constructor(
    private readonly cacheDir: string,
    private readonly jsonFile: string,
  ) {}

  bad(where: string, why: string): never {
    throw new InputError("BAD_ASSETS", `Cannot load the arm64 assets: ${this.jsonFile} at ${where}: ${why}`, where, HINT);
  }
  obj(v: unknown, where: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.bad(where || "top level", "not an object");
    return v as Record<string, unknown>;
  }
  arr(v: unknown, where: string): unknown[] {
    if (!Array.isArray(v)) this.bad(where, "not an array");
    return v as unknown[];
  }
  str(o: Record<string, unknown>, key: string, where: string): string {
    const v = o[key];
    if (typeof v !== "string") this.bad(`${where}.${key}`.replace(/^\./, ""), "not a string");
    return v as string;
  }
  num(o: Record<string, unknown>, key: string, where: string): number {
    const v = o[key];
    if (typeof v !== "number") this.bad(`${where}.${key}`.replace(/^\./, ""), "not a number");
    return v as number;
  }
  bool(o: Record<string, unknown>, key: string, where: string): boolean {
    const v = o[key];
    if (typeof v !== "boolean") this.bad(`${where}.${key}`, "not a boolean");
    return v as boolean;
  }
  /** A cache-relative path made absolute; it must exist. */
  path(rel: string, where: string): string {
    const abs = resolve(this.cacheDir, rel);
    if (!existsSync(abs)) {
      throw new InputError("NO_ASSETS", `Cannot load the arm64 assets: ${abs} (${where} in ${this.jsonFile}) does not exist`, abs, HINT);
    }
    return abs;
  }
  /** The program described at `top[key]` (provision.sh's `program`). */
  program(top: Record<string, unknown>, key: string): Program {
    const o = this.obj(top[key], key);
    const interp = this.obj(o["interpreter"], `${key}.interpreter`);
    return {
      package: this.str(o, "package", key),
      version: this.str(o, "version", key),
      root: this.path(this.str(o, "root", key), `${key}.root`),
      binary: { guestPath: this.str(o, "guestPath", key), ...this.file(this.obj(o["binary"], `${key}.binary`), `${key}.binary`) },
      interpreter: { guestPath: this.str(interp, "guestPath", `${key}.interpreter`), ...this.file(interp, `${key}.interpreter`) },
      libDirs: this.arr(o["libDirs"], `${key}.libDirs`).map((d, i) => {
        if (typeof d !== "string") this.bad(`${key}.libDirs[${i}]`, "not a string");
        return d as string;
      }),
      libraries: this.arr(o["libraries"], `${key}.libraries`).map((l, i) => {
        const at = `${key}.libraries[${i}]`;
        const lib = this.obj(l, at);
        return { soname: this.str(lib, "soname", at), guestPath: this.str(lib, "guestPath", at), package: this.str(lib, "package", at), ...this.file(lib, at) };
      }),
    };
  }
  file(o: Record<string, unknown>, where: string): AssetFile {
    const sha256 = this.str(o, "sha256", where);
    if (!/^[0-9a-f]{64}$/.test(sha256)) this.bad(`${where}.sha256`, `not a SHA-256: ${sha256}`);
    return { path: this.path(this.str(o, "path", where), `${where}.path`), sha256 };
  }
}
