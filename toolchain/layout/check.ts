import { hex } from "../bytes/index.js";
import { alignUp, type Range, type Target } from "../target/index.js";
import { estimateTotalRamPages } from "./_ram.js";
import {
  DTB_MAX_SIZE,
  KEXEC_ARCH_MASK,
  KEXEC_CRASH_HOTPLUG_SUPPORT,
  KEXEC_DEBUG,
  KEXEC_ON_CRASH,
  KEXEC_SEGMENT_MAX,
  KEXEC_UPDATE_ELFCOREHDR,
  SZ_1G,
  SZ_2M,
  SZ_32G,
  type Caveat,
  type Errno,
  type Load,
  type LoadSegment,
  type RuleId,
  type Severity,
  type Violation,
} from "./types.js";

/**
 * The kernel's acceptance rules for kexec_load and the arm64 boot rules,
 * re-checked on any proposed load. This file shares no placement code with
 * place.ts: it is the independent check of a plan, and the `explain` command's
 * engine for loads that other tools wrote.
 */

/** The target facts the checks read. A missing fact skips its checks (see `loadCaveats`). */
export type CheckFacts = Partial<
  Pick<Target, "pageSize" | "memory" | "reserved" | "crashKernel" | "crashKernelLow" | "kernelCode" | "kernelData" | "commandLine" | "cpuEnableMethod" | "lockdown">
>;

export interface Rule {
  readonly errno: Errno;
  readonly severity: Severity;
  /** Where the rule comes from. */
  readonly source: string;
  readonly summary: string;
}

const KERNEL = (summary: string, errno: Errno, source: string): Rule => ({ errno, severity: "rejected", source, summary });
const BOOT = (summary: string, source: string): Rule => ({ errno: "none", severity: "boot-fails", source, summary });
const SANITY = "kernel/kexec_core.c sanity_check_segment_list";
const BOOTING = "Documentation/arch/arm64/booting.rst";

/** Every rule, in the order the kernel evaluates them (so the first rejected finding is what kexec_load returns). */
export const RULES: Readonly<Record<RuleId, Rule>> = {
  lockdown: KERNEL("no kernel lockdown (integrity and confidentiality both lock kexec_load)", "EPERM", "kernel/kexec.c kexec_load_check: security_locked_down(LOCKDOWN_KEXEC)"),
  flags: KERNEL("only KEXEC_FLAGS bits besides the arch field", "EINVAL", "kernel/kexec.c kexec_load_check"),
  "segment-count": KERNEL(`at most KEXEC_SEGMENT_MAX (${KEXEC_SEGMENT_MAX}) segments`, "EINVAL", "kernel/kexec.c kexec_load_check"),
  "flags-arch": KERNEL("arch field 0xb7 (KEXEC_ARCH_AARCH64) or 0 (default)", "EINVAL", "kernel/kexec.c SYSCALL_DEFINE4(kexec_load)"),
  "entry-crash-range": KERNEL("crash entry inside crashk_res", "EADDRNOTAVAIL", "kernel/kexec.c kimage_alloc_init"),
  wrap: KERNEL("mem + memsz stays below the end of the 64-bit space", "EADDRNOTAVAIL", SANITY),
  "page-alignment": KERNEL("mem and mem + memsz on the running kernel's page size", "EADDRNOTAVAIL", SANITY),
  overlap: KERNEL("no two segments overlap", "EINVAL", SANITY),
  bufsz: KERNEL("bufsz <= memsz", "EINVAL", SANITY),
  "ram-half": KERNEL("each segment, and all together, within half of RAM", "EINVAL", SANITY),
  "crash-range": KERNEL("crash segments inside crashk_res (never crashk_low_res)", "EADDRNOTAVAIL", SANITY),
  "system-ram": BOOT("reboot segments inside System RAM", "kexec copies them there at reboot; kernel/kexec_core.c does not check"),
  reserved: BOOT("reboot segments clear of reserved (firmware) ranges", "/proc/iomem reserved entries; kexec-tools f736104"),
  "kernel-base": BOOT("kernel at a 2 MiB-aligned base + text_offset", BOOTING),
  "kernel-image-size": BOOT("kernel memsz covers image_size", BOOTING),
  "initrd-window": BOOT("initrd and kernel in one 1 GiB-aligned 32 GiB window", BOOTING),
  "dtb-size": BOOT("DTB at most 2 MiB", BOOTING),
  "dtb-2m-crossing": BOOT("DTB inside one 2 MiB block", "booting.rst before Linux 4.2 (one 2 MiB section mapping); kexec_file keeps it"),
  "entry-segment": BOOT("entry inside the loaded bytes of the purgatory segment", "kexec_load enters `entry` with x0 = 0 (arch/arm64/kernel/relocate_kernel.S)"),
  "console-window": BOOT("the purgatory's UART registers outside RAM and every segment", "the purgatory writes its messages there (docs/target.md)"),
};

