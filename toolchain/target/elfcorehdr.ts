import { InputError, encodeLayout, hex } from "../bytes/index.js";
import { subtract } from "./ranges.js";
import type { Range, Target } from "./types.js";
import { kimagePa, linearVa, parseVmcoreinfo, vaModel } from "./vmcoreinfo.js";
import type { VaModel } from "./vmcoreinfo.js";
import {
  ELF64_EHDR, ELF64_PHDR, ELFCLASS64, ELFDATA2LSB, ELFMAG, ELFOSABI_NONE, EM_AARCH64, ET_CORE, EV_CURRENT,
  PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE,
} from "../elf/layout.js";

/**
 * The elfcorehdr a crash load hands the capture kernel: an ELF64 LE ET_CORE
 * header whose program headers describe the crashed kernel's memory
 * (the capture kernel reads it in Linux `fs/proc/vmcore.c`).
 *
 * Program headers, in this order:
 * 1. a PT_NOTE per CPU crash note, then one for vmcoreinfo: `p_offset =
 *    p_paddr =` physical address, `p_vaddr = 0`;
 * 2. a PT_LOAD for the kernel image, `[_text, _end)`, at its kernel-image VA;
 * 3. a PT_LOAD per System RAM range minus both crash ranges, ascending, at its
 *    linear-map VA.
 * PT_LOAD `p_offset` is the physical address too: vmcore treats it as one.
 */

/** `ELF_CORE_HEADER_ALIGN`: the header buffer is rounded up to this many bytes (kexec-tools). */
export const ELF_CORE_HEADER_ALIGN = 1024;

export type PhdrRole = "cpu-note" | "vmcoreinfo" | "kernel-text" | "ram";

export interface PhdrSummary {
  readonly index: number;
  readonly role: PhdrRole;
  /** For cpu notes: the CPU number. */
  readonly cpu?: number;
  readonly type: "PT_NOTE" | "PT_LOAD";
  /** p_offset = p_paddr: a physical address. */
  readonly paddr: bigint;
  readonly vaddr: bigint;
  /** p_filesz = p_memsz, bytes. */
  readonly size: bigint;
}

export interface Elfcorehdr {
  /** The header buffer: headers plus zero padding to a multiple of 1024 bytes. This is the size `linux,elfcorehdr` names. */
  readonly bytes: Uint8Array;
  readonly phdrs: readonly PhdrSummary[];
  readonly vaModel: VaModel;
}

/** Largest gap between the kernel image start and `_stext` (`MIN_KIMG_ALIGN`). */
const MAX_HEAD = 2n * 1024n * 1024n;
const MASK64 = (1n << 64n) - 1n;
/** e_phnum 0xffff means "extended numbering", which vmcore does not implement. */
const PN_XNUM = 0xffff;

/**
 * Builds the elfcorehdr for `target`. Pure: the same target gives the same bytes.
 * @throws InputError (with the target path) when the target has no crash
 * range, no vmcoreinfo text, no Kernel code/data ranges, or when vmcoreinfo
 * and /proc/iomem disagree on where the kernel image is.
 */
