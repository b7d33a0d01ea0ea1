#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import type { CommandModule } from "yargs";
import { commandsFor } from "./commands.js";

/**
 * The `purgatory` command: a thin yargs shell. Each subcommand lives in its
 * own module under toolchain/cli/ and calls one library function.
 * Exit codes: 0 ok, 1 bad input or failed check, 2 usage error.
 */
export async function main(args: string[]): Promise<void> {
  // Keystone is a 3 MB WebAssembly module run once per command: V8's optimizing
  // tier recompiles it in the background for nothing, which held the next file
  // write by ~0.4 s and added ~45 MB RSS to every bundle (bench/bundle.ts).
  // The baseline compiler alone is enough for code that runs this briefly.
  setFlagsFromString("--liftoff-only");

  let cli = yargs(args)
    .scriptName("purgatory")
    .usage(
      "$0 <command> [options]\n\n" +
        "Builds everything an arm64 kexec/kdump load needs (purgatory, device tree,\n" +
        "elfcorehdr, segment layout, bundle) and checks it offline.",
    )
    .strict()
    .demandCommand(1, "Name a command; `purgatory <command> --help` explains each one.")
    .recommendCommands()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`purgatory: ${msg}\nRun \`purgatory --help\` for the commands.\n`);
      process.exit(2);
    })
    .help()
    .alias("h", "help")
    .version()
    .wrap(null);
  for (const c of await commandsFor(args)) cli = cli.command(c as CommandModule);
  await cli.parseAsync();
}

await main(hideBin(process.argv));
