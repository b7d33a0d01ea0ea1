import { InputError } from "../bytes/index.js";
import { ET_REL, findSection, parseElfHeader } from "../elf/index.js";
import { gunzip, unxz, unzstd } from "../image/index.js";
import { byteOrder, resolveIn } from "./root.js";
import type { RootFs } from "./root.js";

/**
 * Kernel modules for the capture initramfs: the ones asked for and
 * everything they depend on, in an order `insmod` can load them. The
 * dependencies come from `modules.dep` when depmod has run (an installed
 * system), else from each module's `.modinfo` `depends=` (a sysroot unpacked
 * from .deb files: depmod runs at install time). Modules listed in
 * `modules.builtin` are part of the kernel image and need no file.
 *
 * Compressed modules (.ko.gz, .ko.xz, .ko.zst, scripts/Makefile.modinst) are
 * stored decompressed: busybox's insmod hands the bytes to init_module(2),
 * which takes an uncompressed image; only finit_module(2) with
 * MODULE_INIT_COMPRESSED_FILE decompresses in the kernel, and only with
 * CONFIG_MODULE_DECOMPRESS (kernel/module/decompress.c).
 */

export type ModuleCompression = "none" | "gzip" | "xz" | "zstd";

export interface KernelModule {
  /** The module's name, with '-' written '_' as the kernel does (kernel/params.c parameq). */
  readonly name: string;
  /** Its file in the root (symlinks followed). */
  readonly source: string;
  readonly compression: ModuleCompression;
  /** Where the archive holds it, decompressed: `source` without the compression suffix. */
  readonly path: string;
  /** The uncompressed module. */
  readonly data: Uint8Array;
  /** The modules it needs loaded first (depends= or modules.dep, and softdep pre:), sorted. */
  readonly depends: readonly string[];
  /** "requested", or the modules that need it, sorted. */
  readonly neededBy: readonly string[];
}

export interface ModuleSet {
  /** The kernel release: the directory under /lib/modules. */
  readonly release: string;
  /** Where the dependencies came from. */
  readonly dependencySource: "modules.dep" | ".modinfo";
  /** In load order: every module after the ones it depends on. */
  readonly modules: readonly KernelModule[];
  /** Names asked for or depended on that are built into the kernel (modules.builtin), sorted. */
  readonly builtin: readonly string[];
  /** Soft dependencies (softdep=) that are neither a module file nor built in: modprobe goes on without them, and so do we. */
  readonly missingSoftdeps: readonly string[];
}

const SUFFIX = /\.ko(\.gz|\.xz|\.zst)?$/;

/** A module's name from its file name: `virtio-blk.ko.xz` → `virtio_blk`. */
export function moduleName(path: string): string {
  return (path.slice(path.lastIndexOf("/") + 1).replace(SUFFIX, "")).replaceAll("-", "_");
}

/**
 * Parses `modules.dep` (depmod(8)): one line per module, `path: dep dep…`,
 * paths relative to /lib/modules/<release>; each line lists every module
 * that one needs, directly or not.
 * @returns module path → its dependencies' paths.
 * @throws InputError `BAD_MODULES_DEP` for a line without a colon.
 */
export function parseModulesDep(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    if (colon < 0) throw new InputError("BAD_MODULES_DEP", `Cannot parse modules.dep: line ${i + 1} has no colon: ${JSON.stringify(line.slice(0, 80))}`, `modules.dep:${i + 1}`, "Run depmod again on the target, or remove the file to use .modinfo.");
    out.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim().split(/\s+/).filter((s) => s !== ""));
  });
  return out;
}

/** Parses the NUL-separated `key=value` strings of a `.modinfo` section (include/linux/moduleparam.h __MODULE_INFO), in order; a key may repeat (alias=). */
export function parseModinfo(section: Uint8Array): [string, string][] {
  return new TextDecoder()
    .decode(section)
    .split("\0")
    .filter((s) => s.includes("="))
    .map((s) => [s.slice(0, s.indexOf("=")), s.slice(s.indexOf("=") + 1)]);
}

/** The module names of a `softdep=` value (`pre: a b post: c`), split by when they load. */
export function parseSoftdep(value: string): { pre: string[]; post: string[] } {
  const out = { pre: [] as string[], post: [] as string[] };
  let into: string[] | null = null;
  for (const word of value.split(/\s+/).filter((w) => w !== "")) {
    if (word === "pre:") into = out.pre;
    else if (word === "post:") into = out.post;
    else if (into !== null) into.push(word.replaceAll("-", "_"));
  }
  return out;
}

