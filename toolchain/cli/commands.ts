import type { CommandModule } from "yargs";

/** A subcommand: the first word of its yargs command, and its module, loaded only when needed. */
export interface CommandEntry {
  readonly name: string;
  readonly load: () => Promise<{ default: CommandModule<any, any> }>; // yargs types each module by its own options
}

/**
 * Every subcommand, in the order `--help` lists them. A run loads only the
 * module of the command it names (and each module only the libraries it
 * uses), so `purgatory bundle` does not pay for QEMU, the disassembler or
 * the FDT editor; `--help` and unknown commands load them all.
 */
export const COMMANDS: readonly CommandEntry[] = [
  { name: "bundle", load: () => import("./bundle.js") },
  { name: "verify", load: () => import("./verify.js") },
  { name: "describe", load: () => import("./describe.js") },
  { name: "initramfs", load: () => import("./initramfs.js") },
  { name: "crashkernel", load: () => import("./crashkernel.js") },
  { name: "elfcorehdr", load: () => import("./elfcorehdr.js") },
  { name: "explain", load: () => import("./explain.js") },
  { name: "fdt", load: () => import("./fdt.js") },
  { name: "image", load: () => import("./image.js") },
  { name: "build", load: () => import("./build.js") },
  { name: "inspect", load: () => import("./inspect.js") },
  { name: "target", load: () => import("./target.js") },
  { name: "boot", load: () => import("./boot.js") },
  { name: "kdump", load: () => import("./kdump.js") },
];

/** The modules a run with `args` needs: the named command's, or all of them. */
export async function commandsFor(args: readonly string[]): Promise<CommandModule<any, any>[]> {
  const first = args.find((a) => !a.startsWith("-"));
  const named = COMMANDS.filter((c) => c.name === first);
  return Promise.all((named.length === 1 ? named : COMMANDS).map(async (c) => (await c.load()).default));
}
