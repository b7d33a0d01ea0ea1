import type { Target } from "./types.js";
import { NT_PRSTATUS } from "../elf/layout.js";

/**
 * The ELF notes a dying kernel leaves at the addresses the elfcorehdr names:
 * per CPU a "CORE" NT_PRSTATUS note (LNX kernel/crash_core.c crash_save_cpu),
 * and the "VMCOREINFO" note (crash_save_vmcoreinfo), each followed by the
 * empty note that ends the buffer (final_note). The capture kernel's vmcore
 * walks them until n_namesz == 0 and refuses to start when all are empty.
 *
 * Emulated crash boots plant these where no kernel ran; tests use them to
 * build the memory a real crash leaves behind.
 */

/** sizeof(struct elf_prstatus) on arm64: the NT_PRSTATUS descriptor size. */
export const ARM64_PRSTATUS_SIZE = 392;
/** Offset of pr_pid in struct elf_prstatus. */
const PR_PID = 32;

/** One note record (name and desc padded to 4 bytes) followed by a 12-byte empty note. */
export function noteRecord(name: string, type: number, desc: Uint8Array): Uint8Array {
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

/**
 * What a crash leaves at each note address of `target`: a zeroed prstatus
 * (pr_pid = 1000 + cpu, so records can be told apart) per CPU note, and the
 * vmcoreinfo text when the target has it. Addresses are physical.
 */
export function crashNotes(target: Target): { readonly address: bigint; readonly bytes: Uint8Array }[] {
  const out = target.cpuNotes.map((n) => {
    const prstatus = new Uint8Array(ARM64_PRSTATUS_SIZE);
    new DataView(prstatus.buffer).setUint32(PR_PID, 1000 + n.cpu, true);
    return { address: n.address, bytes: noteRecord("CORE", NT_PRSTATUS, prstatus) };
  });
  const info = target.vmcoreinfo;
  if (info?.text !== undefined) out.push({ address: info.address, bytes: noteRecord("VMCOREINFO", 0, new TextEncoder().encode(info.text)) });
  return out;
}