/**
 * Finds `names` and what they depend on under /lib/modules/`release` in
 * `root`, reads and decompresses each module, and checks it was built for
 * `release` (the first word of its vermagic, which the kernel compares).
 * @throws InputError `NO_MODULE` for a module that is neither a file
 *   nor built in (naming who needs it), `BAD_MODULE` for a file that is not
 *   a relocatable ELF with a .modinfo, was built for another release, or a
 *   dependency cycle, `BAD_MODULES_DEP`, and the decompressors' errors.
 */
export async function resolveModules(root: RootFs, release: string, names: readonly string[]): Promise<ModuleSet> {
  const dir = `/lib/modules/${release}`;
  const base = resolveIn(root, dir);
  if (base === null || base.kind !== "dir") {
    throw new InputError("NO_MODULE", `Cannot find kernel modules: ${dir} is not a directory in ${root.label}`, dir, "Install the kernel package into the root, or name the release that is there.");
  }
  const text = (p: string): string | null => {
    const r = resolveIn(root, `${base.path}/${p}`);
    return r === null || r.kind !== "file" ? null : new TextDecoder().decode(root.read(r.path));
  };
  const builtinText = text("modules.builtin");
  const builtin = new Set((builtinText ?? "").split("\n").filter((l) => l.trim() !== "").map(moduleName));
  const depText = text("modules.dep");
  const dep = depText === null ? null : parseModulesDep(depText);

  // name → path relative to the release directory.
  const files = new Map<string, string>();
  const add = (rel: string) => {
    const name = moduleName(rel);
    const had = files.get(name);
    // depmod prefers updates/ over the rest (depmod.d(5), the default search "updates built-in").
    if (had === undefined || (rel.startsWith("updates/") && !had.startsWith("updates/"))) files.set(name, rel);
  };
  if (dep !== null) [...dep.keys()].sort(byteOrder).forEach(add);
  else walk(root, base.path, "").forEach(add);

  const loaded = new Map<string, KernelModule & { neededBySet: Set<string> }>();
  const builtinUsed = new Set<string>();
  const missingSoftdeps = new Set<string>();
  const queue: { name: string; rel: string; by: string }[] = [];
  /** Adds module `name` (needed by `by`) unless it is there or built in; false for a soft dependency that is nowhere. */
  const want = (name: string, by: string, soft: boolean): boolean => {
    const n = name.replaceAll("-", "_");
    const have = loaded.get(n);
    if (have !== undefined) {
      have.neededBySet.add(by);
      return true;
    }
    if (builtin.has(n)) {
      builtinUsed.add(n);
      return true;
    }
    const rel = files.get(n);
    if (rel === undefined) {
      if (soft) {
        missingSoftdeps.add(n);
        return false;
      }
      const who = by === "requested" ? "requested" : `needed by ${by}`;
      const noBuiltin = builtinText === null ? `; ${dir}/modules.builtin is missing, so built-in modules cannot be told apart` : " nor built in (modules.builtin)";
      throw new InputError(
        "NO_MODULE",
        `Cannot build the capture initramfs: module ${n} (${who}) is not in ${dir} of ${root.label}${noBuiltin}`,
        by === "requested" ? n : by,
        "Check the name (modinfo NAME on the target), or install the package that ships it into the root.",
      );
    }
    queue.push({ name: n, rel, by });
    loaded.set(n, { name: n, source: "", compression: "none", path: "", data: new Uint8Array(0), depends: [], neededBy: [], neededBySet: new Set([by]) });
    return true;
  };
  for (const n of names) want(n, "requested", false);
  const posts: [string, string][] = [];
  while (queue.length > 0) {
    const { name, rel } = queue.shift() as { name: string; rel: string; by: string };
    const r = resolveIn(root, rel.startsWith("/") ? rel : `${base.path}/${rel}`);
    if (r === null || r.kind !== "file") {
      throw new InputError("NO_MODULE", `Cannot build the capture initramfs: module ${name} is listed at ${rel} but that is not a file in ${root.label}`, rel, "Run depmod again on the target, or reinstall the kernel package.");
    }
    const compressed = root.read(r.path);
    const compression: ModuleCompression = /\.gz$/.test(r.path) ? "gzip" : /\.xz$/.test(r.path) ? "xz" : /\.zst$/.test(r.path) ? "zstd" : "none";
    const data = await decompress(compressed, compression, r.path);
    const info = modinfoOf(data, r.path);
    const vermagic = info.find(([k]) => k === "vermagic")?.[1] ?? "";
    if (vermagic.split(" ")[0] !== release) {
      throw new InputError("BAD_MODULE", `Cannot use module ${r.path}: its vermagic "${vermagic}" is not for kernel ${release}`, r.path, "The kernel refuses modules built for another release; take the modules of the capture kernel.");
    }
    const hard = dep !== null
      ? (dep.get(rel) ?? []).map(moduleName)
      : info.filter(([k]) => k === "depends").flatMap(([, v]) => v.split(",")).filter((s) => s !== "").map((s) => s.replaceAll("-", "_"));
    const soft = info.filter(([k]) => k === "softdep").map(([, v]) => parseSoftdep(v));
    const depends = new Set<string>();
    for (const d of hard) if (want(d, name, false) && !builtin.has(d)) depends.add(d);
    for (const d of soft.flatMap((s) => s.pre)) if (want(d, name, true) && !builtin.has(d)) depends.add(d);
    for (const d of soft.flatMap((s) => s.post)) if (want(d, name, true) && !builtin.has(d)) posts.push([d, name]);
    const m = loaded.get(name) as KernelModule & { neededBySet: Set<string> };
    loaded.set(name, { ...m, source: r.path, compression, path: compression === "none" ? r.path : r.path.replace(/\.(gz|xz|zst)$/, ""), data, depends: [...depends].sort(byteOrder) });
  }
  // A post: softdep loads after the module that names it.
  const after = new Map<string, Set<string>>([...loaded.keys()].map((n) => [n, new Set(loaded.get(n)?.depends)]));
  for (const [d, name] of posts) if (!(after.get(name)?.has(d) ?? false)) after.get(d)?.add(name);
  const order = topological(after);
  return {
    release,
    dependencySource: dep === null ? ".modinfo" : "modules.dep",
    modules: order.map((n) => {
      const { neededBySet, ...m } = loaded.get(n) as KernelModule & { neededBySet: Set<string> };
      return { ...m, neededBy: [...neededBySet].sort(byteOrder) };
    }),
    builtin: [...builtinUsed].sort(byteOrder),
    missingSoftdeps: [...missingSoftdeps].sort(byteOrder),
  };
}

