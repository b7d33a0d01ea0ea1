import { InputError } from "../bytes/index.js";
import type { PageSize } from "../target/index.js";

/**
 * The constants of the crashkernel model that no input file states and no
 * kernel source fixes: what a capture kernel and its user space take at run
 * time. Each has a built-in default per page size (a guess until measured,
 * see docs/crashkernel.md) and can be replaced by a calibration file, which
 * a measurement in QEMU writes (boot the capture kernel in a known amount of
 * memory, read /proc/meminfo and the collector's peak RSS).
 *
 * The file (`format` "purgatory-crashkernel-calibration/1"), JSON with
 * sorted keys:
 * ```json
 * {
 *   "constants": { "kernelRuntime": 25165824, "perCpu": 1048576 },
 *   "format": "purgatory-crashkernel-calibration/1",
 *   "measuredOn": {
 *     "kernelRelease": "6.1.0-56-cloud-arm64",
 *     "kernelVersion": "#1 SMP Debian 6.1.192-2 (2026-...)",
 *     "machine": "qemu-system-aarch64 7.2, -M virt -cpu cortex-a57 -m 256M",
 *     "method": "free text: how each constant was measured",
 *     "pageSize": 4096
 *   }
 * }
 * ```
 * `constants` holds bytes (non-negative integers) for any subset of the names
 * in `CALIBRATED`; the rest keep their defaults. `measuredOn.kernelRelease`
 * (`uname -r` of the measured capture kernel) and `pageSize` are required;
 * the estimate refuses a calibration measured with another page size and
 * notes one measured on another release.
 */

export const CALIBRATION_FORMAT = "purgatory-crashkernel-calibration/1";

export type CalibratedName = "kernelRuntime" | "perCpu" | "tmpfsInode" | "userspace" | "collector" | "cma";

export interface CalibratedConstant {
  /** What the constant covers, for --help and the report. */
  readonly what: string;
  /** Where the default comes from. */
  readonly source: string;
  /** Bytes, per page size of the capture kernel. */
  readonly defaults: Readonly<Record<PageSize, number>>;
}

const MiB = 1 << 20;
const perPage = (k4: number, k16: number, k64: number): Record<PageSize, number> => ({ 4096: k4, 16384: k16, 65536: k64 });

/** Every calibratable constant, with its built-in default. All defaults are guesses until a calibration replaces them. */
export const CALIBRATED: Readonly<Record<CalibratedName, CalibratedConstant>> = {
  kernelRuntime: {
    what: "kernel memory at run time that scales with neither RAM nor CPUs: slab, vmalloc, kernel stacks of global threads, driver state",
    source: "guess, checked for 4K pages (real crashes of Debian's 6.1 cloud kernel on QEMU virt imply 12.1 to 13.3 MiB, with and without a CMA area; " +
      "drivers of real machines add more): calibrate with `purgatory crashkernel --calibrate --qemu`",
    defaults: perPage(16 * MiB, 32 * MiB, 48 * MiB),
  },
  perCpu: {
    what: "memory each CPU the capture kernel sets up costs: per-CPU areas, idle, IRQ and per-CPU thread stacks, per-CPU slab and page lists",
    source: "guess (kdump-utils allows 1 MiB per CPU on ppc64le; one QEMU virt boot of Debian's 6.1 cloud kernel used 0.64 MiB per CPU); " +
      "measure as the difference between nr_cpus=1 and nr_cpus=N boots",
    defaults: perPage(1 * MiB, 1 * MiB, 2 * MiB),
  },
  tmpfsInode: {
    what: "memory per initramfs entry beyond its data pages: the shmem inode and the dentry",
    source: "guess: sizeof(struct shmem_inode_info) + sizeof(struct dentry) rounded up",
    defaults: perPage(1024, 1024, 1024),
  },
  userspace: {
    what: "anonymous memory of the capture initramfs' own programs (init, shell) while the collector runs",
    source: "guess; measure as the peak of AnonPages minus the collector's",
    defaults: perPage(2 * MiB, 3 * MiB, 4 * MiB),
  },
  collector: {
    what: "makedumpfile's anonymous memory besides its two bitmaps: heap, library data, page and write buffers",
    source: "guess; measure as makedumpfile's peak RSS minus its file-backed pages and bitmaps",
    defaults: perPage(4 * MiB, 6 * MiB, 8 * MiB),
  },
  cma: {
    what: "the CMA area the capture kernel reserves at boot unless its command line says cma=",
    source: "Debian's arm64 kernel config CONFIG_CMA_SIZE_MBYTES=64; other kernels differ (measure: 'cma: Reserved' in dmesg)",
    defaults: perPage(64 * MiB, 64 * MiB, 64 * MiB),
  },
};

export const CALIBRATED_NAMES = Object.keys(CALIBRATED) as CalibratedName[];

export interface MeasuredOn {
  /** `uname -r` of the capture kernel measured. */
  readonly kernelRelease: string;
  /** `uname -v`, when recorded. */
  readonly kernelVersion?: string;
  /** PAGE_SIZE of the measured kernel. */
  readonly pageSize: PageSize;
  /** The machine, free text. */
  readonly machine?: string;
  /** How the constants were measured, free text. */
  readonly method?: string;
}

export interface Calibration {
  readonly measuredOn: MeasuredOn;
  readonly constants: Readonly<Partial<Record<CalibratedName, number>>>;
}

