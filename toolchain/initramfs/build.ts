import { InputError } from "../bytes/index.js";
import { busyboxApplets } from "./busybox.js";
import { resolveClosure } from "./closure.js";
import type { Closure, ClosureFile } from "./closure.js";
import { CONFIG_PATH, checkConfig, serializeConfig } from "./config.js";
import type { CaptureConfig } from "./config.js";
import { buildCpio, gzipArchive, GZIP_LEVEL } from "./cpio.js";
import type { CpioEntry } from "./cpio.js";
import { INIT_APPLETS, captureInit } from "./init.js";
import { resolveModules } from "./modules.js";
import type { ModuleSet } from "./modules.js";
import { byteOrder, resolveIn } from "./root.js";
import type { RootFs } from "./root.js";

/**
 * The capture initramfs: everything the capture kernel needs to save a dump
 * to disk, taken from one root (the target's own `/`, or a sysroot of its
 * distribution's packages): a static busybox, makedumpfile and every shared
 * library it loads, the kernel modules asked for and their dependencies, the
 * generated configuration and /init (capture-init.sh). The archive is a pure
 * function of those files and the options: entries sorted, times and owners
 * fixed (cpio.ts), gzip at a fixed level.
 */

export interface CaptureInitramfsOptions {
  readonly root: RootFs;
  /** busybox in the root; default the first of /bin, /usr/bin, /sbin, /usr/sbin that has it. */
  readonly busybox?: string;
  /** makedumpfile in the root; default the first of /usr/sbin, /usr/bin, /sbin, /bin that has it. */
  readonly makedumpfile?: string;
  /** Kernel modules to load, by name; their dependencies are added. */
  readonly modules: readonly string[];
  /** The directory under /lib/modules; default the only one there. Needed only with modules. */
  readonly kernelRelease?: string;
  readonly config: CaptureConfig;
  readonly compress: "gzip" | "none";
}

export interface ArchiveFile {
  /** Where the archive holds it. */
  readonly path: string;
  /** Where it came from in the root (null: generated). */
  readonly from: string | null;
  readonly bytes: number;
}

export interface CaptureReport {
  readonly compression: "gzip" | "none";
  /** The gzip level, or null without compression. */
  readonly gzipLevel: number | null;
  /** Bytes of the archive as written (what the initrd segment holds). */
  readonly compressedBytes: number;
  /** Bytes of the uncompressed cpio archive. */
  readonly cpioBytes: number;
  /** Bytes of file contents once unpacked (what rootfs holds in the capture kernel's memory). */
  readonly unpackedBytes: number;
  readonly entries: number;
  readonly root: string;
  readonly busybox: { readonly from: string; readonly static: boolean; readonly applets: number };
  readonly makedumpfile: { readonly from: string; readonly path: string };
  readonly interpreters: readonly ClosureFile[];
  readonly libraries: Closure["libraries"];
  readonly libraryDirs: readonly string[];
  readonly modules: (Omit<ModuleSet, "modules"> & { readonly load: readonly { name: string; path: string; source: string; compression: string; bytes: number; depends: readonly string[]; neededBy: readonly string[] }[] }) | null;
  readonly config: CaptureConfig;
  /** The text of /etc/purgatory/capture.conf. */
  readonly configText: string;
  readonly files: readonly ArchiveFile[];
}

export interface CaptureInitramfs {
  /** The archive as written (gzip-compressed unless `compress` is "none"). */
  readonly bytes: Uint8Array;
  readonly report: CaptureReport;
}

const BUSYBOX_AT = ["/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox"];
const MAKEDUMPFILE_AT = ["/usr/sbin/makedumpfile", "/usr/bin/makedumpfile", "/sbin/makedumpfile", "/bin/makedumpfile"];

/**
 * Builds the capture initramfs.
 * @throws InputError `MISSING_FILE` (busybox or makedumpfile not in the root),
 *   `NO_LIBRARY`, `NO_MODULE`, `BAD_MODULE`, `BAD_BUSYBOX` (no
 *   applet table, or an applet /init runs is missing), `AMBIGUOUS` (several
 *   kernel releases and none named), `BAD_VALUE` (configuration), `BAD_PATH`
 *   (a path from the root that the configuration cannot carry) and the
 *   errors of the ELF reader, the decompressors and `buildCpio`.
 */