/** Every module file under `dir` (paths relative to it), in byte order; symlinked directories are not entered. */
function walk(root: RootFs, dir: string, rel: string): string[] {
  const out: string[] = [];
  for (const name of root.list(rel === "" ? dir : `${dir}/${rel}`) ?? []) {
    const r = rel === "" ? name : `${rel}/${name}`;
    const k = root.kind(`${dir}/${r}`);
    if (k === "dir") out.push(...walk(root, dir, r));
    else if ((k === "file" || k === "symlink") && SUFFIX.test(name)) out.push(r);
  }
  return out;
}

async function decompress(bytes: Uint8Array, how: ModuleCompression, path: string): Promise<Uint8Array> {
  try {
    if (how === "gzip") return (await gunzip(bytes)).data;
    if (how === "xz") return (await unxz(bytes)).data;
    if (how === "zstd") return (await unzstd(bytes)).data;
    return bytes;
  } catch (e) {
    if (e instanceof InputError) throw new InputError(e.code, `Cannot decompress module ${path}: ${e.message}`, path, e.hint);
    throw e;
  }
}

/** The `.modinfo` of a module file. @throws InputError `BAD_MODULE` when it is not a relocatable ELF with one. */
function modinfoOf(data: Uint8Array, path: string): [string, string][] {
  try {
    const h = parseElfHeader(data);
    if (h.e_type !== ET_REL) throw new InputError("BAD_MODULE", `e_type ${h.e_type} is not ET_REL (1)`, 16);
    const s = findSection(data, ".modinfo");
    if (s === null) throw new InputError("BAD_MODULE", "it has no .modinfo section", 0);
    return parseModinfo(s);
  } catch (e) {
    if (e instanceof InputError) throw new InputError("BAD_MODULE", `Cannot use module ${path}: ${e.message}`, path, "A kernel module is a relocatable ELF file (.ko) with a .modinfo section.");
    throw e;
  }
}

/** Kahn's algorithm; among the modules ready to load, byte order, so the result does not depend on input order. */
function topological(deps: Map<string, Set<string>>): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  while (out.length < deps.size) {
    const ready = [...deps.entries()].filter(([n, d]) => !done.has(n) && [...d].every((x) => done.has(x) || !deps.has(x))).map(([n]) => n).sort(byteOrder);
    const next = ready[0];
    if (next === undefined) {
      const left = [...deps.keys()].filter((n) => !done.has(n)).sort(byteOrder);
      throw new InputError("BAD_MODULE", `Cannot order the kernel modules: ${left.join(", ")} depend on each other in a cycle`, left[0] ?? "", "The kernel cannot load such modules either; check modules.dep.");
    }
    out.push(next);
    done.add(next);
  }
  return out;
}