export function buildElfcorehdr(target: Target): Elfcorehdr {
  const crash = target.crashKernel;
  if (crash === null) {
    throw new InputError("NO_CRASH_KERNEL", "Cannot build elfcorehdr: the target reserves no crash kernel memory", "crashKernel", "Boot the target with crashkernel=256M (or more) and run describe again.");
  }
  const text = target.vmcoreinfo?.text;
  if (target.vmcoreinfo === null || text === undefined) {
    throw new InputError(
      "NO_VMCOREINFO",
      "Cannot build elfcorehdr: the target description has no vmcoreinfo text",
      "vmcoreinfo.text",
      "Run describe as root on the target so it can read the VMCOREINFO note of /proc/kcore (not possible under kernel lockdown); with no hardware, `purgatory target qemu-virt --kernel IMAGE` describes an emulated machine running that kernel.",
    );
  }
  const { kernelCode, kernelData } = target;
  if (kernelCode === null || kernelData === null) {
    throw new InputError("NO_KERNEL_RANGES", "Cannot build elfcorehdr: /proc/iomem gave no \"Kernel code\" or \"Kernel data\" range", kernelCode === null ? "kernelCode" : "kernelData", "Capture /proc/iomem as root.");
  }
  const m = vaModel(parseVmcoreinfo(text, "vmcoreinfo.text"), "vmcoreinfo.text");
  const kernel = kernelImage(m, kernelCode, kernelData);

  const phdrs: PhdrSummary[] = [];
  const add = (p: Omit<PhdrSummary, "index">): void => {
    phdrs.push({ index: phdrs.length, ...p });
  };
  for (const n of target.cpuNotes) add({ role: "cpu-note", cpu: n.cpu, type: "PT_NOTE", paddr: n.address, vaddr: 0n, size: n.size });
  add({ role: "vmcoreinfo", type: "PT_NOTE", paddr: target.vmcoreinfo.address, vaddr: 0n, size: target.vmcoreinfo.size });
  add({ role: "kernel-text", type: "PT_LOAD", paddr: kernel.start, vaddr: (kernel.start + m.kimageVoffset) & MASK64, size: kernel.end - kernel.start });
  const holes = target.crashKernelLow === null ? [crash] : [target.crashKernelLow, crash];
  for (const r of subtract(target.memory, holes)) {
    add({ role: "ram", type: "PT_LOAD", paddr: r.start, vaddr: linearVa(m, r.start), size: r.end - r.start });
  }

  if (phdrs.length >= PN_XNUM) {
    throw new InputError("TOO_MANY_HEADERS", `Cannot build elfcorehdr: ${phdrs.length} program headers do not fit e_phnum`, "memory", `vmcore reads at most ${PN_XNUM - 1} program headers (no extended numbering); merge adjacent RAM ranges.`);
  }
  const used = ELF64_EHDR.size + phdrs.length * ELF64_PHDR.size;
  const bytes = new Uint8Array(Math.ceil(used / ELF_CORE_HEADER_ALIGN) * ELF_CORE_HEADER_ALIGN);
  encodeLayout(ELF64_EHDR, {
    ei_mag: ELFMAG,
    ei_class: ELFCLASS64,
    ei_data: ELFDATA2LSB,
    ei_version: EV_CURRENT,
    ei_osabi: ELFOSABI_NONE,
    ei_abiversion: 0,
    ei_pad: new Uint8Array(7),
    e_type: ET_CORE,
    e_machine: EM_AARCH64,
    e_version: EV_CURRENT,
    e_entry: 0n,
    e_phoff: BigInt(ELF64_EHDR.size),
    e_shoff: 0n,
    e_flags: 0,
    e_ehsize: ELF64_EHDR.size,
    e_phentsize: ELF64_PHDR.size,
    e_phnum: phdrs.length,
    e_shentsize: 0,
    e_shnum: 0,
    e_shstrndx: 0,
  }, bytes);
  for (const p of phdrs) {
    encodeLayout(ELF64_PHDR, {
      p_type: p.type === "PT_NOTE" ? PT_NOTE : PT_LOAD,
      p_flags: p.type === "PT_NOTE" ? 0 : PF_R | PF_W | PF_X,
      p_offset: p.paddr,
      p_vaddr: p.vaddr,
      p_paddr: p.paddr,
      p_filesz: p.size,
      p_memsz: p.size,
      p_align: 0n,
    }, bytes, ELF64_EHDR.size + p.index * ELF64_PHDR.size);
  }
  return { bytes, phdrs, vaModel: m };
}

/**
 * The physical range of the kernel image, `[_text, _end)`. /proc/iomem's
 * "Kernel code" starts at `_stext` on current kernels (LNX
 * `arch/arm64/kernel/setup.c`: `__pa_symbol(_stext)`) and at `_text` on old
 * ones; "Kernel data" ends at `_end`. vmcoreinfo's `_stext` must land on the
 * same page, or the two files come from different boots.
 */
function kernelImage(m: VaModel, code: Range, data: Range): Range {
  const stextPa = kimagePa(m, m.stext);
  if (code.start > stextPa || stextPa - code.start >= MAX_HEAD) {
    throw new InputError(
      "KERNEL_MISMATCH",
      `Cannot build elfcorehdr: vmcoreinfo puts _stext at physical ${hex(stextPa)} (SYMBOL(_stext) - kimage_voffset) but /proc/iomem's Kernel code starts at ${hex(code.start)}`,
      "kernelCode",
      "The description mixes files from two boots; run describe again.",
    );
  }
  const textPa = kimagePa(m, m.text);
  const start = textPa < code.start ? textPa : code.start;
  if (data.end <= start || data.end < code.end) {
    throw new InputError("KERNEL_MISMATCH", `Cannot build elfcorehdr: Kernel data ends at ${hex(data.end)}, before the kernel image starts at ${hex(start)} or Kernel code ends`, "kernelData", "The description mixes files from two boots; run describe again.");
  }
  return { start, end: data.end };
}

