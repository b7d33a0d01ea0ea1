import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { PREBUILT_FILE, prebuild } from "../toolchain/purgatory/index.js";

/**
 * `npm run build`'s second step: assembles the default purgatory once, so
 * that `purgatory bundle` runs without Keystone (toolchain/purgatory/prebuilt.ts).
 */
mkdirSync(dirname(PREBUILT_FILE), { recursive: true });
writeFileSync(PREBUILT_FILE + ".tmp", await prebuild());
renameSync(PREBUILT_FILE + ".tmp", PREBUILT_FILE);
