#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import type { CommandModule, MiddlewareFunction } from "yargs";
import { commandsFor } from "./commands.js";
import { UsageError, rejectRepeated } from "./_run.js";

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
  quietOnClosedPipe();

  let cli = yargs(args.map((a) => (a === "-" ? STDIN : a)))
    .scriptName("purgatory")
    .usage(
      "$0 <command> [options]\n\n" +
        "Builds everything an arm64 kexec/kdump load needs (purgatory, device tree,\n" +
        "elfcorehdr, segment layout, bundle) and checks it offline.",
    )
    .strict()
    .middleware(restoreStdin, true)
    // Before validation, so that `--seed 00 --seed 11` is reported as given twice, not as a bad seed.
    .middleware(rejectRepeated as unknown as MiddlewareFunction, true)
    .demandCommand(1, "Name a command; `purgatory <command> --help` explains each one.")
    .recommendCommands()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`purgatory: ${msg.replaceAll(STDIN, "-")}\nRun \`purgatory --help\` for the commands.\n`);
      process.exit(2);
    })
    .help()
    .alias("h", "help")
    .version()
    .wrap(null);
  for (const c of await commandsFor(args)) cli = cli.command(c as CommandModule);
  try {
    await cli.parseAsync();
  } catch (e) {
    // Middleware errors reach here, not .fail().
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`purgatory: ${e.message}\nRun \`purgatory --help\` for the commands.\n`);
    process.exitCode = 2;
  }
}

/**
 * A positional `-` (stdin, as in `purgatory explain - < load.json`) is
 * passed through yargs as a word no shell can produce: yargs 17 re-parses
 * positionals as `--file -`, where a bare `-` looks like an option and the
 * value became "" (or `true`). `restoreStdin` turns it back into `-` after
 * parsing, for positionals and options alike.
 */
const STDIN = "\0stdin";

function restoreStdin(argv: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(argv)) {
    if (value === STDIN) argv[key] = "-";
    else if (Array.isArray(value)) argv[key] = value.map((v: unknown) => (v === STDIN ? "-" : v));
  }
}

/**
 * A reader that stops early (`purgatory explain DIR --json | head -c1`)
 * closes the pipe, and every later write to stdout fails with EPIPE, which
 * Node raises as an unhandled 'error' event: a stack trace and exit 1. The
 * output nobody reads is dropped instead, and the command finishes with its
 * own exit status (0 when it succeeded), as a check whose result is its
 * status should; it is not killed the way SIGPIPE kills C programs (141).
 */
function quietOnClosedPipe(): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE" && e.code !== "ERR_STREAM_DESTROYED") throw e;
  });
}

await main(hideBin(process.argv));