const U64_END = 1n << 64n;
const KNOWN_FLAGS = KEXEC_ON_CRASH | KEXEC_UPDATE_ELFCOREHDR | KEXEC_CRASH_HOTPLUG_SUPPORT | KEXEC_DEBUG;
const KEXEC_ARCH_FIELD_AARCH64 = 0xb7;

/**
 * Re-checks a proposed load against the kernel's `kexec_load` rules and the
 * arm64 boot rules. Returns every violation, as data, in the kernel's order
 * of evaluation; one finding per cause (a wrapping segment is left out of the
 * later checks, an oversized DTB is not also reported as crossing 2 MiB).
 * `segment` indexes `load.segments`. Pure; never throws for a u64-valued load.
 */
export function checkLoad(load: Load, facts: CheckFacts): Violation[] {
  const out: Violation[] = [];
  const segs = load.segments;
  const page = BigInt(facts.pageSize ?? 4096);
  const crash = (load.flags & KEXEC_ON_CRASH) !== 0;
  const add = (rule: RuleId, message: string, fix: string, i?: number, other?: number): void => {
    const { errno, severity } = RULES[rule];
    const s = i === undefined ? undefined : segs[i];
    out.push({
      rule, errno, severity, message, fix,
      ...(i !== undefined ? { segment: i } : {}),
      ...(s?.role !== undefined ? { role: s.role } : {}),
      ...(other !== undefined ? { other } : {}),
    });
  };
  const name = (i: number): string => `segment ${i}${segs[i]?.role ? ` (${segs[i]!.role})` : ""}`;
  const span = (s: LoadSegment): string => `[${hex(s.mem)}, ${hex(s.mem + s.memsz)})`;

  // kernel/kexec.c: kexec_load_check (permission, then lockdown, then the
  // flags), then the arch test in the syscall. Only a lockdown level the
  // target description states is a finding; an unknown one is a caveat.
  if (facts.lockdown !== undefined && facts.lockdown !== "none") {
    add("lockdown", `the target runs under lockdown=${facts.lockdown} (/sys/kernel/security/lockdown): kexec_load refuses every load`,
      "Load with kexec_file_load and a kernel signed by a key the machine trusts (kexec -s), or boot the machine without lockdown (Secure Boot off, no lockdown= on its command line); it cannot be lowered at run time");
  }
  const extra = load.flags & 0xffff & ~KNOWN_FLAGS;
  if (extra !== 0) {
    add("flags", `flags ${hex(load.flags)} set bits ${hex(extra)} outside KEXEC_FLAGS`,
      `Clear ${hex(extra)}: kexec_load takes KEXEC_ON_CRASH (0x1) and, on newer kernels, 0x4, 0x8 and 0x10; arm64 has no KEXEC_PRESERVE_CONTEXT (0x2)`);
  }
  if (segs.length > KEXEC_SEGMENT_MAX) {
    add("segment-count", `${segs.length} segments, more than KEXEC_SEGMENT_MAX (${KEXEC_SEGMENT_MAX})`,
      "Merge adjacent segments (one buffer may hold several files) until there are 16 or fewer");
  }
  const arch = ((load.flags & KEXEC_ARCH_MASK) >>> 16) & 0xffff;
  if (arch !== KEXEC_ARCH_FIELD_AARCH64 && arch !== 0) {
    add("flags-arch", `flags ${hex(load.flags)} name architecture ${hex(arch)} (e_machine), not AArch64 (0xb7)`,
      `Set the arch field to KEXEC_ARCH_AARCH64: flags = ${hex(((load.flags & 0xffff) | 0xb70000) >>> 0)}`);
  }

  const R = facts.crashKernel;
  let entryRefused = false;
  if (crash && R === null) {
    entryRefused = true;
    add("entry-crash-range", "a crash load, but the target reserves no crash kernel memory (crashk_res is empty)",
      "Boot the running kernel with crashkernel=<size> (e.g. crashkernel=512M), or load without KEXEC_ON_CRASH");
  } else if (crash && R && (load.entry < R.start || load.entry >= R.end)) {
    entryRefused = true;
    add("entry-crash-range", `entry ${hex(load.entry)} is outside crashk_res [${hex(R.start)}, ${hex(R.end)})${lowNote(load.entry, 1n, facts.crashKernelLow)}`,
      "Place the purgatory (the entry) inside crashk_res");
  }

  // sanity_check_segment_list, loop 1: wrap and alignment, per segment.
  const whole: number[] = [];
  segs.forEach((s, i) => {
    const end = s.mem + s.memsz;
    if (end >= U64_END - 1n) {
      add("wrap", `${name(i)}: mem ${hex(s.mem)} + memsz ${hex(s.memsz)} runs past the end of the 64-bit address space`,
        "Give the segment its real physical address and size", i);
      return;
    }
    whole.push(i);
    if (s.mem % page !== 0n || end % page !== 0n) {
      const what = s.mem % page !== 0n ? `mem ${hex(s.mem)}` : `mem + memsz ${hex(end)}`;
      add("page-alignment", `${name(i)}: ${what} is not a multiple of the page size ${hex(page)}`,
        `Start on a page (e.g. ${hex(s.mem - (s.mem % page))}) and round memsz up to ${hex(alignUp(end - (s.mem - (s.mem % page)), page))}`, i);
    }
  });

  for (let a = 0; a < whole.length; a++) {
    for (let b = a + 1; b < whole.length; b++) {
      const i = whole[a]!, j = whole[b]!;
      const x = segs[i]!, y = segs[j]!;
      if (x.mem < y.mem + y.memsz && y.mem < x.mem + x.memsz) {
        add("overlap", `${name(i)} ${span(x)} overlaps ${name(j)} ${span(y)}`, "Move one of them to free memory", i, j);
      }
    }
  }
  for (const i of whole) {
    const s = segs[i]!;
    if (s.bufsz > s.memsz) {
      add("bufsz", `${name(i)}: bufsz ${hex(s.bufsz)} is larger than memsz ${hex(s.memsz)}`,
        `Raise memsz to ${hex(alignUp(s.bufsz, page))} (bufsz rounded up to a page) or shorten the buffer`, i);
    }
  }

  if (facts.memory !== undefined) {
    const half = estimateTotalRamPages({ ...facts, memory: facts.memory, pageSize: facts.pageSize ?? 4096 }) / 2n;
    let total = 0n;
    let single = false;
    for (const i of whole) {
      const pages = (segs[i]!.memsz + page - 1n) / page;
      total += pages;
      if (pages > half) {
        single = true;
        add("ram-half", `${name(i)}: ${pages} pages, more than half of RAM (${half} pages)`, "Shrink this segment (a smaller initrd), or load on a machine with more RAM", i);
      }
    }
    if (!single && total > half) {
      add("ram-half", `the segments take ${total} pages together, more than half of RAM (${half} pages)`, "Shrink the largest segments (usually the initrd)");
    }
  }

  if (crash && R) {
    for (const i of whole) {
      const s = segs[i]!;
      if (s.mem < R.start || s.mem + s.memsz > R.end) {
        add("crash-range", `${name(i)} ${span(s)} is not inside crashk_res [${hex(R.start)}, ${hex(R.end)})${lowNote(s.mem, s.memsz, facts.crashKernelLow)}`,
          "Place every crash segment inside crashk_res, or reserve more with crashkernel=", i);
      }
    }
  }

  if (!crash) {
    const ram = facts.memory;
    for (const i of whole) {
      const s = segs[i]!;
      if (s.memsz === 0n) continue;
      if (ram !== undefined && !covered(s.mem, s.mem + s.memsz, ram)) {
        add("system-ram", `${name(i)} ${span(s)} is not inside System RAM`,
          "Move it into a System RAM range of the target (kexec would copy it over device memory or nothing at all)", i);
      }
      const hit = facts.reserved?.find((r) => r.start < s.mem + s.memsz && s.mem < r.end);
      if (hit) {
        add("reserved", `${name(i)} ${span(s)} overlaps the reserved range [${hex(hit.start)}, ${hex(hit.end)}); kexec would overwrite firmware memory`,
          "Move it clear of every reserved range", i);
      }
    }
  }

  checkBoot(load, whole, add, name, entryRefused);
  return out;
}

