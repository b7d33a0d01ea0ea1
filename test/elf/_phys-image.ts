import { closeSync, ftruncateSync, openSync, writeSync } from "node:fs";
import type { Target } from "../../toolchain/target/index.js";

/**
 * Writes what the capture kernel sees: the crashed machine's physical memory
 * as a sparse file (file offset = physical address), with the elfcorehdr at
 * offset 0 (physical page 0 is flash on QEMU virt, not RAM) and the notes the
 * dying kernel leaves at the note addresses: per CPU a CORE/NT_PRSTATUS note
 * (LNX `crash_save_cpu`), and the VMCOREINFO note, each followed by the empty
 * note that ends the buffer (`final_note`). Since an elfcorehdr's p_offset is
 * the physical address, readelf reads this file like /proc/vmcore's source.
 */
export function writePhysImage(path: string, header: Uint8Array, target: Target): void {
  const fd = openSync(path, "w");
  try {
    const end = target.memory.reduce((m, r) => (r.end > m ? r.end : m), 0n);
    ftruncateSync(fd, Number(end));
    writeSync(fd, header, 0, header.length, 0);
    for (const n of target.cpuNotes) {
      const prstatus = new Uint8Array(392);
      new DataView(prstatus.buffer).setUint32(32, 1000 + n.cpu, true); // pr_pid
      writeSync(fd, note("CORE", 1, prstatus), 0, undefined, Number(n.address));
    }
    const info = target.vmcoreinfo;
    if (info?.text !== undefined) writeSync(fd, note("VMCOREINFO", 0, new TextEncoder().encode(info.text)), 0, undefined, Number(info.address));
  } finally {
    closeSync(fd);
  }
}

/** One note record followed by a 12-byte empty note. */
export function note(name: string, type: number, desc: Uint8Array): Uint8Array {
  const pad = (n: number) => Math.ceil(n / 4) * 4;
  const nameBytes = new TextEncoder().encode(name + "\0");
  const b = new Uint8Array(12 + pad(nameBytes.length) + pad(desc.length) + 12);
  const v = new DataView(b.buffer);
  v.setUint32(0, nameBytes.length, true);
  v.setUint32(4, desc.length, true);
  v.setUint32(8, type, true);
  b.set(nameBytes, 12);
  b.set(desc, 12 + pad(nameBytes.length));
  return b;
}
