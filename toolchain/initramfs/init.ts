import { readFileSync } from "node:fs";
import { packageFile } from "../bytes/index.js";

/**
 * The capture initramfs's /init: toolchain/initramfs/capture-init.sh, a
 * busybox sh script that takes every choice from the configuration file
 * (config.ts), so that the same script serves every build.
 */

const SCRIPT = ["toolchain", "initramfs", "capture-init.sh"];

/** The text of /init. */
export function captureInit(): string {
  return readFileSync(packageFile(...SCRIPT), "utf8");
}

/** The path of the script in the checkout (for tests that run it). */
export function captureInitPath(): string {
  return packageFile(...SCRIPT);
}

/** Every busybox applet /init runs (its `#!` shell included); the builder checks busybox has each one. */
export const INIT_APPLETS = [
  "awk", "cat", "cttyhack", "date", "findfs", "grep", "halt", "head", "insmod", "ls", "mkdir", "mount", "mv",
  "poweroff", "reboot", "rm", "sed", "setsid", "sh", "sleep", "stat", "sync", "tail", "tr", "umount", "uname", "usleep", "wc",
] as const;
