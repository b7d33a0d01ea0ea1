import { InputError, hex } from "../bytes/index.js";
import { subtract } from "./ranges.js";
import type { Range } from "./types.js";

/**
 * Linux's own placement of the `crashkernel=` reservation on arm64, so a
 * target can be described before the kernel that reserves it has booted
 * (`purgatory target qemu-virt --crashkernel`), and so a reservation can be
 * judged against what the kernel would pick.
 */

export interface CrashKernelRequest {
  /** Bytes, as given (the kernel rounds it up to a page). */
  readonly size: bigint;
  /** The fixed base of `crashkernel=SIZE@ADDR`, or undefined for `crashkernel=SIZE`. */
  readonly base?: bigint;
}

// arm64 6.1 arch/arm64/mm/init.c: CRASH_ALIGN, the boot protocol's 2 MiB.
const CRASH_ALIGN = 0x20_0000n;
const PAGE_4K = 0x1000n;
const U32_MAX = 0xffff_ffffn;

/**
 * Where arm64 Linux 6.1 reserves `crashkernel=` (arch/arm64/mm/init.c
 * `reserve_crashkernel`), applied to the RAM the target lists as free:
 * the size is page-aligned; SIZE@ADDR must be free and 2 MiB aligned
 * exactly there; SIZE alone is the highest free 2 MiB-aligned fit below
 * CRASH_ADDR_LOW_MAX (`arm64_dma_phys_limit` = min(4 GiB, end of RAM) when
 * RAM starts below 4 GiB, `max_zone_phys`), and nothing when it does not fit
 * there: 6.1 does not fall back above the limit (measured with Debian's
 * 6.1.0 cloud kernel on an 8 GiB virt machine: `crashkernel=3584M` prints
 * "cannot allocate crashkernel" and reserves nothing; the fall-back to high
 * memory plus a low range came with 6.2, docs/crashkernel.md).
 *
 * A booted kernel makes its own early allocations first (memmap, page tables,
 * its CMA area), so on a real boot `crashkernel=SIZE` lands lower than this
 * (Debian's 6.1 cloud kernel, 1 GiB virt, 64M: 0x76c00000, not 0x7c000000);
 * SIZE@ADDR is exact.
 * @throws InputError `NO_FIT` when the kernel would fail to reserve it.
 */
export function reserveCrashKernel(memory: readonly Range[], reserved: readonly Range[], req: CrashKernelRequest): Range {
  const size = (req.size + PAGE_4K - 1n) & ~(PAGE_4K - 1n);
  const free = subtract(memory, reserved);
  const fail = (why: string, hint: string): never => {
    throw new InputError("NO_FIT", `Cannot reserve crashkernel=${hex(size)}${req.base === undefined ? "" : `@${hex(req.base)}`}: ${why}`, "--crashkernel", hint);
  };
  if (req.base !== undefined) {
    const at = allocTopDown(free, size, req.base, req.base + size);
    if (at === null) {
      fail(req.base % CRASH_ALIGN !== 0n ? `${hex(req.base)} is not 2 MiB aligned (CRASH_ALIGN)` : `${hex(req.base)}-${hex(req.base + size)} is not free RAM`,
        "Pick a 2 MiB-aligned address inside free RAM");
    }
    return { start: req.base, end: req.base + size };
  }
  const ramStart = memory[0]?.start ?? 0n;
  const ramEnd = memory.at(-1)?.end ?? 0n;
  const lowMax = ramStart > U32_MAX || ramEnd < 1n << 32n ? ramEnd : 1n << 32n;
  const low = allocTopDown(free, size, 0n, lowMax);
  if (low === null) {
    fail(`no free ${hex(size)} bytes below the DMA limit ${hex(lowMax)}, and Linux 6.1 does not fall back above it ("cannot allocate crashkernel")`,
      "Give a smaller size (docs/crashkernel.md: where the reservation goes)");
  }
  return { start: low!, end: low! + size };
}

/** memblock's top-down search: the highest CRASH_ALIGN-aligned `size` bytes of `free` inside [lo, hi), or null. */
function allocTopDown(free: readonly Range[], size: bigint, lo: bigint, hi: bigint): bigint | null {
  for (const r of [...free].reverse()) {
    const end = r.end < hi ? r.end : hi;
    if (end < size) continue;
    const at = (end - size) & ~(CRASH_ALIGN - 1n);
    if (at >= r.start && at >= lo) return at;
  }
  return null;
}
