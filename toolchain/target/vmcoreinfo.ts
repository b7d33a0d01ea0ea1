import { InputError, hex } from "../bytes/index.js";

/**
 * vmcoreinfo: the `KEY=VALUE` text the kernel keeps for dump tools
 * (`kernel/crash_core.c`, `arch/arm64/kernel/crash_core.c`), and the arm64
 * virtual-address model derived from it. Kernel-text addresses come from
 * here, never from `/proc/kallsyms`: kernels built without
 * `CONFIG_KALLSYMS_ALL` (Debian's cloud arm64 kernel) list no `_text` there.
 */

const U64 = 1n << 64n;
const MASK64 = U64 - 1n;

export interface VmcoreinfoEntry {
  readonly key: string;
  readonly value: string;
  /** 1-based line number in the text. */
  readonly line: number;
}

export interface Vmcoreinfo {
  /** Every `KEY=VALUE` line, in order. */
  readonly entries: readonly VmcoreinfoEntry[];
  /** `OSRELEASE=` (uname -r). */
  readonly osRelease: string | null;
  /** `PAGESIZE=` in bytes. */
  readonly pageSize: number | null;
  /** `SYMBOL(name)=` addresses (printed `%lx`, hex without 0x). */
  readonly symbols: ReadonlyMap<string, bigint>;
  /** `NUMBER(name)=` values: decimal (`%ld`, may be negative) or `0x` hex; kept as written. */
  readonly numbers: ReadonlyMap<string, bigint>;
  /** `KERNELOFFSET=` (printed `%lx`): the KASLR displacement of the kernel image. */
  readonly kernelOffset: bigint | null;
}

const HEX = /^[0-9a-fA-F]{1,16}$/;
const NUMBER = /^(-?[0-9]{1,20}|0x[0-9a-fA-F]{1,16})$/;

/**
 * Parses vmcoreinfo text. Trailing NULs (note padding) and blank lines are
 * ignored. `where` names the text's origin in messages ("vmcoreinfo.text").
 * @throws InputError `BAD_VMCOREINFO` with `where` and the line number for a
 * line without `=`, a malformed value of a key this project reads, or such a key twice.
 */
export function parseVmcoreinfo(text: string, where = "vmcoreinfo"): Vmcoreinfo {
  const entries: VmcoreinfoEntry[] = [];
  const symbols = new Map<string, bigint>();
  const numbers = new Map<string, bigint>();
  let osRelease: string | null = null;
  let pageSize: number | null = null;
  let kernelOffset: bigint | null = null;
  const seen = new Set<string>();
  const lines = text.replace(/\0+$/, "").split("\n");
  for (const [i, raw] of lines.entries()) {
    const line = i + 1;
    if (raw === "") continue;
    const at = `${where} line ${line}`;
    const eq = raw.indexOf("=");
    if (eq <= 0) {
      throw new InputError("BAD_VMCOREINFO", `Cannot parse vmcoreinfo: ${JSON.stringify(clip(raw))} is not KEY=VALUE`, at, "vmcoreinfo holds one KEY=VALUE per line; the text is damaged.");
    }
    const key = raw.slice(0, eq);
    const value = raw.slice(eq + 1);
    entries.push({ key, value, line });
    const bad = (what: string): never => {
      throw new InputError("BAD_VMCOREINFO", `Cannot parse vmcoreinfo: ${key}=${JSON.stringify(clip(value))} is not ${what}`, at, "The vmcoreinfo text is damaged; capture it again.");
    };
    const sym = /^SYMBOL\((.+)\)$/.exec(key);
    const num = /^NUMBER\((.+)\)$/.exec(key);
    const used = sym !== null || num !== null || key === "PAGESIZE" || key === "KERNELOFFSET" || key === "OSRELEASE";
    if (used) {
      if (seen.has(key)) {
        throw new InputError("BAD_VMCOREINFO", `Cannot parse vmcoreinfo: ${key} appears twice`, at, "The vmcoreinfo text is damaged or two captures were mixed.");
      }
      seen.add(key);
    }
    if (sym?.[1] !== undefined) {
      if (!HEX.test(value)) bad("a hex address");
      symbols.set(sym[1], BigInt("0x" + value));
    } else if (num?.[1] !== undefined) {
      if (!NUMBER.test(value)) bad("a decimal or 0x-hex number");
      const v = BigInt(value);
      if (v < -(1n << 63n) || v > MASK64) bad("a 64-bit number");
      numbers.set(num[1], v);
    } else if (key === "PAGESIZE") {
      if (!/^[0-9]{1,7}$/.test(value)) bad("a decimal page size");
      pageSize = Number(value);
    } else if (key === "KERNELOFFSET") {
      if (!HEX.test(value)) bad("a hex offset");
      kernelOffset = BigInt("0x" + value);
    } else if (key === "OSRELEASE") {
      osRelease = value;
    }
  }
  return { entries, osRelease, pageSize, symbols, numbers, kernelOffset };
}

function clip(s: string): string {
  return s.length > 60 ? s.slice(0, 60) + "…" : s;
}