function checkBoot(
  load: Load,
  whole: readonly number[],
  add: (rule: RuleId, message: string, fix: string, i?: number, other?: number) => void,
  name: (i: number) => string,
  entryRefused: boolean,
): void {
  const segs = load.segments;
  const find = (role: string): number | undefined => whole.find((i) => segs[i]!.role === role);
  const k = find("kernel");
  if (k !== undefined) {
    const s = segs[k]!;
    const t = s.textOffset ?? 0n;
    if (s.mem < t || (s.mem - t) % SZ_2M !== 0n) {
      const fixAt = alignUp(s.mem > t ? s.mem - t : 0n, SZ_2M) + t;
      add("kernel-base", `${name(k)}: mem ${hex(s.mem)} is not a 2 MiB-aligned base + text_offset ${hex(t)}`,
        `Load the kernel at ${hex(fixAt)} (the next 2 MiB boundary + text_offset)`, k);
    }
    if (s.imageSize !== undefined && s.memsz < s.imageSize) {
      add("kernel-image-size", `${name(k)}: memsz ${hex(s.memsz)} is smaller than image_size ${hex(s.imageSize)}; the kernel's BSS would land outside its segment`,
        "Set memsz to image_size rounded up to a page", k);
    }
  }
  const r = find("initrd");
  if (k !== undefined && r !== undefined) {
    const a = segs[k]!, b = segs[r]!;
    const lo = (a.mem < b.mem ? a.mem : b.mem) / SZ_1G * SZ_1G;
    const endA = a.mem + a.memsz, endB = b.mem + b.memsz;
    const hi = alignUp(endA > endB ? endA : endB, SZ_1G);
    if (hi - lo > SZ_32G) {
      add("initrd-window", `${name(r)} and the kernel span the 1 GiB-aligned window [${hex(lo)}, ${hex(hi)}), more than 32 GiB`,
        `Move the initrd within [${hex(alignUp(endA, SZ_1G) - SZ_32G > 0n ? alignUp(endA, SZ_1G) - SZ_32G : 0n)}, ${hex(a.mem / SZ_1G * SZ_1G + SZ_32G)})`, r);
    }
  }
  const d = find("dtb");
  if (d !== undefined) {
    const s = segs[d]!;
    if (s.bufsz > DTB_MAX_SIZE) {
      add("dtb-size", `${name(d)}: the DTB is ${hex(s.bufsz)} bytes, more than 2 MiB`, "Remove unused nodes or properties from the device tree", d);
    } else if (s.bufsz > 0n && s.mem / SZ_2M !== (s.mem + s.bufsz - 1n) / SZ_2M) {
      add("dtb-2m-crossing", `${name(d)}: the DTB [${hex(s.mem)}, ${hex(s.mem + s.bufsz)}) crosses the 2 MiB boundary ${hex(alignUp(s.mem + 1n, SZ_2M))}`,
        `Move it to ${hex(alignUp(s.mem, SZ_2M))} or anywhere it fits inside one 2 MiB block`, d);
    }
  }

  if (entryRefused) return;
  const holding = whole.filter((i) => segs[i]!.mem <= load.entry && load.entry < segs[i]!.mem + segs[i]!.memsz);
  const e = holding.find((i) => segs[i]!.role === "purgatory") ?? holding[0];
  if (e === undefined) {
    add("entry-segment", `entry ${hex(load.entry)} is in no segment: the CPU would jump into memory nobody loaded`,
      "Set entry to the purgatory segment's start");
    return;
  }
  const s = segs[e]!;
  if (s.role !== undefined && s.role !== "purgatory") {
    const why = s.role === "kernel"
      ? "kexec_load enters with x0 = 0, so the kernel would start without its DTB"
      : `it would execute the ${s.role}'s data`;
    add("entry-segment", `entry ${hex(load.entry)} is inside ${name(e)}, not the purgatory: ${why}`, "Set entry to the purgatory segment's start", e);
  } else if (load.entry >= s.mem + s.bufsz) {
    add("entry-segment", `entry ${hex(load.entry)} is past the ${hex(s.bufsz)} loaded bytes of ${name(e)}: it would execute the zero fill`,
      "Set entry to the purgatory segment's start", e);
  }
}

