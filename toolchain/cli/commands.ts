import type { CommandModule } from "yargs";
import bundle from "./bundle.js";
import verify from "./verify.js";
import fdt from "./fdt.js";
import image from "./image.js";
import describe from "./describe.js";
import elfcorehdr from "./elfcorehdr.js";
import explain from "./explain.js";
import purgatoryBuild from "./build.js";
import purgatoryInspect from "./inspect.js";
import boot from "./boot.js";
import target from "./target.js";
import initramfs from "./initramfs.js";

/**
 * Every subcommand, in the order `--help` lists them. Only commands that work
 * are listed here; add a module's default export when its library lands.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [bundle, verify, describe, elfcorehdr, explain, initramfs, fdt, image, purgatoryBuild, purgatoryInspect, target, boot];