/** The constants in force: the calibration's where it has one, the defaults for `pageSize` elsewhere. */
export interface Constants {
  readonly values: Readonly<Record<CalibratedName, number>>;
  /** Per constant: "default" or "calibration". */
  readonly from: Readonly<Record<CalibratedName, "default" | "calibration">>;
}

/**
 * The constants for a capture kernel with `pageSize`, with `calibration` (if
 * any) applied.
 * @throws InputError `BAD_CALIBRATION` when the calibration was measured with another page size.
 */
export function constantsFor(pageSize: PageSize, calibration: Calibration | null, source = "calibration"): Constants {
  if (calibration !== null && calibration.measuredOn.pageSize !== pageSize) {
    throw new InputError(
      "BAD_CALIBRATION",
      `Cannot use the calibration: it was measured with ${calibration.measuredOn.pageSize / 1024} KiB pages and the capture kernel uses ${pageSize / 1024} KiB pages`,
      `${source}: measuredOn.pageSize`,
      "Calibrate the capture kernel you load, or leave --calibration out to use the defaults",
    );
  }
  const values = {} as Record<CalibratedName, number>;
  const from = {} as Record<CalibratedName, "default" | "calibration">;
  for (const name of CALIBRATED_NAMES) {
    const v = calibration?.constants[name];
    values[name] = v ?? CALIBRATED[name].defaults[pageSize];
    from[name] = v === undefined ? "default" : "calibration";
  }
  return { values, from };
}

const TOP_KEYS = ["constants", "format", "measuredOn"] as const;
const MEASURED_KEYS = ["kernelRelease", "kernelVersion", "machine", "method", "pageSize"] as const;
const PAGE_SIZES: readonly number[] = [4096, 16384, 65536];

/**
 * Parses a calibration file. `source` names it in error paths.
 * @throws InputError `BAD_JSON` for text that is not JSON, `BAD_CALIBRATION`
 *   (with the path of the field) for a wrong format, a missing or unknown
 *   field, or a constant that is not a whole number of bytes.
 */
export function parseCalibration(text: string, source = "calibration"): Calibration {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message);
    throw new InputError("BAD_JSON", `Cannot parse calibration ${source}: ${(e as Error).message}`, pos?.[1] === undefined ? source : Number(pos[1]),
      "A calibration is the JSON a calibration run writes");
  }
  const bad = (path: string, why: string, hint?: string): never => {
    throw new InputError("BAD_CALIBRATION", `Cannot use calibration ${source}: ${why}`, `${source}: ${path}`, hint);
  };
  const obj = (v: unknown, path: string, keys: readonly string[], required: readonly string[]): Record<string, unknown> => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return bad(path || "(top)", `expected an object, found ${JSON.stringify(v)}`);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!keys.includes(k)) bad(path ? `${path}.${k}` : k, `unknown field "${k}"`, `Known fields here: ${keys.join(", ")}`);
    for (const k of required) if (!Object.hasOwn(o, k)) bad(path ? `${path}.${k}` : k, `missing field "${k}"`);
    return o;
  };
  const top = obj(doc, "", TOP_KEYS, TOP_KEYS);
  if (top.format !== CALIBRATION_FORMAT) {
    bad("format", `format ${JSON.stringify(top.format)} is not "${CALIBRATION_FORMAT}"`, "This purgatory reads calibration format 1");
  }
  const m = obj(top.measuredOn, "measuredOn", MEASURED_KEYS, ["kernelRelease", "pageSize"]);
  const text_ = (k: string, required: boolean): string | undefined => {
    const v = m[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string" || v === "") return bad(`measuredOn.${k}`, `expected a non-empty string, found ${JSON.stringify(v)}`);
    return v;
  };
  if (typeof m.pageSize !== "number" || !PAGE_SIZES.includes(m.pageSize)) {
    bad("measuredOn.pageSize", `page size ${JSON.stringify(m.pageSize)} is not 4096, 16384 or 65536`);
  }
  const measuredOn: MeasuredOn = {
    kernelRelease: text_("kernelRelease", true)!,
    pageSize: m.pageSize as PageSize,
    ...optional("kernelVersion", text_("kernelVersion", false)),
    ...optional("machine", text_("machine", false)),
    ...optional("method", text_("method", false)),
  };
  const c = obj(top.constants, "constants", CALIBRATED_NAMES, []);
  const constants: Partial<Record<CalibratedName, number>> = {};
  for (const name of CALIBRATED_NAMES) {
    const v = c[name];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      return bad(`constants.${name}`, `expected a whole number of bytes, found ${JSON.stringify(v)}`, "Constants are bytes, e.g. 25165824 for 24 MiB");
    }
    constants[name] = v;
  }
  if (Object.keys(constants).length === 0) bad("constants", "no constant is given", `Give at least one of ${CALIBRATED_NAMES.join(", ")}`);
  return { measuredOn, constants };
}

function optional<K extends string>(key: K, v: string | undefined): Partial<Record<K, string>> {
  return v === undefined ? {} : ({ [key]: v } as Record<K, string>);
}

/** The calibration file's text: sorted keys, two-space indent, trailing newline. */
export function serializeCalibration(c: Calibration): string {
  const sorted = (o: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  return JSON.stringify({ constants: sorted(c.constants), format: CALIBRATION_FORMAT, measuredOn: sorted({ ...c.measuredOn }) }, null, 2) + "\n";
}
