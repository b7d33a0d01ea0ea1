import type { CommandModule } from "yargs";

/**
 * Every subcommand, in the order `--help` lists them. Only commands that work
 * are listed here; add a module's default export when its library lands.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [];