/**
 * What the checks cannot decide offline, and checks skipped for a missing
 * fact. Kernel refusals here are possible, not found: EPERM and EBUSY depend on
 * the running system (kernel/kexec.c kexec_load_check, do_kexec_load;
 * arch/arm64/kernel/machine_kexec.c machine_kexec_prepare).
 */
export function loadCaveats(load: Load, facts: CheckFacts): Caveat[] {
  const out: Caveat[] = [];
  const crash = (load.flags & KEXEC_ON_CRASH) !== 0;
  const segs = load.segments;
  const lockdown = facts.commandLine?.match(/(?:^|\s)(lockdown=\S+)/)?.[1];
  out.push({ errno: "EPERM", message: "kexec_load needs CAP_SYS_BOOT, kernel.kexec_load_disabled = 0 and, on kernels that have them, a non-zero kernel.kexec_load_limit_" + (crash ? "panic" : "reboot") });
  if (facts.lockdown === undefined) {
    out.push({
      errno: "EPERM",
      message: "under kernel lockdown (e.g. Secure Boot) kexec_load always fails; only kexec_file_load with a signed Image works" +
        (lockdown ? `. The target's command line has ${lockdown}` : ""),
    });
  }
  out.push({ errno: "EBUSY", message: "another kexec load or unload in progress holds the kexec lock" });
  if (!crash) {
    out.push({ errno: "EBUSY", message: "a reboot load is refused while secondary CPUs are stuck in the kernel (failed to go offline)" });
    const bytes = segs.reduce((n, s) => n + s.memsz, 0n);
    out.push({ errno: "ENOMEM", message: `the kernel stages ${hex(bytes)} bytes (the sum of memsz) in free pages until reboot` });
  }
  const newer = load.flags & (KEXEC_UPDATE_ELFCOREHDR | KEXEC_CRASH_HOTPLUG_SUPPORT | KEXEC_DEBUG);
  if (newer !== 0) out.push({ errno: "EINVAL", message: `flag bits ${hex(newer)} are accepted only by kernels that list them in KEXEC_FLAGS; older kernels return EINVAL` });
  if (facts.pageSize === undefined) out.push({ errno: "none", message: "page size unknown: alignment checked against 4 KiB only; a 16K or 64K kernel needs more (give pageSize)" });
  if (facts.memory === undefined) out.push({ errno: "none", message: `RAM unknown: the half-of-RAM limit${crash ? "" : " and System RAM placement"} not checked (give memory)` });
  else {
    const page = BigInt(facts.pageSize ?? 4096);
    const half = estimateTotalRamPages({ ...facts, memory: facts.memory, pageSize: facts.pageSize ?? 4096 }) / 2n;
    out.push({ errno: "none", message: `half of RAM estimated as ${half} pages of ${hex(page)} bytes (System RAM minus reserved, crash and kernel ranges); the running kernel's totalram is somewhat lower` });
  }
  if (!crash && facts.reserved === undefined) out.push({ errno: "none", message: "reserved ranges unknown: firmware memory overlap not checked (give reserved)" });
  if (crash && facts.crashKernel === undefined) out.push({ errno: "none", message: "crash range unknown: entry and segments not checked against crashk_res (give crashKernel)" });
  if (segs.some((s) => s.role === undefined)) out.push({ errno: "none", message: "segments without a role: the arm64 boot rules (kernel base, initrd window, DTB) apply only to segments with one" });
  const kernel = segs.find((s) => s.role === "kernel");
  if (kernel && kernel.textOffset === undefined) out.push({ errno: "none", message: "kernel text_offset unknown: assumed 0 (kernels since 5.8); give textOffset for older ones" });
  return out;
}

