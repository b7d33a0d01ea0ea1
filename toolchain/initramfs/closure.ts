import { InputError } from "../bytes/index.js";
import { EM_AARCH64, readDynamic } from "../elf/index.js";
import type { DynamicInfo } from "../elf/index.js";
import { byteOrder, resolveIn } from "./root.js";
import type { Link, RootFs } from "./root.js";

/**
 * The shared-library closure of programs in a root, found the way glibc's
 * dynamic linker finds it at run time (elf/dl-load.c `_dl_map_object`), but
 * from the files alone, so that it works off-target (no ldd, no running the
 * target's binaries): PT_INTERP, then each DT_NEEDED searched in the needing
 * object's DT_RPATH (when it has no DT_RUNPATH) and the executable's, its
 * DT_RUNPATH, the directories of the root's /etc/ld.so.conf (what ldconfig
 * would put in ld.so.cache), then the default directories, multiarch first.
 * A candidate of another ELF machine is skipped, as the dynamic linker does.
 */

/** One file of the closure: where it is in the root (symlinks followed) and the symlinks on the way. */
export interface ClosureFile {
  /** The path the program or its linker asks for (`/lib/ld-linux-aarch64.so.1`, `/lib/aarch64-linux-gnu/libz.so.1`). */
  readonly asked: string;
  /** The file it resolves to in the root. */
  readonly path: string;
  readonly links: readonly Link[];
  readonly size: number;
}

export interface Library extends ClosureFile {
  readonly soname: string;
  /** Every program or library that has it in DT_NEEDED, sorted. */
  readonly neededBy: readonly string[];
}

export interface Program extends ClosureFile {
  /** PT_INTERP, or null for a static program. */
  readonly interpreter: string | null;
  readonly needed: readonly string[];
}

export interface Closure {
  readonly programs: readonly Program[];
  /** The program interpreters (PT_INTERP), sorted. */
  readonly interpreters: readonly ClosureFile[];
  /** Every library, sorted by soname. */
  readonly libraries: readonly Library[];
  /**
   * The directories the libraries were found in, in search order: run the
   * programs with these as LD_LIBRARY_PATH, since an initramfs has no
   * ld.so.cache for the ld.so.conf directories.
   */
  readonly libraryDirs: readonly string[];
}

/** The GNU multiarch tuple of an ELF machine (Debian's lib/<tuple> directories), where one is known. */
const MULTIARCH: Record<number, string> = { [EM_AARCH64]: "aarch64-linux-gnu", 62: "x86_64-linux-gnu" };

/** How deep ld.so.conf includes may nest before we call it a loop. */
const MAX_INCLUDE_DEPTH = 8;

/**
 * Resolves `programs` (absolute paths in `root`) and everything they load.
 * @throws InputError `MISSING_FILE` for a program that is not a file in the
 *   root, `NO_LIBRARY` for a program interpreter or DT_NEEDED library
 *   that cannot be found (naming who needs it and where it was looked for),
 *   and the ELF reader's errors (with the file's path) for a damaged file.
 */
export function resolveClosure(root: RootFs, programs: readonly string[]): Closure {
  const confDirs = ldSoConf(root);
  const libs = new Map<string, { file: ClosureFile; dir: string; neededBy: Set<string> }>();
  const interps = new Map<string, ClosureFile>();
  const outProgs: Program[] = [];
  const dirsUsed: string[] = [];

  for (const asked of programs) {
    const r = resolveIn(root, asked);
    if (r === null || r.kind !== "file") {
      throw new InputError("MISSING_FILE", `Cannot build the capture initramfs: ${asked} is not a file in ${root.label}`, asked, "Install the package that ships it into the root, or name another path.");
    }
    const bytes = root.read(r.path);
    const info = dynamicOf(bytes, asked);
    outProgs.push({ asked, path: r.path, links: r.links, size: bytes.length, interpreter: info.interpreter, needed: info.needed });
    const machine = info.header.e_machine;
    if (info.interpreter !== null && !interps.has(info.interpreter)) {
      const ir = resolveIn(root, info.interpreter);
      if (ir === null || ir.kind !== "file") {
        throw new InputError(
          "NO_LIBRARY",
          `Cannot build the capture initramfs: the program interpreter ${info.interpreter} (PT_INTERP of ${asked}) is not in ${root.label}`,
          asked,
          "Install the C library package (libc6 on Debian) into the root.",
        );
      }
      interps.set(info.interpreter, { asked: info.interpreter, path: ir.path, links: ir.links, size: root.read(ir.path).length });
    }

    // Breadth-first, in DT_NEEDED order, as the dynamic linker loads them.
    const queue: { path: string; info: DynamicInfo }[] = [{ path: r.path, info }];
    while (queue.length > 0) {
      const obj = queue.shift() as { path: string; info: DynamicInfo };
      for (const soname of obj.info.needed) {
        const have = libs.get(soname);
        if (have !== undefined) {
          have.neededBy.add(obj.path);
          continue;
        }
        const dirs = searchDirs(obj.path, obj.info, info, confDirs, machine);
        const found = findLibrary(root, soname, dirs, machine);
        if (found.file === null) {
          const tried = found.rejected.length > 0 ? `; skipped ${found.rejected.join(", ")}` : "";
          throw new InputError(
            "NO_LIBRARY",
            `Cannot build the capture initramfs: ${soname}, needed by ${obj.path} (for ${asked}), is in none of ${dirs.join(", ")} in ${root.label}${tried}`,
            obj.path,
            `Install the package that ships ${soname} into the root (on Debian: dpkg -S ${soname}).`,
          );
        }
        libs.set(soname, { file: found.file.file, dir: found.file.dir, neededBy: new Set([obj.path]) });
        if (!dirsUsed.includes(found.file.dir)) dirsUsed.push(found.file.dir);
        queue.push({ path: found.file.file.path, info: found.file.info });
      }
    }
  }
  const libraries = [...libs.entries()]
    .sort(([a], [b]) => byteOrder(a, b))
    .map(([soname, l]): Library => ({ ...l.file, soname, neededBy: [...l.neededBy].sort(byteOrder) }));
  return { programs: outProgs, interpreters: [...interps.values()].sort((a, b) => byteOrder(a.asked, b.asked)), libraries, libraryDirs: dirsUsed };
}