export async function buildCaptureInitramfs(o: CaptureInitramfsOptions): Promise<CaptureInitramfs> {
  const root = o.root;
  const busyboxAsked = o.busybox ?? find(root, BUSYBOX_AT, "busybox", "busybox-static");
  const makedumpfileAsked = o.makedumpfile ?? find(root, MAKEDUMPFILE_AT, "makedumpfile", "makedumpfile");
  const closure = resolveClosure(root, [busyboxAsked, makedumpfileAsked]);
  const [bb, mdf] = closure.programs as [Closure["programs"][0], Closure["programs"][0]];

  const busybox = root.read(bb.path);
  const applets = busyboxApplets(busybox);
  const lacking = INIT_APPLETS.filter((a) => !applets.includes(a));
  if (lacking.length > 0) {
    throw new InputError("BAD_BUSYBOX", `Cannot build the capture initramfs: ${bb.path} has no ${lacking.join(", ")}, which /init runs`, busyboxAsked, "Use a fuller busybox (Debian's busybox-static has them all).");
  }
  checkConfig(o.config, new Set([...applets, "makedumpfile", mdf.path]));

  let modules: ModuleSet | null = null;
  if (o.modules.length > 0) modules = await resolveModules(root, o.kernelRelease ?? onlyRelease(root), o.modules);

  const entries = new Map<string, CpioEntry>();
  const files: ArchiveFile[] = [];
  const put = (e: CpioEntry, from: string | null) => {
    if (entries.has(e.path)) return;
    entries.set(e.path, e);
    if ("data" in e) files.push({ path: e.path, from, bytes: typeof e.data === "string" ? Buffer.byteLength(e.data) : e.data.length });
  };
  const fromRoot = (f: ClosureFile, mode: number) => {
    for (const l of f.links) put({ path: l.path, symlink: l.target }, null);
    put({ path: f.path, mode, data: root.read(f.path) }, f.path);
  };
  for (const d of ["/dev", "/proc", "/sys", "/mnt", "/etc/purgatory"]) put({ path: d, directory: true }, null);
  put({ path: "/tmp", mode: 0o1777, directory: true }, null);
  put({ path: "/bin/busybox", mode: 0o755, data: busybox }, bb.path);
  fromRoot(mdf, 0o755);
  for (const f of closure.interpreters) fromRoot(f, 0o755);
  for (const f of closure.libraries) fromRoot(f, 0o644);
  for (const m of modules?.modules ?? []) put({ path: m.path, mode: 0o644, data: m.data }, m.source);

  const path = unique(["/bin", dirOf(mdf.path)]);
  for (const p of [...(modules?.modules.map((m) => m.path) ?? []), ...closure.libraryDirs, ...path]) {
    if (/[\s:'"\\]/.test(p)) {
      throw new InputError("BAD_PATH", `Cannot build the capture initramfs: the path ${JSON.stringify(p)} from ${root.label} holds whitespace, a colon, a quote or a backslash`, p, "Rename it in the root; /init splits these lists on spaces and colons.");
    }
  }
  const configText = serializeConfig(o.config, { modules: modules?.modules.map((m) => m.path) ?? [], libraryPath: closure.libraryDirs, path });
  put({ path: CONFIG_PATH, mode: 0o644, data: configText }, null);
  put({ path: "/init", mode: 0o755, data: captureInit() }, null);
  // Every applet as /bin/NAME, for /init and for a person at the `shell` action.
  for (const a of applets) if (a !== "busybox" && /^[A-Za-z0-9_.[-]+$/.test(a)) put({ path: `/bin/${a}`, symlink: "busybox" }, null);

  const cpio = buildCpio([...entries.values()]);
  const bytes = o.compress === "gzip" ? gzipArchive(cpio) : cpio;
  return {
    bytes,
    report: {
      compression: o.compress,
      gzipLevel: o.compress === "gzip" ? GZIP_LEVEL : null,
      compressedBytes: bytes.length,
      cpioBytes: cpio.length,
      unpackedBytes: files.reduce((s, f) => s + f.bytes, 0),
      entries: entries.size,
      root: root.label,
      busybox: { from: bb.path, static: bb.interpreter === null, applets: applets.length },
      makedumpfile: { from: mdf.asked, path: mdf.path },
      interpreters: closure.interpreters,
      libraries: closure.libraries,
      libraryDirs: closure.libraryDirs,
      modules: modules === null ? null : {
        release: modules.release,
        dependencySource: modules.dependencySource,
        builtin: modules.builtin,
        missingSoftdeps: modules.missingSoftdeps,
        load: modules.modules.map((m) => ({ name: m.name, path: m.path, source: m.source, compression: m.compression, bytes: m.data.length, depends: m.depends, neededBy: m.neededBy })),
      },
      config: o.config,
      configText,
      files: files.sort((a, b) => byteOrder(a.path, b.path)),
    },
  };
}

function find(root: RootFs, candidates: readonly string[], what: string, pkg: string): string {
  for (const c of candidates) {
    const r = resolveIn(root, c);
    if (r !== null && r.kind === "file") return c;
  }
  throw new InputError("MISSING_FILE", `Cannot build the capture initramfs: no ${what} in ${root.label} (looked in ${candidates.join(", ")})`, root.label, `Install ${pkg} into the root, or name the file.`);
}

/** The only kernel release under /lib/modules. @throws InputError `NO_MODULE` (none) or `AMBIGUOUS` (several). */
function onlyRelease(root: RootFs): string {
  const r = resolveIn(root, "/lib/modules");
  const names = (r === null ? null : root.list(r.path)) ?? [];
  const releases = names.filter((n) => resolveIn(root, `/lib/modules/${n}`)?.kind === "dir");
  if (releases.length === 1) return releases[0] as string;
  if (releases.length === 0) {
    throw new InputError("NO_MODULE", `Cannot load kernel modules: ${root.label} has no /lib/modules/<release>`, "/lib/modules", "Install the capture kernel's package into the root.");
  }
  throw new InputError("AMBIGUOUS", `Cannot choose the kernel release: /lib/modules in ${root.label} holds ${releases.join(", ")}`, "/lib/modules", "Name the capture kernel's release (uname -r).");
}

function dirOf(p: string): string {
  return p.slice(0, p.lastIndexOf("/")) || "/";
}

function unique(xs: readonly string[]): string[] {
  return xs.filter((x, i) => xs.indexOf(x) === i);
}
