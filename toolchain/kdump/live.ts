import { InputError, hex } from "../bytes/index.js";
import { bootFacts, type BootFacts } from "../bundle/index.js";
import { collectTarget, fsSource, type Target } from "../target/index.js";

/** This boot, described from the live system under `root` (`/` on the target), with what a crash load needs. */
export interface ThisBoot {
  readonly target: Target;
  readonly boot: BootFacts;
  readonly warnings: readonly string[];
}

/**
 * Describes the running system (the code path of `purgatory describe`).
 * @throws InputError `NO_BOOT_ID` without /proc/sys/kernel/random/boot_id, and
 * what `collectTarget` throws.
 */
export function describeThisBoot(root: string): ThisBoot {
  const { target, warnings } = collectTarget(fsSource(root));
  const boot = bootFacts(target);
  if (boot === null) {
    throw new InputError("NO_BOOT_ID", `Cannot arm kdump on ${root}: /proc/sys/kernel/random/boot_id is missing, so a crash bundle could not be tied to this boot`, "proc/sys/kernel/random/boot_id",
      "Every Linux since 2.6 has it; mount /proc.");
  }
  return { target, boot, warnings };
}

/** Whether the running kernel has a crash image loaded (`/sys/kernel/kexec_crash_loaded`, Linux kernel/ksysfs.c), or null when the file is absent. */
export function crashLoaded(root: string): boolean | null {
  const b = fsSource(root).read("sys/kernel/kexec_crash_loaded");
  if (b === null) return null;
  return new TextDecoder().decode(b).trim() === "1";
}

/** "start-end" (half-open, hex) of each RAM range. */
export function memoryOf(t: Target): string[] {
  return t.memory.map((r) => `${hex(r.start)}-${hex(r.end)}`);
}