/**
 * The `console-window` rule: the registers `[window.start, window.end)` of
 * the UART the purgatory prints on, named `name`, lie outside System RAM and
 * outside every segment; otherwise its messages land in memory (and a
 * segment it writes into fails its digest, or the kernel's memory changes
 * under it). Pure; an empty result when RAM is unknown and no segment is hit.
 */
export function checkConsoleWindow(window: Range, name: string, load: Load, facts: CheckFacts): Violation[] {
  const { errno, severity } = RULES["console-window"];
  const span = `[${hex(window.start)}, ${hex(window.end)})`;
  const hits = (a: Range) => window.start < a.end && a.start < window.end;
  const ram = (facts.memory ?? []).find(hits);
  const out: Violation[] = [];
  const fix = "Give the UART's register base from the device tree (--console), or --console none";
  if (ram !== undefined) {
    out.push({ rule: "console-window", errno, severity, fix, message: `the purgatory's console ${name} at ${span} is inside System RAM [${hex(ram.start)}, ${hex(ram.end)}): it would write its messages into memory` });
  }
  load.segments.forEach((s, i) => {
    if (hits({ start: s.mem, end: s.mem + s.memsz })) {
      out.push({
        rule: "console-window", errno, severity, fix, segment: i, ...(s.role !== undefined ? { role: s.role } : {}),
        message: `the purgatory's console ${name} at ${span} is inside segment ${i}${s.role ? ` (${s.role})` : ""} [${hex(s.mem)}, ${hex(s.mem + s.memsz)}): it would overwrite it`,
      });
    }
  });
  return out;
}

