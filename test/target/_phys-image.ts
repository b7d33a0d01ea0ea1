import { closeSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { crashNotes } from "../../toolchain/target/notes.js";
import type { Target } from "../../toolchain/target/index.js";

/**
 * Writes what the capture kernel sees: the crashed machine's physical memory
 * as a sparse file (file offset = physical address), with the elfcorehdr at
 * offset 0 (physical page 0 is flash on QEMU virt, not RAM) and the notes the
 * dying kernel leaves at the note addresses (`crashNotes`). Since an
 * elfcorehdr's p_offset is the physical address, readelf reads this file like
 * /proc/vmcore's source.
 */
export function writePhysImage(path: string, header: Uint8Array, target: Target): void {
  const fd = openSync(path, "w");
  try {
    const end = target.memory.reduce((m, r) => (r.end > m ? r.end : m), 0n);
    ftruncateSync(fd, Number(end));
    writeSync(fd, header, 0, header.length, 0);
    for (const n of crashNotes(target)) writeSync(fd, n.bytes, 0, undefined, Number(n.address));
  } finally {
    closeSync(fd);
  }
}