/**
 * The arm64 kernel's virtual-address layout, from vmcoreinfo
 * (Linux `arch/arm64/include/asm/memory.h`):
 * - linear map: `va = pa - PHYS_OFFSET + PAGE_OFFSET`;
 * - kernel image: `pa = va - kimage_voffset`;
 * - `PAGE_OFFSET = ~0 << VA_BITS` on 5.4+ ("flipped") kernels, whose image
 *   lives in the upper half of the kernel VA space, else `~0 << (VA_BITS - 1)`.
 * All addresses are u64 bigints; arithmetic wraps modulo 2^64 as the kernel's does.
 */
export interface VaModel {
  readonly vaBits: number;
  readonly layout: "5.4+" | "pre-5.4";
  readonly pageOffset: bigint;
  /** `NUMBER(PHYS_OFFSET)` as a u64 (it is signed in the kernel and may lie below DRAM). */
  readonly physOffset: bigint;
  readonly kimageVoffset: bigint;
  readonly kernelOffset: bigint;
  /** VA of `_stext`. */
  readonly stext: bigint;
  /** VA where the kernel-text PT_LOAD starts: `_text`, or `_stext` when `_text` cannot be derived. */
  readonly text: bigint;
  /**
   * How `text` was found: `_text = NUMBER(MODULES_END) + KERNELOFFSET`
   * (arm64 `KIMAGE_VADDR` is `MODULES_END` and `kaslr_offset()` is
   * `kimage_vaddr - KIMAGE_VADDR`), or `_stext` when MODULES_END is not exported.
   */
  readonly textFrom: "MODULES_END+KERNELOFFSET" | "_stext";
}

const VA_BITS = new Set([36, 39, 42, 47, 48, 52]);
/** `MIN_KIMG_ALIGN`: the image header before `_stext` is far smaller. */
const MAX_HEAD = 2n * 1024n * 1024n;

/**
 * Derives the VA model from parsed vmcoreinfo.
 * @throws InputError `NO_VMCOREINFO` naming the absent key, or
 * `BAD_VMCOREINFO` for an impossible VA_BITS; `where` prefixes the path.
 */
export function vaModel(info: Vmcoreinfo, where = "vmcoreinfo"): VaModel {
  const need = (key: string, v: bigint | null | undefined): bigint => {
    if (v === null || v === undefined) {
      throw new InputError(
        "NO_VMCOREINFO",
        `Cannot derive the arm64 address layout: vmcoreinfo has no ${key}`,
        where,
        "Kernels since 5.x export it; capture vmcoreinfo from the running kernel's /proc/kcore as root (describe does).",
      );
    }
    return v;
  };
  const vaBitsN = need("NUMBER(VA_BITS)", info.numbers.get("VA_BITS"));
  const vaBits = Number(vaBitsN);
  if (!VA_BITS.has(vaBits)) {
    throw new InputError("BAD_VMCOREINFO", `Cannot derive the arm64 address layout: NUMBER(VA_BITS)=${vaBitsN} is not one of 36, 39, 42, 47, 48, 52`, where);
  }
  const physOffset = u64(need("NUMBER(PHYS_OFFSET)", info.numbers.get("PHYS_OFFSET")));
  const kimageVoffset = u64(need("NUMBER(kimage_voffset)", info.numbers.get("kimage_voffset")));
  const stext = need("SYMBOL(_stext)", info.symbols.get("_stext"));
  const kernelOffset = need("KERNELOFFSET", info.kernelOffset);
  const upperHalf = MASK64 & (MASK64 << BigInt(vaBits - 1));
  const layout = stext >= upperHalf ? "5.4+" : "pre-5.4";
  const pageOffset = MASK64 & (MASK64 << BigInt(layout === "5.4+" ? vaBits : vaBits - 1));
  const modulesEnd = info.numbers.get("MODULES_END");
  let text = stext;
  let textFrom: VaModel["textFrom"] = "_stext";
  if (modulesEnd !== undefined) {
    const t = u64(modulesEnd + kernelOffset);
    if (t <= stext && stext - t < MAX_HEAD) {
      text = t;
      textFrom = "MODULES_END+KERNELOFFSET";
    }
  }
  return { vaBits, layout, pageOffset, physOffset, kimageVoffset, kernelOffset, stext, text, textFrom };
}

/** Linear-map VA of physical address `pa`. */
export function linearVa(m: VaModel, pa: bigint): bigint {
  return u64(pa - m.physOffset + m.pageOffset);
}

/** Physical address of kernel-image VA `va`. */
export function kimagePa(m: VaModel, va: bigint): bigint {
  return u64(va - m.kimageVoffset);
}

/** Wraps a (possibly negative) bigint into u64 range. */
function u64(v: bigint): bigint {
  return ((v % U64) + U64) % U64;
}

/** One-line description of a VA model, for reports. */
export function describeVaModel(m: VaModel): string {
  return (
    `VA_BITS ${m.vaBits} (${m.layout}), PAGE_OFFSET ${hex(m.pageOffset)}, PHYS_OFFSET ${hex(m.physOffset)}, ` +
    `kimage_voffset ${hex(m.kimageVoffset)}, _text ${hex(m.text)} (${m.textFrom})`
  );
}
