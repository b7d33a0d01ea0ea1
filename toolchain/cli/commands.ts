import type { CommandModule } from "yargs";
import describe from "./describe.js";
import elfcorehdr from "./elfcorehdr.js";
import explain from "./explain.js";
import fdt from "./fdt.js";
import purgatoryBuild from "./build.js";
import purgatoryInspect from "./inspect.js";

/**
 * Every subcommand, in the order `--help` lists them. Only commands that work
 * are listed here; add a module's default export when its library lands.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [describe, elfcorehdr, explain, fdt, purgatoryBuild, purgatoryInspect];