function dynamicOf(bytes: Uint8Array, path: string): DynamicInfo {
  try {
    return readDynamic(bytes);
  } catch (e) {
    if (e instanceof InputError) throw new InputError(e.code, `${path}: ${e.message}`, path, e.hint);
    throw e;
  }
}

/** The directories glibc searches for a DT_NEEDED of `obj` (elf/dl-load.c `_dl_map_object`), with $ORIGIN expanded. */
function searchDirs(objPath: string, obj: DynamicInfo, exe: DynamicInfo, confDirs: readonly string[], machine: number): string[] {
  const origin = objPath.slice(0, objPath.lastIndexOf("/")) || "/";
  const expand = (dirs: readonly string[]) =>
    dirs.flatMap((d) => {
      const x = d.replace(/\$\{ORIGIN\}|\$ORIGIN/g, origin);
      // $LIB and $PLATFORM depend on how the target's glibc was built; a
      // path that still holds a dynamic string token cannot be followed here.
      return x.startsWith("/") && !x.includes("$") ? [x] : [];
    });
  const tuple = MULTIARCH[machine];
  const defaults = [...(tuple === undefined ? [] : [`/lib/${tuple}`, `/usr/lib/${tuple}`]), "/lib", "/usr/lib", "/lib64", "/usr/lib64"];
  const rpath = obj.runpath.length > 0 ? [] : [...expand(obj.rpath), ...(exe === obj ? [] : expand(exe.runpath.length > 0 ? [] : exe.rpath))];
  const all = [...rpath, ...expand(obj.runpath), ...confDirs, ...defaults].map((d) => (d.length > 1 ? d.replace(/\/+$/, "") : d));
  return all.filter((d, i) => all.indexOf(d) === i);
}

interface Found {
  readonly file: ClosureFile;
  readonly dir: string;
  readonly info: DynamicInfo;
}

function findLibrary(root: RootFs, soname: string, dirs: readonly string[], machine: number): { file: Found | null; rejected: string[] } {
  const rejected: string[] = [];
  for (const dir of dirs) {
    const asked = `${dir}/${soname}`;
    const r = resolveIn(root, asked);
    if (r === null || r.kind !== "file") continue;
    const bytes = root.read(r.path);
    let info: DynamicInfo;
    try {
      info = readDynamic(bytes);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      rejected.push(`${asked} (${e.message})`);
      continue;
    }
    if (info.header.e_machine !== machine) {
      rejected.push(`${asked} (ELF machine ${info.header.e_machine}, not ${machine})`);
      continue;
    }
    return { file: { file: { asked, path: r.path, links: r.links, size: bytes.length }, dir, info }, rejected };
  }
  return { file: null, rejected };
}

/**
 * The directories of the root's /etc/ld.so.conf, with its `include` globs
 * (one `*` in the last component, as Debian's `include /etc/ld.so.conf.d/*.conf`)
 * expanded in byte order, as ldconfig reads them (elf/ldconfig.c parse_conf).
 */
function ldSoConf(root: RootFs): string[] {
  const out: string[] = [];
  const read = (path: string, depth: number) => {
    if (depth > MAX_INCLUDE_DEPTH) return;
    const r = resolveIn(root, path);
    if (r === null || r.kind !== "file") return;
    const text = new TextDecoder().decode(root.read(r.path));
    for (const raw of text.split("\n")) {
      const line = raw.replace(/#.*/, "").trim();
      if (line === "") continue;
      const inc = /^include\s+(.+)$/.exec(line);
      if (inc !== null) {
        for (const pattern of (inc[1] as string).split(/\s+/)) {
          const abs = pattern.startsWith("/") ? pattern : `${path.slice(0, path.lastIndexOf("/"))}/${pattern}`;
          for (const f of glob(root, abs)) read(f, depth + 1);
        }
      } else if (line.startsWith("/") && !line.startsWith("hwcap")) {
        for (const d of line.split(/[\s:,=]+/)) if (d.startsWith("/") && !out.includes(d)) out.push(d);
      }
    }
  };
  read("/etc/ld.so.conf", 0);
  return out;
}

function glob(root: RootFs, pattern: string): string[] {
  const slash = pattern.lastIndexOf("/");
  const dir = pattern.slice(0, slash) || "/";
  const name = pattern.slice(slash + 1);
  if (!name.includes("*")) return [pattern];
  const re = new RegExp(`^${name.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  const resolved = resolveIn(root, dir);
  const names = resolved === null ? null : root.list(resolved.path);
  return (names ?? []).filter((n) => re.test(n)).map((n) => `${dir === "/" ? "" : dir}/${n}`);
}
