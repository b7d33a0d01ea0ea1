import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The capture initramfs's /init: toolchain/initramfs/capture-init.sh, a
 * busybox sh script that takes every choice from the configuration file
 * (config.ts), so that the same script serves every build.
 */

const SCRIPT = join("toolchain", "initramfs", "capture-init.sh");

/** The checkout holding the script (found from source and from dist/ alike). */
function repo(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, SCRIPT))) return dir;
    if (dirname(dir) === dir) throw new Error(`Cannot find ${SCRIPT} above ${fileURLToPath(import.meta.url)}`);
  }
}

/** The text of /init. */
export function captureInit(): string {
  return readFileSync(join(repo(), SCRIPT), "utf8");
}

/** The path of the script in the checkout (for tests that run it). */
export function captureInitPath(): string {
  return join(repo(), SCRIPT);
}

/** Every busybox applet /init runs (its `#!` shell included); the builder checks busybox has each one. */
export const INIT_APPLETS = [
  "awk", "cat", "cttyhack", "date", "findfs", "grep", "halt", "head", "insmod", "ls", "mkdir", "mount", "mv",
  "poweroff", "reboot", "rm", "sed", "setsid", "sh", "sleep", "stat", "sync", "tail", "tr", "umount", "uname", "usleep", "wc",
] as const;