/**
 * What the target's facts make likely to fail, without being certain offline:
 * a reboot load on a machine whose CPUs start with spin-table. arm64 cannot
 * take such CPUs offline (spin-table has no cpu_die), so
 * arch/arm64/kernel/machine_kexec.c machine_kexec_prepare refuses a reboot
 * load with EBUSY ("Can't kexec: CPUs are stuck in the kernel") whenever
 * smp.c cpus_are_stuck_in_kernel finds more than one possible CPU; a crash
 * load is not refused.
 */
export function loadWarnings(load: Load, facts: CheckFacts): string[] {
  if ((load.flags & KEXEC_ON_CRASH) !== 0 || facts.cpuEnableMethod === undefined) return [];
  const cpus = Object.entries(facts.cpuEnableMethod);
  const spin = cpus.filter(([, m]) => m === "spin-table").map(([c]) => c);
  const oneCpu = /(?:^|\s)nr_cpus=1(?:\s|$)/.test(facts.commandLine ?? "");
  if (spin.length === 0 || cpus.length < 2 || oneCpu) return [];
  return [`the target's CPUs ${spin.join(", ")} start with spin-table, which cannot take a CPU offline: kexec_load of a reboot load fails with EBUSY ` +
    `("Can't kexec: CPUs are stuck in the kernel", machine_kexec_prepare) while the running kernel has more than one possible CPU; boot it with nr_cpus=1, or use a firmware with PSCI`];
}

/** The errno kexec_load would return: the first rejected finding's, or null when the kernel accepts the load. */
export function kernelVerdict(violations: readonly Violation[]): Errno | null {
  return violations.find((v) => v.severity === "rejected")?.errno ?? null;
}

/** True when `[start, end)` is covered by the union of `ranges` (adjacent ranges count as one). */
function covered(start: bigint, end: bigint, ranges: readonly Range[]): boolean {
  let at = start;
  let moved = true;
  while (at < end && moved) {
    moved = false;
    for (const r of ranges) {
      if (r.start <= at && at < r.end) {
        at = r.end;
        moved = true;
      }
    }
  }
  return at >= end;
}

function lowNote(mem: bigint, size: bigint, low: Range | null | undefined): string {
  if (!low || !(mem < low.end && low.start < mem + (size > 0n ? size : 1n))) return "";
  return `; it is in crashk_low_res [${hex(low.start)}, ${hex(low.end)}), which kexec_load never accepts`;
}
